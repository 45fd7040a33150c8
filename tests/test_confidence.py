"""The distribution-free confidence bounds against scipy, and the statements built on them."""

import math

import numpy as np
import pytest
from scipy.stats import beta

from certsample.confidence import clopper_pearson_upper, confidence_text, empirical_bernstein_upper


@pytest.mark.parametrize("trials", [1, 3, 10, 100, 3400, 5000, 10_000, 100_000])
@pytest.mark.parametrize("confidence", [0.1, 0.3, 0.5, 0.95, 0.999999])
def test_clopper_pearson_is_the_beta_quantile(trials, confidence):
    """The bound is Beta(k + 1, n - k)'s ``confidence`` quantile, also past n = 3400 (where mpmath's betainc stopped
    converging) and below confidence 1/2 (where a bisection started at k / n returned k / n)."""
    for k in sorted({0, 1, trials // 3, trials // 2, 1131 % trials, trials - 1} - {trials}):
        expected = beta.ppf(confidence, k + 1, trials - k)
        assert clopper_pearson_upper(k, trials, confidence) == pytest.approx(expected, rel=1e-8)
    assert clopper_pearson_upper(trials, trials, confidence) == 1.0


def test_confidence_levels_are_checked_and_printed_as_given():
    assert clopper_pearson_upper(3, 10, np.float32(0.95)) == pytest.approx(beta.ppf(0.95, 4, 7), rel=1e-7)
    for bad in (0.0, 1.0, math.nan, True, "0.95"):
        with pytest.raises(ValueError, match="confidence"):
            clopper_pearson_upper(3, 10, bad)
    assert [confidence_text(c) for c in (0.95, 0.999, 0.9999, 0.899)] == ["95%", "99.9%", "99.99%", "89.9%"]


def test_empirical_bernstein_covers_the_mean():
    """Maurer and Pontil's bound holds for Bernoulli(0.2) samples of 20 in at least 95% of 2000 draws."""
    rng = np.random.default_rng(0)
    covered = [empirical_bernstein_upper(list(rng.random(20) < 0.2), 1.0, 0.95) >= 0.2 for _ in range(2000)]
    assert np.mean(covered) >= 0.95


def test_empirical_bernstein_float_lies_above_its_exact_value():
    """The bound is an upper end: the float returned is at least the formula evaluated exactly on the same values
    (rationals, and the square root and logarithm bracketed with 50 digits)."""
    from fractions import Fraction

    import mpmath

    mpmath.mp.dps = 50
    rng = np.random.default_rng(3)
    for m in (2, 7, 300):
        values = list(rng.random(m) * 0.3)
        exact = [Fraction(v) for v in values]
        mean = sum(exact) / m
        var = sum((v - mean) ** 2 for v in exact) / (m - 1)
        log_term = mpmath.log(2 / (1 - mpmath.mpf("0.95")))
        bound = (
            mpmath.mpf(mean.numerator) / mean.denominator
            + mpmath.sqrt(2 * (mpmath.mpf(var.numerator) / var.denominator) * log_term / m)
            + 7 * log_term / (3 * (m - 1))
        )
        assert empirical_bernstein_upper(values, 1.0, 0.95) >= min(1.0, bound)


def test_a_count_chosen_while_drawing_is_covered_by_the_stopped_count_prefix():
    """A rule that stops where the Clopper-Pearson bound is smallest (any count from 20 to 320 draws of Bernoulli(0.05))
    makes the bound at the stopped count cover the proportion in about 73% of runs at a stated 90%; the statement on
    :class:`StoppedCount`'s prefix at its level covers it in at least 90% (it holds for every stopping rule)."""
    from certsample.confidence import StoppedCount

    p, least, planned, confidence, reps = 0.05, 20, 320, 0.9, 1500
    draws = np.random.default_rng(0).random((reps, planned)) < p
    successes = np.cumsum(draws, axis=1)
    counts = np.arange(least, planned + 1)
    k = successes[:, counts - 1]
    naive = np.where(k == counts, 1.0, beta.ppf(confidence, k + 1, np.maximum(counts - k, 1)))
    stopped_at = counts[np.argmin(naive, axis=1)]
    assert np.mean(naive.min(axis=1) >= p) < 0.8
    covered = []
    for run, count in enumerate(stopped_at):
        stopped = StoppedCount(int(count), least, planned, confidence)
        covered.append(
            clopper_pearson_upper(int(successes[run, stopped.prefix - 1]), stopped.prefix, stopped.level) >= p
        )
    assert np.mean(covered) >= 0.9


def test_stopped_count_grid_prefix_and_levels():
    """The grid halves down from the plan to the least count; the levels' betas sum to at most the joint beta."""
    from fractions import Fraction

    from certsample.confidence import StoppedCount

    full = StoppedCount(9992, 56, 9992, 0.95)
    assert full.grid == [56, 78, 156, 312, 624, 1249, 2498, 4996, 9992]
    assert full.prefix == 9992 and full.level == 0.975
    cut = StoppedCount(5000, 56, 9992, 0.95)
    assert cut.prefix == 4996 and 1 - Fraction(cut.level) <= Fraction(1 - Fraction(0.95)) / 16
    assert StoppedCount(77, 56, 9992, 0.95).prefix == 56
    assert StoppedCount(56, 56, 56, 0.95).level == 0.95
    total = (
        1
        - Fraction(full.level)
        + sum(1 - Fraction(StoppedCount(g, 56, 9992, 0.95).level) for g in full.grid if g != 9992)
    )
    assert total <= 1 - Fraction(0.95)
    with pytest.raises(ValueError, match="least <= count <= planned"):
        StoppedCount(10, 20, 30, 0.95)
