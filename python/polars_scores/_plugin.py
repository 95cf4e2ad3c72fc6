"""The one place that registers plugin calls and checks their parameters."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from polars.plugins import register_plugin_function

IntoExpr = pl.Expr | str
"""An expression, or a column name."""

IntoKeys = IntoExpr | Sequence[IntoExpr]
"""One key (expression or column name) or several."""

_LIBRARY = Path(__file__).parent


def plugin(
    function: str,
    args: Sequence[pl.Expr],
    kwargs: dict[str, Any] | None = None,
    *,
    is_elementwise: bool,
    returns_scalar: bool = False,
) -> pl.Expr:
    """Call the Rust function `function` of this package's library."""
    return register_plugin_function(
        plugin_path=_LIBRARY,
        function_name=function,
        args=list(args),
        kwargs=kwargs,
        is_elementwise=is_elementwise,
        returns_scalar=returns_scalar,
        changes_length=False,
    )


def finite(method: str, name: str, value: object) -> float:
    """`value` as a float, if it is a finite real number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{method}: {name} must be a finite real number, got {type(value).__name__} {value!r}"
        )
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{method}: {name} must be finite, got {value!r}")
    return as_float


def to_expr(method: str, name: str, value: object) -> pl.Expr:
    """An expression, or a column name, as an expression."""
    if isinstance(value, pl.Expr):
        return value
    if isinstance(value, str):
        return pl.col(value)
    raise TypeError(
        f"{method}: {name} must be an expression or a column name, "
        f"got {type(value).__name__} {value!r}"
    )


def to_keys(method: str, by: object) -> list[pl.Expr]:
    """`by` (nothing, one key, or a sequence of keys) as a list of expressions."""
    if by is None:
        return []
    if isinstance(by, (pl.Expr, str)):
        return [to_expr(method, "by", by)]
    if isinstance(by, Sequence):
        return [to_expr(method, "by", key) for key in by]
    raise TypeError(
        f"{method}: by must be a column name, an expression or a list of them, "
        f"got {type(by).__name__} {by!r}"
    )


def series_keys(method: str, by: object) -> list[pl.Series]:
    """`by` for the Series API (nothing, a Series, or a sequence of Series)."""
    if by is None:
        return []
    if isinstance(by, pl.Series):
        return [by]
    if isinstance(by, Sequence) and not isinstance(by, str):
        keys = list(by)
        if all(isinstance(key, pl.Series) for key in keys):
            return keys
    raise TypeError(
        f"{method}: by must be a Series or a list of Series on a Series, "
        f"got {type(by).__name__} {by!r}"
    )
