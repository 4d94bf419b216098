"""Fine-tuning memory per GPU, term by term, each with its source.

`training_memory(spec, workload)` returns what NVML will show as used by one training process at
its peak (the measured quantity of benchmarks/training/), plus host RAM for offload and disk for
one checkpoint save. Single-GPU terms follow the code of transformers 5.17 Trainer, peft,
bitsandbytes and torch; two constants (CUDA context and the allocator's fragmentation) are fitted
on the calibration cases of benchmarks/training/results.jsonl (calibration.py). Multi-GPU
sharding (sharding.py) is derived from DeepSpeed / torch FSDP source and labelled so.
"""

from __future__ import annotations

from typing import List, Tuple

from deepseek_probe.profiles import ModelSpec
from deepseek_probe.training.modules import ModelTensors, lora_params, tensors
from deepseek_probe.training.peak import ModelStates, Term, TrainingMemory, assemble
from deepseek_probe.training.workload import TrainingWorkload

# bitsandbytes functional.quantize_4bit: nf4 packs 2 weights per byte, one absmax per 64-weight
# block (Params4bit blocksize 64); double quant (compress_statistics) stores those absmax as 8-bit
# codes with one fp32 absmax + offset per 256 blocks (quantize_blockwise blocksize 256).
NF4_BYTES_PER_WEIGHT = 0.5 + 1 / 64 + 4 / (64 * 256)
NF4_PLAIN_BYTES_PER_WEIGHT = 0.5 + 4 / 64  # without double quant: one fp32 absmax per 64 weights
# bitsandbytes optim/optimizer.py Optimizer8bit.init_state: 8-bit blockwise states (blocksize
# 256, one fp32 absmax per block) for tensors of >= min_8bit_size = 4096 elements, 32-bit below.
ADAM8_BYTES_PER_STATE = 1 + 4 / 256


def model_states(spec: ModelSpec, w: TrainingWorkload) -> Tuple[ModelStates, List[Term]]:
    t = tensors(spec)
    load = 4 if w.load_precision == "fp32" else 2
    terms: List[Term] = []
    if w.method == "qlora":
        quant = int(t.linear_params * (NF4_BYTES_PER_WEIGHT if w.double_quant else NF4_PLAIN_BYTES_PER_WEIGHT))
        rest = (t.total - t.linear_params) * 4
        terms.append(Term("weights", quant, "nf4 + double quant of every decoder nn.Linear: bitsandbytes "
                          "functional.quantize_4bit (blocksize 64, compress_statistics); transformers "
                          "integrations/bitsandbytes.py replace_with_bnb_linear"))
        terms.append(Term("weights", rest, "embeddings, lm_head, norms, router"
                          + (", fused experts" if t.fused_experts else "") + " cast to fp32 by peft "
                          "utils/other.py prepare_model_for_kbit_training"))
        weights = quant + rest
    else:
        weights = t.total * load
        terms.append(Term("weights", weights, f"{t.total} params in the load dtype ({w.load_precision})"))
    if w.method == "full":
        trainable, tb, adapters = t.total, load, 0
    else:
        trainable = lora_params(spec, w.lora_targets, w.lora_rank)
        tb = 4  # peft get_peft_model(autocast_adapter_dtype=True) keeps adapters in fp32
        adapters = trainable * 4
        terms.append(Term("lora_adapters", adapters, f"LoRA A+B, r={w.lora_rank}, fp32: peft lora/layer.py "
                          "LoraLayer.update_layer, peft autocast_adapter_dtype"))
    grads = trainable * tb
    terms.append(Term("gradients", grads, "one gradient per trainable parameter, in its dtype "
                      "(torch autograd AccumulateGrad)"))
    opt, transient, src = _optimizer(w, trainable, tb, t)
    terms.append(Term("optimizer_states", opt, src))
    if transient:
        terms.append(Term("optimizer_step_transient", transient, "Adafactor.step (transformers "
                          "optimization.py): fp32 copy of a parameter, its update and grad**2"))
    cache = 0
    if w.load_precision == "fp32" and w.method != "qlora":
        lm = spec.vocab * spec.hidden
        cache = 2 * (t.linear_params + lm)
        # torch autocast_mode.cpp cached_cast: bf16 copies of leaf fp32 weights live until the
        # autocast region ends (or, without checkpointing, until backward frees the linear's save)
    states = ModelStates(weights, trainable, tb, adapters, grads, opt, transient, cache)
    return states, terms


def _optimizer(w: TrainingWorkload, trainable: int, tb: int, t: ModelTensors) -> Tuple[int, int, str]:
    if w.optimizer == "adamw":
        return (2 * trainable * tb, 0, "adamw_torch_fused: exp_avg + exp_avg_sq in the parameter's dtype "
                "(torch/optim/adamw.py _init_group zeros_like); the fused kernel updates in place")
    if w.optimizer in ("adamw_8bit", "paged_adamw_8bit"):
        paged = " in paged (unified) memory, evictable to host" if w.optimizer.startswith("paged") else ""
        return (int(2 * trainable * ADAM8_BYTES_PER_STATE), 0, "bitsandbytes AdamW8bit: two uint8 states + "
                "fp32 absmax per 256 (optim/optimizer.py Optimizer8bit.init_state)" + paged)
    if w.optimizer == "adafactor":
        # transformers optimization.py Adafactor (Trainer defaults: beta1=None, so no first
        # moment): a >= 2-D tensor keeps exp_avg_sq_row (shape[:-1]) + exp_avg_sq_col
        # (shape[:-2] + shape[-1:]), a 1-D one a full exp_avg_sq; in the gradient's dtype. Its
        # step makes fp32 copies of the parameter and gradient and `grad**2 + eps`: 3 x 4 bytes
        # of the largest tensor at once.
        if w.method == "full":
            vec = sum((m.in_features + m.out_features) * m.count for m in t.linears)
            vec += t.embedding_matrices * (t.vocab + t.hidden) + t.fused_vectors + t.other
            largest = max([m.in_features * m.out_features for m in t.linears] + [t.vocab * t.hidden])
        else:
            vec = trainable // max(1, w.lora_rank)  # A (r x in) + B (out x r): in + out + 2r ~ trainable / r
            largest = 0
        return (vec * tb, 3 * 4 * largest, "Adafactor (transformers optimization.py): factored second "
                "moment, row + column vectors per matrix, no first moment")
    return 0, 0, "SGD, momentum 0 (Trainer's optim='sgd'): no state"


def training_memory(spec: ModelSpec, w: TrainingWorkload) -> TrainingMemory:
    """Per-GPU peak of a Trainer run on one GPU, or sharded over w.gpus (sharding.py)."""
    from deepseek_probe.training import sharding  # lazy: only multi-GPU questions need it

    ms, terms = model_states(spec, w)
    if w.gpus > 1 or w.strategy != "ddp" or w.offload != "none":
        return sharding.sharded_memory(spec, w, ms, terms)
    return assemble(spec, w, ms, terms, resident=ms.weights + ms.adapters + ms.optimizer, host=0)
