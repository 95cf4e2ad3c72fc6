"""The `scores` namespace on `pl.Expr` and `pl.Series`."""

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
    to_expr,
)
from polars_scores._plugin import IntoExpr, IntoKeys, plugin, positive_powers, recurrence
from polars_scores.spec import ScoreSpec, score_spec


@pl.api.register_expr_namespace("scores")
class ScoresNamespace:
    """Scores of a numeric column: ``pl.col("x").scores.<method>()``."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def rolling(
        self,
        *,
        rise: float = 0.9,
        fall: float = 0.5,
        initial: float | IntoExpr = 0.0,
        by: IntoKeys | None = None,
    ) -> pl.Expr:
        """The rolling score: one Float64 per row, in row order.

        For each non-null value ``v``: if ``v > prev`` then
        ``prev = prev * rise + v``, else ``prev = prev * fall``; the row's
        score is the new ``prev``. A null value scores null and leaves the
        state as it was. The results are bit-identical to the same loop in
        Python.

        Parameters
        ----------
        rise
            Factor applied to the score before adding a value that exceeds it.
        fall
            Factor applied to the score when a value does not exceed it.
        initial
            The state before the first row: a number (NaN and infinities
            too: NaN for a start that is unknown), or an expression (or
            column name) read at the first row of each series (of each key
            with ``by``), a null there meaning 0.0. That lets a computation
            continue from a saved state.
        by
            Key column(s): the recurrence runs separately for each distinct
            key (nulls are a key of their own), in row order, in one call.
            Equal to ``.over(by)``, and much faster with many keys.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> df = pl.DataFrame({"k": [1, 1, 2, 1, 2], "x": [1.0, 0.5, 3.0, 2.0, None]})
        >>> df.with_columns(
        ...     score=pl.col("x").scores.rolling(),
        ...     by_key=pl.col("x").scores.rolling(by="k"),
        ... )
        shape: (5, 4)
        ┌─────┬──────┬───────┬────────┐
        │ k   ┆ x    ┆ score ┆ by_key │
        │ --- ┆ ---  ┆ ---   ┆ ---    │
        │ i64 ┆ f64  ┆ f64   ┆ f64    │
        ╞═════╪══════╪═══════╪════════╡
        │ 1   ┆ 1.0  ┆ 1.0   ┆ 1.0    │
        │ 1   ┆ 0.5  ┆ 0.5   ┆ 0.5    │
        │ 2   ┆ 3.0  ┆ 3.45  ┆ 3.0    │
        │ 1   ┆ 2.0  ┆ 1.725 ┆ 2.45   │
        │ 2   ┆ null ┆ null  ┆ null   │
        └─────┴──────┴───────┴────────┘
        """
        spec = score_spec(
            "scores.rolling",
            self._expr,
            by=by,
            rise=rise,
            fall=fall,
            initial=initial,
            none_is_default=False,
            expressions=True,
        )
        return _expression(spec)

    def scan(
        self,
        rule: str,
        *,
        initial: float | IntoExpr = 0.0,
        by: IntoKeys | None = None,
        inputs: Mapping[str, IntoExpr] | None = None,
    ) -> pl.Expr:
        """Your own score rule, run row by row at native speed: one Float64 per row.

        ``rule`` is one Python expression over ``prev`` (the state before the
        row), ``value`` (this row's value) and the names in ``inputs``; its
        result is the new state and the row's score. It may use numbers,
        ``inf``, ``nan``, ``+ - * / **``, comparisons (chained too), ``and``,
        ``or``, ``not``, ``a if cond else b`` and ``abs``, ``min``, ``max``,
        ``sqrt``, ``exp``, ``log``, ``floor``, ``ceil``. It is parsed, never
        evaluated, and compiled to machine code once per process. Results
        are bit-identical to evaluating the rule in Python over floats, with
        IEEE results where Python would raise (``1/0`` is ``inf``, ``log(0)``
        is ``-inf``). A row whose value or any input is null scores null and
        leaves the state unchanged.

        Parameters
        ----------
        rule
            The recurrence, e.g. ``"prev * 0.9 + value if value > prev else prev * 0.5"``.
        initial
            The state before the first row, as for ``rolling``: a number, or
            an expression read at each series' (each key's) first row, a null
            there meaning 0.0.
        by
            Key column(s): one state per distinct key, in row order, as for
            ``rolling``.
        inputs
            More columns the rule reads at the same row, by name: a mapping
            from identifiers to expressions or column names. Numeric, or
            Boolean (read as 0.0 or 1.0, and its bare name is a condition);
            a one-row input broadcasts.

        Raises
        ------
        ValueError
            When the rule is outside the grammar, quoting the offending part.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> df = pl.DataFrame({"x": [1.0, 3.0, 2.0], "dt": [0.0, 3600.0, 7200.0]})
        >>> df.with_columns(
        ...     capped=pl.col("x").scores.scan("min(prev + value, 4)"),
        ...     decayed=pl.col("x").scores.scan(
        ...         "prev * exp(-dt / 3600) + value", inputs={"dt": "dt"}
        ...     ),
        ... )
        shape: (3, 4)
        ┌─────┬────────┬────────┬──────────┐
        │ x   ┆ dt     ┆ capped ┆ decayed  │
        │ --- ┆ ---    ┆ ---    ┆ ---      │
        │ f64 ┆ f64    ┆ f64    ┆ f64      │
        ╞═════╪════════╪════════╪══════════╡
        │ 1.0 ┆ 0.0    ┆ 1.0    ┆ 1.0      │
        │ 3.0 ┆ 3600.0 ┆ 4.0    ┆ 3.367879 │
        │ 2.0 ┆ 7200.0 ┆ 4.0    ┆ 2.455793 │
        └─────┴────────┴────────┴──────────┘
        """
        spec = score_spec(
            "scores.scan",
            self._expr,
            by=by,
            initial=initial,
            rule=rule,
            inputs=inputs,
            needs_rule=True,
            expressions=True,
        )
        return _expression(spec)

    def total(self, *, exponent: float = 1.5) -> pl.Expr:
        """The sum of ``v ** exponent`` over the non-null ``v > 0``.

        0.0 when no value counts (NaN is not ``> 0``). The per-row powers are
        computed by the plugin and summed by Polars' own ``sum``, so the
        expression streams and aggregates natively in ``group_by`` and
        ``over``.

        Parameters
        ----------
        exponent
            The power each positive value is raised to.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> df = pl.DataFrame({"k": ["a", "a", "b"], "x": [4.0, -1.0, 9.0]})
        >>> df.group_by("k", maintain_order=True).agg(pl.col("x").scores.total())
        shape: (2, 2)
        ┌─────┬──────┐
        │ k   ┆ x    │
        │ --- ┆ ---  │
        │ str ┆ f64  │
        ╞═════╪══════╡
        │ a   ┆ 8.0  │
        │ b   ┆ 27.0 │
        └─────┴──────┘
        """
        return positive_powers(self._expr, finite("scores.total", "exponent", exponent)).sum()

    def dot(self, other: IntoExpr | float) -> pl.Expr:
        """The sum of ``self * other`` over the rows where both are non-null.

        Each column is read in its own numeric dtype (no widened copy). A
        one-row ``other`` (such as a number) broadcasts; other lengths must
        match.

        Parameters
        ----------
        other
            An expression, a column name, or a number.

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> df = pl.DataFrame({"a": [1, 2, None], "b": [0.5, 4.0, 2.0]})
        >>> df.select(pl.col("a").scores.dot("b"))
        shape: (1, 1)
        ┌─────┐
        │ a   │
        │ --- │
        │ f64 │
        ╞═════╡
        │ 8.5 │
        └─────┘
        """
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            other_expr = pl.lit(float(other), dtype=pl.Float64)
        else:
            other_expr = to_expr("scores.dot", "other", other)
        return plugin("pl_dot", [self._expr, other_expr], is_elementwise=False, returns_scalar=True)


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
        rule: str,
        *,
        initial: float | pl.Series = 0.0,
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
        named = input_mapping(method, inputs, "Series")
        for name, column in named.items():
            if not isinstance(column, pl.Series):
                raise refuse(
                    ParameterTypeError,
                    method,
                    f"input {name!r} must be a Series on a Series, "
                    f"got {type(column).__name__} {column!r}",
                )
        expr = ScoresNamespace(pl.lit(self._series)).scan(
            rule,
            initial=pl.lit(initial) if isinstance(initial, pl.Series) else initial,
            by=[pl.lit(key) for key in series_keys(method, by)],
            inputs={name: pl.lit(column) for name, column in named.items()},
        )
        return pl.select(expr).to_series()

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


def _expression(spec: ScoreSpec[pl.Expr]) -> pl.Expr:
    """The expression that runs a spec of the namespace."""
    return recurrence(
        spec,
        spec.values[0],
        initial=spec.initial_column,
        keys=spec.keys,
        inputs=spec.input_columns,
    )


class ScoresExpr(pl.Expr):
    """A ``pl.Expr`` whose type shows the ``scores`` namespace to editors:
    :func:`col` makes one (an instance of both classes)."""

    @property
    def scores(self) -> ScoresNamespace:
        return ScoresNamespace(self)


def col(*names: str) -> ScoresExpr:
    """``pl.col`` as a :class:`ScoresExpr`, so that ``.scores.`` completes in an editor.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_scores as ps
    >>> pl.DataFrame({"x": [2.0, 1.0]}).select(ps.col("x").scores.rolling())["x"].to_list()
    [2.0, 1.0]
    >>> isinstance(ps.col("x"), ps.ScoresExpr), isinstance(ps.col("x"), pl.Expr)
    (True, True)
    """
    expr = ScoresExpr.__new__(ScoresExpr)
    expr._pyexpr = pl.col(*names)._pyexpr
    return expr
