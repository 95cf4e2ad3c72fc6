"""CSV inputs as people have them: null markers, columns whose first rows are
all empty, a header with no rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import assert_bit_identical, run_cli
from reference import score_by_key
from test_cli import assert_one_line_error


def score(*arguments: str | Path) -> pl.DataFrame:
    output = Path(arguments[0]).with_name("out.parquet")
    done = run_cli("score", *arguments, "-o", output, "--value", "amount", "--by", "k", "-q")
    assert done.returncode == 0, done.stderr
    return pl.read_parquet(output)


def test_null_markers(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("k,amount\n1,N/A\n2,\n1,3.5\n2,-\n1,1.0\n")
    assert_one_line_error(
        run_cli("score", source, "-o", tmp_path / "o.csv", "--value", "amount"), "dtype String"
    )
    scored = score(source, "--null-value", "N/A", "--null-value", "-")
    assert scored["amount"].to_list() == [None, None, 3.5, None, 1.0]
    expected = score_by_key([None, None, 3.5, None, 1.0], [1, 2, 1, 2, 1])
    assert_bit_identical(scored["amount_score"].to_list(), expected)


def test_a_column_empty_in_its_first_rows(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    values: list[float | None] = [None] * 150 + [2.5, 1.0]
    keys = [i % 3 for i in range(len(values))]
    lines = [f"{k},{'' if v is None else v}" for k, v in zip(keys, values, strict=True)]
    source.write_text("k,amount\n" + "\n".join(lines) + "\n")
    assert_one_line_error(
        run_cli("score", source, "-o", tmp_path / "o.csv", "--value", "amount"), "dtype String"
    )
    expected = score_by_key(values, keys)
    for option in (["--infer-rows", "1000"], ["--dtype", "amount=float64"]):
        scored = score(source, *option)
        assert_bit_identical(scored["amount_score"].to_list(), expected)


@pytest.mark.parametrize("command", ["score", "total"])
def test_a_header_alone_is_no_rows(tmp_path: Path, command: str) -> None:
    source = tmp_path / "in.csv"
    source.write_text("k,amount\n")
    output = tmp_path / "out.csv"
    done = run_cli(command, source, "-o", output, "--value", "amount", "--by", "k")
    assert done.returncode == 0, done.stderr
    assert "0 rows read" in done.stderr
    result = pl.read_csv(output)
    assert result.height == 0
    assert result.columns == (
        ["k", "amount", "amount_score"] if command == "score" else ["k", "amount_total"]
    )


def test_csv_options_are_for_csv_inputs(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pl.DataFrame({"k": [1], "amount": [1.0]}).write_parquet(source)
    output = tmp_path / "out.parquet"
    assert_one_line_error(
        run_cli("score", source, "-o", output, "--value", "amount", "--null-value", "NA"),
        "--null-value is for CSV inputs; these are parquet",
    )
    usage = run_cli("score", source, "-o", output, "--value", "amount", "--dtype", "amount=money")
    assert usage.returncode == 2
    assert "expected COLUMN=DTYPE" in usage.stderr
    assert len(usage.stderr.strip().splitlines()) == 1
