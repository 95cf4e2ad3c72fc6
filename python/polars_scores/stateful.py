"""The rolling score over batches that arrive in order, each key's state carried across them.

Polars has no way to keep a plugin's state from one call to the next, so the
state lives here: the score at each key's last non-null value. With keys,
the states live in Rust (``KeyStates``, ``src/states.rs``), which scores a
batch in one call; without, the one state goes back in through the plugin's
``initial`` input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from polars_scores._internal import KeyStates
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
    the batch and about one float per key seen so far.

    Each key's state is the score at its last non-null value, kept in Rust
    (``src/states.rs``), so that a batch is one call: with one integer key
    column whose values stay within a few times the number of keys (ids),
    in an array indexed by key; with any other keys (strings, categoricals,
    floats, booleans, temporal values, several columns, or ids too far
    apart), in a hash table that each batch reads once per distinct key.

    A key is the same key in every batch whatever its column's dtype there,
    as when the batches come from parquet files written at different times:
    integers of every width are numbers (``1`` as Int32 and as Int64 is one
    key), Float32 values are their Float64 values, a categorical is its
    string, and a batch whose key column is all null (dtype Null) holds the
    null key. -0.0 and 0.0 are one key, and so are all NaNs, as in Polars'
    ``group_by``. Kinds that can never be equal (an integer column in one
    batch, a string column in another) raise ``polars.exceptions.SchemaError``,
    as Polars refuses to join them; cast the column in every batch instead.

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
    key_sorted
        The batches arrive sorted by the key columns (ascending, nulls first,
        NaN last: Polars' ``sort(by)`` and Spark's ``sortWithinPartitions``
        order), as each of Spark's partitions does. Then a key's rows are
        contiguous, every key before the current one is finished, and only
        the current key's state is kept: memory and time per row stay the
        same however many keys go by. A batch whose keys are out of that
        order raises ``polars.exceptions.InvalidOperationError``.

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

    The key column's dtype may change from batch to batch:

    >>> batch = pl.DataFrame({"k": [2, 1], "x": [1.0, 1.0]}).cast({"k": pl.Int8})
    >>> scorer.score(batch)["x_score"].to_list()
    [1.5, 1.225]

    In a stream sorted by key, only the current key's state is kept:

    >>> sorted_by_u = RollingScorer("x", by="u", key_sorted=True)
    >>> first = pl.DataFrame({"u": ["a", "a", "b"], "x": [1.0, 3.0, 2.0]})
    >>> sorted_by_u.score(first)["x_score"].to_list()
    [1.0, 3.9, 2.0]
    >>> sorted_by_u.score(pl.DataFrame({"u": ["b", "c"], "x": [4.0, 1.0]}))["x_score"].to_list()
    [5.8, 1.0]
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
        key_sorted: bool = False,
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
        if not isinstance(key_sorted, bool):
            raise TypeError(f"{method}: key_sorted must be True or False, got {key_sorted!r}")
        self._name = f"{value}_score" if name is None else name
        # Without keys, one float; with keys, every key's state, in Rust.
        self._state = self._initial
        self._states = (
            KeyStates(self._rise, self._fall, self._initial, key_sorted) if self._keys else None
        )

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
            The value column is not numeric, a key column's dtype cannot be
            a key (nested types), or, with ``key_sorted``, the keys are out
            of order.
        polars.exceptions.SchemaError
            A key column holds another kind of key than in earlier batches
            (say strings after integers).
        ValueError
            The batch already has a column with the score's name.
        """
        check_columns(f"{self._METHOD}.score", batch.schema, self._value, self._keys, self._name)
        if self._states is not None:
            keys = [batch.get_column(key) for key in self._keys]
            scores = self._states.score(keys, batch.get_column(self._value), self._name)
            return batch.with_columns(scores)
        # The state may be NaN or infinite (the values may be), which the
        # numeric `initial` parameter rejects, so it goes in as a literal.
        start = pl.lit(self._state, dtype=pl.Float64)
        scored = batch.with_columns(self._rolling(start).alias(self._name))
        last = scored.get_column(self._name).drop_nulls()
        if len(last):
            self._state = last[-1]
        return scored

    def _rolling(self, initial: pl.Expr) -> pl.Expr:
        return col(self._value).scores.rolling(rise=self._rise, fall=self._fall, initial=initial)
