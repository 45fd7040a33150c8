"""The same solver steps in certsample and its peers, timed side by side.

    python benchmarks/peers.py [--threads 1] [--repeats 3] [--quick] [--solvers ...]

Every contender integrates the same Gaussian mixture's reverse process with the same scheme on the
same exponential grid, from the same starting particles:

* ``exponential-ode`` -- ``x <- e^h x + (e^h - 1) s(x, t)``, 100 steps;
* ``euler-maruyama`` -- ``x <- x + h (x + 2 s(x, t)) + sqrt(2 h) xi``, 100 steps;
* ``randomized-midpoint`` -- ``m = e^tau x + (e^tau - 1) s(x, t)``, ``x <- e^h x + h e^{h - tau}
  s(m, t - tau)`` with ``tau = alpha h`` per particle, 100 steps (200 evaluations);
* ``collocation`` -- 10 windows of Chebyshev-Lobatto collocation, degree 8, 3 Picard sweeps from a
  constant start (25 evaluations per window, nodes of a sweep evaluated as one batch).

Contenders:

* ``certsample-cpu`` -- ``cs.sample(..., backend='cpu')`` (Numba kernel; compile excluded);
* ``certsample-numpy`` -- ``cs.sample(..., backend='numpy')``, the reference the others are checked
  against;
* ``numpy`` -- a hand-vectorised NumPy version of the step (what a user would write);
* ``jax-jit`` -- the same code under ``jax.jit`` with ``lax.fori_loop`` (when ``jax`` is installed);
* ``torch`` -- the same code in torch eager mode (when ``torch`` is installed).

The three peers run one source (``peer_steps``) on their array module. The randomized midpoint's
``alpha`` is certsample's Philox draw, handed to every peer, so all deterministic schemes are compared
path by path (max |diff|). Euler-Maruyama's peers draw their own normals, so they are compared by the
sample means (the largest z-score over coordinates).

Each contender runs in its own process with ``--threads`` threads for every library (Numba, BLAS,
XLA, torch), best of ``--repeats`` runs after a warm-up (the reference, certsample-numpy, runs
once). Printed: seconds, millions of particle score evaluations per second, the ratio to
certsample-cpu, and the achieved GFLOP/s as a fraction of the machine's measured dgemm rate (the
score is compute-bound: its state is a few vectors per particle, its work ``~6 K d`` flops and
``K`` exps per evaluation).

Targets: the 2-D ring (8 components, ``n = 1e5``) and a 64-d, 16-component diagonal mixture with
unequal variances (``n = 1e4``), ``T = 10``, ``delta = 1e-3``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

SOLVERS = ("exponential-ode", "euler-maruyama", "randomized-midpoint", "collocation")
CONTENDERS = ("certsample-cpu", "certsample-numpy", "numpy", "jax-jit", "torch")
T, DELTA, STEPS = 10.0, 1e-3, 100
COLLOCATION = dict(degree=8, sweeps=3, windows=10)


def make_target(name):
    import certsample as cs

    if name == "ring":
        return cs.ring_mixture()
    rng = np.random.default_rng(0)
    return cs.gaussian_mixture(rng.standard_normal((16, 64)) * 2, rng.uniform(0.2, 1.0, (16, 64)))


def make_solver(name):
    import certsample as cs

    if name == "collocation":
        return cs.get_solver("collocation", degree=COLLOCATION["degree"], sweeps=COLLOCATION["sweeps"])
    return cs.get_solver(name)


def problem(target_name, solver_name, n):
    """``(target, solver, grid, x0, alphas)``; ``alphas`` ``(steps, n)`` only for the midpoint."""
    import certsample as cs
    from certsample.noise import NoiseSource
    from certsample.solvers.randomized_midpoint import SLOT_MIDPOINT

    target, solver = make_target(target_name), make_solver(solver_name)
    steps = COLLOCATION["windows"] if solver_name == "collocation" else STEPS
    grid = cs.make_grid("exponential", T, DELTA, steps)
    x0 = cs.initial_particles(n, target.dim, 0, T, target, "exact")
    alphas = None
    if solver_name == "randomized-midpoint":
        noise = NoiseSource(0, np.arange(n), target.dim)
        alphas = np.stack([noise.uniform(k, SLOT_MIDPOINT) for k in range(steps)])
    return target, solver, grid, x0, alphas


def flops_per_evaluation(target):
    k, d = target.means.shape
    return 6 * k * d + 2 * d  # per component: diff, square-scale, accumulate (log-density), weighted sum


# ---------------------------------------------------------------------------------- the peers' code
def peer_steps(xp, target, solver, grid, alphas):
    """``(step(x, i, key) -> x, n_steps)`` for ``solver`` on the array namespace ``xp``.

    ``xp`` supplies ``asarray exp expm1 log sum einsum softmax concat normal``; ``normal(key, i,
    shape)`` draws standard normals for step ``i``. Written once for NumPy, JAX and torch.
    """
    means, var0 = xp.asarray(target.means), xp.asarray(target.variances)
    logw = xp.asarray(np.log(target.weights))
    times, steps = xp.asarray(grid.times[:-1]), xp.asarray(grid.steps)

    def score(x, t):
        """``grad log q_t(x)`` for ``x`` of shape ``(..., d)`` and ``t`` broadcasting to ``(...)``."""
        t = t[..., None, None]
        a, s2 = xp.exp(-t), -xp.expm1(-2 * t)
        var = a * a * var0 + s2  # (..., K, d)
        diff = x[..., None, :] - a * means
        logp = logw - 0.5 * xp.sum(diff**2 / var + xp.log(var), -1)
        return -xp.einsum("...k,...kd->...d", xp.softmax(logp), diff / var)

    name = solver.name
    if name == "exponential-ode":
        def step(x, i, key):
            h = steps[i]
            return xp.exp(h) * x + xp.expm1(h) * score(x, times[i])
    elif name == "euler-maruyama":
        def step(x, i, key):
            h = steps[i]
            return x + h * (x + 2 * score(x, times[i])) + xp.sqrt(2 * h) * xp.normal(key, i, x.shape)
    elif name == "randomized-midpoint":
        alpha = xp.asarray(alphas)

        def step(x, i, key):
            t, h = times[i], steps[i]
            tau = alpha[i] * h
            mid = xp.exp(tau)[:, None] * x + xp.expm1(tau)[:, None] * score(x, t)
            return xp.exp(h) * x + (h * xp.exp(h - tau))[:, None] * score(mid, t - tau)
    elif name == "collocation":
        amat, growth, shift = (xp.asarray(v) for v in solver.kernel_params(grid)[1:4])
        cnodes = xp.asarray(solver.nodes)

        def step(x, i, key):
            t, h = times[i], steps[i]
            node_times = (t - h * cnodes)[1:, None]  # (D, 1): one time per node
            start = score(x, t) + shift * x  # the start node's drift, taken once
            moving = x[None] + 0 * node_times[..., None]  # (D, n, d) from the constant start
            for _ in range(solver.sweeps):
                drift = xp.concat([start[None], score(moving, node_times) + shift * moving])
                moving = (growth[i, 1:, None, None] * x
                          + h * xp.einsum("mj,mnd->jnd", amat[i, :, 1:], drift))
            return moving[-1]
    else:
        raise ValueError(f"no peer version of {name!r}")
    return step, len(grid)


def numpy_namespace(seed=0):
    rng = np.random.Generator(np.random.Philox(seed))

    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    return types.SimpleNamespace(asarray=np.asarray, exp=np.exp, expm1=np.expm1, log=np.log, sqrt=np.sqrt,
                                 sum=np.sum, einsum=np.einsum, softmax=softmax, concat=np.concatenate,
                                 normal=lambda key, i, shape: rng.standard_normal(shape))


def run_certsample(target, solver, grid, x0, backend):
    import certsample as cs

    def once():
        res = cs.sample(target, solver, x_init=x0, grid=grid, backend=backend, seed=0, progress=False)
        return res.samples, res.wall_time  # wall_time excludes compilation

    return once


def run_numpy(target, solver, grid, x0, alphas):
    step, n_steps = peer_steps(numpy_namespace(), target, solver, grid, alphas)

    def once():
        start = time.perf_counter()
        x = x0.copy()
        for i in range(n_steps):
            x = step(x, i, None)
        return x, time.perf_counter() - start

    return once


def run_jax(target, solver, grid, x0, alphas):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    xp = types.SimpleNamespace(asarray=jnp.asarray, exp=jnp.exp, expm1=jnp.expm1, log=jnp.log, sqrt=jnp.sqrt,
                               sum=jnp.sum, einsum=jnp.einsum, softmax=lambda z: jax.nn.softmax(z, axis=-1),
                               concat=jnp.concatenate,
                               normal=lambda key, i, shape: jax.random.normal(jax.random.fold_in(key, i), shape))
    step, n_steps = peer_steps(xp, target, solver, grid, alphas)

    @jax.jit
    def integrate(x, key):
        return jax.lax.fori_loop(0, n_steps, lambda i, x: step(x, i, key), x)

    start, key = jnp.asarray(x0), jax.random.key(0)
    integrate(start, key).block_until_ready()  # compile outside the timing

    def once():
        t0 = time.perf_counter()
        out = integrate(start, key).block_until_ready()
        return np.asarray(out), time.perf_counter() - t0

    return once


def run_torch(target, solver, grid, x0, alphas):
    import torch

    gen = torch.Generator().manual_seed(0)
    xp = types.SimpleNamespace(asarray=lambda v: torch.as_tensor(np.asarray(v, dtype=float)), exp=torch.exp,
                               expm1=torch.expm1, log=torch.log, sqrt=torch.sqrt, sum=torch.sum,
                               einsum=torch.einsum, softmax=lambda z: torch.softmax(z, dim=-1), concat=torch.cat,
                               normal=lambda key, i, shape: torch.randn(shape, generator=gen, dtype=torch.float64))
    step, n_steps = peer_steps(xp, target, solver, grid, alphas)

    def once():
        t0 = time.perf_counter()
        with torch.no_grad():
            x = torch.as_tensor(x0)
            for i in range(n_steps):
                x = step(x, i, None)
        return x.numpy(), time.perf_counter() - t0

    return once


def worker(args):
    target, solver, grid, x0, alphas = problem(args.target, args.solver, args.n)
    name = args.worker
    if name == "jax-jit":
        try:
            once = run_jax(target, solver, grid, x0, alphas)
        except ImportError:
            print(json.dumps({"skipped": "jax is not installed (pip install jax)"}))
            return
    elif name == "torch":
        try:
            import torch

            torch.set_num_threads(args.threads)
            once = run_torch(target, solver, grid, x0, alphas)
        except ImportError:
            print(json.dumps({"skipped": "torch is not installed (pip install certsample[torch])"}))
            return
    elif name == "numpy":
        once = run_numpy(target, solver, grid, x0, alphas)
    else:
        once = run_certsample(target, solver, grid, x0, name.split("-")[1])
    repeats = args.repeats
    if name == "certsample-numpy":
        repeats = 1  # the reference: slow, and nothing to compile or warm
    else:
        once()  # warm-up (and compilation, or the on-disk cache load)
    best, out = float("inf"), None
    for _ in range(repeats):
        out, seconds = once()
        best = min(best, seconds)
    np.save(args.out, out)
    print(json.dumps({"seconds": best, "nfe": solver.nfe(len(grid))}))


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


def agreement(solver_name, name, samples, reference):
    """Path by path (same noise), or by the sample means for a peer drawing its own normals."""
    if reference is None:
        return "-"
    if solver_name == "euler-maruyama" and not name.startswith("certsample"):
        se = np.sqrt((samples.var(axis=0) + reference.var(axis=0)) / samples.shape[0])
        return f"z {np.max(np.abs(samples.mean(axis=0) - reference.mean(axis=0)) / se):.1f}"
    return f"{float(np.max(np.abs(samples - reference))):.1e}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n / 10 (a check that every contender runs)")
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--targets", nargs="+", default=["ring", "mixture64"], choices=["ring", "mixture64"])
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", default="ring", help=argparse.SUPPRESS)
    parser.add_argument("--solver", default="exponential-ode", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    gflops_peak = dgemm_rate(args.threads)
    print(f"{args.threads} thread(s) per contender; measured dgemm {gflops_peak:.1f} GFLOP/s; best of "
          f"{args.repeats}, compile excluded; T={T}, delta={DELTA}")
    for target_name in args.targets:
        n = {"ring": 100_000, "mixture64": 10_000}[target_name] // (10 if args.quick else 1)
        target = make_target(target_name)
        flops = flops_per_evaluation(target)
        for solver_name in args.solvers:
            print(f"\n{target_name} ({target!r}), n={n}, {solver_name}")
            print(f"{'contender':<18}{'seconds':>9}{'M evals/s':>11}{'vs certsample-cpu':>19}"
                  f"{'GFLOP/s':>9}{'of dgemm':>9}{'agreement':>13}")
            results, reference = {}, None
            with tempfile.TemporaryDirectory() as tmp:
                for name in args.contenders:
                    out = os.path.join(tmp, f"{name}.npy")
                    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--target", target_name,
                           "--solver", solver_name, "--n", str(n), "--repeats", str(args.repeats),
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
                    results[name] = (info["seconds"], info["nfe"], samples)
            base = results.get("certsample-cpu", (None,))[0]
            for name, (seconds, nfe, samples) in results.items():
                rate = n * nfe / seconds
                ratio = f"{base / seconds:>19.2f}" if base else f"{'':>19}"
                print(f"{name:<18}{seconds:>9.3f}{rate / 1e6:>11.2f}{ratio}{rate * flops / 1e9:>9.2f}"
                      f"{rate * flops / 1e9 / gflops_peak:>9.1%}"
                      f"{agreement(solver_name, name, samples, reference):>13}")
    print("\n'vs certsample-cpu' > 1 means that contender is faster than certsample's CPU kernel.")


if __name__ == "__main__":
    main()
