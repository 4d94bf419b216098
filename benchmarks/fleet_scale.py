"""`fleet` over 1000 node snapshots: target < 2 s on the 2-core dev machine (issue 9).

    .venv/bin/python benchmarks/fleet_scale.py                  # 1000 nodes, 671b vLLM bf16
    .venv/bin/python benchmarks/fleet_scale.py --nodes 200 --profile

Generates the snapshots in a temporary directory from fixtures/fleet/h200x8-ib/node01.json (an
8x H200 node derived from the real 2xH200 recording) and varies what differs between real nodes,
so nothing can be shared between nodes by accident: per-GPU temperature, power and free memory
(a few hundred MiB of driver/other use), UUIDs, serials, hostname, capture time; 3 % of nodes
with their InfiniBand ports down, 1 % with a 60 GiB tenant on one GPU, 0.5 % truncated files,
plus 3 paths that do not exist. Prints the time of each phase and the total, in-process (what
the CLI adds on top is its start-up: see benchmarks/startup.py), and the CLI end to end when
`deepseek-probe fleet` exists.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

BASE = os.path.join(REPO, "fixtures", "fleet", "h200x8-ib", "node01.json")
TARGET_S = 2.0  # issue 9: "fleet over 1 000 snapshots in < 2 s on this machine"
GIB = 2**30


def generate(dest: str, n_nodes: int, seed: int = 9) -> list:
    """Write n_nodes snapshots into dest; return the paths to pass to fleet (missing included)."""
    rng = random.Random(seed)
    with open(BASE) as f:
        base = json.load(f)
    paths = []
    for i in range(n_nodes):
        snap = copy.deepcopy(base)
        snap["system"]["hostname"] = f"gpu-{i:04d}.bench.internal"
        snap["captured_at"] = f"2026-11-23T12:{i // 60 % 60:02d}:{i % 60:02d}Z"
        for g in snap["gpus"]:
            g["uuid"] = g["uuid"][:-12] + f"{i:06d}{g['index']:06d}"
            g["serial"] = f"8{i:06d}{g['index']:06d}"
            g["temperature_c"] = rng.randint(28, 62)
            g["power_usage_w"] = round(rng.uniform(70, 130), 3)
            extra = rng.randint(0, 512) * 2**20
            g["memory_free_bytes"] -= extra
            g["memory_used_bytes"] += extra
        roll = rng.random()
        if roll < 0.03:
            for p in snap["network"]["ib_ports"]:
                p["state"] = "DOWN"
        elif roll < 0.04:
            g = snap["gpus"][rng.randrange(8)]
            g["memory_free_bytes"] -= 60 * GIB
            g["memory_used_bytes"] += 60 * GIB
            g["processes"] = [{"pid": 4000 + i, "used_memory_bytes": 60 * GIB}]
        path = os.path.join(dest, f"gpu-{i:04d}.json")
        text = json.dumps(snap, indent=1)
        if roll > 0.995:
            text = text[: len(text) // 2]  # a copy that died half-way
        with open(path, "w") as f:
            f.write(text)
        paths.append(path)
    paths += [os.path.join(dest, f"gone-{k}.json") for k in range(3)]
    return paths


def _timed(into: dict, name: str, fn, *args):
    """Call fn(*args); record (wall s, cpu s of this process) under name."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn(*args)
    into[name] = (time.perf_counter() - wall, time.process_time() - cpu)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--model", default="671b")
    parser.add_argument("--runtime", default="vllm")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (best is reported)")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile run")
    args = parser.parse_args()

    from dataclasses import replace

    from deepseek_probe import fleet, profiles, runtimes
    from deepseek_probe.report import fleet as fleet_report

    spec = profiles.get_model(args.model)
    settings = replace(runtimes.default_settings(spec, args.runtime), precision=args.precision)
    requests = [(spec, settings)]
    tmp = tempfile.mkdtemp(prefix="deepseek-probe-fleet-")
    try:
        t0 = time.perf_counter()
        paths = generate(tmp, args.nodes)
        print(f"generated {args.nodes} snapshots (+3 missing paths) in {time.perf_counter() - t0:.2f} s "
              f"({sum(os.path.getsize(p) for p in paths if os.path.exists(p)) / 1e6:.1f} MB) in {tmp}")
        fleet.evaluate_fleet(paths[:2], requests)  # imports and first-call caches, not timed

        best = None
        for _ in range(args.repeat):
            t = {}
            nodes = _timed(t, "load snapshots", fleet.load_nodes, paths)
            result = _timed(t, "load + rules + plan", fleet.evaluate_fleet, paths, requests)
            text = _timed(t, "render text (redacted)", fleet.render_fleet, result, "text")
            doc = _timed(t, "render json (redacted)", fleet.render_fleet, result, "json")
            total = tuple(a + b for a, b in zip(t["load + rules + plan"], t["render text (redacted)"]))
            if best is None or total[0] < best[0][0]:
                best = (total, t, result, len(text), len(doc), len(nodes))
        total, t, result, text_len, json_len, _ = best
        # Wall time is what the target is about; CPU time of this process is shown beside it
        # because other work on a shared 2-core machine inflates wall time.
        print(f"best of {args.repeat} runs, {args.model} {settings.precision} {settings.runtime} "
              f"(load average {os.getloadavg()[0]:.2f}):")
        print(f"  {'phase':<24} {'wall ms':>8} {'cpu ms':>8}")
        for name, (wall, cpu) in t.items():
            print(f"  {name:<24} {wall * 1e3:8.1f} {cpu * 1e3:8.1f}")
        per_1000 = total[0] * 1000 / args.nodes
        print(f"  {'fleet (text report)':<24} {total[0] * 1e3:8.1f} {total[1] * 1e3:8.1f}  "
              f"= {total[0] / args.nodes * 1e3:.2f} ms per node; target < {TARGET_S:.1f} s per 1000 "
              f"nodes: {'OK' if per_1000 < TARGET_S else 'MISSED'} (wall), "
              f"{'OK' if total[1] * 1000 / args.nodes < TARGET_S else 'MISSED'} (cpu)")
        plan = result.profiles[0].plan
        print(f"  verdict {result.verdict} (exit {result.exit_code}); plan: "
              f"{plan.pipeline_parallel or plan.nodes_needed} node(s) of {plan.kind}; "
              f"unreadable {len(result.unreadable)}; text {text_len / 1e3:.0f} kB, json {json_len / 1e6:.1f} MB")

        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            fleet_report.render_fleet(fleet.evaluate_fleet(paths, requests), "text")
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)

        cli = shutil.which("deepseek-probe") or os.path.join(os.path.dirname(sys.executable), "deepseek-probe")
        if os.path.exists(cli):
            probe = subprocess.run([cli, "fleet", "--help"], capture_output=True, text=True)
            if probe.returncode == 0:
                s = time.perf_counter()
                run = subprocess.run([cli, "fleet", tmp, "--model", args.model, "--runtime", args.runtime,
                                      "--precision", args.precision, "--output", os.devnull],
                                     capture_output=True, text=True)
                print(f"  CLI end to end: {time.perf_counter() - s:.2f} s (exit {run.returncode}) "
                      f"for `deepseek-probe fleet DIR` over {args.nodes} files")
            else:
                print("  CLI end to end: `deepseek-probe fleet` not wired into the CLI yet")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
