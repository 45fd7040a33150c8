"""The same exponential-integrator ODE step in certsample and its peers, timed side by side.

    python benchmarks/peers.py [--threads 1] [--repeats 3] [--quick]

Every contender integrates the probability-flow ODE of the same Gaussian mixture with the same
exponential-integrator step ``x <- e^h x + (e^h - 1) score(x, t)`` on the same exponential grid, from
the same starting particles:

* ``certsample-cpu`` -- ``cs.sample(..., backend='cpu')`` (Numba kernel; compile excluded);
* ``certsample-numpy`` -- ``cs.sample(..., backend='numpy')``;
* ``numpy`` -- a hand-vectorised NumPy version of the step (what a user would write);
* ``jax-jit`` -- the step under ``jax.jit`` with ``lax.fori_loop`` (when ``jax`` is installed);
* ``torch`` -- the step in torch eager mode (when ``torch`` is installed).

Each runs in its own process with ``--threads`` threads for every library (Numba, BLAS, XLA,
torch), best of ``--repeats`` runs after a warm-up; results are checked against certsample's NumPy
reference. Printed: seconds, millions of particle-steps per second, the ratio to certsample-cpu, and
the achieved GFLOP/s as a fraction of the machine's measured single-thread dgemm rate (the score is
compute-bound: its state is a few vectors per particle, its work ``~6 K d`` flops and ``K`` exps per
particle-step).

Targets: the 2-D ring (8 components, ``n = 1e5``) and a 64-d, 16-component diagonal mixture
(``n = 1e4``), 100 steps, ``T = 10``, ``delta = 1e-3``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CONTENDERS = ("certsample-cpu", "certsample-numpy", "numpy", "jax-jit", "torch")
T, DELTA = 10.0, 1e-3


def make_target(name):
    import certsample as cs

    if name == "ring":
        return cs.ring_mixture()
    rng = np.random.default_rng(0)
    return cs.gaussian_mixture(rng.standard_normal((16, 64)) * 2, rng.uniform(0.2, 1.0, (16, 64)))


def problem(name, n, steps):
    import certsample as cs

    target = make_target(name)
    grid = cs.make_grid("exponential", T, DELTA, steps)
    x0 = cs.initial_particles(n, target.dim, 0, T, target, "exact")
    return target, grid, x0


def flops_per_particle_step(target):
    k, d = target.means.shape
    return 6 * k * d + 2 * d  # per component: diff, square-scale, accumulate (log-density), weighted sum


# ---------------------------------------------------------------------- contenders (run in a worker)
def run_certsample(target, grid, x0, backend):
    import certsample as cs

    def once():
        res = cs.sample(target, "exponential-ode", x_init=x0, grid=grid, backend=backend, seed=0, progress=False)
        return res.samples, res.wall_time  # wall_time excludes compilation

    return once


def run_numpy(target, grid, x0):
    means, var0, logw = target.means, target.variances, np.log(target.weights)
    times, steps = grid.times, grid.steps

    def score(x, t):
        a, s2 = np.exp(-t), -np.expm1(-2 * t)
        var = a * a * var0 + s2  # (K, d)
        diff = x[:, None, :] - a * means[None]  # (n, K, d)
        logp = logw - 0.5 * np.sum(diff**2 / var + np.log(var), axis=2)
        r = np.exp(logp - logp.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        return -np.einsum("nk,nkd->nd", r, diff / var)

    def once():
        start = time.perf_counter()
        x = x0.copy()
        for t, h in zip(times[:-1], steps):
            x = np.exp(h) * x + np.expm1(h) * score(x, t)
        return x, time.perf_counter() - start

    return once


def run_jax(target, grid, x0):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    means, var0 = jnp.asarray(target.means), jnp.asarray(target.variances)
    logw = jnp.asarray(np.log(target.weights))
    times, steps = jnp.asarray(grid.times[:-1]), jnp.asarray(grid.steps)

    def score(x, t):
        a, s2 = jnp.exp(-t), -jnp.expm1(-2 * t)
        var = a * a * var0 + s2
        diff = x[:, None, :] - a * means[None]
        logp = logw - 0.5 * jnp.sum(diff**2 / var + jnp.log(var), axis=2)
        r = jax.nn.softmax(logp, axis=1)
        return -jnp.einsum("nk,nkd->nd", r, diff / var)

    @jax.jit
    def integrate(x):
        def body(i, x):
            h = steps[i]
            return jnp.exp(h) * x + jnp.expm1(h) * score(x, times[i])
        return jax.lax.fori_loop(0, steps.shape[0], body, x)

    start = jnp.asarray(x0)
    integrate(start).block_until_ready()  # compile outside the timing

    def once():
        t0 = time.perf_counter()
        out = integrate(start).block_until_ready()
        return np.asarray(out), time.perf_counter() - t0

    return once


def run_torch(target, grid, x0):
    import torch

    means, var0 = torch.tensor(target.means), torch.tensor(target.variances)
    logw = torch.tensor(np.log(target.weights))
    times, steps = grid.times[:-1].tolist(), grid.steps.tolist()

    def score(x, t):
        a, s2 = np.exp(-t), -np.expm1(-2 * t)
        var = a * a * var0 + s2
        diff = x[:, None, :] - a * means[None]
        logp = logw - 0.5 * torch.sum(diff**2 / var + torch.log(var), dim=2)
        r = torch.softmax(logp, dim=1)
        return -torch.einsum("nk,nkd->nd", r, diff / var)

    def once():
        t0 = time.perf_counter()
        with torch.no_grad():
            x = torch.tensor(x0)
            for t, h in zip(times, steps):
                x = np.exp(h) * x + np.expm1(h) * score(x, t)
        return x.numpy(), time.perf_counter() - t0

    return once


def worker(args):
    target, grid, x0 = problem(args.target, args.n, args.steps)
    name = args.worker
    if name == "jax-jit":
        try:
            once = run_jax(target, grid, x0)
        except ImportError:
            print(json.dumps({"skipped": "jax is not installed (pip install jax)"}))
            return
    elif name == "torch":
        try:
            import torch

            torch.set_num_threads(args.threads)
            once = run_torch(target, grid, x0)
        except ImportError:
            print(json.dumps({"skipped": "torch is not installed (pip install certsample[torch])"}))
            return
    elif name == "numpy":
        once = run_numpy(target, grid, x0)
    else:
        once = run_certsample(target, grid, x0, name.split("-")[1])
    once()  # warm-up (and compilation, or the on-disk cache load)
    best, out = float("inf"), None
    for _ in range(args.repeats):
        out, seconds = once()
        best = min(best, seconds)
    np.save(args.out, out)
    print(json.dumps({"seconds": best}))


def dgemm_rate(threads):
    """Single-process dgemm GFLOP/s with ``threads`` BLAS threads (measured in a worker)."""
    code = ("import numpy as np, time; a = np.random.rand(1024, 1024); a @ a; t = time.perf_counter();"
            "[a @ a for _ in range(5)]; print(5 * 2 * 1024**3 / (time.perf_counter() - t) / 1e9)")
    out = subprocess.run([sys.executable, "-c", code], env=_env(threads), capture_output=True, text=True, check=True)
    return float(out.stdout)


def _env(threads):
    env = dict(os.environ)
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                        f"intra_op_parallelism_threads={threads}")
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n / 10 (a check that every contender runs)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", default="ring", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    gflops_peak = dgemm_rate(args.threads)
    print(f"{args.threads} thread(s) per contender; measured dgemm {gflops_peak:.1f} GFLOP/s; best of "
          f"{args.repeats}, compile excluded; EI-ODE, {args.steps} steps, T={T}, delta={DELTA}")
    for target_name, n in (("ring", 100_000), ("mixture64", 10_000)):
        n = n // 10 if args.quick else n
        target = make_target(target_name)
        flops = flops_per_particle_step(target)
        print(f"\n{target_name}: {target!r}, n={n}")
        print(f"{'contender':<18}{'seconds':>9}{'M part-steps/s':>16}{'vs certsample-cpu':>19}"
              f"{'GFLOP/s':>9}{'of dgemm':>9}{'max |diff|':>12}")
        results, reference = {}, None
        with tempfile.TemporaryDirectory() as tmp:
            for name in CONTENDERS:
                out = os.path.join(tmp, f"{name}.npy")
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--target", target_name,
                       "--n", str(n), "--steps", str(args.steps), "--repeats", str(args.repeats),
                       "--threads", str(args.threads), "--out", out]
                proc = subprocess.run(cmd, env=_env(args.threads), capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{name:<18} failed: {proc.stderr.strip().splitlines()[-1]}")
                    continue
                info = json.loads(proc.stdout.strip().splitlines()[-1])
                if "skipped" in info:
                    print(f"{name:<18} skipped: {info['skipped']}")
                    continue
                samples = np.load(out)
                if name == "certsample-numpy":
                    reference = samples
                results[name] = (info["seconds"], samples)
        base = results.get("certsample-cpu", (None,))[0]
        for name, (seconds, samples) in results.items():
            rate = n * args.steps / seconds
            diff = float(np.max(np.abs(samples - reference))) if reference is not None else float("nan")
            ratio = f"{base / seconds:>19.2f}" if base else f"{'':>19}"
            print(f"{name:<18}{seconds:>9.3f}{rate / 1e6:>16.2f}{ratio}{rate * flops / 1e9:>9.2f}"
                  f"{rate * flops / 1e9 / gflops_peak:>9.1%}{diff:>12.1e}")
    print("\n'vs certsample-cpu' > 1 means that contender is faster than certsample's CPU kernel.")


if __name__ == "__main__":
    main()
