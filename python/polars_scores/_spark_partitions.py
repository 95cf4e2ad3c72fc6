"""What ``mapInArrow`` runs on each partition of :mod:`polars_scores.spark`:
the scores of a sorted partition (:func:`score_batches`) and each key's last
states (:func:`fold_batches`); and the same from start states
(:func:`score_after_starts`, :func:`fold_after_starts`).

The function Spark ships (:func:`partition_function`) is a closure, which
Spark pickles by value and unpickles in a Python worker: it refers to
nothing of this package until it has set ``POLARS_MAX_THREADS`` to the
task's share of cores, and only then imports this module (and Polars).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]  # no type hints
import pyarrow.compute as pc  # type: ignore[import-untyped]

from polars_scores._checks import ParameterError, refuse
from polars_scores.spec import ScoreSpec, TotalSpec
from polars_scores.stateful import StatefulScorer, check_states

PartitionFunction = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def partition_function(name: str, arguments: dict[str, Any]) -> PartitionFunction:
    """The function ``mapInArrow`` runs on each partition: this module's
    `name` with `arguments` (a spec's ``plain()``, or for the functions that
    start from start rows, the layout of ``_spark_states.WithStarts``), once
    the worker's Polars may use only the task's cores."""

    def run_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import os

        from pyspark import TaskContext

        task = TaskContext.get()
        os.environ.setdefault("POLARS_MAX_THREADS", str(task.cpus() if task is not None else 1))

        from polars_scores import _spark_partitions

        run: Callable[[Iterator[pa.RecordBatch], dict[str, Any]], Iterator[pa.RecordBatch]]
        run = getattr(_spark_partitions, name)
        return run(batches, arguments)

    return run_partition


def score_batches(
    batches: Iterator[pa.RecordBatch], plain: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each batch of one sorted partition with its score columns appended.

    The partition is sorted by key, so the scorer keeps only the current
    key's state (``key_sorted``): time per row does not grow with the
    number of keys a partition holds.
    """
    spec = ScoreSpec.from_plain(plain)
    scorer = StatefulScorer.from_spec(spec, key_sorted=True)
    for batch in batches:
        yield _with_scores(scorer, spec, batch)


def fold_batches(
    batches: Iterator[pa.RecordBatch], plain: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each key's states after its last row, of one partition holding whole
    keys in order: one row per key, the key columns in the Arrow types Spark
    declared, then the states. Without keys, one row (the initial states
    where the partition is empty)."""
    spec = TotalSpec.from_plain(plain)
    totals = spec.key_totals()
    key_types: list[pa.DataType] | None = None
    for batch in batches:
        key_types = [batch.schema.field(key).type for key in spec.keys]
        frame = _read(spec, batch)
        totals.add(
            [frame[key] for key in spec.keys],
            [frame[value] for value in spec.values],
            [frame[column] for column in spec.input_columns],
        )
    if spec.keys and key_types is None:
        return
    yield from _key_rows(pl.DataFrame(totals.finish(spec.names)), key_types or [])


def score_after_starts(
    batches: Iterator[pa.RecordBatch], arguments: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each of today's rows of one partition with its score columns appended,
    each key starting from its start row (see :class:`_Starts`)."""
    starts = _Starts(arguments)
    for batch in batches:
        scorer, rows = starts.split(batch)
        yield _with_scores(scorer, starts.spec, rows)


def fold_after_starts(
    batches: Iterator[pa.RecordBatch], arguments: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each key's states after its last row, of one partition holding whole
    keys with their start rows: one row per key met (started or scored).
    Without keys, one row."""
    starts = _Starts(arguments)
    key_types: list[pa.DataType] | None = None
    for batch in batches:
        key_types = [batch.schema.field(key).type for key in starts.spec.keys]
        scorer, rows = starts.split(batch)
        scorer.score(_read(starts.spec, rows))
    if starts.spec.keys and key_types is None:
        return
    yield from _key_rows(starts.scorer().states(), key_types or [])


class _Starts:
    """The scorer of one partition whose batches hold, before each key's rows,
    its start row (marker 0): the frame that ``_spark_states.with_starts``
    builds, with the layout it gives."""

    def __init__(self, arguments: dict[str, Any]) -> None:
        self.spec = ScoreSpec.from_plain(arguments["spec"])
        self._data: int = arguments["data"]
        self._states: list[str] = arguments["states"]
        self._marker: str = arguments["marker"]
        self._scorer: StatefulScorer | None = None

    def split(self, batch: pa.RecordBatch) -> tuple[StatefulScorer, pa.RecordBatch]:
        """The scorer, holding the states of the start rows of `batch`, and
        today's rows of `batch` (its first columns), to score next."""
        is_start = pc.equal(batch.column(self._marker), 0)
        started = batch.filter(is_start).select([*self.spec.keys, *self._states])
        frame = cast(pl.DataFrame, pl.from_arrow(started))
        frame = frame.rename(dict(zip(self._states, self.spec.columns(0), strict=True)))
        if self._scorer is None:
            method = self.spec.method
            states = check_states(method, frame, self.spec, exact=True) if len(frame) else None
            self._scorer = StatefulScorer.from_spec(self.spec, states=states)
        elif len(frame) and not self.spec.keys:
            problem = "states holds more than one row; without keys it holds one"
            raise refuse(ParameterError, self.spec.method, problem)
        elif len(frame):
            self._scorer.load_states(frame)
        return self._scorer, batch.filter(pc.invert(is_start)).select(list(range(self._data)))

    def scorer(self) -> StatefulScorer:
        """The scorer, started from the start rows met so far (of no batch,
        the initial states)."""
        if self._scorer is None:
            self._scorer = StatefulScorer.from_spec(self.spec)
        return self._scorer


def _read(spec: ScoreSpec[str] | TotalSpec, batch: pa.RecordBatch) -> pl.DataFrame:
    """The columns of `batch` that `spec` reads (values, keys, inputs), in Polars."""
    columns = list(dict.fromkeys([*spec.values, *spec.keys, *spec.input_columns]))
    # A RecordBatch always gives a DataFrame.
    return cast(pl.DataFrame, pl.from_arrow(batch.select(columns)))


def _with_scores(
    scorer: StatefulScorer, spec: ScoreSpec[str], batch: pa.RecordBatch
) -> pa.RecordBatch:
    """`batch` with the score columns of `scorer` (of `spec`) appended. Only
    the columns the scorer reads go through Polars, so every other column
    keeps exactly the Arrow type Spark declared (no ``large_string`` coming
    back)."""
    scored = scorer.score(_read(spec, batch))
    scores = [scored.get_column(name).to_arrow().cast(pa.float64()) for name in scorer.columns]
    fields = [pa.field(name, pa.float64(), nullable=True) for name in scorer.columns]
    schema = pa.schema([*batch.schema, *fields])
    return pa.RecordBatch.from_arrays([*batch.columns, *scores], schema=schema)


def _key_rows(frame: pl.DataFrame, key_types: list[pa.DataType]) -> Iterator[pa.RecordBatch]:
    """`frame` (the key columns, then the states) as Arrow batches, the key
    columns in the Arrow types Spark declared and the states as doubles."""
    table = frame.to_arrow()
    states = len(table.columns) - len(key_types)
    types = [*key_types, *(pa.float64() for _ in range(states))]
    arrays = [column.cast(kind) for column, kind in zip(table.columns, types, strict=True)]
    yield from pa.table(arrays, names=table.column_names).to_batches()
