"""The one place that registers plugin calls, and the call of a spec's recurrence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from polars.plugins import register_plugin_function

from polars_scores.spec import ScoreSpec

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


def recurrence(
    spec: ScoreSpec[Any],
    value: pl.Expr,
    *,
    initial: pl.Expr | None,
    keys: Sequence[pl.Expr],
    inputs: Sequence[pl.Expr],
) -> pl.Expr:
    """The plugin call that runs `spec`'s recurrence over `value`: its rule
    (``pl_scan``, reading `inputs`), or else the built-in rolling score
    (``pl_rolling_score``); started from `initial` where given (read at each
    series' first row), else from ``spec.initial``; one series per key."""
    kwargs: dict[str, object] = {
        "initial": spec.initial if initial is None else 0.0,
        "initial_column": initial is not None,
    }
    args = [value] if initial is None else [value, initial]
    if spec.program is None:
        function = "pl_rolling_score"
        kwargs.update(rise=spec.rise, fall=spec.fall)
    else:
        function = "pl_scan"
        names = spec.input_names
        kwargs.update(
            ops=spec.program.ops,
            operands=spec.program.operands,
            inputs=len(names),
            input_names=names,
        )
        args.extend(inputs)
    args.extend(keys)
    return plugin(function, args, kwargs, is_elementwise=False)


def positive_powers(value: pl.Expr, exponent: float) -> pl.Expr:
    """``value ** exponent`` where ``value > 0``, else 0.0, row by row (the
    terms of ``scores.total``, for Polars' own ``sum`` to add)."""
    return plugin("pl_positive_powers", [value], {"exponent": exponent}, is_elementwise=True)
