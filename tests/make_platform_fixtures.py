"""Build the derived platform fixtures (issue 17): fs trees, one NVML recording, snapshots.

    python tests/make_platform_fixtures.py

None of these were captured on the hardware they describe: every file is written here, in the
format of its source (fixtures/README.md names the format document of each), and every name
starts with ``derived-``. The snapshots are made by running the real probes over those trees
(AMD, CPU server), over a dict of sysctl values (Apple) and over a fake psutil + the NVML
recording (Windows), so a probe change shows up as a fixture diff.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import types
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from deepseek_probe.probes import _nvml, _platform, host_psutil, membw, take_snapshot  # noqa: E402
from deepseek_probe.probes import cpu as cpu_probe  # noqa: E402
from deepseek_probe.probes import memory as memory_probe  # noqa: E402
from deepseek_probe.probes.gpu import amd, apple, read_gpus  # noqa: E402
from deepseek_probe.snapshot import CudaInfo, Snapshot  # noqa: E402

FS = os.path.join(ROOT, "fixtures", "fs")
SNAPS = os.path.join(ROOT, "fixtures", "snapshots")
NVML = os.path.join(ROOT, "fixtures", "nvml")
GIB = 1024 ** 3


def _write(root: str, path: str, content) -> None:
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(full, mode) as f:
        f.write(content)


def _cpuinfo(model: str, vendor: str, threads: int, sockets: int, flags: str) -> str:
    blocks = []
    for i in range(threads):
        blocks.append(f"processor\t: {i}\nvendor_id\t: {vendor}\nmodel name\t: {model}\n"
                      f"physical id\t: {i * sockets // threads}\nsiblings\t: {threads // sockets}\n"
                      f"core id\t\t: {(i // 2) % (threads // sockets // 2)}\n"
                      f"cpu cores\t: {threads // sockets // 2}\nflags\t\t: {flags}\n")
    return "\n".join(blocks) + "\n"


_X86_FLAGS = ("fpu sse sse2 ssse3 sse4_1 sse4_2 lm avx avx2 fma f16c avx512f avx512bw avx512vl "
              "avx512_bf16 avx512_vnni")


def _meminfo(total_kib: int, available_kib: int) -> str:
    return (f"MemTotal:       {total_kib} kB\nMemFree:        {available_kib} kB\n"
            f"MemAvailable:   {available_kib} kB\nSwapTotal:      0 kB\nSwapFree:       0 kB\n")


def _amd_card(root: str, card: str, address: str, device_id: str, vram: int, used: int, vis: int,
              busy: int, speed: str, width: int, temp_milli: int, power_uw: int, cap_uw: int,
              product: str = "", unique_id: str = "") -> None:
    dev = f"/sys/class/drm/{card}/device"
    _write(root, f"{dev}/vendor", "0x1002\n")
    _write(root, f"{dev}/device", device_id + "\n")
    _write(root, f"{dev}/uevent", f"DRIVER=amdgpu\nPCI_CLASS=30000\nPCI_SLOT_NAME={address}\n")
    _write(root, f"{dev}/mem_info_vram_total", f"{vram}\n")
    _write(root, f"{dev}/mem_info_vram_used", f"{used}\n")
    _write(root, f"{dev}/mem_info_vis_vram_total", f"{vis}\n")
    _write(root, f"{dev}/mem_info_vis_vram_used", f"{min(used, vis)}\n")
    _write(root, f"{dev}/gpu_busy_percent", f"{busy}\n")
    _write(root, f"{dev}/current_link_speed", f"{speed}\n")
    _write(root, f"{dev}/max_link_speed", f"{speed}\n")
    _write(root, f"{dev}/current_link_width", f"{width}\n")
    _write(root, f"{dev}/max_link_width", f"{width}\n")
    _write(root, f"{dev}/vbios_version", "113-D7020100-102\n")
    _write(root, f"{dev}/hwmon/hwmon2/name", "amdgpu\n")
    _write(root, f"{dev}/hwmon/hwmon2/temp1_input", f"{temp_milli}\n")
    _write(root, f"{dev}/hwmon/hwmon2/power1_average", f"{power_uw}\n")
    _write(root, f"{dev}/hwmon/hwmon2/power1_cap", f"{cap_uw}\n")
    if product:
        _write(root, f"{dev}/product_name", product + "\n")
    if unique_id:
        _write(root, f"{dev}/unique_id", unique_id + "\n")


def _kfd_node(root: str, n: int, props: Dict[str, int]) -> None:
    _write(root, f"/sys/class/kfd/kfd/topology/nodes/{n}/properties",
           "".join(f"{k} {v}\n" for k, v in props.items()))


def _location_id(address: str) -> int:
    bus, devfn = address.split(":")[1], address.split(":")[2]
    dev, fn = devfn.split(".")
    return (int(bus, 16) << 8) | (int(dev, 16) << 3) | int(fn)


def _common_host(root: str, hostname: str, os_release: str) -> None:
    _write(root, "/proc/sys/kernel/ostype", "Linux\n")
    _write(root, "/proc/sys/kernel/osrelease", "6.8.0-49-generic\n")
    _write(root, "/proc/sys/kernel/hostname", hostname + "\n")
    _write(root, "/etc/os-release", f'PRETTY_NAME="{os_release}"\nNAME="Ubuntu"\n')
    _write(root, "/proc/self/mountinfo", "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n")


def rx7900xtx_tree() -> str:
    root = os.path.join(FS, "derived-rx7900xtx-rocm6")
    shutil.rmtree(root, ignore_errors=True)
    _common_host(root, "radeon-ws", "Ubuntu 24.04.1 LTS")
    _write(root, "/proc/cpuinfo", _cpuinfo("AMD Ryzen 9 7950X 16-Core Processor", "AuthenticAMD", 32, 1, _X86_FLAGS))
    _write(root, "/proc/meminfo", _meminfo(64 * 1024 * 1024, 58 * 1024 * 1024))
    # 24 GiB Navi 31; 1.1 GiB used by the desktop; resizable BAR on (all VRAM CPU-visible).
    _amd_card(root, "card1", "0000:03:00.0", "0x744c", 25753026560, 1181116416, 25753026560, 3,
              "16.0 GT/s PCIe", 16, 41000, 28000000, 327000000)
    os.makedirs(os.path.join(root, "sys/class/drm/card1-DP-1"), exist_ok=True)  # a connector
    os.makedirs(os.path.join(root, "sys/class/drm/renderD128"), exist_ok=True)
    _kfd_node(root, 0, {"cpu_cores_count": 32, "simd_count": 0, "gfx_target_version": 0})
    _kfd_node(root, 1, {"cpu_cores_count": 0, "simd_count": 192, "simd_per_cu": 2,
                        "gfx_target_version": 110000, "domain": 0, "location_id": _location_id("0000:03:00.0"),
                        "vendor_id": 4098, "device_id": 29772})
    _write(root, "/opt/rocm/.info/version", "6.2.4-120\n")
    _write(root, "/opt/rocm/lib/libamdhip64.so.6.2.60204", "")
    return root


def mi300x_tree() -> str:
    root = os.path.join(FS, "derived-mi300x-8")
    shutil.rmtree(root, ignore_errors=True)
    _common_host(root, "mi300x-node", "Ubuntu 22.04.5 LTS")
    _write(root, "/proc/cpuinfo", _cpuinfo("AMD EPYC 9654 96-Core Processor", "AuthenticAMD", 384, 2, _X86_FLAGS))
    _write(root, "/proc/meminfo", _meminfo(2304 * 1024 * 1024, 2250 * 1024 * 1024))
    # card0: the BMC's ASPEED display controller (vendor 0x1a03), not a compute GPU.
    _write(root, "/sys/class/drm/card0/device/vendor", "0x1a03\n")
    addresses = ["0000:05:00.0", "0000:25:00.0", "0000:45:00.0", "0000:65:00.0",
                 "0000:85:00.0", "0000:a5:00.0", "0000:c5:00.0", "0000:e5:00.0"]
    _kfd_node(root, 0, {"cpu_cores_count": 192, "simd_count": 0})
    _kfd_node(root, 1, {"cpu_cores_count": 192, "simd_count": 0})
    for i, address in enumerate(addresses):
        _amd_card(root, f"card{i + 1}", address, "0x74a1", 206141652992, 295911424, 206141652992, 0,
                  "32.0 GT/s PCIe", 16, 38000, 141000000, 750000000,
                  product="AMD Instinct MI300X", unique_id=f"0x{0x5f1c2a0000000000 + i:016x}")
        _kfd_node(root, i + 2, {"cpu_cores_count": 0, "simd_count": 1216, "simd_per_cu": 4,
                                "gfx_target_version": 90402, "domain": 0, "location_id": _location_id(address)})
    _write(root, "/opt/rocm/.info/version", "6.3.1-48\n")
    _write(root, "/opt/rocm/lib/libamdhip64.so.6.3.60301", "")
    return root


def _smbios_type17(handle: int, locator: str, size_mb: int, mem_type: int, speed: int) -> bytes:
    """A DSP0134 3.3 type 17 record (length 0x5C) + its strings."""
    rec = bytearray(0x5C)
    rec[0], rec[1] = 17, 0x5C
    struct.pack_into("<H", rec, 2, handle)
    struct.pack_into("<H", rec, 0x08, 72 if size_mb else 0xFFFF)  # total width (ECC)
    struct.pack_into("<H", rec, 0x0A, 64 if size_mb else 0xFFFF)  # data width
    struct.pack_into("<H", rec, 0x0C, 0x7FFF if size_mb >= 0x7FFF else size_mb)
    rec[0x0E] = 0x09  # form factor DIMM
    rec[0x10] = 1  # device locator: string 1
    rec[0x11] = 2  # bank locator: string 2
    rec[0x12] = mem_type if size_mb else 0x02
    struct.pack_into("<H", rec, 0x15, speed if size_mb else 0)
    struct.pack_into("<I", rec, 0x1C, size_mb if size_mb >= 0x7FFF else 0)
    struct.pack_into("<H", rec, 0x20, speed if size_mb else 0)
    strings = f"{locator}\0P0 CHANNEL {locator[-2]}\0\0".encode()
    return bytes(rec) + strings


def epyc_tree() -> str:
    root = os.path.join(FS, "derived-epyc9354p-cpu-only")
    shutil.rmtree(root, ignore_errors=True)
    _common_host(root, "cpu-node", "Ubuntu 24.04.1 LTS")
    _write(root, "/proc/cpuinfo", _cpuinfo("AMD EPYC 9354P 32-Core Processor", "AuthenticAMD", 64, 1, _X86_FLAGS))
    _write(root, "/proc/meminfo", _meminfo(384 * 1024 * 1024, 370 * 1024 * 1024))
    table = b""
    for n, ch in enumerate("ABCDEFGHIJKL"):  # 12 channels, one 32 GB DDR5-4800 RDIMM each
        table += _smbios_type17(0x1100 + n, f"DIMM_{ch}1", 32768, 0x22, 4800)
    table += _smbios_type17(0x1200, "DIMM_A2", 0, 0x22, 0)  # an empty second slot
    table += bytes([127, 4, 0xFF, 0xFF]) + b"\0\0"
    _write(root, "/sys/firmware/dmi/tables/DMI", table)
    for ch in range(12):
        base = f"/sys/devices/system/edac/mc/mc{ch // 2}/dimm{ch % 2}"
        _write(root, f"{base}/size", "32768\n")
        _write(root, f"{base}/dimm_location", f"channel {ch % 2} slot 0\n")
        _write(root, f"{base}/dimm_mem_type", "Registered-DDR5\n")
    return root


class _NoNvml(types.ModuleType):
    """An NVML whose library is absent (AMD and CPU hosts)."""

    NVMLError = _nvml.NVMLError

    def nvmlInit(self) -> None:
        raise _nvml.NVMLError(_nvml.NVML_ERROR_LIBRARY_NOT_FOUND)


def _save(snap: Snapshot, name: str) -> None:
    snap.captured_at, snap.probe_ms = None, {}
    snap.disk.path, snap.disk.total_bytes, snap.disk.free_bytes = "/models", 3840 * 10 ** 9, 2900 * 10 ** 9
    snap.disk.unavailable.pop("total_bytes", None)
    snap.disk.unavailable.pop("free_bytes", None)
    with open(os.path.join(SNAPS, name), "w", encoding="utf-8") as f:
        f.write(snap.to_json() + "\n")


def linux_snapshot(root: str, env: Dict[str, str]) -> Snapshot:
    snap = take_snapshot(model_dir="/models", nvml=_NoNvml("pynvml"), root=root, environ=env)
    return snap


# --- Apple (sysctl values as `sysctl -n` prints them) -------------------------------------------

APPLE = {
    "derived-m3max-64gb.json": {"machdep.cpu.brand_string": "Apple M3 Max", "hw.model": "Mac15,9",
                                "hw.memsize": str(64 * GIB), "hw.physicalcpu": "16",
                                "iogpu.wired_limit_mb": "0", "hw.ncpu": "16"},
    "derived-m2ultra-192gb.json": {"machdep.cpu.brand_string": "Apple M2 Ultra", "hw.model": "Mac14,14",
                                   "hw.memsize": str(192 * GIB), "hw.physicalcpu": "24",
                                   "iogpu.wired_limit_mb": "0", "hw.ncpu": "24"},
}


class FakePsutil:
    """psutil's answers on one machine (the Windows and macOS host fixtures)."""

    def __init__(self, total: int, available: int, swap: int, logical: int, physical: int,
                 disk_total: int, disk_free: int, mount: str, fstype: str, device: str) -> None:
        self._v = (total, available, swap, logical, physical, disk_total, disk_free, mount, fstype, device)

    def virtual_memory(self):
        return types.SimpleNamespace(total=self._v[0], available=self._v[1])

    def swap_memory(self):
        return types.SimpleNamespace(total=self._v[2], free=self._v[2])

    def cpu_count(self, logical: bool = True):
        return self._v[3] if logical else self._v[4]

    def disk_usage(self, path: str):
        return types.SimpleNamespace(total=self._v[5], free=self._v[6])

    def disk_partitions(self, all: bool = False):  # noqa: A002 - psutil's name
        return [types.SimpleNamespace(mountpoint=self._v[7], fstype=self._v[8], device=self._v[9])]


def host_snapshot(os_name: str, uname: types.SimpleNamespace, ps: FakePsutil, cpu: Dict,
                  model_dir: str) -> Snapshot:
    snap = Snapshot()
    snap.system = host_psutil.probe_system(os_name, {}, uname=uname)
    snap.system.python_version = "3.12.7"
    snap.cpu = host_psutil.probe_cpu(ps, cpu)
    snap.cpu.arch = uname.machine
    snap.memory = host_psutil.probe_memory(ps)
    snap.disk = host_psutil.probe_disk(model_dir, ps)
    return snap


def windows_recording() -> str:
    """RTX 4090 on Windows 11 (WDDM, driving the desktop), derived from nvml/h100.json."""
    with open(os.path.join(NVML, "h100.json"), encoding="utf-8") as f:
        rec = json.load(f)
    rec["source"] = "derived from h100.json: an RTX 4090 under WDDM on Windows 11, driver 581.57"
    rec["host"] = {"note": "derived, not captured"}
    rec["system"]["nvmlSystemGetDriverVersion"] = {"value": "581.57"}
    rec["system"]["nvmlSystemGetNVMLVersion"] = {"value": "13.581.57"}
    g = rec["gpus"][0]
    total, reserved, desktop = 25757220864, 592445440, 1610612736  # 24 GiB board; desktop 1.5 GiB
    g.update({
        "nvmlDeviceGetName": {"value": "NVIDIA GeForce RTX 4090"},
        "nvmlDeviceGetUUID": {"value": "GPU-4090d0d0-0000-4000-8000-000000004090"},
        "nvmlDeviceGetSerial": {"error": "NotSupported"},  # GeForce boards have no serial in NVML
        "nvmlDeviceGetCudaComputeCapability": {"value": [8, 9]},
        "nvmlDeviceGetArchitecture": {"value": 8},
        "nvmlDeviceGetMemoryBusWidth": {"value": 384},
        "nvmlDeviceGetMaxClockInfo:mem": {"value": 10501},
        "nvmlDeviceGetMaxClockInfo:sm": {"value": 3120},
        "nvmlDeviceGetNumGpuCores": {"value": 16384},
        "nvmlDeviceGetMemoryInfo": {"value": {"total": total, "free": total - reserved - desktop,
                                              "used": reserved + desktop}},
        "nvmlDeviceGetMemoryInfo:v2": {"value": {"version": 33554472, "total": total,
                                                 "free": total - reserved - desktop, "used": desktop,
                                                 "reserved": reserved}},
        "nvmlDeviceGetPciInfo": {"value": {"busId": "00000000:01:00.0"}},
        "nvmlDeviceGetEccMode": {"error": "NotSupported"},
        "nvmlDeviceGetTotalEccErrors:uncorrected:volatile": {"error": "NotSupported"},
        "nvmlDeviceGetRemappedRows": {"error": "NotSupported"},
        "nvmlDeviceGetMigMode": {"error": "NotSupported"},
        "nvmlDeviceGetPersistenceMode": {"error": "NotSupported"},  # Linux-only setting
        "nvmlDeviceGetPowerManagementLimit": {"value": 450000},
        "nvmlDeviceGetPowerUsage": {"value": 31000},
        "nvmlDeviceGetTemperature:gpu": {"value": 38},
        # WDDM: no per-process memory accounting (NVML_VALUE_NOT_AVAILABLE).
        "nvmlDeviceGetComputeRunningProcesses": {"value": []},
        "nvmlDeviceGetDriverModel": {"value": [0, 0]},
        "nvmlDeviceGetDisplayActive": {"value": 1},
        "nvmlDeviceGetCurrPcieLinkGeneration": {"value": 4},
        "nvmlDeviceGetMaxPcieLinkGeneration": {"value": 4},
    })
    path = os.path.join(NVML, "derived-win-rtx4090.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")
    return path


def main() -> None:
    from fake_nvml import FakeNvml

    os.makedirs(SNAPS, exist_ok=True)
    _save(linux_snapshot(rx7900xtx_tree(), {}), "derived-rx7900xtx-rocm6.json")
    _save(linux_snapshot(mi300x_tree(), {}), "derived-mi300x-8.json")
    _save(linux_snapshot(epyc_tree(), {}), "derived-epyc9354p-cpu-only.json")

    for name, values in APPLE.items():
        ram = int(values["hw.memsize"])
        snap = host_snapshot("Darwin", types.SimpleNamespace(release="24.6.0", version="Darwin Kernel Version 24.6.0",
                                                             machine="arm64", node="mac"),
                             FakePsutil(ram, ram // 2, 0, int(values["hw.ncpu"]), int(values["hw.ncpu"]),
                                        2 * 10 ** 12, 10 ** 12, "/", "apfs", "/dev/disk3s1"),
                             {"brand_raw": values["machdep.cpu.brand_string"], "vendor_id_raw": "Apple",
                              "flags": ["neon", "asimd", "asimddp", "i8mm", "bf16"]}, "/Users/me/models")
        snap.gpus = apple.probe_apple(sysctl=values.get, metal=lambda: None)
        apple.set_free_from_host(snap.gpus[0], snap.memory.available_bytes)
        snap.cuda = CudaInfo(nvml_status="not_applicable")
        _save(snap, name)

    recording = windows_recording()
    snap = host_snapshot("Windows", types.SimpleNamespace(release="11", version="10.0.26100", machine="AMD64",
                                                          node="GAMING-PC"),
                         FakePsutil(64 * GIB, 48 * GIB, 8 * GIB, 32, 16, 2 * 10 ** 12, 10 ** 12, "C:\\", "NTFS", "C:\\"),
                         {"brand_raw": "13th Gen Intel(R) Core(TM) i9-13900K", "vendor_id_raw": "GenuineIntel",
                          "flags": ["avx", "avx2", "fma", "f16c", "avx_vnni"]}, "C:\\Users\\me\\.cache\\huggingface\\hub")
    reading = read_gpus(environ={}, platform="win32", nvml=FakeNvml.from_file(recording))
    snap.cuda, snap.gpus, snap.links = reading.cuda, reading.gpus, reading.links
    _save(snap, "derived-win-rtx4090.json")
    print("wrote fixtures/fs/derived-{rx7900xtx-rocm6,mi300x-8,epyc9354p-cpu-only}, "
          "fixtures/nvml/derived-win-rtx4090.json and six snapshots")


if __name__ == "__main__":
    main()
