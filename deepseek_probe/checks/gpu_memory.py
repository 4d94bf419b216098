"""GPU memory: does the estimate fit the placement (gpu.vram), in each runtime's own terms: the
vLLM pool, llama.cpp's partial offload, CPU-only llama.cpp.

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from deepseek_probe.findings import Finding
from deepseek_probe.records import replace
from deepseek_probe.runtimes import RUNTIMES, gpu_layers
from deepseek_probe.snapshot import GpuInfo, Snapshot
from deepseek_probe.units import count, gib
from deepseek_probe.checks.common import Placement, cc_of, cuda_total_bytes, gpu_label, need_bytes, unavailable_reason
from deepseek_probe.checks.placement import by_free, estimate_at, place, tensor_parallel_findings, vllm_utilization
from deepseek_probe.thresholds import DEVICE_MARGIN_BYTES

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.llamacpp import OffloadSplit
    from deepseek_probe.runtimes.base import Estimate, Settings


def place_and_check_vram(snapshot: Snapshot, spec: ModelSpec, settings: Settings,
                          gpus: List[GpuInfo], detail: bool = True) -> Tuple[Optional[Placement], List[Finding]]:
    runtime = RUNTIMES[settings.runtime]
    unreadable = [g for g in gpus if g.memory_free_bytes is None]
    if unreadable:
        g = unreadable[0]
        return None, [Finding("gpu.vram", "unknown",
                              f"free memory of {gpu_label(g)} unreadable ({unavailable_reason(g, 'memory_free_bytes')})",
                              suggestion="run nvidia-smi --query-gpu=memory.free --format=csv and "
                                         "attach it; check NVML permissions")]
    if runtime.reserves_fraction_of_total:
        no_total = [g for g in gpus if g.memory_total_bytes is None]
        if no_total:
            g = no_total[0]
            return None, [Finding("gpu.vram", "unknown",
                                  f"total memory of {gpu_label(g)} unreadable "
                                  f"({unavailable_reason(g, 'memory_total_bytes')}); {runtime.label} sizes itself from it",
                                  suggestion="run nvidia-smi --query-gpu=memory.total --format=csv and attach it")]
    if settings.tensor_parallel > len(gpus):
        est = estimate_at(spec, settings, settings.tensor_parallel)
        f = Finding("gpu.tensor_parallel", "fail",
                    f"tensor parallel {settings.tensor_parallel} needs {settings.tensor_parallel} GPUs; "
                    f"{len(gpus)} visible", measured=len(gpus), required=settings.tensor_parallel,
                    suggestion=f"add {settings.tensor_parallel - len(gpus)} GPU(s) or lower --tensor-parallel")
        return (Placement(by_free(gpus), settings.tensor_parallel, est, False) if est else None), [f]
    placement = place(spec, settings, gpus)
    if placement is None or placement.estimate is None:
        # The requested split is impossible for this model (the estimator said why).
        from deepseek_probe import estimate as est_mod

        est_mod.estimate(spec, settings)  # re-raise the estimator's InputError
        return None, [Finding("gpu.vram", "unknown", "no placement could be estimated",
                              suggestion="report this with the snapshot attached")]
    out: List[Finding] = []
    if runtime.reserves_fraction_of_total:
        out += _reserved_vram_findings(spec, settings, placement, len(gpus), detail)
    else:
        out += _vram_findings(spec, settings, placement, len(gpus), detail)
    mig = _mig_gpus(placement.gpus)
    if mig and placement.fits:
        out = [_mig_unknown(f, mig[0]) if f.check == "gpu.vram" else f for f in out]
    out += tensor_parallel_findings(snapshot, settings, placement, len(gpus))
    return placement, out


def _mig_unknown(f: Finding, g: GpuInfo) -> Finding:
    """Fits the whole GPU, but with MIG on a process gets one slice, whose size we do not see."""
    return Finding("gpu.vram", "unknown",
                   f"fits the whole GPU ({gib(g.memory_free_bytes)} free) but MIG is on: a process "
                   f"gets one MIG slice, whose size is not probed",
                   measured=f.measured, required=f.required,
                   suggestion="check the slice size with `nvidia-smi mig -lgi`, or disable MIG "
                              f"(sudo nvidia-smi -i {g.index} -mig 0, then reset the GPU)")


def _mig_gpus(gpus: Sequence[GpuInfo]) -> List[GpuInfo]:
    return [g for g in gpus if g.mig_enabled]


def _vram_findings(spec: ModelSpec, settings: Settings, p: Placement, n_visible: int,
                   detail: bool = True) -> List[Finding]:
    need = need_bytes(p.estimate)
    required = need + DEVICE_MARGIN_BYTES
    tightest = min(p.gpus, key=lambda g: g.memory_free_bytes or 0)
    free = tightest.memory_free_bytes or 0
    where = (f"on {gpu_label(p.gpus[0])}" if len(p.gpus) == 1
             else f"on each of {len(p.gpus)} GPUs ({', '.join(str(g.index) for g in p.gpus)})")
    need_text = f"needs {gib(need)} + {gib(DEVICE_MARGIN_BYTES)} margin per GPU"
    if p.fits:
        msg = f"{need_text}; {gib(free)} free {where}"
        if n_visible > len(p.gpus):
            msg += f" (use CUDA_VISIBLE_DEVICES={','.join(str(g.index) for g in sorted(p.gpus, key=lambda g: g.index))})"
        return [Finding("gpu.vram", "pass", msg, measured=free, required=required)] + _fewer_layers(spec, settings, p)
    if RUNTIMES[settings.runtime].splits_layers:  # what does not fit runs from host RAM
        return _offload_findings(spec, settings, p, detail)
    from deepseek_probe import fixes as plan

    budget = free - DEVICE_MARGIN_BYTES
    fixes = _proposed(detail, spec, replace(settings, tensor_parallel=p.tensor_parallel), budget,
                            gpu_total_bytes=tightest.memory_total_bytes, gpu_name=tightest.name,
                            n_gpus=n_visible, compute_capability=cc_of(tightest))
    short = required - free
    msg = f"{need_text}; {gib(free)} free {where}: short by {gib(short)}"
    if p.auto:
        msg += f" (even split over all {len(p.gpus)} GPUs)"
    return [Finding("gpu.vram", "fail", msg, measured=free, required=required,
                    suggestion=plan.fixes_text(fixes, short, per_gpu=len(p.gpus) > 1), fixes=fixes)]


def _reserved_vram_findings(spec: ModelSpec, settings: Settings, p: Placement, n_visible: int,
                            detail: bool = True) -> List[Finding]:
    """A runtime that reserves a share of the device (vLLM): util x total must be free at start;
    the KV pool must hold one max-length sequence."""
    from deepseek_probe import fixes as plan

    label = RUNTIMES[settings.runtime].label
    util = vllm_utilization(settings)
    need = need_bytes(p.estimate)
    tightest = min(p.gpus, key=lambda g: (g.memory_free_bytes or 0, -(g.memory_total_bytes or 0)))
    total = min(cuda_total_bytes(g) for g in p.gpus)
    free = min(g.memory_free_bytes or 0 for g in p.gpus)
    reserve = math.ceil(util * total)
    where = f"{gpu_label(tightest)}" if len(p.gpus) == 1 else f"each of {len(p.gpus)} GPUs"
    if reserve <= free and need <= reserve:
        # the pool's room is two searches over the estimator: only the passing message shows it
        pool_text = _pool_text(spec, settings, p.tensor_parallel, reserve) if detail else ""
        return [Finding("gpu.vram", "pass",
                        f"{label} reserves {util:g} x {gib(total)} = {gib(reserve)} on {where} "
                        f"({gib(free)} free); this profile needs {gib(need)}{pool_text}"
                       ,
                        measured=free, required=need)]
    if reserve > free:
        lowered = int(free / total * 100) / 100 if total else 0.0
        lowered_reserve = int(lowered * total)
        if need <= lowered_reserve and lowered > 0:
            return [Finding(
                "gpu.vram", "warn",
                f"{label} would refuse to start: it reserves {util:g} x {gib(total)} = {gib(reserve)} "
                f"but only {gib(free)} is free on {where} (other processes hold memory); this "
                f"profile needs {gib(need)}",
                measured=free, required=reserve,
                suggestion=f"start {label} with --gpu-memory-utilization {lowered:.2f} "
                           f"({gib(lowered_reserve)}){_pool_text(spec, settings, p.tensor_parallel, lowered_reserve)}")]
        budget = lowered_reserve
    else:
        budget = reserve
    fixes = _proposed(detail, spec, replace(settings, tensor_parallel=p.tensor_parallel), budget,
                            gpu_total_bytes=tightest.memory_total_bytes, gpu_name=tightest.name,
                            n_gpus=n_visible, compute_capability=cc_of(tightest))
    short = need - budget
    return [Finding("gpu.vram", "fail",
                    f"needs {gib(need)} per GPU; {label} can use {gib(budget)} on {where}"
                    f" ({gib(free)} free of {gib(total)}): short by {gib(short)}",
                    measured=budget, required=need,
                    suggestion=plan.fixes_text(fixes, short, per_gpu=len(p.gpus) > 1), fixes=fixes)]


def _pool_text(spec: ModelSpec, settings: Settings, tp: int, budget: int) -> str:
    from deepseek_probe import fixes as plan

    s = replace(settings, tensor_parallel=tp)
    mc = plan.max_context_fitting(spec, s, budget)
    mconc = plan.max_concurrency_fitting(spec, s, budget)
    parts = []
    if mc:
        parts.append(f"max context {count(mc)}")
    if mconc:
        parts.append(f"{count(mconc)} sequences of {count(settings.context)} tokens")
    return ("; the KV pool allows " + ", or ".join(parts)) if parts else ""


def _offload_findings(spec: ModelSpec, settings: Settings, p: Placement, detail: bool = True) -> List[Finding]:
    """llama.cpp: what does not fit on the GPUs runs from host RAM (slower but it runs), unless the
    command fixed the GPU layers itself (-ngl N): --fit then leaves them alone and the load runs out
    of GPU memory (common/arg.cpp: --fit only adjusts arguments the user did not set)."""
    from deepseek_probe import fixes as plan
    from deepseek_probe.runtimes import llamacpp

    budget = min(g.memory_free_bytes or 0 for g in p.gpus) - DEVICE_MARGIN_BYTES
    s = replace(settings, tensor_parallel=p.tensor_parallel)
    split = llamacpp.offload_split(spec, s, max(budget, 0))
    need = need_bytes(p.estimate)
    short = need - budget
    # without vram_fixes' offload fix: that is offload_split(spec, s, budget), `split` above,
    # put first below (-ngl set) or what llama.cpp runs already
    fixes = _proposed(detail, spec, s, budget, gpu_total_bytes=p.gpus[0].memory_total_bytes,
                      gpu_name=p.gpus[0].name, n_gpus=len(p.gpus), compute_capability=cc_of(p.gpus[0]),
                      offload=False)
    layers = llamacpp.user_gpu_layers(settings)
    if layers is not None:
        fixes = [plan.Fix("offload", f"-ngl {split.ngl} (keeps {split.cpu_layers} of {spec.layers} "
                                     f"layers on the CPU, {gib(split.host_bytes)} of RAM)",
                          {"gpu_layers": split.ngl}, split.gpu_bytes)] + fixes
        return [Finding("gpu.vram", "fail",
                        f"-ngl {layers} needs {gib(need)} + {gib(DEVICE_MARGIN_BYTES)} margin per GPU, "
                        f"{gib(budget + DEVICE_MARGIN_BYTES)} free: llama.cpp runs out of GPU memory "
                        f"loading it (--fit does not lower an -ngl you set): short by {gib(short)}",
                        measured=budget + DEVICE_MARGIN_BYTES, required=need + DEVICE_MARGIN_BYTES,
                        suggestion=plan.fixes_text(fixes, short, per_gpu=len(p.gpus) > 1), fixes=fixes)]
    p.offload = split
    msg = (f"needs {gib(need)} per GPU, {gib(budget + DEVICE_MARGIN_BYTES)} free: llama.cpp keeps "
           f"{split.cpu_layers} of {spec.layers} layers on the CPU ({gib(split.host_bytes)} of RAM); "
           f"runs, slower")
    return [
        Finding("gpu.vram", "warn", f"does not fit in VRAM: short by {gib(short)} per GPU",
                measured=budget + DEVICE_MARGIN_BYTES, required=need + DEVICE_MARGIN_BYTES,
                suggestion=plan.fixes_text(fixes, short, per_gpu=len(p.gpus) > 1), fixes=fixes),
        Finding("llamacpp.offload", "warn", msg, measured=split.gpu_bytes, required=need,
                suggestion=f"-ngl {split.ngl} (llama.cpp --fit picks this itself); "
                           f"full GPU speed needs {gib(short)} more VRAM per GPU"),
    ]


def _proposed(detail: bool, *args: object, **kw: object) -> list:
    """The fixes a failing profile can take (fixes.vram_fixes), only when they will be shown: a
    survey candidate or a plan node needs the verdict, not the suggestions (they are the costly
    part: each is pre-checked against the estimator)."""
    from deepseek_probe import fixes

    return fixes.vram_fixes(*args, **kw) if detail else []  # type: ignore[arg-type]


def _fewer_layers(spec: ModelSpec, settings: Settings, p: Placement) -> List[Finding]:
    """A command that keeps layers on the CPU (-ngl N below the layer count + 1) although more fit:
    it runs, from host RAM in part, slower than it could."""
    from deepseek_probe.runtimes import llamacpp

    ngl = llamacpp.user_gpu_layers(settings)
    on_gpu = gpu_layers(p.estimate) if p.estimate else None
    if ngl is None or on_gpu is None or on_gpu >= spec.layers:
        return []
    budget = min(g.memory_free_bytes or 0 for g in p.gpus) - DEVICE_MARGIN_BYTES
    best = llamacpp.offload_split(spec, replace(settings, tensor_parallel=p.tensor_parallel,
                                                runtime_options=replace(llamacpp.options_for(settings),
                                                                        n_gpu_layers=-1)), max(budget, 0))
    more = (f"-ngl {best.ngl} fits ({best.gpu_layers} layers"
            f"{' and the output layer' if best.output_on_gpu else ''} on the GPU)" if best.ngl > ngl else None)
    return [Finding("llamacpp.offload", "warn",
                    f"-ngl {ngl}: {spec.layers - on_gpu} of {spec.layers} layers run from host RAM, slower "
                    "(llama.cpp counts the output layer as one more: all on the GPU is "
                    f"-ngl {spec.layers + 1})",
                    suggestion=more)]


def cpu_only_findings(spec: ModelSpec, settings: Settings, est: Estimate) -> Tuple[List[Finding], "OffloadSplit"]:
    """llama.cpp with no GPU: every layer in RAM (the speed is assess's, from host bandwidth)."""
    from deepseek_probe.runtimes import llamacpp

    split = llamacpp.offload_split(spec, settings, 0)
    return [Finding("llamacpp.offload", "warn",
                    f"all {spec.layers} layers on the CPU ({gib(split.host_bytes)} of RAM)",
                    measured=0, required=split.host_bytes,
                    suggestion=f"a GPU with >= {gib(need_bytes(est) + DEVICE_MARGIN_BYTES)} free "
                               f"runs it fully on the GPU")], split


def refusal_findings(est: Estimate) -> List[Finding]:
    """A context the runtime itself refuses to create (llama.cpp llama_init_from_model): the
    message it prints, as a failure, whatever the memory says."""
    error = (est.notes or {}).get("llamacpp_error")
    if not error:
        return []
    fix = ("give K and V the same cache type (-ctk T -ctv T)" if "different K" in error
           else "turn flash attention on (-fa on) or keep the V cache in f16")
    return [Finding("llamacpp.context", "fail", f"llama.cpp refuses this context: {error}", suggestion=fix)]
