"""Data distributions whose score is known exactly at every noise level.

Every built-in target is one :class:`MixtureTarget`: a mixture of Gaussians that are diagonal in a
shared orthonormal basis ``Q`` (shape ``(d, k)``), with variance ``lam_perp`` in the directions
orthogonal to ``Q``. That single form covers

* Gaussians with any covariance (``K = 1``, ``Q`` = eigenvectors),
* Gaussian mixtures with diagonal covariances,
* finite point clouds (all variances 0; bounded support of radius ``R``),
* low-dimensional data in a high ambient dimension (``k < d``, ``lam_perp = 0``),

and the forward process keeps it: at time ``t`` means scale by ``a = e^{-t}`` and each variance
``v`` becomes ``a^2 v + (1 - a^2)``. So samples, densities and scores of ``q_t`` are all exact.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .forward import alpha, sigma2
from .kernels.score import score_lane_rows, time_constants_size
from .mixture_hessian import diagonal_mixture_hessian_sup
from .tilted_covariance import PosteriorCovarianceBound, tilted_covariance_sup
from .validation import check_int, real_array

__all__ = [
    "MixtureTarget",
    "gaussian",
    "gaussian_mixture",
    "point_cloud",
    "embed",
    "ring_mixture",
    "make_target",
    "TARGETS",
]

_CHUNK = 1 << 22  # elements per temporary (n, K, k) block in the batched score
# unequal variances: the box search runs where the components differ in at most this many coordinates
_SEARCH_DIMS = 3
_SEARCH_COMPONENTS = 64


@functools.lru_cache(maxsize=16)
def _cached_posterior_bound(points: bytes, shape: tuple, weights: bytes) -> PosteriorCovarianceBound:
    return PosteriorCovarianceBound(np.frombuffer(points).reshape(shape), np.frombuffer(weights))


def _posterior_bound(points, weights) -> PosteriorCovarianceBound:
    """One bound per point set and process: targets rebuilt from the same means share its octaves."""
    points, weights = np.ascontiguousarray(points, dtype=float), np.ascontiguousarray(weights, dtype=float)
    return _cached_posterior_bound(points.tobytes(), points.shape, weights.tobytes())


def _as_rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class MixtureTarget:
    """``sum_c w_c N(mu_c, Q diag(lam_c) Q^T + lam_perp (I - Q Q^T))`` in ``R^d``.

    Parameters
    ----------
    means : (K, k) array
        Component means in the coordinates of ``basis``.
    variances : (K, k) array
        Per-component variances along the basis directions (0 allowed: point masses).
    weights : (K,) array
        Mixture weights (normalised here).
    basis : (d, k) array or None
        Orthonormal columns; ``None`` means the identity (``k = d``).
    lam_perp : float
        Variance in the ``d - k`` directions orthogonal to ``basis`` (0: data on the subspace).
    name : str
    """

    def __init__(self, means, variances, weights=None, basis=None, lam_perp=0.0, name="mixture"):
        means = np.atleast_2d(real_array("means", means))
        if means.ndim != 2 or means.size == 0:
            raise ValueError(f"means must be a non-empty (K, k) array, got shape {means.shape}")
        n_comp, k = means.shape
        variances = np.asarray(variances, dtype=float)
        if variances.ndim == 1 and variances.size == n_comp:
            variances = variances[:, None]  # one isotropic variance per component
        try:
            variances = np.array(np.broadcast_to(variances, means.shape), dtype=float)
        except ValueError:
            raise ValueError(f"variances of shape {variances.shape} do not fit means of shape "
                             f"{means.shape}") from None
        weights = np.full(n_comp, 1.0 / n_comp) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape != (n_comp,):
            raise ValueError(f"weights must have shape ({n_comp},), got {weights.shape}")
        for label, arr in (("means", means), ("variances", variances), ("weights", weights)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{label} contain NaN or inf")
        if np.any(variances < 0):
            raise ValueError("variances must be >= 0")
        if np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        if basis is not None:
            basis = np.asarray(basis, dtype=float)
            if basis.ndim != 2 or basis.shape[1] != k or basis.shape[0] < k:
                raise ValueError(f"basis must have shape (d, {k}) with d >= {k}, got {basis.shape}")
            if not np.allclose(basis.T @ basis, np.eye(k), atol=1e-10):
                raise ValueError("basis columns must be orthonormal")
            if basis.shape[0] == k and np.array_equal(basis, np.eye(k)):
                basis = None
        if not (math.isfinite(lam_perp) and lam_perp >= 0):
            raise ValueError(f"lam_perp must be a finite number >= 0, got {lam_perp!r}")
        self.means = means
        self.variances = variances
        self.weights = weights / weights.sum()
        self.basis = basis
        self.lam_perp = float(lam_perp)
        self.name = name

    # ------------------------------------------------------------------ structure
    @property
    def dim(self) -> int:
        return self.means.shape[1] if self.basis is None else self.basis.shape[0]

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def is_gaussian(self) -> bool:
        return self.n_components == 1

    @property
    def is_diagonal(self) -> bool:
        """True when every component is diagonal in the standard basis (``Q = I``)."""
        return self.basis is None

    @property
    def radius(self) -> float:
        """Radius ``R`` of a ball about 0 holding the support; ``inf`` when the support is unbounded."""
        if np.any(self.variances > 0) or (self.basis is not None and self.lam_perp > 0):
            return math.inf
        return float(np.max(np.linalg.norm(self.means, axis=1)))

    def _lift(self, y):
        return y if self.basis is None else y @ self.basis.T

    def mean(self) -> np.ndarray:
        return self._lift(self.weights @ self.means)

    def covariance(self) -> np.ndarray:
        """Full ``(d, d)`` covariance of the mixture (law of total variance)."""
        mu = self.weights @ self.means
        centred = self.means - mu
        cov_k = np.diag(self.weights @ self.variances) + (centred.T * self.weights) @ centred
        if self.basis is None:
            return cov_k
        q = self.basis
        return q @ cov_k @ q.T + self.lam_perp * (np.eye(self.dim) - q @ q.T)

    # ------------------------------------------------------------------ forward process
    def law_at(self, t: float) -> "MixtureTarget":
        """The exact marginal ``q_t`` of the forward process started from this target."""
        t = float(t)
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"time t must be finite and >= 0, got {t!r}")
        a, s2 = float(alpha(t)), float(sigma2(t))
        return MixtureTarget(a * self.means, a * a * self.variances + s2, self.weights,
                             self.basis, a * a * self.lam_perp + s2, name=f"{self.name}@t={t:g}")

    def sample(self, n: int, seed=None, t: float = 0.0) -> np.ndarray:
        """``n`` exact samples of ``q_t`` (``t = 0``: the data)."""
        if t:
            return self.law_at(t).sample(n, seed)
        rng = _as_rng(seed)
        comp = rng.choice(self.n_components, size=n, p=self.weights)
        y = self.means[comp] + np.sqrt(self.variances[comp]) * rng.standard_normal((n, self.means.shape[1]))
        if self.basis is None:
            return y
        x = y @ self.basis.T
        if self.lam_perp > 0:
            z = rng.standard_normal((n, self.dim))
            x += math.sqrt(self.lam_perp) * (z - (z @ self.basis) @ self.basis.T)
        return x

    def _check_points(self, x):
        x = real_array("points", x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {x.shape}")
        return x

    def _times(self, t, n):
        """``t`` as a float, or as an ``(n,)`` array of per-particle times; finite and ``>= 0``."""
        t = real_array("time t", t)
        if t.ndim and t.shape != (n,):
            raise ValueError(f"per-particle times must have shape ({n},), got {t.shape}")
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            bad = t if t.ndim == 0 else t[~(np.isfinite(t) & (t >= 0))][0]
            raise ValueError(f"time t must be finite and >= 0, got {float(bad)!r}")
        return float(t) if t.ndim == 0 else t

    @staticmethod
    def _scales(t):
        """``(a, sigma^2)``, shaped ``(m, 1)`` for per-particle times so they broadcast over components."""
        a, s2 = alpha(t), sigma2(t)
        return (a[:, None], s2[:, None]) if np.ndim(t) else (float(a), float(s2))

    def _component_terms(self, y, t):
        """Per-chunk ``(log-responsibility numerators, centred points, variances)`` at time(s) ``t``."""
        a, s2 = self._scales(t)
        if np.ndim(t):
            a, s2 = a[:, :, None], s2[:, :, None]  # (m, 1, 1) against (m, K, k)
        var = a * a * self.variances + s2
        if np.any(var <= 0):
            raise ValueError("t = 0 with a point mass: the score is undefined; stop at delta > 0")
        diff = y[:, None, :] - a * self.means
        logp = np.log(self.weights)[None] - 0.5 * np.sum(diff * diff / var + np.log(2 * np.pi * var), axis=2)
        return logp, diff, var

    def _perp(self, x, y, t):
        a, s2 = self._scales(t)
        return x - y @ self.basis.T, a * a * self.lam_perp + s2

    def score(self, x, t) -> np.ndarray:
        """``grad log q_t(x)`` for a batch ``x`` of shape ``(n, d)``; ``t`` a float or ``(n,)`` times."""
        x = self._check_points(x)
        t = self._times(t, x.shape[0])
        y = x if self.basis is None else x @ self.basis
        out = np.empty_like(y)
        rows = max(1, _CHUNK // max(1, self.means.size))
        for lo in range(0, y.shape[0], rows):
            logp, diff, var = self._component_terms(y[lo:lo + rows], t if np.ndim(t) == 0 else t[lo:lo + rows])
            resp = np.exp(logp - logp.max(axis=1, keepdims=True))
            resp /= resp.sum(axis=1, keepdims=True)
            out[lo:lo + rows] = -np.einsum("nc,nci->ni", resp, diff / var)
        if self.basis is None:
            return out
        if self.dim == self.basis.shape[1]:
            return out @ self.basis.T  # the basis spans R^d: there is no orthogonal complement
        residual, v_perp = self._perp(x, y, t)
        return out @ self.basis.T - residual / v_perp

    def log_density(self, x, t=0.0) -> np.ndarray:
        """``log q_t(x)``; needs a density (``t > 0`` or positive variances in every direction)."""
        x = self._check_points(x)
        t = self._times(t, x.shape[0])
        y = x if self.basis is None else x @ self.basis
        out = np.empty(y.shape[0])
        rows = max(1, _CHUNK // max(1, self.means.size))
        for lo in range(0, y.shape[0], rows):
            logp, _, _ = self._component_terms(y[lo:lo + rows], t if np.ndim(t) == 0 else t[lo:lo + rows])
            top = logp.max(axis=1)
            out[lo:lo + rows] = top + np.log(np.exp(logp - top[:, None]).sum(axis=1))
        if self.basis is not None and self.dim > self.basis.shape[1]:
            residual, v_perp = self._perp(x, y, t)
            m = self.dim - self.basis.shape[1]
            out += -0.5 * np.sum(residual**2, axis=1) / np.ravel(v_perp) - 0.5 * m * np.log(2 * np.pi * np.ravel(v_perp))
        return out

    def _hessian_range(self, t: float, radius: float | None = None):
        """``(lo, hi)`` with ``lo I <= Hess log q_t(x) <= hi I`` for every ``x`` (or every ``|x| <= radius``).

        Proof. In the basis ``(Q, Q_perp)`` the Hessian is block diagonal: ``-I / v_perp`` on the
        orthogonal complement (a Gaussian factor, ``v_perp = a^2 lam_perp + sigma^2``), and in the
        plane ``-sum_c r_c D_c^{-1} + Cov_r(g_c)`` with ``D_c = diag(v_c)``, ``g_c = D_c^{-1} (y - a
        mu_c)`` and ``r`` the posterior on components; ``Cov_r >= 0`` gives ``lo = -1/v_min``.

        *Equal variances* (``D_c = D``): ``Cov_r(g) = a^2 D^{-1} Cov_r(mu) D^{-1}`` and ``Cov_r(mu) <=
        (diam^2 / 4) I`` (a law on points of diameter ``diam``), so ``hi = -1/v_max + a^2 diam^2 / (4
        v_min^2)``, for every ``x``. The mixture term uses the plane's variances only.

        *Isotropic variances, means on a circle* (``D = v I``; the means vary in two coordinates, ``U``
        those axes, and lie within ``dev`` of a circle, ``|mu_c - m|^2 = R^2 - e_c``, ``0 <= e_c <=
        dev``; coordinates where all means agree drop out of the posterior): completing the square,
        ``r_c ~ w_c exp(theta . p_c + a^2 e_c / (2 v))`` with ``p_c = U^T (mu_c - m) / R`` in the unit
        disc and ``theta = a R U^T (y - a m) / v``. Without the ``e_c`` term ``r`` is a tilt, whose
        ``lambda_max Cov(p) <= S`` by :func:`~certsample.tilted_covariance.tilted_covariance_sup`; the
        term multiplies every weight by a factor in ``[1, e^b]``, ``b = a^2 dev / (2 v)``, so ``r'_c <=
        e^b r_c`` and ``Var_{r'}(X) <= E_{r'}(X - E_r X)^2 <= e^b Var_r(X)``. Hence ``hi = -1/v + a^2
        R^2 S e^b / v^2`` (the smaller of the two bounds is used). On the 8-mode ring ``S = 0.51``
        against Popoviciu's 1. ``m``, ``R`` and ``p_c`` are computed in floating point: ``e_c`` and
        ``|p_c| - 1`` are then off by rounding only, which the ``1e-12`` allowance of ``S`` covers.

        *Isotropic variances, means in a plane* (the means vary in one or two coordinates, not all on a
        circle): ``r_c ~ w_c exp(-|y - a mu_c|^2 / (2 v)) ~ w_c exp(-lam |p_c - z|^2)`` with ``p_c = U^T
        (mu_c - m) / R`` in the unit disc, ``z = U^T (y / a - m) / R`` and ``lam = a^2 R^2 / (2 v)`` (the
        constant coordinates drop out), so ``Cov_r(mu) = R^2 Cov_r(p) <= R^2 S(lam)`` with ``S`` the
        :class:`~certsample.tilted_covariance.PosteriorCovarianceBound` of the ``p_c``: per temperature,
        where the tilt bound above is one bound for all ``t``. On the built-in 64-point cloud ``S R^2``
        falls from Popoviciu's 8.3 to 1.4-2.8 wherever ``lam >= 1/4`` (the longest Delaunay edge gives 1.38
        as ``t -> 0``); below, Popoviciu's term adds at most ``1/(2v)`` to the bound.

        *Unequal variances*: no global bound exists in general. Where two components differ in
        variance along ``e_i`` and in mean along another axis, the surface ``r_c = r_c'`` is unbounded
        and along it ``(g_c - g_c')_i = (1/v_ci - 1/v_c'i) y_i`` grows without limit, and with it
        ``Cov_r(g)``. On the ball ``|y| <= radius``: ``r`` is a law on the points ``g_c(y)``, so
        ``lambda_max Cov_r(g) <= diam({g_c})^2 / 4`` (Popoviciu on every projection) ``<= (1/4)
        max_{c,c'} (|1/v_c - 1/v_c'|_inf radius + a |mu_c / v_c - mu_c' / v_c'|)^2``, and ``hi =
        -1/v_max + that``. That counts the largest ``|g_c - g_c'|`` anywhere in the ball, although the
        covariance is large only where ``r`` splits; where the components differ in at most three
        coordinates the box search of :func:`~certsample.mixture_hessian.diagonal_mixture_hessian_sup`
        follows the ties (see :meth:`_unequal_variance_top`) and the smaller bound is used.
        """
        a, s2 = float(alpha(t)), float(sigma2(t))
        var = a * a * self.variances + s2  # (K, k)
        if np.min(var) <= 0:
            return -math.inf, math.inf
        lo, hi = -1.0 / float(np.min(var)), -1.0 / float(np.max(var))
        if self.n_components > 1:
            if self.equal_variances:
                diffs = self.means[:, None, :] - self.means[None, :, :]
                spread = float(np.max(np.sum(diffs**2, axis=2))) / 4.0
                if np.all(var[0] == var[0, 0]):  # isotropic: the posterior is a tilt, or tempered
                    v = float(var[0, 0])
                    if (circle := self._circle_tilt_bound()) is not None:
                        radius2, tilt_sup, dev = circle
                        spread = min(spread, radius2 * tilt_sup * math.exp(a * a * dev / (2 * v)))
                    elif (planar := self._planar_posterior_bound()) is not None:
                        radius2, posterior_sup = planar
                        spread = min(spread, radius2 * posterior_sup(a * a * radius2 / (2 * v)))
                hi += a * a * spread / float(np.min(var[0])) ** 2
            elif radius is None:
                raise ValueError("the score of a mixture whose components have unequal variances has no global "
                                 "Lipschitz constant (its Hessian grows along the surfaces of equal "
                                 "responsibility); pass radius= for a bound on the ball |x| <= radius")
            else:
                radius = float(radius)
                if not (math.isfinite(radius) and radius >= 0):
                    raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
                hi = self._unequal_variance_top(a, var, radius)
        if self.basis is not None and self.dim > self.basis.shape[1]:
            v_perp = a * a * self.lam_perp + s2
            if v_perp <= 0:
                return -math.inf, math.inf
            lo, hi = min(lo, -1.0 / v_perp), max(hi, -1.0 / v_perp)
        return lo, hi

    def _unequal_variance_top(self, a, var, radius):
        """``hi`` of :meth:`_hessian_range` on the plane ball ``|y| <= radius`` for unequal variances
        ``var`` (the components' variances at scale ``a``): the least of Popoviciu's ball bound and,
        where the components differ in at most ``_SEARCH_DIMS`` coordinates, the branch and bound of
        :func:`~certsample.mixture_hessian.diagonal_mixture_hessian_sup` over those coordinates (the
        others, where every mean and variance agree, add ``-1/v_i`` on the diagonal and nothing else).
        Memoised per ``(a, radius)``: a plan asks for the same time several times."""
        key = (a, radius)
        memo = self.__dict__.setdefault("_unequal_top_memo", {})
        if key in memo:
            return memo[key]
        inv = 1.0 / var
        scaled = a * self.means * inv
        worst = 0.0
        for c in range(self.n_components):
            slope = np.max(np.abs(inv[c] - inv), axis=1)  # (K,)
            shift = np.linalg.norm(scaled[c] - scaled, axis=1)
            worst = max(worst, float(np.max(slope * radius + shift)))
        hi = -1.0 / float(np.max(var)) + 0.25 * worst * worst * (1 + 1e-12)
        differ = (np.ptp(self.means, axis=0) > 0) | (np.ptp(self.variances, axis=0) > 0)
        if 1 <= int(differ.sum()) <= _SEARCH_DIMS and self.n_components <= _SEARCH_COMPONENTS:
            searched = diagonal_mixture_hessian_sup(a * self.means[:, differ], var[:, differ], self.weights,
                                                    radius, rtol=0.1)
            common = -1.0 / var[0, ~differ]
            hi = min(hi, max(searched, float(common.max()) if common.size else -math.inf))
        if len(memo) > 4096:
            memo.clear()
        memo[key] = hi
        return hi

    def _varying_coordinates(self):
        """The means' coordinates in which they differ; the others drop out of the posterior exactly."""
        return self.means[:, np.ptp(self.means, axis=0) > 0]

    def _circle_tilt_bound(self):
        """``(R^2, S, dev)`` when the means vary in exactly two coordinates and lie within ``dev`` of a
        circle of radius ``R`` there (``S`` the tilted-covariance bound of the unit points); else
        ``None``. Constant coordinates drop out of ``Cov_r(mu)`` and of the tilt exactly, which a
        rotation to a fitted plane would not promise. Computed once per target (a fraction of a second)."""
        if not hasattr(self, "_circle_tilt_cache"):
            self._circle_tilt_cache = None
            plane = self._varying_coordinates()
            if plane.shape[1] == 2:
                # circumcentre: |p|^2 = 2 p . m + (R^2 - |m|^2), least squares in (m, R^2 - |m|^2)
                lhs = np.column_stack([2 * plane, np.ones(len(plane))])
                centre = np.linalg.lstsq(lhs, np.sum(plane**2, axis=1), rcond=None)[0][:2]
                dist2 = np.sum((plane - centre) ** 2, axis=1)
                radius2 = float(dist2.max())
                dev = radius2 - float(dist2.min())
                if dev <= 1e-6 * radius2:
                    unit = (plane - centre) / math.sqrt(radius2)
                    self._circle_tilt_cache = (radius2, tilted_covariance_sup(unit, self.weights), dev)
        return self._circle_tilt_cache

    def _planar_posterior_bound(self):
        """``(R^2, S)`` when the means vary in at most two coordinates (and not all on a circle, which
        :meth:`_circle_tilt_bound` covers for every ``t`` at once): ``R`` the largest distance of a mean
        from the centre of their bounding box, ``S`` the :class:`PosteriorCovarianceBound` of the unit
        points. Else ``None``. Built once per point set."""
        if not hasattr(self, "_planar_cache"):
            self._planar_cache = None
            plane = self._varying_coordinates()
            if 1 <= plane.shape[1] <= 2:
                centre = 0.5 * (plane.max(axis=0) + plane.min(axis=0))
                radius = float(np.max(np.linalg.norm(plane - centre, axis=1)))
                unit = (plane - centre) / radius
                self._planar_cache = (radius * radius, _posterior_bound(unit, self.weights))
        return self._planar_cache

    def score_lipschitz(self, t: float, radius: float | None = None) -> float:
        """An upper bound on the Lipschitz constant of ``x -> grad log q_t(x)`` (see ``_hessian_range``);
        on the ball ``|x| <= radius`` when given (required for components with unequal variances)."""
        lo, hi = self._hessian_range(t, radius)
        return max(-lo, hi)

    @property
    def equal_variances(self) -> bool:
        """Whether every component has the same (diagonal) covariance: then a global bound exists."""
        return bool(np.all(self.variances == self.variances[0]))

    def mass_radius(self, t: float, tail: float = 1e-12) -> float:
        """A radius ``R`` with ``P(|y| > R) <= tail`` for ``y`` the plane coordinates of ``q_t``.

        Proof. Given component ``c``, ``y = a mu_c + D_c^{1/2} z`` with ``z ~ N(0, I_k)``, so
        ``|y| <= a |mu_c| + sqrt(v_max) |z|``; the norm is 1-Lipschitz, ``E|z| <= sqrt(k)``, and
        Gaussian concentration gives ``P(|z| > sqrt(k) + u) <= e^{-u^2/2}``: ``u = sqrt(2 log(1/tail))``.
        """
        if not 0 < tail < 1:
            raise ValueError(f"tail must be in (0, 1), got {tail!r}")
        a, s2 = float(alpha(t)), float(sigma2(t))
        v_max = float(np.max(a * a * self.variances + s2))
        k = self.means.shape[1]
        return (a * float(np.max(np.linalg.norm(self.means, axis=1)))
                + math.sqrt(v_max) * (math.sqrt(k) + math.sqrt(2 * math.log(1 / tail))))

    def working_score_lipschitz(self, t: float, tail: float = 1e-12) -> float:
        """:meth:`score_lipschitz` where a global bound exists (equal variances); otherwise the bound on
        the ball of :meth:`mass_radius`, which holds all but ``tail`` of ``q_t``'s mass -- and so all
        but that fraction of the particles of an exact-score run. For sizing steps and windows; a
        proof about a particular path needs the enclosures of :mod:`certsample.verify.enclosure`."""
        if self.n_components == 1 or self.equal_variances:
            return self.score_lipschitz(t)
        return self.score_lipschitz(t, radius=self.mass_radius(t, tail))

    def drift_one_sided_lipschitz(self, t: float, radius: float | None = None) -> float:
        """Upper bound of ``lambda_max`` of the symmetric Jacobian of the probability-flow drift
        ``x + grad log q_t(x)`` (reverse time): ``1 + hi`` of :meth:`_hessian_range`."""
        return 1.0 + self._hessian_range(t, radius)[1]

    # ------------------------------------------------------------------ compiled kernels
    def kernel_params(self) -> tuple:
        """The tuple :func:`certsample.kernels.score.target_score` reads (contiguous float64)."""
        basis = np.zeros((0, 0)) if self.basis is None else np.ascontiguousarray(self.basis)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        # one row of variances when every component shares them: the kernel then skips the
        # per-component variances and determinants (they cancel in the softmax)
        variances = self.variances[:1] if self.equal_variances else self.variances
        return (np.ascontiguousarray(self.means), np.ascontiguousarray(variances),
                log_w, basis, self.lam_perp)

    def kernel_lane_rows(self) -> int:
        """Rows of the compiled score's per-particle scratch (one column per particle of a block)."""
        return score_lane_rows(self.n_components, self.means.shape[1])

    def kernel_work_size(self, time_slots: int = 2) -> int:
        """Scratch entries of the compiled score (per particle, or per block of particles beside the
        block's ``lanes``), caching the constants of ``time_slots`` times."""
        rows = 1 if self.equal_variances else self.n_components
        return self.kernel_lane_rows() + time_constants_size(rows, self.means.shape[1], time_slots)

    def __repr__(self) -> str:
        return (f"MixtureTarget(name={self.name!r}, d={self.dim}, components={self.n_components}, "
                f"k={self.means.shape[1]})")


# ---------------------------------------------------------------------- constructors
def gaussian(mean, cov) -> MixtureTarget:
    """``N(mean, cov)``; ``cov`` a scalar, a diagonal vector or a full SPD matrix."""
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    d = mean.size
    cov = real_array("cov", cov)
    if cov.ndim == 1 and cov.size not in (1, d):
        raise ValueError(f"cov has {cov.size} variances for a mean of dimension {d}")
    if cov.ndim <= 1:
        diag = np.broadcast_to(cov, (d,)).astype(float)
        return MixtureTarget(mean[None], diag[None], name="gaussian")
    if cov.shape != (d, d):
        raise ValueError(f"cov must be a scalar, shape ({d},) or ({d}, {d}); got {cov.shape}")
    if not np.allclose(cov, cov.T):
        raise ValueError("cov must be symmetric")
    lam, q = np.linalg.eigh(cov)
    if lam[0] < -1e-12 * max(1.0, lam[-1]):
        raise ValueError("cov must be positive semi-definite")
    return MixtureTarget((q.T @ mean)[None], np.clip(lam, 0, None)[None], basis=q, name="gaussian")


def gaussian_mixture(means, variances, weights=None) -> MixtureTarget:
    """Mixture of diagonal Gaussians: ``variances`` scalar, per-component, or ``(K, d)``."""
    means = np.atleast_2d(np.asarray(means, dtype=float))
    return MixtureTarget(means, variances, weights, name="gaussian_mixture")


def point_cloud(points, weights=None) -> MixtureTarget:
    """Empirical law of finitely many points: support radius ``R = max |x_i|``."""
    points = np.atleast_2d(real_array("points", points))
    if points.size == 0:
        raise ValueError("point_cloud needs at least one point")
    return MixtureTarget(points, 0.0, weights, name="point_cloud")


def embed(target: MixtureTarget, ambient_dim: int, seed=0, lam_perp: float = 0.0) -> MixtureTarget:
    """Place a ``k``-dimensional target on a random ``k``-dimensional subspace of ``R^ambient_dim``."""
    if target.basis is not None:
        raise ValueError("embed expects a target in its own coordinates (basis None)")
    k = target.dim
    if ambient_dim < k:
        raise ValueError(f"ambient_dim={ambient_dim} is smaller than the target dimension {k}")
    q, _ = np.linalg.qr(_as_rng(seed).standard_normal((ambient_dim, k)))
    return MixtureTarget(target.means, target.variances, target.weights, basis=q, lam_perp=lam_perp,
                         name=f"{target.name}_in_R{ambient_dim}")


def ring_mixture(n_modes: int = 8, radius: float = 4.0, std: float = 0.5, dim: int = 2) -> MixtureTarget:
    """``n_modes`` isotropic Gaussians evenly spaced on a circle in the first two coordinates."""
    n_modes = check_int("n_modes", n_modes, 1)
    dim = check_int("dim", dim, 2)
    angle = 2 * np.pi * np.arange(n_modes) / n_modes
    means = np.zeros((n_modes, dim))
    means[:, 0], means[:, 1] = radius * np.cos(angle), radius * np.sin(angle)
    target = gaussian_mixture(means, std**2)
    target.name = "ring"
    return target


def _anisotropic_gaussian(dim=2, seed=0):
    return gaussian(np.linspace(-1.0, 1.0, dim), np.linspace(0.25, 2.0, dim))


def _cloud(dim=2, seed=0, n_points=64, radius=3.0):
    rng = _as_rng(seed)
    pts = rng.standard_normal((n_points, dim))
    pts *= radius * rng.uniform(0.2, 1.0, (n_points, 1)) / np.linalg.norm(pts, axis=1, keepdims=True)
    return point_cloud(pts)


def _subspace(dim=64, seed=0, k=2):
    return embed(ring_mixture(dim=k) if k >= 2 else _cloud(1, seed), dim, seed)


TARGETS = {
    "ring": lambda dim=2, seed=0: ring_mixture(dim=dim),
    "gaussian": _anisotropic_gaussian,
    "cloud": _cloud,
    "subspace": _subspace,
}


def make_target(name: str, dim: int | None = None, seed: int = 0) -> MixtureTarget:
    """A built-in target by name: ``'ring'`` (default), ``'gaussian'``, ``'cloud'``, ``'subspace'``."""
    try:
        build = TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; choose from {sorted(TARGETS)}") from None
    if dim is None:
        return build(seed=seed)
    return build(dim=check_int("dim", dim, 2 if name in ("ring", "subspace") else 1), seed=seed)
