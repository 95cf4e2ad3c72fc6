"""The ``polars-scores`` command: rolling scores and totals of data of any size.

Run ``polars-scores --help`` (or ``python -m polars_scores.cli --help``).
The command parses its arguments, builds the request's spec (which checks
them, naming the command) and runs the writers of :mod:`polars_scores.writers`
on the inputs that :mod:`polars_scores.inputs` resolves.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import polars as pl

from polars_scores import __version__, demo
from polars_scores._checks import ScoresError, positive_int, refuse
from polars_scores.formats import CSV_DTYPES, EXTENSIONS, CsvOptions
from polars_scores.inputs import (
    InputError,
    files_read,
    first_line,
    names,
    refuse_output_read,
    scan_inputs,
)
from polars_scores.progress import ProgressBar
from polars_scores.rules import rule_from_options
from polars_scores.saved_states import InputFile, StateFile, rule_text
from polars_scores.signals import TerminatedError, ignore_stop_signals, terminating
from polars_scores.source import DEFAULT_BATCH_ROWS
from polars_scores.spec import score_spec, total_spec
from polars_scores.writers import write_scores, write_totals

PROG = "polars-scores"

EXAMPLES = """\
examples:
  polars-scores score events.parquet -o scored.parquet --value amount --by user_id
  polars-scores score 'data/*.csv' -o scored.arrow --value amount --rise 0.8 --fall 0.4
  polars-scores score events.ndjson -o scored.csv --value amount --value fee --by user_id
  polars-scores score day-02.parquet -o scored-02.parquet --value amount --by user_id \
      --state state.parquet
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

With --state STATE (a parquet file), score carries on from the states that
the last run saved there (the first run, with no STATE yet, starts from
--initial): scoring one day's file per run gives the scores of one run over
all of them. STATE is replaced after OUTPUT, each atomically: a killed run
leaves both old, or OUTPUT new and STATE old, and running it again gives
the same files. STATE records the input files it holds: a run that reads
one of them again is refused (to redo a run, use a copy of the STATE from
before it), and so is a STATE made with other settings.
"""


class _Parser(argparse.ArgumentParser):
    """Reports usage errors as one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# The argument types parse text; the spec checks the values, naming the option.


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _whole_number(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _count(text: str) -> int:
    """A positive whole number (the demo's sizes, --infer-rows: no spec checks them)."""
    try:
        return positive_int(PROG, "argument", _whole_number(text))
    except ScoresError as error:
        raise argparse.ArgumentTypeError(error.problem) from None


def _named_column(text: str) -> tuple[str, str]:
    name, equals, column = text.partition("=")
    if not equals or not name or not column:
        raise argparse.ArgumentTypeError(f"expected NAME=COLUMN, got {text!r}")
    return name, column


def add_rule_options(command: argparse.ArgumentParser, role: str) -> None:
    """The options of a user's rule: ``--rule`` (repeatable for several
    states), ``--input`` and ``--initial``."""
    command.add_argument(
        "--initial", type=_number, default=0.0, metavar="I", help="start state, default 0.0"
    )
    command.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="RULE",
        help=(
            f'your own recurrence {role}, e.g. "prev * exp(-dt / 3600) + value"; or several '
            "states, one NAME=EXPR each (repeatable): their columns are <value>_<NAME>"
        ),
    )
    command.add_argument(
        "--input",
        dest="rule_inputs",
        action="append",
        type=_named_column,
        default=[],
        metavar="NAME=COLUMN",
        help="a column the rule reads under NAME (repeatable)",
    )


def _column_dtype(text: str) -> tuple[str, pl.DataType]:
    column, equals, name = text.rpartition("=")
    if not equals or not column or name.lower() not in CSV_DTYPES:
        known = ", ".join(dtype.__class__.__name__ for dtype in CSV_DTYPES.values())
        raise argparse.ArgumentTypeError(
            f"expected COLUMN=DTYPE with a DTYPE of {known}, got {text!r}"
        )
    return column, CSV_DTYPES[name.lower()]


def _csv_options(arguments: argparse.Namespace) -> tuple[CsvOptions, str]:
    """How CSV inputs are read, and the options given for it, as a message names them."""
    options = CsvOptions(
        null_values=tuple(arguments.null_value),
        infer_rows=arguments.infer_rows,
        dtypes=tuple(arguments.dtype),
    )
    given = [
        option
        for option, value in (
            ("--null-value", options.null_values),
            ("--infer-rows", options.infer_rows),
            ("--dtype", options.dtypes),
        )
        if value
    ]
    return options, ", ".join(given)


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

    def add_common(sub: argparse.ArgumentParser) -> None:
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
            action="append",
            default=[],
            metavar="COL",
            help="key column (repeatable: one recurrence or total per distinct key)",
        )
        sub.add_argument(
            "--compression",
            metavar="C",
            help="output codec: parquet zstd (default, level 1), lz4 (faster, larger), snappy, "
            "gzip, brotli or uncompressed; ipc uncompressed (default), lz4 or zstd",
        )
        sub.add_argument(
            "--null-value",
            action="append",
            default=[],
            metavar="TEXT",
            help='CSV inputs: a text read as null, e.g. "N/A" (repeatable; empty fields are null)',
        )
        sub.add_argument(
            "--infer-rows",
            type=_count,
            metavar="N",
            help="CSV inputs: infer each column's dtype from the first N rows (default 100)",
        )
        sub.add_argument(
            "--dtype",
            action="append",
            type=_column_dtype,
            default=[],
            metavar="COL=DTYPE",
            help="CSV inputs: read COL as DTYPE, e.g. amount=Float64 (repeatable)",
        )
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")

    score_command = commands.add_parser(
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
    add_common(score_command)
    score_command.add_argument("--rise", type=_number, metavar="R", help="default 0.9")
    score_command.add_argument("--fall", type=_number, metavar="F", help="default 0.5")
    add_rule_options(score_command, "instead of --rise/--fall")
    score_command.add_argument(
        "--name", help="score column name with one --value, default <value>_score"
    )
    score_command.add_argument(
        "--state",
        metavar="STATE",
        help="a parquet file of each key's state to carry on from (where it exists) and to "
        "replace, after OUTPUT, with the states after the last row; an input it records as "
        "scored already is refused",
    )
    score_command.add_argument(
        "--batch-rows",
        type=_whole_number,
        default=DEFAULT_BATCH_ROWS,
        metavar="N",
        help=f"rows per batch, default {DEFAULT_BATCH_ROWS:,}",
    )

    total_command = commands.add_parser(
        "total",
        help="write one row per key with <value>_total, the sum of v**E over v > 0",
        description=(
            "Sum of v**EXPONENT over the non-null values v > 0, per key with --by (one row "
            "per key, sorted by key, nulls last) or over all rows, in memory that grows with "
            "the keys, not the rows."
        ),
        epilog=(
            "example:\n  polars-scores total events.parquet -o totals.parquet "
            "--value amount --by user_id"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(total_command)
    total_command.add_argument("--exponent", type=_number, metavar="E", help="default 1.5")
    add_rule_options(total_command, "whose last state per key replaces the total")

    demo_command = commands.add_parser(
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
    demo_command.add_argument("--rows", type=_count, default=10_000_000, help="default 10,000,000")
    demo_command.add_argument("--keys", type=_count, default=100_000, help="default 100,000")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default ``sys.argv[1:]``); return its exit status.

    0 on success, 1 on an error (reported as one line on stderr), 2 on a usage
    error (an option missing, or not a number), 130 on Ctrl-C, 143 on SIGTERM
    and 129 on SIGHUP.
    """
    arguments = _parser().parse_args(argv)
    label = f"{PROG} {arguments.command}"
    try:
        with terminating():
            if arguments.command == "demo":
                demo.run(arguments.rows, arguments.keys)
            else:
                _score_or_total(label, arguments)
    except ScoresError as error:
        return _fail(label, error.problem, 1)
    except demo.MismatchError as failure:
        return _fail(label, str(failure), 1)
    except (pl.exceptions.PolarsError, OSError, ValueError, TypeError) as error:
        return _fail(label, first_line(error), 1)
    except KeyboardInterrupt:
        ignore_stop_signals()
        return _fail(label, "interrupted; no output written", 130)
    except TerminatedError as stop:
        ignore_stop_signals()
        return _fail(label, f"terminated by {stop}; no output written", 128 + stop.signum)
    return 0


def _fail(label: str, message: str, status: int) -> int:
    # A progress bar may be on the line.
    prefix = "\n" if sys.stderr.isatty() else ""
    print(f"{prefix}{label}: error: {message}", file=sys.stderr)
    return status


def _score_or_total(label: str, arguments: argparse.Namespace) -> None:
    """Run `score` or `total` as `arguments` ask, reporting progress and a summary."""
    command, output = arguments.command, arguments.output
    if command == "score":
        rule = rule_from_options(label, arguments.rule)
        spec = score_spec(
            label,
            arguments.value,
            by=arguments.by,
            rise=arguments.rise,
            fall=arguments.fall,
            initial=arguments.initial,
            name=arguments.name,
            rule=rule,
            inputs=dict(arguments.rule_inputs) or None,
            several=True,
            spelling="option",
        )

        def write(source: pl.LazyFrame, report: ProgressBar) -> int:
            states = None
            if arguments.state is not None:
                refuse_output_read(label, arguments.input, arguments.state, "state file")
                inputs = [path for spec in arguments.input for path in sorted(files_read(spec))]
                states = StateFile(
                    Path(arguments.state),
                    rule_text(rule),
                    tuple(InputFile.of(path) for path in inputs),
                )
            return write_scores(
                spec,
                source,
                output,
                arguments.batch_rows,
                None,
                arguments.compression,
                report,
                states=states,
            )

    else:
        totals = total_spec(
            label,
            arguments.value,
            by=arguments.by,
            exponent=arguments.exponent,
            rule=rule_from_options(label, arguments.rule),
            inputs=dict(arguments.rule_inputs) or None,
            initial=arguments.initial,
            spelling="option",
        )

        def write(source: pl.LazyFrame, report: ProgressBar) -> int:
            return write_totals(totals, source, output, None, arguments.compression, report)

    source, rows = scan_inputs(label, arguments.input, *_csv_options(arguments))
    refuse_output_read(label, arguments.input, output)
    report = ProgressBar(command, rows, sys.stderr, quiet=arguments.quiet)
    start = time.perf_counter()
    try:
        written = write(source, report)
    except ScoresError:
        raise  # the request's own errors (a column, a parameter, the output)
    except pl.exceptions.PolarsError as error:
        # What fails now is reading or writing data; failures to write are
        # OSErrors naming the output.
        # The key states' errors carry their problem without the command's name.
        problem = getattr(error, "problem", None) or first_line(error)
        problem = f"failed on {names(arguments.input)}: {problem}"
        raise refuse(InputError, label, problem) from None
    report.finish(
        f"{command}: {report.done:,} rows read, {written:,} rows written to {output} "
        f"in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
