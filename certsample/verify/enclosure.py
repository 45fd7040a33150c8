r"""Rigorous enclosures of the exact probability-flow map, in ball arithmetic (python-flint's ``arb``).

:func:`enclose_flow` returns, for a start point ``x0`` at forward time ``T``, a ball ``(center,
radius)`` in the Euclidean norm that provably contains the exact solution at ``delta`` of the
probability-flow ODE of a built-in :class:`~certsample.targets.MixtureTarget`:

.. math::  \frac{dx}{dt} = -x - \nabla \log q_t(x), \qquad t \text{ from } T \text{ down to } \delta .

Every number below is an ``arb`` ball (or an ``acb`` complex ball) at ``prec`` bits: each operation
returns a ball that contains the exact result of the operation on every point of its inputs
(outward rounding is Arb's contract), so every inequality used in the proof is checked on true
upper bounds.

Decomposition (exact)
---------------------
A target is ``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))`` with ``Q`` of orthonormal
columns. The score is ``Q s_k(Q^T x, t) - (x - Q Q^T x) / v_perp(t)`` with ``v_perp = a^2 lam_perp +
sigma^2`` (``a = e^{-t}``, ``sigma^2 = 1 - e^{-2t}``), so ``y = Q^T x`` solves the ``k``-dimensional
flow of the mixture ``sum_c w_c N(mu_c, diag(lam_c))`` and the orthogonal part is the flow of a
centred Gaussian, ``x_perp(delta) = sqrt(v_perp(delta) / v_perp(T)) x_perp(T)`` (check: ``x = c
sqrt(v)`` gives ``dx/dt = x v' / (2 v) = x (1/v - 1)`` because ``v' = -2 (v - 1)``). A single
Gaussian (``K = 1``) is the same closed form in every coordinate, around the mean ``a mu``. Only a
mixture with ``K > 1`` needs the integrator below, and only in ``k`` dimensions. (The stored basis is
orthonormal to rounding: ``max |Q^T Q - I| <= 1e-14``, which the target ensures by re-orthonormalising
a looser basis. The target's exact basis is taken to be the polar factor ``Q~ = Q (Q^T Q)^{-1/2}`` of the
stored columns, exactly orthonormal and within ``beta`` of them in the 2-norm (:func:`basis_balls`); the maps
are evaluated with ``Q`` and widened by ``beta``: ``Q~^T x`` lies within ``beta |x|`` of ``Q^T x`` in every
coordinate, and ``Q~ y`` within ``beta |y|`` of ``Q y``.)

Integrator (a validated Taylor method with Cauchy remainders and a log-norm Gronwall step)
------------------------------------------------------------------------------------------
Write ``tau`` for reverse time inside a step from ``t_j``: ``t = t_j - tau``, ``dy/dtau = F(y, t) = y
+ s_k(y, t)``. Step ``j`` holds a point ``c_j`` (exact binary numbers) and a proved radius ``E_j``
with ``y(t_j) in X_j = B(c_j, E_j)``.

1. *A-priori enclosure on a complex disc.* For a complex radius ``rho`` let ``S_rho`` be the square
   ``[-rho, rho] + i [-rho, rho]`` (it contains the disc ``|tau| <= rho``) and find a complex box
   ``Y`` with ``X_j + S_rho * F(Y, t_j - S_rho) subseteq Y``. ``F`` is analytic on ``Y x (t_j -
   S_rho)``: its ball evaluation is finite, every variance ``v`` there has ``Re v > 0`` (principal
   ``log``) and the mixture's normaliser excludes 0. The Picard operator ``P y(tau) = y_0 +
   int_0^tau F(y(sigma), t_j - sigma) d sigma`` (straight path; ``S_rho`` is star-shaped about 0)
   maps analytic functions ``S_rho -> Y`` into themselves, since the integral is ``tau`` times an
   average of values in the convex box ``F(Y, .)``; ``F`` is Lipschitz on the compact convex ``Y``,
   so ``P`` is a contraction in a Bielecki norm and has a unique fixed point, analytic on the open
   square, whose restriction to real ``tau in [0, rho]`` is the real solution (uniqueness). Hence
   every solution from ``X_j`` stays in ``Y`` for ``|tau| <= rho``.

2. *Taylor polynomial of the point trajectory.* The Taylor coefficients ``z_n`` of the solution
   ``z`` from the point ``c_j`` are computed in ``arb_series`` arithmetic by Picard iteration on
   truncated power series (iteration ``n`` fixes coefficient ``n`` exactly; ball arithmetic encloses
   the rounding). By Cauchy's estimate on the disc, ``|z_{n,i}| <= R_i / rho^n`` with ``R_i =
   sup_{w in Y_i} |w - c_{j,i}|`` (``n >= 1``), so for ``0 < h < rho`` the tail of the series obeys
   ``|z_i(h) - sum_{n<=m} z_{n,i} h^n| <= R_i q^{m+1} / (1 - q)``, ``q = h / rho``. The step's new
   point ``c_{j+1}`` is the midpoint of that sum and ``eps_j`` bounds ``|z(h) - c_{j+1}|_2``.

3. *Gronwall with a one-sided Lipschitz bound.* The Jacobian of ``F`` is ``I + H`` with ``H =
   Hess log q_t = -sum_c r_c D_c^{-1} + Cov_r(g_c)``, ``D_c = diag(v_c)``, ``g_c = D_c^{-1} (y - a
   mu_c)``, ``r_c`` the responsibilities. It is symmetric, and by Weyl ``lambda_max(I + H) <= 1 -
   min_{c,i} 1 / v_{c,i} + tr Cov_r(g)``, with ``tr Cov_r(g) <= sum_c r_c |g_c - p|^2`` for any
   fixed ``p`` (see :meth:`FlowModel.log_norm`).
   ``mu_j`` is that expression in ball arithmetic over the real box ``Re Y`` (which holds every
   real solution from ``X_j`` on ``[0, h]``, by step 1) and ``t in [t_j - h, t_j]``. For two
   solutions ``x, z`` in the convex box, ``d/dtau |x - z|^2 / 2 = <x - z, int_0^1 J(z + theta (x -
   z)) d theta (x - z)> <= mu_j |x - z|^2``, so ``|x(h) - z(h)| <= e^{mu_j h} E_j``.

4. *Pruning (mixtures with far-apart components).* Components whose ``u_c = e^{l_c - l_*}`` is
   below a tiny threshold on the real box of step 1 are left out of the Taylor computation: ``z``
   then solves the pruned ODE ``z' = F_p(z)`` (validated by step 1 with the pruned drift). With
   ``P = sum_pruned u_c (G_c - G_*)``, ``Q = sum_pruned u_c`` and ``Z_p + Q >= 1``, ``|F - F_p| <=
   |P| + |D_p| Q =: Delta`` on the box holding ``z``, and ``d/dtau |x - z| <= mu_j |x - z| + Delta``
   gives ``|x(h) - z(h)| <= e^{mu_j h} E_j + Delta h (e^{mu_j h} + 1)``; ``mu_j`` is taken over the
   hull of both boxes.

Together: ``y(t_j - h) in B(c_{j+1}, E_{j+1})`` with ``E_{j+1} = e^{mu_j h} E_j + eps_j (+ the
pruning term)``, evaluated as an upper bound. Induction over the steps gives the enclosure at
``delta``. No wrapping effect arises: sets are propagated as Euclidean balls through a proved bound
on the flow's expansion, not as boxes through interval Jacobians.

Frame. Inside a step the state is written ``y = a mu_* + g w`` with ``g_i = sqrt(v_{*,i}(t))``
around the component ``*`` with the largest responsibility at the step's start: that is the exact
flow of component ``*`` alone (``dg/dtau = g (1 - 1/v_*)``, ``da/dtau = a``), so ``dw/dtau = (sum_{c
!= *} r_c (G_c - G_*)) / g`` with ``G_c = a mu_c / v_c - y (1/v_c - 1/v_*)``, which is small where
the particle sits near a mode. Steps 1-3 are carried out for ``w`` (steps 1-2) and ``y`` (step 3);
the change of frame is exact, so the proof is unchanged.

Cost
----
The mixture part costs ``O(K k)`` ball operations per drift evaluation, ``m`` (the Taylor order)
evaluations per step for the coefficients plus a few for the validation and the log-norm; the number
of steps is set by the radius of analyticity, which shrinks like ``t`` near ``delta``. The orthogonal
part and Gaussian targets cost ``O(d k)``. So the cost grows linearly in the intrinsic dimension ``k``
and not with the ambient ``d``: see ``docs/performance.md`` for measured Taylor orders, steps and
seconds per trajectory.

References
----------
.. [1] N. S. Nedialkov, K. R. Jackson, G. F. Corliss, "Validated solutions of initial value problems
   for ordinary differential equations", Appl. Math. Comput. 105 (1999).
.. [2] F. Johansson, "Arb: efficient arbitrary-precision midpoint-radius interval arithmetic",
   IEEE Trans. Computers 66 (2017).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..targets import ORTHONORMAL_TOLERANCE
from ..validation import check_int
from .errors import EnclosureFailed

__all__ = [
    "Enclosure",
    "enclose_flow",
    "proved_errors",
    "FlowModel",
    "a_priori_enclosure",
    "taylor_remainder_step",
    "log_norm_growth",
]


def _flint():
    try:
        import flint
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError("rigorous enclosures need python-flint (pip install python-flint)") from exc
    return flint


MAX_ORDER = 120


@contextmanager
def _precision(bits: int):
    """Working precision ``bits`` and a power-series cap above every Taylor order used here (Arb
    truncates every series operation at ``ctx.cap`` terms, whatever the operands' lengths)."""
    ctx = _flint().ctx
    old = ctx.prec, ctx.cap
    ctx.prec, ctx.cap = bits, MAX_ORDER + 2
    try:
        yield
    finally:
        ctx.prec, ctx.cap = old


def proved_errors(samples, centers, radii):
    """``(lower, upper)`` with ``lower <= |samples[p] - x| <= upper`` for every ``x`` in ``B(centers[p], radii[p])``.

    ``|x - c| -/+ r``: the computed ``|x - c|`` (rounded differences, a sum of ``d`` squares, a square root) is
    within a relative ``(d + 3) u`` of the exact one where no square underflows, and within :func:`_underflow`
    more absolutely where some do, so a margin ``2 (d + 4) u``, that term and ``nextafter`` on each later operation
    round the bounds outward. A sample with a NaN or infinite coordinate gets ``inf`` for both (see below).
    """
    d = samples.shape[1]
    gap = np.linalg.norm(samples - centers, axis=1)
    margin = 2 * (d + 4) * 2.0**-53
    high, low = np.nextafter(gap * (1 + margin), np.inf), np.nextafter(gap * (1 - margin), -np.inf)
    tiny = gap < TINY_NORM
    high = np.where(tiny, np.nextafter(high + _underflow(d), np.inf), high)
    low = np.where(tiny, np.nextafter(low - _underflow(d), -np.inf), low)
    upper = np.nextafter(high + radii, np.inf)
    lower = np.where(np.isfinite(gap), np.maximum(0.0, np.nextafter(low - radii, -np.inf)), 0.0)  # gap overflowed
    # a sample that is not a point (NaN, inf) is at no finite distance: its error is inf both ways, so it counts
    # above every eps (a NaN bound never compares above one)
    invalid = ~np.isfinite(samples).all(axis=1)
    return np.where(invalid, math.inf, lower), np.where(invalid, math.inf, upper)


#: below this a norm summed from squares may have lost squares to underflow beyond its relative margin (above it the
#: largest entry is above ``2^-500`` for any ``d < 2^40``, and ``d`` lost squares of at most ``2^-1074`` are within
#: a relative ``d 2^-74`` of its square)
TINY_NORM = 2.0**-480


def _underflow(d: int) -> float:
    """``sqrt(d 2^-1074)`` rounded up: what ``d`` squares lost to underflow can take from a norm (at most)."""
    return float(np.nextafter(math.sqrt(d) * 2.0**-537, np.inf))


@dataclass
class Enclosure:
    """A Euclidean ball that provably contains the exact flow of ``x0`` from ``T`` to ``delta``.

    ``radius`` is an upper bound, in float64 rounded up, of ``|x(delta) - center|_2``, where
    ``center`` is the float64 vector stored here (its own rounding is included in the radius).
    """

    center: np.ndarray
    radius: float
    T: float
    delta: float
    steps: int
    growth: float  # proved bound of the flow's expansion factor over [delta, T] (mixture part)

    def contains(self, x) -> bool:
        """Whether ``x`` is inside the ball (a float64 comparison, for tests and reports)."""
        return bool(np.linalg.norm(np.asarray(x, dtype=float) - self.center) <= self.radius)

    def error_bound(self, x) -> float:
        """Proved upper bound of ``|x - x_exact(delta)|``: ``|x - center| + radius``, rounded up
        (:func:`proved_errors`)."""
        x = np.asarray(x, dtype=float).reshape(1, -1)
        return float(proved_errors(x, self.center.reshape(1, -1), np.array([self.radius]))[1][0])


def _upper(ball) -> float:
    """A float64 upper bound of a real ball."""
    return float(np.nextafter(float(ball.upper()), math.inf))


class FlowModel:
    """The mixture of a target in its own ``k`` coordinates, as exact binary balls.

    Inside a step the state is written ``y = a mu_* + g * w`` (``a = e^{-t}``, ``g_i = sqrt(v_{*,i})``)
    around a reference component ``*``: that is the exact flow of component ``*`` alone, so ``w``
    moves only through the other components' responsibilities. :meth:`drift` is ``dw/dtau``; it
    takes ``w`` as a list of ``k`` numbers of any Arb type (``arb``, ``acb``, ``arb_series``) and
    ``a``, ``e2 = e^{-2t}`` of the same kind.
    """

    def __init__(self, target):
        arb = _flint().arb
        self.k = target.means.shape[1]
        keep = [c for c in range(target.n_components) if target.weights[c] > 0]
        self.means = [[arb(float(m)) for m in target.means[c]] for c in keep]
        self.n_components = len(keep)
        lams = sorted({float(v) for v in target.variances.ravel()})
        self.lams = [arb(v) for v in lams]
        self.lam_index = [[lams.index(float(v)) for v in target.variances[c]] for c in keep]
        self.log_weights = [arb(float(target.weights[c])).log() for c in keep]
        self._means_float = target.means[keep]
        self._var_float = target.variances[keep]
        self._logw_float = np.log(target.weights[keep])
        self._pairs = {}

    def variances(self, e2, check_complex=False):
        """``v = 1 + (lam - 1) e^{-2t}`` for each distinct data variance ``lam``."""
        v = [1 + (lam - 1) * e2 for lam in self.lams]
        if check_complex and not all(vi.real.lower() > 0 for vi in v):
            raise _NotAnalytic("a variance leaves the right half-plane")
        return v

    def reference_component(self, y, t: float) -> int:
        """The component with the largest responsibility at the float point ``(y, t)``."""
        a, s2 = math.exp(-t), -math.expm1(-2 * t)
        var = a * a * self._var_float + s2
        y = np.array([float(v.mid()) for v in y])
        logp = self._logw_float - 0.5 * np.sum((y - a * self._means_float) ** 2 / var + np.log(var), axis=1)
        return int(np.argmax(logp))

    def scales(self, star, a, e2, check_complex=False):
        """``(a mu_*, g, v)``: the frame of the reference component ``*`` and all variances."""
        v = self.variances(e2, check_complex)
        idx = self.lam_index[star]
        return [a * m for m in self.means[star]], [_sqrt(v[idx[i]]) for i in range(self.k)], v

    def _pair(self, star, c):
        """Constants of the pair ``(*, c)``: ``mu_c - mu_*``, and per shared variance index ``j`` the
        coordinates where ``v_c = v_*`` (their ``|mu_c - mu_*|^2``), and the other coordinates."""
        key = (star, c)
        if key not in self._pairs:
            arb = _flint().arb
            d_mu = [self.means[c][i] - self.means[star][i] for i in range(self.k)]
            shared, other = {}, []
            for i in range(self.k):
                j = self.lam_index[c][i]
                if j == self.lam_index[star][i]:
                    shared.setdefault(j, []).append(i)
                else:
                    other.append(i)
            groups = [(j, idx, sum((d_mu[i] * d_mu[i] for i in idx), arb(0))) for j, idx in shared.items()]
            self._pairs[key] = (d_mu, groups, other, self.log_weights[c] - self.log_weights[star])
        return self._pairs[key]

    def _relative_terms(self, star, diff_star, a, v, inv_v, c, a_iv):
        """``(l_c - l_*, {i: G_{c,i} - G_{*,i}})`` for a component ``c != *``, the shared-variance
        coordinates' terms left as ``a_iv[j] (mu_c - mu_*)_i`` for the caller to factor.

        ``l`` are the log-responsibility numerators and ``G_c = a mu_c / v_c - y (1/v_c - 1/v_*)``;
        where ``v_c = v_*`` both are linear in ``y`` (no cancellation of large terms):
        ``l_c - l_* = log(w_c / w_*) - (a/v) sum_i (mu_c - mu_*)_i ((a/2) (mu_c - mu_*)_i - (y - a mu_*)_i)``.
        """
        d_mu, groups, other, dl = self._pair(star, c)
        for j, idx, sq in groups:
            dot = 0
            for i in idx:
                dot = dot + diff_star[i] * d_mu[i]
            dl = dl + a_iv[j] * (dot - a * sq / 2)
        terms = {}
        for i in other:
            jc, js = self.lam_index[c][i], self.lam_index[star][i]
            ic, is_ = inv_v[jc], inv_v[js]
            diff_c = diff_star[i] - a * d_mu[i]
            dl = dl - (diff_c * diff_c * ic - diff_star[i] * diff_star[i] * is_ + v[jc].log() - v[js].log()) / 2
            terms[i] = (
                a * self.means[c][i] * ic
                - a * self.means[star][i] * is_
                - (diff_star[i] + a * self.means[star][i]) * (ic - is_)
            )
        return dl, d_mu, groups, terms

    def drift(self, w, a, e2, star, check_complex=False, comps=None):
        """``dw/dtau = (sum_{c != *} r_c (G_c - G_*)) / g`` (see the module docstring).

        ``comps`` restricts the mixture to those components (the pruned drift of step 4).
        """
        _, g, v = self.scales(star, a, e2, check_complex)
        inv_v = [1 / vi for vi in v]
        a_iv = [a * iv for iv in inv_v]
        diff_star = [gi * wi for gi, wi in zip(g, w)]
        total = 1
        shared_acc = [0] * self.k  # sum_c u_c (mu_c - mu_*)_i, times a / v_i at the end
        other_acc = [0] * self.k
        for c in range(self.n_components) if comps is None else comps:
            if c == star:
                continue
            dl, d_mu, groups, terms = self._relative_terms(star, diff_star, a, v, inv_v, c, a_iv)
            u = dl.exp()
            total = total + u
            for _, idx, _ in groups:
                for i in idx:
                    shared_acc[i] = shared_acc[i] + u * d_mu[i]
            for i, term in terms.items():
                other_acc[i] = other_acc[i] + u * term
        if check_complex and _contains_zero(total):
            raise _NotAnalytic("the mixture's normaliser may vanish")
        inv_total = 1 / total
        idx_s = self.lam_index[star]
        return [(a_iv[idx_s[i]] * shared_acc[i] + other_acc[i]) * inv_total / g[i] for i in range(self.k)]

    def _box_terms(self, y, a, e2, star):
        """Over a real box: ``u_c = e^{l_c - l_*}`` and ``G_c - G_*`` (``u_* = 1``, zero terms)."""
        arb = _flint().arb
        v = self.variances(e2)
        inv_v = [1 / vi for vi in v]
        a_iv = [a * iv for iv in inv_v]
        diff_star = [yi - a * m for yi, m in zip(y, self.means[star])]
        u, terms = [], []
        for c in range(self.n_components):
            if c == star:
                u.append(arb(1))
                terms.append([arb(0)] * self.k)
                continue
            dl, d_mu, groups, other = self._relative_terms(star, diff_star, a, v, inv_v, c, a_iv)
            u.append(dl.exp())
            idx_s = self.lam_index[star]
            terms.append([other[i] if i in other else a_iv[idx_s[i]] * d_mu[i] for i in range(self.k)])
        return u, terms, inv_v

    def significant(self, y, a, e2, star, threshold=1e-40):
        """Components whose ``u_c`` may exceed ``threshold`` somewhere on the real box ``y``."""
        u, _, _ = self._box_terms(y, a, e2, star)
        return [c for c in range(self.n_components) if c == star or _upper(u[c]) > threshold]

    def pruning_bound(self, y, a, e2, star, comps):
        """Upper bound of ``|F(y) - F_comps(y)|_2`` over the real box ``y`` (step 4 of the proof).

        With ``A, Z_p`` the kept sums and ``P = sum_pruned u_c (G_c - G_*)``, ``Q = sum_pruned u_c``:
        ``F - F_p = P / (Z_p + Q) - D_p Q / (Z_p + Q)``, and ``Z_p + Q >= 1`` (``u_* = 1``).
        """
        arb = _flint().arb
        u, terms, _ = self._box_terms(y, a, e2, star)
        kept = set(comps)
        total = sum((u[c] for c in kept), arb(0))
        d_p = [sum((u[c] * terms[c][i] for c in kept), arb(0)) / total for i in range(self.k)]
        pruned_mass = sum((u[c] for c in range(self.n_components) if c not in kept), arb(0))
        bound = []
        for i in range(self.k):
            p_i = sum((abs(u[c] * terms[c][i]) for c in range(self.n_components) if c not in kept), arb(0))
            bound.append(_upper(p_i + abs(d_p[i]) * pruned_mass))
        return _norm_upper(bound)

    def log_norm(self, y, a, e2, star):
        """Upper bound of ``lambda_max`` of the drift's symmetric Jacobian over the real box ``y``.

        ``tr Cov_r(g) = sum_i Var_r(g_{c,i}) <= sum_i sum_c r_c (g_{c,i} - p_i)^2`` for any fixed
        ``p`` (the mean minimises it); ``p`` is the mean under the midpoint responsibilities. In a
        coordinate where every component has the same variance, ``g_{c,i} = (y_i - a mu_{c,i}) / v_i``
        and the ``y_i`` cancels: ``Var_r(g_{c,i}) = (a / v_i)^2 Var_r(mu_{c,i})``, free of the box width.
        """
        arb = _flint().arb
        u, _, inv_v = self._box_terms(y, a, e2, star)
        min_inv_v = min(_lower(iv) for iv in inv_v)
        total = sum(u)
        # each responsibility also lies in [0, 1]; intersecting keeps wide boxes from blowing up
        resp = [_clip01(uc / total) for uc in u]
        r_mid = np.array([float(r.mid()) for r in resp])
        r_mid /= max(r_mid.sum(), 1e-300)
        trace = arb(0)
        for i in range(self.k):
            idx = {self.lam_index[c][i] for c in range(self.n_components)}
            if len(idx) == 1:
                j = idx.pop()
                centre = arb(float(r_mid @ self._means_float[:, i]))
                spread = sum((resp[c] * (self.means[c][i] - centre) ** 2 for c in range(self.n_components)), arb(0))
                trace += (a * inv_v[j]) ** 2 * spread
            else:
                g = [(y[i] - a * self.means[c][i]) * inv_v[self.lam_index[c][i]] for c in range(self.n_components)]
                centre = arb(float(sum(r_mid[c] * float(g[c].mid()) for c in range(self.n_components))))
                trace += sum((resp[c] * (g[c] - centre) ** 2 for c in range(self.n_components)), arb(0))
        return _upper(1 - arb(min_inv_v) + trace)


class _NotAnalytic(Exception):
    pass


def _const_mid(x):
    """Midpoint (float) of the real part of the constant term of an Arb number or series."""
    flint = _flint()
    if isinstance(x, flint.arb_series):
        x = x.coeffs()[0]
    if isinstance(x, flint.acb):
        x = x.real
    return float(x.mid())


def _sqrt(v):
    """Square root; for complex balls through ``exp(log(v) / 2)``, whose enclosure is much tighter
    than ``acb.sqrt``'s on wide boxes (both are the principal branch, analytic for ``Re v > 0``)."""
    if isinstance(v, _flint().acb):
        return (v.log() / 2).exp()
    return v.sqrt()


def _contains_zero(z):
    flint = _flint()
    if isinstance(z, (int, float)):  # the normaliser 1 when every other component was pruned
        return z == 0
    if isinstance(z, flint.acb):
        return z.real.contains(0) and z.imag.contains(0)
    return z.contains(0)


def _norm_upper(values):
    """Upper bound (as an ``arb``) of the Euclidean norm of non-negative floats."""
    arb = _flint().arb
    return sum((arb(v) * arb(v) for v in values), arb(0)).sqrt()


def _lower(x) -> float:
    return float(np.nextafter(float(x.lower()), -math.inf))


def _clip01(r):
    """The ball ``r`` (a responsibility, exactly in ``[0, 1]``) intersected with ``[0, 1]``, as a ball over floats
    ``0 <= lo <= hi <= 1``: the centre ``fl((lo + hi) / 2)`` is within ``u hi`` of the exact midpoint (one rounding of
    a sum at most 2, then an exact halving) and ``hi - lo`` within a relative ``u``, so the radius ``(hi - lo) / 2 (1 +
    1e-15) + u hi + 1e-300`` (the last for underflow) covers ``[lo, hi]``; Arb rounds a radius up."""
    arb = _flint().arb
    lo = max(0.0, _lower(r))
    hi = min(1.0, _upper(r))
    if not (hi >= lo):
        return arb(0.5, 0.5)
    return arb((lo + hi) / 2, (hi - lo) / 2 * (1 + 1e-15) + 2.0**-53 * hi + 1e-300)


def _taylor_coefficients(model: FlowModel, w0, t0, order: int, star: int, comps=None):
    """Coefficients ``0 .. order`` of the solution of ``dw/dtau = drift(w, t0 - tau)``, ``w(0) = w0``."""
    series = _flint().arb_series
    length = order + 1
    tau = series([0, 1], prec=length)
    a_full = (-t0).exp() * tau.exp()
    e2_full = a_full * a_full
    w = [series([wi], prec=1) for wi in w0]
    for n in range(1, length):
        a = series(a_full.coeffs()[:n], prec=n)
        e2 = series(e2_full.coeffs()[:n], prec=n)
        wn = [series(wi.coeffs()[:n], prec=n) for wi in w]
        f = model.drift(wn, a, e2, star, comps=comps)
        w = [
            series([w0[i]] + [fc / (j + 1) for j, fc in enumerate(_pad(f[i].coeffs(), n))], prec=n + 1)
            for i in range(model.k)
        ]
    return [_pad(wi.coeffs(), length) for wi in w]


def _pad(coeffs, n):
    arb = _flint().arb
    coeffs = list(coeffs)[:n]
    return coeffs + [arb(0)] * (n - len(coeffs))


def _box(ball_real, ball_imag):
    """The complex box with the given real and imaginary parts, radii rounded up to float64."""
    flint = _flint()
    arb, acb = flint.arb, flint.acb
    return acb(arb(ball_real.mid(), _upper(ball_real.rad())), arb(ball_imag.mid(), _upper(ball_imag.rad())))


def _validate(model: FlowModel, w0, t0, rho, star, comps=None):
    """Step 1 of the proof: a complex box ``Y`` with ``W0 + S_rho drift(Y, t0 - S_rho) subseteq Y``.

    ``w0`` are real balls (the start set, in ``w`` coordinates). Returns the list of ``acb`` boxes,
    or None when this ``rho`` cannot be validated.
    """
    flint = _flint()
    arb, acb = flint.arb, flint.acb
    S = acb(arb(0, rho), arb(0, rho))
    t = acb(t0) - S
    a = (-t).exp()
    e2 = a * a
    X = [acb(wi) for wi in w0]
    try:
        f = model.drift(X, a, e2, star, check_complex=True, comps=comps)
    except _NotAnalytic:
        return None
    Y = [x + S * fi for x, fi in zip(X, f)]
    for _ in range(6):
        # a box strictly larger than the last Picard image, so that the next image can fit inside
        Y = [
            _box(
                arb(yi.real.mid(), 2 * _upper(yi.real.rad()) + 1e-3 * rho),
                arb(yi.imag.mid(), 2 * _upper(yi.imag.rad()) + 1e-3 * rho),
            )
            for yi in Y
        ]
        try:
            f = model.drift(Y, a, e2, star, check_complex=True, comps=comps)
        except _NotAnalytic:
            return None
        if not all(fi.is_finite() for fi in f):
            return None
        image = [x + S * fi for x, fi in zip(X, f)]
        if all(yi.contains(im) for yi, im in zip(Y, image)):
            return Y
        Y = [_box(im.real, im.imag) for im in image]
        if max(_upper(abs(yi.real)) for yi in Y) > 1e8:
            return None
    return None


def a_priori_enclosure(model: FlowModel, w_start, t0, rho: float, star: int, step: int):
    """Step 1 of the proof: ``(Y, rho)``, a complex box ``Y`` validated on the square ``S_rho`` by
    :func:`_validate`, halving ``rho`` (at most 60 times) until one is found.

    Raises
    ------
    EnclosureFailed
        With the time, the start box and the step, when no ``rho`` validates.
    """
    for _ in range(60):
        Y = _validate(model, w_start, t0, rho, star)
        if Y is not None:
            return Y, rho
        rho /= 2
    raise EnclosureFailed("could not validate an a-priori enclosure", float(t0.mid()), [str(w) for w in w_start], step)


def taylor_remainder_step(
    model: FlowModel, w_point, Y_point, t0, t1, h, h_float: float, rho: float, star: int, comps, local_tol: float
):
    """Step 2 of the proof: the point trajectory's Taylor polynomial at ``h`` plus its Cauchy remainder.

    ``Y_point`` is the a-priori box of the point ``w_point`` on ``S_rho``, so ``R_i = sup |Y_i - w_i|``
    bounds every Taylor coefficient by ``R_i / rho^n`` and the tail after order ``m`` by ``R_i q^{m+1} /
    (1 - q)``, ``q = h / rho``. The order is the least that brings the tail below ``local_tol``.
    Returns ``(new center, local errors)``: the midpoints of the balls ``y(t1)`` and their radii.
    """
    arb = _flint().arb
    q = h_float * (1 + 1e-12) / rho
    R = [_upper(abs(yi - wi)) for yi, wi in zip(Y_point, w_point)]
    order = int(min(MAX_ORDER, max(6, math.ceil(math.log(max(max(R), 1e-300) / local_tol) / math.log(1 / q)))))
    coeffs = _taylor_coefficients(model, w_point, t0, order, star, comps)
    a1 = (-t1).exp()
    m1, g1, _ = model.scales(star, a1, a1 * a1)
    center, local = [], []
    for i in range(model.k):
        acc = arb(0)
        for zn in reversed(coeffs[i]):
            acc = acc * h + zn
        tail = arb(R[i]) * arb(q) ** (order + 1) / (1 - arb(q))
        y_ball = m1[i] + g1[i] * (acc + arb(0, _upper(tail)))
        mid = arb(y_ball.mid())
        local.append(_upper(abs(y_ball - mid)))
        center.append(mid)
    return center, local


def log_norm_growth(model: FlowModel, box, a_int, star: int, h):
    """Step 3 of the proof: ``(mu, e^{mu h})`` with ``mu`` the one-sided Lipschitz bound of the drift over
    the real ``box`` (holding every solution of the step) and ``t`` in the step's time interval ``a_int``."""
    mu = model.log_norm(box, a_int, a_int * a_int, star)
    return mu, (_flint().arb(mu) * h).exp()


def _mixture_flow(model: FlowModel, y0, T: float, delta: float, tol: float, max_steps: int):
    """Steps 1-4 of the proof from ``y0`` (list of balls) at ``T`` down to ``delta``."""
    arb = _flint().arb
    c = [arb(yi.mid()) for yi in y0]
    E = _upper(_norm_upper([_upper(yi.rad()) for yi in y0]))  # the start point's own rounding
    t0 = arb(T)
    delta_b = arb(delta)
    rho = min(1.0, T / 2)
    log_growth = 0.0
    steps = 0
    ratio = 3.0
    local_tol = tol * 1e-3
    while True:
        if steps >= max_steps:
            raise EnclosureFailed(
                f"more than max_steps={max_steps} steps needed", float(t0.mid()), [str(ci) for ci in c], steps
            )
        remaining = float((t0 - delta_b).mid())
        rho = min(rho, 0.9 * float(t0.mid()))
        a0 = (-t0).exp()
        star = model.reference_component(c, float(t0.mid()))
        m0, g0, _ = model.scales(star, a0, a0 * a0)
        w_start = [(ci + arb(0, E) - mi) / gi for ci, mi, gi in zip(c, m0, g0)]
        w_point = [(ci - mi) / gi for ci, mi, gi in zip(c, m0, g0)]
        Y, rho = a_priori_enclosure(model, w_start, t0, rho, star, steps)
        last = rho / ratio >= remaining
        h_float = remaining if last else rho / ratio
        h = (t0 - delta_b) if last else arb(h_float)
        t1 = delta_b if last else t0 - h
        t_int = (t0 + t1) / 2 + arb(0, _upper((t0 - t1) / 2))
        a_int = (-t_int).exp()
        m_int, g_int, _ = model.scales(star, a_int, a_int * a_int)

        def y_box(box, m_int=m_int, g_int=g_int):
            return [mi + gi * yi.real for mi, gi, yi in zip(m_int, g_int, box)]

        # step 4: integrate only the components that can matter on this step, bound the rest
        full_box = y_box(Y)
        comps = model.significant(full_box, a_int, a_int * a_int, star, threshold=local_tol * 1e-8)
        Y_point, pruning = Y, 0.0
        if len(comps) < model.n_components:
            Y_point = _validate(model, w_point, t0, rho, star, comps)
            if Y_point is None:  # keep every component rather than fail the step
                comps, Y_point = None, Y
            else:
                pruning = model.pruning_bound(y_box(Y_point), a_int, a_int * a_int, star, comps)
        else:
            comps = None
        new, local = taylor_remainder_step(model, w_point, Y_point, t0, t1, h, h_float, rho, star, comps, local_tol)
        box = full_box if Y_point is Y else [yf.union(yp) for yf, yp in zip(full_box, y_box(Y_point))]
        mu, growth = log_norm_growth(model, box, a_int, star, h)
        E = _upper(growth * arb(E) + _norm_upper(local) + arb(pruning) * h * (growth + 1))
        log_growth += max(mu * h_float, -700.0)
        c = new
        t0 = t1
        steps += 1
        if last:
            break
        rho *= 1.5
    return c, E, steps, log_growth


def enclose_flow(
    target, x0, T: float, delta: float, *, tol: float = 1e-15, prec: int | None = None, max_steps: int = 20_000
) -> Enclosure:
    """A proved ball around the exact probability-flow image at ``delta`` of ``x0`` taken at ``T``.

    Parameters
    ----------
    target : MixtureTarget
        A built-in target (its score is the exact ``grad log q_t``).
    x0 : (d,) array
        Start point at forward time ``T``.
    T, delta : float
        ``T > delta > 0``.
    tol : float
        Requested radius relative to ``1 + |x0|``: steers the Taylor order (smaller ``tol``, smaller
        radius). The returned radius is proved whatever ``tol`` is.
    prec : int, optional
        Working precision in bits (default: enough for ``tol``, at least 128).

    Returns
    -------
    Enclosure
    """
    from ..targets import MixtureTarget

    if not isinstance(target, MixtureTarget):
        raise TypeError("enclose_flow needs a built-in MixtureTarget (a score callable has no proved flow)")
    x0 = np.asarray(x0, dtype=float)
    if x0.shape != (target.dim,):
        raise ValueError(f"x0 must have shape ({target.dim},), got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("x0 contains NaN or inf")
    if not (math.isfinite(delta) and delta > 0 and math.isfinite(T) and T > delta):
        raise ValueError(f"need T > delta > 0, got T={T!r}, delta={delta!r}")
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    max_steps = check_int("max_steps", max_steps, 1)
    prec = max(128, int(-math.log2(tol)) + 80) if prec is None else check_int("prec", prec, 53)
    scale = 1.0 + float(np.linalg.norm(x0))
    with _precision(prec):
        return _enclose(target, x0, float(T), float(delta), tol * scale, max_steps)


def basis_balls(q):
    """``(Q, ||Q||_2, beta)`` of a target's stored basis ``(d, k)`` as Arb balls, after checking ``max |Q^T Q - I|
    <= ORTHONORMAL_TOLERANCE`` (module docstring): the entries, a bound on the 2-norm, and a bound ``beta`` on
    ``||Q~ - Q||_2`` for the polar factor ``Q~ = Q G^{-1/2}``, ``G = Q^T Q``, the exactly orthonormal basis the
    enclosures take as the target's.

    Proof. ``||Q||_2^2 = ||G||_2 <= ||G||_F``. With ``eps = ||G - I||_F >= ||G - I||_2`` (ball arithmetic) and ``eps <
    1``, ``G`` is symmetric with eigenvalues in ``[1 - eps, 1 + eps]``, so ``G^{-1/2}`` exists, ``Q~^T Q~ = G^{-1/2} G
    G^{-1/2} = I``, and ``||G^{-1/2} - I||_2 = max_lambda |lambda^{-1/2} - 1| <= (1 - eps)^{-1/2} - 1`` (which is at
    least ``1 - (1 + eps)^{-1/2}``). Hence ``||Q~ - Q||_2 = ||Q (G^{-1/2} - I)||_2 <= ||Q||_2 ((1 - eps)^{-1/2} - 1)
    =: beta``.
    """
    arb = _flint().arb
    d, k = q.shape
    gram_dev = float(np.max(np.abs(q.T @ q - np.eye(k))))
    if gram_dev > ORTHONORMAL_TOLERANCE:
        raise ValueError(
            f"the target's basis is orthonormal only to {gram_dev:.1e}; enclosures need "
            f"{ORTHONORMAL_TOLERANCE:g} (build the target with MixtureTarget, which re-orthonormalises it)"
        )
    qb = [[arb(float(q[i, j])) for j in range(k)] for i in range(d)]
    fro, off_identity = arb(0), arb(0)
    for j1 in range(k):
        for j2 in range(k):
            g = sum((qb[i][j1] * qb[i][j2] for i in range(d)), arb(0))
            fro += g * g
            deviation = g - 1 if j1 == j2 else g
            off_identity += deviation * deviation
    norm = fro.sqrt().sqrt()
    eps = arb(_upper(off_identity)).sqrt()  # an upper end: the sum's ball may reach below 0
    assert eps < 1, "checked above: eps is at most k times ORTHONORMAL_TOLERANCE"
    return qb, norm, norm * (1 / (1 - eps).sqrt() - 1)


def _enclose(target, x0, T, delta, tol, max_steps):
    flint = _flint()
    arb = flint.arb
    Tb, db = arb(T), arb(delta)
    aT, ad = (-Tb).exp(), (-db).exp()
    e2T, e2d = aT * aT, ad * ad
    x = [arb(float(v)) for v in x0]
    q = target.basis
    k = target.means.shape[1]
    if q is None:
        y0 = x
        perp = None
        q_norm, beta = arb(1), arb(0)
    else:
        qb, q_norm, beta = basis_balls(q)
        # Q~^T x within beta |x| of Q^T x in each coordinate (module docstring)
        x_norm = _norm_upper([abs(float(v)) for v in x0])
        y0 = [sum(qb[i][j] * x[i] for i in range(target.dim)) + arb(0, _upper(beta * x_norm)) for j in range(k)]
        perp = None
        if target.dim > k:
            lam_p = arb(target.lam_perp)
            scale = ((1 + (lam_p - 1) * e2d) / (1 + (lam_p - 1) * e2T)).sqrt()
            perp = [(x[i] - sum(qb[i][j] * y0[j] for j in range(k))) * scale for i in range(target.dim)]
    if target.n_components == 1:
        mu = [arb(float(m)) for m in target.means[0]]
        lam = [arb(float(v)) for v in target.variances[0]]
        y_end = [
            ad * mu[i] + ((1 + (lam[i] - 1) * e2d) / (1 + (lam[i] - 1) * e2T)).sqrt() * (y0[i] - aT * mu[i])
            for i in range(k)
        ]
        E, steps, log_growth = 0.0, 0, 0.0
    else:
        model = FlowModel(target)
        y_end, E, steps, log_growth = _mixture_flow(model, y0, T, delta, tol, max_steps)
    if q is None:
        out = list(y_end)
    else:
        out = [sum(qb[i][j] * y_end[j] for j in range(k)) for i in range(target.dim)]
        if perp is not None:
            out = [o + p for o, p in zip(out, perp)]
    center = np.array([float(o.mid()) for o in out])
    gaps = [_upper(abs(o - arb(cval))) for o, cval in zip(out, center)]
    radius = _norm_upper(gaps) + q_norm * arb(E)
    if q is not None:  # Q~ y within beta |y| of Q y, |y| <= |y_end| + E; and Q~ y0 within beta |y0| of Q y0 (perp)
        radius += beta * (_norm_upper([_upper(abs(y)) for y in y_end]) + arb(E))
        if perp is not None:
            radius += beta * scale * _norm_upper([_upper(abs(y)) for y in y0])
    radius = _upper(radius)
    return Enclosure(
        center=center, radius=radius, T=T, delta=delta, steps=steps, growth=float(math.exp(min(log_growth, 700.0)))
    )
