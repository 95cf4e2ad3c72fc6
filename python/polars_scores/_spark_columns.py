"""Column checks and names shared by :mod:`polars_scores.spark` and its start states."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
from pyspark.sql import types as T  # noqa: N812

from polars_scores._checks import (
    ACCEPTED_DTYPES,
    INPUT_DTYPES,
    ParameterError,
    column_names,
    not_numeric,
    refuse,
    require_columns,
)

ARRIVES_AS: dict[type[T.DataType], pl.DataType] = {
    T.ByteType: pl.Int8(),
    T.ShortType: pl.Int16(),
    T.IntegerType: pl.Int32(),
    T.LongType: pl.Int64(),
    T.FloatType: pl.Float32(),
    T.DoubleType: pl.Float64(),
    T.NullType: pl.Null(),
    T.BooleanType: pl.Boolean(),
}
"""The Polars dtype that each Spark type of a fixed-width number arrives as, through Arrow."""

NUMERIC_TYPES = tuple(spark for spark, dtype in ARRIVES_AS.items() if dtype in ACCEPTED_DTYPES)
"""The Spark types the kernels read, as the kernels decide for their Polars dtypes."""

INPUT_TYPES = tuple(spark for spark, dtype in ARRIVES_AS.items() if dtype in INPUT_DTYPES)
"""The Spark types a rule's inputs may have (numbers, and Booleans read as 0.0 and 1.0)."""


def order_columns(method: str, order_by: str | Sequence[str] | None) -> list[str]:
    """The columns that order each key's rows: at least one."""
    order = column_names(method, "order_by", order_by) if order_by is not None else []
    if not order:
        raise refuse(
            ParameterError,
            method,
            "order_by must name at least one column: Spark keeps no row order "
            "after the shuffle that groups the keys",
        )
    return order


def check_columns(
    method: str,
    df: DataFrame,
    names: Sequence[str],
    numeric: Sequence[str],
    inputs: Sequence[str] = (),
) -> None:
    """Check that `df` has every column of `names`, that those of `numeric`
    are numeric and those of `inputs` (a rule's) numeric or Boolean.

    Names match exactly (Polars' rule), whatever ``spark.sql.caseSensitive`` says.
    """
    fields = {field.name: field.dataType for field in df.schema.fields}
    require_columns(method, fields, names)
    numbers = [spark for spark in NUMERIC_TYPES if spark is not T.NullType]
    readable = ", ".join(spark().simpleString() for spark in numbers)
    for name in numeric:
        if not isinstance(fields[name], NUMERIC_TYPES):
            raise not_numeric(
                method, name, fields[name].simpleString(), f"a numeric column ({readable})"
            )
    for name in inputs:
        if not isinstance(fields[name], INPUT_TYPES):
            raise not_numeric(
                method,
                name,
                fields[name].simpleString(),
                f"a numeric column ({readable}) or a boolean (read as 0.0 and 1.0) "
                "as a rule's input",
            )


def column(name: str) -> Column:
    """The column called `name`, even if the name holds dots or backticks."""
    return F.col("`" + name.replace("`", "``") + "`")


def columns(names: Sequence[str]) -> list[Column]:
    return [column(name) for name in names]
