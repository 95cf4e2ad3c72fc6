"""How the rolling score scales with threads: one long series, and `by` keys.

Usage::

    python benchmarks/threads_bench.py [--rows 1e7] [--threads 1,2] [--keys 10,100,...]
                                       [--repeat 9] [--groups 4]

For one series and for each key count (Int64 keys in random order, so each
key's history is ``rows / keys`` long), it times the plugin end to end
(``df.select(...)``) with ``POLARS_SCORES_MAX_THREADS`` set to each thread
count in turn, round-robin, and prints the median ns/row and the speedup
over one thread. Every result is checked bit for bit against the one-thread
result of the same run. With keys, the plugin only goes parallel from 512k
rows per thread with at least 256 rows per key (below that it stays serial,
and the figures show the serial kernel). On a 16-core machine,
``--rows 2e8 --threads 1,2,4,8,16 --keys 0`` gives the single-series curve.

``--groups G`` (with ``--keys ''`` to time only that) adds
``group_by().agg(scores.rolling())`` over G groups of ``--rows`` rows each,
where Polars already calls the plugin from several threads at once: the
plugin's parts then queue on its one thread pool, which must be no slower
than one thread per call. The thresholds this measures live in
``src/parallelism.rs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import polars as pl

import polars_scores as ps


def parse_list(text: str) -> list[int]:
    return [int(float(item)) for item in text.split(",") if item]


def timed_with_threads(
    run: Callable[[], pl.Series], threads: list[int], repeat: int
) -> dict[int, float]:
    """The median seconds of `run` at each thread limit, round-robin, each
    result checked bit for bit against one thread's."""
    times: dict[int, list[float]] = {t: [] for t in threads}
    results: dict[int, np.ndarray] = {}
    for _ in range(repeat):
        for t in threads:
            os.environ["POLARS_SCORES_MAX_THREADS"] = str(t)
            start = time.perf_counter()
            result = run()
            times[t].append(time.perf_counter() - start)
            results[t] = result.to_numpy().view(np.uint64)
    del os.environ["POLARS_SCORES_MAX_THREADS"]
    for t in threads:
        if not np.array_equal(results[t], results[1]):
            raise SystemExit(f"{t} threads differ from 1 thread")
    return {t: statistics.median(times[t]) for t in threads}


def row(label: str, medians: dict[int, float], rows: int) -> str:
    cells = [f"{medians[t] * 1e9 / rows:6.2f} ({medians[1] / medians[t]:4.2f}x)" for t in medians]
    return f"{label:>9} | " + " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=10_000_000)
    parser.add_argument("--threads", type=parse_list, default=[1, 2])
    parser.add_argument(
        "--keys", type=parse_list, default=[0, 10, 100, 1000, 10_000, 100_000], help="0: no key"
    )
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--groups", type=int, default=0, help="also group_by over this many groups of --rows"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = pl.Series("x", rng.standard_normal(args.rows) * 10.0)
    threads = sorted(set(args.threads) | {1})
    print(
        f"{args.rows:,} rows, {os.cpu_count()} cores, polars {pl.__version__}; "
        "median ns/row (speedup over 1 thread)"
    )
    print(f"{'keys':>9} | " + " | ".join(f"{t:>2} thread(s)    " for t in threads))
    for keys in args.keys:
        columns = [x] if keys == 0 else [x, pl.Series("k", rng.integers(0, keys, args.rows))]
        frame = pl.DataFrame(columns)
        expr = ps.col("x").scores.rolling(by="k" if keys else None)

        def scores(frame: pl.DataFrame = frame, expr: pl.Expr = expr) -> pl.Series:
            return frame.select(expr).to_series()

        medians = timed_with_threads(scores, threads, args.repeat)
        print(row(str(keys) if keys else "none", medians, args.rows), flush=True)
    if args.groups:
        rows = args.rows * args.groups
        grouped = pl.DataFrame(
            {
                "g": np.repeat(np.arange(args.groups), args.rows),
                "x": rng.standard_normal(rows) * 10.0,
            }
        )
        by_group = grouped.group_by("g", maintain_order=True)
        medians = timed_with_threads(
            lambda: by_group.agg(ps.col("x").scores.rolling())["x"].explode(), threads, args.repeat
        )
        print(row(f"{args.groups} groups", medians, rows) + "  (group_by, ns/row)", flush=True)
    print("every thread count bit-identical to one thread")


if __name__ == "__main__":
    main()
