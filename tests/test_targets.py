import numpy as np
import pytest

import certsample as cs
from certsample.kernels.jit import compile_for
from certsample.kernels.score import particle_score

RNG = np.random.default_rng(0)
FULL_COV = np.array([[1.0, 0.4, 0.0], [0.4, 0.7, 0.2], [0.0, 0.2, 1.5]])

TARGETS = {
    "gaussian_diag": lambda: cs.gaussian([0.3, -1.0], [0.5, 2.0]),
    "gaussian_full": lambda: cs.gaussian([0.3, -1.0, 0.5], FULL_COV),
    "mixture": lambda: cs.gaussian_mixture([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]], [0.3, 0.6, 0.2], [0.5, 0.3, 0.2]),
    "ring": lambda: cs.ring_mixture(),
    "point_cloud": lambda: cs.point_cloud(RNG.uniform(-2, 2, (12, 3))),
    "subspace": lambda: cs.embed(cs.ring_mixture(), 7, seed=3),
}


def fd_gradient(f, x, eps=1e-5):
    g = np.zeros_like(x)
    for i in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[i] = eps
        g[:, i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.parametrize("t", [0.05, 0.7, 3.0])
def test_score_is_gradient_of_log_density(name, t):
    target = TARGETS[name]()
    x = target.sample(6, 1, t=t)
    score = target.score(x, t)
    fd = fd_gradient(lambda z: target.log_density(z, t), x)
    np.testing.assert_allclose(score, fd, atol=2e-5 * max(1.0, np.abs(score).max()))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_compiled_score_matches_numpy(name):
    target = TARGETS[name]()
    kernel = compile_for(particle_score, "cpu")
    x = target.sample(5, 2, t=0.2)
    ref = target.score(x, 0.2)
    out = np.zeros(target.dim)
    work = np.zeros(target.kernel_work_size())
    for p in range(x.shape[0]):
        kernel(x[p], 0.2, target.kernel_params(), out, work)
        np.testing.assert_allclose(out, ref[p], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_law_at_matches_forward_process(name):
    """Samples of q_t from law_at agree with pushing data samples through the OU transition."""
    target = TARGETS[name]()
    t, n = 0.4, 200000
    data = target.sample(n, 4)
    pushed = np.exp(-t) * data + np.sqrt(-np.expm1(-2 * t)) * np.random.default_rng(5).standard_normal(data.shape)
    law = target.law_at(t)
    np.testing.assert_allclose(pushed.mean(0), law.mean(), atol=6 * np.sqrt(law.covariance().max() / n))
    np.testing.assert_allclose(np.cov(pushed.T), law.covariance(), atol=0.03)


def test_mixture_moments_closed_form():
    target = TARGETS["gaussian_full"]()
    np.testing.assert_allclose(target.covariance(), FULL_COV, atol=1e-12)
    np.testing.assert_allclose(target.mean(), [0.3, -1.0, 0.5], atol=1e-12)
    x = target.sample(300000, 0)
    np.testing.assert_allclose(np.cov(x.T), FULL_COV, atol=0.02)


def test_radius_and_support():
    pts = np.array([[3.0, 4.0], [0.0, 1.0]])
    assert cs.point_cloud(pts).radius == pytest.approx(5.0)
    assert cs.embed(cs.point_cloud(pts), 10).radius == pytest.approx(5.0)
    assert cs.ring_mixture().radius == np.inf


@pytest.mark.parametrize("name", ["gaussian_diag", "gaussian_full", "point_cloud", "subspace", "ring"])
def test_score_lipschitz_bounds_the_hessian(name):
    target = TARGETS[name]()
    for t in (0.1, 0.5, 2.0):
        bound = target.score_lipschitz(t)
        x = target.sample(30, 7, t=t)
        worst = 0.0
        for p in range(x.shape[0]):
            rows = [fd_gradient(lambda z, i=i: target.score(z, t)[:, i], x[p : p + 1])[0] for i in range(target.dim)]
            worst = max(worst, np.linalg.norm(np.array(rows), 2))
        assert worst <= bound * (1 + 1e-4)


def test_embedded_data_lives_on_its_subspace():
    target = cs.embed(cs.point_cloud(np.eye(2)), 50, seed=0)
    x = target.sample(10, 0)
    q = target.basis
    np.testing.assert_allclose(x - (x @ q) @ q.T, 0, atol=1e-12)
    # off the subspace the score pulls straight back with variance sigma^2
    t = 0.3
    y = x + 0.1 * np.random.default_rng(1).standard_normal(x.shape)
    off = y - (y @ q) @ q.T
    s = target.score(y, t)
    np.testing.assert_allclose(s - (s @ q) @ q.T, -off / -np.expm1(-2 * t), atol=1e-12)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: cs.gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "positive semi-definite"),
        (lambda: cs.gaussian([0.0, 0.0], np.eye(3)), "cov must be"),
        (lambda: cs.gaussian([0.0, 0.0], [[1.0, np.nan], [np.nan, 1.0]]), "cov contains NaN"),  # not "symmetric"
        (lambda: cs.gaussian([[0.0, 0.0]], 1.0), "mean must be a vector"),
        (lambda: cs.gaussian([0.0, 1j], 1.0), "mean must be real"),
        (lambda: cs.gaussian_mixture([[0.0], [1.0]], [1.0, -1.0]), "variances"),
        (lambda: cs.gaussian_mixture([[0.0], [np.nan]], 1.0), "NaN"),
        (lambda: cs.point_cloud([[0.0], [1.0]], weights=[1.0]), "weights"),
        (lambda: cs.embed(cs.ring_mixture(), 1), "ambient_dim"),
        (lambda: cs.make_target("swiss-roll"), "unknown target"),
    ],
)
def test_bad_targets_are_rejected_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_score_rejects_wrong_shapes_and_point_mass_at_zero():
    target = cs.point_cloud([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        target.score(np.zeros((3, 3)), 0.5)
    with pytest.raises(ValueError, match="delta > 0"):
        target.score(np.zeros((1, 2)), 0.0)


def test_compiled_score_in_high_dimension_with_tiny_variances():
    """The log-determinant's running product is rescaled: no under/overflow at d=400, v~1e-3."""
    target = cs.gaussian_mixture(np.random.default_rng(0).standard_normal((3, 400)), [1e-3, 2e-3, 5e-4])
    kernel = compile_for(particle_score, "cpu")
    x = target.sample(3, 1, t=0.01)
    ref = target.score(x, 0.01)
    out = np.zeros(400)
    work = np.zeros(target.kernel_work_size())
    for p in range(3):
        kernel(x[p], 0.01, target.kernel_params(), out, work)
        np.testing.assert_allclose(out, ref[p], rtol=1e-11, atol=1e-11 * np.abs(ref[p]).max())


def test_full_covariance_gaussian_has_a_score_at_time_zero():
    """A square eigenbasis leaves no orthogonal complement: no 0/0 term at t = 0."""
    target = TARGETS["gaussian_full"]()
    x = target.sample(4, 0)
    expected = -(x - target.mean()) @ np.linalg.inv(FULL_COV)
    np.testing.assert_allclose(target.score(x, 0.0), expected, atol=1e-12)
    kernel = compile_for(particle_score, "cpu")
    out, work = np.zeros(3), np.zeros(target.kernel_work_size())
    kernel(x[0], 0.0, target.kernel_params(), out, work)
    np.testing.assert_allclose(out, expected[0], atol=1e-12)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_per_particle_times_match_scalar_times(name):
    target = TARGETS[name]()
    x = target.sample(5, 3, t=0.3)
    times = np.array([0.05, 0.2, 0.7, 1.5, 3.0])
    rows = np.array([target.score(x[i : i + 1], times[i])[0] for i in range(5)])
    np.testing.assert_allclose(target.score(x, times), rows, rtol=1e-13, atol=1e-13)
    dens = np.array([target.log_density(x[i : i + 1], times[i])[0] for i in range(5)])
    np.testing.assert_allclose(target.log_density(x, times), dens, rtol=1e-13)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        target.score(x, times[:3])


@pytest.mark.parametrize("slots", [1, 2, 5])
@pytest.mark.parametrize("variances", ["shared", "per-component"])
def test_compiled_score_is_exact_whatever_its_time_cache_holds(slots, variances):
    """Times revisited in any order through a cache of 1, 2 or 5 slots give the NumPy score, and a time
    asked for between per-particle times (a grid time among midpoints) stays cached."""
    rng = np.random.default_rng(5)
    spread = rng.uniform(0.2, 1.0, (4, 7)) if variances == "per-component" else 0.5
    target = cs.gaussian_mixture(rng.standard_normal((4, 7)) * 2, spread)
    kernel = compile_for(particle_score, "cpu")
    work = np.zeros(target.kernel_work_size(slots))
    out = np.zeros(7)
    grid_time = 0.3
    times = [grid_time, 0.11, grid_time, 0.7, grid_time, 0.05, 2.0, 0.11, grid_time, 0.7, 0.7, 3.5]
    for t in times:
        x = target.sample(1, int(1e3 * t), t=t)[0]
        kernel(x, t, target.kernel_params(), out, work)
        np.testing.assert_allclose(out, target.score(x[None], t)[0], rtol=1e-12, atol=1e-12)
    if slots >= 2:
        for t in (grid_time, 0.21, grid_time, 0.22, grid_time, 0.23):
            kernel(x, t, target.kernel_params(), out, work)
        held = work[target.kernel_lane_rows() + 1 :].reshape(slots, -1)[:, 1]  # each slot's time (after the clock)
        assert grid_time in held and 0.23 in held


@pytest.mark.parametrize("variances", ["shared", "per-component"])
def test_compiled_score_skips_only_components_that_cannot_change_it(variances):
    """Far-apart components at small t: all but the nearest fall below ``NEGLIGIBLE`` and are skipped,
    and the score is still the NumPy one, as it is between two modes and at t = 1."""
    from certsample.kernels.score import NEGLIGIBLE

    rng = np.random.default_rng(2)
    means = rng.standard_normal((6, 5)) * 6
    target = cs.gaussian_mixture(means, rng.uniform(0.2, 1.0, (6, 5)) if variances == "per-component" else 0.3)
    kernel = compile_for(particle_score, "cpu")
    work = np.zeros(target.kernel_work_size(2))
    out = np.zeros(5)
    between = 0.5 * (means[:1] + means[1:2]) * np.exp(-0.01)
    skipped = 0
    for t, x in ((0.01, target.sample(4, 0, t=0.01)), (0.01, between), (1.0, target.sample(4, 1, t=1.0))):
        law = target.law_at(t)
        var = np.broadcast_to(law.variances, law.means.shape)
        logp = -0.5 * np.sum((x[:, None] - law.means) ** 2 / var + np.log(var), axis=2)
        skipped += int(np.sum(logp - logp.max(axis=1, keepdims=True) < NEGLIGIBLE))
        for row in x:
            kernel(row, t, target.kernel_params(), out, work)
            np.testing.assert_allclose(out, target.score(row[None], t)[0], rtol=1e-12, atol=1e-12)
    assert skipped >= 10  # the skip ran (equal weights: the log-weights cancel)


def test_target_arguments_are_named():
    ring = cs.ring_mixture()
    for bad in (True, 3.5, "5"):
        with pytest.raises(ValueError, match="ambient_dim"):
            cs.embed(ring, bad)
    for label, kwargs in (("std", dict(std=-0.5)), ("radius", dict(radius=float("nan")))):
        with pytest.raises(ValueError, match=label):
            cs.ring_mixture(**kwargs)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        cs.make_target("cloud", seed=-1)
    with pytest.raises(ValueError, match="unknown target"):
        cs.make_target(["ring"])
    with pytest.raises(ValueError, match="number of samples n"):
        ring.sample(-1)


def test_a_loosely_orthonormal_basis_is_made_orthonormal_to_rounding():
    """A basis orthonormal to 8e-13 is accepted and re-orthonormalised (the enclosures take it as exactly
    orthonormal: at 8e-13 their balls missed the exact flow by 1000 radii); a QR basis is kept bit for bit."""
    from certsample.targets import ORTHONORMAL_TOLERANCE, MixtureTarget

    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 2)))
    loose = MixtureTarget([[3000.0, -2000.0]], [[0.5, 2.0]], basis=q * (1 + 4e-13), lam_perp=0.3)
    assert np.max(np.abs(loose.basis.T @ loose.basis - np.eye(2))) <= ORTHONORMAL_TOLERANCE
    assert np.max(np.abs(loose.basis - q)) < 1e-11
    kept = MixtureTarget([[3000.0, -2000.0]], [[0.5, 2.0]], basis=q, lam_perp=0.3)
    assert np.array_equal(kept.basis, q)
