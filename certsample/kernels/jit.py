"""Write the per-particle arithmetic once, compile it for the CPU and for CUDA.

A function marked :func:`device_function` is plain Python on scalars and 1-D arrays. It may call
other marked functions by their global names. :func:`compile_for` rebinds those names to their
compiled twins before handing the function to ``numba.njit`` or ``numba.cuda.jit(device=True)``,
so a solver's step, the target score it calls and the random numbers it draws are the same source
on both targets (the fbpic pattern). ``overrides`` swaps a global for another marked function,
e.g. a user's own score in place of the built-in mixture score.
"""

from __future__ import annotations

import hashlib
import os
import types

import numba
import numpy as np

__all__ = ["device_function", "compile_for", "TARGETS"]

TARGETS = ("cpu", "cpu-parallel", "cuda-device", "cuda-kernel")
_compiled: dict = {}
#: the CPU compile options beyond the defaults, part of every on-disk cache entry's name (an entry compiled
#: with other options is never loaded)
CPU_OPTIONS = dict(error_model="numpy")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def prefer_512_bit_vectors() -> bool:
    """Let LLVM vectorise CPU kernels with 512-bit registers where the host has AVX-512; returns whether it will.

    LLVM tunes every AVX-512 Intel core to prefer 256-bit vectors (``prefer-256-bit``, against the
    clock drop of early AVX-512 parts), and Numba passes the host's feature string unchanged, so the
    block loops ran at half the width the cores execute. This appends ``-prefer-256-bit`` to the
    feature string Numba compiles for. It changes no result (no fast-math: the same IEEE operations,
    more lanes at a time) and names different on-disk cache entries (the features are part of their
    key). It must run before Numba compiles anything in the process, so it is called when this
    module is imported; it leaves alone a ``NUMBA_CPU_FEATURES`` the user set, and a process in which
    Numba has compiled already. It applies to every Numba function of the process.
    """
    from numba.core import codegen, registry

    if numba.config.CPU_FEATURES is not None:
        return "-prefer-256-bit" in numba.config.CPU_FEATURES.split(",")
    if "_toplevel_target_context" in vars(registry.cpu_target):  # Numba's CPU target exists: too late
        return False
    features = codegen.get_host_cpu_features()
    if "+avx512f" not in features.split(","):
        return False
    numba.config.CPU_FEATURES = features + ",-prefer-256-bit"
    return True


def device_function(fn=None, *, inline=False, cpu_native=None):
    """Mark ``fn`` as per-particle math that :func:`compile_for` may compile for any target.

    ``@device_function(inline=True)`` also has the CPU build inline ``fn`` into its callers at
    Numba's IR level: LLVM's inliner declines large callees (ten unrolled Philox rounds), and a call
    inside a loop over particles keeps the loop from vectorising. CUDA's compiler inlines device
    functions by itself. ``cpu_native`` is a Numba intrinsic that CPU builds call in ``fn``'s place
    (an LLVM instruction that Python cannot spell, e.g. a fused multiply-add); ``fn`` itself stays
    the CUDA and simulator version.
    """
    if fn is None:
        return lambda f: device_function(f, inline=inline, cpu_native=cpu_native)
    fn._certsample_device = True
    fn._certsample_inline = bool(inline)
    fn._certsample_cpu_native = cpu_native
    return fn


PREFERS_512_BIT_VECTORS = prefer_512_bit_vectors()


def _jit(fn, target, cache=False, inline=False, nrt=True):
    # error_model='numpy': a float division by zero gives inf or nan as on CUDA instead of raising, so
    # a loop with a division has no exit path and can vectorise (the arithmetic is the same IEEE)
    options = dict(CPU_OPTIONS) if nrt else dict(CPU_OPTIONS, _nrt=False)
    if target == "cpu":
        return numba.njit(cache=cache, inline="always" if inline else "never", **options)(fn)
    if target == "cpu-parallel":
        return numba.njit(parallel=True, cache=cache, **options)(fn)
    from numba import cuda  # imported lazily: CUDA start-up is not free

    if target == "cuda-device":
        return cuda.jit(device=True)(fn)
    if target == "cuda-kernel":
        return cuda.jit(fn)
    raise ValueError(f"unknown compilation target {target!r}; choose from {TARGETS}")


def compile_for(fn, target: str, overrides: dict | None = None, *, nrt: bool = True):
    """Compile ``fn`` for ``target`` with its marked callees compiled for the matching device target.

    Results are memoised on ``(fn, target, overrides, nrt)``, so each solver compiles once per process.
    ``nrt=False`` compiles the CPU builds of ``fn`` and its callees without Numba's reference counting
    (Numba's ``_nrt`` option): they may then not allocate (Numba refuses to compile an allocation), and
    taking a view of an array costs no atomic increment and decrement. Kernels that only read and write
    arrays passed in, and slice them in their inner calls, run faster so (docs/performance.md); CUDA
    builds ignore it.
    """
    overrides = dict(overrides or {})
    key = (fn, target, tuple(sorted((k, id(v)) for k, v in overrides.items())), nrt)
    if key in _compiled:
        return _compiled[key]
    callee_target = "cuda-device" if target.startswith("cuda") else "cpu"
    namespace = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        obj = overrides.get(name, namespace.get(name))
        if getattr(obj, "_certsample_device", False):
            native = getattr(obj, "_certsample_cpu_native", None) if callee_target == "cpu" else None
            namespace[name] = native if native is not None else compile_for(obj, callee_target, overrides, nrt=nrt)
    rebound = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    rebound.__doc__ = fn.__doc__
    library, digest = _fingerprint(fn, overrides, nrt=nrt)
    if library:
        # Numba's on-disk cache names an entry by qualified name, file and line, and revalidates only
        # the caller's file: a digest of every callee's code and constants and of the rebindings goes
        # into the name, so neither two rebindings nor an edited callee can load a stale entry; nor can one target
        # load another's build (the index does not tell a parallel build from a serial one)
        rebound.__qualname__ = f"{fn.__qualname__}_{digest}_{target.replace('-', '_')}"
    compiled = _jit(rebound, target, cache=library, inline=getattr(fn, "_certsample_inline", False), nrt=nrt)
    _compiled[key] = compiled
    return compiled


def _fingerprint(fn, overrides, seen=None, nrt=True):
    """``(library, digest)``: whether ``fn`` and every marked callee (after ``overrides``) is
    certsample's own code, and a hash of their bytecode, constants, the globals they read and the
    compile options (``nrt`` among them).

    A user's function is never cached on disk: it may live in ``__main__`` or change unnoticed. Nor is
    one defined in a doctest of a certsample module: its ``__module__`` is the module's, but its code
    lives in no file Numba's cache can locate.
    """
    seen = {} if seen is None else seen
    if fn in seen:
        return seen[fn]
    seen[fn] = (True, "")  # cycles: a function already on the stack adds nothing
    code = fn.__code__
    library = (
        getattr(fn, "__module__", "").startswith("certsample.")
        and fn.__closure__ is None
        and os.path.abspath(code.co_filename).startswith(_PACKAGE_DIR)
    )
    h = hashlib.sha1(
        code.co_code
        + repr(code.co_consts).encode()
        + fn.__module__.encode()
        + repr(
            (
                getattr(fn, "_certsample_inline", False),
                fn.__defaults__,  # compiled into every call that omits the argument
                CPU_OPTIONS,
                nrt,
                getattr(getattr(fn, "_certsample_cpu_native", None), "__name__", None),
            )
        ).encode()
    )
    for name in code.co_names:
        obj = overrides.get(name, fn.__globals__.get(name))
        if getattr(obj, "_certsample_device", False):
            lib, digest = _fingerprint(obj, overrides, seen, nrt)
            library = library and lib
            h.update(f"{name}:{digest}".encode())
        elif isinstance(obj, (int, float, bool, str, np.generic)):  # NumPy scalars too: the bit masks are uint64
            h.update(f"{name}={obj!r}".encode())
        elif isinstance(obj, np.ndarray):  # a table the code reads (Numba freezes it into the compiled code)
            h.update(f"{name}:{obj.dtype}{obj.shape}".encode() + obj.tobytes())
    seen[fn] = (library, h.hexdigest()[:12])
    return seen[fn]
