"""The benchmark suite runs end to end at a tiny size, so that it never rots.

No timing is asserted: only that every peer runs, agrees with the plugin
(the suite checks that itself) and that the table and chart get written.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from reference import score_by_key, score_series

import polars_scores as ps

pytestmark = pytest.mark.slow


def imread(path: Path) -> np.ndarray:
    """The chart as pixels. Imported here: the bench group (matplotlib) is
    installed wherever the slow tests run, and only there."""
    from matplotlib.image import imread as read

    return np.asarray(read(path))


ROOT = Path(__file__).resolve().parents[1]
SIZES = ("1e3", "2e3")
CASE_TITLES = (
    "## rolling",
    "## rolling per key (100k",
    "## rolling per key (100 keys",
    "## total, eager",
    "## total, lazy streaming",
    "## total in group_by",
    "## dot, Int64 x Float64",
    "## Targets",
    "## Peak memory",
)


def run_benchmark(script: str, *arguments: str) -> str:
    """What `benchmarks/<script>` prints, run with `arguments`; it must succeed."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_suite_writes_its_table_and_chart(tmp_path: Path) -> None:
    # The suite's peers need numba: a missing one is a broken environment.
    assert importlib.util.find_spec("numba") is not None, "numba missing: install the bench group"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "suite.py"),
            "--quick",
            "--sizes",
            ",".join(SIZES),
            "--repeats",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr

    table = (tmp_path / "results.md").read_text()
    assert table in done.stdout
    for title in CASE_TITLES:
        assert title in table, f"{title!r} missing from the results"
    for size in SIZES:
        assert f"| {size} ns/row |" in table
    target_rows = [line for line in table.splitlines() if line.endswith(("| PASS |", "| MISS |"))]
    assert len(target_rows) >= 10

    image = imread(tmp_path / "ns_per_row.png")
    height, width, _ = image.shape
    assert height > 0 and width > 0
    assert (image[..., :3] < 0.99).mean() > 0.01, "the chart is blank"


# Above both parallel thresholds on two threads: 550k rows per thread (one
# series goes parallel from 64k, keys from 512k), 110k rows per key and thread
# with 5 keys (keys need 256).
THREADS_ROWS = 1_100_000
THREADS_KEYS = 5


def test_threads_bench_runs_parallel_and_checks_every_thread_count() -> None:
    stdout = run_benchmark(
        "threads_bench.py",
        *("--rows", str(THREADS_ROWS), "--threads", "1,2"),
        *("--keys", f"0,{THREADS_KEYS}", "--repeat", "1"),
    )
    rows = [line.split("|")[0].strip() for line in stdout.splitlines() if "|" in line]
    assert rows == ["keys", "none", str(THREADS_KEYS)]
    assert "every thread count bit-identical to one thread" in stdout


@pytest.mark.parametrize("threads", [1, 2])
def test_the_benchmarked_inputs_on_forced_threads_match_the_reference(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """The bench checks threads against one thread; this checks both against
    the reference loops, on inputs of the bench's shape and size."""
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", str(threads))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(THREADS_ROWS) * 10.0
    k = rng.integers(0, THREADS_KEYS, THREADS_ROWS)
    frame = pl.DataFrame({"x": x, "k": k})
    got = frame.select(plain=ps.col("x").scores.rolling(), keyed=ps.col("x").scores.rolling(by="k"))
    values, keys = x.tolist(), k.tolist()
    for name, want in [("plain", score_series(values)), ("keyed", score_by_key(values, keys))]:
        assert np.array_equal(
            got[name].to_numpy().view(np.uint64), np.array(want).view(np.uint64)
        ), name


@pytest.mark.parametrize("key_type", ["int64", "string"])
def test_streaming_bench_runs_the_copy_the_score_and_the_query(key_type: str) -> None:
    stdout = run_benchmark(
        "streaming_bench.py",
        *("--rows", "50000", "--keys", "500", "--key-type", key_type, "--batch-rows", "7000"),
    )
    for line in ("copy", "polars-scores score --by key", "scan_scores().filter()"):
        assert line in stdout
    assert "scan_scores query peak RSS" in stdout


def test_totals_bench_runs_the_copy_the_total_and_the_group_by() -> None:
    stdout = run_benchmark(
        "totals_bench.py",
        *("--rows", "50000", "--keys", "500", "--key-type", "string"),
    )
    for line in ("copy", "polars-scores total --by key", "group_by().agg(sum)", "total peak RSS"):
        assert line in stdout


def test_totals_bench_folds_a_rule() -> None:
    stdout = run_benchmark(
        "totals_bench.py",
        *(
            "--rows",
            "20000",
            "--keys",
            "300",
            "--rule",
            "n=n + 1",
            "--rule",
            "top=max(top, value)",
        ),
    )
    assert "polars-scores total --by key --rule" in stdout


def test_saved_states_bench_continues_day_after_day(tmp_path: Path) -> None:
    chart = tmp_path / "days.png"
    stdout = run_benchmark(
        "saved_states_bench.py",
        *("--days", "3", "--rows", "20000", "--keys", "2000", "--chart", str(chart)),
    )
    # The bench checks the continued scores against the rescored history itself.
    assert "equal the rescored history's, bit for bit" in stdout
    assert "state load" in stdout
    assert "the peer, Polars' cum_sum().over('key')" in stdout
    assert imread(chart).shape[0] > 100
