"""Forked workers for `check`: the live snapshot taken while the answer's modules import
(`start`), and the survey's rows shared among cores (`map_rows`).

Why: on a GPU host `check` spends most of its time in two serial steps, the snapshot (NVML's
calls) and the survey's rows (pure Python, the GIL held throughout), and such hosts have cores to
spare (benchmarks/startup_workers.py; the figures are in benchmarks/results). Why processes: the
rows hold the GIL, and the snapshot's probes in a thread beside the imports gained nothing
(benchmarks/snapshot_overlap.py). Why fork and not a pool: a pool's start-up costs more than the
rows.

Only the `deepseek-probe` process itself forks (__main__.run calls `allow_fork`); a caller that
imports the package (the tests, a notebook) gets the serial code. A child computes, sends its
result back pickled through a pipe and leaves with os._exit (no atexit handler, no second flush
of the parent's stdout). Anything that goes wrong in a child (fork refused, an exception, a
result that does not unpickle, a child that takes too long) costs time, not the answer: the
parent computes that part itself. So the answer is the serial code's whatever happens
(tests/test_parallel.py).

DEEPSEEK_PROBE_WORKERS=N sets the count (1: never fork); otherwise a Linux host with at least
4 usable cores (affinity and cgroup quota, as probes/cpu.py reads them) uses half of them, at
most 8.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, Generic, List, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")
R = TypeVar("R")

ENV = "DEEPSEEK_PROBE_WORKERS"
MAX_WORKERS = 8
_allowed = False


def allow_fork() -> None:
    """This process is the tool's own (the console script, `python -m deepseek_probe`)."""
    global _allowed
    _allowed = True


def worker_count(items: int, environ: Optional[dict] = None) -> int:
    """How many processes compute `items` items: 1 unless forking is allowed, possible and
    worth it."""
    if not _allowed or items < 2 or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 1
    import _thread

    if _thread._count():  # a probe thread still runs (one that timed out): forking would copy its locks
        return 1
    text = (os.environ if environ is None else environ).get(ENV, "").strip()
    if text:
        try:
            wanted = int(text)
        except ValueError:
            return 1
    else:
        wanted = _default_workers()
    return max(1, min(wanted, MAX_WORKERS, items))


def _default_workers() -> int:
    from deepseek_probe.probes.cpu import _affinity_count, cgroup_cpu_quota

    counts = [c for c in (_affinity_count("/"), cgroup_cpu_quota("/")) if c is not None]
    cores = int(min(counts)) if counts else 1
    return cores // 2 if cores >= 4 else 1


def mapper() -> Callable[[Callable[[T], R], Sequence[T]], List[R]]:
    """map_rows with the workers worker_count gives (survey.survey's `map_rows`)."""
    return lambda fn, items: map_rows(fn, items, worker_count(len(items)))


def map_rows(fn: Callable[[T], R], items: Sequence[T], workers: int) -> List[R]:
    """[fn(x) for x in items], the items shared among `workers` processes (item i to worker
    i mod workers; this process is worker 0)."""
    if workers <= 1:
        return [fn(x) for x in items]
    import pickle

    def share(k: int) -> List[R]:
        return [fn(items[i]) for i in range(k, len(items), workers)]

    running: Dict[int, Tuple[int, int]] = {}  # share -> (pid, read end)
    try:
        for k in range(1, workers):
            child = _fork(lambda k=k: share(k))  # type: ignore[misc]
            if child is None:  # RLIMIT_NPROC, a pids cgroup: this process computes the rest
                break
            running[k] = child
        out: List[Any] = [None] * len(items)
        for k in [k for k in range(workers) if k not in running]:
            out[k::workers] = share(k)
        for k in list(running):
            got = _collect(*running.pop(k), pickle)
            out[k::workers] = got if got is not None and len(got) == len(out[k::workers]) else share(k)
        return out
    finally:
        for pid, read_fd in running.values():  # interrupted: stop and reap the workers left
            _stop(pid, read_fd)


def _fork(fn: Callable[[], list]) -> Optional[Tuple[int, int]]:
    """(pid, read end of its pipe) of a child that sends fn()'s list back pickled, or None
    where the pipe or the fork is refused."""
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:
        os.close(read_fd)
        _work(fn, write_fd)
    os.close(write_fd)
    return pid, read_fd


def _work(fn: Callable[[], list], write_fd: int) -> None:
    """The child's whole life: never returns into the parent's code."""
    code = 70
    try:
        import pickle

        view = memoryview(pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL))
        while view:
            view = view[os.write(write_fd, view):]
        code = 0
    except BaseException:  # noqa: BLE001 - the parent computes it instead
        pass
    finally:
        os._exit(code)


def _collect(pid: int, read_fd: int, pickle) -> Optional[list]:  # type: ignore[no-untyped-def]
    """The worker's results, or None when it failed."""
    chunks = []
    try:
        while True:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        value = pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 - a truncated or foreign payload: compute it here
        return None
    return value if isinstance(value, list) else None


def _stop(pid: int, read_fd: int) -> None:
    import signal

    for call in (lambda: os.close(read_fd), lambda: os.kill(pid, signal.SIGKILL), lambda: os.waitpid(pid, 0)):
        try:
            call()
        except OSError:
            pass


class Pending(Generic[R]):
    """fn() computing in a forked child (`start`)."""

    def __init__(self, pid: int, read_fd: int) -> None:
        self._pid, self._fd = pid, read_fd

    def result(self, timeout_s: float) -> Optional[R]:
        """fn()'s value, or None (the child failed or took longer than `timeout_s`): the caller
        then computes it itself."""
        import pickle
        import select

        if self._fd < 0:
            return None
        ready, _, _ = select.select([self._fd], [], [], timeout_s)
        if not ready:
            self.cancel()
            return None
        got = _collect(self._pid, self._fd, pickle)
        self._fd = -1
        return got[0] if got else None

    def cancel(self) -> None:
        if self._fd >= 0:
            _stop(self._pid, self._fd)
            self._fd = -1


def start(fn: Callable[[], R]) -> Optional["Pending[R]"]:
    """fn() in a forked child while this process goes on, or None where that is not allowed
    (worker_count) or the fork is refused."""
    if worker_count(2) < 2:
        return None
    child = _fork(lambda: [fn()])
    return None if child is None else Pending(*child)
