r"""Compiled rigorous enclosures of the exact probability-flow map, many particles at once, in float64 intervals.

:func:`enclose_flows` returns, for start points ``x0[p]`` at forward time ``T``, balls ``(center[p],
radius[p])`` in the Euclidean norm that provably contain the exact solutions at ``delta`` of the
probability-flow ODE ``dx/dt = -x - grad log q_t(x)`` of a built-in
:class:`~certsample.targets.MixtureTarget`. It proves the same statement as
:func:`~certsample.verify.enclosure.enclose_flow` (Arb), by a different method in different arithmetic:
a validated Taylor method of the Lohner/VNODE kind in outward-rounded float64 interval arithmetic
(:mod:`.interval`: its rounding model and its proved ``exp``/``log`` kernels), compiled with Numba,
one particle per loop iteration (CPU) or per thread (CUDA). A particle whose float64 radius misses the
requested tolerance, or whose enclosure cannot be validated, is enclosed by the Arb path instead.

Reduction (exact; as in :mod:`.enclosure`): the flow of ``x`` splits into the flow of ``y = Q^T x`` for
the diagonal mixture ``sum_c w_c N(mu_c, diag(lam_c))`` in the target's own ``k`` coordinates and the
closed-form flow of the orthogonal part; a Gaussian (``K = 1``) is a closed form in every coordinate.
Both closed forms are evaluated here in interval arithmetic (:func:`_closed_forms`).

The integrator (for ``K > 1``)
------------------------------
Write ``tau`` for reverse time in a step from ``t_j`` (``t = t_j - tau``), ``dy/dtau = F(y, t) = y +
s(y, t)``, ``s = sum_c r_c G_c``, ``G_{c,i} = -(y_i - a mu_{c,i}) / v_{c,i}``, ``v_{c,i} = 1 + (lam_{c,i} -
1) a^2``, ``a = e^{-t}``, ``r_c = u_c / Z``, ``u_c = e^{l_c - l_*}``, ``Z = sum_c u_c``, where ``l_c = log w_c -
sum_i ((y_i - a mu_{c,i})^2 / v_{c,i} + log v_{c,i}) / 2`` and ``*`` is the component with the largest
``l_c`` at the step's start (any choice is exact: ``u_* = 1`` and the ratios are unchanged). Step ``j``
holds a float vector ``c_j`` and a float ``E_j`` with ``y(t_j) in B(c_j, E_j)`` for the exact solution.
Let ``t_{j+1} < t_j`` be a float and ``h = t_j - t_{j+1}``, enclosed in an interval.

1. *A-priori box* (Picard-Lindelof inclusion test [1]_, [2]_). Let ``X`` be the interval hull of
   ``B(c_j, E_j)`` and ``T_j = [t_{j+1}, t_j]``. If a box ``Y`` satisfies ``X + [0, h] F(Y, T_j) subseteq
   Y`` (interval evaluation of ``F``), every solution from ``X`` exists on ``[0, h]`` and stays in ``Y``:
   the Picard operator ``y -> x + int_0^tau F(y(s), t_j - s) ds`` maps continuous functions into ``Y``
   to functions into ``x + tau conv F(Y, T_j) subseteq Y``; it has a fixed point there (Schauder), which
   is the solution (``F`` is ``C^1``, so solutions are unique). :func:`_a_priori_box` inflates the Picard
   image a few times and checks the inclusion; on failure the step is halved.

2. *Taylor coefficients and remainder.* The Taylor coefficients ``z_n`` (``n <= m``) of the solution
   ``z`` from the point ``c_j`` follow from the automatic-differentiation recurrences of
   :func:`_series` (products of power series, ``exp`` of a series by ``u' = u l'``, reciprocals, ``log v``
   by ``(log v)' = 2 (1 - 1/v)``), every operation in interval arithmetic, so each computed interval
   contains the exact coefficient. By Taylor's theorem with the Lagrange remainder, coordinate by
   coordinate, ``z_i(h) = sum_{n<=m} z_{n,i} h^n + z^{(m+1)}_i(xi) h^{m+1} / (m+1)!`` for some ``xi in [0,
   h]``, and ``z^{(m+1)}(xi) / (m+1)! = f^{[m+1]}(z(xi), t_j - xi)``, the ``(m+1)``-th Taylor coefficient
   of the solution through the point ``(z(xi), t_j - xi)`` in ``Y x T_j``. The same recurrences started
   from the box ``Y`` and the time interval ``T_j`` enclose ``f^{[m+1]}`` over ``Y x T_j``; so ``z(h)``
   lies in the interval Horner sum plus ``[-R_i, R_i]``, ``R_i = h^{m+1} |f^{[m+1]}_i(Y, T_j)|``. The
   new center ``c_{j+1}`` is its midpoint and ``eps_j`` bounds ``|z(h) - c_{j+1}|_2``.

3. *Propagation* (one-sided Lipschitz bound; no wrapping effect). ``J = I + Hess log q_t = I - sum_c
   r_c D_c^{-1} + Cov_r(G)`` is symmetric and, by Weyl, ``lambda_max(J) <= 1 - min_{c,i} 1 / v_{c,i} +
   tr Cov_r(G)``, with ``tr Cov_r(G) = sum_i Var_r(G_{.,i}) <= sum_i min(sum_c r_c (G_{c,i} - p_i)^2,
   max_c (G_{c,i} - p_i)^2)`` for any fixed ``p`` (:func:`_log_norm`). Its upper bound ``mu_j`` over
   ``Y x T_j`` bounds ``<x - z, F(x) - F(z)> <= mu_j |x - z|^2`` for ``x, z`` in the convex ``Y``, so two
   solutions from ``B(c_j, E_j)`` obey ``|x(h) - z(h)| <= e^{mu_j h} |x(0) - z(0)|``.

4. *Pruning.* Components with ``u_c`` below a threshold on ``Y`` may be left out of step 2: ``z`` then
   solves the pruned ODE ``z' = F_p(z)``, and ``Y`` is checked to hold it too (step 1 with ``F_p``). With
   ``H_c = G_c - G_*``, ``|F - F_p| <= sum_pruned u_c |H_c| + (sum_pruned u_c) max_kept |H_c| =: Delta`` on
   ``Y`` (write ``s = G_* + (N + P) / (Z_p + Q)`` with the pruned sums ``P = sum u_c H_c``, ``Q = sum u_c``,
   so ``s - s_p = P / (Z_p + Q) - (N / Z_p) Q / (Z_p + Q)`` with ``Z_p >= u_* = 1``, and ``|N / Z_p|``
   a convex combination of the kept ``|H_c|``), and ``d/dtau |x - z|^2 / 2 <= mu_j |x - z|^2 + Delta |x
   - z|`` gives ``|x(h) - z(h)| <= e^{mu_j h} E_j + Delta h max(1, e^{mu_j h})``.

Together ``E_{j+1} = e^{mu_j h} E_j + eps_j + Delta h max(1, e^{mu_j h})``, evaluated as an upper
bound; induction over the steps encloses ``y(delta)``. Steps shrink when step 1 fails or the remainder
exceeds the local tolerance, and grow with the remainder's margin. A particle fails (status, time, box
and step, see :class:`~certsample.verify.errors.EnclosureFailed`) when no step of at least ``1e-13 t``
validates, when a quantity is not finite, or after ``max_steps`` steps.

Costs: a step is a few interval evaluations of ``F`` (step 1), two runs of the series recurrences of
order ``m`` and ``m + 1`` (point and box) and one log-norm. In coordinates where every component has
the same variance (rings, point clouds) ``l_c - l_*`` is linear in ``y`` and the recurrences cost
``O((K + k) m^2)`` interval operations; coordinates with per-component variances cost ``O(K k m^2)``.
Measured throughput is in ``docs/performance.md``.

References
----------
.. [1] N. S. Nedialkov, K. R. Jackson, G. F. Corliss, "Validated solutions of initial value problems
   for ordinary differential equations", Appl. Math. Comput. 105 (1999) 21-68.
.. [2] R. J. Lohner, "Enclosing the solutions of ordinary initial and boundary value problems", in
   Computer Arithmetic, Teubner (1987) 255-286.
.. [3] A. Jorba, M. Zou, "A software package for the numerical integration of ODEs by means of
   high-order Taylor methods", Experimental Mathematics 14 (2005) 99-117 (the series recurrences).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ..kernels.jit import device_function
from .interval import exp_bounds, iadd, idiv, imag, imul, isqr, isub, log_bounds, next_down, next_up

__all__ = ["FastModel", "enclose_particle", "STATUS"]

#: the per-particle status codes written by :func:`enclose_particle`
STATUS = {0: "enclosed", 1: "no a-priori box validates even for a tiny step",
          2: "the Taylor remainder stays above the local tolerance even for a tiny step",
          3: "more than max_steps steps", 4: "a bound is not finite"}

# row blocks of the series scratch (offsets in FastModel.offsets)
(R_Y, R_A, R_E2, R_INV, R_AINV, R_LOGV, R_KAP, R_DS, R_B, R_L, R_U, R_Z, R_R, R_MM, R_W, R_N, R_Y2, R_DINV, R_P,
 R_SC, R_PHI, R_END) = range(22)
# rows of the vector scratch
V_C, V_XL, V_XH, V_YL, V_YH, V_FL, V_FH, V_UH, V_HN, V_ERR, V_S2L, V_S2H, V_LM1L, V_LM1H = range(14)
N_VEC_ROWS = 14
N_OUT = 8  # out[p]: radius, steps, status, failure time, failure step, failure radius E, last h, attempts


@device_function
def _conv(LO, HI, ra, rb, n):
    """Coefficient ``n`` of the product of the series in rows ``ra`` and ``rb``."""
    sl = 0.0
    sh = 0.0
    for j in range(n + 1):
        pl, ph = imul(LO[ra, j], HI[ra, j], LO[rb, n - j], HI[rb, n - j])
        sl, sh = iadd(sl, sh, pl, ph)
    return sl, sh


@device_function
def _time_series(n, lams, jmask, LO, HI, off, tl, th, vec):
    """Coefficient ``n`` of ``a``, ``a^2`` and, per needed variance ``lam_j``, of ``1/v``, ``a/v``, ``log v`` and
    ``kappa = 1 - 1/v`` (``v = 1 + (lam_j - 1) a^2``, ``a = e^{-t}`` with ``t`` in ``[tl, th]`` at ``tau = 0``)."""
    ra, re2 = off[R_A], off[R_E2]
    if n == 0:
        al, ah = exp_bounds(-th, -tl)
        LO[ra, 0], HI[ra, 0] = al, ah
        LO[re2, 0], HI[re2, 0] = isqr(al, ah)
    else:
        LO[ra, n], HI[ra, n] = idiv(LO[ra, n - 1], HI[ra, n - 1], float(n), float(n))
        LO[re2, n], HI[re2, n] = idiv(2.0 * LO[re2, n - 1], 2.0 * HI[re2, n - 1], float(n), float(n))
    for j in range(lams.shape[0]):
        if jmask[j] == 0:
            continue
        ri, rai, rl, rk = off[R_INV] + j, off[R_AINV] + j, off[R_LOGV] + j, off[R_KAP] + j
        if n == 0:
            ml, mh = isub(lams[j], lams[j], 1.0, 1.0)
            vec[V_LM1L, j], vec[V_LM1H, j] = ml, mh
            pl, ph = imul(ml, mh, LO[re2, 0], HI[re2, 0])
            vl, vh = iadd(pl, ph, 1.0, 1.0)
            LO[ri, 0], HI[ri, 0] = idiv(1.0, 1.0, vl, vh)
            LO[rl, 0], HI[rl, 0] = log_bounds(vl, vh)
            # kappa = 1 - 1/v = (lam - 1) a^2 / v, in the form without cancellation
            LO[rk, 0], HI[rk, 0] = imul(pl, ph, LO[ri, 0], HI[ri, 0])
        else:
            # 1/v: v_n = (lam - 1) (a^2)_n for n >= 1, (1/v)_n = -(1/v)_0 sum_{q=1}^n v_q (1/v)_{n-q}
            sl, sh = 0.0, 0.0
            for q in range(1, n + 1):
                vl, vh = imul(vec[V_LM1L, j], vec[V_LM1H, j], LO[re2, q], HI[re2, q])
                pl, ph = imul(vl, vh, LO[ri, n - q], HI[ri, n - q])
                sl, sh = iadd(sl, sh, pl, ph)
            LO[ri, n], HI[ri, n] = imul(-sh, -sl, LO[ri, 0], HI[ri, 0])
            LO[rk, n], HI[rk, n] = -HI[ri, n], -LO[ri, n]
            # (log v)' = 2 (1 - 1/v)
            if n == 1:
                LO[rl, 1], HI[rl, 1] = isub(2.0, 2.0, 2.0 * LO[ri, 0], 2.0 * HI[ri, 0])
            else:
                LO[rl, n], HI[rl, n] = idiv(-2.0 * HI[ri, n - 1], -2.0 * LO[ri, n - 1], float(n), float(n))
        LO[rai, n], HI[rai, n] = _conv(LO, HI, ra, ri, n)


@device_function
def _exponents(n, star, active, means, vidx, lwd, shared, gj, LO, HI, off, vec):
    """Coefficient ``n`` of ``l_c - l_*`` and of ``u_c = e^{l_c - l_*}`` for the active ``c != *``.

    Coordinates where every component has the variance ``lam_j`` (group ``g``) give ``l_c - l_* =
    (a / v_j) sum_i dmu_i (d_i - a dmu_i / 2)`` (``dmu = mu_c - mu_*``, ``d = y - a mu_*``); the others give
    ``y_i P_{c,i} - y_i^2 (1/v_c - 1/v_*) / 2 - a S_c / 2 - (log v_c - log v_*) / 2`` with ``P = mu_c a / v_c -
    mu_* a / v_*`` and ``S_c = sum_i (mu_c^2 a / v_c - mu_*^2 a / v_*)``: no large terms cancel, so an
    interval evaluation over a box stays as narrow as the variation of ``l_c - l_*`` (the quadratic form
    ``(y - a mu_c)^2 / v_c - (y - a mu_*)^2 / v_*`` evaluated term by term would not).
    """
    K, k = means.shape
    ra = off[R_A]
    n_groups = gj.shape[0]
    for c in range(K):
        if c == star or active[c] == 0:
            continue
        if n == 0:
            ll, lh = lwd[c, star, 0], lwd[c, star, 1]
        else:
            ll, lh = 0.0, 0.0
        for g in range(n_groups):
            rb = off[R_B] + c * n_groups + g
            bl, bh = 0.0, 0.0
            for i in range(k):
                if shared[i] == g:
                    dl, dh = isub(means[c, i], means[c, i], means[star, i], means[star, i])
                    pl, ph = imul(dl, dh, LO[off[R_DS] + i, n], HI[off[R_DS] + i, n])
                    bl, bh = iadd(bl, bh, pl, ph)
            # - a_n sum_i dmu_i^2 / 2, the sum kept per (c, g) in the vector scratch at n = 0
            pl, ph = imul(LO[ra, n], HI[ra, n], vec[V_S2L, c * n_groups + g], vec[V_S2H, c * n_groups + g])
            LO[rb, n], HI[rb, n] = isub(bl, bh, 0.5 * pl, 0.5 * ph)
            pl, ph = _conv(LO, HI, off[R_AINV] + gj[g], rb, n)
            ll, lh = iadd(ll, lh, pl, ph)
        ul, uh = 0.0, 0.0
        unshared = False
        for i in range(k):
            if shared[i] < 0:
                unshared = True
                row = c * k + i
                pl, ph = _conv(LO, HI, off[R_Y] + i, off[R_P] + row, n)
                ql, qh = _conv(LO, HI, off[R_Y2] + i, off[R_DINV] + row, n)
                pl, ph = isub(pl, ph, 0.5 * ql, 0.5 * qh)
                r1, r2 = off[R_LOGV] + vidx[c, i], off[R_LOGV] + vidx[star, i]
                ql, qh = isub(LO[r1, n], HI[r1, n], LO[r2, n], HI[r2, n])
                pl, ph = isub(pl, ph, 0.5 * ql, 0.5 * qh)
                ul, uh = iadd(ul, uh, pl, ph)
        if unshared:
            ql, qh = _conv(LO, HI, ra, off[R_SC] + c, n)
            ul, uh = isub(ul, uh, 0.5 * ql, 0.5 * qh)
            ll, lh = iadd(ll, lh, ul, uh)
        rL, rU = off[R_L] + c, off[R_U] + c
        LO[rL, n], HI[rL, n] = ll, lh
        if n == 0:
            LO[rU, 0], HI[rU, 0] = exp_bounds(ll, lh)
        else:
            # u' = u l': u_n = (1/n) sum_{q=1}^n q l_q u_{n-q}
            sl, sh = 0.0, 0.0
            for q in range(1, n + 1):
                wl, wh = imul(float(q), float(q), LO[rL, q], HI[rL, q])
                pl, ph = imul(wl, wh, LO[rU, n - q], HI[rU, n - q])
                sl, sh = iadd(sl, sh, pl, ph)
            LO[rU, n], HI[rU, n] = idiv(sl, sh, float(n), float(n))


@device_function
def _unshared_terms(n, i, star, active, means, vidx, LO, HI, off):
    """Coefficient ``n`` in a coordinate ``i`` where the variances differ: ``y_i^2``, for the active ``c`` the
    one-component drift ``Phi_{c,i} = kappa_{c,i} y_i + mu_{c,i} a / v_{c,i}`` and, for ``c != *``, ``1/v_c - 1/v_*``
    and ``P_{c,i} = mu_{c,i} a / v_{c,i} - mu_{*,i} a / v_{*,i}``."""
    K, k = means.shape
    ry = off[R_Y] + i
    LO[off[R_Y2] + i, n], HI[off[R_Y2] + i, n] = _conv(LO, HI, ry, ry, n)
    js, ras = off[R_INV] + vidx[star, i], off[R_AINV] + vidx[star, i]
    msl, msh = imul(means[star, i], means[star, i], LO[ras, n], HI[ras, n])
    for c in range(K):
        if c != star and active[c] == 0:
            continue
        row = c * k + i
        jc, rac = off[R_INV] + vidx[c, i], off[R_AINV] + vidx[c, i]
        pl, ph = imul(means[c, i], means[c, i], LO[rac, n], HI[rac, n])
        fl, fh = _conv(LO, HI, off[R_KAP] + vidx[c, i], ry, n)
        LO[off[R_PHI] + row, n], HI[off[R_PHI] + row, n] = iadd(fl, fh, pl, ph)
        if c == star:
            continue
        LO[off[R_DINV] + row, n], HI[off[R_DINV] + row, n] = isub(LO[jc, n], HI[jc, n], LO[js, n], HI[js, n])
        LO[off[R_P] + row, n], HI[off[R_P] + row, n] = isub(pl, ph, msl, msh)


@device_function
def _series(order, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
    """Taylor coefficients ``1 .. order`` of the solution through ``(Y[:, 0], t)``, ``t`` in ``[tl, th]``.

    The rows ``off[R_Y] + i`` hold ``y_i``; column 0 (an interval: a point or a box) is set by the caller.
    Coefficient ``n + 1`` is ``F_n / (n + 1)``, and ``F_n`` needs only coefficients ``<= n`` of everything.
    Only the ``active`` components take part (``*`` always does). Returns False when a coefficient is
    not finite.
    """
    K, k = means.shape
    n_groups = gj.shape[0]
    for j in range(lams.shape[0]):
        jmask[j] = 0
    for c in range(K):
        if active[c] != 0 or c == star:
            for i in range(k):
                jmask[vidx[c, i]] = 1
    for g in range(n_groups):
        jmask[gj[g]] = 1
        for c in range(K):  # sum over the group of (mu_c - mu_*)^2
            sl, sh = 0.0, 0.0
            for i in range(k):
                if shared[i] == g:
                    dl, dh = isub(means[c, i], means[c, i], means[star, i], means[star, i])
                    pl, ph = isqr(dl, dh)
                    sl, sh = iadd(sl, sh, pl, ph)
            vec[V_S2L, c * n_groups + g], vec[V_S2H, c * n_groups + g] = sl, sh
    ra, rz, rr = off[R_A], off[R_Z], off[R_R]
    for n in range(order):
        _time_series(n, lams, jmask, LO, HI, off, tl, th, vec)
        for i in range(k):
            ry, rds = off[R_Y] + i, off[R_DS] + i
            pl, ph = imul(LO[ra, n], HI[ra, n], means[star, i], means[star, i])
            LO[rds, n], HI[rds, n] = isub(LO[ry, n], HI[ry, n], pl, ph)
            if shared[i] < 0:
                _unshared_terms(n, i, star, active, means, vidx, LO, HI, off)
        for c in range(K):  # S_c = sum_i (mu_c^2 a / v_c - mu_*^2 a / v_*) over the unshared coordinates
            if c != star and active[c] != 0:
                sl, sh = 0.0, 0.0
                for i in range(k):
                    if shared[i] < 0:
                        m2l, m2h = isqr(means[c, i], means[c, i])
                        pl, ph = imul(m2l, m2h, LO[off[R_AINV] + vidx[c, i], n], HI[off[R_AINV] + vidx[c, i], n])
                        m2l, m2h = isqr(means[star, i], means[star, i])
                        ql, qh = imul(m2l, m2h, LO[off[R_AINV] + vidx[star, i], n],
                                      HI[off[R_AINV] + vidx[star, i], n])
                        pl, ph = isub(pl, ph, ql, qh)
                        sl, sh = iadd(sl, sh, pl, ph)
                LO[off[R_SC] + c, n], HI[off[R_SC] + c, n] = sl, sh
        _exponents(n, star, active, means, vidx, lwd, shared, gj, LO, HI, off, vec)
        # Z = 1 + sum_{c != *} u_c and R = 1 / Z
        zl, zh = (1.0, 1.0) if n == 0 else (0.0, 0.0)
        for c in range(K):
            if c != star and active[c] != 0:
                zl, zh = iadd(zl, zh, LO[off[R_U] + c, n], HI[off[R_U] + c, n])
        LO[rz, n], HI[rz, n] = zl, zh
        if n == 0:
            LO[rr, 0], HI[rr, 0] = idiv(1.0, 1.0, zl, zh)
        else:
            sl, sh = 0.0, 0.0
            for q in range(1, n + 1):
                pl, ph = imul(LO[rz, q], HI[rz, q], LO[rr, n - q], HI[rr, n - q])
                sl, sh = iadd(sl, sh, pl, ph)
            LO[rr, n], HI[rr, n] = imul(-sh, -sl, LO[rr, 0], HI[rr, 0])
        if not _drift(n, star, active, means, vidx, shared, gj, LO, HI, off):
            return False
    return True


@device_function
def _drift(n, star, active, means, vidx, shared, gj, LO, HI, off):
    """``F_n`` from the series up to ``n``; writes coefficient ``n + 1`` of ``y``. False if not finite.

    ``F = y + s = sum_c r_c Phi_c`` with the one-component drifts ``Phi_{c,i} = kappa_{c,i} y_i + mu_{c,i} a /
    v_{c,i}``, ``kappa = 1 - 1/v``: the form in which ``y`` and ``s`` do not cancel (at large ``t``, ``F`` is
    small and ``|y|`` is not). Where coordinate ``i`` has one variance, ``F_i = kappa_i y_i + (a / v_i) (mu_{*,i}
    + (sum_{c != *} u_c (mu_{c,i} - mu_{*,i})) / Z)``.
    """
    K, k = means.shape
    for i in range(k):
        ry = off[R_Y] + i
        g = shared[i]
        if g >= 0:
            rm, rw, j = off[R_MM] + i, off[R_W] + i, gj[g]
            ml, mh = 0.0, 0.0
            for c in range(K):
                if c != star and active[c] != 0:
                    dl, dh = isub(means[c, i], means[c, i], means[star, i], means[star, i])
                    pl, ph = imul(dl, dh, LO[off[R_U] + c, n], HI[off[R_U] + c, n])
                    ml, mh = iadd(ml, mh, pl, ph)
            LO[rm, n], HI[rm, n] = ml, mh
            LO[rw, n], HI[rw, n] = _conv(LO, HI, rm, off[R_R], n)
            fl, fh = _conv(LO, HI, off[R_AINV] + j, rw, n)
            pl, ph = _conv(LO, HI, off[R_KAP] + j, ry, n)
            fl, fh = iadd(fl, fh, pl, ph)
            pl, ph = imul(means[star, i], means[star, i], LO[off[R_AINV] + j, n], HI[off[R_AINV] + j, n])
            fl, fh = iadd(fl, fh, pl, ph)
        else:
            rn = off[R_N] + i
            nl, nh = LO[off[R_PHI] + star * k + i, n], HI[off[R_PHI] + star * k + i, n]
            for c in range(K):
                if c != star and active[c] != 0:
                    pl, ph = _conv(LO, HI, off[R_U] + c, off[R_PHI] + c * k + i, n)
                    nl, nh = iadd(nl, nh, pl, ph)
            LO[rn, n], HI[rn, n] = nl, nh
            fl, fh = _conv(LO, HI, rn, off[R_R], n)
        yl, yh = idiv(fl, fh, float(n + 1), float(n + 1))
        if not (math.isfinite(yl) and math.isfinite(yh)):
            return False
        LO[ry, n + 1], HI[ry, n + 1] = yl, yh
    return True


@device_function
def _g0(c, i, means, vidx, LO, HI, off):
    """``G_{c,i} = -(y_i - a mu_{c,i}) / v_{c,i}`` at order 0 (over the box of the last series call)."""
    pl, ph = imul(LO[off[R_A], 0], HI[off[R_A], 0], means[c, i], means[c, i])
    dl, dh = isub(LO[off[R_Y] + i, 0], HI[off[R_Y] + i, 0], pl, ph)
    gl, gh = imul(dl, dh, LO[off[R_INV] + vidx[c, i], 0], HI[off[R_INV] + vidx[c, i], 0])
    return -gh, -gl


@device_function
def _log_norm(star, means, vidx, lams, shared, gj, jmask, LO, HI, off):
    """Step 3: an upper bound of ``lambda_max`` of the drift's Jacobian over the box and time interval of
    the last :func:`_series` call, which must have had every component active (its order-0 rows are read).

    ``p_i`` is the mean of ``G_{., i}`` under the midpoint responsibilities; where every component has the
    variance ``v`` in coordinate ``i``, ``G_{c,i} - p_i = (a / v) (mu_{c,i} - pi_i)`` is free of the box width.
    """
    K, k = means.shape
    min_inv = math.inf
    for j in range(lams.shape[0]):
        if jmask[j] != 0:
            min_inv = min(min_inv, LO[off[R_INV] + j, 0])
    z_lo = max(1.0, LO[off[R_Z], 0])  # Z = 1 + sum_{c != *} u_c >= 1 exactly
    z_mid = 0.5 * (z_lo + HI[off[R_Z], 0])
    if not math.isfinite(z_mid):
        return math.inf
    trace = 0.0
    for i in range(k):
        weighted, largest, centre = 0.0, 0.0, 0.0
        g = shared[i]
        for c in range(K):  # the centre p_i under the midpoint responsibilities
            r_mid = 1.0 / z_mid if c == star else 0.5 * (LO[off[R_U] + c, 0] + HI[off[R_U] + c, 0]) / z_mid
            if g >= 0:
                centre += r_mid * means[c, i]
            else:
                gl, gh = _g0(c, i, means, vidx, LO, HI, off)
                centre += r_mid * (0.5 * gl + 0.5 * gh)
        for c in range(K):
            u_hi = 1.0 if c == star else HI[off[R_U] + c, 0]
            r_hi = min(1.0, next_up(u_hi / z_lo))
            if g >= 0:
                dl, dh = isub(means[c, i], means[c, i], centre, centre)
                x = next_up(isqr(dl, dh)[1] * isqr(LO[off[R_AINV] + gj[g], 0], HI[off[R_AINV] + gj[g], 0])[1])
            else:
                gl, gh = _g0(c, i, means, vidx, LO, HI, off)
                dl, dh = isub(gl, gh, centre, centre)
                x = isqr(dl, dh)[1]
            weighted = next_up(weighted + next_up(r_hi * x))
            largest = max(largest, x)
        trace = next_up(trace + min(weighted, largest))
    return next_up(next_up(1.0 - min_inv) + trace)


@device_function
def _prune(h_hi, tol_local, star, active, means, vidx, shared, gj, LO, HI, off, vec):
    """Step 4: mark components negligible on the box (``active[c] = 0``) and return ``Delta``, an upper
    bound of ``|F - F_p|_2`` there (reads the order-0 rows of an all-active :func:`_series` call).

    ``|H_c| = |G_c - G_*|`` is bounded coordinate-wise (``(a / v) |mu_c - mu_*|`` in shared coordinates);
    a component is left out when ``u_c (|H_c| + max |H|) h K`` is below a hundredth of the local tolerance.
    """
    K, k = means.shape
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
                x = next_up(imag(dl, dh) * HI[off[R_AINV] + gj[g], 0])
            else:
                gl, gh = _g0(c, i, means, vidx, LO, HI, off)
                sl, sh = _g0(star, i, means, vidx, LO, HI, off)
                dl, dh = isub(gl, gh, sl, sh)
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
        term = next_up(HI[off[R_U] + c, 0] * next_up(vec[V_HN, c] + h_max))
        if next_up(next_up(term * h_hi) * K) <= 0.01 * tol_local:
            active[c] = 0
            delta = next_up(delta + term)
    return delta


@device_function
def _set_start(lo_row, hi_row, LO, HI, off, vec, k):
    for i in range(k):
        LO[off[R_Y] + i, 0] = vec[lo_row, i]
        HI[off[R_Y] + i, 0] = vec[hi_row, i]


@device_function
def _picard_image_inside(h_hi, k, LO, HI, off, vec):
    """``X + [0, h] F subseteq Y`` for the drift ``F`` in column 1 of the ``y`` rows, ``X`` and ``Y`` in the
    vector scratch; the image goes to the ``F`` rows of the vector scratch."""
    inside = True
    for i in range(k):
        fl, fh = imul(0.0, h_hi, LO[off[R_Y] + i, 1], HI[off[R_Y] + i, 1])
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
def _taylor_step(order, h_lo, h_hi, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec,
                 jmask):
    """Step 2 on the box ``Y`` (vector scratch) then the point ``c``: writes the new center over ``c`` and
    the local error bounds to row ``V_ERR``; returns ``(remainder, eps)`` (``remainder`` inf on failure)."""
    k = means.shape[1]
    _set_start(V_YL, V_YH, LO, HI, off, vec, k)
    if not _series(order + 1, tl, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
        return math.inf, math.inf
    power = 1.0
    for _ in range(order + 1):
        power = next_up(power * h_hi)
    worst = 0.0
    for i in range(k):
        vec[V_ERR, i] = next_up(power * imag(LO[off[R_Y] + i, order + 1], HI[off[R_Y] + i, order + 1]))
        worst = max(worst, vec[V_ERR, i])
    if not math.isfinite(worst):
        return math.inf, math.inf
    return worst, 0.0


@device_function
def _advance_center(order, h_lo, h_hi, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec,
                    jmask):
    """The point series from ``(c, th)``, summed at ``h`` in interval Horner form plus the remainders in row
    ``V_ERR``: the new center (its midpoint) replaces ``c``; returns ``eps``, a bound of the distance."""
    k = means.shape[1]
    for i in range(k):
        LO[off[R_Y] + i, 0] = vec[V_C, i]
        HI[off[R_Y] + i, 0] = vec[V_C, i]
    if not _series(order, th, th, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec, jmask):
        return math.inf
    total = 0.0
    for i in range(k):
        row = off[R_Y] + i
        sl, sh = LO[row, order], HI[row, order]
        for n in range(order - 1, -1, -1):
            pl, ph = imul(sl, sh, h_lo, h_hi)
            sl, sh = iadd(pl, ph, LO[row, n], HI[row, n])
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
def _grow(e_prev, mu, h_lo, h_hi, eps, delta_p):
    """``e^{mu h} E + eps + Delta h max(1, e^{mu h})`` rounded up."""
    g = exp_bounds(0.0, next_up(mu * h_hi) if mu >= 0.0 else next_up(mu * h_lo))[1]
    growth = next_up(g * e_prev)
    prune = next_up(next_up(delta_p * h_hi) * max(1.0, g))
    return next_up(next_up(growth + eps) + prune)


@device_function
def enclose_particle(y0l, y0h, T, delta, tol_local, order, max_steps, means, vidx, lams, lwd, logw, shared, gj,
                     LO, HI, off, vec, jmask, active, out_c, out):
    """Enclose the exact flow of every point of the box ``[y0l, y0h]`` from ``T`` to ``delta`` (steps 1-4).

    Writes the center to ``out_c`` and ``(radius, steps, status, time, step, E, h)`` to ``out`` (see
    :data:`STATUS`; on failure ``out_c`` and ``E`` are the ball at the time and step that failed).
    """
    K, k = means.shape
    e_now = 0.0
    for i in range(k):
        c = 0.5 * y0l[i] + 0.5 * y0h[i]
        vec[V_C, i] = c
        r = max(next_up(y0h[i] - c), next_up(c - y0l[i]))
        e_now = next_up(e_now + next_up(r * r))
    e_now = next_up(math.sqrt(e_now))
    t = T
    h = min(0.25, 0.5 * (T - delta))
    steps = 0
    status = 0
    attempts = 0
    while t > delta and status == 0:
        if steps >= max_steps:
            status = 3
            break
        star = _reference_component(vec[V_C], t, means, vidx, lams, logw)
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
            if not _a_priori_box(h_hi, t_next, t, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off,
                                 vec, jmask):
                status = 1
                h *= 0.5
                continue
            mu = _log_norm(star, means, vidx, lams, shared, gj, jmask, LO, HI, off)
            delta_p = _prune(h_hi, tol_local, star, active, means, vidx, shared, gj, LO, HI, off, vec)
            if delta_p > 0.0:
                _set_start(V_YL, V_YH, LO, HI, off, vec, k)
                if not (_series(1, t_next, t, star, active, means, vidx, lams, lwd, shared, gj, LO, HI, off, vec,
                                jmask) and _picard_image_inside(h_hi, k, LO, HI, off, vec)):
                    for c in range(K):
                        active[c] = 1
                    delta_p = 0.0
            remainder, _ = _taylor_step(order, h_lo, h_hi, t_next, t, star, active, means, vidx, lams, lwd, shared,
                                        gj, LO, HI, off, vec, jmask)
            if not (remainder <= tol_local and math.isfinite(mu)):
                status = 2 if math.isfinite(mu) else 4
                shrink = 0.5 if not math.isfinite(remainder) else 0.8 * (tol_local / remainder) ** (1.0 / (order + 1))
                h *= min(0.9, max(0.1, shrink))
                continue
            eps = _advance_center(order, h_lo, h_hi, t, star, active, means, vidx, lams, lwd, shared, gj, LO, HI,
                                  off, vec, jmask)
            e_next = _grow(e_now, mu, h_lo, h_hi, eps, delta_p)
            if not math.isfinite(e_next):
                status = 4
                break
            e_now = e_next
            status = 0
            done = True
            t = t_next
            steps += 1
            grow = 0.9 * (tol_local / max(remainder, 1e-300)) ** (1.0 / (order + 1))
            h *= min(2.0, max(0.5, grow))
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


def enclose_slots(y0l, y0h, T, delta, tol_local, order, max_steps, means, vidx, lams, lwd, logw, shared, gj,
                  LO, HI, off, vec, jmask, active, out_c, out):
    """CPU driver: slot ``s`` (its own scratch) encloses particles ``s, s + slots, ...`` (``prange`` when
    compiled for ``'cpu-parallel'``). Each particle's result depends on nothing but its own start box."""
    n, slots = y0l.shape[0], LO.shape[0]
    for s in prange(slots):
        for p in range(s, n, slots):
            enclose_particle(y0l[p], y0h[p], T, delta, tol_local[p], order, max_steps, means, vidx, lams, lwd, logw,
                             shared, gj, LO[s], HI[s], off, vec[s], jmask[s], active[s], out_c[p], out[p])


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
        self.lams = np.unique(variances.ravel()).astype(np.float64)
        self.vidx = np.searchsorted(self.lams, variances).astype(np.int64)
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
    def arrays(self) -> tuple:
        return self.means, self.vidx, self.lams, self.lwd, self.logw, self.shared, self.gj

    def layout(self, order: int):
        """``(offsets, rows, columns, vector width)`` of one particle's scratch at Taylor order ``order``."""
        K, k = self.means.shape
        J, groups = len(self.lams), len(self.gj)
        unshared = int(np.sum(self.shared < 0))
        sizes = [0] * R_END
        sizes[R_Y], sizes[R_A], sizes[R_E2] = k, 1, 1
        sizes[R_INV] = sizes[R_AINV] = sizes[R_LOGV] = sizes[R_KAP] = J
        sizes[R_DS] = k
        sizes[R_B] = K * groups
        sizes[R_L] = sizes[R_U] = K
        sizes[R_Z] = sizes[R_R] = 1
        sizes[R_MM] = sizes[R_W] = sizes[R_N] = sizes[R_Y2] = k
        sizes[R_DINV] = sizes[R_P] = sizes[R_PHI] = K * k if unshared else 0
        sizes[R_SC] = K
        offsets = np.zeros(R_END + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(sizes)
        return offsets, int(offsets[-1]), order + 2, max(K * max(groups, 1), k, J, K)

    def scratch(self, order: int, slots: int):
        """Zeroed scratch for ``slots`` concurrent particles."""
        off, rows, cols, width = self.layout(order)
        K = self.means.shape[0]
        return (np.zeros((slots, rows, cols)), np.zeros((slots, rows, cols)), off, np.zeros((slots, N_VEC_ROWS, width)),
                np.zeros((slots, len(self.lams)), dtype=np.int8), np.ones((slots, K), dtype=np.int8))
