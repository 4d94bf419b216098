"""Run a probe in a daemon thread and stop waiting after a time limit.

A hung driver call (NVML on a wedged GPU, statvfs on a dead NFS mount) blocks in C and cannot
be interrupted; a daemon thread lets ``check`` give up on it, report ``timeout`` and exit.
"""

from __future__ import annotations

import threading
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
        self._box: dict = {}
        self._done = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._target, args=(fn,),
                                        name=f"deepseek-probe-{name}", daemon=True)
        try:
            self._thread.start()
        except RuntimeError as e:  # cannot start a thread (interpreter shutting down, limits)
            self._box["error"] = e
            self._done.set()

    def _target(self, fn: Callable[[], Any]) -> None:
        try:
            self._box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - a probe must never raise into the caller
            self._box["error"] = e
        finally:
            self._box["elapsed_ms"] = round((time.perf_counter() - self._start) * 1e3, 3)
            self._done.set()

    def wait(self, limit_s: float) -> Outcome:
        """Wait until the call ends or ``limit_s`` has passed since it started."""
        remaining = limit_s - (time.perf_counter() - self._start)
        if not self._done.wait(max(remaining, 0.0)):
            return Outcome("timeout", elapsed_ms=round((time.perf_counter() - self._start) * 1e3, 3))
        elapsed = self._box.get("elapsed_ms", 0.0)
        if "error" in self._box:
            return Outcome("error", error=self._box["error"], elapsed_ms=elapsed)
        return Outcome("ok", value=self._box.get("value"), elapsed_ms=elapsed)


def start_bounded(fn: Callable[[], Any], name: str = "probe") -> Pending:
    """Start ``fn()`` in a daemon thread now; collect it later with ``wait(limit_s)``."""
    return Pending(fn, name)

