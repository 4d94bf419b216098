"""Replay public SGLang start-up logs (benchmarks/runtime_logs/sglang/*.json) through
deepseek_probe.runtimes.sglang and print, term by term, logged vs predicted.

Inputs taken from a log: the launch command, the GPU size, the model facts. Never the logged
value of the term being compared (weights, KV tokens, KV bytes, max_running_requests).
Run: python benchmarks/runtime_logs/sglang_replay.py
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logfiles  # noqa: E402  (benchmarks/runtime_logs/logfiles.py)

from deepseek_probe.profiles import ModelSpec, get_model
from deepseek_probe.runtimes.base import GiB, MiB, Settings
from deepseek_probe.runtimes.sglang import kv_pool_bytes, sglang_memory
from deepseek_probe.runtimes.sglang_cli import parse_command



def load_logs() -> List[Tuple[str, Dict]]:
    return logfiles.load("sglang")


def spec_of(log: Dict) -> ModelSpec:
    m = dict(log["model"])
    idx = m.pop("index_head_dim", 0)
    if "catalog" in m:
        base = get_model(m["catalog"])
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(ModelSpec)}
    else:
        known = {f.name for f in dataclasses.fields(ModelSpec)}
        fields = {k: v for k, v in m.items() if k in known}
    if idx:  # V3.2 NSA indexer head size
        fields["index_head_dim"] = idx
    return ModelSpec(**fields)


def replay(log: Dict, with_version: bool = True) -> List[Tuple[str, float, float]]:
    """(term, logged, predicted) for every term the log carries, modelled at the log's release
    (`runtime_version`); with_version=False: at the newest modelled (what the CLI said before
    it read versions)."""
    spec = spec_of(log)
    opts = parse_command(log["command"], {}).options
    if log.get("options"):
        opts = dataclasses.replace(opts, **log["options"])
    s = Settings(**log.get("settings", {}),
                 runtime_version=log.get("runtime_version") if with_version else None)
    lg = log["logged"]
    rows: List[Tuple[str, float, float]] = []
    if "kv_bytes_from_logged_tokens" in log.get("checks", ()):
        from deepseek_probe.runtimes.sglang import KV_DTYPE_BYTES
        kvb = KV_DTYPE_BYTES[opts.kv_cache_dtype] or 2
        attn_tp = opts.tp // opts.dp if opts.enable_dp_attention else opts.tp
        b = kv_pool_bytes(spec, lg["max_total_num_tokens"], opts.page_size or 1, kvb, attn_tp)
        rows.append(("kv_bytes_gb(tokens as logged)", lg["kv_size_gb"], b / GiB))
        return rows
    total = log["gpu"]["memory_total_mib"] * MiB
    free = int(log["free_at_start_gib"] * GiB) if log.get("free_at_start_gib") else None
    m = sglang_memory(spec, s, opts, total, free)
    rows.append(("starts", float(log["starts"]), float(bool(m.starts))))
    if "mem_fraction_static" in lg:  # SGLang's own default, logged in server_args
        rows.append(("mem_fraction_static", lg["mem_fraction_static"], m.mem_fraction_static))
    if "weights_gb" in lg:
        rows.append(("weights_gb", lg["weights_gb"], m.weights_bytes / GiB))
    if "max_total_num_tokens" in lg:
        rows.append(("kv_tokens", lg["max_total_num_tokens"], m.max_total_num_tokens or 0))
    if "k_size_gb" in lg:
        rows.append(("kv_bytes_gb(K+V)", lg["k_size_gb"] + lg["v_size_gb"], (m.kv_pool_bytes or 0) / GiB))
    if "kv_size_gb" in lg:
        rows.append(("kv_bytes_gb", lg["kv_size_gb"], (m.kv_pool_bytes or 0) / GiB))
    if "memory_pool_end_avail_gb" in lg:
        rows.append(("free_after_pools_gb", lg["memory_pool_end_avail_gb"], (m.free_after_pools_bytes or 0) / GiB))
    if "max_running_requests" in lg:
        rows.append(("max_running_requests", lg["max_running_requests"], m.max_running_requests or 0))
    return rows


def pool_formula_rows(log: Dict) -> List[Tuple[str, float, float]]:
    """profile_max_num_token checked on its own: tokens from the LOGGED free memory, weights and
    mem_fraction_static (inputs here), compared with the logged token count. Separates the pool
    arithmetic from our weight model."""
    from deepseek_probe.runtimes.sglang import cell_size_bytes, profiled_tokens
    lg = log["logged"]
    f = lg.get("mem_fraction_static") or (log.get("options") or {}).get("mem_fraction_static")
    free0 = lg.get("free_at_start_gib") or log.get("free_at_start_gib")
    if not (f and free0 and "weights_gb" in lg and "max_total_num_tokens" in lg):
        return []
    spec = spec_of(log)
    opts = parse_command(log["command"], {}).options
    attn_tp = opts.tp // opts.dp if opts.enable_dp_attention else opts.tp
    cell = cell_size_bytes(spec, 2, attn_tp)
    t = profiled_tokens(int(free0 * GiB), int((free0 - lg["weights_gb"]) * GiB), f, cell)
    return [("kv_tokens(logged weights)", lg["max_total_num_tokens"], t)]


def info_rows(log: Dict) -> List[Tuple[str, float, float]]:
    """Not asserted: how far the default free-memory model (total - CUDA context - NCCL) is from
    the free memory the log shows before the weights. A probe that reads NVML free memory
    replaces this guess."""
    from deepseek_probe.runtimes.sglang import free_at_start_bytes
    free0 = log.get("free_at_start_gib")
    total = log["gpu"].get("memory_total_mib")
    if not (free0 and total):
        return []
    tp = parse_command(log["command"], {}).options.tp
    return [("info: free at start (modelled)", free0, free_at_start_bytes(int(total * MiB), tp) / GiB)]


def rel_err(logged: float, predicted: float) -> Optional[float]:
    return None if logged == 0 else (predicted - logged) / logged


def summary(with_version: bool) -> Tuple[float, float, int, int]:
    """(median |error|, worst |error|, verdicts agreeing, logs) over the KV token counts."""
    errs, agree, n = [], 0, 0
    for _, log in load_logs():
        rows = {t: (a, b) for t, a, b in replay(log, with_version)}
        if "starts" in rows:
            n += 1
            agree += rows["starts"][0] == rows["starts"][1]
        for term in ("kv_tokens", "kv_bytes_gb(tokens as logged)"):
            if term in rows and rel_err(*rows[term]) is not None:
                errs.append(abs(rel_err(*rows[term]) or 0.0))
    errs.sort()
    return (errs[len(errs) // 2] if errs else 0.0, errs[-1] if errs else 0.0, agree, n)


def main() -> int:
    print(f"{'log':48} {'term':30} {'logged':>12} {'ours':>12} {'error':>8}")
    for name, log in load_logs():
        known = log.get("known_deviation", {})
        for term, a, b in replay(log) + pool_formula_rows(log) + info_rows(log):
            e = rel_err(a, b)
            flag = "  (known deviation)" if term in known else ""
            print(f"{name[:48]:48} {term:30} {a:12.2f} {b:12.2f} {'' if e is None else f'{e:+.2%}':>8}{flag}")
    for label, v in (("newest modelled (no version)", False), ("each log's release", True)):
        med, worst, agree, n = summary(v)
        print(f"KV tokens at {label}: median |error| {med:.2%}, worst {worst:.2%}; verdicts {agree}/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
