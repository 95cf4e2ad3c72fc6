"""Which files the command line's inputs read (files, globs, folders), and their scan.

Polars expands globs and folders itself; the command emulates its rules to
tell the format of the files read, to read formats whose scans take no
folder, and to refuse an output that an input reads or would read.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import polars as pl

from polars_scores._checks import ScoresError, refuse
from polars_scores.formats import CsvOptions, Format, format_of, scan_file


class InputError(ScoresError, OSError):
    """An input cannot be read, or the output is among the files read."""


def scan_inputs(
    method: str, specs: Sequence[str], csv: CsvOptions | None = None, csv_options: str = ""
) -> tuple[pl.LazyFrame, int | None]:
    """The inputs `specs` (files, globs or folders of one format), in order, and
    their row count where the files' metadata tells it (parquet, IPC).

    CSV inputs are read as `csv` says; `csv_options` names the options that
    gave it, which other formats refuse. A CSV input with no rows (a header
    alone) has no values to infer dtypes from: its columns read as Null
    (Polars would say String), so that it scores no rows rather than fail.
    """
    for spec in specs:
        if glob.has_magic(spec):
            if next(files_read(spec), None) is None:
                raise refuse(InputError, method, f"no file matches {spec!r}")
        elif not os.path.exists(spec):
            raise refuse(InputError, method, f"cannot read {spec!r}: no such file or folder")
        elif not os.access(spec, os.R_OK):
            raise refuse(InputError, method, f"cannot read {spec!r}: permission denied")
        elif os.path.isdir(spec) and next(files_read(spec), None) is None:
            raise refuse(InputError, method, f"no files in {spec!r}")
    kind = _input_format(method, specs)
    if csv_options and kind != "csv":
        raise refuse(InputError, method, f"{csv_options} is for CSV inputs; these are {kind}")
    if kind == "parquet":
        source = pl.scan_parquet(list(specs))
    else:
        # Polars' other scans take files (and globs), not folders: the files
        # in the order a parquet scan would read them.
        paths = [path for spec in specs for path in sorted(files_read(spec))]
        source = scan_file(kind, paths, csv)
    try:
        if kind == "csv" and source.head(1).collect().height == 0:
            csv = csv or CsvOptions()
            given = {column for column, _ in csv.dtypes}
            unknown = tuple(
                (column, pl.Null())
                for column, dtype in source.collect_schema().items()
                if column not in given and dtype == pl.String
            )
            source = scan_file(kind, paths, replace(csv, dtypes=csv.dtypes + unknown))
        rows = _schema_and_rows(source, kind)
    except (pl.exceptions.PolarsError, OSError) as error:
        broken, why = _broken_file(kind, specs, csv) or (names(specs), error)
        problem = f"cannot read {broken} as {kind}: {first_line(why)}"
        raise refuse(InputError, method, problem) from None
    return source, rows


def _schema_and_rows(source: pl.LazyFrame, kind: Format) -> int | None:
    """Read `source`'s schema, and its row count where the metadata tells it:
    parquet and IPC have both in their metadata, which this reads and checks;
    CSV and NDJSON would be read whole for a count."""
    source.collect_schema()
    return source.select(pl.len()).collect().item() if kind in ("parquet", "ipc") else None


def _broken_file(
    kind: Format, specs: Sequence[str], csv: CsvOptions | None
) -> tuple[str, BaseException] | None:
    """The first file of `specs` that cannot be read on its own, quoted, and
    why; None when each can (they fail only together)."""
    for spec in specs:
        for path in sorted(files_read(spec)):
            try:
                _schema_and_rows(scan_file(kind, path, csv), kind)
            except (pl.exceptions.PolarsError, OSError) as error:
                return repr(path), error
    return None


def names(specs: Sequence[str]) -> str:
    """The inputs, as a message names them."""
    return ", ".join(repr(spec) for spec in specs)


def first_line(error: BaseException) -> str:
    """The first line of an error's message (Polars appends plans and contexts)."""
    text = str(error)
    if isinstance(error, OSError) and error.strerror:
        # Without the "[Errno N]" that str() puts first.
        text = error.strerror + (f": {error.filename!r}" if error.filename else "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(error).__name__
    # A broken file's bytes may be quoted (as control characters, or as
    # replacement characters where they are no UTF-8): never print them raw.
    return "".join(
        char if char.isprintable() and char != "\ufffd" else ascii(char)[1:-1] for char in line
    )


def _input_format(method: str, specs: Sequence[str]) -> Format:
    """The one format of the files that `specs` read, told by their extensions;
    parquet where none tells."""
    first: dict[Format, str] = {}
    for spec in specs:
        for path in files_read(spec):
            kind = format_of(path)
            if kind is not None:
                first.setdefault(kind, path)
    if len(first) > 1:
        found = ", ".join(f"{path!r} is {kind}" for kind, path in first.items())
        problem = f"the inputs mix formats ({found}); read one format at a time"
        raise refuse(InputError, method, problem)
    return next(iter(first), "parquet")


def refuse_output_read(
    method: str, specs: Sequence[str], output: str, role: str = "output"
) -> None:
    """Refuse an OUTPUT (or another file the run writes, its `role`) that an
    input reads, or would read once written: the run would replace its own
    data, or a later run would read its result as data."""
    target = Path(os.path.realpath(output))
    try:
        existing = os.stat(output)
    except OSError:
        existing = None
    for spec in specs:
        # Through any path or link: the same place, or the same file.
        same = reads_path(spec, target) or (
            existing is not None
            and any(os.path.samestat(existing, os.stat(path)) for path in files_read(spec))
        )
        if same:
            problem = f"the {role} {output!r} is read by the input {spec!r}; write it elsewhere"
            raise refuse(InputError, method, problem)


def reads_path(spec: str, target: Path) -> bool:
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


def files_read(spec: str) -> Iterator[str]:
    """The files Polars reads for `spec`: the file itself, every file below a
    folder, or the files a glob matches (hidden ones too, as Polars does)."""
    if glob.has_magic(spec):
        root, pattern = _split_glob(spec)
    elif os.path.isdir(spec):
        root, pattern = spec, None
    else:
        yield spec
        return
    for folder, _, found in os.walk(root):
        for name in found:
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
