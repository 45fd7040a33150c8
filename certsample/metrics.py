"""Error metrics with exact references.

Two kinds of measurement live here:

* **closed forms between Gaussians** (:func:`gaussian_w2`, :func:`gaussian_kl`): no Monte-Carlo
  noise at all, evaluated so that tiny distances (the interesting regime when a scheme converges)
  keep their relative accuracy instead of drowning in cancellation;
* **sample-based distances** (:func:`sliced_w2`, :func:`mmd`, :func:`tv_histogram`,
  :func:`pathwise_error`) against either a second sample or an exact law; where the reference is
  exact (:func:`tv_histogram` with :func:`gaussian_mixture_bin_probability`) only the sampler's
  own Monte-Carlo noise remains.

Only NumPy (and :mod:`math`) is used at run time.

Covariance conventions (:func:`gaussian_w2`, :func:`gaussian_kl`): ``cov`` is a positive scalar
(isotropic ``c I``), a 1-D array of positive variances (diagonal), or a symmetric positive-definite
``(d, d)`` matrix. Every function raises :class:`ValueError` naming the offending argument for
wrong shapes, mismatched dimensions, NaN/inf entries or a covariance that is not positive definite.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "gaussian_w2",
    "gaussian_kl",
    "sliced_w2",
    "mmd",
    "median_bandwidth",
    "tv_histogram",
    "gaussian_mixture_bin_probability",
    "pathwise_error",
    "sample_mean_cov",
]

# Bytes of the one temporary kernel block in :func:`mmd` (small enough to stay in cache; the peak
# memory is this plus O(n + m), whatever the sample sizes).
_MMD_BLOCK_BYTES = 2**20
# Elements allowed for one block of projected samples in :func:`sliced_w2`.
_SLICED_BLOCK_ELEMENTS = 1 << 20
# Pooled points used by the median heuristic (the median of O(n^2) distances is cheap to estimate).
_MEDIAN_POINTS = 1000


# ----------------------------------------------------------------------------------------------
# input validation
# ----------------------------------------------------------------------------------------------


def _finite_array(name, a):
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real numeric array: {exc}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf entries")
    return arr


def _mean(name, mean):
    m = _finite_array(name, mean)
    if m.ndim == 0:
        m = m.reshape(1)
    if m.ndim != 1 or m.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D array, got shape {m.shape}")
    return m


def _cov(name, cov, d, semidefinite=False):
    """Return ``('diag', variances)`` or ``('full', matrix)`` after checking positive definiteness (semidefiniteness:
    eigenvalues down to ``-1e-12`` times the largest entry, the rounding of a computed covariance)."""
    c = _finite_array(name, cov)
    if c.ndim == 0:
        if not (c > 0 or (semidefinite and c == 0)):
            raise ValueError(f"{name} must be positive (not positive definite), got {float(c)}")
        return "diag", np.full(d, float(c))
    if c.ndim == 1:
        if c.shape != (d,):
            raise ValueError(f"{name} has {c.shape[0]} variances but the mean has dimension {d}")
        if not (np.all(c > 0) or (semidefinite and np.all(c >= 0))):
            raise ValueError(f"{name} must have positive variances (not positive definite)")
        return "diag", c
    if c.ndim == 2:
        if c.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}) to match the mean, got {c.shape}")
        scale = np.max(np.abs(c))
        if np.max(np.abs(c - c.T)) > 1e-10 * scale:
            raise ValueError(f"{name} must be symmetric")
        c = 0.5 * (c + c.T)
        if semidefinite:
            if np.linalg.eigvalsh(c)[0] < -1e-12 * scale:
                raise ValueError(f"{name} is not positive semidefinite")
            return "full", c
        try:
            np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise ValueError(f"{name} is not positive definite") from None
        return "full", c
    raise ValueError(f"{name} must be a scalar, a 1-D or a 2-D array, got shape {c.shape}")


def _gaussian_args(mean1, cov1, mean2, cov2, semidefinite=False):
    m1 = _mean("mean1", mean1)
    m2 = _mean("mean2", mean2)
    if m1.shape != m2.shape:
        raise ValueError(f"mean1 and mean2 have different dimensions: {m1.shape[0]} vs {m2.shape[0]}")
    d = m1.shape[0]
    k1, c1 = _cov("cov1", cov1, d, semidefinite)
    k2, c2 = _cov("cov2", cov2, d, semidefinite)
    return m1, k1, c1, m2, k2, c2


def _samples(name, x, dim=None):
    """Sample array as ``(n, d)``; a 1-D array is ``n`` scalar samples."""
    a = _finite_array(name, x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d) or (n,), got {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one sample of dimension >= 1, got {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{name} has dimension {a.shape[1]}, expected {dim}")
    return a


def _sym_eig(c):
    w, v = np.linalg.eigh(c)
    # Rounding can push eigenvalues of a PSD matrix slightly below zero.
    return np.clip(w, 0.0, None), v


# ----------------------------------------------------------------------------------------------
# Gaussian closed forms
# ----------------------------------------------------------------------------------------------


def gaussian_w2(mean1, cov1, mean2, cov2, semidefinite: bool = False) -> float:
    r"""Wasserstein-2 distance between ``N(mean1, cov1)`` and ``N(mean2, cov2)`` in closed form.

    .. math::

        W_2^2 = |m_1 - m_2|^2 + \operatorname{tr}\bigl(C_1 + C_2
                - 2 (C_2^{1/2} C_1 C_2^{1/2})^{1/2}\bigr).

    Parameters
    ----------
    mean1, mean2 : float or array_like, shape (d,)
        Means.
    cov1, cov2 : float, array_like of shape (d,) or (d, d)
        Covariances: a scalar (isotropic), a vector of variances (diagonal) or an SPD matrix.
    semidefinite : bool
        Accept singular covariances (degenerate Gaussians, e.g. moments of fewer distinct points than ``d + 1``):
        the formula holds for them too. By default a covariance that is not positive definite is refused as a
        likely mistake.

    Returns
    -------
    float
        :math:`W_2 \ge 0`.

    Notes
    -----
    Diagonal pairs use :math:`\sum_i (\sqrt{v_{1i}} - \sqrt{v_{2i}})^2` written as
    :math:`(v_1 - v_2)^2 / (\sqrt{v_1} + \sqrt{v_2})^2`, which has no cancellation. For full
    matrices the trace is not formed directly (its cancellation would limit :math:`W_2` to about
    :math:`\sqrt{\varepsilon \operatorname{tr} C}`); with :math:`S = C_2^{1/2}` and
    :math:`M = (S C_1 S)^{1/2}` (symmetric square roots via ``eigh``), the optimal map from
    :math:`N(0, C_2)` to :math:`N(0, C_1)` is :math:`T = S^{-1} M S^{-1}`, so the covariance part
    equals :math:`E|T Y - Y|^2 = \|S^{-1}(M - C_2)\|_F^2`, a sum of squares that stays accurate
    for nearby covariances. The better-conditioned covariance plays the role of :math:`C_2`
    (the distance is symmetric); ``M`` is ``U Sigma U^T`` from the SVD of ``S C_1^{1/2}``, and both
    covariances are scaled by their largest entry first. Where even the better-conditioned one is
    numerically singular (``lambda_min < 1e-10 lambda_max``), the trace formula with the nuclear norm
    ``tr (S C_1 S)^{1/2} = sum Sigma`` is used instead.

    References
    ----------
    .. [1] D. C. Dowson and B. V. Landau, "The Fréchet distance between multivariate normal
       distributions", J. Multivariate Anal. 12 (1982) 450-455.
    .. [2] C. R. Givens and R. M. Shortt, "A class of Wasserstein metrics for probability
       distributions", Michigan Math. J. 31 (1984) 231-240.
    .. [3] R. Bhatia, T. Jain and Y. Lim, "On the Bures-Wasserstein distance between positive
       definite matrices", Expo. Math. 37 (2019) 165-191.
    """
    m1, k1, c1, m2, k2, c2 = _gaussian_args(mean1, cov1, mean2, cov2, semidefinite)
    dm = m1 - m2
    mean_part = float(dm @ dm)
    if k1 == "diag" and k2 == "diag":
        s = np.sqrt(c1) + np.sqrt(c2)
        gaps = np.divide(c1 - c2, s, out=np.zeros_like(s), where=s > 0)  # both variances 0: no gap
        cov_part = float(np.sum(gaps**2))
        return math.sqrt(mean_part + cov_part)
    c1 = np.diag(c1) if k1 == "diag" else c1
    c2 = np.diag(c2) if k2 == "diag" else c2
    scale = max(np.max(np.abs(c1)), np.max(np.abs(c2)))  # W2 of the covariances scales like sqrt(scale)
    c1, c2 = c1 / scale, c2 / scale
    w1, v1 = _sym_eig(c1)
    w2, v2 = _sym_eig(c2)
    if w1[0] * w2[-1] > w2[0] * w1[-1]:  # let the better-conditioned matrix be the reference
        c1, c2, w1, v1, w2, v2 = c2, c1, w2, v2, w1, v1
    sq = np.sqrt(w2)
    s = (v2 * sq) @ v2.T
    root1 = (v1 * np.sqrt(w1)) @ v1.T
    # M = (S C1 S)^{1/2} = U Sigma U^T from the SVD S C1^{1/2} = U Sigma V^T: S C1 S is never formed, which
    # would square the condition number
    u, sigma, _ = np.linalg.svd(s @ root1)
    if w2[0] > _REFERENCE_CONDITION * w2[-1]:
        m = (u * sigma) @ u.T
        r = ((v2 / sq) @ v2.T) @ (m - c2)
        cov_part = float(np.sum(r * r))
    else:  # S^{-1} too large: the trace formula, exact up to its cancellation (about sqrt(eps tr C))
        cov_part = max(0.0, float(np.trace(c1) + np.trace(c2) - 2.0 * np.sum(sigma)))
    return math.sqrt(mean_part + scale * cov_part)


#: smallest ``lambda_min / lambda_max`` of the reference covariance for which ``S^{-1}`` is formed in gaussian_w2
_REFERENCE_CONDITION = 1e-10


def _x_minus_log1p(delta):
    """``delta - log1p(delta)`` (``= r - 1 - log r`` with ``r = 1 + delta``) without cancellation."""
    delta = np.asarray(delta, dtype=float)
    out = np.empty_like(delta)
    small = np.abs(delta) < 0.25
    # Direct formula loses ~|delta|^{-1} ulps for small delta; use the alternating series
    # sum_{k>=2} (-delta)^k / k instead (30 terms: 0.25^30 < 1e-18).
    ds = delta[small]
    acc = np.zeros_like(ds)
    for k in range(30, 1, -1):
        acc = 1.0 / k - ds * acc
    out[small] = ds * ds * acc
    db = delta[~small]
    out[~small] = db - np.log1p(db)
    return out


def gaussian_kl(mean1, cov1, mean2, cov2) -> float:
    r"""Kullback-Leibler divergence :math:`KL(N(m_1, C_1) \,\|\, N(m_2, C_2))`.

    .. math::

        KL = \tfrac12 \bigl[\operatorname{tr}(C_2^{-1} C_1) - d - \log\det(C_2^{-1} C_1)
             + (m_1 - m_2)^\top C_2^{-1} (m_1 - m_2)\bigr]
           = \tfrac12 \sum_i (\delta_i - \log(1 + \delta_i)) + \tfrac12 |L^{-1}(m_1 - m_2)|^2,

    where :math:`C_2 = L L^\top` (Cholesky) and :math:`\delta_i` are the eigenvalues of
    :math:`L^{-1}(C_1 - C_2)L^{-\top}`, i.e. :math:`r_i - 1` for the eigenvalues :math:`r_i` of
    :math:`C_2^{-1}C_1`.

    Parameters
    ----------
    mean1, mean2 : float or array_like, shape (d,)
        Means.
    cov1, cov2 : float, array_like of shape (d,) or (d, d)
        Covariances: a scalar (isotropic), a vector of variances (diagonal) or an SPD matrix.

    Returns
    -------
    float
        :math:`KL \ge 0` (nats).

    Notes
    -----
    Writing the covariance part through :math:`\delta_i` (from the difference :math:`C_1 - C_2`,
    not from :math:`r_i` itself) and evaluating :math:`\delta - \log(1 + \delta)` by its series
    for small :math:`\delta` keeps the relative accuracy of tiny divergences (``1e-14`` and below)
    that the textbook ``tr - d - logdet`` formula loses entirely.

    References
    ----------
    .. [1] S. Kullback, *Information Theory and Statistics*, Wiley, 1959.
    .. [2] J. Duchi, "Derivations for linear algebra and optimization", 2007, Sec. 9
       (KL divergence between multivariate normals).
    """
    m1, k1, c1, m2, k2, c2 = _gaussian_args(mean1, cov1, mean2, cov2)
    dm = m1 - m2
    if k1 == "diag" and k2 == "diag":
        delta = (c1 - c2) / c2
        return float(0.5 * np.sum(_x_minus_log1p(delta)) + 0.5 * np.sum(dm * dm / c2))
    c1 = np.diag(c1) if k1 == "diag" else c1
    c2 = np.diag(c2) if k2 == "diag" else c2
    lower = np.linalg.cholesky(c2)
    z = np.linalg.solve(lower, dm)
    a = np.linalg.solve(lower, np.linalg.solve(lower, c1 - c2).T)
    delta = np.linalg.eigvalsh(0.5 * (a + a.T))
    # r_i = 1 + delta_i > 0 exactly for SPD C1; keep rounding from crossing -1.
    delta = np.maximum(delta, -1.0 + 1e-300)
    return float(0.5 * np.sum(_x_minus_log1p(delta)) + 0.5 * float(z @ z))


# ----------------------------------------------------------------------------------------------
# sample-based distances
# ----------------------------------------------------------------------------------------------


def _quantile_merge(n, m):
    """Interval weights and quantile indices that make 1-D W2 between sorted samples exact.

    The quantile functions of two empirical laws with ``n`` and ``m`` equal atoms are step
    functions with jumps at ``i/n`` and ``j/m``; on each interval of the merged grid both are
    constant, so the integral of their squared difference is a finite weighted sum.
    """
    if n == m:
        idx = np.arange(n)
        return np.full(n, 1.0 / n), idx, idx
    t = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    w = np.diff(t)
    keep = w > 0
    w, mid = w[keep], (0.5 * (t[:-1] + t[1:]))[keep]
    ix = np.minimum((mid * n).astype(np.int64), n - 1)
    iy = np.minimum((mid * m).astype(np.int64), m - 1)
    return w, ix, iy


def sliced_w2(x, y, n_projections: int = 256, seed=0) -> float:
    r"""Sliced Wasserstein-2 distance between two sample sets.

    .. math::

        SW_2(\mu, \nu) = \Bigl(\mathbb E_{u \sim \mathrm{Unif}(S^{d-1})}
                          W_2^2(u_\# \mu, u_\# \nu)\Bigr)^{1/2},

    with the expectation replaced by an average over ``n_projections`` random unit directions.
    Each 1-D distance is exact for the two empirical laws: the sorted projections are matched
    quantile by quantile, on the merged grid ``{i/n} U {j/m}`` when ``n != m``.

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
        First sample.
    y : array_like, shape (m, d) or (m,)
        Second sample, same dimension ``d``.
    n_projections : int, default 256
        Number of random directions.
    seed : int or numpy.random.Generator, default 0
        Seed of the directions (fixed by default so repeated calls are comparable).

    Returns
    -------
    float

    Notes
    -----
    For two laws that differ by a shift ``m`` (and are otherwise equal), each projected distance is
    ``|u . m|`` and :math:`E (u \cdot m)^2 = |m|^2 / d`, so :math:`SW_2 = |m| / \sqrt d`.
    In 1-D the directions are ``+-1`` and the result is the exact empirical :math:`W_2`.

    References
    ----------
    .. [1] J. Rabin, G. Peyré, J. Delon and M. Bernot, "Wasserstein barycenter and its application
       to texture mixing", SSVM 2011, LNCS 6667, 435-446.
    .. [2] N. Bonneel, J. Rabin, G. Peyré and H. Pfister, "Sliced and Radon Wasserstein barycenters
       of measures", J. Math. Imaging Vision 51 (2015) 22-45.
    """
    x = _samples("x", x)
    y = _samples("y", y, dim=x.shape[1])
    if isinstance(n_projections, bool) or not isinstance(n_projections, (int, np.integer)) or n_projections < 1:
        raise ValueError(f"n_projections must be a positive integer, got {n_projections!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    d = x.shape[1]
    u = rng.standard_normal((d, int(n_projections)))
    u /= np.linalg.norm(u, axis=0, keepdims=True)  # Gaussian directions normalised: uniform on S^{d-1}
    n, m = x.shape[0], y.shape[0]
    w, ix, iy = _quantile_merge(n, m)
    block = max(1, _SLICED_BLOCK_ELEMENTS // max(n, m))
    total = 0.0
    for j in range(0, u.shape[1], block):
        px = np.sort(x @ u[:, j : j + block], axis=0)
        py = np.sort(y @ u[:, j : j + block], axis=0)
        diff = px[ix] - py[iy]
        total += float(np.sum(w @ (diff * diff)))
    return math.sqrt(total / u.shape[1])


def _sq_dists(a, b, a2, b2):  # used by the median heuristic
    d2 = a2[:, None] + b2[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0, out=d2)  # the expansion can round slightly below zero


def _kernel_sum(a, b, gamma, same):
    """``sum_{i,j} exp(-gamma |a_i - b_j|^2)`` in row blocks; with ``same`` (``a is b``) the diagonal
    is left out."""
    # exponent = 2 gamma a.b - gamma |a|^2 - gamma |b|^2, built in place in one block buffer
    na = -gamma * np.einsum("ij,ij->i", a, a)
    nb = -gamma * np.einsum("ij,ij->i", b, b)
    bt = (2.0 * gamma) * b.T
    # Blocks of ~1 MB stay cache-resident across the in-place passes (several times faster).
    rows = max(1, _MMD_BLOCK_BYTES // (8 * b.shape[0]))
    total = 0.0
    for i in range(0, a.shape[0], rows):
        i2 = min(i + rows, a.shape[0])
        j0 = i if same else 0  # symmetric sum: upper block triangle only, off-diagonal part doubled
        g = a[i:i2] @ bt[:, j0:]
        g += na[i:i2, None]
        g += nb[None, j0:]
        np.minimum(g, 0.0, out=g)  # rounding can make -gamma |a - b|^2 slightly positive
        if same:
            r = np.arange(i2 - i)
            g[r, r] = 0.0  # exact zero so that each diagonal term is exactly 1
        np.exp(g, out=g)
        if same:
            total += float(g[:, : i2 - i].sum()) + 2.0 * float(g[:, i2 - i :].sum())
        else:
            total += float(g.sum())
    if same:
        total -= a.shape[0]
    return total


def _median_bandwidth(x, y):
    z = np.concatenate([x, y])
    if z.shape[0] > _MEDIAN_POINTS:
        z = z[np.random.default_rng(0).choice(z.shape[0], _MEDIAN_POINTS, replace=False)]
    z2 = np.einsum("ij,ij->i", z, z)
    d2 = _sq_dists(z, z, z2, z2)
    iu = np.triu_indices(z.shape[0], k=1)
    h = math.sqrt(float(np.median(d2[iu])))
    if not h > 0:
        raise ValueError(
            "x and y: the median heuristic bandwidth is 0 (too many coincident points); pass bandwidth explicitly"
        )
    return h


def _unit_frame(x, y):
    """``(x', y', size)``: both samples centred on their pooled mean and divided by ``size``, their largest entry
    after centring, so that the distances ``|a|^2 + |b|^2 - 2 a.b`` keep their digits whatever the offset and scale."""
    centre = (x.sum(axis=0) + y.sum(axis=0)) / (x.shape[0] + y.shape[0])
    x, y = x - centre, y - centre
    size = max(float(np.max(np.abs(x))), float(np.max(np.abs(y))))
    size = size if size > 0 else 1.0
    return x / size, y / size, size


def median_bandwidth(x, y) -> float:
    """The median heuristic of :func:`mmd`: the median distance between distinct points of the pooled sample
    (at most 1000 of them, drawn with a fixed seed). Pass it as ``bandwidth`` to compare several samples with
    one kernel."""
    x = _samples("x", x)
    y = _samples("y", y, dim=x.shape[1])
    x, y, size = _unit_frame(x, y)
    return _median_bandwidth(x, y) * size


def mmd(x, y, bandwidth=None) -> float:
    r"""Unbiased estimate of the squared maximum mean discrepancy with a Gaussian kernel.

    .. math::

        \widehat{MMD}^2_u = \frac{1}{n(n-1)} \sum_{i \ne j} k(x_i, x_j)
            + \frac{1}{m(m-1)} \sum_{i \ne j} k(y_i, y_j)
            - \frac{2}{nm} \sum_{i, j} k(x_i, y_j),
        \qquad k(a, b) = \exp\Bigl(-\frac{|a - b|^2}{2 h^2}\Bigr).

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
        First sample, ``n >= 2``.
    y : array_like, shape (m, d) or (m,)
        Second sample, ``m >= 2``, same dimension.
    bandwidth : float, optional
        Kernel bandwidth ``h``. Default: the median heuristic, ``h`` = median Euclidean distance
        between distinct points of the pooled sample (estimated on at most 1000 points drawn with
        a fixed seed, so the result is deterministic).

    Returns
    -------
    float
        The unbiased estimate; it can be slightly negative when the two laws agree.

    Notes
    -----
    The kernel matrices are never formed: rows are processed in blocks of about 1 MB, so
    ``20000 x 20000`` samples need only a few MB beyond the inputs. Under equal laws the estimate has mean 0
    and standard deviation of order ``1/n``.

    References
    ----------
    .. [1] A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and A. Smola, "A kernel
       two-sample test", J. Mach. Learn. Res. 13 (2012) 723-773, Lemma 6.
    """
    x = _samples("x", x)
    y = _samples("y", y, dim=x.shape[1])
    if x.shape[0] < 2:
        raise ValueError("x needs at least 2 samples for the unbiased estimate")
    if y.shape[0] < 2:
        raise ValueError("y needs at least 2 samples for the unbiased estimate")
    # in the unit frame: the kernel sums' distances |a|^2 + |b|^2 - 2 a.b would lose their digits to a large
    # common offset (and underflow or overflow at extreme scales)
    n, m = x.shape[0], y.shape[0]
    x, y, size = _unit_frame(x, y)
    if bandwidth is None:
        h = _median_bandwidth(x, y)
    else:
        h = float(_finite_array("bandwidth", bandwidth))
        if not h > 0:
            raise ValueError(f"bandwidth must be positive, got {h}")
        h = h / size
    gamma = 0.5 / (h * h)
    kxx = _kernel_sum(x, x, gamma, True) / (n * (n - 1))
    kyy = _kernel_sum(y, y, gamma, True) / (m * (m - 1))
    kxy = _kernel_sum(x, y, gamma, False) / (n * m)
    return float(kxx + kyy - 2.0 * kxy)


# ----------------------------------------------------------------------------------------------
# histograms against exact bin probabilities
# ----------------------------------------------------------------------------------------------


def _edges_1d(name, e):
    e = _finite_array(name, e)
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 bin edges, got shape {e.shape}")
    if not np.all(np.diff(e) > 0):
        raise ValueError(f"{name} must be strictly increasing")
    return e


def _edges(edges):
    """Return a tuple of 1-D edge arrays (one per dimension, dimension 1 or 2)."""
    pair = isinstance(edges, (tuple, list)) and len(edges) == 2 and all(np.ndim(e) == 1 for e in edges)
    if pair or (isinstance(edges, np.ndarray) and edges.ndim == 2 and edges.shape[0] == 2):
        return (_edges_1d("edges[0]", edges[0]), _edges_1d("edges[1]", edges[1]))
    return (_edges_1d("edges", edges),)


def _bin_index(v, e):
    """Bin of each value: bins are ``[e_k, e_{k+1})``, the last one closed (as ``numpy.histogram``)."""
    k = np.searchsorted(e, v, side="right") - 1
    k[v == e[-1]] = e.size - 2
    inside = (v >= e[0]) & (v <= e[-1])
    return k, inside


def tv_histogram(samples, bin_probability, edges) -> float:
    r"""Total variation between the histogram of ``samples`` and exact bin probabilities.

    .. math::

        TV = \tfrac12 \Bigl(\sum_b |\hat p_b - p_b| + |\hat p_{out} - p_{out}|\Bigr),
        \qquad p_{out} = 1 - \sum_b p_b,

    where :math:`\hat p_b` is the fraction of samples in bin ``b`` and :math:`\hat p_{out}` the
    fraction outside the grid (so mass escaping the grid is counted, not silently dropped).

    Parameters
    ----------
    samples : array_like, shape (n,), (n, 1) or (n, 2)
        Samples in one or two dimensions.
    bin_probability : callable
        ``bin_probability(edges)`` returns the exact probability of each bin: shape
        ``(len(edges) - 1,)`` in 1-D, ``(nx, ny)`` in 2-D. See
        :func:`gaussian_mixture_bin_probability`.
    edges : array_like or pair of array_like
        Strictly increasing bin edges (1-D), or a pair ``(x_edges, y_edges)`` (2-D; a tuple, a
        list or a ``(2, k)`` array). Bins are
        half-open ``[e_k, e_{k+1})`` except the last, which is closed, as in ``numpy.histogram``.

    Returns
    -------
    float
        TV in ``[0, 1]``.

    Notes
    -----
    This is the TV between the two laws pushed forward to the bins, hence a lower bound on the
    TV of the laws themselves (up to sampling noise), and it tends to that TV as the bins refine.
    The Monte-Carlo part has a positive bias of at most
    :math:`\tfrac12 \sum_b \sqrt{p_b (1 - p_b) / n}` (Jensen), so grids should stay coarse
    enough for the sample size.

    References
    ----------
    .. [1] L. Devroye and L. Györfi, *Nonparametric Density Estimation: The L1 View*, Wiley, 1985.
    .. [2] A. B. Tsybakov, *Introduction to Nonparametric Estimation*, Springer, 2009, Sec. 2.4.
    """
    if not callable(bin_probability):
        raise ValueError(f"bin_probability must be callable, got {type(bin_probability).__name__}")
    e = _edges(edges)
    dim = len(e)
    s = _finite_array("samples", samples)
    if s.ndim == 1 and dim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[1] != dim or s.shape[0] == 0:
        raise ValueError(f"samples must have shape (n, {dim}) to match the edges, got {s.shape}")
    shape = tuple(ei.size - 1 for ei in e)
    inside = np.ones(s.shape[0], dtype=bool)
    idx = []
    for j, ej in enumerate(e):
        k, ins = _bin_index(s[:, j], ej)
        inside &= ins
        idx.append(k)
    flat = np.ravel_multi_index(tuple(k[inside] for k in idx), shape)
    counts = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)
    n = s.shape[0]
    p = _finite_array("bin_probability(edges)", bin_probability(e[0] if dim == 1 else e))
    if p.shape != shape:
        raise ValueError(f"bin_probability(edges) must return shape {shape}, got {p.shape}")
    total = float(p.sum())
    if np.any(p < -1e-12) or total > 1.0 + 1e-9:
        raise ValueError("bin_probability(edges) must return non-negative probabilities summing to <= 1")
    p_out = max(1.0 - total, 0.0)
    frac = counts / n
    out = (n - counts.sum()) / n
    return float(0.5 * (np.sum(np.abs(frac - p)) + abs(out - p_out)))


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _normal_bins(z):
    """``Phi(z[:, k+1]) - Phi(z[:, k])`` for standardised edges ``z`` (one ``erfc`` call per edge).

    With ``t = erfc(|z| / sqrt 2)`` (twice the tail beyond ``|z|``), a bin inside one tail is a
    difference of tails, accurate relative to its own size far out; a bin straddling 0 is
    ``1 - (t_a + t_b) / 2``, accurate in absolute terms.
    """
    t = _ERFC(np.abs(z) / math.sqrt(2.0)).astype(float)
    a, b = z[:, :-1], z[:, 1:]
    ta, tb = t[:, :-1], t[:, 1:]
    return np.where(a >= 0, 0.5 * (ta - tb), np.where(b <= 0, 0.5 * (tb - ta), 1.0 - 0.5 * (ta + tb)))


def _axis_probabilities(mu, var, e):
    """(K, nbins) probabilities of ``N(mu_k, var_k)`` for the bins of ``e``; ``var = 0`` is a Dirac."""
    out = np.zeros((mu.size, e.size - 1))
    pos = var > 0
    if np.any(pos):
        sd = np.sqrt(var[pos])[:, None]
        z = (e[None, :] - mu[pos, None]) / sd
        out[pos] = _normal_bins(z)
    for k in np.flatnonzero(~pos):  # point mass: same bin convention as tv_histogram
        kk, ins = _bin_index(np.array([mu[k]]), e)
        if ins[0]:
            out[k, kk[0]] = 1.0
    return out


def gaussian_mixture_bin_probability(means, variances, weights, edges) -> np.ndarray:
    r"""Exact bin probabilities of a diagonal Gaussian mixture in one or two dimensions.

    .. math::

        P(\text{bin}) = \sum_k w_k \prod_{j=1}^{dim}
            \bigl[\Phi\bigl(\tfrac{b_j - \mu_{kj}}{\sigma_{kj}}\bigr)
                - \Phi\bigl(\tfrac{a_j - \mu_{kj}}{\sigma_{kj}}\bigr)\bigr].

    This is the exact reference for :func:`tv_histogram` when the law is a Gaussian mixture, or a
    point cloud convolved with Gaussian noise (one component per point). Use it as
    ``lambda e: gaussian_mixture_bin_probability(means, variances, weights, e)``.

    Parameters
    ----------
    means : array_like, shape (K, dim) (or (K,) in 1-D)
        Component means.
    variances : array_like, shape (K, dim) (or (K,) in 1-D)
        Component variances per coordinate, ``>= 0`` (``0``: a point mass in that coordinate,
        with the half-open bin convention of :func:`tv_histogram`).
    weights : array_like, shape (K,)
        Non-negative weights summing to 1.
    edges : array_like or pair of array_like
        Bin edges as in :func:`tv_histogram`; ``dim`` is 1 or 2 accordingly.

    Returns
    -------
    numpy.ndarray
        Shape ``(nx,)`` in 1-D, ``(nx, ny)`` in 2-D. The mass outside the grid is
        ``1 - sum`` of the result.

    Notes
    -----
    :math:`\Phi(b) - \Phi(a)` is evaluated as a difference of ``math.erfc`` tails when both ends
    are in the same tail, so far-tail bins keep their relative accuracy.

    References
    ----------
    .. [1] M. Abramowitz and I. A. Stegun, *Handbook of Mathematical Functions*, 1964, 26.2.29
       (normal distribution in terms of erf/erfc).
    """
    e = _edges(edges)
    dim = len(e)
    mu = _finite_array("means", means)
    var = _finite_array("variances", variances)
    w = _finite_array("weights", weights)
    if mu.ndim == 1 and dim == 1:
        mu = mu[:, None]
    if var.ndim == 1 and dim == 1:
        var = var[:, None]
    if mu.ndim != 2 or mu.shape[1] != dim or mu.shape[0] == 0:
        raise ValueError(f"means must have shape (K, {dim}) to match the edges, got {mu.shape}")
    if var.shape != mu.shape:
        raise ValueError(f"variances must have the shape of means {mu.shape}, got {var.shape}")
    if np.any(var < 0):
        raise ValueError("variances must be non-negative")
    if w.shape != (mu.shape[0],):
        raise ValueError(f"weights must have shape ({mu.shape[0]},), got {w.shape}")
    if np.any(w < 0) or abs(float(w.sum()) - 1.0) > 1e-9:
        raise ValueError("weights must be non-negative and sum to 1")
    per_axis = [_axis_probabilities(mu[:, j], var[:, j], e[j]) for j in range(dim)]
    if dim == 1:
        return w @ per_axis[0]
    return np.einsum("k,ki,kj->ij", w, per_axis[0], per_axis[1])


# ----------------------------------------------------------------------------------------------
# pathwise error and moments
# ----------------------------------------------------------------------------------------------


def pathwise_error(x, x_ref) -> dict:
    r"""Particle-by-particle error against a reference computed from the same initial points/noise.

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
        Particles produced by a scheme.
    x_ref : array_like, same shape as ``x``
        Reference particles (e.g. the exact flow map of the same starting points).

    Returns
    -------
    dict
        ``'rms'``: :math:`(\frac1n \sum_i |x_i - x^{ref}_i|^2)^{1/2}`, the strong (L2) error;
        ``'max'``: :math:`\max_i |x_i - x^{ref}_i|` (Euclidean norms).

    References
    ----------
    .. [1] P. E. Kloeden and E. Platen, *Numerical Solution of Stochastic Differential Equations*,
       Springer, 1992, Sec. 9.6 (strong convergence criterion).
    """
    a = _finite_array("x", x)
    b = _finite_array("x_ref", x_ref)
    if a.ndim not in (1, 2) or a.size == 0:
        raise ValueError(f"x must have shape (n, d) or (n,), got {a.shape}")
    if b.shape != a.shape:
        raise ValueError(f"x_ref must have the shape of x {a.shape}, got {b.shape}")
    diff = (a - b).reshape(a.shape[0], -1)
    norms = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return {"rms": float(np.sqrt(np.mean(norms * norms))), "max": float(norms.max())}


def sample_mean_cov(x):
    """Sample mean and unbiased sample covariance of particles ``x`` of shape ``(n, d)``.

    Handy for :func:`gaussian_w2` / :func:`gaussian_kl` between a sampler's output (moment-matched
    Gaussian) and an exact Gaussian law.

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,), ``n >= 2``

    Returns
    -------
    mean : numpy.ndarray, shape (d,)
    cov : numpy.ndarray, shape (d, d)
        ``sum_i (x_i - mean)(x_i - mean)^T / (n - 1)``.

    References
    ----------
    .. [1] T. W. Anderson, *An Introduction to Multivariate Statistical Analysis*, 3rd ed.,
       Wiley, 2003, Sec. 3.3.
    """
    a = _samples("x", x)
    if a.shape[0] < 2:
        raise ValueError("x needs at least 2 samples for a covariance")
    mean = a.mean(axis=0)
    c = a - mean
    return mean, (c.T @ c) / (a.shape[0] - 1)
