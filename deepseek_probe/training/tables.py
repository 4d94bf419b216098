"""Fine-tuning tables for docs/requirements.md (issue 22 item 6) and the guides' three training
claims checked against the accounting. Deterministic: catalog order, no timestamps.

For each model: full, LoRA and QLoRA at 2K and 8K tokens, micro-batch 1 and 8, on one GPU and
with ZeRO-3 over 8 (derived, not measured), with Trainer 5.x defaults otherwise (bf16 load,
adamw_torch_fused, checkpointing off except QLoRA); LoRA and QLoRA at r16 on all-linear
(LLaMA-Factory's default `lora_target: all`; peft has no q_proj,v_proj default for MLA models).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

from deepseek_probe.profiles import ModelSpec, all_models, get_model
from deepseek_probe.training.accounting import training_memory
from deepseek_probe.training.modules import FAMILIES
from deepseek_probe.training.workload import make_workload
from deepseek_probe.records import record

GiB = 1 << 30
METHODS = ("full", "lora", "qlora")
SEQS = (2048, 8192)
BATCHES = (1, 8)


@record(frozen=True)
class Row:
    model: str
    method: str
    seq_len: int
    micro_batch: int
    one_gpu_bytes: int
    zero3_8_bytes: int  # per GPU, ZeRO-3 over 8 (derived)
    host_ram_offload_bytes: int  # ZeRO-3 over 8 with the optimizer offloaded


def _models() -> List[ModelSpec]:
    return [m for m in all_models(include_2026=False) if m.family in FAMILIES]


def rows(models: Sequence[ModelSpec] = ()) -> List[Row]:
    out: List[Row] = []
    for spec in models or _models():
        for method in METHODS:
            for seq in SEQS:
                for b in BATCHES:
                    lora = dict(lora_rank=16, lora_targets=("all-linear",)) if method != "full" else {}
                    w = make_workload(method=method, micro_batch=b, seq_len=seq, **lora)
                    one = training_memory(spec, w).peak_bytes
                    z3 = training_memory(spec, w.with_(gpus=8, strategy="zero3")).peak_bytes
                    off = training_memory(spec, w.with_(gpus=8, strategy="zero3", offload="optimizer"))
                    out.append(Row(spec.id, method, seq, b, one, z3, off.host_ram_bytes))
    return out


def markdown(models: Sequence[ModelSpec] = ()) -> str:
    lines = ["| model | method | seq | micro-batch | 1 GPU (GiB) | ZeRO-3 x 8, per GPU (GiB, derived) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows(models):
        lines.append(f"| {r.model} | {r.method} | {r.seq_len} | {r.micro_batch} | {r.one_gpu_bytes / GiB:.1f} | "
                     f"{r.zero3_8_bytes / GiB:.1f} |")
    return "\n".join(lines) + "\n"


@record(frozen=True)
class ClaimCheck:
    claim: str
    command: str
    ours: str
    verdict: str


def guide_claims() -> Tuple[ClaimCheck, ...]:
    """The three training claims of the hardware guides quoted in issue 22, each against the
    command that reproduces it."""
    s7 = get_model("7b")
    full7 = make_workload(method="full", micro_batch=1, seq_len=2048, load_precision="fp32",
                          gradient_checkpointing=True)
    z3_4 = training_memory(s7, full7.with_(gpus=4, strategy="zero3")).peak_bytes
    one = training_memory(s7, full7).peak_bytes
    lora = training_memory(s7, make_workload(method="lora", micro_batch=1, seq_len=2048,
                                             gradient_checkpointing=True)).peak_bytes
    c1 = ClaimCheck(
        "DeepSeek-7B training needs at least 4xA100 40GB",
        "deepseek-probe estimate --model deepseek-llm-7b --train full --precision fp32 --batch 1 "
        "--seq-len 2048 --gradient-checkpointing --gpus 4 --strategy zero3",
        f"full, ZeRO-3 over 4: {z3_4 / GiB:.1f} GiB per GPU (one GPU: {one / GiB:.1f} GiB); "
        f"LoRA on one GPU: {lora / GiB:.1f} GiB",
        "depends on the method: a full fine-tune needs several 40 GB cards, a LoRA fits one 24 GB card"
        if lora < 24 * GiB else "partly: a full fine-tune needs several cards")
    p = s7.params
    bf16_full = training_memory(s7, make_workload(method="full", micro_batch=1, seq_len=2048,
                                                  gradient_checkpointing=True)).peak_bytes
    c2 = ClaimCheck(
        "VRAM = parameters x 2.5 (FP16) or x 1.25 (BF16)",
        "deepseek-probe estimate --model deepseek-llm-7b --train full --batch 1 --seq-len 2048 "
        "--gradient-checkpointing",
        f"pure bf16 full fine-tune: {bf16_full / p:.1f} bytes per parameter; the rule gives 1.25",
        "wrong: bf16 and fp16 are both 2 bytes per weight, and AdamW adds gradients and two states")
    full_b = training_memory(s7, full7)
    states = full_b.term("weights") + full_b.term("gradients") + full_b.term("optimizer_states")
    c3 = ClaimCheck(
        "With Adam in FP32, the memory is 3x the parameters (model + gradients + momentum)",
        "deepseek-probe estimate --model deepseek-llm-7b --train full --precision fp32 --batch 1 "
        "--seq-len 2048 --gradient-checkpointing",
        f"fp32 weights + gradients + AdamW's two states: {states / p:.0f} bytes per parameter = "
        f"{states / (4 * p):.0f}x the fp32 weights, before activations",
        "wrong: AdamW keeps two states (exp_avg and exp_avg_sq), so 4x, not 3x")
    return (c1, c2, c3)
