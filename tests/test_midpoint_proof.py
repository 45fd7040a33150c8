"""The proved mean-square bounds of the randomized-midpoint predictors (proofs/midpoint_ms.py).

What is checked: the decomposition and the start set; the exact second moments of the linear coordinates
against Monte Carlo over the midpoints (both directions: an enclosure, not only a bound); the whole bound
against the measured error of runs from random and boundary start points of the start set on every covered
target; the inverse (nfe_required) run meeting eps; wrong solvers not covered.
"""

import math

import numpy as np
import pytest

import certsample as cs
from certsample.exact import gaussian_flow_map
from certsample.solvers.parallel_midpoint import ParallelRandomizedMidpoint
from certsample.solvers.randomized_midpoint import RandomizedMidpoint
from proofs.midpoint_bounds import StartSet, arb_precision, decompose
from proofs.midpoint_ms import Scheme, linear_mean_square_factor

T, DELTA = 2.0, 0.05


def solver_for(scheme):
    if scheme.R == 1 and scheme.K == 0:
        return RandomizedMidpoint(scheme.sampling)
    return ParallelRandomizedMidpoint(scheme.R, scheme.K, scheme.sampling)


def squared_errors(target, solver, x0, grid, reference, seed=0):
    """``|x_N - y(delta)|^2`` of every particle (all start at ``x0`` rows; the midpoints differ by particle)."""
    out = cs.sample(target, solver, x0.shape[0], len(grid), grid=grid, x_init=x0, progress=False,
                    seed=seed).samples
    return np.sum((out - reference) ** 2, axis=1)


def refuted(bound_sq, errors_sq, z=4.0):
    """Whether the sample mean of the squared errors exceeds ``bound_sq`` by more than ``z`` standard errors."""
    return errors_sq.mean() - z * errors_sq.std(ddof=1) / math.sqrt(errors_sq.size) > bound_sq


# ------------------------------------------------------------------ decomposition and start set
def test_decomposition_of_the_builtin_targets():
    ring = decompose(cs.make_target("ring"))
    assert ring.block_axes == (0, 1) and ring.block_variance == 0.25 and not ring.linear_axes
    assert ring.block_radius == pytest.approx(4.0) and ring.block_radius >= 4.0
    gauss = decompose(cs.make_target("gaussian", dim=8))
    assert not gauss.block_axes and len(gauss.linear_axes) == 8 and gauss.covered
    sub = decompose(cs.embed(cs.ring_mixture(), 64))
    assert sub.block_axes == (0, 1) and sub.perp_dim == 62 and sub.perp_variance == 0.0
    ring3 = decompose(cs.ring_mixture(dim=3))
    assert ring3.block_axes == (0, 1) and ring3.linear_axes == (2,)
    unequal = decompose(cs.gaussian_mixture([[-2.0, 0.0], [2.0, 1.0]], [0.5, 0.3]))
    assert not unequal.covered and "variance" in unequal.reason


@pytest.mark.parametrize("name", ["ring", "gaussian", "cloud", "subspace"])
def test_start_set_holds_its_mass(name):
    target = cs.make_target(name, dim=8 if name != "ring" else None)
    s = StartSet(target, 3.0, eta=1e-3)
    x = target.sample(20000, 1, t=3.0)
    assert s.contains(x).mean() >= 1 - 1e-3 - 5e-3  # q_T(S) >= 1 - eta, up to sampling error
    edge = s.boundary_points(50, 2)
    block, lin = s.parts(edge)
    assert np.all(s.contains(edge))
    assert np.allclose(block, s.block_radius, rtol=1e-9) and np.allclose(lin, s.linear_radius, rtol=1e-9)
    assert np.all(s.contains(s.sample(100, 3)))


# ------------------------------------------------------------------ linear coordinates: exact second moments
@pytest.mark.parametrize("lam, scheme, n_steps", [
    (0.25, Scheme(), 16),
    (2.0, Scheme(sampling="exponential"), 16),
    (0.0, Scheme(), 32),  # a point mass: v = sigma^2 -> 0 at delta
    (0.25, Scheme(4, 2), 8),
    (2.0, Scheme(2, 1, "exponential"), 8),
    (0.5, Scheme(1, 2), 8),
])
def test_linear_factor_matches_monte_carlo(lam, scheme, n_steps):
    """E|z_N - z(delta)|^2 = factor z_0^2 exactly: Monte Carlo over 20000 midpoint draws agrees within 4 SE."""
    target = cs.gaussian([0.7], [lam])
    grid = cs.uniform_grid(T, DELTA, n_steps)
    with arb_precision():
        factor = linear_mean_square_factor(lam, grid, scheme)
        assert float(factor.rad()) < 1e-12 * float(factor.mid())  # an enclosure, not only a bound
    x0 = np.full((20000, 1), 1.3)
    z0 = 1.3 - 0.7 * math.exp(-T)
    errors = squared_errors(target, solver_for(scheme), x0, grid, gaussian_flow_map(target, x0[:1], T, DELTA))
    exact = float(factor.mid()) * z0**2
    se = errors.std(ddof=1) / math.sqrt(errors.size)
    assert abs(errors.mean() - exact) < 4 * se
