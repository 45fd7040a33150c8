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

from .jit import device_function

PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint64(0x9E3779B9)
PHILOX_W1 = np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
SHIFT5 = np.uint64(5)
SHIFT6 = np.uint64(6)
TWO_PI = 2.0 * math.pi


@device_function
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on the 4x32-bit counter ``(c0..c3)`` with 2x32-bit key ``(k0, k1)``."""
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


@device_function
def unit_open(hi, lo):
    """A 53-bit uniform strictly inside (0, 1) from two 32-bit words."""
    bits = np.float64(hi >> SHIFT5) * 67108864.0 + np.float64(lo >> SHIFT6)
    return (bits + 0.5) * 1.1102230246251565e-16


@device_function
def uniform(key0, key1, particle, step, slot):
    """One uniform on (0, 1) for ``(particle, step, slot)``; coordinate word fixed to all ones."""
    r0, r1, r2, r3 = philox4x32(particle & MASK32, step & MASK32, slot & MASK32, MASK32, key0, key1)
    return unit_open(r0, r1)


@device_function
def fill_normals(out, key0, key1, particle, step, slot):
    """Fill ``out`` with standard normals for ``(particle, step, slot)`` (Box-Muller on Philox)."""
    d = out.shape[0]
    for j in range(0, d, 2):
        r0, r1, r2, r3 = philox4x32(particle & MASK32, step & MASK32, slot & MASK32,
                                    np.uint64(j >> 1), key0, key1)
        radius = math.sqrt(-2.0 * math.log(unit_open(r0, r1)))
        angle = TWO_PI * unit_open(r2, r3)
        out[j] = radius * math.cos(angle)
        if j + 1 < d:
            out[j + 1] = radius * math.sin(angle)


@device_function
def fill_block_normals(out, key0, key1, first, step, slot):
    """:func:`fill_normals` for a block ``out`` ``(d, L)`` of particles ``first, first + 1, ...``, one per column."""
    for p in range(out.shape[1]):
        fill_normals(out[:, p], key0, key1, first + np.uint64(p), step, slot)


# Slots keep the independent streams of one step apart; solvers with more draws take 1, 2, ...
SLOT_BROWNIAN = np.uint64(0)
