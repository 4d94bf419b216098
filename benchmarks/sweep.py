#!/usr/bin/env python3
"""Speed of a full estimate sweep: every catalog model x precision x context (1K...128K, within
the model's maximum) x runtime, for every valid combination. Target: < 50 ms in total.

    python3 benchmarks/sweep.py [--repeat 5]

Prints the number of estimates, the import time (module + catalog, paid once per process by
the CLI as well), the time of the first sweep (nothing cached yet) and the best warm repeat.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)


def sweep() -> int:
    from deepseek_probe import profiles, runtimes
    from deepseek_probe.estimate import Settings, estimate

    n = 0
    for spec in profiles.all_models():
        for runtime, rt in runtimes.RUNTIMES.items():
            kv = runtimes.default_kv_precision(runtime)
            for precision in rt.precisions:
                for context in CONTEXTS:
                    if context > spec.max_context:
                        continue
                    s = Settings(precision=precision, kv_precision=kv, context=context,
                                 runtime=runtime)
                    estimate(spec, s, device_total_bytes=85520809984 if runtime == "vllm" else None)
                    n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    from deepseek_probe import estimate, profiles  # noqa: F401

    profiles.all_models()
    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = sweep()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        sweep()
        warm.append(time.perf_counter() - t0)
    print(f"estimates per sweep: {n}")
    print(f"import (modules + catalog):   {imported * 1000:.1f} ms")
    print(f"first sweep (cold caches):    {cold * 1000:.1f} ms  ({cold / n * 1e6:.1f} µs each)")
    if warm:
        print(f"warm sweep, best of {args.repeat}:       {min(warm) * 1000:.1f} ms  ({min(warm) / n * 1e6:.1f} µs each)")
    print("target: full sweep < 50 ms:", "OK" if cold < 0.050 else "MISSED")


if __name__ == "__main__":
    main()
