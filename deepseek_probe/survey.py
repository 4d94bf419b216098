"""`deepseek-probe check` with no model: what can this machine run, how well, and what would it
take to run the rest?

One row per architecture in the catalog (models of the same shape, e.g. V3 / R1 / V3.1, share a
row). Each row tries the ways people run that model, best quality first, each an assessment
(assess.py, what `check --model` answers), and keeps the first that fits fully on the GPUs, at
the longest context that fits it; else a llama.cpp partial offload; else llama.cpp on the CPU;
else "does not run" with the smallest concrete change that would make it run (re-assessed). A row
is an assessment: `check` with the row's settings gives its bytes, speed and verdict. Pure:
snapshot in, rows out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from deepseek_probe import __version__, profiles, runtimes
from deepseek_probe.assess import MACHINE_CHECKS, Assessment, assess, command_for
from deepseek_probe.checks import driver, health
from deepseek_probe.checks.common import is_lost
from deepseek_probe.checks.placement import budget_bytes
from deepseek_probe.errors import InputError
from deepseek_probe.findings import EXIT_CODES, Finding, worst_of
from deepseek_probe.fixes import CONTEXT_STEP_TOKENS, max_context_fitting
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.question import Flags, Question, question_for
from deepseek_probe.snapshot import GpuInfo, Snapshot
from deepseek_probe.records import field, record, replace

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.assess import CheckResult
    from deepseek_probe.training.workload import TrainingWorkload

SCHEMA = "deepseek-probe/survey"
SCHEMA_VERSION = 1
# The context a row must fit to count as running: llama.cpp's and Ollama's small-GPU default
# (runtimes/llamacpp.py RUNTIME.default_context), capped at the model's own maximum.
SURVEY_CONTEXT = 4096
# Checks that describe the machine, not the model: the survey's health part.
HEALTH_CHECKS = MACHINE_CHECKS


@record
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
    launch_command: Optional[List[str]] = None  # the command that runs it this way (argv)
    launch_command_note: Optional[str] = None  # why a row that runs has no command (no public name)
    to_run_commands: List[List[str]] = field(default_factory=list)  # the command of each change that has one
    note: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@record
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


def _candidates(spec: ModelSpec, have_gpu: bool) -> Iterator[Question]:
    """The ways people run `spec`, best quality first: vLLM at the checkpoint's own precision,
    then fp8, then GGUF quants through llama.cpp (Q4_K_M is Ollama's default tag), then AWQ int4
    on vLLM, then the smallest GGUF quants. Without a GPU only the runtimes that run on the CPU."""
    ways: List[Tuple[str, str]] = []
    gguf = [name for name, rt in runtimes.RUNTIMES.items() if rt.loads_gguf]  # llama.cpp
    served = [name for name, rt in runtimes.RUNTIMES.items() if rt.all_reduce_per_layer][:1]  # vLLM
    for sv in served if have_gpu else []:
        ways.append((sv, spec.native_precision))
        if spec.native_precision != "fp8":
            ways.append((sv, "fp8"))
    for g in gguf:
        quants = (["q8_0", "q6_k", "q5_k_m", "q4_k_m"] if have_gpu else ["q4_k_m"])
        ways += [(g, q) for q in quants]
    ways += [(sv, "int4") for sv in served if have_gpu]
    ways += [(g, q) for g in gguf for q in ("q3_k_m", "q2_k")]
    context = min(SURVEY_CONTEXT, spec.max_context)
    return (question_for(spec, rt, Flags(precision=p, context=context)) for rt, p in ways)  # made as tried


def _used(snap: Snapshot, a: Assessment) -> List[GpuInfo]:
    by_index = {g.index: g for g in snap.gpus}
    return [by_index[i] for i in a.gpus_used if i in by_index]


def _longest(snap: Snapshot, a: Assessment) -> Assessment:
    """The way `a` runs, at the longest context that fits it: what the row reports (so `check`
    with the row's settings gives the row's bytes, speed and verdict)."""
    spec, s = a.question.spec, replace(a.settings, tensor_parallel=a.tensor_parallel)
    budget = min(budget_bytes(g, s) or 0 for g in _used(snap, a))
    longest = max_context_fitting(spec, s, budget) or s.context
    while longest > s.context:
        b = assess(a.question.with_settings(context=longest), snap, verify_fixes=False)
        if b.fit == "gpu":
            return b
        longest = max(s.context, (longest // 2 // CONTEXT_STEP_TOKENS) * CONTEXT_STEP_TOKENS)
    return a


def _row_for(snap: Snapshot, specs: List[ModelSpec]) -> SurveyRow:
    spec = specs[0]
    have_gpu = any(not is_lost(g) for g in snap.visible_gpus)
    tried: List[Assessment] = []
    for q in _candidates(spec, have_gpu):
        try:
            a = assess(q, snap, verify_fixes=False)
        except InputError:  # a split this model cannot take (heads not divisible...)
            continue
        tried.append(a)
        if _settled(a, have_gpu):
            break
    row = SurveyRow(models=[m.id for m in specs], params=spec.params, active_params=spec.active_params, fit="none")
    best = _pick(tried)
    if best is None:
        row.to_run, row.to_run_commands = _to_run(snap, spec, tried)
        return row
    if best.fit == "gpu":
        best = _longest(snap, best)
    s = best.settings
    row.fit, row.runtime, row.precision, row.kv_precision = best.fit, s.runtime, s.precision, s.kv_precision
    row.tensor_parallel, row.gpus_used = best.tensor_parallel, list(best.gpus_used)
    row.max_context = s.context
    row.per_gpu_bytes = best.per_gpu_bytes
    row.host_ram_bytes = best.host_ram_bytes
    row.decode_tokens_per_s = best.decode_tokens_per_s
    if best.fit in ("partial", "cpu"):
        layers = spec.layers
        row.gpu_layers = best.gpu_layers if best.gpu_layers is not None else (0 if best.fit == "cpu" else layers)
        row.total_layers = layers
        row.note = ("llama.cpp keeps some layers on the CPU: it runs, slower" if best.fit == "partial"
                    else "llama.cpp on the CPU only")
        if best.fit == "cpu":
            row.to_run, row.to_run_commands = _to_run(snap, spec, tried, gpu_only=True)
    row.launch_command, row.launch_command_note = best.launch_command, best.command_note
    return row


def _settled(a: Assessment, have_gpu: bool) -> bool:
    """`a` is what _pick takes whatever the later candidates give: it runs on the GPUs, or there
    is no GPU here (nothing beats "cpu") and it is the Q4_K_M that _pick prefers."""
    return a.fit == "gpu" or (not have_gpu and a.fit == "cpu" and a.precision == "q4_k_m")


def _pick(tried: List[Assessment]) -> Optional[Assessment]:
    """The first full-GPU way; else the Q4_K_M offload (Ollama's default), else any offload; else
    CPU-only at Q4_K_M, else any CPU way."""
    gpu = next((a for a in tried if a.fit == "gpu"), None)
    if gpu is not None:
        return gpu
    for want in ("partial", "cpu"):
        hits = [a for a in tried if a.fit == want]
        if hits:
            return next((a for a in hits if a.precision == "q4_k_m"), hits[0])
    return None


def _to_run(snap: Snapshot, spec: ModelSpec, tried: List[Assessment],
            gpu_only: bool = False) -> Tuple[List[str], List[List[str]]]:
    """The smallest concrete changes that make the model run, and the commands of those that have
    one: the fixes of the findings that stopped the cheapest ways, each re-assessed (assess
    verifies them), else the fewest catalog GPUs that hold it."""
    out: List[str] = []
    commands: List[List[str]] = []
    for a in tried:
        stops = {f.check for f in a.findings if f.level == "fail" and f.suggestion
                 and (f.check == "gpu.vram" or (f.check in ("host.ram", "host.cgroup_memory") and not gpu_only))}
        if not stops:
            continue
        for f in _stopping_findings(snap, a, stops):
            if f.level == "fail" and f.check in stops and f.suggestion:
                out.append(f"{a.runtime} {a.precision}: {f.suggestion}")
                if f.fix_command:
                    commands.append(f.fix_command)
        if len(out) >= 2:
            break
    if not out:
        from deepseek_probe.plan import fewest_gpus

        served = next((n for n, rt in runtimes.RUNTIMES.items() if rt.all_reduce_per_layer), "transformers")
        q = question_for(spec, served, Flags(context=min(SURVEY_CONTEXT, spec.max_context)))
        r = fewest_gpus(q)
        if r is not None and r.count:
            out.append(f"{served} {spec.native_precision}: {r.count}x {r.gpu.name}")
            argv, _ = command_for(q, r.count)
            commands += [argv] if argv else []
        else:
            out.append("a multi-node deployment (see `deepseek-probe plan --model "
                       f"{spec.id}` and `deepseek-probe fleet`)")
    return out[:2], commands[:2]


def _stopping_findings(snap: Snapshot, a: Assessment, stops: Set[str]) -> List[Finding]:
    """The findings of `a`'s question with the fixes of `stops` re-assessed (assess verifies
    them). Only gpu.vram carries fixes (checks/gpu_memory.py); the host's RAM findings are the
    same whether or not assess verifies or details (tests/test_survey_savings.py compares), so
    without gpu.vram among the stops the candidate's own findings say it: no re-assessment, whose
    fixes for a gpu.vram warning (llama.cpp offloading) would each be assessed for nothing."""
    return assess(a.question, snap).findings if "gpu.vram" in stops else a.findings


def health_findings(snap: Snapshot) -> List[Finding]:
    """The machine's own findings (driver, GPU health), the same as every `check` profile shows;
    judged for llama.cpp, which also runs without a GPU."""
    gpus = [g for g in snap.visible_gpus if not is_lost(g)]
    lost = [g for g in snap.visible_gpus if is_lost(g)]
    cpu_runtime = next(n for n, rt in runtimes.RUNTIMES.items() if rt.runs_on_cpu)
    settings = runtimes.default_settings(profiles.all_models()[0], cpu_runtime)
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


# What the rows import on first use, loaded by `prepare` (tests/test_parallel.py checks that after
# it no survey of any fixture imports a module of ours): the check families, every runtime's
# model, and what the rows' speeds, launch commands and "to run" fixes need.
_ROW_MODULES = ("deepseek_probe.rules", "deepseek_probe.estimate", "deepseek_probe.speed", "deepseek_probe.plan",
                "deepseek_probe.profiles.names", "deepseek_probe.runtimes.launch", "deepseek_probe.runtimes.model_refs",
                "deepseek_probe.runtimes.vllm_cli", "deepseek_probe.runtimes.vllm_v4",
                "deepseek_probe.runtimes.llamacpp_cli", "deepseek_probe.runtimes.llamacpp_replay")


def prepare() -> None:
    """Import what the rows use and build the catalog's specs, ahead of them: the CLI's survey
    workers and the CLI itself do it while the snapshot is taken (commands.check, parallel.py)."""
    import importlib

    for name in _ROW_MODULES:
        importlib.import_module(name)
    for name in runtimes.RUNTIMES:
        runtimes.RUNTIMES[name]
    profiles.all_models()  # the catalog's specs (~2.7 ms on the dev box the first time; each is built once)


def _serial(fn: Callable[[Snapshot, List[ModelSpec]], SurveyRow], snap: Snapshot,
            groups: List[List[ModelSpec]]) -> List[SurveyRow]:
    return [fn(snap, g) for g in groups]


def survey(snap: Snapshot, specs: Optional[Sequence[ModelSpec]] = None,
           map_rows: Callable[[Callable[[Snapshot, List[ModelSpec]], SurveyRow], Snapshot, List[List[ModelSpec]]],
                              List[SurveyRow]] = _serial) -> SurveyResult:
    """Every architecture of the catalog (or of `specs`) against one snapshot. `map_rows`:
    [fn(snap, g) for g in groups], or the same computed elsewhere (the CLI's forked workers,
    parallel.Workers.map): each row is a pure function of the snapshot and its group."""
    groups = architecture_groups(specs if specs is not None else profiles.all_models())
    # The largest models first: their rows try the most ways and the costliest accounting (the
    # MoE giants, 3-7 ms each against under 1 ms for a dense 7B on the dev box), so a map that
    # deals rows round-robin spreads them; the rows come back in catalog order.
    order = sorted(range(len(groups)), key=lambda i: -groups[i][0].params)
    rows: List[SurveyRow] = [None] * len(groups)  # type: ignore[list-item]
    for i, row in zip(order, map_rows(_row_for, snap, [groups[i] for i in order])):
        rows[i] = row
    return SurveyResult(snap, rows, health_findings(snap), local_checkpoints(snap))


def training_survey(snap: Snapshot, workload: "TrainingWorkload",
                    specs: Optional[Sequence[ModelSpec]] = None) -> "CheckResult":
    """`check --train METHOD` with no model: the fine-tuning run asked, on every architecture of
    the catalog (one assessment each): which fit here, the largest micro-batch and the longest
    sequence, and the fixes for the rest."""
    from deepseek_probe.assess import CheckResult
    from deepseek_probe.question import Question
    from deepseek_probe.training.modules import check_family

    out = []
    for group in architecture_groups(specs if specs is not None else profiles.all_models()):
        spec = group[0]
        try:
            check_family(spec)  # architectures the accounting models (Llama, Qwen2/3, DeepSeek-V2/V3)
        except InputError:
            continue
        trainer = next(n for n, rt in runtimes.RUNTIMES.items() if rt.trains)
        s = replace(runtimes.default_settings(spec, trainer), precision=workload.load_precision,
                    context=min(workload.seq_len, spec.max_context), concurrency=workload.micro_batch)
        try:
            out.append(assess(Question(spec, s, spec.id, "catalog", context_source="training --seq-len",
                                       training=workload), snap))
        except InputError:  # LoRA targets this architecture does not have (peft would refuse too)
            continue
    if not out:
        raise InputError("no catalog model has the asked LoRA targets; name them with --lora-targets")
    return CheckResult(snap, out)
