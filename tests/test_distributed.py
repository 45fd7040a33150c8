"""Dask sharding reproduces one process bit for bit (Philox keys by global particle index)."""

import numpy as np
import pytest

import certsample as cs
import certsample.distributed as csd

distributed = pytest.importorskip("dask.distributed")

RING = cs.ring_mixture()


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.mark.parametrize(
    "solver, backend", [("randomized-midpoint", "numpy"), ("exponential-sde", "cpu"), ("collocation", "numpy")]
)
def test_any_number_of_shards_gives_the_single_process_samples(client, solver, backend):
    kw = dict(n=37, n_steps=12, seed=11, backend=backend)
    one = cs.sample(RING, solver, progress=False, **kw)
    for shards in (1, 2, 5):
        result = csd.sample(client, RING, solver, shards=shards, **kw)
        assert np.array_equal(result.samples, one.samples)
        assert (result.nfe, result.rounds) == (one.nfe, one.rounds)
        assert len(result.extra["shard_wall_times"]) == shards


def test_x_init_and_user_scores_shard_too(client):
    x0 = cs.initial_particles(9, 2, seed=4) * 2
    one = cs.sample(lambda x, t: RING.score(x, t), "exponential-ode", x_init=x0, n_steps=8, dim=2, progress=False)
    result = csd.sample(client, lambda x, t: RING.score(x, t), "exponential-ode", x_init=x0, n_steps=8, dim=2, shards=3)
    assert np.array_equal(result.samples, one.samples)


def test_first_particle_is_the_global_index():
    whole = cs.sample(RING, "euler-maruyama", n=10, n_steps=40, seed=2, progress=False).samples
    tail = cs.sample(RING, "euler-maruyama", n=4, n_steps=40, seed=2, first_particle=6, progress=False).samples
    assert np.array_equal(tail, whole[6:])


def test_bad_sharding_is_named(client):
    assert csd.shard_bounds(10, 3) == [(0, 3), (3, 4), (7, 3)]
    with pytest.raises(ValueError, match="shards=5 exceeds"):
        csd.sample(client, RING, n=4, shards=5)
    with pytest.raises(ValueError, match="first_particle= is set"):
        csd.sample(client, RING, n=4, first_particle=2)


def test_collocation_from_eps_uses_one_plan_for_every_shard(client):
    kw = dict(n=40, seed=2, eps=1e-6, pilot=8)
    one = cs.sample(RING, "collocation", progress=False, **kw)
    result = csd.sample(client, RING, "collocation", shards=3, **kw)
    assert np.array_equal(result.samples, one.samples)
    assert result.extra["windows"] == one.extra["windows"] and result.nfe == one.nfe


def test_eps_plans_on_the_grid_and_solver_options_of_one_process(client):
    """eps= with a TimeGrid plans between its own ends, and solver_options= apply before planning, as in sample()."""
    grid = cs.TimeGrid(np.geomspace(5.0, 0.01, 6))
    one = cs.sample(RING, "collocation", n=6, eps=1e-3, grid=grid, progress=False)
    result = csd.sample(client, RING, "collocation", n=6, eps=1e-3, grid=grid, shards=2)
    assert (result.grid.T, result.grid.delta) == (5.0, 0.01) and np.array_equal(result.samples, one.samples)
    one = cs.sample(RING, "collocation", n=6, eps=1e-3, solver_options={"degree": 6}, progress=False)
    result = csd.sample(client, RING, "collocation", n=6, eps=1e-3, solver_options={"degree": 6}, shards=2)
    assert np.array_equal(result.samples, one.samples) and result.nfe == one.nfe


def test_particles_stay_below_two_to_the_32():
    """Philox keys a particle by 32 bits: particle 2^32 would repeat particle 0."""
    with pytest.raises(ValueError, match="2\\^32"):
        cs.sample(RING, "euler-maruyama", n=12, n_steps=6, first_particle=2**32 - 4, progress=False)
    last = cs.sample(RING, "euler-maruyama", n=4, n_steps=6, first_particle=2**32 - 4, progress=False)
    assert last.samples.shape == (4, 2)
