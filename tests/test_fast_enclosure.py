"""The compiled float64 enclosures: the interval kernels against mpmath, the integrator against closed forms and
against the independent Arb path on the same trajectories, bad input, and a failure that names time, box and step."""

import math

import mpmath as mp
import numpy as np
import pytest

import certsample as cs
from certsample.kernels.jit import compile_for
from certsample.verify import EnclosureFailed, enclose_flow
from certsample.verify import fast_enclosure as fe
from certsample.verify import interval as iv
from certsample.verify.flows import enclose_flows

RNG = np.random.default_rng(20260)


def _compiled(name):
    return compile_for(getattr(iv, name), "cpu")


def _edge_points():
    tiny = [5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-20, 1e-8]
    return np.array(tiny + [-x for x in tiny] + [0.0, 1.0, -1.0, 0.5, 3.0, 1e10, -1e10, 1.7e308, -1.7e308])


def test_widening_is_at_least_nextafter_and_at_most_two_ulps():
    up, down = _compiled("next_up"), _compiled("next_down")
    xs = np.concatenate([_edge_points(), RNG.standard_normal(2000) * 10.0 ** RNG.integers(-300, 300, 2000)])
    for x in xs:
        u, d = up(x), down(x)
        assert np.nextafter(x, np.inf) <= u <= np.nextafter(np.nextafter(np.nextafter(x, np.inf), np.inf), np.inf)
        assert np.nextafter(x, -np.inf) >= d >= np.nextafter(np.nextafter(np.nextafter(x, -np.inf), -np.inf), -np.inf)


def test_overflow_gives_no_nan_endpoint_and_nan_is_not_dropped():
    """An overflowed sum widens to ``[DBL_MAX, inf]`` (``[-inf, -DBL_MAX]``), not a NaN endpoint that a later ``fmin``
    or ``fmax`` could drop; products of such intervals still contain the exact products; NaN into log gives NaN."""
    up, down = _compiled("next_up"), _compiled("next_down")
    iadd, imul, log_b = _compiled("iadd"), _compiled("imul"), _compiled("log_bounds")
    big = np.finfo(float).max
    assert up(-np.inf) == -big and down(np.inf) == big and np.isnan(up(np.nan)) and np.isnan(down(np.nan))
    assert iadd(1e308, 1e308, 1e308, 1e308) == (big, np.inf)
    assert iadd(-1e308, -1e308, -1e308, -1e308) == (-np.inf, -big)
    lo, hi = imul(1.0, 3.0, *iadd(-1e308, -1e308, -1e308, -1e308))  # exact: [-6e308, -2e308] less a little
    assert lo == -np.inf and hi <= -1e308
    lo, hi = imul(0.0, 2.0, *iadd(1e308, 1e308, 1e308, 1e308))  # the corner 0 * inf is NaN; its exact value 0 stays
    assert lo <= 0.0 and hi == np.inf
    assert all(np.isnan(log_b(2.0, np.nan))) and all(np.isnan(log_b(np.nan, np.nan)))
    imag = _compiled("imag")
    assert np.isnan(imag(2.0, np.nan)) and np.isnan(imag(np.nan, 2.0)) and imag(-3.0, 2.0) == 3.0


def test_a_nan_corner_of_a_product_or_quotient_drops_only_itself():
    """A corner ``0 * inf`` or ``inf / inf`` is NaN; the hull of the corners used to pair them, and a NaN third corner
    then dropped the fourth with it: ``[0, inf] [0, 1]`` came out ``[-5e-324, 5e-324]``. Every exact value named lies
    in the result now (or an endpoint is NaN, which the integrator refuses)."""
    imul, idiv, exp_b, sqr = _compiled("imul"), _compiled("idiv"), _compiled("exp_bounds"), _compiled("isqr")
    inf = np.inf
    cases = [
        (imul(0.0, inf, 0.0, 1.0), [0.0, 1e300]),
        (imul(*exp_b(-1.0, 800.0), 0.0, 1.0), [0.0, 1e300]),
        (imul(*exp_b(-800.0, 800.0), *sqr(-1.0, 1.0)), [0.0, 1e300]),
        (imul(-1.0, 0.0, -inf, -1.0), [0.0, 0.5, 1e300]),
        (idiv(1.0, inf, -inf, -1.0), [-1e10, -1.0, -1e-300]),
        (idiv(1.0, inf, 1.0, inf), [1e-300, 1.0, 1e300]),
    ]
    for (lo, hi), values in cases:
        assert np.isnan(lo) or np.isnan(hi) or all(lo <= v <= hi for v in values), (lo, hi, values)
    add_product = compile_for(fe._add_product, "cpu")
    lo, _, _, _ = add_product(0.0, inf, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    _, hi, _, _ = add_product(0.0, inf, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    assert lo <= 0.0 and hi == inf


def test_interval_operations_contain_the_exact_results():
    ops = {name: _compiled(name) for name in ("iadd", "isub", "imul", "idiv")}
    exact = {
        "iadd": lambda a, b: a + b,
        "isub": lambda a, b: a - b,
        "imul": lambda a, b: a * b,
        "idiv": lambda a, b: a / b,
    }
    sqr, sqrt = _compiled("isqr"), _compiled("isqrt")
    with mp.workprec(300):
        for _ in range(400):
            a = np.sort(RNG.standard_normal(2) * 10.0 ** RNG.integers(-5, 5))
            b = np.sort(RNG.standard_normal(2) * 10.0 ** RNG.integers(-5, 5))
            pts_a = [a[0], a[1], 0.5 * (a[0] + a[1])]
            pts_b = [b[0], b[1], 0.5 * (b[0] + b[1])]
            for name, op in ops.items():
                lo, hi = op(a[0], a[1], b[0], b[1])
                assert lo <= hi
                for x in pts_a:
                    for y in pts_b:
                        if name == "idiv" and b[0] <= 0 <= b[1]:
                            continue
                        value = exact[name](mp.mpf(x), mp.mpf(y))
                        assert lo <= value <= hi, (name, a, b, x, y)
            lo, hi = sqr(a[0], a[1])
            for x in pts_a + ([0.0] if a[0] < 0 < a[1] else []):
                assert lo <= mp.mpf(x) ** 2 <= hi
            lo, hi = sqrt(abs(a[0]), abs(a[0]) + abs(a[1]))
            assert lo <= mp.sqrt(mp.mpf(abs(a[0]))) and mp.sqrt(mp.mpf(abs(a[0]) + abs(a[1]))) <= hi


def test_exp_and_log_bounds_against_mpmath_at_many_points():
    exp_b, log_b = _compiled("exp_bounds"), _compiled("log_bounds")
    xs = np.concatenate(
        [
            RNG.uniform(-745, 709, 4000),
            RNG.uniform(-1, 1, 2000),
            RNG.standard_normal(500) * 1e-12,
            [0.0, -0.0, 1e-300, -707.5, -708.0, -745.0, 709.0, 0.34657359, -0.34657359, 1.0],
        ]
    )
    worst = 0.0
    with mp.workprec(200):
        for x in xs:
            lo, hi = exp_b(x, x)
            value = mp.exp(mp.mpf(x))
            assert lo <= value <= hi, x
            if 1e-300 < value < 1e300:
                worst = max(worst, float((mp.mpf(hi) - lo) / value))
        assert worst < 1e-14
        assert exp_b(-1e10, -1e10) == (0.0, 5e-324)
        assert exp_b(800.0, 800.0)[1] == math.inf
        ys = np.concatenate(
            [
                np.exp(RNG.uniform(-700, 700, 3000)),
                RNG.uniform(0.5, 2, 2000),
                [1.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.7071067811865476],
            ]
        )
        worst = 0.0
        for y in ys:
            lo, hi = log_b(y, y)
            value = mp.log(mp.mpf(y))
            assert lo <= value <= hi, y
            if value != 0:
                worst = max(worst, float((mp.mpf(hi) - lo) / abs(value)))
        assert worst < 1e-14
    assert log_b(0.0, 1.0)[0] == -math.inf


def test_the_constants_of_the_kernel_proofs():
    """The split of ln 2 and the error budgets of exp_bounds and log_bounds, evaluated with mpmath.iv."""
    with mp.workprec(200):
        residual = mp.log(2) - mp.mpf(iv.LN2_HI) - mp.mpf(iv.LN2_LO)
        assert iv.LN2_RES_LO <= residual <= iv.LN2_RES_HI
    assert float(iv.LN2_HI).hex().endswith("00000p-1")  # 21 trailing zero bits: k LN2_HI is exact for |k| < 2^21
    ivm = mp.iv
    ivm.prec = 100
    u = ivm.mpf(2) ** -53
    rho = ivm.mpf(iv.EXP_R_MAX)
    gamma = [ivm.mpf(k) * u / (1 - ivm.mpf(k) * u) for k in range(40)]
    horner = sum(gamma[2 * n + 1] * (1 + u) * rho**n / mp.factorial(n) for n in range(14))
    coefficients = u * sum(rho**n / mp.factorial(n) for n in range(3, 14))
    truncation = rho**14 * ivm.exp(rho) / mp.factorial(14)
    exp_error = (horner + coefficients + truncation) / ivm.exp(-rho)
    assert exp_error.b <= iv.EXP_REL
    assert ivm.mpf(0.5) * ivm.log(2) * (1 + ivm.mpf(2) ** -40) <= rho  # |r| after reduction
    z = ivm.mpf(iv.LOG_S_MAX) ** 2
    log_error = (u / (1 - z) * (1 + gamma[30]) + ivm.mpf(0.35) * u * z + u + u + z**11 / (23 * (1 - z))) * (
        1 + ivm.mpf(1e-14)
    )
    assert log_error.b <= iv.LOG_REL
    s_max = (ivm.sqrt(2) - 1) / (ivm.sqrt(2) + 1)  # m in [1/sqrt 2, sqrt 2)
    assert s_max.b * (1 + 1e-12) <= iv.LOG_S_MAX


def _arb_and_fast(target, x0, T, delta, arb_tol, fast_tol):
    fast = enclose_flows(target, x0, T, delta, tol=fast_tol, fallback=False)
    arb = [enclose_flow(target, x, T, delta, tol=arb_tol) for x in x0]
    return fast, arb


@pytest.mark.parametrize("name", ["ring", "unequal"])
def test_fast_balls_contain_the_arb_centers_and_the_arb_balls_contain_the_fast_centers(name):
    if name == "ring":
        target = cs.ring_mixture(n_modes=4, radius=3.0)
    else:  # per-component and per-coordinate variances: the general path of the series
        target = cs.gaussian_mixture(
            [[1.5, 0.0], [-1.0, 1.0], [0.2, -1.4]], [[0.2, 0.5], [0.6, 0.3], [0.4, 0.4]], [0.3, 0.5, 0.2]
        )
    T, delta = 1.5, 0.1
    x0 = target.law_at(T).sample(2, seed=4)
    fast, arb = _arb_and_fast(target, x0, T, delta, arb_tol=1e-14, fast_tol=1e-6)
    assert np.all(fast.method == "float64")
    for p, enc in enumerate(arb):
        assert enc.radius < 1e-12 and fast.radii[p] < 1e-5
        # the Arb ball is tiny: its center is the exact image to 1e-12, and must lie in the fast ball
        assert np.linalg.norm(enc.center - fast.centers[p]) <= fast.radii[p] + enc.radius
    tight, loose = _arb_and_fast(target, x0, T, delta, arb_tol=1e-6, fast_tol=1e-12)
    for p, enc in enumerate(loose):
        assert tight.radii[p] < 1e-10 and tight.radii[p] < enc.radius
        assert np.linalg.norm(tight.centers[p] - enc.center) <= enc.radius + tight.radii[p]
        # and the two tight balls agree to their radii
        assert np.linalg.norm(tight.centers[p] - arb[p].center) <= tight.radii[p] + arb[p].radius


@pytest.mark.parametrize("name", ["separated", "four-dimensional", "four-dimensional, one variance"])
def test_pruned_components_and_the_gershgorin_log_norm_agree_with_arb(name):
    """Modes far apart (components are left out of the series near the end, with their bound) and k = 4
    (the log-norm's Gershgorin bound on the components' Gram matrix; with one variance, the exponents in lanes over
    the components and centred in time), against the Arb path."""
    if name == "separated":
        target, T, delta, count = cs.gaussian_mixture([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]], 0.3), 2.0, 0.02, 2
    elif name == "four-dimensional, one variance":
        means = [[1.0, 0.0, -0.5, 0.3], [-1.0, 0.5, 0.0, -0.2], [0.2, -0.8, 0.6, 0.1]]
        target, T, delta, count = cs.gaussian_mixture(means, 0.3, [0.2, 0.5, 0.3]), 1.0, 0.2, 1
    else:
        target = cs.gaussian_mixture(
            [[1.0, 0.0, -0.5, 0.3], [-1.0, 0.5, 0.0, -0.2]], [[0.3, 0.6, 0.9, 0.5], [0.5, 0.4, 0.2, 0.7]]
        )
        T, delta, count = 1.0, 0.2, 1
    x0 = target.law_at(T).sample(2, seed=8)[:count]
    fast = enclose_flows(target, x0, T, delta, tol=1e-8, fallback=False)
    for p, x in enumerate(x0):
        enc = enclose_flow(target, x, T, delta, tol=1e-13)
        assert fast.radii[p] < 1e-8 and enc.radius < 1e-12
        assert np.linalg.norm(fast.centers[p] - enc.center) <= fast.radii[p] + enc.radius


def _posterior(target, y, t):
    """``(r, G, v)`` of the mixture at ``(y, t)`` in float64: the responsibilities ``r_c``, the components' scores
    ``G_c = -(y - a mu_c) / v_c`` and their variances ``v_c``."""
    a = math.exp(-t)
    v = 1 + (target.variances - 1) * a * a
    d = y - a * target.means
    logs = np.log(target.weights) - 0.5 * ((d * d) / v + np.log(v)).sum(axis=1)
    r = np.exp(logs - logs.max())
    return r / r.sum(), -d / v, v


def _jacobian_lambda_max(target, y, t):
    """``lambda_max`` of ``I + Hess log q_t(y)`` (``I - sum_c r_c D_c^{-1} + Cov_r(G)``), float64 by eigvalsh."""
    r, g, v = _posterior(target, y, t)
    dev = g - r @ g
    jac = np.eye(len(y)) - np.diag(r @ (1 / v)) + dev.T @ (dev * r[:, None])
    return np.linalg.eigvalsh(jac)[-1]


def _log_norm_over_box(model, centre, width, t_lo, t_hi, star):
    """The kernel's log-norm over the box ``centre +- width`` and ``[t_lo, t_hi]`` as ``enclose_particle`` computes it
    (an order-1 series over the box, then :func:`~.fast_enclosure._box_log_norm`)."""
    LO, HI, off, vec, jmask, active = model.scratch(4, 1)
    LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
    k = len(centre)
    LO[0, off[fe.R_Y] : off[fe.R_Y] + k], HI[0, off[fe.R_Y] : off[fe.R_Y] + k] = centre - width, centre + width
    means, vidx, lams, lwd, logw, shared, gj = model.arrays
    series = compile_for(fe._series, "cpu", nrt=False)
    assert series(1, t_lo, t_hi, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask)
    box_log_norm = compile_for(fe._box_log_norm, "cpu", nrt=False)
    return box_log_norm(t_hi, star, active, means, vidx, lams, lwd, shared, gj, jmask, LO, HI, off, vec)


def test_the_log_norm_bounds_lambda_max_over_its_box_and_is_tight_where_one_component_holds():
    """Every coordinate's variances differ (6-d, 3 components): the bound lies above ``lambda_max`` of the Jacobian at
    sample points of the box and time interval, mixed or not; where one component holds the posterior it is within
    0.02 of the largest sampled value (with the centre ``p = G_*``; the constant centre alone gave 0.12 above it)."""
    rng = np.random.default_rng(5)
    target = cs.gaussian_mixture(3.0 * rng.standard_normal((3, 6)), 0.2 + 0.8 * rng.random((3, 6)))
    model = fe.FastModel(target)
    for t_hi, width in ((0.5, 0.1), (2.5, 0.02)):
        t_lo = t_hi - 0.02
        a = math.exp(-t_hi)
        centre = a * target.means[0] + np.sqrt(1 + (target.variances[0] - 1) * a * a) * rng.standard_normal(6) * 0.5
        mu = _log_norm_over_box(model, centre, width, t_lo, t_hi, star=0)
        sampled = max(
            _jacobian_lambda_max(target, centre + rng.uniform(-width, width, 6), rng.uniform(t_lo, t_hi))
            for _ in range(300)
        )
        assert mu >= sampled - 1e-9
        if t_hi == 0.5:  # component 0 holds the posterior
            assert mu <= sampled + 0.02, (mu, sampled)


def _pruned_change(target, y, t, keep):
    """``|F - F_p|`` at ``(y, t)``: ``F = y + grad log q_t`` of the mixture, ``F_p`` that of its components ``keep``
    (reweighted), as ``sum_{c not kept} r_c (g_c - s_p)`` (``g_c = -(y - a mu_c) / v_c``, ``s_p`` the kept ones' score),
    so that it is not lost to cancellation."""
    r, g, _ = _posterior(target, y, t)
    kept = np.zeros(len(r), dtype=bool)
    kept[keep] = True
    s_p = (r[kept] / r[kept].sum()) @ g[kept]
    return np.linalg.norm((r[~kept] / r.sum()) @ (g[~kept] - s_p))


def test_the_pruning_bound_holds_over_its_box():
    """The pruning reads the log-norm's ``x_{c,i}`` (``G_{c,i} - G_{*,i}`` over the box, every coordinate's variances
    differing): the components it leaves out change the drift by at most its ``Delta`` at sample points of the box
    and time interval."""
    rng = np.random.default_rng(9)
    means = np.vstack([np.zeros(6), 0.4 + rng.random((1, 6)), 6.0 + rng.random((1, 6)), -6.0 - rng.random((1, 6))])
    target = cs.gaussian_mixture(means, 0.2 + 0.8 * rng.random((4, 6)), [0.4, 0.2, 0.2, 0.2])
    model = fe.FastModel(target)
    means_, vidx, lams, lwd, logw, shared, gj = model.arrays
    t_hi, t_lo, width, h = 0.5, 0.48, 0.05, 0.02
    centre = 0.3 * rng.standard_normal(6)
    LO, HI, off, vec, jmask, active = model.scratch(4, 1)
    LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
    LO[0, off[fe.R_Y] : off[fe.R_Y] + 6], HI[0, off[fe.R_Y] : off[fe.R_Y] + 6] = centre - width, centre + width
    series = compile_for(fe._series, "cpu", nrt=False)
    assert series(1, t_lo, t_hi, 0, active, means_, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask)
    box_log_norm = compile_for(fe._box_log_norm, "cpu", nrt=False)
    mu = box_log_norm(t_hi, 0, active, means_, vidx, lams, lwd, shared, gj, jmask, LO, HI, off, vec)
    prune = compile_for(fe._prune, "cpu", nrt=False)
    bound = prune(h, 1e-6, mu, 0, active, means_, vidx, shared, gj, LO, HI, off, vec)
    keep = np.flatnonzero(active)
    assert 0 < bound < 1e-6 and list(keep) == [0, 1]  # the far components left out, the near one kept
    samples = ((centre + rng.uniform(-width, width, 6), rng.uniform(t_lo, t_hi)) for _ in range(300))
    worst = max(_pruned_change(target, y, t, keep) for y, t in samples)
    assert 0 < worst <= bound, (worst, bound)


def test_recentred_exponents_are_those_of_a_series_call_centred_in_time():
    """:func:`~.fast_enclosure._recentre_exponents` after a plain order-1 series leaves the order-0 rows of the
    exponents, ``u``, ``Z`` and ``R`` exactly as the same series with ``centre`` set does; and a series that then
    takes those centred rows (``CENTRE_KEPT``, as the Taylor step after the log-norm) equals one that computes them,
    every coefficient to the bit, also with a component pruned after the recentring."""
    rng = np.random.default_rng(6)
    target = cs.gaussian_mixture(rng.standard_normal((4, 5)), 0.2 + 0.8 * rng.random((4, 5)))
    model = fe.FastModel(target)
    means, vidx, lams, lwd, logw, shared, gj = model.arrays
    series = compile_for(fe._series, "cpu", nrt=False)
    recentre = compile_for(fe._recentre_exponents, "cpu", nrt=False)
    centre, t_lo, t_hi = 0.4 * rng.standard_normal(5), 1.2, 1.25
    rows, taylor = [], []
    for centred in (False, True):
        LO, HI, off, vec, jmask, active = model.scratch(6, 1)
        LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
        LO[0, off[fe.R_Y] : off[fe.R_Y] + 5], HI[0, off[fe.R_Y] : off[fe.R_Y] + 5] = centre - 0.03, centre + 0.03
        arrays = (means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask)
        assert series(1, t_lo, t_hi, 1, active, *arrays, fe.CENTRE * centred)
        if not centred:
            assert recentre(t_hi, 1, active, means, vidx, lams, lwd, shared, jmask, LO, HI, off, vec)
        pick = np.r_[off[fe.R_L] : off[fe.R_L] + 4, off[fe.R_U] : off[fe.R_U] + 4, off[fe.R_Z], off[fe.R_R]]
        rows.append((LO[0, pick].copy(), HI[0, pick].copy()))
        # the Taylor step's series: rows kept from the recentring, or (the second pass) computed in the call
        active[3] = 0
        assert series(5, t_lo, t_hi, 1, active, *arrays, fe.CENTRE_KEPT if not centred else fe.CENTRE)
        kept = np.r_[off[fe.R_Y] : off[fe.R_Y] + 5, off[fe.R_L] : off[fe.R_L] + 3, off[fe.R_U] : off[fe.R_U] + 3]
        taylor.append((LO[:6, kept].copy(), HI[:6, kept].copy()))  # y, and l and u of the active components
    assert np.array_equal(rows[0][0], rows[1][0]) and np.array_equal(rows[0][1], rows[1][1])
    assert np.all(rows[0][0] <= rows[0][1])
    assert np.array_equal(taylor[0][0], taylor[1][0]) and np.array_equal(taylor[0][1], taylor[1][1])


def test_a_taylor_step_without_the_log_norm_computes_the_centred_exponents_it_would_have_kept():
    """In more than three coordinates the Taylor step's series takes the exponents centred in time that the log-norm
    left (``R_LCEN``); called after an a-priori box without the log-norm (as a benchmark did), it read zeroed rows, the
    exponents came out inverted (``[0, -13.5]``) and the remainder 1e15 times too large. The rows are now keyed: the
    step computes them where they are not there, and gets the driver order's remainder to the bit."""
    rng = np.random.default_rng(8)
    target = cs.gaussian_mixture(2 * rng.standard_normal((5, 6)), 0.2 + 0.8 * rng.random((5, 6)))
    model = fe.FastModel(target)
    means, vidx, lams, lwd, logw, shared, gj = model.arrays
    apriori = compile_for(fe._a_priori_box, "cpu", nrt=False)
    log_norm = compile_for(fe._box_log_norm, "cpu", nrt=False)
    taylor = compile_for(fe._taylor_step, "cpu", nrt=False)
    t, h, order = 1.0, 0.01, 8
    c = target.law_at(t).sample(1, seed=3)[0]
    star = compile_for(fe._reference_component, "cpu", nrt=False)(c, t, means, vidx, lams, logw)
    remainders = []
    for with_log_norm in (True, False):
        LO, HI, off, vec, jmask, active = model.scratch(order, 1)
        LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
        vec[fe.V_C, :6], vec[fe.V_XL, :6], vec[fe.V_XH, :6] = c, np.nextafter(c, -1e9), np.nextafter(c, 1e9)
        active[:] = 1
        rest = (star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask)
        assert apriori(h, t - h, t, *rest)
        if with_log_norm:
            assert np.isfinite(log_norm(t, star, active, means, vidx, lams, lwd, shared, gj, jmask, LO, HI, off, vec))
        remainders.append(taylor(order, h, h, t - h, t, *rest)[0])
        rows = np.r_[off[fe.R_L] : off[fe.R_L] + 5]
        assert np.all(LO[0, rows] <= HI[0, rows])
    assert np.isfinite(remainders[0]) and remainders[1] == remainders[0]


def test_collatz_wielandt_bounds_the_spectral_radius_below_gershgorin():
    """The log-norm's bound on ``lambda_max`` of the components' Gram matrix: above the spectral radius of every
    ``M`` with ``|M| <= B``, at most Gershgorin's row sums, and near the Perron root of ``B`` where one row is
    much larger (a component of small weight far from the others)."""
    bound = compile_for(fe._collatz_wielandt, "cpu", nrt=False)
    for K in (1, 2, 5, 16):
        for _ in range(20):
            m = RNG.standard_normal((K, K))
            m = m + m.T
            b = np.abs(m) * (1 + RNG.random((K, K)))
            value = bound(b.ravel().copy(), K, np.empty(K), np.empty(K))
            assert value >= np.max(np.abs(np.linalg.eigvals(b))) >= np.max(np.abs(np.linalg.eigvalsh(m)))
            assert value <= np.max(b.sum(axis=1)) * (1 + 1e-15)
    b = np.array([[1.0, 0.3], [0.3, 0.01]])  # rows 1.3 and 0.31; Perron root 1.0886
    perron = np.max(np.linalg.eigvalsh(b))
    assert perron <= bound(b.ravel().copy(), 2, np.empty(2), np.empty(2)) <= perron * (1 + 1e-6)
    assert bound(np.zeros(4), 2, np.empty(2), np.empty(2)) == 0.0
    assert bound(np.array([1.0, np.nan, 0.5, 1.0]), 2, np.empty(2), np.empty(2)) == math.inf
    # B w underflows to 0 in the power iteration (found by a cold review: the weights became NaN and the bound 0)
    tiny = 2.0**-1074
    for b in ([0.0, 1e-320, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, tiny], [0.0, tiny, 3 * tiny, 0.0, tiny, 0.0, 0.0, tiny, 0.0]):
        assert bound(np.array(b), 3, np.empty(3), np.empty(3)) >= tiny


def test_more_components_than_coordinates_agree_with_arb():
    """K = 5 components in k = 4 coordinates (the log-norm's K x K bound matrix is larger than a coordinate
    block of its scratch), against the Arb path."""
    rng = np.random.default_rng(4)
    target = cs.gaussian_mixture(rng.normal(size=(5, 4)), 0.2 + 0.8 * rng.random((5, 4)))
    T, delta = 1.0, 0.3
    x0 = target.law_at(T).sample(1, seed=2)
    fast = enclose_flows(target, x0, T, delta, tol=1e-8, fallback=False)
    enc = enclose_flow(target, x0[0], T, delta, tol=1e-12)
    assert fast.radii[0] < 1e-8 and enc.radius < 1e-11
    assert np.linalg.norm(fast.centers[0] - enc.center) <= fast.radii[0] + enc.radius


def _mp_gaussian_flow(mean, lam, x, t_from, t_to):
    with mp.workdps(40):
        out = []
        for m, l, xi in zip(mean, lam, x):
            v0 = 1 + (mp.mpf(l) - 1) * mp.exp(-2 * mp.mpf(t_from))
            v1 = 1 + (mp.mpf(l) - 1) * mp.exp(-2 * mp.mpf(t_to))
            out.append(mp.exp(-mp.mpf(t_to)) * m + mp.sqrt(v1 / v0) * (mp.mpf(xi) - mp.exp(-mp.mpf(t_from)) * m))
        return out


def _mp_distance(center, exact):
    with mp.workdps(40):
        return mp.sqrt(sum((mp.mpf(float(c)) - e) ** 2 for c, e in zip(center, exact)))


def test_gaussian_closed_form_and_a_mixture_of_identical_components_match_the_exact_flow():
    mean, lam = np.array([0.5, -1.0, 2.0]), np.array([0.3, 1.7, 0.05])
    T, delta = 4.0, 0.02
    gauss = cs.gaussian_mixture(mean[None, :], lam[None, :])
    # two identical components: the integrator's path, whose exact flow is the Gaussian closed form
    twins = cs.gaussian_mixture(np.stack([mean, mean]), np.stack([lam, lam]), [0.3, 0.7])
    x0 = gauss.law_at(T).sample(4, seed=5)
    closed = enclose_flows(gauss, x0, T, delta, tol=1e-12)
    integrated = enclose_flows(twins, x0, T, delta, tol=1e-10, fallback=False)
    assert np.all(closed.steps == 0) and np.all(integrated.steps > 0)
    for p in range(len(x0)):
        exact = _mp_gaussian_flow(mean, lam, x0[p], T, delta)
        assert closed.radii[p] < 1e-14 and _mp_distance(closed.centers[p], exact) <= closed.radii[p]
        assert integrated.radii[p] < 1e-9 and _mp_distance(integrated.centers[p], exact) <= integrated.radii[p]
        shifted = integrated.centers[p] + np.array([2 * integrated.radii[p] + 1e-15, 0.0, 0.0])
        assert _mp_distance(shifted, exact) > integrated.radii[p]  # the ball is not vacuous


def test_subspace_target_lifts_the_k_dimensional_ball():
    sub = cs.make_target("subspace", dim=8)
    T, delta = 2.0, 0.1
    x0 = sub.law_at(T).sample(2, seed=6)
    fast = enclose_flows(sub, x0, T, delta, tol=1e-10, fallback=False)
    for p in range(2):
        enc = enclose_flow(sub, x0[p], T, delta, tol=1e-13)
        assert np.linalg.norm(enc.center - fast.centers[p]) <= enc.radius + fast.radii[p]
        assert fast.radii[p] < 1e-8


def test_error_bounds_bracket_the_distance_to_the_exact_image():
    target = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = target.law_at(1.0).sample(3, seed=7)
    fast = enclose_flows(target, x0, 1.0, 0.1, tol=1e-10)
    samples = fast.centers + 1e-3
    lower, upper = fast.error_bounds(samples)
    exact_gap = np.linalg.norm(samples - fast.centers, axis=1)
    assert np.all(lower <= exact_gap) and np.all(exact_gap <= upper)
    assert np.all(upper - lower <= 2 * fast.radii + 1e-15)
    assert fast[1].contains(fast.centers[1]) and len(fast) == 3


def test_lane_convolutions_are_the_scalar_ones_to_the_bit():
    """``_lanes_conv_from`` and ``_lanes_conv`` perform ``_conv_from``'s and ``_conv``'s operations lane by lane, so
    their proofs apply to each lane."""
    order, lanes = 9, 11
    rows = 2 * lanes
    mid = RNG.normal(size=(order + 1, rows)) * 10.0 ** RNG.integers(-200, 3, size=(order + 1, rows))
    rad = np.abs(mid) * 10.0 ** RNG.integers(-16, 0, size=mid.shape)
    LO, HI = mid - rad, mid + rad
    vec = np.zeros((fe.N_VEC_ROWS, lanes))
    scalar = compile_for(fe._conv_from, "cpu", nrt=False)
    lanes_conv = compile_for(fe._lanes_conv_from, "cpu", nrt=False)
    plain, lanes_plain = compile_for(fe._conv, "cpu", nrt=False), compile_for(fe._lanes_conv, "cpu", nrt=False)
    for n in range(1, order + 1):
        for first, weighted in [(0, False), (1, False), (1, True)]:
            expected = [scalar(LO, HI, r, lanes + r, n, first, weighted) for r in range(lanes)]
            L2, H2 = LO.copy(), HI.copy()
            lanes_conv(L2, H2, 0, lanes, n, first, weighted, lanes, vec, lanes)
            got = list(zip(L2[n, lanes:], H2[n, lanes:]))
            assert [(float(a), float(b)) for a, b in got] == [(float(a), float(b)) for a, b in expected]
            assert np.array_equal(L2[:n], LO[:n]) and np.array_equal(L2[n + 1 :], LO[n + 1 :])
        expected = [plain(LO, HI, r, lanes + r, n) for r in range(lanes)]
        L2, H2 = LO.copy(), HI.copy()
        lanes_plain(L2, H2, 0, lanes, n, lanes, vec, lanes)
        assert [(float(a), float(b)) for a, b in zip(L2[n, lanes:], H2[n, lanes:])] == [
            (float(a), float(b)) for a, b in expected
        ]


def test_shared_exponents_in_lanes_are_the_per_component_sums_to_the_bit():
    """Where every coordinate is shared, the exponents ``l_c - l_*`` of every order, formed in lanes over the
    components from the constant rows laid out by coordinate, are the scalar sums over the coordinates of
    ``dmu Q - dmu^2 Q0 / 2`` (the same interval operations in the same order), component by component."""
    rng = np.random.default_rng(5)
    target = cs.point_cloud(rng.standard_normal((11, 3)))
    model = fe.FastModel(target)
    K, k = model.means.shape
    order, star = 5, 4
    LO, HI, off, vec, jmask, active = model.scratch(order, 1)
    LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
    active[7] = 0  # a pruned component inside the span: its rows are not read
    for i in range(k):
        LO[0, off[fe.R_Y] + i], HI[0, off[fe.R_Y] + i] = 0.1 * i - 0.02, 0.1 * i + 0.03
    series = compile_for(fe._series, "cpu", nrt=False)
    assert series(order, 1.3, 1.35, star, active, *_series_arrays(model), LO, HI, off, vec, jmask)
    lwd = model.arrays[3]
    for n in range(order):
        for c in [c for c in range(K) if c not in (star, 7)]:
            lo, hi = (lwd[c, star, 0], lwd[c, star, 1]) if n == 0 else (0.0, 0.0)
            for i in range(k):
                dl, dh = iv.isub(model.means[c, i], model.means[c, i], model.means[star, i], model.means[star, i])
                pl, ph = iv.imul(dl, dh, LO[n, off[fe.R_Q] + i], HI[n, off[fe.R_Q] + i])
                lo, hi = iv.iadd(lo, hi, pl, ph)
                sl, sh = iv.isqr(dl, dh)
                pl, ph = iv.imul(sl, sh, LO[n, off[fe.R_Q0] + i], HI[n, off[fe.R_Q0] + i])
                lo, hi = iv.isub(lo, hi, 0.5 * pl, 0.5 * ph)
            assert (LO[n, off[fe.R_L] + c], HI[n, off[fe.R_L] + c]) == (lo, hi), (n, c)


def test_series_intervals_are_ordered_and_contain_the_drift_at_the_box_points():
    """Order-1 series over a box: every interval ordered, and F(y, t) of sample points of the box inside."""
    target = cs.gaussian_mixture(
        [[1.0, 0.0, 0.5], [-1.0, 0.5, 0.0], [0.0, -1.0, 1.0]],
        [[0.3, 0.6, 0.9], [0.5, 0.5, 0.2], [0.8, 0.4, 0.6]],
        [0.2, 0.5, 0.3],
    )
    model = fe.FastModel(target)
    order = 6
    LO, HI, off, vec, jmask, active = model.scratch(order, 1)
    LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
    series = compile_for(fe._series, "cpu", nrt=False)  # the build enclose_flows runs
    t_lo, t_hi = 0.7, 0.75
    centre, width = np.array([0.3, -0.2, 0.4]), 0.01
    for i in range(3):
        LO[0, off[fe.R_Y] + i], HI[0, off[fe.R_Y] + i] = centre[i] - width, centre[i] + width
    assert series(order, t_lo, t_hi, 1, active, *_series_arrays(model), LO, HI, off, vec, jmask)
    used = off[fe.R_END]
    assert np.all(LO[:order, :used] <= HI[:order, :used])
    for _ in range(20):
        y = centre + RNG.uniform(-width, width, 3)
        t = RNG.uniform(t_lo, t_hi)
        with mp.workdps(30):
            drift = _mp_drift(target, y, t)
        for i in range(3):
            assert LO[1, off[fe.R_Y] + i] <= drift[i] <= HI[1, off[fe.R_Y] + i]


def test_order_zero_exponents_contain_the_exact_log_ratios_over_a_box():
    """``l_c - l_*`` at order 0 over a box and a time interval (one log of a product of variance ratios per
    component) against mpmath at sample points, in four coordinates where every component has its own variances."""
    target = cs.gaussian_mixture(
        [[1.0, 0.0, 0.5, -0.3], [-1.0, 0.5, 0.0, 0.2], [0.0, -1.0, 1.0, 0.4]],
        [[0.3, 0.6, 0.9, 0.2], [0.5, 0.5, 0.2, 1.7], [0.8, 0.4, 0.6, 0.25]],
        [0.2, 0.5, 0.3],
    )
    model = fe.FastModel(target)
    LO, HI, off, vec, jmask, active = model.scratch(4, 1)
    LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
    series = compile_for(fe._series, "cpu", nrt=False)  # the build enclose_flows runs
    t_lo, t_hi, star = 0.6, 0.65, 1
    centre, width = np.array([0.3, -0.2, 0.4, 0.1]), 0.02
    for i in range(4):
        LO[0, off[fe.R_Y] + i], HI[0, off[fe.R_Y] + i] = centre[i] - width, centre[i] + width
    assert series(4, t_lo, t_hi, star, active, *_series_arrays(model), LO, HI, off, vec, jmask)
    for _ in range(20):
        y, t = centre + RNG.uniform(-width, width, 4), RNG.uniform(t_lo, t_hi)
        with mp.workdps(30):
            logs = _mp_log_terms(target, y, t)
        for c in (0, 2):
            exact = logs[c] - logs[star]
            assert LO[0, off[fe.R_L] + c] <= exact <= HI[0, off[fe.R_L] + c]
    assert HI[0, off[fe.R_L]] - LO[0, off[fe.R_L]] < 1.0  # and not vacuous


@pytest.mark.parametrize("own", [True, False], ids=["own-variances", "shared-variances"])
def test_exponents_centred_in_time_contain_the_exact_log_ratios_and_are_narrower(own):
    """``_centred_exponents``' enclosure of ``l_c - l_*`` over a box and a time interval, alone and intersected with the
    plain one, contains the mpmath values at sample points; in 16 coordinates at ``t`` in ``[1.98, 2]`` it is at most
    half as wide as the plain evaluation, whose widths add over the coordinates."""
    rng = np.random.default_rng(4)
    means = 2.0 * rng.standard_normal((6, 16))
    variances = rng.uniform(0.2, 1.0, (6, 16)) if own else np.tile(rng.uniform(0.2, 1.0, 16), (6, 1))
    target = cs.gaussian_mixture(means, variances)
    model = fe.FastModel(target)
    series = compile_for(fe._series, "cpu", nrt=False)  # the build enclose_flows runs
    t_lo, t_hi, width = 1.98, 2.0, 0.005
    centre = target.sample(1, seed=5, t=2.0)[0]
    logs = _mp_log_terms(target, centre, 2.0)
    star = int(np.argmax([float(x) for x in logs]))
    widths = {}
    for centred in (False, True):
        LO, HI, off, vec, jmask, active = model.scratch(3, 1)
        LO, HI, vec, jmask, active = LO[0], HI[0], vec[0], jmask[0], active[0]
        LO[0, off[fe.R_Y] : off[fe.R_Y] + 16], HI[0, off[fe.R_Y] : off[fe.R_Y] + 16] = centre - width, centre + width
        assert series(3, t_lo, t_hi, star, active, *_series_arrays(model), LO, HI, off, vec, jmask, fe.CENTRE * centred)
        rows = [off[fe.R_L]] + ([off[fe.R_LCEN]] if centred else [])
        for _ in range(10):
            y, t = centre + RNG.uniform(-width, width, 16), RNG.uniform(t_lo, t_hi)
            with mp.workdps(30):
                exact = _mp_log_terms(target, y, t)
            for c in range(6):
                for row in rows:
                    if c != star:
                        assert LO[0, row + c] <= exact[c] - exact[star] <= HI[0, row + c]
        widths[centred] = sum(HI[0, off[fe.R_L] + c] - LO[0, off[fe.R_L] + c] for c in range(6) if c != star)
    assert widths[True] <= 0.5 * widths[False]


def test_step_control_exponent_moves_halfway_within_its_bounds():
    power = fe._power(15.0, 13, 0.02, 0.01, 2.0**24 * 1e-20, 1e-20)  # seen: 24
    assert power == 19.5
    assert fe._power(15.0, 13, 0.02, 0.01, 1e-20, 1e-20) == 15.0  # seen 0: clamped at order + 2
    assert fe._power(15.0, 13, 0.02, 0.01, 1e40, 1e-20) == 60.0  # clamped at 4 (order + 2)
    assert fe._power(15.0, 13, 0.02, 0.0199, 1.0, 2.0) == 15.0  # steps too close to learn from
    assert fe._power(15.0, 13, 0.02, 0.01, math.inf, 1e-20) == 15.0  # a failed attempt teaches nothing


def test_step_control_follows_the_remainders_trend_without_growing_past_the_plain_control():
    tol, p, h = 1e-12, 15.0, 0.02
    plain = h * (fe.TARGET * tol / 1e-13) ** (1.0 / p)
    assert fe._next_step(h, tol, 1e-13, p, 0.0, 0.0) == pytest.approx(plain, rel=1e-15)  # no accepted step before
    on_target = fe.TARGET * tol
    # the constant rose 4x over the last step (same h): the next step assumes it rises 4x again
    assert fe._next_step(h, tol, on_target, p, h, on_target / 4) == pytest.approx(h * 4.0 ** (-1.0 / p), rel=1e-14)
    # counted with the step sizes: the same remainder after a step half as long is a constant 2^p times smaller
    assert fe._next_step(h, tol, on_target, p, h / 2, on_target) == pytest.approx(h, rel=1e-14)  # falling: plain
    assert fe._next_step(h, tol, on_target, p, h, on_target * 100) == pytest.approx(h, rel=1e-14)
    rise = h * 10.0 ** (-1.0 / p)  # a rise is counted up to 10x
    assert fe._next_step(h, tol, on_target, p, 2 * h, on_target) == pytest.approx(rise, rel=1e-14)
    assert fe._next_step(h, tol, on_target, p, h, on_target / 1e6) == pytest.approx(rise, rel=1e-14)
    assert fe._next_step(h, tol, 1e-300, p, h, 1e-300) == 2 * h and fe._next_step(h, tol, 1.0, p, 0.0, 0.0) == h / 2


def test_accepted_and_rejected_steps_do_not_alternate_on_the_ring():
    """The ring's remainder grows like ``(h / t)^(m + 1)`` as ``t`` falls: a step control that kept ``h`` after an
    accepted step missed the tolerance on most of the next ones (131.9 attempts for 111.4 steps per particle at
    ``tol = 1e-10``, order 13, ``docs/performance.md``); the predictive control rejects almost none."""
    import certsample.verify.flows as flows

    ring = cs.make_target("ring")
    x0 = ring.law_at(10.0).sample(8, seed=3)
    maps = flows._Maps(ring, 10.0, 0.01)
    y_lo, y_hi = maps.project(x0)
    tol_local = 1e-10 * (1 + np.linalg.norm(x0, axis=1)) * flows.LOCAL_FRACTION
    _, info, _, _ = flows._integrate(maps.model, y_lo, y_hi, 10.0, 0.01, tol_local, 13, 20_000, "cpu", None)
    steps, attempts = info[:, 1], info[:, 7]
    assert np.all(info[:, 2] == 0) and np.all(steps > 50)
    assert np.all(attempts <= steps + 5), (steps, attempts)


def test_flow_enclosures_report_the_taylor_order_they_ran():
    from certsample.verify.flows import ORDER_FRACTION, default_order

    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(2, seed=4)
    assert enclose_flows(ring, x0, 2.0, 0.05, tol=1e-6).order == default_order(1e-6 * ORDER_FRACTION) == 9
    assert enclose_flows(ring, x0, 2.0, 0.05, tol=1e-6, order=7).order == 7
    gaussian = cs.gaussian_mixture([[0.5, -0.5]], [[0.4, 0.8]])
    assert enclose_flows(gaussian, gaussian.law_at(2.0).sample(2, seed=4), 2.0, 0.05).order is None  # closed form


def test_box_limited_models_take_a_lower_default_order():
    from certsample.verify.flows import default_order

    wide = fe.FastModel(cs.gaussian_mixture(RNG.standard_normal((3, 8)), RNG.uniform(0.2, 1.0, (3, 8))))
    ring = fe.FastModel(cs.ring_mixture(n_modes=4, radius=3.0))
    assert wide.box_limited and not ring.box_limited
    assert default_order(1e-14, wide) == 12 and default_order(1e-14, ring) == default_order(1e-14) == 13
    # certify's tolerance at eps = 0.05 (local 5e-9) keeps order 6; tol 1e-6 (local 1e-10) takes 8
    assert default_order(5e-9, wide) == 6 and default_order(1e-10, wide) == 8


def _mp_log_terms(target, y, t):
    """``l_c = log w_c - sum_i ((y_i - a mu_{c,i})^2 / v_{c,i} + log v_{c,i}) / 2`` in mpmath."""
    e2, a = mp.exp(-2 * mp.mpf(t)), mp.exp(-mp.mpf(t))
    out = []
    for mu, lam, w in zip(target.means, target.variances, target.weights):
        v = [1 + (mp.mpf(float(l)) - 1) * e2 for l in lam]
        quad = sum((mp.mpf(y[i]) - a * mp.mpf(float(mu[i]))) ** 2 / v[i] + mp.log(v[i]) for i in range(len(y)))
        out.append(mp.log(mp.mpf(float(w))) - quad / 2)
    return out


def _series_arrays(model):
    means, vidx, lams, lwd, logw, shared, gj = model.arrays
    return means, vidx, lams, lwd, shared, gj


def _mp_drift(target, y, t):
    """``y + grad log q_t(y)`` in reverse time, summed directly in mpmath."""
    t = mp.mpf(t)
    a, e2 = mp.exp(-t), mp.exp(-2 * t)
    logs, grads = [], []
    for mu, lam, w in zip(target.means, target.variances, target.weights):
        v = [1 + (mp.mpf(l) - 1) * e2 for l in lam]
        logs.append(mp.log(w) - sum((mp.mpf(y[i]) - a * mu[i]) ** 2 / v[i] + mp.log(v[i]) for i in range(len(y))) / 2)
        grads.append([-(mp.mpf(y[i]) - a * mu[i]) / v[i] for i in range(len(y))])
    top = max(logs)
    u = [mp.exp(l - top) for l in logs]
    return [mp.mpf(y[i]) + sum(uc * g[i] for uc, g in zip(u, grads)) / sum(u) for i in range(len(y))]


def test_a_particle_s_enclosure_does_not_depend_on_its_batch():
    """What makes sharding over processes or Dask workers give the single-process enclosures."""
    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(12, seed=9)
    whole = enclose_flows(ring, x0, 2.0, 0.05, tol=1e-10)
    parts = [enclose_flows(ring, x0[a : a + 5], 2.0, 0.05, tol=1e-10) for a in range(0, 12, 5)]
    assert np.array_equal(whole.centers, np.concatenate([p.centers for p in parts]))
    assert np.array_equal(whole.radii, np.concatenate([p.radii for p in parts]))
    parallel = enclose_flows(ring, x0, 2.0, 0.05, tol=1e-10, backend="cpu-parallel")
    assert np.array_equal(whole.centers, parallel.centers) and np.array_equal(whole.radii, parallel.radii)


def test_checkpoints_bound_the_end_radius_from_where_they_were_taken():
    """Each filled slot's ``A E_q + B`` reproduces the run's own end radius (the same recurrence from there, rounded up
    apart); slots are thinned to every other one, doubling the spacing, when they run out, and the freed ones read
    as empty."""
    from certsample.verify import flows

    ring = cs.ring_mixture()
    maps = flows._Maps(ring, 10.0, 0.01)
    x0 = ring.law_at(10.0).sample(3, seed=5)
    y_lo, y_hi = maps.project(x0)
    tol = 1e-10 * (1 + np.linalg.norm(x0, axis=1)) * flows.LOCAL_FRACTION
    ends = np.full(3, 0.01)
    _, info, _, ck = flows._integrate(maps.model, y_lo, y_hi, 10.0, ends, tol, 12, 2000, "cpu", None, 6)
    for p in range(3):
        steps, end = int(info[p, 1]), info[p, 0]
        assert info[p, 2] == 0 and steps > 6 * fe.CHECK_SPACING  # enough steps to thin the six slots
        filled = ck[p, ck[p, :, 0] > 0]
        marks = filled[:, 4].astype(int)
        spacing = marks[0]
        assert spacing > fe.CHECK_SPACING and np.array_equal(marks, spacing * np.arange(1, len(marks) + 1))
        assert 3 <= len(filled) <= 6 and marks[-1] <= steps < marks[-1] + spacing
        assert np.all(np.diff(filled[:, 0]) < 0) and np.all(filled[:, 0] > 0.01)
        bound = filled[:, 2] * filled[:, 1] + filled[:, 3]
        assert np.all(bound >= end * (1 - 1e-12)) and np.all(bound <= end * (1 + 1e-9))


def test_a_particle_integrated_again_from_a_checkpoint_keeps_a_proved_ball(monkeypatch):
    """With a local tolerance too loose for ``tol``, the particles that miss it are integrated again only to a
    checkpoint of their first pass; the balls so composed must hold the exact image (Arb's tiny ball's center)."""
    from certsample.verify import flows

    target = cs.gaussian_mixture(
        [[1.5, 0.0], [-1.0, 1.0], [0.2, -1.4]], [[0.2, 0.5], [0.6, 0.3], [0.4, 0.4]], [0.3, 0.5, 0.2]
    )
    monkeypatch.setattr(flows, "LOCAL_FRACTION", 0.3)
    resumed = []
    resume = flows._resume
    monkeypatch.setattr(flows, "_resume", lambda *args: resumed.append(resume(*args)) or resumed[-1])
    T, delta, tol = 1.5, 0.1, 1e-6
    x0 = target.law_at(T).sample(6, seed=4)
    fast = enclose_flows(target, x0, T, delta, tol=tol, fallback=False)
    assert np.all(fast.radii <= tol * (1 + np.linalg.norm(x0, axis=1)))
    rows = resumed[0]
    assert len(rows) >= 3 and np.all(fast.passes[rows] == 2)  # the checkpoint's pass sufficed
    for p in rows[:2]:
        arb = enclose_flow(target, x0[p], T, delta, tol=1e-14)
        assert arb.radius < 1e-13
        assert np.linalg.norm(arb.center - fast.centers[p]) <= fast.radii[p] - arb.radius


def test_particles_enclosed_in_chunks_get_the_same_balls(monkeypatch):
    """``enclose_flows`` runs its passes over at most ``CHUNK`` particles at a time (the first pass's checkpoints grow
    with the particles): with chunks of two, every center, radius, step count and pass count is the one of a single
    chunk, retries and passes to a checkpoint included, and no call integrates more than two particles."""
    from certsample.verify import flows

    target = cs.gaussian_mixture(
        [[1.5, 0.0], [-1.0, 1.0], [0.2, -1.4]], [[0.2, 0.5], [0.6, 0.3], [0.4, 0.4]], [0.3, 0.5, 0.2]
    )
    monkeypatch.setattr(flows, "LOCAL_FRACTION", 0.3)  # so that particles miss tol and are integrated again
    x0 = target.law_at(1.5).sample(5, seed=4)
    whole = enclose_flows(target, x0, 1.5, 0.1, tol=1e-6, fallback=False)
    assert np.any(whole.passes >= 2)
    sizes = []
    integrate = flows._integrate

    def counted(model, y_lo, *rest):
        sizes.append(len(y_lo))
        return integrate(model, y_lo, *rest)

    monkeypatch.setattr(flows, "CHUNK", 2)
    monkeypatch.setattr(flows, "_integrate", counted)
    chunked = enclose_flows(target, x0, 1.5, 0.1, tol=1e-6, fallback=False)
    assert max(sizes) == 2 and sum(size == 2 for size in sizes) >= 2
    for field in ("centers", "radii", "steps", "passes"):
        assert np.array_equal(getattr(chunked, field), getattr(whole, field)), field


def test_one_particle_and_many_run_the_same_compiled_driver():
    """A one-particle call (the warm-up that certify's workers inherit) must not compile a variant of its own: NumPy
    returns a one-element broadcast view as it is, read-only, and Numba types a read-only array apart."""
    from numba import types

    from certsample.verify.fast_enclosure import enclose_slots

    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(3, seed=4)
    enclose_flows(ring, x0[:1], 2.0, 0.05, tol=1e-8)
    enclose_flows(ring, x0, 2.0, 0.05, tol=1e-8)
    driver = compile_for(enclose_slots, "cpu", nrt=False)
    arrays = [arg for sig in driver.signatures for arg in sig if isinstance(arg, types.Array)]
    assert arrays and all(arg.mutable for arg in arrays)


def test_the_serial_and_the_parallel_driver_are_cached_apart():
    """Numba's on-disk cache keys an entry by qualified name, file and line, not by ``parallel=True``: with one name
    for both, whichever build was cached first served the other, and ``backend='cpu-parallel'`` ran on one thread."""
    from certsample.verify.fast_enclosure import enclose_slots

    serial = compile_for(enclose_slots, "cpu", nrt=False)
    parallel = compile_for(enclose_slots, "cpu-parallel", nrt=False)
    assert parallel.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")
    assert serial.py_func.__qualname__ != parallel.py_func.__qualname__


def test_a_build_without_reference_counting_refuses_to_allocate():
    """``enclose_flows`` compiles its kernels with ``nrt=False`` (no atomic reference counts on array views; the series
    tests here use that build): Numba then refuses a kernel that allocates, so none runs with unmanaged memory."""
    from numba.core.errors import TypingError

    from certsample.kernels.jit import device_function

    @device_function
    def allocates(n):
        return np.zeros(n).sum()

    with pytest.raises(TypingError):
        compile_for(allocates, "cpu", nrt=False)(3)
    assert compile_for(allocates, "cpu")(3) == 0.0


def test_particles_that_miss_tol_are_integrated_again_in_float64_until_they_meet_it(monkeypatch):
    """A first pass whose local tolerance is far too loose leaves every radius above ``tol``; the retries,
    at the first pass's order with the tolerance divided by the factor each missed, bring every particle
    within ``tol`` without the Arb path (whose 64-d runs take longer than any budget)."""
    import certsample.verify.flows as flows

    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(6, seed=4)
    tol_abs = 1e-8 * (1 + np.linalg.norm(x0, axis=1))
    orders, passes = [], []
    integrate = flows._integrate

    def counted(model, y_lo, y_hi, T, delta, tol_local, order, *rest):
        orders.append(order)
        result = integrate(model, y_lo, y_hi, T, delta, tol_local, order, *rest)
        passes.append(flows._Maps(ring, 2.0, 0.05).radius_bound(result[1][:, 0]))
        return result

    monkeypatch.setattr(flows, "LOCAL_FRACTION", 1.0)
    monkeypatch.setattr(flows, "_integrate", counted)
    found = enclose_flows(ring, x0, 2.0, 0.05, tol=1e-8)
    assert np.all(passes[0] > tol_abs)  # the loose first pass misses everywhere
    # the passes: the first, one to a checkpoint (for those where one leaves room), then whole ones
    assert 2 <= len(passes) <= 2 + flows.RETRIES and len(set(orders)) == 1
    assert np.all(found.method == "float64") and np.all(found.radii <= tol_abs)
    assert np.all(found.passes >= 2) and np.max(found.passes) <= len(passes)


def test_particles_the_first_pass_stops_on_are_retried_in_float64_with_a_tighter_tolerance(monkeypatch):
    """A first pass that runs out of steps (its step budget cut to 5 here) leaves every particle stopped; the
    retries, with the tolerance tightened at least by ``STOPPED_SHRINK`` and the full budget on the last, enclose
    every one in float64 within ``tol``, and the Arb path is never called."""
    import certsample.verify.flows as flows

    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(5, seed=6)
    tol_abs = 1e-8 * (1 + np.linalg.norm(x0, axis=1))
    reference = enclose_flows(ring, x0, 2.0, 0.05, tol=1e-8)  # one pass meets tol here
    budgets, statuses = [], []
    integrate = flows._integrate

    def counted(model, y_lo, y_hi, T, delta, tol_local, order, max_steps, *rest):
        budgets.append(max_steps)
        result = integrate(model, y_lo, y_hi, T, delta, tol_local, order, max_steps, *rest)
        statuses.append(result[1][:, 2].copy())
        return result

    def no_arb(*args, **kwargs):
        raise AssertionError("the Arb path was called")

    monkeypatch.setattr(flows, "FIRST_PASS_STEPS", 5)
    monkeypatch.setattr(flows, "_integrate", counted)
    monkeypatch.setattr(flows, "enclose_flow", no_arb)
    found = enclose_flows(ring, x0, 2.0, 0.05, tol=1e-8)
    assert budgets[0] == 5 and np.all(statuses[0] == 3)  # every particle stopped: more than 5 steps
    # the retries keep the first pass's budget but the last, which has max_steps
    assert budgets[1:] == [5] * (len(budgets) - 2) + [20_000] and np.all(statuses[-1] == 0)
    assert np.all(found.method == "float64") and np.all(found.radii <= tol_abs) and np.all(found.passes >= 2)
    # both balls contain the exact image: they intersect
    assert np.all(np.linalg.norm(found.centers - reference.centers, axis=1) <= found.radii + reference.radii)


@pytest.mark.parametrize(("name", "n", "rows"), [("ring", 300, [79]), ("cloud", 150, [67, 139])])
def test_a_pass_whose_ball_collapses_its_steps_stops_early_and_is_retried(name, n, rows):
    """At ``tol = 1e-2`` these starts' balls grow until every box is too wide for a real step: their first passes ran
    the whole :data:`~.flows.FIRST_PASS_STEPS` budget (2000 steps, ``h`` near ``1e-6 t``). They now stop once the next
    step falls below ``STEP_FLOOR t`` (status 5), and the retries enclose them in float64 within ``tol``."""
    import certsample.verify.flows as flows

    target = cs.make_target(name)
    x0 = target.law_at(10.0).sample(n, seed=3)[rows]
    maps = flows._Maps(target, 10.0, 0.01)
    tol_abs = 1e-2 * (1 + np.linalg.norm(x0, axis=1))
    order = flows.default_order(1e-2 * flows.ORDER_FRACTION, maps.model)
    y_lo, y_hi = maps.project(x0)
    local = tol_abs * flows.LOCAL_FRACTION
    floor = flows.STEP_FLOOR
    _, info, _, _ = flows._integrate(maps.model, y_lo, y_hi, 10.0, 0.01, local, order, 2000, "cpu", None, 0, floor)
    assert np.all(info[:, 2] == 5) and np.all(info[:, 7] < 1000), info[:, [2, 7]]
    assert np.all(info[:, 6] < floor * info[:, 3])
    _, info, _, _ = flows._integrate(maps.model, y_lo, y_hi, 10.0, 0.01, local, order, 2000, "cpu", None)
    assert np.all(info[:, 2] == 3)  # without the floor: the whole budget
    found = enclose_flows(target, x0, 10.0, 0.01, tol=1e-2, fallback=False)
    assert np.all(found.passes >= 2) and np.all(found.radii <= tol_abs)


def test_a_short_interval_is_not_stopped_by_the_step_floor():
    """From ``T`` to a ``delta`` within ``1e-4 T`` the first step already lies below ``STEP_FLOOR t``: the floor stops
    only steps below the first one too, so one pass encloses the particles (every pass had stopped at 0 steps, and
    the last ran at a thousandth of the local tolerance)."""
    import certsample.verify.flows as flows

    ring = cs.ring_mixture()
    x0 = ring.law_at(1.0).sample(3, seed=2)
    found = enclose_flows(ring, x0, 1.0, 0.99995, tol=1e-10, fallback=False)
    assert np.all(found.passes == 1) and np.all(found.method == "float64")
    assert np.all(found.radii <= 1e-10 * (1 + np.linalg.norm(x0, axis=1)))
    maps = flows._Maps(ring, 1.0, 0.99995)
    y_lo, y_hi = maps.project(x0)
    local = np.full(3, 1e-14)
    _, info, _, _ = flows._integrate(maps.model, y_lo, y_hi, 1.0, 0.99995, local, 10, 100, "cpu", None, 0, 1e-4)
    assert np.all(info[:, 2] == 0) and np.all(info[:, 1] >= 1)


def test_a_retry_after_a_stopped_pass_tightens_by_stopped_shrink_though_a_finished_pass_is_kept():
    """A particle whose first pass finished above ``tol`` keeps that pass while a retry stops (a stopped pass never
    replaces a finished one); the next retry still follows the stopped one, at most :data:`~.flows.STOPPED_SHRINK` of
    its local tolerance (the kept pass's factor alone would repeat the stopped retry)."""
    import certsample.verify.flows as flows
    from certsample.verify.fast_enclosure import N_CHECK, N_OUT

    class Maps:
        def radius_bound(self, e):
            return np.asarray(e, dtype=float)

    locals_seen = []

    def integrate(rows, ends, local, steps, checkpoints=0, last=False):
        locals_seen.append(np.array(local, dtype=float, ndmin=1).copy())
        info = np.zeros((len(rows), N_OUT))
        call = len(locals_seen)
        info[:, 0] = 1.2 if call == 1 else 5.0  # the first pass misses tol = 1 by 1.2; the retries stop wide
        info[:, 2] = 0 if call == 1 else 5
        return np.zeros((len(rows), 2)), info, np.zeros((len(rows), 1, 2)), np.zeros((len(rows), 1, N_CHECK))

    tol_local = np.array([1.0])
    passes = np.zeros(1, dtype=np.int64)
    _, info = flows._chunk_passes(Maps(), integrate, 0.01, np.array([1.0]), tol_local, 100, passes)
    assert info[0, 2] == 0 and info[0, 0] == 1.2  # the finished first pass is kept
    assert len(locals_seen) == 1 + flows.RETRIES and passes[0] == 1 + flows.RETRIES
    # the first retry: the kept pass's factor (aimed at half of tol); every later one also STOPPED_SHRINK at least
    assert locals_seen[1][0] == pytest.approx(0.5 / 1.2)
    for before, after in zip(locals_seen[1:], locals_seen[2:]):
        assert after[0] <= flows.STOPPED_SHRINK * before[0] * (1 + 1e-12)


def test_where_no_pass_can_meet_tol_the_last_runs_to_its_end_with_the_tightest_tolerance():
    """Near the ring's centre the flow expands even the float64 rounding past ``tol``: no pass ends within it. The
    last retry runs without the step floor and keeps its ball. An earlier stop on the radius cut the passes short, so
    the retries tightened too little and this start's ball ended at 6.6e-5 (4.9e-6 here)."""
    import certsample.verify.flows as flows

    ring = cs.ring_mixture()
    x0 = 1e-4 * np.array([[math.cos(math.pi / 8), math.sin(math.pi / 8)]])
    found = enclose_flows(ring, x0, 0.3, 0.003, tol=1e-10, fallback=False)
    assert found.method[0] == "float64" and found.passes[0] == 2 + flows.RETRIES  # the first, resumed, retried
    assert 1e-10 < found.radii[0] < 1e-5


def test_fallback_failed_keeps_a_proved_radius_above_tol_instead_of_calling_arb(monkeypatch):
    import certsample.verify.flows as flows
    from certsample.verify.verifier import enclose_shard

    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(4, seed=4)
    tol_abs = 1e-8 * (1 + np.linalg.norm(x0, axis=1))
    monkeypatch.setattr(flows, "LOCAL_FRACTION", 1.0)
    monkeypatch.setattr(flows, "RETRIES", 0)
    reference = enclose_flows(ring, x0, 2.0, 0.05, tol=1e-8, fallback=False)
    assert np.any(reference.radii > tol_abs)

    def no_arb(*args, **kwargs):
        raise AssertionError("the Arb path was called")

    monkeypatch.setattr(flows, "enclose_flow", no_arb)
    found = enclose_flows(ring, x0, 2.0, 0.05, tol=1e-8, fallback="failed")
    assert np.all(found.method == "float64") and np.array_equal(found.radii, reference.radii)
    _, radii, methods, _ = enclose_shard(ring, x0, 2.0, 0.05, 1e-8)  # what certify's enclosures run
    assert np.all(methods == "float64") and np.array_equal(radii, reference.radii)
    with pytest.raises(AssertionError, match="Arb path"):
        enclose_flows(ring, x0, 2.0, 0.05, tol=1e-8)
    with pytest.raises(ValueError, match="fallback"):
        enclose_flows(ring, x0, 2.0, 0.05, fallback="arb")


def test_failed_particles_of_a_box_limited_model_stay_unproved_without_arb(monkeypatch):
    """Where one Arb trajectory would outlast any budget (per-component variances in more than three coordinates),
    ``fallback='failed'`` leaves a particle the float64 path cannot validate unproved (radius inf) instead of
    stalling the caller in Arb; the others are enclosed as before, and elsewhere a failure still goes to Arb."""
    from certsample.verify import flows
    from certsample.verify.fast_enclosure import FastModel
    from certsample.verify.verifier import enclose_shard

    means = np.array([[1.0, 0.0, -1.0, 0.5, 0.0], [-1.0, 0.5, 1.0, 0.0, 0.3]])
    variances = np.array([[0.3, 0.5, 0.4, 0.6, 0.2], [0.6, 0.2, 0.5, 0.3, 0.4]])
    target = cs.gaussian_mixture(means, variances)
    assert FastModel(target).box_limited
    x0 = target.law_at(2.0).sample(3, seed=1)
    calls = []

    def counted_arb(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the Arb path was called")

    monkeypatch.setattr(flows, "enclose_flow", counted_arb)
    found = enclose_flows(target, x0, 2.0, 0.05, tol=1e-8, max_steps=2, fallback="failed")
    assert np.all(found.method == "failed") and np.all(np.isinf(found.radii)) and not calls
    lower, upper = found.error_bounds(found.centers)
    assert np.all(lower == 0.0) and np.all(np.isinf(upper))  # no claim either way
    full = enclose_flows(target, x0, 2.0, 0.05, tol=1e-8, fallback="failed")  # the default step budget
    assert np.all(full.method == "float64") and np.all(np.isfinite(full.radii)) and not calls
    _, radii, methods, _ = enclose_shard(target, x0, 2.0, 0.05, 1e-8)  # what certify's enclosures run
    assert np.all(methods == "float64") and np.array_equal(radii, full.radii)
    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    with pytest.raises(AssertionError, match="Arb path"):  # not box-limited: a failure still goes to Arb
        enclose_flows(ring, ring.law_at(2.0).sample(1, seed=2), 2.0, 0.05, max_steps=2, fallback="failed")


def test_where_the_arb_path_fails_too_fallback_failed_leaves_the_particle_unproved(monkeypatch):
    """``fallback='failed'`` (what certify runs) must not lose a batch to one particle that neither path validates:
    it stays unproved (radius ``inf``); with ``fallback=True`` the Arb path's failure, with its time, propagates."""
    from certsample.verify import flows

    def arb_fails(target, x0, T, delta, tol):
        raise EnclosureFailed("could not validate an a-priori enclosure", 1.5, ["box"], 7)

    monkeypatch.setattr(flows, "enclose_flow", arb_fails)
    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(2, seed=2)
    found = enclose_flows(ring, x0, 2.0, 0.05, max_steps=2, fallback="failed")
    assert np.all(found.method == "failed") and np.all(np.isinf(found.radii))
    with pytest.raises(EnclosureFailed, match="a-priori enclosure at t=1.5"):
        enclose_flows(ring, x0, 2.0, 0.05, max_steps=2, fallback=True)


def test_enclose_flows_rejects_bad_input():
    ring = cs.ring_mixture()
    with pytest.raises(ValueError, match="shape"):
        enclose_flows(ring, np.zeros(2), 1.0, 0.1)
    with pytest.raises(ValueError, match="shape"):
        enclose_flows(ring, np.zeros((3, 3)), 1.0, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        enclose_flows(ring, np.array([[np.nan, 0.0]]), 1.0, 0.1)
    with pytest.raises(ValueError, match="T > delta"):
        enclose_flows(ring, np.zeros((1, 2)), 0.1, 0.2)
    with pytest.raises(ValueError, match="tol"):
        enclose_flows(ring, np.zeros((1, 2)), 1.0, 0.1, tol=-1.0)
    with pytest.raises(ValueError, match="tol"):
        enclose_flows(ring, np.zeros((1, 2)), 1.0, 0.1, tol=True)
    # these once reached the integrator, which reported a failed enclosure instead of the argument
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        enclose_flows(ring, np.zeros((1, 2)), 1.0, 0.1, order=0)
    with pytest.raises(ValueError, match="order must be an integer"):
        enclose_flows(ring, np.zeros((1, 2)), 1.0, 0.1, order=2.5)
    with pytest.raises(ValueError, match="max_steps must be an integer >= 1"):
        enclose_flows(ring, np.zeros((1, 2)), 1.0, 0.1, max_steps=0)
    with pytest.raises(ValueError, match="backend"):
        enclose_flows(ring, np.zeros((1, 2)), 1.0, 0.1, backend="gpu")
    with pytest.raises(TypeError, match="MixtureTarget"):
        enclose_flows(lambda x, t: -x, np.zeros((1, 2)), 1.0, 0.1)


def test_a_numpy_scalar_tolerance_is_a_tolerance():
    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = ring.law_at(2.0).sample(2, seed=5)
    as_float32 = enclose_flows(ring, x0, 2.0, 0.1, tol=np.float32(1e-6))
    as_float = enclose_flows(ring, x0, 2.0, 0.1, tol=float(np.float32(1e-6)))
    assert np.array_equal(as_float32.radii, as_float.radii) and np.array_equal(as_float32.centers, as_float.centers)
    assert np.all(as_float32.radii <= 1e-6 * (1 + np.linalg.norm(x0, axis=1)))


def test_a_failure_names_time_box_and_step_and_the_arb_path_takes_over():
    ring = cs.ring_mixture(n_modes=4, radius=3.0)
    x0 = np.array([[0.4, -0.3]])
    with pytest.raises(EnclosureFailed, match=r"max_steps.*at t=.*step 2.*center") as failure:
        enclose_flows(ring, x0, 2.0, 0.1, max_steps=2, fallback=False)
    assert failure.value.step == 2 and 0.1 < failure.value.time < 2.0
    rescued = enclose_flows(ring, x0, 2.0, 0.1, max_steps=2, tol=1e-8)
    assert rescued.method[0] == "arb" and rescued.radii[0] < 1e-7


def test_kernels_run_under_the_cuda_simulator(cuda_simulator):
    out = cuda_simulator("""
        import numpy as np
        import certsample as cs
        from certsample.verify.flows import enclose_flows
        ring = cs.ring_mixture(n_modes=3, radius=2.0)
        # and one in four coordinates with its own variances (the log-norm's bound on the Gram matrix)
        means = [[1.0, 0.0, -0.5, 0.3], [-1.0, 0.5, 0.0, -0.2]]
        four = cs.gaussian_mixture(means, [[0.3, 0.6, 0.9, 0.5], [0.5, 0.4, 0.2, 0.7]])
        for target, count in ((ring, 2), (four, 1)):
            x0 = target.law_at(0.6).sample(2, seed=1)[:count]
            gpu = enclose_flows(target, x0, 0.6, 0.3, tol=1e-4, order=5, backend="cuda", threads=2, fallback=False)
            cpu = enclose_flows(target, x0, 0.6, 0.3, tol=1e-4, order=5, fallback=False)
            print(np.array_equal(gpu.centers, cpu.centers), np.array_equal(gpu.radii, cpu.radii), gpu.radii.max())
    """)
    for line in out.strip().splitlines():
        same_centers, same_radii, radius = line.split()
        assert same_centers == "True" and same_radii == "True" and float(radius) < 1e-3


def test_the_cuda_kernel_compiles_to_ptx(monkeypatch):
    """The real CUDA toolchain (NVVM) compiles the enclosure kernel; skipped where it is not installed. One model
    is enough: the kernel's argument types do not depend on whether the components share variances. Without NVVM's
    optimiser (see tests/test_cuda_ptx.py): 15 s here, against five minutes with it."""
    import numba
    from numba import cuda
    from numba.cuda import dispatcher as cuda_dispatcher

    from tests.test_cuda_ptx import MISSING

    if MISSING is not None:
        pytest.skip(f"no CUDA toolchain: {MISSING}")
    import types

    from certsample.verify import fast_cuda

    monkeypatch.setattr(cuda_dispatcher, "get_current_device", lambda: types.SimpleNamespace(compute_capability=(9, 0)))
    model = fe.FastModel(cs.gaussian_mixture([[1.0, 0.0], [-1.0, 0.5]], [[0.3, 0.5], [0.6, 0.2]]))
    y0 = np.zeros((2, 2))
    args = (
        y0,
        y0,
        1.0,
        np.full(2, 0.1),
        np.full(2, 1e-8),
        0.0,
        6,
        100,
        *model.arrays,
        *model.scratch(6, 2),
        np.zeros((2, 1, 2)),
        np.zeros((2, 1, fe.N_CHECK)),
        np.zeros((2, 2)),
        np.zeros((2, fe.N_OUT)),
    )
    kernel = compile_for(fast_cuda.enclose_threads, "cuda-kernel")
    ptx, _ = cuda.compile_ptx(kernel.py_func, tuple(numba.typeof(a) for a in args), cc=(9, 0), opt=False)
    assert ".entry" in ptx


def test_proved_errors_and_norms_hold_where_the_squares_underflow_or_overflow():
    """``|x - c|`` summed as squares: below about ``1e-154`` the squares underflow (to 0 here), so a relative margin
    alone gave an upper bound of one subnormal for a distance of ``2e-170``; above ``1e154`` they overflow, and the
    lower bound must not be ``inf``."""
    from fractions import Fraction

    from certsample.verify.flows import _norm_up, proved_errors

    centers = np.zeros((1, 4))
    samples = np.full((1, 4), 1e-170)
    exact = math.sqrt(sum(Fraction(1e-170) ** 2 for _ in range(4)) * Fraction(10) ** 340) * 1e-170
    lower, upper = proved_errors(samples, centers, np.zeros(1))
    assert lower[0] <= exact <= upper[0]
    assert _norm_up(np.full((1, 4), 1e-170))[0] >= exact
    with np.errstate(over="ignore"):
        lower, upper = proved_errors(np.full((1, 4), 1e300), centers, np.zeros(1))
    assert lower[0] == 0.0 and upper[0] == math.inf
    # a sample that is not a point is at no finite distance: NaN bounds never counted above eps
    samples = np.array([[np.nan, 0.0, 0.0, 0.0], [0.0, np.inf, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    lower, upper = proved_errors(samples, np.zeros((3, 4)), np.zeros(3))
    assert list(lower[:2]) == [math.inf] * 2 and list(upper[:2]) == [math.inf] * 2 and lower[2] <= 1.0 <= upper[2]
