"""Baselines against closed forms: measured convergence orders, backend agreement, exact laws."""

import numpy as np
import pytest

import certsample as cs
from certsample.exact import gaussian_flow_map, linear_scheme_law
from certsample.integrate import integrate_numpy
from certsample.kernels.runner import run_kernel
from certsample.metrics import gaussian_w2
from certsample.noise import NoiseSource
from certsample.oracle import ScoreOracle

BASELINES = ["euler-maruyama", "exponential-sde", "exponential-ode"]
DIAG = cs.gaussian([0.5, -1.0], [0.3, 2.0])


def fitted_order(steps, errors):
    """diffrax-style: minus the slope of log(error) against log(n_steps)."""
    return -np.polyfit(np.log(steps), np.log(errors), 1)[0]


@pytest.mark.parametrize("name", BASELINES)
def test_weak_order_one_in_exact_w2(name):
    """W2 between the scheme's exact Gaussian output law and q_delta falls like h^1."""
    solver = cs.get_solver(name)
    law = DIAG.law_at(0.05)
    steps = [20, 40, 80, 160, 320]
    errors = []
    for n_steps in steps:
        grid = cs.uniform_grid(4.0, 0.05, n_steps)
        mean, var = linear_scheme_law(solver, DIAG, grid, init="exact")
        errors.append(gaussian_w2(mean, var, law.means[0], law.variances[0]))
    assert fitted_order(steps, errors) == pytest.approx(solver.order(), abs=0.1)


def test_probability_flow_pathwise_order_on_full_covariance():
    target = cs.gaussian([0.5, -1.0, 0.2], [[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 2.0]])
    x0 = cs.initial_particles(64, 3, seed=1, T=3.0, target=target, init="exact")
    exact = gaussian_flow_map(target, x0, 3.0, 0.05)
    steps = [25, 50, 100, 200]
    errors = []
    for n_steps in steps:
        run = cs.sample(
            target, "exponential-ode", n_steps=n_steps, T=3.0, delta=0.05, grid="uniform", x_init=x0, progress=False
        )
        errors.append(np.sqrt(np.mean(np.sum((run.samples - exact) ** 2, axis=1))))
    assert fitted_order(steps, errors) == pytest.approx(1.0, abs=0.05)
    assert errors[-1] < 5e-3


def test_flow_map_is_a_flow():
    target = cs.gaussian([1.0, 0.0], [0.2, 3.0])
    x = np.random.default_rng(0).standard_normal((5, 2))
    direct = gaussian_flow_map(target, x, 2.0, 0.1)
    composed = gaussian_flow_map(target, gaussian_flow_map(target, x, 2.0, 0.7), 0.7, 0.1)
    np.testing.assert_allclose(direct, composed, atol=1e-13)
    # exact transport: q_T pushed forward is q_delta
    xs = target.law_at(2.0).sample(200000, 3)
    ys = gaussian_flow_map(target, xs, 2.0, 0.1)
    law = target.law_at(0.1)
    np.testing.assert_allclose(ys.var(0), law.variances[0], rtol=0.02)


@pytest.mark.parametrize("name", ["euler-maruyama", "exponential-sde"])
def test_exact_law_agrees_with_monte_carlo(name):
    grid = cs.uniform_grid(3.0, 0.1, 12)
    mean, var = linear_scheme_law(cs.get_solver(name), DIAG, grid)
    run = cs.sample(DIAG, name, n=200000, grid=grid, backend="cpu", seed=11, progress=False)
    se_mean = np.sqrt(var / run.samples.shape[0])
    assert np.all(np.abs(run.samples.mean(0) - mean) < 5 * se_mean)
    np.testing.assert_allclose(run.samples.var(0), var, rtol=5 * np.sqrt(2 / run.samples.shape[0]))


TARGETS = {
    "diag": DIAG,
    "full": cs.gaussian([0.5, -1.0, 0.2], [[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 2.0]]),
    "mixture": cs.ring_mixture(5, radius=3.0, std=0.4),
    "cloud": cs.point_cloud(np.random.default_rng(2).uniform(-2, 2, (9, 2))),
    "subspace": cs.embed(cs.ring_mixture(), 6, seed=1),
}


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("target_name", sorted(TARGETS))
def test_numpy_and_cpu_kernel_agree(name, target_name):
    target = TARGETS[target_name]
    kwargs = dict(n=33, n_steps=40, T=5.0, delta=1e-2, seed=5, progress=False)
    ref = cs.sample(target, name, backend="numpy", **kwargs)
    cpu = cs.sample(target, name, backend="cpu", **kwargs)
    np.testing.assert_allclose(cpu.samples, ref.samples, rtol=0, atol=1e-12 * max(1, np.abs(ref.samples).max()))
    assert cpu.nfe == ref.nfe == 40 and cpu.rounds == ref.rounds == 40


def test_results_do_not_depend_on_how_particles_are_split():
    target, solver = TARGETS["mixture"], cs.get_solver("euler-maruyama")
    grid = cs.uniform_grid(4.0, 0.01, 30)
    x0 = cs.initial_particles(10, 2, seed=4)
    whole = integrate_numpy(solver, ScoreOracle.from_target(target), x0, grid, NoiseSource(4, np.arange(10), 2))
    tail, _, _ = run_kernel(solver, target, x0[6:], grid, seed=4, offset=6)
    np.testing.assert_allclose(tail, whole[6:], atol=1e-12)
    head = integrate_numpy(solver, ScoreOracle.from_target(target), x0[:6], grid, NoiseSource(4, np.arange(6), 2))
    np.testing.assert_array_equal(head, whole[:6])


def test_seed_reproducibility():
    a = cs.sample(TARGETS["mixture"], "exponential-sde", n=20, n_steps=10, seed=3, progress=False)
    b = cs.sample(TARGETS["mixture"], "exponential-sde", n=20, n_steps=10, seed=3, progress=False)
    c = cs.sample(TARGETS["mixture"], "exponential-sde", n=20, n_steps=10, seed=4, progress=False)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)


def test_cuda_kernels_agree_with_numpy_under_simulator(cuda_simulator):
    out = cuda_simulator("""
        import numpy as np
        import certsample as cs
        target = cs.embed(cs.ring_mixture(4, radius=2.0), 3, seed=0)
        for name in ["euler-maruyama", "exponential-sde", "exponential-ode"]:
            kw = dict(n=5, n_steps=6, T=3.0, delta=0.05, seed=2, progress=False)
            ref = cs.sample(target, name, backend="numpy", **kw)
            gpu = cs.sample(target, name, backend="cuda", **kw)
            assert gpu.nfe == ref.nfe == 6, (gpu.nfe, ref.nfe)
            print(name, np.abs(gpu.samples - ref.samples).max())
    """)
    lines = out.split()
    for name, diff in zip(lines[::2], lines[1::2]):
        assert float(diff) < 1e-10, name
    assert len(lines) == 6
