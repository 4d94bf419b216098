"""Checks: a snapshot plus a model's estimate -> findings -> a verdict per profile. Pure.

No I/O here: everything comes from the Snapshot (what the probes saw) and the estimator. A fact
that is missing (no NVML, free memory unreadable) gives an ``unknown`` finding with the reason,
never an exception. Every finding that is not ``pass`` carries a concrete suggestion.

Check ids are stable (dashboards and scripts key on them); see CHECK_UNITS for the unit of
``measured`` / ``required`` where they are numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from deepseek_probe import __version__
from deepseek_probe.errors import InputError
from deepseek_probe.findings import EXIT_CODES, Finding, verdict, worst_of
from deepseek_probe.snapshot import GpuInfo, Snapshot
from deepseek_probe.units import count, gib

MIB = 2**20
GIB = 2**30

# Per-device headroom kept free beyond the estimate: llama.cpp's `--fit-target` default, 1024 MiB
# per device (common/fit.cpp, PR ggml-org/llama.cpp#16653; anchors-memory-tools.md §1.7, §3 "M").
DEVICE_MARGIN_BYTES = 1024 * MIB
# vLLM reserves gpu_memory_utilization x TOTAL memory (default 0.9) and refuses to start when free
# memory is lower (vllm/v1/worker/gpu_worker.py; anchors-memory-tools.md §1.8).
VLLM_GPU_MEMORY_UTILIZATION = 0.9
# Memory NVML shows used on an idle GPU with no process: 480 MiB on the H100, 615 MiB on the H200
# (census-h100.json / census-h200.json mem_v1_fields). More than 1 GiB used with no visible
# process means another container holds memory.
IDLE_USED_BYTES_MAX = 1 * GIB
# Offloaded weights must fit in free RAM minus an OS reserve of 2 GB (anchors-memory-tools.md §3,
# "Host side").
HOST_OS_RESERVE_BYTES = 2 * GIB
# Docker gives a container 64 MiB of /dev/shm by default; NCCL and PyTorch's tensor-parallel
# workers need more (NCCL troubleshooting guide: run containers with --shm-size=1g or
# --ipc=host; vLLM docs, "Using Docker": --ipc=host or --shm-size).
DOCKER_DEFAULT_SHM_BYTES = 64 * MIB
RECOMMENDED_SHM_BYTES = 1 * GIB
# guide-claims.md #15: alert above 85 °C (H100/H200 slow down near 87-90 °C).
GPU_TEMPERATURE_WARN_C = 85
# Swap nearly used up = the host is under memory pressure.
SWAP_PRESSURE_FREE_FRACTION = 0.25

# Minimum Linux driver per CUDA major under CUDA minor-version compatibility. Source: NVIDIA CUDA
# Toolkit Release Notes, "CUDA Toolkit and Corresponding Driver Versions" (table 3, minimum
# required driver for CUDA minor version compatibility).
MIN_DRIVER_FOR_CUDA_MAJOR: Dict[int, Tuple[int, ...]] = {
    11: (450, 80, 2),
    12: (525, 60, 13),
    13: (580, 65, 6),
}


@dataclass(frozen=True)
class RuntimeCuda:
    """Which CUDA a runtime's current binaries are built with."""

    default: str  # what `pip install` / the default download gives
    alternatives: Tuple[str, ...]  # other official builds, newest first
    auto_select: bool  # picks the build the driver supports by itself
    how_to_switch: str
    source: str


RUNTIME_CUDA: Dict[str, RuntimeCuda] = {
    # PyTorch 2.11's default PyPI wheel is cu130: "torch": "2.11.0+cu130" in groundtruth-h100.json
    # (pip install on the H100 host). cu126 / cu128 builds stay on download.pytorch.org.
    "transformers": RuntimeCuda(
        "13.0", ("12.8", "12.6"), False,
        "pip install torch --index-url https://download.pytorch.org/whl/cu{v}",
        "PyTorch 2.11 default wheel cu130 (groundtruth-h100.json); cu126/cu128 on download.pytorch.org"),
    # vLLM docs, installation/gpu.cuda.inc.md: "vLLM contains pre-compiled C++ and CUDA (12.9)
    # binaries"; release wheels also for CUDA 12.8 and 13.0 (vLLM 0.18 install docs).
    "vllm": RuntimeCuda(
        "12.9", ("13.0", "12.8"), False,
        "install the vllm-<version>+cu{v} wheel from the vLLM GitHub release",
        "vLLM installation docs: default wheels CUDA 12.9, also 12.8 and 13.0"),
    # llama.cpp release binaries ship CUDA 12.4 and 13.1 builds; Ollama bundles cuda_v12 and
    # cuda_v13 runners and loads the newest one the driver supports.
    "llamacpp": RuntimeCuda(
        "13.1", ("12.4",), True,
        "use the cuda-{v} release build",
        "llama.cpp release assets (CUDA 12.4 and 13.1 builds); Ollama cuda_v12/cuda_v13 runners"),
}

# Minimum compute capability per precision / feature. Sources: vLLM errors "Bfloat16 is only
# supported on GPUs with compute capability of at least 8.0" and its docs (GPU: compute capability
# 7.5 or higher); FP8 tensor cores exist from Ada (8.9) / Hopper (9.0) (NVIDIA Transformer Engine
# docs); vLLM runs FP8 checkpoints weight-only through FP8 Marlin on 8.0+ (vLLM docs,
# quantization/fp8); Marlin int4 kernels need 8.0 (vLLM docs, quantization supported hardware);
# FlashAttention-2 supports Ampere or newer (Dao-AILab/flash-attention README).
CC_BF16 = (8, 0)
CC_FP8 = (8, 9)
CC_MARLIN = (8, 0)
CC_FLASH_ATTENTION_2 = (8, 0)
CC_VLLM_MIN = (7, 5)

# Throttle (clock-event) reasons that mean trouble; idle, app clocks and sync boost do not,
# software power cap is normal under load (NVML nvmlClocksEventReasons docs).
_BAD_THROTTLE_WORDS = ("thermal", "power_brake", "hw_slowdown")

# Unit of `measured` / `required` when they are numbers (renderers format by this).
CHECK_UNITS: Dict[str, str] = {
    "gpu.vram": "bytes",
    "llamacpp.offload": "bytes",
    "host.ram": "bytes",
    "host.cgroup_memory": "bytes",
    "host.shm": "bytes",
    "host.swap": "bytes",
    "disk.free": "bytes",
    "gpu.other_processes": "bytes",
    "gpu.temperature": "celsius",
    "gpu.tensor_parallel": "gpus",
    "gpu.present": "gpus",
}

GPU_RUNTIMES = ("transformers", "vllm")  # llama.cpp can also run on the CPU alone


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
    estimate: Optional[Any] = None  # estimate.Estimate at the chosen tensor_parallel
    gpus_used: List[int] = field(default_factory=list)  # NVML indices

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


def check(snapshot: Snapshot, requests: Sequence[Tuple[Any, Any]]) -> CheckResult:
    """Evaluate every (spec, settings) request against one snapshot."""
    return CheckResult(snapshot, [evaluate(snapshot, spec, settings) for spec, settings in requests])


# --- small helpers --------------------------------------------------------------------------


def parse_version(text: Optional[str]) -> Optional[Tuple[int, ...]]:
    """'580.159.04' -> (580, 159, 4); '13.0' -> (13, 0); junk -> None."""
    if not text:
        return None
    parts = []
    for p in str(text).strip().split("."):
        digits = "".join(ch for ch in p if "0" <= ch <= "9")  # not isdigit(): '²' is a digit
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def _vstr(v: Tuple[int, ...]) -> str:
    return ".".join(f"{x:02d}" if i == 2 else str(x) for i, x in enumerate(v))


def _cc(g: GpuInfo) -> Optional[Tuple[int, int]]:
    if g.compute_capability and len(g.compute_capability) >= 2:
        return (int(g.compute_capability[0]), int(g.compute_capability[1]))
    return None


def _cc_str(cc: Tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def _gpu_label(g: GpuInfo) -> str:
    name = (g.name or "GPU").replace("NVIDIA ", "")
    return f"GPU {g.index} ({name})"


def _reason(record: Any, name: str) -> str:
    return (getattr(record, "unavailable", {}) or {}).get(name) or "not reported"


def _is_gguf(precision: str) -> bool:
    return precision.startswith("q")


# --- the evaluation ---------------------------------------------------------------------------


@dataclass
class _Placement:
    """Where the model goes: which GPUs, which tensor-parallel size, and whether it fits."""

    gpus: List[GpuInfo]
    tensor_parallel: int
    estimate: Any
    fits: bool
    auto: bool = False
    offload: Any = None  # plan.OffloadSplit when llama.cpp keeps layers on the CPU


def evaluate(snapshot: Snapshot, spec: Any, settings: Any) -> ProfileResult:
    """All checks for one model profile. Raises InputError only for settings that make no sense
    for the model (the estimator's verdict), never for what the machine lacks."""
    from deepseek_probe import estimate as est_mod

    findings: List[Finding] = []
    runtime = settings.runtime
    # A GPU that fell off the bus mid-probe may still show the memory read before it went:
    # never place a model on it, and say so (gpu.lost).
    lost = [g for g in snapshot.visible_gpus if _is_lost(g)]
    gpus = [g for g in snapshot.visible_gpus if not _is_lost(g)]
    base_estimate = est_mod.estimate(spec, settings)  # raises InputError on bad settings
    placement: Optional[_Placement] = None
    offload_host_bytes = 0  # host RAM llama.cpp needs for the layers it keeps on the CPU

    findings += _driver_findings(snapshot, settings)
    if lost:
        findings.append(_lost_finding(lost))
    if not gpus:
        if not lost:
            findings.append(_no_gpu_finding(snapshot, settings))
        if runtime == "llamacpp":
            cpu_findings, offload_host_bytes = _cpu_only_findings(spec, settings, base_estimate)
            findings += cpu_findings
    else:
        placement, vram_findings = _place_and_check_vram(snapshot, spec, settings, gpus)
        findings += vram_findings
        if placement is not None and placement.offload is not None:
            offload_host_bytes = placement.offload.host_bytes
        used = placement.gpus if placement else gpus
        findings += _compute_capability_findings(used, settings)
        findings += _health_findings(used)
    est = placement.estimate if placement else base_estimate
    tp = placement.tensor_parallel if placement else settings.tensor_parallel
    findings += _host_findings(snapshot, settings, est, tp, offload_host_bytes)
    findings += _disk_findings(snapshot, est)
    return ProfileResult(
        model=getattr(spec, "id", str(spec)), precision=settings.precision,
        kv_precision=settings.kv_precision, context=settings.context,
        concurrency=settings.concurrency, runtime=runtime, tensor_parallel=tp,
        verdict=verdict(findings), findings=findings, estimate=est,
        gpus_used=[g.index for g in placement.gpus] if placement else [])


# --- driver / CUDA --------------------------------------------------------------------------

_NO_DRIVER_STATUSES = ("library_not_found", "driver_not_loaded")


def _driver_findings(snapshot: Snapshot, settings: Any) -> List[Finding]:
    cu = snapshot.cuda
    runtime = settings.runtime
    needs_gpu = runtime in GPU_RUNTIMES
    status = cu.nvml_status or "ok"
    if status in _NO_DRIVER_STATUSES:
        what = "libnvidia-ml not found" if status == "library_not_found" else "the NVIDIA kernel driver is not loaded"
        level = "fail" if needs_gpu else "warn"
        return [Finding("driver.present", level, f"no NVIDIA driver: {what}", measured=status,
                        required="NVIDIA driver" if needs_gpu else "NVIDIA driver for GPU offload",
                        suggestion=_install_driver_hint(runtime))]
    if status != "ok":
        return [Finding("driver.present", "unknown",
                        f"NVML could not be queried ({status}); driver state unknown",
                        measured=status, required="NVML answering",
                        suggestion=_nvml_status_hint(status))]
    version = parse_version(cu.driver_version)
    if version is None:
        return [Finding("driver.present", "unknown",
                        f"driver version unreadable ({_reason(cu, 'driver_version')})",
                        suggestion="run nvidia-smi to see the driver version and attach its output")]
    out = [Finding("driver.present", "pass", f"NVIDIA driver {cu.driver_version}",
                   measured=cu.driver_version)]
    out.append(_cuda_version_finding(cu.driver_version, version, cu.cuda_driver_version, runtime))
    return out


def _install_driver_hint(runtime: str) -> str:
    rc = RUNTIME_CUDA[runtime]
    major = int(rc.default.split(".")[0])
    return (f"install the NVIDIA driver (>= {_vstr(MIN_DRIVER_FOR_CUDA_MAJOR[major])} for the CUDA "
            f"{major}.x builds {runtime} uses) and check with nvidia-smi; in a container, run it "
            f"with --gpus all and the NVIDIA Container Toolkit")


def _nvml_status_hint(status: str) -> str:
    if status == "no_permission":
        return "run as a user allowed to open /dev/nvidia* (video group) or check the container's device access"
    if status == "timeout":
        return "NVML did not answer in time: check `nvidia-smi` (a hung GPU or driver), then retry"
    return "run nvidia-smi; if it fails too, reinstall the driver (driver/library version mismatch needs a reboot)"


def _cuda_version_finding(driver_text: str, driver: Tuple[int, ...], max_cuda_text: Optional[str],
                          runtime: str) -> Finding:
    rc = RUNTIME_CUDA[runtime]
    max_cuda = parse_version(max_cuda_text)
    builds = (rc.default,) + rc.alternatives

    def usable(build: str) -> bool:
        major = int(build.split(".")[0])
        minimum = MIN_DRIVER_FOR_CUDA_MAJOR.get(major)
        return minimum is not None and driver >= minimum

    def full(build: str) -> bool:
        return max_cuda is not None and max_cuda >= parse_version(build)

    measured = f"driver {driver_text}, max CUDA {max_cuda_text or '?'}"
    default_major = int(rc.default.split(".")[0])
    required = f"CUDA {rc.default} build: driver >= {_vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])}"
    if rc.auto_select:
        ok = [b for b in builds if usable(b)]
        if ok:
            # The newest build the driver fully supports, else the newest it runs under
            # minor-version compatibility.
            best = max([b for b in ok if full(b)] or ok, key=parse_version)
            msg = f"{runtime} loads its CUDA {best} build on driver {driver_text} ({rc.source})"
            return Finding("driver.cuda_version", "pass", msg, measured, required)
    else:
        if usable(rc.default):
            if max_cuda is None or full(rc.default):
                return Finding("driver.cuda_version", "pass",
                               f"driver supports CUDA {max_cuda_text or '?'}; {runtime} uses CUDA "
                               f"{rc.default} ({rc.source})", measured, required)
            return Finding(
                "driver.cuda_version", "warn",
                f"driver supports CUDA {max_cuda_text}, {runtime} is built with CUDA {rc.default}: "
                f"runs under minor-version compatibility, but kernels JIT-compiled from newer PTX fail",
                measured, required,
                f"upgrade to a driver that reports CUDA >= {rc.default} in nvidia-smi")
        alt = [b for b in rc.alternatives if usable(b)]
        if alt:
            pick = max((b for b in alt if full(b)), key=parse_version, default=None) or max(alt, key=parse_version)
            return Finding(
                "driver.cuda_version", "warn",
                f"driver {driver_text} is too old for {runtime}'s default CUDA {rc.default} build "
                f"(needs >= {_vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])}); its CUDA {pick} build works",
                measured, required,
                rc.how_to_switch.format(v=pick.replace(".", "")) +
                f", or upgrade the driver to >= {_vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])}")
    oldest_major = min(int(b.split(".")[0]) for b in builds)
    need = MIN_DRIVER_FOR_CUDA_MAJOR[oldest_major]
    return Finding(
        "driver.cuda_version", "fail",
        f"driver {driver_text} is too old for every CUDA build of {runtime} "
        f"(oldest: CUDA {oldest_major}.x needs >= {_vstr(need)})",
        measured, required,
        f"upgrade the NVIDIA driver to >= {_vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])} "
        f"(NVIDIA CUDA release notes, driver table)")


# --- GPU presence -----------------------------------------------------------------------------


def _is_lost(g: GpuInfo) -> bool:
    return "gpu_lost" in (g.unavailable or {}).values()


def _lost_finding(lost: Sequence[GpuInfo]) -> Finding:
    """NVML_ERROR_GPU_IS_LOST: the GPU fell off the bus (NVIDIA Xid catalog: Xid 79); nothing
    runs on it until the node is rebooted, and CUDA can fail to start with it present."""
    labels = ", ".join(_gpu_label(g) for g in lost)
    return Finding("gpu.lost", "fail", f"{labels} fell off the bus (NVML: GPU is lost)",
                   measured=[g.index for g in lost], required=None,
                   suggestion="drain the node, check `dmesg` for Xid 79 and reboot (reseat the GPU "
                              "if it recurs); meanwhile hide it with CUDA_VISIBLE_DEVICES")


def _no_gpu_finding(snapshot: Snapshot, settings: Any) -> Finding:
    cu = snapshot.cuda
    status = cu.nvml_status or "ok"
    runtime = settings.runtime
    hidden = [g for g in snapshot.gpus if not g.visible]
    if status not in ("ok",) + _NO_DRIVER_STATUSES:
        return Finding("gpu.present", "unknown",
                       f"GPUs could not be listed: NVML {status}", measured=None, required=1,
                       suggestion=_nvml_status_hint(status))
    if hidden:
        msg = (f"{len(hidden)} GPU(s) present but hidden by CUDA_VISIBLE_DEVICES="
               f"{cu.cuda_visible_devices!r}")
        sug = "unset CUDA_VISIBLE_DEVICES or list the GPUs to use (e.g. CUDA_VISIBLE_DEVICES=0)"
    elif status in _NO_DRIVER_STATUSES:
        msg = "no NVIDIA GPU usable: no NVIDIA driver"
        sug = _install_driver_hint(runtime) + ", or run on a host with an NVIDIA GPU"
    else:
        msg = "no NVIDIA GPU found"
        sug = "run on a host with an NVIDIA GPU (see `deepseek-probe plan --model ...` for which)"
    if runtime == "llamacpp":
        return Finding("gpu.present", "warn", msg + "; llama.cpp runs on the CPU only (slow)",
                       measured=0, required=1, suggestion=sug)
    return Finding("gpu.present", "fail", msg + f"; {runtime} needs a CUDA GPU", measured=0,
                   required=1, suggestion=sug)


# --- VRAM and placement -----------------------------------------------------------------------


def _estimate_at(spec: Any, settings: Any, tp: int, device_total: Optional[int] = None):
    """The estimate at tensor-parallel `tp`, or None when the model cannot be split that way."""
    from deepseek_probe import estimate as est_mod

    try:
        return est_mod.estimate(spec, replace(settings, tensor_parallel=tp), device_total)
    except InputError:
        return None


def _need_bytes(est: Any) -> int:
    return int(est.per_device.total_bytes)


def vllm_utilization(settings: Any) -> float:
    return float(getattr(settings, "gpu_memory_utilization", None) or VLLM_GPU_MEMORY_UTILIZATION)


def budget_bytes(g: GpuInfo, settings: Any) -> Optional[int]:
    """Bytes the runtime may hold on this GPU before it fails to start or runs out of memory."""
    if g.memory_free_bytes is None:
        return None
    if settings.runtime == "vllm":
        if g.memory_total_bytes is None:
            return None
        # vLLM reserves utilization x total; it starts only when that much is free.
        return min(int(vllm_utilization(settings) * g.memory_total_bytes), g.memory_free_bytes)
    return g.memory_free_bytes - DEVICE_MARGIN_BYTES


def _fits(est: Any, gpus: Sequence[GpuInfo], settings: Any) -> bool:
    need = _need_bytes(est)
    return all((budget_bytes(g, settings) or -1) >= need for g in gpus)


def _by_free(gpus: Sequence[GpuInfo]) -> List[GpuInfo]:
    return sorted(gpus, key=lambda g: (-(g.memory_free_bytes or -1), g.index))


def _place(spec: Any, settings: Any, gpus: Sequence[GpuInfo]) -> Optional[_Placement]:
    """Choose GPUs and a tensor-parallel size: the requested one, or when it is 1 and one GPU is
    not enough, the smallest that divides the heads and fits on the visible GPUs."""
    ordered = _by_free(gpus)
    runtime = settings.runtime
    tp = settings.tensor_parallel
    if tp > 1:
        est = _estimate_at(spec, settings, tp)
        if est is None:
            return None
        chosen = ordered[:tp]
        return _Placement(chosen, tp, est, len(chosen) == tp and _fits(est, chosen, settings))
    est1 = _estimate_at(spec, settings, 1)
    first = _Placement(ordered[:1], 1, est1, est1 is not None and _fits(est1, ordered[:1], settings))
    if first.fits or len(ordered) == 1:
        return first
    best_tried = first
    for n in range(2, len(ordered) + 1):
        est = _estimate_at(spec, settings, n)
        if est is None:
            continue  # heads not divisible by n
        p = _Placement(ordered[:n], n, est, _fits(est, ordered[:n], settings), auto=True)
        if p.fits:
            return p
        best_tried = p
    return best_tried


def _place_and_check_vram(snapshot: Snapshot, spec: Any, settings: Any,
                          gpus: List[GpuInfo]) -> Tuple[Optional[_Placement], List[Finding]]:
    runtime = settings.runtime
    unreadable = [g for g in gpus if g.memory_free_bytes is None]
    if unreadable:
        g = unreadable[0]
        return None, [Finding("gpu.vram", "unknown",
                              f"free memory of {_gpu_label(g)} unreadable ({_reason(g, 'memory_free_bytes')})",
                              suggestion="run nvidia-smi --query-gpu=memory.free --format=csv and "
                                         "attach it; check NVML permissions")]
    if runtime == "vllm":
        no_total = [g for g in gpus if g.memory_total_bytes is None]
        if no_total:
            g = no_total[0]
            return None, [Finding("gpu.vram", "unknown",
                                  f"total memory of {_gpu_label(g)} unreadable "
                                  f"({_reason(g, 'memory_total_bytes')}); vLLM sizes itself from it",
                                  suggestion="run nvidia-smi --query-gpu=memory.total --format=csv and attach it")]
    if settings.tensor_parallel > len(gpus):
        est = _estimate_at(spec, settings, settings.tensor_parallel)
        f = Finding("gpu.tensor_parallel", "fail",
                    f"tensor parallel {settings.tensor_parallel} needs {settings.tensor_parallel} GPUs; "
                    f"{len(gpus)} visible", measured=len(gpus), required=settings.tensor_parallel,
                    suggestion=f"add {settings.tensor_parallel - len(gpus)} GPU(s) or lower --tensor-parallel")
        return (_Placement(_by_free(gpus), settings.tensor_parallel, est, False) if est else None), [f]
    placement = _place(spec, settings, gpus)
    if placement is None or placement.estimate is None:
        # The requested split is impossible for this model (the estimator said why).
        from deepseek_probe import estimate as est_mod

        est_mod.estimate(spec, settings)  # re-raise the estimator's InputError
        return None, [Finding("gpu.vram", "unknown", "no placement could be estimated",
                              suggestion="report this with the snapshot attached")]
    out: List[Finding] = []
    if runtime == "vllm":
        out += _vllm_vram_findings(spec, settings, placement, len(gpus))
    else:
        out += _vram_findings(spec, settings, placement, len(gpus))
    mig = _mig_gpus(placement.gpus)
    if mig and placement.fits:
        out = [_mig_unknown(f, mig[0]) if f.check == "gpu.vram" else f for f in out]
    out += _tensor_parallel_findings(snapshot, settings, placement, len(gpus))
    return placement, out


def _mig_unknown(f: Finding, g: GpuInfo) -> Finding:
    """Fits the whole GPU, but with MIG on a process gets one slice, whose size we do not see."""
    return Finding("gpu.vram", "unknown",
                   f"fits the whole GPU ({gib(g.memory_free_bytes)} free) but MIG is on: a process "
                   f"gets one MIG slice, whose size is not probed",
                   measured=f.measured, required=f.required,
                   suggestion="check the slice size with `nvidia-smi mig -lgi`, or disable MIG "
                              f"(sudo nvidia-smi -i {g.index} -mig 0, then reset the GPU)")


def _tokens_per_s_text(est: Any, gpus: Sequence[GpuInfo]) -> str:
    bws = [g.memory_bandwidth_bytes_per_s for g in gpus]
    if not bws or any(b is None for b in bws):
        return ""
    from deepseek_probe import plan

    tps = plan.decode_tokens_per_s(est, min(bws))
    if not tps:
        return ""
    return f"; decode ≈ {tps['mid']:.0f} tok/s per sequence ({tps['low']:.0f}–{tps['high']:.0f}, estimate)"


def _mig_gpus(gpus: Sequence[GpuInfo]) -> List[GpuInfo]:
    return [g for g in gpus if g.mig_enabled]


def _vram_findings(spec: Any, settings: Any, p: _Placement, n_visible: int) -> List[Finding]:
    from deepseek_probe import plan

    need = _need_bytes(p.estimate)
    required = need + DEVICE_MARGIN_BYTES
    tightest = min(p.gpus, key=lambda g: g.memory_free_bytes or 0)
    free = tightest.memory_free_bytes or 0
    where = (f"on {_gpu_label(p.gpus[0])}" if len(p.gpus) == 1
             else f"on each of {len(p.gpus)} GPUs ({', '.join(str(g.index) for g in p.gpus)})")
    need_text = f"needs {gib(need)} + {gib(DEVICE_MARGIN_BYTES)} margin per GPU"
    if p.fits:
        msg = f"{need_text}; {gib(free)} free {where}" + _tokens_per_s_text(p.estimate, p.gpus)
        if n_visible > len(p.gpus):
            msg += f" (use CUDA_VISIBLE_DEVICES={','.join(str(g.index) for g in sorted(p.gpus, key=lambda g: g.index))})"
        return [Finding("gpu.vram", "pass", msg, measured=free, required=required)]
    if settings.runtime == "llamacpp":
        return _offload_findings(spec, settings, p)
    budget = free - DEVICE_MARGIN_BYTES
    fixes = plan.vram_fixes(spec, replace(settings, tensor_parallel=p.tensor_parallel), budget,
                            gpu_total_bytes=tightest.memory_total_bytes, gpu_name=tightest.name,
                            n_gpus=n_visible, compute_capability=_cc(tightest))
    short = required - free
    msg = f"{need_text}; {gib(free)} free {where}: short by {gib(short)}"
    if p.auto:
        msg += f" (even split over all {len(p.gpus)} GPUs)"
    return [Finding("gpu.vram", "fail", msg, measured=free, required=required,
                    suggestion=plan.fixes_text(fixes, short, per_gpu=len(p.gpus) > 1))]


def _vllm_vram_findings(spec: Any, settings: Any, p: _Placement, n_visible: int) -> List[Finding]:
    """vLLM: util x total must be free at start; the KV pool must hold one max-length sequence."""
    from deepseek_probe import plan

    util = vllm_utilization(settings)
    need = _need_bytes(p.estimate)
    tightest = min(p.gpus, key=lambda g: (g.memory_free_bytes or 0, -(g.memory_total_bytes or 0)))
    total = min(g.memory_total_bytes or 0 for g in p.gpus)
    free = min(g.memory_free_bytes or 0 for g in p.gpus)
    reserve = int(util * total)
    where = f"{_gpu_label(tightest)}" if len(p.gpus) == 1 else f"each of {len(p.gpus)} GPUs"
    pool_text = _vllm_pool_text(spec, settings, p.tensor_parallel, reserve)
    if reserve <= free and need <= reserve:
        return [Finding("gpu.vram", "pass",
                        f"vLLM reserves {util:g} x {gib(total)} = {gib(reserve)} on {where} "
                        f"({gib(free)} free); this profile needs {gib(need)}{pool_text}"
                        + _tokens_per_s_text(p.estimate, p.gpus),
                        measured=free, required=need)]
    if reserve > free:
        lowered = int(free / total * 100) / 100 if total else 0.0
        lowered_reserve = int(lowered * total)
        if need <= lowered_reserve and lowered > 0:
            return [Finding(
                "gpu.vram", "warn",
                f"vLLM would refuse to start: it reserves {util:g} x {gib(total)} = {gib(reserve)} "
                f"but only {gib(free)} is free on {where} (other processes hold memory); this "
                f"profile needs {gib(need)}",
                measured=free, required=reserve,
                suggestion=f"start vLLM with --gpu-memory-utilization {lowered:.2f} "
                           f"({gib(lowered_reserve)}){_vllm_pool_text(spec, settings, p.tensor_parallel, lowered_reserve)}")]
        budget = lowered_reserve
    else:
        budget = reserve
    fixes = plan.vram_fixes(spec, replace(settings, tensor_parallel=p.tensor_parallel), budget,
                            gpu_total_bytes=tightest.memory_total_bytes, gpu_name=tightest.name,
                            n_gpus=n_visible, compute_capability=_cc(tightest))
    short = need - budget
    return [Finding("gpu.vram", "fail",
                    f"needs {gib(need)} per GPU; vLLM can use {gib(budget)} on {where}"
                    f" ({gib(free)} free of {gib(total)}): short by {gib(short)}",
                    measured=budget, required=need,
                    suggestion=plan.fixes_text(fixes, short, per_gpu=len(p.gpus) > 1))]


def _vllm_pool_text(spec: Any, settings: Any, tp: int, budget: int) -> str:
    from deepseek_probe import plan

    s = replace(settings, tensor_parallel=tp)
    mc = plan.max_context_fitting(spec, s, budget)
    mconc = plan.max_concurrency_fitting(spec, s, budget)
    parts = []
    if mc:
        parts.append(f"max context {count(mc)}")
    if mconc:
        parts.append(f"{count(mconc)} sequences of {count(settings.context)} tokens")
    return ("; the KV pool allows " + ", or ".join(parts)) if parts else ""


def _offload_findings(spec: Any, settings: Any, p: _Placement) -> List[Finding]:
    """llama.cpp: what does not fit on the GPUs runs from host RAM (slower but it runs)."""
    from deepseek_probe import plan

    budget = min(g.memory_free_bytes or 0 for g in p.gpus) - DEVICE_MARGIN_BYTES
    split = plan.offload(spec, replace(settings, tensor_parallel=p.tensor_parallel), max(budget, 0),
                         gpu_bandwidth_bytes_per_s=min((g.memory_bandwidth_bytes_per_s or 0) for g in p.gpus) or None)
    need = _need_bytes(p.estimate)
    short = need + DEVICE_MARGIN_BYTES - (budget + DEVICE_MARGIN_BYTES)
    tps = f", ≈ {split.tokens_per_s:.1f} tok/s (estimate, ±30%)" if split.tokens_per_s else ""
    msg = (f"needs {gib(need)} per GPU, {gib(budget + DEVICE_MARGIN_BYTES)} free: llama.cpp offloads "
           f"{split.cpu_layers} of {split.total_layers} layers to the CPU ({gib(split.host_bytes)} of RAM); "
           f"runs, slower{tps}")
    fixes = plan.vram_fixes(spec, replace(settings, tensor_parallel=p.tensor_parallel), budget,
                            gpu_total_bytes=p.gpus[0].memory_total_bytes, gpu_name=p.gpus[0].name,
                            n_gpus=len(p.gpus), compute_capability=_cc(p.gpus[0]))
    fixes = [f for f in fixes if f.kind != "offload"]
    p.offload = split
    return [
        Finding("gpu.vram", "warn", f"does not fit in VRAM: short by {gib(short)} per GPU",
                measured=budget + DEVICE_MARGIN_BYTES, required=need + DEVICE_MARGIN_BYTES,
                suggestion=plan.fixes_text(fixes, short, per_gpu=len(p.gpus) > 1)),
        Finding("llamacpp.offload", "warn", msg, measured=split.gpu_bytes, required=need,
                suggestion=f"-ngl {split.gpu_layers} (llama.cpp --fit picks this itself); "
                           f"full GPU speed needs {gib(short)} more VRAM per GPU"),
    ]


def _cpu_only_findings(spec: Any, settings: Any, est: Any) -> Tuple[List[Finding], int]:
    from deepseek_probe import plan

    split = plan.offload(spec, settings, 0, gpu_bandwidth_bytes_per_s=None)
    tps = f" ≈ {split.tokens_per_s:.1f} tok/s (estimate)" if split.tokens_per_s else ""
    return [Finding("llamacpp.offload", "warn",
                    f"all {split.total_layers} layers on the CPU ({gib(split.host_bytes)} of RAM);{tps}",
                    measured=0, required=split.host_bytes,
                    suggestion=f"a GPU with >= {gib(_need_bytes(est) + DEVICE_MARGIN_BYTES)} free "
                               f"runs it fully on the GPU")], split.host_bytes


def _tensor_parallel_findings(snapshot: Snapshot, settings: Any, p: _Placement,
                              n_visible: int) -> List[Finding]:
    out: List[Finding] = []
    if p.tensor_parallel > 1:
        how = "chosen automatically: one GPU is not enough" if p.auto else "as requested"
        flag = {"vllm": f"--tensor-parallel-size {p.tensor_parallel}",
                "llamacpp": "--split-mode layer (default)",
                "transformers": 'device_map="auto"'}.get(settings.runtime, "")
        out.append(Finding("gpu.tensor_parallel", "pass",
                           f"split over {p.tensor_parallel} GPUs ({how}; {flag})",
                           measured=n_visible, required=p.tensor_parallel))
        out.append(_interconnect_finding(snapshot, settings, p))
    return out


def _link_between(snapshot: Snapshot, a: int, b: int):
    for link in snapshot.links:
        if {link.gpu_a, link.gpu_b} == {a, b}:
            return link
    return None


def _interconnect_finding(snapshot: Snapshot, settings: Any, p: _Placement) -> Finding:
    idx = [g.index for g in p.gpus]
    pairs = [(a, b) for i, a in enumerate(idx) for b in idx[i + 1:]]
    kinds = []
    for a, b in pairs:
        link = _link_between(snapshot, a, b)
        if link is None or (link.nvlink_p2p is None and link.common_ancestor is None):
            kinds.append((a, b, None))
        elif link.nvlink_p2p:
            kinds.append((a, b, "NVLink"))
        else:
            kinds.append((a, b, f"PCIe ({link.common_ancestor or 'path unknown'})"))
    # Only true tensor parallelism (vLLM) all-reduces every layer; llama.cpp and transformers'
    # device_map split by layers and pass one activation per boundary, so PCIe is fine there.
    true_tp = settings.runtime == "vllm"
    text = ", ".join(f"GPU {a}<->{b}: {k or 'unknown'}" for a, b, k in kinds)
    if any(k is None for _, _, k in kinds):
        return Finding("gpu.interconnect", "unknown" if true_tp else "pass",
                       f"link between GPUs not reported ({text})",
                       suggestion="run `nvidia-smi topo -m` and attach it" if true_tp else None)
    if all(k == "NVLink" for _, _, k in kinds):
        return Finding("gpu.interconnect", "pass", f"NVLink between the chosen GPUs ({text})",
                       measured="nvlink", required="nvlink" if true_tp else None)
    if true_tp:
        return Finding("gpu.interconnect", "warn",
                       f"tensor parallel over PCIe only ({text}): every layer all-reduces over PCIe, "
                       f"decode is slower than with NVLink", measured="pcie", required="nvlink",
                       suggestion="prefer NVLink-connected GPUs, or use pipeline parallel "
                                  "(--pipeline-parallel-size) instead of tensor parallel over PCIe")
    return Finding("gpu.interconnect", "pass",
                   f"{text}; {settings.runtime} splits by layers, PCIe is enough", measured="pcie")


# --- compute capability -----------------------------------------------------------------------


def _compute_capability_findings(gpus: Sequence[GpuInfo], settings: Any) -> List[Finding]:
    ccs = [(g, _cc(g)) for g in gpus]
    unknown = [g for g, cc in ccs if cc is None]
    if unknown:
        return [Finding("gpu.compute_capability", "unknown",
                        f"compute capability of {_gpu_label(unknown[0])} unreadable "
                        f"({_reason(unknown[0], 'compute_capability')})",
                        suggestion="run nvidia-smi --query-gpu=compute_cap --format=csv and attach it")]
    g, cc = min(ccs, key=lambda t: t[1])
    runtime, precision = settings.runtime, settings.precision
    problems: List[Tuple[str, str, str, str]] = []  # (level, message, required, suggestion)
    if runtime == "vllm" and cc < CC_VLLM_MIN:
        problems.append(("fail", f"vLLM needs compute capability >= {_cc_str(CC_VLLM_MIN)}",
                         f">= {_cc_str(CC_VLLM_MIN)}", "use llama.cpp (--runtime llamacpp) on this GPU"))
    if precision == "bf16" and runtime in GPU_RUNTIMES and cc < CC_BF16:
        problems.append(("fail", "bf16 needs compute capability >= 8.0", ">= 8.0 (bf16)",
                         "use --precision fp16"))
    if precision == "fp8" and cc < CC_FP8:
        if runtime == "vllm" and cc >= CC_MARLIN:
            problems.append(("warn", "no FP8 tensor cores (need 8.9): vLLM runs FP8 weight-only "
                                     "through FP8 Marlin, slower", ">= 8.9 (fp8)",
                             "use --precision int8 or int4 for speed, or an Ada/Hopper GPU"))
        else:
            problems.append(("fail", "fp8 needs compute capability >= 8.9 (Ada/Hopper)",
                             ">= 8.9 (fp8)", "use --precision int8 or int4"))
    if precision == "int4" and runtime == "vllm" and cc < CC_MARLIN:
        problems.append(("warn", "Marlin int4 kernels need 8.0: vLLM falls back to slower AWQ/GPTQ kernels",
                         ">= 8.0 (Marlin)", "expect lower throughput, or use an Ampere or newer GPU"))
    if runtime == "vllm" and cc < CC_FLASH_ATTENTION_2:
        problems.append(("warn", "FlashAttention-2 needs 8.0: vLLM uses a slower attention backend",
                         ">= 8.0 (FlashAttention-2)", "expect lower throughput on this GPU"))
    if not problems:
        need = {"bf16": "8.0 (bf16)", "fp8": "8.9 (fp8)"}.get(precision)
        extra = f"; {precision} supported" if need else ""
        return [Finding("gpu.compute_capability", "pass",
                        f"{_gpu_label(g)} compute capability {_cc_str(cc)}{extra}",
                        measured=_cc_str(cc), required=f">= {need}" if need else None)]
    return [Finding("gpu.compute_capability", lvl, f"{_gpu_label(g)} is {_cc_str(cc)}: {msg}",
                    measured=_cc_str(cc), required=req, suggestion=sug)
            for lvl, msg, req, sug in problems]


# --- health -------------------------------------------------------------------------------------


def _aggregate(check_id: str, items: List[Tuple[str, str, Optional[str]]], ok_message: str,
               measured: Any = None, required: Any = None) -> Finding:
    """One finding per check: the worst level, messages of the GPUs that are not fine."""
    bad = [(lvl, msg, sug) for lvl, msg, sug in items if lvl != "pass"]
    if not bad:
        return Finding(check_id, "pass", ok_message, measured=measured, required=required)
    level = worst_of(lvl for lvl, _, _ in bad)
    msg = "; ".join(m for _, m, _ in bad)
    sugs = []
    for _, _, s in bad:
        if s and s not in sugs:
            sugs.append(s)
    return Finding(check_id, level, msg, measured=measured, required=required,
                   suggestion="; ".join(sugs) or None)


def _health_findings(gpus: Sequence[GpuInfo]) -> List[Finding]:
    out = []
    # MIG: memory is sliced into instances; a process sees one slice.
    mig = [(("warn", f"{_gpu_label(g)}: MIG is enabled, memory is sliced into instances",
             f"use a MIG slice large enough for the model, or disable MIG "
             f"(sudo nvidia-smi -i {g.index} -mig 0, then reset the GPU)") if g.mig_enabled else
            ("pass", "", None)) for g in gpus]
    out.append(_aggregate("gpu.mig", mig, "MIG disabled" if all(g.mig_enabled is False for g in gpus)
                          else "MIG not enabled (or not supported)",
                          measured=[g.mig_enabled for g in gpus]))
    # ECC: uncorrected errors and failed row remapping (NVIDIA "GPU Memory Error Management").
    ecc = []
    for g in gpus:
        if g.remapped_rows_failed:
            ecc.append(("fail", f"{_gpu_label(g)}: row remapping failed (memory cannot be repaired)",
                        "drain the node and contact the vendor (RMA); see nvidia-smi -q -d ROW_REMAPPER"))
        elif g.remapped_rows_pending:
            ecc.append(("warn", f"{_gpu_label(g)}: row remapping pending",
                        f"reset the GPU (nvidia-smi -r -i {g.index}) or reboot to apply the remapping"))
        elif g.ecc_uncorrected_volatile:
            ecc.append(("warn", f"{_gpu_label(g)}: {g.ecc_uncorrected_volatile} uncorrected ECC "
                                f"error(s) since the driver loaded",
                        "check nvidia-smi -q -d ECC and dmesg for Xid 48/63/64; reset the GPU"))
        else:
            ecc.append(("pass", "", None))
    ecc_on = [g.ecc_enabled for g in gpus]
    out.append(_aggregate("gpu.ecc", ecc,
                          "no uncorrected ECC errors" if any(ecc_on) else "ECC off or not supported",
                          measured=[g.ecc_uncorrected_volatile for g in gpus]))
    # Throttling (clock-event reasons right now).
    thr = []
    for g in gpus:
        bad = [r for r in (g.throttle_reasons or []) if any(w in r.lower() for w in _BAD_THROTTLE_WORDS)]
        if bad:
            thr.append(("warn", f"{_gpu_label(g)} is slowed down: {', '.join(bad)}",
                        "check cooling and power delivery (nvidia-smi -q -d PERFORMANCE)"))
        else:
            thr.append(("pass", "", None))
    out.append(_aggregate("gpu.throttle", thr, "no thermal or power-brake slowdown",
                          measured=[g.throttle_reasons for g in gpus]))
    # Temperature.
    temp = []
    for g in gpus:
        if g.temperature_c is not None and g.temperature_c >= GPU_TEMPERATURE_WARN_C:
            temp.append(("warn", f"{_gpu_label(g)} at {g.temperature_c} °C (>= {GPU_TEMPERATURE_WARN_C} °C)",
                         "check airflow and fan/cooling; under load it will throttle"))
        else:
            temp.append(("pass", "", None))
    temps = [g.temperature_c for g in gpus]
    out.append(_aggregate("gpu.temperature", temp,
                          f"{max((t for t in temps if t is not None), default='?')} °C max",
                          measured=max((t for t in temps if t is not None), default=None),
                          required=f"< {GPU_TEMPERATURE_WARN_C}"))
    # PCIe link: width below max is a slot/riser problem; gen below max is usually idle power
    # saving (the link trains up under load), so it is only explained.
    pcie, notes = [], []
    for g in gpus:
        if (g.pcie_width_current and g.pcie_width_max and g.pcie_width_current < g.pcie_width_max):
            pcie.append(("warn", f"{_gpu_label(g)} PCIe link x{g.pcie_width_current} of x{g.pcie_width_max}",
                         "reseat the GPU or move it to a full-width slot; check risers/bifurcation"))
        else:
            pcie.append(("pass", "", None))
            if g.pcie_gen_current and g.pcie_gen_max and g.pcie_gen_current < g.pcie_gen_max:
                notes.append(f"GPU {g.index} at gen {g.pcie_gen_current} of {g.pcie_gen_max} "
                             f"(idle GPUs lower the link speed; normal)")
    if notes:
        ok = "; ".join(notes)
    elif all(g.pcie_width_current and g.pcie_width_max for g in gpus):
        ok = "PCIe links at full width" + (
            f" (gen {gpus[0].pcie_gen_current} x{gpus[0].pcie_width_current})" if gpus[0].pcie_gen_current else "")
    else:
        ok = f"PCIe link width not reported ({_reason(gpus[0], 'pcie_width_current')})"
    out.append(_aggregate("gpu.pcie_link", pcie, ok))
    # Other processes and compute mode.
    procs = []
    others_bytes = 0
    for g in gpus:
        if g.compute_mode == "prohibited":
            procs.append(("fail", f"{_gpu_label(g)} compute mode is Prohibited: no CUDA context allowed",
                          f"sudo nvidia-smi -i {g.index} -c DEFAULT"))
            continue
        holders = g.processes or []
        held = sum(p.used_memory_bytes or 0 for p in holders)
        if holders and g.compute_mode == "exclusive_process":
            procs.append(("fail", f"{_gpu_label(g)} is Exclusive_Process and already used by pid "
                                  f"{holders[0].pid}", "stop that process or use another GPU"))
        elif holders:
            others_bytes += held
            procs.append(("warn", f"{_gpu_label(g)} shared: {len(holders)} other process(es) hold "
                                  f"{gib(held)}", "other tenants can grow and take the memory "
                                                  "counted free here; stop them or use a dedicated GPU"))
        elif (g.processes is not None and g.memory_used_bytes is not None
              and g.memory_used_bytes - (g.memory_reserved_bytes or 0) > IDLE_USED_BYTES_MAX):
            others_bytes += g.memory_used_bytes
            procs.append(("warn", f"{_gpu_label(g)}: {gib(g.memory_used_bytes)} in use by processes "
                                  f"this container cannot see",
                          "another container or VM uses this GPU; check nvidia-smi on the host"))
        else:
            procs.append(("pass", "", None))
    out.append(_aggregate("gpu.other_processes", procs, "no other process on the GPU(s)",
                          measured=others_bytes))
    return out


# --- host and disk ---------------------------------------------------------------------------


def _host_findings(snapshot: Snapshot, settings: Any, est: Any, tp: int,
                   offload_host_bytes: int) -> List[Finding]:
    m = snapshot.memory
    out: List[Finding] = []
    need = int(getattr(est, "host_ram_bytes", 0) or 0)
    why = "to load the model"
    if offload_host_bytes:
        need = max(need, offload_host_bytes + HOST_OS_RESERVE_BYTES)
        why = (f"for the CPU-offloaded layers ({gib(offload_host_bytes)}) + "
               f"{gib(HOST_OS_RESERVE_BYTES)} OS reserve")
    if m.available_bytes is None:
        out.append(Finding("host.ram", "unknown", f"available RAM unreadable ({_reason(m, 'available_bytes')})",
                           required=need, suggestion="run `free -b` and attach its output"))
    elif need > m.available_bytes:
        total_ok = m.total_bytes is not None and need <= m.total_bytes
        out.append(Finding("host.ram", "fail",
                           f"needs {gib(need)} RAM {why}; {gib(m.available_bytes)} available"
                           f" of {gib(m.total_bytes)}",
                           measured=m.available_bytes, required=need,
                           suggestion=(f"free {gib(need - m.available_bytes)} of RAM (stop other processes)"
                                       if total_ok else f"add {gib(need - (m.total_bytes or 0))} of RAM")))
    else:
        out.append(Finding("host.ram", "pass", f"needs {gib(need)} RAM {why}; {gib(m.available_bytes)} available",
                           measured=m.available_bytes, required=need))
    # cgroup limit: the container's ceiling, whatever the host has.
    if m.cgroup_limit_bytes is None:
        reason = m.unavailable.get("cgroup_limit_bytes")
        if reason:
            out.append(Finding("host.cgroup_memory", "pass", f"cgroup memory limit not readable ({reason})"))
        else:
            out.append(Finding("host.cgroup_memory", "pass", "no cgroup memory limit"))
    elif m.cgroup_limit_bytes < need:
        out.append(Finding("host.cgroup_memory", "fail",
                           f"container memory limit {gib(m.cgroup_limit_bytes)} < {gib(need)} needed {why}",
                           measured=m.cgroup_limit_bytes, required=need,
                           suggestion=f"raise the container memory limit to >= {gib(need)} "
                                      f"(docker run --memory, Kubernetes resources.limits.memory)"))
    else:
        out.append(Finding("host.cgroup_memory", "pass", f"cgroup memory limit {gib(m.cgroup_limit_bytes)}",
                           measured=m.cgroup_limit_bytes, required=need))
    # /dev/shm for multi-process runtimes.
    multi = tp > 1 and settings.runtime in ("vllm",)
    if settings.runtime == "vllm":
        if m.shm_total_bytes is None:
            out.append(Finding("host.shm", "unknown" if multi else "pass",
                               f"/dev/shm size unreadable ({_reason(m, 'shm_total_bytes')})",
                               suggestion="run `df -h /dev/shm`; in Docker use --ipc=host or --shm-size=1g"
                               if multi else None))
        elif multi and m.shm_total_bytes <= DOCKER_DEFAULT_SHM_BYTES:
            out.append(Finding("host.shm", "fail",
                               f"/dev/shm is {gib(m.shm_total_bytes, 2)} (Docker's 64 MiB default): NCCL "
                               f"fails to create its shared-memory segments with tensor parallel {tp}",
                               measured=m.shm_total_bytes, required=RECOMMENDED_SHM_BYTES,
                               suggestion="run the container with --ipc=host or --shm-size=1g"))
        elif m.shm_total_bytes < RECOMMENDED_SHM_BYTES:
            out.append(Finding("host.shm", "warn",
                               f"/dev/shm is {gib(m.shm_total_bytes, 2)}; vLLM/PyTorch workers share "
                               f"tensors through it", measured=m.shm_total_bytes,
                               required=RECOMMENDED_SHM_BYTES,
                               suggestion="run the container with --ipc=host or --shm-size=1g"))
        else:
            out.append(Finding("host.shm", "pass", f"/dev/shm {gib(m.shm_total_bytes)}",
                               measured=m.shm_total_bytes, required=RECOMMENDED_SHM_BYTES))
    # Swap: informative; nearly used up means memory pressure.
    if m.swap_total_bytes:
        free = m.swap_free_bytes if m.swap_free_bytes is not None else m.swap_total_bytes
        if free < SWAP_PRESSURE_FREE_FRACTION * m.swap_total_bytes:
            out.append(Finding("host.swap", "warn",
                               f"swap {gib(m.swap_total_bytes - free)} of {gib(m.swap_total_bytes)} in use: "
                               f"the host is short of memory", measured=free, required=None,
                               suggestion="stop memory-hungry processes before loading the model"))
        else:
            out.append(Finding("host.swap", "pass", f"swap {gib(m.swap_total_bytes)} ({gib(free)} free)",
                               measured=free))
    elif m.swap_total_bytes == 0:
        out.append(Finding("host.swap", "pass", "no swap (fine: model weights must not be swapped)", measured=0))
    return out


def _disk_findings(snapshot: Snapshot, est: Any) -> List[Finding]:
    d = snapshot.disk
    need = int(getattr(est, "disk_bytes", 0) or 0)
    where = d.path or "the model directory"
    if d.free_bytes is None:
        reason = d.unavailable.get("free_bytes")
        if not reason and d.path is None:
            return []
        return [Finding("disk.free", "unknown", f"free space at {where} unreadable ({reason or 'not reported'})",
                        required=need, suggestion=f"run `df -h {where}` and attach it")]
    if d.free_bytes < need:
        return [Finding("disk.free", "warn",
                        f"checkpoint is {gib(need)}; {gib(d.free_bytes)} free at {where} "
                        f"(fine if the model is already downloaded there)",
                        measured=d.free_bytes, required=need,
                        suggestion=f"free {gib(need - d.free_bytes)} or point --model-dir (HF_HOME) "
                                   f"at a larger disk")]
    return [Finding("disk.free", "pass", f"checkpoint {gib(need)}; {gib(d.free_bytes)} free at {where}",
                    measured=d.free_bytes, required=need)]
