"""Steps for a fixed accuracy as the dimension grows: randomized midpoint vs exponential integrator.

For ``d = 2, 4, ..., 1024`` a Gaussian target (means in ``[-1, 1]``, variances ``0.25 .. 2``; the same
spread of scales in every dimension) is sampled from the exact ``q_T``, and the smallest number of
steps bringing the pathwise RMS error against the exact flow map below ``--eps`` is found for the
randomized midpoint method (Gupta, Cai, Chen 2024) and the exponential integrator (DDIM). The
pathwise RMS error is the cost of a coupling, so it bounds the W2 distance of the output law.

Fitted exponents ``steps ~ d^p`` are printed and plotted with ``d^{5/12}`` (the paper's TV rate for
the randomized midpoint) and ``d^{1/2}`` (the classical rate) reference lines.

What to expect: on a product target the per-coordinate error of a scheme of pathwise order ``q`` is
``C h^q``, so the RMS over ``d`` coordinates is ``sqrt(d) C h^q`` and a fixed error needs
``steps ~ d^{1/(2q)}``: ``d^{1/3}`` for the randomized midpoint (``q = 3/2``), ``d^{1/2}`` for the
exponential integrator (``q = 1``). The ``d^{5/12}`` of the paper is a worst-case bound in TV, a
different metric; pathwise the randomized midpoint does better than it.

Run ``python examples/dimension_dependence.py [--quick] [--out FILE.png]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import certsample as cs
from certsample.exact import gaussian_flow_map
from certsample.solvers import ExponentialODE
from certsample.solvers.randomized_midpoint import RandomizedMidpoint
from certsample.tuning import smallest_sufficient

T, DELTA = 2.0, 0.05


def steps_needed(target, solver, x0, exact, eps, backend, max_steps=1 << 14):
    """Smallest step count with pathwise RMS error <= eps (doubling, then bisection)."""

    def error(n_steps):
        res = cs.sample(
            target,
            solver,
            x0.shape[0],
            n_steps,
            T=T,
            delta=DELTA,
            grid="uniform",
            x_init=x0,
            backend=backend,
            progress=False,
        )
        return float(np.sqrt(np.mean(np.sum((res.samples - exact) ** 2, axis=1))))

    found = smallest_sufficient(error, eps, max_n=max_steps)
    if not found.met:
        raise RuntimeError(f"{solver.name} needs more than {max_steps} steps for eps={eps}")
    return found.n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="d up to 64 only")
    parser.add_argument("--dims", type=int, nargs="+", default=None)
    parser.add_argument("--eps", type=float, default=0.01, help="target pathwise RMS error (default 0.01)")
    parser.add_argument("--n", type=int, default=32, help="particles (default 32)")
    parser.add_argument("--backend", default="cpu", choices=("numpy", "cpu", "cuda"))
    parser.add_argument(
        "--sampling",
        default="uniform",
        choices=("uniform", "exponential"),
        help="law of the random points (default: uniform, the paper's)",
    )
    parser.add_argument("--out", default="examples/dimension_dependence.png", help="PNG to write")
    args = parser.parse_args(argv)
    dims = args.dims or ((2, 4, 8, 16, 32, 64) if args.quick else (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
    solvers = {"randomized midpoint": RandomizedMidpoint(args.sampling), "exponential integrator": ExponentialODE()}

    print(
        f"Gaussian targets, T={T}, delta={DELTA}, uniform grid, pathwise RMS error <= {args.eps}, "
        f"{args.n} particles, {args.sampling} sampling, backend {args.backend}"
    )
    print(f"{'d':>5} | " + " | ".join(f"{name + ' steps':>28}" for name in solvers) + " | time s")
    steps = {name: [] for name in solvers}
    for d in dims:
        start = time.perf_counter()
        target = cs.gaussian(np.linspace(-1.0, 1.0, d), np.linspace(0.25, 2.0, d))
        x0 = cs.initial_particles(args.n, d, 0, T, target, "exact")
        exact = gaussian_flow_map(target, x0, T, DELTA)
        for name, solver in solvers.items():
            steps[name].append(steps_needed(target, solver, x0, exact, args.eps, args.backend))
        print(
            f"{d:>5} | "
            + " | ".join(f"{steps[name][-1]:>28}" for name in solvers)
            + f" | {time.perf_counter() - start:6.1f}"
        )

    d = np.array(dims, dtype=float)
    # small d mixes only a few of the target's scales (d = 2: variances 0.25 and 2 alone), so the
    # asymptotic exponent is fitted on d >= 16 as well as on the whole range
    large = d >= 16 if np.sum(d >= 16) >= 2 else np.ones_like(d, dtype=bool)
    fits = {}
    for name in solvers:
        # NFE = evals_per_step * steps: the exponent in d is the same for steps and NFE
        y = np.log(steps[name])
        p_all = np.polyfit(np.log(d), y, 1)[0]
        p, c = np.polyfit(np.log(d[large]), y[large], 1)
        fits[name] = (p, c)
        nfe = solvers[name].evals_per_step * steps[name][-1]
        print(
            f"{name}: steps ~ {np.exp(c):.2f} d^{p:.3f} for d >= {int(d[large][0])} "
            f"(d^{p_all:.3f} over all d); NFE at d={dims[-1]}: {nfe}"
        )
    print(
        "references: d^(5/12) = d^0.417 (Gupta-Cai-Chen, TV), d^(1/2) = d^0.5; "
        "pathwise prediction d^(1/3) for order 3/2 and d^(1/2) for order 1"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for (name, (p, c)), marker in zip(fits.items(), ("o", "s")):
        nfe = np.array(steps[name]) * solvers[name].evals_per_step
        (points,) = ax.loglog(d, nfe, marker, label=f"{name}: NFE $\\propto d^{{{p:.2f}}}$")
        ax.loglog(
            d[large],
            solvers[name].evals_per_step * np.exp(c) * d[large] ** p,
            "-",
            lw=1,
            alpha=0.6,
            color=points.get_color(),
        )
    anchor = np.mean([steps[name][0] * solvers[name].evals_per_step for name in solvers])
    ax.loglog(d, anchor * (d / d[0]) ** (5 / 12), "k--", lw=1, label="$d^{5/12}$ reference")
    ax.loglog(d, anchor * (d / d[0]) ** 0.5, "k:", lw=1, label="$d^{1/2}$ reference")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short ranges
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("dimension d")
    ax.set_ylabel(f"score evaluations for pathwise RMS error {args.eps:g}")
    ax.set_title("Dimension dependence on Gaussian targets")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return steps, fits


if __name__ == "__main__":
    main()
