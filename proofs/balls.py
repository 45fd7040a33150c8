r"""Arb ball helpers shared by the Arb-evaluated theorems (collocation, randomized midpoint).

A real Arb ball ``[m +/- r]`` contains the exact value of every quantity computed from exact inputs [1]_.
The proofs state their bounds as float64 numbers; the helpers here turn balls into such numbers with
outward rounding, build balls from float intervals, and set the working precision.

*Rounding to floats.* :func:`upper_float` returns the least float64 ``f`` with ``f >= p`` for every point
``p`` of the ball: ``b = x.upper()`` is an exact binary number ``>= x`` (Arb rounds it up at the working
precision), ``float(b)`` is the float nearest to ``b``, so within half a spacing of it, and when the exact
comparison ``f >= b`` fails the next float up is ``>= b``. :func:`lower_float` is the mirror image. A
non-finite ball (infinite radius or NaN) gives ``+inf`` (``-inf``): no finite float is a bound of it.

*Printing bounds.* :func:`bound_text` prints a float bound to a few decimal digits rounded the bound's way (up
for an upper bound, down for a lower one; Python's :mod:`decimal` rounds the float's exact value once), so the
printed number is still a bound; certificates and the theorems' messages use it.

*Intervals.* :func:`arb_interval` is the ball ``[(l + u) / 2 +/- r]`` with ``l``, ``u`` the exact outer
endpoints of its arguments and ``r = upper_float((u - l) / 2)``; the midpoint ball contains ``(l + u) / 2``
(Arb adds any rounding of it to its radius), so every point of ``[l, u]`` lies within ``r`` of it. It is
tighter than ``arb.union``, whose radius takes two more roundings up.

*Float64 expressions.* :func:`round_up` bounds the exact value of a float64 expression of nonnegative terms:
each of its ``n`` roundings is relative, ``fl(a op b) = (a op b)(1 + d)``, ``|d| <= u = 2^-53`` ([2]_, Lemma
3.1), and ``(1 + u)^n <= 1 + 2 n u`` for ``n u <= 1/2``. The upper bounds above are exact zeros where the
ball is exactly zero, so such an expression may hold ``0 * inf`` (an exactly vanishing coefficient times an
error with no finite bound): float64 makes it NaN, which would vanish from a ``max`` (``max(b, nan) = b``);
:func:`round_up` returns ``inf`` for it, an upper bound of anything.

References
----------
.. [1] F. Johansson, "Arb: efficient arbitrary-precision midpoint-radius interval arithmetic",
   IEEE Trans. Computers 66 (2017).
.. [2] N. J. Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., SIAM (2002), ch. 3.
"""

from __future__ import annotations

import decimal
import math
from contextlib import contextmanager

import numpy as np

__all__ = [
    "PRECISION",
    "flint_module",
    "arb_precision",
    "arb",
    "upper_float",
    "lower_float",
    "arb_interval",
    "amax",
    "round_up",
    "bound_text",
    "directed_decimal",
    "decimal_text",
]

#: working precision (bits) of the theorems' ball computations
PRECISION = 192
#: unit roundoff of float64
UNIT_ROUNDOFF = 2.0**-53


def flint_module():
    """python-flint, imported on first use (importing :mod:`proofs` stays light)."""
    import flint

    return flint


@contextmanager
def arb_precision(bits: int = PRECISION):
    """Arb's working precision at least ``bits`` inside the block (never lowered), restored after."""
    ctx = flint_module().ctx
    old = ctx.prec
    ctx.prec = max(int(bits), old)
    try:
        yield
    finally:
        ctx.prec = old


def arb(x, rad=None):
    """The real ball ``x`` (returned as is when it already is one), or ``[x +/- rad]``."""
    flint = flint_module()
    if rad is None:
        return x if isinstance(x, flint.arb) else flint.arb(x)
    return flint.arb(x, rad)


def _real_ball(x, magnitude_bound: str):
    """``x`` as a real ball: a complex ball becomes ``|x|``'s bound ``abs_upper``/``abs_lower`` (exact)."""
    flint = flint_module()
    if isinstance(x, flint.acb):
        return getattr(x, magnitude_bound)()
    return arb(x)


def upper_float(x) -> float:
    """The least float64 ``>=`` every point of the real ball ``x`` (of ``|x|`` for a complex ball).

    Floats and ints are taken exactly; ``inf`` for a non-finite ball (module docstring).
    """
    x = _real_ball(x, "abs_upper")
    if not x.is_finite():
        return math.inf
    bound = x.upper()
    f = float(bound)
    while not arb(f) >= bound:  # at most once: float() rounds to nearest
        f = float(np.nextafter(f, math.inf))
    return f


def lower_float(x) -> float:
    """The greatest float64 ``<=`` every point of the real ball ``x`` (of ``|x|`` for a complex ball).

    Floats and ints are taken exactly; ``-inf`` for a non-finite ball (module docstring).
    """
    x = _real_ball(x, "abs_lower")
    if not x.is_finite():
        return -math.inf
    bound = x.lower()
    f = float(bound)
    while not arb(f) <= bound:  # at most once: float() rounds to nearest
        f = float(np.nextafter(f, -math.inf))
    return f


def arb_interval(lo, hi):
    """The ball holding every point of ``lo``, of ``hi`` and between (floats or balls; module docstring)."""
    lo, hi = arb(lo), arb(hi)
    left, right = lo.lower().min(hi.lower()), lo.upper().max(hi.upper())
    return (left + right) / 2 + arb(0, upper_float((right - left) / 2))


def amax(values):
    """An upper bound of the largest of real balls, as an exact ball (``None`` for no values)."""
    out = None
    for v in values:
        u = v.upper()
        out = u if out is None else out.max(u)
    return out


def round_up(x, operations: int):
    """An upper bound of the exact value of a float64 expression of nonnegative terms computed with
    ``operations`` roundings: ``x (1 + 2 (operations + 1) u)``, ``inf`` where ``x`` is NaN (module docstring).

    ``x`` is a float or an array of floats.
    """
    y = x * (1.0 + 2.0 * (operations + 1) * UNIT_ROUNDOFF)
    if isinstance(y, np.ndarray):
        return np.where(np.isnan(y), math.inf, y)
    return math.inf if math.isnan(y) else y


def directed_decimal(x: float, upward: bool, digits: int) -> decimal.Decimal:
    """The float ``x`` to ``digits`` significant digits, rounded toward ``+inf`` (``upward``) or ``-inf``: its exact
    decimal value (``Decimal(x)`` is exact) rounded once under a directed rounding context."""
    context = decimal.Context(prec=digits, rounding=decimal.ROUND_CEILING if upward else decimal.ROUND_FLOOR)
    return context.plus(decimal.Decimal(x))


def bound_text(x: float, digits: int = 3, upward: bool = True) -> str:
    """``x`` printed to ``digits`` significant digits rounded up (``upward``, for an upper bound) or down (a lower
    bound), so that the printed number is still a bound: ``format(x, '.3g')`` rounds to nearest and would print a
    proved RMS error in ``[0.0148943, 0.0148950]`` as ``[0.0149, 0.014895]``, a lower end above the upper one.
    At most 15 digits, written as Python writes a float in ``g`` format (``1.24e-07``); a float that is a short decimal
    may print one unit above it (``0.01`` as ``0.0101``: the float is ``0.01000000000000000021``)."""
    if not math.isfinite(x):
        return f"{x:g}"
    digits = min(digits, 15)
    return decimal_text(directed_decimal(x, upward, digits), digits)


def decimal_text(value: decimal.Decimal, digits: int) -> str:
    """A decimal of at most ``digits <= 15`` significant digits in float ``g`` format: it survives the trip through the
    nearest float, which prints it back digit for digit."""
    return format(float(value), f".{digits}g")
