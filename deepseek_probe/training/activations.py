"""Tensors autograd saves for backward in one decoder layer, per token, as transformers 5.17 runs it
under Trainer's bf16 autocast (accelerate wraps forward in torch.autocast(bfloat16)).

Rules used (each from the code that decides it):
- torch autograd saves an operand only when the other side needs a gradient
  (tools/autograd/derivatives.yaml: mul saves `other` for `self`'s grad and vice versa; linear /
  mm save the input only for the weight's grad; silu saves its input; softmax / log_softmax save
  their output; `.to()` saves nothing).
- autocast (aten/src/ATen/autocast_mode.cpp, lower_precision_fp list: linear, matmul,
  scaled_dot_product_attention) casts fp32 activations to bf16 per call, a fresh copy per
  linear, saved by that linear when it saves its input.
- LlamaRMSNorm / Qwen2RMSNorm.forward (modeling_llama.py): `x.to(float32)`, `pow(2).mean`,
  `x * rsqrt(var)`, `weight * x.to(input_dtype)`.
- peft lora.Linear.forward (peft/tuners/lora/layer.py): result = base_layer(x) +
  lora_B(lora_A(dropout(x))) * scaling, dropout 0 = nn.Identity, so lora_A saves x (cast to bf16
  under autocast: peft keeps adapters fp32, `autocast_adapter_dtype=True`).
- bitsandbytes Linear4bit.forward (bitsandbytes/nn/modules.py): `x.to(compute_dtype)`, then
  MatMul4Bit (autograd/_functions.py) keeps only the weight (`ctx.tensors = (None, B)`) and
  returns the output in the input's dtype, so QLoRA's residual stream stays fp32 (peft
  prepare_model_for_kbit_training casted embeddings and norms to fp32).
- sdpa (torch flash / memory-efficient backends, transformers integrations/sdpa_attention.py):
  saves q, k, v, the output and a fp32 logsumexp per head; with no padding mask GQA runs
  `enable_gqa` (no repeat_kv copies). eager (modeling_llama.py eager_attention_forward):
  repeat_kv copies, fp32 softmax output (4 B) + its bf16 copy (2 B) per head per key.
- MoE (integrations/moe.py grouped_mm, DeepseekV2Moe.forward): per routed copy of a token the
  gathered input, gate_up output, act and product, down output.

Widths are counted per token; `res` is the residual-stream byte width: 4 for fp32 master weights
(fp32 + bf16 adds promote to fp32) and for QLoRA (fp32 embeddings), 2 for pure bf16.
"""

from __future__ import annotations

from typing import FrozenSet, Tuple

from deepseek_probe.profiles import ModelSpec
from deepseek_probe.training.modules import expert_lora_params, lora_targets
from deepseek_probe.training.workload import TrainingWorkload
from deepseek_probe.records import record


@record(frozen=True)
class Regime:
    """What decides which tensors are saved: dtypes and which weights need gradients."""

    res: int  # residual stream bytes (4 fp32, 2 bf16)
    quant: bool  # base linears are bitsandbytes Linear4bit
    full: bool  # every weight trainable
    lora: FrozenSet[str]  # LoRA-wrapped module names
    attention: str
    experts_lora: bool = False  # MoE: fused experts wrapped by peft lora.ParamWrapper
    expert_bytes: int = 2  # dtype of the fused expert stack (fp32 after prepare_model_for_kbit_training)

    def trains(self, name: str) -> bool:
        return self.full or name in self.lora


def regime(spec: ModelSpec, w: TrainingWorkload) -> Regime:
    lora: FrozenSet[str] = frozenset()
    experts = False
    if w.method != "full":
        lora = frozenset(m.name for m in lora_targets(spec, w.lora_targets))
        experts = spec.is_moe and expert_lora_params(spec, w.lora_targets, 1) > 0
    res = 4 if (w.load_precision == "fp32" or w.method == "qlora") else 2
    eb = 4 if (w.load_precision == "fp32" or w.method == "qlora") else 2
    return Regime(res, w.method == "qlora", w.method == "full", lora, w.attention, experts, eb)


def _linear_inputs(r: Regime, names: Tuple[str, ...], in_width: int) -> int:
    """Bytes saved per token for the input of the linears `names` that share one input tensor."""
    if r.quant:
        # Linear4bit's bf16 copy of its input is not kept (bitsandbytes 0.50 MatMul4Bit.forward
        # saves only the weight); each LoRA A saves its own autocast bf16 copy
        return sum(2 * in_width for n in names if n in r.lora)
    trained = [n for n in names if r.trains(n)]
    if not trained:
        return 0
    if r.res == 4:  # fp32 input: autocast makes one bf16 copy per linear that saves it
        return 2 * in_width * len(trained)
    return 2 * in_width  # bf16 input: one shared tensor


def _norm(r: Regime, width: int) -> int:
    """RMSNorm: the fp32 input (pow saves it) + `x.to(input_dtype)` when the weight trains."""
    saved = 4 * width
    if r.full:
        saved += r.res * width if r.res == 2 else 4 * width  # bf16 copy, or the fp32 product input
    return saved


def _mlp(r: Regime, h: int, inter: int, names: Tuple[str, str, str] = ("gate_proj", "up_proj", "down_proj")) -> int:
    g, u, d = names
    out_b = 4 if r.quant else 2  # Linear4bit returns the (fp32) input dtype; autocast linear bf16
    saved = _linear_inputs(r, (g, u), h)
    saved += 3 * out_b * inter  # gate (silu input), up and act (mul operands)
    prod_b = out_b
    if r.quant:
        saved += _linear_inputs(r, (d,), inter)
    elif r.trains(d):
        saved += prod_b * inter
    return saved


def _attention(spec: ModelSpec, r: Regime, tokens_per_seq: int) -> int:
    h = spec.hidden
    if spec.is_mla:
        qk = spec.qk_nope_head_dim + spec.qk_rope_head_dim
        qd, kd, vd = spec.heads * qk, spec.heads * qk, spec.heads * spec.v_head_dim
        q_names = ("q_a_proj",) if spec.q_lora_rank else ("q_proj",)
        saved = _linear_inputs(r, q_names + ("kv_a_proj_with_mqa",), h)
        if spec.q_lora_rank:
            saved += _norm(r, spec.q_lora_rank) + _linear_inputs(r, ("q_b_proj",), spec.q_lora_rank)
        saved += _norm(r, spec.kv_lora_rank) + _linear_inputs(r, ("kv_b_proj",), spec.kv_lora_rank)
        heads, kv_heads = spec.heads, spec.heads
    else:
        qd = spec.heads * spec.head_dim
        kd = vd = spec.kv_heads * spec.head_dim
        saved = _linear_inputs(r, ("q_proj", "k_proj", "v_proj"), h)
        heads, kv_heads = spec.heads, spec.kv_heads
    out_w = vd if spec.is_mla else qd
    saved += 2 * (qd + kd + vd) + 2 * out_w + 4 * heads  # sdpa: q, k, v, out, logsumexp
    if r.attention == "eager":
        rep = heads // max(kv_heads, 1)
        saved += 2 * (kd + vd) * (rep - 1) if rep > 1 else 0  # repeat_kv copies
        saved += 6 * heads * tokens_per_seq  # fp32 softmax + bf16 copy: a full S x S score row per head
        saved -= 4 * heads  # no logsumexp
    saved += _linear_inputs(r, ("o_proj",), out_w) if (r.quant or r.trains("o_proj")) else 0
    return saved


def _moe(spec: ModelSpec, r: Regime) -> int:
    h, mi, k = spec.hidden, spec.moe_intermediate, spec.experts_per_token
    saved = 4 * h if r.full else 0  # router: fp32 copy of the input, saved for the router weight's grad
    saved += 4 * spec.routed_experts  # router softmax output
    trains = r.full or r.experts_lora  # grouped_mm saves its inputs for the expert weights' grad
    per_copy = 2 * h * trains + 3 * 2 * mi + 2 * mi * trains + 2 * h
    saved += k * per_copy
    if spec.shared_experts:
        saved += _mlp(r, h, mi * spec.shared_experts)
    return saved


def layer_saved_per_token(spec: ModelSpec, r: Regime, seq_len: int, moe: bool) -> int:
    """Bytes one decoder layer keeps for backward per token (no checkpointing)."""
    saved = _norm(r, spec.hidden) + _attention(spec, r, seq_len) + _norm(r, spec.hidden)
    if moe:
        saved += _moe(spec, r)
    else:
        saved += _mlp(r, spec.hidden, spec.intermediate)
    return saved


def saved_bytes(spec: ModelSpec, w: TrainingWorkload) -> Tuple[int, int]:
    """(bytes held for backward over the whole model at the end of the forward, bytes of the one
    layer recomputed at a time under checkpointing), for one micro-batch."""
    r = regime(spec, w)
    t = w.micro_batch * w.seq_len
    per_dense = layer_saved_per_token(spec, r, w.seq_len, False)
    per_moe = layer_saved_per_token(spec, r, w.seq_len, True) if spec.is_moe else 0
    layers = spec.dense_layers * per_dense + spec.moe_layers * per_moe
    one = max(per_dense if spec.dense_layers else 0, per_moe)
    # peft lora.ParamWrapper on the fused experts (modules.py): _LoraFactorsProxy.forward builds
    # W + scaling * lhs @ rhs (torch.baddbmm) in the experts' dtype for every MoE layer; grouped_mm
    # keeps that merged stack for the input's gradient, and backward makes its gradient, as large
    merged = 0
    if r.experts_lora:
        merged = spec.routed_experts * 3 * spec.hidden * spec.moe_intermediate * r.expert_bytes
    if w.checkpointing:
        # transformers GradientCheckpointingLayer: each layer keeps only its input hidden state;
        # backward recomputes one layer at a time
        return spec.layers * r.res * spec.hidden * t, one * t + 2 * merged
    return layers * t + spec.moe_layers * merged, merged
