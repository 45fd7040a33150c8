"""The failures certify turns into verdicts, by name; any other exception is a bug and propagates.

A verdict may only come from a named failure: a ``ValueError`` raised by a typo or an index error would
otherwise read as "NOT APPLICABLE" or "bound not met".
"""

from __future__ import annotations

from proofs.core import OutsideTheoremRange

__all__ = [
    "CertifyError",
    "HypothesisNotMet",
    "BoundUnreachable",
    "StepBudgetExceeded",
    "EnclosureFailed",
    "OutsideTheoremRange",
]


class CertifyError(Exception):
    """Base class of the failures certify names in a certificate or an error message."""


class HypothesisNotMet(CertifyError, ValueError):
    """The target, solver or score does not meet a theorem's assumptions: its verdict is NOT APPLICABLE."""

    def __init__(self, theorem: str | None, hypothesis: str):
        self.theorem = theorem
        self.hypothesis = hypothesis
        super().__init__(hypothesis)


class BoundUnreachable(CertifyError, ValueError):
    """A theorem's bound stays above ``eps`` at every evaluation count certify may spend."""

    def __init__(self, theorem: str, eps: float, floor: float, nfe: int):
        self.theorem, self.eps, self.floor, self.nfe = theorem, eps, floor, nfe
        super().__init__(
            f"theorem {theorem!r} gives an error bound of {floor:.3g} even at {nfe} evaluations, above "
            f"eps={eps:g}; raise eps (its N-independent part comes from T, delta or the score error) "
            "or max_steps"
        )


class StepBudgetExceeded(CertifyError, ValueError):
    """More steps than ``max_steps`` would be needed for ``eps``."""

    def __init__(self, steps: int, max_steps: int, eps: float, detail: str = ""):
        self.steps, self.max_steps, self.eps = steps, max_steps, eps
        super().__init__(
            f"{steps} steps or more are needed at eps={eps:g}, more than max_steps={max_steps}"
            + (f" ({detail})" if detail else "")
            + "; raise eps or max_steps"
        )


class EnclosureFailed(CertifyError, ArithmeticError):
    """The validated integrator could not prove an enclosure: where, on what box, at which step."""

    def __init__(self, reason: str, time: float, box, step: int):
        self.reason, self.time, self.box, self.step = reason, float(time), box, int(step)
        super().__init__(f"{reason} at t={self.time:g} (step {self.step}, start box {box})")
