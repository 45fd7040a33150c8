"""Certified sampling runs: how accurate was this run, proved where it can be, and what the theorem said.

:func:`certify` takes a target, a solver and an accuracy ``eps`` and returns a
:class:`~.certificate.Certificate` with two verdicts.

``accuracy_verdict`` -- is this run's error below ``eps``? (:mod:`.measurement`)
    *ODE solvers* start from exact ``q_T`` samples; for each checked particle the exact
    probability-flow image of its start point is enclosed in a proved ball (:mod:`.flows`: compiled
    float64 interval arithmetic, :mod:`.fast_enclosure`, and Arb ball arithmetic, :mod:`.enclosure`, for
    the particles float64 cannot validate), so its pathwise error ``|x_solver - x_exact|``
    lies in ``[|x - c| - r, |x - c| + r]`` -- a proof, and a reference independent of every solver here
    (it shares no code with them). On models where one Arb trajectory outlasts any budget (per-component
    variances in more than three coordinates) a particle float64 cannot validate stays unproved: ``r = inf``,
    so no upper bound holds for the run and the certificate says how many. By default every particle of a run of
    at most :data:`PROVE_ALL_UP_TO` is checked: then (every one enclosed) every output sample lies within its
    proved error of the exact flow image of its exact ``q_T`` start, and those images are an i.i.d. sample of
    ``q_delta`` -- a proved W-infinity coupling of the output to it. The accuracy metric is the RMS pathwise error of
    the coupling (an upper bound of ``W2``). ``PASS`` (verified): its proved upper bound over the checked
    particles is at most ``eps``; ``FAIL`` (verified): its proved lower bound exceeds ``eps``. For the
    sampler's law the certificate adds distribution-free statements at level ``confidence``: an exact
    (Clopper-Pearson) upper bound of the fraction of trajectories whose error exceeds ``eps``, and an
    empirical-Bernstein upper bound of ``E min(e^2, (4 eps)^2)`` (a bound of an unbounded mean cannot be
    distribution-free). Where a time budget chose how many particles are checked, that count depends on the draws
    (hard paths take longer), so each statement is made on a prefix whose length lies in a grid fixed in advance, at
    a level a union bound over the grid leaves (:class:`~certsample.confidence.StoppedCount`).

    *Gaussian targets with a linear scheme* are judged on the exact Gaussian output law (``exact``).
    *Everything else* (SDE solvers on mixtures) is judged on sample statistics that are lower bounds of
    the metric (moment-matched Gaussians, sliced W2, binned TV): they can refute but never confirm, so
    the verdict is ``FAIL`` or ``INCONCLUSIVE``. A refutation is a test: ``FAIL`` when the statistic
    exceeds the threshold by more than the ``k``-th smallest of ``R`` replicates of the same statistic on exact
    samples, ``k = ceil((R + 1)(1 - alpha))``, ``alpha = Phi(-z)``, and by more than the ``k``-th smallest of its
    estimate's deviation over ``R`` resamples of the run (the larger of the two; their sum where the statistic
    has its own exact reference sample). A run of exact samples is exchangeable with the replicates, so its
    false-FAIL rate is at most ``1 - k / (R + 1)``: at most ``alpha`` when ``R + 1 >= 1 / alpha``, else ``1 / (R
    + 1)`` (stated in the certificate). A run whose error is at the threshold has the statistic at most the
    threshold plus its estimate's distance to the run's own law (the triangle inequality), whose quantile the
    bootstrap estimates: about the same rate, an approximation, not a proof (the exact replicates alone refuted such
    runs several times as often as stated: ``docs/performance.md``).

``theorem_verdict`` -- the run against the error bound of the theorem covering the solver
    (:attr:`~certsample.solvers.Solver.theorem`), at the NFE actually used (``PASS``/``FAIL``/
    ``INCONCLUSIVE``, or ``NOT APPLICABLE`` naming the hypothesis the target or solver fails). Bounds
    whose constants the paper hides are flagged ``certified_constants = False``.

Step counts. When a theorem applies, ``nfe_required`` is the smallest evaluation count at which its
rigorous error bound is at most ``eps`` (so the bound at the count used never exceeds ``eps``). A
:class:`~certsample.solvers.PlannedSolver` plans its own grid from ``eps``. Otherwise an ODE solver's
step count is tuned on the proved errors of the first ``pilot`` checked particles (doubling until they
are below ``eps / 2``), which then stay out of the confidence statements (the run was chosen on them); an
SDE solver needs ``n_steps``.

Only named failures (:mod:`.errors`) become verdicts or refusals; any other exception is a bug and
propagates.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from proofs.balls import bound_text
from proofs.core import RunTheorem, search_budget

from ..confidence import check_confidence
from ..forward import check_times, make_grid
from ..integrate import initial_particles, sample
from ..memory import check_run_fits
from ..oracle import PerturbedOracle, ScoreOracle
from ..solvers import PlannedSolver, get_solver
from ..validation import check_int, is_real
from .certificate import Certificate
from .errors import BoundUnreachable, CertifyError, HypothesisNotMet, OutsideTheoremRange, StepBudgetExceeded
from .measurement import SampleStatistics, VerifiedEnclosures, choose_measurement
from .parameters import default_horizon, nfe_for_accuracy, theorem_for
from .verifier import Verifier

__all__ = ["certify", "PROVE_ALL_UP_TO"]

#: runs of at most this many particles have every particle's error proved unless ``n_verify`` says otherwise
PROVE_ALL_UP_TO = 10_000
#: start points enclosed before the time budget is judged (after the pilot's)
TIMING_SAMPLE = 64
#: start points enclosed per batch while the time budget is being spent
BUDGET_BATCH = 1024
#: a cost probe of 16 particles quicker than this (seconds) is run again with :data:`PROBE_PARTICLES`: its time is
#: then mostly the call's own (the steps' loop), which scaling by the particle count would count many times over
QUICK_PROBE = 0.05
PROBE_PARTICLES = 256


def certify(
    target,
    solver="exponential-ode",
    eps: float = 0.05,
    *,
    score=None,
    score_error=None,
    n: int = 2000,
    n_verify: int | None = None,
    n_steps: int | None = None,
    T: float | None = None,
    delta: float = 1e-2,
    backend: str = "numpy",
    seed: int = 0,
    max_steps: int = 200_000,
    z: float = 3.0,
    confidence: float = 0.95,
    replicates: int = 200,
    pilot: int = 8,
    workers: int = 2,
    verify_seconds: float | None = 120.0,
    plan_seconds: float | None = 60.0,
    client=None,
    log=True,
    progress=False,
) -> Certificate:
    """Run ``solver`` on ``target``, prove (or test) its accuracy against ``eps``, and check its theorem.

    Parameters
    ----------
    target : MixtureTarget
        The exact target: the reference every error is measured against.
    solver : str or Solver
    eps : float
        Requested accuracy (> 0): pathwise RMS error for ODE solvers, the theorem's metric otherwise.
    score : ScoreOracle or callable, optional
        The score the sampler uses (default: the target's exact score). The accuracy verdict holds
        for any score; the theorem verdict needs its L2 error (``score_error``, or a
        :class:`~certsample.oracle.PerturbedOracle`'s ``error_l2``).
    n : int
        Particles in the run (sample-based measurements use them all).
    n_verify : int, optional
        ODE solvers: particles whose exact flow is enclosed and whose error is proved (default: all ``n``
        when ``n <= PROVE_ALL_UP_TO``, else 32).
    n_steps : int, optional
        Steps to run (default: from the theorem, the solver's plan, or tuned on proved errors).
    T, delta : float
        Horizon (default: ``e^{-T} W2(q_0, N(0, I)) <= eps / 4`` when the theorem has ``W0``, else
        10) and early-stopping time.
    max_steps : int
        Refuse to run when more steps than this would be needed.
    z : float
        Statistical refutations use ``alpha = Phi(-z)`` (default 3: about 0.13%). The false-FAIL rate stated is
        ``max(alpha, 1 / (replicates + 1))``: with the default 200 replicates 1/201, about 0.5% (``alpha`` needs
        ``replicates >= 1 / alpha - 1``, about 740 at ``z = 3``).
    confidence : float
        Level of the population statements, in (0, 1).
    replicates : int
        Monte-Carlo replicates of the null distribution of sample statistics.
    pilot : int
        ODE solvers without a theorem: particles whose proved errors tune the step count.
    workers : int
        Processes that compute enclosures (when no ``client`` is given).
    verify_seconds : float or None
        Time budget for the enclosures: the start points are enclosed in order, in batches, while the
        times so far say the next batch fits, so fewer than ``n_verify`` particles (at least ``pilot``)
        may be checked. The number is fixed by timings alone, before the run's errors are looked at.
        None: no budget.
    plan_seconds : float or None
        Time budget of a run theorem's search for its proved plan (:meth:`~proofs.core.RunTheorem.run_plan`);
        past it the best plan found so far is used, or, with none, the steps are chosen otherwise and the
        certificate says so. None: no budget.
    client : dask.distributed.Client, optional
        The enclosures are sharded over its workers (the same enclosures as one process).
    log : bool or callable
        Cost estimate and progress lines (default: to stderr, terminal or not).

    Returns
    -------
    Certificate
    """
    job = _Job.checked(dict(locals()))  # the arguments, checked
    solver_obj = get_solver(solver)
    check_run_fits(job.n, target.dim, solver_obj, backend)
    job.T = default_horizon(solver_obj, target, eps, delta, job.score_error) if T is None else T
    check = theorem_for(solver_obj, target, job.T, delta, job.score_error)
    strategy = choose_measurement(solver_obj, target, score is None)
    notes = list(check.notes)
    if check.theorem is not None and score is not None and not _perturbs_target(score, target):
        notes.append(
            f"theorem {check.theorem.name!r} also assumes the hypotheses its assumptions list for the score used "
            "(beyond its L2 error): taken as given for this score, not checked, so a theorem FAIL may be the score's"
        )
    if strategy is VerifiedEnclosures and "W0" in check.parameters:
        check.parameters["W0"] = 0.0
        notes.append("started from the exact q_T, so the initialisation term W0 is 0")
    job.init = strategy.init
    job.x0 = initial_particles(n, target.dim, seed, job.T, target, job.init)
    verifier = None
    if strategy is VerifiedEnclosures:
        # radii of at most eps (1 + |x0|) / 1000 (``tol`` is relative): they widen the proved RMS by about 1% of eps
        # in 64-d, less in fewer; a tighter request only costs steps (docs/performance.md)
        tol = float(eps) * 1e-3
        verifier = Verifier(target, job.x0, job.T, delta, tol, job.workers, job.say, job.client)
    solver_obj, grid, nfe_required = _choose_grid(job, solver, solver_obj, check, verifier, notes)
    checked = min(n, job.n_verify) if verifier is None else _affordable(job, verifier, notes)
    measurement = _measurement(strategy, job, solver_obj, check, verifier, checked)
    job.say(
        f"certify: {solver_obj.name} on {target!r}: {len(grid)} steps, NFE {solver_obj.nfe(grid, target)} per "
        f"particle, {n} particles, " + _expected_seconds(job, solver_obj, grid, verifier, checked)
    )
    result = job.run(solver_obj, grid)
    job.say(f"certify: sampling took {result.wall_time:.2f} s")
    measured = measurement.measure(result)
    accuracy = measured.verdict(eps)
    theorem_verdict, bound = _theorem_verdict(check, measured, result, notes, job, solver_obj)
    notes += _closing_notes(job, measured, accuracy, verifier)
    job.say(f"certify: accuracy {accuracy}" + (f"; verification took {verifier.seconds:.1f} s" if verifier else ""))
    return _certificate(job, solver_obj, check, measured, accuracy, theorem_verdict, bound, nfe_required, result, notes)


@dataclass
class _Job:
    """The validated inputs of one certify call, and how it runs and logs."""

    target: object
    eps: float
    score: object
    score_error: float | None
    n: int
    n_verify: int
    n_steps: int | None
    delta: float
    backend: str
    seed: int
    max_steps: int
    z: float
    confidence: float
    replicates: int
    pilot: int
    workers: int
    verify_seconds: float | None
    plan_seconds: float | None
    say: object
    progress: object
    T: float = 10.0
    init: str = "standard"
    x0: np.ndarray | None = None
    client: object = None
    steered: int = 0  # the first checked particles whose errors chose the step count (the tuning pilot)
    stopping: tuple | None = None  # (least, planned) checked particles when a time budget chose the count

    @classmethod
    def checked(cls, args: dict) -> _Job:
        """The job of :func:`certify`'s keyword arguments ``args``, each checked (ValueError naming a bad one)."""
        eps, z, confidence, score = args["eps"], args["z"], args["confidence"], args["score"]
        target = args["target"]
        if not (hasattr(target, "score") and hasattr(target, "dim") and hasattr(target, "law_at")):
            raise TypeError(
                f"target must be a certsample target (e.g. certsample.make_target('ring')), got {type(target).__name__}"
            )
        _positive("eps", eps)
        _positive("z", z)
        check_times(args["T"], args["delta"])
        if not (args["log"] is None or isinstance(args["log"], bool) or callable(args["log"])):
            raise TypeError(f"log must be True, False or a callable taking a message, got {type(args['log']).__name__}")
        check_confidence(confidence)
        for budget in ("verify_seconds", "plan_seconds"):
            if args[budget] is not None:
                _positive(budget, args[budget])
        if score is not None and not (callable(score) or isinstance(score, ScoreOracle)):
            raise TypeError(f"score must be a ScoreOracle or a callable, got {type(score).__name__}")
        log, n, n_steps = args["log"], check_int("n", args["n"], 1), args["n_steps"]
        return cls(
            target=args["target"],
            eps=float(eps),
            score=score,
            score_error=_score_error(score, args["score_error"], args["target"]),
            n=n,
            n_verify=_n_verify(n, args["n_verify"]),
            n_steps=None if n_steps is None else check_int("n_steps", n_steps, 1),
            delta=float(args["delta"]),
            backend=args["backend"],
            seed=args["seed"],
            max_steps=check_int("max_steps", args["max_steps"], 1),
            z=z,
            confidence=confidence,
            replicates=check_int("replicates", args["replicates"], 20),
            pilot=check_int("pilot", args["pilot"], 1),
            workers=check_int("workers", args["workers"], 1),
            verify_seconds=args["verify_seconds"],
            plan_seconds=args["plan_seconds"],
            say=_stderr_log if log is True else (log or (lambda message: None)),
            progress=args["progress"],
            client=args["client"],
        )

    @property
    def alpha(self) -> float:
        """The false-FAIL rate of statistical refutations, ``Phi(-z)``."""
        return 0.5 * math.erfc(self.z / math.sqrt(2))

    @property
    def backend_used(self) -> str:
        """A score of the user's runs on the NumPy backend; the exact score runs anywhere."""
        return self.backend if self.score is None else "numpy"

    def run(self, solver, grid, x0=None, progress=None):
        return sample(
            self.target if self.score is None else self.score,
            solver,
            grid=grid,
            x_init=self.x0 if x0 is None else x0,
            backend=self.backend_used,
            seed=self.seed,
            progress=self.progress if progress is None else progress,
            dim=self.target.dim,
        )


def _measurement(strategy, job, solver, check, verifier, checked):
    """The measurement object of ``strategy`` for this job."""
    if strategy is VerifiedEnclosures:
        return VerifiedEnclosures(
            verifier, checked, job.eps, job.confidence, steered=job.steered, stopping=job.stopping
        )
    if strategy is SampleStatistics:
        metric = check.theorem.metric if check.theorem is not None else "W2"
        return SampleStatistics(job.target, job.seed, metric, job.alpha, job.replicates)
    return strategy(solver, job.target)


def _choose_grid(job, solver_arg, solver, check, verifier, notes):
    """``(solver, grid, nfe_required)``: the steps given, the theorem's count, the solver's plan, or tuned."""
    theorem = check.theorem
    nfe_required = None
    # a planned solver passed as an instance is judged as it is (its own degree, sweeps...): no proved plan
    as_given = isinstance(solver, PlannedSolver) and not isinstance(solver_arg, str)
    if job.n_steps is None and isinstance(theorem, RunTheorem) and not as_given:
        try:
            with search_budget(job.plan_seconds):
                plan = theorem.run_plan(job.eps, job.target, job.T, job.delta, **solver.theorem_options())
            solver = type(solver)(**plan.solver_options) if plan.solver_options else solver
            notes.append(
                f"{len(plan.grid)} steps, NFE {plan.nfe}: the cheapest run found whose proved bound "
                f"({bound_text(plan.bound.value)}) is at most eps"
            )
            return solver, plan.grid, plan.nfe
        except OutsideTheoremRange as unreachable:
            if verifier is None and not isinstance(solver, PlannedSolver):
                raise
            notes.append(f"no proved plan: {unreachable}; the steps are chosen otherwise (below)")
            theorem = None
    if job.n_steps is None and theorem is not None and not isinstance(theorem, RunTheorem):
        try:
            nfe_required = nfe_for_accuracy(theorem, check.parameters, job.eps, job.max_steps * solver.evals_per_step)
        except BoundUnreachable as unreachable:
            if verifier is None:
                raise
            # the theorem cannot promise eps (a score error, say): the proved errors of a run decide instead
            notes.append(f"{unreachable}; the step count is tuned on proved errors instead")
            theorem = None
    # a theorem's count is for its uniform grid; a tuned count uses the library's default grid
    grid_kind = "uniform" if theorem is not None else "exponential"
    n_steps = job.n_steps
    if n_steps is None and isinstance(solver, PlannedSolver):
        plan = solver.plan(job.eps, job.target, job.T, job.delta)
        if isinstance(solver_arg, str):  # a solver instance passed in is judged as it is
            solver = plan.solver
        notes.append("plan from eps: " + ", ".join(f"{k} {v}" for k, v in plan.info.items()))
        return solver, plan.grid, nfe_required
    if n_steps is None and theorem is not None:
        n_steps = max(1, math.ceil(nfe_required / solver.evals_per_step))
    elif n_steps is None and verifier is not None:
        pilot = min(job.pilot, job.n, job.n_verify)
        n_steps, stalled = _tune_steps(job, solver, grid_kind, verifier, pilot)
        job.steered = pilot
        reason = check.reason or "the theorem's bound cannot reach eps"
        notes.append(
            f"no theorem sets the step count ({reason}); {n_steps} steps were tuned on the proved "
            f"errors of {pilot} pilot particles, which are among the checked ones (their errors count in the "
            "proved RMS, not in the confidence statements, which need particles independent of the step count)"
        )
        if stalled:
            notes.append(stalled)
    elif n_steps is None:
        raise HypothesisNotMet(
            None,
            f"cannot choose a step count for {solver.name!r} on {job.target!r}: "
            f"{check.reason}; pass n_steps= to certify a run of your choice",
        )
    if n_steps > job.max_steps:
        raise StepBudgetExceeded(n_steps, job.max_steps, job.eps)
    return solver, make_grid(grid_kind, job.T, job.delta, n_steps), nfe_required


def _n_verify(n, n_verify):
    n = check_int("n", n, 1)
    if n_verify is None:
        return n if n <= PROVE_ALL_UP_TO else 32
    return check_int("n_verify", n_verify, 1)


def _affordable(job, verifier, notes) -> int:
    """Particles to check: ``n_verify``, or as many as the budget covers, enclosed in order in batches of at
    most :data:`BUDGET_BATCH` while their times say the next batch fits (decided from timings only, never from
    errors). A count fixed from the first few enclosures' times left most of the budget unused: they include the
    pool's start and the pilot's single-process enclosures. Timings follow the start points (hard paths take longer),
    so the count is a stopping time of the draws: ``job.stopping`` records its range for the confidence statements
    (:class:`~certsample.confidence.StoppedCount`)."""
    m_verify = min(job.n, job.n_verify)
    if job.verify_seconds is None:
        return m_verify
    least = min(max(job.pilot, TIMING_SAMPLE), m_verify)
    if least < m_verify:
        job.stopping = (least, m_verify)
    verifier.ensure(least)
    while verifier.count < m_verify:
        per = verifier.seconds_per_enclosure()
        room = int((job.verify_seconds - verifier.seconds) / max(per, 1e-9))
        if room < 1:
            break
        if verifier.seconds + per * (m_verify - verifier.count) <= job.verify_seconds:
            room = m_verify - verifier.count  # the rest fits at the rate so far: one call, one pool
        verifier.ensure(min(m_verify, verifier.count + min(room, BUDGET_BATCH)), goal=m_verify)
    if verifier.count < m_verify:
        notes.append(
            f"{verifier.count} of n_verify={m_verify} particles checked: enclosures took "
            f"{verifier.seconds_per_enclosure():.2g} s each (the workers together) and verify_seconds="
            f"{job.verify_seconds:g} (raise it to check more)"
        )
    return verifier.count


#: the proved pilot error "stops falling" when a step count at least this many times larger keeps at least
#: this fraction of it (a discretisation error of order >= 1/2 would fall by a factor 1.4 or more)
STALL_GROWTH, STALL_KEPT = 2.0, 0.8


def _tune_steps(job, solver, grid_kind, verifier, pilot):
    """``(steps, stalled)``: grow the step count until the pilot particles' proved errors are below ``eps / 2``.

    When the proved lower bound of the pilot's RMS error exceeds ``eps`` and stops falling as the steps grow
    (:data:`STALL_GROWTH`, :data:`STALL_KEPT`), no step count reaches ``eps``: the tuning stops there and
    ``stalled`` says so, and the run at that count is measured (its verified FAIL is a proof).
    """
    steps, previous = 8, None
    order = max(0.5, float(solver.order()))
    while True:
        result = job.run(solver, make_grid(grid_kind, job.T, job.delta, steps))
        lower, upper = verifier.errors(result.samples, pilot)
        proved = np.isfinite(upper)  # a pilot particle its enclosure could not reach does not steer the tuning
        if not proved.any():
            raise CertifyError(
                f"none of the {pilot} pilot particles' exact trajectories could be enclosed (the float64 "
                "integrator stopped on each, and Arb is too slow for this model or failed too): no proved error to "
                "tune on; pass n_steps= to certify a run of your choice"
            )
        worst = float(np.max(upper[proved]))
        floor = float(np.sqrt(np.mean(lower**2))) * (1 - 1e-12)  # proved lower bound of the pilot's RMS
        job.say(
            f"certify: pilot run with {steps} steps: largest proved error {bound_text(worst)} "
            f"(target {job.eps / 2:.3g})"
        )
        if worst <= job.eps / 2:
            return steps, ""
        if previous and floor > job.eps and steps >= STALL_GROWTH * previous[0] and floor >= STALL_KEPT * previous[1]:
            return steps, (
                f"the proved error stops falling near {bound_text(floor, upward=False)} (pilot RMS at least "
                f"{bound_text(previous[1], upward=False)} with {previous[0]} steps, "
                f"{bound_text(floor, upward=False)} with {steps}): the score, not the step count, "
                f"limits this run"
            )
        previous = (steps, floor)
        factor = min(16.0, max(1.5, (worst / (job.eps / 2)) ** (1 / order) * 1.2))
        steps = math.ceil(steps * factor)
        if steps > job.max_steps:
            raise StepBudgetExceeded(steps, job.max_steps, job.eps, "tuned on the pilot particles' proved errors")


def _theorem_verdict(check, measured, result, notes, job, solver):
    """``(verdict, bound)`` of the run against its theorem at the NFE used (a run theorem: on the run's grid).

    A bound that holds for every start of a stated set (metric ``pathwise``) is judged particle by particle on the
    checked starts inside the set: ``FAIL`` is then proved (a covered start's proved lower error exceeds it). A bound
    on a mean square (over the law or the random midpoints) is judged on the checked particles' RMS: ``PASS`` when
    its proved upper bound is within, and an RMS above it is evidence, not a proof, so ``INCONCLUSIVE``. A run
    outside the theorem's range (a step too long for its hypotheses) is ``NOT APPLICABLE``, the certificate kept.
    """
    theorem = check.theorem
    if theorem is None:
        return f"NOT APPLICABLE: {check.reason}", None
    covered = None
    try:
        if isinstance(theorem, RunTheorem):
            proved = theorem.run_bound(job.target, result.grid, **solver.theorem_options())
            covered = _inside_start_set(proved, job.x0[: measured.checked]) if measured.checked else None
            if covered is not None and not covered.all():
                notes.append(
                    f"{int(np.sum(~covered))} of the {measured.checked} checked starts lie outside the theorem's "
                    "start set (its q_T-mass is at least 1 - eta): the bound does not cover them, and the verdict "
                    "leaves them out"
                )
            bound = float(proved.value)
        else:
            steps = np.asarray(result.grid.steps)
            if not np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
                return (
                    f"NOT APPLICABLE: {theorem.name}'s bound is for N uniform steps, and this run's steps (tuned on "
                    "proved errors) are not uniform",
                    None,
                )
            bound = theorem.error_bound(N=int(result.nfe), **check.parameters)
    except OutsideTheoremRange as outside:
        return f"NOT APPLICABLE: {outside}", None
    if measured.kind == "verified" and not (theorem.metric == "W2" or theorem.metric.startswith("pathwise")):
        verdict = f"INCONCLUSIVE: a pathwise (W2) measurement neither confirms nor refutes a {theorem.metric} bound"
    elif measured.kind == "verified" and theorem.metric == "pathwise" and measured.per_particle is not None:
        verdict = _uniform_verdict(measured, covered, bound)
    else:
        verdict = measured.verdict(bound)
        if measured.kind == "verified" and verdict == "FAIL":
            verdict = (
                "INCONCLUSIVE: the checked particles' RMS error is proved above the bound, but the bound is on a mean "
                f"square ({theorem.metric}), which a sample can exceed by chance: evidence against it, not a proof"
            )
    if not theorem.certified:
        verdict += " (placeholder constants: not a proof about the paper's theorem)"
        notes.append("the paper hides this bound's constants: the bound uses stated placeholders")
    return verdict, bound


def _uniform_verdict(measured, covered, bound) -> str:
    """A bound on every start's pathwise error, against the proved errors of the checked starts it covers."""
    inside = np.ones(measured.checked, dtype=bool) if covered is None else covered
    if not inside.any():
        return "INCONCLUSIVE: none of the checked starts lies in the theorem's start set"
    upper, lower = measured.per_particle[inside], measured.per_particle_lower[inside]
    if np.max(upper) <= bound:
        return "PASS"
    return "FAIL" if np.max(lower) > bound else "INCONCLUSIVE"


def _inside_start_set(proved, starts):
    """Which of ``starts`` lie in the proved bound's start set (``None`` when it states none)."""
    start_set = getattr(proved, "start_set", None)
    if start_set is None or not hasattr(start_set, "contains"):
        return None
    return np.asarray(start_set.contains(np.atleast_2d(starts)), dtype=bool)


def _closing_notes(job, measured, accuracy, verifier) -> list:
    notes = []
    if measured.kind == "lower" and accuracy == "INCONCLUSIVE":
        notes.append("a lower-bound statistic below the threshold cannot confirm it, only fail to refute it")
    unproved = 0 if verifier is None else verifier.unproved(measured.checked)
    if unproved:
        notes.append(
            f"{unproved} of the {measured.checked} checked particles could not be enclosed (the float64 integrator "
            "stopped, and Arb is too slow for this model or failed too): their errors are unbounded above, so no "
            "upper bound holds for the run (a proved lower bound still does)"
        )
    elif verifier is not None and measured.checked == job.n:
        notes.append(
            f"every one of the {job.n} output samples lies within its proved error of the exact flow image "
            "of its exact q_T start; those images are an i.i.d. sample of q_delta, so the run is coupled to "
            f"it with a proved W-infinity distance of at most {bound_text(float(np.max(measured.per_particle)))}"
        )
    if verifier is not None:
        target = job.target
        w0 = math.exp(-job.T) * (
            math.sqrt(float(np.trace(target.covariance()) + target.mean() @ target.mean())) + math.sqrt(target.dim)
        )
        notes.append(
            f"a run started from N(0, I) instead of q_T adds the initialisation error: "
            f"W2(q_T, N(0, I)) <= e^-T W2(q_0, N(0, I)) <= {bound_text(w0, 2)}, carried by the flow"
        )
    return notes


def _certificate(job, solver, check, measured, accuracy, theorem_verdict, bound, nfe_required, result, notes):
    theorem = check.theorem
    return Certificate(
        accuracy_verdict=accuracy,
        theorem_verdict=theorem_verdict,
        eps=job.eps,
        measured=float(measured.value),
        measured_lower=float(measured.lower),
        uncertainty=float(measured.uncertainty),
        floor=float(measured.floor),
        measurement=measured.how,
        measurement_kind=measured.kind,
        reference=measured.reference,
        particles_checked=measured.checked,
        population=measured.population,
        theorem=None if theorem is None else theorem.name,
        theorem_reference="" if theorem is None else theorem.reference,
        metric="" if theorem is None else theorem.metric,
        certified_constants=bool(theorem is not None and theorem.certified),
        assumptions=[] if theorem is None else list(theorem.assumptions),
        inputs={
            "target": repr(job.target),
            "solver": solver.name,
            "eps": job.eps,
            "n": job.n,
            "seed": job.seed,
            "backend": job.backend_used,
            "T": job.T,
            "delta": job.delta,
            "n_steps": len(result.grid),
            "score_error": job.score_error,
            "init": job.init,
            "z": job.z,
            "confidence": job.confidence,
        },
        parameters={k: float(v) for k, v in check.parameters.items()},
        nfe_required=nfe_required,
        bound=None if bound is None else float(bound),
        nfe=int(result.nfe),
        rounds=int(result.rounds),
        wall_time_s=float(result.wall_time),
        notes=notes,
    )


def _expected_seconds(job, solver, grid, verifier, checked):
    """The cost estimate printed before the run: the whole grid for a few particles, scaled up (the grid is
    not cut short: a solver's schedule, such as per-window sweeps, belongs to its grid). Where that takes under
    :data:`QUICK_PROBE` seconds, the cost of a call dominates it, which scaling counts once per few particles: it
    is run again with :data:`PROBE_PARTICLES` and scaled from there (still an upper estimate)."""
    n = len(job.x0)
    few = min(n, 16)
    probe = job.run(solver, grid, x0=job.x0[:few], progress=False)
    if probe.wall_time < QUICK_PROBE and n > few:
        few = min(n, PROBE_PARTICLES)
        probe = job.run(solver, grid, x0=job.x0[:few], progress=False)
    sampling = probe.wall_time / few * n
    text = f"expected about {sampling:.1f} s of sampling"
    if verifier is not None:
        done = verifier.count
        if done >= checked:
            text += f"; the {checked} enclosures are done ({verifier.seconds:.1f} s)"
        elif done:
            text += f" and {verifier.seconds_per_enclosure() * (checked - done):.0f} s of enclosures"
        else:
            text += f"; {checked} enclosures ({job.workers} processes) timed as they finish"
    return text


def _score_error(score, declared, target):
    """The score's L2 error against ``target``'s exact score: declared, 0 for the exact score, a
    :class:`PerturbedOracle`'s ``error_l2`` when its base is ``target`` itself, else unknown (None)."""
    if declared is not None:
        if not (is_real(declared) and math.isfinite(declared) and declared >= 0):
            raise ValueError(f"score_error must be a finite number >= 0, got {declared!r}")
        return float(declared)
    if score is None:
        return 0.0
    if isinstance(score, PerturbedOracle) and score.base_target is target:
        return score.error_l2
    return None


def _perturbs_target(score, target) -> bool:
    """Whether ``score`` is a :class:`PerturbedOracle` of ``target`` itself: a fixed bias plus fresh noise leave the
    score's Jacobian that of the exact score, so the hypotheses a theorem asks of the score used hold as they do for
    the exact one."""
    return isinstance(score, PerturbedOracle) and score.base_target is target


def _stderr_log(message):
    print(message, file=sys.stderr, flush=True)


def _positive(name, value):
    ok = is_real(value) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
