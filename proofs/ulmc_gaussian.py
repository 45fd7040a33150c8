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

from .balls import PRECISION, amax, arb, arb_precision, flint_module, upper_float

__all__ = ["ULMCGaussianBound", "ulmc_gaussian_w2_bound", "exp_generator"]

_NODES = 24  # Gauss-Legendre nodes per integral (the error analysis is in ulmc_gaussian_w2_bound)
#: Bernstein-ellipse parameters tried for the Gauss-Legendre error bound (the least bound is used)
_ELLIPSES = tuple(2.0**k for k in range(1, 31))
#: largest relative radius of the bound's ball before the precision is raised
_RELATIVE_RADIUS = 1e-10


class _Float64:
    """The elementary functions of the step's formulas on float64 arrays."""

    exp, expm1 = staticmethod(np.exp), staticmethod(np.expm1)

    @staticmethod
    def cosh_sinhc(c, s):
        """``(cosh(w s), sinh(w s) / w)``, ``w = sqrt(1 - c)``: through complex ``w`` (``c > 1``), ``s`` at
        ``w = 0``."""
        s = np.asarray(s, dtype=float)
        w = np.sqrt(complex(1.0 - c))
        return np.real(np.cosh(w * s)), (s if w == 0 else np.real(np.sinh(w * s) / w))


class _Balls:
    """The same functions on Arb balls: each result contains the exact value for every point of its arguments."""

    exp, expm1 = staticmethod(lambda x: x.exp()), staticmethod(lambda x: x.expm1())

    @staticmethod
    def cosh_sinhc(c, s):
        """As :meth:`_Float64.cosh_sinhc`, as the entire functions ``0F1(; 1/2; z)`` and ``s 0F1(; 3/2; z)`` of ``z =
        (1 - c) s^2 / 4``: one formula for every ``c``, no branch at ``c = 1``."""
        z = (1 - c) * s * s / 4
        return z.hypgeom_0f1(arb(0.5)), s * z.hypgeom_0f1(arb(1.5))


def _transition_entries(c, s, ops):
    """The entries of ``exp(s G)``, ``G = [[0, 1], [-c, -2]]``: ``e^{-s} (cosh(ws) I + (sinh(ws) / w) (G + I))``."""
    ch, sh = ops.cosh_sinhc(c, s)
    decay = ops.exp(-s)
    return ((decay * (ch + sh), decay * sh), (-c * decay * sh, decay * (ch - sh)))


def exp_generator(c, s):
    """``exp(s G)`` for ``G = [[0, 1], [-c, -2]]``, batched over ``s`` (shape ``s.shape + (2, 2)``).

    ``G`` has eigenvalues ``-1 +- w``, ``w = sqrt(1 - c)``, so ``exp(sG) = e^{-s} (cosh(ws) I +
    (sinh(ws) / w) (G + I))``; ``sinh(ws) / w`` is taken through complex ``w`` (``c > 1``) and as
    ``s`` at ``w = 0``.
    """
    return _stacked(_transition_entries(c, np.asarray(s, dtype=float), _Float64))


def _stacked(entries):
    """A 2x2 nested tuple of arrays as one array ``shape + (2, 2)``."""
    return np.stack([np.stack(np.broadcast_arrays(*row), axis=-1) for row in entries], axis=-2)


def _scheme_entries(c, h, a, ops):
    """The randomized-midpoint step's linear map on ``(y, v)`` for ``u grad f(y) = c y`` and midpoint time ``a``."""
    e_a, e_h = -ops.expm1(-2 * a), -ops.expm1(-2 * h)
    half_y, half_v = 1 - 0.5 * c * (a - 0.5 * e_a), 0.5 * e_a  # x_half's row
    late = ops.exp(-2 * (h - a))
    y_gain, v_gain = 0.5 * c * h * (1 - late), c * h * late
    return (
        (1 - y_gain * half_y, 0.5 * e_h - y_gain * half_v),
        (-v_gain * half_y, ops.exp(-2 * h) - v_gain * half_v),
    )


def _scheme_matrix(c, h, a):
    """:func:`_scheme_entries` in float64, batched over midpoint times ``a`` (shape ``a.shape + (2, 2)``)."""
    return _stacked(_scheme_entries(c, h, np.asarray(a, dtype=float), _Float64))


def _kernel_entries(c, h, a, r, before, ops):
    """The step's noise kernels against ``dB_r`` over ``sqrt(u)``: ``(scheme, exact)``, two entries each; ``before``
    is ``1 - e^{-2(a - r)}`` for ``r < a``, else 0."""
    late = ops.exp(-2 * (h - a))
    scheme = (
        -ops.expm1(-2 * (h - r)) - 0.5 * c * h * (1 - late) * before,
        2 * ops.exp(-2 * (h - r)) - c * h * late * before,
    )
    (_, p01), (_, p11) = _transition_entries(c, h - r, ops)
    return scheme, (2 * p01, 2 * p11)


def _noise_kernels(c, h, a, r, u):
    """Kernels ``(k_scheme(r), k_exact(r))`` (each ``r.shape + (2,)``) of the step's noises against
    ``dB_r``, in float64; ``a`` broadcasts against ``r``."""
    a, r = np.asarray(a, dtype=float), np.asarray(r, dtype=float)
    before = (r < a) * -np.expm1(-2 * np.clip(a - r, 0, None))  # (1 - e^{-2(a - r)}) on [0, a)
    scheme, exact = _kernel_entries(c, h, a, r, before, _Float64)
    root = math.sqrt(u)
    return root * np.stack(np.broadcast_arrays(*scheme), axis=-1), root * np.stack(np.broadcast_arrays(*exact), axis=-1)


def _gauss_legendre(lo, hi, n=_NODES):
    """Nodes and weights on ``[lo, hi]``; array ends give one rule per row (shape ``lo.shape + (n,)``)."""
    x, w = np.polynomial.legendre.leggauss(n)
    lo, hi = np.asarray(lo, dtype=float)[..., None], np.asarray(hi, dtype=float)[..., None]
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def _ball_rule(n=_NODES):
    """The ``n``-node Gauss-Legendre rule on ``[0, 1]`` as balls containing its exact nodes and weights."""
    flint = flint_module()
    rule = [flint.arb.legendre_p_root(n, k, weight=True) for k in range(n)]
    return [((1 + x) / 2, w / 2) for x, w in rule]


def _coupled_entries(A, phi, zero):
    """``T = [[A, A - Phi], [0, Phi]]`` as a 4x4 nested list."""
    return [
        [A[0][0], A[0][1], A[0][0] - phi[0][0], A[0][1] - phi[0][1]],
        [A[1][0], A[1][1], A[1][0] - phi[1][0], A[1][1] - phi[1][1]],
        [zero, zero, phi[0][0], phi[0][1]],
        [zero, zero, phi[1][0], phi[1][1]],
    ]


def _ball_operators(c, h):
    """``(Lin, Q / u)`` of one eigen-direction's recursion as Arb matrices (16x16 and 4x4) that contain the
    exact integrals: the Gauss-Legendre sums in balls, widened by :func:`_quadrature_errors`."""
    flint = flint_module()
    rule = _ball_rule()
    h = arb(h)
    phi = _transition_entries(c, h, _Balls)
    lin = [[arb(0)] * 16 for _ in range(16)]
    q = [[arb(0)] * 4 for _ in range(4)]
    zero = arb(0)
    for alpha, weight in rule:
        a = alpha * h
        T = _coupled_entries(_scheme_entries(c, h, a, _Balls), phi, zero)
        for i in range(4):
            for j in range(4):
                row = lin[4 * i + j]
                for k in range(4):
                    wt = weight * T[i][k]
                    for m in range(4):
                        row[4 * k + m] += wt * T[j][m]
        for lo, hi, inside in ((zero, a, True), (a, h, False)):  # the scheme's kernel kinks at r = a
            for x, w in rule:
                r = lo + x * (hi - lo)
                before = -(-2 * (a - r)).expm1() if inside else zero
                scheme, exact = _kernel_entries(c, h, a, r, before, _Balls)
                n = (scheme[0] - exact[0], scheme[1] - exact[1], exact[0], exact[1])
                ww = weight * w * (hi - lo)
                for i in range(4):
                    for j in range(4):
                        q[i][j] += ww * n[i] * n[j]
    lin_error, q_error = _quadrature_errors(c, h)
    lin = [[entry + lin_error for entry in row] for row in lin]
    q = [[entry + q_error for entry in row] for row in q]
    return flint.arb_mat(lin), flint.arb_mat(q)


class _Majorant:
    """An upper bound ``m`` of ``|f|`` for a complex ``f`` built by the step's formulas: ``|x +- y| <= |x| + |y|``,
    ``|xy| = |x| |y|``, ``|e^z| <= e^{|z|}``, ``|e^z - 1| <= e^{|z|} - 1``, ``|0F1(; b; z)| <= 0F1(; b; |z|)`` for
    ``b > 0`` (positive coefficients). Division only by positive constants."""

    __slots__ = ("m",)

    def __init__(self, m):
        self.m = m

    @staticmethod
    def _of(x):
        return x if isinstance(x, _Majorant) else _Majorant(abs(arb(x)))

    def __add__(self, other):
        return _Majorant(self.m + _Majorant._of(other).m)

    __radd__ = __sub__ = __rsub__ = __add__

    def __mul__(self, other):
        return _Majorant(self.m * _Majorant._of(other).m)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _Majorant(self.m / arb(other))

    def __neg__(self):
        return self

    def exp(self):
        return _Majorant(self.m.exp())

    def expm1(self):
        return _Majorant(self.m.expm1())

    def hypgeom_0f1(self, b):
        return _Majorant(self.m.hypgeom_0f1(b))


def _moduli(c, h, rho):
    """Upper bounds ``(|T_ik T_jm|, |n_i n_j|, |a|)`` of the integrands of ``Lin`` and ``Q / u`` (``n`` the kernels over
    ``sqrt(u)``) for ``alpha`` on the Bernstein ellipse ``rho`` of ``[0, 1]`` (``|alpha| <= 1/2 + (rho + 1/rho) / 4``),
    ``r`` on that of a piece of ``[0, h]`` or on the segments of the inner integrals as functions of ``alpha`` (``|r|
    <= h (1 + 2 |alpha|)``); balls whose upper ends bound the moduli (:class:`_Majorant`)."""
    reach = arb(0.5) + (rho + 1 / rho) / 4
    a, time = _Majorant(h * reach), _Majorant(h * (1 + 2 * reach))
    cm, hm = _Majorant._of(c), _Majorant(h)
    T = _coupled_entries(_scheme_entries(cm, hm, a, _Balls), _transition_entries(cm, hm, _Balls), _Majorant(arb(0)))
    top = amax(x.m for row in T for x in row)
    scheme, exact = _kernel_entries(cm, hm, a, time, (2 * a + 2 * time).expm1(), _Balls)
    kernel = 2 * amax(x.m for x in scheme + exact)  # |scheme - exact| <= |scheme| + |exact|
    return top * top, kernel * kernel, a.m


def _quadrature_errors(c, h):
    """Bounds of the Gauss-Legendre errors of ``Lin``'s entries and of ``Q / u``'s (proof in
    :func:`ulmc_gaussian_w2_bound`), the least over the ellipses :data:`_ELLIPSES`."""
    best = None
    for rho in _ELLIPSES:
        rho = arb(rho)
        factor = 64 / (15 * (rho * rho - 1) * rho ** (2 * _NODES))
        product, square, a = _moduli(c, h, rho)
        # alpha-rule on [0, 1] (half-length 1/2); r-rules on pieces of [0, h] (half-lengths summing to h / 2) at real
        # alpha, and the alpha-rule on the two inner integrals, analytic in alpha of modulus <= (|a| + |h - a|) square
        lin_error = factor * product / 2
        q_error = factor * square * h / 2 + factor * (2 * a + h) * square / 2
        if best is None or (lin_error + q_error).upper() < (best[0] + best[1]).upper():
            best = (lin_error, q_error)
    return arb(0, upper_float(best[0])), arb(0, upper_float(best[1]))


def _directions(mean, cov, start):
    """``(variances, offsets, exact)`` of the target's eigen-directions, the offsets those of ``start - mean``: exact
    for a diagonal ``cov`` (its diagonal, the coordinate axes, differences as balls), else from LAPACK's ``eigh`` in
    float64 (``exact`` False)."""
    if np.count_nonzero(cov - np.diag(np.diag(cov))) == 0:
        return np.diag(cov).copy(), [arb(float(x)) - arb(float(m)) for x, m in zip(start, mean)], True
    eig, basis = np.linalg.eigh(cov)
    return eig, [arb(float(x)) for x in basis.T @ (start - mean)], False


@dataclass(frozen=True)
class ULMCGaussianBound:
    """``W2(law(x_N), q_0) <= value``; ``certified`` when the proof's hypotheses hold (see ``reason``)."""

    value: float
    certified: bool
    reason: str
    reference: str = "proofs.ulmc_gaussian (synchronous coupling with the exact diffusion; proof in docstring)"


def ulmc_gaussian_w2_bound(
    mean, cov, h: float, L: float, n_steps: int, init_mean=None, init_var: float = 1.0, *, directions=None
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
    directions : (variances, offsets), optional
        The target's eigenvalues and the offsets of ``init_mean`` from ``mean`` along its eigen-directions, where the
        caller knows them exactly (:func:`certsample.langevin.gaussian_directions`: a target stored in its own
        basis); they replace those computed from ``cov``, which then only gives the dimension.

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
    kink ``r = a``) are Gauss-Legendre rules with 24 nodes of entire functions of ``alpha`` and ``r``
    (exponentials, ``cosh(ws)`` and ``sinh(ws) / w`` as the entire ``0F1(; 1/2; z)`` and ``s 0F1(; 3/2; z)``, ``z = (1
    - c) s^2 / 4``). For ``f`` analytic in the Bernstein ellipse ``E_rho`` of an interval of half-length ``l`` with
    ``|f| <= M`` there, the ``n``-node rule's error is at most ``l 64 M / (15 (rho^2 - 1) rho^{2n})`` (Trefethen,
    *Approximation Theory and Approximation Practice*, Thm 19.3). ``M`` is bounded by evaluating the same formulas on
    majorants (:class:`_Majorant`: ``|x +- y| <= |x| + |y|``, ``|e^z| <= e^{|z|}``, ``|0F1(; b; z)| <= 0F1(; b;
    |z|)``) with every time argument at its largest modulus on the ellipse (:func:`_moduli`); the error of the
    ``alpha``-rule on the inner ``r``-integrals is bounded the same way, those integrals being analytic in ``alpha``
    (``int_0^a k dr = a int_0^1 k(a, a x) dx``). The least bound over ``rho = 2, 4, ..., 2^30`` widens each entry of
    ``Lin`` and of ``Q / u`` (:func:`_quadrature_errors`). Every number is an Arb ball (:mod:`proofs.balls`): the
    rules' nodes and weights (``arb.legendre_p_root``), the entries of ``A``, ``Phi`` and the kernels, the sums and
    the ``N``-th power of the affine map; ``u = fl(1 / L)`` is the chain's own ``u``. So the ball of ``sum_i M_N[0,
    0]`` contains the exact second moment (the precision is raised while that tightens the ball, to at most 8 times
    192 bits), and the bound is its upper end's square root rounded up. The eigen-directions are exact for a diagonal
    ``cov`` (its diagonal, the coordinate axes) and for ``directions`` given exactly, and the bound is then
    ``certified``; otherwise they are LAPACK's ``eigh`` in float64, the bound is that of the Gaussian with those
    eigenvalues and eigenvectors (a difference at rounding level not bounded here), and it is returned not certified,
    with the reason.
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
    start = np.zeros(d) if init_mean is None else np.asarray(init_mean, dtype=float)
    if start.shape != (d,):
        raise ValueError(f"init_mean must have shape {(d,)}, got {start.shape}")
    if directions is None:
        variances, offsets, exact_directions = _directions(mean, cov, start)
    else:
        variances = np.asarray(directions[0], dtype=float)
        offsets = [arb(float(o)) for o in directions[1]]
        if variances.shape != (d,) or len(offsets) != d:
            raise ValueError(f"directions must give {d} variances and {d} offsets")
        exact_directions = True
    if not variances.min() > 0:
        raise ValueError("cov must be positive definite")
    u = 1.0 / L  # the chain's own u, a float
    precision, radius = PRECISION, math.inf
    while True:
        with arb_precision(precision):
            total = _second_moment(variances, offsets, u, h, n_steps, init_var)
        # stop once the ball is tight, or once more precision no longer tightens it (the quadrature's radius)
        if total.rad() <= _RELATIVE_RADIUS * abs(total.mid()) or precision >= 8 * PRECISION or total.rad() > radius / 2:
            break
        precision, radius = 2 * precision, total.rad()
    value = upper_float(total.upper().max(arb(0)).sqrt())
    if exact_directions:
        reason = "synchronous coupling with the exact diffusion, second moments by an exact recursion in Arb"
        if directions is not None:
            reason += "; the target's exact eigen-directions as given"
    else:
        reason = (
            "the eigen-directions of a non-diagonal cov come from float64 eigh, whose rounding is not bounded here "
            "(the bound is that of the Gaussian with the computed eigenvalues and eigenvectors); a diagonal cov, "
            "e.g. the target in its eigenbasis, is certified"
        )
    return ULMCGaussianBound(value, exact_directions, reason)


def _second_moment(variances, offsets, u, h, n_steps, init_var):
    """``sum_i M_N[0, 0]`` over the eigen-directions as an Arb ball (the proof's recursion), at the current
    precision."""
    flint = flint_module()
    u_ball = arb(u)
    total = arb(0)
    cache = {}
    for s_i, offset in zip(variances, offsets):
        key = float(s_i)  # exactly: equal variances share their operators, no two others do
        if key not in cache:
            lin, q = _ball_operators(u_ball / arb(key), h)
            # M_N = Lin^N M_0 + sum_{k<N} Lin^k Q: one power of the affine map, by repeated squaring
            affine = flint.arb_mat(17, 17)
            for i in range(16):
                for j in range(16):
                    affine[i, j] = lin[i, j]
                affine[i, 16] = u_ball * q[i // 4, i % 4]
            affine[16, 16] = arb(1)
            cache[key] = affine**n_steps
        power = cache[key]
        s = arb(key)
        scale = (arb(init_var) / s).sqrt()
        # Z_0 = (offset + (scale - 1) y*, 0, y*, v*) with y* ~ N(0, s_i), v* ~ N(0, u): M_0 row-major, then 1
        m0 = [arb(0)] * 17
        m0[0] = (scale - 1) * (scale - 1) * s + offset * offset
        m0[2] = m0[8] = (scale - 1) * s
        m0[10] = s
        m0[15] = u_ball
        m0[16] = arb(1)
        total += sum((power[0, j] * m0[j] for j in range(17)), arb(0))
    return total
