"""The CUDA loop of :mod:`.drivers`: one thread per particle."""

import numpy as np
from numba import cuda

from .drivers import advance_particle


def cuda_run_steps(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, swork, nfe):
    p = cuda.grid(1)
    if p < x.shape[0]:
        nfe[p] += advance_particle(x[p], times, k0, k1, key0, key1, np.uint64(offset + p),
                                   target_params, solver_params, work[p], swork[p])
