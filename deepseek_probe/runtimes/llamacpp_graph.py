"""llama.cpp's compute buffers (the "CUDA0 compute buffer size" and "CUDA_Host compute buffer
size" lines of sched_reserve) as closed forms, and the CUDA memory no buffer line shows.

Pure. Sources: llama.cpp 2026-10, commit 0c1e570 (the tree llama-cpp-python 0.3.36 vendors), and
the 41 llama-server runs of benchmarks/llamacpp/results/results.jsonl (H100, "-v" logs).

How the peak forms (ggml/src/ggml-alloc.c, ggml_gallocr): sched_reserve allocates the worst-case
micro-batch graph (n_ubatch tokens, n_outputs_max rows of logits, the whole cache as n_kv) with a
best-fit allocator that frees a tensor after its last consumer. Freed holes narrower than the
next tensor are skipped, so the high-water mark is the live set plus those holes:
- the FFN of a dense layer: ffn_inp, rms_norm, norm*w, up, gate, swiglu -> rms_norm's E-wide
  hole is too small for the F-wide swiglu: ub x 4 x (3 E + 3 F) bytes (exact on the 4 models);
- without flash attention: the f32 scores of every head (n_head x n_kv x ub, softmax in place)
  while four E-wide activations live (exact on the 3 dense models), plus the transposed V
  cache's per-element row indices (v_idxs, i64, ub x n_embd_v_gqa: llama-kv-cache.cpp
  build_input_v_idxs) and, for MLA, the transposed latent V (ggml_cont, f16);
- the KQ mask (llm_graph_input_attn_kv: f16 with flash attention, else f32), n_kv x ub, is an
  input live through the whole graph;
- llama-server reserves only n_parallel rows of logits (server-context.cpp sets n_outputs_max =
  the slots; llama-context.cpp graph_reserve(n_tokens, n_seqs, n_outputs_max)): 4 x vocab x 4
  bytes, never the peak;
- op_offload (ggml-backend.cpp ggml_backend_sched_backend_id_from_cur, "1.off"): with ub >= 32
  (ggml-cuda.cu GGML_OP_OFFLOAD_MIN_BATCH) a host-resident weight's op runs on the GPU; pass 5
  of ggml_backend_sched_split_graph starts a new split at each such weight, so one weight copy is
  live at a time; a host layer's flash attention runs there too, with copies of that layer's
  whole-cache K and V views. The interleaving of those copies with the allocator's holes is
  replayed for dense models (llamacpp_replay.py); for deepseek2 the partial-offload peak below
  is an estimate (see PARTIAL_OFFLOAD_NOTE).
"""

from __future__ import annotations


from deepseek_probe.profiles import ModelSpec
from deepseek_probe.records import record

MiB = 1 << 20
# results.jsonl: NVML used after one /completion minus the three CUDA0 buffers, each rounded up to
# the 2 MiB cudaMalloc granularity, is 599 MiB in all 25 runs with flash attention on and no
# F32/F16 weight matmul (595 MiB after load; the first request grows the CUDA pool by 4 MiB):
# the CUDA context, the backend's streams and its pool. H100, CUDA 12, driver of 2026-11.
CUDA_FIXED_BYTES = 599 * MiB
# The same residual is 697-703 MiB (mean 699.6) in the 16 runs that call cuBLAS: without flash
# attention (the f16 KQ / KQV matmuls) or with the f32 MoE router (deepseek2's ffn_gate_inp,
# never quantized: llama-quant.cpp tensor_allows_quantization): cuBLAS's handle and kernels.
CUBLAS_BYTES = 100 * MiB
CUDA_MALLOC_GRANULARITY = 2 * MiB
# ggml-backend.cpp / ggml-cuda.cu: ops on host weights move to the GPU at >= 32 rows
OP_OFFLOAD_MIN_BATCH = 32
PARTIAL_OFFLOAD_NOTE = ("partial offload: the host layer's K/V view copies, one weight copy and "
                        "the live activations are summed without the allocator's holes")


@record(frozen=True, many=True)
class GraphShape:
    """What sizes the reserve graph: the micro-batch, the cache and where the layers are."""

    n_ubatch: int
    n_kv: int  # cells one stream's attention sees (the whole cache at reserve time)
    n_streams: int  # 1 with a unified cache, else one per sequence
    flash_attn: bool
    host_layer_kv_bytes: int  # one host layer's K + V views (CUDA-padded); 0 = no host layer
    host_weight_bytes: int  # the largest host-resident dense weight the GPU borrows; 0 = none
    host_expert_bytes: int  # the largest host-resident expert tensor; 0 = none
    kv_f16_copy_bytes: int = 0  # flash attention over a quantized cache: f16 K (and V) copies


def _mla(spec: ModelSpec) -> bool:
    return bool(spec.is_mla)


def _ffn_width(spec: ModelSpec) -> int:
    """The FFN's intermediate width in the layer where the 3E+3F peak forms: a dense layer when
    there is one (deepseek2's leading dense blocks), else the routed experts (n_used x width)."""
    moe = spec.routed_experts > 1
    if not moe or spec.first_k_dense > 0:
        return spec.intermediate
    return spec.experts_per_token * spec.moe_intermediate + spec.shared_experts * spec.moe_intermediate


def _mla_attention_width(spec: ModelSpec) -> int:
    """f32 values per token live around MLA attention (models/deepseek2.cpp, is_mla path): the
    residual, q (H x (nope+rope)), rope'd q_pe, q_nope absorbed by wk_b (H x kv_lora), the
    concatenated Qcur (H x (kv_lora+rope)) and the attention output (H x kv_lora), in graph
    order without reuse. Below the dense FFN for V2-Lite (measured); it sizes V2/V3's peak."""
    H, R, rope, nope = spec.heads, spec.kv_lora_rank, spec.qk_rope_head_dim, spec.qk_nope_head_dim
    return spec.hidden + H * (nope + rope) + H * rope + 2 * H * R + H * (R + rope)


def mask_bytes(g: GraphShape) -> int:
    """llm_graph_input_attn_kv's KQ mask: f16 with flash attention, f32 without."""
    return g.n_kv * g.n_ubatch * (2 if g.flash_attn else 4)


def _inputs_bytes(spec: ModelSpec, ub: int) -> int:
    """Small GPU inputs: positions (i32), K (and V) cache row indices (i64), each 128-aligned."""
    per = [ub * 4, ub * 8] + ([] if _mla(spec) else [ub * 8])
    return sum(-(-b // 128) * 128 for b in per)


def _v_idxs_bytes(spec: ModelSpec, g: GraphShape) -> int:
    """Without flash attention V is cached transposed and set_rows takes one i64 index per
    element (llama-kv-cache.cpp build_input_v_idxs); MLA caches no V."""
    if g.flash_attn or _mla(spec):
        return 0
    return g.n_ubatch * spec.kv_heads * spec.head_dim * 8


def gpu_compute_bytes(spec: ModelSpec, g: GraphShape) -> int:
    """The "CUDAn compute buffer size" of the device that runs the graph."""
    ub4 = g.n_ubatch * 4
    ffn = ub4 * (3 * spec.hidden + 3 * _ffn_width(spec))
    attention = ub4 * _mla_attention_width(spec) if _mla(spec) else 0
    if not g.flash_attn:
        scores = spec.heads * g.n_kv * g.n_streams * ub4
        if _mla(spec):  # transposed latent V, made contiguous in f16 (ggml_cont of the cache view)
            attention = scores + g.n_kv * g.n_streams * spec.kv_lora_rank * 2 + attention
        else:
            attention = scores + ub4 * 4 * spec.hidden
    if g.flash_attn and g.kv_f16_copy_bytes:
        # ggml-cuda fattn.cu ggml_cuda_flash_attn_ext_get_alloc_size: the MMA kernel wants f16 K
        # and V, so the FA output's allocation carries f16 copies of the whole cache views
        # (fattn-common.cuh get_f16_extra_data; V shares K's under MLA). Live beside it: three
        # E-wide activations (l8-c65k-kvq8, d7-c4k-kvq4: exact), MLA's attention set.
        out = ub4 * spec.heads * (spec.kv_lora_rank if _mla(spec) else spec.head_dim)
        live = ub4 * (_mla_attention_width(spec) - spec.heads * spec.kv_lora_rank if _mla(spec)
                      else 3 * spec.hidden)
        attention = max(attention, live + out + g.kv_f16_copy_bytes)
    peak = max(ffn, attention)
    if g.n_ubatch >= OP_OFFLOAD_MIN_BATCH:
        acts = 2 * ub4 * spec.hidden  # the residual and the layer's input, live across it
        if g.host_expert_bytes:  # MUL_MAT_ID over host experts: n_used rows of Fx and E each
            moe_acts = ub4 * spec.experts_per_token * (spec.moe_intermediate + spec.hidden)
            peak = max(peak, g.host_layer_kv_bytes + g.host_expert_bytes + moe_acts + acts)
        if g.host_weight_bytes:
            peak = max(peak, g.host_layer_kv_bytes + g.host_weight_bytes + acts)
    return int(peak + mask_bytes(g) + _v_idxs_bytes(spec, g) + _inputs_bytes(spec, g.n_ubatch))


def host_compute_bytes(spec: ModelSpec, g: GraphShape, host_layers: bool) -> int:
    """The "CUDA_Host compute buffer size": the CPU backend's share of the graph in pinned
    memory. Measured on the 4 models: two ub x E f32 tensors (the token rows get_rows gathers
    from the host token_embd, and the allocator's second copy) plus the graph inputs that live
    on the CPU (the KQ mask, the V row indices). Host layers' set_rows take the K and V rows
    (ub x n_embd_kv f32 each) next to one E-wide tensor."""
    ub4 = g.n_ubatch * 4
    act = 2 * ub4 * spec.hidden
    if host_layers and not _mla(spec):
        act = max(act, ub4 * spec.hidden + 2 * ub4 * spec.kv_heads * spec.head_dim)
    return int(act + mask_bytes(g) + _v_idxs_bytes(spec, g) + g.n_ubatch * 4)


def uses_cublas(spec: ModelSpec, flash_attn: bool, ftype: str) -> bool:
    """Whether a matmul of the graph goes to cuBLAS (ggml-cuda.cu ggml_cuda_mul_mat: non-
    quantized src0 with a batch): the f16 KQ/KQV without flash attention, the f32 MoE router,
    or F16/BF16 weights."""
    return (not flash_attn) or spec.routed_experts > 1 or ftype.upper() in ("F16", "BF16")


def cuda_overhead_bytes(buffers: "list[int]", cublas: bool) -> int:
    """What NVML shows beyond the buffer lines: each buffer rounded up to cudaMalloc's 2 MiB,
    the fixed CUDA context and pool, and cuBLAS when it is loaded."""
    g = CUDA_MALLOC_GRANULARITY
    rounding = sum(-(-b // g) * g - b for b in buffers if b > 0)
    return CUDA_FIXED_BYTES + rounding + (CUBLAS_BYTES if cublas else 0)
