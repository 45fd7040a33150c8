"""The CUDA driver of :mod:`.fast_enclosure`: one thread per particle, the same device functions as the CPU.

Imported only when ``backend='cuda'`` is asked for (CUDA start-up is not free). Each resident thread has
its own scratch and walks particles ``thread, thread + stride, ...``; a particle's result depends on its
start box alone. The simulator runs the same Python as the CPU, to the bit (the tests compare them); on a
GPU, NVVM fuses products into sums by default, so the balls differ from the CPU's in their last bits, each
proved (the interval bounds hold for fused operations: :mod:`.interval`).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ..kernels.jit import compile_for
from .fast_enclosure import enclose_particle

__all__ = ["enclose_threads", "run_cuda"]

THREADS_PER_BLOCK = 64
MAX_THREADS = 4096


def enclose_threads(
    y0l,
    y0h,
    T,
    deltas,
    tol_local,
    step_floor,
    order,
    max_steps,
    means,
    vidx,
    lams,
    lwd,
    logw,
    shared,
    gj,
    LO,
    HI,
    off,
    vec,
    jmask,
    active,
    ck_c,
    ck,
    out_c,
    out,
):
    thread = cuda.grid(1)
    stride = cuda.gridsize(1)
    if thread >= LO.shape[0]:
        return
    for p in range(thread, y0l.shape[0], stride):
        enclose_particle(
            y0l[p],
            y0h[p],
            T,
            deltas[p],
            tol_local[p],
            step_floor,
            order,
            max_steps,
            means,
            vidx,
            lams,
            lwd,
            logw,
            shared,
            gj,
            LO[thread],
            HI[thread],
            off,
            vec[thread],
            jmask[thread],
            active[thread],
            ck_c[p],
            ck[p],
            out_c[p],
            out[p],
        )


def run_cuda(model, args, order, n, threads, ck_c, ck, out_c, out):
    """Launch :func:`enclose_threads` on ``threads`` resident threads (default ``min(n, 4096)``) and copy back the
    results and the checkpoints (:func:`~.fast_enclosure.enclose_particle`)."""
    threads = min(n, MAX_THREADS) if threads is None else max(1, min(int(threads), n))
    kernel = compile_for(enclose_threads, "cuda-kernel")
    scratch = model.scratch(order, threads)
    device_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in (*args, *scratch)]
    d_ck_c, d_ck, d_out_c, d_out = (cuda.to_device(a) for a in (ck_c, ck, out_c, out))
    blocks = (threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    kernel[blocks, THREADS_PER_BLOCK](*device_args, d_ck_c, d_ck, d_out_c, d_out)
    for device, host in ((d_ck_c, ck_c), (d_ck, ck), (d_out_c, out_c), (d_out, out)):
        device.copy_to_host(host)
