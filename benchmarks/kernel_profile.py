"""Where the compiled enclosure kernels spend their time, per device function (Linux ``perf``).

    python benchmarks/kernel_profile.py [--target mixture64] [--tol 1e-10] [--n 60] [--seed 3] [--cpu 1] [--top 25]

Timing the kernels' pieces one by one from Python adds a call's overhead to each and cannot see inside the series;
a sampling profiler sees every compiled function, but Numba's machine code has no symbols for it. So this script
runs itself under ``perf record`` with a fresh Numba cache directory (the kernels then compile in that process),
writes after a warm-up a perf map (``/tmp/perf-PID.map``, the format ``perf report`` reads for code generated at
run time) of every function of the compiled ``enclose_slots`` and the libraries it links, encloses ``n`` exact
``q_T`` start points in one process pinned to one CPU, and prints each device function's share of the samples
taken in compiled code (the specialisations of one function summed; a function LLVM inlined counts in its caller).
The map reads two private attributes of Numba's code library (``_final_module``, ``_linking_libraries``); the
compilation takes a minute or two, and only the samples in compiled code count.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = "CERTSAMPLE_KERNEL_PROFILE_CHILD"


def function_name(symbol: str) -> str:
    """The certsample function a Numba symbol was compiled from: ``_ZN10certsample6verify14fast_enclosure23_drift_
    f66f1ad9d4ea_cpuB4v843...`` (length-prefixed names, then Numba's digest, target and ABI tags) gives
    ``_drift``; a name of another form comes back as it is."""
    parts, rest = [], symbol[3:] if symbol.startswith("_ZN") else ""
    while rest[:1].isdigit():
        digits = re.match(r"\d+", rest).group()
        size, rest = int(digits), rest[len(digits) :]
        parts.append(rest[:size])
        rest = rest[size:]
    if not parts:
        return symbol
    return re.sub(r"_[0-9a-f]{12}(_cpu\w*)?$", "", parts[-1])


def perf_map_entries(dispatcher) -> list:
    """``(address, symbol)`` of every function defined in the compiled libraries of ``dispatcher`` (all its
    signatures) and the libraries they link, sorted by address."""
    entries, seen = [], set()

    def walk(library):
        if id(library) in seen:
            return
        seen.add(id(library))
        for fn in library._final_module.functions:
            if not fn.is_declaration:
                address = library.get_pointer_to_function(fn.name)
                if address:
                    entries.append((address, fn.name))
        for linked in getattr(library, "_linking_libraries", ()):
            walk(linked)

    for result in dispatcher.overloads.values():
        walk(result.library)
    return sorted(set(entries))


def write_perf_map(entries, path: str) -> None:
    """A perf map: one ``START SIZE NAME`` line (hexadecimal) a function, each running to the next one's start."""
    with open(path, "w") as out:
        for (address, name), following in zip(entries, entries[1:] + [(entries[-1][0] + 4096, "")]):
            out.write(f"{address:x} {following[0] - address:x} {function_name(name)}\n")


def _child(args) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    from enclosures import build_target

    from certsample.kernels.jit import compile_for
    from certsample.verify.fast_enclosure import enclose_slots
    from certsample.verify.flows import enclose_flows

    target = build_target(args.target)
    T, delta = 10.0, 0.01
    x0 = target.law_at(T).sample(args.n, seed=args.seed)
    enclose_flows(target, x0[:1], T, delta, tol=args.tol, fallback="failed")  # compiles
    entries = perf_map_entries(compile_for(enclose_slots, "cpu", nrt=False))
    if not entries:
        sys.exit("no compiled functions found: was the kernel loaded from a cache?")
    write_perf_map(entries, f"/tmp/perf-{os.getpid()}.map")
    with open(os.path.join(os.environ[CHILD], "pid"), "w") as out:
        out.write(str(os.getpid()))
    start = time.process_time()
    enclose_flows(target, x0, T, delta, tol=args.tol, fallback="failed")
    seconds = time.process_time() - start
    rate = args.n / seconds
    print(f"{args.target} at tol {args.tol}: {args.n} starts in {seconds:.2f} s of CPU, {rate:.2f} per second")


def shares(report: str) -> list:
    """``(name, percent)`` per function from ``perf report --stdio`` lines ``  1.23%  [.] symbol``, the
    specialisations of one function summed, as shares of all the lines' samples, largest first."""
    totals = {}
    for line in report.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+\[\.\]\s+(\S+)", line)
        if match:
            name = function_name(match.group(2))
            totals[name] = totals.get(name, 0.0) + float(match.group(1))
    whole = sum(totals.values()) or 1.0
    return sorted(((name, 100.0 * value / whole) for name, value in totals.items()), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="mixture64", help="ring, cloud or mixture64")
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--n", type=int, default=60, help="start points enclosed while sampled")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the first allowed)")
    parser.add_argument("--top", type=int, default=25, help="functions printed")
    args = parser.parse_args()
    if args.cpu is None:
        args.cpu = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    if os.environ.get(CHILD):
        _child(args)
        return
    if shutil.which("perf") is None:
        sys.exit("this profile needs Linux perf on the PATH")
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "perf.data")
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(work, "numba"), **{CHILD: work})
        command = ["perf", "record", "-F", "999", "-o", data, "--", sys.executable, os.path.abspath(__file__)]
        command += [a for a in sys.argv[1:] if a != "--"] + ["--cpu", str(args.cpu)]
        subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
        with open(os.path.join(work, "pid")) as source:
            pid = source.read().strip()
        report = subprocess.run(
            ["perf", "report", "-i", data, "--no-children", "--sort", "sym", "--stdio", "--dsos", f"[JIT] tid {pid}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        os.remove(f"/tmp/perf-{pid}.map")
    print("share of the samples in compiled code, per function:")
    for name, percent in shares(report)[: args.top]:
        print(f"  {percent:6.1f}%  {name}")


if __name__ == "__main__":
    main()
