"""`polars-scores score --by` on a large parquet file, against a plain parquet copy.

Usage::

    python benchmarks/streaming_bench.py [--rows 100_000_000] [--keys 1_000_000]
                                         [--dir DIR] [--batch-rows N] [--profile]

Writes a parquet file of ``--rows`` rows (an Int64 ``key`` with ``--keys``
distinct values in random order, a Float64 ``value``), then runs, each in a
fresh process, ``pl.scan_parquet(file).sink_parquet(copy)`` and
``polars-scores score file -o out --value value --by key``, and prints both
wall times, both peak resident sets (the child's ``ru_maxrss``) and the
ratios, against the issue's targets: peak RSS <= 400 MB, wall <= 2x the copy.

``--profile`` also times, in this process, each stage of the score on its own
(reading the batches, the per-key bookkeeping, the kernel, the writing), to
show what dominates. The files go to a temporary folder under ``--dir``
(default: the system's), removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

import polars_scores as ps
from polars_scores.stateful import RollingScorer
from polars_scores.streaming import DEFAULT_BATCH_ROWS

RSS_TARGET_MB = 400
WALL_TARGET_RATIO = 2.0

# Runs a command as its only child and prints its wall time and peak RSS as JSON
# (RUSAGE_CHILDREN's ru_maxrss is the largest child's, so each command gets a
# parent of its own).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
status = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"status": status, "wall_s": wall, "peak_mb": peak_kib / 1024}))
"""

COPY = "import polars as pl, sys; pl.scan_parquet(sys.argv[1]).sink_parquet(sys.argv[2])"


def write_input(path: Path, rows: int, keys: int, chunk: int = 2_000_000) -> None:
    """`rows` rows of random keys and values, generated and written chunk by chunk."""

    def chunks(*_: object) -> Iterator[pl.DataFrame]:
        for start in range(0, rows, chunk):
            row = pl.int_range(start, min(start + chunk, rows), dtype=pl.Int64)
            yield pl.select(
                key=(row.hash(1) % keys).cast(pl.Int64),
                value=(row.hash(2) % 1_000_000).cast(pl.Float64) / 1000.0,
            )

    schema = {"key": pl.Int64, "value": pl.Float64}
    register_io_source(chunks, schema=schema).sink_parquet(path)


def measure(command: Sequence[str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"streaming_bench: measuring {command} failed:\n{result.stderr}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["status"] != 0:
        sys.exit(f"streaming_bench: {command} failed with status {figures['status']}")
    return figures


def profile(path: Path, batch_rows: int) -> None:
    """Each stage of the score timed on its own, in this process."""

    def timed(label: str, run: object) -> None:
        start = time.perf_counter()
        run()  # type: ignore[operator]
        print(f"  {label:<44}{time.perf_counter() - start:8.2f} s", flush=True)

    source = pl.scan_parquet(path)

    def read() -> None:
        for _ in source.collect_batches(chunk_size=batch_rows, maintain_order=True):
            pass

    def read_and_kernel() -> None:
        for batch in source.collect_batches(chunk_size=batch_rows, maintain_order=True):
            batch.with_columns(s=ps.col("value").scores.rolling(by="key"))

    def read_and_score() -> None:
        scorer = RollingScorer("value", by="key")
        for batch in source.collect_batches(chunk_size=batch_rows, maintain_order=True):
            scorer.score(batch)

    def write_only() -> None:
        with tempfile.TemporaryDirectory(dir=path.parent) as folder:
            source.with_columns(s=pl.col("value")).sink_parquet(Path(folder) / "w.parquet")

    print("stages (in this process):")
    timed("read the batches", read)
    timed("read + kernel per batch (no state)", read_and_kernel)
    timed("read + RollingScorer.score (state join/update)", read_and_score)
    timed("read + write 3 columns (copy plus a column)", write_only)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=100_000_000)
    parser.add_argument("--keys", type=lambda s: int(float(s)), default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    parser.add_argument("--profile", action="store_true", help="time each stage too")
    arguments = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="polars-scores-bench-", dir=arguments.dir))
    try:
        data = folder / "input.parquet"
        start = time.perf_counter()
        write_input(data, arguments.rows, arguments.keys)
        size_mb = data.stat().st_size / 2**20
        print(
            f"input: {arguments.rows:,} rows, {arguments.keys:,} keys, {size_mb:,.0f} MiB "
            f"(written in {time.perf_counter() - start:.1f} s) on {os.cpu_count()} cores, "
            f"polars {pl.__version__}",
            flush=True,
        )
        copy = measure([sys.executable, "-c", COPY, str(data), str(folder / "copy.parquet")])
        (folder / "copy.parquet").unlink()
        score = measure(
            [
                sys.executable, "-m", "polars_scores.cli", "score", str(data),
                "-o", str(folder / "scored.parquet"), "--value", "value", "--by", "key",
                "--batch-rows", str(arguments.batch_rows), "--quiet",
            ]
        )  # fmt: skip
        written = pl.scan_parquet(folder / "scored.parquet").select(pl.len()).collect().item()
        if written != arguments.rows:
            sys.exit(f"streaming_bench: the score wrote {written:,} rows, not {arguments.rows:,}")
        (folder / "scored.parquet").unlink()

        ratio = score["wall_s"] / copy["wall_s"]
        print(f"\n{'':<34}{'wall s':>9}{'peak RSS MB':>13}")
        for label, figures in [
            ("scan_parquet().sink_parquet() copy", copy),
            ("polars-scores score --by key", score),
        ]:
            print(f"{label:<34}{figures['wall_s']:>9.2f}{figures['peak_mb']:>13.0f}")
        rss_ok = score["peak_mb"] <= RSS_TARGET_MB
        wall_ok = ratio <= WALL_TARGET_RATIO
        print(
            f"\nwall ratio score / copy: {ratio:.2f} (target <= {WALL_TARGET_RATIO:g}: "
            f"{'PASS' if wall_ok else 'MISS'})\n"
            f"score peak RSS: {score['peak_mb']:.0f} MB (target <= {RSS_TARGET_MB}: "
            f"{'PASS' if rss_ok else 'MISS'})",
            flush=True,
        )
        if arguments.profile:
            print()
            profile(data, arguments.batch_rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
