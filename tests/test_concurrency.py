"""Concurrent and repeated calls: the same answers, and no memory growth."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

import polars_scores  # noqa: F401

THREADS = 8


def frame(seed: int, n: int = 20_000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = pl.Series("x", rng.normal(0.0, 5.0, n)).set(pl.Series(rng.random(n) < 0.1), None)
    return pl.DataFrame(
        [
            x,
            pl.Series("k", rng.integers(0, 40, n) * 10**12),
            pl.Series("j", rng.integers(0, 7, n), dtype=pl.Int8),
            pl.Series("b", rng.integers(-50, 50, n), dtype=pl.Int32),
        ]
    )


def queries(df: pl.DataFrame) -> list[Callable[[], object]]:
    """Calls of every method through every route, each returning a comparable value."""
    lazy = df.lazy()
    return [
        lambda: df.select(
            pl.col("x").scores.rolling().alias("plain"),
            pl.col("x").scores.rolling(by="k", rise=0.8).alias("hashed"),
            pl.col("x").scores.rolling(by="j", initial="b").alias("dense"),
            # Integer squares sum exactly, so however Polars orders the partial
            # sums across its threads the bits cannot change.
            pl.col("b").scores.total(exponent=2.0).alias("total"),
            pl.col("x").scores.dot("b").alias("dot"),
        ).to_dict(as_series=False),
        lambda: (
            lazy.select(pl.col("x").scores.rolling(by=["j", "k"]))
            .collect(engine="streaming")
            .to_dict(as_series=False)
        ),
        lambda: (
            df.group_by("j")
            .agg(pl.col("x").scores.rolling(), pl.col("b").scores.total(exponent=2.0))
            .sort("j")
            .to_dict(as_series=False)
        ),
        lambda: df["x"].scores.rolling(by=df["j"]).to_list(),
        lambda: (df["x"].scores.total(), df["x"].scores.dot(df["b"])),
    ]


def as_bits(value: object) -> object:
    """`value` with every float replaced by its bits, so NaN == NaN and -0.0 != 0.0."""
    if isinstance(value, float):
        return np.float64(value).view(np.uint64).item()
    if isinstance(value, dict):
        return {key: as_bits(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_bits(item) for item in value]
    return value


def test_threads_get_the_serial_results() -> None:
    frames = [frame(seed) for seed in range(3)]
    calls = [call for df in frames for call in queries(df)]
    serial = [as_bits(call()) for call in calls]

    def run_all(_: int) -> list[object]:
        return [as_bits(call()) for call in calls]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(run_all, range(THREADS)))
    for result in results:
        assert result == serial


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_repeated_small_calls_do_not_grow_memory() -> None:
    # 1,000 rows: small calls, but an output buffer leaked per call would
    # come to 80 MB over the 10,000 calls.
    rng = np.random.default_rng(3)
    df = pl.DataFrame({"x": rng.normal(size=1_000), "k": rng.integers(0, 9, 1_000)})
    s = df["x"]
    calls: list[Callable[[], object]] = [
        lambda: df.select(pl.col("x").scores.rolling(by="k", initial=0.5)),
        lambda: df.select(pl.col("x").scores.total()),
        lambda: df.select(pl.col("x").scores.dot("k")),
        lambda: s.scores.rolling(),
        lambda: s.scores.total(),
    ]

    def run(times: int) -> None:
        for i in range(times):
            calls[i % len(calls)]()

    run(2_000)  # warm-up: caches, the library load, allocator pools
    before = resident_bytes()
    run(10_000)
    grown = resident_bytes() - before
    # Generous: allocator pools and Polars' caches may still settle a little.
    assert grown < 32 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB"
