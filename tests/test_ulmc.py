"""Randomized-midpoint ULMC: the Brownian-integral law, the exact chain law on Gaussians, backends."""

import json
import math

import mpmath
import numpy as np
import pytest
from scipy.integrate import quad

from certsample.forward import TimeGrid
from certsample.kernels.runner import run_kernel
from certsample.langevin import sample_logconcave
from certsample.noise import NoiseSource
from certsample.oracle import ScoreOracle
from certsample.solvers.ulmc import (
    DEFAULT_H,
    ULMC_WORK,
    RandomizedMidpointULMC,
    brownian_g,
    ulmc_cholesky,
    ulmc_covariance,
    ulmc_noise_factor,
    ulmc_noise_factor_numpy,
    ulmc_step,
    ulmc_step_numpy,
)
from certsample.targets import gaussian, gaussian_mixture, point_cloud


def _normalised(diff, cov):
    """Entry-wise error relative to ``sqrt(C_ii C_jj)`` (the natural scale of ``C_ij``)."""
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    return np.max(np.abs(diff) / scale)


def _integrands(alpha, h):
    a = alpha * h
    return (
        lambda s: 1.0 - np.exp(-2.0 * (a - s)) if s < a else 0.0,
        lambda s: 1.0 - np.exp(-2.0 * (h - s)),
        lambda s: np.exp(-2.0 * (h - s)),
    )


# ---------------------------------------------------------------------- covariance of (W1, W2, W3)
@pytest.mark.parametrize("alpha,h", [(0.3, 1.0), (0.7, 0.05), (0.999, 0.01), (0.01, 2.0), (0.5, 1e-3), (0.9, 0.6)])
def test_covariance_matches_ito_isometry_by_quadrature(alpha, h):
    funcs = _integrands(alpha, h)
    expected = np.array(
        [
            [
                quad(lambda s: fi(s) * fj(s), 0.0, h, points=[alpha * h], epsabs=0.0, epsrel=1e-13, limit=200)[0]
                for fj in funcs
            ]
            for fi in funcs
        ]
    )
    cov = ulmc_covariance(alpha, h)
    assert _normalised(cov - expected, expected) < 1e-13
    # the closed forms of the summary: C22 = g(h), C23 = E_h^2/4, C33 = (1 - e^{-4h})/4
    e_h = -math.expm1(-2.0 * h)
    assert cov[1, 1] == pytest.approx(brownian_g(h), rel=1e-14)
    assert cov[1, 2] == pytest.approx(0.25 * e_h * e_h, rel=1e-14)
    assert cov[2, 2] == pytest.approx(-0.25 * math.expm1(-4.0 * h), rel=1e-14)


def test_covariance_matches_monte_carlo_of_one_brownian_path():
    alpha, h, n_grid, n_paths = 0.4, 0.7, 800, 4000
    ds = h / n_grid
    mid = (np.arange(n_grid) + 0.5) * ds  # midpoint rule: O(ds^2) bias, far below the MC error
    a = alpha * h
    weights = np.stack(
        [
            np.where(mid < a, 1.0 - np.exp(-2.0 * (a - mid)), 0.0),
            1.0 - np.exp(-2.0 * (h - mid)),
            np.exp(-2.0 * (h - mid)),
        ]
    )
    increments = np.random.default_rng(20240607).standard_normal((n_paths, n_grid)) * math.sqrt(ds)
    w = increments @ weights.T  # one path drives all three integrals
    estimate = w.T @ w / n_paths
    cov = ulmc_covariance(alpha, h)
    # standard error of a Gaussian second moment: sqrt((C_ii C_jj + C_ij^2) / M)
    stderr = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n_paths)
    assert np.max(np.abs(estimate - cov) / stderr) < 4.5
    # power: the same data reject independent W's (the correlations are strong)
    independent = np.diag(np.diag(cov))
    assert np.max(np.abs(estimate - independent) / stderr) > 20.0


ALPHAS = np.array([1e-12, 1e-6, 0.01, 0.3, 0.5, 0.9, 1.0 - 1e-9, 1.0 - 1e-15])
STEPS = np.array([1e-4, 1e-2, 0.3, 1.0, 5.0])


def test_cholesky_reproduces_covariance_for_all_alpha_and_h():
    for h in STEPS:
        chol = ulmc_cholesky(ALPHAS, h)
        cov = ulmc_covariance(ALPHAS, h)
        for lo, c in zip(chol, cov):
            assert np.all(np.triu(lo, 1) == 0.0) and np.all(np.diag(lo) >= 0.0)
            assert _normalised(lo @ lo.T - c, c) < 1e-13
        # the scalar device function (run as plain Python) equals the vectorised twin
        for alpha, row in zip(ALPHAS, np.stack(ulmc_noise_factor_numpy(ALPHAS, h), axis=1)):
            np.testing.assert_allclose(ulmc_noise_factor(float(alpha), float(h)), row, rtol=1e-14, atol=0)


def _cholesky_mp(alpha, h):
    """Cholesky of the closed-form covariance in 60-digit arithmetic (no cancellation issue there)."""
    mpmath.mp.dps = 60
    alpha, h = mpmath.mpf(alpha), mpmath.mpf(h)
    a, e = alpha * h, lambda t: 1 - mpmath.exp(-2 * t)
    g = lambda t: t - e(t) / 2 - e(t) ** 2 / 4
    cov = mpmath.matrix(
        [
            [g(a), g(a) + e(h - a) * e(a) ** 2 / 4, mpmath.exp(-2 * (h - a)) * e(a) ** 2 / 4],
            [0, g(h), e(h) ** 2 / 4],
            [0, 0, (1 - mpmath.exp(-4 * h)) / 4],
        ]
    )
    for i in range(3):
        for j in range(i):
            cov[i, j] = cov[j, i]
    return np.array(mpmath.cholesky(cov).tolist(), dtype=float)


@pytest.mark.parametrize("alpha,h", [(1.0 - 1e-9, 0.01), (1e-7, 1e-3), (0.5, 1e-5), (0.999999, 2.0), (0.25, 0.49)])
def test_cholesky_pivots_accurate_in_near_degenerate_cases(alpha, h):
    # alpha -> 1 makes W1 ~ W2 (tiny second pivot); tiny h makes g cancel from O(h) to O(h^3)
    exact = _cholesky_mp(alpha, h)
    ours = ulmc_cholesky(alpha, h)
    np.testing.assert_allclose(ours[np.tril_indices(3)], exact[np.tril_indices(3)], rtol=1e-12, atol=0)


# ---------------------------------------------------------------------- exact law of the chain
def _step_maps(h, u, var, nodes=40):
    """E over alpha of the linear map of one step on a 1-D Gaussian ``N(m, var)``, in centred ``(x - m, v)``.

    Written out from the update formulas: given alpha the step is ``z' = A z + sqrt(u) G W``.
    Returns ``(E A, E A kron A, E cov(noise))`` by Gauss-Legendre quadrature over alpha.
    """
    nodes_, weights = np.polynomial.legendre.leggauss(nodes)
    mean_map, kron_map, noise_cov = np.zeros((2, 2)), np.zeros((4, 4)), np.zeros((2, 2))
    for alpha, weight in zip((nodes_ + 1) / 2, weights / 2):
        a = alpha * h
        e_a, e_h, e_b = (-math.expm1(-2.0 * t) for t in (a, h, (1.0 - alpha) * h))
        r, decay = math.exp(-2.0 * (1.0 - alpha) * h), math.exp(-2.0 * h)
        # grad f(x) = (x - m)/var; x_half = (1 - c) z_x + e_a/2 z_v + sqrt(u) W1
        c = 0.5 * u * (a - 0.5 * e_a) / var
        p = 0.5 * u * h * e_b / var  # x' = z_x + e_h/2 z_v - p x_half + sqrt(u) W2
        q = u * h * r / var  # v' = decay z_v - q x_half + 2 sqrt(u) W3
        step = np.array([[1.0 - p * (1.0 - c), 0.5 * e_h - 0.5 * p * e_a], [-q * (1.0 - c), decay - 0.5 * q * e_a]])
        mix = math.sqrt(u) * np.array([[-p, 1.0, 0.0], [-q, 0.0, 2.0]])
        mean_map += weight * step
        kron_map += weight * np.kron(step, step)
        noise_cov += weight * mix @ ulmc_covariance(alpha, h) @ mix.T
    return mean_map, kron_map, noise_cov


def stationary_law(h, u, var):
    """Covariance of ``(x, v)`` under the chain's stationary law (its mean is exactly ``(m, 0)``)."""
    _, kron_map, noise_cov = _step_maps(h, u, var)
    return np.linalg.solve(np.eye(4) - kron_map, noise_cov.reshape(-1)).reshape(2, 2)


def n_step_law(h, u, var, z0, n_steps):
    """Mean and covariance of centred ``(x - m, v)`` after ``n_steps`` from the point ``z0``."""
    mean_map, kron_map, noise_cov = _step_maps(h, u, var)
    mean, second = np.array(z0, dtype=float), np.outer(z0, z0)
    for _ in range(n_steps):
        mean = mean_map @ mean
        second = (kron_map @ second.reshape(-1)).reshape(2, 2) + noise_cov
    return mean, second - np.outer(mean, mean)


@pytest.mark.parametrize("var,L", [(2.0, 1.0), (0.5, 2.0)])
def test_tiny_step_stationary_law_is_the_sde_invariant_law(var, L):
    # dx = v ds, dv = -2v ds - u grad f ds + 2 sqrt(u) dB leaves e^{-f} x N(0, u) invariant
    u = 1.0 / L
    cov = stationary_law(1e-3, u, var)
    np.testing.assert_allclose(cov, np.diag([var, u]), rtol=0, atol=1e-8 * max(var, u))


def test_stationary_bias_is_small_and_third_order_in_h():
    hs = np.array([0.4, 0.2, 0.1, 0.05])
    bias_x, bias_v = [], []
    for h in hs:
        cov = stationary_law(h, 1.0, 1.0)  # the stiffest mode: var = 1/L
        bias_x.append(abs(cov[0, 0] / 1.0 - 1.0))
        bias_v.append(abs(cov[1, 1] / 1.0 - 1.0))
    slope_x = np.polyfit(np.log(hs), np.log(bias_x), 1)[0]
    slope_v = np.polyfit(np.log(hs), np.log(bias_v), 1)[0]
    assert abs(slope_x - RandomizedMidpointULMC(1.0).order()) < 0.1  # measured 3.00
    assert abs(slope_v - 3.0) < 0.15  # measured 2.94
    h_default = list(hs).index(DEFAULT_H)
    assert bias_x[h_default] < 2e-4 and bias_v[h_default] < 1e-3  # 1.7e-4 and 7.7e-4


def test_large_sample_run_matches_exact_chain_law():
    means, variances = np.array([1.0, -2.0]), np.array([1.0, 3.0])
    target = gaussian_mixture(means[None], variances[None])
    n, n_steps, h = 20000, 40, 1.0  # a coarse step, so the chain's bias is resolved by the sample
    x0, v0 = np.full((n, 2), 3.0), np.zeros((n, 2))
    result = sample_logconcave(target, n, n_steps, h=h, seed=5, x_init=x0, v_init=v0, progress=False)
    assert result.nfe == result.rounds == 2 * n_steps and result.extra["L"] == 1.0
    for j in range(2):
        mean, cov = n_step_law(h, 1.0, variances[j], [3.0 - means[j], 0.0], n_steps)
        z = np.stack([result.samples[:, j] - means[j], result.velocities[:, j]], axis=1)
        stderr_mean = np.sqrt(np.diag(cov) / n)
        assert np.all(np.abs(z.mean(axis=0) - mean) / stderr_mean < 4.5)
        sample_cov = np.cov(z, rowvar=False)
        stderr_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
        assert np.max(np.abs(sample_cov - cov) / stderr_cov) < 4.5
    # the first coordinate's velocity variance is 7% off the target's u = 1: seen at 7 standard errors
    _, cov0 = n_step_law(h, 1.0, 1.0, [2.0, 0.0], n_steps)
    assert cov0[1, 1] - 1.0 > 0.07
    assert (np.var(result.velocities[:, 0]) - 1.0) / (math.sqrt(2.0 / n)) > 4.0


# ---------------------------------------------------------------------- backends
def _full_gaussian():
    rng = np.random.default_rng(1)
    factor = rng.standard_normal((3, 3))
    return gaussian([0.5, -1.0, 2.0], factor @ factor.T + 0.5 * np.eye(3))


def test_numpy_and_cpu_kernel_agree():
    mixture = gaussian_mixture([[0.0, 1.0, -1.0], [1.0, 0.0, 0.5]], [0.5, 0.5], [0.3, 0.7])
    for target in (_full_gaussian(), mixture):
        ref = sample_logconcave(target, 16, 20, h=0.3, backend="numpy", seed=3, progress=False)
        cpu = sample_logconcave(target, 16, 20, h=0.3, backend="cpu", seed=3, progress=False)
        assert np.max(np.abs(ref.samples - cpu.samples)) < 1e-12
        assert np.max(np.abs(ref.velocities - cpu.velocities)) < 1e-12
        assert ref.nfe == cpu.nfe == ref.rounds == cpu.rounds == 40


def test_solver_at_positive_noise_level_numpy_equals_kernel():
    # the predictor-corrector use: f = -log q_t with t > 0, through Solver.step / the kernel adapter
    target = gaussian_mixture([[0.0, 1.0], [2.0, -1.0]], 0.3)
    solver = RandomizedMidpointULMC(L=target.score_lipschitz(0.4), t_score=0.4)
    rng = np.random.default_rng(2)
    state = np.concatenate([rng.standard_normal((5, 2)), 0.5 * rng.standard_normal((5, 2))], axis=1)
    grid = TimeGrid(0.25 * np.arange(7, 0, -1, dtype=float))
    oracle, noise = ScoreOracle.from_target(target), NoiseSource(7, np.arange(5), 2)
    ref = state.copy()
    for k, h in enumerate(grid.steps):
        ref, _ = solver.step(ref, 0.0, float(h), k, oracle, noise, None)
    out, nfe, _ = run_kernel(solver, target, state.copy(), grid, 7, "cpu")
    assert np.max(np.abs(out - ref)) < 1e-12 and np.all(nfe == 12) and oracle.nfe == 12


def test_device_step_contract_with_a_nonzero_slot():
    # ulmc_step is plain Python too: run it per particle against the batched twin, slot 5, t = 0.3
    target = gaussian_mixture([[0.0, 1.0, -1.0], [1.0, 0.0, 0.5]], [0.5, 0.8])
    rng = np.random.default_rng(4)
    x, v = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    seed, h, u, t_score, k, slot = 9, 0.35, 0.6, 0.3, 4, 5
    ref_x, ref_v = ulmc_step_numpy(
        x, v, h, u, t_score, k, ScoreOracle.from_target(target), NoiseSource(seed, np.arange(3), 3), slot
    )
    params = target.kernel_params()
    for p in range(3):
        xp, vp = x[p].copy(), v[p].copy()
        spent = ulmc_step(
            xp,
            vp,
            h,
            u,
            t_score,
            k,
            np.uint64(p),
            np.uint64(seed),
            np.uint64(0),
            slot,
            params,
            np.zeros((ULMC_WORK, 3)),
            np.zeros(target.kernel_work_size()),
        )
        assert spent == 2
        np.testing.assert_allclose(xp, ref_x[p], rtol=0, atol=1e-12)
        np.testing.assert_allclose(vp, ref_v[p], rtol=0, atol=1e-12)
    assert np.max(np.abs(ref_x - x)) > 0.05  # it moved


CUDA_SCRIPT = """
import json, sys
import numpy as np
from certsample.langevin import sample_logconcave
from certsample.targets import gaussian_mixture
target = gaussian_mixture([[0.0, 1.0, -1.0], [1.0, 0.0, 0.5]], [0.5, 0.5])
args = json.loads(sys.argv[1])
r = sample_logconcave(target, 4, 3, h=0.25, backend='cuda', seed=11, x_init=np.array(args['x']),
                      v_init=np.array(args['v']), progress=False)
print(json.dumps({'x': r.samples.tolist(), 'v': r.velocities.tolist(), 'nfe': r.nfe}))
"""


def test_cuda_kernel_under_simulator_matches_numpy(cuda_simulator):
    target = gaussian_mixture([[0.0, 1.0, -1.0], [1.0, 0.0, 0.5]], [0.5, 0.5])
    rng = np.random.default_rng(0)
    x0, v0 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ref = sample_logconcave(target, 4, 3, h=0.25, seed=11, x_init=x0, v_init=v0, progress=False)
    payload = json.dumps({"x": x0.tolist(), "v": v0.tolist()})
    stdout = cuda_simulator(CUDA_SCRIPT, timeout=300, args=(payload,))
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["nfe"] == 6
    assert np.max(np.abs(np.array(out["x"]) - ref.samples)) < 1e-10
    assert np.max(np.abs(np.array(out["v"]) - ref.velocities)) < 1e-10


# ---------------------------------------------------------------------- input validation
GAUSS = gaussian_mixture([[0.0, 0.0]], 1.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"h": 0.0}, "h must be"),
        ({"h": -0.1}, "h must be"),
        ({"h": float("nan")}, "h must be"),
        ({"L": 0.0}, "L must be"),
        ({"L": float("inf")}, "L must be"),
        ({"L": -2.0}, "L must be"),
        ({"n": 0}, "n must be"),
        ({"n_steps": 0}, "n_steps must be"),
        ({"n_steps": 2.5}, "n_steps must be"),
        ({"backend": "gpu"}, "backend"),
        ({"seed": -1}, "seed"),
        ({"x_init": np.zeros((3, 2))}, r"x_init must have shape \(4, 2\)"),
        ({"v_init": np.zeros((4, 3))}, r"v_init must have shape \(4, 2\)"),
        ({"x_init": np.full((4, 2), np.nan)}, "x_init contains NaN"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(kwargs, match):
    options = {"n": 4, "n_steps": 2, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        sample_logconcave(GAUSS, **options)


def test_target_without_density_is_refused():
    with pytest.raises(ValueError, match="no density"):
        sample_logconcave(point_cloud([[0.0, 1.0], [1.0, 0.0]]), 4, 2, progress=False)
    with pytest.raises(TypeError, match="MixtureTarget"):
        sample_logconcave(lambda x, t: -x, 4, 2, progress=False)
    with pytest.raises(ValueError, match="t_score"):
        RandomizedMidpointULMC(1.0, t_score=-1.0)
