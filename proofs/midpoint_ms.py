r"""Proved mean-square bounds for the randomized-midpoint and parallel-midpoint predictors.

Statement (in progress: the linear coordinates). For a built-in target decomposed as in
:mod:`proofs.midpoint_bounds`, a time grid ``T = t_0 > ... > t_N = delta`` and the scheme of
:class:`~certsample.solvers.parallel_midpoint.ParallelRandomizedMidpoint` (``R`` pieces, ``K`` Picard
sweeps; ``R = 1, K = 0`` is :class:`~certsample.solvers.randomized_midpoint.RandomizedMidpoint`) run in
exact arithmetic with the exact score, the error on a linear coordinate of data variance ``lam`` started
at ``z_0`` obeys ``E|z_N - z(delta)|^2 = F(lam) z_0^2`` with ``F`` enclosed by
:func:`linear_mean_square_factor`.

Proof. On a linear coordinate the score is ``-c(t) z``, ``c = 1/v``, ``v(t) = 1 + (lam - 1) e^{-2t}``, and
the exact flow is ``z(t_{k+1}) = E_k z(t_k)``, ``E_k = sqrt(v(t_{k+1}) / v(t_k))`` (``x = c sqrt(v)``
solves ``dx/dr = x (1 - 1/v)`` because ``dv/dr = 2 (v - 1)``). One step of the scheme from ``z`` with
random points ``tau_j`` in the pieces ``[b_j, b_{j+1}]`` (``b_j = j h / R``) is linear in ``z``: the
midpoint states are ``p_i^{(n)} z`` with

* ``p_i^{(0)} = e^{tau_i} - (e^{tau_i} - 1) c(t)`` (the exponential-integrator guess),
* ``p_i^{(n+1)} = e^{tau_i} (1 - S^{(n)}_i) - D_i c_i p_i^{(n)}``, ``S^{(n)}_i = sum_{j<i} g_j c_j p_j^{(n)}``,
  ``g_j = e^{-b_{j+1}} (e^{h/R} - 1)``, ``D_i = e^{tau_i - b_i} - 1``, ``c_j = c(t - tau_j)`` (the Picard
  sweep: ``W_ij = e^{tau_i} g_j`` for ``j < i`` and ``W_ii = D_i``),

and the endpoint is ``M z``, ``M = e^h - S_end``, ``S_end = sum_j w_j c_j p_j^{(K)}``. Processing the pieces
in order, the state ``Z = (1, S^{(0)}, ..., S^{(K-1)}, S_end)`` of the pieces already processed is updated
by ``Z <- A(tau_i) Z`` with ``A = I + U``: row ``1 + n`` of ``U`` is ``g_i c_i pi^{(n)}`` and row ``K + 1`` is
``w_i c_i pi^{(K)}``, where ``pi^{(n)}`` is the row with ``p_i^{(n)} = pi^{(n)} . Z`` (``pi^{(0)} = p_i^{(0)}
e_0``, ``pi^{(n+1)} = e^{tau_i} (e_0 - e_{1+n}) - D_i c_i pi^{(n)}``). ``tau_i`` is independent of ``Z``
(which depends on ``tau_j``, ``j < i``), so ``E Z`` and ``E Z Z^T`` obey ``E Z' = E_tau[A] E Z`` and ``E Z'
Z'^T = E_tau[A (E Z Z^T) A^T]`` exactly: one-dimensional integrals over each piece against the law of
its point (uniform, or density ``e^{-(u - b_j)} / (1 - e^{-h/R})``), enclosed by
:func:`~proofs.midpoint_bounds.expectation`. That gives ``m_k = E M / E_k - 1`` and ``var_k = Var M /
E_k^2``. Steps use independent points, so with ``eps_k = M_k / E_k - 1``,

.. math:: \frac{E|z_N - z(\delta)|^2}{z_0^2} = \Big(\prod_k E_k\Big)^2 E\Big(\prod_k (1 + \varepsilon_k) - 1\Big)^2
          = \frac{v(\delta)}{v(T)} \Big[Q^2 \Big(\prod_k \big(1 + \tfrac{var_k}{(1 + m_k)^2}\big) - 1\Big)
          + (Q - 1)^2\Big],

``Q = prod_k (1 + m_k)`` (expand ``E prod (1 + eps_k)^2 = prod ((1 + m_k)^2 + var_k)``). The products are
evaluated as ``exp``/``expm1`` of sums of ``log1p``, in Arb at 192 bits, so the small result is not lost
to cancellation. Nothing is bounded: the result is an enclosure of the exact value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .midpoint_bounds import (NotCovered, StartSet, arb, arb_precision, block_lipschitz_sup,
                              block_one_sided_sup, decompose, expectation, interval, posterior_covariance_sup,
                              time_scales, upper_float)

SAMPLINGS = ("uniform", "exponential")
_LINEAR_TOL = 1e-45  # absolute quadrature target of the linear moments (values of order 1)
_BLOCK_TOL = 1e-30  # the block's expectations (only upper bounds are used)
_REGION_CELLS = 4  # cells of [0, h] for the a.s. region of the sequential method


@dataclass(frozen=True)
class Scheme:
    """``R`` pieces, ``K`` Picard sweeps, the law of the random points (``R = 1, K = 0``: sequential)."""

    R: int = 1
    K: int = 0
    sampling: str = "uniform"

    def __post_init__(self):
        if int(self.R) != self.R or self.R < 1:
            raise ValueError(f"R must be an integer >= 1, got {self.R!r}")
        if int(self.K) != self.K or self.K < 0:
            raise ValueError(f"K must be an integer >= 0, got {self.K!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")

    @property
    def evals_per_step(self) -> int:
        return 1 + self.R * (self.K + 1)

    @property
    def rounds_per_step(self) -> int:
        return self.K + 2


class _Piece:
    """Piece ``j`` of a step of length ``h`` (reverse time ``[b_lo, b_hi]``): the law of its random point
    (density ``p``) and the endpoint weight ``w``, as functions of ``u`` (real or complex balls)."""

    def __init__(self, h, scheme: Scheme, j: int):
        self.h, self.j = h, j
        self.hr = h / scheme.R
        self.b_lo, self.b_hi = j * self.hr, (j + 1) * self.hr
        self.exponential = scheme.sampling == "exponential"
        self.exp_h = h.exp()
        self.exp_neg_lo = (-self.b_lo).exp()
        # exponential law: density e^{-(u - b_lo)} / (1 - e^{-hr}), weight e^{h - b_hi} (e^{hr} - 1)
        self.norm = 1 / (-(-self.hr).expm1())
        self.w_const = (h - self.b_hi).exp() * self.hr.expm1()
        # whole pieces j < i enter midpoint i with weight e^{tau_i} g_j
        self.g = (-self.b_hi).exp() * self.hr.expm1()

    def density(self, E):
        """``p(u)`` given ``E = e^u``."""
        if self.exponential:
            return self.norm / (E * self.exp_neg_lo)
        return 1 / self.hr

    def weight(self, E):
        """``w(u)`` given ``E = e^u``."""
        if self.exponential:
            return self.w_const
        return self.hr * self.exp_h / E


# ---------------------------------------------------------------------------- linear coordinates (exact)
def linear_step_moments(lam, t, t_next, scheme: Scheme):
    """``(m, var)`` of ``eps = M / E_k - 1`` for one step on a linear coordinate of data variance ``lam``.

    ``M`` is the scheme's (random) factor ``z_next = M z`` and ``E_k = sqrt(v(t_next) / v(t))`` the exact
    flow's. Enclosures (Arb balls); the expectation is over the step's random points.
    """
    t, t_next = arb(t), arb(t_next)
    h = t - t_next
    R, K = scheme.R, scheme.K
    n = K + 2  # state Z = (1, S^(0), ..., S^(K-1), S_end)
    beta = (arb(lam) - 1) * (-2 * t).exp()  # v(t - u) = 1 + beta e^{2u}
    c0 = 1 / (1 + beta)
    zero = arb(0)
    mean = [arb(1)] + [zero] * (n - 1)
    second = [[arb(1) if (i == 0 and j == 0) else zero for j in range(n)] for i in range(n)]
    for j in range(R):
        piece = _Piece(h, scheme, j)

        def integrand(u, piece=piece, mean=mean, second=second):
            E = u.exp()
            c = 1 / (1 + beta * E * E)
            D = E * piece.exp_neg_lo - 1
            p, w = piece.density(E), piece.weight(E)
            pi = [E - (E - 1) * c0] + [zero] * (n - 1)  # midpoint j's coefficient row on Z, sweep 0
            rows = {}
            for sweep in range(K):
                rows[1 + sweep] = [piece.g * c * x for x in pi]
                new = [-D * c * x for x in pi]
                new[0] = new[0] + E
                new[1 + sweep] = new[1 + sweep] - E
                pi = new
            rows[K + 1] = [w * c * x for x in pi]
            new_mean = list(mean)
            for r, row in rows.items():
                new_mean[r] = mean[r] + sum((x * y for x, y in zip(row, mean)), zero)
            left = [list(second[r]) for r in range(n)]  # (I + U) S
            for r, row in rows.items():
                left[r] = [second[r][q] + sum((row[c_] * second[c_][q] for c_ in range(n)), zero) for q in range(n)]
            out = [p * x for x in new_mean]
            for r in range(n):  # (I + U) S (I + U)^T, upper triangle
                for q in range(r, n):
                    val = left[r][q]
                    if q in rows:
                        val = val + sum((left[r][c_] * rows[q][c_] for c_ in range(n)), zero)
                    out.append(p * val)
            return out

        values = expectation(integrand, piece.b_lo, piece.b_hi, _LINEAR_TOL)
        mean = values[:n]
        second = [[zero] * n for _ in range(n)]
        idx = n
        for r in range(n):
            for q in range(r, n):
                second[r][q] = second[q][r] = values[idx]
                idx += 1
    v_t, v_next = 1 + beta, 1 + (arb(lam) - 1) * (-2 * t_next).exp()
    exact = (v_next / v_t).sqrt()
    m = (h.exp() - mean[K + 1]) / exact - 1
    var = ((second[K + 1][K + 1] - mean[K + 1] ** 2) / (exact * exact)).nonnegative_part()
    return m, var


def linear_mean_square_factor(lam, grid, scheme: Scheme):
    """Enclosure of ``E|z_N - z(delta)|^2 / z_0^2`` on a linear coordinate of data variance ``lam``.

    ``= (v(delta)/v(T)) [Q^2 (prod_k (1 + var_k / (1 + m_k)^2) - 1) + (Q - 1)^2]``, ``Q = prod_k (1 + m_k)``
    (independent steps; module docstring), evaluated without cancellation through ``log1p``/``expm1``.
    """
    times = grid.times
    log_q, log_spread = arb(0), arb(0)
    for k in range(len(times) - 1):
        m, var = linear_step_moments(lam, float(times[k]), float(times[k + 1]), scheme)
        log_q += m.log1p()
        log_spread += (var / (1 + m) ** 2).log1p()
    lam = arb(lam)
    v_end = 1 + (lam - 1) * (-2 * arb(float(times[-1]))).exp()
    v_start = 1 + (lam - 1) * (-2 * arb(float(times[0]))).exp()
    q = log_q.exp()
    return (v_end / v_start) * (q * q * log_spread.expm1() + log_q.expm1() ** 2)
