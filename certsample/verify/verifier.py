"""Enclosures of the exact flow of a run's start points, computed once and reused for every run."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np

from .enclosure import Enclosure
from .flows import enclose_flows, proved_errors

__all__ = ["Verifier", "enclose_shard"]

#: start points per shard: small enough to balance the workers and report progress, large enough that a
#: shard's overhead (a task, a fork's pickling) is small beside its enclosures
SHARD = 64
#: the smallest shard a batch is split into so that every worker gets one (the first timings, which size the
#: budget, then measure the workers together, not one process)
MIN_SHARD = 16
LOG_EVERY = 2.0  # seconds between progress lines


def enclose_shard(target, x0, T, delta, tol):
    """``(centers, radii, methods, steps)`` of the rows of ``x0``: the unit of work a process or a Dask task runs.

    Each particle's enclosure depends only on its own start point, so any sharding gives the same arrays. Arb
    encloses only the particles the float64 path cannot validate: one whose proved radius stays above ``tol``
    after the retries keeps it (certify asks for radii a thousand times below eps; a 64-d Arb enclosure would
    outlast any budget), and one the float64 path cannot validate stays unproved (radius ``inf``, method
    ``'failed'``; ``enclose_flows(fallback='failed')``) where the model is box-limited or the Arb path fails too."""
    found = enclose_flows(target, x0, T, delta, tol=tol, fallback="failed")
    return found.centers, found.radii, found.method, found.steps


def _enclose_rows(args):
    return enclose_shard(*args)


class Verifier:
    """Proved balls around the exact flow images of the start points ``x0``, enclosed on demand.

    Parameters
    ----------
    target : MixtureTarget
    x0 : (n, d) array
        Start points at ``T``; the first ``m`` are enclosed when :meth:`ensure` asks for ``m``.
    T, delta, tol : float
        Horizon, early-stopping time and the enclosures' requested radius (see ``enclose_flows``).
    workers : int
        Processes (forked, after the kernels are compiled in this one) when no ``client`` is given.
    log : callable
        Progress lines.
    client : dask.distributed.Client, optional
        Shards of :data:`SHARD` start points go to its workers instead (same results as one process).
    """

    def __init__(self, target, x0, T, delta, tol, workers, log, client=None):
        self.target, self.x0, self.T, self.delta, self.tol = target, x0, T, delta, tol
        self.workers, self.log, self.client = workers, log, client
        self._centers = np.empty((0, x0.shape[1]))
        self._radii = np.empty(0)
        self._methods = np.empty(0, dtype="<U7")
        self._steps = np.empty(0, dtype=np.int64)
        self._count = 0
        self.seconds = 0.0  # wall seconds of the enclosures so far
        self._process_seconds = 0.0  # the same, each call's times the processes that ran it
        self._last_log = -float("inf")

    @property
    def count(self) -> int:
        """Start points enclosed so far (always the first ones)."""
        return self._count

    @property
    def centers(self) -> np.ndarray:
        """``(count, d)`` centers of the enclosures so far."""
        return self._centers[: self._count]

    @property
    def radii(self) -> np.ndarray:
        """Their proved radii (``inf`` where no enclosure reached)."""
        return self._radii[: self._count]

    @property
    def methods(self) -> np.ndarray:
        """``'float64'``, ``'arb'`` or ``'failed'`` per enclosure."""
        return self._methods[: self._count]

    @property
    def steps(self) -> np.ndarray:
        """Steps per enclosure."""
        return self._steps[: self._count]

    @property
    def enclosures(self) -> list:
        """The enclosures so far as :class:`~.enclosure.Enclosure` objects."""
        return [
            Enclosure(self.centers[p], float(self.radii[p]), self.T, self.delta, int(self.steps[p]), np.nan)
            for p in range(self.count)
        ]

    def ensure(self, m: int, goal: int | None = None):
        """Enclose the first ``m`` start points (sharded over the client's workers or forked processes); ``goal``
        is the count the progress lines report against (default ``m``)."""
        first = self.count
        if m <= first:
            return
        if first == 0:  # compile (or load) the kernels here, untimed, so that forked workers inherit them
            enclose_shard(self.target, self.x0[:1], self.T, self.delta, 1e-3)
        self._reserve(m)
        start = time.perf_counter()
        size = min(SHARD, max(MIN_SHARD, -(-(m - first) // self.workers)))
        bounds = [(a, min(a + size, m)) for a in range(first, m, size)]
        jobs = [(self.target, self.x0[a:b], self.T, self.delta, self.tol) for a, b in bounds]
        for shard in self._run(jobs):
            self._add(shard, start, first, m if goal is None else goal)
        elapsed = time.perf_counter() - start
        self.seconds += elapsed
        self._process_seconds += elapsed * self._processes(jobs)

    def _processes(self, jobs) -> int:
        """How many processes run ``jobs`` together: the forked workers, at most one per shard, or one; with a
        client, ``workers`` stands for its cluster."""
        if self.client is not None:
            return self.workers
        if self.workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            return min(self.workers, len(jobs))
        return 1

    def _run(self, jobs):
        """The shards' results, in order."""
        if self.client is not None:
            futures = [self.client.submit(enclose_shard, *job, pure=False) for job in jobs]
            for future in futures:
                yield future.result()
        elif self._processes(jobs) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork")) as pool:
                yield from pool.map(_enclose_rows, jobs)
        else:
            for job in jobs:
                yield _enclose_rows(job)

    def unproved(self, m: int) -> int:
        """How many of the first ``m`` start points no enclosure reached (radius ``inf``, method ``'failed'``)."""
        return int(np.sum(self.methods[:m] == "failed"))

    def seconds_per_enclosure(self) -> float:
        """Wall seconds per enclosure with every worker running, from the enclosures so far (compilation excluded):
        a call that ran in fewer processes (a pilot's few particles are one shard) counts its seconds times those
        processes over ``workers``, so one process's rate does not stand for all of them."""
        return self._process_seconds / max(self.workers, 1) / max(self.count, 1)

    def _reserve(self, m):
        """Room for ``m`` enclosures, the ones so far kept (one copy per :meth:`ensure`, not one per shard)."""
        if m <= len(self._radii):
            return
        done = self._count
        for name in ("_centers", "_radii", "_methods", "_steps"):
            old = getattr(self, name)
            grown = np.empty((m,) + old.shape[1:], dtype=old.dtype)
            grown[:done] = old[:done]
            setattr(self, name, grown)

    def _add(self, shard, start, first, goal):
        centers, radii, methods, steps = shard
        a, b = self._count, self._count + len(radii)
        self._centers[a:b], self._radii[a:b], self._methods[a:b], self._steps[a:b] = centers, radii, methods, steps
        self._count = done = b
        now = time.perf_counter()
        if done < goal and now - self._last_log < LOG_EVERY:
            return
        self._last_log = now
        elapsed = self.seconds + now - start  # every call's enclosures so far
        left = (now - start) / (done - first) * (goal - done)
        self.log(
            f"certify: enclosed {done}/{goal} exact trajectories ({elapsed:.1f} s"
            + (f", about {left:.0f} s left" if done < goal else "")
            + ")"
        )

    def errors(self, samples, m: int):
        """Proved ``(lower, upper)`` pathwise errors of the first ``m`` rows of ``samples``
        (:func:`~.enclosure.proved_errors`)."""
        self.ensure(m)
        return proved_errors(np.asarray(samples, dtype=float)[:m], self.centers[:m], self.radii[:m])
