"""The memory estimate: one model under one set of settings -> bytes per device, and what follows
from it (the largest context that fits, decode speed).

Pure: takes a model spec and settings, returns numbers. Never probes, reads files or prints.
The shared math (KV cache per architecture, weights, disk) is in memory.py; what each runtime
allocates on top is in runtimes/<name>.py (the vLLM KV pool in runtimes/vllm.py, llama.cpp's
compute buffer in runtimes/llamacpp.py, PyTorch's caching allocator in runtimes/transformers.py).
"""

from __future__ import annotations

from typing import Dict, Optional

from deepseek_probe import memory
from deepseek_probe.memo import memo
from deepseek_probe.profiles import KV_PRECISIONS, PRECISIONS, ModelSpec
from deepseek_probe.runtimes import RUNTIMES, llamacpp, runtime_model
from deepseek_probe.runtimes.base import (  # noqa: F401  (re-exported: the public estimate API)
    DeviceMemory, Estimate, EstimateInputError, Settings)


def validate(spec: ModelSpec, s: Settings) -> None:
    """Raise EstimateInputError (one line) for settings that make no sense for `spec`."""
    rt = RUNTIMES.get(s.runtime)  # registry of runtimes/<name>.py modules
    if rt is None:
        raise EstimateInputError(f"unknown runtime {s.runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if s.precision not in PRECISIONS:
        raise EstimateInputError(f"unknown precision {s.precision!r}; choose one of {', '.join(PRECISIONS)}")
    if s.precision not in rt.precisions:
        raise EstimateInputError(f"precision {s.precision} is not available in {s.runtime} "
                                 f"(it supports {', '.join(rt.precisions)})")
    if s.kv_precision not in KV_PRECISIONS:
        raise EstimateInputError(f"unknown KV precision {s.kv_precision!r}; choose one of "
                                 f"{', '.join(KV_PRECISIONS)}")
    if s.kv_precision not in rt.kv_precisions:
        raise EstimateInputError(f"KV precision {s.kv_precision} is not available in {s.runtime} "
                                 f"(it supports {', '.join(rt.kv_precisions)})")
    if not isinstance(s.context, int) or isinstance(s.context, bool) or s.context <= 0:
        raise EstimateInputError(f"context must be a positive number of tokens, got {s.context!r}")
    if s.context > spec.max_context and not rt.context_beyond_trained:
        raise EstimateInputError(f"context {s.context} is beyond {spec.id}'s maximum of {spec.max_context} tokens")
    if not isinstance(s.concurrency, int) or isinstance(s.concurrency, bool) or s.concurrency <= 0:
        raise EstimateInputError(f"concurrency must be a positive number of sequences, got {s.concurrency!r}")
    tp = s.tensor_parallel
    if not isinstance(tp, int) or isinstance(tp, bool) or tp <= 0:
        raise EstimateInputError(f"tensor parallel size must be a positive integer, got {tp!r}")
    if not rt.splits_layers:  # llama.cpp splits whole layers across GPUs, not heads
        if spec.heads % tp:
            raise EstimateInputError(f"tensor parallel {tp} does not divide {spec.id}'s {spec.heads} attention heads")
        kvh = spec.kv_heads
        if not spec.is_mla and (kvh % tp if tp <= kvh else tp % kvh):
            # vLLM: kv heads split when tp <= kv_heads, replicated when tp is a multiple of them
            raise EstimateInputError(f"tensor parallel {tp} does not divide {spec.id}'s {kvh} KV heads "
                                     "(and is not a multiple of them)")
    elif tp > spec.layers:
        raise EstimateInputError(f"cannot split {spec.id}'s {spec.layers} layers over {tp} GPUs")
    if s.mla_cache not in ("latent", "decompressed"):
        raise EstimateInputError(f"mla_cache must be 'latent' or 'decompressed', got {s.mla_cache!r}")
    cc = s.gpu_compute_capability
    if cc is not None and (isinstance(cc, bool) or not isinstance(cc, (int, float)) or not 1.0 <= cc < 100.0):
        raise EstimateInputError(f"gpu_compute_capability must be like 8.0 or 9.0, got {cc!r}")
    u = s.gpu_memory_utilization
    if isinstance(u, bool) or not isinstance(u, (int, float)) or not (0.0 < u <= 1.0):
        raise EstimateInputError(f"gpu_memory_utilization must be in (0, 1], got {s.gpu_memory_utilization!r}")


def _estimate(spec: ModelSpec, s: Settings, device_total_bytes: Optional[int]) -> Estimate:
    model = runtime_model(s.runtime)
    weights_dev = memory.device_weight_bytes(spec, s)
    kv_dev = memory.kv_cache_bytes(spec, s, layer_split=model.RUNTIME.splits_layers)
    est = Estimate(
        model=spec.id, precision=s.precision, kv_precision=s.kv_precision, context=s.context,
        concurrency=s.concurrency, runtime=s.runtime, tensor_parallel=s.tensor_parallel,
        params=spec.params, per_device=DeviceMemory(weights_bytes=weights_dev, kv_cache_bytes=kv_dev),
        host_ram_bytes=0, disk_bytes=memory.disk_bytes(spec, s.precision), bytes_read_per_token=0,
        sources={"weights_bytes": PRECISIONS[s.precision].source,
                 "kv_cache_bytes": "2·layers·max(1, kv_heads/TP)·head_dim·bytes·T·S; MLA "
                                   "layers·(kv_lora_rank+qk_rope)·bytes·T·S, not divided by TP (anchors §3)",
                 "disk_bytes": "checkpoint at this precision (V3 safetensors include the MTP module)",
                 "decode_tokens_per_s": "η x bandwidth / bytes read per token, η 0.40/0.55/0.70 "
                                        "(anchors §3: llmfit 0.55, whichllm 0.40-0.56, ±30%; "
                                        "H100 ceiling 0.71-0.77 measured); MoE 0.20/0.30/0.40 "
                                        "(H100: 0.32 measured for V2-Lite)"},
    )
    if spec.is_mla and spec.family not in memory.SPARSE_CACHE_FAMILIES:
        est.notes["mla_cache"] = s.mla_cache
    if spec.family in memory.SPARSE_CACHE_FAMILIES:
        est.notes["kv_cache_by_layer_type"] = memory.kv_breakdown(spec, s)
        est.sources["kv_cache_bytes"] = ("kvcache.py: per runtime and layer type, from each runtime's "
                                         "cache allocation (docs/models2026.md)")
    if spec.verified == "derived" or (spec.family in memory.SPARSE_CACHE_FAMILIES
                                      and not model.RUNTIME.sparse_kv_measured):
        est.notes["verification"] = "derived from source, not measured"
    if spec.is_moe:
        est.notes["decode_efficiency"] = dict(DECODE_EFFICIENCY_MOE)
    model.account(spec, s, est, device_total_bytes)
    est.host_ram_bytes = model.host_ram_bytes(spec, s, est)
    est.bytes_read_per_token = memory.bytes_read_per_token(spec, s, kv_dev)
    return est

# =====================================================================================
# public API
# =====================================================================================
def estimate(spec: ModelSpec, settings: Settings, device_total_bytes: Optional[int] = None) -> Estimate:
    """Per-device peak memory for `spec` (a profiles.ModelSpec) under `settings`.

    `device_total_bytes` matters only for runtimes that size themselves from the GPU (vLLM's
    gpu_memory_utilization x total); without it they report their minimum need.
    Raises EstimateInputError on settings that make no sense for the model.
    """
    validate(spec, settings)
    sized = getattr(runtime_model(settings.runtime), "sized_by_device", None)
    if device_total_bytes is not None and sized is not None and not sized(settings):
        # the runtime ignores the device here: one memo entry for every size (fixes.py asks
        # for each catalog GPU and GPU count)
        device_total_bytes = None
    try:
        est = memo("estimate", (spec, settings, device_total_bytes),
                   lambda: _estimate(spec, settings, device_total_bytes))
    except TypeError:  # unhashable runtime options: nothing to share
        return _estimate(spec, settings, device_total_bytes)
    # The survey, the fixes and the placement ask the same question many times (issue 24: 1 022
    # estimates, 624 distinct, for the RTX 4090 survey). Callers add top-level notes (the launch
    # command, the offload split): each gets its own top-level containers.
    return _own_copy(est)


def _own_copy(est: Estimate) -> Estimate:
    """A shallow copy with its own per_device, notes and sources (copy.copy's __reduce_ex__ path
    costs ~4x this: the survey makes ~450 of them)."""
    c = object.__new__(Estimate)
    c.__dict__.update(est.__dict__)
    per_device = object.__new__(type(est.per_device))
    per_device.__dict__.update(est.per_device.__dict__)
    c.per_device, c.notes, c.sources = per_device, dict(est.notes), dict(est.sources)
    return c


def max_context(spec: ModelSpec, settings: Settings, budget_bytes: int) -> int:
    """Largest context (tokens, per sequence, at settings.concurrency) whose per-device total
    fits in `budget_bytes`; 0 if even the weights do not fit."""
    from deepseek_probe.records import replace

    validate(spec, replace(settings, context=1))

    def fits(t: int) -> bool:
        return _need_bytes(spec, replace(settings, context=t)) <= budget_bytes

    lo, hi = 0, spec.max_context
    if not fits(1):
        return 0
    if fits(hi):
        return hi
    lo = 1
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _need_bytes(spec: ModelSpec, s: Settings) -> int:
    """Per-device bytes the runtime needs (vLLM: its minimum, not the pool it would grab)."""
    return _estimate(spec, s, None).per_device.total_bytes


# Decode efficiency: achieved fraction of peak memory bandwidth. anchors-memory-tools.md §3:
# "η ≈ 0.55 (llmfit) or 0.40–0.56 (whichllm)", "label all of these ±30%". Measured on an H100
# (benchmarks/decode_speed.py, benchmarks/results/decode-h100-2026-11-23.json): one CUDA graph of
# batch-1 matmuls over every active weight reaches 0.71-0.77 of peak for dense 7B-33B models —
# the ceiling; real runtimes add attention, norms and sampling, so "high" sits just below it.
DECODE_EFFICIENCY = {"low": 0.40, "mid": 0.55, "high": 0.70}
# MoE decode reads many small expert matrices (V2-Lite: 1408 x 2048) that do not saturate HBM:
# the same H100 measurement gave 0.32 of peak for deepseek-v2-lite.
DECODE_EFFICIENCY_MOE = {"low": 0.20, "mid": 0.30, "high": 0.40}


def decode_tokens_per_s(est: Estimate, bandwidth_bytes_per_s: float) -> Dict[str, float]:
    """Decode speed per sequence from memory bandwidth: {"low": …, "mid": …, "high": …}.

    One decode step reads the active weights and every sequence's KV cache once and emits one
    token per sequence, so tokens/s per sequence = η x bandwidth / bytes read per step.
    """
    if not bandwidth_bytes_per_s or bandwidth_bytes_per_s <= 0 or est.bytes_read_per_token <= 0:
        return {"low": 0.0, "mid": 0.0, "high": 0.0}
    efficiency = est.notes.get("decode_efficiency") or DECODE_EFFICIENCY
    return {k: round(eta * bandwidth_bytes_per_s / est.bytes_read_per_token, 2)
            for k, eta in efficiency.items()}


def kv_bytes_per_token(spec: ModelSpec, s: Settings, devices: Optional[int] = None) -> float:
    """KV-cache bytes per token of one sequence on one device, split as s.runtime splits it."""
    return memory.kv_bytes_per_token(spec, s, devices, layer_split=RUNTIMES[s.runtime].splits_layers)


def kv_cache_bytes(spec: ModelSpec, s: Settings) -> int:
    return memory.kv_cache_bytes(spec, s, layer_split=RUNTIMES[s.runtime].splits_layers)


def offload_split(spec: ModelSpec, settings: Settings, gpu_budget_bytes: int) -> "llamacpp.OffloadSplit":
    """llama.cpp -ngl placement for one GPU budget (runtimes/llamacpp.py), after validation."""
    validate(spec, settings)
    return llamacpp.offload_split(spec, settings, gpu_budget_bytes)
