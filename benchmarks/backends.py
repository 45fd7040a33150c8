"""Speed of the compiled backends against the NumPy reference, measured in the same run.

    python benchmarks/backends.py [--n 20000] [--steps 100] [--target ring] [--cuda]

Prints seconds per run (compilation excluded) and the speed-up over the NumPy reference, plus
particle-steps per second. The CUDA column needs a GPU (or NUMBA_ENABLE_CUDASIM=1, which is slow
and only checks that the path runs).
"""

from __future__ import annotations

import argparse

import certsample as cs
from certsample.solvers import SOLVERS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--target", default="ring")
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--solvers", nargs="*", default=["euler-maruyama", "exponential-ode", "exponential-sde"])
    parser.add_argument("--cuda", action="store_true", help="also time the CUDA kernel")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    target = cs.make_target(args.target, args.dim)
    backends = ["numpy", "cpu"] + (["cuda"] if args.cuda else [])
    print(f"target {target!r}, n={args.n}, steps={args.steps}; best of {args.repeats} runs, compile excluded")
    header = f"{'solver':<22s}" + "".join(f"{b + ' s':>12s}" for b in backends)
    header += "".join(f"{b + ' x':>10s}" for b in backends[1:]) + f"{'cpu Mpart-step/s':>18s}"
    print(header)
    for name in args.solvers:
        if name not in SOLVERS:
            raise SystemExit(f"unknown solver {name!r}; choose from {sorted(SOLVERS)}")
        seconds = {}
        for backend in backends:
            runs = [
                cs.sample(target, name, n=args.n, n_steps=args.steps, backend=backend, seed=0, progress=False).wall_time
                for _ in range(args.repeats)
            ]
            seconds[backend] = min(runs)
        row = f"{name:<22s}" + "".join(f"{seconds[b]:12.4f}" for b in backends)
        row += "".join(f"{seconds['numpy'] / seconds[b]:10.1f}" for b in backends[1:])
        row += f"{args.n * args.steps / seconds['cpu'] / 1e6:18.2f}"
        print(row)


if __name__ == "__main__":
    main()
