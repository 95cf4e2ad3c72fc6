"""All of the plugin's parallel work runs on one process-wide thread pool.

Polars calls the plugin from several threads at once (`group_by().agg()`,
`over()`, concurrent queries); each call may cut its rows into as many parts
as the thread limit allows. Those parts queue on one pool instead of each
call starting threads of its own, so the process never holds more threads
than before the calls, whatever the limit, and the results stay those of
the reference loops, bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
from helpers import assert_bit_identical
from reference import score_by_key, score_series

import polars_scores  # noqa: F401  (registers the namespace)

ROWS = 1_100_000
"""Long enough for 8 parts of 64k rows, and 2 keyed parts of 512k."""

# Runs in a fresh interpreter, so that both thread pools (Polars' and the
# plugin's) are sized by the POLARS_MAX_THREADS set below. It samples the
# process's thread count while 4 Python threads each run a query whose plugin
# call asks for 8 parts, and prints the counts as JSON.
COUNT_THREADS = textwrap.dedent(
    """
    import json, os, threading, time
    import numpy as np, polars as pl
    import polars_scores

    def threads():
        return len(os.listdir("/proc/self/task"))

    rng = np.random.default_rng(3)
    df = pl.DataFrame({"x": rng.normal(0, 10, %(rows)d), "k": rng.integers(0, 4, %(rows)d)})
    queries = [
        pl.col("x").scores.rolling().alias("plain"),
        pl.col("x").scores.rolling(by="k").alias("keyed"),
    ]
    df.select(queries)  # starts both pools
    before = threads()
    peak, done = [before], threading.Event()

    def sample():
        while not done.is_set():
            peak.append(threads())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [threading.Thread(target=lambda: [df.select(queries) for _ in range(3)])
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    sampler.join()
    print(json.dumps({"before": before, "peak": max(peak)}))
    """
)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_concurrent_calls_start_no_threads() -> None:
    env = {**os.environ, "POLARS_MAX_THREADS": "2", "POLARS_SCORES_MAX_THREADS": "8"}
    run = subprocess.run(
        [sys.executable, "-c", COUNT_THREADS % {"rows": ROWS}],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    counts = json.loads(run.stdout)
    # The 4 Python threads and the sampler are the only threads added; with
    # threads started per call there would be up to 4 x 8 more.
    assert counts["peak"] <= counts["before"] + 5, counts


@pytest.fixture(scope="module")
def groups() -> tuple[pl.DataFrame, dict[int, list[float | None]], list[float | None]]:
    """8 interleaved groups of about 275k rows (5% null), each group's
    reference scores, and the reference scores by key in row order."""
    rng = np.random.default_rng(5)
    rows = 2 * ROWS
    x = pl.Series("x", rng.normal(0.0, 10.0, rows)).set(pl.Series(rng.random(rows) < 0.05), None)
    df = pl.DataFrame([x, pl.Series("k", rng.integers(0, 8, rows))])
    values, keys = df["x"].to_list(), df["k"].to_list()
    members: dict[int, list[float | None]] = {}
    for value, key in zip(values, keys, strict=True):
        members.setdefault(key, []).append(value)
    per_group = {key: score_series(group) for key, group in members.items()}
    return df, per_group, score_by_key(values, keys)


@pytest.mark.parametrize("threads", ["1", "2", "8"])
def test_parallel_groups_and_parallel_kernels_give_the_reference(
    monkeypatch: pytest.MonkeyPatch,
    groups: tuple[pl.DataFrame, dict[int, list[float | None]], list[float | None]],
    threads: str,
) -> None:
    # Polars scores the 8 groups in parallel, and each call is long enough
    # to ask for parts of its own (4 of 64k rows and more): both levels
    # share the one pool.
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", threads)
    df, per_group, by_key = groups
    got = df.group_by("k").agg(pl.col("x").scores.rolling())
    assert sorted(got["k"]) == sorted(per_group)
    for key, scores in zip(got["k"], got["x"], strict=True):
        assert_bit_identical(scores.to_list(), per_group[key])
    over = df.select(pl.col("x").scores.rolling().over("k"))["x"]
    assert_bit_identical(over.to_list(), by_key)
