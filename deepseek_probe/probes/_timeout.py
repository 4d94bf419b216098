"""Run a probe in a daemon thread and stop waiting after a time limit.

A hung driver call (NVML on a wedged GPU, statvfs on a dead NFS mount) blocks in C and cannot
be interrupted; a daemon thread lets ``check`` give up on it, report ``timeout`` and exit.

The threads are ``_thread``'s, signalled through one lock, not ``threading.Thread`` with an
Event: a Thread and its Events (each a Condition over a lock), the start handshake and the
bookkeeping cost ~180 k instructions per probe, ~1.8 M for the ten of a live snapshot, where a
bare thread costs ~35 k (valgrind cachegrind, issue 24). Such a thread is a daemon thread as
far as interpreter exit goes (threading joins only its own non-daemon threads), and it keeps
threading's trace and profile hooks (``threading.settrace``: coverage, profilers).
"""

from __future__ import annotations

import _thread
import sys
import time
from typing import Any, Callable, Optional


class Outcome:
    """What happened to one bounded call: ``status`` is "ok", "error" or "timeout"."""

    __slots__ = ("status", "value", "error", "elapsed_ms")

    def __init__(self, status: str, value: Any = None, error: Optional[BaseException] = None,
                 elapsed_ms: float = 0.0) -> None:
        self.status = status
        self.value = value
        self.error = error
        self.elapsed_ms = elapsed_ms


class Pending:
    """A started bounded call; ``wait(limit_s)`` gives its :class:`Outcome`."""

    def __init__(self, fn: Callable[[], Any], name: str) -> None:
        self.name = name  # what the call is (the thread itself has no name)
        self._box: dict = {}
        self._done = _thread.allocate_lock()
        self._done.acquire()  # held until the call has returned or raised
        self._start = time.perf_counter()
        try:
            _thread.start_new_thread(self._target, (fn,))
        except RuntimeError as e:  # cannot start a thread (interpreter shutting down, limits)
            self._box["error"] = e
            self._done.release()

    def _target(self, fn: Callable[[], Any]) -> None:
        # as threading.Thread runs; hooks are only set through threading, so unless it is imported there are none
        threading = sys.modules.get("threading")
        trace, profile = (threading.gettrace(), threading.getprofile()) if threading is not None else (None, None)
        if trace is not None:
            sys.settrace(trace)
        if profile is not None:
            sys.setprofile(profile)
        try:
            self._box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - a probe must never raise into the caller
            self._box["error"] = e
        finally:
            self._box["elapsed_ms"] = round((time.perf_counter() - self._start) * 1e3, 3)
            self._done.release()

    def wait(self, limit_s: float) -> Outcome:
        """Wait until the call ends or ``limit_s`` has passed since it started."""
        remaining = limit_s - (time.perf_counter() - self._start)
        if not self._done.acquire(True, max(remaining, 0.0)):
            return Outcome("timeout", elapsed_ms=round((time.perf_counter() - self._start) * 1e3, 3))
        self._done.release()  # done for good: a later wait() returns at once too
        elapsed = self._box.get("elapsed_ms", 0.0)
        if "error" in self._box:
            return Outcome("error", error=self._box["error"], elapsed_ms=elapsed)
        return Outcome("ok", value=self._box.get("value"), elapsed_ms=elapsed)


def start_bounded(fn: Callable[[], Any], name: str = "probe") -> Pending:
    """Start ``fn()`` in a daemon thread now; collect it later with ``wait(limit_s)``."""
    return Pending(fn, name)
