"""The proved mean-square bounds of the randomized-midpoint predictors (proofs/midpoint_ms.py).

What is checked: the decomposition and the start set; the exact second moments of the linear coordinates
against Monte Carlo over the midpoints (both directions: an enclosure, not only a bound); the whole bound
against the measured error of runs from random and boundary start points of the start set on every covered
target; the inverse (nfe_required) run meeting eps; wrong solvers not covered.
"""

import math
import re

import numpy as np
import pytest

import certsample as cs
from certsample.exact import gaussian_flow_map
from certsample.solvers.parallel_midpoint import ParallelRandomizedMidpoint
from certsample.solvers.randomized_midpoint import RandomizedMidpoint
from proofs.balls import arb_precision
from proofs.midpoint_bounds import StartSet, decompose
from proofs.midpoint_ms import Scheme, linear_mean_square_factor

T, DELTA = 2.0, 0.05


def solver_for(scheme):
    if scheme.R == 1 and scheme.K == 0:
        return RandomizedMidpoint(scheme.sampling)
    return ParallelRandomizedMidpoint(scheme.R, scheme.K, scheme.sampling)


def squared_errors(target, solver, x0, grid, reference, seed=0):
    """``|x_N - y(delta)|^2`` of every particle (all start at ``x0`` rows; the midpoints differ by particle)."""
    out = cs.sample(target, solver, x0.shape[0], len(grid), grid=grid, x_init=x0, progress=False, seed=seed).samples
    return np.sum((out - reference) ** 2, axis=1)


def refuted(bound_sq, errors_sq, z=4.0):
    """Whether the sample mean of the squared errors exceeds ``bound_sq`` by more than ``z`` standard errors."""
    return errors_sq.mean() - z * errors_sq.std(ddof=1) / math.sqrt(errors_sq.size) > bound_sq


# ------------------------------------------------------------------ decomposition and start set
def test_decomposition_of_the_builtin_targets():
    ring = decompose(cs.make_target("ring"))
    assert ring.block_axes == (0, 1) and ring.block_variance == 0.25 and not ring.linear_axes
    assert ring.block_radius == pytest.approx(4.0) and ring.block_radius >= 4.0
    gauss = decompose(cs.make_target("gaussian", dim=8))
    assert not gauss.block_axes and len(gauss.linear_axes) == 8 and gauss.covered
    sub = decompose(cs.embed(cs.ring_mixture(), 64))
    assert sub.block_axes == (0, 1) and sub.perp_dim == 62 and sub.perp_variance == 0.0
    ring3 = decompose(cs.ring_mixture(dim=3))
    assert ring3.block_axes == (0, 1) and ring3.linear_axes == (2,)
    unequal = decompose(cs.gaussian_mixture([[-2.0, 0.0], [2.0, 1.0]], [0.5, 0.3]))
    assert unequal.covered and unequal.kind == "unequal" and unequal.block_variance is None
    assert unequal.variance_range == (0.3, 0.5) and ring.kind == "isotropic" and gauss.kind == "linear"


@pytest.mark.parametrize("name", ["ring", "gaussian", "cloud", "subspace"])
def test_start_set_holds_its_mass(name):
    target = cs.make_target(name, dim=8 if name != "ring" else None)
    s = StartSet(target, 3.0, eta=1e-3)
    x = target.sample(20000, 1, t=3.0)
    assert s.contains(x).mean() >= 1 - 1e-3 - 5e-3  # q_T(S) >= 1 - eta, up to sampling error
    edge = s.boundary_points(50, 2)
    block, lin = s.parts(edge)
    assert np.all(s.contains(edge))
    assert np.allclose(block, s.block_radius, rtol=1e-9) and np.allclose(lin, s.linear_radius, rtol=1e-9)
    assert np.all(s.contains(s.sample(100, 3)))
    # the printed radii are rounded up, so the printed set contains the set
    printed = re.findall(r"<= ([0-9.e+-]+)", repr(s))
    assert float(printed[0]) >= s.block_radius and float(printed[1]) >= s.linear_radius


# ------------------------------------------------------------------ linear coordinates: exact second moments
@pytest.mark.parametrize(
    "lam, scheme, n_steps",
    [
        (0.25, Scheme(), 16),
        (2.0, Scheme(sampling="exponential"), 16),
        (0.0, Scheme(), 32),  # a point mass: v = sigma^2 -> 0 at delta
        (0.0, Scheme(), 2),  # steps so coarse that the scheme's factor changes sign
        (0.25, Scheme(4, 2), 8),
        (2.0, Scheme(2, 1, "exponential"), 8),
        (0.5, Scheme(1, 2), 8),
    ],
)
def test_linear_factor_matches_monte_carlo(lam, scheme, n_steps):
    """E|z_N - z(delta)|^2 = factor z_0^2 exactly: Monte Carlo over 20000 midpoint draws agrees within 4 SE."""
    target = cs.gaussian([0.7], [lam])
    grid = cs.uniform_grid(T, DELTA, n_steps)
    with arb_precision():
        factor = linear_mean_square_factor(lam, grid, scheme)
        assert float(factor.rad()) < 1e-12 * float(factor.mid())  # an enclosure, not only a bound
    x0 = np.full((20000, 1), 1.3)
    z0 = 1.3 - 0.7 * math.exp(-T)
    errors = squared_errors(target, solver_for(scheme), x0, grid, gaussian_flow_map(target, x0[:1], T, DELTA))
    exact = float(factor.mid()) * z0**2
    se = errors.std(ddof=1) / math.sqrt(errors.size)
    assert abs(errors.mean() - exact) < 4 * se


@pytest.mark.parametrize("scheme", [Scheme(3, 0), Scheme(3, 0, "exponential")])
def test_weight_spreads_against_quadrature(scheme):
    """alpha_j = sd(w_j) and beta_j^2 = min_c E[w_j^2 (tau_j - c)^2] (closed forms) against scipy's quad."""
    from scipy.integrate import quad

    from proofs.balls import arb as ball
    from proofs.midpoint_ms import weight_spread

    h = 0.7
    hr = h / scheme.R
    for j in range(scheme.R):
        lo, hi = j * hr, (j + 1) * hr
        if scheme.sampling == "uniform":
            density, weight = (lambda u: 1 / hr), (lambda u: hr * math.exp(h - u))
        else:
            density = lambda u: math.exp(-(u - lo)) / (1 - math.exp(-hr))  # noqa: E731
            weight = lambda u: math.exp(h - hi) * math.expm1(hr)  # noqa: E731
        moment = [
            quad(lambda u, n=n: density(u) * weight(u) ** (1 + (n > 0)) * u ** max(n - 1, 0), lo, hi)[0]
            for n in range(4)
        ]  # E w, E w^2, E w^2 tau, E w^2 tau^2
        alpha_ref = math.sqrt(max(moment[1] - moment[0] ** 2, 0.0))
        beta_ref = math.sqrt(moment[3] - moment[2] ** 2 / moment[1])
        with arb_precision():
            alpha, beta = weight_spread(ball(h), scheme, j)
        assert float(alpha.mid()) == pytest.approx(alpha_ref, rel=1e-7, abs=1e-7 * moment[0])  # float cancellation
        assert float(beta.mid()) == pytest.approx(beta_ref, rel=1e-7)


# ------------------------------------------------------------------ the whole bound against measured errors
import proofs  # noqa: E402
from certsample.solvers.randomized_midpoint import SLOT_MIDPOINT  # noqa: E402
from certsample.verify import enclose_flow  # noqa: E402

SEQ = proofs.get("randomized_midpoint_ms")
PAR = proofs.get("parallel_midpoint_ms")


def theorem_for(scheme):
    return SEQ if (scheme.R, scheme.K) == (1, 0) else PAR


def bound_of(target, grid, scheme, x0=None, eta=1e-6):
    return theorem_for(scheme).rms_bound(target, grid, R=scheme.R, K=scheme.K, sampling=scheme.sampling, eta=eta, x0=x0)


def start_points(target, T, n_sampled, n_boundary, seed, eta=1e-6):
    s = StartSet(target, T, eta)
    points = [s.sample(n_sampled, seed)] if n_sampled else []
    if n_boundary:
        points.append(s.boundary_points(n_boundary, seed + 1))
    return s, np.concatenate(points)


_ENCLOSURES = {}


def enclosure(target, x0, t0, delta):
    """``(centre, radius)`` of the proved enclosure of the exact flow (cached: the same start point serves
    several schemes and step counts)."""
    key = (target.means.tobytes(), None if target.basis is None else target.basis.tobytes(), x0.tobytes(), t0, delta)
    if key not in _ENCLOSURES:
        enc = enclose_flow(target, x0, t0, delta, tol=1e-8)
        _ENCLOSURES[key] = (enc.center, enc.radius)
    return _ENCLOSURES[key]


def measured_errors(target, scheme, x0, grid, particles, seed=0):
    """Squared errors of ``particles`` runs from ``x0`` against the exact flow: upper ``(|x - c| + rad)^2``
    and lower ``max(0, |x - c| - rad)^2`` with ``(c, rad)`` the proved enclosure (closed form for Gaussians)."""
    xs = np.repeat(np.asarray(x0, dtype=float)[None], particles, axis=0)
    out = cs.sample(
        target, solver_for(scheme), particles, len(grid), grid=grid, x_init=xs, progress=False, seed=seed
    ).samples
    if target.is_gaussian:
        centre, radius = gaussian_flow_map(target, xs[:1], grid.T, grid.delta)[0], 0.0
    else:
        centre, radius = enclosure(target, xs[0], grid.T, grid.delta)
    gap = np.linalg.norm(out - centre, axis=1)
    return (gap + radius) ** 2, np.maximum(gap - radius, 0.0) ** 2


@pytest.mark.parametrize(
    "scheme, n_steps", [(Scheme(), 8), (Scheme(), 64), (Scheme(sampling="exponential"), 16), (Scheme(4, 2), 8)]
)
def test_gaussian_bound_is_exact_and_holds(scheme, n_steps):
    """8-d anisotropic Gaussian: every coordinate is linear, so the pointwise bound is the exact RMS error
    (Monte Carlo agrees within 4 SE), and the start-set bound dominates it at every point of the set."""
    target = cs.make_target("gaussian", dim=8)
    grid = cs.uniform_grid(T, DELTA, n_steps)
    s, points = start_points(target, T, 2, 1, seed=n_steps)
    whole = bound_of(target, grid, scheme)
    assert whole.start_set.block_radius == s.block_radius and whole.eta == 1e-6 and whole.block == 0.0
    for x0 in points:
        point = bound_of(target, grid, scheme, x0=x0)
        assert point.value <= whole.value * (1 + 1e-9)  # the point's coordinates are balls (and the set's radii)
        upper, lower = measured_errors(target, scheme, x0, grid, 4000, seed=7)
        se = upper.std(ddof=1) / math.sqrt(upper.size)
        assert abs(upper.mean() - point.value**2) < 4 * se  # exact, not only a bound
        assert not refuted(whole.value**2, upper)


MIXTURES = {
    "ring": lambda: cs.make_target("ring"),
    "cloud": lambda: cs.make_target("cloud"),
    "ring in R^8": lambda: cs.embed(cs.ring_mixture(), 8, seed=1),
    "ring in R^64": lambda: cs.embed(cs.ring_mixture(), 64, seed=2),
}


@pytest.mark.parametrize("name", sorted(MIXTURES))
@pytest.mark.parametrize("scheme, n_steps", [(Scheme(), 16), (Scheme(), 128), (Scheme(2, 1, "exponential"), 32)])
def test_mixture_bound_holds(name, scheme, n_steps):
    """The start-set bound and the pointwise bound lie above the measured RMS error (upper estimate from a
    proved enclosure of the exact flow) from a random and a boundary point of the start set."""
    target = MIXTURES[name]()
    t0, delta = 3.0, 0.5
    grid = cs.uniform_grid(t0, delta, n_steps)
    whole = bound_of(target, grid, scheme)
    assert math.isfinite(whole.value) and whole.per_step is not None
    _, points = start_points(target, t0, 1, 1, seed=0)
    for x0 in points:
        point = bound_of(target, grid, scheme, x0=x0)
        assert point.value <= whole.value * (1 + 1e-9)  # the point's coordinates are balls (and the set's radii)
        upper, _ = measured_errors(target, scheme, x0, grid, 64, seed=3)
        assert math.sqrt(upper.mean()) <= point.value
        assert not refuted(point.value**2, upper)


def test_a_start_points_coordinates_are_balls_holding_the_float_ones():
    """``rms_bound(..., x0=)`` takes the coordinates of ``x0`` as Arb balls (the basis's polar factor, the orthogonal
    part's norm bounded above) instead of float64 ones with an allowance argued for small dimension: they hold the
    float64 coordinates to their rounding, here in 64 and 4096 dimensions."""
    for target in (cs.embed(cs.ring_mixture(), 64, seed=2), cs.embed(cs.ring_mixture(), 4096, seed=1)):
        dec = decompose(target)
        x0 = target.law_at(2.0).sample(1, seed=5)[0]
        z, w, lams = dec.coordinates(x0[None], 2.0)
        zb, wb, lb = dec.coordinate_balls(x0, 2.0)
        assert lb == list(lams) and len(zb) == z.shape[1] and len(wb) == w.shape[1]
        slack = 1e-10 * (1 + np.linalg.norm(x0))
        for value, ball in zip(np.concatenate([z[0], w[0]]), zb + wb):
            assert ball.lower() - slack <= value <= ball.upper() + slack and ball.rad() < 1e-9 * (1 + abs(value))
        assert math.isfinite(SEQ.rms_bound(target, cs.uniform_grid(2.0, 0.5, 8), x0=x0).value)


def test_bound_has_no_explicit_dimension():
    """The same ring embedded in R^8 and R^64 (data on the plane): identical block bounds; only the linear
    part, through the start set's radius, sees d."""
    grid = cs.uniform_grid(3.0, 0.5, 32)
    small = bound_of(cs.embed(cs.ring_mixture(), 8, seed=1), grid, Scheme())
    large = bound_of(cs.embed(cs.ring_mixture(), 64, seed=2), grid, Scheme())
    assert small.block == large.block
    assert small.start_set.block_radius == large.start_set.block_radius
    assert small.start_set.linear_radius < large.start_set.linear_radius
    assert small.linear_factors == large.linear_factors  # the same lam_perp = 0 factor
    assert large.value > small.value


class FrozenMidpoint(RandomizedMidpoint):
    """Wrong: the random point never moves (tau = 0), with the weight h e^h of that point."""

    def step(self, x, t, h, k, score, noise, state=None):
        return math.exp(h) * x + h * math.exp(h) * score(x, t), state


class UnweightedMidpoint(RandomizedMidpoint):
    """Wrong: a random point, but the endpoint weight h e^h instead of h e^{h - tau} (biased)."""

    def step(self, x, t, h, k, score, noise, state=None):
        tau = h * noise.uniform(k, SLOT_MIDPOINT)
        mid = np.exp(tau)[:, None] * x + np.expm1(tau)[:, None] * score(x, t)
        return math.exp(h) * x + h * math.exp(h) * score.evaluate_at(mid[None], (t - tau)[None])[0], state


@pytest.mark.parametrize("wrong", [FrozenMidpoint, UnweightedMidpoint])
def test_wrong_solvers_are_not_covered(wrong):
    """On the Gaussian the bound is the exact RMS of the right scheme; a wrong scheme exceeds it (at 4 SE)."""
    target = cs.make_target("gaussian", dim=4)
    grid = cs.uniform_grid(T, DELTA, 64)
    x0 = StartSet(target, T).boundary_points(1, 0)[0]
    bound = SEQ.rms_bound(target, grid, x0=x0).value
    xs = np.repeat(x0[None], 2000, axis=0)
    exact = gaussian_flow_map(target, xs[:1], T, DELTA)
    right = cs.sample(target, RandomizedMidpoint(), 2000, 64, grid=grid, x_init=xs, progress=False).samples
    bad = cs.sample(target, wrong(), 2000, 64, grid=grid, x_init=xs, progress=False).samples
    assert not refuted(bound**2, np.sum((right - exact) ** 2, axis=1))
    assert refuted(bound**2, np.sum((bad - exact) ** 2, axis=1))


@pytest.mark.parametrize(
    "name, t0, delta, eps, grid_kind",
    [("gaussian", 2.0, 0.05, 1e-2, "uniform"), ("ring", 3.0, 0.5, 5e-2, "exponential")],
)
def test_nfe_required_run_meets_eps(name, t0, delta, eps, grid_kind):
    target = cs.make_target(name, dim=4) if name == "gaussian" else cs.make_target(name)
    need = SEQ.nfe_required(eps, target, t0, delta, grid_kind=grid_kind)
    assert need.bound.value <= eps and need.nfe == 2 * need.n_steps and need.rounds == 2 * need.n_steps
    fewer = SEQ.rms_bound(target, cs.make_grid(grid_kind, t0, delta, need.n_steps - 1))
    assert fewer.value > eps  # the least step count of the bracket
    _, points = start_points(target, t0, 1, 1, seed=5)
    for x0 in points:
        upper, _ = measured_errors(target, Scheme(), x0, need.grid, 400, seed=11)
        assert not refuted(eps**2, upper)


def test_closed_forms_dominate_the_recursion():
    """The registered error_expr with the run's largest per-step constants is above the evaluated bound
    (step C of the proof is a relaxation of step B)."""
    target = cs.make_target("ring")
    grid = cs.uniform_grid(3.0, 0.5, 64)
    for theorem, scheme, extra in ((SEQ, Scheme(), {}), (PAR, Scheme(2, 1), {"R": 2, "K": 1})):
        steps = theorem.rms_bound(target, grid, R=scheme.R, K=scheme.K).per_step
        constants = dict(
            L=steps.lipschitz.max(),
            mu=max(0.0, steps.one_sided.max()),
            G0=steps.g0.max(),
            G1=steps.g1.max(),
            T=3.0,
            delta=0.5,
            **extra,
        )
        closed = theorem.error_bound(N=64 * scheme.evals_per_step, **constants)
        assert closed >= steps.rms[-1]


def test_theorem_declarations_and_coverage():
    for theorem in (SEQ, PAR):
        assert theorem.certified and theorem.metric == "pathwise RMS over the midpoints"
    for name in ("gupta_cai_chen", "gupta_cai_chen_parallel", "shen_lee"):
        t = proofs.get(name)
        assert not t.certified and isinstance(t.placeholder_reason, str) and t.placeholder_reason
    grid = cs.uniform_grid(T, DELTA, 8)
    for target in (cs.gaussian_mixture([[-2.0, 0.0], [2.0, 1.0]], [0.5, 0.3]), _mixture2(), _mixture8()):
        assert SEQ.covers(target) is None and PAR.covers(target) is None
    with pytest.raises(ValueError, match="sequential"):
        SEQ.rms_bound(cs.make_target("ring"), grid, R=2)
    with pytest.raises(TypeError):
        SEQ.rms_bound(cs.make_target("ring"), [2.0, 1.0])


# ------------------------------------------------------------------ unequal variances (step U)
def _mixture8():
    """Three components in R^8 differing in every coordinate, in mean and (unequal) variance: an 8-d block."""
    rng = np.random.default_rng(3)
    return cs.gaussian_mixture(rng.standard_normal((3, 8)), rng.uniform(0.3, 0.6, (3, 8)))


def _mixture2():
    return cs.gaussian_mixture([[1.5, 0.0], [-1.0, 1.0]], [[0.2, 0.5], [0.6, 0.3]], [0.4, 0.6])


UNEQUAL = {  # name -> (target, T, delta)
    "unequal 2-d": lambda: (_mixture2(), 2.0, 0.1),
    "unequal in R^8": lambda: (_mixture8(), 1.0, 0.3),
    "unequal 2-d in R^8": lambda: (cs.embed(_mixture2(), 8, lam_perp=1.0, seed=1), 2.0, 0.1),
}


@pytest.mark.parametrize("name", sorted(UNEQUAL))
@pytest.mark.parametrize("scheme, n_steps", [(Scheme(), 256), (Scheme(2, 1, "exponential"), 32)])
def test_unequal_bound_holds(name, scheme, n_steps):
    """Unequal diagonal variances (step U): the start-set and pointwise bounds lie above the measured RMS error
    (upper estimate from a proved enclosure) from a sampled and a boundary point of the start set; the balls
    of the recursion contain the start set's block radius and are finite."""
    target, t0, delta = UNEQUAL[name]()
    grid = cs.uniform_grid(t0, delta, n_steps)
    whole = bound_of(target, grid, scheme)
    steps = whole.per_step
    assert math.isfinite(whole.value) and np.all(np.isfinite(steps.ball))
    assert steps.ball[0] >= whole.start_set.block_radius and steps.region[0] == whole.start_set.block_radius
    _, points = start_points(target, t0, 1, 1, seed=0)
    for x0 in points:
        point = bound_of(target, grid, scheme, x0=x0)
        assert point.value <= whole.value * (1 + 1e-9)
        upper, _ = measured_errors(target, scheme, x0, grid, 64, seed=3)
        assert math.sqrt(upper.mean()) <= point.value
        assert not refuted(point.value**2, upper)


def test_unequal_wrong_solvers_are_not_covered():
    """On the 2-D unequal-variance mixture the bound refutes first-order impostors (their lower-estimated error
    exceeds it at 4 SE) and not the right scheme (upper estimate)."""
    target, t0, delta, n = _mixture2(), 1.0, 0.5, 1024
    grid = cs.uniform_grid(t0, delta, n)
    x0 = StartSet(target, t0).sample(1, 4)[0]
    bound = SEQ.rms_bound(target, grid, x0=x0).value
    upper, _ = measured_errors(target, Scheme(), x0, grid, 400, seed=1)
    assert not refuted(bound**2, upper)
    centre, radius = enclosure(target, x0, t0, delta)
    xs = np.repeat(x0[None], 400, axis=0)
    for wrong in (FrozenMidpoint, UnweightedMidpoint):
        bad = cs.sample(target, wrong(), 400, n, grid=grid, x_init=xs, progress=False).samples
        assert refuted(bound**2, np.maximum(np.linalg.norm(bad - centre, axis=1) - radius, 0.0) ** 2)


def test_unequal_nfe_required_run_meets_eps():
    """nfe_required on the 8-d unequal-variance mixture: the least step count of its bracket, and runs from the
    start set meet eps; a plan search stops when certify's budget has run out."""
    target, t0, delta = UNEQUAL["unequal in R^8"]()
    eps = 0.05
    need = SEQ.nfe_required(eps, target, t0, delta)
    assert need.bound.value <= eps and need.nfe == 2 * need.n_steps
    assert SEQ.rms_bound(target, cs.uniform_grid(t0, delta, need.n_steps - 1)).value > eps
    plan = PAR.run_plan(eps, target, t0, delta, R=2, K=1)
    assert plan.bound.value <= eps and plan.nfe == len(plan.grid) * 5
    _, points = start_points(target, t0, 1, 1, seed=5)
    for x0 in points:
        upper, _ = measured_errors(target, Scheme(), x0, need.grid, 200, seed=11)
        assert not refuted(eps**2, upper)
    from proofs.core import SearchBudgetExceeded, search_budget

    with search_budget(1e-9), pytest.raises(SearchBudgetExceeded):
        SEQ.run_plan(eps / 10, target, t0, delta)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, t0, delta, scheme, n_steps",
    [
        ("gaussian", 1.0, 0.2, Scheme(), 4096),  # measured errors down to about 1e-6
        ("gaussian", 1.0, 0.2, Scheme(sampling="exponential"), 1024),
        ("ring", 3.0, 0.5, Scheme(), 4096),
        ("ring", 3.0, 0.5, Scheme(4, 2), 64),
        ("ring", 10.0, 0.01, Scheme(), 256),
        ("cloud", 5.0, 0.1, Scheme(), 256),
        ("subspace", 5.0, 0.1, Scheme(2, 1), 128),
    ],
)
def test_sweep_to_small_errors(name, t0, delta, scheme, n_steps):
    """Longer horizons, smaller delta and finer grids (exponential grids): the bound stays above the
    measured error of every start point (two sampled, one on the boundary)."""
    target = cs.make_target(name, dim=2 if name == "gaussian" else (64 if name == "subspace" else None))
    grid = cs.exponential_grid(t0, delta, n_steps)
    whole = bound_of(target, grid, scheme)
    _, points = start_points(target, t0, 2, 1, seed=1)
    for x0 in points:
        upper, _ = measured_errors(target, scheme, x0, grid, 200, seed=5)
        assert not refuted(whole.value**2, upper)
        assert not refuted(bound_of(target, grid, scheme, x0=x0).value ** 2, upper)


RATIO_100 = cs.gaussian_mixture([[2.0, 0.0], [-2.0, 1.0]], [[0.01, 1.0], [1.0, 0.01]], [0.5, 0.5])


@pytest.mark.parametrize("t_lo, t_hi", [(0.1, 0.3), (0.1, 1.0), (1.0, 2.0)])
def test_unequal_rates_bound_their_quantities(t_lo, t_hi):
    """Step U's rates over a time interval dominate the quantities at sampled times and every data variance."""
    from proofs.balls import arb
    from proofs.midpoint_bounds import reference_variance, unequal_rates

    dec = decompose(RATIO_100)
    lam0 = reference_variance(dec)
    with arb_precision():
        rates = {k: float(v.mid()) for k, v in unequal_rates(dec, arb(t_lo), arb(t_hi)).items()}
    for t in np.linspace(t_lo, t_hi, 21):
        x = math.exp(-2 * t)
        for lam in np.unique(dec.block_variances):
            v, V = 1 + (lam - 1) * x, 1 + (lam0 - 1) * x
            assert 1 / v <= rates["inv"] and 1 / v >= rates["inv_min"] and 1 - 1 / v <= rates["growth"]
            assert abs(1 - 1 / v) <= rates["one_minus"] and abs(1 / V - 1 / v) <= rates["beta"]
            assert abs(v - 1) / v**2 <= rates["rho"] and abs(2 - v) / v**2 <= rates["sigma2"]
            assert abs((v - 1) / v**2 - (V - 1) / V**2) <= rates["gamma"]


def test_unequal_coarse_grid_bound_is_finite():
    """The rates come from the ends of v and V, not ball products (which reached 0 on wide steps: NaN, then inf)."""
    from proofs.midpoint_ms import rms_bound

    assert math.isfinite(rms_bound(RATIO_100, cs.uniform_grid(2.0, 0.1, 8), Scheme()).value)


@pytest.mark.parametrize("t_lo, t_hi", [(0.01, 1.25875), (0.5, 0.6)])
def test_block_sups_dominate_sampled_times(t_lo, t_hi):
    """The block's Lipschitz and one-sided bounds over a wide time range are finite (the ends of ``a`` and ``v``, not
    ball products of them, which reached 0 there: NaN) and above their formulas at sampled times."""
    from proofs.balls import arb
    from proofs.midpoint_bounds import block_lipschitz_sup, block_one_sided_sup, posterior_covariance_sup

    dec = decompose(cs.ring_mixture())
    with arb_precision():
        L = float(block_lipschitz_sup(dec, arb(t_lo), arb(t_hi)))
        mu = float(block_one_sided_sup(dec, arb(t_lo), arb(t_hi)))
        c = float(posterior_covariance_sup(dec, arb(t_lo), arb(t_hi)))
    assert math.isfinite(L) and math.isfinite(mu)
    for t in np.linspace(t_lo, t_hi, 21):
        a2 = math.exp(-2 * t)
        v = 1 + (dec.block_variance - 1) * a2
        assert max(1 / v, a2 * c / v**2 - 1 / v) <= L and 1 - 1 / v + a2 * c / v**2 <= mu


def test_parallel_coarse_grid_bound_does_not_raise():
    """Four steps of the ring with two midpoints and a Picard sweep: a proved (finite or infinite) bound, where a
    non-finite Lipschitz bound had made the integrals' quadrature raise ArithmeticError."""
    from proofs.midpoint_ms import rms_bound

    value = rms_bound(cs.ring_mixture(), cs.uniform_grid(10.0, 0.01, 4), Scheme(2, 1)).value
    assert value > 0 and not math.isnan(value)
