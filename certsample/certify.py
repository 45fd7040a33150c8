"""Certified sampling runs: choose the step count from a theorem, run, measure, and compare.

:func:`certify` takes a target, a solver and an accuracy ``eps``; it

1. reads the theorem that covers the solver (:data:`SOLVER_THEOREMS`, from the ``proofs`` package)
   and derives the theorem's parameters from the target (dimension, score Lipschitz constant over
   ``[delta, T]``, strong log-concavity, initial W2 distance, score error, ...);
2. takes the step count the theorem asks for at accuracy ``eps`` (rigorous interval ceiling);
3. runs the sampler and measures its error with an exact reference;
4. evaluates the theorem's error bound at the step count actually used, and compares.

The verdict is honest about what was measured. A measurement is one of three kinds:

* ``exact`` -- the metric itself, with no Monte-Carlo error (e.g. the exact Gaussian output law of a
  linear scheme);
* ``upper`` -- an estimate of an upper bound of the metric (pathwise RMS error of a coupling);
* ``lower`` -- an estimate of a lower bound of the metric (moment-matched Gaussians, sliced W2, binned
  TV).

``FAIL`` means the measured error exceeds the bound beyond ``z`` standard errors (and beyond the
statistical floor), whatever the kind, because even a lower bound above the theorem's bound refutes it.
``PASS`` needs an ``exact`` or ``upper`` measurement at most the bound after adding ``z`` standard
errors. Everything else is ``INCONCLUSIVE``. A bound whose constants the paper hides is marked
``certified_constants = False``: its verdict tests a stated placeholder, not a proved constant.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .exact import gaussian_flow_map, linear_scheme_law
from .forward import alpha as fwd_alpha
from .forward import sigma2 as fwd_sigma2
from .forward import uniform_grid
from .integrate import initial_particles, sample
from .metrics import gaussian_w2, sliced_w2
from .oracle import PerturbedOracle
from .solvers import get_solver
from .solvers.collocation import collocation_plan

__all__ = ["Certificate", "certify", "SOLVER_THEOREMS", "theorem_parameters"]

#: which theorem covers which solver
SOLVER_THEOREMS = {
    "exponential-ode": "pf_ode_ei_w2",
    "exponential-sde": "sde_ei_w2",
    "euler-maruyama": "sde_em_w2",
    "randomized-midpoint": "gupta_cai_chen",
    "predictor-corrector": "gupta_cai_chen",
    "parallel-midpoint": "gupta_cai_chen_parallel",
    "collocation": "collocation",
}
LINEAR_SCHEMES = ("exponential-ode", "exponential-sde", "euler-maruyama")
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
_ROUND_UP = 1 + 1e-12  # parameters computed in floating point are nudged up before use in a bound


@dataclass
class Certificate:
    """Everything a reader needs to check a certified run; JSON-serialisable via :meth:`to_json`."""

    theorem: str
    reference: str
    metric: str
    certified_constants: bool
    assumptions: list
    inputs: dict
    parameters: dict
    steps_required: int
    bound: float
    measured: float
    uncertainty: float
    floor: float
    measurement: str
    measurement_kind: str
    nfe: int
    rounds: int
    wall_time_s: float
    verdict: str
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str) -> str:
        with open(path, "w") as fh:
            fh.write(self.to_json() + "\n")
        return path

    def __str__(self) -> str:
        lines = [
            f"verdict   {self.verdict}",
            f"theorem   {self.theorem} ({self.metric}; constants "
            f"{'proved' if self.certified_constants else 'placeholders, not proved'})",
            f"          {self.reference}",
            f"run       {self.inputs['solver']} on {self.inputs['target']}, eps={self.inputs['eps']:g}, "
            f"steps={self.inputs['n_steps']} (theorem asks {self.steps_required}), NFE={self.nfe}, "
            f"rounds={self.rounds}, {self.wall_time_s:.3f} s",
            f"bound     {self.bound:.6g}",
            f"measured  {self.measured:.6g} +- {self.uncertainty:.2g} (floor {self.floor:.2g}; "
            f"{self.measurement_kind}: {self.measurement})",
        ]
        lines += [f"note      {n}" for n in self.notes]
        return "\n".join(lines)


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
def _verdict(bound, measured, uncertainty, floor, kind, z):
    if measured - z * uncertainty - floor > bound:
        return "FAIL"
    if kind in ("exact", "upper") and measured + z * uncertainty <= bound:
        return "PASS"
    return "INCONCLUSIVE"


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
    return w2, 0.0, 0.0, "W2 between the exact Gaussian output law of the scheme and q_delta", "exact"


def _reference_flow(target, x0, grid, backend):
    """The exact probability-flow map from ``x0`` (closed form for Gaussians) and its own error bound."""
    if target.is_gaussian:
        return gaussian_flow_map(target, x0, grid.T, grid.delta), 0.0, "the exact probability-flow map"
    # otherwise a collocation run planned for 1e-13: measured errors of such plans sit far below eps
    ref_eps = 1e-13
    plan = collocation_plan(ref_eps, target, T=grid.T, delta=grid.delta)
    ref = sample(target, plan.solver(), grid=plan.grid, x_init=x0, backend=backend, progress=False)
    return ref.samples, ref_eps, f"a collocation reference planned for pathwise error {ref_eps:g}"


def _measure_pathwise(result, target, x0, grid, backend):
    ref, ref_err, what = _reference_flow(target, x0, grid, backend)
    sq = np.sum((result.samples - ref) ** 2, axis=1)
    rms = math.sqrt(sq.mean())
    se = sq.std(ddof=1) / math.sqrt(len(sq)) / (2 * rms) if rms > 0 else 0.0
    return (rms, se + ref_err, 0.0, f"RMS pathwise error against {what}, from exact q_T starts "
            "(a coupling: upper bound of W2; uncertainty includes the reference's error)", "upper")


def _measure_samples(result, target, grid, seed, metric):
    x = result.samples
    law = target.law_at(grid.delta)
    twin = law.sample(len(x), np.random.default_rng([seed, 7]))
    ref = law.sample(len(x), np.random.default_rng([seed, 8]))
    if metric == "W2" and law.is_gaussian:
        def stat(s):
            return gaussian_w2(s.mean(0), np.atleast_2d(np.cov(s.T)), law.mean(), law.covariance())

        rng = np.random.default_rng([seed, 9])
        boot = [stat(x[rng.integers(0, len(x), len(x))]) for _ in range(40)]
        return (stat(x), float(np.std(boot, ddof=1)), stat(twin), "W2 between moment-matched Gaussians "
                "(Gelbrich: a lower bound of W2), bootstrap standard error", "lower")
    if metric == "W2":
        return (sliced_w2(x, ref, seed=seed), 0.0, sliced_w2(twin, ref, seed=seed),
                "sliced W2 against exact samples (a lower bound of W2)", "lower")
    if metric == "TV" and law.dim <= 2 and law.is_diagonal:
        from .evaluate import sample_errors

        errs = sample_errors(target, x, grid.delta, seed=seed)
        return (errs["tv_hist"], 0.0, errs["tv_hist_floor"], "TV between the sample histogram and exact bin "
                "probabilities (a lower bound of TV)", "lower")
    return (math.nan, math.nan, math.nan, f"no {metric} estimator for this target", "none")


# ---------------------------------------------------------------------- certify
def _score_error(score, declared):
    if declared is not None:
        if not (math.isfinite(declared) and declared >= 0):
            raise ValueError(f"score_error must be a finite number >= 0, got {declared!r}")
        return float(declared)
    if score is None:
        return 0.0
    if isinstance(score, PerturbedOracle):
        return score.error_l2
    raise ValueError("a user-supplied score needs score_error= (its L2 error, the theorems' eps_s)")


def certify(target, solver="exponential-ode", eps: float = 0.05, *, score=None, score_error=None,
            n: int = 4000, T: float | None = None, delta: float = 1e-2, backend: str = "numpy",
            seed: int = 0, max_steps: int = 200_000, z: float = 3.0, progress=False) -> Certificate:
    """Run ``solver`` on ``target`` with the step count a theorem asks for at accuracy ``eps``.

    Parameters
    ----------
    target : MixtureTarget
        The exact target: the reference the error is measured against.
    solver : str
        A solver covered by :data:`SOLVER_THEOREMS`.
    eps : float
        Target accuracy (> 0) in the theorem's metric.
    score : ScoreOracle or callable, optional
        The score the sampler uses (default: the target's exact score). A callable ``f(x, t)`` or a
        non-perturbed oracle needs ``score_error``.
    score_error : float, optional
        Declared L2 score error (the theorems' ``eps_s``); defaults to 0 for the exact score and to
        ``error_l2`` for a :class:`~certsample.oracle.PerturbedOracle`.
    n : int
        Particles for sample-based measurements.
    T, delta : float
        Horizon (default: ``e^{-T} W2(q_0, N(0, I)) <= eps / 4`` when the theorem has ``W0``, else 10)
        and early-stopping time.
    max_steps : int
        Refuse to run when the theorem asks for more steps than this.
    z : float
        Standard errors used by the verdict.

    Returns
    -------
    Certificate
    """
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    solver_obj = get_solver(solver)
    try:
        theorem_name = SOLVER_THEOREMS[solver_obj.name]
    except KeyError:
        raise ValueError(f"no theorem covers solver {solver_obj.name!r}; certify supports "
                         f"{sorted(SOLVER_THEOREMS)}") from None
    import proofs

    theorem = proofs.get(theorem_name)
    eps_s = _score_error(score, score_error)
    if T is None:
        w0 = gaussian_w2(target.mean(), target.covariance(), np.zeros(target.dim), np.eye(target.dim))
        T = max(2.0, math.log(4 * max(w0, 1.0) / eps)) if "W0" in theorem.symbols else 10.0
    params, notes = theorem_parameters(theorem, target, T, delta, eps_s)
    required = theorem.step_count(eps=eps, **params)
    if solver_obj.name == "collocation":
        # windows from the Picard contraction condition, degree and sweeps from log(1/eps)
        plan = collocation_plan(eps, target, T=T, delta=delta)
        solver_obj, grid = plan.solver(), plan.grid
        notes.append(f"collocation plan: {plan.windows} windows, degree {plan.degree}, {plan.sweeps} sweeps "
                     f"(contraction checked in every window); the theorem's own count is steps_required")
    else:
        n_steps = max(1, math.ceil(required / solver_obj.evals_per_step))
        if n_steps > max_steps:
            raise ValueError(f"theorem {theorem.name!r} asks for {n_steps} steps at eps={eps:g}, more than "
                             f"max_steps={max_steps}; raise eps or max_steps")
        grid = uniform_grid(T, delta, n_steps)
    exact_oracle = score is None
    deterministic = not getattr(solver_obj, "stochastic", True)
    if exact_oracle and target.is_gaussian and solver_obj.name in LINEAR_SCHEMES:
        method, init = "exact-law", "standard"
    elif deterministic and theorem.metric == "W2":
        method, init = "pathwise", "exact"
    else:
        method, init = "samples", "standard"
    x0 = initial_particles(n, target.dim, seed, T, target, init)
    # compiled backends need the built-in score; anything else runs the NumPy reference
    run_backend = backend if exact_oracle else "numpy"
    result = sample(target if exact_oracle else score, solver_obj, grid=grid, x_init=x0, backend=run_backend,
                    seed=seed, progress=progress, dim=target.dim)
    if method == "exact-law":
        measured = _measure_exact_law(solver_obj, target, grid)
    elif method == "pathwise":
        measured = _measure_pathwise(result, target, x0, grid, backend)
        if "W0" in params:
            params["W0"] = 0.0
            notes.append("started from the exact q_T, so the initialisation term W0 is 0")
    else:
        measured = _measure_samples(result, target, grid, seed, theorem.metric)
    value, se, floor, how, kind = measured
    # every theorem's N counts score evaluations (one per step for the baselines)
    bound = theorem.error_bound(N=int(result.nfe), **params)
    verdict = _verdict(bound, value, se, floor, kind, z) if math.isfinite(value) else "INCONCLUSIVE"
    if not theorem.certified:
        notes.append("the paper hides this bound's constants: the bound uses stated placeholders")
    if kind == "lower" and verdict == "INCONCLUSIVE":
        notes.append("a lower-bound measurement below the bound cannot confirm it, only fail to refute it")
    return Certificate(
        theorem=theorem.name, reference=theorem.reference, metric=theorem.metric,
        certified_constants=bool(theorem.certified), assumptions=list(theorem.assumptions),
        inputs={"target": repr(target), "solver": solver_obj.name, "eps": eps, "n": n, "seed": seed,
                "backend": run_backend, "T": T, "delta": delta, "n_steps": len(grid), "score_error": eps_s,
                "init": init},
        parameters={k: float(v) for k, v in params.items()}, steps_required=int(required),
        bound=float(bound), measured=float(value), uncertainty=float(se), floor=float(floor),
        measurement=how, measurement_kind=kind, nfe=int(result.nfe), rounds=int(result.rounds),
        wall_time_s=float(result.wall_time), verdict=verdict, notes=notes)
