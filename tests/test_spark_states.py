"""A daily Spark job that continues from yesterday's states: day 2 scored from
day 1's final states gives, bit for bit, the scores and states of one run
over both days."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

from helpers import assert_bit_identical, raised
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)

from polars_scores import spark as scores

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# Day 2's rows all come after day 1's (`t`), as each day's file does; a null
# key, a key only on day 1, one only on day 2, one whose day 1 rows are all
# null and one whose day 2 rows are.
DAY1 = [
    ("a", 1, 1.0, 1.0),
    ("b", 1, 3.0, 0.5),
    ("a", 2, 2.0, 2.0),
    (None, 1, 5.0, 1.0),
    ("c", 1, None, 1.0),
    ("e", 1, -2.0, 1.0),
    ("a", 3, math.nan, 1.0),
]
DAY2 = [
    ("a", 4, 1.0, 1.0),
    ("b", 2, None, 1.0),
    (None, 2, 7.0, 0.5),
    ("d", 1, 2.0, 1.0),
    ("c", 2, 4.0, 3.0),
    ("a", 5, 0.5, None),
    ("a", 6, -1.0, 2.0),
]


@pytest.fixture
def small_batches(spark: Any) -> Iterator[Any]:
    """Arrow batches of 2 rows, so that start rows and a key's rows straddle
    batches, and more partitions than keys."""
    settings = {"spark.sql.execution.arrow.maxRecordsPerBatch": "2"}
    before = {name: spark.conf.get(name, None) for name in settings}
    for name, setting in settings.items():
        spark.conf.set(name, setting)
    yield spark
    for name, old in before.items():
        if old is None:
            spark.conf.unset(name)
        else:
            spark.conf.set(name, old)


CASES = {
    "rolling, string keys": ("k string", "k string", {}),
    "mapping rule, int keys of two widths": (
        "k bigint",
        "k int",
        {
            "rule": {"level": "level * 0.5 + value * w", "peak": "max(peak, value)"},
            "inputs": {"w": "w"},
            "initial": {"level": 0.0, "peak": -math.inf},
        },
    ),
    "one expression, no keys": ("k string", "k string", {"rule": "prev * 0.5 + value", "by": []}),
}


@pytest.mark.parametrize("case", CASES)
def test_day_two_from_day_one_states_is_one_run(small_batches: Any, case: str) -> None:
    spark = small_batches
    key1, key2, options = CASES[case]
    rows1, rows2 = DAY1, DAY2
    if key1 != "k string":
        ids = {None: None, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
        rows1, rows2 = ([(ids[r[0]], *r[1:]) for r in rows] for rows in (DAY1, DAY2))
    day1 = spark.createDataFrame(rows1, f"{key1}, t int, x double, w double")
    day2 = spark.createDataFrame(rows2, f"{key2}, t int, x double, w double")
    both = day1.unionByName(day2)
    rule = options.get("rule")
    kwargs = {"by": "k", "order_by": "t", **{k: v for k, v in options.items() if k != "rule"}}
    if kwargs["by"] == []:
        # One series: order by day, then by the key and the time.
        day1, day2 = day1.withColumn("day", F.lit(1)), day2.withColumn("day", F.lit(2))
        both = day1.unionByName(day2)
        kwargs["order_by"] = ["day", "k", "t"]

    def score(df: Any, states: Any = None) -> Any:
        if rule is None:
            return scores.rolling(df, "x", states=states, **kwargs)
        return scores.scan(df, "x", rule, states=states, **kwargs)

    def final(scored: Any, states: Any = None) -> Any:
        return scores.final_states(scored, "x", rule, states=states, **kwargs)

    saved = final(score(day1))
    names = [c for c in saved.columns if c != "k"]
    at_once = score(both)
    continued = score(day2, states=saved)
    assert continued.columns == at_once.columns
    assert continued.schema["k"].dataType == day2.schema["k"].dataType
    want = {(r["k"], r["t"]): r for r in at_once.collect()}
    got = {(r["k"], r["t"]): r for r in continued.collect()}
    assert got.keys() == {(r[0], r[1]) for r in rows2}
    for name in names:
        assert_bit_identical([got[k][name] for k in got], [want[k][name] for k in got])

    want_states = _by_key(final(at_once), names)
    got_states = _by_key(final(continued, saved), names)
    assert got_states.keys() == want_states.keys()
    for key, numbers in want_states.items():
        assert_bit_identical(got_states[key], numbers)


PEAK_AND_COUNT = {"peak": "max(peak, value)", "n": "n + w"}


@pytest.mark.parametrize(
    ("rule", "by"), [("prev + value * w", "k"), (PEAK_AND_COUNT, "k"), (PEAK_AND_COUNT, [])]
)
def test_fold_from_yesterdays_fold_is_one_fold(small_batches: Any, rule: Any, by: Any) -> None:
    schema = "k string, t int, x double, w double"
    day1, day2 = (
        small_batches.createDataFrame(rows, schema).withColumn("day", F.lit(day))
        for day, rows in ((1, DAY1), (2, DAY2))
    )
    initial: Any = {"peak": -math.inf, "n": 0.0} if isinstance(rule, dict) else 0.0
    order = "t" if by else ["day", "k", "t"]
    kwargs: Any = {"by": by, "order_by": order, "inputs": {"w": "w"}, "initial": initial}
    yesterday = scores.fold(day1, "x", rule, **kwargs)
    continued = scores.fold(day2, "x", rule, states=yesterday, **kwargs)
    at_once = scores.fold(day1.unionByName(day2), "x", rule, **kwargs)
    assert continued.columns == at_once.columns
    names = [name for name in continued.columns if name != "k"]
    got, want = _by_key(continued, names), _by_key(at_once, names)
    assert got.keys() == want.keys()
    for key, numbers in want.items():
        assert_bit_identical(got[key], numbers)


def test_a_states_frame_of_other_columns_is_named(spark: Any) -> None:
    df = spark.createDataFrame(DAY1, "k string, t int, x double, w double")
    lacking = spark.createDataFrame([("a", 1.0)], "k string, score double")
    error = raised(lambda: scores.rolling(df, "x", by="k", order_by="t", states=lacking))
    assert str(error) == (
        "polars_scores.spark.rolling: states must hold exactly the key columns ('k') and the "
        "state columns ('x_score'); it lacks 'x_score' and has 'score' too"
    )
    other_key = spark.createDataFrame([("a", 1.0)], "key string, x_score double")
    scored = scores.rolling(df, "x", by="k", order_by="t")
    error = raised(lambda: scores.final_states(scored, "x", by="k", order_by="t", states=other_key))
    assert str(error) == (
        "polars_scores.spark.final_states: states must hold exactly the key columns ('k') and "
        "the state columns ('x_score'); it lacks 'k' and has 'key' too"
    )
    rule = {"n": "n + 1", "peak": "max(peak, value)"}
    text = spark.createDataFrame([("a", "1", 1.0)], "k string, x_n string, x_peak double")
    error = raised(lambda: scores.fold(df, "x", rule, by="k", order_by="t", states=text))
    assert str(error) == (
        "polars_scores.spark.fold: column 'x_n' has dtype string, but the score needs a "
        "numeric column in states"
    )
    ids = spark.createDataFrame([(1, 1.0)], "k int, x_score double")
    error = raised(lambda: scores.scan(df, "x", "prev + value", by="k", order_by="t", states=ids))
    assert str(error) == (
        "polars_scores.spark.scan: states' key column 'k' is int where the rows' is string; "
        "cast one to the other's type"
    )


def _by_key(df: Any, names: list[str]) -> dict[Any, list[float]]:
    keys = [c for c in df.columns if c not in names]
    return {tuple(r[k] for k in keys): [r[n] for n in names] for r in df.collect()}
