"""The benchmark scripts run at their smallest settings (their figures live in docs/performance.md; these check
that the scripts still run and that what they compare agrees, never their times)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import one_cpu

ROOT = Path(__file__).resolve().parents[1]


def _script(name, *args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _load_benchmark(name):
    """A benchmark script imported as a module (its directory on the path while it loads, for its own imports)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_numpy_peers_run_every_solver_and_agree_with_certsample(tmp_path):
    out = tmp_path / "rows.json"
    args = ["--quick", "--repeats", "1", "--targets", "ring", "--contenders", "certsample-numpy", "numpy"]
    proc = _script("peers.py", *args, "--json", str(out))
    assert "failed" not in proc.stdout, proc.stdout
    rows = {(r["solver"], r["contender"]): r for r in json.loads(out.read_text())["rows"]}
    solvers = ("exponential-ode", "euler-maruyama", "randomized-midpoint", "collocation")
    assert set(rows) == {(s, c) for s in solvers for c in ("certsample-numpy", "numpy")}
    for solver in ("exponential-ode", "randomized-midpoint", "collocation"):  # same arithmetic: near rounding
        assert float(rows[solver, "numpy"]["agreement"]) < 1e-10
    # the peer draws its own noise: the agreement is a z-score of the two sample means
    assert rows["euler-maruyama", "numpy"]["agreement"].startswith("z ")


def test_backends_script_times_its_solvers_on_numpy_and_cpu():
    proc = _script("backends.py", "--n", "200", "--steps", "5", "--repeats", "1")
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith(("euler-maruyama", "exponential-"))]
    assert len(rows) == 3 and all(len(row) == 5 and all(float(v) >= 0 for v in row[1:]) for row in rows)


def test_enclosures_script_agrees_with_the_arb_path():
    args = ["--targets", "ring", "--n", "4", "--arb", "1", "--tols", "1e-6", "--arb-seconds", "120"]
    row = _script("enclosures.py", *args).stdout.strip().splitlines()[-1].split()
    assert row[0] == "ring" and row[-1] == "yes"  # both balls of the particle enclosed twice intersect


def test_enclosures_script_runs_the_float64_path_on_cuda_under_the_simulator():
    # one particle over a short stretch: the simulator runs each CUDA thread in Python
    args = ["--backend", "cuda", "--targets", "ring", "--n", "1", "--arb", "1", "--tols", "1e-6", "--T", "1"]
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "enclosures.py"), *args, "--delta", "0.95", "--arb-seconds", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=(lambda: os.sched_setaffinity(0, {one_cpu()})) if hasattr(os, "sched_setaffinity") else None,
    )
    assert proc.returncode == 0, proc.stderr
    assert "float64 path on cuda, wall seconds" in proc.stdout
    row = proc.stdout.strip().splitlines()[-1].split()
    assert row[0] == "ring" and float(row[3]) > 0 and row[-1] == "yes"  # the GPU kernel's ball meets Arb's


def test_enclosures_script_refuses_segments_off_one_core_and_cuda_without_a_gpu():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}

    def run(*args):
        return subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "enclosures.py"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    proc = run("--backend", "cpu-parallel", "--segments", "10", "1")
    assert proc.returncode == 2 and "takes --backend cpu only" in proc.stderr, proc.stderr
    proc = run("--backend", "cuda", "--targets", "ring", "--n", "1", "--arb", "0", "--T", "1", "--delta", "0.95")
    if proc.returncode == 0:  # a machine with a GPU: it ran
        assert proc.stdout.strip().splitlines()[-1].split()[0] == "ring"
    else:
        assert proc.returncode == 2 and "no CUDA GPU here" in proc.stderr, proc.stderr


def test_enclosures_script_times_the_stretches_of_a_path_per_order():
    args = ["--targets", "ring", "--segments", "10", "1", "0.01", "--orders", "0", "8", "--n", "2", "--tols", "1e-6"]
    lines = _script("enclosures.py", *args, "--repeat", "1").stdout.splitlines()
    head = next(line for line in lines if line.startswith("| segment"))
    assert "(default)" in head and "| order 8 |" in head
    rows = [line for line in lines if line.startswith(("| 10 to 1 ", "| 1 to 0.01 "))]
    assert len(rows) == 2
    for row in rows:
        cells = row.strip().strip("|").split("|")[1:]
        assert len(cells) == 2
        for cell in cells:
            ms, steps = map(float, cell.split("/"))
            assert ms > 0 and steps >= 1


def test_enclosures_script_refuses_segments_that_do_not_decrease_or_reach_zero():
    for times, message in ((["1", "3"], "two or more decreasing times"), (["1", "0"], "end at a time > 0")):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "enclosures.py"), "--segments", *times],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_worst_case_plan_script_meets_eps_over_its_start_grid():
    proc = _script("worst_case_plan.py", "--radii", "2", "--angles", "6", "--eps", "1e-4", "--hard", "--windows")
    lines = proc.stdout.strip().splitlines()
    row = [cell.strip() for cell in next(line for line in lines if line.startswith("| 0.0001")).strip("|").split("|")]
    assert len(row) == 10
    assert int(row[1].split()[0]) > 0 and float(row[2]) > 0  # the measured plan and its largest error / eps
    # --hard: constructed starts whose references agree, on which the measured plan misses eps (the paths its pilot
    # cannot see), and which the worst-case plans below must meet too
    count = next(line for line in lines if "constructed starts (hard_starts)" in line)
    assert int(count.split()[0]) > 100
    assert float(row[4]) > 1
    for cell in row[5:7]:  # the worst-case plans, grown until every start (grid and constructed) is within eps
        assert "still" not in cell and int(cell.split()[0]) > int(row[1].split()[0]), cell
    # --windows: the theorem's bound on the worst-case plan's own windows, one table row per window
    windows = int(row[6].split("(")[1].split(",")[0])
    assert "the theorem's bound on these windows" in proc.stdout
    assert 1 <= sum(line.startswith("  | ") and "---" not in line for line in lines) - 1 <= windows


def test_noise_drawing_peers_are_checked_by_their_variances_too():
    """On a symmetric target the means of a run without noise agree with the reference's; the variances do not."""
    import numpy as np

    peers = _load_benchmark("peers")
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((20_000, 2))
    assert peers.agreement("euler-maruyama", "numpy", rng.standard_normal((20_000, 2)), reference).endswith("ok")
    assert peers.agreement("euler-maruyama", "numpy", 0.5 * rng.standard_normal((20_000, 2)), reference).endswith(
        "FAIL"
    )


def test_remainder_sources_script_bounds_the_proved_step_by_the_point_coefficient():
    args = ["--target", "ring", "--times", "1", "0.3", "--n", "2", "--tol", "1e-6"]
    lines = _script("remainder_sources.py", *args).stdout.splitlines()
    rows = [line.strip().strip("|").split("|") for line in lines if line.startswith(("| 1 |", "| 0.3 |"))]
    assert len(rows) == 4
    for row in rows:
        h_proved, h_point, ratio, sampled, in_time, box, both = map(float, row[3:])
        # every proved remainder contains the coefficient at the start point and time: never a longer step than it
        assert 0 < h_proved <= h_point * (1 + 1e-6)
        # each enclosure contains the start point's coefficient, and the samples include the start time
        assert sampled >= 1 and min(in_time, box, both) >= 1 - 1e-9


def test_remainder_sources_script_refuses_times_outside_the_run():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "remainder_sources.py"), "--times", "12"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--times must lie in (0, T" in proc.stderr, proc.stderr


def test_enclosure_check_finds_every_ball_holding_the_reference_and_flags_one_that_does_not(monkeypatch, capsys):
    """The randomized check passes on the enclosures as they are, and fails (status 1, the Arb path called to tell a
    wrong ball from a wrong reference) when every center is moved by three radii."""
    proc = _script("enclosure_check.py", "--cases", "3", "--n", "2", "--seed", "2")
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("3 cases, 6 starts") and summary.endswith("0 balls that miss Arb's"), summary
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import enclosure_check

        import certsample.verify.flows as flows

        enclose = flows.enclose_flows

        def moved(*args, **kwargs):
            found = enclose(*args, **kwargs)
            found.centers[:, 0] += 3 * found.radii
            return found

        monkeypatch.setattr(flows, "enclose_flows", moved)
        assert enclosure_check.main(["--cases", "1", "--n", "2", "--seed", "2", "--tols", "1e-6"]) == 1
        out = capsys.readouterr().out
        assert "VIOLATION" in out and "WRONG" in out and "2 balls that miss Arb's" in out
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_kernel_profile_names_numba_functions_and_sums_their_specialisations(tmp_path):
    """The profile's pieces that need no perf: symbol names, the perf map of a compiled function, the shares."""
    from certsample.kernels.jit import compile_for, device_function

    profile = _load_benchmark("kernel_profile")
    symbol = "_ZN10certsample6verify14fast_enclosure23_drift_f66f1ad9d4ea_cpuB4v843B46c8tJTIeFIjx"
    assert profile.function_name(symbol) == "_drift"
    assert profile.function_name("_PyEval_EvalFrameDefault") == "_PyEval_EvalFrameDefault"

    @device_function
    def twice_plus_one(x):
        return 2.0 * x + 1.0

    compiled = compile_for(twice_plus_one, "cpu")  # a user's function: compiled here, never loaded from a cache
    assert compiled(1.5) == 4.0
    entries = profile.perf_map_entries(compiled)
    assert any("twice_plus_one" in name for _, name in entries)
    path = tmp_path / "perf.map"
    profile.write_perf_map(entries, str(path))
    lines = path.read_text().splitlines()
    assert len(lines) == len(entries)
    starts = [int(line.split()[0], 16) for line in lines]
    sizes = [int(line.split()[1], 16) for line in lines]
    assert starts == sorted(starts) and all(s > 0 for s in sizes)
    assert all(a + s <= b for a, s, b in zip(starts, sizes, starts[1:]))

    report = "\n".join(
        [
            "     3.00%  [.] _lanes_conv_scalar",  # two specialisations of one function, named by the map
            "     1.00%  [.] _lanes_conv_scalar",
            "     4.00%  [.] _ZN10certsample6verify14fast_enclosure28_lanes_conv_993f4dcf97bf_cpuB4v354",
            "# a comment",
        ]
    )
    names = dict(profile.shares(report))
    assert names == {"_lanes_conv": 50.0, "_lanes_conv_scalar": 50.0}
    assert abs(sum(names.values()) - 100.0) < 1e-9
