"""The launch loop: compile a solver's driver once, then run it in launches of a fraction of a second.

:func:`step_runner` picks the compiled driver for a backend and layout (:mod:`.cpu_driver`, or
:mod:`.cuda_driver`, imported only then); :func:`run_kernel` plans the launch (:func:`~.launch.plan_launch`),
moves the arrays, compiles with a zero-step launch while Ctrl-C is held, and runs the steps in launches
of about :data:`LAUNCH_SECONDS`, so Python sees Ctrl-C and redraws the progress bar between them.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import numpy as np

from ..noise import seed_key
from ..validation import check_particles_finite
from .cpu_driver import cpu_run_blocks, cpu_run_steps
from .jit import compile_for
from .launch import plan_launch

__all__ = ["step_runner", "run_kernel", "require_cuda", "next_launch_steps", "LAUNCH_SECONDS"]

#: target duration of one kernel launch (responsiveness to Ctrl-C and the bar)
LAUNCH_SECONDS = 0.2


def step_runner(step_fn, backend: str, scores=None, layout: str = "particle"):
    """The compiled ``run_steps`` kernel for ``step_fn`` on ``backend`` ('cpu' or 'cuda').

    ``scores`` maps score names (``target_score``, ``particle_score``) to a user's replacements;
    ``layout`` is the step's, ``'particle'`` or ``'block'``, or ``'nodes'`` (CUDA) for a solver's
    ``kernel_node_step``.
    """
    if layout not in ("particle", "block", "nodes"):
        raise ValueError(f"unknown kernel layout {layout!r}; choose 'particle', 'block' or 'nodes'")
    overrides = {"solver_step": step_fn, **(scores or {})}
    if layout == "nodes" and backend != "cuda":
        raise ValueError("the 'nodes' layout (threads sharing a particle) runs on backend 'cuda' only")
    if backend == "cpu":
        return compile_for(cpu_run_blocks if layout == "block" else cpu_run_steps, "cpu-parallel", overrides)
    if backend == "cuda":
        # numba.cuda is imported only when asked for
        from .cuda_driver import cuda_run_blocks, cuda_run_nodes, cuda_run_steps, cuda_sweep_barrier

        if layout == "nodes":
            overrides = {"solver_node_step": step_fn, "sweep_barrier": cuda_sweep_barrier, **(scores or {})}
            return compile_for(cuda_run_nodes, "cuda-kernel", overrides)
        return compile_for(cuda_run_blocks if layout == "block" else cuda_run_steps, "cuda-kernel", overrides)
    raise ValueError(f"unknown kernel backend {backend!r}; choose 'cpu' or 'cuda'")


def require_cuda():
    """A one-line error naming what is missing, instead of the CUDA driver's traceback."""
    from numba import cuda

    if not cuda.is_available():
        raise ValueError(
            "backend 'cuda' needs an NVIDIA GPU with its driver (libcuda), and numba.cuda found "
            "none; use backend='cpu', or NUMBA_ENABLE_CUDASIM=1 for the (slow) CUDA simulator"
        )


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


def _check_compiled(solver, target, backend):
    """A one-line error when ``solver`` or ``target`` has no compiled form for ``backend``."""
    if solver.kernel_step is None:
        raise ValueError(f"solver {solver.name!r} has no compiled kernel; use backend='numpy'")
    if not hasattr(target, "kernel_params"):
        raise ValueError(
            f"backend {backend!r} needs a built-in target with a compiled score; "
            "score callables and perturbed oracles run on backend='numpy'"
        )


class _Arrays:
    """A launch's arguments on the host (CPU) or the device (CUDA): ``(x, times)`` before the step range,
    ``(keys, offset, parameters, scratch, nfe)`` after it; :meth:`synchronize` waits for a launch to
    finish, :meth:`results` brings ``x`` and ``nfe`` back."""

    def __init__(self, plan, x, times, tp, sp, offset, seed):
        key0, key1 = seed_key(seed)
        nfe = np.zeros(x.shape[0], dtype=np.int64)  # per particle, or per block of particles
        scratch = plan.scratch()
        self.on_device = plan.backend == "cuda"
        if self.on_device:
            from numba import cuda

            def to_dev(v):
                return cuda.to_device(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v

            x, times, nfe = (cuda.to_device(a) for a in (x, times, nfe))
            tp, sp = tuple(to_dev(v) for v in tp), tuple(to_dev(v) for v in sp)
            scratch = tuple(cuda.to_device(a) for a in scratch)
        self.x, self.nfe = x, nfe
        self.head = (x, times)
        self.tail = (key0, key1, np.int64(offset), tp, sp, *scratch, nfe)

    def synchronize(self):
        if self.on_device:
            from numba import cuda

            cuda.synchronize()

    def results(self):
        if self.on_device:
            return self.x.copy_to_host(), self.nfe.copy_to_host()
        return self.x, self.nfe


def run_kernel(
    solver,
    target,
    x,
    grid,
    seed: int,
    backend: str = "cpu",
    offset: int = 0,
    progress=None,
    chunk_steps: int | None = None,
):
    """Run the compiled kernel of ``solver``; returns ``(particles, evaluations per particle, seconds)``.

    ``x`` holds particles ``offset .. offset + n - 1`` of the run with ``seed`` at the grid's first time;
    ``chunk_steps`` fixes the steps per launch (default: adapted to :data:`LAUNCH_SECONDS`). The seconds
    exclude compilation. Every particle takes the same steps, so all must report the same evaluation count.
    """
    _check_compiled(solver, target, backend)
    n, d = x.shape
    plan = plan_launch(solver, target, n, d, backend)
    step = solver.kernel_node_step if plan.layout == "nodes" else solver.kernel_step
    run = step_runner(step, backend, getattr(target, "kernel_scores", None), plan.layout)
    if backend == "cuda":
        require_cuda()
        run = run[plan.cuda_grid]
    arrays = _Arrays(
        plan,
        plan.pack(x),
        np.ascontiguousarray(grid.times),
        target.kernel_params(),
        solver.kernel_params(grid, target),
        offset,
        seed,
    )
    with _interrupts_deferred():
        run(*arrays.head, np.int64(0), np.int64(0), *arrays.tail)  # compiles; zero steps change nothing
    if progress is not None:
        progress.start_clock()
    elapsed = _launch_steps(run, arrays, len(grid), progress, chunk_steps)
    x, nfe = arrays.results()
    x = plan.unpack(x)
    check_particles_finite(x, f"after {len(grid)} steps on backend {backend!r}")
    if np.any(nfe != nfe[0]):
        raise RuntimeError("particles disagree on their score-evaluation count")
    return x, int(nfe[0]), elapsed


def _launch_steps(run, arrays, n_steps, progress, chunk_steps):
    """Launch ``run`` over steps ``0 .. n_steps - 1`` in launches of about :data:`LAUNCH_SECONDS` (or of
    ``chunk_steps`` steps); returns the seconds taken."""
    start = time.perf_counter()
    # Python sees Ctrl-C and redraws the bar between launches
    chunk, k0 = chunk_steps or 1, 0
    while k0 < n_steps:
        k1 = min(k0 + chunk, n_steps)
        tick = time.perf_counter()
        run(*arrays.head, np.int64(k0), np.int64(k1), *arrays.tail)
        arrays.synchronize()
        if progress is not None:
            progress.update(k1 - k0)
        if chunk_steps is None:
            chunk = next_launch_steps(chunk, time.perf_counter() - tick)
        k0 = k1
    return time.perf_counter() - start
