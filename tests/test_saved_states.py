"""State files (``--state``, ``states=``): scoring files one run at a time
gives the scores of one run over all of them, a killed run loses nothing
and counts nothing twice, an input is never scored twice into one state,
and a bad state file is refused in one line with nothing touched."""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import assert_bit_identical, float_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polars_scores import cli, durable
from polars_scores.saved_states import METADATA_KEY, StateFile
from polars_scores.source import scan_scores
from polars_scores.writers import score_to_file, score_to_parquet

MAPPING_RULE = {"level": "level * 0.5 + value", "n": "n + 1"}
RULES: list[str | dict[str, str] | None] = [None, "prev * 0.75 + value", MAPPING_RULE]
VALUES = [None, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e300, -2.5, 3.25, 7.0]


def rule_options(rule: str | dict[str, str] | None) -> list[str]:
    if rule is None:
        return []
    if isinstance(rule, str):
        return ["--rule", rule]
    return [option for state, expr in rule.items() for option in ("--rule", f"{state}={expr}")]


def score(*args: object) -> int:
    """The command ``polars-scores score ARGS -q``, run in this process."""
    return cli.main(["score", *map(str, args), "-q"])


@st.composite
def split_runs(draw: st.DrawFn) -> tuple[str, pl.DataFrame, list[int], list[int]]:
    """A kind of key, a frame, where it is cut into files (one per run), and
    each run's batch rows."""
    kind = draw(st.sampled_from(["string", "two", "int"]))
    n = draw(st.integers(0, 40))
    row = st.fixed_dictionaries(
        {
            "x": st.one_of(st.sampled_from(VALUES), st.floats(-100, 100)),
            "k": st.sampled_from(["a", "b", "c", None])
            if kind != "int"
            else st.one_of(st.none(), st.integers(-3, 3)),
            "j": st.integers(0, 2),
        }
    )
    rows = draw(st.lists(row, min_size=n, max_size=n))
    schema = {"x": pl.Float64, "k": pl.String if kind != "int" else pl.Int64, "j": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    files = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=files - 1, max_size=files - 1)))
    batches = draw(st.lists(st.integers(1, 7), min_size=files, max_size=files))
    return kind, frame, cuts, batches


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=split_runs(), rule=st.sampled_from(RULES))
def test_runs_carried_on_give_the_bits_of_one_run(
    case: tuple[str, pl.DataFrame, list[int], list[int]], rule: str | dict[str, str] | None
) -> None:
    kind, frame, cuts, batches = case
    keys = ["k", "j"] if kind == "two" else ["k"]
    points = [0, *cuts, frame.height]
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state" / "state.parquet"
        state.parent.mkdir()
        outputs = []
        for run, (start, end) in enumerate(itertools.pairwise(points)):
            part = frame.slice(start, end - start)
            if kind == "int":
                # Int32 in one file, Int64 in the next: one key whatever its width.
                part = part.cast({"k": pl.Int32 if run % 2 == 0 else pl.Int64})
            source = Path(folder) / f"day-{run}.parquet"
            part.write_parquet(source)
            output = Path(folder) / f"scored-{run}.parquet"
            by = [option for key in keys for option in ("--by", key)]
            status = score(
                source, "-o", output, "--value", "x", *by, *rule_options(rule),
                "--batch-rows", batches[run], "--state", state,
            )  # fmt: skip
            assert status == 0
            outputs.append(pl.read_parquet(output))
        got = pl.concat(outputs, how="vertical_relaxed")
        whole = scan_scores(frame.lazy(), "x", by=keys, rule=rule).collect()
        columns = [c for c in whole.columns if c not in frame.columns]
        assert got.columns == [*frame.columns, *columns]
        for column in columns:
            assert_bit_identical(got[column].to_list(), whole[column].to_list())
        # The state file holds each key's state after its last non-null value.
        saved = pl.read_parquet(state).sort(keys, nulls_last=True)
        lasts = (
            whole.filter(pl.col("x").is_not_null())
            .group_by(keys, maintain_order=True)
            .agg(pl.col(columns).last())
        )
        saved = saved.cast(dict(frame.select(keys).schema))
        assert saved.select(keys).equals(frame.select(keys).unique().sort(keys, nulls_last=True))
        expected = saved.select(keys).join(lasts, on=keys, how="left", nulls_equal=True)
        for column in columns:
            # A key whose values were all null holds its start state.
            want = expected[column].fill_null(0.0).to_list()
            assert_bit_identical(saved[column].to_list(), want)
        runs = json.loads(pl.read_parquet_metadata(state)[METADATA_KEY])["runs"]
        assert [run["output"] for run in runs] == [
            os.path.realpath(Path(folder) / f"scored-{i}.parquet") for i in range(len(outputs))
        ]


def test_the_writers_carry_on_too(tmp_path: Path) -> None:
    frame = pl.DataFrame({"k": ["a", "b", "a", "b", "a"], "x": [1.0, 2.0, 3.0, 0.5, 4.0]})
    state = tmp_path / "state.parquet"
    assert score_to_file(frame.head(2).lazy(), tmp_path / "1.csv", value="x", by="k", states=state)
    assert score_to_parquet(
        frame.tail(3).lazy(), tmp_path / "2.pq", value="x", by="k", states=state
    )
    got = pl.concat([pl.read_csv(tmp_path / "1.csv"), pl.read_parquet(tmp_path / "2.pq")])
    whole = frame.with_columns(x_score=pl.col("x").scores.rolling(by="k"))
    assert_bit_identical(got["x_score"].to_list(), whole["x_score"].to_list())
    saved = pl.read_parquet(state).sort("k")
    assert saved.rows() == [("a", whole["x_score"][4]), ("b", whole["x_score"][3])]
    # Python's runs record their outputs; their inputs are a LazyFrame's, unknown.
    runs = json.loads(pl.read_parquet_metadata(state)[METADATA_KEY])["runs"]
    assert [(Path(run["output"]).name, run["inputs"]) for run in runs] == [
        ("1.csv", []),
        ("2.pq", []),
    ]
    with pytest.raises(ValueError, match=r"^score_to_file: the state file .* made with rise=0.9"):
        score_to_file(frame.lazy(), tmp_path / "3.csv", value="x", by="k", rise=0.8, states=state)
    with pytest.raises(ValueError, match=r"^score_to_file: the state file .* is the output"):
        score_to_file(frame.lazy(), state, value="x", by="k", states=state)


def test_states_written_beside_an_output_that_fails_go_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The final states are written to a work file while the output is
    # finished; an output that then fails (its sync, on a full disk) leaves
    # the state file as it was, and nothing beside it.
    frame = pl.DataFrame({"k": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]})
    state, output = tmp_path / "states" / "state.parquet", tmp_path / "out.parquet"
    state.parent.mkdir()
    assert score_to_parquet(frame.lazy(), output, value="x", by="k", states=state) == 3
    before = untouched(state, output)
    written: list[durable.Replacement] = []
    committed: list[durable.Replacement] = []
    write = StateFile.write

    def kept_write(self: StateFile, *args: Any) -> durable.Replacement:
        written.append(write(self, *args))
        return written[-1]

    def full_disk(self: durable.Replacement) -> None:
        committed.append(self)
        raise durable.cannot_write("score_to_parquet", output, errno.ENOSPC)

    monkeypatch.setattr(StateFile, "write", kept_write)
    monkeypatch.setattr(durable.Replacement, "commit", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        score_to_parquet(frame.lazy(), output, value="x", by="k", states=state)
    # The states were written, never committed (the output's commit came
    # first and failed), and their work file was let go: an unnamed one
    # closed, a named one removed.
    assert len(written) == 1
    assert len(committed) == 1
    assert committed[0] is not written[0]
    assert written[0].fd is None
    assert untouched(state, output) == before
    assert [p.name for p in state.parent.iterdir()] == ["state.parquet"]
    monkeypatch.undo()
    # Nothing is counted twice: the same run again carries on from the old states.
    assert score_to_parquet(frame.lazy(), output, value="x", by="k", states=state) == 3
    twice = pl.concat([frame, frame]).with_columns(x_score=pl.col("x").scores.rolling(by="k"))
    assert_bit_identical(
        pl.read_parquet(output)["x_score"].to_list(), twice["x_score"][3:].to_list()
    )


def test_without_keys_the_state_is_one_row(tmp_path: Path) -> None:
    frame = pl.DataFrame({"x": [1.0, None, 3.0, 0.5, None]})
    state = tmp_path / "state.parquet"
    for run, part in enumerate([frame.head(2), frame.tail(3)]):
        part.write_parquet(tmp_path / f"{run}.parquet")
        assert score(tmp_path / f"{run}.parquet", "-o", tmp_path / f"out{run}.csv",
                     "--value", "x", "--state", state) == 0  # fmt: skip
    got = pl.concat([pl.read_csv(tmp_path / f"out{run}.csv") for run in range(2)])
    whole = frame.with_columns(x_score=pl.col("x").scores.rolling())
    assert_bit_identical(got["x_score"].to_list(), whole["x_score"].to_list())
    assert pl.read_parquet(state).rows() == [(whole["x_score"][3],)]


# ---------------------------------------------------------------- kill safety


def write_day(path: Path, day: int, rows: int = 300_000, keys: int = 100_000) -> None:
    index = pl.int_range(rows, eager=True) + day * rows
    pl.DataFrame(
        {"k": (index * 7919) % keys, "x": ((index * 31) % 97).cast(pl.Float64) - 40.0}
    ).write_parquet(path)


def state_contents(path: Path) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """A state file read back: its rows (keys and exact state bits), and its
    settings and runs without the runs' times."""
    recorded = json.loads(pl.read_parquet_metadata(path)[METADATA_KEY])
    for run in recorded["runs"]:
        run.pop("time")
    frame = pl.read_parquet(path)
    return frame.with_columns(pl.exclude("k").map_elements(float_key)).rows(), recorded


def test_a_killed_run_leaves_both_old_or_the_output_new_and_reruns_exactly(
    tmp_path: Path,
) -> None:
    day1, day2 = tmp_path / "day1.parquet", tmp_path / "day2.parquet"
    write_day(day1, 1)
    write_day(day2, 2)
    output = tmp_path / "out" / "scored.parquet"
    state = tmp_path / "state" / "state.parquet"
    output.parent.mkdir()
    state.parent.mkdir()
    command = [sys.executable, "-m", "polars_scores.cli", "score", str(day2), "-o", str(output),
               "--value", "x", "--by", "k", "--state", str(state), "-q"]  # fmt: skip
    assert score(day1, "-o", output, "--value", "x", "--by", "k", "--state", state) == 0
    old_output, old_state = output.read_bytes(), state.read_bytes()

    started = time.monotonic()
    subprocess.run(command, check=True, timeout=120)
    took = time.monotonic() - started
    new_output, new_state = pl.read_parquet(output), state_contents(state)

    def restore() -> None:
        output.write_bytes(old_output)
        state.write_bytes(old_state)

    moments = [random.uniform(0, took) for _ in range(6)] + [None]
    for moment in moments:
        restore()
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        if moment is None:
            # Once it writes the state file, whose folder is its own.
            while process.poll() is None and not _writes_into(process.pid, state.parent):
                time.sleep(0.001)
        else:
            time.sleep(moment)
        process.kill()
        process.wait(timeout=60)
        if state.read_bytes() != old_state:
            assert state_contents(state) == new_state  # the run finished
            assert output.read_bytes() != old_output
        if output.read_bytes() != old_output:
            assert pl.read_parquet(output).equals(new_output)
        else:
            assert state.read_bytes() == old_state, "the state file is new, the output old"
        assert sorted(p.name for p in output.parent.iterdir()) == ["scored.parquet"]
        assert sorted(p.name for p in state.parent.iterdir()) == ["state.parquet"]
        # Run again (unless it finished): what an uninterrupted run gives.
        if state.read_bytes() == old_state:
            subprocess.run(command, check=True, timeout=120)
        assert pl.read_parquet(output).equals(new_output)
        assert state_contents(state) == new_state


def _writes_into(pid: int, folder: Path) -> bool:
    for link in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = Path(os.readlink(link))
        except OSError:
            continue
        if target.parent == folder and target.name.startswith(("#", ".")):
            return True
    return False


# ------------------------------------------------------------- consumed inputs


def untouched(*paths: Path) -> list[tuple[bytes, int]]:
    return [(path.read_bytes(), path.stat().st_mtime_ns) for path in paths]


def one_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("polars-scores score: error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_an_input_scored_already_is_refused_and_a_copy_redoes_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days = [tmp_path / f"day{day}.parquet" for day in range(3)]
    for day, path in enumerate(days):
        write_day(path, day, rows=1000, keys=50)
    state, before_day2 = tmp_path / "state.parquet", tmp_path / "before-day2.parquet"
    options = ["--value", "x", "--by", "k", "--state", state]
    assert score(days[0], "-o", tmp_path / "out0.parquet", *options) == 0
    shutil.copy(state, before_day2)
    (run,) = json.loads(pl.read_parquet_metadata(state)[METADATA_KEY])["runs"]
    found = os.stat(days[0])
    assert run["inputs"] == [
        {"path": os.path.realpath(days[0]), "size": found.st_size,
         "mtime_ns": found.st_mtime_ns, "rows": 1000}
    ]  # fmt: skip
    assert score(days[1], "-o", tmp_path / "out1.parquet", *options) == 0
    capsys.readouterr()
    kept = untouched(state, tmp_path / "out1.parquet")
    assert score(days[2], days[1], "-o", tmp_path / "out1.parquet", *options) == 1
    line = one_line(
        capsys,
        f"the input {os.path.realpath(days[1])!r} was scored",
        f"--state file {str(state)!r}",
        os.path.realpath(tmp_path / "out1.parquet"),
    )
    assert "by the run of 20" in line
    assert untouched(state, tmp_path / "out1.parquet") == kept
    assert not (tmp_path / "out2.parquet").exists()
    # A file rewritten since (another size or time) is new data.
    write_day(days[1], 1, rows=1000, keys=50)
    os.utime(days[1], ns=(1, 1))
    assert score(days[1], "-o", tmp_path / "again.parquet", *options) == 0
    # From a copy made before a run, the run can be done again.
    write_day(days[1], 1, rows=1000, keys=50)
    redo = ["--value", "x", "--by", "k", "--state", before_day2]
    assert score(days[1], "-o", tmp_path / "redo.parquet", *redo) == 0
    assert pl.read_parquet(tmp_path / "redo.parquet").equals(
        pl.read_parquet(tmp_path / "out1.parquet")
    )


def test_the_state_file_may_not_be_read_nor_be_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_day(tmp_path / "day.parquet", 0, rows=100, keys=5)
    options = ["--value", "x", "--by", "k", "--state"]
    out = tmp_path / "out" / "o.parquet"
    out.parent.mkdir()
    read = str(tmp_path / "*.parquet")
    assert score(read, "-o", out, *options, tmp_path / "s.parquet") == 1
    one_line(capsys, "the state file", "is read by the input")
    assert score(tmp_path / "day.parquet", "-o", out, *options, out) == 1
    one_line(capsys, f"the --state file {str(out)!r} is the output")
    # Refused before the output is written, which the state file follows.
    nowhere = tmp_path / "missing" / "s.parquet"
    assert score(tmp_path / "day.parquet", "-o", out, *options, nowhere) == 1
    one_line(capsys, f"the --state file {str(nowhere)!r} cannot be written in its folder")
    assert score(tmp_path / "day.parquet", "-o", out, *options, tmp_path) == 1
    one_line(capsys, f"the --state file {str(tmp_path)!r} is a folder")
    assert not out.exists() and not (tmp_path / "s.parquet").exists()


# ---------------------------------------------------------------- bad files


def remade(state: Path, change: Any) -> None:
    """Rewrite `state` with `change` applied to its frame and (a dict) its settings."""
    recorded = json.loads(pl.read_parquet_metadata(state)[METADATA_KEY])
    frame = change(pl.read_parquet(state), recorded)
    frame.write_parquet(state, metadata={METADATA_KEY: json.dumps(recorded)})


def _version_2(frame: pl.DataFrame, recorded: dict[str, Any]) -> pl.DataFrame:
    recorded["format"] = 2
    return frame


SAME = ("--value", "amount", "--by", "user")
"""The second run's options where its settings are those of the first."""

BAD_FILES: dict[str, tuple[Any, Sequence[str], Sequence[str]]] = {
    # name: (what is done to the state file, the run's options, words of the error)
    "not parquet": (lambda s: s.write_bytes(b"no parquet"), SAME, ("cannot read", "as parquet")),
    "truncated": (
        lambda s: s.write_bytes(s.read_bytes()[: s.stat().st_size // 2]),
        SAME,
        ("cannot read", "as parquet"),
    ),
    "no settings": (
        lambda s: pl.read_parquet(s).write_parquet(s),
        SAME,
        ("no polars-scores state file", METADATA_KEY),
    ),
    "wrong columns": (
        lambda s: remade(s, lambda f, r: f.rename({"amount_score": "other"})),
        SAME,
        ("has the columns", "'other'", "'amount_score'"),
    ),
    "an extra column": (
        lambda s: remade(s, lambda f, r: f.with_columns(extra=1.0)),
        SAME,
        ("has the columns", "'extra'"),
    ),
    "an Int state": (
        lambda s: remade(s, lambda f, r: f.cast({"amount_score": pl.Int64})),
        SAME,
        ("'amount_score' as Int64", "must be Float64"),
    ),
    "nulls": (
        lambda s: remade(s, lambda f, r: f.with_columns(amount_score=pl.lit(None, pl.Float64))),
        SAME,
        ("nulls", "'amount_score'"),
    ),
    "duplicated keys": (
        lambda s: remade(s, lambda f, r: pl.concat([f, f.head(1)])),
        SAME,
        ("twice",),
    ),
    "unknown version": (
        lambda s: remade(s, _version_2),
        SAME,
        ("format version 2", "reads version 1"),
    ),
    "another value": (
        None,
        ("--value", "fee", "--by", "user"),
        ("was made with --value amount; this run has --value fee",),
    ),
    "another key": (
        None,
        ("--value", "amount", "--by", "other"),
        ("made with --by user; this run has --by other",),
    ),
    "no key": (None, ("--value", "amount"), ("made with --by user; this run has no --by",)),
    "a rule": (
        None,
        (*SAME, "--rule", "prev + value"),
        ("made with --rise 0.9 --fall 0.5; this run has --rule 'prev + value'",),
    ),
    "another rise": (
        None,
        (*SAME, "--rise", "0.8"),
        ("--rise 0.9 --fall 0.5; this run has --rise 0.8 --fall 0.5",),
    ),
    "another initial": (
        None,
        (*SAME, "--initial", "1"),
        ("made with --initial 0.0; this run has --initial 1.0",),
    ),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_a_bad_state_file_is_refused_in_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage, options, words = BAD_FILES[case]
    frame = pl.DataFrame(
        {"user": [1, 2, 1], "other": [0, 0, 1], "amount": [1.0, 2.0, 3.0], "fee": [0.1, 0.2, 0.3]}
    )
    for day in range(2):
        frame.write_parquet(tmp_path / f"day{day}.parquet")
    state, output = tmp_path / "state.parquet", tmp_path / "out.parquet"
    first = ["--value", "amount", "--by", "user", "--state", state]
    assert score(tmp_path / "day0.parquet", "-o", output, *first) == 0
    if damage is not None:
        damage(state)
    kept = untouched(state, output)
    capsys.readouterr()
    status = score(tmp_path / "day1.parquet", "-o", output, *options, "--state", state)
    assert status == 1
    one_line(capsys, str(state), *words)
    assert untouched(state, output) == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "day0.parquet", "day1.parquet", "out.parquet", "state.parquet",
    ]  # fmt: skip
