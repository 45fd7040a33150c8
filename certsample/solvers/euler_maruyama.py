"""Euler-Maruyama on the reverse SDE (the DDPM-style baseline)."""

import math

import numpy as np

from ..kernels.jit import device_function
from ..kernels.philox import NOISE_LANE_ROWS, SLOT_BROWNIAN, add_listed_normals, draw_normal_rows
from ..kernels.score import target_score
from .base import SDESolver


@device_function
def euler_maruyama_step(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork):
    score = work[0]
    draws = work[1]
    pending = lanes[:NOISE_LANE_ROWS]
    target_score(x, t, target_params, score, lanes[NOISE_LANE_ROWS:], swork)
    diffusion = math.sqrt(2.0 * h)
    d, n_lanes = x.shape
    step = np.uint64(k)
    # the noise four rows at a time, added at once (it stays in the first-level cache); a rejection's
    # NaN counts as -0, which leaves the sum as it was, and its normal is added later: the same bits as
    # adding fill_block_normals' block (see there)
    listed = 0
    for row in range(0, d, 4):
        rows = min(4, d - row)
        listed = draw_normal_rows(draws[:rows], pending, listed, row, key0, key1, first, step, SLOT_BROWNIAN)
        for j in range(rows):
            i = row + j
            for p in range(n_lanes):
                xi = draws[j, p] if draws[j, p] == draws[j, p] else -0.0
                x[i, p] = x[i, p] + h * (x[i, p] + 2.0 * score[i, p]) + diffusion * xi
        if 2 * listed >= pending.shape[1]:  # half full: added now, so it seldom overflows
            listed = add_listed_normals(x, diffusion, pending, listed, key0, key1, first, step, SLOT_BROWNIAN)
    add_listed_normals(x, diffusion, pending, listed, key0, key1, first, step, SLOT_BROWNIAN)
    return 1


class EulerMaruyama(SDESolver):
    """``y' = y + h (y + 2 s(y, t)) + sqrt(2 h) xi``: weak order 1, one score per step.

    References
    ----------
    .. [1] P. E. Kloeden, E. Platen, "Numerical Solution of Stochastic Differential Equations",
       Springer 1992, section 14.1.
    .. [2] J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
    """

    name = "euler-maruyama"
    theorem = "sde_em_w2"
    linear_in_noise = True
    n_work = 2
    kernel_layout = "block"
    n_lane_work = NOISE_LANE_ROWS  # the block noise's scratch
    kernel_step = staticmethod(euler_maruyama_step)

    def order(self) -> float:
        return 1.0

    def step(self, x, t, h, k, score, noise, state=None):
        s = score(x, t)
        return x + h * (x + 2.0 * s) + math.sqrt(2.0 * h) * noise.normal(k, int(SLOT_BROWNIAN)), state
