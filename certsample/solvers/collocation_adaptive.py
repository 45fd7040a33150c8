"""Collocation windows, degree and sweeps chosen a posteriori from a pilot batch.

:func:`certsample.solvers.collocation.collocation_plan` sizes windows from a worst-case Lipschitz
bound and fixes ``D`` and ``N`` from ``log(windows / eps)``: safe, but 10-30x the cost of a hand-tuned
choice. :func:`adapt_plan` instead integrates a small pilot batch (the first particles of the run)
and measures, window by window, what the error is made of:

* **Picard error**: sweeps run until the change of the node states between two sweeps (max over
  the pilot and over nodes) falls below the window's tolerance. With a contraction ``q <= 1/2``
  the remaining error is at most ``q/(1 - q)`` times that change, i.e. at most the change.
* **Interpolation error**: the node drifts ``g(c_j)`` at the Lobatto points give the Chebyshev
  coefficients ``a_0 .. a_D`` of their interpolant (a DCT-I). For a drift analytic across the window
  the coefficients fall geometrically, and the interpolation error is about the size of the last
  ones, ``|a_{D-1}| + |a_D|``; the window's state error is that times ``h e^h`` (the variation-of-
  constants kernel). This is the estimate used by Chebfun-style adaptive spectral solvers.

A window is accepted when the larger estimate is within its share of ``eps``: the tolerance is
spread over the run in proportion to ``log(t / (t - h))``, the window's share of the log-time
``log(T / delta)`` (the drift varies on the time scale ``t`` itself, so windows are roughly
geometric). A rejected window is retried shorter; an accepted one proposes the next length from
the estimate's margin (error ~ ``h^{D+1}``). The exponential part of the flow stays exact. The
windows and per-window sweeps are then shared by the whole batch on any backend, so ``nfe`` and
``rounds`` of the run equal the plan's.

``eps`` is a target for the RMS pathwise error over the batch; estimates are not proofs (for a
proof use :func:`certsample.certify.certify`, whose enclosures are). The degree is the cheapest of a
few candidates on the pilot.

References
----------
.. [1] L. N. Trefethen, "Approximation Theory and Approximation Practice", SIAM, 2013 (Ch. 8:
   geometric decay of Chebyshev coefficients; the tail as an error estimate).
.. [2] K. Gatmiry, S. Chen, A. Salim, "High-accuracy and dimension-free sampling with diffusions",
   arXiv:2601.10708, 2026 (Picard iteration on collocation windows of the probability-flow ODE).
"""

from __future__ import annotations

import math

import numpy as np

from ..forward import TimeGrid
from ..validation import check_int
from ..oracle import ScoreOracle
from .collocation import CollocationPlan, _window, chebyshev_lobatto_nodes, picard_sweep

__all__ = ["adapt_plan", "chebyshev_coefficients", "DEGREES"]

#: degrees tried on the pilot (even: the Lobatto nodes then include the window's midpoint)
DEGREES = (4, 6, 8, 10, 12, 16)
MAX_SWEEPS = 40
SAFETY = 0.5  # fraction of eps the estimates may spend (the rest covers error growth across windows)
SWEEP_SHARE = 0.5  # sweeps stop when the change between two is below this fraction of the tolerance


def chebyshev_coefficients(values) -> np.ndarray:
    """Chebyshev coefficients ``a_0 .. a_D`` of the interpolant through values at the Lobatto points.

    ``values`` has the node axis first (``c_j = (1 - cos(pi j / D)) / 2``, i.e. ``x_j = -cos(pi j / D)``
    on ``[-1, 1]``); the transform is the DCT-I written out (``D`` is small).
    """
    values = np.asarray(values, dtype=float)
    degree = values.shape[0] - 1
    j = np.arange(degree + 1)
    # T_m(x_j) = T_m(-cos(pi j / D)) = (-1)^m cos(pi m j / D)
    basis = np.cos(np.pi * np.outer(j, j) / degree) * ((-1.0) ** j)[:, None]
    weight = np.ones(degree + 1)
    weight[0] = weight[-1] = 0.5
    coef = (2.0 / degree) * np.tensordot(basis * weight[None, :], values, axes=(1, 0))
    coef[0] *= 0.5
    coef[-1] *= 0.5
    return coef


def _worst(v):
    """Largest Euclidean norm over the pilot; ``v`` is ``(m, d)``. The max, not the RMS: the pilot is
    a few particles standing in for the batch, and the rare hard paths (between modes) set the RMS."""
    return float(np.sqrt(np.max(np.sum(v * v, axis=-1))))


def _run_windows(score, x, T, delta, eps, degree, h_first, budget=math.inf):
    """March the pilot from ``T`` to ``delta``; returns ``(times, sweeps, pilot evaluations)``, or
    ``(None, None, evaluations)`` as soon as the plan would cost more than ``budget`` per particle."""
    nodes = chebyshev_lobatto_nodes(degree)
    log_span = math.log(T / delta)
    t, h = T, h_first
    times, sweeps, spent, cost = [T], [], 0, 0
    while t > delta:
        h = min(h, t - delta)
        if t - h - delta < 1e-9 * delta:
            h = t - delta
        tol = SAFETY * eps * math.log(t / (t - h)) / log_span
        amat, growth, _ = _window(degree, h, "exponential")
        node_times = t - h * nodes
        states = np.repeat(x[None], degree + 1, axis=0)
        drift = np.empty_like(states)
        change = math.inf
        for count in range(1, MAX_SWEEPS + 1):
            previous = states.copy()
            picard_sweep(score, x, states, drift, node_times, amat, growth, 0.0, h, count == 1)
            spent += degree + (count == 1)
            change = max(_worst(states[j] - previous[j]) for j in range(1, degree + 1))
            if change <= SWEEP_SHARE * tol:
                break
        coef = chebyshev_coefficients(drift)
        interp = h * math.exp(h) * (_worst(coef[-1]) + _worst(coef[-2]))
        estimate = max(interp, change)
        if estimate <= tol:
            x, t = states[-1], (delta if h >= t - delta else t - h)
            times.append(t)
            sweeps.append(count)
            cost += degree * count + 1
            if cost >= budget:
                return None, None, spent
            h *= min(2.0, max(1.0, 0.9 * (tol / max(interp, 1e-300)) ** (1.0 / (degree + 1))))
        elif interp > tol:
            h *= max(0.2, 0.9 * (tol / interp) ** (1.0 / (degree + 1)))
        else:  # the sweeps did not converge: shorter windows contract faster
            h *= 0.5
        if h < 1e-12 * max(t, 1.0):
            raise RuntimeError(f"adaptive collocation: window at t={t:g} shrank below {h:g}; the score is not "
                               f"smooth enough there for eps={eps:g}")
    return np.array(times), np.array(sweeps, dtype=np.int64), spent


def adapt_plan(eps: float, score, x_pilot, T: float = 10.0, delta: float = 1e-3, degree: int | None = None,
               degrees=DEGREES) -> CollocationPlan:
    """Windows and per-window sweeps measured on a pilot batch for RMS pathwise accuracy ``eps``.

    Parameters
    ----------
    eps : float
        Target RMS pathwise error, ``0 < eps < 1``.
    score : callable
        Batched ``score(x, t)`` (``t`` of shape ``(m,)``: a target's, a user's, or a
        :class:`~certsample.oracle.ScoreOracle`).
    x_pilot : array, shape (m, d)
        Pilot particles at forward time ``T`` (the run's first particles, or exact ``q_T`` draws).
    T, delta : float
        Horizon and early-stopping time.
    degree : int, optional
        Fix ``D``; by default the cheapest of ``degrees`` in score evaluations per particle.

    Returns
    -------
    CollocationPlan
        ``grid``, ``degree``, ``sweeps`` (an array, one count per window), ``eps``; ``plan.solver()``
        runs it. ``plan.pilot_evaluations`` is what the search cost per pilot particle.
    """
    if not (isinstance(eps, (float, int)) and 0 < eps < 1):
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    if not (math.isfinite(delta) and delta > 0 and math.isfinite(T) and T > delta):
        raise ValueError(f"need T > delta > 0, got T={T!r}, delta={delta!r}")
    x = np.asarray(x_pilot, dtype=float)
    if x.ndim != 2 or x.shape[0] < 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"x_pilot must be a finite (m, d) array, got shape {x.shape}")
    # a bare callable goes through an oracle too: one batched, checked call per sweep
    score = score if isinstance(score, ScoreOracle) else ScoreOracle(score, x.shape[1])
    candidates = [check_int("degree", degree, 2)] if degree is not None else list(degrees)
    h_first = min(1.0, 0.25 * (T - delta))
    # the cost is unimodal in D in every case measured: start in the middle, walk downhill, and stop
    # a candidate's march as soon as it costs more than the best so far
    candidates = sorted(candidates)
    best, spent_total, tried = None, 0, set()
    index = len(candidates) // 2
    step = 1
    while 0 <= index < len(candidates) and index not in tried:
        tried.add(index)
        D = candidates[index]
        times, sweeps, spent = _run_windows(score, x, T, delta, float(eps), D, h_first,
                                            math.inf if best is None else best[0])
        spent_total += spent
        if times is not None:
            best = (int(np.sum(D * sweeps + 1)), D, times, sweeps)
            index += step
        elif step == 1 and len(tried) == 2:  # uphill to the right of the first: walk left instead
            step, index = -1, index - 2
        else:
            break
    if best is None:
        raise RuntimeError("adaptive collocation found no plan")
    _, D, times, sweeps = best
    plan = CollocationPlan(TimeGrid(times), D, sweeps, None, float(eps))
    plan.pilot_evaluations = spent_total
    return plan
