"""Distribution-free confidence bounds for statements about a population from a finite sample.

Used by :mod:`certsample.verify` to lift proved per-particle errors to statements about the
sampler's law, with the confidence level said out loud.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .precision import float_up
from .validation import is_real

__all__ = [
    "clopper_pearson_upper",
    "empirical_bernstein_upper",
    "check_confidence",
    "confidence_text",
    "StoppedCount",
]


def clopper_pearson_upper(successes: int, trials: int, confidence: float) -> float:
    """Exact one-sided upper confidence bound of a binomial proportion (Clopper & Pearson, 1934).

    With probability at least ``confidence`` over the sample, the true proportion is at most the
    returned value: it is the ``p`` at which ``P(Binomial(trials, p) <= successes) = 1 - confidence``,
    found by bisection on ``[0, 1]`` (the tail is a continuous decreasing function of ``p``) to the float
    above the root. The tail is summed in log space: ``log C(n, j)`` from ``math.lgamma`` and the terms
    ``C(n, j) p^j (1 - p)^{n - j}`` added relative to the largest, so it keeps 1e-11 of its value for ``n`` up
    to 1e6 (``mpmath.betainc`` failed to converge from about ``n = 3400``).
    """
    check_confidence(confidence)
    if not (0 <= successes <= trials) or trials < 1:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}, {trials}")
    if successes == trials:
        return 1.0
    beta = 1.0 - confidence
    if successes == 0:
        return -math.expm1(math.log(beta) / trials)  # 1 - beta^(1/n) without the cancellation
    j = np.arange(successes + 1)
    log_choose = math.lgamma(trials + 1) - np.array([math.lgamma(i + 1) + math.lgamma(trials - i + 1) for i in j])

    def tail(p):  # P(X <= successes) for X ~ Binomial(trials, p), 0 < p < 1
        logs = log_choose + j * math.log(p) + (trials - j) * math.log1p(-p)
        top = logs.max()
        return math.exp(top) * float(np.sum(np.exp(logs - top)))

    lo, hi = 0.0, 1.0
    for _ in range(64):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if tail(mid) > beta:
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
    # the sums correctly rounded (fsum; the squares about a rounded mean only exceed the exact sample variance's), a
    # dozen rounded operations after them: a relative 1e-12 and one step up keep the float above the exact bound
    mean = math.fsum(values) / m
    var = math.fsum((v - mean) ** 2 for v in values) / (m - 1)
    log_term = math.log(2.0 / (1.0 - confidence))
    bound = mean + math.sqrt(2 * var * log_term / m) + 7 * upper_range * log_term / (3 * (m - 1))
    return min(upper_range, math.nextafter(bound * (1 + 1e-12), math.inf))


class StoppedCount:
    """Confidence statements on a sample whose size a budget chose while it was drawn.

    A statement at level ``1 - beta`` about ``m`` i.i.d. draws holds for a fixed ``m``. When the draws are taken in
    order and a rule that may look at them (a time budget: hard draws take longer) decides when to stop, the count
    ``M`` is random and the statement at ``M`` need not hold at its level. Here the statement is made on a prefix
    whose length lies in a grid fixed in advance, ``G = {planned} U {floor(planned / 2^k) > least} U {least}``,
    where every run draws at least ``least`` and at most ``planned``: the prefix is the longest element of ``G`` not
    above ``M``, and a statement on a prefix of length ``g`` is made at level ``1 - beta_g`` with ``beta_planned =
    beta / 2`` (a budget that covers the plan stops there) and ``beta / (2 (|G| - 1))`` for the others (all of
    ``beta`` when ``G`` has one element).

    *Proof.* For each fixed ``g`` in ``G`` the first ``g`` draws are i.i.d., so the event ``A_g`` that the statement
    on them holds has probability at least ``1 - beta_g``; by the union bound all ``A_g`` hold together with
    probability at least ``1 - sum_g beta_g = 1 - beta``, and then the statement on the prefix chosen at ``M``
    holds whatever the stopping rule (it is one of the ``A_g``). The price is the draws past the prefix (less than
    half of them) and the smaller ``beta_g``.

    Parameters
    ----------
    count : int
        Draws taken, ``least <= count <= planned``.
    least, planned : int
        The fewest and the most draws the rule can take, fixed before any draw.
    confidence : float
        Level of the joint statement, ``1 - beta``.
    """

    def __init__(self, count: int, least: int, planned: int, confidence: float):
        check_confidence(confidence)
        if not (1 <= least <= count <= planned):
            raise ValueError(f"need 1 <= least <= count <= planned, got {least}, {count}, {planned}")
        grid = {planned, least}
        g = planned // 2
        while g > least:
            grid.add(g)
            g //= 2
        self.grid = sorted(grid)
        #: the statement's prefix length, the longest grid element not above ``count``
        self.prefix = max(g for g in self.grid if g <= count)
        if len(self.grid) == 1:
            share = Fraction(1)
        elif self.prefix == planned:
            share = Fraction(1, 2)
        else:
            share = Fraction(1, 2 * (len(self.grid) - 1))
        #: the level of the statement on the prefix, ``1 - beta_g`` rounded up (so the ``beta_g`` sum to at most beta)
        self.level = float_up(1 - (1 - Fraction(confidence)) * share)


def check_confidence(confidence):
    """A confidence level: a number strictly between 0 and 1 (NaN and bools refused)."""
    if not (is_real(confidence) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")


def confidence_text(confidence: float) -> str:
    """A confidence level as a percentage, never rounded up (``0.999`` is ``99.9%``, not ``100%``): six digits, or
    twelve where six would round up."""
    percent = 100 * float(confidence)
    text = f"{percent:.6g}"
    return (text if float(text) <= percent else f"{percent:.12g}") + "%"
