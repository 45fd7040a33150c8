"""Measured collocation plans over the proved theorem's whole start set: what any bound uniform over S(eta) must pay.

The proved plan (:meth:`proofs.collocation.CollocationTheorem.plan`) bounds the error of *every* start in
``S(eta)`` (``q_T``-mass at least ``1 - eta``); the measured plan of ``sample(..., eps=)`` sizes its windows on
32 pilot draws, which may miss rare paths that the theorem must cover too. This compares, on a 2-D target
where ``S(eta)`` (a disk) can be covered by a dense grid of starts:

* ``measured``: the plan of ``sample(target, "collocation", eps=eps)`` (32 standard pilot starts), and its
  largest error over the grid, in units of eps;
* ``worst-case``: :func:`~certsample.solvers.collocation_adaptive.adapt_plan` (the same planner, which keeps the
  largest pilot error) on ``sample``'s pilot, then with the worst starts under the last plan added to the pilot
  until its largest error over the whole grid (and the constructed starts, ``--hard``) is at most eps. Once in
  ``sample``'s configuration (reference flow, Anderson, pipelined), once in the configuration the theorem covers
  (linear part ``y``, plain sequential sweeps, the default warm-start gain of
  :func:`~certsample.solvers.collocation.warm_start_matrix`);
* ``proved``: the proved plan's NFE (``--proved``; the search takes minutes).

Errors are against the proved enclosures of the exact flow images (:func:`certsample.verify.enclose_flows`, tol
1e-13; the largest radius is printed). A start's error is taken as its distance to the enclosure's centre plus the
radius (an upper bound); "above eps" counts the starts whose distance minus the radius (a lower bound) exceeds eps,
a proved statement about those starts. A worst-case plan is measured, not proved: a start between grid points may
need more, so its NFE is a lower estimate of what a bound uniform over ``S(eta)`` must allow for this solver.

``--hard`` adds starts the grid misses: paths built to pass close to the flow's unstable points (the frame centre,
and the midpoints between neighbouring means, which are near the saddles of ``q_t``) late in the run, where a
small error grows most (:func:`hard_starts`). Their references are DOP853 solutions at tight tolerance, not proved
enclosures (the float64 enclosures need more than their step limit on paths that linger at the ring's centre): a
start is kept only where two references at different tolerances agree to ``1e-2`` of the smallest eps. The measured
plan's largest error on them is printed, and the worst-case plans must meet eps on them too.

``--windows`` prints, for each theorem's-configuration worst-case plan, the theorem's bound on those very windows,
window by window (cold-started): which ingredient keeps the proof from the measured run.

Usage: ``python benchmarks/worst_case_plan.py [--targets ring] [--eps 1e-4 1e-8] [--radii 60 --angles 240]
[--hard] [--proved] [--windows]``.
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import numpy as np

import certsample as cs
import proofs
from certsample.evaluate import scipy_flow
from certsample.integrate import initial_particles, plan_from_eps
from certsample.oracle import as_oracle
from certsample.solvers.collocation_adaptive import adapt_plan, reference_variance_of
from certsample.verify import enclose_flows
from proofs.balls import bound_text
from proofs.collocation import DEFAULT_ETA
from proofs.flow_bounds import Decomposition, StartSet

TARGETS = {"ring": lambda: cs.make_target("ring"), "cloud": lambda: cs.make_target("cloud")}
#: worst-case rounds by default (``--rounds``): each adds the worst starts under the last plan to the pilot
ROUNDS = 6
PILOT = 32  # sample's pilot
#: forward times at which a constructed start passes its unstable point, and its distance from it there
HARD_TIMES = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
HARD_OFFSETS = (1e-4, 1e-3, 1e-2, 0.1)
HARD_PAIRS = 4  # the closest pairs of neighbouring means whose midpoints are used
REFERENCE_RTOL = (1e-13, 3e-12)  # two DOP853 references per constructed start; they must agree


class References(NamedTuple):
    """Images of the starts at ``delta`` and how far each may be from the exact one (the fields of
    :class:`~certsample.verify.flows.FlowEnclosures` that :func:`errors` reads)."""

    centers: np.ndarray
    radii: np.ndarray


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


def _flow(target, x, t_from: float, t_to: float, rtol: float) -> np.ndarray:
    """Every row of ``x`` carried by the probability-flow ODE from forward time ``t_from`` to ``t_to`` (either
    direction), DOP853 on the stacked rows (one score call per stage)."""
    return scipy_flow(target, x, t_from, t_to, rtol=rtol, atol=0.1 * rtol)[0]


def hard_starts(target, T: float, delta: float, centre, radius: float, agree: float):
    """Starts in ``S(eta)`` whose exact paths pass at distance ``r`` (:data:`HARD_OFFSETS`) from an unstable point of
    the flow at a forward time ``t_c`` (:data:`HARD_TIMES` above ``delta``): the frame centre ``a(t_c) m0`` (``m0`` is
    ``centre``; three directions) and ``a(t_c) (mu_i + mu_j) / 2`` for the :data:`HARD_PAIRS` closest pairs of a mean
    and its nearest neighbour (both ways along ``mu_j - mu_i``), carried back to ``T`` by the flow.

    Returns ``(starts, references, gaps)``: the references are the DOP853 images at ``delta`` (rtol 1e-13) and
    ``gaps`` their distances to a second solution at rtol 3e-12; starts outside the disk or whose gap exceeds
    ``agree`` are dropped (a reference is trusted only where two tolerances agree; not a proof)."""
    means = target.means[target.weights > 0]
    distance = np.linalg.norm(means[:, None, :] - means[None, :, :], axis=2)
    np.fill_diagonal(distance, np.inf)
    nearest = {tuple(sorted((i, int(np.argmin(distance[i]))))) for i in range(len(means))}
    pairs = sorted(nearest, key=lambda p: distance[p])
    angles = 0.3 + np.array([0.0, np.pi / 16, np.pi / 8])  # off the ring's axes of symmetry
    starts = []
    for t_c in (t for t in HARD_TIMES if delta < t < T):
        a = np.exp(-t_c)
        points = []
        for r in HARD_OFFSETS:
            points += [a * centre + r * np.array([np.cos(q), np.sin(q)]) for q in angles]
            for i, j in pairs[:HARD_PAIRS]:
                unit = (means[j] - means[i]) / np.linalg.norm(means[j] - means[i])
                points += [a * (means[i] + means[j]) / 2 + s * r * unit for s in (1.0, -1.0)]
        starts.append(_flow(target, np.array(points), t_c, T, REFERENCE_RTOL[0]))
    starts = np.concatenate(starts)
    starts = starts[np.linalg.norm(starts - centre, axis=1) <= radius]
    reference, check = (_flow(target, starts, T, delta, rtol) for rtol in REFERENCE_RTOL)
    gap = np.linalg.norm(reference - check, axis=1)
    keep = gap <= agree
    return starts[keep], reference[keep], gap[keep]


def errors(target, solver, grid, x0, exact, T, delta) -> np.ndarray:
    """Upper bounds of each start's error: the distance to the enclosure's centre plus its radius."""
    run = cs.sample(target, solver, grid=grid, x_init=x0, T=T, delta=delta, backend="cpu", progress=False)
    return np.linalg.norm(run.samples - exact.centers, axis=1) + exact.radii


def worst_case_plan(target, eps, x0, exact, T, delta, rounds=ROUNDS, **config):
    """The planner on ``sample``'s 32 pilot starts, then with the 16 worst of ``x0`` under the last plan added to its
    pilot until the plan meets eps on every start; ``(plan, largest error, pilot size)``."""
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
    parser.add_argument(
        "--hard", action="store_true", help="add starts built to pass near the flow's unstable points (hard_starts)"
    )
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
        n_grid = len(x0)
        if args.hard:
            start = time.perf_counter()
            centre = StartSet.build(Decomposition.of(target), T, args.eta).block_centre
            hard, reference, gap = hard_starts(target, T, delta, centre, radius, 1e-2 * min(args.eps))
            print(
                f"  {len(hard)} constructed starts (hard_starts) in {time.perf_counter() - start:.0f} s, their two "
                f"references within {gap.max():.2g}"
            )
            # the references' gap stands in for a radius (measured, not proved)
            exact = References(np.concatenate([exact.centers, reference]), np.concatenate([exact.radii, gap]))
            x0 = np.concatenate([x0, hard])
        print(
            "| eps | measured NFE (windows, D) | its largest error / eps | above eps | constructed starts: largest "
            "error / eps | worst-case, sample's configuration | worst-case, the theorem's | proved NFE (windows, D) | "
            "proved / measured | proved / worst-case (theorem's) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for eps in args.eps:
            solver, grid, _ = plan_from_eps(target, "collocation", eps, T=T, delta=delta)
            measured = solver.nfe(len(grid))
            err = errors(target, solver, grid, x0, exact, T, delta)
            # distance minus radius: a proved lower bound on the grid (the constructed starts' references are not)
            proved_above = np.mean(err[:n_grid] - 2 * exact.radii[:n_grid] > eps)
            hard_cell = f"{err[n_grid:].max() / eps:.3g}" if len(err) > n_grid else "-"
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
                f"| {eps:g} | {measured} ({len(grid)}, {solver.degree}) | {err[:n_grid].max() / eps:.3g} | "
                f"{proved_above:.2%} | {hard_cell} | {cells[0]} | {cells[1]} | " + " | ".join(proved_cells) + " |",
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
