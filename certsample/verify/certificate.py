"""The certificate of a run: its two verdicts and everything a reader needs to check them."""

from __future__ import annotations

import decimal
import json
import math
from dataclasses import asdict, dataclass, field

__all__ = ["Certificate", "VERDICTS", "bound_text"]

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


@dataclass
class Certificate:
    """Everything a reader needs to check a certified run; JSON-serialisable via :meth:`to_json`."""

    accuracy_verdict: str
    theorem_verdict: str
    eps: float
    measured: float
    measured_lower: float
    uncertainty: float
    floor: float
    measurement: str
    measurement_kind: str
    reference: str
    particles_checked: int
    population: dict
    theorem: str | None
    theorem_reference: str
    metric: str
    certified_constants: bool
    assumptions: list
    inputs: dict
    parameters: dict
    nfe_required: int | None
    bound: float | None
    nfe: int
    rounds: int
    wall_time_s: float
    notes: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The accuracy verdict (what the exit code of ``certsample certify`` reports)."""
        return self.accuracy_verdict

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str) -> str:
        with open(path, "w") as fh:
            fh.write(self.to_json() + "\n")
        return path

    def __str__(self) -> str:
        inp = self.inputs
        lines = [
            f"accuracy  {self.accuracy_verdict} ({self.measurement_kind}): error "
            f"{_fmt_range(self.measured_lower, self.measured)} against eps={self.eps:g}",
            f"          {self.measurement}",
            f"          reference: {self.reference}",
        ]
        for key, value in self.population.items():
            lines.append(f"          {key}: {value}")
        if self.theorem is None:
            lines.append(f"theorem   {self.theorem_verdict}")
        else:
            lines.append(
                f"theorem   {self.theorem_verdict}: {self.theorem} ({self.metric}; constants "
                f"{'proved' if self.certified_constants else 'placeholders, not proved'}), bound "
                + (f"{bound_text(self.bound, 6)} at NFE {self.nfe}" if self.bound is not None else "n/a")
            )
            if self.certified_constants and self.bound is not None and self.measurement_kind == "verified":
                ratio = self.bound / self.measured if self.measured > 0 else math.inf
                lines.append(
                    f"          a priori (proved) {bound_text(self.bound)} against a posteriori (proved) "
                    f"{bound_text(self.measured)}: the theorem is {ratio:.3g} times the run's error"
                )
            lines.append(f"          {self.theorem_reference}")
        lines.append(
            f"run       {inp['solver']} on {inp['target']}, steps={inp['n_steps']}"
            + (f" (theorem asks NFE {self.nfe_required})" if self.nfe_required else "")
            + f", NFE={self.nfe}, rounds={self.rounds}, {self.wall_time_s:.3f} s"
        )
        lines += [f"note      {n}" for n in self.notes]
        return "\n".join(lines)


def _directed(x: float, upward: bool, digits: int) -> decimal.Decimal:
    """The float ``x`` to ``digits`` significant digits, rounded toward ``+inf`` (``upward``) or ``-inf``: its exact
    decimal value (``Decimal(x)`` is exact) rounded once under a directed rounding context."""
    context = decimal.Context(prec=digits, rounding=decimal.ROUND_CEILING if upward else decimal.ROUND_FLOOR)
    return context.plus(decimal.Decimal(x))


def bound_text(x: float, digits: int = 3, upward: bool = True) -> str:
    """``x`` printed to ``digits`` significant digits rounded up (``upward``, for an upper bound) or down (a lower
    bound), so that the printed number is still a bound: ``format(x, '.3g')`` rounds to nearest and would print a
    proved RMS error in ``[0.0148943, 0.0148950]`` as ``[0.0149, 0.014895]``, a lower end above the upper one.
    At most 15 digits, written as Python writes a float in ``g`` format (``1.24e-07``); a float that is a short decimal
    may print one unit above it (``0.01`` as ``0.0101``: the float is ``0.01000000000000000021``)."""
    if not math.isfinite(x):
        return f"{x:g}"
    digits = min(digits, 15)
    return _decimal_text(_directed(x, upward, digits), digits)


def _decimal_text(value: decimal.Decimal, digits: int) -> str:
    """A decimal of at most ``digits <= 15`` significant digits in float ``g`` format: it survives the trip through the
    nearest float, which prints it back digit for digit."""
    return format(float(value), f".{digits}g")


def _fmt_range(lo, hi):
    """A proved range ``[lo, hi]`` with its ends rounded outward, to enough digits (3 to 15) that the printed range is
    at most about twice as wide as the range itself."""
    if not math.isfinite(hi):
        return "not measured"
    if lo == hi or not math.isfinite(lo):
        return f"{hi:.6g}"
    for digits in range(3, 16):
        low, high = _directed(lo, False, digits), _directed(hi, True, digits)
        if high - low <= 2 * (decimal.Decimal(hi) - decimal.Decimal(lo)):
            break
    return f"in [{_decimal_text(low, digits)}, {_decimal_text(high, digits)}] (proved)"
