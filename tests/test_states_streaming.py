"""Rules with several states where the rows arrive in batches: StatefulScorer,
scan_scores, the writers, the command line (`--rule NAME=EXPR`) and
`total --rule`, against Python's tuple assignment."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
from helpers import assert_bit_identical, run_cli
from reference import fold_states_by_key, scan_states_by_key

import polars_scores  # noqa: F401
from polars_scores.rules import rule_from_options
from polars_scores.source import scan_scores
from polars_scores.stateful import StatefulScorer
from polars_scores.writers import total_to_file

RULE = {"peak": "max(peak, value * w)", "n": "n + 1 if value > 0 else n"}


def events(rows: int = 3000) -> pl.DataFrame:
    index = pl.int_range(rows, eager=True)
    return pl.DataFrame(
        {
            "user": (index.hash(3) % 40).cast(pl.String).str.replace("^", "user-"),
            "x": (index.hash(5) % 1000 / 100.0 - 4.0).cast(pl.Float64),
            "w": (index.hash(7) % 10 / 10.0).cast(pl.Float64),
        }
    ).with_columns(x=pl.when(pl.col("x") > 4.5).then(None).otherwise(pl.col("x")))


def want(df: pl.DataFrame, *, by: bool) -> dict[str, list[float | None]]:
    return scan_states_by_key(
        RULE,
        df["x"].to_list(),
        inputs={"w": df["w"].to_list()},
        keys=df["user"].to_list() if by else None,
        initial={"peak": -math.inf},
    )


@pytest.mark.parametrize("by", [True, False])
def test_batches_through_the_scorer_equal_one_pass(by: bool) -> None:
    df = events()
    scorer = StatefulScorer(
        "x", by="user" if by else (), rule=RULE, inputs={"w": "w"}, initial={"peak": -math.inf}
    )
    assert scorer.columns == ("x_peak", "x_n")
    parts = [scorer.score(batch) for batch in df.iter_slices(700)]
    scored = pl.concat(parts)
    for state, column in want(df, by=by).items():
        assert_bit_identical(scored[f"x_{state}"].to_list(), column)


def test_scan_scores_names_a_column_per_state(tmp_path: Path) -> None:
    df = events()
    path = tmp_path / "events.parquet"
    df.write_parquet(path, row_group_size=500)
    lazy = scan_scores(
        pl.scan_parquet(path),
        value="x",
        by="user",
        rule=RULE,
        inputs={"w": "w"},
        initial={"peak": -math.inf},
        name="s",
        batch_rows=900,
    )
    assert lazy.collect_schema().names()[-2:] == ["s_peak", "s_n"]
    got = lazy.collect()
    for state, column in want(df, by=True).items():
        assert_bit_identical(got[f"s_{state}"].to_list(), column)
    # Only the columns asked for are read and scored.
    assert lazy.select("s_n").collect()["s_n"].to_list() == want(df, by=True)["n"]


def test_the_cli_reads_one_rule_per_state(tmp_path: Path) -> None:
    df = events()
    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    df.write_parquet(source)
    run = run_cli(
        "score", source, "-o", output, "--value", "x", "--by", "user", "--input", "w=w",
        "--rule", "peak = max(peak, value * w)", "--rule", "n=n + 1 if value > 0 else n",
        "--initial", "0",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = pl.read_parquet(output)
    ref = scan_states_by_key(
        RULE, df["x"].to_list(), inputs={"w": df["w"].to_list()}, keys=df["user"].to_list()
    )
    for state, column in ref.items():
        assert_bit_identical(got[f"x_{state}"].to_list(), column)
    mixed = run_cli(
        "score", source, "-o", output, "--value", "x", "--rule", "a=a+1", "--rule", "value"
    )  # fmt: skip
    assert mixed.returncode == 1
    assert "--rule 'value' has no NAME=" in mixed.stderr


def test_rule_options_never_read_a_comparison_as_a_name() -> None:
    assert rule_from_options("m", ["prev == value"]) == "prev == value"
    with pytest.raises(ValueError, match="has no NAME="):
        rule_from_options("m", ["a == 1", "b=2"])
    with pytest.raises(ValueError, match="gives state 'a' twice"):
        rule_from_options("m", ["a=1", "a=2"])


def test_total_with_a_rule_folds_each_key_in_bounded_memory(tmp_path: Path) -> None:
    df = events(5000)
    source = tmp_path / "in.parquet"
    df.write_parquet(source, row_group_size=1000)
    output = tmp_path / "folded.csv"
    written = total_to_file(
        pl.scan_parquet(source),
        output,
        value="x",
        by="user",
        rule=RULE,
        inputs={"w": "w"},
        initial={"peak": -math.inf},
    )
    last = fold_states_by_key(
        RULE,
        df["x"].to_list(),
        inputs={"w": df["w"].to_list()},
        keys=df["user"].to_list(),
        initial={"peak": -math.inf},
    )
    got = pl.read_csv(output)
    assert written == len(last) == got.height
    assert got.columns == ["user", "x_peak", "x_n"]
    want_rows = sorted((key, states["peak"], states["n"]) for key, states in last.items())
    assert got.rows() == want_rows
    cli = tmp_path / "cli.parquet"
    run = run_cli(
        "total", source, "-o", cli, "--value", "x", "--by", "user", "--rule", "prev + value",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    keys = df["user"].to_list()
    sums = fold_states_by_key({"prev": "prev + value"}, df["x"].to_list(), keys=keys)
    assert pl.read_parquet(cli).rows() == sorted((k, s["prev"]) for k, s in sums.items())
    refused = run_cli(
        "total", source, "-o", cli, "--value", "x", "--rule", "prev", "--exponent", "2"
    )  # fmt: skip
    assert refused.returncode == 1
    assert "--exponent has no effect with --rule" in refused.stderr
