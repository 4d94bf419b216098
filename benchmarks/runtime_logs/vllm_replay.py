"""Replay public vLLM start-up logs (benchmarks/runtime_logs/vllm/*.json) through
deepseek_probe.runtimes.vllm and print, term by term, logged vs predicted.

Two replays per log:
- full: inputs are the launch command, the GPU's size (logged, else the size vLLM logs for that
  GPU model: GPU_TOTAL_GIB) and the model; every logged term is predicted (weights, activation
  peak, non-torch, KV memory, tokens, concurrency, blocks, the verdict and vLLM's estimate of
  the longest context).
- pool: the logged KV memory in, the pool arithmetic out (tokens, blocks, concurrency, the
  longest context, the KV one request needs): the page sizes and block rounding alone.
Older engines are replayed with what differs in them (era_options below). Inputs taken from a
log: the command, the GPU size, the model, the sampler the log names, and the non-torch memory
when it prints it (a property of the machine). Never the term being compared.
Run: python benchmarks/runtime_logs/vllm_replay.py
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logfiles  # noqa: E402  (benchmarks/runtime_logs/logfiles.py)

from deepseek_probe.profiles import ModelSpec, get_model
from deepseek_probe.runtimes.base import GiB, Settings
from deepseek_probe.runtimes.vllm import VllmOptions, vllm_memory
from deepseek_probe.runtimes.vllm_cli import parse_command


# torch.cuda.mem_get_info() total, GiB, for GPUs whose log did not print it: "total_gpu_memory
# (...)" of other public vLLM logs of that GPU (A100 80GB 79.15, A100 40GB 39.39, H100 79.18,
# RTX 3090 23.58, L40S 44.42), vllm#13061's "23.08" = 0.98 x 23.55 (RTX 4090); A10, H20, GH200:
# the marketed size less the same ~1.8 % as the others (not logged).
GPU_TOTAL_GIB = {
    "a100 80gb": 79.15, "a100": 39.39, "a10": 22.07, "h100": 79.18, "h20": 95.0, "gh200": 94.5,
    "rtx 3090": 23.58, "rtx 4090": 23.55, "l40s": 44.42, "l40": 44.42,
}
# weights_format as logged -> our precision name
FORMATS = (("w8a8", "int8"), ("fp8", "fp8"), ("native", "fp8"), ("awq", "int4"), ("gptq", "int4"),
           ("fp16", "bf16"), ("bf16", "bf16"))


def load_logs() -> List[Tuple[str, Dict]]:
    return logfiles.load("vllm")


def spec_of(log: Dict) -> ModelSpec:
    m = log["model"]
    if m.get("catalog"):
        return get_model(m["catalog"])
    known = {f.name for f in dataclasses.fields(ModelSpec)}
    fields = {k: v for k, v in m.items() if k in known}
    fields.setdefault("id", m.get("hf_id", "model").split("/")[-1].lower())
    if fields.get("family") not in ("llama", "qwen2"):  # mistral: llama's layout
        fields["family"] = "llama"
    return ModelSpec(**fields)


def version_of(log: Dict) -> Tuple[int, int]:
    m = re.search(r"(\d+)\.(\d+)", str(log.get("version", "")))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 33)


def era_options(log: Dict, opts: VllmOptions) -> VllmOptions:
    """ERA_RULES: what the log's engine did differently from 0.33 (trace of the released wheels):
    - V0 engine: profiles max(max_model_len, 2048) tokens, samples with the PyTorch sort, CUDA
      graphs come after the KV pool (worker.py determine_num_available_blocks);
    - V1 before 0.20: CUDA graphs on top of the budget (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS
      default 0 or absent); V1 0.7.x: no sampler in the profile run (0.7.3 gpu_model_runner.py
      has no _dummy_sampler_run; 0.8.0 has);
    - V1 sampling: FlashInfer only where the log says "Using FlashInfer for top-p & top-k
      sampling" (`replay.flashinfer_sampler`); without that line, the PyTorch sort, as a pip
      install of vLLM < 0.33 gets (FlashInfer was the optional extra `vllm[flashinfer]`: wheel
      METADATA of 0.10.1.1 and 0.11.0; a dependency in 0.33.0)."""
    v = version_of(log)
    changes: Dict[str, object] = {"flashinfer_sampler": False, "vllm_release": f"{v[0]}.{v[1]}.0"}
    if log.get("engine") == "V0":
        changes.update(v0_engine=True, cudagraph_in_budget=False)
    elif v < (0, 20):
        changes["cudagraph_in_budget"] = False
    if log.get("engine") == "V1" and v < (0, 8):  # 0.7.x V1 profile_run samples nothing
        changes["sampler_in_profile"] = False
    replay_flags = dict(log.get("replay", {}))
    replay_flags.pop("evidence", None)
    changes.update(replay_flags)
    return dataclasses.replace(opts, **changes)


def non_torch_input(log: Dict) -> Optional[int]:
    """Memory outside torch is the machine's (NCCL, cuBLAS, driver), not the model's: taken from
    the log when it prints it. V1 0.7-0.9.0 (gpu_worker.py determine_available_memory, "simple"
    formula) also charges the process's CUDA context: 621 MiB measured on the H100
    (reference/groundtruth-h100.json) on top of vLLM's default."""
    lg = log["logged"]
    if lg.get("non_torch_gib") is not None:
        return int(lg["non_torch_gib"] * GiB)
    v = version_of(log)
    if log.get("engine") == "V1" and (0, 7) <= v < (0, 9) or v == (0, 9) and "0.9.0" in str(log.get("version")):
        from deepseek_probe.runtimes.vllm import CUDA_CONTEXT_BYTES, NON_TORCH_BYTES, NON_TORCH_TP_BYTES
        tp = parse_command(log["command"], {}).options.tp
        return NON_TORCH_BYTES + (NON_TORCH_TP_BYTES if tp > 1 else 0) + CUDA_CONTEXT_BYTES
    return None


def gpu_total_bytes(log: Dict) -> int:
    g = log["gpu"]
    if g.get("memory_total_gib"):
        return int(g["memory_total_gib"] * GiB)
    name = g["name"].lower()
    for key in sorted(GPU_TOTAL_GIB, key=len, reverse=True):
        if key in name:
            return int(GPU_TOTAL_GIB[key] * GiB)
    raise KeyError(f"no size for GPU {g['name']!r}")


def precision_of(log: Dict) -> str:
    fmt = str(log.get("weights_format", "bf16")).lower()
    return next((p for key, p in FORMATS if key in fmt), "bf16")


def inputs(log: Dict) -> Tuple[ModelSpec, Settings, VllmOptions]:
    spec = spec_of(log)
    opts = era_options(log, parse_command(log["command"], log.get("env") or {}).options)
    s = Settings(precision=precision_of(log), runtime="vllm", tensor_parallel=opts.tp)
    return spec, s, opts


def replay(log: Dict) -> List[Tuple[str, float, float]]:
    """(term, logged, predicted) for every term the log carries, full prediction."""
    spec, s, opts = inputs(log)
    lg = log["logged"]
    m = vllm_memory(spec, s, opts, gpu_total_bytes(log), gpu_name=log["gpu"]["name"],
                    non_torch_bytes=non_torch_input(log))
    rows: List[Tuple[str, float, float]] = [("starts", float(log["starts"]), float(bool(m.starts)))]
    # V0 logs may quote a non-driver rank (it does not sample): replay those terms for that rank
    q = m
    if log.get("replay_quoted_rank") == "non-driver":
        q = vllm_memory(spec, s, dataclasses.replace(opts, sampler_in_profile=False), gpu_total_bytes(log),
                        gpu_name=log["gpu"]["name"], non_torch_bytes=non_torch_input(log))
    pairs = (("weights_gib", m.weights_bytes / GiB),
             ("activation_peak_gib", q.activation_bytes / GiB), ("torch_peak_increase_gib", q.activation_bytes / GiB),
             ("kv_cache_gib", (q.kv_available_bytes or 0) / GiB),
             ("kv_tokens", m.kv_tokens or 0), ("max_concurrency", m.max_concurrency or 0.0),
             ("gpu_blocks", m.num_blocks or 0), ("kv_needed_gib", m.kv_needed_bytes / GiB),
             ("estimated_max_model_len", m.estimated_max_model_len or 0))
    for key, predicted in pairs:
        if lg.get(key) is not None:
            rows.append((key, float(lg[key]), float(predicted)))
    return rows


def replay_pool(log: Dict) -> List[Tuple[str, float, float]]:
    """(term, logged, predicted) from the logged KV memory (given to vLLM's model as
    --kv-cache-memory-bytes, which skips the profile): the pool arithmetic alone."""
    lg = log["logged"]
    if lg.get("kv_cache_gib") is None or lg["kv_cache_gib"] <= 0:
        return []
    spec, s, opts = inputs(log)
    opts = dataclasses.replace(opts, kv_cache_memory_bytes=int(lg["kv_cache_gib"] * GiB))
    m = vllm_memory(spec, s, opts, gpu_total_bytes(log), gpu_name=log["gpu"]["name"])
    rows = []
    if lg.get("kv_tokens") is not None:
        # V0 and V1 < 0.21 print blocks x block_size; >= 0.21 int(concurrency x max_model_len)
        tokens = (m.num_blocks or 0) * m.block_size if version_of(log) < (0, 21) else m.kv_tokens or 0
        rows.append(("kv_tokens", lg["kv_tokens"], tokens))
    if lg.get("gpu_blocks") is not None:
        rows.append(("gpu_blocks", lg["gpu_blocks"], m.num_blocks or 0))
    if lg.get("max_concurrency") is not None:
        rows.append(("max_concurrency", lg["max_concurrency"], round(m.max_concurrency or 0, 2)))
    if lg.get("kv_needed_gib") is not None:
        rows.append(("kv_needed_gib", lg["kv_needed_gib"], m.kv_needed_bytes / GiB))
    if lg.get("estimated_max_model_len") is not None:
        rows.append(("estimated_max_model_len", lg["estimated_max_model_len"], m.estimated_max_model_len or 0))
    return rows


def error_pct(logged: float, predicted: float) -> Optional[float]:
    return None if logged == 0 else 100.0 * (predicted - logged) / abs(logged)


def main() -> None:
    for name, log in load_logs():
        print(f"{name}  ({log['gpu']['count']}x {log['gpu']['name'][:28]}, vLLM {str(log.get('version'))[:10]})")
        for label, rows in (("full", replay(log)), ("pool", replay_pool(log))):
            for term, logged, predicted in rows:
                e = error_pct(logged, predicted)
                print(f"  {label} {term:26s} logged {logged:>12.4g}  predicted {predicted:>12.4g}  "
                      f"{'' if e is None else f'{e:+.1f} %'}")


if __name__ == "__main__":
    main()
