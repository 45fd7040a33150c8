"""Argument checks shared across the package: one wording for every "must be" error."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_int", "is_real", "positive_finite", "real_array", "check_particles_finite"]


def is_real(value) -> bool:
    """A real number (NumPy and mpmath scalars included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(label: str, value, lowest: int) -> int:
    """``value`` as an ``int`` when it is an integer (not a bool) ``>= lowest``; else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
        raise ValueError(f"{label} must be an integer >= {lowest}, got {value!r}")
    return int(value)


def positive_finite(label: str, value) -> float:
    """``value`` as a ``float`` when it is a finite number ``> 0``; else ValueError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a positive finite number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{label} must be a positive finite number, got {value!r}")
    return number


def real_array(label: str, value) -> np.ndarray:
    """``value`` as a float64 array; complex input (even with zero imaginary part) is refused by name
    instead of being cast with NumPy's ComplexWarning, which drops the imaginary part."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise ValueError(f"{label} must be real, got a complex array")
    if arr.dtype == object and any(x is None for x in arr.flat):  # NumPy would read None as NaN
        raise ValueError(f"{label} must be an array of real numbers, got None in it")
    try:
        return np.asarray(arr, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be an array of real numbers") from None


def check_particles_finite(x, where: str) -> None:
    """FloatingPointError counting the rows of ``x`` (particles) holding NaN or inf, ``where`` saying when."""
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.all(np.isfinite(x), axis=1)))
        raise FloatingPointError(
            f"{bad} of {x.shape[0]} particles became NaN/inf {where}; "
            "the step is too large for this target or the score is wrong"
        )
