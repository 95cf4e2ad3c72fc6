"""The command line's progress: a bar on a terminal, a plain line now and then elsewhere."""

from __future__ import annotations

import math
import time
from typing import TextIO


class ProgressBar:
    """Rows done (of rows total, if known): a bar on a terminal, else a plain
    line now and then. Called with the rows done, as a writer's `progress`."""

    BAR = 30
    TERMINAL_EVERY_S = 0.1
    LOG_EVERY_S = 10.0

    def __init__(
        self, label: str, total: int | None, stream: TextIO, *, quiet: bool = False
    ) -> None:
        self._label = label
        self._total = total
        self._stream = stream
        self._quiet = quiet
        self._terminal = stream.isatty()
        self._start = time.perf_counter()
        self._shown = self._start
        self.done = 0

    def __call__(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        every = self.TERMINAL_EVERY_S if self._terminal else self.LOG_EVERY_S
        if self._quiet or now - self._shown < every:
            return
        self._shown = now
        elapsed = now - self._start
        if self._total is None:
            line = f"{self._label}: {done:,} rows, {elapsed:.0f} s"
            self._stream.write(f"\r{line}\x1b[K" if self._terminal else f"{line}\n")
            self._stream.flush()
            return
        fraction = min(done / self._total, 1.0) if self._total else 1.0
        counts = f"{done:,}/{self._total:,} rows"
        if self._terminal:
            filled = round(fraction * self.BAR)
            bar = "#" * filled + "-" * (self.BAR - filled)
            left = elapsed * (1 - fraction) / fraction if fraction > 0 else math.nan
            eta = f", {left:.0f} s left" if math.isfinite(left) else ""
            line = f"\r{self._label} [{bar}] {fraction:4.0%} {counts} {elapsed:.0f} s{eta}"
            self._stream.write(line + "\x1b[K")
        else:
            self._stream.write(f"{self._label}: {counts} ({fraction:.0%}), {elapsed:.0f} s\n")
        self._stream.flush()

    def finish(self, summary: str) -> None:
        if self._quiet:
            return
        clear = "\r\x1b[K" if self._terminal else ""
        self._stream.write(f"{clear}{summary}\n")
        self._stream.flush()
