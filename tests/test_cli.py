"""The ``polars-scores`` command, run as a subprocess."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
import pytest
from helpers import assert_bit_identical, run_cli
from reference import score_series
from reference import total as reference_total

import polars_scores as ps
import polars_scores.inputs

CLI = "polars_scores.cli"
OLD = b"an earlier output that a failed run must leave alone"


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    n = 3000
    frame = pl.DataFrame(
        {
            "user": [(i * 7) % 53 if i % 29 else None for i in range(n)],
            "amount": [float((i * 11) % 19) - 3 if i % 23 else None for i in range(n)],
            "label": [f"r{i}" for i in range(n)],
        },
        schema={"user": pl.Int32, "amount": pl.Float64, "label": pl.String},
    )
    path = tmp_path / "data.parquet"
    frame.write_parquet(path, row_group_size=500)
    return path


def test_score_by_key(data: Path) -> None:
    output = data.with_name("scored.parquet")
    result = run_cli("score", data, "-o", output, "--value", "amount", "--by", "user")
    assert result.returncode == 0, result.stderr
    frame = pl.read_parquet(data)
    got = pl.read_parquet(output)
    assert got.columns == ["user", "amount", "label", "amount_score"]
    assert got.drop("amount_score").equals(frame)
    expected = frame.select(ps.col("amount").scores.rolling(by="user")).to_series()
    assert_bit_identical(got["amount_score"].to_list(), expected.to_list())
    assert f"{frame.height:,} rows" in result.stderr
    assert sorted(p.name for p in data.parent.iterdir()) == ["data.parquet", "scored.parquet"]


def test_score_parameters_glob_and_folder(data: Path) -> None:
    frame = pl.read_parquet(data)
    folder = data.parent / "parts"
    folder.mkdir()
    for i, part in enumerate(frame.iter_slices(1000)):
        part.write_parquet(folder / f"part-{i}.parquet")
    expected = frame.select(
        ps.col("amount").scores.rolling(rise=0.8, fall=0.3, initial=2.0)
    ).to_series()
    for source in (folder, folder / "part-*.parquet"):
        output = data.parent / "out.parquet"
        result = run_cli(
            "score", source, "-o", output, "--value", "amount", "--rise", "0.8",
            "--fall", "0.3", "--initial", "2", "--name", "s", "--batch-rows", "333", "-q",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        got = pl.read_parquet(output)
        assert got.drop("s").equals(frame)
        assert_bit_identical(got["s"].to_list(), expected.to_list())


def test_total(data: Path) -> None:
    output = data.with_name("totals.parquet")
    result = run_cli(
        "total", data, "-o", output, "--value", "amount", "--by", "user", "--exponent", "2",
        "--compression", "lz4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frame = pl.read_parquet(data)
    got = pl.read_parquet(output)
    assert got.columns == ["user", "amount_total"]
    assert got["user"].to_list() == sorted(
        frame["user"].unique().to_list(), key=lambda k: (k is None, k)
    )
    for user, total in got.iter_rows():
        values = frame.filter(pl.col("user").eq_missing(user))["amount"].to_list()
        assert math.isclose(total, reference_total(values, exponent=2), rel_tol=1e-12)


@pytest.mark.slow
def test_demo() -> None:
    result = run_cli("demo", "--rows", "30000", "--keys", "40")
    assert result.returncode == 0, result.stderr
    assert "bit-identical to the Python loop" in result.stdout
    assert "Python loops" in result.stdout


@pytest.mark.parametrize("command", [[], ["score"], ["total"], ["demo"]])
def test_help(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout


@pytest.fixture
def old_output(data: Path) -> Path:
    output = data.with_name("out.parquet")
    output.write_bytes(OLD)
    return output


def test_missing_input(data: Path, old_output: Path) -> None:
    missing = data.with_name("nope.parquet")
    result = run_cli("score", missing, "-o", old_output, "--value", "amount")
    assert_one_line_error(result, "nope.parquet", "no such file")
    result = run_cli("total", data.parent / "*.nothing", "-o", old_output, "--value", "amount")
    assert_one_line_error(result, "no file matches")
    assert old_output.read_bytes() == OLD


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pages"])
def test_corrupt_parquet(data: Path, old_output: Path, damage: str) -> None:
    bad = data.with_name("bad.parquet")
    content = bytearray(data.read_bytes())
    if damage == "garbage":
        content = bytearray(b"not parquet at all" * 10)
    elif damage == "truncated":
        content = content[:-100]
    else:
        # The footer is intact, so this fails only once the data is read.
        for at in range(len(content) // 4, len(content) // 2, 97):
            content[at] ^= 0x5A
    bad.write_bytes(bytes(content))
    for command in ("score", "total"):
        result = run_cli(command, bad, "-o", old_output, "--value", "amount")
        assert_one_line_error(result, "bad.parquet")
        assert "cannot read" in result.stderr or "failed on" in result.stderr
    assert old_output.read_bytes() == OLD
    assert sorted(p.name for p in data.parent.iterdir()) == [
        "bad.parquet",
        "data.parquet",
        "out.parquet",
    ]


def test_unknown_column_lists_the_available_ones(data: Path, old_output: Path) -> None:
    result = run_cli("score", data, "-o", old_output, "--value", "amont")
    assert_one_line_error(result, "'amont'", "'user', 'amount', 'label'")
    result = run_cli("total", data, "-o", old_output, "--value", "amount", "--by", "usr")
    assert_one_line_error(result, "'usr'", "'user', 'amount', 'label'")
    assert old_output.read_bytes() == OLD


def test_non_numeric_column(data: Path, old_output: Path) -> None:
    for command in ("score", "total"):
        result = run_cli(command, data, "-o", old_output, "--value", "label")
        assert_one_line_error(result, "'label'", "String", "numeric")
    assert old_output.read_bytes() == OLD


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["score", "--rise", "nan"], ["--rise", "finite"]),
        (["score", "--fall", "x"], ["--fall", "not a number"]),
        (["score", "--batch-rows", "0"], ["--batch-rows", "at least 1"]),
        (["total", "--exponent", "inf"], ["--exponent", "finite"]),
        (["score", "--name", "label"], ["'label'", "replace"]),
        (["score"], ["-o"]),
    ],
)
def test_bad_parameters(
    data: Path, old_output: Path, arguments: list[str], words: list[str]
) -> None:
    command, *rest = arguments
    output: list[str | Path] = [] if arguments == ["score"] else ["-o", old_output]
    result = run_cli(command, data, *output, "--value", "amount", *rest)
    assert_one_line_error(result, *words)
    assert old_output.read_bytes() == OLD


def test_missing_output_folder(data: Path) -> None:
    output = data.parent / "no" / "such" / "out.parquet"
    result = run_cli("score", data, "-o", output, "--value", "amount")
    assert_one_line_error(result, "does not exist")


@pytest.fixture
def long_input(tmp_path: Path) -> Path:
    n = 400_000
    path = tmp_path / "long.parquet"
    pl.select(k=pl.int_range(n) % 1000, x=(pl.int_range(n) % 97).cast(pl.Float64)).write_parquet(
        path
    )
    return path


def start_slow_score(
    source: Path, output: Path, *, batch_rows: int = 50, command: Sequence[str] = ("-m", CLI)
) -> subprocess.Popen[str]:
    """`score` with tiny batches, which makes it last long enough to be stopped,
    returned once it writes its work file. `command` runs the CLI."""
    process = subprocess.Popen(
        [sys.executable, *command, "score", str(source), "-o", str(output), "--value", "x",
         "--by", "k", "--batch-rows", str(batch_rows)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # As from a terminal: under `nohup` (or a CI runner that ignores
        # SIGHUP) the child would inherit the ignored SIGHUP, as it should.
        preexec_fn=default_sighup,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not writes_into(process.pid, output.parent):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process


def default_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def writes_into(pid: int, folder: Path) -> bool:
    """Whether process `pid` has a work file open in `folder`: a hidden named
    one, or one with no name yet (Linux shows it as ``folder/#inode (deleted)``)."""
    for link in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = Path(os.readlink(link))
            if target.parent == folder and target.name.startswith(("#", ".")):
                return True
    return False


@pytest.mark.parametrize(
    "kill", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=str
)
@pytest.mark.parametrize("existing", [False, True])
def test_a_run_killed_midway_leaves_no_output(
    long_input: Path, kill: signal.Signals, existing: bool
) -> None:
    output = long_input.with_name("out.parquet")
    if existing:
        output.write_bytes(OLD)
    process = start_slow_score(long_input, output)
    process.send_signal(kill)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    if existing:
        assert output.read_bytes() == OLD
    else:
        assert not output.exists()
    # Not even SIGKILL leaves a work file behind.
    expected = ["long.parquet", "out.parquet"] if existing else ["long.parquet"]
    assert sorted(p.name for p in long_input.parent.iterdir()) == expected
    if kill != signal.SIGKILL:
        assert process.returncode == 128 + kill
        what = "interrupted" if kill == signal.SIGINT else f"terminated by {kill.name}"
        assert stderr.strip().splitlines() == [
            f"polars-scores score: error: {what}; no output written"
        ]


def earlier_result(output: Path) -> pl.DataFrame:
    """A valid earlier output in `output`'s folder, beside another file of the same
    schema, so that the folder scans as one dataset."""
    earlier = pl.DataFrame({"k": [1], "x": [2.0], "x_score": [2.0]})
    earlier.write_parquet(output)
    earlier.write_parquet(output.with_name("other.parquet"))
    return earlier


@pytest.mark.parametrize(
    "fallback",
    [False, True],
    ids=["unnamed work file", "named work file (no O_TMPFILE)"],
)
def test_a_killed_run_breaks_neither_a_scan_of_the_folder_nor_a_rerun(
    long_input: Path, fallback: bool
) -> None:
    output = long_input.parent / "results" / "out.parquet"
    output.parent.mkdir()
    earlier = earlier_result(output)
    # Without O_TMPFILE (other systems, some file systems) the work file has
    # a name: simulated by taking the unnamed kind away.
    command = ["-c", NO_UNNAMED_FILES] if fallback else ["-m", CLI]
    process = start_slow_score(long_input, output, command=command)
    process.kill()
    process.communicate(timeout=60)
    assert pl.read_parquet(output).equals(earlier)
    if fallback:
        # The killed run's work file is left, and the next run removes it.
        assert len(list(output.parent.glob(".out.parquet.*.partial"))) == 1
    else:
        assert pl.scan_parquet(output.parent).collect().equals(pl.concat([earlier, earlier]))
        assert pl.scan_parquet(output.parent / "*.parquet").collect().height == 2

    result = run_cli("score", long_input, "-o", output, "--value", "x", "--by", "k", "-q")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in output.parent.iterdir()) == ["other.parquet", "out.parquet"]
    frame = pl.read_parquet(long_input)
    scanned = pl.scan_parquet(output.parent).collect()
    assert scanned.height == frame.height + 1
    expected = frame.select(ps.col("x").scores.rolling(by="k")).to_series()
    assert_bit_identical(pl.read_parquet(output)["x_score"].to_list(), expected.to_list())


# Runs the command with the unnamed work files of Linux taken away.
NO_UNNAMED_FILES = """
import sys
import polars_scores.durable as durable
from polars_scores.cli import main
durable._unnamed_file = lambda *args: None
sys.exit(main())
"""


def test_sighup_ignored_on_purpose_stays_ignored(long_input: Path) -> None:
    """Under nohup, a closed terminal must not stop the run."""
    output = long_input.with_name("out.parquet")
    ignore_hup = (
        "import signal, runpy; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        f"runpy.run_module({CLI!r}, run_name='__main__')"
    )
    process = start_slow_score(long_input, output, batch_rows=500, command=["-c", ignore_hup])
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert pl.read_parquet(output).height == pl.read_parquet(long_input).height


@pytest.fixture
def parts(tmp_path: Path) -> Path:
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        pl.DataFrame({"k": [i, i], "x": [1.0 + i, 0.5]}).write_parquet(folder / f"p{i}.parquet")
    return folder


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below `folder` with its content and modification time."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@pytest.mark.parametrize(
    ("spec", "output"),
    [
        ("parts/p1.parquet", "parts/p1.parquet"),  # the same path
        ("parts/p1.parquet", "parts/../parts/./p1.parquet"),  # another path to it
        ("parts/p1.parquet", "link.parquet"),  # a symbolic link to the input
        ("link.parquet", "parts/p1.parquet"),  # an input given through a link
        ("parts/p1.parquet", "hard.parquet"),  # a hard link: the same file
        ("parts/*.parquet", "parts/p0.parquet"),  # matched by the glob
        ("parts/*.parquet", "parts/new.parquet"),  # would be matched once written
        ("parts/**/*.parquet", "parts/sub/new.parquet"),
        ("parts/p[0-9].parquet", "parts/p7.parquet"),
        ("parts/*.parquet", "parts/.p.parquet"),  # Polars' globs match hidden files
        ("parts/p?.parquet", "parts/p5.parquet"),
        ("parts", "parts/p2.parquet"),  # in the folder
        ("parts", "parts/new.parquet"),
        ("parts", "parts/sub/deeper.parquet"),  # Polars reads sub-folders too
        ("linked-parts", "parts/new.parquet"),  # the folder through a link
    ],
)
@pytest.mark.parametrize("command", ["score", "total"])
def test_output_may_not_be_an_input(
    parts: Path, spec: str, output: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = parts.parent
    (root / "link.parquet").symlink_to(parts / "p1.parquet")
    os.link(parts / "p1.parquet", root / "hard.parquet")
    (root / "linked-parts").symlink_to(parts)
    (parts / "sub").mkdir()
    monkeypatch.chdir(root)
    before = snapshot(root)
    result = run_cli(command, spec, "-o", output, "--value", "x")
    assert_one_line_error(result, repr(output), repr(spec), "read by the input")
    assert snapshot(root) == before


def test_an_output_beside_the_inputs_but_not_read_is_fine(parts: Path) -> None:
    output = parts / "scored.arrow"
    result = run_cli("score", parts / "*.parquet", "-o", output, "--value", "x", "-q")
    assert result.returncode == 0, result.stderr
    assert pl.read_ipc(output).height == 6


def test_files_read_are_those_polars_reads(tmp_path: Path) -> None:
    """The command's idea of what a glob or folder reads (to refuse an OUTPUT
    among them) is Polars' own: hidden files and sub-folders included."""
    frame = pl.DataFrame({"x": [1.0]})
    for name in ["a.parquet", ".hidden.parquet", "b1.parquet", "b22.parquet",
                 "sub/c.parquet", ".work/d.parquet", "sub/deep/e.parquet"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(tmp_path / name)
    specs = ["", "/*.parquet", "/**/*.parquet", "/b?.parquet", "/b[0-9]*.parquet",
             "/[!a]*.parquet", "/*/*.parquet", "/sub/**/*.parquet"]  # fmt: skip
    for spec in (f"{tmp_path}{suffix}" for suffix in specs):
        polars_reads = pl.scan_parquet(spec, include_file_paths="path").collect()["path"]
        mine = polars_scores.inputs.files_read(spec)
        assert sorted(map(os.path.normpath, mine)) == sorted(polars_reads.to_list()), spec
        for path in polars_reads:
            assert polars_scores.inputs.reads_path(spec, Path(path)), (spec, path)
    assert not polars_scores.inputs.reads_path(f"{tmp_path}/*.parquet", tmp_path / "sub/c.parquet")


def test_several_inputs_are_read_in_the_order_given(parts: Path) -> None:
    output = parts.parent / "out.parquet"
    order = ["p2", "p0", "p1"]
    inputs = [parts / f"{name}.parquet" for name in order]
    result = run_cli("score", *inputs, "-o", output, "--value", "x", "-q")
    assert result.returncode == 0, result.stderr
    frame = pl.concat([pl.read_parquet(path) for path in inputs])
    got = pl.read_parquet(output)
    assert got.drop("x_score").equals(frame)
    expected = score_series(frame["x"].to_list())
    assert_bit_identical(got["x_score"].to_list(), expected)


def test_help_says_in_which_order_files_are_read() -> None:
    text = " ".join(run_cli("score", "--help").stdout.split())
    assert "lexicographic order" in text and "part-10 before part-2" in text
    text = " ".join(run_cli("--help").stdout.split())
    assert "zero-padded" in text and "pl.scan_parquet([...])" in text


def test_a_key_that_is_also_the_value(data: Path, old_output: Path) -> None:
    result = run_cli("total", data, "-o", old_output, "--value", "amount", "--by", "amount")
    assert_one_line_error(result, "'amount'", "both the value to sum and a key")
    result = run_cli("total", data, "-o", old_output, "--value", "amount", "--by", "amount_total")
    # No such column: the message lists the real ones.
    assert_one_line_error(result, "'amount_total'", "available")
    assert old_output.read_bytes() == OLD


def ignore_sigxfsz_and_limit_file_size(limit: int) -> Callable[[], None]:
    def limit_in_the_child() -> None:
        # Ignored, SIGXFSZ no longer kills: the write fails with EFBIG instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_in_the_child


@pytest.mark.parametrize("command", ["score", "total"])
@pytest.mark.parametrize("existing", [False, True])
def test_a_write_failure_names_the_output(long_input: Path, command: str, existing: bool) -> None:
    output = long_input.parent / "results" / "out.parquet"
    output.parent.mkdir()
    if existing:
        output.write_bytes(OLD)
    # A file-size limit stands in for a full disk: the write fails midway.
    limit = 20_000 if command == "score" else 2_000
    result = subprocess.run(
        [sys.executable, "-m", "polars_scores.cli", command, str(long_input), "-o", str(output),
         "--value", "x", "--by", "k", "--compression", "uncompressed"],
        capture_output=True, text=True, timeout=120, check=False,
        preexec_fn=ignore_sigxfsz_and_limit_file_size(limit),
    )  # fmt: skip
    assert_one_line_error(result, f"cannot write {str(output)!r}", "File too large")
    assert "long.parquet" not in result.stderr
    assert [p.name for p in output.parent.iterdir()] == (["out.parquet"] if existing else [])
    if existing:
        assert output.read_bytes() == OLD


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_a_folder_without_write_permission(data: Path) -> None:
    folder = data.parent / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    output = folder / "out.parquet"
    result = run_cli("score", data, "-o", output, "--value", "amount")
    assert_one_line_error(result, f"cannot write {str(output)!r}", "Permission denied")
    assert list(folder.iterdir()) == []


# Formats ------------------------------------------------------------------------------

FORMATS = {"parquet": ".parquet", "csv": ".csv", "ipc": ".arrow", "ndjson": ".jsonl"}
"""Each format, under one of its extensions."""


def write_as(frame: pl.DataFrame, path: Path) -> None:
    kind = next(kind for kind, extension in FORMATS.items() if path.suffix == extension)
    getattr(frame, f"write_{kind}")(path)


def read_as(path: Path, schema: pl.Schema) -> pl.DataFrame:
    """`path` read by Polars' own reader of its format; CSV and NDJSON keep no dtypes."""
    kind = next(kind for kind, extension in FORMATS.items() if path.suffix == extension)
    return getattr(pl, f"read_{kind}")(path).cast(dict(schema))


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    n = 2_000
    return pl.DataFrame(
        {
            "user": [f"user-{(i * 7919) % 61}" if i % 37 else None for i in range(n)],
            "amount": [float((i * 11) % 19) / 4 - 1 if i % 23 else None for i in range(n)],
            "fee": [(i * 5) % 7 - 2 for i in range(n)],
        }
    )


@pytest.mark.parametrize("out", list(FORMATS))
@pytest.mark.parametrize("into", list(FORMATS))
def test_score_every_format_in_and_out(
    frame: pl.DataFrame, tmp_path: Path, into: str, out: str
) -> None:
    source = tmp_path / f"in{FORMATS[into]}"
    write_as(frame, source)
    output = tmp_path / f"scored{FORMATS[out]}"
    result = run_cli(
        "score", source, "-o", output, "--value", "amount", "--value", "fee", "--by", "user",
        "--batch-rows", "300",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = frame.with_columns(
        ps.col(value).scores.rolling(by="user").alias(f"{value}_score")
        for value in ("amount", "fee")
    )
    got = read_as(output, expected.schema)
    assert got.drop("amount_score", "fee_score").equals(frame)
    for score in ("amount_score", "fee_score"):
        assert_bit_identical(got[score].to_list(), expected[score].to_list())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, output.name])


@pytest.mark.parametrize("kind", ["csv", "ipc", "ndjson"])
def test_total_and_folders_and_globs_of_each_format(
    frame: pl.DataFrame, tmp_path: Path, kind: str
) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, part in enumerate(frame.iter_slices(700)):
        write_as(part, parts / f"part-{i:02}{FORMATS[kind]}")
    expected = frame.select(ps.col("amount").scores.rolling()).to_series()
    for spec in (parts, parts / f"part-*{FORMATS[kind]}"):
        output = tmp_path / f"scored{FORMATS[kind]}"
        result = run_cli("score", spec, "-o", output, "--value", "amount", "-q")
        assert result.returncode == 0, result.stderr
        got = read_as(output, pl.Schema({**frame.schema, "amount_score": pl.Float64}))
        assert_bit_identical(got["amount_score"].to_list(), expected.to_list())
    totals = tmp_path / f"totals{FORMATS[kind]}"
    result = run_cli(
        "total", parts, "-o", totals, "--value", "amount", "--value", "fee", "--by", "user"
    )
    assert result.returncode == 0, result.stderr
    assert f"{frame.height:,} rows read, 62 rows written" in result.stderr
    got = read_as(totals, pl.Schema({"user": pl.String, "amount_total": pl.Float64}))
    assert got["user"].to_list() == sorted(
        frame["user"].unique().to_list(), key=lambda k: (k is None, k)
    )
    for user, amount, fee in got.select("user", "amount_total", "fee_total").iter_rows():
        rows = frame.filter(pl.col("user").eq_missing(user))
        assert math.isclose(amount, reference_total(rows["amount"].to_list()), rel_tol=1e-12)
        assert math.isclose(fee, reference_total(rows["fee"].to_list()), rel_tol=1e-12)


def test_format_errors(frame: pl.DataFrame, tmp_path: Path) -> None:
    write_as(frame, tmp_path / "a.csv")
    write_as(frame, tmp_path / "b.parquet")
    old = tmp_path / "old.csv"
    old.write_bytes(OLD)
    cases: list[tuple[list[str | Path], list[str]]] = [
        ([tmp_path / "a.csv", "-o", tmp_path / "out.txt"], ["cannot tell the format", ".jsonl"]),
        ([tmp_path, "-o", old], ["mix formats", "csv", "parquet"]),
        ([tmp_path / "a.csv", "-o", old, "--compression", "zstd"], ["compression for csv"]),
        ([tmp_path / "a.csv", "-o", old, "--value", "fee", "--name", "s"], ["--name is for one"]),
        ([tmp_path / "b.parquet", "-o", tmp_path / "o.ipc", "--compression", "snappy"], ["ipc"]),
    ]
    for arguments, words in cases:
        result = run_cli("score", *arguments, "--value", "amount")
        assert_one_line_error(result, *words)
    assert old.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.parquet", "old.csv"]
    not_json = tmp_path / "bad.jsonl"
    not_json.write_text('{"amount": 1.0}\n{not json\n')
    result = run_cli("score", not_json, "-o", old, "--value", "amount")
    assert_one_line_error(result, "bad.jsonl", "ndjson")
    assert old.read_bytes() == OLD


# Inputs as a newcomer gives them ---------------------------------------------------------


@pytest.mark.parametrize("command", ["score", "total"])
def test_a_folder_with_no_files_says_so(tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    result = run_cli(command, empty, "-o", tmp_path / "out.parquet", "--value", "x")
    assert_one_line_error(result, f"no files in {str(empty)!r}")
    assert "PlRefPath" not in result.stderr and "Hint" not in result.stderr


@pytest.mark.parametrize("given", ["folder", "several"])
def test_a_truncated_file_among_others_is_named(parts: Path, tmp_path: Path, given: str) -> None:
    bad = parts / "p1.parquet"
    bad.write_bytes(bad.read_bytes()[:-100])
    inputs = [parts] if given == "folder" else sorted(parts.iterdir())
    result = run_cli("score", *inputs, "-o", tmp_path / "out.parquet", "--value", "x")
    assert_one_line_error(result, f"cannot read {str(bad)!r} as parquet")
    assert result.stderr.strip().isprintable()


def test_bytes_quoted_in_an_error_are_escaped() -> None:
    error = pl.exceptions.ComputeError('bad footer in "données", got "\x13\x00\ufffd"\nplan...')
    line = polars_scores.inputs.first_line(error)
    assert line == 'bad footer in "données", got "\\x13\\x00\\ufffd"'


def test_by_takes_one_column_and_repeats(parts: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.parquet"
    result = run_cli("score", "--by", "k", parts, "-o", output, "--value", "x", "-q")
    assert result.returncode == 0, result.stderr
    frame = pl.read_parquet(parts)
    expected = frame.select(ps.col("x").scores.rolling(by="k")).to_series()
    assert_bit_identical(pl.read_parquet(output)["x_score"].to_list(), expected.to_list())
    twice = tmp_path / "twice.parquet"
    result = run_cli("total", "--by", "k", "--by", "x", parts, "-o", twice, "--value", "x", "-q")
    assert_one_line_error(result, "both the value to sum and a key")
    result = run_cli("total", parts, "--by", "k", "--value", "x", "-o", twice, "-q")
    assert result.returncode == 0, result.stderr
    assert "--by COL" in run_cli("score", "--help").stdout
