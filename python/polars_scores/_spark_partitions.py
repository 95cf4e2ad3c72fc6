"""What ``mapInArrow`` runs on each partition of :mod:`polars_scores.spark`:
the scores of a sorted partition (:func:`score_batches`) and each key's last
states (:func:`fold_batches`).

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

from polars_scores.spec import ScoreSpec, TotalSpec
from polars_scores.stateful import StatefulScorer

PartitionFunction = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def partition_function(name: str, spec: dict[str, Any]) -> PartitionFunction:
    """The function ``mapInArrow`` runs on each partition: this module's
    `name` (``score_batches`` or ``fold_batches``) with `spec` (a spec's
    ``plain()``), once the worker's Polars may use only the task's cores."""

    def run_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import os

        from pyspark import TaskContext

        task = TaskContext.get()
        os.environ.setdefault("POLARS_MAX_THREADS", str(task.cpus() if task is not None else 1))

        from polars_scores import _spark_partitions

        run: Callable[[Iterator[pa.RecordBatch], dict[str, Any]], Iterator[pa.RecordBatch]]
        run = getattr(_spark_partitions, name)
        return run(batches, spec)

    return run_partition


def score_batches(
    batches: Iterator[pa.RecordBatch], plain: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each batch of one sorted partition with its score columns appended.

    The partition is sorted by key, so the scorer keeps only the current
    key's state (``key_sorted``): time per row does not grow with the
    number of keys a partition holds. Only the value, key and input columns
    go through Polars; the score columns are appended to the batch Spark sent,
    so every other column keeps exactly the Arrow type Spark declared (no
    ``large_string`` coming back).
    """
    spec = ScoreSpec.from_plain(plain)
    scorer = StatefulScorer.from_spec(spec, key_sorted=True)
    columns = list(dict.fromkeys([*spec.values, *spec.keys, *spec.input_columns]))
    schema = None
    for batch in batches:
        if schema is None:
            schema = batch.schema
            for name in scorer.columns:
                schema = schema.append(pa.field(name, pa.float64(), nullable=True))
        # A RecordBatch always gives a DataFrame.
        frame = cast(pl.DataFrame, pl.from_arrow(batch.select(columns)))
        scored = scorer.score(frame)
        scores = [scored.get_column(name).to_arrow().cast(pa.float64()) for name in scorer.columns]
        yield pa.RecordBatch.from_arrays([*batch.columns, *scores], schema=schema)


def fold_batches(
    batches: Iterator[pa.RecordBatch], plain: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Each key's states after its last row, of one partition holding whole
    keys in order: one row per key, the key columns in the Arrow types Spark
    declared, then the states. Without keys, one row (the initial states
    where the partition is empty)."""
    spec = TotalSpec.from_plain(plain)
    totals = spec.key_totals()
    columns = list(dict.fromkeys([*spec.values, *spec.keys, *spec.input_columns]))
    key_types: list[pa.DataType] | None = None
    for batch in batches:
        key_types = [batch.schema.field(key).type for key in spec.keys]
        frame = cast(pl.DataFrame, pl.from_arrow(batch.select(columns)))
        totals.add(
            [frame[key] for key in spec.keys],
            [frame[value] for value in spec.values],
            [frame[column] for column in spec.input_columns],
        )
    if spec.keys and key_types is None:
        return
    table = pl.DataFrame(totals.finish(spec.names)).to_arrow()
    types = [*(key_types or []), *(pa.float64() for _ in spec.names)]
    arrays = [column.cast(kind) for column, kind in zip(table.columns, types, strict=True)]
    yield from pa.table(arrays, names=table.column_names).to_batches()
