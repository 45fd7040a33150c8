"""A user's per-particle score compiled by certsample: same samples as the built-in target, every backend."""

import math

import numpy as np
import pytest

import certsample as cs

MEAN = np.array([1.0, -0.5, 0.2])
VAR = np.array([0.3, 1.5, 0.8])


def gaussian_score(x, t, params, out):
    var, mean = params
    a2 = math.exp(-2 * t)
    for i in range(x.shape[0]):
        out[i] = -(x[i] - math.exp(-t) * mean[i]) / (var[i] * a2 - math.expm1(-2 * t))


def scaled_score(x, t, params, out):
    for i in range(x.shape[0]):
        out[i] = -params[0] * x[i]


@pytest.mark.parametrize("solver", ["randomized-midpoint", "collocation"])
def test_compiled_score_matches_the_builtin_target_on_numpy_and_cpu(solver):
    score = cs.compiled_score(gaussian_score, 3, (VAR, MEAN))
    x = np.random.default_rng(0).normal(size=(7, 3))
    assert np.allclose(score.score(x, 0.3), cs.gaussian(MEAN, VAR).score(x, 0.3), rtol=1e-13, atol=1e-13)
    kw = dict(n=40, n_steps=12, seed=1, progress=False)
    exact = cs.sample(cs.gaussian(MEAN, VAR), solver, backend="cpu", **kw).samples
    for backend in ("numpy", "cpu"):
        mine = cs.sample(score, solver, backend=backend, **kw)
        assert np.allclose(mine.samples, exact, rtol=1e-12, atol=1e-12), backend


def test_two_compiled_scores_do_not_share_a_kernel():
    one = cs.compiled_score(scaled_score, 2, (1.0,))
    two = cs.compiled_score(scaled_score, 2, (2.0,))
    a = cs.sample(one, "exponential-ode", n=5, n_steps=3, backend="cpu", progress=False).samples
    b = cs.sample(two, "exponential-ode", n=5, n_steps=3, backend="cpu", progress=False).samples
    assert not np.allclose(a, b)


def test_cuda_simulator_runs_the_compiled_score(cuda_simulator):
    out = cuda_simulator("""
        import math
        import numpy as np
        import certsample as cs

        def gaussian_score(x, t, params, out):
            var, mean = params
            a2 = math.exp(-2 * t)
            for i in range(x.shape[0]):
                out[i] = -(x[i] - math.exp(-t) * mean[i]) / (var[i] * a2 - math.expm1(-2 * t))

        mean, var = np.array([1.0, -0.5, 0.2]), np.array([0.3, 1.5, 0.8])
        score = cs.compiled_score(gaussian_score, 3, (var, mean))
        kw = dict(n=6, n_steps=4, seed=2, progress=False)
        ref = cs.sample(cs.gaussian(mean, var), "randomized-midpoint", backend="numpy", **kw).samples
        gpu = cs.sample(score, "randomized-midpoint", backend="cuda", **kw).samples
        print(np.abs(gpu - ref).max() / np.abs(ref).max())
    """)
    assert float(out.split()[-1]) < 1e-12


def test_bad_compiled_scores_are_named():
    with pytest.raises(TypeError, match="fn must be a function"):
        cs.compiled_score(3.0, 2)
    with pytest.raises(ValueError, match="dim must be an integer"):
        cs.compiled_score(scaled_score, 0)
    score = cs.compiled_score(scaled_score, 2, (1.0,))
    with pytest.raises(ValueError, match="init='exact' draws from the target's own law"):
        cs.sample(score, "exponential-ode", n=3, init="exact", progress=False)
    with pytest.raises(ValueError, match=r"x must have shape \(m, 2\)"):
        score.score(np.ones((3, 4)), 0.5)
