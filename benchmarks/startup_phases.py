#!/usr/bin/env python3
"""Where the survey's start-up goes, phase by phase, in fresh processes (issue 24, speed).

Each round starts a new interpreter that times, with the cyclic collector off as the
`deepseek-probe` script runs: the imports the survey needs, the live snapshot (`take_snapshot`),
the survey, and the text report (and each probe's own time, from the snapshot's probe_ms).
`python -c pass` and `nvidia-smi -q` (where on PATH) are timed beside it, so the phases read
against the interpreter's own start and the GPU tool's.

    python benchmarks/startup_phases.py [--rounds 11] [--snapshot FILE] [--workers N] [--out result.json]

Medians are printed; every figure is measured on the machine that runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

CHILD = r"""
import gc, os, sys, time
gc.disable()
t0 = time.perf_counter()
pending = workers = None
if __WORKERS__ > 1:  # as the script runs with DEEPSEEK_PROBE_WORKERS=N (parallel.py)
    os.environ["DEEPSEEK_PROBE_WORKERS"] = str(__WORKERS__)
    from deepseek_probe import commands, parallel
    parallel.allow_fork()
    pending = commands.prefetch(__SNAPSHOT__, None)
    if pending is not None:  # as commands.check: the workers forked now warm up while the children probe
        workers = parallel.Workers(parallel.worker_count(), warm=commands._warm_rows)
from deepseek_probe import report, survey
if workers is not None:  # as commands.check: this process's rows and report, meanwhile
    survey.prepare()
    report.prepare()
t1 = time.perf_counter()
if __SNAPSHOT__:
    from deepseek_probe.snapshot import Snapshot
    snap = Snapshot.load(__SNAPSHOT__)
elif pending is not None:
    snap = commands.load_or_probe(None, None, False, pending)
else:
    from deepseek_probe.probes import take_snapshot
    snap = take_snapshot(model_dir=None, probe_versions=False)
t2 = time.perf_counter()
if __WORKERS__ > 1:
    workers = workers or parallel.Workers(parallel.worker_count())
    result = survey.survey(snap, map_rows=workers.map)
else:
    result = survey.survey(snap)
t3 = time.perf_counter()
text = report.render(result, "text", redact=True, color=False)
t4 = time.perf_counter()
phases = {"imports": t1 - t0, "snapshot": t2 - t1, "survey": t3 - t2, "render": t4 - t3}
phases.update({"  probe " + k: v / 1e3 for k, v in snap.probe_ms.items()})  # each probe's own time
print(repr(phases))
"""


def _wall(argv: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir(),
                   check=False)
    return time.perf_counter() - start


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--snapshot", default=None, help="replay this snapshot instead of probing")
    ap.add_argument("--workers", type=int, default=1,
                    help="N > 1: the forked tool (the snapshot taken in a child during the imports, so "
                         "'snapshot' is the wait left after them; the survey's rows in N processes)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    child = CHILD.replace("__SNAPSHOT__", repr(args.snapshot)).replace("__WORKERS__", str(args.workers))
    phases: Dict[str, List[float]] = {}
    smi = shutil.which("nvidia-smi")
    for _ in range(args.rounds):
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                             cwd=tempfile.gettempdir(), check=True).stdout
        for k, v in eval(out.strip().splitlines()[-1], {}).items():  # our own child's repr of floats
            phases.setdefault(k, []).append(v)
        phases.setdefault("python -c pass", []).append(_wall([sys.executable, "-c", "pass"]))
        if smi:
            phases.setdefault("nvidia-smi -q", []).append(_wall([smi, "-q"]))
    medians = {k: statistics.median(v) for k, v in phases.items()}
    for k, v in medians.items():
        print(f"{k:16s} {v * 1e3:8.1f} ms (median of {len(phases[k])})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "startup_phases", "python": sys.version.split()[0], "cpus": os.cpu_count(),
                       "snapshot": args.snapshot, "workers": args.workers, "rounds": args.rounds, "median_s": medians,
                       "times_s": phases}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
