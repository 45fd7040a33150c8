"""A user's per-particle score, compiled by certsample for the CPU and CUDA kernels.

The built-in targets reach the kernels through ``target_score(x, t, target_params, out, lanes, work)``
on a block of particles (``target_score_at`` when each has its own time) and
``particle_score(x, t, target_params, out, work)`` on one (:mod:`certsample.kernels.score`). A
user writes the same kind of function, plain Python on scalars and 1-D arrays::

    def my_score(x, t, params, out):        # x (d,), t float, params: a tuple of arrays/scalars
        for i in range(x.shape[0]):
            out[i] = -x[i] / (params[0] * math.exp(-2 * t) + 1 - math.exp(-2 * t))

and :func:`compiled_score` marks it as device math and puts it in their place (``compile_for``'s
overrides; on a block it is called column by column), so every solver's kernel calls it on ``backend='cpu'`` and
``backend='cuda'`` from the one source, and a batched NumPy-facing ``score(x, t)`` (the same
compiled function in a ``prange`` over particles) serves ``backend='numpy'``.
"""

from __future__ import annotations

import types

import numpy as np
from numba import prange

from .kernels.jit import compile_for, device_function
from .validation import check_int

__all__ = ["CompiledScore", "compiled_score"]


@device_function
def user_score(x, t, params, out):
    raise NotImplementedError("user_score is rebound to the user's function at compile time")


def _particle_adapter(x, t, target_params, out, work):
    user_score(x, t, target_params, out)


def _block_adapter(x, t, target_params, out, lanes, work):
    for p in range(x.shape[1]):  # a block of particles, one per column
        user_score(x[:, p], t, target_params, out[:, p])


def _block_adapter_at(x, times, target_params, out, lanes, work):
    for p in range(x.shape[1]):  # a block of particles, each at its own time
        user_score(x[:, p], times[p], target_params, out[:, p])


def _score_batch(x, t, params, out):
    for p in prange(x.shape[0]):
        user_score(x[p], t[p], params, out[p])


def _bind(template, fn):
    namespace = dict(template.__globals__, user_score=fn)
    return types.FunctionType(template.__code__, namespace, template.__name__)


class CompiledScore:
    """A compiled per-particle score with the interface of a built-in target's score.

    Attributes ``dim``, :meth:`score` (batched, NumPy), :meth:`kernel_params`,
    :meth:`kernel_work_size`, :meth:`kernel_lane_rows` and ``kernel_scores``
    (the device functions the kernels call in place of the mixture score's, by name).
    """

    def __init__(self, fn, dim: int, params=()):
        if not callable(fn):
            raise TypeError(f"fn must be a function score(x, t, params, out), got {type(fn).__name__}")
        self.dim = check_int("dim", dim, 1)
        self.params = tuple(
            np.ascontiguousarray(p, dtype=float) if isinstance(p, (list, np.ndarray)) else p
            for p in (params if isinstance(params, tuple) else (params,))
        )
        self.fn = device_function(fn)
        # fresh copies of the adapters with user_score bound to fn: compile_for compiles fn in its
        # place, and its cache (keyed by function object) tells two users' scores apart
        self.kernel_scores = {
            "particle_score": device_function(_bind(_particle_adapter, self.fn)),
            "target_score": device_function(_bind(_block_adapter, self.fn)),
            "target_score_at": device_function(_bind(_block_adapter_at, self.fn)),
        }
        self._batch_source = _bind(_score_batch, self.fn)
        self._batch = None

    def kernel_params(self) -> tuple:
        return self.params

    def kernel_work_size(self, time_slots: int = 2) -> int:
        return 1  # a user's score keeps no scratch

    def kernel_lane_rows(self) -> int:
        return 1

    def score(self, x, t) -> np.ndarray:
        """``score(x, t)`` on a batch ``x`` ``(m, d)`` with ``t`` a float or ``(m,)``."""
        x = np.ascontiguousarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (m, {self.dim}), got {x.shape}")
        t = np.ascontiguousarray(np.broadcast_to(np.asarray(t, dtype=float), (x.shape[0],)))
        if self._batch is None:
            self._batch = compile_for(self._batch_source, "cpu-parallel")
        out = np.empty_like(x)
        self._batch(x, t, self.params, out)
        return out

    def __repr__(self) -> str:
        return f"CompiledScore({getattr(self.fn, '__name__', 'score')}, dim={self.dim})"


def compiled_score(fn, dim: int, params=()) -> CompiledScore:
    """Compile a per-particle score ``fn(x, t, params, out)`` for the ``numpy``, ``cpu`` and ``cuda`` backends.

    Parameters
    ----------
    fn : function
        Plain Python on scalars and 1-D arrays, as Numba compiles it: ``x`` of shape ``(d,)``, ``t``
        the forward OU time (a float), ``params`` the tuple below, ``out`` the ``(d,)`` array to
        fill with ``grad log q_t(x)``. It may use ``math`` and loops; not NumPy array creation (it
        also runs as a CUDA device function).
    dim : int
        Dimension ``d``.
    params : tuple of arrays and scalars
        Passed to ``fn`` unchanged (arrays as contiguous float64; copied to the GPU for CUDA).

    Returns
    -------
    CompiledScore
        Pass it to :func:`certsample.sample` like a built-in target, on any backend.

    Examples
    --------
    >>> import math, certsample as cs
    >>> def gaussian_score(x, t, params, out):
    ...     v = params[0] * math.exp(-2 * t) - math.expm1(-2 * t)
    ...     for i in range(x.shape[0]):
    ...         out[i] = -x[i] / v
    >>> score = cs.compiled_score(gaussian_score, 2, (0.5,))
    >>> cs.sample(score, "exponential-ode", n=4, n_steps=5, backend="cpu", progress=False).samples.shape
    (4, 2)
    """
    return CompiledScore(fn, dim, params)
