"""Straight-line logarithm and sine/cosine for the normal draws, so a loop of them vectorises.

``math.log``, ``math.cos`` and ``math.sin`` are library calls that stop a loop over particles from
vectorising (pip's Numba has no vector math library), and the Box-Muller transform of every normal
draw needs one of each (:func:`certsample.kernels.philox.box_muller`). These use only arithmetic,
comparisons, selects and ``math.sqrt``/``math.floor`` (single instructions), on the arguments Box-Muller
gives them: a uniform ``u`` in ``(0, 1]`` built from at most 53 bits (:func:`log_unit`) and a fraction of
a turn (:func:`sincos_turn`). They compile for the CPU and CUDA alike. Their accuracy against
correctly rounded values is tested (``tests/test_noise.py``); measured figures are in
docs/performance.md.

References
----------
.. [1] W. J. Cody, W. Waite, "Software Manual for the Elementary Functions", Prentice-Hall 1980
   (argument reduction by exact scalings and splits of the constant).
.. [2] J.-M. Muller, "Elementary Functions: Algorithms and Implementation", 3rd ed., Birkhaeuser 2016,
   sections 11.1-11.3.
.. [3] Sun Microsystems, fdlibm 5.3 (1993): ``e_log.c``, ``k_sin.c``, ``k_cos.c`` (the minimax
   coefficients and their error bounds), https://www.netlib.org/fdlibm/.
"""

import math

from .jit import device_function

SQRT2 = 1.4142135623730951
LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: the high part has 21 trailing zero bits
LN2_LO = 1.90821492927058770002e-10
PI_HALF = 1.5707963267948966


# fdlibm's minimax coefficients [3]: e_log.c (Lg1..Lg7), k_sin.c (S1..S6), k_cos.c (C1..C6)
LG1, LG2, LG3, LG4 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01
LG5, LG6, LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01
S1, S2, S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
S4, S5, S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
C1, C2, C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
C4, C5, C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


@device_function(inline=True)
def log_unit(u):
    """``log(u)`` for ``2^-60 <= u <= 1``, in straight-line arithmetic.

    Reduction: ``u = m 2^-e`` with ``m`` in ``[sqrt(2)/2, sqrt(2))`` and the integer ``0 <= e <= 63``,
    found bit by bit from the highest (scalings by ``2^b`` are exact: no underflow above ``2^-60``).
    Then ``log(m) = 2 atanh(s) = 2 s + s R(s^2)`` with ``s = (m - 1) / (m + 1)``, ``|s| <= 3 - 2 sqrt(2)
    < 0.1716`` (``m - 1`` is exact, Sterbenz), where fdlibm's degree-7 minimax polynomial ``R`` in
    ``s^2`` is within ``2^-58.45`` of ``2 atanh(s)/s - 2`` on that range [3]_. Last, ``log(u) = log(m) -
    e ln2_lo - e ln2_hi`` where ``e ln2_hi`` is exact (``ln2_hi`` has 21 trailing zero bits, ``e < 2^6``).
    """
    m = u
    e = 0.0
    scale, bit = 4294967296.0, 32.0  # 2^32: the bits of e from the highest
    for _ in range(6):
        grown = m * scale
        take = grown < SQRT2
        m = grown if take else m
        e = e + bit if take else e
        bit *= 0.5
        scale = math.sqrt(scale)  # 2^2b -> 2^b, exact
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    r = z * (LG1 + z * (LG2 + z * (LG3 + z * (LG4 + z * (LG5 + z * (LG6 + z * LG7))))))
    log_m = 2.0 * s + s * r  # the leading term added last: it carries the result's size
    return (log_m - e * LN2_LO) - e * LN2_HI


@device_function(inline=True)
def sincos_turn(u):
    """``(cos(2 pi u), sin(2 pi u))`` for ``0 <= u <= 1``, in straight-line arithmetic.

    Reduction in turns, exact: ``w = 4 u``, the quadrant ``q = floor(w + 1/2)`` and ``f = w - q`` in
    ``[-1/2, 1/2]`` (both exact in binary, ``0 <= w <= 4``), so ``2 pi u = q pi/2 + r`` with
    ``r = f pi/2``, ``|r| <= pi/4``, rounded once. On that range fdlibm's minimax polynomials
    ``sin r = r + r^3 (S1 + ... + S6 r^10)`` and ``cos r = 1 - r^2/2 + r^4 (C1 + ... + C6 r^10)`` are
    within ``2^-58`` of the functions [3]_, and the quadrant rotates them: ``q = 1``: ``(-sin r, cos r)``,
    ``q = 2``: ``(-cos r, -sin r)``, ``q = 3``: ``(sin r, -cos r)``, ``q = 0`` or ``4``: ``(cos r, sin r)``;
    all selects.
    """
    w = 4.0 * u
    q = math.floor(w + 0.5)
    r = (w - q) * PI_HALF
    z = r * r
    sin_r = r + (z * r) * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))))
    cos_r = 1.0 - (0.5 * z - (z * z) * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6))))))
    odd = (q == 1.0) | (q == 3.0)  # bitwise: no branches in a vectorised loop
    cos_part = sin_r if odd else cos_r
    sin_part = cos_r if odd else sin_r
    cos_sign = -1.0 if (q == 1.0) | (q == 2.0) else 1.0
    sin_sign = -1.0 if (q == 2.0) | (q == 3.0) else 1.0
    return cos_sign * cos_part, sin_sign * sin_part
