"""Keys group as Polars groups them, whatever their dtype: differential tests
against Polars' own `over`, in memory and through the streaming key store.

Two sources of key columns: Polars' own strategies (every dtype they draw,
nesting included), and nested columns built with `when/then`, so that nulls
at every depth hide children that differ (the values a null struct, list or
array still holds underneath are never part of its key).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import POLARS_AS_REFERENCE, assert_bit_identical, without_hidden_children
from hypothesis import given, settings
from hypothesis import strategies as st
from test_polars_strategies import any_series

import polars_scores as ps
from polars_scores.source import scan_scores
from polars_scores.stateful import RollingScorer

MAX_ROWS = 30
# Few values, so that keys repeat, and nulls everywhere.
SMALL = st.one_of(st.none(), st.integers(-2, 2))
MASKS = 3


@st.composite
def base_frame(draw: st.DrawFn) -> pl.DataFrame:
    """The columns nested keys are built from: small integers, strings, masks,
    and the positive values to score (their sums stay exact)."""
    n = draw(st.integers(1, MAX_ROWS))
    column = lambda values: st.lists(values, min_size=n, max_size=n)  # noqa: E731
    return pl.DataFrame(
        {
            "a": draw(column(SMALL)),
            "b": draw(column(SMALL)),
            "s": draw(column(st.sampled_from([None, "p", "q"]))),
            **{f"m{i}": draw(column(st.booleans())) for i in range(MASKS)},
            "x": draw(column(st.integers(1, 8).map(float))),
        },
        schema_overrides={"a": pl.Int8, "b": pl.Int64},
    )


def nested_key(draw: st.DrawFn, depth: int) -> pl.Expr:
    """A key expression of structs, lists and arrays down to `depth`, each
    level possibly nulled by a mask (`when/then`) over whatever lies below."""
    leaves = [pl.col("a"), pl.col("b"), pl.col("s")]
    if depth == 0:
        return draw(st.sampled_from(leaves))
    parts = [nested_key(draw, depth - 1) for _ in range(draw(st.integers(1, 2)))]
    kind = draw(st.sampled_from(["struct", "list", "array", "leaf"]))
    if kind == "struct":
        key = pl.struct(*(part.alias(f"f{i}") for i, part in enumerate(parts)))
    elif kind in ("list", "array"):
        # Elements of one dtype that differ: the part and the part a row before.
        element = parts[0]
        elements = [element, element.shift(1)][: draw(st.integers(1, 2))]
        key = pl.concat_list([e.repeat_by(1) for e in elements])
        if kind == "array":
            key = key.list.to_array(len(elements))
        elif draw(st.booleans()):
            # Lists of differing lengths, including empty ones.
            key = key.list.head(pl.col("a").fill_null(0).abs())
    else:
        key = draw(st.sampled_from(leaves))
    if draw(st.booleans()):
        key = pl.when(pl.col(f"m{draw(st.integers(0, MASKS - 1))}")).then(key)
    return key


@st.composite
def nested_keys(draw: st.DrawFn) -> pl.DataFrame:
    """A frame with the values `x` and two nested key columns `k` and `j`."""
    frame = draw(base_frame())
    keys = [nested_key(draw, draw(st.integers(1, 3))).alias(name) for name in ("k", "j")]
    return frame.select("x", *keys)


def chunked(frame: pl.DataFrame, cuts: list[int]) -> pl.DataFrame:
    bounds = [0, *sorted({c for c in cuts if 0 < c < frame.height}), frame.height]
    parts = [frame.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    return pl.concat(parts, rechunk=False)


def assert_groups_as(frame: pl.DataFrame, by: list[str], reference: pl.DataFrame) -> None:
    """The plugin's `by` on `frame` equals Polars' `over` on `reference`'s
    columns (all but `x`), bit for bit. Over several chunks, Polars 2.1
    itself splits null structs into a group per chunk, so `reference` is one
    chunk."""
    got = frame.select(
        scan=ps.col("x").scores.scan("prev + value", by=by),
        rolling=ps.col("x").scores.rolling(by=by),
    )
    groups = [name for name in reference.columns if name != "x"]
    want = reference.rechunk().select(
        scan=pl.col("x").cum_sum().over(groups),
        rolling=ps.col("x").scores.rolling().over(groups),
    )
    for column in ("scan", "rolling"):
        assert_bit_identical(got[column].to_list(), want[column].to_list())


def python_groups(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """`x` and each row's group by the keys' Python values, where a null at
    any depth is None whatever lay beneath it: a reference independent of
    Polars' grouping, exact for keys of integers and strings."""
    rows = [repr(row) for row in frame.select(by).rows()]
    numbers: dict[str, int] = {}
    groups = [numbers.setdefault(row, len(numbers)) for row in rows]
    return pl.DataFrame({"x": frame["x"], "group": groups})


def streamed(frame: pl.DataFrame, by: list[str], cuts: list[int], rule: str | None) -> list[Any]:
    scorer = RollingScorer("x", by=by, rule=rule)
    bounds = [0, *sorted({c for c in cuts if 0 < c < frame.height}), frame.height]
    parts = [frame.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    return [s for part in parts for s in scorer.score(part)["x_score"].to_list()]


def assert_streams_as_in_memory(frame: pl.DataFrame, by: list[str], cuts: list[int]) -> None:
    """Batches through the streaming key store equal the in-memory `by`."""
    want = frame.select(
        scan=ps.col("x").scores.scan("prev + value", by=by),
        rolling=ps.col("x").scores.rolling(by=by),
    )
    assert_bit_identical(streamed(frame, by, cuts, None), want["rolling"].to_list())
    assert_bit_identical(streamed(frame, by, cuts, "prev + value"), want["scan"].to_list())


CUTS = st.lists(st.integers(0, MAX_ROWS), max_size=4)
BY = st.sampled_from([["k"], ["k", "j"]])


@settings(max_examples=200)
@given(frame=nested_keys(), by=BY, cuts=CUTS)
def test_nulls_hiding_children_group_as_polars(
    frame: pl.DataFrame, by: list[str], cuts: list[int]
) -> None:
    assert_groups_as(chunked(frame, cuts), by, python_groups(frame, by))
    if POLARS_AS_REFERENCE:
        assert_groups_as(frame, by, frame.select("x", *by))


@settings(max_examples=200)
@given(frame=nested_keys(), by=BY, cuts=CUTS, chunks=CUTS)
def test_nested_keys_stream_as_in_memory(
    frame: pl.DataFrame, by: list[str], cuts: list[int], chunks: list[int]
) -> None:
    assert_streams_as_in_memory(chunked(frame, chunks), by, cuts)


def categorical_inside(dtype: pl.DataType) -> bool:
    """Whether a List or Array holds Categoricals or Enums (at any depth).
    Such a column, where some rows are null, crosses into Rust (the plugin's
    call, `KeyStates`) with fewer rows than Polars' own column reports
    (Polars 2.1 and 1.43.2, through pyo3-polars), which the plugin refuses
    as a length mismatch. Left out of the drawn keys until that is fixed
    upstream."""
    if isinstance(dtype, (pl.List, pl.Array)):
        inner = dtype.inner
        return isinstance(inner, (pl.Categorical, pl.Enum)) or categorical_inside(inner)
    if isinstance(dtype, pl.Struct):
        return any(categorical_inside(field.dtype) for field in dtype.fields)
    return False


@st.composite
def any_keys(draw: st.DrawFn) -> pl.DataFrame:
    """Values `x` and two key columns of any dtypes Polars' strategies draw."""
    n = draw(st.integers(0, MAX_ROWS))
    drawn = [any_series(name, n).filter(lambda s: not categorical_inside(s.dtype)) for name in "kj"]
    keys = [draw(column) for column in drawn]
    x = draw(st.lists(st.integers(1, 8).map(float), min_size=n, max_size=n))
    return pl.DataFrame([pl.Series("x", x, pl.Float64), *keys])


def groupable(frame: pl.DataFrame, by: list[str]) -> bool:
    try:
        frame.select(pl.len().over(by))
    except pl.exceptions.PolarsError:
        return False
    return True


@settings(max_examples=200)
@given(frame=any_keys(), by=BY, cuts=CUTS)
def test_keys_of_every_dtype_group_as_polars(
    frame: pl.DataFrame, by: list[str], cuts: list[int]
) -> None:
    frame = chunked(frame, cuts)
    if not groupable(frame, by):
        with pytest.raises(pl.exceptions.PolarsError, match=r"scores\.(scan|rolling)"):
            frame.select(ps.col("x").scores.rolling(by=by))
        return
    assert_groups_as(frame, by, without_hidden_children(frame.select("x", *by)))


@settings(max_examples=200)
@given(frame=any_keys(), by=BY, cuts=CUTS)
def test_keys_of_every_dtype_stream_as_in_memory(
    frame: pl.DataFrame, by: list[str], cuts: list[int]
) -> None:
    if not groupable(frame, by):
        with pytest.raises(pl.exceptions.PolarsError, match="RollingScorer"):
            streamed(frame, by, [], None)
        return
    assert_streams_as_in_memory(frame, by, cuts)


def test_the_issue_example() -> None:
    base = pl.DataFrame(
        {"a": [1, 2, 3, 1], "l": [[0], [1, 1], [2], [0]]},
        schema={"a": pl.Int8, "l": pl.List(pl.Int8)},
    )
    frame = base.with_columns(arr=pl.col("l").list.head(1).list.to_array(1)).select(
        k=pl.when(pl.Series([False, False, True, True])).then(pl.struct("a", "arr")),
        x=pl.lit(1.0),
    )
    got = frame.select(ps.col("x").scores.scan("prev + value", by="k")).to_series()
    assert got.to_list() == [1.0, 2.0, 1.0, 1.0]
    assert_groups_as(frame, ["k"], python_groups(frame, ["k"]))
    if POLARS_AS_REFERENCE:
        assert_groups_as(frame, ["k"], frame)
    assert_streams_as_in_memory(frame, ["k"], [1, 3])


def test_nested_key_dtypes_may_widen_between_batches() -> None:
    """A struct of Int32 then of Int64: the same numbers are the same keys."""
    scorer = RollingScorer("x", by="k")
    first = pl.DataFrame({"k": [{"a": 1}, None], "x": [1.0, 2.0]})
    second = first.with_columns(pl.col("k").cast(pl.Struct({"a": pl.Int64})))
    first = first.with_columns(pl.col("k").cast(pl.Struct({"a": pl.Int32})))
    got = [*scorer.score(first)["x_score"], *scorer.score(second)["x_score"]]
    both = pl.concat([first, second.cast({"k": first["k"].dtype})])
    assert_bit_identical(got, both.select(ps.col("x").scores.rolling(by="k")).to_series())


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (pl.Struct({"a": pl.Int32}), pl.Struct({"a": pl.String})),
        (pl.Struct({"a": pl.Int32}), pl.Struct({"b": pl.Int32})),
        (pl.List(pl.Int32), pl.Array(pl.Int32, 1)),
        (pl.List(pl.Int32), pl.Int32),
    ],
)
def test_nested_keys_of_kinds_that_cannot_be_equal_raise(
    first: pl.DataType, then: pl.DataType
) -> None:
    scorer = RollingScorer("x", by="k")
    scorer.score(pl.DataFrame({"k": pl.Series([None], dtype=first), "x": [1.0]}))
    with pytest.raises(pl.exceptions.SchemaError, match=r"RollingScorer.score: key column 'k'"):
        scorer.score(pl.DataFrame({"k": pl.Series([None], dtype=then), "x": [1.0]}))


def test_a_nested_key_streams_from_a_file(tmp_path: Path) -> None:
    """`scan_scores` over a parquet file, in small batches, with a struct key
    whose nulls hide lists that differ."""
    n = 60
    frame = pl.DataFrame(
        {"x": [float(i % 5 + 1) for i in range(n)], "a": [i % 3 for i in range(n)]}
    ).select(
        "x",
        k=pl.when(pl.int_range(n) % 4 != 0).then(
            pl.struct("a", l=pl.col("a").repeat_by(pl.int_range(n) % 2))
        ),
    )
    path = tmp_path / "keys.parquet"
    frame.write_parquet(path)
    got = scan_scores(pl.scan_parquet(path), "x", by="k", batch_rows=7).collect()
    want = frame.select(ps.col("x").scores.rolling(by="k")).to_series()
    assert_bit_identical(got["x_score"].to_list(), want.to_list())
