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

With ``states=``, :func:`rolling`, :func:`scan` and :func:`fold` continue
from an earlier run's states (:func:`final_states`, or ``fold``'s result), so
that a daily job scores only the day's rows.

Before the first job of :func:`rolling` or :func:`scan` in a Spark
application, one job of one row asks a worker whether its Python can import
Polars, pyarrow and this package, and an error names the fix
(``PYSPARK_PYTHON``) where it cannot, before any row runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
from pyspark.sql import types as T  # noqa: N812

from polars_scores._checks import column_name, column_names, finite, new_column, not_a_key
from polars_scores._spark_columns import check_columns, column, columns, order_columns
from polars_scores._spark_partitions import partition_function
from polars_scores._spark_states import fold_as_scan, sorted_per_key, states_after, with_starts
from polars_scores._spark_workers import check_workers
from polars_scores.spec import ScoreSpec, score_spec, total_spec

__all__ = ["dot", "final_states", "fold", "rolling", "scan", "total"]


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
    states: DataFrame | None = None,
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
    states
        Each key's start state, to continue from an earlier run: a Spark
        DataFrame of the key columns (named as `by`; an integer key may have
        another width) and the score column (`name`), one row per key, as
        :func:`final_states` gives. Keys it does not list start at
        `initial`. Scoring day 2's rows from day 1's final states gives, bit
        for bit, the day 2 scores of one run over both days.

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
    return _score_in_partitions(spec, df, order_by, states)


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
    states: DataFrame | None = None,
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
    return _score_in_partitions(spec, df, order_by, states)


def fold(
    df: DataFrame,
    value: str,
    rule: str | Mapping[str, str],
    *,
    by: str | Sequence[str],
    order_by: str | Sequence[str],
    initial: float | Mapping[str, float] = 0.0,
    inputs: Mapping[str, str] | None = None,
    states: DataFrame | None = None,
) -> DataFrame:
    """Your own aggregation: each key's states after its last row, in `order_by` order.

    One row per key: the key columns, then ``<value>_total`` for a
    one-expression rule or ``<value>_<state>`` per state of a mapping,
    equal bit for bit to single-machine Polars'
    ``df.sort(by + order_by).group_by(by).agg(pl.col(value).scores.fold(rule, ...))``
    (and to ``polars-scores total --rule``). Each key's rows go to one
    partition, sorted there, and are folded in ``mapInArrow`` by the same
    per-key store as ``total``. ``by=[]`` gives one row for the whole frame.

    ``states`` (an earlier result of ``fold``, one row per key) starts each
    key it lists from its states there, and the result then holds its keys
    too: ``fold(day2, ..., states=fold(day1, ...))`` equals, bit for bit,
    ``fold`` over both days.

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
    order = order_columns(method, order_by)
    keys, read = list(spec.keys), spec.input_columns
    check_columns(method, df, [value, *keys, *order, *read], numeric=[value], inputs=read)
    results = [T.StructField(name, T.DoubleType(), True) for name in spec.names]
    if states is None:
        check_workers(method, df.sparkSession.sparkContext)
        schema = T.StructType([*(df.schema[key] for key in keys), *results])
        ordered = sorted_per_key(df, keys, order)
        return ordered.mapInArrow(partition_function("fold_batches", spec.plain()), schema)
    both = with_starts(method, df, states, keys, order, spec.names)
    check_workers(method, df.sparkSession.sparkContext)
    schema = T.StructType([*(both.frame.schema[key] for key in keys), *results])
    run = partition_function("fold_after_starts", both.arguments(fold_as_scan(spec).plain()))
    return both.frame.mapInArrow(run, schema)


def final_states(
    scored: DataFrame,
    value: str,
    rule: str | Mapping[str, str] | None = None,
    *,
    by: str | Sequence[str],
    order_by: str | Sequence[str],
    initial: float | Mapping[str, float] = 0.0,
    inputs: Mapping[str, str] | None = None,
    name: str | None = None,
    states: DataFrame | None = None,
) -> DataFrame:
    """Each key's states after the rows that :func:`rolling` or :func:`scan` scored.

    The table to save for tomorrow's ``states=``: one row per key of `scored`
    and of the start `states`, the key columns then the score columns as
    doubles. A key's states are its score columns at its last row by
    `order_by` that scored (a row whose value or an input is null leaves the
    state); a key without one keeps its row of `states`, or else `initial`:
    bit for bit the states the scorer ends with. Spark's own aggregation
    reads them off `scored`, so cache `scored` (or read back the table it
    was saved to) rather than score it twice.

    Parameters
    ----------
    scored
        The result of :func:`rolling` or :func:`scan` (or the table it was
        saved to).
    value, rule, by, order_by, initial, inputs, name
        As given to the call that scored; without `rule`, the rolling score's.
    states
        The start states that call was given, if any.

    Examples
    --------
    >>> from pyspark.sql import SparkSession
    >>> from polars_scores import spark as scores
    >>> session = SparkSession.builder.getOrCreate()
    >>> day1 = session.createDataFrame(
    ...     [("a", 1, 1.0), ("b", 1, 3.0), ("a", 2, 2.0)], "k string, t int, x double"
    ... )
    >>> scored = scores.rolling(day1, "x", by="k", order_by="t")
    >>> saved = scores.final_states(scored, "x", by="k", order_by="t")
    >>> saved.orderBy("k").show()
    +---+-------+
    |  k|x_score|
    +---+-------+
    |  a|    2.9|
    |  b|    3.0|
    +---+-------+
    <BLANKLINE>
    >>> day2 = session.createDataFrame([("a", 3, 1.0)], "k string, t int, x double")
    >>> scores.rolling(day2, "x", by="k", order_by="t", states=saved).show()
    +---+---+---+-------+
    |  k|  t|  x|x_score|
    +---+---+---+-------+
    |  a|  3|1.0|   1.45|
    +---+---+---+-------+
    <BLANKLINE>
    """
    method = "polars_scores.spark.final_states"
    spec = score_spec(method, value, by=by, initial=initial, name=name, rule=rule, inputs=inputs)
    order = order_columns(method, order_by)
    names, keys = spec.columns(0), list(spec.keys)
    check_columns(method, scored, [*keys, *order, *names], numeric=names)
    return states_after(method, scored, keys, order, names, spec.number_starts(), states)


def _score_in_partitions(
    spec: ScoreSpec[str],
    df: DataFrame,
    order_by: str | Sequence[str] | None,
    states: DataFrame | None,
) -> DataFrame:
    """`df` sorted per key and scored by a :class:`StatefulScorer` of `spec` in
    ``mapInArrow``, each key from its row of `states` if any: the body of
    :func:`rolling` and :func:`scan`."""
    method = spec.method
    order = order_columns(method, order_by)
    (value,), names, keys = spec.values, spec.columns(0), list(spec.keys)
    inputs = spec.input_columns
    check_columns(method, df, [value, *keys, *order, *inputs], numeric=[value], inputs=inputs)
    for name in names:
        new_column(method, name, df.columns)
    scores = [T.StructField(name, T.DoubleType(), True) for name in names]
    if states is None:
        check_workers(method, df.sparkSession.sparkContext)
        schema = T.StructType([*df.schema.fields, *scores])
        ordered = sorted_per_key(df, keys, order)
        return ordered.mapInArrow(partition_function("score_batches", spec.plain()), schema)
    both = with_starts(method, df, states, keys, order, names)
    check_workers(method, df.sparkSession.sparkContext)
    schema = T.StructType([*both.frame.schema.fields[: len(df.columns)], *scores])
    run = partition_function("score_after_starts", both.arguments(spec.plain()))
    return both.restored(both.frame.mapInArrow(run, schema), df)


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
    check_columns(method, df, [value, *keys], numeric=[value])
    not_a_key(method, value, keys)
    new_column(method, f"{value}_total", keys)
    v = column(value).cast("double")
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
    check_columns(method, df, [a, b, *keys], numeric=[a, b])
    not_a_key(method, a, keys)
    name = f"{a}_{b}_dot"
    new_column(method, name, keys)
    product = column(a).cast("double") * column(b).cast("double")
    return _sum_per_key(df, keys, product, name)


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
    return df.groupBy(*columns(keys)).agg(summed)
