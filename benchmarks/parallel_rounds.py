"""Sequential rounds vs score evaluations: sequential and parallel randomized midpoint against dimension.

For each dimension ``d`` a Gaussian target (means in ``[-1, 1]``, variances ``0.25 .. 2``) is sampled
from the exact ``q_T`` and the pathwise RMS error against the exact flow map is driven below a fixed
``--eps``. Printed per ``d``:

* the sequential randomized midpoint's smallest step count, its evaluations (= rounds);
* for the parallel variant, over ``R`` (midpoints per step) and ``K`` (Picard sweeps), the
  configuration with the fewest sequential rounds whose evaluations stay within ``--nfe-cap`` times
  the sequential ones, with its rounds and evaluations and both ratios to the sequential baseline.

Gupta, Cai and Chen (2024) prove ``O~(log^2(d/eps))`` rounds for the parallel method; here the
rounds should grow much more slowly in ``d`` than the sequential count does.

A second table turns the corrector on (``--corrector``, on by default): the predictor configuration
found above, a corrector after every block of predictor time ``1/L`` (``span='theorem'``), each run of
scaled time ``CORRECTOR_TIME`` with step ``h_c = CORRECTOR_H (4/d)^{1/3}`` (randomized-midpoint
Langevin's ``d^{1/3}`` step count), so ``M`` grows with ``d``. The sequential predictor-corrector
pays ``2 M`` rounds per corrector run; the parallel one (Picard corrector) the fewest sweeps ``P``
whose samples are within ``--picard-tol`` (RMS) of the converged chain (``P = 2 M``, the sequential
corrector's exact chain). Total rounds are fitted against ``a + b log^2 d``.

Run ``python benchmarks/parallel_rounds.py`` (a few minutes on 2 cores) or with ``--quick``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import certsample as cs
from certsample.reproduce import DELTA, PathwiseProblem, T, gaussian_target
from certsample.solvers.parallel_midpoint import ParallelRandomizedMidpoint
from certsample.solvers.parallel_predictor_corrector import ParallelPredictorCorrector
from certsample.solvers.randomized_midpoint import RandomizedMidpoint

CORRECTOR_TIME, CORRECTOR_H = 1.0, 0.25


def corrector_rounds(problem, R, K, steps, tol, sampling):
    """Rounds with the corrector on: ``(M, blocks, P, parallel rounds, sequential-corrector rounds)``."""
    d = problem.target.dim
    h_c = CORRECTOR_H * (4.0 / d) ** (1 / 3)
    m = max(1, int(np.ceil(CORRECTOR_TIME / h_c)))
    kw = dict(corrector_steps=m, corrector_h=CORRECTOR_TIME / m, span="theorem", target=problem.target)

    def run(sweeps):
        solver = ParallelPredictorCorrector(R, K, corrector_sweeps=sweeps, **kw)
        solver.predictor.sampling = sampling
        res = cs.sample(
            problem.target,
            solver,
            problem.x0.shape[0],
            steps,
            T=T,
            delta=DELTA,
            grid="uniform",
            x_init=problem.x0,
            backend=problem.backend,
            seed=problem.seed,
            progress=False,
        )
        return res, solver

    exact, solver = run(2 * m)
    blocks = int(np.count_nonzero(solver._counts))
    for sweeps in range(1, 2 * m + 1):
        res, _ = run(sweeps)
        gap = float(np.sqrt(np.mean(np.sum((res.samples - exact.samples) ** 2, axis=1))))
        if gap <= tol:
            break
    return m, blocks, sweeps, res.rounds, exact.rounds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="d in (4, 16, 64), fewer configurations")
    parser.add_argument("--dims", type=int, nargs="+", default=None)
    parser.add_argument("--eps", type=float, default=0.05, help="target pathwise RMS error (default 0.05)")
    parser.add_argument("--n", type=int, default=32, help="particles (default 32)")
    parser.add_argument(
        "--nfe-cap",
        type=float,
        default=3.0,
        help="parallel evaluations allowed, as a multiple of the sequential ones (default 3)",
    )
    parser.add_argument("--backend", default="cpu", choices=("numpy", "cpu", "cuda"))
    parser.add_argument(
        "--sampling",
        default="uniform",
        choices=("uniform", "exponential"),
        help="law of the random points (default: uniform, the paper's)",
    )
    parser.add_argument(
        "--no-corrector", dest="corrector", action="store_false", help="skip the table with the corrector on"
    )
    parser.add_argument(
        "--picard-tol",
        type=float,
        default=1e-3,
        help="RMS distance of the Picard corrector to its converged chain (default 1e-3)",
    )
    args = parser.parse_args(argv)
    dims = args.dims or ((4, 16, 64) if args.quick else (4, 16, 64, 256, 1024))
    Rs = (2, 4, 8) if args.quick else (2, 4, 8, 16, 32)
    Ks = (1, 2) if args.quick else (1, 2, 3)

    print(
        f"Gaussian targets, T={T}, delta={DELTA}, uniform grid, pathwise RMS error <= {args.eps}, "
        f"{args.n} particles, {args.sampling} sampling, backend {args.backend}; parallel: fewest rounds "
        f"with NFE <= {args.nfe_cap:g} x sequential"
    )
    header = (
        f"{'d':>5} | {'seq steps':>9} {'seq NFE=rounds':>14} | {'R':>3} {'K':>2} {'steps':>5} "
        f"{'rounds':>6} {'NFE':>6} | {'rounds/seq':>10} {'NFE/seq':>8} | {'time s':>6}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for d in dims:
        start = time.perf_counter()
        problem = PathwiseProblem(gaussian_target(d), args.n, args.backend)
        seq = problem.steps_for(RandomizedMidpoint(args.sampling), args.eps)
        if seq is None:
            print(f"{d:>5} | sequential method needs more than 4096 steps; skipped")
            continue
        seq_steps, _, seq_nfe, seq_rounds = seq
        candidates = []
        for R in Rs:
            for K in Ks:
                solver = ParallelRandomizedMidpoint(R, K, args.sampling)
                found = problem.steps_for(solver, args.eps, max_steps=seq_steps)
                if found is not None:
                    candidates.append((R, K) + found)
        within = [c for c in candidates if c[4] <= args.nfe_cap * seq_nfe]
        pool = within or candidates
        if not pool:
            print(f"{d:>5} | {seq_steps:>9} {seq_nfe:>14} | no parallel configuration reached eps")
            continue
        R, K, steps, _, nfe, rounds = min(pool, key=lambda c: (c[5], c[4]))
        elapsed = time.perf_counter() - start
        rows.append((d, seq_rounds, rounds, seq_nfe, nfe, R, K, steps, problem))
        print(
            f"{d:>5} | {seq_steps:>9} {seq_nfe:>14} | {R:>3} {K:>2} {steps:>5} {rounds:>6} {nfe:>6} | "
            f"{rounds / seq_rounds:>10.3f} {nfe / seq_nfe:>8.2f} | {elapsed:>6.1f}"
        )
    if len(rows) >= 2:
        d, seq_r, par_r, seq_n, par_n = (np.array(c, dtype=float) for c in list(zip(*rows))[:5])
        slope = lambda y: np.polyfit(np.log(d), np.log(y), 1)[0]  # noqa: E731
        print(
            f"\nfitted growth in d: sequential rounds ~ d^{slope(seq_r):.2f}, parallel rounds ~ "
            f"d^{slope(par_r):.2f}, parallel NFE ~ d^{slope(par_n):.2f}"
        )
        print(f"parallel rounds against log d: {np.round(par_r / np.log(d), 1)} (rounds / ln d)")
    if args.corrector and rows:
        print(
            f"\nwith the corrector on (time {CORRECTOR_TIME} per run, h_c = {CORRECTOR_H} (4/d)^(1/3), after "
            f"every predictor time 1/L; Picard sweeps: fewest within RMS {args.picard_tol:g} of the "
            f"converged chain)"
        )
        header = (
            f"{'d':>5} | {'M':>3} {'blocks':>6} {'P':>3} | {'parallel rounds':>15} | "
            f"{'sequential rounds':>17} | {'ratio':>6}"
        )
        print(header)
        print("-" * len(header))
        table = []
        for d_, seq_r_, _, _, _, R, K, steps, problem in rows:
            m, blocks, sweeps, par, seq_pc = corrector_rounds(problem, R, K, steps, args.picard_tol, args.sampling)
            # the sequential sampler: the sequential predictor's rounds plus 2M per corrector run
            seq_total = seq_r_ + blocks * 2 * m
            table.append((d_, par, seq_total))
            print(f"{d_:>5} | {m:>3} {blocks:>6} {sweeps:>3} | {par:>15} | {seq_total:>17} | {seq_total / par:>6.1f}")
        if len(table) >= 3:
            d, par, seq = (np.array(c, dtype=float) for c in zip(*table))
            design = np.column_stack([np.ones_like(d), np.log(d) ** 2])
            coef, *_ = np.linalg.lstsq(design, par, rcond=None)
            fit = design @ coef
            r2 = 1 - np.sum((par - fit) ** 2) / max(np.sum((par - par.mean()) ** 2), 1e-300)
            slope = lambda y: np.polyfit(np.log(d), np.log(y), 1)[0]  # noqa: E731
            print(
                f"\nparallel rounds ~ {coef[0]:.1f} + {coef[1]:.2f} log^2 d (R^2 = {r2:.3f}); "
                f"power fits: parallel ~ d^{slope(par):.2f}, sequential ~ d^{slope(seq):.2f}"
            )
    return rows


if __name__ == "__main__":
    main()
