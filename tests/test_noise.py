import numpy as np
import pytest

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
