"""Weights on one GPU when a torch serving runtime (vLLM, SGLang) shards a model with tensor
parallelism: which matrices split, which are replicated, what the MLA post-load step adds.

Both runtimes build DeepSeek and Llama/Qwen layers the same way (their models/deepseek_v2.py and
models/llama.py / qwen2.py: column/row-parallel linears, vocab-parallel embedding and LM head,
replicated MLA down-projections and MoE router), so the arithmetic is shared here; what differs
(KV pool, budgets, defaults) stays in each runtime's module.
"""

from __future__ import annotations

from typing import Tuple

from deepseek_probe.profiles import PRECISIONS, ModelSpec, weight_bytes


def linear_byte_rate(spec: ModelSpec, precision: str) -> float:
    """Bytes per linear weight at `precision`, scales included (profiles.weight_bytes: fp8 128x128
    block scales, int4 group-128 scales and zeros, int8 per-row scales)."""
    p = PRECISIONS[precision]
    if p.kind == "float":
        return p.bits / 8
    other = spec.params - spec.linear_params
    return (weight_bytes(spec, precision) - 2 * other) / spec.linear_params


def attention_linear_params(spec: ModelSpec) -> Tuple[int, int]:
    """(sharded, replicated) attention linear params over all layers. DeepSeek MLA
    (DeepseekV2MLAAttention in both runtimes): the q_a_proj / kv_a_proj_with_mqa down-projections
    are ReplicatedLinear (fused as one replicated fused_qkv_a_proj when q_lora_rank is set);
    q_b_proj / q_proj, kv_b_proj and o_proj are TP-sharded."""
    h = spec.hidden
    if spec.is_mla:
        qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim
        rep = (spec.kv_lora_rank + spec.qk_rope_head_dim) * h
        sharded = spec.heads * (spec.qk_nope_head_dim + spec.v_head_dim) * spec.kv_lora_rank
        sharded += h * spec.heads * spec.v_head_dim
        if spec.q_lora_rank:
            rep += spec.q_lora_rank * h
            sharded += spec.heads * qk * spec.q_lora_rank
        else:
            sharded += spec.heads * qk * h
        return sharded * spec.layers, rep * spec.layers
    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    return (2 * q * h + 2 * kv * h) * spec.layers, 0


def rope_cache_bytes(spec: ModelSpec) -> int:
    """layers/rotary_embedding.py RotaryEmbedding.__init__ (vLLM and SGLang): one cos_sin_cache
    buffer of max_position x rotary_dim, fp32, shared by all layers (get_rope caches instances).
    Rotary dim: head_dim, qk_rope_head_dim for MLA (DeepseekScalingRotaryEmbedding spans
    original_max_position x factor = max_context)."""
    rot = spec.qk_rope_head_dim if spec.is_mla else spec.head_dim
    return spec.max_context * rot * 4


def mla_post_load_bytes(spec: ModelSpec, attn_tp: int) -> int:
    """MLA weight absorption after loading (vLLM MLACommonImpl.process_weights_after_loading
    W_UK_T / W_UV; SGLang DeepseekV2ForCausalLM.post_load_weights w_kc / w_vc): kv_b_proj is
    split into two new bf16 tensors of heads/TP x (qk_nope + v_head) x kv_lora_rank per layer,
    while kv_b_proj itself stays loaded."""
    if not spec.is_mla:
        return 0
    return (spec.heads // attn_tp) * (spec.qk_nope_head_dim + spec.v_head_dim) * spec.kv_lora_rank * 2 * spec.layers


def device_weight_bytes(spec: ModelSpec, precision: str, tp: int, attn_tp: int, pp: int = 1) -> Tuple[int, int]:
    """(weights on one GPU, of which MLA post-load copies). Linear weights split by TP (attention
    by the attention-TP size under DP attention); replicated: MLA a-projections, norms, the MoE
    router. The embedding and LM head are vocab-parallel. Plus the rotary cos/sin cache and the
    MLA absorbed copies. `pp` pipeline stages each hold layers / pp (the embedding sits on the
    first stage, the head on the last: vLLM get_pp_indices, PPMissingLayer): this returns the
    heaviest stage, taken as the average of the layers plus the larger end."""
    rate = linear_byte_rate(spec, precision)
    attn_sharded, attn_rep = attention_linear_params(spec)
    other_linear = spec.linear_params - attn_sharded - attn_rep
    lin = (other_linear / tp + attn_sharded / attn_tp + attn_rep) * rate
    float_b = 4 if precision == "fp32" else 2
    small = spec.params - spec.linear_params - spec.embedding_params  # norms, router, biases
    emb = spec.embedding_params * float_b / tp
    layers_part = lin + small * float_b
    if pp > 1:  # embedding params = input embedding (+ untied LM head): one end each
        ends = emb if spec.tie_embeddings else emb / 2
        total = layers_part / pp + ends
    else:
        total = layers_part + emb
    post = mla_post_load_bytes(spec, attn_tp) // pp
    return int(total) + rope_cache_bytes(spec) + post, post
