"""Saved states of a scorer: `StatefulScorer.states()`, `states=` and
`load_states`, and `scan_scores(states=)`. Runs that each start from the
states the one before left give, bit for bit, the scores of one run over all
the rows, and the states themselves equal each key's last score by an
independent Python loop."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import assert_bit_identical, float_key
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import score_by_key

import polars_scores as ps
from polars_scores._checks import ParameterError
from polars_scores.source import ScoredStream, scan_scores
from polars_scores.spec import score_spec
from polars_scores.stateful import RollingScorer, StartStatesError, StatefulScorer

VALUES = st.one_of(
    st.none(), st.sampled_from([0.0, -1.0, 0.5, 3.0, math.inf, math.nan]), st.floats(-1e6, 1e6)
)
KEY_KINDS = ["int", "string", "two", "far", "none"]
MAPPING = {"up": "max(up, value)", "n": "n + 1"}


def keys_of(kind: str, drawn: list[int | None]) -> dict[str, pl.Series]:
    """Key columns of `kind` from small drawn numbers (None: a null key)."""
    if kind == "int":
        return {"k": pl.Series("k", drawn, pl.Int64)}
    if kind == "far":  # too far apart for the dense store: the hashed one
        return {"k": pl.Series("k", [None if d is None else d * 10**15 for d in drawn], pl.Int64)}
    if kind == "string":
        return {"k": pl.Series("k", [None if d is None else f"user-{d}" for d in drawn], pl.String)}
    if kind == "two":
        return {
            "k": pl.Series("k", [None if d is None else d % 2 for d in drawn], pl.Int8),
            "j": pl.Series("j", [None if d is None else f"s{d % 3}" for d in drawn], pl.String),
        }
    return {}


def bounds(cuts: Sequence[int], height: int) -> list[tuple[int, int]]:
    points = [0, *sorted({c for c in cuts if 0 < c < height}), height]
    return list(itertools.pairwise(points))


def run_by_run(
    frame: pl.DataFrame, runs: list[int], batches: list[int], **options: Any
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The scores of `frame` split into runs at `runs`, each a new scorer that
    starts from the states the run before left (each run in batches cut at
    `batches`), and the last run's states."""
    states = None
    parts = []
    for start, end in bounds(runs, frame.height):
        scorer = StatefulScorer("x", states=states, **options)
        run = frame[start:end]
        for a, b in bounds(batches, run.height):
            parts.append(scorer.score(run[a:b]))
        states = scorer.states()
    if states is None or not parts:
        scorer = StatefulScorer("x", states=states, **options)
        parts.append(scorer.score(frame))
        states = scorer.states()
    return pl.concat(parts), states


@settings(max_examples=120, deadline=None)
@given(
    rows=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 5)), VALUES), max_size=40),
    kind=st.sampled_from(KEY_KINDS),
    runs=st.lists(st.integers(0, 40), max_size=3),
    batches=st.lists(st.integers(0, 40), max_size=3),
    rule=st.sampled_from([None, "prev * 0.5 + value", "mapping"]),
)
def test_runs_from_saved_states_equal_one_run(
    rows: list[tuple[int | None, float | None]],
    kind: str,
    runs: list[int],
    batches: list[int],
    rule: str | None,
) -> None:
    keys = keys_of(kind, [k for k, _ in rows])
    frame = pl.DataFrame({**keys, "x": pl.Series([v for _, v in rows], dtype=pl.Float64)})
    by = list(keys)
    options: dict[str, Any] = {"by": by, "initial": 0.25}
    if rule == "mapping":
        options = {"by": by, "rule": MAPPING, "initial": {"up": -1.0}}
    elif rule is not None:
        options["rule"] = rule
    got, states = run_by_run(frame, runs, batches, **options)
    whole = StatefulScorer("x", **options)
    want = whole.score(frame)
    for column in StatefulScorer("x", **options).columns:
        assert_bit_identical(got[column].to_list(), want[column].to_list())
    # The states: each key's last score (its start where all were null).
    assert_same_states(states, whole.states(), by)
    if rule is None:
        key_rows = frame.select(by).rows() if by else [()] * frame.height
        scores = score_by_key(frame["x"].to_list(), key_rows, initial=0.25)
        last: dict[tuple[Any, ...], float] = {}
        for key, score in zip(key_rows, scores, strict=True):
            last.setdefault(key, 0.25)
            if score is not None:
                last[key] = score
        saved = {row[:-1]: row[-1] for row in states.rows()}
        if not by:
            last = last or {(): 0.25}
        assert {k: float_key(v) for k, v in saved.items()} == {
            k: float_key(v) for k, v in last.items()
        }


def assert_same_states(got: pl.DataFrame, want: pl.DataFrame, by: list[str]) -> None:
    """The same keys with the same states, bit for bit, in any row order."""
    assert got.schema == want.schema

    def rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
        return sorted(
            (repr(row[: len(by)]), *(float_key(x) for x in row[len(by) :])) for row in frame.rows()
        )

    assert rows(got) == rows(want)


def test_states_give_each_key_and_its_state() -> None:
    scorer = StatefulScorer("x", by="user")
    scorer.score(pl.DataFrame({"user": ["a", "b", "a", None], "x": [1.0, 2.0, 3.0, None]}))
    states = scorer.states().sort("user", nulls_last=True)
    assert states.schema == pl.Schema({"user": pl.String, "x_score": pl.Float64})
    # "a": 1.0, then 3 > 1 so 1 * 0.9 + 3; the null key's only row is null.
    assert states.rows() == [("a", 3.9), ("b", 2.0), (None, 0.0)]


def test_without_keys_one_row() -> None:
    scorer = StatefulScorer("x", initial=1.0)
    assert scorer.states().rows() == [(1.0,)]
    scorer.score(pl.DataFrame({"x": [2.0, None]}))
    assert scorer.states().rows() == [(2.9,)]
    again = StatefulScorer("x", states=scorer.states())
    assert again.score(pl.DataFrame({"x": [1.0]}))["x_score"].to_list() == [2.9 * 0.5]


def test_a_mapping_rule_has_a_column_per_state() -> None:
    scorer = StatefulScorer("x", by="k", rule=MAPPING)
    scorer.score(pl.DataFrame({"k": [1, 1, 2], "x": [1.0, 5.0, 2.0]}))
    states = scorer.states().sort("k")
    assert states.columns == ["k", "x_up", "x_n"]
    assert states.rows() == [(1, 5.0, 2.0), (2, 2.0, 1.0)]


@pytest.mark.parametrize(
    ("first", "second", "dtype"),
    [
        (pl.Int32, pl.Int64, pl.Int64),
        (pl.Int64, pl.Int8, pl.Int64),
        (pl.Categorical, pl.String, pl.Categorical),
        (pl.String, pl.Categorical, pl.String),
        (pl.Enum(["2", "1"]), pl.Categorical, pl.Enum(["2", "1"])),
        (pl.String, pl.Enum(["1", "2"]), pl.String),
    ],
)
def test_key_dtypes_that_change_between_runs(
    first: pl.DataTypeClass | pl.DataType,
    second: pl.DataTypeClass | pl.DataType,
    dtype: pl.DataTypeClass | pl.DataType,
) -> None:
    text = first in (pl.String, pl.Categorical) or isinstance(first, pl.Enum)
    keys = ["1", "2", "1"] if text else [1, 2, 1]
    day1 = pl.DataFrame({"k": keys, "x": [1.0, 2.0, 3.0]}).cast({"k": first})
    day2 = pl.DataFrame({"k": keys[::-1], "x": [4.0, 5.0, 6.0]}).cast({"k": second})
    scorer = StatefulScorer("x", by="k")
    scorer.score(day1)
    scorer.score(day2)
    assert scorer.states().schema["k"] == dtype
    split = StatefulScorer("x", by="k")
    split.score(day1)
    saved = split.states()
    assert saved.schema["k"] == first
    tomorrow = StatefulScorer("x", by="k", states=saved)
    got = tomorrow.score(day2)["x_score"].to_list()
    want = StatefulScorer("x", by="k").score(pl.concat([day1, day2.cast({"k": first})]))
    assert_bit_identical(got, want["x_score"].to_list()[3:])
    assert tomorrow.states().schema["k"] == dtype


def test_states_from_a_parquet_path(tmp_path: Path) -> None:
    scorer = RollingScorer("x", by="k")
    scorer.score(pl.DataFrame({"k": [5, 6], "x": [1.0, 2.0]}))
    path = tmp_path / "states.parquet"
    scorer.states().write_parquet(path)
    again = RollingScorer("x", by="k", states=path)
    assert again.score(pl.DataFrame({"k": [6], "x": [3.0]}))["x_score"].to_list() == [4.8]
    assert again.states().sort("k").rows() == [(5, 1.0), (6, 4.8)]


def test_load_states_as_batches_go(tmp_path: Path) -> None:
    """Spark's way: each batch's keys are loaded just before they are scored."""
    frame = pl.DataFrame({"k": ["a", "b", "c", "a", "c"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    start = pl.DataFrame({"k": ["a", "b", "c"], "x_score": [10.0, 20.0, -1.0]})
    scorer = StatefulScorer("x", by="k")
    scorer.load_states(start[:1])
    first = scorer.score(frame[:1])
    scorer.load_states(start[1:])
    rest = scorer.score(frame[1:])
    whole = StatefulScorer("x", by="k", states=start).score(frame)
    assert_bit_identical(pl.concat([first, rest])["x_score"].to_list(), whole["x_score"].to_list())


def bad(call: Any) -> str:
    with pytest.raises((ValueError, TypeError, pl.exceptions.PolarsError)) as raised:
        call()
    return str(raised.value)


@pytest.mark.parametrize("keys", [[1, 2, 1], ["a", "b", "a"], [10**15, 1, 10**15]])
def test_a_key_listed_twice_is_refused(keys: list[object]) -> None:
    states = pl.DataFrame({"k": keys, "x_score": [1.0, 2.0, 3.0]})
    message = bad(lambda: StatefulScorer("x", by="k", states=states))
    assert message.startswith("StatefulScorer: ")
    assert "twice" in message
    assert repr(keys[0]).strip("'") in message


def test_a_key_met_before_cannot_be_loaded_and_the_scorer_stops() -> None:
    scorer = StatefulScorer("x", by="k")
    scorer.score(pl.DataFrame({"k": ["a"], "x": [1.0]}))
    assert "twice" in bad(lambda: scorer.load_states(pl.DataFrame({"k": ["a"], "x_score": [1.0]})))
    assert "incomplete" in bad(lambda: scorer.score(pl.DataFrame({"k": ["b"], "x": [1.0]})))


@pytest.mark.parametrize(
    ("states", "words"),
    [
        (pl.DataFrame({"k": [1]}), "no column 'x_score'"),
        (pl.DataFrame({"key": [1], "x_score": [1.0]}), "no column 'k'"),
        (pl.DataFrame({"k": [1], "x_score": [1.0], "y": [2]}), "column 'y'"),
        (pl.DataFrame({"k": [1], "x_score": ["1.0"]}), "a state is a number"),
        (
            pl.DataFrame(
                {"k": [1], "x_score": [None]}, schema={"k": pl.Int64, "x_score": pl.Float64}
            ),
            "1 nulls",
        ),
        ("no/such/file.parquet", "cannot read the states"),
        (42, "states must be a DataFrame or a path"),
    ],
)
def test_bad_states_say_what_is_wrong(states: object, words: str) -> None:
    message = bad(lambda: RollingScorer("x", by="k", states=states))  # type: ignore[arg-type]
    assert message.startswith("RollingScorer: ")
    assert words in message


def test_key_sorted_keeps_no_states_to_give() -> None:
    states = pl.DataFrame({"k": [1], "x_score": [1.0]})
    assert "key_sorted" in bad(lambda: StatefulScorer("x", by="k", key_sorted=True, states=states))
    scorer = StatefulScorer("x", by="k", key_sorted=True)
    scorer.score(pl.DataFrame({"k": [1], "x": [1.0]}))
    assert "key_sorted" in bad(scorer.states)


def test_without_keys_the_states_are_one_row() -> None:
    two = pl.DataFrame({"x_score": [1.0, 2.0]})
    assert "one row" in bad(lambda: StatefulScorer("x", states=two))


def test_a_scorer_that_met_no_key_gives_empty_states_of_its_key_dtypes() -> None:
    scorer = StatefulScorer("x", by="k")
    assert scorer.states().schema == pl.Schema({"k": pl.Null, "x_score": pl.Float64})
    scorer.score(pl.DataFrame({"k": [], "x": []}, schema={"k": pl.String, "x": pl.Float64}))
    assert scorer.states().schema == pl.Schema({"k": pl.String, "x_score": pl.Float64})
    assert scorer.states().height == 0


def test_scan_scores_starts_from_states(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"k": ["a", "b", "a", "c", "b"], "x": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [1, 2, 3, 4, 5]}
    )
    expected = frame.select(
        ps.col("x").scores.rolling(by="k").alias("x_score"),
        ps.col("y").scores.rolling(by="k").alias("y_score"),
    )
    day1 = scan_scores(frame[:2].lazy(), ["x", "y"], by="k", batch_rows=1)
    scorer_x = StatefulScorer("x", by="k")
    scorer_y = StatefulScorer("y", by="k")
    scorer_x.score(frame[:2])
    scorer_y.score(frame[:2])
    states = scorer_x.states().join(scorer_y.states(), on="k")
    path = tmp_path / "states.parquet"
    states.write_parquet(path)
    for start in (states, path):
        day2 = scan_scores(frame[2:].lazy(), ["x", "y"], by="k", batch_rows=2, states=start)
        got = pl.concat([day1.collect(), day2.collect()])
        for column in ("x_score", "y_score"):
            assert_bit_identical(got[column].to_list(), expected[column].to_list())
    message = bad(
        lambda: scan_scores(frame.lazy(), ["x", "y"], by="k", states=states.drop("y_score"))
    )
    assert message.startswith("scan_scores: ") and "y_score" in message


@pytest.mark.parametrize("by", [["k"], ["k", "j"]])
def test_empty_states_keep_their_key_columns(by: list[str]) -> None:
    schema = {"k": pl.Int64, "j": pl.String, "x_score": pl.Float64}
    empty = pl.DataFrame(schema={name: schema[name] for name in [*by, "x_score"]})
    scorer = StatefulScorer("x", by=by, states=empty)
    assert scorer.states().schema == empty.schema


def test_start_states_errors_are_their_own_class() -> None:
    states = pl.DataFrame({"k": ["a", "a"], "x_score": [1.0, 2.0]})
    with pytest.raises(StartStatesError, match=r"^StatefulScorer: .*twice") as raised:
        StatefulScorer("x", by="k", states=states)
    assert isinstance(raised.value, pl.exceptions.InvalidOperationError)


def test_a_stream_that_saves_no_states_keeps_no_keys() -> None:
    """Streams whose states are never saved (scan_scores, the writers without
    a state file) spare the copy of each new key: their states are refused."""
    spec = score_spec("scan_scores", "x", by=["k", "j"])
    batch = pl.DataFrame({"k": [1, 2], "j": ["a", "b"], "x": [1.0, 2.0]})
    lean = StatefulScorer.from_spec(spec, keep_keys=False)
    kept = StatefulScorer.from_spec(spec)
    assert_bit_identical(
        lean.score(batch)["x_score"].to_list(), kept.score(batch)["x_score"].to_list()
    )
    assert "without their keys" in bad(lean.states)
    assert kept.states().height == 2
    stream = ScoredStream(spec, batch.lazy(), 1)
    stream.frame().collect()
    assert "keeps them" in bad(stream.final_states)
    keeping = ScoredStream(spec, batch.lazy(), 1, keep_states=True)
    keeping.frame().collect()
    assert_same_states(keeping.final_states(), kept.states(), ["k", "j"])


@pytest.mark.parametrize("dtype", [pl.Categorical(), pl.Enum([f"user-{n}" for n in range(50)])])
def test_text_keys_score_as_their_strings(dtype: pl.DataType) -> None:
    # Categorical and Enum keys reach Rust as strings (their categories do
    # not cross with every batch); the scores and states are those of the
    # strings, and the states keep the dtype.
    rng = random.Random(7)
    batches = [
        pl.DataFrame(
            {
                "k": [f"user-{rng.randrange(50)}" for _ in range(40)],
                "x": [rng.uniform(-5, 5) for _ in range(40)],
            }
        )
        for _ in range(3)
    ]
    text, other = StatefulScorer("x", by="k"), StatefulScorer("x", by="k")
    for batch in batches:
        want = text.score(batch)["x_score"].to_list()
        got = other.score(batch.cast({"k": dtype}))["x_score"].to_list()
        assert_bit_identical(got, want)
    states = other.states()
    assert states.schema["k"] == dtype
    assert states.cast({"k": pl.String}).sort("k").rows() == text.states().sort("k").rows()


@pytest.mark.parametrize("rows", [0, 3])
def test_a_stream_loads_its_start_states_beside_its_first_batch(rows: int) -> None:
    """The start states load on a thread of their own while the first batch
    is read: with no batch at all they are still the final states, and a
    key listed twice still fails the stream, not another thread."""
    spec = score_spec("scan_scores", "x", by="k")
    start = pl.DataFrame({"k": ["a", "b"], "x_score": [1.0, 8.0]})
    batch = pl.DataFrame({"k": ["b", "c", "b"], "x": [2.0, 3.0, 9.0]})[:rows]
    stream = ScoredStream(spec, batch.lazy(), 2, states=start, keep_states=True)
    got = stream.frame().collect()
    scorer = StatefulScorer("x", by="k", states=start)
    want = scorer.score(batch)
    assert_bit_identical(got["x_score"].to_list(), want["x_score"].to_list())
    assert_same_states(stream.final_states(), scorer.states(), ["k"])
    twice = pl.DataFrame({"k": ["a", "a"], "x_score": [1.0, 2.0]})
    failing = ScoredStream(spec, batch.lazy(), 2, states=twice, keep_states=True)
    with pytest.raises(pl.exceptions.PolarsError, match="twice"):
        failing.frame().collect()


def test_a_stream_read_once_lets_go_of_its_start_states() -> None:
    """A writer's stream (read once) drops its start states once they are
    loaded; a second read, which would start without them, is refused."""
    spec = score_spec("score_to_file", "x", by="k")
    start = pl.DataFrame({"k": ["a"], "x_score": [4.0]})
    batch = pl.DataFrame({"k": ["a", "b"], "x": [1.0, 2.0]})
    stream = ScoredStream(spec, batch.lazy(), 2, states=start, keep_states=True, once=True)
    got = stream.frame().collect()
    want = StatefulScorer("x", by="k", states=start).score(batch)
    assert_bit_identical(got["x_score"].to_list(), want["x_score"].to_list())
    assert stream._states is None
    # Polars before 2 wraps an IO source's error in a ComputeError.
    refused = (ParameterError, pl.exceptions.ComputeError)
    with pytest.raises(refused, match="score_to_file: this stream is read only once"):
        stream.frame().collect()
