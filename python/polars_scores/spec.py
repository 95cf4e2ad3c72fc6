"""The request, built and checked once at the entry the user called.

Every entry that scores (``scores.rolling`` and ``scores.scan`` on
expressions and Series, :class:`~polars_scores.stateful.StatefulScorer`,
:func:`~polars_scores.source.scan_scores`, the writers, the command line and
Spark) turns its parameters into a :class:`ScoreSpec` with
:func:`score_spec`, which checks each of them and parses the rule, once per
call; what lies below reads the spec and checks none of it again. The spec
names the entry (``method``), so every error below it names that entry too.
The columns need the data's schema, so they are checked apart, by
:meth:`ScoreSpec.check_schema`, once per schema. :func:`total_spec` does the
same for the totals of the writers and the command line.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Generic, Literal, TypeVar, cast

import polars as pl

from polars_scores._checks import (
    ParameterError,
    ParameterTypeError,
    check_columns,
    check_inputs,
    column_name,
    column_names,
    finite,
    input_mapping,
    new_column,
    not_a_key,
    real,
    refuse,
    to_expr,
    to_keys,
)
from polars_scores._internal import KeyTotals
from polars_scores.rules import Program, check_input_names, parse_rule

C = TypeVar("C", str, pl.Expr)
"""How a spec holds its columns: by name (streams, batches, files, Spark) or as
expressions (the ``scores`` namespace)."""

DEFAULT_RISE = 0.9
DEFAULT_FALL = 0.5

Spelling = Literal["keyword", "option"]
"""How the caller spells its parameters in messages: ``batch_rows`` (Python) or
``--batch-rows`` (the command line)."""

_OPTIONS = {"inputs": "--input"}
"""Command-line options not spelled after their parameter."""


def spelled(spelling: Spelling, parameter: str) -> str:
    """`parameter` as the caller spells it.

    Examples
    --------
    >>> spelled("option", "batch_rows"), spelled("keyword", "batch_rows")
    ('--batch-rows', 'batch_rows')
    """
    if spelling == "keyword":
        return parameter
    return _OPTIONS.get(parameter, "--" + parameter.replace("_", "-"))


@dataclass(frozen=True)
class ScoreSpec(Generic[C]):
    """A checked request for scores: which recurrence runs over which columns.

    Build it with :func:`score_spec`, which checks every field.
    """

    method: str
    """The function or command the user called, as every error names it."""
    values: tuple[C, ...]
    """The value column(s) to score."""
    names: tuple[str, ...]
    """The score column of each value (named columns only); for a mapping
    rule, the name its state columns start with (see :meth:`columns`)."""
    keys: tuple[C, ...]
    """The key columns: one state per distinct key."""
    rise: float
    fall: float
    initial: float
    """The state before the first row, unless `initial_column` gives it; NaN
    and infinities are states like any other (an unknown start is NaN)."""
    program: Program | None
    """The parsed rule; None for the built-in rolling score (`rise`, `fall`)."""
    inputs: tuple[tuple[str, C], ...]
    """The rule's inputs: its name for each, and the column read under it."""
    initial_column: pl.Expr | None = None
    """The expression read at each series' first row for the start state."""
    spelling: Spelling = "keyword"
    starts: tuple[float | pl.Expr, ...] = ()
    """A mapping rule's start of each state, in the rule's order, where
    `initial` was a mapping (else `initial` or `initial_column` for all)."""

    def state_starts(self) -> tuple[float | pl.Expr, ...]:
        """Where each number of the state starts: a number, or an expression
        read at each series' first row."""
        if self.starts:
            return self.starts
        one = self.initial if self.initial_column is None else self.initial_column
        return (one,) * (1 if self.program is None else self.program.width)

    @property
    def input_names(self) -> list[str]:
        return [name for name, _ in self.inputs]

    @property
    def input_columns(self) -> list[C]:
        return [column for _, column in self.inputs]

    def number_starts(self: ScoreSpec[str]) -> tuple[float, ...]:
        """Each state's start, a number: a spec of named columns (a stream's,
        a file's) takes no start expression."""
        return cast(tuple[float, ...], self.state_starts())

    def columns(self, index: int) -> tuple[str, ...]:
        """The score columns of value number `index`: its score, or one
        column per state of a mapping rule, ``<name>_<state>``."""
        name = self.names[index]
        states = None if self.program is None else self.program.states
        if states is None:
            return (name,)
        return tuple(f"{name}_{state}" for state in states)

    def parameter(self, name: str) -> str:
        """The parameter `name` as the caller spells it (``--batch-rows``)."""
        return spelled(self.spelling, name)

    def check_schema(
        self: ScoreSpec[str], schema: Mapping[str, pl.DataType], method: str | None = None
    ) -> None:
        """Check that `schema` has every column the spec reads, each value
        numeric, each input numeric or Boolean, and no column of a score's
        name (errors name `method`, the spec's own by default)."""
        reads = [*self.keys, *self.input_columns]
        for index, value in enumerate(self.values):
            for name in self.columns(index):
                check_columns(method or self.method, schema, value, reads, name)
        check_inputs(method or self.method, schema, self.input_columns)

    def plain(self: ScoreSpec[str]) -> dict[str, Any]:
        """The spec as plain values (no class of this package), for a process
        that must not import Polars before it sets its environment (Spark)."""
        return asdict(self)

    @staticmethod
    def from_plain(plain: Mapping[str, Any]) -> ScoreSpec[str]:
        """The spec that :meth:`plain` gave, checked already, not parsed again."""
        return ScoreSpec(
            **{
                **plain,
                "program": Program.from_plain(plain["program"]),
                "starts": tuple(plain["starts"]),
                "inputs": tuple(tuple(pair) for pair in plain["inputs"]),
            }
        )


def score_spec(
    method: str,
    value: object,
    *,
    by: object = (),
    rise: object = None,
    fall: object = None,
    initial: object = 0.0,
    name: object = None,
    rule: object = None,
    inputs: object = None,
    needs_rule: bool = False,
    none_is_default: bool = True,
    several: bool = False,
    expressions: bool = False,
    spelling: Spelling = "keyword",
) -> ScoreSpec[Any]:
    """The checked spec of a request to `method`, the entry the user called.

    Parameters
    ----------
    method
        The function or command the user called; every error names it.
    value
        The value column's name, several names (with `several`), or the
        expression to score (with `expressions`).
    by, rise, fall, initial, name, rule, inputs
        The entry's parameters. `rise` and `fall` are None where the caller
        left them out, so that giving them with a `rule`, which replaces
        them, is refused; `initial` may be a column only with `expressions`.
    needs_rule
        The entry runs a rule (``scores.scan``): `rule` may not be None.
    none_is_default
        `rise` or `fall` None is left out, for its default; otherwise the
        entry has a number as its default, and None is refused.
    several
        `value` may name several columns (streams and files).
    expressions
        Keys, inputs and a start column are expressions or column names
        (the ``scores`` namespace); otherwise they are column names.
    spelling
        How the messages spell parameters (``--rise`` for the command line).

    Examples
    --------
    >>> spec = score_spec("scan_scores", ["x", "y"], by="k", rule="prev + value", several=True)
    >>> spec.names, spec.keys, spec.program is not None
    (('x_score', 'y_score'), ('k',), True)
    >>> score_spec("scan_scores", "x", rise=0.8, rule="prev + value")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    polars_scores._checks.ParameterError: scan_scores: rise has no effect with rule: ...
    """
    spell = functools.partial(spelled, spelling)
    values: tuple[Any, ...]
    if expressions:
        values = (value,)
    elif several:
        values = _value_columns(method, value, spelling)
    else:
        values = (column_name(method, spell("value"), value),)
    names: tuple[str, ...] = ()
    several_states = isinstance(rule, Mapping)
    if not expressions:
        if name is not None and len(values) > 1:
            raise refuse(
                ParameterError,
                method,
                f"{spell('name')} is for one {spell('value')}; with {len(values)} values, "
                "each score is named <value>_score",
            )
        # A mapping rule's columns are <value>_<state> (or <name>_<state>).
        suffix = "" if several_states else "_score"
        first = f"{values[0]}{suffix}" if name is None else column_name(method, spell("name"), name)
        names = (first, *(f"{column}{suffix}" for column in values[1:]))
    keys = to_keys(method, by) if expressions else column_names(method, spell("by"), by)
    given = [parameter for parameter, got in (("rise", rise), ("fall", fall)) if got is not None]
    if given and (rule is not None or needs_rule):
        raise refuse(
            ParameterError,
            method,
            f"{spell(given[0])} has no effect with {spell('rule')}: the rule replaces the "
            f"rolling score and its rise and fall; leave {spell(given[0])} out",
        )
    if none_is_default:
        rise = DEFAULT_RISE if rise is None else rise
        fall = DEFAULT_FALL if fall is None else fall
    program = None
    pairs: tuple[tuple[str, Any], ...] = ()
    if rule is not None or needs_rule:
        pairs = _rule_inputs(method, inputs, expressions, spelling)
        program = parse_rule(rule, [input_name for input_name, _ in pairs], method=method)
    elif inputs:
        need = "inputs need a rule" if spelling == "keyword" else "--input needs --rule"
        raise refuse(ParameterError, method, need)
    initial_column = None
    starts: tuple[float | pl.Expr, ...] = ()
    start = 0.0
    if isinstance(initial, Mapping):
        starts = _state_starts(method, initial, program, expressions, spelling)
    elif expressions and isinstance(initial, (pl.Expr, str)):
        initial_column = to_expr(method, "initial", initial)
    else:
        start = real(method, spell("initial"), initial)
    return ScoreSpec(
        method=method,
        values=values,
        names=names,
        keys=tuple(keys),
        rise=finite(method, spell("rise"), rise),
        fall=finite(method, spell("fall"), fall),
        initial=start,
        program=program,
        inputs=pairs,
        initial_column=initial_column,
        spelling=spelling,
        starts=starts,
    )


def _state_starts(
    method: str,
    initial: Mapping[object, object],
    program: Program | None,
    expressions: bool,
    spelling: Spelling,
) -> tuple[float | pl.Expr, ...]:
    """Each state's start, from `initial` mapping state names to numbers (or,
    with `expressions`, to expressions or column names); a state it leaves
    out starts at 0.0."""
    parameter = spelled(spelling, "initial")
    states = None if program is None else program.states
    if states is None:
        raise refuse(
            ParameterError,
            method,
            f"{parameter} maps state names to starts, which needs a {spelled(spelling, 'rule')} "
            "that maps state names to expressions",
        )
    unknown = [name for name in initial if name not in states]
    if unknown:
        raise refuse(
            ParameterError,
            method,
            f"{parameter} names {unknown[0]!r}, which is not a state of the rule "
            f"(states: {', '.join(states)})",
        )
    starts: list[float | pl.Expr] = []
    for name in states:
        start = initial.get(name, 0.0)
        if expressions and isinstance(start, (pl.Expr, str)):
            starts.append(to_expr(method, f"{parameter} of state {name!r}", start))
        else:
            starts.append(real(method, f"{parameter} of state {name!r}", start))
    return tuple(starts)


def _value_columns(method: str, value: object, spelling: Spelling) -> tuple[str, ...]:
    """One value column's name or several, at least one."""
    values = tuple(column_names(method, spelled(spelling, "value"), value))
    if not values:
        problem = f"{spelled(spelling, 'value')} must name at least one column"
        raise refuse(ParameterError, method, problem)
    return values


def _rule_inputs(
    method: str, inputs: object, expressions: bool, spelling: Spelling
) -> tuple[tuple[str, Any], ...]:
    """A rule's inputs: each name, a Python identifier the rule can use, with
    its column (an expression, or a column name)."""
    if expressions:
        named = input_mapping(method, inputs, "expressions or column names")
        check_input_names(method, list(named))
        return tuple(
            (name, to_expr(method, f"input {name!r}", column)) for name, column in named.items()
        )
    named = input_mapping(method, inputs, "column names", pairs=True)
    if not all(isinstance(column, str) for column in named.values()):
        raise refuse(
            ParameterTypeError,
            method,
            f"{spelled(spelling, 'inputs')} must map names to column names, got {inputs!r}",
        )
    check_input_names(method, list(named))
    return tuple(named.items())


@dataclass(frozen=True)
class TotalSpec:
    """A checked request for totals: the sum of ``v ** exponent`` over the
    ``v > 0`` of each value column, per key; or, with a rule, each key's
    states after its last row (the rule's fold). Build it with
    :func:`total_spec`."""

    method: str
    values: tuple[str, ...]
    keys: tuple[str, ...]
    exponent: float
    spelling: Spelling = "keyword"
    program: Program | None = None
    """The rule whose fold replaces the total; None for the total."""
    inputs: tuple[tuple[str, str], ...] = ()
    """The rule's inputs: its name for each, and the column read under it."""
    starts: tuple[float, ...] = (0.0,)
    """Each state's start, for a rule."""

    @property
    def names(self) -> list[str]:
        """The result columns: per value, ``<value>_total`` (a one-expression
        rule's state too), or ``<value>_<state>`` per state of a mapping rule."""
        states = None if self.program is None else self.program.states
        if states is None:
            return [f"{value}_total" for value in self.values]
        return [f"{value}_{state}" for value in self.values for state in states]

    @property
    def input_columns(self) -> list[str]:
        return [column for _, column in self.inputs]

    def plain(self) -> dict[str, Any]:
        """The spec as plain values, as :meth:`ScoreSpec.plain`."""
        return asdict(self)

    def key_totals(self) -> KeyTotals:
        """An empty per-key store of what the spec asks: each key's totals,
        or its states by the rule."""
        program = self.program
        return KeyTotals(
            self.exponent,
            len(self.keys),
            len(self.values),
            ops=None if program is None else program.ops,
            operands=None if program is None else program.operands,
            inputs=len(self.inputs),
            initial=list(self.starts),
            method=self.method,
        )

    @staticmethod
    def from_plain(plain: Mapping[str, Any]) -> TotalSpec:
        """The spec that :meth:`plain` gave, checked already, not parsed again."""
        return TotalSpec(
            **{
                **plain,
                "program": Program.from_plain(plain["program"]),
                "inputs": tuple(tuple(pair) for pair in plain["inputs"]),
                "starts": tuple(plain["starts"]),
            }
        )

    def check_schema(self, schema: Mapping[str, pl.DataType]) -> None:
        """Check that `schema` has each numeric value column, the keys and the
        inputs, and that no key is a value or takes a result's name."""
        for value in self.values:
            check_columns(self.method, schema, value, [*self.keys, *self.input_columns])
            not_a_key(self.method, value, self.keys)
        check_inputs(self.method, schema, self.input_columns)
        for name in self.names:
            new_column(self.method, name, self.keys)


def total_spec(
    method: str,
    value: object,
    *,
    by: object = (),
    exponent: object = None,
    rule: object = None,
    inputs: object = None,
    initial: object = 0.0,
    spelling: Spelling = "keyword",
) -> TotalSpec:
    """The checked spec of a request for totals to `method`, the entry the user
    called; the parameters are those of :func:`score_spec`, and `exponent`
    (None: left out, for its default of 1.5; refused with a rule, which
    replaces the total).

    Examples
    --------
    >>> total_spec("total_to_file", ["x", "y"], by="k").names
    ['x_total', 'y_total']
    >>> total_spec("total_to_file", "x", rule={"n": "n + 1", "hi": "max(hi, value)"}).names
    ['x_n', 'x_hi']
    """
    if rule is not None and exponent is not None:
        raise refuse(
            ParameterError,
            method,
            f"{spelled(spelling, 'exponent')} has no effect with {spelled(spelling, 'rule')}: "
            "the rule's fold replaces the total",
        )
    scored = (
        score_spec(
            method,
            value,
            rule=rule,
            inputs=inputs,
            initial=initial,
            several=True,
            spelling=spelling,
        )
        if rule is not None
        else None
    )
    if rule is None and (inputs or initial != 0.0):
        given = spelled(spelling, "inputs" if inputs else "initial")
        raise refuse(ParameterError, method, f"{given} needs {spelled(spelling, 'rule')}")
    return TotalSpec(
        method=method,
        values=_value_columns(method, value, spelling),
        keys=tuple(column_names(method, spelled(spelling, "by"), by)),
        exponent=finite(
            method, spelled(spelling, "exponent"), 1.5 if exponent is None else exponent
        ),
        spelling=spelling,
        program=None if scored is None else scored.program,
        inputs=() if scored is None else scored.inputs,
        starts=(0.0,) if scored is None else scored.number_starts(),
    )
