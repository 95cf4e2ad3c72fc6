"""The benchmark suite runs end to end at a tiny size, so that it never rots.

No timing is asserted: only that every peer runs, agrees with the plugin
(the suite checks that itself) and that the table and chart get written.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from matplotlib.image import imread

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


def test_threads_bench_checks_every_thread_count() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "threads_bench.py"),
            *("--rows", "3000", "--threads", "1,2,3", "--keys", "0,5", "--repeat", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[0].strip() for line in done.stdout.splitlines() if "|" in line]
    assert rows == ["keys", "none", "5"]
    assert "every thread count bit-identical to one thread" in done.stdout
