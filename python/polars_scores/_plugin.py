"""The one place that registers plugin calls (their checks live in `_checks`)."""

from __future__ import annotations

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
