"""Parallel underdamped Langevin: a window of ULMC steps found by Picard sweeps.

The randomized-midpoint ULMC chain (:mod:`.ulmc`) evaluates the score at ``x_j`` and at ``x_half_j``
for each step ``j``, one after the other: ``2 M`` sequential rounds for ``M`` steps. With the
noise of the window fixed (the same Philox draws), the chain is a fixed point of a map that takes
the ``2 M`` scores and returns the ``2 M`` positions; Picard iteration applies that map to all
``2 M`` scores evaluated together, one parallel round per sweep.

Anari, Chewi and Vuong (2024) make underdamped Langevin parallel by Picard iteration of the
continuous dynamics over windows of time ``~ 1/sqrt(L)``, with ``O(log(d/eps))`` sweeps. Their
full text was not reachable; this is our reconstruction on the discrete randomized-midpoint chain,
which has one property we test: *after* ``2 M`` *sweeps the result is the sequential chain's*, not
an approximation of it.

Proof of exactness. Index the positions ``p_0 = x_0, p_1 = x_half_0, p_2 = x_1, ...`` and their
scores ``s_i``. The recursion computes ``p_{i+1}`` from ``p_0`` and ``s_0 .. s_i`` (and the fixed
noise) only. ``p_0`` is exact before the first sweep; if ``p_0 .. p_i`` are exact before sweep
``i + 1``, that sweep evaluates ``s_0 .. s_i`` exactly and its recursion makes ``p_{i+1}`` exact.
So after sweep ``i`` the positions ``p_0 .. p_i`` are exact, and the end state, a function of ``s_0
.. s_{2M-1}``, is exact after sweep ``2 M``.

Contraction. Before that, each sweep multiplies the error of the scores by about ``u L tau^2 / 2``
per unit of the window's time ``tau = M h`` (the score enters the positions through the double
integral of the dynamics, ``u = 1/L``), so with ``tau <= 1`` every sweep gains at least a factor 2
and, as for any Picard iteration of an ODE, the ``P``-th sweep's error has the factor
``(u L tau^2)^P / (2 P)!``. Measured in ``tests/test_parallel_predictor_corrector.py``.

References
----------
.. [1] N. Anari, S. Chewi, T.-D. Vuong, "Fast parallel sampling under isoperimetry", COLT 2024,
   arXiv:2401.09016.
.. [2] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling",
   NeurIPS 2019, arXiv:1909.05503.
"""

from __future__ import annotations

import numpy as np

from ..kernels.jit import device_function
from ..kernels.score import particle_score
from .ulmc import ULMC_SLOTS, ulmc_draw, ulmc_draw_numpy, ulmc_end, ulmc_end_numpy, ulmc_half, ulmc_half_numpy

__all__ = ["picard_work_rows", "picard_cost", "picard_ulmc_window", "picard_ulmc_window_numpy"]


def picard_work_rows(n_steps: int) -> int:
    """Rows of ``d`` scratch :func:`picard_ulmc_window` needs: ``2 M`` positions, ``2 M`` scores, 5 more."""
    return 4 * n_steps + 5


def picard_cost(n_steps: int, n_sweeps: int) -> tuple[int, int]:
    """``(evaluations, rounds)`` per particle of a window of ``n_steps`` steps and ``n_sweeps`` sweeps.

    Sweeps past ``2 n_steps`` change nothing (the chain is exact by then) and are not run. The first
    sweep evaluates the start only (every position starts there); later sweeps evaluate the
    ``2 M - 1`` positions after the start, which never changes.
    """
    sweeps = min(n_sweeps, 2 * n_steps)
    if n_steps == 0 or sweeps == 0:
        return 0, 0
    return 1 + (sweeps - 1) * (2 * n_steps - 1), sweeps


@device_function
def picard_ulmc_window(
    x, v, h, u, t_score, n_steps, n_sweeps, k, particle, key0, key1, slot0, target_params, work, swork
):
    """``n_steps`` ULMC steps of length ``h`` from ``(x, v)`` by ``n_sweeps`` Picard sweeps, in place.

    Step ``j`` draws its noise with :func:`~.ulmc.ulmc_draw` from slot ``slot0 + 4 j`` of Philox step
    ``k``, as the sequential chain does. ``work`` has :func:`picard_work_rows` rows. Returns the
    evaluations (:func:`picard_cost`).
    """
    d = x.shape[0]
    m2 = 2 * n_steps
    sweeps = min(n_sweeps, m2)
    x0 = work[2 * m2]
    v0 = work[2 * m2 + 1]
    w1 = work[2 * m2 + 2]
    w2 = work[2 * m2 + 3]
    w3 = work[2 * m2 + 4]
    if sweeps == 0:
        return 0
    for c in range(d):
        x0[c] = x[c]
        v0[c] = v[c]
    nfe = 0
    for sweep in range(sweeps):
        # one parallel round: the scores of every position of the previous sweep's path
        if sweep == 0:
            particle_score(x0, t_score, target_params, work[m2], swork)
            for i in range(1, m2):
                for c in range(d):
                    work[m2 + i, c] = work[m2, c]
            nfe += 1
        else:
            for i in range(1, m2):
                particle_score(work[i], t_score, target_params, work[m2 + i], swork)
            nfe += m2 - 1
        # the recursion from the start with those scores
        for c in range(d):
            x[c] = x0[c]
            v[c] = v0[c]
        for j in range(n_steps):
            alpha = ulmc_draw(w1, w2, w3, h, k, particle, key0, key1, slot0 + ULMC_SLOTS * j)
            for c in range(d):
                work[2 * j, c] = x[c]
            ulmc_half(work[2 * j + 1], x, v, work[m2 + 2 * j], w1, alpha, h, u)
            ulmc_end(x, v, work[m2 + 2 * j + 1], w2, w3, alpha, h, u)
    return nfe


def picard_ulmc_window_numpy(x, v, h, u, t_score, n_steps, n_sweeps, k, score, noise, slot0):
    """NumPy twin of :func:`picard_ulmc_window` on a batch ``(n, d)``; returns the new ``(x, v)``.

    ``score`` is a :class:`~certsample.oracle.ScoreOracle`: one round per sweep, counted by it.
    """
    sweeps = min(n_sweeps, 2 * n_steps)
    if sweeps == 0:
        return x, v
    draws = [ulmc_draw_numpy(h, k, noise, slot0 + ULMC_SLOTS * j) for j in range(n_steps)]
    scores = np.empty((2 * n_steps,) + x.shape)
    scores[:] = score(x, t_score)
    positions = np.empty_like(scores)
    times = np.full((2 * n_steps - 1, x.shape[0]), float(t_score))
    for sweep in range(sweeps):
        if sweep > 0:
            scores[1:] = score.evaluate_at(positions[1:], times)
        xs, vs = x, v
        for j, (alpha, w1, w2, w3) in enumerate(draws):
            positions[2 * j] = xs
            positions[2 * j + 1] = ulmc_half_numpy(xs, vs, scores[2 * j], w1, alpha, h, u)
            xs, vs = ulmc_end_numpy(xs, vs, scores[2 * j + 1], w2, w3, alpha, h, u)
    return xs, vs
