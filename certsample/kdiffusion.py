r"""k-diffusion's call style: ``sample_*(model, x, sigmas, extra_args=None, callback=None, disable=None)``.

A k-diffusion user has a denoiser ``model(x, sigma, **extra_args)`` (the EDM/VE parametrisation:
``x = x_0 + sigma n``, the model returns its estimate of ``x_0``), a batch ``x`` of any shape on any device
(``x = sigma_max * randn``), and a decreasing schedule ``sigmas`` ending at 0. The samplers here take
exactly that and run certsample's solvers on the tensors' own device: the solver arithmetic is the
solvers' own reference step, written once against the batch's array namespace (:mod:`certsample.arrays`),
so a CUDA model's state never goes to the host.

Mapping onto certsample's OU time (exact). The VE marginal of ``x_sigma`` is the OU marginal at
``t = log(1 + sigma^2) / 2`` scaled by ``a = e^{-t} = 1 / sqrt(1 + sigma^2)``: ``y = a x`` has law
``q_t``, and

.. math:: \nabla_y \log q_t(y) = \frac{D(x, \sigma) - x}{a \sigma^2}, \qquad x = y / a,
          \quad a \sigma^2 = 2 \sinh t .

So a run from ``sigmas[0]`` down to the last positive sigma is the probability-flow ODE in OU time from
``t_0`` to ``t_{N-1}``, and the solvers are those of :func:`certsample.sample`. The last interval of a
schedule that ends at 0 is the denoising step every k-diffusion sampler takes there (``x <-
D(x, sigma_{N-1})``, one evaluation): the score form above has no value at ``sigma = 0``.

Evaluations at several states per particle in one round (collocation nodes, parallel midpoints) stack them
into one batch of ``m n`` for the model, with every ``extra_args`` tensor whose first axis is the batch
repeated ``m`` times; per-sample times reach the model as per-sample ``sigma``. The randomized midpoints'
uniforms are certsample's Philox numbers (keyed by ``seed`` and the batch index, the same as
:func:`certsample.sample` draws), computed on the host and sent to the device as ``n`` numbers per step.

Examples
--------
>>> import numpy as np
>>> from certsample.kdiffusion import karras_sigmas, sample_collocation
>>> def denoiser(x, sigma):            # exact for data N(0, I): D = x / (1 + sigma^2)
...     return x / (1 + sigma[:, None] ** 2)
>>> x = 80.0 * np.ones((4, 3))
>>> out = sample_collocation(denoiser, x, karras_sigmas(8, 0.002, 80.0), disable=True)
>>> out.shape
(4, 3)

References
----------
.. [1] T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of diffusion-based generative
   models", NeurIPS 2022 (the VE/EDM parametrisation, the sigma schedule of :func:`karras_sigmas`).
.. [2] K. Crowson, k-diffusion, https://github.com/crowsonkb/k-diffusion (the sampler signature).
"""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import trange

from .arrays import is_numpy, like, namespace, to_numpy
from .forward import TimeGrid
from .noise import NoiseSource
from .oracle import ScoreError, ScoreOracle
from .solvers import Collocation, ExponentialODE, ParallelRandomizedMidpoint, RandomizedMidpoint

__all__ = [
    "karras_sigmas",
    "ou_times",
    "sample_exponential",
    "sample_randomized_midpoint",
    "sample_parallel_midpoint",
    "sample_collocation",
    "DenoiserScore",
]


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> np.ndarray:
    """Karras et al.'s schedule: ``n`` sigmas from ``sigma_max`` to ``sigma_min`` evenly spaced in
    ``sigma^{1/rho}``, then 0 (what k-diffusion's ``get_sigmas_karras`` returns, as a NumPy array)."""
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not (0 < sigma_min < sigma_max and math.isfinite(sigma_max)):
        raise ValueError(f"need 0 < sigma_min < sigma_max < inf, got {sigma_min!r}, {sigma_max!r}")
    ramp = np.linspace(0.0, 1.0, n)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return np.append((hi + ramp * (lo - hi)) ** rho, 0.0)


def ou_times(sigmas) -> np.ndarray:
    """``t = log(1 + sigma^2) / 2``: the OU time of each VE noise level."""
    return 0.5 * np.log1p(np.asarray(sigmas, dtype=float) ** 2)


class DenoiserScore:
    """The OU-time score ``(D(x, sigma) - x) / (2 sinh t)`` of a k-diffusion denoiser, on ``(m, d)`` batches.

    ``item_shape`` is the shape of one sample as the model sees it; ``n`` the batch size of the run, so that
    stacked rounds of ``m n`` states repeat the ``extra_args`` tensors ``m`` times.
    """

    def __init__(self, model, item_shape, n: int, extra_args=None):
        if not callable(model):
            raise TypeError(f"model must be callable as model(x, sigma, **extra_args), got {type(model).__name__}")
        self.model, self.item_shape, self.n = model, tuple(item_shape), int(n)
        self.extra_args = dict(extra_args or {})
        #: the model's last output for the whole batch (one state per particle), for callbacks
        self.last_denoised = None

    def denoise(self, x, sigma):
        """``model(x, sigma)`` on a flat batch ``x`` ``(m n, d)`` with per-sample ``sigma`` (host ``(m n,)``)."""
        xp = namespace(x)
        batch = x.shape[0]
        sig = like(np.asarray(sigma, dtype=float), x) if not is_numpy(x) else np.asarray(sigma, dtype=float)
        out = self.model(xp.reshape(x, (batch,) + self.item_shape), sig, **self._extra(batch // self.n))
        if tuple(getattr(out, "shape", ())) != (batch,) + self.item_shape:
            raise ScoreError(
                f"the model returned shape {tuple(getattr(out, 'shape', ()))} for a batch of shape "
                f"{(batch,) + self.item_shape}; a denoiser returns its input's shape"
            )
        out = xp.reshape(out, (batch, -1))
        if batch == self.n:
            self.last_denoised = out
        return out

    def _extra(self, copies: int) -> dict:
        if copies == 1:
            return self.extra_args
        out = {}
        for key, value in self.extra_args.items():
            if hasattr(value, "shape") and len(value.shape) and value.shape[0] == self.n:
                xp = namespace(value)
                value = xp.concat([value] * copies) if xp is not np else np.concatenate([value] * copies)
            out[key] = value
        return out

    def __call__(self, y, t):
        t = np.broadcast_to(np.asarray(t, dtype=float), (y.shape[0],))
        a = np.exp(-t)
        x = y / like(a[:, None], y)
        denoised = self.denoise(x, np.sqrt(np.expm1(2 * t)))
        return (denoised - x) / like(2 * np.sinh(t)[:, None], y)


def _schedule(sigmas):
    """``(positive sigmas, ends at zero)`` of a k-diffusion schedule, checked."""
    sig = to_numpy(sigmas).astype(float)
    if sig.ndim != 1:
        raise ValueError(f"sigmas must be a 1-D schedule, got an array of shape {sig.shape}")
    if sig.size < 2 or not np.all(np.isfinite(sig)):
        raise ValueError(f"sigmas must be a finite 1-D schedule of at least two noise levels, got {sig!r}")
    if np.any(np.diff(sig) >= 0):
        raise ValueError("sigmas must decrease strictly (k-diffusion schedules run from sigma_max down to 0)")
    if sig[-1] < 0:
        raise ValueError(f"sigmas must be >= 0, got {sig[-1]!r} last")
    ends_at_zero = sig[-1] == 0
    positive = sig[:-1] if ends_at_zero else sig
    return positive, ends_at_zero


def _sample(solver, model, x, sigmas, extra_args, callback, disable, seed, stats):
    """Run ``solver`` over the schedule on the batch ``x`` (any shape, any namespace); see the module docstring."""
    xp = namespace(x)
    positive, ends_at_zero = _schedule(sigmas)
    if len(x.shape) < 1 or x.shape[0] < 1:
        raise ValueError(f"x must be a batch of at least one sample (shape (n, ...)), got shape {tuple(x.shape)}")
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError("x contains NaN or inf: the starting noise must be finite")
    n, item = x.shape[0], tuple(x.shape[1:])
    d = int(np.prod(item)) if item else 1
    score = DenoiserScore(model, item, n, extra_args)
    oracle = ScoreOracle(score, d)
    times = ou_times(positive)
    y = xp.reshape(x, (n, d)) * math.exp(-times[0])
    if positive.size >= 2:
        grid = TimeGrid(times)
        noise = NoiseSource(seed, np.arange(n), d)
        state = solver.init(grid)
        for k in trange(len(grid), disable=disable):
            y, state = solver.step(y, float(grid.times[k]), float(grid.steps[k]), k, oracle, noise, state)
            if callback is not None:
                callback(
                    {
                        "x": xp.reshape(y * math.exp(times[k + 1]), x.shape),
                        "i": k,
                        "sigma": positive[k],
                        "sigma_hat": positive[k],
                        "denoised": _shaped(score.last_denoised, x.shape),
                    }
                )
    out = y * math.exp(times[-1])
    if ends_at_zero:
        out = score.denoise(out, np.full(n, positive[-1]))
        oracle.nfe += 1
        oracle.rounds += 1
        if callback is not None:
            callback(
                {
                    "x": xp.reshape(out, x.shape),
                    "i": len(positive) - 1,
                    "sigma": positive[-1],
                    "sigma_hat": positive[-1],
                    "denoised": xp.reshape(out, x.shape),
                }
            )
    if stats is not None:
        stats.update(nfe=oracle.nfe, rounds=oracle.rounds, solver=solver.name)
    return xp.reshape(out, x.shape)


def _shaped(value, shape):
    return None if value is None else namespace(value).reshape(value, shape)


def sample_exponential(model, x, sigmas, extra_args=None, callback=None, disable=None, seed=0, stats=None):
    """The exponential integrator on the probability-flow ODE (DDIM-like), one evaluation per step.

    ``stats``, a dict, receives ``nfe`` and ``rounds`` (score evaluations per sample, sequential rounds).
    """
    return _sample(ExponentialODE(), model, x, sigmas, extra_args, callback, disable, seed, stats)


def sample_randomized_midpoint(
    model, x, sigmas, extra_args=None, callback=None, disable=None, seed=0, sampling="uniform", stats=None
):
    """Gupta-Cai-Chen's randomized-midpoint predictor (:class:`~certsample.solvers.RandomizedMidpoint`),
    two evaluations per step; the midpoints are Philox uniforms keyed by ``seed``."""
    return _sample(RandomizedMidpoint(sampling), model, x, sigmas, extra_args, callback, disable, seed, stats)


def sample_parallel_midpoint(
    model, x, sigmas, extra_args=None, callback=None, disable=None, seed=0, R=4, K=2, sampling="uniform", stats=None
):
    """The parallel randomized midpoint (:class:`~certsample.solvers.ParallelRandomizedMidpoint`): ``R``
    midpoints per step found by ``K`` Picard sweeps, ``1 + R (K + 1)`` evaluations in ``K + 2`` rounds."""
    solver = ParallelRandomizedMidpoint(R, K, sampling)
    return _sample(solver, model, x, sigmas, extra_args, callback, disable, seed, stats)


def sample_collocation(
    model,
    x,
    sigmas,
    extra_args=None,
    callback=None,
    disable=None,
    degree=8,
    sweeps=8,
    warm_start=True,
    pipeline=False,
    stats=None,
):
    """Gatmiry-Chen-Salim collocation (:class:`~certsample.solvers.Collocation`) on the schedule's intervals
    as windows: degree ``D``, ``N`` Picard sweeps per window, ``D N + 1`` evaluations in ``N`` rounds."""
    solver = Collocation(degree, sweeps, warm_start=warm_start, pipeline=pipeline)
    return _sample(solver, model, x, sigmas, extra_args, callback, disable, 0, stats)
