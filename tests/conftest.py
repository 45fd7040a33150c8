import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_cpu():
    """A CPU for a simulator subprocess: the ``i``-th this process may use for pytest-xdist worker ``gw<i>``."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    return cpus[int(worker) % len(cpus)] if worker.isdigit() else cpus[0]


def run_cuda_simulator(code: str, timeout: int = 600, args=()) -> str:
    """Run ``code`` (with ``args`` as ``sys.argv[1:]``) in a fresh interpreter with the Numba CUDA simulator on,
    pinned to one CPU; return its stdout.

    The simulator must be switched on before numba.cuda is first imported, hence the subprocess. It runs each
    CUDA thread as a Python thread, and its threads hand the interpreter lock back and forth on every device
    call: spread over two idle CPUs that cost more than thirty times the run on one (the enclosure kernel's
    simulator test took 576 s alone, 17 s pinned).
    """
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cpu = one_cpu()
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if hasattr(os, "sched_setaffinity") else None
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=pin,
    )
    if proc.returncode != 0:
        raise AssertionError(f"CUDA simulator run failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def cuda_simulator():
    return run_cuda_simulator
