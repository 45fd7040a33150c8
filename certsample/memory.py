"""Up-front memory estimates: refuse a run that cannot fit instead of growing until the system kills it."""

from __future__ import annotations

import os

__all__ = ["InsufficientMemoryError", "available_bytes", "estimate_run_bytes", "check_run_fits"]

#: fixed interpreter, NumPy and compiled-kernel footprint, added to every estimate
BASELINE_BYTES = 300 * 2**20


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


def estimate_run_bytes(n: int, dim: int, solver, backend: str) -> int:
    """Peak bytes of a run: states ``(n, d)`` alive at once, plus the solver's scratch.

    The compiled CPU kernel keeps the start particles, the integrated copy and the noise draw of the
    start (3 states) and scratch per block of particles (negligible); CUDA also keeps per-particle
    scratch on the host; the NumPy reference holds about ``n_work + 4`` temporaries of the state's
    size (collocation: its ``degree + 1`` nodes and their drifts).
    """
    state = 8 * n * dim
    work = max(int(getattr(solver, "n_work", 0)), 1)
    if backend == "cpu":
        copies = 3
    elif backend == "cuda":
        copies = 3 + work
    else:
        copies = 4 + work + 2 * (int(getattr(solver, "degree", 0)) + 1)
    return BASELINE_BYTES + copies * state


def check_run_fits(n: int, dim: int, solver, backend: str) -> None:
    """Raise :class:`InsufficientMemoryError` naming the estimate and the memory available."""
    need = estimate_run_bytes(n, dim, solver, backend)
    have = available_bytes()
    if have is not None and need > have:
        hint = "fewer particles per run" + (", or backend='cpu' (scratch per thread, not per particle)"
                                            if backend == "numpy" else "")
        raise InsufficientMemoryError(
            f"a run of n={n} particles in d={dim} with {getattr(solver, 'name', solver)!r} on backend "
            f"{backend!r} needs about {need / 2**30:.1f} GiB, but {have / 2**30:.1f} GiB are available; use {hint}")
