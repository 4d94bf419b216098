"""Memory math every runtime shares: the KV cache per architecture, weights per device, the
checkpoint on disk, what one decode step reads, and the host side of a Python runtime.

Pure. Runtime-specific budgeting lives in runtimes/<name>.py; this module never asks which
runtime it is serving (the caller says whether layers or heads are split across GPUs).
"""

from __future__ import annotations

from typing import Dict, Optional

from deepseek_probe.profiles import KV_PRECISIONS, PRECISIONS, ModelSpec, weight_bytes
from deepseek_probe.records import replace
from deepseek_probe.runtimes.base import GiB, Settings


def kv_bytes_per_token(spec: ModelSpec, s: Settings, devices: Optional[int] = None,
                       layer_split: bool = False) -> float:
    """KV-cache bytes per token of one sequence, on one device (all layers it holds).

    MHA/GQA: 2 (K and V) x layers x max(1, kv_heads / TP) x head_dim x bytes  (anchors §3;
    vLLM kv_cache_interface.py replicates a KV head when TP > kv_heads).
    MLA latent: layers x (kv_lora_rank + qk_rope_head_dim) x bytes, NOT divided by TP: vLLM's
    get_num_kv_heads returns 1 for MLA, so every rank holds the whole latent (anchors §1.8).
    MLA decompressed: layers x heads/TP x (qk_nope + qk_rope + v_head_dim) x bytes.
    `layer_split` (llama.cpp): layers, not heads, are split across GPUs: each holds layers / N.
    """
    tp = s.tensor_parallel if devices is None else devices
    if spec.family in SPARSE_CACHE_FAMILIES:  # V3.2 indexer, V4 compressed layers: per runtime
        return kv_breakdown_bytes(spec, s, tp) / s.context
    b = KV_PRECISIONS[s.kv_precision]
    if layer_split:
        layers, heads_div = spec.layers / tp, 1
    else:
        layers, heads_div = spec.layers, tp
    if spec.is_mla:
        if s.mla_cache == "latent":
            return layers * (spec.kv_lora_rank + spec.qk_rope_head_dim) * b
        per_head = spec.qk_nope_head_dim + spec.qk_rope_head_dim + spec.v_head_dim
        return layers * (spec.heads / heads_div) * per_head * b
    kv_heads = max(1, spec.kv_heads // heads_div) if heads_div > 1 else spec.kv_heads
    return 2 * layers * kv_heads * spec.head_dim * b


# Families whose cache is not one MLA/GQA row per token and layer: runtimes/kvcache.py models them per
# runtime and layer type (V3.2: latent + lightning-indexer keys; V4: sliding window, compressed
# sparse and heavily compressed layers).
SPARSE_CACHE_FAMILIES = ("deepseek_v32", "deepseek_v4")


def kv_breakdown(spec: ModelSpec, s: Settings, devices: Optional[int] = None) -> Dict[str, int]:
    """KV bytes on one device by layer type, for s.context x s.concurrency tokens (runtimes/kvcache.py)."""
    from deepseek_probe.runtimes import kvcache

    tp = s.tensor_parallel if devices is None else devices
    return kvcache.kv_cache_breakdown(spec, s.context, s.concurrency, s.kv_precision, s.runtime, tp)


def kv_breakdown_bytes(spec: ModelSpec, s: Settings, devices: int) -> float:
    """One sequence's cache at s.context on one device (the per-token figure times the context)."""
    return float(sum(kv_breakdown(spec, replace(s, concurrency=1), devices).values()))


def kv_cache_bytes(spec: ModelSpec, s: Settings, layer_split: bool = False) -> int:
    if spec.family in SPARSE_CACHE_FAMILIES:
        # kvcache.py gives these as totals at the context: dividing by the context and multiplying
        # back lost a byte to rounding (V4 in llama.cpp: 58146815 at 183 tokens, 58146816 at 182)
        return int(kv_breakdown_bytes(spec, s, s.tensor_parallel) * s.concurrency)
    return int(kv_bytes_per_token(spec, s, layer_split=layer_split) * s.context * s.concurrency)


def disk_bytes(spec: ModelSpec, precision: str) -> int:
    """Checkpoint on disk: safetensors at that precision (V3: with its MTP module, which the
    published checkpoint carries), or the GGUF file (no MTP tensors)."""
    p = PRECISIONS[precision]
    return weight_bytes(spec, precision, include_mtp=not p.gguf and spec.mtp_layers > 0)


def device_weight_bytes(spec: ModelSpec, s: Settings) -> int:
    """Weight bytes on one device: TP shards every matrix (a layer split divides them alike)."""
    return weight_bytes(spec, s.precision) // s.tensor_parallel


def bytes_read_per_token(spec: ModelSpec, s: Settings, kv_dev: int) -> int:
    """One decode step reads each device's share of the active weights (the input embedding is
    a row lookup, not a read of the matrix; MoE reads only the routed experts it picks) and
    every sequence's whole KV cache. Per device: runtimes that pass a token through the devices
    one after another (llama.cpp's layer split) take the sum (plan.decode_tokens_per_s)."""
    read_params = spec.active_params - spec.vocab * spec.hidden
    weights = weight_bytes(spec, s.precision) * read_params / spec.params
    return int(weights / s.tensor_parallel) + kv_dev


# Host RAM while loading: the Python/torch/CUDA process itself plus one safetensors shard in
# flight (transformers/vLLM stream shards; DeepSeek repos ship ~4-9 GB shards). Estimates, not
# measured: 3 GiB for a torch+CUDA process (libraries resident), 5 GB per shard.
PROCESS_BASE_BYTES = 3 * GiB
SHARD_BYTES = 5 * 10**9


def python_runtime_host_bytes(spec: ModelSpec, s: Settings, workers: int) -> int:
    """Host RAM of a torch-based runtime with `workers` processes, each streaming one shard."""
    shard = min(SHARD_BYTES, weight_bytes(spec, s.precision))
    return PROCESS_BASE_BYTES * workers + shard * workers
