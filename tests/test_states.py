"""Rules with several states (`scores.scan` with a mapping) and your own
aggregations (`scores.fold`), against Python's tuple assignment, bit for bit."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl
import pytest
from helpers import assert_bit_identical, collect_three_ways, cuts, raised
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import evaluate_rule, fold_states_by_key, scan_states_by_key
from test_scan import INPUT_NAMES, floats, frame, rules

import polars_scores  # noqa: F401

STATE_NAMES = ("prev", "level", "trend", "peak")

HOLT = {
    "level": "0.3 * value + 0.7 * (level + trend)",
    "trend": "0.1 * (0.3 * value + 0.7 * (level + trend) - level) + 0.9 * trend",
}
CUSUM = {
    "upper": "max(0.0, upper + value - 0.5)",
    "lower": "max(0.0, lower - value - 0.5)",
}
SESSION = {
    "session": "session + 1 if value - last > 1800 else session",
    "last": "value",
}


@st.composite
def cases(draw: st.DrawFn, *, keyed: bool = False) -> dict[str, object]:
    """A mapping rule of 1 to 4 states, its rows (value, inputs, key) with
    nulls, each state's start and chunk cuts."""
    names = INPUT_NAMES[: draw(st.integers(0, len(INPUT_NAMES)))]
    states = STATE_NAMES[: draw(st.integers(1, len(STATE_NAMES)))]
    length = draw(st.integers(0, 40))
    nullable = st.one_of(st.none(), floats)
    column = st.lists(nullable, min_size=length, max_size=length)
    return {
        "rule": {state: draw(rules((*states, *names), depth=3)) for state in states},
        "values": draw(column),
        "inputs": {name: draw(column) for name in names},
        "keys": draw(
            st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=length, max_size=length)
        )
        if keyed
        else None,
        "initial": {state: draw(st.one_of(st.just(0.0), st.floats(-10, 10))) for state in states},
        "cuts": draw(cuts(length)),
    }


def kwargs(case: dict[str, object]) -> dict[str, object]:
    return {
        "initial": case["initial"],
        "inputs": {name: name for name in case["inputs"]},  # type: ignore[attr-defined]
    }


def want(case: dict[str, object]) -> dict[str, list[float | None]]:
    return scan_states_by_key(
        case["rule"],  # type: ignore[arg-type]
        case["values"],  # type: ignore[arg-type]
        inputs=case["inputs"],  # type: ignore[arg-type]
        keys=case["keys"],  # type: ignore[arg-type]
        initial=case["initial"],  # type: ignore[arg-type]
    )


def assert_states(got: pl.Series, want: Mapping[str, list[float | None]]) -> None:
    """A struct column of Float64 fields, one per state in the rule's order."""
    assert got.dtype == pl.Struct({name: pl.Float64 for name in want})
    fields = got.struct.unnest()
    for name, column in want.items():
        assert_bit_identical(fields[name].to_list(), column)


@settings(max_examples=200)
@given(case=cases())
def test_random_mapping_rules_match_tuple_assignment(case: dict[str, object]) -> None:
    expr = pl.col("x").scores.scan(case["rule"], **kwargs(case))  # type: ignore[arg-type]
    for result in collect_three_ways(frame(case), expr):
        assert_states(result["x"], want(case))


@settings(max_examples=150)
@given(case=cases(keyed=True))
def test_random_mapping_rules_by_key_match_tuple_assignment(case: dict[str, object]) -> None:
    df = frame(case)
    expr = pl.col("x").scores.scan(case["rule"], by="k", **kwargs(case))  # type: ignore[arg-type]
    for result in collect_three_ways(df, expr):
        assert_states(result["x"], want(case))
    over = df.select(pl.col("x").scores.scan(case["rule"], **kwargs(case)).over("k"))  # type: ignore[arg-type]
    assert_states(over["x"], want(case))


@settings(max_examples=150)
@given(case=cases(keyed=True))
def test_random_folds_match_the_last_states(case: dict[str, object]) -> None:
    df = frame(case).with_columns(pl.col("k").fill_null(-1))
    keys = df["k"].to_list()
    last = fold_states_by_key(
        case["rule"],  # type: ignore[arg-type]
        case["values"],  # type: ignore[arg-type]
        inputs=case["inputs"],  # type: ignore[arg-type]
        keys=keys,
        initial=case["initial"],  # type: ignore[arg-type]
    )
    fold = pl.col("x").scores.fold(case["rule"], **kwargs(case))  # type: ignore[arg-type]
    grouped = df.group_by("k", maintain_order=True).agg(fold)
    assert grouped["k"].to_list() == list(last)
    for name in case["rule"]:  # type: ignore[attr-defined]
        got = grouped["x"].struct.field(name).to_list()
        assert_bit_identical(got, [states[name] for states in last.values()])
    by = pl.col("x").scores.fold(case["rule"], by="k", **kwargs(case))  # type: ignore[arg-type]
    for result in collect_three_ways(df, by):
        one_pass = result.unnest("x")
        assert one_pass["k"].to_list() == list(last)
        for name in case["rule"]:  # type: ignore[attr-defined]
            got = one_pass[name].to_list()
            assert_bit_identical(got, [states[name] for states in last.values()])


def test_holt_cusum_and_sessions_match_python_loops() -> None:
    values = (pl.int_range(5000, eager=True).hash(5) % 1000 / 100.0).to_list()
    level, trend = 1.0, 0.0
    upper = lower = 0.0
    session, last = 0.0, 0.0
    holt, cusum, sessions = [], [], []
    for i, v in enumerate(values):
        level, trend = (
            0.3 * v + 0.7 * (level + trend),
            0.1 * (0.3 * v + 0.7 * (level + trend) - level) + 0.9 * trend,
        )
        upper, lower = max(0.0, upper + v - 0.5), max(0.0, lower - v - 0.5)
        t = i * 600.0 * v
        session, last = (session + 1 if t - last > 1800 else session), t
        holt.append((level, trend))
        cusum.append((upper, lower))
        sessions.append(session)
    df = pl.DataFrame({"x": values, "t": [i * 600.0 * v for i, v in enumerate(values)]})
    got = df.select(
        holt=pl.col("x").scores.scan(HOLT, initial={"level": 1.0}),
        cusum=pl.col("x").scores.scan(CUSUM),
        session=pl.col("t").scores.scan(SESSION),
    )
    assert got["holt"].to_list() == [{"level": a, "trend": b} for a, b in holt]
    assert got["cusum"].to_list() == [{"upper": a, "lower": b} for a, b in cusum]
    assert got["session"].struct.field("session").to_list() == sessions
    assert pl.Series(values).scores.fold(HOLT, initial={"level": 1.0}) == {
        "level": level,
        "trend": trend,
    }


def test_several_states_on_threads_are_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 600_000
    df = pl.DataFrame(
        {
            "x": pl.int_range(n, eager=True).hash(7) % 1000 / 10.0 - 30.0,
            "k": pl.int_range(n, eager=True).hash(11) % 50,
        }
    )
    exprs = [
        pl.col("x").scores.scan(rule, by=by).alias(f"{index}-{by}")
        for index, rule in enumerate((HOLT, CUSUM, {"n": "n + 1", "s": "s + value"}))
        for by in (None, "k")
    ]
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", "8")
    parallel = df.select(exprs)
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", "1")
    serial = df.select(exprs)
    for name in serial.columns:
        for field in serial[name].struct.fields:
            assert_bit_identical(
                parallel[name].struct.field(field).to_list(),
                serial[name].struct.field(field).to_list(),
            )


def test_sixteen_states_and_starts_by_expression() -> None:
    rule = {f"s{i}": f"s{i} * 0.5 + value * {i}" for i in range(16)}
    df = pl.DataFrame({"x": [1.0, 2.0, None, 4.0], "start": [3.0, 0.0, 0.0, 0.0]})
    got = df.select(
        pl.col("x").scores.scan(rule, initial={"s0": pl.col("start"), "s15": -1.0})
    ).unnest("x")
    starts = {"s0": 3.0, "s15": -1.0}
    want = scan_states_by_key(rule, df["x"].to_list(), initial=starts)
    for name, column in want.items():
        assert_bit_identical(got[name].to_list(), column)


def test_fold_is_an_aggregation_everywhere() -> None:
    df = pl.DataFrame({"k": ["a", "b", "a", "b", "c"], "x": [1.0, 5.0, 3.0, None, None]})
    fold = pl.col("x").scores.fold("max(prev, value)", initial=-1.0)
    assert df.select(fold).item() == 5.0
    assert df.select(fold.over("k"))["x"].to_list() == [3.0, 5.0, 3.0, 5.0, -1.0]
    grouped = df.group_by("k", maintain_order=True).agg(fold)
    # A group without a non-null row gives the initial state.
    assert grouped.rows() == [("a", 3.0), ("b", 5.0), ("c", -1.0)]
    assert df.lazy().group_by("k").agg(fold).sort("k").collect(engine="streaming").rows() == [
        ("a", 3.0),
        ("b", 5.0),
        ("c", -1.0),
    ]
    dates = pl.DataFrame(
        {
            "t": pl.datetime_range(
                pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 1, 5), "1h", eager=True
            ),
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    dynamic = dates.group_by_dynamic("t", every="2h").agg(pl.col("x").scores.fold("prev + value"))
    assert dynamic["x"].to_list() == [3.0, 7.0, 11.0]
    assert pl.Series("x", [], dtype=pl.Float64).scores.fold("prev + value", initial=2.0) == 2.0


def test_one_expression_rules_keep_float64_and_fold_by_key_names_its_fields() -> None:
    df = pl.DataFrame({"user": ["u1", "u2", "u1"], "x": [1.0, 2.0, 3.0]})
    assert df.select(pl.col("x").scores.scan("prev + value")).schema["x"] == pl.Float64
    one = df.select(pl.col("x").scores.scan({"total": "total + value"}))
    assert one.schema["x"] == pl.Struct({"total": pl.Float64})
    by = df.select(pl.col("x").scores.fold("prev + value", by="user")).unnest("x")
    assert by.rows() == [("u1", 4.0), ("u2", 2.0)]
    assert math.isnan(pl.Series([1.0]).scores.fold("nan"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "initial", "problem"),
    [
        ({}, 0.0, "at least one state"),
        ({"value": "1"}, 0.0, "state name 'value' is taken"),
        ({"dt": "1"}, 0.0, "state name 'dt' is taken"),
        ({"exp": "1"}, 0.0, "state name 'exp' is taken"),
        ({"a b": "1"}, 0.0, "not a Python identifier"),
        ({"a": 1}, 0.0, "the rule of state 'a' must be a string"),
        ({"a": "b"}, 0.0, "unknown name 'b' (known: a, value, dt"),
        ({f"s{i}": "1" for i in range(65)}, 0.0, "at most 64 states"),
        ({"a": "a"}, {"b": 1.0}, "initial names 'b', which is not a state of the rule"),
        ("prev", {"prev": 1.0}, "needs a rule that maps state names"),
        ({"a": "a"}, {"a": "x"}, None),
    ],
)
def test_refused_mapping_rules_name_the_method(
    rule: object, initial: object, problem: str | None
) -> None:
    df = pl.DataFrame({"x": [1.0], "dt": [1.0]})
    for method in ("scores.scan", "scores.fold"):
        function = getattr(pl.col("x").scores, method.removeprefix("scores."))

        def call(function: Callable[..., pl.Expr] = function) -> pl.Expr:
            return function(rule, initial=initial, inputs={"dt": "dt"})

        if problem is None:
            df.select(call())
            continue
        error = raised(call)
        assert isinstance(error, (ValueError, TypeError))
        assert str(error).startswith(f"{method}: ")
        assert problem in str(error)


def test_states_see_the_row_before_not_each_other() -> None:
    # Tuple assignment: b reads a's value before the row, not the new one.
    rule = {"a": "a + value", "b": "a"}
    got = pl.Series("x", [1.0, 2.0, 4.0]).scores.scan(rule).struct.unnest()
    assert got["a"].to_list() == [1.0, 3.0, 7.0]
    assert got["b"].to_list() == [0.0, 1.0, 3.0]
    assert evaluate_rule("a + value", {"a": 3.0, "value": 4.0}) == 7.0


def test_the_example_matches_its_python_loops() -> None:
    example = Path(__file__).parent.parent / "examples" / "several_states.py"
    run = subprocess.run(
        [sys.executable, str(example), "20000"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("bit-identical to the Python loop") == 3
