"""`polars-scores total --by` on a large parquet file, against Polars' own
streaming `group_by` and a plain parquet copy.

Usage::

    python benchmarks/totals_bench.py [--rows 100_000_000] [--keys 1_000_000] [--dir DIR]
                                      [--key-type int64|string] [--repeat N]
                                      [--rule NAME=EXPR ...]

Writes the input of ``streaming_bench.py`` (``--rows`` rows, a ``key`` with
``--keys`` distinct values, random Float64 ``value``s), then runs, each in a
fresh process and alternately ``--repeat`` times:
``pl.scan_parquet(file).sink_parquet(copy)``,
``polars-scores total file -o out --value value --by key`` and
``pl.scan_parquet(file).group_by("key").agg(pl.col("value").sum()).sink_parquet(out)``,
and prints the medians of their wall times, CPU times and peak resident
sets (the child's ``ru_maxrss``), against the issue's targets: the total's peak
RSS <= 400 MB (1M keys; 1.5 GB for 10M) and its wall <= 1.5x the copy.
With ``--rule``, the total is ``total --rule ...``: a user's own fold
through the same per-key store, against the same targets.
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

WALL_TARGET_RATIO = 1.5


def rss_target_mb(keys: int) -> int:
    """The issue's peak RSS target: 400 MB up to 1M keys, 1.5 GB for 10M."""
    return 400 if keys <= 1_000_000 else 1536


GROUP_BY = (
    "import polars as pl, sys; "
    "pl.scan_parquet(sys.argv[1]).group_by('key').agg(pl.col('value').sum())"
    ".sink_parquet(sys.argv[2])"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=100_000_000)
    parser.add_argument("--keys", type=lambda s: int(float(s)), default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    parser.add_argument("--key-type", choices=sorted(KEY_TYPES), default="int64")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternated")
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        help="fold by this rule instead of the total, as `total --rule` (repeatable)",
    )
    arguments = parser.parse_args(argv)
    rule_options = [option for rule in arguments.rule for option in ("--rule", rule)]

    folder = work_folder("polars-scores-totals-", arguments.dir)
    try:
        data, copied, totals, grouped = (
            folder / f"{n}.parquet" for n in ("input", "copy", "totals", "grouped")
        )
        start = time.perf_counter()
        write_input(data, arguments.rows, arguments.keys, key_type=arguments.key_type)
        size_mb = data.stat().st_size / 2**20
        print(
            f"input: {arguments.rows:,} rows, {arguments.keys:,} {arguments.key_type} keys, "
            f"random values, {size_mb:,.0f} MiB (written in {time.perf_counter() - start:.1f} s); "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
            f"polars {pl.__version__}",
            flush=True,
        )
        total_label = "polars-scores total --by key" + (" --rule" if arguments.rule else "")
        group_by_label = "group_by().agg(sum).sink_parquet()"
        copy_label = "scan_parquet().sink_parquet() copy"
        commands = {
            copy_label: [sys.executable, "-c", COPY, str(data), str(copied), "zstd"],
            total_label: [
                sys.executable, "-m", "polars_scores.cli", "total", str(data), "-o", str(totals),
                "--value", "value", "--by", "key", "-q", *rule_options,
            ],
            group_by_label: [sys.executable, "-c", GROUP_BY, str(data), str(grouped)],
        }  # fmt: skip
        # Alternated, so that a busy spell on a shared machine hits all alike.
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in commands}
        for _ in range(arguments.repeat):
            for label, command in commands.items():
                runs[label].append(measure(command, folder))
        written = pl.scan_parquet(totals).select(pl.len()).collect().item()
        keys = pl.scan_parquet(grouped).select(pl.len()).collect().item()
        if written != keys:
            sys.exit(f"totals_bench: the total wrote {written:,} keys, group_by {keys:,}")
        medians = {
            label: {k: statistics.median(run[k] for run in done) for k in done[0]}
            for label, done in runs.items()
        }
        copy, total = medians[copy_label], medians[total_label]
        header = f"median of {arguments.repeat} run(s)"
        print(f"\n{header:<40}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}")
        for label, figures in medians.items():
            print(
                f"{label:<40}{figures['wall_s']:>9.2f}{figures['cpu_s']:>9.2f}"
                f"{figures['peak_mb']:>13.0f}"
            )
        ratio = total["wall_s"] / copy["wall_s"]
        target_mb = rss_target_mb(arguments.keys)
        print(
            f"\nwall ratio total / copy: {ratio:.2f} (target <= {WALL_TARGET_RATIO:g}: "
            f"{'PASS' if ratio <= WALL_TARGET_RATIO else 'MISS'})\n"
            f"total peak RSS: {total['peak_mb']:.0f} MB (target <= {target_mb}: "
            f"{'PASS' if total['peak_mb'] <= target_mb else 'MISS'}); "
            f"load average now {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
