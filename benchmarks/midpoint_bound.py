"""How loose is the proved mean-square bound of the randomized midpoint? Bound against measured error.

For each target and horizon: a few start points of the theorem's start set (sampled from ``q_T`` and on
its boundary), each proved-enclosed once (:func:`certsample.verify.enclose_flow`); for each step count
the randomized midpoint runs ``--particles`` copies of every start point (independent midpoints) and the
largest RMS error over the points is compared with the proved bound (for the start set, and for that
worst point alone). Usage::

    python benchmarks/midpoint_bound.py [--particles 200] [--steps 32 128 512] [--parallel R K]

``--parallel R K``: the parallel midpoint (``R`` pieces, ``K`` Picard sweeps) on the ring and the cloud
(``T = 3``, ``delta = 0.5``) instead, against ``parallel_midpoint_ms``. ``--unequal``: the mixtures with unequal
diagonal variances instead (step U of the proof), with either method.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import certsample as cs
import proofs
from certsample.exact import gaussian_flow_map
from certsample.solvers.parallel_midpoint import ParallelRandomizedMidpoint
from certsample.verify import enclose_flow
from proofs.midpoint_bounds import StartSet

CASES = [
    ("gaussian (d = 8)", lambda: cs.make_target("gaussian", dim=8), 2.0, 0.05),
    ("ring", lambda: cs.make_target("ring"), 3.0, 0.5),
    ("ring", lambda: cs.make_target("ring"), 10.0, 0.01),
    ("cloud", lambda: cs.make_target("cloud"), 3.0, 0.5),
    ("cloud", lambda: cs.make_target("cloud"), 5.0, 0.1),
]


def _mixture8():
    rng = np.random.default_rng(3)
    return cs.gaussian_mixture(rng.standard_normal((3, 8)), rng.uniform(0.3, 0.6, (3, 8)))


UNEQUAL_CASES = [
    (
        "unequal 2-d",
        lambda: cs.gaussian_mixture([[1.5, 0.0], [-1.0, 1.0]], [[0.2, 0.5], [0.6, 0.3]], [0.4, 0.6]),
        2.0,
        0.1,
    ),
    ("unequal 8-d (3 components)", _mixture8, 1.0, 0.3),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=200)
    parser.add_argument("--steps", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--points", type=int, default=3, help="sampled start points (plus two on the boundary)")
    parser.add_argument("--parallel", type=int, nargs=2, metavar=("R", "K"), default=None)
    parser.add_argument("--unequal", action="store_true", help="the unequal-variance mixtures instead")
    args = parser.parse_args()
    if args.parallel:
        R, K = args.parallel
        theorem, solver = proofs.get("parallel_midpoint_ms"), ParallelRandomizedMidpoint(R, K)
        options = {"R": R, "K": K}
        cases = [c for c in CASES if c[2] == 3.0]
    else:
        theorem, solver, options, cases = proofs.get("randomized_midpoint_ms"), "randomized-midpoint", {}, CASES
    if args.unequal:
        cases = UNEQUAL_CASES
    evals = 1 + options.get("R", 1) * (options.get("K", 0) + 1)
    print(
        "| target | T, delta | NFE | measured RMS, worst point (+- 2 SE) | bound at that point | bound on S | "
        "S / measured | bound s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, build, t0, delta in cases:
        target = build()
        start = StartSet(target, t0, 1e-6)
        points = np.concatenate([start.sample(args.points, 0), start.boundary_points(2, 1)])
        if target.is_gaussian:
            refs = [(gaussian_flow_map(target, p[None], t0, delta)[0], 0.0) for p in points]
        else:
            refs = []
            for p in points:
                enc = enclose_flow(target, p, t0, delta, tol=1e-11)
                refs.append((enc.center, enc.radius))
        for n_steps in args.steps:
            grid = cs.exponential_grid(t0, delta, n_steps)
            worst, worst_se, worst_point = -1.0, 0.0, None
            for p, (centre, radius) in zip(points, refs):
                xs = np.repeat(p[None], args.particles, axis=0)
                out = cs.sample(
                    target, solver, args.particles, n_steps, grid=grid, x_init=xs, progress=False, seed=1
                ).samples
                squares = (np.linalg.norm(out - centre, axis=1) + radius) ** 2  # upper: the enclosure's radius
                rms = math.sqrt(squares.mean())
                if rms > worst:  # standard error of the RMS by the delta method
                    worst, worst_point = rms, p
                    worst_se = squares.std(ddof=1) / math.sqrt(squares.size) / (2 * rms)
            clock = time.perf_counter()
            whole = theorem.rms_bound(target, grid, **options)
            seconds = time.perf_counter() - clock
            point = theorem.rms_bound(target, grid, x0=worst_point, **options)
            print(
                f"| {label} | {t0:g}, {delta:g} | {evals * n_steps} | {worst:.3g} +- {2 * worst_se:.2g} | "
                f"{point.value:.3g} | {whole.value:.3g} | {whole.value / worst:.3g} | {seconds:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
