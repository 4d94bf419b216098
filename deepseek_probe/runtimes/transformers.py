"""transformers (eager generate(): prefill of T tokens, then decode with a DynamicCache).

NVML sees non-torch memory (CUDA context + kernels, 700 MiB
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

from typing import Optional, Tuple

from deepseek_probe import memory
from deepseek_probe.memo import memo
from deepseek_probe.profiles import PRECISIONS, ModelSpec, weight_bytes
from deepseek_probe.runtimes.base import CudaBuilds, Estimate, MiB, Runtime, Settings

RUNTIME = Runtime(
    "transformers", ("fp32", "bf16", "fp16", "fp8", "int8", "int4"), ("bf16", "fp16"), 4096,
    "Hugging Face transformers generate(): DynamicCache in the model dtype; fp8 = fine-grained "
    "FP8 (V3 checkpoints), int8/int4 = bitsandbytes/AWQ/GPTQ",
    label="transformers", lower_precisions=("fp16", "fp8", "int8", "int4"), tp_flag='device_map="auto"',
    # Trainer (transformers/trainer.py) and TRL, LLaMA-Factory, axolotl on top of it train here
    trains=True,
    # its V3.2 / V4 caches were measured (benchmarks/models2026/measure_transformers.json)
    sparse_kv_measured=True,
    # PyTorch 2.11's default PyPI wheel is cu130: "torch": "2.11.0+cu130" in groundtruth-h100.json
    # (pip install on the H100 host). cu126 / cu128 builds stay on download.pytorch.org.
    cuda=CudaBuilds(
        "13.0", ("12.8", "12.6"), False,
        "pip install torch --index-url https://download.pytorch.org/whl/cu{v}",
        "PyTorch 2.11 default wheel cu130 (groundtruth-h100.json); cu126/cu128 on download.pytorch.org"),
    apple_backend="mps")

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


def _layer_param_bytes(spec: ModelSpec, moe: bool) -> Tuple[int, ...]:
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


def _weights_reserved_bytes(spec: ModelSpec, bytes_per_param: float) -> int:
    """Bytes the caching allocator reserves for the parameters, allocated one by one and kept:
    large ones in their own 2 MiB-rounded segment, 1-10 MiB ones best-fit into shared 20 MiB
    segments, small ones packed into 2 MiB segments."""
    return memo("transformers.weights_reserved", (spec, bytes_per_param),
                lambda: _reserve_weights(spec, bytes_per_param))


def _reserve_weights(spec: ModelSpec, bytes_per_param: float) -> int:
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
    return total


def _uses_cudnn_attention(spec: ModelSpec, compute_capability: Optional[float] = None) -> bool:
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


def _prefill_extra_fallback(spec: ModelSpec, tokens: int) -> float:
    h = 2 * spec.hidden
    if spec.is_moe:
        return FALLBACK_MOE_FACTOR * tokens * spec.experts_per_token * h
    i = 2 * spec.intermediate
    mha = not spec.is_mla and spec.kv_heads == spec.heads
    factor = FALLBACK_MHA_FACTOR if mha else FALLBACK_GQA_FACTOR
    return factor * tokens * (2 * h + 3 * i)


def _decode_growth_fallback(spec: ModelSpec, s: Settings) -> float:
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


def account(spec: ModelSpec, s: Settings, est: Estimate, device_total_bytes: Optional[int] = None) -> None:
    """The peak of prefill + decode under PyTorch's caching allocator (see the module doc)."""
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
    d.total_bytes = d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.runtime_overhead_bytes


def host_ram_bytes(spec: ModelSpec, s: Settings, est: Estimate) -> int:
    return memory.python_runtime_host_bytes(spec, s, workers=1)
