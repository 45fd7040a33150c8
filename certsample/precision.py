"""Working precisions for the solvers' NumPy step: float64, or mpmath at any number of digits.

A precision context gives the handful of operations a solver's step needs beyond ``+ - * /`` and
``@``/``einsum`` (which NumPy applies to object arrays of ``mpf`` as well as to ``float64``):
elementwise ``exp`` and ``sin``, ``pi``, Gauss-Legendre rules, conversion of arrays, a block that
sets the working precision, and an exact cache key for a step length. So one source of a solver's
arithmetic runs in both, as mpmath's own functions run in its ``mp`` and ``fp`` contexts:

>>> from certsample.solvers import Collocation
>>> Collocation(8, 6, context=MPContext(dps=40))
Collocation(degree=8, sweeps=6, context=MPContext(dps=40))

Floats enter an mpmath context as the exact binary numbers they are (no decimal rounding).
"""

from __future__ import annotations

import contextlib
import functools
import math
from fractions import Fraction

import numpy as np
from mpmath import mp

__all__ = ["Float64Context", "MPContext", "FLOAT64", "as_context", "float_up"]


class Float64Context:
    """IEEE double precision on NumPy ``float64`` arrays: the default, and what the compiled kernels run."""

    name = "float64"
    dps = 15
    is_float64 = True
    exp = staticmethod(np.exp)
    sin = staticmethod(np.sin)
    sqrt = staticmethod(np.sqrt)
    pi = np.pi

    def working(self):
        return contextlib.nullcontext()

    def asarray(self, x) -> np.ndarray:
        return np.asarray(x, dtype=float)

    def leggauss(self, n: int):
        """Gauss-Legendre nodes and weights on ``[-1, 1]``."""
        return np.polynomial.legendre.leggauss(n)

    def key(self, h) -> float:
        return float(h)

    def __repr__(self) -> str:
        return "FLOAT64"


FLOAT64 = Float64Context()


@functools.lru_cache(maxsize=64)
def _mp_leggauss(n: int, prec: int):
    """Gauss-Legendre rule at ``prec`` bits: Newton on ``P_n`` from the float64 nodes (each step
    doubles the correct digits), ``P_n`` and ``P_n'`` by the three-term recurrence."""
    start, _ = np.polynomial.legendre.leggauss(n)
    with mp.workprec(prec):
        return _newton_leggauss(n, start, mp.ldexp(1, -prec + 4))


def _newton_leggauss(n, start, tol):
    nodes, weights = [], []
    for x0 in start:
        x = mp.mpf(float(x0))
        for _ in range(64):
            p_prev, p = mp.mpf(1), x
            for k in range(2, n + 1):
                p_prev, p = p, ((2 * k - 1) * x * p - (k - 1) * p_prev) / k
            dp = n * (x * p - p_prev) / (x * x - 1)
            dx = p / dp
            x -= dx
            if abs(dx) <= tol:
                break
        else:
            raise ArithmeticError(f"Gauss-Legendre node {float(x0)} of {n} did not converge at {mp.prec} bits")
        nodes.append(x)
        weights.append(2 / ((1 - x * x) * dp * dp))
    return tuple(nodes), tuple(weights)


class MPContext:
    """mpmath at ``dps`` decimal digits on NumPy object arrays of ``mpf``.

    Every operation of a step runs inside :meth:`working`, which sets ``mp.dps`` for the block and
    restores it after, so the global mpmath precision is left as it was.
    """

    is_float64 = False

    def __init__(self, dps: int = 50):
        if not (isinstance(dps, (int, np.integer)) and not isinstance(dps, bool) and dps >= 15):
            raise ValueError(f"dps must be an integer >= 15, got {dps!r}")
        self.dps = int(dps)
        self.name = f"mpmath({self.dps})"
        self._exp = np.frompyfunc(mp.exp, 1, 1)
        self._sin = np.frompyfunc(mp.sin, 1, 1)
        self._sqrt = np.frompyfunc(mp.sqrt, 1, 1)
        self._mpf = np.frompyfunc(lambda v: v if isinstance(v, mp.mpf) else mp.mpf(float(v)), 1, 1)

    def working(self):
        return mp.workdps(self.dps)

    @property
    def pi(self):
        with self.working():
            return +mp.pi

    def exp(self, x):
        with self.working():
            return self._exp(self.asarray(x))

    def sin(self, x):
        with self.working():
            return self._sin(self.asarray(x))

    def sqrt(self, x):
        with self.working():
            return self._sqrt(self.asarray(x))

    def asarray(self, x) -> np.ndarray:
        x = np.asarray(x)
        out = self._mpf(x) if x.ndim else self._mpf(x[()])
        return np.asarray(out, dtype=object)

    def leggauss(self, n: int):
        with self.working():
            nodes, weights = _mp_leggauss(int(n), mp.prec + 10)
            return self.asarray([+v for v in nodes]), self.asarray([+v for v in weights])

    def key(self, h):
        return (self.dps, mp.mpf(h) if not isinstance(h, mp.mpf) else h)

    def __repr__(self) -> str:
        return f"MPContext(dps={self.dps})"


def as_context(context):
    """``None`` -> :data:`FLOAT64`; a context passes through; anything else is an error."""
    if context is None:
        return FLOAT64
    if isinstance(context, (Float64Context, MPContext)):
        return context
    raise ValueError(f"context must be FLOAT64 or an MPContext, got {context!r}")


def float_up(value: Fraction) -> float:
    """The least float64 ``>= value`` for an exact rational (``float()`` rounds to nearest: one step up at most)."""
    rounded = float(value)
    return rounded if Fraction(rounded) >= value else math.nextafter(rounded, math.inf)
