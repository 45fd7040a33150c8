"""Enclosures of the exact flow of a run's start points, computed once and reused for every run."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np

from .enclosure import enclose_flow

__all__ = ["Verifier"]


def _enclose_row(args):
    target, x0, T, delta, tol = args
    return enclose_flow(target, x0, T, delta, tol=tol)


class Verifier:
    """Proved balls around the exact flow images of the start points ``x0``, enclosed on demand.

    Parameters
    ----------
    target : MixtureTarget
    x0 : (n, d) array
        Start points at ``T``; the first ``m`` are enclosed when :meth:`ensure` asks for ``m``.
    T, delta, tol : float
        Horizon, early-stopping time and the enclosures' requested radius (see ``enclose_flow``).
    workers : int
        Processes (forked: the children run only Arb code, and a user's script needs no ``__main__`` guard).
    log : callable
        Progress lines.
    """

    def __init__(self, target, x0, T, delta, tol, workers, log):
        self.target, self.x0, self.T, self.delta, self.tol = target, x0, T, delta, tol
        self.workers, self.log = workers, log
        self.enclosures = []
        self.seconds = 0.0
        self._first = 0  # enclosures done before the current batch, for the time-left estimate

    def ensure(self, m: int):
        """Enclose the first ``m`` start points (in parallel processes when ``workers > 1``)."""
        todo = list(range(len(self.enclosures), m))
        if not todo:
            return
        start = time.perf_counter()
        self._first = len(self.enclosures)
        jobs = [(self.target, self.x0[i], self.T, self.delta, self.tol) for i in todo]
        if self.workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork")) as pool:
                for enc in pool.map(_enclose_row, jobs):
                    self._add(enc, m, start)
        else:
            for job in jobs:
                self._add(_enclose_row(job), m, start)
        self.seconds += time.perf_counter() - start

    def seconds_per_enclosure(self) -> float:
        return self.seconds / max(len(self.enclosures), 1)

    def _add(self, enc, m, start):
        self.enclosures.append(enc)
        done = len(self.enclosures)
        new = done - self._first
        elapsed = time.perf_counter() - start
        left = elapsed / new * (m - done)
        self.log(f"certify: enclosed {done}/{m} exact trajectories ({elapsed:.1f} s"
                 + (f", about {left:.0f} s left" if done < m else "") + ")")

    def errors(self, samples, m: int):
        """Proved ``(lower, upper)`` pathwise errors of the first ``m`` rows of ``samples``."""
        self.ensure(m)
        gap = np.linalg.norm(samples[:m] - np.array([e.center for e in self.enclosures[:m]]), axis=1)
        radius = np.array([e.radius for e in self.enclosures[:m]])
        # |x - c| -/+ r, each float operation rounded outward (as Enclosure.error_bound does)
        upper = np.nextafter(np.nextafter(gap, np.inf) + radius, np.inf)
        lower = np.maximum(0.0, np.nextafter(np.nextafter(gap, -np.inf) - radius, -np.inf))
        return lower, upper
