"""The CPU drivers: a ``prange`` over scratch slots, each slot walking its share of the particles step by step.

Scratch is per slot (a few per thread, :data:`~.launch.SCRATCH_BLOCKS_PER_THREAD`), not per particle, so
memory does not grow with the particle count. ``solver_step`` is :mod:`.loops`' placeholder, rebound by
:func:`~.jit.compile_for` to the solver's step.
"""

import numpy as np
from numba import prange

from .loops import solver_step

__all__ = ["cpu_run_steps", "cpu_run_blocks"]


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
                nfe[p] += solver_step(
                    x[p],
                    times[k],
                    h,
                    k,
                    np.uint64(offset + p),
                    key0,
                    key1,
                    target_params,
                    solver_params,
                    work[b],
                    swork[b],
                )


def cpu_run_blocks(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, lanes, swork, nfe):
    # x is (blocks, columns, CPU_LANES); scratch slot s (a few per thread) runs its share of the
    # blocks step by step, so the score's time constants are computed once per step and slot
    n_blocks, slots, width = x.shape[0], work.shape[0], x.shape[2]
    for s in prange(slots):
        for k in range(k0, k1):
            h = times[k] - times[k + 1]
            for b in range(s * n_blocks // slots, (s + 1) * n_blocks // slots):
                nfe[b] += solver_step(
                    x[b],
                    times[k],
                    h,
                    k,
                    np.uint64(offset + b * width),
                    key0,
                    key1,
                    target_params,
                    solver_params,
                    work[s],
                    lanes[s],
                    swork[s],
                )
