"""Reproducible noise for the NumPy reference solvers, identical to what the kernels draw.

Each number is a Philox4x32-10 function of ``(seed, particle, step, slot, coordinate)``
(:mod:`certsample.kernels.philox`), so particle ``p`` sees the same Brownian increments whatever
the batch it is in and whichever backend runs it.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .kernels.jit import compile_for
from .kernels.philox import fill_normals, uniform

__all__ = ["seed_key", "NoiseSource", "ImpulseNoise"]


def seed_key(seed) -> tuple:
    """Split a non-negative integer seed (< 2**64) into Philox's two 32-bit key words."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    seed = int(seed)
    return np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)


def _normals_batch(out, key0, key1, particles, step, slot):
    for p in prange(out.shape[0]):
        fill_normals(out[p], key0, key1, particles[p], step, slot)


def _uniforms_batch(out, key0, key1, particles, step, slot):
    for p in prange(out.shape[0]):
        out[p] = uniform(key0, key1, particles[p], step, slot)


class NoiseSource:
    """Standard normals and uniforms for a fixed set of global particle indices.

    Parameters
    ----------
    seed : int
    particles : array of int
        Global indices of the particles in this batch (default ``0..n-1``).
    dim : int
    """

    def __init__(self, seed, particles, dim: int):
        self.key = seed_key(seed)
        self.particles = np.ascontiguousarray(particles, dtype=np.uint64)
        self.dim = int(dim)

    def normal(self, step: int, slot: int) -> np.ndarray:
        out = np.empty((self.particles.size, self.dim))
        compile_for(_normals_batch, "cpu-parallel")(out, *self.key, self.particles, np.uint64(step), np.uint64(slot))
        return out

    def uniform(self, step: int, slot: int) -> np.ndarray:
        out = np.empty(self.particles.size)
        compile_for(_uniforms_batch, "cpu-parallel")(out, *self.key, self.particles, np.uint64(step), np.uint64(slot))
        return out


class ImpulseNoise:
    """Noise that is zero except for one unit impulse per particle, for exact laws of linear schemes.

    A scheme that is affine in its starting point and its Gaussian inputs maps
    ``(x0, xi_1, ..., xi_M)`` to ``c + A x0 + sum_m g_m xi_m`` coordinate-wise (on diagonal
    Gaussian targets). Running it on particle 0 (all zero), particle 1 (``x0 = 1``) and particle
    ``1 + m`` (impulse in the ``m``-th normal draw) recovers ``c``, ``A`` and every ``g_m``.
    ``draws`` lists the ``(step, slot)`` pairs in the order they were first requested; a first pass
    with ``n_impulses = 0`` discovers them.
    """

    def __init__(self, dim: int, draws=()):
        self.dim = int(dim)
        self.draws = list(draws)
        self._index = {draw: m for m, draw in enumerate(self.draws)}
        self.n_particles = 2 + len(self.draws)

    def normal(self, step: int, slot: int) -> np.ndarray:
        out = np.zeros((self.n_particles, self.dim))
        m = self._index.get((step, slot))
        if m is None:
            self._index[(step, slot)] = len(self.draws)
            self.draws.append((step, slot))
        else:
            out[2 + m] = 1.0
        return out

    def uniform(self, step: int, slot: int) -> np.ndarray:
        raise TypeError("ImpulseNoise gives exact laws of linear schemes only; this solver draws uniforms")
