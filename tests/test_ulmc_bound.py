"""The proved W2 bound of randomized-midpoint ULMC on Gaussians (proofs.ulmc_gaussian)."""

import math

import numpy as np
import pytest
from scipy.linalg import expm

import certsample as cs
from certsample.langevin import sample_logconcave
from certsample.metrics import gaussian_w2
from proofs.ulmc_gaussian import _gauss_legendre, _noise_kernels, _scheme_matrix, exp_generator, ulmc_gaussian_w2_bound

MEAN = np.array([0.3, -0.2])
COV = np.array([[1.0, 0.4], [0.4, 0.6]])
DIAGONAL = np.diag([1.0, 0.6])  # eigen-directions exact: the certified case


@pytest.mark.parametrize("c", [0.3, 1.0, 3.0])
def test_exact_transition_matches_expm_and_keeps_the_stationary_law(c):
    gen = np.array([[0.0, 1.0], [-c, -2.0]])
    assert np.abs(exp_generator(c, 0.7) - expm(0.7 * gen)).max() < 1e-14
    u, h = 0.5, 0.3
    stationary = np.diag([u / c, u])  # y ~ N(0, 1/lam), v ~ N(0, u)
    r, w = _gauss_legendre(0.0, h)
    _, exact = _noise_kernels(c, h, 0.4 * h, r, u)
    phi = exp_generator(c, h)
    assert np.abs(phi @ stationary @ phi.T + np.einsum("r,ri,rj->ij", w, exact, exact) - stationary).max() < 1e-14


def test_scheme_recursion_matches_the_sampler():
    """The recursion's scheme part, A(alpha) and K_s, against the sampler's own chain (200 000 particles)."""
    var, h, n_steps = 2.0, 0.5, 30
    L = 1 / var
    u, c = 1 / L, 1.0
    res = sample_logconcave(cs.gaussian([0.5], [[var]]), n=200_000, n_steps=n_steps, h=h, L=L, seed=1, progress=False)
    alphas, weights = _gauss_legendre(0.0, 1.0)
    lin, q = np.zeros((2, 2, 2, 2)), np.zeros((2, 2))
    for alpha, weight in zip(alphas, weights):
        a = alpha * h
        A = _scheme_matrix(c, h, a)
        lin += weight * np.einsum("ik,jl->ijkl", A, A)
        for lo, hi in ((0.0, a), (a, h)):
            r, wr = _gauss_legendre(lo, hi)
            scheme, _ = _noise_kernels(c, h, a, r, u)
            q += weight * np.einsum("r,ri,rj->ij", wr, scheme, scheme)
    m = np.array([[1.0 + 0.25, 0.0], [0.0, u]])  # y_0 = x_0 - 0.5, x_0 ~ N(0, 1)
    for _ in range(n_steps):
        m = np.einsum("ijkl,kl->ij", lin, m) + q
    y2 = (res.samples[:, 0] - 0.5) ** 2
    assert abs(m[0, 0] - y2.mean()) < 5 * y2.std() / math.sqrt(len(y2))


@pytest.mark.parametrize("cov, h, n_steps", [(COV, 0.2, 3), (COV, 0.8, 30), (DIAGONAL, 0.2, 3), (DIAGONAL, 1.5, 30)])
def test_bound_covers_the_sampler_and_is_tight_early(cov, h, n_steps):
    target = cs.gaussian(MEAN, cov)
    res = sample_logconcave(target, n=100_000, n_steps=n_steps, h=h, seed=0, progress=False)
    assert res.extra["w2_bound_certified"]  # the target's own basis: exact eigen-directions, rotated or not
    bound = res.extra["w2_bound"]
    # Gelbrich: W2 between the laws is at least W2 between Gaussians with their means and covariances
    lower = gaussian_w2(res.samples.mean(axis=0), np.cov(res.samples.T), MEAN, cov)
    assert lower <= bound + 0.01  # 0.01 covers the moments' sampling error at this n
    if n_steps == 3:
        assert bound <= 1.1 * lower  # measured 0.494 against 0.473: the start's offset dominates


def test_bound_floor_falls_like_h_to_the_three_halves():
    L = cs.gaussian(MEAN, COV).score_lipschitz(0.0)
    floors = [ulmc_gaussian_w2_bound(MEAN, COV, h, L, int(60 / h)).value for h in (0.4, 0.2, 0.1)]
    ratios = [floors[0] / floors[1], floors[1] / floors[2]]
    assert all(2.4 < r < 3.2 for r in ratios)  # measured 2.77, 2.79 (2^1.5 = 2.83)
    # more steps never hurt once the start is forgotten, and the start dominates early
    assert ulmc_gaussian_w2_bound(MEAN, COV, 0.2, L, 3).value > 10 * floors[1]


def test_bound_is_only_attached_where_it_is_proved():
    mixture = cs.gaussian_mixture([[-1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]])
    with pytest.warns(RuntimeWarning, match="mixture"):
        res = sample_logconcave(mixture, n=10, n_steps=2, progress=False)
    assert "w2_bound" not in res.extra
    target = cs.gaussian(MEAN, COV)
    res = sample_logconcave(target, n=10, n_steps=2, x_init=np.zeros((10, 2)), progress=False)
    assert "w2_bound" not in res.extra  # a start other than the default is not the proof's coupling
    assert not ulmc_gaussian_w2_bound(MEAN, COV, 0.2, 1.0, 10).certified
    assert "eigh" in ulmc_gaussian_w2_bound(MEAN, COV, 0.2, 1.0, 10).reason
    with pytest.raises(ValueError, match="positive definite"):
        ulmc_gaussian_w2_bound([0.0, 0.0], [[1.0, 0.0], [0.0, 0.0]], 0.2, 1.0, 10)
    with pytest.raises(ValueError, match="h and L"):
        ulmc_gaussian_w2_bound(MEAN, COV, -0.1, 1.0, 10)


def test_distinct_tiny_variances_get_their_own_operators():
    """Eigen-directions share their step operators only when their variances are equal: 1e-16 and 4e-16 once shared
    one (a cache key rounded to 15 decimals), and the bound came out a million times below the true error."""
    both = ulmc_gaussian_w2_bound(np.zeros(2), np.diag([1e-16, 4e-16]), 0.2, 1e16, 100).value
    each = [ulmc_gaussian_w2_bound(np.zeros(1), np.diag([s]), 0.2, 1e16, 100).value for s in (1e-16, 4e-16)]
    assert both == pytest.approx(math.hypot(*each), rel=1e-9) and both > 0.07


def test_a_curvature_bound_below_the_targets_still_covers_the_sampler():
    """The quadrature error is bounded for every ``c = u / s_i`` and ``h``: a chain run with ``L`` an eighth of the
    target's curvature gets a certified bound, and it covers the chain's law."""
    target = cs.gaussian(MEAN, DIAGONAL)
    L = target.score_lipschitz(0.0) / 8
    bound = ulmc_gaussian_w2_bound(MEAN, DIAGONAL, 0.2, L, 20)
    res = sample_logconcave(target, n=100_000, n_steps=20, h=0.2, L=L, seed=2, progress=False)
    assert bound.certified and res.extra["w2_bound"] == bound.value
    assert gaussian_w2(res.samples.mean(axis=0), np.cov(res.samples.T), MEAN, DIAGONAL) <= bound.value + 0.01


def test_long_runs_of_small_steps_are_evaluated_in_balls():
    """At h = 1e-4 the recursion's ``A - Phi`` cancels and float64 lost 3e-4 of the value over 4e5 steps (1e-1 at
    h = 3e-4 over 1e7): the Arb evaluation agrees with an independent 60-digit mpmath evaluation of the same 24-node
    recursion (1.660557463804254e-09 and 1.0473412143260002e-09, its nodes the doubles of NumPy's rule) to 1e-10."""
    first = ulmc_gaussian_w2_bound([0.0], [[1.0]], 1e-4, 100.0, 400_000)
    second = ulmc_gaussian_w2_bound([0.0], [[1.0]], 3e-4, 1000.0, 10_000_000)
    assert first.certified and second.certified
    assert first.value == pytest.approx(1.660557463804254e-09, rel=1e-10)
    assert second.value == pytest.approx(1.0473412143260002e-09, rel=1e-9)


class _ComplexOps:
    exp, expm1 = staticmethod(np.exp), staticmethod(np.expm1)

    @staticmethod
    def cosh_sinhc(c, s):
        w = np.sqrt(complex(1.0 - c))
        return np.cosh(w * s), np.sinh(w * s) / w


@pytest.mark.parametrize("c, h", [(0.5, 0.2), (4.0, 1.0), (30.0, 0.2)])
@pytest.mark.parametrize("rho", [2.0, 8.0])
def test_majorants_bound_the_integrands_on_the_ellipse(c, h, rho):
    """The quadrature error bound's moduli (``_moduli``) lie above the integrands at points of the Bernstein ellipse."""
    from proofs.balls import arb
    from proofs.ulmc_gaussian import _coupled_entries, _kernel_entries, _moduli, _scheme_entries, _transition_entries

    product, square, _ = (float(x.upper()) for x in _moduli(arb(c), arb(h), arb(rho)))
    zeta = rho * np.exp(2j * np.pi * np.arange(64) / 64)
    alpha = 0.5 + (zeta + 1 / zeta) / 4  # the ellipse of [0, 1]
    a = alpha * h
    phi = _transition_entries(c, h, _ComplexOps)
    T = _coupled_entries(_scheme_entries(c, h, a, _ComplexOps), phi, np.zeros_like(a))
    largest = max(np.max(np.abs(np.broadcast_to(entry, a.shape))) for row in T for entry in row)
    assert largest**2 <= product
    r = a * 0.7  # a point of the inner segment [0, a]
    scheme, exact = _kernel_entries(c, h, a, r, -np.expm1(-2 * (a - r)), _ComplexOps)
    n = np.array([scheme[0] - exact[0], scheme[1] - exact[1], exact[0], exact[1]])
    assert np.max(np.abs(n)) ** 2 <= square


def test_a_rotated_or_embedded_gaussian_gets_a_certified_bound_from_its_own_basis():
    """``gaussian_directions`` reads the eigen-directions off the stored basis: the same bound as the float64 ``eigh``
    of the covariance gives, now certified, and it covers the sampler in 5-d with a 2-d basis and ``lam_perp``."""
    from certsample.langevin import gaussian_directions

    rotated = cs.gaussian(MEAN, COV)
    L = rotated.score_lipschitz(0.0)
    from_eigh = ulmc_gaussian_w2_bound(MEAN, COV, 0.2, L, 10)
    own = ulmc_gaussian_w2_bound(
        rotated.mean(), rotated.covariance(), 0.2, L, 10, directions=gaussian_directions(rotated)
    )
    assert own.certified and not from_eigh.certified
    assert own.value == pytest.approx(from_eigh.value, rel=1e-9)

    embedded = cs.embed(cs.gaussian([0.8, -0.4], [0.5, 1.5]), 5, seed=3, lam_perp=0.8)
    variances, offsets = gaussian_directions(embedded)
    assert np.allclose(np.sort(variances), np.linalg.eigvalsh(embedded.covariance()), atol=1e-14)
    assert np.linalg.norm(offsets) == pytest.approx(np.linalg.norm(embedded.mean()), rel=1e-14)
    res = sample_logconcave(embedded, n=100_000, n_steps=8, h=0.3, seed=4, progress=False)
    assert res.extra["w2_bound_certified"]
    lower = gaussian_w2(res.samples.mean(axis=0), np.cov(res.samples.T), embedded.mean(), embedded.covariance())
    assert lower <= res.extra["w2_bound"] + 0.01
    with pytest.raises(ValueError, match="directions"):
        ulmc_gaussian_w2_bound(MEAN, COV, 0.2, L, 10, directions=(np.ones(3), np.zeros(3)))
