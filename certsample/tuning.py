"""How many steps does a solver need? The smallest sufficient step count, by doubling and bisection."""

from __future__ import annotations

from dataclasses import dataclass

from .validation import check_int

__all__ = ["Search", "smallest_sufficient"]


@dataclass
class Search:
    """Outcome of :func:`smallest_sufficient`: ``n`` and what ``error_of(n)`` returned.

    ``met`` is False when the doubling ran past ``max_n`` first; then ``n`` is the last count tried.
    """

    n: int
    value: object
    met: bool


def _error(value):
    return value[0] if isinstance(value, tuple) else value


def smallest_sufficient(error_of, eps: float, *, start: int = 1, max_n: int = 1 << 20, rel_tol: float = 0.0) -> Search:
    """Smallest ``n >= start`` with error at most ``eps``, for an error that falls as ``n`` grows.

    ``n`` doubles from ``start`` until the error meets ``eps`` (giving up when the next doubling would
    pass ``max_n``), then is bisected between the last miss and the first hit until the bracket is
    within ``max(1, rel_tol * lo)``. ``error_of(n)`` returns the error, or a tuple whose first item is
    the error; the returned :class:`Search` carries that value for ``n``.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    start = check_int("start", start, 1)
    n = start
    while True:
        value = error_of(n)
        if _error(value) <= eps:
            break
        if 2 * n > max_n:
            return Search(n, value, False)
        n *= 2
    lo, hi, best = max(n // 2, start - 1), n, value  # lo misses (or, below start, is never tried)
    while hi - lo > max(1, int(lo * rel_tol)):
        mid = (lo + hi) // 2
        value = error_of(mid)
        if _error(value) <= eps:
            hi, best = mid, value
        else:
            lo = mid
    return Search(hi, best, True)
