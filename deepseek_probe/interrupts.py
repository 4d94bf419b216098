"""Ctrl-C deferred around sections whose result must be recorded (verify's driver calls)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


class InterruptGuard:
    """Defers Ctrl-C while a driver call's result is not yet recorded.

    A KeyboardInterrupt raised between cuMemAlloc returning and the pointer landing in our list
    would leak that allocation; inside `critical()` the interrupt waits until the section ends.
    Works only in the main thread (where Python delivers signals); elsewhere it does nothing.
    """

    def __init__(self) -> None:
        self._installed = False
        self._previous: Any = None
        self._critical = False
        self._pending = False

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # leave SIG_IGN / SIG_DFL alone
                self._previous = previous
                signal.signal(signal.SIGINT, self._handler)
                self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self._critical:
            self._pending = True
        else:
            self._previous(signum, frame)

    @contextmanager
    def critical(self) -> Iterator[None]:
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._pending:
            self._pending = False
            self._previous(signal.SIGINT, None)
