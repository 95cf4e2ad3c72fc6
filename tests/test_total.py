"""`scores.total` against an exact sum (`math.fsum`) of the same terms."""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import pytest
from helpers import (
    INT_DTYPES,
    NUMERIC_DTYPES,
    assert_close,
    chunked,
    chunked_column,
    collect_three_ways,
    column_values,
    cuts,
    float_key,
    int_limits,
)
from hypothesis import given
from hypothesis import strategies as st
from reference import total

exponents = st.one_of(
    st.sampled_from([1.5, 0.5, 1.0, 2.0, 3.0, 0.0, -1.0]),
    st.floats(-2.0, 3.0),
)

# Sums below this are in or near the subnormal range, where a relative bound
# means nothing: a power computed as `v * sqrt(v)` and one computed by `pow`
# may round a subnormal result differently.
UNDERFLOW = 1e-290


def check_total(got: float, want: float) -> None:
    """`got` within 1e-12 of `want`, relatively (all the terms are >= 0)."""
    assert_close(got, want, scale=want + UNDERFLOW)


@given(data=st.data(), dtype=st.sampled_from(NUMERIC_DTYPES), exponent=exponents)
def test_matches_fsum_for_every_numeric_dtype(
    data: st.DataObject, dtype: type[pl.DataType], exponent: float
) -> None:
    # 1e100 ** 3 stays finite, so no exact sum overflows; infinities still come in.
    series = chunked_column(data, "x", dtype, max_magnitude=1e100)
    want = total(series.to_list(), exponent=exponent)
    expr = pl.col("x").scores.total(exponent=exponent)
    for result in collect_three_ways(series.to_frame(), expr):
        assert result.schema == pl.Schema({"x": pl.Float64})
        check_total(result.item(), want)
    check_total(series.scores.total(exponent=exponent), want)


def test_default_exponent_is_one_and_a_half() -> None:
    series = pl.Series("x", [4.0, 9.0, 2.0, -3.0])
    want = total(series.to_list(), exponent=1.5)
    check_total(series.scores.total(), want)
    check_total(series.to_frame().select(pl.col("x").scores.total()).item(), want)


def test_a_million_values() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 100.0, 1_000_000)
    x[rng.random(x.size) < 0.01] = np.nan
    series = pl.Series("x", x).set(pl.Series(rng.random(x.size) < 0.02), None)
    series = chunked(series, [123_457, 500_000, 900_001])
    for exponent in (1.5, 0.7):
        want = total(series.to_list(), exponent=exponent)
        expr = pl.col("x").scores.total(exponent=exponent)
        for result in collect_three_ways(series.to_frame(), expr):
            assert abs(result.item() - want) <= 1e-12 * want
        assert abs(series.scores.total(exponent=exponent) - want) <= 1e-12 * want


@pytest.mark.parametrize(
    "series",
    [
        pl.Series("x", [], dtype=pl.Float64),
        pl.Series("x", [None, None], dtype=pl.Float64),
        pl.Series("x", [None, None]),
        pl.Series("x", [0.0, -0.0, -1.0, -math.inf, math.nan, None, -5e-324]),
        pl.Series("x", [0, -3, None], dtype=pl.Int8),
        pl.Series("x", [0, 0], dtype=pl.UInt64),
    ],
    ids=["empty", "all-null", "null-dtype", "non-positive-floats", "non-positive-ints", "zeros"],
)
def test_zero_when_nothing_counts(series: pl.Series) -> None:
    assert total(series.to_list()) == 0.0
    results = [r.item() for r in collect_three_ways(series.to_frame(), pl.col("x").scores.total())]
    for got in [*results, series.scores.total()]:
        assert float_key(got) == float_key(0.0)


def test_nan_is_not_positive() -> None:
    series = pl.Series("x", [math.nan, 4.0, math.nan, 1.0])
    want = total(series.to_list())
    assert not math.isnan(want)
    check_total(series.scores.total(), want)
    check_total(series.to_frame().select(pl.col("x").scores.total()).item(), want)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_integer_limits(dtype: type[pl.DataType]) -> None:
    low, high = int_limits(dtype)
    series = pl.Series("n", [low, high, high - 1, None, 1, 2**53 + 1 if high > 2**53 else 7], dtype)
    for exponent in (1.5, 1.0, 2.0):
        want = total(series.to_list(), exponent=exponent)
        check_total(series.scores.total(exponent=exponent), want)
        got = series.to_frame().select(pl.col("n").scores.total(exponent=exponent))
        check_total(got.item(), want)


def test_series_total_returns_a_python_float() -> None:
    for series in (pl.Series([4, 9], dtype=pl.Int32), pl.Series([], dtype=pl.Float32)):
        assert type(series.scores.total()) is float


@given(data=st.data(), dtype=st.sampled_from(NUMERIC_DTYPES), exponent=exponents)
def test_in_group_by_and_over(
    data: st.DataObject, dtype: type[pl.DataType], exponent: float
) -> None:
    raw = data.draw(column_values(dtype, min_size=1, max_magnitude=1e100))
    n = len(raw)
    keys = data.draw(st.lists(st.one_of(st.none(), st.sampled_from("abc")), min_size=n, max_size=n))
    df = pl.DataFrame(
        [
            pl.Series("k", keys, dtype=pl.String),
            chunked(pl.Series("x", raw, dtype=dtype), data.draw(cuts(n))),
        ]
    )
    stored = df["x"].to_list()
    want = {
        key: total([v for v, k in zip(stored, keys, strict=True) if k == key], exponent=exponent)
        for key in set(keys)
    }
    query = df.lazy().group_by("k").agg(pl.col("x").scores.total(exponent=exponent))
    for engine in ("in-memory", "streaming"):
        got = query.collect(engine=engine)
        assert got.schema["x"] == pl.Float64
        assert sorted(got["k"].to_list(), key=str) == sorted(want, key=str)
        for key, value in got.iter_rows():
            check_total(value, want[key])

    over = df.lazy().select(pl.col("x").scores.total(exponent=exponent).over("k"))
    for engine in ("in-memory", "streaming"):
        got = over.collect(engine=engine)["x"].to_list()
        for key, value in zip(keys, got, strict=True):
            check_total(value, want[key])


def plan_node_kinds(query: pl.LazyFrame) -> list[str]:
    """The kind of every node of the streaming engine's physical plan.

    Read from the plan's graph (dot text), where each node's label starts with
    its kind: `group-by` for a streaming group-by, `in-memory-map` for a part
    of the query handed back to the in-memory engine.
    """
    graph = query.show_graph(engine="streaming", plan_stage="physical", raw_output=True, show=False)
    assert isinstance(graph, str)
    return re.findall(r'^\s*\d+ \[label="([^"\\]+)', graph, flags=re.MULTILINE)


def streams_group_by(query: pl.LazyFrame) -> bool:
    """Whether the streaming engine runs the group-by itself (no fallback)."""
    kinds = plan_node_kinds(query)
    return "group-by" in kinds and "in-memory-map" not in kinds


def test_group_by_total_streams() -> None:
    lf = pl.LazyFrame({"k": [1, 2, 1], "a": [1.0, 2.0, 3.0], "b": [4, 5, 6]})
    assert streams_group_by(lf.group_by("k").agg(pl.col("a").scores.total()))
    both = lf.group_by("k").agg(pl.col("b").scores.total(exponent=2.0), pl.col("a").max())
    assert streams_group_by(both)
    # The counter-example: a plugin that returns a scalar cannot be lowered,
    # so the whole group-by falls back to the in-memory engine.
    fallback = lf.group_by("k").agg(pl.col("a").scores.dot("b"))
    assert "in-memory-map" in plan_node_kinds(fallback)
    assert not streams_group_by(fallback)
