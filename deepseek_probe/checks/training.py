"""Fine-tuning: does the run fit the GPUs it asks for (train.vram), with the fixes that would make
it fit, each re-computed by the accounting (training/search.py); host RAM for offload; disk for a
checkpoint save (issue 22). Pure: snapshot + model + workload -> findings.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from deepseek_probe.checks.common import gpu_label
from deepseek_probe.checks.placement import by_free
from deepseek_probe.findings import Finding
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.snapshot import GpuInfo, Snapshot
from deepseek_probe.thresholds import DEVICE_MARGIN_BYTES, HOST_OS_RESERVE_BYTES
from deepseek_probe.training.peak import TrainingMemory
from deepseek_probe.training.search import Fix as TrainingFix
from deepseek_probe.training.workload import TrainingWorkload
from deepseek_probe.units import count, gib
from deepseek_probe.records import field, record


@record
class TrainingOutcome:
    findings: List[Finding]
    memory: TrainingMemory
    gpus: List[GpuInfo] = field(default_factory=list)  # the GPUs the run uses (empty: it does not fit)
    budget_bytes: Optional[int] = None  # per GPU, the tightest of them, margin taken off
    fixes: List[TrainingFix] = field(default_factory=list)
    max_micro_batch: Optional[int] = None
    max_seq_len: Optional[int] = None


def training_findings(snapshot: Snapshot, spec: ModelSpec, w: TrainingWorkload,
                      gpus: Sequence[GpuInfo]) -> TrainingOutcome:
    from deepseek_probe.training import search
    from deepseek_probe.training.accounting import training_memory

    mem = training_memory(spec, w)
    out = TrainingOutcome([], mem)
    derived = " (multi-GPU: derived from DeepSpeed / FSDP source, not measured)" if mem.derived_only else ""
    if not gpus:
        out.findings.append(Finding("train.vram", "fail", f"fine-tuning needs a GPU: peak {gib(mem.peak_bytes)}"
                                    f" per GPU{derived}", measured=0, required=mem.peak_bytes,
                                    suggestion="run on a host with a GPU (see `deepseek-probe estimate --train ...`)"))
        return out
    if len(gpus) < w.gpus:
        out.findings.append(Finding("train.gpus", "fail", f"--gpus {w.gpus} asked; {len(gpus)} visible",
                                    measured=len(gpus), required=w.gpus,
                                    suggestion=f"--gpus {len(gpus)}, or run on a host with {w.gpus} GPUs"))
        return out
    used = by_free(gpus)[:w.gpus]
    free = min(g.memory_free_bytes or 0 for g in used)
    budget = free - DEVICE_MARGIN_BYTES
    out.budget_bytes = budget
    where = gpu_label(used[0]) if len(used) == 1 else f"each of {len(used)} GPUs"
    need_text = (f"{w.method} fine-tune peaks at {gib(mem.peak_bytes)} per GPU ({mem.peak_phase}; "
                 f"{count(mem.trainable_params)} trainable parameters){derived}")
    out.max_micro_batch = search.max_micro_batch(spec, w, budget)
    out.max_seq_len = search.max_seq_len(spec, w, budget)
    if mem.peak_bytes <= budget:
        out.gpus = list(used)
        room = []
        if out.max_micro_batch:
            room.append(f"largest micro-batch {count(out.max_micro_batch)} at {count(w.seq_len)} tokens")
        if out.max_seq_len:
            room.append(f"longest sequence {count(out.max_seq_len)} at micro-batch {w.micro_batch}")
        out.findings.append(Finding("train.vram", "pass", f"{need_text}; {gib(free)} free on {where}"
                                    + (f"; {', '.join(room)}" if room else ""),
                                    measured=free, required=mem.peak_bytes + DEVICE_MARGIN_BYTES))
    else:
        out.fixes = search.fixes(spec, w, budget, max_gpus=len(gpus))
        short = mem.peak_bytes + DEVICE_MARGIN_BYTES - free
        parts = [f"+{gib(short)} VRAM per GPU"] + [f.label for f in out.fixes[:4]]
        out.findings.append(Finding("train.vram", "fail", f"{need_text}; {gib(free)} free on {where}: "
                                    f"out of memory, short by {gib(short)}",
                                    measured=free, required=mem.peak_bytes + DEVICE_MARGIN_BYTES,
                                    suggestion="; or ".join(parts)))
    out.findings += _host_and_disk(snapshot, mem)
    return out


def _host_and_disk(snapshot: Snapshot, mem: TrainingMemory) -> List[Finding]:
    out: List[Finding] = []
    avail = snapshot.memory.available_bytes
    if mem.host_ram_bytes:
        need = mem.host_ram_bytes + HOST_OS_RESERVE_BYTES
        if avail is None:
            out.append(Finding("host.ram", "unknown", "available RAM unreadable; the CPU offload needs "
                               f"{gib(mem.host_ram_bytes)}", required=need))
        else:
            ok = avail >= need
            out.append(Finding("host.ram", "pass" if ok else "fail",
                               f"the CPU offload holds {gib(mem.host_ram_bytes)} of RAM (+ {gib(HOST_OS_RESERVE_BYTES)} "
                               f"OS reserve); {gib(avail)} available", measured=avail, required=need,
                               suggestion=None if ok else f"add {gib(need - avail)} of RAM or offload less"))
    free = snapshot.disk.free_bytes
    if mem.checkpoint_disk_bytes and free is not None:
        ok = free >= mem.checkpoint_disk_bytes
        out.append(Finding("disk.free", "pass" if ok else "warn",
                           f"one checkpoint save (weights + optimizer states) is {gib(mem.checkpoint_disk_bytes)}; "
                           f"{gib(free)} free at {snapshot.disk.path or '?'}",
                           measured=free, required=mem.checkpoint_disk_bytes,
                           suggestion=None if ok else "point --output_dir at a larger disk, or save adapters only"))
    return out
