"""The rolling score over batches that arrive in order, each key's state carried across them.

Polars has no way to keep a plugin's state from one call to the next, so the
state lives here: after each batch, the score at each key's last non-null
value; before the next one, those scores go back in through the plugin's
``initial`` input, which is read at each key's first row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import polars as pl

from polars_scores._checks import check_columns, column_name, column_names, finite
from polars_scores._internal import DenseKeyStates
from polars_scores.namespace import ScoresExpr, col
from polars_scores.rules import check_input_names, parse_rule


class RollingScorer:
    """Scores DataFrame batches that arrive in order, carrying each key's state across batches.

    Feeding the rows of a frame through :meth:`score` in consecutive batches of
    any sizes gives, bit for bit, the same scores as one in-memory
    ``pl.col(value).scores.rolling(by=by, ...)`` over all of them. Memory holds
    the batch and about one float per key seen so far.

    Each key's state is the score at its last non-null value. With one
    integer key column whose values stay within a few times the number of
    keys (ids), the states sit in an array indexed by key, read and written by
    position; with other keys (or ids too far apart), in a frame found by a
    join, which is several times slower with a million keys.

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
        maps the rule's names to columns of the batches. Keyed states then
        live in the join-based store.

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
        rule: str | None = None,
        inputs: Mapping[str, str] | None = None,
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
        # Without keys, one float; with keys, a store chosen at the first
        # batch, when the key dtypes are known.
        self._state = self._initial
        self._states: DenseStates | HashedStates | None = None

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
        check_columns(
            f"{self._METHOD}.score",
            batch.schema,
            self._value,
            [*self._keys, *self._inputs.values()],
            self._name,
        )
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
        if self._rule is not None:
            return col(self._value).scores.scan(
                self._rule, initial=initial, by=list(by), inputs=self._inputs
            )
        return col(self._value).scores.rolling(
            rise=self._rise, fall=self._fall, initial=initial, by=list(by)
        )

    def _score_by_key(self, batch: pl.DataFrame) -> pl.DataFrame:
        keys, name = self._keys, self._name
        if self._states is None:
            # The dense store scores in Rust with the built-in rule only.
            dense = (
                DenseStates.create(batch, keys, (self._rise, self._fall, self._initial))
                if self._rule is None
                else None
            )
            self._states = dense or HashedStates.create(batch, keys, name)
        if isinstance(self._states, DenseStates):
            scores = self._states.score(batch, self._value, name)
            if scores is not None:
                return batch.with_columns(scores)
            self._states = self._states.hashed(name)
        # Only each key's first row of `starts` is read; a key never seen (or
        # only ever null) starts from `initial`.
        starts = self._states.lookup(batch).fill_null(self._initial)
        scored = batch.with_columns(self._rolling(pl.lit(starts), keys).alias(name))
        self._states.store(last_scores(scored, keys, name))
        return scored


def input_columns(
    method: str, rule: str | None, inputs: Mapping[str, str] | None
) -> dict[str, str]:
    """The rule's inputs (name: column), checked with the rule, which is
    parsed now so that a bad one fails before any batch is read."""
    if rule is None:
        if inputs:
            raise ValueError(f"{method}: inputs need a rule")
        return {}
    named = dict(inputs or {})
    if not all(isinstance(column, str) for column in named.values()):
        raise TypeError(f"{method}: inputs must map names to column names, got {inputs!r}")
    parse_rule(rule, check_input_names(list(named)))
    return named


def last_scores(scored: pl.DataFrame, keys: list[str], name: str) -> pl.DataFrame:
    """The key columns and `name` at each key's last row where `name` is not null.

    A null value scores null and leaves its key's state alone, so these are
    the states the batch leaves. The rolling kernel finds the rows itself,
    grouping exactly as it grouped for the scores, and faster than a
    group-by: read backwards, a key's run of 1.0s scores 1.0 at its first row
    only, when it starts from -1 with rise 0 and fall 2 (then 2, 4, ...).
    """
    rows = scored.select(*keys, name)
    if rows.get_column(name).has_nulls():
        rows = rows.filter(pl.col(name).is_not_null())
    ones = cast(ScoresExpr, pl.repeat(1.0, pl.len(), dtype=pl.Float64))
    backwards = ones.scores.rolling(
        rise=0.0, fall=2.0, initial=-1.0, by=[pl.col(key).reverse() for key in keys]
    )
    return rows.filter((backwards == 1.0).reverse())


class HashedStates:
    """Each key's state as a row of a frame (key columns, state), found by a join."""

    def __init__(self, states: pl.DataFrame, keys: list[str], name: str) -> None:
        self._states = states
        self._keys = keys
        self._name = name

    @classmethod
    def create(cls, batch: pl.DataFrame, keys: list[str], name: str) -> HashedStates:
        """No state yet, for keys of `batch`'s dtypes."""
        return cls(pl.DataFrame(schema={**batch.select(keys).schema, name: pl.Float64}), keys, name)

    def lookup(self, batch: pl.DataFrame) -> pl.Series:
        """The state of each row's key; null for a key without one."""
        keys = batch.select(self._keys)
        found = keys.join(
            self._states, on=self._keys, how="left", nulls_equal=True, maintain_order="left"
        )
        return found.get_column(self._name)

    def store(self, latest: pl.DataFrame) -> None:
        """Replace the states of the keys of `latest` (key columns, state) by its."""
        kept = self._states.join(latest, on=self._keys, how="anti", nulls_equal=True)
        self._states = pl.concat([kept, latest.select(self._states.columns)])


class DenseStates:
    """The states of one integer key column (of at most 64 bits) in Rust, in
    an array indexed by key, so that a batch is scored in one call, with no
    hashing and no join: several times faster than HashedStates with many
    keys. The array may take a few slots per key seen and per batch row
    (`src/states.rs`); keys further apart than that go on in a HashedStates.
    """

    def __init__(self, key: str, dtype: pl.DataType, decay: tuple[float, float, float]) -> None:
        self._key = key
        self._dtype = dtype
        self._states = DenseKeyStates(*decay)

    @classmethod
    def create(
        cls, batch: pl.DataFrame, keys: list[str], decay: tuple[float, float, float]
    ) -> DenseStates | None:
        """An empty store if the keys are one integer column of at most 64 bits.

        `decay` is the score's (rise, fall, initial).
        """
        if len(keys) != 1:
            return None
        dtype = batch.schema[keys[0]]
        if not dtype.is_integer() or dtype in (pl.Int128(), pl.UInt128()):
            return None
        return cls(keys[0], dtype, decay)

    def score(self, batch: pl.DataFrame, value: str, name: str) -> pl.Series | None:
        """The batch's scores, named `name`, each key going on from its state;
        None (no state changed) if its keys are too far apart to index."""
        keys = batch.get_column(self._key)
        return self._states.score(keys, batch.get_column(value), name)

    def hashed(self, name: str) -> HashedStates:
        """The same states in a HashedStates, for keys too spread out to index."""
        keys, states, null_key_state = self._states.export()
        frame = pl.DataFrame({self._key: keys.cast(self._dtype), name: states})
        if null_key_state is not None:
            null_row = pl.DataFrame(
                {self._key: [None], name: [null_key_state]}, schema=frame.schema
            )
            frame = pl.concat([frame, null_row])
        return HashedStates(frame, [self._key], name)
