"""Scores and totals of data larger than memory, written to parquet.

Polars' streaming engine gathers the whole input of a non-elementwise plugin
such as the rolling score, so :func:`score_to_parquet` drives the scan
itself: it reads the input in order, batch by batch, scores each batch with a
:class:`~polars_scores.stateful.RollingScorer` (which carries each key's
state) and hands the scored batches to Polars' own parquet sink. Memory holds
a few batches and one float per key, whatever the row count.

Both writers put the result in a temporary file beside the output and rename
it into place only when everything succeeded: an error or an interrupt never
leaves a partial output nor touches an existing one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, get_args

import polars as pl
from polars.io.plugins import register_io_source

from polars_scores._plugin import finite
from polars_scores.namespace import col
from polars_scores.stateful import RollingScorer, check_columns, key_names

DEFAULT_BATCH_ROWS = 1_000_000
"""Rows per batch: large enough that each batch's per-key bookkeeping is
cheap next to reading it, small enough that a few batches fit in ~100 MB."""

Compression = Literal["zstd", "lz4", "snappy", "gzip", "brotli", "uncompressed"]
"""The parquet codecs the writers offer (Polars' own; zstd is its default)."""
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)

Progress = Callable[[int], None]
"""Called with the number of input rows done so far, after each batch (from
one of Polars' threads, not necessarily the caller's)."""


def score_to_parquet(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str,
    by: str | Sequence[str] = (),
    rise: float = 0.9,
    fall: float = 0.5,
    initial: float = 0.0,
    name: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    compression: Compression = "zstd",
    progress: Progress | None = None,
    rule: str | None = None,
    inputs: Mapping[str, str] | None = None,
) -> int:
    """Write `source`'s columns plus its rolling score to the parquet file `output`.

    The rows keep their input order, and the scores equal bit for bit those of
    ``pl.col(value).scores.rolling(by=by, ...)`` over the whole input held in
    memory, though only a few batches of ``batch_rows`` rows and one float per
    key are ever held.

    Parameters
    ----------
    source
        The input, e.g. ``pl.scan_parquet(path)``; read once, in order.
    output
        The parquet file to write. Its folder must exist. An existing file is
        replaced, but only once the whole result has been written.
    value, by, rise, fall, initial, name
        As in :class:`~polars_scores.stateful.RollingScorer`: the column to
        score, the key column(s), the recurrence's parameters and the score
        column's name (``"<value>_score"`` by default).
    batch_rows
        Rows per batch: memory grows with it, per-batch overhead shrinks.
    compression
        The output's codec. The score column compresses little, so most of
        zstd's time goes to it; "lz4" writes faster, larger files.
    progress
        Called with the number of rows done after each batch.
    rule, inputs
        Your own recurrence instead of the rolling score, and the columns it
        reads, as in ``scores.scan``; the scores then equal
        ``pl.col(value).scores.scan(rule, by=by, initial=initial, inputs=inputs)``.

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    polars.exceptions.ColumnNotFoundError
        A named column is missing (the message lists the available ones).
    polars.exceptions.InvalidOperationError
        The value column is not numeric.
    TypeError, ValueError
        A parameter is invalid, or the score's name is taken by an input column.
    KeyboardInterrupt
        On Ctrl-C, once the partial result has been removed.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.streaming import score_to_parquet
    >>> folder = Path(tempfile.mkdtemp())
    >>> pl.DataFrame({"k": [1, 1, 2, 1], "x": [1.0, 0.5, 3.0, 2.0]}).write_parquet(
    ...     folder / "in.parquet"
    ... )
    >>> score_to_parquet(
    ...     pl.scan_parquet(folder / "in.parquet"), folder / "out.parquet",
    ...     value="x", by="k", batch_rows=2,
    ... )
    4
    >>> pl.read_parquet(folder / "out.parquet")["x_score"].to_list()
    [1.0, 0.5, 3.0, 2.45]
    """
    method = "score_to_parquet"
    # Checked here too so that errors name this function.
    keys = key_names(method, by)
    scorer = RollingScorer(
        value,
        by=keys,
        rise=finite(method, "rise", rise),
        fall=finite(method, "fall", fall),
        initial=finite(method, "initial", initial),
        name=name,
        rule=rule,
        inputs=inputs,
    )
    rows = _positive_int(method, "batch_rows", batch_rows)
    schema = source.collect_schema()
    check_columns(method, schema, value, [*keys, *(inputs or {}).values()], scorer.name)
    out_schema = pl.Schema([*schema.items(), (scorer.name, pl.Float64())])

    def scored_batches(stop: _Interrupt) -> Iterator[pl.DataFrame]:
        done = 0
        for batch in source.collect_batches(chunk_size=rows, maintain_order=True):
            if stop.requested():
                return
            scored = scorer.score(batch)
            done += scored.height
            if progress is not None:
                progress(done)
            yield scored

    return _write_parquet(
        method, output, out_schema, scored_batches, lambda frame: frame, compression
    )


def total_to_parquet(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str,
    by: str | Sequence[str] = (),
    exponent: float = 1.5,
    compression: Compression = "zstd",
    progress: Progress | None = None,
) -> int:
    """Write each key's ``scores.total`` of `value` to the parquet file `output`.

    One row per distinct key (sorted by key, nulls last) with the key columns
    and ``"<value>_total"``, the sum of ``v ** exponent`` over the key's
    non-null ``v > 0``; without `by`, one row. Computed by Polars' streaming
    ``group_by``, so memory grows with the number of keys, not of rows.

    Parameters
    ----------
    source
        The input, e.g. ``pl.scan_parquet(path)``.
    output
        The parquet file to write, replaced only once the result is complete.
    value
        The numeric column to total.
    by
        Key column name(s).
    exponent
        The power each positive value is raised to.
    compression
        The output's codec.
    progress
        Called with the number of input rows read so far.

    Returns
    -------
    int
        The number of rows written (distinct keys).

    Raises
    ------
    polars.exceptions.ColumnNotFoundError, polars.exceptions.InvalidOperationError
        As for :func:`score_to_parquet`.
    TypeError, ValueError
        A parameter is invalid, or a key column is called ``"<value>_total"``.
    KeyboardInterrupt
        On Ctrl-C, once the partial result has been removed.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.streaming import total_to_parquet
    >>> folder = Path(tempfile.mkdtemp())
    >>> pl.DataFrame({"k": ["b", "a", "b"], "x": [4.0, 9.0, -1.0]}).write_parquet(
    ...     folder / "in.parquet"
    ... )
    >>> total_to_parquet(pl.scan_parquet(folder / "in.parquet"), folder / "t.parquet",
    ...                  value="x", by="k")
    2
    >>> pl.read_parquet(folder / "t.parquet").rows()
    [('a', 27.0), ('b', 8.0)]
    """
    method = "total_to_parquet"
    keys = key_names(method, by)
    power = finite(method, "exponent", exponent)
    total_name = f"{value}_total"
    schema = source.collect_schema()
    check_columns(method, schema, value, keys)
    if total_name in keys:
        raise ValueError(
            f"{method}: the result column {total_name!r} would replace the key column of that name"
        )
    columns = [*keys, value]

    def input_batches(stop: _Interrupt) -> Iterator[pl.DataFrame]:
        done = 0
        for batch in source.select(columns).collect_batches(maintain_order=False):
            if stop.requested():
                return
            done += batch.height
            if progress is not None:
                progress(done)
            yield batch

    total = col(value).scores.total(exponent=power).alias(total_name)

    def aggregate(frame: pl.LazyFrame) -> pl.LazyFrame:
        if not keys:
            return frame.select(total)
        return frame.group_by(keys).agg(total).sort(keys, nulls_last=True)

    in_schema = pl.Schema({column: schema[column] for column in columns})
    return _write_parquet(method, output, in_schema, input_batches, aggregate, compression)


def _positive_int(method: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{method}: {name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{method}: {name} must be at least 1, got {value}")
    return value


def _write_parquet(
    method: str,
    output: str | os.PathLike[str],
    schema: pl.Schema,
    batches: Callable[[_Interrupt], Iterator[pl.DataFrame]],
    query: Callable[[pl.LazyFrame], pl.LazyFrame],
    compression: Compression,
) -> int:
    """Sink ``query(frame of batches)`` into `output` through a temporary file;
    the number of rows written."""
    if compression not in COMPRESSIONS:
        raise ValueError(
            f"{method}: compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}"
        )
    failures: list[BaseException] = []
    with _replaced_on_success(method, Path(output)) as partial, _Interrupt() as stop:

        def read(
            with_columns: list[str] | None,
            predicate: pl.Expr | None,
            n_rows: int | None,
            batch_size: int | None,
        ) -> Iterator[pl.DataFrame]:
            # Polars may push a projection, a filter or a limit into a source;
            # they apply to the finished batches, never before scoring.
            left = n_rows
            try:
                for batch in batches(stop):
                    if with_columns is not None:
                        batch = batch.select(with_columns)
                    if predicate is not None:
                        batch = batch.filter(predicate)
                    if left is not None:
                        batch = batch.head(left)
                        left -= batch.height
                    yield batch
                    if left == 0:
                        return
            except GeneratorExit:
                raise
            except BaseException as error:
                failures.append(error)
                raise

        frame = register_io_source(read, schema=schema)
        try:
            query(frame).sink_parquet(partial, compression=compression, maintain_order=True)
        except Exception:
            # Polars re-raises a source's error as a ComputeError quoting it
            # (at some versions): raise the original instead.
            if failures:
                raise failures[0] from None
            raise
        if stop.requested():
            # The original handler decides what happens (Ctrl-C raises
            # KeyboardInterrupt); the truncated result goes in any case.
            stop.deliver()
            raise KeyboardInterrupt(f"{method}: interrupted")
        return int(pl.scan_parquet(partial).select(pl.len()).collect().item())


@contextlib.contextmanager
def _replaced_on_success(method: str, output: Path) -> Iterator[Path]:
    """A temporary path beside `output`, renamed to `output` if the block succeeds
    and removed if it fails."""
    if output.is_dir():
        raise IsADirectoryError(f"{method}: the output {str(output)!r} is a folder")
    folder = output.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{method}: the output folder {str(folder)!r} does not exist")
    # Hidden, and not ending in .parquet, so that no glob over the folder
    # reads it while it is incomplete. A run killed by SIGKILL leaves it.
    partial = folder / f".{output.name}.{secrets.token_hex(4)}.partial"
    try:
        yield partial
        os.replace(partial, output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


class _Interrupt:
    """Notices SIGINT (and SIGTERM, where Python handles it) while Polars runs.

    Python runs signal handlers only between bytecodes of the main thread,
    which waits inside Polars for the whole sink; and a KeyboardInterrupt
    raised inside Polars aborts its threads noisily. So while the sink runs,
    the handlers only note the signal, its arrival is written to a pipe (the
    wakeup fd) that the batch source polls from Polars' thread to stop early,
    and afterwards the signal is delivered to the original handler.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._saved: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None
        self._saved_fd = -1

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGINT, signal.SIGTERM):
            if callable(signal.getsignal(signum)):
                self._saved[signum] = signal.signal(signum, self._note)
        if self._saved:
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            os.set_blocking(write_end, False)
            self._pipe = (read_end, write_end)
            self._saved_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum

    def requested(self) -> bool:
        """Whether a signal arrived (callable from any thread)."""
        if self.received is None and self._pipe is not None:
            with contextlib.suppress(BlockingIOError):
                received = os.read(self._pipe[0], 16)
                if received:
                    self.received = received[0]
        return self.received is not None

    def deliver(self) -> None:
        """Restore the original handlers and raise the noted signal to them."""
        self._restore()
        if self.received is not None:
            signal.raise_signal(self.received)

    def _restore(self) -> None:
        if self._pipe is not None:
            signal.set_wakeup_fd(self._saved_fd)
            for end in self._pipe:
                os.close(end)
            self._pipe = None
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved = {}

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._restore()
