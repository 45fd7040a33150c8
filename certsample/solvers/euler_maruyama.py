"""Euler-Maruyama on the reverse SDE (the DDPM-style baseline)."""

import math

import numpy as np

from ..kernels.jit import device_function
from ..kernels.philox import NOISE_LANE_ROWS, SLOT_BROWNIAN, fill_block_normals
from ..kernels.score import target_score
from .base import SDESolver


@device_function
def euler_maruyama_step(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork):
    score = work[0]
    xi = work[1]
    target_score(x, t, target_params, score, lanes[NOISE_LANE_ROWS:], swork)
    fill_block_normals(xi, lanes[:NOISE_LANE_ROWS], key0, key1, first, np.uint64(k), SLOT_BROWNIAN)
    diffusion = math.sqrt(2.0 * h)
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = x[i, p] + h * (x[i, p] + 2.0 * score[i, p]) + diffusion * xi[i, p]
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
