"""The rolling score over batches that arrive in order, each key's state carried across them.

Polars has no way to keep a plugin's state from one call to the next, so the
state lives here: after each batch, the score at each key's last non-null
value; before the next one, those scores go back in through the plugin's
``initial`` input, which is read at each key's first row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from polars_scores._plugin import finite
from polars_scores.namespace import col

SCORABLE_DTYPES: frozenset[pl.DataType] = frozenset(
    {
        pl.Int8(),
        pl.Int16(),
        pl.Int32(),
        pl.Int64(),
        pl.Int128(),
        pl.UInt8(),
        pl.UInt16(),
        pl.UInt32(),
        pl.UInt64(),
        pl.UInt128(),
        pl.Float32(),
        pl.Float64(),
        pl.Null(),
    }
)
"""The value dtypes the Rust kernels read (an all-null column reads as Float64)."""


def key_names(method: str, by: str | Sequence[str]) -> list[str]:
    """`by` (one column name or several) as a list of distinct names."""
    keys = [by] if isinstance(by, str) else list(by) if isinstance(by, Sequence) else None
    if keys is None or not all(isinstance(key, str) for key in keys):
        raise TypeError(f"{method}: by must be a column name or a list of them, got {by!r}")
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(
            f"{method}: by names a column more than once: {', '.join(map(repr, duplicates))}"
        )
    return keys


def check_columns(
    method: str,
    schema: Mapping[str, pl.DataType],
    value: str,
    by: Sequence[str],
    output: str | None = None,
) -> None:
    """Check that `schema` has a numeric `value` column and the `by` columns, and
    that it has no column called `output`, the name the result would take.

    Raises
    ------
    polars.exceptions.ColumnNotFoundError
        A column is missing; the message lists the available ones.
    polars.exceptions.InvalidOperationError
        The value column is not numeric.
    ValueError
        The output name is already taken.
    """
    missing = [column for column in (value, *by) if column not in schema]
    if missing:
        available = ", ".join(repr(column) for column in schema) or "none"
        raise pl.exceptions.ColumnNotFoundError(
            f"{method}: no column {', '.join(repr(m) for m in missing)}; "
            f"the available columns are {available}"
        )
    dtype = schema[value]
    if dtype not in SCORABLE_DTYPES:
        raise pl.exceptions.InvalidOperationError(
            f"{method}: column {value!r} has dtype {dtype}, but the score needs a numeric "
            "column (an integer or Float32/Float64)"
        )
    if output is not None and output in schema:
        raise ValueError(
            f"{method}: the result column {output!r} would replace an input column "
            "of that name; choose another name"
        )


class RollingScorer:
    """Scores DataFrame batches that arrive in order, carrying each key's state across batches.

    Feeding the rows of a frame through :meth:`score` in consecutive batches of
    any sizes gives, bit for bit, the same scores as one in-memory
    ``pl.col(value).scores.rolling(by=by, ...)`` over all of them. Memory holds
    one batch and one float per key seen so far.

    Parameters
    ----------
    value
        The numeric column to score.
    by
        Key column name(s): each key's recurrence runs on its own, as with
        ``scores.rolling(by=...)``. Null keys are a key of their own.
    rise, fall, initial
        As in ``scores.rolling``: ``initial`` is the state of every key before
        its first row.
    name
        The score column's name, by default ``"<value>_score"``. It must not be
        the name of a column of the batches.

    Examples
    --------
    >>> import polars as pl
    >>> from polars_scores.stateful import RollingScorer
    >>> scorer = RollingScorer("x", by="k")
    >>> scorer.score(pl.DataFrame({"k": [1, 1, 2], "x": [1.0, 0.5, 3.0]}))
    shape: (3, 3)
    ┌─────┬─────┬─────────┐
    │ k   ┆ x   ┆ x_score │
    │ --- ┆ --- ┆ ---     │
    │ i64 ┆ f64 ┆ f64     │
    ╞═════╪═════╪═════════╡
    │ 1   ┆ 1.0 ┆ 1.0     │
    │ 1   ┆ 0.5 ┆ 0.5     │
    │ 2   ┆ 3.0 ┆ 3.0     │
    └─────┴─────┴─────────┘
    >>> scorer.score(pl.DataFrame({"k": [1, 2], "x": [2.0, None]}))["x_score"].to_list()
    [2.45, None]
    """

    _METHOD = "RollingScorer"

    def __init__(
        self,
        value: str,
        *,
        by: str | Sequence[str] = (),
        rise: float = 0.9,
        fall: float = 0.5,
        initial: float = 0.0,
        name: str | None = None,
    ) -> None:
        method = self._METHOD
        if not isinstance(value, str):
            raise TypeError(f"{method}: value must be a column name, got {value!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{method}: name must be a non-empty string, got {name!r}")
        self._value = value
        self._keys = key_names(method, by)
        self._rise = finite(method, "rise", rise)
        self._fall = finite(method, "fall", fall)
        self._initial = finite(method, "initial", initial)
        self._name = f"{value}_score" if name is None else name
        # Without keys, one float; with keys, the key columns plus the score
        # column holding each key's state (filled at the first batch, when the
        # key dtypes are known).
        self._state = self._initial
        self._states: pl.DataFrame | None = None

    @property
    def name(self) -> str:
        """The score column's name."""
        return self._name

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        """`batch` with the score column appended, rows in the same order.

        Raises
        ------
        polars.exceptions.ColumnNotFoundError
            The value or a key column is missing (the message lists the
            available ones).
        polars.exceptions.InvalidOperationError
            The value column is not numeric.
        ValueError
            The batch already has a column with the score's name.
        """
        check_columns(f"{self._METHOD}.score", batch.schema, self._value, self._keys, self._name)
        if self._keys:
            return self._score_by_key(batch)
        # The state may be NaN or infinite (the values may be), which the
        # numeric `initial` parameter rejects, so it goes in as a literal.
        start = pl.lit(self._state, dtype=pl.Float64)
        scored = batch.with_columns(self._rolling(start).alias(self._name))
        last = scored.get_column(self._name).drop_nulls()
        if len(last):
            self._state = last[-1]
        return scored

    def _rolling(self, initial: pl.Expr, by: Sequence[str] = ()) -> pl.Expr:
        return col(self._value).scores.rolling(
            rise=self._rise, fall=self._fall, initial=initial, by=list(by)
        )

    def _score_by_key(self, batch: pl.DataFrame) -> pl.DataFrame:
        keys, name = self._keys, self._name
        states = self._states
        if states is None:
            states = pl.DataFrame(schema={**batch.select(keys).schema, name: pl.Float64})
        # Only each key's first row of `starts` is read; a key never seen (or
        # only ever null) starts from `initial`.
        starts = (
            batch.select(keys)
            .join(states, on=keys, how="left", nulls_equal=True, maintain_order="left")
            .get_column(name)
            .fill_null(self._initial)
        )
        scored = batch.with_columns(self._rolling(pl.lit(starts), keys).alias(name))
        # A null value scores null and leaves its key's state alone, so the new
        # state is the score at the key's last non-null value in this batch.
        latest = (
            scored.select(*keys, name)
            .filter(pl.col(name).is_not_null())
            .unique(subset=keys, keep="last", maintain_order=False)
        )
        unchanged = states.join(latest, on=keys, how="anti", nulls_equal=True)
        self._states = pl.concat([unchanged, latest], how="vertical")
        return scored
