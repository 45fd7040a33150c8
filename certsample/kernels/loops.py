"""The per-particle loops over steps, and the placeholders a solver's step is bound into: no backend in here.

A solver's step comes in one of these layouts (``Solver.kernel_layout``):

* ``'block'`` -- the step takes a block of particles, particle-minor: state ``(columns, L)``, one
  particle per column, every loop over particles innermost. Particles are stored as blocks of
  ``L`` (:data:`~.launch.CPU_LANES` on the CPU, where a block runs in vector registers;
  :data:`~.launch.CUDA_LANES` on CUDA, where each thread of a warp takes one column of a block, so
  neighbouring threads read neighbouring addresses);
* ``'particle'`` -- the step takes one particle's row of an ``(n, columns)`` array;
* ``'nodes'`` (CUDA only) -- a solver's ``kernel_node_step`` shares a particle among the threads of
  a group, each doing its share of a sweep's node evaluations, with :func:`sweep_barrier` between
  the phases (:func:`~.cuda_driver.cuda_run_nodes`).

``solver_step`` and ``solver_node_step`` are placeholder globals that :func:`~.jit.compile_for` rebinds
to the solver's own compiled step; ``sweep_barrier`` does nothing here and is rebound to
:func:`~.cuda_driver.cuda_sweep_barrier` for the threads of a group. The drivers that walk particles
over these loops are the only backend-specific code: :mod:`.cpu_driver` (``prange``) and
:mod:`.cuda_driver` (grid-stride); :mod:`.runner` picks one and launches it.
"""

from .jit import device_function

__all__ = ["solver_step", "solver_node_step", "sweep_barrier", "advance_particle", "advance_block", "advance_nodes"]


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
        spent += solver_step(
            x, times[k], times[k] - times[k + 1], k, particle, key0, key1, target_params, solver_params, work, swork
        )
    return spent


@device_function
def advance_block(x, times, k0, k1, key0, key1, first, target_params, solver_params, work, lanes, swork):
    """Steps ``k0 .. k1-1`` of one block ``x`` ``(columns, L)``; returns the evaluations per particle."""
    spent = 0
    for k in range(k0, k1):
        spent += solver_step(
            x, times[k], times[k] - times[k + 1], k, first, key0, key1, target_params, solver_params, work, lanes, swork
        )
    return spent


@device_function
def advance_nodes(
    x, times, k0, k1, key0, key1, particle, target_params, solver_params, work, lanes, swork, node, stride
):
    """Steps ``k0 .. k1-1`` of one particle ``x`` (a one-column block or a row), this thread's share
    of its nodes; returns the evaluations this thread made."""
    spent = 0
    for k in range(k0, k1):
        spent += solver_node_step(
            x,
            times[k],
            times[k] - times[k + 1],
            k,
            particle,
            key0,
            key1,
            target_params,
            solver_params,
            work,
            lanes,
            swork,
            node,
            stride,
        )
    return spent
