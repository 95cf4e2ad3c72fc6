"""Scores of data larger than memory, as a LazyFrame that streams.

Polars' streaming engine gathers the whole input of a non-elementwise plugin
such as the rolling score, and keeps nothing from one batch to the next, so
:func:`scan_scores` is a source of its own: registered with Polars as an IO
plugin, it reads its input in order, batch by batch, scores each batch with
a :class:`~polars_scores.stateful.StatefulScorer` (which carries each key's
state) and hands the scored batches to whatever the query does next: a
filter, an aggregation, a join, any sink. Memory holds a few batches and
one state per key, whatever the row count.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import polars as pl
from polars.io.plugins import register_io_source

from polars_scores._checks import ParameterError, ParameterTypeError, positive_int, refuse
from polars_scores.spec import ScoreSpec, score_spec
from polars_scores.stateful import StatefulScorer, check_states, read_states
from polars_scores.watch import Watch, noting_failures

T = TypeVar("T")

DEFAULT_BATCH_ROWS = 500_000
"""Rows per batch: large enough that each batch's per-key bookkeeping is
cheap next to reading it, small enough that the few batches in flight stay
well under 400 MB. At 100M rows with a million `user-<n>` string keys
(``benchmarks/streaming_bench.py``), `score --by` peaked at 381-445 MB over
five runs with 1,000,000-row batches and at 307-330 MB with 500,000, in the
same time."""


def scan_scores(
    source: pl.LazyFrame,
    value: str | Sequence[str],
    *,
    by: str | Sequence[str] = (),
    rise: float | None = None,
    fall: float | None = None,
    initial: float | Mapping[str, float] = 0.0,
    name: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    rule: str | Mapping[str, str] | None = None,
    inputs: Mapping[str, str | pl.Expr] | None = None,
    states: pl.DataFrame | str | os.PathLike[str] | None = None,
) -> pl.LazyFrame:
    """`source` with the rolling score of each `value` column, as a LazyFrame that streams.

    The result has every column of `source` plus one Float64 score column per
    value, ``"<value>_score"`` (or `name`, with one value; a rule with
    several states gives one per state, ``"<value>_<state>"`` or
    ``"<name>_<state>"``), rows in input order, the scores bit-identical to
    ``pl.col(value).scores.rolling(by=by, ...)`` over the whole input in
    memory. Nothing is read until the result
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
        As in :class:`~polars_scores.stateful.StatefulScorer`: the key
        column(s), the recurrence's parameters, or your own rule (as in
        ``scores.scan``) and what it reads: as there, each input is a column
        name or an expression, computed over `source` (an expression that
        is not row by row, such as ``diff().over(...)``, is computed by
        Polars over the whole input, and memory is then not bounded).
    name
        The score column's name with one value (``"<value>_score"`` by default).
    batch_rows
        Rows per batch: memory grows with it, per-batch overhead shrinks.
    states
        Start states (a DataFrame, or the path of a parquet file): the key
        columns and every value's state columns, named as its score
        columns, one row per key, as
        :meth:`~polars_scores.stateful.StatefulScorer.states` gives them
        (the writers' ``states=`` file holds them too). Each collect starts
        each listed key from its row; other keys start at `initial`.

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
    >>> from polars_scores.source import scan_scores
    >>> events = pl.LazyFrame({"k": [1, 1, 2, 1], "x": [1.0, 0.5, 3.0, 2.0]})
    >>> scored = scan_scores(events, "x", by="k", batch_rows=2)
    >>> dict(scored.collect_schema())
    {'k': Int64, 'x': Float64, 'x_score': Float64}
    >>> scored.filter(pl.col("x_score") > 1).collect()["x_score"].to_list()
    [3.0, 2.45]
    """
    source, inputs, hidden = input_columns(source, inputs)
    spec = score_spec(
        "scan_scores",
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
    start = None if states is None else read_states("scan_scores", states)
    return ScoredStream(spec, source, batch_rows, hidden, start).frame()


def input_columns(source: object, inputs: object) -> tuple[Any, Any, tuple[str, ...]]:
    """`source` with a hidden column for each expression among a rule's
    `inputs`, the inputs with the hidden columns' names in their place, and
    those names (which the scored stream leaves out). Anything else is
    returned as it came, for the spec to check."""
    if not isinstance(source, pl.LazyFrame) or not isinstance(inputs, Mapping):
        return source, inputs, ()
    if not any(isinstance(column, pl.Expr) for column in inputs.values()):
        return source, inputs, ()
    taken = set(source.collect_schema())
    named, hidden = dict(inputs), {}
    for name, column in inputs.items():
        if isinstance(column, pl.Expr):
            label = f"<input {name}>"
            while label in taken:
                label = f"<{label}>"
            taken.add(label)
            named[name], hidden[label] = label, column
    return source.with_columns(**hidden), named, tuple(hidden)


class ScoredStream:
    """A source of scored batches for `spec`, scored afresh each time Polars
    reads it; its columns are checked once, against the source's schema.
    The `hidden` columns (a rule's inputs computed from expressions) are
    read and scored with, but left out of the result. Each read starts from
    the `states` (every value's, as :meth:`final_states` gives them), if
    any; :meth:`final_states` needs `keep_states`, which costs time with
    keys of many values. A stream read only `once` (a writer's) lets go of
    its start states once they are loaded (25 MB with a million string
    keys, while the batches stream). `when_scored` is called on the reading
    thread once a read has scored every row (a writer starts writing the
    final states then, while its output is finished)."""

    def __init__(
        self,
        spec: ScoreSpec[str],
        source: pl.LazyFrame,
        batch_rows: int,
        hidden: tuple[str, ...] = (),
        states: pl.DataFrame | None = None,
        keep_states: bool = False,
        once: bool = False,
        when_scored: Callable[[], None] | None = None,
    ) -> None:
        method = spec.method
        if not isinstance(source, pl.LazyFrame):
            problem = f"source must be a LazyFrame, got {type(source).__name__}"
            raise refuse(ParameterTypeError, method, problem)
        self._rows = positive_int(method, spec.parameter("batch_rows"), batch_rows)
        self._spec = spec
        self._reads = [*spec.keys, *spec.input_columns]
        self._source = source
        self._in_schema = source.collect_schema()
        spec.check_schema(self._in_schema)
        self._hidden = hidden
        shown = [
            (column, dtype) for column, dtype in self._in_schema.items() if column not in hidden
        ]
        scores = [column for index in range(len(spec.values)) for column in spec.columns(index)]
        self.schema = pl.Schema([*shown, *((score, pl.Float64()) for score in scores)])
        self._states = None if states is None else check_states(method, states, spec, exact=True)
        self._keep_states = keep_states
        self._once = once
        self._when_scored = when_scored
        self._read = False
        # The scorers of the last read, whose states `final_states` gives.
        self._scorers: list[StatefulScorer] = []

    def frame(self, watch: Watch | None = None) -> pl.LazyFrame:
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
            return noting_failures(batches, watch.failures)

        return register_io_source(read, schema=self.schema)

    def _batches(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        watch: Watch | None,
    ) -> Iterator[pl.DataFrame]:
        # Polars pushes the columns it needs (those of the predicate too), a
        # filter and a limit into its sources: only the scores wanted are
        # computed, from only the columns they read; the filter and the
        # limit apply to the scored rows.
        wanted = set(self.schema if with_columns is None else with_columns)
        if predicate is not None:
            wanted.update(predicate.meta.root_names())
        scored = [
            index
            for index in range(len(self._spec.values))
            if wanted.intersection(self._spec.columns(index))
        ]
        if scored:
            wanted.update([*(self._spec.values[index] for index in scored), *self._reads])
        # A query that reads no column (a row count) still needs the rows.
        reads = [column for column in self._in_schema if column in wanted] or [
            next(iter(self._in_schema))
        ]
        # With start states, the scorers load them (a million keys take about
        # 0.1 s) beside the read of the first batch, instead of before it.
        # A stream read once holds its start states only until they load.
        if self._once and self._read:
            raise refuse(ParameterError, self._spec.method, "this stream is read only once")
        self._read = True
        start = [self._states]
        if self._once:
            self._states = None

        def make() -> list[StatefulScorer]:
            states = start.pop()
            return [
                StatefulScorer.from_spec(
                    self._spec, index, states=states, keep_keys=self._keep_states
                )
                for index in scored
            ]

        # This read's own scorers: Polars may run two reads of one stream at
        # once (a join with itself); `final_states` gives the last read's.
        loading = None if start[0] is None else on_own_thread(make, "polars-scores start")
        scorers = make() if loading is None else []
        self._scorers = scorers
        # The first rows' scores need only the first rows.
        source = (
            self._source if n_rows is None or predicate is not None else self._source.head(n_rows)
        )
        left = n_rows
        for batch in source.select(reads).collect_batches(
            chunk_size=self._rows, maintain_order=True
        ):
            if loading is not None:
                scorers, loading = loading(), None
                self._scorers = scorers
            if watch is not None and watch.stop.requested():
                return
            for scorer in scorers:
                batch = scorer.score(batch)
            batch = batch.drop(self._hidden, strict=False)
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
        if loading is not None:
            self._scorers = loading()
        if n_rows is None and self._when_scored is not None:
            self._when_scored()

    def final_states(self) -> pl.DataFrame:
        """Every value's states after the last read (a writer's, which scores
        every value): the key columns, then each value's state columns, one
        row per key, in one frame."""
        method = self._spec.method
        if not self._keep_states or len(self._scorers) != len(self._spec.values):
            problem = (
                "the states are known once a read of a stream that keeps them has scored "
                "every value"
            )
            raise refuse(ParameterError, method, problem)
        first, *others = (scorer.states() for scorer in self._scorers)
        return pl.concat(
            [first, *(frame.drop(self._spec.keys) for frame in others)], how="horizontal"
        )


def on_own_thread(make: Callable[[], T], name: str) -> Callable[[], T]:
    """Starts `make` on a thread of its own, named `name`; the function
    returned waits for it and gives what it made, or raises what it raised."""
    made: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            made.append(make())
        except BaseException as error:  # raised again on the caller's thread
            failed.append(error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def wait() -> T:
        thread.join()
        if failed:
            raise failed[0]
        return made[0]

    return wait
