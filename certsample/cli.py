"""``certsample`` command line: ``sample``, ``bounds``, ``certify``, ``solvers``, ``targets``.

Run ``certsample <command> --help`` for options. Output is human-readable by default and JSON
with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np


def _add_run_options(p):
    p.add_argument("--target", default="ring", help="built-in target (list: certsample targets)")
    p.add_argument("--dim", type=int, default=None, help="ambient dimension (target default if omitted)")
    p.add_argument("--solver", default="exponential-sde", help="solver name (list: certsample solvers)")
    p.add_argument("--n", type=int, default=20000, help="number of samples")
    p.add_argument("--steps", type=int, default=200, help="number of time steps (windows for collocation)")
    p.add_argument("--T", type=float, default=10.0, help="horizon (forward time to start from)")
    p.add_argument("--delta", type=float, default=1e-3, help="early-stopping time > 0")
    p.add_argument("--grid", default="exponential", choices=["exponential", "uniform"], help="time grid")
    p.add_argument("--backend", default="cpu", choices=["numpy", "cpu", "cuda"], help="where the solver runs")
    p.add_argument("--seed", type=int, default=0, help="Philox seed: same seed, same samples")
    _add_target_seed(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_target_seed(p):
    p.add_argument(
        "--target-seed",
        type=int,
        default=0,
        help="seed of the random targets (cloud, subspace); --seed is the sampler's",
    )


def _output_path(path, option: str):
    """``path`` when its folder exists (checked before the run, not after it), else ValueError naming ``option``."""
    if path is not None:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"{option} {path}: the folder {folder} does not exist")
    return path


def _cmd_sample(args) -> int:
    from .evaluate import pathwise_check, sample_errors
    from .integrate import sample
    from .targets import make_target

    if args.n < 2:
        raise ValueError(f"--n must be at least 2 (the error against q_delta needs two samples), got {args.n}")
    _output_path(args.save, "--save")
    _output_path(args.plot, "--plot")
    target = make_target(args.target, args.dim, args.target_seed)
    solver, grid = args.solver, args.grid
    if args.eps is not None:  # the plan sample(..., eps=) would measure, kept for the pathwise check
        from .integrate import plan_from_eps
        from .solvers import PlannedSolver, get_solver

        if not isinstance(get_solver(args.solver), PlannedSolver):
            raise ValueError(
                f"--eps plans the runs of solvers that choose their own grid (collocation); "
                f"{args.solver!r} takes --steps (or use `certsample certify --eps`)"
            )
        solver, grid, _ = plan_from_eps(
            target, args.solver, args.eps, T=args.T, delta=args.delta, seed=args.seed, pilot=min(args.n, 32)
        )
    result = sample(
        target,
        solver,
        n=args.n,
        n_steps=args.steps,
        T=args.T,
        delta=args.delta,
        grid=grid,
        backend=args.backend,
        seed=args.seed,
        progress=False if args.no_progress else "auto",
    )
    errors = sample_errors(target, result.samples, result.grid.delta, seed=args.seed)
    report = {
        "target": repr(target),
        "target_seed": args.target_seed,
        **result.summary(),
        "errors_vs_exact_q_delta": errors,
    }
    if not args.no_pathwise:
        report["pathwise_vs_exact_flow"] = pathwise_check(target, solver, result.grid, args.seed)
    if args.save:
        saved = args.save if args.save.endswith(".npy") else args.save + ".npy"  # np.save adds the suffix
        np.save(saved, result.samples)
        report["saved"] = saved
    if args.plot:
        from .plotting import plot_samples

        plot_samples(
            target,
            result.samples,
            result.grid.delta,
            args.plot,
            title=f"{result.solver}, {result.nfe} score evaluations",
        )
        report["plot"] = args.plot
    if args.json:
        print(_json(report))
        return 0
    print(f"target    {report['target']}")
    print(
        f"solver    {result.solver} on {result.backend}  (n={args.n}, steps={len(result.grid)}, "
        f"T={result.grid.T:g}, delta={result.grid.delta:g}, seed={args.seed})"
    )
    print(
        f"cost      NFE={result.nfe} score evaluations per sample, {result.rounds} sequential rounds, "
        f"{result.wall_time:.3f} s"
    )
    print("error vs the exact law q_delta (floor = same metric between two exact sample sets):")
    for key in sorted(k for k in errors if not k.endswith("_floor")):
        print(f"  {key:<20s} {errors[key]:.4g}   floor {errors[key + '_floor']:.4g}")
    path = report.get("pathwise_vs_exact_flow", {})
    if "pathwise_rms" in path:
        print(
            f"pathwise  RMS {path['pathwise_rms']:.3g}, max {path['pathwise_max']:.3g} against the exact flow "
            f"of {path['pathwise_particles']} exact q_T starts (reference accurate to "
            f"{path['pathwise_reference_accuracy']:.1g})"
        )
    elif path:
        print(f"pathwise  {path['pathwise']}")
    for key in ("saved", "plot"):
        if key in report:
            print(f"{key:<9s} {report[key]}")
    return 0


def _parse_assignments(items):
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"parameters are name=value pairs, got {item!r}")
        if name in values:
            raise ValueError(f"parameter {name!r} is given twice")
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(f"parameter {name!r} must be a number, got {value!r}") from None
        if name in ("N", "d"):
            if not values[name].is_integer():
                raise ValueError(f"parameter {name!r} must be an integer, got {value!r}")
            values[name] = int(values[name])
    return values


def _cmd_bounds(args) -> int:
    import proofs

    if args.theorem is None:
        width = max(len(name) for name in proofs.THEOREMS)
        for name, thm in sorted(proofs.THEOREMS.items()):
            print(
                f"{name:<{width}s}  {'proved' if thm.certified else 'placeholder':<11s}  {thm.metric}; "
                f"symbols: {' '.join(sorted(thm.symbols))}"
            )
            if not thm.certified:
                reason = thm.placeholder_reason or "the source hides these constants; no proof here"
                print(f"{'':<{width}s}  {'':<11s}  why a placeholder: {reason}")
        return 0
    thm = proofs.get(args.theorem)
    values = _parse_assignments(args.params)
    report = {
        "theorem": thm.name,
        "reference": thm.reference,
        "metric": thm.metric,
        "constants_proved": bool(thm.certified),
        "placeholder_reason": thm.placeholder_reason,
        "assumptions": list(thm.assumptions),
        "constants": {k: str(v) for k, v in thm.constants.items()},
        "parameters": values,
    }
    step_values = {k: v for k, v in values.items() if k != "N"}
    if "eps" in values:
        report["nfe_expr"] = str(thm.steps_expr)
        report["nfe_required"] = thm.step_count(**step_values)  # score evaluations, the theorems' N
        report["rounds"] = thm.rounds(**step_values)
    if "N" in values:
        report["error_expr"] = str(thm.error_expr)
        report["error_bound"] = thm.error_bound(**{k: v for k, v in values.items() if k != "eps"})
    if "nfe_required" not in report and "error_bound" not in report:
        raise ValueError(f"give eps=... (step count) or N=... (error bound); {thm.name} needs {sorted(thm.symbols)}")
    if args.json:
        print(_json(report))
        return 0
    print(f"{thm.name}: {thm.reference}")
    print(f"metric {thm.metric}; constants {'proved' if thm.certified else 'are placeholders (not proved)'}")
    if not thm.certified:
        print(f"  why: {thm.placeholder_reason or 'the source hides these constants; no proof here'}")
    for key in ("nfe_required", "rounds", "error_bound"):
        if key in report:
            print(f"  {key:<12s} {report[key]}")
    return 0


def _cmd_certify(args) -> int:
    from .targets import make_target
    from .verify import certify

    for option, seconds in (("--verify-seconds", args.verify_seconds), ("--plan-seconds", args.plan_seconds)):
        if not seconds >= 0:
            raise ValueError(f"{option} must be >= 0 (0: no budget), got {seconds}")
    _output_path(args.out, "--out")
    target = make_target(args.target, args.dim, args.target_seed)
    cert = certify(
        target,
        args.solver,
        args.eps,
        n=args.n,
        n_verify=args.n_verify,
        n_steps=args.n_steps,
        T=args.T,
        delta=args.delta,
        backend=args.backend,
        seed=args.seed,
        max_steps=args.max_steps,
        z=args.z,
        confidence=args.confidence,
        workers=args.workers,
        verify_seconds=args.verify_seconds if args.verify_seconds > 0 else None,
        plan_seconds=args.plan_seconds if args.plan_seconds > 0 else None,
        log=not args.no_progress,
        progress=False if args.no_progress else "auto",
    )
    if args.out:
        cert.save(args.out)
    print(cert.to_json() if args.json else cert)
    if args.out and not args.json:
        print(f"certificate written to {args.out}")
    return 0 if cert.verdict != "FAIL" else 1


def _cmd_reproduce(args) -> int:
    import dataclasses

    from .reproduce import STUDIES, reproduce

    if args.theorem is None:
        for name in sorted(STUDIES):
            print(name)
        return 0
    _output_path(args.png, "--png")
    result = reproduce(args.theorem, quick=args.quick, backend=args.backend, seed=args.seed)
    print(_json(dataclasses.asdict(result)) if args.json else result.report())
    if args.png:
        result.plot(args.png)
        if not args.json:
            print(f"plot written to {args.png}")
    return 0


def _json(report) -> str:
    """Standard JSON of a report (non-finite numbers as ``null``: :func:`~certsample.verify.certificate.json_safe`)."""
    from .verify.certificate import json_safe

    return json.dumps(json_safe(report), indent=2, allow_nan=False)


def _cmd_solvers(args) -> int:
    from .solvers import ALIASES, SOLVERS

    for name, cls in sorted(SOLVERS.items()):
        aliases = ", ".join(a for a, n in ALIASES.items() if n == name)
        doc = (cls.__doc__ or "").strip().splitlines()[0].replace("``", "")
        print(f"{name:<22s} {doc}" + (f"  [aliases: {aliases}]" if aliases else ""))
    return 0


def _cmd_targets(args) -> int:
    from .targets import TARGETS, make_target

    for name in sorted(TARGETS):
        print(f"{name:<10s} {make_target(name)!r}")
    return 0


SHOW_DEFAULTS = argparse.ArgumentDefaultsHelpFormatter  # every option's default in its help


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certsample",
        description="Diffusion samplers whose accuracy is "
        "certified: sample, bounds, certify, reproduce, solvers, targets.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "sample", formatter_class=SHOW_DEFAULTS, help="run a sampler on a built-in target and measure its error"
    )
    _add_run_options(p)
    p.add_argument(
        "--eps",
        type=float,
        default=None,
        help="collocation only: windows, degree and sweeps measured for this RMS pathwise accuracy",
    )
    p.add_argument(
        "--no-pathwise",
        action="store_true",
        help="skip the pathwise error against the exact flow (ODE solvers; 32 particles)",
    )
    p.add_argument("--save", default=None, help="write the samples to this .npy file")
    p.add_argument("--plot", default=None, help="write a PNG of samples vs the exact density (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.set_defaults(func=_cmd_sample)
    p = sub.add_parser(
        "bounds",
        formatter_class=SHOW_DEFAULTS,
        help="step counts and error bounds of a theorem (no argument: list theorems)",
        description="Example: certsample bounds gupta_cai_chen L=2 d=1000 eps=0.01",
    )
    p.add_argument("theorem", nargs="?", default=None, help="theorem name (list: certsample bounds)")
    p.add_argument("params", nargs="*", help="name=value pairs; eps=... for step counts, N=... for the error bound")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_bounds)
    p = sub.add_parser(
        "certify",
        formatter_class=SHOW_DEFAULTS,
        help="run, prove (ODE solvers) or test the accuracy against eps, and check the theorem's bound",
    )
    p.add_argument("--target", default="gaussian", help="built-in target (list: certsample targets)")
    p.add_argument("--dim", type=int, default=None, help="ambient dimension (target default if omitted)")
    p.add_argument("--solver", default="exponential-ode", help="solver name (list: certsample solvers)")
    p.add_argument(
        "--eps",
        type=float,
        default=0.2,
        help="requested accuracy (> 0): pathwise RMS for ODE solvers, else the theorem's metric",
    )
    p.add_argument("--n", type=int, default=2000, help="particles in the run")
    p.add_argument(
        "--n-verify",
        type=int,
        default=None,
        help="ODE solvers: particles whose error is proved (default: all up to 10000 particles, else 32)",
    )
    p.add_argument("--n-steps", type=int, default=None, help="steps (default: from the theorem, or tuned)")
    p.add_argument("--z", type=float, default=3.0, help="statistical refutations at alpha = Phi(-z)")
    p.add_argument("--confidence", type=float, default=0.95, help="level of the population statements")
    p.add_argument("--workers", type=int, default=2, help="processes computing enclosures")
    p.add_argument(
        "--verify-seconds",
        type=float,
        default=120.0,
        help="time budget of the enclosures; fewer particles are checked past it (0: no budget)",
    )
    p.add_argument(
        "--plan-seconds",
        type=float,
        default=60.0,
        help="time budget of the search for a proved plan; the steps are chosen otherwise past it (0: no budget)",
    )
    p.add_argument("--T", type=float, default=None, help="horizon (default: chosen from eps)")
    p.add_argument("--delta", type=float, default=1e-2, help="early-stopping time > 0")
    p.add_argument("--backend", default="cpu", choices=["numpy", "cpu", "cuda"], help="where the solver runs")
    p.add_argument("--seed", type=int, default=0, help="Philox seed: same seed, same samples")
    _add_target_seed(p)
    p.add_argument("--max-steps", type=int, default=200_000, help="refuse runs needing more steps")
    p.add_argument("--out", default=None, help="write the certificate (JSON) here")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_certify)
    p = sub.add_parser(
        "reproduce",
        formatter_class=SHOW_DEFAULTS,
        help="measure a theorem's predicted exponents (with a 95%% interval) and the smallest "
        "covering constant (no argument: list studies)",
    )
    p.add_argument("theorem", nargs="?", default=None, help="theorem with a study (list: certsample reproduce)")
    p.add_argument("--quick", action="store_true", help="fewer points (seconds instead of a minute)")
    p.add_argument("--png", default=None, help="write a log-log plot of measured vs theory here")
    p.add_argument("--backend", default="cpu", choices=["numpy", "cpu", "cuda"], help="where the solvers run")
    p.add_argument("--seed", type=int, default=0, help="Philox seed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_reproduce)
    sub.add_parser("solvers", help="list solvers").set_defaults(func=_cmd_solvers)
    sub.add_parser("targets", help="list built-in targets").set_defaults(func=_cmd_targets)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as a command line tool prints them: the message, not the library's source line."""
    print(f"certsample: warning: {message}", file=sys.stderr if file is None else file)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except (ValueError, FloatingPointError) as err:
        print(f"certsample: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. an output file that cannot be written
        print(f"certsample: error: {err}", file=sys.stderr)
        return 2
    except MemoryError as err:  # an allocation the run's own estimate did not cover (e.g. a target of huge --dim)
        print(f"certsample: error: out of memory ({err}); use a smaller --dim or --n", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `certsample ... | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
