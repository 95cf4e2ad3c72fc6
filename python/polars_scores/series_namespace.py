"""The `scores` namespace on `pl.Series`: each method runs the expression's
on the Series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import polars as pl

from polars_scores._checks import (
    ParameterTypeError,
    finite,
    input_mapping,
    refuse,
    series_keys,
)
from polars_scores._plugin import plugin
from polars_scores.namespace import Initial, Rule, ScoresNamespace


@pl.api.register_series_namespace("scores")
class ScoresSeriesNamespace:
    """Scores of a numeric Series: ``s.scores.<method>()``."""

    def __init__(self, series: pl.Series) -> None:
        self._series = series

    def rolling(
        self,
        *,
        rise: float = 0.9,
        fall: float = 0.5,
        initial: float | pl.Series = 0.0,
        by: pl.Series | Sequence[pl.Series] | None = None,
    ) -> pl.Series:
        """The rolling score of this Series; see ``pl.Expr.scores.rolling``.

        ``initial`` may be a Series (one row, or one per row) and ``by`` a
        Series or a list of Series of the same length.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> pl.Series("x", [1.0, 0.5, 3.0]).scores.rolling().to_list()
        [1.0, 0.5, 3.45]
        """
        expr = ScoresNamespace(pl.lit(self._series)).rolling(
            rise=rise,
            fall=fall,
            initial=pl.lit(initial) if isinstance(initial, pl.Series) else initial,
            by=[pl.lit(key) for key in series_keys("scores.rolling", by)],
        )
        return pl.select(expr).to_series()

    def scan(
        self,
        rule: Rule,
        *,
        initial: float | pl.Series | Mapping[str, float | pl.Series] = 0.0,
        by: pl.Series | Sequence[pl.Series] | None = None,
        inputs: Mapping[str, pl.Series] | None = None,
    ) -> pl.Series:
        """Your own score rule over this Series; see ``pl.Expr.scores.scan``.

        ``initial`` may be a Series (one row, or one per row), ``by`` a Series
        or a list of Series, and ``inputs`` maps names to Series.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> pl.Series("x", [1.0, 2.0, 3.0]).scores.scan("prev + value").to_list()
        [1.0, 3.0, 6.0]
        """
        method = "scores.scan"
        expr = ScoresNamespace(pl.lit(self._series)).scan(
            rule,
            initial=_literal_starts(initial),
            by=[pl.lit(key) for key in series_keys(method, by)],
            inputs=_literal_inputs(method, inputs),
        )
        return pl.select(expr).to_series()

    def fold(
        self,
        rule: Rule,
        *,
        initial: float | pl.Series | Mapping[str, float | pl.Series] = 0.0,
        inputs: Mapping[str, pl.Series] | None = None,
    ) -> object:
        """The state after the last row of ``scan(rule)``: a float, or a dict
        of the states for a mapping rule; see ``pl.Expr.scores.fold``.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> pl.Series("x", [1.0, 5.0, 3.0]).scores.fold("max(prev, value)")
        5.0
        >>> pl.Series("x", [1.0, 5.0, 3.0]).scores.fold({"n": "n + 1", "sum": "sum + value"})
        {'n': 3.0, 'sum': 9.0}
        """
        method = "scores.fold"
        expr = ScoresNamespace(pl.lit(self._series)).fold(
            rule, initial=_literal_starts(initial), inputs=_literal_inputs(method, inputs)
        )
        return pl.select(expr).item()

    def total(self, *, exponent: float = 1.5) -> float:
        """The sum of ``v ** exponent`` over the non-null ``v > 0``, as a float.

        Computed in one pass with no per-row output.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> pl.Series([4, -1, 9, None]).scores.total()
        35.0
        """
        kwargs = {"exponent": finite("scores.total", "exponent", exponent)}
        expr = plugin(
            "pl_positive_power_sum",
            [pl.lit(self._series)],
            kwargs,
            is_elementwise=False,
            returns_scalar=True,
        )
        return cast(float, pl.select(expr).item())

    def dot(self, other: pl.Series | float) -> float:
        """The sum of ``self * other`` over rows where both are non-null.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> pl.Series([1, 2, 3]).scores.dot(pl.Series([0.5, 0.25, 2.0]))
        7.0
        """
        other_expr = pl.lit(other) if isinstance(other, pl.Series) else other
        expr = ScoresNamespace(pl.lit(self._series)).dot(other_expr)
        return cast(float, pl.select(expr).item())


def _literal_starts(
    initial: float | pl.Series | Mapping[str, float | pl.Series],
) -> Initial:
    """A Series method's `initial` for the expression it runs: each Series
    a literal."""
    if isinstance(initial, pl.Series):
        return pl.lit(initial)
    if isinstance(initial, Mapping):
        return {
            name: pl.lit(start) if isinstance(start, pl.Series) else start
            for name, start in initial.items()
        }
    return initial


def _literal_inputs(method: str, inputs: object) -> dict[str, pl.Expr]:
    """A Series method's `inputs` for the expression it runs, each Series a
    literal; anything but a Series is refused."""
    named = input_mapping(method, inputs, "Series")
    for name, column in named.items():
        if not isinstance(column, pl.Series):
            raise refuse(
                ParameterTypeError,
                method,
                f"input {name!r} must be a Series on a Series, "
                f"got {type(column).__name__} {column!r}",
            )
    return {name: pl.lit(column) for name, column in named.items()}
