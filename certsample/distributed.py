"""Particle sharding over a Dask cluster: one run, many machines, the same samples bit for bit.

Every random number of a run is a Philox function of ``(seed, particle, step, slot)`` and every
solver treats particles independently, so particles ``a .. b - 1`` of a run can be integrated on
any machine (``certsample.sample(..., n=b - a, first_particle=a)``) and the shards concatenated
give exactly the samples of one process. Dask's ``distributed`` scheduler does the shipping
(cloudpickle for targets, scores and solvers; its own retries and worker bookkeeping).
"""

from __future__ import annotations

import inspect
import time

import numpy as np

from .forward import make_grid
from .integrate import SampleResult, check_particle_range, plan_from_eps
from .integrate import sample as sample_one
from .solvers import get_solver
from .validation import check_int

__all__ = ["sample", "shard_bounds"]


def shard_bounds(n: int, shards: int) -> list:
    """Contiguous ``(first, count)`` ranges splitting ``n`` particles into ``shards`` near-equal parts."""
    n = check_int("number of particles n", n, 1)
    shards = check_int("shards", shards, 1)
    if shards > n:
        raise ValueError(f"shards={shards} exceeds the number of particles n={n}")
    edges = np.linspace(0, n, shards + 1).round().astype(int)
    return [(int(a), int(b - a)) for a, b in zip(edges[:-1], edges[1:])]


def _run_shard(target, solver, first, count, x_init, options):
    return sample_one(target, solver, count, x_init=x_init, first_particle=first, progress=False, **options)


def sample(
    client, target, solver="exponential-ode", n: int | None = None, shards: int | None = None, **options
) -> SampleResult:
    """:func:`certsample.sample` with the particles sharded over the workers of a Dask ``client``.

    Parameters
    ----------
    client : dask.distributed.Client
        A connected client (``Client(LocalCluster())`` on one machine, or a scheduler's address).
    target, solver, n
        As for :func:`certsample.sample` (``n`` defaults to 1000, or the rows of ``x_init``).
    shards : int, optional
        Number of shards (default: one per worker thread of the cluster).
    **options
        Any other keyword of :func:`certsample.sample` (``n_steps``, ``T``, ``backend``, ``seed``,
        ``x_init``, ...); ``progress`` is off on the workers.

    Returns
    -------
    SampleResult
        The samples of one process, bit for bit, for any ``shards``. ``wall_time`` is the wall-clock
        time of the whole sharded run (shipping included); ``extra['shard_wall_times']`` holds each
        shard's integration time, compilation excluded.

    Examples
    --------
    >>> from dask.distributed import Client, LocalCluster            # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> result = certsample.distributed.sample(client, certsample.ring_mixture(), n=10**6)  # doctest: +SKIP
    """
    for reserved in ("progress", "first_particle"):
        if reserved in options:
            raise ValueError(f"{reserved}= is set by certsample.distributed.sample itself")
    x_init = options.pop("x_init", None)
    if x_init is not None:
        x_init = np.asarray(x_init)
        if x_init.ndim != 2:
            raise ValueError(f"x_init must have shape (n, d), got {x_init.shape}")
        if n is not None and n != x_init.shape[0]:
            raise ValueError(f"n={n!r} but x_init has {x_init.shape[0]} rows; give one or make them agree")
        n = x_init.shape[0]
    n = 1000 if n is None else n
    check_particle_range(0, check_int("number of particles n", n, 1))
    extra = {}
    if options.get("eps") is not None:  # one plan for all shards, measured on the run's first particles
        # the solver and the grid's ends as sample() resolves them: solver_options applied, T and delta of a TimeGrid
        solver = get_solver(solver, **(options.pop("solver_options", None) or {}))
        defaults = inspect.signature(sample_one).parameters
        grid = make_grid(
            *(options.get(k, defaults[k].default) for k in ("grid", "T", "delta", "n_steps")),
        )
        keys = ("seed", "init", "dim")
        solver, options["grid"], extra = plan_from_eps(
            target,
            solver,
            options.pop("eps"),
            T=grid.T,
            delta=grid.delta,
            x_init=x_init,
            pilot=min(options.pop("pilot", 32), n),
            **{k: options[k] for k in keys if k in options},
        )
    if shards is None:
        shards = max(1, min(sum(client.nthreads().values()), n))
    bounds = shard_bounds(n, shards)
    start = time.perf_counter()
    futures = [
        client.submit(
            _run_shard,
            target,
            solver,
            first,
            count,
            None if x_init is None else x_init[first : first + count],
            options,
            pure=False,
        )
        for first, count in bounds
    ]
    parts = client.gather(futures)
    elapsed = time.perf_counter() - start
    if len({(p.nfe, p.rounds) for p in parts}) != 1:
        raise RuntimeError("shards disagree on their evaluation counts")
    first = parts[0]
    extra = dict(first.extra, **extra, shards=len(parts), shard_wall_times=[p.wall_time for p in parts])
    return SampleResult(
        np.concatenate([p.samples for p in parts]),
        first.solver,
        first.backend,
        first.nfe,
        first.rounds,
        elapsed,
        first.grid,
        first.seed,
        extra,
        None if first.velocities is None else np.concatenate([p.velocities for p in parts]),
    )
