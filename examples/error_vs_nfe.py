"""Pathwise error against score evaluations and against sequential rounds: collocation vs exponential
integrator, randomized midpoint and scipy's DOP853, on a Gaussian and a point cloud (log-log; top row
error vs NFE, bottom row error vs rounds, one column per target).

The problems and references are those of ``benchmarks/high_accuracy.py``: particles start from the
exact ``q_T``, so the error is the solver's alone. Fixed-order methods are straight lines of slope
``-order``; the collocation solver on fixed windows (``D = m``, ``N = m + 1``) bends down: its error
falls geometrically in ``m`` while the cost grows like ``m^2``. "collocation from eps" is the user's
call ``cs.sample(target, "collocation", eps=eps)`` for eps = 1e-3 .. 1e-12: windows, degree and sweeps
chosen by the solver (its NFE counts the run; the planner's pilot evaluations are reported apart,
in ``result.extra["pilot_evaluations_per_particle"]``). In the rounds row the step methods and DOP853
sit where they sit in the NFE row (every evaluation waits for the previous one); collocation moves
left by its parallel nodes and its pipelined windows. With ``--quick`` (about 6 s) the from-eps curve
met DOP853's NFE and took 9-12x fewer rounds: 347 NFE / 46 rounds at error 7.7e-12 on the Gaussian,
where DOP853 needed 422 (56 rounds before the windows were pipelined).

    python examples/error_vs_nfe.py [--quick] [--out examples/error_vs_nfe.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from high_accuracy import RandomizedMidpoint, dop853, problems, run_steps  # noqa: E402

import certsample as cs  # noqa: E402
from certsample.solvers import ExponentialODE  # noqa: E402
from certsample.solvers.collocation import Collocation  # noqa: E402

FLOOR = 1e-17  # errors of exactly zero (rounding luck) are drawn here
FROM_EPS = (1e-3, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12)


def curves(problem, quick=False):
    """``{label: (nfe array, rounds array, error array)}`` for every solver."""
    out = {}
    steps = [4 * 2**k for k in range(9 if quick else 13)]
    steppers = [("exponential integrator", ExponentialODE())]
    if RandomizedMidpoint is not None:
        steppers.append(("randomized midpoint", RandomizedMidpoint()))
    for label, solver in steppers:
        pts = [run_steps(problem, solver, n) for n in steps]
        nfe = np.array([p[1] for p in pts])
        out[label] = (nfe, nfe * solver.rounds_per_step // solver.evals_per_step, np.array([p[0] for p in pts]))
    tols = 10.0 ** -np.arange(3, 14, 1.0 if quick else 0.5)
    pts = [dop853(problem, tol) for tol in tols]
    nfe = np.array([p[1] for p in pts])
    out["DOP853 (scipy)"] = (nfe, nfe, np.array([problem.error(p[0]) for p in pts]))
    runs = [
        cs.sample(
            problem.target,
            Collocation(m, m + 1),
            len(problem.x0),
            grid=problem.plan_grid,
            x_init=problem.x0,
            progress=False,
        )
        for m in range(1, 10 if quick else 13)
    ]
    out[f"collocation ({len(problem.plan_grid)} windows, D=m, N=m+1)"] = _series(problem, runs)
    runs = [
        cs.sample(
            problem.target,
            "collocation",
            len(problem.x0),
            T=problem.T,
            delta=problem.delta,
            eps=eps,
            x_init=problem.x0,
            progress=False,
        )
        for eps in FROM_EPS[:: 2 if quick else 1]
    ]
    out["collocation from eps (1e-3 .. 1e-12)"] = _series(problem, runs)
    return out


def _series(problem, runs):
    return (
        np.array([r.nfe for r in runs]),
        np.array([r.rounds for r in runs]),
        np.array([problem.error(r.samples) for r in runs]),
    )


def main(argv=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description="error vs NFE of the ODE solvers")
    parser.add_argument("--quick", action="store_true", help="fewer points (well under a minute)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "error_vs_nfe.png"))
    args = parser.parse_args(argv)
    probs = problems(args.quick)
    fig, axes = plt.subplots(2, len(probs), figsize=(6 * len(probs), 9), squeeze=False)
    for column, prob in enumerate(probs):
        for label, (nfe, rounds, err) in curves(prob, args.quick).items():
            for ax, cost in zip(axes[:, column], (nfe, rounds)):
                ax.loglog(cost, np.maximum(err, FLOOR), "o-", ms=3, label=label)
            best = np.argmin(err)
            print(f"{prob.name:18s} {label:45s} best error {err[best]:.1e} at NFE {nfe[best]}, rounds {rounds[best]}")
        for ax, cost in zip(axes[:, column], ("score evaluations per particle (NFE)", "sequential rounds")):
            for eps in (1e-4, 1e-8, 1e-10):
                ax.axhline(eps, color="0.8", lw=0.8, zorder=0)
            ax.set_title(f"{prob.name}, T={prob.T:g}, delta={prob.delta:g}")
            ax.set_xlabel(cost)
            ax.set_ylabel("pathwise error (max over particles)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
