"""Multi-GPU model states per GPU: DDP, ZeRO-1/2/3, FSDP, CPU offload. Derived, not measured.

Per trainable parameter, mixed-precision AdamW under DeepSpeed (bf16 compute):
- DeepSpeed runtime/zero/stage_1_and_2.py (DeepSpeedZeroOptimizer): bf16 parameters and bf16
  gradients on every rank; the fp32 master partition (single_partition_of_fp32_groups), its fp32
  gradient and the two Adam states partitioned: 2 + 2 + 16/N bytes (ZeRO-1). ZeRO-2 reduces each
  gradient bucket as it fills and keeps only its own partition: 2 + 2/N + 16/N, plus the
  reduce bucket (reduce_bucket_size elements; transformers integrations/deepspeed.py "auto" sets
  it to hidden x hidden).
- runtime/zero/stage3.py (DeepSpeedZeroOptimizer_Stage3): everything partitioned, 18/N bytes (the
  same 18 its estimate_zero3_model_states_mem_needs uses), plus the gathered working set: the
  estimator's 4 x the largest layer's parameters.
- The ZeRO paper (Rajbhandari et al. 2020, section 5.1): 2 + 2 + 12 bytes per parameter,
  partitioned as Pos 4 + 12/N, Pos+g 2 + 14/N, Pos+g+p 16/N. DeepSpeed keeps an fp32 gradient
  partition beside the paper's 12: tests check that ours sits between the paper and
  DeepSpeed's own estimators.
- torch FSDP FULL_SHARD (torch/distributed/fsdp/_flat_param.py): the flat parameter, its
  gradient and the optimizer states sharded /N in the load dtype, plus two unsharded units in
  the compute dtype (the running one and the prefetched one; one unit = one decoder layer, the
  transformer_layer_cls_to_wrap Trainer uses).
- DDP (torch/csrc/distributed/c10d/reducer.cpp Reducer::initialize_buckets): the gradient
  buckets are a second copy of every gradient (gradient_as_bucket_view=False, accelerate's
  default).
- CPU offload (DeepSpeed offload_optimizer / offload_param): the fp32 master, gradient and Adam
  states move to host RAM, 16 bytes per parameter per node (DeepSpeed's estimators: 16 for the
  optimizer, 18 with the parameters, times their additional_buffer_factor 1.5, which we leave out).
"""

from __future__ import annotations

from typing import List

from deepseek_probe.profiles import ModelSpec
from deepseek_probe.records import replace
from deepseek_probe.training.modules import tensors
from deepseek_probe.training.peak import ModelStates, Term, TrainingMemory, assemble
from deepseek_probe.training.workload import TrainingWorkload

# DeepSpeed's fp32 gradient partition, beside the ZeRO paper's K = 12 (fp32 master + 2 Adam states)
FP32_GRAD = 4
DERIVED = "derived from DeepSpeed / torch FSDP source, not measured"


def _largest_layer(spec: ModelSpec) -> int:
    t = tensors(spec)
    per_layer = (t.linear_params + t.fused_experts + t.other) // max(1, spec.layers)
    return max(per_layer, spec.vocab * spec.hidden)


def sharded_memory(spec: ModelSpec, w: TrainingWorkload, ms: ModelStates, terms: List[Term]) -> TrainingMemory:
    n, s = w.gpus, w.strategy
    full = w.method == "full"
    out: List = [t for t in terms if t.name not in ("weights", "gradients", "optimizer_states", "lora_adapters")]
    host = 0
    notes = [f"{s} over {n} GPU(s): {DERIVED}"]
    if s == "ddp":
        out += [Term("weights", ms.weights, "replicated on every GPU (DDP)"),
                Term("lora_adapters", ms.adapters, "replicated") if ms.adapters else None,
                Term("gradients", ms.grads, "every gradient on every GPU"),
                Term("ddp_buckets", ms.grads, "DDP Reducer gradient buckets: a second copy of the gradients"),
                Term("optimizer_states", ms.optimizer, "replicated (DDP)")]
        out = [t for t in out if t is not None]
        resident = ms.weights + ms.adapters + ms.optimizer + ms.grads  # the last: the bucket copy
        return assemble(spec, w, ms, out, resident, 0, derived=True, notes=tuple(notes))
    # DeepSpeed / FSDP run the model in bf16 with fp32 master weights in the optimizer partition
    # frozen base (LoRA): replicated by ZeRO-1/2, sharded by ZeRO-3 / FSDP
    base_w, frozen_w = (spec.params * 2, 0) if full else (0, ms.weights + ms.adapters)
    # DeepSpeed full fine-tune: fp32 master (4) + its fp32 gradient (4) + the optimizer's own
    # states (AdamW 8, 8-bit AdamW ~2, SGD 0) per parameter, all in the partition
    opt_bytes = ms.trainable * (4 + FP32_GRAD) + ms.optimizer * 4 // max(1, ms.train_bytes) \
        if (full and s != "fsdp") else ms.optimizer
    grad_full = ms.trainable * 2 if full and s != "fsdp" else ms.grads
    if s == "zero1":
        w_gpu, g_gpu, o_gpu = base_w + frozen_w, grad_full, opt_bytes / n
    elif s == "zero2":
        w_gpu, g_gpu, o_gpu = base_w + frozen_w, grad_full / n, opt_bytes / n
        out.append(Term("reduce_bucket", 2 * spec.hidden * spec.hidden, "ZeRO-2 reduce bucket: "
                        "reduce_bucket_size = hidden*hidden elements in bf16 (transformers deepspeed auto)"))
    elif s == "zero3":
        w_gpu, g_gpu, o_gpu = (base_w + frozen_w) / n, grad_full / n, opt_bytes / n
        out.append(Term("gathered_layer", 4 * _largest_layer(spec), "ZeRO-3 working set: 4 x largest layer "
                        "(DeepSpeed stage3.py estimate_zero3_model_states_mem_needs)"))
    else:  # fsdp
        w_gpu, g_gpu, o_gpu = (ms.weights + ms.adapters) / n, ms.grads / n, ms.optimizer / n
        out.append(Term("gathered_layer", 2 * 2 * _largest_layer(spec), "FSDP: the running and the "
                        "prefetched unit unsharded in bf16 (torch FSDP _flat_param.py)"))
    if w.offload in ("optimizer", "params"):
        host = int(opt_bytes) + (int(base_w + frozen_w) if w.offload == "params" else 0)
        notes.append(f"offload {w.offload}: {host} bytes of host RAM per node")
        o_gpu = 0
        if w.offload == "params":
            w_gpu = 0
    out += [Term("weights", int(w_gpu), f"{s}: bf16 weights" + (" sharded" if s in ("zero3", "fsdp") else
                                                                  " on every GPU")),
            Term("gradients", int(g_gpu), f"{s}: gradients" + (" sharded" if s != "zero1" else " on every GPU")),
            Term("optimizer_states", int(o_gpu), f"{s}: fp32 master + Adam states + fp32 grads, sharded /{n}"
                 + (" (offloaded to host)" if w.offload != "none" else ""))]
    extra = sum(t.bytes for t in out if t.name in ("reduce_bucket", "gathered_layer"))
    resident = int(w_gpu + o_gpu)
    ms2 = replace(ms, grads=int(g_gpu), autocast_cache=0)
    return assemble(spec, w, ms2, out, resident, host, extra=extra, derived=True, notes=tuple(notes))
