"""Philox4x32-10 counter-based random numbers, as per-particle device math.

Every random number is a pure function of ``(seed, particle, step, slot, coordinate)``, so a run
is reproducible whatever the batch size, the order particles are visited in, or the backend.
Only 32x32 -> 64-bit products and masked additions are used: no uint64 overflow anywhere, which
keeps the Numba CUDA simulator (plain NumPy scalars) free of overflow warnings.

Counters ``(c0, c1, c2, c3)`` with key ``(seed mod 2^32, seed div 2^32)``: ``c0`` the step, ``c1`` the
particle (mod ``2^32``), ``c2`` the slot, and ``c3``: ``g < 2^31`` for the fast path of the normals
``4 g .. 4 g + 3`` (:func:`fill_normals`), ``2^31 + 2^8 j + a`` for the slow path's attempt ``a`` of
coordinate ``j`` (:func:`ziggurat_resolve`), ``2^32 - 1`` for :func:`uniform`: no two draws share a
counter while ``j < 2^23 - 1``. The particle, which changes from lane to lane of a vectorised loop, sits in
``c1``, which the first round does not multiply: 16 of a call's 20 products then differ between lanes (18
with the particle in ``c0``), the rest are computed once per loop.

References
----------
.. [1] J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers: as easy as
   1, 2, 3", SC 2011.
.. [2] G. Marsaglia, W. W. Tsang, "The ziggurat method for generating random variables", Journal of
   Statistical Software 5(8), 2000.
.. [3] J. A. Doornik, "An improved ziggurat method to generate normal random samples", University of
   Oxford, 2005.
"""

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .elementary import exp_nonpositive, log_unit
from .jit import device_function
from .ziggurat import ZIGGURAT_F, ZIGGURAT_LAYERS, ZIGGURAT_X

PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint64(0x9E3779B9)
PHILOX_W1 = np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
SHIFT5 = np.uint64(5)
SHIFT6 = np.uint64(6)


@device_function(inline=True)
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on the 4x32-bit counter ``(c0..c3)`` with 2x32-bit key ``(k0, k1)``.

    The words are taken modulo ``2^32`` on entry (callers pass 32-bit words: no value changes), so the
    compiler knows every product is of two 32-bit numbers (one ``vpmuludq``, not a 64-bit ``vpmullq``).
    """
    c0, c1, c2, c3 = c0 & MASK32, c1 & MASK32, c2 & MASK32, c3 & MASK32
    k0, k1 = k0 & MASK32, k1 & MASK32
    for _ in range(10):
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        n0 = (p1 >> SHIFT32) ^ c1 ^ k0
        n1 = p1 & MASK32
        n2 = (p0 >> SHIFT32) ^ c3 ^ k1
        n3 = p0 & MASK32
        c0, c1, c2, c3 = n0, n1, n2, n3
        k0 = (k0 + PHILOX_W0) & MASK32
        k1 = (k1 + PHILOX_W1) & MASK32
    return c0, c1, c2, c3


#: the largest double below 1
BELOW_ONE = 0.9999999999999999


@device_function(inline=True)
def unit_open(hi, lo):
    """A 53-bit uniform strictly inside (0, 1) from two 32-bit words: ``(k + 1/2) 2^-53``, whose largest value
    ``1 - 2^-54`` rounds to 1, so it is capped at the double below 1 (that one value of ``2^53`` changes)."""
    bits = np.float64(hi >> SHIFT5) * 67108864.0 + np.float64(lo >> SHIFT6)
    u = (bits + 0.5) * 1.1102230246251565e-16
    return u if u < 1.0 else BELOW_ONE  # a select, not a call: loops of draws still vectorise


@device_function
def uniform(key0, key1, particle, step, slot):
    """One uniform on (0, 1) for ``(particle, step, slot)``; coordinate word fixed to all ones."""
    r0, r1, r2, r3 = philox4x32(step & MASK32, particle & MASK32, slot & MASK32, MASK32, key0, key1)
    return unit_open(r0, r1)


#: a normal's fast path takes one 32-bit Philox word: its low 10 bits are the layer (9 bits) and the sign, its high
#: 22 bits the uniform ``k``
UNIFORM_BITS = 22
UNIFORM_SHIFT = np.uint64(32 - UNIFORM_BITS)
BOUND_MASK = np.uint64(2**UNIFORM_BITS - 1)
#: the ziggurat's layer widths over ``2^22``: a candidate is ``k w_i`` for a 22-bit ``k``, and the scaling is exact
ZIGGURAT_WIDTH = ZIGGURAT_X * 2.0**-UNIFORM_BITS
ZIGGURAT_BASE = float(ZIGGURAT_X[1])  # r, where the tail starts
LAYER_MASK = np.uint64(ZIGGURAT_LAYERS - 1)
SHIFT8 = np.uint64(8)
SHIFT16 = np.uint64(16)
LANE_MASK = np.uint64(65535)
ATTEMPT_MASK = np.uint64(255)


def _with_low_bits(width, low):
    """The positive doubles ``width`` with the low :data:`UNIFORM_BITS` bits of their mantissas replaced by ``low``."""
    bits = width.view(np.uint64) & ~BOUND_MASK
    return (bits | low.astype(np.uint64)).view(np.float64)


def _fast_path_tables():
    """``(signed widths, bounds)``, indexed by a normal's 10 bits ``s 2^9 + i`` (sign ``s``, layer ``i``).

    The width is ``(-1)^s w'_i``: ``w_i`` with the low 22 bits of its mantissa replaced by the bound ``K_i``, the
    least ``k`` with ``fl(k w'_i) >= x_{i+1}`` (found by a fixed-point search, as ``K_i`` moves ``w'_i`` by at
    most ``2^-30`` relatively), so that ``k < K_i`` exactly where ``fl(k w'_i) < x_{i+1}`` (rounding is monotone).
    The CPU reads ``K_i`` off the width's bits (one table read a normal); CUDA reads the bounds' own table.
    """
    width = ZIGGURAT_WIDTH[:-1]
    above = ZIGGURAT_X[1:]
    bound = np.zeros(width.size, dtype=np.int64)
    for _ in range(8):
        packed = _with_low_bits(width, bound)
        least = np.ceil(above / packed).astype(np.int64)
        for _ in range(4):  # the quotient rounded: move to the least k whose product reaches x_{i+1}
            least = np.where(least.astype(np.float64) * packed >= above, least, least + 1)
            least = np.where((least - 1).astype(np.float64) * packed >= above, least - 1, least)
        least = np.maximum(least, 0)
        if np.array_equal(least, bound):
            break
        bound = least
    packed = _with_low_bits(width, bound)
    return np.concatenate([packed, -packed]), np.concatenate([bound, bound]).astype(np.uint64)


#: the fast path's tables by a normal's sign and layer bits: the signed widths carry the bounds in their low bits
SIGNED_WIDTH, FAST_BELOW = _fast_path_tables()
CANDIDATE_BITS = np.uint64(1023)
#: the counter word of a slow-path draw has its top bit set; a fast-path group index stays below ``2^31``
FIXUP_FLAG = np.uint64(1 << 31)


@intrinsic
def _llvm_fast_bound(typingctx, width, index):
    """:func:`fast_bound` from the bits of ``width`` (its low 22 bits)."""
    signature = types.uint64(types.float64, types.uint64)

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        return builder.and_(builder.bitcast(args[0], i64), ir.Constant(i64, 2**UNIFORM_BITS - 1))

    return signature, codegen


@device_function(inline=True, cpu_native=_llvm_fast_bound)
def fast_bound(width, index):
    """``K_i``, the fast path's bound for the normal's ``index`` whose signed width ``SIGNED_WIDTH[index]`` is
    ``width``: read from :data:`FAST_BELOW` here (CUDA), from the width's low bits on the CPU; the same number."""
    return FAST_BELOW[index]


@device_function(inline=True)
def ziggurat_candidate(word):
    """The ziggurat's fast path for the 32-bit Philox ``word`` (layer ``i`` its bits 0-8, the sign bit 9, the
    uniform ``k = word >> 10``): ``+-fl(k w'_i)`` where that lies inside layer ``i``'s core (``fl(k w'_i) <
    x_{i+1}``, so under the curve whatever the height), else NaN, for :func:`ziggurat_resolve`. Straight-line
    arithmetic and one table read on the CPU (:data:`SIGNED_WIDTH`, the bound in its low bits), so a loop of
    them vectorises."""
    index = word & CANDIDATE_BITS
    k = word >> UNIFORM_SHIFT
    width = SIGNED_WIDTH[index]
    z = np.float64(k) * width
    return z if k < fast_bound(width, index) else np.nan


SIGN_BIT = np.uint64(1 << 9)


@device_function(inline=True)
def ziggurat_tail_attempt(word, w0, w1, w2, w3):
    """One attempt of the slow path in the base (layer 0): Marsaglia's tail draw ``+-(r + t)``, or NaN
    (:func:`ziggurat_resolve`)."""
    t = -log_unit(unit_open(w0, w1)) / ZIGGURAT_BASE
    tail = ZIGGURAT_BASE + t
    return (-tail if word & SIGN_BIT else tail) if -2.0 * log_unit(unit_open(w2, w3)) > t * t else np.nan


@device_function(inline=True)
def ziggurat_wedge_attempt(word, w0, w1, w2, w3):
    """One attempt of the slow path in a layer ``i >= 1``: ``(z, word')``, the normal ``z``, or NaN and the word of
    the next attempt (:func:`ziggurat_resolve`)."""
    layer = word & LAYER_MASK
    x = np.float64(word >> UNIFORM_SHIFT) * SIGNED_WIDTH[layer]
    low, high = ZIGGURAT_F[layer], ZIGGURAT_F[layer + np.uint64(1)]
    again = (w0 & ~SIGN_BIT) | (word & SIGN_BIT)
    if low + unit_open(w2, w3) * (high - low) < exp_nonpositive(-0.5 * x * x):
        return (-x if word & SIGN_BIT else x), again
    return ziggurat_candidate(again), again


@device_function(inline=True)
def fixup_counter(coordinate, attempt):
    """The Philox counter word of the slow path's ``attempt`` for ``coordinate``: ``2^31 + 2^8 coordinate +
    (attempt mod 256)``."""
    return FIXUP_FLAG | (np.uint64(coordinate) << SHIFT8) | (np.uint64(attempt) & ATTEMPT_MASK)


@device_function
def ziggurat_resolve(word, key0, key1, particle, step, slot, coordinate):
    """The normal of ``coordinate`` whose fast-path ``word`` was rejected: attempts on the Philox words ``w0 .. w3``
    of the counters ``(step, particle, slot, fixup_counter(coordinate, a))``, ``a = 0, 1, ...``, until one gives
    a normal. Each attempt ends the loop with probability above one half; the attempt is taken modulo 256
    (``coordinate < 2^23 - 1``).

    Layer ``i >= 1`` (:func:`ziggurat_wedge_attempt`): the candidate ``x = fl(k w'_i)`` lies in the wedge; with
    ``y`` uniform on ``[f(x_i), f(x_{i+1})]`` (from ``w2, w3``), ``x`` is accepted where ``y < f(x)``; else
    the whole ziggurat starts again with the word ``w0`` (its layer and uniform), the sign kept (sign and
    magnitude are independent), through the fast path or as the next attempt's word. Base ``i = 0``
    (:func:`ziggurat_tail_attempt`): the candidate fell in the part ``[r, x_0]`` of the base that stands
    for the tail, whose value is Marsaglia's tail draw ``r + t`` with ``t = -log(u_1) / r`` (``u_1`` from
    ``w0, w1``), kept where ``-2 log(u_2) > t^2`` (``u_2`` from ``w2, w3``), else tried again [2]_.
    """
    attempt = 0
    z = np.nan
    while z != z:
        w0, w1, w2, w3 = philox4x32(
            step & MASK32, particle & MASK32, slot & MASK32, fixup_counter(coordinate, attempt), key0, key1
        )
        if word & LAYER_MASK == np.uint64(0):
            z = ziggurat_tail_attempt(word, w0, w1, w2, w3)
        else:
            z, word = ziggurat_wedge_attempt(word, w0, w1, w2, w3)
        attempt += 1
    return z


@device_function
def ziggurat_normal(word, key0, key1, particle, step, slot, coordinate):
    """Coordinate ``coordinate``, the normal of the Philox ``word``."""
    z = ziggurat_candidate(word)
    return z if z == z else ziggurat_resolve(word, key0, key1, particle, step, slot, coordinate)


@device_function
def fill_normals(out, key0, key1, particle, step, slot):
    """Fill ``out`` with standard normals for ``(particle, step, slot)`` by the ziggurat method [2]_ [3]_.

    Coordinates ``4 g .. 4 g + 3`` come from one Philox call on the counter ``(step, particle, slot, g)``, one
    32-bit word each: its bits 0-8 are the layer (512 layers), bit 9 the sign and bits 10-31 the uniform ``k``.
    :func:`ziggurat_candidate` is the fast path; a rejection (about one coordinate in 125) goes to
    :func:`ziggurat_resolve`.

    The law [2]_. For exact tables, a continuous uniform ``U`` and exact ``f = exp(-x^2 / 2)``: a layer ``i
    >= 1`` drawn uniformly (probability ``1/512``) and ``X = U x_i``, with ``Y`` uniform on ``[f(x_i),
    f(x_{i+1})]``, make ``(X, Y)`` uniform on the layer's rectangle. The fast path keeps ``X < x_{i+1}``
    (then ``Y < f(x_{i+1}) <= f(X)``: under the curve whatever ``Y``, so ``Y`` is never drawn), the slow
    path keeps ``Y < f(X)``: the kept points are those of the rectangle under the curve. In the base,
    ``X < r`` is kept (``[0, r] x [0, f(r)]`` lies under the curve) and ``X >= r``, of probability ``(x_0
    - r) / x_0 = int_r^inf f / v``, is replaced by a tail draw of density ``f(x) / int_r^inf f`` on ``x >
    r``. Every piece has area ``v``, so a kept ``X`` has density ``f`` over its integral on ``[0, inf)``;
    a rejected try starts an independent new one, which leaves that law as it is, and the sign bit,
    independent of all the magnitude uses, makes it N(0, 1).

    Where this differs from that law: ``U = k / 2^22`` takes ``2^22`` values, so ``X = fl(k w'_i)`` lies on a
    grid of spacing ``x_i 2^-22 <= 9.8e-7``; the widths ``w'_i`` carry the fast path's bound in their low 22
    bits (relative change at most ``2^-30``, :data:`SIGNED_WIDTH`); ``Y`` and the tail's uniforms have 53
    bits, the tables are rounded to doubles and ``f``, ``log`` are within two ulps
    (:func:`~.elementary.exp_nonpositive`, :func:`~.elementary.log_unit`). The fast and the slow path give a
    core point the same ``fl(k w'_i)``, so which one takes it changes no number.
    """
    d = out.shape[0]
    c0, c1, c2 = step & MASK32, particle & MASK32, slot & MASK32
    for g in range((d + 3) // 4):
        r0, r1, r2, r3 = philox4x32(c0, c1, c2, np.uint64(g), key0, key1)
        i = 4 * g
        out[i] = ziggurat_normal(r0, key0, key1, particle, step, slot, i)
        if i + 1 < d:
            out[i + 1] = ziggurat_normal(r1, key0, key1, particle, step, slot, i + 1)
        if i + 2 < d:
            out[i + 2] = ziggurat_normal(r2, key0, key1, particle, step, slot, i + 2)
        if i + 3 < d:
            out[i + 3] = ziggurat_normal(r3, key0, key1, particle, step, slot, i + 3)


@intrinsic
def _llvm_lowest_set_bit(typingctx, mask):
    """:func:`lowest_set_bit` as LLVM's ``cttz`` (one ``tzcnt``)."""
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        fn = builder.module.declare_intrinsic("llvm.cttz", [i64], ir.FunctionType(i64, [i64, ir.IntType(1)]))
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])

    return signature, codegen


@device_function(inline=True, cpu_native=_llvm_lowest_set_bit)
def lowest_set_bit(mask):
    """The index of the lowest set bit of a nonzero ``uint64`` ``mask`` (here bit by bit; an instruction on the
    CPU)."""
    q = np.uint64(0)
    while (mask >> q) & np.uint64(1) == np.uint64(0):
        q += np.uint64(1)
    return q


@device_function(inline=True)
def _draw_word(r0, r1, r2, r3, j):
    """Word ``j < 4`` (a ``uint64``) of a draw, by selects on its two bits (vectorises; compares of ``j`` with 0, 1
    and 2 become a branch table, which does not)."""
    odd = (j & np.uint64(1)) != np.uint64(0)
    low, high = (r1 if odd else r0), (r3 if odd else r2)
    return high if (j & np.uint64(2)) != np.uint64(0) else low


@device_function
def draw_normal_rows(buf, pending, listed, row, key0, key1, first, step, slot):
    """The fast path of the draw for rows ``row .. row + m - 1`` (``row`` a multiple of 4, ``m <= 4`` the rows of
    ``buf`` ``(m, L)``) of :func:`fill_normals`'s numbers, for the particles ``first, first + 1, ...``, one per
    column of ``buf``: the normals, NaN where the fast path rejects. The rejections are listed in
    ``pending[0]`` (``2^16 row' + lane`` for row ``row'``, ``L < 2^16``) after the ``listed`` already there
    while ``P - 8`` (``pending`` is ``(2, P)``, ``P >= L``) leaves room, else resolved in place one by one;
    returns the new count. :func:`finish_normals` resolves the listed ones.

    The loops over the particles are free of calls, so on the CPU they run in vector registers, one
    particle per lane: the draws, then for 64 lanes at a time each lane's rejected rows as the bits of a code
    (kept in ``pending[1]``, free until :func:`finish_normals`) and the lanes with one as the bits of a mask.
    Only those lanes are looked at one by one, and in them only the rejected rows.
    """
    m, n_lanes = buf.shape
    c0, c2 = step & MASK32, slot & MASK32
    counter = np.uint64(row // 4)
    # a loop per row count: one loop writing all four words, to rows clamped to m - 1, ran the ring's two rows
    # far slower than this
    if m == 4:
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32(c0, (first + np.uint64(p)) & MASK32, c2, counter, key0, key1)
            buf[0, p] = ziggurat_candidate(r0)
            buf[1, p] = ziggurat_candidate(r1)
            buf[2, p] = ziggurat_candidate(r2)
            buf[3, p] = ziggurat_candidate(r3)
    elif m == 3:
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32(c0, (first + np.uint64(p)) & MASK32, c2, counter, key0, key1)
            buf[0, p] = ziggurat_candidate(r0)
            buf[1, p] = ziggurat_candidate(r1)
            buf[2, p] = ziggurat_candidate(r2)
    elif m == 2:
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32(c0, (first + np.uint64(p)) & MASK32, c2, counter, key0, key1)
            buf[0, p] = ziggurat_candidate(r0)
            buf[1, p] = ziggurat_candidate(r1)
    else:
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32(c0, (first + np.uint64(p)) & MASK32, c2, counter, key0, key1)
            buf[0, p] = ziggurat_candidate(r0)
    room = pending.shape[1] - 8
    second, third, fourth = min(1, m - 1), min(2, m - 1), min(3, m - 1)  # a short draw reads its last row again
    rows = np.uint64((1 << m) - 1)  # and keeps the bits of its own rows
    row64 = np.uint64(row)
    for chunk in range(0, n_lanes, 64):
        mask = np.uint64(0)
        start = np.uint64(chunk)
        for b in range(min(64, n_lanes - chunk)):
            lane = start + np.uint64(b)  # unsigned: no negative-index select, so the loop vectorises
            z0, z1, z2, z3 = buf[0, lane], buf[second, lane], buf[third, lane], buf[fourth, lane]
            code = (np.uint64(1) if z0 != z0 else np.uint64(0)) | (np.uint64(2) if z1 != z1 else np.uint64(0))
            code |= (np.uint64(4) if z2 != z2 else np.uint64(0)) | (np.uint64(8) if z3 != z3 else np.uint64(0))
            code &= rows
            pending[1, lane] = np.float64(code)
            mask |= (np.uint64(1) if code != np.uint64(0) else np.uint64(0)) << np.uint64(b)
        while mask != np.uint64(0):
            lane = start + lowest_set_bit(mask)
            mask &= mask - np.uint64(1)
            code = np.uint64(pending[1, lane])
            while code != np.uint64(0):
                j = lowest_set_bit(code)
                code &= code - np.uint64(1)
                if listed < room:
                    pending[0, listed] = np.float64(((row64 + j) << SHIFT16) | lane)
                    listed += 1
                    continue
                particle = first + lane
                r0, r1, r2, r3 = philox4x32(c0, particle & MASK32, c2, counter, key0, key1)
                buf[j, lane] = ziggurat_resolve(
                    _draw_word(r0, r1, r2, r3, j), key0, key1, particle, step, slot, row64 + j
                )
    return listed


@device_function(inline=True)
def listed_place(pending, q):
    """``(row, lane)`` of the ``q``-th rejection that :func:`draw_normal_rows` listed."""
    place = np.uint64(pending[0, q])
    return place >> SHIFT16, place & LANE_MASK


@device_function(inline=True)
def _listed_word(pending, q, key0, key1, first, c0, c2):
    """``(particle, row, word)`` of the ``q``-th rejection that :func:`draw_normal_rows` listed: its particle, its
    row and the Philox word its fast path rejected."""
    row, lane = listed_place(pending, q)
    particle = first + lane
    r0, r1, r2, r3 = philox4x32(c0, particle & MASK32, c2, row >> np.uint64(2), key0, key1)
    return particle, row, _draw_word(r0, r1, r2, r3, row & np.uint64(3))


@device_function
def finish_normals(pending, listed, key0, key1, first, step, slot):
    """The normals of the ``listed`` rejections of :func:`draw_normal_rows` into ``pending[1]``, their places
    (:func:`listed_place`) in ``pending[0]``: the slow path's first wedge attempt for the whole list in a loop
    that vectorises (padded to a multiple of 8 entries, so that no scalar remainder runs), then the entries in
    the base (about 1.5% of them: the tail's two logarithms are not worth a vector) and those that need more
    resolved one by one by :func:`ziggurat_resolve`, the same arithmetic; a list of fewer than 4 is resolved one
    by one."""
    c0, c2 = step & MASK32, slot & MASK32
    if listed >= 4:  # below, one vector of attempts costs more than the few one by one
        padded = (listed + 7) // 8 * 8
        for q in range(listed, padded):  # copies of the first entry: computed, never used
            pending[0, q] = pending[0, 0]
        for q in range(padded):
            particle, row, word = _listed_word(pending, q, key0, key1, first, c0, c2)
            w0, w1, w2, w3 = philox4x32(c0, particle & MASK32, c2, fixup_counter(row, 0), key0, key1)
            wedge_z = ziggurat_wedge_attempt(word, w0, w1, w2, w3)[0]
            pending[1, q] = wedge_z if word & LAYER_MASK != np.uint64(0) else np.nan
    else:
        for q in range(listed):
            pending[1, q] = np.nan
    for q in range(listed):
        if pending[1, q] != pending[1, q]:  # not done by a first attempt: the whole slow path, one by one
            particle, row, word = _listed_word(pending, q, key0, key1, first, c0, c2)
            pending[1, q] = ziggurat_resolve(word, key0, key1, particle, step, slot, row)


@device_function
def add_listed_normals(x, scale, pending, listed, key0, key1, first, step, slot):
    """``x[i, p] += scale z`` for the ``listed`` rejections of :func:`draw_normal_rows`, each with its normal ``z``
    (:func:`finish_normals`); returns 0, the new count. A step that adds its noise draw by draw calls it when
    the list is half full and after the last draw: for each entry the same two additions in the same order
    whenever it runs."""
    if listed > 0:
        finish_normals(pending, listed, key0, key1, first, step, slot)
    for q in range(listed):
        i, p = listed_place(pending, q)
        x[i, p] = x[i, p] + scale * pending[1, q]
    return 0


@device_function
def fill_block_normals(out, pending, key0, key1, first, step, slot):
    """:func:`fill_normals` for a block ``out`` ``(d, L)`` of particles ``first, first + 1, ...``, one per column
    (``L < 2^16``): the same numbers, by :func:`draw_normal_rows` on each draw's rows of ``out`` and
    :func:`finish_normals`. ``pending`` is ``(2, P)`` scratch with ``P >= L``; past ``P - 8`` rejections (all of
    them where ``P <= 8``, as for a CUDA thread's block of one) they are resolved in place one by one.

    A step that adds the noise to its state at once need not store the block: it can draw into four
    rows, add them with each rejection's NaN taken as ``-0`` (which leaves every sum as it was), and add
    :func:`finish_normals`' values at their places later (:func:`add_listed_normals`); as ``(a + -0) + b =
    a + b`` in floating point, the state is the same to the bit.
    """
    d = out.shape[0]
    listed = 0
    for row in range(0, d, 4):
        listed = draw_normal_rows(out[row : min(row + 4, d)], pending, listed, row, key0, key1, first, step, slot)
    if listed > 0:
        finish_normals(pending, listed, key0, key1, first, step, slot)
    for q in range(listed):
        i, p = listed_place(pending, q)
        out[i, p] = pending[1, q]


#: the rows of per-particle scratch that :func:`fill_block_normals` lists its slow path in
NOISE_LANE_ROWS = 2

# Slots keep the independent streams of one step apart; solvers with more draws take 1, 2, ...
SLOT_BROWNIAN = np.uint64(0)
