"""Exponential integrator on the reverse SDE (the DDPM-style exact-linear-part baseline)."""

import math

import numpy as np

from ..kernels.jit import device_function
from ..kernels.philox import NOISE_LANE_ROWS, SLOT_BROWNIAN, add_listed_normals, draw_normal_rows
from ..kernels.score import target_score
from .base import SDESolver


@device_function
def exponential_sde_step(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork):
    score = work[0]
    draws = work[1]
    pending = lanes[:NOISE_LANE_ROWS]
    target_score(x, t, target_params, score, lanes[NOISE_LANE_ROWS:], swork)
    growth = math.exp(h)
    gain = 2.0 * math.expm1(h)
    diffusion = math.sqrt(math.expm1(2.0 * h))
    d, n_lanes = x.shape
    step = np.uint64(k)
    # the noise four rows at a time, added at once, rejections later (as in euler_maruyama_step)
    listed = 0
    for row in range(0, d, 4):
        rows = min(4, d - row)
        listed = draw_normal_rows(draws[:rows], pending, listed, row, key0, key1, first, step, SLOT_BROWNIAN)
        for j in range(rows):
            i = row + j
            for p in range(n_lanes):
                xi = draws[j, p] if draws[j, p] == draws[j, p] else -0.0
                x[i, p] = growth * x[i, p] + gain * score[i, p] + diffusion * xi
        if 2 * listed >= pending.shape[1]:  # half full: added now, so it seldom overflows
            listed = add_listed_normals(x, diffusion, pending, listed, key0, key1, first, step, SLOT_BROWNIAN)
    add_listed_normals(x, diffusion, pending, listed, key0, key1, first, step, SLOT_BROWNIAN)
    return 1


class ExponentialSDE(SDESolver):
    """``y' = e^h y + 2 (e^h - 1) s(y, t) + sqrt(e^{2h} - 1) xi``.

    The linear drift and the noise are integrated exactly (the Ornstein-Uhlenbeck transition),
    the score is frozen at the step start: weak order 1, one score per step.

    References
    ----------
    .. [1] H. Chen, H. Lee, J. Lu, "Improved analysis of score-based generative modeling:
       user-friendly bounds under minimal smoothness assumptions", ICML 2023.
    .. [2] S. Chen, S. Chewi, J. Li, Y. Li, A. Salim, A. R. Zhang, "Sampling is as easy as learning
       the score", ICLR 2023.
    """

    name = "exponential-sde"
    theorem = "sde_ei_w2"
    linear_in_noise = True
    n_work = 2
    kernel_layout = "block"
    n_lane_work = NOISE_LANE_ROWS  # the block noise's scratch
    kernel_step = staticmethod(exponential_sde_step)

    def order(self) -> float:
        return 1.0

    def step(self, x, t, h, k, score, noise, state=None):
        s = score(x, t)
        xi = noise.normal(k, int(SLOT_BROWNIAN))
        return math.exp(h) * x + 2.0 * math.expm1(h) * s + math.sqrt(math.expm1(2.0 * h)) * xi, state
