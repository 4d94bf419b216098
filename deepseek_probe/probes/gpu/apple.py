"""Apple Silicon: the GPU's share of unified memory, as Metal runtimes can use it.

On a Mac the GPU has no memory of its own: it shares RAM with the CPU, and macOS lets the GPU
keep at most ``MTLDevice.recommendedMaxWorkingSetSize`` resident. llama.cpp reports that figure
as the Metal device's total memory (ggml/src/ggml-metal/ggml-metal-device.m,
ggml_metal_device_get_memory: ``*total = recommendedMaxWorkingSetSize``, llama.cpp 2026-10) and
MLX calls it ``max_recommended_working_set_size`` (mlx.core.metal.device_info; its default
memory limit is 1.5x it). So ``GpuInfo.memory_total_bytes`` is that limit, and all of RAM goes in
``unified_memory_bytes``.

How the limit is found, best first (``memory_limit_source`` says which):
1. ``metal``: asked of Metal through the Objective-C runtime with ctypes (macOS only; no
   pyobjc import).
2. ``iogpu.wired_limit_mb``: the sysctl an admin sets to raise the limit; when non-zero Metal
   reports exactly it (measured: 114688 MiB -> 112.00 GiB, M5 Max 128 GB, antirez/ds4 PR #893
   comment 2026-08-29; llmfit PR #754: 12000 / 14000 MiB on an M3 16 GB reported as set).
3. ``rule``: macOS's default when neither is available: 2/3 of RAM up to 32 GiB, 3/4 above.
   Observed values (llama.cpp's ggml_metal_init log line, MiB): 16 GiB -> 10922.67 (2/3,
   abetlen/llama-cpp-python#687), 32 GiB -> 21845.34 (2/3, ollama/ollama#434), 96 GiB ->
   73728.00 (3/4, ggml-org/llama.cpp#3213). Sizes between 32 and 64 GiB are unobserved; macOS
   26 gave 107.52 GiB on 128 GiB (0.84, antirez/ds4#890), so the rule errs low on new macOS.

Reads go through ``sysctl`` (default: sysctlbyname(3) through ctypes on macOS); tests pass a
dict-backed reader, so this module runs on Linux CI and imports nothing macOS-only.
"""

from __future__ import annotations

import re
from typing import Callable, List, Optional, Tuple

from deepseek_probe.probes.gpu._common import mark_not_probed
from deepseek_probe.snapshot import GpuInfo

GIB = 1024 ** 3
MIB = 1024 ** 2

Sysctl = Callable[[str], Optional[str]]

# Peak unified-memory bandwidth in GB/s (10^9 B/s) per chip, from Apple's announcement of each
# chip (Apple Newsroom press releases and the Mac tech-specs pages). Where one chip name has
# two memory configurations, the figure depends on the CPU core count (M3 Max: 14-core CPU ->
# 300 GB/s, 16-core -> 400 GB/s; M4 Max: 14-core -> 410, 16-core -> 546).
BANDWIDTH_GBPS = {
    "M1": 68.25, "M1 Pro": 200, "M1 Max": 400, "M1 Ultra": 800,
    "M2": 100, "M2 Pro": 200, "M2 Max": 400, "M2 Ultra": 800,
    "M3": 100, "M3 Pro": 150, "M3 Max": (300, 400), "M3 Ultra": 819,
    "M4": 120, "M4 Pro": 273, "M4 Max": (410, 546),
    "M5": 153,
}
# CPU core count that selects the higher figure of a two-figure entry above.
_FULL_CHIP_CPU_CORES = {"M3 Max": 16, "M4 Max": 16}

# macOS default working-set fraction (see the module doc for the observations behind it).
_SMALL_RAM_LIMIT_BYTES = 32 * GIB
_SMALL_FRACTION, _LARGE_FRACTION = 2 / 3, 3 / 4


def probe_apple(sysctl: Optional[Sysctl] = None,
                metal: Optional[Callable[[], Optional[int]]] = None) -> List[GpuInfo]:
    """One GpuInfo for the Apple GPU, or [] on a Mac without Apple Silicon (Intel Macs: their
    discrete GPUs are not probed). Never raises."""
    read = sysctl if sysctl is not None else sysctlbyname
    ask_metal = metal if metal is not None else (metal_working_set if sysctl is None else lambda: None)
    brand = _safe(read, "machdep.cpu.brand_string")
    model = _safe(read, "hw.model")
    if not brand or not brand.startswith("Apple"):
        return []
    g = GpuInfo(index=0, vendor="apple", name=brand, architecture="apple_silicon")
    g.unified_memory_bytes = _to_int(_safe(read, "hw.memsize"))
    wired_mb = _to_int(_safe(read, "iogpu.wired_limit_mb"))
    try:
        from_metal = ask_metal()
    except Exception:  # noqa: BLE001 - Metal unreachable (no GUI session, sandbox): use the rule
        from_metal = None
    g.memory_total_bytes, g.memory_limit_source = working_set_limit(
        g.unified_memory_bytes, wired_mb, from_metal)
    if g.memory_total_bytes is None:
        g.unavailable["memory_total_bytes"] = "not_found"
    cores = _to_int(_safe(read, "hw.physicalcpu"))
    bandwidth = chip_bandwidth_gbps(brand, cores)
    if bandwidth is not None:
        g.rated_memory_bandwidth_bytes_per_s = bandwidth * 1e9
    else:
        g.unavailable["rated_memory_bandwidth_bytes_per_s"] = "not_in_table"
    # Free/used of the GPU's share are not reported apart from RAM; free is filled from the
    # host's available RAM by set_free_from_host once host memory is read.
    for name in ("memory_free_bytes", "memory_used_bytes"):
        g.unavailable[name] = "not_supported: unified memory"
    g.unavailable["pci_bus_id"] = "not_applicable: integrated" + (f" in {model}" if model else "")
    mark_not_probed(g, "not_supported: not exposed on macOS without root")
    return [g]


def set_free_from_host(g: GpuInfo, ram_available_bytes: Optional[int]) -> None:
    """What a Metal runtime can still wire: min(working-set limit, RAM available now). The GPU
    shares RAM with everything else, so free RAM bounds it as much as Metal's limit does."""
    if g.memory_total_bytes is None or ram_available_bytes is None:
        return
    g.memory_free_bytes = min(g.memory_total_bytes, int(ram_available_bytes))
    g.unavailable.pop("memory_free_bytes", None)


def working_set_limit(ram_bytes: Optional[int], wired_limit_mb: Optional[int],
                      from_metal: Optional[int] = None) -> Tuple[Optional[int], Optional[str]]:
    """(bytes the GPU may keep resident, how it was found)."""
    if from_metal:
        return int(from_metal), "metal"
    if wired_limit_mb:
        return int(wired_limit_mb) * MIB, "iogpu.wired_limit_mb"
    if not ram_bytes:
        return None, None
    if ram_bytes <= _SMALL_RAM_LIMIT_BYTES:
        return int(ram_bytes * _SMALL_FRACTION), "rule: 2/3 of RAM (<= 32 GiB)"
    return int(ram_bytes * _LARGE_FRACTION), "rule: 3/4 of RAM (> 32 GiB)"


def chip_bandwidth_gbps(brand: str, cpu_cores: Optional[int] = None) -> Optional[float]:
    """"Apple M3 Max" (+ its CPU core count) -> 300 or 400 GB/s; None if not in the table."""
    m = re.match(r"Apple (M\d+(?: (?:Pro|Max|Ultra))?)\b", brand or "")
    if not m:
        return None
    entry = BANDWIDTH_GBPS.get(m.group(1))
    if isinstance(entry, tuple):
        full = _FULL_CHIP_CPU_CORES.get(m.group(1))
        if cpu_cores is None or full is None:
            return float(entry[0])  # unknown configuration: the lower figure
        return float(entry[1] if cpu_cores >= full else entry[0])
    return None if entry is None else float(entry)


# --- macOS readers (ctypes; only called on macOS) ----------------------------------------------

_STRING_SYSCTLS = ("machdep.cpu.brand_string", "hw.model")


def sysctlbyname(name: str) -> Optional[str]:
    """sysctlbyname(3) through ctypes, as text; None when the name does not exist (e.g.
    ``iogpu.wired_limit_mb`` before macOS 14) or libc has no sysctlbyname (not macOS)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        fn = libc.sysctlbyname
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p,
                   ctypes.c_size_t]
    fn.restype = ctypes.c_int
    size = ctypes.c_size_t(0)
    if fn(name.encode(), None, ctypes.byref(size), None, 0) != 0 or size.value == 0:
        return None
    buf = ctypes.create_string_buffer(size.value)
    if fn(name.encode(), buf, ctypes.byref(size), None, 0) != 0:
        return None
    raw = buf.raw[:size.value]
    if name in _STRING_SYSCTLS:
        return raw.rstrip(b"\0").decode("utf-8", "replace")
    return str(int.from_bytes(raw, "little"))


def metal_working_set() -> Optional[int]:
    """``MTLCreateSystemDefaultDevice().recommendedMaxWorkingSetSize`` via the Objective-C
    runtime (ctypes; macOS only). None when Metal or the runtime cannot be loaded."""
    import ctypes

    try:
        objc = ctypes.CDLL("/usr/lib/libobjc.A.dylib")
        metal = ctypes.CDLL("/System/Library/Frameworks/Metal.framework/Metal")
    except OSError:
        return None
    metal.MTLCreateSystemDefaultDevice.restype = ctypes.c_void_p
    device = metal.MTLCreateSystemDefaultDevice()
    if not device:
        return None
    objc.sel_registerName.restype = ctypes.c_void_p
    objc.sel_registerName.argtypes = [ctypes.c_char_p]
    send = objc.objc_msgSend
    send.restype = ctypes.c_uint64
    send.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    value = send(device, objc.sel_registerName(b"recommendedMaxWorkingSetSize"))
    return int(value) or None


def _safe(read: Sysctl, name: str) -> Optional[str]:
    try:
        value = read(name)
    except Exception:  # noqa: BLE001 - a reader that fails is a missing value
        return None
    return value.strip() if isinstance(value, str) else None


def _to_int(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
