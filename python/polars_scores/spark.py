"""The same scores on Apache Spark, for data that outgrows one machine.

:func:`rolling` (and :func:`scan`, for your own rule) sends each key's rows to
one partition, sorts them there and scores them with the plugin inside
``mapInArrow``, one Arrow batch at a time, carrying each key's state from
batch to batch with a
:class:`~polars_scores.stateful.StatefulScorer`. Its result equals, bit for
bit, Polars' ``sort(by + order_by)`` followed by ``scores.rolling(by=by)``.

:func:`total` and :func:`dot` are plain sums, so they run on Spark's own
partial aggregation with no Python at all: measured against summing with the
plugin inside ``mapInArrow`` (``benchmarks/spark_bench.py``), the native plan
was the faster one. The per-row terms are those of the plugin, bit for bit
(``v * sqrt(v)`` for the exponent 1.5, and so on); only the order in which
Spark adds them differs, which moves the last bits of a sum.

Polars is imported in the executors' Python workers only after
``POLARS_MAX_THREADS`` is set to the task's share of cores (``spark.task.cpus``,
one by default), because Spark already runs one task per core. A value set by
the user (``spark.executorEnv.POLARS_MAX_THREADS``) wins.

Before the first job of :func:`rolling` or :func:`scan` in a Spark
application, one job of one row asks a worker whether its Python can import
Polars, pyarrow and this package, and an error names the fix
(``PYSPARK_PYTHON``) where it cannot, before any row runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
from pyspark.sql import types as T  # noqa: N812

from polars_scores._checks import (
    ACCEPTED_DTYPES,
    INPUT_DTYPES,
    ParameterError,
    column_name,
    column_names,
    finite,
    new_column,
    not_a_key,
    not_numeric,
    refuse,
    require_columns,
)
from polars_scores._spark_partitions import partition_function
from polars_scores._spark_workers import check_workers
from polars_scores.spec import ScoreSpec, score_spec, total_spec

__all__ = ["dot", "fold", "rolling", "scan", "total"]

_ARRIVES_AS: dict[type[T.DataType], pl.DataType] = {
    T.ByteType: pl.Int8(),
    T.ShortType: pl.Int16(),
    T.IntegerType: pl.Int32(),
    T.LongType: pl.Int64(),
    T.FloatType: pl.Float32(),
    T.DoubleType: pl.Float64(),
    T.NullType: pl.Null(),
    T.BooleanType: pl.Boolean(),
}
"""The Polars dtype that each Spark type of a fixed-width number arrives as, through Arrow."""

_NUMERIC_TYPES = tuple(spark for spark, dtype in _ARRIVES_AS.items() if dtype in ACCEPTED_DTYPES)
"""The Spark types the kernels read, as the kernels decide for their Polars dtypes."""

_INPUT_TYPES = tuple(spark for spark, dtype in _ARRIVES_AS.items() if dtype in INPUT_DTYPES)
"""The Spark types a rule's inputs may have (numbers, and Booleans read as 0.0 and 1.0)."""


def rolling(
    df: DataFrame,
    value: str,
    *,
    by: str | Sequence[str],
    order_by: str | Sequence[str],
    rise: float = 0.9,
    fall: float = 0.5,
    initial: float = 0.0,
    name: str | None = None,
) -> DataFrame:
    """`df` with the rolling score of `value` added, per key, in `order_by` order.

    The rows are hash-partitioned by `by` (so each key lives in one
    partition), sorted within each partition by `by` then `order_by`
    (ascending, nulls first, NaN last, as both Spark and Polars sort), and
    scored by the plugin. A key whose rows span several Arrow batches
    (``spark.sql.execution.arrow.maxRecordsPerBatch``) carries its state
    across them. The scores equal, bit for bit, those of single-machine
    Polars::

        df.sort(by + order_by).with_columns(
            pl.col(value).scores.rolling(by=by, rise=rise, fall=fall, initial=initial).alias(name)
        )

    as long as `order_by` orders each key's rows completely: rows that tie
    on every `order_by` column have no defined order, in Spark as in Polars.
    The result's rows come out grouped by partition and key, in no global
    order.

    Parameters
    ----------
    df
        The input.
    value
        The numeric column to score (an integer or floating-point type).
    by
        Key column(s); each key's recurrence runs on its own and null keys
        form a key of their own. An empty list scores all rows as one series,
        in a single partition.
    order_by
        The column(s) that order each key's rows: Spark has no row order of
        its own after a shuffle, so at least one is required.
    rise, fall, initial
        As in ``pl.Expr.scores.rolling``.
    name
        The score column's name, ``"<value>_score"`` by default; it must not
        name an existing column.

    Returns
    -------
    pyspark.sql.DataFrame
        The columns of `df` and a DoubleType score column, last.

    Examples
    --------
    >>> from pyspark.sql import SparkSession
    >>> from polars_scores import spark as scores
    >>> session = SparkSession.builder.getOrCreate()
    >>> rows = [("a", 1, 1.0), ("a", 2, 0.5), ("b", 1, 3.0), ("a", 3, 2.0)]
    >>> df = session.createDataFrame(rows, "k string, t int, x double")
    >>> scores.rolling(df, "x", by="k", order_by="t").orderBy("k", "t").show()
    +---+---+---+-------+
    |  k|  t|  x|x_score|
    +---+---+---+-------+
    |  a|  1|1.0|    1.0|
    |  a|  2|0.5|    0.5|
    |  a|  3|2.0|   2.45|
    |  b|  1|3.0|    3.0|
    +---+---+---+-------+
    <BLANKLINE>
    """
    spec = score_spec(
        "polars_scores.spark.rolling",
        value,
        by=by,
        rise=rise,
        fall=fall,
        initial=initial,
        name=name,
        none_is_default=False,
    )
    return _score_in_partitions(spec, df, order_by)


def scan(
    df: DataFrame,
    value: str,
    rule: str | Mapping[str, str],
    *,
    by: str | Sequence[str] | None = None,
    order_by: str | Sequence[str] | None = None,
    initial: float | Mapping[str, float] = 0.0,
    inputs: Mapping[str, str] | None = None,
    name: str | None = None,
) -> DataFrame:
    """`df` with your own rule's score of `value` added, per key, in `order_by` order.

    As :func:`rolling`, with the recurrence of ``pl.Expr.scores.scan``: the
    scores equal, bit for bit, those of single-machine Polars::

        df.sort(by + order_by).with_columns(
            pl.col(value).scores.scan(rule, by=by, initial=initial, inputs=inputs).alias(name)
        )

    Each executor compiles the rule for itself. ``inputs`` maps the rule's
    names to columns of `df`; ``by=None`` scores all rows as one series (in a
    single partition); ``order_by`` is required. A mapping rule (several
    states) adds one column per state, ``<value>_<state>`` (``<name>_<state>``).

    Examples
    --------
    >>> from pyspark.sql import SparkSession
    >>> from polars_scores import spark as scores
    >>> session = SparkSession.builder.getOrCreate()
    >>> rows = [("a", 1, 1.0), ("a", 2, 0.5), ("b", 1, 3.0), ("a", 3, 2.0)]
    >>> df = session.createDataFrame(rows, "k string, t int, x double")
    >>> rule = "prev * 0.5 + value * t"
    >>> scored = scores.scan(df, "x", rule, by="k", order_by="t", inputs={"t": "t"})
    >>> scored.orderBy("k", "t").show()
    +---+---+---+-------+
    |  k|  t|  x|x_score|
    +---+---+---+-------+
    |  a|  1|1.0|    1.0|
    |  a|  2|0.5|    1.5|
    |  a|  3|2.0|   6.75|
    |  b|  1|3.0|    3.0|
    +---+---+---+-------+
    <BLANKLINE>
    """
    spec = score_spec(
        "polars_scores.spark.scan",
        value,
        by=by or [],
        initial=initial,
        name=name,
        rule=rule,
        inputs=inputs,
        needs_rule=True,
    )
    return _score_in_partitions(spec, df, order_by)


def fold(
    df: DataFrame,
    value: str,
    rule: str | Mapping[str, str],
    *,
    by: str | Sequence[str],
    order_by: str | Sequence[str],
    initial: float | Mapping[str, float] = 0.0,
    inputs: Mapping[str, str] | None = None,
) -> DataFrame:
    """Your own aggregation: each key's states after its last row, in `order_by` order.

    One row per key: the key columns, then ``<value>_total`` for a
    one-expression rule or ``<value>_<state>`` per state of a mapping,
    equal bit for bit to single-machine Polars'
    ``df.sort(by + order_by).group_by(by).agg(pl.col(value).scores.fold(rule, ...))``
    (and to ``polars-scores total --rule``). Each key's rows go to one
    partition, sorted there, and are folded in ``mapInArrow`` by the same
    per-key store as ``total``. ``by=[]`` gives one row for the whole frame.

    Examples
    --------
    >>> from pyspark.sql import SparkSession
    >>> from polars_scores import spark as scores
    >>> df = SparkSession.builder.getOrCreate().createDataFrame(
    ...     [("a", 1, 1.0), ("a", 2, 5.0), ("b", 1, 3.0), ("a", 3, 2.0)],
    ...     "k string, t int, x double",
    ... )
    >>> rule = {"n": "n + 1", "peak": "max(peak, value)"}
    >>> scores.fold(df, "x", rule, by="k", order_by="t").orderBy("k").show()
    +---+---+------+
    |  k|x_n|x_peak|
    +---+---+------+
    |  a|3.0|   5.0|
    |  b|1.0|   3.0|
    +---+---+------+
    <BLANKLINE>
    """
    method = "polars_scores.spark.fold"
    spec = total_spec(method, value, by=by, rule=rule, inputs=inputs, initial=initial)
    order = _order_columns(method, order_by)
    keys, columns = list(spec.keys), spec.input_columns
    _check_columns(method, df, [value, *keys, *order, *columns], numeric=[value], inputs=columns)
    check_workers(method, df.sparkSession.sparkContext)
    states = [T.StructField(name, T.DoubleType(), True) for name in spec.names]
    schema = T.StructType([*(df.schema[key] for key in keys), *states])
    grouped = df.repartition(*_columns(keys)) if keys else df.repartition(1)
    ordered = grouped.sortWithinPartitions(*_columns([*keys, *order]))
    return ordered.mapInArrow(partition_function("fold_batches", spec.plain()), schema)


def _score_in_partitions(
    spec: ScoreSpec[str], df: DataFrame, order_by: str | Sequence[str] | None
) -> DataFrame:
    """`df` sorted per key and scored by a :class:`StatefulScorer` of `spec` in
    ``mapInArrow``: the body of :func:`rolling` and :func:`scan`."""
    method = spec.method
    order = _order_columns(method, order_by)
    (value,), names, keys = spec.values, spec.columns(0), list(spec.keys)
    inputs = spec.input_columns
    _check_columns(method, df, [value, *keys, *order, *inputs], numeric=[value], inputs=inputs)
    for name in names:
        new_column(method, name, df.columns)
    check_workers(method, df.sparkSession.sparkContext)
    scores = [T.StructField(name, T.DoubleType(), True) for name in names]
    schema = T.StructType([*df.schema.fields, *scores])
    grouped = df.repartition(*_columns(keys)) if keys else df.repartition(1)
    ordered = grouped.sortWithinPartitions(*_columns([*keys, *order]))
    return ordered.mapInArrow(partition_function("score_batches", spec.plain()), schema)


def total(
    df: DataFrame, value: str, *, by: str | Sequence[str], exponent: float = 1.5
) -> DataFrame:
    """The sum of ``v ** exponent`` over the non-null ``v > 0``, per key.

    As ``df.group_by(by).agg(pl.col(value).scores.total(exponent=exponent))``
    in Polars: nulls are skipped, NaN does not count (although Spark's own
    ``>`` ranks NaN above every number), and a key where no value counts
    gets 0.0 (where Spark's ``sum`` of nothing is null). Computed by Spark's
    native partial aggregation, which beat plugin partial sums inside
    ``mapInArrow`` (see the module docstring). The sum agrees with the
    plugin's to within about 1e-12 relative: the terms are the same, only
    their order of addition differs.

    Parameters
    ----------
    df
        The input.
    value
        The numeric column to sum.
    by
        Key column(s), null keys forming a key of their own; an empty list
        gives one row for the whole frame (0.0 if it is empty).
    exponent
        The power each positive value is raised to.

    Returns
    -------
    pyspark.sql.DataFrame
        The key columns and a non-null DoubleType column named
        ``"<value>_total"``, as the command line's ``total`` names it; one row
        per key, in no particular order.

    Examples
    --------
    >>> from pyspark.sql import SparkSession
    >>> from polars_scores import spark as scores
    >>> session = SparkSession.builder.getOrCreate()
    >>> df = session.createDataFrame(
    ...     [("a", 4.0), ("a", -1.0), ("b", 9.0), ("c", None)], "k string, x double"
    ... )
    >>> scores.total(df, "x", by="k").orderBy("k").show()
    +---+-------+
    |  k|x_total|
    +---+-------+
    |  a|    8.0|
    |  b|   27.0|
    |  c|    0.0|
    +---+-------+
    <BLANKLINE>
    """
    method = "polars_scores.spark.total"
    keys = column_names(method, "by", by)
    exponent = finite(method, "exponent", exponent)
    value = column_name(method, "value", value)
    _check_columns(method, df, [value, *keys], numeric=[value])
    not_a_key(method, value, keys)
    new_column(method, f"{value}_total", keys)
    v = _column(value).cast("double")
    # Spark ranks NaN above every number, so `v > 0` alone would count it.
    counts = (v > 0) & ~F.isnan(v)
    return _sum_per_key(df, keys, F.when(counts, _power(v, exponent)), f"{value}_total")


def dot(df: DataFrame, a: str, b: str, *, by: str | Sequence[str]) -> DataFrame:
    """The sum of ``a * b`` over the rows where both are non-null, per key.

    As ``df.group_by(by).agg(pl.col(a).scores.dot(b))`` in Polars: each
    column is converted to a double before the product (so integer columns
    never overflow), and a key with no such row gets 0.0. Computed by Spark's
    native partial aggregation; the sum agrees with the plugin's to within
    about 1e-12 of the sum of ``|a * b|``.

    Parameters
    ----------
    df
        The input.
    a, b
        The numeric columns to multiply.
    by
        Key column(s), null keys forming a key of their own; an empty list
        gives one row for the whole frame.

    Returns
    -------
    pyspark.sql.DataFrame
        The key columns and a non-null DoubleType column named
        ``"<a>_<b>_dot"``; one row per key, in no particular order.

    Examples
    --------
    >>> from pyspark.sql import SparkSession
    >>> from polars_scores import spark as scores
    >>> session = SparkSession.builder.getOrCreate()
    >>> df = session.createDataFrame(
    ...     [("a", 1, 0.5), ("a", 2, 4.0), ("b", None, 2.0)], "k string, x long, y double"
    ... )
    >>> scores.dot(df, "x", "y", by="k").orderBy("k").show()
    +---+-------+
    |  k|x_y_dot|
    +---+-------+
    |  a|    8.5|
    |  b|    0.0|
    +---+-------+
    <BLANKLINE>
    """
    method = "polars_scores.spark.dot"
    keys = column_names(method, "by", by)
    a, b = column_name(method, "a", a), column_name(method, "b", b)
    _check_columns(method, df, [a, b, *keys], numeric=[a, b])
    not_a_key(method, a, keys)
    name = f"{a}_{b}_dot"
    new_column(method, name, keys)
    product = _column(a).cast("double") * _column(b).cast("double")
    return _sum_per_key(df, keys, product, name)


def _order_columns(method: str, order_by: str | Sequence[str] | None) -> list[str]:
    """The columns that order each key's rows: at least one."""
    order = column_names(method, "order_by", order_by) if order_by is not None else []
    if not order:
        raise refuse(
            ParameterError,
            method,
            "order_by must name at least one column: Spark keeps no row order "
            "after the shuffle that groups the keys",
        )
    return order


def _check_columns(
    method: str,
    df: DataFrame,
    names: Sequence[str],
    numeric: Sequence[str],
    inputs: Sequence[str] = (),
) -> None:
    """Check that `df` has every column of `names`, that those of `numeric`
    are numeric and those of `inputs` (a rule's) numeric or Boolean.

    Names match exactly (Polars' rule), whatever ``spark.sql.caseSensitive`` says.
    """
    fields = {field.name: field.dataType for field in df.schema.fields}
    require_columns(method, fields, names)
    numbers = [spark for spark in _NUMERIC_TYPES if spark is not T.NullType]
    readable = ", ".join(spark().simpleString() for spark in numbers)
    for name in numeric:
        if not isinstance(fields[name], _NUMERIC_TYPES):
            raise not_numeric(
                method, name, fields[name].simpleString(), f"a numeric column ({readable})"
            )
    for name in inputs:
        if not isinstance(fields[name], _INPUT_TYPES):
            raise not_numeric(
                method,
                name,
                fields[name].simpleString(),
                f"a numeric column ({readable}) or a boolean (read as 0.0 and 1.0) "
                "as a rule's input",
            )


def _column(name: str) -> Column:
    """The column called `name`, even if the name holds dots or backticks."""
    return F.col("`" + name.replace("`", "``") + "`")


def _columns(names: Sequence[str]) -> list[Column]:
    return [_column(name) for name in names]


def _power(v: Column, exponent: float) -> Column:
    """``v ** exponent`` computed as the plugin computes it, so each term is bit-identical.

    ``sqrt`` and ``*`` round exactly in Java as in Rust; ``pow`` (Java's
    StrictMath, Rust's libm) may differ in the last bit, so it is used only
    for the exponents the plugin also leaves to ``powf``.
    """
    special = {
        1.0: lambda: v,
        0.5: lambda: F.sqrt(v),
        1.5: lambda: v * F.sqrt(v),
        2.0: lambda: v * v,
    }
    form = special.get(exponent)
    return form() if form is not None else F.pow(v, F.lit(exponent))


def _sum_per_key(df: DataFrame, keys: Sequence[str], terms: Column, name: str) -> DataFrame:
    """The sum of `terms` (nulls skipped) per key, 0.0 where there is none."""
    summed = F.coalesce(F.sum(terms), F.lit(0.0)).alias(name)
    return df.groupBy(*_columns(keys)).agg(summed)
