"""Other people's diffusions in certsample's time: VP (DDPM) and VE (EDM) processes, and trained models.

certsample integrates in the time of the Ornstein-Uhlenbeck process ``dX = -X dt + sqrt(2) dB``,
whose marginal is ``y_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z``. A diffusion model is trained on a
process of its own, ``x_s = alpha(s) x_0 + sigma(s) z`` in its own time ``s``. Both are the same
family of laws up to a scale: with ``r(s) = sqrt(alpha^2 + sigma^2)``,

.. math:: y_t = x_s / r(s), \\qquad e^{-t} = \\alpha(s) / r(s),
          \\quad\\text{i.e.}\\quad t = \\tfrac12 \\log(1 + \\sigma(s)^2 / \\alpha(s)^2),

because ``x_s / r = (alpha / r) x_0 + (sigma / r) z`` and ``(alpha/r)^2 + (sigma/r)^2 = 1``. Hence
``grad_y log q_t(y) = r grad_x log p_s(r y)`` exactly. For VP processes (``alpha^2 + sigma^2 = 1``)
the state is the same and ``t = -log alpha(s)``; for VE (``alpha = 1``, ``sigma = s``)
``x_OU = x / sqrt(1 + sigma^2)`` and ``t = log(1 + sigma^2) / 2``. Every solver and certificate then
works unchanged on a model's score.

A model's output is converted to ``grad_x log p_s`` by the identities of ``x = alpha x_0 + sigma eps``
(Tweedie: ``E[eps | x] = -sigma grad log p``, ``E[x_0 | x] = (x + sigma^2 grad log p) / alpha``):

* ``'eps'``: ``grad log p = -eps / sigma``;
* ``'x0'``: ``grad log p = (alpha x_0 - x) / sigma^2``;
* ``'v'``: ``v = (alpha eps - sigma x_0) / r`` (Salimans and Ho's ``v`` for VP; for VE it is
  k-diffusion's ``v`` with ``sigma_data = 1``), so ``eps = (sigma x + alpha r v) / r^2``;
* ``'score'``: the model returns ``grad_x log p_s`` itself.

References
----------
.. [1] J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
.. [2] Y. Song et al., "Score-based generative modeling through stochastic differential
   equations", ICLR 2021 (continuous VP and VE processes; the linear schedule's integral).
.. [3] A. Nichol, P. Dhariwal, "Improved denoising diffusion probabilistic models", ICML 2021
   (cosine schedule).
.. [4] T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of diffusion-based
   generative models", NeurIPS 2022 (EDM: time is sigma).
.. [5] T. Salimans, J. Ho, "Progressive distillation for fast sampling of diffusion models",
   ICLR 2022 (v-prediction).
"""

from __future__ import annotations

import math

import numpy as np

from .validation import real_array

__all__ = ["DiffusionProcess", "VPProcess", "VEProcess", "ModelScore", "score_from_model", "PREDICTIONS"]

PREDICTIONS = ("eps", "x0", "v", "score")


def _positive(label, value):
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{label} must be a finite number > 0, got {value!r}")
    return value


class DiffusionProcess:
    """A forward process ``x_s = alpha(s) x_0 + sigma(s) z`` on ``s`` in ``[s_min, s_max]``.

    Subclasses give :meth:`alpha`, :meth:`sigma` and :meth:`model_time` (the inverse of
    :meth:`ou_time`); :attr:`t_min` and :attr:`t_max` bound the OU times the model was trained on.
    """

    s_min: float = 0.0
    s_max: float = 1.0

    def alpha(self, s):
        raise NotImplementedError

    def sigma(self, s):
        raise NotImplementedError

    def scale(self, s):
        """``r(s) = sqrt(alpha^2 + sigma^2)``: model state = ``r`` x OU state."""
        return np.hypot(self.alpha(s), self.sigma(s))

    def ou_time(self, s):
        """OU time ``t = log(1 + (sigma / alpha)^2) / 2`` of model time ``s``."""
        ratio = np.asarray(self.sigma(s), dtype=float) / np.asarray(self.alpha(s), dtype=float)
        return 0.5 * np.log1p(ratio * ratio)

    def model_time(self, t):
        """Model time ``s`` of OU time ``t`` (vectorised)."""
        raise NotImplementedError

    @property
    def t_min(self) -> float:
        return float(self.ou_time(self.s_min))

    @property
    def t_max(self) -> float:
        return float(self.ou_time(self.s_max))

    def check_ou_times(self, t):
        """Refuse OU times outside the process's range (the model never saw them)."""
        t = np.asarray(t, dtype=float)
        if not np.all(np.isfinite(t)):
            raise ValueError(f"OU times must be finite, got {t[~np.isfinite(t)].ravel()[0]!r} among them")
        lo, hi = float(np.min(t)), float(np.max(t))
        if lo < self.t_min * (1 - 1e-9) or hi > self.t_max * (1 + 1e-6):  # the cosine t_max is computed
            raise ValueError(
                f"OU times in [{lo:.6g}, {hi:.6g}] fall outside {self!r}'s range "
                f"[t_min, t_max] = [{self.t_min:.6g}, {self.t_max:.6g}]; choose "
                f"delta >= {self.t_min:.6g} and T <= {self.t_max:.6g}"
            )


class VPProcess(DiffusionProcess):
    """Variance-preserving (DDPM) process: ``alpha^2 + sigma^2 = 1`` on ``s`` in ``[0, 1]``.

    Parameters
    ----------
    schedule : {'linear', 'cosine'}
        ``'linear'``: ``beta(s) = beta_min + s (beta_max - beta_min)`` and
        ``alpha(s) = exp(-(beta_min s + (beta_max - beta_min) s^2 / 2) / 2)`` (the continuous limit
        of DDPM's 1000 betas from 1e-4 to 0.02 is ``beta_min = 0.1, beta_max = 20``) [2]_.
        ``'cosine'``: ``alpha(s)^2 = f(s) / f(0)`` with ``f(s) = cos((s + c) / (1 + c) pi / 2)^2``,
        ``c = cosine_offset`` [3]_; ``alpha(1) = 0``, so ``s_max`` stops short of 1
        (``t_max = 20`` by default).
    beta_min, beta_max : float
        Linear schedule's end points.
    cosine_offset : float
        Cosine schedule's ``c`` (0.008 in [3]_).
    t_max : float
        Cosine schedule only: the largest OU time served (``alpha = e^{-t_max}``).
    """

    def __init__(
        self,
        schedule: str = "linear",
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        cosine_offset: float = 0.008,
        t_max: float = 20.0,
    ):
        if schedule not in ("linear", "cosine"):
            raise ValueError(f"unknown VP schedule {schedule!r}; choose 'linear' or 'cosine'")
        self.schedule = schedule
        self.beta_min = _positive("beta_min", beta_min)
        self.beta_max = _positive("beta_max", beta_max)
        if self.beta_max <= self.beta_min:
            raise ValueError(f"beta_max must exceed beta_min, got {beta_max!r} <= {beta_min!r}")
        self.cosine_offset = _positive("cosine_offset", cosine_offset)
        self.s_max = 1.0 if schedule == "linear" else float(self.model_time(_positive("t_max", t_max)))
        # the cosine schedule's singular end: the model time of t_max rounds to 1
        if schedule == "cosine" and self.s_max >= 1.0:
            raise ValueError(
                f"t_max={t_max!r} is too large for the cosine schedule: its model time rounds to 1, where alpha = 0 "
                "(float64 resolves t_max up to about 33)"
            )

    def _log_alpha(self, s):
        s = np.asarray(s, dtype=float)
        if self.schedule == "linear":
            return -0.5 * (self.beta_min * s + 0.5 * (self.beta_max - self.beta_min) * s * s)
        c = self.cosine_offset
        return np.log(np.cos((s + c) / (1 + c) * np.pi / 2) / math.cos(c / (1 + c) * math.pi / 2))

    def alpha(self, s):
        return np.exp(self._log_alpha(s))

    def sigma(self, s):
        return np.sqrt(-np.expm1(2 * self._log_alpha(s)))

    def ou_time(self, s):
        """``t = -log alpha(s)`` (the state is the same)."""
        return -self._log_alpha(s)

    def model_time(self, t):
        t = np.asarray(t, dtype=float)
        if self.schedule == "linear":
            # root of (beta_max - beta_min)/4 s^2 + beta_min/2 s - t = 0, in the cancellation-free form
            a, b = (self.beta_max - self.beta_min) / 4, self.beta_min / 2
            return 2 * t / (b + np.sqrt(b * b + 4 * a * t))
        c = self.cosine_offset
        angle = np.arccos(np.exp(-t) * math.cos(c / (1 + c) * math.pi / 2))
        return angle * (1 + c) / (math.pi / 2) - c

    def __repr__(self) -> str:
        if self.schedule == "linear":
            return f"VPProcess('linear', beta_min={self.beta_min:g}, beta_max={self.beta_max:g})"
        return f"VPProcess('cosine', cosine_offset={self.cosine_offset:g}, t_max={self.t_max:g})"


class VEProcess(DiffusionProcess):
    """Variance-exploding (EDM) process: ``alpha = 1``, ``sigma(s) = s``; model time is sigma [4]_.

    ``s`` runs over ``[sigma_min, sigma_max]``; OU time ``t = log(1 + sigma^2) / 2`` and
    ``x_OU = x / sqrt(1 + sigma^2)``.
    """

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0):
        self.s_min = _positive("sigma_min", sigma_min)
        self.s_max = _positive("sigma_max", sigma_max)
        if self.s_max <= self.s_min:
            raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_max!r} <= {sigma_min!r}")

    def alpha(self, s):
        return np.ones_like(np.asarray(s, dtype=float))

    def sigma(self, s):
        return np.asarray(s, dtype=float)

    def ou_time(self, s):
        return 0.5 * np.log1p(np.square(np.asarray(s, dtype=float)))

    def model_time(self, t):
        return np.sqrt(np.expm1(2 * np.asarray(t, dtype=float)))

    def __repr__(self) -> str:
        return f"VEProcess(sigma_min={self.s_min:g}, sigma_max={self.s_max:g})"


class ModelScore:
    """``grad log q_t`` in OU time from a model trained on another process; see :func:`score_from_model`.

    Calling it with ``x`` ``(m, d)`` and ``t`` ``(m,)`` (or a float) calls ``model`` once, on the
    model's state ``r y`` and the model's times ``s`` as an ``(m,)`` array. ``calls`` counts them.
    """

    def __init__(self, model, process: DiffusionProcess, prediction: str = "eps"):
        if not callable(model):
            raise TypeError(f"model must be callable as model(x, s), got {type(model).__name__}")
        if not isinstance(process, DiffusionProcess):
            raise TypeError(f"process must be a VPProcess or VEProcess, got {type(process).__name__}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; choose from {PREDICTIONS}")
        self.model, self.process, self.prediction = model, process, prediction
        self.calls = 0

    def __call__(self, y, t):
        y = real_array("x", y)
        if y.ndim != 2:
            raise ValueError(f"x must have shape (m, d), got {y.shape}")
        t = np.broadcast_to(np.asarray(t, dtype=float), (y.shape[0],))
        self.process.check_ou_times(t)
        s = self.process.model_time(t)
        a, g = self.process.alpha(s)[:, None], self.process.sigma(s)[:, None]
        r = np.hypot(a, g)
        x = r * y
        out = np.asarray(self.model(x, np.array(s)), dtype=float)
        self.calls += 1
        if out.shape != x.shape:
            raise ValueError(f"model returned shape {out.shape} for a batch of shape {x.shape}")
        if self.prediction == "eps":
            grad = -out / g
        elif self.prediction == "x0":
            grad = (a * out - x) / (g * g)
        elif self.prediction == "v":
            grad = -(g * x + a * r * out) / (r * r * g)
        else:
            grad = out
        return r * grad

    def __repr__(self) -> str:
        return f"ModelScore({self.process!r}, prediction={self.prediction!r})"


def score_from_model(model, process: DiffusionProcess, prediction: str = "eps") -> ModelScore:
    """A batched score ``score(x, t)`` in certsample's OU time from a model trained on ``process``.

    Parameters
    ----------
    model : callable
        ``model(x, s)`` with ``x`` ``(m, d)`` in the model's scale and ``s`` ``(m,)`` in the model's
        time (VP: ``s`` in ``[0, 1]``; VE: ``s = sigma``), returning an ``(m, d)`` array (a
        framework's tensor converts through ``numpy.asarray``; wrap a torch module as
        ``lambda x, s: net(torch.from_numpy(x), torch.from_numpy(s)).detach().numpy()``).
    process : VPProcess or VEProcess
    prediction : {'eps', 'x0', 'v', 'score'}
        What the model predicts (see the module notes for the conversions).

    Returns
    -------
    ModelScore
        Pass it to :func:`certsample.sample` with ``dim=``; it refuses OU times outside
        ``[process.t_min, process.t_max]`` (choose ``T`` and ``delta`` inside).

    Examples
    --------
    >>> import certsample as cs
    >>> score = cs.score_from_model(lambda x, s: 0 * x, cs.VPProcess(), prediction="eps")
    >>> cs.sample(score, "exponential-ode", n=4, n_steps=5, T=5.0, dim=2, progress=False).samples.shape
    (4, 2)
    """
    return ModelScore(model, process, prediction)
