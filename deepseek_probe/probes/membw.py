"""Host memory bandwidth: what llama.cpp's CPU token generation is bound by.

Decoding one token streams every active weight from RAM once, so CPU tok/s is at most
bandwidth / bytes-read-per-token. Peak bandwidth = channels x 8 bytes x MT/s (a DDR4 DIMM and a
DDR5 DIMM both move 64 data bits per transfer: DDR5 as two 32-bit subchannels, JESD79-5).

Best source first, each without root:
1. ``smbios``: /sys/firmware/dmi/tables/DMI, SMBIOS type 17 "Memory Device" records (DMTF
   DSP0134 3.x, 7.18): memory type (offset 0x12), speed (0x15) and configured speed (0x20), data
   width (0x0A), locators. The kernel makes it root-only on most distributions (0400); some
   (containers with /sys bind-mounted from a relaxed host, or udev rules) expose it.
2. ``edac``: /sys/devices/system/edac/mc/mcN/dimmM/ (Documentation/ABI/testing/sysfs-devices-
   edac): populated DIMMs, their channel (``dimm_location``) and type (``dimm_mem_type``), no
   speed; the speed then comes from the CPU family table.
3. ``table``: the CPU family's memory channels and top DDR speed per socket (CPU_FAMILIES, from
   the vendor's product specifications), times the sockets in /proc/cpuinfo.
4. ``range``: an unknown CPU: a labelled low..high range, never a single made-up figure.
"""

from __future__ import annotations

import re
from typing import List, Optional, Set, Tuple

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import MemoryInfo

_DMI_TABLE = "/sys/firmware/dmi/tables/DMI"
_EDAC = "/sys/devices/system/edac/mc"

# SMBIOS type 17 memory types (DSP0134 7.18.2).
SMBIOS_MEMORY_TYPES = {0x18: "DDR3", 0x1A: "DDR4", 0x1B: "LPDDR", 0x1C: "LPDDR2", 0x1D: "LPDDR3",
                       0x1E: "LPDDR4", 0x20: "HBM", 0x21: "HBM2", 0x22: "DDR5", 0x23: "LPDDR5",
                       0x24: "HBM3"}


class Family:
    """A CPU family's memory: channels per socket and top rated DDR speed (MT/s). A plain class:
    NamedTuple definitions cost ~0.5 ms each at import, on every ``check``."""

    __slots__ = ("pattern", "label", "channels_per_socket", "mts", "source")

    def __init__(self, pattern: str, label: str, channels_per_socket: int, mts: int, source: str) -> None:
        self.pattern, self.label, self.source = pattern, label, source  # pattern: regex on the model
        self.channels_per_socket, self.mts = channels_per_socket, mts


# Server and desktop families: memory channels per socket and top rated DDR speed, from each
# vendor's product specification pages (AMD: amd.com EPYC / Ryzen / Threadripper "Memory
# Channels" and "Max Memory Speed"; Intel: ark.intel.com "Max # of Memory Channels" and
# "Memory Types"). First match wins.
CPU_FAMILIES: Tuple[Family, ...] = (
    Family(r"EPYC 9\d\d5", "AMD EPYC 9005 (Turin)", 12, 6000, "amd.com EPYC 9005 specs: 12 ch DDR5-6000"),
    Family(r"EPYC 9\d\d4", "AMD EPYC 9004 (Genoa)", 12, 4800, "amd.com EPYC 9004 specs: 12 ch DDR5-4800"),
    Family(r"EPYC 8\d\d4", "AMD EPYC 8004 (Siena)", 6, 4800, "amd.com EPYC 8004 specs: 6 ch DDR5-4800"),
    Family(r"EPYC 7\d\d3", "AMD EPYC 7003 (Milan)", 8, 3200, "amd.com EPYC 7003 specs: 8 ch DDR4-3200"),
    Family(r"EPYC 7\d\d2", "AMD EPYC 7002 (Rome)", 8, 3200, "amd.com EPYC 7002 specs: 8 ch DDR4-3200"),
    Family(r"Xeon.*\b6\d{3}[PE]\b", "Intel Xeon 6 (Granite/Sierra Forest)", 12, 6400,
           "ark.intel.com Xeon 6 6900P/6700P: up to 12 ch DDR5-6400"),
    Family(r"Xeon.*(Platinum|Gold|Silver) [3-9]5\d\d", "Intel Xeon 5th gen (Emerald Rapids)", 8, 5600,
           "ark.intel.com 5th gen Xeon Scalable: 8 ch DDR5-5600"),
    Family(r"Xeon.*(Platinum|Gold|Silver) [3-9]4\d\d", "Intel Xeon 4th gen (Sapphire Rapids)", 8, 4800,
           "ark.intel.com 4th gen Xeon Scalable: 8 ch DDR5-4800"),
    Family(r"Xeon.*(Platinum|Gold|Silver) [3-9]3\d\d", "Intel Xeon 3rd gen (Ice Lake)", 8, 3200,
           "ark.intel.com 3rd gen Xeon Scalable: 8 ch DDR4-3200"),
    Family(r"Threadripper PRO 7\d\d5WX", "AMD Threadripper PRO 7000WX", 8, 5200,
           "amd.com Threadripper PRO 7000 WX specs: 8 ch DDR5-5200"),
    Family(r"Ryzen \d+ 9\d\d\d", "AMD Ryzen 9000 (AM5)", 2, 5600, "amd.com Ryzen 9000 specs: 2 ch DDR5-5600"),
    Family(r"Ryzen \d+ 7\d\d\d", "AMD Ryzen 7000 (AM5)", 2, 5200, "amd.com Ryzen 7000 specs: 2 ch DDR5-5200"),
)

# Bounds for an unknown CPU, by core count: a desktop (<= 32 threads) has 2 channels of
# DDR4-2400 .. DDR5-6400; a server 8 ch DDR4-2933 .. 12 ch DDR5-6400 (the table's extremes).
_DESKTOP_RANGE = (2 * 8 * 2400e6, 2 * 8 * 6400e6)
_SERVER_RANGE = (8 * 8 * 2933e6, 12 * 8 * 6400e6)


def fill_bandwidth(info: MemoryInfo, root: str, cpu_model: Optional[str],
                   logical_cores: Optional[int]) -> None:
    """Set the bandwidth fields of ``info``; never raises."""
    try:
        _fill(info, root, cpu_model, logical_cores)
    except Exception as e:  # noqa: BLE001 - odd tables must not cost the snapshot
        info.unavailable["memory_bandwidth_bytes_per_s"] = _read.error_reason(e)


def _fill(info: MemoryInfo, root: str, cpu_model: Optional[str], logical_cores: Optional[int]) -> None:
    dimms = smbios_dimms(_read.read_bytes(root, _DMI_TABLE, 4 * 1024 * 1024) or b"")
    populated = [d for d in dimms if d.size_mb]
    if populated:
        speeds = [d.configured_mts or d.rated_mts for d in populated if (d.configured_mts or d.rated_mts)]
        info.dimm_count = len(populated)
        info.memory_type = populated[0].memory_type
        info.memory_channels = len({_channel_key(d.locator) for d in populated})
        if speeds:
            info.dimm_speed_mts = min(speeds)  # mixed DIMMs run at the slowest
            width_bytes = (populated[0].data_width_bits or 64) // 8
            info.memory_bandwidth_bytes_per_s = float(info.memory_channels * width_bytes * info.dimm_speed_mts * 1e6)
            info.memory_bandwidth_source = "smbios"
            return
    edac = edac_dimms(root)
    family = cpu_family(cpu_model)
    if edac:
        info.dimm_count = len(edac)
        info.memory_channels = len({(mc, ch) for mc, ch, _ in edac})
        types = [t for _, _, t in edac if t]
        info.memory_type = types[0] if types else info.memory_type
        if family is not None:
            info.dimm_speed_mts = family.mts
            info.memory_bandwidth_bytes_per_s = float(info.memory_channels * 8 * family.mts * 1e6)
            info.memory_bandwidth_source = f"edac channels x table speed: {family.source}"
            return
    if family is not None:
        sockets = socket_count(root)
        info.memory_channels = family.channels_per_socket * sockets
        info.dimm_speed_mts = family.mts
        info.memory_bandwidth_bytes_per_s = float(info.memory_channels * 8 * family.mts * 1e6)
        info.memory_bandwidth_source = f"table: {family.source} x {sockets} socket(s); assumes every channel populated"
        return
    low, high = _SERVER_RANGE if (logical_cores or 0) > 32 else _DESKTOP_RANGE
    info.memory_bandwidth_low_bytes_per_s, info.memory_bandwidth_bytes_per_s = low, high
    kind = "server" if (logical_cores or 0) > 32 else "desktop"
    info.memory_bandwidth_source = f"range: unknown {kind} CPU, {low / 1e9:.0f}..{high / 1e9:.0f} GB/s"


class Dimm:
    """One SMBIOS type 17 record, the fields that matter for bandwidth."""

    __slots__ = ("locator", "size_mb", "memory_type", "rated_mts", "configured_mts", "data_width_bits")

    def __init__(self, locator: str, size_mb: int, memory_type: Optional[str], rated_mts: Optional[int],
                 configured_mts: Optional[int], data_width_bits: Optional[int]) -> None:
        self.locator, self.size_mb, self.memory_type = locator, size_mb, memory_type
        self.rated_mts, self.configured_mts, self.data_width_bits = rated_mts, configured_mts, data_width_bits


def smbios_dimms(table: bytes) -> List[Dimm]:
    """Type 17 records of a raw SMBIOS structure table (the DMI file's content)."""
    out: List[Dimm] = []
    i = 0
    while i + 4 <= len(table):
        kind, length = table[i], table[i + 1]
        if length < 4 or i + length > len(table):
            break
        end = table.find(b"\0\0", i + length)  # the string set ends with two NULs
        if end < 0:
            break
        strings = table[i + length:end].split(b"\0")
        if kind == 17 and length >= 0x17:
            out.append(_dimm(table[i:i + length], strings))
        if kind == 127:  # end-of-table
            break
        i = end + 2
    return out


def _dimm(rec: bytes, strings: List[bytes]) -> Dimm:
    import struct  # only when a DMI table was readable (root, or a relaxed host)

    def word(off: int) -> Optional[int]:
        return struct.unpack_from("<H", rec, off)[0] if len(rec) >= off + 2 else None

    def dword(off: int) -> Optional[int]:
        return struct.unpack_from("<I", rec, off)[0] if len(rec) >= off + 4 else None

    def string(n: int) -> str:
        return strings[n - 1].decode("ascii", "replace") if 0 < n <= len(strings) else ""

    size = word(0x0C) or 0
    if size == 0xFFFF:
        size = 0  # unknown
    elif size == 0x7FFF:
        size = dword(0x1C) or 0  # extended size, MB
    elif size & 0x8000:
        size = (size & 0x7FFF) // 1024  # KB granularity
    speed, configured = word(0x15), word(0x20)
    if speed == 0xFFFF:
        speed = dword(0x54)
    if configured == 0xFFFF:
        configured = dword(0x58)
    width = word(0x0A)
    return Dimm(locator=string(rec[0x10]) if len(rec) > 0x10 else "", size_mb=size,
                memory_type=SMBIOS_MEMORY_TYPES.get(rec[0x12]) if len(rec) > 0x12 else None,
                rated_mts=speed or None, configured_mts=configured or None,
                data_width_bits=width if width and width != 0xFFFF else None)


def _channel_key(locator: str) -> str:
    """"DIMM_A1"/"DIMM_A2" -> "DIMM_A": DIMMs of one channel differ in their trailing slot
    number (board locators name channel letter + slot)."""
    return re.sub(r"\d+\s*$", "", locator.strip()) or locator


def edac_dimms(root: str) -> List[Tuple[str, str, Optional[str]]]:
    """(controller, channel, type) per populated EDAC DIMM."""
    out = []
    for mc in sorted(n for n in (_read.list_dir(root, _EDAC) or []) if n.startswith("mc")):
        for dimm in sorted(n for n in (_read.list_dir(root, f"{_EDAC}/{mc}") or [])
                           if n.startswith("dimm") or n.startswith("rank")):
            base = f"{_EDAC}/{mc}/{dimm}"
            size = _read.read_first_line(root, f"{base}/size")
            if not size or not size.isdigit() or int(size) == 0:
                continue
            where = _read.read_first_line(root, f"{base}/dimm_location") or ""
            m = re.search(r"channel (\d+)", where)
            mem_type = _read.read_first_line(root, f"{base}/dimm_mem_type") or ""
            t = re.search(r"(LPDDR\d|DDR\d)", mem_type)
            out.append((mc, m.group(1) if m else dimm, t.group(1) if t else None))
    return out


# Words one of CPU_FAMILIES needs: a model without any is not matched against the patterns
# (compiling them costs ~0.4 ms of a cold start).
_FAMILY_WORDS = ("EPYC", "Xeon", "Ryzen", "Threadripper")
# Characters that end a pattern's leading plain text (re's special characters).
_SPECIAL = frozenset("\\.^$*+?{}[]()|")


def cpu_family(model: Optional[str]) -> Optional[Family]:
    if not model or not any(word in model for word in _FAMILY_WORDS):
        return None
    for family in CPU_FAMILIES:
        # A pattern is compiled (~0.25 M instructions each, valgrind) only for a model holding
        # the text every match of it starts with: "AMD EPYC" (a VM's model) or "AMD EPYC 7763"
        # compile none or one of the five EPYC patterns, not all twelve.
        if leading_text(family.pattern) in model and re.search(family.pattern, model):
            return family
    return None


def leading_text(pattern: str) -> str:
    """The plain text every match of ``pattern`` starts with, for patterns written as
    CPU_FAMILIES writes them (tests/test_probe_membw_checks.py checks each against re's own
    parser): the characters up to the first special one, less the last when a quantifier
    follows it ("EPYC 9\\d\\d5" -> "EPYC 9", "Xeon.*" -> "Xeon", "ab*" -> "a"); "" when a "|"
    stands outside every group (either side may match)."""
    depth = 0
    for c in pattern:
        depth += (c == "(") - (c == ")")
        if c == "|" and depth == 0:
            return ""
    end = 0
    while end < len(pattern) and pattern[end] not in _SPECIAL:
        end += 1
    if end < len(pattern) and pattern[end] in "*?{+":
        end -= 1  # that character may repeat or be absent: not part of every match as written
    return pattern[:max(end, 0)]


def socket_count(root: str) -> int:
    text = _read.read_text(root, "/proc/cpuinfo") or ""
    ids: Set[str] = set(re.findall(r"^physical id\s*:\s*(\d+)", text, re.M))
    return max(1, len(ids))

