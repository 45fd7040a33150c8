"""Reproducing a theorem's scalings: measured exponents with confidence intervals next to the theory's.

``certsample reproduce THEOREM`` (or :func:`reproduce`) runs a sweep the theorem speaks about, fits the
exponent it predicts, and reports the smallest constant that makes the theorem's expression cover
every measured run (the theorems of :mod:`proofs` carry placeholder constants; their exponents are
what the papers guarantee).

Studies (every error is pathwise RMS against the exact flow from exact ``q_T`` starts, an upper
bound on W2 between the laws; TV is not measurable in high dimension, so for the TV theorems the
*shape* of the step count is what is compared):

``gupta_cai_chen``
    sequential randomized-midpoint evaluations for fixed error against ``d`` (Gaussians); theory
    ``d^{5/12}`` times its log factor.
``gupta_cai_chen_parallel``
    parallel-midpoint rounds (fewest over ``R = 2 .. 32`` midpoints, ``K = 1 .. 3`` sweeps) for fixed error against
    ``d``; theory ``log^2(e + d/eps)``: the fitted power of ``log(e + d/eps)``.
``randomized-midpoint``
    the randomized midpoint's pathwise error on the ring, run by run against its proved bound
    (``randomized_midpoint_ms``): the bound-to-error ratio of each run, and both slopes in the NFE.
``collocation``
    collocation from ``eps`` (windows, degree, sweeps chosen by :func:`~certsample.integrate.sample`)
    on the ring convolved with ``N(0, sigma^2 I_d)`` (``R = 4``, ``sigma = 0.5``): the power of
    ``u = log(e + 1/eps)`` in the evaluations (theory 2), and their slope in ``d`` (theory 0).

The fit is least squares on logs; the interval is the 95% Student-t interval of the slope.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from proofs.balls import bound_text

from .exact import gaussian_flow_map
from .integrate import initial_particles, sample
from .solvers import ParallelRandomizedMidpoint, RandomizedMidpoint
from .targets import embed, gaussian, ring_mixture
from .tuning import smallest_sufficient

__all__ = ["Reproduction", "reproduce", "STUDIES", "fit_power", "PathwiseProblem", "gaussian_target"]

T, DELTA = 2.0, 0.05  # Gaussian studies (as benchmarks/parallel_rounds.py)
PATH_EPS = 0.05


def fit_power(x, y, level: float = 0.95):
    """Slope of ``log y`` against ``log x`` with its ``level`` Student-t half-width: ``(slope, half)``.

    Least squares; the slope's standard error ``sqrt(RSS / (n - 2) / Sxx)`` times the Student-t quantile with
    ``n - 2`` degrees of freedom (:func:`student_t_quantile`)."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(lx) < 3:
        raise ValueError("a confidence interval needs at least 3 points")
    dx, dy = lx - lx.mean(), ly - ly.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ dy) / sxx
    residual = dy - slope * dx
    stderr = math.sqrt(float(residual @ residual) / (len(lx) - 2) / sxx)
    return slope, student_t_quantile(0.5 + level / 2, len(lx) - 2) * stderr


def student_t_quantile(p: float, dof: int) -> float:
    """The ``p``-quantile (``1/2 < p < 1``) of Student's t with ``dof`` degrees of freedom: the root of
    ``P(T <= x) = 1 - I_{dof / (dof + x^2)}(dof / 2, 1 / 2) / 2`` (regularised incomplete beta, mpmath)."""
    import mpmath

    def upper_tail(x):
        return mpmath.betainc(dof / 2, 0.5, 0, dof / (dof + x * x), regularized=True) / 2 - (1 - p)

    lo, hi = 0.0, 1.0
    while upper_tail(hi) > 0:
        hi *= 2
    for _ in range(80):  # bisection: the tail falls in x
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if upper_tail(mid) > 0 else (lo, mid)
    return hi


@dataclass
class Reproduction:
    """A measured sweep against a theorem: what was fitted, the theory's value, the covering constant."""

    theorem: str
    quantity: str
    variable: str
    x: list
    measured: list
    theory: list
    exponent: float
    halfwidth: float
    theory_exponent: float
    constant: float
    notes: list = field(default_factory=list)
    #: further measured numbers of the study (e.g. collocation's slope in ``log d``)
    extra: dict = field(default_factory=dict)
    #: True when ``theory`` is a proved bound of each run (not a placeholder expression): the report then
    #: prints each run's bound-to-error ratio, how loose the proof is
    proved: bool = False
    #: a companion study of the same solver against its proved bound, reported (and plotted) after this one
    proof: Reproduction | None = None

    def report(self) -> str:
        if self.proved:
            lines = [
                f"{self.theorem}: {self.quantity} against {self.variable} (each run's bound is proved)",
                f"  {'x':>12} {'measured':>12} {'proved bound':>14} {'bound/measured':>15}",
            ]
            lines += [
                f"  {x:>12.4g} {m:>12.4g} {bound_text(t, 4):>14} {t / m:>15.3g}"
                for x, m, t in zip(self.x, self.measured, self.theory)
            ]
            lines.append(
                f"  fitted exponent {self.exponent:.3f} +- {self.halfwidth:.3f} (95%); the bound's "
                f"{self.theory_exponent:.3f}"
            )
            above = sum(m > t for m, t in zip(self.measured, self.theory))
            verdict = "every run within its bound" if above == 0 else f"{above} of {len(self.measured)} runs above it"
            lines.append(f"  largest measured/bound: {self.constant:.4g} ({verdict})")
            lines += [f"  note: {n}" for n in self.notes]
            return "\n".join(lines)
        lines = [
            f"{self.theorem}: {self.quantity} against {self.variable}",
            f"  {'x':>12} {'measured':>12} {'theory (C=1)':>14}",
        ]
        lines += [f"  {x:>12.4g} {m:>12.4g} {t:>14.4g}" for x, m, t in zip(self.x, self.measured, self.theory)]
        lines.append(
            f"  fitted exponent {self.exponent:.3f} +- {self.halfwidth:.3f} (95%); theory {self.theory_exponent:.3f}"
        )
        lines.append(f"  smallest constant covering every run: C = {self.constant:.4g} (theory's placeholder 1)")
        lines += [f"  note: {n}" for n in self.notes]
        if self.proof is not None:
            lines += ["", self.proof.report()]
        return "\n".join(lines)

    def plot(self, path) -> None:
        """Measured points and ``C x theory`` (or the proved bound) on log-log axes, saved to ``path`` (PNG); a
        companion proof study goes to ``<path stem>_proved.png``."""
        if self.proof is not None:
            stem, ext = os.path.splitext(str(path))
            self.proof.plot(f"{stem}_proved{ext or '.png'}")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.loglog(self.x, self.measured, "o-", label=f"measured (slope {self.exponent:.2f} +- {self.halfwidth:.2f})")
        if self.proved:
            ax.loglog(self.x, self.theory, "s--", label=f"proved bound (slope {self.theory_exponent:.2f})")
        else:
            ax.loglog(
                self.x,
                self.constant * np.asarray(self.theory),
                "--",
                label=f"theorem x C={self.constant:.3g} (slope {self.theory_exponent:.2f})",
            )
        ax.set_xlabel(self.variable)
        ax.set_ylabel(self.quantity)
        ax.set_title(self.theorem)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def gaussian_target(d):
    """The Gaussian of the dimension studies: means in ``[-1, 1]``, variances ``0.25 .. 2``."""
    return gaussian(np.linspace(-1.0, 1.0, d), np.linspace(0.25, 2.0, d))


class PathwiseProblem:
    """A Gaussian target, exact ``q_T`` starts and their exact images under the flow (``T -> DELTA``).

    Built once per target, so every solver tried on it shares the starts and the closed-form endpoints.
    """

    def __init__(self, target, n, backend="cpu", seed=0):
        self.target = target
        self.x0 = initial_particles(n, target.dim, seed, T, target, "exact")
        self.exact = gaussian_flow_map(target, self.x0, T, DELTA)
        self.backend, self.seed = backend, seed

    def error(self, solver, n_steps):
        """``(pathwise RMS error, nfe, rounds)`` of ``solver`` with ``n_steps`` uniform steps."""
        res = sample(
            self.target,
            solver,
            self.x0.shape[0],
            n_steps,
            T=T,
            delta=DELTA,
            grid="uniform",
            x_init=self.x0,
            backend=self.backend,
            seed=self.seed,
            progress=False,
        )
        return float(np.sqrt(np.mean(np.sum((res.samples - self.exact) ** 2, axis=1)))), res.nfe, res.rounds

    def steps_for(self, solver, eps, max_steps=4096):
        """Smallest step count with error <= ``eps``: ``(steps, err, nfe, rounds)``, or None past ``max_steps``."""
        found = smallest_sufficient(lambda n: self.error(solver, n), eps, max_n=max_steps)
        return (found.n, *found.value) if found.met else None


def _sequential(quick, backend, seed):
    from proofs import get

    thm = get("gupta_cai_chen")
    dims = (4, 16, 64) if quick else (4, 16, 64, 256, 1024)
    nfe = []
    for d in dims:
        found = PathwiseProblem(gaussian_target(d), 32, backend, seed).steps_for(RandomizedMidpoint(), PATH_EPS)
        if found is None:
            raise RuntimeError(f"randomized midpoint did not reach error {PATH_EPS} within 4096 steps at d={d}")
        nfe.append(found[2])
    L = 4.0  # the Gaussians' score Lipschitz constant at t = 0 (smallest variance 0.25)
    theory = [float(thm.evaluate(thm.steps_expr, L=L, d=d, eps=PATH_EPS).b) for d in dims]
    slope, half = fit_power(dims, nfe)
    return Reproduction(
        "gupta_cai_chen",
        "score evaluations for pathwise RMS 0.05",
        "d",
        list(dims),
        nfe,
        theory,
        slope,
        half,
        fit_power(dims, theory)[0],
        max(m / t for m, t in zip(nfe, theory)),
        [
            "theory: d^(5/12) = d^0.417 times log^2(e + d/eps); its local slope over these d is shown",
            "the theorem is in TV with a corrector; this measures the predictor's pathwise error",
        ],
    )


def _parallel(quick, backend, seed):
    from proofs import get

    thm = get("gupta_cai_chen_parallel")
    dims = (4, 16, 64) if quick else (4, 16, 64, 256, 1024, 4096)
    rounds = []
    for d in dims:
        # the fewest rounds over the midpoint counts and sweeps the theorem's schedule ranges over
        problem = PathwiseProblem(gaussian_target(d), 32, backend, seed)
        found = [
            problem.steps_for(ParallelRandomizedMidpoint(R, K), PATH_EPS, max_steps=256)
            for R in (2, 4, 8, 16, 32)
            for K in (1, 2, 3)
        ]
        rounds.append(min(f[3] for f in found if f is not None))
    L = 4.0
    logs = [math.log(math.e + d / PATH_EPS) for d in dims]
    theory = [float(thm.evaluate(thm.rounds_expr, L=L, d=d, eps=PATH_EPS).b) for d in dims]
    slope, half = fit_power(logs, rounds)
    return Reproduction(
        "gupta_cai_chen_parallel",
        "sequential rounds for pathwise RMS 0.05",
        "log(e + d/eps)",
        logs,
        rounds,
        theory,
        slope,
        half,
        fit_power(logs, theory)[0],
        max(m / t for m, t in zip(rounds, theory)),
        [
            f"d = {list(dims)}; fewest rounds over R in (2 .. 32) midpoints and K in (1, 2, 3) sweeps",
            "theory: rounds = C L log^2(e + d/eps), exponent 2 (an upper bound: a smaller measured "
            "power is consistent with it)",
        ],
    )


def _collocation(quick, backend, seed):
    from proofs import get

    thm = get("collocation_gcs_shape")  # the paper's O~ shape (the proved theorem is algorithmic)
    radius, sigma = 4.0, 0.5
    epss = (1e-3, 1e-5, 1e-7) if quick else (1e-3, 1e-5, 1e-7, 1e-9, 1e-11)
    dims = (2, 8) if quick else (2, 8, 32)
    n_check = 8 if quick else 16

    def run(d, eps):
        ring = ring_mixture(radius=radius, std=sigma)
        target = ring if d == 2 else embed(ring, d, seed=0, lam_perp=sigma**2)
        return sample(
            target,
            "collocation",
            n_check,
            eps=eps,
            T=10.0,
            delta=1e-3,
            init="exact",
            seed=seed,
            backend=backend,
            progress=False,
            pilot=n_check,
        ).nfe

    nfe_eps = [run(2, e) for e in epss]
    us = [math.log(math.e + 1 / e) for e in epss]
    theory = [float(thm.evaluate(thm.steps_expr, R=radius, sigma=sigma, eps=e).b) for e in epss]
    slope, half = fit_power(us, nfe_eps)
    nfe_d = [run(d, epss[1]) for d in dims]
    d_slope = float(np.polyfit(np.log(dims), np.log(nfe_d), 1)[0])
    return Reproduction(
        "collocation",
        "score evaluations per particle (eps chosen run)",
        "u = log(e + 1/eps)",
        us,
        nfe_eps,
        theory,
        slope,
        half,
        fit_power(us, theory)[0],
        max(m / t for m, t in zip(nfe_eps, theory)),
        [
            f"in d = {list(dims)} at eps = {epss[1]:g}: evaluations {nfe_d}, slope in log d "
            f"{d_slope:.3f} (theory 0: no explicit dimension)",
            "ring of radius 4 convolved with N(0, 0.25 I_d): R = 4, sigma = 0.5 in the theorem",
        ],
        {"dims": list(dims), "evaluations_by_dim": nfe_d, "slope_in_log_d": d_slope},
        proof=_collocation_proved(quick, backend, seed),
    )


def _collocation_proved(quick, backend, seed, n=None, epss=None):
    """Collocation on the proved plans of ``proofs.get('collocation')``, each run's proved-upper pathwise RMS error
    (enclosed exact end points) beside the plan's proved bound (ring, T = 3, delta = 0.05)."""
    import proofs

    from .verify import enclose_flows

    theorem = proofs.get("collocation")
    target, horizon, delta = ring_mixture(), 3.0, 0.05
    n = n or (4 if quick else 32)
    epss = epss or ((1e-2, 1e-4) if quick else (1e-3, 1e-6, 1e-9, 1e-12))
    x0 = initial_particles(n, target.dim, seed, horizon, target, "exact")
    # a thousandth of the smallest eps: 1e-7 in the quick study, which the float64 enclosures reach; the full
    # study's 1e-14 goes to the Arb path (seconds per particle)
    balls = enclose_flows(target, x0, horizon, delta, tol=max(1e-14, 1e-3 * min(epss)))
    nfe, measured, bounds = [], [], []
    for eps in epss:
        plan = theorem.plan(eps, target, horizon, delta)
        run = sample(target, plan.solver(), n, grid=plan.grid, x_init=x0, backend=backend, seed=seed, progress=False)
        upper = np.linalg.norm(run.samples - balls.centers, axis=1) + balls.radii
        nfe.append(run.nfe)
        measured.append(float(np.sqrt(np.mean(upper**2))))
        bounds.append(float(plan.bound.value))
    fitted = len(nfe) >= 3
    slope, half = fit_power(nfe, measured) if fitted else (math.nan, math.nan)
    return Reproduction(
        "collocation (proved plans)",
        "pathwise RMS error (proved upper end)",
        "NFE",
        nfe,
        measured,
        bounds,
        slope,
        half,
        fit_power(nfe, bounds)[0] if fitted else math.nan,
        max(m / b for m, b in zip(measured, bounds)),
        [
            f"ring, T = {horizon:g}, delta = {delta:g}; plans of proofs.get('collocation').plan at eps "
            f"{', '.join(f'{e:g}' for e in epss)} (each bound <= its eps); {n} exact q_T starts",
            "the bound holds for every start of the set S(eta), eta = 1e-6; the measured RMS is over these starts",
        ],
        proved=True,
    )


def _randomized_midpoint_proved(quick, backend, seed, n=None, steps=None):
    """The randomized midpoint on the ring (T = 3, delta = 0.5) against its proved bound, run by run.

    Error: pathwise RMS over the particles (each its own midpoints) from exact ``q_T`` starts, each particle's
    exact end point enclosed once by Arb (proved); the upper end of each proved error enters the RMS.
    Bound: ``randomized_midpoint_ms`` on the run's grid for every start in its start set (``eta = 1e-6``).
    """
    import proofs

    from .verify import enclose_flow

    theorem = proofs.get("randomized_midpoint_ms")
    target, horizon, delta = ring_mixture(), 3.0, 0.5
    n = n or (16 if quick else 64)
    steps = steps or ((8, 32, 128) if quick else (8, 16, 32, 64, 128, 256, 512))
    x0 = initial_particles(n, target.dim, seed, horizon, target, "exact")
    balls = [enclose_flow(target, x, horizon, delta, tol=1e-12) for x in x0]
    centres, radii = np.array([b.center for b in balls]), np.array([b.radius for b in balls])
    nfe, measured, bounds = [], [], []
    for n_steps in steps:
        run = sample(
            target,
            RandomizedMidpoint(),
            n,
            n_steps,
            T=horizon,
            delta=delta,
            grid="uniform",
            x_init=x0,
            backend=backend,
            seed=seed,
            progress=False,
        )
        upper = np.linalg.norm(run.samples - centres, axis=1) + radii
        nfe.append(run.nfe)
        measured.append(float(np.sqrt(np.mean(upper**2))))
        bounds.append(float(theorem.run_bound(target, run.grid).value))
    slope, half = fit_power(nfe, measured)
    return Reproduction(
        "randomized_midpoint_ms",
        "pathwise RMS error (proved upper end)",
        "NFE",
        nfe,
        measured,
        bounds,
        slope,
        half,
        fit_power(nfe, bounds)[0],
        max(m / b for m, b in zip(measured, bounds)),
        [
            f"ring, T = {horizon:g}, delta = {delta:g}, uniform grid, {n} exact q_T starts (in the start "
            "set with probability 1 - 1e-6 each); theory: order 1.5 in the step, slope -1.5 in NFE",
            "the bound is on the root mean square over the random midpoints, for every start of the set; the "
            "measured RMS is over these starts and one draw of the midpoints each (it may exceed the bound by "
            "chance)",
        ],
        proved=True,
    )


STUDIES = {
    "gupta_cai_chen": _sequential,
    "gupta_cai_chen_parallel": _parallel,
    "collocation": _collocation,
    "randomized-midpoint": _randomized_midpoint_proved,
}


def reproduce(theorem: str, quick: bool = False, backend: str = "cpu", seed: int = 0) -> Reproduction:
    """Run the study of ``theorem`` (a key of :data:`STUDIES`) and return its :class:`Reproduction`."""
    if theorem not in STUDIES:
        raise ValueError(f"no reproduction study for theorem {theorem!r}; choose from {sorted(STUDIES)}")
    return STUDIES[theorem](quick, backend, seed)
