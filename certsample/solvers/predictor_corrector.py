"""Predictor-corrector sampler: randomized-midpoint ODE predictor + underdamped Langevin corrector.

Gupta, Cai and Chen (2024) alternate a randomized-midpoint step of the probability-flow ODE (the
predictor, sequential or parallel) with a short run of randomized-midpoint underdamped Langevin
(ULMC; Shen and Lee 2019) at the noise level just reached (the corrector), in the
predictor-corrector framework of Chen et al. (2023): the ODE moves the particles between noise
levels cheaply but its errors accumulate in law; the Langevin run contracts the law back toward
``q_t`` at a fixed ``t``, so the errors do not compound.
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.jit import device_function
from ..kernels.philox import SLOT_BROWNIAN, fill_normals
from ..validation import check_int, positive_finite
from .base import SDESolver, grid_steps
from .parallel_midpoint import ParallelRandomizedMidpoint, parallel_midpoint_step
from .randomized_midpoint import RandomizedMidpoint
from .ulmc import ULMC_SLOTS, ULMC_WORK, ulmc_step, ulmc_step_numpy

__all__ = ["PredictorCorrector", "predictor_corrector_step", "fresh_velocity", "SLOT_VELOCITY", "corrector_slot"]

#: normal slot of the corrector's fresh velocity (the ODE predictor never draws Brownian noise)
SLOT_VELOCITY = int(SLOT_BROWNIAN)


def corrector_slot(R: int, j: int) -> int:
    """First Philox slot of corrector sub-step ``j`` after a predictor with ``R`` midpoints.

    The predictor uses slots ``1 .. R``; sub-step ``j`` uses ``base + 4 j .. base + 4 j + 3`` with
    ``base = max(8, R + 1)``.
    """
    return max(8, R + 1) + ULMC_SLOTS * j


@device_function
def fresh_velocity(v, u, k, particle, key0, key1):
    """Draw step ``k``'s corrector velocity into ``v``: ``N(0, u I)``, the stationary velocity law of the
    scaled dynamics, from normal slot :data:`SLOT_VELOCITY`."""
    fill_normals(v, key0, key1, particle, np.uint64(k), np.uint64(SLOT_VELOCITY))
    root_u = math.sqrt(u)
    for i in range(v.shape[0]):
        v[i] = root_u * v[i]


@device_function
def predictor_corrector_step(x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork):
    # solver_params = (R, K, exponential, corrector steps per step, u per step, corrector h, first slot)
    n_sub = solver_params[0]
    n_corrector = solver_params[3][k]
    u_steps = solver_params[4]
    h_corr = solver_params[5]
    base = solver_params[6]
    nfe = parallel_midpoint_step(x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork)
    if n_corrector == 0:
        return nfe
    u = u_steps[k]
    v = work[2 * n_sub]
    fresh_velocity(v, u, k, particle, key0, key1)
    t_next = t - h
    for j in range(n_corrector):
        nfe += ulmc_step(
            x,
            v,
            h_corr,
            u,
            t_next,
            k,
            particle,
            key0,
            key1,
            base + ULMC_SLOTS * j,
            target_params,
            work[2 * n_sub + 1 :],
            swork,
        )
    return nfe


class PredictorCorrector(SDESolver):
    """Randomized-midpoint predictor, then a short randomized-midpoint ULMC corrector.

    Schedules: after every step (default), or Gupta-Cai-Chen's block schedule [1]_ -- the predictor
    runs over a block of steps, then the corrector, the pair repeated ``N0`` times (``blocks=N0``, or
    ``span=`` in OU time; ``span='theorem'`` uses Chen et al.'s scaling, predictor time ``1/L`` per
    block [3]_). The full text of [1]_ was not reachable: the block rule follows its stored
    abstract and reviews (predictor over a block, corrector of Chen et al. for a short time, ``N0``
    repetitions, separate step sizes) and the scalings of [3]_.

    Step ``k`` (forward time ``t_k`` to ``t_{k+1}``):

    1. predictor: one :class:`~.RandomizedMidpoint` step (or one
       :class:`~.ParallelRandomizedMidpoint` step with ``R`` midpoints and ``K`` Picard sweeps) of
       the probability-flow ODE;
    2. corrector: draw a fresh velocity ``v ~ N(0, u I)`` and run ``corrector_steps`` steps of
       length ``corrector_h`` of the underdamped Langevin dynamics
       ``dx = v ds, dv = -2 v ds + u grad log q_{t_{k+1}}(x) ds + 2 sqrt(u) dB`` (potential
       ``f = -log q_{t_{k+1}}``, ``u = 1/L``) with Shen and Lee's randomized midpoint
       (:func:`~certsample.solvers.ulmc.ulmc_step`); the velocity is discarded afterwards.

    The corrector leaves ``q_{t_{k+1}}`` invariant up to its own bias and contracts toward it, so the
    predictor's error in law does not compound across steps; that bias does not shrink with the grid.

    Parameters
    ----------
    predictor : {'sequential', 'parallel'} or RandomizedMidpoint or ParallelRandomizedMidpoint
        The ODE step (the registry names ``'randomized-midpoint'`` and ``'parallel-midpoint'`` work
        too). ``'parallel'`` builds ``ParallelRandomizedMidpoint(R, K)`` (default ``R = 4, K = 2``).
    R, K : int
        Sub-intervals and Picard sweeps of the parallel predictor (``predictor='parallel'`` only).
    corrector_steps : int, default 2
        ULMC steps of each corrector run (0: the predictor alone).
    corrector_time : float, optional
        Corrector run time in the scaled dynamics; sets ``corrector_steps = ceil(corrector_time /
        corrector_h)``.
    blocks : int, optional
        Block schedule with ``N0 = blocks`` blocks of (near-)equal step counts; the corrector runs
        at the end of each block only.
    span : float or 'theorem', optional
        Block schedule by OU time: a block closes once its predictor time reaches ``span`` (or
        ``1/L(t)`` at the block's end for ``'theorem'``).
    corrector_h : float, default 0.5
        ULMC step in the time of the scaled dynamics (where ``u = 1/L`` critically damps the
        stiffest mode). The default corrector runs for time 1 there, the ``1/sqrt(L)`` of [3]_
        in unscaled time. Its bias is about ``corrector_h^3`` in the output's moments on a Gaussian
        and does not shrink as the predictor's grid is refined (docs/performance.md).
    L : float or callable, optional
        Lipschitz constant of the score at the corrector's noise level: a number, or ``L(t)``.
        Default: the exact target's bound ``working_score_lipschitz(t)`` (the oracle's target on the NumPy
        backend, ``target=`` for the compiled kernels).
    target : MixtureTarget, optional
        Where the default ``L(t)`` comes from on the compiled backends.

    Notes
    -----
    **Velocity.** With ``u = 1/L`` the Shen-Lee dynamics are the usual underdamped Langevin
    dynamics (friction ``2 sqrt(L)``) with time and velocity rescaled by ``sqrt(u)``, so the fresh
    velocity ``N(0, I)`` of [3]_ becomes ``sqrt(u) N(0, I)`` here, its stationary law.

    **Noise.** Step ``k`` takes the predictor's uniforms from slots ``1 .. R``, the velocity from
    slot 0 (normals; the ODE predictor draws no Brownian noise), and corrector sub-step ``j`` from
    slots ``corrector_slot(R, j) .. + 3`` (:func:`corrector_slot`), all with Philox step ``k``.

    **Cost per step and particle.** The predictor's (``2`` evaluations in ``2`` rounds; parallel:
    ``1 + R (K + 1)`` in ``K + 2``) plus ``2 corrector_steps`` evaluations in as many rounds.

    **Early stopping.** The schedule is the grid's: it ends at ``delta``, and the last corrector
    runs at ``delta``.

    **Where it pays.** On a coarse predictor grid the corrector lowers the output's W2 to ``q_delta``
    at each added step, more with the default step than with a finer one. On a fine grid its own bias
    dominates: the output law's error levels off where the predictor alone keeps falling, and a smaller
    ``corrector_h`` lowers that floor (figures in docs/performance.md).

    References
    ----------
    .. [1] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized midpoints:
       sequential and parallel", arXiv:2406.00924, 2024.
    .. [2] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling",
       NeurIPS 2019, arXiv:1909.05503.
    .. [3] S. Chen, S. Chewi, H. Lee, Y. Li, J. Lu, A. Salim, "The probability flow ODE is provably
       fast", NeurIPS 2023, arXiv:2305.11798.
    """

    name = "predictor-corrector"
    theorem = "gupta_cai_chen"
    kernel_step = staticmethod(predictor_corrector_step)

    def __init__(
        self,
        predictor="sequential",
        R: int | None = None,
        K: int | None = None,
        corrector_steps: int = 2,
        corrector_h: float = 0.5,
        L=None,
        target=None,
        corrector_time: float | None = None,
        blocks: int | None = None,
        span=None,
    ):
        if predictor in ("parallel", ParallelRandomizedMidpoint.name):
            predictor = ParallelRandomizedMidpoint(4 if R is None else R, 2 if K is None else K)
        elif R is not None or K is not None:
            raise ValueError("R and K apply to predictor='parallel' only")
        elif predictor in ("sequential", RandomizedMidpoint.name):
            predictor = RandomizedMidpoint()
        if not isinstance(predictor, (RandomizedMidpoint, ParallelRandomizedMidpoint)):
            raise ValueError(
                f"predictor must be 'sequential', 'parallel', a RandomizedMidpoint or a "
                f"ParallelRandomizedMidpoint, got {predictor!r}"
            )
        self.predictor = predictor
        # the sequential predictor is the parallel kernel with R = 1, K = 0 (identical arithmetic)
        parallel = isinstance(predictor, ParallelRandomizedMidpoint)
        self.R, self.K = (predictor.R, predictor.K) if parallel else (1, 0)
        self.corrector_h = positive_finite("corrector_h", corrector_h)
        self.corrector_steps = check_int("corrector_steps", corrector_steps, 0)
        if corrector_time is not None:
            # - 1e-12: a quotient such as 2.1 / 0.3 = 7.000000000000001 is 7 steps, not 8
            self.corrector_steps = math.ceil(
                positive_finite("corrector_time", corrector_time) / self.corrector_h - 1e-12
            )
        if blocks is not None and span is not None:
            raise ValueError("give blocks= (N0) or span= (predictor time per block), not both")
        self.blocks = None if blocks is None else check_int("blocks", blocks, 1)
        if span is not None and span != "theorem":
            span = positive_finite("span", span)
        self.span = span
        if L is not None and not callable(L):
            L = positive_finite("L", L)
        self.L = L
        self.target = target
        self._set_cost()
        self.n_work = 2 * self.R + 1 + ULMC_WORK

    def _set_cost(self) -> None:
        # per-step schedule: a fixed cost per step; block schedules add the correctors in cost()
        per_step = self.blocks is None and self.span is None
        evals, rounds = self.corrector_cost(self.corrector_steps) if per_step else (0, 0)
        self.evals_per_step = self.predictor.evals_per_step + evals
        self.rounds_per_step = self.predictor.rounds_per_step + rounds

    def corrector_cost(self, n_corrector: int) -> tuple[int, int]:
        """``(evaluations, rounds)`` of one corrector run of ``n_corrector`` ULMC steps: two each per step."""
        return 2 * n_corrector, 2 * n_corrector

    def order(self) -> float:
        """Pathwise order of the predictor (1.5). The corrector's ULMC steps keep their own ``corrector_h``, so
        their bias (about ``corrector_h^3`` in the output's moments on a Gaussian) does not shrink with the grid:
        the law's error levels off there, whatever the predictor's steps."""
        return self.predictor.order()

    def lipschitz(self, t: float, target=None) -> float:
        """The ``L`` used at noise level ``t`` (see the ``L`` parameter)."""
        if self.L is not None:
            value = float(self.L(t)) if callable(self.L) else self.L
        else:
            target = self.target if self.target is not None else target
            if target is None:
                raise ValueError(
                    "predictor-corrector needs L= (a number or L(t)) or target= for the corrector's step scale u = 1/L"
                )
            try:
                value = float(getattr(target, "working_score_lipschitz", target.score_lipschitz)(t))
            except ValueError as err:
                raise ValueError(f"no Lipschitz bound for this target ({err}); pass L=") from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"Lipschitz constant at t={t:g} must be positive and finite, got {value!r}")
        return value

    def corrector_counts(self, grid, target=None) -> np.ndarray:
        """ULMC steps run after each grid step: ``corrector_steps`` at every step, or at block ends.

        ``grid`` is a :class:`~certsample.forward.TimeGrid` (or a step count, except with ``span``)."""
        n = grid_steps(grid)
        counts = np.zeros(n, dtype=np.int64)
        if self.blocks is None and self.span is None:
            counts[:] = self.corrector_steps
            return counts
        if self.blocks is not None:
            if self.blocks > n:
                raise ValueError(f"blocks={self.blocks} exceeds the grid's {n} steps")
            ends = np.linspace(0, n, self.blocks + 1).round().astype(int)[1:] - 1
        else:
            if not hasattr(grid, "times"):
                raise ValueError("a span= schedule depends on the grid's times: pass the TimeGrid, not a step count")
            ends, elapsed = [], 0.0
            for k, (t, h) in enumerate(zip(grid.times[:-1], grid.steps)):
                elapsed += h
                limit = 1.0 / self.lipschitz(float(t - h), target) if self.span == "theorem" else self.span
                if elapsed >= limit or k == n - 1:
                    ends.append(k)
                    elapsed = 0.0
        counts[np.asarray(ends)] = self.corrector_steps
        return counts

    def init(self, grid, target=None) -> np.ndarray:
        """The run's state: the corrector steps after each grid step (:meth:`corrector_counts`)."""
        return self.corrector_counts(grid, target)

    def cost(self, grid, target=None) -> tuple[int, int]:
        """The predictor's cost on every step plus every corrector run's (:meth:`corrector_cost`)."""
        nfe, rounds = self.predictor.cost(grid)
        for m in self.corrector_counts(grid, target):
            if m:
                evals, depth = self.corrector_cost(int(m))
                nfe, rounds = nfe + evals, rounds + depth
        return nfe, rounds

    def kernel_params(self, grid, target=None) -> tuple:
        """``(R, K, exponential, corrector steps, u per step, corrector h, first corrector slot)``.

        ``target`` (optional) supplies ``L(t)`` when neither ``L=`` nor ``target=`` was given.
        """
        t_next = grid.times[:-1] - grid.steps  # the same t - h the kernel step computes
        counts = self.corrector_counts(grid, target)
        u = np.ones(len(grid))
        for k in np.flatnonzero(counts):
            u[k] = 1.0 / self.lipschitz(float(t_next[k]), target)
        exponential = np.int64(self.predictor.sampling == "exponential")
        return (
            np.int64(self.R),
            np.int64(self.K),
            exponential,
            counts,
            u,
            self.corrector_h,
            np.int64(corrector_slot(self.R, 0)),
        )

    def step(self, x, t, h, k, score, noise, state):
        """The predictor's step, then ``state[k]`` corrector steps (``state`` from :meth:`init`)."""
        x, _ = self.predictor.step(x, t, h, k, score, noise, None)
        n_corrector = int(state[k])
        if n_corrector == 0:
            return x, state
        t_next = t - h
        u = 1.0 / self.lipschitz(t_next, getattr(score, "target", None))
        v = math.sqrt(u) * noise.normal(k, SLOT_VELOCITY)
        return self.correct(x, v, n_corrector, u, t_next, k, score, noise), state

    def correct(self, x, v, n_corrector, u, t_next, k, score, noise):
        """The corrector run on a NumPy batch: ``n_corrector`` ULMC steps one after the other."""
        for j in range(n_corrector):
            x, v = ulmc_step_numpy(x, v, self.corrector_h, u, t_next, k, score, noise, corrector_slot(self.R, j))
        return x

    def __repr__(self) -> str:
        schedule = (
            f", blocks={self.blocks}"
            if self.blocks is not None
            else f", span={self.span!r}"
            if self.span is not None
            else ""
        )
        return (
            f"{type(self).__name__}(predictor={self.predictor!r}, "
            f"corrector_steps={self.corrector_steps}, corrector_h={self.corrector_h:g}{schedule})"
        )
