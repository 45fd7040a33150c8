r"""Classical discretization bounds for diffusion samplers (the baselines).

Two kinds of statement live here.

1. :class:`ChenEtAl2023` -- the KL/TV bound of Chen, Chewi, Li, Li, Salim,
   Zhang (2023) for the exponential integrator (DDPM) on the reverse SDE.
   Its absolute constant is hidden in the paper; we state a placeholder.
2. :class:`ProbabilityFlowEIW2`, :class:`ReverseSDEEIW2`,
   :class:`ReverseSDEEulerW2` -- *explicit, non-asymptotic* W2 bounds derived
   below, with every constant proved (``certified = True``).  They hold for
   strongly log-concave data, which includes every Gaussian target, so they
   can be checked exactly against the closed-form output law of a linear
   (Gaussian) run.

Setting and notation (shared)
-----------------------------
Forward OU process ``dX = -X dt + sqrt(2) dB``, ``X_t = e^{-t} X_0 +
sqrt(1 - e^{-2t}) Z``, ``q_t = law(X_t)``, ``s(x, t) = grad log q_t(x)``.
The samplers start at time ``T`` from ``N(0, I)`` and take ``N`` uniform steps
of size ``h = (T - delta) / N`` down to ``delta``; step ``k`` uses the score at
``t_k = T - k h``:

* probability-flow ODE, exponential integrator:
  ``y' = e^h y + (e^h - 1) s(y, t_k)``;
* reverse SDE, exponential integrator:
  ``y' = e^h y + 2 (e^h - 1) s(y, t_k) + sqrt(e^{2h} - 1) xi``;
* reverse SDE, Euler-Maruyama:
  ``y' = y + h (y + 2 s(y, t_k)) + sqrt(2 h) xi``.

Hypotheses of the certified bounds
----------------------------------
(H1) ``q_0`` is ``alpha``-strongly log-concave.  Then (Gaussian convolution
     preserves strong log-concavity) ``q_t`` is ``alpha_t``-strongly
     log-concave with ``alpha_t = alpha / (alpha + (1 - alpha) e^{-2t})``,
     which lies between ``alpha`` and ``1``.
(H2) ``-grad^2 log q_t <= L I`` for ``t in [delta, T]``, so the eigenvalues of
     ``-grad s`` lie in ``[alpha_t, L]``.
(H3) (ODE only) ``x -> grad^2 log q_t(x)`` is ``M``-Lipschitz in operator
     norm (``M = 0`` for Gaussians).
(H4) The score used, ``s_hat``, satisfies (H1)-(H2) too and
     ``E_{q_{t_k}} |s_hat - s|^2 <= eps_s^2`` at the grid times.
``W0 >= W2(q_0, N(0, I))`` and (Euler-Maruyama only) ``m2 >= E|X_0|^2``.

Derivation (the bounds are genuine upper bounds)
------------------------------------------------
*Coupling.*  Run the exact reverse process ``x`` from ``q_T`` and the scheme
``z`` from ``N(0, I)``, with ``(x_0, z_0)`` W2-optimally coupled and the same
Brownian increments (the scheme's Gaussian increment equals the exact
stochastic convolution: ``sqrt(e^{2h}-1) xi = sqrt(2) int_0^h e^{h-r} dB_r``,
resp. ``sqrt(2h) xi = sqrt(2) B_h``).  Then ``x_k ~ q_{t_k}`` and
``W2(law z_N, q_delta) <= a_N := ||z_N - x_N||_{L^2}``.  By OU contraction,
``a_0 = W2(N(0,I), q_T) <= e^{-T} W0``.

*Error recursion.*  With ``Psi_k`` the scheme's step and ``Phi_k`` the exact
step, ``z_{k+1} - x_{k+1} = [Psi_k(z_k) - Psi_k(x_k)] + [Psi_k(x_k) -
Phi_k(x_k)]``.  The first bracket is ``F_k``-measurable (the noise cancels)
and bounded by ``ell_k |z_k - x_k|``, ``ell_k = Lip(Psi_k)``.  The local error
splits as ``D_k + M_k`` with ``E[M_k | F_k] = 0``, so
``||A + M_k||^2 = ||A||^2 + ||M_k||^2`` for ``F_k``-measurable ``A``, and
``a_{k+1} <= sqrt(ell_k^2 a_k^2 + m^2) + delta_D`` (``||M_k|| <= m``,
``||D_k|| <= delta_D``).  By induction, with ``lambda_j = max(1, ell_j)`` and
``P = prod_j lambda_j``::

    a_N <= P (a_0 + N delta_D + sqrt(N) m)

(use ``sqrt((u+v)^2 + m^2) <= u + sqrt(v^2 + m^2)`` and ``P >= 1``).

*Lipschitz constants.*  ``grad Psi_k`` is symmetric with eigenvalues
``e^h - c (e^h - 1) lambda``, ``lambda in [alpha_t, L]`` (``c = 1`` ODE,
``c = 2`` SDE; Euler: ``1 + h - 2 h lambda``).  Under the step-size
conditions below the negative end is ``>= -1``, so
``lambda_j <= 1 + (e^h - 1) max(0, 1 - alpha_{t_j})`` (Euler: ``e^h - 1``
replaced by ``h``).  Since ``1 - alpha_t`` is monotone with antiderivative
``t - log(alpha e^{2t} + 1 - alpha) / 2`` and ``t_j`` is the right end of
``[t_j - h, t_j]``, ``sum_j h max(0, 1 - alpha_{t_j}) <= (1/2) log rho`` with
``rho = max(1, alpha_T / alpha_delta)``; hence
``P <= rho^((e^h - 1) / (2h))`` (Euler: ``P <= rho^(1/2)``).  Note ``P`` is
bounded uniformly in ``T`` -- no ``e^{L T}`` blow-up, which is what makes the
bound non-vacuous.

*Local errors.*  Along the exact reverse **SDE**, Ito's formula and the
Fokker-Planck equation give ``d s(x_r, t_r) = -s dr + sqrt(2) grad s dB``
(the third-derivative terms cancel).  Along the **ODE**,
``d/dr s(x_r, t_r) = -(I + grad s) s - grad Laplacian log q``.  With
``E|s|^2 = E[-Laplacian log q] <= d L``, ``||grad s||_F^2 <= d L^2``,
``||I + grad s||_op <= max(L - 1, 1 - alpha, 0)``,
``|grad Laplacian log q| <= d M``, ``int_0^h e^{h-r} r dr = e^h - 1 - h`` and
``int_0^h e^{h-r} sqrt(r) dr <= (2/3) e^h h^{3/2}``:

* ODE-EI:  ``delta_D = (e^h-1-h) G + (e^h-1) eps_s``,
  ``G = max(L-1, 1-alpha, 0) sqrt(d L) + d M``, ``m = 0``;
* SDE-EI:  ``delta_D = 2 (e^h-1-h) sqrt(d L) + 2 (e^h-1) eps_s``,
  ``m = (4 sqrt2 / 3) e^h L sqrt(d) h^{3/2}``;
* Euler:   the drift ``g = y + 2 s`` obeys ``dg = x dr + sqrt(2)(I + 2 grad s)
  dB``, so ``delta_D = (h^2/2) sqrt(max(m2, d)) + 2 h eps_s``
  (``E|X_t|^2 <= max(m2, d)``) and
  ``m = (2 sqrt2 / 3) sqrt(d) max(2L - 1, 1 - 2 alpha, 0) h^{3/2}``.

The resulting explicit bounds are the ``error_expr`` of each class.  The
inverse direction (``steps_expr``) uses ``h <= 1`` to bound
``e^h - 1 - h <= e h^2 / 2``, ``e^h - 1 <= (e - 1) h``, and solves the
resulting affine-in-``h`` bound; it is a sufficient (not minimal) step count.

References
----------
.. [1] S. Chen, S. Chewi, J. Li, Y. Li, A. Salim, A. R. Zhang, "Sampling is as
   easy as learning the score: theory for diffusion models with minimal data
   assumptions", ICLR 2023, arXiv:2209.11215.
.. [2] A. Saumard, J. A. Wellner, "Log-concavity and strong log-concavity: a
   review", Statistics Surveys 8, 2014 (Thm 3.7: convolution of strongly
   log-concave densities).
.. [3] E. Hairer, S. P. Norsett, G. Wanner, *Solving Ordinary Differential
   Equations I*, Springer, 1993 (Lady Windermere's fan).
.. [4] G. N. Milstein, M. V. Tretyakov, *Stochastic Numerics for Mathematical
   Physics*, Springer, 2004 (mean-square order via orthogonal martingale
   increments).
"""

from __future__ import annotations

import sympy as sp

from .core import Theorem, smax

__all__ = [
    "ChenEtAl2023",
    "ProbabilityFlowEIW2",
    "ReverseSDEEIW2",
    "ReverseSDEEulerW2",
    "alpha_t",
]

d, L, T, delta, alpha, m2, eps = sp.symbols("d L T delta alpha m2 eps", positive=True)
W0, M, eps_s = sp.symbols("W0 M eps_s", nonnegative=True)
N = sp.Symbol("N", positive=True, integer=True)
E = sp.E


def alpha_t(t, a=alpha):
    """Strong log-concavity of ``q_t`` when ``q_0`` is ``a``-strongly log-concave."""
    return a / (a + (1 - a) * sp.exp(-2 * t))


_h = (T - delta) / N
_rho = smax(1, alpha_t(T) / alpha_t(delta))
_common_assumptions = (
    "Forward process dX = -X dt + sqrt(2) dB; sampler starts at time T from N(0, I) "
    "and takes N uniform steps of size h = (T - delta)/N down to time delta.",
    "q_0 is alpha-strongly log-concave (so q_t is alpha_t-strongly log-concave, "
    "alpha_t = alpha/(alpha + (1 - alpha) e^{-2t})).",
    "-Hess log q_t <= L I for all t in [delta, T] (score L-Lipschitz in x).",
    "The score used satisfies the same two bounds and has L2(q_{t_k}) error <= eps_s "
    "at the grid times (eps_s = 0: exact score).",
    "W0 >= W2(q_0, N(0, I)).",
)


class _W2Base(Theorem):
    metric = "W2"
    certified = True
    reference = (
        "Derived in proofs.baselines (Gronwall/Lady-Windermere argument with "
        "orthogonal martingale increments); setting of Chen et al., ICLR 2023, "
        "arXiv:2209.11215."
    )

    @staticmethod
    def _steps(P_max, I0, K, inv_hc):
        # h <= 1 simplification: err <= P_max (I0 + K h); solve for h.
        budget = eps - P_max * I0
        steps = (T - delta) * smax(1, inv_hc, P_max * K / budget)
        conds = (
            (
                "eps must exceed the h-independent part P*(e^{-T} W0 + score-error term); increase T or reduce eps_s",
                budget,
            ),
            ("T > delta", T - delta),
        )
        return steps, conds


class ProbabilityFlowEIW2(_W2Base):
    r"""Exponential integrator on the probability-flow ODE, explicit W2 bound.

    .. math::

        W_2 \le \rho^{\frac{e^h-1}{2h}} \Big[e^{-T} W_0
              + N (e^h - 1 - h) G + N (e^h - 1)\,\varepsilon_s\Big],

    with ``G = max(L-1, 1-alpha, 0) sqrt(d L) + d M``,
    ``rho = max(1, alpha_T/alpha_delta)``, valid when
    ``(e^h - 1)(L - 1) <= 2``.  Derivation: module docstring.  For the
    standard Gaussian (``L = alpha = 1``, ``M = W0 = eps_s = 0``) the bound is
    ``0``, which is exact: the ODE is then stationary and the scheme is exact.

    References
    ----------
    .. [1] Chen et al., arXiv:2209.11215 (setting); this module (proof).
    """

    name = "pf_ode_ei_w2"
    symbols = {s.name: s for s in (d, L, T, delta, alpha, W0, M, eps_s, N, eps)}
    constants = {
        "lipschitz_growth_exponent": (sp.exp(_h) - 1) / (2 * _h),
        "G": smax(L - 1, 1 - alpha, 0) * sp.sqrt(d * L) + d * M,
    }
    assumptions = _common_assumptions + ("Hess log q_t is M-Lipschitz in operator norm (M = 0 for Gaussian data).",)
    error_expr = _rho ** constants["lipschitz_growth_exponent"] * (
        sp.exp(-T) * W0 + N * (sp.exp(_h) - 1 - _h) * constants["G"] + N * (sp.exp(_h) - 1) * eps_s
    )
    error_conditions = (
        ("step size: (e^h - 1)(L - 1) <= 2", 2 - (sp.exp(_h) - 1) * (L - 1)),
        ("T > delta", T - delta),
    )
    _P = _rho ** ((E - 1) / 2)
    steps_expr, step_conditions = _W2Base._steps(
        _P,
        sp.exp(-T) * W0 + (T - delta) * (E - 1) * eps_s,
        (T - delta) * E / 2 * constants["G"],
        (E - 1) * smax(L - 1, 0),
    )
    del _P


class ReverseSDEEIW2(_W2Base):
    r"""Exponential integrator (DDPM-type) on the reverse SDE, explicit W2 bound.

    .. math::

        W_2 \le \rho^{\frac{e^h-1}{2h}} \Big[e^{-T} W_0
            + 2N(e^h-1-h)\sqrt{dL}
            + \sqrt{N}\,\tfrac{4\sqrt2}{3} e^h L \sqrt d\, h^{3/2}
            + 2N(e^h-1)\,\varepsilon_s\Big],

    valid when ``(e^h - 1)(2L - 1) <= 2``.  The ``sqrt(N) h^{3/2} =
    sqrt(T - delta) h`` term is the martingale part of the local error, summed
    in quadrature; the bound is therefore first order in ``h``.  No
    third-derivative assumption is needed (it cancels along the SDE).

    References
    ----------
    .. [1] Chen et al., arXiv:2209.11215 (scheme); this module (proof).
    """

    name = "sde_ei_w2"
    symbols = {s.name: s for s in (d, L, T, delta, alpha, W0, eps_s, N, eps)}
    constants = {
        "lipschitz_growth_exponent": (sp.exp(_h) - 1) / (2 * _h),
        "martingale_constant": 4 * sp.sqrt(2) / 3,
    }
    assumptions = _common_assumptions
    error_expr = _rho ** constants["lipschitz_growth_exponent"] * (
        sp.exp(-T) * W0
        + 2 * N * (sp.exp(_h) - 1 - _h) * sp.sqrt(d * L)
        + sp.sqrt(N) * constants["martingale_constant"] * sp.exp(_h) * L * sp.sqrt(d) * _h ** sp.Rational(3, 2)
        + 2 * N * (sp.exp(_h) - 1) * eps_s
    )
    error_conditions = (
        ("step size: (e^h - 1)(2L - 1) <= 2", 2 - (sp.exp(_h) - 1) * (2 * L - 1)),
        ("T > delta", T - delta),
    )
    steps_expr, step_conditions = _W2Base._steps(
        _rho ** ((E - 1) / 2),
        sp.exp(-T) * W0 + 2 * (T - delta) * (E - 1) * eps_s,
        (T - delta) * E * sp.sqrt(d * L) + sp.sqrt(T - delta) * constants["martingale_constant"] * E * L * sp.sqrt(d),
        (E - 1) * smax(2 * L - 1, 0),
    )


class ReverseSDEEulerW2(_W2Base):
    r"""Euler-Maruyama on the reverse SDE, explicit W2 bound.

    .. math::

        W_2 \le \rho^{1/2} \Big[e^{-T} W_0 + N \tfrac{h^2}{2}\sqrt{\max(m_2, d)}
          + \sqrt N\,\tfrac{2\sqrt2}{3}\sqrt d \max(2L-1, 1-2\alpha, 0)\, h^{3/2}
          + 2 N h\,\varepsilon_s\Big],

    valid when ``h (2L - 1) <= 2``; ``m2 >= E|X_0|^2``.

    References
    ----------
    .. [1] Milstein & Tretyakov (2004) (mean-square analysis); this module.
    """

    name = "sde_em_w2"
    symbols = {s.name: s for s in (d, L, T, delta, alpha, W0, m2, eps_s, N, eps)}
    constants = {
        "martingale_constant": 2 * sp.sqrt(2) / 3,
        "noise_gain": smax(2 * L - 1, 1 - 2 * alpha, 0),
    }
    assumptions = _common_assumptions + ("m2 >= E|X_0|^2 (second moment of the data).",)
    error_expr = sp.sqrt(_rho) * (
        sp.exp(-T) * W0
        + N * _h**2 / 2 * sp.sqrt(smax(m2, d))
        + sp.sqrt(N) * constants["martingale_constant"] * sp.sqrt(d) * constants["noise_gain"] * _h ** sp.Rational(3, 2)
        + 2 * N * _h * eps_s
    )
    error_conditions = (
        ("step size: h (2L - 1) <= 2", 2 - _h * (2 * L - 1)),
        ("T > delta", T - delta),
    )
    steps_expr, step_conditions = _W2Base._steps(
        sp.sqrt(_rho),
        sp.exp(-T) * W0 + 2 * (T - delta) * eps_s,
        (T - delta) / 2 * sp.sqrt(smax(m2, d))
        + sp.sqrt(T - delta) * constants["martingale_constant"] * sp.sqrt(d) * constants["noise_gain"],
        smax(2 * L - 1, 0),
    )


class ChenEtAl2023(Theorem):
    r"""Chen-Chewi-Li-Li-Salim-Zhang (2023): DDPM (exponential integrator on the
    reverse SDE) in KL, reported in TV via Pinsker.

    With step ``h = T/N <= 1/L`` (their early-stopping detail omitted),

    .. math::

        \mathrm{KL}(q \,\|\, \hat p) \le \mathrm{KL}_0 e^{-2T} + T\varepsilon_s^2
            + C\,T\,(L^2 d h + L^2 m_2 h^2),
        \qquad \mathrm{TV} \le \sqrt{\mathrm{KL}/2},

    so ``N = O(d L^2 T^2 / eps^2)`` steps give TV ``<= eps``.

    Notes
    -----
    The paper proves ``TV <~ sqrt(KL_0) e^{-T} + (L sqrt(d h) + L m h)
    sqrt(T) + eps_s sqrt(T)`` with an unstated absolute constant.  We use
    ``C = 4`` as a stated placeholder -- it is *not* certified
    (``certified = False``); the exponents are the paper's.  ``m2`` here is
    ``E|X_0|^2`` (the paper's ``m_2^2``).  The steps direction splits the KL
    budget ``2 eps^2 - KL_0 e^{-2T} - T eps_s^2`` equally between the two
    discretization terms and enforces ``h <= 1/L``.

    References
    ----------
    .. [1] S. Chen, S. Chewi, J. Li, Y. Li, A. Salim, A. R. Zhang, "Sampling is
       as easy as learning the score", ICLR 2023, arXiv:2209.11215, Thm 2.
    """

    name = "chen_et_al_2023"
    reference = "Chen, Chewi, Li, Li, Salim, Zhang, ICLR 2023, arXiv:2209.11215, Theorem 2"
    placeholder_reason = (
        "the paper's Theorem 2 carries an unstated absolute constant; C = 4 is a stated "
        "placeholder (the exponents are the paper's)"
    )
    metric = "TV"
    KL0 = sp.Symbol("KL0", nonnegative=True)
    symbols = {s.name: s for s in (d, L, T, m2, eps_s, KL0, N, eps)}
    constants = {"C": sp.Integer(4)}
    assumptions = (
        "Score L-Lipschitz in x for all t; data with finite second moment m2 = E|X_0|^2.",
        "Score estimate with L2(q_t) error <= eps_s (averaged over the grid).",
        "KL0 >= KL(q_0 || N(0, I)); step size h = T/N <= 1/L.",
        "Absolute constant C hidden by the paper: placeholder C = 4, not certified.",
    )
    _hh = T / N
    _C = constants["C"]
    _kl = KL0 * sp.exp(-2 * T) + T * eps_s**2 + _C * T * (L**2 * d * _hh + L**2 * m2 * _hh**2)
    error_expr = sp.sqrt(_kl / 2)
    error_conditions = (("step size h = T/N <= 1/L", N - T * L),)
    _budget = 2 * eps**2 - KL0 * sp.exp(-2 * T) - T * eps_s**2
    steps_expr = T * smax(L, 2 * _C * L**2 * d * T / _budget, sp.sqrt(2 * _C * L**2 * m2 * T / _budget))
    step_conditions = (("2 eps^2 must exceed KL0 e^{-2T} + T eps_s^2 (increase T or reduce eps_s)", _budget),)
    del _hh, _C, _kl, _budget
