"""One contract over the solver registry: every registered solver, with no per-solver code here.

For each solver (its default options): the NumPy reference, the CPU kernel and the CUDA kernel (under
the simulator) agree to 1e-12 from the same start points and noise, and every backend reports the
evaluation and round counts of the solver's own :meth:`~certsample.solvers.Solver.cost`. A solver added
with :func:`certsample.solvers.register` is checked here without editing this file.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import certsample as cs
import proofs
from certsample.solvers import SOLVERS, ODESolver, ParallelSolver, PlannedSolver, SDESolver, Solver

HERE = os.path.dirname(os.path.abspath(__file__))
N, STEPS, T, DELTA, SEED = 5, 3, 2.0, 0.05, 11


def run(name, backend):
    """``(samples, nfe, rounds, (own nfe, own rounds))`` of the registered solver ``name`` on the ring."""
    target = cs.ring_mixture()
    solver = SOLVERS[name]()
    grid = cs.make_grid("exponential", T, DELTA, STEPS)
    x0 = cs.initial_particles(N, target.dim, SEED, T, target, "exact")
    with warnings.catch_warnings():  # few, long stochastic steps: compared, not judged
        warnings.simplefilter("ignore", RuntimeWarning)
        result = cs.sample(target, solver, grid=grid, x_init=x0, backend=backend, seed=SEED, progress=False)
    return result.samples, result.nfe, result.rounds, solver.cost(grid, target)


@pytest.fixture(scope="module")
def cuda_runs(tmp_path_factory):
    """Every registered solver on the CUDA simulator, in one subprocess (the simulator must be on
    before numba.cuda is imported)."""
    from conftest import run_cuda_simulator

    out = tmp_path_factory.mktemp("contract") / "cuda.npz"
    run_cuda_simulator(f"""
        import sys, numpy as np
        sys.path.insert(0, {HERE!r})
        from test_solver_contract import run
        from certsample.solvers import SOLVERS
        out = {{}}
        for name in SOLVERS:
            x, nfe, rounds, _ = run(name, "cuda")
            out[name] = x
            out[name + "/cost"] = np.array([nfe, rounds])
        np.savez({str(out)!r}, **out)
    """)
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_backends_agree_and_count_what_the_solver_says(name, cuda_runs):
    ref, nfe, rounds, own = run(name, "numpy")
    assert (nfe, rounds) == own, f"{name}: the NumPy run counted {(nfe, rounds)}, the solver's cost() says {own}"
    cpu, cpu_nfe, cpu_rounds, _ = run(name, "cpu")
    np.testing.assert_allclose(cpu, ref, rtol=1e-12, atol=1e-12, err_msg=f"{name}: CPU kernel vs NumPy")
    assert (cpu_nfe, cpu_rounds) == own
    np.testing.assert_allclose(cuda_runs[name], ref, rtol=1e-12, atol=1e-12, err_msg=f"{name}: CUDA vs NumPy")
    assert tuple(cuda_runs[name + "/cost"]) == own


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_the_class_carries_what_drivers_and_certify_need(name):
    cls = SOLVERS[name]
    solver = cls()
    assert isinstance(solver, Solver) and solver.name == name
    assert isinstance(solver, ODESolver) != isinstance(solver, SDESolver), "deterministic or stochastic, not both"
    if cls.theorem is None:
        assert cls.theorem_gap, f"{name}: no theorem and no reason"
    else:
        assert cls.theorem in proofs.THEOREMS
    grid = cs.make_grid("exponential", T, DELTA, STEPS)
    nfe, rounds = solver.cost(grid, cs.ring_mixture())
    assert 0 < rounds <= nfe
    if isinstance(solver, ParallelSolver):
        assert rounds < nfe, f"{name}: a ParallelSolver evaluates several scores per round"
    if solver.linear_in_noise:
        assert not isinstance(solver, ParallelSolver)
    if isinstance(solver, PlannedSolver):  # the hooks are implemented, not the base's NotImplementedError
        assert type(solver).plan is not PlannedSolver.plan
        assert type(solver).measured_plan is not PlannedSolver.measured_plan


def test_a_registered_solver_is_checked_without_editing_the_contract():
    from certsample.solvers import register

    with pytest.raises(ValueError, match="Solver subclass"):
        register(object)
    before = dict(SOLVERS)

    class Halved(cs.solvers.ExponentialODE):
        name = "halved-test-solver"

    try:
        register(Halved)
        assert "halved-test-solver" in SOLVERS and SOLVERS["halved-test-solver"] is Halved
        x, nfe, rounds, own = run("halved-test-solver", "numpy")
        assert (nfe, rounds) == own == (STEPS, STEPS)
    finally:
        SOLVERS.clear()
        SOLVERS.update(before)
