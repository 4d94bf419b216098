"""Driver and toolkit checks: is there an NVIDIA driver, does its CUDA suit the runtime's build,
does the GPU's compute capability suit the precision and kernels. The CUDA builds each runtime
ships and the kernels it needs are its Runtime record's (runtimes/<name>.py RUNTIME).

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from deepseek_probe.findings import Finding
from deepseek_probe.snapshot import GpuInfo, PciDevice, Snapshot
from deepseek_probe.checks.common import cc_of, cc_str, gpu_label, parse_version, unavailable_reason, vstr
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.thresholds import CC_BF16, CC_FLASH_ATTENTION_2, CC_FP8, CC_MARLIN, MIN_DRIVER_FOR_CUDA_MAJOR

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.runtimes.base import CudaBuilds, Settings


_NO_DRIVER_STATUSES = ("library_not_found", "driver_not_loaded")
# nvmlInit's NVML_ERROR_LIB_RM_VERSION_MISMATCH (its reason code in probes/gpu/nvidia.py): the driver was
# upgraded while the old kernel module stays loaded.
_MISMATCH_STATUSES = ("lib_rm_version_mismatch",)


_NVIDIA_PCI, _AMD_PCI = "0x10de", "0x1002"  # PCI vendor ids (pci.ids); probes/pci.py


def pci_gpus_without_driver(snapshot: Snapshot) -> List[PciDevice]:
    """GPUs the PCI bus shows (probes/pci.py) that no driver lists: NVIDIA boards while NVML
    has no driver (missing library, module not loaded, library/module mismatch), AMD boards while
    no AMD GPU is listed. [] when the bus shows none, or was not read (older snapshots)."""
    on_bus = snapshot.pci_gpus or []
    out = []
    if (snapshot.cuda.nvml_status or "ok") in _NO_DRIVER_STATUSES + _MISMATCH_STATUSES:
        out += [d for d in on_bus if d.vendor == _NVIDIA_PCI]
    if not any(g.vendor == "amd" for g in snapshot.gpus):
        out += [d for d in on_bus if d.vendor == _AMD_PCI]
    return out


def _pci_finding(snapshot: Snapshot, runtime: str, missing: List[PciDevice]) -> Finding:
    """A GPU host whose driver does not work never passes (issue 24): FAIL with the fix."""
    status = snapshot.cuda.nvml_status or "ok"
    where = ", ".join(d.address for d in missing[:4]) + (", …" if len(missing) > 4 else "")
    if missing[0].vendor == _AMD_PCI:
        return Finding("driver.present", "fail",
                       f"{len(missing)} AMD GPU(s) on the PCI bus ({where}) but no AMD GPU is listed: "
                       "the amdgpu kernel driver is not loaded or not working",
                       measured="no amdgpu device", required="amdgpu driver",
                       suggestion="install ROCm's amdgpu driver (amdgpu-install), load it (modprobe amdgpu), "
                                  "then confirm with rocm-smi")
    if status in _MISMATCH_STATUSES:
        return Finding("driver.present", "fail",
                       f"{len(missing)} NVIDIA GPU(s) on the PCI bus ({where}) but NVML's library and the "
                       "loaded kernel module are different driver versions",
                       measured=status, required="matching NVIDIA driver library and kernel module",
                       suggestion="reboot (the driver was upgraded under a running module), or reinstall "
                                  "one driver version; then confirm with nvidia-smi")
    what = "libnvidia-ml not found" if status == "library_not_found" else "the NVIDIA kernel driver is not loaded"
    return Finding("driver.present", "fail",
                   f"{len(missing)} NVIDIA GPU(s) on the PCI bus ({where}) but no working driver: {what}",
                   measured=status, required="NVIDIA driver",
                   suggestion=_repair_driver_hint(runtime, snapshot.system.container))


def driver_findings(snapshot: Snapshot, settings: Settings) -> List[Finding]:
    missing = pci_gpus_without_driver(snapshot)
    nvidia = [d for d in missing if d.vendor == _NVIDIA_PCI]
    if nvidia:
        return [_pci_finding(snapshot, settings.runtime, nvidia)]
    out = _nvidia_driver_findings(snapshot, settings)
    amd = [d for d in missing if d.vendor == _AMD_PCI]
    if amd:  # the board is AMD's: "no NVIDIA driver" is not this host's problem, amdgpu is
        out = [f for f in out if f.check != "driver.present" or f.level == "pass"]
        out.append(_pci_finding(snapshot, settings.runtime, amd))
    return out


def _nvidia_driver_findings(snapshot: Snapshot, settings: Settings) -> List[Finding]:
    cu = snapshot.cuda
    runtime = settings.runtime
    needs_gpu = not RUNTIMES[runtime].runs_on_cpu
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
                        f"driver version unreadable ({unavailable_reason(cu, 'driver_version')})",
                        suggestion="run nvidia-smi to see the driver version and attach its output")]
    out = [Finding("driver.present", "pass", f"NVIDIA driver {cu.driver_version}",
                   measured=cu.driver_version)]
    out.append(_cuda_version_finding(cu.driver_version, version, cu.cuda_driver_version, runtime))
    return out


def _cuda(runtime: str) -> CudaBuilds:
    rc = RUNTIMES[runtime].cuda
    if rc is None:
        raise KeyError(f"no CUDA build modelled for {runtime}")
    return rc


def _install_driver_hint(runtime: str) -> str:
    rc = _cuda(runtime)
    major = int(rc.default.split(".")[0])
    return (f"install the NVIDIA driver (>= {vstr(MIN_DRIVER_FOR_CUDA_MAJOR[major])} for the CUDA "
            f"{major}.x builds {runtime} uses) and check with nvidia-smi; in a container, run it "
            f"with --gpus all and the NVIDIA Container Toolkit")


def _repair_driver_hint(runtime: str, container: Optional[str] = None) -> str:
    major = int(_cuda(runtime).default.split(".")[0])
    hint = (f"install or repair the NVIDIA driver (>= {vstr(MIN_DRIVER_FOR_CUDA_MAJOR[major])} for the CUDA "
            f"{major}.x builds {runtime} uses; after a kernel update, reinstall the driver package so its "
            f"kernel module is rebuilt), then confirm with nvidia-smi")
    if container:  # sysfs shows the host's PCI bus inside a container: the GPU may just not be passed in
        hint += (f"; in {container}, give the container the GPUs (--gpus all with the NVIDIA Container "
                 "Toolkit, or the nvidia.com/gpu resource)")
    return hint


def _nvml_status_hint(status: str) -> str:
    if status == "no_permission":
        return "run as a user allowed to open /dev/nvidia* (video group) or check the container's device access"
    if status == "timeout":
        return "NVML did not answer in time: check `nvidia-smi` (a hung GPU or driver), then retry"
    return "run nvidia-smi; if it fails too, reinstall the driver (driver/library version mismatch needs a reboot)"


def _cuda_version_finding(driver_text: str, driver: Tuple[int, ...], max_cuda_text: Optional[str],
                          runtime: str) -> Finding:
    rc = _cuda(runtime)
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
    required = f"CUDA {rc.default} build: driver >= {vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])}"
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
                f"(needs >= {vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])}); its CUDA {pick} build works",
                measured, required,
                rc.how_to_switch.format(v=pick.replace(".", "")) +
                f", or upgrade the driver to >= {vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])}")
    oldest_major = min(int(b.split(".")[0]) for b in builds)
    need = MIN_DRIVER_FOR_CUDA_MAJOR[oldest_major]
    return Finding(
        "driver.cuda_version", "fail",
        f"driver {driver_text} is too old for every CUDA build of {runtime} "
        f"(oldest: CUDA {oldest_major}.x needs >= {vstr(need)})",
        measured, required,
        f"upgrade the NVIDIA driver to >= {vstr(MIN_DRIVER_FOR_CUDA_MAJOR[default_major])} "
        f"(NVIDIA CUDA release notes, driver table)")


def no_gpu_finding(snapshot: Snapshot, settings: Settings) -> Finding:
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
    elif status in _NO_DRIVER_STATUSES and pci_gpus_without_driver(snapshot):
        msg = f"no NVIDIA GPU usable: {len(pci_gpus_without_driver(snapshot))} on the PCI bus, no working driver"
        sug = _repair_driver_hint(runtime, snapshot.system.container)
    elif status in _NO_DRIVER_STATUSES:
        msg = "no NVIDIA GPU usable: no NVIDIA driver"
        sug = _install_driver_hint(runtime) + ", or run on a host with an NVIDIA GPU"
    else:
        msg = "no NVIDIA GPU found"
        sug = "run on a host with an NVIDIA GPU (see `deepseek-probe plan --model ...` for which)"
    if RUNTIMES[runtime].runs_on_cpu:
        return Finding("gpu.present", "warn", msg + f"; {RUNTIMES[runtime].label} runs on the CPU only (slow)",
                       measured=0, required=1, suggestion=sug)
    return Finding("gpu.present", "fail", msg + f"; {runtime} needs a CUDA GPU", measured=0,
                   required=1, suggestion=sug)


def compute_capability_findings(gpus: Sequence[GpuInfo], settings: Settings) -> List[Finding]:
    ccs = [(g, cc_of(g)) for g in gpus]
    unknown = [g for g, cc in ccs if cc is None]
    if unknown:
        return [Finding("gpu.compute_capability", "unknown",
                        f"compute capability of {gpu_label(unknown[0])} unreadable "
                        f"({unavailable_reason(unknown[0], 'compute_capability')})",
                        suggestion="run nvidia-smi --query-gpu=compute_cap --format=csv and attach it")]
    g, cc = min(ccs, key=lambda t: t[1])
    rt, precision = RUNTIMES[settings.runtime], settings.precision
    problems: List[Tuple[str, str, str, str]] = []  # (level, message, required, suggestion)
    if rt.min_compute_capability is not None and cc < rt.min_compute_capability:
        least = cc_str(rt.min_compute_capability)
        problems.append(("fail", f"{rt.label} needs compute capability >= {least}",
                         f">= {least}", "use llama.cpp (--runtime llamacpp) on this GPU"))
    if precision == "bf16" and not rt.runs_on_cpu and cc < CC_BF16:
        problems.append(("fail", "bf16 needs compute capability >= 8.0", ">= 8.0 (bf16)",
                         "use --precision fp16"))
    if precision == "fp8" and cc < CC_FP8:
        if rt.fp8_marlin and cc >= CC_MARLIN:
            problems.append(("warn", f"no FP8 tensor cores (need 8.9): {rt.label} runs FP8 weight-only "
                                     "through FP8 Marlin, slower", ">= 8.9 (fp8)",
                             "use --precision int8 or int4 for speed, or an Ada/Hopper GPU"))
        else:
            problems.append(("fail", "fp8 needs compute capability >= 8.9 (Ada/Hopper)",
                             ">= 8.9 (fp8)", "use --precision int8 or int4"))
    if precision == "int4" and rt.int4_marlin and cc < CC_MARLIN:
        problems.append(("warn", f"Marlin int4 kernels need 8.0: {rt.label} falls back to slower AWQ/GPTQ kernels",
                         ">= 8.0 (Marlin)", "expect lower throughput, or use an Ampere or newer GPU"))
    if rt.flash_attention_2 and cc < CC_FLASH_ATTENTION_2:
        problems.append(("warn", f"FlashAttention-2 needs 8.0: {rt.label} uses a slower attention backend",
                         ">= 8.0 (FlashAttention-2)", "expect lower throughput on this GPU"))
    if not problems:
        need = {"bf16": "8.0 (bf16)", "fp8": "8.9 (fp8)"}.get(precision)
        extra = f"; {precision} supported" if need else ""
        return [Finding("gpu.compute_capability", "pass",
                        f"{gpu_label(g)} compute capability {cc_str(cc)}{extra}",
                        measured=cc_str(cc), required=f">= {need}" if need else None)]
    return [Finding("gpu.compute_capability", lvl, f"{gpu_label(g)} is {cc_str(cc)}: {msg}",
                    measured=cc_str(cc), required=req, suggestion=sug)
            for lvl, msg, req, sug in problems]
