"""Progress bars (tqdm) and interruption: Ctrl-C stops a long compiled run within about a second."""

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from certsample.kernels.runner import LAUNCH_SECONDS, _interrupts_deferred, next_launch_steps
from certsample.progress import Progress
from tests.conftest import ROOT


def test_bar_counts_and_restarts_its_clock():
    stream = io.StringIO()
    with Progress(10, "demo", enabled=True, stream=stream) as bar:
        bar.update(3)
        bar.start_clock()  # as after compilation: counts and elapsed time start again
        assert bar.done == 0
        bar.update(10)
        assert bar.done == 10
    assert "demo" in stream.getvalue() and "10/10" in stream.getvalue()
    silent = io.StringIO()
    with Progress(5, "quiet", enabled="auto", stream=silent) as bar:  # not a terminal: nothing drawn
        bar.update(5)
    assert silent.getvalue() == ""


def test_launches_aim_at_a_fraction_of_a_second():
    assert next_launch_steps(1, 1e-4) == 2  # grows at most twofold
    assert next_launch_steps(64, 64 * LAUNCH_SECONDS) == 1  # a slow step: one step per launch
    assert next_launch_steps(100, 4 * LAUNCH_SECONDS) == 25
    assert next_launch_steps(100, LAUNCH_SECONDS) == 100


def test_ctrl_c_during_compilation_is_raised_after_it():
    """llvmlite's ctypes callbacks drop exceptions, so a Ctrl-C during a compile is held, not lost."""
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with _interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here; the block goes on
            finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_stops_a_long_compiled_run():
    """The run would take minutes; SIGINT ends it between two short launches (seconds, measured 1-2 s)."""
    code = (
        "import certsample as cs, sys\n"
        "cs.sample(cs.ring_mixture(), 'exponential-ode', n=2000, n_steps=1, backend='cpu', progress=False)\n"
        "print('ready', flush=True)\n"
        "cs.sample(cs.ring_mixture(), 'collocation', n=200000, n_steps=400, backend='cpu', progress=False)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(6)  # compiled and well into the long run
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)  # the whole run is several minutes; each launch is about LAUNCH_SECONDS
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr.read()
