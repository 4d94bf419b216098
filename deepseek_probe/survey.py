"""`deepseek-probe check` with no model: what can this machine run, how well, and what would it
take to run the rest?

One row per architecture in the catalog (models of the same shape, e.g. V3 / R1 / V3.1, share a
row). Each row tries the ways people run that model, best quality first, through the same checks
`check --model` uses (rules.evaluate), and keeps the first that fits fully on the GPUs; else a
llama.cpp partial offload; else llama.cpp on the CPU; else "does not run" with the smallest
concrete change that would make it run. Pure: snapshot in, rows out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from deepseek_probe import __version__, plan, profiles, runtimes
from deepseek_probe.checks import driver, health
from deepseek_probe.checks.common import is_lost
from deepseek_probe.checks.placement import budget_bytes
from deepseek_probe.errors import InputError
from deepseek_probe.findings import EXIT_CODES, Finding, worst_of
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.rules import ProfileResult, evaluate
from deepseek_probe.runtimes.base import Settings
from deepseek_probe.snapshot import GpuInfo, Snapshot

SCHEMA = "deepseek-probe/survey"
SCHEMA_VERSION = 1
# The context a row must fit to count as running: llama.cpp's and Ollama's small-GPU default
# (runtimes/llamacpp.py RUNTIME.default_context), capped at the model's own maximum.
SURVEY_CONTEXT = 4096
FIT_LEVELS = ("gpu", "partial", "cpu", "none")  # best first
# Checks that describe the machine, not the model: the survey's health part.
HEALTH_CHECKS = ("driver.present", "driver.cuda_version", "gpu.lost", "gpu.mig", "gpu.ecc",
                 "gpu.throttle", "gpu.temperature", "gpu.pcie_link", "gpu.other_processes")


@dataclass
class SurveyRow:
    models: List[str]  # catalog ids of this architecture
    params: int
    active_params: int
    fit: str  # gpu | partial | cpu | none
    runtime: Optional[str] = None
    precision: Optional[str] = None
    kv_precision: Optional[str] = None
    max_context: Optional[int] = None  # largest context (tokens, one sequence) that fits this way
    tensor_parallel: Optional[int] = None
    gpus_used: List[int] = field(default_factory=list)
    per_gpu_bytes: Optional[int] = None
    host_ram_bytes: Optional[int] = None
    decode_tokens_per_s: Optional[Dict[str, float]] = None  # low / mid / high, per sequence
    gpu_layers: Optional[int] = None  # llama.cpp partial offload: layers on the GPU(s)
    total_layers: Optional[int] = None
    to_run: List[str] = field(default_factory=list)  # fit "none" (or "cpu"): concrete changes
    note: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class SurveyResult:
    snapshot: Snapshot
    rows: List[SurveyRow]
    health: List[Finding]
    checkpoints: List[Dict[str, Any]] = field(default_factory=list)  # on this machine already
    tool_version: str = __version__

    @property
    def verdict(self) -> str:
        """unknown: the machine could not be probed well enough; fail: nothing runs (or a GPU
        is unusable); warn: health warnings; pass: healthy and at least the smallest model runs."""
        h = worst_of(f.level for f in self.health) if self.health else "pass"
        if h == "unknown":
            return "unknown"
        if not any(r.fit != "none" for r in self.rows) or h == "fail":
            return "fail"
        return "warn" if h == "warn" else "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> Dict[str, Any]:
        """The versioned JSON shape of deepseek_probe/schemas/survey.schema.json."""
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "tool_version": self.tool_version,
                "verdict": self.verdict, "exit_code": self.exit_code,
                "machine": machine_summary(self.snapshot),
                "snapshot": self.snapshot.to_dict(),
                "health": [f.to_dict() for f in self.health],
                "rows": [r.to_dict() for r in self.rows],
                "checkpoints": list(self.checkpoints)}


def machine_summary(snap: Snapshot) -> Dict[str, Any]:
    gpus = [g for g in snap.visible_gpus]
    return {"gpus": [{"index": g.index, "name": g.name, "memory_total_bytes": g.memory_total_bytes,
                      "memory_free_bytes": g.memory_free_bytes,
                      "memory_bandwidth_bytes_per_s": g.memory_bandwidth_bytes_per_s} for g in gpus],
            "ram_total_bytes": snap.memory.total_bytes, "ram_available_bytes": snap.memory.available_bytes,
            "cpu": snap.cpu.model, "os": snap.system.os_release or snap.system.os_name}


def architecture_groups(specs: Sequence[ModelSpec]) -> List[List[ModelSpec]]:
    """Catalog models grouped by shape, in catalog order (same shape, same memory, same row)."""
    groups: Dict[Tuple[Any, ...], List[ModelSpec]] = {}
    for s in specs:
        groups.setdefault(s.architecture_key(), []).append(s)
    return list(groups.values())


def _candidates(spec: ModelSpec, have_gpu: bool) -> List[Settings]:
    """The ways people run `spec`, best quality first: vLLM at the checkpoint's own precision,
    then fp8, then GGUF quants through llama.cpp (Q4_K_M is Ollama's default tag), then AWQ int4
    on vLLM, then the smallest GGUF quants. Without a GPU only llama.cpp runs."""
    ways: List[Tuple[str, str]] = []
    if have_gpu:
        ways.append(("vllm", spec.native_precision))
        if spec.native_precision != "fp8":
            ways.append(("vllm", "fp8"))
        ways += [("llamacpp", "q8_0"), ("llamacpp", "q6_k"), ("llamacpp", "q5_k_m"), ("llamacpp", "q4_k_m"),
                 ("vllm", "int4"), ("llamacpp", "q3_k_m"), ("llamacpp", "q2_k")]
    else:
        ways += [("llamacpp", "q4_k_m"), ("llamacpp", "q3_k_m"), ("llamacpp", "q2_k")]
    out = []
    for runtime, precision in ways:
        s = runtimes.default_settings(spec, runtime)
        out.append(replace(s, precision=precision, context=min(SURVEY_CONTEXT, spec.max_context)))
    return out


def _levels(p: ProfileResult) -> Dict[str, str]:
    return {f.check: f.level for f in p.findings}


def _fit_of(p: ProfileResult) -> str:
    lv = _levels(p)
    # Any failure that is about this way of running it (memory, capability, a runtime the
    # platform lacks) rules it out; the machine's own health is reported once, separately.
    if any(v == "fail" for k, v in lv.items() if k not in HEALTH_CHECKS):
        return "none"
    if "llamacpp.offload" in lv:
        return "partial" if p.gpus_used else "cpu"
    if lv.get("gpu.vram") in ("pass", "warn") and p.gpus_used:
        return "gpu"
    return "none"


def _used(snap: Snapshot, p: ProfileResult) -> List[GpuInfo]:
    by_index = {g.index: g for g in snap.gpus}
    return [by_index[i] for i in p.gpus_used if i in by_index]


def _row_for(snap: Snapshot, specs: List[ModelSpec]) -> SurveyRow:
    spec = specs[0]
    have_gpu = any(not is_lost(g) for g in snap.visible_gpus)
    tried: List[Tuple[Settings, ProfileResult, str]] = []
    for s in _candidates(spec, have_gpu):
        try:
            p = evaluate(snap, spec, s)
        except InputError:  # a split this model cannot take (heads not divisible...)
            continue
        fit = _fit_of(p)
        tried.append((s, p, fit))
        if fit == "gpu":
            break
    row = SurveyRow(models=[m.id for m in specs], params=spec.params, active_params=spec.active_params, fit="none")
    best = _pick(tried)
    if best is None:
        row.to_run = _to_run(snap, spec, tried)
        return row
    s, p, fit = best
    row.fit, row.runtime, row.precision, row.kv_precision = fit, s.runtime, s.precision, s.kv_precision
    row.tensor_parallel, row.gpus_used = p.tensor_parallel, list(p.gpus_used)
    est = p.estimate
    s_tp = replace(s, tensor_parallel=p.tensor_parallel)
    used = _used(snap, p)
    if fit == "gpu":
        budget = min(budget_bytes(g, s_tp) or 0 for g in used)
        row.max_context = plan.max_context_fitting(spec, s_tp, budget) or s.context
        row.per_gpu_bytes = int(est.per_device.total_bytes) if est else None
        row.host_ram_bytes = est.host_ram_bytes if est else None
        bws = [g.memory_bandwidth_bytes_per_s for g in used]
        if est and bws and all(bws):
            row.decode_tokens_per_s = plan.decode_tokens_per_s(est, min(bws))
    else:
        budget = min((budget_bytes(g, s_tp) or 0 for g in used), default=0)
        bw = min((g.memory_bandwidth_bytes_per_s or 0 for g in used), default=0) or None
        host_bw = snap.memory.memory_bandwidth_bytes_per_s or plan.HOST_RAM_BANDWIDTH_BYTES_PER_S
        split = plan.offload(spec, s_tp, max(0, budget), gpu_bandwidth_bytes_per_s=bw,
                             host_bandwidth_bytes_per_s=host_bw)
        row.max_context = s.context
        row.gpu_layers, row.total_layers = split.gpu_layers, split.total_layers
        row.per_gpu_bytes = split.gpu_bytes if split.gpu_layers else 0
        row.host_ram_bytes = split.host_bytes
        if split.tokens_per_s:
            t = split.tokens_per_s
            row.decode_tokens_per_s = {"low": round(t * 0.7, 2), "mid": round(t, 2), "high": round(t * 1.3, 2)}
        row.note = ("llama.cpp keeps some layers on the CPU: it runs, slower" if fit == "partial"
                    else "llama.cpp on the CPU only")
        if fit == "cpu":
            row.to_run = _to_run(snap, spec, tried, gpu_only=True)
    return row


def _pick(tried: List[Tuple[Settings, ProfileResult, str]]) -> Optional[Tuple[Settings, ProfileResult, str]]:
    """The first full-GPU way; else the Q4_K_M offload (Ollama's default), else any offload; else
    CPU-only at Q4_K_M, else any CPU way."""
    for want in ("gpu", "partial", "cpu"):
        hits = [t for t in tried if t[2] == want]
        if hits:
            return next((t for t in hits if t[0].precision == "q4_k_m"), hits[0])
    return None


def _to_run(snap: Snapshot, spec: ModelSpec, tried: List[Tuple[Settings, ProfileResult, str]],
            gpu_only: bool = False) -> List[str]:
    """The smallest concrete changes that make the model run: the suggestions of the findings
    that stopped the cheapest ways (RAM for an offload, VRAM / more GPUs / a lower quant)."""
    out: List[str] = []
    for s, p, _ in tried:
        for f in p.findings:
            if f.level != "fail" or not f.suggestion:
                continue
            if f.check in ("host.ram", "host.cgroup_memory") and not gpu_only:
                out.append(f"{s.runtime} {s.precision}: {f.suggestion}")
            elif f.check == "gpu.vram":
                out.append(f"{s.runtime} {s.precision}: {f.suggestion}")
        if len(out) >= 2:
            break
    if not out:
        fixes = plan.hardware_plan(spec, replace(runtimes.default_settings(spec, "vllm"),
                                                 context=min(SURVEY_CONTEXT, spec.max_context)))
        feasible = [r for r in fixes.rows if r.count]
        if feasible:
            r = min(feasible, key=lambda r: (r.count, r.gpu.memory_bytes))
            out.append(f"vllm {spec.native_precision}: {r.count}x {r.gpu.name}")
        else:
            out.append("a multi-node deployment (see `deepseek-probe plan --model "
                       f"{spec.id}`)")
    return out[:2]


def health_findings(snap: Snapshot) -> List[Finding]:
    """The machine's own findings (driver, GPU health), the same as every `check` profile shows;
    judged for llama.cpp, which also runs without a GPU."""
    gpus = [g for g in snap.visible_gpus if not is_lost(g)]
    lost = [g for g in snap.visible_gpus if is_lost(g)]
    settings = runtimes.default_settings(profiles.all_models()[0], "llamacpp")
    nvidia = [g for g in gpus if (g.vendor or "nvidia") == "nvidia"]
    out = driver.driver_findings(snap, settings) if nvidia or len(nvidia) == len(gpus) else []
    if lost:
        out.append(health.lost_finding(lost))
    if gpus:
        unreadable = [g for g in gpus if g.memory_free_bytes is None]
        if unreadable:
            out.append(Finding("gpu.vram", "unknown", f"free memory of GPU {unreadable[0].index} unreadable",
                               suggestion="run nvidia-smi --query-gpu=memory.free --format=csv and attach it"))
        out += health.health_findings(gpus)
    out = [f for f in out if f.check in HEALTH_CHECKS or f.check == "gpu.vram"]
    if not snap.gpus and not snap.pci_gpus:  # no driver and no GPU, even on the PCI bus: a fact, not a fault
        out = [Finding(f.check, "pass", f.message + " (fine: llama.cpp runs on the CPU)", f.measured, f.required)
               if f.check == "driver.present" and f.level == "warn" else f for f in out]
    return out


def local_checkpoints(snap: Snapshot) -> List[Dict[str, Any]]:
    """The checkpoints found on this machine with their real size, and the catalog model each
    is (by its HF id or Ollama tag; a file found by path, by its header's parameter count)."""
    from deepseek_probe.profiles import names

    by_params = {s.params: s.id for s in profiles.all_models()}
    out = []
    for c in snap.checkpoints.found:
        model = None
        if c.source in ("hf_cache", "ollama"):
            try:
                model = names.resolve(c.name).model_id
            except InputError:
                model = None
        if model is None and c.params:
            model = next((mid for p, mid in by_params.items() if abs(p - c.params) <= 0.03 * p), None)
        out.append({"name": c.name, "source": c.source, "format": c.format, "precision": c.precision,
                    "bytes_on_disk": c.bytes_on_disk, "complete": c.complete, "model": model, "error": c.error})
    return out


def survey(snap: Snapshot, specs: Optional[Sequence[ModelSpec]] = None) -> SurveyResult:
    """Every architecture of the catalog (or of `specs`) against one snapshot."""
    groups = architecture_groups(specs if specs is not None else profiles.all_models())
    rows = [_row_for(snap, g) for g in groups]
    return SurveyResult(snap, rows, health_findings(snap), local_checkpoints(snap))
