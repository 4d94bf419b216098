"""CPU: model, vendor, cores, usable cores (affinity and cgroup quota), ISA flags, NUMA nodes.

Fast path: /proc/cpuinfo, /proc/self/status and cgroup files (well under a millisecond).
py-cpuinfo only when /proc/cpuinfo cannot be read: its get_cpu_info() costs ~1.2 s
(census-h100.json: cpuinfo_one_call_ms 1160).
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Set, Tuple

from deepseek_probe.probes import _cgroup, _read
from deepseek_probe.snapshot import CpuInfo

# ISA extensions that change CPU inference speed (llama.cpp picks kernels by these:
# ggml/src/ggml-cpu/CMakeLists.txt GGML_AVX2/AVX512/AVX512_BF16/AVX512_VNNI/AMX_*; arm NEON
# is "asimd" in /proc/cpuinfo Features, arch/arm64/kernel/cpuinfo.c).
INFERENCE_FLAGS = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
    "avx512_vnni", "avx512_fp16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile", "amx_fp16",
    "neon", "asimd", "asimdhp", "asimddp", "sve", "sve2", "i8mm", "bf16",
)

# Arm "CPU implementer" codes (Linux arch/arm64/include/asm/cputype.h ARM_CPU_IMP_*).
_ARM_IMPLEMENTERS = {
    "0x41": "ARM", "0x42": "Broadcom", "0x43": "Cavium", "0x46": "Fujitsu", "0x48": "HiSilicon",
    "0x4e": "NVIDIA", "0x50": "APM", "0x51": "Qualcomm", "0x61": "Apple", "0x6d": "Microsoft",
    "0xc0": "Ampere",
}

# Arm Ltd. "CPU part" codes of server cores (cputype.h ARM_CPU_PART_*); arm64 /proc/cpuinfo
# has no model name, so this is the only name we get without py-cpuinfo.
_ARM_PARTS = {
    "0xd0c": "Neoverse-N1", "0xd40": "Neoverse-V1", "0xd49": "Neoverse-N2",
    "0xd4f": "Neoverse-V2", "0xd84": "Neoverse-V3", "0xd8e": "Neoverse-N3",
}


def probe_cpu(root: str = "/") -> CpuInfo:
    info = CpuInfo()
    live = root in ("", "/")
    text = _read.read_text(root, "/proc/cpuinfo")
    if text is not None:
        _from_proc_cpuinfo(info, text)
    elif live:
        _from_py_cpuinfo(info)
    else:
        for name in ("model", "vendor", "flags", "physical_cores"):
            info.unavailable[name] = "not_found"
    if live:
        from deepseek_probe.probes.system import os_kernel_arch

        info.arch = os_kernel_arch(os.uname() if hasattr(os, "uname") else None)[2]
    else:
        info.arch = _arch_from_cpuinfo(text)
    if info.arch is None:
        info.unavailable.setdefault("arch", "not_found")

    if info.logical_cores is None and live:
        import psutil  # only when /proc/cpuinfo failed

        info.logical_cores = psutil.cpu_count(logical=True)
    if info.physical_cores is None and live and "physical_cores" not in info.unavailable:
        try:
            import psutil

            info.physical_cores = psutil.cpu_count(logical=False)
        except Exception as e:  # noqa: BLE001
            info.unavailable["physical_cores"] = _read.error_reason(e)
    if info.logical_cores is None:
        info.unavailable.setdefault("logical_cores", "not_found")
    if info.physical_cores is None:
        info.unavailable.setdefault("physical_cores", "not_found")

    affinity = _affinity_count(root)
    quota = cgroup_cpu_quota(root)
    candidates = [c for c in (affinity, quota) if c is not None]
    if candidates:
        info.usable_cores = float(min(candidates))
    elif info.logical_cores is not None:
        info.usable_cores = float(info.logical_cores)
    else:
        info.unavailable["usable_cores"] = "not_found"

    info.numa_nodes = numa_node_count(root)
    if info.numa_nodes is None:
        info.unavailable["numa_nodes"] = "not_found"
    return info


def _from_proc_cpuinfo(info: CpuInfo, text: str) -> None:
    processors = 0
    cores: Set[Tuple[str, str]] = set()
    flags: Set[str] = set()
    fields: Dict[str, str] = {}
    package = "0"
    for line in text.splitlines():
        key, found, value = line.partition(":")
        if not found:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            processors += 1
            package = "0"
        elif key in ("flags", "Features"):
            flags.update(value.split())
        elif key == "physical id":
            package = value
        elif key == "core id":
            cores.add((package, value))
        else:
            fields.setdefault(key, value)
    info.model = fields.get("model name") or fields.get("Model") or fields.get("cpu model")
    info.vendor = fields.get("vendor_id")
    if info.vendor is None and "CPU implementer" in fields:
        impl = fields["CPU implementer"].lower()
        info.vendor = _ARM_IMPLEMENTERS.get(impl, impl)
    if info.model is None and fields.get("CPU implementer", "").lower() == "0x41":
        info.model = _ARM_PARTS.get(fields.get("CPU part", "").lower())
    if info.model is None:
        info.unavailable["model"] = "not_found"
    if info.vendor is None:
        info.unavailable["vendor"] = "not_found"
    info.logical_cores = processors or None
    # "core id" is absent on arm and some VMs: leave physical cores to psutil (/sys topology).
    info.physical_cores = len(cores) or None
    if flags:
        info.flags = [f for f in INFERENCE_FLAGS if f in flags]
    else:
        info.unavailable["flags"] = "not_found"


def _from_py_cpuinfo(info: CpuInfo) -> None:
    """Slow fallback (~1 s) for systems without /proc/cpuinfo."""
    try:
        import cpuinfo  # py-cpuinfo

        data = cpuinfo.get_cpu_info()
    except Exception as e:  # noqa: BLE001
        for name in ("model", "vendor", "flags"):
            info.unavailable[name] = _read.error_reason(e)
        return
    info.model = data.get("brand_raw") or None
    info.vendor = data.get("vendor_id_raw") or None
    present = set(data.get("flags") or [])
    info.flags = [f for f in INFERENCE_FLAGS if f in present]
    info.logical_cores = data.get("count") or None


def _arch_from_cpuinfo(text: Optional[str]) -> Optional[str]:
    """Arch of a recorded tree (we cannot ask uname of another machine)."""
    if not text:
        return None
    if re.search(r"^flags\s*:.*\blm\b", text, re.M):
        return "x86_64"
    if re.search(r"^Features\s*:", text, re.M):
        return "aarch64"
    if "vendor_id" in text:
        return "x86_64"
    return None


def _affinity_count(root: str) -> Optional[int]:
    if root in ("", "/") and hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0))
        except OSError:
            pass
    status = _read.read_text(root, "/proc/self/status")
    if status is None:
        return None
    allowed = _read.parse_key_values(status).get("Cpus_allowed_list")
    return None if allowed is None else count_cpu_list(allowed)


def count_cpu_list(spec: str) -> Optional[int]:
    """``0-3,8,10-11`` -> 7 (the kernel's cpulist format)."""
    total = 0
    for part in spec.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            total += (int(hi) - int(lo) + 1) if hi else 1
        except ValueError:
            return None
    return total or None


def cgroup_cpu_quota(root: str) -> Optional[float]:
    """Smallest CPU quota (in cores) over the process's cgroup and its ancestors; None = none."""
    version = _cgroup.version_for(root, "cpu")
    limits: List[float] = []
    if version == 2:
        for line in _cgroup.read_limit_files(root, "cpu", "cpu.max"):
            quota, _, period = line.partition(" ")
            if quota != "max":
                try:
                    limits.append(int(quota) / int(period or "100000"))
                except (ValueError, ZeroDivisionError):
                    pass
    elif version == 1:
        for d in _cgroup.controller_dirs(root, "cpu"):
            quota = _read.read_first_line(root, d + "/cpu.cfs_quota_us")
            period = _read.read_first_line(root, d + "/cpu.cfs_period_us")
            try:
                q, p = int(quota or "-1"), int(period or "100000")
            except ValueError:
                continue
            if q > 0 and p > 0:  # -1 = no quota (Documentation/scheduler/sched-bwc.rst)
                limits.append(q / p)
    return min(limits) if limits else None


def numa_node_count(root: str) -> Optional[int]:
    names = _read.list_dir(root, "/sys/devices/system/node")
    if names is None:
        return None
    # re.fullmatch(r"node\d+", n) without a regular expression: \d is what str.isdecimal() accepts
    count = sum(1 for n in names if n.startswith("node") and n[4:].isdecimal())
    return count or None
