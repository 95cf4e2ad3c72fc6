"""Concurrent and repeated calls: the same answers, and no memory growth."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

import polars_scores  # noqa: F401

THREADS = 8
ROUNDS = 3


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


def queries(df: pl.DataFrame) -> list[Callable[[], pl.DataFrame]]:
    """Calls of every method through every route, each giving a frame."""
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
        ),
        lambda: lazy.select(pl.col("x").scores.rolling(by=["j", "k"])).collect(engine="streaming"),
        lambda: (
            df.group_by("j")
            .agg(pl.col("x").scores.rolling(), pl.col("b").scores.total(exponent=2.0))
            .sort("j")
            .explode("x", empty_as_null=False)
        ),
        lambda: df["x"].scores.rolling(by=df["j"]).to_frame(),
        lambda: pl.DataFrame(
            {"total": [df["x"].scores.total()], "dot": [df["x"].scores.dot(df["b"])]}
        ),
    ]


def fingerprint(result: pl.DataFrame) -> list[tuple[str, bytes, bytes]]:
    """Each column's name, null mask and value bits: NaN == NaN, but -0.0 != 0.0."""
    columns = []
    for column in result.get_columns():
        values = column.fill_null(0).to_numpy()
        if values.dtype == np.float64:
            values = values.view(np.uint64)
        columns.append((column.name, column.is_null().to_numpy().tobytes(), values.tobytes()))
    return columns


def test_threads_get_the_serial_results() -> None:
    frames = [frame(seed) for seed in range(3)]
    calls = [call for df in frames for call in queries(df)]
    serial = [fingerprint(call()) for call in calls]

    def run_all(_: int) -> list[list[tuple[str, bytes, bytes]]]:
        # Several rounds, so that the threads' calls overlap in many ways.
        return [fingerprint(call()) for _ in range(ROUNDS) for call in calls]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(run_all, range(THREADS)))
    for result in results:
        assert result == serial * ROUNDS


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
