"""Kernels that run a solver's step over particles and a range of steps.

A solver's step comes in one of these layouts (``Solver.kernel_layout``):

* ``'block'`` -- the step takes a block of particles, particle-minor: state ``(columns, L)``, one
  particle per column, every loop over particles innermost. Particles are stored as blocks of
  ``L`` (:data:`CPU_LANES` on the CPU, where a block runs in vector registers; :data:`CUDA_LANES` on
  CUDA, where each thread of a warp takes one column of a block, so neighbouring threads read
  neighbouring addresses);
* ``'particle'`` -- the step takes one particle's row of an ``(n, columns)`` array;
* ``'nodes'`` (CUDA only) -- a solver's ``kernel_node_step`` shares a particle among the threads of
  a group, each doing its share of a sweep's node evaluations, with :func:`sweep_barrier` between
  the phases (:func:`~.cuda_driver.cuda_run_nodes`).

The loops are the only backend-specific code: a ``prange`` over scratch slots on the CPU
(scratch per slot, steps outer), a grid-stride loop on CUDA (scratch per resident thread), so memory does not
grow with the particle count on either. ``solver_step`` is a placeholder global that :func:`compile_for` rebinds to
the solver's own compiled step. The CUDA loops live in :mod:`.cuda_driver` so that importing
this module does not start numba.cuda.
"""

import numpy as np
from numba import prange

from .jit import compile_for, device_function


@device_function
def solver_step(x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork):
    raise NotImplementedError("solver_step is rebound to a solver's step at compile time")


@device_function
def solver_node_step(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork, node, stride):
    raise NotImplementedError("solver_node_step is rebound to a solver's node step at compile time")


@device_function
def sweep_barrier():
    """Where the threads sharing a particle wait for each other: nothing with one thread per
    particle; ``cuda.syncthreads()`` in :func:`~.cuda_driver.cuda_run_nodes`."""
    return None


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


@device_function
def advance_block(x, times, k0, k1, key0, key1, first, target_params, solver_params, work, lanes, swork):
    """Steps ``k0 .. k1-1`` of one block ``x`` ``(columns, L)``; returns the evaluations per particle."""
    spent = 0
    for k in range(k0, k1):
        spent += solver_step(x, times[k], times[k] - times[k + 1], k, first, key0, key1,
                             target_params, solver_params, work, lanes, swork)
    return spent


def cpu_run_blocks(x, times, k0, k1, key0, key1, offset, target_params, solver_params, work, lanes, swork, nfe):
    # x is (blocks, columns, CPU_LANES); scratch slot s (a few per thread) runs its share of the
    # blocks step by step, so the score's time constants are computed once per step and slot
    n_blocks, slots, width = x.shape[0], work.shape[0], x.shape[2]
    for s in prange(slots):
        for k in range(k0, k1):
            h = times[k] - times[k + 1]
            for b in range(s * n_blocks // slots, (s + 1) * n_blocks // slots):
                nfe[b] += solver_step(x[b], times[k], h, k, np.uint64(offset + b * width), key0, key1,
                                      target_params, solver_params, work[s], lanes[s], swork[s])


@device_function
def advance_nodes(x, times, k0, k1, key0, key1, particle, target_params, solver_params, work, lanes, swork,
                  node, stride):
    """Steps ``k0 .. k1-1`` of one particle ``x`` (a one-column block or a row), this thread's share
    of its nodes; returns the evaluations this thread made."""
    spent = 0
    for k in range(k0, k1):
        spent += solver_node_step(x, times[k], times[k] - times[k + 1], k, particle, key0, key1,
                                  target_params, solver_params, work, lanes, swork, node, stride)
    return spent


#: particles per block on the CPU: 8 AVX-512 or 16 AVX2 vectors of float64, and a ``64 x 64`` block of a
#: 64-d state is 32 KiB, the size of an L1 data cache
CPU_LANES = 64
#: particles per block on CUDA: a warp
CUDA_LANES = 32


def step_runner(step_fn, backend: str, scores=None, layout: str = "particle"):
    """The compiled ``run_steps`` kernel for ``step_fn`` on ``backend`` ('cpu' or 'cuda').

    ``scores`` maps score names (``target_score``, ``particle_score``) to a user's replacements;
    ``layout`` is the step's, ``'particle'`` or ``'block'``, or ``'nodes'`` (CUDA) for a solver's
    ``kernel_node_step``.
    """
    if layout not in ("particle", "block", "nodes"):
        raise ValueError(f"unknown kernel layout {layout!r}; choose 'particle', 'block' or 'nodes'")
    overrides = {"solver_step": step_fn, **(scores or {})}
    if layout == "nodes" and backend != "cuda":
        raise ValueError("the 'nodes' layout (threads sharing a particle) runs on backend 'cuda' only")
    if backend == "cpu":
        return compile_for(cpu_run_blocks if layout == "block" else cpu_run_steps, "cpu-parallel", overrides)
    if backend == "cuda":
        # numba.cuda is imported only when asked for
        from .cuda_driver import cuda_run_blocks, cuda_run_nodes, cuda_run_steps, cuda_sweep_barrier

        if layout == "nodes":
            overrides = {"solver_node_step": step_fn, "sweep_barrier": cuda_sweep_barrier, **(scores or {})}
            return compile_for(cuda_run_nodes, "cuda-kernel", overrides)
        return compile_for(cuda_run_blocks if layout == "block" else cuda_run_steps, "cuda-kernel", overrides)
    raise ValueError(f"unknown kernel backend {backend!r}; choose 'cpu' or 'cuda'")
