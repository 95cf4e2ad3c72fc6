"""The one place that registers plugin calls, and the call of a spec's recurrence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

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
    changes_length: bool = False,
) -> pl.Expr:
    """Call the Rust function `function` of this package's library."""
    return register_plugin_function(
        plugin_path=_LIBRARY,
        function_name=function,
        args=list(args),
        kwargs=kwargs,
        is_elementwise=is_elementwise,
        returns_scalar=returns_scalar,
        changes_length=changes_length,
    )


Start = float | pl.Expr
"""Where a state starts: a number, or an expression read at each series'
first row."""

Fold = Literal["series", "keys"]
"""A fold's result: the state after the last row (an aggregation), or one
row per key (a struct of the keys and the states)."""


def recurrence(
    spec: ScoreSpec[Any],
    value: pl.Expr,
    *,
    starts: Sequence[Start],
    keys: Sequence[pl.Expr],
    inputs: Sequence[pl.Expr],
    fold: Fold | None = None,
) -> pl.Expr:
    """The plugin call that runs `spec`'s recurrence over `value`: its rule
    (``pl_scan``, reading `inputs`), or else the built-in rolling score
    (``pl_rolling_score``); each state started from `starts` (one per
    number of the state); one series per key. With `fold`, the rule's final
    states instead (``pl_fold``, ``pl_fold_by``)."""
    columns = [start for start in starts if isinstance(start, pl.Expr)]
    args = [value, *columns]
    initial = [0.0 if isinstance(start, pl.Expr) else start for start in starts]
    initial_column = [isinstance(start, pl.Expr) for start in starts]
    if spec.program is None:
        function = "pl_rolling_score"
        kwargs: dict[str, object] = {
            "initial": initial[0],
            "initial_column": initial_column[0],
            "rise": spec.rise,
            "fall": spec.fall,
        }
    else:
        function = {None: "pl_scan", "series": "pl_fold", "keys": "pl_fold_by"}[fold]
        names = spec.input_names
        states = spec.program.states
        kwargs = {
            "initial": initial,
            "initial_column": initial_column,
            "ops": spec.program.ops,
            "operands": spec.program.operands,
            "inputs": len(names),
            "input_names": names,
            "states": None if states is None else list(states),
        }
        args.extend(inputs)
    args.extend(keys)
    return plugin(
        function,
        args,
        kwargs,
        is_elementwise=False,
        returns_scalar=fold == "series",
        changes_length=fold == "keys",
    )


def positive_powers(value: pl.Expr, exponent: float) -> pl.Expr:
    """``value ** exponent`` where ``value > 0``, else 0.0, row by row (the
    terms of ``scores.total``, for Polars' own ``sum`` to add)."""
    return plugin("pl_positive_powers", [value], {"exponent": exponent}, is_elementwise=True)
