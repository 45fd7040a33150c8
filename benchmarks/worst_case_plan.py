"""Measured collocation plans over the proved theorem's whole start set: what any bound uniform over S(eta) must pay.

The proved plan (:meth:`proofs.collocation.CollocationTheorem.plan`) bounds the error of *every* start in
``S(eta)`` (``q_T``-mass at least ``1 - eta``); the measured plan of ``sample(..., eps=)`` sizes its windows on
32 pilot draws, which may miss rare paths that the theorem must cover too. This compares, on a 2-D target
where ``S(eta)`` (a disk) can be covered by a dense grid of starts:

* ``measured``: the plan of ``sample(target, "collocation", eps=eps)`` (32 standard pilot starts), and its
  largest error over the grid, in units of eps;
* ``worst-case``: :func:`~certsample.solvers.collocation_adaptive.adapt_plan` (the same planner, which keeps the
  largest pilot error) on ``sample``'s pilot, then with the grid's worst starts under the last plan added to the
  pilot until its largest error over the whole grid is at most eps. Once in ``sample``'s configuration (reference
  flow, Anderson, pipelined), once in the configuration the theorem covers (linear part ``y``, plain sequential
  sweeps, the default warm-start gain of :func:`~certsample.solvers.collocation.warm_start_matrix`);
* ``proved``: the proved plan's NFE (``--proved``; the search takes minutes).

Errors are against the proved enclosures of the exact flow images (:func:`certsample.verify.enclose_flows`, tol
1e-13; the largest radius is printed). A start's error is taken as its distance to the enclosure's centre plus the
radius (an upper bound); "above eps" counts the starts whose distance minus the radius (a lower bound) exceeds eps,
a proved statement about those starts. A worst-case plan is measured, not proved: a start between grid points may
need more, so its NFE is a lower estimate of what a bound uniform over ``S(eta)`` must allow for this solver.

``--windows`` prints, for each theorem's-configuration worst-case plan, the theorem's bound on those very windows,
window by window (cold-started): which ingredient keeps the proof from the measured run.

Usage: ``python benchmarks/worst_case_plan.py [--targets ring] [--eps 1e-4 1e-8] [--radii 60 --angles 240]
[--proved] [--windows]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import certsample as cs
import proofs
from certsample.integrate import initial_particles, plan_from_eps
from certsample.oracle import as_oracle
from certsample.solvers.collocation_adaptive import adapt_plan, reference_variance_of
from certsample.verify import enclose_flows
from proofs.balls import bound_text
from proofs.collocation import DEFAULT_ETA
from proofs.flow_bounds import Decomposition, StartSet

TARGETS = {"ring": lambda: cs.make_target("ring"), "cloud": lambda: cs.make_target("cloud")}
#: worst-case rounds by default (``--rounds``): each adds the grid's worst starts under the last plan to the pilot
ROUNDS = 6
PILOT = 32  # sample's pilot


def start_grid(target, T: float, eta: float, radii: int, angles: int) -> tuple[np.ndarray, float]:
    """A polar grid over the disk ``S(eta)`` of a 2-D target and its radius: rings of equal area out to the boundary,
    and rings at 0.05-0.5 about the centre, whose paths leave the unstable centre late.

    The exact centre is left out: on the ring the flow keeps it there (by symmetry). Near a centre the float64
    enclosures of paths that start within about ``0.01`` of it are about ``1e-9`` wide at tol ``1e-13`` (their
    growth factor is large), too wide to judge eps ``1e-8``."""
    if target.dim != 2:
        raise ValueError(f"the grid covers 2-D targets only, got d = {target.dim}")
    start = StartSet.build(Decomposition.of(target), float(T), float(eta))
    # a 2-D target is one block in its own coordinates (Decomposition.block = [0, 1])
    equal_area = start.block_radius * np.sqrt(np.linspace(0.0, 1.0, radii + 1)[1:])
    r = np.concatenate([np.geomspace(0.05, 0.5, 4), equal_area])
    theta = np.linspace(0.0, 2 * np.pi, angles, endpoint=False)
    points = np.stack([np.outer(r, np.cos(theta)).ravel(), np.outer(r, np.sin(theta)).ravel()], axis=1)
    return start.block_centre + points, float(start.block_radius)


def errors(target, solver, grid, x0, exact, T, delta) -> np.ndarray:
    """Upper bounds of each start's error: the distance to the enclosure's centre plus its radius."""
    run = cs.sample(target, solver, grid=grid, x_init=x0, T=T, delta=delta, backend="cpu", progress=False)
    return np.linalg.norm(run.samples - exact.centers, axis=1) + exact.radii


def worst_case_plan(target, eps, x0, exact, T, delta, rounds=ROUNDS, **config):
    """The planner on ``sample``'s 32 pilot starts, then with the grid's 16 worst starts under the last plan added
    to its pilot until the plan meets eps on every start; ``(plan, largest error, pilot size)``."""
    oracle = as_oracle(target, None)
    pilot = initial_particles(PILOT, target.dim, 0, T, target)  # what plan_from_eps draws
    plan = adapt_plan(eps, oracle, pilot, T, delta, **config)
    for _ in range(rounds):
        err = errors(target, plan.solver(), plan.grid, x0, exact, T, delta)
        if err.max() <= eps:
            break
        pilot = np.concatenate([pilot, x0[np.argsort(err)[::-1][:16]]])
        plan = adapt_plan(eps, oracle, pilot, T, delta, **config)
    else:
        err = errors(target, plan.solver(), plan.grid, x0, exact, T, delta)
    return plan, float(err.max()), len(pilot)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["ring"], choices=sorted(TARGETS))
    parser.add_argument("--eps", type=float, nargs="+", default=[1e-4, 1e-8])
    parser.add_argument("--T", type=float, default=10.0)
    parser.add_argument("--delta", type=float, default=1e-3)
    parser.add_argument("--eta", type=float, default=DEFAULT_ETA)
    parser.add_argument("--radii", type=int, default=60)
    parser.add_argument("--angles", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of pilot growth of a worst-case plan")
    parser.add_argument("--proved", action="store_true", help="also search the proved plan (minutes)")
    parser.add_argument(
        "--windows", action="store_true", help="the theorem's per-window bound on the theorem's worst-case plans"
    )
    args = parser.parse_args(argv)
    T, delta = args.T, args.delta
    theorem = proofs.get("collocation")
    print(f"T = {T:g}, delta = {delta:g}, eta = {args.eta:g}")
    for name in args.targets:
        target = TARGETS[name]()
        x0, radius = start_grid(target, T, args.eta, args.radii, args.angles)
        start = time.perf_counter()
        exact = enclose_flows(target, x0, T, delta, tol=1e-13, fallback="failed")
        print(
            f"{name}: {len(x0)} starts over S(eta) (radius {radius:.4g}); enclosures in "
            f"{time.perf_counter() - start:.0f} s, largest radius {exact.radii.max():.2g}"
        )
        print(
            "| eps | measured NFE (windows, D) | its largest error / eps | above eps | worst-case, sample's "
            "configuration | worst-case, the theorem's | proved NFE (windows, D) | proved / measured | proved / "
            "worst-case (theorem's) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for eps in args.eps:
            solver, grid, _ = plan_from_eps(target, "collocation", eps, T=T, delta=delta)
            measured = solver.nfe(len(grid))
            err = errors(target, solver, grid, x0, exact, T, delta)
            proved_above = np.mean(err - 2 * exact.radii > eps)  # distance minus radius: a proved lower bound
            cells = []
            worst, plans = {}, {}
            for label, config in (
                ("sample", dict(reference_variance=reference_variance_of(as_oracle(target, None)))),
                ("theorem", dict(pipeline=False, reference_variance=None, anderson=False, warm_start_gain=None)),
            ):
                plan, largest, pilot = worst_case_plan(target, eps, x0, exact, T, delta, args.rounds, **config)
                nfe = plan.solver().nfe(plan.windows)
                worst[label], plans[label] = nfe, plan
                met = "" if largest <= eps else f", still {largest / eps:.2g} eps"
                cells.append(f"{nfe} ({plan.windows}, {plan.degree}; pilot {pilot}{met})")
            proved_cells = ["-", "-", "-"]
            if args.proved:
                plan = theorem.plan(eps, target, T, delta, eta=args.eta)
                proved_cells = [
                    f"{plan.nfe} ({plan.windows}, {plan.degree})",
                    f"{plan.nfe / measured:.1f}",
                    f"{plan.nfe / worst['theorem']:.1f}",
                ]
            print(
                f"| {eps:g} | {measured} ({len(grid)}, {solver.degree}) | {err.max() / eps:.3g} | "
                f"{proved_above:.2%} | {cells[0]} | {cells[1]} | " + " | ".join(proved_cells) + " |",
                flush=True,
            )
            if args.windows:
                report_windows(theorem, target, plans["theorem"], args.eta)
        print()


def report_windows(theorem, target, plan, eta):
    """What the theorem proves window by window for a measured plan, cold-started (the theorem's warm-start bound is
    never below its cold-start one): where its ingredients stop the bound from following the run."""
    warm, bound = (
        theorem.pathwise_bound(target, plan.grid, plan.degree, plan.sweeps, warm_start=warm_start, eta=eta)
        for warm_start in (True, False)
    )
    print(f"  the theorem's bound on these windows: {bound_text(warm.value)} warm-started (as the plan runs), ")
    print(f"  {bound_text(bound.value)} cold-started; the cold start window by window:")
    print("  | t | h / t | sweeps | W | L | h L | Gronwall | rho | interpolation | first iterate | local | error |")
    print("  | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for w in bound.per_window:
        cells = (w.t, w.h / w.t, w.sweeps, w.start_radius, w.lipschitz, w.h * w.lipschitz, w.gronwall, w.rho)
        cells += (w.interpolation, w.initial, w.local, w.error)
        print("  | " + " | ".join(f"{c:.3g}" for c in cells) + " |")


if __name__ == "__main__":
    main()
