"""`polars-scores score --by` on a large parquet file, against a plain parquet copy.

Usage::

    python benchmarks/streaming_bench.py [--rows 100_000_000] [--keys 1_000_000] [--dir DIR]
                                         [--key-type int64|string|categorical|uint64]
                                         [--values random|rounded]
                                         [--batch-rows N] [--repeat N] [--lz4] [--profile]

Writes a parquet file of ``--rows`` rows (a ``key`` with ``--keys`` distinct
values in random order: Int64, or strings ``user-<n>`` with ``--key-type
string`` (as a Categorical with ``categorical``), or UInt64 hashes with
``uint64``; a Float64 ``value``: uniformly random doubles, which no codec can
compress, or with ``--values rounded`` multiples of 0.001 below 1000, which
compress well), then runs, each in a
fresh process, ``pl.scan_parquet(file).sink_parquet(copy)`` and
``polars-scores score file -o out --value value --by key`` and the lazy
query ``scan_scores(scan_parquet(file), "value", by="key").filter(score >
2).sink_parquet(out)``, alternately ``--repeat`` times, and prints the
medians of their wall times, CPU times and peak resident sets (the child's
``ru_maxrss``) and the ratios, against the issue's targets: peak RSS <= 400
MB (both), the score's wall <= 1.5x the copy with Int64 keys and 2x with
strings. On a shared machine the CPU times are the steadier figures.

``--lz4`` also runs both with lz4 output, to show the codec's share (the
score column is nearly incompressible, so zstd spends most on it).
``--profile`` also times, in this process, the stages of the score on their
own (reading, the kernel, the per-key states, writing two or three
columns), to show what dominates. The files go to a temporary folder under ``--dir``
(default: the system's), removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

import polars_scores as ps
from polars_scores.source import DEFAULT_BATCH_ROWS
from polars_scores.stateful import StatefulScorer

RSS_TARGET_MB = 400
# The targets: integer keys index an array, the others need hashing.
WALL_TARGET_RATIOS = {"int64": 1.5, "string": 2.0, "categorical": 2.0, "uint64": 2.0}

# Runs a command as its only child and prints its wall time and peak RSS as JSON
# (RUSAGE_CHILDREN's ru_maxrss is the largest child's, so each command gets a
# parent of its own).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
status = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"status": status, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_mb": usage.ru_maxrss / 1024, "faults": usage.ru_minflt}))
"""

QUERY = (
    "import polars as pl, sys; from polars_scores.source import scan_scores; "
    "scan_scores(pl.scan_parquet(sys.argv[1]), 'value', by='key', batch_rows=int(sys.argv[3]))"
    ".filter(pl.col('value_score') > 2.0).sink_parquet(sys.argv[2])"
)
"""A scored stream that goes on lazily: filtered on the score, then sunk."""

COPY = (
    "import polars as pl, sys; "
    "level = int(sys.argv[4]) if len(sys.argv) > 4 else None; "
    "pl.scan_parquet(sys.argv[1]).sink_parquet("
    "sys.argv[2], compression=sys.argv[3], compression_level=level)"
)
"""Polars' copy of a parquet file: ``python -c COPY IN OUT CODEC [LEVEL]``."""


# Int64 keys index an array; the others are hashed: strings, the same
# strings as a Categorical (user ids read from a parquet file written from
# one), and UInt64 ids spread over the whole range (hashes).
KEY_TYPES = {
    "int64": pl.Int64(),
    "string": pl.String(),
    "categorical": pl.Categorical(),
    "uint64": pl.UInt64(),
}
VALUE_KINDS = ("random", "rounded")


def write_input(
    path: Path,
    rows: int,
    keys: int,
    *,
    key_type: str = "int64",
    values: str = "random",
    chunk: int = 2_000_000,
    first_row: int = 0,
) -> None:
    """`rows` rows of random keys and values, generated and written chunk by
    chunk; the rows of a file written from `first_row` on are those rows of
    one long input (another day's file of the same keys)."""

    def chunks(*_: object) -> Iterator[pl.DataFrame]:
        for start in range(first_row, first_row + rows, chunk):
            end = min(start + chunk, first_row + rows)
            row = pl.int_range(start, end, dtype=pl.Int64)
            key = (row.hash(1) % keys).cast(pl.Int64)
            if key_type in ("string", "categorical"):
                key = pl.format("user-{}", key).cast(KEY_TYPES[key_type])
            elif key_type == "uint64":
                key = key.hash(3)
            if values == "random":
                # 53 random bits: a uniform double in [0, 1).
                value = (row.hash(2) // 2**11).cast(pl.Float64) / 2.0**53
            else:
                value = (row.hash(2) % 1_000_000).cast(pl.Float64) / 1000.0
            yield pl.select(key=key, value=value)

    schema = {"key": KEY_TYPES[key_type], "value": pl.Float64()}
    register_io_source(chunks, schema=schema).sink_parquet(path)


def work_folder(prefix: str, parent: Path | None) -> Path:
    """A new empty folder for a run's files: under `parent` (made if it is
    missing, as ``--dir`` may name a folder not there yet) or else under
    the system's temporary folder."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def measure(command: Sequence[str], folder: Path) -> dict[str, float]:
    # From the repository's root, `-m polars_scores.cli` would import the
    # source tree, which lacks the compiled library: run from the data folder.
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
    )
    if result.returncode != 0:
        sys.exit(f"streaming_bench: measuring {command} failed:\n{result.stderr}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["status"] != 0:
        sys.exit(
            f"streaming_bench: {command} failed with status {figures['status']}:\n{result.stderr}"
        )
    return figures


def profile(path: Path, scored: Path, batch_rows: int) -> None:
    """Each stage of the score timed on its own, in this process (wall and CPU)."""

    def timed(label: str, run: Callable[[], object]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"  {label:<48}{wall:8.2f}{cpu:8.2f}", flush=True)

    source = pl.scan_parquet(path)

    def batches() -> Iterator[pl.DataFrame]:
        return iter(source.collect_batches(chunk_size=batch_rows, maintain_order=True))

    def read_and_kernel() -> None:
        for batch in batches():
            batch.with_columns(s=ps.col("value").scores.rolling(by="key"))

    def read_and_score() -> None:
        scorer = StatefulScorer("value", by="key")
        for batch in batches():
            scorer.score(batch)
        states = scorer._states
        if states is not None and len(states):
            held.append(
                f"{len(states):,} keys in a {states.layout} store, "
                f"{states.heap_bytes() / len(states):.1f} bytes per key"
            )

    held: list[str] = []

    def write(frame: pl.LazyFrame) -> Callable[[], None]:
        return lambda: frame.sink_parquet(path.with_name("profile.parquet"))

    print(f"stages (in this process){'wall s':>33}{'CPU s':>8}")
    timed("read the batches", lambda: sum(batch.height for batch in batches()))
    timed("read + kernel per batch (no state kept)", read_and_kernel)
    timed("read + StatefulScorer.score (kernel + states)", read_and_score)
    timed("copy the input (read + write 2 columns)", write(source))
    timed("copy the output (read + write 3 columns)", write(pl.scan_parquet(scored)))
    path.with_name("profile.parquet").unlink()
    print("\n".join(f"  states: {line}" for line in held))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=100_000_000)
    parser.add_argument("--keys", type=lambda s: int(float(s)), default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    parser.add_argument("--key-type", choices=sorted(KEY_TYPES), default="int64")
    parser.add_argument(
        "--values", choices=VALUE_KINDS, default="random", help="incompressible or rounded"
    )
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternated")
    parser.add_argument("--lz4", action="store_true", help="also both with lz4 output")
    parser.add_argument("--profile", action="store_true", help="time each stage too")
    arguments = parser.parse_args(argv)

    folder = work_folder("polars-scores-bench-", arguments.dir)
    try:
        data, copied, scored = (folder / f"{n}.parquet" for n in ("input", "copy", "scored"))
        start = time.perf_counter()
        write_input(
            data,
            arguments.rows,
            arguments.keys,
            key_type=arguments.key_type,
            values=arguments.values,
        )
        size_mb = data.stat().st_size / 2**20
        print(
            f"input: {arguments.rows:,} rows, {arguments.keys:,} {arguments.key_type} keys, "
            f"{arguments.values} values, {size_mb:,.0f} MiB "
            f"(written in {time.perf_counter() - start:.1f} s); {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}; polars {pl.__version__}",
            flush=True,
        )
        score_command = [
            sys.executable, "-m", "polars_scores.cli", "score", str(data), "-o", str(scored),
            "--value", "value", "--by", "key", "--batch-rows", str(arguments.batch_rows), "-q",
        ]  # fmt: skip
        commands = {
            "scan_parquet().sink_parquet() copy": [
                sys.executable, "-c", COPY, str(data), str(copied), "zstd"
            ],
            "polars-scores score --by key": score_command,
            "scan_scores().filter().sink_parquet()": [
                sys.executable, "-c", QUERY, str(data), str(copied), str(arguments.batch_rows)
            ],
        }  # fmt: skip
        if arguments.lz4:
            commands["copy, lz4"] = [sys.executable, "-c", COPY, str(data), str(copied), "lz4"]
            commands["score, --compression lz4"] = [*score_command, "--compression", "lz4"]
        # Alternated, so that a busy spell on a shared machine hits all alike.
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in commands}
        for _ in range(arguments.repeat):
            for label, command in commands.items():
                runs[label].append(measure(command, folder))
        written = pl.scan_parquet(scored).select(pl.len()).collect().item()
        if written != arguments.rows:
            sys.exit(f"streaming_bench: the score wrote {written:,} rows, not {arguments.rows:,}")
        copied.unlink()
        medians = {
            label: {k: statistics.median(run[k] for run in done) for k in done[0]}
            for label, done in runs.items()
        }
        copy, score = (
            medians["scan_parquet().sink_parquet() copy"],
            medians["polars-scores score --by key"],
        )

        ratio = score["wall_s"] / copy["wall_s"]
        cpu_ratio = score["cpu_s"] / copy["cpu_s"]
        header = f"median of {arguments.repeat} run(s)"
        print(f"\n{header:<40}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>13}")
        for label, figures in medians.items():
            print(
                f"{label:<40}{figures['wall_s']:>9.2f}{figures['cpu_s']:>9.2f}"
                f"{figures['peak_mb']:>13.0f}"
            )
        target = WALL_TARGET_RATIOS[arguments.key_type]
        rss_ok = score["peak_mb"] <= RSS_TARGET_MB
        query_mb = medians["scan_scores().filter().sink_parquet()"]["peak_mb"]
        wall_ok = ratio <= target
        print(
            f"\nwall ratio score / copy: {ratio:.2f} (target <= {target:g}: "
            f"{'PASS' if wall_ok else 'MISS'}); CPU time ratio {cpu_ratio:.2f}\n"
            f"score peak RSS: {score['peak_mb']:.0f} MB (target <= {RSS_TARGET_MB}: "
            f"{'PASS' if rss_ok else 'MISS'}); scan_scores query peak RSS: {query_mb:.0f} MB "
            f"({'PASS' if query_mb <= RSS_TARGET_MB else 'MISS'}); "
            f"load average now {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        if arguments.lz4:
            lz4 = medians["score, --compression lz4"]["wall_s"] / medians["copy, lz4"]["wall_s"]
            print(f"with lz4 on both sides, wall ratio {lz4:.2f}")
        if arguments.profile:
            print()
            profile(data, scored, arguments.batch_rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
