"""Memory: refused up front when it cannot fit; CPU scratch per block, results independent of blocking."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import certsample as cs
from certsample.memory import InsufficientMemoryError, estimate_run_bytes
from tests.conftest import ROOT


def test_a_run_that_cannot_fit_is_refused_at_once_with_both_numbers():
    with pytest.raises(InsufficientMemoryError, match=r"needs about .* GiB, but .* GiB are available"):
        cs.sample(cs.ring_mixture(), n=10**9, backend="cpu")
    # the CLI names it in one line
    proc = subprocess.run([sys.executable, "-m", "certsample", "sample", "--n", "1000000000"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("certsample: error: a run of n=1000000000")


def test_estimate_grows_with_the_state_not_with_cpu_scratch():
    coll = cs.solvers.Collocation(degree=8, sweeps=2)
    small, big = (estimate_run_bytes(n, 64, coll, "cpu") for n in (10**4, 10**5))
    assert big - small == 3 * 8 * 64 * (10**5 - 10**4)  # three states, no per-particle scratch
    assert estimate_run_bytes(10**5, 64, coll, "numpy") > big


@pytest.mark.parametrize("solver", ["collocation", "randomized-midpoint"])
def test_cpu_results_do_not_depend_on_the_number_of_scratch_blocks(solver, tmp_path):
    code = textwrap.dedent(f"""
        import numba, numpy as np, certsample as cs
        numba.set_num_threads(int(__import__("sys").argv[1]))
        target = cs.gaussian_mixture([[1.0, 0.0, 0.5], [-1.0, 0.5, 0.0]], [[0.3, 0.5, 0.2], [0.6, 0.2, 0.4]])
        run = cs.sample(target, {solver!r}, n=37, n_steps=6, backend="cpu", seed=3, progress=False)
        np.save(__import__("sys").argv[2], run.samples)
    """)
    outs = []
    for threads in (1, 2):
        path = tmp_path / f"{threads}.npy"
        subprocess.run([sys.executable, "-c", code, str(threads), str(path)], cwd=ROOT, check=True, timeout=300)
        outs.append(np.load(path))
    np.testing.assert_array_equal(outs[0], outs[1])
