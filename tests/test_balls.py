"""The Arb helpers of proofs/balls.py: outward rounding to float64 and balls from intervals."""

import math

import flint
import numpy as np
import pytest

from proofs.balls import amax, arb_interval, arb_precision, lower_float, round_up, upper_float

BALLS = [
    lambda: flint.arb(1) / 3,
    lambda: flint.arb(2) / 3,
    lambda: -flint.arb(2) / 3,
    lambda: flint.arb(10).exp(),
    lambda: flint.arb(1e-310) / 7,  # subnormal range
    lambda: flint.arb("1e-400"),  # below every positive float
    lambda: flint.arb(0.1, 1e-20),
]


@pytest.mark.parametrize("make", BALLS)
def test_float_bounds_are_the_nearest_outside_the_ball(make):
    with arb_precision():
        x = make()
        up, lo = upper_float(x), lower_float(x)
        assert flint.arb(up) >= x and flint.arb(lo) <= x
        # one float further in is no longer a bound: the bounds are the tightest float64 ones
        assert not flint.arb(float(np.nextafter(up, -math.inf))) >= x
        assert not flint.arb(float(np.nextafter(lo, math.inf))) <= x


def test_exact_floats_complex_balls_and_non_finite_balls():
    assert upper_float(0.1) == 0.1 and lower_float(0.1) == 0.1
    assert upper_float(flint.arb(0)) == 0.0 == lower_float(flint.arb(0))
    assert upper_float(2**60 + 1) == float(np.nextafter(2.0**60, math.inf))  # ints exactly, then rounded up
    z = flint.acb(3, 4)
    assert upper_float(z) == 5.0 and lower_float(z) == 5.0  # |z|
    assert upper_float(flint.arb("nan")) == math.inf and lower_float(flint.arb("nan")) == -math.inf
    assert upper_float(flint.arb(0, math.inf)) == math.inf


@pytest.mark.parametrize("lo, hi", [(0.1, 0.2), (0.5, 1.0), (1e-300, 1.0), (2.0, 2.0), (0.3, 0.30000000000000004)])
def test_interval_holds_its_ends_and_is_no_wider_than_a_union(lo, hi):
    with arb_precision():
        ball = arb_interval(lo, hi)
        assert ball.contains(flint.arb(lo)) and ball.contains(flint.arb(hi))
        assert ball.rad() <= flint.arb(lo).union(flint.arb(hi)).rad()
        assert arb_interval(hi, lo).contains(flint.arb(lo))  # the hull, whatever the order
        wide = arb_interval(flint.arb(lo, 1e-3), flint.arb(hi, 1e-3))  # balls: their outer ends
        assert wide.contains(flint.arb(lo - 1e-3)) and wide.contains(flint.arb(hi + 1e-3))


def test_amax_and_round_up():
    with arb_precision():
        top = amax([flint.arb(1, 0.5), flint.arb(0.2, 2.0), flint.arb(-3)])
        assert top >= flint.arb(0.2) + 2 and top <= flint.arb(0.2) + 2 + 1e-8  # 0.2 + 2 (the radius a 30-bit mag)
        assert top.rad() == 0
    assert round_up(1.0, 3) > 1.0 and round_up(0.0, 3) == 0.0
    assert round_up(0.0 * math.inf, 1) == math.inf  # an exactly zero coefficient times an unbounded error
    with np.errstate(invalid="ignore"):
        out = round_up(np.array([0.0, 1.0]) * np.array([math.inf, 2.0]), 1)
    assert out[0] == math.inf and out[1] > 2.0
