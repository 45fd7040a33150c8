"""Reproduce the scalings the theorems predict: fitted exponents with 95% intervals, covering constants, PNGs.

Runs every study of :mod:`certsample.reproduce` (about 20 s in all on one core) and writes
``reproduce_<theorem>.png`` into the output directory (default: the current one)::

    python examples/reproduce_theorems.py [OUTDIR] [--quick]

The same for one theorem from the shell: ``certsample reproduce collocation --png collocation.png``.
"""

import sys
from pathlib import Path

from certsample.reproduce import STUDIES, reproduce


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    paths = [a for a in argv if not a.startswith("--")]
    outdir = Path(paths[0] if paths else ".")
    outdir.mkdir(parents=True, exist_ok=True)
    for name in sorted(STUDIES):
        result = reproduce(name, quick=quick)
        print(result.report(), "\n")
        result.plot(outdir / f"reproduce_{name}.png")
    print(f"plots in {outdir.resolve()}")


if __name__ == "__main__":
    main()
