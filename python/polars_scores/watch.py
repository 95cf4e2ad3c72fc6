"""What a writer watches while Polars runs its query: stop signals, rows done,
the source's first error."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl

from polars_scores.durable import Writeback
from polars_scores.signals import Interrupt

Progress = Callable[[int], None]
"""Called with the number of input rows done so far, after each batch (from
one of Polars' threads, not necessarily the caller's)."""


class Watch:
    """A stop signal, the rows done (reported to `progress`, and to
    `writeback`, which then writes the output so far to disk), and the first
    error of the source."""

    def __init__(
        self, stop: Interrupt, progress: Progress | None, writeback: Writeback | None
    ) -> None:
        self.stop = stop
        self.rows = 0
        self.failures: list[BaseException] = []
        self._progress = progress
        self._writeback = writeback

    def done(self, rows: int) -> None:
        self.rows += rows
        if self._writeback is not None:
            self._writeback.due()
        if self._progress is not None:
            self._progress(self.rows)


def noting_failures(
    batches: Iterator[pl.DataFrame], failures: list[BaseException]
) -> Iterator[pl.DataFrame]:
    """`batches`, noting the error that ends them: Polars re-raises a source's
    error as its own (at some versions), and a writer raises the original."""
    try:
        yield from batches
    except GeneratorExit:
        raise
    except BaseException as error:
        failures.append(error)
        raise
