"""Print how long each probe takes on this machine (a figure, not a pass/fail test).

    .venv/bin/python benchmarks/probes.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # fake_nvml: the 8-GPU replay row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    start = time.perf_counter()
    from deepseek_probe.probes import cpu, cuda, disk, memory, system, take_snapshot
    print(f"import deepseek_probe.probes: {(time.perf_counter() - start) * 1e3:.1f} ms")

    from fake_nvml import FakeNvml

    recording = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "fixtures", "nvml", "derived-8gpu-mixed.json")
    probes = {
        "system": system.probe_system, "cpu": cpu.probe_cpu, "memory": memory.probe_memory,
        "disk": disk.probe_disk, "cuda (toolkit)": cuda.probe_toolkit,
        "gpu (fake NVML, 8 GPUs)": lambda: take_snapshot(nvml=FakeNvml.from_file(recording)).gpus,
        "take_snapshot (real, this machine)": take_snapshot,
    }
    for name, fn in probes.items():
        t = time.perf_counter()
        fn()
        first = (time.perf_counter() - t) * 1e3
        samples = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t) * 1e3)
        print(f"{name:38s} first {first:7.2f} ms   median {statistics.median(samples):7.2f} ms"
              f"   max {max(samples):7.2f} ms")


if __name__ == "__main__":
    main()
