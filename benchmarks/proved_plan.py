"""Proved collocation plans against measured ones: score evaluations per particle, and their ratio.

For each target and eps this prints the NFE of the plan ``certsample.sample(target, "collocation", eps=eps)``
runs (windows, degree and sweeps measured on a 32-particle pilot:
:func:`certsample.solvers.collocation_adaptive.adapt_plan`) and of the cheapest plan the proved theorem covers
(:meth:`proofs.collocation.CollocationTheorem.plan`: every start in S(eta), eta = 1e-6, within eps at delta),
with the proved plan's windows, degree and bound. T = 10, delta = 1e-3 unless ``--delta`` says otherwise.
``--exclude-centre``: the start set also leaves out the starts whose exact path enters a centre ball at a window
start (``plan(..., exclude_centre=True)``: isotropic blocks; ``proofs/collocation.py``, part 6b), eta in all.

Usage: ``python benchmarks/proved_plan.py [--eps 1e-4 1e-8 1e-12] [--targets ring cloud ring_in_R64 mixture64]
[--exclude-centre]``.
"""

from __future__ import annotations

import argparse
import time

from bench_targets import mixture64

import certsample as cs
import proofs
from certsample.integrate import plan_from_eps
from proofs.flow_bounds import NotCovered

TARGETS = {
    "ring": lambda: cs.make_target("ring"),
    "cloud": lambda: cs.make_target("cloud"),
    "ring_in_R64": lambda: cs.embed(cs.ring_mixture(), 64),
    "mixture64": mixture64,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, nargs="+", default=[1e-4, 1e-8, 1e-12])
    parser.add_argument("--targets", nargs="+", default=["ring", "cloud", "ring_in_R64"], choices=sorted(TARGETS))
    parser.add_argument("--T", type=float, default=10.0)
    parser.add_argument("--delta", type=float, default=1e-3)
    parser.add_argument("--eta", type=float, default=1e-6)
    parser.add_argument("--exclude-centre", action="store_true")
    args = parser.parse_args(argv)
    theorem = proofs.get("collocation")
    print(f"T = {args.T:g}, delta = {args.delta:g}, eta = {args.eta:g}, exclude_centre = {args.exclude_centre}")
    print(
        "| target | eps | measured NFE (windows, D) | proved NFE (windows, D) | proved / measured | proved bound "
        "| seconds (proof search) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.targets:
        target = TARGETS[name]()
        for eps in args.eps:
            solver, grid, _ = plan_from_eps(target, "collocation", eps, T=args.T, delta=args.delta)
            measured = solver.nfe(len(grid))
            start = time.perf_counter()
            try:
                plan = theorem.plan(eps, target, args.T, args.delta, eta=args.eta, exclude_centre=args.exclude_centre)
            except NotCovered as err:
                text = str(err)  # "... on <target> (family: reason; family: reason)": the first family's reason
                reason = text.split(" (rho_w=", 1)[1].split(": ", 1)[1].split(";")[0] if " (rho_w=" in text else text
                print(
                    f"| {name} | {eps:g} | {measured} ({len(grid)}, {solver.degree}) | not proved: {reason} | - | - "
                    f"| {time.perf_counter() - start:.0f} |",
                    flush=True,
                )
                continue
            print(
                f"| {name} | {eps:g} | {measured} ({len(grid)}, {solver.degree}) | {plan.nfe} ({plan.windows}, "
                f"{plan.degree}) | {plan.nfe / measured:.1f} | {plan.bound.value:.2g} (eta {plan.bound.eta:.2g}) "
                f"| {time.perf_counter() - start:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
