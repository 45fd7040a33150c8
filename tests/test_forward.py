import math

import numpy as np
import pytest

from certsample.forward import TimeGrid, alpha, exponential_grid, make_grid, sigma, sigma2, uniform_grid


def test_ou_marginal_scales():
    t = np.array([1e-12, 1e-3, 0.5, 3.0])
    np.testing.assert_allclose(alpha(t), np.exp(-t), rtol=0)
    np.testing.assert_allclose(alpha(t) ** 2 + sigma2(t), 1.0, rtol=1e-15)
    # expm1 keeps relative precision where 1 - e^{-2t} would cancel
    assert sigma2(1e-12) == pytest.approx(2e-12, rel=1e-10)
    assert sigma(0.5) == pytest.approx(math.sqrt(1 - math.exp(-1.0)), rel=1e-15)


@pytest.mark.parametrize("kind", ["uniform", "exponential"])
def test_grids_run_from_T_to_delta(kind):
    grid = make_grid(kind, 8.0, 1e-3, 100)
    assert len(grid) == 100
    assert grid.T == 8.0 and grid.delta == pytest.approx(1e-3)
    assert np.all(grid.steps > 0)
    assert grid.steps.sum() == pytest.approx(8.0 - 1e-3)


def test_exponential_grid_refines_near_zero():
    grid = exponential_grid(8.0, 1e-3, 200)
    rel = grid.steps / grid.times[:-1]
    near_zero = grid.times[:-1] < 0.5
    # geometric part: constant relative step; it is far finer than the uniform step near t=0
    assert np.ptp(rel[near_zero]) < 1e-9
    assert grid.steps[-1] < uniform_grid(8.0, 1e-3, 200).steps[-1] / 100


@pytest.mark.parametrize(
    "args, message",
    [
        ((8.0, 0.0, 10), "delta"),
        ((8.0, -1e-3, 10), "delta"),
        ((1e-3, 1e-3, 10), "horizon T"),
        ((8.0, 1e-3, 0), "n_steps"),
        ((float("nan"), 1e-3, 10), "horizon T"),
    ],
)
def test_bad_horizon_is_named(args, message):
    with pytest.raises(ValueError, match=message):
        uniform_grid(*args)


def test_timegrid_validation():
    with pytest.raises(ValueError, match="decreasing"):
        TimeGrid([1.0, 2.0])
    with pytest.raises(ValueError, match="delta"):
        TimeGrid([1.0, 0.0])
    with pytest.raises(ValueError, match="unknown time grid"):
        make_grid("cosine", 1.0, 0.1, 3)


def test_exponential_grid_names_a_bad_switch():
    from certsample.forward import exponential_grid

    for bad in (float("nan"), -1.0, "1"):
        with pytest.raises(ValueError, match="switch must be"):
            exponential_grid(10.0, 1e-3, 10, switch=bad)
