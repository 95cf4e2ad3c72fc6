"""`scores.scan` against the Python reference (the rule evaluated over floats), bit for bit."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import polars as pl
import pytest
from helpers import assert_bit_identical, chunked, collect_three_ways, cuts, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import evaluate_rule, scan_by_key

import polars_scores  # noqa: F401
from polars_scores.stateful import StatefulScorer
from polars_scores.writers import score_to_parquet

INPUT_NAMES = ("dt", "w")

special = st.sampled_from(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        math.inf,
        -math.inf,
        math.nan,
        5e-324,
        2.2250738585072014e-308,
        1e308,
    ]
)
floats = st.one_of(special, st.floats(-1e3, 1e3), st.floats(allow_nan=True, allow_infinity=True))
literals = st.one_of(
    st.sampled_from(["0", "1", "2", "3", "0.5", "0.9", "1e308", "5e-324", "inf", "nan", "1e-300"]),
    st.floats(-100, 100).map(lambda x: repr(abs(x))),
    st.integers(0, 10**20).map(str),
)


@st.composite
def rules(draw: st.DrawFn, names: tuple[str, ...], depth: int = 4) -> str:
    """A rule string drawn from the whole grammar, fully parenthesised."""
    leaf = st.one_of(literals, st.sampled_from(("prev", "value", *names)))
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(leaf)
    sub = rules(names, depth - 1)
    kind = draw(st.sampled_from(["binary", "unary", "function", "fold", "if"]))
    if kind == "binary":
        op = draw(st.sampled_from(["+", "-", "*", "/", "**"]))
        return f"({draw(sub)}) {op} ({draw(sub)})"
    if kind == "unary":
        return f"{draw(st.sampled_from(['-', '+']))}({draw(sub)})"
    if kind == "function":
        function = draw(st.sampled_from(["abs", "sqrt", "exp", "log", "floor", "ceil"]))
        return f"{function}({draw(sub)})"
    if kind == "fold":
        args = draw(st.lists(sub, min_size=2, max_size=3))
        return f"{draw(st.sampled_from(['min', 'max']))}({', '.join(args)})"
    return f"({draw(sub)}) if {draw(conditions(names, depth - 1))} else ({draw(sub)})"


@st.composite
def conditions(draw: st.DrawFn, names: tuple[str, ...], depth: int) -> str:
    """A condition: comparisons (chained too) and bare names (their truth, as
    Python's ``if x``), joined by and, or, not."""
    kinds = ["compare", "chain", "logic", "not", "name"] if depth else ["compare", "name"]
    kind = draw(st.sampled_from(kinds))
    compare = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
    number = rules(names, max(depth - 1, 0))
    if kind == "compare":
        return f"({draw(number)}) {draw(compare)} ({draw(number)})"
    if kind == "name":
        return draw(st.sampled_from(("prev", "value", *names)))
    if kind == "chain":
        a, b, c = draw(number), draw(number), draw(number)
        return f"({a}) {draw(compare)} ({b}) {draw(compare)} ({c})"
    inner = conditions(names, depth - 1)
    if kind == "not":
        return f"not ({draw(inner)})"
    return f"({draw(inner)}) {draw(st.sampled_from(['and', 'or']))} ({draw(inner)})"


@st.composite
def cases(draw: st.DrawFn, *, keyed: bool = False) -> dict[str, object]:
    """A rule, its rows (value, inputs, key) with nulls, a start state and chunk cuts."""
    names = INPUT_NAMES[: draw(st.integers(0, len(INPUT_NAMES)))]
    length = draw(st.integers(0, 40))
    nullable = st.one_of(st.none(), floats)
    return {
        "rule": draw(rules(names)),
        "values": draw(st.lists(nullable, min_size=length, max_size=length)),
        "inputs": {
            name: draw(st.lists(nullable, min_size=length, max_size=length)) for name in names
        },
        "keys": draw(
            st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=length, max_size=length)
        )
        if keyed
        else None,
        "initial": draw(st.one_of(st.just(0.0), st.floats(-10, 10))),
        "cuts": draw(cuts(length)),
    }


def frame(case: dict[str, object]) -> pl.DataFrame:
    columns = {"x": case["values"], **case["inputs"]}  # type: ignore[dict-item]
    if case["keys"] is not None:
        columns["k"] = case["keys"]
    df = pl.DataFrame(columns, schema_overrides={name: pl.Float64 for name in ("x", *INPUT_NAMES)})
    return pl.DataFrame([chunked(df[name], case["cuts"]) for name in df.columns])  # type: ignore[arg-type]


def scan_expr(case: dict[str, object]) -> pl.Expr:
    return pl.col("x").scores.scan(
        case["rule"],  # type: ignore[arg-type]
        initial=case["initial"],  # type: ignore[arg-type]
        inputs={name: name for name in case["inputs"]},  # type: ignore[attr-defined]
        by="k" if case["keys"] is not None else None,
    )


def want(case: dict[str, object]) -> list[float | None]:
    return scan_by_key(
        case["rule"],  # type: ignore[arg-type]
        case["values"],  # type: ignore[arg-type]
        inputs=case["inputs"],  # type: ignore[arg-type]
        keys=case["keys"],  # type: ignore[arg-type]
        initial=case["initial"],  # type: ignore[arg-type]
    )


@settings(max_examples=300)
@given(case=cases())
def test_random_rules_match_python(case: dict[str, object]) -> None:
    df = frame(case)
    for result in collect_three_ways(df, scan_expr(case)):
        assert result.schema["x"] == pl.Float64
        assert_bit_identical(result["x"].to_list(), want(case))


@settings(max_examples=150)
@given(case=cases(keyed=True))
def test_random_rules_by_key_match_python(case: dict[str, object]) -> None:
    df = frame(case)
    for result in collect_three_ways(df, scan_expr(case)):
        assert_bit_identical(result["x"].to_list(), want(case))
    # by= is over(), in one call.
    unkeyed = {**case, "keys": None}
    over = df.select(scan_expr(unkeyed).over("k"))
    assert_bit_identical(over["x"].to_list(), want(case))


@given(rule=rules(INPUT_NAMES), row=st.tuples(floats, floats, floats, floats))
def test_one_row_matches_the_rule_evaluated_in_python(
    rule: str, row: tuple[float, float, float, float]
) -> None:
    prev, value, dt, w = row
    got = pl.Series("x", [value]).scores.scan(
        rule,
        initial=prev if math.isfinite(prev) else 0.0,
        inputs={"dt": pl.Series([dt]), "w": pl.Series([w])},
    )
    start = prev if math.isfinite(prev) else 0.0
    assert_bit_identical(
        got.to_list(), [evaluate_rule(rule, {"prev": start, "value": value, "dt": dt, "w": w})]
    )


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ("value / 0", 1.0, math.inf),
        ("value / 0", -1.0, -math.inf),
        ("value / 0", 0.0, math.nan),
        ("sqrt(value)", -1.0, math.nan),
        ("log(value)", 0.0, -math.inf),
        ("log(value)", -1.0, math.nan),
        ("exp(value)", 1000.0, math.inf),
        ("value ** (1/3)", -8.0, math.nan),
        ("floor(value)", math.inf, math.inf),
        ("floor(value)", -0.0, 0.0),
        ("ceil(value)", -0.5, 0.0),
        ("min(value, 1)", math.nan, math.nan),
        ("min(1, value)", math.nan, 1.0),
        ("1 if value != value else 2", math.nan, 1.0),
        ("-value", 0.0, -0.0),
    ],
)
def test_ieee_results_where_python_raises(rule: str, value: float, expected: float) -> None:
    got = pl.Series([value]).scores.scan(rule).to_list()
    assert_bit_identical(got, [expected])


@given(
    values=st.lists(st.one_of(st.none(), floats), max_size=60),
    rise=st.floats(-2, 2),
    fall=st.floats(-2, 2),
    initial=st.floats(-5, 5),
)
def test_rolling_is_the_builtin_rule(
    values: list[float | None], rise: float, fall: float, initial: float
) -> None:
    s = pl.Series("x", values, dtype=pl.Float64)
    rule = f"prev * {rise!r} + value if value > prev else prev * {fall!r}"
    got = s.scores.scan(rule, initial=initial)
    assert_bit_identical(
        got.to_list(), s.scores.rolling(rise=rise, fall=fall, initial=initial).to_list()
    )


def test_parallel_runs_are_bit_identical_to_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    # Large enough for the parallel paths, one series and by keys: a
    # contracting rule (speculation pays) and a sum (its runs never meet).
    n = 600_000
    df = pl.DataFrame(
        {
            "x": pl.int_range(n, eager=True).hash(7) % 1000 / 10.0 - 30.0,
            "dt": pl.int_range(n, eager=True).hash(3) % 60 * 1.0,
            "k": pl.int_range(n, eager=True).hash(11) % 50,
        }
    ).with_columns(x=pl.when(pl.col("x") > 60).then(None).otherwise(pl.col("x")))
    exprs = [
        pl.col("x").scores.scan(rule, inputs={"dt": "dt"}, by=by).alias(f"{rule}-{by}")
        for rule in (
            "prev * 0.9 + value if value > prev else prev * 0.5",
            "prev * exp(-dt / 60) + value",
            "prev + value + dt",
        )
        for by in (None, "k")
    ]
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", "4")
    parallel = df.select(exprs)
    monkeypatch.setenv("POLARS_SCORES_MAX_THREADS", "1")
    serial = df.select(exprs)
    for name in serial.columns:
        assert_bit_identical(parallel[name].to_list(), serial[name].to_list())
    # The serial run itself, against the reference on a prefix.
    head = df.head(2000)
    for rule in ("prev * exp(-dt / 60) + value", "prev + value + dt"):
        got = head.select(pl.col("x").scores.scan(rule, inputs={"dt": "dt"}, by="k"))["x"]
        ref = scan_by_key(
            rule, head["x"].to_list(), inputs={"dt": head["dt"].to_list()}, keys=head["k"].to_list()
        )
        assert_bit_identical(got.to_list(), ref)


def test_everywhere_rolling_goes() -> None:
    df = pl.DataFrame(
        {
            "k": ["a", "b", "a", None, "b", "a"],
            "x": [1, 5, None, 2, 3, 4],
            "t": [0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
            "s": [0.5, None, 1.0, 2.0, 3.0, 4.0],
        }
    )
    rule = "prev * exp(-gap / 20) + value * weight"
    inputs = {"gap": pl.col("t").diff().fill_null(0.0), "weight": "s"}
    by_key = pl.col("x").scores.scan(rule, inputs=inputs, by="k", initial=1.0)
    got = df.with_columns(score=by_key)["score"].to_list()
    ref = scan_by_key(
        rule,
        df["x"].to_list(),
        inputs={"gap": df["t"].diff().fill_null(0.0).to_list(), "weight": df["s"].to_list()},
        keys=df["k"].to_list(),
        initial=1.0,
    )
    assert_bit_identical(got, ref)
    # group_by().agg() gives each key's scores (inputs computed per group).
    grouped = df.group_by("k", maintain_order=True).agg(
        pl.col("x").scores.scan("prev + value * s", inputs={"s": "s"})
    )
    for key, scores in grouped.iter_rows():
        rows = df.filter(pl.col("k").eq_missing(key))
        want_key = scan_by_key(
            "prev + value * s", rows["x"].to_list(), inputs={"s": rows["s"].to_list()}
        )
        assert_bit_identical(scores, want_key)


def test_dtypes_broadcast_and_initial_column() -> None:
    df = pl.DataFrame(
        {
            "x": pl.Series([3, -1, 2**53 + 1, 4], dtype=pl.Int64),
            "w": pl.Series([1, 2, 3, None], dtype=pl.UInt8),
            "f": pl.Series([0.1, 0.2, 0.3, 0.4], dtype=pl.Float32),
            "start": [7.0, None, None, None],
        }
    )
    expr = pl.col("x").scores.scan(
        "prev * f + value * w - c",
        inputs={"w": "w", "f": "f", "c": pl.lit(2, dtype=pl.Int32)},
        initial="start",
    )
    got = df.select(expr)["x"].to_list()
    ref = scan_by_key(
        "prev * f + value * w - c",
        df["x"].to_list(),
        inputs={"w": df["w"].to_list(), "f": df["f"].to_list(), "c": [2] * 4},
        initial=7.0,
    )
    assert_bit_identical(got, ref)
    assert got[3] is None


def test_many_small_groups_with_over() -> None:
    n = 3000
    df = pl.DataFrame({"k": [i % 1000 for i in range(n)], "x": [float(i % 7) for i in range(n)]})
    over = df.select(pl.col("x").scores.scan("max(prev * 0.5, value)").over("k"))
    by = df.select(pl.col("x").scores.scan("max(prev * 0.5, value)", by="k"))
    assert_bit_identical(over["x"].to_list(), by["x"].to_list())
    ref = scan_by_key("max(prev * 0.5, value)", df["x"].to_list(), keys=df["k"].to_list())
    assert_bit_identical(by["x"].to_list(), ref)


REFUSED = [
    ("prev.real", "an attribute", "'prev.real'"),
    ("prev[0]", "a subscript", "'prev[0]'"),
    ("print(value)", "only calls to", "'print(value)'"),
    ("math.exp(value)", "only calls to", "'math.exp(value)'"),
    ("x + 1", "unknown name 'x'", "'x'"),
    ("lambda: 1", "a lambda", "'lambda: 1'"),
    ("(y := 1)", "an assignment", "'y := 1'"),
    ("'a'", "not a number", "\"'a'\""),
    ("True", "not a number", "'True'"),
    ("prev, value", "a tuple", "'prev, value'"),
    ("prev; value", "not a Python expression", ""),
    ("value % 2", "'%'", "'value % 2'"),
    ("value // 2", "'//'", "'value // 2'"),
    ("~value", "'~'", "'~value'"),
    ("value in [1]", "'in'", "'value in [1]'"),
    ("prev if value + 1 else 1", "a number used as a condition", "'value + 1'"),
    ("(value > 1) + 1", "a condition (true or false) used as a number", "'value > 1'"),
    ("not value", "a condition (true or false) used as a number", "'not value'"),
    ("1 if value > 0 and 2 else 3", "a number used as a condition", "'2'"),
    ("value > 1", "a condition (true or false) used as a number", "'value > 1'"),
    ("min(value)", "two or more arguments", "'min(value)'"),
    ("abs(value, 1)", "exactly one argument", "'abs(value, 1)'"),
    ("abs(x=value)", "plain arguments", "'abs(x=value)'"),
    ("exp", "must be called", "'exp'"),
    ("1" + "0" * 400, "too large for a float", "'1000"),
    ("f'{value}'", "a string", ""),
    ("[v for v in value]", "a comprehension", ""),
    ("+".join(["value"] * 1001), "more than 1000 nodes", ""),
    ("-" * 101 + "value", "nested deeper than 100", ""),
    ("+".join(["1"] * 100_000), "more than 1000 nodes", ""),
    ("(" * 10_000 + "1" + ")" * 10_000, "not a Python expression", ""),
    ("not " * 100_000 + "value > 0", "more than 1000 nodes", ""),
    ("value < " * 50_000 + "1", "more than 1000 nodes", ""),
]


@pytest.mark.parametrize(("rule", "problem", "quoted"), REFUSED)
def test_refused_rules_name_the_method_and_the_part(rule: str, problem: str, quoted: str) -> None:
    with pytest.raises(ValueError, match=r"^scores\.scan: ") as error:
        pl.col("x").scores.scan(rule)
    assert problem in str(error.value)
    assert quoted in str(error.value)


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({"prev": "t"}, "is taken"),
        ({"exp": "t"}, "is taken"),
        ({"inf": "t"}, "is taken"),
        ({"not an id": "t"}, "not a Python identifier"),
        ({"lambda": "t"}, "not a Python identifier"),
    ],
)
def test_refused_input_names(inputs: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=rf"^scores\.scan: .*{problem}"):
        pl.col("x").scores.scan("prev + value", inputs=inputs)  # type: ignore[arg-type]


def test_bad_arguments_are_named_errors() -> None:
    with pytest.raises(TypeError, match=r"scores\.scan: rule must be a string"):
        pl.col("x").scores.scan(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"scores\.scan: inputs must be a mapping"):
        pl.col("x").scores.scan("prev", inputs=["t"])  # type: ignore[arg-type]
    df = pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"], "t": [1.0, 2.0]})
    with pytest.raises(
        pl.exceptions.ComputeError, match=r"scores\.scan: input column .s. has dtype str"
    ):
        df.select(pl.col("x").scores.scan("prev + s", inputs={"s": "s"}))
    with pytest.raises(pl.exceptions.ComputeError, match=r"scores\.scan: input 't' .* has 3 rows"):
        df.select(
            pl.col("x").scores.scan("prev + t", inputs={"t": pl.lit(pl.Series([1.0, 2.0, 3.0]))})
        )


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL) if "scan(" in b
    ]
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


@settings(max_examples=60)
@given(case=cases(keyed=True), keyed=st.booleans(), cuts=st.lists(st.integers(0, 40), max_size=6))
def test_batches_through_rolling_scorer_equal_one_call(
    case: dict[str, object], keyed: bool, cuts: list[int]
) -> None:
    if not keyed:
        case = {**case, "keys": None}
    frame = pl.DataFrame(
        {
            "x": case["values"],
            "k": case["keys"] if keyed else [0] * len(case["values"]),  # type: ignore[arg-type]
            **case["inputs"],  # type: ignore[dict-item]
        },
        schema_overrides={"x": pl.Float64, "k": pl.Int64, "dt": pl.Float64, "w": pl.Float64},
    )
    scorer = StatefulScorer(
        "x",
        by=["k"] if keyed else [],
        initial=case["initial"],  # type: ignore[arg-type]
        rule=case["rule"],  # type: ignore[arg-type]
        inputs={name: name for name in case["inputs"]},  # type: ignore[attr-defined]
    )
    bounds = [0, *sorted({c for c in cuts if 0 < c < frame.height}), frame.height]
    parts = [scorer.score(frame[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    got = pl.concat(parts)["x_score"] if parts else pl.Series([], dtype=pl.Float64)
    assert_bit_identical(got.to_list(), want(case))


def test_score_to_parquet_and_the_cli_take_a_rule(tmp_path: Path) -> None:
    n = 5000
    frame = pl.DataFrame(
        {
            "user": [(i * 7919) % 37 for i in range(n)],
            "gap": [float((i * 31) % 600) for i in range(n)],
            "x": [float((i * 13) % 11) - 3.0 if i % 17 else None for i in range(n)],
        }
    )
    source = tmp_path / "in.parquet"
    frame.write_parquet(source)
    rule = "prev * exp(-gap / 3600) + max(value, 0)"
    want_scores = scan_by_key(
        rule,
        frame["x"].to_list(),
        inputs={"gap": frame["gap"].to_list()},
        keys=frame["user"].to_list(),
    )
    out = tmp_path / "out.parquet"
    written = score_to_parquet(
        pl.scan_parquet(source),
        out,
        value="x",
        by="user",
        rule=rule,
        inputs={"gap": "gap"},
        batch_rows=700,
    )
    assert written == n
    assert_bit_identical(pl.read_parquet(out)["x_score"].to_list(), want_scores)
    cli = tmp_path / "cli.parquet"
    score_cli: list[str | Path] = ["score", source, "-o", cli, "--value", "x"]
    done = run_cli(*score_cli, "--by", "user", "--rule", rule, "--input", "gap=gap", "-q")
    assert done.returncode == 0, done.stderr
    assert_bit_identical(pl.read_parquet(cli)["x_score"].to_list(), want_scores)
    bad = run_cli(*score_cli, "--rule", "prev + gap")
    assert bad.returncode == 1
    assert "unknown name 'gap'" in bad.stderr
