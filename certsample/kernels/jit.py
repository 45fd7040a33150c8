"""Write the per-particle arithmetic once, compile it for the CPU and for CUDA.

A function marked :func:`device_function` is plain Python on scalars and 1-D arrays. It may call
other marked functions by their global names. :func:`compile_for` rebinds those names to their
compiled twins before handing the function to ``numba.njit`` or ``numba.cuda.jit(device=True)``,
so a solver's step, the target score it calls and the random numbers it draws are the same source
on both targets (the fbpic pattern). ``overrides`` swaps a global for another marked function,
e.g. a user's own score in place of the built-in mixture score.
"""

from __future__ import annotations

import types

import numba

__all__ = ["device_function", "compile_for", "TARGETS"]

TARGETS = ("cpu", "cpu-parallel", "cuda-device", "cuda-kernel")
_compiled: dict = {}


def device_function(fn):
    """Mark ``fn`` as per-particle math that :func:`compile_for` may compile for any target."""
    fn._certsample_device = True
    return fn


def _jit(fn, target):
    if target == "cpu":
        return numba.njit(fn)
    if target == "cpu-parallel":
        return numba.njit(parallel=True)(fn)
    from numba import cuda  # imported lazily: CUDA start-up is not free

    if target == "cuda-device":
        return cuda.jit(device=True)(fn)
    if target == "cuda-kernel":
        return cuda.jit(fn)
    raise ValueError(f"unknown compilation target {target!r}; choose from {TARGETS}")


def compile_for(fn, target: str, overrides: dict | None = None):
    """Compile ``fn`` for ``target`` with its marked callees compiled for the matching device target.

    Results are memoised on ``(fn, target, overrides)``, so each solver compiles once per process.
    """
    overrides = dict(overrides or {})
    key = (fn, target, tuple(sorted((k, id(v)) for k, v in overrides.items())))
    if key in _compiled:
        return _compiled[key]
    callee_target = "cuda-device" if target.startswith("cuda") else "cpu"
    namespace = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        obj = overrides.get(name, namespace.get(name))
        if getattr(obj, "_certsample_device", False):
            namespace[name] = compile_for(obj, callee_target, overrides)
    rebound = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    rebound.__doc__ = fn.__doc__
    compiled = _jit(rebound, target)
    _compiled[key] = compiled
    return compiled
