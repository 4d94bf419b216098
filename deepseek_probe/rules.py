"""The checks of one question on one machine: findings, and the placement they assumed. Pure.

assess.py calls run_checks() and builds the Assessment (speed, fit level) from its Outcome.

No I/O here: everything comes from the Snapshot (what the probes saw) and the estimator. A fact
that is missing (no NVML, free memory unreadable) gives an ``unknown`` finding with the reason,
never an exception. Every finding that is not ``pass`` carries a concrete suggestion.

Each check family is a module of checks/ (driver, gpu_memory, placement, health, host, disk);
this module runs them in order and aggregates the verdict. Check ids are stable (dashboards and
scripts key on them); findings.CHECK_UNITS gives the unit of ``measured`` / ``required``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from deepseek_probe.errors import InputError
from deepseek_probe.findings import Finding
from deepseek_probe.runtimes import RUNTIMES
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
from deepseek_probe.records import record, replace

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.question import Question
    from deepseek_probe.runtimes.base import Settings
    from deepseek_probe.snapshot import GpuInfo
    from deepseek_probe.runtimes.base import Estimate
    from deepseek_probe.runtimes.llamacpp import OffloadSplit


@record
class Outcome:
    """What the checks found for one question: findings, the placement they assumed, the
    estimate at that placement, and llama.cpp's CPU/GPU split when it keeps layers on the CPU."""

    findings: List[Finding]
    estimate: Estimate
    tensor_parallel: int
    placement: Optional[Placement] = None
    offload: Optional[OffloadSplit] = None


def _place(snapshot: Snapshot, spec: "ModelSpec", settings: "Settings", gpus: List["GpuInfo"], detail: bool):
    """Placement, its VRAM findings and the runtime's own start verdict. When the split was
    chosen automatically and the runtime itself would refuse it (vLLM's KV pool below one
    request), a wider split over more of the visible GPUs is tried, as a user would."""
    placement, vram = place_and_check_vram(snapshot, spec, settings, gpus, detail)
    if placement is None:
        return placement, vram, []
    started = start_findings(spec, replace(settings, tensor_parallel=placement.tensor_parallel), placement.gpus)
    refused = any(f.level == "fail" for f in started)
    if not (refused and placement.fits and settings.tensor_parallel == 1):
        return placement, vram, started
    for n in range(placement.tensor_parallel + 1, len(gpus) + 1):
        wider = replace(settings, tensor_parallel=n)
        try:
            p2, vram2 = place_and_check_vram(snapshot, spec, wider, gpus, detail)
        except InputError:  # heads not divisible by n
            continue
        if p2 is None or not p2.fits:
            continue
        started2 = start_findings(spec, wider, p2.gpus)
        if not any(f.level == "fail" for f in started2):
            p2.auto = True
            return p2, vram2, started2
    return placement, vram, started


def run_checks(snapshot: Snapshot, question: Question, detail: bool = True) -> Outcome:
    """All checks for one question. Raises InputError only for settings that make no sense for
    the model (the estimator's verdict), never for what the machine lacks. `detail` False leaves
    out the fix proposals and the pool's room (a survey candidate, a plan node: the verdict is
    the same)."""
    from deepseek_probe import estimate as est_mod

    spec, settings, launch = question.spec, question.settings, question.launch

    findings: List[Finding] = []
    runtime = settings.runtime
    # A GPU that fell off the bus mid-probe may still show the memory read before it went:
    # never place a model on it, and say so (gpu.lost).
    lost = [g for g in snapshot.visible_gpus if is_lost(g)]
    gpus = [g for g in snapshot.visible_gpus if not is_lost(g)]
    base_estimate = est_mod.estimate(spec, settings)  # raises InputError on bad settings
    placement: Optional[Placement] = None
    offload_host_bytes = 0  # host RAM llama.cpp needs for the layers it keeps on the CPU
    cpu_split: Optional[OffloadSplit] = None  # llama.cpp with no GPU: every layer on the CPU

    if question.resolution:  # the name typed was an Ollama tag, an HF id or a file: say what it became
        findings.append(Finding("model.resolved", "pass", question.resolution))
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
        if RUNTIMES[runtime].runs_on_cpu:
            cpu_findings, cpu_split = cpu_only_findings(spec, settings, base_estimate)
            offload_host_bytes = cpu_split.host_bytes
            findings += cpu_findings
        findings += platform_cpu.findings(snapshot, spec, settings, weights_bytes=base_estimate.disk_bytes)
    else:
        placement, vram_findings, started = _place(snapshot, spec, settings, gpus, detail)
        findings += vram_findings + started
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
    return Outcome(findings, est, tp, placement,
                   placement.offload if placement is not None else cpu_split)
