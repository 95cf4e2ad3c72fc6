"""Throughput of ``polars_scores.spark`` in local mode, next to single-machine Polars.

The point of the Spark path is scaling out, not beating Polars on one box:
this measures what the distribution costs per row on the same data, and
decides between the two plans for the sums:

- *native*: Spark's own partial aggregation of the terms (what
  ``polars_scores.spark.total`` and ``dot`` run);
- *plugin*: the plugin sums each partition inside ``mapInArrow`` and Spark
  adds the partial sums per key.

Each Spark timing runs the whole plan into Spark's ``noop`` sink, on a cached
input, best of ``--repeat`` runs; every plan first runs once with its result
checked against Polars, which also warms it up. Polars runs on this machine
with all its cores. Usage (about three minutes on two idle cores)::

    python benchmarks/spark_bench.py [--rows 1000000] [--keys 10000] [--cores 2]

``--scaling 1e6,1e7`` instead times only ``rolling`` with ``--keys`` string
keys (``user-<n>``) over ``--partitions`` partitions at each row count, and
prints the time per row, which must not grow with the rows (each partition's
scorer keeps only the current key's state, the partitions being sorted by
key)::

    python benchmarks/spark_bench.py --scaling 1e6,1e7 --keys 1000000 --partitions 8
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]  # no type hints
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812  (Spark's own convention)
from pyspark.sql import types as T  # noqa: N812

import polars_scores as ps
from polars_scores import spark as scores


def data(rows: int, keys: int, seed: int = 0) -> pl.DataFrame:
    """Keys (1% null), a unique order column, two float columns (5% null)."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "key": pl.Series(rng.integers(0, keys, rows)).set(
                pl.Series(rng.random(rows) < 0.01), None
            ),
            "ts": rng.permutation(rows),
            "x": pl.Series(rng.normal(1, 2, rows)).set(pl.Series(rng.random(rows) < 0.05), None),
            "y": rng.normal(0, 1, rows),
        }
    )


def string_key_data(rows: int, keys: int, seed: int = 0) -> pl.DataFrame:
    """String keys ``user-<n>`` (1% null), a unique order column, a float column (5% null)."""
    rng = np.random.default_rng(seed)
    key = pl.Series(rng.integers(0, keys, rows)).set(pl.Series(rng.random(rows) < 0.01), None)
    return pl.DataFrame(
        {
            "key": pl.select(pl.format("user-{}", pl.lit(key))).to_series(),
            "ts": rng.permutation(rows),
            "x": pl.Series(rng.normal(1, 2, rows)).set(pl.Series(rng.random(rows) < 0.05), None),
        }
    )


def rolling_scaling(spark: SparkSession, row_counts: Sequence[int], keys: int, repeat: int) -> None:
    """Spark ``rolling`` by string key at each row count: seconds and ns per row.

    The smallest run's result is checked bit for bit against Polars.
    """
    print(
        f"rolling, {keys:,} string keys, {spark.conf.get('spark.sql.shuffle.partitions')} "
        f"partitions; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'rows':>12} {'seconds':>9} {'ns/row':>8}")
    for rows in sorted(row_counts):
        frame = string_key_data(rows, keys)
        df = spark.createDataFrame(frame.to_arrow()).cache()
        df.count()
        plan = scores.rolling(df, "x", by="key", order_by="ts")
        if rows == min(row_counts):
            got = pl.from_arrow(plan.toArrow())
            assert isinstance(got, pl.DataFrame)
            want = frame.sort("key", "ts").with_columns(
                ps.col("x").scores.rolling(by="key").alias("x_score")
            )
            assert same_bits(got.sort("key", "ts")["x_score"], want["x_score"]), "rolling differs"
        seconds = best_of(repeat, drain(plan))
        print(f"{rows:>12,} {seconds:>9.2f} {seconds / rows * 1e9:>8.0f}", flush=True)
        df.unpersist()
    print(f"load average now {os.getloadavg()[0]:.1f}")


def best_of(repeat: int, run: Callable[[], object], *, warm_up: bool = True) -> float:
    """The fastest of `repeat` timed runs, after one untimed warm-up run unless
    the caller has just run the same plan (to check its result)."""
    if warm_up:
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def drain(df: DataFrame) -> Callable[[], None]:
    """Run `df`'s whole plan without collecting its rows."""
    return lambda: df.write.format("noop").mode("overwrite").save()


def sum_expr(method: str, columns: Sequence[str]) -> pl.Expr:
    """``scores.total`` of one column or ``scores.dot`` of two, as a Polars expression."""
    if method == "total":
        return ps.col(columns[0]).scores.total()
    return ps.col(columns[0]).scores.dot(columns[1])


def plugin_sums(df: DataFrame, by: Sequence[str], method: str, columns: Sequence[str]) -> DataFrame:
    """The *plugin* plan: per-partition sums (`method` of `columns`) by the
    plugin inside ``mapInArrow``, added per key by Spark (0.0 for an empty input)."""
    by, columns = list(by), list(columns)
    name = columns[0]
    schema = T.StructType([*(df.schema[k] for k in by), T.StructField(name, T.DoubleType(), False)])

    def partial_sums(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Polars must not be imported before its thread count is set.
        import os

        from pyspark import TaskContext

        task = TaskContext.get()
        os.environ.setdefault("POLARS_MAX_THREADS", str(task.cpus() if task else 1))
        import polars as pl

        import polars_scores as ps

        first = ps.col(columns[0]).scores
        expr = first.total() if method == "total" else first.dot(columns[1])

        parts: list[pl.DataFrame] = []
        key_schema: list[pa.Field] = []

        def combine(frames: list[pl.DataFrame]) -> pl.DataFrame:
            both = pl.concat(frames)
            return both.group_by(by).agg(pl.col(name).sum()) if by else both.sum()

        for batch in batches:
            key_schema = [batch.schema.field(k) for k in by]
            frame = pl.from_arrow(batch.select([*by, *columns]))
            assert isinstance(frame, pl.DataFrame)
            parts.append(frame.group_by(by).agg(expr) if by else frame.select(expr))
            if len(parts) >= 64:  # bounded memory whatever the batch count
                parts = [combine(parts)]
        if parts:
            arrow_schema = pa.schema([*key_schema, pa.field(name, pa.float64(), False)])
            # Polars writes large strings; Spark wants its declared types back.
            yield from combine(parts).to_arrow().cast(arrow_schema).to_batches()

    summed = F.coalesce(F.sum(F.col(name)), F.lit(0.0)).alias(name)
    return df.mapInArrow(partial_sums, schema).groupBy(*by).agg(summed)


def same_bits(a: pl.Series, b: pl.Series) -> bool:
    """Nulls in the same rows and every other value bit for bit."""
    if not a.is_null().equals(b.is_null()):
        return False
    bits = [s.fill_null(0.0).to_numpy().view(np.uint64) for s in (a, b)]
    return bool(np.array_equal(bits[0], bits[1]))


def largest_gap(got: DataFrame, want: pl.DataFrame, by: list[str], column: str) -> float:
    """Largest |got - want| / magnitude over the keys (inf when the keys differ).

    `want` holds each key's sum of the terms' magnitudes, the scale of the
    rounding error of any summation order (terms of either sign cancel).
    """
    frame = pl.from_arrow(got.toArrow())
    assert isinstance(frame, pl.DataFrame)
    joined = want.join(frame, on=by, how="full", nulls_equal=True, suffix="_spark")
    if joined[column].null_count() or joined[f"{column}_spark"].null_count():
        return math.inf
    want_, got_ = pl.col(column), pl.col(f"{column}_spark")
    gap = pl.when(got_ == want_).then(0.0).otherwise((got_ - want_).abs() / pl.col("magnitude"))
    # nan_max: a NaN gap (a NaN result on one side only) must not be skipped.
    return float(joined.select(gap.nan_max()).item())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None, help="default: twice --cores")
    parser.add_argument(
        "--scaling",
        type=lambda s: [int(float(n)) for n in s.split(",")],
        default=None,
        help="row counts (e.g. 1e6,1e7): time only rolling by string key at each",
    )
    args = parser.parse_args(argv)
    rows = args.rows

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(args.partitions or 2 * args.cores))
        .config("spark.driver.memory", "4g")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    if args.scaling:
        rolling_scaling(spark, args.scaling, args.keys, args.repeat)
        spark.stop()
        return 0
    frame = data(rows, args.keys)
    df = spark.createDataFrame(frame.to_arrow()).cache()
    df.count()
    print(f"{rows:,} rows, {args.keys:,} keys; Spark local[{args.cores}], Polars {pl.__version__}")
    print(f"Polars on this machine uses {pl.thread_pool_size()} threads\n")

    results: list[tuple[str, str, float]] = []

    # The rolling score: Spark must equal Polars bit for bit.
    by, order = ["key"], ["ts"]

    def polars_rolling() -> pl.DataFrame:
        return frame.sort(by + order).with_columns(
            ps.col("x").scores.rolling(by=by).alias("x_score")
        )

    spark_rolling = scores.rolling(df, "x", by=by, order_by=order)
    got = pl.from_arrow(spark_rolling.toArrow())
    assert isinstance(got, pl.DataFrame)
    got, want = got.sort(by + order), polars_rolling()
    assert got.drop("x_score").equals(want.drop("x_score")), "rolling: rows differ"
    assert same_bits(got["x_score"], want["x_score"]), "rolling: scores differ"
    results.append(("rolling", "Polars", best_of(args.repeat, polars_rolling)))
    results.append(("rolling", "Spark", best_of(args.repeat, drain(spark_rolling), warm_up=False)))

    natives = {"total": scores.total(df, "x", by=by), "dot": scores.dot(df, "x", "y", by=by)}
    for method, columns in [("total", ["x"]), ("dot", ["x", "y"])]:
        expr = sum_expr(method, columns)
        terms = pl.col("x").clip(0) ** 1.5 if method == "total" else pl.col("x") * pl.col("y")
        exact = frame.group_by(by).agg(expr, magnitude=terms.abs().sum())
        plans = [
            ("Spark native", natives[method]),
            ("Spark plugin", plugin_sums(df, by, method, columns)),
        ]
        for plan, result in plans:
            gap = largest_gap(result, exact, by, columns[0])
            print(f"{method} ({plan}): largest relative difference from Polars {gap:.1e}")
            assert gap <= 1e-12, f"{method} ({plan}) disagrees with Polars"
            results.append((method, plan, best_of(args.repeat, drain(result), warm_up=False)))
        polars_run = frame.lazy().group_by(by).agg(expr)
        results.append((method, "Polars", best_of(args.repeat, polars_run.collect)))

    print(f"\n{'method':<8} {'engine':<13} {'seconds':>8} {'rows/s':>12}")
    for method, engine, seconds in results:
        print(f"{method:<8} {engine:<13} {seconds:>8.3f} {rows / seconds:>12,.0f}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
