"""Scores and totals of data larger than memory, written to parquet.

Polars' streaming engine gathers the whole input of a non-elementwise plugin
such as the rolling score, so :func:`score_to_parquet` drives the scan
itself: it reads the input in order, batch by batch, scores each batch with a
:class:`~polars_scores.stateful.RollingScorer` (which carries each key's
state) and hands the scored batches to Polars' own parquet sink. Memory holds
a few batches and one float per key, whatever the row count.

Both writers put the result in a work file beside the output and rename it
into place, synced, only when everything succeeded: an error, an interrupt
(SIGINT, SIGTERM, SIGHUP) or a power loss never leaves a partial output nor
touches an existing one, and a killed run leaves nothing that a later scan of
the folder would read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, get_args

import polars as pl
from polars.io.plugins import register_io_source

from polars_scores._checks import (
    check_columns,
    column_names,
    finite,
    new_column,
    not_a_key,
    positive_int,
)
from polars_scores.namespace import col
from polars_scores.stateful import RollingScorer

DEFAULT_BATCH_ROWS = 1_000_000
"""Rows per batch: large enough that each batch's per-key bookkeeping is
cheap next to reading it, small enough that a few batches fit in ~100 MB."""

Compression = Literal["zstd", "lz4", "snappy", "gzip", "brotli", "uncompressed"]
"""The parquet codecs the writers offer (Polars' own; zstd is its default)."""
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)

Progress = Callable[[int], None]
"""Called with the number of input rows done so far, after each batch (from
one of Polars' threads, not necessarily the caller's)."""


def score_to_parquet(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str,
    by: str | Sequence[str] = (),
    rise: float = 0.9,
    fall: float = 0.5,
    initial: float = 0.0,
    name: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    compression: Compression = "zstd",
    progress: Progress | None = None,
    rule: str | None = None,
    inputs: Mapping[str, str] | None = None,
) -> int:
    """Write `source`'s columns plus its rolling score to the parquet file `output`.

    The rows keep their input order, and the scores equal bit for bit those of
    ``pl.col(value).scores.rolling(by=by, ...)`` over the whole input held in
    memory, though only a few batches of ``batch_rows`` rows and one float per
    key are ever held.

    Parameters
    ----------
    source
        The input, e.g. ``pl.scan_parquet(path)``; read once, in order.
    output
        The parquet file to write. Its folder must exist. An existing file is
        replaced, but only once the whole result has been written.
    value, by, rise, fall, initial, name
        As in :class:`~polars_scores.stateful.RollingScorer`: the column to
        score, the key column(s), the recurrence's parameters and the score
        column's name (``"<value>_score"`` by default).
    batch_rows
        Rows per batch: memory grows with it, per-batch overhead shrinks.
    compression
        The output's codec. The score column compresses little, so most of
        zstd's time goes to it; "lz4" writes faster, larger files.
    progress
        Called with the number of rows done after each batch.
    rule, inputs
        Your own recurrence instead of the rolling score, and the columns it
        reads, as in ``scores.scan``; the scores then equal
        ``pl.col(value).scores.scan(rule, by=by, initial=initial, inputs=inputs)``.

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    polars.exceptions.ColumnNotFoundError
        A named column is missing (the message lists the available ones).
    polars.exceptions.InvalidOperationError
        The value column is not numeric.
    TypeError, ValueError
        A parameter is invalid, or the score's name is taken by an input column.
    KeyboardInterrupt
        On Ctrl-C, once the partial result has been removed.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.streaming import score_to_parquet
    >>> folder = Path(tempfile.mkdtemp())
    >>> pl.DataFrame({"k": [1, 1, 2, 1], "x": [1.0, 0.5, 3.0, 2.0]}).write_parquet(
    ...     folder / "in.parquet"
    ... )
    >>> score_to_parquet(
    ...     pl.scan_parquet(folder / "in.parquet"), folder / "out.parquet",
    ...     value="x", by="k", batch_rows=2,
    ... )
    4
    >>> pl.read_parquet(folder / "out.parquet")["x_score"].to_list()
    [1.0, 0.5, 3.0, 2.45]
    """
    method = "score_to_parquet"
    # Checked here too so that errors name this function.
    keys = column_names(method, "by", by)
    scorer = RollingScorer(
        value,
        by=keys,
        rise=finite(method, "rise", rise),
        fall=finite(method, "fall", fall),
        initial=finite(method, "initial", initial),
        name=name,
        rule=rule,
        inputs=inputs,
    )
    rows = positive_int(method, "batch_rows", batch_rows)
    schema = source.collect_schema()
    check_columns(method, schema, value, [*keys, *(inputs or {}).values()], scorer.name)
    out_schema = pl.Schema([*schema.items(), (scorer.name, pl.Float64())])

    def scored_batches(stop: _Interrupt) -> Iterator[pl.DataFrame]:
        done = 0
        for batch in source.collect_batches(chunk_size=rows, maintain_order=True):
            if stop.requested():
                return
            scored = scorer.score(batch)
            done += scored.height
            if progress is not None:
                progress(done)
            yield scored

    return _write_parquet(
        method, output, out_schema, scored_batches, lambda frame: frame, compression
    )


def total_to_parquet(
    source: pl.LazyFrame,
    output: str | os.PathLike[str],
    *,
    value: str,
    by: str | Sequence[str] = (),
    exponent: float = 1.5,
    compression: Compression = "zstd",
    progress: Progress | None = None,
) -> int:
    """Write each key's ``scores.total`` of `value` to the parquet file `output`.

    One row per distinct key (sorted by key, nulls last) with the key columns
    and ``"<value>_total"``, the sum of ``v ** exponent`` over the key's
    non-null ``v > 0``; without `by`, one row. Computed by Polars' streaming
    ``group_by``, so memory grows with the number of keys, not of rows.

    Parameters
    ----------
    source
        The input, e.g. ``pl.scan_parquet(path)``.
    output
        The parquet file to write, replaced only once the result is complete.
    value
        The numeric column to total.
    by
        Key column name(s).
    exponent
        The power each positive value is raised to.
    compression
        The output's codec.
    progress
        Called with the number of input rows read so far.

    Returns
    -------
    int
        The number of rows written (distinct keys).

    Raises
    ------
    polars.exceptions.ColumnNotFoundError, polars.exceptions.InvalidOperationError
        As for :func:`score_to_parquet`.
    TypeError, ValueError
        A parameter is invalid, or a key column is called ``"<value>_total"``.
    KeyboardInterrupt
        On Ctrl-C, once the partial result has been removed.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from pathlib import Path
    >>> from polars_scores.streaming import total_to_parquet
    >>> folder = Path(tempfile.mkdtemp())
    >>> pl.DataFrame({"k": ["b", "a", "b"], "x": [4.0, 9.0, -1.0]}).write_parquet(
    ...     folder / "in.parquet"
    ... )
    >>> total_to_parquet(pl.scan_parquet(folder / "in.parquet"), folder / "t.parquet",
    ...                  value="x", by="k")
    2
    >>> pl.read_parquet(folder / "t.parquet").rows()
    [('a', 27.0), ('b', 8.0)]
    """
    method = "total_to_parquet"
    keys = column_names(method, "by", by)
    power = finite(method, "exponent", exponent)
    total_name = f"{value}_total"
    schema = source.collect_schema()
    check_columns(method, schema, value, keys)
    not_a_key(method, value, keys)
    new_column(method, total_name, keys)
    columns = [*keys, value]

    def input_batches(stop: _Interrupt) -> Iterator[pl.DataFrame]:
        done = 0
        for batch in source.select(columns).collect_batches(maintain_order=False):
            if stop.requested():
                return
            done += batch.height
            if progress is not None:
                progress(done)
            yield batch

    total = col(value).scores.total(exponent=power).alias(total_name)

    def aggregate(frame: pl.LazyFrame) -> pl.LazyFrame:
        if not keys:
            return frame.select(total)
        return frame.group_by(keys).agg(total).sort(keys, nulls_last=True)

    in_schema = pl.Schema({column: schema[column] for column in columns})
    return _write_parquet(method, output, in_schema, input_batches, aggregate, compression)


def _write_parquet(
    method: str,
    output: str | os.PathLike[str],
    schema: pl.Schema,
    batches: Callable[[_Interrupt], Iterator[pl.DataFrame]],
    query: Callable[[pl.LazyFrame], pl.LazyFrame],
    compression: Compression,
) -> int:
    """Sink ``query(frame of batches)`` into `output` through a work file;
    the number of rows written."""
    if compression not in COMPRESSIONS:
        raise ValueError(
            f"{method}: compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}"
        )
    failures: list[BaseException] = []
    with _replaced_on_success(method, Path(output)) as work, _Interrupt() as stop:

        def read(
            with_columns: list[str] | None,
            predicate: pl.Expr | None,
            n_rows: int | None,
            batch_size: int | None,
        ) -> Iterator[pl.DataFrame]:
            # Polars may push a projection, a filter or a limit into a source;
            # they apply to the finished batches, never before scoring.
            left = n_rows
            try:
                for batch in batches(stop):
                    if with_columns is not None:
                        batch = batch.select(with_columns)
                    if predicate is not None:
                        batch = batch.filter(predicate)
                    if left is not None:
                        batch = batch.head(left)
                        left -= batch.height
                    yield batch
                    if left == 0:
                        return
            except GeneratorExit:
                raise
            except BaseException as error:
                failures.append(error)
                raise

        frame = register_io_source(read, schema=schema)
        try:
            query(frame).sink_parquet(work, compression=compression, maintain_order=True)
        except Exception as error:
            # Polars re-raises a source's error as a ComputeError quoting it
            # (at some versions): raise the original instead.
            if failures:
                raise failures[0] from None
            # Otherwise the sink failed, and an error of the system says why
            # (disk full, file too large): say it of the output, not the input.
            code = _os_error_code(str(error))
            if code is None:
                raise
            raise _cannot_write(method, output, code) from None
        if stop.requested():
            # The original handler decides what happens (Ctrl-C raises
            # KeyboardInterrupt); the truncated result goes in any case.
            stop.deliver()
            raise KeyboardInterrupt(f"{method}: interrupted")
        return int(pl.scan_parquet(work).select(pl.len()).collect().item())


def _os_error_code(message: str) -> int | None:
    """The errno that a Polars I/O error quotes as "(os error N)", if any."""
    found = re.search(r"\(os error (\d+)\)", message)
    return int(found.group(1)) if found else None


def _cannot_write(method: str, output: str | os.PathLike[str], code: int) -> OSError:
    return OSError(code, f"{method}: cannot write {str(output)!r}: {os.strerror(code)}")


@contextlib.contextmanager
def _replaced_on_success(method: str, output: Path) -> Iterator[str]:
    """A path to write the result to, which becomes `output` if the block succeeds.

    The usual atomic replace: the data is written to a work file in `output`'s
    folder (a rename cannot cross file systems), synced, renamed over `output`,
    and then the folder is synced, so that neither an error nor a power loss
    leaves `output` partial or gone. Where the system allows it, the work file
    has no name until it is complete (Linux's ``O_TMPFILE``): a run that is
    killed leaves nothing behind, which matters because Polars' folder scans
    read every file below the folder, hidden ones and sub-folders included.
    Elsewhere it is a hidden file named after the process, removed on failure,
    and by the next run into that folder if its process died without doing so.
    """
    if output.is_dir():
        raise IsADirectoryError(f"{method}: the output {str(output)!r} is a folder")
    folder = output.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{method}: the output folder {str(folder)!r} does not exist")
    try:
        folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        raise _cannot_write(method, output, error.errno or errno.EIO) from None
    try:
        _remove_stale_work_files(folder, output.name)
        unnamed = _unnamed_file(method, output, folder_fd)
        if unnamed is not None:
            try:
                yield f"/proc/self/fd/{unnamed}"
                _finish(method, output, lambda: _link_into_place(unnamed, folder_fd, output.name))
            finally:
                os.close(unnamed)
        else:
            work = folder / f".{output.name}.{os.getpid()}-{secrets.token_hex(4)}{_WORK_SUFFIX}"
            try:
                yield str(work)
                _finish(method, output, lambda: _sync_then_replace(work, output))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    work.unlink()
        # The rename is durable only once the folder's entry is on disk.
        _finish(method, output, lambda: _fsync_folder(folder_fd))
    finally:
        os.close(folder_fd)


_WORK_SUFFIX = ".partial"
"""Work files do not end in ``.parquet``, so a ``*.parquet`` glob never reads one."""


def _unnamed_file(method: str, output: Path, folder_fd: int) -> int | None:
    """A writable file in `output`'s folder with no name yet, if the system makes one.

    Polars opens it again through ``/proc/self/fd``; None where there is no
    ``O_TMPFILE`` or ``/proc``, or where the file system cannot make one.
    """
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(".", flag | os.O_WRONLY, 0o666, dir_fd=folder_fd)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            raise _cannot_write(method, output, error.errno) from None
        return None  # not supported here (EOPNOTSUPP, EISDIR, EINVAL...)


def _link_into_place(unnamed: int, folder_fd: int, name: str) -> None:
    """Give the synced unnamed file the name `name`, replacing a file of that name."""
    os.fsync(unnamed)
    source = f"/proc/self/fd/{unnamed}"
    # A `src_dir_fd` makes Python call linkat, which follows the /proc link
    # to the file itself (plain link() would link the /proc entry).
    try:
        os.link(source, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        return
    except FileExistsError:
        pass
    # linkat cannot replace: name it beside, then rename over (a kill in
    # between leaves a complete hidden file, removed by the next run).
    temporary = f".{name}.{os.getpid()}-{secrets.token_hex(4)}{_WORK_SUFFIX}"
    os.link(source, temporary, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    try:
        os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder_fd)
        raise


def _sync_then_replace(work: Path, output: Path) -> None:
    with open(work, "rb+") as file:
        os.fsync(file.fileno())
    os.replace(work, output)


def _fsync_folder(folder_fd: int) -> None:
    try:
        os.fsync(folder_fd)
    except OSError as error:
        # Some file systems cannot sync a folder; the data itself is synced.
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise


def _finish(method: str, output: Path, step: Callable[[], None]) -> None:
    """Run a step of the replace, reporting a failure of the system as one of `output`."""
    try:
        step()
    except OSError as error:
        raise _cannot_write(method, output, error.errno or errno.EIO) from None


def _remove_stale_work_files(folder: Path, name: str) -> None:
    """Remove the work files for `name` that runs which died (SIGKILL, power loss) left."""
    if os.name != "posix":
        return  # no cheap, safe way to ask whether a process is alive
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)-[0-9a-f]{{8}}{re.escape(_WORK_SUFFIX)}")
    for entry in os.scandir(folder):
        found = pattern.fullmatch(entry.name)
        if found is None or _process_alive(int(found.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


_STOP_SIGNALS: frozenset[int] = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that stop a run: Ctrl-C, a polite kill, a closed terminal."""


class _Interrupt:
    """Notices SIGINT, SIGTERM and SIGHUP (where Python handles them) while Polars runs.

    Python runs signal handlers only between bytecodes of the main thread,
    which waits inside Polars for the whole sink; and a KeyboardInterrupt
    raised inside Polars aborts its threads noisily. So while the sink runs,
    the handlers only note the signal, its arrival is written to a pipe (the
    wakeup fd) that the batch source polls from Polars' thread to stop early,
    and afterwards the signal is delivered to the original handler.

    Python writes every signal it handles to that pipe, so the other ones
    (SIGUSR1 for log rotation, SIGCHLD, SIGWINCH, SIGALRM...) are passed on to
    the wakeup fd that was set before, and their handlers run after the sink,
    as they would after any long call: they never stop the run.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._saved: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None
        self._saved_fd = -1

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in sorted(_STOP_SIGNALS):
            if callable(signal.getsignal(signum)):
                self._saved[signum] = signal.signal(signum, self._note)
        if self._saved:
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            os.set_blocking(write_end, False)
            self._pipe = (read_end, write_end)
            self._saved_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        return self

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum

    def requested(self) -> bool:
        """Whether a stop signal arrived (callable from any thread)."""
        if self.received is None and self._pipe is not None:
            with contextlib.suppress(BlockingIOError):
                for signum in os.read(self._pipe[0], 64):
                    if signum in _STOP_SIGNALS:
                        self.received = self.received or signum
                    elif self._saved_fd >= 0:
                        with contextlib.suppress(OSError):
                            os.write(self._saved_fd, bytes([signum]))
        return self.received is not None

    def deliver(self) -> None:
        """Restore the original handlers and raise the noted signal to them."""
        self._restore()
        if self.received is not None:
            signal.raise_signal(self.received)

    def _restore(self) -> None:
        if self._pipe is not None:
            signal.set_wakeup_fd(self._saved_fd)
            for end in self._pipe:
                os.close(end)
            self._pipe = None
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved = {}

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._restore()
