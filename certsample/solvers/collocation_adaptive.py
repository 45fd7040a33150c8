"""Collocation windows, degree and sweeps chosen a posteriori from a pilot batch.

:func:`certsample.solvers.collocation.collocation_plan` sizes windows from a worst-case Lipschitz
bound and fixes ``D`` and ``N`` from ``log(windows / eps)``: safe, but many times the cost of a
hand-tuned choice (docs/performance.md). :func:`adapt_plan` instead integrates a small pilot batch
(the first particles of the run) window by window and measures the error of what the batch will run:

* **Reference**: each trial window is also solved by collocation of degree ``2 D`` on the same
  nodes' window, iterated to convergence. Lobatto collocation is superconvergent at the window's
  end (order ``2 D`` in ``h``; for a drift analytic across the window its error falls like
  ``rho^{-2D}`` for the Bernstein-ellipse parameter ``rho``), so the reference's error is about the
  square of the degree-``D`` solution's, and ``|X_D - X_ref|`` estimates the latter. Cheaper
  estimates were tried and dropped: the tail ``|a_{D-1}| + |a_D|`` of the Chebyshev coefficients
  of the node drifts (the interpolation error) overestimates the end-point error by orders of
  magnitude on the ring, and its square extrapolation underestimates it by orders of magnitude
  (docs/performance.md, "Collocation from eps alone").
* **Sweeps**: the batch starts every window after the first from the previous window's extrapolated
  drift interpolant (``warm_start``), and after a window of two sweeps or more it takes the next
  window's first sweep in that window's last round (``pipeline``: a round saved per window at the
  same evaluations); the pilot does the same. After each sweep the pilot's end
  states are compared with the reference; the window's sweep count is the first whose error (max
  over the pilot) is within the window's tolerance. It counts the Picard remainder and the
  collocation error together, so no contraction factor has to be guessed.
* **Window length**: a window whose degree-``D`` solution cannot meet the tolerance however many
  sweeps (the change between sweeps falls far below the error), or whose reference does not
  converge, is retried shorter. An accepted window proposes the next length from the margin of its
  converged collocation error (error ~ ``h^{D+1}``, conservative against the ``2 D`` order), at
  most twice as long, and no longer than keeps the Picard factor (second change over the first)
  within :data:`MAX_CONTRACTION`. Nothing else bounds it: a cap of ``0.6 t`` (the time left) cost
  rounds, because near ``delta`` the warm start meets the tolerance in one sweep and the cap only
  multiplied those windows (docs/performance.md). Each window is also tried at :data:`LENGTH_TRIALS`
  times the proposed length, and the pilot keeps whichever meets its tolerance at the fewest
  evaluations per unit of log-time (the rule the tolerance is spread by): the proposal extrapolates
  from the last window, and a longer window often converges in barely more sweeps.

The tolerance is spread over the run in proportion to ``log(t / (t - h))``, the window's share of
the log-time ``log(T / delta)`` (the drift varies on the time scale ``t`` itself, so windows are
roughly geometric), times :data:`SAFETY`. The windows and per-window sweeps are then shared by the
whole batch on any backend, so ``nfe`` and ``rounds`` of the run equal the plan's; what the pilot
spends is reported apart (``plan.pilot_evaluations``: several times a plan's evaluations per pilot
particle and degree tried, mostly the references; docs/performance.md). The linear part of the
flow stays exact: ``y``, or, with ``reference_variance`` (what ``sample(..., eps=)`` passes for a mixture
target, :func:`reference_variance_of`), the flow of ``N(0, v)``, which leaves the sweeps only the score's
distance from ``-1/V`` to contract.

``eps`` is a target for the RMS pathwise error over the batch; estimates are not proofs (for a
proof use :func:`certsample.verify.certify`, whose enclosures are). The degree is chosen among a
few candidates on the pilot: the fewest rounds at nearly the fewest evaluations.

References
----------
.. [1] L. N. Trefethen, "Approximation Theory and Approximation Practice", SIAM, 2013 (Ch. 8:
   geometric decay of Chebyshev coefficients).
.. [2] E. Hairer, G. Wanner, "Solving Ordinary Differential Equations II", Springer, 1996
   (Sec. IV.5: superconvergence of collocation at Lobatto points).
.. [3] K. Gatmiry, S. Chen, A. Salim, "High-accuracy and dimension-free sampling with diffusions",
   arXiv:2601.10708, 2026 (Picard iteration on collocation windows of the probability-flow ODE).
"""

from __future__ import annotations

import math

import numpy as np

from ..forward import TimeGrid
from ..oracle import ScoreOracle
from ..validation import check_int
from .collocation import (
    CollocationPlan,
    _from,
    _window_at,
    anderson_mix,
    chebyshev_lobatto_nodes,
    node_states,
    picard_sweep,
    schedule_cost,
    warm_start_matrix,
)

__all__ = ["adapt_plan", "reference_variance_of", "DEGREES"]

#: degrees tried on the pilot (even: the Lobatto nodes then include the window's midpoint)
DEGREES = (4, 6, 8, 10, 12, 16)
MAX_SWEEPS = 40
SAFETY = 1.0  # fraction of eps the windows' tolerances add up to (run errors sit well below: docs/performance.md)
EVALUATION_SLACK = 1.1  # a degree may cost this many times the cheapest one's evaluations for fewer rounds
MAX_CONTRACTION = 0.5  # Picard factor (second change over first) a window may grow into
STALLED = 1e-3  # sweeps stop trying once they change the states by less than this times the error
ROUNDING = 16 * np.finfo(float).eps  # relative floor of the errors a float64 pilot can measure
LENGTH_TRIALS = (1.4,)  # other window lengths tried, as multiples of the proposed one (0.7 too: docs)
#: largest rounding gain of the plans' warm-start extrapolation: the whole interpolant up to D = 10; the pilot
#: measures the start it gives, noise included (what the default cap costs: docs/performance.md)
MEASURED_WARM_START_GAIN = 1e8


def reference_variance_of(score):
    """The variance whose Gaussian flow the measured plans integrate exactly: for a score carrying a
    :class:`~certsample.targets.MixtureTarget` (``score.target``), the harmonic mean of its components'
    variances over its own coordinates (the score's Jacobian near a component is ``-1/V`` per coordinate,
    and the harmonic mean matches the average ``1/v`` as ``t -> 0``; 0 for point masses); otherwise None
    (the linear part ``y``)."""
    from ..targets import MixtureTarget

    target = getattr(score, "target", None)
    if not isinstance(target, MixtureTarget):
        return None
    variances = np.asarray(target.variances, dtype=float)
    if np.any(variances == 0):  # points (a cloud): the harmonic mean is 0, the flow of a point mass
        return 0.0
    return float(1.0 / np.mean(1.0 / variances))


def _worst(v):
    """Largest Euclidean norm over the pilot; ``v`` is ``(m, d)``. The max, not the RMS: the pilot is
    a few particles standing in for the batch, and the rare hard paths (between modes) set the RMS."""
    return float(np.sqrt(np.max(np.sum(v * v, axis=-1))))


def _change(new, old):
    """Largest change of a moving node's state between two sweeps (max over nodes and the pilot)."""
    return max(_worst(new[j] - old[j]) for j in range(1, new.shape[0]))


def _reference_end(score, x, t, h, degree, floor, reference_variance):
    """End states of the window by degree-``degree`` collocation iterated to convergence, and the
    evaluations spent; ``None`` for the states if the sweeps do not converge (the window is too long)."""
    nodes = chebyshev_lobatto_nodes(degree)
    amat, growth, shift = _window_at(degree, t, h, "exponential", reference_variance)
    states = np.repeat(x[None], degree + 1, axis=0)
    drift = np.empty_like(states)
    spent = 0
    for count in range(1, 2 * MAX_SWEEPS + 1):
        previous = states.copy()
        picard_sweep(score, x, states, drift, t - h * nodes, amat, growth, shift, h, count == 1)
        spent += degree + (count == 1)
        change = _change(states, previous)
        if not math.isfinite(change):
            break
        if change <= floor:
            return states[-1], spent
    return None, spent


def _try_window(score, x, t, h, degree, nodes, tol, floor, carry, ahead, pipeline, reference_variance, gain, anderson):
    """One window of the pilot from ``x`` at ``t`` of length ``h``; returns ``(accepted, error, changes,
    spent)`` where ``accepted`` is ``None`` (the tolerance was not met, or the reference did not converge:
    ``error`` is then ``inf``) or ``(sweeps, end states, last drifts, ahead for the next window)``."""
    ref, spent = _reference_end(score, x, t, h, 2 * degree, max(0.01 * tol, floor), reference_variance)
    if ref is None:  # the Picard map does not contract on this window
        return None, math.inf, [], spent
    amat, growth, shift = _window_at(degree, t, h, "exponential", reference_variance)
    states = np.repeat(x[None], degree + 1, axis=0)
    drift = np.empty_like(states)
    overlapped = ahead is not None
    if overlapped:
        # the first sweep as the batch takes it, in the previous window's last round
        start, start_drift, end_drift = ahead
        states[:] = start
        node_states(start, states, start_drift, warm_start_matrix(amat, carry[0], h, gain), growth, h)
        drift[0] = end_drift
        drift[1:] = score.evaluate_many(states[1:], t - h * nodes[1:]) + _from(shift, 1) * states[1:]
        spent += degree
    elif carry is not None:
        node_states(x, states, carry[1], warm_start_matrix(amat, carry[0], h, gain), growth, h)
    accepted, error, changes, memory = None, math.inf, [], None
    for count in range(1, MAX_SWEEPS + 1):
        previous, previous_drift = states.copy(), drift.copy()
        if overlapped and count == 1:
            states[0] = x
            node_states(x, states, drift, amat, growth, h)
        else:
            picard_sweep(score, x, states, drift, t - h * nodes, amat, growth, shift, h, count == 1 + overlapped)
            spent += degree + (count == 1 + overlapped)
            if anderson:  # as the solver mixes: every evaluated sweep after the window's first
                memory = anderson_mix(states, previous, memory)
        error = _worst(states[-1] - ref)
        if accepted is None and error <= tol:
            accepted = (
                count,
                states[-1].copy(),
                drift.copy(),
                (previous[-1], previous_drift, drift[-1].copy()) if count >= 2 and pipeline else None,
            )
        change = _change(states, previous)
        changes.append(change)
        # go on past acceptance until converged: the converged error sizes the next window
        if change <= STALLED * max(error, floor) or (accepted is not None and change <= 0.01 * tol):
            break
    return accepted, error, changes, spent


def _run_windows(
    score,
    x,
    T,
    delta,
    eps,
    degree,
    h_first,
    budget=math.inf,
    pipeline=True,
    reference_variance=None,
    gain=None,
    anderson=False,
):
    """March the pilot from ``T`` to ``delta``; returns ``(times, sweeps, pilot evaluations)``, or
    ``(None, None, evaluations)`` as soon as the plan would cost more than ``budget`` per particle.

    With ``pipeline`` the pilot runs each window as the pipelined batch will: after a window of two
    sweeps or more, the next one's first sweep starts from that window's states before its last sweep
    (:class:`~certsample.solvers.collocation.Collocation` with ``pipeline=True``). Each window is tried
    at the proposed length and at :data:`LENGTH_TRIALS` times it, and the one with the fewest
    evaluations per unit of log-time (the share of the tolerance it spends) is taken."""
    nodes = chebyshev_lobatto_nodes(degree)
    log_span = math.log(T / delta)
    floor = ROUNDING * (1.0 + float(np.max(np.abs(x))))
    t, h = T, h_first
    times, sweeps, spent, cost = [T], [], 0, 0
    carry = None  # (h, node drifts) of the last accepted window: the next one's warm start
    ahead = None  # with a pipeline: (end state, node drifts) before its last sweep, and its end-node drift
    while t > delta:
        h = min(h, t - delta)
        if t - h - delta < 1e-9 * delta:
            h = t - delta
        if h < 1e-12 * max(t, 1.0):
            raise RuntimeError(
                f"adaptive collocation: window at t={t:g} shrank below {h:g}; the score is not "
                f"smooth enough there for eps={eps:g}"
            )
        best = None
        for factor in (1.0,) + LENGTH_TRIALS:
            length = min(h * factor, t - delta)
            if factor != 1.0 and (best is None or length == best[0]):
                continue  # the others only when the proposed length is met, and differ from it
            if t - length - delta < 1e-9 * delta:
                length = t - delta
            tol = max(SAFETY * eps * math.log(t / (t - length)) / log_span, floor)
            trial = _try_window(
                score,
                x,
                t,
                length,
                degree,
                nodes,
                tol,
                floor,
                carry,
                ahead,
                pipeline,
                reference_variance,
                gain,
                anderson,
            )
            spent += trial[3]
            if trial[0] is None:
                if factor == 1.0:
                    error = trial[1]
                    break
                continue
            count = trial[0][0]
            rate = (degree * count + 1) / math.log(t / (t - length))
            if best is None or rate < best[1]:
                best = (length, rate, tol, trial)
        if best is None:
            h *= max(0.2, min(0.7, 0.9 * (tol / error) ** (1.0 / (degree + 1)))) if math.isfinite(error) else 0.5
            continue
        h, _, tol, (accepted, error, changes, _) = best
        overlapped = ahead is not None
        count, x, last_drift, ahead = accepted
        carry = (h, last_drift)
        t = delta if h >= t - delta else t - h
        times.append(t)
        sweeps.append(count)
        cost += degree * count + (0 if overlapped and count == 1 else 1)
        if cost >= budget:
            return None, None, spent
        grow = min(2.0, max(1.0, 0.9 * (tol / max(error, 1e-300)) ** (1.0 / (degree + 1))))
        # the Picard factor grows with h: a longer window may not push it past MAX_CONTRACTION
        if len(changes) > 1 and changes[0] > 0:
            grow = min(grow, max(1.0, MAX_CONTRACTION * changes[0] / max(changes[1], 1e-300)))
        h *= grow
    return np.array(times), np.array(sweeps, dtype=np.int64), spent


def adapt_plan(
    eps: float,
    score,
    x_pilot,
    T: float = 10.0,
    delta: float = 1e-3,
    degree: int | None = None,
    degrees=DEGREES,
    pipeline: bool = True,
    reference_variance: float | None = None,
    warm_start_gain: float = MEASURED_WARM_START_GAIN,
    anderson: bool = True,
) -> CollocationPlan:
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
        Fix ``D``. By default, of ``degrees``, the one with the fewest rounds among those whose
        evaluations per particle are within :data:`EVALUATION_SLACK` of the fewest (depth is what
        collocation buys, but evaluations are what a batch pays; the plans this slack gives against
        DOP853, and a larger slack's, are in docs/performance.md).
    pipeline : bool
        Plan pipelined windows (the default; see
        :class:`~certsample.solvers.collocation.Collocation`), or the sequential schedule, in which
        every window waits for its predecessor's last sweep.
    reference_variance : float, optional
        Plan and run windows that integrate the flow of ``N(0, v)`` exactly
        (:func:`~certsample.solvers.collocation.reference_window`); :func:`reference_variance_of` gives the
        value ``sample(..., eps=)`` uses.
    warm_start_gain : float
        Largest rounding gain of the warm start's extrapolation, in the pilot and in the plan's solver
        (:func:`~certsample.solvers.collocation.warm_start_matrix`).
    anderson : bool
        Anderson-accelerated sweeps (:func:`~certsample.solvers.collocation.anderson_mix`), in the pilot and
        in the plan's solver.

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
    # the evaluations are unimodal in D in every case measured: walk up from the middle candidate,
    # then down, stopping a direction (and a march) once it costs more than the slack allows
    candidates = sorted(set(candidates))
    plans, spent_total = {}, 0
    middle = len(candidates) // 2
    for direction in (candidates[middle:], candidates[:middle][::-1]):
        for D in direction:
            cheapest = min((p[0] for p in plans.values()), default=math.inf)
            times, sweeps, spent = _run_windows(
                score,
                x,
                T,
                delta,
                float(eps),
                D,
                h_first,
                EVALUATION_SLACK * cheapest,
                pipeline,
                reference_variance,
                warm_start_gain,
                anderson,
            )
            spent_total += spent
            if times is None:
                break
            plans[D] = (*schedule_cost(D, sweeps, pipeline), times, sweeps)
    if not plans:
        raise RuntimeError("adaptive collocation found no plan")
    limit = EVALUATION_SLACK * min(p[0] for p in plans.values())
    D = min(
        (D for D in plans if plans[D][0] <= limit), key=lambda D: (plans[D][1], plans[D][0])
    )  # rounds, then evaluations
    _, _, times, sweeps = plans[D]
    plan = CollocationPlan(
        TimeGrid(times),
        D,
        sweeps,
        None,
        float(eps),
        warm_start=True,
        pipeline=pipeline,
        reference_variance=reference_variance,
        warm_start_gain=warm_start_gain,
        anderson=anderson,
    )
    plan.pilot_evaluations = spent_total
    return plan
