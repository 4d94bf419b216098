"""DeepSeek-V4 (Flash, Pro) in vLLM: what one GPU holds after loading and what the profile run
adds, module by module as vLLM builds the model. runtimes/vllm.py asks this module for V4's
weights and activation peak; the KV groups are runtimes/kvcache.py `vllm_v4_need`.

Sources (vllm-project/vllm, the V4 files of the code index, commit 023da1fc for the model files):
- model_executor/models/deepseek_v4.py: DeepseekV4Attention (fused_wqa_wkv a *replicated*
  MergedColumnParallelLinear, wq_b / wo_a ColumnParallel, wo_b RowParallel, all fp8 with 128x128
  block scales: DeepseekV4FP8Config; attn_sink fp32 padded to max(heads / TP, 64)),
  DeepseekV4MoE (NormGateLinear router [experts, hidden] + e_score_correction_bias fp32, hash
  layers' tid2eid int32 [vocab, top_k]; shared expert DeepseekV4MLP TP-split fp8; routed experts
  FusedMoE with Mxfp4MoEMethod: uint8 weights of two values per byte + one uint8 e8m0 scale per
  32 values, num_experts / EP ranks with --enable-expert-parallel, else every expert with
  intermediate / TP: the same bytes), DeepseekV4DecoderLayer (hc_attn_* / hc_ffn_* fp32),
  DeepseekV4Model (VocabParallelEmbedding, hc_head fp32, topk_indices_buffer int32
  [max_num_batched_tokens, index_topk], _mtp_hidden_buffer [max_num_batched_tokens, hc_mult x
  hidden] in the model dtype), DeepseekV4ForCausalLM (ParallelLMHead).
- model_executor/layers/deepseek_v4_attention.py: DeepseekV4Indexer (wq_b fp8 and weights_proj
  bf16, both ReplicatedLinear "no tensor parallel, just replicated"; LayerNorm k_norm);
  DeepseekV4MultiHeadLatentAttentionWrapper.forward (o_padded [tokens, 64 or 128, head_dim]
  allocated before the attention op), attention_impl (the dummy run computes the input GEMMs
  and wq_b, reserves the prefill workspace (PREFILL_CHUNK_SIZE = 4, N + window +
  max_num_batched_tokens, head_dim) bf16 and returns).
- model_executor/layers/deepseek_compressor.py DeepseekCompressor: fused_wkv_wgate bf16
  (quant_config=None, disable_tp=True) [2 x coff x head_dim, hidden], ape fp32 [ratio, coff x
  head_dim], coff = 2 for ratio 4.
- model_executor/models/deepseek_v4_mtp.py: the MTP draft (--speculative-config method mtp):
  per MTP layer a DeepseekV4DecoderLayer, e_proj / h_proj ReplicatedLinear fp8, enorm / hnorm,
  hc_head fp32, SharedHead (norm + ParallelLMHead); DeepSeekV4MultiTokenPredictor: its own
  VocabParallelEmbedding and topk_indices_buffer.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Dict

from deepseek_probe.memo import memo
from deepseek_probe.profiles import ModelSpec, arch2026
from deepseek_probe.records import record

# layers/vocab_parallel_embedding.py DEFAULT_VOCAB_PADDING_SIZE
VOCAB_PAD = 64
# FlashMLA sparse supports 64 or 128 heads: attn_sink and o_padded are padded up to one of them
FLASHMLA_HEADS = (64, 128)
# deepseek_v4_attention.py PREFILL_CHUNK_SIZE: prefills gathered per chunk in the bf16 workspace
PREFILL_CHUNK_SIZE = 4


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _fp8(out_f: int, in_f: int) -> int:
    """Fp8LinearMethod block-quantised weight: one byte per value + fp32 128x128 block scales."""
    return out_f * in_f + 4 * _ceil(out_f, 128) * _ceil(in_f, 128)


def _mxfp4(out_f: int, in_f: int) -> int:
    """Mxfp4MoEMethod.create_weights: uint8 [out, in / 2] + uint8 e8m0 scales [out, in / 32]."""
    return out_f * in_f // 2 + out_f * in_f // 32


def padded_heads(local_heads: int) -> int:
    """deepseek_v4_attention.py: FlashMLA sparse kernels take 64 or 128 heads."""
    return next(h for h in FLASHMLA_HEADS if local_heads <= h)


@record(frozen=True)
class V4Parallel:
    """The launch's parallel layout and the scheduler size the buffers depend on."""

    tp: int
    ep: bool
    max_num_batched_tokens: int


def _compressor_bytes(spec: ModelSpec, ratio: int, head_dim: int) -> int:
    coff = 2 if ratio == 4 else 1
    w = 2 * (2 * coff * head_dim) * spec.hidden  # fused_wkv_wgate bf16
    return w + 4 * ratio * coff * head_dim + 2 * head_dim  # ape fp32, norm bf16


def decoder_layer_bytes(spec: ModelSpec, ratio: int, hash_layer: bool, par: V4Parallel) -> Dict[str, int]:
    """One DeepseekV4DecoderLayer on one GPU, by part."""
    h, hd, heads, ql, tp = spec.hidden, spec.head_dim, spec.heads, spec.q_lora_rank, par.tp
    attn = _fp8(ql + hd, h)  # fused_wqa_wkv, replicated
    attn += _fp8(heads * hd // tp, ql)  # wq_b
    attn += _fp8(spec.o_groups * spec.o_lora_rank // tp, heads * hd // spec.o_groups)  # wo_a
    attn += _fp8(h, spec.o_groups * spec.o_lora_rank // tp)  # wo_b
    attn += 2 * (ql + hd + h) + 4 * padded_heads(heads // tp)  # q_norm, kv_norm, attn_norm; attn_sink
    kind = arch2026.v4_layer_kind(ratio)
    if kind != arch2026.V4_SLIDING:
        attn += _compressor_bytes(spec, 4 if kind == arch2026.V4_CSA else 128, hd)
    if kind == arch2026.V4_CSA:  # DeepseekV4Indexer, replicated
        ihd, ih = spec.index_head_dim, spec.index_n_heads
        attn += _fp8(ih * ihd, ql) + 2 * ih * h + 2 * 2 * ihd + _compressor_bytes(spec, 4, ihd)
    mi, e = spec.moe_intermediate, spec.routed_experts
    # EP: e / ep experts each; TP: mi / tp of every expert. MXFP4 (expert_dtype fp4, the default);
    # expert_dtype fp8 (V4-Flash-Base) takes Fp8MoEMethod's block-quantised fp8
    expert = _mxfp4 if spec.expert_precision == "fp4" else _fp8
    routed = e * (expert(2 * mi, h) + expert(h, mi)) // tp
    shared = _fp8(2 * mi * spec.shared_experts // tp, h) + _fp8(h, mi * spec.shared_experts // tp)
    router = 2 * e * h + 2 * h  # NormGateLinear gate (bf16) + ffn_norm
    router += 4 * spec.vocab * spec.experts_per_token if hash_layer else 4 * e  # tid2eid int32 | bias
    n = spec.hc_mult
    mix = (2 + n) * n
    hc = 2 * 4 * (mix * n * h + mix + 3)  # hc_attn_* and hc_ffn_* fp32
    return {"attention": attn, "routed_experts": routed, "shared_expert": shared, "router": router,
            "hyper_connections": hc}


def _vocab_shard(spec: ModelSpec, tp: int) -> int:
    """VocabParallelEmbedding / ParallelLMHead rows per rank (vocab padded to 64, split by TP), bf16."""
    return _ceil(_ceil(spec.vocab, VOCAB_PAD) * VOCAB_PAD, tp) * spec.hidden * 2


def weights_bytes(spec: ModelSpec, par: V4Parallel) -> Dict[str, int]:
    """What "Model loading took" counts on one GPU for the main model (PP 1), by part."""
    out: Dict[str, int] = {}
    for i, ratio in enumerate(spec.compress_ratios[:spec.layers]):
        for k, v in decoder_layer_bytes(spec, ratio, i < spec.hash_layers, par).items():
            out[k] = out.get(k, 0) + v
    n = spec.hc_mult
    out["embedding_and_head"] = 2 * _vocab_shard(spec, par.tp) + 2 * spec.hidden + 4 * (n * n * spec.hidden + n + 1)
    # get_rope caches one rotary module per distinct parameter set: V4 layers use rope_theta or
    # compress_rope_theta (DeepseekV4Attention), so two cos/sin caches of max_position x rope_dim
    # (rope_parameters["rope_dim"] = qk_rope_head_dim), fp32 as runtimes/sharded.py rope_cache_bytes
    out["rope_cache"] = 2 * spec.max_context * spec.qk_rope_head_dim * 4
    t = par.max_num_batched_tokens
    out["buffers"] = t * spec.index_topk * 4 + t * n * spec.hidden * 2  # topk indices, MTP hidden stash
    return out


def mtp_draft_bytes(spec: ModelSpec, par: V4Parallel) -> Dict[str, int]:
    """The MTP draft model (deepseek_v4_mtp.py) on one GPU: num_nextn_predict_layers decoder layers
    of compress ratio 1 (DeepseekV4Attention: layer_id >= num_hidden_layers), e_proj / h_proj fp8,
    enorm / hnorm, hc_head fp32 and a SharedHead (norm + ParallelLMHead) each, one embedding and
    one topk_indices_buffer."""
    h, n = spec.hidden, spec.hc_mult
    per = sum(decoder_layer_bytes(spec, 1, False, par).values())
    per += 2 * _fp8(h, h) + 3 * 2 * h + 4 * (n * n * h + n + 1) + _vocab_shard(spec, par.tp)
    return {"mtp_layers": spec.mtp_layers * per,
            "mtp_embedding": _vocab_shard(spec, par.tp),
            "mtp_buffers": par.max_num_batched_tokens * spec.index_topk * 4}


# -- the profile run (gpu_model_runner.py profile_run -> _dummy_run(max_num_batched_tokens)) -----
# Indexer prefill buffer: get_max_prefill_buffer_size = max_model_len x 40 entries (v1/attention/
# backends/mla/indexer.py, "40 is a magic number"), / compress_ratio for V4 (DeepseekV4Indexer
# max_total_seq_len), 132 B each (128 fp8 + fp32 scale); the profile-run fake of the sparse indexer
# allocates it once and splits it into contiguous fp8 keys and fp32 scales (2 x its size in all).
INDEXER_PREFILL_FACTOR = 40


def attention_peak_per_token(spec: ModelSpec, tp: int) -> int:
    """Bytes per token alive at the peak of one CSA (ratio 4) layer's attention in the dummy run
    (attention_impl returns before the kernels: no metadata). The hyper-connection residual stream
    (hc_mult x hidden) and the layer input and its norm; o_padded (padded heads x head_dim, bf16);
    the input GEMMs (qr_kv bf16, compressor and indexer-compressor kv_score fp32, indexer weights);
    q / kv after fused_q_kv_rmsnorm; wq_b's q; the indexer's q (bf16), its fp8 copy and fp32 weights."""
    h, hd, n = spec.hidden, spec.head_dim, spec.hc_mult
    ih, ihd = spec.index_n_heads, spec.index_head_dim
    b = 2 * n * h + 2 * h + 2 * h  # residual stream, layer input, attn_norm output
    b += 2 * padded_heads(spec.heads // tp) * hd  # o_padded
    b += 2 * (spec.q_lora_rank + hd) * 2  # qr_kv and its normed q / kv
    b += 4 * 2 * 2 * hd + 4 * 2 * 2 * ihd + 2 * ih  # kv_score (coff 2), indexer kv_score, weights
    b += 2 * spec.heads // tp * hd  # q = wq_b(qr)
    b += 2 * ih * ihd + ih * ihd + 4 * ih  # indexer q, q_quant (fp8), weights
    return b


def moe_peak_per_token(spec: ModelSpec, tp: int, ep: bool) -> int:
    """Bytes per token alive in a MoE block of the dummy run: residual stream, block input, normed
    input, fp32 router logits (router_logits_dtype=torch.float32), the expert GEMMs over top_k rows
    (gate_up 2 x I, activation I, down hidden; I = moe_intermediate per expert-parallel rank, or
    / TP without EP), the shared expert's gate_up / activation / output (TP-split) and the output."""
    h, n, k = spec.hidden, spec.hc_mult, spec.experts_per_token
    inter = spec.moe_intermediate if ep else spec.moe_intermediate // tp
    shared = spec.moe_intermediate * spec.shared_experts // tp
    b = 2 * n * h + 2 * h + 2 * h + 4 * spec.routed_experts
    b += k * (2 * 2 * inter + 2 * inter + 2 * h)
    b += 2 * 2 * shared + 2 * shared + 2 * h
    return b + 2 * h


def forward_peak_bytes(spec: ModelSpec, tokens: int, max_model_len: int, par: V4Parallel) -> Dict[str, int]:
    """Torch peak of the dummy forward of `tokens` tokens, by part (the larger of attention and MoE
    per token, plus the prefill workspace and the indexer's buffer the dummy run reserves)."""
    ratio = 4
    n_comp = _ceil(max_model_len, ratio)
    workspace = PREFILL_CHUNK_SIZE * (n_comp + spec.sliding_window + par.max_num_batched_tokens) * spec.head_dim * 2
    indexer = 2 * max_model_len * INDEXER_PREFILL_FACTOR // ratio * (spec.index_head_dim + spec.index_head_dim // 128 * 4)
    per_token = max(attention_peak_per_token(spec, par.tp), moe_peak_per_token(spec, par.tp, par.ep))
    return {"layer": tokens * per_token, "prefill_workspace": workspace, "indexer_prefill_buffer": indexer}


@record(frozen=True)
class V4Terms:
    """runtimes/vllm.py's weights and forward-peak terms for a V4 launch, with their parts."""

    weights_bytes: int
    forward_peak_bytes: int
    parts: Dict[str, int]


def memory_terms(spec: ModelSpec, tp: int, ep: bool, max_num_batched_tokens: int, max_model_len: int,
                 mtp_draft: bool) -> V4Terms:
    """Weights one GPU holds (main model, plus the MTP draft with --speculative-config method mtp:
    the drafter is loaded in the same process and its load counts in "Model loading took") and the
    dummy forward's torch peak. The drafter's own dummy run (one decoder layer) stays below the
    target's forward peak, so only its weights are added."""
    par = V4Parallel(tp, ep, max_num_batched_tokens)

    def load() -> Dict[str, int]:
        out = dict(weights_bytes(spec, par))
        if mtp_draft:
            out.update(mtp_draft_bytes(spec, par))
        return out

    # memo.py: the survey and the planner ask for the same layout many times
    parts = dict(memo("vllm_v4.weights", (spec, par, mtp_draft), load))
    weights = sum(parts.values())
    fwd = forward_peak_bytes(spec, max_num_batched_tokens, max_model_len, par)
    parts.update({"forward_" + k: v for k, v in fwd.items()})
    return V4Terms(weights, sum(fwd.values()), parts)
