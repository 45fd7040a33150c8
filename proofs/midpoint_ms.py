r"""Proved mean-square (pathwise RMS) bounds for the randomized-midpoint and parallel-midpoint predictors.

Theorem
-------
Let ``q_0`` be a built-in target (:mod:`proofs.midpoint_bounds`: its block ``J``, where the components
differ, has one isotropic variance ``lam_J`` shared by every component, or diagonal variances ``lam_ci`` that
differ between components (step U), or is empty), ``T = t_0 > t_1 >
... > t_N = delta > 0`` a time grid, and run the scheme of
:class:`~certsample.solvers.parallel_midpoint.ParallelRandomizedMidpoint` with ``R`` pieces and ``K``
Picard sweeps (``R = 1, K = 0``: :class:`~certsample.solvers.randomized_midpoint.RandomizedMidpoint`),
either law of the random points, **in exact arithmetic with the exact score**, from a start point ``x_0``
at time ``T``. Let ``y`` be the exact probability-flow solution from ``x_0``. Then, the expectation being
over the random points only,

.. math:: \sqrt{E|x_N - y(\delta)|^2} \le \sqrt{a_N^2 + r_{lin}^2 \max_\lambda F(\lambda)}

for every ``x_0`` in ``StartSet(target, T, eta)`` (``q_T`` mass ``>= 1 - eta``), where ``F(lam)`` is the
exact mean-square factor of a linear coordinate of data variance ``lam`` (step L) and ``a_N`` the
block recursion (step B) started from ``P_0 = r_J``. For one start point the same holds with ``r_J =
|z_J(x_0)|`` and ``sum_i w_i^2 F(lam_i)`` in place of the second term (``rms_bound(..., x0=)``; the
coordinates of ``x_0`` enclosed in Arb, :meth:`~proofs.midpoint_bounds.Decomposition.coordinate_balls`). No
constant is hidden; every one is computed in Arb (192 bits) and rounded up, except the posterior spread and
Lipschitz bounds taken from :mod:`certsample.lipschitz` (steps C and U), float64 evaluations of a few operations
widened by a relative ``1e-12`` for their rounding (proved there). The dimension enters only
through ``r_lin``. Not covered: the float64 rounding of a real run (certify's enclosures cover that a
posteriori). With unequal variances the bound is finite only while the balls of step U are (it is
``inf`` otherwise, never wrong).

Step L (linear coordinates: exact)
----------------------------------
On a linear coordinate the score is ``-c(t) z``, ``c = 1/v``, ``v(t) = 1 + (lam - 1) e^{-2t}``, and
the exact flow is ``z(t_{k+1}) = E_k z(t_k)``, ``E_k = sqrt(v(t_{k+1}) / v(t_k))`` (``x = c sqrt(v)``
solves ``dx/dr = x (1 - 1/v)`` because ``dv/dr = 2 (v - 1)``). One step with random points ``tau_j`` in
the pieces ``[b_j, b_{j+1}]`` (``b_j = j h / R``) is linear in ``z``: the midpoint states are ``p_i^{(n)}
z`` with

* ``p_i^{(0)} = e^{tau_i} - (e^{tau_i} - 1) c(t)`` (the exponential-integrator guess),
* ``p_i^{(n+1)} = e^{tau_i} (1 - S^{(n)}_i) - D_i c_i p_i^{(n)}``, ``S^{(n)}_i = sum_{j<i} g_j c_j p_j^{(n)}``,
  ``g_j = e^{-b_{j+1}} (e^{h/R} - 1)``, ``D_i = e^{tau_i - b_i} - 1``, ``c_j = c(t - tau_j)`` (the Picard
  sweep: ``W_ij = e^{tau_i} g_j`` for ``j < i`` and ``W_ii = D_i``),

and the endpoint is ``M z``, ``M = e^h - S_end``, ``S_end = sum_j w_j c_j p_j^{(K)}``. Processing the pieces
in order, the state ``Z = (1, S^{(0)}, ..., S^{(K-1)}, S_end)`` of the pieces already processed is updated
by ``Z <- A(tau_i) Z`` with ``A = I + U``: row ``1 + n`` of ``U`` is ``g_i c_i pi^{(n)}`` and row ``K + 1`` is
``w_i c_i pi^{(K)}``, where ``p_i^{(n)} = pi^{(n)} . Z`` (``pi^{(0)} = p_i^{(0)} e_0``, ``pi^{(n+1)} =
e^{tau_i} (e_0 - e_{1+n}) - D_i c_i pi^{(n)}``). ``tau_i`` is independent of ``Z`` (a function of the
``tau_j``, ``j < i``), so ``E Z' = E_tau[A] E Z`` and ``E Z' Z'^T = E_tau[A (E Z Z^T) A^T]`` exactly: one-
dimensional integrals over each piece against the law of its point (uniform, or density ``e^{-(u -
b_j)} / (1 - e^{-h/R})``), enclosed by :func:`~proofs.midpoint_bounds.expectation`. That gives ``m_k = E
M / E_k - 1`` and ``var_k = Var M / E_k^2``. Steps use independent points, so with ``eps_k = M_k / E_k -
1``,

.. math:: F(\lambda) = \frac{E|z_N - z(\delta)|^2}{z_0^2}
          = \Big(\prod_k E_k\Big)^2 E\Big(\prod_k (1 + \varepsilon_k) - 1\Big)^2
          = \frac{v(\delta)}{v(T)} \Big[Q^2 \Big(\prod_k \big(1 + \tfrac{var_k}{(1 + m_k)^2}\big) - 1\Big)
          + (Q - 1)^2\Big],

``Q = prod_k (1 + m_k)`` (expand ``E prod (1 + eps_k)^2 = prod ((1 + m_k)^2 + var_k)``), evaluated as
``prod((1 + m_k)^2 + var_k) - 2 Q + 1`` in 192-bit balls (valid also when a coarse step makes ``1 + m_k <=
0``). Nothing is bounded here: the result encloses the exact value, and
``sup_{|w| <= r_lin} sum_i w_i^2 F(lam_i) = r_lin^2 max F`` (each orthogonal direction has ``lam_perp``).

Step A (where the scheme's block iterates can be, for every draw)
-----------------------------------------------------------------
On the block, with ``z = u_J - a m0`` at each state's own time, ``s_J = (a nu_bar - z) / v`` with ``|nu_bar|
<= R`` (module :mod:`proofs.midpoint_bounds`). Every state the scheme forms is ``e^{tau}``-scaled states
plus weighted scores, so the midpoint states are ``z_i = p_i z + xi_i`` with ``p_i`` the linear
coefficients of step L (for ``lam = lam_J``) and ``|xi_i| <= q_i``: ``q_i^{(0)} = (e^{tau_i} - 1) c(t) a(t)
R``, ``q_i^{(n+1)} = e^{tau_i} sum_{j<i} g_j c_j (q_j + a_j R) + D_i c_i (q_i + a_i R)``, and ``|z_next| <=
|p_end| |z| + q_end``, ``q_end = sum_j w_j c_j (q_j + a_j R)``. Evaluating ``p_end``, ``q_end`` in interval
arithmetic with each ``tau_j`` ranging over its piece (for ``R = 1``: over four cells of ``[0, h]``)
gives ``P_{k+1} = gain_k P_k + shift_k`` with ``|z_k| <= P_k`` for every draw (:func:`region_coefficients`).

Step B (the block's mean-square recursion)
------------------------------------------
Fix step ``k`` (``t = t_k``, ``h = t_k - t_{k+1}``), the scheme's iterate ``x = x_k`` and the exact path
``y(r)`` from ``x`` (reverse time ``r in [0, h]``), ``G(r) = s_J(y(r), t - r)``, so ``y(h) = e^h x + int_0^h
e^{h-u} G(u) du``.

*B0, the path.* ``dz/dr = (1 - 1/v) z + a nu_bar / v``, so ``|z(r)| <= Z := e^{kappa h} (P_k + h sup(a R /
v))``, ``kappa = max(0, sup(1 - 1/v))`` (Gronwall), and ``|G| <= G0 := sup(1/v) Z + sup(a R / v)``.

*B1, the drift's derivative along the path.* With ``r_c ~ w_c e^{theta_c}``, ``theta_c = (a z . nu_c - a^2
|nu_c|^2 / 2) / v`` and ``da/dr = a``, ``dv/dr = 2 (v - 1)``, one finds ``d(a z / v)/dr = a (z + a nu_bar) /
v^2``, ``d(a^2 / (2v))/dr = a^2 / v^2``, hence ``theta_c' = (a / v^2) ((z + a nu_bar) . nu_c - a |nu_c|^2)``,
``nu_bar' = Cov_r(nu, theta')`` and

.. math:: G' = -(1 - 1/v)\, G + (a / v)\, \bar\nu'.

Two bounds of ``|nu_bar'|`` hold (``C >= lambda_max Cov_r(nu)``, ``D = diam`` of the means): (i) ``(a /
v^2) (C (Z + a R) + a sqrt(C) R^2 / 2)``, from ``|Cov_r(nu) w| <= C |w|`` and ``|Cov_r(nu, |nu|^2)| <= sqrt(C)
R^2 / 2`` (Cauchy-Schwarz, Popoviciu on ``[0, R^2]``); (ii) writing ``theta_c' = theta_c / v + (a^2 / v^2)
(nu_bar . nu_c - |nu_c|^2 / 2)``, ``|Cov_r(nu, theta)| = |E_r[(nu - nu_bar)(theta - max theta)]| <= D
Lambda``, ``(1/v) D Lambda + (a^2 / v^2) (C R + sqrt(C) R^2 / 4)``, where ``Lambda >= E_r[max theta -
theta]`` for every softmax: ``r_c (theta* - theta_c) <= (w_c / w_*) x e^{-x} <= w_c / (e w_*)`` gives
``(1 - w_min) / (e w_min)``, and ``theta* - E_r theta = theta* - log Z + H(r) + E_r log w`` gives ``log(K
w_max / w_min)``. So ``|G'| <= G1 := sup|1 - 1/v| G0 + sup (a / v) min((i), (ii))`` (:class:`BlockStep`).

*B2, the midpoints.* ``x_i^{(0)} - y(tau_i) = int_0^{tau_i} e^{tau_i - u} (G(0) - G(u)) du``, so its norm is at
most ``G1 (e^{tau_i} - 1 - tau_i)``. A sweep gives ``x_i^{(n+1)} - y(tau_i) = sum_{j <= i} W_ij (s(x_j^{(n)}) -
G(tau_j)) + sum_{j <= i} int_{piece j, u <= tau_i} e^{tau_i - u} (G(tau_j) - G(u)) du``; ``|G(tau_j) - G(u)|
<= G1 h/R`` on a whole piece and ``<= G1 (tau_i - u)`` on piece ``i``, so with ``L_j`` the Lipschitz bound
of the score on piece ``j``'s times (global in space, :func:`~proofs.midpoint_bounds.block_lipschitz_sup`)

.. math:: e_i^{(n+1)}(\tau_i) \le e^{\tau_i} \sum_{j<i} g_j L_j \bar e_j^{(n)} + D_i L_i e_i^{(n)}(\tau_i)
          + G_1\big[\tfrac hR (e^{\tau_i} - e^{\tau_i - b_i}) + \psi(\tau_i - b_i)\big],
          \quad \psi(d) = e^d (d - 1) + 1,

where ``bar e_j^{(n)} = e_j^{(n)}(b_{j+1})`` is its sup over piece ``j`` (every term increases in
``tau``). All are ``G1`` times functions of ``tau_i`` (:func:`midpoint_error_integrals`).

*B3, the local error.* ``delta := x_{k+1} - Phi_k(x) = Q1 + Q2`` with ``Q1 = sum_j (w_j G(tau_j) - int_{piece
j} e^{h-u} G du)`` and ``Q2 = sum_j w_j (s(x_j^{(K)}, t - tau_j) - G(tau_j))``. Both laws make ``E w_j
f(tau_j) = int_{piece j} e^{h-u} f``, so ``E Q1 = 0``; the pieces are independent, so ``E|Q1|^2 = sum_j
E|Q1_j|^2``, and writing ``Q1_j = G(c)(w_j - E w_j) + [w_j (G(tau_j) - G(c)) - E(...)]`` with ``c =
E[w_j^2 tau_j] / E w_j^2`` in the piece, ``||Q1_j|| <= G0 alpha_j + G1 beta_j``, ``alpha_j = sd(w_j)``,
``beta_j^2 = min_c E[w_j^2 (tau_j - c)^2]`` (closed forms, :func:`weight_spread`). ``|Q2| <= sum_j w_j L_j
e_j^{(K)}(tau_j)``, so ``|E Q2| <= B := G1 sum_j L_j E[w_j e_j / G1]`` and ``||Q2|| <= G1 sum_j L_j
sqrt(E[w_j^2 (e_j / G1)^2])`` (Minkowski), each expectation a proved quadrature. ``Var(delta) <= V :=
(||Q1|| + ||Q2||)^2``.

*B4, across steps.* With ``e_k = x_k - y(t_k)`` (``y`` from ``x_0``), ``e_{k+1} = [Phi_k(x_k) - Phi_k(y_k)] +
delta_k``; the bracket is ``F_k``-measurable (``F_k``: the first ``k`` steps' points) with norm ``<= ell_k
|e_k|``, ``ell_k = exp(int mu)`` (``mu`` the one-sided Lipschitz bound of ``y + s`` on the step, over two
cells or the pieces); ``E[delta_k | F_k] =: b_k``, ``|b_k| <= B_k``, and ``delta_k - b_k`` has conditional
mean 0 and second moment ``<= V_k`` (the draw of step ``k`` is independent of ``F_k``, and B0-B3 hold for
every ``x_k`` with ``|z_k| <= P_k``). Orthogonality and Minkowski give ``a_{k+1}^2 <= (ell_k a_k + B_k)^2 +
V_k``, ``a_0 = 0``, for ``a_k = ||e_k||_{L^2}`` on the block (:func:`block_recursion`).

Step U (unequal diagonal variances on the block)
------------------------------------------------
Now component ``c`` has data variance ``lam_ci`` in block coordinate ``i``, ``v_ci = 1 + (lam_ci - 1) a^2``
(``> 0`` for ``t > 0``), ``X_c = (a nu_c - z) / v_c`` (coordinatewise), so ``s_J = sum_c r_c X_c``; fix ``lam0 >=
0`` (:func:`~proofs.midpoint_bounds.reference_variance`: any value is valid) and ``V = 1 + (lam0 - 1) a^2``.
Over a step's forward times ``[t_{k+1}, t_k]`` and every variance, :func:`~proofs.midpoint_bounds.unequal_rates`
gives balls ``inv >= 1/v``, ``inv_min <= 1/v``, ``kappa >= 1 - 1/v`` (signed), ``one_minus >= |1 - 1/v|``,
``beta >= |1/V - 1/v|``, ``rho >= |v - 1| / v^2``, ``sigma2 >= |2 - v| / v^2``, ``gamma >= |f(v) - f(V)|`` with
``f(v) = (v - 1) / v^2``, and ``a <= e^{-t_{k+1}}``; ``b := a R inv``.

*U0, exact paths.* Along the flow ``z' = z + s_J`` (``a' = a``) and ``<z, z + X_c> = sum_i z_i^2 (1 - 1/v_ci) +
a <z, nu_c / v_c> <= kappa |z|^2 + b |z|``, so ``d|z|/dr <= kappa |z| + b`` and, for either sign of ``kappa``,
``|z(r)| <= e^{kappa r} |z(0)| + b r max(1, e^{kappa r})`` (``(e^{kappa r} - 1)/kappa <= r max(1, e^{kappa r})``).
So over the step every exact path from ``|z| <= P`` has ``|z| <= Z(P) := max(1, e^{kappa h}) (P + b h)``, and
the exact path from ``x_0`` has ``|z(y_k)| <= P^ex_k``: ``P^ex_0 = r_J`` (or ``|z(x_0)|``), ``P^ex_{k+1} =
e^{kappa h} P^ex_k + max(1, e^{kappa h}) b h``.

*U1, the scheme's states (every draw).* ``s_J = -z/V + D`` with ``D = sum_c r_c (a nu_c / v_c + z (1/V -
1/v_c))``, so ``|D| <= A + beta |z|``, ``A = a R inv`` at the state's time. Run step A with the linear part ``c =
1/V``: a state ``p z + xi`` has ``|xi| <= q + r |z|``, and a score evaluated there contributes ``-c xi + D``
with ``|-c xi + D| <= (c + beta)(q + r |z|) + A + beta |p| |z|`` (``|z_state| <= |p| |z| + |xi|``). The guess
has ``q = (e^tau - 1) A(t)``, ``r = (e^tau - 1) beta(t)``; a sweep and the endpoint add these contributions with
the non-negative weights ``e^{tau_i} g_j``, ``D_i`` and ``w_j`` of step L. Evaluated over the cells of step A
(:func:`region_coefficients` with ``lams``) this gives ``|z_{k+1}| <= gain P_k + shift`` and, for ``x_k`` and
every midpoint of every sweep, ``|z| <= reach_gain P_k + reach_shift``, for every draw with ``|z_k| <= P_k``.
(With one variance, ``beta = 0`` and ``A = a R c``: step A.)

*U2, the ball.* ``ball_k = max(Z(max(P_k, P^ex_k)), reach_gain P_k + reach_shift)`` bounds ``|z|`` on the exact
paths over step ``k`` from ``x_k`` and from ``y_k`` and at every state where the scheme evaluates the score,
for every draw. In the basis coordinates these points lie in ``|y| <= a |m0| + ball_k`` (``y_lin = 0``: the
block's Hessian does not depend on the linear coordinates, which step L treats exactly), a convex set, so
segments between them stay in it. No iterate can leave it: the ball is built from the iterates' a.s.
region, and if it is not finite the bound is ``inf``.

*U3, Lipschitz and one-sided constants on the ball.* ``Hess_u log q_t = -sum_c r_c diag(1/v_c) + Cov_r(X)``
(``grad log N(u; a mu_c, diag v_c) = X_c``, its Hessian ``-diag(1/v_c)``), and ``Cov_r(X) <= E_r |X -
x_0|^2 I`` for any ``x_0``; with ``x_0 = -z/V``, ``|X_c - x_0| = |a nu_c / v_c + z (1/V - 1/v_c)| <= Dm(|z|) :=
b + beta |z|``. So its eigenvalues lie in ``[-inv, Dm^2 - inv_min]``: ``L_j <= max(inv, Dm(ball)^2 - inv_min)``
on piece ``j`` and ``mu <= 1 - inv_min + Dm(ball)^2``; each is replaced by
:func:`certsample.lipschitz.sup_on` on the ball ``|y| <= a |m0| + ball_k`` where that is smaller (proved there;
the radius rounded up to three digits; :func:`~proofs.midpoint_bounds.ball_sup`).

*U4, the drift along the path.* On the exact path from ``x_k`` (``|z| <= Z``): ``|G| = |sum_c r_c X_c| <= inv (Z
+ a R) =: G0``. In the moving frame ``G' = H z' + d_r s_J|_z`` (``d_r`` at fixed ``z``) with ``||H|| <= L :=
max_j L_j`` and ``|z'| = |sum_c r_c (z (1 - 1/v_c) + a nu_c / v_c)| <= one_minus Z + b``. At fixed ``z``, with
``v_c' = 2 (v_c - 1)``, ``d_r X_c = a nu_c (2 - v_c) / v_c^2 + 2 z (v_c - 1) / v_c^2``, of norm ``<= a R sigma2 + 2
Z rho``. The logits ``theta_c = log w_c - (1/2) sum_i log v_ci - sum_i (z_i - a nu_ci)^2 / (2 v_ci)`` have
``phi_c := d_r theta_c = -sum_i (1 - 1/v_ci) + sum_i (z_i - a nu_ci) a nu_ci / v_ci + sum_i (z_i - a nu_ci)^2
f(v_ci)`` and ``d_r r_c = r_c (phi_c - E_r phi)``, so ``sum_c (d_r r_c) X_c = sum_c r_c (phi_c - phi_0)(X_c -
s_J)`` for any ``phi_0`` (both centred sums vanish). With ``phi_0 = -k_J (1 - 1/V) + |z|^2 f(V)``, term by
term (Cauchy-Schwarz on the cross terms, ``(z_i - a nu_ci)^2 f(v_ci) - z_i^2 f(V) = z_i^2 (f(v_ci) - f(V)) - 2 a
z_i nu_ci f(v_ci) + a^2 nu_ci^2 f(v_ci)``),

.. math:: |\phi_c - \phi_0| \le \Phi := k_J \beta + (a R Z + a^2 R^2)\, inv + Z^2 \gamma
          + (2 a R Z + a^2 R^2)\, \rho,

and ``sum_c r_c |X_c - s_J| <= (sum_c r_c |X_c - x_0|^2)^{1/2} <= Dm(Z)``. Hence

.. math:: |G'| \le G_1 := L\,(one\_minus\, Z + a R\, inv) + a R\, \sigma_2 + 2 Z \rho + \Phi\, (a R\, inv + \beta Z).

*U5.* Steps B2-B4 use only: ``L_j`` on segments between an evaluated state and the exact path at the same
time, ``mu`` on segments between the exact flows from ``x_k`` and ``y_k``, and ``G0``, ``G1`` on the path from
``x_k``, for every draw with ``|z_k| <= P_k``; all these lie in ``ball_k`` (U2), so B2-B4 hold verbatim with
U3-U4's constants, and ``P_k`` follows U1 (:func:`unequal_block_step`).

Step C (closed forms: the registered ``error_expr``)
----------------------------------------------------
For constant sups ``L``, ``mu >= 0``, ``G0``, ``G1`` over a run of ``n`` uniform steps, induction on B4
(``sqrt((u + v)^2 + m^2) <= u + sqrt(v^2 + m^2)`` and ``P_k = prod_{j<k} max(1, ell_j) >= 1``) gives ``a_n
<= e^{mu (T - delta)} (sum_k B_k + sqrt(sum_k V_k))``. With the uniform law, ``int_0^h e^{h-u} (e^u - 1 - u)
du = h (e^h + 1) - 2 (e^h - 1)``, ``alpha_j, beta_j <= (h/R)^2 e^h / sqrt(12)`` (``sd`` of a Lipschitz
function of a uniform point), ``w_j <= (h/R) e^h`` and, for the sweeps, ``max_i bar e_i^{(n+1)} <= theta
max_i bar e_i^{(n)} + G1 (h/R (e^h - 1) + psi(h/R))`` with ``theta = (e^h - 1) L`` (``sum_{j <= i} W_ij =
e^{tau_i} - 1``) and ``sum_{n<K} theta^n <= K max(1, theta)^K``; this yields the classes' ``error_expr``.
Their ``steps_expr`` use ``h <= 1`` (and ``theta <= 1/2``): ``e^h - 1 - h <= (e - 2) h^2``, ``psi(d) <=
d^2``, ``h (e^h + 1) - 2 (e^h - 1) <= (3 - e) h^3``, so the bound is ``<= P (c_a h^2 + c_b h^{3/2})`` and
each term is held to ``eps / 2``.

Step D (the inverse)
--------------------
:func:`nfe_required` brackets the least step count whose evaluated bound is ``<= eps`` (doubling, then
interpolation safeguarded by bisection) and returns it with ``NFE = N (1 + R (K + 1))`` and ``N (K + 2)``
rounds.

References
----------
.. [1] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized midpoints: sequential and
   parallel", ICLR 2025, arXiv:2406.00924 (the schemes).
.. [2] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling", NeurIPS 2019,
   arXiv:1909.05503 (unbiased one-point quadrature).
.. [3] G. N. Milstein, M. V. Tretyakov, *Stochastic Numerics for Mathematical Physics*, Springer, 2004
   (mean-square analysis with orthogonal martingale increments).
.. [4] E. Hairer, S. P. Norsett, G. Wanner, *Solving Ordinary Differential Equations I*, Springer, 1993
   (one-sided Lipschitz bounds, Lady Windermere's fan).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .balls import amax, arb, arb_interval, arb_precision, bound_text, lower_float, upper_float
from .core import OutsideTheoremRange, RunPlan, RunTheorem, check_search_budget, smax
from .midpoint_bounds import (
    NotCovered,
    StartSet,
    _affine_range,
    _popoviciu,
    ball_sup,
    block_lipschitz_sup,
    block_one_sided_sup,
    decompose,
    expectation,
    posterior_covariance_sup,
    reference_variance,
    scale_ends,
    unequal_rates,
    variance_balls,
)

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


_FACTORS = {}  # (lam, grid times, scheme) -> factor: a start set and its points share them


def linear_mean_square_factor(lam, grid, scheme: Scheme):
    """Enclosure of ``E|z_N - z(delta)|^2 / z_0^2`` on a linear coordinate of data variance ``lam``.

    ``= (v(delta)/v(T)) [prod_k ((1 + m_k)^2 + var_k) - 2 prod_k (1 + m_k) + 1]`` (independent steps;
    module docstring), in ball arithmetic: the enclosure is proved whatever the cancellation costs.
    """
    key = (float(lam), np.asarray(grid.times, dtype=float).tobytes(), scheme)
    if key not in _FACTORS:
        if len(_FACTORS) > 256:
            _FACTORS.clear()
        _FACTORS[key] = _linear_mean_square_factor(float(lam), grid, scheme)
    return _FACTORS[key]


def _linear_mean_square_factor(lam, grid, scheme: Scheme):
    times = grid.times
    mean, square = arb(1), arb(1)  # E prod (1 + eps_k) and E prod (1 + eps_k)^2
    for k in range(len(times) - 1):
        m, var = linear_step_moments(lam, float(times[k]), float(times[k + 1]), scheme)
        mean *= 1 + m
        square *= (1 + m) ** 2 + var
    lam = arb(lam)
    v_end = 1 + (lam - 1) * (-2 * arb(float(times[-1]))).exp()
    v_start = 1 + (lam - 1) * (-2 * arb(float(times[0]))).exp()
    # E(prod (1 + eps_k) - 1)^2 = square - 2 mean + 1: the products carry 192 bits, so the cancellation
    # leaves about 192 - 20 - log2(N) correct bits of a result of relative size 2^-20 or more
    return (v_end / v_start) * (square - 2 * mean + 1).nonnegative_part()


# ---------------------------------------------------------------------------- the block (bounds)
def weight_spread(h, scheme: Scheme, j: int):
    """``(alpha_j, beta_j)`` of piece ``j``: ``alpha = sd(w_j)``, ``beta = min_c sqrt(E[w_j^2 (tau_j - c)^2])``.

    Closed forms (``s = tau - b_j`` on ``[0, hr]``). Uniform law: ``w = hr e^{h - b_j} e^{-s}``, so
    ``E w = e^{h - b_j} (1 - e^{-hr})``, ``E w^2 = hr e^{2(h - b_j)} (1 - e^{-2hr}) / 2`` and ``beta^2 = e^{2(h -
    b_j)} hr^2 (J_2 - J_1^2 / J_0)`` with ``J_n = int_0^hr e^{-2s} s^n ds / hr``. Exponential law: ``w`` is
    constant (``alpha = 0``) and ``beta^2 = w^2 Var(s)`` for the density ``e^{-s} / (1 - e^{-hr})``.
    """
    hr = h / scheme.R
    b = j * hr
    scale = (h - b).exp()
    if scheme.sampling == "exponential":
        w = scale * (-(-hr).expm1())
        e = (-hr).exp()
        k0, k1, k2 = 1 - e, 1 - e * (1 + hr), 2 - e * (2 + 2 * hr + hr * hr)
        var = (k2 / k0 - (k1 / k0) ** 2).nonnegative_part()
        return arb(0), w * var.sqrt()
    e1, e2 = (-hr).exp(), (-2 * hr).exp()
    mean_w = scale * (1 - e1)
    mean_w2 = hr * scale * scale * (1 - e2) / 2
    alpha = (mean_w2 - mean_w * mean_w).nonnegative_part().sqrt()
    j0 = (1 - e2) / (2 * hr)
    j1 = (1 - e2 * (1 + 2 * hr)) / (4 * hr)
    j2 = (2 - e2 * (2 + 4 * hr + 4 * hr * hr)) / (8 * hr)
    beta = (scale * scale * hr * hr * (j2 - j1 * j1 / j0)).nonnegative_part().sqrt()
    return alpha, beta


def midpoint_error_integrals(h, scheme: Scheme, lipschitz):
    """``(b, s)``: ``sum_i L_i E[w_i e_i]`` and ``sum_i L_i sqrt(E[w_i^2 e_i^2])`` per unit ``G1``.

    ``e_i(u)`` bounds ``|x_i^{(K)} - y(tau_i)| / G1`` for ``tau_i = u`` and every position of the other
    points (module docstring, step B2); ``lipschitz[i]`` bounds the score's Lipschitz constant on piece ``i``.
    """
    R, K = scheme.R, scheme.K
    if not all(arb(x).is_finite() for x in lipschitz):  # no finite bound to integrate: the step's bound is inf
        return arb("inf"), arb("inf")
    hr = h / R
    pieces = [_Piece(h, scheme, i) for i in range(R)]
    ends = {}

    def err(i, n, u, E):
        if n == 0:
            return E - 1 - u
        piece = pieces[i]
        shifted = E * piece.exp_neg_lo  # e^{u - b_i}
        whole = sum((pieces[j].g * lipschitz[j] * ends[(j, n - 1)] for j in range(i)), arb(0))
        quadrature = hr * (E - shifted) + shifted * (u - piece.b_lo - 1) + 1
        return E * whole + (shifted - 1) * lipschitz[i] * err(i, n - 1, u, E) + quadrature

    for n in range(K):
        for j in range(R):
            ends[(j, n)] = err(j, n, pieces[j].b_hi, pieces[j].b_hi.exp()).upper()
    b_sum, s_sum = arb(0), arb(0)
    for i, piece in enumerate(pieces):

        def integrand(u, i=i, piece=piece):
            E = u.exp()
            e = err(i, K, u, E)
            pw = piece.density(E) * piece.weight(E)
            return [pw * e, pw * piece.weight(E) * e * e]

        first, second = expectation(integrand, piece.b_lo, piece.b_hi, _BLOCK_TOL)
        b_sum += lipschitz[i] * first
        s_sum += lipschitz[i] * second.nonnegative_part().sqrt()
    return b_sum.upper(), s_sum.upper()


def region_coefficients(lam, radius, t, t_next, scheme: Scheme, lams=None):
    """``(gain, shift, reach_gain, reach_shift)``: ``|z_next| <= gain |z| + shift`` and every state the step
    evaluates the score at has ``|z_i| <= reach_gain |z| + reach_shift``, for every choice of the random points.

    ``z = u_J - a m0`` at each state's own time; module docstring, steps A and U1. ``lam`` is the frame's
    variance (the block's, or the reference ``lam0``) and ``lams`` the block's data variances (balls; default
    ``[lam]``: then ``beta = 0``). Interval evaluation over the pieces (the sequential method: over
    ``_REGION_CELLS`` cells of ``[0, h]``).
    """
    t, t_next = arb(t), arb(t_next)
    h = t - t_next
    R, K = scheme.R, scheme.K
    lam, radius = arb(lam), arb(radius)
    lams = [lam] if lams is None else [arb(x) for x in lams]
    e2t, a0 = (-2 * t).exp(), (-t).exp()
    pieces = [_Piece(h, scheme, j) for j in range(R)]

    def rates(E):
        """``(c, A, beta)`` at reverse time ``u`` (``E = e^u``): ``c = 1/V``, ``A >= a R max 1/v``, ``beta >=
        max |1/V - 1/v|`` (``1/V - 1/v = (lam_ci - lam) a^2 / (V v)``)."""
        x = e2t * E * E  # a(t - u)^2
        V = 1 + (lam - 1) * x
        # the quotients at the ends of the variances' ranges (no product of wide balls reaching 0: NaN)
        V_lo = _affine_range(lam, x)[0]
        v_los = [_affine_range(m, x)[0] for m in lams]
        inv = amax([1 / v for v in v_los])
        beta = amax([abs(m - lam).upper() * x.upper() / (V_lo * v) for m, v in zip(lams, v_los)])
        return 1 / V, a0 * E * radius * inv, beta

    c0, A0, beta0 = rates(arb(1))
    if R == 1:
        cells = [[arb_interval(h * i / _REGION_CELLS, h * (i + 1) / _REGION_CELLS)] for i in range(_REGION_CELLS)]
    else:
        cells = [[arb_interval(p.b_lo, p.b_hi) for p in pieces]]
    out = None
    for taus in cells:
        E = [tau.exp() for tau in taus]
        c, A, beta = zip(*(rates(x) for x in E))
        D = [x * p.exp_neg_lo - 1 for x, p in zip(E, pieces)]
        w = [p.weight(x) for x, p in zip(E, pieces)]
        # midpoint i's state is p z + xi with |xi| <= q + r |z|
        p_coef = [x - (x - 1) * c0 for x in E]
        q_coef = [(x - 1) * A0 for x in E]
        r_coef = [(x - 1) * beta0 for x in E]
        reach_g, reach_s = [arb(1)], [arb(0)]

        for sweep in range(K + 1):
            reach_g += [x.abs_upper() + y for x, y in zip(p_coef, r_coef)]
            reach_s += list(q_coef)
            if sweep == K:
                break
            new_p, new_q, new_r = [], [], []
            for i in range(R):
                s_p = sum((pieces[j].g * c[j] * p_coef[j] for j in range(i)), arb(0))
                whole = [_terms(c[j], beta[j], A[j], p_coef[j], q_coef[j], r_coef[j]) for j in range(i)]
                own = _terms(c[i], beta[i], A[i], p_coef[i], q_coef[i], r_coef[i])
                new_p.append(E[i] * (1 - s_p) - D[i] * c[i] * p_coef[i])
                new_q.append(E[i] * sum((pieces[j].g * x for j, (x, _y) in enumerate(whole)), arb(0)) + D[i] * own[0])
                new_r.append(E[i] * sum((pieces[j].g * y for j, (_x, y) in enumerate(whole)), arb(0)) + D[i] * own[1])
            p_coef, q_coef, r_coef = new_p, new_q, new_r
        p_end = h.exp() - sum((w[j] * c[j] * p_coef[j] for j in range(R)), arb(0))
        ends = [_terms(c[j], beta[j], A[j], p_coef[j], q_coef[j], r_coef[j]) for j in range(R)]
        q_end = sum((w[j] * x for j, (x, _y) in enumerate(ends)), arb(0))
        r_end = sum((w[j] * y for j, (_x, y) in enumerate(ends)), arb(0))
        here = [(p_end.abs_upper() + r_end).upper(), q_end.upper(), amax(reach_g), amax(reach_s)]
        out = here if out is None else [x.max(y) for x, y in zip(out, here)]
    return tuple(out)


def _terms(c, beta, A, p, q, r):
    """``(const, lin)`` with ``|-c xi + D| <= const + lin |z|`` where the state is ``p z + xi``, ``|xi| <= q + r |z|``
    and ``|D| <= A + beta |p z + xi|`` (step U1)."""
    cb = c + beta
    return cb * q + A, cb * r + beta * p.abs_upper()


@dataclass
class BlockStep:
    """Per-step constants of the block recursion (module docstring, step B); every field an upper bound."""

    lipschitz_growth: object  # ell_k = exp(int mu)
    region_gain: object
    region_shift: object
    path_growth: object  # e^{kappa+ h}
    path_shift: object  # h sup(a R / v)
    inv_v: object  # sup 1/v
    shift_g0: object  # sup a R / v
    gain_g1: object  # sup |1 - 1/v|
    z_g1: object  # sup a^2 C / v^3
    const_g1: object  # sup a^3 (C R + sqrt(C) R^2 / 2) / v^3
    tilt_g1: object  # sup (a / v^2) D Lambda + a^3 (C R + sqrt(C) R^2 / 4) / v^3 (no z term)
    bias: object  # b_k
    spread: object  # s_k
    lipschitz: object  # max_j L_j
    one_sided: object  # max over the cells of mu
    alphas: list
    betas: list


def _tilt_spread(dec):
    """``D Lambda``: ``D = diam`` of the block means, ``Lambda >= E_r[max_c theta_c - theta]`` for every
    softmax ``r_c ~ w_c e^{theta_c}`` (module docstring, step B1)."""
    # the weights as stored are w_c / sum w rounded, each off by a relative (K' + 1) u at most: balls of that radius
    # hold the exact normalised weights, whose ratios the bound needs
    slack = (len(dec.block_weights) + 2) * 2.0**-53
    w = [arb(float(x), float(x) * slack) for x in dec.block_weights]
    w_min, w_max = min(w, key=lambda x: x.mid()), max(w, key=lambda x: x.mid())
    total = sum(w, arb(0))
    w_min, w_max = w_min.lower() / total, w_max.upper() / total
    spread = (1 - w_min) / (arb(1).exp() * w_min)
    spread = spread.min(((len(w) * w_max) / w_min).log())
    return (4 * _popoviciu(dec)).sqrt() * spread


def block_step(dec, t, t_next, scheme: Scheme) -> BlockStep:
    """The constants of step ``t -> t_next`` for the block of ``dec`` (module docstring, step B)."""
    R = scheme.R
    ta, tb = arb(t), arb(t_next)
    h = ta - tb
    hr = h / R
    radius = arb(dec.block_radius)
    # piece j covers the forward times [t - b_{j+1}, t - b_j] (balls; the last one ends exactly at t_next)
    pieces = [(ta - (j + 1) * hr if j < R - 1 else tb, ta - j * hr) for j in range(R)]
    lipschitz = [block_lipschitz_sup(dec, lo, hi) for lo, hi in pieces]
    cells = [(tb, ta - h / 2), (ta - h / 2, ta)] if R == 1 else pieces
    one_sided = [block_one_sided_sup(dec, lo, hi) for lo, hi in cells]
    exponent = sum(((hi - lo) * mu for (lo, hi), mu in zip(cells, one_sided)), arb(0))
    ell = exponent.exp().upper()
    gain, shift, _, _ = region_coefficients(dec.block_variance, dec.block_radius, t, t_next, scheme)
    # each sup below at the ends of a and v (scale_ends: nonnegative numerators, monotone in a >= 0 and v > 0)
    a, v_lo, v_hi = scale_ends(dec.block_variance, t_next, t)
    v3 = v_lo * v_lo * v_lo
    cov = posterior_covariance_sup(dec, t_next, t)
    kappa = (1 - 1 / v_hi).upper().max(arb(0))
    b, s = midpoint_error_integrals(h, scheme, lipschitz)
    spreads = [weight_spread(h, scheme, j) for j in range(R)]
    return BlockStep(
        lipschitz_growth=ell,
        region_gain=gain,
        region_shift=shift,
        path_growth=(kappa * h).exp().upper(),
        path_shift=(h * a * radius / v_lo).upper(),
        inv_v=(1 / v_lo).upper(),
        shift_g0=(a * radius / v_lo).upper(),
        gain_g1=(1 - 1 / v_lo).abs_upper().max((1 - 1 / v_hi).abs_upper()),
        z_g1=(a * a * cov / v3).upper(),
        const_g1=(a * a * a * (cov * radius + cov.sqrt() * radius * radius / 2) / v3).upper(),
        tilt_g1=(
            a * _tilt_spread(dec) / (v_lo * v_lo) + a * a * a * (cov * radius + cov.sqrt() * radius * radius / 4) / v3
        ).upper(),
        bias=b,
        spread=s,
        lipschitz=max(lipschitz, key=upper_float),
        one_sided=max(one_sided, key=upper_float),
        alphas=[x.upper() for x, _ in spreads],
        betas=[y.upper() for _, y in spreads],
    )


@dataclass
class BlockBound:
    """Result of the block recursion: ``value >= sqrt(E|e_N|^2)`` on the block, and per-step details.

    When some ``a_k`` is infinite the recursion stops there (every later one is infinite too): ``value`` is
    ``inf`` and the per-step arrays end at that step, shorter than ``times``.
    """

    value: float
    times: np.ndarray
    rms: np.ndarray  # a_k, k = 0..N
    region: np.ndarray  # P_k: |u_J - a(t_k) m0| <= P_k for every choice of the random points
    lipschitz_growth: np.ndarray  # ell_k
    bias: np.ndarray  # B_k
    variance: np.ndarray  # V_k
    g0: np.ndarray  # G0_k >= sup |G| on step k
    g1: np.ndarray  # G1_k >= sup |G'| on step k
    lipschitz: np.ndarray  # L_k (largest over the step's pieces)
    one_sided: np.ndarray  # mu_k (largest over the step's cells)
    ball: np.ndarray | None = None  # unequal variances: |z| <= ball_k for paths and evaluated states of step k


def unequal_block_step(dec, t, t_next, scheme: Scheme, P, P_exact) -> dict:
    """One step of the block recursion for unequal variances (module docstring, step U) from ``|z_k| <= P`` (the
    scheme's iterate, every draw) and ``|z(y_k)| <= P_exact`` (the exact path from the start)."""
    R = scheme.R
    ta, tb = arb(t), arb(t_next)
    h = ta - tb
    hr = h / R
    radius = arb(dec.block_radius)
    P, P_exact = arb(P), arb(P_exact)
    lams = variance_balls(dec)
    gain, shift, reach_gain, reach_shift = region_coefficients(
        reference_variance(dec), dec.block_radius, t, t_next, scheme, lams
    )
    rates = unequal_rates(dec, tb, ta)
    aR, inv = rates["a"] * radius, rates["inv"]
    growth = (rates["growth"] * h).exp()  # U0: e^{kappa h}, kappa of either sign
    top = growth.upper().max(arb(1))
    path_shift = (h * aR * inv).upper()
    Z = (top * (P.max(P_exact) + path_shift)).upper()
    ball = Z.max(reach_gain * P + reach_shift).upper()  # U1: paths and every evaluated state
    pieces = [(ta - (j + 1) * hr if j < R - 1 else tb, ta - j * hr) for j in range(R)]
    lipschitz = [ball_sup(dec, lo, hi, ball, "lipschitz") for lo, hi in pieces]
    cells = [(tb, ta - h / 2), (ta - h / 2, ta)] if R == 1 else pieces
    one_sided = [ball_sup(dec, lo, hi, ball, "one_sided") for lo, hi in cells]
    ell = sum(((hi - lo) * mu for (lo, hi), mu in zip(cells, one_sided)), arb(0)).exp().upper()
    L = amax(lipschitz)
    g0 = (inv * (Z + aR)).upper()  # U2
    dmax = aR * inv + rates["beta"] * Z
    phi = (
        len(dec.block_axes) * rates["beta"]
        + (aR * Z + aR * aR) * inv
        + Z * Z * rates["gamma"]
        + (2 * aR * Z + aR * aR) * rates["rho"]
    )
    g1 = (L * (rates["one_minus"] * Z + aR * inv) + aR * rates["sigma2"] + 2 * Z * rates["rho"] + phi * dmax).upper()
    b, s = midpoint_error_integrals(h, scheme, lipschitz)
    spreads = [weight_spread(h, scheme, j) for j in range(R)]
    q1 = sum(((g0 * al.upper() + g1 * be.upper()) ** 2 for al, be in spreads), arb(0)).sqrt()
    return dict(
        ell=ell,
        bias=g1 * b,
        var=(q1 + g1 * s) ** 2,
        g0=g0,
        g1=g1,
        lipschitz=L,
        one_sided=amax(one_sided),
        P=(gain * P + shift).upper(),
        P_exact=(growth * P_exact + top * path_shift).upper(),
        ball=ball,
    )


def _isotropic_block_step(dec, t, t_next, scheme: Scheme, P, P_exact) -> dict:
    """One step of the block recursion for one isotropic block variance (step B; ``P_exact`` is not needed: the
    sups hold everywhere)."""
    st = block_step(dec, t, t_next, scheme)
    P = arb(P)
    z = st.path_growth * (P + st.path_shift)
    g0 = st.inv_v * z + st.shift_g0
    g1 = st.gain_g1 * g0 + (st.z_g1 * z + st.const_g1).min(st.tilt_g1)
    q1 = sum(((g0 * al + g1 * be) ** 2 for al, be in zip(st.alphas, st.betas)), arb(0)).sqrt()
    return dict(
        ell=st.lipschitz_growth,
        bias=g1 * st.bias,
        var=(q1 + g1 * st.spread) ** 2,
        g0=g0,
        g1=g1,
        lipschitz=st.lipschitz,
        one_sided=st.one_sided,
        P=(st.region_gain * P + st.region_shift).upper(),
        P_exact=arb(P_exact),
        ball=None,
    )


def block_recursion(dec, grid, scheme: Scheme, start_radius: float) -> BlockBound:
    """``a_N`` of the recursion ``a_{k+1} = sqrt((ell_k a_k + B_k)^2 + V_k)``, ``a_0 = 0`` (steps B and U)."""
    times = grid.times
    n = len(times) - 1
    step = unequal_block_step if dec.kind == "unequal" else _isotropic_block_step
    P = P_exact = arb(start_radius).upper()
    a_k = arb(0)
    rms, region = [0.0], [upper_float(P)]
    rows = {key: [] for key in ("ell", "bias", "var", "g0", "g1", "lipschitz", "one_sided", "ball")}
    for k in range(n):
        check_search_budget(f"block recursion at step {k} of {n}")  # a plan search's budget (certify)
        st = step(dec, float(times[k]), float(times[k + 1]), scheme, P, P_exact)
        a_k = (((st["ell"] * a_k + st["bias"]) ** 2 + st["var"]).sqrt()).upper()
        P, P_exact = st["P"], st["P_exact"]
        rms.append(upper_float(a_k))
        region.append(upper_float(P))
        for key, row in rows.items():
            row.append(math.nan if st[key] is None else upper_float(st[key]))
        if not math.isfinite(rms[-1]):
            break  # every later a_k is infinite too
    return BlockBound(
        rms[-1] if len(rms) == n + 1 else math.inf,
        np.asarray(times),
        np.array(rms),
        np.array(region),
        np.array(rows["ell"]),
        np.array(rows["bias"]),
        np.array(rows["var"]),
        np.array(rows["g0"]),
        np.array(rows["g1"]),
        np.array(rows["lipschitz"]),
        np.array(rows["one_sided"]),
        np.array(rows["ball"]) if dec.kind == "unequal" else None,
    )


# ---------------------------------------------------------------------------- the theorem, evaluated
@dataclass
class MidpointMSBound:
    """A proved bound ``value >= sqrt(E|x_N - y(delta)|^2)`` for every start point in ``start_set``.

    Attributes
    ----------
    value : float
        The bound, rounded up; ``sqrt(block^2 + linear^2)``.
    block, linear : float
        The block's bound (step B) and the linear coordinates' exact value (its enclosure's upper end).
    start_set : StartSet or None
        ``None`` when the bound is for one start point (``start``).
    eta : float or None
        ``q_T`` mass outside the start set.
    scheme : Scheme
    grid : TimeGrid
    linear_factors : dict
        ``lam -> (lower, upper)`` of ``E|z_N - z(delta)|^2 / z_0^2`` (exact, enclosed).
    per_step : BlockBound or None
        The block recursion's per-step details.
    start : ndarray or None
    """

    value: float
    block: float
    linear: float
    start_set: object
    eta: float | None
    scheme: Scheme
    grid: object
    linear_factors: dict
    per_step: BlockBound | None
    start: np.ndarray | None = None
    metric: str = "pathwise RMS over the midpoints"


def rms_bound(target, grid, scheme: Scheme, eta: float = 1e-6, x0=None) -> MidpointMSBound:
    """Evaluate the theorem (module docstring) on ``target`` and ``grid``; see the theorem classes."""
    from certsample.forward import TimeGrid  # lazy: importing proofs stays light

    if not isinstance(grid, TimeGrid):
        raise TypeError(f"grid must be a certsample.forward.TimeGrid, got {type(grid).__name__}")
    dec = decompose(target)
    if not dec.covered:
        raise NotCovered(f"{target!r} is not covered: {dec.reason}")
    start_set = None
    if x0 is None:
        start_set = StartSet(target, grid.T, eta, decomposition=dec)
        block_radius, linear_radius = start_set.block_radius, start_set.linear_radius
    else:
        x0 = np.asarray(x0, dtype=float).reshape(-1)
        if x0.shape != (target.dim,) or not np.all(np.isfinite(x0)):
            raise ValueError(f"x0 must be a finite point of shape ({target.dim},)")
    with arb_precision():
        factors = {
            lam: linear_mean_square_factor(lam, grid, scheme)
            for lam in (dec.linear_variance_values() if dec.has_linear else [])
        }
        if x0 is None:
            lin_sq = arb(linear_radius) ** 2 * max(
                (f.upper() for f in factors.values()), key=upper_float, default=arb(0)
            )
        else:
            z, w, lams = dec.coordinate_balls(x0, grid.T)  # the exact coordinates, in Arb
            z, w = ([arb(upper_float(c)) for c in part] for part in (z, w))  # an upper bound of each |c|, exact
            block_radius = 0.0
            if dec.has_block:
                block_radius = upper_float(sum((c * c for c in z), arb(0)).sqrt())
            lin_sq = sum((c * c * factors[float(lam)].upper() for c, lam in zip(w, lams)), arb(0))
        per_step = block_recursion(dec, grid, scheme, block_radius) if dec.has_block else None
        block = arb(per_step.value) if per_step is not None else arb(0)
        value = upper_float((block * block + lin_sq).sqrt())
        linear = upper_float(lin_sq.sqrt())
        table = {lam: (lower_float(f), upper_float(f)) for lam, f in factors.items()}
    return MidpointMSBound(
        value,
        upper_float(block),
        linear,
        start_set,
        None if x0 is not None else float(eta),
        scheme,
        grid,
        table,
        per_step,
        x0,
    )


@dataclass
class NfeRequirement:
    """The least step count (in the final bracket of the search) whose proved bound is ``<= eps``."""

    n_steps: int
    nfe: int
    rounds: int
    bound: MidpointMSBound
    grid: object
    evaluations: int  # bounds computed by the search


def nfe_required(
    eps, target, T, delta, scheme: Scheme, grid_kind="uniform", eta=1e-6, max_steps: int = 1 << 16
) -> NfeRequirement:
    """Least ``N`` with ``rms_bound(grid_kind(T, delta, N)) <= eps`` and ``NFE = N (1 + R (K + 1))``.

    Search: doubling from 4 steps to a bracket ``bound(lo) > eps >= bound(hi)``, then interpolation in
    ``log N``-``log bound`` safeguarded by bisection until ``hi = lo + 1``. The returned ``N`` has a
    proved bound ``<= eps`` and ``N - 1`` a bound ``> eps``; it is the least such ``N`` wherever the bound
    decreases in ``N`` (the search does not look below the bracket). Inside
    :func:`proofs.core.search_budget` (certify's ``plan_seconds``) it stops with
    :class:`~proofs.core.SearchBudgetExceeded` once the budget has run out (checked per bound and per step).
    """
    from certsample.forward import make_grid

    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    cache = {}

    def bound(n):
        if n not in cache:
            check_search_budget(f"{len(cache)} step counts tried, next {n}")
            cache[n] = rms_bound(target, make_grid(grid_kind, T, delta, n), scheme, eta)
        return cache[n]

    lo, hi = 0, 4
    while bound(hi).value > eps:
        lo, hi = hi, 2 * hi
        if hi > max_steps:
            raise OutsideTheoremRange(
                f"no step count up to {max_steps} has a proved bound <= {eps:g} "
                f"(bound at {lo} steps: {bound_text(bound(lo).value)})"
            )
    rounds = 0
    while hi - lo > 1:
        guess = (lo + hi) // 2
        if lo >= 1 and rounds % 3 != 2:  # interpolate in log N - log bound, every third round bisect
            b_lo, b_hi = bound(lo).value, bound(hi).value
            if b_lo > eps >= b_hi > 0 and b_lo > b_hi:
                guess = int(math.ceil(hi * (b_hi / eps) ** (math.log(hi / lo) / math.log(b_lo / b_hi))))
        guess = min(max(guess, lo + 1), hi - 1)
        step = max(1, (hi - lo) // 32)
        if bound(guess).value <= eps:
            hi = guess
            probe = max(lo + 1, guess - step)  # a probe just below: brackets a good guess at once
        else:
            lo = guess
            probe = min(hi - 1, guess + step)
        if lo < probe < hi:
            if bound(probe).value <= eps:
                hi = probe
            else:
                lo = probe
        rounds += 1
    result = bound(hi)
    return NfeRequirement(hi, hi * scheme.evals_per_step, hi * scheme.rounds_per_step, result, result.grid, len(cache))


# ---------------------------------------------------------------------------- the registered theorems
T_, delta_, eps_ = sp.symbols("T delta eps", positive=True)
L_, G0_, G1_ = sp.symbols("L G0 G1", positive=True)
mu_ = sp.Symbol("mu", nonnegative=True)
N_ = sp.Symbol("N", positive=True, integer=True)
R_ = sp.Symbol("R", positive=True, integer=True)
K_ = sp.Symbol("K", nonnegative=True, integer=True)
_E = sp.E
_SQRT12 = sp.sqrt(12)

_GENERIC_ASSUMPTIONS = (
    "Exact arithmetic and the exact score s = grad log q_t; the expectation is over the random points only, "
    "for a fixed start point; the error is against the exact probability-flow solution from that point.",
    "Uniform steps h = (T - delta)/n, n = floor(N / evaluations per step); the uniform law of the random "
    "points (the solvers' default sampling).",
    "L >= sup_t Lipschitz constant of s(., t) on [delta, T]; mu >= sup lambda_max(I + grad s) (one-sided "
    "Lipschitz bound of the drift y + s), mu >= 0.",
    "G0 >= |s(y(r), t - r)| and G1 >= |d/dr s(y(r), t - r)| along every exact flow segment over one step "
    "started from a point the scheme can reach (for every draw of the random points).",
)
_EVALUATED_ASSUMPTIONS = (
    "rms_bound/nfe_required evaluate the sharper per-step recursion on a built-in target: every component "
    "shares one isotropic variance in the coordinates where the components differ (Gaussians, rings, "
    "point clouds, their embeddings in any d), or the components have diagonal, unequal variances there "
    "(Lipschitz bounds on a ball that provably holds the exact paths and every evaluated state; step U).",
    "Start points in StartSet(target, T, eta): |u_J - a_T m0| <= r_J and |w_lin| <= r_lin, of q_T mass "
    ">= 1 - eta (Gaussian concentration; proofs.midpoint_bounds).",
)


def _closed_form_sequential(n, h):
    """``P (n B + sqrt(n) (Q1 + Q2))`` for ``R = 1, K = 0`` (module docstring, step C)."""
    bias = L_ * G1_ * (h * (sp.exp(h) + 1) - 2 * (sp.exp(h) - 1))
    q1 = (G0_ + G1_) * h**2 * sp.exp(h) / _SQRT12
    q2 = L_ * G1_ * h * sp.exp(h) * (sp.exp(h) - 1 - h)
    return sp.exp(mu_ * (T_ - delta_)) * (n * bias + sp.sqrt(n) * (q1 + q2))


def _closed_form_parallel(n, h):
    """The same for ``R`` pieces and ``K`` sweeps (module docstring, step C)."""
    hr = h / R_
    theta = (sp.exp(h) - 1) * L_
    guess = (sp.exp(h) - 1 - h) * G1_
    quadrature = G1_ * (hr * (sp.exp(h) - 1) + sp.exp(hr) * (hr - 1) + 1)
    mid = theta**K_ * guess + quadrature * K_ * smax(1, theta) ** K_
    bias = L_ * mid * (sp.exp(h) - 1)
    q1 = (G0_ + G1_) * sp.exp(h) * h**2 / (R_ ** sp.Rational(3, 2) * _SQRT12)
    q2 = L_ * mid * h * sp.exp(h)
    return sp.exp(mu_ * (T_ - delta_)) * (n * bias + sp.sqrt(n) * (q1 + q2))


class _MidpointMSTheorem(RunTheorem):
    """Common API of the two registered theorems (proof: module docstring)."""

    metric = "pathwise RMS over the midpoints"
    certified = True
    reference = (
        "Proved in proofs.midpoint_ms (exact second moments on linear coordinates; a mean-square "
        "recursion with martingale increments on the block); scheme of Gupta, Cai, Chen, "
        "arXiv:2406.00924"
    )
    assumptions = _GENERIC_ASSUMPTIONS + _EVALUATED_ASSUMPTIONS
    sequential_only = False

    def _scheme(self, R, K, sampling) -> Scheme:
        scheme = Scheme(int(R), int(K), sampling)
        if self.sequential_only and (scheme.R, scheme.K) != (1, 0):
            raise ValueError(
                f"{self.name} covers the sequential method (R = 1, K = 0); use "
                f"parallel_midpoint_ms for R = {R}, K = {K}"
            )
        return scheme

    def rms_bound(self, target, grid, *, R=1, K=0, sampling="uniform", eta=1e-6, x0=None) -> MidpointMSBound:
        """Proved ``sqrt(E_tau|x_N - y(delta)|^2) <= value`` for every start point of ``StartSet(target,
        grid.T, eta)`` (or for the one point ``x0``); raises :class:`NotCovered` outside the theorem."""
        return rms_bound(target, grid, self._scheme(R, K, sampling), eta, x0)

    def covers(self, target) -> str | None:
        """None for targets in the class of the module docstring, else why not."""
        return decompose(target).reason or None

    def run_bound(self, target, grid, *, eta=1e-6, R=1, K=0, sampling="uniform") -> MidpointMSBound:
        """:meth:`rms_bound` of a run (the :class:`~proofs.core.RunTheorem` protocol certify uses)."""
        return self.rms_bound(target, grid, R=R, K=K, sampling=sampling, eta=eta)

    def run_plan(self, eps, target, T, delta, *, eta=1e-6, R=1, K=0, sampling="uniform") -> RunPlan:
        """:meth:`nfe_required` on a uniform grid, the solver's own ``R``, ``K`` and sampling kept."""
        found = self.nfe_required(eps, target, T, delta, R=R, K=K, sampling=sampling, eta=eta)
        return RunPlan(found.grid, found.nfe, found.bound)

    def nfe_required(
        self, eps, target, T, delta, *, grid_kind="uniform", R=1, K=0, sampling="uniform", eta=1e-6, max_steps=1 << 16
    ) -> NfeRequirement:
        """Least step count (and its NFE and rounds) whose proved bound is ``<= eps`` (see :func:`nfe_required`)."""
        return nfe_required(eps, target, T, delta, self._scheme(R, K, sampling), grid_kind, eta, max_steps)


_N_SEQ = sp.floor(N_ / 2)
_H_SEQ = (T_ - delta_) / _N_SEQ
_P = sp.exp(mu_ * (T_ - delta_))
# h <= 1: B <= (3 - e) L G1 h^3, Q1 <= e (G0 + G1) h^2 / sqrt(12), Q2 <= e (e - 2) L G1 h^3
_CA_SEQ = (T_ - delta_) * (3 - _E) * L_ * G1_ + sp.sqrt(T_ - delta_) * _E * (_E - 2) * L_ * G1_
_CB_SEQ = sp.sqrt(T_ - delta_) * _E * (G0_ + G1_) / _SQRT12


class RandomizedMidpointMS(_MidpointMSTheorem):
    r"""Randomized midpoint (sequential predictor, two evaluations per step): proved pathwise RMS bound.

    ``error_expr`` (``N`` evaluations, ``n = floor(N/2)`` uniform steps of ``h = (T - delta)/n``):

    .. math:: \sqrt{E|x_N - y(\delta)|^2} \le e^{\mu (T-\delta)} \Big[n L G_1 \big(h(e^h + 1) - 2(e^h - 1)\big)
              + \sqrt n \Big(\frac{(G_0 + G_1) h^2 e^h}{\sqrt{12}} + L G_1 h e^h (e^h - 1 - h)\Big)\Big].

    ``steps_expr``: ``2 ceil((T - delta) max(1, (2 P c_a / eps)^{1/2}, (2 P c_b / eps)^{2/3}))`` with
    ``P = e^{mu (T - delta)}``, ``c_a = (T - delta)(3 - e) L G1 + sqrt(T - delta) e (e - 2) L G1``, ``c_b =
    sqrt(T - delta) e (G0 + G1) / sqrt(12)`` (``h <= 1`` simplifications, step C of the module docstring).
    For built-in targets :meth:`rms_bound` evaluates the sharper per-step form with every constant
    computed (the start set and ``eta`` stated), and :meth:`nfe_required` inverts it.
    """

    name = "randomized_midpoint_ms"
    sequential_only = True
    symbols = {s.name: s for s in (T_, delta_, L_, mu_, G0_, G1_, N_, eps_)}
    constants = {"sqrt12": _SQRT12, "bias_coefficient_h_le_1": 3 - _E, "q2_coefficient_h_le_1": _E * (_E - 2)}
    error_expr = _closed_form_sequential(_N_SEQ, _H_SEQ)
    error_conditions = (("N >= 2 (two evaluations per step)", N_ - 2), ("T > delta", T_ - delta_))
    steps_expr = 2 * sp.ceiling(
        (T_ - delta_)
        * smax(1, (2 * _P * _CA_SEQ / eps_) ** sp.Rational(1, 2), (2 * _P * _CB_SEQ / eps_) ** sp.Rational(2, 3))
    )
    rounds_expr = steps_expr
    step_conditions = (("T > delta", T_ - delta_),)


_EVALS = 1 + R_ * (K_ + 1)
# floor((N + 1/2) / E) = floor(N / E) for integers N, E >= 1, and its argument stays 1/(2E) away from the
# integers, so the interval evaluation of the floor is exact (floor(N / E) would straddle an integer)
_N_PAR = sp.floor((N_ + sp.Rational(1, 2)) / _EVALS)
_H_PAR = (T_ - delta_) / _N_PAR
# h <= min(1, 1/(2 (e - 1) L)): theta <= 1/2, so m_K <= G1 h^2 E_K with the same sum bound as error_expr
_EK = (_E - 2) * 2 ** (-K_) + K_ * ((_E - 1) / R_ + 1 / R_**2)
_CA_PAR = ((T_ - delta_) * (_E - 1) + sp.sqrt(T_ - delta_) * _E) * L_ * G1_ * _EK
_CB_PAR = sp.sqrt(T_ - delta_) * _E * (G0_ + G1_) / (R_ ** sp.Rational(3, 2) * _SQRT12)
_STEPS_PAR = sp.ceiling(
    (T_ - delta_)
    * smax(
        1,
        2 * (_E - 1) * L_,
        (2 * _P * _CA_PAR / eps_) ** sp.Rational(1, 2),
        (2 * _P * _CB_PAR / eps_) ** sp.Rational(2, 3),
    )
)


class ParallelMidpointMS(_MidpointMSTheorem):
    r"""Parallel randomized midpoint (``R`` pieces, ``K`` Picard sweeps, predictor only): proved RMS bound.

    ``error_expr`` (``N`` evaluations, ``n = floor(N / (1 + R (K + 1)))`` uniform steps of ``h``): with
    ``theta = (e^h - 1) L`` and ``m_K = theta^K (e^h - 1 - h) G1 + K max(1, theta)^K G1 (h/R (e^h - 1) +
    psi(h/R))``, ``psi(d) = e^d (d - 1) + 1`` (the midpoints' error after ``K`` sweeps),

    .. math:: \sqrt{E|x_N - y(\delta)|^2} \le e^{\mu(T-\delta)} \Big[n L m_K (e^h - 1) + \sqrt n \Big(
              \frac{(G_0 + G_1) e^h h^2}{R^{3/2}\sqrt{12}} + L m_K h e^h\Big)\Big].

    ``steps_expr`` is ``(1 + R (K + 1))`` times the steps for ``h = min(1, 1/(2 (e - 1) L), (eps / (2 P
    c_a))^{1/2}, (eps / (2 P c_b))^{2/3})`` (step C), ``rounds_expr`` ``(K + 2)`` times. :meth:`rms_bound`
    and :meth:`nfe_required` evaluate the per-step form on built-in targets.
    """

    name = "parallel_midpoint_ms"
    symbols = {s.name: s for s in (T_, delta_, L_, mu_, G0_, G1_, R_, K_, N_, eps_)}
    constants = {"sqrt12": _SQRT12, "midpoint_error_coefficient_E_K": _EK}
    error_expr = _closed_form_parallel(_N_PAR, _H_PAR)
    error_conditions = (("N >= 1 + R (K + 1) (one step)", N_ - _EVALS), ("T > delta", T_ - delta_))
    steps_expr = _EVALS * _STEPS_PAR
    rounds_expr = (K_ + 2) * _STEPS_PAR
    step_conditions = (("T > delta", T_ - delta_),)
