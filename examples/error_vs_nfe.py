"""Pathwise error against score evaluations: collocation vs exponential integrator, randomized
midpoint and scipy's DOP853, on a Gaussian and a point cloud (log-log, one panel per target).

The problems and references are those of ``benchmarks/high_accuracy.py``: particles start from the
exact ``q_T``, so the error is the solver's alone. Fixed-order methods are straight lines of slope
``-order``; the collocation solver (windows fixed by the contraction condition, ``D = m``,
``N = m + 1``) bends down: its error falls geometrically in ``m`` while the cost grows like ``m^2``.

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


def curves(problem, quick=False):
    """``{label: (nfe array, error array)}`` for every solver."""
    out = {}
    steps = [4 * 2**k for k in range(9 if quick else 13)]
    steppers = [("exponential integrator", ExponentialODE())]
    if RandomizedMidpoint is not None:
        steppers.append(("randomized midpoint", RandomizedMidpoint()))
    for label, solver in steppers:
        pts = [run_steps(problem, solver, n) for n in steps]
        out[label] = (np.array([p[1] for p in pts]), np.array([p[0] for p in pts]))
    tols = 10.0 ** -np.arange(3, 14, 1.0 if quick else 0.5)
    pts = [dop853(problem, tol) for tol in tols]
    out["DOP853 (scipy)"] = (np.array([p[1] for p in pts]), np.array([problem.error(p[0]) for p in pts]))
    nfe, err = [], []
    for m in range(1, 10 if quick else 13):
        res = cs.sample(problem.target, Collocation(m, m + 1), len(problem.x0), grid=problem.plan_grid,
                        x_init=problem.x0, progress=False)
        nfe.append(res.nfe)
        err.append(problem.error(res.samples))
    out[f"collocation ({len(problem.plan_grid)} windows, D=m, N=m+1)"] = (np.array(nfe), np.array(err))
    return out


def main(argv=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description="error vs NFE of the ODE solvers")
    parser.add_argument("--quick", action="store_true", help="fewer points (well under a minute)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "error_vs_nfe.png"))
    args = parser.parse_args(argv)
    probs = problems(args.quick)
    fig, axes = plt.subplots(1, len(probs), figsize=(6 * len(probs), 4.5), squeeze=False)
    for ax, prob in zip(axes[0], probs):
        for label, (nfe, err) in curves(prob, args.quick).items():
            ax.loglog(nfe, np.maximum(err, FLOOR), "o-", ms=3, label=label)
            print(f"{prob.name:18s} {label:45s} best error {np.min(err):.1e} at NFE {nfe[np.argmin(err)]}")
        for eps in (1e-4, 1e-8, 1e-10):
            ax.axhline(eps, color="0.8", lw=0.8, zorder=0)
        ax.set_title(f"{prob.name}, T={prob.T:g}, delta={prob.delta:g}")
        ax.set_xlabel("score evaluations per particle (NFE)")
        ax.set_ylabel("pathwise error (max over particles)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
