"""`scores.dot` against an exact sum (`math.fsum`) of the same products."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from helpers import (
    NUMERIC_DTYPES,
    assert_close,
    chunked,
    collect_three_ways,
    column_values,
    cuts,
    float_key,
)
from hypothesis import given
from hypothesis import strategies as st
from reference import dot, dot_terms


def check_dot(got: float, a: list[Any], b: list[Any]) -> None:
    """`got` within 1e-12 * fsum(|a * b|) of the exact dot product."""
    scale = math.fsum(abs(t) for t in dot_terms(a, b) if math.isfinite(t))
    assert_close(got, dot(a, b), scale=scale)


@given(
    data=st.data(),
    a_dtype=st.sampled_from(NUMERIC_DTYPES),
    b_dtype=st.sampled_from(NUMERIC_DTYPES),
)
def test_matches_fsum_for_every_pair_of_dtypes(
    data: st.DataObject, a_dtype: type[pl.DataType], b_dtype: type[pl.DataType]
) -> None:
    # Finite values up to 1e100 (and integers up to 2**128) keep every exact
    # sum finite; infinities and NaN still come in.
    a_raw = data.draw(column_values(a_dtype, max_magnitude=1e100))
    n = len(a_raw)
    b_raw = data.draw(column_values(b_dtype, min_size=n, max_size=n, max_magnitude=1e100))
    a = chunked(pl.Series("a", a_raw, dtype=a_dtype), data.draw(cuts(n)))
    b = chunked(pl.Series("b", b_raw, dtype=b_dtype), data.draw(cuts(n)))
    a_values, b_values = a.to_list(), b.to_list()
    for result in collect_three_ways(pl.DataFrame([a, b]), pl.col("a").scores.dot("b")):
        assert result.schema == pl.Schema({"a": pl.Float64})
        check_dot(result.item(), a_values, b_values)
    check_dot(a.scores.dot(b), a_values, b_values)
    check_dot(b.scores.dot(a), b_values, a_values)


def test_int64_by_float64_on_many_rows() -> None:
    rng = np.random.default_rng(5)
    n = 400_000
    a = pl.Series("a", rng.integers(-(10**6), 10**6, n)).set(pl.Series(rng.random(n) < 0.1), None)
    b = pl.Series("b", rng.normal(0.0, 1e3, n)).set(pl.Series(rng.random(n) < 0.1), None)
    df = pl.DataFrame([chunked(a, [100_000, 250_001]), chunked(b, [7, 300_000])])
    assert df.n_chunks("all") == [3, 3]
    assert df.schema == pl.Schema({"a": pl.Int64, "b": pl.Float64})
    for result in collect_three_ways(df, pl.col("a").scores.dot(pl.col("b"))):
        check_dot(result.item(), a.to_list(), b.to_list())


def test_nulls_in_either_column_drop_the_row() -> None:
    a = pl.Series("a", [1.0, None, 3.0, 4.0, None, math.nan])
    b = pl.Series("b", [2, 5, None, 8, None, None], dtype=pl.Int16)
    check_dot(
        pl.DataFrame([a, b]).select(pl.col("a").scores.dot("b")).item(), a.to_list(), b.to_list()
    )
    check_dot(a.scores.dot(b), a.to_list(), b.to_list())


@pytest.mark.parametrize(
    ("other", "scalar"),
    [
        (2.5, 2.5),
        (-3, -3),
        (pl.lit(0.25), 0.25),
        (pl.lit(7), 7),
        (pl.lit(7, dtype=pl.UInt8), 7),
        (pl.lit(None), None),
        (pl.lit(None, dtype=pl.Float64), None),
    ],
    ids=["float", "int", "lit-float", "lit-int", "lit-uint8", "lit-null", "lit-typed-null"],
)
def test_a_length_one_other_broadcasts(other: Any, scalar: float | None) -> None:
    a = chunked(pl.Series("a", [1.0, None, -4.0, 1e-310, 2.0**60], dtype=pl.Float64), [2])
    broadcast = [scalar] * len(a)
    for result in collect_three_ways(a.to_frame(), pl.col("a").scores.dot(other)):
        assert result.columns == ["a"]
        check_dot(result.item(), a.to_list(), broadcast)
    if scalar is None:
        assert float_key(a.scores.dot(pl.Series([None], dtype=pl.Float64))) == float_key(0.0)
    else:
        check_dot(a.scores.dot(scalar), a.to_list(), broadcast)
        check_dot(a.scores.dot(pl.Series([scalar])), a.to_list(), broadcast)


def test_a_length_one_self_broadcasts() -> None:
    df = pl.DataFrame({"b": [1.5, None, -2.0]})
    got = df.select(pl.lit(4, dtype=pl.Int64).scores.dot("b")).item()
    check_dot(got, [4, 4, 4], df["b"].to_list())


def test_empty_columns() -> None:
    df = pl.DataFrame({"a": pl.Series([], dtype=pl.Int32), "b": pl.Series([], dtype=pl.Float64)})
    for result in collect_three_ways(df, pl.col("a").scores.dot("b")):
        assert float_key(result.item()) == float_key(0.0)


def test_different_lengths_are_an_error() -> None:
    df = pl.DataFrame({"left": [1.0, 2.0, 3.0, 4.0], "right": [1, 2, 3, 4]})
    with pytest.raises(pl.exceptions.PolarsError, match=r"scores\.dot") as error:
        df.select(pl.col("left").scores.dot(pl.col("right").head(3)))
    assert "left" in str(error.value)
    assert "right" in str(error.value)

    with pytest.raises(pl.exceptions.PolarsError, match=r"scores\.dot") as error:
        pl.Series("p", [1, 2, 3]).scores.dot(pl.Series("q", [1.0, 2.0]))
    assert "'p'" in str(error.value)
    assert "'q'" in str(error.value)


def test_series_dot_returns_a_python_float() -> None:
    a = pl.Series([1, 2, 3], dtype=pl.Int8)
    for other in (pl.Series([1, 2, 3], dtype=pl.UInt64), 2, 0.5):
        assert type(a.scores.dot(other)) is float


@given(data=st.data())
def test_in_group_by(data: st.DataObject) -> None:
    a_raw = data.draw(column_values(pl.Int32, min_size=1))
    n = len(a_raw)
    b_raw = data.draw(column_values(pl.Float64, min_size=n, max_size=n, max_magnitude=1e100))
    keys = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    df = pl.DataFrame(
        {"k": keys, "a": a_raw, "b": b_raw},
        schema={"k": pl.Int64, "a": pl.Int32, "b": pl.Float64},
    )
    query = df.lazy().group_by("k").agg(pl.col("a").scores.dot("b"))
    for engine in ("in-memory", "streaming"):
        got = query.collect(engine=engine)
        assert got.schema["a"] == pl.Float64
        assert sorted(got["k"]) == sorted(set(keys))
        for key, value in got.iter_rows():
            rows = [i for i in range(n) if keys[i] == key]
            check_dot(value, [a_raw[i] for i in rows], [b_raw[i] for i in rows])
