"""The ``polars-scores`` command: rolling scores and totals of data of any size.

Run ``polars-scores --help`` (or ``python -m polars_scores.cli --help``).
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn, TextIO, TypeVar

import polars as pl

from polars_scores import __version__, demo
from polars_scores._checks import ParameterError, check_columns, finite, positive_int
from polars_scores.streaming import (
    COMPRESSIONS,
    DEFAULT_BATCH_ROWS,
    EXTENSIONS,
    Format,
    format_of,
    scan_file,
    score_to_file,
    total_to_file,
)

PROG = "polars-scores"

T = TypeVar("T")

EXAMPLES = """\
examples:
  polars-scores score events.parquet -o scored.parquet --value amount --by user_id
  polars-scores score 'data/*.csv' -o scored.arrow --value amount --rise 0.8 --fall 0.4
  polars-scores score events.ndjson -o scored.csv --value amount --value fee --by user_id
  polars-scores total data/ -o totals.parquet --value amount --by user_id --exponent 2
  polars-scores demo --rows 2000000 --keys 10000

INPUT is a file, a glob (quote it) or a folder of files, or several of them,
read one after the other, all of one format: parquet, CSV, Arrow IPC or
NDJSON, told by the extension (.parquet, .csv, .ipc/.arrow/.feather,
.ndjson/.jsonl; files with none of these are read as parquet). OUTPUT's
extension picks its format the same way. The files of a glob or a folder
are read in the lexicographic order of their paths (part-10 before part-2),
and that order is the order the rolling score sees: name the files with
zero-padded numbers (part-02, part-10), or list them in the order wanted
(from Python: pl.scan_parquet([...]) with the paths in that order).

OUTPUT may not be one of the inputs, nor in a folder or glob that is read.
It is written to a work file beside it and renamed into place only on
success: a failure, Ctrl-C, SIGTERM or SIGHUP leaves an existing OUTPUT as it
was, and nothing that a later scan of the folder would read.
"""


class _CommandError(Exception):
    """An error to report as one line, without a traceback."""


class _TerminatedError(Exception):
    """SIGTERM or SIGHUP arrived."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that end a run cleanly (Ctrl-C's SIGINT raises KeyboardInterrupt)."""


class _Parser(argparse.ArgumentParser):
    """Reports usage errors as one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _finite(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return _argument(finite, number)


def _named_column(text: str) -> tuple[str, str]:
    name, equals, column = text.partition("=")
    if not equals or not name or not column:
        raise argparse.ArgumentTypeError(f"expected NAME=COLUMN, got {text!r}")
    return name, column


def _positive(text: str) -> int:
    try:
        number = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    return _argument(positive_int, number)


def _argument(check: Callable[[str, str, object], T], value: object) -> T:
    """`value` through the library's own check; argparse names the option."""
    try:
        return check(PROG, "argument", value)
    except ParameterError as error:
        raise argparse.ArgumentTypeError(error.problem) from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=(
            "Rolling scores and positive-power totals of data larger than memory (parquet, "
            "CSV, Arrow IPC, NDJSON), computed by the polars-scores Rust kernels."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "input",
            nargs="+",
            metavar="INPUT",
            help="file, glob or folder (a glob's or folder's files are read in "
            "lexicographic order: part-10 before part-2); several are read in the order given",
        )
        sub.add_argument(
            "-o",
            "--output",
            required=True,
            help=f"file to write, its format told by its extension ({', '.join(EXTENSIONS)})",
        )
        sub.add_argument(
            "--value",
            required=True,
            action="append",
            metavar="COL",
            help="numeric column (repeatable: each is scored or totalled in the same pass)",
        )
        sub.add_argument(
            "--by",
            action="extend",
            nargs="+",
            default=[],
            metavar="COL",
            help="key column(s): one recurrence or total per distinct key",
        )
        sub.add_argument(
            "--compression",
            choices=COMPRESSIONS,
            help="output codec: parquet zstd (default), lz4 (faster, larger), snappy, gzip, "
            "brotli or uncompressed; ipc uncompressed (default), lz4 or zstd",
        )
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")

    score = commands.add_parser(
        "score",
        help="write every input column plus the rolling score, in input order",
        description=(
            "For each row with a non-null value v (per key with --by): if v > prev then "
            "prev = prev*RISE + v, else prev = prev*FALL; the row's score is the new prev. "
            "A null value scores null. Reads and writes batch by batch: memory is bounded "
            "by the batch size and the number of keys, not by the row count."
        ),
        epilog=(
            "example:\n  polars-scores score events.parquet -o scored.parquet "
            "--value amount --by user_id"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(score)
    score.add_argument("--rise", type=_finite, default=0.9, metavar="R", help="default 0.9")
    score.add_argument("--fall", type=_finite, default=0.5, metavar="F", help="default 0.5")
    score.add_argument(
        "--initial", type=_finite, default=0.0, metavar="I", help="start state, default 0.0"
    )
    score.add_argument(
        "--rule",
        metavar="RULE",
        help='your own recurrence instead of rise/fall, e.g. "prev * exp(-dt / 3600) + value"',
    )
    score.add_argument(
        "--input",
        dest="rule_inputs",
        action="append",
        type=_named_column,
        default=[],
        metavar="NAME=COLUMN",
        help="a column the rule reads under NAME (repeatable)",
    )
    score.add_argument("--name", help="score column name with one --value, default <value>_score")
    score.add_argument(
        "--batch-rows",
        type=_positive,
        default=DEFAULT_BATCH_ROWS,
        metavar="N",
        help=f"rows per batch, default {DEFAULT_BATCH_ROWS:,}",
    )

    total = commands.add_parser(
        "total",
        help="write one row per key with <value>_total, the sum of v**E over v > 0",
        description=(
            "Sum of v**EXPONENT over the non-null values v > 0, per key with --by (one row "
            "per key, sorted by key) or over all rows, through Polars' streaming group_by."
        ),
        epilog=(
            "example:\n  polars-scores total events.parquet -o totals.parquet "
            "--value amount --by user_id"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(total)
    total.add_argument("--exponent", type=_finite, default=1.5, metavar="E", help="default 1.5")

    demo = commands.add_parser(
        "demo",
        help="score and total a synthetic dataset, check them, time them against Python",
        description=(
            "Writes a synthetic parquet dataset (an Int64 key and a Float64 value with some "
            "nulls) to a temporary folder, runs `score --by key` and `total --by key` on it, "
            "checks sampled keys against the plain Python loops bit for bit, and prints the "
            "results and timings next to the Python loop's."
        ),
        epilog="example:\n  polars-scores demo --rows 2000000 --keys 10000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--rows", type=_positive, default=10_000_000, help="default 10,000,000")
    demo.add_argument("--keys", type=_positive, default=100_000, help="default 100,000")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default ``sys.argv[1:]``); return its exit status.

    0 on success, 1 on an error (reported as one line on stderr), 2 on a usage
    error, 130 on Ctrl-C, 143 on SIGTERM and 129 on SIGHUP.
    """
    arguments = _parser().parse_args(argv)
    label = f"{PROG} {arguments.command}"
    # A signal ignored on purpose (nohup) stays ignored.
    previous = {
        signum: signal.signal(signum, _raise_terminated)
        for signum in _TERMINATING
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        if arguments.command == "demo":
            demo.run(arguments.rows, arguments.keys)
        else:
            _run(arguments)
    except (_CommandError, demo.MismatchError) as failure:
        return _fail(label, str(failure), 1)
    except (pl.exceptions.PolarsError, OSError, ValueError, TypeError) as error:
        return _fail(label, _one_line(error), 1)
    except KeyboardInterrupt:
        return _fail(label, "interrupted; no output written", 130)
    except _TerminatedError as stop:
        return _fail(label, f"terminated by {stop}; no output written", 128 + stop.signum)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _TerminatedError(signum)


def _fail(label: str, message: str, status: int) -> int:
    # A progress bar may be on the line.
    prefix = "\n" if sys.stderr.isatty() else ""
    print(f"{prefix}{label}: error: {message}", file=sys.stderr)
    return status


# The library's messages name its functions; the command's name comes first instead.
_LIBRARY_PREFIXES = ("score_to_file: ", "total_to_file: ", "RollingScorer.score: ")


def _one_line(error: BaseException) -> str:
    """The first line of an error's message (Polars appends plans and contexts)."""
    text = str(error)
    if isinstance(error, OSError) and error.strerror:
        # Without the "[Errno N]" that str() puts first.
        text = error.strerror + (f": {error.filename!r}" if error.filename else "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(error).__name__
    for prefix in _LIBRARY_PREFIXES:
        line = line.removeprefix(prefix)
    return line


def _run(arguments: argparse.Namespace) -> None:
    command = arguments.command
    label = f"{PROG} {command}"
    output_format = format_of(arguments.output)
    if output_format is None:
        raise _CommandError(
            f"cannot tell the format of the output {arguments.output!r} from its extension; "
            f"name it {', '.join(EXTENSIONS)}"
        )
    source, rows = _scan(arguments.input)
    _check_output_is_not_read(arguments.input, arguments.output)
    keys = list(arguments.by)
    values = list(arguments.value)
    # Checked here too so that the messages name the command.
    schema = source.collect_schema()
    try:
        if command == "score" and arguments.name is not None and len(values) > 1:
            raise ValueError("--name is for one --value; each score is named <value>_score")
        for value in values:
            result = (arguments.name or f"{value}_score") if command == "score" else None
            check_columns(label, schema, value, keys, result)
    except (pl.exceptions.PolarsError, ValueError) as error:
        raise _CommandError(str(error).removeprefix(f"{label}: ")) from None
    report = _Progress(command, rows, sys.stderr, quiet=arguments.quiet)
    start = time.perf_counter()
    try:
        written = _write(arguments, source, keys, report)
    except pl.exceptions.PolarsError as error:
        # The columns were checked: what fails now is reading or writing data.
        # Failures to write are OSErrors naming the output.
        raise _CommandError(f"failed on {_names(arguments.input)}: {_one_line(error)}") from None
    report.finish(
        f"{command}: {report.done:,} rows read, {written:,} rows written to {arguments.output} "
        f"in {time.perf_counter() - start:.1f} s"
    )


def _write(
    arguments: argparse.Namespace, source: pl.LazyFrame, keys: list[str], report: _Progress
) -> int:
    """Run `score` or `total`; the number of rows written."""
    if arguments.command == "score":
        return score_to_file(
            source,
            arguments.output,
            value=arguments.value,
            by=keys,
            rise=arguments.rise,
            fall=arguments.fall,
            initial=arguments.initial,
            name=arguments.name,
            batch_rows=arguments.batch_rows,
            compression=arguments.compression,
            progress=report,
            rule=arguments.rule,
            inputs=dict(arguments.rule_inputs) or None,
        )
    return total_to_file(
        source,
        arguments.output,
        value=arguments.value,
        by=keys,
        exponent=arguments.exponent,
        compression=arguments.compression,
        progress=report,
    )


def _scan(specs: Sequence[str]) -> tuple[pl.LazyFrame, int | None]:
    """The inputs `specs` (files, globs or folders of one format), in order, and
    their row count where the files' metadata tells it (parquet, IPC)."""
    for spec in specs:
        if glob.has_magic(spec):
            if next(_files_read(spec), None) is None:
                raise _CommandError(f"no file matches {spec!r}")
        elif not os.path.exists(spec):
            raise _CommandError(f"cannot read {spec!r}: no such file or folder")
        elif not os.access(spec, os.R_OK):
            raise _CommandError(f"cannot read {spec!r}: permission denied")
    kind = _input_format(specs)
    if kind == "parquet":
        source = pl.scan_parquet(list(specs))
    else:
        # Polars' other scans take files (and globs), not folders: the files
        # in the order a parquet scan would read them.
        source = scan_file(kind, [path for spec in specs for path in sorted(_files_read(spec))])
    try:
        # Parquet and IPC have both in their metadata, which this reads and
        # checks; CSV and NDJSON would be read whole for a count.
        source.collect_schema()
        rows = source.select(pl.len()).collect().item() if kind in ("parquet", "ipc") else None
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _CommandError(f"cannot read {_names(specs)} as {kind}: {_one_line(error)}") from None
    return source, rows


def _input_format(specs: Sequence[str]) -> Format:
    """The one format of the files that `specs` read, told by their extensions;
    parquet where none tells."""
    first: dict[Format, str] = {}
    for spec in specs:
        for path in _files_read(spec):
            kind = format_of(path)
            if kind is not None:
                first.setdefault(kind, path)
    if len(first) > 1:
        found = ", ".join(f"{path!r} is {kind}" for kind, path in first.items())
        raise _CommandError(f"the inputs mix formats ({found}); read one format at a time")
    return next(iter(first), "parquet")


def _names(specs: Sequence[str]) -> str:
    return ", ".join(repr(spec) for spec in specs)


# Which files an input reads ----------------------------------------------------------


def _check_output_is_not_read(specs: Sequence[str], output: str) -> None:
    """Refuse an OUTPUT that an input reads, or would read once written: the run
    would replace its own data, or a later run would read its result as data."""
    target = Path(os.path.realpath(output))
    try:
        existing = os.stat(output)
    except OSError:
        existing = None
    for spec in specs:
        # Through any path or link: the same place, or the same file.
        same = _reads_path(spec, target) or (
            existing is not None
            and any(os.path.samestat(existing, os.stat(path)) for path in _files_read(spec))
        )
        if same:
            raise _CommandError(
                f"the output {output!r} is read by the input {spec!r}; write it elsewhere"
            )


def _reads_path(spec: str, target: Path) -> bool:
    """Whether `spec` reads the file at the resolved path `target` (existing or not)."""
    if not glob.has_magic(spec):
        resolved = Path(os.path.realpath(spec))
        # Polars reads every file below a folder, in sub-folders too.
        return target == resolved or (resolved.is_dir() and resolved in target.parents)
    root, pattern = _split_glob(spec)
    resolved_root = Path(os.path.realpath(root))
    if resolved_root not in target.parents:
        return False
    return pattern.fullmatch(target.relative_to(resolved_root).as_posix()) is not None


def _files_read(spec: str) -> Iterator[str]:
    """The files Polars reads for `spec`: the file itself, every file below a
    folder, or the files a glob matches (hidden ones too, as Polars does)."""
    if glob.has_magic(spec):
        root, pattern = _split_glob(spec)
    elif os.path.isdir(spec):
        root, pattern = spec, None
    else:
        yield spec
        return
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if pattern is None or pattern.fullmatch(Path(os.path.relpath(path, root)).as_posix()):
                yield path


def _split_glob(spec: str) -> tuple[str, re.Pattern[str]]:
    """A glob's leading folder without wildcards, and the rest as a regular expression
    over paths relative to it, with Polars' rules: ``*``, ``?`` and ``[...]`` stay
    within one folder level and match hidden names; ``**/`` is any number of levels."""
    parts = spec.split("/")
    literal = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = "/".join(parts[:literal]) or ("/" if spec.startswith("/") else ".")
    rest = "/".join(parts[literal:])
    pieces, at = [], 0
    while at < len(rest):
        if rest.startswith("**/", at):
            pieces.append("(?:[^/]*/)*")
            at += 3
        elif rest.startswith("**", at):
            pieces.append(".*")
            at += 2
        elif rest[at] == "*":
            pieces.append("[^/]*")
            at += 1
        elif rest[at] == "?":
            pieces.append("[^/]")
            at += 1
        elif rest[at] == "[" and (close := rest.find("]", at + 2)) != -1:
            inside = rest[at + 1 : close]
            negate = inside.startswith("!")
            body = re.escape(inside[1:] if negate else inside).replace(r"\-", "-")
            pieces.append(f"[{'^' if negate else ''}{body}]")
            at = close + 1
        else:
            pieces.append(re.escape(rest[at]))
            at += 1
    return root, re.compile("".join(pieces))


class _Progress:
    """Rows done (of rows total, if known): a bar on a terminal, else a plain
    line now and then."""

    BAR = 30
    TERMINAL_EVERY_S = 0.1
    LOG_EVERY_S = 10.0

    def __init__(
        self, label: str, total: int | None, stream: TextIO, *, quiet: bool = False
    ) -> None:
        self._label = label
        self._total = total
        self._stream = stream
        self._quiet = quiet
        self._terminal = stream.isatty()
        self._start = time.perf_counter()
        self._shown = self._start
        self.done = 0

    def __call__(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        every = self.TERMINAL_EVERY_S if self._terminal else self.LOG_EVERY_S
        if self._quiet or now - self._shown < every:
            return
        self._shown = now
        elapsed = now - self._start
        if self._total is None:
            line = f"{self._label}: {done:,} rows, {elapsed:.0f} s"
            self._stream.write(f"\r{line}\x1b[K" if self._terminal else f"{line}\n")
            self._stream.flush()
            return
        fraction = min(done / self._total, 1.0) if self._total else 1.0
        counts = f"{done:,}/{self._total:,} rows"
        if self._terminal:
            filled = round(fraction * self.BAR)
            bar = "#" * filled + "-" * (self.BAR - filled)
            left = elapsed * (1 - fraction) / fraction if fraction > 0 else math.nan
            eta = f", {left:.0f} s left" if math.isfinite(left) else ""
            line = f"\r{self._label} [{bar}] {fraction:4.0%} {counts} {elapsed:.0f} s{eta}"
            self._stream.write(line + "\x1b[K")
        else:
            self._stream.write(f"{self._label}: {counts} ({fraction:.0%}), {elapsed:.0f} s\n")
        self._stream.flush()

    def finish(self, summary: str) -> None:
        if self._quiet:
            return
        clear = "\r\x1b[K" if self._terminal else ""
        self._stream.write(f"{clear}{summary}\n")
        self._stream.flush()


if __name__ == "__main__":
    sys.exit(main())
