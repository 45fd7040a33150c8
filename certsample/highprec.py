"""Arbitrary-precision references: the collocation solver and exact scores in mpmath.

Float64 stops any solver near ``1e-15``. To show the collocation solver's ``polylog(1/eps)`` cost
down to ``1e-30`` this module runs the solver itself -- :class:`~certsample.solvers.Collocation`
built with an :class:`~certsample.precision.MPContext`, the same ``step`` as in float64 -- on one
or a few trajectories in mpmath:

* :class:`MPTarget` -- the exact score of any :class:`~certsample.targets.MixtureTarget` (means,
  variances, weights, basis, ``lam_perp``), its float64 parameters taken as exact binary numbers;
* :func:`solve_trajectory` -- one trajectory through a solver's step in its context;
* :func:`mp_gaussian_flow_map` -- the closed-form flow of a Gaussian target (the logic of
  :func:`certsample.exact.gaussian_flow_map`);
* :func:`reference_solution` -- the closed form for Gaussians, otherwise the collocation solver at
  higher precision with a larger degree, checked against a second, finer run;
* :func:`convergence_table` -- planned runs from ``eps = 1e-5`` to ``1e-30`` (``examples/high_precision.py``).

Every function takes ``dps`` (decimal digits) and works inside ``mp.workdps(dps)``, so the global
mpmath precision is left as it was.
"""

from __future__ import annotations

import math

import numpy as np
from mpmath import mp

from .forward import TimeGrid
from .precision import MPContext
from .solvers.collocation import Collocation, collocation_plan

__all__ = [
    "MPTarget",
    "solve_trajectory",
    "mp_gaussian_flow_map",
    "reference_solution",
    "max_abs_diff",
    "convergence_table",
]


def _mpf_vec(x):
    return [mp.mpf(float(v)) for v in np.ravel(np.asarray(x, dtype=float))]


def _orthonormal_rows(basis):
    """The float64 basis ``(d, k)`` made orthonormal at the working precision (Gram-Schmidt twice on its columns),
    as ``d`` rows of mpf: a float64 basis is orthonormal only to about 1e-16, and the score and the closed-form
    flow must describe one target to the working digits."""
    columns = [[mp.mpf(float(x)) for x in basis[:, j]] for j in range(basis.shape[1])]
    for j, column in enumerate(columns):
        for _ in range(2):
            for previous in columns[:j]:
                overlap = mp.fsum(a * b for a, b in zip(column, previous))
                column = [a - overlap * b for a, b in zip(column, previous)]
        norm = mp.sqrt(mp.fsum(a * a for a in column))
        columns[j] = [a / norm for a in column]
    return [[columns[j][i] for j in range(len(columns))] for i in range(basis.shape[0])]


class MPTarget:
    """The exact score of a :class:`~certsample.targets.MixtureTarget` in mpmath.

    ``q_t = sum_c w_c N(a mu_c, Q diag(a^2 lam_c + s^2) Q^T + (a^2 lam_perp + s^2)(I - Q Q^T))`` with
    ``a = e^{-t}``, ``s^2 = 1 - e^{-2t}``; the score is the responsibility-weighted sum of the
    component scores, computed with a max-shifted softmax at the working precision.
    """

    def __init__(self, target, dps: int = 50):
        if not all(hasattr(target, a) for a in ("means", "variances", "weights", "basis", "lam_perp")):
            raise ValueError(f"MPTarget needs a MixtureTarget, got {type(target).__name__}")
        self.target = target
        self.dps = int(dps)
        self.dim = target.dim
        with mp.workdps(self.dps):
            self.means = [_mpf_vec(m) for m in target.means]
            self.variances = [_mpf_vec(v) for v in target.variances]
            self.log_weights = [mp.log(mp.mpf(float(w))) if w > 0 else -mp.inf for w in target.weights]
            self.basis = None if target.basis is None else _orthonormal_rows(target.basis)
            self.lam_perp = mp.mpf(float(target.lam_perp))
        self.nfe = 0
        self.rounds = 0
        self._cache: dict = {}

    def evaluate_many(self, xs, ts):
        """Scores at ``m`` times in one round, as :meth:`~certsample.oracle.ScoreOracle.evaluate_many`:
        ``xs`` ``(m, n, d)`` and ``ts`` ``(m,)`` of mpf, returned as an ``(m, n, d)`` object array."""
        xs = np.asarray(xs, dtype=object)
        if xs.ndim != 3 or len(ts) != xs.shape[0]:
            raise ValueError(f"evaluate_many needs xs (m, n, d) and ts (m,); got {xs.shape}, {len(ts)} times")
        out = np.empty(xs.shape, dtype=object)
        for i, t in enumerate(ts):
            for j in range(xs.shape[1]):
                out[i, j] = self.score(list(xs[i, j]), t)
        self.rounds += 1
        return out

    def _time_terms(self, t):
        """Everything in the score that depends on ``t`` only; Picard sweeps revisit the same node times."""
        key = (t, mp.prec)
        terms = self._cache.get(key)
        if terms is None:
            a = mp.exp(-t)
            s2 = -mp.expm1(-2 * t)
            comps = []
            for lw, mu, lam in zip(self.log_weights, self.means, self.variances):
                v = [a * a * li + s2 for li in lam]
                comps.append(([a * m for m in mu], [1 / vi for vi in v], lw - mp.fsum(mp.log(vi) for vi in v) / 2))
            terms = (comps, 1 / (a * a * self.lam_perp + s2))
            if len(self._cache) > 100000:
                self._cache.clear()
            self._cache[key] = terms
        return terms

    def score(self, x, t):
        """``grad log q_t(x)`` for one point ``x`` (a list of ``d`` mpf), ``t > 0`` an mpf or float."""
        if len(x) != self.dim:
            raise ValueError(f"point must have {self.dim} coordinates, got {len(x)}")
        self.nfe += 1
        comps, inv_perp = self._time_terms(mp.mpf(t))
        k = len(self.means[0])
        if self.basis is None:
            y = list(x)
        else:
            y = [mp.fdot([row[i] for row in self.basis], x) for i in range(k)]
        logp, grads = [], []
        for amu, inv_v, const in comps:
            diff = [yi - mi for yi, mi in zip(y, amu)]
            grad = [di * wi for di, wi in zip(diff, inv_v)]
            logp.append(const - mp.fdot(diff, grad) / 2)
            grads.append(grad)
        top = max(logp)
        resp = [mp.exp(lp - top) for lp in logp]
        total = mp.fsum(resp)
        score_y = [-mp.fdot(resp, [g[i] for g in grads]) / total for i in range(k)]
        if self.basis is None:
            return score_y
        out = []
        for j in range(self.dim):
            row = self.basis[j]
            lifted = mp.fdot(row, score_y)
            projected = mp.fdot(row, y)
            out.append(lifted - (x[j] - projected) * inv_perp)
        return out


def solve_trajectory(solver, target, x0, grid):
    """Run one trajectory ``x0`` (length ``d``) over ``grid`` with ``solver.step`` in the solver's context.

    ``solver`` is a NumPy-path solver built with an :class:`~certsample.precision.MPContext` (e.g.
    ``Collocation(D, N, context=MPContext(40))``): the very step the float64 runs use, on mpmath
    numbers. ``target`` is a :class:`MPTarget` (its ``nfe`` and ``rounds`` count this run's score
    calls) or a MixtureTarget, wrapped at the solver's precision. Returns the final point as a list
    of mpf.
    """
    ctx = solver.context
    mpt = target if isinstance(target, MPTarget) else MPTarget(target, ctx.dps)
    grid = grid if isinstance(grid, TimeGrid) else TimeGrid(grid)
    state = solver.init(grid, getattr(mpt, "target", None))
    with ctx.working():
        y = ctx.asarray(np.asarray(x0, dtype=object).reshape(1, -1))
        if y.shape[1] != mpt.dim:
            raise ValueError(f"start point must have {mpt.dim} coordinates, got {y.shape[1]}")
        times = ctx.asarray(np.asarray(grid.times, dtype=float))
        for k, (t0, t1) in enumerate(zip(times[:-1], times[1:])):
            y, state = solver.step(y, t0, t0 - t1, k, mpt, None, state)
        return list(y[0])


def mp_gaussian_flow_map(target, x, t_from, t_to, dps: int = 50):
    """Closed-form probability-flow transport of one point for a Gaussian target, in mpmath.

    Same formula as :func:`certsample.exact.gaussian_flow_map`: in the eigenbasis
    ``x_i(t) - a(t) m_i = sqrt(v_i(t) / v_i(s)) (x_i(s) - a(s) m_i)``, ``v_i(t) = a(t)^2 lam_i + s(t)^2``.
    """
    if not target.is_gaussian:
        raise ValueError(f"the closed-form flow needs a Gaussian target, got {target!r}")
    mpt = MPTarget(target, dps)
    with mp.workdps(dps):
        x = [v if isinstance(v, mp.mpf) else mp.mpf(float(v)) for v in x]
        if len(x) != mpt.dim:
            raise ValueError(f"point must have {mpt.dim} coordinates, got {len(x)}")
        t0, t1 = mp.mpf(float(t_from)), mp.mpf(float(t_to))
        a0, a1 = mp.exp(-t0), mp.exp(-t1)
        s0, s1 = -mp.expm1(-2 * t0), -mp.expm1(-2 * t1)
        mean, lam = mpt.means[0], mpt.variances[0]
        k = len(mean)

        def ratio(lv):
            return mp.sqrt((a1 * a1 * lv + s1) / (a0 * a0 * lv + s0))

        if mpt.basis is None:
            return [a1 * m + ratio(lv) * (xi - a0 * m) for xi, m, lv in zip(x, mean, lam)]
        q = mpt.basis
        y = [mp.fsum(q[j][i] * x[j] for j in range(mpt.dim)) for i in range(k)]
        z = [a1 * m + ratio(lv) * (yi - a0 * m) for yi, m, lv in zip(y, mean, lam)]
        rp = ratio(mpt.lam_perp)
        out = []
        for j in range(mpt.dim):
            proj = mp.fsum(q[j][i] * y[i] for i in range(k))
            out.append(mp.fsum(q[j][i] * z[i] for i in range(k)) + rp * (x[j] - proj))
        return out


def max_abs_diff(a, b) -> float:
    """``max_i |a_i - b_i|`` of two points (mpf or float entries), as a float.

    The difference is taken at the larger precision of the inputs (at least 50 digits), not at the
    global ``mp.dps``, which would round both points to the same 15 digits first.
    """
    prec = max([mp.prec, 170] + [v._mpf_[3] + 64 if isinstance(v, mp.mpf) else 0 for v in list(a) + list(b)])
    with mp.workprec(prec):
        return float(max(abs(mp.mpf(u) - mp.mpf(v)) for u, v in zip(a, b)))


def reference_solution(
    target, x0, T: float, delta: float, dps: int = 50, tol: float | None = None, grid=None, split: bool = False
):
    """High-precision end point of the probability-flow ODE from ``x0`` at ``T`` to ``delta``.

    Gaussian targets: the closed form (exact to ``dps`` digits). Otherwise the mpmath collocation
    solver on the windows of :func:`collocation_plan` for accuracy ``tol`` (default ``10^{-(dps - 10)}``),
    run twice -- the planned degree and sweeps, then both raised by a third (and, with ``split=True``,
    every window halved) -- and checked to agree to ``tol``. When ``grid`` is given its windows are
    used instead of the planned ones (they must contract: the plan's ``D`` is used on them).

    Returns
    -------
    point : list of mpf
    info : dict
        ``{'method', 'estimate', 'nfe'}`` (``estimate``: difference of the two runs, or 0 when exact).
    """
    if target.is_gaussian:
        return mp_gaussian_flow_map(target, x0, T, delta, dps), {"method": "closed form", "estimate": 0.0, "nfe": 0}
    tol = float(10.0 ** (-(dps - 10))) if tol is None else float(tol)
    plan = collocation_plan(max(tol, 1e-300), target, T=T, delta=delta)
    base = plan.grid if grid is None else (grid if isinstance(grid, TimeGrid) else TimeGrid(grid))
    context = MPContext(dps + 10)
    mpt = MPTarget(target, dps + 10)
    y1 = solve_trajectory(Collocation(plan.degree, plan.sweeps, context=context), mpt, x0, base)
    if split:
        # every window halved: a check on the window schedule as well as on D and N
        base = TimeGrid(
            np.concatenate(
                [np.column_stack([base.times[:-1], 0.5 * (base.times[:-1] + base.times[1:])]).ravel(), base.times[-1:]]
            )
        )
    fine = Collocation(
        plan.degree + math.ceil(plan.degree / 3), plan.sweeps + math.ceil(plan.sweeps / 3), context=context
    )
    y2 = solve_trajectory(fine, mpt, x0, base)
    estimate = max_abs_diff(y1, y2)
    if not estimate <= tol:
        raise RuntimeError(f"high-precision reference did not converge: two runs differ by {estimate:.3g} > {tol:.3g}")
    with mp.workdps(dps):
        return [+v for v in y2], {"method": "collocation", "estimate": estimate, "nfe": mpt.nfe}


def convergence_table(
    target, x0, T: float, delta: float, eps_list=(1e-5, 1e-10, 1e-15, 1e-20, 1e-25, 1e-30), dps: int = 45
):
    """Run the planned collocation solver in mpmath for each ``eps``: the error falls below ``eps`` at
    a cost that grows like ``log^2(1/eps)``.

    Returns a list of dicts ``{eps, windows, degree, sweeps, nfe, rounds, error}``; the error is
    taken against :func:`reference_solution` at ``dps + 15`` digits.
    """
    ref, _ = reference_solution(
        target, x0, T, delta, dps=dps + 15, tol=None if target.is_gaussian else 10.0 ** -(dps - 5)
    )
    rows = []
    for eps in eps_list:
        plan = collocation_plan(eps, target, T=T, delta=delta)
        mpt = MPTarget(target, dps)
        y = solve_trajectory(plan.solver(context=MPContext(dps)), mpt, x0, plan.grid)
        rows.append(
            {
                "eps": eps,
                "windows": plan.windows,
                "degree": plan.degree,
                "sweeps": plan.sweeps,
                "nfe": mpt.nfe,
                "rounds": mpt.rounds,
                "error": max_abs_diff(y, ref),
            }
        )
    return rows
