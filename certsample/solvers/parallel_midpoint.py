"""Parallel randomized midpoint: R midpoints per step found by K Picard sweeps (Gupta, Cai, Chen 2024).

The sequential randomized midpoint method (:mod:`.randomized_midpoint`) spends two score
evaluations one after the other per step. The parallel variant cuts each step into ``R``
sub-intervals, draws one random point in each, and finds the ``R`` midpoint states together by
Picard iteration: every sweep evaluates all ``R`` scores in one parallel round, so the number of
*sequential* rounds per step is ``K + 2`` whatever ``R`` is.
"""

from __future__ import annotations

import math

import numpy as np

from ..arrays import einsum, like
from ..kernels.jit import device_function
from ..kernels.loops import sweep_barrier
from ..kernels.philox import uniform
from ..kernels.score import particle_score
from ..validation import check_int
from .base import ODESolver, ParallelSolver
from .randomized_midpoint import (
    SLOT_MIDPOINT,
    _midpoint_offset_numpy,
    _midpoint_weight_numpy,
    check_sampling,
    midpoint_offset,
    midpoint_weight,
)

__all__ = ["ParallelRandomizedMidpoint", "parallel_midpoint_step", "parallel_midpoint_node_step", "piece_offset"]


@device_function
def piece_offset(key0, key1, particle, step, j, hr, exponential):
    """``tau_j`` of piece ``j``: its uniform from Philox slot ``1 + j`` through :func:`midpoint_offset`."""
    alpha = uniform(key0, key1, particle, step, np.uint64(SLOT_MIDPOINT + j))
    return midpoint_offset(alpha, j, hr, exponential)


@device_function
def parallel_midpoint_step(x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork):
    """One step of one particle (:func:`parallel_midpoint_node_step` with every midpoint)."""
    return parallel_midpoint_node_step(
        x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork, swork, 0, 1
    )


@device_function
def parallel_midpoint_node_step(
    x, t, h, k, particle, key0, key1, target_params, solver_params, work, lanes, swork, node, stride
):
    """One step of one particle, doing the work of midpoints ``node, node + stride, ...``.

    ``work[0:R]`` holds the midpoint states, ``work[R:2R]`` their scores; ``solver_params = (R, K,
    exponential, ...)``. With ``stride = 1`` one thread does every midpoint. On CUDA ``stride``
    threads may share the particle (:func:`certsample.kernels.cuda_driver.cuda_run_nodes`): each
    evaluates and updates its own midpoints, so a sweep's ``R`` evaluations run at once, with
    :func:`sweep_barrier` between the phases that read other midpoints' rows; the thread of
    midpoint 0 also takes the first evaluation and the endpoint. ``lanes`` is unused (the node
    drivers' common signature). Returns the evaluations this thread made.
    """
    n_sub = solver_params[0]
    n_sweeps = solver_params[1]
    exponential = solver_params[2]
    d = x.shape[0]
    hr = h / n_sub
    step = np.uint64(k)
    first = work[n_sub]
    nfe = 0
    if node == 0:
        particle_score(x, t, target_params, first, swork)
        nfe += 1
    sweep_barrier()
    for i in range(node, n_sub, stride):
        tau = piece_offset(key0, key1, particle, step, i, hr, exponential)
        growth = math.exp(tau)
        gain = math.expm1(tau)
        mid = work[i]
        for c in range(d):
            mid[c] = growth * x[c] + gain * first[c]
    sweep_barrier()  # the first score's row is midpoint 0's score from here on
    for sweep in range(n_sweeps + 1):
        # one parallel round: all R scores from the current midpoint states
        for i in range(node, n_sub, stride):
            tau = piece_offset(key0, key1, particle, step, i, hr, exponential)
            particle_score(work[i], t - tau, target_params, work[n_sub + i], swork)
            nfe += 1
        sweep_barrier()
        if sweep == n_sweeps:
            break
        # Picard update of every midpoint from the previous sweep's scores
        for i in range(node, n_sub, stride):
            tau = piece_offset(key0, key1, particle, step, i, hr, exponential)
            mid = work[i]
            growth = math.exp(tau)
            for c in range(d):
                mid[c] = growth * x[c]
            for j in range(i):
                weight = math.exp(tau - (j + 1) * hr) * math.expm1(hr)
                s = work[n_sub + j]
                for c in range(d):
                    mid[c] += weight * s[c]
            weight = math.expm1(tau - i * hr)
            s = work[n_sub + i]
            for c in range(d):
                mid[c] += weight * s[c]
        sweep_barrier()
    if node == 0:
        growth = math.exp(h)
        for c in range(d):
            x[c] = growth * x[c]
        for j in range(n_sub):
            tau = piece_offset(key0, key1, particle, step, j, hr, exponential)
            weight = midpoint_weight(tau, j, h, hr, exponential)
            s = work[n_sub + j]
            for c in range(d):
                x[c] += weight * s[c]
    sweep_barrier()  # the next step reads x
    return nfe


class ParallelRandomizedMidpoint(ODESolver, ParallelSolver):
    """Randomized midpoint with ``R`` random points per step, found by ``K`` Picard sweeps.

    It integrates the probability-flow ODE: its only randomness is the midpoints' times, drawn
    independently of the start, so each particle's path can be checked against the exact flow
    (an :class:`~.base.ODESolver`).

    Parameters
    ----------
    R : int, default 4
        Sub-intervals per step (``R >= 1``).
    K : int, default 2
        Picard sweeps (``K >= 0``).
    sampling : {'uniform', 'exponential'}, default 'uniform'
        Law of each random point within its piece and the matching endpoint weight, as in
        :class:`~.RandomizedMidpoint`: uniform with weight ``(h/R) e^{h - tau_j}`` (the paper's), or
        density proportional to ``e^{h - r}`` with the constant weight
        ``e^{h - b_{j+1}} (e^{h/R} - 1)`` (stable on long steps).

    Notes
    -----
    **Scheme.** A step goes from forward time ``t`` to ``t - h``; in reverse time ``r in [0, h]``
    the probability-flow ODE gives ``y(r) = e^r y(0) + int_0^r e^{r - u} s(y(u), t - u) du``.
    Cut ``[0, h]`` into ``R`` pieces ``[b_j, b_{j+1})`` with ``b_j = j h / R`` and draw
    ``tau_j = (j + alpha_j) h / R``, ``alpha_j ~ U(0, 1)`` from Philox slot ``1 + j``. Replace the
    integrand on piece ``j`` by its value ``s_j = s(x_j, t - tau_j)`` at the piece's random point and
    integrate the exponential weight exactly:
    ``int_{b_j}^{b_{j+1}} e^{tau_i - u} du = e^{tau_i - b_{j+1}} (e^{h/R} - 1)`` for a whole piece
    ``j < i`` and ``int_{b_i}^{tau_i} e^{tau_i - u} du = e^{tau_i - b_i} - 1`` for the part of piece
    ``i`` before ``tau_i``. The midpoint states then solve the fixed-point (collocation) system

    .. math:: x_i = e^{\\tau_i} x + \\sum_{j<i} e^{\\tau_i - b_{j+1}} (e^{h/R} - 1)\\, s_j
              + (e^{\\tau_i - b_i} - 1)\\, s_i ,

    which is found by Picard iteration from the exponential-integrator guess
    ``x_i^{(0)} = e^{tau_i} x + (e^{tau_i} - 1) s(x, t)``: each sweep evaluates all ``s_j`` at the
    current states (one parallel round) and recomputes every ``x_i`` from them. Each sweep shrinks
    the distance to the fixed point by a factor of order ``L h`` or less (``L`` the score's Lipschitz
    constant; the measured factor is in docs/performance.md). The endpoint is the
    randomized-midpoint estimate of the whole integral, piece by piece,

    .. math:: x_{next} = e^{h} x + \\frac{h}{R} \\sum_j e^{h - \\tau_j} s(x_j, t - \\tau_j),

    unbiased for each piece given exact midpoint states.

    **Cost per step and particle** (what the oracle and the kernels count): one evaluation at
    ``(x, t)`` (round 1), ``R`` evaluations in each of the ``K`` sweeps (``K`` rounds), and ``R`` at
    the final midpoint states for the endpoint (one round): ``1 + R (K + 1)`` evaluations in
    ``K + 2`` rounds. ``R = 1, K = 0`` is :class:`~.RandomizedMidpoint` (equal to rounding).

    **Accuracy.** The endpoint's zero-mean quadrature error has standard deviation
    ``~ h^2 / R^{3/2}`` per step and the converged midpoints are off by ``O(h^2 / R)``, so the
    pathwise error is ``O(h^{3/2} R^{-3/2} + h^2 / R)``: order 1.5 in ``h`` for fixed ``R``, falling
    with ``R``. With ``K = 0`` the midpoints keep the ``O(h^2)`` error of the exponential guess, so
    ``K >= 1`` is needed for ``R`` to pay off. On Gaussians the error falls about like ``R^{-3/2}``
    and the ``h^2 / R`` term still shows in the slope against the step count (docs/performance.md).

    **Depth.** [1]_ keeps ``h`` of order ``1/L`` and lets ``R`` grow with ``d / eps``, so the rounds
    grow only polylogarithmically. ``benchmarks/parallel_rounds.py`` measures the rounds against
    ``d`` at fixed pathwise error, against the sequential method's (docs/performance.md, "Parallel
    depth against dimension").

    The Picard update and the piecewise-constant quadrature of the midpoints are this package's
    reading of [1]_ (its full text was not available); the endpoint formula is the paper's.

    References
    ----------
    .. [1] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized midpoints:
       sequential and parallel", arXiv:2406.00924, 2024.
    .. [2] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling",
       NeurIPS 2019, arXiv:1909.05503 (section 4, the parallel method).
    .. [3] Y. T. Lee, Z. Song, S. S. Vempala, "Algorithmic theory of ODEs and sampling from
       well-conditioned logconcave densities", arXiv:1812.06243, 2018 (Picard iteration/collocation).
    """

    name = "parallel-midpoint"
    theorem = "parallel_midpoint_ms"
    kernel_step = staticmethod(parallel_midpoint_step)
    kernel_node_step = staticmethod(parallel_midpoint_node_step)

    def __init__(self, R: int = 4, K: int = 2, sampling: str = "uniform"):
        self.R = check_int("R (sub-intervals per step)", R, 1)
        self.K = check_int("K (Picard sweeps)", K, 0)
        self.sampling = check_sampling(sampling)
        # instance attributes: the cost and the kernel's scratch depend on R and K
        self.evals_per_step = 1 + self.R * (self.K + 1)
        self.rounds_per_step = self.K + 2
        self.n_work = 2 * self.R
        self.kernel_node_threads = self.R  # on CUDA: a thread per midpoint when the particles are few

    def order(self) -> float:
        """Mean-square order 1.5 in the step size, as the sequential method (constants fall with R)."""
        return 1.5

    def kernel_params(self, grid, target=None) -> tuple:
        return (np.int64(self.R), np.int64(self.K), np.int64(self.sampling == "exponential"))

    def theorem_options(self) -> dict:
        return {"R": self.R, "K": self.K, "sampling": self.sampling}

    def midpoint_times(self, h: float, k: int, noise) -> np.ndarray:
        """Offsets ``tau_j`` ``(R, n)`` of the random points into step ``k`` (reverse time)."""
        alpha = np.stack([noise.uniform(k, SLOT_MIDPOINT + j) for j in range(self.R)])
        pieces = np.arange(self.R)[:, None]
        return _midpoint_offset_numpy(alpha, pieces, h / self.R, self.sampling == "exponential")

    def step(self, x, t, h, k, score, noise, state=None):
        """One step on a batch of any array namespace (:mod:`certsample.arrays`); the weights come from the
        host's Philox noise and go to the state's device."""
        R = self.R
        hr = h / R
        tau = self.midpoint_times(h, k, noise)
        times = t - tau
        first = score(x, t)
        growth = like(np.exp(tau)[..., None], x)
        mids = growth * x + like(np.expm1(tau)[..., None], x) * first
        # weights[i, j, p]: exact integral of e^{tau_i - u} over piece j (up to tau_i when j == i)
        j_end = (np.arange(R)[None, :, None] + 1) * hr
        weights = np.exp(tau[:, None, :] - j_end) * math.expm1(hr)
        lower = np.tril(np.ones((R, R), dtype=bool), -1)[..., None]
        weights = np.where(lower, weights, 0.0)
        diag = np.arange(R)
        weights[diag, diag] = np.expm1(tau - diag[:, None] * hr)
        weights = like(weights, x)
        for _ in range(self.K):
            s = score.evaluate_at(mids, times)
            mids = growth * x + einsum("ijp,jpd->ipd", weights, s)
        s = score.evaluate_at(mids, times)
        end = like(_midpoint_weight_numpy(tau, diag[:, None], h, hr, self.sampling == "exponential"), x)
        return math.exp(h) * x + einsum("jp,jpd->pd", end, s), state

    def __repr__(self) -> str:
        extra = "" if self.sampling == "uniform" else f", sampling={self.sampling!r}"
        return f"{type(self).__name__}(R={self.R}, K={self.K}{extra})"
