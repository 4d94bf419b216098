"""Checks: a snapshot plus a model's estimate -> findings -> a verdict per profile. Pure.

No I/O here: everything comes from the Snapshot (what the probes saw) and the estimator. A fact
that is missing (no NVML, free memory unreadable) gives an ``unknown`` finding with the reason,
never an exception. Every finding that is not ``pass`` carries a concrete suggestion.

Each check family is a module of checks/ (driver, gpu_memory, placement, health, host, disk);
this module runs them in order and aggregates the verdict. Check ids are stable (dashboards and
scripts key on them); findings.CHECK_UNITS gives the unit of ``measured`` / ``required``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from deepseek_probe import __version__
from deepseek_probe.findings import EXIT_CODES, Finding, verdict, worst_of
from deepseek_probe.snapshot import Snapshot
from deepseek_probe.checks import amd as platform_amd
from deepseek_probe.checks import apple as platform_apple
from deepseek_probe.checks import cpu_only as platform_cpu
from deepseek_probe.checks import windows as platform_windows
from deepseek_probe.checks.command import command_findings
from deepseek_probe.checks.common import Placement, is_lost
from deepseek_probe.checks.disk import disk_findings
from deepseek_probe.checks.driver import compute_capability_findings, driver_findings, no_gpu_finding
from deepseek_probe.checks.gpu_memory import refusal_findings, cpu_only_findings, place_and_check_vram
from deepseek_probe.checks.health import health_findings, lost_finding
from deepseek_probe.checks.host import host_findings
from deepseek_probe.checks.runtime_start import start_findings

# Re-exported for callers that name them through rules (fleet, verify, plan, tests).
from deepseek_probe.checks.placement import budget_bytes, vllm_utilization  # noqa: F401,E402
from deepseek_probe.thresholds import DEVICE_MARGIN_BYTES, VLLM_GPU_MEMORY_UTILIZATION  # noqa: F401,E402

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Estimate, Settings


@dataclass
class ProfileResult:
    """The checks of one model profile (model + settings) on one machine, and its verdict."""

    model: str
    precision: str
    kv_precision: str
    context: int
    concurrency: int
    runtime: str
    tensor_parallel: int  # the TP the checks assumed (chosen automatically when it was 1)
    verdict: str
    findings: List[Finding]
    estimate: Optional[Estimate] = None  # estimate.Estimate at the chosen tensor_parallel
    gpus_used: List[int] = field(default_factory=list)  # NVML indices
    launch: Optional[Dict[str, Any]] = None  # the launch command after `--`, as understood

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model,
            "precision": self.precision,
            "kv_precision": self.kv_precision,
            "context": self.context,
            "concurrency": self.concurrency,
            "runtime": self.runtime,
            "tensor_parallel": self.tensor_parallel,
            "gpus_used": list(self.gpus_used),
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "estimate": self.estimate.to_dict() if self.estimate is not None else None,
            **({"launch_command": self.launch} if self.launch is not None else {}),
        }


@dataclass
class CheckResult:
    """Every profile checked against one snapshot: what ``check`` reports and exits with."""

    snapshot: Snapshot
    profiles: List[ProfileResult]
    tool_version: str = __version__

    @property
    def verdict(self) -> str:
        return worst_of(p.verdict for p in self.profiles)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> Dict[str, Any]:
        """The `check --format json` contract of DESIGN.md."""
        return {
            "schema_version": 1,
            "tool_version": self.tool_version,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "snapshot": self.snapshot.to_dict(),
            "profiles": [p.to_dict() for p in self.profiles],
        }


def check(snapshot: Snapshot, requests: Sequence[Tuple[Any, ...]]) -> CheckResult:
    """Evaluate every (spec, settings[, launch echo[, model resolution note]]) request against one snapshot."""
    return CheckResult(snapshot, [evaluate(snapshot, *r) for r in requests])


def evaluate(snapshot: Snapshot, spec: ModelSpec, settings: Settings,
             launch: Optional[Dict[str, Any]] = None, resolution: Optional[str] = None) -> ProfileResult:
    """All checks for one model profile. Raises InputError only for settings that make no sense
    for the model (the estimator's verdict), never for what the machine lacks."""
    from deepseek_probe import estimate as est_mod

    findings: List[Finding] = []
    runtime = settings.runtime
    # A GPU that fell off the bus mid-probe may still show the memory read before it went:
    # never place a model on it, and say so (gpu.lost).
    lost = [g for g in snapshot.visible_gpus if is_lost(g)]
    gpus = [g for g in snapshot.visible_gpus if not is_lost(g)]
    base_estimate = est_mod.estimate(spec, settings)  # raises InputError on bad settings
    placement: Optional[Placement] = None
    offload_host_bytes = 0  # host RAM llama.cpp needs for the layers it keeps on the CPU

    if resolution:  # the name typed was an Ollama tag, an HF id or a file: say what it became
        findings.append(Finding("model.resolved", "pass", resolution))
    if launch is not None:
        findings += command_findings(launch)
    findings += refusal_findings(base_estimate)
    # NVIDIA's driver and CUDA checks apply where NVIDIA GPUs are, or where none of another
    # vendor is (a CUDA runtime was asked for); AMD and Apple GPUs get their own (checks/amd.py,
    # checks/apple.py). GpuInfo.vendor None is NVIDIA (snapshots older than the vendor field).
    nvidia = [g for g in gpus if (g.vendor or "nvidia") == "nvidia"]
    if nvidia or len(nvidia) == len(gpus):
        findings += driver_findings(snapshot, settings)
    if lost:
        findings.append(lost_finding(lost))
    if not gpus:
        if not lost:
            findings.append(no_gpu_finding(snapshot, settings))
        if runtime == "llamacpp":
            cpu_findings, offload_host_bytes = cpu_only_findings(spec, settings, base_estimate,
                                                                 snapshot.memory.memory_bandwidth_bytes_per_s)
            findings += cpu_findings
        findings += platform_cpu.findings(snapshot, spec, settings, weights_bytes=base_estimate.disk_bytes)
    else:
        placement, vram_findings = place_and_check_vram(snapshot, spec, settings, gpus)
        findings += vram_findings
        if placement is not None:
            findings += start_findings(spec, replace(settings, tensor_parallel=placement.tensor_parallel),
                                       placement.gpus)
        if placement is not None and placement.offload is not None:
            offload_host_bytes = placement.offload.host_bytes
        used = placement.gpus if placement else gpus
        used_nvidia = [g for g in used if (g.vendor or "nvidia") == "nvidia"]
        if used_nvidia:
            findings += compute_capability_findings(used_nvidia, settings)
        findings += health_findings(used)
        est_now = placement.estimate if placement and placement.estimate else base_estimate
        findings += platform_amd.findings(snapshot, spec, settings)
        findings += platform_apple.findings(snapshot, spec, settings,
                                            required_bytes=int(est_now.per_device.total_bytes))
    findings += platform_windows.findings(snapshot, spec, settings)
    est = placement.estimate if placement else base_estimate
    tp = placement.tensor_parallel if placement else settings.tensor_parallel
    findings += host_findings(snapshot, settings, est, tp, offload_host_bytes)
    findings += disk_findings(snapshot, est)
    return ProfileResult(
        model=getattr(spec, "id", str(spec)), precision=settings.precision,
        kv_precision=settings.kv_precision, context=settings.context,
        concurrency=settings.concurrency, runtime=runtime, tensor_parallel=tp,
        verdict=verdict(findings), findings=findings, estimate=est,
        gpus_used=[g.index for g in placement.gpus] if placement else [], launch=launch)
