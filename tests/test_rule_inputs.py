"""Boolean inputs of rules and non-finite start states, at every entry that
scores, against the Python loop (``if flag:``, ``float(True)``)."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
from helpers import assert_bit_identical, run_cli
from reference import scan_by_key, score_by_key, score_series

import polars_scores  # noqa: F401
from polars_scores.source import scan_scores
from polars_scores.stateful import StatefulScorer
from polars_scores.writers import score_to_file

FRAME = pl.DataFrame(
    {
        "k": [1, 2, 1, 1, 2, 1, 2],
        "t": [5.0, 6.0, 7.0, None, 9.0, 20.0, 21.0],
        "click": [True, False, None, True, True, False, True],
    }
)
RULES = ["value if click else prev", "prev + click", "prev * 2 if not click else click + prev"]


def reference(rule: str, *, keys: bool = False, initial: float = 0.0) -> list[float | None]:
    """The rule over FRAME in the Python loop, the flag as Python's bool."""
    return scan_by_key(
        rule,
        FRAME["t"].to_list(),
        inputs={"click": FRAME["click"].to_list()},
        keys=FRAME["k"].to_list() if keys else None,
        initial=initial,
    )


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("initial", [0.0, math.nan, math.inf])
def test_a_boolean_input_is_a_condition_and_a_number(rule: str, initial: float) -> None:
    inputs = {"click": "click"}
    one = FRAME.select(pl.col("t").scores.scan(rule, inputs=inputs, initial=initial))
    assert_bit_identical(one["t"].to_list(), reference(rule, initial=initial))
    keyed = FRAME.select(pl.col("t").scores.scan(rule, inputs=inputs, by="k", initial=initial))
    assert_bit_identical(keyed["t"].to_list(), reference(rule, keys=True, initial=initial))
    for by in ([], ["k"]):
        scorer = StatefulScorer("t", by=by, rule=rule, inputs=inputs, initial=initial)
        got = pl.concat([scorer.score(FRAME[:3]), scorer.score(FRAME[3:])])
        assert_bit_identical(
            got["t_score"].to_list(), reference(rule, keys=bool(by), initial=initial)
        )
        streamed = scan_scores(
            FRAME.lazy(), "t", by=by, rule=rule, inputs=inputs, initial=initial, batch_rows=2
        ).collect()
        assert_bit_identical(
            streamed["t_score"].to_list(), reference(rule, keys=bool(by), initial=initial)
        )


def test_files_and_the_command_line_read_boolean_inputs_and_nan_starts(tmp_path: Path) -> None:
    rule = RULES[0]
    FRAME.write_parquet(tmp_path / "in.parquet")
    assert (
        score_to_file(
            pl.scan_parquet(tmp_path / "in.parquet"),
            tmp_path / "out.parquet",
            value="t",
            rule=rule,
            inputs={"click": "click"},
            initial=math.nan,
        )
        == FRAME.height
    )
    expected = reference(rule, initial=math.nan)
    assert_bit_identical(pl.read_parquet(tmp_path / "out.parquet")["t_score"].to_list(), expected)
    done = run_cli(
        "score", tmp_path / "in.parquet", "-o", tmp_path / "cli.parquet", "--value", "t",
        "--rule", rule, "--input", "click=click", "--initial", "nan",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_bit_identical(pl.read_parquet(tmp_path / "cli.parquet")["t_score"].to_list(), expected)


@pytest.mark.parametrize("initial", [math.nan, math.inf, -math.inf])
def test_non_finite_starts_as_numbers_equal_them_as_expressions(initial: float) -> None:
    frame = pl.DataFrame({"k": [1, 2, 1, 2], "x": [1.0, 3.0, None, 0.5], "s": [initial] * 4})
    values, keys = frame["x"].to_list(), frame["k"].to_list()
    for by in (None, "k"):
        number = frame.select(pl.col("x").scores.rolling(initial=initial, by=by))["x"]
        column = frame.select(pl.col("x").scores.rolling(initial="s", by=by))["x"]
        expected = (
            score_by_key(values, keys, initial=initial)
            if by
            else score_series(values, initial=initial)
        )
        assert_bit_identical(number.to_list(), expected)
        assert_bit_identical(column.to_list(), expected)
    scorer = StatefulScorer("x", by="k", initial=initial)
    assert_bit_identical(
        scorer.score(frame)["x_score"].to_list(), score_by_key(values, keys, initial=initial)
    )


def test_inputs_of_another_dtype_are_refused_naming_the_column() -> None:
    frame = FRAME.with_columns(label=pl.lit("a"))
    expr = pl.col("t").scores.scan("prev + flag", inputs={"flag": "label"})
    with pytest.raises(
        pl.exceptions.ComputeError, match=r"scores\.scan: input column 'label' has dtype str"
    ):
        frame.lazy().select(expr).collect_schema()
    # Where the columns are named, their dtypes are checked when the call is made.
    with pytest.raises(
        pl.exceptions.InvalidOperationError,
        match=r"^scan_scores: input column 'label' has dtype String",
    ):
        scan_scores(frame.lazy(), "t", rule="prev + flag", inputs={"flag": "label"})
    with pytest.raises(
        pl.exceptions.InvalidOperationError, match=r"^StatefulScorer.score: input column 'label'"
    ):
        StatefulScorer("t", by="k", rule="prev + flag", inputs={"flag": "label"}).score(frame)


def test_scan_scores_and_the_writers_take_expressions_as_inputs(tmp_path: Path) -> None:
    frame = FRAME.with_columns(x=pl.Series([1.0, 2.0, None, 0.5, 3.0, 1.0, 4.0]))
    rule = "prev * exp(-gap) + value if late else prev"
    inputs = {"gap": pl.col("t").diff().fill_null(0.0), "late": pl.col("t") > 6, "click": "click"}
    rule += " + click"
    expected = frame.select(pl.col("x").scores.scan(rule, inputs=inputs, by="k"))["x"]
    streamed = scan_scores(frame.lazy(), "x", by="k", rule=rule, inputs=inputs, batch_rows=2)
    # The inputs computed from expressions are read, not shown.
    assert streamed.collect_schema().names() == [*frame.columns, "x_score"]
    assert_bit_identical(streamed.collect()["x_score"].to_list(), expected.to_list())
    assert_bit_identical(
        streamed.select("x_score").collect()["x_score"].to_list(), expected.to_list()
    )
    assert streamed.select("k").collect()["k"].equals(frame["k"])
    output = tmp_path / "out.csv"
    written = score_to_file(frame.lazy(), output, value="x", by="k", rule=rule, inputs=inputs)
    assert written == frame.height
    result = pl.read_csv(output)
    assert result.columns == [*frame.columns, "x_score"]
    assert_bit_identical(result["x_score"].to_list(), expected.to_list())
