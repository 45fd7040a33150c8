"""Langevin drivers: log-concave sampling in W2 and in TV, and the TV post-processing of diffusion samples.

All three run the randomized-midpoint underdamped Langevin chain of
:class:`~certsample.solvers.ulmc.RandomizedMidpointULMC` (NumPy reference, or its compiled kernel on
the CPU or CUDA through :func:`~certsample.kernels.runner.run_kernel`):

* :func:`sample_logconcave` -- the chain alone (W2 guarantees of Shen and Lee);
* :func:`sample_logconcave_tv` -- the chain, then a *corrector*: a fresh velocity and a short run
  with a finer step (Gupta, Cai and Chen's log-concave byproduct, TV accuracy);
* :func:`tv_postprocess` / :func:`sample_tv` -- the same corrector at the noise level ``delta`` after
  any diffusion sampler (Gatmiry, Chen and Salim's TV step after collocation).

Why a corrector gives TV: a short underdamped Langevin run from two laws ``W2``-close to each other
ends ``TV``-close (the regularisation lemma of Chen et al. 2023 used by both papers), so a sampler
accurate in ``W2`` becomes accurate in TV after a run of time of order ``1/sqrt(L)``; the run's own
discretisation error is kept small by its finer step. The full texts of both papers were not
reachable: the corrector time (1 in the scaled dynamics, i.e. ``1/sqrt(L)``) and the finer step
(half the chain's) are this package's choices after those scalings, not the papers' constants.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from . import lipschitz
from .forward import TimeGrid
from .integrate import BACKENDS, INIT_STEP, SampleResult, sample
from .kernels.runner import run_kernel
from .memory import check_run_fits, particles_per_chunk
from .noise import NoiseSource, seed_key
from .oracle import ScoreOracle, as_oracle
from .progress import Progress
from .solvers.ulmc import DEFAULT_H, RandomizedMidpointULMC, ulmc_step_numpy
from .targets import MixtureTarget
from .validation import check_int, check_particles_finite, positive_finite

__all__ = ["sample_logconcave", "sample_logconcave_tv", "tv_postprocess", "sample_tv", "CORRECTOR_TIME", "CORRECTOR_H"]

#: Default corrector run time in the scaled dynamics (``1/sqrt(L)`` in unscaled time).
CORRECTOR_TIME = 1.0
#: Default corrector step: half the chain's default step.
CORRECTOR_H = DEFAULT_H / 2


def derived_seed(seed: int, purpose: int) -> int:
    """A seed for a later phase of a run, independent of ``seed``'s own streams (Philox keys differ)."""
    return int(np.random.SeedSequence([int(seed), 0x7C0FFEE, purpose]).generate_state(1, np.uint64)[0])


def _check_density(target):
    if not (hasattr(target, "kernel_params") and hasattr(target, "variances") and hasattr(target, "score")):
        raise TypeError(f"sample_logconcave needs a MixtureTarget, got {type(target).__name__}")
    if np.any(target.variances <= 0) or (
        target.basis is not None and target.dim > target.basis.shape[1] and target.lam_perp <= 0
    ):
        raise ValueError(
            f"target {target.name!r} has no density (point masses or data on a subspace): "
            "the potential -log q_0 is undefined; give every direction a positive variance "
            "or use the diffusion samplers"
        )


def _initial_state(value, name, n, d):
    """``value`` checked as ``(n, d)`` starting values, or None."""
    if value is None:
        return None
    arr = np.array(value, dtype=float)
    if arr.shape != (n, d):
        raise ValueError(f"{name} must have shape ({n}, {d}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _lipschitz(target, L, t):
    """``L``, or the target's score Lipschitz bound at the fixed time ``t`` (:mod:`certsample.lipschitz`)."""
    if L is None:
        try:
            L = lipschitz.score_lipschitz(target, t)
        except (ValueError, AttributeError) as err:
            raise ValueError(f"no Lipschitz bound for this target ({err}); pass L=") from None
    return positive_finite("L", L)


def _chain_grid(h, n_steps):
    """The grid a chain of ``n_steps`` steps of ``h`` runs on (the dynamics read only the step)."""
    return TimeGrid(h * np.arange(n_steps + 1, 0, -1, dtype=float))


def _run_chain(score, n, d, start, L, t_score, n_steps, h, backend, seed, label, progress, inputs):
    """``n_steps`` ULMC steps of length ``h`` for ``-log q_{t_score}``: ``(x, v, nfe, rounds, seconds)``.

    ``start(lo, count)`` gives the starting ``(x, v)`` of particles ``lo .. lo + count - 1``. Particles run in
    chunks that bound the working memory (:func:`~certsample.memory.particles_per_chunk`); noise keyed by particle
    makes them bit-identical to one pass. A run whose outputs and the caller's ``inputs`` arrays ``(n, d)`` cannot
    fit is refused before anything is allocated. ``score`` is a built-in target (any backend) or a
    :class:`~certsample.oracle.ScoreOracle` (NumPy).
    """
    solver = RandomizedMidpointULMC(L, t_score)
    grid = _chain_grid(h, n_steps)
    check_run_fits(n, d, solver, backend, inputs=False, states=2 + inputs)
    target = getattr(score, "target", score)
    if backend == "numpy":
        oracle = score if isinstance(score, ScoreOracle) else ScoreOracle.from_target(score)
        probe = NoiseSource(seed, np.arange(1), d)
        probe.uniform(INIT_STEP, 3), probe.normal(INIT_STEP, 3)  # compile outside the timing
    elif target is None or not hasattr(target, "kernel_params"):
        raise ValueError(
            f"backend {backend!r} needs a built-in target with a compiled score; score callables run on backend='numpy'"
        )
    chunk = particles_per_chunk(n, d, solver, backend)
    x_out, v_out = np.empty((n, d)), np.empty((n, d))
    nfe, seconds = 0, 0.0
    with Progress(n_steps * -(-n // chunk), f"{label}/{backend}", progress) as bar:
        for lo in range(0, n, chunk):
            count = min(chunk, n - lo)
            x, v = start(lo, count)
            if backend == "numpy":
                oracle.reset()
                oracle.particles = np.arange(lo, lo + count)
                noise = NoiseSource(seed, oracle.particles, d)
                began = time.perf_counter()
                for k in range(n_steps):
                    x, v = ulmc_step_numpy(x, v, h, solver.u, t_score, k, oracle, noise, 0)
                    check_particles_finite(x, f"at Langevin step {k}")
                    bar.update()
                seconds += time.perf_counter() - began
                nfe = oracle.nfe
            else:
                state, nfe, took = run_kernel(
                    solver, target, np.concatenate([x, v], axis=1), grid, seed, backend, offset=lo, progress=bar
                )
                x, v, seconds = state[:, :d], state[:, d:], seconds + took
            x_out[lo : lo + count], v_out[lo : lo + count] = x, v
    rounds = oracle.rounds if backend == "numpy" else solver.rounds(n_steps)
    return x_out, v_out, int(nfe), rounds, seconds


def _check_backend_and_seed(backend, seed):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")
    seed_key(seed)  # validates the seed


def sample_logconcave(
    target,
    n: int = 1000,
    n_steps: int = 100,
    h: float | None = None,
    L: float | None = None,
    backend: str = "numpy",
    seed: int = 0,
    x_init=None,
    v_init=None,
    progress="auto",
) -> SampleResult:
    """Sample ``q_0`` of a :class:`~certsample.targets.MixtureTarget` by randomized-midpoint ULMC.

    Parameters
    ----------
    target : MixtureTarget
        Needs a density (all variances positive). Guarantees hold for log-concave targets
        (Gaussians); mixtures run but mix slowly across modes.
    n, n_steps : int
        Particles and steps (each step costs two sequential score evaluations).
    h : float, optional
        Step size in the dynamics' time (where ``u = 1/L`` makes the stiffest mode critically
        damped). Default :data:`~certsample.solvers.ulmc.DEFAULT_H` ``= 0.2``: a small relative
        stationary variance bias on Gaussians (it scales like ``h^3``; its size: docs/performance.md);
        the slowest mode relaxes in time about ``2 kappa``, so pick ``n_steps >= 2 kappa log(...) / h``.
    L : float, optional
        Lipschitz constant of the score; default ``target.score_lipschitz(0.0)``.
    backend : {'numpy', 'cpu', 'cuda'}
        NumPy reference, or the compiled step run by :func:`certsample.kernels.runner.run_kernel`.
    seed : int
        Every random number is a Philox function of ``(seed, particle, step, slot)``.
    x_init, v_init : array (n, d), optional
        Starting positions (default ``N(0, I)``) and velocities (default ``N(0, u I)``, their
        stationary law).
    progress : bool or 'auto'

    Returns
    -------
    SampleResult
        ``samples`` the positions; ``nfe = rounds = 2 n_steps``; ``extra`` holds ``h``, ``L``,
        ``u``; the attribute ``velocities`` holds the final velocities (to continue a chain). For a
        Gaussian target started at the default ``x_0 ~ N(0, I)``, ``v_0 ~ N(0, u I)``, ``extra`` also
        holds ``w2_bound``, a proved upper bound on ``W2(law(x_N), q_0)`` for this ``h``, ``L`` and
        ``n_steps`` with explicit constants (:func:`proofs.ulmc_gaussian.ulmc_gaussian_w2_bound`, proof
        in its docstring), and ``w2_bound_certified`` (True: the eigen-directions are exact, the coordinate
        axes of a diagonal target, or :func:`gaussian_directions` for one stored in its own basis; the
        reason in ``w2_bound_reason``).

    References
    ----------
    .. [1] R. Shen, Y. T. Lee, "The randomized midpoint method for log-concave sampling",
       NeurIPS 2019, arXiv:1909.05503.
    .. [2] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized midpoints: sequential
       and parallel", arXiv:2406.00924, 2024.
    """
    _check_density(target)
    if not target.is_gaussian:
        warnings.warn(
            f"{target!r} is a mixture: sample_logconcave's guarantees hold for log-concave targets "
            "and a mixture is not known to be one (the chain may not cross between modes)",
            RuntimeWarning,
            stacklevel=2,
        )
    n = check_int("number of particles n", n, 1)
    _check_backend_and_seed(backend, seed)
    n_steps = check_int("n_steps", n_steps, 1)
    L = _lipschitz(target, L, 0.0)
    h = positive_finite("h", DEFAULT_H if h is None else h)
    u = 1.0 / L
    d = target.dim
    x_given = _initial_state(x_init, "x_init", n, d)
    v_given = _initial_state(v_init, "v_init", n, d)

    def start(lo, count):
        noise = NoiseSource(seed, np.arange(lo, lo + count), d)
        x = noise.normal(INIT_STEP, 0) if x_given is None else x_given[lo : lo + count]
        v = math.sqrt(u) * noise.normal(INIT_STEP, 2) if v_given is None else v_given[lo : lo + count]
        return x, v

    given = (x_given is not None) + (v_given is not None)
    x, v, nfe, rounds, elapsed = _run_chain(
        target, n, d, start, L, 0.0, n_steps, h, backend, seed, RandomizedMidpointULMC.name, progress, given
    )
    extra = {"h": h, "L": L, "u": u}
    if target.is_gaussian and x_init is None and v_init is None:
        from proofs.ulmc_gaussian import ulmc_gaussian_w2_bound

        directions = None if target.basis is None else gaussian_directions(target)
        bound = ulmc_gaussian_w2_bound(target.mean(), target.covariance(), h, L, n_steps, directions=directions)
        extra.update(w2_bound=bound.value, w2_bound_certified=bound.certified, w2_bound_reason=bound.reason)
    return SampleResult(
        np.ascontiguousarray(x),
        RandomizedMidpointULMC.name,
        backend,
        int(nfe),
        int(rounds),
        elapsed,
        _chain_grid(h, n_steps),
        seed,
        extra=extra,
        velocities=np.ascontiguousarray(v),
    )


def gaussian_directions(target):
    """``(variances, offsets)`` of a Gaussian target stored in a basis ``Q`` along its exact eigen-directions, the
    offsets those of the chain's default start mean ``0`` from the target's mean.

    The target is ``N(Q~ mu, Q~ diag(lam) Q~^T + lam_perp (I - Q~ Q~^T))`` with ``Q~`` the exactly orthonormal polar
    factor of the stored ``Q`` (the targets' convention, :func:`certsample.verify.enclosure.basis_balls`), ``mu`` and
    ``lam`` its stored mean and variances in those coordinates. So the columns of ``Q~`` are eigenvectors with
    eigenvalues ``lam_i``, the ``d - k`` directions orthogonal to them share ``lam_perp``, and ``0 - Q~ mu`` has the
    coordinates ``-mu_i`` along the columns and ``0`` orthogonal to them: all exact floats, no eigendecomposition.
    """
    k = target.basis.shape[1]
    extra = target.dim - k
    variances = np.concatenate([target.variances[0], np.full(extra, float(target.lam_perp))])
    return variances, np.concatenate([-target.means[0], np.zeros(extra)])


def _corrector_steps(corrector_time, corrector_h):
    """``(h, steps)`` of a corrector run, checked before any sampling is spent."""
    corrector_time = positive_finite("corrector_time", corrector_time)
    corrector_h = positive_finite("corrector_h", corrector_h)
    steps = math.ceil(corrector_time / corrector_h - 1e-12)
    if steps < 1:
        raise ValueError(
            f"corrector_time={corrector_time!r} is not a step of corrector_h={corrector_h!r}: the corrector would take "
            "no step"
        )
    return corrector_h, steps


def _corrector(score, x, L, t_score, corrector_h, steps, backend, seed, progress):
    """The corrector: fresh velocities ``N(0, u I)`` and ``steps`` steps of ``corrector_h``."""
    phase_seed = derived_seed(seed, 1)
    n, d = x.shape

    def start(lo, count):
        v = math.sqrt(1.0 / L) * NoiseSource(phase_seed, np.arange(lo, lo + count), d).normal(INIT_STEP, 2)
        return x[lo : lo + count], v

    x, _, nfe, rounds, seconds = _run_chain(
        score, n, d, start, L, t_score, steps, corrector_h, backend, phase_seed, "corrector", progress, 1
    )
    return x, nfe, rounds, seconds


def sample_logconcave_tv(
    target,
    n: int = 1000,
    n_steps: int = 100,
    h: float | None = None,
    corrector_time: float = CORRECTOR_TIME,
    corrector_h: float = CORRECTOR_H,
    L: float | None = None,
    backend: str = "numpy",
    seed: int = 0,
    x_init=None,
    progress="auto",
) -> SampleResult:
    """Log-concave sampling in TV: :func:`sample_logconcave`, then a corrector (the ``logconcave-tv`` sampler).

    The chain's ``n_steps`` steps of ``h`` bring the law ``W2``-close to ``q_0``; the corrector draws
    fresh velocities ``N(0, u I)`` and runs ``ceil(corrector_time / corrector_h)`` steps of the same
    dynamics with the finer step, turning ``W2``-closeness into TV-closeness (module docstring).
    Gupta, Cai and Chen's byproduct reaches TV ``eps`` in ``O~(kappa d^{5/12} / eps^{...})`` steps
    this way; their constants are not reproduced here (full text not reachable).

    The corrector's noise comes from a seed derived from ``seed`` (:func:`derived_seed`), so it is
    independent of the chain's.

    Returns
    -------
    SampleResult
        ``solver = 'logconcave-tv'``; ``nfe = rounds = 2 (n_steps + corrector steps)``; ``extra`` holds
        ``h``, ``L``, ``corrector_h``, ``corrector_steps``.

    References
    ----------
    .. [1] S. Gupta, L. Cai, S. Chen, "Faster diffusion sampling with randomized midpoints: sequential
       and parallel", arXiv:2406.00924, 2024 (log-concave sampling in TV).
    .. [2] S. Chen, S. Chewi, H. Lee, Y. Li, J. Lu, A. Salim, "The probability flow ODE is provably
       fast", NeurIPS 2023, arXiv:2305.11798 (the underdamped corrector).
    """
    corrector_h, steps = _corrector_steps(corrector_time, corrector_h)
    chain = sample_logconcave(target, n, n_steps, h, L, backend, seed, x_init, None, progress)
    x, nfe, rounds, seconds = _corrector(
        target, chain.samples, chain.extra["L"], 0.0, corrector_h, steps, backend, seed, progress
    )
    return SampleResult(
        np.ascontiguousarray(x),
        "logconcave-tv",
        backend,
        chain.nfe + nfe,
        chain.rounds + rounds,
        chain.wall_time + seconds,
        chain.grid,
        seed,
        extra={**_chain_extra(chain.extra), "corrector_h": float(corrector_h), "corrector_steps": steps},
    )


def _chain_extra(extra: dict) -> dict:
    """A chain's ``extra`` for a result the corrector changed: its proved W2 bound is the chain's, not the output's,
    so it is kept under ``chain_*`` names."""
    out = {k: v for k, v in extra.items() if not k.startswith("w2_bound")}
    out.update({f"chain_{k}": v for k, v in extra.items() if k.startswith("w2_bound")})
    return out


def tv_postprocess(
    result: SampleResult,
    target,
    corrector_time: float = CORRECTOR_TIME,
    corrector_h: float = CORRECTOR_H,
    L: float | None = None,
    backend: str | None = None,
    dim: int | None = None,
    progress="auto",
) -> SampleResult:
    """The TV step after a diffusion sampler: a corrector at the run's last noise level ``delta``.

    Fresh velocities ``N(0, u I)`` and ``ceil(corrector_time / corrector_h)`` randomized-midpoint ULMC
    steps for ``-log q_delta`` (``u = 1/L``, ``L`` the score's Lipschitz bound at ``delta``) from the
    samples of ``result``. Gatmiry, Chen and Salim (Cor. 3.9) add such an underdamped Langevin step to
    the collocation sampler's ``W2`` guarantee to obtain one in TV; the constants here are this
    package's (their full text was not reachable).

    Parameters
    ----------
    result : SampleResult
        A diffusion run (its ``grid.delta``, ``seed`` and ``backend`` are reused).
    target : MixtureTarget, ScoreOracle or callable
        The score the run used (callables and oracles: NumPy backend, pass ``L=``).

    Returns
    -------
    SampleResult
        The corrected samples; ``nfe`` and ``rounds`` add the corrector's ``2`` per step;
        ``solver`` is ``result.solver + '+tv'``.

    References
    ----------
    .. [1] K. Gatmiry, S. Chen, A. Salim, "High-accuracy and dimension-free sampling with
       diffusions", arXiv:2601.10708, 2026 (Cor. 3.9).
    """
    if not isinstance(result, SampleResult):
        raise TypeError(f"tv_postprocess needs the SampleResult of a diffusion run, got {type(result).__name__}")
    if result.solver in (RandomizedMidpointULMC.name, "logconcave-tv"):
        raise ValueError(
            f"tv_postprocess corrects a diffusion run at its last noise level delta; a {result.solver!r} result has no "
            "delta (its grid holds the chain's steps): use sample_logconcave_tv for a Langevin chain"
        )
    backend = result.backend if backend is None else backend
    _check_backend_and_seed(backend, result.seed)
    corrector_h, steps = _corrector_steps(corrector_time, corrector_h)
    delta = float(result.grid.delta)
    score = target if hasattr(target, "kernel_params") else as_oracle(target, dim)
    exact = getattr(score, "target", score)
    if L is None:
        if not isinstance(exact, MixtureTarget):
            raise ValueError("tv_postprocess needs L= (the score's Lipschitz constant at delta) for a score callable")
        L = lipschitz.working_score_lipschitz(exact, delta)
    L = positive_finite("L", L)
    x, nfe, rounds, seconds = _corrector(
        score, result.samples, L, delta, corrector_h, steps, backend, result.seed, progress
    )
    return SampleResult(
        np.ascontiguousarray(x),
        result.solver + "+tv",
        backend,
        result.nfe + nfe,
        result.rounds + rounds,
        result.wall_time + seconds,
        result.grid,
        result.seed,
        extra={**result.extra, "corrector_h": float(corrector_h), "corrector_steps": steps, "corrector_L": L},
    )


def sample_tv(
    target,
    solver="collocation",
    n: int | None = None,
    n_steps: int = 100,
    *,
    corrector_time: float = CORRECTOR_TIME,
    corrector_h: float = CORRECTOR_H,
    L: float | None = None,
    **sample_options,
) -> SampleResult:
    """:func:`~certsample.integrate.sample` followed by :func:`tv_postprocess` (collocation by default:
    Gatmiry-Chen-Salim's TV sampler)."""
    result = sample(target, solver, n, n_steps, **sample_options)
    return tv_postprocess(
        result,
        target,
        corrector_time,
        corrector_h,
        L,
        dim=sample_options.get("dim"),
        progress=sample_options.get("progress", "auto"),
    )
