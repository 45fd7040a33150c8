"""Tests of certsample.metrics against independent references (SciPy, mpmath, closed forms)."""

import math
import tracemalloc

import mpmath
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist, pdist
from scipy.stats import norm

import certsample as cs
import certsample.evaluate
from certsample import metrics as M


def _spd(rng, d, floor=0.1):
    a = rng.standard_normal((d, d))
    return a @ a.T + floor * np.eye(d)


def _w2_scipy(m1, c1, m2, c2):
    s2 = scipy.linalg.sqrtm(c2)
    cross = scipy.linalg.sqrtm(s2 @ c1 @ s2)
    val = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * cross)
    return math.sqrt(float(np.real(val)))


# ------------------------------------------------------------------------------------------------
# gaussian_w2
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_w2_matches_scipy_sqrtm(d, seed):
    rng = np.random.default_rng(seed)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    c1, c2 = _spd(rng, d), _spd(rng, d)
    ref = _w2_scipy(m1, c1, m2, c2)
    assert M.gaussian_w2(m1, c1, m2, c2) == pytest.approx(ref, rel=1e-9)
    assert M.gaussian_w2(m2, c2, m1, c1) == pytest.approx(ref, rel=1e-9)  # symmetric


def test_w2_closed_forms_1d_and_conventions():
    assert M.gaussian_w2(0.0, 1.0, 0.0, 4.0) == pytest.approx(1.0, abs=1e-15)
    assert M.gaussian_w2(1.0, 1.0, -2.0, 1.0) == pytest.approx(3.0, abs=1e-15)
    # W2^2 = |dm|^2 + (sigma1 - sigma2)^2 in 1-D, checked through every covariance form
    expected = math.sqrt(0.5**2 + (math.sqrt(2.0) - math.sqrt(3.0)) ** 2)
    for c1, c2 in [(2.0, 3.0), ([2.0], [3.0]), ([[2.0]], [[3.0]]), (2.0, [[3.0]])]:
        assert M.gaussian_w2([0.5], c1, [0.0], c2) == pytest.approx(expected, rel=1e-14)
    # isotropic / diagonal / full all agree in d = 3
    rng = np.random.default_rng(3)
    m1, m2 = rng.standard_normal(3), rng.standard_normal(3)
    v1, v2 = rng.uniform(0.5, 2.0, 3), rng.uniform(0.5, 2.0, 3)
    diag = M.gaussian_w2(m1, v1, m2, v2)
    assert M.gaussian_w2(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(diag, rel=1e-12)
    assert M.gaussian_w2(m1, v1, m2, np.diag(v2)) == pytest.approx(diag, rel=1e-12)
    assert M.gaussian_w2(m1, 1.5, m2, v2) == pytest.approx(M.gaussian_w2(m1, np.full(3, 1.5), m2, v2), rel=1e-15)
    c = _spd(rng, 3)
    assert M.gaussian_w2(m1, c, m1, c) == pytest.approx(0.0, abs=1e-7)


def test_w2_near_equal_covariances_match_mpmath():
    # The plain trace formula can only resolve W2 down to ~sqrt(eps tr C) ~ 1e-8; the map form
    # keeps relative accuracy for nearby covariances.
    rng = np.random.default_rng(7)
    d = 4
    c1 = _spd(rng, d, floor=0.5)
    p = rng.standard_normal((d, d))
    c2 = c1 + 1e-8 * (p + p.T)
    mpmath.mp.dps = 60
    C1, C2 = mpmath.matrix(c1.tolist()), mpmath.matrix(c2.tolist())
    S = mpmath.sqrtm(C2)
    cross = mpmath.sqrtm(S * C1 * S)
    ref = mpmath.sqrt(sum((C1 + C2 - 2 * cross)[i, i] for i in range(d)))
    got = M.gaussian_w2(np.zeros(d), c1, np.zeros(d), c2)
    assert got == pytest.approx(float(ref), rel=1e-6)


# ------------------------------------------------------------------------------------------------
# gaussian_kl
# ------------------------------------------------------------------------------------------------


def _kl_direct(m1, c1, m2, c2):
    d = len(m1)
    c2inv = np.linalg.inv(c2)
    dm = m2 - m1
    return 0.5 * (np.trace(c2inv @ c1) - d + dm @ c2inv @ dm + np.linalg.slogdet(c2)[1] - np.linalg.slogdet(c1)[1])


def test_kl_closed_form_1d():
    assert M.gaussian_kl(0.0, 1.0, 0.0, 2.0) == pytest.approx(0.5 * (0.5 - 1 + math.log(2)), rel=1e-14)
    # mean term 0.5 dm^2 / v2
    assert M.gaussian_kl(1.0, 2.0, 0.0, 2.0) == pytest.approx(0.25, rel=1e-14)
    assert M.gaussian_kl([0.3], [[1.5]], [0.0], 1.5) == pytest.approx(0.5 * 0.09 / 1.5, rel=1e-14)
    assert M.gaussian_kl(0.0, 1.0, 0.0, 1.0) == 0.0


@pytest.mark.parametrize("d", [1, 3, 6])
def test_kl_matches_direct_formula(d):
    rng = np.random.default_rng(d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    c1, c2 = _spd(rng, d), _spd(rng, d)
    assert M.gaussian_kl(m1, c1, m2, c2) == pytest.approx(_kl_direct(m1, c1, m2, c2), rel=1e-10)
    v1, v2 = rng.uniform(0.2, 3.0, d), rng.uniform(0.2, 3.0, d)
    ref = _kl_direct(m1, np.diag(v1), m2, np.diag(v2))
    assert M.gaussian_kl(m1, v1, m2, v2) == pytest.approx(ref, rel=1e-10)
    assert M.gaussian_kl(m1, np.diag(v1), m2, v2) == pytest.approx(ref, rel=1e-10)
    assert M.gaussian_kl(m1, 0.7, m2, v2) == pytest.approx(_kl_direct(m1, 0.7 * np.eye(d), m2, np.diag(v2)), rel=1e-10)


@pytest.mark.parametrize("dv", [2e-7, -3e-9, 1e-4, 0.2, -0.3, 5.0])
def test_kl_tiny_difference_diagonal_vs_mpmath(dv):
    mpmath.mp.dps = 50
    v1, v2 = np.array([1.0 + dv, 0.7]), np.array([1.0, 0.7])
    r = mpmath.mpf(float(v1[0])) / mpmath.mpf(1.0)
    ref = 0.5 * (r - 1 - mpmath.log(r))
    assert M.gaussian_kl(np.zeros(2), v1, np.zeros(2), v2) == pytest.approx(float(ref), rel=1e-6)


def test_kl_tiny_difference_full_vs_mpmath():
    mpmath.mp.dps = 60
    rng = np.random.default_rng(11)
    d = 3
    c1 = _spd(rng, d, floor=0.5)
    p = rng.standard_normal((d, d))
    c2 = c1 + 1e-7 * (p + p.T)
    m2 = np.array([1e-7, 0.0, -2e-7])
    C1, C2 = mpmath.matrix(c1.tolist()), mpmath.matrix(c2.tolist())
    dm = mpmath.matrix([[-x] for x in m2.tolist()])
    C2inv = C2**-1
    ref = 0.5 * (
        sum((C2inv * C1)[i, i] for i in range(d))
        - d
        + (dm.T * C2inv * dm)[0, 0]
        - mpmath.log(mpmath.det(C1) / mpmath.det(C2))
    )
    got = M.gaussian_kl(np.zeros(d), c1, m2, c2)
    assert 0 < float(ref) < 1e-12
    assert got == pytest.approx(float(ref), rel=1e-6)


# ------------------------------------------------------------------------------------------------
# sliced_w2
# ------------------------------------------------------------------------------------------------


def test_sliced_w2_same_law_is_small_and_shift_gives_norm_over_sqrt_d():
    rng = np.random.default_rng(0)
    d = 3
    x = rng.standard_normal((10000, d))
    y = rng.standard_normal((10000, d))
    assert M.sliced_w2(x, y) < 0.05  # empirical-vs-empirical W2 decays slowly (~0.026 here)
    # shift m: each projected distance is |u.m| (plus sampling noise), E (u.m)^2 = |m|^2 / d
    shift = np.array([1.0, 2.0, 2.0])
    n = 4000
    got = M.sliced_w2(x[:n], y[:n] + shift, n_projections=1000, seed=1)
    assert got == pytest.approx(np.linalg.norm(shift) / math.sqrt(d), rel=0.04)


def _w2_1d_by_replication(a, b):
    # independent exact 1-D W2 between empirical laws: replicate atoms to a common count
    n, m = len(a), len(b)
    lcm = n * m // math.gcd(n, m)
    ra = np.repeat(np.sort(a), lcm // n)
    rb = np.repeat(np.sort(b), lcm // m)
    return math.sqrt(np.mean((ra - rb) ** 2))


@pytest.mark.parametrize("n,m", [(7, 7), (6, 9), (10, 4), (13, 5)])
def test_sliced_w2_1d_is_exact_empirical_w2(n, m):
    rng = np.random.default_rng(n * 100 + m)
    a = rng.standard_normal(n)
    b = rng.standard_normal(m) * 2 + 0.5
    ref = _w2_1d_by_replication(a, b)
    assert M.sliced_w2(a, b, n_projections=3) == pytest.approx(ref, rel=1e-12)
    assert M.sliced_w2(a[:, None], b[:, None], n_projections=3) == pytest.approx(ref, rel=1e-12)


def test_sliced_w2_unequal_sizes_and_determinism():
    x = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]])
    assert M.sliced_w2(x, np.repeat(x, 2, axis=0)) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((37, 4))
    assert M.sliced_w2(a, b, seed=5) == M.sliced_w2(a, b, seed=5)
    assert M.sliced_w2(a, b, seed=5) == M.sliced_w2(a, b, seed=np.random.default_rng(5))


# ------------------------------------------------------------------------------------------------
# mmd
# ------------------------------------------------------------------------------------------------


def _mmd_brute(x, y, h):
    def k(a, b):
        return np.exp(-cdist(a, b, "sqeuclidean") / (2 * h * h))

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * k(x, y).mean()
    )


@pytest.mark.parametrize("block", [8, 1000, 1 << 20])
def test_mmd_matches_brute_force(monkeypatch, block):
    monkeypatch.setattr(M, "_MMD_BLOCK_BYTES", block)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 2))
    y = rng.standard_normal((211, 2)) * 1.2 + 0.1
    assert M.mmd(x, y, bandwidth=0.8) == pytest.approx(_mmd_brute(x, y, 0.8), rel=1e-10, abs=1e-14)
    # median heuristic: the median distance of the pooled sample (all of it: <= 1000 points)
    h = np.median(pdist(np.concatenate([x, y])))
    assert M.mmd(x, y) == pytest.approx(_mmd_brute(x, y, h), rel=1e-10, abs=1e-14)


def test_mmd_unbiased_under_null_and_positive_under_alternative():
    rng = np.random.default_rng(5)
    n, reps = 300, 40
    null = np.array(
        [M.mmd(rng.standard_normal((n, 2)), rng.standard_normal((n, 2)), bandwidth=1.0) for _ in range(reps)]
    )
    se = null.std(ddof=1) / math.sqrt(reps)
    assert abs(null.mean()) < 4 * se
    alt = M.mmd(rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) + [0.5, 0.0], bandwidth=1.0)
    assert alt > 10 * null.std(ddof=1)
    assert alt > 0.02


def test_mmd_memory_is_chunked():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3000, 2)), rng.standard_normal((3000, 2))
    tracemalloc.start()
    try:
        M.mmd(x, y, bandwidth=1.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # a full 3000 x 3000 kernel matrix alone would be 72 MB


# ------------------------------------------------------------------------------------------------
# tv_histogram and exact bin probabilities
# ------------------------------------------------------------------------------------------------


def _std_normal_bins(edges):
    return M.gaussian_mixture_bin_probability([[0.0]], [[1.0]], [1.0], edges)


def test_bin_probability_matches_scipy_1d_and_tails():
    edges = np.linspace(-6, 6, 49)
    means, variances, weights = [-1.0, 0.5, 2.0], [0.3, 1.0, 2.5], [0.2, 0.5, 0.3]
    got = M.gaussian_mixture_bin_probability(means, variances, weights, edges)
    ref = sum(w * np.diff(norm.cdf(edges, mu, math.sqrt(v))) for mu, v, w in zip(means, variances, weights))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-16)
    wide = M.gaussian_mixture_bin_probability(means, variances, weights, [-60.0, 0.0, 60.0])
    assert wide.sum() == pytest.approx(1.0, abs=1e-15)
    # far tails keep relative accuracy (erfc), where 1 - Phi differences would be pure rounding
    for a, b in [(10.0, 11.0), (-11.0, -10.0)]:
        p = _std_normal_bins([a, b])[0]
        assert p == pytest.approx(norm.sf(10.0) - norm.sf(11.0), rel=1e-12)


def test_bin_probability_2d_product_and_dirac():
    ex, ey = np.linspace(-3, 3, 7), np.linspace(-2, 4, 5)
    means = np.array([[0.0, 1.0], [1.0, -0.5]])
    variances = np.array([[1.0, 0.5], [0.2, 2.0]])
    weights = np.array([0.6, 0.4])
    got = M.gaussian_mixture_bin_probability(means, variances, weights, (ex, ey))
    ref = sum(
        w * np.outer(np.diff(norm.cdf(ex, m[0], math.sqrt(v[0]))), np.diff(norm.cdf(ey, m[1], math.sqrt(v[1]))))
        for m, v, w in zip(means, variances, weights)
    )
    assert got.shape == (6, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-16)
    for edges in ([ex, ey], np.array([np.linspace(0, 1, 4), np.linspace(-1, 0, 4)])):  # other pair forms
        e0, e1 = edges
        np.testing.assert_allclose(
            M.gaussian_mixture_bin_probability(means, variances, weights, edges),
            M.gaussian_mixture_bin_probability(means, variances, weights, (e0, e1)),
        )
    dirac = M.gaussian_mixture_bin_probability([0.5, 3.0], [0.0, 0.0], [0.25, 0.75], [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(dirac, [0.25, 0.75])  # 3.0 is the closed right end of the last bin


def test_tv_histogram_exact_samples_small_and_shift_close_to_exact_tv():
    rng = np.random.default_rng(0)
    n = 200_000
    edges = np.linspace(-5, 5, 81)
    p = _std_normal_bins(edges)
    # Jensen: E TV <= 0.5 sum sqrt(p (1 - p) / n) (bins and the outside cell)
    cells = np.append(p, 1 - p.sum())
    bias_bound = 0.5 * np.sum(np.sqrt(cells * (1 - cells) / n))
    assert M.tv_histogram(rng.standard_normal(n), _std_normal_bins, edges) < bias_bound
    # TV(N(0.5, 1), N(0, 1)) = 2 Phi(0.25) - 1; the binned TV is a lower bound up to noise
    exact = 2 * norm.cdf(0.25) - 1
    tv = M.tv_histogram(rng.standard_normal(n) + 0.5, _std_normal_bins, edges)
    assert exact - 0.01 < tv < exact + bias_bound


def test_tv_histogram_counts_out_of_range_mass():
    # 2 of 4 samples are outside; the reference puts all its mass inside: TV = (0.5 + 0.5) / 2
    assert M.tv_histogram([0.0, 0.2, 5.0, -7.0], lambda e: np.array([1.0]), [-1.0, 1.0]) == pytest.approx(0.5)
    # exact law with mass outside the grid: N(0,1) on [-1, 1] leaves 31.7 % outside
    rng = np.random.default_rng(1)
    tv = M.tv_histogram(rng.standard_normal(100_000), _std_normal_bins, np.linspace(-1, 1, 5))
    assert tv < 0.01
    # all samples in bin [0, 0.5): TV = 1 - p_2, which needs the outside mass 1 - sum(p)
    edges = np.linspace(-1, 1, 5)
    p = _std_normal_bins(edges)
    assert M.tv_histogram(np.zeros(10), _std_normal_bins, edges) == pytest.approx(1 - p[2], rel=1e-12)


def test_tv_histogram_2d_mixture():
    rng = np.random.default_rng(3)
    means = np.array([[-1.0, 0.0], [1.5, 1.0]])
    variances = np.array([[0.5, 0.3], [0.4, 0.8]])
    weights = np.array([0.3, 0.7])
    n = 200_000
    comp = rng.choice(2, size=n, p=weights)
    x = means[comp] + np.sqrt(variances[comp]) * rng.standard_normal((n, 2))
    edges = (np.linspace(-4, 4, 21), np.linspace(-3, 4, 16))

    def prob(e):
        return M.gaussian_mixture_bin_probability(means, variances, weights, e)

    p = prob(edges)
    cells = np.append(p.ravel(), 1 - p.sum())
    bias_bound = 0.5 * np.sum(np.sqrt(np.clip(cells, 0, 1) * (1 - cells) / n))
    assert M.tv_histogram(x, prob, edges) < bias_bound
    assert M.tv_histogram(x + [0.5, 0.0], prob, edges) > 0.1


# ------------------------------------------------------------------------------------------------
# pathwise_error, sample_mean_cov
# ------------------------------------------------------------------------------------------------


def test_pathwise_error():
    out = M.pathwise_error([[0.0, 0.0], [3.0, 4.0]], np.zeros((2, 2)))
    assert out["rms"] == pytest.approx(math.sqrt(12.5))
    assert out["max"] == pytest.approx(5.0)
    out = M.pathwise_error([1.0, -2.0, 2.0], [0.0, 0.0, 0.0])
    assert out["rms"] == pytest.approx(math.sqrt(3.0))
    assert out["max"] == 2.0


def test_sample_mean_cov():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 3))
    mean, cov = M.sample_mean_cov(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# input validation
# ------------------------------------------------------------------------------------------------

_I2 = np.eye(2)
_Z2 = np.zeros(2)
_X = np.zeros((5, 2))


def _bins1(e):
    return np.full(len(e) - 1, 0.1)


BAD = [
    (M.gaussian_w2, ([np.nan, 0.0], _I2, _Z2, _I2), "mean1"),
    (M.gaussian_w2, (_Z2, [[1.0, 0.0], [0.0, np.inf]], _Z2, _I2), "cov1"),
    (M.gaussian_w2, (_Z2, _I2, _Z2, [[1.0, 2.0], [2.0, 1.0]]), "cov2.*positive definite"),
    (M.gaussian_w2, (_Z2, -1.0, _Z2, _I2), "cov1"),
    (M.gaussian_w2, (_Z2, _I2, _Z2, np.eye(3)), "cov2"),
    (M.gaussian_w2, (_Z2, _I2, np.zeros(3), _I2), "mean2"),
    (M.gaussian_w2, (_Z2, [1.0, 2.0, 3.0], _Z2, _I2), "cov1"),
    (M.gaussian_w2, (_Z2, [[1.0, 0.5], [0.0, 1.0]], _Z2, _I2), "cov1.*symmetric"),
    (M.gaussian_w2, (np.zeros((2, 1)), _I2, _Z2, _I2), "mean1"),
    (M.gaussian_kl, (_Z2, _I2, [0.0, np.nan], _I2), "mean2"),
    (M.gaussian_kl, (_Z2, [1.0, 0.0], _Z2, _I2), "cov1.*positive"),
    (M.gaussian_kl, (_Z2, _I2, _Z2, np.zeros((2, 2, 2))), "cov2"),
    (M.sliced_w2, (np.zeros((3, 2, 2)), _X), r"^x\b"),
    (M.sliced_w2, (_X, np.zeros((4, 3))), r"^y\b"),
    (M.sliced_w2, (np.full((3, 2), np.nan), _X), r"^x\b"),
    (M.sliced_w2, (_X, _X, 0), "n_projections"),
    (M.mmd, (_X, np.full((3, 2), np.inf)), r"^y\b"),
    (M.mmd, (_X, _X + 1, -1.0), "bandwidth"),
    (M.mmd, (np.zeros((1, 2)), _X), r"^x\b"),
    (M.tv_histogram, ([0.0, np.nan], _bins1, [0.0, 1.0]), "samples"),
    (M.tv_histogram, ([0.0, 0.5], _bins1, [0.0, 1.0, 0.5]), "edges"),
    (M.tv_histogram, ([0.0, 0.5], lambda e: np.ones(5) / 10, [0.0, 1.0]), "bin_probability"),
    (M.tv_histogram, ([0.0, 0.5], lambda e: np.array([1.5]), [0.0, 1.0]), "bin_probability"),
    (M.tv_histogram, ([0.0, 0.5], "not callable", [0.0, 1.0]), "bin_probability"),
    (M.tv_histogram, (np.zeros((4, 3)), _bins1, ([0.0, 1.0], [0.0, 1.0])), "samples"),
    (M.gaussian_mixture_bin_probability, ([0.0], [1.0], [0.5], [0.0, 1.0]), "weights"),
    (M.gaussian_mixture_bin_probability, ([0.0], [-1.0], [1.0], [0.0, 1.0]), "variances"),
    (M.gaussian_mixture_bin_probability, (np.zeros((1, 3)), np.ones((1, 3)), [1.0], [0.0, 1.0]), "means"),
    (M.gaussian_mixture_bin_probability, ([0.0], [1.0], [1.0], [[0.0, 1.0]]), "edges"),
    (M.pathwise_error, (_X, np.zeros((5, 3))), "x_ref"),
    (M.pathwise_error, (np.full((5, 2), np.inf), _X), r"^x\b"),
    (M.sample_mean_cov, (np.zeros((1, 2)),), r"^x\b"),
]


@pytest.mark.parametrize("func,args,pattern", BAD, ids=[f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_bad_inputs_raise_value_error_naming_argument(func, args, pattern):
    with pytest.raises(ValueError, match=pattern):
        func(*args)


def test_gaussian_w2_on_nearly_singular_and_extreme_covariances():
    """Covariances that pass the positive-definiteness check but are nearly singular, and extreme scales: the
    distance of a matrix to itself stays near 0 (it read 0.73, 1.4e-6 and 7.1e-5) and the scaled distance is
    scale-free (it read 1.41 at 1e-200 and NaN at 1e200)."""
    from certsample.metrics import gaussian_w2

    c = np.array(
        [
            [1.0630832976549682, 0.04762477919031061, -0.29105904405201444],
            [0.04762477919031061, 0.3178665502563987, 0.1580226596927705],
            [-0.29105904405201444, 0.1580226596927705, 0.1723683012055649],
        ]
    )
    assert gaussian_w2(np.zeros(3), c, np.zeros(3), c) < 1e-7
    turn = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    for lam in (1e-8, 1e-14):
        rotated = turn @ np.diag([1.0, lam]) @ turn.T
        assert gaussian_w2(np.zeros(2), rotated, np.zeros(2), rotated) < 1e-7
    thin = turn @ np.diag([1.0, 1e-14]) @ turn.T  # against its diagonal form: 0.2988762649 (mpmath, 60 digits)
    assert gaussian_w2(np.zeros(2), thin, np.zeros(2), np.diag([1.0, 1e-14])) == pytest.approx(0.2988762649, rel=1e-9)
    a = np.array([[2.0, 0.3], [0.3, 0.5]])
    reference = gaussian_w2(np.zeros(2), a, np.zeros(2), np.eye(2))
    for scale in (1e-200, 1e-160, 1e200):
        scaled = gaussian_w2(np.zeros(2), scale * a, np.zeros(2), scale * np.eye(2)) / np.sqrt(scale)
        assert scaled == pytest.approx(reference, rel=1e-12)


def test_mmd_is_translation_and_scale_invariant():
    """A common offset of 1e8 (it was refused as coincident points) or a scale of 1e-160 (NaN) leaves it as is."""
    from certsample.metrics import median_bandwidth, mmd

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 2)), 1.1 * rng.standard_normal((300, 2)) + 0.1
    reference = mmd(x, y)
    assert mmd(x + 1e8, y + 1e8) == pytest.approx(reference, rel=1e-6, abs=1e-9)
    for scale in (1e-160, 1e160):
        assert mmd(scale * x, scale * y) == pytest.approx(reference, rel=1e-9)
        assert median_bandwidth(scale * x, scale * y) == pytest.approx(scale * median_bandwidth(x, y), rel=1e-12)


def test_sample_errors_with_fewer_samples_than_dimensions():
    target = cs.make_target("gaussian", dim=20)
    errors = cs.evaluate.sample_errors(target, target.sample(10, seed=1), 1e-3)
    assert "gaussian_w2_moments" not in errors and "sliced_w2" in errors
    with pytest.raises(ValueError, match="samples contain NaN"):
        cs.evaluate.sample_errors(target, np.full((10, 20), np.nan), 1e-3)


def test_scipy_flow_matches_the_gaussian_closed_form_in_every_form():
    """The scipy reference flow against the exact Gaussian flow map: batched, row by row, an implicit method with the
    block sparsity, paths at unsorted times, and carried back to ``T`` again."""
    from certsample.evaluate import scipy_flow
    from certsample.exact import gaussian_flow_map

    target = cs.gaussian([0.5, -1.0], [0.3, 2.0])
    x0 = target.law_at(3.0).sample(5, seed=1)
    exact = gaussian_flow_map(target, x0, 3.0, 0.01)
    for options, tol in (({}, 1e-12), ({"each": True}, 1e-12), ({"method": "Radau", "rtol": 1e-10}, 1e-9)):
        points, nfev = scipy_flow(target, x0, 3.0, 0.01, **options)
        assert points.shape == x0.shape and np.max(np.abs(points - exact)) < tol and nfev > 10
    times = [0.5, 2.0, 0.01, 1.0]
    paths, _ = scipy_flow(target, x0, 3.0, 0.01, rtol=1e-12, times=times)
    assert paths.shape == (5, 4, 2)
    for j, t in enumerate(times):
        assert np.max(np.abs(paths[:, j] - gaussian_flow_map(target, x0, 3.0, t))) < 1e-11
    back, _ = scipy_flow(target, exact, 0.01, 3.0)
    assert np.max(np.abs(back - x0)) < 1e-11
    with pytest.raises(ValueError, match="times must lie between"):
        scipy_flow(target, x0, 3.0, 0.01, times=[4.0])
    with pytest.raises(ValueError, match="x0 must be a finite array"):
        scipy_flow(target, x0[0], 3.0, 0.01)
    with pytest.raises(ValueError, match="rtol"):
        scipy_flow(target, x0, 3.0, 0.01, rtol=0.0)
    with pytest.raises(ValueError, match="differ"):
        scipy_flow(target, x0, 3.0, 3.0)
    with pytest.raises(ValueError, match="atol"):
        scipy_flow(target, x0, 3.0, 0.01, atol=-1.0)
    relative, _ = scipy_flow(target, x0, 3.0, 0.01, rtol=1e-12, atol=0.0)
    assert np.max(np.abs(relative - exact)) < 1e-10


def test_gaussian_w2_of_degenerate_gaussians_when_asked():
    """A covariance of fewer distinct points than ``d + 1`` is singular: refused by default, and with ``semidefinite``
    the closed form (rank one along ``u`` against the identity: ``W2^2 = |m|^2 + (1 - 1)^2 + (d - 1)``)."""
    from certsample.metrics import gaussian_w2

    u = np.array([0.6, 0.8, 0.0])
    rank_one = np.outer(u, u)
    with pytest.raises(ValueError, match="not positive definite"):
        gaussian_w2(np.zeros(3), rank_one, np.zeros(3), np.eye(3))
    mean = np.array([1.0, 0.0, 2.0])
    assert gaussian_w2(mean, rank_one, np.zeros(3), np.eye(3), semidefinite=True) == pytest.approx(math.sqrt(5 + 2))
    assert gaussian_w2([0.0, 0.0], [0.0, 4.0], [0.0, 0.0], [0.0, 1.0], semidefinite=True) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="semidefinite"):
        gaussian_w2(np.zeros(3), -rank_one, np.zeros(3), np.eye(3), semidefinite=True)
