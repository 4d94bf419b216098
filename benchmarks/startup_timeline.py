#!/usr/bin/env python3
"""When each step of one `deepseek-probe check` (the live survey) happens, across its processes
(issue 24, the GPU-host ratio): fresh interpreters run `__main__.run` with thin wrappers that log
CLOCK_MONOTONIC (one clock for all processes) at each step; times are ms from the launcher's
spawn, medians over rounds.

    python benchmarks/startup_timeline.py [--rounds 9] [--workers 1 8]

Steps: `main` (the interpreter is up), `forkN`/`childN-start`/`childN-done` (the children of
parallel.start: 1 NVML's reading, 2 the snapshot's file probes), `nvmlInit-start/-end` (in the
child that reads NVML), `workers-init`/`-forked`, `wait-snapshot`/`got-snapshot`, `map-start`/
`-end` (the rows), `write-start`/`-end`, `main-end` (before __main__._leave) and `exit` (the
launcher sees the process gone). The wrappers add a few microseconds a step. Run it with the
interpreter of the venv measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

DRIVER = r'''
import os, sys, time
LOG = os.open(os.environ["TL_LOG"], os.O_WRONLY | os.O_APPEND)
def log(step):
    os.write(LOG, ("%d %s %.6f\n" % (os.getpid(), step, time.monotonic())).encode())
log("main")
import gc; gc.disable()
from deepseek_probe import __main__ as entry, commands, parallel
started = [0]
def start(fn, *a, **k):
    started[0] += 1
    tag = str(started[0])
    def child():
        log("child%s-start" % tag)
        from deepseek_probe.probes.gpu import nvidia
        load = nvidia.load_nvml
        def logged_load(env=None):
            module = load(env)
            class Logged:
                def __getattr__(self, name):
                    fn_ = getattr(module, name)
                    if name not in ("nvmlInit", "nvmlShutdown"):
                        return fn_
                    def call(*a_, **k_):
                        log(name + "-start"); r = fn_(*a_, **k_); log(name + "-end"); return r
                    return call
            return Logged()
        nvidia.load_nvml = logged_load
        r = fn(); log("child%s-done" % tag); return r
    log("fork" + tag); p = original_start(child, *a, **k); return p
original_start, parallel.start = parallel.start, start
class Workers(parallel.Workers):
    def __init__(self, *a, **k):
        log("workers-init"); super().__init__(*a, **k); log("workers-forked")
    def map(self, *a, **k):
        log("map-start"); r = super().map(*a, **k); log("map-end"); return r
parallel.Workers = Workers
def wrap(module, name, before, after):
    f = getattr(module, name)
    def w(*a, **k):
        log(before); r = f(*a, **k); log(after); return r
    setattr(module, name, w)
wrap(commands, "load_or_probe", "wait-snapshot", "got-snapshot")
wrap(commands, "write", "write-start", "write-end")
leave = entry._leave
def logged_leave(code):
    log("main-end"); leave(code)
entry._leave = logged_leave
sys.argv = ["deepseek-probe", "check", "--format", "json"]
entry.run()
'''


def once(python: str, workers: str) -> Dict[str, float]:
    fd, path = tempfile.mkstemp()
    os.close(fd)
    env = dict(os.environ, TL_LOG=path, DEEPSEEK_PROBE_WORKERS=workers)
    t0 = time.monotonic()
    p = subprocess.run([python, "-c", DRIVER], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=tempfile.gettempdir())
    steps = {"exit": (time.monotonic() - t0) * 1e3}
    if p.returncode not in (0, 1, 2, 3) or p.stderr:
        raise SystemExit(f"check failed: exit {p.returncode}: {p.stderr[-300:]!r}")
    with open(path) as f:
        for line in f:
            _, step, t = line.split()
            steps.setdefault(step, (float(t) - t0) * 1e3)
    os.unlink(path)
    return steps


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--workers", nargs="+", default=["1", "8"])
    args = ap.parse_args(argv)
    runs: Dict[str, List[Dict[str, float]]] = {w: [] for w in args.workers}
    for _ in range(args.rounds):
        for w in args.workers:
            runs[w].append(once(sys.executable, w))
    for w, got in runs.items():
        steps = sorted({s for r in got for s in r}, key=lambda s: statistics.median([r[s] for r in got if s in r]))
        print(f"DEEPSEEK_PROBE_WORKERS={w} (medians of {args.rounds}, ms from spawn)")
        for s in steps:
            print(f"  {s:16s} {statistics.median([r[s] for r in got if s in r]):7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
