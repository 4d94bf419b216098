"""Host memory: RAM, swap, /dev/shm, cgroup memory limit (v1/v2), memlock limit."""

from __future__ import annotations

import os
from typing import List, Optional

from deepseek_probe.probes import _cgroup, _read
from deepseek_probe.snapshot import MemoryInfo

# cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes: 9223372036854771712 on
# 4 KiB pages (mm/page_counter.c; recorded on this dev machine, fixtures/fs/dev-cgroup-v1).
# Anything at or above 2**62 is no limit on any real machine.
_V1_UNLIMITED_BYTES = 2 ** 62


def probe_memory(root: str = "/") -> MemoryInfo:
    info = MemoryInfo()
    live = root in ("", "/")
    _meminfo(info, root, live)
    _shm(info, root, live)
    _cgroup_limit(info, root)
    _memlock(info, root, live)
    return info


def _meminfo(info: MemoryInfo, root: str, live: bool) -> None:
    text = _read.read_text(root, "/proc/meminfo")
    if text is not None:
        kv = _read.parse_key_values(text)

        def kib(key: str) -> Optional[int]:
            raw = kv.get(key, "").split()
            return int(raw[0]) * 1024 if raw and raw[0].isdigit() else None

        info.total_bytes = kib("MemTotal")
        info.available_bytes = kib("MemAvailable")  # kernel >= 3.14
        info.swap_total_bytes = kib("SwapTotal")
        info.swap_free_bytes = kib("SwapFree")
    elif live:
        try:
            import psutil

            vm, sw = psutil.virtual_memory(), psutil.swap_memory()
            info.total_bytes, info.available_bytes = vm.total, vm.available
            info.swap_total_bytes, info.swap_free_bytes = sw.total, sw.free
        except Exception as e:  # noqa: BLE001
            for name in ("total_bytes", "available_bytes", "swap_total_bytes", "swap_free_bytes"):
                info.unavailable[name] = _read.error_reason(e)
    for name in ("total_bytes", "available_bytes", "swap_total_bytes", "swap_free_bytes"):
        if getattr(info, name) is None:
            info.unavailable.setdefault(name, "not_found")


def _shm(info: MemoryInfo, root: str, live: bool) -> None:
    """/dev/shm bounds NCCL and PyTorch DataLoader shared memory (Docker's default is 64 MiB)."""
    if live:
        try:
            st = os.statvfs("/dev/shm")
            info.shm_total_bytes = st.f_blocks * st.f_frsize
            info.shm_free_bytes = st.f_bavail * st.f_frsize
            return
        except OSError as e:
            reason = _read.error_reason(e)
            info.unavailable["shm_total_bytes"] = reason
            info.unavailable["shm_free_bytes"] = reason
            return
    # A recorded tree: the size= option of the tmpfs mount (free space is not recorded).
    mounts = _read.read_mountinfo(root) or []
    shm = [m for m in mounts if m.mount_point == "/dev/shm"]
    size = _tmpfs_size(shm[-1].super_options) if shm else None
    info.shm_total_bytes = size
    if size is None:
        info.unavailable["shm_total_bytes"] = "not_found"
    info.unavailable["shm_free_bytes"] = "not_recorded"


def _tmpfs_size(options: str) -> Optional[int]:
    for opt in options.split(","):
        if opt.startswith("size="):
            value = opt[5:]
            units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
            mult = units.get(value[-1:].lower(), 1)
            digits = value[:-1] if value[-1:].lower() in units else value
            return int(digits) * mult if digits.isdigit() else None
    return None


def _cgroup_limit(info: MemoryInfo, root: str) -> None:
    version = _cgroup.version_for(root, "memory")
    info.cgroup_version = version
    limits: List[int] = []
    if version == 2:
        for line in _cgroup.read_limit_files(root, "memory", "memory.max"):
            if line.isdigit():  # "max" = no limit
                limits.append(int(line))
    elif version == 1:
        for line in _cgroup.read_limit_files(root, "memory", "memory.limit_in_bytes"):
            if line.isdigit() and int(line) < _V1_UNLIMITED_BYTES:
                limits.append(int(line))
    info.cgroup_limit_bytes = min(limits) if limits else None


def _memlock(info: MemoryInfo, root: str, live: bool) -> None:
    """RLIMIT_MEMLOCK: pinned host memory (RDMA, CUDA host-pinned buffers) is capped by it."""
    if live:
        try:
            import resource

            soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
            info.memlock_limit_bytes = None if soft == resource.RLIM_INFINITY else soft
            return
        except (ImportError, OSError, ValueError):
            pass
    text = _read.read_text(root, "/proc/self/limits")
    line = next((ln for ln in (text or "").splitlines() if ln.startswith("Max locked memory")), None)
    if line is None:
        info.unavailable["memlock_limit_bytes"] = "not_found"
        return
    soft = line[len("Max locked memory"):].split()[0]
    info.memlock_limit_bytes = int(soft) if soft.isdigit() else None  # "unlimited"
