#!/usr/bin/env python3
"""On a GPU host: whole-process `deepseek-probe check` vs `nvidia-smi -q` vs torch's collect_env.

Issue 7's target: `check` on the H100 host takes at most 1.0x the time of `nvidia-smi -q`
(median, same run). Same method as startup.py: fresh processes, interleaved rounds, medians.

    python3 benchmarks/speed.py [--rounds 15] [--torch-python PATH] [--out speed.json]

`--torch-python` names the interpreter that has torch (default: this one); without torch that
row is reported as not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from startup import (CHECK_EXIT_CODES, Command, find_console_script, host_info, print_table,  # noqa: E402
                     ratio_line, run_interleaved)

NVIDIA_SMI_TARGET_RATIO = 1.0  # issue 7, "Must hold": check <= 1.0x nvidia-smi -q


def gpu_info(smi: Optional[str]) -> Dict[str, object]:
    """GPU names and driver, to tell which host a result file came from."""
    if not smi:
        return {"nvidia_smi": None}
    try:
        out = subprocess.run([smi, "--query-gpu=name,driver_version,pci.bus_id", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"nvidia_smi": smi, "error": str(e)}
    return {"nvidia_smi": smi, "gpus": [line.strip() for line in out.strip().splitlines()]}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--torch-python", default=sys.executable,
                        help="python that has torch, for collect_env (default: this one)")
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    py = sys.executable
    smi = shutil.which("nvidia-smi")
    script = find_console_script()
    commands = []
    if script:
        commands.append(Command("deepseek-probe check", [script, "check"], CHECK_EXIT_CODES))
    commands.append(Command("python -m deepseek_probe check", [py, "-m", "deepseek_probe", "check"],
                            CHECK_EXIT_CODES))
    commands.append(Command("nvidia-smi -q", [smi or "nvidia-smi", "-q"]))
    commands.append(Command("torch collect_env", [args.torch_python, "-m", "torch.utils.collect_env"]))

    print(f"check vs nvidia-smi -q vs collect_env: {args.rounds} interleaved rounds, {os.cpu_count()} CPUs")
    info = gpu_info(smi)
    for line in info.get("gpus", []):
        print(f"  GPU: {line}")
    if not smi:
        print("  nvidia-smi is not on PATH: this is not a GPU host, the comparison means little")
    if not script:
        print("  (no deepseek-probe console script on PATH or next to this python: timing python -m only)")

    results = run_interleaved(commands, args.rounds)
    print_table(results)
    print()
    ratios = []
    check_label = "deepseek-probe check" if script else "python -m deepseek_probe check"
    ratios.append(ratio_line(results, check_label, "nvidia-smi -q", NVIDIA_SMI_TARGET_RATIO))
    if script:
        ratios.append(ratio_line(results, "python -m deepseek_probe check", "nvidia-smi -q",
                                 NVIDIA_SMI_TARGET_RATIO))
    torch_row = results["torch collect_env"]
    if torch_row.error is None and torch_row.times_s and results[check_label].times_s:
        print(f"{check_label} / torch collect_env = "
              f"{results[check_label].median_s / torch_row.median_s:.2f}x  (for reference, no target)")

    if args.out:
        doc = {"benchmark": "speed", "host": {**host_info(), **info}, "rounds": args.rounds,
               "commands": {label: t.to_dict() for label, t in results.items()}, "ratios": ratios}
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
