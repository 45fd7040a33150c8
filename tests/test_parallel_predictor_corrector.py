"""Parallel predictor-corrector: the Picard corrector is exact after 2M sweeps and converges fast before."""

import numpy as np
import pytest

import certsample as cs
from certsample.solvers import ParallelPredictorCorrector, PredictorCorrector, get_solver
from certsample.solvers.picard_ulmc import picard_cost

TARGET = cs.gaussian([0.5, -0.5, 0.2], [0.1, 1.0, 0.5])
KW = dict(n=200, n_steps=6, T=4.0, delta=0.02, seed=1, progress=False)


def _run(solver, backend="numpy"):
    return cs.sample(TARGET, solver, backend=backend, **KW)


@pytest.mark.parametrize("steps", [1, 3])
def test_picard_corrector_with_2m_sweeps_is_the_sequential_corrector(steps):
    sequential = _run(PredictorCorrector("parallel", R=4, K=2, corrector_steps=steps))
    parallel = _run(ParallelPredictorCorrector(corrector_steps=steps, corrector_sweeps=2 * steps))
    np.testing.assert_allclose(parallel.samples, sequential.samples, rtol=0, atol=1e-12)
    assert parallel.rounds == sequential.rounds  # 2M sweeps cost what 2M sequential evaluations do


def test_picard_corrector_converges_faster_than_geometrically():
    sequential = _run(PredictorCorrector("parallel", R=4, K=2, corrector_steps=3))
    gaps = [
        np.abs(
            _run(ParallelPredictorCorrector(corrector_steps=3, corrector_sweeps=p)).samples - sequential.samples
        ).max()
        for p in (1, 2, 3, 4, 5)
    ]
    # measured: 0.38, 0.032, 1.1e-3, 1.8e-5, ~1e-7 (corrector time 1.5 in the scaled dynamics)
    for before, after in zip(gaps, gaps[1:]):
        assert after < before / 8
    assert gaps[3] < 1e-4


@pytest.mark.parametrize("steps, sweeps", [(1, 1), (2, 3), (3, 4), (4, 2), (2, 9)])
def test_cost_is_counted_by_the_oracle_and_the_formula(steps, sweeps):
    solver = ParallelPredictorCorrector(R=2, K=1, corrector_steps=steps, corrector_sweeps=sweeps)
    res = _run(solver)
    evals, rounds = picard_cost(steps, sweeps)
    assert rounds == min(sweeps, 2 * steps)
    assert evals == 1 + (rounds - 1) * (2 * steps - 1)
    assert res.nfe == solver.nfe(6) == 6 * (1 + 2 * 2 + evals)
    assert res.rounds == solver.rounds(6) == 6 * (1 + 2 + rounds)


def test_block_schedule_counts_the_picard_corrector_once_per_block():
    solver = ParallelPredictorCorrector(R=2, K=1, corrector_steps=4, corrector_sweeps=3, blocks=2)
    res = _run(solver)
    assert res.rounds == 6 * 3 + 2 * 3 and res.nfe == 6 * 5 + 2 * picard_cost(4, 3)[0]


def test_numpy_and_cpu_kernel_agree():
    target = cs.embed(cs.ring_mixture(4, radius=2.0), 3, seed=0, lam_perp=0.5)
    solver = ParallelPredictorCorrector(R=2, K=1, corrector_steps=2, corrector_sweeps=3, L=lambda t: 4.0 + t)
    kw = dict(n=9, n_steps=5, T=3.0, delta=0.05, seed=3, progress=False)
    ref = cs.sample(target, solver, backend="numpy", **kw)
    cpu = cs.sample(target, solver, backend="cpu", **kw)
    np.testing.assert_allclose(cpu.samples, ref.samples, rtol=0, atol=1e-12 * max(1.0, np.abs(ref.samples).max()))
    assert cpu.nfe == ref.nfe == solver.nfe(5) and cpu.rounds == ref.rounds


def test_cuda_kernel_agrees_with_numpy_under_simulator(cuda_simulator):
    out = cuda_simulator("""
        import numpy as np
        import certsample as cs
        from certsample.solvers import ParallelPredictorCorrector
        target = cs.embed(cs.ring_mixture(4, radius=2.0), 3, seed=0, lam_perp=0.5)
        solver = ParallelPredictorCorrector(R=2, K=1, corrector_steps=2, corrector_sweeps=2, L=4.0)
        kw = dict(n=3, n_steps=2, T=3.0, delta=0.05, seed=2, progress=False)
        ref = cs.sample(target, solver, backend="numpy", **kw)
        gpu = cs.sample(target, solver, backend="cuda", **kw)
        assert gpu.nfe == ref.nfe == solver.nfe(2), (gpu.nfe, ref.nfe)
        print(np.abs(gpu.samples - ref.samples).max())
    """)
    assert float(out.split()[-1]) < 1e-10


def test_registry_theorem_and_bad_input():
    assert isinstance(get_solver("ppc", corrector_sweeps=2), ParallelPredictorCorrector)
    assert ParallelPredictorCorrector.theorem == "gupta_cai_chen_parallel"
    with pytest.raises(ValueError, match="corrector_sweeps"):
        ParallelPredictorCorrector(corrector_sweeps=0)
    with pytest.raises(ValueError, match="R"):
        ParallelPredictorCorrector(R=0)
