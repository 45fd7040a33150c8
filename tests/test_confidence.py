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
