"""Exact references for Gaussian targets: the true flow map and the exact law of linear schemes.

For a Gaussian target the probability-flow ODE is linear and solvable in closed form, and every
linear scheme (Euler-Maruyama, the exponential integrators) maps Gaussians to Gaussians. So the
error of a run can be measured with no Monte-Carlo noise at all: pathwise against
:func:`gaussian_flow_map`, or in law through :func:`linear_scheme_law`.
"""

from __future__ import annotations

import math

import numpy as np

from .forward import alpha, sigma2
from .noise import ImpulseNoise
from .oracle import ScoreOracle

__all__ = ["gaussian_flow_map", "linear_scheme_law", "linear_scheme_rounding"]


def _require_gaussian(target):
    if not target.is_gaussian:
        raise ValueError(f"exact Gaussian references need a Gaussian target, got {target!r}")


def gaussian_flow_map(target, x, t_from: float, t_to: float) -> np.ndarray:
    """Transport ``x`` along the probability-flow ODE of a Gaussian target from ``t_from`` to ``t_to``.

    In the eigenbasis each coordinate obeys ``x_i(t) - a(t) m_i = sqrt(v_i(t) / v_i(s)) (x_i(s) - a(s) m_i)``
    with ``v_i(t) = a(t)^2 lam_i + sigma(t)^2``: the drift ``-x - grad log q_t`` is ``(1/v_i - 1)``
    times the centred coordinate, and ``d/dt log sqrt(v_i) = (1/v_i - 1)`` as well.
    """
    _require_gaussian(target)
    x = np.asarray(x, dtype=float)
    a0, a1 = float(alpha(t_from)), float(alpha(t_to))
    s0, s1 = float(sigma2(t_from)), float(sigma2(t_to))
    mean, lam = target.means[0], target.variances[0]
    ratio = np.sqrt((a1 * a1 * lam + s1) / (a0 * a0 * lam + s0))
    if target.basis is None:
        return a1 * mean + ratio * (x - a0 * mean)
    q = target.basis
    y = x @ q
    perp = x - y @ q.T
    lp = target.lam_perp
    perp_ratio = np.sqrt((a1 * a1 * lp + s1) / (a0 * a0 * lp + s0))
    return (a1 * mean + ratio * (y - a0 * mean)) @ q.T + perp_ratio * perp


def linear_scheme_law(solver, target, grid, init: str = "standard"):
    """Exact per-coordinate ``(mean, variance)`` of a linear scheme's output on a diagonal Gaussian.

    Each step is affine in the current state and in that step's Gaussian draws, coordinate by
    coordinate: ``x' = c + A x + sum_m g_m xi_m``. Probing the step with
    :class:`~certsample.noise.ImpulseNoise` at the law's current mean (particle 0 at ``mean``, particle 1
    at ``mean + 1``, one impulse per draw at ``mean``) gives ``mean' = c + A mean`` directly, ``A`` and
    every ``g_m`` as differences of outputs, and the Gaussian law is pushed through exactly: ``var' = A^2
    var + sum_m g_m^2``. (Probing at 0 would form ``c + A mean`` from ``c``, which holds ``-A a mean``
    and loses every digit of the mean's change when ``|mean|`` is large.) Cost: a few probe particles per
    step. Each step's float64 rounding is at most a few ulps of ``|mean| + 1``; the caller allows for it
    (:func:`linear_scheme_rounding`).

    Parameters
    ----------
    init : {'standard', 'exact'}
        ``x0 ~ N(0, I)`` or ``x0 ~ q_T`` (the true marginal at the grid's start).
    """
    _require_gaussian(target)
    if not target.is_diagonal:
        raise ValueError("linear_scheme_law needs a Gaussian that is diagonal in the standard basis")
    d = target.dim
    if init == "standard":
        mean, var = np.zeros(d), np.ones(d)
    elif init == "exact":
        law = target.law_at(grid.T)
        mean, var = law.means[0].copy(), law.variances[0].copy()
    else:
        raise ValueError(f"unknown init {init!r}; choose 'standard' or 'exact'")
    if not solver.linear_in_noise:
        raise ValueError(f"solver {solver.name!r} is not linear in its state and noise; it has no exact Gaussian law")
    oracle = ScoreOracle.from_target(target)
    state = solver.init(grid, target)
    for k, (t, h) in enumerate(zip(grid.times[:-1], grid.steps)):
        discover = ImpulseNoise(d)
        solver.step(np.zeros((discover.n_particles, d)), float(t), float(h), k, oracle, discover, state)
        noise = ImpulseNoise(d, discover.draws)
        probes = np.tile(mean, (noise.n_particles, 1))
        probes[1] += 1.0
        unit = probes[1] - probes[0]  # 1, or what is left of it beside a mean beyond 2^52
        out, state = solver.step(probes, float(t), float(h), k, oracle, noise, state)
        if len(noise.draws) != len(discover.draws):
            raise ValueError(f"solver {solver.name!r} draws its noise in a state-dependent way; no exact law")
        gain = (out[1] - out[0]) / unit
        var = gain * gain * var + np.sum((out[2:] - out[0]) ** 2, axis=0)
        mean = out[0]
    return mean, var


def linear_scheme_rounding(mean, n_steps: int, variance=1.0) -> float:
    """An allowance for the float64 rounding of :func:`linear_scheme_law`'s result in a W2 between Gaussians:
    ``16 u n_steps (1 + max |mean| + sqrt(max variance)) sqrt(d)``, each step's few roundings of outputs of size
    ``|mean| + 1`` and of the variance update (relative to the variance, so of size ``sqrt(var)`` in a standard
    deviation) accumulated linearly; ``variance``: the largest variances along the run. An estimate from the
    operation count, not a proof (without the variance term it was 280 times too small at a variance of ``1e9``)."""
    mean = np.asarray(mean, dtype=float)
    spread = math.sqrt(float(np.max(variance)))
    return float(16 * 2.0**-53 * n_steps * (1.0 + np.max(np.abs(mean)) + spread) * np.sqrt(mean.size))
