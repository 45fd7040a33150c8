"""Proved particles per second: the compiled float64 enclosures against the Arb path, in the same run.

    python benchmarks/enclosures.py [--n 200] [--arb 2] [--tols 1e-6 1e-10] [--targets ring cloud mixture64]
                                    [--arb-seconds 900] [--T 10] [--delta 0.01] [--backend cpu]

For each target and tolerance, ``n`` exact ``q_T`` start points are enclosed by
``certsample.verify.flows.enclose_flows`` (float64 intervals; a particle that misses the tolerance is
retried, then enclosed by Arb: that cost is included) and the first ``arb`` of them by
``certsample.verify.enclose_flow`` (Arb, 128+ bits). Each measurement runs in its own process pinned to
one CPU (``os.sched_setaffinity``), after a warm-up call that compiles (or loads) the kernels; the time is
that process's CPU time (with ``--backend cpu-parallel`` or ``cuda`` the float64 path runs unpinned, on every
core or on the GPU, and its time is wall time: particles per second of the machine, not of a core). Printed:
particles per second of each path, their ratio, how many particles were integrated again in float64 ("retried")
and how many needed Arb, and the largest radius relative to ``tol (1 + |x0|)``. An Arb run that exceeds
``arb-seconds`` is reported as a lower bound of its time (``>``).

Targets: ``ring`` (2-D, 8 modes), ``cloud`` (64 points in 2-D), ``mixture64`` (64-d, 16 components with
unequal per-coordinate variances, as in ``benchmarks/high_accuracy.py``).

Where the time goes along the path, and which Taylor order each stretch of it prefers:

    python benchmarks/enclosures.py --segments 10 3 1 0.01 [--orders 8 10 12 14] [--repeat 2] [--targets mixture64]
                                    [--n-mixture64 6] [--tols 1e-10]

encloses, for each pair of consecutive times and each order (``0``: the default order), ``n`` exact start points
drawn from ``q`` at the segment's first time to its last, in its own pinned process (best CPU time of ``repeat``
runs), and prints milliseconds per particle and the mean steps.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import numpy as np
from bench_targets import mixture64


def build_target(name):
    import certsample as cs

    if name == "mixture64":
        return mixture64()
    return cs.make_target(name)


def _pinned(cpu):
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def _fast(args):
    name, n, tol, T, delta, seed, cpu, backend = args
    one_core = backend == "cpu"
    if one_core:
        _pinned(cpu)
    clock = time.process_time if one_core else time.perf_counter
    from certsample.verify.flows import enclose_flows

    target = build_target(name)
    x0 = target.law_at(T).sample(n, seed=seed)
    enclose_flows(target, x0[:1], T, delta, tol=tol, fallback=False, backend=backend)  # compile or load the kernels
    start = clock()
    found = enclose_flows(target, x0, T, delta, tol=tol, backend=backend)
    seconds = clock() - start
    tol_abs = tol * (1 + np.linalg.norm(x0, axis=1))
    retried = int(np.sum(found.passes > 1))
    return (
        seconds,
        retried,
        int(np.sum(found.method == "arb")),
        float(np.max(found.radii / tol_abs)),
        found.centers,
        found.radii,
    )


def _arb(args):
    name, n, count, tol, T, delta, seed, cpu, limit = args
    _pinned(cpu)
    from certsample.verify import enclose_flow

    target = build_target(name)
    x0 = target.law_at(T).sample(n, seed=seed)[:count]  # the same start points as the float64 path
    start = time.process_time()
    centers, radii = [], []
    for x in x0:
        enc = enclose_flow(target, x, T, delta, tol=tol)
        centers.append(enc.center)
        radii.append(enc.radius)
        if time.process_time() - start > limit:
            break
    return time.process_time() - start, np.array(centers), np.array(radii)


def _segment(args):
    name, n, tol, t_from, t_to, order, repeat, seed, cpu = args
    _pinned(cpu)
    from certsample.verify.errors import EnclosureFailed
    from certsample.verify.flows import enclose_flows

    target = build_target(name)
    x0 = target.law_at(t_from).sample(n, seed=seed)
    order = order or None
    try:
        enclose_flows(target, x0[:1], t_from, t_to, tol=tol, order=order, fallback=False)  # compile or load
        best = np.inf
        for _ in range(repeat):
            start = time.process_time()
            found = enclose_flows(target, x0, t_from, t_to, tol=tol, order=order, fallback=False)
            best = min(best, time.process_time() - start)
    except EnclosureFailed as failure:
        return None, str(failure).splitlines()[0], order
    return 1e3 * best / n, float(np.mean(found.steps)), found.order


def _segments_table(name, n, tol, args):
    """One row per segment of ``args.segments``, one column per order: ms per particle / mean steps. The header
    follows the first row, whose runs report the order ``enclose_flows`` chose where the default was asked for."""
    orders = args.orders or [0]
    print(f"\n{name}, tol {tol:g}, {n} start points per segment, best of {args.repeat}: ms per particle / steps")
    for row, (t_from, t_to) in enumerate(zip(args.segments, args.segments[1:])):
        cells, used = [], []
        for order in orders:
            job = (name, n, tol, t_from, t_to, order, args.repeat, args.seed, args.cpu)
            ms, steps, ran = _in_process(_segment, job)
            cells.append(f"failed: {steps}" if ms is None else f"{ms:.1f} / {steps:.1f}")
            used.append(ran)
        if row == 0:
            heads = [f"order {ran or '?'}" + ("" if order else " (default)") for order, ran in zip(orders, used)]
            print("| segment | " + " | ".join(heads) + " |")
            print("| --- |" + " --- |" * len(orders))
        print(f"| {t_from:g} to {t_to:g} | " + " | ".join(cells) + " |", flush=True)


def _in_process(fn, args, timeout=None):
    """Run ``fn(args)`` in a fresh pinned process (fork: the parent's imports are shared, its CPU time is not)."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply_async(fn, (args,)).get(timeout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="start points for the compiled path")
    parser.add_argument(
        "--n-mixture64",
        type=int,
        default=100,
        help="start points for mixture64's compiled path (with 20 the rate swings by a third with one retry)",
    )
    parser.add_argument("--arb", type=int, default=2, help="of them, enclosed by the Arb path too")
    parser.add_argument("--tols", type=float, nargs="*", default=[1e-6, 1e-10])
    parser.add_argument("--targets", nargs="*", default=["ring", "cloud", "mixture64"])
    parser.add_argument("--arb-seconds", type=float, default=900.0, help="stop the Arb path after this much time")
    parser.add_argument("--T", type=float, default=10.0)
    parser.add_argument("--delta", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="the CPU every measurement is pinned to (default: the first this process may use)",
    )
    parser.add_argument(
        "--segments",
        type=float,
        nargs="*",
        default=None,
        help="decreasing times: time each stretch between two of them instead of the Arb comparison",
    )
    parser.add_argument("--orders", type=int, nargs="*", default=None, help="with --segments (0: the default order)")
    parser.add_argument(
        "--backend",
        choices=["cpu", "cpu-parallel", "cuda"],
        default="cpu",
        help="where the float64 path runs: one pinned core (CPU time), Numba threads or the GPU (wall time)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="with --segments: runs per measurement, the best kept")
    parser.add_argument(
        "--quick", action="store_true", help="a short version: 20 (mixture64: 4) start points, 1 by Arb, 120 s for it"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.n_mixture64, args.arb, args.arb_seconds = 20, 4, 1, 120.0
    if args.cpu is None:
        args.cpu = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    if args.backend == "cuda":
        from numba import cuda

        if not cuda.is_available():
            parser.error("--backend cuda: no CUDA GPU here (NUMBA_ENABLE_CUDASIM=1 runs the simulator, small n only)")
    if args.segments is not None:
        if args.backend != "cpu":
            parser.error("--segments times one pinned core: it takes --backend cpu only")
        if len(args.segments) < 2 or any(a <= b for a, b in zip(args.segments, args.segments[1:])):
            parser.error(f"--segments needs two or more decreasing times, got {args.segments}")
        if not args.segments[-1] > 0:
            parser.error(f"--segments must end at a time > 0, got {args.segments[-1]}")
        if any(order < 0 for order in args.orders or []):
            parser.error(f"--orders must be 0 (the default order) or positive, got {args.orders}")
        for name in args.targets:
            for tol in args.tols:
                _segments_table(name, args.n_mixture64 if name == "mixture64" else args.n, tol, args)
        return

    if args.backend == "cpu":
        where = f"pinned to CPU {args.cpu}; CPU seconds"
    else:
        where = f"float64 path on {args.backend}, wall seconds; Arb path pinned to CPU {args.cpu}, CPU seconds"
    print(f"T={args.T}, delta={args.delta}; one process per measurement, {where}")
    print(
        f"{'target':<11s}{'tol':>7s}{'n':>5s}{'float64 /s':>12s}{'retried':>9s}{'via Arb':>9s}{'r/tol':>8s}"
        f"{'Arb /s':>10s}{'ratio':>9s}{'agree':>7s}"
    )
    for name in args.targets:
        n = args.n_mixture64 if name == "mixture64" else args.n
        for tol in args.tols:
            fast_s, retried, by_arb, worst, centers, radii = _in_process(
                _fast, (name, n, tol, args.T, args.delta, args.seed, args.cpu, args.backend)
            )
            fast_rate = n / fast_s
            if min(args.arb, n) == 0:  # no Arb path asked for: its columns stay empty
                arb_rate = ratio = agree = "-"
            else:
                try:
                    arb_s, arb_centers, arb_radii = _in_process(
                        _arb,
                        (name, n, min(args.arb, n), tol, args.T, args.delta, args.seed, args.cpu, args.arb_seconds),
                        timeout=2 * args.arb_seconds,
                    )
                except multiprocessing.TimeoutError:  # not one Arb enclosure finished
                    arb_s, arb_centers, arb_radii = 2 * args.arb_seconds, None, np.empty(0)
                done = len(arb_radii)
                if done:
                    speedup = fast_rate * arb_s / done  # below 1 under the CUDA simulator
                    arb_rate, ratio = f"{done / arb_s:.3g}", f"{speedup:.0f}" if speedup >= 10 else f"{speedup:.2g}"
                    gaps = np.linalg.norm(centers[:done] - arb_centers, axis=1)
                    agree = "yes" if np.all(gaps <= radii[:done] + arb_radii) else "NO"
                else:
                    arb_rate, ratio, agree = f"<{1 / arb_s:.2g}", f">{fast_rate * arb_s:.0f}", "-"
            print(
                f"{name:<11s}{tol:>7.0e}{n:>5d}{fast_rate:12.1f}{retried:9d}{by_arb:9d}{worst:8.2f}{arb_rate:>10s}"
                f"{ratio:>9s}{agree:>7s}",
                flush=True,
            )


if __name__ == "__main__":
    main()
