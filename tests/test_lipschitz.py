"""Score Lipschitz bounds: valid everywhere searched, and within a factor 2 of the largest Hessian found."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

import certsample as cs
from certsample import lipschitz
from certsample.forward import alpha, sigma2
from certsample.lipschitz.mixture_hessian import diagonal_mixture_hessian_sup


def _hessian(target, x, t):
    """Exact Hessian of log q_t at one point: -sum r_c D_c^-1 + Cov_r(g_c) in the plane, -1/v_perp off it."""
    law = target.law_at(t)
    q = np.eye(target.dim) if law.basis is None else law.basis
    y = q.T @ x
    var = law.variances
    diff = y[None] - law.means
    logp = np.log(law.weights) - 0.5 * np.sum(diff**2 / var + np.log(var), axis=1)
    r = np.exp(logp - logp.max())
    r /= r.sum()
    g = diff / var
    mean_g = r @ g
    plane = -np.diag(r @ (1 / var)) + (g - mean_g).T @ ((g - mean_g) * r[:, None])
    hess = q @ plane @ q.T
    if q.shape[1] < target.dim:
        hess -= (np.eye(target.dim) - q @ q.T) / law.lam_perp
    return hess


def _largest_hessian_norm(target, t, starts=40, seed=0):
    rng = np.random.default_rng(seed)
    law = target.law_at(t)
    best = 0.0
    for x0 in law.sample(starts, rng):

        def neg(x):
            return -np.linalg.norm(_hessian(target, x, t), 2)

        res = minimize(neg, x0, method="Nelder-Mead", options={"maxiter": 400, "xatol": 1e-6, "fatol": 1e-9})
        best = max(best, -res.fun, -neg(x0))
    # the peaks sit between components (half the mass on each of two): narrow at small t, so start there too
    means = law.means if law.basis is None else law.means @ law.basis.T
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            best = max(best, np.linalg.norm(_hessian(target, (means[i] + means[j]) / 2, t), 2))
    best = max(best, np.linalg.norm(_hessian(target, np.zeros(target.dim), t), 2))
    return best


@pytest.mark.parametrize("name", ["ring", "embedded", "gaussian", "cloud"])
@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0])
def test_lipschitz_bound_is_valid_and_tight(name, t):
    target = {
        "ring": cs.ring_mixture(),
        "embedded": cs.embed(cs.ring_mixture(), 6),
        "gaussian": cs.gaussian([0.3, -0.2], [[1.0, 0.4], [0.4, 0.6]]),
        "cloud": cs.point_cloud([[1.0, 0.0], [-1.0, 0.5], [0.0, -1.5]]),
    }[name]
    bound = target.score_lipschitz(t)
    found = _largest_hessian_norm(target, t)
    assert found <= bound * (1 + 1e-9)
    # measured: at most 1.035 times the largest Hessian found (the ring's posterior covariance is
    # bounded over softmax tilts, 0.51 R^2, not over all laws, R^2)
    assert bound <= 1.1 * found


@pytest.mark.parametrize("t", [1e-3, 0.1])
def test_ring_bound_uses_the_tilts_not_popoviciu(t):
    ring = cs.ring_mixture(n_modes=16, radius=6.0, std=0.3, dim=3)
    a2, v = float(alpha(t)) ** 2, 0.09 * float(alpha(t)) ** 2 + float(sigma2(t))
    popoviciu = -1 / v + a2 * 36.0 / v**2
    assert ring.score_lipschitz(t) < 0.52 * popoviciu
    assert _largest_hessian_norm(ring, t, starts=10) <= ring.score_lipschitz(t) * (1 + 1e-9)


def _bisector_largest_hessian_norm(target, t, steps=101, top=False):
    """Largest Hessian norm along every pair's perpendicular bisector (isotropic equal variances, 2-D
    means): at small t the peaks are ridges where two components tie, too narrow for a local search."""
    a, s2 = float(alpha(t)), float(sigma2(t))
    v = a * a * float(target.variances[0, 0]) + s2
    mu = target.means
    i, j = np.triu_indices(len(mu), 1)
    mid, d = (mu[i] + mu[j]) / 2, mu[j] - mu[i]
    perp = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.linalg.norm(d, axis=1, keepdims=True)
    best = 0.0
    for s in np.linspace(-1, 1, steps) * np.ptp(mu, axis=0).max():
        z = mid + s * perp  # y = a z
        logp = np.log(target.weights) - np.sum((z[:, None] - mu[None]) ** 2, axis=2) * a * a / (2 * v)
        r = np.exp(logp - logp.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        centred = mu[None] - (r @ mu)[:, None]
        cov_top = np.linalg.eigvalsh(np.einsum("pk,pki,pkj->pij", r, centred, centred))[:, -1]
        hess_top = -1 / v + a * a / v**2 * cov_top
        best = max(best, float(np.max(hess_top if top else np.abs(hess_top))))
    return best


@pytest.mark.parametrize("t", [1e-3, 0.03, 0.1, 1.0])
def test_point_cloud_bound_is_per_temperature_and_tight(t):
    """The built-in 64-point cloud (not concyclic): the bound was Popoviciu's (14.8x at t = 1e-3)."""
    cloud = cs.make_target("cloud")
    bound = cloud.score_lipschitz(t)
    found = max(_bisector_largest_hessian_norm(cloud, t), _largest_hessian_norm(cloud, t, starts=5))
    assert found <= bound * (1 + 1e-9)
    # measured: 1.00, 1.21, 1.25, 1.00 (the octave search stops within 20% of the best value it found)
    assert bound <= 1.4 * found


@pytest.mark.parametrize("name", ["ring", "cloud"])
@pytest.mark.parametrize("t", [1e-3, 0.1])
def test_drift_one_sided_bound_is_valid_and_tight(name, t):
    """``1 + hi`` against ``1 + lambda_max Hess`` found on the ridges, where the largest eigenvalue sits."""
    target = cs.make_target(name)
    bound = target.drift_one_sided_lipschitz(t)
    found = 1 + _bisector_largest_hessian_norm(target, t, top=True)
    assert found <= bound * (1 + 1e-9)
    assert found > 0 and bound <= 1.4 * found  # measured: 1.02 (ring), 1.00 and 1.24 (cloud)


def test_posterior_covariance_bound_known_values_and_validity():
    from certsample.lipschitz.tilted_covariance import PosteriorCovarianceBound, near_set_diameter_sup

    # two points: a tie puts half the mass on each at every temperature, Popoviciu is reached
    assert near_set_diameter_sup([[1.0, 0.0], [-1.0, 0.0]], 0.1) == pytest.approx(1.0)
    # an obtuse triangle: the longest edge's ridge reaches the two-point value, |(2, 0)|^2 / 4
    assert near_set_diameter_sup([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.2]], 0.01) == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    pts = rng.uniform(-0.7, 0.7, (7, 2))
    w = rng.uniform(0.2, 1.0, 7)
    bound = PosteriorCovarianceBound(pts, w)
    for lam in (0.1, 0.5, 3.0, 30.0, 300.0):
        z = rng.standard_normal((20000, 2)) * rng.choice([0.05, 0.5, 5.0], (20000, 1))
        logp = np.log(w / w.sum()) - lam * np.sum((z[:, None] - pts[None]) ** 2, axis=2)
        r = np.exp(logp - logp.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        centred = pts[None] - (r @ pts)[:, None]
        found = np.linalg.eigvalsh(np.einsum("nc,nci,ncj->nij", r, centred, centred))[:, -1].max()
        assert found <= bound(lam) <= bound.popoviciu + 1e-12
        if lam >= 3:
            assert bound(lam) <= 2 * found
    with pytest.raises(ValueError, match="lam must be"):
        bound(-1.0)


def test_tilted_covariance_sup_known_values_and_validity():
    from certsample.lipschitz.tilted_covariance import tilted_covariance_sup

    # two opposite points: half the mass on each is a tilt (theta = 0), Popoviciu is reached
    assert tilted_covariance_sup([[1.0, 0.0], [-1.0, 0.0]], [1, 1]) == pytest.approx(1.0)
    # equilateral triangle: a tie between two vertices with the third starved gives (sqrt 3 / 2)^2
    tri = np.array([[np.cos(a), np.sin(a)] for a in 2 * np.pi * np.arange(3) / 3])
    assert tilted_covariance_sup(tri, [1, 1, 1]) == pytest.approx(0.75)
    # eight points: the uniform law (theta = 0) is the peak, 1/2, within tol
    ang = 2 * np.pi * np.arange(8) / 8
    octo = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    assert 0.5 <= tilted_covariance_sup(octo, np.ones(8)) <= 0.5 + 0.011
    # unequal weights, points inside the disc: no sampled tilt exceeds the bound
    rng = np.random.default_rng(3)
    pts = rng.uniform(-0.7, 0.7, (6, 2))
    w = rng.uniform(0.1, 1.0, 6)
    bound = tilted_covariance_sup(pts, w)
    thetas = rng.standard_normal((20000, 2)) * rng.choice([0.5, 3.0, 30.0], (20000, 1))
    z = np.log(w / w.sum()) + thetas @ pts.T
    r = np.exp(z - z.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    centred = pts[None] - (r @ pts)[:, None]
    covs = np.einsum("nc,nci,ncj->nij", r, centred, centred)
    assert np.linalg.eigvalsh(covs)[:, -1].max() <= bound
    with pytest.raises(ValueError, match="unit disc"):
        tilted_covariance_sup([[2.0, 0.0], [0.0, 0.0]], [1, 1])
    with pytest.raises(ValueError, match="1 or 2 dimensions"):
        tilted_covariance_sup(np.eye(3), np.ones(3))


def test_embedded_bound_no_longer_uses_the_orthogonal_variance_in_the_mixture_term():
    embedded = cs.embed(cs.ring_mixture(), 16)
    a2, s2 = float(alpha(1e-3)) ** 2, float(sigma2(1e-3))
    assert embedded.score_lipschitz(1e-3) == pytest.approx(1 / s2)  # the orthogonal Gaussian factor
    assert embedded.score_lipschitz(1e-3) < 1e3  # was 4.0e6
    assert embedded.drift_one_sided_lipschitz(1e-3) < cs.ring_mixture().score_lipschitz(1e-3) + 2
    assert a2 > 0


def test_unequal_variances_have_no_global_bound_but_a_local_one():
    """N(0, diag(1, 1)) and N((0, 2), diag(2, 1)): on the surface of equal responsibility the Hessian
    grows like y_1^2, so no global constant exists; on a ball the stated bound holds."""
    target = cs.gaussian_mixture([[0.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [2.0, 1.0]])
    t = 0.5
    with pytest.raises(ValueError, match="no global Lipschitz constant"):
        target.score_lipschitz(t)
    law = target.law_at(t)
    norms = []
    for y1 in (2.0, 8.0, 32.0):
        # solve l_0 = l_1 for y_2 at this y_1 (the log-responsibility difference is linear in y_2)
        def gap(y2):
            y = np.array([y1, y2])
            lp = [
                np.log(w) - 0.5 * np.sum((y - m) ** 2 / v + np.log(v))
                for w, m, v in zip(law.weights, law.means, law.variances)
            ]
            return lp[0] - lp[1]

        lo, hi = -1e4, 1e4
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if gap(mid) * gap(lo) > 0 else (lo, mid)
        norms.append(np.linalg.norm(_hessian(target, np.array([y1, lo]), t), 2))
    assert norms[0] < norms[1] < norms[2] and norms[2] > 20 * norms[0]
    radius = 5.0
    bound = target.score_lipschitz(t, radius=radius)
    rng = np.random.default_rng(1)
    pts = rng.standard_normal((4000, 2))
    pts *= radius * rng.uniform(0, 1, (4000, 1)) ** 0.5 / np.linalg.norm(pts, axis=1, keepdims=True)
    found = max(np.linalg.norm(_hessian(target, p, t), 2) for p in pts)
    assert found <= bound <= 1.1 * found  # measured 1.0003 (Popoviciu on the g_c; was 2.54 with tr Cov)


def _top_eigenvalue(centres, variances, weights, y):
    diff = y[None] - centres
    logp = np.log(weights) - 0.5 * np.sum(diff**2 / variances + np.log(variances), axis=1)
    r = np.exp(logp - logp.max())
    r /= r.sum()
    g = diff / variances
    mean = r @ g
    return np.linalg.eigvalsh(-np.diag(r @ (1 / variances)) + (g - mean).T @ ((g - mean) * r[:, None]))[-1]


def _largest_top_eigenvalue_in_ball(centres, variances, weights, radius, n=4000, polish=20, seed=0):
    """The largest lambda_max of the Hessian found: uniform points in the ball, the best polished."""
    rng = np.random.default_rng(seed)
    k = centres.shape[1]
    pts = rng.standard_normal((n, k))
    pts *= radius * rng.uniform(0, 1, (n, 1)) ** (1 / k) / np.linalg.norm(pts, axis=1, keepdims=True)
    values = np.array([_top_eigenvalue(centres, variances, weights, p) for p in pts])
    best = values.max()
    for p in pts[np.argsort(-values)[:polish]]:

        def neg(y):
            return -_top_eigenvalue(centres, variances, weights, y) if np.linalg.norm(y) <= radius else 1e9

        res = minimize(neg, p, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})
        best = max(best, -res.fun)
    return best


@pytest.mark.parametrize("t", [0.01, 0.05, 0.5])
@pytest.mark.parametrize("radius", [3.0, 10.0])
def test_unequal_variance_bound_follows_the_ties(t, radius):
    """The box search bounds lambda_max on the ball within 10% of the largest value found (measured
    1.02-1.08; Popoviciu over the whole ball was 1.6-3.0 times the Hessian norm at t = 0.05)."""
    target = cs.gaussian_mixture([[0.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [2.0, 1.0]])
    law = target.law_at(t)
    lo, hi = lipschitz.hessian_range(target, t, radius)
    found = _largest_top_eigenvalue_in_ball(law.means, law.variances, law.weights, radius)
    assert found <= hi
    assert hi <= found + 0.1 * max(abs(found), 1 / law.variances.max())
    norm_found = max(found, 1 / law.variances.min())  # lambda_min reaches -1/v_min far from the tie
    assert target.score_lipschitz(t, radius=radius) <= 1.1 * norm_found


@pytest.mark.parametrize("k, n_comp", [(2, 6), (3, 8)])
def test_diagonal_mixture_hessian_sup_on_random_mixtures(k, n_comp):
    rng = np.random.default_rng(10 * k + n_comp)
    centres = rng.normal(0, 2, (n_comp, k))
    variances = rng.uniform(0.05, 1.0, (n_comp, k))
    weights = rng.uniform(0.5, 1.0, n_comp)
    weights /= weights.sum()
    bound = diagonal_mixture_hessian_sup(centres, variances, weights, 6.0, rtol=0.1)
    found = _largest_top_eigenvalue_in_ball(centres, variances, weights, 6.0, n=6000)
    assert found <= bound <= 1.12 * found  # measured 1.03 / 1.10


def test_diagonal_mixture_hessian_sup_rejects_bad_input():
    good = dict(centres=np.zeros((2, 2)), variances=np.ones((2, 2)), weights=np.array([0.5, 0.5]), radius=1.0)
    for key, bad, match in [
        ("variances", np.ones((2, 3)), "must be"),
        ("variances", -np.ones((2, 2)), "positive"),
        ("centres", np.full((2, 2), np.nan), "finite"),
        ("radius", -1.0, "radius"),
        ("radius", np.inf, "radius"),
    ]:
        with pytest.raises(ValueError, match=match):
            diagonal_mixture_hessian_sup(**{**good, key: bad})
    with pytest.raises(ValueError, match="rtol"):
        diagonal_mixture_hessian_sup(**good, rtol=0.0)


# ---------------------------------------------------------------------------- suprema over time intervals
UNEQUAL = cs.gaussian_mixture([[1.0, 0.0], [-1.0, 0.5], [0.0, -1.0]], [[0.3, 0.6], [0.8, 0.2], [0.5, 0.5]])
UNEQUAL_RADIUS = 3.0


def _interval_targets():
    return {
        "ring": cs.make_target("ring"),
        "cloud": cs.make_target("cloud"),
        "subspace": cs.make_target("subspace", dim=8),
        "embedded": cs.embed(cs.ring_mixture(), 5, lam_perp=0.4),
        "gaussian": cs.make_target("gaussian", dim=3),
        "unequal": UNEQUAL,
        # components wider than the noise: the mixture term a^2 spread / v^2 peaks inside (0, T)
        "wide_ring": cs.ring_mixture(8, radius=4.0, std=2.0),
    }


def _pointwise(target, t, kind, radius):
    f = lipschitz.score_lipschitz if kind == "lipschitz" else lipschitz.drift_one_sided_lipschitz
    return f(target, t, radius)


@pytest.mark.parametrize("kind", ["lipschitz", "one_sided"])
@pytest.mark.parametrize("name", ["ring", "cloud", "subspace", "embedded", "gaussian", "unequal", "wide_ring"])
@pytest.mark.parametrize("t_lo, t_hi", [(1e-3, 0.05), (0.05, 2.0)])
def test_sup_on_dominates_the_pointwise_bound_on_a_fine_grid(name, kind, t_lo, t_hi):
    """A theorem for equal variances (the interval formula is the pointwise one on enclosures). For unequal
    variances both are box searches with a 10% tolerance, so it is measured, not proved: what is proved
    there is the bound on the true constant, checked by the Monte-Carlo test below."""
    target = _interval_targets()[name]
    radius = UNEQUAL_RADIUS if name == "unequal" else None
    if name == "unequal" and t_lo < 0.05:
        t_lo = 0.02  # the box searches at small t on a ball of radius 3 take seconds each
    sup = lipschitz.sup_on(target, t_lo, t_hi, radius=radius, kind=kind)
    times = np.concatenate([[t_lo, t_hi], np.geomspace(t_lo, t_hi, 150)])
    pointwise = np.array([_pointwise(target, float(t), kind, radius) for t in times])
    assert np.all(pointwise <= sup)
    # tight: within rtol (1%; 10% for the unequal-variance box searches; for 'one_sided' relative to
    # max(|value|, 1)) of the largest pointwise bound at the pieces' ends, which the grid's maximum bounds below
    slack = 0.1 if name == "unequal" else 0.01
    assert sup <= pointwise.max() + slack * max(abs(pointwise.max()), 1.0 if kind == "one_sided" else 0.0) + 1e-9


def _hessians(target, x, t):
    """Exact Hessians of log q_t at the rows of x (closed form, batched): -sum r_c D_c^-1 + Cov_r(g) in the
    plane, -I / v_perp off it."""
    law = target.law_at(t)
    q = np.eye(target.dim) if law.basis is None else law.basis
    y = x @ q
    diff = y[:, None, :] - law.means[None]
    logp = np.log(law.weights) - 0.5 * np.sum(diff**2 / law.variances + np.log(law.variances), axis=2)
    r = np.exp(logp - logp.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    g = diff / law.variances
    centred = g - np.einsum("nc,nci->ni", r, g)[:, None]
    plane = np.einsum("nc,nci,ncj->nij", r, centred, centred)
    plane[:, np.arange(y.shape[1]), np.arange(y.shape[1])] -= r @ (1 / law.variances)
    hess = np.einsum("ai,nij,bj->nab", q, plane, q)
    if q.shape[1] < target.dim:
        hess -= (np.eye(target.dim) - q @ q.T) / law.lam_perp
    return hess


def _trial_points(target, t, rng, n=300):
    """Samples of q_t, and points near the midpoints of pairs of scaled means (the ridges where the
    largest eigenvalues sit)."""
    law = target.law_at(t)
    pts = [law.sample(n, rng)]
    i, j = rng.integers(0, target.n_components, (2, n))
    mid = 0.5 * (law.means[i] + law.means[j])
    mid = mid + 0.3 * float(np.sqrt(law.variances.min())) * rng.standard_normal(mid.shape)
    pts.append(mid if law.basis is None else mid @ law.basis.T)
    return np.concatenate(pts)


@pytest.mark.parametrize("name", ["ring", "cloud", "subspace", "embedded", "gaussian", "unequal", "wide_ring"])
def test_sup_on_bounds_monte_carlo_hessians(name):
    """The true constants (eigenvalues of exact Hessians at random points and times of the interval)
    never exceed the supremum, for both kinds."""
    target = _interval_targets()[name]
    radius = UNEQUAL_RADIUS if name == "unequal" else None
    rng = np.random.default_rng(7)
    t_lo, t_hi = (0.02, 0.5) if name == "unequal" else (2e-3, 0.5)
    sup = lipschitz.sup_on(target, t_lo, t_hi, radius=radius)
    sup_one_sided = lipschitz.sup_on(target, t_lo, t_hi, radius=radius, kind="one_sided")
    largest_norm, largest_top = 0.0, -np.inf
    for t in np.exp(rng.uniform(np.log(t_lo), np.log(t_hi), 40)):
        x = _trial_points(target, t, rng)
        if radius is not None:
            x = x[np.linalg.norm(x, axis=1) <= radius]
        eig = np.linalg.eigvalsh(_hessians(target, x, t))
        largest_norm = max(largest_norm, float(np.max(np.abs(eig))))
        largest_top = max(largest_top, 1.0 + float(np.max(eig[:, -1])))
    assert largest_norm <= sup
    assert largest_top <= sup_one_sided
    assert largest_norm > 0.3 * sup  # the trial points reach the interesting region


def test_hessians_helper_matches_the_single_point_one():
    target = cs.embed(cs.ring_mixture(), 5, lam_perp=0.4)
    x = target.sample(3, 1, t=0.3)
    np.testing.assert_allclose(_hessians(target, x, 0.3), [_hessian(target, p, 0.3) for p in x], atol=1e-10)


def test_sup_on_at_one_time_and_from_zero():
    ring, gauss = cs.make_target("ring"), cs.gaussian([0.0, 1.0], [0.5, 2.0])
    for t in (1e-3, 0.4):
        point = ring.score_lipschitz(t)
        assert point <= lipschitz.sup_on(ring, t, t) <= point * (1 + 1e-11)
    # every variance positive: the bound is finite at t = 0, and a Gaussian's is monotone between the ends
    assert lipschitz.sup_on(gauss, 0.0, 3.0) == pytest.approx(gauss.score_lipschitz(0.0), rel=1e-11)
    assert lipschitz.sup_on(gauss, 0.0, 3.0) >= gauss.score_lipschitz(0.0)


def test_working_sup_on_covers_the_working_bound_and_equals_sup_on_for_equal_variances():
    ring = cs.make_target("ring")
    assert lipschitz.working_sup_on(ring, 0.01, 0.2) == lipschitz.sup_on(ring, 0.01, 0.2)
    times = np.geomspace(0.05, 0.3, 40)
    sup = lipschitz.working_sup_on(UNEQUAL, 0.05, 0.3)
    assert max(lipschitz.working_score_lipschitz(UNEQUAL, float(t)) for t in times) <= sup
    radius = lipschitz.mixture.mass_radius_on(UNEQUAL, 0.05, 0.3)
    assert radius >= max(lipschitz.mass_radius(UNEQUAL, float(t)) for t in times)


def test_ball_sup_on_covers_the_ball_bound():
    times = np.geomspace(1e-3, 4.0, 300)
    for radius, sigma in ((3.0, 0.0), (2.0, 1.5), (1.0, 0.3)):
        sup = lipschitz.ball_sup_on(1e-3, 4.0, radius, sigma)
        values = [lipschitz.ball_lipschitz(float(t), radius, sigma) for t in times]
        assert max(values) <= sup <= 1.01 * max(values) + 1e-12


def test_sup_on_rejects_bad_input():
    ring, cloud = cs.make_target("ring"), cs.make_target("cloud")
    with pytest.raises(ValueError, match="t_lo <= t_hi"):
        lipschitz.sup_on(ring, 0.5, 0.1)
    with pytest.raises(ValueError, match="infinite at t_lo=0"):
        lipschitz.sup_on(cloud, 0.0, 1.0)  # point masses: the score's Lipschitz constant blows up at t = 0
    with pytest.raises(ValueError, match="infinite at t_lo=0"):
        lipschitz.sup_on(cs.make_target("subspace"), 0.0, 1.0)  # data on a subspace
    for bad in (-0.1, np.nan, np.inf, "soon"):
        with pytest.raises(ValueError, match="t_lo"):
            lipschitz.sup_on(ring, bad, 1.0)
    with pytest.raises(ValueError, match="t_hi"):
        lipschitz.sup_on(ring, 0.1, np.inf)
    with pytest.raises(ValueError, match="unknown kind"):
        lipschitz.sup_on(ring, 0.1, 1.0, kind="two_sided")
    with pytest.raises(ValueError, match="no global Lipschitz constant"):
        lipschitz.sup_on(UNEQUAL, 0.1, 1.0)  # unequal variances need radius=
    with pytest.raises(ValueError, match="radius"):
        lipschitz.sup_on(UNEQUAL, 0.1, 1.0, radius=-1.0)
    with pytest.raises(ValueError, match="rtol"):
        lipschitz.sup_on(ring, 0.1, 1.0, rtol=0.0)
    with pytest.raises(ValueError, match="max_pieces"):
        lipschitz.sup_on(ring, 0.1, 1.0, max_pieces=0)
    with pytest.raises(ValueError, match="tail"):
        lipschitz.working_sup_on(UNEQUAL, 0.1, 1.0, tail=2.0)
    with pytest.raises(ValueError, match="infinite at t_lo=0"):
        lipschitz.ball_sup_on(0.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="R must be"):
        lipschitz.ball_sup_on(0.1, 1.0, -3.0)


def test_posterior_covariance_bound_sup_on_covers_every_temperature():
    from certsample.lipschitz.tilted_covariance import PosteriorCovarianceBound

    rng = np.random.default_rng(5)
    pts = rng.uniform(-0.7, 0.7, (9, 2))
    bound = PosteriorCovarianceBound(pts, rng.uniform(0.2, 1.0, 9))
    for lam_lo, lam_hi in ((0.05, 0.2), (0.1, 3.0), (0.3, 0.45), (2.0, 700.0)):
        sup = bound.sup_on(lam_lo, lam_hi)
        values = [bound(lam) for lam in np.geomspace(lam_lo, lam_hi, 200)]
        assert max(values) <= sup <= bound.popoviciu + 1e-12
    assert bound.sup_on(1.5, 1.5) == bound(1.5)
    with pytest.raises(ValueError, match="lam_lo <= lam_hi"):
        bound.sup_on(2.0, 1.0)


def test_diagonal_mixture_hessian_sup_over_a_parameter_box():
    rng = np.random.default_rng(11)
    centres = rng.normal(0, 1.5, (4, 2))
    variances = rng.uniform(0.2, 0.8, (4, 2))
    weights = rng.uniform(0.5, 1.0, 4)
    weights /= weights.sum()
    centres_hi, variances_hi = centres + 0.02, variances * 1.02
    bound = diagonal_mixture_hessian_sup(
        centres, variances, weights, 3.0, centres_hi=centres_hi, variances_hi=variances_hi
    )
    # no range: the search without one, bit for bit
    assert diagonal_mixture_hessian_sup(
        centres, variances, weights, 3.0, centres_hi=centres, variances_hi=variances
    ) == diagonal_mixture_hessian_sup(centres, variances, weights, 3.0)
    pts = rng.standard_normal((3000, 2))
    pts *= 3.0 * rng.uniform(0, 1, (3000, 1)) ** 0.5 / np.linalg.norm(pts, axis=1, keepdims=True)
    found = -np.inf
    for corner in range(6):
        u, s = rng.uniform(0, 1, centres.shape), rng.uniform(0, 1, centres.shape)
        if corner < 2:
            u[:], s[:] = corner, corner
        c, v = centres + u * (centres_hi - centres), variances + s * (variances_hi - variances)
        found = max(found, max(_top_eigenvalue(c, v, weights, p) for p in pts))
        assert diagonal_mixture_hessian_sup(c, v, weights, 3.0) <= bound + 0.12 * max(abs(bound), 1 / v.max())
    assert found <= bound
    with pytest.raises(ValueError, match="at least"):
        diagonal_mixture_hessian_sup(centres, variances, weights, 3.0, variances_hi=variances * 0.5)


def test_shared_radius_is_a_larger_ball_of_three_digits():
    from certsample.lipschitz import shared_radius

    rng = np.random.default_rng(5)
    for r in np.concatenate([10.0 ** rng.uniform(-8, 8, 200), [1.0, 999.0, 1000.0, 0.1]]):
        up = shared_radius(float(r))
        assert r <= up <= r * (1 + 1.01e-2)
        assert float(f"{up:.3g}") == pytest.approx(up, rel=1e-11)
    assert shared_radius(0.0) == 0.0 and shared_radius(math.inf) == math.inf
    with pytest.raises(ValueError, match="NaN"):
        shared_radius(math.nan)


def test_the_circle_radius_and_deviation_are_rounded_up_from_the_exact_distances():
    """The circle-tilt bound needs ``0 <= R^2 - |mu_c - m|^2 <= dev`` exactly; in float64 the ring of radius 4
    gave ``R^2 = 16`` and ``dev = 0`` though a mean lies farther than 4 from the fitted centre."""
    from fractions import Fraction

    from certsample.lipschitz.mixture import _circle_radius_and_deviation

    plane = cs.ring_mixture(radius=4.0).means
    centre = np.linalg.lstsq(np.column_stack([2 * plane, np.ones(len(plane))]), np.sum(plane**2, axis=1), rcond=None)[
        0
    ][:2]
    exact = [sum((Fraction(float(p)) - Fraction(float(c))) ** 2 for p, c in zip(row, centre)) for row in plane]
    radius2, dev = _circle_radius_and_deviation(plane, centre)
    assert Fraction(radius2) >= max(exact) and Fraction(radius2) - min(exact) <= Fraction(dev)
    assert float(np.max(np.sum((plane - centre) ** 2, axis=1))) < max(exact) and dev > 0  # float64 fell short


def test_tempered_cells_hold_the_exact_value_at_high_temperature():
    """At ``lam = 3000`` and ``|z| = 70`` the exponents ``lam |p_c - z|^2`` are about ``1.5 10^7`` and their float64
    differences err by about ``10^-9``: a cell of one point (``rho``, ``phi``, ``lam`` each a single value) must
    still bound the exact ``lambda_max Cov`` there, computed with 50 digits, to within the ``1e-12`` its callers
    add for the rounding of the moment itself. The points are near ties between two of
    the cloud's points at that radius (exponents 1.3 apart), where the covariance moves most with them."""
    import mpmath

    from certsample.lipschitz.tilted_covariance import _tempered_cells

    target = cs.make_target("cloud")
    means = target.means - target.means.mean(axis=0)
    pts = means / np.max(np.linalg.norm(means, axis=1))
    w = target.weights / target.weights.sum()
    log_w = np.log(w)
    lam, rho = 3000.0, 70.0

    def exponents(phi):
        z = rho * np.array([math.cos(phi), math.sin(phi)])
        return log_w - lam * np.sum((pts - z) ** 2, axis=1)

    grid = np.linspace(0.0, 2 * math.pi, 4001)
    leader = np.array([np.argmax(exponents(phi)) for phi in grid])
    cells = []
    for k in np.flatnonzero(leader[1:] != leader[:-1])[:24]:  # where the leading point changes: a tie between
        a, b, lo, hi = leader[k], leader[k + 1], grid[k], grid[k + 1]  # the two, found by bisection
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            ell = exponents(mid)
            lo, hi = (mid, hi) if ell[a] - ell[b] > 1.3 else (lo, mid)  # off the tie: most sensitive
        cells.append([rho, rho, lo, lo, lam, lam])
    cells = np.array(cells)
    bound, value, axis = np.empty(len(cells)), np.empty(len(cells)), np.empty(len(cells), dtype=np.int64)
    _tempered_cells(pts, log_w, cells, bound, value, axis)
    mpmath.mp.dps = 50
    P = [(mpmath.mpf(float(a)), mpmath.mpf(float(b))) for a, b in pts]
    L = [mpmath.log(mpmath.mpf(float(x))) for x in w]
    checked = 0
    for row, found in zip(cells, bound):
        zx, zy = (
            mpmath.mpf(row[0]) * mpmath.cos(mpmath.mpf(row[2])),
            mpmath.mpf(row[0]) * mpmath.sin(mpmath.mpf(row[2])),
        )
        ell = [lc - lam * ((px - zx) ** 2 + (py - zy) ** 2) for lc, (px, py) in zip(L, P)]
        top = max(ell)
        r = [mpmath.exp(e - top) for e in ell]
        total = sum(r)
        mx, my = sum(ri * px for ri, (px, _) in zip(r, P)) / total, sum(ri * py for ri, (_, py) in zip(r, P)) / total
        sxx = sum(ri * (px - mx) ** 2 for ri, (px, _) in zip(r, P)) / total
        syy = sum(ri * (py - my) ** 2 for ri, (_, py) in zip(r, P)) / total
        sxy = sum(ri * (px - mx) * (py - my) for ri, (px, py) in zip(r, P)) / total
        exact = (sxx + syy) / 2 + mpmath.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
        assert exact <= found + 1e-12, (exact, found)  # the allowance the callers add for the moment's rounding
        checked += exact > 1e-3  # a tie carries real covariance
    assert checked >= 8


def test_a_temperature_just_below_an_octave_end_gets_its_own_octave():
    """``log2`` rounds ``lam`` one ulp below ``TEMPER_MIN 2^k`` up to ``k``: the octave bound used must hold on a
    closed octave that contains ``lam``."""
    from certsample.lipschitz.tilted_covariance import TEMPER_MIN, PosteriorCovarianceBound

    for k in (0, 3, 10, 20):
        end = TEMPER_MIN * 2.0**k
        for lam in (float(np.nextafter(end, 0.0)), end, float(np.nextafter(end, math.inf))):
            found = PosteriorCovarianceBound._octave_of(lam)
            assert TEMPER_MIN * 2.0**found <= lam < TEMPER_MIN * 2.0 ** (found + 1)
    assert math.floor(math.log2(float(np.nextafter(TEMPER_MIN * 2.0**10, 0.0)) / TEMPER_MIN)) == 10  # the trap


def test_the_unequal_variance_bound_is_memoised_per_variance_range_too():
    """Near ``t = 0`` distinct times can give the same ``a`` and different variances: the memo must not return the
    bound of one for the other."""
    from certsample.lipschitz.mixture import _unequal_variance_top

    target = cs.gaussian_mixture([[0.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [2.0, 1.0]])
    narrow = target.variances * 0.5
    first = _unequal_variance_top(target, 1.0, 1.0, target.variances, target.variances, 3.0)
    second = _unequal_variance_top(target, 1.0, 1.0, narrow, narrow, 3.0)
    assert second > first  # narrower components, a larger Hessian
