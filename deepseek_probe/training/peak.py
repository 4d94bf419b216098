"""Peak per GPU over forward, backward and optimizer step, given the model states: the terms and
the result types shared by accounting.py (one GPU) and sharding.py (several)."""

from __future__ import annotations

from typing import Dict, List, Tuple

from deepseek_probe.profiles import ModelSpec
from deepseek_probe.training import calibration
from deepseek_probe.training.activations import regime, saved_bytes
from deepseek_probe.training.workload import TrainingWorkload
from deepseek_probe.records import field, record


@record(frozen=True)
class Term:
    name: str
    bytes: int
    source: str


@record(frozen=True)
class TrainingMemory:
    """Per-GPU peak and its terms (bytes), host RAM for offload, disk for one checkpoint save."""

    terms: Tuple[Term, ...]
    peak_bytes: int  # what NVML shows as used by the process at its peak
    peak_phase: str  # forward | backward | optimizer step
    trainable_params: int
    host_ram_bytes: int = 0
    checkpoint_disk_bytes: int = 0
    derived_only: bool = False  # multi-GPU: derived from source, not measured
    notes: Tuple[str, ...] = field(default=())

    def term(self, name: str) -> int:
        return sum(t.bytes for t in self.terms if t.name == name)

    def as_dict(self) -> Dict[str, object]:
        return {"peak_bytes": self.peak_bytes, "peak_phase": self.peak_phase,
                "trainable_params": self.trainable_params, "host_ram_bytes": self.host_ram_bytes,
                "checkpoint_disk_bytes": self.checkpoint_disk_bytes, "derived_only": self.derived_only,
                "terms": [{"name": t.name, "bytes": t.bytes, "source": t.source} for t in self.terms],
                "notes": list(self.notes)}


@record(frozen=True)
class ModelStates:
    """Bytes of weights, gradients and optimizer states on one GPU (before sharding)."""

    weights: int
    trainable: int  # trainable parameter count
    train_bytes: int  # bytes per trainable parameter (its dtype): grads and AdamW states share it
    adapters: int  # LoRA A/B bytes (inside `weights` for the checkpoint, separate term here)
    grads: int
    optimizer: int
    step_transient: int
    autocast_cache: int  # bf16 copies of fp32 weights autocast keeps during the forward


def assemble(spec: ModelSpec, w: TrainingWorkload, ms: ModelStates, terms: List[Term], resident: int,
              host: int, grads_held: int = -1, extra: int = 0, derived: bool = False,
              notes: Tuple[str, ...] = ()) -> TrainingMemory:
    """Peak over forward, backward and optimizer step given the resident model states."""
    grads = ms.grads if grads_held < 0 else grads_held
    act, recompute = saved_bytes(spec, w)
    tok = w.micro_batch * w.seq_len
    logits_fwd = tok * spec.vocab * (2 + 4 + 4)  # bf16 logits, .float(), log_softmax output
    logits_bwd = tok * spec.vocab * (4 + 4 + 4)  # saved log_softmax, its grad, the grad of its input
    r = regime(spec, w)
    terms = list(terms)
    terms.append(Term("activations", act, "tensors saved for backward per decoder layer "
                      + ("(checkpointing: each layer's input hidden state, transformers "
                         "GradientCheckpointingLayer)" if w.checkpointing else "(training/activations.py)")))
    if recompute:
        terms.append(Term("recompute", recompute, "one layer's saved tensors rebuilt in backward "
                          "(torch.utils.checkpoint, use_reentrant=False)"))
    terms.append(Term("logits_loss", logits_bwd, "fp32 logits in the loss: transformers loss_utils.py "
                      "ForCausalLMLoss logits.float() + cross_entropy's log_softmax output and grads"))
    if ms.autocast_cache:
        terms.append(Term("autocast_weight_cache", ms.autocast_cache, "bf16 copies of fp32 linear weights "
                          "(torch aten autocast_mode.cpp cached_cast), alive through the forward"))
    accum_grads = grads if w.gradient_accumulation > 1 else 0  # grads kept across micro-batches
    cache_bwd = 0 if w.checkpointing else ms.autocast_cache
    head_grad = spec.vocab * spec.hidden * ms.train_bytes if r.full else 0
    fwd = resident + accum_grads + act + ms.autocast_cache + logits_fwd + extra
    bwd = resident + accum_grads + act + recompute + cache_bwd + max(logits_bwd, head_grad + tok * spec.vocab * 6) + extra
    step = resident + grads + ms.step_transient + extra
    phases = {"forward": fwd, "backward": bwd, "optimizer step": step}
    phase = max(phases, key=lambda k: phases[k])
    allocated = phases[phase]
    frag = int(max(0, allocated - resident) * calibration.ALLOCATOR_FRAGMENTATION)
    terms.append(Term("allocator", frag, calibration.ALLOCATOR_SOURCE))
    terms.append(Term("cuda_context", calibration.NON_TORCH_BYTES, calibration.NON_TORCH_SOURCE))
    peak = allocated + frag + calibration.NON_TORCH_BYTES
    disk = _checkpoint_disk(spec, w, ms)
    return TrainingMemory(tuple(terms), peak, phase, ms.trainable, host, disk, derived, notes)


def _checkpoint_disk(spec: ModelSpec, w: TrainingWorkload, ms: ModelStates) -> int:
    """Trainer._save_checkpoint: model (safetensors, load dtype; peft: adapter only, fp32) +
    optimizer.pt (optimizer.state_dict()) + small scheduler / rng / trainer_state files."""
    model = ms.adapters if w.method != "full" else spec.params * (4 if w.load_precision == "fp32" else 2)
    return model + ms.optimizer
