"""Which theorem covers a run, and the values of its parameters for the run's target and horizon."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from proofs.balls import arb, arb_precision, lower_float, upper_float

from .. import lipschitz
from ..metrics import gaussian_w2
from .errors import BoundUnreachable, HypothesisNotMet, OutsideTheoremRange

__all__ = ["TheoremCheck", "theorem_for", "theorem_parameters", "nfe_for_accuracy", "default_horizon"]


class _TargetQuantities:
    """The target's quantities the baselines' theorems take, each a proved bound of its exact value (Arb).

    The exact law is the one the target's stored floats define: weights ``w_c / sum w``, means ``mu_c``, variances
    ``lam_{c,i}`` in the basis and ``lam_perp`` across it, the basis being the polar factor of the stored columns (an
    orthonormal basis, as in :mod:`proofs`). Then, with ``k`` basis coordinates in ``d``:

    * ``m2 = E |X|^2 = sum_c w_c (sum_i lam_{c,i} + (d - k) lam_perp + |mu_c|^2) / sum w`` (upper bound);
    * a Gaussian's ``alpha = 1 / max(lam, lam_perp)`` (lower bound; None unless every variance is positive) and
      ``W0 = W2(q_0, N(0, I))`` with ``W0^2 = |mu|^2 + sum_i (sqrt(lam_i) - 1)^2 + (d - k) (sqrt(lam_perp) - 1)^2``
      (upper bound; ``q_0`` and ``N(0, I)`` share the eigenbasis, so the trace term is that sum, written ``(lam -
      1)^2 / (sqrt(lam) + 1)^2``);
    * for equal isotropic variances ``v``, ``q_delta = (a mu) * N(0, a^2 v + s^2)``, ``a = e^-delta``, ``s^2 = 1 -
      e^(-2 delta)``: ``R = a max_c |mu_c|`` (upper bound) and ``sigma = sqrt(a^2 v + s^2)`` (lower bound).

    Each is an Arb ball evaluation of the formula from the stored floats (exact inputs), rounded outward to float64
    (:func:`proofs.balls.upper_float`, :func:`~proofs.balls.lower_float`).
    """

    def __init__(self, target):
        self.target = target
        self.extra = target.dim - target.means.shape[1]  # coordinates across the basis, variance lam_perp

    def _variances(self, c):
        lam = [float(v) for v in self.target.variances[c]]
        return lam + ([float(self.target.lam_perp)] if self.extra else [])

    def m2(self) -> float:
        t = self.target
        with arb_precision():
            total, weight = arb(0), arb(0)
            for c, w in enumerate(t.weights):
                lam = [arb(float(v)) for v in t.variances[c]]
                second = sum(lam, arb(0)) + self.extra * arb(float(t.lam_perp))
                second += sum((arb(float(m)) ** 2 for m in t.means[c]), arb(0))
                total += arb(float(w)) * second
                weight += arb(float(w))
            return upper_float(total / weight)

    def alpha(self) -> float | None:
        """``alpha`` with ``-Hess log q_0 >= alpha I`` (lower bound), or None when there is none (not a Gaussian
        with positive variances)."""
        lams = self._variances(0)
        if not (self.target.is_gaussian and min(lams) > 0):
            return None
        with arb_precision():
            return lower_float(1 / arb(max(lams)))

    def w0(self) -> float:
        t = self.target
        with arb_precision():
            square = sum((arb(float(m)) ** 2 for m in t.means[0]), arb(0))
            for lam, count in [(v, 1) for v in t.variances[0]] + ([(t.lam_perp, self.extra)] if self.extra else []):
                lam = arb(float(lam))
                square += count * ((lam - 1) / (lam.sqrt() + 1)) ** 2
            return upper_float(square.sqrt())

    def frame(self, v: float, delta: float) -> tuple[float, float]:
        """``(R, sigma)`` for equal isotropic variances ``v``."""
        with arb_precision():
            a = (-arb(float(delta))).exp()
            s2 = -((-2 * arb(float(delta))).expm1())
            radius = max(sum((arb(float(m)) ** 2 for m in mean), arb(0)).sqrt().upper() for mean in self.target.means)
            return upper_float(a * radius), lower_float((a * a * arb(v) + s2).sqrt())


@dataclass
class TheoremCheck:
    """The theorem covering a run with its parameter values, or None with the reason none applies."""

    theorem: object | None  # proofs.core.Theorem
    parameters: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    reason: str = ""


def _isotropic_noise_level(target):
    """``v`` when every component is ``N(mu_c, v I)`` (v = 0: point cloud), else None."""
    v = target.variances
    if not np.allclose(v, v.flat[0]):
        return None
    if target.basis is not None and target.dim > target.basis.shape[1] and not np.isclose(target.lam_perp, v.flat[0]):
        return None
    return float(v.flat[0])


def theorem_parameters(theorem, target, T: float, delta: float, score_error: float) -> tuple[dict, list]:
    """Values of ``theorem``'s parameters (all but ``N`` and ``eps``) for this target and horizon.

    Returns the values and a list of notes on how they were obtained.

    Raises
    ------
    HypothesisNotMet
        Naming the hypothesis the target does not meet.
    """
    wanted = set(theorem.symbols) - {"N", "eps"}
    notes = []
    proved = _TargetQuantities(target)
    values = {"d": target.dim, "T": T, "delta": delta, "eps_s": score_error}
    if "m2" in wanted:
        values["m2"] = proved.m2()
    if "L" in wanted:
        if lipschitz.needs_radius(target):
            raise HypothesisNotMet(
                theorem.name,
                f"theorem {theorem.name!r} assumes a globally Lipschitz score; "
                f"{target!r} (unequal variances) has a bound only on balls",
            )
        values["L"] = lipschitz.sup_on(target, delta, T)
        notes.append("L = sup of the score's Lipschitz bound over [delta, T], proved (certsample.lipschitz.sup_on)")
    if wanted & {"alpha", "M", "W0"}:
        alpha = proved.alpha()
        if alpha is None:
            raise HypothesisNotMet(
                theorem.name,
                f"theorem {theorem.name!r} assumes strongly log-concave data (a "
                f"Gaussian with positive variances); {target!r} is not",
            )
        values["alpha"] = alpha
        values["M"] = 0.0  # the Hessian of log q_t is constant for Gaussians
        values["W0"] = proved.w0()
    if wanted & {"R", "sigma"}:
        v = _isotropic_noise_level(target)
        if v is None or not np.isfinite(target.means).all():
            raise HypothesisNotMet(
                theorem.name,
                f"theorem {theorem.name!r} needs data mu * N(0, v I) (a point "
                f"cloud or a mixture with equal isotropic variances); {target!r} is not",
            )
        # the sampler's law at delta is (a mu) * N(0, a^2 v + s^2): that is the theorem's q
        values["R"], values["sigma"] = proved.frame(v, delta)
        notes.append("R, sigma describe q_delta = (a mu) * N(0, a^2 v + sigma_delta^2)")
        if values["R"] == 0:
            values["R"] = np.nextafter(0.0, 1.0)
    missing = wanted - set(values)
    if missing:
        raise HypothesisNotMet(
            theorem.name,
            f"theorem {theorem.name!r} needs parameters {sorted(missing)} that certify cannot derive from this target",
        )
    return {k: values[k] for k in sorted(wanted)}, notes


def theorem_for(solver, target, T: float, delta: float, score_error: float | None) -> TheoremCheck:
    """The theorem the solver names (:attr:`~certsample.solvers.Solver.theorem`) with its parameters for
    this run, or a :class:`TheoremCheck` whose ``reason`` says why none applies."""
    import proofs
    from proofs.core import RunTheorem

    if solver.theorem is None:
        return TheoremCheck(None, reason=solver.theorem_gap)
    theorem = proofs.get(solver.theorem)
    if isinstance(theorem, RunTheorem):  # evaluated on the run itself, from the target's proved quantities
        if score_error != 0:
            return TheoremCheck(
                None, reason=f"theorem {theorem.name!r} is proved for the exact score; this run's score is not exact"
            )
        uncovered = theorem.covers(target)
        if uncovered:
            return TheoremCheck(None, reason=f"theorem {theorem.name!r} does not cover {target!r}: {uncovered}")
        return TheoremCheck(
            theorem,
            {},
            [
                f"theorem {theorem.name!r}: bound evaluated on this run's grid and "
                "target (start set of q_T-mass at least 1 - eta, eta = 1e-6)"
            ],
        )
    if score_error is None:
        return TheoremCheck(
            None,
            reason=f"theorem {theorem.name!r} needs the score's L2 error; a user score "
            "without score_error= is not covered",
        )
    if score_error > 0 and "eps_s" not in theorem.symbols:
        return TheoremCheck(
            None,
            reason=f"theorem {theorem.name!r} has no score-error term (its stated assumption asks for a small "
            f"pointwise score error it does not quantify); this score's error is {score_error:g}",
        )
    try:
        params, notes = theorem_parameters(theorem, target, T, delta, score_error)
    except HypothesisNotMet as failed:
        return TheoremCheck(None, reason=failed.hypothesis)
    return TheoremCheck(theorem, params, notes)


def nfe_for_accuracy(theorem, params: dict, eps: float, max_nfe: int) -> int:
    """Smallest ``N`` with ``theorem.error_bound(N) <= eps`` (rigorous bound; doubling up to ``4 max_nfe``, then
    bisection); the caller compares it with its step budget.

    Raises
    ------
    BoundUnreachable
        When the bound exceeds ``eps`` even at ``4 max_nfe`` evaluations (tried).
    """

    def ok(n):
        try:
            return theorem.error_bound(N=n, **params) <= eps
        except OutsideTheoremRange:  # e.g. N below the cost of the theorem's first unit of accuracy
            return False

    cap = 4 * max_nfe
    lo, hi = 0, 1
    while not ok(hi):
        if hi >= cap:  # the cap itself was tried (doubling alone could jump past an N that works below it)
            try:
                reached = theorem.error_bound(N=cap, **params)
            except OutsideTheoremRange:  # its hypotheses fail even there (a step still too long, say)
                reached = math.inf
            raise BoundUnreachable(theorem.name, eps, reached, cap)
        lo, hi = hi, min(2 * hi, cap)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def default_horizon(solver, target, eps: float, delta: float, score_error) -> float:
    """``T``: 10, or for theorems with an initialisation term ``W0``, the ``T`` with ``e^{-T} W2(q_0, N(0, I))
    <= eps / 4`` (at least 2); at least twice ``delta`` either way."""
    floor = 2.0 * delta
    probe = theorem_for(solver, target, max(10.0, floor), delta, score_error).theorem
    if probe is None or "W0" not in probe.symbols:
        return max(10.0, floor)
    mean, cov = target.mean(), target.covariance()
    # W2(q_0, N(0, I)) <= sqrt(E|X|^2) + sqrt(d), exact for Gaussians with positive variances
    w0 = math.sqrt(float(np.trace(cov) + mean @ mean)) + math.sqrt(target.dim)
    if target.is_gaussian and np.min(target.variances) > 0:
        w0 = gaussian_w2(mean, cov, np.zeros(target.dim), np.eye(target.dim))
    return max(2.0, floor, math.log(4 * max(w0, 1.0) / eps))
