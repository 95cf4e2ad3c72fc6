"""`scan_scores`: the scored stream as a LazyFrame, against the in-memory plugin
and the Python reference loops, followed by each lazy operation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import assert_bit_identical
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.io.plugins import register_io_source
from reference import scan_by_key, score_by_key

import polars_scores as ps
from polars_scores.source import scan_scores

N = 2_000


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    """User ids as strings and integers, two value columns with nulls, a time gap."""
    return pl.DataFrame(
        {
            "user": [f"user-{(i * 7919) % 97}" if i % 31 else None for i in range(N)],
            "account": [(i * 104729) % 89 for i in range(N)],
            "x": [math.sin(i * 0.7) * 10 if i % 13 else None for i in range(N)],
            "y": [(i * 37) % 23 - 6 if i % 17 else None for i in range(N)],
            "dt": [float((i * 11) % 7) for i in range(N)],
        },
        schema={
            "user": pl.String,
            "account": pl.Int32,
            "x": pl.Float64,
            "y": pl.Int64,
            "dt": pl.Float64,
        },
    )


def rolling(frame: pl.DataFrame, value: str, by: list[str], **parameters: Any) -> list[Any]:
    """The in-memory scores, one call over the whole frame."""
    expr = ps.col(value).scores.rolling(by=by, **parameters)
    return frame.select(expr).to_series().to_list()


def key_rows(frame: pl.DataFrame, by: list[str]) -> list[Any]:
    return list(zip(*(frame[k].to_list() for k in by), strict=True)) if by else [None] * len(frame)


@pytest.mark.parametrize("batch_rows", [1, 7, 500, 1_000_000])
@pytest.mark.parametrize("by", [[], ["user"], ["account"], ["user", "account"]])
def test_equals_in_memory_and_the_reference(
    events: pl.DataFrame, batch_rows: int, by: list[str]
) -> None:
    frame = events.head(300) if batch_rows == 1 else events
    got = scan_scores(frame.lazy(), "x", by=by, batch_rows=batch_rows).collect()
    assert got.columns == [*frame.columns, "x_score"]
    assert got.drop("x_score").equals(frame)
    scores = got["x_score"].to_list()
    assert_bit_identical(scores, rolling(frame, "x", by))
    assert_bit_identical(scores, score_by_key(frame["x"].to_list(), key_rows(frame, by)))


KEY_COLUMNS: dict[str, pl.Series] = {
    "Int8": pl.Series([1, -1, None, 127, 1, -128] * 5, dtype=pl.Int8),
    "UInt64": pl.Series([2**64 - 1, 0, None, 3, 0, 2**63] * 5, dtype=pl.UInt64),
    "Float64": pl.Series([0.0, -0.0, math.nan, -math.nan, None, 1e308] * 5, dtype=pl.Float64),
    "Float32": pl.Series([0.0, -0.0, math.nan, math.inf, None, 1.5] * 5, dtype=pl.Float32),
    "String": pl.Series(["user-1", "", None, "user-22", "é", "user-1"] * 5),
    "Categorical": pl.Series(["a", "b", None, "a", "c", "b"] * 5, dtype=pl.Categorical),
    "Boolean": pl.Series([True, False, None, True, True, False] * 5),
    "Null": pl.Series([None] * 30, dtype=pl.Null),
}


@pytest.mark.parametrize("batch_rows", [1, 4, 100])
@pytest.mark.parametrize("kind", list(KEY_COLUMNS))
def test_key_types(kind: str, batch_rows: int) -> None:
    keys = KEY_COLUMNS[kind]
    frame = pl.DataFrame(
        {
            "k": keys,
            "s": [f"s{i % 4}" for i in range(len(keys))],
            "x": [float((i * 7) % 5) - 1.5 if i % 9 else None for i in range(len(keys))],
        }
    )
    for by in (["k"], ["k", "s"]):  # one key column, and one mixed with a string
        got = scan_scores(frame.lazy(), "x", by=by, batch_rows=batch_rows).collect()
        assert_bit_identical(got["x_score"].to_list(), rolling(frame, "x", by))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["a", "b", "user-123456789012345"])),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
            st.one_of(st.none(), st.integers(-5, 5)),
        ),
        max_size=40,
    ),
    batch_rows=st.integers(1, 12),
    rise=st.floats(-2, 2),
    fall=st.floats(-2, 2),
    initial=st.floats(-5, 5),
)
def test_several_values_in_one_pass(
    rows: list[tuple[str | None, float | None, int | None]],
    batch_rows: int,
    rise: float,
    fall: float,
    initial: float,
) -> None:
    frame = pl.DataFrame(
        {"k": [r[0] for r in rows], "x": [r[1] for r in rows], "y": [r[2] for r in rows]},
        schema={"k": pl.String, "x": pl.Float64, "y": pl.Int16},
    )
    parameters = {"rise": rise, "fall": fall, "initial": initial}
    got = scan_scores(
        frame.lazy(), ["x", "y"], by="k", batch_rows=batch_rows, **parameters
    ).collect()
    assert got.columns == ["k", "x", "y", "x_score", "y_score"]
    keys = frame["k"].to_list()
    for value in ("x", "y"):
        scores = got[f"{value}_score"].to_list()
        assert_bit_identical(scores, rolling(frame, value, ["k"], **parameters))
        assert_bit_identical(scores, score_by_key(frame[value].to_list(), keys, **parameters))


def test_a_rule_with_inputs(events: pl.DataFrame) -> None:
    rule = "prev * exp(-dt / 3) + value if value > 0 else min(prev, value)"
    got = scan_scores(
        events.lazy(), "x", by="user", rule=rule, inputs={"dt": "dt"}, batch_rows=333
    ).collect()
    expected = scan_by_key(
        rule,
        events["x"].to_list(),
        inputs={"dt": events["dt"].to_list()},
        keys=events["user"].to_list(),
    )
    assert_bit_identical(got["x_score"].to_list(), expected)


def lazy_operations(scored: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
    """Each lazy operation a user follows a scored stream with."""
    score = pl.col("x_score")
    return {
        "filter": scored.filter(score > 3),
        "select": scored.select("user", score * 2),
        "with_columns": scored.with_columns(double=score * 2).drop("dt"),
        "group_by": scored.group_by("user").agg(score.max(), pl.len()).sort("user"),
        "head": scored.head(17),
        "filter then head": scored.filter(score < 0).head(5),
        "tail": scored.tail(3),
        "join": scored.join(
            scored.group_by("account").agg(best=score.max()),
            on="account",
            how="left",
            maintain_order="left",
        ),
        "max": scored.select(score.max()),
        "len": scored.select(pl.len()),
    }


@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
@pytest.mark.parametrize("operation", list(lazy_operations(pl.LazyFrame())))
def test_each_lazy_operation(events: pl.DataFrame, operation: str, engine: str) -> None:
    """What follows sees the scores of the whole stream, as if scored in memory."""
    scored = scan_scores(events.lazy(), "x", by="user", batch_rows=128)
    in_memory = events.with_columns(ps.col("x").scores.rolling(by="user").alias("x_score"))
    got = lazy_operations(scored)[operation].collect(engine=engine)  # type: ignore[call-overload]
    want = lazy_operations(in_memory.lazy())[operation].collect()
    assert got.equals(want), (got, want)


@pytest.mark.parametrize("sink", ["parquet", "csv", "ipc", "ndjson"])
def test_sinks(events: pl.DataFrame, tmp_path: Path, sink: str) -> None:
    scored = scan_scores(events.lazy(), ["x", "y"], by=["user", "account"], batch_rows=99)
    path = tmp_path / f"out.{sink}"
    getattr(scored.filter(pl.col("x_score") > 1), f"sink_{sink}")(path)
    # CSV and NDJSON keep no dtypes.
    got = getattr(pl, f"read_{sink}")(path).cast(dict(scored.collect_schema()))
    want = scored.collect().filter(pl.col("x_score") > 1)
    assert got.equals(want)


class CountedSource:
    """A LazyFrame over `frame` that counts the times it is read and records
    the columns Polars asks of it."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.reads = 0
        self.columns: list[list[str] | None] = []

    def lazy(self) -> pl.LazyFrame:
        def read(
            with_columns: list[str] | None, predicate: Any, n_rows: int | None, size: Any
        ) -> Iterator[pl.DataFrame]:
            self.reads += 1
            self.columns.append(with_columns)
            frame = self.frame if with_columns is None else self.frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            yield frame if n_rows is None else frame.head(n_rows)

        return register_io_source(read, schema=self.frame.schema)


def test_lazy_until_collected_and_read_again_each_time(events: pl.DataFrame) -> None:
    source = CountedSource(events)
    scored = scan_scores(source.lazy(), "x", by="user", name="score", batch_rows=64)
    assert scored.collect_schema() == pl.Schema([*events.schema.items(), ("score", pl.Float64)])
    assert source.reads == 0
    first = scored.collect()
    second = scored.collect(engine="streaming")
    assert source.reads == 2
    # Fresh states each time: the second collect does not start where the first ended.
    assert first.equals(second)
    assert_bit_identical(first["score"].to_list(), rolling(events, "x", ["user"]))


def test_only_the_columns_needed_are_read(events: pl.DataFrame) -> None:
    source = CountedSource(events)
    scored = scan_scores(source.lazy(), ["x", "y"], by="user")
    scored.select("y_score").collect()
    scored.select("account").collect()
    scored.filter(pl.col("x_score") > 0).select("dt").collect()
    needed = [sorted(columns or []) for columns in source.columns]
    assert needed == [["user", "y"], ["account"], ["dt", "user", "x"]]


def test_a_rule_reads_its_inputs_when_they_are_projected_away(events: pl.DataFrame) -> None:
    source = CountedSource(events)
    rule = "prev + value * d"
    scored = scan_scores(source.lazy(), "x", rule=rule, inputs={"d": "dt"})
    got = scored.select("x_score").collect()["x_score"].to_list()
    assert sorted(source.columns[0] or []) == ["dt", "x"]
    want = scan_by_key(rule, events["x"].to_list(), inputs={"d": events["dt"].to_list()})
    assert_bit_identical(got, want)


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"value": "nope"}, pl.exceptions.ColumnNotFoundError, "scan_scores: no column 'nope'"),
        ({"value": "x", "by": "who"}, pl.exceptions.ColumnNotFoundError, "'who'"),
        ({"value": "user"}, pl.exceptions.InvalidOperationError, "scan_scores: column 'user'"),
        ({"value": ["x", "x"]}, ValueError, "more than once"),
        ({"value": []}, ValueError, "at least one"),
        ({"value": ["x", "y"], "name": "s"}, ValueError, "name is for one value"),
        ({"value": "x", "name": "y"}, ValueError, "would replace"),
        ({"value": "x", "batch_rows": 0}, ValueError, "batch_rows"),
        ({"value": "x", "rise": math.nan}, ValueError, "rise must be finite"),
        ({"value": "x", "inputs": {"d": "dt"}}, ValueError, "inputs need a rule"),
        ({"value": "x", "rule": "prev.real"}, ValueError, "^scan_scores: an attribute"),
        ({"value": "x", "rule": "prev + dt", "inputs": {"d": "dt"}}, ValueError, "'dt'"),
        ({"value": 3}, TypeError, "value must be a column name"),
    ],
)
def test_errors_name_scan_scores(
    events: pl.DataFrame, arguments: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        scan_scores(events.lazy(), **arguments)


def test_the_source_must_be_lazy(events: pl.DataFrame) -> None:
    with pytest.raises(TypeError, match="scan_scores: source must be a LazyFrame"):
        scan_scores(events, "x")  # type: ignore[arg-type]
