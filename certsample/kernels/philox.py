"""Philox4x32-10 counter-based random numbers, as per-particle device math.

Every random number is a pure function of ``(seed, particle, step, slot, coordinate)``, so a run
is reproducible whatever the batch size, the order particles are visited in, or the backend.
Only 32x32 -> 64-bit products and masked additions are used: no uint64 overflow anywhere, which
keeps the Numba CUDA simulator (plain NumPy scalars) free of overflow warnings.

Counters ``(c0, c1, c2, c3)`` with key ``(seed mod 2^32, seed div 2^32)``: ``c0`` the particle (mod
``2^32``), ``c1`` the step, ``c2`` the slot, and ``c3``: ``g < 2^31`` for the fast path of the normals
``3 g .. 3 g + 2`` (:func:`fill_normals`), ``2^31 + 2^8 j + a`` for the slow path's attempt ``a`` of
coordinate ``j`` (:func:`ziggurat_resolve`), ``2^32 - 1`` for :func:`uniform`: no two draws share a
counter while ``j < 2^23 - 1``.

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
SHIFT20 = np.uint64(20)
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
    r0, r1, r2, r3 = philox4x32(particle & MASK32, step & MASK32, slot & MASK32, MASK32, key0, key1)
    return unit_open(r0, r1)


#: the ziggurat's layer widths over ``2^32``: a candidate is ``k w_i`` for a 32-bit ``k``, and the scaling is exact
ZIGGURAT_WIDTH = ZIGGURAT_X * 2.0**-32
ZIGGURAT_BASE = float(ZIGGURAT_X[1])  # r, where the tail starts
LAYER_MASK = np.uint64(ZIGGURAT_LAYERS - 1)
LAYER_BITS = np.uint64(9)
SHIFT8 = np.uint64(8)
SHIFT10 = np.uint64(10)
SHIFT16 = np.uint64(16)
SHIFT18 = np.uint64(18)
LANE_MASK = np.uint64(65535)
ATTEMPT_MASK = np.uint64(255)


def _fast_path_tables():
    """``(signed widths, bounds)``, indexed by a normal's 10 bits ``s 2^9 + i`` (sign ``s``, layer ``i``): ``(-1)^s
    w_i``, and the least ``K`` with ``fl(K w_i) >= x_{i+1}``, so that ``k < K`` exactly where ``fl(k w_i) < x_{i+1}``
    (rounding is monotone, so those ``k`` are ``0 .. K - 1``)."""
    width = ZIGGURAT_WIDTH[:-1]
    above = ZIGGURAT_X[1:]
    bound = np.ceil(above / width).astype(np.int64)
    for _ in range(4):  # the quotient rounded: move K to the least k whose product reaches x_{i+1}
        bound = np.where(bound.astype(np.float64) * width >= above, bound, bound + 1)
        bound = np.where((bound - 1).astype(np.float64) * width >= above, bound - 1, bound)
    bound = np.maximum(bound, 0)
    return np.concatenate([width, -width]), np.concatenate([bound, bound]).astype(np.uint64)


#: the fast path's tables by a normal's sign and layer bits: one read each, no select for the sign
SIGNED_WIDTH, FAST_BELOW = _fast_path_tables()
CANDIDATE_BITS = np.uint64(1023)
#: the counter word of a slow-path draw has its top bit set; a fast-path group index stays below ``2^31``
FIXUP_FLAG = np.uint64(1 << 31)


@device_function(inline=True)
def ziggurat_bits(r3, j):
    """The layer (bits 0-8) and sign (bit 9) of the ``j``-th normal of a draw whose fourth word is ``r3``."""
    return r3 >> (SHIFT10 * np.uint64(j))


@device_function(inline=True)
def ziggurat_candidate(k, bits):
    """The ziggurat's fast path for the 32-bit uniform ``k`` and ``bits`` (layer ``i = bits mod 512``, then the
    sign bit): ``+-fl(k w_i)`` where that lies inside layer ``i``'s core (``fl(k w_i) < x_{i+1}``, so under
    the curve whatever the height), else NaN, for :func:`ziggurat_resolve`. Straight-line arithmetic and two
    table reads (:data:`SIGNED_WIDTH`, :data:`FAST_BELOW`), so a loop of them vectorises."""
    index = bits & CANDIDATE_BITS
    z = np.float64(k) * SIGNED_WIDTH[index]
    return z if k < FAST_BELOW[index] else np.nan


@device_function(inline=True)
def ziggurat_tail_attempt(bits, w0, w1, w2, w3):
    """:func:`ziggurat_attempt`'s base branch: Marsaglia's tail draw ``+-(r + t)``, or NaN."""
    negative = (bits >> LAYER_BITS) & np.uint64(1)
    t = -log_unit(unit_open(w0, w1)) / ZIGGURAT_BASE
    tail = ZIGGURAT_BASE + t
    return (-tail if negative else tail) if -2.0 * log_unit(unit_open(w2, w3)) > t * t else np.nan


@device_function(inline=True)
def ziggurat_wedge_attempt(k, bits, w0, w1, w2, w3):
    """:func:`ziggurat_attempt`'s wedge branch: ``(z, k', bits')``."""
    layer = bits & LAYER_MASK
    negative = (bits >> LAYER_BITS) & np.uint64(1)
    x = np.float64(k) * ZIGGURAT_WIDTH[layer]
    low, high = ZIGGURAT_F[layer], ZIGGURAT_F[layer + np.uint64(1)]
    again_bits = (w1 & LAYER_MASK) | (negative << LAYER_BITS)
    if low + unit_open(w2, w3) * (high - low) < exp_nonpositive(-0.5 * x * x):
        return (-x if negative else x), w0, again_bits
    return ziggurat_candidate(w0, again_bits), w0, again_bits


@device_function(inline=True)
def ziggurat_attempt(k, bits, w0, w1, w2, w3):
    """One attempt of the ziggurat's slow path for the fast-path rejection ``(k, bits)``
    (:func:`ziggurat_candidate`), its uniforms from the Philox words ``w0 .. w3``: ``(z, k', bits')``, the
    normal ``z``, or NaN and the candidate ``(k', bits')`` of the next attempt.

    Layer ``i >= 1`` (:func:`ziggurat_wedge_attempt`): the candidate ``x = fl(k w_i)`` lies in the wedge; with
    ``y`` uniform on ``[f(x_i), f(x_{i+1})]`` (from ``w2, w3``), ``x`` is accepted where ``y < f(x)``; else
    the whole ziggurat starts again with ``k = w0`` and the layer ``w1 mod 512``, the sign kept (sign and
    magnitude are independent), through the fast path or as the next attempt's candidate. Base ``i = 0``
    (:func:`ziggurat_tail_attempt`): the candidate fell in the part ``[r, x_0]`` of the base that stands
    for the tail, whose value is Marsaglia's tail draw ``r + t`` with ``t = -log(u_1) / r`` (``u_1`` from
    ``w0, w1``), kept where ``-2 log(u_2) > t^2`` (``u_2`` from ``w2, w3``), else tried again [2]_. Both
    branches are computed and one selected, so a loop of attempts vectorises; :func:`ziggurat_resolve`
    takes the one branch, the same arithmetic.
    """
    base_z = ziggurat_tail_attempt(bits, w0, w1, w2, w3)
    wedge_z, again_k, again_bits = ziggurat_wedge_attempt(k, bits, w0, w1, w2, w3)
    in_base = (bits & LAYER_MASK) == np.uint64(0)
    return (base_z if in_base else wedge_z), (k if in_base else again_k), (bits if in_base else again_bits)


@device_function(inline=True)
def fixup_counter(coordinate, attempt):
    """The Philox counter word of the slow path's ``attempt`` for ``coordinate``: ``2^31 + 2^8 coordinate +
    (attempt mod 256)``."""
    return FIXUP_FLAG | (np.uint64(coordinate) << SHIFT8) | (np.uint64(attempt) & ATTEMPT_MASK)


@device_function
def ziggurat_resolve(k, bits, key0, key1, particle, step, slot, coordinate):
    """The normal of ``coordinate`` whose fast-path candidate ``(k, bits)`` was rejected: :func:`ziggurat_attempt`
    on the Philox counters ``(particle, step, slot, fixup_counter(coordinate, a))``, ``a = 0, 1, ...``, until
    one gives a normal (one branch of each attempt computed). Each attempt ends the loop with probability above
    one half; the attempt is taken modulo 256 (``coordinate < 2^23 - 1``).
    """
    attempt = 0
    z = np.nan
    while z != z:
        w0, w1, w2, w3 = philox4x32(
            particle & MASK32, step & MASK32, slot & MASK32, fixup_counter(coordinate, attempt), key0, key1
        )
        if bits & LAYER_MASK == np.uint64(0):
            z = ziggurat_tail_attempt(bits, w0, w1, w2, w3)
        else:
            z, k, bits = ziggurat_wedge_attempt(k, bits, w0, w1, w2, w3)
        attempt += 1
    return z


@device_function
def ziggurat_normal(r, r3, j, key0, key1, particle, step, slot, coordinate):
    """Coordinate ``coordinate``, the ``j``-th normal of the draw whose words are ``r`` (its ``j``-th) and ``r3``."""
    bits = ziggurat_bits(r3, j)
    z = ziggurat_candidate(r, bits)
    return z if z == z else ziggurat_resolve(r, bits, key0, key1, particle, step, slot, coordinate)


@device_function
def fill_normals(out, key0, key1, particle, step, slot):
    """Fill ``out`` with standard normals for ``(particle, step, slot)`` by the ziggurat method [2]_ [3]_.

    Coordinates ``3 g``, ``3 g + 1``, ``3 g + 2`` come from one Philox call on the counter ``(particle,
    step, slot, g)``: word ``j < 3`` is the 32-bit uniform ``k`` of coordinate ``3 g + j``, and bits ``10 j
    .. 10 j + 9`` of word 3 its layer (9 bits: 512 layers) and sign. :func:`ziggurat_candidate` is the
    fast path; a rejection (about one coordinate in 125) goes to :func:`ziggurat_resolve`.

    The law [2]_. For exact tables, a continuous uniform ``U`` and exact ``f = exp(-x^2 / 2)``: a layer ``i
    >= 1`` drawn uniformly (probability ``1/512``) and ``X = U x_i``, with ``Y`` uniform on ``[f(x_i),
    f(x_{i+1})]``, make ``(X, Y)`` uniform on the layer's rectangle. The fast path keeps ``X < x_{i+1}``
    (then ``Y < f(x_{i+1}) <= f(X)``: under the curve whatever ``Y``, so ``Y`` is never drawn), the slow
    path keeps ``Y < f(X)``: the kept points are those of the rectangle under the curve. In the base,
    ``X < r`` is kept (``[0, r] x [0, f(r)]`` lies under the curve) and ``X >= r``, of probability ``(x_0
    - r) / x_0 = int_r^inf f / v``, is replaced by a tail draw of density ``f(x) / int_r^inf f`` on ``x >
    r``. Every piece has area ``v``, so a kept ``X`` has density ``f`` over its integral on ``[0, inf)``;
    a rejected try starts an independent new one, which leaves that law as it is, and the sign bit,
    independent of all the magnitude uses, makes it N(0, 1). Here ``U = k / 2^32`` takes ``2^32`` values
    and ``X = fl(k w_i)`` is rounded (the fast path's test is ``fl(k w_i) < x_{i+1}``, the same ``X`` as
    the slow path's), ``Y`` and the tail's uniforms have 53 bits, the tables are rounded to doubles and
    ``f``, ``log`` are within two ulps (:func:`~.elementary.exp_nonpositive`,
    :func:`~.elementary.log_unit`): the law differs from N(0, 1) only at those resolutions.
    """
    d = out.shape[0]
    c0, c1, c2 = particle & MASK32, step & MASK32, slot & MASK32
    for g in range((d + 2) // 3):
        r0, r1, r2, r3 = philox4x32(c0, c1, c2, np.uint64(g), key0, key1)
        i = 3 * g
        out[i] = ziggurat_normal(r0, r3, 0, key0, key1, particle, step, slot, i)
        if i + 1 < d:
            out[i + 1] = ziggurat_normal(r1, r3, 1, key0, key1, particle, step, slot, i + 1)
        if i + 2 < d:
            out[i + 2] = ziggurat_normal(r2, r3, 2, key0, key1, particle, step, slot, i + 2)


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
def _draw_word(r0, r1, r2, j):
    """Word ``j < 3`` of a draw, by selects (vectorises)."""
    return r0 if j == 0 else (r1 if j == 1 else r2)


@device_function
def draw_normal_rows(buf, pending, listed, row, key0, key1, first, step, slot):
    """The fast path of the draw for rows ``row .. row + m - 1`` (``row`` a multiple of 3, ``m <= 3`` the rows of
    ``buf`` ``(m, L)``) of :func:`fill_normals`'s numbers, for the particles ``first, first + 1, ...``, one per
    column of ``buf``: the normals, NaN where the fast path rejects. The rejections are listed in
    ``pending[0]`` (``2^16 (4 g + j) + lane`` for row ``3 g + j``, ``L < 2^16``) after the ``listed`` already
    there while ``P - 8`` (``pending`` is ``(2, P)``, ``P >= L``) leaves room, else resolved in place one by
    one; returns the new count. :func:`finish_normals` resolves the listed ones.

    The loops over the particles are free of calls, so on the CPU they run in vector registers, one
    particle per lane; lanes are looked at one by one only where the sum of their normals, formed in such
    a loop, is NaN (a bit in a mask: for more than 64 lanes, one bit stands for 2, 4, ... neighbours).
    """
    m, n_lanes = buf.shape
    c1, c2 = step & MASK32, slot & MASK32
    counter = np.uint64(row // 3)
    if m == 3:
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32((first + np.uint64(p)) & MASK32, c1, c2, counter, key0, key1)
            buf[0, p] = ziggurat_candidate(r0, r3)
            buf[1, p] = ziggurat_candidate(r1, r3 >> SHIFT10)
            buf[2, p] = ziggurat_candidate(r2, r3 >> SHIFT20)
    elif m == 2:
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32((first + np.uint64(p)) & MASK32, c1, c2, counter, key0, key1)
            buf[0, p] = ziggurat_candidate(r0, r3)
            buf[1, p] = ziggurat_candidate(r1, r3 >> SHIFT10)
    else:
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32((first + np.uint64(p)) & MASK32, c1, c2, counter, key0, key1)
            buf[0, p] = ziggurat_candidate(r0, r3)
    # the lanes with a rejection, as the bits of one mask formed in a loop that vectorises (a sum of normals is
    # NaN exactly where one is: no sum of them overflows); bit b stands for lanes b 2^spread .. (b + 1) 2^spread - 1
    room = pending.shape[1] - 8
    second, third = min(1, m - 1), min(2, m - 1)
    g4 = np.uint64(4 * (row // 3))
    spread = np.uint64(0)
    while (n_lanes - 1) >> spread >= 64:
        spread += np.uint64(1)
    mask = np.uint64(0)
    for p in range(n_lanes):
        total = (buf[0, p] + buf[second, p]) + buf[third, p]
        mask |= (np.uint64(1) if total != total else np.uint64(0)) << (np.uint64(p) >> spread)
    while mask != np.uint64(0):
        start = lowest_set_bit(mask) << spread
        mask &= mask - np.uint64(1)
        for p in range(int(start), min(int(start) + (1 << int(spread)), n_lanes)):
            if listed + m <= room:  # the lane's rejections listed, without branches
                for j in range(m):
                    pending[0, listed] = np.float64(((g4 + np.uint64(j)) << SHIFT16) | np.uint64(p))
                    listed += 1 if buf[j, p] != buf[j, p] else 0
                continue
            for j in range(m):
                if buf[j, p] != buf[j, p]:
                    particle = first + np.uint64(p)
                    r0, r1, r2, r3 = philox4x32(particle & MASK32, c1, c2, counter, key0, key1)
                    k = _draw_word(r0, r1, r2, j)
                    buf[j, p] = ziggurat_resolve(k, ziggurat_bits(r3, j), key0, key1, particle, step, slot, row + j)
    return listed


@device_function(inline=True)
def _listed_candidate(pending, q, key0, key1, first, c1, c2):
    """``(particle, group, j, k, bits)`` of the ``q``-th rejection that :func:`draw_normal_rows` listed: its
    particle, its draw's counter word ``group`` and word ``j``, and the fast-path candidate it was rejected for."""
    place = np.uint64(pending[0, q])
    group, j = place >> SHIFT18, (place >> SHIFT16) & np.uint64(3)
    particle = first + (place & LANE_MASK)
    r0, r1, r2, r3 = philox4x32(particle & MASK32, c1, c2, group, key0, key1)
    return particle, group, j, _draw_word(r0, r1, r2, j), ziggurat_bits(r3, j)


@device_function
def finish_normals(pending, listed, key0, key1, first, step, slot):
    """The normals of the ``listed`` rejections of :func:`draw_normal_rows` into ``pending[1]``, their places
    (:func:`listed_place`) in ``pending[0]``: the slow path's first attempt for the whole list in a loop that
    vectorises (padded to a multiple of 8 entries, so that no scalar remainder runs), then the rare entries
    that need more resolved one by one; a list of fewer than 4 is resolved one by one."""
    c1, c2 = step & MASK32, slot & MASK32
    if listed >= 4:  # below, one vector of attempts costs more than the few one by one
        padded = (listed + 7) // 8 * 8
        for q in range(listed, padded):  # copies of the first entry: computed, never used
            pending[0, q] = pending[0, 0]
        for q in range(padded):
            particle, group, j, k, bits = _listed_candidate(pending, q, key0, key1, first, c1, c2)
            w0, w1, w2, w3 = philox4x32(
                particle & MASK32, c1, c2, fixup_counter(np.uint64(3) * group + j, 0), key0, key1
            )
            pending[1, q] = ziggurat_attempt(k, bits, w0, w1, w2, w3)[0]
    else:
        for q in range(listed):
            pending[1, q] = np.nan
    for q in range(listed):
        if pending[1, q] != pending[1, q]:  # not done by a first attempt: the whole slow path, one by one
            particle, group, j, k, bits = _listed_candidate(pending, q, key0, key1, first, c1, c2)
            row = np.uint64(3) * group + j
            pending[1, q] = ziggurat_resolve(k, bits, key0, key1, particle, step, slot, row)


@device_function(inline=True)
def listed_place(pending, q):
    """``(row, lane)`` of the ``q``-th rejection that :func:`draw_normal_rows` listed."""
    place = np.uint64(pending[0, q])
    return np.uint64(3) * (place >> SHIFT18) + ((place >> SHIFT16) & np.uint64(3)), place & LANE_MASK


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

    A step that adds the noise to its state at once need not store the block: it can draw into three
    rows, add them with each rejection's NaN taken as ``-0`` (which leaves every sum as it was), and add
    :func:`finish_normals`' values at their places later (:func:`add_listed_normals`); as ``(a + -0) + b =
    a + b`` in floating point, the state is the same to the bit.
    """
    d = out.shape[0]
    listed = 0
    for row in range(0, d, 3):
        listed = draw_normal_rows(out[row : min(row + 3, d)], pending, listed, row, key0, key1, first, step, slot)
    if listed > 0:
        finish_normals(pending, listed, key0, key1, first, step, slot)
    for q in range(listed):
        i, p = listed_place(pending, q)
        out[i, p] = pending[1, q]


#: the rows of per-particle scratch that :func:`fill_block_normals` lists its slow path in
NOISE_LANE_ROWS = 2

# Slots keep the independent streams of one step apart; solvers with more draws take 1, 2, ...
SLOT_BROWNIAN = np.uint64(0)
