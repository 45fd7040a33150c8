r"""Shared machinery of the proved a-priori pathwise bounds: decomposition, start set, rigorous sups.

Everything here is about the probability-flow ODE of a built-in target
``q_0 = sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))`` under the forward process
``dX = -X dt + sqrt(2) dB`` (``a = e^{-t}``, ``sigma^2 = 1 - e^{-2t}``); in reverse time ``r`` (forward time
``t - r``) the flow is ``dy/dr = y + s(y, t - r)``, ``s = grad log q_t``.

Decomposition (:func:`decompose`)
---------------------------------
In the target's coordinates ``u = Q^T x`` (``x`` itself when ``Q = I``) and ``x_perp = x - Q Q^T x``,

.. math:: s(x, t) = Q\, s_k(Q^T x, t) - x_\perp / v_\perp(t), \qquad v_\perp = a^2 \lambda_\perp + \sigma^2 .

*Linear coordinates.* A coordinate ``i`` of ``u`` in which every (positive-weight) component has the same
mean ``m_i`` and the same variance ``lam_i`` has the score component ``-sum_c r_c (u_i - a m_i) / v_i =
-(u_i - a m_i) / v_i`` (``v_i = a^2 lam_i + sigma^2``; the responsibilities ``r_c`` sum to 1), and it does
not enter the responsibilities (its Gaussian factor is the same for every component and cancels). So
with ``z_i = u_i - a(t) m_i`` (and ``z = x_perp``, ``m = 0``, ``lam = lam_perp`` for the orthogonal
directions) the score is ``-z_i / v_i``, a scalar affine field independent of every other coordinate.
Since ``a(t - r) = e^r a(t)``, every scheme below, which combines ``e^{r}``-scaled states and scores, acts
on ``z`` exactly as on ``u`` (the centre path ``a(t) m_i`` is scaled by the same ``e^r`` factors), so its
error on the coordinate is the error of the scalar linear problem ``z' = z - z/v`` from ``z_0``.

*The block* ``J``: the remaining coordinates (means or variances differ between components). Its flow
depends on ``u_J`` only. This module covers blocks in which every component has the same isotropic
variance ``lam_J`` (ring, point cloud, their embeddings); then, with ``m0`` the centre of the bounding box
of the block means, ``nu_c = mu_{c,J} - m0``, ``R = max_c |nu_c|`` and ``z = u_J - a m0``,

.. math:: s_J = (a \bar\nu(z) - z) / v, \qquad \bar\nu = \sum_c r_c \nu_c,
          \quad r_c \propto w_c \exp\big((a z\cdot\nu_c - a^2 |\nu_c|^2 / 2) / v\big),

with ``v = a^2 lam_J + sigma^2`` and ``|nu_bar| <= R``; ``grad s_J = -I/v + (a^2 / v^2) Cov_r(nu)``.
Blocks whose components have unequal (diagonal) variances ``lam_ci`` there are of kind ``'unequal'``: with
the same ``m0``, ``nu_c`` and ``z``, ``s_J = sum_c r_c (a nu_c - z) / v_c`` (coordinatewise, ``v_ci = 1 +
(lam_ci - 1) a^2``); :mod:`proofs.midpoint_ms` (step U) bounds them on balls. ``Decomposition.reason`` stays
for targets outside both kinds (none of the built-in constructors makes one).

Start set (:class:`StartSet`)
-----------------------------
``S(T, eta) = {x : |u_J - a_T m0| <= r_J, |w_lin| <= r_lin}`` where ``w_lin`` stacks the centred linear
coordinates ``u_i - a_T m_i`` and ``x_perp``. Under ``q_T`` the two parts are independent (the linear
coordinates are Gaussian, independent of the component). Given component ``c``, ``u_J - a_T m0 = a_T
nu_c + sqrt(v_T) g`` with ``g ~ N(0, I_{k_J})``, so ``|u_J - a_T m0| <= a_T R + sqrt(v_T) |g|``; and
``w_lin = diag(v)^{1/2} g'``. The map ``g -> |D^{1/2} g|`` is ``sqrt(max D)``-Lipschitz and ``E|D^{1/2} g|
<= sqrt(tr D)``, so Gaussian concentration (Boucheron, Lugosi, Massart, Thm 5.6) gives
``P(|D^{1/2} g| > sqrt(tr D) + sqrt(max D) sqrt(2 log(1/eta'))) <= eta'``. With unequal variances the
block's part given ``c`` is ``a_T nu_c + D_c^{1/2} g``, ``D_c = diag(v_ci(T))``, and ``sqrt(tr D_c) <= sqrt(k_J
v_T)``, ``max D_c <= v_T`` for ``v_T = 1 + (lam_max - 1) a_T^2`` (``v`` increases in ``lam``), ``lam_max`` the
largest block variance; averaging over ``c`` keeps the tail. Hence

.. math:: r_J = a_T R + \sqrt{v_T}\,\big(\sqrt{k_J} + \sqrt{2\log(1/\eta_J)}\big), \qquad
          r_{lin} = \sqrt{\textstyle\sum v_i(T)} + \sqrt{\max v_i(T)}\,\sqrt{2\log(1/\eta_{lin})},

and ``q_T(S) >= 1 - eta_J - eta_lin = 1 - eta`` (``eta`` split equally when both parts exist, else all to
the one that exists). The ambient dimension enters only through ``r_lin`` (``tr D`` counts the ``d - k``
orthogonal directions).

Rigorous sups (:func:`posterior_covariance_sup`, :func:`block_lipschitz_sup`, :func:`block_one_sided_sup`)
------------------------------------------------------------------------------------------------------------
For forward times in ``[t_lo, t_hi]`` the quantities ``a = e^{-t}`` and ``v = 1 + (lam - 1) a^2`` are
evaluated as Arb balls over the whole time interval (each a monotone function of one occurrence of
``t``), so every expression built from them encloses its range. ``C >= lambda_max Cov_r(nu)`` for every
point and every such ``t`` is the least of: Popoviciu's ``diam^2 / 4`` of the block means (every law on
the means); for means on a circle of radius ``rho`` (within ``dev``), ``rho^2 S e^{a^2 dev / (2v)}`` with
``S`` of :func:`certsample.lipschitz.tilted_covariance.tilted_covariance_sup`; for planar means, ``rho^2 S(lam)``
with :class:`certsample.lipschitz.tilted_covariance.PosteriorCovarianceBound` at every temperature ``lam = a^2
rho^2 / (2 v)`` of the interval (its octave bounds hold on a whole octave and its zero-temperature bound
decreases in ``lam``, so the value at the left end of each octave piece holds on the piece). Those two
lemmas are proved in their docstrings (floating-point searches with a stated rounding allowance; ``rho^2`` and
``dev`` rounded up there from the exact distances), and the spread they give is widened here by a relative
``1e-12`` for its last float64 operations. Then

* ``||grad s_J|| <= L = max(1/v, a^2 C / v^2 - 1/v)`` (eigenvalues of ``-I/v + (a^2/v^2) Cov``),
* ``lambda_max(I + grad s_J) <= mu = 1 - 1/v + a^2 C / v^2`` (one-sided Lipschitz bound of the drift).

Quadrature (:func:`expectation`)
--------------------------------
Integrals of analytic integrands over an interval are Gauss-Legendre sums with Arb's proved nodes and
weights (``arb.legendre_p_root``) plus the error bound of Trefethen, *Approximation Theory and
Approximation Practice*, Thm 19.3: if ``f`` is analytic in the open Bernstein ellipse ``E_rho`` of the
interval (foci at its ends) and ``|f| <= M`` there, the ``m``-point rule errs by at most ``(hi - lo)/2 *
(64/15) M rho^{-2(m-1)} / (rho^2 - 1)``. ``M`` is the modulus of the integrand evaluated in complex ball
arithmetic on a rectangle containing the ellipse; a finite result proves the integrand analytic there
(it is built from ``+ - * /`` and ``exp`` only, and Arb returns a non-finite ball for a division by a ball
containing 0).

References
----------
.. [1] L. N. Trefethen, *Approximation Theory and Approximation Practice*, SIAM, 2013 (Thm 19.3).
.. [2] S. Boucheron, G. Lugosi, P. Massart, *Concentration Inequalities*, Oxford, 2013 (Thm 5.6).
.. [3] F. Johansson, "Arb: efficient arbitrary-precision midpoint-radius interval arithmetic", IEEE
   Trans. Computers 66 (2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .balls import amax, arb, arb_interval, arb_precision, bound_text, flint_module, lower_float, upper_float
from .core import NotCovered

__all__ = [
    "Decomposition",
    "decompose",
    "StartSet",
    "NotCovered",
    "expectation",
    "time_scales",
    "scale_ends",
    "posterior_covariance_sup",
    "block_lipschitz_sup",
    "block_one_sided_sup",
    "reference_variance",
    "variance_balls",
    "unequal_rates",
    "ball_sup",
]

_GUARD = 1e-12  # relative inflation of floating-point inputs from the tilted-covariance lemmas


# ---------------------------------------------------------------------------- decomposition
@dataclass(frozen=True)
class Decomposition:
    """The target split into the block ``J`` and scalar linear coordinates (module docstring).

    Attributes
    ----------
    target : MixtureTarget
    block_axes : tuple of int
        Coordinates of ``u = Q^T x`` where the components differ (empty for a Gaussian).
    block_variance : float or None
        The common isotropic data variance ``lam_J`` of the block (``None`` without a block, or when the
        components' block variances differ: kind ``'unequal'``).
    block_centre : (k_J,) array
        ``m0``, the centre of the bounding box of the block means.
    block_offsets : (K', k_J) array
        ``nu_c = mu_{c,J} - m0`` of the positive-weight components, rounded (for display and sampling;
        every bound uses ``block_means`` and ``block_centre``, which are exact).
    block_means : (K', k_J) array
        ``mu_{c,J}`` of the positive-weight components.
    block_weights : (K',) array
    block_radius : float
        ``R >= max_c |nu_c|`` (rounded up).
    linear_axes : tuple of int
        Coordinates of ``u`` shared by every component.
    linear_means, linear_variances : arrays
        Their mean ``m_i`` and data variance ``lam_i``.
    perp_dim : int
        ``d - k``, the directions orthogonal to ``Q`` (variance ``perp_variance``, mean 0).
    perp_variance : float
    reason : str
        Empty when the theorem's hypotheses hold; else why the target is not covered.
    block_variances : (K', k_J) array
        ``lam_ci``, the data variances of the positive-weight components on the block.
    """

    target: object
    block_axes: tuple
    block_variance: float | None
    block_centre: np.ndarray
    block_offsets: np.ndarray
    block_means: np.ndarray
    block_weights: np.ndarray
    block_radius: float
    linear_axes: tuple
    linear_means: np.ndarray
    linear_variances: np.ndarray
    perp_dim: int
    perp_variance: float
    reason: str = ""
    block_variances: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """``'linear'`` (no block), ``'isotropic'`` (one shared isotropic block variance) or ``'unequal'``."""
        if not self.has_block:
            return "linear"
        return "isotropic" if self.block_variance is not None else "unequal"

    @property
    def variance_range(self) -> tuple:
        """``(lam_min, lam_max)`` of the block's data variances (floats, exact: they are the data)."""
        return float(np.min(self.block_variances)), float(np.max(self.block_variances))

    @property
    def covered(self) -> bool:
        return not self.reason

    @property
    def has_block(self) -> bool:
        return len(self.block_axes) > 0

    @property
    def has_linear(self) -> bool:
        return len(self.linear_axes) > 0 or self.perp_dim > 0

    def linear_variance_values(self) -> list:
        """The distinct data variances of the linear coordinates (perp included)."""
        values = set(float(v) for v in self.linear_variances)
        if self.perp_dim > 0:
            values.add(float(self.perp_variance))
        return sorted(values)

    def coordinates(self, x, t: float):
        """``(z_J, w_lin, w_lin_variances)`` of points ``x`` (shape ``(n, d)``) at forward time ``t``.

        ``z_J = u_J - a m0`` (``(n, k_J)``), and the centred linear coordinates ``w_lin`` (``(n, m)``) with
        the data variance of each column; the orthogonal part enters as one column holding ``|x_perp|``
        (only its norm matters: every orthogonal direction has the same variance).
        """
        target = self.target
        x = np.atleast_2d(np.asarray(x, dtype=float))
        a = math.exp(-t)
        u = x if target.basis is None else x @ target.basis
        z = u[:, list(self.block_axes)] - a * self.block_centre
        w = u[:, list(self.linear_axes)] - a * self.linear_means
        variances = list(self.linear_variances)
        if self.perp_dim > 0:
            perp = x - u @ target.basis.T
            w = np.concatenate([w, np.linalg.norm(perp, axis=1)[:, None]], axis=1)
            variances.append(self.perp_variance)
        return z, w, np.asarray(variances, dtype=float)

    def coordinate_balls(self, x0, t: float):
        """:meth:`coordinates` of the one point ``x0`` as Arb balls holding the exact values: ``(z_J, w_lin,
        variances)``, lists of balls and the float variances (the orthogonal part's column holds its norm ``|x_perp|``).

        Proof. The entries of ``x0``, ``m0`` and the means are floats, exact; ``a = e^{-t}`` is a ball. Without a
        basis ``u = x0``. With one, the target's exact basis is the polar factor ``Q~`` of the stored ``Q``
        (:func:`certsample.verify.enclosure.basis_balls`: ``||Q~ - Q||_2 <= beta``), so ``|x0^T (q~_j - q_j)| <=
        beta |x0|`` and ``u_j = x0^T q~_j`` lies in the ball ``x0^T q_j`` (in Arb) widened by ``beta |x0|``; and
        ``|x_perp|^2 = |x0 - Q~ Q~^T x0|^2 = |x0|^2 - |u|^2`` since ``Q~^T Q~ = I``, bounded above from those balls.
        """
        target = self.target
        x = [arb(float(v)) for v in np.asarray(x0, dtype=float).reshape(-1)]
        a = (-arb(t)).exp()
        if target.basis is None:
            u = x
        else:
            from certsample.verify.enclosure import basis_balls  # lazy: importing proofs stays light

            q, _, beta = basis_balls(target.basis)
            norm = sum((v * v for v in x), arb(0)).sqrt()
            widen = arb(0, upper_float(beta * norm))
            u = [sum((x[i] * q[i][j] for i in range(len(x))), arb(0)) + widen for j in range(len(q[0]))]
        z = [u[j] - a * float(c) for j, c in zip(self.block_axes, self.block_centre)]
        w = [u[j] - a * float(m) for j, m in zip(self.linear_axes, self.linear_means)]
        variances = [float(v) for v in self.linear_variances]
        if self.perp_dim > 0:
            perp_sq = sum((v * v for v in x), arb(0)) - sum((abs(v) ** 2 for v in u), arb(0))
            if perp_sq > 0:
                w.append(perp_sq.sqrt())
            else:  # x0 within rounding of the basis's span: a ball [-r, r] around |x_perp| in [0, r]
                w.append(arb(0, upper_float(arb(max(upper_float(perp_sq), 0.0)).sqrt())))
            variances.append(float(self.perp_variance))
        return z, w, variances


def decompose(target) -> Decomposition:
    """Split ``target`` into its block and its linear coordinates (module docstring).

    Never raises for a valid target: a target outside the covered class is returned with ``reason``
    set (callers raise :class:`NotCovered`).
    """
    keep = target.weights > 0
    means, variances, weights = target.means[keep], target.variances[keep], target.weights[keep]
    k = means.shape[1]
    differ = (np.ptp(means, axis=0) > 0) | (np.ptp(variances, axis=0) > 0)
    block = tuple(int(i) for i in np.flatnonzero(differ))
    linear = tuple(int(i) for i in np.flatnonzero(~differ))
    perp_dim = 0 if target.basis is None else target.dim - k
    reason = ""
    block_variance = None
    centre = np.zeros(len(block))
    offsets = np.zeros((len(weights), len(block)))
    radius = 0.0
    if block:
        bv = variances[:, list(block)]
        if np.all(bv == bv[0, 0]):
            block_variance = float(bv[0, 0])
        bm = means[:, list(block)]
        centre = 0.5 * (bm.max(axis=0) + bm.min(axis=0))
        offsets = bm - centre
        with arb_precision():  # nu_c = mu_c - m0 exactly (the float offsets are rounded)
            r2 = amax([sum(((arb(float(m)) - arb(float(c))) ** 2 for m, c in zip(row, centre)), arb(0)) for row in bm])
            radius = upper_float(r2.sqrt())
    block_means = means[:, list(block)].copy()
    return Decomposition(
        target,
        block,
        block_variance,
        centre,
        offsets,
        block_means,
        weights / weights.sum(),
        radius,
        linear,
        means[0, list(linear)].copy(),
        variances[0, list(linear)].copy(),
        perp_dim,
        float(target.lam_perp),
        reason,
        variances[:, list(block)].copy(),
    )


# ---------------------------------------------------------------------------- start set
class StartSet:
    """``S(T, eta)``: the start points a theorem covers; ``q_T(S) >= 1 - eta`` (module docstring).

    Parameters
    ----------
    target : MixtureTarget
    T : float
        Forward time of the start.
    eta : float
        Mass of ``q_T`` left out, in ``(0, 1)``.

    Attributes
    ----------
    block_radius : float
        ``r_J`` (0 without a block).
    linear_radius : float
        ``r_lin`` (0 without linear coordinates).
    eta_block, eta_linear : float
        The split of ``eta``.
    """

    def __init__(self, target, T: float, eta: float = 1e-6, decomposition: Decomposition | None = None):
        if not 0 < eta < 1:
            raise ValueError(f"eta must be in (0, 1), got {eta!r}")
        T = float(T)
        if not (math.isfinite(T) and T > 0):
            raise ValueError(f"T must be finite and > 0, got {T!r}")
        self.target, self.T, self.eta = target, T, float(eta)
        self.decomposition = decomposition or decompose(target)
        dec = self.decomposition
        parts = int(dec.has_block) + int(dec.has_linear)
        self.eta_block = self.eta / parts if dec.has_block else 0.0
        self.eta_linear = self.eta / parts if dec.has_linear else 0.0
        with arb_precision():
            a = arb(-T).exp()
            self.block_radius = 0.0
            if dec.has_block:
                v = 1 + (arb(dec.variance_range[1]) - 1) * a * a  # the largest block variance
                k_j = len(dec.block_axes)
                tail = (2 * (1 / arb(self.eta_block)).log()).sqrt()
                self.block_radius = upper_float(a * arb(dec.block_radius) + v.sqrt() * (arb(k_j).sqrt() + tail))
            self.linear_radius = 0.0
            if dec.has_linear:
                vs = [1 + (arb(float(lam)) - 1) * a * a for lam in dec.linear_variances]
                counts = [1] * len(vs)
                if dec.perp_dim > 0:
                    vs.append(1 + (arb(dec.perp_variance) - 1) * a * a)
                    counts.append(dec.perp_dim)
                trace = sum((c * v for c, v in zip(counts, vs)), arb(0))
                tail = (2 * (1 / arb(self.eta_linear)).log()).sqrt()
                self.linear_radius = upper_float(trace.sqrt() + amax(vs).sqrt() * tail)

    def parts(self, x):
        """``(|z_J|, |w_lin|)`` of each row of ``x``."""
        z, w, _ = self.decomposition.coordinates(x, self.T)
        return np.linalg.norm(z, axis=1), np.linalg.norm(w, axis=1)

    def contains(self, x) -> np.ndarray:
        """Whether each row of ``x`` lies in the set (float64 comparison, for tests and reports)."""
        block, lin = self.parts(x)
        return (block <= self.block_radius) & (lin <= self.linear_radius)

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` points of ``q_T`` conditioned on the set (rejection; the set holds ``>= 1 - eta``)."""
        rng = np.random.default_rng(seed)
        out = []
        while sum(len(o) for o in out) < n:
            x = self.target.sample(2 * n, rng, t=self.T)
            out.append(x[self.contains(x)])
        return np.concatenate(out)[:n]

    def boundary_points(self, n: int, seed=None, fraction: float = 1.0) -> np.ndarray:
        """``n`` points with ``|z_J| = fraction r_J`` and ``|w_lin| = fraction r_lin`` in random directions."""
        rng = np.random.default_rng(seed)
        dec, target = self.decomposition, self.target
        a = math.exp(-self.T)
        k = target.means.shape[1]
        u = np.zeros((n, k))
        if dec.has_block:
            g = rng.standard_normal((n, len(dec.block_axes)))
            g *= fraction * self.block_radius / np.linalg.norm(g, axis=1, keepdims=True)
            u[:, list(dec.block_axes)] = a * dec.block_centre + g * (1 - 1e-12)
        m = len(dec.linear_axes)
        perp = np.zeros((n, target.dim))
        if dec.has_linear:
            g = rng.standard_normal((n, m + (target.dim if dec.perp_dim else 0)))
            if dec.perp_dim:
                # project the orthogonal part so that it lies off the basis
                tail = g[:, m:] - (g[:, m:] @ target.basis) @ target.basis.T
                g = np.concatenate([g[:, :m], tail], axis=1)
            g *= fraction * self.linear_radius * (1 - 1e-12) / np.linalg.norm(g, axis=1, keepdims=True)
            u[:, list(dec.linear_axes)] = a * dec.linear_means + g[:, :m]
            if dec.perp_dim:
                perp = g[:, m:]
        x = u if target.basis is None else u @ target.basis.T + perp
        return x

    def __repr__(self) -> str:
        return (
            f"StartSet(T={self.T:g}, eta={self.eta:g}: |u_J - a_T m0| <= {bound_text(self.block_radius, 6)}, "
            f"|w_lin| <= {bound_text(self.linear_radius, 6)})"
        )


# ---------------------------------------------------------------------------- quadrature
_RHOS = (4096.0, 1024.0, 256.0, 64.0, 16.0, 8.0, 4.0, 2.5, 1.6, 1.25)
MAX_NODES = 40
_RULES = {}


def _gl_rule(m: int):
    key = (m, flint_module().ctx.prec)
    if key not in _RULES:
        _RULES[key] = [flint_module().arb.legendre_p_root(m, j, weight=True) for j in range(m)]
    return _RULES[key]


def expectation(f, lo, hi, tol, depth: int = 0) -> list:
    """Enclosures of ``int_lo^hi f(u) du`` for a vector-valued integrand (module docstring).

    Parameters
    ----------
    f : callable
        ``u -> list`` of values, written with ``+ - * /`` and ``.exp()`` only, so that it runs on real
        balls (the nodes) and complex balls (the ellipse's rectangle).
    lo, hi : arb
        Interval ends (exact balls).
    tol : float
        Target absolute error of each component (the returned balls are proved whatever it is).

    Returns
    -------
    list of arb
    """
    flint = flint_module()
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    best = None
    for rho_f in _RHOS:
        rho = arb(rho_f)
        semi_re = upper_float(half * (rho + 1 / rho) / 2)
        semi_im = upper_float(half * (rho - 1 / rho) / 2)
        box = flint.acb(mid + arb(0, semi_re), arb(0, semi_im))
        values = f(box)
        if not all(v.is_finite() for v in values):
            continue
        bounds = [abs(v).upper() for v in values]
        top = amax(bounds)
        scale = half * 64 * top / (15 * (rho * rho - 1))
        need = 2
        if scale > 0:
            need = max(2, 1 + math.ceil(upper_float((scale / tol).log() / (2 * rho.log()))))
        if best is None or need < best[0]:
            best = (need, rho, bounds)
        if need <= 8:
            break
    if best is None or best[0] > MAX_NODES:
        if depth > 40:
            raise ArithmeticError("expectation: the integrand is not analytic near the interval")
        left = expectation(f, lo, mid, tol / 2, depth + 1)
        right = expectation(f, mid, hi, tol / 2, depth + 1)
        return [x + y for x, y in zip(left, right)]
    m, rho, bounds = best
    sums = None
    for node, weight in _gl_rule(m):
        values = f(mid + half * node)
        sums = [weight * v for v in values] if sums is None else [s + weight * v for s, v in zip(sums, values)]
    decay = rho ** (-2 * (m - 1)) / (rho * rho - 1)
    return [half * s + arb(0, upper_float(half * 64 * b * decay / 15)) for s, b in zip(sums, bounds)]


# ---------------------------------------------------------------------------- sups over time intervals
def time_scales(lam, t_lo, t_hi):
    """``(a, v)`` over forward times ``[t_lo, t_hi]`` as balls: ``a = e^{-t}``, ``v = 1 + (lam - 1) a^2``."""
    a = arb_interval(t_lo, t_hi).__neg__().exp()
    return a, 1 + (arb(lam) - 1) * a * a


def scale_ends(lam, t_lo, t_hi):
    """``(a_hi, v_lo, v_hi)``, exact balls with ``a <= a_hi``, ``v_lo <= v <= v_hi`` and ``v_lo > 0`` for ``a =
    e^{-t}`` and ``v = 1 + (lam - 1) a^2`` at every forward time in ``[t_lo, t_hi]``: ``a`` is decreasing in ``t`` and
    ``v`` affine in ``a^2``, so their ranges come from the ends (products of the balls of :func:`time_scales` over a
    wide time range overestimate, and a square of ``v`` can then reach 0 and turn a quotient into NaN). The
    quantities bounded with them below are monotone in ``a >= 0`` and in ``v > 0`` with nonnegative numerators, so
    each is bounded by its value at the matching ends. Raises :class:`NotCovered` if ``v`` is not bounded away from
    0."""
    t_lo, t_hi = arb(t_lo).lower(), arb(t_hi).upper()
    a_hi = (-t_lo).exp().upper()
    x = arb_interval((-2 * t_hi).exp().lower(), (-2 * t_lo).exp().upper())
    v_lo, v_hi = _affine_range(arb(lam), x)
    return a_hi, v_lo, v_hi


def posterior_covariance_sup(dec: Decomposition, t_lo, t_hi):
    """``C`` (an exact ball) with ``lambda_max Cov_r(nu) <= C`` at every point and forward time in
    ``[t_lo, t_hi]`` (module docstring): Popoviciu's bound, or the circle-tilt or tempered posterior bound of
    :func:`certsample.lipschitz.posterior_spread_on` (proofs there), widened by ``_GUARD`` for its float64
    evaluation."""
    from certsample.lipschitz import posterior_spread_on

    best = _popoviciu(dec)
    if len(dec.block_means) > 1 and len(dec.block_axes) <= 2:
        # the float ends taken outward (a piece's ends are balls): a sup over a wider time range bounds this one
        spread = posterior_spread_on(dec.target, lower_float(t_lo), upper_float(t_hi))
        best = best.min(arb(spread) * (1 + _GUARD))
    return best.upper()


def _popoviciu(dec: Decomposition):
    """``diam^2 / 4`` of the block means (an exact ball; computed once per decomposition)."""
    if "popoviciu" not in dec._cache:
        nu = dec.block_means
        if len(nu) < 2:
            dec._cache["popoviciu"] = arb(0)
        else:
            # float sums of k_J squared differences err by a relative (k_J + 4) 2^-53 at most (no
            # cancellation: the terms are squares); 1e-13 covers that for k_J <= 900
            if nu.shape[1] > 900:
                raise NotCovered("block of more than 900 coordinates: the rounding allowance does not cover it")
            diffs = nu[:, None, :] - nu[None, :, :]
            top = float(np.max(np.sum(diffs**2, axis=2)))
            dec._cache["popoviciu"] = (arb(top) * (1 + 1e-13) / 4).upper()
    return dec._cache["popoviciu"]


def block_lipschitz_sup(dec: Decomposition, t_lo, t_hi):
    """``L >= ||grad s_J(u, t)||`` for every ``u`` and ``t in [t_lo, t_hi]`` (an exact ball): ``max(1/v, a^2 C / v^2 -
    1/v)`` with each term at its ends (:func:`scale_ends`)."""
    a_hi, v_lo, v_hi = scale_ends(dec.block_variance, t_lo, t_hi)
    c = posterior_covariance_sup(dec, t_lo, t_hi)
    return (1 / v_lo).upper().max((a_hi * a_hi * c / (v_lo * v_lo) - 1 / v_hi).upper())


def block_one_sided_sup(dec: Decomposition, t_lo, t_hi):
    """``mu >= lambda_max(I + grad s_J(u, t))`` for every ``u`` and ``t in [t_lo, t_hi]``: ``1 - 1/v + a^2 C / v^2`` at
    its ends (:func:`scale_ends`)."""
    a_hi, v_lo, v_hi = scale_ends(dec.block_variance, t_lo, t_hi)
    c = posterior_covariance_sup(dec, t_lo, t_hi)
    return (1 - 1 / v_hi + a_hi * a_hi * c / (v_lo * v_lo)).upper()


# ---------------------------------------------------------------------------- unequal variances on a ball
_VARIANCE_PIECES = 8  # the block variances as balls: the distinct values, or this many pieces of their range


def reference_variance(dec: Decomposition) -> float:
    """``lam0``, the frame's variance for kind ``'unequal'``: the harmonic middle of the block variances' range
    (any ``lam0 >= 0`` is valid; this one balances ``|1/V - 1/v|`` at small times)."""
    lo, hi = dec.variance_range
    return 2 * lo * hi / (lo + hi) if lo + hi > 0 else 0.0


def variance_balls(dec: Decomposition) -> list:
    """Balls that together contain every block variance ``lam_ci``: the distinct values (at most eight), else
    eight pieces of their range."""
    values = np.unique(dec.block_variances)
    if values.size <= _VARIANCE_PIECES:
        return [arb(float(x)) for x in values]
    edges = np.linspace(values[0], values[-1], _VARIANCE_PIECES + 1)
    edges[0], edges[-1] = values[0], values[-1]
    return [arb_interval(float(lo), float(hi)) for lo, hi in zip(edges[:-1], edges[1:])]


def unequal_rates(dec: Decomposition, t_lo, t_hi) -> dict:
    """Upper bounds (exact balls) over forward times ``[t_lo, t_hi]`` and every block variance ``lam`` (``x = a^2``,
    ``v = 1 + (lam - 1) x``, ``V = 1 + (lam0 - 1) x``; :mod:`proofs.midpoint_ms`, step U):

    ``a``; ``inv >= 1/v``; ``inv_min <= 1/v`` (a lower bound); ``growth >= 1 - 1/v = (lam - 1) x / v`` (signed);
    ``one_minus >= |1 - 1/v|``; ``beta >= |1/V - 1/v| = |lam - lam0| x / (V v)``; ``rho >= |v - 1| / v^2``;
    ``sigma2 >= |2 - v| / v^2``; ``gamma >= |(v - 1)/v^2 - (V - 1)/V^2| = |lam - lam0| x |v V - V - v| / (v^2 V^2)``
    (the identity: ``(v - 1) V^2 - (V - 1) v^2 = (V - v)(v V - V - v)``). For ``lam`` in one of
    :func:`variance_balls` and ``x`` over the interval, ``v`` and ``V`` lie between their values at the corners
    (:func:`_affine_range`; both at least ``min(1, lam) > 0``), and each expression is bounded by its value at
    the ends where it is monotone: ``1/v``, ``1 - 1/v`` and ``|2 - v|``, ``|1 - 1/v|`` at the ends of ``v``,
    quotients by the lower ends of ``v`` and ``V`` with numerators at their upper ends, and the bilinear
    ``|v V - V - v|`` at the four corners (``v`` and ``V`` taken independently, which only widens).
    """
    lam0 = arb(reference_variance(dec))
    a = arb_interval(t_lo, t_hi).__neg__().exp()
    x = a * a
    x_hi = x.upper()
    V_lo, V_hi = _affine_range(lam0, x)
    parts = {k: [] for k in ("inv", "inv_min", "growth", "one_minus", "beta", "rho", "sigma2", "gamma")}
    for lam in variance_balls(dec):
        # v and V are affine in x and in lam, so their ranges come from the ends (no ball product, whose
        # midpoint-radius overestimate could reach 0 and turn a quotient into NaN); every quotient below is
        # monotone in each of v, V on the positive ranges (v, V >= min(1, lam) > 0 for x in (0, 1])
        v_lo, v_hi = _affine_range(lam, x)
        diff = abs(lam - lam0).upper() * x_hi
        parts["inv"].append(1 / v_lo)
        parts["inv_min"].append(-(1 / v_hi))  # upper of -1/v: minus a lower bound of 1/v
        parts["growth"].append(1 - 1 / v_hi)  # (lam - 1) x / v = 1 - 1/v, increasing in v
        parts["one_minus"].append(abs(1 - 1 / v_lo).max(abs(1 - 1 / v_hi)))
        parts["beta"].append(diff / (V_lo * v_lo))
        parts["rho"].append(abs(lam - 1).upper() * x_hi / (v_lo * v_lo))
        parts["sigma2"].append(abs(2 - v_lo).max(abs(2 - v_hi)) / (v_lo * v_lo))
        # v V - V - v is bilinear in (v, V): its largest modulus is at a corner
        corner = max((abs(p * q - p - q) for p in (v_lo, v_hi) for q in (V_lo, V_hi)), key=lambda b: b.upper())
        parts["gamma"].append(diff * corner.upper() / (v_lo * v_lo * V_lo * V_lo))
    out = {k: amax(vals) for k, vals in parts.items()}
    out["inv_min"] = -out["inv_min"]
    out["a"] = a.upper()
    return out


def _affine_range(lam, x):
    """Exact balls ``(lower, upper)`` of ``1 + (lam - 1) x`` over the balls ``lam`` and ``x`` (affine in each, so
    its extremes are at the corners of the two ranges); raises if the lower end is not positive."""
    lam_ends, x_ends = (lam.lower(), lam.upper()), (x.lower(), x.upper())
    values = [1 + (l - 1) * y for l in lam_ends for y in x_ends]
    lo = values[0].lower()
    hi = values[0].upper()
    for value in values[1:]:
        lo, hi = lo.min(value.lower()), hi.max(value.upper())
    if not lo > 0:
        raise NotCovered(f"a variance 1 + (lam - 1) a^2 is not bounded away from 0 (lower end {lo})")
    return lo, hi


def ball_sup(dec: Decomposition, t_lo, t_hi, ball, kind: str = "lipschitz"):
    """An upper bound (exact ball) of the block's Lipschitz constant (``kind='lipschitz'``) or of ``lambda_max(I +
    grad s_J)`` (``'one_sided'``) at every ``z`` with ``|z| <= ball`` and forward time in ``[t_lo, t_hi]`` (balls):
    the smaller of :func:`certsample.lipschitz.sup_on` on the ball ``|y| <= a_max |m0| + ball`` of the basis
    coordinates and the direct bound of :mod:`proofs.midpoint_ms` step U3 (``max(inv, D^2 - inv_min)``,
    ``1 - inv_min + D^2``, ``D = a R inv + beta ball``)."""
    from certsample.lipschitz import shared_radius, sup_on

    rates = unequal_rates(dec, t_lo, t_hi)
    ball = arb(ball)
    dmax = rates["a"] * arb(dec.block_radius) * rates["inv"] + rates["beta"] * ball
    if kind == "lipschitz":
        direct = rates["inv"].max((dmax * dmax - rates["inv_min"]).upper())
    else:
        direct = (1 - rates["inv_min"] + dmax * dmax).upper()
    if "centre_norm" not in dec._cache:
        dec._cache["centre_norm"] = sum((arb(float(c)) ** 2 for c in dec.block_centre), arb(0)).sqrt().upper()
    radius = upper_float(rates["a"] * dec._cache["centre_norm"] + ball)
    if not math.isfinite(radius):
        return direct
    lo, hi = max(0.0, lower_float(arb(t_lo))), upper_float(arb(t_hi))
    proved = sup_on(dec.target, lo, hi, radius=shared_radius(radius), kind=kind)
    if not direct.is_finite():  # a NaN or infinite direct bound must not discard a finite proved one
        return arb(proved).upper()
    return direct.min(arb(proved)).upper()
