r"""Collocation (Picard) solver of Lee, Song, Vempala (2018).

On a window ``[t0, t0 + h]`` the trajectory of ``x' = f(x)`` is represented
by its values ``X_j`` at nodes ``t0 + c_j h`` (``j = 0..D``), and the
collocation equations

.. math::

    X_j = x_0 + h \sum_{i=0}^{D} A_{ji}\, f(X_i), \qquad
    A_{ji} = \int_0^{c_j} \ell_i(s)\, ds,

(``ell_i`` the Lagrange basis of the nodes on ``[0, 1]``) are solved by Picard
iteration ``X <- x_0 + h A F(X)``; each sweep evaluates all ``D + 1`` node
drifts at once.  Our ``A`` is indexed (node, basis): it is the transpose of
the ``A[i, j]`` of ``shared/ALGORITHMS.md``; the contraction constant is the
max *row* sum ``||A||_inf`` of this matrix.

Theorem (explicit; proved in :class:`LeeSongVempalaCollocation`)
----------------------------------------------------------------
If ``f`` is ``L``-Lipschitz, the Picard map is a contraction in
``max_j |X_j|`` with factor ``q = L h ||A||_inf``, so ``q < 1`` is the
contraction condition.  If moreover ``s -> f(x(t0 + s h))`` is analytic with
degree-``D`` interpolation error ``<= C rho^{-D}`` (``rho > 1``: Bernstein
ellipse parameter), then after ``K`` sweeps

.. math::

    \max_j |X^{(K)}_j - x(t_0 + c_j h)| \le q^K E_0 + \frac{h C \rho^{-D}}{1 - q}.

References
----------
.. [1] Y. T. Lee, Z. Song, S. S. Vempala, "Algorithmic theory of ODEs and
   sampling from well-conditioned logconcave densities", arXiv:1812.06243,
   2018.
.. [2] L. N. Trefethen, *Approximation Theory and Approximation Practice*,
   SIAM, 2013 (Thm 8.2: geometric interpolation error for analytic
   functions at Chebyshev points).
"""

from __future__ import annotations

import mpmath
import sympy as sp

from .core import Theorem

__all__ = [
    "chebyshev_nodes",
    "integrated_lagrange_matrix",
    "lagrange_inf_norm",
    "contraction_factor",
    "LeeSongVempalaCollocation",
]


def chebyshev_nodes(D: int, dps: int = 50) -> list:
    """Chebyshev points of the first kind on ``[0, 1]``, increasing (``D + 1`` of them)."""
    if int(D) != D or D < 0:
        raise ValueError(f"degree D must be a non-negative integer, got {D!r}")
    with mpmath.workdps(dps):
        n = D + 1
        return [(1 - mpmath.cos((2 * j + 1) * mpmath.pi / (2 * n))) / 2 for j in range(n)]


def integrated_lagrange_matrix(D: int, dps: int | None = None) -> mpmath.matrix:
    """``A[j, i] = int_0^{c_j} l_i(s) ds`` at Chebyshev nodes, in high precision.

    Parameters
    ----------
    D : int
        Polynomial degree (``D + 1`` nodes).
    dps : int, optional
        Decimal digits; default ``30 + D`` (the monomial expansion loses about
        ``0.6 D`` digits to cancellation, so this leaves >= 30 correct digits).

    Returns
    -------
    mpmath.matrix
        ``(D + 1) x (D + 1)`` matrix, rows = nodes, columns = basis functions.
    """
    dps = 30 + int(D) if dps is None else dps
    c = chebyshev_nodes(D, dps)
    n = D + 1
    with mpmath.workdps(dps):
        A = mpmath.matrix(n, n)
        for i in range(n):
            # Coefficients (ascending) of prod_{k != i} (s - c_k) / (c_i - c_k).
            coef = [mpmath.mpf(1)]
            for k in range(n):
                if k == i:
                    continue
                den = c[i] - c[k]
                new = [mpmath.mpf(0)] * (len(coef) + 1)
                for p, a in enumerate(coef):
                    new[p + 1] += a / den
                    new[p] -= a * c[k] / den
                coef = new
            for j in range(n):
                A[j, i] = mpmath.fsum(a * c[j] ** (p + 1) / (p + 1) for p, a in enumerate(coef))
        return A


def lagrange_inf_norm(D: int, dps: int | None = None) -> mpmath.mpf:
    """``||A||_inf = max_j sum_i |A[j, i]|`` for :func:`integrated_lagrange_matrix`.

    The value is computed with >= 30 correct digits and then rounded up by a
    relative ``1e-20`` so that it is a safe upper bound for certification.
    """
    A = integrated_lagrange_matrix(D, dps)
    with mpmath.workdps(A.rows + 40):
        val = max(mpmath.fsum(abs(A[j, i]) for i in range(A.cols)) for j in range(A.rows))
        return val * (1 + mpmath.mpf(10) ** -20)


def contraction_factor(L: float, h: float, D: int) -> mpmath.mpf:
    """Picard contraction factor ``L h ||A||_inf`` (contracts iff ``< 1``)."""
    return mpmath.mpf(L) * mpmath.mpf(h) * lagrange_inf_norm(D)


L, h, A_inf, C, E0, eps = sp.symbols("L h A_inf C E0 eps", positive=True)
rho = sp.Symbol("rho", positive=True)
D = sp.Symbol("D", positive=True, integer=True)
N = sp.Symbol("N", positive=True, integer=True)


class LeeSongVempalaCollocation(Theorem):
    r"""Error of ``K = floor(N / (D + 1))`` Picard sweeps of degree-``D`` collocation.

    .. math::

        \mathrm{err} \le q^{\lfloor N/(D+1) \rfloor} E_0 + \frac{h C \rho^{-D}}{1-q},
        \qquad q = L h \|A\|_\infty < 1 .

    Proof.  Let ``x_j = x(t0 + c_j h)`` and ``p`` the degree-``D`` interpolant
    of ``g(s) = f(x(t0 + s h))``; then ``x_j = x_0 + h (A F(x))_j + tau_j``
    with ``|tau_j| <= h c_j max|g - p| <= h C rho^{-D}``.  The Picard map
    ``Phi`` is ``q``-Lipschitz in ``max_j |.|`` since
    ``|(h A (F(X) - F(Y)))_j| <= h sum_i |A_ji| L max_i |X_i - Y_i|``.  Its
    fixed point ``X*`` obeys ``|X* - x| <= q |X* - x| + h C rho^{-D}``, and
    ``|X^K - X*| <= q^K E_0`` (``E_0 >= |X^0 - X*|``).  Triangle inequality.
    All constants are explicit given ``A_inf`` (from :func:`lagrange_inf_norm`,
    which the caller must pass for the chosen ``D``), ``C`` and ``rho``.

    Symbols
    -------
    L, h, A_inf, D, C, rho, E0, N (score evaluations in the window), eps.

    The step count for accuracy ``eps`` spends ``eps/2`` on the sweeps and
    requires the collocation (degree) error to be ``<= eps/2``.

    References
    ----------
    .. [1] Lee, Song, Vempala, arXiv:1812.06243 (collocation method).
    """

    name = "lee_song_vempala"
    reference = "Y. T. Lee, Z. Song, S. S. Vempala, arXiv:1812.06243 (2018), collocation method"
    metric = "sup-norm at the nodes (per window)"
    #: Not certified: the interpolation constant ``C rho^{-D}`` is stated for Chebyshev points of the
    #: first kind, while the solver uses Chebyshev-Lobatto nodes and returns the window's end (not a
    #: node value covered above), and nothing here accumulates the per-window errors across windows.
    #: A run's accuracy is proved instead by :mod:`certsample.verify.enclosure` (see
    #: :func:`certsample.verify.certify`).
    certified = False
    placeholder_reason = (
        "its interpolation constant C rho^-D is stated for Chebyshev points of the first kind, "
        "not the solver's Lobatto nodes and window end, and nothing accumulates the windows"
    )
    assumptions = (
        "Drift f is L-Lipschitz (here f(x) = x + score for the probability-flow ODE).",
        "Window length h with contraction q = L h ||A||_inf < 1 (A_inf from lagrange_inf_norm(D)).",
        "s -> f(x(t0 + s h)) on [0, 1] is analytic with degree-D Chebyshev interpolation error <= C rho^{-D}, rho > 1.",
        "E0 bounds the distance of the initial Picard guess to the collocation solution.",
    )
    symbols = {s.name: s for s in (L, h, A_inf, C, E0, eps, rho, D, N)}
    _q = L * h * A_inf
    constants = {"contraction_factor": _q}
    _coll = h * C * rho ** (-D) / (1 - _q)
    # floor((N + 1/2) / (D + 1)) = floor(N / (D + 1)) for integers, and its interval never straddles an integer
    error_expr = _q ** sp.floor((N + sp.Rational(1, 2)) / (D + 1)) * E0 + _coll
    error_conditions = (
        ("contraction: L h ||A||_inf < 1", 1 - _q),
        ("rho > 1", rho - 1),
    )
    # whole sweeps: error_expr counts floor(N / (D + 1)) of them
    steps_expr = (D + 1) * sp.ceiling(sp.Max(1, sp.log(2 * E0 / eps) / sp.log(1 / _q)))
    step_conditions = (
        ("contraction: L h ||A||_inf < 1", 1 - _q),
        ("rho > 1", rho - 1),
        ("degree D too small: h C rho^{-D} / (1 - q) must be <= eps/2", eps / 2 - _coll),
    )
    del _coll
