"""Rules with several states and `scores.fold` against numba and Polars' `sum`.

Usage::

    python benchmarks/states_bench.py [--rows 1e7] [--repeat 7]

On one frame (``make_frame``: random values, 100k Int64 keys in random
order), every case times its peers round-robin, end to end as a user calls
them, and prints the median ns/row and each peer's ratio to the first peer.
Results are checked bit for bit against the first peer before anything is
timed. The issue's goals: Holt's trend (2 states) <= 1.0x numba in
``map_batches`` producing both columns as a struct; a two-sided CUSUM by
100k keys <= 1.0x numba over dense key ids; ``group_by(k).agg(fold)`` with
100k groups <= 1.5x ``agg(sum)`` (or a one-pass form that is), beside the
floor of any plugin aggregation's per-group call (``dot(1.0)``, which only
sums); a 4-state rule <= 2x a 1-state rule of the same size per row.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import numpy as np
import polars as pl
from cases import njit, warm_up_numba
from frames import KEYS, make_frame
from numpy.typing import NDArray
from rules_bench import compare, one_thread

import polars_scores as ps

HOLT = {
    "level": "0.3 * value + 0.7 * (level + trend)",
    "trend": "0.1 * (0.3 * value + 0.7 * (level + trend) - level) + 0.9 * trend",
}
CUSUM = {
    "upper": "max(0.0, upper + value - 0.5)",
    "lower": "max(0.0, lower - value - 0.5)",
}
ONE = "prev * 0.9 + value if value > prev else prev * 0.5"
FOUR = {
    name: f"{name} * {factor} + value if value > {name} else {name} * 0.5"
    for name, factor in (("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6))
}


@njit
def numba_holt(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    levels, trends = np.empty(values.shape[0]), np.empty(values.shape[0])
    level = trend = 0.0
    for i in range(values.shape[0]):
        v = values[i]
        level, trend = (
            0.3 * v + 0.7 * (level + trend),
            0.1 * (0.3 * v + 0.7 * (level + trend) - level) + 0.9 * trend,
        )
        levels[i] = level
        trends[i] = trend
    return levels, trends


@njit
def numba_cusum_by_key(
    values: NDArray[np.float64], keys: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n = values.shape[0]
    upper, lower = np.zeros(keys.max() + 1), np.zeros(keys.max() + 1)
    uppers, lowers = np.empty(n), np.empty(n)
    for i in range(n):
        k, v = keys[i], values[i]
        upper[k], lower[k] = max(0.0, upper[k] + v - 0.5), max(0.0, lower[k] - v - 0.5)
        uppers[i] = upper[k]
        lowers[i] = lower[k]
    return uppers, lowers


def struct(name: str, fields: dict[str, NDArray[np.float64]]) -> pl.Series:
    return pl.DataFrame(fields).to_struct(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = args.rows
    frame = make_frame(n)
    x, k = frame["x"].to_numpy(), frame["k"].to_numpy()
    warm_up_numba()
    numba_holt(x[:8])
    numba_cusum_by_key(x[:8], k[:8])
    print(f"{n:,} rows, {os.cpu_count()} cores, polars {pl.__version__}; medians of {args.repeat}")

    def select(expr: pl.Expr) -> Callable[[], pl.Series]:
        return lambda: frame.select(expr).to_series()

    def holt_in_map_batches(s: pl.Series) -> pl.Series:
        level, trend = numba_holt(s.to_numpy())
        return struct(s.name, {"level": level, "trend": trend})

    col = ps.col("x")
    holt = col.scores.scan(HOLT)
    holt_dtype = pl.Struct({"level": pl.Float64, "trend": pl.Float64})
    compare(
        "Holt's trend (2 states), no keys",
        {
            "numba @njit in map_batches (a struct)": select(
                pl.col("x").map_batches(holt_in_map_batches, return_dtype=holt_dtype)
            ),
            "scan(HOLT)": select(holt),
            "the same scan on one thread": one_thread(select(holt)),
        },
        n,
        args.repeat,
    )

    def numba_cusum() -> pl.Series:
        upper, lower = numba_cusum_by_key(x, k)
        return struct("x", {"upper": upper, "lower": lower})

    cusum = col.scores.scan(CUSUM, by="k")
    compare(
        f"two-sided CUSUM by {KEYS // 1000}k Int64 keys",
        {
            "numba dense-key loop (a struct)": numba_cusum,
            "scan(CUSUM, by=k)": select(cusum),
        },
        n,
        args.repeat,
    )

    fold = col.scores.fold("prev + value")

    def grouped(expr: pl.Expr) -> Callable[[], pl.Series]:
        return lambda: frame.group_by("k").agg(expr).sort("k")["x"]

    def one_pass() -> pl.Series:
        by = frame.select(col.scores.fold("prev + value", by="k")).unnest("x")
        return by.sort("k")["x"]

    # Polars' sum adds in another order, so only the folds agree bit for bit.
    folds = {
        "agg(fold('prev + value'))": grouped(fold),
        "agg(scan('prev + value').last())": grouped(col.scores.scan("prev + value").last()),
        "fold('prev + value', by='k'), one pass": one_pass,
    }
    compare(
        f"group_by(k).agg(...) with {KEYS // 1000}k groups",
        {
            "agg(pl.col('x').sum())": grouped(pl.col("x").sum()),
            # A plugin aggregation that does no more than sum: what one call
            # per group costs, whatever the plugin computes.
            "agg(dot(1.0)), the per-group call's floor": grouped(col.scores.dot(1.0)),
            **folds,
            "fold('prev + value', by='k'), one pass": one_pass,
        },
        n,
        args.repeat,
        check=list(folds),
    )

    four = col.scores.scan(FOUR)
    one = col.scores.scan(ONE)
    compare(
        "a 4-state rule against a 1-state rule of the same size, one thread",
        {
            "scan(ONE)": one_thread(select(one)),
            "scan(FOUR)": one_thread(select(four)),
        },
        n,
        args.repeat,
        check=[],
    )


if __name__ == "__main__":
    main()
