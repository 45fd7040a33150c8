"""Progress bars for long runs: tqdm on stderr, with a clock that starts after compilation."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    """``with Progress(total, "sampling") as bar: bar.update(k)``, a thin wrapper around :class:`tqdm.tqdm`.

    ``enabled='auto'`` shows the bar only when stderr is a terminal, so logs and CI stay clean.
    :meth:`start_clock` restarts the elapsed time and ETA, the first time it is called: callers call
    it once the kernels are compiled, so neither counts compilation.
    """

    def __init__(self, total: int, desc: str = "", enabled="auto", stream=None):
        stream = stream or sys.stderr
        if enabled == "auto":
            enabled = hasattr(stream, "isatty") and stream.isatty()
        self.total = max(int(total), 1)
        self._clock_started = False
        self._bar = tqdm(
            total=self.total,
            desc=desc,
            file=stream,
            disable=not enabled,
            mininterval=0.1,
            leave=True,
            dynamic_ncols=True,
        )

    @property
    def done(self) -> int:
        return int(self._bar.n)

    def __enter__(self):
        return self

    def start_clock(self):
        if not self._clock_started:
            self._clock_started = True
            self._bar.reset(total=self.total)

    def update(self, n: int = 1):
        self._bar.update(n)

    def __exit__(self, *exc):
        self._bar.close()
