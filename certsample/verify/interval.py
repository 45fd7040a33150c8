r"""Outward-rounded float64 interval arithmetic, compiled: the arithmetic of :mod:`.fast_enclosure`.

An interval is a pair ``(lo, hi)`` of float64 numbers; every function here returns an interval that
contains the exact result of the operation on every point of its arguments. The functions are plain
Python on scalars marked :func:`~certsample.kernels.jit.device_function`, so one source compiles for
the CPU (``numba.njit``) and for CUDA (``numba.cuda.jit(device=True)``).

Rounding model
--------------
IEEE-754 binary64 with the default rounding to nearest (ties to even); unit roundoff ``u = 2^-53``,
smallest subnormal ``eta = 2^-1074``. ``+, -, *, /`` and ``sqrt`` are correctly rounded, so the computed
``fl(x op y)`` is the float nearest to the exact ``x op y`` [1]_. Numba compiles without fast-math, and
LLVM contracts ``a * b + c`` into a fused multiply-add only under fast-math flags, so no contraction
changes these roundings on the CPU. NVVM does contract by default: the CUDA build fuses products into
sums, and the bounds below hold there as well (a fused operation rounds once, where the analysis allows
two roundings), though the CPU and CUDA results then differ in their last bits.

*Widening.* Each result is widened outward by at least one ulp:

.. math::  \mathrm{up}(x) = \mathrm{fl}\bigl(x + \mathrm{fl}(\mathrm{fl}(|x| 2^{-52}) + \eta)\bigr)
           \;\ge\; \mathrm{nextafter}(x, +\infty),

and ``down(x) = -up(-x)`` (written out). Proof: let ``x`` be finite. If ``|x| >= 2^-1022`` (normal),
``x`` lies in a binade ``[2^e, 2^{e+1})`` in magnitude, its spacing there is ``2^{e-52}`` on the side away
from zero and at most that toward zero, and ``|x| 2^-52 >= 2^{e-52}`` is a float at least ``2^-1074``
(``e >= -1022``): its rounding is at least ``2^{e-52}`` (rounding is monotone and ``2^{e-52}`` is a
float), so ``s = fl(fl(|x| 2^-52) + eta) >= 2^{e-52}`` and ``x + s >= nextafter(x, +inf)``, a float, whence
``fl(x + s) >= nextafter(x, +inf)`` by monotonicity. If ``x`` is subnormal or zero the spacing is
``eta <= s``, and the same argument applies. The exact result of an operation lies within half a
spacing of its rounding, so ``[down(fl(r)), up(fl(r))]`` contains it. This is ``nextafter`` up to one more
ulp, without a library call, in three branch-free operations that vectorise and run on CUDA.

Sums of many products (the series products of :mod:`.fast_enclosure`) are instead accumulated in
round-to-nearest and bounded once, a posteriori, by the classical bound of recursive summation ([2]_,
ch. 4); the proof is at :func:`~certsample.verify.fast_enclosure._conv`.

Overflow rounds to ``+-inf``. Infinite endpoints are kept (an upper bound ``+inf`` is valid); the widening takes an
overflowed ``-inf`` upper endpoint to ``-DBL_MAX`` and an overflowed ``+inf`` lower endpoint to ``DBL_MAX`` (the
exact value lies beyond them), so no endpoint is NaN after a widening and no sum of endpoints is ``inf - inf``. A
NaN can still come from a corner ``0 * inf`` of :func:`imul` or ``inf / inf`` of :func:`idiv`, where ``inf`` stands
for an exact value beyond ``DBL_MAX``. :func:`fmin` / :func:`fmax` drop a NaN in their second argument and keep one
in their first, so the hulls chain the corners, ``fmin(fmin(fmin(p1, p2), p3), p4)``: a NaN corner after the first
is dropped, and a NaN first corner makes the endpoint NaN, which the integrator refuses (below). (Pairing them,
``fmin(fmin(p1, p2), fmin(p3, p4))``, let a NaN ``p3`` drop ``p4`` with it: ``[0, inf] [0, 1]`` came out as
``[-5e-324, 5e-324]``.) Dropping loses nothing: the exact corner ``0 * e = 0`` is also the corner of the same ``0``
with the factor's other endpoint (``0``, or NaN again only if that endpoint is infinite too, and then the other ``x
!= 0`` gives ``-inf`` and ``+inf``), and the exact ``e / e'`` (any value of the corner's sign) lies between the
corners ``inf / y`` and ``x / inf`` of the same sign (``+-inf`` and ``+-0``) of a divisor that excludes 0. The
integrator checks that every box, remainder and radius it relies on is finite, and fails the step otherwise.

Elementary functions
--------------------
Not libm on trust: :func:`exp_bounds` and :func:`log_bounds` reduce the argument with exactly
representable constants, evaluate a polynomial whose truncation is bounded, bound the rounding of the
evaluation by Horner's error analysis ([2]_, eq. (5.3): the computed ``sum a_i x^i`` equals ``sum (1 +
theta_{2i+1}) a_i x^i`` with ``|theta_k| <= gamma_k = k u / (1 - k u)``), and widen by the total bound.
The constants of each bound are checked with ``mpmath.iv`` in ``tests/test_fast_enclosure.py``.

References
----------
.. [1] IEEE Std 754-2019, IEEE Standard for Floating-Point Arithmetic.
.. [2] N. J. Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., SIAM (2002), ch. 3 and 5.
.. [3] W. J. Cody, W. Waite, "Software Manual for the Elementary Functions", Prentice-Hall (1980).
"""

from __future__ import annotations

import math

from ..kernels.jit import device_function

__all__ = [
    "next_up",
    "fmin",
    "fmax",
    "next_down",
    "iadd",
    "isub",
    "imul",
    "idiv",
    "idiv_pos",
    "isqr",
    "isqrt",
    "iexp",
    "ilog",
    "imag",
    "exp_bounds",
    "log_bounds",
    "EXP_REL",
    "LOG_REL",
]

TWO_M52 = 2.220446049250313e-16  # 2^-52
ETA = 5e-324  # 2^-1074, the smallest subnormal
DBL_MAX = 1.7976931348623157e308  # the largest finite float
LOG2E = 1.4426950408889634  # any value: it only picks the reduction's k
#: ln 2 = LN2_HI + LN2_LO + r with r in [LN2_RES_LO, LN2_RES_HI]; LN2_HI has 32 significant bits (fdlibm's
#: split), so k * LN2_HI is exact for |k| < 2^21
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
LN2_RES_LO = 1.1612227229362e-26
LN2_RES_HI = 1.1612227229363e-26
SQRT_HALF = 0.7071067811865476  # any value near 1/sqrt(2): it only picks the log's reduction
#: a proved bound of the relative error of the polynomial in exp_bounds, |r| <= EXP_R_MAX (see exp_bounds)
EXP_REL = 8.881784197001252e-16  # 2^-50
EXP_R_MAX = 0.3466
#: a proved bound of the relative error of 2 atanh(s) in log_bounds, |s| <= LOG_S_MAX (see log_bounds)
LOG_REL = 4.440892098500626e-16  # 2^-51
LOG_S_MAX = 0.1716


@device_function(inline=True)
def fmin(a, b):
    """``min(a, b)`` as Python's builtin evaluates it (``b if b < a else a``), written out: the CPU build compiles the
    builtin as a call to Numba's implementation, which keeps loops from running in SIMD lanes."""
    return b if b < a else a


@device_function(inline=True)
def fmax(a, b):
    """``max(a, b)`` as Python's builtin evaluates it (``b if b > a else a``), written out (see :func:`fmin`)."""
    return b if b > a else a


@device_function(inline=True)
def next_up(x):
    """A float ``>= nextafter(x, +inf)`` (at most two ulps above ``x``, three where ``|x| < 2^-1019`` and ``ETA`` is
    more than an ulp): see the module docstring. ``-inf`` goes to
    ``-DBL_MAX`` (an overflow to ``-inf`` stands for an exact value below it), where the sum would give NaN."""
    up = x + (abs(x) * TWO_M52 + ETA)
    return up if x != -math.inf else -DBL_MAX


@device_function(inline=True)
def next_down(x):
    """A float ``<= nextafter(x, -inf)``; ``+inf`` goes to ``DBL_MAX``."""
    down = x - (abs(x) * TWO_M52 + ETA)
    return down if x != math.inf else DBL_MAX


@device_function(inline=True)
def iadd(al, ah, bl, bh):
    """``[al, ah] + [bl, bh]``."""
    return next_down(al + bl), next_up(ah + bh)


@device_function(inline=True)
def isub(al, ah, bl, bh):
    """``[al, ah] - [bl, bh]``."""
    return next_down(al - bh), next_up(ah - bl)


@device_function(inline=True)
def imul(al, ah, bl, bh):
    """``[al, ah] * [bl, bh]``: the hull of the four endpoint products, widened."""
    p1 = al * bl
    p2 = al * bh
    p3 = ah * bl
    p4 = ah * bh
    return next_down(fmin(fmin(fmin(p1, p2), p3), p4)), next_up(fmax(fmax(fmax(p1, p2), p3), p4))


@device_function(inline=True)
def idiv(al, ah, bl, bh):
    """``[al, ah] / [bl, bh]``; ``(-inf, inf)`` when the divisor contains 0."""
    if not (bl > 0.0 or bh < 0.0):
        return -math.inf, math.inf
    q1 = al / bl
    q2 = al / bh
    q3 = ah / bl
    q4 = ah / bh
    return next_down(fmin(fmin(fmin(q1, q2), q3), q4)), next_up(fmax(fmax(fmax(q1, q2), q3), q4))


@device_function(inline=True)
def idiv_pos(al, ah, d):
    """``[al, ah] / d`` for a float ``d > 0``: ``idiv(al, ah, d, d)`` in two divisions (dividing by ``d > 0`` is
    increasing, and so is its rounding, so the least and largest of the four quotients are ``al / d`` and
    ``ah / d``)."""
    return next_down(al / d), next_up(ah / d)


@device_function(inline=True)
def isqr(al, ah):
    """``[al, ah]^2`` (the range of ``x^2``, not the product of two independent intervals)."""
    if al >= 0.0:
        return next_down(al * al), next_up(ah * ah)
    if ah <= 0.0:
        return next_down(ah * ah), next_up(al * al)
    return 0.0, next_up(fmax(al * al, ah * ah))


@device_function(inline=True)
def isqrt(al, ah):
    """``sqrt`` of the non-negative part of ``[al, ah]`` (sqrt is correctly rounded)."""
    return fmax(0.0, next_down(math.sqrt(fmax(al, 0.0)))), next_up(math.sqrt(fmax(ah, 0.0)))


@device_function(inline=True)
def imag(al, ah):
    """``max |x|`` over ``[al, ah]``: an upper bound of the magnitude; NaN when an endpoint is (``fmax`` alone would
    drop a NaN ``ah``)."""
    if al != al or ah != ah:
        return math.nan
    return fmax(abs(al), abs(ah))


@device_function
def _widen_relative(v, rel2):
    """``[v - rel2 |v|, v + rel2 |v|]`` rounded outward (``rel2`` a power of two: the product is exact
    unless it underflows, which ``eta`` covers)."""
    s = abs(v) * rel2 + ETA
    return next_down(v - s), next_up(v + s)


@device_function
def _exp_reduce(x):
    """``(k, r_lo, r_hi)`` with ``x - k ln 2`` in ``[r_lo, r_hi]`` (interval arithmetic on the split of ln 2;
    ``k * LN2_HI`` is exact)."""
    kf = math.floor(x * LOG2E + 0.5)
    r1l, r1h = isub(x, x, kf * LN2_HI, kf * LN2_HI)
    t2l, t2h = imul(kf, kf, LN2_LO, LN2_LO)
    r2l, r2h = isub(r1l, r1h, t2l, t2h)
    t3l, t3h = imul(kf, kf, LN2_RES_LO, LN2_RES_HI)
    rl, rh = isub(r2l, r2h, t3l, t3h)
    return int(kf), rl, rh


@device_function
def _exp_poly(r):
    """``sum_{n <= 13} r^n / n!`` by Horner (coefficients rounded to nearest)."""
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    return p * r + 1.0


@device_function
def exp_bounds(xl, xh):
    r"""``(lo, hi)`` with ``lo <= e^x <= hi`` for every ``x`` in ``[xl, xh]``.

    Proof. ``e^x = 2^k e^r`` with ``r = x - k ln 2`` enclosed by :func:`_exp_reduce` and ``|r| <=
    EXP_R_MAX`` (``k`` rounds ``x / ln 2``: ``|r| <= ln 2 (1/2 + 2^-40)`` for ``|x| < 746``; checked at run
    time, else the result is ``(0, inf)``). ``e^r`` is monotone, so the lower bound uses ``r_lo`` and the
    upper ``r_hi``. The computed Horner value ``p~`` of ``P(r) = sum_{n<=13} r^n / n!`` obeys

    .. math:: |\tilde p - e^r| \le \sum_n \gamma_{2n+1} \tilde c_n \rho^n + u \sum_{n \ge 3} \rho^n / n!
              + \rho^{14} e^{\rho} / 14! \le 6 u\, e^{-\rho} \le \mathrm{EXP\_REL}\; e^r,

    ``rho = EXP_R_MAX``: Horner's rounding, the coefficients ``c~_n = fl(1/n!)`` (exact for ``n <= 2``),
    and the Lagrange remainder; the test suite evaluates the middle expression with ``mpmath.iv``. Hence
    ``e^r`` lies in ``[p~ (1 - 2 EXP_REL), p~ (1 + 2 EXP_REL)]`` (``1 / (1 - E) <= 1 + 2E``), rounded
    outward. Scaling by ``2^k`` (``ldexp``) is exact for a normal result; below ``2^-1021`` the lower
    bound is 0 and the upper bound is widened past the subnormal rounding; above the range it is
    ``+inf``.
    """
    if xl != xl or xh != xh:
        return math.nan, math.nan
    if xh < -746.0:
        return 0.0, ETA  # e^-746 < 2^-1075
    if xh > 709.0:
        hi = math.inf
    else:
        k, rl, rh = _exp_reduce(xh)
        if abs(rl) > EXP_R_MAX or abs(rh) > EXP_R_MAX:
            return 0.0, math.inf
        hi = _widen_relative(_exp_poly(rh), 2.0 * EXP_REL)[1]
        hi = next_up(math.ldexp(hi, k))
    xl = min(xl, 709.0)  # e^709 is a lower bound of e^x above it
    if xl < -707.0:
        return 0.0, hi
    k, rl, rh = _exp_reduce(xl)
    if abs(rl) > EXP_R_MAX or abs(rh) > EXP_R_MAX:
        return 0.0, math.inf
    lo = _widen_relative(_exp_poly(rl), 2.0 * EXP_REL)[0]
    return max(0.0, math.ldexp(lo, k)), hi


@device_function
def _atanh2(s):
    """``2 atanh(s) = 2 s sum_{n <= 10} s^{2n} / (2n + 1)`` by Horner in ``z = s^2``."""
    z = s * s
    q = 1.0 / 21.0
    q = q * z + 1.0 / 19.0
    q = q * z + 1.0 / 17.0
    q = q * z + 1.0 / 15.0
    q = q * z + 1.0 / 13.0
    q = q * z + 1.0 / 11.0
    q = q * z + 1.0 / 9.0
    q = q * z + 1.0 / 7.0
    q = q * z + 1.0 / 5.0
    q = q * z + 1.0 / 3.0
    q = q * z + 1.0
    return 2.0 * (s * q)


@device_function
def _log_point(x, upper):
    """A bound of ``log x`` for a float ``x > 0``: the lower (``upper`` False) or the upper one."""
    m, e = math.frexp(x)  # exact: x = m 2^e, 1/2 <= m < 1
    if m < SQRT_HALF:
        m = 2.0 * m
        e -= 1
    ef = float(e)
    # s = (m - 1) / (m + 1): m - 1 is exact (Sterbenz), the rest in interval arithmetic
    dl, dh = iadd(m, m, 1.0, 1.0)
    sl, sh = idiv(m - 1.0, m - 1.0, dl, dh)
    s = sh if upper else sl
    if abs(s) > LOG_S_MAX:
        return math.inf if upper else -math.inf
    al, ah = _widen_relative(_atanh2(s), 2.0 * LOG_REL)
    # e ln 2 = e LN2_HI (exact) + e LN2_LO + e r
    t2l, t2h = imul(ef, ef, LN2_LO, LN2_LO)
    t3l, t3h = imul(ef, ef, LN2_RES_LO, LN2_RES_HI)
    cl, ch = iadd(t2l, t2h, t3l, t3h)
    cl, ch = iadd(cl, ch, ef * LN2_HI, ef * LN2_HI)
    lo, hi = iadd(cl, ch, al, ah)
    return hi if upper else lo


@device_function
def log_bounds(xl, xh):
    r"""``(lo, hi)`` with ``lo <= log x <= hi`` on ``[xl, xh]``; ``lo = -inf`` where ``xl <= 0``, and ``(-inf, -inf)``
    where no point is positive (no logarithm to enclose; the kernels take logarithms of positive variances only).

    Proof. ``x = m 2^e`` exactly (``frexp``, then ``m`` doubled below ``1/sqrt 2``), so ``log x = e ln 2 +
    2 atanh(s)`` with ``s = (m - 1)/(m + 1)`` enclosed in interval arithmetic and ``|s| <= LOG_S_MAX``
    (``m`` in ``[0.7071, 1.4143)``). With ``z = fl(s^2)`` the computed ``2 s q~(z)``, ``q(z) = sum_{n<=10}
    z^n / (2n+1)``, has relative error at most ``(u / (1 - z_max) + 0.35 u z_max + u + u + z_max^{11} /
    (23 (1 - z_max))) (1 + 10^-14) <= 3.1 u <= LOG_REL`` (Horner's rounding, the rounding of ``z`` through
    ``q' <= 0.35``, the coefficients, the final product, the truncation; ``q >= 1``), checked with
    ``mpmath.iv`` in the tests; ``2 atanh`` is increasing, so ``s_lo`` gives the lower bound and ``s_hi``
    the upper. ``e ln 2`` is an interval sum of the split of ``ln 2``.
    """
    if xl != xl or xh != xh:  # NaN in, NaN out (as exp_bounds), not an interval ending at -inf
        return math.nan, math.nan
    if not (xl > 0.0):
        lo = -math.inf
    else:
        lo = _log_point(xl, False)
    if not (xh > 0.0):
        return lo, -math.inf
    if xh == math.inf:
        return lo, math.inf
    return lo, _log_point(xh, True)


@device_function
def iexp(al, ah):
    """``exp([al, ah])``."""
    return exp_bounds(al, ah)


@device_function
def ilog(al, ah):
    """``log([al, ah])`` (``-inf`` for the non-positive part)."""
    return log_bounds(al, ah)
