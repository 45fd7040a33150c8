"""Score oracles: the one door through which every solver reaches ``grad log q_t``.

An oracle counts what it is asked: ``nfe`` (score evaluations per particle, the papers' cost),
``rounds`` (sequential rounds: a batch of evaluations at several times in one call is one round)
and ``calls`` (calls of the score function itself), and refuses to return anything but a finite
array of the right shape.

A score function is always called on the whole batch, as diffusers and k-diffusion models are:
``score(x, t)`` with ``x`` of shape ``(m, d)`` and ``t`` of shape ``(m,)`` (each sample its own
forward time). A round that asks for several states per particle (randomized midpoints, collocation
nodes) stacks them into one call, so a neural network sees one batch per round.
"""

from __future__ import annotations

import math

import numpy as np

from .arrays import is_numpy, namespace, to_numpy
from .noise import NoiseSource
from .validation import check_int, real_array

__all__ = ["ScoreError", "ScoreOracle", "PerturbedOracle", "as_oracle"]


class ScoreError(ValueError):
    """A score function returned NaN/inf or an array of the wrong shape."""


def _diverged(states) -> str:
    """What the states a score failed at say about the cause: non-finite or huge states mean the solver's state
    diverged before the score was asked (a step too large for the solver), not a fault of the score."""
    if not np.all(np.isfinite(states)):
        return "; those particles are themselves NaN/inf: the solver's state diverged (a step too large?)"
    size = float(np.max(np.abs(states))) if states.size else 0.0
    if size > 1e100:
        return f"; those particles reach |x| = {size:.3g}: the solver's state diverged (a step too large?)"
    return ""


def check_real_finite(out, source: str, when: str, rows_name: str = "particles", detail=lambda bad: ""):
    """``out``, a model's or a score's batch ``(n, d)``, as it is when it is real and finite; else a
    :class:`ScoreError` saying that ``source`` returned complex values, or NaN/inf in how many rows (``detail(bad)``
    appended, ``bad`` the boolean rows), ``when``."""
    if is_numpy(out) and np.iscomplexobj(out):
        raise ScoreError(f"{source} returned complex values {when}; a {source.split()[-1]} must be real")
    xp = namespace(out)
    if not bool(xp.all(xp.isfinite(out))):
        bad = ~np.all(np.isfinite(to_numpy(out)), axis=1)
        raise ScoreError(
            f"{source} returned NaN/inf for {int(np.sum(bad))} of {out.shape[0]} {rows_name} {when}{detail(bad)}"
        )
    return out


class ScoreOracle:
    """Wrap a batched ``score(x, t)`` with counting and checks.

    Parameters
    ----------
    score : callable
        Batched score function: ``x`` of shape ``(m, d)`` and ``t`` of shape ``(m,)`` (forward OU
        times, one per sample) in, an ``(m, d)`` array out. It is called once per round.
    dim : int
        Ambient dimension ``d``.
    target : MixtureTarget, optional
        The exact target behind ``score``, when there is one (enables the compiled backends).
    """

    def __init__(self, score, dim: int, target=None):
        if not callable(score):
            raise TypeError(f"score must be callable, got {type(score).__name__}")
        self._score = score
        self.dim = check_int("dim", dim, 1)
        self.target = target
        #: global indices of the batch's particles (set by ``sample`` per chunk), for noise keyed by particle
        self.particles = None
        self.reset()

    @classmethod
    def from_target(cls, target) -> ScoreOracle:
        return cls(target.score, target.dim, target)

    def reset(self):
        self.nfe = 0
        self.rounds = 0
        self.calls = 0  # calls of the score function
        self.evaluations = 0  # particle-evaluations: nfe summed over the batch

    def _check(self, x, out, t):
        when = f"at t={t:g}" if np.ndim(t) == 0 else f"at t in [{np.min(t):g}, {np.max(t):g}]"
        if is_numpy(x):
            out = np.asarray(out)
            if np.iscomplexobj(out):  # raises, before the shape is looked at
                check_real_finite(out, "score", when)
            out = out.astype(float, copy=False)
        elif namespace(out) is not namespace(x):
            raise ScoreError(f"score returned a {type(out).__name__} for a {type(x).__name__} batch {when}")
        if tuple(out.shape) != tuple(x.shape):
            raise ScoreError(f"score returned shape {tuple(out.shape)} for input of shape {tuple(x.shape)} {when}")
        return check_real_finite(
            out, "score", when, detail=lambda bad: f" (evaluation {self.nfe}){_diverged(to_numpy(x)[bad])}"
        )

    def _check_input(self, x):
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"particles must have shape (n, {self.dim}), got {tuple(x.shape)}")

    def __call__(self, x, t: float) -> np.ndarray:
        """Scores of the batch ``x`` ``(n, d)``, all at forward time ``t``: one round. ``x`` is a NumPy
        array or an array of another Array API namespace (a torch tensor), which the score gets as it is."""
        x = real_array("particles", x) if is_numpy(x) else x
        self._check_input(x)
        # built-in targets take a scalar time too (their fast path); user scores always get (n,)
        times = float(t) if self.target is not None else np.full(x.shape[0], float(t))
        out = self._check(x, self._evaluate(x, times), t)
        self.nfe += 1
        self.rounds += 1
        self.evaluations += x.shape[0]
        return out

    def evaluate_many(self, xs, ts) -> np.ndarray:
        """Scores at several times in one parallel round: ``xs`` ``(m, n, d)``, ``ts`` ``(m,)``."""
        xs = np.asarray(xs, dtype=float) if is_numpy(xs) else xs
        ts = np.asarray(ts, dtype=float)
        if xs.ndim != 3 or ts.shape != (xs.shape[0],):
            raise ValueError(f"evaluate_many needs xs (m, n, d) and ts (m,); got {tuple(xs.shape)}, {ts.shape}")
        return self.evaluate_at(xs, np.repeat(ts[:, None], xs.shape[1], axis=1))

    def evaluate_at(self, xs, ts) -> np.ndarray:
        """Scores where every particle sits at its own time: ``xs`` ``(m, n, d)``, ``ts`` ``(m, n)``.

        ``m`` states per particle in one parallel round: ``m`` evaluations, one call of the score on
        the ``m n`` stacked states.
        """
        xs = np.asarray(xs, dtype=float) if is_numpy(xs) else xs
        ts = np.asarray(ts, dtype=float)
        if xs.ndim != 3 or ts.shape != tuple(xs.shape[:2]):
            raise ValueError(f"evaluate_at needs xs (m, n, d) and ts (m, n); got {tuple(xs.shape)}, {ts.shape}")
        m, n, d = xs.shape
        xp = namespace(xs)
        flat = xp.reshape(xs, (m * n, d))
        self._check_input(flat)
        times = ts.reshape(m * n)
        out = xp.reshape(self._check(flat, self._evaluate(flat, times), times), (m, n, d))
        self.nfe += m
        self.rounds += 1
        self.evaluations += m * n
        return out

    def _evaluate(self, x, t):
        self.calls += 1
        return self._score(x, t)


class PerturbedOracle(ScoreOracle):
    """An exact oracle plus a score error of known size, for robustness studies.

    The error at ``(x, t)`` is ``bias * u + noise * xi / sqrt(d)`` with a fixed unit vector ``u``
    and fresh standard normals ``xi`` (reproducible from ``seed``), so its mean square is
    ``bias**2 + noise**2`` exactly in expectation: :attr:`error_l2` is that root mean square,
    the ``eps_score`` of the theorems.
    """

    def __init__(
        self, base, bias: float = 0.0, noise: float = 0.0, seed: int = 0, direction=None, dim: int | None = None
    ):
        for label, value in (("bias", bias), ("noise", noise)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
        if not isinstance(base, ScoreOracle):
            if not (hasattr(base, "kernel_params") or callable(base)):
                raise TypeError(
                    f"PerturbedOracle wraps a target, a ScoreOracle or a score callable, got {type(base).__name__}"
                )
            base = as_oracle(base, dim)
        super().__init__(base._score, base.dim, None)
        #: a perturbed base keeps its own perturbation: its scores are this oracle's unperturbed scores
        self._inner = base if isinstance(base, PerturbedOracle) else None
        #: the exact target behind the base score (None for a bare callable or a perturbed base): error_l2 is the
        #: score error against this target only
        self.base_target = None if self._inner is not None else base.target
        self.bias, self.noise, self.seed = float(bias), float(noise), seed
        u = np.ones(self.dim) if direction is None else np.asarray(direction, dtype=float)
        if u.shape != (self.dim,) or not np.linalg.norm(u) > 0:
            raise ValueError(f"direction must be a non-zero vector of shape ({self.dim},)")
        self.direction = u / np.linalg.norm(u)
        self.reset()

    def reset(self):
        """Zero the counters and restart the perturbation's stream: same seed, same samples, every run."""
        super().reset()
        self._draws = 0
        if getattr(self, "_inner", None) is not None:
            self._inner.reset()

    @property
    def error_l2(self) -> float:
        """The root mean square of the perturbation: the score error against :attr:`base_target`'s score."""
        return math.hypot(self.bias, self.noise)

    def _evaluate(self, x, t):
        if self._inner is not None:
            self.calls += 1
            self._inner.particles = self.particles  # its noise keyed by the same particles, chunk by chunk
            out = self._inner._evaluate(x, t) + self.bias * self.direction
        else:
            out = super()._evaluate(x, t) + self.bias * self.direction
        if self.noise:
            # keyed by (particle, round, stacked state), in a step word 2**31 + round kept apart from the
            # sampler's, so chunks and shards of a run draw the same perturbations
            ids = self.particles
            if ids is None or x.shape[0] % len(ids):
                ids = np.arange(x.shape[0])
            source = NoiseSource(self.seed, ids, self.dim)
            xi = np.concatenate([source.normal(2**31 + self._draws, j) for j in range(x.shape[0] // len(ids))])
            out = out + self.noise / math.sqrt(self.dim) * xi
            self._draws += 1
        return out


def as_oracle(target_or_score, dim: int | None = None) -> ScoreOracle:
    """Turn a target, an oracle or a bare callable (with ``dim``) into a :class:`ScoreOracle`."""
    if isinstance(target_or_score, ScoreOracle):
        return target_or_score
    if hasattr(target_or_score, "kernel_params") and hasattr(target_or_score, "score"):
        return ScoreOracle.from_target(target_or_score)
    if callable(target_or_score):
        if dim is None:
            raise ValueError("a bare score callable needs dim=")
        return ScoreOracle(target_or_score, dim)
    raise TypeError(f"expected a target, a ScoreOracle or a callable score, got {type(target_or_score).__name__}")
