"""The CUDA loops of :mod:`.drivers`: grid-stride loops, scratch per resident thread."""

import numpy as np
from numba import cuda

from .drivers import advance_block, advance_particle


def cuda_run_steps(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, swork, nfe):
    # the launch has work.shape[0] threads; each walks particles thread, thread + stride, ... with its
    # own scratch row, so scratch is bounded by the resident threads, not by the particle count
    thread = cuda.grid(1)
    stride = cuda.gridsize(1)
    for p in range(thread, x.shape[0], stride):
        nfe[p] += advance_particle(x[p], times, k0, k1, key0, key1, np.uint64(offset + p),
                                   target_params, solver_params, work[thread], swork[thread])


def cuda_run_blocks(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, lanes, swork, nfe):
    # x is (blocks, columns, CUDA_LANES): thread g takes column g % CUDA_LANES of blocks g // CUDA_LANES,
    # then + stride (a multiple of the width, so a thread keeps its column); a warp's threads read
    # consecutive addresses. Scratch is per resident thread, particle-minor in the same way.
    thread = cuda.grid(1)
    stride = cuda.gridsize(1)
    width = x.shape[2]
    slot, lane = thread // width, thread % width
    for g in range(thread, x.shape[0] * width, stride):
        b = g // width
        spent = advance_block(x[b, :, lane:lane + 1], times, k0, k1, key0, key1, np.uint64(offset + g),
                              target_params, solver_params, work[slot, :, :, lane:lane + 1],
                              lanes[slot, :, lane:lane + 1], swork[thread])
        if lane == 0:
            nfe[b] += spent
