"""The rolling score over batches that arrive in order, each key's state carried across them.

Polars has no way to keep a plugin's state from one call to the next, so the
state lives here: the score at each key's last non-null value. With keys,
the states live in Rust (``KeyStates``, ``src/states.rs``), which scores a
batch in one call, for the built-in score and for a user's rule alike;
without keys, the one state goes back in through the plugin's ``initial``
input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from polars_scores._checks import check_columns, column_name, column_names, finite, input_mapping
from polars_scores._internal import KeyStates
from polars_scores.namespace import col
from polars_scores.rules import check_input_names, parse_rule


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
    rule, inputs
        Your own recurrence instead of the rolling score, as in
        ``scores.scan`` (``rise`` and ``fall`` are then unused); ``inputs``
        maps the rule's names to columns of the batches.
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
        rule: str | None = None,
        inputs: Mapping[str, str] | None = None,
        key_sorted: bool = False,
    ) -> None:
        method = self._METHOD
        self._value = column_name(method, "value", value)
        if name is not None:
            name = column_name(method, "name", name)
        self._keys = column_names(method, "by", by)
        self._rise = finite(method, "rise", rise)
        self._fall = finite(method, "fall", fall)
        self._initial = finite(method, "initial", initial)
        self._name = f"{value}_score" if name is None else name
        self._rule = rule
        self._inputs = input_columns(method, rule, inputs)
        if not isinstance(key_sorted, bool):
            raise TypeError(f"{method}: key_sorted must be True or False, got {key_sorted!r}")
        # Without keys, one float; with keys, every key's state, in Rust.
        self._state = self._initial
        self._states = None
        if self._keys:
            program = parse_rule(rule, list(self._inputs)) if rule is not None else None
            self._states = KeyStates(
                self._rise,
                self._fall,
                self._initial,
                key_sorted,
                ops=None if program is None else program.ops,
                operands=None if program is None else program.operands,
                inputs=len(self._inputs),
                method=f"{self._METHOD}.score",
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
            a key, or, with ``key_sorted``, a key is a struct, list or array
            or the keys are out of order.
        polars.exceptions.SchemaError
            A key column holds another kind of key than in earlier batches
            (say strings after integers).
        ValueError
            The batch already has a column with the score's name.
        """
        check_columns(
            f"{self._METHOD}.score",
            batch.schema,
            self._value,
            [*self._keys, *self._inputs.values()],
            self._name,
        )
        if self._states is not None:
            keys = [batch.get_column(key) for key in self._keys]
            inputs = [batch.get_column(column) for column in self._inputs.values()]
            scores = self._states.score(keys, batch.get_column(self._value), self._name, inputs)
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
        if self._rule is not None:
            return col(self._value).scores.scan(self._rule, initial=initial, inputs=self._inputs)
        return col(self._value).scores.rolling(rise=self._rise, fall=self._fall, initial=initial)


def input_columns(
    method: str, rule: str | None, inputs: Mapping[str, str] | None
) -> dict[str, str]:
    """The rule's inputs (name: column), checked with the rule, which is
    parsed now so that a bad one fails before any batch is read."""
    if rule is None:
        if inputs:
            raise ValueError(f"{method}: inputs need a rule")
        return {}
    named = input_mapping(method, inputs, "column names", pairs=True)
    if not all(isinstance(column, str) for column in named.values()):
        raise TypeError(f"{method}: inputs must map names to column names, got {inputs!r}")
    parse_rule(rule, check_input_names(list(named)))
    return named
