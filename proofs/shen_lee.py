r"""Randomized midpoint for underdamped Langevin (Shen & Lee 2019).

For ``m``-strongly convex, ``L``-smooth ``f`` (``kappa = L/m``), the
randomized-midpoint discretization of underdamped Langevin reaches
``W2 <= eps * sqrt(d/m)`` after

.. math::

    N(\varepsilon) = C_{\mathrm{SL}}\Big(\frac{\kappa^{7/6}}{\varepsilon^{1/3}}
        + \frac{\kappa}{\varepsilon^{2/3}}\Big)\log(e + 1/\varepsilon)

gradient evaluations.  The log factor (contraction of the initial distance
over time ``~ kappa log(1/eps)``) and ``C_SL`` are the paper's hidden ``O~``
content, made explicit with uncertified placeholders. For Gaussian targets
:mod:`proofs.ulmc_gaussian` proves an explicit bound for the run itself.

References
----------
.. [1] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave
   sampling", NeurIPS 2019, arXiv:1909.05503, Theorem 3.
"""

from __future__ import annotations

import sympy as sp

from .core import Theorem, certified_inverse, log_factor

__all__ = ["ShenLee2019"]

kappa, eps, d, m = sp.symbols("kappa eps d m", positive=True)
N = sp.Symbol("N", positive=True, integer=True)


class ShenLee2019(Theorem):
    r"""Randomized-midpoint ULMC: gradient evaluations for ``W2 <= eps sqrt(d/m)``.

    Symbols
    -------
    kappa : condition number ``L/m``.
    eps : relative accuracy (the W2 error is ``eps * sqrt(d/m)``).
    d, m : dimension and strong-convexity constant (error direction only).
    N : number of gradient evaluations (error direction).

    Constants
    ---------
    C_SL = 1 : placeholder for the unstated absolute constant (not certified).

    ``error_expr = eps*(N) * sqrt(d/m)`` where ``eps*(N)`` is the
    :func:`proofs.core.certified_inverse` of the two-term step count.

    References
    ----------
    .. [1] Shen & Lee, arXiv:1909.05503, Theorem 3.
    """

    name = "shen_lee"
    placeholder_reason = (
        "Shen-Lee hide the absolute constant C_SL and the log factor in O~; they are placeholders "
        "(proofs.ulmc_gaussian proves an explicit bound for Gaussian targets instead)"
    )
    reference = "R. Shen, Y. T. Lee, NeurIPS 2019, arXiv:1909.05503, Theorem 3"
    metric = "W2"
    assumptions = (
        "f is m-strongly convex and L-smooth; target density proportional to exp(-f); kappa = L/m.",
        "Exact gradients; initialization at the minimizer of f (or within O(sqrt(d/m))).",
        "Step size chosen as in the paper (h ~ min(eps^{1/3}/kappa^{1/6}, eps^{2/3}) in units of 1/L).",
    )
    symbols = {s.name: s for s in (kappa, eps, d, m, N)}
    constants = {"C_SL": sp.Integer(1)}
    _ell = staticmethod(lambda e: log_factor(1 / e))
    _C = constants["C_SL"]
    steps_expr = (
        _C * (kappa ** sp.Rational(7, 6) * eps ** sp.Rational(-1, 3) + kappa * eps ** sp.Rational(-2, 3)) * _ell(eps)
    )
    error_expr = certified_inverse(
        [(_C * kappa ** sp.Rational(7, 6), sp.Rational(1, 3)), (_C * kappa, sp.Rational(2, 3))],
        _ell,
        N,
    ) * sp.sqrt(d / m)
    del _C
