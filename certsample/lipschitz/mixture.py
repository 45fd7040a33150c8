"""Bounds on the Hessian of ``log q_t`` for the targets of :mod:`certsample.targets`, at one time or over a range.

A :class:`~certsample.targets.MixtureTarget` is ``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I -
Q Q^T))``; at forward time ``t`` the means scale by ``a = e^{-t}`` and each variance ``lam`` becomes ``v
= a^2 lam + sigma^2 = 1 - a^2 (1 - lam)``, an affine function of ``b = a^2``, which decreases in ``t``.
:func:`hessian_range_on` evaluates one formula for ``(lo, hi)`` with ``lo I <= Hess log q_t(x) <= hi
I`` on a range of times ``[t_lo, t_hi]``: every quantity is replaced by an enclosure of its values over
the range, and at ``t_lo == t_hi`` the enclosures are single floats and the formula is the pointwise
bound of :func:`hessian_range`. :func:`certsample.lipschitz.sup_on` splits a range into pieces.

Every function takes the target as its first argument and reads only its ``means``, ``variances``,
``weights``, ``basis``, ``lam_perp`` (and ``n_components``, ``equal_variances``, ``dim``); what is
worth keeping per target (the tilt and posterior-covariance bounds, the box searches) is memoised in a
table keyed weakly by the target, so it lives exactly as long as the target.
"""

from __future__ import annotations

import functools
import math
import weakref
from fractions import Fraction

import numpy as np

from ..forward import alpha, sigma2
from ..precision import float_up
from .mixture_hessian import diagonal_mixture_hessian_sup
from .tilted_covariance import PosteriorCovarianceBound, tilted_covariance_sup

__all__ = [
    "hessian_range",
    "hessian_range_on",
    "score_lipschitz",
    "drift_one_sided_lipschitz",
    "mass_radius",
    "mass_radius_on",
    "working_score_lipschitz",
    "needs_radius",
    "posterior_spread_on",
    "memo",
]

# unequal variances: the box search runs where the components differ in at most this many coordinates
SEARCH_DIMS = 3
SEARCH_COMPONENTS = 64
# over a range of times the box search runs only where every variance and the scale a change by at most
# this fraction (wider parameter boxes keep the search from closing its boxes; splitting the range
# narrows them), with at most RANGE_SEARCH_BOXES boxes
RANGE_SEARCH_WIDTH = 0.05
RANGE_SEARCH_BOXES = 4000
# and stops within this fraction of its floor (half the 10% that sup_on allows over the pointwise bound)
RANGE_SEARCH_RTOL = 0.05
_MEMO_SIZE = 4096  # box searches memoised per target before the memo is cleared

_MEMOS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def memo(target) -> dict:
    """The target's memo (a dict that lives as long as the target)."""
    try:
        return _MEMOS.setdefault(target, {})
    except TypeError:  # not weakly referable: no memo
        return {}


@functools.lru_cache(maxsize=16)
def _cached_posterior_bound(points: bytes, shape: tuple, weights: bytes) -> PosteriorCovarianceBound:
    return PosteriorCovarianceBound(np.frombuffer(points).reshape(shape), np.frombuffer(weights))


def _posterior_bound(points, weights) -> PosteriorCovarianceBound:
    """One bound per point set and process: targets rebuilt from the same means share its octaves."""
    points, weights = np.ascontiguousarray(points, dtype=float), np.ascontiguousarray(weights, dtype=float)
    return _cached_posterior_bound(points.tobytes(), points.shape, weights.tobytes())


def _check_time(label, t):
    t = float(t)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"{label} must be finite and >= 0, got {t!r}")
    return t


def _check_radius(radius):
    radius = float(radius)
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    return radius


def needs_radius(target) -> bool:
    """Whether the target's score has no global Lipschitz bound here: several components with unequal
    variances (then the bounds hold on a ball and need ``radius=``)."""
    return target.n_components > 1 and not target.equal_variances


def _varying_coordinates(target):
    """The means' coordinates in which they differ; the others drop out of the posterior exactly."""
    return target.means[:, np.ptp(target.means, axis=0) > 0]


def circle_tilt_bound(target):
    """``(R^2, S, dev)`` when the means vary in exactly two coordinates and lie within ``dev`` of a
    circle of radius ``R`` there (``S`` the tilted-covariance bound of the unit points); else
    ``None``. Constant coordinates drop out of ``Cov_r(mu)`` and of the tilt exactly, which a
    rotation to a fitted plane would not promise. Computed once per target (a fraction of a second)."""
    table = memo(target)
    if "circle" not in table:
        table["circle"] = None
        plane = _varying_coordinates(target)
        if plane.shape[1] == 2:
            # circumcentre: |p|^2 = 2 p . m + (R^2 - |m|^2), least squares in (m, R^2 - |m|^2)
            lhs = np.column_stack([2 * plane, np.ones(len(plane))])
            centre = np.linalg.lstsq(lhs, np.sum(plane**2, axis=1), rcond=None)[0][:2]
            radius2, dev = _circle_radius_and_deviation(plane, centre)
            if dev <= 1e-6 * radius2:
                unit = (plane - centre) / math.sqrt(radius2)
                table["circle"] = (radius2, tilted_covariance_sup(unit, target.weights), dev)
    return table["circle"]


def _circle_radius_and_deviation(plane, centre):
    """``(R^2, dev)``, floats with ``0 <= R^2 - |mu_c - m|^2 <= dev`` for every row ``mu_c`` of ``plane`` and the
    float centre ``m``, exactly: the squared distances are summed as fractions (exact for float inputs), ``R^2`` is
    their largest rounded up, ``dev`` the exact ``R^2`` less their smallest, rounded up. (In float64 both could
    come out below the exact values: ``ring_mixture(radius=4)`` gives ``R^2 = 16`` and ``dev = 0`` where the exact
    largest distance is above 16.)"""
    exact = [sum((Fraction(float(p)) - Fraction(float(c))) ** 2 for p, c in zip(row, centre)) for row in plane]
    radius2 = float_up(max(exact))
    return radius2, float_up(Fraction(radius2) - min(exact))


def planar_posterior_bound(target):
    """``(R^2, S)`` when the means vary in at most two coordinates (and not all on a circle, which
    :func:`circle_tilt_bound` covers for every ``t`` at once): ``R`` the largest distance of a mean
    from the centre of their bounding box, ``S`` the :class:`PosteriorCovarianceBound` of the unit
    points. Else ``None``. Built once per point set."""
    table = memo(target)
    if "planar" not in table:
        table["planar"] = None
        plane = _varying_coordinates(target)
        if 1 <= plane.shape[1] <= 2:
            centre = 0.5 * (plane.max(axis=0) + plane.min(axis=0))
            radius = float(np.max(np.linalg.norm(plane - centre, axis=1)))
            unit = (plane - centre) / radius
            table["planar"] = (radius * radius, _posterior_bound(unit, target.weights))
    return table["planar"]


def hessian_range_on(target, t_lo: float, t_hi: float, radius: float | None = None, *, floor: float = -math.inf):
    """``(lo, hi)`` with ``lo I <= Hess log q_t(x) <= hi I`` for every ``x`` (or every ``|x| <= radius``)
    and every ``t`` in ``[t_lo, t_hi]``; at ``t_lo == t_hi`` the pointwise bound.

    Proof. *At one time.* In the basis ``(Q, Q_perp)`` the Hessian is block diagonal: ``-I / v_perp``
    on the orthogonal complement (a Gaussian factor, ``v_perp = a^2 lam_perp + sigma^2``), and in the
    plane ``-sum_c r_c D_c^{-1} + Cov_r(g_c)`` with ``D_c = diag(v_c)``, ``g_c = D_c^{-1} (y - a
    mu_c)`` and ``r`` the posterior on components; ``Cov_r >= 0`` gives ``lo = -1/v_min``.

    *Equal variances* (``D_c = D``): ``Cov_r(g) = a^2 D^{-1} Cov_r(mu) D^{-1}`` and ``Cov_r(mu) <=
    (diam^2 / 4) I`` (a law on points of diameter ``diam``), so ``hi = -1/v_max + a^2 diam^2 / (4
    v_min^2)``, for every ``x``. The mixture term uses the plane's variances only.

    *Isotropic variances, means on a circle* (``D = v I``; the means vary in two coordinates, ``U``
    those axes, and lie within ``dev`` of a circle, ``|mu_c - m|^2 = R^2 - e_c``, ``0 <= e_c <=
    dev``; coordinates where all means agree drop out of the posterior): completing the square,
    ``r_c ~ w_c exp(theta . p_c + a^2 e_c / (2 v))`` with ``p_c = U^T (mu_c - m) / R`` in the unit
    disc and ``theta = a R U^T (y - a m) / v``. Without the ``e_c`` term ``r`` is a tilt, whose
    ``lambda_max Cov(p) <= S`` by :func:`~certsample.lipschitz.tilted_covariance.tilted_covariance_sup`;
    the term multiplies every weight by a factor in ``[1, e^b]``, ``b = a^2 dev / (2 v)``, so ``r'_c
    <= e^b r_c`` and ``Var_{r'}(X) <= E_{r'}(X - E_r X)^2 <= e^b Var_r(X)``. Hence ``hi = -1/v + a^2
    R^2 S e^b / v^2`` (the smaller of the two bounds is used). On the 8-mode ring ``S = 0.51`` against
    Popoviciu's 1. ``m``, ``R`` and ``p_c`` are computed in floating point: ``e_c`` and ``|p_c| - 1``
    are then off by rounding only, which the ``1e-12`` allowance of ``S`` covers.

    *Isotropic variances, means in a plane* (the means vary in one or two coordinates, not all on a
    circle): ``r_c ~ w_c exp(-|y - a mu_c|^2 / (2 v)) ~ w_c exp(-lam |p_c - z|^2)`` with ``p_c = U^T
    (mu_c - m) / R`` in the unit disc, ``z = U^T (y / a - m) / R`` and ``lam = a^2 R^2 / (2 v)`` (the
    constant coordinates drop out), so ``Cov_r(mu) = R^2 Cov_r(p) <= R^2 S(lam)`` with ``S`` the
    :class:`~certsample.lipschitz.tilted_covariance.PosteriorCovarianceBound` of the ``p_c``: per
    temperature, where the tilt bound above is one bound for all ``t``. On the built-in 64-point cloud
    ``S R^2`` falls from Popoviciu's 8.3 to 1.4-2.8 wherever ``lam >= 1/4`` (the longest Delaunay edge
    gives 1.38 as ``t -> 0``); below, Popoviciu's term adds at most ``1/(2v)`` to the bound. The
    isotropic cases are taken when the data's variances are equal in every plane coordinate.

    *Unequal variances*: no global bound exists in general. Where two components differ in
    variance along ``e_i`` and in mean along another axis, the surface ``r_c = r_c'`` is unbounded
    and along it ``(g_c - g_c')_i = (1/v_ci - 1/v_c'i) y_i`` grows without limit, and with it
    ``Cov_r(g)``. On the ball ``|y| <= radius``: ``r`` is a law on the points ``g_c(y)``, so
    ``lambda_max Cov_r(g) <= diam({g_c})^2 / 4`` (Popoviciu on every projection) ``<= (1/4)
    max_{c,c'} (|1/v_c - 1/v_c'|_inf radius + a |mu_c / v_c - mu_c' / v_c'|)^2``, and ``hi =
    -1/v_max + that``. That counts the largest ``|g_c - g_c'|`` anywhere in the ball, although the
    covariance is large only where ``r`` splits; where the components differ in at most three
    coordinates the box search of
    :func:`~certsample.lipschitz.mixture_hessian.diagonal_mixture_hessian_sup` follows the ties (see
    :func:`_unequal_variance_top`) and the smaller bound is used.

    *Over a range of times.* ``b = a^2`` lies in ``[b(t_hi), b(t_lo)]`` and ``a`` in ``[a(t_hi),
    a(t_lo)]``. Each variance ``v = 1 - b (1 - lam)`` is affine in ``b``, so its values lie between its
    values at the two ends, ``[v_lo, v_hi]`` (computed by the pointwise formula at each end); so do
    ``v_perp``'s. Every term of the bound is then replaced by an upper bound over the range, which
    the sum, ``max`` and ``min`` of upper bounds preserve: ``1/v_min <= 1/min v_lo``; ``-1/v_max <=
    -1/max v_hi`` (``-1/v`` increases in ``v``); the mixture term ``a^2 spread / v_min^2`` is a product
    of non-negative factors, each at most ``b(t_lo)``, the ``spread`` bound below and ``1/(min
    v_lo)^2``; the circle's factor ``e^{a^2 dev / (2 v)} <= e^{b(t_lo) dev / (2 v_lo)}``; the plane's
    temperature ``lam = b R^2 / (2 v)`` has ``d/db (b / v) = 1/v^2 > 0`` (with ``v = 1 - b (1 - lam_0)``),
    so it lies between its values at the ends and ``S`` is bounded over that range by
    :meth:`~certsample.lipschitz.tilted_covariance.PosteriorCovarianceBound.sup_on`; for unequal
    variances the means ``a mu`` and variances range over boxes, and both bounds are evaluated over
    them (:func:`_unequal_variance_top`). Floating-point evaluation at the ends gives each range
    up to rounding, a relative ``1e-15``-sized error that :func:`certsample.lipschitz.sup_on` covers.
    At ``t_lo == t_hi`` each enclosure is the single value and the arithmetic is the pointwise one
    (which :func:`hessian_range` returns).

    Returns ``(-inf, inf)`` where a variance vanishes (``t = 0`` with point masses or flat directions).
    ``floor`` is a value of ``hi`` the caller accepts (one it has already): the box search for unequal
    variances then stops refining below it; ``hi`` is valid whatever ``floor`` is.
    """
    t_lo, t_hi = _check_time("t_lo", t_lo), _check_time("t_hi", t_hi)
    if t_lo > t_hi:
        raise ValueError(f"need t_lo <= t_hi, got t_lo={t_lo!r} > t_hi={t_hi!r}")
    a_hi, s2_lo = float(alpha(t_lo)), float(sigma2(t_lo))  # the earlier time has the larger scale
    a_lo, s2_hi = float(alpha(t_hi)), float(sigma2(t_hi))
    var_early = a_hi * a_hi * target.variances + s2_lo  # (K, k)
    if t_lo == t_hi:
        var_lo = var_hi = var_early
    else:
        var_late = a_lo * a_lo * target.variances + s2_hi
        var_lo, var_hi = np.minimum(var_early, var_late), np.maximum(var_early, var_late)
    if np.min(var_lo) <= 0:
        return -math.inf, math.inf
    lo, hi = -1.0 / float(np.min(var_lo)), -1.0 / float(np.max(var_hi))
    if target.n_components > 1:
        if target.equal_variances:
            spread = _spread(target, a_lo, a_hi, var_lo, var_early, var_late if t_lo != t_hi else var_early)
            hi += a_hi * a_hi * spread / float(np.min(var_lo[0])) ** 2
        elif radius is None:
            raise ValueError(
                "the score of a mixture whose components have unequal variances has no global "
                "Lipschitz constant (its Hessian grows along the surfaces of equal "
                "responsibility); pass radius= for a bound on the ball |x| <= radius"
            )
        else:
            hi = _unequal_variance_top(target, a_lo, a_hi, var_lo, var_hi, _check_radius(radius), floor)
    if target.basis is not None and target.dim > target.basis.shape[1]:
        v_perp_early = a_hi * a_hi * target.lam_perp + s2_lo
        v_perp_late = a_lo * a_lo * target.lam_perp + s2_hi
        v_perp_lo, v_perp_hi = min(v_perp_early, v_perp_late), max(v_perp_early, v_perp_late)
        if v_perp_lo <= 0:
            return -math.inf, math.inf
        lo, hi = min(lo, -1.0 / v_perp_lo), max(hi, -1.0 / v_perp_hi)
    return lo, hi


def _spread(target, a_lo, a_hi, var_lo, var_early, var_late) -> float:
    """The ``spread`` of :func:`hessian_range_on` (equal variances): an upper bound of ``lambda_max Cov_r(mu)``
    from the variances' range ``var_lo`` and their values at the interval's ends."""
    diffs = target.means[:, None, :] - target.means[None, :, :]
    # a sum of k squares errs by a relative (k + 2) u at most: kept above it for any k, the callers' 1e-12 for the rest
    spread = float(np.max(np.sum(diffs**2, axis=2))) / 4.0 * (1 + 4 * (diffs.shape[2] + 2) * 2.0**-53)
    if np.all(target.variances[0] == target.variances[0, 0]):  # isotropic: a tilt, or tempered
        v_lo = float(var_lo[0, 0])
        if (circle := circle_tilt_bound(target)) is not None:
            radius2, tilt_sup, dev = circle
            spread = min(spread, radius2 * tilt_sup * math.exp(a_hi * a_hi * dev / (2 * v_lo)))
        elif (planar := planar_posterior_bound(target)) is not None:
            radius2, posterior_sup = planar
            lam_early = a_hi * a_hi * radius2 / (2 * float(var_early[0, 0]))
            lam_late = a_lo * a_lo * radius2 / (2 * float(var_late[0, 0]))
            spread = min(spread, radius2 * posterior_sup.sup_on(min(lam_early, lam_late), max(lam_early, lam_late)))
    return spread


def posterior_spread_on(target, t_lo: float, t_hi: float) -> float:
    """An upper bound of ``lambda_max Cov_r(mu)``, the covariance of the component means under the
    posterior ``r`` on components, at every point and every ``t`` in ``[t_lo, t_hi]``, for components with
    equal variances: Popoviciu's ``diam^2 / 4``, or the circle-tilt or tempered bound of the isotropic cases
    (proofs in :func:`hessian_range_on`). Evaluated in float64 from the ends' values: callers that need a
    rigorous float widen it by a relative ``1e-12`` (a few operations, each off by at most ``2^-53``)."""
    t_lo, t_hi = _check_time("t_lo", t_lo), _check_time("t_hi", t_hi)
    if t_lo > t_hi:
        raise ValueError(f"need t_lo <= t_hi, got t_lo={t_lo!r} > t_hi={t_hi!r}")
    if not target.equal_variances:
        raise ValueError("posterior_spread_on needs components with equal variances")
    a_hi, a_lo = float(alpha(t_lo)), float(alpha(t_hi))
    var_early = a_hi * a_hi * target.variances + float(sigma2(t_lo))
    var_late = a_lo * a_lo * target.variances + float(sigma2(t_hi))
    return _spread(target, a_lo, a_hi, np.minimum(var_early, var_late), var_early, var_late)


def _unequal_variance_top(target, a_lo, a_hi, var_lo, var_hi, radius, floor=-math.inf):
    """``hi`` of :func:`hessian_range_on` on the plane ball ``|y| <= radius`` for unequal variances,
    the scale ``a`` in ``[a_lo, a_hi]`` and the components' variances in ``[var_lo, var_hi]``: the least
    of Popoviciu's ball bound and, where the components differ in at most ``SEARCH_DIMS``
    coordinates, the branch and bound of
    :func:`~certsample.lipschitz.mixture_hessian.diagonal_mixture_hessian_sup` over those coordinates
    (the others, where every mean and variance agree, add ``-1/v_i`` on the diagonal and nothing else).

    Over the ranges, Popoviciu's ``|1/v_c - 1/v_c'|`` is at most the larger difference of the ends of
    the two ranges of ``1/v`` (``[1/var_hi, 1/var_lo]``), and each coordinate of ``a mu_c / v_c`` lies
    between the products of the ends (``a > 0``, ``1/v > 0``, ``mu`` fixed: the sign of ``mu`` says
    which ends), so ``|a mu_c / v_c - a mu_c' / v_c'|`` is at most the norm of the larger end
    differences. The box search takes the centres ``a mu`` and variances as boxes, where they are
    narrow (``RANGE_SEARCH_WIDTH``), starting from ``floor`` (see
    :func:`~certsample.lipschitz.mixture_hessian.diagonal_mixture_hessian_sup`). At ``a_lo == a_hi``
    this is the pointwise arithmetic. Memoised per ``(a_lo, a_hi, radius, floor)`` and the variances' ranges
    (near ``t = 0`` distinct times can share ``a`` and not the variances): a plan asks for the same times
    several times."""
    key = (a_lo, a_hi, radius, floor, var_lo.tobytes(), var_hi.tobytes())
    table = memo(target).setdefault("unequal", {})
    if key in table:
        return table[key]
    inv_lo, inv_hi = 1.0 / var_hi, 1.0 / var_lo
    means = target.means
    positive = means >= 0
    scaled_lo = np.where(positive, a_lo * means * inv_lo, a_hi * means * inv_hi)
    scaled_hi = np.where(positive, a_hi * means * inv_hi, a_lo * means * inv_lo)
    worst = 0.0
    for c in range(target.n_components):
        slope = np.max(np.maximum(inv_hi[c] - inv_lo, inv_hi - inv_lo[c]), axis=1)  # (K,)
        shift = np.linalg.norm(np.maximum(scaled_hi[c] - scaled_lo, scaled_hi - scaled_lo[c]), axis=1)
        worst = max(worst, float(np.max(slope * radius + shift)))
    # the norm over the coordinates errs by a relative (k + 2) u at most; the few operations before it by 1e-14
    hi = -1.0 / float(np.max(var_hi)) + 0.25 * worst * worst * (1 + max(1e-12, 4 * (means.shape[1] + 8) * 2.0**-53))
    differ = (np.ptp(means, axis=0) > 0) | (np.ptp(target.variances, axis=0) > 0)
    if 1 <= int(differ.sum()) <= SEARCH_DIMS and target.n_components <= SEARCH_COMPONENTS:
        centres_a, centres_b = a_lo * means[:, differ], a_hi * means[:, differ]
        if a_lo == a_hi and var_lo is var_hi:
            searched = diagonal_mixture_hessian_sup(centres_b, var_hi[:, differ], target.weights, radius, rtol=0.1)
        elif a_hi <= a_lo * (1 + RANGE_SEARCH_WIDTH) and np.all(var_hi <= var_lo * (1 + RANGE_SEARCH_WIDTH)):
            searched = diagonal_mixture_hessian_sup(
                np.minimum(centres_a, centres_b),
                var_lo[:, differ],
                target.weights,
                radius,
                rtol=RANGE_SEARCH_RTOL,
                centres_hi=np.maximum(centres_a, centres_b),
                variances_hi=var_hi[:, differ],
                max_boxes=RANGE_SEARCH_BOXES,
                floor=floor,
            )
        else:
            searched = math.inf  # too wide a range: Popoviciu's bound stands
        common = -1.0 / var_hi[0, ~differ]
        hi = min(hi, max(searched, float(common.max()) if common.size else -math.inf))
    if len(table) > _MEMO_SIZE:
        table.clear()
    table[key] = hi
    return hi


def hessian_range(target, t: float, radius: float | None = None):
    """``(lo, hi)`` with ``lo I <= Hess log q_t(x) <= hi I`` for every ``x`` (or every ``|x| <= radius``;
    proof in :func:`hessian_range_on`)."""
    return hessian_range_on(target, t, t, radius)


def score_lipschitz(target, t: float, radius: float | None = None) -> float:
    """An upper bound on the Lipschitz constant of ``x -> grad log q_t(x)`` (see :func:`hessian_range_on`);
    on the ball ``|x| <= radius`` when given (required for components with unequal variances)."""
    lo, hi = hessian_range(target, t, radius)
    return max(-lo, hi)


def drift_one_sided_lipschitz(target, t: float, radius: float | None = None) -> float:
    """Upper bound of ``lambda_max`` of the symmetric Jacobian of the probability-flow drift
    ``x + grad log q_t(x)`` (reverse time): ``1 + hi`` of :func:`hessian_range_on`."""
    return 1.0 + hessian_range(target, t, radius)[1]


def _check_tail(tail):
    if not 0 < tail < 1:
        raise ValueError(f"tail must be in (0, 1), got {tail!r}")


def mass_radius(target, t: float, tail: float = 1e-12) -> float:
    """A radius ``R`` with ``P(|y| > R) <= tail`` for ``y`` the plane coordinates of ``q_t``.

    Proof. Given component ``c``, ``y = a mu_c + D_c^{1/2} z`` with ``z ~ N(0, I_k)``, so
    ``|y| <= a |mu_c| + sqrt(v_max) |z|``; the norm is 1-Lipschitz, ``E|z| <= sqrt(k)``, and
    Gaussian concentration gives ``P(|z| > sqrt(k) + u) <= e^{-u^2/2}``: ``u = sqrt(2 log(1/tail))``.
    """
    return mass_radius_on(target, t, t, tail)


def mass_radius_on(target, t_lo: float, t_hi: float, tail: float = 1e-12) -> float:
    """A radius at least :func:`mass_radius` at every ``t`` in ``[t_lo, t_hi]``.

    Proof. ``a |mu_c|`` decreases in ``t``, so it is at most its value at ``t_lo``; ``v_max`` is a
    maximum of functions affine in ``b = a^2``, convex in ``b``, so on the range it is at most its
    larger value at the two ends (computed as at one time; rounding as in :func:`hessian_range_on`).
    """
    _check_tail(tail)
    t_lo, t_hi = _check_time("t_lo", t_lo), _check_time("t_hi", t_hi)
    if t_lo > t_hi:
        raise ValueError(f"need t_lo <= t_hi, got t_lo={t_lo!r} > t_hi={t_hi!r}")
    a, s2 = float(alpha(t_lo)), float(sigma2(t_lo))
    v_max = float(np.max(a * a * target.variances + s2))
    if t_hi != t_lo:
        a_late, s2_late = float(alpha(t_hi)), float(sigma2(t_hi))
        v_max = max(v_max, float(np.max(a_late * a_late * target.variances + s2_late)))
    k = target.means.shape[1]
    return a * float(np.max(np.linalg.norm(target.means, axis=1))) + math.sqrt(v_max) * (
        math.sqrt(k) + math.sqrt(2 * math.log(1 / tail))
    )


def working_score_lipschitz(target, t: float, tail: float = 1e-12) -> float:
    """:func:`score_lipschitz` where a global bound exists (equal variances); otherwise the bound on
    the ball of :func:`mass_radius`, which holds all but ``tail`` of ``q_t``'s mass -- and so all
    but that fraction of the particles of an exact-score run. For sizing steps and windows; a
    proof about a particular path needs the enclosures of :mod:`certsample.verify.enclosure`."""
    if not needs_radius(target):
        return score_lipschitz(target, t)
    return score_lipschitz(target, t, radius=mass_radius(target, t, tail))
