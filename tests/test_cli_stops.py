"""The command line stopped by Ctrl-C, pressed once or repeatedly, and an
output that it replaces: one line of report, the exit status of the signal,
the old output's permissions kept."""

from __future__ import annotations

import signal
import stat
import time
from pathlib import Path

import polars as pl
import pytest
from helpers import run_cli
from test_cli import long_input, start_slow_score  # noqa: F401  (a fixture and its helper)

from polars_scores import durable
from polars_scores.writers import score_to_file

INTERRUPTED = ["polars-scores score: error: interrupted; no output written"]


@pytest.mark.parametrize("gap", [0.0, 0.005, 0.05])
@pytest.mark.parametrize("delay", [0.0, 0.1, 0.2])
def test_ctrl_c_pressed_again_and_again_during_a_csv_write(
    long_input: Path,  # noqa: F811
    gap: float,
    delay: float,
) -> None:
    output = long_input.with_name("out.csv")
    process = start_slow_score(long_input, output)
    time.sleep(delay)
    for _ in range(5):
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGINT)
        time.sleep(gap)
    _, stderr = process.communicate(timeout=60)
    # Polars' own SIGINT abort never runs (its threads' panics would print
    # a backtrace), and a later Ctrl-C neither interrupts the cleanup nor
    # kills the process as it exits.
    assert (process.returncode, stderr.strip().splitlines()) == (130, INTERRUPTED)
    assert not output.exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_replaced_output_keeps_its_permissions(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / "in.csv"
    source.write_text("k,x\n1,1.0\n1,2.0\n")
    output = tmp_path / f"out{suffix}"
    output.write_text("old")
    output.chmod(0o440)
    done = run_cli("score", source, "-o", output, "--value", "x", "-q")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o440
    read = pl.read_csv if suffix == ".csv" else pl.read_parquet
    assert read(output)["x_score"].to_list() == [1.0, 2.9]


def test_a_named_work_file_keeps_the_permissions_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the system makes no unnamed file (no O_TMPFILE), a hidden one.
    monkeypatch.setattr(durable, "_unnamed_file", lambda *_: None)
    output = tmp_path / "out.csv"
    output.write_text("old")
    output.chmod(0o604)
    frame = pl.LazyFrame({"x": [1.0, 2.0]})
    assert score_to_file(frame, output, value="x") == 2
    assert stat.S_IMODE(output.stat().st_mode) == 0o604
    assert pl.read_csv(output)["x_score"].to_list() == [1.0, 2.9]
