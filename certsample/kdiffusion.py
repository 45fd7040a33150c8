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
A NumPy batch is computed in float64 (the model sees float64) and returned in its own floating dtype.

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
from .oracle import ScoreError, ScoreOracle, check_real_finite
from .solvers import Collocation, ExponentialODE, ParallelRandomizedMidpoint, RandomizedMidpoint
from .validation import is_real

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
    if not (is_real(rho) and math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a finite number > 0, got {rho!r}")
    ramp = np.linspace(0.0, 1.0, n)
    with np.errstate(over="ignore"):
        lo, hi = np.float64(sigma_min) ** (1 / rho), np.float64(sigma_max) ** (1 / rho)
        sigmas = np.append((hi + ramp * (lo - hi)) ** rho, 0.0)
    if not (np.all(np.isfinite(sigmas)) and np.all(np.diff(sigmas) < 0)):
        raise ValueError(
            f"rho={rho!r} is too small for sigma_min={sigma_min!r}, sigma_max={sigma_max!r}: sigma^(1/rho) "
            "overflows or the schedule is not strictly decreasing in float64"
        )
    return sigmas


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
        #: the noise level whose evaluation :attr:`watched` keeps for callbacks (a step's start), and that output
        self.watch_sigma, self.watched = None, None

    def denoise(self, x, sigma):
        """``model(x, sigma)`` on a flat batch ``x`` ``(m n, d)`` with per-sample ``sigma`` (host ``(m n,)``)."""
        xp = namespace(x)
        batch = x.shape[0]
        sig = like(np.asarray(sigma, dtype=float), x) if not is_numpy(x) else np.asarray(sigma, dtype=float)
        out = self.model(xp.reshape(x, (batch,) + self.item_shape), sig, **self._extra(batch // self.n))
        if not hasattr(out, "shape") or (not is_numpy(x) and namespace(out) is not xp):
            raise ScoreError(f"the model returned a {type(out).__name__} for a {type(x).__name__} batch")
        if tuple(out.shape) != (batch,) + self.item_shape:
            raise ScoreError(
                f"the model returned shape {tuple(out.shape)} for a batch of shape "
                f"{(batch,) + self.item_shape}; a denoiser returns its input's shape"
            )
        out = xp.reshape(out, (batch, -1))
        if self.watch_sigma is not None and self.watched is None:
            # the block of n states all at the watched level: a step's evaluation at its start (the only
            # state a solver evaluates at the step's start time is the start itself)
            levels = np.asarray(sigma, dtype=float).reshape(-1, self.n)
            at_start = np.flatnonzero(np.all(levels == self.watch_sigma, axis=1))
            if at_start.size:
                j = int(at_start[0])
                self.watched = out[j * self.n : (j + 1) * self.n, ...]
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
        denoised = self.denoise(x, noise_level(t))
        return (denoised - x) / like(2 * np.sinh(t)[:, None], y)


def noise_level(t):
    """``sigma = sqrt(e^{2t} - 1)``: the VE noise level of OU time ``t`` (inverse of :func:`ou_times`)."""
    return np.sqrt(np.expm1(2 * np.asarray(t, dtype=float)))


def _schedule(sigmas):
    """``(positive sigmas, ends at zero)`` of a k-diffusion schedule, checked."""
    sig = to_numpy(sigmas)
    if sig.dtype.kind not in "fiu":
        raise ValueError(f"sigmas must be real numbers, got an array of dtype {sig.dtype}")
    sig = sig.astype(float)
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
    times = ou_times(positive)
    if not np.all(np.isfinite(times)):
        raise ValueError(f"sigmas up to {positive[0]:g} are too large: their OU time log(1 + sigma^2) / 2 overflows")
    if not np.all(np.diff(times) < 0) or times[-1] <= 0:
        raise ValueError(
            "the OU times log(1 + sigma^2) / 2 of these sigmas do not decrease strictly to a positive value in "
            f"float64 (the positive sigmas end at {positive[-1]:g}): sigmas too close together, or below about 1e-154"
        )
    return positive, ends_at_zero


def _sample(solver, model, x, sigmas, extra_args, callback, disable, seed, stats):
    """Run ``solver`` over the schedule on the batch ``x`` (any shape, any namespace); see the module docstring.

    ``callback`` gets what k-diffusion's samplers pass (called once a step is done, with the step's start): ``x``
    at ``sigmas[i]``, ``denoised = model(x, sigmas[i])`` (the solver's own evaluation there; every solver here
    evaluates at its step's start, else one more model call outside ``nfe``), ``i``, ``sigma``, ``sigma_hat``.
    """
    xp = namespace(x)
    positive, ends_at_zero = _schedule(sigmas)
    if len(x.shape) < 1 or x.shape[0] < 1:
        raise ValueError(f"x must be a batch of at least one sample (shape (n, ...)), got shape {tuple(x.shape)}")
    if is_numpy(x) and np.asarray(x).dtype.kind not in "fiu":
        raise ValueError(f"x must be real, got an array of dtype {np.asarray(x).dtype}")
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
            start = y
            score.watch_sigma, score.watched = float(noise_level(times[k])), None
            y, state = solver.step(y, float(grid.times[k]), float(grid.steps[k]), k, oracle, noise, state)
            if callback is not None:
                at_start = start * math.exp(times[k])
                denoised = score.watched
                if denoised is None:
                    denoised = score.denoise(at_start, np.full(n, score.watch_sigma))
                callback(_report(k, positive[k], at_start, denoised, x.shape))
        score.watch_sigma = None
    before = y * math.exp(times[-1])
    out = before
    if ends_at_zero:
        out = _finite_output(score.denoise(before, np.full(n, positive[-1])), positive[-1])
        oracle.nfe += 1
        oracle.rounds += 1
        if callback is not None:
            callback(_report(len(positive) - 1, positive[-1], before, out, x.shape))
    if stats is not None:
        stats.update(nfe=oracle.nfe, rounds=oracle.rounds, solver=solver.name)
    out = xp.reshape(out, x.shape)
    return out.astype(x.dtype, copy=False) if is_numpy(x) and np.asarray(x).dtype.kind == "f" else out


def _report(i, sigma, x, denoised, shape):
    """A k-diffusion callback's dict for step ``i`` at ``sigma``."""
    xp = namespace(x)
    return {
        "x": xp.reshape(x, shape),
        "i": i,
        "sigma": sigma,
        "sigma_hat": sigma,
        "denoised": xp.reshape(denoised, shape),
    }


def _finite_output(denoised, sigma):
    """The final denoising step's output, checked as every score evaluation is: real and finite."""
    return check_real_finite(denoised, "the model", f"at sigma={sigma:g} (the final denoising step)", "samples")


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
