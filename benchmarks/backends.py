"""Speed of the compiled backends against the NumPy reference, measured in the same run.

    python benchmarks/backends.py [--n 20000] [--steps 100] [--target ring] [--cuda]

Prints seconds per run (compilation excluded; the kernel's own clock, so host-device copies and the
packing of the particles are outside it) and the speed-up over the NumPy reference, plus millions of
particle score evaluations per second on the CPU backend (``n nfe / seconds``, the unit of
``benchmarks/peers.py``). The CUDA column needs a GPU (or NUMBA_ENABLE_CUDASIM=1, which is slow and only
checks that the path runs). ``--quick``: n / 10. Threads are not pinned here (``peers.py`` pins).
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
    parser.add_argument("--quick", action="store_true", help="n / 10 (a check that every backend runs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = max(1, args.n // 10)

    target = cs.make_target(args.target, args.dim)
    backends = ["numpy", "cpu"] + (["cuda"] if args.cuda else [])
    print(f"target {target!r}, n={args.n}, steps={args.steps}; best of {args.repeats} runs, compile excluded")
    header = f"{'solver':<22s}" + "".join(f"{b + ' s':>12s}" for b in backends)
    header += "".join(f"{b + ' x':>10s}" for b in backends[1:]) + f"{'cpu M evals/s':>15s}"
    print(header)
    for name in args.solvers:
        if name not in SOLVERS:
            raise SystemExit(f"unknown solver {name!r}; choose from {sorted(SOLVERS)}")
        seconds, nfe = {}, 0
        for backend in backends:
            runs = [
                cs.sample(target, name, n=args.n, n_steps=args.steps, backend=backend, seed=0, progress=False)
                for _ in range(args.repeats)
            ]
            seconds[backend], nfe = min(r.wall_time for r in runs), runs[0].nfe
        row = f"{name:<22s}" + "".join(f"{seconds[b]:12.4f}" for b in backends)
        row += "".join(f"{seconds['numpy'] / seconds[b]:10.1f}" for b in backends[1:])
        row += f"{args.n * nfe / seconds['cpu'] / 1e6:15.2f}"
        print(row)


if __name__ == "__main__":
    main()
