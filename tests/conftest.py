import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cuda_simulator(code: str, timeout: int = 600) -> str:
    """Run ``code`` in a fresh interpreter with the Numba CUDA simulator on; return its stdout.

    The simulator must be switched on before numba.cuda is first imported, hence the subprocess.
    """
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"CUDA simulator run failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def cuda_simulator():
    return run_cuda_simulator
