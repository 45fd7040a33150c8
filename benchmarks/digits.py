"""Samplers on a denoiser trained on real data (scikit-learn's digits), with ratios against a peer at equal NFE.

    python benchmarks/digits.py [--quick] [--cache digits.pt] [--json]

Runs ``examples/digits.py``'s study (train, sample with every solver from the same noise, evaluate) and prints,
for each evaluation budget, every solver's pathwise error against the network's own exact flow, MMD, sliced W2,
classifier accuracy, NFE, rounds and seconds, with the pathwise error and the wall time as ratios to the baseline
at that budget: diffusers' DPM-Solver++ 2M when diffusers is installed, else certsample's exponential integrator
(DDIM-like). Needs ``pip install -e ".[digits]"`` (and ``".[diffusers]"`` for the peer).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def load_study():
    path = os.path.join(HERE, "..", "examples", "digits.py")
    spec = importlib.util.spec_from_file_location("digits_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def budget_of(label):
    found = re.search(r"@(\d+)$", label)
    return int(found.group(1)) if found else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 training steps, 10 samples per class")
    parser.add_argument("--cache", default=None, help="file of the trained network (loaded if it exists)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    digits = load_study()
    steps, per_class = (2000, 10) if args.quick else (6000, 50)
    rows, facts = digits.study(steps, per_class, cache=args.cache)
    if args.json:
        print(json.dumps({"rows": rows, "facts": facts}, indent=2, default=float))
        return
    digits.print_table(rows, facts)
    by_label = {r["solver"]: r for r in rows}
    print()
    print(
        f"{'budget':>6s} {'solver':<26s} {'NFE':>5s} {'pathwise':>9s} {'x baseline':>10s} {'seconds':>8s} "
        f"{'x baseline':>10s}"
    )
    for budget in sorted({budget_of(r["solver"]) for r in rows} - {None}):
        base_label = next(
            (f"{peer} @{budget}" for peer in ("dpm-solver++ 2M", "exponential-ode") if f"{peer} @{budget}" in by_label),
            None,
        )
        base = by_label[base_label]
        for r in rows:
            if budget_of(r["solver"]) != budget:
                continue
            error_ratio, time_ratio = r["pathwise"] / base["pathwise"], r["seconds"] / base["seconds"]
            print(
                f"{budget:>6d} {r['solver']:<26s} {r['nfe']:5d} {r['pathwise']:9.2e} {error_ratio:10.3g} "
                f"{r['seconds']:8.2f} {time_ratio:10.3g}"
            )
        print(f"{'':>6s} (baseline: {base_label})")


if __name__ == "__main__":
    main()
