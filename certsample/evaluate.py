"""Measure a sample set against the exact law it should follow, with its statistical floor.

The reference is the exact marginal ``q_delta`` at the early-stopping time (what a perfect
integrator of the reverse process returns). Every sample-based metric is reported next to its
*floor*: the same metric between two independent exact sample sets of the same size, so a reader
can tell discretisation error from Monte-Carlo noise.
"""

from __future__ import annotations

import math

import numpy as np

from .metrics import gaussian_mixture_bin_probability, gaussian_w2, median_bandwidth, mmd, sliced_w2, tv_histogram
from .validation import is_real, positive_finite, real_array

__all__ = ["sample_errors", "histogram_edges", "pathwise_check", "scipy_flow"]

MMD_MAX_POINTS = 4000
REFERENCE_EPS = 1e-12


def histogram_edges(law, bins: int = 40, width: float = 4.0):
    """Per-axis bin edges covering ``width`` standard deviations around the law's range."""
    lo = np.min(law.means - width * np.sqrt(law.variances), axis=0)
    hi = np.max(law.means + width * np.sqrt(law.variances), axis=0)
    return [np.linspace(a, b, bins + 1) for a, b in zip(lo, hi)]


def sample_errors(target, samples, t: float, seed: int = 0) -> dict:
    """Errors of ``samples`` against the exact ``q_t`` of ``target``, each with its floor."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[1] != target.dim:
        raise ValueError(f"samples must have shape (n, {target.dim}), got {samples.shape}")
    if not np.all(np.isfinite(samples)):
        bad = int(np.sum(~np.all(np.isfinite(samples), axis=1)))
        raise ValueError(f"samples contain NaN or inf in {bad} of their {samples.shape[0]} rows")
    law = target.law_at(t)
    n = samples.shape[0]
    ref = law.sample(n, np.random.default_rng([seed, 1]))
    twin = law.sample(n, np.random.default_rng([seed, 2]))
    out = {
        "sliced_w2": sliced_w2(samples, ref, seed=seed),
        "sliced_w2_floor": sliced_w2(twin, ref, seed=seed),
    }
    m = min(n, MMD_MAX_POINTS)
    h = median_bandwidth(twin[:m], ref[:m])  # one kernel for the metric and its floor, so that they compare
    out["mmd2"] = mmd(samples[:m], ref[:m], bandwidth=h)
    out["mmd2_floor"] = mmd(twin[:m], ref[:m], bandwidth=h)
    if law.dim <= 2 and law.is_diagonal:
        edges = histogram_edges(law)
        grid = edges[0] if law.dim == 1 else edges

        def exact(e):
            return gaussian_mixture_bin_probability(law.means, law.variances, law.weights, e)

        out["tv_hist"] = tv_histogram(samples, exact, grid)
        out["tv_hist_floor"] = tv_histogram(twin, exact, grid)
    if law.is_gaussian and n > law.dim:  # n <= d samples have a singular covariance: no moment-matched Gaussian
        # W2 between the moment-matched Gaussian of the samples and the exact Gaussian law.
        cov_true = law.covariance()
        out["gaussian_w2_moments"] = gaussian_w2(
            samples.mean(0), np.cov(samples.T).reshape(law.dim, law.dim), law.mean(), cov_true
        )
        out["gaussian_w2_moments_floor"] = gaussian_w2(
            twin.mean(0), np.cov(twin.T).reshape(law.dim, law.dim), law.mean(), cov_true
        )
    return {k: float(v) for k, v in out.items()}


def pathwise_check(target, solver, grid, seed: int = 0, n_check: int = 32) -> dict:
    """Pathwise error of an ODE solver against the exact flow, from ``n_check`` exact ``q_T`` starts.

    Sample statistics sit at their floor for every accurate solver; the pathwise error tells solvers
    apart. The checked particles run with the run's solver and grid (NumPy backend) and are compared
    with a collocation reference whose windows are measured on those very particles at
    ``REFERENCE_EPS``; a second reference two degrees higher gives the reference's own accuracy.
    """
    from .integrate import initial_particles, sample
    from .solvers import Collocation, ODESolver, get_solver
    from .solvers.collocation_adaptive import adapt_plan

    solver = get_solver(solver)
    if not isinstance(solver, ODESolver):
        return {"pathwise": f"not defined for {solver.name} (stochastic: its paths follow its own noise)"}
    x0 = initial_particles(n_check, target.dim, seed, grid.T, target, "exact")
    mine = sample(target, solver, x_init=x0, grid=grid, progress=False).samples
    plan = adapt_plan(REFERENCE_EPS, target.score, x0, grid.T, grid.delta)
    ref = sample(target, plan.solver(), x_init=x0, grid=plan.grid, progress=False).samples
    # warm-started as the reference is: from a constant start the extra sweeps fall short and the
    # check, not the reference, sets the reported accuracy (the ring's figures: docs/performance.md)
    higher = Collocation(plan.degree + 2, plan.sweeps + 2, warm_start=True)
    check = sample(target, higher, x_init=x0, grid=plan.grid, progress=False).samples
    err = np.sqrt(np.sum((mine - ref) ** 2, axis=1))
    return {
        "pathwise_rms": float(np.sqrt(np.mean(err**2))),
        "pathwise_max": float(err.max()),
        "pathwise_particles": int(n_check),
        "pathwise_reference_accuracy": float(np.max(np.sqrt(np.sum((check - ref) ** 2, axis=1)))),
    }


#: scipy methods that take a Jacobian: they get the block-diagonal sparsity of independent particles
IMPLICIT_METHODS = ("Radau", "BDF", "LSODA")


def scipy_flow(target, x0, T: float, t_end: float, *, method="DOP853", rtol=1e-13, atol=None, times=None, each=False):
    """The probability-flow images of the rows of ``x0`` (at forward time ``T``) at forward time ``t_end``, by
    scipy's ``solve_ivp`` on ``dx/dt = -x - s(x, t)``: a numerical reference, not a proof (for that,
    :func:`certsample.verify.enclose_flows`). ``t_end`` may lie on either side of ``T``.

    Parameters
    ----------
    target
        Anything with ``score(x, t)`` for a batch ``x`` of shape ``(n, d)``.
    method, rtol, atol
        ``solve_ivp``'s (``atol`` defaults to ``rtol``; 0 is a purely relative control). Implicit methods
        (:data:`IMPLICIT_METHODS`) get the block-diagonal Jacobian sparsity a scipy user passes for independent
        particles: a Jacobian costs ``d`` calls.
    times
        Forward times between ``T`` and ``t_end``: the paths there, shape ``(n, len(times), d)``, instead of the
        end points ``(n, d)``.
    each
        Integrate row by row, each with its own error control, instead of all rows as one system (one batched
        score call per stage; the error control then sees the whole batch).

    Returns
    -------
    points, nfev
        The images, and the right-hand-side calls per particle (finite-difference Jacobians included; the
        largest over the rows with ``each``).
    """
    from scipy.integrate import solve_ivp  # scipy is a test and benchmark dependency, not a core one

    x0 = real_array("x0", x0)
    if x0.ndim != 2 or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be a finite array of shape (n, d), got shape {x0.shape}")
    T, t_end = float(T), float(t_end)
    if not (math.isfinite(T) and math.isfinite(t_end) and T != t_end):
        raise ValueError(f"T and t_end must be finite and differ, got {T!r} and {t_end!r}")
    rtol = positive_finite("rtol", rtol)
    if atol is None:
        atol = rtol
    elif not (is_real(atol) and math.isfinite(atol) and atol >= 0):  # 0: purely relative, as scipy allows
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}")
    t_eval = None
    if times is not None:
        times = real_array("times", times).ravel()
        if not np.all((times - T) * (times - t_end) <= 0):
            raise ValueError(f"times must lie between T = {T:g} and t_end = {t_end:g}")
        order = np.argsort(times if t_end > T else -times)  # solve_ivp takes them in the direction of travel
        t_eval = times[order]
    rows = [x0[i : i + 1] for i in range(len(x0))] if each else [x0]
    points, nfev = [], 0
    for x in rows:
        n, d = x.shape
        calls = [0]

        def rhs(t, flat, n=n, d=d, calls=calls):
            calls[0] += 1
            y = flat.reshape(n, d)
            return (-y - target.score(y, t)).ravel()

        options = {}
        if method in IMPLICIT_METHODS:
            from scipy.sparse import block_diag

            options["jac_sparsity"] = block_diag([np.ones((d, d))] * n, format="csc")
        sol = solve_ivp(rhs, (T, t_end), x.ravel(), method=method, rtol=rtol, atol=atol, t_eval=t_eval, **options)
        if not sol.success:
            raise RuntimeError(f"{method} failed between t = {T:g} and {t_end:g}: {sol.message}")
        if times is None:
            points.append(sol.y[:, -1].reshape(n, d))
        else:
            paths = np.empty((n, len(t_eval), d))
            paths[:, order] = sol.y.T.reshape(len(t_eval), n, d).transpose(1, 0, 2)
            points.append(paths)
        nfev = max(nfev, calls[0])
    return np.concatenate(points), nfev
