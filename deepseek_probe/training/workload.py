"""The fine-tuning question: what the user will run, with Hugging Face Trainer 5.x + peft defaults.

Defaults (each from the library that owns it):
- optimizer: `adamw_torch_fused` (transformers 5.x training_args.py, TrainingArguments.optim:
  "adamw_torch_fused" when torch >= 2.8) -> "adamw" here, states in the parameter's dtype;
- gradient checkpointing off (TrainingArguments.gradient_checkpointing = False), except QLoRA,
  where peft's `prepare_model_for_kbit_training(use_gradient_checkpointing=True)` turns it on;
- micro-batch 8 (TrainingArguments.per_device_train_batch_size = 8), accumulation 1;
- LoRA alpha = 2 x rank (issue 22's default; peft LoraConfig.lora_alpha defaults to 8), dropout 0,
  targets q_proj,v_proj (peft utils/constants.py TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
  for llama and qwen2); rank 8 (peft LoraConfig.r);
- attention: sdpa (transformers PreTrainedModel._check_and_adjust_attn_implementation picks sdpa
  when torch supports it).
"""

from __future__ import annotations

from typing import Optional, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.records import field, record, replace

METHODS = ("full", "lora", "qlora")
LOAD_PRECISIONS = ("fp32", "bf16")
OPTIMIZERS = ("adamw", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd")
STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp")
OFFLOADS = ("none", "optimizer", "params")
ATTENTION = ("sdpa", "flash", "eager")

# peft utils/constants.py TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING: llama, qwen2 ->
# ["q_proj", "v_proj"]; deepseek_v2 has no entry there, so peft asks for explicit targets.
DEFAULT_LORA_TARGETS: Tuple[str, ...] = ("q_proj", "v_proj")


class TrainingInputError(InputError):
    """A training workload that cannot be run as given (exit 64, one line)."""


@record(frozen=True)
class TrainingWorkload:
    """One fine-tuning run, per GPU. Every field has Trainer 5.x / peft's default."""

    method: str = "lora"
    micro_batch: int = 8
    seq_len: int = 2048
    gradient_checkpointing: Optional[bool] = None  # None: the library default (QLoRA on, else off)
    lora_rank: int = 8
    lora_alpha: Optional[int] = None  # None: 2 x rank
    lora_targets: Tuple[str, ...] = DEFAULT_LORA_TARGETS  # or ("all-linear",)
    load_precision: str = "bf16"  # fp32 = fp32 master weights + bf16 autocast; bf16 = pure bf16
    optimizer: str = "adamw"
    gradient_accumulation: int = 1
    gpus: int = 1
    strategy: str = "ddp"
    offload: str = "none"
    attention: str = "sdpa"
    packing: bool = False  # fixed-length packed rows: seq_len tokens every row (we assume so anyway)
    double_quant: bool = True  # QLoRA: bnb_4bit_use_double_quant (issue 22's QLoRA recipe)
    explicit: Tuple[str, ...] = field(default=(), compare=False)  # fields the user set (for errors)

    @property
    def checkpointing(self) -> bool:
        if self.gradient_checkpointing is None:
            return self.method == "qlora"
        return self.gradient_checkpointing

    @property
    def alpha(self) -> int:
        return self.lora_alpha if self.lora_alpha is not None else 2 * self.lora_rank

    @property
    def tokens(self) -> int:
        return self.micro_batch * self.seq_len

    def with_(self, **kw: object) -> "TrainingWorkload":
        return validate(replace(self, **kw))  # type: ignore[arg-type]


def _positive(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TrainingInputError(f"{name} must be a whole number, got {v!r}")
    if v < 1:
        raise TrainingInputError(f"{name} must be at least 1, got {v}")
    return v


def _one_of(name: str, v: str, allowed: Tuple[str, ...]) -> None:
    if v not in allowed:
        raise TrainingInputError(f"{name} {v!r} is not one of {', '.join(allowed)}")


def validate(w: TrainingWorkload) -> TrainingWorkload:
    """The workload if it can run as given, else TrainingInputError with one line."""
    _one_of("--train", w.method, METHODS)
    _one_of("--precision", w.load_precision, LOAD_PRECISIONS)
    _one_of("--optimizer", w.optimizer, OPTIMIZERS)
    _one_of("--strategy", w.strategy, STRATEGIES)
    _one_of("--offload", w.offload, OFFLOADS)
    _one_of("--attention", w.attention, ATTENTION)
    _positive("--batch", w.micro_batch)
    _positive("--seq-len", w.seq_len)
    _positive("--gradient-accumulation", w.gradient_accumulation)
    _positive("--gpus", w.gpus)
    _positive("--lora-rank", w.lora_rank)
    if w.lora_alpha is not None:
        _positive("--lora-alpha", w.lora_alpha)
    if w.method == "full":
        lora_flags = [f for f in w.explicit if f in ("lora_rank", "lora_alpha", "lora_targets")]
        if lora_flags:
            raise TrainingInputError(f"--{lora_flags[0].replace('_', '-')} needs --train lora or qlora, not full")
    if not w.lora_targets or any(not t for t in w.lora_targets):
        raise TrainingInputError("--lora-targets is empty")
    if "all-linear" in w.lora_targets and len(w.lora_targets) > 1:
        raise TrainingInputError("--lora-targets all-linear cannot be combined with module names")
    if w.offload != "none" and w.strategy not in ("zero2", "zero3", "zero1", "fsdp"):
        raise TrainingInputError(f"--offload {w.offload} needs --strategy zero1/zero2/zero3 or fsdp")
    if w.offload == "params" and w.strategy not in ("zero3", "fsdp"):
        raise TrainingInputError("--offload params needs --strategy zero3 or fsdp (parameters must be sharded)")
    if w.method == "qlora" and w.strategy in ("zero3",) and w.offload == "params":
        raise TrainingInputError("QLoRA 4-bit weights cannot be offloaded by ZeRO-3 (bitsandbytes Params4bit)")
    return w


def make_workload(**kw: object) -> TrainingWorkload:
    """A validated workload; `explicit` records which fields the caller set."""
    names = tuple(k for k in kw if k != "explicit")
    w = TrainingWorkload(**kw, explicit=names)  # type: ignore[arg-type]
    return validate(w)
