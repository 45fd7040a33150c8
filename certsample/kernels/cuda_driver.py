"""The CUDA loop of :mod:`.drivers`: a grid-stride loop, scratch per resident thread."""

import numpy as np
from numba import cuda

from .drivers import advance_particle


def cuda_run_steps(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, swork, nfe):
    # the launch has work.shape[0] threads; each walks particles thread, thread + stride, ... with its
    # own scratch row, so scratch is bounded by the resident threads, not by the particle count
    thread = cuda.grid(1)
    stride = cuda.gridsize(1)
    for p in range(thread, x.shape[0], stride):
        nfe[p] += advance_particle(x[p], times, k0, k1, key0, key1, np.uint64(offset + p),
                                   target_params, solver_params, work[thread], swork[thread])
