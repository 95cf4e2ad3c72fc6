"""`polars_scores.spark` on a real local SparkSession, against single-machine
Polars and the independent Python references.

One SparkSession serves the whole test session (starting one costs seconds).
Each test forces the cases a distributed run must get right: Arrow batches of
1, 3 or 7 rows so that keys span batches, more shuffle partitions than cores,
a heavily skewed key, empty partitions, and nulls in values and keys.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]  # no type hints
from helpers import assert_bit_identical, column_values
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from pyspark import cloudpickle
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
from pyspark.sql import types as T  # noqa: N812
from reference import dot as reference_dot
from reference import dot_terms, scan_by_key, score_by_key
from reference import total as reference_total

import polars_scores as ps
from polars_scores import _spark_partitions
from polars_scores import spark as scores
from polars_scores.spec import score_spec

pytestmark = [pytest.mark.spark, pytest.mark.slow]

BATCH_SIZES = [1, 3, 7]


@contextlib.contextmanager
def batches_of(spark: SparkSession, rows: int, partitions: int = 5) -> Iterator[None]:
    """Run the body with Arrow batches of at most `rows` rows, shuffles into
    `partitions` partitions, and no adaptive coalescing (which would merge the
    small and empty partitions away)."""
    settings = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(rows),
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.sql.adaptive.enabled": "false",
    }
    before: dict[str, str | None] = {name: spark.conf.get(name, None) for name in settings}
    try:
        for name, setting in settings.items():
            spark.conf.set(name, setting)
        yield
    finally:
        for name, old in before.items():
            if old is None:
                spark.conf.unset(name)
            else:
                spark.conf.set(name, old)


def to_spark(spark: SparkSession, frame: pl.DataFrame) -> DataFrame:
    return spark.createDataFrame(frame.to_arrow())


def to_polars(df: DataFrame) -> pl.DataFrame:
    frame = pl.from_arrow(df.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def canonical(key: object) -> object:
    """A key as the references' dicts must see it: every NaN is one key (as in
    Polars and Spark), -0.0 and 0.0 are one key (as in Python)."""
    if isinstance(key, float) and math.isnan(key):
        return "NaN"
    return key


def polars_rolling(
    frame: pl.DataFrame,
    value: str,
    by: list[str],
    order_by: list[str],
    name: str,
    kwargs: dict[str, float],
) -> pl.DataFrame:
    """What the Spark result must equal: single-machine Polars."""
    return frame.sort(by + order_by).with_columns(
        ps.col(value).scores.rolling(by=by, **kwargs).alias(name)
    )


def check_rolling(
    spark_result: DataFrame,
    frame: pl.DataFrame,
    value: str,
    by: list[str],
    order_by: list[str],
    name: str,
    kwargs: dict[str, float] | None = None,
    *,
    empty_partitions: bool = False,
) -> None:
    """The Spark result has `frame`'s rows and types plus a score column equal,
    bit for bit, to single-machine Polars' and to the Python reference's.

    With `empty_partitions`, also check that some partition held no rows."""
    with_partition = to_polars(spark_result.withColumn("_partition", F.spark_partition_id()))
    if empty_partitions:
        assert with_partition["_partition"].n_unique() < spark_result.rdd.getNumPartitions()
    got = with_partition.drop("_partition").sort(by + order_by)
    kwargs = kwargs or {}
    want = polars_rolling(frame, value, by, order_by, name, kwargs)
    assert got.columns == [*frame.columns, name]
    assert got.drop(name).equals(want.drop(name), null_equal=True)
    assert got.schema[name] == pl.Float64
    assert_bit_identical(got[name].to_list(), want[name].to_list())
    keys = [tuple(canonical(k) for k in row) for row in want.select(by).rows()] if by else []
    keys = keys or [()] * want.height
    reference = score_by_key(want[value].to_list(), keys, **kwargs)
    assert_bit_identical(got[name].to_list(), reference)


# -- rolling ---------------------------------------------------------------------


@st.composite
def keyed_frames(draw: st.DrawFn) -> pl.DataFrame:
    """Values with nulls and special floats, two key columns with nulls, and a
    unique order column that arrives shuffled."""
    values = draw(column_values(pl.Float64, max_size=40))
    n = len(values)
    word = st.lists(st.sampled_from([None, "a", "bb", "hot"]), min_size=n, max_size=n)
    number = st.lists(st.sampled_from([None, 0, 1]), min_size=n, max_size=n)
    order = draw(st.permutations(range(n)))
    return pl.DataFrame(
        {"k": draw(word), "g": draw(number), "t": order, "x": values},
        schema={"k": pl.String, "g": pl.Int32, "t": pl.Int64, "x": pl.Float64},
    )


finite_factors = st.one_of(st.floats(-2.0, 2.0), st.sampled_from([0.9, 0.5, 0.0, -0.0]))


# Each example is a Spark job (about half a second); shrinking a failure
# would run hundreds, so a failing example is reported as found.
@settings(max_examples=5, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    frame=keyed_frames(),
    by=st.sampled_from([["k"], ["k", "g"], []]),
    batch=st.sampled_from(BATCH_SIZES),
    partitions=st.sampled_from([1, 3, 5]),
    rise=finite_factors,
    fall=finite_factors,
    initial=st.floats(-5.0, 5.0),
)
def test_rolling_matches_polars_and_reference(
    spark: SparkSession,
    frame: pl.DataFrame,
    by: list[str],
    batch: int,
    partitions: int,
    rise: float,
    fall: float,
    initial: float,
) -> None:
    df = to_spark(spark, frame)
    kwargs = {"rise": rise, "fall": fall, "initial": initial}
    with batches_of(spark, batch, partitions):
        result = scores.rolling(df, "x", by=by, order_by="t", rise=rise, fall=fall, initial=initial)
        check_rolling(result, frame, "x", by, ["t"], "x_score", kwargs)


@pytest.mark.parametrize("batch", BATCH_SIZES)
@pytest.mark.parametrize("by", [["k"], ["k", "g"], []])
def test_scan_matches_polars_and_reference(spark: SparkSession, batch: int, by: list[str]) -> None:
    n = 60
    frame = pl.DataFrame(
        {
            "k": [[None, "a", "bb", "hot"][(i * 7) % 4] for i in range(n)],
            "g": [[None, 0, 1][(i * 5) % 3] for i in range(n)],
            "t": [(i * 37) % n for i in range(n)],
            "x": [float((i * 13) % 9) - 2.5 if i % 7 else None for i in range(n)],
            "dt": [float((i * 11) % 5) for i in range(n)],
        },
        schema_overrides={"g": pl.Int32},
    )
    rule = "max(prev * 0.5 ** dt, value) if value == value else -1"
    df = to_spark(spark, frame)
    with batches_of(spark, batch):
        result = scores.scan(
            df, "x", rule, by=by, order_by="t", initial=0.25, inputs={"dt": "dt"}, name="s"
        )
        got = to_polars(result).sort([*by, "t"])
    want = frame.sort([*by, "t"]).with_columns(
        ps.col("x").scores.scan(rule, by=by, initial=0.25, inputs={"dt": "dt"}).alias("s")
    )
    assert got.columns == [*frame.columns, "s"]
    assert_bit_identical(got["s"].to_list(), want["s"].to_list())
    keys = [tuple(canonical(k) for k in row) for row in want.select(by).rows()] if by else None
    reference = scan_by_key(
        rule, want["x"].to_list(), inputs={"dt": want["dt"].to_list()}, keys=keys, initial=0.25
    )
    assert_bit_identical(got["s"].to_list(), reference)
    with pytest.raises(ValueError, match=r"^polars_scores\.spark\.scan: unknown name 'y'"):
        scores.scan(df, "x", "prev + y", order_by="t")
    with pytest.raises(ValueError, match=r"spark\.scan: order_by must name"):
        scores.scan(df, "x", "prev + value")


@pytest.mark.parametrize("batch", BATCH_SIZES)
def test_rolling_skewed_key_and_empty_partitions(spark: SparkSession, batch: int) -> None:
    """One key holds most rows (spanning many batches); three keys and a null
    key in eight partitions leave some empty; integer values past 2**53."""
    rng = np.random.default_rng(batch)
    n = 300
    key = rng.choice([7, 1, 2, 3], size=n, p=[0.85, 0.05, 0.05, 0.05]).astype(object)
    key[rng.random(n) < 0.05] = None
    value = rng.integers(-(2**60), 2**60, size=n).astype(object)
    value[rng.random(n) < 0.1] = None
    frame = pl.DataFrame(
        {
            "key": pl.Series(key.tolist(), dtype=pl.Int64),
            "day": pl.Series(rng.permutation(n) // 2, dtype=pl.Int32),
            "seq": pl.Series(rng.permutation(n), dtype=pl.Int64),
            "amount": pl.Series(value.tolist(), dtype=pl.Int64),
        }
    )
    df = to_spark(spark, frame)
    with batches_of(spark, batch, partitions=8):
        result = scores.rolling(df, "amount", by="key", order_by=["day", "seq"], name="s")
        assert result.rdd.getNumPartitions() == 8
        check_rolling(result, frame, "amount", ["key"], ["day", "seq"], "s", empty_partitions=True)


def test_rolling_float_keys_and_value_types(spark: SparkSession) -> None:
    """NaN, -0.0, 0.0 and null keys; a float (Float32) value column and a
    string column passed through untouched with its Spark type."""
    keys = [0.0, -0.0, math.nan, None, 1.5, -math.nan, 0.0, None, 1.5, -0.0] * 6
    n = len(keys)
    rng = np.random.default_rng(0)
    values: list[float | None] = [float(v) for v in rng.normal(0, 2, n).astype(np.float32)]
    for row in range(0, n, 7):
        values[row] = None
    frame = pl.DataFrame(
        {
            "key": pl.Series(keys, dtype=pl.Float64),
            "label": [f"row {i}" if i % 5 else None for i in range(n)],
            "t": rng.permutation(n),
            "x": pl.Series(values, dtype=pl.Float32),
        }
    )
    df = to_spark(spark, frame)
    with batches_of(spark, 3, partitions=3):
        result = scores.rolling(df, "x", by="key", order_by="t")
        assert result.schema == T.StructType(
            [*df.schema.fields, T.StructField("x_score", T.DoubleType(), True)]
        )
        check_rolling(result, frame, "x", ["key"], ["t"], "x_score")


def test_rolling_of_an_empty_frame(spark: SparkSession) -> None:
    df = spark.createDataFrame([], "k string, t long, x double")
    result = scores.rolling(df, "x", by="k", order_by="t")
    assert result.columns == ["k", "t", "x", "x_score"]
    assert result.count() == 0


# -- total and dot ------------------------------------------------------------


def sums_frame(n: int, seed: int) -> pl.DataFrame:
    """Keys with nulls (one key with no positive value), big integers, floats
    with NaN, inf and nulls, Float32."""
    rng = np.random.default_rng(seed)
    key = rng.choice(["a", "b", "c", "neg"], size=n).astype(object)
    key[rng.random(n) < 0.1] = None
    f = rng.normal(0, 100, n)
    f[rng.random(n) < 0.02] = np.nan
    f[n // 2] = np.inf
    big = rng.integers(-(2**62), 2**62, size=n)
    half = rng.normal(0, 1, n).astype(np.float32)
    negative = key == "neg"
    for column in (f, big, half):
        column[negative] = -np.abs(column[negative])
    return pl.DataFrame(
        {
            "key": pl.Series(key.tolist(), dtype=pl.String),
            "f": pl.Series(f).set(pl.Series(rng.random(n) < 0.1), None),
            "i": pl.Series(big).set(pl.Series(rng.random(n) < 0.1), None),
            "h": pl.Series(half),
        }
    )


def by_key(frame: pl.DataFrame, by: list[str], *columns: str) -> dict[Any, list[list[Any]]]:
    """The values of each of `columns` per key, the key as the result's rows show it."""
    keys = frame.select(by).rows() if by else [()] * frame.height
    values = [frame[column].to_list() for column in columns]
    groups: dict[Any, list[list[Any]]] = {}
    for row, key in enumerate(keys):
        lists = groups.setdefault(key, [[] for _ in columns])
        for found, column in zip(lists, values, strict=True):
            found.append(column[row])
    return groups


def results_by_key(result: pl.DataFrame, by: list[str], column: str) -> dict[Any, float]:
    rows = result.select(*by, column).rows()
    assert len({row[:-1] for row in rows}) == len(rows), "one row per key"
    return {row[:-1]: row[-1] for row in rows}


def assert_close(got: float, want: float, scale: float) -> None:
    """Within 1e-12 of `scale`; non-finite results must match exactly."""
    assert isinstance(got, float)
    if math.isfinite(want):
        assert abs(got - want) <= 1e-12 * scale, (got, want, scale)
    else:
        assert (math.isnan(got) and math.isnan(want)) or got == want, (got, want)


# The exponents the plugin computes in closed form, and two it leaves to `powf`;
# each value column (float, big integer, Float32) with some of them.
@pytest.mark.parametrize(
    ("exponent", "column", "by"),
    [
        (1.5, "f", ["key"]),
        (1.5, "i", ["key"]),
        (1.5, "h", []),
        (2.0, "i", ["key"]),
        (0.5, "h", ["key"]),
        (1.0, "f", []),
        (2.7, "f", ["key"]),
        (-0.5, "h", ["key"]),
    ],
)
def test_total_matches_polars_and_reference(
    spark: SparkSession, exponent: float, column: str, by: list[str]
) -> None:
    frame = sums_frame(500, seed=round(abs(exponent) * 10))
    result = to_polars(scores.total(to_spark(spark, frame), column, by=by, exponent=exponent))
    # Named as the command line's `total` names it.
    assert dict(result.schema) == {**dict(frame.select(by).schema), f"{column}_total": pl.Float64}
    got = results_by_key(result, by, f"{column}_total")
    plugin_result = (
        frame.group_by(by).agg(ps.col(column).scores.total(exponent=exponent))
        if by
        else frame.select(ps.col(column).scores.total(exponent=exponent))
    )
    plugin = results_by_key(plugin_result, by, column)
    groups = by_key(frame, by, column)
    assert got.keys() == plugin.keys() == groups.keys()
    for key, (values,) in groups.items():
        want = reference_total(values, exponent=exponent)
        assert_close(got[key], want, scale=want)
        assert_close(got[key], plugin[key], scale=want)
    if by:
        # Its values are all negative, NaN or null: 0.0, where Spark's sum gives null.
        assert got[("neg",)] == 0.0


@pytest.mark.parametrize("by", [["key"], []])
def test_dot_matches_polars_and_reference(spark: SparkSession, by: list[str]) -> None:
    frame = sums_frame(500, seed=1)
    df = to_spark(spark, frame)
    for a, b in [("f", "i"), ("i", "i"), ("h", "f"), ("i", "h")]:
        result = to_polars(scores.dot(df, a, b, by=by))
        got = results_by_key(result, by, f"{a}_{b}_dot")
        plugin_result = (
            frame.group_by(by).agg(ps.col(a).scores.dot(b))
            if by
            else frame.select(ps.col(a).scores.dot(b))
        )
        plugin = results_by_key(plugin_result, by, a)
        pairs = by_key(frame, by, a, b)
        assert got.keys() == plugin.keys() == pairs.keys()
        for key, (xs, ys) in pairs.items():
            want = reference_dot(xs, ys)
            # Products of either sign cancel: bound the error by their magnitudes.
            scale = math.fsum(abs(t) for t in dot_terms(xs, ys) if math.isfinite(t))
            assert_close(got[key], want, scale=scale)
            assert_close(got[key], plugin[key], scale=scale)


def test_sums_of_nothing_are_zero(spark: SparkSession) -> None:
    empty = spark.createDataFrame([], "k string, x double, y bigint")
    assert to_polars(scores.total(empty, "x", by=[])).rows() == [(0.0,)]
    assert to_polars(scores.dot(empty, "x", "y", by=[])).rows() == [(0.0,)]
    assert scores.total(empty, "x", by="k").count() == 0
    nulls = spark.createDataFrame(
        [("a", None, 1), ("a", 2.0, None)], "k string, x double, y bigint"
    )
    assert to_polars(scores.dot(nulls, "x", "y", by="k")).rows() == [("a", 0.0)]


# -- errors, executors, docs ----------------------------------------------------


def test_errors_name_the_function_and_the_column(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1, "x", 1.0)], "k string, t int, s string, x double")
    with pytest.raises(
        pl.exceptions.InvalidOperationError, match=r"spark\.rolling: column 's'.*string"
    ):
        scores.rolling(df, "s", by="k", order_by="t")
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"spark\.total: column 'k'"):
        scores.total(df, "k", by=[])
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"spark\.dot: column 's'"):
        scores.dot(df, "x", "s", by="k")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match=r"spark\.rolling: no column 'u'"):
        scores.rolling(df, "x", by="k", order_by="u")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match=r"spark\.total: no column 'K'"):
        scores.total(df, "x", by="K")
    with pytest.raises(ValueError, match=r"spark\.rolling: order_by must name"):
        scores.rolling(df, "x", by="k", order_by=[])
    with pytest.raises(ValueError, match=r"result column 's'"):
        scores.rolling(df, "x", by="k", order_by="t", name="s")
    with pytest.raises(ValueError, match=r"spark\.dot: the column 'x' is both the value to sum"):
        scores.dot(df, "x", "t", by="x")
    with pytest.raises(ValueError, match=r"spark\.rolling: rise must be finite"):
        scores.rolling(df, "x", by="k", order_by="t", rise=math.inf)
    with pytest.raises(TypeError, match=r"spark\.total: exponent must be a finite real"):
        scores.total(df, "x", by="k", exponent="2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"spark\.rolling: order_by must be a column name"):
        scores.rolling(df, "x", by="k", order_by=1)  # type: ignore[arg-type]


def test_executor_sets_polars_threads_before_importing_polars(tmp_path: Path) -> None:
    """The partition function, unpickled in a fresh interpreter as a Spark
    worker would, imports neither Polars nor this package until it runs, and
    then runs Polars with one thread (a task's share outside Spark). The
    batch is sorted by key, nulls first, as Spark delivers a partition."""
    spec = score_spec("polars_scores.spark.rolling", "x", by="k")
    function = _spark_partitions.partition_function("score_batches", spec.plain())
    batch = pa.RecordBatch.from_pydict({"k": [None, "a", "a"], "x": [3.0, 1.0, 2.0]})
    script = """
import sys
import tempfile
from pathlib import Path
import pyarrow as pa  # type: ignore[import-untyped]  # no type hints
from pyspark import cloudpickle
function = cloudpickle.loads(sys.stdin.buffer.read())
assert "polars" not in sys.modules and "polars_scores" not in sys.modules, "imported too early"
batch = pa.RecordBatch.from_pydict({"k": [None, "a", "a"], "x": [3.0, 1.0, 2.0]})
(out,) = list(function(iter([batch])))
import polars
print(polars.thread_pool_size(), out.column("x_score").to_pylist())
"""
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        # pyspark's vendored cloudpickle has no type hints.
        input=cloudpickle.dumps(function),  # type: ignore[no-untyped-call]
        capture_output=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    threads, scored = done.stdout.decode().split(" ", 1)
    assert threads == "1"
    want = score_by_key(batch.column("x").to_pylist(), batch.column("k").to_pylist())
    assert scored.strip() == str(want)
