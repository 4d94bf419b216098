"""Largest micro-batch / longest sequence that fit, and fixes, each re-assessed by the accounting.

Every figure here comes from `training_memory` run again on the changed workload: nothing is
scaled or guessed. The searches rely on the peak growing with batch and sequence (it does: every
activation and logits term is a non-negative multiple of tokens), and are tested against a
linear scan.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from deepseek_probe.profiles import ModelSpec
from deepseek_probe.training.accounting import training_memory
from deepseek_probe.training.workload import TrainingWorkload
from deepseek_probe.records import record

GiB = 1 << 30
SEQ_STEP = 128  # sequence answers in multiples of 128 tokens


def fits(spec: ModelSpec, w: TrainingWorkload, budget: int) -> bool:
    return training_memory(spec, w).peak_bytes <= budget


def _largest(lo: int, hi: int, ok) -> Optional[int]:
    """Largest x in [lo, hi] with ok(x), given ok is monotone (True then False); None if none."""
    if not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def max_micro_batch(spec: ModelSpec, w: TrainingWorkload, budget: int, cap: int = 4096) -> Optional[int]:
    """The largest micro-batch per GPU at w.seq_len whose peak fits `budget` bytes."""
    return _largest(1, cap, lambda b: fits(spec, w.with_(micro_batch=b), budget))


def max_seq_len(spec: ModelSpec, w: TrainingWorkload, budget: int, cap: Optional[int] = None) -> Optional[int]:
    """The longest sequence (a multiple of 128, at most the model's context) that fits."""
    top = (cap or spec.max_context) // SEQ_STEP
    n = _largest(1, max(1, top), lambda k: fits(spec, w.with_(seq_len=k * SEQ_STEP), budget))
    return n * SEQ_STEP if n else None


@record(frozen=True)
class Fix:
    label: str  # e.g. "gradient checkpointing -> 31.2 GiB"
    workload: TrainingWorkload
    peak_bytes: int
    fits: bool


def _gib(b: int) -> str:
    return f"{b / GiB:.1f} GiB"


def fixes(spec: ModelSpec, w: TrainingWorkload, budget: int, max_gpus: int = 8) -> List[Fix]:
    """Changes that bring the peak under `budget`, each with its re-assessed per-GPU peak.
    Only changes that fit are returned, cheapest-to-apply first; a change that does not fit alone
    is tried once more with gradient checkpointing added."""
    cands: List[Tuple[str, TrainingWorkload]] = []
    if not w.checkpointing:
        cands.append(("gradient checkpointing", w.with_(gradient_checkpointing=True)))
    if w.micro_batch > 1:
        for b in (w.micro_batch // 2, 1):
            acc = w.gradient_accumulation * max(1, w.micro_batch // b)
            cands.append((f"batch {b} x accumulation {acc}",
                          w.with_(micro_batch=b, gradient_accumulation=acc)))
    if w.optimizer == "adamw":
        cands.append(("paged 8-bit AdamW", w.with_(optimizer="paged_adamw_8bit")))
    if w.method == "full" and w.load_precision == "fp32":
        cands.append(("pure bf16 weights", w.with_(load_precision="bf16")))
    if w.method == "full":
        cands.append(("LoRA", w.with_(method="lora", explicit=())))
    if w.method in ("full", "lora"):
        cands.append(("QLoRA", w.with_(method="qlora", load_precision="bf16", explicit=())))
    if w.gpus == 1 or w.strategy != "zero3":
        for n in (2, 4, 8):
            if n <= max_gpus and n >= w.gpus:
                cands.append((f"ZeRO-3 over {n} GPUs", w.with_(gpus=n, strategy="zero3")))
    if w.strategy in ("zero2", "zero3") and w.offload == "none":
        cands.append(("offload the optimizer to CPU", w.with_(offload="optimizer")))
    if w.micro_batch > 1:  # a lighter method or sharding at micro-batch 1 (accumulation keeps the batch)
        acc = w.gradient_accumulation * w.micro_batch
        light = [(lbl, cw) for lbl, cw in cands if lbl in ("LoRA", "QLoRA") or lbl.startswith("ZeRO-3")]
        cands += [(f"{lbl}, batch 1 x accumulation {acc}", cw.with_(micro_batch=1, gradient_accumulation=acc))
                  for lbl, cw in light]
    out: List[Fix] = []
    for label, cw in cands:
        peak = training_memory(spec, cw).peak_bytes
        if peak <= budget:
            out.append(Fix(f"{label} -> {_gib(peak)}", cw, peak, True))
        elif not cw.checkpointing:  # the same change with checkpointing on top
            cg = cw.with_(gradient_checkpointing=True)
            peak = training_memory(spec, cg).peak_bytes
            if peak <= budget:
                out.append(Fix(f"{label} + gradient checkpointing -> {_gib(peak)}", cg, peak, True))
    return out
