"""Straight-line elementary functions, so that a loop of them over particles vectorises.

``math.exp``, ``math.log``, ``math.cos`` and ``math.sin`` are library calls that stop a loop over
particles from vectorising (pip's Numba has no vector math library). :func:`exp_nonpositive` and
:func:`expm1_nonpositive` serve the block scores' softmax and per-lane times
(:mod:`certsample.kernels.score`); :func:`log_unit` the tail draws of the ziggurat's
slow path (:func:`certsample.kernels.philox.ziggurat_resolve`), :func:`exp_nonpositive` its wedge test;
:func:`fma` a multiply-add rounded once. The transforms use only arithmetic,
comparisons, selects and ``math.sqrt``/``math.floor`` (single instructions; on the CPU, :func:`reduce_unit`
reads a unit's exponent and mantissa off its bits, the same numbers as its selects), on a uniform ``u`` in
``(0, 1]`` built from at most 53 bits (:func:`log_unit`). They
compile for the CPU and CUDA alike. Their accuracy against correctly rounded values is tested
(``tests/test_noise.py``); measured figures are in docs/performance.md.

References
----------
.. [1] W. J. Cody, W. Waite, "Software Manual for the Elementary Functions", Prentice-Hall 1980
   (argument reduction by exact scalings and splits of the constant).
.. [2] J.-M. Muller, "Elementary Functions: Algorithms and Implementation", 3rd ed., Birkhaeuser 2016,
   sections 11.1-11.3.
.. [3] Sun Microsystems, fdlibm 5.3 (1993): ``e_log.c`` (the minimax
   coefficients and their error bounds), https://www.netlib.org/fdlibm/.
"""

import math

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .jit import device_function

SQRT2 = 1.4142135623730951
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: the high part has 21 trailing zero bits
LN2_LO = 1.90821492927058770002e-10


# fdlibm's minimax coefficients [3]: e_log.c (Lg1..Lg7)
LG1, LG2 = 6.666666666666735130e-01, 3.999999999940941908e-01
LG3, LG4 = 2.857142874366239149e-01, 2.222219843214978396e-01
LG5, LG6, LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01


@intrinsic
def _llvm_reduce_unit(typingctx, u):
    """:func:`reduce_unit` from the bits of ``u``: its exponent field and its mantissa as a double in ``[1, 2)``,
    halved (and the exponent raised) at ``sqrt(2)`` and above."""
    signature = types.UniTuple(types.float64, 2)(types.float64)

    def codegen(context, builder, sig, args):
        double, i64 = ir.DoubleType(), ir.IntType(64)
        bits = builder.bitcast(args[0], i64)
        field = builder.lshr(bits, ir.Constant(i64, 52))
        mantissa_bits = builder.or_(builder.and_(bits, ir.Constant(i64, 2**52 - 1)), ir.Constant(i64, 1023 << 52))
        mantissa = builder.bitcast(mantissa_bits, double)
        big = builder.fcmp_ordered(">=", mantissa, ir.Constant(double, SQRT2))
        m = builder.select(big, builder.fmul(mantissa, ir.Constant(double, 0.5)), mantissa)
        e = builder.sub(builder.sub(ir.Constant(i64, 1023), field), builder.zext(big, i64))
        return context.make_tuple(builder, sig.return_type, [m, builder.sitofp(e, double)])

    return signature, codegen


@device_function(inline=True, cpu_native=_llvm_reduce_unit)
def reduce_unit(u):
    """``(m, e)`` with ``u = m 2^-e``, ``m`` in ``[sqrt(2)/2, sqrt(2))`` and the integer ``e`` (a float), for
    ``2^-60 <= u <= 1``: the largest ``e <= 63`` with ``u 2^e < sqrt(2)``.

    Here found bit by bit from the highest (scalings by ``2^b`` are exact: no underflow above ``2^-60``),
    six selects, which is what CUDA runs; the CPU build reads the same ``m`` and ``e`` off the bits of
    ``u`` (an LLVM intrinsic: a shift, two masks, one comparison), both exact, so the bits agree.
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
    return m, e


@device_function(inline=True)
def log_unit(u):
    """``log(u)`` for ``2^-60 <= u <= 1``, in straight-line arithmetic.

    Reduction: ``u = m 2^-e`` with ``m`` in ``[sqrt(2)/2, sqrt(2))`` and the integer ``0 <= e <= 63``
    (:func:`reduce_unit`). Then ``log(m) = 2 atanh(s) = 2 s + s R(s^2)`` with ``s = (m - 1) / (m + 1)``,
    ``|s| <= 3 - 2 sqrt(2) < 0.1716`` (``m - 1`` is exact, Sterbenz), where fdlibm's degree-7 minimax
    polynomial ``R`` in ``s^2`` is within ``2^-58.45`` of ``2 atanh(s)/s - 2`` on that range [3]_. Last,
    ``log(u) = log(m) - e ln2_lo - e ln2_hi`` where ``e ln2_hi`` is exact (``ln2_hi`` has 21 trailing zero
    bits, ``e < 2^6``).
    """
    m, e = reduce_unit(u)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    r = z * fma(z, fma(z, fma(z, fma(z, fma(z, fma(z, LG7, LG6), LG5), LG4), LG3), LG2), LG1)
    log_m = fma(s, r, 2.0 * s)  # the leading term added last: it carries the result's size
    return (log_m - e * LN2_LO) - e * LN2_HI


#: ``2^-j`` for ``j = 0 .. 127``, exact: :func:`exp_nonpositive`'s scale, one gather per vector of lanes
POWERS_OF_HALF = np.array([2.0**-j for j in range(128)])


@intrinsic
def _llvm_power_of_half(typingctx, m):
    """:func:`power_of_half` from the bits: the exponent field ``1023 - m`` shifted into place."""
    signature = types.float64(types.float64)

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        field = builder.sub(ir.Constant(i64, 1023), builder.fptosi(args[0], i64))
        return builder.bitcast(builder.shl(field, ir.Constant(i64, 52)), ir.DoubleType())

    return signature, codegen


@device_function(inline=True, cpu_native=_llvm_power_of_half)
def power_of_half(m):
    """``2^-m`` for an integer ``0 <= m <= 127`` (a float), exact: from :data:`POWERS_OF_HALF` here and on
    CUDA (a gather in a vectorised loop), from the bits of the result on the CPU; the same numbers."""
    return POWERS_OF_HALF[int(m)]


@device_function
def exp_nonpositive(x):
    """``e^x`` for ``-88 <= x <= 0`` in straight-line arithmetic, so a loop of them vectorises.

    Cody-Waite reduction ``x = -m ln 2 + r`` with ``|r| <= ln 2 / 2`` (``m ln2_hi`` is exact: ``ln2_hi``
    has 21 trailing zero bits and ``m < 2^7``), the degree-13 Taylor polynomial of ``e^r`` in Horner
    form with fused multiply-adds (truncation ``|r|^14 / 14! < 5e-18``), then times ``2^-m``, exact
    (:func:`power_of_half`: a table on CUDA, the bits on the CPU). Tested against ``math.exp`` on
    ``[-88, 0]`` to two ulps (``tests/test_blocks.py``; the measured error is in docs/performance.md).
    """
    m = math.floor(0.5 - x * LOG2E)
    r = (x + m * LN2_HI) + m * LN2_LO
    p = 1.0 / 6227020800.0
    p = fma(p, r, 1.0 / 479001600.0)
    p = fma(p, r, 1.0 / 39916800.0)
    p = fma(p, r, 1.0 / 3628800.0)
    p = fma(p, r, 1.0 / 362880.0)
    p = fma(p, r, 1.0 / 40320.0)
    p = fma(p, r, 1.0 / 5040.0)
    p = fma(p, r, 1.0 / 720.0)
    p = fma(p, r, 1.0 / 120.0)
    p = fma(p, r, 1.0 / 24.0)
    p = fma(p, r, 1.0 / 6.0)
    p = fma(p, r, 0.5)
    p = fma(p, r, 1.0)
    p = fma(p, r, 1.0)
    return p * power_of_half(m)


@device_function
def expm1_nonpositive(x):
    """``e^x - 1`` for ``x <= 0`` in straight-line arithmetic (see :func:`exp_nonpositive`).

    On ``[-1/2, 0]`` the degree-16 Taylor polynomial ``x (1 + x / 2! + ... + x^15 / 16!)`` in
    Horner form, which keeps the relative accuracy of small ``x`` (truncation ``|x|^17 / 17!``,
    under ``1e-19`` of the result, at least ``|x| e^{-1/2}``); below, ``e^x - 1`` with
    ``|e^x - 1| >= 0.39``, so the subtraction loses at most two bits. Below ``-88`` the result is
    ``-1`` to the last bit.
    """
    # its own Horner chain: the series shared with exp_nonpositive through a helper (a tuple of
    # coefficients, or one polynomial for both) made the ring's block score slower (docs/performance.md)
    p = 1.0 / 20922789888000.0
    p = p * x + 1.0 / 1307674368000.0
    p = p * x + 1.0 / 87178291200.0
    p = p * x + 1.0 / 6227020800.0
    p = p * x + 1.0 / 479001600.0
    p = p * x + 1.0 / 39916800.0
    p = p * x + 1.0 / 3628800.0
    p = p * x + 1.0 / 362880.0
    p = p * x + 1.0 / 40320.0
    p = p * x + 1.0 / 5040.0
    p = p * x + 1.0 / 720.0
    p = p * x + 1.0 / 120.0
    p = p * x + 1.0 / 24.0
    p = p * x + 1.0 / 6.0
    p = p * x + 0.5
    p = p * x + 1.0
    far = exp_nonpositive(max(x, -88.0)) - 1.0
    return x * p if x >= -0.5 else far


@intrinsic
def _llvm_fma(typingctx, a, b, c):
    """LLVM's ``fma`` on float64: one rounding, vectorised in loops (``vfmadd``)."""
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, sig, args):
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double], ir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return signature, codegen


@device_function(cpu_native=_llvm_fma)
def fma(a, b, c):
    """``a b + c`` rounded once on the CPU (``llvm.fma``); on CUDA the compiler contracts this product and
    sum into its own fused multiply-add; plain ``a * b + c`` where the CUDA simulator runs it as Python.

    Explicit, so that a block's vectorised loop and the one-lane loop that must reproduce it bit for bit
    round the same way: Numba compiles without floating-point contraction, and contraction left to the
    compiler could fuse different pairs in the two.
    """
    return a * b + c
