"""Distribution-free confidence bounds for statements about a population from a finite sample.

Used by :mod:`certsample.verify` to lift proved per-particle errors to statements about the
sampler's law, with the confidence level said out loud.
"""

from __future__ import annotations

import math

import mpmath

__all__ = ["clopper_pearson_upper", "empirical_bernstein_upper", "check_confidence"]


def clopper_pearson_upper(successes: int, trials: int, confidence: float) -> float:
    """Exact one-sided upper confidence bound of a binomial proportion (Clopper & Pearson, 1934).

    With probability at least ``confidence`` over the sample, the true proportion is at most the
    returned value: it is the ``p`` at which ``P(Binomial(trials, p) <= successes) = 1 - confidence``,
    found by bisection on the regularised incomplete beta function (``mpmath.betainc``), a
    continuous decreasing function of ``p``.
    """
    check_confidence(confidence)
    if not (0 <= successes <= trials) or trials < 1:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}, {trials}")
    if successes == trials:
        return 1.0
    beta = 1.0 - confidence
    if successes == 0:
        return 1.0 - beta ** (1.0 / trials)

    def cdf(p):  # P(X <= successes) = I_{1-p}(trials - successes, successes + 1)
        return float(mpmath.betainc(trials - successes, successes + 1, 0, 1 - p, regularized=True))

    lo, hi = successes / trials, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if cdf(mid) > beta:
            lo = mid
        else:
            hi = mid
    return hi


def empirical_bernstein_upper(values, upper_range: float, confidence: float) -> float:
    """One-sided upper confidence bound of ``E[X]`` for i.i.d. ``X`` in ``[0, upper_range]``.

    Maurer & Pontil (2009), Theorem 4: with probability at least ``1 - beta``,
    ``E X <= mean + sqrt(2 V log(2/beta) / m) + 7 B log(2/beta) / (3 (m - 1))`` where ``V`` is the
    sample variance (``m - 1`` denominator) and ``B`` the range. Values outside the range raise.
    """
    check_confidence(confidence)
    m = len(values)
    if m < 2:
        raise ValueError("the empirical Bernstein bound needs at least 2 values")
    if not (math.isfinite(upper_range) and upper_range > 0):
        raise ValueError(f"upper_range must be a finite number > 0, got {upper_range!r}")
    if min(values) < 0 or max(values) > upper_range:
        raise ValueError("values must lie in [0, upper_range]")
    mean = sum(values) / m
    var = sum((v - mean) ** 2 for v in values) / (m - 1)
    log_term = math.log(2.0 / (1.0 - confidence))
    return min(upper_range, mean + math.sqrt(2 * var * log_term / m) + 7 * upper_range * log_term / (3 * (m - 1)))


def check_confidence(confidence):
    """A confidence level: a number strictly between 0 and 1 (NaN and bools refused)."""
    if isinstance(confidence, bool):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
