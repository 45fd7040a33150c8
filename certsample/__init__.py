"""certsample: diffusion-model samplers whose accuracy is certified against their theorems."""

# first: the CPU kernels' vector width is set before anything is compiled (kernels.jit.prefer_512_bit_vectors)
from .kernels import jit as _jit  # noqa: F401  # isort: skip
from . import forward, metrics, targets
from .compiled_score import CompiledScore, compiled_score
from .forward import TimeGrid, exponential_grid, make_grid, uniform_grid
from .integrate import SampleResult, initial_particles, sample
from .langevin import sample_logconcave, sample_logconcave_tv, sample_tv, tv_postprocess
from .oracle import PerturbedOracle, ScoreError, ScoreOracle, as_oracle
from .processes import VEProcess, VPProcess, score_from_model
from .solvers import SOLVERS, get_solver
from .targets import embed, gaussian, gaussian_mixture, make_target, point_cloud, ring_mixture

__version__ = "0.1.0"

__all__ = [
    "sample",
    "sample_logconcave",
    "sample_logconcave_tv",
    "sample_tv",
    "tv_postprocess",
    "SampleResult",
    "initial_particles",
    "ScoreOracle",
    "PerturbedOracle",
    "ScoreError",
    "as_oracle",
    "SOLVERS",
    "get_solver",
    "TimeGrid",
    "make_grid",
    "uniform_grid",
    "exponential_grid",
    "gaussian",
    "gaussian_mixture",
    "point_cloud",
    "embed",
    "ring_mixture",
    "make_target",
    "forward",
    "metrics",
    "targets",
    "VPProcess",
    "VEProcess",
    "score_from_model",
    "compiled_score",
    "CompiledScore",
]
