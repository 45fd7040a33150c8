r"""A proved a-priori bound for certsample's collocation solver, and the plan it proves.

Theorem
-------
Let ``q = sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))`` be a built-in
:class:`~certsample.targets.MixtureTarget`: a Gaussian (no *block*), a mixture whose components share one
isotropic variance ``v0`` on the block ``J`` of coordinates where they differ (the ring, point clouds), or
one with diagonal, unequal variances there (FB 5); any of them embedded in ``R^d``.
Take forward times ``T = t_0 > ... > t_K = delta > 0``, a degree ``D``,
sweeps ``N_k >= 1`` per window and the flags ``warm_start``, ``pipeline``, and let ``X(delta)`` be
what :class:`~certsample.solvers.collocation.Collocation` returns from ``x(T)`` -- in exact arithmetic,
with the exact score, the exact matrices ``A`` and the solver's own (float64) warm-start matrices -- and
``x(delta)`` the exact probability-flow solution. Then for every start in the set ``S(eta)`` of
:class:`~proofs.flow_bounds.StartSet`, which holds all but ``eta`` of ``q_T``,

.. math::  |X(\delta) - x(\delta)|_2 \le \sqrt{E_K^2 + E_{\rm lin}^2},

with ``E_lin`` of part 2 and ``E_K`` of the recursion of parts 3-6, every constant evaluated in Arb ball
arithmetic and rounded up (:meth:`CollocationTheorem.pathwise_bound`), except the posterior spread bounds (FB 3)
and, for unequal variances, the Lipschitz and one-sided bounds (:func:`certsample.lipschitz.sup_on`, FB 5) taken
from :mod:`certsample.lipschitz`, which are float64 evaluations widened by a relative ``1e-12`` for their rounding
(an allowance argued there, not computed in Arb). ``Q`` is the target's exact basis, the polar factor of the stored
columns (:class:`~certsample.targets.MixtureTarget`), so exactly orthonormal; the solver's use of the stored float64
columns is part of its rounding. The solver's options are its defaults ``weights='exponential'``,
``reference_variance=None`` and ``anderson=False`` (with others it names no theorem). The float64 run's
rounding is not covered (:func:`certsample.verify.certify` proves a run's errors a posteriori with
:func:`certsample.verify.enclose_flow`). Parts 1-6 of :mod:`proofs.flow_bounds` (decomposition, start set
and its mass, frame and Lipschitz bounds, complex-time bound of the drift; part 5 the same for unequal
variances; part 6 excluding a centre ball) are used below as "FB 1" to "FB 6". With ``exclude_centre=True``
(isotropic blocks, cold starts; part 6b) the same holds for every start in ``S(eta/2)`` outside an explicit set
of ``q_T``-mass at most ``eta/2``: the starts whose exact path enters a centre ball at some window start.

*Unequal variances (FB 5).* The proof below reads with FB 5's frame (``g = sqrt(V)``, reference variance
``V``), its real-path bounds (``|w - w0| <= e^B (A + B W)`` in place of ``R int a / v^{3/2}``, ``|w| <= e^B (W +
A)`` across windows, ``|s_J| <= a R max(1/v) + |w| (1/g + g beta)``) and its complex bound ``M``. Its Lipschitz
and one-sided bounds hold only on a ball ``|u| <= r``, so they are taken on balls that provably contain what
they compare: in part 6 both exact paths lie in the reach ``r_k`` of FB 5 from ``|w0| <= W``; in part 3 the
bound ``L`` is taken on the ball of radius ``r_k + margin`` (``margin = max(0.05 r_k + 0.05, max_j e^0_j)``
for the cold start), and the window's error counts as infinite unless every iterate a sweep evaluates
(``e^n``, ``n = 1 .. N - 1``; also ``n = 0`` after a warm start) is within ``margin`` of the exact path, so that
the segment between them lies in that ball. Warm and pipelined starts are covered the same way; their
first iterates are often outside the margin, and then the bound is infinite.

Proof
-----
*Part 1 (splitting).* A sweep sets ``X_j = e^{h c_j} x + h sum_i A[i, j] s(X_i, t_i)`` (``t_i = t_k - h c_i``)
for the whole vector; a warm start or a pipelined first sweep combines stored drifts linearly the same way.
With ``s(x) = Q s_k(Q^T x) - P_perp x / v_perp`` (FB 1) these operations commute with ``Q^T`` and
``P_perp``, and inside ``Q^T x`` with the split into the block and the other coordinates (FB 1): the run
is, coordinate group by coordinate group, the same algorithm applied to the block ODE and to scalar affine
ODEs. The error's squared norm is the sum of the parts' (``Q`` orthonormal).

*Part 2 (linear coordinates, exact).* On ``y' = y - (y - a m) / v`` (``v = a^2 lam + 1 - a^2``) every
operation of the run is affine in ``(y_T, m)``; :func:`linear_map` runs the solver's own sequence of
operations (the sweeps, warm starts, and the pipeline's look-ahead exactly as ``Collocation.step`` and
``_sweep_with_next`` order them) on the two coefficient columns in ball arithmetic, so ``Y_end = P y_T +
Q m`` with ``P, Q`` enclosed. The exact flow keeps ``(y - a m) / sqrt(v)`` fixed, so the error is ``alpha
w_T + beta m`` (:func:`linear_errors`), ``w_T = y_T - a_T m``. Over ``|w_lin| <= r_lin`` (FB 2), by
Minkowski, ``sqrt(sum_i (alpha_i w_i + beta_i m_i)^2) <= max_i |alpha_i| r_lin + (sum_i beta_i^2
m_i^2)^{1/2} =: E_lin``; the perpendicular directions have ``m = 0`` and variance ``lam_perp``. For a
Gaussian this is the whole bound and it is attained up to the Minkowski step.

*Part 3 (one window of the block).* Window ``k``: ``t0 = t_k``, ``h = t_k - t_{k+1}``, numerical start ``u0``;
``y(r)`` is the exact block path from ``u0`` (``r in [0, 1]``, forward time ``t0 - h r``), ``Y_j = y(c_j)``, ``G(r) =
s_J(y(r), t0 - h r)``. Variation of constants on ``u' = u + s_J`` gives ``Y_j = e^{h c_j} u0 + h int_0^{c_j} e^{h (c_j
- r)} G(r) dr``, and since ``A`` integrates the interpolant ``p = I_D G`` exactly, ``Y_j = e^{h c_j} u0 + h sum_i A[i,
j] s_J(Y_i, t_i) + tau_j`` with ``|tau_j| <= (e^{h c_j} - 1) ||G - p||_inf``. Subtracting a sweep, with ``L_i >= Lip
s_J(., t_i)`` (FB 3, global in space; FB 5: on the ball of radius ``r_k + margin``): ``|X^{n+1}_j - Y_j| <= h sum_i
|A[i, j]| L_i |X^n_i - Y_i| + |tau_j|``. So the node-error vectors obey ``e^{n+1} <= B^T e^n + tau`` entrywise, ``B[i,
j] = h |A[i, j]| L_i``, from any ``e^0 >= |X^0 - Y|``; the window's error from ``u0`` is at most ``e^{N_k}_D``. Entry
0 vanishes after a sweep (``A[:, 0] = 0``, the start node's state is ``u0``). No contraction factor is assumed:
``B^N`` is computed (the Volterra structure of ``A`` makes it decay faster than ``||B||^N``).

*Part 4 (interpolation on a Bernstein ellipse).* If ``f`` is analytic in the open ellipse ``E_rho`` with
foci ``-1, 1`` and ``|f| <= M`` there (Euclidean norm, vector-valued), its Chebyshev coefficients obey
``|a_n| <= 2 M rho^{-n}`` (ATAP Thm 8.1: each is a contour integral, and ``|int v| <= int |v|``), the
interpolant in the ``D + 1`` Chebyshev-Lobatto points is ``p = sum_n a_n T_{m(n)}`` by aliasing (ATAP Thm
4.2), and ``|T_n - T_m| <= 2`` on ``[-1, 1]``, so ``||f - p|| <= 4 M rho^{-D} / (rho - 1)`` (ATAP Thm 8.2).
Constants are interpolated exactly, so ``M`` may be ``sup |f - c|``. In ``tau = h r`` the ellipse has foci
``0, h``, semi-axes ``h (rho +- 1/rho) / 4`` and lies in the rectangle of FB 4, where ``G + w0/g = a (m -
m0)/v - (w - w0)/g`` is bounded by ``M`` and ``w0 (1/g(tau) - 1/g(h/2))`` by ``W M_frame``; hence
``||G - I_D G|| <= 4 (M + W M_frame) rho^{-D} / (rho - 1)``, minimised over a list of ``rho``
(:meth:`_BlockAnalysis.interpolation`).

*Part 5 (first iterates).* With ``u = a m0 + g w`` and ``|w(tau) - w0| <= R int a / v^{3/2}`` on real paths
(FB 3), and ``|w0| <= W``:

* cold start, ``X^0_j = u0``: ``e^0_j = |a0 - a_j| |m0| + |g0 - g_j| W + g_j R int_{t_j}^{t0} a/v^{3/2}``;
* warm start, ``X^0_j = e^{h c_j} u0 + h sum_i Wm[i, j] d_i`` with ``d_i`` the drifts the previous window
  took in its last sweep, at states ``X'^{N'-1}_i``: ``|d_i| <= |s_J(Y'_i)| + L'_i e'^{N'-1}_i``,
  ``|s_J(Y'_i)| <= a_i R / v_i + (W' + R int) / g_i``, and ``|Y_j - e^{h c_j} u0| <= (e^{h c_j} - 1) G_sup``,
  so ``e^0_j = h sum_i |Wm[i, j]| |d_i| + (e^{h c_j} - 1) G_sup``;
* pipelined (the window overlaps its predecessor): its first sweep starts from ``Z_0 = X'^{N'-1}_D`` and
  ``Z_j = e^{h c_j} Z_0 + h sum_i Wm[i, j] d_i`` with ``d_i`` the predecessor's drifts before its last
  sweep (at ``X'^{N'-2}``), and takes node 0's drift at ``Z_0``: it is a sweep of part 3 from ``Z``, with
  ``|Z_0 - u0| = |X'^{N'-1}_D - X'^{N'}_D| <= e'^{N'-1}_D + e'^{N'}_D =: s`` and ``e^0_j = e^{h c_j} s + h
  sum_i |Wm[i, j]| |d_i| + (e^{h c_j} - 1) G_sup``; the window's ``N_k`` sweeps include it.

*Part 6 (across windows).* With ``Phi_k`` the exact flow over window ``k``, ``X_k`` the run's start of the window and
``x_k`` the exact path: ``|X_{k+1} - x_{k+1}| <= |X_{k+1} - Phi_k(X_k)| + |Phi_k(X_k) - Phi_k(x_k)| <= e^{N_k}_D +
Gamma_k E_k`` (Lady Windermere's fan), ``Gamma_k = exp(h sup mu)``: for two solutions ``d/dtau |x - z|^2 / 2 = <x - z,
int_0^1 (I + H) dtheta (x - z)> <= mu |x - z|^2`` with ``mu = 1 + top of the Hessian range`` (FB 3; global in space;
FB 5: on the ball of radius ``r_k``). Hence ``E_{k+1} = Gamma_k E_k + e^{N_k}_D``, ``E_0 = 0``. Parts 3-5 need ``|w0|
<= W`` for the run's start of each window: exact paths from ``S(eta)`` have ``|w| <= W^ex_k = r_J / g_T + R
int_{t_k}^T a / v^{3/2}`` (FB 3) and ``|X_k - x_k| <= E_k``, so ``W = W^ex_k + E_k / g_k`` (any larger radius is
valid, which is how cached window bounds are reused).

*Part 6b (excluding the centre; ``exclude_centre=True``, isotropic blocks, cold starts).* The bounds of parts 3
and 6 are global in space; near the frame centre ``a m0`` (the ring's centre) they are attained, and at small ``t``
that neighbourhood has tiny mass. Let ``P_k``, ``rho_k``, ``m_k``, ``r_k``, ``mu_k`` and *active* windows be as in
:class:`_RegionAnalysis`, and let the start set be ``S(eta/2)`` less ``X = union_{k active} {x_T : |u^ex(t_k) - a_k
m0| < P_k}``; by FB 6, ``q_T(X) <= sum_k q_{t_k}(|u - a_k m0| < P_k) <= eta/2`` (each term at most ``eta / (2K)``,
its proved value recorded in ``StartSet.exclusions``). For such a start the exact path ``x`` has ``|w^ex(t)| >=
rho_k`` on active window ``k`` (FB 6, with ``|w^ex(t) - w^ex(t_k)| <= G_k``, FB 3), so every point ``p`` with ``|p
- x(t)| <= m_k`` has ``|p - a m0| >= g(t) rho_k - m_k >= g(t) r_k`` (``g >= g_min``), where FB 6 bounds the spread
by ``C_k``: on the ball ``B(x(t), m_k)`` (convex) the score's Lipschitz constant is at most ``max(1/v, -1/v + a^2
C_k / v^2)`` and the drift's one-sided constant at most ``mu_k``. Part 6 on an active window: ``z`` (the exact path
from ``X_k``) and ``x`` start within ``E_k``; while ``|z - x| <= m_k`` the segment between them lies in that ball,
so ``|z - x|(tau) <= e^{tau max(mu_k, 0)} E_k <= gamma_in E_k``; if ``gamma_in E_k < m_k`` the first time ``|z - x|
= m_k`` cannot come (continuity), and ``|z - x|(h) <= e^{h mu_k} E_k``. Part 3 on it: the segment between ``X^n_i``
and ``Y_i = z(t_i)`` lies in ``B(x(t_i), m_k)`` when ``|X^n_i - Y_i| + gamma_in E_k < m_k``, since ``|Y_i - x(t_i)|
<= gamma_in E_k``; with ``e^n_i >= |X^n_i - Y_i|`` the check ``max_i e^n_i + gamma_in E_k < m_k`` for every
evaluated iterate (``n = 0 .. N_k - 1``; ``X^0 = u0`` for a cold start) makes the region's ``L_i`` valid, and the
window's error counts as infinite where it fails (:meth:`_RegionAnalysis.within_reach`). Parts 4-5 are unchanged
(they hold for every start with ``|w0| <= W``). Inactive windows use the global bounds and exclude nothing.

*Part 7 (the bound).* Parts 1, 2 and 6 give ``sqrt(E_K^2 + E_lin^2)``. Every scalar of parts 2-6 is an Arb
ball (192 bits or more; the matrices ``A`` at ``128 + 4 D`` bits more) or a float64 upper end of one; the
recursions of parts 3, 5 and 6 then run in float64 on those upper ends, each expression of ``n`` roundings of
nonnegative terms multiplied by ``1 + 2 (n + 1) 2^{-53}`` (Higham, Lemma 3.1), which keeps every number an
upper bound. The Lipschitz and Hessian bounds are the library's proved ones
(:mod:`certsample.lipschitz.tilted_covariance` and :func:`certsample.lipschitz.sup_on`, proofs in their
docstrings). ``d`` appears only in ``r_lin``.

*Part 8 (the plan, no proof needed).* :meth:`CollocationTheorem.plan` marches windows from ``T`` to
``delta``, each the longest with ``h sup L <= c_L`` whose complex bound (FB 4) validates at a Bernstein
parameter ``rho_w``, for a few ``(rho_w, c_L)`` (``L`` includes the linear coordinates' ``1/v``); for each
degree it gives window ``k`` the fewest sweeps with ``Lambda_k e^{N_k}_D <= eps / K`` (``Lambda_k`` the product
of the later ``Gamma``), takes sweeps back where the total allows, raises them where a linear coordinate's
window map is off by more than its share, and recomputes the bound of parts 2-7 for the chosen run (it is
this bound, ``<= eps``, that the plan returns). Plans start cold: the warm-start bound of part 5 is never
below the cold one. A search, not a proof: a cheaper proved run may exist.

What limits the bound
---------------------
Everything is uniform over ``S(eta)``, which contains paths near the flow's unstable sets (the ring's
centre, the bisectors between modes); the bounds used are global in space. There ``L`` and ``mu`` are
large (the ring: ``L`` about 125 at small ``t`` against about 4 near a mode), the drift's complex
continuation is short, and the Gronwall factor ``prod Gamma_k`` reaches ``e^{15.5}`` on the ring and
``e^{348}`` on the 64-point cloud down to ``delta = 10^{-3}`` (paths near the Voronoi boundaries of close
points separate that fast). Excluding a centre ball (part 6b) lowers ``L`` and ``mu`` only where the ball has a
mass far below ``eta``: at small ``t`` (on the ring the spread bound falls from the centre's to about the
bisectors' there); at intermediate ``t`` the centre, and at every ``t`` the bisectors, carry more than ``eta`` of
``q_t`` and stay in the set. The window lengths are set by the complex continuation (part 4), which the exclusion
does not change. With unequal variances the bounds hold on a ball only, and where the block has
more than three coordinates the Hessian bound is Popoviciu's over the whole ball, which grows like ``r^2``
(on the 64-d benchmark mixture it forces windows too short and Gronwall factors too large for any plan; the
numbers are in ``docs/performance.md``). A pilot-measured plan sizes windows on typical paths; the proved
plan must size them for the worst start in ``S(eta)``: ``docs/performance.md`` has the numbers.

References
----------
.. [1] L. N. Trefethen, "Approximation Theory and Approximation Practice", SIAM, 2013 (Thms 4.2, 8.1, 8.2).
.. [2] E. Hairer, S. P. Norsett, G. Wanner, "Solving Ordinary Differential Equations I", Springer, 1993
   (Sec. I.10: one-sided Lipschitz bounds; Sec. II.3: Lady Windermere's fan).
.. [3] K. Gatmiry, S. Chen, A. Salim, "High-accuracy and dimension-free sampling with diffusions",
   arXiv:2601.10708, 2026 (collocation windows with Picard sweeps on the probability-flow ODE).
.. [4] F. Johansson, "Arb: efficient arbitrary-precision midpoint-radius interval arithmetic", IEEE
   Trans. Computers 66 (2017).
.. [5] N. J. Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., SIAM, 2002 (Lemma 3.1).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .balls import PRECISION, arb_interval, arb_precision, flint_module, lower_float, round_up, upper_float
from .core import OutsideTheoremRange, RunPlan, RunTheorem, SearchBudgetExceeded, check_search_budget
from .flow_bounds import Decomposition, IsotropicBlock, NotCovered, StartSet, UnequalBlock

__all__ = ["CollocationTheorem", "ExactMatrices", "PathwiseBound", "ProvedPlan", "NotCovered", "DEFAULT_ETA"]

#: default mass of q_T left outside the start set
DEFAULT_ETA = 1e-6
#: Bernstein-ellipse parameters tried for each window's interpolation bound
RHOS = (1.15, 1.3, 1.5, 1.75, 2.0, 2.4, 2.8, 3.3, 4.0, 5.0, 6.0, 7.5, 9.0, 11.0, 14.0, 18.0, 24.0, 32.0)


# ---------------------------------------------------------------------------- exact collocation matrices
class ExactMatrices:
    r"""Balls around the exact ``A[i, j](h) = int_0^{c_j} e^{h (c_j - r)} l_i(r) dr`` of degree ``D``.

    ``e^{h (c_j - r)} = sum_n h^n (c_j - r)^n / n!`` and ``int_0^c (c - r)^n r^m dr = c^{n+m+1} n! m! /
    (n+m+1)!`` give ``A(h) = sum_n h^n M_n`` with ``M_n[i, j] = sum_m L[i, m] c_j^{n+m+1} m! / (n+m+1)!``
    (``L`` the monomial coefficients of the Lagrange basis ``l_i``). The tail after ``NT`` terms is at most
    ``lmax h^NT / (NT+1)! / (1 - h/(NT+2))`` per entry, where ``lmax = max_i 1 / prod_{k != i} |c_i - c_k|``
    bounds ``|l_i|`` on ``[0, 1]`` (every ``|r - c_k| <= 1``) and ``int_0^{c} (c - r)^n / n! dr <= 1/(n+1)!``.
    Nodes ``c_j = sin^2(pi j / (2D))`` are balls; everything is Arb arithmetic at ``128 + 4 D`` extra bits
    (the monomial basis loses about ``2 D`` bits to cancellation).
    """

    TERMS = 120

    def __init__(self, degree: int):
        flint = flint_module()
        arb, arb_poly, arb_mat = flint.arb, flint.arb_poly, flint.arb_mat
        D = int(degree)
        self.degree = D
        self.prec = PRECISION + 128 + 4 * D
        with arb_precision(self.prec):
            pi = arb.pi()
            c = [(pi * j / (2 * D)).sin() ** 2 for j in range(D + 1)]
            c[0] = arb(0)
            c[D] = arb(1)
            self.nodes = c
            rows, lmax = [], arb(0)
            for i in range(D + 1):
                poly, denom = arb_poly([1]), arb(1)
                for k in range(D + 1):
                    if k != i:
                        poly = poly * arb_poly([-c[k], 1])
                        denom = denom * (c[i] - c[k])
                coeffs = list(poly.coeffs()) + [arb(0)] * (D + 1)
                rows.append([coeffs[m] / denom for m in range(D + 1)])
                bound = 1 / abs(denom)
                lmax = arb(upper_float(bound)) if upper_float(bound) > upper_float(lmax) else lmax
            self.lmax = lmax
            lag = arb_mat(rows)
            p = arb_mat([[c[j] ** (m + 1) / (m + 1) for j in range(D + 1)] for m in range(D + 1)])
            self.series = []
            for n in range(self.TERMS):
                if n:
                    p = arb_mat([[p[m, j] * c[j] / (n + m + 1) for j in range(D + 1)] for m in range(D + 1)])
                self.series.append(lag * p)
        self._cache = {}

    def _terms(self, h_up: float) -> int:
        """The fewest series terms (at least 8, at most :attr:`TERMS`) whose tail bound for ``h <= h_up`` is below
        ``2^-prec``: the tail is added as a radius whatever the count, so this only keeps the work where it matters
        (chosen in float; the radius itself is computed in Arb)."""
        log_lmax = math.log(max(upper_float(self.lmax), 1e-300))
        log_h = math.log(h_up) if h_up > 0 else -math.inf
        floor = -(self.prec + 16) * math.log(2.0)
        for n in range(8, self.TERMS):
            if h_up < (n + 2) / 2 and log_lmax + n * log_h - math.lgamma(n + 2) + math.log(2.0) < floor:
                return n
        return self.TERMS

    def A(self, h):
        """``A(h)`` as an ``arb_mat`` (``h`` a float or a ball, ``0 <= h``)."""
        flint = flint_module()
        arb, arb_mat = flint.arb, flint.arb_mat
        key = None if isinstance(h, arb) else float(h)
        if key is not None and key in self._cache:
            return self._cache[key]
        with arb_precision(self.prec):
            hb = h if isinstance(h, arb) else arb(float(h))
            h_up = upper_float(abs(hb))
            if not h_up < self.TERMS / 4:
                raise ValueError(f"window length {h_up} is too long for the exact collocation series")
            n_t = self._terms(h_up)
            out = self.series[n_t - 1]
            for n in range(n_t - 2, -1, -1):
                out = out * hb + self.series[n]
            # sum_{n >= NT} h^n / (n+1)! <= h^NT / (NT+1)! / (1 - h / (NT+2)); rgamma(NT+2) = 1/(NT+1)!
            tail = self.lmax * arb(h_up) ** n_t * arb(n_t + 2).rgamma() / (1 - arb(h_up) / (n_t + 2))
            rad = arb(0, upper_float(tail))
            D = self.degree
            out = arb_mat([[out[i, j] + rad if j else arb(0) for j in range(D + 1)] for i in range(D + 1)])
        if key is not None:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = out
        return out

    def growth(self, h):
        """``[e^{h c_j}]`` as balls."""
        arb = flint_module().arb
        with arb_precision(self.prec):
            hb = h if isinstance(h, arb) else arb(float(h))
            return [(hb * cj).exp() for cj in self.nodes]


@functools.lru_cache(maxsize=64)
def exact_matrices(degree: int) -> ExactMatrices:
    """The :class:`ExactMatrices` of a degree (cached)."""
    return ExactMatrices(degree)


def _warm_matrix(degree, h_previous, h, gain=None):
    """The float64 warm-start matrix the solver uses, with its largest extrapolation gain ``gain`` (None: the
    solver's default) (exact binary numbers; lazy import: no cycle)."""
    from certsample.solvers.collocation import collocation_matrix, warm_start_matrix

    return warm_start_matrix(collocation_matrix(degree, float(h)), float(h_previous), float(h), gain)


def _overlapped(sweeps, pipeline):
    out = np.zeros(len(sweeps), dtype=bool)
    if pipeline:
        out[1:] = np.asarray(sweeps)[:-1] >= 2
    return out


# ---------------------------------------------------------------------------- the schedule
@dataclass
class _Schedule:
    """The run the theorem is about: forward times ``t_0 > ... > t_K``, degree, sweeps per window, flags."""

    times: np.ndarray
    degree: int
    sweeps: np.ndarray
    warm_start: bool
    pipeline: bool
    warm_start_gain: float | None = None  # the solver's extrapolation gain cap (None: its default)

    @classmethod
    def of(cls, grid, degree, sweeps, warm_start, pipeline, warm_start_gain=None) -> _Schedule:
        times = np.asarray(getattr(grid, "times", grid), dtype=float)
        if times.ndim != 1 or times.size < 2 or np.any(np.diff(times) >= 0) or times[-1] <= 0:
            raise ValueError("grid must be a TimeGrid or a decreasing array of forward times ending above 0")
        n = times.size - 1
        degree = int(degree)
        if degree < 1:
            raise ValueError(f"degree must be >= 1, got {degree!r}")
        sweeps = np.broadcast_to(np.asarray(sweeps, dtype=np.int64), (n,)).copy()
        if np.any(sweeps < 1):
            raise ValueError("every window needs at least one sweep")
        if pipeline and not warm_start:
            raise ValueError("pipeline=True needs warm_start=True (as the solver does)")
        gain = None if warm_start_gain is None else float(warm_start_gain)
        return cls(times, degree, sweeps, bool(warm_start), bool(pipeline), gain)

    @property
    def windows(self) -> int:
        return self.times.size - 1

    def step(self, k):
        """``(t_k, h_k)`` as balls: ``h_k = t_k - t_{k+1}`` exactly."""
        arb = flint_module().arb
        t = arb(float(self.times[k]))
        return t, t - arb(float(self.times[k + 1]))

    def overlapped(self):
        return _overlapped(self.sweeps, self.pipeline)

    def nfe(self) -> int:
        over = self.overlapped()
        return int(np.sum(self.degree * self.sweeps + 1 - (over & (self.sweeps == 1))))

    def rounds(self) -> int:
        return int(np.sum(self.sweeps - self.overlapped()))

    def warm(self, k):
        """The solver's warm-start matrix into window ``k`` (from window ``k - 1``), as an ``arb_mat``."""
        arb_mat = flint_module().arb_mat
        steps = self.times[:-1] - self.times[1:]
        w = _warm_matrix(self.degree, steps[k - 1], steps[k], self.warm_start_gain)
        return arb_mat([[float(x) for x in row] for row in w])


# ---------------------------------------------------------------------------- the linear coordinates
def _node_states(x, drift, matrix, growth, h):
    """``X_j = e^{h c_j} x + h sum_i M[i, j] drift_i`` (rows: nodes; columns: the affine forms' coefficients)."""
    arb_mat = flint_module().arb_mat
    n = len(growth)
    gx = arb_mat([[growth[j] * x[0, col] for col in range(x.ncols())] for j in range(n)])
    return gx + matrix.transpose() * drift * h


def _rows(mat, rows):
    arb_mat = flint_module().arb_mat
    return arb_mat([[mat[i, col] for col in range(mat.ncols())] for i in rows])


def _set_rows(mat, rows, values):
    arb_mat = flint_module().arb_mat
    out = [[mat[i, col] for col in range(mat.ncols())] for i in range(mat.nrows())]
    for r, i in enumerate(rows):
        out[i] = [values[r, col] for col in range(mat.ncols())]
    return arb_mat(out)


def linear_map(schedule: _Schedule, lam: float):
    r"""The run on the scalar coordinate ``y' = y - (y - a m) / v``, ``v = a^2 lam + 1 - a^2``, as the exact
    affine map of the start ``y_T`` and the mean ``m``: returns balls ``(P, Q)`` with ``Y_end = P y_T + Q m``.

    Every operation of :meth:`certsample.solvers.collocation.Collocation.step` (sweeps, warm starts, the
    pipelined first sweep) is affine in ``(y_T, m)`` for this score, so running it on the two coefficient
    columns in ball arithmetic, with the exact ``A`` of :class:`ExactMatrices` and the solver's own
    warm-start matrices, encloses the exact-arithmetic run.
    """
    flint = flint_module()
    arb, arb_mat = flint.arb, flint.arb_mat
    D = schedule.degree
    mats = exact_matrices(D)
    over = schedule.overlapped()
    K = schedule.windows
    lam_b = arb(float(lam))
    with arb_precision(mats.prec):

        def score(states, t, h, rows):
            out = []
            for i in rows:
                ti = t - h * mats.nodes[i]
                a = (-ti).exp()
                v = 1 + (lam_b - 1) * a * a
                out.append([-states[i, 0] / v, (a - states[i, 1]) / v])
            return arb_mat(out)

        x = arb_mat([[arb(1), arb(0)]])
        carry = None
        for k in range(K):
            t, h = schedule.step(k)
            A, growth = mats.A(h), mats.growth(h)
            sweeps = int(schedule.sweeps[k])
            ahead = schedule.pipeline and k + 1 < K and over[k + 1]
            nodes = arb_mat([[x[0, 0], x[0, 1]] for _ in range(D + 1)])
            drift = arb_mat(D + 1, 2)
            done = 0
            if schedule.warm_start and k > 0 and carry is not None:
                if carry[0] is None:
                    drift = carry[1]
                    nodes = _node_states(x, drift, A, growth, h)
                    done = 1
                else:
                    nodes = _node_states(x, carry[1], schedule.warm(k), growth, h)
            carry = None
            for sweep in range(done, sweeps):
                first = 0 if sweep == done else 1
                rows = list(range(first, D + 1))
                if ahead and sweep == sweeps - 1:
                    t2, h2 = schedule.step(k + 1)
                    growth2 = mats.growth(h2)
                    end = _rows(nodes, [D])
                    next_nodes = _node_states(end, drift, schedule.warm(k + 1), growth2, h2)
                    drift = _set_rows(drift, rows, score(nodes, t, h, rows))
                    next_drift = _set_rows(score(next_nodes, t2, h2, range(D + 1)), [0], _rows(drift, [D]))
                    nodes = _node_states(x, drift, A, growth, h)
                    carry = (None, next_drift)
                else:
                    drift = _set_rows(drift, rows, score(nodes, t, h, rows))
                    nodes = _node_states(x, drift, A, growth, h)
            if schedule.warm_start and carry is None:
                carry = (h, drift)
            x = _rows(nodes, [D])
        return x[0, 0], x[0, 1]


_WINDOW_MAPS = {}


def _cold_window_maps(t0: float, t1: float, degree: int, lam: float, sweeps: int):
    """``[(p_n, q_n)]`` for ``n = 1 .. sweeps``: one cold-started window of the run on the scalar coordinate of
    :func:`linear_map`, ``Y_end = p_n y_start + q_n m`` after ``n`` sweeps (cached; extended on demand)."""
    flint = flint_module()
    arb, arb_mat = flint.arb, flint.arb_mat
    key = (t0, t1, degree, lam)
    have = _WINDOW_MAPS.get(key, [])
    if len(have) >= sweeps:
        return have[:sweeps]
    D = degree
    mats = exact_matrices(D)
    lam_b = arb(float(lam))
    with arb_precision(mats.prec):
        t, h = arb(t0), arb(t0) - arb(t1)
        A, growth = mats.A(h), mats.growth(h)
        inv_v, a_v = [], []
        for c in mats.nodes:
            a = (-(t - h * c)).exp()
            v = 1 + (lam_b - 1) * a * a
            inv_v.append(1 / v)
            a_v.append(a / v)
        x = arb_mat([[arb(1), arb(0)]])
        nodes = arb_mat([[arb(1), arb(0)] for _ in range(D + 1)])
        out = []
        for _ in range(sweeps):
            drift = arb_mat([[-nodes[i, 0] * inv_v[i], a_v[i] - nodes[i, 1] * inv_v[i]] for i in range(D + 1)])
            nodes = _node_states(x, drift, A, growth, h)
            out.append((nodes[D, 0], nodes[D, 1]))
    if len(_WINDOW_MAPS) > 20000:
        _WINDOW_MAPS.clear()
    _WINDOW_MAPS[key] = out
    return out


def linear_errors(schedule: _Schedule, lam: float):
    r"""``(alpha, beta)``: the run's error on a linear coordinate is ``alpha w_T + beta m`` exactly, where
    ``w_T = y_T - a_T m`` (the start's deviation from the coordinate's mean path) and ``m`` its data mean.

    The exact flow is ``y(delta) - a_delta m = sqrt(v_delta / v_T) (y_T - a_T m)`` (``(y - a m) / sqrt(v)``
    is constant along the flow of ``N(a m, v)``), so with ``Y_end = P y_T + Q m``:
    ``alpha = P - sqrt(v_delta/v_T)``, ``beta = P a_T + Q - a_delta``. Cold-started runs compose the windows'
    own affine maps (each window's map depends only on its start value), others run :func:`linear_map`.
    """
    arb = flint_module().arb
    mats = exact_matrices(schedule.degree)
    if schedule.warm_start:
        P, Q = linear_map(schedule, lam)
    else:
        with arb_precision(mats.prec):
            P, Q = arb(1), arb(0)
            for k in range(schedule.windows):
                n = int(schedule.sweeps[k])
                p, q = _cold_window_maps(
                    float(schedule.times[k]), float(schedule.times[k + 1]), schedule.degree, lam, n
                )[n - 1]
                P, Q = p * P, p * Q + q
    with arb_precision(mats.prec):
        T, delta = arb(float(schedule.times[0])), arb(float(schedule.times[-1]))
        aT, ad = (-T).exp(), (-delta).exp()
        lam_b = arb(float(lam))
        vT, vd = 1 + (lam_b - 1) * aT * aT, 1 + (lam_b - 1) * ad * ad
        alpha = P - (vd / vT).sqrt()
        beta = P * aT + Q - ad
        return alpha, beta


# ---------------------------------------------------------------------------- the nonlinear block
@dataclass
class WindowReport:
    """What the proof uses and gives on one window (all proved upper bounds; times are forward times)."""

    t: float  # the window's start t_k
    h: float  # its length
    sweeps: int
    start_radius: float  # W: |w0| of every numerical start (frame of FB 3)
    lipschitz: float  # max_i L_i over the nodes' times
    gronwall: float  # exp(h sup mu): the flow's expansion over the window
    rho: float  # the Bernstein-ellipse parameter used
    interpolation: float  # ||G - I_D G||_inf
    initial: float  # max_j e^0_j, the first iterate's node error
    local: float  # e^N_D: the window's error from the numerical start
    error: float  # E_{k+1}: the block error at the window's end
    excluded_radius: float = 0.0  # P_k: starts whose exact path has |u(t_k) - a_k m0| < P_k are excluded (part 6b)
    excluded_mass: float = 0.0  # q_{t_k} of that ball (an upper bound); 0 when nothing is excluded


@dataclass
class _Nodes:
    """Upper bounds (float64) at the nodes of one window and degree, from balls (parts 3 and 5)."""

    BT: np.ndarray  # B^T[j, i] = h |A[i, j]| L_i
    growth: np.ndarray  # e^{h c_j}
    growth_m1: np.ndarray  # e^{h c_j} - 1
    d_a: np.ndarray  # |a0 - a_j|
    d_g: np.ndarray  # |g0 - g_j|
    g: np.ndarray  # g_j
    moved: np.ndarray  # R int_{t_j}^{t0} a / v^{3/2}
    a_R_v: np.ndarray  # a_j R / v_j
    inv_g: np.ndarray  # 1 / g_j
    L: np.ndarray


class _BlockAnalysis:
    """Per-window ingredients of the block bound that do not depend on the sweeps (cached)."""

    def __init__(self, block: IsotropicBlock):
        self.block = block
        self._complex = {}
        self._time = {}
        self._nodes = {}
        self._lipschitz = {}

    def window(self, t0: float, t1: float):
        """``(h ball, h_up, gronwall, R int a/v^{3/2}, sup a R / v, sup 1/g)`` for the window."""
        key = (t0, t1)
        if key not in self._time:
            arb = flint_module().arb
            blk = self.block
            with arb_precision():
                h = arb(t0) - arb(t1)
                top = blk.hessian_top(t1, t0)
                gronwall = upper_float((h * (1 + arb(top))).exp())
                growth = blk.path_growth(t1, t0)
                a, v = blk._scales(arb_interval(t1, t0))
                drift_scale = upper_float(a * arb(blk.R) / v)
                inv_g = upper_float(1 / v.sqrt())
            self._time[key] = (h, upper_float(h), gronwall, growth, drift_scale, inv_g)
        return self._time[key]

    # -- the interface block_bound, _march and _local_errors use (the unequal analysis has the same)
    def start_frame(self, start_radius: float, T: float) -> float:
        """``W`` of the start set: ``r_J / g_T``."""
        with arb_precision():
            return upper_float(flint_module().arb(start_radius) / self.block.frame(float(T))[1])

    def frame_g(self, t: float):
        return self.block.frame(t)[1]

    def length(self, t0: float, t1: float):
        return self.window(t0, t1)[:2]

    def gronwall(self, t0: float, t1: float, W: float) -> float:
        return self.window(t0, t1)[2]

    def advance(self, t0: float, t1: float, W: float) -> float:
        return round_up(W + self.window(t0, t1)[3], 1)

    def window_drift(self, t0: float, t1: float, W: float) -> float:
        _, _, _, growth, drift_scale, inv_g = self.window(t0, t1)
        return round_up(drift_scale + (W + growth) * inv_g, 3)

    def cold_start(self, nd, W: float) -> np.ndarray:
        e0 = round_up(nd.d_a * self.block.m0_norm + nd.d_g * W + nd.g * nd.moved, 6)
        e0[0] = 0.0
        return e0

    def node_drift(self, nd, W: float) -> np.ndarray:
        return round_up(nd.a_R_v + (W + nd.moved) * nd.inv_g, 3)

    def within_reach(self, nd, errors, warm: bool, E: float = 0.0) -> bool:
        return True  # the Lipschitz bounds hold in all of space

    def march_lipschitz(self, t1: float, t0: float, W: float) -> float:
        return self.block.lipschitz(t1, t0, pieces=4)

    def lipschitz(self, lo: float, hi: float) -> float:
        key = (lo, hi)
        if key not in self._lipschitz:
            self._lipschitz[key] = self.block.lipschitz(lo, hi)
        return self._lipschitz[key]

    def nodes(self, t0: float, t1: float, degree: int, W: float = 0.0) -> _Nodes:
        key = (t0, t1, degree)
        if key not in self._nodes:
            self._nodes[key] = self._assemble_nodes(t0, t1, degree, self.lipschitz)
        return self._nodes[key]

    def exclusion(self, t0: float, t1: float, W: float):
        """``(P, mass)``: the centre ball the window's bounds exclude (none here; :class:`_RegionAnalysis`)."""
        return 0.0, 0.0

    def _assemble_nodes(self, t0: float, t1: float, degree: int, lipschitz) -> _Nodes:
        """The node bounds with ``L_i = lipschitz(lo, hi)`` over each node's time ball."""
        arb = flint_module().arb
        blk = self.block
        mats = exact_matrices(degree)
        h = self.window(t0, t1)[0]
        with arb_precision(mats.prec):
            A, growth = mats.A(h), mats.growth(h)
            a0, v0 = blk._scales(arb(t0))
            g0 = v0.sqrt()
            node_t = [arb(t0) - h * c for c in mats.nodes]
            L = np.array([lipschitz(lower_float(tj), upper_float(tj)) for tj in node_t])
            D1 = degree + 1
            BT = np.array([[upper_float(h * abs(A[i, j]) * arb(L[i])) for i in range(D1)] for j in range(D1)])
            rows = []
            for j, tj in enumerate(node_t):
                aj, vj = blk._scales(tj)
                gj = vj.sqrt()
                moved = blk.path_growth(lower_float(tj), t0) if j else 0.0
                rows.append(
                    (
                        upper_float(growth[j]),
                        upper_float(growth[j] - 1),
                        upper_float(abs(a0 - aj)),
                        upper_float(abs(g0 - gj)),
                        upper_float(gj),
                        moved,
                        upper_float(aj * arb(blk.R) / vj),
                        upper_float(1 / gj),
                    )
                )
        cols = np.array(rows).T
        return _Nodes(BT, *cols, L)

    def complex(self, t0: float, h_up: float, rho: float, W: float):
        key = (t0, h_up, rho, W)
        if key not in self._complex:
            self._complex[key] = self.block.complex_bounds(t0, h_up, rho, W)
        return self._complex[key]

    def interpolation(self, t0: float, h_up: float, degree: int, W: float, rhos=RHOS):
        """``(eps_I, rho)``: the least ``4 (M + W M_frame) rho^{-D} / (rho - 1)`` over ``rhos`` (part 4)."""
        arb = flint_module().arb
        best, best_rho = math.inf, None
        for rho in rhos:
            cb = self.complex(t0, h_up, rho, W)
            if cb is None:
                break  # a larger rho means a larger rectangle: it would almost surely fail too (only the search stops)
            with arb_precision():
                r = arb(rho)
                bound = upper_float(4 * (arb(cb["M"]) + arb(W) * arb(cb["M_frame"])) * r ** (-degree) / (r - 1))
            if bound < best:
                best, best_rho = bound, rho
        return best, best_rho


@dataclass
class _RegionNodes(_Nodes):
    """:class:`_Nodes` whose ``L`` holds only within ``margin`` of the exact path (:class:`_RegionAnalysis`)."""

    margin: float = math.inf  # every compared point within margin (strictly) of the exact path x(t)
    gamma_in: float = 1.0  # exp(h max(sup mu, 0)): |z - x| <= gamma_in E_k inside the window


def _window_share(eta, windows: int) -> float:
    """Each window's excluded mass, ``eta / (2 K)`` less a relative ``1e-12``, so that the ``K`` proved masses
    (each at most its share) sum to at most ``eta / 2`` despite the float division."""
    return float(eta) / 2 / windows * (1 - 1e-12)


class _RegionAnalysis(_BlockAnalysis):
    r"""The isotropic block's per-window ingredients on a start set that excludes a centre ball at every window
    start (module docstring, part 6b; :mod:`proofs.flow_bounds` part 6), for cold-started runs.

    Window ``k`` (``[t_{k+1}, t_k]``, ``h``, frame radius ``W`` of every numerical start): ``P_k`` is
    :meth:`~proofs.flow_bounds.IsotropicBlock.exclusion_radius` at ``t_k`` for ``mass`` (``q_{t_k}(|u - a_k m0| <
    P_k) <= mass``), ``G_k = R int_{t_{k+1}}^{t_k} a / v^{3/2}`` (FB 3), ``rho_k = P_k / g_k - G_k`` (rounded down),
    the margin ``m_k = 1.05 (|a_k - a_{k+1}| |m0| + |g_k - g_{k+1}| W + g_max G_k) + 10^{-3} g_min`` (``g_min``,
    ``g_max`` over the window: ``g`` is monotone in ``t``; the first term bounds how far an exact path with ``|w0|
    <= W`` moves over the window, hence every cold start's ``e^0``), ``r_k = rho_k - m_k / g_min`` (rounded down),
    ``C_k = min(C, C_{r_k})`` (FB 6) and ``mu_k = 1 - 1/v + a^2 C_k / v^2`` (sup over the window, sub-interval
    balls). The window is *active* when ``r_k > 0`` and ``C_{r_k} < C``; otherwise it uses the global bounds and
    excludes nothing.
    """

    def __init__(self, base: _BlockAnalysis, mass: float):
        super().__init__(base.block)
        # the region-free caches are shared with the plain analysis (complex bounds are the costly part)
        self._complex, self._time, self._lipschitz = base._complex, base._time, base._lipschitz
        self._base_nodes = base._nodes
        self.mass = float(mass)
        self._regions = {}

    def region(self, t0: float, t1: float, W: float):
        """``None`` (inactive) or ``dict(P, mass, margin, r, C_r, gronwall, gamma_in)`` for the window."""
        key = (t0, t1, W)
        if key not in self._regions:
            self._regions[key] = self._region(t0, t1, W)
        return self._regions[key]

    def _region(self, t0: float, t1: float, W: float):
        arb = flint_module().arb
        blk = self.block
        P = blk.exclusion_radius(t0, self.mass)
        if not P > 0:
            return None
        h, _, _, growth, _, _ = self.window(t0, t1)
        with arb_precision():
            a0, g0 = blk.frame(t0)
            a1, g1 = blk.frame(t1)
            g_lo, g_hi = min(lower_float(g0), lower_float(g1)), max(upper_float(g0), upper_float(g1))
            rho = lower_float(arb(P) / g0 - arb(growth))
            motion = abs(a0 - a1) * arb(blk.m0_norm) + abs(g0 - g1) * arb(W) + arb(g_hi) * arb(growth)
            margin = upper_float(arb("1.05") * motion + arb("0.001") * arb(g_lo))
            r = lower_float(arb(rho) - arb(margin) / arb(g_lo))
        if not (r > 0 and blk.spread_outside(r, t1, t0) < blk.spread(t1, t0)):
            return None
        top = blk.hessian_top_outside(r, t1, t0)
        with arb_precision():
            mu = 1 + arb(top)
            gronwall = upper_float((h * mu).exp())
            gamma_in = max(1.0, gronwall)  # exp(h max(mu, 0))
            mass = upper_float(blk.centre_mass(t0, P))
        return dict(P=P, mass=mass, margin=margin, r=r, gronwall=gronwall, gamma_in=gamma_in)

    def exclusion(self, t0: float, t1: float, W: float):
        reg = self.region(t0, t1, W)
        return (0.0, 0.0) if reg is None else (reg["P"], reg["mass"])

    def gronwall(self, t0: float, t1: float, W: float) -> float:
        reg = self.region(t0, t1, W)
        return self.window(t0, t1)[2] if reg is None else reg["gronwall"]

    def nodes(self, t0: float, t1: float, degree: int, W: float = 0.0) -> _Nodes:
        reg = self.region(t0, t1, W)
        if reg is None:
            key = (t0, t1, degree)
            if key not in self._base_nodes:
                self._base_nodes[key] = self._assemble_nodes(t0, t1, degree, self.lipschitz)
            return self._base_nodes[key]
        key = (t0, t1, degree, W)
        if key not in self._nodes:
            blk, r = self.block, reg["r"]
            arb = flint_module().arb
            C_r = blk.spread_outside(r, t1, t0)

            def lipschitz(lo, hi):
                # max(1/v, -1/v + a^2 min(C, C_r) / v^2) over the node's time ball (FB 3 and 6)
                C = arb(min(C_r, blk.spread(lo, hi)))
                with arb_precision():
                    a, v = blk._scales(arb_interval(lo, hi))
                    return max(upper_float(1 / v), upper_float(-1 / v + a * a * C / (v * v)))

            nd = self._assemble_nodes(t0, t1, degree, lipschitz)
            self._nodes[key] = _RegionNodes(**vars(nd), margin=reg["margin"], gamma_in=reg["gamma_in"])
        return self._nodes[key]

    def within_reach(self, nd, errors, warm: bool, E: float = 0.0) -> bool:
        """Whether every point a sweep compares stays strictly within the margin of the exact path ``x(t)``:
        ``max_i e^n_i + gamma_in E_k < m_k`` for the iterates evaluated, ``n = 0 .. N - 1`` (part 6b)."""
        if not isinstance(nd, _RegionNodes):
            return True
        if warm:
            return False  # the region bounds are proved for cold starts only
        return all(round_up(float(np.max(e)) + nd.gamma_in * E, 2) < nd.margin for e in errors[:-1])


@dataclass
class _UnequalNodes:
    """Upper bounds (float64) at the nodes of one window, degree and start radius ``W`` (unequal variances)."""

    BT: np.ndarray  # B^T[j, i] = h |A[i, j]| L
    growth: np.ndarray  # e^{h c_j}
    growth_m1: np.ndarray  # e^{h c_j} - 1
    e0: np.ndarray  # the cold start's node errors (part 5)
    drift: np.ndarray  # |s_J| on the exact path at the nodes
    L: np.ndarray  # the score's Lipschitz bound on the ball of radius reach + margin
    margin: float  # iterates within margin of the exact path stay in that ball


class _UnequalAnalysis(_BlockAnalysis):
    """The per-window ingredients for a block with unequal variances (FB 5): as :class:`_BlockAnalysis`, but the
    Lipschitz and one-sided bounds hold on a ball ``|u| <= radius`` only, so they depend on the start radius ``W``
    (the reach of the exact paths, FB 5) and every iterate a sweep evaluates must stay within ``margin`` of the
    exact path (:meth:`within_reach`; otherwise the window's error counts as infinite)."""

    def __init__(self, block: UnequalBlock):
        super().__init__(block)
        self._gronwall = {}

    def gronwall(self, t0: float, t1: float, W: float) -> float:
        key = (t0, t1, W)
        if key not in self._gronwall:
            arb = flint_module().arb
            blk = self.block
            mu = blk.lipschitz(t1, t0, blk.reach(t1, t0, W), kind="one_sided")
            with arb_precision():
                self._gronwall[key] = upper_float(((arb(t0) - arb(t1)) * arb(mu)).exp())
        return self._gronwall[key]

    def advance(self, t0: float, t1: float, W: float) -> float:
        return self.block.advance(t1, t0, W)

    def window_drift(self, t0: float, t1: float, W: float) -> float:
        blk = self.block
        with arb_precision():
            c0, c1 = blk.score_terms(arb_interval(t1, t0))
        return round_up(c0 + (W + blk.moved(t1, t0, W)) * c1, 3)

    def march_lipschitz(self, t1: float, t0: float, W: float) -> float:
        reach = self.block.reach(t1, t0, W)
        return self.block.lipschitz(t1, t0, 1.05 * reach + 0.05)

    def cold_start(self, nd, W: float) -> np.ndarray:
        return nd.e0.copy()

    def node_drift(self, nd, W: float) -> np.ndarray:
        return nd.drift

    def within_reach(self, nd, errors, warm: bool, E: float = 0.0) -> bool:
        """Whether every iterate a sweep evaluates (``e^0 .. e^{N-1}``; a cold start's ``X^0 = u0`` lies on the
        exact path) is within ``margin`` of the exact path."""
        return all(float(np.max(e)) <= nd.margin for e in errors[(0 if warm else 1) : -1])

    def nodes(self, t0: float, t1: float, degree: int, W: float = 0.0) -> _UnequalNodes:
        key = (t0, t1, degree, W)
        if key not in self._nodes:
            arb = flint_module().arb
            blk = self.block
            mats = exact_matrices(degree)
            h = self.window_length(t0, t1)
            reach = blk.reach(t1, t0, W)
            with arb_precision(mats.prec):
                A, growth = mats.A(h), mats.growth(h)
                a0, g0 = blk.frame(t0)
                node_t = [arb(t0) - h * c for c in mats.nodes]
                e0, drift = [], []
                for j, tj in enumerate(node_t):
                    aj_b, Vj = blk._scales(tj)
                    moved = blk.moved(lower_float(tj), t0, W) if j else 0.0
                    # |Y_j - u0| <= |a0 - a_j| |m0| + |g0 - g_j| W + g_j |w_j - w0|
                    e0.append(
                        upper_float(
                            abs(a0 - aj_b) * arb(blk.m0_norm) + abs(g0 - Vj.sqrt()) * arb(W) + Vj.sqrt() * arb(moved)
                        )
                        if j
                        else 0.0
                    )
                    c0, c1 = blk.score_terms(tj)
                    drift.append(upper_float(arb(c0) + (arb(W) + arb(moved)) * arb(c1)))
                e0 = np.array(e0)
                margin = max(0.05 * reach + 0.05, float(np.max(e0)))
                L = blk.lipschitz(t1, t0, round_up(reach + margin, 2))
                D1 = degree + 1
                BT = np.array([[upper_float(h * abs(A[i, j]) * arb(L)) for i in range(D1)] for j in range(D1)])
                g_up = np.array([upper_float(x) for x in growth])
                g_m1 = np.array([upper_float(x - 1) for x in growth])
            self._nodes[key] = _UnequalNodes(BT, g_up, g_m1, e0, np.array(drift), np.full(D1, L), margin)
        return self._nodes[key]

    def window_length(self, t0: float, t1: float):
        arb = flint_module().arb
        with arb_precision():
            return arb(t0) - arb(t1)

    def length(self, t0: float, t1: float):
        h = self.window_length(t0, t1)
        return h, upper_float(h)


def _w_key(W: float) -> float:
    """A start radius rounded up to 3 significant digits, so that close radii share the cached bounds."""
    if W <= 0:
        return 0.0
    e = math.floor(math.log10(W)) - 2
    return float(math.ceil(W / 10.0**e) * 10.0**e) * (1 + 1e-12)


def _frame_radius(W_exact: float, E_over_g: float) -> float:
    """The start radius the window's complex bound is computed for: ``W_exact`` with a fixed 1% + 0.01 margin
    when the accumulated error fits in it (so that runs with different errors share the cached bounds), else
    the actual ``W_exact + E/g`` (both rounded up by :func:`_w_key`); any radius ``>=`` the true one is valid."""
    margin = 0.01 * W_exact + 0.01
    return _w_key(W_exact + margin) if E_over_g <= margin else _w_key(W_exact + E_over_g)


def _sweep_errors(nodes: _Nodes, e0: np.ndarray, eps_I: float, sweeps: int):
    """``[e^0, ..., e^N]`` of part 3 (``e^{n+1} = B^T e^n + tau``) in float64 rounded up.

    The node ``c_0 = 0`` has ``e^{h c_0} - 1 = 0`` and a zero row of ``B^T``; with ``eps_I = inf`` their products
    are ``0 * inf``, which :func:`~proofs.balls.round_up` reads as ``inf`` (numpy's warning is silenced).
    """
    with np.errstate(invalid="ignore"):
        tau = round_up(nodes.growth_m1 * eps_I, 1)
        ops = len(e0) + 2
        out = [e0]
        e = e0
        for _ in range(sweeps):
            e = round_up(nodes.BT @ e + tau, ops)
            out.append(e)
    return out


def block_bound(analysis: _BlockAnalysis, schedule: _Schedule, start_radius: float, rhos=RHOS):
    r"""The block's error bound at ``delta`` for every start with ``|u_T - a_T m0| <= start_radius`` (parts 3-6).

    Returns ``(E_K, reports)``.
    """
    arb = flint_module().arb
    D = schedule.degree
    over = schedule.overlapped()
    K = schedule.windows
    times = schedule.times
    E = 0.0
    W_exact = analysis.start_frame(start_radius, float(times[0]))
    reports = []
    previous = None  # (node errors, node drift bounds, Lipschitz bounds) of the last window
    for k in range(K):
        t0, t1 = float(times[k]), float(times[k + 1])
        h, h_up = analysis.length(t0, t1)
        sweeps = int(schedule.sweeps[k])
        with arb_precision():
            E_over_g = upper_float(arb(E) / analysis.frame_g(t0))
        W_num = round_up(W_exact + E_over_g, 1)
        W = _frame_radius(W_exact, E_over_g)
        gronwall = analysis.gronwall(t0, t1, W)
        eps_I, rho = analysis.interpolation(t0, h_up, D, W, rhos)
        nd = analysis.nodes(t0, t1, D, W)
        # the exact path's scores at the nodes, and over the window (part 5)
        node_drift = analysis.node_drift(nd, W)
        window_drift = analysis.window_drift(t0, t1, W)
        if schedule.warm_start and k > 0:
            e_prev, drift_prev, L_prev = previous
            n_prev = int(schedule.sweeps[k - 1])
            Wm = np.abs(_warm_matrix(D, times[k - 1] - times[k], times[k] - times[k + 1], schedule.warm_start_gain))
            shift = 0.0
            if over[k]:
                shift = round_up(e_prev[n_prev - 1][D] + e_prev[n_prev][D], 1)
                state = e_prev[n_prev - 2]
            else:
                state = e_prev[n_prev - 1]
            carried = round_up(drift_prev + L_prev * state, 2)
            e0 = round_up(h_up * (Wm.T @ carried) + nd.growth_m1 * window_drift + nd.growth * shift, D + 8)
            e0[0] = shift
        else:
            e0 = analysis.cold_start(nd, W)
        e = _sweep_errors(nd, e0, eps_I, sweeps)
        local = float(e[-1][D])
        if not analysis.within_reach(nd, e, schedule.warm_start and k > 0, E):
            local = math.inf  # an iterate may leave the region where the Lipschitz bounds were proved
        E = round_up(gronwall * E + local, 2)
        W_exact = analysis.advance(t0, t1, W_exact)
        previous = (e, node_drift, nd.L)
        reports.append(
            WindowReport(
                t0,
                h_up,
                sweeps,
                W_num,
                float(np.max(nd.L)),
                gronwall,
                rho if rho else math.nan,
                eps_I,
                float(np.max(e0)),
                local,
                E,
                *analysis.exclusion(t0, t1, W),
            )
        )
        if not math.isfinite(E):
            break
    return E, reports


# ---------------------------------------------------------------------------- the theorem
@dataclass
class PathwiseBound:
    """The theorem's bound for one run (see :meth:`CollocationTheorem.pathwise_bound`).

    ``value`` bounds ``|X_run(delta) - x(delta)|`` (Euclidean, exact arithmetic) for every start ``x(T)`` in
    ``start_set``, which holds all but ``eta`` of ``q_T``; ``value**2 = block**2 + linear**2``.
    """

    value: float
    block: float
    linear: float
    start_set: StartSet
    eta: float
    per_window: list
    linear_terms: list  # (lam, count, |alpha|, |beta * m|) per group of linear coordinates
    nfe: int
    rounds: int
    degree: int
    sweeps: np.ndarray
    warm_start: bool
    pipeline: bool

    def __float__(self) -> float:
        return self.value


@dataclass
class ProvedPlan:
    """Windows, degree and sweeps whose proved bound is at most ``eps``; unpacks as ``grid, degree, sweeps``."""

    grid: object
    degree: int
    sweeps: np.ndarray
    warm_start: bool
    pipeline: bool
    bound: PathwiseBound
    eps: float
    search: list = field(default_factory=list)  # (family, degree, nfe, bound) of the candidates tried

    def __iter__(self):
        return iter((self.grid, self.degree, self.sweeps))

    @property
    def windows(self) -> int:
        return len(self.grid)

    @property
    def nfe(self) -> int:
        return self.bound.nfe

    @property
    def rounds(self) -> int:
        return self.bound.rounds

    def solver(self, **options):
        from certsample.solvers.collocation import Collocation

        options.setdefault("warm_start", self.warm_start)
        options.setdefault("pipeline", self.pipeline)
        return Collocation(self.degree, self.sweeps, **options)


_eps, _eta = sp.symbols("eps eta", positive=True)
_N = sp.Symbol("N", positive=True, integer=True)


class CollocationTheorem(RunTheorem):
    r"""A-priori pathwise error bound of :class:`certsample.solvers.collocation.Collocation` (proof: module
    docstring). Algorithmic: its constants are computed per target, grid, degree and sweeps, in ball
    arithmetic, by :meth:`pathwise_bound`; :meth:`plan` returns the cheapest run it proves.
    """

    name = "collocation"
    reference = (
        "certsample proofs.collocation (this module); Trefethen, ATAP (2013) Thm 8.2; "
        "Gatmiry, Chen, Salim, arXiv:2601.10708 (2026) for the method"
    )
    metric = "pathwise"
    certified = True
    algorithmic = True
    assumptions = (
        "Exact arithmetic and the exact score grad log q_t of a built-in MixtureTarget (its basis the polar "
        "factor of the stored columns, exactly orthonormal); the run's float64 rounding, its use of the stored "
        "columns included, is not covered (certify's enclosures cover it a posteriori).",
        "The start x(T) lies in the start set S(eta) = {|u - a_T m0| <= r_J, |w_lin| <= r_lin}, which holds all "
        "but eta of q_T (Gaussian concentration); the bound is the sup over S(eta) of the pathwise error at delta.",
        "Covered: Gaussians (any covariance), subspace/embedded targets in any d, mixtures whose components "
        "share one isotropic variance on the coordinates where they differ (ring, point clouds), and mixtures "
        "with diagonal, unequal variances there (Lipschitz bounds on a ball that contains the paths; the "
        "bound is infinite where an iterate may leave it).",
        "Any grid, degree, per-window sweeps, warm start (any warm_start_gain) and pipeline, as the solver runs "
        "them; the warm-start matrices are the solver's own float64 matrices, built with its gain. The options "
        "weights='exponential', reference_variance=None and anderson=False (the defaults; with others the "
        "solver names no theorem).",
        "exclude_centre=True (isotropic blocks, cold starts): the start set is S(eta/2) less the starts whose "
        "exact path enters a centre ball |u(t_k) - a_k m0| < P_k at a window start, of q_T-mass at most eta/2 in "
        "all (q_{t_k} of each ball, proved); StartSet.exclusions lists them.",
        "No explicit d: the block bound depends on the means' geometry (R, diam), v0, the window times and the "
        "block start radius; d enters only through the linear start radius r_lin.",
    )
    symbols = {"eps": _eps, "N": _N, "eta": _eta}
    constants = {}
    steps_expr = sp.nan
    error_expr = sp.nan

    def __init__(self):
        super().__init__()
        self._analyses = {}

    # -- the symbolic interface of proofs.core.Theorem does not apply
    def _no_closed_form(self):
        raise ValueError(
            "theorem 'collocation' is algorithmic: it needs a target and a run. Use "
            "proofs.get('collocation').pathwise_bound(target, grid, degree, sweeps) or "
            ".plan(eps, target, T, delta)"
        )

    def step_count(self, **values) -> int:
        self._no_closed_form()

    def rounds(self, **values) -> int:
        self._no_closed_form()

    def error_bound(self, N=None, **values) -> float:
        self._no_closed_form()

    # -- the run-theorem protocol certify uses (proofs.core.RunTheorem)
    def covers(self, target) -> str | None:
        """None for the targets of the module docstring, else why not."""
        try:
            Decomposition.of(target)
        except NotCovered as uncovered:
            return str(uncovered)
        return None

    def run_bound(
        self,
        target,
        grid,
        *,
        eta: float = DEFAULT_ETA,
        degree: int = 8,
        sweeps=8,
        warm_start: bool = False,
        pipeline: bool = False,
        warm_start_gain: float | None = None,
    ) -> PathwiseBound:
        """:meth:`pathwise_bound` of a run (the solver's ``theorem_options``)."""
        return self.pathwise_bound(
            target,
            grid,
            degree,
            sweeps,
            warm_start=warm_start,
            pipeline=pipeline,
            warm_start_gain=warm_start_gain,
            eta=eta,
        )

    def run_plan(self, eps: float, target, T: float, delta: float, *, eta: float = DEFAULT_ETA, **options) -> RunPlan:
        """:meth:`plan`: its grid, and its degree and per-window sweeps as the solver's options (a cold start,
        the run the search proves; the solver's own degree and sweeps are replaced)."""
        plan = self.plan(eps, target, T, delta, eta=eta)
        options = {
            "degree": plan.degree,
            "sweeps": plan.sweeps,
            "warm_start": plan.warm_start,
            "pipeline": plan.pipeline,
        }
        return RunPlan(plan.grid, plan.nfe, plan.bound, options)

    # -- the bound
    def _analysis(self, target, decomposition):
        key = id(target)
        entry = self._analyses.get(key)
        if entry is None or entry[0] is not target:
            if len(self._analyses) > 8:
                self._analyses.clear()
            if decomposition.kind == "unequal":
                entry = (target, _UnequalAnalysis(UnequalBlock(decomposition)))
            else:
                entry = (target, _BlockAnalysis(IsotropicBlock(decomposition)))
            self._analyses[key] = entry
        return entry[1]

    def pathwise_bound(
        self,
        target,
        grid,
        degree: int,
        sweeps,
        *,
        warm_start: bool = False,
        pipeline: bool = False,
        warm_start_gain: float | None = None,
        eta: float = DEFAULT_ETA,
        exclude_centre: bool = False,
    ) -> PathwiseBound:
        """Proved bound on ``|X_run(delta) - x(delta)|`` over every start in ``S(eta)`` at ``grid.T``.

        Parameters
        ----------
        target : MixtureTarget
        grid : TimeGrid or array of forward times ``T = t_0 > ... > t_K = delta``
        degree : int
        sweeps : int or array of int (one per window)
        warm_start, pipeline : bool
            As :class:`~certsample.solvers.collocation.Collocation`.
        warm_start_gain : float, optional
            The solver's ``warm_start_gain`` (None: its default): the warm-start matrices of part 5 are built with it.
        eta : float
            Mass of ``q_T`` outside the start set.
        exclude_centre : bool
            Isotropic blocks, cold starts: the start set is ``S(eta / 2)`` less the starts whose exact path enters
            a centre ball at a window start (module docstring, part 6b), each window's ball of mass at most
            ``eta / (2 K)``; the returned ``start_set.eta`` is the proved total.

        Returns
        -------
        PathwiseBound

        Raises
        ------
        NotCovered
            When the target is outside the theorem (not a built-in MixtureTarget).
        """
        schedule = _Schedule.of(grid, degree, sweeps, warm_start, pipeline, warm_start_gain)
        dec = Decomposition.of(target)
        start = StartSet.build(dec, float(schedule.times[0]), float(eta))
        block, per_window = 0.0, []
        if exclude_centre and (dec.kind != "isotropic" or warm_start):
            raise NotCovered("exclude_centre covers cold-started runs on isotropic blocks (module docstring, part 6b)")
        if dec.kind in ("isotropic", "unequal"):
            analysis = self._analysis(target, dec)
            # the start set's centre is the block's frame centre m0
            base_eta = float(eta) / 2 if exclude_centre else float(eta)
            start = StartSet.build(dec, float(schedule.times[0]), base_eta, centre=analysis.block.m0)
            if exclude_centre:
                analysis = _RegionAnalysis(analysis, _window_share(eta, schedule.windows))
            block, per_window = block_bound(analysis, schedule, start.block_radius)
            start = start.excluding(_exclusions(per_window))
        linear, terms = _linear_total(dec, schedule, start)
        arb = flint_module().arb
        with arb_precision():
            value = upper_float((arb(block) ** 2 + arb(linear) ** 2).sqrt())
        return PathwiseBound(
            value,
            block,
            linear,
            start,
            start.eta,
            per_window,
            terms,
            schedule.nfe(),
            schedule.rounds(),
            schedule.degree,
            schedule.sweeps,
            schedule.warm_start,
            schedule.pipeline,
        )

    def plan(
        self,
        eps: float,
        target,
        T: float = 10.0,
        delta: float = 1e-3,
        *,
        eta: float = DEFAULT_ETA,
        families=None,
        degrees=None,
        exclude_centre: bool = False,
    ) -> ProvedPlan:
        """The run with the fewest score evaluations, among those searched, whose proved bound is ``<= eps``.

        Windows are marched from ``T`` to ``delta`` for each family ``(rho_w, c_L)`` of :data:`FAMILIES`
        (every window as long as possible with ``h sup L <= c_L`` and a complex bound validated at the
        Bernstein parameter ``rho_w``); for each degree the sweeps per window are the fewest whose
        amplified local errors fit ``eps`` (module docstring, part 8); the returned bound is recomputed
        from scratch for the chosen run. Cold starts (``warm_start=False``): the theorem's warm-start
        bound is never smaller than its cold-start bound.

        ``exclude_centre``: the start set of :meth:`pathwise_bound` with ``exclude_centre=True`` (isotropic
        blocks; module docstring, part 6b), each family's windows excluding at most ``eta / (2 K)`` each.

        Returns
        -------
        ProvedPlan
            ``grid, degree, sweeps = plan``; ``plan.bound.value <= eps``; ``plan.solver()`` runs it.
        """
        if not (isinstance(eps, (int, float)) and 0 < eps):
            raise ValueError(f"eps must be a number > 0, got {eps!r}")
        if not eps < 1:  # the plan families are sized for eps below 1: a statement about the input, not a bug
            raise OutsideTheoremRange(f"proved collocation plans are searched for eps < 1, got {eps!r}")
        if not (math.isfinite(delta) and delta > 0 and math.isfinite(T) and T > delta):
            raise ValueError(f"need T > delta > 0, got T={T!r}, delta={delta!r}")
        return _plan(
            self,
            float(eps),
            target,
            float(T),
            float(delta),
            float(eta),
            tuple(families or FAMILIES),
            tuple(degrees or DEGREES),
            bool(exclude_centre),
        )


def _exclusions(reports):
    """``[(t_k, P_k, mass_k)]`` of the windows whose bounds exclude a centre ball (part 6b)."""
    return [(r.t, r.excluded_radius, r.excluded_mass) for r in reports if r.excluded_mass > 0]


def _linear_total(dec: Decomposition, schedule: _Schedule, start: StartSet):
    """``max_g |alpha_g| r_lin + |beta o m|``: the sup over ``|w_lin| <= r_lin`` of the linear error (part 2)."""
    arb = flint_module().arb
    groups = dec.linear_groups()
    if not groups:
        return 0.0, []
    worst_alpha, beta_sq, terms = 0.0, arb(0), []
    for lam, means in groups:
        alpha, beta = linear_errors(schedule, lam)
        with arb_precision():
            m2 = sum((arb(float(m)) ** 2 for m in means), arb(0))
            a_up = upper_float(abs(alpha))
            beta_sq += arb(upper_float(beta * beta * m2))
            worst_alpha = max(worst_alpha, a_up)
            terms.append((lam, len(means), a_up, upper_float((beta * beta * m2).sqrt())))
    with arb_precision():
        total = upper_float(arb(worst_alpha) * arb(start.linear_radius) + beta_sq.sqrt())
    return total, terms


# ---------------------------------------------------------------------------- the proved plan
#: grid families tried by the plan: (Bernstein parameter every window must validate, max h * L)
FAMILIES = ((3.0, 1.0), (4.0, 1.0), (5.0, 1.0))
DEGREES = tuple(range(4, 41, 2))
MAX_SWEEPS = 60
MAX_WINDOWS = 3000


def _linear_lipschitz(lams, t_lo: float, t_hi: float) -> float:
    """``max 1/v`` over the linear coordinates' variances ``lams`` and ``t in [t_lo, t_hi]``: their score's
    Lipschitz constant (``-y/v`` with ``v = a^2 lam + 1 - a^2``)."""
    if not lams:
        return 0.0
    arb = flint_module().arb
    with arb_precision():
        a = (-arb_interval(t_lo, t_hi)).exp()
        return max(upper_float(1 / (1 + (arb(float(lam)) - 1) * a * a)) for lam in lams)


def _march(
    analysis: _BlockAnalysis,
    T: float,
    delta: float,
    start_radius: float,
    rho_w: float,
    c_L: float,
    h_max: float = 2.0,
    linear_lams=(),
):
    """Forward times from ``T`` to ``delta``, each window as long as possible (at most ``h_max``) with
    ``h sup L <= c_L`` (``L`` the block's and the linear coordinates' Lipschitz bounds) and a validated complex
    bound at ``rho_w`` (module docstring, part 8)."""
    W_exact = analysis.start_frame(start_radius, T)
    times, t, h = [T], T, min(h_max, 0.25 * (T - delta))
    while t > delta:
        remaining = t - delta
        h = min(h_max, remaining, 2 * h)
        while True:
            t1 = delta if h >= remaining * (1 - 1e-9) else t - h
            h_up = analysis.length(t, t1)[1]
            W = _frame_radius(W_exact, 0.0)
            lip = max(analysis.march_lipschitz(t1, t, W), _linear_lipschitz(linear_lams, t1, t))
            if h_up * lip <= c_L and analysis.complex(t, h_up, rho_w, W) is not None:
                break
            h *= 0.8
            if h < 1e-9 * max(t, 1e-300):
                raise NotCovered(f"no window at t={t:g} validates rho={rho_w} (the drift's complex bound fails)")
        W_exact = analysis.advance(t, t1, W_exact)
        times.append(t1)
        t = t1
        check_search_budget(f"{len(times) - 1} windows marched, at t={t:g} of delta={delta:g}")
        if len(times) > MAX_WINDOWS:
            raise NotCovered(
                f"more than {MAX_WINDOWS} windows would be needed (reached t={t:g} of delta={delta:g}): "
                "the complex-time bound of the drift and the Lipschitz bound force windows this short"
            )
    return np.array(times)


def _local_errors(analysis: _BlockAnalysis, times, degree: int, start_radius: float, rhos, max_sweeps: int):
    """Per window ``k``: ``(gronwall_k, [e^N_D for N = 1 .. max_sweeps])`` from a cold start with the start
    radius of exact paths plus the margin of :func:`_frame_radius` (the plan's search; the final bound is
    :func:`block_bound`'s). ``None`` when some window has no interpolation bound at this degree."""
    D = degree
    W_exact = analysis.start_frame(start_radius, float(times[0]))
    out = []
    for k in range(len(times) - 1):
        t0, t1 = float(times[k]), float(times[k + 1])
        h_up = analysis.length(t0, t1)[1]
        W = _frame_radius(W_exact, 0.0)
        gronwall = analysis.gronwall(t0, t1, W)
        eps_I, _ = analysis.interpolation(t0, h_up, D, W, rhos)
        if not math.isfinite(eps_I):
            return None
        nd = analysis.nodes(t0, t1, D, W)
        errors = _sweep_errors(nd, analysis.cold_start(nd, W), eps_I, max_sweeps)
        # sweeps whose iterates may leave the ball of the Lipschitz bounds count as failing (infinite error)
        ends = [
            float(e[D]) if analysis.within_reach(nd, errors[: n + 1], False) else math.inf
            for n, e in enumerate(errors[1:], start=1)
        ]
        out.append((gronwall, ends))
        W_exact = analysis.advance(t0, t1, W_exact)
        check_search_budget(f"local errors of degree {D}, window {k + 1} of {len(times) - 1}")
    return out


def _linear_sweeps(dec: Decomposition, times, degree: int, linear_radius: float, budget: float):
    """Fewest sweeps per window that keep every linear coordinate's window defect (its cold window map against
    the exact one, times the start radius and mean) within ``budget / K``; ``None`` if none within
    :data:`MAX_SWEEPS`. A search heuristic only: the plan's bound is recomputed exactly (part 2)."""
    arb = flint_module().arb
    K = len(times) - 1
    need = np.ones(K, dtype=np.int64)
    for lam, means in dec.linear_groups():
        scale = float(linear_radius) + float(np.sqrt(np.sum(np.square(means))))
        for k in range(K):
            t0, t1 = float(times[k]), float(times[k + 1])
            with arb_precision(exact_matrices(degree).prec):
                lam_b = arb(float(lam))
                a0, a1 = (-arb(t0)).exp(), (-arb(t1)).exp()
                ratio = ((1 + (lam_b - 1) * a1 * a1) / (1 + (lam_b - 1) * a0 * a0)).sqrt()
                shift = a1 - a0 * ratio
                allowed = budget / K / (scale * max(1.0, math.sqrt(max(lam, 1.0))))
                found = None
                for most in (8, 20, MAX_SWEEPS):  # few sweeps usually suffice: build the maps lazily
                    maps = _cold_window_maps(t0, t1, degree, lam, most)
                    for n, (p, q) in enumerate(maps, start=1):
                        if upper_float(abs(p - ratio) + abs(q - shift)) <= allowed:
                            found = n
                            break
                    if found:
                        break
            if found is None:
                return None
            need[k] = max(need[k], found)
    return need


def _choose_sweeps(local, budget):
    """Fewest sweeps per window with ``sum_k Lambda_k e_k(N_k) <= budget`` (``Lambda_k`` the product of the later
    windows' Gronwall factors): an equal share per window, then sweeps taken back greedily while it still holds."""
    K = len(local)
    amp = np.ones(K)
    for k in range(K - 2, -1, -1):
        amp[k] = amp[k + 1] * local[k + 1][0]
    share = budget / K
    sweeps = []
    for k, (_, ends) in enumerate(local):
        n = next((i + 1 for i, e in enumerate(ends) if amp[k] * e <= share), None)
        if n is None:
            return None
        sweeps.append(n)
    sweeps = np.array(sweeps)

    def total(sw):
        return sum(amp[k] * local[k][1][sw[k] - 1] for k in range(K))

    slack = budget - total(sweeps)
    for k in np.argsort(amp):  # windows whose errors are amplified least first
        while sweeps[k] > 1:
            extra = amp[k] * (local[k][1][sweeps[k] - 2] - local[k][1][sweeps[k] - 1])
            if extra > slack:
                break
            slack -= extra
            sweeps[k] -= 1
    return sweeps


def _plan(theorem, eps, target, T, delta, eta, families, degrees, exclude_centre=False):
    from certsample.forward import TimeGrid

    dec = Decomposition.of(target)
    if exclude_centre and dec.kind != "isotropic":
        raise NotCovered("exclude_centre covers isotropic blocks only (module docstring, part 6b)")
    search = []
    if dec.kind == "linear":
        # no block: the linear coordinates alone, on geometric windows; their bound is exact and cheap
        best = None
        for n_windows in (4, 8, 16, 32):
            grid = TimeGrid(np.geomspace(T, delta, n_windows + 1))
            for D in (D for D in degrees if D <= 20):

                def ok(n, grid=grid, D=D):
                    return theorem.pathwise_bound(target, grid, D, n, eta=eta).value <= eps

                hi = 1
                while hi <= MAX_SWEEPS and not ok(hi):
                    hi *= 2
                if hi > MAX_SWEEPS:
                    continue
                lo = hi // 2  # ok(lo) is false (or lo == 0)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (lo, mid) if ok(mid) else (mid, hi)
                bound = theorem.pathwise_bound(target, grid, D, hi, eta=eta)
                search.append((f"{n_windows} geometric windows", D, bound.nfe, bound.value))
                if best is None or bound.nfe < best[1].nfe:
                    best = (grid, bound)
                elif bound.nfe > 2 * best[1].nfe:
                    break
        if best is None:
            raise NotCovered(f"no plan in the families tried proves eps={eps:g} on {target!r}")
        grid, bound = best
        return ProvedPlan(grid, bound.degree, bound.sweeps, False, False, bound, float(eps), search)
    plain = theorem._analysis(target, dec)
    start = StartSet.build(dec, float(T), float(eta) / 2 if exclude_centre else float(eta), centre=plain.block.m0)
    best = None
    arb = flint_module().arb
    try:
        for rho_w, c_L in families:
            try:
                times = _march(
                    plain,
                    float(T),
                    float(delta),
                    start.block_radius,
                    rho_w,
                    c_L,
                    linear_lams=[lam for lam, _ in dec.linear_groups()],
                )
            except SearchBudgetExceeded:
                raise
            except NotCovered as err:
                search.append((f"rho_w={rho_w}, hL<={c_L}", None, None, str(err)))
                continue
            rhos = tuple(r for r in RHOS if r >= rho_w / 2)
            family = f"rho_w={rho_w}, hL<={c_L}: {len(times) - 1} windows"
            analysis = _RegionAnalysis(plain, _window_share(eta, len(times) - 1)) if exclude_centre else plain
            # the cheapest degree by the search's estimate (evaluations rise past it), then the proof of that run
            estimates, rising = [], 0
            for D in degrees:
                local = _local_errors(analysis, times, D, start.block_radius, rhos, MAX_SWEEPS)
                sweeps = None if local is None else _choose_sweeps(local, 0.9 * eps)
                linear_need = _linear_sweeps(dec, times, D, start.linear_radius, 0.3 * eps)
                if sweeps is None or linear_need is None:
                    continue
                sweeps = np.maximum(sweeps, linear_need)
                nfe = _Schedule.of(times, D, sweeps, False, False).nfe()
                if estimates and nfe >= min(e[0] for e in estimates):
                    rising += 1
                estimates.append((nfe, D, local))
                if rising >= 2:
                    break
            for _, D, local in sorted(estimates, key=lambda e: e[0])[:2]:
                for fraction in (0.9, 0.6, 0.3):
                    sweeps = _choose_sweeps(local, fraction * eps)
                    linear_need = _linear_sweeps(dec, times, D, start.linear_radius, 0.3 * fraction * eps)
                    if sweeps is None or linear_need is None:
                        break
                    sweeps = np.maximum(sweeps, linear_need)
                    schedule = _Schedule.of(times, D, sweeps, False, False)
                    block, per_window = block_bound(analysis, schedule, start.block_radius, rhos)
                    linear, terms = _linear_total(dec, schedule, start)
                    with arb_precision():
                        value = upper_float((arb(block) ** 2 + arb(linear) ** 2).sqrt())
                    search.append((family, D, schedule.nfe(), value))
                    check_search_budget(f"{family}, degree {D}")
                    if value <= eps:
                        covered = start.excluding(_exclusions(per_window))
                        bound = PathwiseBound(
                            value,
                            block,
                            linear,
                            covered,
                            covered.eta,
                            per_window,
                            terms,
                            schedule.nfe(),
                            schedule.rounds(),
                            D,
                            schedule.sweeps,
                            False,
                            False,
                        )
                        if best is None or bound.nfe < best[1].nfe:
                            best = (times, bound)
                        break
    except SearchBudgetExceeded as stopped:
        if best is None:
            raise
        search.append(("search budget", None, None, str(stopped)))  # the best plan found so far stands
    if best is None:
        failures = "; ".join(f"{f}: {err}" for f, _, _, err in search if isinstance(err, str))
        raise NotCovered(
            f"no plan in the families tried proves eps={eps:g} on {target!r}" + (f" ({failures})" if failures else "")
        )
    times, bound = best
    return ProvedPlan(TimeGrid(times), bound.degree, bound.sweeps, False, False, bound, float(eps), search)
