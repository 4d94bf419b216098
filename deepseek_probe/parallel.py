"""Forked workers for `check`: the live snapshot taken while the answer's modules import
(`start`: NVML's reading in one child, the file probes in another that takes it), and the
survey's rows shared among workers forked at the start, which import what the rows use while
the snapshot is taken (`Workers`).

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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

A = TypeVar("A")
T = TypeVar("T")
R = TypeVar("R")

ENV = "DEEPSEEK_PROBE_WORKERS"
MAX_WORKERS = 8
_allowed = False


def allow_fork() -> None:
    """This process is the tool's own (the console script, `python -m deepseek_probe`)."""
    global _allowed
    _allowed = True


def worker_count(items: int = MAX_WORKERS, environ: Optional[dict] = None) -> int:
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


_default_count: List[int] = []  # computed once a process (`check` asks twice)


def _default_workers() -> int:
    if not _default_count:
        _default_count.append(_count_from_cores())
    return _default_count[0]


def _count_from_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return 1
    if cores >= 4:  # a cgroup quota may allow fewer (read only here: it costs a few file reads)
        from deepseek_probe.probes.cpu import cgroup_cpu_quota

        quota = cgroup_cpu_quota("/")
        cores = min(cores, int(quota)) if quota is not None else cores
    return cores // 2 if cores >= 4 else 1


class Workers:
    """count - 1 children forked now, each idle until `map` sends it a job (one job each). Forked
    early (while the snapshot is being taken), they cost the answer nothing but the job's
    transfer; a child whose parent dies reads end-of-file and leaves."""

    def __init__(self, count: int, warm: Optional[Callable[[], None]] = None) -> None:
        """`warm`: what each child does first, while it waits (import what `map`'s function
        uses); where it fails the job still runs."""
        self.count = count
        self._warm = warm
        self._children: Dict[int, Tuple[int, int, int]] = {}  # share -> (pid, job write end, result read end)
        for share in range(count - 1):  # the last share is this process's (map)
            child = self._fork(share)
            if child is None:  # RLIMIT_NPROC, a pids cgroup: this process computes the rest
                break
            self._children[share] = child

    def _fork(self, share: int) -> Optional[Tuple[int, int, int]]:
        forked = _fork_with_pipes(2)
        if forked is None:
            return None
        pid, ((job_r, job_w), (result_r, result_w)) = forked
        if pid == 0:
            # Only this child's own ends stay open: a sibling holding a job pipe's write end
            # would keep that sibling from ever reading end-of-file.
            for fd in [job_w, result_r] + [fd for _, w, r in self._children.values() for fd in (w, r)]:
                os.close(fd)
            _child(lambda: _work(job_r, result_w, share, self.count, self._warm))
        os.close(job_r)
        os.close(result_w)
        return pid, job_w, result_r

    def map(self, fn: Callable[[A, T], R], arg: A, items: Sequence[T]) -> List[R]:
        """[fn(arg, x) for x in items]: item i computed by worker i mod count, the last worker
        being this process: given the costliest items first, it takes the cheapest of each round
        (and has the report to write after). `fn` travels by name (a module's function) with
        `arg` and `items`."""
        n = self.count

        def share(k: int) -> List[R]:
            return [fn(arg, items[i]) for i in range(k, len(items), n)]

        if not self._children:
            return [fn(arg, x) for x in items]
        import pickle

        try:
            try:
                job = pickle.dumps((fn, arg, items), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - a job that does not pickle is computed here
                self.close()
                return [fn(arg, x) for x in items]
            sent = set()
            for k, (pid, job_w, result_r) in list(self._children.items()):
                self._children[k] = (pid, -1, result_r)  # _send closes it, sent or not
                if _send(job_w, job):
                    sent.add(k)
            out: List[Any] = [None] * len(items)
            for k in [k for k in range(n) if k not in sent]:
                out[k::n] = share(k)
            for k in sorted(sent):
                pid, _, result_r = self._children.pop(k)
                got = _collect(pid, result_r, pickle)
                out[k::n] = got if got is not None and len(got) == len(out[k::n]) else share(k)
            return out
        finally:
            self.close()

    def close(self) -> None:
        """Stop and reap the children left (unused, or interrupted)."""
        for pid, job_w, result_r in self._children.values():
            _stop(pid, result_r, job_w)
        self._children.clear()


def _send(fd: int, data: bytes) -> bool:
    try:
        _write_all(fd, data)
        return True
    except OSError:  # the child is gone (BrokenPipeError): its share is computed here
        return False
    finally:
        os.close(fd)


def _work(job_r: int, result_w: int, share: int, count: int, warm: Optional[Callable[[], None]]) -> None:
    """A worker's job: warm up, wait for it, compute its share, send it back (nothing to do when
    the parent closes the pipe without sending one)."""
    import pickle

    if warm is not None:
        try:
            warm()
        except Exception:  # noqa: BLE001 - only time lost: the job imports what it needs itself
            pass

    job = _read_all(job_r)
    if job:
        fn, arg, items = pickle.loads(job)
        _write_all(result_w, pickle.dumps([fn(arg, items[i]) for i in range(share, len(items), count)],
                                          protocol=pickle.HIGHEST_PROTOCOL))


def _child(body: Callable[[], None]) -> None:
    """A child's whole life: never returns into the parent's code, and leaves without running
    atexit handlers or flushing the parent's buffers. Exit 0 when `body` ran, else 70 (the
    parent then computes the part itself)."""
    code = 70
    try:
        body()
        code = 0
    except BaseException:  # noqa: BLE001 - whatever it was, the parent recovers
        pass
    finally:
        os._exit(code)


def _fork_with_pipes(count: int) -> Optional[Tuple[int, List[Tuple[int, int]]]]:
    """(os.fork()'s value, `count` fresh pipes), or None (every pipe closed) where the system
    refuses a pipe or the fork (RLIMIT_NPROC, a pids cgroup, no file descriptors left)."""
    pipes: List[Tuple[int, int]] = []
    try:
        for _ in range(count):
            pipes.append(os.pipe())
        return os.fork(), pipes
    except OSError:
        for fd in [fd for pipe in pipes for fd in pipe]:
            os.close(fd)
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    """Everything until end-of-file; the descriptor is closed."""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _collect(pid: Optional[int], read_fd: int, pickle: Any) -> Optional[list]:
    """The child's pickled list, or None when it failed. `pid`: the child to reap, None when it
    is a sibling's (whose parent reaps it): then a payload that unpickles whole is the test."""
    data = _read_all(read_fd)
    if pid is not None:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            return None
    try:
        value = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a truncated or foreign payload: computed here instead
        return None
    return value if isinstance(value, list) else None


def _stop(pid: int, *fds: int) -> None:
    import signal

    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
    for call in (lambda: os.kill(pid, signal.SIGKILL), lambda: os.waitpid(pid, 0)):
        try:
            call()
        except OSError:
            pass


class Pending:
    """fn() computing in a forked child (`start`). A child forked later may take the result
    instead of the process that started it (the snapshot's child takes NVML's reading)."""

    def __init__(self, pid: int, read_fd: int, uses: Optional["Pending"] = None) -> None:
        self._pid, self._fd, self._uses = pid, read_fd, uses
        self._parent = os.getpid()

    def result(self, timeout_s: float) -> Any:
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
        got = _collect(self._pid if self._ours() else None, self._fd, pickle)
        self._fd = -1
        self.cancel()  # what it used: its child sent this one its result, or is stuck
        return got[0] if got else None

    def cancel(self) -> None:
        """Stop the child (its parent only; elsewhere let go of the pipe)."""
        if self._fd >= 0:
            if self._ours():
                _stop(self._pid, self._fd)
            else:
                os.close(self._fd)
            self._fd = -1
        if self._uses is not None:
            self._uses.cancel()

    def _ours(self) -> bool:
        return os.getpid() == self._parent


def start(fn: Callable[[], Any], uses: Optional[Pending] = None) -> Optional[Pending]:
    """fn() in a forked child while this process goes on, or None where that is not allowed
    (worker_count) or the fork is refused. `uses`: a child started before, whose result fn
    takes (its pipe is inherited); it is stopped with this one."""
    if worker_count(2) < 2:
        return None
    forked = _fork_with_pipes(1)
    if forked is None:
        return None
    pid, ((read_fd, write_fd),) = forked
    if pid == 0:
        os.close(read_fd)
        _child(lambda: _send_value(write_fd, fn))
    os.close(write_fd)
    return Pending(pid, read_fd, uses)


def _send_value(write_fd: int, fn: Callable[[], Any]) -> None:
    import pickle

    _write_all(write_fd, pickle.dumps([fn()], protocol=pickle.HIGHEST_PROTOCOL))
