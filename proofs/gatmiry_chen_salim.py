r"""The *shape* of Gatmiry, Chen and Salim's collocation bound, with placeholder constants (uncertified).

This is the paper's ``O~((R/sigma)^2 polylog(1/eps))`` score-call count with its hidden constants made
explicit as *placeholders*: it is kept (registry name ``collocation_gcs_shape``, ``certified = False``)
to compare the asymptotic shape, not as a bound. The proved theorem about certsample's solver is
:class:`proofs.collocation.CollocationTheorem` (registry name ``collocation``).

Target class: ``q = mu * N(0, sigma^2 I)`` with ``mu`` supported in a ball of
radius ``R``.  The probability-flow ODE is split into ``n`` time windows; on
each, the trajectory is a degree-``D`` polynomial at Chebyshev nodes found by
``K`` Picard sweeps (collocation, :mod:`proofs.lee_song_vempala`).  The paper
proves ``O~((R/sigma)^2 polylog(1/eps))`` score calls with **no explicit
dimension dependence**: the symbol ``d`` does not occur in any expression
here (the tests check this).

Explicit schedule (hidden constants made explicit, *uncertified*)::

    n = C_n (1 + R/sigma)^2 log(e + R/sigma)   windows
    D = C_D log(e + 1/eps)                     polynomial degree
    K = C_K log(e + 1/eps)                     Picard sweeps per window
    score calls = n (D + 1) K,   depth (rounds) = n K.

Constants: ``C_n = 2`` (windows short enough that ``L h ||A||_inf <= 1/2``
when the drift's Lipschitz constant over the trajectory scales like
``(R/sigma)^2`` -- the paper's mechanism, constant not stated), ``C_D = 1``
(geometric decay ``rho^{-D}`` with ``rho >= e``) and ``C_K = 1/log 2``
(contraction ``<= 1/2`` per sweep halves the Picard error).  ``(1 + R/sigma)``
rather than ``R/sigma`` keeps at least one window as ``R -> 0``.

References
----------
.. [1] K. Gatmiry, S. Chen, A. Salim, "High-accuracy and dimension-free
   sampling with diffusions", arXiv:2601.10708, 2026.
.. [2] Y. T. Lee, Z. Song, S. S. Vempala, arXiv:1812.06243, 2018.
"""

from __future__ import annotations

import sympy as sp

from .core import Theorem, _ceil_upper, log_factor

__all__ = ["GatmiryChenSalim2026"]

R, sigma, eps = sp.symbols("R sigma eps", positive=True)
N = sp.Symbol("N", positive=True, integer=True)


class GatmiryChenSalim2026(Theorem):
    r"""Score calls and depth of the windowed collocation sampler.

    .. math::

        N(\varepsilon) = n\,(D K + 1), \quad
        n = C_n (1 + R/\sigma)^2 \log(e + R/\sigma), \quad
        D = C_D u, \quad K = C_K u, \quad u = \log(e + 1/\varepsilon).

    ``n (D K + 1)`` is what :class:`certsample.solvers.Collocation` spends: ``D``
    moving nodes in each of ``K`` sweeps plus the start node once per window.

    Error direction: ``N(eps) = n (C_D C_K u^2 + 1)`` is increasing in ``u``, so
    it inverts exactly: ``u*(N) = sqrt((N / n - 1) / (C_D C_K))`` and ``N`` calls
    certify ``eps*(N) = 1 / (exp(u*) - e)`` (requires ``u* > 1``, i.e. ``N``
    above the cost of one unit of log-accuracy).

    Use :meth:`schedule` for the integer ``(n, D, K)`` an implementation runs.

    References
    ----------
    .. [1] Gatmiry, Chen, Salim, arXiv:2601.10708.
    """

    name = "collocation_gcs_shape"
    placeholder_reason = (
        "the paper hides its constants in O~ and its full text was not available: C_n = 2, C_D = 1 and "
        "C_K = 1/log 2 are chosen to show the shape; the proved theorem of certsample's solver is 'collocation'"
    )
    reference = "K. Gatmiry, S. Chen, A. Salim, arXiv:2601.10708 (2026)"
    metric = "W2"
    assumptions = (
        "q = mu * N(0, sigma^2 I) with mu supported in a ball of radius R (effective radius).",
        "Score estimates with sub-exponential error tails (the paper's requirement); "
        "accuracy eps in W2 (TV needs an extra corrector).",
        "No explicit dimension dependence: d enters only through R.",
    )
    symbols = {s.name: s for s in (R, sigma, eps, N)}
    constants = {
        "C_n": sp.Integer(2),
        "C_D": sp.Integer(1),
        "C_K": 1 / sp.log(2),
    }
    _u = log_factor(1 / eps)
    windows_expr = constants["C_n"] * (1 + R / sigma) ** 2 * log_factor(R / sigma)
    degree_expr = constants["C_D"] * _u
    sweeps_expr = constants["C_K"] * _u
    steps_expr = windows_expr * (degree_expr * sweeps_expr + 1)
    rounds_expr = windows_expr * sweeps_expr
    _ustar = sp.sqrt((N / windows_expr - 1) / (constants["C_D"] * constants["C_K"]))
    error_expr = 1 / (sp.exp(_ustar) - sp.E)
    error_conditions = (("N must exceed n (C_D C_K + 1), the cost of u = log(e + 1/eps) = 1", _ustar - 1),)
    del _u, _ustar

    def schedule(self, **values) -> dict:
        """Integer schedule ``(windows, degree, sweeps)`` for accuracy ``eps``.

        Each component is the ceiling of the rigorous upper endpoint, so
        ``score_calls = windows * (degree * sweeps + 1) >= step_count``.

        Returns
        -------
        dict
            ``windows``, ``degree``, ``sweeps``, ``score_calls``, ``depth``.
        """
        n = max(1, _ceil_upper(self.evaluate(self.windows_expr, **values)))
        D = max(1, _ceil_upper(self.evaluate(self.degree_expr, **values)))
        K = max(1, _ceil_upper(self.evaluate(self.sweeps_expr, **values)))
        return {"windows": n, "degree": D, "sweeps": K, "score_calls": n * (D * K + 1), "depth": n * K}
