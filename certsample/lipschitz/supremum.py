"""One proved supremum of a Lipschitz bound over an interval of diffusion times."""

from __future__ import annotations

import heapq
import math

from ..forward import alpha, sigma2
from .mixture import hessian_range, hessian_range_on, mass_radius, mass_radius_on, memo, needs_radius

__all__ = ["sup_on", "working_sup_on", "ball_lipschitz", "ball_lipschitz_on", "ball_sup_on", "KINDS"]

#: what :func:`sup_on` bounds: the score's Lipschitz constant, or ``lambda_max`` of the symmetric
#: Jacobian of the probability-flow drift ``x + grad log q_t(x)``
KINDS = ("lipschitz", "one_sided")
#: relative allowance for floating-point rounding (see :func:`sup_on`)
ROUNDING = 1e-12
#: unequal variances: the box search stops within 10% of its best value, so pieces are not split finer
_SEARCH_RTOL = 0.1


def _number(label, value, lowest=0.0):
    """``value`` as a float, finite and ``>= lowest``; ValueError naming ``label`` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not (math.isfinite(number) and number >= lowest):
        raise ValueError(f"{label} must be a finite number >= {lowest:g}, got {value!r}")
    return number


def _check_interval(t_lo, t_hi):
    t_lo, t_hi = _number("t_lo", t_lo), _number("t_hi", t_hi)
    if t_lo > t_hi:
        raise ValueError(f"need t_lo <= t_hi, got t_lo={t_lo!r} > t_hi={t_hi!r}")
    return t_lo, t_hi


def _check_refinement(rtol, max_pieces, enough):
    if not (_number("rtol", rtol) > 0):
        raise ValueError(f"rtol must be positive, got {rtol!r}")
    if enough is not None:
        _number("enough", enough, -math.inf)
    if isinstance(max_pieces, bool) or not (isinstance(max_pieces, int) and max_pieces >= 1):
        raise ValueError(f"max_pieces must be an integer >= 1, got {max_pieces!r}")


def _refine(upper, value_at, t_lo, t_hi, rtol, scale, max_pieces, enough=None):
    """The largest ``upper(t1, t2, best)`` over pieces ``[t1, t2]`` covering ``[t_lo, t_hi]``, splitting
    the piece of largest ``upper`` (at its geometric middle) until it is within ``rtol max(|best|,
    scale)`` of ``best``, the largest ``value_at`` at the pieces' ends, or at most ``enough``, or
    ``best`` exceeds ``enough``, or ``max_pieces`` pieces are reached."""
    best = max(value_at(t_lo), value_at(t_hi))
    heap = [(-upper(t_lo, t_hi, best), t_lo, t_hi)]
    final = -math.inf  # pieces too short to split in floating point
    while heap:
        top, t1, t2 = heap[0]
        if -top <= best + rtol * max(abs(best), scale) or len(heap) >= max_pieces:
            break
        if enough is not None and (-top <= enough or best > enough):
            break
        heapq.heappop(heap)
        mid = math.sqrt(t1) * math.sqrt(t2) if t1 > 0 else 0.5 * t2
        if not t1 < mid < t2:
            final = max(final, -top)
            continue
        best = max(best, value_at(mid))
        heapq.heappush(heap, (-upper(t1, mid, best), t1, mid))
        heapq.heappush(heap, (-upper(mid, t2, best), mid, t2))
    # best is a pointwise bound at an end: the result is never below it (only the unequal-variance
    # searches, each within its own tolerance, could put a piece's bound there)
    return max(final, -heap[0][0] if heap else -math.inf, best)


def _sup(target, t_lo, t_hi, kind, radius_on, radius_at, rtol, max_pieces, enough):
    """:func:`sup_on` on checked arguments, the radius of a piece ``radius_on(t1, t2)``, of a time
    ``radius_at(t)``."""

    def value(lo, hi):
        return max(-lo, hi) if kind == "lipschitz" else 1.0 + hi

    def value_at(t):
        return value(*hessian_range(target, t, radius_at(t)))

    def upper(t1, t2, best):
        # the pointwise bound is what the result may be close to: the box search (unequal variances)
        # need not refine below it
        floor = best if kind == "lipschitz" else best - 1.0
        lo, hi = hessian_range_on(target, t1, t2, radius_on(t1, t2), floor=floor)
        # lo and hi are sums of at most two terms, whose sizes |lo| + (|lo| + |hi|) bound
        magnitude = 2 * abs(lo) + abs(hi) + (kind == "one_sided")
        return value(lo, hi) + ROUNDING * magnitude

    if not math.isfinite(value_at(t_lo)):
        raise ValueError(
            f"the bound is infinite at t_lo={t_lo!r} (a variance vanishes there: point masses or "
            "data on a subspace); take t_lo > 0"
        )
    if needs_radius(target):
        rtol = max(rtol, _SEARCH_RTOL)
    return _refine(upper, value_at, t_lo, t_hi, rtol, 1.0 if kind == "one_sided" else 0.0, max_pieces, enough)


def _checked(kind, t_lo, t_hi, rtol, max_pieces, enough):
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
    _check_refinement(rtol, max_pieces, enough)
    return _check_interval(t_lo, t_hi)


def _memoised(target, key, compute):
    sups = memo(target).setdefault("sups", {})
    if key not in sups:
        if len(sups) > 4096:
            sups.clear()
        sups[key] = compute()
    return sups[key]


def shared_radius(radius: float) -> float:
    """``radius`` rounded up to three significant digits: a larger ball (every bound on it holds on the
    smaller one) on which nearby radii share :func:`sup_on`'s memoised results. ``inf`` stays ``inf``."""
    if math.isnan(radius):
        raise ValueError("radius is NaN")
    if radius <= 0:
        return 0.0
    if math.isinf(radius):
        return radius
    e = math.floor(math.log10(radius)) - 2
    return float(math.ceil(radius / 10.0**e) * 10.0**e) * (1 + 1e-12)


def sup_on(
    target,
    t_lo: float,
    t_hi: float,
    *,
    radius: float | None = None,
    kind: str = "lipschitz",
    rtol: float = 0.01,
    max_pieces: int = 64,
    enough: float | None = None,
) -> float:
    """A proved upper bound of ``sup_{t in [t_lo, t_hi]}`` of a Lipschitz bound of ``q_t``'s score.

    Parameters
    ----------
    target : MixtureTarget
    t_lo, t_hi : float
        The interval of forward times, ``0 <= t_lo <= t_hi < inf``; ``t_lo = 0`` only where the bound
        is finite there (every variance positive).
    radius : float, optional
        Bound on the ball ``|x| <= radius`` (required for components with unequal variances, ignored
        for equal ones, whose bound holds everywhere).
    kind : {'lipschitz', 'one_sided'}
        ``'lipschitz'``: the score's Lipschitz constant, :func:`~certsample.lipschitz.score_lipschitz`.
        ``'one_sided'``: ``lambda_max`` of the symmetric Jacobian of the probability-flow drift ``x +
        grad log q_t(x)``, :func:`~certsample.lipschitz.drift_one_sided_lipschitz`.
    rtol : float
        Pieces are split until the result is within ``rtol`` (relative; for ``'one_sided'`` of
        ``max(|value|, 1)``) of the largest pointwise bound at the pieces' ends, or ``max_pieces`` is
        reached (then it is looser, still proved). For unequal variances at least ``0.1``, the box
        search's own tolerance.
    max_pieces : int
        Most pieces the interval is split into.
    enough : float, optional
        For a caller that only compares the result with ``enough``: stop splitting as soon as the
        result is at most ``enough``, or a pointwise bound exceeds it (then so does the result).

    Returns
    -------
    float
        ``U`` at least the true constant of ``kind`` at every ``t`` in ``[t_lo, t_hi]``. Where the
        pointwise bound ``B`` of ``kind`` is a closed formula (every target but unequal variances),
        also ``U >= B(t)`` at every such ``t``. With unequal variances ``B(t)`` and ``U`` both come from
        box searches that stop within 10% of their best values, so ``U`` is at least ``B`` at the
        pieces' ends but may fall inside that tolerance below ``B`` at a time between them.

    Raises
    ------
    ValueError
        ``t_lo > t_hi``, a negative or infinite time, the bound infinite at ``t_lo = 0``, an unknown
        ``kind``, unequal variances without ``radius``, or a bad ``rtol`` / ``max_pieces``.

    Notes
    -----
    Proof. Cover ``[t_lo, t_hi]`` by pieces ``[t1, t2]`` (halved at their geometric middle, the
    piece of largest bound first). On each piece
    :func:`~certsample.lipschitz.mixture.hessian_range_on` returns ``(lo, hi)`` with ``lo I <= Hess log
    q_t <= hi I`` for every ``t`` of the piece: every quantity of the pointwise formula is enclosed over
    the piece, using that each variance ``a^2 lam + 1 - a^2`` is affine in ``a^2`` (so between its end
    values), ``a`` decreases in ``t``, the plane's temperature ``a^2 R^2 / (2 v)`` increases in ``a^2``
    (so :meth:`~certsample.lipschitz.tilted_covariance.PosteriorCovarianceBound.sup_on` bounds the
    posterior covariance over its range), and for unequal variances the box search runs over boxes
    of means and variances (proofs there). Each enclosure contains the single value of its quantity
    at any ``t`` of the piece, and the formula only adds, multiplies non-negative factors, takes
    ``max``, ``min`` and ``exp`` and divides by positive numbers, all monotone in the enclosed
    quantities, so the piece's value is at least the pointwise bound ``B(t)``: ``max(-lo, hi)`` or
    ``1 + hi``. (For unequal variances the box search over a piece's parameter box bounds the true
    ``lambda_max`` at every ``t`` of the piece; where it is told the pointwise bound as a ``floor`` it
    only stops refining earlier.) The result is the largest over the pieces, and never below the
    pointwise bounds at their ends.

    *Rounding.* ``lo`` and ``hi`` are sums of at most two terms (``-1/v`` and the mixture's
    ``a^2 spread / v^2``), each a few dozen floating-point operations from the data and from ``e^{-t}``
    and ``expm1(-2t)`` at the ends (each within an ulp or two), so each term is off by a relative
    ``1e-14`` at most, and the ends' enclosures by as much (the sums over the ``k`` coordinates in Popoviciu's
    bounds, off by ``(k + 2) 2^-53`` relative, are widened by that where they are formed); ``ROUNDING = 1e-12``
    times the terms' sizes
    (at most ``2 |lo| + |hi|``, plus 1 for the drift's ``x``) is added to every piece's value to cover
    both. The branch-and-bound bounds inside carry their own allowances (their proofs).

    Memoised per ``(target, t_lo, t_hi, radius, kind, rtol, max_pieces, enough)``.
    """
    t_lo, t_hi = _checked(kind, t_lo, t_hi, rtol, max_pieces, enough)
    if radius is not None:
        radius = _number("radius", radius)
    return _memoised(
        target,
        ("sup", t_lo, t_hi, radius, kind, rtol, max_pieces, enough),
        lambda: _sup(target, t_lo, t_hi, kind, lambda t1, t2: radius, lambda t: radius, rtol, max_pieces, enough),
    )


def working_sup_on(
    target,
    t_lo: float,
    t_hi: float,
    *,
    kind: str = "lipschitz",
    tail: float = 1e-12,
    rtol: float = 0.01,
    max_pieces: int = 64,
    enough: float | None = None,
) -> float:
    """A proved upper bound of ``sup_{t in [t_lo, t_hi]}`` of
    :func:`~certsample.lipschitz.working_score_lipschitz` (``kind='lipschitz'``) or of its one-sided
    twin: :func:`sup_on` where a global bound exists (equal variances); otherwise on each piece the
    bound on the ball of :func:`~certsample.lipschitz.mixture.mass_radius_on`, a radius at least
    :func:`~certsample.lipschitz.mass_radius` at every time of the piece (the bound on a ball bounds
    it on every smaller ball). Sizes windows and steps: it holds on all but ``tail`` of each ``q_t``.
    """
    if not needs_radius(target):
        return sup_on(target, t_lo, t_hi, kind=kind, rtol=rtol, max_pieces=max_pieces, enough=enough)
    t_lo, t_hi = _checked(kind, t_lo, t_hi, rtol, max_pieces, enough)
    if not 0 < tail < 1:
        raise ValueError(f"tail must be in (0, 1), got {tail!r}")
    return _memoised(
        target,
        ("working", t_lo, t_hi, kind, tail, rtol, max_pieces, enough),
        lambda: _sup(
            target,
            t_lo,
            t_hi,
            kind,
            lambda t1, t2: mass_radius_on(target, t1, t2, tail),
            lambda t: mass_radius(target, t, tail),
            rtol,
            max_pieces,
            enough,
        ),
    )


# ---------------------------------------------------------------------------- a ball smoothed by a Gaussian
def ball_lipschitz(t: float, R: float, sigma: float = 0.0) -> float:
    """Score Lipschitz bound of ``q = mu * N(0, sigma^2 I)`` with ``mu`` any law on a ball of radius ``R``.

    At forward time ``t`` the law is ``(a mu) * N(0, v)`` with ``v = a^2 sigma^2 + 1 - a^2``; its score
    Hessian is ``-I/v + a^2 Cov_post(mu) / v^2`` and a law on a ball of radius ``R`` has covariance
    at most ``R^2``: ``L <= max(1/v, a^2 R^2 / v^2)``.
    """
    return ball_lipschitz_on(t, t, R, sigma)


def ball_lipschitz_on(t_lo: float, t_hi: float, R: float, sigma: float = 0.0) -> float:
    """:func:`ball_lipschitz` bounded over ``t`` in ``[t_lo, t_hi]``: ``max(1/v_lo, a(t_lo)^2 R^2 / v_lo^2)``
    with ``v_lo`` the smaller of ``v`` at the ends (``v`` is affine in ``a^2``); at one time, the bound."""
    a_hi, s2_lo = float(alpha(t_lo)), float(sigma2(t_lo))
    v = a_hi * a_hi * sigma * sigma + s2_lo
    if t_hi != t_lo:
        a_lo, s2_hi = float(alpha(t_hi)), float(sigma2(t_hi))
        v = min(v, a_lo * a_lo * sigma * sigma + s2_hi)
    if v <= 0:
        return math.inf
    return max(1.0 / v, a_hi * a_hi * R * R / (v * v))


def ball_sup_on(
    t_lo: float,
    t_hi: float,
    R: float,
    sigma: float = 0.0,
    *,
    rtol: float = 0.01,
    max_pieces: int = 64,
    enough: float | None = None,
) -> float:
    """A proved upper bound of ``sup_{t in [t_lo, t_hi]}`` of :func:`ball_lipschitz`: pieces as in
    :func:`sup_on`, each bounded by :func:`ball_lipschitz_on`, plus ``ROUNDING`` relative (two terms of
    a few operations each)."""
    t_lo, t_hi = _check_interval(t_lo, t_hi)
    _check_refinement(rtol, max_pieces, enough)
    for label, value in (("R", R), ("sigma", sigma)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
    if not math.isfinite(ball_lipschitz(t_lo, R, sigma)):
        raise ValueError(
            f"the bound is infinite at t_lo={t_lo!r} (sigma = 0: the law may have point masses); take t_lo > 0"
        )

    def upper(t1, t2, best):
        return ball_lipschitz_on(t1, t2, R, sigma) * (1 + ROUNDING)

    return _refine(upper, lambda t: ball_lipschitz(t, R, sigma), t_lo, t_hi, rtol, 0.0, max_pieces, enough)
