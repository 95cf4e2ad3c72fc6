"""The scores on Apache Spark, checked against single-machine Polars.

Builds a synthetic table of account transactions (nulls included), scores it
on Spark with ``polars_scores.spark`` and with Polars on this machine, prints
the two side by side and checks that they agree: the rolling scores bit for
bit, the totals and dot products to 1e-12 relative.

Run directly, it starts Spark in local mode on two cores::

    python examples/spark_scores.py [--rows 200000] [--keys 2000]

Under ``spark-submit`` it uses the cluster that spark-submit configured (see
docs/guide/spark.md); the comparison collects both results to the driver, so keep
``--rows`` to what the driver holds comfortably.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

import numpy as np
import polars as pl
from pyspark.sql import DataFrame, SparkSession

import polars_scores as ps
from polars_scores import spark as scores


def transactions(rows: int, keys: int, seed: int = 0) -> pl.DataFrame:
    """Accounts (1% null), a unique timestamp per row, amounts (5% null) and quantities."""
    rng = np.random.default_rng(seed)
    account = pl.Series("account", rng.integers(0, keys, rows)).set(
        pl.Series(rng.random(rows) < 0.01), None
    )
    amount = pl.Series(
        "amount", rng.lognormal(3, 1, rows) * rng.choice([1, -1], rows, p=[0.9, 0.1])
    )
    return pl.DataFrame(
        {
            "account": account,
            "ts": rng.permutation(rows),
            "amount": amount.set(pl.Series(rng.random(rows) < 0.05), None),
            "quantity": rng.integers(1, 50, rows),
        }
    )


def spark_session() -> SparkSession:
    """Spark from spark-submit when it started us, else local mode on two cores."""
    builder = SparkSession.builder.appName("polars-scores example")
    # spark-submit starts the JVM first and tells the Python driver its port.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # The workers must run this interpreter, the one with polars-scores.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
        )
        return builder.getOrCreate()
    return builder.getOrCreate()


def to_polars(df: DataFrame) -> pl.DataFrame:
    frame = pl.from_arrow(df.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def same_bits(a: pl.Series, b: pl.Series) -> bool:
    """Nulls in the same rows and every other value bit for bit (NaN, -0.0 included)."""
    if not a.is_null().equals(b.is_null()):
        return False
    bits = [s.fill_null(0.0).to_numpy().view(np.uint64) for s in (a, b)]
    return bool(np.array_equal(bits[0], bits[1]))


def largest_relative_difference(
    got: pl.DataFrame, want: pl.DataFrame, keys: Sequence[str], column: str, scale: pl.Expr
) -> float:
    """The largest |got - want| / scale over the keys; inf if the keys differ.

    `scale` is computed on `want`: the sum of the terms' magnitudes, since
    terms of either sign may cancel and no summation order is then exact.
    """
    joined = want.join(got, on=keys, how="full", nulls_equal=True, suffix="_spark")
    if joined[column].null_count() or joined[f"{column}_spark"].null_count():
        return math.inf
    want_, got_ = pl.col(column), pl.col(f"{column}_spark")
    gap = pl.when(got_ == want_).then(0.0).otherwise((got_ - want_).abs() / scale)
    # nan_max: a NaN gap (a NaN result on one side only) must not be skipped.
    return float(joined.select(gap.nan_max()).item())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=2_000)
    args = parser.parse_args(argv)

    frame = transactions(args.rows, args.keys)
    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    # On a cluster the data would come from storage, e.g. spark.read.parquet(...).
    df = spark.createDataFrame(frame.to_arrow())
    print(f"{args.rows:,} rows, {args.keys:,} accounts, Spark master {spark.sparkContext.master}")

    ok = True
    order = ["account", "ts"]
    on_spark = to_polars(scores.rolling(df, "amount", by="account", order_by="ts")).sort(order)
    on_polars = frame.sort(order).with_columns(
        ps.col("amount").scores.rolling(by="account").alias("amount_score")
    )
    agree = same_bits(on_spark["amount_score"], on_polars["amount_score"])
    ok &= agree and on_spark.drop("amount_score").equals(on_polars.drop("amount_score"))
    print(f"\nrolling score per account, in ts order: bit-identical to Polars: {agree}")
    print(
        on_spark.select(*order, "amount", spark=pl.col("amount_score"))
        .with_columns(polars=on_polars["amount_score"])
        .head(8)
    )

    by_account = frame.group_by("account")
    sums = {
        "total": (
            scores.total(df, "amount", by="account"),
            by_account.agg(ps.col("amount").scores.total()),
            "amount",
            "amount_total",
        ),
        "dot": (
            scores.dot(df, "quantity", "amount", by="account"),
            by_account.agg(
                ps.col("quantity").scores.dot("amount"),
                magnitude=(pl.col("quantity") * pl.col("amount")).abs().sum(),
            ),
            "quantity",
            "quantity_amount_dot",
        ),
    }
    for method, (spark_result, polars_result, column, spark_name) in sums.items():
        got = to_polars(spark_result).rename({spark_name: column})
        scale = pl.col("magnitude") if method == "dot" else pl.col(column).abs()
        gap = largest_relative_difference(got, polars_result, ["account"], column, scale)
        polars_result = polars_result.select("account", column)
        ok &= gap <= 1e-12 and got.height == polars_result.height
        print(f"\n{method} per account: largest relative difference from Polars {gap:.1e}")
        print(
            got.rename({column: "spark"})
            .join(polars_result.rename({column: "polars"}), on="account", nulls_equal=True)
            .sort("account")
            .head(5)
        )

    spark.stop()
    print("\nSpark and Polars agree" if ok else "\nSpark and Polars DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
