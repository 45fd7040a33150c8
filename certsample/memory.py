"""Up-front memory estimates: refuse a run that cannot fit instead of growing until the system kills it."""

from __future__ import annotations

import os

__all__ = [
    "InsufficientMemoryError",
    "available_bytes",
    "estimate_run_bytes",
    "check_run_fits",
    "particles_per_chunk",
    "CHUNK_BYTES",
]

#: fixed interpreter, NumPy and compiled-kernel footprint, added to every estimate
BASELINE_BYTES = 300 * 2**20
#: working memory of one chunk of particles in flight
CHUNK_BYTES = 256 * 2**20


class InsufficientMemoryError(MemoryError, ValueError):
    """A run's estimated memory exceeds what the machine has available."""


def available_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` (Linux), else physical memory, else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _bytes_per_particle(dim: int, solver, backend: str) -> int:
    """Working bytes per particle of a chunk in flight (beyond the run's output array).

    The compiled CPU kernel works on a contiguous copy of the chunk (its scratch is per block of
    particles: negligible); CUDA holds the chunk on the device and its host copy (scratch per
    resident thread: bounded); the NumPy reference holds about ``n_work + 4`` temporaries of the
    state's size (collocation: its ``degree + 1`` nodes and their drifts). A solver's per-particle
    carry (:attr:`~certsample.solvers.base.Solver.n_carry` vectors) widens every copy of the chunk.
    """
    work = max(int(getattr(solver, "n_work", 0)), 1)
    carry = int(getattr(solver, "n_carry", 0))
    # a block-layout kernel also holds the chunk as blocks of particles (and its carry)
    blocked = 1 + carry if getattr(solver, "kernel_layout", "particle") == "block" else 0
    if backend == "cpu":
        copies = 2 + carry + blocked
    elif backend == "cuda":
        copies = 3 + 2 * carry + blocked
    else:
        copies = 4 + work + 2 * (int(getattr(solver, "degree", 0)) + 1) + carry
    return 8 * dim * copies


def particles_per_chunk(n: int, dim: int, solver, backend: str, budget: int | None = None) -> int:
    """Particles integrated at once so a chunk's working memory stays within ``budget`` (default
    :data:`CHUNK_BYTES`); chunks reproduce a single pass bit for bit (noise is keyed by particle)."""
    budget = CHUNK_BYTES if budget is None else int(budget)
    return max(1, min(int(n), budget // _bytes_per_particle(dim, solver, backend)))


def estimate_run_bytes(
    n: int, dim: int, solver, backend: str, inputs: bool = True, chunked: bool = True, states: int = 1
) -> int:
    """Peak bytes of a run: its ``states`` outputs ``(n, d)`` (positions; and velocities for a chain), the input
    ``x_init`` when given (``inputs``), and one chunk in flight (all ``n`` particles when not ``chunked``)."""
    chunk = particles_per_chunk(n, dim, solver, backend) if chunked else int(n)
    arrays = states + (1 if inputs else 0)
    return BASELINE_BYTES + arrays * 8 * n * dim + chunk * _bytes_per_particle(dim, solver, backend)


def check_run_fits(
    n: int, dim: int, solver, backend: str, inputs: bool = True, chunked: bool = True, states: int = 1
) -> None:
    """Raise :class:`InsufficientMemoryError` naming the estimate (:func:`estimate_run_bytes`) and the memory
    available."""
    need = estimate_run_bytes(n, dim, solver, backend, inputs, chunked, states)
    have = available_bytes()
    if have is not None and need > have:
        hint = "fewer particles per run (or certsample.distributed.sample over several machines)"
        raise InsufficientMemoryError(
            f"a run of n={n} particles in d={dim} with {getattr(solver, 'name', solver)!r} on backend "
            f"{backend!r} needs about {need / 2**30:.1f} GiB, but {have / 2**30:.1f} GiB are available; use {hint}"
        )
