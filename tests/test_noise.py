import math

import numpy as np
import pytest

from certsample.kernels.elementary import power_of_half, reduce_unit
from certsample.kernels.jit import compile_for, device_function
from certsample.kernels.philox import NOISE_LANE_ROWS, SLOT_BROWNIAN, fast_bound, fill_block_normals, philox4x32
from certsample.kernels.score import target_score
from certsample.noise import NoiseSource, seed_key


def test_philox_known_answers():
    """Random123's published known-answer vectors for Philox4x32-10."""
    u = np.uint64
    zero = philox4x32(u(0), u(0), u(0), u(0), u(0), u(0))
    assert [int(v) for v in zero] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    ones = [u(0xFFFFFFFF)] * 6
    assert [int(v) for v in philox4x32(*ones)] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    pi = [u(0x243F6A88), u(0x85A308D3), u(0x13198A2E), u(0x03707344), u(0xA4093822), u(0x299F31D0)]
    compiled = compile_for(philox4x32, "cpu")
    assert [int(v) for v in compiled(*pi)] == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_noise_is_independent_of_batching():
    full = NoiseSource(7, np.arange(10), 5).normal(3, 0)
    part = NoiseSource(7, np.arange(4, 10), 5).normal(3, 0)
    np.testing.assert_array_equal(full[4:], part)
    shuffled = NoiseSource(7, np.array([9, 2]), 5).normal(3, 0)
    np.testing.assert_array_equal(shuffled, full[[9, 2]])


def test_streams_differ_and_look_standard_normal():
    source = NoiseSource(1, np.arange(20000), 3)
    a, b = source.normal(0, 0), source.normal(0, 1)
    assert not np.allclose(a, b)
    for z in (a, b):
        # mean and variance within ~5 standard errors of N(0, 1)
        assert abs(z.mean()) < 5 / np.sqrt(z.size)
        assert abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)
        assert abs(np.mean(z**4) - 3) < 0.15
    assert abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]) < 0.04
    u = source.uniform(0, 2)
    assert u.min() > 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


def test_seed_validation():
    assert seed_key(2**40 + 5) == (np.uint64(5), np.uint64(2**8))
    for bad in (-1, 2**64, 1.5, "3"):
        with pytest.raises(ValueError, match="seed"):
            seed_key(bad)


def test_log_unit_against_mpmath():
    """The straight-line log of the ziggurat's tail draws, within 2 ulps of correctly rounded values on random,
    tiny and boundary arguments (the reduction's powers of two)."""
    import math

    import mpmath

    from certsample.kernels.elementary import log_unit

    log_kernel = compile_for(log_unit, "cpu")
    rng = np.random.default_rng(0)
    units = np.concatenate(
        [
            rng.random(3000),
            2.0 ** -rng.uniform(0, 54, 3000),
            1 - 2.0 ** -rng.uniform(1, 53, 500),
            [2.0**-54, 2.0**-53, 0.5, 1 - 2.0**-53, math.sqrt(0.5), math.sqrt(0.5) * (1 + 2.0**-52)],
        ]
    )
    with mpmath.workprec(120):
        assert log_kernel(1.0) == 0.0
        for u in units:
            exact = mpmath.log(mpmath.mpf(u))
            assert abs(mpmath.mpf(log_kernel(u)) - exact) <= 2 * 2.0**-52 * abs(exact), u


@pytest.mark.parametrize("dim", [1, 6, 7, 8, 64])
def test_block_normals_are_the_numpy_twins_bit_for_bit(dim):
    """``fill_block_normals`` (vectorised across a block's particles) draws exactly ``NoiseSource.normal``'s
    numbers, odd dimensions and a partial last draw included, for a block that starts at any particle: with
    scratch for the listed slow path, with scratch too small for all of it (then resolved in place), and with too
    little to list any."""
    from certsample.kernels.philox import fill_block_normals

    fill = compile_for(fill_block_normals, "cpu")
    key0, key1 = seed_key(2**33 + 11)
    for first, width in ((0, 64), (1000, 13), (2**32 - 3, 5), (77, 256)):  # the third wraps the particle word
        twin = NoiseSource(2**33 + 11, np.arange(first, first + width, dtype=np.uint64), dim).normal(4, 2)
        for columns in (width + 8, width + 9, width, 8):
            block, pending = np.zeros((dim, width)), np.full((2, max(columns, width)), np.nan)
            fill(block, pending, key0, key1, np.uint64(first), np.uint64(4), np.uint64(2))
            np.testing.assert_array_equal(block.T, twin)


def _reduce_natively(u):
    return reduce_unit(u)


def test_reduce_unit_from_the_bits_is_the_six_selects():
    """The CPU build of ``reduce_unit`` (an LLVM intrinsic on the bits) gives the ``(m, e)`` of the selects that
    CUDA runs, bit for bit: powers of two, ``sqrt(2)`` neighbours, the ends of the range, random units."""
    import math

    from certsample.kernels.jit import device_function

    selects = compile_for(reduce_unit, "cpu")  # compiles the Python body itself
    native = compile_for(device_function(_reduce_natively), "cpu")  # a caller gets the intrinsic
    rng = np.random.default_rng(1)
    root = math.sqrt(0.5)
    units = np.concatenate(
        [
            rng.random(2000),
            2.0 ** -rng.uniform(0, 60, 2000),
            2.0 ** -np.arange(61),
            [np.nextafter(root * 2.0**-j, 0.0) for j in range(60)],
            [root * 2.0**-j for j in range(60)],
            [np.nextafter(root * 2.0**-j, 1.0) for j in range(60)],
            [1 - 2.0**-53, 2.0**-60],
        ]
    )
    for u in units:
        m, e = native(u)
        assert (m, e) == selects(u), u
        assert math.sqrt(0.5) <= m < math.sqrt(2) and m * 2.0**-e == u


def _half_natively(m):
    return power_of_half(m)


def test_power_of_half_from_the_bits_is_the_table():
    """``exp_nonpositive``'s ``2^-m``: the CPU's bits and the table that CUDA reads agree for every ``m``."""
    from certsample.kernels.jit import device_function

    table = compile_for(power_of_half, "cpu")
    native = compile_for(device_function(_half_natively), "cpu")
    for m in range(128):
        assert native(float(m)) == table(float(m)) == 2.0**-m


def test_a_million_normals_pass_moment_ks_chi_square_and_tail_tests():
    """One million draws (125000 particles x 8 coordinates, one seed, step and slot) against the exact normal law:
    the first four moments within five standard errors, Kolmogorov-Smirnov against the normal CDF and a chi-square
    on 200 equiprobable cells (p-values above 1e-4), and the counts beyond 3.5 and 4.5 standard deviations and in
    each one-sided tail beyond 3 against their binomial laws (p-values above 1e-5). A generator with a wrong
    variance (1% off fails the Kolmogorov-Smirnov test), a skew, a coarse lattice or a tail cut short of 3.5 fails
    these."""
    from scipy import stats

    z = NoiseSource(2024, np.arange(125_000), 8).normal(17, 0).ravel()
    n = z.size
    # moments of N(0, 1): 0, 1, 0, 3; the variances of z, z^2, z^3, z^4: 1, 2, 15, 96
    for got, exact, variance in (
        (z.mean(), 0, 1),
        (np.mean(z**2), 1, 2),
        (np.mean(z**3), 0, 15),
        (np.mean(z**4), 3, 96),
    ):
        assert abs(got - exact) < 5 * np.sqrt(variance / n), (got, exact)
    assert stats.kstest(z, stats.norm.cdf).pvalue > 1e-4
    cells = np.searchsorted(stats.norm.ppf(np.arange(1, 200) / 200), z)
    assert stats.chisquare(np.bincount(cells, minlength=200)).pvalue > 1e-4
    for count, probability in (
        (np.sum(np.abs(z) > 3.5), 2 * stats.norm.sf(3.5)),
        (np.sum(np.abs(z) > 4.5), 2 * stats.norm.sf(4.5)),
        (np.sum(z > 3), stats.norm.sf(3)),
        (np.sum(z < -3), stats.norm.sf(3)),
    ):
        assert stats.binomtest(int(count), n, probability).pvalue > 1e-5, (count, probability * n)


def test_ziggurat_tables_recomputed(tmp_path):
    """The stored root ``r`` is the bisection's to its 40 digits, the stored tables are the recursion's from it (and
    ``write_tables`` writes the stored file again), every piece has the area ``v`` (the base's virtual rectangle
    too) and the boundaries decrease to 0."""
    import math

    import mpmath

    from certsample.kernels import ziggurat_data
    from certsample.kernels.ziggurat import (
        ZIGGURAT_F,
        ZIGGURAT_LAYERS,
        ZIGGURAT_R,
        ZIGGURAT_X,
        write_tables,
        ziggurat_root,
        ziggurat_tables,
    )

    write_tables(tmp_path / "data.py")
    with open(ziggurat_data.__file__) as stored:
        assert (tmp_path / "data.py").read_text() == stored.read()

    root = ziggurat_root()
    assert abs(mpmath.mpf(root) - mpmath.mpf(ZIGGURAT_R)) < mpmath.mpf(10) ** -38
    x, f = ziggurat_tables(r=root)
    np.testing.assert_array_equal(x, ZIGGURAT_X)
    np.testing.assert_array_equal(f, ZIGGURAT_F)
    assert x.size == ZIGGURAT_LAYERS + 1 and x[-1] == 0 and np.all(np.diff(x) < 0)
    r = x[1]
    v = r * np.exp(-r * r / 2) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))
    areas = np.concatenate([[x[0] * f[1]], x[1:-1] * (f[2:] - f[1:-1])])
    np.testing.assert_allclose(areas, v, rtol=1e-12)


def test_fast_path_bounds_are_the_products_threshold():
    """``k < K_i`` exactly where ``fl(k w'_i) < x_{i+1}`` (the test the ziggurat's core asks for, in floating
    point), ``w'_i`` the width with ``K_i`` in the low 22 bits of its mantissa: the bound's product reaches
    ``x_{i+1}`` and the one below does not, for both signs; the widths moved by at most ``2^-30`` relatively; and
    the bounds table that CUDA reads holds the widths' low bits."""
    from certsample.kernels.philox import FAST_BELOW, SIGNED_WIDTH, UNIFORM_BITS, ZIGGURAT_WIDTH
    from certsample.kernels.ziggurat import ZIGGURAT_X

    width, above = ZIGGURAT_WIDTH[:-1], ZIGGURAT_X[1:]
    for half, sign in ((slice(0, 512), 1.0), (slice(512, 1024), -1.0)):
        packed = sign * SIGNED_WIDTH[half]
        bound = FAST_BELOW[half].astype(np.int64)
        np.testing.assert_array_equal(packed.view(np.uint64) & np.uint64(2**UNIFORM_BITS - 1), FAST_BELOW[half])
        assert np.all(bound.astype(np.float64) * packed >= above)
        assert np.all((bound == 0) | ((bound - 1).astype(np.float64) * packed < above))
        assert np.all(bound < 2**UNIFORM_BITS) and bound[-1] == 0  # the top layer has no core
        assert np.all(np.abs(packed - width) <= 2.0**-30 * width)
    assert 1 - np.mean(FAST_BELOW[:512] / 2.0**UNIFORM_BITS) < 0.0081  # the fast path's rejection rate


def _bound_natively(width, index):
    return fast_bound(width, index)


def test_fast_bound_from_the_bits_is_the_table():
    """The fast path's bound: the CPU reads it off the width's low bits, CUDA from its own table; the same number
    for all 1024 signs and layers."""
    from certsample.kernels.philox import FAST_BELOW, SIGNED_WIDTH

    table = compile_for(fast_bound, "cpu")
    native = compile_for(device_function(_bound_natively), "cpu")
    for index in range(1024):
        i = np.uint64(index)
        assert native(SIGNED_WIDTH[index], i) == table(SIGNED_WIDTH[index], i) == FAST_BELOW[index]


def test_slow_path_runs_at_its_rate_and_gives_the_tails():
    """In a million draws the fast path rejects at the tables' rate ``1 - mean(K_i / 2^22)`` (so the slow path
    runs, a binomial test), every rejection is resolved to a finite number, and the draws beyond ``r`` (only the
    slow path's tail gives those) come at the normal law's rate ``2 Phi(-r)``."""
    from scipy import stats

    from certsample.kernels.philox import FAST_BELOW, philox4x32, ziggurat_candidate
    from certsample.kernels.ziggurat import ZIGGURAT_X

    particles, dim = 125_000, 9
    z = NoiseSource(99, np.arange(particles), dim).normal(5, 1)
    candidate = compile_for(ziggurat_candidate, "cpu")
    philox = compile_for(philox4x32, "cpu")
    key0, key1 = seed_key(99)
    rejected = 0
    for p in range(0, particles, 50):  # every 50th particle: 2500 x 9 fast-path candidates recomputed
        for g in range(3):
            words = philox(np.uint64(5), np.uint64(p), np.uint64(1), np.uint64(g), key0, key1)
            for j, word in enumerate(words[: min(4, dim - 4 * g)]):
                c = candidate(word)
                if np.isnan(c):
                    rejected += 1
                else:
                    assert c == z[p, 4 * g + j]
    rate = 1 - np.mean(FAST_BELOW[:512] / 2.0**22)
    assert rejected > 0 and stats.binomtest(rejected, 2500 * 9, rate).pvalue > 1e-5, (rejected, rate * 22500)
    assert np.all(np.isfinite(z))
    r = ZIGGURAT_X[1]
    beyond = int(np.sum(np.abs(z) > r))
    assert beyond > 0 and stats.binomtest(beyond, z.size, 2 * stats.norm.sf(r)).pvalue > 1e-5, beyond


def test_cuda_simulator_draws_the_same_normals(tmp_path):
    """Under the CUDA simulator, ``fill_normals`` per thread and ``fill_block_normals`` on one-column blocks (the
    CUDA layout: every rejection resolved in place) give the CPU twin's numbers bit for bit, slow path included
    (200 particles x 31 coordinates hold about 50 rejections)."""
    from conftest import run_cuda_simulator

    out = tmp_path / "cuda.npy"
    run_cuda_simulator(f"""
        import numpy as np
        from numba import cuda
        from certsample.kernels.jit import compile_for
        from certsample.kernels.philox import fill_block_normals, fill_normals

        particle_fill = compile_for(fill_normals, "cuda-device")
        block_fill = compile_for(fill_block_normals, "cuda-device")

        @cuda.jit
        def draw(out, blocks, pending, key0, key1):
            p = cuda.grid(1)
            if p < out.shape[0]:
                particle_fill(out[p], key0, key1, np.uint64(p), np.uint64(6), np.uint64(3))
                block_fill(blocks[p], pending[p], key0, key1, np.uint64(p), np.uint64(6), np.uint64(3))

        n, d = 200, 31
        out, blocks, pending = np.zeros((n, d)), np.zeros((n, d, 1)), np.zeros((n, 2, 1))
        draw[4, 64](out, blocks, pending, np.uint64(17), np.uint64(1))
        np.save({str(out)!r}, np.stack([out, blocks[:, :, 0]]))
    """)
    cuda_particle, cuda_block = np.load(out)
    twin = NoiseSource(17 + 2**32, np.arange(200), 31).normal(6, 3)
    np.testing.assert_array_equal(cuda_particle, twin)
    np.testing.assert_array_equal(cuda_block, twin)


@device_function
def _em_adding_the_block(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork):
    """Euler-Maruyama's step as it was: the whole noise block drawn, then added."""
    score, xi = work[0], work[1]
    target_score(x, t, target_params, score, lanes[NOISE_LANE_ROWS:], swork)
    fill_block_normals(xi, lanes[:NOISE_LANE_ROWS], key0, key1, first, np.uint64(k), SLOT_BROWNIAN)
    diffusion = math.sqrt(2.0 * h)
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = x[i, p] + h * (x[i, p] + 2.0 * score[i, p]) + diffusion * xi[i, p]
    return 1


@device_function
def _ei_adding_the_block(x, t, h, k, first, key0, key1, target_params, solver_params, work, lanes, swork):
    """The exponential SDE's step as it was: the whole noise block drawn, then added."""
    score, xi = work[0], work[1]
    target_score(x, t, target_params, score, lanes[NOISE_LANE_ROWS:], swork)
    fill_block_normals(xi, lanes[:NOISE_LANE_ROWS], key0, key1, first, np.uint64(k), SLOT_BROWNIAN)
    growth, gain, diffusion = math.exp(h), 2.0 * math.expm1(h), math.sqrt(math.expm1(2.0 * h))
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = growth * x[i, p] + gain * score[i, p] + diffusion * xi[i, p]
    return 1


@pytest.mark.parametrize("dim", [2, 7, 100])
def test_steps_adding_the_noise_four_rows_at_a_time_are_bit_identical(dim):
    """Euler-Maruyama and the exponential SDE add each draw's rows at once and the slow path's normals later
    (a rejection's NaN taken as -0): the same samples to the bit as drawing the whole block and adding it,
    here with about 30 (d = 2), 100 (d = 7) and 1400 (d = 100: the list, half full, is added mid-step) rejections
    over the run."""
    import certsample as cs
    from certsample.solvers.euler_maruyama import EulerMaruyama
    from certsample.solvers.exponential_sde import ExponentialSDE

    target = cs.gaussian_mixture(
        [np.linspace(-1, 1, dim), np.linspace(1, -0.5, dim)], [np.full(dim, 0.3), np.linspace(0.2, 0.6, dim)]
    )
    for solver, reference_step in ((EulerMaruyama, _em_adding_the_block), (ExponentialSDE, _ei_adding_the_block)):
        reference = type("Reference", (solver,), {"kernel_step": staticmethod(reference_step)})()
        kw = dict(n=300, n_steps=6, T=3.0, delta=1e-2, backend="cpu", seed=5, progress=False)
        fused = cs.sample(target, solver(), **kw).samples
        np.testing.assert_array_equal(fused, cs.sample(target, reference, **kw).samples)


def test_unit_open_stays_below_one():
    from certsample.kernels.philox import unit_open

    top = unit_open(np.uint64(0xFFFFFFFF), np.uint64(0xFFFFFFFF))  # (2^53 - 1/2) 2^-53 rounds to 1
    assert 0 < unit_open(np.uint64(0), np.uint64(0)) and top < 1.0 and top == np.nextafter(1.0, 0.0)
