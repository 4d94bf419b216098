"""The parameter tensors of a catalog model as transformers 5.x builds them, and which of them
LoRA, bitsandbytes and peft touch.

Module names and shapes follow transformers 5.17 modeling files:
- llama / qwen2 (modeling_llama.py LlamaAttention, LlamaMLP; modeling_qwen2.py: q/k/v bias):
  q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, all nn.Linear;
- deepseek_v2 / deepseek_v3 (modeling_deepseek_v2.py DeepseekV2Attention, DeepseekV2Moe,
  DeepseekV2Experts): q_proj or q_a_proj + q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj
  (nn.Linear); dense MLP and shared_experts gate/up/down (nn.Linear); the routed experts FUSED as
  two nn.Parameter tensors `gate_up_proj` [E, 2I, h] and `down_proj` [E, h, I]; the router
  `mlp.gate.weight` an nn.Parameter.
What follows from that:
- peft "all-linear" (peft/tuners/tuners_utils.py `_maybe_include_all_linear_layers`) targets every
  nn.Linear / bnb Linear4bit except the output layer;
- on deepseek_v2 / deepseek_v3 (transformers conversion_mapping.py: both "qwen2_moe"-style) peft
  rewrites the targets for the fused experts (peft utils/transformers_weight_conversion.py
  `_convert_peft_config_moe`, mapping gate -> gate.weight, gate_proj/up_proj -> gate_up_proj,
  down_proj -> down_proj; "all-linear" adds all four): the routed experts and the router get
  LoRA through lora.ParamWrapper (A: in x r*E, B: r*E x out; gate_up_proj at rank 2r), and the
  names gate_proj/up_proj/down_proj leave target_modules, so the dense MLP and the shared
  experts get none. Measured: trainable counts of c33 / c35 / c37 (benchmarks/training/);
- bitsandbytes 4-bit (transformers integrations/bitsandbytes.py `replace_with_bnb_linear`)
  replaces only nn.Linear, lm_head kept: the fused experts, embeddings, norms and router stay in
  the load dtype, and peft `prepare_model_for_kbit_training` (peft/utils/other.py) then casts
  every fp16/bf16 parameter that is not Params4bit to fp32.
"""

from __future__ import annotations

from typing import List, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.records import record

FAMILIES = ("llama", "qwen2", "deepseek_v2", "deepseek_v3")


@record(frozen=True)
class Linear:
    """One nn.Linear kind of a model: `count` copies of an (out x in) weight."""

    name: str  # the module's own name (what peft's target_modules match as a suffix)
    in_features: int
    out_features: int
    count: int
    part: str  # attn | mlp | shared | head

    @property
    def params(self) -> int:
        return self.in_features * self.out_features * self.count


@record(frozen=True)
class ModelTensors:
    """Every parameter of the model, grouped by what training does to it."""

    linears: Tuple[Linear, ...]  # nn.Linear modules in the decoder layers (LoRA / 4-bit candidates)
    fused_experts: int  # routed-expert parameters held as fused nn.Parameter tensors
    embeddings: int  # embed_tokens + lm_head (one matrix when tied)
    other: int  # norms, biases, routers: never quantized, never LoRA-targeted
    vocab: int = 0
    hidden: int = 0
    embedding_matrices: int = 2  # embed_tokens + lm_head, 1 when tied
    fused_vectors: int = 0  # row + column lengths of the fused expert tensors (Adafactor factors)

    @property
    def linear_params(self) -> int:
        return sum(m.params for m in self.linears)

    @property
    def total(self) -> int:
        return self.linear_params + self.fused_experts + self.embeddings + self.other


def check_family(spec: ModelSpec) -> None:
    if spec.family not in FAMILIES:
        raise InputError(f"fine-tuning memory is modelled for {', '.join(FAMILIES)} models, "
                         f"not {spec.family} ({spec.id})")


def tensors(spec: ModelSpec) -> ModelTensors:
    check_family(spec)
    h = spec.hidden
    lin: List[Linear] = []
    L = spec.layers
    if spec.is_mla:
        qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim
        if spec.q_lora_rank:
            lin += [Linear("q_a_proj", h, spec.q_lora_rank, L, "attn"),
                    Linear("q_b_proj", spec.q_lora_rank, spec.heads * qk, L, "attn")]
        else:
            lin += [Linear("q_proj", h, spec.heads * qk, L, "attn")]
        lin += [Linear("kv_a_proj_with_mqa", h, spec.kv_lora_rank + spec.qk_rope_head_dim, L, "attn"),
                Linear("kv_b_proj", spec.kv_lora_rank, spec.heads * (spec.qk_nope_head_dim + spec.v_head_dim),
                       L, "attn"),
                Linear("o_proj", spec.heads * spec.v_head_dim, h, L, "attn")]
    else:
        q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
        lin += [Linear("q_proj", h, q, L, "attn"), Linear("k_proj", h, kv, L, "attn"),
                Linear("v_proj", h, kv, L, "attn"), Linear("o_proj", q, h, L, "attn")]
    dense = spec.dense_layers
    if dense:
        lin += [Linear("gate_proj", h, spec.intermediate, dense, "mlp"),
                Linear("up_proj", h, spec.intermediate, dense, "mlp"),
                Linear("down_proj", spec.intermediate, h, dense, "mlp")]
    fused = fused_vec = 0
    if spec.is_moe:
        ml, mi, e = spec.moe_layers, spec.moe_intermediate, spec.routed_experts
        fused = e * 3 * h * mi * ml
        fused_vec = ml * e * ((2 * mi + h) + (h + mi))  # gate_up [E, 2I, h], down [E, h, I]
        if spec.shared_experts:
            si = spec.moe_intermediate * spec.shared_experts
            lin += [Linear("gate_proj", h, si, ml, "shared"), Linear("up_proj", h, si, ml, "shared"),
                    Linear("down_proj", si, h, ml, "shared")]
    other = spec.params - sum(m.params for m in lin) - fused - spec.embedding_params
    return ModelTensors(tuple(lin), fused, spec.embedding_params, other, spec.vocab, h,
                        1 if spec.tie_embeddings else 2, fused_vec)


MOE_REMAPPED = ("gate", "gate_proj", "up_proj", "down_proj")  # peft _MOE_TARGET_MODULE_MAPPING["qwen2_moe"]


def _wanted(spec: ModelSpec, targets: Tuple[str, ...]) -> Tuple[set, set]:
    """(Linear module names peft wraps, MoE names it moves to the fused experts / router)."""
    mods = tensors(spec).linears
    names = {m.name for m in mods} if targets == ("all-linear",) else set(targets)
    moved = set()
    if spec.is_moe:
        moved = names & set(MOE_REMAPPED) if targets != ("all-linear",) else set(MOE_REMAPPED)
        if ("gate_proj" in moved) != ("up_proj" in moved):
            raise InputError("LoRA on an MoE model: gate_proj and up_proj are fused into gate_up_proj; "
                             "target both or neither (peft _convert_peft_config_moe)")
        names -= set(MOE_REMAPPED)
    return names, moved


def expert_lora_params(spec: ModelSpec, targets: Tuple[str, ...], rank: int) -> int:
    """LoRA parameters on the fused experts and the router (lora.ParamWrapper, peft >= 0.18)."""
    _, moved = _wanted(spec, targets)
    h, mi, e, ml = spec.hidden, spec.moe_intermediate, spec.routed_experts, spec.moe_layers
    n = 0
    if "gate_proj" in moved:  # gate_up_proj [E, 2I, h] at rank 2r (rank_pattern r x 2)
        n += 2 * rank * e * (h + 2 * mi)
    if "down_proj" in moved:  # down_proj [E, h, I]
        n += rank * e * (mi + h)
    if "gate" in moved:  # router weight [E, h], one "expert"
        n += rank * (h + e)
    return n * ml


def lora_targets(spec: ModelSpec, targets: Tuple[str, ...]) -> Tuple[Linear, ...]:
    """The Linear kinds peft wraps for `target_modules` (suffix match, peft check_target_module_exists)."""
    mods = tensors(spec).linears
    names, moved = _wanted(spec, targets)
    hit = tuple(m for m in mods if m.name in names)
    if not hit and not moved:
        names = sorted({m.name for m in mods})
        raise InputError(f"LoRA targets {','.join(targets)} match no module of {spec.id} "
                         f"(its linear modules: {','.join(names)})")
    return hit


def lora_params(spec: ModelSpec, targets: Tuple[str, ...], rank: int) -> int:
    """Trainable LoRA parameters: A (r x in) + B (out x r) per targeted module (peft lora/layer.py
    LoraLayer.update_layer), plus the fused-expert / router adapters on MoE models."""
    linear = sum(rank * (m.in_features + m.out_features) * m.count for m in lora_targets(spec, targets))
    return linear + expert_lora_params(spec, targets, rank)


def unmatched_targets(spec: ModelSpec, targets: Tuple[str, ...]) -> Tuple[str, ...]:
    """Target names that match nothing (peft ignores them while at least one matches)."""
    if targets == ("all-linear",):
        return ()
    names = {m.name for m in tensors(spec).linears} | (set(MOE_REMAPPED) if spec.is_moe else set())
    return tuple(t for t in targets if t not in names)
