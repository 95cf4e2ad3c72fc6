"""Every method against Polars' own hypothesis strategies: any dtype Polars can
make (nested and extension types included), any chunking, nulls.

The outcome is the right answer (the reference loops) or, where a dtype is
not one the kernels read, an error that names the method. Never a panic, a
wrong answer or an error that leaves the user guessing which call failed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
from helpers import NUMERIC_DTYPES, assert_bit_identical, assert_close, without_hidden_children
from hypothesis import given
from hypothesis import strategies as st
from polars.testing.parametric import dtypes, series
from reference import dot, dot_terms, score_series, total

import polars_scores as ps
from polars_scores._checks import ACCEPTED_DTYPES
from polars_scores.stateful import RollingScorer

# The dtype classes Polars' strategies can make at the installed version,
# nested ones (which they leave out unless asked) included.
ALL_DTYPES: list[Any] = [
    getattr(pl, name)
    for name in (
        "Int8", "Int16", "Int32", "Int64", "Int128", "UInt8", "UInt16", "UInt32",
        "UInt64", "UInt128", "Float16", "Float32", "Float64", "Boolean", "String",
        "Binary", "Date", "Time", "Null", "Datetime", "Duration", "Categorical",
        "Decimal", "Enum", "List", "Array", "Struct",
    )
    if hasattr(pl, name)
]  # fmt: skip
try:  # the test extension type, at the Polars versions that have extensions
    from polars.testing.parametric.strategies.dtype import (  # type: ignore[attr-defined]
        TestExtension,
    )

    ALL_DTYPES.append(TestExtension)
except ImportError:
    pass

# What the kernels read: every integer width, Float32 and Float64, and an
# all-null column. Stated here independently of the package's own list.
READABLE = {dtype() for dtype in NUMERIC_DTYPES} | {pl.Null()}

MAX_ROWS = 40


def buildable(dtype: pl.DataType, in_struct: bool = False) -> bool:
    """False for a list or array of 128-bit integers inside a struct: Polars'
    strategies build a struct from Python dicts, and its lists' integers are
    read as Int64 there, so values beyond Int64 fail to build (Polars 2.1)."""
    if isinstance(dtype, pl.Struct):
        return all(buildable(field.dtype, True) for field in dtype.fields)
    if isinstance(dtype, (pl.List, pl.Array)):
        inner = dtype.inner
        wide = inner in (getattr(pl, "Int128", None), getattr(pl, "UInt128", None))
        return not (in_struct and wide) and buildable(inner, in_struct)
    return True


@st.composite
def any_series(draw: st.DrawFn, name: str, size: int | None = None) -> pl.Series:
    rows = {"min_size": size, "max_size": size} if size is not None else {"max_size": MAX_ROWS}
    dtype = draw(dtypes(allowed_dtypes=ALL_DTYPES).filter(buildable))
    return draw(series(name=name, dtype=dtype, **rows))


def outcome(method: str, compute: Callable[[], Any]) -> Any:
    """The result of `compute`, or None if it raised an error naming `method`.

    A panic is a BaseException (pyo3's PanicException) and is not caught.
    """
    try:
        return compute()
    except Exception as error:
        assert method in str(error), f"the error does not name {method}: {error!r}"
        return None


def readable(*columns: pl.Series) -> bool:
    return all(column.dtype in READABLE for column in columns)


def scores_per_group(values: Sequence[Any], groups: Sequence[Sequence[int]]) -> list[Any]:
    """The reference rolling score run separately over each group's rows."""
    out: list[Any] = [None] * len(values)
    for rows in groups:
        for row, score in zip(rows, score_series([values[r] for r in rows]), strict=True):
            out[row] = score
    return out


def polars_groups(keys: pl.Series) -> list[list[int]] | None:
    """Each distinct key's rows, in row order, grouped by Polars itself (the
    plugin's `by` groups as Polars does); None if Polars cannot group them."""
    # Polars 1.43 groups null structs and arrays by the values they hide.
    frame = without_hidden_children(pl.DataFrame([keys.alias("key")])).with_row_index("row")
    try:
        grouped = frame.group_by("key", maintain_order=True).agg("row")
    except pl.exceptions.PolarsError:
        return None
    return grouped["row"].to_list()


@given(values=any_series("x"))
def test_rolling(values: pl.Series) -> None:
    got = outcome(
        "scores.rolling", lambda: values.to_frame().select(ps.col("x").scores.rolling()).to_series()
    )
    if not readable(values):
        assert got is None, f"{values.dtype} was scored"
        return
    assert got is not None, f"{values.dtype} was refused"
    assert_bit_identical(got.to_list(), score_series(values.to_list()))


@given(values=any_series("x"))
def test_total(values: pl.Series) -> None:
    got = outcome("scores.total", lambda: values.to_frame().select(ps.col("x").scores.total()))
    if not readable(values):
        assert got is None, f"{values.dtype} was totalled"
        return
    assert got is not None, f"{values.dtype} was refused"
    want = total(values.to_list())
    assert_close(got.item(), want, scale=abs(want))


@st.composite
def two_columns(draw: st.DrawFn, first: str, second: str) -> pl.DataFrame:
    """Two columns of any dtypes and the same length."""
    size = draw(st.integers(0, MAX_ROWS))
    return pl.DataFrame([draw(any_series(first, size)), draw(any_series(second, size))])


@given(frame=two_columns("a", "b"))
def test_dot(frame: pl.DataFrame) -> None:
    got = outcome("scores.dot", lambda: frame.select(ps.col("a").scores.dot("b")).item())
    if not readable(frame["a"], frame["b"]):
        assert got is None, f"{frame.dtypes} were multiplied"
        return
    assert got is not None, f"{frame.dtypes} were refused"
    a, b = frame["a"].to_list(), frame["b"].to_list()
    want = dot(a, b)
    assert_close(got, want, scale=math.fsum(abs(t) for t in dot_terms(a, b) if math.isfinite(t)))


@given(frame=two_columns("x", "k"))
def test_rolling_by_a_key_of_any_dtype(frame: pl.DataFrame) -> None:
    values = frame["x"].cast(pl.Float64) if frame["x"].dtype.is_numeric() else frame["x"]
    frame = frame.with_columns(values)
    got = outcome(
        "scores.rolling", lambda: frame.select(ps.col("x").scores.rolling(by="k")).to_series()
    )
    groups = polars_groups(frame["k"])
    if not readable(frame["x"]) or groups is None:
        assert got is None, f"{frame.dtypes} were scored"
        return
    assert got is not None, f"{frame.dtypes} were refused"
    assert_bit_identical(got.to_list(), scores_per_group(frame["x"].to_list(), groups))


@st.composite
def batches(draw: st.DrawFn) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """A frame of a value and a key column of any dtypes, and it cut into batches.

    A batch whose keys are all null may come with the key column of dtype
    Null, as a parquet file with no keys does in a glob.
    """
    frame = draw(two_columns("x", "k"))
    cuts = sorted(draw(st.sets(st.integers(0, frame.height), max_size=4)))
    bounds = [0, *cuts, frame.height]
    out = []
    for start, end in itertools.pairwise(bounds):
        batch = frame.slice(start, end - start)
        if batch["k"].null_count() == batch.height and draw(st.booleans()):
            batch = batch.with_columns(pl.lit(None).alias("k"))
        out.append(batch)
    return frame, out


@given(cut=batches())
def test_rolling_scorer_over_batches(cut: tuple[pl.DataFrame, list[pl.DataFrame]]) -> None:
    whole, parts = cut
    scorer = RollingScorer("x", by="k")
    scored = outcome("RollingScorer", lambda: [scorer.score(batch) for batch in parts])
    groups = polars_groups(whole["k"])
    if not readable(whole["x"]) or groups is None:
        assert scored is None, f"{whole.dtypes} were scored"
        return
    assert scored is not None, f"{[part.dtypes for part in parts]} were refused"
    got = [score for batch in scored for score in batch["x_score"].to_list()]
    assert_bit_identical(got, scores_per_group(whole["x"].to_list(), groups))


def test_the_package_accepts_what_the_kernels_read() -> None:
    """The Python-side checks (streaming, Spark) take their dtypes from Rust."""
    assert ACCEPTED_DTYPES == READABLE
