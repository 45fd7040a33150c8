"""Wall time and peak memory against the particle count, each run in its own process.

    python benchmarks/scale.py            # ring n = 1e3 .. 1e7, 64-d mixture n = 1e3 .. 1e6
    python benchmarks/scale.py --quick    # ring up to 1e6, mixture up to 1e5, fewer steps

For every run it prints the peak resident memory next to the state's size (n x d x 8 bytes) and
the time per particle-step, and at the end the ratios a user cares about: peak RSS over the state
at the largest n (the issue's target is at most 3x plus a constant) and the growth of time per
particle from the smallest to the largest n (1.0 means time linear in n).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, certsample as cs
kind, n, solver, steps = sys.argv[1], int(float(sys.argv[2])), sys.argv[3], int(sys.argv[4])
if kind == "ring":
    target = cs.ring_mixture()
else:
    sys.path.insert(0, sys.argv[5])
    from bench_targets import mixture64
    target = mixture64()
s = cs.solvers.Collocation(degree=8, sweeps=3) if solver == "collocation" else solver
cs.sample(target, s, n=64, n_steps=1, backend="cpu", progress=False)  # compile outside the timing
run = cs.sample(target, s, n=n, n_steps=steps, backend="cpu", progress=False)
print(json.dumps({"wall": run.wall_time, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "state": 8 * n * target.dim, "steps": len(run.grid)}))
"""

SOLVERS = ["exponential-ode", "euler-maruyama", "randomized-midpoint", "collocation"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    plans = {
        "ring": [10**k for k in range(3, 7 if args.quick else 8)],
        "mixture": [10**k for k in range(3, 6 if args.quick else 7)],
    }
    steps = {"ring": 10 if args.quick else 50, "mixture": 4 if args.quick else 20}
    print(
        f"{'target':<8s} {'solver':<20s} {'n':>9s} {'wall s':>9s} {'ns/particle-step':>17s} "
        f"{'peak RSS MB':>12s} {'state MB':>9s}"
    )
    summary = []
    for kind, sizes in plans.items():
        for solver in SOLVERS:
            rows = []
            for n in sizes:
                # collocation does (D N + 1) = 25 evaluations per window: a tenth of the windows keeps its
                # runs as long as the others' (time is reported per particle-step)
                n_steps = max(1, steps[kind] // 10) if solver == "collocation" else steps[kind]
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        kind,
                        str(n),
                        solver,
                        str(n_steps),
                        os.path.dirname(os.path.abspath(__file__)),
                    ],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode != 0:
                    print(f"{kind:<8s} {solver:<20s} {n:>9.0e} failed: {proc.stderr.strip().splitlines()[-1]}")
                    break
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                per = r["wall"] / (n * r["steps"]) * 1e9
                rows.append((n, r, per))
                print(
                    f"{kind:<8s} {solver:<20s} {n:>9.0e} {r['wall']:>9.2f} {per:>17.1f} "
                    f"{r['rss'] / 2**20:>12.0f} {r['state'] / 2**20:>9.1f}",
                    flush=True,
                )
            if len(rows) >= 2:
                (_, _, p0), (n1, r1, p1) = rows[0], rows[-1]
                summary.append(
                    (
                        kind,
                        solver,
                        n1,
                        r1["rss"] / r1["state"],
                        (r1["rss"] - rows[0][1]["rss"]) / max(r1["state"] - rows[0][1]["state"], 1),
                        p1 / p0,
                    )
                )
    print("\nat the largest n: peak RSS / state, (RSS growth) / (state growth), time per particle vs smallest n")
    for kind, solver, n, ratio, growth, linear in summary:
        print(
            f"  {kind:<8s} {solver:<20s} n={n:.0e}: {ratio:6.1f}x state, growth {growth:4.1f}x state, "
            f"time/particle x{linear:.2f}"
        )


if __name__ == "__main__":
    main()
