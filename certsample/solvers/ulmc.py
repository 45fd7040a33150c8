"""Shen-Lee randomized-midpoint underdamped Langevin (ULMC), and a log-concave sampler built on it.

The dynamics, for a potential ``f = -log q_t`` with ``grad f`` ``L``-Lipschitz and ``u = 1/L``::

    dx = v ds,    dv = -2 v ds - u grad f(x) ds + 2 sqrt(u) dB

(friction 2; stationary law ``e^{-f(x)} N(v; 0, u I)``). Integrating the linear part exactly over a
step of length ``h`` and replacing ``int_0^h w(s) grad f(x_s) ds`` by ``h w(alpha h) grad f(x_{alpha h})``
with ``alpha ~ U(0, 1)`` (an unbiased estimate given the path) gives, with ``a = alpha h``::

    x_half = x + (1 - e^{-2a})/2 v - u/2 (a - (1 - e^{-2a})/2) grad f(x) + sqrt(u) W1
    x'     = x + (1 - e^{-2h})/2 v - u h/2 (1 - e^{-2(h - a)}) grad f(x_half) + sqrt(u) W2
    v'     = e^{-2h} v - u h e^{-2(h - a)} grad f(x_half) + 2 sqrt(u) W3

where ``W1 = int_0^a (1 - e^{-2(a-s)}) dB``, ``W2 = int_0^h (1 - e^{-2(h-s)}) dB`` and
``W3 = int_0^h e^{-2(h-s)} dB`` are integrals of one Brownian path (each coordinate independent).

Their joint law is drawn exactly. Splitting the path at ``a`` (``b = h - a = (1 - alpha) h``,
``r = e^{-2b}``) writes them through two independent pairs, ``(A, B)`` on ``[0, a]`` and
``(C, D)`` on ``[a, h]``, each pair ``(int_0^t (1 - e^{-2w}) dB, int_0^t e^{-2w} dB)`` over its
own length ``t``::

    W1 = A,    W2 = A + (1 - r) B + C,    W3 = r B + D.

A pair over length ``t`` has, with ``E = 1 - e^{-2t}``, variances ``g(t) = t - E/2 - E^2/4`` and
``E (2 - E) / 4`` and covariance ``E^2 / 4``. Hence (:func:`ulmc_covariance`)::

    C11 = g(a)                       C12 = g(a) + (1 - r) E_a^2/4       C13 = r E_a^2/4
    C22 = g(h)                       C23 = E_h^2/4                      C33 = (1 - e^{-4h})/4

and the Cholesky factor has closed-form pivots that are sums of non-negative terms (no
cancellation even when ``alpha -> 1`` makes ``W1 ~ W2``), see :func:`ulmc_noise_factor`. ``g`` itself
cancels from ``O(t)`` to ``O(t^3)`` and is summed as a series for ``|t| < 1/2``
(:func:`brownian_g`).

References
----------
.. [1] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling",
   NeurIPS 2019, arXiv:1909.05503.
.. [2] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized midpoints: sequential
   and parallel", arXiv:2406.00924, 2024.
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.jit import compile_for, device_function
from ..kernels.philox import fill_normals, uniform
from ..kernels.score import particle_score
from ..validation import positive_finite
from .base import SDESolver

__all__ = [
    "ULMC_WORK",
    "ULMC_SLOTS",
    "brownian_g",
    "ulmc_noise_factor",
    "ulmc_noise_factor_numpy",
    "ulmc_covariance",
    "ulmc_cholesky",
    "ulmc_draw",
    "ulmc_half",
    "ulmc_end",
    "ulmc_step",
    "ulmc_draw_numpy",
    "ulmc_half_numpy",
    "ulmc_end_numpy",
    "ulmc_step_numpy",
    "ulmc_solver_step",
    "RandomizedMidpointULMC",
    "DEFAULT_H",
]

#: d-vectors of scratch ``ulmc_step`` needs in ``work`` (rows 0..3; longer rows are fine).
ULMC_WORK = 4
#: Philox slots one step uses: ``slot`` (alpha) and ``slot + 1 .. slot + 3`` (the three normals).
ULMC_SLOTS = 4
#: Default step, in the time units of the dynamics above (stiffest mode critically damped, period ~ 1).
DEFAULT_H = 0.2
_SERIES_BELOW = 0.5  # |t| under which g(t) is summed as a series
_SERIES_TERMS = 30  # |4t|^n / (n+1)! < 1e-20 relative for |t| < 1/2 by then


# ---------------------------------------------------------------------- Brownian-integral law
@device_function
def brownian_g(t):
    """``g(t) = int_0^t (1 - e^{-2r})^2 dr = t - E/2 - E^2/4`` with ``E = 1 - e^{-2t}``; any sign of ``t``.

    The closed form cancels from ``O(t)`` down to ``g ~ 4 t^3 / 3``, so for ``|t| < 1/2`` the Taylor
    series ``sum_{n>=2} ((-4)^n - 2 (-2)^n) t^{n+1} / (n+1)!`` is used instead.
    """
    if abs(t) < _SERIES_BELOW:
        term = t  # t^{n+1} / (n+1)! at n = 0
        pow4 = 1.0
        pow2 = 1.0
        total = 0.0
        for n in range(1, _SERIES_TERMS):
            term = term * t / (n + 1)
            pow4 = -4.0 * pow4
            pow2 = -2.0 * pow2
            total += (pow4 - 2.0 * pow2) * term  # the n = 1 coefficient is exactly 0
        return total
    e = -math.expm1(-2.0 * t)
    return t - 0.5 * e - 0.25 * e * e


@device_function
def ulmc_noise_factor(alpha, h):
    """Lower Cholesky factor ``(l11, l21, l22, l31, l32, l33)`` of ``Cov(W1, W2, W3)`` per coordinate.

    With the path split at ``a = alpha h`` (module docstring), the pivots are
    ``p11 = g(a)``, ``p22 = (1 - r)^2 V_B + g(b)``, ``p33 = (V_B M(b) + v_D q_C) / p22`` where
    ``V_B = v_B - c_AB^2 / g(a)`` (variance of ``B`` given ``A``), ``q_C = g(b) - c_CD^2 / v_D``
    (of ``C`` given ``D``) and ``M(b) = int_0^b (e^{-2w} - e^{-2b})^2 dw``: sums of non-negative terms,
    accurate for tiny ``h`` and for ``alpha`` near 0 or 1. Zero pivots give zero columns.
    """
    a = alpha * h
    b = (1.0 - alpha) * h  # not h - a: that loses the digits of b when alpha -> 1
    # pair (A, B) over [0, a]
    e_a = -math.expm1(-2.0 * a)
    g_a = brownian_g(a)
    var_b = 0.25 * e_a * (2.0 - e_a)
    cov_ab = 0.25 * e_a * e_a
    # pair (C, D) over [a, h]
    e_b = -math.expm1(-2.0 * b)
    r = math.exp(-2.0 * b)
    g_b = brownian_g(b)
    var_d = 0.25 * e_b * (2.0 - e_b)
    cov_cd = 0.25 * e_b * e_b
    cond_c = g_b - cov_cd * cov_cd / var_d if var_d > 0.0 else 0.0
    if b < _SERIES_BELOW:
        mirrored = -r * r * brownian_g(-b)
    else:
        mirrored = var_d - r * e_b + b * r * r
    l11 = math.sqrt(g_a)
    if g_a > 0.0:
        cond_b = var_b - cov_ab * cov_ab / g_a
        l21 = (g_a + e_b * cov_ab) / l11
        l31 = r * cov_ab / l11
    else:
        cond_b = var_b
        l21 = 0.0
        l31 = 0.0
    if cond_b < 0.0:
        cond_b = 0.0  # rounding only: the pair's correlation^2 is at most 3/4
    if cond_c < 0.0:
        cond_c = 0.0
    p22 = e_b * e_b * cond_b + g_b
    l22 = math.sqrt(p22)
    if p22 > 0.0:
        l32 = (r * e_b * cond_b + cov_cd) / l22
        p33 = (cond_b * mirrored + var_d * cond_c) / p22
    else:
        l32 = 0.0
        p33 = r * r * cond_b + var_d
    if p33 < 0.0:
        p33 = 0.0
    return l11, l21, l22, l31, l32, math.sqrt(p33)


def _noise_factor_batch(alpha, h, out):
    for i in range(alpha.shape[0]):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3], out[i, 4], out[i, 5] = ulmc_noise_factor(alpha[i], h)


def ulmc_noise_factor_numpy(alpha, h):
    """:func:`ulmc_noise_factor` over an array of ``alpha``: six arrays shaped like ``alpha``.

    The scalar arithmetic is the device function itself, compiled for the CPU, so the NumPy
    reference and the kernels draw their Brownian integrals identically.
    """
    alpha = np.asarray(alpha, dtype=float)
    flat = np.ascontiguousarray(alpha.ravel())
    out = np.empty((flat.size, 6))
    compile_for(_noise_factor_batch, "cpu")(flat, float(h), out)
    return tuple(out[:, j].reshape(alpha.shape) for j in range(6))


def ulmc_covariance(alpha, h) -> np.ndarray:
    """Exact ``Cov(W1, W2, W3)`` per coordinate, shape ``alpha.shape + (3, 3)``.

    ``C11 = g(a)``, ``C12 = g(a) + (1 - r) E_a^2/4``, ``C13 = r E_a^2/4``,
    ``C22 = g(a) + (1 - r)^2 E_a (2 - E_a)/4 + 2 (1 - r) E_a^2/4 + g(b)`` (``= g(h)``),
    ``C23 = r (1 - r) E_a (2 - E_a)/4 + r E_a^2/4 + E_b^2/4`` (``= E_h^2/4``),
    ``C33 = r^2 E_a (2 - E_a)/4 + E_b (2 - E_b)/4`` (``= (1 - e^{-4h})/4``), where ``a = alpha h``,
    ``b = h - a``, ``r = e^{-2b}``, ``E_t = 1 - e^{-2t}`` and ``g`` is :func:`brownian_g`.
    """
    alpha = np.asarray(alpha, dtype=float)
    a = alpha * h
    b = (1.0 - alpha) * h
    e_a, e_b = -np.expm1(-2.0 * a), -np.expm1(-2.0 * b)
    r = np.exp(-2.0 * b)
    g_a, g_b = np.vectorize(brownian_g)(a), np.vectorize(brownian_g)(b)
    var_b, cov_ab = 0.25 * e_a * (2.0 - e_a), 0.25 * e_a * e_a
    var_d, cov_cd = 0.25 * e_b * (2.0 - e_b), 0.25 * e_b * e_b
    cov = np.empty(alpha.shape + (3, 3))
    cov[..., 0, 0] = g_a
    cov[..., 0, 1] = cov[..., 1, 0] = g_a + e_b * cov_ab
    cov[..., 0, 2] = cov[..., 2, 0] = r * cov_ab
    cov[..., 1, 1] = g_a + e_b * e_b * var_b + 2.0 * e_b * cov_ab + g_b
    cov[..., 1, 2] = cov[..., 2, 1] = r * e_b * var_b + r * cov_ab + cov_cd
    cov[..., 2, 2] = r * r * var_b + var_d
    return cov


def ulmc_cholesky(alpha, h) -> np.ndarray:
    """The lower-triangular factor of :func:`ulmc_covariance` as matrices, shape ``alpha.shape + (3, 3)``."""
    l11, l21, l22, l31, l32, l33 = ulmc_noise_factor_numpy(alpha, h)
    chol = np.zeros(np.shape(l11) + (3, 3))
    chol[..., 0, 0] = l11
    chol[..., 1, 0], chol[..., 1, 1] = l21, l22
    chol[..., 2, 0], chol[..., 2, 1], chol[..., 2, 2] = l31, l32, l33
    return chol


# ---------------------------------------------------------------------- the step
@device_function
def ulmc_draw(w1, w2, w3, h, k, particle, key0, key1, slot):
    """Step ``k``'s ``alpha`` (returned) and Brownian integrals ``W1, W2, W3`` (into ``w1 .. w3``, ``(d,)``).

    ``alpha`` comes from ``uniform(.., step=k, slot)``, the normals from ``fill_normals(.., step=k,
    slot + 1 .. slot + 3)``, correlated by :func:`ulmc_noise_factor`.
    """
    step = np.uint64(k)
    base = np.uint64(slot)  # a signed slot would promote the sums below to float
    alpha = uniform(key0, key1, particle, step, base)
    fill_normals(w1, key0, key1, particle, step, base + np.uint64(1))
    fill_normals(w2, key0, key1, particle, step, base + np.uint64(2))
    fill_normals(w3, key0, key1, particle, step, base + np.uint64(3))
    l11, l21, l22, l31, l32, l33 = ulmc_noise_factor(alpha, h)
    for i in range(w1.shape[0]):
        z1 = w1[i]
        z2 = w2[i]
        z3 = w3[i]
        w1[i] = l11 * z1
        w2[i] = l21 * z1 + l22 * z2
        w3[i] = l31 * z1 + l32 * z2 + l33 * z3
    return alpha


@device_function
def ulmc_half(x_half, x, v, score_x, w1, alpha, h, u):
    """``x_half = x + (1 - e^{-2a})/2 v + u/2 (a - (1 - e^{-2a})/2) score(x) + sqrt(u) W1``."""
    a = alpha * h
    e_a = -math.expm1(-2.0 * a)
    half_v = 0.5 * e_a
    half_s = 0.5 * u * (a - 0.5 * e_a)
    root_u = math.sqrt(u)
    for i in range(x.shape[0]):
        x_half[i] = x[i] + half_v * v[i] + half_s * score_x[i] + root_u * w1[i]


@device_function
def ulmc_end(x, v, score_half, w2, w3, alpha, h, u):
    """The step's end in place: ``x += (1 - e^{-2h})/2 v + u h/2 (1 - e^{-2(h-a)}) score(x_half) +
    sqrt(u) W2`` and ``v = e^{-2h} v + u h e^{-2(h-a)} score(x_half) + 2 sqrt(u) W3``."""
    e_h = -math.expm1(-2.0 * h)
    b = (1.0 - alpha) * h
    e_b = -math.expm1(-2.0 * b)
    r = math.exp(-2.0 * b)
    decay = math.exp(-2.0 * h)
    root_u = math.sqrt(u)
    end_v = 0.5 * e_h
    end_s = 0.5 * u * h * e_b
    vel_s = u * h * r
    for i in range(x.shape[0]):
        x[i] = x[i] + end_v * v[i] + end_s * score_half[i] + root_u * w2[i]
        v[i] = decay * v[i] + vel_s * score_half[i] + 2.0 * root_u * w3[i]


@device_function
def ulmc_step(x, v, h, u, t_score, k, particle, key0, key1, slot, target_params, work, swork):
    """One randomized-midpoint ULMC step for ``f = -log q_{t_score}``, in place on ``x``, ``v`` ``(d,)``.

    :func:`ulmc_draw`, a score at ``x``, :func:`ulmc_half`, a score at ``x_half``, :func:`ulmc_end`
    (score = -grad f, so every "- grad f" of the update is "+ score"). ``work`` holds at least
    :data:`ULMC_WORK` rows of length ``>= d``; ``swork`` is the score's scratch. Returns 2 (score
    evaluations).
    """
    d = x.shape[0]
    score = work[0, :d]
    w1 = work[1, :d]  # W1, then x_half
    w2 = work[2, :d]
    w3 = work[3, :d]
    alpha = ulmc_draw(w1, w2, w3, h, k, particle, key0, key1, slot)
    particle_score(x, t_score, target_params, score, swork)
    ulmc_half(w1, x, v, score, w1, alpha, h, u)
    particle_score(w1, t_score, target_params, score, swork)
    ulmc_end(x, v, score, w2, w3, alpha, h, u)
    return 2


def ulmc_draw_numpy(h, k, noise, slot):
    """NumPy twin of :func:`ulmc_draw` for a batch: ``(alpha (n,), W1, W2, W3 (n, d))``."""
    slot = int(slot)
    alpha = noise.uniform(k, slot)
    z1, z2, z3 = (noise.normal(k, slot + j) for j in (1, 2, 3))
    l11, l21, l22, l31, l32, l33 = (c[:, None] for c in ulmc_noise_factor_numpy(alpha, h))
    return alpha, l11 * z1, l21 * z1 + l22 * z2, l31 * z1 + l32 * z2 + l33 * z3


def ulmc_half_numpy(x, v, score_x, w1, alpha, h, u):
    """NumPy twin of :func:`ulmc_half`: returns ``x_half``."""
    a = (alpha * h)[:, None]
    e_a = -np.expm1(-2.0 * a)
    return x + 0.5 * e_a * v + 0.5 * u * (a - 0.5 * e_a) * score_x + math.sqrt(u) * w1


def ulmc_end_numpy(x, v, score_half, w2, w3, alpha, h, u):
    """NumPy twin of :func:`ulmc_end`: returns the new ``(x, v)``."""
    b = ((1.0 - alpha) * h)[:, None]
    e_b = -np.expm1(-2.0 * b)
    r = np.exp(-2.0 * b)
    root_u = math.sqrt(u)
    x_new = x + 0.5 * (-math.expm1(-2.0 * h)) * v + 0.5 * u * h * e_b * score_half + root_u * w2
    v_new = math.exp(-2.0 * h) * v + u * h * r * score_half + 2.0 * root_u * w3
    return x_new, v_new


def ulmc_step_numpy(x, v, h, u, t_score, k, score, noise, slot):
    """NumPy twin of :func:`ulmc_step` on a batch ``x``, ``v`` ``(n, d)``; returns new ``(x, v)``.

    ``score`` is called as ``score(x, t_score)`` (a :class:`~certsample.oracle.ScoreOracle`: two
    evaluations, two rounds); ``noise`` is a :class:`~certsample.noise.NoiseSource` for the same
    particles, so the result equals the compiled step's to rounding.
    """
    alpha, w1, w2, w3 = ulmc_draw_numpy(h, k, noise, slot)
    x_half = ulmc_half_numpy(x, v, score(x, t_score), w1, alpha, h, u)
    return ulmc_end_numpy(x, v, score(x_half, t_score), w2, w3, alpha, h, u)


@device_function
def ulmc_solver_step(x, t, h, k, particle, key0, key1, target_params, solver_params, work, swork):
    """Standard solver signature over a row ``(x, v)`` of length ``2 d``; ``solver_params = (u, t_score)``."""
    d = x.shape[0] // 2
    return ulmc_step(
        x[:d],
        x[d:],
        h,
        solver_params[0],
        solver_params[1],
        k,
        particle,
        key0,
        key1,
        np.uint64(0),
        target_params,
        work,
        swork,
    )


# ---------------------------------------------------------------------- the sampler
class RandomizedMidpointULMC(SDESolver):
    """Randomized-midpoint underdamped Langevin for ``q ~ e^{-f}``, ``f = -log q_{t_score}``.

    The state of a particle is the row ``(x, v)`` of length ``2 d``; :meth:`step` advances a batch
    of such rows, and :attr:`kernel_step` is the same step compiled per particle (with
    ``solver_params = (u, t_score)``). Two score evaluations per step, one after the other, so two
    sequential rounds. It is not a diffusion solver (it samples one fixed density, not a time
    grid); run it through :func:`certsample.langevin.sample_logconcave`.

    Parameters
    ----------
    L : float
        Lipschitz constant of ``grad f``; the dynamics use ``u = 1/L``.
    t_score : float
        Noise level of the target score (0: the data density itself).

    Notes
    -----
    For ``m``-strongly convex ``f`` with condition number ``kappa = L/m`` the chain reaches
    ``W2`` error ``eps sqrt(d/m)`` in ``O~(kappa^{7/6} / eps^{1/3} + kappa / eps^{2/3})`` steps [1]_;
    the stationary covariance bias on Gaussians decays like ``h^3`` (exact chain law, checked in
    ``tests/test_ulmc.py``; its size at the default step is in docs/performance.md).
    The relaxation time of the slowest mode is about ``2 kappa``, so run ``n_steps h >> 2 kappa``.

    References
    ----------
    .. [1] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling",
       NeurIPS 2019, arXiv:1909.05503.
    .. [2] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized midpoints:
       sequential and parallel", arXiv:2406.00924, 2024.
    """

    name = "randomized-midpoint-ulmc"
    evals_per_step = 2
    rounds_per_step = 2
    n_work = ULMC_WORK
    kernel_step = staticmethod(ulmc_solver_step)

    def __init__(self, L: float, t_score: float = 0.0):
        self.L = positive_finite("L", L)
        if not (isinstance(t_score, (int, float, np.floating)) and math.isfinite(t_score) and t_score >= 0):
            raise ValueError(f"t_score must be a finite number >= 0, got {t_score!r}")
        self.t_score = float(t_score)
        self.u = 1.0 / self.L

    def order(self) -> float:
        """Order in ``h`` of the stationary covariance bias on Gaussian targets (exact chain law): 3."""
        return 3.0

    def step(self, x, t, h, k, score, noise, state=None):
        """Advance rows ``(x, v)`` ``(n, 2 d)``; ``t`` is unused, ``noise`` has dimension ``d``."""
        d = x.shape[1] // 2
        position, velocity = ulmc_step_numpy(x[:, :d], x[:, d:], h, self.u, self.t_score, k, score, noise, 0)
        return np.concatenate([position, velocity], axis=1), state

    def kernel_params(self, grid, target=None) -> tuple:
        return (self.u, self.t_score)

    def __repr__(self) -> str:
        return f"RandomizedMidpointULMC(L={self.L:g}, t_score={self.t_score:g})"
