"""Scores over batches that arrive in order, each key's state carried across them.

Polars has no way to keep a plugin's state from one call to the next, so the
state lives here: the score at each key's last non-null value. With keys,
the states live in Rust (``KeyStates``, ``src/states/``), which scores a
batch in one call, for the built-in score and for a user's rule alike;
without keys, the one state goes back in through the plugin's ``initial``
input.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import ClassVar

import polars as pl

from polars_scores._checks import ParameterError, ParameterTypeError, ScoresError, refuse
from polars_scores._internal import KeyStates
from polars_scores._plugin import recurrence
from polars_scores.inputs import first_line
from polars_scores.spec import ScoreSpec, score_spec
from polars_scores.text_keys import TextKeys


class StartStatesError(ScoresError, pl.exceptions.InvalidOperationError):
    """Start states that cannot be loaded: a key listed twice, or one the
    scorer has met already."""


class StatefulScorer:
    """Scores DataFrame batches that arrive in order, carrying each key's state across batches.

    Feeding the rows of a frame through :meth:`score` in consecutive batches of
    any sizes gives, bit for bit, the same scores as one in-memory
    ``pl.col(value).scores.rolling(by=by, ...)`` (or ``scores.scan(rule,
    ...)``, with a `rule`) over all of them. Memory holds the batch and about
    one float per key seen so far.

    Each key's state is the score at its last non-null value, kept in Rust
    (``src/states/``), so that a batch is one call: with one integer key
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
        As in ``scores.rolling`` (0.9 and 0.5 when left out): ``initial`` is
        the state of every key before its first row.
    name
        The score column's name, by default ``"<value>_score"``. It must not be
        the name of a column of the batches.
    rule, inputs
        Your own recurrence instead of the rolling score, as in
        ``scores.scan`` (giving ``rise`` or ``fall`` too is an error);
        ``inputs`` maps the rule's names to columns of the batches.
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
    >>> from polars_scores.stateful import StatefulScorer
    >>> scorer = StatefulScorer("x", by="k")
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

    Its states, one row per key, start another scorer (tomorrow's run):

    >>> saved = scorer.states()
    >>> saved.sort("k").rows()
    [(1, 1.225), (2, 1.5)]
    >>> tomorrow = StatefulScorer("x", by="k", states=saved)
    >>> tomorrow.score(pl.DataFrame({"k": [2], "x": [1.0]}))["x_score"].to_list()
    [0.75]

    In a stream sorted by key, only the current key's state is kept:

    >>> sorted_by_u = StatefulScorer("x", by="u", key_sorted=True)
    >>> first = pl.DataFrame({"u": ["a", "a", "b"], "x": [1.0, 3.0, 2.0]})
    >>> sorted_by_u.score(first)["x_score"].to_list()
    [1.0, 3.9, 2.0]
    >>> sorted_by_u.score(pl.DataFrame({"u": ["b", "c"], "x": [4.0, 1.0]}))["x_score"].to_list()
    [5.8, 1.0]
    """

    _METHOD: ClassVar[str] = "StatefulScorer"

    def __init__(
        self,
        value: str,
        *,
        by: str | Sequence[str] = (),
        rise: float | None = None,
        fall: float | None = None,
        initial: float | Mapping[str, float] = 0.0,
        name: str | None = None,
        rule: str | Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        key_sorted: bool = False,
        states: pl.DataFrame | str | os.PathLike[str] | None = None,
    ) -> None:
        spec = score_spec(
            self._METHOD,
            value,
            by=by,
            rise=rise,
            fall=fall,
            initial=initial,
            name=name,
            rule=rule,
            inputs=inputs,
        )
        if not isinstance(key_sorted, bool):
            problem = f"key_sorted must be True or False, got {key_sorted!r}"
            raise refuse(ParameterTypeError, self._METHOD, problem)
        self._start(spec, 0, key_sorted, checks=True)
        if states is not None:
            frame = read_states(self._METHOD, states)
            checked = check_states(self._METHOD, frame, spec, exact=True)
            self._load(checked, first=True, method=self._METHOD)

    @classmethod
    def from_spec(
        cls,
        spec: ScoreSpec[str],
        index: int = 0,
        *,
        key_sorted: bool = False,
        states: pl.DataFrame | None = None,
        keep_keys: bool = True,
    ) -> StatefulScorer:
        """A scorer of the spec's value number `index`, for a caller that built
        `spec` and checks the batches' columns itself, once; `states` (checked
        by :func:`check_states`) may hold every value's state columns. Without
        `keep_keys` it keeps no key's values beside a hashed key's state,
        which saves time, and :meth:`states` is refused."""
        scorer = cls.__new__(cls)
        scorer._start(spec, index, key_sorted, checks=False, keep_keys=keep_keys)
        if states is not None:
            scorer._load(states, first=True)
        return scorer

    def _start(
        self,
        spec: ScoreSpec[str],
        index: int,
        key_sorted: bool,
        *,
        checks: bool,
        keep_keys: bool = True,
    ) -> None:
        self._spec = spec
        # What the errors of a batch name: this scorer's `score`, or the
        # entry that built the spec and checks the batches itself.
        self._method = f"{spec.method}.score" if checks else spec.method
        self._value = spec.values[index]
        self._name = spec.names[index]
        self._columns = spec.columns(index)
        self._keys = list(spec.keys)
        self._inputs = spec.input_columns
        # Whether `score` checks the columns, once per schema it meets.
        self._checks = checks
        self._checked: pl.Schema | None = None
        # Without keys, one float per state; with keys, every key's state, in Rust.
        self._state = list(spec.number_starts())
        # The key columns' dtypes, for the states of a scorer that met no key.
        self._key_schema: dict[str, pl.DataType] = dict.fromkeys(self._keys, pl.Null())
        # Categorical and Enum keys reach Rust as strings.
        self._text_keys = TextKeys()
        self._states = None
        if self._keys:
            program = spec.program
            states = None if program is None else program.states
            self._states = KeyStates(
                spec.rise,
                spec.fall,
                self._state if states else self._state[0],
                key_sorted,
                ops=None if program is None else program.ops,
                operands=None if program is None else program.operands,
                inputs=len(self._inputs),
                states=None if states is None else list(states),
                method=self._method,
                keep_keys=keep_keys,
            )

    @property
    def name(self) -> str:
        """The score column's name (for a mapping rule, what its state
        columns' names start with)."""
        return self._name

    @property
    def columns(self) -> tuple[str, ...]:
        """The score columns: the score, or ``<name>_<state>`` per state of a
        mapping rule."""
        return self._columns

    def states(self) -> pl.DataFrame:
        """Each key's state after the rows scored so far: the key columns,
        then one Float64 column per state, named as :attr:`columns`; one row
        per key met (its start state where all its rows were null), in no
        particular order. Without keys, one row. What ``states=`` takes to
        go on from here.

        Each key column has the dtype that holds its keys in every batch,
        Polars' supertype of the dtypes met in turn (Int32 in one batch and
        Int64 in another give Int64); text keys (String, Categorical, Enum)
        come back in the first of those dtypes the column had.

        Raises
        ------
        polars.exceptions.InvalidOperationError
            With ``key_sorted``, which keeps only the current key's state.
        """
        if self._states is None:
            numbers = {
                name: [number] for name, number in zip(self._columns, self._state, strict=True)
            }
            return pl.DataFrame(numbers, schema=dict.fromkeys(self._columns, pl.Float64))
        columns = self._states.export(list(self._columns))
        if columns is None:
            return pl.DataFrame(
                schema={**self._key_schema, **dict.fromkeys(self._columns, pl.Float64)}
            )
        return self._text_keys.restored(pl.DataFrame(columns))

    def load_states(self, states: pl.DataFrame) -> None:
        """Start the keys of `states` (as :meth:`states` gives them) from
        their rows' states, on a scorer that may have scored batches already:
        each key must be one it has not met yet.

        Raises
        ------
        StartStatesError
            A key was met before, or is listed twice (an
            ``InvalidOperationError``); the scorer's states are then
            incomplete, and it refuses to go on.
        """
        self._load(check_states(self._method, states, self._spec, exact=False), first=False)

    def _load(self, states: pl.DataFrame, *, first: bool, method: str | None = None) -> None:
        """Load the checked `states` (only this value's columns are read);
        errors name `method`, by default the one of the scorer's batches."""
        method = method or self._method
        if self._states is None:
            if not first:
                problem = "states without keys are loaded only when the scorer starts"
                raise refuse(ParameterError, method, problem)
            self._state = [
                states.get_column(name).cast(pl.Float64).item() for name in self._columns
            ]
            return
        self._key_schema = {key: states.schema[key] for key in self._keys}
        try:
            self._states.load(
                self._text_keys.as_strings([states.get_column(key) for key in self._keys]),
                [states.get_column(name) for name in self._columns],
            )
        except pl.exceptions.PolarsError as error:
            said = getattr(error, "problem", None) or str(error)
            raise refuse(StartStatesError, method, said) from None

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
        if self._checks and batch.schema != self._checked:
            self._spec.check_schema(batch.schema, self._method)
            self._checked = batch.schema
        if self._states is not None:
            keys = [batch.get_column(key) for key in self._keys]
            self._key_schema = {key.name: key.dtype for key in keys}
            inputs = [batch.get_column(column) for column in self._inputs]
            value = batch.get_column(self._value)
            scores = self._states.score(self._text_keys.as_strings(keys), value, self._name, inputs)
            return batch.with_columns(self._score_columns(scores))
        # The state may be NaN or infinite (the values may be), which the
        # numeric `initial` parameter rejects, so it goes in as a literal.
        starts = [pl.lit(number, dtype=pl.Float64) for number in self._state]
        expr = recurrence(
            self._spec,
            pl.col(self._value),
            starts=starts,
            keys=(),
            inputs=[pl.col(column) for column in self._inputs],
        )
        columns = self._score_columns(batch.select(expr.alias(self._name)).to_series())
        # A null row leaves the state: it goes on from the last non-null row.
        scored_rows = columns[0].is_not_null().arg_true()
        if len(scored_rows):
            self._state = [column[scored_rows[-1]] for column in columns]
        return batch.with_columns(columns)

    def _score_columns(self, scores: pl.Series) -> list[pl.Series]:
        """The scores as this scorer's columns: a struct of states split into
        ``<name>_<state>`` columns."""
        if scores.dtype == pl.Struct:
            fields = scores.struct.unnest()
            return [fields.to_series(i).alias(name) for i, name in enumerate(self._columns)]
        return [scores.alias(self._name)]


class RollingScorer(StatefulScorer):
    """:class:`StatefulScorer` under the name it had first; its errors name
    ``RollingScorer``."""

    _METHOD: ClassVar[str] = "RollingScorer"


def read_states(method: str, states: object) -> pl.DataFrame:
    """`states` as a DataFrame: itself, or the parquet file at that path."""
    if isinstance(states, pl.DataFrame):
        return states
    if not isinstance(states, (str, os.PathLike)):
        problem = f"states must be a DataFrame or a path, got {type(states).__name__}"
        raise refuse(ParameterTypeError, method, problem)
    try:
        return pl.read_parquet(os.fspath(states))
    except (OSError, pl.exceptions.PolarsError) as error:
        problem = f"cannot read the states {str(states)!r} as parquet: {first_line(error)}"
        raise refuse(ParameterError, method, problem) from None


def check_states(
    method: str, states: pl.DataFrame, spec: ScoreSpec[str], *, exact: bool
) -> pl.DataFrame:
    """`states` if it holds the key columns and the state columns of every
    value of `spec` (nothing else, if `exact`), numeric and without nulls;
    without keys, one row."""
    wanted = [
        *spec.keys,
        *(name for index in range(len(spec.values)) for name in spec.columns(index)),
    ]
    have = states.columns
    missing = [name for name in wanted if name not in have]
    if missing:
        problem = (
            f"the states have no column {missing[0]!r} (they have {', '.join(map(repr, have))}; "
            f"states hold the key columns and one column per state: {', '.join(map(repr, wanted))})"
        )
        raise refuse(ParameterError, method, problem)
    extra = [name for name in have if name not in wanted]
    if exact and extra:
        problem = (
            f"the states have a column {extra[0]!r} that is neither a key nor a state "
            f"(states hold {', '.join(map(repr, wanted))})"
        )
        raise refuse(ParameterError, method, problem)
    for name in wanted[len(spec.keys) :]:
        dtype = states.schema[name]
        if not dtype.is_numeric():
            problem = f"the states' column {name!r} has dtype {dtype}; a state is a number"
            raise refuse(ParameterError, method, problem)
        nulls = states.get_column(name).null_count()
        if nulls:
            problem = f"the states' column {name!r} has {nulls} nulls; a state is a number"
            raise refuse(ParameterError, method, problem)
    if not spec.keys and states.height != 1:
        problem = f"without keys the states are one row, these have {states.height}"
        raise refuse(ParameterError, method, problem)
    return states
