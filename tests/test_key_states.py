"""Per-key states carried across batches for every key type (src/states/),
against the in-memory plugin and the Python reference loop."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Hashable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from helpers import assert_bit_identical
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import scan_by_key, score_by_key

import polars_scores as ps
from polars_scores._internal import KeyStates
from polars_scores.rules import parse_rule
from polars_scores.stateful import RollingScorer


def canonical(key: Any) -> Hashable:
    """A key as Polars groups it, for the Python reference's dict: every NaN
    one key (Python's NaNs are never equal), -0.0 already equals 0.0."""
    if isinstance(key, float) and math.isnan(key):
        return "NaN"
    if isinstance(key, tuple):
        return tuple(canonical(k) for k in key)
    return key


def reference(values: Sequence[float | None], keys: Sequence[Any]) -> list[float | None]:
    return score_by_key(values, [canonical(k) for k in keys])


def in_memory(frame: pl.DataFrame, by: list[str]) -> list[float | None]:
    return frame.select(ps.col("x").scores.rolling(by=by)).to_series().to_list()


def in_batches(scorer: RollingScorer, frame: pl.DataFrame, cuts: Sequence[int]) -> pl.DataFrame:
    """`frame` scored through `scorer` in consecutive slices ending at `cuts`."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < frame.height}), frame.height]
    parts = [scorer.score(frame[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    return pl.concat(parts) if parts else scorer.score(frame)


def key_rows(frame: pl.DataFrame, by: list[str]) -> list[Any]:
    columns = [frame[k].to_list() for k in by]
    return columns[0] if len(by) == 1 else list(zip(*columns, strict=True))


# Each key kind: a dtype and a few values, so that keys repeat (edges included).
KEY_KINDS: dict[str, tuple[pl.DataType, list[Any]]] = {
    "Int8": (pl.Int8(), [-128, 127, 0, 5]),
    "Int16": (pl.Int16(), [-(2**15), 2, 3]),
    "Int32": (pl.Int32(), [2**31 - 1, -1, 7]),
    "Int64": (pl.Int64(), [-(2**63), 2**63 - 1, 0, 1]),
    "UInt8": (pl.UInt8(), [0, 255, 9]),
    "UInt16": (pl.UInt16(), [65535, 4]),
    "UInt32": (pl.UInt32(), [2**32 - 1, 1]),
    "UInt64": (pl.UInt64(), [2**64 - 1, 2**63, 0, 3]),
    "Float32": (pl.Float32(), [0.0, -0.0, math.nan, math.inf, -math.inf, 1.5]),
    "Float64": (pl.Float64(), [0.0, -0.0, math.nan, -math.nan, 5e-324, 1e308, -2.5]),
    "Boolean": (pl.Boolean(), [True, False]),
    "String": (pl.String(), ["a", "b", "", "user-123456", "a longer key of some 30 chars", "é"]),
    "Categorical": (pl.Categorical(), ["x", "y", "zz"]),
    "Enum": (pl.Enum(["lo", "mid", "hi"]), ["lo", "mid", "hi"]),
    "Binary": (pl.Binary(), [b"", b"\x00", b"ab", b"\xff" * 20]),
    "Date": (pl.Date(), [dt.date(2024, 1, 1), dt.date(1969, 12, 31)]),
    "Datetime": (pl.Datetime("us"), [dt.datetime(2024, 1, 1, 12), dt.datetime(2000, 1, 1)]),
    "Duration": (pl.Duration("ms"), [dt.timedelta(seconds=1), dt.timedelta(0)]),
    "Decimal": (pl.Decimal(10, 2), [Decimal("1.25"), Decimal("-3.00"), Decimal("0.01")]),
}
for wide in ("Int128", "UInt128"):
    if hasattr(pl, wide):
        low, high = (-(2**127), 2**127 - 1) if wide == "Int128" else (0, 2**128 - 1)
        KEY_KINDS[wide] = (getattr(pl, wide)(), [low, high, 1, 2**64])

score_values = st.one_of(st.none(), st.floats(-5, 5), st.sampled_from([math.nan, math.inf]))


@settings(max_examples=15)
@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
@given(data=st.data())
def test_every_key_kind_in_batches_equals_in_memory(kind: str, data: st.DataObject) -> None:
    dtype, choices = KEY_KINDS[kind]
    rows = data.draw(
        st.lists(st.tuples(st.none() | st.sampled_from(choices), score_values), max_size=40)
    )
    frame = pl.DataFrame(
        {"k": [k for k, _ in rows], "x": [v for _, v in rows]},
        schema={"k": dtype, "x": pl.Float64},
    )
    cuts = data.draw(st.lists(st.integers(0, 40), max_size=10))
    got = in_batches(RollingScorer("x", by="k"), frame, cuts)
    assert got.select("k", "x").equals(frame)
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, ["k"]))
    assert_bit_identical(
        got["x_score"].to_list(), reference(frame["x"].to_list(), frame["k"].to_list())
    )


@settings(max_examples=40)
@given(
    rows=st.lists(
        st.tuples(
            st.none() | st.sampled_from(["p", "q", ""]),
            st.none() | st.integers(-2, 2),
            st.none() | st.sampled_from([0.0, -0.0, math.nan, 1.0]),
            st.none() | st.booleans(),
            score_values,
        ),
        max_size=50,
    ),
    cuts=st.lists(st.integers(0, 50), max_size=12),
)
def test_several_key_columns_of_every_kind(rows: list[tuple[Any, ...]], cuts: list[int]) -> None:
    names = ["s", "i", "f", "b", "x"]
    frame = pl.DataFrame(
        {name: [r[n] for r in rows] for n, name in enumerate(names)},
        schema={"s": pl.String, "i": pl.Int16, "f": pl.Float64, "b": pl.Boolean, "x": pl.Float64},
    )
    by = ["s", "i", "f", "b"]
    got = in_batches(RollingScorer("x", by=by), frame, cuts)
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, by))
    want = reference(frame["x"].to_list(), key_rows(frame, by))
    assert_bit_identical(got["x_score"].to_list(), want)


@pytest.mark.parametrize("batch", [1, 2, 7, 64])
@pytest.mark.parametrize("kind", ["String", "Float64", "UInt64", "Int64"])
def test_batches_down_to_one_row(batch: int, kind: str) -> None:
    dtype, choices = KEY_KINDS[kind]
    n = 400
    keys = [choices[(i * 7919) % len(choices)] if i % 13 else None for i in range(n)]
    frame = pl.DataFrame(
        {"k": keys, "x": [float((i * 31) % 17) - 4.0 if i % 11 else None for i in range(n)]},
        schema={"k": dtype, "x": pl.Float64},
    )
    got = in_batches(RollingScorer("x", by="k"), frame, range(batch, n, batch))
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, ["k"]))
    assert_bit_identical(got["x_score"].to_list(), reference(frame["x"].to_list(), keys))


def score_stream(
    scorer: RollingScorer, batches: Sequence[tuple[list[Any], pl.DataType, list[float | None]]]
) -> tuple[list[float | None], list[Any], list[float | None]]:
    """Scores each (keys, key dtype, values) batch; the scores, keys and values in order."""
    scores: list[float | None] = []
    for keys, dtype, values in batches:
        batch = pl.DataFrame({"k": keys, "x": values}, schema={"k": dtype, "x": pl.Float64})
        scores.extend(scorer.score(batch)["x_score"].to_list())
    return (
        scores,
        [k for keys, _, _ in batches for k in keys],
        [v for _, _, values in batches for v in values],
    )


MIXED_STREAMS: dict[str, list[tuple[list[Any], pl.DataType, list[float | None]]]] = {
    # Issue 11 item 6: Int64 keys, then a batch whose key column is all null.
    "Int64 then Null": [
        ([1, 2, None], pl.Int64(), [1.0, 2.0, 3.0]),
        ([None, None], pl.Null(), [5.0, 1.0]),
        ([2, None, 1], pl.Int64(), [1.0, 9.0, 0.5]),
    ],
    "Null then String": [
        ([None], pl.Null(), [2.0]),
        (["a", None, "b"], pl.String(), [1.0, 0.5, 4.0]),
        ([None, None], pl.Null(), [3.0, None]),
        (["b", "a"], pl.Categorical(), [1.0, 7.0]),
    ],
    "integer widths": [
        ([1, 2, 3], pl.Int32(), [1.0, 2.0, 3.0]),
        ([3, 1, None], pl.Int64(), [0.5, 4.0, 1.0]),
        ([1, 2], pl.UInt8(), [1.0, 9.0]),
        ([None], pl.Null(), [1.0]),
        ([2**63, 1, 3], pl.UInt64(), [1.0, 1.0, 1.0]),
        ([1, 2**63], pl.UInt64(), [8.0, 2.0]),
    ],
    "float widths": [
        ([0.5, -0.0, math.nan], pl.Float32(), [1.0, 2.0, 3.0]),
        ([0.0, 0.5, math.nan], pl.Float64(), [4.0, 0.1, 1.0]),
        ([None], pl.Null(), [2.0]),
    ],
    "Null first, then integers far apart": [
        ([None, None], pl.Null(), [1.0, 2.0]),
        ([5, None], pl.Int16(), [1.0, 1.0]),
        ([10**15, 5, None], pl.Int64(), [2.0, 3.0, 0.5]),
    ],
}
if hasattr(pl, "Int128"):
    MIXED_STREAMS["integer widths"].append(([2**100, 1, 2], pl.Int128(), [1.0, 5.0, 1.0]))


@pytest.mark.parametrize("stream", sorted(MIXED_STREAMS))
def test_key_dtypes_may_change_between_batches(stream: str) -> None:
    scores, keys, values = score_stream(RollingScorer("x", by="k"), MIXED_STREAMS[stream])
    assert_bit_identical(scores, reference(values, keys))


@pytest.mark.parametrize(
    ("first", "then", "words"),
    [
        (([1, 2], pl.Int64()), (["1"], pl.String()), r"'k'.*str.*integer"),
        ((["a"], pl.String()), ([1], pl.Int32()), r"'k'.*i32.*string"),
        (([1.0], pl.Float64()), ([1], pl.Int64()), r"'k'.*i64.*float"),
        (([dt.date(2024, 1, 1)], pl.Date()), ([dt.datetime(2024, 1, 1)], pl.Datetime("us")), "'k'"),
        (([True], pl.Boolean()), ([1], pl.UInt8()), r"'k'.*boolean"),
    ],
)
def test_keys_of_kinds_that_cannot_be_equal_raise_and_keep_the_states(
    first: tuple[list[Any], pl.DataType], then: tuple[list[Any], pl.DataType], words: str
) -> None:
    scorer = RollingScorer("x", by="k")
    keys, dtype = first
    values = [float(i + 2) for i in range(len(keys))]
    before = score_stream(scorer, [(keys, dtype, values)])[0]
    with pytest.raises(
        pl.exceptions.SchemaError, match="RollingScorer.score: key column " + words
    ) as raised:
        score_stream(scorer, [(then[0], then[1], [1.0] * len(then[0]))])
    # The problem alone, for a caller that names itself (the command line).
    assert raised.value.problem == str(raised.value).removeprefix("RollingScorer.score: ")
    assert raised.value.problem.startswith("key column 'k'")
    # The failed batch changed nothing: the same keys go on from their states.
    after = score_stream(scorer, [(keys, dtype, [1.0] * len(keys))])[0]
    assert_bit_identical(before + after, reference(values + [1.0] * len(keys), keys + keys))


def test_dense_keys_hand_their_states_to_a_hash_table_mid_stream() -> None:
    scorer = RollingScorer("x", by="k", rise=0.5, fall=0.25)
    states = scorer._states
    assert states is not None
    batches = [
        ([3, None, 5, 3], pl.Int64(), [1.0, 2.0, None, 4.0]),
        ([4, 3], pl.Int32(), [1.0, 1.0]),
    ]
    scores, keys, values = score_stream(scorer, batches)
    assert (states.layout, len(states)) == ("dense", 4)
    far = [([10**15, 3, None, 5], pl.Int64(), [2.0, 8.0, 1.0, 3.0])]
    more, far_keys, far_values = score_stream(scorer, far)
    assert (states.layout, len(states)) == ("hashed", 5)
    again, last_keys, last_values = score_stream(
        scorer, [([4, 10**15, 3], pl.UInt64(), [9.0, 1.0, 1.0])]
    )
    want = score_by_key(
        values + far_values + last_values, keys + far_keys + last_keys, rise=0.5, fall=0.25
    )
    assert_bit_identical(scores + more + again, want)


def test_a_first_batch_of_strings_goes_straight_to_the_hash_table() -> None:
    scorer = RollingScorer("x", by="k")
    states = scorer._states
    assert states is not None and states.layout == "empty"
    scorer.score(pl.DataFrame({"k": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]}))
    assert (states.layout, len(states)) == ("hashed", 2)


def test_nested_keys_are_refused_only_in_a_sorted_stream() -> None:
    """A sorted stream must check each key follows the one before, and nested
    keys have no order here that matches Polars' sort."""
    frame = pl.DataFrame({"k": [[1], [2], [1]], "x": [1.0, 2.0, 3.0]})
    scorer = RollingScorer("x", by="k", key_sorted=True)
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"RollingScorer.*'k'.*list"):
        scorer.score(frame)
    got = RollingScorer("x", by="k").score(frame)["x_score"]
    assert_bit_identical(got.to_list(), in_memory(frame, ["k"]))


def test_the_store_checks_its_inputs_and_changes_nothing_on_error() -> None:
    store = KeyStates(0.9, 0.5, 0.0, False, method="RollingScorer.score")
    store.score([pl.Series("k", ["a"])], pl.Series("x", [1.0]), "s")
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"RollingScorer.*'x'.*str"):
        store.score([pl.Series("k", ["a", "b"])], pl.Series("x", ["1", "2"]), "s")
    with pytest.raises(pl.exceptions.ShapeError, match=r"RollingScorer.*'k'.*'x'"):
        store.score([pl.Series("k", ["a", "b"])], pl.Series("x", [1.0]), "s")
    with pytest.raises(pl.exceptions.ShapeError, match="2 key columns"):
        store.score([pl.Series("k", ["a"]), pl.Series("j", [1])], pl.Series("x", [1.0]), "s")
    assert len(store) == 1
    scores = store.score([pl.Series("k", ["a", "b"])], pl.Series("x", [3.0, 1.0]), "s")
    assert scores.name == "s"
    assert_bit_identical(scores.to_list(), score_by_key([1.0, 3.0, 1.0], ["a", "a", "b"])[1:])


def test_memory_is_one_state_and_the_key_bytes_per_key() -> None:
    scorer = RollingScorer("x", by="k")
    n = 200_000
    keys = pl.Series("k", [f"user-{i}" for i in range(n)])
    scorer.score(pl.DataFrame({"k": keys, "x": pl.repeat(1.0, n, eager=True)}))
    states = scorer._states
    assert states is not None and len(states) == n
    # The state (8 bytes), a table entry holding the key (24 bytes, in a
    # table between 44% and 87.5% full) and the key's number beside it (4),
    # with the slack of growing vectors; no allocation of its own per key.
    assert 32 <= states.heap_bytes() / n <= 80


# Streams sorted by key ---------------------------------------------------------------


@settings(max_examples=50)
@given(
    rows=st.lists(
        st.tuples(
            st.none() | st.sampled_from(["a", "b", "c", "user-1", ""]),
            st.none() | st.sampled_from([0.0, -0.0, math.nan, -1.5, math.inf]),
            score_values,
        ),
        max_size=60,
    ),
    cuts=st.lists(st.integers(0, 60), max_size=15),
    columns=st.sampled_from([["s"], ["f"], ["s", "f"], ["f", "s"]]),
)
def test_a_sorted_stream_keeps_one_state_and_equals_in_memory(
    rows: list[tuple[Any, ...]], cuts: list[int], columns: list[str]
) -> None:
    frame = pl.DataFrame(
        {"s": [r[0] for r in rows], "f": [r[1] for r in rows], "x": [r[2] for r in rows]},
        schema={"s": pl.String, "f": pl.Float64, "x": pl.Float64},
    ).sort(columns, maintain_order=True)
    scorer = RollingScorer("x", by=columns, key_sorted=True)
    states = scorer._states
    assert states is not None
    bounds = [0, *sorted({c for c in cuts if 0 < c < frame.height}), frame.height]
    parts = []
    for a, b in itertools.pairwise(bounds):
        parts.append(scorer.score(frame[a:b])["x_score"])
        assert len(states) <= 1
        assert states.layout == "sorted"
    got = pl.concat(parts).to_list() if parts else []
    assert_bit_identical(got, in_memory(frame, columns))
    assert_bit_identical(got, reference(frame["x"].to_list(), key_rows(frame, columns)))


@pytest.mark.parametrize("kind", ["Int64", "UInt64", "Boolean", "Date", "Binary", "Decimal"])
def test_sorted_streams_of_other_key_kinds(kind: str) -> None:
    dtype, choices = KEY_KINDS[kind]
    keys = [choices[i % len(choices)] if i % 5 else None for i in range(60)]
    frame = pl.DataFrame(
        {"k": keys, "x": [float((i * 7) % 5) for i in range(60)]},
        schema={"k": dtype, "x": pl.Float64},
    ).sort("k", maintain_order=True)
    got = in_batches(RollingScorer("x", by="k", key_sorted=True), frame, range(4, 60, 4))
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, ["k"]))


def test_keys_out_of_order_in_a_sorted_stream_raise_and_keep_the_state() -> None:
    scorer = RollingScorer("x", by="k", key_sorted=True)
    first = scorer.score(pl.DataFrame({"k": ["a", "b"], "x": [1.0, 2.0]}))["x_score"].to_list()
    out_of_order = r"key \"a\" comes after key \"b\""
    with pytest.raises(
        pl.exceptions.InvalidOperationError,
        match=r"RollingScorer.score: .*sorted by the key columns \('k'\).*" + out_of_order,
    ):
        scorer.score(pl.DataFrame({"k": ["b", "a"], "x": [1.0, 1.0]}))
    with pytest.raises(pl.exceptions.InvalidOperationError, match=out_of_order):
        scorer.score(pl.DataFrame({"k": ["a"], "x": [1.0]}))
    then = scorer.score(pl.DataFrame({"k": ["b", "c"], "x": [4.0, 1.0]}))["x_score"].to_list()
    assert_bit_identical(first + then, score_by_key([1.0, 2.0, 4.0, 1.0], ["a", "b", "b", "c"]))


def test_sorted_order_is_nulls_first_then_nan_last() -> None:
    scorer = RollingScorer("x", by=["f", "i"], key_sorted=True)
    frame = pl.DataFrame(
        {
            "f": [None, -math.inf, -0.0, 0.0, -0.0, 2.0, math.nan, math.nan],
            "i": [5, None, 1, 1, 2, 0, None, 3],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )
    got = in_batches(scorer, frame, [2, 3, 7])
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, ["f", "i"]))
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"\(NaN, 3\)"):
        scorer.score(pl.DataFrame({"f": [1.0], "i": [0], "x": [1.0]}))


# A user's rule through the same stores -------------------------------------------------

RULE = "prev * exp(-dt) + value if value > prev else max(prev * 0.5, value)"
"""A rule with an input, a condition and a call: every store must run it as scan does."""


def rule_reference(frame: pl.DataFrame, by: list[str]) -> list[float | None]:
    keys = [canonical(key) for key in key_rows(frame, by)]
    return scan_by_key(RULE, frame["x"].to_list(), inputs={"dt": frame["dt"].to_list()}, keys=keys)


def rule_scorer(by: list[str], *, key_sorted: bool = False) -> RollingScorer:
    return RollingScorer("x", by=by, rule=RULE, inputs={"dt": "dt"}, key_sorted=key_sorted)


@settings(max_examples=10)
@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
@given(data=st.data())
def test_a_rule_in_batches_for_every_key_kind(kind: str, data: st.DataObject) -> None:
    dtype, choices = KEY_KINDS[kind]
    rows = data.draw(
        st.lists(
            st.tuples(
                st.none() | st.sampled_from(choices), score_values, st.none() | st.floats(0, 3)
            ),
            max_size=40,
        )
    )
    frame = pl.DataFrame(
        {"k": [r[0] for r in rows], "x": [r[1] for r in rows], "dt": [r[2] for r in rows]},
        schema={"k": dtype, "x": pl.Float64, "dt": pl.Float64},
    )
    cuts = data.draw(st.lists(st.integers(0, 40), max_size=10))
    got = in_batches(rule_scorer(["k"]), frame, cuts)["x_score"].to_list()
    scan = ps.col("x").scores.scan(RULE, by="k", inputs={"dt": "dt"})
    assert_bit_identical(got, frame.select(scan).to_series().to_list())
    assert_bit_identical(got, rule_reference(frame, ["k"]))


@pytest.mark.parametrize("stream", sorted(MIXED_STREAMS))
def test_a_rule_keeps_its_states_when_key_dtypes_change(stream: str) -> None:
    scorer = rule_scorer(["k"])
    scores: list[float | None] = []
    keys: list[Any] = []
    values: list[float | None] = []
    gaps: list[float] = []
    for number, (batch_keys, dtype, batch_values) in enumerate(MIXED_STREAMS[stream]):
        batch_gaps = [0.25 * (number + i) for i in range(len(batch_keys))]
        batch = pl.DataFrame(
            {"k": batch_keys, "x": batch_values, "dt": batch_gaps},
            schema={"k": dtype, "x": pl.Float64, "dt": pl.Float64},
        )
        scores.extend(scorer.score(batch)["x_score"].to_list())
        keys, values, gaps = keys + batch_keys, values + batch_values, gaps + batch_gaps
    want = scan_by_key(RULE, values, inputs={"dt": gaps}, keys=[canonical(key) for key in keys])
    assert_bit_identical(scores, want)


def test_a_rule_in_a_sorted_stream_keeps_one_state() -> None:
    n = 300
    frame = pl.DataFrame(
        {
            "u": [f"user-{(i * 7919) % 23}" if i % 11 else None for i in range(n)],
            "x": [float((i * 31) % 17) - 4.0 if i % 7 else None for i in range(n)],
            "dt": [float(i % 5) / 2 for i in range(n)],
        }
    ).sort("u", maintain_order=True)
    scorer = rule_scorer(["u"], key_sorted=True)
    got = in_batches(scorer, frame, range(13, n, 13))["x_score"].to_list()
    assert scorer._states is not None and len(scorer._states) <= 1
    assert_bit_identical(got, rule_reference(frame, ["u"]))


def test_the_store_checks_a_rules_inputs() -> None:
    program = parse_rule("prev + value * w", ["w"], method="KeyStates")
    store = KeyStates(0.9, 0.5, 0.0, False, ops=program.ops, operands=program.operands, inputs=1)
    keys, values = [pl.Series("k", ["a", "b"])], pl.Series("x", [1.0, 2.0])
    with pytest.raises(pl.exceptions.InvalidOperationError, match="reads 1 input columns, 0 came"):
        store.score(keys, values, "s")
    with pytest.raises(pl.exceptions.ShapeError, match="'w' has 1 rows"):
        store.score(keys, values, "s", [pl.Series("w", [1.0])])
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"'w'.*str"):
        store.score(keys, values, "s", [pl.Series("w", ["1", "2"])])
    assert len(store) == 0
    scores = store.score(keys, values, "s", [pl.Series("w", [2, None], dtype=pl.Int8)])
    assert scores.to_list() == [2.0, None]
    with pytest.raises(ValueError, match="invalid rule program"):
        KeyStates(0.9, 0.5, 0.0, False, ops=["push_nothing"], operands=[0.0], inputs=0)


def test_a_batch_longer_than_a_piece_of_the_hash_table_store() -> None:
    """The hash-table store scores a long batch in pieces of 512k rows, keys
    spanning them; a rule and its input are cut at the same rows."""
    row = pl.int_range(1_200_000)
    frame = pl.select(
        k=pl.format("user-{}", row.hash(1) % 50_000),
        x=(row.hash(2) % 1000).cast(pl.Float64) / 100 - 3,
        dt=(row % 7).cast(pl.Float64) / 3,
    )
    for scorer, expr in [
        (RollingScorer("x", by="k"), ps.col("x").scores.rolling(by="k")),
        (rule_scorer(["k"]), ps.col("x").scores.scan(RULE, by="k", inputs={"dt": "dt"})),
    ]:
        got = in_batches(scorer, frame, [100, 1_100_000])["x_score"]
        assert scorer._states is not None and scorer._states.layout == "hashed"
        want = frame.select(expr).to_series()
        assert_bit_identical(got.to_list(), want.to_list())
