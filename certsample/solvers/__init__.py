"""The solver registry: every sampler by name."""

import inspect

from .base import ODESolver, ParallelSolver, Plan, PlannedSolver, SDESolver, Solver
from .collocation import Collocation
from .euler_maruyama import EulerMaruyama
from .exponential_ode import ExponentialODE
from .exponential_sde import ExponentialSDE
from .parallel_midpoint import ParallelRandomizedMidpoint
from .parallel_predictor_corrector import ParallelPredictorCorrector
from .predictor_corrector import PredictorCorrector
from .randomized_midpoint import RandomizedMidpoint
from .ulmc import RandomizedMidpointULMC

SOLVERS = {
    cls.name: cls
    for cls in (
        EulerMaruyama,
        ExponentialODE,
        ExponentialSDE,
        RandomizedMidpoint,
        ParallelRandomizedMidpoint,
        PredictorCorrector,
        ParallelPredictorCorrector,
        Collocation,
    )
}
ALIASES = {
    "em": "euler-maruyama",
    "ddpm": "exponential-sde",
    "ddim": "exponential-ode",
    "ei-ode": "exponential-ode",
    "ei-sde": "exponential-sde",
    "rm": "randomized-midpoint",
    "prm": "parallel-midpoint",
    "pc": "predictor-corrector",
    "ppc": "parallel-predictor-corrector",
}


def register(cls):
    """Add a solver class to the registry under ``cls.name`` (usable as a decorator).

    The class must be a :class:`Solver` with a name; everything the drivers and certify need is on the
    class (:mod:`.base`), so registering is all a new solver takes.
    """
    if not (isinstance(cls, type) and issubclass(cls, Solver) and cls.name):
        raise ValueError(f"register takes a Solver subclass with a name, got {cls!r}")
    SOLVERS[cls.name] = cls
    return cls


def get_solver(solver, **options) -> Solver:
    """A solver instance from a name (or alias) or an instance (returned as is)."""
    if isinstance(solver, Solver):
        if options:
            raise ValueError("options apply to solver names only, not to solver instances")
        return solver
    name = ALIASES.get(solver, solver)
    try:
        cls = SOLVERS[name]
    except (KeyError, TypeError):
        known = sorted(set(SOLVERS) | set(ALIASES))
        raise ValueError(f"unknown solver {solver!r}; choose from {known}") from None
    accepted = [name for name in inspect.signature(cls).parameters if name not in ("self", "args", "kwargs")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"solver {name!r} has no option(s) {unknown}; its options are {accepted or 'none'}")
    return cls(**options)


__all__ = [
    "Solver",
    "ODESolver",
    "SDESolver",
    "ParallelSolver",
    "PlannedSolver",
    "Plan",
    "EulerMaruyama",
    "ExponentialODE",
    "ExponentialSDE",
    "RandomizedMidpoint",
    "ParallelRandomizedMidpoint",
    "PredictorCorrector",
    "ParallelPredictorCorrector",
    "Collocation",
    "RandomizedMidpointULMC",
    "SOLVERS",
    "get_solver",
    "register",
]
