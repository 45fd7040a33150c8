"""Exponential integrator on the probability-flow ODE (the DDIM-style baseline)."""

import math

from ..kernels.jit import device_function
from ..kernels.score import target_score
from .base import ODESolver


@device_function
def exponential_ode_step(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork):
    score = work[0]
    target_score(x, t, target_params, score, lanes, swork)
    growth = math.exp(h)
    gain = math.expm1(h)
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = growth * x[i, p] + gain * score[i, p]
    return 1


class ExponentialODE(ODESolver):
    """Integrate ``dy/ds = y + s`` exactly with the score frozen at the step start.

    ``y' = e^h y + (e^h - 1) s(y, t)``: order 1, one score per step. The linear part is solved
    exactly, so the only error is the score's drift across the step.

    References
    ----------
    .. [1] J. Song, C. Meng, S. Ermon, "Denoising diffusion implicit models", ICLR 2021.
    .. [2] Q. Zhang, Y. Chen, "Fast sampling of diffusion models with exponential integrator",
       ICLR 2023.
    """

    name = "exponential-ode"
    theorem = "pf_ode_ei_w2"
    linear_in_noise = True
    n_work = 1
    kernel_layout = "block"
    kernel_step = staticmethod(exponential_ode_step)

    def order(self) -> float:
        return 1.0

    def step(self, x, t, h, k, score, noise, state=None):
        return math.exp(h) * x + math.expm1(h) * score(x, t), state
