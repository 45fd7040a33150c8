"""Symbolic theorems with rigorous (interval-arithmetic) evaluation.

A :class:`Theorem` is a complexity or error bound from the literature written
as SymPy expressions.  Numbers are obtained by evaluating those expressions
with :mod:`mpmath.iv` interval arithmetic (outward rounding), so the upper
endpoint that is reported is a true upper bound on the exact real value of the
expression -- floating-point round-off can never make a certificate optimistic.

Two things are deliberately kept apart:

* *rigour of evaluation* -- always guaranteed here; and
* *rigour of the constants* -- only theorems with ``certified = True`` carry
  constants that were proved (their derivations are in the docstrings).  For
  the others the paper hides an absolute constant inside ``O(.)`` and we state
  an explicit placeholder (see each theorem's ``constants``); their exponents,
  not their absolute values, are what the paper guarantees.

References
----------
.. [1] R. E. Moore, R. B. Kearfott, M. J. Cloud, *Introduction to Interval
   Analysis*, SIAM, 2009.
.. [2] F. Johansson et al., mpmath: a Python library for arbitrary-precision
   floating-point arithmetic, https://mpmath.org (``mpmath.iv``).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import sympy as sp
from mpmath import iv, libmp

__all__ = [
    "Theorem",
    "OutsideTheoremRange",
    "RunTheorem",
    "RunPlan",
    "NotCovered",
    "search_budget",
    "SearchBudgetExceeded",
    "check_search_budget",
    "to_interval",
    "upper",
    "lower",
    "log_factor",
    "smax",
    "certified_inverse",
    "WORKING_PREC",
]

#: Working precision (bits) of the interval evaluation.  53 would already be
#: rigorous; the extra bits only keep the enclosures tight so that ``ceil`` of
#: an upper endpoint does not overshoot an integer-valued expression.
WORKING_PREC = 96


# --------------------------------------------------------------------------
# SymPy -> mpmath.iv translator
# --------------------------------------------------------------------------
def _ends(x):
    """Raw (lo, hi) mpf tuples of an ``iv.mpf``."""
    return x._mpi_


def _exact(raw) -> mpmath.mpf:
    # mpmath.mpf(raw) would round to mp.prec (53 bits); build it at the raw
    # tuple's own bit count so the endpoint is kept exactly.
    with mpmath.workprec(max(raw[3], 1) + 8):
        return mpmath.mpf(raw)


def lower(x) -> mpmath.mpf:
    """Lower endpoint of an interval, exactly, as an ``mpmath.mpf``."""
    return _exact(_ends(x)[0])


def upper(x) -> mpmath.mpf:
    """Upper endpoint of an interval, exactly, as an ``mpmath.mpf``."""
    return _exact(_ends(x)[1])


def _from_ends(lo, hi):
    return iv.mpf([lo, hi])


def _iv_max(args):
    # max is monotone in each argument: endpointwise max encloses it.
    return _from_ends(max(lower(a) for a in args), max(upper(a) for a in args))


def _iv_min(args):
    return _from_ends(min(lower(a) for a in args), min(upper(a) for a in args))


class OutsideTheoremRange(ValueError):
    """Parameter values for which a theorem's expression or side condition says nothing (a log of a
    non-positive number, a violated condition): a statement about the inputs, never a bug."""


def _positive(x, what):
    if lower(x) <= 0:
        raise OutsideTheoremRange(
            f"{what} needs a strictly positive argument, got the interval {x}; "
            "the parameters are outside the theorem's range"
        )
    return x


def _rational(p: int, q: int = 1):
    # Integers convert with outward rounding, so p/q is enclosed rigorously.
    num = iv.mpf(int(p))
    return num if q == 1 else num / iv.mpf(int(q))


def to_interval(value, name: str = "value"):
    """Convert a Python/NumPy/mpmath number to a degenerate ``iv.mpf``.

    Floats are binary rationals, so ``iv.mpf(float)`` is exact; integers and
    fractions are enclosed with outward rounding.
    """
    if isinstance(value, bool):
        raise ValueError(f"parameter {name!r} must be a number, got a bool")
    if isinstance(value, iv.mpf):
        return value
    if isinstance(value, Fraction):
        return _rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Integral):
        n = int(value)
        old = iv.prec
        iv.prec = max(old, n.bit_length() + 1)  # exact: a wide integer (a step count past 2^53) stays one
        try:
            return iv.mpf(n)
        finally:
            iv.prec = old
    if isinstance(value, mpmath.mpf):
        return iv.mpf(value)
    if isinstance(value, numbers.Real):
        return iv.mpf(float(value))
    raise ValueError(f"parameter {name!r} must be a real number, got {value!r}")


def _translate(expr, env: Mapping[str, object]):
    """Evaluate a SymPy expression with ``mpmath.iv`` (outward rounding)."""
    if expr.is_Symbol:
        return env[expr.name]
    if expr.is_Integer:
        return _rational(int(expr))
    if expr.is_Rational:
        return _rational(int(expr.p), int(expr.q))
    if expr is sp.E:
        return iv.e
    if expr is sp.pi:
        return iv.pi
    if expr.is_Float:
        # Floats in theorem expressions are discouraged (use Rational); the
        # binary value of the SymPy Float is converted exactly.
        return iv.mpf(mpmath.mpf(expr._mpf_))
    if isinstance(expr, sp.Add):
        out = _translate(expr.args[0], env)
        for a in expr.args[1:]:
            out = out + _translate(a, env)
        return out
    if isinstance(expr, sp.Mul):
        out = _translate(expr.args[0], env)
        for a in expr.args[1:]:
            out = out * _translate(a, env)
        return out
    if isinstance(expr, sp.Pow):
        base, ex = expr.args
        b = _translate(base, env)
        if ex.is_Integer:
            n = int(ex)
            if n >= 0:
                return b**n
            if lower(b) <= 0 <= upper(b):
                raise OutsideTheoremRange(f"division by an interval containing 0 in {expr}")
            return 1 / b ** (-n)
        if ex == sp.Rational(1, 2):
            if lower(b) < 0:
                raise OutsideTheoremRange(f"sqrt of a possibly negative interval in {expr}")
            return iv.sqrt(b)
        if ex == sp.Rational(-1, 2):
            return 1 / iv.sqrt(_positive(b, f"sqrt in {expr}"))
        # General real power of a positive base: b**e = exp(e log b).
        e = _translate(ex, env)
        return iv.exp(e * iv.log(_positive(b, f"power in {expr}")))
    if isinstance(expr, sp.exp):
        return iv.exp(_translate(expr.args[0], env))
    if isinstance(expr, sp.log):
        if len(expr.args) != 1:
            raise NotImplementedError("log with a base: write log(x)/log(b)")
        return iv.log(_positive(_translate(expr.args[0], env), f"log in {expr}"))
    if isinstance(expr, sp.Max):
        return _iv_max([_translate(a, env) for a in expr.args])
    if isinstance(expr, sp.Min):
        return _iv_min([_translate(a, env) for a in expr.args])
    if isinstance(expr, sp.Abs):
        x = _translate(expr.args[0], env)
        lo, hi = lower(x), upper(x)
        if lo >= 0:
            return x
        if hi <= 0:
            return -x
        return _from_ends(0, max(-lo, hi))
    if isinstance(expr, (sp.ceiling, sp.floor)):
        x = _translate(expr.args[0], env)
        f = libmp.mpf_ceil if isinstance(expr, sp.ceiling) else libmp.mpf_floor
        lo, hi = _ends(x)
        return _from_ends(_exact(f(lo)), _exact(f(hi)))  # exact: prec=0
    raise NotImplementedError(f"no interval rule for {type(expr).__name__}: {expr}")


def _ceil_upper(x) -> int:
    """``ceil`` of the upper endpoint, exactly (``prec=0`` means no rounding)."""
    return int(libmp.to_int(libmp.mpf_ceil(_ends(x)[1])))


def _float_up(x) -> float:
    """Upper endpoint rounded *up* to a float (never below the true value)."""
    return libmp.to_float(_ends(x)[1], rnd=libmp.round_ceiling)


# --------------------------------------------------------------------------
# Expression helpers shared by the theorem modules
# --------------------------------------------------------------------------
def smax(*args):
    """Unevaluated ``sympy.Max``.

    SymPy's ``Max`` tries to order its arguments with the assumptions system,
    which is slow for the long expressions here and buys nothing: the interval
    translator evaluates ``Max`` endpoint-wise anyway.
    """
    return sp.Max(*args, evaluate=False)


def log_factor(x, power=1):
    """Explicit stand-in for a hidden ``polylog(x)``: ``log(e + x) ** power``.

    ``log(e + x) >= 1`` for every ``x >= 0`` and ``~ log x`` as ``x -> oo``,
    so it has the asymptotics of ``log x`` while staying positive (and so
    invertible) for every admissible parameter value.
    """
    return sp.log(sp.E + x) ** power


def certified_inverse(
    terms: Sequence[tuple[sp.Expr, sp.Expr]],
    ell: Callable[[sp.Expr], sp.Expr],
    N: sp.Symbol,
) -> sp.Expr:
    """Accuracy certified by ``N`` steps for ``steps(eps) = ell(eps) * sum_i a_i eps**-p_i``.

    Parameters
    ----------
    terms : sequence of (a_i, p_i)
        Positive coefficients and exponents.
    ell : callable
        ``eps -> expr``, a log factor with ``ell >= 1`` that is non-increasing
        in ``eps`` (e.g. ``log(e + d/eps)**2``).
    N : Symbol
        The step-count symbol.

    Returns
    -------
    Expr
        ``eps*(N) = Max_i (m a_i ell(eps_i) / N)**(1/p_i)`` with
        ``eps_i = (m a_i / N)**(1/p_i)`` and ``m = len(terms)``.

    Notes
    -----
    Why it is certified: ``eps_i`` solves ``a_i eps**-p_i = N/m`` without the
    log, so (``ell >= 1``) the true solution is ``>= eps_i`` and hence
    ``ell(eps*) <= ell(eps_i)``.  Therefore every term obeys
    ``a_i eps***-p_i ell(eps*) <= N/m`` and ``steps(eps*) <= N``: a run with
    ``N`` steps satisfies the theorem's hypothesis at accuracy ``eps*``.
    One fixed-point step is used, which keeps the expression closed-form.
    """
    m = len(terms)
    cands = []
    for a, p in terms:
        eps_lo = (m * a / N) ** (1 / sp.sympify(p))
        cands.append((m * a * ell(eps_lo) / N) ** (1 / sp.sympify(p)))
    return cands[0] if m == 1 else smax(*cands)


# --------------------------------------------------------------------------
# The Theorem base class
# --------------------------------------------------------------------------
class Theorem:
    """A complexity/error bound with rigorous numerical evaluation.

    Subclasses declare the class attributes below; the base class supplies
    input validation and interval evaluation.

    Attributes
    ----------
    name : str
        Short registry name.
    reference : str
        Citation of the source.
    metric : str
        Distance in which the accuracy ``eps`` is measured (``'TV'``,
        ``'W2'``, ``'KL'``, ...).
    assumptions : tuple of str
        Hypotheses of the theorem, in plain English.
    symbols : dict of str -> Symbol
        Every parameter, keyed by its SymPy name.  Symbols created with
        ``positive=True`` must be given values ``> 0``; symbols created with
        ``nonnegative=True`` (e.g. a score error or a Wasserstein distance that
        may legitimately vanish) accept ``0``; ``integer=True`` symbols (the
        step count ``N``) must be integral.
    constants : dict of str -> Expr
        The constants hidden by the paper, made explicit.  Each is documented
        in the subclass docstring.
    steps_expr : Expr
        Score (or gradient) evaluations sufficient for accuracy ``eps``.
    rounds_expr : Expr
        Sequential rounds (depth); equal to ``steps_expr`` for sequential
        methods.
    error_expr : Expr
        Error bound certified by ``N`` evaluations (symbol ``N``) -- the
        inverse direction, used to certify a run whose step count is given.
    step_conditions, error_conditions : tuple of (str, Expr)
        Side conditions; each expression must be non-negative (checked
        rigorously: the lower endpoint of its enclosure must be ``>= 0``) for
        :meth:`step_count` / :meth:`error_bound` to apply.
    certified : bool
        ``True`` only if every constant was proved (see the docstring).
    """

    name: str = ""
    reference: str = ""
    metric: str = ""
    assumptions: tuple[str, ...] = ()
    symbols: dict[str, sp.Symbol] = {}
    constants: dict[str, sp.Expr] = {}
    steps_expr: sp.Expr = sp.nan
    rounds_expr: sp.Expr | None = None
    error_expr: sp.Expr = sp.nan
    step_conditions: tuple[tuple[str, sp.Expr], ...] = ()
    error_conditions: tuple[tuple[str, sp.Expr], ...] = ()
    certified: bool = False
    #: for a theorem with placeholder constants: why they are not proved (printed by ``certsample bounds``)
    placeholder_reason: str = ""

    def __init__(self):
        if self.rounds_expr is None:
            self.rounds_expr = self.steps_expr
        for key, sym in self.symbols.items():
            if key != sym.name:
                raise TypeError(f"{type(self).__name__}: symbol key {key!r} != name {sym.name!r}")
        known = set(self.symbols.values())
        exprs = [self.steps_expr, self.rounds_expr, self.error_expr]
        exprs += [e for _, e in self.step_conditions + self.error_conditions]
        for e in exprs:
            extra = e.free_symbols - known
            if extra:
                raise TypeError(f"{type(self).__name__}: undeclared symbols {sorted(map(str, extra))}")

    # -- validation ---------------------------------------------------------
    def _env(self, expr: sp.Expr, values: Mapping[str, object]) -> dict:
        unknown = sorted(set(values) - set(self.symbols))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; known: {sorted(self.symbols)}")
        env = {}
        for key, val in values.items():
            sym = self.symbols[key]
            if val is None:
                continue
            if isinstance(val, iv.mpf):
                x = val
            else:
                try:
                    fval = float(val)
                except (TypeError, ValueError):
                    raise ValueError(f"{self.name}: parameter {key!r} must be a real number, got {val!r}") from None
                if math.isnan(fval) or math.isinf(fval):
                    raise ValueError(f"{self.name}: parameter {key!r} must be finite, got {val!r}")
                x = to_interval(val, key)
            if sym.is_positive and lower(x) <= 0:
                raise ValueError(f"{self.name}: parameter {key!r} must be > 0, got {val!r}")
            if sym.is_nonnegative and lower(x) < 0:
                raise ValueError(f"{self.name}: parameter {key!r} must be >= 0, got {val!r}")
            if sym.is_integer and not (lower(x) == upper(x) and libmp.mpf_floor(_ends(x)[0]) == _ends(x)[0]):
                raise ValueError(f"{self.name}: parameter {key!r} must be an integer, got {val!r}")
            env[key] = x
        missing = sorted(s.name for s in expr.free_symbols if s.name not in env)
        if missing:
            raise ValueError(f"{self.name}: missing parameter(s) {missing}")
        return env

    def _check(self, conditions, values):
        for text, cond in conditions:
            # Conditions only involve parameters of the quantity asked for.
            val = self.evaluate(cond, **{k: v for k, v in values.items() if k in {s.name for s in cond.free_symbols}})
            if lower(val) < 0:
                raise OutsideTheoremRange(f"{self.name}: condition violated: {text}")

    # -- evaluation -----------------------------------------------------------
    def evaluate(self, expr: sp.Expr, **values) -> iv.mpf:
        """Rigorous enclosure of ``expr`` at the given parameter values.

        Parameters
        ----------
        expr : sympy.Expr
            An expression in this theorem's symbols.
        **values : float
            Parameter values, by symbol name.

        Returns
        -------
        mpmath.iv.mpf
            An interval containing the exact value.

        Raises
        ------
        ValueError
            If a parameter is missing, unknown, NaN/inf, or out of range.

        Notes
        -----
        ``mpmath.iv`` keeps its precision in a global context; it is raised to
        :data:`WORKING_PREC` for the duration of the call and restored, so
        concurrent calls from several threads are not supported. A result wider than a relative ``1e-9`` (a
        cancellation such as ``e^h - 1 - h`` at ``h = 1e-18``, where 96 bits leave the bound ``10^14`` times too
        wide) is evaluated again at 4 and 16 times that precision; each evaluation encloses the exact value.
        """
        env = self._env(expr, values)
        old = iv.prec
        try:
            for scale in (1, 4, 16):
                iv.prec = scale * WORKING_PREC
                value = _translate(sp.sympify(expr), env)
                lo, hi = lower(value), upper(value)
                if not (mpmath.isfinite(lo) and mpmath.isfinite(hi)) or hi - lo <= 1e-9 * max(abs(lo), abs(hi)):
                    break
            return value
        finally:
            iv.prec = old

    def step_count(self, **values) -> int:
        """Score evaluations sufficient for accuracy ``eps`` (rigorous ceil).

        Raises
        ------
        ValueError
            On invalid parameters, or if a side condition fails (e.g. the
            requested accuracy is below the bound's irreducible error).
        """
        return self._count(self.steps_expr, self.step_conditions, values)

    def rounds(self, **values) -> int:
        """Sequential rounds (depth) sufficient for accuracy ``eps``."""
        return self._count(self.rounds_expr, self.step_conditions, values)

    def _count(self, expr, conditions, values) -> int:
        self._env(expr, values)  # report bad/missing inputs before conditions
        self._check(conditions, values)
        val = self.evaluate(expr, **values)
        if not mpmath.isfinite(upper(val)) or lower(val) <= 0:
            raise OutsideTheoremRange(f"{self.name}: step count is not finite and positive ({val})")
        return max(1, _ceil_upper(val))

    def error_bound(self, N=None, **values) -> float:
        """Error certified by a run with ``N`` score evaluations.

        Returns
        -------
        float
            The upper endpoint of the rigorous enclosure, rounded up.
        """
        if N is not None:
            values["N"] = N
        self._env(self.error_expr, values)
        self._check(self.error_conditions, values)
        return _float_up(self.evaluate(self.error_expr, **values))

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} ({self.metric}); "
            f"symbols={sorted(self.symbols)}; certified={self.certified}>"
        )


class NotCovered(OutsideTheoremRange):
    """The target (or the request) is outside the inputs a run theorem covers; the message says why."""


class SearchBudgetExceeded(NotCovered):
    """A plan search stopped by :func:`search_budget` before it found a plan."""


#: (monotonic deadline, seconds) of the innermost :func:`search_budget`, or None
_SEARCH_DEADLINE = contextvars.ContextVar("certsample_search_deadline", default=None)


@contextlib.contextmanager
def search_budget(seconds: float | None):
    """Plan searches run inside this block stop with :class:`NotCovered` once ``seconds`` have passed.

    A plan search proves nothing until it returns; stopping it early only means no proved plan was found
    in the time (the caller then chooses the run otherwise). ``None``: no limit.
    """
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"seconds must be a positive number or None, got {seconds!r}")
    token = _SEARCH_DEADLINE.set(None if seconds is None else (time.monotonic() + seconds, float(seconds)))
    try:
        yield
    finally:
        _SEARCH_DEADLINE.reset(token)


def check_search_budget(where: str) -> None:
    """Raise :class:`SearchBudgetExceeded` when the innermost :func:`search_budget` has run out (``where``: how far the
    search got, for the message)."""
    entry = _SEARCH_DEADLINE.get()
    if entry is not None and time.monotonic() > entry[0]:
        raise SearchBudgetExceeded(f"the plan search ran past its budget of {entry[1]:g} s ({where})")


@dataclass
class RunPlan:
    """The cheapest run a :class:`RunTheorem` proves within ``eps``: its grid, evaluations, proved bound (an
    object with ``value``) and the solver options it chose (empty when the solver's own are kept)."""

    grid: object
    nfe: int
    bound: object
    solver_options: dict = field(default_factory=dict)


class RunTheorem(Theorem):
    """A theorem about a solver's run on a target, evaluated from the target's own proved quantities.

    Its bound is an algorithm rather than a closed form in a few symbols: certify asks it for the bound of
    the run it made (:meth:`run_bound`) and for the cheapest run it covers (:meth:`run_plan`), passing the
    solver's :meth:`~certsample.solvers.Solver.theorem_options`. The closed-form expressions of the base
    class (if any) remain what ``certsample bounds`` evaluates from user-supplied constants.
    """

    def covers(self, target) -> str | None:
        """None when the theorem covers ``target``, else the reason it does not."""
        raise NotImplementedError

    def run_bound(self, target, grid, *, eta: float = 1e-6, **options):
        """An object with ``value``, a proved upper bound of the run's error for every start point in its
        ``start_set`` (of ``q_T``-mass at least ``1 - eta``)."""
        raise NotImplementedError

    def run_plan(self, eps: float, target, T: float, delta: float, *, eta: float = 1e-6, **options) -> RunPlan:
        """The cheapest run the theorem proves to have error at most ``eps`` (:class:`RunPlan`); raises
        :class:`OutsideTheoremRange` when none is found."""
        raise NotImplementedError
