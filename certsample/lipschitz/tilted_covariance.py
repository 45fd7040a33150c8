"""A proved bound on the covariance of the component posterior of a Gaussian mixture.

The score Hessian of an equal-variance mixture is ``-I/v + (a^2/v^2) Cov_r(mu)``, where ``r`` is the
posterior on components at the point ``y``. Over *all* laws on the means, ``lambda_max Cov(mu) <=
diam^2/4`` (Popoviciu), reached by half the mass on each end of a diameter. The posterior is not any
law: for isotropic variances it is an exponential tilt ``r_c ~ w_c exp(theta . mu_c - a^2 |mu_c|^2 /
(2 v))`` of the weights. When the means lie on a circle the quadratic term is the same for every
component, and the posteriors are exactly the tilts ``r_c ~ w_c exp(theta . p_c)`` of the unit points
``p_c = (mu_c - m) / R`` (``m``, ``R`` the circle's centre and radius), with ``theta`` ranging over the
plane. On eight equally spaced points that family never puts half its mass on two opposite points; its
covariance peaks at ``1/2`` (the uniform law) against Popoviciu's ``1``. This module proves such a
bound numerically, once per point set: :func:`tilted_covariance_sup`.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

#: Lipschitz constant of ``theta -> lambda_max Cov_theta(p)`` for points in the unit disc (proof in
#: :func:`tilted_covariance_sup`).
_LIPSCHITZ = 2.0
#: Float64 evaluation of a softmax covariance of at most a few hundred points in the unit disc errs by
#: far less than this; added to the result so the bound covers the rounding (:func:`_rounding` for more points).
_ROUNDING = 1e-12


#: the unit roundoff of float64
_UNIT = 2.0**-53
#: the float64 exponents of :func:`_tempered_cells` are widened by this many units of roundoff times the size of
#: their terms (proof in :func:`tempered_covariance_sup`)
_EXPONENT_ULPS = 32.0


def _rounding(n_points: int) -> float:
    """The rounding allowance for ``n_points`` points: sums of ``n`` terms of size at most 1 err by a few ``n``
    ulps, so ``1e-14 n`` covers them, and at least :data:`_ROUNDING` (an estimate from the operation count)."""
    return max(_ROUNDING, 1e-14 * n_points)


_DIRECTIONS = 720  # angular cells of the far-field argument


def _top_eigenvalue(points, log_w, thetas):
    """``lambda_max Cov_theta(p)`` for each row of ``thetas`` (shape (n, h), h <= 2)."""
    z = log_w + thetas @ points.T
    z -= z.max(axis=1, keepdims=True)
    r = np.exp(z)
    r /= r.sum(axis=1, keepdims=True)
    mean = r @ points
    if points.shape[1] == 1:
        return r @ points[:, 0] ** 2 - mean[:, 0] ** 2
    cxx = r @ points[:, 0] ** 2 - mean[:, 0] ** 2
    cyy = r @ points[:, 1] ** 2 - mean[:, 1] ** 2
    cxy = r @ (points[:, 0] * points[:, 1]) - mean[:, 0] * mean[:, 1]
    return 0.5 * (cxx + cyy) + np.hypot(0.5 * (cxx - cyy), cxy)


def _far_field_spread(points, delta, diameter=False):
    """``max`` over directions ``u`` of ``rad(T)^2`` for ``T`` the points within ``delta + 2 eta`` of the
    top of ``u . p`` (``u`` the centre of an angular cell of half-width ``eta``), ``rad`` the largest
    distance from ``T``'s centroid; with ``diameter``, ``diam(T)^2 / 4`` instead."""
    h = points.shape[1]
    if h == 1:
        directions, eta = np.array([[1.0], [-1.0]]), 0.0
    else:
        angle = (np.arange(_DIRECTIONS) + 0.5) * (2 * math.pi / _DIRECTIONS)
        directions, eta = np.stack([np.cos(angle), np.sin(angle)], axis=1), math.pi / _DIRECTIONS
    worst = 0.0
    for u in directions:
        heights = points @ u
        near = points[heights >= heights.max() - delta - 2 * eta]
        if diameter:
            worst = max(worst, float(np.max(np.sum((near[:, None] - near[None]) ** 2, axis=2))) / 4)
        else:
            worst = max(worst, float(np.max(np.sum((near - near.mean(axis=0)) ** 2, axis=1))))
    return worst


def _unit_points(points, weights, name):
    """Validated ``(points, normalised weights, Popoviciu's diam^2 / 4)``; zero-weight points dropped."""
    points = np.atleast_2d(np.asarray(points, dtype=float))
    weights = np.asarray(weights, dtype=float)
    keep = weights > 0
    points, weights = points[keep], weights[keep] / weights[keep].sum()
    if points.shape[1] not in (1, 2):
        raise ValueError(f"{name} handles points in 1 or 2 dimensions, got {points.shape[1]}")
    if np.max(np.sum(points**2, axis=1)) > 1 + 1e-12:
        raise ValueError("points must lie in the closed unit disc")
    diffs = points[:, None, :] - points[None, :, :]
    # Popoviciu's diam^2 / 4 as a cap, rounded up: each difference, square and sum over the (at most a few)
    # coordinates rounds by a relative 2^-53, far below the 1e-14 added (the cap is attained for two points)
    return points, weights, float(np.max(np.sum(diffs**2, axis=2))) / 4 * (1 + 1e-14)


def tilted_covariance_sup(points, weights, tol: float = 0.01) -> float:
    """An upper bound on ``sup_theta lambda_max Cov_theta(p)``, ``r_c ~ w_c exp(theta . p_c)``.

    Parameters
    ----------
    points : (K, h) array, ``h`` in {1, 2}
        Points in the closed unit disc.
    weights : (K,) array
        Positive weights (zero-weight points are dropped).
    tol : float
        The bound exceeds the supremum by at most about ``tol``.

    Returns
    -------
    float
        ``S`` with ``lambda_max Cov_r(p) <= S`` for every tilt ``theta`` in ``R^h``; never more than
        Popoviciu's ``diam^2 / 4``, which holds for every law on the points.

    Notes
    -----
    Proof. Write ``f(theta) = lambda_max Cov_theta(p) = max_{|u|=1} Var_theta(u . p)``.

    *Lipschitz.* ``d/dtheta Var_theta(u . p)`` in a unit direction ``w`` is the third central moment
    ``E[(u . Z)^2 (w . Z)]``, ``Z = p - E_theta p``; ``|w . Z| <= 2`` (both points in the unit disc) and
    ``E (u . Z)^2 <= E (u . p)^2 <= 1``, so each ``Var_theta(u . p)`` and their maximum ``f`` are
    2-Lipschitz.

    *Near field*, the box ``|theta|_inf <= Theta``: branch and bound on squares. On a square of
    half-width ``s`` about ``c``, ``f <= f(c) + 2 sqrt(h) s``. A square is discarded once that is at
    most ``best + tol`` (``best`` the largest ``f`` evaluated so far, which only grows), the rest are
    split in ``2^h`` until none is left; every point of the box then has ``f <= best + tol``.

    *Far field*, ``|theta| >= Theta`` (which contains the complement of the box). Write ``theta = |theta|
    u`` and take the angular cell of half-width ``eta`` whose centre ``u0`` is nearest ``u`` (``|u -
    u0| <= eta``); ``u . p_c`` differs from ``u0 . p_c`` by at most ``eta``. Let ``T`` be the points
    with ``u0 . p_c >= max_c' u0 . p_c' - delta - 2 eta``. A point outside ``T`` has ``u . p_c <
    max_c' u . p_c' - delta``, so its posterior weight is at most ``(w_c / w_min) e^{-Theta delta}``
    and all of them together at most ``e^{-Theta delta} / w_min``. With ``m`` the centroid of ``T``,
    ``lambda_max Cov <= E|p - m|^2 <= rad(T)^2 + 4 e^{-Theta delta} / w_min``; ``Theta = log(4 /
    (w_min tol)) / delta`` makes the second term ``tol``. ``delta`` is the largest of a few candidates
    whose far-field spread is within ``tol`` of the best (a small ``Theta`` keeps the box small).

    The bound is ``max`` of both parts plus a rounding allowance, capped by ``diam^2 / 4``.
    """
    points, weights, popoviciu = _unit_points(points, weights, "tilted_covariance_sup")
    h = points.shape[1]
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if len(points) == 1:
        return 0.0
    log_w = np.log(weights)
    w_min = float(weights.min())

    spreads = {delta: _far_field_spread(points, delta) for delta in (0.5, 0.25, 0.125, 0.0625, 0.03125)}
    least = min(spreads.values())
    delta = max(d for d, s in spreads.items() if s <= least + tol)
    far = spreads[delta] + tol
    box = math.log(4 / (w_min * tol)) / delta

    half = box / max(1, math.ceil(box))  # start from unit-sized squares
    axes = [np.arange(-box + half, box, 2 * half)] * h
    centres = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    best = 0.0
    while len(centres):
        values = np.concatenate(
            [_top_eigenvalue(points, log_w, c) for c in np.array_split(centres, max(1, len(centres) // 50_000))]
        )
        best = max(best, float(values.max()))
        slack = _LIPSCHITZ * math.sqrt(h) * half
        centres = centres[values + slack > best + tol]
        half /= 2
        offsets = np.stack([g.ravel() for g in np.meshgrid(*[[-half, half]] * h, indexing="ij")], axis=1)
        centres = (centres[:, None, :] + offsets[None]).reshape(-1, h)
    return min(popoviciu, max(best + tol, far) + _rounding(len(points)))


# ---------------------------------------------------------------------------- tempered posteriors
#: the first tempered octave starts here; below it :class:`PosteriorCovarianceBound` uses Popoviciu
#: (there ``2 lam diam^2/4 <= 1/2``: the mixture term moves the score's Lipschitz bound by at most half)
TEMPER_MIN = 0.25
_SECTORS = 8
_MAX_CELLS = 3_000_000  # a search that needs more falls back to Popoviciu (valid, loose)


@numba.njit(cache=True)
def _arc_range(u1x, u1y, u2x, u2y, vx, vy):
    """Exact ``(min, max)`` of ``u . v`` over the unit vectors ``u`` of the arc from ``u1`` to ``u2``
    (counter-clockwise, shorter than ``pi``): an endpoint, or ``+-|v|`` where ``+-v`` points into the arc."""
    a, b = u1x * vx + u1y * vy, u2x * vx + u2y * vy
    inside_pos = u1x * vy - u1y * vx >= 0 and vx * u2y - vy * u2x >= 0
    inside_neg = -(u1x * vy - u1y * vx) >= 0 and -(vx * u2y - vy * u2x) >= 0
    norm = math.hypot(vx, vy)
    return (-norm if inside_neg else min(a, b)), (norm if inside_pos else max(a, b))


@numba.njit(cache=True)
def _top_moment(points, mass):
    """``(lambda_max sum_c mass_c (p_c - m)(p_c - m)^T, sum_c mass_c)``, ``m`` the mass-weighted mean."""
    total = mx = my = 0.0
    for c in range(points.shape[0]):
        total += mass[c]
        mx += mass[c] * points[c, 0]
        my += mass[c] * points[c, 1]
    mx /= total
    my /= total
    sxx = syy = sxy = 0.0
    for c in range(points.shape[0]):
        dx, dy = points[c, 0] - mx, points[c, 1] - my
        sxx += mass[c] * dx * dx
        syy += mass[c] * dy * dy
        sxy += mass[c] * dx * dy
    return max(0.0, 0.5 * (sxx + syy) + math.hypot(0.5 * (sxx - syy), sxy)), total


@numba.njit(cache=True)
def _tempered_cells(points, log_w, cells, bound, value, axis):
    """Per cell ``(rho1, rho2, phi1, phi2, lam1, lam2)``: an upper bound of ``lambda_max Cov`` over the
    cell, the exact value at its reference point, and the axis to split it along (proof in
    :func:`tempered_covariance_sup`)."""
    n_points = points.shape[0]
    dist2 = np.empty(n_points)
    hi = np.empty(n_points)
    lo = np.empty(n_points)
    mass = np.empty(n_points)
    for i in range(cells.shape[0]):
        rho1, rho2, phi1, phi2 = cells[i, 0], cells[i, 1], cells[i, 2], cells[i, 3]
        lam1, lam2 = cells[i, 4], cells[i, 5]
        rho_m, phi_m, lam_m = 0.5 * (rho1 + rho2), 0.5 * (phi1 + phi2), math.sqrt(lam1 * lam2)
        ux, uy = math.cos(phi_m), math.sin(phi_m)
        u1x, u1y, u2x, u2y = math.cos(phi1), math.sin(phi1), math.cos(phi2), math.sin(phi2)
        zx, zy = rho_m * ux, rho_m * uy
        ref, ell_top = 0, -math.inf
        for c in range(n_points):
            dist2[c] = (points[c, 0] - zx) ** 2 + (points[c, 1] - zy) ** 2
            ell = log_w[c] - lam_m * dist2[c]
            if ell > ell_top:
                ref, ell_top = c, ell
        for c in range(n_points):
            mass[c] = math.exp(log_w[c] - lam_m * dist2[c] - ell_top)
        moment, total = _top_moment(points, mass)
        value[i] = moment / total

        hi_top = -math.inf
        for c in range(n_points):
            vx, vy = points[c, 0] - points[ref, 0], points[c, 1] - points[ref, 1]
            proj_lo, proj_hi = _arc_range(u1x, u1y, u2x, u2y, vx, vy)
            g_lo = min(rho1 * proj_lo, rho2 * proj_lo) - (zx * vx + zy * vy)
            g_hi = max(rho1 * proj_hi, rho2 * proj_hi) - (zx * vx + zy * vy)
            base = dist2[c] - dist2[ref]
            x_lo, x_hi = base - 2 * g_hi, base - 2 * g_lo
            size = dist2[c] + dist2[ref] + abs(x_lo) + abs(x_hi) + 4.0 * (rho2 + rho_m + 1.0) * math.hypot(vx, vy)
            slack = _EXPONENT_ULPS * _UNIT * (lam2 * (size + 2.0 * (1.0 + rho2)) + abs(log_w[c]) + 1.0)
            hi[c] = log_w[c] - min(lam1 * x_lo, lam2 * x_lo) + slack
            lo[c] = log_w[c] - max(lam1 * x_hi, lam2 * x_hi) - slack
            hi_top = max(hi_top, hi[c])
        floor = 0.0
        for c in range(n_points):
            mass[c] = math.exp(hi[c] - hi_top)
            floor += math.exp(lo[c] - hi_top)
        bound[i] = _top_moment(points, mass)[0] / floor if floor > 0 else math.inf  # underflow: keep the cell

        # split along whichever of radius, angle and temperature moves the dominant l_c most
        spread_u = spread_v = spread_e = 0.0
        for c in range(n_points):
            if hi[c] >= hi_top - 12.0:
                vx, vy = points[c, 0] - points[ref, 0], points[c, 1] - points[ref, 1]
                spread_u = max(spread_u, abs(ux * vx + uy * vy))
                spread_v = max(spread_v, math.hypot(vx, vy))
                spread_e = max(spread_e, abs(dist2[c] - dist2[ref]))
        radial = lam2 * (rho2 - rho1) * spread_u
        angular = lam2 * rho2 * (phi2 - phi1) * spread_v
        temper = (lam2 - lam1) * spread_e
        axis[i] = 0 if radial >= max(angular, temper) else (1 if angular >= temper else 2)


@functools.lru_cache(maxsize=16)
def _far_field_table(points: bytes, count: int) -> dict:
    """``{delta: _far_field_spread(points, delta)}`` for ``delta = 1/2 .. 1/1024``; it does not depend on
    the temperature, so every octave of one point set shares it."""
    points = np.frombuffer(points).reshape(count, 2)
    return {2.0**-k: _far_field_spread(points, 2.0**-k) for k in range(1, 11)}


def _split(cells, axis):
    rho1, rho2, phi1, phi2, lam1, lam2 = cells.T
    left, right = cells.copy(), cells.copy()
    mid = np.where(axis == 0, 0.5 * (rho1 + rho2), np.where(axis == 1, 0.5 * (phi1 + phi2), np.sqrt(lam1 * lam2)))
    lo_col, hi_col = 2 * axis, 2 * axis + 1
    rows = np.arange(len(cells))
    left[rows, hi_col] = mid
    right[rows, lo_col] = mid
    return np.concatenate([left, right])


def tempered_covariance_sup(points, weights, lam_lo: float, lam_hi: float, rtol: float = 0.2) -> float:
    """An upper bound on ``sup lambda_max Cov_r(p)`` over ``r_c ~ w_c exp(-lam |p_c - z|^2)``, all
    ``z`` in the plane and ``lam`` in ``[lam_lo, lam_hi]`` (``0 < lam_lo <= lam_hi``).

    This is the posterior on the components of an isotropic equal-variance mixture at any point (``z``
    the point over ``a``, ``lam = a^2 R^2 / (2 v)`` in units of the radius ``R``). Unlike the tilts of
    :func:`tilted_covariance_sup`, means at different distances from the centre (a point cloud) keep
    a temperature-dependent quadratic term, so the bound is per temperature range.

    Parameters
    ----------
    points : (K, h) array, ``h`` in {1, 2}
        Points in the closed unit disc.
    weights : (K,) array
        Positive weights (zero-weight points are dropped).
    lam_lo, lam_hi : float
        The temperature range.
    rtol : float
        The bound exceeds the supremum found by at most this fraction (plus the far-field ``tol``).

    Notes
    -----
    Proof. Write ``l_c(z, lam) = log w_c - lam |p_c - z|^2``; adding to every ``l_c`` a term that does
    not depend on ``c`` leaves ``r`` unchanged. For any ``m``, ``Cov_r <= sum_c r_c (p_c - m)(p_c -
    m)^T`` (PSD order), so if ``lo_c <= l_c + k(z, lam) <= hi_c`` on a set of ``(z, lam)`` for one
    common ``k``, then there ``lambda_max Cov_r <= lambda_max(sum_c e^{hi_c} (p_c - m)(p_c - m)^T) /
    sum_c e^{lo_c}``: each ``r_c <= e^{hi_c} / sum e^{lo}`` and each term is PSD.

    *Cells* are polar boxes ``z = rho (cos phi, sin phi)``, ``rho in [rho1, rho2]``, ``phi in [phi1,
    phi2]``, times ``lam in [lam1, lam2]``. With ``z0`` the cell's centre, ``c*`` the component of
    largest ``l_c(z0)`` and ``v_c = p_c - p_c*``: ``|p_c - z|^2 = |p_c - z0|^2 - 2 (z - z0) . v_c +
    [|z - z0|^2 - 2 (z - z0) . (p_c* - z0)]``, the bracket common to all ``c``; subtracting the constant
    ``|p_c* - z0|^2`` too leaves ``x_c = |p_c - z0|^2 - |p_c* - z0|^2 - 2 (z . v_c - z0 . v_c)``. ``z .
    v_c = rho (u . v_c)``, ``u = (cos phi, sin phi)``, lies in the product of ``[rho1, rho2]`` with
    the exact range of ``u . v_c`` over the arc (:func:`_arc_range`: an endpoint, or ``+-|v_c|`` when
    ``+-v_c`` points into the arc), which bounds ``x_c`` in ``[x_lo,
    x_hi]`` and ``lam x_c`` by the products with ``[lam1, lam2]``; ``hi_c = log w_c - min lam x_lo``,
    ``lo_c = log w_c - max lam x_hi``. Subtracting the components' shared part keeps the bound tight
    along the ridges where two components tie.

    *Rounding of the exponents.* ``hi_c`` and ``lo_c`` are differences of terms of size ``lam |z|^2``, so their
    float64 error is absolute, not relative to their small value: each is widened by ``32 u`` (``u = 2^-53``,
    :data:`_EXPONENT_ULPS`) times ``lam_2 (S + 2 (1 + rho_2)) + |log w_c| + 1``, with ``S = |p_c - z0|^2 +
    |p_c* - z0|^2 + |x_lo| + |x_hi| + 4 (rho_2 + |z0| + 1) |v_c|`` bounding the terms. Counting: the two squared
    distances err by at most ``4 u`` of themselves, the differences ``v_c`` and the products and sums of ``g`` by a
    few ``u`` of ``(rho_2 + |z0|) |v_c|`` (the arc's ends ``cos``, ``sin`` within an ulp, the range's products
    within ``2 u``), ``x`` and ``lam x`` add ``2 u`` of theirs, ``log w_c`` (libm, within an ulp) and the final
    subtraction ``2 u`` of theirs: well within ``32 u`` of the sizes. The term ``2 lam_2 (1 + rho_2)`` covers the
    points themselves, float roundings of exact points (within ``4 u`` per coordinate of the disc), which move
    ``lam |p_c - z|^2`` by at most ``lam 2 (1 + |z|) 4 sqrt 2 u``. Without it, at ``lam`` in the thousands and
    ``|z|`` near 70 (the 64-point cloud near ``t = 10^-3``) the exponents' rounding reached ``10^-9``, above the
    result's additive allowance.

    *Search*: branch and bound; every cell's exact ``lambda_max Cov`` at ``(z0, sqrt(lam1 lam2))`` is
    a value the supremum reaches, ``best`` the largest so far; a cell whose bound is at most ``(1 +
    rtol) best`` is discarded, the others split along whichever of radius, angle and temperature
    moves ``l`` most. The cells start as octaves of radius ``[0, 1/8], [1/8, 1/4], ..`` up to ``Z``.

    *Far field*, ``|z| >= Z``: as in :func:`tilted_covariance_sup`, with the tilt ``theta = 2 lam z``
    (``|theta| >= 2 lam_lo Z``) and the extra factor ``e^{-lam |p_c|^2}`` in ``[e^{-lam_hi}, 1]``: the
    points outside the top set ``T`` carry at most ``e^{lam_hi - 2 lam_lo Z delta} / w_min``, so
    ``Z = (lam_hi + log(4 / (w_min tol))) / (2 lam_lo delta)`` gives ``rad(T)^2 + tol``.

    The result is the largest of both parts plus the rounding allowance, capped by Popoviciu's
    ``diam^2 / 4``; if the search needs more than a few million cells it returns that cap.
    """
    points, weights, popoviciu = _unit_points(points, weights, "tempered_covariance_sup")
    if points.shape[1] == 1:
        points = np.column_stack([points, np.zeros(len(points))])  # z's second coordinate is common
    if not (0 < lam_lo <= lam_hi and math.isfinite(lam_hi)):
        raise ValueError(f"need 0 < lam_lo <= lam_hi < inf, got {lam_lo!r}, {lam_hi!r}")
    if len(points) == 1:
        return 0.0
    log_w = np.log(weights)
    w_min = float(weights.min())
    tol = 1e-3 * popoviciu

    # ties between two components are where the peaks sit: start from them, so pruning starts early
    pairs = (points[:, None, :] + points[None, :, :]).reshape(-1, 2) / 2
    best, seen = 0.0, 0
    for lam in (lam_lo, math.sqrt(lam_lo * lam_hi), lam_hi):
        z = log_w - lam * np.sum((pairs[:, None, :] - points[None]) ** 2, axis=2)
        r = np.exp(z - z.max(axis=1, keepdims=True))
        best = max(best, max(_top_moment(points, row)[0] / row.sum() for row in r))
    # the far field costs nothing while it stays below the result (1 + rtol) best: take the widest
    # top set that does, which keeps the searched disc small
    spreads = _far_field_table(points.tobytes(), len(points))
    fits = [d for d, spread in spreads.items() if spread + tol <= best * (1 + rtol)]
    delta = max(fits) if fits else min(spreads, key=spreads.get)
    far = spreads[delta] + tol
    reach = (lam_hi + math.log(4 / (w_min * tol))) / (2 * lam_lo * delta)

    edges = [0.0, 0.125]
    while edges[-1] < reach:
        edges.append(2 * edges[-1])
    sectors = np.linspace(0, 2 * math.pi, _SECTORS + 1)
    cells = np.array(
        [
            [r1, r2, f1, f2, lam_lo, lam_hi]
            for r1, r2 in zip(edges[:-1], edges[1:])
            for f1, f2 in zip(sectors[:-1], sectors[1:])
        ]
    )
    while len(cells):
        seen += len(cells)
        if seen > _MAX_CELLS:
            return popoviciu
        bound, value, axis = np.empty(len(cells)), np.empty(len(cells)), np.empty(len(cells), dtype=np.int64)
        _tempered_cells(points, log_w, cells, bound, value, axis)
        best = max(best, float(value.max()))
        open_ = bound > best * (1 + rtol) + 1e-12
        cells = np.concatenate([_split(cells[open_ & (axis == k)], k) for k in range(3)])
    return min(popoviciu, max(best * (1 + rtol), far) + _rounding(len(points)))


def near_set_diameter_sup(points, gap: float) -> float:
    """An upper bound on ``sup_z diam(T_z)^2 / 4``, ``T_z = {c : |p_c - z|^2 <= min_c' |p_c' - z|^2 +
    gap}`` the points nearly nearest to ``z`` (points in the closed unit disc, 1 or 2 coordinates).

    This is the zero-temperature limit of :func:`tempered_covariance_sup`: when ``lam gap`` is large the
    posterior ``r_c ~ w_c exp(-lam |p_c - z|^2)`` lives on ``T_z`` up to ``e^{-lam gap} / w_min``, and
    every law on ``T_z`` has ``lambda_max Cov <= diam(T_z)^2 / 4`` (Popoviciu on each projection).

    Notes
    -----
    Proof. *Box* ``|z|_inf <= Z``: branch and bound on squares. On a square of half-width ``s`` about
    ``z0``, with ``c*`` nearest ``z0`` and ``v_c = p_c - p_c*``: ``|p_c - z|^2 - |p_c* - z|^2 = |p_c -
    z0|^2 - |p_c* - z0|^2 - 2 (z - z0) . v_c >= (that at z0) - 2 s |v_c|_1``, and ``min_c'`` is at most
    the ``c*`` term, so every ``T_z`` of the square lies in the set where that lower bound is ``<=
    gap``; its ``diam^2 / 4`` bounds the square. ``T_z0`` itself gives values the supremum reaches; a
    square whose bound is at most the best value is discarded, the others split in four. The float64 excess is a
    difference of terms of size ``|z0|^2``: the membership test subtracts ``16 u`` (``u = 2^-53``) times ``|p_c -
    z0|^2 + |p_c* - z0|^2 + 2 (2 + |z0|_1 + w)`` (``w`` the square's width), which holds its rounding (a few ``u``
    of each squared distance) and that of points given as float roundings of exact ones (within ``4 u`` per
    coordinate, moving each squared distance by at most ``2 (1 + |z|) 4 sqrt 2 u``); more members only widen the
    bound.

    *Far field* ``|z| >= Z`` (which holds outside the box): write ``z = rho u``. The nearest point
    ``c*`` has ``2 rho u . (p_c - p_c*) <= |p_c|^2 - |p_c*|^2 <= 1`` for every ``c``, so ``u . p_c* >=
    max_c u . p_c - 1 / (2 rho)``; a member of ``T_z`` has ``2 rho u . (p_c* - p_c) <= gap + 1``. So
    ``T_z`` lies in the top set of ``u`` of depth ``(2 + gap) / (2 Z)``, and with the angular cells of
    :func:`tilted_covariance_sup` in the top set of depth ``delta + 2 eta`` of the cell's centre, whose
    ``diam^2 / 4`` is taken.
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    if points.shape[1] == 1:
        points = np.column_stack([points, np.zeros(len(points))])
    box = 64.0
    far = _far_field_spread(points, (2 + gap) / (2 * box), diameter=True)
    sq = np.sum((points[:, None] - points[None]) ** 2, axis=2)
    cells, half, best = np.zeros((1, 2)), box, 0.0
    offsets = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    for _ in range(60):
        dist = np.sum((points[None] - cells[:, None]) ** 2, axis=2)
        excess = dist - dist.min(axis=1, keepdims=True)
        nearest = np.argmin(dist, axis=1)
        slack = 2 * half * np.abs(points[None] - points[nearest][:, None]).sum(axis=2)
        # the float64 excess errs absolutely (terms of size |z|^2), and the points may be roundings: widen the test
        error = (
            16
            * _UNIT
            * (dist + dist.min(axis=1, keepdims=True) + 2 * (2 + np.abs(cells).sum(axis=1)[:, None] + 2 * half))
        )
        bound = _set_diameter(sq, excess - slack - error <= gap)
        best = max(best, float(_set_diameter(sq, excess <= gap).max()))
        cells = cells[bound > best]
        if not len(cells):
            return max(best, far) + _rounding(len(points))
        half /= 2
        cells = (cells[:, None] + half * offsets[None]).reshape(-1, 2)
    return max(best, float(bound.max()), far) + _rounding(len(points))  # squares below 1e-16: their bound stands


def _set_diameter(sq, member):
    """``diam^2 / 4`` of each row's member set (``sq`` the squared pairwise distances)."""
    return np.max(np.where(member[:, :, None] & member[:, None, :], sq[None], 0.0), axis=(1, 2)) / 4


class PosteriorCovarianceBound:
    """``S(lam) >= sup_z lambda_max Cov_r(p)``, ``r_c ~ w_c exp(-lam |p_c - z|^2)``, for every ``lam >= 0``.

    The component posterior of an isotropic equal-variance mixture at any point is such an ``r``
    (:func:`certsample.lipschitz.mixture.hessian_range_on`). ``S`` is the least of three proved
    bounds: Popoviciu's ``diam^2 / 4`` (all laws); for ``lam >= TEMPER_MIN`` the branch and bound of
    :func:`tempered_covariance_sup` on the octave ``[TEMPER_MIN 2^k, TEMPER_MIN 2^(k+1)]`` holding
    ``lam`` (computed on first use, then cached); and the zero-temperature bound ``min_g
    near_set_diameter_sup(p, g) + 4 e^{-lam g} / w_min`` (:func:`near_set_diameter_sup`: the mass off
    ``T_z`` is at most ``e^{-lam g} / w_min``, and ``Cov_r <= E_r (p - m)(p - m)^T`` with ``m`` the
    mean on ``T_z`` splits into at most ``diam(T_z)^2 / 4`` and ``4`` times that mass). The octave
    search is skipped where the zero-temperature bound is already within ``rtol`` of its limit.

    Parameters
    ----------
    points : (K, h) array, ``h`` in {1, 2}
        Points in the closed unit disc.
    weights : (K,) array
        Positive weights.
    rtol : float
        Passed to :func:`tempered_covariance_sup`.
    """

    GAPS = tuple(0.8 / 2**k for k in range(7))

    def __init__(self, points, weights, rtol: float = 0.2):
        self.points, self.weights, self.popoviciu = _unit_points(points, weights, "PosteriorCovarianceBound")
        self.rtol = rtol
        self.near = {g: near_set_diameter_sup(self.points, g) for g in self.GAPS}
        self.octaves = {}

    def zero_temperature(self, lam: float) -> float:
        w_min = float(self.weights.min())
        return min(value + 4 * math.exp(-lam * g) / w_min for g, value in self.near.items())

    def _octave(self, k: int) -> float:
        """The branch and bound on ``[TEMPER_MIN 2^k, TEMPER_MIN 2^(k+1)]``, computed on first use."""
        if k not in self.octaves:
            lo = TEMPER_MIN * 2.0**k
            self.octaves[k] = tempered_covariance_sup(self.points, self.weights, lo, 2 * lo, self.rtol)
        return self.octaves[k]

    @staticmethod
    def _octave_of(lam: float) -> int:
        """The ``k`` with ``TEMPER_MIN 2^k <= lam < TEMPER_MIN 2^(k+1)``, exactly (``log2`` may round a ``lam``
        just below an octave's end up into the next; scaling by powers of two is exact)."""
        k = math.floor(math.log2(lam / TEMPER_MIN))
        while TEMPER_MIN * 2.0**k > lam:
            k -= 1
        while TEMPER_MIN * 2.0 ** (k + 1) <= lam:
            k += 1
        return k

    def __call__(self, lam: float) -> float:
        lam = float(lam)
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}")
        if len(self.points) == 1:
            return 0.0
        bound = min(self.popoviciu, self.zero_temperature(lam))
        if lam < TEMPER_MIN or bound <= (1 + self.rtol) * min(self.near.values()):
            return bound
        return min(bound, self._octave(self._octave_of(lam)))

    def sup_on(self, lam_lo: float, lam_hi: float) -> float:
        """An upper bound of ``S(lam)`` (this object's value) for every ``lam`` in ``[lam_lo, lam_hi]``.

        Proof. ``Z(lam) = min_g (near_g + 4 e^{-lam g} / w_min)``, the zero-temperature bound, is
        decreasing in ``lam`` (each term is), so on a range starting at ``l`` it is at most ``Z(l)``.
        ``S(lam)`` is ``min(diam^2/4, Z(lam))`` where ``lam < TEMPER_MIN`` or where that is at most
        ``(1 + rtol) min_g near_g`` (the octave search is skipped), and otherwise also at most the bound
        ``O_k`` of the octave ``k = floor(log2(lam / TEMPER_MIN))``, which holds on the whole closed
        octave. Split the range at the octave ends (``k`` is monotone in ``lam``, and exact at powers of
        two, so every ``lam`` of the range has its ``k`` among the pieces'). On the piece of octave
        ``k`` starting at ``l``, let ``B = min(diam^2/4, Z(l))``: if ``B`` is at most the skip
        threshold every ``lam`` of it is skipped (``Z`` decreases) and ``S <= B``; otherwise the
        ``lam`` not skipped have ``S <= min(B, O_k)``, and the skipped ones (if the piece's top end is
        skipped, the only case with any) have ``S`` at most the threshold. The bound is the largest
        over the pieces; for ``lam_lo == lam_hi`` it is ``S(lam_lo)`` itself.
        """
        lam_lo, lam_hi = float(lam_lo), float(lam_hi)
        if not (0 <= lam_lo <= lam_hi and math.isfinite(lam_hi)):
            raise ValueError(f"need 0 <= lam_lo <= lam_hi < inf, got {lam_lo!r}, {lam_hi!r}")
        if lam_lo == lam_hi:
            return self(lam_lo)
        if len(self.points) == 1:
            return 0.0
        threshold = (1 + self.rtol) * min(self.near.values())
        worst = min(self.popoviciu, self.zero_temperature(lam_lo)) if lam_lo < TEMPER_MIN else 0.0
        if lam_hi < TEMPER_MIN:
            return worst
        for k in range(self._octave_of(max(lam_lo, TEMPER_MIN)), self._octave_of(lam_hi) + 1):
            start, end = max(lam_lo, TEMPER_MIN * 2.0**k), min(lam_hi, TEMPER_MIN * 2.0 ** (k + 1))
            bound = min(self.popoviciu, self.zero_temperature(start))
            if bound > threshold:
                skipped_end = min(self.popoviciu, self.zero_temperature(end)) <= threshold
                bound = max(min(bound, self._octave(k)), threshold if skipped_end else 0.0)
            worst = max(worst, bound)
        return worst
