"""The streaming writers under signals, failures and power loss, in this process."""

from __future__ import annotations

import errno
import math
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import polars as pl
import pytest
from helpers import assert_bit_identical
from reference import score_by_key
from reference import total as reference_total

import polars_scores.durable as durable
from polars_scores.writers import score_to_parquet, total_to_parquet

ROWS = 3_000
BATCH = 100


@pytest.fixture
def events(tmp_path: Path) -> Path:
    frame = pl.DataFrame(
        {
            "k": [(i * 37) % 101 if i % 17 else None for i in range(ROWS)],
            "x": [float((i * 13) % 23) - 5 if i % 19 else None for i in range(ROWS)],
        }
    )
    path = tmp_path / "events.parquet"
    frame.write_parquet(path, row_group_size=500)
    return path


def write(kind: str, source: Path, output: Path, progress: Callable[[int], None]) -> int:
    """Score or total `source` into `output`, reporting progress."""
    if kind == "score":
        return score_to_parquet(
            pl.scan_parquet(source), output, value="x", by="k", batch_rows=BATCH, progress=progress
        )
    # Small row groups, so that the total's input arrives in several batches.
    return total_to_parquet(pl.scan_parquet(source), output, value="x", by="k", progress=progress)


def assert_complete(kind: str, source: Path, output: Path) -> None:
    """`output` is the whole, right result for `source`."""
    frame = pl.read_parquet(source)
    got = pl.read_parquet(output)
    if kind == "score":
        assert got.drop("x_score").equals(frame)
        expected = score_by_key(frame["x"].to_list(), frame["k"].to_list())
        assert_bit_identical(got["x_score"].to_list(), expected)
        return
    assert got.height == frame["k"].n_unique()
    for key, total in got.iter_rows():
        values = frame.filter(pl.col("k").eq_missing(key))["x"].to_list()
        assert math.isclose(total, reference_total(values), rel_tol=1e-12)


class Handler:
    """A Python signal handler that counts, installed for the test's duration."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.calls = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.calls += 1

    def __enter__(self) -> Handler:
        self.previous = signal.signal(self.signum, self)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(self.signum, self.previous)


def send_at_the_second_batch(signum: int) -> Callable[[int], None]:
    """A progress callback that sends `signum` to this process at the second batch
    (from Polars' thread, as a signal from outside would arrive)."""
    calls = []

    def progress(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            os.kill(os.getpid(), signum)

    return progress


OTHER_SIGNALS = [signal.SIGUSR1, signal.SIGWINCH, signal.SIGCHLD, signal.SIGALRM]


@pytest.mark.parametrize("signum", OTHER_SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("kind", ["score", "total"])
def test_other_signals_do_not_stop_a_run(events: Path, kind: str, signum: signal.Signals) -> None:
    """A process that handles SIGUSR1 (log rotation), SIGWINCH, SIGCHLD or SIGALRM
    in Python gets its handler run, and its whole output."""
    output = events.with_name("out.parquet")
    with Handler(signum) as handler:
        write(kind, events, output, send_at_the_second_batch(signum))
    assert handler.calls == 1
    assert_complete(kind, events, output)


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
@pytest.mark.parametrize("kind", ["score", "total"])
def test_stop_signals_stop_a_run_and_leave_nothing(
    events: Path, kind: str, signum: signal.Signals
) -> None:
    output = events.with_name("out.parquet")
    output.write_bytes(b"old")
    with Handler(signum) as handler, pytest.raises(KeyboardInterrupt, match="interrupted"):
        write(kind, events, output, send_at_the_second_batch(signum))
    # The original handler got the signal, once the partial result was gone.
    assert handler.calls == 1
    assert output.read_bytes() == b"old"
    assert sorted(p.name for p in events.parent.iterdir()) == ["events.parquet", "out.parquet"]


@pytest.fixture
def system_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The syncs, links and renames made, in order, each with what it touched
    (the kind of file synced, the name linked or renamed to)."""
    calls: list[tuple[str, str]] = []
    fsync, link, replace = os.fsync, os.link, os.replace

    def record_fsync(fd: int) -> None:
        calls.append(("fsync", "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        fsync(fd)

    # Only calls that succeed count (a link onto an existing name fails).
    def record_link(source: str, target: str, **kwargs: int) -> None:
        link(source, target, **kwargs)
        calls.append(("link", os.path.basename(target)))

    def record_replace(source: str, target: str, **kwargs: int) -> None:
        replace(source, target, **kwargs)
        calls.append(("replace", os.path.basename(target)))

    monkeypatch.setattr(os, "fsync", record_fsync)
    monkeypatch.setattr(os, "link", record_link)
    monkeypatch.setattr(os, "replace", record_replace)
    return calls


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed", "named"])
def test_data_synced_before_the_rename_and_the_folder_after(
    events: Path,
    system_calls: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    existing: bool,
    unnamed: bool,
) -> None:
    if not unnamed:
        monkeypatch.setattr(durable, "_unnamed_file", lambda *args: None)
    output = events.with_name("out.parquet")
    if existing:
        output.write_bytes(b"old")
    write("score", events, output, lambda done: None)
    assert_complete("score", events, output)
    # The output gets its name (a link, or a rename over the old one) only
    # after its data is on disk, and the folder is synced after that.
    places = [i for i, (call, name) in enumerate(system_calls) if name == "out.parquet"]
    assert len(places) == 1, system_calls
    assert ("fsync", "file") in system_calls[: places[0]]
    assert system_calls[-1] == ("fsync", "folder")


def test_a_work_file_left_by_a_dead_run_is_removed(events: Path) -> None:
    output = events.with_name("out.parquet")
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    stale = events.with_name(f".out.parquet.{child.pid}-0123abcd.partial")
    stale.write_bytes(b"half a parquet file")
    alive = events.with_name(f".out.parquet.{os.getpid()}-0123abcd.partial")
    alive.write_bytes(b"a run of this process")
    other = events.with_name(f".other.parquet.{child.pid}-0123abcd.partial")
    other.write_bytes(b"another output's")
    write("score", events, output, lambda done: None)
    assert not stale.exists()
    assert alive.exists() and other.exists()


def test_polars_folder_scans_read_hidden_files_and_sub_folders(tmp_path: Path) -> None:
    """Why the work file has no name: a folder scan reads every file below the
    folder, hidden ones and hidden sub-folders included, so no named place in
    the output's folder is safe from it."""
    frame = pl.DataFrame({"x": [1.0]})
    for name in ["a.parquet", ".hidden.parquet", ".work/w.parquet", "_tmp/t.parquet"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        frame.write_parquet(tmp_path / name)
    read = pl.scan_parquet(tmp_path, include_file_paths="path").collect()["path"].to_list()
    assert sorted(Path(path).relative_to(tmp_path).as_posix() for path in read) == [
        ".hidden.parquet",
        ".work/w.parquet",
        "_tmp/t.parquet",
        "a.parquet",
    ]
    (tmp_path / "a.parquet.partial").write_bytes(b"incomplete")
    with pytest.raises(pl.exceptions.PolarsError):
        pl.scan_parquet(tmp_path).collect()


def test_work_files_of_the_system_are_unnamed(
    events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the sink writes, the output's folder holds no new name."""
    seen: list[list[str]] = []
    output = events.parent / "out" / "o.parquet"
    output.parent.mkdir()

    def look(done: int) -> None:
        seen.append(sorted(p.name for p in output.parent.iterdir()))

    write("score", events, output, look)
    assert seen and all(names == [] for names in seen)
    assert [p.name for p in output.parent.iterdir()] == ["o.parquet"]


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this system")
@pytest.mark.parametrize("kind", ["score", "total"])
def test_the_output_goes_to_disk_while_the_query_runs(
    events: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The work file's pages are sent to disk batch after batch, so that the
    final sync has little left to write; nothing of it outlives the write."""
    advised: list[tuple[int, int]] = []
    batches: list[int] = []
    advise = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        advised.append((os.fstat(fd).st_nlink, advice))
        advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    output = events.with_name("out.parquet")
    threads = threading.active_count()
    write(kind, events, output, batches.append)
    assert_complete(kind, events, output)
    # The writeback thread is woken after each batch, and may merge wake-ups.
    assert 1 <= len(advised) <= len(batches)
    # Always on the unnamed work file (no link yet), with the advice that writes it.
    assert set(advised) == {(0, os.POSIX_FADV_DONTNEED)}
    assert threading.active_count() == threads


def test_a_writeback_that_fails_leaves_the_write_to_the_final_sync(
    events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise OSError(errno.EINVAL, "not here")

    monkeypatch.setattr(os, "posix_fadvise", refuse, raising=False)
    output = events.with_name("out.parquet")
    threads = threading.active_count()
    write("score", events, output, lambda done: None)
    assert_complete("score", events, output)
    assert threading.active_count() == threads
