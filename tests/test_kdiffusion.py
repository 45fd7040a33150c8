"""k-diffusion's call style against closed forms, across array namespaces (NumPy, array-api-strict, torch)."""

from __future__ import annotations

import numpy as np
import pytest

from certsample.arrays import namespace, to_numpy
from certsample.kdiffusion import (
    karras_sigmas,
    sample_collocation,
    sample_exponential,
    sample_parallel_midpoint,
    sample_randomized_midpoint,
)
from certsample.oracle import ScoreError

MU, S0 = 0.7, 0.5  # data N(MU, S0^2 I): the VE marginal is N(MU, (S0^2 + sigma^2) I)
SAMPLERS = [
    (sample_exponential, {}),
    (sample_randomized_midpoint, {}),
    (sample_parallel_midpoint, {"R": 3}),
    (sample_collocation, {"degree": 6, "sweeps": 6}),
]


def denoiser(x, sigma, **extra_args):
    """The exact denoiser of Gaussian data, in the batch's own namespace: ``MU + S0^2 / (S0^2 + sigma^2) (x - MU)``."""
    xp = namespace(x)
    s = xp.reshape(sigma, (-1,) + (1,) * (x.ndim - 1))
    return MU + S0**2 / (S0**2 + s**2) * (x - MU)


def exact_flow(x0, sigma_from, sigma_to):
    return MU + np.sqrt((S0**2 + sigma_to**2) / (S0**2 + sigma_from**2)) * (x0 - MU)


@pytest.fixture(scope="module")
def start():
    return 80.0 * np.random.default_rng(0).standard_normal((5, 2, 3))  # a batch of 2x3 "images"


def test_collocation_reproduces_the_exact_flow_on_a_karras_schedule(start):
    sigmas = karras_sigmas(12, 0.002, 80.0)
    stats = {}
    before_zero = sample_collocation(denoiser, start, sigmas[:-1], degree=10, sweeps=10, disable=True, stats=stats)
    assert np.max(np.abs(before_zero - exact_flow(start, 80.0, 0.002))) < 1e-8
    assert stats["nfe"] == 11 * (10 * 10 + 1) and stats["rounds"] == 11 * 10
    # the schedule's last interval to sigma = 0 is the denoising step k-diffusion's samplers take
    at_zero = sample_collocation(denoiser, start, sigmas, degree=10, sweeps=10, disable=True)
    np.testing.assert_allclose(at_zero, denoiser(before_zero, np.full(5, 0.002)), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "sampler, options, order",
    [
        (sample_exponential, {}, (0.9, 1.2)),
        (sample_randomized_midpoint, {}, (1.4, 2.2)),
        (sample_parallel_midpoint, {"R": 3}, (1.4, 2.2)),
    ],
)
def test_samplers_converge_to_the_exact_flow_at_their_order(sampler, options, order):
    # pathwise RMS error against the closed-form flow from sigma 80 to 0.002 on Karras schedules of 20 and 80
    # steps, over 200 starts: the exponential integrator is first order; the midpoint schemes' random midpoints
    # leave a mean-zero error whose RMS falls at order 1.5 (measured 1.54-1.75 per doubling over seeds 0-5; over
    # 5 starts the slope moved from 0.9 to 2.5 with the seed)
    start = 80.0 * np.random.default_rng(1).standard_normal((200, 2, 3))
    errors = []
    for steps in (20, 80):
        out = sampler(denoiser, start, karras_sigmas(steps, 0.002, 80.0)[:-1], disable=True, **options)
        errors.append(np.sqrt(np.mean((out - exact_flow(start, 80.0, 0.002)) ** 2)))
    slope = np.log2(errors[0] / errors[1]) / 2
    assert order[0] < slope < order[1], (errors, slope)


@pytest.mark.parametrize("sampler, options", SAMPLERS)
def test_array_api_strict_runs_the_same_arithmetic(sampler, options, start):
    xps = pytest.importorskip("array_api_strict")
    sigmas = karras_sigmas(6, 0.01, 80.0)
    ref = sampler(denoiser, start, sigmas, disable=True, **options)
    out = sampler(denoiser, xps.asarray(start), xps.asarray(sigmas), disable=True, **options)
    assert namespace(out) is not np
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sampler, options", SAMPLERS)
def test_torch_tensors_stay_torch_and_agree_with_numpy(sampler, options, start):
    torch = pytest.importorskip("torch")
    sigmas = karras_sigmas(6, 0.01, 80.0)
    seen = []

    def model(x, sigma):
        seen.append((type(x), type(sigma), x.dtype))
        return denoiser(x, sigma)

    ref = sampler(denoiser, start, sigmas, disable=True, **options)
    out = sampler(model, torch.asarray(start), torch.asarray(sigmas), disable=True, **options)
    assert isinstance(out, torch.Tensor) and out.shape == start.shape
    assert all(kind == (torch.Tensor, torch.Tensor, torch.float64) for kind in seen)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_stacked_rounds_repeat_extra_args_and_callbacks_see_each_step(start):
    n = start.shape[0]
    labels = np.arange(n, dtype=float)
    batches, steps = [], []

    def conditioned(x, sigma, cond):
        assert cond.shape[0] == x.shape[0] and x.shape[0] % n == 0
        np.testing.assert_array_equal(cond, np.tile(labels, x.shape[0] // n))  # repeated per stacked state
        batches.append(x.shape[0])
        return denoiser(x, sigma)

    sigmas = karras_sigmas(4, 0.05, 10.0)
    sample_parallel_midpoint(
        conditioned, start, sigmas, extra_args={"cond": labels}, R=3, K=1, disable=True, callback=steps.append
    )
    assert 3 * n in batches and n in batches
    assert [s["i"] for s in steps] == [0, 1, 2, 3] and all(s["x"].shape == start.shape for s in steps)


def test_karras_sigmas_match_k_diffusion():
    sigmas = karras_sigmas(10, 0.002, 80.0)
    assert sigmas[0] == pytest.approx(80.0) and sigmas[-2] == pytest.approx(0.002) and sigmas[-1] == 0
    try:
        from k_diffusion.sampling import get_sigmas_karras
    except Exception:  # k-diffusion (an optional peer) or one of its many dependencies is missing
        pytest.skip("k-diffusion is not installed")
    np.testing.assert_allclose(to_numpy(get_sigmas_karras(10, 0.002, 80.0)), sigmas, rtol=1e-6)


def test_bad_input_is_named(start):
    with pytest.raises(ValueError, match="decrease"):
        sample_exponential(denoiser, start, np.array([1.0, 2.0, 0.0]), disable=True)
    with pytest.raises(ValueError, match="at least two"):
        sample_exponential(denoiser, start, np.array([1.0]), disable=True)
    with pytest.raises(TypeError, match="model must be callable"):
        sample_exponential("unet", start, karras_sigmas(4, 0.1, 10.0), disable=True)
    with pytest.raises(ScoreError, match="NaN"):
        sample_exponential(lambda x, s: x * np.nan, start, karras_sigmas(4, 0.1, 10.0), disable=True)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        karras_sigmas(5, 1.0, 0.5)
    sigmas = karras_sigmas(4, 0.1, 10.0)
    with pytest.raises(ValueError, match="x contains NaN"):  # not blamed on the model
        sample_exponential(denoiser, np.full(start.shape, np.nan), sigmas, disable=True)
    with pytest.raises(ValueError, match="at least one sample"):
        sample_exponential(denoiser, np.zeros((0,) + start.shape[1:]), sigmas, disable=True)
    with pytest.raises(ScoreError, match="returned shape"):
        sample_exponential(lambda x, s: x[:1], start, sigmas, disable=True)
    with pytest.raises(ValueError, match="1-D"):
        sample_exponential(denoiser, start, np.ones((2, 2)), disable=True)


@pytest.mark.parametrize("sampler, options", SAMPLERS)
def test_callbacks_follow_k_diffusion(sampler, options, start):
    """k-diffusion calls back with the state at ``sigmas[i]`` and ``denoised = model(x, sigmas[i])``; the last call
    (the step to 0) with the state before denoising and the output as ``denoised``."""
    sigmas = karras_sigmas(12, 0.05, 10.0)
    reports = []
    out = sampler(denoiser, start, sigmas, disable=True, callback=reports.append, **options)
    assert [r["i"] for r in reports] == list(range(len(sigmas) - 1))
    np.testing.assert_allclose(reports[0]["x"], start, rtol=1e-14)
    for report in reports:
        assert report["sigma"] == sigmas[report["i"]] and report["denoised"] is not None
        x = np.asarray(report["x"])
        expected = denoiser(x, np.full(start.shape[0], report["sigma"]))
        np.testing.assert_allclose(report["denoised"], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(reports[-1]["denoised"], out)
    if sampler is sample_collocation:  # accurate enough to tell each state lies at its own sigma, not the next one
        for report in reports:
            here, following = sigmas[report["i"]], sigmas[report["i"] + 1]
            at_sigma = np.max(np.abs(exact_flow(start, sigmas[0], here) - report["x"]))
            at_next = np.max(np.abs(exact_flow(start, sigmas[0], following) - report["x"]))
            assert at_sigma < 1e-3 * at_next


def test_final_denoising_step_is_checked(start):
    sigmas = karras_sigmas(4, 0.05, 10.0)

    def nan_at_the_end(x, sigma):
        return denoiser(x, sigma) * (np.nan if np.all(sigma < 0.06) else 1.0)

    for sampler, options in SAMPLERS:
        with pytest.raises(ScoreError, match="final denoising step"):
            sampler(nan_at_the_end, start, sigmas, disable=True, **options)
    with pytest.raises(ScoreError, match="complex"):
        sample_exponential(lambda x, s: denoiser(x, s) + (0j if np.all(s < 0.06) else 0), start, sigmas, disable=True)


def test_float32_batches_keep_their_dtype(start):
    out = sample_exponential(denoiser, start.astype(np.float32), karras_sigmas(4, 0.05, 10.0), disable=True)
    ref = sample_exponential(denoiser, start, karras_sigmas(4, 0.05, 10.0), disable=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_schedules_and_models_that_cannot_work_are_named(start):
    for rho in (np.nan, np.inf, 0.0, -1.0, "7"):
        with pytest.raises(ValueError, match="rho"):
            karras_sigmas(5, 0.01, 80.0, rho=rho)
    with pytest.raises(ValueError, match="rho=0.001 is too small"):
        karras_sigmas(5, 0.01, 80.0, rho=1e-3)
    with pytest.raises(ValueError, match="overflows"):
        sample_exponential(denoiser, start, np.array([1e200, 1.0, 0.0]), disable=True)
    with pytest.raises(ValueError, match="1e-154"):
        sample_exponential(denoiser, start, np.array([1.0, 1e-170, 0.0]), disable=True)
    for sigmas in (np.array(["80", "10", "1", "0"]), np.array([True, False])):
        with pytest.raises(ValueError, match="sigmas must be real"):
            sample_exponential(denoiser, start, sigmas, disable=True)
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(ScoreError, match="returned a ndarray"):
        sample_exponential(lambda x, s: np.ones(x.shape), xps.asarray(start), karras_sigmas(4, 0.1, 10.0), disable=True)


def test_array_api_einsum_fallback_matches_numpy_and_refuses_diagonals():
    xps = pytest.importorskip("array_api_strict")
    from certsample.arrays import einsum

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    for subscripts, operands in (("ij,jk->ik", (a, b)), ("ij->ji", (a,)), ("ij,jk->ki", (a, b))):
        out = einsum(subscripts, *(xps.asarray(x) for x in operands))
        np.testing.assert_allclose(to_numpy(out), np.einsum(subscripts, *operands), rtol=1e-14)
    with pytest.raises(ValueError, match="no index twice"):
        einsum("ii->i", xps.asarray(np.eye(3)))
