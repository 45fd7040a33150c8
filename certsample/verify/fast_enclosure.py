r"""Compiled rigorous enclosures of the exact probability-flow map in float64 intervals: the per-particle method.

:func:`enclose_particle` proves, for a start box at forward time ``T``, a Euclidean ball that contains
the exact solution at ``delta`` of the probability-flow ODE of a diagonal Gaussian mixture in its own
``k`` coordinates; :func:`~certsample.verify.flows.enclose_flows` runs it on many start points (with the
exact maps around it: the projection on a target's basis, the closed-form flows of Gaussians and of the
orthogonal part) and sends a particle that misses the tolerance to the Arb path. It proves the statement
of :func:`~certsample.verify.enclosure.enclose_flow` by a different method in different arithmetic: a
validated Taylor method of the Lohner/VNODE kind [1]_, [2]_ in outward-rounded float64 interval arithmetic
(:mod:`.interval`: the rounding model, the proved ``exp``/``log`` kernels), compiled with Numba, one
particle per loop iteration on the CPU or per thread on CUDA (the same source, :mod:`.fast_cuda`).

The method (for ``K > 1`` components)
-------------------------------------
Write ``tau`` for reverse time in a step from ``t_j`` (``t = t_j - tau``), ``dy/dtau = F(y, t) = y +
s(y, t)``, ``s = sum_c r_c G_c``, ``G_{c,i} = -(y_i - a mu_{c,i}) / v_{c,i}``, ``v_{c,i} = 1 + (lam_{c,i} -
1) a^2``, ``a = e^{-t}``, ``r_c = u_c / Z``, ``u_c = e^{l_c - l_*}``, ``Z = sum_c u_c``, where ``l_c = log w_c -
sum_i ((y_i - a mu_{c,i})^2 / v_{c,i} + log v_{c,i}) / 2`` and ``*`` is the component with the largest
``l_c`` at the step's start (any choice is exact: ``u_* = 1`` and the ratios are unchanged). Step ``j``
holds a float vector ``c_j`` and a float ``E_j`` with ``y(t_j) in B(c_j, E_j)`` for the exact solution.
Let ``t_{j+1} < t_j`` be a float and ``h = t_j - t_{j+1}``, enclosed in an interval.

1. *A-priori box* (the Picard-Lindelof inclusion test [1]_). Let ``X`` be the interval hull of
   ``B(c_j, E_j)`` and ``T_j = [t_{j+1}, t_j]``. If a box ``Y`` satisfies ``X + [0, h] F(Y, T_j) subseteq
   Y`` (interval evaluation of ``F``), every solution from ``X`` exists on ``[0, h]`` and stays in ``Y``:
   the Picard operator ``y -> x + int_0^tau F(y(s), t_j - s) ds`` maps continuous functions into ``Y``
   to functions into ``x + tau conv F(Y, T_j) subseteq Y``; it has a fixed point there (Schauder), which
   is the solution (``F`` is ``C^1``, so solutions are unique). The inclusion may be non-strict: Schauder needs only
   the closed convex set of continuous functions into ``Y`` mapped into itself. :func:`_a_priori_box` inflates the
   Picard image a few times and checks the inclusion; on failure the step is halved.

2. *Taylor coefficients and remainder.* The Taylor coefficients ``z_n`` (``n <= m``) of the solution
   ``z`` from the point ``c_j`` follow from the automatic-differentiation recurrences of
   :func:`_series` (products of power series, ``exp`` of a series by ``u' = u l'``, reciprocals, ``log v``
   by ``(log v)' = 2 (1 - 1/v)``) [3]_, each operation enclosed (interval operations, and series products
   as dot products bounded a posteriori, :func:`_conv`), so each computed interval contains the exact
   coefficient. By Taylor's theorem with the Lagrange remainder, coordinate by coordinate, ``z_i(h) =
   sum_{n<=m} z_{n,i} h^n + z^{(m+1)}_i(xi) h^{m+1} / (m+1)!`` for some ``xi in [0, h]``, and ``z^{(m+1)}(xi)
   / (m+1)! = f^{[m+1]}(z(xi), t_j - xi)``, the ``(m+1)``-th Taylor coefficient of the solution through the
   point ``(z(xi), t_j - xi)`` in ``Y x T_j``. The same recurrences started from the box ``Y`` and the time
   interval ``T_j`` enclose ``f^{[m+1]}`` over ``Y x T_j``; so ``z(h)`` lies in the interval Horner sum plus
   ``[-R_i, R_i]``, ``R_i = h^{m+1} |f^{[m+1]}_i(Y, T_j)|``. The new center ``c_{j+1}`` is its midpoint and
   ``eps_j`` bounds ``|z(h) - c_{j+1}|_2`` (``z`` the solution of the pruned ODE of step 4 where components are
   pruned: the series run on the kept ones). In more than three coordinates the box series also encloses the exponents
   ``l_c - l_*`` at order 0 by a mean-value form in ``a = e^{-t}`` and keeps the intersection with the plain
   enclosure (:func:`_centred_exponents`): summed over the coordinates, the plain one pays for the time interval
   once per coordinate. The recurrences are written so that no two large terms cancel
   (:func:`_exponents`, :func:`_drift`): over a box, interval arithmetic pays for every cancellation with
   width that compounds from order to order.

3. *Propagation* (a one-sided Lipschitz bound; no wrapping effect). ``J = I + Hess log q_t = I - sum_c
   r_c D_c^{-1} + Cov_r(G)`` is symmetric, and by Weyl ``lambda_max(J) <= 1 - min_{c,i} 1 / v_{c,i} +
   lambda_max(Cov_r(G))``; :func:`_log_norm` bounds the last term by a trace and by a weighted row sum
   (Collatz-Wielandt, :func:`_collatz_wielandt`) of the components' Gram matrix, from the order-0 rows of an
   evaluation over the box with the exponents centred in time (:func:`_recentre_exponents`). Its upper bound
   ``mu_j`` over ``Y x T_j`` gives ``<x - z, F(x) - F(z)> <= mu_j |x - z|^2`` for ``x, z`` in the convex ``Y``, so
   two solutions from ``B(c_j, E_j)`` obey ``|x(h) - z(h)| <= e^{mu_j h} |x(0) - z(0)|``.

4. *Pruning* (:func:`_prune`). Components with ``u_c`` below a threshold on ``Y`` may be left out of
   step 2: ``z`` then solves the pruned ODE ``z' = F_p(z)``, and ``Y`` is checked to hold it too (step 1
   with ``F_p``). With ``H_c = G_c - G_*``, ``|F - F_p| <= sum_pruned u_c (|H_c| + max_c |H_c|) =: Delta``
   on ``Y`` (write ``s = G_* + (N + P) / (Z_p + Q)`` with the pruned sums ``P = sum u_c H_c``, ``Q = sum u_c``,
   so ``s - s_p = P / (Z_p + Q) - (N / Z_p) Q / (Z_p + Q)`` with ``Z_p >= u_* = 1``, and ``N / Z_p`` a convex
   combination of the kept ``H_c``), and ``d/dtau |x - z|^2 / 2 <= mu_j |x - z|^2 + Delta |x - z|`` gives
   ``|x(h) - z(h)| <= e^{mu_j h} E_j + Delta h max(1, e^{mu_j h})``.

Together ``E_{j+1} = e^{mu_j h} E_j + eps_j + Delta h max(1, e^{mu_j h})``, evaluated as an upper bound; induction
over the steps encloses ``y(delta)``. Steps shrink when step 1 fails or the remainder exceeds the local tolerance,
and grow with the remainder's margin and its trend (:func:`_next_step`). A particle fails (status, time, box and
step, see :data:`STATUS` and :class:`~certsample.verify.errors.EnclosureFailed`) when no step of at least ``1e-13
t`` validates, when a quantity is not finite, or after ``max_steps`` steps; it stops once the step control's next
step falls below ``step_floor t`` and below its first step (``step_floor = 0``: never).

Costs: a step is a few interval evaluations of ``F`` (step 1), two runs of the series recurrences of
order ``m`` and ``m + 1`` (point and box) and one log-norm (in more than three coordinates after the exponents
are enclosed again, centred in time). In coordinates where every component has the same variance (rings, point
clouds) a component costs one series product per order (its ``exp``); where the variances differ, two per component
and coordinate, plus one per distinct variance for ``1/v``. Those loops run in SIMD lanes: over the components for
the exponentials (and the exponents in shared coordinates), over the coordinates and variances for the rest (the
scratch holds coefficient ``n`` of every row contiguously; each lane performs the scalar operations in their order,
:func:`_lanes_conv`, :func:`_lanes_conv_from`). The step count follows the radius of convergence, which shrinks like
``t`` near ``delta``, and, in many dimensions, the overestimation of the box series (interval widths add over
coordinates). Measured throughput is in ``docs/performance.md``.

References
----------
.. [1] N. S. Nedialkov, K. R. Jackson, G. F. Corliss, "Validated solutions of initial value problems
   for ordinary differential equations", Appl. Math. Comput. 105 (1999) 21-68.
.. [2] R. J. Lohner, "Enclosing the solutions of ordinary initial and boundary value problems", in
   Computer Arithmetic, Teubner (1987) 255-286.
.. [3] A. Jorba, M. Zou, "A software package for the numerical integration of ODEs by means of
   high-order Taylor methods", Experimental Mathematics 14 (2005) 99-117 (the series recurrences).
.. [4] K. Gustafsson, "Control theoretic techniques for stepsize selection in explicit Runge-Kutta
   methods", ACM Trans. Math. Softw. 17 (1991) 533-554 (the predictive step control).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ..kernels.jit import device_function
from .interval import (
    exp_bounds,
    fmax,
    fmin,
    iadd,
    idiv,
    idiv_pos,
    imag,
    imul,
    isqr,
    isub,
    log_bounds,
    next_down,
    next_up,
)

__all__ = ["FastModel", "enclose_particle", "STATUS"]

#: the per-particle status codes written by :func:`enclose_particle`
STATUS = {
    0: "enclosed",
    1: "no a-priori box validates even for a tiny step",
    2: "the Taylor remainder stays above the local tolerance even for a tiny step",
    3: "more than max_steps steps",
    4: "a bound is not finite",
    5: "the next step fell below step_floor t and below the first step",
}

# row blocks of the series scratch (offsets in FastModel.offsets)
(
    R_Y,
    R_A,
    R_E2,
    R_INV,
    R_AINV,
    R_VJ,
    R_KAP,
    R_DS,
    R_Q,
    R_Q0,
    R_L,
    R_U,
    R_Z,
    R_R,
    R_MM,
    R_V,
    R_N,
    R_Y2,
    R_AY,
    R_SK,
    R_ESK,
    R_SM,
    R_DINV,
    R_B,
    R_X,
    R_DMU,
    R_DMU2,
    R_M2,
    R_LM1,
    R_AINVS,
    R_INVC,
    R_LM1C,
    R_T,
    R_LC,
    R_W,
    R_CJ,
    R_CK,
    R_LCEN,
    R_DMUT,
    R_DMU2T,
    R_END,
) = range(41)
# the k-row blocks of R_CK (:func:`_centred_exponents`): Q, Q0, a^ y, y^2 and g_* shared by every component; the
# lanes' terms and derivatives; a component's rho at A^, rho over A and lam - 1 gathered; the reference component's
# rho at A^; the flag where the variances differ
C_Q, C_Q0, C_AY, C_Y2, C_GS, C_T, C_D, C_P, C_R, C_M, C_S, C_DIFF, C_END = range(13)
# rows of the vector scratch: the step's vectors, and the time-series cache (key, orders done per variance)
# (V_KEY: the time interval, orders done of a and a^2, orders done of 1/v, 1 + the reference component of the
# constant rows, 1 + that of the exponents' constants, the time of _centred_exponents' rho(a^) rows, 1 + the reference
# component of the rows R_LCEN that _recentre_exponents left for the current box and time interval (0: none);
# V_SL .. V_AH: the accumulators of the lane-wise series products; V_IB: see _inv_rows)
V_C, V_XL, V_XH, V_YL, V_YH, V_FL, V_FH, V_UH, V_HN, V_ERR, V_KEY, V_TA, V_RH, V_P, V_SL, V_SH, V_AL, V_AH, V_IB = (
    range(19)
)
N_VEC_ROWS = 19
#: steps aim at a remainder of this fraction of the local tolerance (the remainder grows faster than h^(m+1): the
#: box widens with h, and the radius of convergence shrinks with t)
TARGET = 0.25
#: power iterations for the weights of :func:`_collatz_wielandt`, and the least weight relative to the largest
POWER_ITERATIONS = 12
WEIGHT_FLOOR = 1e-8
#: up to this many coordinates the kernels skip the work whose benefit grows with the coordinate count: the Gram-matrix
#: bound of the log-norm (the trace is then within this factor of ``lambda_max``) and the exponents centred in time
#: (the time interval's width is paid once per coordinate); above it with as many coordinates whose variances differ,
#: the box series limits the steps (:attr:`FastModel.box_limited`)
FEW_COORDINATES = 3
#: :func:`_series`' ``centre``: the order-0 exponents centred in time computed in the call, or taken from the rows
#: ``R_LCEN`` that :func:`_recentre_exponents` left for the same box, time interval and reference component
CENTRE, CENTRE_KEPT = 1, 2
N_OUT = 8  # out[p]: radius, steps, status, failure time, failure step, failure radius E, last h, attempts
N_CHECK = 5  # ck[p, q]: time (0: not reached), radius E there, A, B (the end's radius is at most A d + B), steps
CHECK_SPACING = 8  # accepted steps between checkpoints at first (see _checkpoints)
U_HALF = 1.1102230246251565e-16  # u = 2^-53


@device_function(inline=True)
def _dot_bound(sl, sh, al, ah, terms):
    """Round outward a sum of ``terms`` interval products accumulated in round-to-nearest (see :func:`_conv`).

    :func:`_conv` shows ``sum m_j >= s~ - k A~ - d`` with ``k = (terms + 2) u`` and ``d`` the underflows (at most
    ``terms 2^-1075``). The margin ``M = fl(fl(k' A~) + 1e-300)`` with ``k' = (terms + 4) u`` (exact: an integer
    times a power of 2) is at least ``k' A~ (1 - u)^2 + 1e-300 (1 - u) - 2^-1074`` (each rounding loses at most a
    factor ``1 - u`` or, below the normal range, half an ``eta``), and ``k' (1 - u)^2 >= k`` for ``2 u (terms + 4) <=
    1``, so ``M >= k A~ + d`` and ``down(fl(s~ - M)) <= s~ - M <= sum m_j``. The upper endpoint likewise.
    """
    k = (terms + 4) * U_HALF
    return next_down(sl - (k * al + 1e-300)), next_up(sh + (k * ah + 1e-300))


@device_function(inline=True)
def _sum_bound(sl, sh, al, ah):
    r"""Round outward a sum of intervals accumulated in round-to-nearest: ``sl``, ``sh`` the computed sums of the lower
    and upper endpoints, ``al``, ``ah`` the computed sums of the magnitudes of their partial sums.

    Recursive summation ``s^_i = fl(s^_{i-1} + x_i)`` commits ``e_i = s^_i - (s^_{i-1} + x_i)`` with ``|e_i| <= u
    |s^_i|`` (round to nearest; a sum that is subnormal is exact), so ``|s^_N - sum x_i| <= u S`` with ``S = sum_i
    |s^_i|``, all nonnegative: their computed sum ``A~`` has ``S <= A~ / (1 - gamma_{N-1}) <= 2 A~`` for ``(N - 1) u
    <= 1/3``. So ``sum x_i >= s^_N - 2 u A~``, evaluated with outward widening (``2 u A~`` is exact or rounds up in
    ``next_up``); the upper endpoint likewise. Cancellation keeps the partial sums, and with them the bound, small
    (it bounds the rounding of the sum actually computed, not of the terms).
    """
    return next_down(sl - next_up(2.0 * U_HALF * al)), next_up(sh + next_up(2.0 * U_HALF * ah))


@device_function(inline=True)
def _row_sum(RL, RH, count):
    """The sum of the intervals ``[RL[i], RH[i]]``, ``i < count``, accumulated in round-to-nearest and bounded once by
    :func:`_sum_bound`."""
    sl, sh, al, ah = 0.0, 0.0, 0.0, 0.0
    for i in range(count):
        sl += RL[i]
        sh += RH[i]
        al += abs(sl)
        ah += abs(sh)
    return _sum_bound(sl, sh, al, ah)


@device_function(inline=True)
def _add_product(a0, a1, b0, b1, sl, sh, al, ah):
    """One term of the sums bounded by :func:`_dot_bound`: the least and largest rounded endpoint products of
    ``[a0, a1] [b0, b1]`` added to ``sl``, ``sh``, and their magnitudes to ``al``, ``ah`` (inlined, so a loop
    of them over lanes stays free of calls)."""
    p1 = a0 * b0
    p2 = a0 * b1
    p3 = a1 * b0
    p4 = a1 * b1
    lo = fmin(fmin(fmin(p1, p2), p3), p4)
    hi = fmax(fmax(fmax(p1, p2), p3), p4)
    return sl + lo, sh + hi, al + abs(lo), ah + abs(hi)


@device_function(inline=True)
def _lanes_zero(vec, count):
    """The lanes' four sums (rows ``V_SL`` .. ``V_AH`` of the vector scratch) set to 0 for ``count`` lanes."""
    SL, SH, AL, AH = vec[V_SL, :count], vec[V_SH, :count], vec[V_AL, :count], vec[V_AH, :count]
    for r in range(count):
        SL[r] = 0.0
        SH[r] = 0.0
        AL[r] = 0.0
        AH[r] = 0.0
    return SL, SH, AL, AH


@device_function
def _conv(LO, HI, ra, rb, n):
    r"""Coefficient ``n`` of the product of the series in rows ``ra`` and ``rb``: ``sum_j [a_j] [b_{n-j}]``.

    A dot product bounded a posteriori rather than widened term by term (three times fewer dependent
    operations). Each product's endpoints are rounded products ``f = fl(x)``, ``|f - x| <= u |x|``; the
    exact lower endpoint ``m_j = min_k x_k`` obeys ``m_j >= m~_j - u' |m~_j|`` with ``m~_j`` the minimum of
    the rounded ones and ``u' = u / (1 - u)`` (``f -> f - u' |f|`` is increasing). The ``n + 1`` minima are
    summed to ``s~`` with ``|s~ - sum m~_j| <= gamma_n sum |m~_j|`` and ``sum |m~_j| <= A~ / (1 - gamma_n)`` for
    the computed ``A~ = fl(sum |m~_j|)`` (recursive summation: Higham, ch. 4, cited in :mod:`.interval`); so
    ``sum m_j >= s~ - (n + 3) u A~``, evaluated with outward widening, minus ``1e-300`` for the underflows
    (each at most ``2^-1075``). The upper endpoint likewise.
    """
    sl = 0.0
    sh = 0.0
    al = 0.0
    ah = 0.0
    for j in range(n + 1):
        a0 = LO[j, ra]
        a1 = HI[j, ra]
        sl, sh, al, ah = _add_product(a0, a1, LO[n - j, rb], HI[n - j, rb], sl, sh, al, ah)
    return _dot_bound(sl, sh, al, ah, n + 1)


@device_function
def _conv_from(LO, HI, ra, rb, n, first, weighted):
    """``sum_{j=first}^{n} w_j [a_j] [b_{n-j}]`` with ``w_j = j`` if ``weighted`` else 1 (bounded as in :func:`_conv`:
    ``j`` times a product is one more rounding, covered by counting every term twice: ``terms = 2 (n + 1)``)."""
    sl = 0.0
    sh = 0.0
    al = 0.0
    ah = 0.0
    for j in range(first, n + 1):
        a0 = LO[j, ra]
        a1 = HI[j, ra]
        if weighted:
            a0 *= j  # one more rounding of each product (an integer times a float): counted in terms = 2 (n + 1)
            a1 *= j
        sl, sh, al, ah = _add_product(a0, a1, LO[n - j, rb], HI[n - j, rb], sl, sh, al, ah)
    return _dot_bound(sl, sh, al, ah, 2 * (n + 1))


@device_function
def _lanes_conv(LO, HI, ra, rb, n, count, vec, dst):
    """Lanes ``r < count``: ``_conv(LO, HI, ra + r, rb + r, n)`` into column ``n`` of row ``dst + r``.

    Each lane performs the operations of :func:`_conv` on its own rows in the same order (the sum over ``j``
    from 0 to ``n``, then :func:`_dot_bound`), so its result is :func:`_conv`'s to the bit and the proof there
    applies lane by lane; the loop over lanes is innermost and free of calls, so it runs in SIMD lanes.
    """
    _lanes_sums(LO, HI, ra, rb, n, 0, False, count, vec)
    _lanes_bound(LO, HI, n, count, vec, dst, n + 1)


@device_function
def _lanes_conv_from(LO, HI, ra, rb, n, first, weighted, count, vec, dst):
    """Lanes ``r < count``: ``_conv_from(LO, HI, ra + r, rb + r, n, first, weighted)`` into column ``n`` of row ``dst
    + r``: per lane the operations of :func:`_conv_from` in its order (the weight, the four products, the sums, then
    :func:`_dot_bound` with ``terms = 2 (n + 1)``), so its result to the bit and the proof there lane by lane."""
    _lanes_sums(LO, HI, ra, rb, n, first, weighted, count, vec)
    _lanes_bound(LO, HI, n, count, vec, dst, 2 * (n + 1))


@device_function(inline=True)
def _lanes_sums(LO, HI, ra, rb, n, first, weighted, count, vec):
    """The four sums of :func:`_conv_from` per lane ``r < count`` (rows ``ra + r``, ``rb + r``; ``j`` from ``first`` to
    ``n``, term ``j`` weighted by ``j`` where ``weighted``) into the rows ``V_SL`` .. ``V_AH`` of the vector scratch,
    before :func:`_lanes_bound`; the loop over lanes is innermost and free of calls (inlined with its arguments, so
    the ``weighted`` branch folds away)."""
    SL, SH, AL, AH = _lanes_zero(vec, count)
    for j in range(first, n + 1):
        A0, A1 = LO[j, ra : ra + count], HI[j, ra : ra + count]
        B0, B1 = LO[n - j, rb : rb + count], HI[n - j, rb : rb + count]
        w = float(j) if weighted else 1.0
        for r in range(count):
            a0 = A0[r] * w if weighted else A0[r]
            a1 = A1[r] * w if weighted else A1[r]
            SL[r], SH[r], AL[r], AH[r] = _add_product(a0, a1, B0[r], B1[r], SL[r], SH[r], AL[r], AH[r])


@device_function
def _lanes_conv_scalar(LO, HI, rs, rv, scalar_first, n, first, terms, count, vec, dst):
    """Lanes ``r < count``: the product of the one series in row ``rs`` with the series in rows ``rv + r``, summed
    over ``j`` from ``first`` to ``n``, bounded with ``terms`` terms, into column ``n`` of row ``dst + r``.

    With ``scalar_first`` term ``j`` is ``[s_j] [v_{n-j}]`` (``_conv_from(LO, HI, rs, rv + r, n, first, False)``
    with ``terms = 2 (n + 1)``, or :func:`_conv` with ``first = 0``, ``terms = n + 1``), else ``[v_j] [s_{n-j}]``
    (:func:`_conv` of ``rv + r`` and ``rs``): per lane the same four products, the same sums in the same order
    and the same :func:`_dot_bound` as those functions, so the same results and proof.
    """
    SL, SH, AL, AH = _lanes_zero(vec, count)
    for j in range(first, n + 1):
        js, jv = (j, n - j) if scalar_first else (n - j, j)
        s0, s1 = LO[js, rs], HI[js, rs]
        V0, V1 = LO[jv, rv : rv + count], HI[jv, rv : rv + count]
        for r in range(count):
            SL[r], SH[r], AL[r], AH[r] = _add_product(s0, s1, V0[r], V1[r], SL[r], SH[r], AL[r], AH[r])
    _lanes_bound(LO, HI, n, count, vec, dst, terms)


@device_function(inline=True)
def _lanes_bound(LO, HI, n, count, vec, dst, terms):
    """:func:`_dot_bound` of each lane's sums, into column ``n`` of rows ``dst .. dst + count - 1``."""
    k = (terms + 4) * U_HALF
    OL, OH = LO[n, dst : dst + count], HI[n, dst : dst + count]
    SL, SH, AL, AH = vec[V_SL, :count], vec[V_SH, :count], vec[V_AL, :count], vec[V_AH, :count]
    for r in range(count):
        OL[r] = next_down(SL[r] - (k * AL[r] + 1e-300))
        OH[r] = next_up(SH[r] + (k * AH[r] + 1e-300))


@device_function(inline=True)
def _variance(ml, mh, e2l, e2h):
    """``v = 1 + (lam - 1) a^2`` from ``lam - 1`` in ``[ml, mh]`` and ``a^2`` in ``[e2l, e2h]``."""
    pl, ph = imul(ml, mh, e2l, e2h)
    return iadd(pl, ph, 1.0, 1.0)


@device_function
def _time_series(n, lams, jmask, LO, HI, off, tl, th, vec, block, k):
    """Coefficient ``n`` of ``a``, ``a^2`` and, per variance ``lam_j``, of ``1/v`` and (where ``jmask[j] == 2``) of
    ``a/v`` and ``kappa = 1 - 1/v`` (``v = 1 + (lam_j - 1) a^2``, ``a = e^{-t}``, ``t`` in ``[tl, th]`` at ``tau =
    0``), and ``v`` itself at order 0 (:func:`_exponent_constants` takes one logarithm of a product of them per
    component; the higher coefficients of ``log v`` follow from those of ``1/v``, see :func:`_exponents`). ``1/v``
    is computed for every variance at once, in SIMD lanes (the ones no component uses cost a lane each, no branch).
    Coefficients already computed for the same ``[tl, th]`` are kept (the cache key and the orders done live in the
    vector scratch). ``block`` is the first of the reference component's ``k`` consecutive variances, or -1.
    """
    ra, re2 = off[R_A], off[R_E2]
    J = lams.shape[0]
    if n == 0 and not (vec[V_KEY, 0] == tl and vec[V_KEY, 1] == th):
        vec[V_KEY, 0], vec[V_KEY, 1], vec[V_KEY, 2], vec[V_KEY, 3], vec[V_KEY, 5] = tl, th, 0.0, 0.0, 0.0
        vec[V_KEY, 7] = 0.0  # the centred exponents were for another time interval
        for j in range(J):
            vec[V_TA, j] = 0.0
    if n >= vec[V_KEY, 2]:
        if n == 0:
            al, ah = exp_bounds(-th, -tl)
            LO[0, ra], HI[0, ra] = al, ah
            LO[0, re2], HI[0, re2] = isqr(al, ah)
        else:
            LO[n, ra], HI[n, ra] = idiv_pos(LO[n - 1, ra], HI[n - 1, ra], float(n))
            LO[n, re2], HI[n, re2] = idiv_pos(2.0 * LO[n - 1, re2], 2.0 * HI[n - 1, re2], float(n))
        vec[V_KEY, 2] = n + 1
    ri, rv = off[R_INV], off[R_VJ]
    if n >= vec[V_KEY, 3]:
        ML, MH = LO[0, off[R_LM1] : off[R_LM1] + J], HI[0, off[R_LM1] : off[R_LM1] + J]
        IL, IH = LO[n, ri : ri + J], HI[n, ri : ri + J]
        GL, GH = LO[0, rv : rv + J], HI[0, rv : rv + J]
        WL, WH = LO[0, off[R_W] : off[R_W] + J], HI[0, off[R_W] : off[R_W] + J]
        if n == 0:
            el, eh = LO[0, re2], HI[0, re2]
            for j in range(J):
                vl, vh = _variance(ML[j], MH[j], el, eh)
                IL[j], IH[j] = idiv(1.0, 1.0, vl, vh)
                GL[j], GH[j] = vl, vh  # v itself, for :func:`_exponent_constants`
                pl, ph = imul(ML[j], MH[j], IL[j], IH[j])
                WL[j], WH[j] = -ph, -pl  # -(lam - 1) (1/v)_0
        else:
            # 1/v: v_q = (lam - 1) (a^2)_q for q >= 1, (1/v)_n = -(lam - 1) (1/v)_0 sum_{q=1}^n (a^2)_q (1/v)_{n-q}
            _lanes_conv_scalar(LO, HI, re2, ri, True, n, 1, 2 * (n + 1), J, vec, ri)
            for j in range(J):
                IL[j], IH[j] = imul(IL[j], IH[j], WL[j], WH[j])
        vec[V_KEY, 3] = n + 1
    if block >= 0 and n >= vec[V_TA, block]:
        # the reference component's k consecutive variances (``block``: see :func:`_inv_rows`) at once, in SIMD lanes:
        # per lane the operations of the loop below, so the same results
        rai, rk, rib, rm = off[R_AINV] + block, off[R_KAP] + block, ri + block, off[R_LM1] + block
        _lanes_conv_scalar(LO, HI, ra, rib, True, n, 0, n + 1, k, vec, rai)
        KL, KH = LO[n, rk : rk + k], HI[n, rk : rk + k]
        IL, IH = LO[n, rib : rib + k], HI[n, rib : rib + k]
        if n == 0:
            ML, MH = LO[0, rm : rm + k], HI[0, rm : rm + k]
            el, eh = LO[0, re2], HI[0, re2]
            for i in range(k):
                pl, ph = imul(ML[i], MH[i], el, eh)
                KL[i], KH[i] = imul(pl, ph, IL[i], IH[i])
        else:
            for i in range(k):
                KL[i], KH[i] = -IH[i], -IL[i]
        for i in range(k):
            vec[V_TA, block + i] = n + 1
    for j in range(J):
        if jmask[j] == 2 and n >= vec[V_TA, j]:
            rai, rk = off[R_AINV] + j, off[R_KAP] + j
            LO[n, rai], HI[n, rai] = _conv(LO, HI, ra, ri + j, n)
            if n == 0:  # kappa = 1 - 1/v = (lam - 1) a^2 / v, in the form without cancellation
                pl, ph = imul(LO[0, off[R_LM1] + j], HI[0, off[R_LM1] + j], LO[0, re2], HI[0, re2])
                LO[0, rk], HI[0, rk] = imul(pl, ph, LO[0, ri + j], HI[0, ri + j])
            else:
                LO[n, rk], HI[n, rk] = -HI[n, ri + j], -LO[n, ri + j]
            vec[V_TA, j] = n + 1


@device_function
def _exponent_constants(star, vidx, shared, lwd, LO, HI, off, vec):
    """Column 0 of the ``l`` constant rows, which :func:`_exponents` adds at order 0: ``log(w_c / w_*) - log(prod_i
    v_{c,i} / v_{*,i}) / 2`` over the coordinates where the variances differ (``v`` from column 0 of its
    rows), for every ``c != *``. They depend on the time interval and ``*`` only: kept while neither changes (``1 +
    *`` in the vector scratch, reset by :func:`_time_series` with the time interval)."""
    if vec[V_KEY, 5] == star + 1:
        return
    K, k = vidx.shape
    for c in range(K):
        if c == star:
            continue
        ll, lh = lwd[c, star, 0], lwd[c, star, 1]
        ql, qh = 1.0, 1.0
        for i in range(k):
            jc, js = vidx[c, i], vidx[star, i]
            if shared[i] < 0 and jc != js:
                r1, r2 = off[R_VJ] + jc, off[R_VJ] + js
                pl, ph = idiv(LO[0, r1], HI[0, r1], LO[0, r2], HI[0, r2])
                ql, qh = imul(ql, qh, pl, ph)
        if not (ql == 1.0 and qh == 1.0):  # a product of exactly 1 has log 0
            pl, ph = log_bounds(ql, qh)
            ll, lh = isub(ll, lh, 0.5 * pl, 0.5 * ph)
        LO[0, off[R_LC] + c], HI[0, off[R_LC] + c] = ll, lh
    vec[V_KEY, 5] = star + 1


@device_function(inline=True)
def _block(LO, HI, start, k, r):
    """The ``r``-th block of ``k`` rows from ``start``, at order 0 (lower and upper endpoints)."""
    a = start + r * k
    return LO[0, a : a + k], HI[0, a : a + k]


@device_function
def _centred_exponents(th, star, active, means, vidx, lams, lwd, jmask, unshared, LO, HI, off, vec):
    r"""Column 0 of the rows ``R_LCEN + c``: a second enclosure of ``l_c - l_*`` over the box ``Y`` (order-0 ``y``
    rows) and every ``t`` in ``[tl, th]`` (the time rows of the current :func:`_series` call), centred in time;
    :func:`_exponents` keeps the intersection of the two.

    The plain evaluation at order 0 pays for the time interval once per coordinate: over ``[tl, th]`` each of the
    ``k`` terms of :func:`_exponents` varies by about ``h`` times its size, and the ``k`` widths add, where the exact
    variations of the sum largely cancel (measured in ``docs/performance.md``). A mean-value form in ``a = e^{-t}``
    pays for it once, after the sum.

    Proof. Fix ``y`` in ``Y``. ``l_c - l_* = lambda(a) + phi(a)`` with ``lambda = log(w_c / w_*) - sum_i log(v_{c,i} /
    v_{*,i}) / 2`` and ``phi(a) = -sum_i (d_{c,i}^2 rho_{c,i} - d_{*,i}^2 rho_{*,i}) / 2``, ``d = y - a mu``, ``v = 1 +
    (lam - 1) a^2``, ``rho = 1 / v``. ``lambda`` over ``A`` (the interval of ``a`` over ``[tl, th]``) is the constant
    row :func:`_exponent_constants` writes (``log(w_c / w_*)`` exactly where every coordinate is shared). ``phi`` is
    ``C^1`` where every ``v > 0``, which holds for ``a`` in ``[0, 1)`` whatever ``lam >= 0`` (``v = 1 - a^2 + lam a^2
    >= 1 - a^2``; point clouds have ``lam = 0``) and ``t >= delta > 0`` gives ``a < 1``; with
    ``d rho / da = -2 (lam - 1) a rho^2``, ``d(-d^2 rho / 2) / da = rho d (mu + kappa' d)``, ``kappa' = (lam - 1) a
    rho``, so ``phi'(a) = sum_i (g_{c,i} - g_{*,i})``, ``g = rho d (mu + kappa' d)``. Let ``A^`` enclose ``a^ =
    e^{-th}``; it is checked to lie in ``A``. For ``a`` in ``A`` the mean value theorem gives ``phi(a) = phi(a^) + (a -
    a^) phi'(xi)`` with ``xi`` between them, in ``A``. ``phi(a^)`` lies in the interval evaluation over ``Y x A^`` of
    :func:`_exponents`' form ``sum_i (dmu_i Q_i - dmu_i^2 Q0_i / 2 + D_i B_{c,i})`` (the same function, written
    without cancellation), ``a - a^`` in ``A - A^``, and ``phi'(xi)`` in the interval evaluation of ``sum_i (g_{c,i} -
    g_{*,i})`` over ``Y x A``: every operation is an outward-rounded interval operation (:mod:`.interval`) and the
    sums over ``i`` are bounded by :func:`_sum_bound`. So the sum of the three enclosures contains ``l_c - l_*`` at
    every ``a`` in ``A`` and ``y`` in ``Y``; so does the plain enclosure, and hence their intersection.

    ``rho(a^)`` of every variance is kept between calls with the same ``th`` (one step's attempts); each call costs
    a few interval operations per component and coordinate, in SIMD lanes.
    """
    K, k = means.shape
    J = lams.shape[0]
    al, ah = LO[0, off[R_A]], HI[0, off[R_A]]
    pl, ph = exp_bounds(-th, -th)
    rc = off[R_LCEN]
    if not (pl >= al and ph <= ah):  # the mean value theorem needs A^ in A: no second enclosure
        for c in range(K):
            LO[0, rc + c], HI[0, rc + c] = -math.inf, math.inf
        return
    gl, gh = isub(al, ah, pl, ph)  # a - a^
    p2l, p2h = isqr(pl, ph)
    cj, ck, ri, rm = off[R_CJ], off[R_CK], off[R_INV], off[R_LM1]
    if vec[V_KEY, 6] != th:  # rho at A^, every variance
        for j in range(J):
            vl, vh = _variance(LO[0, rm + j], HI[0, rm + j], p2l, p2h)
            LO[0, cj + j], HI[0, cj + j] = idiv(1.0, 1.0, vl, vh)
        vec[V_KEY, 6] = th
    YL, YH = LO[0, off[R_Y] : off[R_Y] + k], HI[0, off[R_Y] : off[R_Y] + k]
    QL, QH = _block(LO, HI, ck, k, C_Q)
    Q0L, Q0H = _block(LO, HI, ck, k, C_Q0)
    AYL, AYH = _block(LO, HI, ck, k, C_AY)
    Y2L, Y2H = _block(LO, HI, ck, k, C_Y2)
    GSL, GSH = _block(LO, HI, ck, k, C_GS)
    TL, TH = _block(LO, HI, ck, k, C_T)
    DL, DH = _block(LO, HI, ck, k, C_D)
    # per component, its variances' rows gathered contiguous (so that the coordinate loop runs in SIMD lanes):
    # rho at A^, rho over A, lam - 1, and the reference component's rho at A^; a flag where the variances differ
    PL, PH = _block(LO, HI, ck, k, C_P)
    RL, RH = _block(LO, HI, ck, k, C_R)
    ML, MH = _block(LO, HI, ck, k, C_M)
    SL, SH = _block(LO, HI, ck, k, C_S)
    DIFF = _block(LO, HI, ck, k, C_DIFF)[0]
    VS = vidx[star]
    _centred_shared_rows(
        pl,
        ph,
        p2l,
        p2h,
        al,
        ah,
        means[star],
        (LO[0, cj : cj + J], HI[0, cj : cj + J]),
        (LO[0, ri : ri + J], HI[0, ri : ri + J], LO[0, rm : rm + J], HI[0, rm : rm + J], VS),
        (YL, YH),
        (QL, QH),
        (Q0L, Q0H),
        (AYL, AYH),
        (Y2L, Y2H),
        (GSL, GSH),
        (RL, RH),
        (ML, MH),
        (SL, SH),
    )
    for c in range(K):
        if c == star or active[c] == 0:
            continue
        MC, VC = means[c], vidx[c]
        for i in range(k):
            jc = VC[i]
            PL[i], PH[i] = LO[0, cj + jc], HI[0, cj + jc]
            RL[i], RH[i] = LO[0, ri + jc], HI[0, ri + jc]
            ML[i], MH[i] = LO[0, rm + jc], HI[0, rm + jc]
            DIFF[i] = 1.0 if jc != VS[i] else 0.0
        m0, m2, q0 = off[R_DMU] + c * k, off[R_DMU2] + c * k, off[R_M2] + c * k
        DML, DMH = LO[0, m0 : m0 + k], HI[0, m0 : m0 + k]
        D2L, D2H = LO[0, m2 : m2 + k], HI[0, m2 : m2 + k]
        M2L, M2H = LO[0, q0 : q0 + k], HI[0, q0 : q0 + k]
        for i in range(k):  # in SIMD lanes: each lane its coordinate's interval operations
            xl, xh = imul(DML[i], DMH[i], QL[i], QH[i])
            ql, qh = imul(D2L[i], D2H[i], Q0L[i], Q0H[i])
            xl, xh = isub(xl, xh, 0.5 * ql, 0.5 * qh)
            el, eh = isub(PL[i], PH[i], SL[i], SH[i])
            bl, bh = imul(MC[i], MC[i], AYL[i], AYH[i])
            bl, bh = isub(bl, bh, 0.5 * Y2L[i], 0.5 * Y2H[i])
            ql, qh = imul(M2L[i], M2H[i], p2l, p2h)
            bl, bh = isub(bl, bh, 0.5 * ql, 0.5 * qh)
            ql, qh = imul(el, eh, bl, bh)
            yl, yh = iadd(xl, xh, ql, qh)
            differs = DIFF[i] != 0.0
            TL[i] = yl if differs else xl  # D = 0 exactly where the variances agree
            TH[i] = yh if differs else xh
            ql, qh = _a_derivative(YL[i], YH[i], al, ah, MC[i], RL[i], RH[i], ML[i], MH[i])
            DL[i], DH[i] = isub(ql, qh, GSL[i], GSH[i])
        ll, lh = _row_sum(TL, TH, k)
        if unshared:
            ll, lh = iadd(ll, lh, LO[0, off[R_LC] + c], HI[0, off[R_LC] + c])
        else:
            ll, lh = iadd(ll, lh, lwd[c, star, 0], lwd[c, star, 1])
        ql, qh = _row_sum(DL, DH, k)
        ql, qh = imul(gl, gh, ql, qh)
        LO[0, rc + c], HI[0, rc + c] = iadd(ll, lh, ql, qh)


@device_function
def _centred_shared_rows(pl, ph, p2l, p2h, al, ah, MS, S0, S1, Y, Q, Q0, AY, Y2, GS, R, M, S):
    """The rows of :func:`_centred_exponents` that every component shares, at ``A^ = [pl, ph]`` (``A^2`` in ``[p2l,
    p2h]``) and over ``A = [al, ah]``: ``Q = (a^ rho_*) d_*``, ``Q0 = a^2 rho_*``, ``a^ y``, ``y^2`` and ``g_*`` (each
    argument a pair of lower and upper rows), from the reference component's means ``MS`` and its ``rho`` at ``A^``,
    ``rho`` over ``A`` and ``lam - 1`` gathered into ``S``, ``R``, ``M`` from the rows ``S0`` (of every variance at
    ``A^``) and ``S1`` (the ``(rho, lam - 1)`` rows of every variance, then the reference component's variances)."""
    k = MS.shape[0]
    (YL, YH), (QL, QH), (Q0L, Q0H), (AYL, AYH), (Y2L, Y2H), (GSL, GSH) = Y, Q, Q0, AY, Y2, GS
    (RL, RH), (ML, MH), (SL, SH) = R, M, S
    (PL, PH), (IL, IH, LML, LMH, VS) = S0, S1
    for i in range(k):
        s = VS[i]
        SL[i], SH[i] = PL[s], PH[s]
        RL[i], RH[i] = IL[s], IH[s]
        ML[i], MH[i] = LML[s], LMH[s]
    for i in range(k):  # the series shared by every c at A^, and g_* over A
        ql, qh = imul(pl, ph, MS[i], MS[i])
        dl, dh = isub(YL[i], YH[i], ql, qh)
        ql, qh = imul(pl, ph, SL[i], SH[i])
        QL[i], QH[i] = imul(ql, qh, dl, dh)  # Q = (a^ rho_*) d_*
        Q0L[i], Q0H[i] = imul(p2l, p2h, SL[i], SH[i])  # Q0 = a^2 rho_*
        AYL[i], AYH[i] = imul(pl, ph, YL[i], YH[i])
        Y2L[i], Y2H[i] = isqr(YL[i], YH[i])
        GSL[i], GSH[i] = _a_derivative(YL[i], YH[i], al, ah, MS[i], RL[i], RH[i], ML[i], MH[i])


@device_function(inline=True)
def _a_derivative(yl, yh, al, ah, m, rl, rh, ml, mh):
    """``g = rho d (mu + kappa' d)``, ``d = y - a mu``, ``kappa' = (lam - 1) a rho``, over ``y`` in ``[yl, yh]`` and
    ``a`` in ``[al, ah]``, with ``rho`` in ``[rl, rh]`` and ``lam - 1`` in ``[ml, mh]`` (see
    :func:`_centred_exponents`)."""
    ql, qh = imul(al, ah, m, m)
    dl, dh = isub(yl, yh, ql, qh)
    kl, kh = imul(ml, mh, al, ah)
    kl, kh = imul(kl, kh, rl, rh)
    xl, xh = imul(kl, kh, dl, dh)
    xl, xh = iadd(xl, xh, m, m)
    xl, xh = imul(xl, xh, dl, dh)
    return imul(xl, xh, rl, rh)


@device_function
def _exponents(n, star, active, means, vidx, lwd, shared, unshared, centred, LO, HI, off, vec):
    """Coefficient ``n`` of ``l_c - l_*`` and of ``u_c = e^{l_c - l_*}`` for the active ``c != *``.

    With ``d_c = y - a mu_c``, ``dmu = mu_c - mu_*`` and ``D = 1/v_c - 1/v_*`` per coordinate,
    ``l_c - l_* = log(w_c / w_*) - sum_i (d_c^2 / v_c - d_*^2 / v_* + log v_c - log v_*) / 2`` and
    ``d_c^2 / v_c - d_*^2 / v_* = d_c^2 D + (d_c^2 - d_*^2) / v_*`` with ``d_c^2 - d_*^2 = -a dmu (2 d_* - a dmu)``:

    ``l_c - l_* = log(w_c / w_*) + sum_i [dmu_i Q_i - dmu_i^2 Q0_i / 2 + D_i B_{c,i} - (log v_c - log v_*)_i / 2]``

    with the series ``Q_i = (a / v_*) d_*``, ``Q0_i = (a / v_*) a`` shared by every ``c`` (so where all
    variances agree, ``D = 0``, a component costs no series product) and ``B_{c,i} = -d_c^2 / 2 = mu_c (a y) -
    y^2 / 2 - mu_c^2 a^2 / 2``, formed from series shared by every ``c``. No two large terms cancel, so an
    interval evaluation over a box stays about as narrow as the variation of ``l_c - l_*``.

    At order 0 the log-variance terms are ``sum_i (log v_c - log v_*)_i = log prod_i (v_{c,i} / v_{*,i})`` (exactly,
    at every time of ``[tl, th]``): the product of the intervals of the ratios contains the exact product at every
    such time (each interval operation contains its exact results), and ``log`` is increasing, so
    :func:`~.interval.log_bounds` of the product interval contains the sum (:func:`_exponent_constants` writes it,
    with ``log(w_c / w_*)``, into the ``l`` constant rows, to which the rest is added). One logarithm per component
    replaces one per variance. (A product that overflows or underflows gives an infinite bound of the logarithm: the
    enclosure stays valid, and the step fails where ``u_c`` becomes unbounded.) From order 1 on, ``(log v)' = 2 (1 -
    1/v)`` gives ``(log v_c - log v_*)_n = -(2 / n) D_{n-1}`` exactly, so that term is ``D_{n-1} / n``.

    Where some variances differ (``unshared``) the bracket is enclosed per coordinate in SIMD lanes (``x_i``, each
    operation an interval operation; the ``D B`` and ``D_{n-1} / n`` parts selected where ``i`` is not shared and
    ``v_c != v_*``), and the ``k`` intervals are summed once, bounded a posteriori by :func:`_sum_bound`. Where every
    coordinate is shared the terms are added one by one with outward rounding, in SIMD lanes over the components.
    """
    k = means.shape[1]
    first, last = _active_span(star, active)
    if last < first:
        return
    if unshared:
        _unshared_exponents(n, star, active, vidx, shared, centred, LO, HI, off, vec)
    else:
        _shared_exponents(n, star, first, last, lwd, k, centred, LO, HI, off)
    rL, rU = off[R_L], off[R_U]
    if n == 0:
        for c in range(first, last + 1):
            if c != star and active[c] != 0:
                # an infinite bound (l - l_* > 709 somewhere on a box) is stored as is: _series then fails
                LO[0, rU + c], HI[0, rU + c] = exp_bounds(LO[0, rL + c], HI[0, rL + c])
        return
    # u' = u l': u_n = (1/n) sum_{q=1}^n q l_q u_{n-q}, for the components from the first active to the last in SIMD
    # lanes (the rows between, of * and of pruned components, are written and never read)
    count = last - first + 1
    _lanes_conv_from(LO, HI, rL + first, rU + first, n, 1, True, count, vec, rU + first)
    UL, UH = LO[n, rU + first : rU + first + count], HI[n, rU + first : rU + first + count]
    for r in range(count):
        UL[r], UH[r] = idiv_pos(UL[r], UH[r], float(n))


@device_function(inline=True)
def _active_span(star, active):
    """The first and last active component other than ``*`` (``last < first`` for none)."""
    first, last = active.shape[0], -1
    for c in range(active.shape[0]):
        if c != star and active[c] != 0:
            first = min(first, c)
            last = c
    return first, last


@device_function
def _shared_exponents(n, star, first, last, lwd, k, centred, LO, HI, off):
    """Coefficient ``n`` of ``l_c - l_*`` where every coordinate is shared, for the components ``first .. last``
    in SIMD lanes: per lane the terms ``dmu_i Q_i`` and ``dmu_i^2 Q0_i / 2`` added one by one with outward rounding,
    in the order of the coordinates (the rows of ``*`` and of pruned components between are written and never
    read). The lanes read ``dmu`` and ``dmu^2`` from the rows laid out by coordinate, contiguous over the components
    (read with a stride of ``k``, the loop did not run in SIMD lanes)."""
    count = last - first + 1
    K = lwd.shape[0]
    rL = off[R_L] + first
    LL, LH = LO[n, rL : rL + count], HI[n, rL : rL + count]
    for r in range(count):
        LL[r], LH[r] = (lwd[first + r, star, 0], lwd[first + r, star, 1]) if n == 0 else (0.0, 0.0)
    for i in range(k):
        ql, qh = LO[n, off[R_Q] + i], HI[n, off[R_Q] + i]
        q0l, q0h = LO[n, off[R_Q0] + i], HI[n, off[R_Q0] + i]
        m0, m2 = off[R_DMUT] + i * K + first, off[R_DMU2T] + i * K + first  # coordinate i's components, contiguous
        ML, MH, SL, SH = LO[0, m0 : m0 + count], HI[0, m0 : m0 + count], LO[0, m2 : m2 + count], HI[0, m2 : m2 + count]
        for r in range(count):
            pl, ph = imul(ML[r], MH[r], ql, qh)
            ll, lh = iadd(LL[r], LH[r], pl, ph)
            pl, ph = imul(SL[r], SH[r], q0l, q0h)
            LL[r], LH[r] = isub(ll, lh, 0.5 * pl, 0.5 * ph)
    if centred:  # the intersection with the enclosure centred in time (:func:`_centred_exponents`)
        rc = off[R_LCEN] + first
        for r in range(count):
            LL[r], LH[r] = _tighter(LL[r], LH[r], LO[0, rc + r], HI[0, rc + r])


@device_function
def _unshared_exponents(n, star, active, vidx, shared, centred, LO, HI, off, vec):
    """Coefficient ``n`` of ``l_c - l_*`` for the active ``c != *`` where some variances differ: per component the
    ``k`` bracketed terms in SIMD lanes over the coordinates, summed once (:func:`_row_sum`)."""
    K, k = vidx.shape
    rt = off[R_T]
    TL, TH = LO[n, rt : rt + k], HI[n, rt : rt + k]
    QL, QH = LO[n, off[R_Q] : off[R_Q] + k], HI[n, off[R_Q] : off[R_Q] + k]
    Q0L, Q0H = LO[n, off[R_Q0] : off[R_Q0] + k], HI[n, off[R_Q0] : off[R_Q0] + k]
    VS = vidx[star]
    for c in range(K):
        if c == star or active[c] == 0:
            continue
        # the weights and log-variance terms at order 0, from :func:`_exponent_constants`
        ll, lh = (LO[0, off[R_LC] + c], HI[0, off[R_LC] + c]) if n == 0 else (0.0, 0.0)
        m0, m2 = off[R_DMU] + c * k, off[R_DMU2] + c * k
        # the k terms in SIMD lanes, then their sum bounded once (see :func:`_exponents`)
        d0 = off[R_DINV] + c * k
        _lanes_conv(LO, HI, d0, off[R_B] + c * k, n, k, vec, rt)
        DML, DMH, D2L, D2H = LO[0, m0 : m0 + k], HI[0, m0 : m0 + k], LO[0, m2 : m2 + k], HI[0, m2 : m2 + k]
        DPL, DPH = LO[max(n - 1, 0), d0 : d0 + k], HI[max(n - 1, 0), d0 : d0 + k]
        VC = vidx[c]
        for i in range(k):
            pl, ph = imul(DML[i], DMH[i], QL[i], QH[i])
            ql, qh = imul(D2L[i], D2H[i], Q0L[i], Q0H[i])
            xl, xh = isub(pl, ph, 0.5 * ql, 0.5 * qh)
            yl, yh = iadd(xl, xh, TL[i], TH[i])
            if n > 0:  # - (log v_c - log v_*)_n / 2 = D_{n-1} / n
                gl, gh = idiv_pos(DPL[i], DPH[i], float(n))
                yl, yh = iadd(yl, yh, gl, gh)
            differs = shared[i] < 0 and VC[i] != VS[i]
            TL[i] = yl if differs else xl
            TH[i] = yh if differs else xh
        pl, ph = _row_sum(TL, TH, k)
        ll, lh = iadd(ll, lh, pl, ph)
        if centred:  # the intersection with the enclosure centred in time (:func:`_centred_exponents`)
            ll, lh = _tighter(ll, lh, LO[0, off[R_LCEN] + c], HI[0, off[R_LCEN] + c])
        LO[n, off[R_L] + c], HI[n, off[R_L] + c] = ll, lh


@device_function(inline=True)
def _inv_rows(c, k, off, vec):
    """The first of the ``k`` rows holding ``1/v_{c,i}``: the variances' own rows where component ``c``'s are ``k``
    consecutive variances (:class:`FastModel` numbers them in order of first appearance), else its gathered copy."""
    base = vec[V_IB, c]
    return off[R_INV] + int(base) if base >= 0.0 else off[R_INVC] + c * k


@device_function
def _coordinate_terms(n, star, active, means, vidx, shared, unshared, LO, HI, off, vec):
    """Coefficient ``n`` of the series of every coordinate shared by the components: ``d_* = y - a mu_*``, ``Q = (a
    / v_*) d_*``, ``Q0 = (a / v_*) a``; where the variances differ (``unshared``) also ``a y``, ``y^2``, the copies
    ``1/v_{c,i}`` (row per component and coordinate, for :func:`_drift`) and, per active ``c != *``, ``D_{c,i} = 1/v_c
    - 1/v_*`` and ``B_{c,i}`` (see :func:`_exponents`; computed in every coordinate, in SIMD lanes, and read only
    where the variances differ). Each lane's operations are those of the scalar formulas."""
    K, k = means.shape
    ra, ry, rds, re2 = off[R_A], off[R_Y], off[R_DS], off[R_E2]
    rains = off[R_AINVS]
    al, ah = LO[n, ra], HI[n, ra]
    YL, YH = LO[n, ry : ry + k], HI[n, ry : ry + k]
    DL, DH = LO[n, rds : rds + k], HI[n, rds : rds + k]
    MS = means[star]
    for i in range(k):
        pl, ph = imul(al, ah, MS[i], MS[i])
        DL[i], DH[i] = isub(YL[i], YH[i], pl, ph)
    for i in range(k):  # a / v_* per coordinate, gathered into contiguous rows
        LO[n, rains + i], HI[n, rains + i] = LO[n, off[R_AINV] + vidx[star, i]], HI[n, off[R_AINV] + vidx[star, i]]
    _lanes_conv(LO, HI, rains, rds, n, k, vec, off[R_Q])
    _lanes_conv_scalar(LO, HI, ra, rains, False, n, 0, n + 1, k, vec, off[R_Q0])
    if not unshared:
        return
    ray, ry2 = off[R_AY], off[R_Y2]
    _lanes_conv_scalar(LO, HI, ra, ry, True, n, 0, n + 1, k, vec, ray)
    _lanes_conv(LO, HI, ry, ry, n, k, vec, ry2)
    AYL, AYH = LO[n, ray : ray + k], HI[n, ray : ray + k]
    Y2L, Y2H = LO[n, ry2 : ry2 + k], HI[n, ry2 : ry2 + k]
    el, eh = LO[n, re2], HI[n, re2]
    rinv, rinvc = off[R_INV], off[R_INVC]
    for c in range(K):  # 1/v_{c,i}, gathered into a row per component and coordinate where not already contiguous
        if vec[V_IB, c] < 0.0:
            for i in range(k):
                LO[n, rinvc + c * k + i], HI[n, rinvc + c * k + i] = LO[n, rinv + vidx[c, i]], HI[n, rinv + vidx[c, i]]
    s0 = _inv_rows(star, k, off, vec)
    ISL, ISH = LO[n, s0 : s0 + k], HI[n, s0 : s0 + k]
    for c in range(K):
        if c == star or active[c] == 0:
            continue
        c0, d0, b0, m0 = _inv_rows(c, k, off, vec), off[R_DINV] + c * k, off[R_B] + c * k, off[R_M2] + c * k
        ICL, ICH = LO[n, c0 : c0 + k], HI[n, c0 : c0 + k]
        DIL, DIH = LO[n, d0 : d0 + k], HI[n, d0 : d0 + k]
        BL, BH = LO[n, b0 : b0 + k], HI[n, b0 : b0 + k]
        M2L, M2H = LO[0, m0 : m0 + k], HI[0, m0 : m0 + k]
        MC = means[c]
        for i in range(k):
            DIL[i], DIH[i] = isub(ICL[i], ICH[i], ISL[i], ISH[i])
            bl, bh = imul(MC[i], MC[i], AYL[i], AYH[i])
            bl, bh = isub(bl, bh, 0.5 * Y2L[i], 0.5 * Y2H[i])
            pl, ph = imul(M2L[i], M2H[i], el, eh)
            BL[i], BH[i] = isub(bl, bh, 0.5 * pl, 0.5 * ph)


@device_function
def _variance_mask(star, active, vidx, shared, gj, jmask):
    """``jmask[j]``: 0 unused, 1 for ``1/v`` (and ``v``), 2 also for ``a/v`` and ``kappa`` (the reference
    component's variances and the shared groups')."""
    K, k = vidx.shape
    for j in range(jmask.shape[0]):
        jmask[j] = 0
    for c in range(K):
        if active[c] != 0 or c == star:
            for i in range(k):
                jmask[vidx[c, i]] = max(jmask[vidx[c, i]], 1)
    for i in range(k):
        jmask[vidx[star, i]] = 2
    for g in range(gj.shape[0]):
        jmask[gj[g]] = 2


@device_function
def _constants(star, means, vidx, lams, unshared, LO, HI, off, vec):
    """Column 0 of the constant rows: ``mu_c - mu_*``, its square and ``mu_c^2`` per component and coordinate (where
    every coordinate is shared the first two also by coordinate, rows ``R_DMUT``, ``R_DMU2T``, for the lanes of
    :func:`_shared_exponents`),
    ``lam_j - 1`` per variance and (``unshared``) per component and coordinate (intervals: the float operations
    round). They depend on the model and ``*`` only: recomputed when ``*`` changes (``1 + *`` in the vector
    scratch; a fresh scratch holds 0)."""
    if vec[V_KEY, 4] == star + 1:
        return
    K, k = means.shape
    for c in range(K):
        for i in range(k):
            row = c * k + i
            dl, dh = isub(means[c, i], means[c, i], means[star, i], means[star, i])
            LO[0, off[R_DMU] + row], HI[0, off[R_DMU] + row] = dl, dh
            LO[0, off[R_DMU2] + row], HI[0, off[R_DMU2] + row] = isqr(dl, dh)
            LO[0, off[R_M2] + row], HI[0, off[R_M2] + row] = isqr(means[c, i], means[c, i])
            if not unshared:  # the same two rows by coordinate (row i K + c), for _shared_exponents' contiguous lanes
                col = i * K + c
                LO[0, off[R_DMUT] + col], HI[0, off[R_DMUT] + col] = LO[0, off[R_DMU] + row], HI[0, off[R_DMU] + row]
                LO[0, off[R_DMU2T] + col], HI[0, off[R_DMU2T] + col] = (
                    LO[0, off[R_DMU2] + row],
                    HI[0, off[R_DMU2] + row],
                )
    for j in range(lams.shape[0]):
        LO[0, off[R_LM1] + j], HI[0, off[R_LM1] + j] = isub(lams[j], lams[j], 1.0, 1.0)
    for c in range(K):  # where component c's variances are k consecutive ones, the first (see :func:`_inv_rows`)
        run = True
        for i in range(k):
            run = run and vidx[c, i] == vidx[c, 0] + i
        vec[V_IB, c] = float(vidx[c, 0]) if run else -1.0
    if unshared:
        for c in range(K):
            for i in range(k):
                rm = off[R_LM1] + vidx[c, i]
                LO[0, off[R_LM1C] + c * k + i], HI[0, off[R_LM1C] + c * k + i] = LO[0, rm], HI[0, rm]
    vec[V_KEY, 4] = star + 1


@device_function(inline=True)
def _some_unshared(shared):
    """Whether some coordinate has components of different variances (``shared[i] < 0``)."""
    for i in range(shared.shape[0]):
        if shared[i] < 0:
            return True
    return False


@device_function(inline=True)
def _tighter(al, ah, bl, bh):
    """The intersection of two enclosures ``[al, ah]`` and ``[bl, bh]`` of one number, endpoint by endpoint; a NaN
    bound of the second compares false and is not taken."""
    return (bl if bl > al else al), (bh if bh < ah else ah)


@device_function
def _series(order, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask, centre=0):
    """Taylor coefficients ``1 .. order`` of the solution through ``(Y[:, 0], t)``, ``t`` in ``[tl, th]``.

    The rows ``off[R_Y] + i`` hold ``y_i``; column 0 (an interval: a point or a box) is set by the caller.
    Coefficient ``n + 1`` is ``F_n / (n + 1)``, and ``F_n`` needs only coefficients ``<= n`` of everything.
    Only the ``active`` components take part (``*`` always does). With ``centre`` (:data:`CENTRE` or
    :data:`CENTRE_KEPT`) the order-0 exponents are intersected with their enclosure centred in time
    (:func:`_centred_exponents`). Returns False when a coefficient is not finite.
    """
    K, k = means.shape
    _variance_mask(star, active, vidx, shared, gj, jmask)
    unshared = _some_unshared(shared)
    _constants(star, means, vidx, lams, unshared, LO, HI, off, vec)
    for n in range(order):
        _time_series(n, lams, jmask, LO, HI, off, tl, th, vec, int(vec[V_IB, star]), k)
        if n == 0 and unshared:
            _exponent_constants(star, vidx, shared, lwd, LO, HI, off, vec)
        _coordinate_terms(n, star, active, means, vidx, shared, unshared, LO, HI, off, vec)
        centred = centre != 0 and n == 0 and tl < th
        if centred and centre != CENTRE_KEPT:
            _centred_exponents(th, star, active, means, vidx, lams, lwd, jmask, unshared, LO, HI, off, vec)
        _exponents(n, star, active, means, vidx, lwd, shared, unshared, centred, LO, HI, off, vec)
        if not _normaliser(n, star, active, LO, HI, off):
            return False  # every later product then involves only finite numbers
        if not _drift(n, star, active, means, vidx, lams, shared, gj, unshared, LO, HI, off, vec):
            return False
    return True


@device_function
def _normaliser(n, star, active, LO, HI, off):
    """Coefficient ``n`` of ``Z = 1 + sum_{c != *} u_c`` (the active components) and of ``R = 1 / Z``, from the ``u``
    rows up to ``n`` and ``R`` below ``n``; False where ``Z`` is not finite. The sum is accumulated in round-to-nearest
    and bounded once (:func:`_sum_bound`)."""
    rz, rr, ru = off[R_Z], off[R_R], off[R_U]
    sl, sh = (1.0, 1.0) if n == 0 else (0.0, 0.0)
    al, ah = abs(sl), abs(sh)
    for c in range(active.shape[0]):
        if c != star and active[c] != 0:
            sl += LO[n, ru + c]
            sh += HI[n, ru + c]
            al += abs(sl)
            ah += abs(sh)
    zl, zh = _sum_bound(sl, sh, al, ah)
    if not (math.isfinite(zl) and math.isfinite(zh)):
        return False
    LO[n, rz], HI[n, rz] = zl, zh
    if n == 0:
        LO[0, rr], HI[0, rr] = idiv(1.0, 1.0, zl, zh)
    else:
        sl, sh = _conv_from(LO, HI, rz, rr, n, 1, False)
        LO[n, rr], HI[n, rr] = imul(-sh, -sl, LO[0, rr], HI[0, rr])
    return True


@device_function
def _recentre_exponents(th, star, active, means, vidx, lams, lwd, shared, jmask, LO, HI, off, vec):
    """After an order-1 :func:`_series` call without centring: its order-0 rows of ``l_c - l_*``, ``u_c``, ``Z`` and
    ``R`` intersected with the enclosure centred in time (:func:`_centred_exponents`), as the same call with
    ``centre`` set leaves them, for the log-norm and the pruning; the drift rows stay the plain call's (a valid, wider
    enclosure). Costs about a plain order-1 series, half a centred one (``docs/performance.md``). False where ``Z``
    is not finite."""
    _centred_exponents(th, star, active, means, vidx, lams, lwd, jmask, _some_unshared(shared), LO, HI, off, vec)
    vec[V_KEY, 7] = star + 1  # R_LCEN holds them for this box, time interval and reference component
    for c in range(means.shape[0]):
        if c == star or active[c] == 0:
            continue
        rl, rc = off[R_L] + c, off[R_LCEN] + c
        ll, lh = _tighter(LO[0, rl], HI[0, rl], LO[0, rc], HI[0, rc])
        LO[0, rl], HI[0, rl] = ll, lh
        LO[0, off[R_U] + c], HI[0, off[R_U] + c] = exp_bounds(ll, lh)
    return _normaliser(0, star, active, LO, HI, off)


@device_function
def _drift(n, star, active, means, vidx, lams, shared, gj, unshared, LO, HI, off, vec):
    """``F_n`` from the series up to ``n``; writes coefficient ``n + 1`` of ``y``. False if not finite.

    ``F = y + s = sum_c r_c (kappa_c y + a mu_c / v_c)``, ``kappa = 1 - 1/v = (lam - 1) a^2 / v``: the form in
    which ``y`` and ``s`` do not cancel (at large ``t``, ``F`` is small and ``|y|`` is not). Where coordinate
    ``i`` has one variance, ``F_i = kappa_i y_i + (a / v_i) V_i`` with the responsibility-weighted mean ``V_i =
    mu_{*,i} + (sum_{c != *} u_c (mu_{c,i} - mu_{*,i})) / Z`` formed before it meets the time-dependent ``a /
    v_i`` (over a time interval, ``(a / v) mu_* + (a / v) W`` would not cancel). Elsewhere ``F_i = (y_i a^2
    sum_c (lam_{c,i} - 1) (u_c / v_{c,i}) + a sum_c mu_{c,i} (u_c / v_{c,i})) / Z``: one series product
    ``u_c / v_{c,i}`` per component and coordinate, ``a`` and ``a^2`` factored out of the sums. Those are formed in
    every coordinate at once, in SIMD lanes (each lane the scalar formula's operations in its order), and read where
    the variances differ.
    """
    K, k = means.shape
    if unshared:
        rsk, rsm, resk, rn, rt, ry = off[R_SK], off[R_SM], off[R_ESK], off[R_N], off[R_T], off[R_Y]
        SKL, SKH = LO[n, rsk : rsk + k], HI[n, rsk : rsk + k]
        SML, SMH = LO[n, rsm : rsm + k], HI[n, rsm : rsm + k]
        s0, l0 = _inv_rows(star, k, off, vec), off[R_LM1C] + star * k
        ISL, ISH = LO[n, s0 : s0 + k], HI[n, s0 : s0 + k]
        LSL, LSH = LO[0, l0 : l0 + k], HI[0, l0 : l0 + k]
        MS = means[star]
        for i in range(k):
            SKL[i], SKH[i] = imul(LSL[i], LSH[i], ISL[i], ISH[i])
            SML[i], SMH[i] = imul(MS[i], MS[i], ISL[i], ISH[i])
        TL, TH = LO[n, rt : rt + k], HI[n, rt : rt + k]
        for c in range(K):
            if c == star or active[c] == 0:
                continue
            _lanes_conv_scalar(LO, HI, off[R_U] + c, _inv_rows(c, k, off, vec), True, n, 0, n + 1, k, vec, rt)
            l0 = off[R_LM1C] + c * k
            LCL, LCH = LO[0, l0 : l0 + k], HI[0, l0 : l0 + k]
            MC = means[c]
            for i in range(k):
                pl, ph = imul(LCL[i], LCH[i], TL[i], TH[i])
                SKL[i], SKH[i] = iadd(SKL[i], SKH[i], pl, ph)
                pl, ph = imul(MC[i], MC[i], TL[i], TH[i])
                SML[i], SMH[i] = iadd(SML[i], SMH[i], pl, ph)
        _lanes_conv_scalar(LO, HI, off[R_E2], rsk, True, n, 0, n + 1, k, vec, resk)
        _lanes_conv(LO, HI, ry, resk, n, k, vec, rn)
        _lanes_conv_scalar(LO, HI, off[R_A], rsm, True, n, 0, n + 1, k, vec, rt)
        NL, NH = LO[n, rn : rn + k], HI[n, rn : rn + k]
        for i in range(k):
            NL[i], NH[i] = iadd(NL[i], NH[i], TL[i], TH[i])
        _lanes_conv_scalar(LO, HI, off[R_R], rn, False, n, 0, n + 1, k, vec, rt)
    for i in range(k):
        ry = off[R_Y] + i
        g = shared[i]
        if g >= 0:
            rm, rv, j = off[R_MM] + i, off[R_V] + i, gj[g]
            # sum_c dmu_{c,i} u_c: a dot product bounded a posteriori (:func:`_conv`)
            sl, sh, al, ah, terms = 0.0, 0.0, 0.0, 0.0, 0
            for c in range(K):
                if c != star and active[c] != 0:
                    row = off[R_DMU] + c * k + i
                    a0, a1, b0, b1 = LO[0, row], HI[0, row], LO[n, off[R_U] + c], HI[n, off[R_U] + c]
                    sl, sh, al, ah = _add_product(a0, a1, b0, b1, sl, sh, al, ah)
                    terms += 1
            LO[n, rm], HI[n, rm] = _dot_bound(sl, sh, al, ah, terms)
            vl, vh = _conv(LO, HI, rm, off[R_R], n)
            if n == 0:
                vl, vh = iadd(vl, vh, means[star, i], means[star, i])
            LO[n, rv], HI[n, rv] = vl, vh
            fl, fh = _conv(LO, HI, off[R_AINV] + j, rv, n)
            pl, ph = _conv(LO, HI, off[R_KAP] + j, ry, n)
            fl, fh = iadd(fl, fh, pl, ph)
        else:
            fl, fh = LO[n, off[R_T] + i], HI[n, off[R_T] + i]
        yl, yh = idiv_pos(fl, fh, float(n + 1))
        if not (math.isfinite(yl) and math.isfinite(yh)):
            return False
        LO[n + 1, ry], HI[n + 1, ry] = yl, yh
    return True


@device_function(inline=True)
def _g0(c, i, means, vidx, LO, HI, off):
    """``G_{c,i} = -(y_i - a mu_{c,i}) / v_{c,i}`` at order 0 (over the box of the last series call)."""
    pl, ph = imul(LO[0, off[R_A]], HI[0, off[R_A]], means[c, i], means[c, i])
    dl, dh = isub(LO[0, off[R_Y] + i], HI[0, off[R_Y] + i], pl, ph)
    gl, gh = imul(dl, dh, LO[0, off[R_INV] + vidx[c, i]], HI[0, off[R_INV] + vidx[c, i]])
    return -gh, -gl


@device_function(inline=True)
def _spread(c, i, centre, means, vidx, shared, gj, LO, HI, off):
    """``x_{c,i} = G_{c,i} - p_i`` over the box (order-0 rows): ``(a / v) (mu_{c,i} - pi_i)`` where coordinate ``i``
    has one variance (``p_i = -y_i / v + (a / v) pi_i``: the box width cancels), else ``G_{c,i} - p_i``."""
    g = shared[i]
    if g >= 0:
        dl, dh = isub(means[c, i], means[c, i], centre, centre)
        return imul(dl, dh, LO[0, off[R_AINV] + gj[g]], HI[0, off[R_AINV] + gj[g]])
    gl, gh = _g0(c, i, means, vidx, LO, HI, off)
    return isub(gl, gh, centre, centre)


@device_function(inline=True)
def _u_bounds(c, star, LO, HI, off):
    """``(lower, upper)`` of ``u_c`` over the box of the last series call: exactly 1 for the reference component
    ``*``, the lower bound at least 0 (``u_c`` is an exponential)."""
    if c == star:
        return 1.0, 1.0
    return max(0.0, LO[0, off[R_U] + c]), HI[0, off[R_U] + c]


@device_function
def _box_log_norm(th, star, active, means, vidx, lams, lwd, shared, gj, jmask, LO, HI, off, vec):
    """Step 3 after a validated a-priori box (every component active): :func:`_log_norm`, in more than three
    coordinates from the order-0 rows recentred in time (:func:`_recentre_exponents`; they tighten it where the
    weights are mixed, and the pruning that reads them next); inf where they are not finite."""
    if means.shape[1] > FEW_COORDINATES and not _recentre_exponents(
        th, star, active, means, vidx, lams, lwd, shared, jmask, LO, HI, off, vec
    ):
        return math.inf
    return _log_norm(star, means, vidx, lams, shared, gj, jmask, LO, HI, off, vec)


@device_function
def _log_norm(star, means, vidx, lams, shared, gj, jmask, LO, HI, off, vec):
    """Step 3: an upper bound of ``lambda_max`` of the drift's Jacobian over the box and time interval of
    the last :func:`_series` call, which must have had every component active (its order-0 rows are read).

    ``lambda_max(J) <= 1 - min 1/v + lambda_max(C)``, ``C = sum_c r_c x_c x_c^T`` with ``x_c = G_c - p`` for any
    ``p`` that is the same for every ``c`` (``C = Cov_r(G) + (m - p)(m - p)^T`` at each ``(y, t)``, as ``sum_c r_c =
    1``), so ``p`` may depend on ``(y, t)``. Coordinate by coordinate ``p_i`` is the mean of ``G_{., i}`` under the
    midpoint responsibilities (a constant), or, where the variances differ and ``*`` holds at least half of the
    posterior, ``G_{*,i}(y, t)`` (:func:`_affine_spread`) where that gives the smaller trace term: the box's width
    then enters ``x_c`` through ``1/v_c - 1/v_*`` only, and ``x_* = 0``. The choice depends on interval bounds of
    the whole box only, so one ``p`` serves every point of it. ``lambda_max(C)`` is bounded by the least of ``tr C
    <= sum_i min(sum_c r_c x_{c,i}^2, max_c x_{c,i}^2)`` and a bound on the spectral radius of the ``K x K`` matrix
    ``M_{cd} = sqrt(r_c r_d) <x_c, x_d>``, which has the nonzero eigenvalues of ``C`` (``C = A^T A``, ``M = A A^T``,
    ``A = diag(sqrt r) X``): with ``B_{cd} >= sqrt(r_c r_d) |<x_c, x_d>|``, :func:`_collatz_wielandt`'s ``max_c (B
    w)_c / w_c`` (Gershgorin's row sums are ``w = 1``). In many dimensions the components' ``x_c`` are far from
    parallel and this bound is the smaller. ``r_c = u_c / (u_c + S_c)``, ``S_c = sum_{d != c} u_d``, grows with
    ``u_c`` and falls with ``S_c``, so ``r_c <= min(1, u_c^hi / Z^lo, u_c^hi / (u_c^hi + S_c^lo))`` with ``S_c^lo =
    sum_{d != c} u_d^lo`` (the last is the smaller for a component that competes with ``*``). The ``<x_c, x_d>`` are
    interval dot products over the ``k`` coordinates, for every ``d`` at once in SIMD lanes, each bounded a
    posteriori as in :func:`_conv`.
    """
    K, k = means.shape
    min_inv = math.inf
    for j in range(lams.shape[0]):
        if jmask[j] != 0:
            min_inv = min(min_inv, LO[0, off[R_INV] + j])
    z_lo = max(1.0, LO[0, off[R_Z]])  # Z = 1 + sum_{c != *} u_c >= 1 exactly
    z_mid = 0.5 * (z_lo + HI[0, off[R_Z]])
    if not math.isfinite(z_mid):
        return math.inf
    total_lo = 0.0  # sum_c u_c^lo, rounded down
    for c in range(K):
        total_lo = next_down(total_lo + _u_bounds(c, star, LO, HI, off)[0])
    rest = 0.0  # sum_{c != *} r_c^hi: the centre G_* of _affine_spread only pays where * holds most of the posterior
    for c in range(K):
        u_lo, u_hi = _u_bounds(c, star, LO, HI, off)
        others = max(0.0, next_down(total_lo - u_lo))  # <= sum_{d != c} u_d
        # r_c = u_c / (u_c + sum_{d != c} u_d) grows with u_c and falls with the others
        vec[V_RH, c] = min(1.0, next_up(u_hi / z_lo), next_up(u_hi / next_down(u_hi + others)))
        if c != star:
            rest += vec[V_RH, c]
    trace = 0.0
    rx = off[R_X]  # x_{c,i} at row rx + i K + c: the K components of a coordinate contiguous
    for c in range(K):  # the midpoint responsibilities
        vec[V_HN, c] = 1.0 / z_mid if c == star else 0.5 * (LO[0, off[R_U] + c] + HI[0, off[R_U] + c]) / z_mid
    for i in range(k):
        centre = 0.0
        for c in range(K):  # the centre p_i under the midpoint responsibilities
            if shared[i] >= 0:
                centre += vec[V_HN, c] * means[c, i]
            else:
                gl, gh = _g0(c, i, means, vidx, LO, HI, off)
                vec[V_FL, c], vec[V_FH, c] = gl, gh  # kept for the spread below
                centre += vec[V_HN, c] * (0.5 * gl + 0.5 * gh)
        vec[V_P, i] = centre
        weighted, largest = 0.0, 0.0
        for c in range(K):
            if shared[i] >= 0:
                xl, xh = _spread(c, i, centre, means, vidx, shared, gj, LO, HI, off)
            else:  # _spread's G_{c,i} - p_i, with G_{c,i} from the centre's loop
                xl, xh = isub(vec[V_FL, c], vec[V_FH, c], centre, centre)
            vec[V_FL, c], vec[V_FH, c] = xl, xh
            x = isqr(xl, xh)[1]
            weighted = next_up(weighted + next_up(vec[V_RH, c] * x))
            largest = max(largest, x)
        if shared[i] < 0 and rest < 0.5:  # the centre G_*, where it gives the smaller bound of this coordinate
            affine = _affine_spread(i, star, means, vidx, LO, HI, off, vec)
            if affine < min(weighted, largest):
                weighted, largest = affine, affine
                for c in range(K):
                    vec[V_FL, c], vec[V_FH, c] = vec[V_SL, c], vec[V_SH, c]
        for c in range(K):  # for the Gram bound below and the pruning
            LO[0, rx + i * K + c], HI[0, rx + i * K + c] = vec[V_FL, c], vec[V_FH, c]
        trace = next_up(trace + min(weighted, largest))
    gram = math.inf
    if k > FEW_COORDINATES:  # with fewer, the trace is within a factor k of lambda_max: not worth K^2 products
        for c in range(K):
            vec[V_RH, c] = next_up(math.sqrt(vec[V_RH, c]))  # now sqrt(r_c) bounded above
        RH = vec[V_RH, :K]
        B = HI[1, rx : rx + K * K]  # B_{cd} >= |M_{cd}|, row by row
        for c in range(K):
            # <x_c, x_d> for every d in SIMD lanes: a dot product over i bounded a posteriori as in :func:`_conv`
            SL, SH, AL, AH = _lanes_zero(vec, K)
            for i in range(k):
                a0, a1 = LO[0, rx + i * K + c], HI[0, rx + i * K + c]
                XL, XH = LO[0, rx + i * K : rx + i * K + K], HI[0, rx + i * K : rx + i * K + K]
                for d in range(K):
                    SL[d], SH[d], AL[d], AH[d] = _add_product(a0, a1, XL[d], XH[d], SL[d], SH[d], AL[d], AH[d])
            for d in range(K):
                sl, sh = _dot_bound(SL[d], SH[d], AL[d], AH[d], k)
                B[c * K + d] = next_up(RH[c] * next_up(RH[d] * imag(sl, sh)))
        gram = _collatz_wielandt(B, K, LO[1, rx : rx + K], LO[1, rx + K : rx + 2 * K])
    return next_up(next_up(1.0 - min_inv) + min(trace, gram))


@device_function
def _affine_spread(i, star, means, vidx, LO, HI, off, vec):
    """Coordinate ``i`` (variances not shared): ``x_{c,i} = G_{c,i} - p_i`` for the centre ``p_i = G_{*,i}`` (a function
    of ``y`` and ``t``), into rows ``V_SL``, ``V_SH`` of the vector scratch; returns ``min(sum_c r_c^hi |x_{c,i}|^2,
    max_c |x_{c,i}|^2)`` rounded up, the trace term of :func:`_log_norm` (``r_c^hi`` from its row ``V_RH``).

    ``x_c = G_c - G_* = -y D_c + a (mu_c / v_c - mu_* / v_*)`` with ``D_c = 1/v_c - 1/v_*`` (the rows of
    :func:`_coordinate_terms`), so ``x_* = 0`` exactly and the box's width enters through ``|D_c|`` only, not through
    ``1 / v_c`` as in ``G_c - p_i`` for a constant ``p_i``: where one component holds the posterior this term is about
    ``sum_{c != *} r_c |x_c|^2``, near 0. Each operation is an interval operation over the box and time interval.
    """
    K, k = means.shape
    yl, yh = LO[0, off[R_Y] + i], HI[0, off[R_Y] + i]
    al, ah = LO[0, off[R_A]], HI[0, off[R_A]]
    sl, sh = imul(means[star, i], means[star, i], LO[0, off[R_INV] + vidx[star, i]], HI[0, off[R_INV] + vidx[star, i]])
    weighted, largest = 0.0, 0.0
    for c in range(K):
        if c == star:
            vec[V_SL, c], vec[V_SH, c] = 0.0, 0.0
            continue
        ml, mh = imul(means[c, i], means[c, i], LO[0, off[R_INV] + vidx[c, i]], HI[0, off[R_INV] + vidx[c, i]])
        ml, mh = isub(ml, mh, sl, sh)
        el, eh = imul(al, ah, ml, mh)
        d = off[R_DINV] + c * k + i
        pl, ph = imul(yl, yh, LO[0, d], HI[0, d])
        xl, xh = isub(el, eh, pl, ph)
        vec[V_SL, c], vec[V_SH, c] = xl, xh
        x = isqr(xl, xh)[1]
        weighted = next_up(weighted + next_up(vec[V_RH, c] * x))
        largest = max(largest, x)
    return min(weighted, largest)


@device_function
def _collatz_wielandt(B, K, w, bw):
    """An upper bound of the spectral radius of every matrix ``M`` with ``|M_{cd}| <= B_{cd}`` (``B`` a ``K x K``
    nonnegative float matrix stored by rows): ``max_c (B w)_c / w_c`` for a positive float vector ``w``, rounded up,
    and never above Gershgorin's ``max_c sum_d B_{cd}`` (``w = 1``); 0 for ``B = 0``, inf where ``B`` has a NaN.

    Proof: with ``W = diag(w)``, ``W^{-1} M W`` has the eigenvalues of ``M``, so ``|lambda| <= |W^{-1} M W|_inf =
    max_c sum_d |M_{cd}| w_d / w_c <= max_c (B w)_c / w_c`` (the infinity norm bounds the spectral radius). Any
    positive ``w`` gives a bound. ``w`` comes from a few power iterations on ``B`` in plain floats (no rounding
    control needed), each normalised by its largest entry and kept at least :data:`WEIGHT_FLOOR`, so positive; an
    iteration whose ``B w`` underflows to 0 is not taken. For an irreducible ``B`` this is close to its Perron root
    (the Collatz-Wielandt formula; for a reducible one the floor can leave it above), below Gershgorin's bound when
    the rows' sums differ: a component of small responsibility but far from the others adds ``sqrt(r_c r_d)
    |<x_c, x_d>|`` to every row sum, but only about ``r_c |x_c|^2`` to the Perron root. ``bw`` is scratch.
    """
    rows, largest = 0.0, 0.0
    for c in range(K):
        w[c] = 1.0
        total = 0.0
        for d in range(K):
            total = next_up(total + B[c * K + d])
            largest = max(largest, B[c * K + d])
        if not (total <= math.inf):  # a NaN entry: no bound
            return math.inf
        rows = max(rows, total)
    if largest == 0.0:
        return 0.0
    if rows == math.inf:
        return rows
    for _ in range(POWER_ITERATIONS):
        top = 0.0
        for c in range(K):
            total = 0.0
            for d in range(K):
                total += B[c * K + d] * w[d]
            bw[c] = total
            top = max(top, total)
        if not (top > 0.0):  # B w underflowed: keep the last (positive) weights
            break
        for c in range(K):
            w[c] = max(bw[c] / top, WEIGHT_FLOOR)
    bound = 0.0
    for c in range(K):
        total = 0.0
        for d in range(K):
            total = next_up(total + next_up(B[c * K + d] * w[d]))
        quotient = next_up(total / w[c])
        if bound == bound and not (quotient <= bound):  # a NaN stays, and gives the row sums below
            bound = quotient
    return bound if bound <= rows else rows


@device_function
def _prune(h_hi, tol_local, mu, star, active, means, vidx, shared, gj, LO, HI, off, vec):
    """Step 4: mark components negligible on the box (``active[c] = 0``) and return ``Delta``, an upper
    bound of ``|F - F_p|_2`` there (reads the order-0 rows of an all-active :func:`_series` call, and the rows ``x``
    that :func:`_log_norm` has just written over the same box and time interval).

    ``|H_c| = |G_c - G_*|`` is bounded coordinate-wise: ``(a / v) |mu_c - mu_*|`` in shared coordinates, elsewhere
    ``|x_{c,i} - x_{*,i}|`` from the log-norm's ``x_{c,i} = G_{c,i} - p_i``. Its ``p_i`` is one value for every ``c``
    at each point of the box, so the difference is ``G_{c,i} - G_{*,i}`` there, and the interval difference of the
    two enclosures holds it; with the centre ``G_*`` (:func:`_affine_spread`) ``x_* = 0`` and the box's width enters
    through ``1/v_c - 1/v_*`` only. A component is left out when ``u_c (|H_c| + max |H|) h K`` is below a hundredth
    of the local tolerance. Nothing is left out where the log-norm ``mu`` is not finite (its rows may be unwritten;
    the attempt is rejected then).
    """
    K, k = means.shape
    if not math.isfinite(mu):
        return 0.0
    rx = off[R_X]  # x_{c,i} at row rx + i K + c (:func:`_log_norm`)
    h_max = 0.0
    for c in range(K):
        if c == star:
            vec[V_HN, c] = 0.0
            continue
        s = 0.0
        for i in range(k):
            g = shared[i]
            if g >= 0:
                dl, dh = isub(means[c, i], means[c, i], means[star, i], means[star, i])
                x = next_up(imag(dl, dh) * HI[0, off[R_AINV] + gj[g]])
            else:
                row = rx + i * K
                dl, dh = isub(LO[0, row + c], HI[0, row + c], LO[0, row + star], HI[0, row + star])
                x = imag(dl, dh)
            s = next_up(s + next_up(x * x))
        vec[V_HN, c] = next_up(math.sqrt(s))
        h_max = max(h_max, vec[V_HN, c])
    if not math.isfinite(h_max):
        return 0.0
    delta = 0.0
    for c in range(K):
        if c == star:
            continue
        term = next_up(HI[0, off[R_U] + c] * next_up(vec[V_HN, c] + h_max))
        if next_up(next_up(term * h_hi) * K) <= 0.01 * tol_local:
            active[c] = 0
            delta = next_up(delta + term)
    return delta


@device_function
def _set_start(lo_row, hi_row, LO, HI, off, vec, k):
    for i in range(k):
        LO[0, off[R_Y] + i] = vec[lo_row, i]
        HI[0, off[R_Y] + i] = vec[hi_row, i]


@device_function
def _picard_image_inside(h_hi, k, LO, HI, off, vec):
    """``X + [0, h] F subseteq Y`` for the drift ``F`` in column 1 of the ``y`` rows, ``X`` and ``Y`` in the
    vector scratch; the image goes to the ``F`` rows of the vector scratch."""
    inside = True
    for i in range(k):
        fl, fh = imul(0.0, h_hi, LO[1, off[R_Y] + i], HI[1, off[R_Y] + i])
        il, ih = iadd(vec[V_XL, i], vec[V_XH, i], fl, fh)
        vec[V_FL, i], vec[V_FH, i] = il, ih
        if not (il >= vec[V_YL, i] and ih <= vec[V_YH, i]):
            inside = False
    return inside


@device_function
def _a_priori_box(h_hi, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
    """Step 1: a box ``Y`` (vector scratch rows ``V_YL``, ``V_YH``) with ``X + [0, h] F(Y, [tl, th]) subseteq Y``,
    ``X`` in rows ``V_XL``, ``V_XH``. The box is the Picard image inflated by a tenth, up to 8 times.
    On success the order-0 rows hold the all-active evaluation over ``Y``."""
    k = means.shape[1]
    vec[V_KEY, 7] = 0.0  # a new box: the centred exponents of the last one no longer apply
    _set_start(V_XL, V_XH, LO, HI, off, vec, k)
    if not _series(1, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
        return False
    for i in range(k):
        vec[V_YL, i], vec[V_YH, i] = vec[V_XL, i], vec[V_XH, i]
    _picard_image_inside(h_hi, k, LO, HI, off, vec)
    for _ in range(8):
        for i in range(k):
            lo, hi = vec[V_FL, i], vec[V_FH, i]
            pad = 0.1 * (hi - lo) + 1e-15 * (abs(lo) + abs(hi)) + 1e-300
            vec[V_YL, i], vec[V_YH, i] = next_down(lo - pad), next_up(hi + pad)
        _set_start(V_YL, V_YH, LO, HI, off, vec, k)
        if not _series(1, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
            return False
        if _picard_image_inside(h_hi, k, LO, HI, off, vec):
            return True
    return False


@device_function
def _reference_component(c_vec, t, means, vidx, lams, logw):
    """The component with the largest log-density term at the float point ``(c, t)`` (a choice, not a bound)."""
    K, k = means.shape
    a = math.exp(-t)
    e2 = a * a
    best, arg = -math.inf, 0
    for c in range(K):
        s = logw[c]
        for i in range(k):
            v = 1.0 + (lams[vidx[c, i]] - 1.0) * e2
            d = c_vec[i] - a * means[c, i]
            s -= 0.5 * (d * d / v + math.log(v))
        if s > best:
            best, arg = s, c
    return arg


@device_function
def _taylor_step(order, h_lo, h_hi, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
    """Step 2 on the box ``Y`` (vector scratch) then the point ``c``: writes the new center over ``c`` and
    the local error bounds to row ``V_ERR``; returns ``(remainder, eps)`` (``remainder`` inf on failure).

    In more than three coordinates it follows :func:`_box_log_norm` over the same box, time interval and reference
    component (the order of :func:`enclose_particle`), whose recentring left every component's exponents centred in
    time in the rows ``R_LCEN``: the series takes them (:data:`CENTRE_KEPT`) instead of computing them again. The
    key ``vec[V_KEY, 7]`` says whether they are there (set by :func:`_recentre_exponents`, cleared by a new box or time
    interval); where not (a caller that skipped the log-norm), the series computes them (:data:`CENTRE`)."""
    k = means.shape[1]
    kept = vec[V_KEY, 7] == star + 1 and vec[V_KEY, 0] == tl and vec[V_KEY, 1] == th
    _set_start(V_YL, V_YH, LO, HI, off, vec, k)
    # in few coordinates the time interval costs the plain evaluation little: centring would not pay
    centre = (CENTRE_KEPT if kept else CENTRE) if k > FEW_COORDINATES else 0
    if not _series(
        order + 1, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask, centre
    ):
        return math.inf, math.inf
    power = 1.0
    for _ in range(order + 1):
        power = next_up(power * h_hi)
    worst = 0.0
    for i in range(k):
        vec[V_ERR, i] = next_up(power * imag(LO[order + 1, off[R_Y] + i], HI[order + 1, off[R_Y] + i]))
        if not (vec[V_ERR, i] <= worst):  # a NaN (an endpoint of the box series) makes it inf: max() would drop it
            worst = vec[V_ERR, i] if vec[V_ERR, i] == vec[V_ERR, i] else math.inf
    if not math.isfinite(worst):
        return math.inf, math.inf
    return worst, 0.0


@device_function
def _advance_center(order, h_lo, h_hi, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
    """The point series from ``(c, th)``, summed at ``h`` in interval Horner form plus the remainders in row
    ``V_ERR``: the new center (its midpoint) replaces ``c``; returns ``eps``, a bound of the distance."""
    k = means.shape[1]
    for i in range(k):
        LO[0, off[R_Y] + i] = vec[V_C, i]
        HI[0, off[R_Y] + i] = vec[V_C, i]
    if not _series(order, th, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
        return math.inf
    total = 0.0
    for i in range(k):
        row = off[R_Y] + i
        sl, sh = LO[order, row], HI[order, row]
        for n in range(order - 1, -1, -1):
            pl, ph = imul(sl, sh, h_lo, h_hi)
            sl, sh = iadd(pl, ph, LO[n, row], HI[n, row])
        sl, sh = next_down(sl - vec[V_ERR, i]), next_up(sh + vec[V_ERR, i])
        mid = 0.5 * sl + 0.5 * sh
        err = max(next_up(sh - mid), next_up(mid - sl))
        vec[V_C, i] = mid
        total = next_up(total + next_up(err * err))
    return next_up(math.sqrt(total))


@device_function
def _step_size(h, t, delta):
    """``(t_next, h_lo, h_hi)``: a float ``t_next`` (``delta`` on the last step) and ``t - t_next`` enclosed."""
    if h >= 0.999 * (t - delta):
        t_next = delta
    else:
        t_next = t - h
    h_lo, h_hi = isub(t, t, t_next, t_next)
    return t_next, max(h_lo, 0.0), h_hi


@device_function
def _power(power, order, h, h_prev, r, r_prev):
    """The exponent ``p`` of the step control's model ``remainder ~ C h^p``: the last value moved halfway to the
    one seen between two attempts from the same ``t`` (``log(r / r_prev) / log(h / h_prev)``), kept in ``[order
    + 2, 4 (order + 2)]``.

    Over a box the remainder grows faster than ``h^(order + 1)`` (the a-priori box widens with ``h`` and the
    series over it widen with the box), and a step control that assumes ``h^(order + 2)`` grows the step too
    far and then rejects it. Only the step sizes depend on this; no bound does.
    """
    if not (r > 0.0 and r_prev > 0.0 and math.isfinite(r) and math.isfinite(r_prev)):
        return power
    ratio = h / h_prev
    if not (ratio > 1.02 or ratio < 0.98):
        return power
    seen = math.log(r / r_prev) / math.log(ratio)
    return min(4.0 * (order + 2), max(order + 2.0, 0.5 * power + 0.5 * seen))


@device_function
def _next_step(h, tol_local, remainder, power, h_acc, r_acc):
    """The step after an accepted step ``h`` with ``remainder``, given the accepted step before it (``h_acc``,
    ``r_acc``; ``r_acc = 0`` for none): a predictive control in Gustafsson's manner [4]_.

    The model ``remainder ~ C h^p`` aims the next step at ``TARGET`` times the local tolerance, and the constant's
    change over the last step, ``(remainder / r_acc) (h_acc / h)^p``, is assumed to repeat: the remainder grows
    along the path like ``(h / t)^(m + 1)`` as ``t`` falls toward ``delta``, faster over boxes at large ``t``, so
    a step of the same length at the next ``t`` misses the tolerance every other step at high orders without it
    (``docs/performance.md``). The change is counted in ``[1, 10]``: a falling constant never grows the step more
    than the plain control does. The factor is kept in ``[0.5, 2]``. Only step sizes depend on this; no bound does.
    """
    grow = (TARGET * tol_local / max(remainder, 1e-300)) ** (1.0 / power)
    if r_acc > 0.0 and remainder > 0.0:
        trend = (remainder / r_acc) * (h_acc / h) ** power
        grow /= min(10.0, max(1.0, trend)) ** (1.0 / power)
    return h * min(2.0, max(0.5, grow))


@device_function
def _growth_factor(mu, h_lo, h_hi):
    """An upper bound of ``e^{mu h}`` for ``h`` in ``[h_lo, h_hi]``."""
    return exp_bounds(0.0, next_up(mu * h_hi) if mu >= 0.0 else next_up(mu * h_lo))[1]


@device_function
def _grow(e_prev, g, h_hi, eps, delta_p):
    """``g E + eps + Delta h max(1, g)`` rounded up, for ``g >= e^{mu h}`` (:func:`_growth_factor`)."""
    growth = next_up(g * e_prev)
    prune = next_up(next_up(delta_p * h_hi) * max(1.0, g))
    return next_up(next_up(growth + eps) + prune)


@device_function
def _checkpoints(ck_c, ck, book, vec, t, delta, e_now, steps, g, h_hi, eps, delta_p):
    """After an accepted step to ``t`` (``steps`` so far, ball ``B(c, e_now)``, the step's growth factor ``g``, ``h``,
    ``eps`` and pruning bound ``delta_p``): with ``book = (recorded, spacing)``, the ``recorded`` filled slots
    updated and a new one filled where due; returns the new ``book``.

    Every :data:`CHECK_SPACING` accepted steps (before ``delta``) the center goes to ``ck_c[q]`` and
    ``(t_q, E_q, A_q, B_q, steps so far)`` to ``ck[q]`` (``t_q = 0`` in slots not filled); when all ``Q`` slots are
    full, every other one is dropped and the spacing doubles, so they stay spread over the steps taken. Every later
    step updates ``A_q <- g A_q`` and ``B_q <- g B_q + b`` (rounded up, from ``A_q = 1``, ``B_q = 0``), where the
    step's bound is ``E' = g E + b``, ``g >= e^{mu h}``, ``b = eps + Delta h max(1, g)``. Then every solution within
    ``d <= E_q`` of ``c_q`` at ``t_q`` ends within ``A_q d + B_q`` of the center at ``delta``
    (:func:`~.flows.enclose_flows` integrates a particle that missed its tolerance again only to ``t_q``).

    Proof: a step's box, log-norm, pruning bound and local error hold for every solution in its start ball ``B(c_j,
    E_j)``, and give ``d_{j+1} <= g_j d_j + b_j`` for one there. The recurrence increases with ``E``, so ``d_q <=
    E_q`` gives ``d_j <= E_j`` at every later boundary by induction: the solution stays in the balls the bounds hold
    on. Unrolled, ``d_end <= (prod_j g_j) d + sum_j b_j prod_{i > j} g_i``, which the upward-rounded ``A_q`` and
    ``B_q`` (the same recurrence as :func:`_grow`, from 0) bound from above. The thinning moves whole slots, and the
    slots freed read as empty.
    """
    recorded, spacing = book
    for q in range(recorded):
        ck[q, 2] = next_up(g * ck[q, 2])
        ck[q, 3] = _grow(ck[q, 3], g, h_hi, eps, delta_p)
    slots = ck.shape[0]
    if slots == 0 or not (t > delta) or steps % spacing != 0:
        return recorded, spacing
    if recorded == slots:  # keep those at multiples of twice the spacing; the rest are free again
        for q in range(slots // 2):
            _copy_checkpoint(ck_c, ck, 2 * q + 1, q)
        recorded, spacing = slots // 2, 2 * spacing
        for q in range(recorded, slots):
            ck[q, 0] = 0.0
    if steps % spacing == 0:
        for i in range(ck_c.shape[1]):
            ck_c[recorded, i] = vec[V_C, i]
        ck[recorded, 0], ck[recorded, 1], ck[recorded, 2], ck[recorded, 3] = t, e_now, 1.0, 0.0
        ck[recorded, 4] = steps
        recorded += 1
    return recorded, spacing


@device_function(inline=True)
def _copy_checkpoint(ck_c, ck, src, dst):
    """Checkpoint slot ``src`` copied to slot ``dst``."""
    for i in range(ck_c.shape[1]):
        ck_c[dst, i] = ck_c[src, i]
    for j in range(ck.shape[1]):
        ck[dst, j] = ck[src, j]


@device_function(inline=True)
def _start_ball(y0l, y0h, vec):
    """The center of the box ``[y0l, y0h]`` into row ``V_C``, and the radius of a ball around it holding the box."""
    e = 0.0
    for i in range(y0l.shape[0]):
        c = 0.5 * y0l[i] + 0.5 * y0h[i]
        vec[V_C, i] = c
        r = max(next_up(y0h[i] - c), next_up(c - y0l[i]))
        e = next_up(e + next_up(r * r))
    return next_up(math.sqrt(e))


@device_function
def enclose_particle(
    y0l,
    y0h,
    T,
    delta,
    tol_local,
    step_floor,
    order,
    max_steps,
    means,
    vidx,
    lams,
    lwd,
    logw,
    shared,
    gj,
    LO,
    HI,
    off,
    vec,
    jmask,
    active,
    ck_c,
    ck,
    out_c,
    out,
):
    """Enclose the exact flow of every point of the box ``[y0l, y0h]`` from ``T`` to ``delta`` (steps 1-4).

    Writes the center to ``out_c`` and ``(radius, steps, status, time, step, E, h)`` to ``out`` (see
    :data:`STATUS`; on failure ``out_c`` and ``E`` are the ball at the time and step that failed). It stops once its
    next step falls below both ``step_floor t`` (0: never) and its first step: a ball has collapsed the steps.

    Checkpoints (slots ``ck_c``, ``ck``, spread over the steps; ``ck[q, 0] = 0`` in empty ones): :func:`_checkpoints`.
    """
    K, k = means.shape
    book = (0, CHECK_SPACING)  # checkpoint slots filled, and steps between them
    for q in range(ck.shape[0]):
        ck[q, 0] = 0.0
    e_now = _start_ball(y0l, y0h, vec)
    t = T
    h = h_first = min(0.25, 0.5 * (T - delta))
    steps = 0
    status = 0
    attempts = 0
    power, h_prev, r_prev, h_acc, r_acc = order + 2.0, 0.0, 0.0, 0.0, 0.0
    while t > delta and status == 0:
        if steps >= max_steps or (h < step_floor * t and h < h_first):
            status = 3 if steps >= max_steps else 5
            break
        star = _reference_component(vec[V_C], t, means, vidx, lams, logw)
        r_prev = 0.0  # the exponent is learnt from attempts at the same t only
        done = False
        for _ in range(60):
            if not (h > 1e-13 * t):
                break
            attempts += 1
            t_next, h_lo, h_hi = _step_size(h, t, delta)
            for c in range(K):
                active[c] = 1
            for i in range(k):
                vec[V_XL, i] = next_down(vec[V_C, i] - e_now)
                vec[V_XH, i] = next_up(vec[V_C, i] + e_now)
            if not _a_priori_box(
                h_hi, t_next, t, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask
            ):
                status = 1
                h *= 0.5
                continue
            mu = _box_log_norm(t, star, active, means, vidx, lams, lwd, shared, gj, jmask, LO, HI, off, vec)
            delta_p = _prune(h_hi, tol_local, mu, star, active, means, vidx, shared, gj, LO, HI, off, vec)
            if delta_p > 0.0:  # whenever a component was pruned: each pruned term is rounded up past 0
                _set_start(V_YL, V_YH, LO, HI, off, vec, k)
                if not (
                    _series(1, t_next, t, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask)
                    and _picard_image_inside(h_hi, k, LO, HI, off, vec)
                ):
                    for c in range(K):
                        active[c] = 1
                    delta_p = 0.0
            remainder, _ = _taylor_step(
                order, h_lo, h_hi, t_next, t, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask
            )
            power = _power(power, order, h, h_prev, remainder, r_prev)
            h_prev, r_prev = h, remainder
            if not (remainder <= tol_local and math.isfinite(mu)):
                status = 2 if math.isfinite(mu) else 4
                shrink = (TARGET * tol_local / remainder) ** (1.0 / power) if math.isfinite(remainder) else 0.5
                h *= min(0.9, max(0.1, shrink))
                continue
            eps = _advance_center(
                order, h_lo, h_hi, t, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask
            )
            g = _growth_factor(mu, h_lo, h_hi)
            e_next = _grow(e_now, g, h_hi, eps, delta_p)
            if not math.isfinite(e_next):
                status = 4
                break
            e_now = e_next
            status = 0
            done = True
            t = t_next
            steps += 1
            book = _checkpoints(ck_c, ck, book, vec, t, delta, e_now, steps, g, h_hi, eps, delta_p)
            h, h_acc, r_acc = _next_step(h, tol_local, remainder, power, h_acc, r_acc), h, remainder
            break
        if not done:
            if status == 0:
                status = 1
            break
    for i in range(k):
        out_c[i] = vec[V_C, i]
    out[0] = e_now
    out[1] = steps
    out[2] = status
    out[3] = t
    out[4] = steps
    out[5] = e_now
    out[6] = h
    out[7] = attempts


def enclose_slots(
    y0l,
    y0h,
    T,
    deltas,
    tol_local,
    step_floor,
    order,
    max_steps,
    means,
    vidx,
    lams,
    lwd,
    logw,
    shared,
    gj,
    LO,
    HI,
    off,
    vec,
    jmask,
    active,
    ck_c,
    ck,
    out_c,
    out,
):
    """CPU driver: slot ``s`` (its own scratch) encloses particles ``s, s + slots, ...`` (``prange`` when
    compiled for ``'cpu-parallel'``), particle ``p`` from ``T`` to ``deltas[p]`` with its checkpoint slots ``ck_c[p]``,
    ``ck[p]`` (:func:`enclose_particle`). Each particle's result depends on nothing but its own start box."""
    n, slots = y0l.shape[0], LO.shape[0]
    for s in prange(slots):
        for p in range(s, n, slots):
            enclose_particle(
                y0l[p],
                y0h[p],
                T,
                deltas[p],
                tol_local[p],
                step_floor,
                order,
                max_steps,
                means,
                vidx,
                lams,
                lwd,
                logw,
                shared,
                gj,
                LO[s],
                HI[s],
                off,
                vec[s],
                jmask[s],
                active[s],
                ck_c[p],
                ck[p],
                out_c[p],
                out[p],
            )


class FastModel:
    """A target's mixture in its own ``k`` coordinates, as the arrays the kernels read.

    ``means (K, k)``; ``lams`` the distinct variances and ``vidx (K, k)`` their index per component and
    coordinate; ``shared[i]`` the group of coordinate ``i`` when every component has the same variance
    there (``gj[g]`` its index in ``lams``), else ``-1``; ``lwd[c, s]`` an interval holding ``log(w_c / w_s)``
    (Arb, rounded outward); ``logw`` float logs (they only choose the reference component).
    """

    def __init__(self, target):
        from .enclosure import _flint, _lower, _upper

        keep = np.flatnonzero(target.weights > 0)
        self.means = np.ascontiguousarray(target.means[keep], dtype=np.float64)
        variances = target.variances[keep]
        # the distinct variances in order of first appearance (row by row): a component whose variances all differ
        # then owns k consecutive ones, and its series rows need no gathering (:func:`_inv_rows`)
        distinct, first, inverse = np.unique(variances.ravel(), return_index=True, return_inverse=True)
        rank = np.empty(len(distinct), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(distinct))
        self.lams = distinct[np.argsort(first)].astype(np.float64)
        self.vidx = rank[inverse].reshape(variances.shape).astype(np.int64)
        K, k = self.means.shape
        self.shared = np.full(k, -1, dtype=np.int64)
        groups = []
        for i in range(k):
            if np.all(self.vidx[:, i] == self.vidx[0, i]):
                j = int(self.vidx[0, i])
                if j not in groups:
                    groups.append(j)
                self.shared[i] = groups.index(j)
        self.gj = np.array(groups, dtype=np.int64)
        arb = _flint().arb
        logs = [arb(float(w)).log() for w in target.weights[keep]]
        self.lwd = np.empty((K, K, 2))
        for c in range(K):
            for s in range(K):
                diff = logs[c] - logs[s]
                self.lwd[c, s] = _lower(diff), _upper(diff)
        self.logw = np.log(target.weights[keep])

    @property
    def box_limited(self) -> bool:
        """Per-component variances in more than three coordinates: there the series over the a-priori box
        widens fastest with the step (interval widths add over the coordinates) and limits it."""
        return bool(self.means.shape[1] > FEW_COORDINATES and np.sum(self.shared < 0) > FEW_COORDINATES)

    @property
    def arrays(self) -> tuple:
        return self.means, self.vidx, self.lams, self.lwd, self.logw, self.shared, self.gj

    def layout(self, order: int):
        """``(offsets, rows, columns, vector width)`` of one particle's scratch at Taylor order ``order`` (stored
        ``[column, row]``: coefficient ``n`` of every row contiguous, so loops over rows run in SIMD lanes)."""
        K, k = self.means.shape
        J = len(self.lams)
        unshared = int(np.sum(self.shared < 0))
        sizes = [0] * R_END
        sizes[R_Y], sizes[R_A], sizes[R_E2], sizes[R_Z], sizes[R_R] = k, 1, 1, 1, 1
        sizes[R_INV] = sizes[R_AINV] = sizes[R_VJ] = sizes[R_KAP] = J
        for block in (R_DS, R_Q, R_Q0, R_MM, R_V, R_N, R_Y2, R_AY, R_SK, R_ESK, R_SM):
            sizes[block] = k
        sizes[R_L] = sizes[R_U] = K
        sizes[R_DINV] = sizes[R_B] = K * k if unshared else 0
        # column 0: the log-norm's x_{c,i}; column 1: its K x K bound matrix (HI) and weights (LO, 2K entries)
        sizes[R_X] = K * max(k, K)
        sizes[R_DMU] = sizes[R_DMU2] = sizes[R_M2] = K * k
        sizes[R_LM1] = J
        sizes[R_AINVS] = sizes[R_T] = k
        sizes[R_LC] = K
        sizes[R_W] = J
        sizes[R_CJ] = J
        sizes[R_CK] = C_END * k
        sizes[R_LCEN] = K
        sizes[R_DMUT] = sizes[R_DMU2T] = 0 if unshared else K * k  # read by _shared_exponents only
        sizes[R_INVC] = sizes[R_LM1C] = K * k if unshared else 0
        offsets = np.zeros(R_END + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(sizes)
        return offsets, int(offsets[-1]), order + 2, max(k, J, K, 8)  # V_KEY holds 8 entries

    def scratch(self, order: int, slots: int):
        """Zeroed scratch for ``slots`` concurrent particles."""
        off, rows, cols, width = self.layout(order)
        K = self.means.shape[0]
        return (
            np.zeros((slots, cols, rows)),
            np.zeros((slots, cols, rows)),
            off,
            np.zeros((slots, N_VEC_ROWS, width)),
            np.zeros((slots, len(self.lams)), dtype=np.int8),
            np.ones((slots, K), dtype=np.int8),
        )
