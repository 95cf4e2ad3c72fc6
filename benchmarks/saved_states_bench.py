"""Carrying on from saved states, day after day, against rescoring the history.

Usage::

    python benchmarks/saved_states_bench.py [--days 10] [--rows 10_000_000]
        [--keys 1_000_000] [--key-type string|int64|categorical|uint64] [--repeat N] [--no-rescore]
        [--dir DIR] [--chart PATH]

Writes `--days` daily parquet files of `--rows` rows each (random keys out of
`--keys`, random Float64 values, as ``streaming_bench.py``'s input), then for
each day, each command in a fresh process (wall and CPU time, minor page
faults, peak RSS):

- the day's copy: ``pl.scan_parquet(day).sink_parquet(copy)``, the issue's
  yardstick (Polars' default zstd, level 3), and the same at zstd level 1,
  the codec and level of the scored output (``formats.ZSTD_LEVEL``);
- continuing: ``polars-scores score DAY -o OUT --value value --by key --state
  STATE`` (`--repeat` times, each from a copy of the day's start state, then
  once more for real);
- rescoring: ``polars-scores score DAY1 ... DAY -o OUT --value value --by key``,
  the whole history (unless ``--no-rescore``);
- the peer: Polars' own keyed running state over the day,
  ``with_columns(pl.col("value").cum_sum().over("key"))`` written as the
  output is (`--repeat` times): what the same per-key, per-row work costs
  in Polars, with no state carried from one day to the next.

It checks that the last day's continued scores equal, bit for bit, the last
rows of the rescored history, times loading the state file into a scorer,
and prints each day's figures against the issue's targets: continuing at
most 1.5x the day's copy (and the ratio to the copy at level 1), the same
on the last day as on the first, peak RSS
under 400 MB, and the state loading in under 1 s. ``--chart`` draws the cost
per day both ways (matplotlib, in the ``bench`` group).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from streaming_bench import COPY, KEY_TYPES, measure, work_folder, write_input

from polars_scores.formats import ZSTD_LEVEL
from polars_scores.stateful import StatefulScorer

WALL_TARGET_RATIO = 1.5
RSS_TARGET_MB = 400
LOAD_TARGET_S = 1.0

OVER = (
    "import polars as pl, sys; "
    "pl.scan_parquet(sys.argv[1]).with_columns(value_score=pl.col('value').cum_sum().over('key'))"
    ".sink_parquet(sys.argv[2], compression='zstd', compression_level=int(sys.argv[3]))"
)
"""The peer: Polars' running sum per key over one file, written as the
scored output is: ``python -c OVER IN OUT LEVEL``."""


def load_seconds(state: Path, repeat: int = 3) -> float:
    """The median time to read the state file and start a scorer from it."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        StatefulScorer("value", by="key", states=state)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chart(path: Path, days: list[dict[str, float]]) -> None:
    """Seconds per day: the copy, continuing from the state, the peer,
    rescoring the history."""
    import matplotlib  # only with --chart (the bench group has it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = range(1, len(days) + 1)
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(numbers, [day["copy"] for day in days], "o-", label="copy of the day's file")
    level_one = [day["copy_l1"] for day in days]
    axes.plot(numbers, level_one, "o--", label="the copy at zstd level 1, as the output")
    axes.plot(numbers, [day["continue"] for day in days], "o-", label="score --state (continue)")
    peer = [day["peer"] for day in days]
    axes.plot(numbers, peer, "o:", label="Polars' cum_sum().over(key) of the day, no state")
    if all("rescore" in day for day in days):
        axes.plot(numbers, [day["rescore"] for day in days], "o-", label="score the history again")
    axes.set_xlabel("day")
    axes.set_ylabel("wall seconds of that day's run")
    axes.set_ylim(bottom=0)
    axes.set_xticks(list(numbers))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=10_000_000)
    parser.add_argument("--keys", type=lambda s: int(float(s)), default=1_000_000)
    parser.add_argument("--key-type", choices=sorted(KEY_TYPES), default="string")
    parser.add_argument("--repeat", type=int, default=1, help="continuing runs per day")
    parser.add_argument("--no-rescore", action="store_true", help="skip rescoring the history")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    parser.add_argument("--chart", type=Path, default=None, help="write the chart here")
    arguments = parser.parse_args(argv)

    folder = work_folder("polars-scores-saved-", arguments.dir)
    try:
        files = [folder / f"day-{day:02d}.parquet" for day in range(1, arguments.days + 1)]
        start = time.perf_counter()
        for day, path in enumerate(files):
            write_input(
                path,
                arguments.rows,
                arguments.keys,
                key_type=arguments.key_type,
                first_row=day * arguments.rows,
            )
        print(
            f"input: {arguments.days} days of {arguments.rows:,} rows, {arguments.keys:,} "
            f"{arguments.key_type} keys, random values (written in "
            f"{time.perf_counter() - start:.1f} s); {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}; polars {pl.__version__}",
            flush=True,
        )
        state, before = folder / "state.parquet", folder / "state-before.parquet"
        copied, scored, history = (folder / f"{n}.parquet" for n in ("copy", "scored", "all"))
        score = [sys.executable, "-m", "polars_scores.cli", "score", "--value", "value"]
        score += ["--by", "key", "-q"]
        days: list[dict[str, float]] = []
        print(
            f"\n{'day':>4}{'copy s':>9}{'continue s':>12}{'ratio':>7}{'copy L1 s':>11}"
            f"{'ratio L1':>10}{'peer s':>8}{'ratio':>7}{'CPU ratio':>10}{'faults k (copy)':>17}"
            f"{'peak MB':>9}{'rescore s':>11}{'state MB':>10}{'load s':>8}",
            flush=True,
        )
        for number, path in enumerate(files, start=1):
            figures: dict[str, float] = {}
            copies, level_ones, continues, peers = [], [], [], []
            for _ in range(arguments.repeat):
                if state.exists():
                    shutil.copy2(state, before)
                copy = [sys.executable, "-c", COPY, str(path), str(copied), "zstd"]
                copies.append(measure(copy, folder))
                level_ones.append(measure([*copy, str(ZSTD_LEVEL)], folder))
                peer = [sys.executable, "-c", OVER, str(path), str(copied), str(ZSTD_LEVEL)]
                peers.append(measure(peer, folder))
                trial = [*score, str(path), "-o", str(scored), "--state", str(state)]
                continues.append(measure(trial, folder))
                # The next trial (or the real run) starts from the same state.
                if before.exists():
                    shutil.copy2(before, state)
                else:
                    state.unlink()
            last = measure([*score, str(path), "-o", str(scored), "--state", str(state)], folder)
            figures["copy"] = statistics.median(run["wall_s"] for run in copies)
            figures["copy_l1"] = statistics.median(run["wall_s"] for run in level_ones)
            figures["peer"] = statistics.median(run["wall_s"] for run in peers)
            runs = [*continues, last]
            figures["continue"] = statistics.median(run["wall_s"] for run in runs)
            figures["peak_mb"] = max(run["peak_mb"] for run in runs)
            # Where a run's excess goes: CPU, and the first touches of its
            # memory (minor page faults), against the copy's.
            copy_cpu = statistics.median(run["cpu_s"] for run in copies)
            figures["cpu_ratio"] = statistics.median(run["cpu_s"] for run in runs) / copy_cpu
            figures["faults_k"] = statistics.median(run["faults"] for run in runs) / 1e3
            figures["copy_faults_k"] = statistics.median(run["faults"] for run in copies) / 1e3
            if not arguments.no_rescore:
                everything = [*score, *map(str, files[:number]), "-o", str(history)]
                figures["rescore"] = measure(everything, folder)["wall_s"]
            figures["state_mb"] = state.stat().st_size / 2**20
            figures["load_s"] = load_seconds(state)
            days.append(figures)
            rescore = f"{figures['rescore']:>11.2f}" if "rescore" in figures else f"{'-':>11}"
            print(
                f"{number:>4}{figures['copy']:>9.2f}{figures['continue']:>12.2f}"
                f"{figures['continue'] / figures['copy']:>7.2f}{figures['copy_l1']:>11.2f}"
                f"{figures['continue'] / figures['copy_l1']:>10.2f}{figures['peer']:>8.2f}"
                f"{figures['peer'] / figures['copy']:>7.2f}{figures['cpu_ratio']:>10.2f}"
                f"{figures['faults_k']:>11.0f} ({figures['copy_faults_k']:>3.0f})"
                f"{figures['peak_mb']:>9.0f}"
                f"{rescore}{figures['state_mb']:>10.1f}{figures['load_s']:>8.2f}",
                flush=True,
            )
        if not arguments.no_rescore:
            continued = pl.read_parquet(scored)["value_score"]
            rescored = pl.scan_parquet(history).tail(arguments.rows).collect()["value_score"]
            if not continued.equals(rescored):
                sys.exit("saved_states_bench: the continued scores differ from the rescored ones")
            print("\nthe last day's continued scores equal the rescored history's, bit for bit")
        ratios = [day["continue"] / day["copy"] for day in days]
        level_one = statistics.median(day["continue"] / day["copy_l1"] for day in days)
        worst = max(ratios)
        peak = max(day["peak_mb"] for day in days)
        load = max(day["load_s"] for day in days)
        print(
            f"continue / copy: worst day {worst:.2f}, first {ratios[0]:.2f}, last "
            f"{ratios[-1]:.2f} (target <= {WALL_TARGET_RATIO}: "
            f"{'PASS' if worst <= WALL_TARGET_RATIO else 'MISS'}; median "
            f"{statistics.median(ratios):.2f}, and {level_one:.2f} against the copy at zstd "
            f"level {ZSTD_LEVEL}); peak RSS {peak:.0f} MB "
            f"(target < {RSS_TARGET_MB}: {'PASS' if peak < RSS_TARGET_MB else 'MISS'}); "
            f"state load {load:.2f} s (target < {LOAD_TARGET_S:g}: "
            f"{'PASS' if load < LOAD_TARGET_S else 'MISS'}); load average now "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
        peer_ratios = [day["peer"] / day["copy"] for day in days]
        print(
            f"the peer, Polars' cum_sum().over('key') of the day (no state): median "
            f"{statistics.median(peer_ratios):.2f}x the copy, continuing "
            f"{statistics.median(day['continue'] / day['peer'] for day in days):.2f}x the peer",
            flush=True,
        )
        if arguments.chart is not None:
            chart(arguments.chart, days)
            print(f"chart: {arguments.chart}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
