"""``benchmarks/peers.py`` runs every solver's peer step and the peers agree with certsample-numpy."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_numpy_peers_run_every_solver_and_agree_with_certsample(tmp_path):
    out = tmp_path / "rows.json"
    args = ["--quick", "--repeats", "1", "--targets", "ring", "--contenders", "certsample-numpy", "numpy"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), *args, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "failed" not in proc.stdout, proc.stdout
    rows = {(r["solver"], r["contender"]): r for r in json.loads(out.read_text())["rows"]}
    solvers = ("exponential-ode", "euler-maruyama", "randomized-midpoint", "collocation")
    assert set(rows) == {(s, c) for s in solvers for c in ("certsample-numpy", "numpy")}
    for solver in ("exponential-ode", "randomized-midpoint", "collocation"):  # same arithmetic: near rounding
        assert float(rows[solver, "numpy"]["agreement"]) < 1e-10
    # the peer draws its own noise: the agreement is a z-score of the two sample means
    assert rows["euler-maruyama", "numpy"]["agreement"].startswith("z ")
