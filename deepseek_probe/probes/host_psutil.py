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
    if uname is None:  # this machine (not a test's recorded uname): who runs the probe
        from deepseek_probe.probes.system import identity

        info.user, info.home, info.login_names = identity(os.environ if environ is None else environ)
    for name in ("kernel", "os_release", "arch", "hostname"):
        if getattr(info, name) is None:
            info.unavailable[name] = "not_found"
    return info


# Windows: IsProcessorFeaturePresent ids (winnt.h PF_AVX_INSTRUCTIONS_AVAILABLE = 39,
# PF_AVX2_INSTRUCTIONS_AVAILABLE = 40, PF_AVX512F_INSTRUCTIONS_AVAILABLE = 41). Windows has no id
# for VNNI/AMX: those flags stay unknown there.
_WINDOWS_FEATURES = ((39, "avx"), (40, "avx2"), (41, "avx512f"))
# macOS arm64: hw.optional sysctls (Apple, "Determining instruction set characteristics").
_MACOS_FEATURES = (("hw.optional.AdvSIMD", "asimd"), ("hw.optional.neon", "neon"),
                   ("hw.optional.arm.FEAT_DotProd", "asimddp"), ("hw.optional.arm.FEAT_I8MM", "i8mm"),
                   ("hw.optional.arm.FEAT_BF16", "bf16"))


def probe_cpu(psutil_module: Any = None, cpu_info: Optional[Mapping[str, Any]] = None,
              platform: Optional[str] = None, sysctl: Any = None, windows: Any = None) -> CpuInfo:
    """Cores from psutil; model and ISA flags from the OS (macOS: sysctl; Windows: the registry
    and IsProcessorFeaturePresent), else from ``cpu_info`` (a py-cpuinfo dict; None: read it,
    ~1 s: census-h100.json cpuinfo_one_call_ms 1160). ``sysctl``/``windows``: readers for tests
    (windows: an object with ``processor_name()`` and ``feature_present(id)``)."""
    from deepseek_probe.probes import _platform

    ps = _psutil(psutil_module)
    info = CpuInfo(arch=_py_platform.machine() or None)
    try:
        info.logical_cores = ps.cpu_count(logical=True)
        info.physical_cores = ps.cpu_count(logical=False)
        info.usable_cores = float(info.logical_cores) if info.logical_cores else None
    except Exception as e:  # noqa: BLE001 - psutil raises its own errors per platform
        info.unavailable["logical_cores"] = _read.error_reason(e)
    plat = _platform.current(platform)
    if cpu_info is None:
        try:
            if plat == _platform.MACOS:
                _cpu_from_sysctl(info, sysctl)
            elif plat == _platform.WINDOWS:
                _cpu_from_windows(info, windows)
        except Exception:  # noqa: BLE001 - fall back to py-cpuinfo below
            info.model, info.flags = None, None
    if info.model is None or info.flags is None:
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


def _cpu_from_sysctl(info: CpuInfo, sysctl: Any) -> None:
    if sysctl is None:
        from deepseek_probe.probes.gpu.apple import sysctlbyname as sysctl
    info.model = sysctl("machdep.cpu.brand_string") or None
    info.vendor = "Apple" if (info.model or "").startswith("Apple") else None
    info.flags = [flag for name, flag in _MACOS_FEATURES if (sysctl(name) or "0").strip() == "1"]


def _cpu_from_windows(info: CpuInfo, windows: Any) -> None:
    reader = windows if windows is not None else _WindowsReader()
    info.model = (reader.processor_name() or "").strip() or None
    info.flags = [flag for pf, flag in _WINDOWS_FEATURES if reader.feature_present(pf)]
    info.unavailable["flags"] = "partial: Windows reports avx/avx2/avx512f only"


class _WindowsReader:
    """The registry's ProcessorNameString and kernel32.IsProcessorFeaturePresent; imported and
    called on Windows only (winreg and ctypes.windll exist nowhere else)."""

    def processor_name(self) -> Optional[str]:
        import winreg  # Windows only

        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0")
        try:
            return str(winreg.QueryValueEx(key, "ProcessorNameString")[0])
        finally:
            winreg.CloseKey(key)

    def feature_present(self, feature: int) -> bool:
        import ctypes

        return bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(feature))  # type: ignore[attr-defined]


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
