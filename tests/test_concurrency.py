"""Concurrent and repeated calls: the reference loops' answers, and no memory growth."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
from helpers import assert_bit_identical
from reference import dot, score_by_key, score_series, total

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


Case = tuple[Callable[[], pl.DataFrame], pl.DataFrame]


def cases(df: pl.DataFrame) -> list[Case]:
    """Calls of every method through every route, each with the frame the
    reference loops give for it."""
    lazy = df.lazy()
    x, k, j, b = (df[name].to_list() for name in ("x", "k", "j", "b"))
    height = df.height
    group_keys = sorted(set(j))
    grouped_scores = [
        score_series([v for v, g in zip(x, j, strict=True) if g == key]) for key in group_keys
    ]
    grouped_totals = [
        total([v for v, g in zip(b, j, strict=True) if g == key], exponent=2.0)
        for key in group_keys
    ]
    return [
        (
            lambda: df.select(
                pl.col("x").scores.rolling().alias("plain"),
                pl.col("x").scores.rolling(by="k", rise=0.8).alias("hashed"),
                pl.col("x").scores.rolling(by="j", initial="b").alias("dense"),
                pl.col("b").scores.total(exponent=2.0).alias("total"),
                pl.col("x").scores.dot("b").alias("dot"),
            ),
            pl.DataFrame(
                {
                    "plain": score_series(x),
                    "hashed": score_by_key(x, k, rise=0.8),
                    "dense": score_by_key(x, j, initial=b),
                    "total": [total(b, exponent=2.0)] * height,
                    "dot": [dot(x, b)] * height,
                }
            ),
        ),
        (
            lambda: lazy.select(pl.col("x").scores.rolling(by=["j", "k"])).collect(
                engine="streaming"
            ),
            pl.DataFrame({"x": score_by_key(x, list(zip(j, k, strict=True)))}),
        ),
        (
            lambda: (
                df.group_by("j")
                .agg(pl.col("x").scores.rolling(), pl.col("b").scores.total(exponent=2.0))
                .sort("j")
                .explode("x", empty_as_null=False)
            ),
            pl.DataFrame(
                [
                    (key, score, group_total)
                    for key, scores, group_total in zip(
                        group_keys, grouped_scores, grouped_totals, strict=True
                    )
                    for score in scores
                ],
                schema={"j": pl.Int8, "x": pl.Float64, "b": pl.Float64},
                orient="row",
            ),
        ),
        (
            lambda: df["x"].scores.rolling(by=df["j"]).to_frame(),
            pl.DataFrame({"x": score_by_key(x, j)}),
        ),
        (
            lambda: pl.DataFrame(
                {"total": [df["x"].scores.total()], "dot": [df["x"].scores.dot(df["b"])]}
            ),
            pl.DataFrame({"total": [total(x)], "dot": [dot(x, b)]}),
        ),
    ]


# Sums of floats: Polars adds the partial sums of its threads in any order,
# so these match the exact sum only to rounding.
ROUNDED = ("total", "dot")


def assert_matches(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """The same columns; each the reference's bit for bit, sums to 1e-12."""
    assert got.columns == want.columns
    for name in got.columns:
        if name in ROUNDED and got[name].dtype == pl.Float64:
            for g, w in zip(got[name].to_list(), want[name].to_list(), strict=True):
                assert math.isclose(g, w, rel_tol=1e-12, abs_tol=1e-300), (name, g, w)
        elif got[name].dtype == pl.Float64:
            assert_bit_identical(got[name].to_list(), want[name].cast(pl.Float64).to_list())
        else:
            assert got[name].equals(want[name]), name


def assert_same(got: pl.DataFrame, first: pl.DataFrame) -> None:
    """`assert_matches` against a result already checked, with numpy: nulls
    and NaNs in the same rows, every other value bit for bit (sums to 1e-12)."""
    assert got.schema == first.schema
    for name in got.columns:
        g, f = got[name], first[name]
        assert g.is_null().equals(f.is_null()), name
        if g.dtype != pl.Float64:
            assert g.equals(f), name
            continue
        gv, fv = g.to_numpy(), f.to_numpy()  # nulls read as NaN
        if name in ROUNDED:
            assert np.allclose(gv, fv, rtol=1e-12, atol=0.0, equal_nan=True), name
        else:
            nan = np.isnan(gv)
            assert np.array_equal(nan, np.isnan(fv)), name
            assert np.array_equal(gv.view(np.uint64)[~nan], fv.view(np.uint64)[~nan]), name


def test_threads_get_the_reference_results() -> None:
    calls = [case for seed in range(3) for case in cases(frame(seed))]

    def run_all(_: int) -> list[pl.DataFrame]:
        # Several rounds, so that the threads' calls overlap in many ways.
        return [call() for _ in range(ROUNDS) for call, _ in calls]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(run_all, range(THREADS)))
    # The first thread's first round against the reference loops, value by
    # value in Python; every other result against that one.
    firsts = results[0][: len(calls)]
    for got, (_, want) in zip(firsts, calls, strict=True):
        assert_matches(got, want)
    for result in results:
        for got, first in zip(result, firsts * ROUNDS, strict=True):
            assert_same(got, first)


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
