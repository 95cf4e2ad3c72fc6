"""Batch-by-batch scoring (StatefulScorer, score_to_parquet, total_to_parquet)
against the in-memory plugin and an independent Python loop."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # no type hints
import pytest
from helpers import assert_bit_identical
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import score_by_key
from reference import total as reference_total

import polars_scores as ps
from polars_scores.stateful import RollingScorer, StatefulScorer
from polars_scores.writers import score_to_parquet, total_to_parquet


def in_batches(scorer: StatefulScorer, frame: pl.DataFrame, cuts: Sequence[int]) -> pl.DataFrame:
    """`frame` scored through `scorer` in consecutive slices ending at `cuts`."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < frame.height}), frame.height]
    parts = [scorer.score(frame[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    return pl.concat(parts) if parts else scorer.score(frame)


def in_memory(frame: pl.DataFrame, by: list[str], **parameters: float) -> pl.Series:
    return frame.select(ps.col("x").scores.rolling(by=by, **parameters)).to_series()


special_floats = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 1e308, math.inf, -math.inf, math.nan, 0.5, 3.0]
)
values_strategy = st.one_of(
    st.none(), special_floats, st.floats(allow_nan=True, allow_infinity=True, width=64)
)
parameter = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False)


@settings(max_examples=100)
@given(
    rows=st.lists(
        st.tuples(st.one_of(st.none(), st.integers(-3, 3)), values_strategy), max_size=60
    ),
    cuts=st.lists(st.integers(0, 60), max_size=12),
    rise=parameter,
    fall=parameter,
    initial=st.floats(min_value=-10, max_value=10, allow_nan=False),
    keyed=st.booleans(),
)
def test_batches_equal_one_in_memory_call(
    rows: list[tuple[int | None, float | None]],
    cuts: list[int],
    rise: float,
    fall: float,
    initial: float,
    keyed: bool,
) -> None:
    frame = pl.DataFrame(
        {"k": [k for k, _ in rows], "x": [v for _, v in rows]},
        schema={"k": pl.Int64, "x": pl.Float64},
    )
    by = ["k"] if keyed else []
    parameters = {"rise": rise, "fall": fall, "initial": initial}
    scorer = StatefulScorer("x", by=by, rise=rise, fall=fall, initial=initial)
    got = in_batches(scorer, frame, cuts)
    assert got.columns == ["k", "x", "x_score"]
    assert got.select("k", "x").equals(frame)
    expected = in_memory(frame, by, **parameters).to_list()
    assert_bit_identical(got["x_score"].to_list(), expected)
    keys = frame["k"].to_list() if keyed else [None] * frame.height
    reference = score_by_key(frame["x"].to_list(), keys, **parameters)
    assert_bit_identical(got["x_score"].to_list(), reference)


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("distinct", [1, 5, 400])
def test_tiny_batches_many_keys(batch: int, distinct: int) -> None:
    n = 300
    frame = pl.DataFrame(
        {
            # Keys spread over the whole frame, so each spans many batches.
            "k": [(i * 7919) % distinct if i % 13 else None for i in range(n)],
            "x": [float((i * 31) % 17) - 4.0 if i % 11 else None for i in range(n)],
        }
    )
    scorer = StatefulScorer("x", by="k")
    got = in_batches(scorer, frame, range(batch, n, batch))
    expected = in_memory(frame, ["k"])
    assert_bit_identical(got["x_score"].to_list(), expected.to_list())
    reference = score_by_key(frame["x"].to_list(), frame["k"].to_list())
    assert_bit_identical(got["x_score"].to_list(), reference)


def test_a_key_whose_batch_is_all_null_keeps_its_state() -> None:
    scorer = StatefulScorer("x", by="k", rise=0.5, fall=0.25)
    batches = [
        pl.DataFrame({"k": [1, 2], "x": [4.0, 8.0]}),
        pl.DataFrame({"k": [1, 1, 2], "x": [None, None, 1.0]}),
        pl.DataFrame({"k": [1], "x": [None]}),
        pl.DataFrame({"k": [2, 1], "x": [None, 3.0]}),
    ]
    got = [s for b in batches for s in scorer.score(b)["x_score"].to_list()]
    whole = pl.concat(batches)
    expected = score_by_key(whole["x"].to_list(), whole["k"].to_list(), rise=0.5, fall=0.25)
    assert_bit_identical(got, expected)


def test_a_key_never_scored_starts_from_initial() -> None:
    scorer = StatefulScorer("x", by="k", initial=2.0)
    schema = {"k": pl.Int64, "x": pl.Int32}
    first = scorer.score(pl.DataFrame({"k": [7], "x": [None]}, schema=schema))
    second = scorer.score(pl.DataFrame({"k": [7], "x": [1]}, schema=schema))
    got = [*first["x_score"].to_list(), *second["x_score"].to_list()]
    assert got == score_by_key([None, 1], [7, 7], initial=2.0)


def test_state_may_be_nan_or_infinite() -> None:
    for by in ([], ["k"]):
        scorer = StatefulScorer("x", by=by)
        batches = [[math.inf], [1.0, math.nan], [2.0], [-math.inf, 0.0]]
        got = []
        for values in batches:
            frame = pl.DataFrame({"k": [1] * len(values), "x": values})
            got.extend(scorer.score(frame)["x_score"].to_list())
        flat = [v for values in batches for v in values]
        assert_bit_identical(got, score_by_key(flat, [1] * len(flat)))


@pytest.mark.parametrize(
    "dtype", [pl.Int8, pl.UInt16, pl.Int32, pl.UInt64, pl.Int64, pl.Float32, pl.Float64]
)
def test_value_dtypes(dtype: pl.DataType) -> None:
    values = [3, None, 1, 100, 2, 0, 7, None, 5]
    frame = pl.DataFrame(
        {"k": ["a", "b", "a", None, "b", "a", None, "a", "b"], "x": values},
        schema={"k": pl.String, "x": dtype},
    )
    got = in_batches(StatefulScorer("x", by="k"), frame, [2, 3, 5])
    expected = in_memory(frame, ["k"])
    assert_bit_identical(got["x_score"].to_list(), expected.to_list())
    as_floats = [None if v is None else float(v) for v in frame["x"].to_list()]
    assert_bit_identical(got["x_score"].to_list(), score_by_key(as_floats, frame["k"].to_list()))


@settings(max_examples=40)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["p", "q"])),
            st.one_of(st.none(), st.integers(0, 2)),
            st.one_of(st.none(), st.floats(-5, 5)),
        ),
        max_size=50,
    ),
    cuts=st.lists(st.integers(0, 50), max_size=10),
)
def test_several_key_columns_with_nulls(
    rows: list[tuple[str | None, int | None, float | None]], cuts: list[int]
) -> None:
    frame = pl.DataFrame(
        {"a": [r[0] for r in rows], "b": [r[1] for r in rows], "x": [r[2] for r in rows]},
        schema={"a": pl.String, "b": pl.Int16, "x": pl.Float64},
    )
    got = in_batches(StatefulScorer("x", by=["a", "b"], name="s"), frame, cuts)
    assert got.columns == ["a", "b", "x", "s"]
    expected = in_memory(frame, ["a", "b"])
    assert_bit_identical(got["s"].to_list(), expected.to_list())
    keys = list(zip(frame["a"].to_list(), frame["b"].to_list(), strict=True))
    assert_bit_identical(got["s"].to_list(), score_by_key(frame["x"].to_list(), keys))


@settings(max_examples=40)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from([0.0, -0.0, math.nan, 1.5, -math.inf])),
            st.one_of(st.none(), st.floats(-5, 5)),
        ),
        max_size=40,
    ),
    cuts=st.lists(st.integers(0, 40), max_size=8),
)
def test_float_keys_group_as_in_memory(
    rows: list[tuple[float | None, float | None]], cuts: list[int]
) -> None:
    # -0.0 and 0.0, and NaNs, must fall in the same groups as in one call.
    frame = pl.DataFrame(
        {"k": [r[0] for r in rows], "x": [r[1] for r in rows]},
        schema={"k": pl.Float64, "x": pl.Float64},
    )
    got = in_batches(StatefulScorer("x", by="k"), frame, cuts)
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, ["k"]).to_list())


@settings(max_examples=60)
@given(
    keys=st.lists(
        st.one_of(
            st.none(),
            st.integers(-3, 3),
            st.sampled_from([-(2**63), 2**63 - 1, 2**62 + 1, 2**64 - 1, -(10**12), 10**12, 70_000]),
        ),
        max_size=40,
    ),
    cuts=st.lists(st.integers(0, 40), max_size=10),
    dtype=st.sampled_from([pl.Int64, pl.Int16, pl.UInt64]),
)
def test_integer_keys_near_and_far(
    keys: list[int | None], cuts: list[int], dtype: type[pl.DataType]
) -> None:
    # Close integer keys are indexed by position; keys far apart (or near the
    # dtype's limits) move the states into a hashed store, even mid-stream.
    limits: dict[type[pl.DataType], tuple[int, int]] = {
        pl.Int16: (-(2**15), 2**15 - 1),
        pl.Int64: (-(2**63), 2**63 - 1),
        pl.UInt64: (0, 2**64 - 1),
    }
    low, high = limits[dtype]
    keys = [None if k is None else min(max(k, low), high) for k in keys]
    frame = pl.DataFrame(
        {"k": keys, "x": [float((i * 7) % 5) for i in range(len(keys))]},
        schema={"k": dtype, "x": pl.Float64},
    )
    got = in_batches(StatefulScorer("x", by="k"), frame, cuts)
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, ["k"]).to_list())
    assert_bit_identical(
        got["x_score"].to_list(), score_by_key(frame["x"].to_list(), frame["k"].to_list())
    )


@pytest.mark.parametrize("direction", [1, -1])
def test_keys_that_keep_rising_or_falling(direction: int) -> None:
    # Ids in order: every batch brings new keys beyond the indexed range.
    n = 3000
    frame = pl.DataFrame(
        {
            "k": [direction * (i // 3 + (i % 3) * 7) for i in range(n)],
            "x": [float((i * 13) % 11) for i in range(n)],
        }
    )
    got = in_batches(StatefulScorer("x", by="k"), frame, range(100, n, 100))
    assert_bit_identical(got["x_score"].to_list(), in_memory(frame, ["k"]).to_list())


def test_name_property() -> None:
    assert StatefulScorer("x").name == "x_score"
    assert StatefulScorer("x", name="y").name == "y"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"rise": math.nan}, ValueError, "rise"),
        ({"fall": math.inf}, ValueError, "fall"),
        ({"initial": "1"}, TypeError, "initial"),
        ({"rise": True}, TypeError, "rise"),
        ({"by": 3}, TypeError, "by"),
        ({"by": ["k", "k"]}, ValueError, "'k'"),
        ({"name": ""}, TypeError, "name"),
    ],
)
@pytest.mark.parametrize("scorer", [StatefulScorer, RollingScorer])
def test_bad_parameters_name_the_class(
    kwargs: dict[str, object], error: type, words: str, scorer: type[StatefulScorer]
) -> None:
    with pytest.raises(error, match=scorer.__name__) as caught:
        scorer("x", **kwargs)  # type: ignore[arg-type]
    assert words in str(caught.value)


def test_the_first_name_still_works() -> None:
    frame = pl.DataFrame({"k": [1, 1, 2], "x": [1.0, 0.5, 3.0]})
    scorer = RollingScorer("x", by="k")
    assert isinstance(scorer, StatefulScorer)
    assert scorer.score(frame).equals(StatefulScorer("x", by="k").score(frame))


def test_bad_batches() -> None:
    frame = pl.DataFrame({"k": [1], "x": [1.0], "s": ["a"]})
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match=r"'z'.*'k', 'x', 's'"):
        StatefulScorer("z", by="k").score(frame)
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match=r"'j'"):
        StatefulScorer("x", by="j").score(frame)
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"'s'.*String"):
        StatefulScorer("s").score(frame)
    with pytest.raises(ValueError, match="'k'"):
        StatefulScorer("x", name="k").score(frame)


# The parquet drivers ------------------------------------------------------------------


@pytest.fixture
def events(tmp_path: Path) -> Path:
    n = 5000
    frame = pl.DataFrame(
        {
            "k": [(i * 37) % 101 if i % 17 else None for i in range(n)],
            "x": [float((i * 13) % 23) - 5 if i % 19 else None for i in range(n)],
            "tag": [f"t{i % 3}" for i in range(n)],
        }
    )
    path = tmp_path / "events.parquet"
    frame.write_parquet(path, row_group_size=700)
    return path


@pytest.mark.parametrize("batch_rows", [1, 3, 64, 10_000])
def test_score_to_parquet_equals_in_memory(events: Path, batch_rows: int) -> None:
    # Tiny batches are slow, so those cases read only the first rows.
    source = pl.scan_parquet(events)
    if batch_rows <= 3:
        source = source.head(500)
    output = events.with_name("out.parquet")
    written = score_to_parquet(
        source, output, value="x", by="k", rise=0.75, fall=0.25, batch_rows=batch_rows
    )
    frame = source.collect()
    got = pl.read_parquet(output)
    assert written == frame.height
    assert got.select(frame.columns).equals(frame)
    expected = in_memory(frame, ["k"], rise=0.75, fall=0.25)
    assert_bit_identical(got["x_score"].to_list(), expected.to_list())
    assert sorted(p.name for p in output.parent.iterdir()) == ["events.parquet", "out.parquet"]


def test_score_to_parquet_replaces_only_on_success(events: Path) -> None:
    output = events.with_name("out.parquet")
    output.write_bytes(b"old")
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="score_to_parquet"):
        score_to_parquet(pl.scan_parquet(events), output, value="nope")
    with pytest.raises(ValueError, match="score_to_parquet: batch_rows"):
        score_to_parquet(pl.scan_parquet(events), output, value="x", batch_rows=0)
    with pytest.raises(ValueError, match=r"score_to_parquet: compression .* 'lzma'"):
        score_to_parquet(pl.scan_parquet(events), output, value="x", compression="lzma")  # type: ignore[arg-type]
    assert output.read_bytes() == b"old"
    assert sorted(p.name for p in events.parent.iterdir()) == ["events.parquet", "out.parquet"]
    score_to_parquet(pl.scan_parquet(events), output, value="x", name="score", compression="lz4")
    assert pl.read_parquet(output).columns == ["k", "x", "tag", "score"]
    assert "LZ4" in pq.ParquetFile(output).metadata.row_group(0).column(3).compression


def test_an_error_mid_stream_removes_the_partial_file(events: Path) -> None:
    output = events.parent / "out" / "o.parquet"
    output.parent.mkdir()
    calls = []

    def fail_at_the_third_batch(done: int) -> None:
        calls.append(done)
        if len(calls) == 3:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        score_to_parquet(
            pl.scan_parquet(events),
            output,
            value="x",
            batch_rows=100,
            progress=fail_at_the_third_batch,
        )
    assert calls == [100, 200, 300]
    assert list(output.parent.iterdir()) == []


def test_total_to_parquet(events: Path) -> None:
    output = events.with_name("totals.parquet")
    frame = pl.read_parquet(events)
    written = total_to_parquet(pl.scan_parquet(events), output, value="x", by="k", exponent=2.5)
    got = pl.read_parquet(output)
    assert got.columns == ["k", "x_total"]
    assert written == got.height == frame["k"].n_unique()
    assert got["k"].to_list() == sorted(frame["k"].unique().to_list(), key=lambda k: (k is None, k))
    for key, total in got.iter_rows():
        values = frame.filter(pl.col("k").eq_missing(key))["x"].to_list()
        assert math.isclose(total, reference_total(values, exponent=2.5), rel_tol=1e-12)

    total_to_parquet(pl.scan_parquet(events), output, value="x")
    expected = reference_total(frame["x"].to_list())
    assert math.isclose(pl.read_parquet(output).item(), expected, rel_tol=1e-12)


def test_total_to_parquet_errors(events: Path) -> None:
    output = events.with_name("t.parquet")
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"total_to_parquet.*'tag'"):
        total_to_parquet(pl.scan_parquet(events), output, value="tag")
    with pytest.raises(ValueError, match="total_to_parquet: exponent"):
        total_to_parquet(pl.scan_parquet(events), output, value="x", exponent=math.nan)
    assert not output.exists()
