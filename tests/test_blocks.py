"""The particle-minor block layout: the block score, its vectorisable exp, and the block drivers."""

import math

import numpy as np
import pytest

import certsample as cs
from certsample.kernels import launch
from certsample.kernels.jit import compile_for
from certsample.kernels.launch import ALIGNMENT, aligned_zeros, from_blocks, to_blocks
from certsample.kernels.loops import solver_node_step, solver_step
from certsample.kernels.runner import step_runner
from certsample.kernels.score import NEGLIGIBLE, exp_nonpositive, expm1_nonpositive, target_score, target_score_at
from tests.test_targets import TARGETS


def test_exp_nonpositive_is_exp_to_two_ulps():
    """Against math.exp on a dense grid of [-88, 0], on the powers-of-two boundaries of the reduction and at 0."""
    kernel = compile_for(exp_nonpositive, "cpu")
    points = np.concatenate(
        [
            np.linspace(-88.0, 0.0, 100001),
            -np.log(2.0) * (np.arange(128) + 0.5),
            [0.0, -0.0, -1e-300, NEGLIGIBLE, -5e-17],
        ]
    )
    worst = max(abs(kernel(v) / math.exp(v) - 1.0) for v in points)
    assert worst <= 4.5e-16, worst
    assert kernel(0.0) == 1.0


def test_expm1_nonpositive_keeps_relative_accuracy_near_zero():
    """Against math.expm1 from -1000 to -1e-300, densely around the switch at -1/2."""
    kernel = compile_for(expm1_nonpositive, "cpu")
    points = np.concatenate([-np.logspace(-300, 3, 20001), np.linspace(-0.6, -0.4, 20001), [-0.5, -88.0, -89.0]])
    worst = max(abs(kernel(v) / math.expm1(v) - 1.0) for v in points)
    assert worst <= 6e-16, worst
    assert kernel(-0.0) == 0.0 and kernel(-1000.0) == -1.0


@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.parametrize("width", [1, 7, 64])
def test_block_score_at_per_lane_times_matches_numpy(name, width):
    """Each column at its own time, from near 0 to past 88 (where the lane's ``a`` is ``e^{-88}``)."""
    target = TARGETS[name]()
    kernel = compile_for(target_score_at, "cpu")
    times = np.resize([0.2, 1e-3, 3.0, 0.7, 95.0, 0.05, 12.0], width)
    x = target.sample(width, 4, t=0.2)
    out = np.zeros((target.dim, width))
    lanes = np.zeros((target.kernel_lane_rows(), width))
    work = np.zeros(target.kernel_work_size())
    kernel(np.ascontiguousarray(x.T), times, target.kernel_params(), out, lanes, work)
    expected = np.array([target.score(x[p : p + 1], times[p])[0] for p in range(width)])
    np.testing.assert_allclose(out.T, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.parametrize("width", [1, 7, 64])
def test_block_score_matches_numpy(name, width):
    """A block of ``width`` particles, one per column, gives the NumPy score column by column."""
    target = TARGETS[name]()
    kernel = compile_for(target_score, "cpu")
    x = target.sample(width, 6, t=0.2)
    out = np.zeros((target.dim, width))
    lanes = np.zeros((target.kernel_lane_rows(), width))
    work = np.zeros(target.kernel_work_size())
    for t in (0.2, 0.01, 3.0):
        kernel(np.ascontiguousarray(x.T), t, target.kernel_params(), out, lanes, work)
        np.testing.assert_allclose(out.T, target.score(x, t), rtol=1e-12, atol=1e-12)


def test_block_score_on_strided_columns_and_far_apart_components():
    """A column view of a wider block (CUDA's per-thread view), with components skipped as negligible."""
    rng = np.random.default_rng(2)
    means = rng.standard_normal((6, 5)) * 6
    target = cs.gaussian_mixture(means, rng.uniform(0.2, 1.0, (6, 5)))
    kernel = compile_for(target_score, "cpu")
    x = np.ascontiguousarray(target.sample(8, 0, t=0.01).T)
    out = np.zeros((5, 8))
    lanes = np.zeros((target.kernel_lane_rows(), 8))
    work = np.zeros(target.kernel_work_size())
    for p in range(8):
        kernel(x[:, p : p + 1], 0.01, target.kernel_params(), out[:, p : p + 1], lanes[:, p : p + 1], work)
    np.testing.assert_allclose(out.T, target.score(x.T, 0.01), rtol=1e-12, atol=1e-12)


def test_aligned_zeros_start_on_a_cache_line():
    for shape in [(3, 2, 64), (1,), (5, 7)]:
        a = aligned_zeros(shape)
        assert a.shape == shape and a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable
        assert a.ctypes.data % ALIGNMENT == 0 and not a.any()
    assert to_blocks(np.ones((70, 2)), 64).ctypes.data % ALIGNMENT == 0


def test_blocks_round_trip_with_padding():
    x = np.arange(23 * 3, dtype=float).reshape(23, 3)
    blocks = to_blocks(x, 8)
    assert blocks.shape == (3, 3, 8) and blocks.flags.c_contiguous
    np.testing.assert_array_equal(blocks[1, :, 2], x[10])
    np.testing.assert_array_equal(blocks[2, :, 7], x[22])  # padding repeats the last particle
    np.testing.assert_array_equal(from_blocks(blocks, 23), x)


@pytest.mark.parametrize("solver", ["euler-maruyama", "randomized-midpoint", "collocation"])
@pytest.mark.parametrize("shared", [False, True], ids=["own-variances", "shared-variances"])
def test_results_do_not_depend_on_the_block_width(solver, shared, monkeypatch):
    """Each particle's arithmetic is its own column's, whatever the block: widths 64 and 5 (padded) agree
    bit for bit, noise included (shared variances: the randomized midpoint's per-lane-time block)."""
    variances = [[0.3, 0.5, 0.2]] * 2 if shared else [[0.3, 0.5, 0.2], [0.6, 0.2, 0.4]]
    target = cs.gaussian_mixture([[1.0, 0.0, 0.5], [-1.0, 0.5, 0.0]], variances)
    kw = dict(n=37, n_steps=5, T=2.0, delta=0.1, backend="cpu", seed=3, progress=False)
    wide = cs.sample(target, solver, **kw)
    monkeypatch.setattr(launch, "CPU_LANES", 5)
    narrow = cs.sample(target, solver, **kw)
    np.testing.assert_array_equal(wide.samples, narrow.samples)
    assert wide.nfe == narrow.nfe


def test_own_variances_widen_the_cpu_block(monkeypatch):
    """A mixture whose components have their own variances runs in blocks of up to four times CPU_LANES while
    every thread keeps a few blocks; the samples are the same bits as in 64-wide blocks."""
    monkeypatch.setattr(launch.numba, "get_num_threads", lambda: 1)
    own = cs.gaussian_mixture([[1.0, 0.0, 0.5], [-1.0, 0.5, 0.0]], [[0.3, 0.5, 0.2], [0.6, 0.2, 0.4]])
    shared = cs.gaussian_mixture([[1.0, 0.0, 0.5], [-1.0, 0.5, 0.0]], [[0.3, 0.5, 0.2]] * 2)
    assert [launch.cpu_block_width(own, n) for n in (100, 600, 2100, 10**6)] == [64, 128, 256, 256]
    assert launch.cpu_block_width(shared, 10**6) == 64
    # high dimensions keep the L1-sized block (and the per-slot scratch the memory estimate assumes)
    rng = np.random.default_rng(0)
    for d, widest in ((64, 256), (256, 256), (512, 128), (2048, 64)):
        wide_target = cs.gaussian_mixture(rng.standard_normal((2, d)), rng.uniform(0.2, 1.0, (2, d)))
        assert launch.cpu_block_width(wide_target, 10**7) == widest
    kw = dict(n=2100, n_steps=3, T=2.0, delta=0.1, backend="cpu", seed=5, progress=False)
    wide = cs.sample(own, "euler-maruyama", **kw)
    monkeypatch.setattr(launch, "CPU_WIDE_LANES_FACTOR", 1)
    np.testing.assert_array_equal(wide.samples, cs.sample(own, "euler-maruyama", **kw).samples)


def test_a_block_step_rejects_an_unknown_layout():
    with pytest.raises(ValueError, match="unknown kernel layout 'rows'"):
        step_runner(solver_step, "cpu", layout="rows")
    with pytest.raises(ValueError, match="runs on backend 'cuda' only"):
        step_runner(solver_node_step, "cpu", layout="nodes")


@pytest.mark.parametrize("n_comp, dim", [(5, 7), (16, 64), (9, 4)])
def test_components_block_score_any_width_same_bits(n_comp, dim):
    """Per-component variances (:mod:`certsample.kernels.components`): K and d off the passes' multiples of 4
    and 8, far-apart components (weights that are exactly zero), the NumPy score to 1e-12, and each column
    of a 64-wide block bit for bit the same as that particle alone or in a block of 5."""
    rng = np.random.default_rng(n_comp + dim)
    target = cs.gaussian_mixture(
        rng.standard_normal((n_comp, dim)) * 3, rng.uniform(0.05, 2.0, (n_comp, dim)), rng.uniform(0.1, 1.0, n_comp)
    )
    kernel = compile_for(target_score, "cpu")
    x = np.ascontiguousarray(target.sample(64, 1, t=0.3).T)

    def score(block, t):
        out = np.zeros_like(block)
        lanes = aligned_zeros((target.kernel_lane_rows(), block.shape[1]))
        kernel(np.ascontiguousarray(block), t, target.kernel_params(), out, lanes, np.zeros(target.kernel_work_size()))
        return out

    for t in (1e-3, 0.3, 4.0):
        wide = score(x, t)
        np.testing.assert_allclose(wide.T, target.score(x.T, t), rtol=1e-12, atol=1e-12)
        for p in (0, 13, 63):
            np.testing.assert_array_equal(score(x[:, p : p + 1], t)[:, 0], wide[:, p])
        np.testing.assert_array_equal(score(x[:, 5:10], t), wide[:, 5:10])
