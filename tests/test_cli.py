import json

import pytest

from certsample.cli import main


def test_sample_command_reports_cost_and_error(capsys, tmp_path):
    out_file = tmp_path / "x.npy"
    code = main(
        [
            "sample",
            "--n",
            "400",
            "--steps",
            "30",
            "--backend",
            "numpy",
            "--json",
            "--no-progress",
            "--save",
            str(out_file),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nfe"] == 30 and report["rounds"] == 30 and report["n"] == 400
    errors = report["errors_vs_exact_q_delta"]
    assert {"sliced_w2", "sliced_w2_floor", "tv_hist", "mmd2"} <= set(errors)
    assert out_file.exists()


def test_human_readable_output(capsys):
    assert (
        main(
            [
                "sample",
                "--n",
                "300",
                "--steps",
                "20",
                "--target",
                "gaussian",
                "--dim",
                "3",
                "--backend",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "NFE=20" in text and "gaussian_w2_moments" in text


def test_plot_is_written(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "s.png"
    assert (
        main(["sample", "--n", "300", "--steps", "10", "--backend", "numpy", "--no-progress", "--plot", str(png)]) == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_solver_is_a_clean_error(capsys):
    assert main(["sample", "--solver", "nope", "--no-progress"]) == 2
    assert "unknown solver 'nope'" in capsys.readouterr().err


def test_an_allocation_that_fails_is_a_clean_error(capsys, monkeypatch):
    import certsample.targets

    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 47.7 GiB")

    monkeypatch.setattr(certsample.targets, "make_target", too_big)
    assert main(["sample", "--dim", "100000000", "--n", "5", "--no-progress"]) == 2
    assert "out of memory" in capsys.readouterr().err


def test_listing_commands(capsys):
    assert main(["solvers"]) == 0
    assert "euler-maruyama" in capsys.readouterr().out
    assert main(["targets"]) == 0
    assert "ring" in capsys.readouterr().out


def test_collocation_plan_from_eps(capsys):
    assert (
        main(
            [
                "sample",
                "--solver",
                "collocation",
                "--eps",
                "1e-6",
                "--target",
                "cloud",
                "--n",
                "200",
                "--T",
                "4",
                "--delta",
                "0.05",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["solver"] == "collocation" and report["rounds"] < report["nfe"]
    assert report["pathwise_vs_exact_flow"]["pathwise_rms"] <= 1e-6
    assert main(["sample", "--solver", "em", "--eps", "1e-6", "--no-progress"]) == 2
    assert "--eps plans the runs of solvers that choose their own grid" in capsys.readouterr().err


def test_cli_help_shows_defaults_without_markup_and_survives_a_closed_pipe():
    import subprocess
    import sys

    from tests.conftest import ROOT

    text = subprocess.run(
        [sys.executable, "-m", "certsample", "certify", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "(default: 0.2)" in text and "``" not in text and "`" not in text
    proc = subprocess.run(
        f"{sys.executable} -m certsample solvers | head -1", shell=True, cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "BrokenPipeError" not in proc.stderr


def test_cuda_backend_without_a_gpu_is_one_line():
    import os
    import subprocess
    import sys

    from numba import cuda

    from tests.conftest import ROOT

    if cuda.is_available():
        pytest.skip("this machine has a GPU: backend='cuda' runs for real")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "certsample",
            "sample",
            "--backend",
            "cuda",
            "--n",
            "10",
            "--steps",
            "50",
            "--no-progress",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line, no traceback
    assert proc.stderr.startswith("certsample: error: backend 'cuda' needs an NVIDIA GPU")


def test_pathwise_error_tells_solvers_apart(capsys):
    """Sample statistics sit at their floor for both; the pathwise error differs by orders of magnitude."""
    rms = {}
    for argv in (["--solver", "ddim", "--steps", "40"], ["--solver", "collocation", "--eps", "1e-8"]):
        assert main(["sample", "--n", "500", "--backend", "numpy", "--json", "--no-progress", *argv]) == 0
        path = json.loads(capsys.readouterr().out)["pathwise_vs_exact_flow"]
        rms[argv[1]] = path["pathwise_rms"]
    assert rms["ddim"] > 1e-3 and rms["collocation"] < 1e-8
    # the reference resolves the accurate run's error: it is not the reference's own error being shown (the
    # reported RMS is right to within the reference's largest error, by the triangle inequality: here within a
    # quarter)
    assert path["pathwise_reference_accuracy"] < 0.25 * rms["collocation"]
    assert main(["sample", "--n", "300", "--steps", "40", "--no-progress"]) == 0
    assert "not defined for exponential-sde" in capsys.readouterr().out


def test_output_paths_and_sizes_are_checked_before_the_run(capsys, tmp_path):
    missing = str(tmp_path / "nodir" / "x.npy")
    run = ["sample", "--n", "50", "--steps", "5", "--backend", "numpy", "--no-progress", "--no-pathwise"]
    for option in ("--save", "--plot"):
        assert main(run + [option, missing]) == 2
        assert f"{option} {missing}: the folder" in capsys.readouterr().err
    assert main(["certify", "--n", "4", "--n-steps", "5", "--out", missing, "--no-progress"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(run[:2] + ["1"] + run[3:]) == 2 and "--n must be at least 2" in capsys.readouterr().err
    assert main(["certify", "--verify-seconds", "-5", "--no-progress"]) == 2
    assert "--verify-seconds must be >= 0" in capsys.readouterr().err
    bare = tmp_path / "samples"
    assert main(run + ["--save", str(bare), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["saved"] == str(bare) + ".npy" and (tmp_path / "samples.npy").exists()


def test_seed_changes_the_samples_not_the_target(capsys):
    run = ["sample", "--target", "cloud", "--n", "50", "--steps", "5", "--backend", "numpy", "--no-progress"]
    reports = []
    for extra in ([], ["--seed", "1"], ["--target-seed", "1"]):
        assert main(run + ["--no-pathwise", "--json", *extra]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["target_seed"] == reports[1]["target_seed"] == 0 and reports[2]["target_seed"] == 1
    assert reports[0]["errors_vs_exact_q_delta"] != reports[1]["errors_vs_exact_q_delta"]


def test_bounds_parameters_are_checked(capsys):
    assert main(["bounds", "gupta_cai_chen", "L=2", "d=1000.5", "eps=0.01"]) == 2
    assert "'d' must be an integer" in capsys.readouterr().err
    assert main(["bounds", "gupta_cai_chen", "L=2", "d=1000", "eps=0.1", "eps=0.2"]) == 2
    assert "given twice" in capsys.readouterr().err


def test_warnings_are_one_line_without_the_librarys_source(capsys):
    assert main(["sample", "--n", "10", "--steps", "5", "--solver", "exponential-sde", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "certsample: warning: exponential-sde: steps up to" in err
    assert "cli.py" not in err and "RuntimeWarning" not in err


def test_a_bad_seed_is_refused_before_the_step_size_warning(capsys):
    assert (
        main(["sample", "--n", "10", "--steps", "5", "--solver", "exponential-sde", "--seed", "-3", "--no-progress"])
        == 2
    )
    err = capsys.readouterr().err
    assert "seed must be an integer" in err and "warning" not in err
