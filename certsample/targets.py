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

import math

import numpy as np

from . import lipschitz
from .forward import alpha, sigma2
from .kernels.score import score_lane_rows, time_constants_size
from .validation import check_int, positive_finite, real_array

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


#: largest ``max |Q^T Q - I|`` of a stored basis (what a QR factorisation delivers); looser ones are re-orthonormalised
ORTHONORMAL_TOLERANCE = 1e-14


def _as_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (or a numpy Generator), got {seed!r}")
    return np.random.default_rng(seed)


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
        Orthonormal columns; ``None`` means the identity (``k = d``). Stored orthonormal to rounding (re-orthonormalised
        past :data:`ORTHONORMAL_TOLERANCE`); the exact target's basis is the polar factor ``Q (Q^T Q)^{-1/2}`` of the
        stored ``Q``, exactly orthonormal, which the proofs use (``certsample.verify.enclosure.basis_balls`` bounds its
        distance from ``Q``).
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
            raise ValueError(f"variances of shape {variances.shape} do not fit means of shape {means.shape}") from None
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
            gram = basis.T @ basis
            if not np.allclose(gram, np.eye(k), atol=1e-10):
                raise ValueError("basis columns must be orthonormal")
            if np.max(np.abs(gram - np.eye(k))) > ORTHONORMAL_TOLERANCE:
                # orthonormal to 1e-10 only: the nearest columns orthonormal to rounding (QR, signs kept), so that
                # the score's projections and the enclosures' decomposition describe the same target
                q, r = np.linalg.qr(basis)
                basis = q * np.where(np.diag(r) < 0, -1.0, 1.0)
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
    def law_at(self, t: float) -> MixtureTarget:
        """The exact marginal ``q_t`` of the forward process started from this target."""
        t = float(t)
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"time t must be finite and >= 0, got {t!r}")
        a, s2 = float(alpha(t)), float(sigma2(t))
        return MixtureTarget(
            a * self.means,
            a * a * self.variances + s2,
            self.weights,
            self.basis,
            a * a * self.lam_perp + s2,
            name=f"{self.name}@t={t:g}",
        )

    def sample(self, n: int, seed=None, t: float = 0.0) -> np.ndarray:
        """``n`` exact samples of ``q_t`` (``t = 0``: the data)."""
        n = check_int("number of samples n", n, 0)
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
            logp, diff, var = self._component_terms(y[lo : lo + rows], t if np.ndim(t) == 0 else t[lo : lo + rows])
            resp = np.exp(logp - logp.max(axis=1, keepdims=True))
            resp /= resp.sum(axis=1, keepdims=True)
            out[lo : lo + rows] = -np.einsum("nc,nci->ni", resp, diff / var)
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
            logp, _, _ = self._component_terms(y[lo : lo + rows], t if np.ndim(t) == 0 else t[lo : lo + rows])
            top = logp.max(axis=1)
            out[lo : lo + rows] = top + np.log(np.exp(logp - top[:, None]).sum(axis=1))
        if self.basis is not None and self.dim > self.basis.shape[1]:
            residual, v_perp = self._perp(x, y, t)
            m = self.dim - self.basis.shape[1]
            out += -0.5 * np.sum(residual**2, axis=1) / np.ravel(v_perp) - 0.5 * m * np.log(
                2 * np.pi * np.ravel(v_perp)
            )
        return out

    # ------------------------------------------------------------------ Lipschitz bounds (certsample.lipschitz)
    def score_lipschitz(self, t: float, radius: float | None = None) -> float:
        """:func:`certsample.lipschitz.score_lipschitz`: an upper bound on the Lipschitz constant of ``x ->
        grad log q_t(x)``, on the ball ``|x| <= radius`` when given (required for unequal variances)."""
        return lipschitz.score_lipschitz(self, t, radius)

    @property
    def equal_variances(self) -> bool:
        """Whether every component has the same (diagonal) covariance: then a global bound exists."""
        return bool(np.all(self.variances == self.variances[0]))

    def mass_radius(self, t: float, tail: float = 1e-12) -> float:
        """:func:`certsample.lipschitz.mass_radius`: a radius ``R`` with ``P(|y| > R) <= tail`` for ``y``
        the plane coordinates of ``q_t``."""
        return lipschitz.mass_radius(self, t, tail)

    def working_score_lipschitz(self, t: float, tail: float = 1e-12) -> float:
        """:func:`certsample.lipschitz.working_score_lipschitz`: :meth:`score_lipschitz` where a global
        bound exists, else the bound on the ball of :meth:`mass_radius`."""
        return lipschitz.working_score_lipschitz(self, t, tail)

    def drift_one_sided_lipschitz(self, t: float, radius: float | None = None) -> float:
        """:func:`certsample.lipschitz.drift_one_sided_lipschitz`: an upper bound of ``lambda_max`` of the
        symmetric Jacobian of the probability-flow drift ``x + grad log q_t(x)``."""
        return lipschitz.drift_one_sided_lipschitz(self, t, radius)

    # ------------------------------------------------------------------ compiled kernels
    def kernel_params(self) -> tuple:
        """The tuple :func:`certsample.kernels.score.target_score` reads (contiguous float64)."""
        basis = np.zeros((0, 0)) if self.basis is None else np.ascontiguousarray(self.basis)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        # one row of variances when every component shares them: the kernel then skips the
        # per-component variances and determinants (they cancel in the softmax)
        variances = self.variances[:1] if self.equal_variances else self.variances
        return (np.ascontiguousarray(self.means), np.ascontiguousarray(variances), log_w, basis, self.lam_perp)

    def kernel_lane_rows(self) -> int:
        """Rows of the compiled score's per-particle scratch (one column per particle of a block)."""
        return score_lane_rows(self.n_components, self.means.shape[1])

    def kernel_work_size(self, time_slots: int = 2) -> int:
        """Scratch entries of the compiled score (per particle, or per block of particles beside the
        block's ``lanes``), caching the constants of ``time_slots`` times."""
        rows = 1 if self.equal_variances else self.n_components
        return self.kernel_lane_rows() + time_constants_size(rows, self.means.shape[1], time_slots)

    def __repr__(self) -> str:
        return (
            f"MixtureTarget(name={self.name!r}, d={self.dim}, components={self.n_components}, k={self.means.shape[1]})"
        )


# ---------------------------------------------------------------------- constructors
def gaussian(mean, cov) -> MixtureTarget:
    """``N(mean, cov)``; ``cov`` a scalar, a diagonal vector or a full SPD matrix.

    A full matrix is stored as its float64 eigendecomposition (``eigh``: eigenvalues, the eigenvectors as the basis,
    the mean in that basis). The target *is* that stored law -- the basis's polar factor and the stored variances
    and mean, as every proof and enclosure here states -- and it differs from ``N(mean, cov)`` as given by the
    decomposition's rounding, relative to ``cov``'s largest eigenvalue (flow images of a covariance with
    eigenvalues ``1e6`` and ``1e-6`` differed by ``1e-9``). Samplers and certificates all use the stored law.
    """
    mean = np.atleast_1d(real_array("mean", mean))
    if mean.ndim != 1:
        raise ValueError(f"mean must be a vector, got shape {mean.shape}")
    d = mean.size
    cov = real_array("cov", cov)
    if not np.all(np.isfinite(cov)):
        raise ValueError("cov contains NaN or inf")
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
    ambient_dim = check_int("ambient_dim", ambient_dim, 1)
    if ambient_dim < k:
        raise ValueError(f"ambient_dim={ambient_dim} is smaller than the target dimension {k}")
    q, _ = np.linalg.qr(_as_rng(seed).standard_normal((ambient_dim, k)))
    return MixtureTarget(
        target.means,
        target.variances,
        target.weights,
        basis=q,
        lam_perp=lam_perp,
        name=f"{target.name}_in_R{ambient_dim}",
    )


def ring_mixture(n_modes: int = 8, radius: float = 4.0, std: float = 0.5, dim: int = 2) -> MixtureTarget:
    """``n_modes`` isotropic Gaussians evenly spaced on a circle in the first two coordinates."""
    n_modes = check_int("n_modes", n_modes, 1)
    dim = check_int("dim", dim, 2)
    radius, std = positive_finite("radius", radius), positive_finite("std", std)
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
    build = TARGETS.get(name) if isinstance(name, str) else None
    if build is None:
        raise ValueError(f"unknown target {name!r}; choose from {sorted(TARGETS)}")
    if dim is None:
        return build(seed=seed)
    return build(dim=check_int("dim", dim, 2 if name in ("ring", "subspace") else 1), seed=seed)
