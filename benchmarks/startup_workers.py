#!/usr/bin/env python3
"""`deepseek-probe check` with and without its forked workers (deepseek_probe/parallel.py), as
fresh processes, against `nvidia-smi -q` where it is on PATH (issue 24, the GPU-host ratio).

DEEPSEEK_PROBE_WORKERS=1 is the serial tool; N forks the snapshot's child and N-1 survey workers;
"default" is what the host gets unset (half its usable cores, at most 8, from 4 cores up).
Rounds are interleaved, medians compared. Every run must exit with a verdict code (0-3) and
write nothing on stderr; the rows of the survey must be the same for every count.

    python benchmarks/startup_workers.py [--rounds 15] [--workers 1 2 4 8] [--snapshot FILE] [--out result.json]

Run it with the interpreter whose `deepseek-probe` script is measured (a clean venv).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = "DEEPSEEK_PROBE_WORKERS"


def _rows_digest(stdout: str) -> str:
    try:
        rows = json.loads(stdout)["rows"]
    except (ValueError, KeyError):
        return "no-json"
    return hashlib.sha1(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:12]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--workers", nargs="+", default=["1", "2", "4", "8"])
    ap.add_argument("--snapshot", default=os.path.join(REPO, "fixtures", "snapshots", "h100-captured.json"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    script = os.path.join(os.path.dirname(sys.executable), "deepseek-probe")
    commands: Dict[str, Tuple[List[str], Optional[str]]] = {}
    smi = shutil.which("nvidia-smi")
    if smi:
        commands["nvidia-smi -q"] = ([smi, "-q"], None)
    for w in args.workers + ["default"]:
        commands[f"check  W={w}"] = ([script, "check", "--format", "json"], w)
    for w in ("1", "default"):
        commands[f"check --snapshot  W={w}"] = ([script, "check", "--snapshot", args.snapshot, "--format", "json"], w)
        commands[f"check --model 7b  W={w}"] = ([script, "check", "--model", "7b", "--format", "json"], w)
    times: Dict[str, List[float]] = {k: [] for k in commands}
    digests: Dict[str, set] = {k: set() for k in commands}
    for _ in range(args.rounds):
        for name, (cmd, w) in commands.items():
            env = {k: v for k, v in os.environ.items() if k != ENV}
            if w not in (None, "default"):
                env[ENV] = w
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
            times[name].append(time.perf_counter() - t0)
            if name.startswith("check"):
                if p.returncode not in (0, 1, 2, 3) or p.stderr:
                    print(f"{name}: exit {p.returncode}, stderr {p.stderr[:300]!r}", file=sys.stderr)
                    return 1
                digests[name].add(_rows_digest(p.stdout))
    base = statistics.median(times["nvidia-smi -q"]) if smi else None
    for name, v in times.items():
        m = statistics.median(v)
        ratio = f"  {m / base:5.2f}x nvidia-smi -q" if base else ""
        rows = f"  rows {sorted(digests[name])}" if name.startswith("check") and "--model" not in name else ""
        print(f"{name:26s} {m * 1e3:7.1f} ms median, min {min(v) * 1e3:7.1f}{ratio}{rows}")
    print(f"(medians of {args.rounds} interleaved rounds; {os.cpu_count()} CPUs; default workers: "
          f"{_default_workers()})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "startup_workers", "rounds": args.rounds, "times_s": times,
                       "rows_digests": {k: sorted(v) for k, v in digests.items()}}, f, indent=1)
    return 0


def _default_workers() -> str:
    code = "from deepseek_probe import parallel; parallel.allow_fork(); print(parallel.worker_count(19))"
    env = {k: v for k, v in os.environ.items() if k != ENV}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir()).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
