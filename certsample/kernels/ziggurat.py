"""The tables of the ziggurat method for standard normals, computed here in multiple precision.

The ziggurat covers the area under ``f(x) = exp(-x^2 / 2)``, ``x >= 0``, by ``n`` pieces of equal area
``v``: layers ``i = 1 .. n - 1``, the rectangles ``[0, x_i] x [f(x_i), f(x_{i+1})]``, and the base ``i = 0``,
the rectangle ``[0, r] x [0, f(r)]`` together with the tail ``{x > r, y < f(x)}``. It is given the
width ``x_0 = v / f(r)`` of a rectangle of the same area, so that the part ``[r, x_0]`` of that rectangle
stands for the tail, whose mass ``int_r^inf f = (x_0 - r) f(r)``. With ``x_1 = r`` the boundaries follow
from ``x_i (f(x_{i+1}) - f(x_i)) = v``, i.e. ``x_{i+1} = f^{-1}(f(x_i) + v / x_i)``, and ``r`` is the root
at which the top layer ``[0, x_{n-1}] x [f(x_{n-1}), 1]`` has area ``v`` too; ``x_n = 0``. The sampler
(:func:`certsample.kernels.philox.ziggurat_candidate` and :func:`~certsample.kernels.philox.ziggurat_resolve`)
uses these tables as double-precision numbers.

:func:`ziggurat_tables` computes them from ``r`` in 40-digit arithmetic (most of a second), and
:func:`write_tables` writes them as hexadecimal doubles to
:mod:`certsample.kernels.ziggurat_data`, which this module reads; the root :data:`ZIGGURAT_R` is stored to 40
digits and :func:`ziggurat_root` recomputes it by bisection. A test recomputes both and compares every bit.

References
----------
.. [1] G. Marsaglia, W. W. Tsang, "The ziggurat method for generating random variables", Journal of
   Statistical Software 5(8), 2000.
.. [2] J. A. Doornik, "An improved ziggurat method to generate normal random samples", University of
   Oxford, 2005.
"""

import mpmath
import numpy as np

from .ziggurat_data import F_HEX, X_HEX

__all__ = ["ZIGGURAT_LAYERS", "ZIGGURAT_R", "ziggurat_root", "ziggurat_tables", "ZIGGURAT_X", "ZIGGURAT_F"]

#: the number of pieces: a layer index takes 9 bits
ZIGGURAT_LAYERS = 512
#: the root ``r = x_1`` for 512 pieces, to 40 digits (:func:`ziggurat_root` recomputes it)
ZIGGURAT_R = "3.852046150368391248117897697222247720778"
_DIGITS = 40


def _f(x):
    return mpmath.exp(-x * x / 2)


def _boundaries(r, layers):
    """``(v, [x_0, x_1 = r, ..., x_{n-1}], top)``: the recursion from ``r``, and the top layer's area minus ``v``
    (``None`` where the recursion leaves the curve before the top: ``r`` too small)."""
    v = r * _f(r) + mpmath.sqrt(mpmath.pi / 2) * mpmath.erfc(r / mpmath.sqrt(2))
    xs = [v / _f(r), r]
    for _ in range(2, layers):
        y = _f(xs[-1]) + v / xs[-1]
        if y >= 1:
            return v, xs, None
        xs.append(mpmath.sqrt(-2 * mpmath.log(y)))
    return v, xs, xs[-1] * (1 - _f(xs[-1])) - v


def ziggurat_root(layers: int = ZIGGURAT_LAYERS, digits: int = _DIGITS) -> str:
    """``r`` for ``layers`` pieces to ``digits`` digits, by bisection on the sign of the top layer's area minus ``v``
    (too small an ``r`` makes the layers too thick: the recursion overshoots ``f = 1`` or the top is too small)."""
    with mpmath.workdps(digits + 10):
        lo, hi = mpmath.mpf(2), mpmath.mpf(6)
        while hi - lo > mpmath.mpf(10) ** -(digits + 2):
            mid = (lo + hi) / 2
            top = _boundaries(mid, layers)[2]
            if top is None or top < 0:
                lo = mid
            else:
                hi = mid
        return mpmath.nstr(hi, digits)


def ziggurat_tables(layers: int = ZIGGURAT_LAYERS, r: str = ZIGGURAT_R):
    """``(x, f)``: float64 arrays of ``layers + 1`` entries, ``x = [x_0, x_1 = r, ..., x_{n-1}, 0]`` and
    ``f[i] = exp(-x_i^2 / 2)`` (``f[0]`` of the base's virtual width, unused), each rounded once from
    40-digit values."""
    with mpmath.workdps(_DIGITS):
        xs = _boundaries(mpmath.mpf(r), layers)[1] + [mpmath.mpf(0)]
        return np.array([float(x) for x in xs]), np.array([float(_f(x)) for x in xs])


#: the boundaries ``x_i`` (``x_0`` the base's virtual width, ``x_n = 0``) and ``f(x_i)``: :func:`ziggurat_tables`
ZIGGURAT_X = np.array([float.fromhex(h) for h in X_HEX])
ZIGGURAT_F = np.array([float.fromhex(h) for h in F_HEX])


def write_tables(path=None):
    """Write :func:`ziggurat_tables` as :mod:`certsample.kernels.ziggurat_data` (hexadecimal doubles)."""
    import os

    x, f = ziggurat_tables()

    def block(name, values):
        lines, line = [], "    "
        for value in values:
            piece = f'"{float(value).hex()}", '
            if len(line) + len(piece) > 119:
                lines.append(line.rstrip())
                line = "    "
            line += piece
        return f"{name} = (\n" + "\n".join(lines + [line.rstrip()]) + "\n)\n"

    header = (
        '"""The ziggurat\'s tables as hexadecimal doubles, from ``ziggurat.write_tables()``.\n\n'
        ":func:`certsample.kernels.ziggurat.ziggurat_tables` computes them (40-digit arithmetic, rounded once);\n"
        "``tests/test_noise.py`` recomputes them and compares every bit. Stored: computed at import, they took\n"
        'most of a second.\n"""\n\n# fmt: off\n'
    )
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "ziggurat_data.py")
    with open(path, "w") as out:
        out.write(header + block("X_HEX", x) + "\n" + block("F_HEX", f) + "# fmt: on\n")
