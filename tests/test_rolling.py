"""`scores.rolling` against the Python reference, bit for bit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest
from helpers import (
    INT_DTYPES,
    NUMERIC_DTYPES,
    assert_bit_identical,
    chunked,
    chunked_column,
    collect_three_ways,
    column_values,
    cuts,
    int_limits,
)
from hypothesis import given
from hypothesis import strategies as st
from reference import score_by_key, score_series

# Finite factors and start states, large and small, of either sign.
factors = st.one_of(
    st.floats(-4.0, 4.0),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 5e-324]),
)


@st.composite
def parameters(draw: st.DrawFn) -> dict[str, float]:
    """Keyword arguments for `rolling`: each one left at its default or drawn."""
    kwargs = {}
    for name in ("rise", "fall", "initial"):
        if draw(st.booleans()):
            kwargs[name] = draw(factors)
    return kwargs


def reference_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The brief's defaults, overridden by what the test passed."""
    return {"rise": 0.9, "fall": 0.5, "initial": 0.0} | kwargs


def check_frame(result: pl.DataFrame, name: str, want: list[float | None]) -> None:
    """One Float64 column called `name`, holding `want` bit for bit."""
    assert result.columns == [name]
    assert result.schema[name] == pl.Float64
    assert_bit_identical(result[name].to_list(), want)


@given(data=st.data(), dtype=st.sampled_from(NUMERIC_DTYPES), kwargs=parameters())
def test_matches_reference_for_every_numeric_dtype(
    data: st.DataObject, dtype: type[pl.DataType], kwargs: dict[str, float]
) -> None:
    series = chunked_column(data, "x", dtype)
    want = score_series(series.to_list(), **reference_kwargs(kwargs))
    for result in collect_three_ways(series.to_frame(), pl.col("x").scores.rolling(**kwargs)):
        check_frame(result, "x", want)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_integer_limits_round_like_python_float(dtype: type[pl.DataType]) -> None:
    low, high = int_limits(dtype)
    raw = [low, high, None, high - 1, low + 1, 0, high // 3]
    series = pl.Series("v", raw, dtype=dtype)
    got = series.to_frame().select(pl.col("v").scores.rolling(rise=1.0, fall=1.0))
    check_frame(got, "v", score_series(series.to_list(), rise=1.0, fall=1.0))


def test_floats_that_break_naive_kernels() -> None:
    raw = [
        np.nan, 1.0, np.inf, -np.inf, 3.0, -0.0, 0.0, 5e-324, -5e-324, 1e-310, 1e308, 1e308,
        None, 2.0**53 + 1, -(2.0**60), np.nan, 4.0,
    ]  # fmt: skip
    for initial in (0.0, -0.0, 1e-310, -1e300):
        series = pl.Series("y", raw, dtype=pl.Float64)
        got = series.to_frame().select(pl.col("y").scores.rolling(initial=initial))
        check_frame(got, "y", score_series(series.to_list(), initial=initial))


@given(
    data=st.data(),
    dtype=st.sampled_from(NUMERIC_DTYPES),
    initial_dtype=st.sampled_from([pl.Float64, pl.Float32, pl.Int64, pl.UInt8]),
)
def test_initial_column_is_read_at_the_first_row(
    data: st.DataObject, dtype: type[pl.DataType], initial_dtype: type[pl.DataType]
) -> None:
    raw = data.draw(column_values(dtype, min_size=1))
    starts = data.draw(column_values(initial_dtype, min_size=len(raw), max_size=len(raw)))
    df = pl.DataFrame(
        [pl.Series("x", raw, dtype=dtype), pl.Series("s", starts, dtype=initial_dtype)]
    )
    first = df["s"][0]
    want = score_series(df["x"].to_list(), initial=first if first is not None else 0.0)
    for initial in ("s", pl.col("s"), pl.col("s") * 1, pl.lit(df["s"][0:1])):
        for result in collect_three_ways(df, pl.col("x").scores.rolling(initial=initial)):
            check_frame(result, "x", want)


@pytest.mark.parametrize(
    ("initial", "start"),
    [(pl.lit(2.5), 2.5), (pl.lit(-7), -7.0), (pl.lit(None), 0.0), (pl.lit(None, pl.Float64), 0.0)],
    ids=["float", "int", "null", "typed-null"],
)
def test_initial_literal_broadcasts(initial: pl.Expr, start: float) -> None:
    df = pl.DataFrame({"k": [1, 2, 1, 2, 3], "x": [1.0, -3.0, 0.5, 8.0, None]})
    got = df.select(pl.col("x").scores.rolling(initial=initial))
    check_frame(got, "x", score_series(df["x"].to_list(), initial=start))
    got = df.select(pl.col("x").scores.rolling(initial=initial, by="k"))
    want = score_by_key(df["x"].to_list(), df["k"].to_list(), initial=start)
    check_frame(got, "x", want)


def small_ints(dtype: type[pl.DataType], offset: int) -> st.SearchStrategy[int]:
    """A handful of distinct keys starting at `offset`, clipped to `dtype`."""
    low, high = int_limits(dtype)
    return st.integers(0, 4).map(lambda k: min(max(offset + k, low), high))


# Key columns: (dtype, one key). Small dense integers take the plugin's direct
# indexing path; keys spread over a huge range take its hashing path.
KEY_KINDS: list[tuple[type[pl.DataType], st.SearchStrategy[Any]]] = [
    (pl.Int64, st.integers(-3, 3)),
    (pl.Int8, st.integers(-128, 127)),
    (pl.UInt16, st.integers(0, 5)),
    (pl.Int64, st.integers(-3, 3).map(lambda k: k * 10**12)),
    (pl.Int64, st.sampled_from([-(2**63), 2**63 - 1, 0, -1])),
    (pl.UInt64, small_ints(pl.UInt64, 2**64 - 5)),
    (pl.UInt64, st.sampled_from([0, 2**64 - 1, 2**63])),
    (pl.Int32, small_ints(pl.Int32, -(2**31))),
    (pl.String, st.sampled_from(["a", "b", "", "é", "a long key, past the inline limit"])),
]
if hasattr(pl, "Int128"):
    KEY_KINDS.append((pl.Int128, st.sampled_from([-(2**127), 2**127 - 1, 5])))


@st.composite
def key_column(draw: st.DrawFn, name: str, length: int) -> pl.Series:
    """A key column of `length` rows, some keys null, in its own chunks."""
    dtype, key = draw(st.sampled_from(KEY_KINDS))
    keys = draw(st.lists(st.one_of(st.none(), key), min_size=length, max_size=length))
    return chunked(pl.Series(name, keys, dtype=dtype), draw(cuts(length)))


def row_keys(*columns: pl.Series) -> list[tuple[Any, ...]]:
    """One tuple per row: the row's key in every key column."""
    return list(zip(*(column.to_list() for column in columns), strict=True))


OTHER_KEYS: dict[str, pl.Series] = {
    "Boolean": pl.Series([True, False, None]),
    "Float64": pl.Series([0.5, 1e300, None]),
    "Date": pl.Series([dt.date(2024, 1, 1), dt.date(1970, 1, 1), None]),
    "Datetime": pl.Series([dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 1, 1), None]),
    "Categorical": pl.Series(["a", "b", None], dtype=pl.Categorical),
    "Enum": pl.Series(["a", "b", None], dtype=pl.Enum(["b", "a"])),
    "Decimal": pl.Series([Decimal("1.50"), Decimal("-2.25"), None], dtype=pl.Decimal(10, 2)),
    "Binary": pl.Series([b"a", b"", None]),
    "List": pl.Series([[1, 2], [], None]),
    "Struct": pl.Series([{"f": 1}, {"f": None}, None]),
}


@pytest.mark.parametrize("kind", list(OTHER_KEYS))
def test_by_keys_of_any_dtype_over_supports(kind: str) -> None:
    """Any key that `over` accepts works, as `over` would group it."""
    rng = np.random.default_rng(2)
    picks = rng.integers(0, 3, 40)
    keys = OTHER_KEYS[kind].gather(picks).alias("k")
    df = pl.DataFrame([pl.Series("x", rng.normal(0.0, 3.0, 40)), keys])
    # repr() stands in for unhashable keys (lists, structs) and is equal
    # exactly where the keys are.
    want = score_by_key(df["x"].to_list(), [repr(key) for key in keys.to_list()])
    check_frame(df.select(pl.col("x").scores.rolling().over("k")), "x", want)
    for result in collect_three_ways(df, pl.col("x").scores.rolling(by="k")):
        check_frame(result, "x", want)


@given(data=st.data(), dtype=st.sampled_from(NUMERIC_DTYPES), kwargs=parameters())
def test_by_one_key_column(
    data: st.DataObject, dtype: type[pl.DataType], kwargs: dict[str, float]
) -> None:
    values = chunked_column(data, "x", dtype)
    keys = data.draw(key_column("k", len(values)))
    df = pl.DataFrame([values, keys])
    want = score_by_key(df["x"].to_list(), row_keys(keys), **reference_kwargs(kwargs))
    for by in ("k", pl.col("k"), ["k"]):
        for result in collect_three_ways(df, pl.col("x").scores.rolling(by=by, **kwargs)):
            check_frame(result, "x", want)
    over = df.select(pl.col("x").scores.rolling(**kwargs).over("k"))
    check_frame(over, "x", want)


@given(data=st.data(), dtype=st.sampled_from(NUMERIC_DTYPES))
def test_by_several_key_columns_with_an_initial_column(
    data: st.DataObject, dtype: type[pl.DataType]
) -> None:
    raw = data.draw(column_values(dtype))
    n = len(raw)
    starts = data.draw(column_values(pl.Float64, min_size=n, max_size=n, max_magnitude=1e6))
    df = pl.DataFrame(
        [
            chunked(pl.Series("x", raw, dtype=dtype), data.draw(cuts(n))),
            chunked(pl.Series("s", starts, dtype=pl.Float64), data.draw(cuts(n))),
            data.draw(key_column("k1", n)),
            data.draw(key_column("k2", n)),
        ]
    )
    want = score_by_key(df["x"].to_list(), row_keys(df["k1"], df["k2"]), initial=starts)
    expr = pl.col("x").scores.rolling(initial="s", by=["k1", pl.col("k2")])
    for result in collect_three_ways(df, expr):
        check_frame(result, "x", want)
    over = df.select(pl.col("x").scores.rolling(initial="s").over("k1", "k2"))
    check_frame(over, "x", want)


@given(data=st.data())
def test_inside_group_by_agg(data: st.DataObject) -> None:
    raw = data.draw(column_values(pl.Float64, min_size=1))
    n = len(raw)
    keys = data.draw(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=n, max_size=n))
    starts = data.draw(column_values(pl.Int32, min_size=n, max_size=n))
    df = pl.DataFrame(
        {"k": keys, "x": raw, "s": starts},
        schema={"k": pl.Int64, "x": pl.Float64, "s": pl.Int32},
    )
    got = df.group_by("k", maintain_order=True).agg(
        plain=pl.col("x").scores.rolling(),
        started=pl.col("x").scores.rolling(initial="s", rise=1.5),
    )
    assert got.schema["plain"] == pl.List(pl.Float64)
    for key, plain, started in got.iter_rows():
        rows = [i for i in range(n) if keys[i] == key]
        xs = [raw[i] for i in rows]
        assert_bit_identical(plain, score_series(xs))
        first = starts[rows[0]]
        want = score_series(xs, rise=1.5, initial=first if first is not None else 0.0)
        assert_bit_identical(started, want)


@given(data=st.data(), dtype=st.sampled_from(NUMERIC_DTYPES))
def test_series_api(data: st.DataObject, dtype: type[pl.DataType]) -> None:
    raw = data.draw(column_values(dtype))
    n = len(raw)
    series = chunked(pl.Series("vals", raw, dtype=dtype), data.draw(cuts(n)))
    key = data.draw(key_column("k", n))
    other_key = data.draw(key_column("j", n))

    got = series.scores.rolling()
    assert got.name == "vals"
    assert got.dtype == pl.Float64
    assert_bit_identical(got.to_list(), score_series(series.to_list()))

    got = series.scores.rolling(by=key, fall=0.25)
    assert got.name == "vals"
    assert_bit_identical(got.to_list(), score_by_key(series.to_list(), row_keys(key), fall=0.25))

    starts = pl.Series("s", data.draw(column_values(pl.Float64, min_size=n, max_size=n)))
    got = series.scores.rolling(by=[key, other_key], initial=starts)
    want = score_by_key(series.to_list(), row_keys(key, other_key), initial=starts.to_list())
    assert_bit_identical(got.to_list(), want)


def test_series_api_length_one_initial() -> None:
    series = pl.Series("v", [3, 1, 4, 1, 5], dtype=pl.Int16)
    got = series.scores.rolling(initial=pl.Series([2.0]))
    assert_bit_identical(got.to_list(), score_series(series.to_list(), initial=2.0))


def test_many_chunks_and_morsels_carry_the_state() -> None:
    """A long input in chunks (the streaming engine cuts it into morsels too)."""
    rng = np.random.default_rng(7)
    n = 250_000
    x = rng.normal(0.0, 10.0, n)
    x[rng.random(n) < 0.05] = np.nan
    values = pl.Series("x", x).set(pl.Series(rng.random(n) < 0.1), None)
    keys = pl.Series("k", rng.integers(0, 50, n) * 10**12)
    values = chunked(values, [1, 70_000, 70_001, 200_000])
    keys = chunked(keys, [33_333, 150_000])
    df = pl.DataFrame([values, keys])
    assert df.n_chunks("all") == [5, 3]

    want_plain = score_series(values.to_list())
    want_by = score_by_key(values.to_list(), keys.to_list())
    exprs = [pl.col("x").scores.rolling().alias("plain"), pl.col("x").scores.rolling(by="k")]
    for result in collect_three_ways(df, *exprs):
        assert_bit_identical(result["plain"].to_list(), want_plain)
        assert_bit_identical(result["x"].to_list(), want_by)


@pytest.mark.parametrize("dtype", [*NUMERIC_DTYPES, pl.Null], ids=str)
def test_empty_input(dtype: type[pl.DataType]) -> None:
    df = pl.DataFrame({"x": pl.Series([], dtype=dtype), "k": pl.Series([], dtype=pl.Int64)})
    for expr in (pl.col("x").scores.rolling(), pl.col("x").scores.rolling(by="k", initial="x")):
        for result in collect_three_ways(df, expr):
            check_frame(result, "x", [])
    got = df["x"].scores.rolling(by=df["k"])
    assert (got.name, got.dtype, got.len()) == ("x", pl.Float64, 0)


def test_all_null_input() -> None:
    for series in (pl.Series("x", [None, None, None]), pl.Series("x", [None] * 3, dtype=pl.Int8)):
        got = series.to_frame().select(pl.col("x").scores.rolling(initial=4.0))
        check_frame(got, "x", [None, None, None])


def test_output_is_named_after_the_input_expression() -> None:
    df = pl.DataFrame({"a": [1.0, 2.0], "b": [1, 2]})
    got = df.select(
        pl.col("a").scores.rolling(by="b"),
        (pl.col("a") * 2).alias("twice").scores.rolling(),
        pl.col("b").scores.rolling(initial="a").alias("renamed"),
    )
    assert got.columns == ["a", "twice", "renamed"]
    assert all(dtype == pl.Float64 for dtype in got.dtypes)
