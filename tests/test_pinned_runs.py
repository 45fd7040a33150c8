"""Samples pinned before a refactor: every solver and backend must keep producing them bit for bit.

``tests/data/pinned_runs.npz`` was written by ``python tests/test_pinned_runs.py --write`` from the
code before the solver contract, verify package and kernel layering changed; a refactor that
moves code must leave every number where it was. NumPy's and Numba's results are bitwise
reproducible on one instruction set; on another (libm or NumPy's SIMD exp may round a last bit
differently) the comparison falls back to 1e-12 relative and says so in the failure message.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PINS = os.path.join(HERE, "data", "pinned_runs.npz")

#: (label, target, solver, options, n_steps, grid): small runs that reach every layout and score path
RUNS = [
    ("em-ring", "ring", "euler-maruyama", {}, 6, "exponential"),
    ("ei-sde-ring", "ring", "exponential-sde", {}, 6, "exponential"),
    ("ei-ode-ring", "ring", "exponential-ode", {}, 6, "exponential"),
    ("ei-ode-mix", "unequal", "exponential-ode", {}, 5, "exponential"),
    ("rm-ring", "ring", "randomized-midpoint", {}, 6, "exponential"),
    ("rm-mix", "unequal", "randomized-midpoint", {}, 5, "uniform"),
    ("prm-ring", "ring", "parallel-midpoint", {"R": 3, "K": 2}, 5, "exponential"),
    ("pc-ring", "ring", "predictor-corrector", {"corrector_steps": 2}, 4, "exponential"),
    ("pc-blocks", "ring", "predictor-corrector", {"blocks": 2, "corrector_steps": 1}, 4, "exponential"),
    ("ppc-ring", "ring", "parallel-predictor-corrector", {"R": 2, "K": 1, "corrector_steps": 1}, 4, "exponential"),
    ("col-ring", "ring", "collocation", {"degree": 4, "sweeps": 3}, 4, "exponential"),
    ("col-warm", "ring", "collocation", {"degree": 4, "sweeps": 3, "warm_start": True}, 4, "exponential"),
    (
        "col-pipe",
        "ring",
        "collocation",
        {"degree": 4, "sweeps": [3, 2, 3, 1], "warm_start": True, "pipeline": True},
        4,
        "exponential",
    ),
    ("col-mix", "unequal", "collocation", {"degree": 3, "sweeps": 2}, 3, "exponential"),
]
#: the runs that are also pinned on the CUDA simulator (slow: a few)
CUDA_RUNS = ("ei-ode-ring", "rm-mix", "prm-ring", "col-pipe")
N = 70  # a full CPU block of 64 and a padded one
SEED = 3


def make(name):
    import certsample as cs

    if name == "ring":
        return cs.ring_mixture()
    return cs.gaussian_mixture(
        [[0.0, 1.0, -1.0], [1.5, -0.5, 0.5], [-1.0, 0.0, 1.0]],
        [[0.3, 0.5, 0.4], [0.6, 0.2, 0.3], [0.4, 0.4, 0.7]],
        [0.5, 0.3, 0.2],
    )


def run(label, backend):
    import certsample as cs

    _, target, solver, options, steps, grid = next(r for r in RUNS if r[0] == label)
    with warnings.catch_warnings():  # a few long stochastic steps: pinned, not judged
        warnings.simplefilter("ignore", RuntimeWarning)
        result = cs.sample(
            make(target),
            solver,
            N,
            steps,
            T=3.0,
            delta=1e-2,
            grid=grid,
            backend=backend,
            seed=SEED,
            solver_options=options,
            progress=False,
        )
    return result.samples, result.nfe, result.rounds


def host():
    import llvmlite.binding as llvm

    return f"{llvm.get_host_cpu_name()}|{np.__version__}"


def cuda_code(path):
    """Source run under the CUDA simulator: the CUDA_RUNS, saved to ``path``."""
    return f"""
        import sys, numpy as np
        sys.path.insert(0, {HERE!r})
        from test_pinned_runs import run, CUDA_RUNS
        out = {{}}
        for label in CUDA_RUNS:
            x, nfe, rounds = run(label, "cuda")
            out[label + "/cuda"] = x
            out[label + "/cuda/cost"] = np.array([nfe, rounds])
        np.savez({str(path)!r}, **out)
    """


def write(path=PINS):
    from conftest import run_cuda_simulator

    out = {}
    for label, *_ in RUNS:
        for backend in ("numpy", "cpu"):
            x, nfe, rounds = run(label, backend)
            out[f"{label}/{backend}"] = x
            out[f"{label}/{backend}/cost"] = np.array([nfe, rounds])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    run_cuda_simulator(cuda_code(path + ".cuda.npz"))
    with np.load(path + ".cuda.npz") as cuda:
        out.update({k: cuda[k] for k in cuda.files})
    os.remove(path + ".cuda.npz")
    out["host"] = np.array(host())
    np.savez(path, **out)


def compare(key, got, pins):
    want = pins[key]
    if str(pins["host"]) == host():
        assert np.array_equal(got, want), (
            f"{key}: not bit-identical to the pinned run (largest difference {np.max(np.abs(got - want)):.3g})"
        )
    else:
        np.testing.assert_allclose(
            got, want, rtol=1e-12, atol=1e-12, err_msg=f"{key}: pinned on {pins['host']}, compared on {host()}"
        )


@pytest.fixture(scope="module")
def pins():
    with np.load(PINS) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("label", [r[0] for r in RUNS])
def test_pinned_samples(label, backend, pins):
    x, nfe, rounds = run(label, backend)
    compare(f"{label}/{backend}", x, pins)
    assert [nfe, rounds] == pins[f"{label}/{backend}/cost"].tolist()


def test_pinned_samples_cuda_simulator(cuda_simulator, pins, tmp_path):
    out = tmp_path / "cuda.npz"
    cuda_simulator(cuda_code(out))
    with np.load(out) as got:
        for label in CUDA_RUNS:
            compare(f"{label}/cuda", got[f"{label}/cuda"], pins)
            assert got[f"{label}/cuda/cost"].tolist() == pins[f"{label}/cuda/cost"].tolist()


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_pinned_runs.py --write   (rewrites tests/data/pinned_runs.npz)")
    sys.path.insert(0, HERE)
    write()
    print(f"wrote {PINS}")
