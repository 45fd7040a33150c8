"""Memory: refused up front when it cannot fit; CPU scratch per block, results independent of blocking."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import certsample as cs
from certsample import memory
from certsample.memory import InsufficientMemoryError, estimate_run_bytes
from certsample.solvers import get_solver
from tests.conftest import ROOT


def test_a_run_that_cannot_fit_is_refused_at_once_with_both_numbers():
    # 10^9 particles in d = 1000: 8 TB of output alone (in d = 2 the 16 GB output can fit, and the run would start)
    with pytest.raises(InsufficientMemoryError, match=r"needs about .* GiB, but .* GiB are available"):
        cs.sample(cs.ring_mixture(dim=1000), n=10**9, backend="cpu")
    # the CLI names it in one line
    proc = subprocess.run(
        [sys.executable, "-m", "certsample", "sample", "--dim", "1000", "--n", "1000000000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("certsample: error: a run of n=1000000000")


def test_estimate_grows_with_the_state_not_with_scratch_or_temporaries():
    coll = cs.solvers.Collocation(degree=8, sweeps=2)
    for backend in ("cpu", "numpy", "cuda"):
        chunk = memory.particles_per_chunk(10**8, 64, coll, backend)
        small, big = (estimate_run_bytes(n, 64, coll, backend) for n in (10 * chunk, 20 * chunk))
        # beyond one chunk, only the output and the input grow: two states, whatever the solver
        assert big - small == 2 * 8 * 64 * 10 * chunk, backend
    assert memory.particles_per_chunk(10**8, 64, coll, "numpy") < memory.particles_per_chunk(10**8, 64, coll, "cpu")


@pytest.mark.parametrize(
    "solver, backend", [("collocation", "numpy"), ("exponential-sde", "numpy"), ("randomized-midpoint", "cpu")]
)
def test_chunks_reproduce_one_pass_bit_for_bit(solver, backend, monkeypatch):
    target = cs.gaussian_mixture([[1.0, 0.0, 0.5], [-1.0, 0.5, 0.0]], [[0.3, 0.5, 0.2], [0.6, 0.2, 0.4]])
    steps = 8 if solver == "collocation" else 30  # collocation's windows are dear on NumPy; 8 show the same
    kw = dict(n=23, n_steps=steps, seed=7, backend=backend, progress=False)
    whole = cs.sample(target, solver, **kw)
    monkeypatch.setattr(memory, "CHUNK_BYTES", 5 * memory._bytes_per_particle(3, get_solver(solver), backend))
    assert memory.particles_per_chunk(23, 3, get_solver(solver), backend) == 5
    chunked = cs.sample(target, solver, **kw)
    assert np.array_equal(chunked.samples, whole.samples)
    assert (chunked.nfe, chunked.rounds) == (whole.nfe, whole.rounds)
    # a perturbed oracle keys its noise by particle too
    noisy = cs.PerturbedOracle(target, bias=0.01, noise=0.1, seed=3)
    chunked_noisy = cs.sample(noisy, solver, n=23, n_steps=steps, seed=7, progress=False).samples
    monkeypatch.setattr(memory, "CHUNK_BYTES", 10**9)
    assert np.array_equal(cs.sample(noisy, solver, n=23, n_steps=steps, seed=7, progress=False).samples, chunked_noisy)


def test_cuda_grid_stride_launch_with_fewer_threads_than_particles(cuda_simulator):
    out = cuda_simulator("""
        import numpy as np
        import certsample as cs
        from certsample.kernels import launch
        launch.CUDA_THREADS = 4
        launch.CUDA_MAX_THREADS = 8  # 2 blocks of 4 threads walk 19 particles
        target = cs.gaussian_mixture([[1.0, 0.0], [-1.0, 0.5]], [[0.3, 0.5], [0.6, 0.2]])
        for name in ["randomized-midpoint", "collocation"]:
            kw = dict(n=19, n_steps=3, T=2.0, delta=0.1, seed=4, progress=False)
            ref = cs.sample(target, name, backend="cpu", **kw)
            gpu = cs.sample(target, name, backend="cuda", **kw)
            print(name, gpu.nfe == ref.nfe, np.abs(gpu.samples - ref.samples).max())
    """)
    rows = [line.split() for line in out.strip().splitlines()]
    assert len(rows) == 2 and all(ok == "True" and float(diff) < 1e-12 for _, ok, diff in rows)


@pytest.mark.parametrize("solver", ["collocation", "randomized-midpoint"])
def test_cpu_results_do_not_depend_on_the_number_of_scratch_blocks(solver, tmp_path):
    code = textwrap.dedent(f"""
        import numba, numpy as np, certsample as cs
        numba.set_num_threads(int(__import__("sys").argv[1]))
        target = cs.gaussian_mixture([[1.0, 0.0, 0.5], [-1.0, 0.5, 0.0]], [[0.3, 0.5, 0.2], [0.6, 0.2, 0.4]])
        run = cs.sample(target, {solver!r}, n=37, n_steps=6, backend="cpu", seed=3, progress=False)
        np.save(__import__("sys").argv[2], run.samples)
    """)
    # Numba caps threads at the CPUs the process may use: a one-CPU machine (or taskset) still gets two
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    outs = []
    for threads in (1, 2):
        path = tmp_path / f"{threads}.npy"
        args = [sys.executable, "-c", code, str(threads), str(path)]
        subprocess.run(args, cwd=ROOT, env=env, check=True, timeout=300)
        outs.append(np.load(path))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_kernels_compile_once_per_machine(tmp_path):
    """A second process loads every compiled kernel from Numba's on-disk cache (no compilation)."""
    code = textwrap.dedent("""
        import certsample as cs
        from certsample.kernels import jit
        cs.sample(cs.ring_mixture(), "randomized-midpoint", n=20, n_steps=3, backend="cpu", progress=False)
        cached = [d for d in jit._compiled.values() if getattr(d, "_cache", None) is not None
                  and type(d._cache).__name__ == "FunctionCache"]
        hits = sum(sum(d.stats.cache_hits.values()) for d in cached)
        misses = sum(sum(d.stats.cache_misses.values()) for d in cached)
        print(len(cached), hits, misses)
    """)
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)
    runs = [
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        for _ in range(2)
    ]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr + runs[1].stderr
    first, second = ([int(v) for v in r.stdout.split()] for r in runs)
    assert first[2] >= 5  # the run's kernel, the noise batch and their callees compiled
    # the second process loads the two top-level kernels (callees come inside them) and compiles nothing
    assert second[1] >= 2 and second[2] == 0


def test_cache_names_change_with_callees_and_user_code_is_never_cached():
    from certsample.kernels import cpu_driver, jit
    from certsample.solvers import collocation, exponential_ode

    step_a, step_b = exponential_ode.exponential_ode_step, collocation.collocation_step
    lib_a, digest_a = jit._fingerprint(cpu_driver.cpu_run_steps, {"solver_step": step_a})
    lib_b, digest_b = jit._fingerprint(cpu_driver.cpu_run_steps, {"solver_step": step_b})
    assert lib_a and lib_b and digest_a != digest_b  # one driver source, two cache entries

    @jit.device_function
    def user_score(x, t, target_params, out, work):
        out[0] = x[0]

    assert not jit._fingerprint(cpu_driver.cpu_run_steps, {"solver_step": step_a, "target_score": user_score})[0]


def test_cache_names_change_with_the_numpy_scalar_constants_a_kernel_reads(monkeypatch):
    """Numba freezes a global constant into the compiled code; the Philox multipliers and bit masks are NumPy
    ``uint64`` scalars, and an edit of one must give a new cache entry as an edit of a Python int does."""
    from certsample.kernels import jit, philox

    before = jit._fingerprint(philox.philox4x32, {})
    monkeypatch.setattr(philox, "PHILOX_M0", philox.PHILOX_M0 + np.uint64(2))
    after = jit._fingerprint(philox.philox4x32, {})
    assert before[0] and after[0] and before[1] != after[1]


def test_cache_names_change_with_a_callee_s_default_arguments():
    """A default value is compiled into every call that omits it (``_series``' ``centre``), and lives apart from the
    code object: an edit of it must change the cache name too."""
    import types

    from certsample.kernels import jit
    from certsample.verify import fast_enclosure as fe

    edited = types.FunctionType(fe._series.__code__, fe._series.__globals__, "_series", (1,), None)
    for attr in ("_certsample_device", "_certsample_inline"):
        if hasattr(fe._series, attr):
            setattr(edited, attr, getattr(fe._series, attr))
    edited.__module__ = fe._series.__module__
    assert jit._fingerprint(fe._series, {})[1] != jit._fingerprint(edited, {})[1]
