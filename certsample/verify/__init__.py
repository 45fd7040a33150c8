"""Certified runs: verdicts, theorem parameters, measurement strategies, the verifier and the enclosures.

* :func:`certify` (:mod:`.certify`) -- run a solver and return a :class:`Certificate` (:mod:`.certificate`);
* :mod:`.parameters` -- which theorem covers a run and its parameter values;
* :mod:`.measurement` -- exact law, verified enclosures, sample statistics, as objects;
* :mod:`.verifier` -- the enclosures of a run's start points, in parallel processes;
* :mod:`.flows` -- :func:`enclose_flows`, proved balls around the exact flows of many points: compiled float64
  interval arithmetic (:mod:`.fast_enclosure`, :mod:`.interval`), the Arb path where it falls short;
* :mod:`.enclosure` -- :func:`enclose_flow`, a proved ball around the exact flow of one point (Arb);
* :mod:`.errors` -- the named failures that may become verdicts.
"""

from .certificate import VERDICTS, Certificate
from .certify import certify
from .enclosure import Enclosure, enclose_flow
from .errors import (
    BoundUnreachable,
    CertifyError,
    EnclosureFailed,
    HypothesisNotMet,
    OutsideTheoremRange,
    StepBudgetExceeded,
)
from .flows import FlowEnclosures, enclose_flows
from .measurement import ExactLaw, Measurement, SampleStatistics, VerifiedEnclosures, choose_measurement
from .parameters import TheoremCheck, nfe_for_accuracy, theorem_for, theorem_parameters
from .verifier import Verifier

__all__ = [
    "certify",
    "Certificate",
    "VERDICTS",
    "Enclosure",
    "enclose_flow",
    "enclose_flows",
    "FlowEnclosures",
    "CertifyError",
    "HypothesisNotMet",
    "BoundUnreachable",
    "StepBudgetExceeded",
    "EnclosureFailed",
    "OutsideTheoremRange",
    "Measurement",
    "ExactLaw",
    "VerifiedEnclosures",
    "SampleStatistics",
    "choose_measurement",
    "TheoremCheck",
    "theorem_for",
    "theorem_parameters",
    "nfe_for_accuracy",
    "Verifier",
]
