"""Bad input gets a clear error that names the problem; oracles count what they are asked."""

import numpy as np
import pytest

import certsample as cs
from certsample.oracle import PerturbedOracle, ScoreError, ScoreOracle

RING_FOR_ORACLES = cs.ring_mixture()

TARGET = cs.gaussian([0.0, 1.0], [1.0, 0.5])


def test_oracle_counts_calls_rounds_and_particle_evaluations():
    oracle = ScoreOracle.from_target(TARGET)
    x = np.zeros((7, 2))
    oracle(x, 0.5)
    oracle.evaluate_many(np.zeros((3, 7, 2)), np.array([0.1, 0.2, 0.3]))
    assert (oracle.nfe, oracle.rounds, oracle.evaluations) == (4, 2, 28)


def test_nan_score_is_caught_with_time_and_count():
    def broken(x, t):
        out = -x.copy()
        out[2] = np.nan
        return out

    with pytest.raises(ScoreError, match=r"NaN/inf for 1 of 5 particles at t="):
        cs.sample(broken, "euler-maruyama", n=5, n_steps=4, dim=2, progress=False)


def test_wrong_shaped_score_is_caught():
    with pytest.raises(ScoreError, match=r"shape \(5,\)"):
        cs.sample(lambda x, t: -x[:, 0], "exponential-ode", n=5, n_steps=4, dim=2, progress=False)


def test_user_callable_score_runs_and_matches_the_built_in_target():
    mine = cs.sample(lambda x, t: TARGET.score(x, t), "exponential-sde", n=8, n_steps=10, dim=2, seed=1, progress=False)
    built_in = cs.sample(TARGET, "exponential-sde", n=8, n_steps=10, seed=1, progress=False)
    np.testing.assert_array_equal(mine.samples, built_in.samples)
    assert mine.nfe == 10


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(solver="heun-9000"), ValueError, "unknown solver 'heun-9000'"),
        (dict(backend="tpu"), ValueError, "unknown backend 'tpu'"),
        (dict(delta=0.0), ValueError, "delta must be > 0"),
        (dict(delta=-1e-3), ValueError, "delta must be > 0"),
        (dict(n_steps=0), ValueError, "n_steps"),
        (dict(n=0), ValueError, "number of particles"),
        (dict(x_init=np.zeros((4, 3))), ValueError, r"x_init must have shape \(n, 2\)"),
        (dict(x_init=np.full((4, 2), np.nan)), ValueError, "x_init contains NaN"),
        (dict(init="posterior"), ValueError, "unknown init"),
        (dict(seed=-4), ValueError, "seed"),
        (dict(x_init=np.zeros((0, 2)), n=None), ValueError, "n >= 1 rows"),
        (dict(solver_options=[1]), TypeError, "solver_options must be a dict"),
        (dict(T=1e6), ValueError, "overflow"),
        (dict(T="10"), ValueError, "horizon T must be a real number"),
        (dict(x_init=np.array([[None, 1.0]] * 4)), ValueError, "got None"),
    ],
)
def test_bad_sample_arguments(kwargs, error, message):
    base = dict(solver="euler-maruyama", n=4, n_steps=3, progress=False)
    with pytest.raises(error, match=message):
        cs.sample(TARGET, **{**base, **kwargs})


def test_compiled_backend_refuses_user_callables():
    with pytest.raises(ValueError, match="backend='numpy'"):
        cs.sample(lambda x, t: -x, "euler-maruyama", n=4, n_steps=3, dim=2, backend="cpu", progress=False)


def test_bare_callable_needs_dim():
    with pytest.raises(ValueError, match="dim="):
        cs.sample(lambda x, t: -x, "euler-maruyama", n=4, n_steps=3, progress=False)


def test_blow_up_is_reported_not_returned():
    # an explosive score overflows within a few steps; the run must say so, not return inf
    def explosive(x, t):
        return 1e200 * (x + 1.0)

    with pytest.raises((FloatingPointError, ScoreError), match="NaN/inf"):
        with np.errstate(over="ignore", invalid="ignore"):
            cs.sample(explosive, "euler-maruyama", n=4, n_steps=20, dim=2, progress=False)


def test_perturbed_oracle_has_the_advertised_error():
    base = ScoreOracle.from_target(TARGET)
    pert = PerturbedOracle(base, bias=0.3, noise=0.4, seed=2)
    x = TARGET.sample(40000, 0, t=0.5)
    err = pert(x, 0.5) - TARGET.score(x, 0.5)
    assert pert.error_l2 == pytest.approx(0.5)
    assert np.sqrt(np.mean(np.sum(err**2, axis=1))) == pytest.approx(0.5, rel=0.01)
    np.testing.assert_allclose(err.mean(0), 0.3 * np.ones(2) / np.sqrt(2), atol=0.01)
    with pytest.raises(ValueError, match="bias"):
        PerturbedOracle(base, bias=-1.0)


def test_perturbed_oracle_changes_the_output_by_a_controlled_amount():
    grid = cs.uniform_grid(2.0, 0.1, 20)
    x0 = cs.initial_particles(200, 2, seed=0)
    clean = cs.sample(TARGET, "exponential-ode", grid=grid, x_init=x0, progress=False)
    biased = cs.sample(
        PerturbedOracle(ScoreOracle.from_target(TARGET), bias=0.05),
        "exponential-ode",
        grid=grid,
        x_init=x0,
        progress=False,
    )
    shift = np.linalg.norm((biased.samples - clean.samples).mean(0))
    # a constant score bias b moves the ODE endpoint by at most |b| (e^{T-delta} - 1)
    assert 0 < shift <= 0.05 * np.expm1(1.9) + 1e-12


def test_particle_overflow_is_reported_with_its_step():
    # the score stays finite while the drift x + 2 s overflows
    def saturating(x, t):
        return np.full_like(x, 1e308)

    with pytest.raises(FloatingPointError, match=r"particles became NaN/inf at step \d"):
        with np.errstate(over="ignore", invalid="ignore"):
            cs.sample(saturating, "euler-maruyama", n=4, n_steps=20, dim=2, progress=False)


def test_evaluate_at_takes_per_particle_times_in_one_round():
    x = TARGET.sample(6, 0, t=0.5)
    xs = np.stack([x, x + 0.1])
    ts = np.array([np.linspace(0.1, 1.0, 6), np.linspace(0.2, 2.0, 6)])
    expected = np.stack([[TARGET.score(xs[j, i : i + 1], ts[j, i])[0] for i in range(6)] for j in range(2)])
    built_in = ScoreOracle.from_target(TARGET)
    user = ScoreOracle(lambda z, t: TARGET.score(z, t), 2)  # one time per call: the slow path
    for oracle in (built_in, user):
        np.testing.assert_allclose(oracle.evaluate_at(xs, ts), expected, rtol=1e-13)
        assert (oracle.nfe, oracle.rounds, oracle.evaluations) == (2, 1, 12)
    with pytest.raises(ValueError, match="evaluate_at needs"):
        built_in.evaluate_at(xs, ts[:, :3])


# ---------------------------------------------------------------- inputs that were silent or misblamed
def test_inputs_that_were_silent_or_blamed_the_wrong_cause():
    import warnings

    ring = cs.ring_mixture()
    with pytest.raises(ValueError, match="does not match the target's dimension"):
        cs.sample(ring, dim=5)
    with pytest.raises(ValueError, match="x_init has 7 rows"):
        cs.sample(ring, n=10, x_init=np.zeros((7, 2)))
    with pytest.raises(ValueError, match="x_init contains NaN"):
        cs.sample(ring, x_init=np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="2 variances for a mean of dimension 3"):
        cs.gaussian([0, 0, 0], [1, 1])
    with pytest.raises(ValueError, match=r"no option\(s\) \['Q'\]"):
        cs.sample(ring, "parallel-midpoint", solver_options={"Q": 3})
    with pytest.raises(ValueError, match="dim must be an integer >= 1, got 2.5"):
        cs.sample(lambda x, t: -x, dim=2.5)
    with pytest.raises(ValueError, match="must be real"):
        cs.sample(ring, x_init=np.zeros((3, 2), dtype=complex))
    with pytest.raises(ScoreError, match="complex"):
        cs.sample(lambda x, t: -x + 0j, dim=2, n=3, n_steps=2, progress=False)
    assert cs.PerturbedOracle(lambda x, t: -x, bias=0.1, dim=2).dim == 2
    with pytest.warns(RuntimeWarning, match="not known to be"):
        cs.sample_logconcave(ring, n=4, n_steps=2, progress=False)
    with pytest.warns(RuntimeWarning, match="steps up to"):
        cs.sample(ring, "exponential-sde", n=10, n_steps=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cs.sample(ring, "exponential-sde", n=10, n_steps=50, progress=False)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: cs.point_cloud([]), "at least one point"),
        (lambda: cs.ring_mixture(n_modes=0), "n_modes must be an integer >= 1"),
        (lambda: cs.make_target("gaussian", dim=0), "dim must be an integer >= 1"),
        (lambda: cs.ring_mixture().score(np.zeros((1, 2)), float("nan")), "finite and >= 0, got nan"),
        (lambda: cs.ring_mixture().score(np.zeros((1, 2)), -1.0), "finite and >= 0, got -1.0"),
    ],
)
def test_degenerate_targets_and_times_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("solver", ["randomized-midpoint", "parallel-midpoint", "collocation", "exponential-ode"])
def test_user_scores_get_the_whole_batch_with_per_sample_times_once_per_round(solver):
    seen = []

    def score(x, t):
        seen.append((x.shape, np.shape(t)))
        return TARGET.score(x, t)

    n = 16
    result = cs.sample(score, solver, n=n, n_steps=4, dim=2, progress=False)
    assert len(seen) == result.rounds
    assert all(xs[0] == ts[0] and xs[0] % n == 0 and len(ts) == 1 for xs, ts in seen)
    reference = cs.sample(TARGET, solver, n=n, n_steps=4, progress=False)
    assert np.allclose(result.samples, reference.samples, rtol=1e-12, atol=1e-12)


def test_a_perturbed_base_keeps_its_perturbation():

    x, t = np.array([[0.3, 0.2]]), 0.5
    inner = PerturbedOracle(RING_FOR_ORACLES, bias=1.0)
    exact = RING_FOR_ORACLES.score(x, t)
    np.testing.assert_allclose(PerturbedOracle(inner, bias=0.0)(x, t) - exact, inner(x, t) - exact)
    np.testing.assert_allclose(PerturbedOracle(inner, bias=0.5)(x, t) - exact, 1.5 / np.sqrt(2) * np.ones((1, 2)))
    noisy = PerturbedOracle(PerturbedOracle(RING_FOR_ORACLES, noise=0.3, seed=4), bias=0.1)
    one = cs.sample(noisy, "exponential-ode", n=9, n_steps=5, progress=False).samples
    chunks = [
        cs.sample(noisy, "exponential-ode", n=3, n_steps=5, first_particle=i, progress=False).samples for i in (0, 3, 6)
    ]
    np.testing.assert_array_equal(np.concatenate(chunks), one)  # the inner noise keyed by particle, chunk by chunk


def test_grids_and_inits_that_cannot_work_are_named():
    with pytest.raises(ValueError, match="grid must be 'uniform', 'exponential' or a TimeGrid"):
        cs.sample(RING_FOR_ORACLES, n=8, n_steps=5, grid=[10, 1, 0.1], progress=False)
    with pytest.raises(ValueError, match="needs a built-in target, not a score callable"):
        cs.sample(RING_FOR_ORACLES.score, n=4, n_steps=3, dim=2, init="exact", progress=False)
    with pytest.raises(ValueError, match="unknown init 'foo'"):
        cs.sample(RING_FOR_ORACLES, n_steps=3, init="foo", x_init=np.zeros((4, 2)), progress=False)
