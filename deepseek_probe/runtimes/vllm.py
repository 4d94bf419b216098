"""vLLM: takes gpu_memory_utilization x TOTAL device memory and fills what is left after weights,
the profiled activation peak, non-torch memory and CUDA graphs with KV-cache pages.

The vLLM KV pool formula is `account` below.
"""

from __future__ import annotations

from typing import Optional

from deepseek_probe import memory
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.runtimes.base import Estimate, GiB, MiB, Runtime, Settings

RUNTIME = Runtime(
    "vllm", ("fp32", "bf16", "fp16", "fp8", "int8", "int4"), ("bf16", "fp16", "fp8"), 0,
    "vLLM: --max-model-len defaults to the model's maximum; --kv-cache-dtype auto|fp8")

# anchors §1.8: "non_torch memory 0.01-0.10 GiB on one GPU, 2.1 GiB with TP=8" (users' logs).
VLLM_NON_TORCH_BYTES = int(0.1 * GiB)
VLLM_NON_TORCH_PER_EXTRA_RANK = int(0.29 * GiB)  # (2.1 - 0.1) / 7 ranks: NCCL buffers
# CUDA graphs captured for decode batch sizes: vLLM logs "Graph capturing finished … took
# 0.3-1.0 GiB" for 7B-70B models; 0.5 GiB typical (not measured by us).
VLLM_CUDA_GRAPH_BYTES = GiB // 2
# CUDA context, inside the gpu_memory_utilization budget (the fraction limits the whole
# instance: weights, activations and KV cache; Red Hat AI Inference Server docs for vLLM):
# measured 621 MiB on H100 (groundtruth-h100.json), ~0.5 GB consensus (anchors TL;DR).
CUDA_CONTEXT_BYTES = 621 * MiB
# vLLM V1 profiles one forward pass of max_num_batched_tokens tokens (8192 is the usual
# OpenAI-server default on large GPUs) and a sampler pass over max_num_seqs (256) x vocab fp32.
VLLM_PROFILE_TOKENS = 8192
VLLM_MAX_NUM_SEQS = 256
VLLM_BLOCK_TOKENS = 16  # KV pool page size (--block-size default 16)


def _vllm_activation_bytes(spec: ModelSpec, s: Settings) -> int:
    tp = s.tensor_parallel
    h = spec.hidden
    if spec.is_moe:  # fused_moe: (tokens x top_k) rows of gate_up (2 x mi) and the SiLU product
        inter = (spec.experts_per_token + spec.shared_experts) * spec.moe_intermediate
        inter = max(inter, spec.intermediate if spec.first_k_dense else 0)
        q = spec.heads * (spec.qk_nope_head_dim + spec.qk_rope_head_dim + spec.v_head_dim)
    else:
        inter = spec.intermediate
        q = (spec.heads + 2 * spec.kv_heads) * spec.head_dim
    # merged gate_up output (2i) + SiLU*mul output (i), qkv output, ~4 hidden-sized buffers
    per_token = (3 * inter // tp + q // tp + 4 * h) * 2
    sampler = VLLM_MAX_NUM_SEQS * spec.vocab * 4 * 2  # fp32 logits + one softmax-sized temp
    return VLLM_PROFILE_TOKENS * per_token + sampler


def account(spec: ModelSpec, s: Settings, est: Estimate, device_total_bytes: Optional[int]) -> None:
    """vLLM takes gpu_memory_utilization x TOTAL device memory; after weights, the profiled
    activation peak, non-torch memory, CUDA graphs and the context, the rest becomes the KV
    pool. With the device size we report the pool and what it allows; without it, the minimum
    the requested context x concurrency needs."""
    d = est.per_device
    tp = s.tensor_parallel
    d.activation_bytes = _vllm_activation_bytes(spec, s)
    non_torch = VLLM_NON_TORCH_BYTES + VLLM_NON_TORCH_PER_EXTRA_RANK * (tp - 1)
    d.runtime_overhead_bytes = non_torch + VLLM_CUDA_GRAPH_BYTES + CUDA_CONTEXT_BYTES
    fixed = d.weights_bytes + d.activation_bytes + d.runtime_overhead_bytes
    min_need = fixed + d.kv_cache_bytes
    est.notes["gpu_memory_utilization"] = s.gpu_memory_utilization
    est.notes["min_need_bytes"] = min_need
    d.total_bytes = min_need
    if device_total_bytes:
        per_token = memory.kv_bytes_per_token(spec, s)
        requested = int(device_total_bytes * s.gpu_memory_utilization)
        pool = max(0, requested - fixed)
        pool_tokens = int(pool // per_token) // VLLM_BLOCK_TOKENS * VLLM_BLOCK_TOKENS
        fits = pool_tokens >= s.context * s.concurrency
        est.notes.update({
            "requested_bytes": requested,
            "kv_pool_bytes": pool,
            "kv_pool_tokens": pool_tokens,
            "max_context_at_concurrency": min(spec.max_context, pool_tokens // s.concurrency),
            "max_concurrency_at_context": pool_tokens // s.context,
            "fits_at_gpu_memory_utilization": fits,
        })
        if fits:  # vLLM grabs util x total and fills what is left with KV pages
            d.kv_cache_bytes = pool
            d.total_bytes = requested
        elif pool_tokens == 0:
            est.notes["vllm_error"] = "weights and activations exceed gpu_memory_utilization x total memory"
        else:
            est.notes["vllm_error"] = (f"KV pool holds {pool_tokens} tokens < {s.context} x {s.concurrency}; "
                                       "vLLM suggests a smaller --max-model-len")
    est.sources.update({
        "runtime_overhead_bytes": "non-torch 0.1 GiB + 0.29 GiB per extra TP rank (anchors §1.8: "
                                  "0.01-0.10 GiB on 1 GPU, 2.1 GiB at TP=8) + CUDA graphs 0.5 GiB "
                                  "(typical vLLM log) + CUDA context 621 MiB (measured, H100)",
        "total_bytes": "gpu_memory_utilization x total device memory when the KV pool fits the "
                       "request (vLLM holds the whole budget), else the minimum need",
        "activation_bytes": "vLLM profile run: 8192 batched tokens x (merged gate_up + SiLU output + "
                            "qkv + hidden buffers) + sampler over 256 seqs x vocab fp32 "
                            "(anchors §1.8: users' logs show 0.36-2.02 GiB)",
        "kv_cache_bytes": "vLLM kv_cache_interface.py: max(1, kv_heads/TP) x (head + v_head) x dtype; "
                          "MLA 576 x dtype, replicated on every TP rank; with a device size the pool "
                          "takes gpu_memory_utilization x total - everything else",
    })


def host_ram_bytes(spec: ModelSpec, s: Settings, est: Estimate) -> int:
    return memory.python_runtime_host_bytes(spec, s, workers=s.tensor_parallel)  # one worker per GPU
