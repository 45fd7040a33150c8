"""The certificate of a run: its two verdicts and everything a reader needs to check them."""

from __future__ import annotations

import decimal
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from proofs.balls import bound_text, decimal_text, directed_decimal

__all__ = ["Certificate", "VERDICTS", "json_safe"]

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


def json_safe(value):
    """``value`` with every non-finite float as ``None`` and NumPy scalars and arrays as Python numbers and lists:
    standard JSON (RFC 8259) has no NaN or Infinity, and ``json`` writes them as bare ``NaN`` / ``Infinity``."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        """Standard JSON (RFC 8259): a bound that is not finite (an unproved upper error, say) is written ``null``."""
        return json.dumps(json_safe(self.to_dict()), indent=indent, allow_nan=False)

    def save(self, path: str) -> str:
        with open(path, "w") as fh:
            fh.write(self.to_json() + "\n")
        return path

    def __str__(self) -> str:
        inp = self.inputs
        kind = self.measurement_kind
        if kind == "verified" and isinstance(inp.get("n"), int) and self.particles_checked < inp["n"]:
            kind = f"verified on {self.particles_checked} of {inp['n']} particles"  # a proof about those only
        lines = [
            f"accuracy  {self.accuracy_verdict} ({kind}): error "
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


def _fmt_range(lo, hi):
    """A proved range ``[lo, hi]`` with its ends rounded outward, to enough digits (3 to 15) that the printed range is
    at most about twice as wide as the range itself."""
    if hi == math.inf and math.isfinite(lo):  # some particle's error is unbounded above
        return f"at least {decimal_text(directed_decimal(lo, False, 6), 6)} (proved; no upper bound)"
    if not math.isfinite(hi):
        return "not measured"
    if lo == hi or not math.isfinite(lo):
        return f"{hi:.6g}"
    for digits in range(3, 16):
        low, high = directed_decimal(lo, False, digits), directed_decimal(hi, True, digits)
        if high - low <= 2 * (decimal.Decimal(hi) - decimal.Decimal(lo)):
            break
    return f"in [{decimal_text(low, digits)}, {decimal_text(high, digits)}] (proved)"
