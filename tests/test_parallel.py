"""The multi-core rolling score: whatever the thread count, the results of
the Python reference loops, bit for bit.

The kernel goes parallel from 64k rows per thread, and with keys from 512k
rows per thread with at least 256 rows per key, so these inputs are long
(keyed: two threads at most) and have few keys. Which speculative paths
(meet early, late, never) a part takes is pinned by the Rust unit tests;
here the inputs are shaped so that each occurs, and the point is the glue:
chunks, nulls, key ids, threads. Last, many keys: the hash tables number a
long batch's keys, and load saved states, on threads.
"""

from __future__ import annotations

import functools

import numpy as np
import polars as pl
import pytest
from helpers import chunked
from reference import score_by_key, score_series

import polars_scores  # noqa: F401  (registers the namespace)
from polars_scores.stateful import StatefulScorer

ROWS = 1_100_000
KEYS = 5


@functools.cache
def frame(shape: str) -> pl.DataFrame:
    """`ROWS` values of one shape (5% null) with a few interleaved keys."""
    rng = np.random.default_rng(11)
    values = {
        # Meets within some hundred rows.
        "normal": rng.normal(0.0, 10.0, ROWS),
        # Constant or only falling: the runs meet late (underflow) or never.
        "constant": np.full(ROWS, 3.0),
        "negative": np.full(ROWS, -1.0),
        "alternating": np.where(np.arange(ROWS) % 2 == 0, 5.0, -5.0),
        "special": rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 5e-324], ROWS),
    }[shape]
    x = pl.Series("x", values).set(pl.Series(rng.random(ROWS) < 0.05), None)
    k = pl.Series("k", rng.integers(0, KEYS, ROWS))
    return pl.DataFrame([x, k, k.cast(pl.String).alias("s")])


@functools.cache
def reference(shape: str) -> tuple[pl.Series, pl.Series]:
    """The plain and the keyed reference scores of `frame(shape)`, with initial 1.0."""
    df = frame(shape)
    values, keys = df["x"].to_list(), df["k"].to_list()
    plain = score_series(values, initial=1.0)
    keyed = score_by_key(values, keys, initial=1.0)
    return pl.Series(plain, dtype=pl.Float64), pl.Series(keyed, dtype=pl.Float64)


def assert_bit_identical(got: pl.Series, want: pl.Series) -> None:
    """helpers' check, in numpy for a million rows: nulls and NaNs in the
    same rows, every other value bit for bit."""
    assert got.dtype == want.dtype == pl.Float64
    assert got.len() == want.len()
    assert np.array_equal(got.is_null().to_numpy(), want.is_null().to_numpy())
    got_floats, want_floats = got.fill_null(0.0).to_numpy(), want.fill_null(0.0).to_numpy()
    nans = np.isnan(want_floats)
    assert np.array_equal(np.isnan(got_floats), nans)
    got_bits, want_bits = got_floats.view(np.uint64), want_floats.view(np.uint64)
    differ = np.flatnonzero((got_bits != want_bits) & ~nans)
    assert differ.size == 0, f"first difference at row {differ[0]}: {got[int(differ[0])]!r}"


SHAPES = ["normal", "constant", "negative", "alternating", "special"]


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("shape", SHAPES)
def test_any_thread_count_gives_the_reference(
    monkeypatch: pytest.MonkeyPatch, shape: str, threads: int
) -> None:
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", str(threads))
    plain, keyed = reference(shape)
    rolling = pl.col("x").scores.rolling
    got = frame(shape).select(
        plain=rolling(initial=1.0),
        dense_keys=rolling(by="k", initial=1.0),
        hashed_keys=rolling(by="s", initial=1.0),
    )
    assert_bit_identical(got["plain"], plain)
    assert_bit_identical(got["dense_keys"], keyed)
    assert_bit_identical(got["hashed_keys"], keyed)


@pytest.mark.parametrize("shape", ["normal", "negative"])
def test_chunks_each_go_parallel_and_carry_the_states(
    monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", "4")
    plain, keyed = reference(shape)
    df = frame(shape)
    # The last chunk is long enough for two threads with keys, the others not.
    cuts = [1, 20_000, 20_003]
    df = pl.DataFrame([chunked(df["x"], cuts), chunked(df["k"], [150_000])])
    assert df.n_chunks("all") == [4, 2]
    rolling = pl.col("x").scores.rolling
    got = df.select(plain=rolling(initial=1.0), keyed=rolling(by="k", initial=1.0))
    assert_bit_identical(got["plain"], plain)
    assert_bit_identical(got["keyed"], keyed)


def test_polars_max_threads_bounds_the_threads_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the bound changes, never the result.
    monkeypatch.delenv("POLARS_SCORES_MAX_THREADS", raising=False)
    monkeypatch.setenv("POLARS_MAX_THREADS", "3")
    plain, keyed = reference("normal")
    rolling = pl.col("x").scores.rolling
    got = frame("normal").select(plain=rolling(initial=1.0), keyed=rolling(by="k", initial=1.0))
    assert_bit_identical(got["plain"], plain)
    assert_bit_identical(got["keyed"], keyed)


@functools.cache
def many_keys() -> tuple[pl.DataFrame, list[float | None]]:
    """300k rows of about 210k keys of two columns, a third of them long
    strings (stored apart from the hash tables' entries), and their
    reference scores."""
    rng = np.random.default_rng(23)
    ids = rng.integers(0, 400_000, 300_000)
    users = [f"user-{i}" if i % 3 else f"a longer user name than most, {i}" for i in ids]
    df = pl.DataFrame({"user": users, "site": ids % 7, "x": rng.normal(0.0, 10.0, len(ids))})
    keys = list(zip(users, df["site"].to_list(), strict=True))
    return df, score_by_key(df["x"].to_list(), keys)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_many_keys_are_numbered_and_loaded_on_threads_as_on_one(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    # A long batch's keys are hashed and looked up on threads, and so is a
    # long load of saved states: the scores and the states may not depend on
    # the threads.
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", str(threads))
    df, want = many_keys()
    first, second = df.head(200_000), df.tail(100_000)
    scorer = StatefulScorer("x", by=["user", "site"])
    early = scorer.score(first)["x_score"]
    states = scorer.states()
    assert states.height > 2 * 65_536  # a load long enough for threads
    carried_on = StatefulScorer("x", by=["user", "site"], states=states)
    late = carried_on.score(second)["x_score"]
    assert_bit_identical(pl.concat([early, late]), pl.Series(want, dtype=pl.Float64))
    # Each key's state is its last score.
    last = pl.DataFrame({"user": df["user"], "site": df["site"], "want": want})
    last = last.group_by("user", "site", maintain_order=True).last()
    both = carried_on.states().join(last, on=["user", "site"], how="full", coalesce=True)
    assert both.height == last.height
    assert_bit_identical(both["x_score"], both["want"])
