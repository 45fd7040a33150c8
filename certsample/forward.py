"""The forward Ornstein-Uhlenbeck process and the time grids samplers walk on.

Convention (shared by every solver here): ``dX = -X dt + sqrt(2) dB``, so
``X_t = alpha(t) X_0 + sigma(t) Z`` with ``alpha = e^{-t}``, ``sigma = sqrt(1 - e^{-2t})``.
A sampler starts at forward time ``T`` from ``N(0, I)`` and walks *down* a grid of forward
times to the early-stopping time ``delta > 0``.
"""

from __future__ import annotations

import math

import numpy as np

from .validation import check_int, is_real

__all__ = ["alpha", "sigma", "sigma2", "TimeGrid", "uniform_grid", "exponential_grid", "make_grid"]


def alpha(t):
    """Signal scale ``e^{-t}`` of the forward process at time ``t``."""
    return np.exp(-np.asarray(t, dtype=float))


def sigma2(t):
    """Noise variance ``1 - e^{-2t}``, via ``expm1`` so small ``t`` keeps full precision."""
    return -np.expm1(-2.0 * np.asarray(t, dtype=float))


def sigma(t):
    """Noise scale ``sqrt(1 - e^{-2t})``."""
    return np.sqrt(sigma2(t))


class TimeGrid:
    """A decreasing sequence of forward times ``T = t_0 > t_1 > ... > t_N = delta``.

    Step ``k`` goes from ``t_k`` to ``t_{k+1}`` with length ``h_k = t_k - t_{k+1} > 0``.
    """

    def __init__(self, times):
        times = np.asarray(times, dtype=float)
        if times.ndim != 1 or times.size < 2:
            raise ValueError(f"time grid needs at least two times, got shape {times.shape}")
        if not np.all(np.isfinite(times)):
            raise ValueError("time grid contains NaN or inf")
        if times[-1] <= 0:
            raise ValueError(f"early-stopping time delta must be > 0, got {times[-1]!r}")
        if np.any(np.diff(times) >= 0):
            raise ValueError("time grid must be strictly decreasing (forward times from T down to delta)")
        self.times = times

    @property
    def T(self) -> float:
        return float(self.times[0])

    @property
    def delta(self) -> float:
        return float(self.times[-1])

    @property
    def steps(self) -> np.ndarray:
        """Step lengths ``h_k`` (positive)."""
        return self.times[:-1] - self.times[1:]

    def __len__(self) -> int:
        return self.times.size - 1

    def __repr__(self) -> str:
        return f"TimeGrid(T={self.T:g}, delta={self.delta:g}, n_steps={len(self)})"


def check_times(T, delta) -> None:
    """ValueError naming ``delta`` unless it is a finite number ``> 0``, or ``T`` (None: not given) unless it is a
    finite number ``> delta``."""
    for label, value in (("early-stopping time delta", delta), ("horizon T", T)):
        if value is not None and not is_real(value):
            raise ValueError(f"{label} must be a real number, got {value!r}")
    if not (math.isfinite(delta) and delta > 0):
        raise ValueError(f"early-stopping time delta must be > 0, got {delta!r}")
    if T is not None and not (math.isfinite(T) and T > delta):
        raise ValueError(f"horizon T must be finite and > delta={delta}, got {T!r}")


def _check_horizon(T, delta, n_steps):
    check_int("n_steps", n_steps, 1)
    check_times(T, delta)


def uniform_grid(T: float, delta: float, n_steps: int) -> TimeGrid:
    """Equal steps ``h = (T - delta) / n_steps``."""
    _check_horizon(T, delta, n_steps)
    return TimeGrid(np.linspace(T, delta, n_steps + 1))


def exponential_grid(T: float, delta: float, n_steps: int, switch: float = 1.0) -> TimeGrid:
    """Uniform steps on ``[switch, T]``, geometrically shrinking steps on ``[delta, switch]``.

    The score's Lipschitz constant grows like ``1/t`` near ``t = 0`` for data without density,
    so the step must shrink with ``t`` (Chen et al. 2023; Benton et al. 2024). The step
    budget is split so both parts have comparable relative step ``h/t``.

    References
    ----------
    .. [1] J. Benton, V. De Bortoli, A. Doucet, G. Deligiannidis, "Nearly d-linear convergence
       bounds for diffusion models via stochastic localization", ICLR 2024.
    """
    _check_horizon(T, delta, n_steps)
    if not (is_real(switch) and math.isfinite(switch) and switch > 0):
        raise ValueError(f"switch must be a finite number > 0, got {switch!r}")
    switch = min(max(switch, delta), T)
    if switch <= delta or n_steps < 2:
        return uniform_grid(T, delta, n_steps)
    # Steps are split in proportion to the "log-time length" of each part.
    geo_len = math.log(switch / delta)
    lin_len = (T - switch) / switch
    n_geo = max(1, round(n_steps * geo_len / (geo_len + lin_len)))
    n_lin = n_steps - n_geo
    if n_lin == 0:
        return TimeGrid(np.geomspace(T, delta, n_steps + 1))
    lin = np.linspace(T, switch, n_lin + 1)
    geo = np.geomspace(switch, delta, n_geo + 1)
    return TimeGrid(np.concatenate([lin, geo[1:]]))


GRIDS = {"uniform": uniform_grid, "exponential": exponential_grid}


def make_grid(kind, T: float, delta: float, n_steps: int) -> TimeGrid:
    """Build a grid by name (``'uniform'`` or ``'exponential'``) or pass a ``TimeGrid`` through."""
    if isinstance(kind, TimeGrid):
        return kind
    if not isinstance(kind, str):
        raise ValueError(
            f"grid must be 'uniform', 'exponential' or a TimeGrid, got a {type(kind).__name__} (for your own times "
            "pass TimeGrid(times), decreasing from T to delta)"
        )
    try:
        builder = GRIDS[kind]
    except KeyError:
        raise ValueError(f"unknown time grid {kind!r}; choose from {sorted(GRIDS)}") from None
    return builder(T, delta, n_steps)
