"""assess(question, machine) -> Assessment: the only place an answer is computed.

`check`, `check -- cmd`, the survey (one assessment per candidate), `plan` (one per catalog
machine), `fleet` (one per node) and `--verify` are loops over assess(). So the same question
gets the same bytes, speed and verdict through every door.

The steps, in order: the runtime's accounting (estimate.py -> runtimes/<name>.py), placement on the
machine's GPUs, the checks (rules.py runs checks/*), where the bytes live and the decode speed
(speed.py), the largest context this way fits. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union

from deepseek_probe import __version__
from deepseek_probe.findings import EXIT_CODES, Finding, verdict, worst_of
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.question import Question
from deepseek_probe.runtimes.base import Estimate, Settings
from deepseek_probe.snapshot import GpuInfo, Snapshot
from deepseek_probe.records import field, record, replace

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.checks.training import TrainingOutcome
    from deepseek_probe.fixes import Fix
    from deepseek_probe.training.workload import TrainingWorkload
    from deepseek_probe.runtimes.llamacpp import OffloadSplit

FIT_LEVELS = ("gpu", "partial", "cpu", "none")  # best first
# Checks that describe the machine, not the model: they do not rule a way of running out.
MACHINE_CHECKS = ("driver.present", "driver.cuda_version", "gpu.lost", "gpu.mig", "gpu.ecc",
                  "gpu.throttle", "gpu.temperature", "gpu.pcie_link", "gpu.other_processes")


@record(many=True)
class Assessment:
    """One question on one machine: allocation, placement, speed, the runtime's own verdict terms
    and the findings."""

    question: Question
    tensor_parallel: int  # the TP the checks assumed (chosen automatically when it was 1)
    verdict: str
    findings: List[Finding]
    estimate: Optional[Estimate] = None  # at the chosen tensor_parallel: per-GPU allocation
    gpus_used: List[int] = field(default_factory=list)  # NVML indices
    fit: str = "none"  # gpu | partial (llama.cpp keeps layers on the CPU) | cpu | none
    gpu_layers: Optional[int] = None  # layers on the GPUs (llama.cpp), None = all
    host_ram_bytes: Optional[int] = None
    decode_tokens_per_s: Optional[Dict[str, float]] = None  # low / mid / high, per sequence
    used_gpus: List[GpuInfo] = field(default_factory=list, repr=False)  # the GpuInfo of gpus_used
    training: Optional["TrainingOutcome"] = None  # a fine-tuning question: its memory and searches
    # The command that makes this setup happen (argv), for the runtime asked; None when it does
    # not run here (then the fixes carry theirs) or no such command exists (command_note says why).
    launch_command: Optional[List[str]] = None
    command_note: Optional[str] = None

    # -- the question's facts, as the reports name them ------------------------------------
    @property
    def settings(self) -> Settings:
        return self.question.settings

    @property
    def model(self) -> str:
        return self.question.spec.id

    @property
    def precision(self) -> str:
        return self.settings.precision

    @property
    def kv_precision(self) -> str:
        return self.settings.kv_precision

    @property
    def context(self) -> int:
        return self.settings.context

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency

    @property
    def runtime(self) -> str:
        return self.settings.runtime

    @property
    def launch(self) -> Optional[Dict[str, object]]:
        return self.question.launch

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def per_gpu_bytes(self) -> Optional[int]:
        """What the runtime holds on each GPU used (0 when none is)."""
        if self.training is not None:
            return self.training.memory.peak_bytes
        if self.estimate is None:
            return None
        if not self.gpus_used:
            return 0
        split = (self.estimate.notes or {}).get("offload_gpu_bytes")
        return int(split if split is not None else self.estimate.per_device.total_bytes)

    def to_dict(self) -> Dict[str, object]:
        """One profile of the `check --format json` contract (schemas/check.schema.json)."""
        return {
            "model": self.model,
            "model_resolution": self.question.model_dict(),
            "precision": self.precision,
            "kv_precision": self.kv_precision,
            "context": self.context,
            "context_source": self.question.context_source,
            "concurrency": self.concurrency,
            "runtime": self.runtime,
            "tensor_parallel": self.tensor_parallel,
            "gpus_used": list(self.gpus_used),
            "fit": self.fit,
            "gpu_layers": self.gpu_layers,
            "per_gpu_bytes": self.per_gpu_bytes,
            "host_ram_bytes": self.host_ram_bytes,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "estimate": self.estimate.to_dict() if self.estimate is not None else None,
            "launch_command": self.launch_command,
            **({"launch_command_note": self.command_note} if self.command_note else {}),
            **({"command_understood": self.launch} if self.launch is not None else {}),
            **({"training": _training_dict(self)} if self.training is not None else {}),
        }


@record
class CheckResult:
    """Every question asked of one snapshot: what ``check`` reports and exits with."""

    snapshot: Snapshot
    profiles: List[Assessment]
    tool_version: str = __version__

    @property
    def verdict(self) -> str:
        return worst_of(p.verdict for p in self.profiles)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> Dict[str, object]:
        """The `check --format json` contract of DESIGN.md."""
        return {
            "schema_version": 1,
            "tool_version": self.tool_version,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "snapshot": self.snapshot.to_dict(),
            "profiles": [p.to_dict() for p in self.profiles],
        }


def fit_of(findings: Sequence[Finding], gpus_used: Sequence[int]) -> str:
    """gpu | partial | cpu | none, from the findings of one way of running a model."""
    levels = {f.check: f.level for f in findings}
    # Any failure about this way of running it (memory, capability, a runtime the platform lacks)
    # rules it out; the machine's own health is reported once, separately.
    if any(v == "fail" for k, v in levels.items() if k not in MACHINE_CHECKS):
        return "none"
    if "llamacpp.offload" in levels:
        return "partial" if gpus_used else "cpu"
    if levels.get("gpu.vram") in ("pass", "warn") and gpus_used:
        return "gpu"
    return "none"


def assess(question: Question, snapshot: Snapshot, verify_fixes: bool = True) -> Assessment:
    """Answer one question on one machine. Raises InputError only for settings that make no sense
    for the model (the estimator's verdict), never for what the machine lacks.

    With `verify_fixes`, every fix a finding proposes is re-assessed on the machine or settings it
    proposes; only those that hold are printed, with that re-assessment's figures."""
    from deepseek_probe import rules, runtimes, speed
    from deepseek_probe.runtimes import RUNTIMES

    if question.training is not None:
        return _assess_training(question, snapshot)
    o = rules.run_checks(snapshot, question, detail=verify_fixes)
    gpus_used = [g.index for g in o.placement.gpus] if o.placement else []
    fit = fit_of(o.findings, gpus_used)
    est = o.estimate
    spec, s = question.spec, question.settings
    runtime = RUNTIMES[s.runtime]
    gpu_layers: Optional[int] = None
    if o.offload is not None:  # llama.cpp placed what fits, the rest on the CPU
        gpu_layers = o.offload.gpu_layers if gpus_used else 0
        est.notes["offload_gpu_bytes"] = o.offload.gpu_bytes if gpu_layers else 0
    elif est is not None:  # the layers the runtime's own allocation put on the GPU (-ngl)
        gpu_layers = runtimes.gpu_layers(est)
    cpu_moe = runtimes.cpu_moe_layers(spec, s)
    used = [g for g in snapshot.gpus if g.index in gpus_used]
    host_bw = snapshot.memory.memory_bandwidth_bytes_per_s or speed.HOST_RAM_BANDWIDTH_BYTES_PER_S
    tps = None
    if est is not None and fit != "none":
        where = speed.Where([g.memory_bandwidth_bytes_per_s or 0 for g in used], host_bw,
                            gpu_layers, cpu_moe)
        tps = speed.decode_tokens_per_s(spec, est, runtime, where)
    host = o.offload.host_bytes if o.offload is not None else (est.host_ram_bytes if est else None)
    partial = gpu_layers is not None and gpu_layers < spec.layers
    if fit == "gpu" and partial:  # -ngl below the layer count: it runs, from host RAM in part
        fit = "partial" if gpu_layers else "cpu"
    findings = o.findings
    if verify_fixes:
        findings = _verified(question, snapshot, findings)
    argv, note = (None, None) if fit == "none" else command_for(question, o.tensor_parallel, o.offload)
    return Assessment(question, o.tensor_parallel, verdict(findings), findings, est, gpus_used, fit=fit,
                      gpu_layers=gpu_layers if partial else None, host_ram_bytes=host,
                      decode_tokens_per_s=tps, used_gpus=used, launch_command=argv, command_note=note)


Asked = Union[Question, Tuple[ModelSpec, Settings]]


def _as_question(q: Asked) -> Question:
    if isinstance(q, Question):
        return q
    return Question.of(*q)


def check(snapshot: Snapshot, questions: Sequence[Asked]) -> CheckResult:
    """Every question (or (spec, settings) pair, the shorthand code and tests use) on one snapshot."""
    return CheckResult(snapshot, [assess(_as_question(q), snapshot) for q in questions])


def evaluate(snapshot: Snapshot, spec: ModelSpec, settings: Settings) -> Assessment:
    """assess() for a catalog model under given settings."""
    return assess(Question.of(spec, settings), snapshot)


# -- fine-tuning (issue 22): the same question -> assessment path ------------------------------
def _assess_training(question: Question, snapshot: Snapshot) -> Assessment:
    """A fine-tuning run on this machine: per-GPU peak (training/accounting.py), fits or not,
    the largest micro-batch and sequence, fixes (each re-computed), host RAM and disk."""
    from deepseek_probe.checks.common import is_lost
    from deepseek_probe.checks.driver import driver_findings
    from deepseek_probe.checks.training import training_findings

    w = question.training
    gpus = [g for g in snapshot.visible_gpus if not is_lost(g)]
    findings: List[Finding] = []
    if question.resolution:
        findings.append(Finding("model.resolved", "pass", question.resolution))
    findings += driver_findings(snapshot, question.settings)
    t = training_findings(snapshot, question.spec, w, gpus)
    findings += t.findings
    fix_argv = next((a for a in (_training_command(question, f.workload) for f in t.fixes) if a), None)
    if fix_argv:
        findings = [replace(f, fix_command=fix_argv) if f.check == "train.vram" and f.level == "fail" else f
                    for f in findings]
    fit = "gpu" if t.gpus else "none"
    argv = _training_command(question, w) if fit == "gpu" else None
    note = None if argv or fit == "none" else "a sharded run needs an accelerate / DeepSpeed config file"
    return Assessment(question, w.gpus, verdict(findings), findings, None, [g.index for g in t.gpus], fit=fit,
                      host_ram_bytes=t.memory.host_ram_bytes, used_gpus=list(t.gpus), training=t,
                      launch_command=argv, command_note=note)


def _training_command(question: Question, w: "TrainingWorkload") -> Optional[List[str]]:
    from deepseek_probe.errors import InputError
    from deepseek_probe.runtimes.model_refs import hf_repo
    from deepseek_probe.training.launch import trl_command

    try:
        return trl_command(hf_repo(question.spec, _model_ref(question), "trl"), w)
    except InputError:
        return None


def _training_dict(a: Assessment) -> Dict[str, object]:
    t = a.training
    w = a.question.training
    return {"workload": {k: getattr(w, k) for k in w.__dataclass_fields__ if k != "explicit"},
            "memory": t.memory.as_dict(), "max_micro_batch": t.max_micro_batch, "max_seq_len": t.max_seq_len,
            "fixes": [{"label": f.label, "peak_bytes": f.peak_bytes} for f in t.fixes]}


# -- the command that runs --------------------------------------------------------------------
def _model_ref(q: Question) -> Optional[str]:
    """The name the user gave, where it is a real name a runtime takes (a .gguf path, a folder, an
    HF id, an Ollama tag); None for a catalog id (the emitter uses the catalog's known repo)."""
    name = q.model_name
    if q.resolved_by == "catalog" or name.endswith(".json"):
        return None
    return name


def command_for(question: Question, tensor_parallel: int,
                offload: Optional["OffloadSplit"] = None) -> Tuple[Optional[List[str]], Optional[str]]:
    """(argv, None) of the command for the runtime asked (an `ollama run` stays an Ollama command)
    with the split assessed (TP, -ngl for the layers llama.cpp keeps on the GPU), or (None, why)."""
    from deepseek_probe.errors import InputError
    from deepseek_probe.runtimes import launch, runtime_model

    s = replace(question.settings, tensor_parallel=tensor_parallel)
    if offload is not None and offload.gpu_layers:
        s = runtime_model(s.runtime).with_gpu_layers(question.spec, s, offload.ngl)
    program = (question.launch or {}).get("runtime") or s.runtime
    try:
        return launch.launch_command(question.spec, s, _model_ref(question), runtime=str(program)), None
    except InputError as e:
        return None, str(e)


# -- fixes that hold -------------------------------------------------------------------------
def _cpu_runtime_fixes(question: Question) -> List["Fix"]:
    """No GPU here: the runtimes that run on the CPU, at their default precision."""
    from deepseek_probe.fixes import Fix
    from deepseek_probe.runtimes import RUNTIMES

    out = []
    for name, rt in RUNTIMES.items():
        if rt.runs_on_cpu and name != question.settings.runtime:
            p = rt.default_precision or question.spec.native_precision
            out.append(Fix("runtime", f"run it with {name} on the CPU ({p})", {"runtime": name, "precision": p}))
    return out


def _apply(question: Question, snapshot: Snapshot, fix: "Fix") -> Tuple[Question, Snapshot]:
    """The question and machine a fix proposes."""
    from deepseek_probe import gpus as gpu_catalog
    from deepseek_probe import machines
    from deepseek_probe.runtimes import runtime_model

    change = dict(fix.change)
    machine = change.pop("machine", None)
    gpu_key = change.pop("gpu", None)
    if "runtime" in change:  # another runtime: its own defaults for the model, then the change
        from deepseek_probe.question import default_settings

        s = replace(default_settings(question.spec, change.pop("runtime")), context=question.settings.context,
                    concurrency=question.settings.concurrency)
        question = replace(question, settings=replace(s, **change), launch=None)
    elif "gpu_layers" in change:
        s = runtime_model(question.settings.runtime).with_gpu_layers(question.spec, question.settings,
                                                                      change.pop("gpu_layers"))
        question = replace(question, settings=s)
    if change:
        question = question.with_settings(**change) if "context" in change else replace(
            question, settings=replace(question.settings, **change))
    n = int(fix.change.get("tensor_parallel") or 1)
    if gpu_key:
        g = gpu_catalog.get_gpu(gpu_key)
        snapshot = machines.catalog_node(g, n) if g is not None else snapshot
    elif machine == "more":
        snapshot = machines.like(snapshot, n)
    elif machine == "freed":
        snapshot = machines.freed(snapshot)
    return question, snapshot


def _verified(question: Question, snapshot: Snapshot, findings: List[Finding]) -> List[Finding]:
    """Each finding's fixes re-assessed: the suggestion keeps those that hold, with their figures."""
    if not snapshot.visible_gpus and any(f.level == "fail" and f.check == "gpu.present" for f in findings):
        findings = [replace(f, fixes=_cpu_runtime_fixes(question)) if f.check == "gpu.present" else f
                    for f in findings]
    if not any(f.fixes for f in findings):
        return findings
    from deepseek_probe.errors import InputError
    from deepseek_probe.fixes import fixes_text
    from deepseek_probe.units import gib

    out = []
    for f in findings:
        if not f.fixes:
            out.append(f)
            continue
        held, fallback = [], []
        for fix in f.fixes:
            if fix.kind == "multinode":
                fallback.append(fix)
                continue
            try:
                q2, snap2 = _apply(question, snapshot, fix)
                a2 = assess(q2, snap2, verify_fixes=False)
            except InputError:
                continue
            want = ("gpu", "partial", "cpu") if fix.kind in ("offload", "runtime") else ("gpu",)
            if a2.fit not in want:
                continue
            text = fix.text
            if fix.need_bytes and a2.per_gpu_bytes:
                text = text.replace(gib(fix.need_bytes), gib(a2.per_gpu_bytes))
            if a2.decode_tokens_per_s and fix.kind in ("gpus", "runtime", "offload"):
                text += f", ≈ {a2.decode_tokens_per_s['mid']:.1f} tok/s"
            held.append(replace(fix, text=text, need_bytes=a2.per_gpu_bytes, command=a2.launch_command))
        kept = held or fallback
        short = None
        if isinstance(f.required, int) and isinstance(f.measured, int) and f.check == "gpu.vram":
            short = f.required - f.measured
        prefix = [f.suggestion] if f.check == "gpu.present" and f.suggestion else []
        per_gpu = "per GPU" in (f.suggestion or "").split(";")[0]
        text = fixes_text(kept, short, per_gpu=per_gpu) if kept or short else None
        suggestion = "; or ".join(prefix + ([text] if text else [])) or f.suggestion
        command = next((x.command for x in kept if x.command), None)
        out.append(replace(f, suggestion=suggestion, fixes=kept, fix_command=command))
    return out
