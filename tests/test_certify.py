"""Certificates: proved accuracy for ODE runs, exact laws for linear schemes, honest tests for samples."""

import dataclasses
import json
import math
from decimal import Decimal

import numpy as np
import pytest

import certsample as cs
from certsample.cli import main
from certsample.forward import uniform_grid
from certsample.oracle import PerturbedOracle, ScoreOracle
from certsample.solvers import SOLVERS, Collocation
from certsample.verify import HypothesisNotMet, SampleStatistics, certify, theorem_parameters
from certsample.verify.certificate import _fmt_range
from proofs.balls import bound_text

GAUSS = cs.gaussian([0.5, -1.0], [0.3, 2.0])
SMALL_RING = cs.ring_mixture(n_modes=4, radius=2.0, std=0.5)
QUIET = dict(log=False, workers=1)


@pytest.mark.parametrize("solver", ["exponential-sde", "euler-maruyama"])
def test_baselines_pass_on_exact_laws_with_bound_at_most_eps(solver):
    cert = certify(GAUSS, solver, eps=0.2, n=200, backend="cpu", **QUIET)
    assert cert.accuracy_verdict == "PASS" and cert.measurement_kind == "exact"
    assert cert.theorem_verdict == "PASS" and cert.certified_constants
    # step count and bound are inverses: the bound at the NFE used is at most eps
    assert cert.nfe == cert.nfe_required and cert.bound <= 0.2
    assert 0 < cert.measured <= cert.bound
    import proofs

    theorem = proofs.get(cert.theorem)
    params = {k: v for k, v in cert.parameters.items()}
    assert theorem.error_bound(N=cert.nfe - 1, **params) > 0.2  # and it is the smallest such count
    json.loads(cert.to_json())
    # standard JSON even where a bound is not finite (an unproved particle's upper error): null, never Infinity
    unproved = dataclasses.replace(cert, measured=math.inf, population={"upper": np.float64(math.nan)})
    data = json.loads(unproved.to_json(), parse_constant=_refuse_constant)
    assert data["measured"] is None and data["population"] == {"upper": None}


def _refuse_constant(name):
    raise AssertionError(f"{name} is not JSON")


def test_ode_run_on_a_gaussian_is_verified():
    cert = certify(GAUSS, "exponential-ode", eps=0.2, n=200, n_verify=16, backend="cpu", **QUIET)
    assert cert.measurement_kind == "verified" and cert.accuracy_verdict == "PASS"
    assert cert.measured <= 0.2 and cert.particles_checked == 16
    assert cert.theorem_verdict == "PASS" and cert.bound <= 0.2
    assert "Arb" in cert.reference


def test_biased_score_gets_a_proved_fail():
    oracle = PerturbedOracle(SMALL_RING, bias=0.5)
    cert = certify(
        SMALL_RING,
        "randomized-midpoint",
        eps=0.05,
        score=oracle,
        n=8,
        n_verify=4,
        n_steps=40,
        T=2.0,
        delta=0.1,
        **QUIET,
    )
    assert cert.accuracy_verdict == "FAIL" and cert.measurement_kind == "verified"
    assert cert.measured_lower > 0.05  # a proved lower bound of the run's error exceeds eps
    assert cert.theorem_verdict.startswith("NOT APPLICABLE")
    # the same run with the exact score is proved accurate
    exact = certify(SMALL_RING, "randomized-midpoint", eps=0.05, n=8, n_verify=4, n_steps=40, T=2.0, delta=0.1, **QUIET)
    assert exact.accuracy_verdict == "PASS" and exact.measured <= 0.05


class StartTimeCollocation(Collocation):
    """A wrong variant: every score of a window is evaluated at the window's start time."""

    def step(self, x, t, h, k, score, noise, state):
        class Frozen:
            def evaluate_many(self, xs, ts):
                return score.evaluate_many(xs, np.full_like(ts, t))

        return super().step(x, t, h, k, Frozen(), noise, state)


def test_collocation_is_judged_against_an_independent_reference():
    """The audit's self-referential PASS: a systematic solver error must be visible."""
    kwargs = dict(eps=1e-4, n=8, n_verify=4, T=2.0, delta=0.1, **QUIET)
    good = certify(SMALL_RING, "collocation", **kwargs)
    assert good.accuracy_verdict == "PASS" and good.measured <= 1e-4
    bad = certify(SMALL_RING, StartTimeCollocation(degree=6, sweeps=6), **kwargs)
    assert bad.accuracy_verdict == "FAIL" and bad.measured_lower > 1e-4


def test_a_plan_search_past_its_budget_falls_back_and_says_so():
    """A proved-plan search that cannot finish in time (e.g. a 64-d unequal-variance mixture) must not hang
    certify: the steps are chosen otherwise and the certificate notes why."""
    kwargs = dict(eps=1e-4, n=8, n_verify=4, T=2.0, delta=0.1, **QUIET)
    cert = certify(SMALL_RING, "collocation", plan_seconds=1e-9, **kwargs)
    assert any("ran past its budget of 1e-09 s" in note for note in cert.notes)
    assert cert.accuracy_verdict == "PASS" and cert.measured <= 1e-4
    with pytest.raises(ValueError, match="plan_seconds"):
        certify(SMALL_RING, "collocation", plan_seconds=0.0, **kwargs)


def test_accuracy_verdict_is_about_the_requested_eps():
    """A loose run can no longer PASS a tight eps because some theorem's bound is loose."""
    cert = certify(SMALL_RING, "exponential-ode", eps=1e-6, n=8, n_verify=4, n_steps=50, T=2.0, delta=0.1, **QUIET)
    assert cert.eps == 1e-6 and cert.measured_lower > 1e-6
    assert cert.accuracy_verdict == "FAIL"


def test_no_pass_without_proof_for_sample_statistics():
    cert = certify(
        SMALL_RING, "predictor-corrector", eps=0.5, n=2000, n_steps=20, backend="cpu", replicates=40, **QUIET
    )
    assert cert.measurement_kind == "lower" and cert.accuracy_verdict in ("INCONCLUSIVE", "FAIL")
    assert cert.accuracy_verdict != "PASS"


def test_false_fail_rate_of_the_statistical_refutation():
    """Exact samples judged against a tight threshold: refuted at about alpha, never 3 in 12.

    The old rule (statistic minus one noisy floor realisation above the bound) refuted essentially
    exact runs for some seeds; the test replaces the floor by the (1 - alpha) quantile of the
    statistic's null distribution.
    """
    target = cs.ring_mixture()
    grid = uniform_grid(10.0, 1e-2, 1)
    alpha = 0.5 * math.erfc(3 / math.sqrt(2))
    law = target.law_at(grid.delta)
    fails = {"W2": 0, "TV": 0}
    seeds = range(24)
    for seed in seeds:
        x = law.sample(1000, np.random.default_rng([seed, 12345]))
        for metric in fails:
            m = SampleStatistics(target, seed, metric, alpha, replicates=60).measure(
                cs.SampleResult(x, "exact", "numpy", 0, 0, 0.0, grid, seed)
            )
            fails[metric] += m.value > 0.02 + m.null_quantile
    assert fails == {"W2": 0, "TV": 0}


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(z=float("nan")),
        dict(z=-1.0),
        dict(z=0.0),
        dict(confidence=1.0),
        dict(confidence=float("nan")),
        dict(eps=0.0),
        dict(eps=float("inf")),
        dict(delta=-1.0),
        dict(delta=0.0),
        dict(T=0.001),
        dict(T=float("nan")),
        dict(max_steps=0),
        dict(max_steps="5"),
    ],
)
def test_verdict_parameters_are_validated(kwargs):
    args = dict(eps=0.2, **QUIET)
    args.update(kwargs)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        certify(GAUSS, "euler-maruyama", **args)


def test_every_built_in_target_is_accepted_or_refused_by_name():
    sub = cs.make_target("subspace", dim=8)
    cert = certify(sub, "exponential-ode", eps=0.5, n=4, n_verify=2, n_steps=30, T=2.0, delta=0.1, **QUIET)
    assert cert.measurement_kind == "verified" and np.isfinite(cert.measured)
    with pytest.raises(HypothesisNotMet, match="strongly log-concave"):
        certify(SMALL_RING, "euler-maruyama", eps=0.1, **QUIET)
    # a user score without a declared error: the accuracy is still proved, the theorem is not applied
    cert = certify(
        GAUSS, "exponential-ode", eps=0.3, score=lambda x, t: GAUSS.score(x, t), n=8, n_verify=4, n_steps=200, **QUIET
    )
    assert cert.accuracy_verdict == "PASS" and cert.theorem_verdict.startswith("NOT APPLICABLE")


def test_a_user_score_with_a_declared_error_is_judged_with_its_hypotheses_stated_as_unchecked():
    """The baselines' theorems ask the score used for the exact score's Jacobian bounds besides its L2 error: a
    user's score with a declared error gets the theorem with a note that those are taken as given; a
    PerturbedOracle of the target (bias and fresh noise: the exact score's Jacobian) does not need it."""
    user = certify(
        GAUSS,
        "exponential-ode",
        eps=0.3,
        score=lambda x, t: GAUSS.score(x, t),
        score_error=0.01,
        n=8,
        n_steps=200,
        **QUIET,
    )
    assert not user.theorem_verdict.startswith("NOT APPLICABLE")
    assert any("not checked, so a theorem FAIL may be the score's" in note for note in user.notes)
    oracle = certify(
        GAUSS, "exponential-ode", eps=0.3, score=PerturbedOracle(GAUSS, bias=0.01), n=8, n_steps=200, **QUIET
    )
    assert not oracle.theorem_verdict.startswith("NOT APPLICABLE")
    assert not any("not checked, so a theorem FAIL" in note for note in oracle.notes)


def test_certify_arguments_of_the_wrong_kind_are_named():
    from certsample.memory import InsufficientMemoryError

    with pytest.raises(TypeError, match="target must be a certsample target"):
        certify("ring", eps=0.1, **QUIET)
    with pytest.raises(TypeError, match="log must be"):
        certify(GAUSS, eps=0.1, log=5, workers=1)
    with pytest.raises(InsufficientMemoryError, match="GiB"):
        certify(GAUSS, eps=0.1, n=10**13, n_verify=2, **QUIET)
    # NumPy scalars are numbers
    assert certify(GAUSS, "exponential-ode", eps=np.float32(0.3), n=4, n_steps=50, **QUIET).accuracy_verdict == "PASS"


def test_confidence_statements_leave_out_the_particles_that_tuned_the_steps():
    """With no theorem to set the step count, the steps are tuned on the first pilot particles' proved errors:
    those are not independent of the run, so the Clopper-Pearson and Bernstein statements use the others."""
    cert = certify(
        GAUSS, "exponential-ode", eps=0.3, score=lambda x, t: GAUSS.score(x, t), n=12, n_verify=12, pilot=4, **QUIET
    )
    keys = [k for k in cert.population if "confidence" in k]
    assert len(keys) == 2 and all("on the 8 not in the tuning pilot" in k for k in keys)
    assert any("tuned on the proved errors of 4 pilot particles" in note for note in cert.notes)


def test_a_perturbed_oracle_of_another_target_has_no_known_error():
    """PerturbedOracle.error_l2 is the error against its own base: against another target it is unknown, so the
    theorem is not applied (it was, with error 0, and then falsely refuted)."""
    other = cs.gaussian(GAUSS.means[0] + 0.3, GAUSS.variances[0])
    cert = certify(GAUSS, "exponential-ode", eps=0.05, n=8, n_steps=100, score=PerturbedOracle(other), **QUIET)
    assert cert.theorem_verdict.startswith("NOT APPLICABLE")


def test_exact_law_of_a_gaussian_far_from_the_origin():
    """The exact law of a linear scheme is probed at its mean: a mean of 1e9 no longer cancels every digit of the
    mean's change (the W2 read 14.7 instead of 0.084)."""
    from certsample.exact import linear_scheme_law
    from certsample.solvers import get_solver

    grid = uniform_grid(30.0, 0.01, 200)
    far, near = cs.gaussian([1e9], [1.0]), cs.gaussian([0.0], [1.0])
    solver = get_solver("exponential-sde")
    mean_far, var_far = linear_scheme_law(solver, far, grid)
    mean_near, var_near = linear_scheme_law(solver, near, grid)
    a = math.exp(-grid.delta)  # the scheme is affine in the target's mean: the law moves with a(delta) m
    offset_far = mean_far[0] - a * 1e9
    # differences of outputs near 1e9 carry its ulp (1.2e-7): that, not the mean's size, is the error left
    assert abs(offset_far - mean_near[0]) < 1e-5 and var_far[0] == pytest.approx(var_near[0], rel=1e-6)
    cert = certify(far, "exponential-sde", eps=1.0, n=20, n_steps=200, T=30.0, **QUIET)
    assert cert.accuracy_verdict == "PASS" and cert.measured < 0.1


def test_unknown_solver_and_step_budget_are_named():
    with pytest.raises(ValueError, match="unknown solver"):
        certify(GAUSS, "leapfrog", eps=0.1, **QUIET)
    with pytest.raises(ValueError, match="max_steps"):
        certify(GAUSS, "exponential-sde", eps=0.3, max_steps=10, **QUIET)


def test_solvers_say_plainly_which_theorem_covers_them():
    import proofs

    assert {cls.theorem for cls in SOLVERS.values() if cls.theorem} <= set(proofs.THEOREMS)
    assert proofs.get(SOLVERS["randomized-midpoint"].theorem).certified
    assert not proofs.get(SOLVERS["predictor-corrector"].theorem).certified
    assert proofs.get(SOLVERS["predictor-corrector"].theorem).placeholder_reason
    assert proofs.get("lee_song_vempala").certified is False


def test_theorem_parameters_from_the_target():
    import proofs

    params, _ = theorem_parameters(proofs.get("sde_em_w2"), GAUSS, T=4.0, delta=0.01, score_error=0.0)
    assert params["d"] == 2 and params["alpha"] == pytest.approx(1 / 2.0)
    a2, s2 = np.exp(-0.02), -np.expm1(-0.02)
    assert params["L"] == pytest.approx(1 / (a2 * 0.3 + s2))
    cloud = cs.point_cloud([[3.0, 4.0], [0.0, 1.0]])
    params, _ = theorem_parameters(proofs.get("collocation_gcs_shape"), cloud, T=4.0, delta=0.01, score_error=0.0)
    assert params["R"] == pytest.approx(5 * np.exp(-0.01))


def test_progress_lines_reach_a_non_terminal_log():
    lines = []
    certify(
        SMALL_RING,
        "randomized-midpoint",
        eps=0.05,
        n=8,
        n_verify=2,
        n_steps=40,
        T=2.0,
        delta=0.1,
        workers=1,
        log=lines.append,
    )
    assert any("NFE" in line and "steps" in line for line in lines)  # the cost estimate, before running
    assert any("enclosed 2/2" in line for line in lines)


def test_cli_certify_writes_a_certificate(tmp_path, capsys):
    out = tmp_path / "cert.json"
    code = main(
        ["certify", "--solver", "euler-maruyama", "--eps", "0.3", "--n", "200", "--out", str(out), "--no-progress"]
    )
    assert code == 0
    cert = json.loads(out.read_text())
    assert cert["accuracy_verdict"] == "PASS" and cert["theorem"] == "sde_em_w2"
    assert "accuracy  PASS" in capsys.readouterr().out


def test_cli_bounds(capsys):
    assert main(["bounds", "gupta_cai_chen", "L=2", "d=1000", "eps=0.01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nfe_required"] >= 1 and report["constants_proved"] is False
    assert main(["bounds", "gupta_cai_chen", "L=2", "d=1000", "eps=-1"]) == 2
    assert "'eps' must be > 0" in capsys.readouterr().err


def test_perturbed_oracle_is_reproducible_across_runs():
    oracle = PerturbedOracle(ScoreOracle.from_target(SMALL_RING), bias=0.1, noise=0.3, seed=4)
    runs = [
        cs.sample(oracle, "randomized-midpoint", n=50, n_steps=10, seed=1, progress=False).samples for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("eps", [1e-3, 1e-6])
def test_a_score_that_cannot_reach_eps_gets_a_proved_fail_naming_the_floor(eps):
    """The step tuner used to read the score-error floor as a step-count problem and raise max_steps."""
    ring = cs.ring_mixture()
    cert = certify(
        ring, "exponential-ode", eps=eps, score=cs.PerturbedOracle(ring, bias=0.5), n=8, n_verify=4, T=4.0, **QUIET
    )
    assert cert.accuracy_verdict == "FAIL" and cert.measurement_kind == "verified"
    assert cert.measured_lower > 100 * eps  # proved: far above eps, and not falling with more steps
    floor = [note for note in cert.notes if "stops falling" in note]
    assert floor and "the score, not the step count, limits this run" in floor[0]


def test_midpoint_runs_are_judged_against_their_proved_theorem():
    """The predictor alone has a proved a-priori bound: certify sets the steps from it and compares."""
    cert = certify(SMALL_RING, "randomized-midpoint", eps=0.5, n=16, n_verify=4, T=3.0, delta=0.5, **QUIET)
    assert cert.theorem == "randomized_midpoint_ms" and cert.certified_constants
    assert cert.nfe == cert.nfe_required and cert.bound <= 0.5
    assert cert.theorem_verdict == "PASS" and cert.measured <= cert.bound
    assert "a priori (proved)" in str(cert)
    # unequal variances (midpoint_ms step U): the run's proved bound is evaluated and compared too
    mixture = cs.gaussian_mixture([[0.0, 1.0], [1.0, 0.0]], [[0.3, 0.5], [0.6, 0.2]])
    cert = certify(mixture, "randomized-midpoint", eps=0.5, n=8, n_verify=2, n_steps=20, T=2.0, delta=0.5, **QUIET)
    assert cert.theorem == "randomized_midpoint_ms" and cert.theorem_verdict == "PASS"
    assert cert.measured <= cert.bound <= 0.5


def test_every_particle_of_a_run_is_proved_and_the_certificate_states_the_coupling():
    cert = certify(SMALL_RING, "exponential-ode", eps=0.05, n=300, n_steps=60, T=2.0, delta=0.1, **QUIET)
    assert cert.particles_checked == 300 and cert.measurement_kind == "verified"
    key = next(k for k in cert.population if k.startswith("every particle proved"))
    assert "W-infinity" in key and cert.population[key] == cert.population["max proved error"]
    assert any("every one of the 300 output samples" in note for note in cert.notes)
    for run in (cert, certify(SMALL_RING, "exponential-ode", eps=0.05, n=40, n_steps=3, T=2.0, delta=0.1, **QUIET)):
        at_least = run.population["checked particles with error above eps (proved: at least)"]
        at_most = run.population["checked particles with error above eps (proved: at most)"]
        assert 0 <= at_least <= at_most <= run.particles_checked
        assert (at_most > 0) == (run.population["max proved error"] > 0.05)
    assert run.accuracy_verdict == "FAIL" and at_least > 0  # 3 steps: some particles provably miss eps
    assert cert.accuracy_verdict in ("PASS", "FAIL")
    # n_verify still limits the check for a run of any size, with today's population statements only
    few = certify(SMALL_RING, "exponential-ode", eps=0.05, n=300, n_verify=20, n_steps=60, T=2.0, delta=0.1, **QUIET)
    assert few.particles_checked == 20 and not any(k.startswith("every particle") for k in few.population)
    assert "(verified on 20 of 300 particles)" in str(few)  # the proof covers those only


def test_a_verifier_enclosing_in_several_calls_holds_the_enclosures_of_one_call():
    from certsample.verify.flows import enclose_flows
    from certsample.verify.verifier import Verifier

    x0 = SMALL_RING.law_at(2.0).sample(40, seed=4)
    verifier = Verifier(SMALL_RING, x0, 2.0, 0.1, 1e-6, 1, lambda line: None)
    expected = 0
    for m in (3, 3, 20, 40, 10):  # the first m are enclosed; a smaller m than before encloses nothing more
        verifier.ensure(m)
        expected = max(expected, m)
        assert verifier.count == expected
    assert verifier.count == 40 and len(verifier.radii) == len(verifier.methods) == len(verifier.steps) == 40
    whole = enclose_flows(SMALL_RING, x0, 2.0, 0.1, tol=1e-6, fallback="failed")
    assert np.array_equal(verifier.centers, whole.centers) and np.array_equal(verifier.radii, whole.radii)
    assert list(verifier.methods) == list(whole.method) and np.array_equal(verifier.steps, whole.steps)


@pytest.mark.parametrize(("call", "sizes", "text"), [(0.01, [16, 256], "0.1 s"), (0.1, [16], "12.5 s")])
def test_the_sampling_estimate_reprobes_with_more_particles_where_a_call_dominates(call, sizes, text):
    """A run whose time is mostly the call's own (the steps' loop) was estimated at the probe's time times ``n / 16``:
    4.5 s printed before 0.34 s of sampling (64-d mixture, 2000 particles, 1513 steps). A quick probe is run again
    with 256 particles; a slow one (its particles' cost dominating) stands. Fake runs: ``call`` s a call plus 1e-5 s
    a particle, 2000 particles."""
    import types

    from certsample.verify.certify import _expected_seconds

    sizes_seen = []

    def run(solver, grid, x0, progress):
        sizes_seen.append(len(x0))
        return types.SimpleNamespace(wall_time=call + 1e-5 * len(x0))

    job = types.SimpleNamespace(x0=np.zeros((2000, 2)), run=run)
    assert _expected_seconds(job, None, None, None, 0) == f"expected about {text} of sampling"
    assert sizes_seen == sizes


def test_the_rate_of_enclosures_is_that_of_every_worker_though_a_pilot_ran_in_one_process(monkeypatch):
    """The cost estimate and the budget read :meth:`~.verifier.Verifier.seconds_per_enclosure`: a pilot's few
    particles are one shard in one process, and their seconds must count as that process's share of the workers, not
    as the rate of all of them (the estimate printed was about twice the two workers' time). A clock that the fake
    shards advance: 8 particles at 1 s in one process, then 64 at 0.5 s a particle with two processes together."""
    import types

    from certsample.verify import verifier as module

    clock = [0.0]
    monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(module, "enclose_shard", lambda target, x0, *rest: None)  # the untimed compile call

    def fake_run(self, jobs):
        per = 1.0 / self._processes(jobs)
        for job in jobs:
            rows = len(job[1])
            clock[0] += per * rows
            yield np.zeros((rows, 2)), np.zeros(rows), np.full(rows, "float64"), np.zeros(rows, dtype=np.int64)

    monkeypatch.setattr(module.Verifier, "_run", fake_run)
    x0 = SMALL_RING.law_at(2.0).sample(72, seed=4)
    found = module.Verifier(SMALL_RING, x0, 2.0, 0.1, 1e-6, 2, lambda line: None)
    found.ensure(8)  # one shard of 8: one process
    assert found.seconds == 8.0 and found.seconds_per_enclosure() == 0.5
    found.ensure(72)  # two shards of 32: both workers
    assert found.seconds == 8.0 + 32.0 and found.seconds_per_enclosure() == 0.5
    alone = module.Verifier(SMALL_RING, x0, 2.0, 0.1, 1e-6, 1, lambda line: None)
    alone.ensure(72)
    assert alone.seconds_per_enclosure() == 1.0


def test_particles_that_cannot_be_enclosed_count_as_unbounded_and_the_tuning_skips_them(monkeypatch):
    """A particle whose exact trajectory no enclosure reaches (radius inf: ``enclose_flows(fallback='failed')`` on a
    box-limited model) is not a proved error: it keeps the verdict from PASS, the certificate counts it, claims no
    W-infinity coupling, and the step tuning follows the pilot particles that were enclosed."""
    from certsample.verify import verifier

    real = verifier.enclose_flows

    def first_row_unproved(target, x0, T, delta, **kwargs):  # row 0 of every shard
        found = real(target, x0, T, delta, **kwargs)
        found.radii[0], found.method[0] = math.inf, "failed"
        return found

    monkeypatch.setattr(verifier, "enclose_flows", first_row_unproved)
    cert = certify(SMALL_RING, "exponential-ode", eps=0.05, n=100, T=2.0, delta=0.1, **QUIET)
    assert cert.particles_checked == 100 and cert.nfe < 10_000  # tuned on the 7 enclosed pilot particles
    assert cert.accuracy_verdict != "PASS" and math.isinf(cert.measured)
    assert not any(k.startswith("every particle") for k in cert.population)
    text = str(cert)  # rows 0, 8 and 72: the pilot's shard, then shards of 64 from row 8
    assert "3 of 100 not enclosed" in text and "3 of the 100 checked particles could not be enclosed" in text
    assert "W-infinity distance" not in text and "(proved; no upper bound)" in text


def test_enclosures_sharded_over_a_dask_client_give_the_single_process_certificate():
    distributed = pytest.importorskip("dask.distributed")
    kwargs = dict(eps=0.05, n=150, n_steps=40, T=2.0, delta=0.1, **QUIET)
    one = certify(SMALL_RING, "exponential-ode", **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            sharded = certify(SMALL_RING, "exponential-ode", client=client, **kwargs)
    assert (sharded.measured, sharded.measured_lower) == (one.measured, one.measured_lower)
    assert sharded.population == one.population and sharded.particles_checked == 150


def _printed_range(text):
    low, high = text.split("in [", 1)[1].split("]", 1)[0].split(", ")
    return Decimal(low), Decimal(high)


def test_printed_bounds_are_rounded_outward():
    """A printed upper bound is at least the float it stands for, a lower bound at most: format(x, '.3g') rounds to
    nearest and printed a proved RMS error in [0.0148943, 0.014895] as '[0.0149, 0.014895]'."""
    rng = np.random.default_rng(7)
    values = np.concatenate([10.0 ** rng.uniform(-300, 300, 2000), -(10.0 ** rng.uniform(-8, 8, 200))])
    for x in values:
        for digits in (2, 3, 6, 15):
            up, down = bound_text(x, digits), bound_text(x, digits, upward=False)
            assert Decimal(down) <= Decimal(float(x)) <= Decimal(up)
            assert float(up) == float(format(float(up), f".{digits}g"))  # at most `digits` significant digits
    assert bound_text(0.0148943) == "0.0149" and bound_text(0.0148943, upward=False) == "0.0148"
    assert bound_text(1.2345e-7) == "1.24e-07" and bound_text(math.inf) == "inf"
    for lo, hi in [(0.0148943, 0.014895), (0.001, 0.01), (0.0110031, 0.01103), (0.1, 0.1 + 1e-16), (2.0, 3e5)]:
        low, high = _printed_range(_fmt_range(lo, hi))
        assert low <= Decimal(lo) and Decimal(hi) <= high
        assert high - low <= 4 * (Decimal(hi) - Decimal(lo)) + Decimal(hi) * Decimal("1e-14")


def test_the_certificate_prints_its_proved_range_outward():
    cert = certify(SMALL_RING, "exponential-ode", eps=0.2, n=40, seed=3, **QUIET)
    assert cert.measurement_kind == "verified" and cert.measured_lower < cert.measured
    low, high = _printed_range(str(cert))
    assert low <= Decimal(cert.measured_lower) and Decimal(cert.measured) <= high


def test_refutation_rank_states_the_rate_it_can_reach():
    """Against a threshold of 0 exact samples are refuted at the rate the replicates allow: the k-th smallest of R
    with k = ceil((R + 1)(1 - alpha)), so at most alpha when R + 1 >= 1 / alpha, else 1 / (R + 1), and said so."""
    target = cs.gaussian([0.5], [0.3])
    grid = uniform_grid(10.0, 1e-2, 1)
    law = target.law_at(grid.delta)
    values = []
    for seed in range(200):
        x = law.sample(50, np.random.default_rng([seed, 7]))
        m = SampleStatistics(target, seed, "W2", 0.05, replicates=39).measure(
            cs.SampleResult(x, "exact", "numpy", 0, 0, 0.0, grid, seed)
        )
        values.append(m.value > m.null_quantile)
    assert "38-th smallest" in m.how and "at most 0.05 for" in m.how
    assert np.mean(values) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200)  # 1 - 38/40 = 0.05
    few = SampleStatistics(target, 0, "W2", 0.0013, replicates=20).measure(
        cs.SampleResult(law.sample(50, np.random.default_rng(1)), "exact", "numpy", 0, 0, 0.0, grid, 0)
    )
    assert "20-th smallest" in few.how and "at most 0.048" in few.how and "too few replicates" in few.how


def test_a_run_at_the_threshold_is_not_refuted_beyond_the_stated_rate():
    """A run whose error equals the threshold must not be refuted much more often than the level: the statistic's
    excess is its estimate's distance to the run's own law, which exact samples' replicates miss where the run
    spreads more. A 1-d run of three times the target's spread at its exact W2 (twice the target's deviation): 23
    of 300 refuted at a stated 0.005 before the run's own bootstrap joined the null (7 of these 100); now none (at most
    two allowed). The same run at two thirds of its W2 is still refuted every time."""
    target = cs.gaussian([0.5], [2.0])
    grid = uniform_grid(10.0, 1e-2, 1)
    law = target.law_at(grid.delta)
    sigma, mean = math.sqrt(law.covariance()[0, 0]), law.mean()[0]
    alpha = 0.5 * math.erfc(3 / math.sqrt(2))
    at_threshold = below = 0
    for seed in range(100):
        x = mean + 3 * sigma * np.random.default_rng([seed, 7]).standard_normal((2000, 1))
        m = SampleStatistics(target, seed, "W2", alpha, replicates=200).measure(
            cs.SampleResult(x, "spread", "numpy", 0, 0, 0.0, grid, seed)
        )
        at_threshold += m.verdict(2 * sigma) == "FAIL"
        below += m.verdict(1.5 * sigma) == "FAIL"
    assert at_threshold <= 2 and below == 100


def test_theorem_outside_its_range_keeps_the_certificate():
    """A step too long for the theorem's hypotheses: the theorem is NOT APPLICABLE, the accuracy verdict stays."""
    cert = certify(cs.gaussian([0.5], [0.3]), "exponential-ode", eps=1e-3, n=20, n_steps=10, **QUIET)
    assert cert.theorem_verdict.startswith("NOT APPLICABLE") and "step size" in cert.theorem_verdict
    assert cert.accuracy_verdict in ("PASS", "FAIL")


def test_uniform_bounds_are_judged_on_the_starts_they_cover():
    """A pathwise bound for every start of a set: FAIL only from a covered start proved above it; starts outside
    the set do not count."""
    from certsample.verify.certify import _uniform_verdict
    from certsample.verify.measurement import Measurement

    def measured(lower, upper):
        return Measurement(
            0.0, 0.0, 0.0, 0.0, "", "verified", "", checked=len(upper), per_particle=np.array(upper),
            per_particle_lower=np.array(lower),
        )  # fmt: skip

    m = measured([0.0009, 0.049], [0.001, 0.05])
    assert _uniform_verdict(m, np.array([True, False]), 0.01) == "PASS"  # the one above lies outside the set
    assert _uniform_verdict(m, None, 0.01) == "FAIL"
    assert _uniform_verdict(m, np.array([False, False]), 0.01).startswith("INCONCLUSIVE")
    assert _uniform_verdict(measured([0.005], [0.02]), None, 0.01) == "INCONCLUSIVE"


def test_too_few_samples_for_a_covariance_are_inconclusive():
    target = cs.gaussian([0.0, 0.5, 1.0], [1.0, 0.5, 2.0])
    cert = certify(target, "exponential-sde", eps=0.5, score=target.score, n=3, n_steps=20, replicates=20, **QUIET)
    assert cert.accuracy_verdict == "INCONCLUSIVE" and "more samples than dimensions" in cert.measurement


def test_a_uniform_grid_theorem_does_not_judge_a_tuned_grid():
    """When the theorem cannot reach eps (a biased score), the steps are tuned on an exponential grid: the
    uniform-step bound then does not apply, and says so."""
    target = cs.gaussian([0.5, -0.5], [0.2, 3.0])
    cert = certify(target, "exponential-ode", eps=0.05, score=PerturbedOracle(target, bias=0.02), n=16, **QUIET)
    assert cert.theorem_verdict.startswith("NOT APPLICABLE") and "uniform steps" in cert.theorem_verdict


def test_unreachable_bounds_and_far_deltas_fall_back_instead_of_crashing():
    from certsample.verify import StepBudgetExceeded

    with pytest.raises(StepBudgetExceeded, match="tuned on the pilot"):  # the theorem's own range fails: tuned
        certify(cs.gaussian([0.0], [1e-6]), "exponential-ode", eps=0.01, delta=1e-6, max_steps=100, n=8, **QUIET)
    from certsample.solvers import get_solver
    from certsample.verify.parameters import default_horizon

    assert default_horizon(get_solver("ddpm"), cs.gaussian([0.0], [2.0]), 0.05, 12.0, 0.0) >= 24.0  # raised before


def test_theorems_without_a_score_error_term_refuse_an_inexact_score():
    from certsample.solvers import get_solver
    from certsample.verify.parameters import theorem_for

    check = theorem_for(get_solver("predictor-corrector"), cs.ring_mixture(), 10.0, 1e-2, 5.0)
    assert check.theorem is None and "no score-error term" in check.reason


def test_the_enclosure_budget_is_spent_in_batches_and_the_count_says_so():
    """A budget too small for the run: the start points are enclosed in order while their times say the next batch
    fits, so the count is what the budget covered (at least the timing sample), and a note says so."""
    from certsample.confidence import StoppedCount
    from certsample.verify.certify import TIMING_SAMPLE

    cert = certify(
        SMALL_RING, "exponential-ode", eps=0.05, n=3000, n_steps=40, T=2.0, delta=0.1, verify_seconds=0.5, **QUIET
    )
    note = next(note for note in cert.notes if "of n_verify=3000 particles checked" in note)
    assert TIMING_SAMPLE <= cert.particles_checked < 3000
    assert note.startswith(f"{cert.particles_checked} of n_verify=3000")
    # the count is a stopping time of the draws (timings follow the start points): the confidence statements are
    # made on a prefix of a length fixed in advance, at a level that a union over those lengths leaves
    union = "a union over the counts the time budget could stop at"
    keys = [k for k in cert.population if "confidence" in k]
    assert len(keys) == 2 and all(union in k for k in keys)
    stopped = StoppedCount(cert.particles_checked, TIMING_SAMPLE, 3000, 0.95)
    if stopped.prefix < cert.particles_checked:
        assert all(f"on the first {stopped.prefix} of the {cert.particles_checked}," in k for k in keys)
    everything = certify(SMALL_RING, "exponential-ode", eps=0.05, n=300, n_steps=40, T=2.0, delta=0.1, **QUIET)
    assert everything.particles_checked == 300 and not any("particles checked" in note for note in everything.notes)
    assert all("on the 300, at 97.5%: " + union in k for k in everything.population if "confidence" in k)
    fixed = certify(
        SMALL_RING, "exponential-ode", eps=0.05, n=300, n_steps=40, T=2.0, delta=0.1, verify_seconds=None, **QUIET
    )
    assert not any(union in k for k in fixed.population)
    fraction = next(k for k in fixed.population if "Clopper-Pearson" in k)
    assert (
        fixed.population[fraction] < everything.population[fraction.replace(")", f", on the 300, at 97.5%: {union})")]
    )


def test_theorem_parameters_are_proved_bounds_of_the_exact_values():
    """m2, alpha, W0, R and sigma bound the exact values of the law the stored floats define (50-digit mpmath): W0
    of a Gaussian in R^5 within 3e-9 of the identity came out 6e-8 relative below its exact value from the float64
    covariance (the basis's rounding against a distance of 2.5e-9), past the 1e-12 nudge the parameters had; it is
    now above the exact value and within 1e-14 of it."""
    import mpmath

    import proofs
    from certsample.verify.parameters import _TargetQuantities

    mpmath.mp.dps = 50
    near = cs.embed(cs.gaussian([0.0, 1e-9], [1 + 1e-9, 1 - 3e-9]), 5, lam_perp=1 + 2e-9)
    quantities = _TargetQuantities(near)
    lams = [mpmath.mpf(float(v)) for v in near.variances[0]] + [mpmath.mpf(near.lam_perp)] * 3
    w0 = mpmath.sqrt(mpmath.mpf(1e-9) ** 2 + sum((mpmath.sqrt(v) - 1) ** 2 for v in lams))
    assert w0 <= quantities.w0() <= w0 * (1 + 1e-14)
    assert 1 / max(lams) >= quantities.alpha() >= (1 / max(lams)) * (1 - 1e-15)
    m2 = sum(lams) + mpmath.mpf(1e-9) ** 2
    assert m2 <= quantities.m2() <= m2 * (1 + 1e-15)
    cloud = cs.point_cloud([[3.0, 4.0], [0.0, 1.0]])
    params, _ = theorem_parameters(proofs.get("collocation_gcs_shape"), cloud, T=4.0, delta=0.01, score_error=0.0)
    a = mpmath.exp(-mpmath.mpf(0.01))
    assert 5 * a <= params["R"] <= 5 * a * (1 + 1e-15)
    assert params["sigma"] <= mpmath.sqrt(-mpmath.expm1(-2 * mpmath.mpf(0.01)))
    mixture = cs.gaussian_mixture([[1.0, 2.0], [-3.0, 0.5]], [[0.2, 0.5], [1.5, 0.3]], [0.3, 0.7])
    exact = sum(
        mpmath.mpf(float(w)) * sum(mpmath.mpf(float(v)) + mpmath.mpf(float(m)) ** 2 for v, m in zip(vs, ms))
        for w, vs, ms in zip(mixture.weights, mixture.variances, mixture.means)
    ) / sum(mpmath.mpf(float(w)) for w in mixture.weights)
    assert exact <= _TargetQuantities(mixture).m2() <= exact * (1 + 1e-15)


def test_the_exact_law_allowance_covers_its_float64_rounding_at_a_large_variance():
    """The exponential SDE on N(0, 1e9), 10 000 steps: the float64 closed form's W2 is 5e-9 from the scheme's law
    computed in 50 digits (the same recursion written out here), 280 times the allowance it had (which had no
    variance term), so an eps between the two got PASS where the exact law fails it. It is now inside the allowance,
    and that eps is INCONCLUSIVE."""
    import mpmath

    from certsample.forward import make_grid

    mpmath.mp.dps = 50
    lam, steps, T, delta = 1e9, 10_000, 40.0, 1e-2
    grid = make_grid("uniform", T, delta, steps)
    mean, var = mpmath.mpf(0), mpmath.mpf(1)
    for t, h in zip(grid.times[:-1], grid.steps):  # x' = e^h x + 2 (e^h - 1) s(x, t) + sqrt(e^2h - 1) xi
        t, h = mpmath.mpf(float(t)), mpmath.mpf(float(h))
        v = mpmath.exp(-2 * t) * lam - mpmath.expm1(-2 * t)
        gain = mpmath.exp(h) - 2 * mpmath.expm1(h) / v
        mean, var = gain * mean, gain * gain * var + mpmath.expm1(2 * h)
    final = mpmath.exp(-2 * mpmath.mpf(delta)) * lam - mpmath.expm1(-2 * mpmath.mpf(delta))
    exact = mpmath.sqrt(mean**2 + (mpmath.sqrt(var) - mpmath.sqrt(final)) ** 2)
    target, common = cs.gaussian([0.0], [lam]), dict(n=4, n_steps=steps, T=T, delta=delta, **QUIET)
    probe = certify(target, "exponential-sde", eps=1.0, **common)
    assert probe.measurement_kind == "exact" and abs(probe.measured - exact) <= probe.uncertainty
    assert abs(probe.measured - exact) > 1e-10  # the rounding this is about
    between = float((mpmath.mpf(probe.measured) + exact) / 2)
    assert certify(target, "exponential-sde", eps=between, **common).accuracy_verdict == "INCONCLUSIVE"


def test_gelbrich_statistic_with_resamples_of_few_distinct_points():
    """d = 5, n = 8: a bootstrap resample holds about 5 distinct points, whose covariance is singular; the statistic
    raised 'cov1 is not positive definite' for every seed. Degenerate Gaussians are now measured as they are."""
    target = cs.gaussian(np.zeros(5), np.ones(5))
    for seed in range(3):
        cert = certify(target, "euler-maruyama", eps=0.1, n=8, n_steps=20, score=target.score, seed=seed, **QUIET)
        assert cert.measurement_kind == "lower" and cert.accuracy_verdict in ("INCONCLUSIVE", "FAIL")
