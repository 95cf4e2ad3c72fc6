"""Categorical and Enum key columns handed to Rust as strings.

A Categorical column crosses into the plugin with every category of its
dtype, not only those its rows use: with a million categories (user ids
read from a parquet file written from a Categorical) that costs about 0.3 s
per batch, fifteen times the scoring of the same keys as strings. A text key
is its string whatever its dtype, so the streaming scorers and totals hand
such columns over as String, and give the keys back in the first text dtype
each key column had.
"""

from __future__ import annotations

import contextlib

import polars as pl


class TextKeys:
    """The first text dtype (String, Categorical or Enum) of each key column."""

    def __init__(self) -> None:
        self._dtypes: dict[str, pl.DataType] = {}

    def as_strings(self, keys: list[pl.Series]) -> list[pl.Series]:
        """`keys` with Categorical and Enum columns cast to String."""
        strings = []
        for key in keys:
            if (
                key.dtype == pl.String
                or key.dtype == pl.Categorical
                or isinstance(key.dtype, pl.Enum)
            ):
                self._dtypes.setdefault(key.name, key.dtype)
                if key.dtype != pl.String:
                    key = key.cast(pl.String)
            strings.append(key)
        return strings

    def restored(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` with its String key columns cast back to their first text
        dtype; String where an Enum lacks a key (loaded from saved states)."""
        for key, dtype in self._dtypes.items():
            if frame.schema.get(key) == pl.String and dtype != pl.String:
                with contextlib.suppress(pl.exceptions.InvalidOperationError):
                    frame = frame.with_columns(frame.get_column(key).cast(dtype))
        return frame
