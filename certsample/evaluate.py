"""Measure a sample set against the exact law it should follow, with its statistical floor.

The reference is the exact marginal ``q_delta`` at the early-stopping time (what a perfect
integrator of the reverse process returns). Every sample-based metric is reported next to its
*floor*: the same metric between two independent exact sample sets of the same size, so a reader
can tell discretisation error from Monte-Carlo noise.
"""

from __future__ import annotations

import numpy as np

from .metrics import gaussian_mixture_bin_probability, gaussian_w2, median_bandwidth, mmd, sliced_w2, tv_histogram

__all__ = ["sample_errors", "histogram_edges", "pathwise_check"]

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
