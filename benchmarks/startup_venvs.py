#!/usr/bin/env python3
"""`deepseek-probe check` of two (or more) installed builds, interleaved, beside `nvidia-smi -q`
(issue 24, the GPU-host ratio): each build in its own clean venv, run through its console script
as a user runs it, one round of every command at a time so that drift hits all alike.

    python benchmarks/startup_venvs.py [--rounds 11] [--out result.json] base=/tmp/vbase new=/tmp/vnew

Per build: the live survey with DEEPSEEK_PROBE_WORKERS=1 (serial) and unset (the host's default),
`check --snapshot` (fixtures/snapshots/h100-captured.json) and `check --model 7b`. Every run must
exit with a verdict code (0-3) and write nothing on stderr; the digest of the survey's rows is
printed so that builds can be seen to agree. Medians and minimums in ms; every figure is measured
on the machine that runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import time
from typing import Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPSHOT = os.path.join(REPO, "fixtures", "snapshots", "h100-captured.json")


def _digest(stdout: bytes) -> str:
    try:
        rows = json.loads(stdout).get("rows")
    except ValueError:
        return "no-json"
    return hashlib.sha1(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:10]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--out", default=None)
    ap.add_argument("builds", nargs="+", help="NAME=VENV (the venv holding that build's deepseek-probe)")
    args = ap.parse_args(argv)
    commands: Dict[str, Tuple[List[str], Dict[str, str]]] = {}
    smi = shutil.which("nvidia-smi")
    if smi:
        commands["nvidia-smi -q"] = ([smi, "-q"], {})
    for build in args.builds:
        name, venv = build.split("=", 1)
        script = os.path.join(venv, "bin", "deepseek-probe")
        commands[f"{name} check W=1"] = ([script, "check", "--format", "json"], {"DEEPSEEK_PROBE_WORKERS": "1"})
        commands[f"{name} check"] = ([script, "check", "--format", "json"], {})
        commands[f"{name} check --snapshot"] = ([script, "check", "--snapshot", SNAPSHOT, "--format", "json"], {})
        commands[f"{name} check --model 7b"] = ([script, "check", "--model", "7b", "--format", "json"], {})
    times: Dict[str, List[float]] = {k: [] for k in commands}
    digests: Dict[str, set] = {k: set() for k in commands}
    bad = 0
    for _ in range(args.rounds):
        for label, (cmd, extra) in commands.items():
            env = {k: v for k, v in os.environ.items() if k != "DEEPSEEK_PROBE_WORKERS"}
            env.update(extra)
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/tmp")
            times[label].append((time.perf_counter() - t0) * 1e3)
            if label.startswith("nvidia-smi"):
                continue
            if p.returncode not in (0, 1, 2, 3) or p.stderr:
                bad += 1
                print(f"BAD {label}: exit {p.returncode} {p.stderr[-200:]!r}")
            digests[label].add(_digest(p.stdout))
    base = statistics.median(times["nvidia-smi -q"]) if smi else None
    out = {}
    for label in commands:
        med = statistics.median(times[label])
        ratio = f"{med / base:5.2f}x nvidia-smi -q" if base else ""
        print(f"{label:30s} {med:7.1f} ms median, min {min(times[label]):7.1f}  {ratio}  rows {sorted(digests[label])}")
        out[label] = {"median_ms": med, "min_ms": min(times[label]), "times_ms": times[label],
                      "rows": sorted(digests[label])}
    print(f"(medians of {args.rounds} interleaved rounds; {os.cpu_count()} CPUs)")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"rounds": args.rounds, "cpus": os.cpu_count(), "results": out}, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
