"""Collocation from eps = 1e-5 down to 1e-30 in mpmath: error below eps, work growing like polylog(1/eps).

The solver is :class:`certsample.solvers.Collocation` itself, its NumPy step run on mpmath numbers
(``context=MPContext(dps)``), on the windows, degree and sweeps of ``collocation_plan(eps)``. The
reference is the closed-form flow of a Gaussian at ``dps + 15`` digits; particles start from the
exact ``q_T``, so the error is the solver's alone. A method of fixed order ``p`` would need
``NFE ~ eps^{-1/p}``; here NFE grows like ``log(1/eps)^s`` with the fitted exponent ``s`` printed
(the plan's ``D`` and ``N`` both grow like ``log(1/eps)``, so ``s`` is at most 2).

    python examples/high_precision.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import certsample as cs
from certsample.highprec import convergence_table
from certsample.integrate import initial_particles


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="eps down to 1e-20 and a shorter horizon")
    parser.add_argument("--dps", type=int, default=45, help="working precision in decimal digits")
    args = parser.parse_args(argv)
    target = cs.gaussian([0.5, -0.3], [1.5, 0.4])
    T, delta = (2.0, 0.1) if args.quick else (5.0, 0.05)
    eps_list = (1e-5, 1e-10, 1e-15, 1e-20) if args.quick else (1e-5, 1e-10, 1e-15, 1e-20, 1e-25, 1e-30)
    x0 = initial_particles(1, 2, 0, T, target, "exact")[0]
    start = time.perf_counter()
    rows = convergence_table(target, x0, T, delta, eps_list=eps_list, dps=args.dps)
    print(f"{target.name} d={target.dim}, T={T}, delta={delta}, {args.dps} digits, {time.perf_counter() - start:.0f} s")
    print(f"{'eps':>8} {'windows':>7} {'D':>3} {'N':>3} {'NFE':>6} {'rounds':>6} {'error':>9}  error <= eps")
    for r in rows:
        print(
            f"{r['eps']:8.0e} {r['windows']:7d} {r['degree']:3d} {r['sweeps']:3d} {r['nfe']:6d} {r['rounds']:6d} "
            f"{r['error']:9.2e}  {r['error'] <= r['eps']}"
        )
    logs = np.log(np.log(1.0 / np.array([r["eps"] for r in rows])))
    slope, _ = np.polyfit(logs, np.log([r["nfe"] for r in rows]), 1)
    print(
        f"NFE ~ log(1/eps)^{slope:.2f}; NFE grew {rows[-1]['nfe'] / rows[0]['nfe']:.1f}x while eps fell "
        f"{rows[0]['eps'] / rows[-1]['eps']:.0e}x"
    )


if __name__ == "__main__":
    main()
