"""Which signals stop a run, and when they are delivered.

Ctrl-C (SIGINT), a polite kill (SIGTERM) and a closed terminal (SIGHUP)
stop a run. While Polars writes, :class:`Interrupt` only notes them, so that
the writer stops at the next batch and removes its partial result; the
signal then goes to the handler that was there before. The command line
installs such a handler with :func:`terminating`, which turns SIGTERM and
SIGHUP into :class:`TerminatedError` as Python turns SIGINT into
``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS: frozenset[int] = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that stop a run: Ctrl-C, a polite kill, a closed terminal."""


class TerminatedError(Exception):
    """SIGTERM or SIGHUP arrived."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise TerminatedError(signum)


@contextlib.contextmanager
def terminating() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`TerminatedError`
    (SIGINT raises ``KeyboardInterrupt`` already). A signal ignored on
    purpose (``nohup``) stays ignored.

    Importing Polars puts a SIGINT handler of its own before Python's, which
    aborts a running query by panicking its threads; a thread that panics
    once the query is over prints the panic (``__POLARS_ABORT_KEYBOARD_INTERRUPT``)
    and its backtrace. The command line stops its queries itself, at the next
    batch (:class:`Interrupt`), so SIGINT goes to Python's handler alone:
    setting a handler again installs Python's own at the system's level.
    """
    if callable(handler := signal.getsignal(signal.SIGINT)):
        signal.signal(signal.SIGINT, handler)
    previous = {
        signum: signal.signal(signum, _raise_terminated)
        for signum in sorted(STOP_SIGNALS - {signal.SIGINT})
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ignore_stop_signals() -> None:
    """Ignore the stop signals from now on: the run is stopping already, and
    a second Ctrl-C must not interrupt its cleanup or its one line of report
    (nor kill the process as Python exits, when the handlers are reset)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class Interrupt:
    """Notices the stop signals (where Python handles them) while Polars runs.

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

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in sorted(STOP_SIGNALS):
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
                    if signum in STOP_SIGNALS:
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
