"""The ``polars-scores`` command, run as a subprocess."""

from __future__ import annotations

import doctest
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import assert_bit_identical
from reference import total as reference_total

import polars_scores as ps
import polars_scores.cli

OLD = b"an earlier output that a failed run must leave alone"


def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polars_scores.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    n = 3000
    frame = pl.DataFrame(
        {
            "user": [(i * 7) % 53 if i % 29 else None for i in range(n)],
            "amount": [float((i * 11) % 19) - 3 if i % 23 else None for i in range(n)],
            "label": [f"r{i}" for i in range(n)],
        },
        schema={"user": pl.Int32, "amount": pl.Float64, "label": pl.String},
    )
    path = tmp_path / "data.parquet"
    frame.write_parquet(path, row_group_size=500)
    return path


def test_score_by_key(data: Path) -> None:
    output = data.with_name("scored.parquet")
    result = run("score", data, "-o", output, "--value", "amount", "--by", "user")
    assert result.returncode == 0, result.stderr
    frame = pl.read_parquet(data)
    got = pl.read_parquet(output)
    assert got.columns == ["user", "amount", "label", "amount_score"]
    assert got.drop("amount_score").equals(frame)
    expected = frame.select(ps.col("amount").scores.rolling(by="user")).to_series()
    assert_bit_identical(got["amount_score"].to_list(), expected.to_list())
    assert f"{frame.height:,} rows" in result.stderr
    assert sorted(p.name for p in data.parent.iterdir()) == ["data.parquet", "scored.parquet"]


def test_score_parameters_glob_and_folder(data: Path) -> None:
    frame = pl.read_parquet(data)
    folder = data.parent / "parts"
    folder.mkdir()
    for i, part in enumerate(frame.iter_slices(1000)):
        part.write_parquet(folder / f"part-{i}.parquet")
    expected = frame.select(
        ps.col("amount").scores.rolling(rise=0.8, fall=0.3, initial=2.0)
    ).to_series()
    for source in (folder, folder / "part-*.parquet"):
        output = data.parent / "out.parquet"
        result = run(
            "score", source, "-o", output, "--value", "amount", "--rise", "0.8",
            "--fall", "0.3", "--initial", "2", "--name", "s", "--batch-rows", "333", "-q",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        got = pl.read_parquet(output)
        assert got.drop("s").equals(frame)
        assert_bit_identical(got["s"].to_list(), expected.to_list())


def test_total(data: Path) -> None:
    output = data.with_name("totals.parquet")
    result = run(
        "total", data, "-o", output, "--value", "amount", "--by", "user", "--exponent", "2",
        "--compression", "lz4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frame = pl.read_parquet(data)
    got = pl.read_parquet(output)
    assert got.columns == ["user", "amount_total"]
    assert got["user"].to_list() == sorted(
        frame["user"].unique().to_list(), key=lambda k: (k is None, k)
    )
    for user, total in got.iter_rows():
        values = frame.filter(pl.col("user").eq_missing(user))["amount"].to_list()
        assert math.isclose(total, reference_total(values, exponent=2), rel_tol=1e-12)


def test_demo() -> None:
    result = run("demo", "--rows", "30000", "--keys", "40")
    assert result.returncode == 0, result.stderr
    assert "bit-identical to the Python loop" in result.stdout
    assert "Python loops" in result.stdout


@pytest.mark.parametrize("command", [[], ["score"], ["total"], ["demo"]])
def test_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout


@pytest.fixture
def old_output(data: Path) -> Path:
    output = data.with_name("out.parquet")
    output.write_bytes(OLD)
    return output


def test_missing_input(data: Path, old_output: Path) -> None:
    missing = data.with_name("nope.parquet")
    result = run("score", missing, "-o", old_output, "--value", "amount")
    assert_one_line_error(result, "nope.parquet", "no such file")
    result = run("total", data.parent / "*.nothing", "-o", old_output, "--value", "amount")
    assert_one_line_error(result, "no file matches")
    assert old_output.read_bytes() == OLD


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pages"])
def test_corrupt_parquet(data: Path, old_output: Path, damage: str) -> None:
    bad = data.with_name("bad.parquet")
    content = bytearray(data.read_bytes())
    if damage == "garbage":
        content = bytearray(b"not parquet at all" * 10)
    elif damage == "truncated":
        content = content[:-100]
    else:
        # The footer is intact, so this fails only once the data is read.
        for at in range(len(content) // 4, len(content) // 2, 97):
            content[at] ^= 0x5A
    bad.write_bytes(bytes(content))
    for command in ("score", "total"):
        result = run(command, bad, "-o", old_output, "--value", "amount")
        assert_one_line_error(result, "bad.parquet")
        assert "cannot read" in result.stderr or "failed on" in result.stderr
    assert old_output.read_bytes() == OLD
    assert sorted(p.name for p in data.parent.iterdir()) == [
        "bad.parquet",
        "data.parquet",
        "out.parquet",
    ]


def test_unknown_column_lists_the_available_ones(data: Path, old_output: Path) -> None:
    result = run("score", data, "-o", old_output, "--value", "amont")
    assert_one_line_error(result, "'amont'", "'user', 'amount', 'label'")
    result = run("total", data, "-o", old_output, "--value", "amount", "--by", "usr")
    assert_one_line_error(result, "'usr'", "'user', 'amount', 'label'")
    assert old_output.read_bytes() == OLD


def test_non_numeric_column(data: Path, old_output: Path) -> None:
    for command in ("score", "total"):
        result = run(command, data, "-o", old_output, "--value", "label")
        assert_one_line_error(result, "'label'", "String", "numeric")
    assert old_output.read_bytes() == OLD


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["score", "--rise", "nan"], ["--rise", "finite"]),
        (["score", "--fall", "x"], ["--fall", "not a number"]),
        (["score", "--batch-rows", "0"], ["--batch-rows", "at least 1"]),
        (["total", "--exponent", "inf"], ["--exponent", "finite"]),
        (["score", "--name", "label"], ["'label'", "replace"]),
        (["score"], ["-o"]),
    ],
)
def test_bad_parameters(
    data: Path, old_output: Path, arguments: list[str], words: list[str]
) -> None:
    command, *rest = arguments
    output: list[str | Path] = [] if arguments == ["score"] else ["-o", old_output]
    result = run(command, data, *output, "--value", "amount", *rest)
    assert_one_line_error(result, *words)
    assert old_output.read_bytes() == OLD


def test_missing_output_folder(data: Path) -> None:
    output = data.parent / "no" / "such" / "out.parquet"
    result = run("score", data, "-o", output, "--value", "amount")
    assert_one_line_error(result, "does not exist")


@pytest.fixture
def long_input(tmp_path: Path) -> Path:
    n = 400_000
    path = tmp_path / "long.parquet"
    pl.select(k=pl.int_range(n) % 1000, x=(pl.int_range(n) % 97).cast(pl.Float64)).write_parquet(
        path
    )
    return path


@pytest.mark.parametrize("kill", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("existing", [False, True])
def test_a_run_killed_midway_leaves_no_output(
    long_input: Path, kill: signal.Signals, existing: bool
) -> None:
    output = long_input.with_name("out.parquet")
    if existing:
        output.write_bytes(OLD)
    # Tiny batches make the run last long enough to be interrupted.
    process = subprocess.Popen(
        [sys.executable, "-m", "polars_scores.cli", "score", str(long_input), "-o",
         str(output), "--value", "x", "--by", "k", "--batch-rows", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(long_input.parent.glob(".out.parquet.*.partial")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(kill)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    if existing:
        assert output.read_bytes() == OLD
    else:
        assert not output.exists()
    if kill != signal.SIGKILL:
        assert process.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[kill]
        what = "interrupted" if kill == signal.SIGINT else "terminated"
        assert stderr.strip().splitlines() == [
            f"polars-scores score: error: {what}; no output written"
        ]
        # Only a SIGKILL can leave the hidden partial file behind.
        assert not list(long_input.parent.glob(".out.parquet.*"))


def test_docstring_examples() -> None:
    results = doctest.testmod(polars_scores.cli, verbose=False, report=True)
    assert results.attempted > 0
    assert results.failed == 0
