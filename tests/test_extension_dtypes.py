"""Extension dtypes (`pl.Extension`): a clear error as values, keys like their storage.

The plugin's copy of Polars must know the extension dtype, or importing such
a column panics before any check of ours runs ("the plugin panicked"). As
values, an extension column is refused like any non-numeric one (Polars'
own `sum` refuses it too); as a `by` key, it groups like its storage (as
Polars' own `over` does). Polars' parametric test extension (over Int32) is
the one used here, alone and inside a struct or a list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from helpers import assert_bit_identical, chunked, cuts, raised
from hypothesis import given
from hypothesis import strategies as st
from polars.testing.parametric import series

# Polars' parametric test extension: there from the floor (1.43.2) on.
from polars.testing.parametric.strategies.dtype import TestExtension
from reference import score_by_key

import polars_scores  # noqa: F401  (registers the namespace)

NAME = "col_ext"
"""The column under test: a name that appears nowhere else in a message."""


def extension(values: list[int | None], name: str = NAME) -> pl.Series:
    return pl.Series(name, values, dtype=pl.Int32).cast(TestExtension)


EXTENSION_COLUMNS = extension([1]).dtype != pl.Int32
"""Whether this Polars makes extension columns: the floor (1.43.2) casts to
the extension's storage, Int32, which the plugin then reads as such."""


# The extension column alone, in a struct field and in a list, each with the
# word that names its dtype in a message.
COLUMNS: dict[str, tuple[Callable[[], pl.Series], str]] = {
    "alone": (lambda: extension([1, None, 3]), "ext["),
    "in-struct": (
        lambda: pl.DataFrame([extension([1, None, 3], "f")]).select(pl.struct("f").alias(NAME))[
            NAME
        ],
        "struct",
    ),
    "in-list": (
        lambda: pl.Series(NAME, [[1], None, [2, 3]], dtype=pl.List(pl.Int32)).cast(
            pl.List(TestExtension)
        ),
        "list",
    ),
}

# Each way a method meets the column, on a frame holding it as `NAME` and a
# Float64 column `ok`.
CALLS: list[tuple[str, Callable[[pl.DataFrame], object]]] = [
    ("scores.rolling", lambda df: df.select(pl.col(NAME).scores.rolling())),
    ("scores.rolling", lambda df: df.select(pl.col(NAME).scores.rolling(by="ok"))),
    ("scores.rolling", lambda df: df.select(pl.col("ok").scores.rolling(initial=NAME))),
    ("scores.rolling", lambda df: df[NAME].scores.rolling()),
    ("scores.total", lambda df: df.select(pl.col(NAME).scores.total())),
    (
        "scores.total",
        lambda df: df.group_by("ok", maintain_order=True).agg(pl.col(NAME).scores.total()),
    ),
    ("scores.total", lambda df: df[NAME].scores.total()),
    ("scores.dot", lambda df: df.select(pl.col(NAME).scores.dot("ok"))),
    ("scores.dot", lambda df: df.select(pl.col("ok").scores.dot(NAME))),
    ("scores.dot", lambda df: df[NAME].scores.dot(df["ok"])),
    ("scores.dot", lambda df: df["ok"].scores.dot(df[NAME])),
    ("scores.total", lambda df: df.lazy().select(pl.col(NAME).scores.total()).collect()),
    (
        "scores.rolling",
        lambda df: df.lazy().select(pl.col(NAME).scores.rolling()).collect(engine="streaming"),
    ),
]


@pytest.mark.parametrize("where", list(COLUMNS))
@pytest.mark.parametrize(
    ("method", "call"), CALLS, ids=[f"{i}-{method}" for i, (method, _) in enumerate(CALLS)]
)
def test_extension_values_are_refused_by_name(
    where: str, method: str, call: Callable[[pl.DataFrame], object]
) -> None:
    column, dtype_word = COLUMNS[where]
    df = pl.DataFrame([column(), pl.Series("ok", [1.0, 2.0, 4.0])])
    if where == "alone" and not EXTENSION_COLUMNS:
        as_storage = df.with_columns(pl.col(NAME).cast(pl.Int32))
        assert same(call(df), call(as_storage))
        return
    error = raised(lambda: call(df))
    assert isinstance(error, pl.exceptions.PolarsError), repr(error)
    message = str(error)
    assert "panicked" not in message, message
    assert method in message, message
    assert f"'{NAME}'" in message, message
    assert dtype_word in message, message


def same(got: object, want: object) -> bool:
    if isinstance(got, (pl.DataFrame, pl.Series)):
        return got.equals(want)  # type: ignore[arg-type]
    return got == want


@pytest.mark.skipif(not EXTENSION_COLUMNS, reason="this Polars has no extension columns")
def test_polars_own_sum_refuses_them_too() -> None:
    # The behaviour the plugin's errors mirror.
    with pytest.raises(pl.exceptions.InvalidOperationError, match="ext"):
        extension([1, 2]).sum()


def hashable(key: Any) -> Any:
    """A Python key as the reference loop can hash it (dicts and lists are not)."""
    if isinstance(key, dict):
        return tuple(hashable(v) for v in key.values())
    if isinstance(key, list):
        return tuple(hashable(v) for v in key)
    return key


def keyed_reference(values: pl.Series, keys: pl.Series) -> list[float | None]:
    return score_by_key(values.to_list(), [hashable(k) for k in keys.to_list()])


KEY_VALUES = [3, None, 3, -7, 3, None, 12, -7]
X = [1.0, 2.0, None, 5.0, 0.5, 3.0, -1.0, 9.0]


@pytest.mark.parametrize(
    "key",
    [
        lambda: extension(KEY_VALUES, "k"),
        lambda: pl.DataFrame([extension(KEY_VALUES, "f"), pl.Series("g", range(8)) % 2]).select(
            pl.struct("f", "g").alias("k")
        )["k"],
        lambda: pl.Series("k", [[v] for v in KEY_VALUES], dtype=pl.List(pl.Int32)).cast(
            pl.List(TestExtension)
        ),
    ],
    ids=["alone", "in-struct", "in-list"],
)
def test_extension_keys_group_like_their_storage(key: Callable[[], pl.Series]) -> None:
    keys = key()
    x = pl.Series("x", X)
    want = keyed_reference(x, keys)
    df = pl.DataFrame([x, keys])
    got = df.select(pl.col("x").scores.rolling(by="k"))["x"]
    assert_bit_identical(got.to_list(), want)
    assert_bit_identical(x.scores.rolling(by=keys).to_list(), want)


@given(
    keys=series(name="k", dtype=TestExtension, min_size=1, max_size=60),
    data=st.data(),
)
def test_any_extension_keys_in_any_chunks(keys: pl.Series, data: st.DataObject) -> None:
    x = pl.Series(
        "x", data.draw(st.lists(st.floats(-1e3, 1e3), min_size=keys.len(), max_size=keys.len()))
    )
    want = keyed_reference(x, keys)
    keys = chunked(keys, data.draw(cuts(keys.len())))
    got = pl.DataFrame([x, keys]).select(pl.col("x").scores.rolling(by="k"))["x"]
    assert_bit_identical(got.to_list(), want)
