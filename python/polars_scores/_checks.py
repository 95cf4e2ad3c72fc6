"""The checks of single parameters and columns, and the errors they raise.

Each error names the function or command the user called (``method``), the
parameter or column, and the problem; it is a :class:`ScoresError`, so a
caller that prints its own messages (the command line) reads the problem
without the method. The dtypes the kernels read are asked of the Rust side,
which decides them, so the streaming and Spark checks cannot drift from the
kernels.

What else checks what: :mod:`polars_scores.spec` combines these checks into
the one check of a scoring request; :mod:`polars_scores.rules` checks rules;
:mod:`polars_scores.formats` file formats and codecs;
:mod:`polars_scores.durable` the output's path; :mod:`polars_scores.inputs`
the command line's inputs; :mod:`polars_scores.spark` Spark's column types.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import polars as pl

from polars_scores._internal import accepted_dtype_names

ACCEPTED_DTYPES: frozenset[pl.DataType] = frozenset(
    getattr(pl, name)() for name in accepted_dtype_names() if hasattr(pl, name)
)
"""The value dtypes the kernels read: every integer width, Float32 and Float64,
and Null (an all-null column, read as Float64)."""

INPUT_DTYPES: frozenset[pl.DataType] = frozenset(
    getattr(pl, name)() for name in accepted_dtype_names(rule_input=True) if hasattr(pl, name)
)
"""The dtypes of a rule's inputs: those of the values, and Boolean (read as
0.0 and 1.0)."""

NUMERIC = "a numeric column (an integer or Float32/Float64)"
"""What a value column must be, in the words of the errors."""


class ScoresError(Exception):
    """An error of this package's checks: ``method`` is the function or
    command the user called, ``problem`` what is wrong, in words that read
    after either (the message is ``"{method}: {problem}"``)."""

    method: str = ""
    problem: str = ""


class ParameterError(ScoresError, ValueError):
    """A parameter with a value the request cannot take."""


class ParameterTypeError(ScoresError, TypeError):
    """A parameter of the wrong type."""


class MissingColumnError(ScoresError, pl.exceptions.ColumnNotFoundError):
    """A column the request names is not in the data."""


class NotNumericError(ScoresError, pl.exceptions.InvalidOperationError):
    """A column the kernels read is not numeric."""


E = TypeVar("E", bound=ScoresError)


def refuse(kind: type[E], method: str, problem: str, *args: object) -> E:
    """The error `kind` of `method` for `problem` (`args` go first to the
    exception's constructor, such as an OSError's errno)."""
    error = kind(*args, f"{method}: {problem}")
    error.method = method
    error.problem = problem
    return error


def finite(method: str, name: str, value: object) -> float:
    """`value` as a float, if it is a finite real number (bools are not).

    Examples
    --------
    >>> finite("scores.rolling", "rise", 1)
    1.0
    >>> finite("scores.rolling", "rise", float("nan"))
    Traceback (most recent call last):
    ...
    polars_scores._checks.ParameterError: scores.rolling: rise must be finite, got nan
    """
    as_float = real(method, name, value, "a finite real number")
    if not math.isfinite(as_float):
        raise refuse(ParameterError, method, f"{name} must be finite, got {value!r}")
    return as_float


def real(method: str, name: str, value: object, kind: str = "a real number") -> float:
    """`value` as a float, if it is a real number, NaN and infinities
    included (bools are not): a start state may be unknown (NaN).

    Examples
    --------
    >>> real("scores.rolling", "initial", float("-inf"))
    -inf
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise refuse(
            ParameterTypeError,
            method,
            f"{name} must be {kind}, got {type(value).__name__} {value!r}",
        )
    return float(value)


def positive_int(method: str, name: str, value: object) -> int:
    """`value`, if it is an integer of at least 1 (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(ParameterTypeError, method, f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise refuse(ParameterError, method, f"{name} must be at least 1, got {value}")
    return value


def column_name(method: str, name: str, value: object) -> str:
    """`value`, if it is a column name (a non-empty string)."""
    if isinstance(value, str) and value:
        return value
    raise refuse(ParameterTypeError, method, f"{name} must be a column name, got {value!r}")


def column_names(method: str, name: str, names: object) -> list[str]:
    """`names` (one column name or several) as a list of distinct names."""
    listed = [names] if isinstance(names, str) else names
    if not isinstance(listed, Sequence) or not all(isinstance(n, str) for n in listed):
        raise refuse(
            ParameterTypeError,
            method,
            f"{name} must be a column name or a list of them, got {names!r}",
        )
    duplicates = sorted({n for n in listed if listed.count(n) > 1})
    if duplicates:
        raise refuse(
            ParameterError,
            method,
            f"{name} names a column more than once: {', '.join(map(repr, duplicates))}",
        )
    return list(listed)


def to_expr(method: str, name: str, value: object) -> pl.Expr:
    """An expression, or a column name, as an expression."""
    if isinstance(value, pl.Expr):
        return value
    if isinstance(value, str):
        return pl.col(value)
    raise refuse(
        ParameterTypeError,
        method,
        f"{name} must be an expression or a column name, got {type(value).__name__} {value!r}",
    )


def input_mapping(
    method: str, inputs: object, values: str, *, pairs: bool = False
) -> dict[str, Any]:
    """A rule's `inputs` as a dict: nothing (None), or a mapping from its names
    to `values` (with `pairs`, also anything ``dict`` takes, such as a list of
    pairs). The values are the caller's to check.

    Examples
    --------
    >>> input_mapping("scores.scan", {"t": "t"}, "column names")
    {'t': 't'}
    >>> input_mapping("scores.scan", [("t", "t")], "column names", pairs=True)
    {'t': 't'}
    """
    if inputs is None:
        return {}
    wrong = refuse(
        ParameterTypeError,
        method,
        f"inputs must be a mapping from names to {values}, got {type(inputs).__name__} {inputs!r}",
    )
    if not (pairs or isinstance(inputs, Mapping)):
        raise wrong
    try:
        return dict(cast(Mapping[str, Any], inputs or {}))
    except (TypeError, ValueError):
        raise wrong from None


def to_keys(method: str, by: object) -> list[pl.Expr]:
    """`by` (nothing, one key, or a sequence of keys) as a list of expressions."""
    if by is None:
        return []
    if isinstance(by, (pl.Expr, str)):
        return [to_expr(method, "by", by)]
    if isinstance(by, Sequence):
        return [to_expr(method, "by", key) for key in by]
    raise refuse(
        ParameterTypeError,
        method,
        f"by must be a column name, an expression or a list of them, "
        f"got {type(by).__name__} {by!r}",
    )


def series_keys(method: str, by: object) -> list[pl.Series]:
    """`by` for the Series API (nothing, a Series, or a sequence of Series)."""
    if by is None:
        return []
    if isinstance(by, pl.Series):
        return [by]
    if isinstance(by, Sequence) and not isinstance(by, str):
        keys = list(by)
        if all(isinstance(key, pl.Series) for key in keys):
            return keys
    raise refuse(
        ParameterTypeError,
        method,
        f"by must be a Series or a list of Series on a Series, got {type(by).__name__} {by!r}",
    )


def require_columns(method: str, available: Iterable[str], names: Iterable[str]) -> None:
    """Raise if a column of `names` is not among `available`, listing those."""
    columns = list(available)
    missing = list(dict.fromkeys(name for name in names if name not in columns))
    if missing:
        listed = ", ".join(repr(column) for column in columns) or "none"
        raise refuse(
            MissingColumnError,
            method,
            f"no column {', '.join(repr(m) for m in missing)}; the available columns are {listed}",
        )


def not_numeric(
    method: str, column: str, dtype: object, expected: str = NUMERIC
) -> NotNumericError:
    """The error for a value column the kernels cannot read."""
    return refuse(
        NotNumericError,
        method,
        f"column {column!r} has dtype {dtype}, but the score needs {expected}",
    )


def check_inputs(method: str, schema: Mapping[str, pl.DataType], columns: Iterable[str]) -> None:
    """Raise if a rule's input column in `schema` is neither numeric nor Boolean."""
    for column in columns:
        if schema[column] not in INPUT_DTYPES:
            raise refuse(
                NotNumericError,
                method,
                f"input column {column!r} has dtype {schema[column]}, but a rule reads numbers "
                "(an integer or Float32/Float64) or Booleans (as 0.0 and 1.0)",
            )


def new_column(method: str, name: str, existing: Iterable[str]) -> None:
    """Raise if the result column `name` would replace one of `existing`."""
    if name in existing:
        raise refuse(
            ParameterError,
            method,
            f"the result column {name!r} would replace an input column of that name; "
            "choose another name",
        )


def not_a_key(method: str, value: str, keys: Sequence[str]) -> None:
    """Raise if the column to sum is also a key: a sum per key, named after its
    column, would give two columns of one name."""
    if value in keys:
        raise refuse(
            ParameterError,
            method,
            f"the column {value!r} is both the value to sum and a key; "
            "sum another column, or group by other keys",
        )


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
    require_columns(method, schema, [value, *by])
    if schema[value] not in ACCEPTED_DTYPES:
        raise not_numeric(method, value, schema[value])
    if output is not None:
        new_column(method, output, schema)
