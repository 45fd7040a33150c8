"""Solver base classes: what every sampler exposes, and capabilities as mix-ins.

A solver walks a :class:`~certsample.forward.TimeGrid` from forward time ``T`` down to ``delta``.
It provides the same step twice:

* :meth:`Solver.step` -- the NumPy reference on a batch, through a counting
  :class:`~certsample.oracle.ScoreOracle` and a noise source;
* :attr:`Solver.kernel_step` -- device math (see :mod:`certsample.kernels.jit`) compiled for the CPU
  (prange over particles) and CUDA (one thread per particle), in one of two layouts
  (:attr:`Solver.kernel_layout`, :mod:`certsample.kernels.loops`): ``'block'``, signature
  ``(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork) -> nfe`` with
  ``x`` a block ``(columns, L)`` of particles ``first, first + 1, ...`` one per column, ``work``
  ``(n_work, d, L)`` and ``lanes`` per-particle rows (the step's ``n_lane_work``, then the block
  score's); or ``'particle'``, signature ``(x, t, h, k, particle, key0, key1, target_params,
  solver_params, work, swork) -> nfe`` with ``x`` one particle's row. ``swork`` is the score's
  scratch and time cache in both.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Solver", "ODESolver", "SDESolver", "ParallelSolver"]


class Solver:
    """Base class. Subclasses set the class attributes and implement :meth:`step`."""

    #: registry name
    name: str = ""
    #: score evaluations per step and per particle
    evals_per_step: int = 1
    #: sequential rounds of score evaluations per step
    rounds_per_step: int = 1
    #: work vectors of length ``d`` the kernel step needs per particle
    n_work: int = 0
    #: per-particle scalars a block step keeps (rows of ``lanes`` before the score's own)
    n_lane_work: int = 0
    #: vectors of length ``d`` a particle carries from one step to the next (e.g. a warm start);
    #: the kernel step's state row ``x`` is then ``(1 + n_carry) d`` long: the particle, then its carry
    n_carry: int = 0
    #: distinct score times one step visits that all particles share (plus one for a per-particle time):
    #: the compiled score caches the constants of this many times per scratch block
    time_slots: int = 2
    #: device function, or None for a NumPy-only solver
    kernel_step = None
    #: the kernel step's layout: ``'block'`` (particle-minor blocks) or ``'particle'`` (one row)
    kernel_layout = "particle"
    #: device function: the kernel step with two more arguments ``node, stride`` (and ``lanes``
    #: before ``swork`` in the particle layout too, unused there), doing a share of a sweep's
    #: evaluations, so that ``kernel_node_threads`` CUDA threads can share a particle
    kernel_node_step = None
    kernel_node_threads: int = 0

    def order(self) -> float:
        """Global order of the discretisation error in the step size (for convergence tests)."""
        raise NotImplementedError

    def step(self, x, t: float, h: float, k: int, score, noise) -> np.ndarray:
        """Advance particles ``x`` ``(n, d)`` from forward time ``t`` to ``t - h`` (step index ``k``)."""
        raise NotImplementedError

    def kernel_params(self, grid, target=None) -> tuple:
        """Extra arrays/scalars the kernel step reads (its ``solver_params``).

        ``target`` is the run's target, for solvers whose parameters depend on it (e.g. a
        corrector's step size from the score's Lipschitz constant).
        """
        return (0.0,)

    def prepare(self, grid, target=None) -> None:
        """Called by the NumPy loop before the first step, for solvers whose schedule depends on the
        whole grid (e.g. a corrector every few steps). Default: nothing."""

    def nfe(self, n_steps: int) -> int:
        return self.evals_per_step * n_steps

    def rounds(self, n_steps: int) -> int:
        return self.rounds_per_step * n_steps

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ODESolver(Solver):
    """Deterministic: integrates the probability-flow ODE ``dy/ds = y + grad log q_{T-s}(y)``."""

    stochastic = False


class SDESolver(Solver):
    """Stochastic: integrates the reverse SDE ``dy = (y + 2 grad log q_{T-s}(y)) ds + sqrt(2) dB``."""

    stochastic = True


class ParallelSolver(Solver):
    """Evaluates several scores per sequential round (``rounds_per_step < evals_per_step``)."""
