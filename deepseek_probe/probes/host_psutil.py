"""Host facts where there is no /proc or /sys (Windows, macOS): psutil and ``platform`` only.

The Linux probes (system.py, cpu.py, memory.py, disk.py) read kernel files; on Windows and
macOS this module fills the same records from psutil (a dependency already). It never opens a
/proc, /sys or /etc path. ``psutil_module`` lets tests hand in a recorded stand-in (the Windows
fixture under fixtures/host/), so the path runs on Linux CI.
"""

from __future__ import annotations

import os
import platform as _py_platform
from typing import Any, Mapping, Optional

from deepseek_probe.probes import _read
from deepseek_probe.probes.cpu import INFERENCE_FLAGS
from deepseek_probe.snapshot import CpuInfo, DiskInfo, MemoryInfo, SystemInfo


def _psutil(psutil_module: Any) -> Any:
    if psutil_module is not None:
        return psutil_module
    import psutil

    return psutil


def probe_system(os_name: str, environ: Optional[Mapping[str, str]] = None,
                 uname: Any = None) -> SystemInfo:
    """``os_name``: "Windows" or "Darwin" (what platform.system() says there)."""
    u = uname if uname is not None else _py_platform.uname()
    info = SystemInfo(python_version=_py_platform.python_version(), os_name=os_name)
    info.kernel = getattr(u, "release", None) or None  # Windows: "10"/"11"; macOS: Darwin release
    version = getattr(u, "version", None) or None
    info.os_release = f"{os_name} {info.kernel} ({version})" if version else info.kernel
    info.arch = getattr(u, "machine", None) or None
    info.hostname = getattr(u, "node", None) or None
    info.container, info.wsl = None, False
    for name in ("kernel", "os_release", "arch", "hostname"):
        if getattr(info, name) is None:
            info.unavailable[name] = "not_found"
    return info


def probe_cpu(psutil_module: Any = None, cpu_info: Optional[Mapping[str, Any]] = None) -> CpuInfo:
    """Cores from psutil; model and ISA flags from ``cpu_info`` (a py-cpuinfo dict; None: read
    it, ~1 s: census-h100.json cpuinfo_one_call_ms 1160)."""
    ps = _psutil(psutil_module)
    info = CpuInfo(arch=_py_platform.machine() or None)
    try:
        info.logical_cores = ps.cpu_count(logical=True)
        info.physical_cores = ps.cpu_count(logical=False)
        info.usable_cores = float(info.logical_cores) if info.logical_cores else None
    except Exception as e:  # noqa: BLE001 - psutil raises its own errors per platform
        info.unavailable["logical_cores"] = _read.error_reason(e)
    try:
        if cpu_info is None:
            import cpuinfo  # py-cpuinfo

            cpu_info = cpuinfo.get_cpu_info()
        info.model = cpu_info.get("brand_raw") or None
        info.vendor = cpu_info.get("vendor_id_raw") or None
        present = set(cpu_info.get("flags") or [])
        info.flags = [f for f in INFERENCE_FLAGS if f in present]
    except Exception as e:  # noqa: BLE001
        for name in ("model", "vendor", "flags"):
            info.unavailable[name] = _read.error_reason(e)
    info.unavailable.setdefault("numa_nodes", "not_supported")
    return info


def probe_memory(psutil_module: Any = None) -> MemoryInfo:
    ps = _psutil(psutil_module)
    info = MemoryInfo()
    try:
        vm = ps.virtual_memory()
        info.total_bytes, info.available_bytes = int(vm.total), int(vm.available)
    except Exception as e:  # noqa: BLE001
        info.unavailable["total_bytes"] = info.unavailable["available_bytes"] = _read.error_reason(e)
    try:
        sw = ps.swap_memory()  # Windows: the page file
        info.swap_total_bytes, info.swap_free_bytes = int(sw.total), int(sw.free)
    except Exception as e:  # noqa: BLE001
        info.unavailable["swap_total_bytes"] = info.unavailable["swap_free_bytes"] = _read.error_reason(e)
    # No /dev/shm, cgroups or RLIMIT_MEMLOCK on Windows; macOS has neither cgroups nor /dev/shm.
    for name in ("shm_total_bytes", "shm_free_bytes", "cgroup_limit_bytes", "memlock_limit_bytes"):
        info.unavailable[name] = "not_supported"
    return info


def probe_disk(model_dir: Optional[str] = None, psutil_module: Any = None,
               environ: Optional[Mapping[str, str]] = None) -> DiskInfo:
    from deepseek_probe.probes.disk import default_model_dir, nearest_existing

    ps = _psutil(psutil_module)
    wanted = model_dir if model_dir else default_model_dir(dict(environ) if environ is not None else None)
    info = DiskInfo(path=os.path.abspath(wanted) if psutil_module is None else wanted)
    try:
        path = nearest_existing(wanted) if psutil_module is None else wanted
        usage = ps.disk_usage(path)
        info.total_bytes, info.free_bytes = int(usage.total), int(usage.free)
    except Exception as e:  # noqa: BLE001
        info.unavailable["total_bytes"] = info.unavailable["free_bytes"] = _read.error_reason(e)
        path = wanted
    try:
        best = None
        for part in ps.disk_partitions(all=False):
            mount = part.mountpoint
            if _is_under(path, mount) and (best is None or len(mount) > len(best.mountpoint)):
                best = part
        if best is not None:
            info.fstype, info.device = best.fstype or None, best.device or None
    except Exception as e:  # noqa: BLE001
        info.unavailable["fstype"] = _read.error_reason(e)
    for name in ("fstype", "device"):
        if getattr(info, name) is None:
            info.unavailable.setdefault(name, "not_found")
    info.unavailable["rotational"] = "not_supported"  # no queue/rotational outside Linux
    return info


def _is_under(path: str, mount: str) -> bool:
    p, m = path.replace("\\", "/").lower(), mount.replace("\\", "/").lower()
    if not m.endswith("/"):
        m += "/"
    return (p + "/").startswith(m)
