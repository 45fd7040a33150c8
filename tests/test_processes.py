"""VP/VE processes and model predictions mapped onto OU time, checked against a Gaussian data law.

For data ``N(mu, diag(v))`` and ``x = alpha x_0 + sigma z`` the posterior of ``x_0`` is Gaussian with
mean ``mu + alpha v (x - alpha mu) / (alpha^2 v + sigma^2)`` (Bayes, coordinate-wise), which gives the
exact eps, x0, v and score a perfect model would output, independently of the conversions in
``certsample.processes``; the converted score must equal the built-in target's OU score.
"""

import numpy as np
import pytest

import certsample as cs

MEAN = np.array([1.0, -2.0, 0.5])
VAR = np.array([0.25, 2.0, 1.0])
TARGET = cs.gaussian(MEAN, VAR)
PROCESSES = [cs.VPProcess("linear"), cs.VPProcess("cosine"), cs.VEProcess(0.002, 80.0)]


def perfect_model(process, prediction):
    def model(x, s):
        assert s.shape == (x.shape[0],)
        a, g = process.alpha(s)[:, None], process.sigma(s)[:, None]
        x0 = MEAN + a * VAR * (x - a * MEAN) / (a * a * VAR + g * g)
        eps = (x - a * x0) / g
        if prediction == "eps":
            return eps
        if prediction == "x0":
            return x0
        if prediction == "v":
            return (a * eps - g * x0) / np.hypot(a, g)
        return -eps / g  # Tweedie: E[eps | x] = -sigma grad log p_s(x)

    return model


def test_linear_vp_is_the_limit_of_ddpm_betas():
    # DDPM's alpha_bar_i = prod (1 - beta_j) with beta_j = beta(s_j) / 1000: -log alpha_bar is the
    # integral of beta up to 0.0025 (Riemann sum) and the sum of beta_j^2 / 2 (0.07 of 10 at the end)
    betas = np.linspace(1e-4, 0.02, 1000)
    s = np.arange(1, 1001) / 1000
    minus_log_alpha_bar = -2 * np.log(cs.VPProcess("linear").alpha(s))
    assert np.allclose(minus_log_alpha_bar, np.cumsum(betas), rtol=1e-3, atol=3e-3)
    assert np.allclose(minus_log_alpha_bar, -np.cumsum(np.log1p(-betas)), rtol=1e-2, atol=3e-3)


def test_cosine_vp_matches_nichol_dhariwal():
    s = np.linspace(0, 0.99, 50)
    f = np.cos((s + 0.008) / 1.008 * np.pi / 2) ** 2
    assert np.allclose(cs.VPProcess("cosine").alpha(s) ** 2, f / f[0], rtol=1e-12)


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_time_maps_invert_and_match_the_ou_marginal(process):
    s = np.linspace(process.s_min, process.s_max, 40)[1:]
    t = process.ou_time(s)
    assert np.allclose(process.model_time(t), s, rtol=1e-10, atol=1e-12)
    # x_s / r has the OU marginal: signal e^{-t}, noise sqrt(1 - e^{-2t})
    r = process.scale(s)
    assert np.allclose(process.alpha(s) / r, np.exp(-t), rtol=1e-12)
    assert np.allclose(process.sigma(s) / r, np.sqrt(-np.expm1(-2 * t)), rtol=1e-12)


def test_ve_time_and_scale_are_the_stated_formulas():
    sig = np.array([0.01, 1.0, 80.0])
    ve = cs.VEProcess()
    assert np.allclose(ve.ou_time(sig), np.log(1 + sig**2) / 2, rtol=1e-14)
    assert np.allclose(ve.scale(sig), np.sqrt(1 + sig**2), rtol=1e-14)


@pytest.mark.parametrize("prediction", cs.processes.PREDICTIONS)
@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_every_prediction_gives_the_exact_ou_score(process, prediction):
    rng = np.random.default_rng(3)
    score = cs.score_from_model(perfect_model(process, prediction), process, prediction)
    t = rng.uniform(max(process.t_min, 1e-3), min(process.t_max, 6.0), 64)
    y = rng.normal(size=(64, 3)) * 2
    assert np.allclose(score(y, t), TARGET.score(y, t), rtol=1e-9, atol=1e-9)
    assert score.calls == 1


def test_model_score_samples_like_the_exact_target_with_one_call_per_round():
    process = cs.VPProcess("cosine")
    score = cs.score_from_model(perfect_model(process, "v"), process, "v")
    kw = dict(n=50, n_steps=12, T=8.0, delta=1e-2, seed=5, progress=False)
    exact = cs.sample(TARGET, "randomized-midpoint", **kw)
    mine = cs.sample(score, "randomized-midpoint", dim=3, **kw)
    assert np.allclose(mine.samples, exact.samples, rtol=1e-9, atol=1e-9)
    assert mine.nfe == exact.nfe == 24
    assert score.calls == mine.rounds == 24  # one batched call per round, not one per particle


def test_times_outside_the_process_are_refused_by_name():
    score = cs.score_from_model(perfect_model(cs.VPProcess(), "eps"), cs.VPProcess(), "eps")
    with pytest.raises(ValueError, match=r"outside VPProcess\('linear'.*T <= 5\.02"):
        cs.sample(score, "exponential-ode", n=4, n_steps=5, T=10.0, dim=3, progress=False)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: cs.VPProcess("quadratic"), "unknown VP schedule"),
        (lambda: cs.VPProcess(beta_min=5, beta_max=1), "beta_max must exceed"),
        (lambda: cs.VEProcess(sigma_min=-1), "sigma_min must be"),
        (lambda: cs.score_from_model(lambda x, s: x, cs.VPProcess(), "noise"), "unknown prediction"),
        (lambda: cs.score_from_model(lambda x, s: x, "vp"), "process must be"),
        (
            lambda: cs.score_from_model(lambda x, s: x[:, :1], cs.VEProcess())(np.ones((2, 3)), 1.0),
            r"model returned shape \(2, 1\)",
        ),
    ],
)
def test_bad_process_and_model_input_is_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_times_the_model_cannot_take_are_named():
    with pytest.raises(ValueError, match="too large for the cosine schedule"):
        cs.VPProcess("cosine", t_max=40.0)
    with pytest.raises(ValueError, match="OU times must be finite"):
        cs.VPProcess("linear").check_ou_times(np.array([1.0, np.nan]))
