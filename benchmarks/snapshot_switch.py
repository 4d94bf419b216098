#!/usr/bin/env python3
"""The live snapshot's wall time against the GIL switch interval (issue 24, speed).

take_snapshot runs NVML in one thread and the file probes in eight more. After each NVML call
its thread must take the GIL back from the file probes' Python, which with the default 5 ms
switch interval can mean a wait per call. Each round starts a fresh interpreter per interval
(interleaved), takes one snapshot and prints its wall time and NVML's own (probe_ms["gpu"]).

    python benchmarks/snapshot_switch.py [--rounds 21] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

CHILD = r"""
import gc, sys, time
gc.disable()
interval = float(sys.argv[1])
if interval:
    sys.setswitchinterval(interval)
from deepseek_probe.probes import take_snapshot
start = time.perf_counter()
snap = take_snapshot(model_dir=None, probe_versions=False)
print(time.perf_counter() - start, snap.probe_ms.get("gpu", 0.0) / 1e3)
"""
INTERVALS = (0.0, 0.001, 0.0002)  # 0: the interpreter's default (5 ms)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    wall: Dict[str, List[float]] = {}
    gpu: Dict[str, List[float]] = {}
    for _ in range(args.rounds):
        for interval in INTERVALS:
            label = f"{interval * 1e3:g} ms" if interval else "default"
            out = subprocess.run([sys.executable, "-c", CHILD, str(interval)], capture_output=True, text=True,
                                 cwd=tempfile.gettempdir(), check=True).stdout.split()
            wall.setdefault(label, []).append(float(out[0]))
            gpu.setdefault(label, []).append(float(out[1]))
    for label in wall:
        print(f"switch interval {label:8s}: snapshot {statistics.median(wall[label]) * 1e3:6.1f} ms, "
              f"NVML probe {statistics.median(gpu[label]) * 1e3:6.1f} ms (medians of {len(wall[label])})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "snapshot_switch", "rounds": args.rounds, "wall_s": wall, "nvml_s": gpu}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
