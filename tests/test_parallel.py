"""parallel.py: rows computed in forked workers are the serial loop's rows, whatever a worker
does, and only the tool's own process forks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from deepseek_probe import parallel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPSHOTS = os.path.join(ROOT, "fixtures", "snapshots")
PARENT = os.getpid()

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks only on Linux")


@pytest.fixture(autouse=True)
def _threads_of_earlier_tests_ended():
    """Tests elsewhere leave a timed-out probe's thread sleeping out its hang (it cannot be
    stopped), and worker_count refuses to fork while a thread runs: wait for them to end, so
    that these tests do not depend on which ran before."""
    import _thread
    import time

    deadline = time.monotonic() + 10.0
    while _thread._count() and time.monotonic() < deadline:
        time.sleep(0.02)


def _square(arg, x):
    return (arg, x, x * x, os.getpid() == PARENT)


def _no_children_left():
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.parametrize("workers", [1, 2, 3, 5, 8, 40])
def test_same_list_as_serial_and_the_work_is_shared(workers):
    got = parallel.Workers(workers).map(_square, "a", list(range(19)))
    assert [g[:3] for g in got] == [("a", x, x * x) for x in range(19)]
    # item i is computed by worker i mod N; the last worker is this process
    assert [g[3] for g in got] == [i % workers == workers - 1 for i in range(19)]
    _no_children_left()


def test_workers_forked_early_get_the_argument_made_later():
    workers = parallel.Workers(4)
    arg = {"made": "after the fork"}
    assert [g[:3] for g in workers.map(_square, arg, [1, 2, 3, 4, 5])] == [(arg, x, x * x) for x in range(1, 6)]
    _no_children_left()


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has left already
    except FileNotFoundError:
        return True


def test_unused_workers_leave_even_when_their_parent_just_exits(tmp_path):
    parallel.Workers(3).close()
    _no_children_left()
    code = ("from deepseek_probe import parallel\n"
            "w = parallel.Workers(3)\n"
            "print(*[pid for pid, _, _ in w._children.values()])\n")  # and exit without closing them
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), cwd=str(tmp_path), timeout=60)
    pids = [int(x) for x in p.stdout.split()]
    assert len(pids) == 2
    import time

    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(_gone(pid) for pid in pids)


def _meet(folder, x):
    """In a worker: say it started, then wait (at most 5 s) until every worker has."""
    import time

    if os.getpid() == PARENT:
        return True
    open(os.path.join(folder, str(x)), "w").close()
    deadline = time.monotonic() + 5
    while len(os.listdir(folder)) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    return len(os.listdir(folder)) == 3


def test_the_workers_run_side_by_side(tmp_path):
    """Each child closes its siblings' pipe ends: otherwise a worker would read its job's end only
    once every later sibling had finished (one after the other, each waiting for the next)."""
    assert parallel.Workers(4).map(_meet, str(tmp_path), [0, 1, 2, 3]) == [True] * 4
    _no_children_left()


def test_a_job_that_does_not_pickle_is_computed_here():
    assert parallel.Workers(3).map(lambda a, x: (a, x), 1, [1, 2, 3]) == [(1, 1), (1, 2), (1, 3)]
    _no_children_left()


class _Boom(Exception):
    pass


def _fails_in_workers(arg, x):
    if os.getpid() != PARENT:
        raise _Boom(x)
    return x + arg


class _NoPickleInWorkers:
    def __init__(self, x):
        self.x = x

    def __reduce__(self):
        if os.getpid() != PARENT:
            raise TypeError("not here")
        return (_NoPickleInWorkers, (self.x,))

    def __eq__(self, other):
        return isinstance(other, _NoPickleInWorkers) and other.x == self.x


def _no_pickle(arg, x):
    return _NoPickleInWorkers(x)


def _dies_in_workers(arg, x):
    if os.getpid() != PARENT:
        os._exit(3)
    return -x


@pytest.mark.parametrize("fn, expect", [
    (_fails_in_workers, lambda x: x + 1),
    (_no_pickle, _NoPickleInWorkers),
    (_dies_in_workers, lambda x: -x),
])
def test_a_failing_worker_costs_time_not_the_answer(fn, expect):
    assert parallel.Workers(3).map(fn, 1, list(range(7))) == [expect(x) for x in range(7)]
    _no_children_left()


def test_fork_refused_computes_here(monkeypatch):
    def refuse():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refuse)
    assert [g[:3] for g in parallel.Workers(4).map(_square, 0, list(range(5)))] == [(0, x, x * x) for x in range(5)]


def _slow_then_interrupt(arg, x):
    if os.getpid() == PARENT:
        raise KeyboardInterrupt
    import time

    time.sleep(30)
    return x


def test_interrupted_parent_reaps_its_workers():
    with pytest.raises(KeyboardInterrupt):
        parallel.Workers(3).map(_slow_then_interrupt, None, list(range(6)))
    _no_children_left()


def test_worker_count(monkeypatch):
    monkeypatch.setattr(parallel, "_allowed", False)
    assert parallel.worker_count(19, {"DEEPSEEK_PROBE_WORKERS": "4"}) == 1  # not the tool's process
    monkeypatch.setattr(parallel, "_allowed", True)
    assert parallel.worker_count(19, {"DEEPSEEK_PROBE_WORKERS": "4"}) == 4
    assert parallel.worker_count(19, {"DEEPSEEK_PROBE_WORKERS": "64"}) == parallel.MAX_WORKERS
    assert parallel.worker_count(3, {"DEEPSEEK_PROBE_WORKERS": "8"}) == 3
    assert parallel.worker_count(1, {"DEEPSEEK_PROBE_WORKERS": "8"}) == 1
    for text in ("0", "-2", "two"):
        assert parallel.worker_count(19, {"DEEPSEEK_PROBE_WORKERS": text}) == 1
    monkeypatch.setattr(parallel, "_default_workers", lambda: 6)
    assert parallel.worker_count(19, {}) == 6


def test_no_fork_while_a_thread_runs(monkeypatch):
    import threading

    monkeypatch.setattr(parallel, "_allowed", True)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert parallel.worker_count(19, {"DEEPSEEK_PROBE_WORKERS": "4"}) == 1
    finally:
        stop.set()
        t.join()
    assert parallel.worker_count(19, {"DEEPSEEK_PROBE_WORKERS": "4"}) == 4


@pytest.mark.parametrize("fixture", ["h100.json", "2xh200.json", "derived-rtx4090.json",
                                     "derived-epyc9354p-cpu-only.json"])
def test_the_tools_survey_is_the_same_forked(fixture, tmp_path):
    """The script's process forks (DEEPSEEK_PROBE_WORKERS=3) and its JSON is the serial one's."""
    outs = []
    for workers in ("1", "3"):
        env = dict(os.environ, DEEPSEEK_PROBE_WORKERS=workers, PYTHONPATH=ROOT)
        p = subprocess.run([sys.executable, "-W", "error", "-m", "deepseek_probe", "check", "--snapshot",
                            os.path.join(SNAPSHOTS, fixture), "--format", "json"],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path))
        assert p.stderr == ""
        outs.append((p.returncode, p.stdout))
    assert outs[0] == outs[1]
    assert '"rows"' in outs[0][1]


def test_the_script_forks_and_check_in_process_does_not(tmp_path):
    """Counting os.fork in the tool's own process (__main__.run), then in cli.main as a caller
    that imports the package runs it."""
    count = tmp_path / "forks"
    code = (
        "import os, sys\n"
        "n = [0]\n"
        "real = os.fork\n"
        "def fork():\n"
        "    pid = real()\n"
        "    if pid: n[0] += 1\n"
        "    return pid\n"
        "os.fork = fork\n"
        "sys.argv = ['deepseek-probe', 'check', '--snapshot', sys.argv[2]]\n"
        "import atexit\n"  # run() leaves through os._exit once these have run (__main__._leave)
        "atexit.register(lambda: open(os.environ['COUNT'], 'w').write(str(n[0])))\n"
        "from deepseek_probe import __main__ as m, cli\n"
        "(m.run() if os.environ['HOW'] == 'script' else cli.main(sys.argv[1:]))\n"
    )
    got = {}
    for how in ("script", "in_process"):
        env = dict(os.environ, DEEPSEEK_PROBE_WORKERS="3", PYTHONPATH=ROOT, HOW=how, COUNT=str(count))
        p = subprocess.run([sys.executable, "-c", code, "x", os.path.join(SNAPSHOTS, "h100.json")],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path))
        assert p.returncode == 0, p.stderr
        got[how] = int(count.read_text())
    assert got == {"script": 2, "in_process": 0}


def _allow(monkeypatch, workers="2"):
    monkeypatch.setattr(parallel, "_allowed", True)
    monkeypatch.setenv(parallel.ENV, workers)


def test_start_gives_the_childs_value(monkeypatch):
    _allow(monkeypatch)
    pending = parallel.start(lambda: {"pid": os.getpid(), "x": [1, 2]})
    got = pending.result(10.0)
    assert got["x"] == [1, 2] and got["pid"] != PARENT
    assert pending.result(10.0) is None  # collected once
    _no_children_left()


@pytest.mark.parametrize("body", ["raise", "exit", "unpicklable"])
def test_start_failures_give_none(monkeypatch, body):
    _allow(monkeypatch)

    def fn():
        if body == "raise":
            raise _Boom()
        if body == "exit":
            os._exit(9)
        return lambda: None  # pickle refuses a lambda

    assert parallel.start(fn).result(10.0) is None
    _no_children_left()


def test_start_gives_up_after_its_time_and_reaps_the_child(monkeypatch):
    import time

    _allow(monkeypatch)
    pending = parallel.start(lambda: time.sleep(30))
    t0 = time.monotonic()
    assert pending.result(0.2) is None
    assert time.monotonic() - t0 < 5
    _no_children_left()


def test_a_later_child_takes_an_earlier_ones_result(monkeypatch):
    """As the snapshot's child takes NVML's reading: the pipe is inherited, and the sibling
    that reads it cannot reap the child that wrote it (its parent does)."""
    _allow(monkeypatch)
    first = parallel.start(lambda: {"from": os.getpid()})
    second = parallel.start(lambda: {"got": first.result(10.0), "pid": os.getpid()}, uses=first)
    got = second.result(10.0)
    assert got["got"]["from"] not in (PARENT, got["pid"])
    _no_children_left()  # the parent reaped both


@pytest.mark.parametrize("first_does", ["raise", "hang"])
def test_a_failed_or_stuck_earlier_child_gives_the_later_one_none(monkeypatch, first_does):
    import time

    _allow(monkeypatch)

    def first_fn():
        if first_does == "raise":
            raise _Boom()
        time.sleep(30)

    first = parallel.start(first_fn)
    second = parallel.start(lambda: ("got", first.result(0.3)), uses=first)
    t0 = time.monotonic()
    assert second.result(10.0) == ("got", None)
    assert time.monotonic() - t0 < 5
    _no_children_left()  # the stuck one is stopped with the one that used it


def test_cancel_stops_what_it_uses(monkeypatch):
    import time

    _allow(monkeypatch)
    first = parallel.start(lambda: time.sleep(30))
    second = parallel.start(lambda: time.sleep(30), uses=first)
    second.cancel()
    _no_children_left()


_WARMED = []


def _warmed(arg, x):
    return (x, list(_WARMED), os.getpid() == PARENT)


def test_workers_warm_up_before_their_job():
    got = parallel.Workers(3, warm=lambda: _WARMED.append("warm")).map(_warmed, None, list(range(6)))
    assert [g[0] for g in got] == list(range(6))
    # the children warmed up; this process (the last worker) did not (its caller does that itself)
    assert [g[1] for g in got] == [[] if i % 3 == 2 else ["warm"] for i in range(6)]
    _no_children_left()


def test_a_warm_up_that_fails_costs_nothing():
    def boom():
        raise _Boom()

    got = parallel.Workers(3, warm=boom).map(_warmed, None, list(range(6)))
    assert [g[0] for g in got] == list(range(6))
    assert [g[2] for g in got] == [i % 3 == 2 for i in range(6)]  # the children still computed theirs
    _no_children_left()


def test_start_not_allowed_or_one_worker(monkeypatch):
    monkeypatch.setattr(parallel, "_allowed", False)
    assert parallel.start(lambda: 1) is None
    _allow(monkeypatch, "1")
    assert parallel.start(lambda: 1) is None


def test_after_prepare_no_survey_imports_a_module_of_ours(tmp_path):
    """survey.prepare loads what every row uses (the forked workers then start with it), and
    report.prepare what its report uses: a fresh interpreter prepares, then surveys every
    snapshot fixture and renders each in every format, and imports nothing of ours; the catalog
    specs are built (profiles.all_models) before the first survey asks for them."""
    code = (
        "import glob, sys\n"
        "from deepseek_probe import profiles, report, survey\n"
        "from deepseek_probe.snapshot import Snapshot\n"
        "snaps = [Snapshot.load(p) for p in sorted(glob.glob(sys.argv[1] + '/*.json'))]\n"
        "survey.prepare()\n"
        "report.prepare()\n"
        "assert profiles._spec_at.cache_info().currsize == len(profiles.all_models())\n"
        "before = set(sys.modules)\n"
        "for s in snaps:\n"
        "    result = survey.survey(s)\n"
        "    for fmt in ('text', 'json'):\n"
        "        report.render(result, fmt, redact=True, color=False)\n"
        "print(len(snaps), sorted(m for m in set(sys.modules) - before if m.startswith('deepseek_probe')))\n"
    )
    p = subprocess.run([sys.executable, "-c", code, SNAPSHOTS], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    count, _, new = p.stdout.strip().partition(" ")
    assert int(count) >= 10 and new == "[]", p.stdout


@pytest.mark.parametrize("cores, quota, expect", [(2, None, 1), (3, None, 1), (4, None, 2), (16, None, 8),
                                                  (64, None, 32), (16, 3.0, 1), (16, 6.5, 3)])
def test_default_count_is_half_the_usable_cores(monkeypatch, cores, quota, expect):
    from deepseek_probe.probes import cpu

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(cpu, "cgroup_cpu_quota", lambda root: quota)
    monkeypatch.setattr(parallel, "_default_count", [])
    assert parallel._default_workers() == expect
    monkeypatch.setattr(parallel, "_allowed", True)
    assert parallel.worker_count(19, {}) == min(expect, parallel.MAX_WORKERS)


def test_the_snapshot_child_waits_for_nvmls_reading_the_limit_and_a_second_from_its_start():
    """commands._probe (the snapshot's child): NVML's child bounds its own probe by the limit,
    so the wait for its reading ends a second after that, counted from the start; with no
    reading (that child failed) NVML is read in this process."""
    from deepseek_probe import commands
    from deepseek_probe.probes import DEFAULT_TIME_LIMIT_S

    asked = []

    class Failed:
        def result(self, timeout_s):
            asked.append(timeout_s)
            return None

    snap = commands._probe(None, Failed())
    assert len(asked) == 1
    assert DEFAULT_TIME_LIMIT_S < asked[0] <= DEFAULT_TIME_LIMIT_S + 1.0
    assert snap.cuda.nvml_status is not None and "gpu" in snap.probe_ms
