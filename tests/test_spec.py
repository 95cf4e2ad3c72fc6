"""One request, checked once: each public entry builds one spec, parses its
rule once per call, checks a schema once, and names itself in every error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import run_cli

import polars_scores as ps
import polars_scores.spec
from polars_scores import rules
from polars_scores.cli import main
from polars_scores.source import scan_scores
from polars_scores.stateful import RollingScorer, StatefulScorer
from polars_scores.writers import score_to_file, score_to_parquet, total_to_file

RULE = "prev * 0.5 + value * w"


@pytest.fixture
def frame() -> pl.DataFrame:
    n = 40
    return pl.DataFrame(
        {
            "k": [i % 3 for i in range(n)],
            "x": [float(i % 7) - 2 for i in range(n)],
            "y": [float(i % 5) for i in range(n)],
            "w": [0.25 * (i % 4) for i in range(n)],
            "s": [f"s{i}" for i in range(n)],
        }
    )


@pytest.fixture
def source(frame: pl.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "in.parquet"
    frame.write_parquet(path)
    return path


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The rules parsed while the test runs (every parse ends in the emitter)."""
    seen: list[str] = []
    program = rules._Emitter.program

    def counting(self: rules._Emitter, root: Any) -> rules.Program:
        seen.append(self.rule)
        return program(self, root)

    monkeypatch.setattr(rules._Emitter, "program", counting)
    yield seen


@pytest.fixture
def schema_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The value columns checked against a schema while the test runs."""
    seen: list[str] = []
    check = polars_scores.spec.check_columns

    def counting(method: str, schema: Any, value: str, *rest: Any) -> None:
        seen.append(value)
        check(method, schema, value, *rest)

    monkeypatch.setattr(polars_scores.spec, "check_columns", counting)
    return seen


# The rule is parsed once per call of a public function ---------------------------------


def test_scan_scores_parses_once_for_every_value_and_collect(
    frame: pl.DataFrame, parses: list[str], schema_checks: list[str]
) -> None:
    scored = scan_scores(
        frame.lazy(), ["x", "y"], by="k", rule=RULE, inputs={"w": "w"}, batch_rows=7
    )
    first = scored.collect()
    assert scored.collect().equals(first)
    unkeyed = scan_scores(frame.lazy(), ["x", "y"], rule=RULE, inputs={"w": "w"}, batch_rows=7)
    unkeyed.collect()
    assert parses == [RULE, RULE]
    # The columns: once per value, when the stream is built, never per batch.
    assert schema_checks == ["x", "y", "x", "y"]


def test_a_scorer_without_keys_parses_once_and_checks_once_per_schema(
    frame: pl.DataFrame, parses: list[str], schema_checks: list[str]
) -> None:
    scorer = StatefulScorer("x", rule=RULE, inputs={"w": "w"})
    for batch in frame.iter_slices(6):
        scorer.score(batch)
    assert parses == [RULE]
    assert schema_checks == ["x"]
    # A batch of another schema is checked again.
    scorer.score(frame.head(3).cast({"y": pl.Int32}))
    assert schema_checks == ["x", "x"]


def test_writers_and_the_command_parse_once(
    source: Path, tmp_path: Path, parses: list[str]
) -> None:
    written = score_to_file(
        pl.scan_parquet(source),
        tmp_path / "out.csv",
        value=["x", "y"],
        rule=RULE,
        inputs={"w": "w"},
        batch_rows=5,
    )
    assert written == 40
    assert parses == [RULE]
    status = main(
        ["score", str(source), "-o", str(tmp_path / "cli.parquet"), "--value", "x",
         "--value", "y", "--rule", RULE, "--input", "w=w", "--batch-rows", "5", "-q"]
    )  # fmt: skip
    assert status == 0
    assert parses == [RULE, RULE]
    assert pl.read_parquet(tmp_path / "cli.parquet").equals(pl.read_csv(tmp_path / "out.csv"))


def test_the_namespace_parses_once(frame: pl.DataFrame, parses: list[str]) -> None:
    frame.select(pl.col("x").scores.scan(RULE, by="k", inputs={"w": "w"}))
    frame["x"].scores.scan(RULE, inputs={"w": frame["w"]})
    assert parses == [RULE, RULE]


# Every error names the entry the user called -------------------------------------------

BAD_RULE = "prev.real"

ENTRIES: dict[str, Callable[[pl.DataFrame, Path], object]] = {
    "scores.scan": lambda frame, out: pl.col("x").scores.scan(BAD_RULE),
    "scores.rolling": lambda frame, out: pl.col("x").scores.rolling(by=3),  # type: ignore[arg-type]
    "StatefulScorer": lambda frame, out: StatefulScorer("x", rule=BAD_RULE),
    "RollingScorer": lambda frame, out: RollingScorer("x", rule=BAD_RULE),
    "scan_scores": lambda frame, out: scan_scores(frame.lazy(), "x", rule=BAD_RULE),
    "score_to_file": lambda frame, out: score_to_file(frame.lazy(), out, value="x", rule=BAD_RULE),
    "score_to_parquet": lambda frame, out: score_to_parquet(
        frame.lazy(), out, value="x", rule=BAD_RULE
    ),
    "total_to_file": lambda frame, out: total_to_file(frame.lazy(), out, value="nope"),
}


@pytest.mark.parametrize("method", list(ENTRIES))
def test_an_error_names_the_entry(frame: pl.DataFrame, tmp_path: Path, method: str) -> None:
    with pytest.raises((ValueError, TypeError, pl.exceptions.PolarsError)) as caught:
        ENTRIES[method](frame, tmp_path / "out.parquet")
    assert str(caught.value).startswith(f"{method}: "), caught.value
    assert getattr(caught.value, "method", None) == method
    assert not (tmp_path / "out.parquet").exists()


def test_a_series_error_names_the_series_method() -> None:
    with pytest.raises(ValueError, match=r"^scores\.scan: an attribute"):
        pl.Series("x", [1.0]).scores.scan(BAD_RULE)
    with pytest.raises(TypeError, match=r"^scores\.scan: input 'w' must be a Series"):
        pl.Series("x", [1.0]).scores.scan("prev + w", inputs={"w": "w"})  # type: ignore[dict-item]


def test_a_batch_error_names_the_scorer_method(frame: pl.DataFrame) -> None:
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match=r"^StatefulScorer\.score: no"):
        StatefulScorer("nope").score(frame)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match=r"^RollingScorer\.score: no"):
        RollingScorer("nope").score(frame)


@pytest.mark.parametrize(
    ("command", "arguments", "words"),
    [
        ("score", ["--value", "x", "--rule", BAD_RULE], ["an attribute", "'prev.real'"]),
        ("score", ["--value", "nope"], ["no column 'nope'", "'k', 'x'"]),
        ("score", ["--value", "s"], ["column 's' has dtype String"]),
        ("total", ["--value", "nope"], ["no column 'nope'"]),
        ("total", ["--value", "x", "--exponent", "nan"], ["--exponent must be finite"]),
    ],
)
def test_the_command_names_itself_once(
    source: Path, tmp_path: Path, command: str, arguments: list[str], words: list[str]
) -> None:
    result = run_cli(command, source, "-o", tmp_path / "out.parquet", *arguments)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"polars-scores {command}: error: "), lines[0]
    assert lines[0].count("polars-scores") == 1, lines[0]
    for word in words:
        assert word in lines[0]


# Parameters that make another meaningless are refused, naming both ----------------------


@pytest.mark.parametrize("given", [{"rise": 0.8}, {"fall": 0.4}, {"rise": 0.9, "fall": 0.5}])
def test_rise_or_fall_with_a_rule_is_refused(
    frame: pl.DataFrame, tmp_path: Path, given: dict[str, float]
) -> None:
    parameter = next(iter(given))
    calls: list[Callable[[], object]] = [
        lambda: scan_scores(frame.lazy(), "x", rule="prev + value", **given),  # type: ignore[arg-type]
        lambda: StatefulScorer("x", rule="prev + value", **given),  # type: ignore[arg-type]
        lambda: score_to_file(
            frame.lazy(),
            tmp_path / "o.parquet",
            value="x",
            rule="prev + value",
            **given,  # type: ignore[arg-type]
        ),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=rf"{parameter} has no effect with rule"):
            call()
    # Without a rule, the same values are the rolling score's.
    StatefulScorer("x", **given)  # type: ignore[arg-type]


def test_rise_or_fall_with_a_rule_is_refused_by_the_command(source: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.parquet"
    for option in ("--rise", "--fall"):
        result = run_cli(
            "score", source, "-o", output, "--value", "x", option, "0.5", "--rule", "prev + value"
        )
        assert result.returncode == 1
        assert f"{option} has no effect with --rule" in result.stderr
    result = run_cli("score", source, "-o", output, "--value", "x", "--input", "w=w")
    assert result.returncode == 1
    assert "--input needs --rule" in result.stderr
    assert not output.exists()


def test_inputs_without_a_rule_are_refused(frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"^StatefulScorer: inputs need a rule"):
        StatefulScorer("x", inputs={"w": "w"})


# The spec itself ------------------------------------------------------------------------


def test_the_spec_is_immutable_and_travels_as_plain_values() -> None:
    spec = polars_scores.spec.score_spec(
        "scan_scores", ["x", "y"], by="k", rule=RULE, inputs={"w": "w"}, several=True
    )
    with pytest.raises(AttributeError):
        spec.rise = 0.1  # type: ignore[misc]
    assert polars_scores.spec.ScoreSpec.from_plain(spec.plain()) == spec


def test_col_is_a_scores_expr() -> None:
    expr = ps.col("x")
    assert isinstance(expr, ps.ScoresExpr)
    assert isinstance(expr, pl.Expr)
    got = pl.DataFrame({"x": [1.0, 0.5]}).select(expr.scores.rolling())["x"].to_list()
    assert got == [1.0, 0.5]
