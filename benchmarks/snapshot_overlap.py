#!/usr/bin/env python3
"""Does starting the live snapshot before the survey's imports pay (issue 24, speed)?

Three ways to run the survey, each a fresh process timed whole, rounds interleaved:
- serial: import the survey's modules, then take the snapshot (what `check` does);
- overlap: take the snapshot in a bounded thread started first, import meanwhile, then wait;
- overlap+switch: the same with a 0.5 ms GIL switch interval while both run (the default 5 ms
  can keep the NVML thread waiting for the GIL after each driver call).
`python -c pass` and `nvidia-smi -q` (where on PATH) run beside them.

    python benchmarks/snapshot_overlap.py [--rounds 21] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

CHILD = r"""
import gc, sys
gc.disable()
mode = sys.argv[1]
if mode != "serial":
    if mode == "overlap+switch":
        sys.setswitchinterval(0.0005)
    from deepseek_probe.probes import take_snapshot
    from deepseek_probe.probes._timeout import start_bounded
    pending = start_bounded(lambda: take_snapshot(model_dir=None, probe_versions=False), "snapshot")
from deepseek_probe import assess, report, survey
if mode == "serial":
    from deepseek_probe.probes import take_snapshot
    snap = take_snapshot(model_dir=None, probe_versions=False)
else:
    snap = pending.wait(30.0).value
    sys.setswitchinterval(0.005)
result = survey.survey(snap)
sys.stdout.write(report.render(result, "text", redact=True, color=False))
"""


def _wall(argv: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir(), check=True)
    return time.perf_counter() - start


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    commands = {mode: [sys.executable, "-c", CHILD, mode] for mode in ("serial", "overlap", "overlap+switch")}
    commands["python -c pass"] = [sys.executable, "-c", "pass"]
    script = shutil.which("deepseek-probe")
    if script:
        commands["deepseek-probe check"] = [script, "check"]
    smi = shutil.which("nvidia-smi")
    if smi:
        commands["nvidia-smi -q"] = [smi, "-q"]
    for cmd in commands.values():  # warm-up
        _wall(cmd) if cmd[0] != script else subprocess.run(cmd, capture_output=True, check=False)
    times: Dict[str, List[float]] = {k: [] for k in commands}
    for _ in range(args.rounds):
        for label, cmd in commands.items():
            if label == "deepseek-probe check":  # exits 0-3 by verdict
                start = time.perf_counter()
                subprocess.run(cmd, capture_output=True, cwd=tempfile.gettempdir(), check=False)
                times[label].append(time.perf_counter() - start)
            else:
                times[label].append(_wall(cmd))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for k, v in medians.items():
        print(f"{k:22s} {v * 1e3:8.1f} ms  (median of {len(times[k])}, min {min(times[k]) * 1e3:.1f})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "snapshot_overlap", "rounds": args.rounds, "median_s": medians, "times_s": times},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
