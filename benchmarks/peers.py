"""The same solver steps in certsample and its peers, timed side by side.

    python benchmarks/peers.py [--threads 1] [--repeats 5] [--quick] [--solvers ...] [--contenders ...]

Every contender integrates the same Gaussian mixture's reverse process with the same scheme on the
same exponential grid, from the same starting particles:

* ``exponential-ode`` -- ``x <- e^h x + (e^h - 1) s(x, t)``, 100 steps;
* ``euler-maruyama`` -- ``x <- x + h (x + 2 s(x, t)) + sqrt(2 h) xi``, 100 steps;
* ``randomized-midpoint`` -- ``m = e^tau x + (e^tau - 1) s(x, t)``, ``x <- e^h x + h e^{h - tau}
  s(m, t - tau)`` with ``tau = alpha h`` per particle, 100 steps (200 evaluations);
* ``collocation`` -- 10 windows of Chebyshev-Lobatto collocation, degree 8, 3 Picard sweeps from a
  constant start (25 evaluations per window, nodes of a sweep evaluated as one batch).

Contenders:

* ``certsample-cpu`` -- ``cs.sample(..., backend='cpu')`` (Numba kernel; compile excluded, the call's
  packing and unpacking included);
* ``certsample-numpy`` -- ``cs.sample(..., backend='numpy')``, the reference the others are checked
  against;
* ``numpy`` -- the peer code below on NumPy;
* ``jax-jit`` -- the same code under ``jax.jit``, the whole loop one ``lax.fori_loop`` (when ``jax``
  is installed; float64);
* ``torch`` -- the same code in torch eager mode (when ``torch`` is installed; float64);
* ``torch-compile`` -- the step under ``torch.compile`` (inductor's C++ backend; compile excluded).

The peers run one source (:func:`peer_score`, :func:`peer_steps`) written as a skilled user writes the
mixture score, in matrix form: with ``A = a mu / v`` and ``B = 1 / v`` (``K x d`` per time) the
log-responsibilities are ``x @ A.T - (x * x) @ B.T / 2`` plus a per-component constant, a softmax
gives ``r``, and the score is ``r @ A - x * (r @ B)`` (shared variances: ``(a r @ mu - x) / v``, the
common ``|x|^2 / v`` dropped from the logits). Only the midpoint's second evaluation, at a time per
particle, on a mixture whose components have their own variances, has no matrix form: there the
peers broadcast ``(n, K, d)``. Collocation's nodes go through the same matrix form with a batch
axis (one time per node). The randomized midpoint's ``alpha`` is certsample's Philox draw, handed to
every peer, so all deterministic schemes are compared path by path (max |diff| against
certsample-numpy, or certsample-cpu when the NumPy reference is not run). Euler-Maruyama's peers draw their
own normals (NumPy's PCG64 ziggurat, JAX's default threefry -- faster here than its ``rbg`` and ``unsafe_rbg``,
measured -- torch's generator), so they are compared by the sample means and variances (the largest z-scores
over coordinates, FAIL beyond 5).

Each contender runs in its own process. ``--threads t`` pins the process to ``t`` cores
(``os.sched_setaffinity`` before the interpreter starts, so that threads started at import are confined)
and sets every library's thread count: Numba, OpenMP/BLAS, XLA (``--xla_cpu_multi_thread_eigen=false``
at one thread), torch
(``set_num_threads``). Timed: best of ``--repeats`` runs after a warm-up (the reference,
certsample-numpy, runs once), wall seconds and the process's CPU seconds over that run
(``time.process_time``, every thread), so a library that uses more cores than asked shows it.
Printed per contender: wall seconds, CPU seconds, millions of particle score evaluations per
second of wall and per CPU-second, the rate over certsample-cpu's, and the agreement.

References measured in their own pinned processes at the start: the dgemm rate (GFLOP/s of a
``1024 x 1024`` matrix product, best of 5) and the exp throughput (NumPy's vectorised ``np.exp`` on
an L1-resident array, best of 5). The mixture score is counted at ``8 K d`` flops per evaluation
(the matrix form's four ``K x d`` multiply-adds per particle); the ring at ``K`` exps per
evaluation. Their shares of the references are printed per row.

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
from bench_targets import mixture64

# measure the checkout this file lives in, whichever certsample is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SOLVERS = ("exponential-ode", "euler-maruyama", "randomized-midpoint", "collocation")
CONTENDERS = ("certsample-cpu", "certsample-numpy", "numpy", "jax-jit", "torch", "torch-compile")
T, DELTA, STEPS = 10.0, 1e-3, 100
COLLOCATION = dict(degree=8, sweeps=3, windows=10)
N_PARTICLES = {"ring": 100_000, "mixture64": 10_000}


def make_target(name):
    import certsample as cs

    if name == "ring":
        return cs.ring_mixture()
    return mixture64()


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
    """The matrix form's count: ``x @ A.T``, ``(x * x) @ B.T``, ``r @ A`` and ``r @ B``, ``2 K d`` each."""
    k, d = target.means.shape
    return 8 * k * d


# ---------------------------------------------------------------------------------- the peers' code
def peer_score(xp, target):
    """``(score, score_at)``: ``score(x (..., n, d), t (...)) -> (..., n, d)`` with one time per leading
    index, and ``score_at(x (n, d), t (n,))`` with one time per particle, on the namespace ``xp``."""
    means = xp.asarray(target.means)
    logw = xp.asarray(np.log(target.weights))

    def coefficients(t):
        a = xp.exp(-t)
        return a, -xp.expm1(-2 * t)

    if target.equal_variances:
        var = xp.asarray(target.variances[0])  # (d,), shared by every component
        mu_sq_t = xp.swap(means * means)

        def score(x, t):
            a, s2 = coefficients(t[..., None, None])
            iv = 1 / (a * a * var + s2)  # (..., 1, d)
            am = a * means  # (..., K, d)
            # the common |x|^2 / v cancels in the softmax
            logits = (x * iv) @ xp.swap(am) - 0.5 * xp.sum(am * am * iv, -1)[..., None, :] + logw
            return (xp.softmax(logits) @ am - x) * iv

        def score_at(x, t):
            a, s2 = coefficients(t[:, None])
            iv = 1 / (a * a * var + s2)  # (n, d)
            logits = a * ((x * iv) @ xp.swap(means)) - 0.5 * (a * a) * (iv @ mu_sq_t) + logw
            return (a * (xp.softmax(logits) @ means) - x) * iv

        return score, score_at

    var0 = xp.asarray(target.variances)  # (K, d)

    def score(x, t):
        a, s2 = coefficients(t[..., None, None])
        v = a * a * var0 + s2  # (..., K, d)
        b = 1 / v
        am = a * means
        big_a = am * b
        const = logw - 0.5 * (xp.sum(xp.log(v), -1) + xp.sum(am * big_a, -1))  # (..., K)
        logits = x @ xp.swap(big_a) - 0.5 * ((x * x) @ xp.swap(b)) + const[..., None, :]
        r = xp.softmax(logits)
        return r @ big_a - x * (r @ b)

    def score_at(x, t):
        # a time per particle and a variance per component: no matrix form, the (n, K, d) broadcast
        a, s2 = coefficients(t[:, None, None])
        v = a * a * var0 + s2
        b = 1 / v
        diff = x[:, None, :] - a * means
        logits = logw - 0.5 * xp.sum(diff * diff * b + xp.log(v), -1)
        return -xp.einsum("nk,nkd->nd", xp.softmax(logits), diff * b)

    return score, score_at


def peer_steps(xp, target, solver, grid, alphas):
    """``(step(x, t, h, i, key) -> x, n_steps)`` for ``solver`` on the array namespace ``xp``.

    ``xp`` supplies ``asarray exp expm1 log sqrt sum einsum softmax concat swap normal``; ``swap``
    exchanges the last two axes, ``normal(key, i, shape)`` draws standard normals for step ``i``.
    ``t`` and ``h`` are the step's time and length as 0-d arrays; ``i`` indexes per-step data.
    """
    score, score_at = peer_score(xp, target)
    name = solver.name
    if name == "exponential-ode":

        def step(x, t, h, i, key):
            return xp.exp(h) * x + xp.expm1(h) * score(x, t)
    elif name == "euler-maruyama":

        def step(x, t, h, i, key):
            return x + h * (x + 2 * score(x, t)) + xp.sqrt(2 * h) * xp.normal(key, i, x.shape)
    elif name == "randomized-midpoint":
        alpha = xp.asarray(alphas)

        def step(x, t, h, i, key):
            tau = alpha[i] * h
            mid = xp.exp(tau)[:, None] * x + xp.expm1(tau)[:, None] * score(x, t)
            return xp.exp(h) * x + (h * xp.exp(h - tau))[:, None] * score_at(mid, t - tau)
    elif name == "collocation":
        amat, growth, shift = (xp.asarray(v) for v in solver.kernel_params(grid)[1:4])
        cnodes = xp.asarray(solver.nodes[1:])

        def step(x, t, h, i, key):
            node_times = t - h * cnodes  # (D,): one time per node
            # the collocated drift is s + shift y, one shift per window and node (kernel_params)
            start = score(x, t) + shift[i, 0] * x  # the start node's drift, taken once
            node_shift = shift[i, 1:, None, None]
            moving = x[None] + 0 * node_times[:, None, None]  # (D, n, d) from the constant start
            for _ in range(solver.sweeps):
                drift = xp.concat([start[None], score(moving, node_times) + node_shift * moving])
                moving = growth[i, 1:, None, None] * x + h * xp.einsum("mj,mnd->jnd", amat[i, :, 1:], drift)
            return moving[-1]
    else:
        raise ValueError(f"no peer version of {name!r}")
    return step, len(grid)


def numpy_namespace():
    rng = np.random.default_rng(0)

    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    return types.SimpleNamespace(
        asarray=np.asarray,
        exp=np.exp,
        expm1=np.expm1,
        log=np.log,
        sqrt=np.sqrt,
        sum=np.sum,
        einsum=lambda *a: np.einsum(*a, optimize=True),
        softmax=softmax,
        concat=np.concatenate,
        swap=lambda z: np.swapaxes(z, -1, -2),
        normal=lambda key, i, shape: rng.standard_normal(shape),
    )


def clocked(fn):
    """``fn()``'s result with the wall and process CPU seconds it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run_certsample(target, solver, grid, x0, alphas, backend):
    import certsample as cs

    def once():
        return clocked(
            lambda: cs.sample(target, solver, x_init=x0, grid=grid, backend=backend, seed=0, progress=False).samples
        )

    return once


def run_numpy(target, solver, grid, x0, alphas):
    step, n_steps = peer_steps(numpy_namespace(), target, solver, grid, alphas)
    times, steps = grid.times[:-1], grid.steps

    def integrate():
        x = x0.copy()
        for i in range(n_steps):
            x = step(x, np.float64(times[i]), np.float64(steps[i]), i, None)
        return x

    return lambda: clocked(integrate)


def run_jax(target, solver, grid, x0, alphas):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    xp = types.SimpleNamespace(
        asarray=jnp.asarray,
        exp=jnp.exp,
        expm1=jnp.expm1,
        log=jnp.log,
        sqrt=jnp.sqrt,
        sum=jnp.sum,
        einsum=jnp.einsum,
        softmax=lambda z: jax.nn.softmax(z, axis=-1),
        concat=jnp.concatenate,
        swap=lambda z: jnp.swapaxes(z, -1, -2),
        normal=lambda key, i, shape: jax.random.normal(jax.random.fold_in(key, i), shape),
    )
    step, n_steps = peer_steps(xp, target, solver, grid, alphas)
    times, steps = jnp.asarray(grid.times[:-1]), jnp.asarray(grid.steps)

    @jax.jit
    def integrate(x, key):
        return jax.lax.fori_loop(0, n_steps, lambda i, x: step(x, times[i], steps[i], i, key), x)

    start, key = jnp.asarray(x0), jax.random.key(0)
    integrate(start, key).block_until_ready()  # compile outside the timing

    def once():
        out, wall, cpu = clocked(lambda: integrate(start, key).block_until_ready())
        return np.asarray(out), wall, cpu

    return once


def run_torch(target, solver, grid, x0, alphas, compiled=False):
    import torch

    gen = torch.Generator().manual_seed(0)
    # the step's ``key`` is its normals, drawn outside the step: a generator does not trace into a graph
    xp = types.SimpleNamespace(
        asarray=lambda v: torch.as_tensor(np.asarray(v, dtype=float)),
        exp=torch.exp,
        expm1=torch.expm1,
        log=torch.log,
        sqrt=torch.sqrt,
        sum=torch.sum,
        einsum=torch.einsum,
        softmax=lambda z: torch.softmax(z, dim=-1),
        concat=torch.cat,
        swap=lambda z: torch.swapaxes(z, -1, -2),
        normal=lambda key, i, shape: key,
    )
    step, n_steps = peer_steps(xp, target, solver, grid, alphas)
    if compiled:
        step = torch.compile(step, dynamic=False)
    times = [torch.tensor(v, dtype=torch.float64) for v in grid.times[:-1]]
    steps = [torch.tensor(v, dtype=torch.float64) for v in grid.steps]
    index = [torch.tensor(i) for i in range(n_steps)]
    noisy = solver.name == "euler-maruyama"

    def integrate():
        with torch.no_grad():
            x = torch.as_tensor(x0)
            for i in range(n_steps):
                key = torch.randn(x.shape, generator=gen, dtype=torch.float64) if noisy else None
                x = step(x, times[i], steps[i], index[i], key)
        return x.numpy()

    return lambda: clocked(integrate)


def _pinner(threads):
    """A ``preexec_fn`` pinning the child to ``threads`` cores before it runs (None where affinity is unknown)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = set(sorted(os.sched_getaffinity(0))[:threads])
    return lambda: os.sched_setaffinity(0, cores)


def pin(threads):
    """Pin this process to ``threads`` cores (the first ones it may run on)."""
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(allowed[:threads]))


def worker(args):
    pin(args.threads)
    target, solver, grid, x0, alphas = problem(args.target, args.solver, args.n)
    name = args.worker
    try:
        if name == "jax-jit":
            once = run_jax(target, solver, grid, x0, alphas)
        elif name.startswith("torch"):
            import torch

            torch.set_num_threads(args.threads)
            torch.set_num_interop_threads(1)
            once = run_torch(target, solver, grid, x0, alphas, compiled=name == "torch-compile")
        elif name == "numpy":
            once = run_numpy(target, solver, grid, x0, alphas)
        else:
            once = run_certsample(target, solver, grid, x0, alphas, name.split("-")[1])
    except ImportError as exc:
        print(json.dumps({"skipped": f"{exc.name} is not installed"}))
        return
    repeats = args.repeats
    if name == "certsample-numpy":
        repeats = 1  # the reference: slow, and nothing to compile or warm
    else:
        once()  # warm-up (and compilation, or the on-disk cache load)
    best = None
    for _ in range(repeats):
        out, wall, cpu = once()
        if best is None or wall < best[0]:
            best = (wall, cpu)
    np.save(args.out, out)
    print(json.dumps({"seconds": best[0], "cpu_seconds": best[1], "nfe": solver.nfe(len(grid))}))


REFERENCES = {
    "dgemm": (
        "import numpy as np, time\n"
        "a = np.random.rand(1024, 1024); a @ a; best = 1e9\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); a @ a; best = min(best, time.perf_counter() - t)\n"
        "print(2 * 1024**3 / best / 1e9)"
    ),
    "exp": (
        "import numpy as np, time\n"
        "x = -np.random.rand(2048) * 30; out = np.empty_like(x); best = 1e9\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter()\n"
        "    for _ in range(2000): np.exp(x, out=out)\n"
        "    best = min(best, time.perf_counter() - t)\n"
        "print(2000 * 2048 / best / 1e9)"
    ),
}


def reference_rate(what, threads):
    """dgemm GFLOP/s or exp G/s of one pinned process with ``threads`` threads (exp: one thread's
    rate times ``threads``, as ``np.exp`` is single-threaded)."""
    code = f"import os; os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:{threads}]))\n"
    out = subprocess.run(
        [sys.executable, "-c", code + REFERENCES[what]], env=_env(threads), capture_output=True, text=True, check=True
    )
    return float(out.stdout) * (threads if what == "exp" else 1)


def _env(threads):
    env = dict(os.environ)
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    # (intra_op_parallelism_threads is no XLA flag: XLA's parser stopped at it; the affinity confines XLA)
    env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
    return env


#: largest z-score of a noise-drawing peer's means and variances against the reference before it reads FAIL
AGREEMENT_Z = 5.0


def agreement(solver_name, name, samples, reference):
    """Path by path (same noise), or for a peer drawing its own normals by the sample means and variances (the
    largest z-score over coordinates of either, FAIL beyond :data:`AGREEMENT_Z`): on a symmetric target the means
    alone cannot see a wrong noise scale."""
    if reference is None:
        return "-"
    if solver_name == "euler-maruyama" and not name.startswith("certsample"):
        n = samples.shape[0]
        se_mean = np.sqrt((samples.var(axis=0) + reference.var(axis=0)) / n)
        z_mean = np.max(np.abs(samples.mean(axis=0) - reference.mean(axis=0)) / se_mean)

        def fourth(x):  # the variance of a sample variance is about (E (x - m)^4 - v^2) / n
            centred = x - x.mean(axis=0)
            return np.mean(centred**4, axis=0) - centred.var(axis=0) ** 2

        se_var = np.sqrt((fourth(samples) + fourth(reference)) / n)
        z_var = np.max(np.abs(samples.var(axis=0) - reference.var(axis=0)) / se_var)
        verdict = "ok" if max(z_mean, z_var) <= AGREEMENT_Z else "FAIL"
        return f"z {z_mean:.1f}/{z_var:.1f} {verdict}"
    return f"{float(np.max(np.abs(samples - reference))):.1e}"


def run_contender(name, target_name, solver_name, n, args, out):
    """The worker's JSON line for one contender, or a string saying why there is none."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        name,
        "--target",
        target_name,
        "--solver",
        solver_name,
        "--n",
        str(n),
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
        "--out",
        out,
    ]
    # pinned before the interpreter starts, so that threads started at import (OpenBLAS's) are confined too
    proc = subprocess.run(cmd, env=_env(args.threads), capture_output=True, text=True, preexec_fn=_pinner(args.threads))
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"failed: {lines[-1] if lines else proc.returncode}"
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return f"skipped: {info['skipped']}" if "skipped" in info else info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="n / 10 (a check that every contender runs)")
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--targets", nargs="+", default=["ring", "mixture64"], choices=["ring", "mixture64"])
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--json", default=None, help="also write every row to this file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", default="ring", help=argparse.SUPPRESS)
    parser.add_argument("--solver", default="exponential-ode", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    gflops_peak, exps_peak = reference_rate("dgemm", args.threads), reference_rate("exp", args.threads)
    print(
        f"{args.threads} core(s) per contender (pinned); dgemm {gflops_peak:.1f} GFLOP/s; np.exp "
        f"{exps_peak:.2f} G/s; best of {args.repeats}, compile excluded; T={T}, delta={DELTA}"
    )
    rows = []
    for target_name in args.targets:
        n = N_PARTICLES[target_name] // (10 if args.quick else 1)
        target = make_target(target_name)
        mixture = not target.equal_variances
        for solver_name in args.solvers:
            print(f"\n{target_name} ({target!r}), n={n}, {solver_name}")
            share = "of dgemm" if mixture else "of exp"
            print(
                f"{'contender':<16}{'wall s':>8}{'cpu s':>8}{'M evals/s':>11}{'per cpu-s':>11}"
                f"{'vs cs-cpu':>11}{share:>10}{'agreement':>12}"
            )
            results, reference = {}, None
            with tempfile.TemporaryDirectory() as tmp:
                for name in args.contenders:
                    out = os.path.join(tmp, f"{name}.npy")
                    info = run_contender(name, target_name, solver_name, n, args, out)
                    if isinstance(info, str):
                        print(f"{name:<16} {info}")
                        continue
                    samples = np.load(out)
                    if name == "certsample-numpy":
                        reference = samples
                    results[name] = (info, samples)
            if reference is None and "certsample-cpu" in results:  # same noise and arithmetic as the NumPy reference
                reference = results["certsample-cpu"][1]
            base = results.get("certsample-cpu", ({},))[0].get("seconds")
            for name, (info, samples) in results.items():
                rate = n * info["nfe"] / info["seconds"]
                fraction = (
                    rate * flops_per_evaluation(target) / 1e9 / gflops_peak
                    if mixture
                    else rate * target.n_components / 1e9 / exps_peak
                )
                ratio = base / info["seconds"] if base else float("nan")
                agree = agreement(solver_name, name, samples, reference)
                print(
                    f"{name:<16}{info['seconds']:>8.3f}{info['cpu_seconds']:>8.3f}{rate / 1e6:>11.2f}"
                    f"{n * info['nfe'] / info['cpu_seconds'] / 1e6:>11.2f}{ratio:>11.2f}{fraction:>10.1%}"
                    f"{agree:>12}"
                )
                rows.append(
                    dict(
                        target=target_name,
                        solver=solver_name,
                        contender=name,
                        threads=args.threads,
                        n=n,
                        rate=rate,
                        cpu_rate=n * info["nfe"] / info["cpu_seconds"],
                        fraction=fraction,
                        agreement=agree,
                        **info,
                    )
                )
    print("\n'vs cs-cpu' > 1 means that contender is faster than certsample's CPU kernel.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(dgemm=gflops_peak, exp=exps_peak, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
