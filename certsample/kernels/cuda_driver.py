"""The CUDA drivers: grid-stride loops over :mod:`.loops`, scratch per resident thread.

Imported only when a CUDA kernel is asked for (:func:`~.runner.step_runner`): importing numba.cuda
is not free, and certsample itself must not.
"""

import numpy as np
from numba import cuda

from .jit import device_function
from .loops import advance_block, advance_nodes, advance_particle

__all__ = ["cuda_run_steps", "cuda_run_blocks", "cuda_run_nodes", "cuda_sweep_barrier"]


def cuda_run_steps(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, swork, nfe):
    # the launch has work.shape[0] threads; each walks particles thread, thread + stride, ... with its
    # own scratch row, so scratch is bounded by the resident threads, not by the particle count
    thread = cuda.grid(1)
    stride = cuda.gridsize(1)
    for p in range(thread, x.shape[0], stride):
        nfe[p] += advance_particle(
            x[p],
            times,
            k0,
            k1,
            key0,
            key1,
            np.uint64(offset + p),
            target_params,
            solver_params,
            work[thread],
            swork[thread],
        )


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
        spent = advance_block(
            x[b, :, lane : lane + 1],
            times,
            k0,
            k1,
            key0,
            key1,
            np.uint64(offset + g),
            target_params,
            solver_params,
            work[slot, :, :, lane : lane + 1],
            lanes[slot, :, lane : lane + 1],
            swork[thread],
        )
        if lane == 0:
            nfe[b] += spent


@device_function
def cuda_sweep_barrier():
    cuda.syncthreads()


def cuda_run_nodes(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, lanes, swork, nfe):
    # x is (n, columns, 1) for a block step, (n, columns) for a particle step. A thread block of
    # g * m threads holds m particles at a time, g threads each (g = lanes.shape[0] //
    # work.shape[0], the threads per particle): thread r of particle i
    # does nodes r, r + g, ... and the group meets at cuda.syncthreads(). Every thread of a block
    # walks the same particle rounds and steps, so all reach the same barriers; a thread without a
    # particle (the last round, or a block size not a multiple of g) takes no node (node = g).
    # Scratch: work per particle slot (shared by its group), lanes and swork per thread.
    group = lanes.shape[0] // work.shape[0]
    per_block = cuda.blockDim.x // group
    local, node = cuda.threadIdx.x // group, cuda.threadIdx.x % group
    slot = cuda.blockIdx.x * per_block + min(local, per_block - 1)
    thread = cuda.grid(1)
    n = x.shape[0]
    for base in range(cuda.blockIdx.x * per_block, n, cuda.gridDim.x * per_block):
        p = base + local
        active = local < per_block and p < n
        spent = advance_nodes(
            x[min(p, n - 1)],
            times,
            k0,
            k1,
            key0,
            key1,
            np.uint64(offset + p),
            target_params,
            solver_params,
            work[slot],
            lanes[thread],
            swork[thread],
            node if active else group,
            group,
        )
        if active:
            cuda.atomic.add(nfe, p, spent)
