"""Kernels that run a solver's per-particle step over particles and a range of steps.

The loops are the only backend-specific code: a ``prange`` over blocks of particles on the CPU
(scratch per block, steps outer), a grid-stride loop on CUDA (scratch per resident thread), so memory does not
grow with the particle count on either. ``solver_step`` is a placeholder global that :func:`compile_for` rebinds to
the solver's own compiled step. The CUDA loop lives in :mod:`.cuda_driver` so that importing
this module does not start numba.cuda.
"""

import numpy as np
from numba import prange

from .jit import compile_for, device_function


@device_function
def solver_step(x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork):
    raise NotImplementedError("solver_step is rebound to a solver's step at compile time")


@device_function
def advance_particle(x, times, k0, k1, key0, key1, particle, target_params, solver_params, work, swork):
    """Steps ``k0 .. k1-1`` of one particle; returns the score evaluations spent."""
    spent = 0
    for k in range(k0, k1):
        spent += solver_step(x, times[k], times[k] - times[k + 1], k, particle, key0, key1,
                             target_params, solver_params, work, swork)
    return spent


def cpu_run_steps(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, swork, nfe):
    # one scratch slot per block of particles (``work.shape[0]`` blocks, a few per thread), not per
    # particle: a block runs on one thread, and each particle's step overwrites the scratch it reads.
    # A block goes step by step over its particles (every step of a particle depends only on its
    # state, so the order changes no result): the score's per-time constants, cached in the block's
    # scratch, are then computed once per step instead of once per particle.
    n, blocks = x.shape[0], work.shape[0]
    for b in prange(blocks):
        for k in range(k0, k1):
            h = times[k] - times[k + 1]
            for p in range(b * n // blocks, (b + 1) * n // blocks):
                nfe[p] += solver_step(x[p], times[k], h, k, np.uint64(offset + p), key0, key1,
                                      target_params, solver_params, work[b], swork[b])


def step_runner(step_fn, backend: str, score_fn=None):
    """The compiled ``run_steps`` kernel for ``step_fn`` on ``backend`` ('cpu' or 'cuda')."""
    overrides = {"solver_step": step_fn}
    if score_fn is not None:
        overrides["target_score"] = score_fn
    if backend == "cpu":
        return compile_for(cpu_run_steps, "cpu-parallel", overrides)
    if backend == "cuda":
        from .cuda_driver import cuda_run_steps  # numba.cuda is imported only when asked for

        return compile_for(cuda_run_steps, "cuda-kernel", overrides)
    raise ValueError(f"unknown kernel backend {backend!r}; choose 'cpu' or 'cuda'")
