"""The solver contract, and capabilities as base classes that the drivers check.

A solver walks a :class:`~certsample.forward.TimeGrid` from forward time ``T`` down to ``delta``.
Everything a driver needs to know about it is on the class, so no code outside ``solvers/`` ever
compares a solver's name:

* the cost -- :meth:`Solver.cost` ``(grid, target) -> (nfe, rounds)``, a pure function of the grid;
* the step, twice: :meth:`Solver.step`, the NumPy reference on a batch, with its per-run state passed
  explicitly (``state = solver.init(grid, target)``, then ``x, state = solver.step(x, t, h, k, score,
  noise, state)``, as diffrax does), and :attr:`Solver.kernel_step`, device math compiled for the
  CPU and CUDA (:mod:`certsample.kernels`), whose per-run data is :meth:`Solver.kernel_params`;
* what can be proved about it -- :attr:`Solver.theorem` (a name in ``proofs.THEOREMS``) or, when none
  covers it, :attr:`Solver.theorem_gap` saying why; :attr:`Solver.linear_in_noise` (its output law is
  exact on Gaussian targets).

Capabilities are base classes, and each is checked where it matters: :class:`ODESolver` (deterministic:
certify proves its paths with enclosures), :class:`SDESolver` (draws noise: the driver warns about long
steps), :class:`ParallelSolver` (several evaluations per round: on CUDA, :attr:`~ParallelSolver.kernel_node_step`
lets threads share a particle), :class:`PlannedSolver` (chooses its own grid from an accuracy ``eps``).

The compiled step has one of two layouts (:attr:`Solver.kernel_layout`): ``'block'``, signature
``(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork) -> nfe`` with ``x`` a
block ``(columns, L)`` of particles ``first, first + 1, ...`` one per column, ``work`` ``(n_work, d, L)``
and ``lanes`` per-particle rows (the step's ``n_lane_work``, then the block score's); or ``'particle'``,
signature ``(x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork) -> nfe`` with
``x`` one particle's row. ``swork`` is the score's scratch and time cache in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Solver", "ODESolver", "SDESolver", "ParallelSolver", "PlannedSolver", "Plan", "grid_steps"]


def grid_steps(grid) -> int:
    """Steps of ``grid``: a :class:`~certsample.forward.TimeGrid` or a step count."""
    return len(grid) if hasattr(grid, "times") else int(grid)


class Solver:
    """Base class. Subclasses set the class attributes and implement :meth:`order` and :meth:`step`."""

    #: registry name
    name: str = ""
    #: name of the theorem in ``proofs.THEOREMS`` whose bound covers this solver, or None
    theorem: str | None = None
    #: when :attr:`theorem` is None: why no theorem here covers the solver
    theorem_gap: str = "no theorem in proofs/ covers this solver"
    #: a step is affine in the state and in its Gaussian draws whenever the score is affine in ``x``
    #: (Gaussian targets), so :func:`certsample.exact.linear_scheme_law` gives its exact output law
    linear_in_noise: bool = False
    #: score evaluations per step and per particle; a solver whose cost varies from step to step says what
    #: this counts (collocation: the most one window costs; a corrector schedule: the predictor's), and
    #: :meth:`cost` gives the exact count
    evals_per_step: int = 1
    #: sequential rounds of score evaluations per step (likewise)
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

    def order(self) -> float:
        """Global order of the discretisation error in the step size (for convergence tests)."""
        raise NotImplementedError

    def init(self, grid, target=None):
        """The per-run state :meth:`step` reads and returns (None: the solver keeps none).

        ``target`` is the run's exact target when there is one (for solvers whose schedule depends on
        its Lipschitz bounds).
        """
        return None

    def step(self, x, t: float, h: float, k: int, score, noise, state):
        """Advance particles ``x`` ``(n, d)`` from forward time ``t`` to ``t - h`` (step ``k``).

        ``score`` is a counting :class:`~certsample.oracle.ScoreOracle`, ``noise`` a
        :class:`~certsample.noise.NoiseSource`-like object. Returns ``(new x, new state)``.
        """
        raise NotImplementedError

    def cost(self, grid, target=None) -> tuple[int, int]:
        """``(nfe, rounds)``: score evaluations and sequential rounds per particle over ``grid`` (a
        :class:`~certsample.forward.TimeGrid`, or a step count where the cost does not depend on the
        times). Every backend reports exactly these counts."""
        n_steps = grid_steps(grid)
        return self.evals_per_step * n_steps, self.rounds_per_step * n_steps

    def nfe(self, grid, target=None) -> int:
        """Score evaluations per particle over ``grid`` (:meth:`cost`)."""
        return self.cost(grid, target)[0]

    def rounds(self, grid, target=None) -> int:
        """Sequential rounds of score evaluations over ``grid`` (:meth:`cost`)."""
        return self.cost(grid, target)[1]

    def theorem_options(self) -> dict:
        """The solver's parameters as its :attr:`theorem` takes them (a :class:`proofs.core.RunTheorem`'s
        ``run_bound`` and ``run_plan`` keywords); empty for closed-form theorems."""
        return {}

    def kernel_params(self, grid, target=None) -> tuple:
        """Extra arrays/scalars the kernel step reads (its ``solver_params``).

        ``target`` is the run's target, for solvers whose parameters depend on it (e.g. a
        corrector's step size from the score's Lipschitz constant).
        """
        return (0.0,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ODESolver(Solver):
    """Deterministic: integrates the probability-flow ODE ``dy/ds = y + grad log q_{T-s}(y)``.

    Its output is a function of its start point alone, so certify proves each particle's error against
    an enclosure of the exact flow of the same start.
    """


class SDESolver(Solver):
    """Stochastic: draws Brownian noise every step (the reverse SDE ``dy = (y + 2 grad log q_{T-s}(y)) ds
    + sqrt(2) dB``, or a Langevin chain); its error can only be judged in law."""


class ParallelSolver(Solver):
    """Evaluates several scores per sequential round (``rounds < nfe``).

    On CUDA the evaluations of one round may be shared by ``kernel_node_threads`` threads per particle
    through :attr:`kernel_node_step`: the kernel step with two more arguments ``node, stride`` (and
    ``lanes`` before ``swork`` in the particle layout too, unused there), doing nodes ``node, node +
    stride, ...`` of a sweep. None: one thread per particle.
    """

    kernel_node_step = None
    kernel_node_threads: int = 0


@dataclass
class Plan:
    """A run chosen from an accuracy target: the solver configured for it, its grid, and what was chosen."""

    solver: Solver
    grid: object  # TimeGrid
    #: the choices and their reasons (windows, degree, pilot cost, ...), reported with the run
    info: dict = field(default_factory=dict)
    #: proved a-priori bound of the plan's error, when a theorem proves one (None: not proved)
    bound: float | None = None


class PlannedSolver(Solver):
    """Chooses its own grid and parameters from an accuracy ``eps`` (``sample(..., eps=)``, certify)."""

    def plan(self, eps: float, target, T: float, delta: float) -> Plan:
        """A worst-case plan for pathwise accuracy ``eps`` on ``target``, from the target's bounds alone."""
        raise NotImplementedError

    def measured_plan(self, eps: float, score, x_pilot, T: float, delta: float) -> Plan:
        """A plan for RMS pathwise accuracy ``eps`` measured on the pilot particles ``x_pilot``
        (``score`` a :class:`~certsample.oracle.ScoreOracle`)."""
        raise NotImplementedError
