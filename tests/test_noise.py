import numpy as np
import pytest

from certsample.kernels.elementary import power_of_half, reduce_unit
from certsample.kernels.jit import compile_for
from certsample.kernels.philox import philox4x32
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


def test_log_unit_and_sincos_turn_against_mpmath():
    """The straight-line log and sine/cosine of the normal draws, within 2 ulps of correctly rounded values
    on random, tiny and boundary arguments (the reduction's powers of two and quadrants)."""
    import math

    import mpmath

    from certsample.kernels.elementary import log_unit, sincos_turn

    log_kernel, sincos_kernel = compile_for(log_unit, "cpu"), compile_for(sincos_turn, "cpu")
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
        for u in np.concatenate([rng.random(3000), np.arange(17) / 16, [1e-300, 0.125 - 2.0**-55]]):
            angle = 2 * mpmath.pi * mpmath.mpf(u)
            cos_u, sin_u = sincos_kernel(u)
            for got, exact in ((cos_u, mpmath.cos(angle)), (sin_u, mpmath.sin(angle))):
                assert abs(mpmath.mpf(got) - exact) <= 2 * 2.0**-52 * max(abs(exact), mpmath.mpf(2.0**-60)), u


@pytest.mark.parametrize("dim", [1, 6, 7])
def test_block_normals_are_the_numpy_twins_bit_for_bit(dim):
    """``fill_block_normals`` (vectorised across a block's particles) draws exactly ``NoiseSource.normal``'s
    numbers, odd dimensions included, for a block that starts at any particle."""
    from certsample.kernels.philox import fill_block_normals

    fill = compile_for(fill_block_normals, "cpu")
    key0, key1 = seed_key(2**33 + 11)
    for first, width in ((0, 64), (1000, 13), (2**32 - 3, 5)):  # the last wraps the particle word
        block = np.zeros((dim, width))
        fill(block, key0, key1, np.uint64(first), np.uint64(4), np.uint64(2))
        twin = NoiseSource(2**33 + 11, np.arange(first, first + width, dtype=np.uint64), dim).normal(4, 2)
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
