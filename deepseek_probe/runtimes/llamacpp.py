"""llama.cpp (also Ollama / LM Studio): GGUF weights split by whole layers, the token embedding
in host RAM, a KV cache per layer and one compute buffer per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from deepseek_probe import memory
from deepseek_probe.profiles import PRECISIONS, ModelSpec, weight_bytes
from deepseek_probe.runtimes.base import Estimate, GiB, MiB, Runtime, Settings

RUNTIME = Runtime(
    "llamacpp", ("fp32", "bf16", "fp16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"),
    ("fp16", "bf16", "q8_0", "q4_0"), 4096,
    "llama.cpp / Ollama / LM Studio: GGUF files; -c default 4096 (common.h n_ctx; Ollama "
    "default below 23 GiB VRAM, anchors §1.6); --cache-type-k/v f16|bf16|q8_0|q4_0",
    default_precision="q4_k_m", default_kv_precision="fp16", splits_layers=True)

LLAMACPP_CUDA_MINIMUM_BYTES = 457 * MiB  # Ollama ml/device.go: CUDA minimum memory (anchors §1.6)
LLAMACPP_UBATCH = 512  # llama.cpp -ub default (n_ubatch); Ollama GraphSize's `batch`
LLAMACPP_FIT_MARGIN_BYTES = 1024 * MiB  # --fit-target default per device (anchors §1.7)
LLAMACPP_HOST_BASE_BYTES = GiB // 2  # process, host compute buffer, tokenizer (estimate)


def _llamacpp_compute_buffer_bytes(spec: ModelSpec, s: Settings) -> int:
    """Ollama GraphSize (fs/ggml/ggml.go, llama case; anchors §3):
    max(4·ub·(1 + 4·emb + T·(1+heads)), 4·ub·(emb + vocab)), T = tokens in the KV cache."""
    ub, emb, t = LLAMACPP_UBATCH, spec.hidden, s.context * s.concurrency
    return max(4 * ub * (1 + 4 * emb + t * (1 + spec.heads)), 4 * ub * (emb + spec.vocab))


@dataclass
class OffloadSplit:
    """llama.cpp -ngl placement for one GPU budget."""

    gpu_layers: int
    cpu_layers: int
    output_on_gpu: bool  # llama.cpp offloads the output (LM head) layer last: ngl = layers + 1
    gpu_bytes: int
    host_bytes: int


def _llamacpp_parts(spec: ModelSpec, s: Settings) -> Dict[str, float]:
    file_bytes = weight_bytes(spec, s.precision)
    per_param = file_bytes / spec.params
    embed = spec.vocab * spec.hidden * per_param  # token_embd: always in host memory
    output = 0.0 if spec.tie_embeddings else spec.vocab * spec.hidden * per_param
    layer = (file_bytes - embed - output) / spec.layers
    kv_layer = memory.kv_bytes_per_token(spec, s, devices=1, layer_split=True) * s.context * s.concurrency / spec.layers
    return {"file": file_bytes, "embed": embed, "output": output, "layer": layer, "kv_layer": kv_layer}


def offload_split(spec: ModelSpec, settings: Settings, gpu_budget_bytes: int) -> OffloadSplit:
    """Layers llama.cpp can put on one GPU with `gpu_budget_bytes` (margin already taken off),
    the rest running from host RAM. Each layer brings its weights and its share of the KV cache;
    the compute buffer and CUDA context are paid once."""
    p = _llamacpp_parts(spec, settings)
    fixed = LLAMACPP_CUDA_MINIMUM_BYTES + _llamacpp_compute_buffer_bytes(spec, settings)
    per_layer = p["layer"] + p["kv_layer"]
    room = gpu_budget_bytes - fixed
    n = 0 if room <= 0 else min(spec.layers, int(room // per_layer))
    out = n == spec.layers and room - n * per_layer >= p["output"]
    gpu = fixed + n * per_layer + (p["output"] if out else 0) if n else 0
    cpu_layers = spec.layers - n
    host = (LLAMACPP_HOST_BASE_BYTES + p["embed"] + cpu_layers * per_layer
            + (0 if out else p["output"]) + settings.concurrency * spec.vocab * 4)
    return OffloadSplit(n, cpu_layers, out, int(gpu), int(host))


def account(spec: ModelSpec, s: Settings, est: Estimate, device_total_bytes: Optional[int] = None) -> None:
    d = est.per_device
    n_dev = s.tensor_parallel  # --split-mode layer: each GPU holds layers / N
    p = _llamacpp_parts(spec, s)
    d.weights_bytes = int((p["file"] - p["embed"]) / n_dev)
    d.activation_bytes = _llamacpp_compute_buffer_bytes(spec, s)
    d.runtime_overhead_bytes = LLAMACPP_CUDA_MINIMUM_BYTES
    est.notes["fit_margin_bytes"] = LLAMACPP_FIT_MARGIN_BYTES
    est.notes["token_embedding_host_bytes"] = int(p["embed"])
    if spec.is_mla:
        est.notes["mla_cache"] = (
            "latent (576 per token and layer): needs llama.cpp >= PR #12801 and a GGUF converted "
            "after it" if s.mla_cache == "latent" else
            "decompressed K/V: an old GGUF or llama.cpp build (71x the latent for V2)")
    est.sources.update({
        "weights_bytes": PRECISIONS[s.precision].source + "; token embedding stays in host RAM",
        "activation_bytes": "Ollama GraphSize (llama): max(4·ub·(1+4·emb+T·(1+heads)), 4·ub·(emb+vocab)), "
                            "ub 512 (anchors §3)",
        "runtime_overhead_bytes": "457 MiB CUDA minimum (Ollama ml/device.go, anchors §1.6)",
        "margin": "llama.cpp --fit-target 1024 MiB per device (anchors §1.7), applied by the rules",
    })
    d.total_bytes = d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.runtime_overhead_bytes


def host_ram_bytes(spec: ModelSpec, s: Settings, est: Estimate) -> int:
    """Full offload: the token embedding and the logits buffer stay on the host."""
    return int(LLAMACPP_HOST_BASE_BYTES + est.notes["token_embedding_host_bytes"]
               + s.concurrency * spec.vocab * 4)
