"""Streams written to files: scores (:func:`score_to_file`) and totals
(:func:`total_to_file`), and their parquet forms.

They write parquet, CSV, Arrow IPC or NDJSON, chosen by the output's
extension, into a work file beside the output that is renamed into place,
synced, only when everything succeeded (:mod:`polars_scores.durable`): an
error, an interrupt (SIGINT, SIGTERM, SIGHUP) or a power loss never leaves
a partial output nor touches an existing one, and a killed run leaves
nothing that a later scan of the folder would read.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import polars as pl

from polars_scores.durable import (
    Replacement,
    Writeback,
    cannot_write,
    os_error_code,
    replaced_on_success,
)
from polars_scores.formats import Compression, Format, codec, output_format, sink
from polars_scores.saved_states import StateFile, rule_text
from polars_scores.signals import Interrupt
from polars_scores.source import DEFAULT_BATCH_ROWS, ScoredStream, input_columns, on_own_thread
from polars_scores.spec import ScoreSpec, TotalSpec, score_spec, total_spec
from polars_scores.stateful import StartStatesError
from polars_scores.text_keys import TextKeys
from polars_scores.watch import Progress, Watch


def score_to_file(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str | Sequence[str],
    by: str | Sequence[str] = (),
    rise: float | None = None,
    fall: float | None = None,
    initial: float | Mapping[str, float] = 0.0,
    name: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    rule: str | Mapping[str, str] | None = None,
    inputs: Mapping[str, str | pl.Expr] | None = None,
    format: Format | None = None,
    compression: Compression | None = None,
    progress: Progress | None = None,
    states: str | os.PathLike[str] | None = None,
) -> int:
    """Write :func:`scan_scores` of `source` to the file `output`, replaced only on success.

    Parameters
    ----------
    source, value, by, rise, fall, initial, name, batch_rows, rule, inputs
        As in :func:`~polars_scores.source.scan_scores`.
    output
        The file to write. Its folder must exist. An existing file is
        replaced, but only once the whole result has been written.
    format
        "parquet", "csv", "ipc" or "ndjson"; by default told by `output`'s
        extension (``.parquet``, ``.csv``, ``.ipc``/``.arrow``/``.feather``,
        ``.ndjson``/``.jsonl``).
    compression
        The output's codec: for parquet one of
        :data:`~polars_scores.formats.COMPRESSIONS` (zstd by
        default, at level 1: the score column compresses little at any
        level, and Polars' level 3 only spends more time on it; "lz4" writes
        faster, larger files), for IPC
        "uncompressed" (the default), "lz4" or "zstd"; CSV and NDJSON are
        written uncompressed.
    progress
        Called with the number of rows done after each batch.
    states
        A state file (parquet) to carry on from and save to: where it exists,
        each key starts from its state there (a file made with other
        settings is refused, naming the one that differs); once `output` is
        in place, the file is replaced with each key's state after the last
        row, so that the next run over the next rows carries on from it and
        gives the scores one run over all of them would. Written atomically
        and durably like `output`, after it: a run stopped at any moment
        leaves both old, or `output` new and the state file old.

    Returns
    -------
    int
        The number of rows written to `output`, once it is in place: the
        number of rows of `source`, each written with its scores. A run that
        fails or is interrupted raises instead, and leaves `output` as it was.

    Raises
    ------
    polars.exceptions.ColumnNotFoundError, polars.exceptions.InvalidOperationError
        As for :func:`~polars_scores.source.scan_scores`.
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
    >>> from polars_scores.writers import score_to_file
    >>> folder = Path(tempfile.mkdtemp())
    >>> events = pl.LazyFrame({"k": [1, 1, 2, 1], "x": [1.0, 0.5, 3.0, 2.0]})
    >>> score_to_file(events, folder / "out.csv", value="x", by="k", batch_rows=2)
    4
    >>> pl.read_csv(folder / "out.csv")["x_score"].to_list()
    [1.0, 0.5, 3.0, 2.45]
    """
    source, inputs, hidden = input_columns(source, inputs)
    spec = score_spec(
        "score_to_file",
        value,
        by=by,
        rise=rise,
        fall=fall,
        initial=initial,
        name=name,
        rule=rule,
        inputs=inputs,
        several=True,
    )
    saved = None if states is None else StateFile(Path(states), rule_text(rule))
    return write_scores(
        spec, source, output, batch_rows, format, compression, progress, hidden, saved
    )


def score_to_parquet(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str | Sequence[str],
    by: str | Sequence[str] = (),
    rise: float | None = None,
    fall: float | None = None,
    initial: float | Mapping[str, float] = 0.0,
    name: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    compression: Compression = "zstd",
    progress: Progress | None = None,
    rule: str | Mapping[str, str] | None = None,
    inputs: Mapping[str, str | pl.Expr] | None = None,
    states: str | os.PathLike[str] | None = None,
) -> int:
    """:func:`score_to_file` into a parquet file, whatever `output`'s extension.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.writers import score_to_parquet
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
    source, inputs, hidden = input_columns(source, inputs)
    spec = score_spec(
        "score_to_parquet",
        value,
        by=by,
        rise=rise,
        fall=fall,
        initial=initial,
        name=name,
        rule=rule,
        inputs=inputs,
        several=True,
    )
    saved = None if states is None else StateFile(Path(states), rule_text(rule))
    return write_scores(
        spec, source, output, batch_rows, "parquet", compression, progress, hidden, saved
    )


def write_scores(
    spec: ScoreSpec[str],
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    batch_rows: int,
    format: Format | None,
    compression: Compression | None,
    progress: Progress | None,
    hidden: tuple[str, ...] = (),
    states: StateFile | None = None,
) -> int:
    """Write the scores `spec` asks for of `source` to `output`, leaving out
    the `hidden` columns (see :class:`ScoredStream`); the rows written.
    With `states`, start from that state file where it exists, and replace
    it with the states after the last row once `output` is in place."""
    kind = output_format(spec.method, output, format, spec.spelling)
    chosen = codec(spec.method, kind, compression, spec.spelling)
    # The final states are written to the state file's work file as soon as
    # every row is scored, on a thread of their own, while the output's last
    # batches are written and synced; the work file replaces the state file
    # once the output is in place.
    writing: list[Callable[[], Replacement]] = []

    def when_scored() -> None:
        if states is not None:
            saved = states

            def write() -> Replacement:
                return saved.write(spec, stream.final_states(), str(output))

            writing.append(on_own_thread(write, "polars-scores states"))

    # Read once: the stream lets go of the start states once loaded.
    stream = ScoredStream(
        spec,
        source,
        batch_rows,
        hidden,
        states=None if states is None else states.load(spec, output),
        keep_states=states is not None,
        once=True,
        when_scored=None if states is None else when_scored,
    )

    def sink_scores(watch: Watch, path: str) -> int:
        sink(stream.frame(watch), path, kind, chosen)
        return watch.rows

    try:
        written = _write_durably(spec.method, output, progress, sink_scores)
    except StartStatesError as error:
        # The stream loads the states as it starts: a key they list twice
        # is found then, and is the state file's fault.
        if states is None:
            raise
        raise states.refused_keys(spec, error) from None
    except BaseException:
        # No output, so no new states either: their work file goes.
        for wait in writing:
            with contextlib.suppress(Exception):
                wait().close()
        raise
    if states is not None:
        # A sink reads the whole stream, which then says so (`when_scored`);
        # should it not have, the states are written now, as they are.
        work = writing[0]() if writing else states.write(spec, stream.final_states(), str(output))
        states.replace(spec, work)
    return written


def total_to_file(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str | Sequence[str],
    by: str | Sequence[str] = (),
    exponent: float | None = None,
    rule: str | Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
    initial: float | Mapping[str, float] = 0.0,
    format: Format | None = None,
    compression: Compression | None = None,
    progress: Progress | None = None,
) -> int:
    """Write each key's ``scores.total`` of `value` to the file `output`, replaced only on success.

    One row per distinct key (sorted by key, nulls last) with the key columns
    and ``"<value>_total"`` per value, the sum of ``v ** exponent`` over the
    key's non-null ``v > 0``; without `by`, one row. The batches are
    folded into one compensated sum per key (within 1e-12 relative of
    ``math.fsum``), so memory grows with the number of keys, not of rows.

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
        The power each positive value is raised to, 1.5 by default.
    rule, inputs, initial
        Your own aggregation instead of the total: each key's states after
        its last row by this rule (``scores.fold``), as for
        ``pl.Expr.scores.scan``; the columns are ``<value>_total`` for a
        one-expression rule, ``<value>_<state>`` for a mapping. Kept per key
        in Rust, in bounded memory like the total.

    Returns
    -------
    int
        The number of rows written (distinct keys).

    Raises
    ------
    polars.exceptions.ColumnNotFoundError, polars.exceptions.InvalidOperationError
        As for :func:`~polars_scores.source.scan_scores`.
    TypeError, ValueError
        A parameter is invalid, or a key column is called ``"<value>_total"``.
    OSError, KeyboardInterrupt
        As for :func:`score_to_file`.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.writers import total_to_file
    >>> folder = Path(tempfile.mkdtemp())
    >>> events = pl.LazyFrame({"k": ["b", "a", "b"], "x": [4.0, 9.0, -1.0]})
    >>> total_to_file(events, folder / "t.ndjson", value="x", by="k")
    2
    >>> pl.read_ndjson(folder / "t.ndjson").rows()
    [('a', 27.0), ('b', 8.0)]
    """
    spec = total_spec(
        "total_to_file",
        value,
        by=by,
        exponent=exponent,
        rule=rule,
        inputs=inputs,
        initial=initial,
    )
    return write_totals(spec, source, output, format, compression, progress)


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
    >>> from polars_scores.writers import total_to_parquet
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
    spec = total_spec("total_to_parquet", value, by=by, exponent=exponent)
    return write_totals(spec, source, output, "parquet", compression, progress)


def write_totals(
    spec: TotalSpec,
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    format: Format | None,
    compression: Compression | None,
    progress: Progress | None,
) -> int:
    """Write the totals `spec` asks for of `source` to `output`; the rows written."""
    kind = output_format(spec.method, output, format, spec.spelling)
    chosen = codec(spec.method, kind, compression, spec.spelling)
    schema = source.collect_schema()
    spec.check_schema(schema)
    columns = list(dict.fromkeys([*spec.keys, *spec.values, *spec.input_columns]))

    def sink_totals(watch: Watch, path: str) -> int:
        # One compensated sum (or a rule's states) per key, carried across
        # the batches in Rust: memory grows with the keys and the batch,
        # never with the rows.
        totals, text = spec.key_totals(), TextKeys()
        # In order, so that a rerun adds the same terms in the same order.
        for batch in source.select(columns).collect_batches(maintain_order=True):
            if watch.stop.requested():
                break
            totals.add(
                text.as_strings([batch[key] for key in spec.keys]),
                [batch[v] for v in spec.values],
                [batch[column] for column in spec.input_columns],
            )
            watch.done(batch.height)
        if spec.keys and len(totals) == 0:
            keys = {key: schema[key] for key in spec.keys}
            table = pl.DataFrame(schema={**keys, **dict.fromkeys(spec.names, pl.Float64)})
        else:
            table = text.restored(pl.DataFrame(totals.finish(spec.names)))
        table = table.sort(spec.keys, nulls_last=True) if spec.keys else table
        sink(table.lazy(), path, kind, chosen)
        return table.height

    return _write_durably(spec.method, output, progress, sink_totals)


def _write_durably(
    method: str,
    output: str | os.PathLike[str],
    progress: Progress | None,
    write: Callable[[Watch, str], int],
) -> int:
    """Run ``write(watch, path)``, which writes the result to the work file
    `path` and returns the rows written, and put the result in place as
    `output` once it succeeded; the rows written."""
    with replaced_on_success(method, Path(output)) as (work, fd), Interrupt() as stop:
        with Writeback.of(fd) as writeback:
            watch = Watch(stop, progress, writeback)
            try:
                written = write(watch, work)
            except Exception as error:
                # Polars re-raises a source's error as a ComputeError quoting
                # it (at some versions): raise the original instead.
                if watch.failures:
                    raise watch.failures[0] from None
                # Otherwise the sink failed, and an error of the system says
                # why (disk full, file too large): say it of the output, not
                # the input.
                code = os_error_code(str(error))
                if code is None:
                    raise
                raise cannot_write(method, output, code) from None
        if stop.requested():
            # The original handler decides what happens (Ctrl-C raises
            # KeyboardInterrupt); the truncated result goes in any case.
            stop.deliver()
            raise KeyboardInterrupt(f"{method}: interrupted")
        return written
