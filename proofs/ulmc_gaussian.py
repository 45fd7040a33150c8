r"""A proved, explicit W2 bound for randomized-midpoint ULMC on Gaussian targets.

Shen and Lee's theorem (:mod:`proofs.shen_lee`) hides its constants. For a Gaussian target the chain
of :func:`certsample.langevin.sample_logconcave` is linear in its state, and the error of the
synchronous coupling with the exact underdamped Langevin diffusion has second moments that obey an
exact linear recursion. Evaluating that recursion gives an upper bound on ``W2(law(x_N), q_0)`` with
no hidden constant, for the step size, number of steps and start actually run:
:func:`ulmc_gaussian_w2_bound`.

The proof is this package's own (the full texts of Shen-Lee and of Yu, Karagulyan and Dalalyan's
explicit-constant analysis were not reachable); it uses only the exactness of the scheme's noise law
and of the diffusion's Gaussian transition.

References
----------
.. [1] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling", NeurIPS 2019,
   arXiv:1909.05503.
.. [2] L. Yu, A. Karagulyan, A. Dalalyan, "Langevin Monte Carlo for strongly log-concave
   distributions: randomized midpoint revisited", arXiv:2306.08494, 2023 (explicit constants for
   general strongly log-concave targets; not used here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ULMCGaussianBound", "ulmc_gaussian_w2_bound", "exp_generator"]

_NODES = 24  # Gauss-Legendre nodes per integral (the error analysis is in ulmc_gaussian_w2_bound)
_ROUNDING = 1e-9  # relative inflation covering float64 rounding in the recursion
H_MAX = 1.0  # largest step for which the quadrature error statement is made


def exp_generator(c, s):
    """``exp(s G)`` for ``G = [[0, 1], [-c, -2]]``, batched over ``s`` (shape ``s.shape + (2, 2)``).

    ``G`` has eigenvalues ``-1 +- w``, ``w = sqrt(1 - c)``, so ``exp(sG) = e^{-s} (cosh(ws) I +
    (sinh(ws) / w) (G + I))``; ``sinh(ws) / w`` is taken through complex ``w`` (``c > 1``) and as
    ``s`` at ``w = 0``.
    """
    s = np.asarray(s, dtype=float)
    w = np.sqrt(complex(1.0 - c))
    ch = np.real(np.cosh(w * s))
    sh = s if w == 0 else np.real(np.sinh(w * s) / w)
    g_plus = np.array([[1.0, 1.0], [-c, -1.0]])
    out = ch[..., None, None] * np.eye(2) + sh[..., None, None] * g_plus
    return np.exp(-s)[..., None, None] * out


def _scheme_matrix(c, h, a):
    """The randomized-midpoint step's linear map on ``(y, v)`` for ``u grad f(y) = c y``; batched over
    midpoint times ``a`` (shape ``a.shape + (2, 2)``)."""
    a = np.asarray(a, dtype=float)
    e_a, e_h = -np.expm1(-2 * a), -math.expm1(-2 * h)
    half_y, half_v = 1 - 0.5 * c * (a - 0.5 * e_a), 0.5 * e_a  # x_half's row
    late = np.exp(-2 * (h - a))
    y_gain, v_gain = 0.5 * c * h * (1 - late), c * h * late
    return np.stack(
        [
            np.stack([1 - y_gain * half_y, 0.5 * e_h - y_gain * half_v], axis=-1),
            np.stack([-v_gain * half_y, math.exp(-2 * h) - v_gain * half_v], axis=-1),
        ],
        axis=-2,
    )


def _noise_kernels(c, h, a, r, u):
    """Kernels ``(k_scheme(r), k_exact(r))`` (each ``r.shape + (2,)``) of the step's noises against
    ``dB_r``; ``a`` broadcasts against ``r``."""
    late = np.exp(-2 * (h - np.asarray(a, dtype=float)))
    before = (r < a) * -np.expm1(-2 * np.clip(a - r, 0, None))  # (1 - e^{-2(a - r)}) on [0, a)
    scheme = math.sqrt(u) * np.stack(
        [-np.expm1(-2 * (h - r)) - 0.5 * c * h * (1 - late) * before, 2 * np.exp(-2 * (h - r)) - c * h * late * before],
        axis=-1,
    )
    exact = 2 * math.sqrt(u) * exp_generator(c, h - r)[..., :, 1]
    return scheme, exact


def _gauss_legendre(lo, hi, n=_NODES):
    """Nodes and weights on ``[lo, hi]``; array ends give one rule per row (shape ``lo.shape + (n,)``)."""
    x, w = np.polynomial.legendre.leggauss(n)
    lo, hi = np.asarray(lo, dtype=float)[..., None], np.asarray(hi, dtype=float)[..., None]
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def _step_operators(c, h, u):
    """``(E_alpha[T (.) T^T], E_alpha[Q])`` of the joint recursion for one eigen-direction, all
    quadrature nodes at once."""
    phi = exp_generator(c, h)
    alphas, weights = _gauss_legendre(0.0, 1.0)
    a = alphas * h
    A = _scheme_matrix(c, h, a)  # (J, 2, 2)
    T = np.zeros((len(a), 4, 4))
    T[:, :2, :2], T[:, :2, 2:], T[:, 2:, 2:] = A, A - phi, phi
    lin = np.einsum("a,aik,ajl->ijkl", weights, T, T)  # M -> sum_w T M T^T as a 4-index tensor
    q = np.zeros((4, 4))
    for lo, hi in ((np.zeros_like(a), a), (a, np.full_like(a, h))):  # the scheme's kernel kinks at r = a
        r, wr = _gauss_legendre(lo, hi)  # (J, n)
        scheme, exact = _noise_kernels(c, h, a[:, None], r, u)
        n = np.concatenate([scheme - exact, exact], axis=-1)  # (J, n, 4)
        q += np.einsum("a,ar,ari,arj->ij", weights, wr, n, n)
    return lin, q


@dataclass(frozen=True)
class ULMCGaussianBound:
    """``W2(law(x_N), q_0) <= value``; ``certified`` when the proof's hypotheses hold (see ``reason``)."""

    value: float
    certified: bool
    reason: str
    reference: str = "proofs.ulmc_gaussian (synchronous coupling with the exact diffusion; proof in docstring)"


def ulmc_gaussian_w2_bound(
    mean, cov, h: float, L: float, n_steps: int, init_mean=None, init_var: float = 1.0
) -> ULMCGaussianBound:
    """Upper bound on ``W2(law(x_N), N(mean, cov))`` for :func:`~certsample.langevin.sample_logconcave`.

    Parameters
    ----------
    mean, cov : arrays (d,), (d, d)
        The Gaussian target (``cov`` positive definite).
    h, L : float
        The chain's step (dynamics time) and the Lipschitz constant it was run with (``u = 1/L``).
    n_steps : int
        Steps run.
    init_mean, init_var
        The start ``x_0 ~ N(init_mean, init_var I)`` (default ``N(0, I)``, the sampler's default),
        ``v_0 ~ N(0, u I)``.

    Returns
    -------
    ULMCGaussianBound

    Notes
    -----
    Proof. Rotate to the eigenbasis of ``cov`` (eigenvalues ``s_i``, curvature ``lam_i = 1/s_i``,
    ``c_i = u lam_i``): the potential separates and, given the midpoint fractions ``alpha_k``, so do
    the chain and the diffusion ``dy = v ds, dv = -2 v ds - c y ds + 2 sqrt(u) dB`` (``y = x - mean``);
    both are invariant in law under the rotation of ``N(0, I)`` starts and Brownian motions.

    *Coupling.* Run the diffusion from its stationary law ``z*_0 ~ N(0, diag(s_i, u))`` (``x*_0 ~ q_0``,
    so ``x*_N ~ q_0``), the chain from ``z_0`` with ``y_0 = init_mean' + sqrt(init_var / s_i) y*_0`` and
    ``v_0 = v*_0`` (so ``z_0`` has the chain's start law), and drive both by the same Brownian path.
    Then ``W2(law(x_N), q_0)^2 <= E|x_N - x*_N|^2 = sum_i E e_{N,i,y}^2``.

    *Recursion.* Over step ``k`` the diffusion is ``z*' = Phi z* + int K*(r) dB_r`` with ``Phi =
    exp(hG)`` (:func:`exp_generator`) and ``K*(r) = exp((h - r) G) (0, 2 sqrt(u))``. For ``f`` quadratic
    the scheme's update (module docstring of :mod:`certsample.solvers.ulmc`) is exactly ``z' = A(alpha)
    z + int K_s(r) dB_r``, its three noises being integrals of the same path (``K_s`` in
    ``_noise_kernels``). So ``Z = (e, z*)``, ``e = z - z*``, obeys ``Z' = T(alpha) Z + int N dB`` with
    ``T = [[A, A - Phi], [0, Phi]]``, ``N = (K_s - K*, K*)``; ``alpha`` is independent of ``Z`` and
    of the path, and the Ito integral is independent of ``Z`` with mean zero, so the second moments
    ``M = E Z Z^T`` obey ``M' = E_alpha[T M T^T] + E_alpha[int N N^T dr]`` exactly, from ``M_0``
    computed from the coupling above. The bound is ``sqrt(sum_i M_N[0, 0])``.

    *Numerics.* The expectations over ``alpha ~ U(0, 1)`` and the integrals over ``r`` (split at the
    kink ``r = a``) are Gauss-Legendre rules with 24 nodes of entire functions (exponential
    polynomials of rate at most 4 in ``h alpha``, ``h r``). For ``h <= 1`` they extend to the
    Bernstein ellipse ``rho = 4`` with modulus at most ``e^{10}`` times a polynomial of degree 2, and
    the Gauss-Legendre error ``64 M / (15 (rho^2 - 1) rho^{2n})`` is below ``1e-20`` where ``c = u / s_i <=
    4`` (the generator's eigenvalues ``-1 +- sqrt(1 - c)`` then have modulus at most 2, the rate 4 of the
    products; ``L`` at least a quarter of the target's largest curvature). Float64 rounding in
    the ``log2 N`` squarings of the 17x17 affine step map, and in ``A - Phi`` (both ``I + O(h)``, so a
    relative ``u / h^2``), is covered by the relative inflation ``max(1e-9, 64 u / h^2)`` applied (an
    estimate from the operation count, checked against an 80-bit recomputation down to ``h = 1e-4``). So
    ``certified`` is True for ``h <= 1`` and ``c <= 4``; otherwise the same number is returned, not
    certified, with the reason.
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    d = mean.shape[0]
    if cov.shape != (d, d):
        raise ValueError(f"cov must have shape {(d, d)}, got {cov.shape}")
    if not (h > 0 and math.isfinite(h) and L > 0 and math.isfinite(L)):
        raise ValueError(f"h and L must be finite and > 0, got h={h!r}, L={L!r}")
    n_steps = int(n_steps)
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    eig, basis = np.linalg.eigh(cov)
    if not eig.min() > 0:
        raise ValueError("cov must be positive definite")
    u = 1.0 / L
    start = np.zeros(d) if init_mean is None else np.asarray(init_mean, dtype=float)
    offsets = basis.T @ (start - mean)
    total = 0.0
    cache = {}
    for s_i, offset in zip(eig, offsets):
        key = float(s_i)  # exactly: equal eigenvalues share their operators, no two others do
        if key not in cache:
            cache[key] = _step_operators(u / s_i, h, u)
        lin, q = cache[key]
        scale = math.sqrt(init_var / s_i)
        # Z_0 = (offset + (scale - 1) y*, 0, y*, v*) with y* ~ N(0, s_i), v* ~ N(0, u)
        loads = np.array([[scale - 1, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        m = loads @ np.diag([s_i, u]) @ loads.T
        m[0, 0] += offset * offset
        # M_N = Lin^N M_0 + sum_{k<N} Lin^k Q: one power of the affine map, by repeated squaring
        affine = np.zeros((17, 17))
        affine[:16, :16] = lin.reshape(16, 16)
        affine[:16, 16] = q.ravel()
        affine[16, 16] = 1.0
        total += (np.linalg.matrix_power(affine, n_steps) @ np.append(m.ravel(), 1.0))[0]
    # T holds A - Phi, both I + O(h): their difference loses digits like u / h^2 (relative)
    value = math.sqrt(max(total, 0.0)) * (1 + max(_ROUNDING, 64 * 2.0**-53 / (h * h)))
    c_max = u / float(eig.min())
    certified = h <= H_MAX and c_max <= 4.0
    if h > H_MAX:
        reason = f"h = {h} > {H_MAX}: the quadrature error statement needs h <= {H_MAX}"
    elif c_max > 4.0:
        reason = (
            f"L = {L} is below a quarter of the target's largest curvature 1 / {float(eig.min()):.3g}: the "
            "quadrature error statement needs u / s_i <= 4 (faster oscillating kernels otherwise)"
        )
    else:
        reason = "synchronous coupling with the exact diffusion, second moments by an exact recursion"
    return ULMCGaussianBound(value, certified, reason)
