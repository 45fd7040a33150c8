"""A proved bound on the largest Hessian eigenvalue of a diagonal Gaussian mixture's log-density on a ball.

For components ``N(m_c, D_c)`` with ``D_c = diag(v_c)`` and weights ``w_c`` the Hessian of ``log q`` at
``y`` is ``H(y) = -sum_c r_c D_c^{-1} + Cov_r(g)``, ``g_c(y) = D_c^{-1} (y - m_c)``, ``r`` the posterior
on components. With unequal variances no global bound exists (along the surface where two components
tie, ``g_c - g_c'`` grows linearly in ``y``), so the bound is over a ball ``|y| <= radius``. Popoviciu
over the whole ball counts the largest ``|g_c - g_c'|`` anywhere in it, although ``Cov_r(g)`` is large
only where ``r`` splits; :func:`diagonal_mixture_hessian_sup` is a branch and bound over boxes of ``y``
that follows the ties. It also takes boxes of centres and variances (a range of diffusion times, see
:func:`certsample.lipschitz.sup_on`) and bounds the Hessian over every mixture in them.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numba
import numpy as np

#: Float64 evaluation of the per-box bounds errs by rounding only; this relative margin covers it where the
#: exponents are moderate (larger ones widen it: :func:`diagonal_mixture_hessian_sup`'s last lines).
_ROUNDING = 1e-10
_MAX_BOXES = 200_000  # a search that needs more returns its current (valid, looser) bound
_BATCH = 256


@numba.njit(cache=True)
def _quadratic_range(qa, qb, qc, lo, hi):
    """``(min, max)`` of ``qa y^2 + qb y + qc`` over ``[lo, hi]``: the endpoints and, inside, the vertex."""
    f_lo = (qa * lo + qb) * lo + qc
    f_hi = (qa * hi + qb) * hi + qc
    low, high = min(f_lo, f_hi), max(f_lo, f_hi)
    if qa != 0.0:
        vertex = -qb / (2.0 * qa)
        if lo < vertex < hi:
            f_v = (qa * vertex + qb) * vertex + qc
            low, high = min(low, f_v), max(high, f_v)
    return low, high


@numba.njit(cache=True)
def _split_mass(p_lo, p_hi):
    """``max p (1 - p)`` over ``[p_lo, p_hi]``."""
    p = min(max(0.5, p_lo), p_hi)
    return p * (1.0 - p)


@numba.njit(cache=True)
def _box_bounds(lo, hi, inv, centres, log_c, inv_rad, centre_rad, log_rad, upper, value):
    """Upper bounds of ``lambda_max H`` over each box ``[lo_b, hi_b]`` and every mixture whose
    parameters lie within ``inv_rad``, ``centre_rad``, ``log_rad`` of ``inv``, ``centres``, ``log_c``;
    and the exact value of the mixture ``inv, centres, log_c`` at the box's point nearest the origin
    (proof in :func:`diagonal_mixture_hessian_sup`)."""
    n_box, k = lo.shape
    n_comp = inv.shape[0]
    inv_lo_by_axis = np.ascontiguousarray((inv - inv_rad).T)
    inv_hi_by_axis = np.ascontiguousarray((inv + inv_rad).T)
    quad_dev = np.empty((n_comp, k))  # parameter deviations of (1/2) inv_ci (y_i - m_ci)^2 on the box
    grad_dev = np.empty((n_comp, k))  # and of g_ci = inv_ci (y_i - m_ci)
    gap_lo = np.empty((n_comp, n_comp))
    gap_hi = np.empty((n_comp, n_comp))
    diam2 = np.zeros((n_comp, n_comp))
    diff_lo = np.empty((n_comp, n_comp, k))  # enclosure of g_c - g_e on the box, per axis
    diff_hi = np.empty((n_comp, n_comp, k))
    damp_min = np.empty(k)  # range of sum_c r_c / v_ci over the responsibility box, per axis
    damp_max = np.empty(k)
    r_lo = np.empty(n_comp)
    r_hi = np.empty(n_comp)
    order = np.empty(n_comp, np.int64)
    y = np.empty(k)
    mat_lo = np.empty((k, k))
    mat_hi = np.empty((k, k))
    for b in range(n_box):
        for c in range(n_comp):
            for i in range(k):
                far = max(abs(lo[b, i] - centres[c, i]), abs(hi[b, i] - centres[c, i]))
                reach = far + centre_rad[c, i]
                quad_dev[c, i] = 0.5 * (
                    inv_rad[c, i] * reach * reach + inv[c, i] * centre_rad[c, i] * (2.0 * far + centre_rad[c, i])
                )
                grad_dev[c, i] = inv_rad[c, i] * reach + inv[c, i] * centre_rad[c, i]
        # ranges of l_c' - l_c (separable quadratics, exact per coordinate) and of |g_c - g_c'|^2
        for c in range(n_comp):
            for e in range(n_comp):
                s_lo = log_c[e] - log_c[c] - (log_rad[e] + log_rad[c])
                s_hi = log_c[e] - log_c[c] + (log_rad[e] + log_rad[c])
                d2 = 0.0
                for i in range(k):
                    qa = 0.5 * (inv[c, i] - inv[e, i])
                    qb = inv[e, i] * centres[e, i] - inv[c, i] * centres[c, i]
                    qc = 0.5 * (inv[c, i] * centres[c, i] ** 2 - inv[e, i] * centres[e, i] ** 2)
                    q_lo, q_hi = _quadratic_range(qa, qb, qc, lo[b, i], hi[b, i])
                    s_lo += q_lo - (quad_dev[c, i] + quad_dev[e, i])
                    s_hi += q_hi + (quad_dev[c, i] + quad_dev[e, i])
                    slope = inv[c, i] - inv[e, i]
                    shift = inv[c, i] * centres[c, i] - inv[e, i] * centres[e, i]
                    end_lo, end_hi = slope * lo[b, i] - shift, slope * hi[b, i] - shift
                    widen = grad_dev[c, i] + grad_dev[e, i]
                    end_lo, end_hi = min(end_lo, end_hi) - widen, max(end_lo, end_hi) + widen
                    diff_lo[c, e, i], diff_hi[c, e, i] = end_lo, end_hi
                    d2 += max(end_lo * end_lo, end_hi * end_hi)
                gap_lo[c, e], gap_hi[c, e] = s_lo, s_hi
                diam2[c, e] = d2
        for c in range(n_comp):
            s_min, s_max = 1.0, 1.0
            for e in range(n_comp):
                if e != c:
                    s_min += math.exp(gap_lo[c, e])  # may overflow to inf: r_hi is then the tiny term
                    s_max += math.exp(gap_hi[c, e])
            r_hi[c] = 1.0 / s_min + 1e-300  # covers the rounding of 1/s_min below e^-709
            r_lo[c] = 1.0 / s_max
        # Var term: the top-j components by r_hi as the active set S, the rest of mass eps <= sum r_hi
        order[:] = np.argsort(-r_hi)
        diam_all = 0.0
        for c in range(n_comp):
            for e in range(n_comp):
                diam_all = max(diam_all, diam2[c, e])
        var_bound = 0.25 * diam_all
        diam_s = 0.0
        for j in range(n_comp):
            c = order[j]
            for jj in range(j):
                diam_s = max(diam_s, diam2[c, order[jj]])
            rest = 0.0
            for jj in range(j + 1, n_comp):
                rest += r_hi[order[jj]]
            var_bound = min(var_bound, 0.25 * diam_s + 1.25 * min(rest, 1.0) * diam_all)
        # Var term, pairwise: Var_r(X) = sum_{c<e} r_c r_e (x_c - x_e)^2 exactly
        pair_sum = 0.0
        for c in range(n_comp):
            for e in range(c + 1, n_comp):
                pair_sum += (
                    min(r_hi[c] * r_hi[e], _split_mass(r_lo[c], r_hi[c]), _split_mass(r_lo[e], r_hi[e])) * diam2[c, e]
                )
        var_bound = min(var_bound, pair_sum)
        # -lambda_min(sum r_c D_c^{-1}) <= -min_i min_{r in box, sum r = 1} sum_c r_c inv_ci (greedy)
        for i in range(k):
            damp_min[i] = _greedy_mix(inv_lo_by_axis[i], r_lo, r_hi, order, True)
            damp_max[i] = _greedy_mix(inv_hi_by_axis[i], r_lo, r_hi, order, False)
        upper[b] = min(
            var_bound - damp_min.min(),
            _interval_matrix_top(diff_lo, diff_hi, damp_min, damp_max, r_lo, r_hi, mat_lo, mat_hi),
        )
        # a lower bound: the exact Hessian at the box's point nearest the origin (inside the ball)
        for i in range(k):
            y[i] = min(max(0.0, lo[b, i]), hi[b, i])
        value[b] = _exact_top(y, inv, centres, log_c)


@numba.njit(cache=True)
def _interval_product(a_lo, a_hi, b_lo, b_hi):
    p1, p2, p3, p4 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    return min(min(p1, p2), min(p3, p4)), max(max(p1, p2), max(p3, p4))


@numba.njit(cache=True)
def _greedy_mix(values, r_lo, r_hi, order, lowest):
    """``min`` (or ``max``) of ``sum_c r_c values_c`` over ``r_lo <= r <= r_hi``, ``sum r = 1``."""
    n = values.shape[0]
    order[:] = np.argsort(values) if lowest else np.argsort(-values)
    total, left = 0.0, 1.0
    for c in range(n):
        total += r_lo[c] * values[c]
        left -= r_lo[c]
    for j in range(n):
        c = order[j]
        extra = min(max(left, 0.0), r_hi[c] - r_lo[c])
        total += extra * values[c]
        left -= extra
    return total


@numba.njit(cache=True)
def _interval_matrix_top(diff_lo, diff_hi, damp_min, damp_max, r_lo, r_hi, mat_lo, mat_hi):
    """``lambda_max`` bound of ``H = sum_{c<e} r_c r_e D_ce D_ce^T - sum_c r_c D_c^{-1}`` over a box
    from entrywise enclosures (``D_ce = g_c - g_e`` in ``[diff_lo, diff_hi]``, the diagonal damping
    in ``[damp_min, damp_max]``): ``lambda_max(mid) + ||rad||_2``."""
    n_comp, k = diff_lo.shape[0], diff_lo.shape[2]
    mat_lo[:, :] = 0.0
    mat_hi[:, :] = 0.0
    for c in range(n_comp):
        for e in range(c + 1, n_comp):
            w_hi = min(r_hi[c] * r_hi[e], _split_mass(r_lo[c], r_hi[c]), _split_mass(r_lo[e], r_hi[e]))
            w_lo = r_lo[c] * r_lo[e]
            d_lo, d_hi = diff_lo[c, e], diff_hi[c, e]
            for i in range(k):
                for j in range(i, k):
                    if i == j:
                        sq_hi = max(d_lo[i] ** 2, d_hi[i] ** 2)
                        sq_lo = 0.0 if d_lo[i] <= 0.0 <= d_hi[i] else min(d_lo[i] ** 2, d_hi[i] ** 2)
                    else:
                        sq_lo, sq_hi = _interval_product(d_lo[i], d_hi[i], d_lo[j], d_hi[j])
                    t_lo, t_hi = _interval_product(w_lo, w_hi, sq_lo, sq_hi)
                    mat_lo[i, j] += t_lo
                    mat_hi[i, j] += t_hi
    for i in range(k):
        mat_lo[i, i] -= damp_max[i]
        mat_hi[i, i] -= damp_min[i]
        for j in range(i + 1, k):
            mat_lo[j, i], mat_hi[j, i] = mat_lo[i, j], mat_hi[i, j]
    centre = 0.5 * (mat_lo + mat_hi)
    spread = 0.5 * (mat_hi - mat_lo)
    return np.linalg.eigvalsh(centre)[-1] + np.linalg.eigvalsh(spread)[-1]


@numba.njit(cache=True)
def _exact_top(y, inv, centres, log_c):
    """``lambda_max H(y)``, evaluated in floating point."""
    n_comp, k = inv.shape
    logp = np.empty(n_comp)
    for c in range(n_comp):
        s = log_c[c]
        for i in range(k):
            s -= 0.5 * inv[c, i] * (y[i] - centres[c, i]) ** 2
        logp[c] = s
    top = logp.max()
    r = np.exp(logp - top)
    r /= r.sum()
    g = np.empty((n_comp, k))
    mean = np.zeros(k)
    for c in range(n_comp):
        for i in range(k):
            g[c, i] = inv[c, i] * (y[i] - centres[c, i])
            mean[i] += r[c] * g[c, i]
    hess = np.zeros((k, k))
    for c in range(n_comp):
        for i in range(k):
            hess[i, i] -= r[c] * inv[c, i]
            for j in range(k):
                hess[i, j] += r[c] * (g[c, i] - mean[i]) * (g[c, j] - mean[j])
    return np.linalg.eigvalsh(hess)[-1]


def diagonal_mixture_hessian_sup(
    centres,
    variances,
    weights,
    radius: float,
    rtol: float = 0.1,
    *,
    centres_hi=None,
    variances_hi=None,
    max_boxes: int = _MAX_BOXES,
    floor: float = -math.inf,
) -> float:
    """An upper bound of ``lambda_max Hess log q(y)`` over the ball ``|y| <= radius``.

    ``q = sum_c w_c N(centres_c, diag(variances_c))``; centres and variances of shape ``(K, k)``. With
    ``centres_hi`` or ``variances_hi`` (same shape, entrywise at least ``centres``, ``variances``) the
    bound holds for every such ``q`` whose centres and variances lie entrywise in ``[centres,
    centres_hi]`` and ``[variances, variances_hi]`` (weights fixed): one bound over a range of diffusion
    times. The bound is within a factor ``1 + rtol`` (absolutely: ``rtol max(|value|, 1/v_max)``) of the
    largest value found (at the middle of the parameter box), unless the search needs more than
    ``max_boxes`` boxes, when it is looser (still valid): the parameter boxes' widths do not shrink
    with the boxes of ``y``, so a wide parameter box may never meet the tolerance. ``floor`` is a
    value the caller accepts as the bound (a bound it already has elsewhere): the search starts from
    it as its best value, so it closes the boxes whose bound is within the tolerance of it.

    Proof. Cover the ball by boxes; on a box ``B`` and for any unit ``u``, ``u^T H u = Var_r(u . g) -
    sum_c r_c u^T D_c^{-1} u``, bounded in two parts.

    * *Responsibilities.* ``l_c(y) = log w_c - (1/2) sum_i log(2 pi v_ci) - (1/2) sum_i (y_i -
      m_ci)^2 / v_ci``, so ``l_e - l_c`` is a sum over coordinates of quadratics in one ``y_i`` each,
      whose exact range on an interval is found at the ends and the vertex; hence ``s_ce <= l_e - l_c
      <= S_ce`` on ``B``, and ``r_c = 1 / (1 + sum_{e != c} e^{l_e - l_c})`` lies in ``[r_lo_c,
      r_hi_c]`` with ``r_hi_c = 1 / (1 + sum e^{s_ce})``, ``r_lo_c = 1 / (1 + sum e^{S_ce})``.
    * *Variance.* ``g_c - g_e = (D_c^{-1} - D_e^{-1}) y - (D_c^{-1} m_c - D_e^{-1} m_e)`` is affine in
      each coordinate, so ``|g_c - g_e|^2 <= d_ce``, the sum over coordinates of the larger square at
      the two ends. For any split of the components into ``S`` and the rest ``N`` with ``eps =
      r(N)``, the law of total variance gives ``Var_r(X) = (1 - eps) Var_rho(X) + eps Var_nu(X) + eps
      (1 - eps) (E_rho X - E_nu X)^2`` (``rho``, ``nu`` the conditional laws); Popoviciu bounds
      ``Var_rho`` by ``max_{S} d / 4`` and ``Var_nu`` by ``max d / 4``, and the last term by ``eps max
      d``. So ``Var_r(u . g) <= max_S d / 4 + (5/4) min(1, sum_N r_hi) max d``; ``S`` runs over the
      top-``j`` components by ``r_hi`` and the least is kept (``j = 1`` leaves ``S``'s term zero).
      Also, exactly, ``Var_r(X) = sum_{c<e} r_c r_e (x_c - x_e)^2``, and ``r_c r_e`` is at most
      ``r_hi_c r_hi_e`` and at most ``r_c (1 - r_c)`` (as ``r_e <= 1 - r_c``), itself at most ``max p
      (1 - p)`` over ``[r_lo_c, r_hi_c]``; the smaller of the two bounds is used. Where two components
      tie the pairwise one follows ``r`` (``p (1 - p) d`` rather than ``d / 4``).
    * *Damping.* ``lambda_max(-sum_c r_c D_c^{-1}) = -min_i sum_c r_c / v_ci``, and the ``min`` of a
      linear function of ``r`` over the box ``[r_lo, r_hi]`` cut by ``sum r = 1`` is found greedily
      (the lower ends, then the rest to the cheapest components).
    * *Parameter boxes.* Write ``i_ci = 1/v_ci`` and let the parameters of the search be the middles
      ``i``, ``m``, ``log c`` of their ranges, the true ones ``i' = i + di``, ``m' = m + dm``, ``log c' =
      log c + dl`` with ``|di| <= rho_i``, ``|dm| <= rho_m``, ``|dl| <= rho_l`` (``i`` ranges over
      ``[1/v_hi, 1/v_lo]``, ``log c_c = log w_c - (1/2) sum_i log v_ci`` over the ends' values; both are
      monotone in ``v``). On a box with ``|y_i - m_ci| <= f`` (``f`` the larger distance of the box's
      ends from ``m_ci``): ``i' (y - m')^2 - i (y - m)^2 = di (y - m')^2 + i (m - m') (2 y - m - m')``, so
      the term ``(1/2) i (y - m)^2`` of ``l_c`` moves by at most ``(1/2) (rho_i (f + rho_m)^2 + i rho_m (2 f
      + rho_m))``, and ``g_ci = i (y - m)`` by at most ``rho_i (f + rho_m) + i rho_m``. The ranges of ``l_e
      - l_c`` are widened by both components' moves (and ``rho_l`` each), those of ``g_c - g_e`` likewise,
      and the damping takes ``i - rho_i`` (its ``min``) and ``i + rho_i`` (its ``max``). Every step above
      then holds for every mixture in the parameter box. With no ranges given every move is zero and
      the search is the one above, bit for bit.

    ``lambda_max(A + B) <= lambda_max A + lambda_max B`` adds the two. A box whose bound is within the
    tolerance of the best exact value found (at boxes' points nearest the origin, which lie in the
    ball, for the middle parameters, which lie in the parameter box), or of ``floor``, is closed;
    which boxes are closed decides only how tight the result is, not its validity: the result is the
    largest bound of the closed and the remaining boxes, times ``1 + _ROUNDING`` plus an absolute
    rounding margin. Boxes are halved along their longest edge.
    """
    centres, variances, weights, centres_hi, variances_hi, radius = _checked_search_inputs(
        centres, variances, weights, centres_hi, variances_hi, radius, rtol
    )
    log_w = np.log(weights / weights.sum())
    if centres_hi is centres and variances_hi is variances:
        inv = 1.0 / variances
        log_c = log_w - 0.5 * np.sum(np.log(variances), axis=1)
        inv_rad, centre_rad, log_rad = np.zeros_like(inv), np.zeros_like(inv), np.zeros_like(log_c)
        inv_top = inv
    else:
        inv, inv_rad = _middle_radius(1.0 / variances_hi, 1.0 / variances)
        centres, centre_rad = _middle_radius(centres, centres_hi)
        log_c, log_rad = _middle_radius(
            log_w - 0.5 * np.sum(np.log(variances_hi), axis=1), log_w - 0.5 * np.sum(np.log(variances), axis=1)
        )
        inv_top = 1.0 / variances
    k = centres.shape[1]
    scale = float(np.min(inv))  # about 1 / v_max: the scale of the absolute tolerance
    ticket = itertools.count()  # breaks ties between equal bounds without comparing arrays
    heap = [(-math.inf, next(ticket), np.full(k, -radius), np.full(k, radius))]
    best, closed, seen = float(floor), -math.inf, 0
    while heap and seen < max_boxes:
        batch = [heapq.heappop(heap) for _ in range(min(_BATCH, len(heap)))]
        lo = np.array([item[2] for item in batch])
        hi = np.array([item[3] for item in batch])
        keep = np.sum(np.maximum(np.maximum(lo, -hi), 0.0) ** 2, axis=1) <= radius * radius
        lo, hi = lo[keep], hi[keep]
        upper, value = np.empty(len(lo)), np.empty(len(lo))
        _box_bounds(lo, hi, inv, centres, log_c, inv_rad, centre_rad, log_rad, upper, value)
        seen += len(lo)
        if len(value):
            best = max(best, float(value.max()))
        tol = rtol * max(abs(best), scale)
        for j in range(len(lo)):
            if upper[j] <= best + tol:
                closed = max(closed, float(upper[j]))
                continue
            axis = int(np.argmax(hi[j] - lo[j]))
            mid = 0.5 * (lo[j, axis] + hi[j, axis])
            left_hi, right_lo = hi[j].copy(), lo[j].copy()
            left_hi[axis], right_lo[axis] = mid, mid
            heapq.heappush(heap, (-float(upper[j]), next(ticket), lo[j], left_hi))
            heapq.heappush(heap, (-float(upper[j]), next(ticket), right_lo, hi[j]))
    # an open box carries its parent's bound, which covers it
    result = max(closed, max((-item[0] for item in heap), default=-math.inf))
    # the exponents l_e - l_c are sums of terms up to inv (|m| + radius)^2, each rounded: their absolute error,
    # and so the relative error of e^{l_e - l_c}, grows with that size. Counted: Horner quadratics on at most three
    # axes, the deviation bounds, the exps (within an ulp) and a 3 x 3 eigenvalue (backward stable) come to about
    # 20 ulps of it; 64 are taken
    exponent_size = float(np.max(inv_top * (np.abs(centres) + np.abs(centre_rad) + radius) ** 2))
    margin = max(_ROUNDING, 64 * 2.0**-53 * exponent_size)
    return result + margin * (abs(result) + float(np.max(inv_top)))


def _checked_search_inputs(centres, variances, weights, centres_hi, variances_hi, radius, rtol):
    """The arguments of :func:`diagonal_mixture_hessian_sup` as arrays, or a ValueError naming the bad one."""
    centres = np.ascontiguousarray(centres, dtype=float)
    variances = np.ascontiguousarray(variances, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if centres.ndim != 2 or variances.shape != centres.shape or weights.shape != (centres.shape[0],):
        raise ValueError(
            f"centres and variances must be (K, k) and weights (K,); got {centres.shape}, "
            f"{variances.shape}, {weights.shape}"
        )
    if not (
        np.all(np.isfinite(centres))
        and np.all(variances > 0)
        and np.all(np.isfinite(variances))
        and np.all(weights > 0)
    ):
        raise ValueError("centres must be finite, variances and weights positive and finite")
    centres_hi = centres if centres_hi is None else np.ascontiguousarray(centres_hi, dtype=float)
    variances_hi = variances if variances_hi is None else np.ascontiguousarray(variances_hi, dtype=float)
    if centres_hi.shape != centres.shape or variances_hi.shape != variances.shape:
        raise ValueError(f"centres_hi and variances_hi must have shape {centres.shape}")
    if not (
        np.all(centres_hi >= centres)
        and np.all(variances_hi >= variances)
        and np.all(np.isfinite(centres_hi))
        and np.all(np.isfinite(variances_hi))
    ):
        raise ValueError("centres_hi and variances_hi must be finite and at least centres and variances")
    radius = float(radius)
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    if not rtol > 0:
        raise ValueError(f"rtol must be positive, got {rtol!r}")
    return centres, variances, weights, centres_hi, variances_hi, radius


def _middle_radius(lo, hi):
    """``(m, r)`` with ``[lo, hi]`` inside ``[m - r, m + r]`` entrywise (``r`` taken from both ends, so the
    rounding of ``m`` is covered up to the rounding of one subtraction, which ``_ROUNDING`` covers)."""
    mid = 0.5 * (lo + hi)
    return mid, np.maximum(hi - mid, mid - lo)
