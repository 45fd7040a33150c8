"""Certified sampling runs: how accurate was this run, proved where it can be, and what the theorem said.

:func:`certify` takes a target, a solver and an accuracy ``eps`` and returns a :class:`Certificate`
with two verdicts.

``accuracy_verdict`` -- is this run's error below ``eps``?
    *ODE solvers* (exponential-ode, randomized-midpoint, parallel-midpoint, collocation) start from
    exact ``q_T`` samples; for each checked particle the exact probability-flow image of its start
    point is enclosed in a ball proved with Arb ball arithmetic (:mod:`certsample.enclosure`), so its
    pathwise error ``|x_solver - x_exact|`` lies in ``[|x - c| - r, |x - c| + r]`` -- a proof, and a
    reference independent of every solver here (it shares no code with them). The accuracy metric
    is the RMS pathwise error of a coupling (an upper bound of ``W2``). ``PASS`` (verified): its
    proved upper bound over the checked particles is at most ``eps``; ``FAIL`` (verified): its proved
    lower bound exceeds ``eps``. For the sampler's law the certificate adds distribution-free
    statements at level ``confidence``: an exact (Clopper-Pearson) upper bound of the fraction of
    trajectories whose error exceeds ``eps``, and an empirical-Bernstein upper bound of
    ``E min(e^2, (4 eps)^2)`` (a bound of an unbounded mean cannot be distribution-free).

    *Gaussian targets with a linear scheme* are judged on the exact Gaussian output law
    (``exact``). *Everything else* (SDE solvers on mixtures) is judged on sample statistics that
    are lower bounds of the metric (moment-matched Gaussians, sliced W2, binned TV): they can refute
    but never confirm, so the verdict is ``FAIL`` or ``INCONCLUSIVE``. A refutation is a test:
    ``FAIL`` when the statistic exceeds the threshold by more than the ``(1 - alpha)`` quantile of
    the same statistic on exact samples (Monte-Carlo replicates of the floor), ``alpha = Phi(-z)``;
    by the triangle inequality that quantile dominates the statistic's excess under the null, up
    to the gap between the run's law and its coupled exact twin, so the false-FAIL rate is about
    ``alpha`` (checked over many seeds in the tests).

``theorem_verdict`` -- the run against the error bound of the theorem covering the solver, at the
    NFE actually used (``PASS``/``FAIL``/``INCONCLUSIVE``, or ``NOT APPLICABLE`` naming the
    hypothesis the target or solver fails). Bounds whose constants the paper hides are flagged
    ``certified_constants = False``.

Step counts. When a theorem applies, ``nfe_required`` is the smallest evaluation count at which
its rigorous error bound is at most ``eps`` (so the bound at the count used never exceeds
``eps``). Otherwise an ODE solver's step count is tuned on the proved errors of the first
``pilot`` checked particles (doubling until they are below ``eps / 2``); an SDE solver needs
``n_steps``.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .confidence import check_confidence, clopper_pearson_upper, empirical_bernstein_upper
from .enclosure import enclose_flow
from .exact import linear_scheme_law
from .forward import alpha as fwd_alpha
from .forward import sigma2 as fwd_sigma2
from .forward import make_grid
from .integrate import initial_particles, sample
from .metrics import gaussian_w2, sliced_w2
from .oracle import PerturbedOracle, ScoreOracle
from .solvers import get_solver
from .solvers.collocation import collocation_plan
from .validation import check_int

__all__ = ["Certificate", "certify", "SOLVER_THEOREMS", "theorem_parameters"]

#: which theorem covers which solver (None: no theorem in ``proofs`` covers it, with the reason)
SOLVER_THEOREMS = {
    "exponential-ode": "pf_ode_ei_w2",
    "exponential-sde": "sde_ei_w2",
    "euler-maruyama": "sde_em_w2",
    "randomized-midpoint": None,
    "parallel-midpoint": None,
    "predictor-corrector": "gupta_cai_chen",
    "parallel-predictor-corrector": "gupta_cai_chen_parallel",
    "collocation": "collocation",
}
UNCOVERED = {
    "randomized-midpoint": "Gupta-Cai-Chen's bounds are for the predictor followed by a corrector; no theorem "
                           "here covers the predictor alone",
    "parallel-midpoint": "Gupta-Cai-Chen's parallel bound needs the parallel corrector; no theorem here covers "
                         "the predictor alone",
}
LINEAR_SCHEMES = ("exponential-ode", "exponential-sde", "euler-maruyama")
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
_ROUND_UP = 1 + 1e-12  # parameters computed in floating point are nudged up before use in a bound
TAIL_FACTOR = 4.0  # the empirical-Bernstein statement clips squared errors at (TAIL_FACTOR eps)^2


@dataclass
class Certificate:
    """Everything a reader needs to check a certified run; JSON-serialisable via :meth:`to_json`."""

    accuracy_verdict: str
    theorem_verdict: str
    eps: float
    measured: float
    measured_lower: float
    uncertainty: float
    floor: float
    measurement: str
    measurement_kind: str
    reference: str
    particles_checked: int
    population: dict
    theorem: str | None
    theorem_reference: str
    metric: str
    certified_constants: bool
    assumptions: list
    inputs: dict
    parameters: dict
    nfe_required: int | None
    bound: float | None
    nfe: int
    rounds: int
    wall_time_s: float
    notes: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The accuracy verdict (what the exit code of ``certsample certify`` reports)."""
        return self.accuracy_verdict

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str) -> str:
        with open(path, "w") as fh:
            fh.write(self.to_json() + "\n")
        return path

    def __str__(self) -> str:
        inp = self.inputs
        lines = [
            f"accuracy  {self.accuracy_verdict} ({self.measurement_kind}): error "
            f"{_fmt_range(self.measured_lower, self.measured)} against eps={self.eps:g}",
            f"          {self.measurement}",
            f"          reference: {self.reference}",
        ]
        for key, value in self.population.items():
            lines.append(f"          {key}: {value}")
        if self.theorem is None:
            lines.append(f"theorem   {self.theorem_verdict}")
        else:
            lines.append(f"theorem   {self.theorem_verdict}: {self.theorem} ({self.metric}; constants "
                         f"{'proved' if self.certified_constants else 'placeholders, not proved'}), bound "
                         + (f"{self.bound:.6g} at NFE {self.nfe}" if self.bound is not None else "n/a"))
            lines.append(f"          {self.theorem_reference}")
        lines.append(f"run       {inp['solver']} on {inp['target']}, steps={inp['n_steps']}"
                     + (f" (theorem asks NFE {self.nfe_required})" if self.nfe_required else "")
                     + f", NFE={self.nfe}, rounds={self.rounds}, {self.wall_time_s:.3f} s")
        lines += [f"note      {n}" for n in self.notes]
        return "\n".join(lines)


def _fmt_range(lo, hi):
    if not math.isfinite(hi):
        return "not measured"
    if lo == hi or not math.isfinite(lo):
        return f"{hi:.6g}"
    return f"in [{lo:.3g}, {hi:.6g}] (proved)"


# ---------------------------------------------------------------------- theorem parameters
def _lipschitz_sup(target, t_lo: float, t_hi: float) -> tuple[float, str]:
    """``sup_{t in [t_lo, t_hi]}`` of the target's score Lipschitz bound, and how it was obtained."""
    if target.is_gaussian:
        # each eigen-variance a^2 lam + sigma^2 moves monotonically in t: the sup is at an end
        return max(target.score_lipschitz(t_lo), target.score_lipschitz(t_hi)), "exact (endpoints)"
    times = np.concatenate([np.geomspace(t_lo, t_hi, 400), [t_lo, t_hi]])
    return max(target.score_lipschitz(float(t)) for t in times), "maximum over 402 times (not rigorous)"


def _strong_log_concavity(target):
    """``alpha`` with ``-Hess log q_0 >= alpha I``, or None when there is none (not a positive Gaussian)."""
    if not target.is_gaussian:
        return None
    lam = target.variances[0]
    if target.basis is not None and target.dim > target.basis.shape[1]:
        lam = np.append(lam, target.lam_perp)
    return 1.0 / float(np.max(lam)) if np.min(lam) > 0 else None


def _isotropic_noise_level(target):
    """``v`` when every component is ``N(mu_c, v I)`` (v = 0: point cloud), else None."""
    v = target.variances
    if not np.allclose(v, v.flat[0]):
        return None
    if target.basis is not None and target.dim > target.basis.shape[1] and not np.isclose(target.lam_perp, v.flat[0]):
        return None
    return float(v.flat[0])


def theorem_parameters(theorem, target, T: float, delta: float, score_error: float) -> tuple[dict, list]:
    """Values of ``theorem``'s parameters (all but ``N`` and ``eps``) for this target and horizon.

    Returns the values and a list of notes on how they were obtained. Raises ``ValueError`` naming
    the hypothesis when the target does not meet the theorem's assumptions.
    """
    wanted = set(theorem.symbols) - {"N", "eps"}
    notes = []
    mean, cov = target.mean(), target.covariance()
    m2 = float(np.trace(cov) + mean @ mean)
    values = {"d": target.dim, "T": T, "delta": delta, "eps_s": score_error, "m2": m2 * _ROUND_UP}
    if "L" in wanted:
        lip, how = _lipschitz_sup(target, delta, T)
        values["L"] = lip * _ROUND_UP
        notes.append(f"L = sup of the score's Lipschitz bound over [delta, T]: {how}")
    if wanted & {"alpha", "M", "W0"}:
        alpha = _strong_log_concavity(target)
        if alpha is None:
            raise ValueError(f"theorem {theorem.name!r} assumes strongly log-concave data (a Gaussian with "
                             f"positive variances); {target!r} is not")
        values["alpha"] = alpha / _ROUND_UP
        values["M"] = 0.0  # the Hessian of log q_t is constant for Gaussians
        values["W0"] = gaussian_w2(mean, cov, np.zeros(target.dim), np.eye(target.dim)) * _ROUND_UP
    if wanted & {"R", "sigma"}:
        v = _isotropic_noise_level(target)
        if v is None or not np.isfinite(target.means).all():
            raise ValueError(f"theorem {theorem.name!r} needs data mu * N(0, v I) (a point cloud or a mixture "
                             f"with equal isotropic variances); {target!r} is not")
        a, s2 = float(fwd_alpha(delta)), float(fwd_sigma2(delta))
        # the sampler's law at delta is (a mu) * N(0, a^2 v + s^2): that is the theorem's q
        values["R"] = a * float(np.max(np.linalg.norm(target.means, axis=1))) * _ROUND_UP
        values["sigma"] = math.sqrt(a * a * v + s2) / _ROUND_UP
        notes.append("R, sigma describe q_delta = (a mu) * N(0, a^2 v + sigma_delta^2)")
        if values["R"] == 0:
            values["R"] = np.nextafter(0.0, 1.0)
    missing = wanted - set(values)
    if missing:
        raise ValueError(f"theorem {theorem.name!r} needs parameters {sorted(missing)} that certify cannot "
                         "derive from this target")
    return {k: values[k] for k in sorted(wanted)}, notes


# ---------------------------------------------------------------------- measurement
@dataclass
class _Measurement:
    value: float  # the estimate, or the proved upper bound
    lower: float  # proved lower bound (verified), else the estimate
    uncertainty: float
    floor: float
    how: str
    kind: str  # 'verified', 'exact', 'lower' or 'none'
    reference: str
    checked: int = 0
    population: dict = field(default_factory=dict)
    null_quantile: float = 0.0  # statistical kinds: (1 - alpha) quantile of the statistic on exact samples
    per_particle: np.ndarray | None = None


def _verdict(m: _Measurement, threshold: float) -> str:
    """``PASS``/``FAIL``/``INCONCLUSIVE`` of a measurement against ``threshold`` (see module docstring)."""
    if not math.isfinite(m.value):
        return "INCONCLUSIVE"
    if m.kind == "verified":
        if m.value <= threshold:
            return "PASS"
        return "FAIL" if m.lower > threshold else "INCONCLUSIVE"
    if m.kind == "exact":
        if m.value > threshold * (1 + 1e-9) + 1e-15:
            return "FAIL"
        return "PASS" if m.value <= threshold * (1 - 1e-9) - 1e-15 else "INCONCLUSIVE"
    # a lower-bound statistic: refute only beyond the null distribution's (1 - alpha) quantile
    return "FAIL" if m.value > threshold + m.null_quantile else "INCONCLUSIVE"


def _rotated_diagonal_twin(target):
    """The same Gaussian expressed in its eigenbasis (W2 and the linear schemes are rotation-equivariant)."""
    from .targets import gaussian

    if target.basis is None:
        return target
    lam = target.variances[0]
    if target.dim > target.basis.shape[1]:
        lam = np.append(lam, np.full(target.dim - target.basis.shape[1], target.lam_perp))
    mean = np.zeros(target.dim)
    mean[:target.means.shape[1]] = target.means[0]
    return gaussian(mean, lam)


def _measure_exact_law(solver, target, grid):
    twin = _rotated_diagonal_twin(target)
    mean, var = linear_scheme_law(solver, twin, grid)
    law = twin.law_at(grid.delta)
    w2 = gaussian_w2(mean, var, law.means[0], law.variances[0])
    return _Measurement(w2, w2, 0.0, 0.0, "W2 between the exact Gaussian output law of the scheme and q_delta "
                        "(closed form, float64)", "exact", "the exact marginal q_delta (closed form)")


def _enclose_row(args):
    target, x0, T, delta, tol = args
    return enclose_flow(target, x0, T, delta, tol=tol)


class _Verifier:
    """Enclosures of the exact flow of start points, computed once and reused for every run."""

    def __init__(self, target, x0, T, delta, tol, workers, log):
        self.target, self.x0, self.T, self.delta, self.tol = target, x0, T, delta, tol
        self.workers, self.log = workers, log
        self.enclosures = []
        self.seconds = 0.0
        self._first = 0  # enclosures done before the current batch, for the time-left estimate

    def ensure(self, m: int):
        """Enclose the first ``m`` start points (in parallel processes when ``workers > 1``)."""
        todo = list(range(len(self.enclosures), m))
        if not todo:
            return
        start = time.perf_counter()
        self._first = len(self.enclosures)
        jobs = [(self.target, self.x0[i], self.T, self.delta, self.tol) for i in todo]
        if self.workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            # fork: the children run only Arb code, and a user's script needs no __main__ guard
            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork")) as pool:
                for enc in pool.map(_enclose_row, jobs):
                    self._add(enc, m, start)
        else:
            for job in jobs:
                self._add(_enclose_row(job), m, start)
        self.seconds += time.perf_counter() - start

    def _add(self, enc, m, start):
        self.enclosures.append(enc)
        done = len(self.enclosures)
        new = done - self._first
        elapsed = time.perf_counter() - start
        left = elapsed / new * (m - done)
        self.log(f"certify: enclosed {done}/{m} exact trajectories ({elapsed:.1f} s"
                 + (f", about {left:.0f} s left" if done < m else "") + ")")

    def errors(self, samples, m: int):
        """Proved ``(lower, upper)`` pathwise errors of the first ``m`` rows of ``samples``."""
        self.ensure(m)
        gap = np.linalg.norm(samples[:m] - np.array([e.center for e in self.enclosures[:m]]), axis=1)
        radius = np.array([e.radius for e in self.enclosures[:m]])
        # |x - c| -/+ r, each float operation rounded outward (as Enclosure.error_bound does)
        upper = np.nextafter(np.nextafter(gap, np.inf) + radius, np.inf)
        lower = np.maximum(0.0, np.nextafter(np.nextafter(gap, -np.inf) - radius, -np.inf))
        return lower, upper


def _measure_verified(verifier: _Verifier, samples, m: int, eps: float, confidence: float) -> _Measurement:
    lower, upper = verifier.errors(samples, m)
    # RMS of proved bounds, rounded outward (a few ulps cover the float64 sums)
    rms_up = float(np.sqrt(np.mean(upper ** 2))) * (1 + 1e-12)
    rms_lo = float(np.sqrt(np.mean(lower ** 2))) * (1 - 1e-12)
    exceed = int(np.sum(upper > eps))
    population = {
        "checked particles": m,
        "max proved error": float(np.max(upper)),
        f"fraction of trajectories with error > eps (upper bound, {confidence:.0%} confidence, Clopper-Pearson)":
            clopper_pearson_upper(exceed, m, confidence),
    }
    if m >= 2:
        cap = (TAIL_FACTOR * eps) ** 2
        ucb = empirical_bernstein_upper(list(np.minimum(upper ** 2, cap)), cap, confidence)
        population[f"sqrt E min(e^2, ({TAIL_FACTOR:g} eps)^2) (upper bound, {confidence:.0%} confidence, "
                   "empirical Bernstein)"] = math.sqrt(ucb)
    radius = max(e.radius for e in verifier.enclosures[:m])
    return _Measurement(
        rms_up, rms_lo, 0.0, 0.0,
        f"RMS pathwise error of {m} particles from exact q_T starts against the exact flow, each proved in "
        f"[|x - c| - r, |x - c| + r] (a coupling: an upper bound of W2; largest enclosure radius {radius:.2g})",
        "verified",
        "Arb ball-arithmetic enclosures of the exact probability-flow map (certsample.enclosure: closed form "
        "or a validated Taylor method; no code shared with the solver judged)",
        checked=m, population=population, per_particle=upper)


def _null_quantile(statistic, law, n, seed, alpha, replicates):
    """``(1 - alpha)`` quantile and mean of ``statistic(exact sample)`` over Monte-Carlo replicates."""
    values = np.array([statistic(law.sample(n, np.random.default_rng([seed, 100, r])))
                       for r in range(replicates)])
    return float(np.quantile(values, 1 - alpha)), float(values.mean()), float(values.std(ddof=1))


def _measure_samples(samples, target, grid, seed, metric, alpha, replicates) -> _Measurement:
    law = target.law_at(grid.delta)
    n = len(samples)
    ref = law.sample(n, np.random.default_rng([seed, 8]))
    if metric == "W2" and law.is_gaussian:
        def stat(s):
            return gaussian_w2(s.mean(0), np.atleast_2d(np.cov(s.T)), law.mean(), law.covariance())

        how = "W2 between moment-matched Gaussians (Gelbrich: a lower bound of W2)"
    elif metric == "W2":
        def stat(s):
            return sliced_w2(s, ref, seed=seed)

        how = "sliced W2 against exact samples (a lower bound of W2)"
    elif metric == "TV" and law.dim <= 2 and law.is_diagonal:
        from .evaluate import histogram_edges
        from .metrics import gaussian_mixture_bin_probability, tv_histogram

        edges = histogram_edges(law)
        grid_edges = edges[0] if law.dim == 1 else edges

        def exact(e):
            return gaussian_mixture_bin_probability(law.means, law.variances, law.weights, e)

        def stat(s):
            return tv_histogram(s, exact, grid_edges)

        how = "TV between the sample histogram and exact bin probabilities (a lower bound of TV)"
    else:
        return _Measurement(math.nan, math.nan, math.nan, math.nan, f"no {metric} estimator for this target",
                            "none", "none")
    value = float(stat(samples))
    q, floor, spread = _null_quantile(stat, law, n, seed, alpha, replicates)
    return _Measurement(
        value, value, spread, floor,
        f"{how}; refuted only above the threshold plus the {1 - alpha:.4f} quantile ({q:.3g}) of the same "
        f"statistic on {replicates} exact sample sets (false-FAIL rate about {alpha:.2g})",
        "lower", "exact samples of q_delta", null_quantile=q)


# ---------------------------------------------------------------------- certify
def _score_error(score, declared):
    if declared is not None:
        if not (isinstance(declared, (int, float)) and math.isfinite(declared) and declared >= 0):
            raise ValueError(f"score_error must be a finite number >= 0, got {declared!r}")
        return float(declared)
    if score is None:
        return 0.0
    if isinstance(score, PerturbedOracle):
        return score.error_l2
    return None


def _stderr_log(message):
    print(message, file=sys.stderr, flush=True)


def _positive(name, value):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _theorem_for(solver_obj, target, T, delta, eps_s):
    """``(theorem, parameters, notes, reason)``; ``reason`` says why none applies (theorem None)."""
    import proofs

    if solver_obj.name not in SOLVER_THEOREMS:
        return None, {}, [], f"no theorem in proofs/ covers solver {solver_obj.name!r}"
    name = SOLVER_THEOREMS[solver_obj.name]
    if name is None:
        return None, {}, [], UNCOVERED[solver_obj.name]
    theorem = proofs.get(name)
    if eps_s is None:
        return None, {}, [], (f"theorem {name!r} needs the score's L2 error; a user score without score_error= "
                              "is not covered")
    try:
        params, notes = theorem_parameters(theorem, target, T, delta, eps_s)
    except ValueError as err:
        return None, {}, [], str(err)
    return theorem, params, notes, ""


def _nfe_for_accuracy(theorem, params, eps, max_nfe):
    """Smallest ``N`` with ``theorem.error_bound(N) <= eps`` (rigorous bound; doubling then bisection)."""
    def ok(n):
        try:
            return theorem.error_bound(N=n, **params) <= eps
        except ValueError:
            return False

    hi = 1
    while not ok(hi):
        hi *= 2
        if hi > 4 * max_nfe:
            floor_value = theorem.error_bound(N=4 * max_nfe, **params)
            raise ValueError(f"theorem {theorem.name!r} gives an error bound of {floor_value:.3g} even at "
                             f"{4 * max_nfe} evaluations, above eps={eps:g}; raise eps (its N-independent part "
                             "comes from T, delta or the score error) or max_steps")
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def certify(target, solver="exponential-ode", eps: float = 0.05, *, score=None, score_error=None,
            n: int = 2000, n_verify: int = 32, n_steps: int | None = None, T: float | None = None,
            delta: float = 1e-2, backend: str = "numpy", seed: int = 0, max_steps: int = 200_000,
            z: float = 3.0, confidence: float = 0.95, replicates: int = 200, pilot: int = 8,
            workers: int = 2, verify_seconds: float | None = 40.0, log=True, progress=False) -> Certificate:
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
    n_verify : int
        ODE solvers: particles whose exact flow is enclosed and whose error is proved.
    n_steps : int, optional
        Steps to run (default: from the theorem, or tuned on proved errors for ODE solvers).
    T, delta : float
        Horizon (default: ``e^{-T} W2(q_0, N(0, I)) <= eps / 4`` when the theorem has ``W0``, else
        10) and early-stopping time.
    max_steps : int
        Refuse to run when more steps than this would be needed.
    z : float
        Statistical refutations use ``alpha = Phi(-z)`` (default 3: about 0.13%).
    confidence : float
        Level of the population statements, in (0, 1).
    replicates : int
        Monte-Carlo replicates of the null distribution of sample statistics.
    pilot : int
        ODE solvers without a theorem: particles whose proved errors tune the step count.
    workers : int
        Processes that compute enclosures.
    verify_seconds : float or None
        Time budget for the enclosures: fewer than ``n_verify`` particles (at least ``pilot``) are
        checked when the first ones show the budget cannot cover them all. The number is fixed from
        timings before any error is looked at. None: no budget.
    log : bool or callable
        Cost estimate and progress lines (default: to stderr, terminal or not).

    Returns
    -------
    Certificate
    """
    _positive("eps", eps)
    _positive("z", z)
    check_confidence(confidence)
    if verify_seconds is not None:
        _positive("verify_seconds", verify_seconds)

    n = check_int("n", n, 1)
    n_verify = check_int("n_verify", n_verify, 1)
    replicates = check_int("replicates", replicates, 20)
    workers = check_int("workers", workers, 1)
    pilot = check_int("pilot", pilot, 1)
    say = _stderr_log if log is True else (log or (lambda message: None))
    solver_obj = get_solver(solver)
    eps_s = _score_error(score, score_error)
    if score is not None and not (callable(score) or isinstance(score, ScoreOracle)):
        raise TypeError(f"score must be a ScoreOracle or a callable, got {type(score).__name__}")
    alpha_level = 0.5 * math.erfc(z / math.sqrt(2))
    verifiable = not getattr(solver_obj, "stochastic", True)
    if T is None:
        mean, cov = target.mean(), target.covariance()
        # W2(q_0, N(0, I)) <= sqrt(E|X|^2) + sqrt(d), exact for Gaussians with positive variances
        w0 = math.sqrt(float(np.trace(cov) + mean @ mean)) + math.sqrt(target.dim)
        if target.is_gaussian and np.min(target.variances) > 0:
            w0 = gaussian_w2(mean, cov, np.zeros(target.dim), np.eye(target.dim))
        T = 10.0
        probe = _theorem_for(solver_obj, target, 10.0, delta, eps_s)[0]
        if probe is not None and "W0" in probe.symbols:
            T = max(2.0, math.log(4 * max(w0, 1.0) / eps))
    theorem, params, notes, reason = _theorem_for(solver_obj, target, T, delta, eps_s)
    if verifiable and "W0" in params:
        params["W0"] = 0.0
        notes.append("started from the exact q_T, so the initialisation term W0 is 0")
    nfe_required = None
    plan = None
    grid = None
    if n_steps is None and theorem is not None:
        nfe_required = _nfe_for_accuracy(theorem, params, eps, max_steps * solver_obj.evals_per_step)
    if n_steps is not None:
        n_steps = check_int("n_steps", n_steps, 1)
    elif solver_obj.name == "collocation":
        # windows from the Picard contraction condition, degree and sweeps from log(1/eps)
        plan = collocation_plan(eps, target, T=T, delta=delta)
        grid = plan.grid
        if isinstance(solver, str):  # a solver instance passed in is judged as it is
            solver_obj = plan.solver()
        notes.append(f"collocation plan: {plan.windows} windows, degree {plan.degree}, {plan.sweeps} sweeps")
    elif theorem is not None:
        n_steps = max(1, math.ceil(nfe_required / solver_obj.evals_per_step))
    elif not verifiable:
        raise ValueError(f"cannot choose a step count for {solver_obj.name!r} on {target!r}: {reason}; pass "
                         "n_steps= to certify a run of your choice")
    if n_steps is not None and n_steps > max_steps:
        raise ValueError(f"{n_steps} steps are needed at eps={eps:g}, more than max_steps={max_steps}; raise eps "
                         "or max_steps")
    exact_oracle = score is None
    if exact_oracle and target.is_gaussian and solver_obj.name in LINEAR_SCHEMES and not verifiable:
        method, init = "exact-law", "standard"
    elif verifiable:
        method, init = "verified", "exact"
    else:
        method, init = "samples", "standard"
    x0 = initial_particles(n, target.dim, seed, T, target, init)
    run_backend = backend if exact_oracle else "numpy"
    m_verify = min(n, n_verify)

    # a theorem's count is for its uniform grid; a tuned count uses the library's default grid
    grid_kind = "uniform" if theorem is not None else "exponential"

    def run(run_grid):
        return sample(target if exact_oracle else score, solver_obj, grid=run_grid, x_init=x0,
                      backend=run_backend, seed=seed, progress=progress, dim=target.dim)

    verifier = None
    if method == "verified":
        tol = min(1e-6, eps * 1e-3)
        verifier = _Verifier(target, x0, T, delta, tol, workers, say)
        if n_steps is None and grid is None:
            n_steps = _tune_steps(lambda steps: run(make_grid(grid_kind, T, delta, steps)), verifier, solver_obj,
                                  eps, min(pilot, m_verify), max_steps, say)
            notes.append(f"no theorem sets the step count ({reason}); {n_steps} steps were tuned on the proved "
                         f"errors of {min(pilot, m_verify)} pilot particles, which are among the checked ones")
        if verify_seconds is not None:
            # how many to check is decided from the time of the first enclosures only, never from errors
            verifier.ensure(min(pilot, m_verify))
            per = verifier.seconds / len(verifier.enclosures)
            affordable = max(len(verifier.enclosures), int(verify_seconds / max(per, 1e-9)))
            if affordable < m_verify:
                notes.append(f"{affordable} of n_verify={m_verify} particles checked: enclosures took {per:.1f} s "
                             f"each and verify_seconds={verify_seconds:g} (raise it to check more)")
                m_verify = affordable
    final_grid = grid if grid is not None else make_grid(grid_kind, T, delta, n_steps)
    nfe_estimate = solver_obj.evals_per_step * len(final_grid)
    say(f"certify: {solver_obj.name} on {target!r}: {len(final_grid)} steps, NFE {nfe_estimate} per particle, "
        f"{n} particles, " + _expected_seconds(target if exact_oracle else score, solver_obj, x0, final_grid,
                                                run_backend, seed, verifier, m_verify, workers))
    result = run(final_grid)
    say(f"certify: sampling took {result.wall_time:.2f} s")
    if method == "exact-law":
        measured = _measure_exact_law(solver_obj, target, result.grid)
    elif method == "verified":
        measured = _measure_verified(verifier, result.samples, m_verify, eps, confidence)
    else:
        metric = theorem.metric if theorem is not None else "W2"
        measured = _measure_samples(result.samples, target, result.grid, seed, metric, alpha_level, replicates)
    accuracy = _verdict(measured, eps)
    if theorem is None:
        theorem_verdict = f"NOT APPLICABLE: {reason}"
        bound = None
    else:
        bound = theorem.error_bound(N=int(result.nfe), **params)
        if measured.kind == "verified" and theorem.metric != "W2":
            theorem_verdict = (f"INCONCLUSIVE: a pathwise (W2) measurement neither confirms nor refutes a "
                               f"{theorem.metric} bound")
        else:
            theorem_verdict = _verdict(measured, bound)
        if not theorem.certified:
            theorem_verdict += " (placeholder constants: not a proof about the paper's theorem)"
            notes.append("the paper hides this bound's constants: the bound uses stated placeholders")
    if measured.kind == "lower" and accuracy == "INCONCLUSIVE":
        notes.append("a lower-bound statistic below the threshold cannot confirm it, only fail to refute it")
    if method == "verified":
        w0_note = math.exp(-T) * (math.sqrt(float(np.trace(target.covariance()) + target.mean() @ target.mean()))
                                  + math.sqrt(target.dim))
        notes.append(f"a run started from N(0, I) instead of q_T adds the initialisation error: "
                     f"W2(q_T, N(0, I)) <= e^-T W2(q_0, N(0, I)) <= {w0_note:.2g}, carried by the flow")
    say(f"certify: accuracy {accuracy}; verification took {verifier.seconds:.1f} s" if verifier
        else f"certify: accuracy {accuracy}")
    return Certificate(
        accuracy_verdict=accuracy, theorem_verdict=theorem_verdict, eps=float(eps),
        measured=float(measured.value), measured_lower=float(measured.lower),
        uncertainty=float(measured.uncertainty), floor=float(measured.floor), measurement=measured.how,
        measurement_kind=measured.kind, reference=measured.reference, particles_checked=measured.checked,
        population=measured.population,
        theorem=None if theorem is None else theorem.name,
        theorem_reference="" if theorem is None else theorem.reference,
        metric="" if theorem is None else theorem.metric,
        certified_constants=bool(theorem is not None and theorem.certified),
        assumptions=[] if theorem is None else list(theorem.assumptions),
        inputs={"target": repr(target), "solver": solver_obj.name, "eps": eps, "n": n, "seed": seed,
                "backend": run_backend, "T": T, "delta": delta, "n_steps": len(result.grid),
                "score_error": eps_s, "init": init, "z": z, "confidence": confidence},
        parameters={k: float(v) for k, v in params.items()}, nfe_required=nfe_required,
        bound=None if bound is None else float(bound), nfe=int(result.nfe), rounds=int(result.rounds),
        wall_time_s=float(result.wall_time), notes=notes)


def _expected_seconds(score, solver_obj, x0, grid, backend, seed, verifier, m_verify, workers):
    """The cost estimate printed before the run: a few steps of a few particles, scaled up."""
    from .forward import TimeGrid

    steps = min(len(grid), 4)
    few = min(len(x0), 256)
    probe = sample(score, solver_obj, grid=TimeGrid(grid.times[:steps + 1]), x_init=x0[:few], backend=backend,
                   seed=seed, progress=False, dim=x0.shape[1])
    sampling = probe.wall_time / (few * steps) * len(x0) * len(grid)
    text = f"expected about {sampling:.1f} s of sampling"
    if verifier is not None:
        done = len(verifier.enclosures)
        if done:
            text += f" and {verifier.seconds / done * (m_verify - done):.0f} s of enclosures"
        else:
            text += f"; {m_verify} enclosures ({workers} processes) timed as they finish"
    return text


def _tune_steps(run, verifier, solver_obj, eps, pilot, max_steps, say):
    """Double the step count until the pilot particles' proved errors are below ``eps / 2``."""
    steps = 8
    order = max(0.5, float(solver_obj.order()))
    while True:
        result = run(steps)
        _, upper = verifier.errors(result.samples, pilot)
        worst = float(np.max(upper))
        say(f"certify: pilot run with {steps} steps: largest proved error {worst:.3g} (target {eps / 2:.3g})")
        if worst <= eps / 2:
            return steps
        factor = min(16.0, max(1.5, (worst / (eps / 2)) ** (1 / order) * 1.2))
        steps = math.ceil(steps * factor)
        if steps > max_steps:
            raise ValueError(f"more than max_steps={max_steps} steps would be needed for eps={eps:g}; raise eps "
                             "or max_steps")
