"""Atomic, durable replacement of an output file.

The result is written to a work file in the output's folder (a rename
cannot cross file systems), synced, renamed over the output, and then the
folder is synced, so that neither an error, an interrupt nor a power loss
leaves the output partial or gone. While it is written, :class:`Writeback`
has the system write it to disk, so that the final sync finds little left.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from polars_scores._checks import ScoresError, refuse


class CannotWriteError(ScoresError, OSError):
    """The output cannot be written: its path, or an error of the system."""


def os_error_code(message: str) -> int | None:
    """The errno that a Polars I/O error quotes as "(os error N)", if any."""
    found = re.search(r"\(os error (\d+)\)", message)
    return int(found.group(1)) if found else None


def cannot_write(method: str, output: str | os.PathLike[str], code: int) -> CannotWriteError:
    """The error of `method` for a failure of the system (`code`, an errno) to write `output`."""
    problem = f"cannot write {str(output)!r}: {os.strerror(code)}"
    return refuse(CannotWriteError, method, problem, code)


@contextlib.contextmanager
def replaced_on_success(method: str, output: Path) -> Iterator[tuple[str, int | None]]:
    """A path to write the result to, which becomes `output` if the block
    succeeds, and the work file's descriptor where it is open already (see
    :class:`Replacement`)."""
    replacement = Replacement(method, output)
    try:
        yield replacement.path, replacement.fd
        replacement.commit()
    finally:
        replacement.close()


class Replacement:
    """A work file in `output`'s folder (:attr:`path`, and :attr:`fd` where it
    is open already), which :meth:`commit` puts in place as `output`, synced;
    :meth:`close` drops it if it was not.

    Where the system allows it, the work file has no name until it is
    complete (Linux's ``O_TMPFILE``): a run that is killed leaves nothing
    behind, which matters because Polars' folder scans read every file below
    the folder, hidden ones and sub-folders included. Elsewhere it is a
    hidden file named after the process, removed on failure, and by the next
    run into that folder if its process died without doing so.
    """

    def __init__(self, method: str, output: Path) -> None:
        if output.is_dir():
            raise refuse(CannotWriteError, method, f"the output {str(output)!r} is a folder")
        folder = output.parent
        if not folder.is_dir():
            problem = f"the output folder {str(folder)!r} does not exist"
            raise refuse(CannotWriteError, method, problem)
        try:
            folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as error:
            raise cannot_write(method, output, error.errno or errno.EIO) from None
        try:
            _remove_stale_work_files(folder, output.name)
            self.fd = _unnamed_file(method, output, folder_fd)
        except BaseException:
            os.close(folder_fd)
            raise
        self._method, self._output, self._folder_fd = method, output, folder_fd
        self._work = None
        if self.fd is None:
            name = f".{output.name}.{os.getpid()}-{secrets.token_hex(4)}{_WORK_SUFFIX}"
            self._work = folder / name
        self.path = f"/proc/self/fd/{self.fd}" if self._work is None else str(self._work)

    def commit(self) -> None:
        """Put the complete work file in place as the output, durably: the
        file synced, then renamed (or linked) over the output, then the
        folder synced."""
        method, output = self._method, self._output
        fd, work = self.fd, self._work
        if fd is not None:
            _finish(method, output, lambda: _keep_mode(output, lambda m: os.fchmod(fd, m)))
            _finish(method, output, lambda: _link_into_place(fd, self._folder_fd, output.name))
        elif work is not None:
            _finish(method, output, lambda: _keep_mode(output, lambda m: os.chmod(work, m)))
            _finish(method, output, lambda: _sync_then_replace(work, output))
        # The rename is durable only once the folder's entry is on disk.
        _finish(method, output, lambda: _fsync_folder(self._folder_fd))

    def close(self) -> None:
        """Let go of the work file (gone with it unless committed) and the folder."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self._work is not None:
            with contextlib.suppress(FileNotFoundError):
                self._work.unlink()
            self._work = None
        if self._folder_fd >= 0:
            os.close(self._folder_fd)
            self._folder_fd = -1


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
            raise cannot_write(method, output, error.errno) from None
        return None  # not supported here (EOPNOTSUPP, EISDIR, EINVAL...)


def _keep_mode(output: Path, chmod: Callable[[int], None]) -> None:
    """Give the work file the permissions of the `output` it replaces, if
    any: a replaced output keeps its mode (read-only stays read-only), as
    the file a program rewrites in place would."""
    try:
        mode = stat.S_IMODE(os.stat(output).st_mode)
    except FileNotFoundError:
        return
    chmod(mode)


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
        raise cannot_write(method, output, error.errno or errno.EIO) from None


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


class Writeback:
    """Has the system write the output file to disk while the query runs, so
    that the sync at the end, which the atomic replace needs, finds little
    left to write.

    Without it the whole file is written out after the last batch, with
    nothing else to do meanwhile: half a second for 100M scored rows (1.7 GB)
    here. A thread of its own, woken after each batch, calls
    ``posix_fadvise(DONTNEED)`` on the file: Linux starts writing its dirty
    pages and drops those already on disk from the cache, where a larger than
    memory run has no use for them. The call is advice; where it fails or is
    missing, the final sync does all the writing.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake = threading.Event()
        self._due = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="polars-scores-writeback")
        self._thread.start()

    def due(self) -> None:
        self._due = True
        self._wake.set()

    def _run(self) -> None:
        # A batch's wake-up still pending when the writer closes is served
        # before the thread ends: on a busy machine the thread may first run
        # only then, and the batches' pages would otherwise wait for the sync.
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._due:
                self._due = False
                try:
                    os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)
                except OSError:
                    return
            if self._closing:
                return

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join()

    @classmethod
    @contextlib.contextmanager
    def of(cls, fd: int | None) -> Iterator[Writeback | None]:
        """A writeback of the file `fd` while the block runs; None without a
        file descriptor (a named work file) or ``posix_fadvise`` (not Linux)."""
        if fd is None or not hasattr(os, "posix_fadvise"):
            yield None
            return
        writeback = cls(fd)
        try:
            yield writeback
        finally:
            writeback.close()
