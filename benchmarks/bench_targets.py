"""The benchmarks' own targets beside the built-in ones, defined once so that every script (and every figure in
docs/performance.md that names them) means the same problem."""

import numpy as np


def mixture64():
    """The 64-d mixture of 16 components with their own variance in every coordinate: means ``2 N(0, 1)``,
    variances uniform on ``[0.2, 1]``, equal weights (NumPy's generator seeded 0)."""
    import certsample as cs

    rng = np.random.default_rng(0)
    return cs.gaussian_mixture(rng.standard_normal((16, 64)) * 2, rng.uniform(0.2, 1.0, (16, 64)))
