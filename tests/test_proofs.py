"""Tests for the ``proofs`` package: exponents derived symbolically, rigorous
evaluation, input validation, and exact Gaussian checks of the certified
W2 bounds."""

import math
from fractions import Fraction

import mpmath
import pytest
import sympy as sp

import proofs
from proofs import core
from proofs.lee_song_vempala import (
    chebyshev_nodes,
    integrated_lagrange_matrix,
    lagrange_inf_norm,
)

oo = sp.oo


def th(name):
    return proofs.get(name)


#: theorems with closed-form SymPy expressions (the algorithmic 'collocation' theorem has its own tests in
#: tests/test_collocation_proof.py)
SYMBOLIC = sorted(name for name, t in proofs.THEOREMS.items() if not getattr(t, "algorithmic", False))


def sym(theorem, name):
    return theorem.symbols[name]


# --------------------------------------------------------------------------
# registry and declarations
# --------------------------------------------------------------------------
def test_registry_unknown_name_lists_known():
    with pytest.raises(ValueError) as exc:
        proofs.get("no_such_theorem")
    for name in ("gupta_cai_chen", "shen_lee", "collocation", "sde_ei_w2"):
        assert name in str(exc.value)


@pytest.mark.parametrize("name", SYMBOLIC)
def test_declarations_are_complete(name):
    t = th(name)
    assert t.name == name
    assert t.reference and t.metric and t.assumptions
    assert all(isinstance(a, str) and a for a in t.assumptions)
    for key, s in t.symbols.items():
        assert key == s.name and (s.is_positive or s.is_nonnegative)
    declared = set(t.symbols.values())
    for expr in (t.steps_expr, t.rounds_expr, t.error_expr):
        assert expr.free_symbols <= declared
    assert sym(t, "eps") in t.steps_expr.free_symbols
    assert sym(t, "N") in t.error_expr.free_symbols
    assert sym(t, "N") not in t.steps_expr.free_symbols


# --------------------------------------------------------------------------
# asymptotic exponents, derived from the expressions
# --------------------------------------------------------------------------
def _exponent(expr, var, at=oo):
    """Growth exponent derived by SymPy.

    ``lim log(expr)/log(var)`` as ``var -> oo`` (``at = oo``), or
    ``lim log(expr)/log(1/var)`` as ``var -> 0+`` (``at = 0``).  Products add
    exponents and ``Max`` takes the largest (its arguments are positive), which
    keeps the limits small enough for SymPy; everything else goes to
    ``sympy.limit`` after expanding the logarithm.
    """
    if at is not oo:
        x = sp.Symbol("x", positive=True)
        return _exponent(expr.subs(var, 1 / x), x)
    if isinstance(expr, sp.Mul):
        return sum(_exponent(a, var) for a in expr.args)
    if isinstance(expr, sp.Max):
        return max(_exponent(a, var) for a in expr.args)
    if var not in expr.free_symbols:
        return sp.Integer(0)
    return sp.limit(sp.expand_log(sp.log(expr), force=True) / sp.log(var), var, oo)


def test_gupta_cai_chen_exponents():
    t = th("gupta_cai_chen")
    L, d, eps = (sym(t, n) for n in ("L", "d", "eps"))
    assert _exponent(t.steps_expr, d) == sp.Rational(5, 12)
    assert _exponent(t.steps_expr, L) == sp.Rational(5, 3)
    assert _exponent(t.steps_expr, eps, at=0) == 1
    assert t.rounds_expr == t.steps_expr  # sequential


def test_gupta_cai_chen_parallel_rounds_log_squared():
    t = th("gupta_cai_chen_parallel")
    d = sym(t, "d")
    ratio = sp.limit(t.rounds_expr / sp.log(d) ** 2, d, oo)
    assert ratio.is_finite and ratio.is_positive
    assert _exponent(t.rounds_expr, d) == 0  # polylog depth ...
    assert _exponent(t.steps_expr, d) == sp.Rational(1, 2)  # ... polynomial total work


def test_shen_lee_exponents():
    t = th("shen_lee")
    kappa, eps = sym(t, "kappa"), sym(t, "eps")
    assert _exponent(t.steps_expr, kappa) == sp.Rational(7, 6)
    expanded = sp.expand(t.steps_expr)
    # the kappa^{7/6} term carries eps^{-1/3}, the kappa^1 term eps^{-2/3}
    assert _exponent(expanded.coeff(kappa ** sp.Rational(7, 6)), eps, at=0) == sp.Rational(1, 3)
    assert _exponent(expanded.coeff(kappa, 1), eps, at=0) == sp.Rational(2, 3)


def test_collocation_shape_dimension_free_and_polylog():
    t = th("collocation_gcs_shape")
    eps, R, sigma = sym(t, "eps"), sym(t, "R"), sym(t, "sigma")
    for expr in (t.steps_expr, t.rounds_expr, t.error_expr):
        assert "d" not in {s.name for s in expr.free_symbols}
    assert "d" not in t.symbols
    x = sp.Symbol("x", positive=True)  # x = 1/eps

    def loglog_power(expr):  # lim log(expr) / log(log x), factor by factor
        if isinstance(expr, sp.Mul):
            return sum(loglog_power(a) for a in expr.args)
        if x not in expr.free_symbols:
            return sp.Integer(0)
        return sp.limit(sp.log(expr) / sp.log(sp.log(x)), x, oo)

    k = loglog_power(t.steps_expr.subs(eps, 1 / x))
    assert k.is_finite and k > 0  # polylog(1/eps) with a finite power (here 2)
    assert _exponent(t.steps_expr, eps, at=0) == 0  # not polynomial in 1/eps
    r = sp.Symbol("r", positive=True)
    assert _exponent(t.steps_expr.subs({R: r, sigma: 1}), r) == 2  # (R/sigma)^2 up to logs
    k_depth = loglog_power(t.rounds_expr.subs(eps, 1 / x))
    assert k_depth.is_finite and 0 < k_depth < k  # depth: one log fewer


def test_collocation_shape_schedule_matches_formula():
    t = th("collocation_gcs_shape")
    s = t.schedule(R=4.0, sigma=1.0, eps=1e-6)
    assert s["score_calls"] == s["windows"] * (s["degree"] * s["sweeps"] + 1)
    assert s["depth"] == s["windows"] * s["sweeps"]
    # the formula counts what the solver spends with that schedule
    from certsample.solvers import Collocation

    assert Collocation(s["degree"], s["sweeps"]).nfe(s["windows"]) == s["score_calls"]
    assert s["score_calls"] >= t.step_count(R=4.0, sigma=1.0, eps=1e-6)
    assert s["degree"] == math.ceil(math.log(math.e + 1e6))


def test_chen_et_al_steps_scale_like_d_L2_over_eps2():
    t = th("chen_et_al_2023")
    d, L, eps = sym(t, "d"), sym(t, "L"), sym(t, "eps")
    # exact score and KL0 = 0: no irreducible error, so eps -> 0 is admissible
    vals = {sym(t, "T"): 5, sym(t, "m2"): 1, sym(t, "eps_s"): 0, sym(t, "KL0"): 0}
    steps = t.steps_expr.subs(vals)
    assert _exponent(steps, d) == 1
    assert _exponent(steps, L) == 2
    assert _exponent(steps, eps, at=0) == 2


# --------------------------------------------------------------------------
# rigorous evaluation
# --------------------------------------------------------------------------
POINTS = {
    "gupta_cai_chen": dict(L=3.0, d=1000.0, eps=0.05),
    "gupta_cai_chen_parallel": dict(L=3.0, d=1000.0, eps=0.05),
    "shen_lee": dict(kappa=37.0, eps=1e-3, d=10.0, m=0.5),
    "collocation_gcs_shape": dict(R=7.0, sigma=0.3, eps=1e-8),
    "lee_song_vempala": dict(L=1.3, h=0.4, A_inf=0.9925, C=2.0, E0=1.0, eps=1e-9, rho=9.0, D=12),
    "chen_et_al_2023": dict(d=50.0, L=2.0, T=6.0, m2=50.0, eps_s=1e-3, KL0=2.0, eps=0.1),
    "pf_ode_ei_w2": dict(d=3.0, L=1.7, T=5.0, delta=0.01, alpha=0.6, W0=0.4, M=0.2, eps_s=1e-4, eps=0.05),
    "sde_ei_w2": dict(d=3.0, L=1.7, T=5.0, delta=0.01, alpha=0.6, W0=0.4, eps_s=1e-4, eps=0.05),
    "sde_em_w2": dict(d=3.0, L=1.7, T=5.0, delta=0.01, alpha=0.6, W0=0.4, m2=4.0, eps_s=1e-4, eps=0.05),
    "randomized_midpoint_ms": dict(T=2.0, delta=0.05, L=4.0, mu=0.3, G0=3.0, G1=5.0, eps=1e-3),
    "parallel_midpoint_ms": dict(T=2.0, delta=0.05, L=4.0, mu=0.3, G0=3.0, G1=5.0, R=4, K=2, eps=1e-3),
}


def _ref_value(t, expr, values):
    """Independent 50-digit reference (lambdify to mpmath, no intervals)."""
    names = sorted(s.name for s in expr.free_symbols)
    f = sp.lambdify([t.symbols[k] for k in names], expr, modules="mpmath")
    with mpmath.workdps(50):
        return f(*[mpmath.mpf(values[k]) for k in names])


@pytest.mark.parametrize("name", SYMBOLIC)
def test_interval_encloses_reference_and_counts_are_ceilings(name):
    t = th(name)
    vals = POINTS[name]
    enc = t.evaluate(t.steps_expr, **vals)
    ref = _ref_value(t, t.steps_expr, vals)
    with mpmath.workdps(50):
        assert core.lower(enc) <= ref <= core.upper(enc)
        assert core.upper(enc) - core.lower(enc) <= mpmath.mpf(10) ** -20 * ref
    n = t.step_count(**vals)
    assert isinstance(n, int) and n >= ref and n < ref + 1
    assert n >= float(ref)  # and above the plain float evaluation
    r = t.rounds(**vals)
    assert isinstance(r, int) and 1 <= r <= n


# theorems whose error_expr is the certified inverse of steps_expr (the others
# state the error bound directly and derive a sufficient step count from it)
INVERSE_FORM = ("gupta_cai_chen", "gupta_cai_chen_parallel", "shen_lee", "collocation_gcs_shape")


@pytest.mark.parametrize("name", SYMBOLIC)
def test_error_bound_is_upper_endpoint_and_inverts_steps(name):
    """error_bound is the rounded-up upper endpoint; for inverse-form theorems
    the certified accuracy satisfies the step-count hypothesis:
    steps(error_bound(N)) <= N."""
    t = th(name)
    vals = POINTS[name]
    n = t.step_count(**vals)
    err_vals = {k: v for k, v in vals.items() if k != "eps"}
    err = t.error_bound(N=n, **err_vals)
    ref = _ref_value(t, t.error_expr, dict(err_vals, N=n))
    with mpmath.workdps(50):
        assert err >= ref and err - ref <= 1e-14 * ref
    if name in INVERSE_FORM:
        back = dict(vals, eps=err)
        if name == "shen_lee":  # error is eps * sqrt(d/m)
            back["eps"] = err / math.sqrt(vals["d"] / vals["m"])
        assert _ref_value(t, t.steps_expr, back) <= n * (1 + 1e-12)


@pytest.mark.parametrize(
    "name",
    [
        "collocation_gcs_shape",
        "pf_ode_ei_w2",
        "sde_ei_w2",
        "sde_em_w2",
        "chen_et_al_2023",
        "lee_song_vempala",
        "randomized_midpoint_ms",
        "parallel_midpoint_ms",
    ],
)
def test_step_count_achieves_requested_accuracy(name):
    t = th(name)
    vals = POINTS[name]
    n = t.step_count(**vals)
    assert t.error_bound(N=n, **{k: v for k, v in vals.items() if k != "eps"}) <= vals["eps"]


def test_translator_rules():
    x, y = sp.symbols("x y", positive=True)

    class T_(core.Theorem):
        name = "t"
        symbols = {"x": x, "y": y}
        steps_expr = x
        error_expr = x

    t = T_()
    v = t.evaluate(sp.Max(x, y) + sp.Min(x, y) + sp.ceiling(x) + sp.Abs(x - y), x=0.5, y=2)
    assert core.lower(v) <= 0.5 + 2 + 1 + 1.5 <= core.upper(v)
    v = t.evaluate(x ** sp.Rational(5, 12) * sp.exp(-y) / sp.log(sp.E + y), x=Fraction(1, 3), y=1)
    with mpmath.workdps(50):
        ref = (mpmath.mpf(1) / 3) ** (mpmath.mpf(5) / 12) * mpmath.exp(-1) / mpmath.log(mpmath.e + 1)
        assert core.lower(v) <= ref <= core.upper(v)
    third = t.evaluate(sp.Rational(1, 3), x=1)
    with mpmath.workprec(300):  # exact products of the 96-bit endpoints
        assert core.lower(third) * 3 < 1 < core.upper(third) * 3
    with pytest.raises(ValueError, match="log"):
        t.evaluate(sp.log(x - y), x=1, y=2)


# --------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_bad_eps_raises_naming_it(bad):
    t = th("gupta_cai_chen")
    with pytest.raises(ValueError, match="'eps'"):
        t.step_count(L=1.0, d=10.0, eps=bad)


def test_bad_inputs_raise_naming_the_parameter():
    t = th("sde_ei_w2")
    good = dict(d=1, L=2, T=5, delta=0.01, alpha=1, W0=0, eps_s=0)
    with pytest.raises(ValueError, match="'L'"):
        t.error_bound(N=100, **dict(good, L=-2))
    with pytest.raises(ValueError, match="'delta'"):
        t.error_bound(N=100, **{k: v for k, v in good.items() if k != "delta"})
    with pytest.raises(ValueError, match="'W0'"):
        t.error_bound(N=100, **dict(good, W0=-0.1))
    with pytest.raises(ValueError, match="'N'"):
        t.error_bound(N=10.5, **good)
    with pytest.raises(ValueError, match="'N'"):
        t.error_bound(N=0, **good)
    with pytest.raises(ValueError, match="'bogus'"):
        t.error_bound(N=100, bogus=1.0, **good)
    with pytest.raises(ValueError, match="'d'"):
        th("shen_lee").error_bound(N=100, kappa=2.0, m=1.0)
    # zero is admissible for nonnegative symbols (exact score, exact start)
    assert t.error_bound(N=100, **good) > 0


def test_side_conditions_raise():
    t = th("sde_ei_w2")
    base = dict(d=1, L=2, T=5, delta=0.01, alpha=1, W0=0, eps_s=0)
    with pytest.raises(ValueError, match="step size"):
        t.error_bound(N=2, **base)  # h ~ 2.5 violates (e^h - 1)(2L - 1) <= 2
    with pytest.raises(ValueError, match="exceed"):
        t.step_count(eps=1e-3, **dict(base, eps_s=0.1))  # irreducible score error
    with pytest.raises(ValueError, match="T > delta"):
        t.error_bound(N=10, **dict(base, T=0.005))


# --------------------------------------------------------------------------
# certified W2 bounds vs the exact answer on Gaussian targets
# --------------------------------------------------------------------------
def _exact_gaussian_w2(scheme, sigma2, T, delta, N, shift=0.0):
    """W2 between the scheme's (Gaussian) output and q_delta for q_0 = N(0, sigma2).

    The score -x/sigma_t^2 + shift is used (``shift`` = constant score error).
    """
    h = (T - delta) / N
    s2 = lambda t: 1 + (sigma2 - 1) * math.exp(-2 * t)
    mean, var = 0.0, 1.0
    for k in range(N):
        a = -1 / s2(T - k * h)
        if scheme == "pf_ode_ei_w2":
            A, c, B = math.exp(h) + (math.exp(h) - 1) * a, (math.exp(h) - 1) * shift, 0.0
        elif scheme == "sde_ei_w2":
            A, c, B = math.exp(h) + 2 * (math.exp(h) - 1) * a, 2 * (math.exp(h) - 1) * shift, math.expm1(2 * h)
        else:
            A, c, B = 1 + h + 2 * h * a, 2 * h * shift, 2 * h
        mean, var = A * mean + c, A * A * var + B
    return math.hypot(mean, math.sqrt(var) - math.sqrt(s2(delta)))


def _gaussian_params(name, sigma2, T, delta, shift=0.0):
    L = max(1 / (1 + (sigma2 - 1) * math.exp(-2 * t)) for t in (delta, T))
    p = dict(
        d=1, L=L, T=T, delta=delta, alpha=1 / sigma2, W0=abs(math.sqrt(sigma2) - 1), eps_s=abs(shift), M=0, m2=sigma2
    )
    return {k: v for k, v in p.items() if k in th(name).symbols}


@pytest.mark.parametrize("name", ["pf_ode_ei_w2", "sde_ei_w2", "sde_em_w2"])
@pytest.mark.parametrize("sigma2", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("T,delta,N,shift", [(5.0, 0.01, 100, 0.0), (3.0, 0.1, 30, 0.0), (4.0, 0.02, 60, 0.05)])
def test_w2_bound_dominates_exact_gaussian_error(name, sigma2, T, delta, N, shift):
    bound = th(name).error_bound(N=N, **_gaussian_params(name, sigma2, T, delta, shift))
    exact = _exact_gaussian_w2(name, sigma2, T, delta, N, shift)
    # rel. 1e-12 slack only for the float simulation: for sigma2 = 1 with a
    # constant score error the ODE bound is attained exactly.
    assert bound >= exact * (1 - 1e-12)


@pytest.mark.parametrize("name", ["pf_ode_ei_w2", "sde_ei_w2", "sde_em_w2"])
def test_w2_bound_not_vacuous_on_1d_gaussian(name):
    # the brief's benchmark: 1-d standard-ish Gaussian, L <= 2, T = 5, N = 100
    p = _gaussian_params(name, 0.5, 5.0, 0.01)
    assert p["L"] <= 2
    assert th(name).error_bound(N=100, **p) < 1.0
    # first order in h: 10x the steps gives ~10x smaller bound (W0 term is e^-5 small)
    ratio = th(name).error_bound(N=100, **p) / th(name).error_bound(N=1000, **p)
    assert 7 < ratio < 11


def test_pf_ode_bound_is_exact_for_standard_gaussian():
    # L = alpha = 1, M = W0 = 0: the ODE is stationary and the scheme exact.
    t = th("pf_ode_ei_w2")
    assert t.error_bound(N=10, d=5, L=1, T=5, delta=0.01, alpha=1, W0=0, M=0, eps_s=0) == 0.0
    assert _exact_gaussian_w2("pf_ode_ei_w2", 1.0, 5.0, 0.01, 10) < 1e-15


# --------------------------------------------------------------------------
# Lee-Song-Vempala collocation matrix
# --------------------------------------------------------------------------
@pytest.mark.parametrize("D", [1, 3, 6, 10])
def test_integrated_lagrange_matrix_integrates_polynomials_exactly(D):
    A = integrated_lagrange_matrix(D)
    c = chebyshev_nodes(D, 30 + D)
    with mpmath.workdps(30):
        for k in range(D + 1):
            for j in range(D + 1):
                got = mpmath.fsum(A[j, i] * c[i] ** k for i in range(D + 1))
                assert abs(got - c[j] ** (k + 1) / (k + 1)) < mpmath.mpf(10) ** -25


def test_lagrange_inf_norm_values_and_contraction():
    assert abs(lagrange_inf_norm(0) - mpmath.mpf(1) / 2) < 1e-20  # one node at 1/2
    norms = [lagrange_inf_norm(D) for D in (1, 2, 4, 8, 16)]
    # rows integrate the partition of unity: ||A||_inf >= max_j c_j, and >= rows' sums
    for D, a in zip((1, 2, 4, 8, 16), norms):
        assert a >= max(chebyshev_nodes(D))
        assert a < 2
    t = th("lee_song_vempala")
    good = dict(L=1.0, h=0.5, A_inf=float(lagrange_inf_norm(8)), C=1.0, E0=1.0, rho=10.0, D=8)
    assert t.error_bound(N=90, **good) < t.error_bound(N=45, **good)
    with pytest.raises(ValueError, match="contraction"):
        t.error_bound(N=90, **dict(good, h=1.2))


def test_lee_song_vempala_geometric_decay_in_degree():
    # with E0 -> 0 only the collocation term h C rho^-D / (1 - q) remains
    t = th("lee_song_vempala")
    base = dict(L=1.0, h=0.5, A_inf=0.99, C=1.0, E0=1e-300, rho=7.0, N=10**6)
    errs = [t.error_bound(D=D, **base) for D in (4, 5, 6)]
    assert errs[1] / errs[0] == pytest.approx(1 / 7, rel=1e-12)
    assert errs[2] / errs[1] == pytest.approx(1 / 7, rel=1e-12)


def test_lee_song_vempala_counts_whole_sweeps():
    """The inverse rounds up to whole sweeps: 14 evaluations at D = 4 were 2 sweeps where 2.8 were needed."""
    t = th("lee_song_vempala")
    vals = dict(L=1.0, h=0.1, A_inf=float(lagrange_inf_norm(4)), C=1e-6, rho=3.0, D=4, E0=1.0)
    n = t.step_count(eps=3e-3, **vals)
    assert n % 5 == 0 and t.error_bound(N=n, **vals) <= 3e-3


def test_placeholders_say_why():
    for name in ("collocation_gcs_shape", "gupta_cai_chen", "gupta_cai_chen_parallel", "lee_song_vempala", "shen_lee"):
        t = th(name)
        assert not t.certified and len(t.placeholder_reason) > 40, name
    assert "L-infinity" in " ".join(th("gupta_cai_chen").assumptions)


def test_step_counts_past_two_to_the_53_evaluate_and_meet_eps():
    """A step count above 2^53 was converted to 53 bits (no longer an integer: refused), and at 96 bits the bound's
    ``e^h - 1 - h`` with ``h`` near 1e-18 left it 10^14 times too wide; wide integers now convert exactly and a wide
    result is evaluated again at higher precision, so the count's bound meets eps."""
    from proofs.core import lower, to_interval, upper

    n = 2**64 + 1
    x = to_interval(n)
    assert lower(x) == upper(x) == n
    theorem = proofs.get("randomized_midpoint_ms")
    values = dict(T=20, delta=1e-3, L=0.1, mu=3, G0=0.1, G1=0.1)
    steps = theorem.step_count(eps=1, **values)
    assert steps > 2**53 and theorem.error_bound(N=steps, **values) <= 1


def test_nfe_for_accuracy_tries_its_cap():
    """Doubling from 1 jumped from 4096 past the cap 7200 and reported the bound at 7200 (below eps) as unreachable;
    the cap is now tried, so the count needed (7096) comes back for the caller to compare with its step budget."""
    from certsample.verify.parameters import nfe_for_accuracy

    theorem = proofs.get("sde_em_w2")
    values = dict(L=3.7757, T=4.0, W0=1.29, alpha=0.5, d=2, delta=0.01, eps_s=0.0, m2=3.5)
    needed = nfe_for_accuracy(theorem, values, 0.05, 10**6)
    assert nfe_for_accuracy(theorem, values, 0.05, 1800) == needed
    assert theorem.error_bound(N=needed, **values) <= 0.05 < theorem.error_bound(N=needed - 1, **values)
