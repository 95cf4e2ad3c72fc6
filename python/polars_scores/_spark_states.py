"""Start states for :mod:`polars_scores.spark`: yesterday's states table
brought into today's partitions, and each key's final states read off the
scored rows.

A states table holds one row per key: the key columns, then one number per
state, named as the score columns (``x_score``, or ``x_<state>`` for a
mapping rule; ``fold``'s result names). Its rows join today's rows in one
frame, marked, so that each key's start row reaches its partition and sorts
before that key's rows; the partition function loads it into the scorer
before it scores them (``_spark_partitions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
from pyspark.sql import types as T  # noqa: N812

from polars_scores._checks import (
    MissingColumnError,
    ParameterError,
    ParameterTypeError,
    not_numeric,
    refuse,
)
from polars_scores._spark_columns import NUMERIC_TYPES, column, columns
from polars_scores.spec import ScoreSpec, TotalSpec

_INTEGERS: tuple[type[T.DataType], ...] = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
"""Spark's integer types, narrowest first: a key of one width matches the
same number in another, as in the scorer."""


def sorted_per_key(df: DataFrame, keys: Sequence[str], order: Sequence[str]) -> DataFrame:
    """`df` with each key's rows in one partition, sorted there by `keys` then
    `order` (ascending, nulls first, NaN last, as Polars sorts); without
    keys, all rows in one partition."""
    grouped = df.repartition(*columns(keys)) if keys else df.repartition(1)
    return grouped.sortWithinPartitions(*columns([*keys, *order]))


def checked_states(
    method: str, rows: DataFrame, states: object, keys: Sequence[str], names: Sequence[str]
) -> tuple[DataFrame, dict[str, T.DataType]]:
    """`states`, checked to be a Spark DataFrame of exactly the columns `keys`
    and the numeric `names`: its key columns cast to the type each has where
    `rows` meet it (the wider of two integer types), its states to doubles;
    and those types."""
    if not isinstance(states, DataFrame):
        kind = type(states).__name__
        problem = f"states must be a Spark DataFrame of each key's start states, got {kind}"
        raise refuse(ParameterTypeError, method, problem)
    fields = {field.name: field.dataType for field in states.schema.fields}
    missing = [name for name in [*keys, *names] if name not in fields]
    extra = [name for name in fields if name not in [*keys, *names]]
    if missing or extra:
        wrong = [f"lacks {_listed(missing)}"] if missing else []
        wrong += [f"has {_listed(extra)} too"] if extra else []
        problem = (
            f"states must hold exactly the key columns ({_listed(keys) or 'none'}) and the "
            f"state columns ({_listed(names)}); it {' and '.join(wrong)}"
        )
        raise refuse(MissingColumnError if missing else ParameterError, method, problem)
    for name in names:
        if not isinstance(fields[name], NUMERIC_TYPES) or isinstance(fields[name], T.NullType):
            raise not_numeric(
                method, name, fields[name].simpleString(), "a numeric column in states"
            )
    common = {}
    for key in keys:
        mine, theirs = rows.schema[key].dataType, fields[key]
        if mine.simpleString() == theirs.simpleString():
            common[key] = mine
        elif isinstance(mine, _INTEGERS) and isinstance(theirs, _INTEGERS):
            common[key] = max(mine, theirs, key=lambda kind: _INTEGERS.index(type(kind)))
        else:
            problem = (
                f"states' key column {key!r} is {theirs.simpleString()} where the rows' is "
                f"{mine.simpleString()}; cast one to the other's type"
            )
            raise refuse(ParameterError, method, problem)
    checked = states.select(
        *(column(key).cast(common[key]).alias(key) for key in keys),
        *(column(name).cast(T.DoubleType()).alias(name) for name in names),
    )
    return checked, common


def _listed(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _unused(name: str, taken: Sequence[str]) -> str:
    """`name`, with underscores before it until no column of `taken` has it."""
    while name in taken:
        name = "_" + name
    return name


def _widened(df: DataFrame, types: dict[str, T.DataType]) -> DataFrame:
    """`df` with each key column of `types` cast to its type there."""
    changed = {
        key: column(key).cast(kind)
        for key, kind in types.items()
        if df.schema[key].dataType.simpleString() != kind.simpleString()
    }
    return df.withColumns(changed) if changed else df


@dataclass(frozen=True)
class WithStarts:
    """Today's rows and the start states as one frame, sorted per key, each
    key's start row first, with what the partition function needs to tell
    them apart."""

    frame: DataFrame
    """Today's columns, then the hidden state columns and the marker (0 on a
    start row, 1 on today's rows)."""
    layout: dict[str, Any]
    """``data``: how many of the first columns are today's; ``keys``;
    ``states``: the hidden state columns, in the order of the state names;
    ``marker``."""

    def arguments(self, plain: dict[str, Any]) -> dict[str, Any]:
        """The partition function's arguments for the spec `plain`."""
        return {**self.layout, "spec": plain}

    def restored(self, scored: DataFrame, rows: DataFrame) -> DataFrame:
        """`scored` with each key column cast back to its type in `rows`,
        where the start states widened it."""
        types = {key: rows.schema[key].dataType for key in self.layout["keys"]}
        return _widened(scored, types)


def with_starts(
    method: str,
    df: DataFrame,
    states: object,
    keys: Sequence[str],
    order: Sequence[str],
    names: Sequence[str],
) -> WithStarts:
    """`df`'s rows and the rows of `states` (checked: `keys` and the state
    columns `names`) in one frame, each key's in one partition, its start
    row first, then its rows by `order`."""
    checked, types = checked_states(method, df, states, keys, names)
    taken = [*df.columns, *checked.columns]
    hidden = [_unused(f"__start_{i}", taken) for i in range(len(names))]
    marker = _unused("__start", taken)
    rows = _widened(df, types).withColumns(
        {
            **{state: F.lit(None).cast(T.DoubleType()) for state in hidden},
            marker: F.lit(1).cast(T.ByteType()),
        }
    )
    starts = checked.select(
        *columns(keys),
        *(column(name).alias(state) for name, state in zip(names, hidden, strict=True)),
        F.lit(0).cast(T.ByteType()).alias(marker),
    )
    both = rows.unionByName(starts, allowMissingColumns=True)
    layout = {"data": len(df.columns), "keys": list(keys), "states": hidden, "marker": marker}
    return WithStarts(sorted_per_key(both, keys, [marker, *order]), layout)


def states_after(
    method: str,
    scored: DataFrame,
    keys: Sequence[str],
    order: Sequence[str],
    names: Sequence[str],
    initial: Sequence[float],
    states: object,
) -> DataFrame:
    """Each key's states after its last scored row: the score columns `names`
    at its last row by `order` whose first score is not null, else its row of
    `states`, else `initial`. One row per key of `scored` and of `states`."""
    taken = [*scored.columns, *names]
    state, last = _unused("__state", taken), _unused("__last", taken)
    rank = _unused("__rank", taken)
    # One aggregation picks each key's row ranked last: first by whether it
    # scored (2), is a start row (1) or left the state (0), then by `order`.
    scored_row = F.when(column(names[0]).isNotNull(), 2).otherwise(0)
    rows = scored.select(
        *columns(keys),
        _struct(names).alias(state),
        F.struct(scored_row.alias(rank), *columns(order)).alias(last),
    )
    if states is not None:
        checked, types = checked_states(method, scored, states, keys, names)
        nowhere = (F.lit(None).cast(scored.schema[name].dataType).alias(name) for name in order)
        starts = checked.select(
            *columns(keys),
            _struct(names).alias(state),
            F.struct(F.lit(1).alias(rank), *nowhere).alias(last),
        )
        rows = _widened(rows, types).unionByName(starts)
    newest = rows.groupBy(*columns(keys)).agg(
        F.max_by(column(state), column(last)).alias(state),
        F.max(column(last)[rank]).alias(rank),
    )
    return newest.select(
        *columns(keys),
        *(
            F.when(column(rank) > 0, column(state)[name])
            .otherwise(F.lit(number).cast(T.DoubleType()))
            .alias(name)
            for name, number in zip(names, initial, strict=True)
        ),
    )


def fold_as_scan(spec: TotalSpec) -> ScoreSpec[str]:
    """The scan whose scorer ends with the states `spec` folds to, its state
    columns named as the fold's results: a fold with start states is a scan
    from them that keeps only each key's last states."""
    (value,) = spec.values
    single = spec.program is None or spec.program.states is None
    return ScoreSpec(
        method=spec.method,
        values=(value,),
        names=(f"{value}_total" if single else value,),
        keys=spec.keys,
        rise=0.9,
        fall=0.5,
        initial=spec.starts[0],
        program=spec.program,
        inputs=spec.inputs,
        spelling=spec.spelling,
        starts=spec.starts,
    )


def _struct(names: Sequence[str]) -> Column:
    """The columns `names` as doubles, in one struct whose fields keep their names."""
    return F.struct(*(column(name).cast(T.DoubleType()).alias(name) for name in names))
