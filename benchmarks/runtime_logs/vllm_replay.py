"""Replay public vLLM start-up logs (benchmarks/runtime_logs/vllm/*.json) through
deepseek_probe.runtimes.vllm and print, term by term, logged vs predicted.

Two replays per log:
- full: inputs are the launch command, the GPU's size (logged, else the size vLLM logs for that
  GPU model: GPU_TOTAL_GIB) and the model; every logged term is predicted (weights, activation
  peak, non-torch, KV memory, tokens, concurrency, blocks, the verdict and vLLM's estimate of
  the longest context).
- pool: the logged KV memory in, the pool arithmetic out (tokens, blocks, concurrency, the
  longest context, the KV one request needs): the page sizes and block rounding alone.
Each log is replayed with the release it came from, through the product's path (`estimate
--runtime-version V --gpu-memory GIB -- <command>`: runtimes/launch.py, runtimes/vllm_releases.py).
Inputs taken from a log: the command (with its environment), the release, the GPU size, the model
(and its checkpoint's weight format), and, unless `--bare`, the sampler the log shows installed.
Never a logged term: not the KV memory, not the non-torch memory.
Run: python benchmarks/runtime_logs/vllm_replay.py [--table [--bare]]
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
from deepseek_probe.estimate import estimate
from deepseek_probe.runtimes.launch import parse_launch, settings_from_command
from deepseek_probe.runtimes.vllm import VllmOptions, vllm_memory


# torch.cuda.mem_get_info() total, GiB, for GPUs whose log did not print it: "total_gpu_memory
# (...)" of other public vLLM logs of that GPU (A100 80GB 79.15, A100 40GB 39.39, H100 79.18,
# RTX 3090 23.58, L40S 44.42, H200 139.81 as torchtitan logs it: "CUDA capacity: NVIDIA H200 with
# 139.81GiB memory"), vllm#13061's "23.08" = 0.98 x 23.55 (RTX 4090); A10, H20, GH200:
# the marketed size less the same ~1.8 % as the others (not logged); L4 (24 GB GDDR6 like the
# A10): the A10's 22.07 (not logged).
GPU_TOTAL_GIB = {
    "a100 80gb": 79.15, "a100": 39.39, "a10": 22.07, "h100": 79.18, "h200": 139.81, "h20": 95.0, "gh200": 94.5,
    "rtx 3090": 23.58, "rtx 4090": 23.55, "l40s": 44.42, "l40": 44.42, "l4": 22.07,
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


def version_of(log: Dict) -> str:
    """The release the log came from, as `--runtime-version` takes it ("0.8.3", "0.6.4")."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", str(log.get("version", "")))
    return f"{m.group(1)}.{m.group(2)}.{m.group(3) or 0}" if m else "0.33.0"


def env_of(log: Dict, installed: bool = True) -> Dict[str, str]:
    """The environment the log's command ran with (`VAR=value vllm serve ...`).
    `installed`: also say what the log shows was installed (the FlashInfer sampler: the
    `replay.flashinfer_sampler` line), as VLLM_USE_FLASHINFER_SAMPLER; the hidden checks pass the
    bare command, so the error table is printed both ways."""
    env = dict(log.get("env") or {})
    fi = log.get("replay", {}).get("flashinfer_sampler")
    if installed and fi is not None and "VLLM_USE_FLASHINFER_SAMPLER" not in env:
        env["VLLM_USE_FLASHINFER_SAMPLER"] = "1" if fi else "0"
    return env


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


def inputs(log: Dict, installed: bool = True) -> Tuple[ModelSpec, Settings, VllmOptions]:
    """What `estimate --runtime-version V --gpu-memory GIB -- <command>` builds: the command read
    by its parser (runtimes/launch.py parse_launch), the model's Settings with the command's
    fields (settings_from_command) and the log's release. The V4 logs' `replay` overrides (the
    MTP draft, the profile's token budget) are the V4 model's, kept as they are."""
    spec = spec_of(log)
    cmd = parse_launch(log["command"], env_of(log, installed))
    base = Settings(precision=precision_of(log), runtime="vllm", runtime_version=version_of(log))
    s = settings_from_command(base, cmd, spec, [gpu_total_bytes(log)])
    v4 = {k: v for k, v in log.get("replay", {}).items() if k in ("max_num_batched_tokens", "mtp_layers")}
    if v4:
        s = dataclasses.replace(s, runtime_options=dataclasses.replace(s.runtime_options, **v4))
    return spec, s, s.runtime_options


def product(log: Dict, installed: bool = True) -> Dict:
    """notes.vllm of the estimate, as `estimate --format json` prints it."""
    spec, s, _ = inputs(log, installed)
    return estimate(spec, s, gpu_total_bytes(log)).notes["vllm"]


def replay(log: Dict) -> List[Tuple[str, float, float]]:
    """(term, logged, predicted) for every term the log carries, full prediction."""
    spec, s, opts = inputs(log)
    lg = log["logged"]
    m = vllm_memory(spec, s, opts, gpu_total_bytes(log))
    rows: List[Tuple[str, float, float]] = [("starts", float(log["starts"]), float(bool(m.starts)))]
    # V0 logs may quote a non-driver rank (it does not sample): replay those terms for that rank
    q = m
    if log.get("replay_quoted_rank") == "non-driver":
        q = vllm_memory(spec, s, dataclasses.replace(opts, sampler_in_profile=False), gpu_total_bytes(log))
    n = product(log)  # the estimate's notes: what the CLI prints
    assert (n["kv_tokens"], n["kv_available_bytes"], n["starts"]) == (m.kv_tokens, m.kv_available_bytes, m.starts)
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
    m = vllm_memory(spec, s, opts, gpu_total_bytes(log))
    rows = []
    if lg.get("kv_tokens") is not None:
        rows.append(("kv_tokens", lg["kv_tokens"], m.kv_tokens or 0))
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


def logged_tokens(log: Dict, block_size: int) -> Optional[int]:
    """The KV tokens the log prints: "GPU KV cache size" / "maximum number of tokens that can be
    stored in KV cache", else "# GPU blocks" x the block size."""
    lg = log["logged"]
    if lg.get("kv_tokens") is not None:
        return int(lg["kv_tokens"])
    if lg.get("gpu_blocks") is not None:
        return int(lg["gpu_blocks"]) * int(lg.get("block_size") or block_size)
    return None


def table(installed: bool = True) -> List[Tuple[str, str, Optional[float], Optional[float], bool, bool]]:
    """Per log: (name, release, KV tokens error %, KV memory error %, logged starts, predicted starts),
    from notes.vllm of the estimate."""
    out = []
    for name, log in load_logs():
        n = product(log, installed)
        tok = logged_tokens(log, n["block_size"])
        e_tok = None if tok is None else error_pct(tok, n["kv_tokens"] or 0)
        kv = log["logged"].get("kv_cache_gib")
        e_kv = None if kv is None else error_pct(kv, (n["kv_available_bytes"] or 0) / GiB)
        out.append((name, version_of(log), e_tok, e_kv, bool(log["starts"]), bool(n["starts"])))
    return out


def print_table(installed: bool) -> None:
    rows = table(installed)
    for name, v, e_tok, e_kv, ls, ps in rows:
        f = (lambda e: "     -" if e is None else f"{e:+6.1f}")
        print(f"{name[:64]:64s} {v:>7s}  tokens {f(e_tok)} %  KV GiB {f(e_kv)} %  "
              f"starts {ls!s:5s} ours {ps!s:5s}{'' if ls == ps else '  VERDICT DIFFERS'}")
    errs = sorted(abs(e) for r in rows for e in [r[2] if r[2] is not None else r[3]] if e is not None)
    if errs:
        print(f"{len(rows)} logs: median |error| {errs[len(errs) // 2]:.1f} %, worst {errs[-1]:.1f} %, "
              f"verdicts wrong {sum(r[4] != r[5] for r in rows)}")


def main() -> None:
    if "--table" in sys.argv:
        print_table(installed="--bare" not in sys.argv)
        return
    for name, log in load_logs():
        print(f"{name}  ({log['gpu']['count']}x {log['gpu']['name'][:28]}, vLLM {str(log.get('version'))[:10]})")
        for label, rows in (("full", replay(log)), ("pool", replay_pool(log))):
            for term, logged, predicted in rows:
                e = error_pct(logged, predicted)
                print(f"  {label} {term:26s} logged {logged:>12.4g}  predicted {predicted:>12.4g}  "
                      f"{'' if e is None else f'{e:+.1f} %'}")


if __name__ == "__main__":
    main()
