"""``sample``: run any solver on any backend, with counted cost and reproducible noise."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field

import numba
import numpy as np

from .forward import TimeGrid, make_grid
from .memory import check_run_fits, particles_per_chunk
from .noise import NoiseSource, seed_key
from .oracle import ScoreOracle, as_oracle
from .progress import Progress
from .solvers import PlannedSolver, SDESolver, get_solver
from .validation import check_int, real_array

__all__ = ["SampleResult", "sample", "initial_particles", "integrate_numpy", "integrate_kernel", "plan_from_eps",
           "BACKENDS"]

BACKENDS = ("numpy", "cpu", "cuda")
LAUNCH_SECONDS = 0.2  # target duration of one kernel launch (responsiveness to Ctrl-C and the bar)
SCRATCH_BLOCKS_PER_THREAD = 4  # CPU scratch slots per thread: load balance without per-particle memory
INIT_STEP = 0xFFFFFFFF  # Philox step word reserved for the starting particles
CUDA_THREADS = 128
CUDA_MAX_THREADS = 2**18  # resident threads of a large GPU (132 SMs x 2048), the grid-stride launch's cap
CUDA_SCRATCH_BYTES = 2**30  # device scratch of one launch: rows per resident thread, not per particle


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
        return {"solver": self.solver, "backend": self.backend, "n": int(self.samples.shape[0]),
                "dim": int(self.samples.shape[1]), "n_steps": len(self.grid), "T": self.grid.T,
                "delta": self.grid.delta, "nfe": int(self.nfe), "rounds": int(self.rounds),
                "wall_time_s": self.wall_time, "seed": int(self.seed), **self.extra}


def initial_particles(n: int, dim: int, seed: int = 0, T: float | None = None, target=None,
                      init: str = "standard", offset: int = 0) -> np.ndarray:
    """Starting particles at forward time ``T``, drawn from Philox like every other random number.

    ``init='standard'`` draws ``N(0, I)`` (what a real sampler does); ``init='exact'`` draws the true
    marginal ``q_T`` of ``target``, which isolates the discretisation error from the
    initialisation error ``~ e^{-T}`` in convergence studies.
    """
    n = check_int("number of particles n", n, 1)
    source = NoiseSource(seed, np.arange(offset, offset + n), dim)
    z = source.normal(INIT_STEP, 0)
    if init == "standard":
        return z
    if init != "exact":
        raise ValueError(f"unknown init {init!r}; choose 'standard' or 'exact'")
    if target is None or T is None:
        raise ValueError("init='exact' needs the target and T")
    if not hasattr(target, "law_at"):
        raise ValueError(f"init='exact' needs a built-in target with a known law; {target!r} has none")
    law = target.law_at(T)
    comp = np.searchsorted(np.cumsum(law.weights), source.uniform(INIT_STEP, 1) * law.weights.sum())
    comp = np.minimum(comp, law.n_components - 1)
    if law.basis is None:
        return law.means[comp] + np.sqrt(law.variances[comp]) * z
    zk = z @ law.basis
    y = law.means[comp] + np.sqrt(law.variances[comp]) * zk
    return y @ law.basis.T + math.sqrt(law.lam_perp) * (z - zk @ law.basis.T)


def _require_cuda():
    """A one-line error naming what is missing, instead of the CUDA driver's traceback."""
    from numba import cuda

    if not cuda.is_available():
        raise ValueError("backend 'cuda' needs an NVIDIA GPU with its driver (libcuda), and numba.cuda found "
                         "none; use backend='cpu', or NUMBA_ENABLE_CUDASIM=1 for the (slow) CUDA simulator")


def _check_finite(x, where):
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.all(np.isfinite(x), axis=1)))
        raise FloatingPointError(f"{bad} of {x.shape[0]} particles became NaN/inf {where}; "
                                 "the step is too large for this target or the score is wrong")


def integrate_numpy(solver, oracle: ScoreOracle, x, grid: TimeGrid, noise, progress=None) -> np.ndarray:
    """The NumPy reference loop: ``solver.step`` over the grid, returning the final particles."""
    x = np.array(x, dtype=float)
    state = solver.init(grid, getattr(oracle, "target", None))
    for k, (t, h) in enumerate(zip(grid.times[:-1], grid.steps)):
        x, state = solver.step(x, float(t), float(h), k, oracle, noise, state)
        _check_finite(x, f"at step {k} (t={t:g})")
        if progress is not None:
            progress.update()
    return x


#: byte alignment of the block kernels' arrays: a cache line, so that no vector load of a block's row
#: straddles two (NumPy promises 16 bytes)
ALIGNMENT = 64


def aligned_zeros(shape) -> np.ndarray:
    """Float64 zeros of ``shape`` whose first element starts at a multiple of :data:`ALIGNMENT` bytes.

    A block's rows are ``L`` float64 (512 bytes on the CPU), so every row of the array is aligned
    too. Measured on the ring's block score (one thread, ``L = 64``): 24 to 26 ns per evaluation
    with rows on 32- or 64-byte boundaries, 28 to 30 ns with only NumPy's 16.
    """
    size = int(np.prod(shape))
    raw = np.zeros(size + ALIGNMENT // 8)
    start = (-raw.ctypes.data % ALIGNMENT) // 8
    return raw[start:start + size].reshape(shape)


def to_blocks(x, width: int) -> np.ndarray:
    """Particles ``(n, columns)`` as blocks ``(ceil(n / width), columns, width)``, one particle per
    column; the last block is padded with copies of the last particle (finite, and discarded)."""
    n, columns = x.shape
    full = n // width
    blocks = aligned_zeros((-(-n // width), columns, width))
    blocks[:full] = x[:full * width].reshape(full, width, columns).transpose(0, 2, 1)
    if full < blocks.shape[0]:
        blocks[full] = x[-1][:, None]
        blocks[full, :, :n - full * width] = x[full * width:].T
    return blocks


def from_blocks(blocks, n: int) -> np.ndarray:
    """The first ``n`` particles of :func:`to_blocks`'s layout, as ``(n, columns)``."""
    return blocks.transpose(0, 2, 1).reshape(-1, blocks.shape[1])[:n]


def next_launch_steps(steps: int, seconds: float) -> int:
    """Steps for the next kernel launch after ``steps`` took ``seconds``: aim at :data:`LAUNCH_SECONDS`,
    growing at most twofold per launch (Python handles Ctrl-C and redraws only between launches)."""
    return max(1, min(2 * steps, int(steps * LAUNCH_SECONDS / max(seconds, 1e-6))))


@contextlib.contextmanager
def _interrupts_deferred():
    """Hold Ctrl-C until the block ends, then raise it.

    Numba compiles through llvmlite's ctypes callbacks, and ctypes prints and drops an exception
    raised inside a callback: a Ctrl-C that lands during compilation was lost and the run went on
    for minutes. Off the main thread (where Python delivers no signals) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:  # None: a handler installed outside Python, which cannot be put back from here
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    if caught:
        raise KeyboardInterrupt


def cuda_node_threads(solver, n: int) -> int:
    """Threads per particle on CUDA: the solver's ``kernel_node_threads`` (collocation: one per node,
    the parallel midpoint: one per midpoint) when ``n`` particles with that many threads each fit in
    :data:`CUDA_MAX_THREADS`, so that a sweep's evaluations run at once; otherwise 0, one thread per
    particle, which already fills the device (the threshold is reasoned, not measured on a GPU)."""
    group = int(getattr(solver, "kernel_node_threads", 0))
    return group if group > 1 and n * group <= CUDA_MAX_THREADS else 0


def integrate_kernel(solver, target, x, grid: TimeGrid, seed: int, backend: str = "cpu",
                     offset: int = 0, progress=None, chunk_steps: int | None = None):
    """Run the compiled kernel of ``solver``; returns ``(particles, evaluations per particle, seconds)``.

    Every particle takes the same steps, so all must report the same evaluation count.
    """
    from .kernels.drivers import CPU_LANES, CUDA_LANES, step_runner

    if solver.kernel_step is None:
        raise ValueError(f"solver {solver.name!r} has no compiled kernel; use backend='numpy'")
    if not hasattr(target, "kernel_params"):
        raise ValueError(f"backend {backend!r} needs a built-in target with a compiled score; "
                         "score callables and perturbed oracles run on backend='numpy'")
    n, d = x.shape
    group = cuda_node_threads(solver, n) if backend == "cuda" else 0
    blocked = getattr(solver, "kernel_layout", "particle") == "block"
    layout = "nodes" if group else "block" if blocked else "particle"
    step = solver.kernel_node_step if group else solver.kernel_step
    run = step_runner(step, backend, getattr(target, "kernel_scores", None), layout)
    carry = int(getattr(solver, "n_carry", 0))
    # a solver's carry rides after the state in each particle's row, zero before the first step
    x = np.ascontiguousarray(np.concatenate([x, np.zeros((n, carry * d))], axis=1) if carry else x, dtype=float)
    # a time slot per node on the CPU (a block of particles shares it); CUDA keeps two, as its scratch is
    # per resident thread and more would cut the resident threads (not measured on a GPU)
    slots_in_cache = solver.time_slots if backend == "cpu" else 2
    n_work = max(solver.n_work, 1)
    score_work = target.kernel_work_size(slots_in_cache)
    row_bytes = 8 * (n_work * d + score_work)
    lane_rows = 1  # a particle-layout step has no lane rows (the node drivers pass one unused row)
    if blocked:
        # on CUDA a thread keeps its column over the grid stride, a multiple of the threads per block;
        # with threads sharing a particle, each particle is a block of one column
        width = 1 if group else math.gcd(CUDA_LANES, CUDA_THREADS) if backend == "cuda" else CPU_LANES
        x = to_blocks(x, width)
        lane_rows = solver.n_lane_work + target.kernel_lane_rows()
        row_bytes += 8 * lane_rows
    if group:
        # thread blocks of whole groups; work per particle slot, lanes and score scratch per thread
        block_threads = group * max(1, CUDA_THREADS // group)
        per_block = block_threads // group
        block_bytes = 8 * (per_block * n_work * d + block_threads * (lane_rows + score_work))
        grid_blocks = min(-(-n // per_block), max(1, CUDA_MAX_THREADS // block_threads),
                          max(1, CUDA_SCRATCH_BYTES // block_bytes))
        slots = grid_blocks * block_threads  # threads
    elif backend == "cuda":
        slots = min(-(-n // CUDA_THREADS), CUDA_MAX_THREADS // CUDA_THREADS,
                    max(1, CUDA_SCRATCH_BYTES // (row_bytes * CUDA_THREADS))) * CUDA_THREADS  # threads
    else:
        slots = min(x.shape[0], SCRATCH_BLOCKS_PER_THREAD * numba.get_num_threads())
    nfe = np.zeros(x.shape[0], dtype=np.int64)  # per particle, or per block of particles
    times = np.ascontiguousarray(grid.times)
    tp, sp = target.kernel_params(), solver.kernel_params(grid, target)
    key0, key1 = seed_key(seed)
    n_steps = len(grid)
    if group:
        columns = (1,) if blocked else ()
        scratch = (aligned_zeros((grid_blocks * per_block, n_work, d) + columns),
                   aligned_zeros((slots, lane_rows) + columns), np.zeros((slots, score_work)))
    elif layout == "block":
        blocks = slots // width if backend == "cuda" else slots
        scratch = (aligned_zeros((blocks, n_work, d, width)), aligned_zeros((blocks, lane_rows, width)),
                   np.zeros((slots, score_work)))  # zeroed: empty time caches
    else:
        scratch = (np.zeros((slots, n_work, d)), np.zeros((slots, score_work)))
    if backend == "cuda":
        from numba import cuda

        _require_cuda()

        def to_dev(v):
            return cuda.to_device(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v

        dx, dtimes, dnfe = (cuda.to_device(a) for a in (x, times, nfe))
        tp, sp = tuple(to_dev(v) for v in tp), tuple(to_dev(v) for v in sp)
        launch = run[grid_blocks, block_threads] if group else run[slots // CUDA_THREADS, CUDA_THREADS]
        args = (dx, dtimes)
        tail = (key0, key1, np.int64(offset), tp, sp, *(cuda.to_device(a) for a in scratch), dnfe)
    else:
        launch = run
        args = (x, times)
        tail = (key0, key1, np.int64(offset), tp, sp, *scratch, nfe)
    with _interrupts_deferred():
        launch(*args, np.int64(0), np.int64(0), *tail)  # compiles; zero steps change nothing
    if progress is not None:
        progress.start_clock()
    start = time.perf_counter()
    # launches of about LAUNCH_SECONDS each: Python sees Ctrl-C and redraws the bar between them
    chunk, k0 = chunk_steps or 1, 0
    while k0 < n_steps:
        k1 = min(k0 + chunk, n_steps)
        tick = time.perf_counter()
        launch(*args, np.int64(k0), np.int64(k1), *tail)
        if backend == "cuda":
            cuda.synchronize()
        if progress is not None:
            progress.update(k1 - k0)
        if chunk_steps is None:
            chunk = next_launch_steps(chunk, time.perf_counter() - tick)
        k0 = k1
    elapsed = time.perf_counter() - start
    if backend == "cuda":
        x, nfe = dx.copy_to_host(), dnfe.copy_to_host()
    x = from_blocks(x, n)[:, :d] if blocked else x[:, :d]
    _check_finite(x, f"after {n_steps} steps on backend {backend!r}")
    if np.any(nfe != nfe[0]):
        raise RuntimeError("particles disagree on their score-evaluation count")
    return x, int(nfe[0]), elapsed


def sample(target, solver="exponential-ode", n: int | None = None, n_steps: int = 100, *, T: float = 10.0,
           delta: float = 1e-3, grid="exponential", backend: str = "numpy", seed: int = 0,
           init: str = "standard", x_init=None, dim: int | None = None, progress="auto",
           solver_options: dict | None = None, first_particle: int = 0, eps: float | None = None,
           pilot: int = 32) -> SampleResult:
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
        and the solver's own parameters are ignored.
    pilot : int
        Pilot particles for ``eps``.
    """
    solver = get_solver(solver, **(solver_options or {}))
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")
    if backend == "cuda":
        _require_cuda()
    oracle = as_oracle(target, dim)
    if dim is not None and dim != oracle.dim:
        raise ValueError(f"dim={dim!r} does not match the target's dimension {oracle.dim}; built-in targets "
                         "carry their own (make_target(name, dim=...) builds one of another dimension)")
    exact_target = oracle.target  # None for score callables and perturbed oracles
    grid = make_grid(grid, T, delta, n_steps)
    d = oracle.dim
    first_particle = check_int("first_particle", first_particle, 0)
    if x_init is None:
        n = 1000 if n is None else check_int("number of particles n", n, 1)
    else:
        x_init = np.array(real_array("x_init", x_init))
        if x_init.ndim != 2 or x_init.shape[1] != d:
            raise ValueError(f"x_init must have shape (n, {d}), got {x_init.shape}")
        if n is not None and n != x_init.shape[0]:
            raise ValueError(f"n={n!r} but x_init has {x_init.shape[0]} rows; give one or make them agree")
        if not np.all(np.isfinite(x_init)):
            raise ValueError(f"x_init contains NaN or inf in {int(np.sum(~np.all(np.isfinite(x_init), axis=1)))} "
                             "of its rows")
        n = x_init.shape[0]
    check_run_fits(n, d, solver, backend)
    if isinstance(solver, SDESolver) and float(np.max(grid.steps)) > 1.0:
        warnings.warn(f"{solver.name}: steps up to {float(np.max(grid.steps)):.3g} in OU time; stochastic schemes "
                      "need steps well below 1 (errors grow like e^h) -- use more steps", RuntimeWarning,
                      stacklevel=2)
    extra = {}
    if eps is not None:
        solver, grid, extra = plan_from_eps(oracle, solver, eps, T=grid.T, delta=grid.delta, seed=seed, init=init,
                                            x_init=x_init, pilot=min(pilot, n), first_particle=first_particle)
    # chunks of particles bound the working memory; noise keyed by particle makes them bit-identical
    chunk = particles_per_chunk(n, d, solver, backend)
    out = np.empty((n, d))
    elapsed = 0.0
    with Progress(len(grid) * -(-n // chunk), f"{solver.name}/{backend}", progress) as bar:
        for lo in range(0, n, chunk):
            count = min(chunk, n - lo)
            first = first_particle + lo
            x = (initial_particles(count, d, seed, grid.T, exact_target, init, offset=first) if x_init is None
                 else x_init[lo:lo + count])
            if backend == "numpy":
                oracle.reset()
                oracle.particles = np.arange(first, first + count)
                noise = NoiseSource(seed, oracle.particles, d)
                start = time.perf_counter()
                out[lo:lo + count] = integrate_numpy(solver, oracle, x, grid, noise, bar)
                elapsed += time.perf_counter() - start
                nfe, rounds = oracle.nfe, oracle.rounds
            else:
                out[lo:lo + count], nfe, seconds = integrate_kernel(solver, exact_target, x, grid, seed, backend,
                                                                    offset=first, progress=bar)
                elapsed += seconds
                rounds = solver.rounds(grid, exact_target)
    return SampleResult(out, solver.name, backend, nfe, rounds, elapsed, grid, seed, extra)


def plan_from_eps(target, solver, eps: float, *, T: float = 10.0, delta: float = 1e-3, seed: int = 0,
                  init: str = "standard", x_init=None, dim: int | None = None, pilot: int = 32,
                  first_particle: int = 0):
    """``(solver, grid, extra)`` of a run measured for RMS pathwise accuracy ``eps`` on the run's first
    ``pilot`` particles by the solver's :meth:`~certsample.solvers.PlannedSolver.measured_plan` (what
    ``sample(..., eps=)`` runs; the same for every shard)."""
    solver = get_solver(solver)
    if not isinstance(solver, PlannedSolver):
        raise ValueError(f"eps= needs a solver that plans its own grid (a PlannedSolver, e.g. collocation); "
                         f"{solver.name!r} takes n_steps (or use certsample.verify.certify for a step count "
                         "proved from eps)")
    oracle = as_oracle(target, dim)
    horizon = make_grid("uniform", T, delta, 1)
    m = check_int("pilot", pilot, 1)
    if x_init is None:
        x = initial_particles(m, oracle.dim, seed, horizon.T, oracle.target, init, offset=first_particle)
    else:
        x = np.asarray(x_init, dtype=float)[:m]
    plan = solver.measured_plan(eps, oracle, x, horizon.T, horizon.delta)
    return plan.solver, plan.grid, plan.info
