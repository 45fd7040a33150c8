"""Certified runs: the bound comes from the theorem, the error from an exact reference, the verdict is honest."""

import json

import numpy as np
import pytest

import certsample as cs
from certsample.certify import SOLVER_THEOREMS, certify, theorem_parameters
from certsample.cli import main
from certsample.oracle import PerturbedOracle, ScoreOracle

GAUSS = cs.gaussian([0.5, -1.0], [0.3, 2.0])


@pytest.mark.parametrize("solver", ["exponential-ode", "exponential-sde", "euler-maruyama"])
def test_baselines_pass_their_proved_bounds_on_exact_laws(solver):
    cert = certify(GAUSS, solver, eps=0.3, n=200, backend="cpu")
    assert cert.verdict == "PASS"
    assert cert.certified_constants and cert.measurement_kind == "exact"
    assert 0 < cert.measured <= cert.bound <= 0.3
    # the step count is the theorem's, and the run used exactly that many score evaluations
    assert cert.inputs["n_steps"] == cert.steps_required == cert.nfe
    json.loads(cert.to_json())


def test_rotated_gaussian_is_measured_exactly_through_its_eigenbasis():
    target = cs.gaussian([0.5, -1.0, 0.2], [[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 2.0]])
    cert = certify(target, "euler-maruyama", eps=0.3, n=200, backend="cpu")
    assert cert.verdict == "PASS" and cert.measurement_kind == "exact"


def test_wrong_score_declared_exact_fails():
    """A score off by a constant 0.7, declared exact: the measured error refutes the bound."""
    def wrong(x, t):
        return GAUSS.score(x, t) + 0.7

    cert = certify(GAUSS, "euler-maruyama", eps=0.3, score=wrong, score_error=0.0, n=3000)
    assert cert.verdict == "FAIL"
    assert cert.measured - 3 * cert.uncertainty - cert.floor > cert.bound


def test_known_score_error_enters_the_bound():
    oracle = PerturbedOracle(ScoreOracle.from_target(GAUSS), bias=0.005)
    cert = certify(GAUSS, "euler-maruyama", eps=0.3, score=oracle, n=3000)
    assert cert.inputs["score_error"] == pytest.approx(0.005)
    assert cert.verdict != "FAIL"
    # a moment-matched (Gelbrich) measurement can refute but never confirm a W2 bound
    assert cert.measurement_kind == "lower" and cert.verdict == "INCONCLUSIVE"


def test_user_score_needs_a_declared_error():
    with pytest.raises(ValueError, match="score_error"):
        certify(GAUSS, "euler-maruyama", eps=0.3, score=lambda x, t: GAUSS.score(x, t))


@pytest.mark.parametrize("eps", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        certify(GAUSS, "euler-maruyama", eps=eps)


def test_unknown_solver_and_unmet_assumptions_are_named():
    with pytest.raises(ValueError, match="unknown solver"):
        certify(GAUSS, "leapfrog", eps=0.1)
    with pytest.raises(ValueError, match="strongly log-concave"):
        certify(cs.ring_mixture(), "euler-maruyama", eps=0.1)
    with pytest.raises(ValueError, match="max_steps"):
        certify(GAUSS, "exponential-sde", eps=0.3, max_steps=10)


def test_theorem_parameters_from_the_target():
    import proofs

    params, _ = theorem_parameters(proofs.get("sde_em_w2"), GAUSS, T=4.0, delta=0.01, score_error=0.0)
    assert params["d"] == 2 and params["alpha"] == pytest.approx(1 / 2.0)
    # L = max over [delta, T] of 1/(a^2 lam + sigma^2): attained at delta for lam = 0.3
    a2, s2 = np.exp(-0.02), -np.expm1(-0.02)
    assert params["L"] == pytest.approx(1 / (a2 * 0.3 + s2))
    assert params["W0"] == pytest.approx(cs.metrics.gaussian_w2([0.5, -1.0], [0.3, 2.0], [0, 0], [1, 1]))
    cloud = cs.point_cloud([[3.0, 4.0], [0.0, 1.0]])
    params, _ = theorem_parameters(proofs.get("collocation"), cloud, T=4.0, delta=0.01, score_error=0.0)
    assert params["R"] == pytest.approx(5 * np.exp(-0.01))
    assert params["sigma"] == pytest.approx(np.sqrt(-np.expm1(-0.02)))
    assert set(SOLVER_THEOREMS.values()) <= set(proofs.THEOREMS)


def test_cli_certify_writes_a_certificate(tmp_path, capsys):
    out = tmp_path / "cert.json"
    code = main(["certify", "--solver", "euler-maruyama", "--eps", "0.3", "--n", "200", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    cert = json.loads(out.read_text())
    assert cert["verdict"] == "PASS" and cert["theorem"] == "sde_em_w2"
    assert "verdict   PASS" in capsys.readouterr().out


def test_cli_bounds(capsys):
    assert main(["bounds", "gupta_cai_chen", "L=2", "d=1000", "eps=0.01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] >= 1 and report["constants_proved"] is False
    assert main(["bounds", "gupta_cai_chen", "L=2", "d=1000", "eps=-1"]) == 2
    assert "'eps' must be > 0" in capsys.readouterr().err
    assert main(["bounds"]) == 0
    assert "pf_ode_ei_w2" in capsys.readouterr().out


def test_collocation_certificate_on_a_point_cloud():
    cloud = cs.point_cloud([[1.0, 0.5], [-1.0, 0.2], [0.3, -1.2]])
    cert = certify(cloud, "collocation", eps=1e-6, n=100, backend="cpu", T=5.0, delta=0.05)
    assert cert.measurement_kind == "upper" and cert.verdict == "PASS"
    assert cert.measured < 1e-6  # the plan meets the asked pathwise accuracy too
    assert not cert.certified_constants
    assert cert.parameters["R"] == pytest.approx(np.exp(-0.05) * np.hypot(0.3, 1.2), rel=1e-9)


def test_tv_theorem_with_sample_measurement_never_claims_a_pass():
    cert = certify(GAUSS, "randomized-midpoint", eps=0.5, n=2000, backend="cpu")
    assert cert.metric == "TV" and cert.measurement_kind == "lower"
    assert cert.verdict == "INCONCLUSIVE"
