r"""Randomized-midpoint diffusion sampling (Gupta, Cai, Chen 2024).

Two theorems: the sequential predictor-corrector sampler with
``O~(L^{5/3} d^{5/12} / eps)`` score evaluations for TV accuracy ``eps``, and
its parallel (Picard) variant with ``O~(log^2(d/eps))`` sequential rounds.

The ``O~`` of the paper hides polylogarithmic factors and an absolute
constant.  We make them explicit with stated, *uncertified* placeholders
(``certified = False``): the log factors are written ``log(e + d/eps)^k``
(see :func:`proofs.core.log_factor`), and each absolute constant is listed in
``constants``.  What the paper guarantees -- and what the tests derive from
the expressions -- are the exponents: ``5/3`` in ``L``, ``5/12`` in ``d``,
``1`` in ``1/eps``, and ``log^2`` growth of the parallel depth.

The predictors without the corrector have proved, explicit-constant pathwise bounds in
:mod:`proofs.midpoint_ms` (``randomized_midpoint_ms``, ``parallel_midpoint_ms``).

References
----------
.. [1] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized
   midpoints: sequential and parallel", ICLR 2025, arXiv:2406.00924.
.. [2] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave
   sampling", NeurIPS 2019, arXiv:1909.05503.
.. [3] S. Chen, S. Chewi, H. Lee, Y. Li, J. Lu, A. Salim, "The probability
   flow ODE is provably fast", NeurIPS 2023, arXiv:2305.11798
   (predictor-corrector framework).
"""

from __future__ import annotations

import sympy as sp

from .core import Theorem, certified_inverse, log_factor

__all__ = ["GuptaCaiChenSequential", "GuptaCaiChenParallel"]

L, d, eps = sp.symbols("L d eps", positive=True)
N = sp.Symbol("N", positive=True, integer=True)

_ASSUMPTIONS = (
    "Score grad log q_t is L-Lipschitz in x for every t (L >= 1 in the paper's scaling).",
    "Data distribution has finite second moment (enters only through log factors, "
    "which we absorb into log(e + d/eps)).",
    "Score estimate accurate pointwise (L-infinity, as the predictor's Lemma A.2 needs, per a reviewer of the "
    "paper) to O~(eps / sqrt(L)), and the estimated score itself L-Lipschitz; accuracy eps is measured in total "
    "variation.",
)


class GuptaCaiChenSequential(Theorem):
    r"""Sequential randomized-midpoint predictor-corrector sampler, TV accuracy.

    .. math::

        N(\varepsilon) = C_{\mathrm{seq}}\, L^{5/3} d^{5/12} \varepsilon^{-1}
                         \log^2(e + d/\varepsilon).

    Constants
    ---------
    C_seq = 1 : placeholder for the paper's unstated absolute constant.
    log power 2 : placeholder for the hidden polylog (inferred, not read).

    ``error_expr`` is :func:`proofs.core.certified_inverse` of ``steps_expr``:
    the accuracy at which ``N`` evaluations satisfy the step-count hypothesis.

    References
    ----------
    .. [1] Gupta, Cai, Chen, arXiv:2406.00924, Theorem 1.1 (sequential).
    """

    name = "gupta_cai_chen"
    placeholder_reason = (
        "the paper's absolute constant and polylog power are not stated in a form we could "
        "check (its full text was not available), so C_seq = 1 and log power 2 are not proved"
    )
    reference = "S. Gupta, L. Cai, S. Chen, ICLR 2025, arXiv:2406.00924 (sequential)"
    metric = "TV"
    assumptions = _ASSUMPTIONS
    symbols = {s.name: s for s in (L, d, eps, N)}
    constants = {"C_seq": sp.Integer(1), "log_power": sp.Integer(2)}
    _ell = staticmethod(lambda e: log_factor(d / e, 2))
    steps_expr = constants["C_seq"] * L ** sp.Rational(5, 3) * d ** sp.Rational(5, 12) / eps * _ell(eps)
    error_expr = certified_inverse(
        [(constants["C_seq"] * L ** sp.Rational(5, 3) * d ** sp.Rational(5, 12), 1)], _ell, N
    )


class GuptaCaiChenParallel(Theorem):
    r"""Parallel (Picard) randomized-midpoint sampler: rounds and total work.

    .. math::

        \text{rounds}(\varepsilon) = C_{\mathrm{par}}\, L\, \log^2(e + d/\varepsilon),
        \qquad
        \text{work}(\varepsilon) = \text{rounds}(\varepsilon)\cdot
            C_{\mathrm{batch}} \sqrt{d}/\varepsilon .

    The depth is ``O(L log(d/eps))`` outer steps times ``O(log(d/eps))``
    Picard sweeps (each sweep evaluates all sub-interval scores at once).

    Constants
    ---------
    C_par = 1 : placeholder for the unstated constant of the depth bound.
    C_batch = 1 : placeholder; the per-round batch ``sqrt(d)/eps`` is
        *inferred* (the parallel method pays roughly the un-accelerated
        ``sqrt(d)/eps`` total work per sweep); the paper's exact total-work
        exponent was not read.  Treat ``steps_expr`` as indicative only.

    ``error_expr`` certifies the accuracy of a run with ``N`` *total* score
    evaluations (same convention as every theorem: ``N`` counts evaluations).

    References
    ----------
    .. [1] Gupta, Cai, Chen, arXiv:2406.00924 (parallel algorithm).
    """

    name = "gupta_cai_chen_parallel"
    placeholder_reason = (
        "the depth and per-round batch constants (C_par, C_batch) and the total-work exponent "
        "were not read from the paper, so they are placeholders, not proved"
    )
    reference = "S. Gupta, L. Cai, S. Chen, ICLR 2025, arXiv:2406.00924 (parallel)"
    metric = "TV"
    assumptions = _ASSUMPTIONS + (
        "Unlimited parallel score evaluations per round (batch of size C_batch sqrt(d)/eps).",
    )
    symbols = {s.name: s for s in (L, d, eps, N)}
    constants = {"C_par": sp.Integer(1), "C_batch": sp.Integer(1)}
    _ell = staticmethod(lambda e: log_factor(d / e, 2))
    rounds_expr = constants["C_par"] * L * _ell(eps)
    steps_expr = rounds_expr * constants["C_batch"] * sp.sqrt(d) / eps
    error_expr = certified_inverse([(constants["C_par"] * constants["C_batch"] * L * sp.sqrt(d), 1)], _ell, N)
