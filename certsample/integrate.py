"""``sample``: run any solver on any backend, with counted cost and reproducible noise."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .forward import TimeGrid, make_grid
from .kernels import runner
from .memory import check_run_fits, particles_per_chunk
from .noise import NoiseSource, seed_key
from .oracle import ScoreOracle, as_oracle
from .progress import Progress
from .solvers import PlannedSolver, SDESolver, get_solver
from .validation import check_int, check_particles_finite, real_array

__all__ = ["SampleResult", "sample", "initial_particles", "integrate_numpy", "plan_from_eps", "BACKENDS"]

BACKENDS = ("numpy", "cpu", "cuda")
#: the largest step in OU time a run takes: ``e^{2h}`` (variances of the SDE solvers' steps) stays finite in float64
MAX_STEP = 350.0
INIT_STEP = 0xFFFFFFFF  # Philox step word reserved for the starting particles


@dataclass
class SampleResult:
    """Samples and what they cost.

    ``nfe`` counts score evaluations per particle and ``rounds`` sequential rounds of them (equal for
    sequential solvers); ``wall_time`` is the integration time in seconds, compilation excluded
    (kernels compile once per machine: Numba's on-disk cache serves later processes).
    """

    samples: np.ndarray
    solver: str
    backend: str
    nfe: int
    rounds: int
    wall_time: float
    grid: TimeGrid
    seed: int
    extra: dict = field(default_factory=dict)
    #: final velocities of kinetic (underdamped Langevin) samplers, to continue a chain
    velocities: np.ndarray | None = None

    def summary(self) -> dict:
        return {
            "solver": self.solver,
            "backend": self.backend,
            "n": int(self.samples.shape[0]),
            "dim": int(self.samples.shape[1]),
            "n_steps": len(self.grid),
            "T": self.grid.T,
            "delta": self.grid.delta,
            "nfe": int(self.nfe),
            "rounds": int(self.rounds),
            "wall_time_s": self.wall_time,
            "seed": int(self.seed),
            **self.extra,
        }


def initial_particles(
    n: int, dim: int, seed: int = 0, T: float | None = None, target=None, init: str = "standard", offset: int = 0
) -> np.ndarray:
    """Starting particles at forward time ``T``, drawn from Philox like every other random number.

    ``init='standard'`` draws ``N(0, I)`` (what a real sampler does); ``init='exact'`` draws the true
    marginal ``q_T`` of ``target``, which isolates the discretisation error from the
    initialisation error ``~ e^{-T}`` in convergence studies.
    """
    n = check_int("number of particles n", n, 1)
    source = NoiseSource(seed, np.arange(offset, offset + n), dim)
    z = source.normal(INIT_STEP, 0)
    if check_init(init) == "standard":
        return z
    if target is None or not hasattr(target, "law_at"):
        raise ValueError(
            "init='exact' draws from the target's own law q_T: it needs a built-in target, not a score callable"
        )
    if T is None:
        raise ValueError("init='exact' needs T")
    law = target.law_at(T)
    comp = np.searchsorted(np.cumsum(law.weights), source.uniform(INIT_STEP, 1) * law.weights.sum())
    comp = np.minimum(comp, law.n_components - 1)
    if law.basis is None:
        return law.means[comp] + np.sqrt(law.variances[comp]) * z
    zk = z @ law.basis
    y = law.means[comp] + np.sqrt(law.variances[comp]) * zk
    return y @ law.basis.T + math.sqrt(law.lam_perp) * (z - zk @ law.basis.T)


def check_init(init: str) -> str:
    """``init`` when it names a start law (``'standard'`` or ``'exact'``), else ValueError naming it."""
    if init not in ("standard", "exact"):
        raise ValueError(f"unknown init {init!r}; choose 'standard' or 'exact'")
    return init


#: particles are keyed by 32 bits in the Philox counters (:mod:`certsample.kernels.philox`)
PARTICLE_LIMIT = 2**32


def check_particle_range(first_particle: int, n: int) -> None:
    """ValueError unless particles ``first_particle .. first_particle + n - 1`` lie below :data:`PARTICLE_LIMIT`:
    beyond it a particle's start and noise would repeat those of the particle ``2^32`` below it."""
    if first_particle + n > PARTICLE_LIMIT:
        raise ValueError(
            f"particles {first_particle} .. {first_particle + n - 1} reach past 2^32 - 1: Philox keys a particle by "
            "32 bits, so particle 2^32 + i would repeat particle i's start and noise; use another seed for more"
        )


def integrate_numpy(solver, oracle: ScoreOracle, x, grid: TimeGrid, noise, progress=None) -> np.ndarray:
    """The NumPy reference loop: ``solver.step`` over the grid, returning the final particles."""
    x = np.array(x, dtype=float)
    state = solver.init(grid, getattr(oracle, "target", None))
    for k, (t, h) in enumerate(zip(grid.times[:-1], grid.steps)):
        x, state = solver.step(x, float(t), float(h), k, oracle, noise, state)
        check_particles_finite(x, f"at step {k} (t={t:g})")
        if progress is not None:
            progress.update()
    return x


def sample(
    target,
    solver="exponential-ode",
    n: int | None = None,
    n_steps: int = 100,
    *,
    T: float = 10.0,
    delta: float = 1e-3,
    grid="exponential",
    backend: str = "numpy",
    seed: int = 0,
    init: str = "standard",
    x_init=None,
    dim: int | None = None,
    progress="auto",
    solver_options: dict | None = None,
    first_particle: int = 0,
    eps: float | None = None,
    pilot: int = 32,
) -> SampleResult:
    """Draw ``n`` samples by integrating from forward time ``T`` down to ``delta``.

    Parameters
    ----------
    target : MixtureTarget, ScoreOracle or callable
        A built-in target (exact score, any backend) or any score ``f(x, t)`` (NumPy backend; pass
        ``dim``).
    solver : str or Solver
        A name from :data:`certsample.solvers.SOLVERS` (or an alias such as ``'ddim'``).
    n, n_steps : int
        Particles (default 1000, or the rows of ``x_init``) and steps.
    T, delta : float
        Horizon and early-stopping time (``T > delta > 0``).
    grid : {'exponential', 'uniform'} or TimeGrid
    backend : {'numpy', 'cpu', 'cuda'}
        NumPy reference, Numba CPU-parallel kernel, or Numba CUDA kernel.
    seed : int
        Every random number is a function of ``(seed, particle, step)``: results do not depend on
        the backend's batching.
    init : {'standard', 'exact'}
        Start from ``N(0, I)`` or from the exact ``q_T``.
    x_init : array, optional
        Starting particles ``(n, d)`` (overrides ``init``).
    progress : bool or 'auto'
        Progress bar on stderr ('auto': only on a terminal).
    solver_options : dict, optional
        Keyword arguments of the solver's constructor.
    first_particle : int
        Global index of the first particle: these are particles ``first_particle ..
        first_particle + n - 1`` of the run with this seed, with their starting points and noise,
        so shards of one run (:func:`certsample.distributed.sample`) reproduce it bit for bit.
    eps : float, optional
        Solvers that plan their own grid (:class:`~certsample.solvers.PlannedSolver`, e.g. collocation):
        target RMS pathwise error. The grid and parameters are then measured on the first ``pilot``
        particles (:meth:`~certsample.solvers.PlannedSolver.measured_plan`) and ``n_steps``, ``grid``
        and the solver's own parameters are ignored. A measurement, not a bound: rare paths the pilot
        does not see (those that linger near the flow's unstable points and leave them late) can be off by
        far more than ``eps`` (``docs/performance.md``, ``benchmarks/worst_case_plan.py --hard``);
        :func:`certsample.verify.certify` proves a run's errors and ``proofs.get("collocation").plan`` a plan.
    pilot : int
        Pilot particles for ``eps``.
    """
    if solver_options is not None and not isinstance(solver_options, Mapping):
        raise TypeError(f"solver_options must be a dict of solver options, got {type(solver_options).__name__}")
    solver = get_solver(solver, **(solver_options or {}))
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")
    if backend == "cuda":
        runner.require_cuda()
    seed_key(seed)  # validates the seed before any warning or pilot
    oracle = as_oracle(target, dim)
    if dim is not None and dim != oracle.dim:
        raise ValueError(
            f"dim={dim!r} does not match the target's dimension {oracle.dim}; built-in targets "
            "carry their own (make_target(name, dim=...) builds one of another dimension)"
        )
    grid = make_grid(grid, T, delta, n_steps)
    d = oracle.dim
    first_particle = check_int("first_particle", first_particle, 0)
    check_init(init)  # also where x_init makes it unused
    n, x_init = _particle_count(n, x_init, d)
    check_particle_range(first_particle, n)
    check_run_fits(n, d, solver, backend, inputs=x_init is not None)
    if float(np.max(grid.steps)) > MAX_STEP:
        raise ValueError(
            f"a step of {float(np.max(grid.steps)):.3g} in OU time (T={grid.T:g} in {len(grid)} steps): the solvers' "
            f"factors e^h overflow float64 beyond h = {MAX_STEP:g}; use more steps or a smaller T"
        )
    if isinstance(solver, SDESolver) and float(np.max(grid.steps)) > 1.0:
        warnings.warn(
            f"{solver.name}: steps up to {float(np.max(grid.steps)):.3g} in OU time; stochastic schemes "
            "need steps well below 1 (errors grow like e^h) -- use more steps",
            RuntimeWarning,
            stacklevel=2,
        )
    extra = {}
    if eps is not None:
        solver, grid, extra = plan_from_eps(
            oracle,
            solver,
            eps,
            T=grid.T,
            delta=grid.delta,
            seed=seed,
            init=init,
            x_init=x_init,
            pilot=min(pilot, n),
            first_particle=first_particle,
        )
    out, nfe, rounds, elapsed = _integrate_chunks(
        oracle, solver, grid, backend, seed, n, init, x_init, first_particle, progress
    )
    return SampleResult(out, solver.name, backend, nfe, rounds, elapsed, grid, seed, extra)


def _particle_count(n, x_init, d: int):
    """``(n, x_init)``: the number of particles and the checked starting rows (None: drawn by ``init``)."""
    if x_init is None:
        return (1000 if n is None else check_int("number of particles n", n, 1)), None
    x_init = np.array(real_array("x_init", x_init))
    if x_init.ndim != 2 or x_init.shape[1] != d or x_init.shape[0] < 1:
        raise ValueError(f"x_init must have shape (n, {d}) with n >= 1 rows, got {x_init.shape}")
    if n is not None and n != x_init.shape[0]:
        raise ValueError(f"n={n!r} but x_init has {x_init.shape[0]} rows; give one or make them agree")
    if not np.all(np.isfinite(x_init)):
        raise ValueError(
            f"x_init contains NaN or inf in {int(np.sum(~np.all(np.isfinite(x_init), axis=1)))} of its rows"
        )
    return x_init.shape[0], x_init


def _integrate_chunks(oracle, solver, grid, backend, seed, n, init, x_init, first_particle, progress):
    """``(samples, nfe, rounds, seconds)`` of particles ``first_particle .. first_particle + n - 1``.

    Chunks of particles bound the working memory; noise keyed by particle makes them bit-identical to
    one pass. Each chunk draws its own starting points (or takes its rows of ``x_init``).
    """
    exact_target = oracle.target  # None for score callables and perturbed oracles
    d = oracle.dim
    chunk = particles_per_chunk(n, d, solver, backend)
    out = np.empty((n, d))
    elapsed = 0.0
    with Progress(len(grid) * -(-n // chunk), f"{solver.name}/{backend}", progress) as bar:
        for lo in range(0, n, chunk):
            count = min(chunk, n - lo)
            first = first_particle + lo
            x = (
                initial_particles(count, d, seed, grid.T, exact_target, init, offset=first)
                if x_init is None
                else x_init[lo : lo + count]
            )
            if backend == "numpy":
                oracle.reset()
                oracle.particles = np.arange(first, first + count)
                noise = NoiseSource(seed, oracle.particles, d)
                start = time.perf_counter()
                out[lo : lo + count] = integrate_numpy(solver, oracle, x, grid, noise, bar)
                elapsed += time.perf_counter() - start
                nfe, rounds = oracle.nfe, oracle.rounds
            else:
                out[lo : lo + count], nfe, seconds = runner.run_kernel(
                    solver, exact_target, x, grid, seed, backend, offset=first, progress=bar
                )
                elapsed += seconds
                rounds = solver.rounds(grid, exact_target)
    return out, nfe, rounds, elapsed


def plan_from_eps(
    target,
    solver,
    eps: float,
    *,
    T: float = 10.0,
    delta: float = 1e-3,
    seed: int = 0,
    init: str = "standard",
    x_init=None,
    dim: int | None = None,
    pilot: int = 32,
    first_particle: int = 0,
):
    """``(solver, grid, extra)`` of a run measured for RMS pathwise accuracy ``eps`` on the run's first
    ``pilot`` particles by the solver's :meth:`~certsample.solvers.PlannedSolver.measured_plan` (what
    ``sample(..., eps=)`` runs; the same for every shard)."""
    solver = get_solver(solver)
    if not isinstance(solver, PlannedSolver):
        raise ValueError(
            f"eps= needs a solver that plans its own grid (a PlannedSolver, e.g. collocation); "
            f"{solver.name!r} takes n_steps (or use certsample.verify.certify for a step count "
            "proved from eps)"
        )
    oracle = as_oracle(target, dim)
    horizon = make_grid("uniform", T, delta, 1)
    m = check_int("pilot", pilot, 1)
    if x_init is None:
        x = initial_particles(m, oracle.dim, seed, horizon.T, oracle.target, init, offset=first_particle)
    else:
        x = np.asarray(x_init, dtype=float)[:m]
    plan = solver.measured_plan(eps, oracle, x, horizon.T, horizon.delta)
    return plan.solver, plan.grid, plan.info
