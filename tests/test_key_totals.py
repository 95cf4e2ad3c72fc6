"""Per-key totals folded across batches (src/states/totals.rs, `KeyTotals`),
as `total_to_file`, `total_to_parquet` and `polars-scores total` use them:
against `math.fsum` per key, for every key kind, batch split and format."""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polars_scores._internal import KeyTotals
from polars_scores.writers import total_to_file, total_to_parquet


def fsum_by_key(
    keys: Sequence[Hashable], values: Sequence[float | None], exponent: float = 1.5
) -> dict[Hashable, float]:
    """Each key's exact sum of ``v ** exponent`` over its non-null ``v > 0``."""
    terms: dict[Hashable, list[float]] = defaultdict(list)
    for key, value in zip(keys, values, strict=True):
        terms[key].append(value**exponent if value is not None and value > 0 else 0.0)
    return {key: math.fsum(each) for key, each in terms.items()}


def folded(frame: pl.DataFrame, by: list[str], value: str, cuts: Sequence[int]) -> pl.DataFrame:
    """The totals of `frame` fed to one `KeyTotals` in batches cut at `cuts`."""
    totals = KeyTotals(1.5, len(by), 1, method="test")
    bounds = [0, *sorted(cuts), frame.height]
    for start, end in itertools.pairwise(bounds):
        batch = frame.slice(start, end - start)
        totals.add([batch[key] for key in by], [batch[value]])
    return pl.DataFrame(totals.export([f"{value}_total"]))


def row_key(row: tuple[Any, ...], width: int) -> Hashable:
    return row[0] if width == 1 else tuple(row[:width])


def check_against_fsum(got: pl.DataFrame, frame: pl.DataFrame, by: list[str], value: str) -> None:
    keys = [row_key(row, len(by)) for row in frame.select(by).iter_rows()]
    want = fsum_by_key(keys, frame[value].to_list())
    assert got.height == len(want)
    for row in got.iter_rows():
        total, expected = row[-1], want[row_key(row, len(by))]
        assert math.isclose(total, expected, rel_tol=1e-12, abs_tol=1e-300), row


@settings(max_examples=40, deadline=None)
@given(
    keys=st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=0, max_size=200),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["int", "str"]),
)
def test_per_key_totals_match_fsum_for_any_batch_split(
    keys: list[int | None], seed: int, kind: str
) -> None:
    rng = random.Random(seed)
    values = [None if rng.random() < 0.1 else rng.uniform(-1e3, 1e6) for _ in keys]
    column = keys if kind == "int" else [None if k is None else f"key{k}" for k in keys]
    dtype = pl.Int64 if kind == "int" else pl.String
    frame = pl.DataFrame(
        {"k": pl.Series(column, dtype=dtype), "x": pl.Series(values, dtype=pl.Float64)}
    )
    cuts = [rng.randint(0, len(keys)) for _ in range(rng.randint(0, 4))]
    got = folded(frame, ["k"], "x", cuts)
    assert got.schema == pl.Schema({"k": dtype, "x_total": pl.Float64})
    check_against_fsum(got, frame, ["k"], "x")


def test_several_key_columns_with_nulls_in_keys_and_values() -> None:
    rng = random.Random(7)
    n = 5_000
    frame = pl.DataFrame(
        {
            "a": [rng.choice([None, "p", "q", "r"]) for _ in range(n)],
            "b": pl.Series([rng.choice([None, 1, 2, 3]) for _ in range(n)], dtype=pl.Int32),
            "x": [None if rng.random() < 0.2 else rng.uniform(-5, 1e9) for _ in range(n)],
        }
    )
    got = folded(frame, ["a", "b"], "x", [100, 2_000, 2_001])
    assert got.schema == pl.Schema({"a": pl.String, "b": pl.Int32, "x_total": pl.Float64})
    check_against_fsum(got, frame, ["a", "b"], "x")


def test_sums_that_cancel_badly_stay_exact() -> None:
    # Per key: one huge term, many tiny ones; a plain sum loses the tiny ones.
    values = [1e16] + [1.0] * 1000
    frame = pl.DataFrame({"k": [1] * len(values), "x": values})
    got = folded(frame, ["k"], "x", [1, 500])
    assert got["x_total"].item() == math.fsum(v**1.5 for v in values)


def test_without_keys_one_row_and_none_before_any_batch() -> None:
    totals = KeyTotals(1.5, 0, 2, method="test")
    assert [s.to_list() for s in totals.export(["x_total", "y_total"])] == [[0.0], [0.0]]
    totals.add([], [pl.Series([4.0, None, -1.0]), pl.Series([9, 1, 0])])
    totals.add([], [pl.Series([4.0]), pl.Series([None], dtype=pl.Int64)])
    assert [s.to_list() for s in totals.export(["x_total", "y_total"])] == [[16.0], [28.0]]
    assert len(KeyTotals(1.5, 1, 1)) == 0


def test_key_dtypes_may_widen_between_batches() -> None:
    totals = KeyTotals(1.0, 1, 1, method="test")
    totals.add([pl.Series("k", [None, None], dtype=pl.Null)], [pl.Series([1.0, 2.0])])
    totals.add([pl.Series("k", [1, 2], dtype=pl.Int32)], [pl.Series([1.0, 2.0])])
    totals.add([pl.Series("k", [2, 3], dtype=pl.Int64)], [pl.Series([5.0, 7.0])])
    got = pl.DataFrame(totals.export(["x_total"])).sort("k", nulls_last=True)
    assert got.rows() == [(1, 1.0), (2, 7.0), (3, 7.0), (None, 3.0)]


def test_errors_name_the_method_and_change_nothing() -> None:
    totals = KeyTotals(1.5, 1, 1, method="total_to_file")
    totals.add([pl.Series("k", [1])], [pl.Series("x", [4.0])])
    with pytest.raises(pl.exceptions.SchemaError, match="total_to_file: key column 'k'"):
        totals.add([pl.Series("k", ["a"])], [pl.Series("x", [4.0])])
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"total_to_file.*'x'"):
        totals.add([pl.Series("k", [1])], [pl.Series("x", ["a"])])
    with pytest.raises(pl.exceptions.ShapeError, match="total_to_file"):
        totals.add([pl.Series("k", [1, 2])], [pl.Series("x", [4.0])])
    assert pl.DataFrame(totals.export(["x_total"])).rows() == [(1, 8.0)]


def test_finish_exports_and_leaves_the_totals_as_new() -> None:
    totals = KeyTotals(1.0, 1, 1, method="test")
    totals.add([pl.Series("k", ["b", "a", "b"])], [pl.Series([1.0, 2.0, 3.0])])
    assert totals.heap_bytes() > 0
    with pytest.raises(pl.exceptions.ShapeError, match="test: 2 names for 1 value columns"):
        totals.finish(["x_total", "y_total"])
    got = pl.DataFrame(totals.finish(["x_total"])).sort("k")
    assert got.rows() == [("a", 2.0), ("b", 4.0)]
    assert len(totals) == 0
    assert [column.len() for column in totals.export(["x_total"])] == [0]
    # Empty, it takes any key dtype again.
    totals.add([pl.Series("k", [7])], [pl.Series([5.0])])
    assert pl.DataFrame(totals.finish(["x_total"])).rows() == [(7, 5.0)]


LONG_KEYS = """
import resource, polars as pl
from polars_scores._internal import KeyTotals
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
totals = KeyTotals(1.0, 1, 1, method="test")
padding = "x" * 1000
start = peak_mb()
for batch in range(30):
    keys = pl.Series("k", [f"{padding}-{batch}-{row % 50}" for row in range(10_000)])
    totals.add([keys], [pl.Series([1.0] * len(keys))])
    del keys
assert len(totals) == 1500
assert pl.DataFrame(totals.finish(["x_total"]))["x_total"].sum() == 300_000.0
print(peak_mb() - start)
"""


def test_long_string_keys_keep_no_batch_buffers() -> None:
    # Strings over 12 bytes live in a batch's shared buffers, 10 MB a batch
    # here: a key's first row must not keep the whole batch's alive (30
    # batches would keep 300 MB). In a process of its own, so that no other
    # test's peak hides the growth.
    run = subprocess.run([sys.executable, "-c", LONG_KEYS], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) < 100, f"{float(run.stdout):.0f} MB for 1,500 keys"


FORMATS = {"parquet": ".parquet", "csv": ".csv", "ipc": ".ipc", "ndjson": ".ndjson"}


@pytest.mark.parametrize("kind", FORMATS)
def test_total_to_file_sorts_keys_nulls_last_in_every_format(tmp_path: Path, kind: str) -> None:
    rng = random.Random(3)
    n = 3_000
    frame = pl.DataFrame(
        {
            "k": [rng.choice([None, *range(50)]) for _ in range(n)],
            "x": [None if rng.random() < 0.1 else rng.uniform(-1, 100) for _ in range(n)],
        }
    )
    output = tmp_path / f"t{FORMATS[kind]}"
    written = total_to_file(frame.lazy(), output, value="x", by="k")
    schema = pl.Schema({"k": pl.Int64, "x_total": pl.Float64})
    got = {
        "parquet": lambda: pl.read_parquet(output),
        "csv": lambda: pl.read_csv(output, schema=schema),
        "ipc": lambda: pl.read_ipc(output),
        "ndjson": lambda: pl.read_ndjson(output, schema=schema),
    }[kind]()
    assert written == got.height == 51
    assert got["k"].to_list() == [*range(50), None]
    check_against_fsum(got, frame, ["k"], "x")


def test_total_to_parquet_of_an_empty_source_keeps_the_key_dtypes(tmp_path: Path) -> None:
    empty = pl.LazyFrame(schema={"k": pl.String, "j": pl.UInt8, "x": pl.Float32})
    output = tmp_path / "t.parquet"
    assert total_to_parquet(empty, output, value="x", by=["k", "j"]) == 0
    got = pl.read_parquet(output)
    assert got.schema == pl.Schema({"k": pl.String, "j": pl.UInt8, "x_total": pl.Float64})
    assert total_to_parquet(empty, output, value="x") == 1
    assert pl.read_parquet(output).rows() == [(0.0,)]


def test_categorical_keys_total_as_their_strings(tmp_path: Path) -> None:
    # Categorical keys reach Rust as strings; the output keeps their dtype.
    rng = random.Random(3)
    frame = pl.DataFrame(
        {
            "k": [f"user-{rng.randrange(30)}" for _ in range(500)],
            "x": [rng.uniform(-3, 3) for _ in range(500)],
        }
    )
    output = tmp_path / "totals.parquet"
    total_to_parquet(frame.lazy().cast({"k": pl.Categorical}), output, value="x", by="k")
    got = pl.read_parquet(output)
    assert got.schema["k"] == pl.Categorical
    check_against_fsum(got.cast({"k": pl.String}), frame, ["k"], "x")
