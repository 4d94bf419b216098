"""Memory math per device: weights, KV cache (MHA/GQA/MLA), activations, runtime overhead.

Pure: takes a model spec and settings, returns numbers. Never probes, reads files or prints.
Each runtime budgets memory its own way, so each has its own section below; the shared parts
(weights, KV cache, disk) come first. Every constant names its source.

transformers, in one paragraph: NVML sees non-torch memory (CUDA context + kernels, 700 MiB
measured) plus whatever PyTorch's caching allocator has reserved. The allocator keeps every
segment it ever cudaMalloc'ed, rounds large ones to 2 MiB and never merges blocks across
segments. So the peak is: weight segments (rounded, packed as the allocator packs them) +
cuBLAS workspace + the KV cache + the segments the prefill's temporaries (fp32 RMSNorm copies,
q/k/v and RoPE copies, SwiGLU gate/up/product, grouped-mm expert buffers) needed while the
cache grew around them + what the first decode steps add when torch.cat reallocates each
layer's cache one token longer. The temporaries' part comes from replaying transformers' real
forward through a model of the allocator (benchmarks/accuracy.py --simulate), stored per model in
profiles/models.json; it reproduces the H100 peaks within a few MiB in all but two cases (56 and
300 MiB off: which of two equal free blocks the allocator picks depends on their addresses).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.profiles import KV_PRECISIONS, PRECISIONS, RUNTIMES, weight_bytes

from deepseek_probe.runtimes.base import (  # noqa: F401  (re-exported)
    DeviceMemory, Estimate, EstimateInputError, GiB, MiB, Settings)


# =====================================================================================
# Validation
# =====================================================================================
def validate(spec: Any, s: Settings) -> None:
    """Raise EstimateInputError (one line) for settings that make no sense for `spec`."""
    rt = RUNTIMES.get(s.runtime)
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
    if s.context > spec.max_context:
        raise EstimateInputError(f"context {s.context} is beyond {spec.id}'s maximum of {spec.max_context} tokens")
    if not isinstance(s.concurrency, int) or isinstance(s.concurrency, bool) or s.concurrency <= 0:
        raise EstimateInputError(f"concurrency must be a positive number of sequences, got {s.concurrency!r}")
    tp = s.tensor_parallel
    if not isinstance(tp, int) or isinstance(tp, bool) or tp <= 0:
        raise EstimateInputError(f"tensor parallel size must be a positive integer, got {tp!r}")
    if s.runtime != "llamacpp":  # llama.cpp splits whole layers across GPUs, not heads
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


# =====================================================================================
# Shared pieces: KV cache, weights, disk
# =====================================================================================
def kv_bytes_per_token(spec: Any, s: Settings, devices: Optional[int] = None) -> float:
    """KV-cache bytes per token of one sequence, on one device (all layers it holds).

    MHA/GQA: 2 (K and V) x layers x max(1, kv_heads / TP) x head_dim x bytes  (anchors §3;
    vLLM kv_cache_interface.py replicates a KV head when TP > kv_heads).
    MLA latent: layers x (kv_lora_rank + qk_rope_head_dim) x bytes, NOT divided by TP: vLLM's
    get_num_kv_heads returns 1 for MLA, so every rank holds the whole latent (anchors §1.8).
    MLA decompressed: layers x heads/TP x (qk_nope + qk_rope + v_head_dim) x bytes.
    llama.cpp splits layers, not heads, across GPUs: each holds layers / N of the cache.
    """
    b = KV_PRECISIONS[s.kv_precision]
    tp = s.tensor_parallel if devices is None else devices
    if s.runtime == "llamacpp":
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


def kv_cache_bytes(spec: Any, s: Settings) -> int:
    return int(kv_bytes_per_token(spec, s) * s.context * s.concurrency)


def disk_bytes(spec: Any, precision: str) -> int:
    """Checkpoint on disk: safetensors at that precision (V3: with its MTP module, which the
    published checkpoint carries), or the GGUF file (no MTP tensors)."""
    p = PRECISIONS[precision]
    return weight_bytes(spec, precision, include_mtp=not p.gguf and spec.mtp_layers > 0)


def _device_weights(spec: Any, s: Settings) -> int:
    """Weight bytes on one device: TP shards every matrix; llama.cpp splits whole layers."""
    return weight_bytes(spec, s.precision) // s.tensor_parallel


def _bytes_read_per_token(spec: Any, s: Settings, kv_dev: int) -> int:
    """One decode step reads each device's share of the active weights (the input embedding is
    a row lookup, not a read of the matrix; MoE reads only the routed experts it picks) and
    every sequence's whole KV cache."""
    read_params = spec.active_params - spec.vocab * spec.hidden
    weights = weight_bytes(spec, s.precision) * read_params / spec.params
    return int(weights / s.tensor_parallel) + kv_dev


# ----------------------------------------------------------------------------------------
# transformers (eager generate(): prefill of T tokens, then decode with a DynamicCache)
# ----------------------------------------------------------------------------------------
# What NVML shows for the process = non-torch memory + what PyTorch's CUDA caching allocator
# has reserved (c10/cuda/CUDACachingAllocator.cpp): requests <= 1 MiB come from 2 MiB segments,
# 1-10 MiB requests share 20 MiB segments, larger ones get their own segment rounded up to 2 MiB;
# a freed block only merges with free neighbours in its own segment and is never given back.
# So the peak is: weight segments + cuBLAS workspace + KV cache + the segments the prefill's
# temporaries needed around the growing cache + what the first decode steps add.
_SMALL_REQUEST = 1 * MiB
_LARGE_REQUEST = 10 * MiB
_ROUND_LARGE = 2 * MiB
_MID_SEGMENT = 20 * MiB
_SMALL_SEGMENT = 2 * MiB

# Measured on an H100 (groundtruth-h100.json): NVML used after torch init - before torch =
# 650 969 088 B (CUDA context); once kernels ran, NVML used - torch peak reserved is 694.8-720.8
# MiB in every case (lazily loaded kernel modules); it drifts up 2 MiB per case in one
# long-running process. 700 MiB = the first cases of a fresh process.
TRANSFORMERS_NON_TORCH_BYTES = 700 * MiB
# cuBLAS workspace, allocated through the caching allocator by the first matmul and kept:
# CUBLAS_WORKSPACE_CONFIG default ":4096:8" on Hopper = 8 x 4 MiB (torch CUDABlas handles).
CUBLAS_WORKSPACE_BYTES = 32 * MiB
# First decode step of an MHA model (its per-layer K and V are as wide as the hidden state):
# torch.cat reallocates every cache tensor one token longer, and the freed blocks are exactly
# one token too small, so 23-27 of the 2 x layers tensors (42 %) get a fresh segment (H100:
# +414 / +850 / +1782 / +3510 / +1254 MiB for deepseek-llm-7b 2K, 4K, deepseek-coder-6.7b 8K,
# 16K, deepseek-coder-1.3b 16K; the allocator replay gives the same). Used only for
# architectures without a simulated table; GQA/MLA caches are narrow and find room.
MHA_DECODE_FRESH_FRACTION = 0.42
DECODE_STEPS = 32  # groundtruth protocol: prefill, then 32 decode steps


def _segment_bytes(nbytes: int) -> int:
    return -(-nbytes // _ROUND_LARGE) * _ROUND_LARGE


def _layer_param_bytes(spec: Any, moe: bool) -> Tuple[int, ...]:
    """Parameter tensors of one decoder layer, in the order Module.to_empty allocates them
    (children before their parent's own parameters), in parameter counts."""
    h = spec.hidden
    t = []
    if spec.is_mla:
        qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim
        if spec.q_lora_rank:
            t += [spec.q_lora_rank * h, spec.q_lora_rank, spec.heads * qk * spec.q_lora_rank]
        else:
            t += [spec.heads * qk * h]
        t += [(spec.kv_lora_rank + spec.qk_rope_head_dim) * h, spec.kv_lora_rank,
              spec.heads * (spec.qk_nope_head_dim + spec.v_head_dim) * spec.kv_lora_rank,
              spec.heads * spec.v_head_dim * h]
    else:
        q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
        b = spec.qkv_bias
        t += [q * h] + ([q] if b else []) + [kv * h] + ([kv] if b else []) + [kv * h] + ([kv] if b else [])
        t += [q * h]
    if moe:
        E, mi = spec.routed_experts, spec.moe_intermediate
        # transformers 5 fuses the experts into two 3-D parameters (gate_up_proj, down_proj)
        t += [E * 2 * mi * h, E * mi * h, E * h]
        if spec.shared_experts:
            t += [spec.shared_experts * mi * h] * 3
    else:
        t += [spec.intermediate * h] * 3
    t += [h, h]  # input_layernorm, post_attention_layernorm
    return tuple(t)


def _weights_reserved_bytes(spec: Any, bytes_per_param: float) -> int:
    """Bytes the caching allocator reserves for the parameters, allocated one by one and kept:
    large ones in their own 2 MiB-rounded segment, 1-10 MiB ones best-fit into shared 20 MiB
    segments, small ones packed into 2 MiB segments."""
    cache = spec.__dict__.setdefault("_weights_reserved", {})  # per spec; not a dataclass field
    if bytes_per_param in cache:
        return cache[bytes_per_param]

    def sizes(params):
        return [-(-int(n * bytes_per_param) // 512) * 512 for n in params]

    def split(params):
        big = small = 0
        mid = []
        for nbytes in sizes(params):
            if nbytes > _LARGE_REQUEST:
                big += _segment_bytes(nbytes)
            elif nbytes > _SMALL_REQUEST:
                mid.append(nbytes)
            else:
                small += nbytes
        return big, small, mid

    h = spec.hidden
    outer = [spec.vocab * h, h] + ([] if spec.tie_embeddings else [spec.vocab * h])
    big, small, mid_outer = split(outer)
    layers = []
    if spec.dense_layers:
        layers.append((split(_layer_param_bytes(spec, False)), spec.dense_layers))
    if spec.moe_layers:
        layers.append((split(_layer_param_bytes(spec, True)), spec.moe_layers))
    mid_order = list(mid_outer)
    for (b, sm, mid), count in layers:
        big += b * count
        small += sm * count
        mid_order += mid * count
    free_tails = []  # best fit of 1-10 MiB requests into the free tails of 20 MiB segments
    mid_segments = 0
    for nbytes in mid_order:
        best = None
        for i, tail in enumerate(free_tails):
            if tail >= nbytes and (best is None or tail < free_tails[best]):
                best = i
        if best is None:
            mid_segments += 1
            rest = _MID_SEGMENT - nbytes
        else:
            rest = free_tails.pop(best) - nbytes
        if rest > _SMALL_REQUEST:
            free_tails.append(rest)
    total = big + mid_segments * _MID_SEGMENT + -(-small // _SMALL_SEGMENT) * _SMALL_SEGMENT
    cache[bytes_per_param] = total
    return total


def _uses_cudnn_attention(spec: Any, compute_capability: Optional[float] = None) -> bool:
    """SDPA backend: cuDNN for MHA with equal q/k/v head dims <= 256 on sm90/sm100 (torch
    sdp_utils.cpp check_prefer_cudnn_attention: major 9 or 10, minor 0); flash elsewhere."""
    if compute_capability is not None and compute_capability not in (9.0, 10.0):
        return False
    return not spec.is_mla and spec.kv_heads == spec.heads and spec.head_dim <= 256


def _cublas_workspace_bytes(compute_capability: Optional[float]) -> int:
    """torch CUBLAS_WORKSPACE_CONFIG defaults: ":4096:8" (32 MiB) on Hopper and newer,
    ":4096:2:16:8" (2 x 4 MiB + 8 x 16 KiB) before."""
    if compute_capability is None or compute_capability >= 9.0:
        return CUBLAS_WORKSPACE_BYTES
    return 8 * MiB + 128 * 1024


def _interpolate(table: Tuple[Tuple[int, int, int], ...], tokens: int, column: int) -> float:
    """Piecewise-linear in tokens; proportional outside the table (every temporary scales
    with the number of tokens once it is past the allocator's 10 MiB threshold)."""
    if tokens <= table[0][0]:
        return table[0][column] * tokens / table[0][0]
    for (t0, *v0), (t1, *v1) in zip(table, table[1:]):
        if tokens <= t1:
            a, b = v0[column - 1], v1[column - 1]
            return a + (b - a) * (tokens - t0) / (t1 - t0)
    last = table[-1]
    return last[column] * tokens / last[0]


def _interpolate_both(table: Tuple[Tuple[int, int, int], ...], tokens: int) -> Tuple[float, float]:
    """(prefill extra, decode growth) at `tokens`, as _interpolate does for each column."""
    first = table[0]
    if tokens <= first[0]:
        f = tokens / first[0]
        return first[1] * f, first[2] * f
    prev = first
    for row in table[1:]:
        if tokens <= row[0]:
            f = (tokens - prev[0]) / (row[0] - prev[0])
            return prev[1] + (row[1] - prev[1]) * f, prev[2] + (row[2] - prev[2]) * f
        prev = row
    f = tokens / prev[0]
    return prev[1] * f, prev[2] * f


# Fallback for models without a simulated table (a user's config.json of a new shape): the
# prefill extra as a multiple of the SwiGLU working set 2h + 3i per token (h = hidden, i = the
# MLP width, in bf16). Ranges over the catalog tables at >= 8K tokens: GQA 1.26-1.82, MHA
# 2.77-3.29 (K/V as wide as the hidden state fill its holes), MoE grouped_mm 11 x (top_k x h).
FALLBACK_GQA_FACTOR = 1.8
FALLBACK_MHA_FACTOR = 3.3
FALLBACK_MOE_FACTOR = 11.5


def _prefill_extra_fallback(spec: Any, tokens: int) -> float:
    h = 2 * spec.hidden
    if spec.is_moe:
        return FALLBACK_MOE_FACTOR * tokens * spec.experts_per_token * h
    i = 2 * spec.intermediate
    mha = not spec.is_mla and spec.kv_heads == spec.heads
    factor = FALLBACK_MHA_FACTOR if mha else FALLBACK_GQA_FACTOR
    return factor * tokens * (2 * h + 3 * i)


def _decode_growth_fallback(spec: Any, s: Settings) -> float:
    """MHA: fresh segments for 42 % of the cache tensors once a layer's K passes the
    allocator's 10 MiB threshold (smaller ones share 20 MiB segments and reuse their blocks)."""
    if spec.is_mla or spec.kv_heads != spec.heads:
        return 0.0
    per_token = s.concurrency * spec.kv_heads * spec.head_dim * 2 // s.tensor_parallel
    k_layer = per_token * s.context
    if k_layer <= _LARGE_REQUEST:
        return 0.0
    fresh = round(MHA_DECODE_FRESH_FRACTION * 2 * spec.layers)
    return float(fresh * _segment_bytes(k_layer + per_token * DECODE_STEPS))


def _transformers(spec: Any, s: Settings, est: Estimate) -> None:
    d = est.per_device
    tp = s.tensor_parallel
    tokens = s.context * s.concurrency
    if PRECISIONS[s.precision].kind == "float":
        bpp = 4.0 if s.precision == "fp32" else 2.0
        weight_slack = max(0, _weights_reserved_bytes(spec, bpp) // tp - d.weights_bytes)
    else:  # packed int/fp8 tensors + scales: take the bf16 layout's rounding, scaled to size
        bf16 = weight_bytes(spec, "bf16")
        slack16 = max(0, _weights_reserved_bytes(spec, 2.0) - bf16)
        weight_slack = int(slack16 * d.weights_bytes * tp / bf16) // tp
    table = getattr(spec, "transformers_activation", ())
    if table:
        prefill, growth = _interpolate_both(table, tokens)
        act_source = ("prefill temporaries around the growing KV cache, from replaying transformers "
                      "5.17's forward through a model of the CUDA caching allocator "
                      "(benchmarks/accuracy.py --simulate; byte-exact vs groundtruth-h100.json for "
                      "GQA/MLA models)")
    else:
        prefill, growth = _prefill_extra_fallback(spec, tokens), _decode_growth_fallback(spec, s)
        act_source = ("no simulated table for this architecture: prefill temporaries estimated as a "
                      "multiple of the SwiGLU working set (2h+3i per token; catalog range)")
    cudnn = _uses_cudnn_attention(spec, s.gpu_compute_capability)  # memory-neutral, noted below
    if s.precision == "fp32" and prefill > 0:
        # every temporary is fp32; a negative extra (the cache filling blocks the temporaries
        # freed) is not a temporary: doubling it made more context need less memory
        prefill *= 2
    elif PRECISIONS[s.precision].kind in ("fp8", "int8", "int4"):
        # quantized linears dequantize (or upcast) one weight matrix to bf16 during prefill
        prefill += 2 * max(spec.hidden * max(spec.intermediate, spec.moe_intermediate * 2), 0) // tp
    activation = int(prefill / tp + max(0.0, growth) / tp)
    d.activation_bytes = max(0, activation + weight_slack + _cublas_workspace_bytes(s.gpu_compute_capability))
    d.runtime_overhead_bytes = TRANSFORMERS_NON_TORCH_BYTES
    est.notes["decode_growth_bytes"] = int(max(0.0, growth) / tp)
    est.notes["attention_kernel"] = ("cuDNN SDPA (MHA)" if cudnn else
                                     "mem-efficient SDPA (MLA)" if spec.is_mla else "flash SDPA (GQA)")
    est.notes["scenario"] = (f"prefill of {s.concurrency} x {s.context} tokens (logits_to_keep=1), "
                             f"then {DECODE_STEPS} decode steps; long generations grow the cache "
                             "further by torch.cat")
    est.sources.update({
        "runtime_overhead_bytes": "CUDA context + lazily loaded kernels, 700 MiB measured on H100 "
                                  "(groundtruth-h100.json: NVML used - torch peak reserved)",
        "activation_bytes": act_source + "; + weight segment rounding + 32 MiB cuBLAS workspace"
                            ,
        "kv_cache_bytes": "DynamicCache: K and V per layer in the model dtype (MLA: transformers 5 "
                          "caches the latent, kv_lora_rank + rope = 576 values per token and layer)",
    })


# ----------------------------------------------------------------------------------------
# vLLM
# ----------------------------------------------------------------------------------------
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


def _vllm_activation_bytes(spec: Any, s: Settings) -> int:
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


def _vllm(spec: Any, s: Settings, est: Estimate, device_total_bytes: Optional[int]) -> None:
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
        per_token = kv_bytes_per_token(spec, s)
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


# ----------------------------------------------------------------------------------------
# llama.cpp (also Ollama / LM Studio)
# ----------------------------------------------------------------------------------------
LLAMACPP_CUDA_MINIMUM_BYTES = 457 * MiB  # Ollama ml/device.go: CUDA minimum memory (anchors §1.6)
LLAMACPP_UBATCH = 512  # llama.cpp -ub default (n_ubatch); Ollama GraphSize's `batch`
LLAMACPP_FIT_MARGIN_BYTES = 1024 * MiB  # --fit-target default per device (anchors §1.7)
LLAMACPP_HOST_BASE_BYTES = GiB // 2  # process, host compute buffer, tokenizer (estimate)


def _llamacpp_compute_buffer_bytes(spec: Any, s: Settings) -> int:
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


def _llamacpp_parts(spec: Any, s: Settings) -> Dict[str, float]:
    file_bytes = weight_bytes(spec, s.precision)
    per_param = file_bytes / spec.params
    embed = spec.vocab * spec.hidden * per_param  # token_embd: always in host memory
    output = 0.0 if spec.tie_embeddings else spec.vocab * spec.hidden * per_param
    layer = (file_bytes - embed - output) / spec.layers
    kv_layer = kv_bytes_per_token(spec, s, devices=1) * s.context * s.concurrency / spec.layers
    return {"file": file_bytes, "embed": embed, "output": output, "layer": layer, "kv_layer": kv_layer}


def offload_split(spec: Any, settings: Settings, gpu_budget_bytes: int) -> OffloadSplit:
    """Layers llama.cpp can put on one GPU with `gpu_budget_bytes` (margin already taken off),
    the rest running from host RAM. Each layer brings its weights and its share of the KV cache;
    the compute buffer and CUDA context are paid once."""
    validate(spec, settings)
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


def _llamacpp(spec: Any, s: Settings, est: Estimate) -> None:
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


# ----------------------------------------------------------------------------------------
# host RAM
# ----------------------------------------------------------------------------------------
# Host RAM while loading: the Python/torch/CUDA process itself plus one safetensors shard in
# flight (transformers/vLLM stream shards; DeepSeek repos ship ~4-9 GB shards). Estimates, not
# measured: 3 GiB for a torch+CUDA process (libraries resident), 5 GB per shard.
PROCESS_BASE_BYTES = 3 * GiB
SHARD_BYTES = 5 * 10**9


def _host_ram_bytes(spec: Any, s: Settings, est: Estimate) -> int:
    if s.runtime == "llamacpp":  # full offload: token embedding + logits buffer stay on the host
        return int(LLAMACPP_HOST_BASE_BYTES + est.notes["token_embedding_host_bytes"]
                   + s.concurrency * spec.vocab * 4)
    shard = min(SHARD_BYTES, weight_bytes(spec, s.precision))
    workers = s.tensor_parallel if s.runtime == "vllm" else 1
    return PROCESS_BASE_BYTES * workers + shard * workers


# ----------------------------------------------------------------------------------------
def _estimate(spec: Any, s: Settings, device_total_bytes: Optional[int]) -> Estimate:
    weights_dev = _device_weights(spec, s)
    kv_dev = kv_cache_bytes(spec, s)
    est = Estimate(
        model=spec.id, precision=s.precision, kv_precision=s.kv_precision, context=s.context,
        concurrency=s.concurrency, runtime=s.runtime, tensor_parallel=s.tensor_parallel,
        params=spec.params, per_device=DeviceMemory(weights_bytes=weights_dev, kv_cache_bytes=kv_dev),
        host_ram_bytes=0, disk_bytes=disk_bytes(spec, s.precision), bytes_read_per_token=0,
        sources={"weights_bytes": PRECISIONS[s.precision].source,
                 "kv_cache_bytes": "2·layers·max(1, kv_heads/TP)·head_dim·bytes·T·S; MLA "
                                   "layers·(kv_lora_rank+qk_rope)·bytes·T·S, not divided by TP (anchors §3)",
                 "disk_bytes": "checkpoint at this precision (V3 safetensors include the MTP module)",
                 "decode_tokens_per_s": "η x bandwidth / bytes read per token, η 0.40/0.55/0.70 "
                                        "(anchors §3: llmfit 0.55, whichllm 0.40-0.56, ±30%; "
                                        "H100 ceiling 0.71-0.77 measured); MoE 0.20/0.30/0.40 "
                                        "(H100: 0.32 measured for V2-Lite)"},
    )
    if spec.is_mla:
        est.notes["mla_cache"] = s.mla_cache
    if spec.is_moe:
        est.notes["decode_efficiency"] = dict(DECODE_EFFICIENCY_MOE)
    if s.runtime == "transformers":
        _transformers(spec, s, est)
    elif s.runtime == "vllm":
        _vllm(spec, s, est, device_total_bytes)
    else:
        _llamacpp(spec, s, est)
    d = est.per_device
    if s.runtime != "vllm":  # vLLM sets its own total (budget or minimum)
        d.total_bytes = d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.runtime_overhead_bytes
    est.host_ram_bytes = _host_ram_bytes(spec, s, est)
    est.bytes_read_per_token = _bytes_read_per_token(spec, s, kv_dev)
    return est

# =====================================================================================
# public API
# =====================================================================================
def estimate(spec: Any, settings: Settings, device_total_bytes: Optional[int] = None) -> Estimate:
    """Per-device peak memory for `spec` (a profiles.ModelSpec) under `settings`.

    `device_total_bytes` matters only for runtimes that size themselves from the GPU (vLLM's
    gpu_memory_utilization x total); without it they report their minimum need.
    Raises EstimateInputError on settings that make no sense for the model.
    """
    validate(spec, settings)
    return _estimate(spec, settings, device_total_bytes)


def max_context(spec: Any, settings: Settings, budget_bytes: int) -> int:
    """Largest context (tokens, per sequence, at settings.concurrency) whose per-device total
    fits in `budget_bytes`; 0 if even the weights do not fit."""
    from dataclasses import replace

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


def _need_bytes(spec: Any, s: Settings) -> int:
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
