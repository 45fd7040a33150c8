"""Every CUDA kernel compiled to PTX by the real CUDA toolchain (NVVM), without a GPU.

The CUDA simulator runs the kernels as Python, so it cannot catch what only the CUDA target
rejects (an unsupported call or type in a device function). Here each solver's launch is stopped
at its first call and its kernel compiled for compute capability 9.0 with the argument types of
that call. The test extra installs NVVM and NVRTC on Linux (``nvidia-nvvm``, ``nvidia-cuda-nvrtc``; no
driver or GPU needed); skipped where they are missing. NVVM's optimiser is left out (``opt=False``): what the CUDA
target rejects fails in Numba's lowering or NVVM's verifier, which run either way, and the optimised build took
minutes per kernel on the CI machine (five for the enclosure kernel).
"""

import types

import numba
import pytest
from numba import cuda
from numba.cuda import dispatcher as cuda_dispatcher

import certsample as cs
from certsample.kernels import launch, runner
from certsample.solvers.collocation import Collocation
from certsample.solvers.parallel_midpoint import ParallelRandomizedMidpoint


def _toolchain_missing():
    try:
        cuda.compile_ptx(lambda a: None, "(float64[:],)", cc=(9, 0))
    except Exception as error:  # noqa: BLE001 - any failure to find or load the toolchain
        return f"{type(error).__name__}: {error}"[:200]
    return None


MISSING = _toolchain_missing() if not numba.config.ENABLE_CUDASIM else "the CUDA simulator is on"
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"no CUDA toolchain: {MISSING}")


class _Compiled(Exception):
    pass


class _Launcher:
    """Stands for ``kernel[grid, block]``: compiles the kernel for the types of its first call."""

    def __init__(self, kernel):
        self.kernel = kernel

    def __getitem__(self, config):
        return self

    def __call__(self, *args):
        signature = tuple(numba.typeof(a) for a in args)
        ptx, _ = cuda.compile_ptx(self.kernel.py_func, signature, cc=(9, 0), opt=False)
        raise _Compiled(self.kernel.py_func.__name__, ptx)


SOLVERS = {
    "exponential-ode": lambda: "exponential-ode",
    "euler-maruyama": lambda: "euler-maruyama",
    "exponential-sde": lambda: "exponential-sde",
    "randomized-midpoint": lambda: "randomized-midpoint",
    "collocation": lambda: Collocation(3, 2),
    "collocation-pipelined": lambda: Collocation(3, 2, warm_start=True, pipeline=True),
    "parallel-midpoint": lambda: ParallelRandomizedMidpoint(R=3, K=1),
    "predictor-corrector": lambda: "predictor-corrector",
}


@pytest.mark.parametrize("nodes", [False, True], ids=["thread-per-particle", "threads-per-node"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared-variances", "own-variances"])
@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_cuda_kernel_compiles_to_ptx(name, shared, nodes, monkeypatch):
    solver = SOLVERS[name]()
    solver = cs.get_solver(solver) if isinstance(solver, str) else solver
    if nodes and not getattr(solver, "kernel_node_threads", 0):
        pytest.skip("one thread per particle only")
    variances = [[0.3, 0.5]] * 2 if shared else [[0.3, 0.5], [0.6, 0.2]]
    target = cs.gaussian_mixture([[1.0, 0.0], [-1.0, 0.5]], variances)
    # device functions are compiled for the current device's compute capability: say 9.0 (an H100)
    monkeypatch.setattr(cuda_dispatcher, "get_current_device", lambda: types.SimpleNamespace(compute_capability=(9, 0)))
    monkeypatch.setattr(runner, "require_cuda", lambda: None)
    monkeypatch.setattr(cuda, "to_device", lambda a: a)
    monkeypatch.setattr(launch, "CUDA_MAX_THREADS", 2**18 if nodes else 8)
    real_runner = runner.step_runner
    monkeypatch.setattr(runner, "step_runner", lambda *args, **kw: _Launcher(real_runner(*args, **kw)))
    with pytest.raises(_Compiled) as compiled:
        cs.sample(target, solver, n=16, n_steps=2, T=1.0, delta=0.1, backend="cuda", progress=False)
    kernel, ptx = compiled.value.args
    assert kernel == (
        "cuda_run_nodes" if nodes else "cuda_run_blocks" if solver.kernel_layout == "block" else "cuda_run_steps"
    )
    assert ".entry" in ptx and (("bar.sync" in ptx) == nodes)  # the barriers are syncthreads on CUDA only
