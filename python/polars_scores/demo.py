"""The demo behind ``polars-scores demo``: synthetic data, scored and totalled
parquet to parquet, checked against the plain Python loops, and timed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import polars as pl

from polars_scores import reference
from polars_scores.namespace import col
from polars_scores.writers import score_to_parquet, total_to_parquet


class MismatchError(Exception):
    """The plugin's result for a sampled key differs from the Python loops'."""


def _python_loops_by_key(keys: Sequence[int], values: Sequence[float | None]) -> float:
    """Seconds the reference loops take over these rows, with a state per key."""
    start = time.perf_counter()
    states: dict[int, float] = {}
    totals: dict[int, float] = {}
    scores: list[float | None] = []
    for key, v in zip(keys, values, strict=True):
        if v is None:
            scores.append(None)
            continue
        prev = states.get(key, 0.0)
        prev = prev * 0.9 + v if v > prev else prev * 0.5
        states[key] = prev
        scores.append(prev)
        if v > 0:
            totals[key] = totals.get(key, 0.0) + v**1.5
    return time.perf_counter() - start


def synthetic(rows: int, keys: int, *, seed: int = 0) -> pl.LazyFrame:
    """`rows` rows of an Int64 ``key`` (about `keys` distinct) and a Float64 ``value``
    in [0, 100), 1% null, in a reproducible pseudo-random order.

    Examples
    --------
    >>> from polars_scores.demo import synthetic
    >>> synthetic(1000, 10).collect().shape
    (1000, 2)
    """
    row = pl.int_range(0, rows, dtype=pl.Int64)
    key_hash = row.hash(seed)
    value_hash = row.hash(seed + 1)
    return pl.LazyFrame().select(
        key=(key_hash % keys).cast(pl.Int64),
        value=pl.when(value_hash % 100 != 0).then((value_hash % 10_000).cast(pl.Float64) / 100),
    )


def _timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def run(rows: int, keys: int, out: TextIO | None = None) -> None:
    """Write `rows` synthetic rows with `keys` keys to a temporary folder, score and
    total them parquet to parquet, check a sample of keys against the Python loops
    and print the timings (to `out`, by default standard output).

    Raises
    ------
    MismatchError
        A checked key's scores or total differ from the Python loops'.
    """
    out = sys.stdout if out is None else out
    sample_rows = min(rows, 1_000_000)
    with tempfile.TemporaryDirectory(prefix="polars-scores-demo-") as folder:
        data, scored, totals = (Path(folder) / f"{n}.parquet" for n in ("data", "scored", "totals"))
        print(f"polars-scores demo: {rows:,} rows, {keys:,} keys, in {folder}", file=out)
        source = pl.scan_parquet(data)
        steps = [
            ("write the synthetic parquet data", lambda: synthetic(rows, keys).sink_parquet(data)),
            (
                "score --by key (parquet to parquet)",
                lambda: score_to_parquet(source, scored, value="value", by="key"),
            ),
            (
                "total --by key (parquet to parquet)",
                lambda: total_to_parquet(source, totals, value="value", by="key"),
            ),
        ]
        timings = [(step, rows, _timed(action)) for step, action in steps]

        # Like for like on the first rows, in memory: the plugin, then the
        # Python loops it replaces.
        head = source.head(sample_rows).collect()
        value = col("value")
        in_memory = _timed(
            lambda: (
                head.with_columns(value.scores.rolling(by="key")),
                head.group_by("key").agg(value.scores.total()),
            )
        )
        python_s = _python_loops_by_key(head["key"].to_list(), head["value"].to_list())
        timings += [
            ("in memory: rolling(by) + total()", sample_rows, in_memory),
            ("in memory: the Python loops", sample_rows, python_s),
        ]
        checks = _check_sample(scored, totals, sample_keys=head["key"].unique()[:3].to_list())

        print(f"\n{'step':<38}{'rows':>12}{'seconds':>9}{'ns/row':>8}", file=out)
        for step, n, seconds in timings:
            print(f"{step:<38}{n:>12,}{seconds:>9.2f}{seconds / n * 1e9:>8.0f}", file=out)
        print(f"\nthe plugin is {python_s / in_memory:.0f}x faster than the Python loops", file=out)
        print("\n" + "\n".join(checks), file=out)
        with pl.Config(tbl_rows=6, tbl_hide_dataframe_shape=True):
            print("\nfirst rows of score's output:", file=out)
            print(pl.scan_parquet(scored).head(5).collect(), file=out)
            print("\nlargest totals:", file=out)
            print(pl.scan_parquet(totals).top_k(5, by="value_total").collect(), file=out)


def _check_sample(scored: Path, totals: Path, *, sample_keys: list[int]) -> list[str]:
    """Compare the output for a few keys with the reference loops; raise on a mismatch."""
    rows = pl.scan_parquet(scored).filter(pl.col("key").is_in(sample_keys)).collect()
    sums = pl.scan_parquet(totals).filter(pl.col("key").is_in(sample_keys)).collect()
    checked_rows = 0
    worst = 0.0
    for key in sample_keys:
        mine = rows.filter(pl.col("key") == key)
        values = mine["value"].drop_nulls().to_list()
        expected = reference.rolling(values)
        got = mine["value_score"].drop_nulls().to_list()
        nulls_match = mine["value"].is_null().equals(mine["value_score"].is_null())
        if got != expected or not nulls_match:
            raise MismatchError(f"demo: the scores of key {key} differ from the Python loop")
        checked_rows += mine.height
        expected_total = reference.total(values)
        total = sums.filter(pl.col("key") == key)["value_total"].item()
        error = abs(total - expected_total) / max(abs(expected_total), 1e-300)
        # The total is summed in another order than the loop's, so it may
        # differ in the last bits.
        if error > 1e-12:
            raise MismatchError(f"demo: the total of key {key} differs from the Python loop")
        worst = max(worst, error)
    return [
        f"check: the scores of {len(sample_keys)} keys ({checked_rows:,} rows) are "
        "bit-identical to the Python loop",
        f"check: their totals match the Python loop to {worst:.1e} relative error",
    ]
