"""Scores and totals of data larger than memory: a LazyFrame, or a file.

Polars' streaming engine gathers the whole input of a non-elementwise plugin
such as the rolling score, and keeps nothing from one batch to the next, so
:func:`scan_scores` is a source of its own: registered with Polars as an IO
plugin, it reads its input in order, batch by batch, scores each batch with
:class:`~polars_scores.stateful.RollingScorer` (which carries each key's
state) and hands the scored batches to whatever the query does next: a
filter, an aggregation, a join, any sink. Memory holds a few batches and
one state per key, whatever the row count.

The writers (:func:`score_to_file`, :func:`total_to_file` and their parquet
forms) write parquet, CSV, Arrow IPC or NDJSON, chosen by the output's
extension. They put the result in a work file beside the output and rename
it into place, synced, only when everything succeeded: an error, an
interrupt (SIGINT, SIGTERM, SIGHUP) or a power loss never leaves a partial
output nor touches an existing one, and a killed run leaves nothing that a
later scan of the folder would read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, cast, get_args

import polars as pl
from polars.io.plugins import register_io_source

from polars_scores._checks import (
    check_columns,
    column_name,
    column_names,
    finite,
    new_column,
    not_a_key,
    positive_int,
)
from polars_scores.namespace import col
from polars_scores.stateful import RollingScorer, input_columns

DEFAULT_BATCH_ROWS = 500_000
"""Rows per batch: large enough that each batch's per-key bookkeeping is
cheap next to reading it, small enough that the few batches in flight stay
well under 400 MB. At 100M rows with a million `user-<n>` string keys
(``benchmarks/streaming_bench.py``), `score --by` peaked at 381-445 MB over
five runs with 1,000,000-row batches and at 307-330 MB with 500,000, in the
same time."""

Format = Literal["parquet", "csv", "ipc", "ndjson"]
"""The file formats read and written: Polars' own scans and sinks."""

EXTENSIONS: dict[str, Format] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".ipc": "ipc",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
"""A file's format by its extension (in any case)."""

Compression = Literal["zstd", "lz4", "snappy", "gzip", "brotli", "uncompressed"]
"""The parquet codecs the writers offer (Polars' own; zstd is its default)."""
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)
FORMAT_COMPRESSIONS: dict[Format, tuple[Compression, ...]] = {
    "parquet": COMPRESSIONS,
    "ipc": ("uncompressed", "lz4", "zstd"),
    "csv": ("uncompressed",),
    "ndjson": ("uncompressed",),
}
"""The codecs of each format, its default first (zstd for parquet, as Polars' default)."""

Progress = Callable[[int], None]
"""Called with the number of input rows done so far, after each batch (from
one of Polars' threads, not necessarily the caller's)."""


def scan_scores(
    source: pl.LazyFrame,
    value: str | Sequence[str],
    *,
    by: str | Sequence[str] = (),
    rise: float = 0.9,
    fall: float = 0.5,
    initial: float = 0.0,
    name: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    rule: str | None = None,
    inputs: Mapping[str, str] | None = None,
) -> pl.LazyFrame:
    """`source` with the rolling score of each `value` column, as a LazyFrame that streams.

    The result has every column of `source` plus one Float64 score column per
    value, ``"<value>_score"`` (or `name`, with one value), rows in input
    order, the scores bit-identical to ``pl.col(value).scores.rolling(by=by,
    ...)`` over the whole input in memory. Nothing is read until the result
    is collected or sunk, and its schema is known before
    (``collect_schema()``). Each collect reads `source` anew, in order, in
    batches of `batch_rows` rows, carrying each key's state from batch to
    batch; whatever follows (``filter``, ``select``, ``group_by().agg()``,
    ``head``, ``sink_parquet``/``sink_csv``/``sink_ipc``/``sink_ndjson``,
    ``collect(engine="streaming")``) gets the scored batches as they come, so
    memory stays bounded when it streams. A projection, a filter or a limit
    that Polars pushes into this source applies to the scored rows, never
    before scoring: only scores that the query reads are computed, and only
    the columns they need are read.

    Parameters
    ----------
    source
        The input, e.g. ``pl.scan_parquet(path)``, read in order.
    value
        The numeric column to score, or several: each is scored in the same
        pass, with its own states.
    by, rise, fall, initial, rule, inputs
        As in :class:`~polars_scores.stateful.RollingScorer`: the key
        column(s), the recurrence's parameters, or your own rule (as in
        ``scores.scan``) and the columns it reads.
    name
        The score column's name with one value (``"<value>_score"`` by default).
    batch_rows
        Rows per batch: memory grows with it, per-batch overhead shrinks.

    Raises
    ------
    polars.exceptions.ColumnNotFoundError
        A named column is missing (the message lists the available ones).
    polars.exceptions.InvalidOperationError
        A value column is not numeric.
    TypeError, ValueError
        A parameter is invalid, or a score's name is taken by a column.

    Examples
    --------
    >>> import polars as pl
    >>> from polars_scores.streaming import scan_scores
    >>> events = pl.LazyFrame({"k": [1, 1, 2, 1], "x": [1.0, 0.5, 3.0, 2.0]})
    >>> scored = scan_scores(events, "x", by="k", batch_rows=2)
    >>> dict(scored.collect_schema())
    {'k': Int64, 'x': Float64, 'x_score': Float64}
    >>> scored.filter(pl.col("x_score") > 1).collect()["x_score"].to_list()
    [3.0, 2.45]
    """
    return _ScoredStream(
        "scan_scores",
        source,
        value,
        by=by,
        rise=rise,
        fall=fall,
        initial=initial,
        name=name,
        batch_rows=batch_rows,
        rule=rule,
        inputs=inputs,
    ).frame()


class _Watch:
    """What a writer watches while Polars runs its query: a stop signal, the
    rows done (reported to `progress`, and to `writeback`, which then writes
    the output so far to disk), and the first error of the source."""

    def __init__(
        self, stop: _Interrupt, progress: Progress | None, writeback: _Writeback | None
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


class _Writeback:
    """Has the system write the output file to disk while the query runs, so
    that the sync at the end, which the atomic replace needs, finds little
    left to write.

    Without it the whole file is written out after the last batch, with
    nothing else to do meanwhile: half a second for 100M scored rows (1.7 GB)
    here. A thread of its own, woken after each batch, calls
    ``posix_fadvise(DONTNEED)`` on the file: Linux starts writing its dirty
    pages and drops those already on disk from the cache, where a larger than
    memory run has no use for them. The call is advice; where it fails or is
    missing, the final sync does all the writing as before.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="polars-scores-writeback")
        self._thread.start()

    def due(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                return

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join()

    @classmethod
    @contextlib.contextmanager
    def of(cls, fd: int | None) -> Iterator[_Writeback | None]:
        """A writeback of the file `fd` while the block runs; None without a
        file descriptor (a named work file) or ``posix_fadvise`` (not Linux)."""
        if fd is None or not hasattr(os, "posix_fadvise"):
            yield None
            return
        writeback = cls(fd)
        try:
            yield writeback
        finally:
            writeback.close()


class _ScoredStream:
    """The parameters of :func:`scan_scores`, checked once; a source of
    scored batches, scored afresh each time Polars reads it."""

    def __init__(
        self,
        method: str,
        source: pl.LazyFrame,
        value: str | Sequence[str],
        *,
        by: str | Sequence[str],
        rise: float,
        fall: float,
        initial: float,
        name: str | None,
        batch_rows: int,
        rule: str | None,
        inputs: Mapping[str, str] | None,
    ) -> None:
        if not isinstance(source, pl.LazyFrame):
            raise TypeError(f"{method}: source must be a LazyFrame, got {type(source).__name__}")
        values = column_names(method, "value", value)
        if not values:
            raise ValueError(f"{method}: value must name at least one column")
        if name is not None and len(values) > 1:
            raise ValueError(
                f"{method}: name is for one value; with {len(values)} values, "
                "each score is named <value>_score"
            )
        first = f"{values[0]}_score" if name is None else column_name(method, "name", name)
        # Each value column and its score's name.
        self._scores = {values[0]: first, **{column: f"{column}_score" for column in values[1:]}}
        self._keys = column_names(method, "by", by)
        self._inputs = input_columns(method, rule, inputs)
        self._recurrence: dict[str, Any] = {
            "rise": finite(method, "rise", rise),
            "fall": finite(method, "fall", fall),
            "initial": finite(method, "initial", initial),
            "rule": rule,
            "inputs": self._inputs or None,
        }
        self._rows = positive_int(method, "batch_rows", batch_rows)
        self._source = source
        self._in_schema = source.collect_schema()
        reads = [*self._keys, *self._inputs.values()]
        for column, score in self._scores.items():
            check_columns(method, self._in_schema, column, reads, score)
        self.schema = pl.Schema(
            [*self._in_schema.items(), *((score, pl.Float64()) for score in self._scores.values())]
        )

    def frame(self, watch: _Watch | None = None) -> pl.LazyFrame:
        """The scored stream as a LazyFrame; a writer's `watch` sees every batch."""

        def read(
            with_columns: list[str] | None,
            predicate: pl.Expr | None,
            n_rows: int | None,
            batch_size: int | None,
        ) -> Iterator[pl.DataFrame]:
            batches = self._batches(with_columns, predicate, n_rows, watch)
            if watch is None:
                return batches
            return _noting_failures(batches, watch.failures)

        return register_io_source(read, schema=self.schema)

    def _batches(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        watch: _Watch | None,
    ) -> Iterator[pl.DataFrame]:
        # Polars pushes the columns it needs (those of the predicate too), a
        # filter and a limit into its sources: only the scores wanted are
        # computed, from only the columns they read; the filter and the
        # limit apply to the scored rows.
        wanted = set(self.schema if with_columns is None else with_columns)
        if predicate is not None:
            wanted.update(predicate.meta.root_names())
        scored = {column: score for column, score in self._scores.items() if score in wanted}
        if scored:
            wanted.update([*scored, *self._keys, *self._inputs.values()])
        # A query that reads no column (a row count) still needs the rows.
        reads = [column for column in self._in_schema if column in wanted] or [
            next(iter(self._in_schema))
        ]
        scorers = [
            RollingScorer(column, by=self._keys, name=score, **self._recurrence)
            for column, score in scored.items()
        ]
        # The first rows' scores need only the first rows.
        source = (
            self._source if n_rows is None or predicate is not None else self._source.head(n_rows)
        )
        left = n_rows
        for batch in source.select(reads).collect_batches(
            chunk_size=self._rows, maintain_order=True
        ):
            if watch is not None and watch.stop.requested():
                return
            for scorer in scorers:
                batch = scorer.score(batch)
            if watch is not None:
                watch.done(batch.height)
            if predicate is not None:
                batch = batch.filter(predicate)
            if with_columns is not None:
                batch = batch.select(with_columns)
            if left is not None:
                batch = batch.head(left)
                left -= batch.height
            yield batch
            if left == 0:
                return


def _noting_failures(
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


def score_to_file(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str | Sequence[str],
    by: str | Sequence[str] = (),
    rise: float = 0.9,
    fall: float = 0.5,
    initial: float = 0.0,
    name: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    rule: str | None = None,
    inputs: Mapping[str, str] | None = None,
    format: Format | None = None,
    compression: Compression | None = None,
    progress: Progress | None = None,
) -> int:
    """Write :func:`scan_scores` of `source` to the file `output`, replaced only on success.

    Parameters
    ----------
    source, value, by, rise, fall, initial, name, batch_rows, rule, inputs
        As in :func:`scan_scores`.
    output
        The file to write. Its folder must exist. An existing file is
        replaced, but only once the whole result has been written.
    format
        "parquet", "csv", "ipc" or "ndjson"; by default told by `output`'s
        extension (``.parquet``, ``.csv``, ``.ipc``/``.arrow``/``.feather``,
        ``.ndjson``/``.jsonl``).
    compression
        The output's codec: for parquet one of :data:`COMPRESSIONS` (zstd by
        default; the score column compresses little, so most of zstd's time
        goes to it, and "lz4" writes faster, larger files), for IPC
        "uncompressed" (the default), "lz4" or "zstd"; CSV and NDJSON are
        written uncompressed.
    progress
        Called with the number of rows done after each batch.

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    polars.exceptions.ColumnNotFoundError, polars.exceptions.InvalidOperationError
        As for :func:`scan_scores`.
    TypeError, ValueError
        A parameter is invalid, a score's name is taken by a column, or the
        format cannot be told from `output`'s extension.
    OSError
        The output cannot be written (folder missing, disk full...), naming it.
    KeyboardInterrupt
        On Ctrl-C, once the partial result has been removed.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.streaming import score_to_file
    >>> folder = Path(tempfile.mkdtemp())
    >>> events = pl.LazyFrame({"k": [1, 1, 2, 1], "x": [1.0, 0.5, 3.0, 2.0]})
    >>> score_to_file(events, folder / "out.csv", value="x", by="k", batch_rows=2)
    4
    >>> pl.read_csv(folder / "out.csv")["x_score"].to_list()
    [1.0, 0.5, 3.0, 2.45]
    """
    return _score_to(
        "score_to_file",
        source,
        output,
        format,
        compression,
        progress,
        value=value,
        by=by,
        rise=rise,
        fall=fall,
        initial=initial,
        name=name,
        batch_rows=batch_rows,
        rule=rule,
        inputs=inputs,
    )


def _score_to(
    method: str,
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    format: Format | None,
    compression: Compression | None,
    progress: Progress | None,
    **scoring: Any,
) -> int:
    kind = _output_format(method, output, format)
    codec = _codec(method, kind, compression)
    stream = _ScoredStream(method, source, **scoring)
    return _write(
        method, output, kind, codec, progress, stream.frame, lambda work, watch: watch.rows
    )


def score_to_parquet(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str | Sequence[str],
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
    """:func:`score_to_file` into a parquet file, whatever `output`'s extension.

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
    return _score_to(
        "score_to_parquet",
        source,
        output,
        "parquet",
        compression,
        progress,
        value=value,
        by=by,
        rise=rise,
        fall=fall,
        initial=initial,
        name=name,
        batch_rows=batch_rows,
        rule=rule,
        inputs=inputs,
    )


def total_to_file(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str | Sequence[str],
    by: str | Sequence[str] = (),
    exponent: float = 1.5,
    format: Format | None = None,
    compression: Compression | None = None,
    progress: Progress | None = None,
) -> int:
    """Write each key's ``scores.total`` of `value` to the file `output`, replaced only on success.

    One row per distinct key (sorted by key, nulls last) with the key columns
    and ``"<value>_total"`` per value, the sum of ``v ** exponent`` over the
    key's non-null ``v > 0``; without `by`, one row. Computed by Polars'
    streaming ``group_by``, so memory grows with the number of keys, not of
    rows.

    Parameters
    ----------
    source
        The input, e.g. ``pl.scan_parquet(path)``.
    output, format, compression, progress
        As in :func:`score_to_file`.
    value
        The numeric column(s) to total.
    by
        Key column name(s).
    exponent
        The power each positive value is raised to.

    Returns
    -------
    int
        The number of rows written (distinct keys).

    Raises
    ------
    polars.exceptions.ColumnNotFoundError, polars.exceptions.InvalidOperationError
        As for :func:`scan_scores`.
    TypeError, ValueError
        A parameter is invalid, or a key column is called ``"<value>_total"``.
    OSError, KeyboardInterrupt
        As for :func:`score_to_file`.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.streaming import total_to_file
    >>> folder = Path(tempfile.mkdtemp())
    >>> events = pl.LazyFrame({"k": ["b", "a", "b"], "x": [4.0, 9.0, -1.0]})
    >>> total_to_file(events, folder / "t.ndjson", value="x", by="k")
    2
    >>> pl.read_ndjson(folder / "t.ndjson").rows()
    [('a', 27.0), ('b', 8.0)]
    """
    return _total_to(
        "total_to_file", source, output, format, compression, progress, value, by, exponent
    )


def _total_to(
    method: str,
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    format: Format | None,
    compression: Compression | None,
    progress: Progress | None,
    value: str | Sequence[str],
    by: str | Sequence[str],
    exponent: float,
) -> int:
    kind = _output_format(method, output, format)
    codec = _codec(method, kind, compression)
    values = column_names(method, "value", value)
    keys = column_names(method, "by", by)
    power = finite(method, "exponent", exponent)
    schema = source.collect_schema()
    for column in values:
        check_columns(method, schema, column, keys)
        not_a_key(method, column, keys)
        new_column(method, f"{column}_total", keys)
    columns = [*keys, *values]
    in_schema = pl.Schema({column: schema[column] for column in columns})

    def input_batches(watch: _Watch) -> Iterator[pl.DataFrame]:
        for batch in source.select(columns).collect_batches(maintain_order=False):
            if watch.stop.requested():
                return
            watch.done(batch.height)
            yield batch

    def totals(watch: _Watch) -> pl.LazyFrame:
        def read(*pushed_down: object) -> Iterator[pl.DataFrame]:
            # Polars pushes nothing into this source: the query reads it all.
            return _noting_failures(input_batches(watch), watch.failures)

        frame = register_io_source(read, schema=in_schema)
        sums = [
            col(column).scores.total(exponent=power).alias(f"{column}_total") for column in values
        ]
        if not keys:
            return frame.select(sums)
        return frame.group_by(keys).agg(sums).sort(keys, nulls_last=True)

    return _write(
        method,
        output,
        kind,
        codec,
        progress,
        totals,
        lambda work, watch: int(scan_file(kind, work).select(pl.len()).collect().item()),
    )


def total_to_parquet(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str | Sequence[str],
    by: str | Sequence[str] = (),
    exponent: float = 1.5,
    compression: Compression = "zstd",
    progress: Progress | None = None,
) -> int:
    """:func:`total_to_file` into a parquet file, whatever `output`'s extension.

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
    return _total_to(
        "total_to_parquet", source, output, "parquet", compression, progress, value, by, exponent
    )


def format_of(path: str | os.PathLike[str]) -> Format | None:
    """The format `path`'s extension names, if any."""
    return EXTENSIONS.get(Path(path).suffix.lower())


def scan_file(format: Format, paths: str | Sequence[str]) -> pl.LazyFrame:
    """Polars' scan of the files `paths` in `format`."""
    scans: dict[Format, Callable[[Any], pl.LazyFrame]] = {
        "parquet": pl.scan_parquet,
        "csv": pl.scan_csv,
        "ipc": pl.scan_ipc,
        "ndjson": pl.scan_ndjson,
    }
    return scans[format](paths if isinstance(paths, str) else list(paths))


def _output_format(method: str, output: str | os.PathLike[str], format: Format | None) -> Format:
    if format is not None:
        if format not in FORMAT_COMPRESSIONS:
            raise ValueError(
                f"{method}: format must be one of {', '.join(FORMAT_COMPRESSIONS)}, got {format!r}"
            )
        return format
    told = format_of(output)
    if told is None:
        raise ValueError(
            f"{method}: cannot tell the format of {str(output)!r} from its extension; "
            f"name it {', '.join(EXTENSIONS)}, or pass format="
        )
    return told


def _codec(method: str, format: Format, compression: Compression | None) -> Compression:
    offered = FORMAT_COMPRESSIONS[format]
    if compression is None:
        return offered[0]
    if compression not in offered:
        raise ValueError(
            f"{method}: compression for {format} must be one of {', '.join(offered)}, "
            f"got {compression!r}"
        )
    return compression


def _sink(frame: pl.LazyFrame, path: str, format: Format, compression: Compression) -> None:
    if format == "parquet":
        frame.sink_parquet(path, compression=compression, maintain_order=True)
    elif format == "ipc":
        ipc_codec = cast(Literal["uncompressed", "lz4", "zstd"], compression)  # told by _codec
        frame.sink_ipc(path, compression=ipc_codec, maintain_order=True)
    elif format == "csv":
        frame.sink_csv(path, maintain_order=True)
    else:
        frame.sink_ndjson(path, maintain_order=True)


def _write(
    method: str,
    output: str | os.PathLike[str],
    format: Format,
    compression: Compression,
    progress: Progress | None,
    query: Callable[[_Watch], pl.LazyFrame],
    written: Callable[[str, _Watch], int],
) -> int:
    """Sink ``query(watch)`` into `output` through a work file; the number of
    rows written, as `written` tells from the work file or the watch."""
    with _replaced_on_success(method, Path(output)) as (work, fd), _Interrupt() as stop:
        with _Writeback.of(fd) as writeback:
            watch = _Watch(stop, progress, writeback)
            try:
                _sink(query(watch), work, format, compression)
            except Exception as error:
                # Polars re-raises a source's error as a ComputeError quoting
                # it (at some versions): raise the original instead.
                if watch.failures:
                    raise watch.failures[0] from None
                # Otherwise the sink failed, and an error of the system says
                # why (disk full, file too large): say it of the output, not
                # the input.
                code = _os_error_code(str(error))
                if code is None:
                    raise
                raise _cannot_write(method, output, code) from None
        if stop.requested():
            # The original handler decides what happens (Ctrl-C raises
            # KeyboardInterrupt); the truncated result goes in any case.
            stop.deliver()
            raise KeyboardInterrupt(f"{method}: interrupted")
        return written(work, watch)


def _os_error_code(message: str) -> int | None:
    """The errno that a Polars I/O error quotes as "(os error N)", if any."""
    found = re.search(r"\(os error (\d+)\)", message)
    return int(found.group(1)) if found else None


def _cannot_write(method: str, output: str | os.PathLike[str], code: int) -> OSError:
    return OSError(code, f"{method}: cannot write {str(output)!r}: {os.strerror(code)}")


@contextlib.contextmanager
def _replaced_on_success(method: str, output: Path) -> Iterator[tuple[str, int | None]]:
    """A path to write the result to, which becomes `output` if the block
    succeeds, and the work file's descriptor where it is open already.

    The usual atomic replace: the data is written to a work file in `output`'s
    folder (a rename cannot cross file systems), synced, renamed over `output`,
    and then the folder is synced, so that neither an error nor a power loss
    leaves `output` partial or gone. Where the system allows it, the work file
    has no name until it is complete (Linux's ``O_TMPFILE``): a run that is
    killed leaves nothing behind, which matters because Polars' folder scans
    read every file below the folder, hidden ones and sub-folders included.
    Elsewhere it is a hidden file named after the process, removed on failure,
    and by the next run into that folder if its process died without doing so.
    """
    if output.is_dir():
        raise IsADirectoryError(f"{method}: the output {str(output)!r} is a folder")
    folder = output.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{method}: the output folder {str(folder)!r} does not exist")
    try:
        folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        raise _cannot_write(method, output, error.errno or errno.EIO) from None
    try:
        _remove_stale_work_files(folder, output.name)
        unnamed = _unnamed_file(method, output, folder_fd)
        if unnamed is not None:
            try:
                yield f"/proc/self/fd/{unnamed}", unnamed
                _finish(method, output, lambda: _link_into_place(unnamed, folder_fd, output.name))
            finally:
                os.close(unnamed)
        else:
            work = folder / f".{output.name}.{os.getpid()}-{secrets.token_hex(4)}{_WORK_SUFFIX}"
            try:
                yield str(work), None
                _finish(method, output, lambda: _sync_then_replace(work, output))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    work.unlink()
        # The rename is durable only once the folder's entry is on disk.
        _finish(method, output, lambda: _fsync_folder(folder_fd))
    finally:
        os.close(folder_fd)


_WORK_SUFFIX = ".partial"
"""Work files do not end in ``.parquet``, so a ``*.parquet`` glob never reads one."""


def _unnamed_file(method: str, output: Path, folder_fd: int) -> int | None:
    """A writable file in `output`'s folder with no name yet, if the system makes one.

    Polars opens it again through ``/proc/self/fd``; None where there is no
    ``O_TMPFILE`` or ``/proc``, or where the file system cannot make one.
    """
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(".", flag | os.O_WRONLY, 0o666, dir_fd=folder_fd)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            raise _cannot_write(method, output, error.errno) from None
        return None  # not supported here (EOPNOTSUPP, EISDIR, EINVAL...)


def _link_into_place(unnamed: int, folder_fd: int, name: str) -> None:
    """Give the synced unnamed file the name `name`, replacing a file of that name."""
    os.fsync(unnamed)
    source = f"/proc/self/fd/{unnamed}"
    # A `src_dir_fd` makes Python call linkat, which follows the /proc link
    # to the file itself (plain link() would link the /proc entry).
    try:
        os.link(source, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        return
    except FileExistsError:
        pass
    # linkat cannot replace: name it beside, then rename over (a kill in
    # between leaves a complete hidden file, removed by the next run).
    temporary = f".{name}.{os.getpid()}-{secrets.token_hex(4)}{_WORK_SUFFIX}"
    os.link(source, temporary, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    try:
        os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder_fd)
        raise


def _sync_then_replace(work: Path, output: Path) -> None:
    with open(work, "rb+") as file:
        os.fsync(file.fileno())
    os.replace(work, output)


def _fsync_folder(folder_fd: int) -> None:
    try:
        os.fsync(folder_fd)
    except OSError as error:
        # Some file systems cannot sync a folder; the data itself is synced.
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise


def _finish(method: str, output: Path, step: Callable[[], None]) -> None:
    """Run a step of the replace, reporting a failure of the system as one of `output`."""
    try:
        step()
    except OSError as error:
        raise _cannot_write(method, output, error.errno or errno.EIO) from None


def _remove_stale_work_files(folder: Path, name: str) -> None:
    """Remove the work files for `name` that runs which died (SIGKILL, power loss) left."""
    if os.name != "posix":
        return  # no cheap, safe way to ask whether a process is alive
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)-[0-9a-f]{{8}}{re.escape(_WORK_SUFFIX)}")
    for entry in os.scandir(folder):
        found = pattern.fullmatch(entry.name)
        if found is None or _process_alive(int(found.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


_STOP_SIGNALS: frozenset[int] = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that stop a run: Ctrl-C, a polite kill, a closed terminal."""


class _Interrupt:
    """Notices SIGINT, SIGTERM and SIGHUP (where Python handles them) while Polars runs.

    Python runs signal handlers only between bytecodes of the main thread,
    which waits inside Polars for the whole sink; and a KeyboardInterrupt
    raised inside Polars aborts its threads noisily. So while the sink runs,
    the handlers only note the signal, its arrival is written to a pipe (the
    wakeup fd) that the batch source polls from Polars' thread to stop early,
    and afterwards the signal is delivered to the original handler.

    Python writes every signal it handles to that pipe, so the other ones
    (SIGUSR1 for log rotation, SIGCHLD, SIGWINCH, SIGALRM...) are passed on to
    the wakeup fd that was set before, and their handlers run after the sink,
    as they would after any long call: they never stop the run.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._saved: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None
        self._saved_fd = -1

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in sorted(_STOP_SIGNALS):
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
        """Whether a stop signal arrived (callable from any thread)."""
        if self.received is None and self._pipe is not None:
            with contextlib.suppress(BlockingIOError):
                for signum in os.read(self._pipe[0], 64):
                    if signum in _STOP_SIGNALS:
                        self.received = self.received or signum
                    elif self._saved_fd >= 0:
                        with contextlib.suppress(OSError):
                            os.write(self._saved_fd, bytes([signum]))
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
