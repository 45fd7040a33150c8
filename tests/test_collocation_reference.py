"""Collocation with a Gaussian's flow as the exact linear part (``reference_variance``)."""

import math

import numpy as np
import pytest
from mpmath import mp

import certsample as cs
from certsample.forward import TimeGrid
from certsample.highprec import MPTarget, max_abs_diff, solve_trajectory
from certsample.integrate import initial_particles
from certsample.oracle import ScoreOracle
from certsample.precision import MPContext
from certsample.solvers.collocation import Collocation, collocation_matrix, gaussian_variance, reference_window
from certsample.solvers.collocation_adaptive import reference_variance_of

GRID = TimeGrid(np.array([3.0, 1.8, 1.0, 0.6, 0.3, 0.1]))


def _cuda_run(cuda_simulator, tmp_path, solver, n, seed, times):
    """``(samples, nfe, rounds)`` of the ring's first ``n`` exact starts (of 12, ``seed``) run by ``solver`` (its
    source, a ``Collocation(...)`` call) on the CUDA simulator over the grid ``times``."""
    out = tmp_path / "cuda.npy"
    cuda_simulator(f"""
        import numpy as np, certsample as cs
        from numpy import array
        from certsample.forward import TimeGrid
        from certsample.integrate import initial_particles
        from certsample.solvers.collocation import Collocation
        target = cs.ring_mixture()
        x0 = initial_particles(12, 2, {seed}, 3.0, target, "exact")[:{n}]
        run = cs.sample(target, {solver}, x_init=x0, grid=TimeGrid(np.array({list(times)!r})),
                        backend="cuda", progress=False)
        np.save({str(out)!r}, np.concatenate([run.samples.ravel(), [run.nfe, run.rounds]]))
    """)
    cuda = np.load(out)
    return cuda[:-2].reshape(n, 2), int(cuda[-2]), int(cuda[-1])


def test_unit_variance_is_plain_collocation_and_mpmath_agrees():
    # N(0, 1) is the OU process's own law: its flow is the identity, so the whole drift y + s is collocated
    amat, growth, shift = reference_window(6, 2.0, 0.5, 1.0)
    assert np.max(np.abs(amat - collocation_matrix(6, 0.5, "plain"))) < 1e-15
    assert np.all(growth == 1.0) and np.all(shift == 1.0)
    amat, growth, shift = reference_window(8, 1.3, 0.7, 0.25)
    in_mp = reference_window(8, 1.3, 0.7, 0.25, context=MPContext(40))
    for a, b in zip((amat, growth, shift), in_mp):
        assert np.max(np.abs(a - b.astype(float))) < 4e-15  # Gauss-Legendre sums of ~50 terms
    # the growth is the reference flow: sqrt(V(t - h c) / V(t))
    nodes = cs.solvers.collocation.chebyshev_lobatto_nodes(8)
    expected = np.sqrt(gaussian_variance(0.25, 1.3 - 0.7 * nodes) / gaussian_variance(0.25, 1.3))
    assert np.max(np.abs(growth - expected)) < 1e-15


@pytest.mark.parametrize("variance", [0.3, 0.0])
def test_one_sweep_is_exact_for_the_reference_gaussian(variance):
    """For ``N(0, v)`` the collocated part ``s + y / V`` is zero: one sweep of any degree is the exact flow
    (``v = 0``: a point mass at 0, whose ``q_t`` is ``N(0, 1 - e^{-2t})``)."""
    target = cs.gaussian_mixture([[0.0, 0.0, 0.0]], variance)
    x0 = initial_particles(6, 3, 2, 3.0, target, "exact")
    run = cs.sample(target, Collocation(3, 1, reference_variance=variance), x_init=x0, grid=GRID, progress=False)
    exact = x0 * math.sqrt(gaussian_variance(variance, 0.1) / gaussian_variance(variance, 3.0))
    assert np.max(np.abs(run.samples - exact)) < 1e-14
    # the linear part y alone leaves the score to the sweeps: one sweep is far off
    plain = cs.sample(target, Collocation(3, 1), x_init=x0, grid=GRID, progress=False)
    assert np.max(np.abs(plain.samples - exact)) > 1e-3


def test_fewer_sweeps_reach_the_collocation_solution_near_the_reference():
    """On the ring (component variance 0.25) the Picard error after a few sweeps is far smaller with the
    reference flow than with the linear part ``y`` for the typical particle, and smaller for the worst one;
    both converge to (nearly) the same solution."""
    target = cs.ring_mixture()
    # per-particle error ratios over 64 particles, seeds 0-9: median 0.008-0.028, largest 0.26-0.56 (the worst
    # particle, near a mode boundary, gains least), so the median is what the claim is about
    x0 = initial_particles(32, 2, 5, 3.0, target, "exact")

    def run(sweeps, v):
        solver = Collocation(8, sweeps, reference_variance=v)
        return cs.sample(target, solver, x_init=x0, grid=GRID, progress=False).samples

    converged = run(40, None)
    assert np.max(np.abs(run(40, 0.25) - converged)) < 1e-9  # two collocations of the same flow
    err_y, err_ref = (np.linalg.norm(run(4, v) - run(40, v), axis=1) for v in (None, 0.25))
    assert np.median(err_ref) < 0.1 * np.median(err_y)
    assert err_ref.max() < err_y.max()


def test_backends_agree_with_warm_start_and_pipeline(cuda_simulator, tmp_path):
    target = cs.ring_mixture()
    x0 = initial_particles(12, 2, 1, 3.0, target, "exact")
    sweeps = np.array([2, 3, 1, 3, 2])
    numpy_run = cs.sample(
        target,
        Collocation(6, sweeps, warm_start=True, pipeline=True, reference_variance=0.25),
        x_init=x0,
        grid=GRID,
        progress=False,
    )
    cpu = cs.sample(
        target,
        Collocation(6, sweeps, warm_start=True, pipeline=True, reference_variance=0.25),
        x_init=x0,
        grid=GRID,
        backend="cpu",
        progress=False,
    )
    assert (cpu.nfe, cpu.rounds) == (numpy_run.nfe, numpy_run.rounds)
    assert np.max(np.abs(cpu.samples - numpy_run.samples)) < 1e-11
    solver = "Collocation(6, array([2, 3, 1, 3, 2]), warm_start=True, pipeline=True, reference_variance=0.25)"
    samples, nfe, rounds = _cuda_run(cuda_simulator, tmp_path, solver, 12, 1, GRID.times.tolist())
    assert (nfe, rounds) == (numpy_run.nfe, numpy_run.rounds)
    assert np.max(np.abs(samples - numpy_run.samples)) < 1e-11


def test_mpmath_step_is_the_float64_step():
    target = cs.point_cloud([[0.5, 0.2], [-0.4, 0.3], [0.1, -0.6]])
    grid = TimeGrid(np.array([2.0, 1.2, 0.7, 0.4, 0.2]))
    x0 = initial_particles(1, 2, 3, 2.0, target, "exact")
    options = dict(warm_start=True, pipeline=True, reference_variance=0.0)
    in_float64 = cs.sample(target, Collocation(6, 5, **options), 1, grid=grid, x_init=x0, progress=False).samples[0]
    solver = Collocation(6, 5, context=MPContext(30), **options)
    in_mpmath = solve_trajectory(solver, MPTarget(target, dps=30), x0[0], grid)
    assert all(isinstance(v, mp.mpf) for v in in_mpmath)
    assert max_abs_diff(in_mpmath, in_float64) < 1e-13


def test_measured_plans_use_the_targets_variances_and_the_theorem_says_it_does_not_cover_them():
    ring = cs.ring_mixture()
    assert reference_variance_of(ScoreOracle.from_target(ring)) == pytest.approx(0.25)
    assert reference_variance_of(ScoreOracle.from_target(cs.make_target("cloud"))) == 0.0
    assert reference_variance_of(ScoreOracle(lambda x, t: -x, 2)) is None  # a user's score: the linear part y
    x0 = initial_particles(40, 2, 3, 10.0, ring, "exact")
    run = cs.sample(ring, "collocation", x_init=x0, T=10.0, delta=1e-3, eps=1e-6, progress=False)
    assert run.extra["reference_variance"] == pytest.approx(0.25)
    assert Collocation(4, 2, reference_variance=0.25).theorem is None
    assert "reference_variance=None" in Collocation(4, 2, reference_variance=0.25).theorem_gap
    assert Collocation(4, 2).theorem == "collocation"
    with pytest.raises(ValueError, match="reference_variance must be a finite number >= 0"):
        Collocation(4, 2, reference_variance=-1.0)
    with pytest.raises(ValueError, match="must end at t - h > 0"):
        reference_window(4, 1.0, 1.0, 0.0)


def test_measured_plans_extrapolate_the_whole_warm_start_and_the_solver_runs_that_start():
    from certsample.solvers.collocation import WARM_START_GAIN, warm_start_matrix
    from certsample.solvers.collocation_adaptive import MEASURED_WARM_START_GAIN, adapt_plan

    target = cs.ring_mixture()
    x0 = initial_particles(8, 2, 0, 10.0, target, "exact")
    plan = adapt_plan(1e-6, target.score, x0, 10.0, 1e-3, degree=8)
    assert plan.warm_start_gain == MEASURED_WARM_START_GAIN
    solver = plan.solver()
    assert solver.warm_start_gain == MEASURED_WARM_START_GAIN and "warm_start_gain=1e+08" in repr(solver)
    run = cs.sample(target, solver, x_init=x0, grid=plan.grid, progress=False)
    assert (run.nfe, run.rounds) == (plan.nfe, plan.rounds)
    # at D = 8 and equal windows the whole interpolant's gain is about 7e5: the default truncates it, 1e8 does not
    amat = collocation_matrix(8, 0.5)
    full = warm_start_matrix(amat, 0.5, 0.5, max_gain=1e12)
    assert np.array_equal(warm_start_matrix(amat, 0.5, 0.5, max_gain=MEASURED_WARM_START_GAIN), full)
    assert not np.array_equal(warm_start_matrix(amat, 0.5, 0.5, max_gain=WARM_START_GAIN), full)
    with pytest.raises(ValueError, match="warm_start_gain must be a finite number >= 1"):
        Collocation(4, 2, warm_start=True, warm_start_gain=0.5)


def test_anderson_sweeps_reach_the_same_solution_sooner_on_every_backend(cuda_simulator, tmp_path):
    """Anderson mixing changes the iterates, not the fixed point: converged runs agree with plain sweeps; at a few
    sweeps per window it is much closer to that point; NumPy, CPU and the CUDA simulator agree, with equal counts."""
    target = cs.ring_mixture()
    # seed 5 since the ziggurat normals: mixed / plain is 0.03-0.07 over seeds 0-7 (0.062 at seed 4)
    x0 = initial_particles(12, 2, 5, 3.0, target, "exact")

    def run(sweeps, anderson, backend="numpy", **options):
        solver = Collocation(8, sweeps, anderson=anderson, **options)
        return cs.sample(target, solver, x_init=x0, grid=GRID, backend=backend, progress=False)

    converged = run(40, False).samples
    assert np.max(np.abs(run(40, True).samples - converged)) < 1e-12
    plain, mixed = (np.max(np.abs(run(5, a).samples - converged)) for a in (False, True))
    assert mixed < 0.05 * plain
    assert Collocation(8, 3, anderson=True).kernel_node_threads == 0  # its sums span a particle's nodes
    assert Collocation(8, 3, anderson=True).theorem is None
    sweeps = np.array([2, 4, 1, 3, 3])
    options = dict(warm_start=True, pipeline=True, reference_variance=0.25)
    numpy_run = run(sweeps, True, **options)
    cpu = run(sweeps, True, "cpu", **options)
    assert (cpu.nfe, cpu.rounds) == (numpy_run.nfe, numpy_run.rounds)
    assert np.max(np.abs(cpu.samples - numpy_run.samples)) < 1e-11
    # CUDA runs it one thread per particle, whose block layout the simulator runs slowly: a small case
    small = dict(x_init=x0[:3], grid=TimeGrid(np.array([3.0, 1.0, 0.3, 0.1])), progress=False)
    small_run = cs.sample(target, Collocation(3, np.array([2, 3, 2]), anderson=True, **options), **small)
    solver = "Collocation(3, array([2, 3, 2]), anderson=True, warm_start=True, pipeline=True, reference_variance=0.25)"
    samples, nfe, rounds = _cuda_run(cuda_simulator, tmp_path, solver, 3, 5, [3.0, 1.0, 0.3, 0.1])
    assert (nfe, rounds) == (small_run.nfe, small_run.rounds)
    assert np.max(np.abs(samples - small_run.samples)) < 1e-11


def test_anderson_mix_is_a_secant_step_per_particle():
    """Two particles, one moving node, one coordinate: a linear contraction ``x -> q x`` with a different ``q`` per
    particle is solved exactly by one mixed step (the secant through the last two images)."""
    q = np.array([0.5, -0.3])
    x = np.array([1.0, 2.0])
    previous = np.zeros((2, 2, 1))
    nodes = np.zeros((2, 2, 1))
    previous[1, :, 0] = x
    nodes[1, :, 0] = q * x
    memory = cs.solvers.collocation.anderson_mix(nodes, previous, None)
    assert np.array_equal(nodes[1, :, 0], q * x)  # the first sweep is not mixed
    previous[1] = nodes[1]
    nodes[1, :, 0] = q * previous[1, :, 0]
    cs.solvers.collocation.anderson_mix(nodes, previous, memory)
    assert np.max(np.abs(nodes[1])) < 1e-15  # the fixed point 0
