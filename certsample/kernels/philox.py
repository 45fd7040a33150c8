"""Philox4x32-10 counter-based random numbers, as per-particle device math.

Every random number is a pure function of ``(seed, particle, step, slot, coordinate)``, so a run
is reproducible whatever the batch size, the order particles are visited in, or the backend.
Only 32x32 -> 64-bit products and masked additions are used: no uint64 overflow anywhere, which
keeps the Numba CUDA simulator (plain NumPy scalars) free of overflow warnings.

References
----------
.. [1] J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers: as easy as
   1, 2, 3", SC 2011.
"""

import math

import numpy as np

from .elementary import log_unit, sincos_turn
from .jit import device_function

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


@device_function(inline=True)
def unit_open(hi, lo):
    """A 53-bit uniform strictly inside (0, 1) from two 32-bit words."""
    bits = np.float64(hi >> SHIFT5) * 67108864.0 + np.float64(lo >> SHIFT6)
    return (bits + 0.5) * 1.1102230246251565e-16


@device_function
def uniform(key0, key1, particle, step, slot):
    """One uniform on (0, 1) for ``(particle, step, slot)``; coordinate word fixed to all ones."""
    r0, r1, r2, r3 = philox4x32(particle & MASK32, step & MASK32, slot & MASK32, MASK32, key0, key1)
    return unit_open(r0, r1)


@device_function(inline=True)
def box_muller(r0, r1, r2, r3):
    """Two standard normals from one Philox output: ``sqrt(-2 log u1) (cos, sin)(2 pi u2)`` with
    ``u1 = unit_open(r0, r1)``, ``u2 = unit_open(r2, r3)``, the log, sine and cosine in straight-line
    arithmetic (:mod:`.elementary`) so that a loop of them over particles vectorises."""
    radius = math.sqrt(-2.0 * log_unit(unit_open(r0, r1)))
    cos_part, sin_part = sincos_turn(unit_open(r2, r3))
    return radius * cos_part, radius * sin_part


@device_function
def fill_normals(out, key0, key1, particle, step, slot):
    """Fill ``out`` with standard normals for ``(particle, step, slot)``: coordinates ``2 j`` and
    ``2 j + 1`` are :func:`box_muller` of the Philox counter ``(particle, step, slot, j)``."""
    d = out.shape[0]
    for j in range(0, d, 2):
        r0, r1, r2, r3 = philox4x32(particle & MASK32, step & MASK32, slot & MASK32, np.uint64(j >> 1), key0, key1)
        z0, z1 = box_muller(r0, r1, r2, r3)
        out[j] = z0
        if j + 1 < d:
            out[j + 1] = z1


@device_function
def fill_block_normals(out, key0, key1, first, step, slot):
    """:func:`fill_normals` for a block ``out`` ``(d, L)`` of particles ``first, first + 1, ...``, one per column.

    The same numbers, in three passes over the block whose loops over the particles are innermost and
    free of calls, so on the CPU each runs in vector registers, one particle per lane: Philox's words
    as the two uniforms of each pair of coordinates (rows ``2 j`` and ``2 j + 1``), then the radii
    ``sqrt(-2 log u1)`` in place, then the rotation by ``2 pi u2``. One fused pass needed more
    constants than there are vector registers and reloaded them every iteration.
    """
    d, n_lanes = out.shape
    pairs = d // 2
    c1, c2 = step & MASK32, slot & MASK32
    for j in range(pairs):
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32((first + np.uint64(p)) & MASK32, c1, c2, np.uint64(j), key0, key1)
            out[2 * j, p] = unit_open(r0, r1)
            out[2 * j + 1, p] = unit_open(r2, r3)
    for j in range(pairs):
        for p in range(n_lanes):
            out[2 * j, p] = math.sqrt(-2.0 * log_unit(out[2 * j, p]))
    for j in range(pairs):
        for p in range(n_lanes):
            cos_part, sin_part = sincos_turn(out[2 * j + 1, p])
            radius = out[2 * j, p]
            out[2 * j, p] = radius * cos_part
            out[2 * j + 1, p] = radius * sin_part
    if d > 2 * pairs:  # an odd dimension: the last coordinate is the first of its pair
        for p in range(n_lanes):
            r0, r1, r2, r3 = philox4x32((first + np.uint64(p)) & MASK32, c1, c2, np.uint64(pairs), key0, key1)
            out[d - 1, p] = box_muller(r0, r1, r2, r3)[0]


# Slots keep the independent streams of one step apart; solvers with more draws take 1, 2, ...
SLOT_BROWNIAN = np.uint64(0)
