"""The `scores` namespace on `pl.Expr`."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from polars_scores._checks import (
    finite,
    to_expr,
)
from polars_scores._plugin import (
    Fold,
    IntoExpr,
    IntoKeys,
    plugin,
    positive_powers,
    recurrence,
)
from polars_scores.spec import ScoreSpec, score_spec

Rule = str | Mapping[str, str]
"""A rule: one expression over ``prev``, or state names mapped to expressions."""

Initial = float | IntoExpr | Mapping[str, float | IntoExpr]
"""Where the state starts: for every state, or by state name."""


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
        rule: Rule,
        *,
        initial: Initial = 0.0,
        by: IntoKeys | None = None,
        inputs: Mapping[str, IntoExpr] | None = None,
    ) -> pl.Expr:
        """Your own score rule, run row by row at native speed: one Float64 per row
        (a struct of Float64 fields for a rule with several states).

        ``rule`` is one Python expression over ``prev`` (the state before the
        row), ``value`` (this row's value) and the names in ``inputs``; its
        result is the new state and the row's score. Or ``rule`` maps state
        names to expressions, each over every state's name (the state before
        the row): all states update at once, as Python's ``a, b = (e1, e2)``,
        and the row's score is a struct with one field per state, in the
        mapping's order. It may use numbers,
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
            The recurrence, e.g. ``"prev * 0.9 + value if value > prev else prev * 0.5"``,
            or a mapping such as ``{"n": "n + 1", "peak": "max(peak, value)"}``.
        initial
            The state before the first row, as for ``rolling``: a number, or
            an expression read at each series' (each key's) first row, a null
            there meaning 0.0; for every state, or, for a mapping rule, a
            mapping from state names to these (a state left out starts at
            0.0).
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

    def fold(
        self,
        rule: Rule,
        *,
        initial: Initial = 0.0,
        inputs: Mapping[str, IntoExpr] | None = None,
        by: IntoKeys | None = None,
    ) -> pl.Expr:
        """Your own aggregation: the state after the last row of ``scan(rule)``.

        An aggregation, like ``sum()``: one value per series, or per group in
        ``group_by(...).agg``, broadcast by ``over``; Float64, or a struct of
        the states for a mapping rule. A series without a non-null row gives
        the initial state. With ``by``, one pass over the whole column instead
        gives one row per key, in the order the keys first appear: a struct of
        the key columns and the states (``.struct.unnest()`` makes them
        columns); much faster than ``group_by`` with many small groups.

        Parameters
        ----------
        rule, initial, inputs
            As for ``scan``.
        by
            Key column(s): one row per distinct key (nulls are a key of their
            own).

        Examples
        --------
        >>> import polars as pl
        >>> import polars_scores  # noqa: F401
        >>> df = pl.DataFrame({"k": ["a", "b", "a"], "x": [1.0, 5.0, 3.0]})
        >>> df.group_by("k", maintain_order=True).agg(
        ...     pl.col("x").scores.fold("max(prev, value)", initial=-1.0)
        ... )
        shape: (2, 2)
        ┌─────┬─────┐
        │ k   ┆ x   │
        │ --- ┆ --- │
        │ str ┆ f64 │
        ╞═════╪═════╡
        │ a   ┆ 3.0 │
        │ b   ┆ 5.0 │
        └─────┴─────┘
        >>> df.select(
        ...     pl.col("x").scores.fold({"n": "n + 1", "sum": "sum + value"}, by="k")
        ... ).unnest("x")
        shape: (2, 3)
        ┌─────┬─────┬─────┐
        │ k   ┆ n   ┆ sum │
        │ --- ┆ --- ┆ --- │
        │ str ┆ f64 ┆ f64 │
        ╞═════╪═════╪═════╡
        │ a   ┆ 2.0 ┆ 4.0 │
        │ b   ┆ 1.0 ┆ 5.0 │
        └─────┴─────┴─────┘
        """
        spec = score_spec(
            "scores.fold",
            self._expr,
            by=() if by is None else by,
            initial=initial,
            rule=rule,
            inputs=inputs,
            needs_rule=True,
            expressions=True,
        )
        return _expression(spec, fold="keys" if spec.keys else "series")

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


def _expression(spec: ScoreSpec[pl.Expr], fold: Fold | None = None) -> pl.Expr:
    """The expression that runs a spec of the namespace."""
    return recurrence(
        spec,
        spec.values[0],
        starts=spec.state_starts(),
        keys=spec.keys,
        inputs=spec.input_columns,
        fold=fold,
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
