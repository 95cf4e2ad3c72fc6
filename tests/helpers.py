"""Strategies and checks shared by the test files (``from helpers import ...``).

The strategies build columns of every numeric dtype with the values that
break naive kernels (NaN, infinities, signed zeros, subnormals, integers past
2**53 and near their type's limits), with nulls and several chunks.
"""

from __future__ import annotations

import itertools
import math
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import strategies as st

INT_DTYPES: list[type[pl.DataType]] = [
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
]
# The wide integers exist from some Polars version on; test them wherever the
# installed one has them.
INT_DTYPES += [getattr(pl, name) for name in ("Int128", "UInt128") if hasattr(pl, name)]
FLOAT_DTYPES: list[type[pl.DataType]] = [pl.Float32, pl.Float64]
NUMERIC_DTYPES = INT_DTYPES + FLOAT_DTYPES

INT_BITS = {
    "Int8": (True, 8),
    "Int16": (True, 16),
    "Int32": (True, 32),
    "Int64": (True, 64),
    "Int128": (True, 128),
    "UInt8": (False, 8),
    "UInt16": (False, 16),
    "UInt32": (False, 32),
    "UInt64": (False, 64),
    "UInt128": (False, 128),
}

SPECIAL_FLOATS = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,  # the smallest subnormal
    -5e-324,
    2.2250738585072014e-308 / 3,  # a subnormal with several bits
    2.2250738585072014e-308,  # the smallest normal
    1.7976931348623157e308,
    -1.7976931348623157e308,
    2.0**53 + 2,
]


def int_limits(dtype: type[pl.DataType]) -> tuple[int, int]:
    """The smallest and largest value of an integer dtype."""
    signed, bits = INT_BITS[dtype.__name__]
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def ints(dtype: type[pl.DataType]) -> st.SearchStrategy[int]:
    """Integers of `dtype`, with its limits and the values past 2**53 favoured."""
    low, high = int_limits(dtype)
    edges = [
        v for v in (low, high, low + 1, high - 1, 0, 2**53 + 1, -(2**53) - 1) if low <= v <= high
    ]
    return st.one_of(
        st.integers(low, high),
        st.sampled_from(edges),
        st.integers(-100, 100).filter(lambda v: low <= v <= high),
    )


FLOAT32_MAX = 3.4028234663852886e38


def fits_float32(x: float) -> bool:
    """Whether a Float32 column stores `x` unchanged (NaN aside)."""
    if not math.isfinite(x):
        return True
    return abs(x) <= FLOAT32_MAX and x == struct.unpack("<f", struct.pack("<f", x))[0]


def floats(
    dtype: type[pl.DataType], *, max_magnitude: float | None = None
) -> st.SearchStrategy[float]:
    """Floats storable in `dtype` unchanged, specials included.

    `max_magnitude` bounds the finite values (for sums that must not overflow).
    """
    width = 32 if dtype == pl.Float32 else 64
    if max_magnitude is None:
        finite = st.floats(width=width, allow_nan=False, allow_infinity=False)
        specials = SPECIAL_FLOATS
    else:
        bound = min(max_magnitude, FLOAT32_MAX) if width == 32 else max_magnitude
        finite = st.floats(-bound, bound, width=width)
        specials = [x for x in SPECIAL_FLOATS if not math.isfinite(x) or abs(x) <= max_magnitude]
    if width == 32:
        specials = [x for x in specials if fits_float32(x)]
    return st.one_of(finite, st.sampled_from(specials), st.floats(-1e3, 1e3, width=width))


def values(
    dtype: type[pl.DataType], *, max_magnitude: float | None = None
) -> st.SearchStrategy[Any]:
    """One non-null value of a numeric dtype."""
    if dtype in FLOAT_DTYPES:
        return floats(dtype, max_magnitude=max_magnitude)
    return ints(dtype)


def column_values(
    dtype: type[pl.DataType],
    *,
    min_size: int = 0,
    max_size: int = 60,
    nulls: bool = True,
    max_magnitude: float | None = None,
) -> st.SearchStrategy[list[Any]]:
    """A list of values of `dtype`, some of them None when `nulls`."""
    element = values(dtype, max_magnitude=max_magnitude)
    if nulls:
        element = st.one_of(st.none(), element)
    return st.lists(element, min_size=min_size, max_size=max_size)


@st.composite
def cuts(draw: st.DrawFn, length: int, max_chunks: int = 5) -> list[int]:
    """Sorted chunk boundaries inside `0..length` (possibly none)."""
    if length == 0:
        return []
    return sorted(draw(st.sets(st.integers(0, length), max_size=max_chunks - 1)))


def chunked(series: pl.Series, boundaries: Sequence[int]) -> pl.Series:
    """`series` split into chunks at `boundaries` (empty chunks allowed)."""
    points = [0, *boundaries, len(series)]
    pieces = [series.slice(start, end - start) for start, end in itertools.pairwise(points)]
    return pl.concat(pieces, rechunk=False) if len(pieces) > 1 else series


def chunked_column(
    data: st.DataObject, name: str, dtype: type[pl.DataType], **values: Any
) -> pl.Series:
    """A drawn column of `dtype` (``column_values(dtype, **values)``), in drawn chunks."""
    raw = data.draw(column_values(dtype, **values))
    return chunked(pl.Series(name, raw, dtype=dtype), data.draw(cuts(len(raw))))


def float_key(x: float | None) -> object:
    """What must match between two results: null, NaN, or the exact bits."""
    if x is None:
        return None
    if math.isnan(x):
        return "NaN"
    return struct.pack("<d", x).hex()


def assert_bit_identical(got: Sequence[float | None], want: Sequence[float | None]) -> None:
    """Equal lengths, nulls and NaNs in the same rows, every other value bit for bit."""
    assert len(got) == len(want)
    got_keys = [float_key(x) for x in got]
    want_keys = [float_key(x) for x in want]
    if got_keys != want_keys:
        bad = next(i for i, (g, w) in enumerate(zip(got_keys, want_keys, strict=True)) if g != w)
        raise AssertionError(f"first difference at row {bad}: got {got[bad]!r}, want {want[bad]!r}")


def assert_close(got: float, want: float, *, scale: float, rel: float = 1e-12) -> None:
    """`got` within `rel * scale` of `want`; non-finite values must match exactly."""
    assert isinstance(got, float)
    if not math.isfinite(want):
        assert float_key(got) == float_key(want), (got, want)
        return
    assert abs(got - want) <= rel * scale, (got, want, scale)


def collect_three_ways(df: pl.DataFrame, *exprs: pl.Expr) -> list[pl.DataFrame]:
    """`df.select(*exprs)` eagerly, lazily in memory and on the streaming engine."""
    lazy = df.lazy().select(*exprs)
    return [
        df.select(*exprs),
        lazy.collect(engine="in-memory"),
        lazy.collect(engine="streaming"),
    ]


def run_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The ``polars-scores`` command with `args`, run as a subprocess of this Python."""
    return subprocess.run(
        [sys.executable, "-m", "polars_scores.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def raised(call: Callable[[], object]) -> BaseException:
    """The exception `call` raises (failing the test if it raises none)."""
    try:
        call()
    except Exception as error:  # the caller checks the type
        return error
    raise AssertionError("no error raised")


def _polars_groups_hidden_children_as_one() -> bool:
    """Whether this Polars' own `over` makes one group of null structs whose
    hidden children differ (the issue's example). Polars 1.43 makes two, so
    there only the independent Python reference judges the plugin."""
    base = pl.DataFrame(
        {"a": [1, 2], "l": [[0], [1, 1]]}, schema={"a": pl.Int8, "l": pl.List(pl.Int8)}
    )
    frame = base.with_columns(arr=pl.col("l").list.head(1).list.to_array(1)).select(
        k=pl.when(pl.Series([False, False])).then(pl.struct("a", "arr")), x=pl.lit(1.0)
    )
    return frame.select(pl.col("x").cum_sum().over("k")).to_series().to_list() == [1.0, 2.0]


POLARS_AS_REFERENCE = _polars_groups_hidden_children_as_one()


def hides_children(dtype: pl.DataType) -> bool:
    """Whether a null of `dtype` (or of a dtype inside it) keeps values underneath."""
    if isinstance(dtype, (pl.Struct, pl.Array)):
        return True
    if isinstance(dtype, pl.List):
        return hides_children(dtype.inner)
    return False


def without_hidden_children(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as a reference for Polars' `over`: where this Polars groups null
    structs and arrays by the values they hide (1.43), their columns rebuilt
    from their Python values, so each null hides nothing."""
    if POLARS_AS_REFERENCE:
        return frame
    return frame.with_columns(
        pl.Series(column.name, column.to_list(), dtype=column.dtype)
        for column in frame.iter_columns()
        if hides_children(column.dtype)
    )
