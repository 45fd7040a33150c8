"""A dependency-free progress bar for long runs (stderr, redrawn at most 10 times a second)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "sampling") as bar: bar.update(k)``.

    ``enabled='auto'`` shows the bar only when stderr is a terminal, so logs and CI stay clean.
    """

    def __init__(self, total: int, desc: str = "", enabled="auto", stream=None):
        self.stream = stream or sys.stderr
        if enabled == "auto":
            enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = bool(enabled)
        self.total, self.desc, self.done = max(int(total), 1), desc, 0
        self._start = self._last = time.perf_counter()

    def __enter__(self):
        return self

    def update(self, n: int = 1):
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now):
        frac = min(self.done / self.total, 1.0)
        elapsed = now - self._start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        self.stream.write(f"\r{self.desc} [{bar}] {self.done}/{self.total} "
                          f"{elapsed:6.1f}s eta {eta:5.1f}s")
        self.stream.flush()

    def __exit__(self, *exc):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
