"""certsample reproduce: exponent fits, the studies' measured scalings, the CLI and the plot."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from certsample.reproduce import fit_power, reproduce


def test_fit_power_recovers_an_exact_power_and_widens_with_noise():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    slope, half = fit_power(x, 3.0 * x**0.75)
    assert slope == pytest.approx(0.75) and half < 1e-9
    noisy = 3.0 * x**0.75 * np.exp(np.array([0.1, -0.1, 0.05, -0.05, 0.1]))
    slope, half = fit_power(x, noisy)
    assert abs(slope - 0.75) < half and half > 0.01
    with pytest.raises(ValueError, match="3 points"):
        fit_power([1, 2], [1, 2])


def test_sequential_study_measures_a_sublinear_power_of_d():
    result = reproduce("gupta_cai_chen", quick=True)
    # measured 0.29 +- 0.16 on d = 4, 16, 64 (randomized midpoint's d^(1/3) pathwise scaling)
    assert 0.1 < result.exponent < 0.5
    assert all(m <= result.constant * t * (1 + 1e-12) for m, t in zip(result.measured, result.theory))
    assert any(m == pytest.approx(result.constant * t) for m, t in zip(result.measured, result.theory))


def test_collocation_study_is_polylog_in_eps_and_flat_in_d():
    result = reproduce("collocation", quick=True)
    proof = result.proof  # the same solver on proved plans: every run within its bound, each bound within eps
    assert proof.proved and all(m <= b for m, b in zip(proof.measured, proof.theory))
    assert proof.theory[0] <= 1e-2 and proof.theory[-1] <= 1e-4 and "proved plans" in result.report()
    # measured power of log(e + 1/eps): 1.37 +- 0.65 (theory 2); evaluations 1043 (d=2) vs 962 (d=8)
    assert 0.5 < result.exponent < 2.5
    assert result.measured[0] < result.measured[-1]
    assert abs(result.extra["slope_in_log_d"]) < 0.2


def test_cli_json_and_png(tmp_path):
    png = tmp_path / "seq.png"
    proc = subprocess.run(
        [sys.executable, "-m", "certsample", "reproduce", "gupta_cai_chen", "--quick", "--json", "--png", str(png)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["theorem"] == "gupta_cai_chen" and len(data["measured"]) == 3
    assert png.stat().st_size > 5000
    bad = subprocess.run(
        [sys.executable, "-m", "certsample", "reproduce", "nope"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "no reproduction study" in bad.stderr


def test_randomized_midpoint_against_its_proved_bound(tmp_path):
    from certsample.reproduce import _randomized_midpoint_proved

    result = _randomized_midpoint_proved(True, "cpu", 0, n=4, steps=(8, 32, 128))
    assert result.proved and result.x == [16, 64, 256]
    assert all(m <= b for m, b in zip(result.measured, result.theory))  # every run within its proved bound
    assert result.measured[-1] < result.measured[0] / 20 and result.theory[-1] < result.theory[0] / 20
    assert "bound/measured" in result.report()
    result.plot(tmp_path / "rm.png")
    assert (tmp_path / "rm.png").stat().st_size > 1000


def test_fit_power_is_scipys_least_squares_without_scipy():
    """The fit needs no SciPy (not a dependency of the package): slope and Student-t half-width as linregress's."""
    from scipy import stats

    from certsample.reproduce import fit_power

    x, y = [1, 2, 4, 8, 16], [1.0, 2.1, 3.9, 8.5, 15.0]
    fit = stats.linregress(np.log(x), np.log(y))
    slope, half = fit_power(x, y)
    assert slope == pytest.approx(fit.slope, rel=1e-12)
    assert half == pytest.approx(stats.t.ppf(0.975, 3) * fit.stderr, rel=1e-10)


def test_a_proved_report_counts_the_runs_above_their_bound_and_json_has_no_nan(capsys):
    from certsample.reproduce import Reproduction
    from certsample.verify.certificate import json_safe

    study = Reproduction("t", "error", "NFE", [1, 2], [0.5, 3.0], [1.0, 2.0], 1.0, 0.1, 1.0, 1.5, proved=True)
    assert "1 of 2 runs above it" in study.report()
    assert json.loads(json.dumps(json_safe({"a": [float("nan"), 1.0], "b": np.float32("inf")}))) == {
        "a": [None, 1.0],
        "b": None,
    }
