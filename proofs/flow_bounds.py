r"""Proved bounds on the probability-flow ODE of certsample's built-in targets, for a-priori error analysis.

Everything here is evaluated in Arb ball arithmetic (python-flint: every operation returns a ball that
contains the exact result for every point of its inputs), and every float returned is an upper (or
lower) end rounded outward. The quantities are the ingredients of :mod:`proofs.collocation`'s theorem:
how a target splits into independent parts, a start set of known mass, where exact paths go, the score's
Lipschitz and one-sided Lipschitz bounds over time intervals, and a bound on the score along the flow
continued to complex time.

Conventions: forward OU time ``t``, ``a = e^{-t}``; a window runs in reverse time ``tau`` from a forward
time ``t0`` (``t = t0 - tau``). The probability-flow ODE is ``dy/dtau = y + s(y, t)``, ``s = grad log q_t``.

1. Decomposition (exact)
------------------------
A target is ``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))`` (``Q``: ``d x k``, orthonormal
columns, taken as exactly orthonormal). With ``y = Q^T x`` and ``x_perp = x - Q y``,
``s(x, t) = Q s_k(y, t) - x_perp / v_perp(t)``, ``v_perp = a^2 lam_perp + 1 - a^2``, where ``s_k`` is the
score of ``sum_c w_c N(a mu_c, diag(a^2 lam_c + 1 - a^2))`` in ``R^k``. Let ``J`` be the *block*: the basis
coordinates in which some two components differ in mean or variance. In every other basis coordinate ``i``
all components share the mean ``m_i`` and variance ``lam_i``, the component densities factor, and
``(s_k)_i = -(y_i - a m_i) / v_i(t)``, ``v_i = a^2 lam_i + 1 - a^2``: a scalar affine function of ``y_i``
alone, and the block's score ``(s_k)_J`` depends on ``y_J`` only (the factor ``N(a m_i, v_i)`` cancels in
the responsibilities). So the ODE splits into the ``k_J``-dimensional block, ``k - k_J`` scalar affine
ODEs and the ``d - k`` perpendicular directions, each a scalar affine ODE with mean 0 and variance
``lam_perp``. The collocation solver acts coordinate by coordinate with the same matrices, in any
orthonormal coordinates, so its iterates split the same way, and the squared Euclidean error is the sum
of the parts' squared errors. A Gaussian (one component) has an empty block.

2. Start set and its mass (Gaussian concentration)
--------------------------------------------------
``q_T`` restricted to the *linear* coordinates (non-block basis coordinates and the perpendicular
directions), centred at their means ``a_T m_i`` (0 off the basis), is ``N(0, diag(v_i(T)))`` whatever
the component: ``|w_lin|`` is ``sqrt(v_max)``-Lipschitz in a standard normal vector and ``E |w_lin| <=
sqrt(sum_i v_i)``, so (Tsirelson-Ibragimov-Sudakov) ``P(|w_lin| > sqrt(sum v_i) + sqrt(v_max) sqrt(2
log(1/eta_lin))) <= eta_lin``. In the block, given component ``c``, ``u = a_T mu_c + sqrt(v_c) z`` with
``z ~ N(0, I_{k_J})``, so ``|u - a_T m0| <= a_T R + sqrt(v_max) |z|`` (``R = max_c |mu_c - m0|``) and
``P(|z| > sqrt(k_J) + s) <= e^{-s^2/2}``; averaging over components keeps the bound. Hence the start set
``S(eta) = {|u - a_T m0| <= r_J, |w_lin| <= r_lin}`` holds all but ``eta = eta_J + eta_lin`` of ``q_T``.
The dimension ``d`` enters the theorem only through ``r_lin`` (``sum v_i`` counts ``d - k`` perpendicular
variances).

3. Isotropic block: the frame, where exact paths go, and Lipschitz bounds
------------------------------------------------------------------------
When every component has the same variance ``v0`` in every block coordinate, ``v(t) = a^2 v0 + 1 - a^2``,
``s_J(u, t) = (a m(u, t) - u) / v`` with ``m`` the posterior mean of ``mu_c`` given ``u``. Write ``u = a m0
+ g w`` with ``g = sqrt(v)`` (the exact flow of ``N(a m0, v I)`` keeps ``w`` fixed: ``da/dtau = a``,
``dg/dtau = g (1 - 1/v)``); then

.. math::  \frac{dw}{d\tau} = \frac{a\,(m(u, t) - m_0)}{v^{3/2}}, \qquad
           s_J = \frac{a\,(m - m_0)}{v} - \frac{w}{g},

and ``|m - m0| <= R`` for real ``u``. So an exact path with ``|w(t0)| <= W`` has ``|w(t)| <= W + R
int_t^{t0} a / v^{3/2}``: :meth:`IsotropicBlock.path_growth`. The score's Hessian is ``-I/v + (a^2/v^2)
Cov_r(mu)``, and ``lambda_max Cov_r(mu) <= C`` with ``C`` the least of Popoviciu's ``diam^2/4`` and the
target's proved posterior bounds (:meth:`certsample.targets.MixtureTarget._hessian_range`: the tilt bound
for means on a circle, the per-temperature bound for planar means). Hence ``Lip s_J(., t) <= max(1/v,
-1/v + a^2 C / v^2)`` and the drift ``u + s_J`` has one-sided Lipschitz constant ``mu(t) <= 1 - 1/v + a^2 C
/ v^2``; sups over time intervals are ball evaluations over sub-intervals.

4. Isotropic block: the drift along the flow in complex time
------------------------------------------------------------
Let ``E`` be a compact convex set of complex ``tau``, symmetric under conjugation and containing ``0``
(here the rectangle around a Bernstein ellipse of the window, split into sub-boxes, each evaluated as one
complex ball), and ``w0`` real with ``|w0| <= W``. On ``E``, ``t = t0 - tau``, ``a = e^{-t}``, ``v = 1 + (v0 - 1)
a^2`` with ``Re v > 0`` (checked), ``g = exp(log(v)/2)`` (principal branch), ``alpha = a / g``, ``gamma = a^2 /
v``, ``beta = gamma / 2``, ``nu_c = mu_c - m0``. Expanding the bilinear square ``-(u - a mu_c).(u - a mu_c) /
(2v)`` with ``u = a m0 + g w`` gives the responsibilities ``pi_c ~ e^{Z_c}``, ``Z_c = log w_c + alpha nu_c . w -
beta |nu_c|^2`` (a ``c``-independent term dropped), for complex ``w`` and ``t``.

*Lemma (cancellation).* Let ``kappa = |sum_c e^{Z_c}| / sum_c |e^{Z_c}|``. (i) If every ``Im Z_c`` lies in an
interval of half-length ``theta < pi/2``, then ``kappa >= cos theta`` (rotate by the interval's centre: each
term's real part is at least ``cos theta`` times its modulus). (ii) Let ``e`` maximise ``Re Z``, call ``c``
*near* when ``Re Z_c >= Re Z_e - Delta`` and *far* otherwise; if the near ``Im Z_c`` lie in an interval of
half-length ``theta_D < pi/2`` and ``f = (K - 1) e^{-Delta}``, then ``kappa >= (cos theta_D - f) / (1 + f)``:
with ``N`` the near moduli's sum, the far ones sum to ``F <= f N``, and ``|sum| >= N cos theta_D - F``,
``sum |.| = N + F``. In both cases ``|m - m0| = |sum_c pi_c nu_c| <= R sum |e^{Z_c}| / |sum e^{Z_c}| <= R /
kappa``.

*Phases.* Suppose the continued path satisfies ``w(0) = w0``, ``w(conj tau) = conj w(tau)`` and ``|w(tau) - w(sigma)|
<= S |tau - sigma|`` on ``E``. Then ``|w(tau) - w0| <= |tau| S`` and ``|Im w(tau)| = |w(tau) - w(conj tau)| / 2 <= |Im
tau| S`` (the vertical segment lies in ``E``). (i) ``Im Z_c = Im(alpha) nu_c . w0 - Im(beta) |nu_c|^2 + Im(alpha) nu_c
. Re(w - w0) + Re(alpha) nu_c . Im w``; the first two terms range over ``c`` within ``|Im alpha| W diam + |Im beta|
range_c |nu_c|^2`` (``range_c nu_c . w0 <= |w0| diam``), so ``theta <= (|Im alpha| W diam + |Im beta| range |nu|^2) /
2 + (|Im alpha| |tau| + |Re alpha| |Im tau|) S R``. (ii) For ``d = mu_c - mu_e`` and ``Y = d . (m0 - (mu_c +
mu_e)/2)``, ``z_c - z_e = alpha d . w + gamma Y``; with ``r = Im alpha / Re alpha`` (``Re alpha > 0`` checked) the
real part ``d . Re w`` cancels: ``Im(z_c - z_e) = r Re(z_c - z_e) + (Im gamma - r Re gamma) Y + (Re alpha + r Im
alpha) d . Im w``. For near ``c``, ``Re(z_c - z_e) in [-Delta - l, l]`` (``l`` the range of ``log w_c``), which
contains ``0`` (``c = e``), so ``theta_D <= |r| (Delta + 2 l) / 2 + |Im gamma - r Re gamma| Y_max + |Re alpha + r Im
alpha| diam |Im tau| S``. The largest bound of (i) and of (ii) over a list of ``Delta`` is used; ``W`` enters only
(i), which is what lets (ii) follow the near components of any start.

*Continuation.* Put ``F(w, tau) = a (m - m0) / v^{3/2}`` (FB 3's ``dw/dtau``) and let ``S`` satisfy, on every sub-box,
``|a| R / (|v|^{3/2} kappa(S)) <= S`` with ``kappa(S)`` from the lemma and the phases above (a fixed point found by
iteration). ``F`` is analytic on a neighbourhood of the values the class below takes, ``{(w(tau), tau) : w in X_S,
tau in E}`` (there ``|w - w0| <= |tau| S`` and ``|Im w| <= |Im tau| S``, where the lemma gives ``kappa > 0``, so the
normaliser does not vanish; not on all of ``B(w0, |tau| S) x E``, where ``Im w`` is not bounded so), and real on
real arguments. The Picard operator ``P w(tau) = w0 + int_0^tau F(w(sigma), t0 - sigma) d sigma`` (straight
path; ``E`` is star-shaped about 0) maps ``X_S = {w : E -> C^k continuous, analytic inside, w(conj tau) = conj w(tau),
w(0) = w0, |w(tau) - w(sigma)| <= S |tau - sigma|}`` (a Lipschitz constant on ``E``, not a derivative bound: members
need not be differentiable on its boundary) into itself, since ``P w(tau) - P w(sigma)`` is the integral of ``F``
along the segment from ``sigma`` to ``tau``; along rays ``|P^n w - P^n w'|(tau) <= (Lf |tau|)^n / n! sup |w - w'|``
(``Lf`` a Lipschitz constant of ``F`` on the compact set), so the iterates converge uniformly to a fixed point in
``X_S`` (uniform limits keep the Lipschitz constant and, inside ``E``, analyticity), analytic inside ``E``, which on
``[0, h]`` is the real solution. There

.. math::  |s_J + w_0/g| = \Big|\frac{a (m - m_0)}{v} - \frac{w - w_0}{g}\Big|
           \le \frac{|a| R}{|v| \kappa} + \frac{|\tau| S}{|g|} =: M .

No ``d`` appears: only ``R``, ``diam``, ``range |nu|^2``, ``Y_max``, the weights, ``v0`` and ``W``.
*Arithmetic.* The sub-box quantities are Arb balls; the fixed point and ``M`` are then evaluated in float64 on
their upper (or lower) ends, every nonnegative expression of ``n`` roundings multiplied by ``1 + (n + 1)
2^{-52}`` (each rounding is relative, at most ``2^{-53}``), and ``cos`` bounded below by its alternating
series cut after the negative ``x^14/14!`` term, minus ``10^{-14}``.

5. Unequal variances: where paths go, Lipschitz bounds on a ball, the drift in complex time
-----------------------------------------------------------------------------------------
Now component ``c`` has variance ``v_ci = 1 + (lam_ci - 1) a^2`` in block coordinate ``i`` (data variances
``lam_ci`` in ``[lam_lo, lam_hi]``). Fix a reference ``lam0 >= 0`` (the harmonic middle of the range; any
value is valid), ``V = 1 + (lam0 - 1) a^2``, ``g = sqrt(V)``, ``nu_c = mu_c - m0``, and write ``u = a m0 + g
w`` (a scalar frame; ``g' = g (1 - 1/V)`` in ``tau``). The score is ``s_J = sum_c pi_c (a nu_c - g w) / v_c``
(products and quotients by ``v_c`` coordinatewise), and since ``sum_c pi_c = 1`` and ``g^2 = V``,

.. math::  s_J = -\frac{w}{g} + D, \quad D = \sum_c \pi_c \Big[\frac{a\,\nu_c}{v_c}
           + g\,w\,\Big(\frac1V - \frac1{v_c}\Big)\Big], \qquad \frac{dw}{d\tau} = \frac{D}{g}.

*Real paths.* ``|a nu_c / v_c| <= a R max 1/v`` and ``|g w (1/V - 1/v_c)| <= g beta |w|`` with ``beta >=
max_{c,i} |1/V - 1/v_ci|``, so ``|w'| <= alpha + beta |w|`` with ``alpha = a R max(1/v) / g``. With ``A = int
alpha``, ``B = int beta`` over a time interval (sums over sub-interval balls, in which ``1/v`` over the
variance ball ``[lam_lo, lam_hi]`` contains every ``1/v_ci``), Gronwall gives ``|w| <= e^B (|w0| + A)``
(:meth:`UnequalBlock.advance`) and ``|w - w0| <= e^B (A + B |w0|)`` (from ``delta' <= alpha + beta |w0| +
beta delta``, ``delta = |w - w0|``; :meth:`UnequalBlock.moved`); so ``|u| <= a |m0| + g (W + moved)`` on the
interval (:meth:`UnequalBlock.reach`) and ``|s_J| <= a R max(1/v) + |w| (1/g + g beta)``
(:meth:`UnequalBlock.score_terms`).

*Lipschitz bounds on a ball.* No global bound exists (:func:`certsample.lipschitz.hessian_range_on`). For
``|y| <= r`` in the basis coordinates :func:`certsample.lipschitz.sup_on` (``radius=r``) bounds the score's
Lipschitz constant and the drift's one-sided constant over a time interval (proofs there: ``sup_on``'s Notes
and the box search of :mod:`certsample.lipschitz.mixture_hessian`; the result bounds the true constant at every
``t`` of the interval whatever tolerance the search stops at, the tolerance only loosening it). The Hessian is
block diagonal between ``J`` and the linear coordinates (part 1) and the block's part does not depend on
``y_lin``, so at ``y = (u, 0)`` these bound the block's constants for ``|u| <= r``; a ball is convex, so they
hold along every segment in it.

*Complex time.* Let ``E``, ``tau``, ``t = t0 - tau`` be as in part 4; on each sub-box (a complex ball) ``Re V
> 0`` and ``Re v > 0`` for every variance in the range are checked, ``g = exp(log(V)/2)`` and ``log v`` are
principal branches. The logits are ``Z_c = log w_c - (1/2) sum_i log v_ci - sum_i p_ci w_i^2 + sum_i J_ci nu_ci
w_i - (1/2) sum_i K_ci nu_ci^2`` with ``p = V / (2 v)``, ``J = a g / v``, ``K = a^2 / v`` (expand ``(g w_i - a
nu_ci)^2 / (2 v_ci)``). Each of ``Im log v``, ``Re p``, ``Im p``, ``Re J``, ``Im J``, ``Im K`` lies, for every
``(c, i)``, in the hull ``[m - r, m + r]`` of its balls over the variance values (or over eight pieces of
their range). For ``w = x + i y`` (``x, y`` real) and any two components ``c, e``:

* ``|Im(log v_ci - log v_ei)| <= 2 r_log``; ``|sum_i (nu_ci^2 X_i - nu_ei^2 Y_i)| <= |m_K| range_c |nu_c|^2 + 2
  R^2 r_K`` for ``X_i, Y_i`` in ``Im K``'s hull (write ``X = m + (X - m)``);
* ``Im(p w^2) = Im p (x^2 - y^2) + 2 Re p x y``, so the ``c, e`` difference of ``sum_i Im(p_ci w_i^2)`` is at most
  ``2 r_{Im p} (|x|^2 + |y|^2) + 4 r_{Re p} |x| |y|``;
* ``Im(J nu w)_i = nu_ci (Im J_ci x_i + Re J_ci y_i)`` and ``|nu_c X - nu_e Y| <= |nu_c - nu_e| |m| + (|nu_c| +
  |nu_e|) r <= diam |m| + 2 R r``, so that difference is at most ``(diam |m_{Im J}| + 2 R r_{Im J}) |x| + (diam
  |m_{Re J}| + 2 R r_{Re J}) |y|``.

So every ``|Im(Z_c - Z_e)| <= 2 theta`` with ``2 theta = k_J r_log + (range |nu|^2 |m_K| + 2 R^2 r_K) / 2 +
(those terms)``, all ``Im Z_c`` lie in an interval of half-length ``theta`` and, if ``theta < pi/2``, the
normaliser obeys ``kappa >= cos theta`` (lemma (i) of part 4). On the Picard class ``X_S`` of part 4 (now ``w``
is the frame coordinate of this part) ``|x| <= |w0| + |tau| S <= W + |tau| S`` and ``|y| <= |Im tau| S``, and

.. math::  |F| = \frac{|D|}{|g|} \le \frac{|a| R \max|1/v| + |g| \beta_{\mathbb C} (W + |\tau| S)}{|g|\,\kappa(S)},
           \qquad \beta_{\mathbb C} \ge \max_{c,i} |1/V - 1/v_{ci}|,

(``|sum_c pi_c X_c| <= max_c |X_c| / kappa``). ``S`` is a fixed point of ``sup_boxes (that bound) <= S`` found by
iteration; then ``P`` maps ``X_S`` into itself exactly as in part 4. The class ``X_S`` is convex (its
constraints are), so the segment between two of its members stays in it, where the normaliser does not
vanish; ``F`` is analytic on a neighbourhood of that compact set and has a Lipschitz constant there, which is
all the iteration's convergence needs. The fixed point is the analytic continuation of the real path, and
with ``c = -w0 / g(h/2)``

.. math::  |s_J - c| \le |D| + \frac{|w - w_0|}{|g|} + W \Big|\frac1g - \frac1{g(h/2)}\Big|
           \le \underbrace{\frac{|a| R \max|1/v| + |g| \beta_{\mathbb C} (W + |\tau| S)}{\kappa}
           + \frac{|\tau| S}{|g|}}_{M} + W M_{\rm frame}.

Only ``R``, ``diam``, ``range |nu|^2``, ``k_J``, the variance range, ``lam0`` and ``W`` enter; ``k_J`` only
through the ``log v`` term. The arithmetic is that of part 4 (Arb balls per sub-box, then float64 rounded up).

6. Isotropic block: excluding a neighbourhood of the frame centre
-----------------------------------------------------------------
The bounds of parts 3-4 are uniform over space; they are attained near the frame centre ``a m0`` (the ring's
centre), where ``Cov_r(mu)`` is largest. Starts whose exact path comes near it late can be excluded at a small
mass, and the spread bound on the rest is smaller (part 6 of :mod:`proofs.collocation` uses it).

*Mass of a centre ball (Arb).* Under ``q_t`` the block coordinates follow ``sum_c w_c N(a mu_c, v I_k)`` (the
component densities factor, part 1). Write ``x = u - a m0 = a nu_c + g z`` with ``z ~ N(0, I_k)`` under component
``c`` and ``D_c = a |nu_c|``. For ``P < D_c``: (i) ``|x| < P`` implies ``n_c . x < P`` (``n_c = nu_c / |nu_c|``), i.e.
``n_c . z < -(D_c - P) / g``, of probability ``Phi(-(D_c - P)/g) = erfc((D_c - P) / (g sqrt 2)) / 2``; (ii) on
``|x| < P`` the component's density is at most ``(2 pi v)^{-k/2} e^{-(D_c - P)^2 / (2 v)}`` (``|x - a nu_c| >= D_c -
P``), so the probability is at most ``vol(B_P) (2 pi v)^{-k/2} e^{-(D_c - P)^2/(2v)}``, ``vol(B_P) = pi^{k/2} P^k /
Gamma(k/2 + 1)``. Hence

.. math::  q_t(|u - a m_0| < P) \le \sum_c w_c \min\big((i)_c, (ii)_c\big) \quad (\text{the term is } 1
           \text{ where } D_c \le P),

evaluated with a lower end of ``|nu_c|`` (:meth:`IsotropicBlock.centre_mass`).

*Excluded starts.* The probability flow transports ``q_T`` to ``q_t`` (that is what it is built for: its
marginals are those of the forward process), so if ``x_T ~ q_T`` the exact path's value at ``t_k`` has law
``q_{t_k}``, and the starts ``X_k = {x_T : |u^ex(t_k) - a_k m0| < P_k}`` have ``q_T(X_k) = q_{t_k}(|u - a_k m0|
< P_k)``; a union over windows has at most the sum of these masses. A start outside ``X_k`` has ``|w^ex(t_k)| >=
P_k / g_k`` and, by part 3, ``|w^ex(t)| >= P_k / g_k - R int_t^{t_k} a / v^{3/2}`` on ``[t_{k+1}, t_k]``.

*Spread away from the centre.* With ``u - a m0 = g w``, ``n = w / |w|`` and ``g^2 = v``, expanding ``|g w - a
nu_c|^2 / (2 v)`` gives the posterior ``pi_c ~ b_c e^{lambda n . nu_c}``, ``lambda = (a / g) |w|``, ``b_c = w_c
e^{-a^2 |nu_c|^2 / (2 v)}``. Then ``lambda_max Cov_pi(nu) <= tr Cov_pi(nu) = E|nu|^2 - |E nu|^2 <= R^2 - (n .
E nu)_+^2``. For fixed ``n`` and ``b``, ``f_n(lambda) = E_lambda[n . nu]`` has derivative ``Var_lambda(n . nu) >= 0``
(an exponential family), so on ``|w| >= r`` at times ``t`` in ``[t_lo, t_hi]``, where ``lambda >= lambda_min = r
min_t (a / g)``, ``n . E nu >= f_n(lambda_min; b(t))``. Hence at every such ``(u, t)``

.. math::  \lambda_{\max} \mathrm{Cov}_r(\mu) \le C_r := R^2 - \Big(\min_{|n| = 1,\ t} f_n(\lambda_{\min};
           b(t))\Big)_+^2 ,

and the Hessian bound of part 3 holds with ``min(C, C_r)`` there. The minimum is bounded below by Arb: for
``k = 1`` at ``n = +-1``; for ``k = 2`` over cells of the angle of ``n`` (each cell a ball; ``b_c`` balls over the
time interval, after dividing every ``b_c`` by the common ``e^{-a^2 min_e |nu_e|^2 / (2v)}``, which cancels in
``pi``), the least lower end over the cells (a cell's ball holds every value on it; cells are bisected where
their lower end is below the best midpoint value, which only tightens). For ``k >= 3`` it is not evaluated
(``C_r = C``). :meth:`IsotropicBlock.spread_outside`.

References
----------
.. [1] L. N. Trefethen, "Approximation Theory and Approximation Practice", SIAM, 2013.
.. [2] M. Ledoux, "The Concentration of Measure Phenomenon", AMS, 2001 (Gaussian concentration of
   Lipschitz functions).
.. [3] F. Johansson, "Arb: efficient arbitrary-precision midpoint-radius interval arithmetic",
   IEEE Trans. Computers 66 (2017).
.. [4] Y. Song et al., "Score-based generative modeling through stochastic differential equations", ICLR 2021
   (the probability-flow ODE has the forward process's marginals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .balls import arb_interval, arb_precision, flint_module, lower_float, round_up, upper_float
from .core import NotCovered

__all__ = [
    "NotCovered",
    "Decomposition",
    "StartSet",
    "IsotropicBlock",
    "UnequalBlock",
]


def _pieces(lo: float, hi: float, count: int):
    edges = np.linspace(lo, hi, count + 1)
    edges[0], edges[-1] = lo, hi
    return [(float(edges[i]), float(edges[i + 1])) for i in range(count)]


def _norm_upper(vec) -> float:
    arb = flint_module().arb
    return upper_float(sum((arb(float(v)) ** 2 for v in vec), arb(0)).sqrt())


# ---------------------------------------------------------------------------- decomposition
@dataclass
class Decomposition:
    """A target split into the nonlinear block and scalar affine coordinates (module docstring, part 1).

    Attributes
    ----------
    target : MixtureTarget
    block : ndarray of int
        Basis coordinates where some two components differ (in mean or variance): the block ``J``.
    linear : ndarray of int
        The other basis coordinates (shared mean ``linear_means``, data variance ``linear_variances``).
    perp_dim : int
        ``d - k``: directions orthogonal to the basis (mean 0, variance ``lam_perp``).
    kind : str
        ``'linear'`` (no block: a Gaussian), ``'isotropic'`` (every component has the same variance
        ``v0`` in every block coordinate), or ``'unequal'`` (anything else: part 5).
    """

    target: object
    block: np.ndarray
    linear: np.ndarray
    linear_means: np.ndarray
    linear_variances: np.ndarray
    perp_dim: int
    lam_perp: float
    kind: str
    v0: float | None

    @classmethod
    def of(cls, target) -> Decomposition:
        from certsample.targets import MixtureTarget

        if not isinstance(target, MixtureTarget):
            raise NotCovered(f"the theorem is about built-in MixtureTargets (exact scores), got {type(target)!r}")
        keep = target.weights > 0
        means, variances = target.means[keep], target.variances[keep]
        differ = (np.ptp(means, axis=0) > 0) | (np.ptp(variances, axis=0) > 0)
        block = np.flatnonzero(differ)
        linear = np.flatnonzero(~differ)
        k = means.shape[1]
        perp_dim = target.dim - k if target.basis is not None else 0
        if block.size == 0:
            kind, v0 = "linear", None
        else:
            vb = variances[:, block]
            kind, v0 = ("isotropic", float(vb[0, 0])) if np.all(vb == vb[0, 0]) else ("unequal", None)
        return cls(
            target,
            block,
            linear,
            means[0, linear].copy(),
            variances[0, linear].copy(),
            perp_dim,
            float(target.lam_perp),
            kind,
            v0,
        )

    @property
    def block_means(self) -> np.ndarray:
        return self.target.means[self.target.weights > 0][:, self.block]

    @property
    def block_weights(self) -> np.ndarray:
        w = self.target.weights[self.target.weights > 0]
        return w / w.sum()

    def linear_groups(self):
        """``[(lam, means)]``: the linear coordinates grouped by data variance (perpendicular ones: mean 0)."""
        groups = {}
        for lam, m in zip(self.linear_variances, self.linear_means):
            groups.setdefault(float(lam), []).append(float(m))
        if self.perp_dim:
            groups.setdefault(self.lam_perp, []).extend([0.0] * self.perp_dim)
        return [(lam, np.array(ms)) for lam, ms in sorted(groups.items())]

    def split(self, x):
        """``(u, y_lin, x_perp)`` of points ``x`` ``(n, d)``: block, linear basis coordinates, perpendicular part."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        q = self.target.basis
        y = x if q is None else x @ q
        perp = np.zeros((x.shape[0], 0)) if q is None or not self.perp_dim else x - y @ q.T
        return y[:, self.block], y[:, self.linear], perp


# ---------------------------------------------------------------------------- the start set
@dataclass
class StartSet:
    """``S(eta) = {x : |u - a_T m0| <= block_radius, |w_lin| <= linear_radius}`` at forward time ``T``.

    ``u`` are the block coordinates of ``Q^T x``, ``w_lin`` the linear basis coordinates minus ``a_T m_i``
    together with the perpendicular part of ``x``. ``q_T(S^c) <= eta = eta_block + eta_linear + eta_excluded``
    (module docstring, parts 2 and 6). Radii are float upper ends of ball evaluations.

    ``exclusions`` (made by :meth:`excluding`): triples ``(t_k, P_k, mass_k)``; the set then also leaves out every
    start whose exact path has ``|u(t_k) - a_k m0| < P_k`` at some ``t_k``, of ``q_T``-mass at most ``mass_k``
    each (part 6), and ``eta`` counts them.
    """

    T: float
    eta: float
    eta_block: float
    eta_linear: float
    block_centre: np.ndarray
    block_radius: float
    linear_radius: float
    decomposition: Decomposition
    exclusions: tuple = ()
    eta_excluded: float = 0.0

    def excluding(self, exclusions) -> StartSet:
        """This set less the starts whose exact path enters a centre ball ``(t_k, P_k, mass_k)`` (part 6); ``eta``
        grows by the masses (summed in Arb, rounded up)."""
        arb = flint_module().arb
        exclusions = tuple((float(t), float(P), float(m)) for t, P, m in exclusions)
        with arb_precision():
            extra = upper_float(sum((arb(m) for _, _, m in exclusions), arb(0)))
            eta = upper_float(arb(self.eta) + arb(extra))
        return replace(
            self,
            eta=eta,
            exclusions=self.exclusions + exclusions,
            eta_excluded=upper_float(arb(self.eta_excluded) + arb(extra)),
        )

    def excluded_paths(self, block_paths) -> np.ndarray:
        """Whether each exact path is excluded: ``block_paths[n, k]`` is path ``n``'s block coordinates ``u`` at
        the ``k``-th exclusion time (float64; for tests and reports)."""
        paths = np.asarray(block_paths, dtype=float)
        out = np.zeros(paths.shape[0], dtype=bool)
        for k, (t, P, _) in enumerate(self.exclusions):
            out |= np.linalg.norm(paths[:, k] - math.exp(-t) * self.block_centre, axis=-1) < P
        return out

    @classmethod
    def build(cls, decomposition: Decomposition, T: float, eta: float, centre=None) -> StartSet:
        if not (0 < eta < 1):
            raise ValueError(f"eta must be in (0, 1), got {eta!r}")
        flint = flint_module()
        arb = flint.arb
        dec = decomposition
        has_block = dec.block.size > 0
        has_linear = dec.linear.size + dec.perp_dim > 0
        eta_block = eta / 2 if has_block and has_linear else (eta if has_block else 0.0)
        eta_linear = eta - eta_block if has_linear else 0.0
        with arb_precision():
            a = (-arb(T)).exp()
            a2 = a * a
            block_radius, centre_vec = 0.0, np.zeros(0)
            if has_block:
                means = dec.block_means
                m0 = _centre(means) if centre is None else np.asarray(centre, dtype=float)
                R = _max_distance(means, m0)
                v_max = 1 + (arb(float(np.max(dec.target.variances[:, dec.block]))) - 1) * a2
                k_j = dec.block.size
                r = a * R + v_max.sqrt() * (arb(k_j).sqrt() + (2 * (1 / arb(eta_block)).log()).sqrt())
                block_radius = upper_float(r)
                centre_vec = m0
            linear_radius = 0.0
            if has_linear:
                variances = [1 + (arb(lam) - 1) * a2 for lam, ms in dec.linear_groups() for _ in ms]
                total = sum(variances, arb(0))
                v_max = max(variances, key=lambda v: upper_float(v))
                r = total.sqrt() + arb(upper_float(v_max)).sqrt() * (2 * (1 / arb(eta_linear)).log()).sqrt()
                linear_radius = upper_float(r)
        return cls(
            float(T), float(eta), float(eta_block), float(eta_linear), centre_vec, block_radius, linear_radius, dec
        )

    def deviations(self, x):
        """``(|u - a_T m0|, |w_lin|)`` for each row of ``x`` (float64: for tests and reports)."""
        dec = self.decomposition
        u, y_lin, perp = dec.split(x)
        a = math.exp(-self.T)
        block = np.linalg.norm(u - a * self.block_centre, axis=1) if dec.block.size else np.zeros(len(u))
        lin = np.sqrt(np.sum((y_lin - a * dec.linear_means) ** 2, axis=1) + np.sum(perp**2, axis=1))
        return block, lin

    def contains(self, x) -> np.ndarray:
        """Whether each row of ``x`` lies in the ball part of the set (a float64 check). The ``exclusions`` depend
        on the exact path, not on ``x`` alone: :meth:`excluded_paths` checks them."""
        block, lin = self.deviations(x)
        return (block <= self.block_radius) & (lin <= self.linear_radius)

    def sample(self, n: int, seed=0) -> np.ndarray:
        """``n`` draws of ``q_T`` conditioned on the set (rejection; acceptance ``>= 1 - eta``)."""
        rng = np.random.default_rng(seed)
        out = []
        while sum(len(o) for o in out) < n:
            x = self.decomposition.target.sample(2 * n, rng, t=self.T)
            out.append(x[self.contains(x)])
        return np.concatenate(out)[:n]

    def extreme_points(self, n: int, seed=0) -> np.ndarray:
        """``n`` points on the boundary of the set, in random directions (the worst starts of a sup)."""
        dec = self.decomposition
        rng = np.random.default_rng(seed)
        target = dec.target
        k = target.means.shape[1]
        a = math.exp(-self.T)
        shrink = 1 - 1e-12  # stay inside despite float rounding
        y = np.zeros((n, k))
        if dec.block.size:
            d = rng.standard_normal((n, dec.block.size))
            y[:, dec.block] = a * self.block_centre + shrink * self.block_radius * d / np.linalg.norm(
                d, axis=1, keepdims=True
            )
        lin_dim = dec.linear.size + dec.perp_dim
        perp = np.zeros((n, target.dim))
        if lin_dim:
            d = rng.standard_normal((n, lin_dim))
            d *= shrink * self.linear_radius / np.linalg.norm(d, axis=1, keepdims=True)
            y[:, dec.linear] = a * dec.linear_means + d[:, : dec.linear.size]
            if dec.perp_dim:
                z = d[:, dec.linear.size :]
                comp, _ = np.linalg.qr(
                    np.concatenate([target.basis, rng.standard_normal((target.dim, dec.perp_dim))], axis=1)
                )
                perp = z @ comp[:, k:].T
        x = y if target.basis is None else y @ target.basis.T + perp
        return x


def _centre(points) -> np.ndarray:
    """Centre of the bounding box of the block means (a float vector; any centre is valid)."""
    return 0.5 * (points.max(axis=0) + points.min(axis=0))


def _squared_distance(p, q):
    """``|p - q|^2`` of two float vectors as a ball (the differences taken in Arb, not in float64)."""
    arb = flint_module().arb
    return sum(((arb(float(a)) - arb(float(b))) ** 2 for a, b in zip(p, q)), arb(0))


def _max_distance(points, centre):
    """An upper bound (ball) of ``max_c |p_c - centre|``."""
    arb = flint_module().arb
    return arb(max(upper_float(_squared_distance(p, centre).sqrt()) for p in np.atleast_2d(points)))


def _diameter(points):
    """An upper bound (float) of ``max_{c, e} |p_c - p_e|``."""
    points = np.atleast_2d(points)
    return max(
        (upper_float(_squared_distance(points[c], points[e]).sqrt()) for c in range(len(points)) for e in range(c)),
        default=0.0,
    )


# ---------------------------------------------------------------------------- the isotropic block
class IsotropicBlock:
    """Bounds for a block where every component has variance ``v0`` in every block coordinate (part 3-4).

    Parameters
    ----------
    decomposition : Decomposition
        Of kind ``'isotropic'``.
    centre : array, optional
        The frame's centre ``m0`` (default: the centre of the means' bounding box).
    """

    SUBINTERVALS = 16  # time sub-intervals of a sup over a window
    DELTAS = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 32.0)  # near/far splits tried

    def __init__(self, decomposition: Decomposition, centre=None):
        if decomposition.kind != "isotropic":
            raise NotCovered("IsotropicBlock needs components with one shared isotropic variance on the block")
        arb = flint_module().arb
        self.dec = decomposition
        self.target = decomposition.target
        self.means = decomposition.block_means
        self.weights = decomposition.block_weights
        self.k = self.means.shape[1]
        self.v0 = float(decomposition.v0)
        self.m0 = _centre(self.means) if centre is None else np.asarray(centre, dtype=float)
        with arb_precision():
            self.R = upper_float(_max_distance(self.means, self.m0))
            sq = [_squared_distance(row, self.m0) for row in self.means]
            self.range_q = upper_float(max(sq, key=upper_float) - min(sq, key=lower_float)) if len(sq) > 1 else 0.0
            self.diam = _diameter(self.means)
        self.m0_norm = _norm_upper(self.m0)
        self.n_components = len(self.means)
        with arb_precision():
            # Y_max = max over pairs |(mu_c - mu_e) . (m0 - (mu_c + mu_e)/2)|: the frame term of part 4
            worst = 0.0
            mb = [[arb(float(x)) for x in row] for row in self.means]
            m0b = [arb(float(x)) for x in self.m0]
            for c in range(self.n_components):
                for e in range(c):
                    y = sum(
                        ((mb[c][i] - mb[e][i]) * (m0b[i] - (mb[c][i] + mb[e][i]) / 2) for i in range(self.k)), arb(0)
                    )
                    worst = max(worst, upper_float(abs(y)))
            self.Y_max = worst
            logs = [w.log() for w in self._raw_weights()]  # ratios of the target's own weights, not renormalised
            self.log_weight_range = (
                upper_float(max(logs, key=upper_float) - min(logs, key=lower_float)) if len(logs) > 1 else 0.0
            )
        self._spread_cache = {}

    # -- scalar functions of time, as balls
    def _scales(self, t):
        """``(a, v)`` at a real or complex ball ``t``."""
        a = (-t).exp()
        return a, 1 + (self.v0 - 1) * a * a

    def spread(self, t_lo: float, t_hi: float) -> float:
        """``C >= lambda_max Cov_r(mu)`` for every ``u`` and ``t in [t_lo, t_hi]`` (part 3): Popoviciu's
        ``diam^2 / 4``, or the circle-tilt or tempered posterior bound of
        :func:`certsample.lipschitz.posterior_spread_on` (proofs there), widened by a relative ``1e-12``
        for its float64 evaluation (the searches inside widen their own rounding; what is left is the few operations
        of the final formula, each off by at most ``2^-53``, as argued there)."""
        key = (t_lo, t_hi)
        if key not in self._spread_cache:
            from certsample.lipschitz import posterior_spread_on

            best = self.diam * self.diam / 4 * (1 + 1e-15)
            if self.target.n_components > 1:  # kind 'isotropic': equal variances, one value on the block
                best = min(best, posterior_spread_on(self.target, t_lo, t_hi) * (1 + 1e-12))
            self._spread_cache[key] = best
        return self._spread_cache[key]

    def hessian_top(self, t_lo: float, t_hi: float, pieces: int | None = None) -> float:
        """Upper bound of ``-1/v + a^2 C / v^2`` over ``[t_lo, t_hi]`` (sub-intervals, each one ball; a sub-interval
        whose ball gives no finite bound, as near ``t = 0`` for point clouds where ``v = 1 - a^2`` is small against its
        width, is split once into :attr:`SUBINTERVALS`: the largest of their bounds holds on it)."""
        worst = -math.inf
        for lo, hi in _pieces(t_lo, t_hi, pieces or self.SUBINTERVALS):
            top = self._hessian_piece(lo, hi)
            if not math.isfinite(top) and hi > lo:
                top = max(self._hessian_piece(a, b) for a, b in _pieces(lo, hi, self.SUBINTERVALS))
            worst = max(worst, top)
        return worst

    def _hessian_piece(self, lo: float, hi: float) -> float:
        C = flint_module().arb(self.spread(lo, hi))
        with arb_precision():
            a, v = self._scales(arb_interval(lo, hi))
            return upper_float(-1 / v + a * a * C / (v * v))

    def lipschitz(self, t_lo: float, t_hi: float, pieces: int = 1) -> float:
        """Upper bound of the score's Lipschitz constant on the block, ``max(1/v, hessian top)``, over the interval."""
        worst = -math.inf
        for lo, hi in _pieces(t_lo, t_hi, pieces):
            with arb_precision():
                a, v = self._scales(arb_interval(lo, hi))
                worst = max(worst, upper_float(1 / v))
        return max(worst, self.hessian_top(t_lo, t_hi, pieces))

    def path_growth(self, t_lo: float, t_hi: float, pieces: int | None = None) -> float:
        """Upper bound of ``R int_{t_lo}^{t_hi} a / v^{3/2} dt``: how far ``w`` moves (part 3)."""
        arb = flint_module().arb
        total = arb(0)
        with arb_precision():
            for lo, hi in _pieces(t_lo, t_hi, pieces or self.SUBINTERVALS):
                a, v = self._scales(arb_interval(lo, hi))
                total += (arb(hi) - arb(lo)) * a / (v * v.sqrt())
            return upper_float(arb(self.R) * total)

    def frame(self, t: float):
        """``(a, g)`` at a float time, as balls."""
        arb = flint_module().arb
        a, v = self._scales(arb(t))
        return a, v.sqrt()

    # -- part 6: excluding a neighbourhood of the frame centre
    def centre_mass(self, t: float, P: float):
        """Upper bound (ball) of ``q_t(|u - a m0| < P)`` on the block (part 6: the least of the half-space and the
        density bound per component, 1 where the component's mean is within ``P`` of the centre)."""
        arb = flint_module().arb
        with arb_precision():
            a, v = self._scales(arb(t))
            g = v.sqrt()
            Pb = arb(P)
            k = self.k
            volume = arb.pi() ** (arb(k) / 2) * Pb**k / (arb(k) / 2 + 1).gamma()
            density = (2 * arb.pi() * v) ** (-arb(k) / 2)
            total = arb(0)
            raw = self._raw_weights()
            for w_c, nu in zip(raw, self._nu_norms()):
                gap = a * nu - Pb
                if not gap.lower() > 0:
                    total += w_c
                    continue
                half_space = (gap / (g * arb(2).sqrt())).erfc() / 2
                ball = volume * density * (-(gap * gap) / (2 * v)).exp()
                best = half_space if upper_float(half_space) <= upper_float(ball) else ball
                total += w_c * best
            return total / sum(raw, arb(0))

    def _raw_weights(self):
        """The target's own (positive) weights as exact balls: the mixture is ``sum_c w_c N_c / sum_c w_c``
        whatever their float normalisation, so masses divide by their Arb sum and posteriors use their ratios."""
        return [flint_module().arb(float(w)) for w in self.target.weights[self.target.weights > 0]]

    def _nu_norms(self):
        """``|nu_c| = |mu_c - m0|`` as balls."""
        if not hasattr(self, "_nu"):
            with arb_precision():
                self._nu = [_squared_distance(row, self.m0).sqrt() for row in self.means]
        return self._nu

    def exclusion_radius(self, t: float, mass: float) -> float:
        """A radius ``P >= 0`` (float) with ``q_t(|u - a m0| < P) <= mass`` proved by :meth:`centre_mass`
        (bisection picks it; any such ``P`` is valid); ``0.0`` when none is found."""
        key = ("exclusion", t, mass)
        if key not in self._spread_cache:
            lo, hi = 0.0, upper_float(flint_module().arb(self.R) * math.exp(-t)) + 1.0
            if upper_float(self.centre_mass(t, hi)) <= mass:
                lo = hi
            else:
                for _ in range(40):
                    mid = 0.5 * (lo + hi)
                    lo, hi = (mid, hi) if upper_float(self.centre_mass(t, mid)) <= mass else (lo, mid)
            self._spread_cache[key] = lo
        return self._spread_cache[key]

    def spread_outside(self, r: float, t_lo: float, t_hi: float) -> float:
        """``C_r >= lambda_max Cov_r(mu)`` at every ``u`` with ``|u - a m0| >= g r`` and ``t`` in ``[t_lo, t_hi]``
        (part 6), never above :meth:`spread`. ``lambda_min`` is rounded down to 2 significant digits (a smaller
        ``lambda_min`` is valid: ``f_n`` does not decrease in it) so that windows share evaluations."""
        glob = self.spread(t_lo, t_hi)
        if r <= 0 or self.k > 2:
            return glob
        arb = flint_module().arb
        with arb_precision():
            a, v = self._scales(arb_interval(t_lo, t_hi))
            lam = lower_float(a / v.sqrt() * arb(r))
            if not lam > 0:
                return glob
            e = math.floor(math.log10(lam)) - 1
            lam = math.floor(lam / 10.0**e) * 10.0**e * (1 - 1e-12)
            # log b_c up to a c-independent term (which cancels in pi): log w_c - a^2 (|nu_c|^2 - min_e |nu_e|^2) / (2v)
            squares = [nu * nu for nu in self._nu_norms()]
            least = arb(min(lower_float(q) for q in squares))
            logb = [w.log() - a * a * (q - least) / (2 * v) for w, q in zip(self._raw_weights(), squares)]
            key = ("outside", lam, tuple((lower_float(b), upper_float(b)) for b in logb))
            if key not in self._spread_cache:
                # evaluated on the key's own float intervals (each contains its ball), so a later window whose
                # balls round to the same floats may reuse the result
                f_min = self._least_projected_mean(arb(lam), [arb_interval(lo, hi) for lo, hi in key[2]])
                self._spread_cache[key] = upper_float(arb(self.R) ** 2 - arb(max(f_min, 0.0)) ** 2)
            return min(glob, self._spread_cache[key])

    CELLS, MAX_CELLS = 64, 4096

    def _least_projected_mean(self, lam, logb) -> float:
        """A lower bound (float) of ``min_n f_n = min_n sum_c pi_c n . nu_c``, ``pi_c ~ e^{logb_c + lam n . nu_c}``,
        over unit ``n`` (``k = 1``: ``n = +-1``; ``k = 2``: cells of the angle, bisected where their lower end is
        below the best midpoint value; part 6)."""
        arb = flint_module().arb
        nus = [[arb(float(x)) - arb(float(c)) for x, c in zip(row, self.m0)] for row in self.means]

        def f(n):
            proj = [sum((ni * xi for ni, xi in zip(n, nu)), arb(0)) for nu in nus]
            z = [lb + lam * p for lb, p in zip(logb, proj)]
            shift = arb(max(upper_float(zc) for zc in z))  # an exact number: it cancels in the ratio
            e = [(zc - shift).exp() for zc in z]
            return sum((ec * p for ec, p in zip(e, proj)), arb(0)) / sum(e, arb(0))

        if self.k == 1:
            return min(lower_float(f([arb(s)])) for s in (1.0, -1.0))

        def cell(lo, hi):
            theta, mid = arb_interval(lo, hi), arb(0.5 * (lo + hi))
            return (lo, hi, lower_float(f([theta.cos(), theta.sin()])), upper_float(f([mid.cos(), mid.sin()])))

        cells = [cell(lo, hi) for lo, hi in _pieces(0.0, 2 * math.pi * (1 + 1e-15), self.CELLS)]  # all directions
        while True:
            best_mid = min(c[3] for c in cells)
            tol = 1e-3 * (abs(best_mid) + 1e-3)
            split = [c for c in cells if c[2] < best_mid - tol]
            if not split or len(cells) + len(split) > self.MAX_CELLS:
                return min(c[2] for c in cells)
            cells = [c for c in cells if c[2] >= best_mid - tol]
            for lo, hi, _, _ in split:
                m = 0.5 * (lo + hi)
                cells += [cell(lo, m), cell(m, hi)]

    def hessian_top_outside(self, r: float, t_lo: float, t_hi: float, pieces: int | None = None) -> float:
        """Upper bound of ``-1/v + a^2 min(C, C_r) / v^2`` over ``[t_lo, t_hi]`` on ``|u - a m0| >= g r`` (part 6)."""
        if r <= 0:
            return self.hessian_top(t_lo, t_hi, pieces)
        arb = flint_module().arb
        C_r = self.spread_outside(r, t_lo, t_hi)
        worst = -math.inf
        for lo, hi in _pieces(t_lo, t_hi, pieces or self.SUBINTERVALS):
            C = arb(min(C_r, self.spread(lo, hi)))
            with arb_precision():
                a, v = self._scales(arb_interval(lo, hi))
                worst = max(worst, upper_float(-1 / v + a * a * C / (v * v)))
        return worst

    def complex_bounds(self, t0: float, h: float, rho: float, W: float, grid=(6, 4)):
        """Bounds on the drift along the flow continued to the rectangle around the Bernstein ellipse
        ``E_rho`` of the window ``[0, h]`` in ``tau`` (part 4), for every start ``|w0| <= W``.

        Returns ``None`` when the inequalities cannot be checked (``Re v <= 0``, ``Re alpha <= 0``, no
        phase bound below ``pi/2`` or no ``eps`` found), else a dict: ``eps`` (``|w - w0| <= eps``),
        ``M`` (``sup |s_J + w0/g| <= M``), ``M_frame`` (``sup |1/g(tau) - 1/g(h/2)|``: ``w0/g`` moves by at
        most ``W M_frame``), ``tau_max``.
        """
        flint = flint_module()
        arb, acb = flint.arb, flint.acb
        with arb_precision():
            half = arb(h) / 2
            r = arb(rho)
            ax_re = half * (r + 1 / r) / 2
            ax_im = half * (r - 1 / r) / 2
            re_lo, re_hi = lower_float(half - ax_re), upper_float(half + ax_re)
            im_hi = upper_float(ax_im)
            tau_max = upper_float((arb(max(abs(re_lo), abs(re_hi))) ** 2 + arb(im_hi) ** 2).sqrt())
            a_mid = (-(acb(t0) - acb(half))).exp()
            g_mid = (1 + (self.v0 - 1) * a_mid * a_mid).sqrt()
            boxes = []
            for lo, hi in _pieces(re_lo, re_hi, grid[0]):
                for ilo, ihi in _pieces(-im_hi, im_hi, grid[1]):
                    tau = acb(arb_interval(lo, hi), arb_interval(ilo, ihi))
                    t = acb(t0) - tau
                    a = (-t).exp()
                    v = 1 + (self.v0 - 1) * a * a
                    if not v.real.lower() > 0:
                        return None
                    g = (v.log() / 2).exp()  # principal branch, analytic for Re v > 0
                    alpha = a / g
                    beta = a * a / (2 * v)
                    gamma = 2 * beta
                    box = dict(
                        im_alpha=upper_float(abs(alpha.imag)),
                        re_alpha=upper_float(abs(alpha.real)),
                        im_beta=upper_float(abs(beta.imag)),
                        a=upper_float(a),
                        v_lo=lower_float(v),
                        g_lo=lower_float(g),
                        v32=lower_float(abs(v) * abs(v).sqrt()),
                        frame=upper_float(1 / g - 1 / g_mid),
                        tau=upper_float(tau),
                        sigma=max(abs(ilo), abs(ihi)),
                    )
                    if alpha.real.lower() > 0:
                        ratio = alpha.imag / alpha.real
                        box["r"] = upper_float(abs(ratio))
                        box["x"] = upper_float(abs(gamma.imag - ratio * gamma.real))
                        box["re_plus"] = upper_float(abs(alpha.real + ratio * alpha.imag))
                    boxes.append(box)
            R, diam = self.R, self.diam
            half_pi = math.pi / 2 * (1 - 1e-9)
            # near/far split weights f = (K - 1) e^{-spread}, rounded up once
            far = self._far_weights()

            def kappa(box, speed):
                """Lower bound of ``|sum_c w_c e^{z_c}| / sum_c |w_c e^{z_c}|`` on the box when ``|w'| <= speed``
                (so ``|w - w0| <= |tau| speed`` and ``|Im w| <= |Im tau| speed``; proof: part 4). Float64 with
                every nonnegative expression rounded up and the cosine's alternating series rounded down."""
                best = 0.0
                eps, eps_im = round_up(box["tau"] * speed, 1), round_up(box["sigma"] * speed, 1)
                # all components: Im(alpha nu . delta) = Im(alpha) nu . Re(delta) + Re(alpha) nu . Im(delta)
                theta = round_up(
                    (box["im_alpha"] * W * diam + box["im_beta"] * self.range_q) / 2
                    + (box["im_alpha"] * eps + box["re_alpha"] * eps_im) * R,
                    12,
                )
                if theta < half_pi:
                    best = _cos_lower(theta)
                if "r" in box:
                    base = round_up(box["x"] * self.Y_max + box["re_plus"] * diam * eps_im, 5)
                    for spread, f in far:
                        th = round_up(box["r"] * (spread + 2 * self.log_weight_range) / 2 + base, 5)
                        if not th < half_pi:
                            break
                        best = max(best, _down((_cos_lower(th) - f) / round_up(1 + f, 1), 2))
                return best

            def sup_F(speed):
                worst = 0.0
                for box in boxes:
                    k = kappa(box, speed)
                    if not k > 0:
                        return None
                    worst = max(worst, round_up(box["a"] * R / (box["v32"] * k), 3))
                return worst

            speed = 0.0
            for _ in range(60):
                f = sup_F(speed)
                if f is None:
                    return None
                if f <= speed:
                    break
                speed = f * 1.05 + 1e-300
            else:
                return None
            M = 0.0
            frame = 0.0
            for box in boxes:
                m = round_up(box["a"] * R / (box["v_lo"] * kappa(box, speed)) + box["tau"] * speed / box["g_lo"], 6)
                M = max(M, m)
                frame = max(frame, box["frame"])
            return {"eps": round_up(tau_max * speed, 1), "speed": speed, "M": M, "M_frame": frame, "tau_max": tau_max}

    def _far_weights(self):
        """``[(spread, (K - 1) e^{-spread})]`` for :data:`DELTAS`, the weights rounded up (Arb)."""
        if not hasattr(self, "_far"):
            arb = flint_module().arb
            with arb_precision():
                self._far = [(s, upper_float((self.n_components - 1) * (-arb(s)).exp())) for s in self.DELTAS]
        return self._far


_ULP = 2.0**-52


def _down(x: float, operations: int) -> float:
    """Lower bound of a float64 expression (``x >= 0`` computed with ``operations`` roundings), else ``x`` itself
    minus a margin (a lower bound in both cases for expressions of magnitude at most 2)."""
    return x * (1.0 - (operations + 1) * _ULP) if x >= 0 else x - (operations + 1) * 2 * _ULP


def _cos_lower(x: float) -> float:
    """A lower bound of ``cos x`` for ``0 <= x <= pi/2``: the alternating Taylor series cut after a negative term
    (``1 - x^2/2! + ... - x^14/14!``; its terms decrease there), evaluated in float64 minus ``1e-14``, which exceeds
    the rounding of its 30 operations on terms below 2."""
    x2 = x * x
    term, total = 1.0, 1.0
    for k in range(1, 8):
        term *= -x2 / ((2 * k - 1) * (2 * k))
        total += term
    return total - 1e-14


# ---------------------------------------------------------------------------- blocks with unequal variances
class UnequalBlock:
    r"""Bounds for a block whose components have diagonal, possibly unequal, variances (module docstring, part 5).

    Parameters
    ----------
    decomposition : Decomposition
        Of kind ``'unequal'``.
    centre : array, optional
        The frame's centre ``m0`` (default: the centre of the means' bounding box).
    """

    SUBINTERVALS = 16
    LAMBDA_PIECES = 8  # pieces of the variances' range when the block has more distinct variances

    def __init__(self, decomposition: Decomposition, centre=None):
        if decomposition.kind != "unequal":
            raise NotCovered("UnequalBlock is for blocks whose components have unequal variances")
        arb = flint_module().arb
        dec = decomposition
        self.dec = dec
        self.target = dec.target
        self.means = dec.block_means
        self.weights = dec.block_weights
        self.k = self.means.shape[1]
        lams = dec.target.variances[dec.target.weights > 0][:, dec.block]
        self.lam_lo, self.lam_hi = float(np.min(lams)), float(np.max(lams))
        # reference variance of the frame: the harmonic middle of the range (any lam0 >= 0 is valid)
        self.lam0 = 2 * self.lam_lo * self.lam_hi / (self.lam_lo + self.lam_hi)
        distinct = np.unique(lams)
        with arb_precision():
            if distinct.size <= self.LAMBDA_PIECES:
                self.lam_balls = [arb(float(x)) for x in distinct]
            else:
                self.lam_balls = [
                    arb_interval(lo, hi) for lo, hi in _pieces(self.lam_lo, self.lam_hi, self.LAMBDA_PIECES)
                ]
            self.lam_ball = arb_interval(self.lam_lo, self.lam_hi)
        self.m0 = _centre(self.means) if centre is None else np.asarray(centre, dtype=float)
        with arb_precision():
            self.R = upper_float(_max_distance(self.means, self.m0))
            sq = [_squared_distance(row, self.m0) for row in self.means]
            self.range_q = upper_float(max(sq, key=upper_float) - min(sq, key=lower_float)) if len(sq) > 1 else 0.0
            self.diam = _diameter(self.means)
        self.m0_norm = _norm_upper(self.m0)

    # -- real time: the frame and the rates of part 5
    def _scales(self, t):
        """``(a, V)`` at a ball ``t``: ``V = 1 + (lam0 - 1) a^2``, the frame's reference variance."""
        a = (-t).exp()
        return a, 1 + (self.lam0 - 1) * a * a

    def frame(self, t: float):
        """``(a, g)`` at a float time, as balls (``g = sqrt(V)``)."""
        arb = flint_module().arb
        a, V = self._scales(arb(t))
        return a, V.sqrt()

    def rates(self, t):
        """``(alpha, beta, inv)`` over a real time ball: ``alpha >= a max_c |nu_c / v_c| / g``, ``beta >= max_{c,i}
        |1/V - 1/v_ci|`` and ``inv >= max 1/v_ci`` (part 5), as floats rounded up."""
        a, V = self._scales(t)
        g = V.sqrt()
        inv = 1 / (1 + (self.lam_ball - 1) * a * a)
        return upper_float(a * self.R * inv / g), upper_float(abs(1 / V - inv)), upper_float(inv)

    def integrals(self, t_lo: float, t_hi: float):
        """``(A, B)``: upper bounds of ``int alpha`` and ``int beta`` over ``[t_lo, t_hi]`` (sub-interval balls)."""
        arb = flint_module().arb
        A, B = arb(0), arb(0)
        with arb_precision():
            for lo, hi in _pieces(t_lo, t_hi, self.SUBINTERVALS):
                alpha, beta, _ = self.rates(arb_interval(lo, hi))
                A += (arb(hi) - arb(lo)) * arb(alpha)
                B += (arb(hi) - arb(lo)) * arb(beta)
            return upper_float(A), upper_float(B)

    def moved(self, t_lo: float, t_hi: float, W: float) -> float:
        """``e^B (A + B W)``: bounds ``|w(t) - w0|`` for ``t in [t_lo, t_hi]`` on exact paths from ``t_hi`` with
        ``|w0| <= W``."""
        if t_lo >= t_hi:
            return 0.0
        arb = flint_module().arb
        A, B = self.integrals(t_lo, t_hi)
        with arb_precision():
            return upper_float(arb(B).exp() * (arb(A) + arb(B) * arb(W)))

    def advance(self, t_lo: float, t_hi: float, W: float) -> float:
        """``e^B (W + A)``: bounds ``|w(t_lo)|`` for exact paths from ``|w(t_hi)| <= W`` (part 5)."""
        arb = flint_module().arb
        A, B = self.integrals(t_lo, t_hi)
        with arb_precision():
            return upper_float(arb(B).exp() * (arb(W) + arb(A)))

    def reach(self, t_lo: float, t_hi: float, W: float) -> float:
        """Upper bound of ``|u|`` on exact paths over ``[t_lo, t_hi]`` from ``|w(t_hi)| <= W``: ``a |m0| + g |w|``."""
        arb = flint_module().arb
        moved = self.moved(t_lo, t_hi, W)
        with arb_precision():
            a, V = self._scales(arb_interval(t_lo, t_hi))
            return upper_float(a * arb(self.m0_norm) + V.sqrt() * (arb(W) + arb(moved)))

    def score_terms(self, t):
        """``(c0, c1)`` with ``|s_J(u, t)| <= c0 + c1 |w|`` on real ``u = a m0 + g w`` over a time ball (part 5)."""
        alpha, beta, inv = self.rates(t)
        a, V = self._scales(t)
        g = V.sqrt()
        arb = flint_module().arb
        return upper_float(a * self.R * arb(inv)), upper_float(1 / g + g * arb(beta))

    def lipschitz(self, t_lo: float, t_hi: float, radius: float, kind: str = "lipschitz") -> float:
        """:func:`certsample.lipschitz.sup_on` on the ball ``|y| <= radius`` (``u`` with ``y_lin = 0``), ``kind``
        ``'lipschitz'`` or ``'one_sided'``; the radius is first rounded up to three digits (shared memos)."""
        from certsample.lipschitz import shared_radius, sup_on

        return sup_on(self.target, t_lo, t_hi, radius=shared_radius(radius), kind=kind)

    # -- complex time
    def _box(self, t0: float, tau, g_mid):
        """The ingredients of part 5 on one box ``tau`` (an ``acb``), or ``None`` when ``Re v <= 0``."""
        t = flint_module().acb(t0) - tau
        a = (-t).exp()
        a2 = a * a
        V = 1 + (self.lam0 - 1) * a2
        if not V.real.lower() > 0:
            return None
        g = (V.log() / 2).exp()
        parts = {"logv": [], "p": [], "J": [], "K": [], "inv": [], "beta": []}
        for lam in self.lam_balls:
            v = 1 + (lam - 1) * a2
            if not v.real.lower() > 0:
                return None
            inv = 1 / v
            parts["logv"].append(v.log())
            parts["p"].append(V * inv / 2)
            parts["J"].append(a * g * inv)
            parts["K"].append(a2 * inv)
            parts["inv"].append(inv)
            parts["beta"].append(1 / V - inv)
        logv_im = _hull(z.imag for z in parts["logv"])
        p_im, p_re = _hull(z.imag for z in parts["p"]), _hull(z.real for z in parts["p"])
        J_im, J_re = _hull(z.imag for z in parts["J"]), _hull(z.real for z in parts["J"])
        K_im = _hull(z.imag for z in parts["K"])
        return dict(
            logv_rad=logv_im[1],
            p_im_rad=p_im[1],
            p_re_rad=p_re[1],
            J_im=J_im,
            J_re=J_re,
            K_im=K_im,
            inv=max(upper_float(z) for z in parts["inv"]),
            beta=max(upper_float(z) for z in parts["beta"]),
            a=upper_float(a),
            g_up=upper_float(g),
            g_lo=lower_float(g),
            frame=upper_float(1 / g - 1 / g_mid),
            tau=upper_float(tau),
            sigma=upper_float(abs(tau.imag)),
        )

    def complex_bounds(self, t0: float, h: float, rho: float, W: float, grid=(6, 4)):
        """Bounds on the drift along the flow continued to the rectangle around the Bernstein ellipse ``E_rho`` of
        the window ``[0, h]`` in ``tau`` (part 5), for every start ``|w0| <= W``; ``None`` where they cannot be
        checked. The dict has the keys of :meth:`IsotropicBlock.complex_bounds`."""
        flint = flint_module()
        arb, acb = flint.arb, flint.acb
        with arb_precision():
            half = arb(h) / 2
            r = arb(rho)
            ax_re, ax_im = half * (r + 1 / r) / 2, half * (r - 1 / r) / 2
            re_lo, re_hi, im_hi = lower_float(half - ax_re), upper_float(half + ax_re), upper_float(ax_im)
            tau_max = upper_float((arb(max(abs(re_lo), abs(re_hi))) ** 2 + arb(im_hi) ** 2).sqrt())
            a_mid = (-(acb(t0) - acb(half))).exp()
            g_mid = ((1 + (self.lam0 - 1) * a_mid * a_mid).log() / 2).exp()
            boxes = []
            for lo, hi in _pieces(re_lo, re_hi, grid[0]):
                for ilo, ihi in _pieces(-im_hi, im_hi, grid[1]):
                    box = self._box(t0, acb(arb_interval(lo, hi), arb_interval(ilo, ihi)), g_mid)
                    if box is None:
                        return None
                    boxes.append(box)
            constant = self._phase_constants(boxes)
        return _unequal_fixed_point(boxes, constant, self.R, W, tau_max)

    def _phase_constants(self, boxes):
        """Per box, the ``w``-free parts of part 5's phase bound: ``Im`` of the constant term and the coefficients of
        ``|x|`` and ``|y|`` (floats rounded up, evaluated in Arb from the hull ends)."""
        arb = flint_module().arb
        out = []
        for box in boxes:
            jm_im, jr_im = box["J_im"]
            jm_re, jr_re = box["J_re"]
            km, kr = box["K_im"]
            const = (
                arb(self.k) * arb(box["logv_rad"]) + (arb(self.range_q) * arb(km) + 2 * arb(self.R) ** 2 * arb(kr)) / 2
            )
            q_im = arb(self.diam) * arb(jm_im) + 2 * arb(self.R) * arb(jr_im)
            q_re = arb(self.diam) * arb(jm_re) + 2 * arb(self.R) * arb(jr_re)
            out.append((upper_float(const), upper_float(q_im), upper_float(q_re)))
        return out


def _hull(balls):
    """``(|m|, r)`` for the hull ``[lo, hi]`` of real balls: every point ``x`` of it has ``|x - m| <= r`` (floats,
    ``|m|`` and ``r`` rounded up; ``m`` the hull's midpoint)."""
    arb = flint_module().arb
    balls = list(balls)
    lo = min(lower_float(b) for b in balls)
    hi = max(upper_float(b) for b in balls)
    m = (arb(lo) + arb(hi)) / 2
    return upper_float(abs(m)), upper_float((arb(hi) - arb(lo)) / 2)


def _unequal_fixed_point(boxes, constants, R: float, W: float, tau_max: float):
    """Part 5's speed ``S`` (a fixed point of ``sup F <= S``), ``M`` and ``M_frame`` from the boxes' floats."""
    half_pi = math.pi / 2 * (1 - 1e-9)

    def kappa(box, const, speed):
        X = round_up(W + box["tau"] * speed, 2)
        Y = round_up(box["sigma"] * speed, 1)
        c, q_im, q_re = const
        pair = round_up(
            c + 2 * box["p_im_rad"] * (X * X + Y * Y) + 4 * box["p_re_rad"] * X * Y + q_im * X + q_re * Y, 14
        )
        theta = round_up(pair / 2, 1)
        return _cos_lower(theta) if theta < half_pi else 0.0

    def numerator(box, speed):
        X = round_up(W + box["tau"] * speed, 2)
        return round_up(box["a"] * R * box["inv"] + box["g_up"] * box["beta"] * X, 5)

    def sup_F(speed):
        worst = 0.0
        for box, const in zip(boxes, constants):
            k = kappa(box, const, speed)
            if not (k > 0 and box["g_lo"] > 0):  # |g| > 0 in exact arithmetic; its ball's lower end may be 0
                return None
            worst = max(worst, round_up(numerator(box, speed) / (box["g_lo"] * k), 2))
        return worst

    speed = 0.0
    for _ in range(60):
        f = sup_F(speed)
        if f is None or not math.isfinite(f):
            return None
        if f <= speed:
            break
        speed = f * 1.05 + 1e-300
    else:
        return None
    M, frame = 0.0, 0.0
    for box, const in zip(boxes, constants):
        k = kappa(box, const, speed)
        M = max(M, round_up(numerator(box, speed) / k + box["tau"] * speed / box["g_lo"], 4))
        frame = max(frame, box["frame"])
    return {"eps": round_up(tau_max * speed, 1), "speed": speed, "M": M, "M_frame": frame, "tau_max": tau_max}
