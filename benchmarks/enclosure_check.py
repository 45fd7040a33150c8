"""A randomized check of the proved flow enclosures: every ball must hold an accurate, independent reference.

    python benchmarks/enclosure_check.py [--cases 150] [--n 6] [--seed 1] [--tols 1e-2 5e-5 1e-6 1e-9]

Each case draws a target (a Gaussian mixture with 1-12 components in 1-24 coordinates, mean scales up to 8,
variances from 0.01 to 3, isotropic per component, one for all, or one per component and coordinate; or a built-in:
ring, gaussian, cloud, subspace), a horizon ``T`` in {0.5, 1, 2, 5, 10}, an end time ``delta`` in {0.001, 0.01,
0.05, 0.2} (below ``T``), a tolerance, and ``n`` exact ``q_T`` starts, the last two pushed 1.5-5 times outward.
``certsample.verify.flows.enclose_flows`` encloses their flow images at ``delta``; scipy's DOP853 (rtol = atol =
1e-13, one start at a time) integrates the same probability-flow ODE. A ball that misses the reference by more than
``1e-10 (1 + |x|)`` (room for the reference's own error) is a violation: the script prints it, encloses that start
again with the Arb path (``certsample.verify.enclose_flow``, an independent proof at ``1e-12``) to tell a wrong ball
from a wrong reference, and exits with status 1. Printed per case: the largest distance to the reference over the
radius (at most 1 where every ball holds it), the starts whose radius is above ``tol (1 + |x0|)``, the methods and
the most passes; then a summary. No times: this is a check of the statement, not of its speed.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def random_target(rng):
    """A label and a target drawn as the module docstring says."""
    import certsample as cs

    if rng.random() < 0.25:
        name = str(rng.choice(["ring", "gaussian", "cloud", "subspace"]))
        dim = None if name in ("ring", "cloud") else int(rng.integers(2, 12))
        return f"{name}{dim or ''}", cs.make_target(name, dim=dim, seed=int(rng.integers(100)))
    K, k = int(rng.integers(1, 13)), int(rng.integers(1, 25))
    means = rng.normal(scale=rng.uniform(0.3, 8.0), size=(K, k))
    style = str(rng.choice(["isotropic", "one variance", "per coordinate"]))
    if style == "isotropic":
        variances = rng.uniform(0.01, 3.0, size=K)
    elif style == "one variance":
        variances = float(rng.uniform(0.01, 3.0))
    else:
        variances = rng.uniform(0.01, 3.0, size=(K, k))
    return f"K={K} k={k} {style}", cs.gaussian_mixture(means, variances, rng.dirichlet(np.ones(K)))


def reference_flow(target, x0, T, delta):
    """DOP853 at rtol = atol = 1e-13 from ``T`` to ``delta``, one start at a time (not a proof: a second opinion)."""
    from certsample.evaluate import scipy_flow

    return scipy_flow(target, x0, T, delta, rtol=1e-13, each=True)[0]


def check_case(rng, n, tols):
    """One case: ``(label, T, delta, tol, largest distance / radius, starts above tol, methods, passes, violations)``,
    each violation ``(start, distance, radius, Arb's verdict)``."""
    from certsample.verify import enclose_flow
    from certsample.verify.flows import enclose_flows

    label, target = random_target(rng)
    T = float(rng.choice([0.5, 1.0, 2.0, 5.0, 10.0]))
    delta = float(rng.choice([0.001, 0.01, 0.05, 0.2]))
    delta = delta if delta < T else T / 10
    tol = float(rng.choice(tols))
    x0 = target.law_at(T).sample(n, seed=int(rng.integers(1000)))
    x0[max(0, n - 2) :] *= rng.uniform(1.5, 5.0)
    found = enclose_flows(target, x0, T, delta, tol=tol, fallback="failed")
    reference = reference_flow(target, x0, T, delta)
    distance = np.linalg.norm(found.centers - reference, axis=1)
    room = found.radii + 1e-10 * (1 + np.linalg.norm(reference, axis=1))
    ratio = np.where(np.isfinite(found.radii), distance / room, 0.0)
    violations = []
    for p in np.flatnonzero(ratio > 1):
        arb = enclose_flow(target, x0[p], T, delta, tol=1e-12)
        holds = np.linalg.norm(arb.center - found.centers[p]) <= found.radii[p] + arb.radius
        violations.append((int(p), float(distance[p]), float(found.radii[p]), "ball holds Arb's" if holds else "WRONG"))
    above = int(np.sum(found.radii > tol * (1 + np.linalg.norm(x0, axis=1))))
    methods = ",".join(sorted(set(found.method.tolist())))
    return label, T, delta, tol, float(ratio.max()), above, methods, int(found.passes.max()), violations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=150)
    parser.add_argument("--n", type=int, default=6, help="starts per case")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-2, 5e-5, 1e-6, 1e-9])
    args = parser.parse_args(argv)
    if args.cases < 1 or args.n < 1:
        parser.error("--cases and --n must be at least 1")
    if any(not (1e-10 <= tol < 1) for tol in args.tols):
        parser.error("--tols must lie in [1e-10, 1): the reference is good to about 1e-12")
    rng = np.random.default_rng(args.seed)
    worst, starts, above_all, wrong = 0.0, 0, 0, 0
    print(f"{'case':>4} {'target':28} {'T':>5} {'delta':>6} {'tol':>6} {'dist/radius':>11} {'above tol':>9} passes")
    for case in range(args.cases):
        label, T, delta, tol, ratio, above, methods, passes, violations = check_case(rng, args.n, args.tols)
        worst, starts, above_all = max(worst, ratio), starts + args.n, above_all + above
        print(f"{case:4d} {label:28} {T:5g} {delta:6g} {tol:6.0e} {ratio:11.3g} {above:9d} {passes} {methods}")
        for p, distance, radius, verdict in violations:
            wrong += verdict == "WRONG"
            print(f"     VIOLATION start {p}: distance {distance:.3g} > radius {radius:.3g}; {verdict}")
    print(
        f"{args.cases} cases, {starts} starts: largest distance to the reference over the radius {worst:.3g}; "
        f"{above_all} radii above tol; {wrong} balls that miss Arb's"
    )
    return 1 if worst > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
