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

import math

import numpy as np

#: Lipschitz constant of ``theta -> lambda_max Cov_theta(p)`` for points in the unit disc (proof in
#: :func:`tilted_covariance_sup`).
_LIPSCHITZ = 2.0
#: Float64 evaluation of a softmax covariance of at most a few hundred points in the unit disc errs by
#: far less than this; added to the result so the bound covers the rounding.
_ROUNDING = 1e-12
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


def _far_field_spread(points, delta):
    """``max`` over directions ``u`` of ``rad(T)^2`` for ``T`` the points within ``delta + 2 eta`` of the
    top of ``u . p`` (``u`` the centre of an angular cell of half-width ``eta``), ``rad`` the largest
    distance from ``T``'s centroid."""
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
        centre = near.mean(axis=0)
        worst = max(worst, float(np.max(np.sum((near - centre) ** 2, axis=1))))
    return worst


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
    points = np.atleast_2d(np.asarray(points, dtype=float))
    weights = np.asarray(weights, dtype=float)
    keep = weights > 0
    points, weights = points[keep], weights[keep] / weights[keep].sum()
    h = points.shape[1]
    if h not in (1, 2):
        raise ValueError(f"tilted_covariance_sup handles points in 1 or 2 dimensions, got {h}")
    if np.max(np.sum(points**2, axis=1)) > 1 + 1e-12:
        raise ValueError("points must lie in the closed unit disc")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    diffs = points[:, None, :] - points[None, :, :]
    popoviciu = float(np.max(np.sum(diffs**2, axis=2))) / 4
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
        values = np.concatenate([_top_eigenvalue(points, log_w, c) for c in np.array_split(
            centres, max(1, len(centres) // 50_000))])
        best = max(best, float(values.max()))
        slack = _LIPSCHITZ * math.sqrt(h) * half
        centres = centres[values + slack > best + tol]
        half /= 2
        offsets = np.stack([g.ravel() for g in np.meshgrid(*[[-half, half]] * h, indexing="ij")], axis=1)
        centres = (centres[:, None, :] + offsets[None]).reshape(-1, h)
    return min(popoviciu, max(best + tol, far) + _ROUNDING)
