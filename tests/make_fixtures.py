"""Rebuild fixtures/nvml and fixtures/snapshots from the real census recordings.

    .venv/bin/python tests/make_fixtures.py            # census + derived fixtures
    .venv/bin/python tests/make_fixtures.py --dev      # also re-capture nogpu-dev.json here

GPU, link and NVML facts come from replaying each recording through the real probe code
(deepseek_probe.probes.gpu.nvidia) with tests/fake_nvml.py. Host facts (RAM, CPU count, disk, OS,
container) come from the same census file's psutil and file reads. Fields the census did not
record are None with reason ``not_recorded``. Derived fixtures are edits of a real recording,
named ``derived-*`` and listed in fixtures/README.md.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import sys
from typing import Any, Callable, Dict, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

import fake_nvml  # noqa: E402
from deepseek_probe import __version__  # noqa: E402
from deepseek_probe.probes import take_snapshot  # noqa: E402
from deepseek_probe.probes import cuda as cuda_probe  # noqa: E402
from deepseek_probe.probes.gpu.nvidia import GpuProbe  # noqa: E402
from deepseek_probe.snapshot import (CpuInfo, CudaInfo, DiskInfo, MemoryInfo, Snapshot,  # noqa: E402
                                     SystemInfo)

REFERENCE = os.environ.get("DEEPSEEK_PROBE_REFERENCE", os.path.join(REPO, "fixtures", "census"))
NVML_DIR = os.path.join(REPO, "fixtures", "nvml")
SNAP_DIR = os.path.join(REPO, "fixtures", "snapshots")
CENSUS = {"h100": "census-h100.json", "h200": "census-h200.json", "2xh200": "census-2xh200.json"}
NOT_RECORDED = "not_recorded"


def _value(calls: Dict[str, Any], key: str) -> Any:
    call = calls.get(key, {})
    if not call.get("ok"):
        return None
    text = call["value"]
    try:
        return ast.literal_eval(text)
    except SyntaxError:  # nvml_census.py cut reprs at 400 chars: close the cut string
        return ast.literal_eval(text + text[0])


def replay_gpus(recording: Dict[str, Any], environ: Optional[Dict[str, str]] = None):
    probe = GpuProbe(fake_nvml.FakeNvml(recording), environ=environ or {})
    probe.run()
    return probe.stop_and_snapshot()


def host_from_census(census: Dict[str, Any], snap: Snapshot) -> None:
    """RAM, CPU, disk, OS and container facts exactly as the census recorded them."""
    calls = census["calls"]
    platform_text = census.get("platform", "")  # "Linux-6.18.44-fc-v657-gpu-x86_64-with-glibc2.39"
    match = re.match(r"(\w+)-(.+)-(x86_64|aarch64)-with", platform_text)
    os_release = _value(calls, "file:/etc/os-release") or ""
    pretty = re.search(r'PRETTY_NAME="([^"]+)"', os_release)
    cgroup_text = _value(calls, "file:/proc/self/cgroup") or ""
    snap.system = SystemInfo(
        os_name=match.group(1) if match else None,
        os_release=pretty.group(1) if pretty else None,
        kernel=match.group(2) if match else None,
        arch=match.group(3) if match else None,
        python_version=census.get("python", "").split()[0] or None,
        hostname=None,
        container="docker" if calls.get("file:/.dockerenv", {}).get("ok") else None,
        wsl=False,
        unavailable={"hostname": NOT_RECORDED},
    )
    vm = _value(calls, "psutil.vm")  # total, available, percent, used, free, ...
    swap = _value(calls, "psutil.swap")  # total, used, free, percent, sin, sout
    cgroup_v2 = cgroup_text.startswith("0::")
    snap.memory = MemoryInfo(
        total_bytes=vm[0], available_bytes=vm[1], swap_total_bytes=swap[0], swap_free_bytes=swap[2],
        cgroup_version=2 if cgroup_v2 else None,
        # The census read only /sys/fs/cgroup/memory.max (absent: the root cgroup), not the
        # process's own cgroup (0::/process_api/…), so the limit is unknown.
        unavailable={"shm_total_bytes": NOT_RECORDED, "shm_free_bytes": NOT_RECORDED,
                     "cgroup_limit_bytes": NOT_RECORDED, "memlock_limit_bytes": NOT_RECORDED},
    )
    # The census cut py-cpuinfo's repr at 400 characters (flags lost): regex, not literal_eval.
    brand = re.search(r"'brand_raw': '([^']+)'", calls["cpuinfo.get_cpu_info"]["value"])
    vendor = re.search(r"'vendor_id_raw': '([^']+)'", calls["cpuinfo.get_cpu_info"]["value"])
    affinity = _value(calls, "affinity")
    snap.cpu = CpuInfo(
        model=brand.group(1) if brand else None,
        vendor=vendor.group(1) if vendor else None,
        arch=match.group(3) if match else None,
        logical_cores=_value(calls, "psutil.cpu_count_logical"),
        physical_cores=_value(calls, "psutil.cpu_count_physical"),
        usable_cores=float(affinity) if affinity else None,  # sched_getaffinity; no cpu.max seen
        flags=None,
        numa_nodes=None,
        unavailable={"flags": NOT_RECORDED, "numa_nodes": NOT_RECORDED},
    )
    disk = _value(calls, "psutil.disk_root")  # total, used, free, percent
    partitions = _value(calls, "psutil.partitions") or []
    root_part = next((p for p in partitions if p[1] == "/"), None)
    snap.disk = DiskInfo(
        path="/", total_bytes=disk[0], free_bytes=disk[2],
        fstype=root_part[2] if root_part else None, device=root_part[0] if root_part else None,
        unavailable={"rotational": NOT_RECORDED},
    )
    snap.probe_ms = {
        "system": calls["file:/etc/os-release"]["ms"],
        "cpu": round(calls["psutil.cpu_count_logical"]["ms"] + calls["psutil.cpu_count_physical"]["ms"]
                     + calls["affinity"]["ms"], 3),
        "memory": round(calls["psutil.vm"]["ms"] + calls["psutil.swap"]["ms"], 3),
        "disk": calls["psutil.disk_root"]["ms"],
    }


def toolkit_from_census(census: Dict[str, Any], cuda: CudaInfo) -> None:
    calls = census["calls"]
    out = _value(calls, "cmd:nvcc --version") or ""
    release = re.search(r"release (\d+\.\d+)", out)
    cuda.nvcc_version = release.group(1) if release else None
    if cuda.nvcc_version is None:
        cuda.unavailable["nvcc_version"] = "not_found"
    cuda.unavailable["libcuda_path"] = NOT_RECORDED
    cuda.unavailable["libcudart_path"] = NOT_RECORDED
    if cuda.nvml_status != "ok":  # as take_snapshot does: the kernel module's version instead
        for name in ("driver_version", "cuda_driver_version", "nvml_version"):
            cuda.unavailable.setdefault(name, cuda.nvml_status)
        version = cuda_probe.driver_version_in(_value(calls, "file:/proc/driver/nvidia/version") or "")
        if version:
            cuda.driver_version = version
            cuda.unavailable.pop("driver_version", None)


def gpu_ms(recording: Dict[str, Any]) -> float:
    total = recording["init"].get("ms") or 0.0
    for entry in recording["system"].values():
        total += entry.get("ms") or 0.0
    for gpu in recording["gpus"]:
        total += sum(e.get("ms") or 0.0 for e in gpu.values() if isinstance(e, dict))
    return round(total, 3)


def build_snapshot(census: Dict[str, Any], recording: Dict[str, Any],
                   environ: Optional[Dict[str, str]] = None) -> Snapshot:
    snap = Snapshot(tool_version=__version__, captured_at=None)
    host_from_census(census, snap)
    cuda, gpus, links = replay_gpus(recording, environ)
    toolkit_from_census(census, cuda)
    cuda.cuda_visible_devices = (environ or {}).get("CUDA_VISIBLE_DEVICES")
    snap.cuda, snap.gpus, snap.links = cuda, gpus, links
    snap.probe_ms["gpu"] = gpu_ms(recording)
    return snap


def write_json(path: str, doc: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def write_snapshot(name: str, snap: Snapshot) -> None:
    text = snap.to_json()
    assert Snapshot.from_json(text) == snap, name  # lossless round trip before writing
    with open(os.path.join(SNAP_DIR, name), "w", encoding="utf-8") as f:
        f.write(text + "\n")


# --- derived recordings: small, named edits of a real one ----------------------------------

def _set(gpu: Dict[str, Any], key: str, value: Any) -> None:
    gpu[key] = {"value": value}


def derive_mig_on(rec: Dict[str, Any]) -> Dict[str, Any]:
    """MIG mode enabled (current and pending) on the H100; nothing else changed."""
    _set(rec["gpus"][0], "nvmlDeviceGetMigMode", [1, 1])
    return rec


def derive_tenant_60gb(rec: Dict[str, Any]) -> Dict[str, Any]:
    """Another process (pid 48213) holds 60 GiB on the H200: used += 60 GiB, free -= 60 GiB."""
    gpu = rec["gpus"][0]
    tenant = 60 * 1024 ** 3
    v1 = dict(gpu["nvmlDeviceGetMemoryInfo"]["value"])
    v1["used"] += tenant
    v1["free"] -= tenant
    _set(gpu, "nvmlDeviceGetMemoryInfo", v1)
    v2 = dict(gpu["nvmlDeviceGetMemoryInfo:v2"]["value"])
    v2["used"] += tenant
    v2["free"] -= tenant
    _set(gpu, "nvmlDeviceGetMemoryInfo:v2", v2)
    _set(gpu, "nvmlDeviceGetComputeRunningProcesses", [{"pid": 48213, "usedGpuMemory": tenant}])
    _set(gpu, "nvmlDeviceGetCurrentClocksEventReasons", 0)  # busy: not idle
    _set(gpu, "nvmlDeviceGetPowerUsage", 312000)
    return rec


def derive_hot_throttled(rec: Dict[str, Any]) -> Dict[str, Any]:
    """H100 at 87 C drawing 699 W, clocks held down by power cap and thermal slowdown."""
    gpu = rec["gpus"][0]
    _set(gpu, "nvmlDeviceGetTemperature:gpu", 87)
    _set(gpu, "nvmlDeviceGetPowerUsage", 699000)
    _set(gpu, "nvmlDeviceGetCurrentClocksEventReasons", 0x04 | 0x20 | 0x40)
    return rec


def derive_8gpu_mixed(h200x2: Dict[str, Any], h100: Dict[str, Any]) -> Dict[str, Any]:
    """8 GPUs: 4 H200 (NVLink to each other, as the 2xH200 pair) + 4 H100 80GB (no NVLink).

    GPU 5 has a pending row remap and 2 volatile uncorrected ECC errors, GPU 6 has a
    20 GiB tenant, GPU 7 is in exclusive-process mode. UUIDs/serials are the recorded ones
    with the last digits replaced (hand-made: ``…-d0000000000N``, serial ``99…N``).
    """
    rec = copy.deepcopy(h200x2)
    rec["source"] = "derived from census-2xh200.json (GPUs 0-3) and census-h100.json (GPUs 4-7)"
    base_h200, base_h100 = h200x2["gpus"][0], h100["gpus"][0]
    gpus = []
    for i in range(8):
        gpu = copy.deepcopy(base_h200 if i < 4 else base_h100)
        for key in [k for k in gpu if k.startswith(("nvmlDeviceGetTopologyCommonAncestor:",
                                                    "nvmlDeviceGetP2PStatus:"))]:
            del gpu[key]
        uuid = gpu["nvmlDeviceGetUUID"]["value"]
        _set(gpu, "nvmlDeviceGetUUID", uuid[:-12] + f"d0000000000{i}")
        _set(gpu, "nvmlDeviceGetSerial", f"99000000000{i:02d}")
        _set(gpu, "nvmlDeviceGetPciInfo", {"busId": f"00000000:{0x18 + 0x10 * i:02X}:00.0"})
        for j in range(8):
            if j == i:
                continue
            both_h200 = i < 4 and j < 4
            same_socket = (i < 4) == (j < 4)
            _set(gpu, f"nvmlDeviceGetTopologyCommonAncestor:{j}", 30 if same_socket else 50)
            # NVML_P2P_STATUS_OK (0) over NVLink only between the H200s; else NOT_SUPPORTED (5)
            _set(gpu, f"nvmlDeviceGetP2PStatus:{j}:nvlink", 0 if both_h200 else 5)
        gpus.append(gpu)
    _set(gpus[5], "nvmlDeviceGetRemappedRows", [0, 1, 1, 0])
    _set(gpus[5], "nvmlDeviceGetTotalEccErrors:uncorrected:volatile", 2)
    tenant = 20 * 1024 ** 3
    v1 = dict(gpus[6]["nvmlDeviceGetMemoryInfo"]["value"])
    v1["used"] += tenant
    v1["free"] -= tenant
    _set(gpus[6], "nvmlDeviceGetMemoryInfo", v1)
    v2 = dict(gpus[6]["nvmlDeviceGetMemoryInfo:v2"]["value"])
    v2["used"] += tenant
    v2["free"] -= tenant
    _set(gpus[6], "nvmlDeviceGetMemoryInfo:v2", v2)
    _set(gpus[6], "nvmlDeviceGetComputeRunningProcesses", [{"pid": 7311, "usedGpuMemory": tenant}])
    _set(gpus[7], "nvmlDeviceGetComputeMode", 3)
    rec["gpus"] = gpus
    rec["system"]["nvmlDeviceGetCount"] = {"value": 8}
    rec["notes"] = []
    return rec


def derive_driver_mismatch(rec: Dict[str, Any]) -> Dict[str, Any]:
    """The driver was upgraded without a reboot: nvmlInit fails with LibRmVersionMismatch."""
    rec["init"] = {"error": "LibRmVersionMismatch"}
    return rec


def derived(base: Dict[str, Any], name: str, edit: Callable[[Dict[str, Any]], Dict[str, Any]],
            source: str) -> Dict[str, Any]:
    rec = edit(copy.deepcopy(base))
    rec["source"] = rec.get("source") if name == "derived-8gpu-mixed" else f"derived from {source}"
    rec["derived"] = (edit.__doc__ or "").strip().splitlines()[0]
    write_json(os.path.join(NVML_DIR, name + ".json"), rec)
    return rec


# Files the probes read, recorded from a live machine into fixtures/fs/<name>/ (psutil-style
# replay data). Per-process cgroup dirs and block devices are added from what the machine shows.
FS_FILES = (
    "/proc/cpuinfo", "/proc/meminfo", "/proc/self/mountinfo", "/proc/self/cgroup",
    "/proc/self/status", "/proc/self/limits", "/proc/1/cgroup",
    "/proc/sys/kernel/osrelease", "/proc/sys/kernel/ostype", "/proc/sys/kernel/hostname",
    "/proc/driver/nvidia/version", "/etc/os-release", "/etc/ld.so.conf",
    "/.dockerenv", "/run/.containerenv",
    "/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
)


def record_fs_tree(dest: str) -> None:
    """Copy the files the probes read (those that exist here) under ``dest``."""
    import glob
    import shutil

    from deepseek_probe.probes import _cgroup

    paths = list(FS_FILES) + sorted(glob.glob("/etc/ld.so.conf.d/*.conf"))
    for controller, names in (("memory", ("memory.max", "memory.limit_in_bytes")),
                              ("cpu", ("cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us"))):
        for d in _cgroup.controller_dirs("/", controller):
            paths += [f"{d}/{n}" for n in names]
    paths += [f"/sys/devices/system/node/{n}/cpulist" for n in os.listdir("/sys/devices/system/node")
              if re.fullmatch(r"node\d+", n)] if os.path.isdir("/sys/devices/system/node") else []
    paths += [f"/sys/block/{b}/queue/rotational" for b in os.listdir("/sys/block")]
    for path in paths:
        if not os.path.isfile(path):
            continue
        target = os.path.join(dest, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            with open(path, "rb") as src:
                data = src.read(1024 * 1024)
        except OSError:
            continue
        with open(target, "wb") as out:
            out.write(data)
    shutil.rmtree(os.path.join(dest, "__pycache__"), ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="also capture nogpu-dev.json here")
    parser.add_argument("--record-fs", metavar="NAME",
                        help="record this machine's /proc, /sys, /etc files to fixtures/fs/NAME")
    args = parser.parse_args()
    if args.record_fs:
        record_fs_tree(os.path.join(REPO, "fixtures", "fs", args.record_fs))
        print("recorded", args.record_fs)
        return
    os.makedirs(NVML_DIR, exist_ok=True)
    os.makedirs(SNAP_DIR, exist_ok=True)
    census: Dict[str, Dict[str, Any]] = {}
    recs: Dict[str, Dict[str, Any]] = {}
    for name, filename in CENSUS.items():
        with open(os.path.join(REFERENCE, filename), encoding="utf-8") as f:
            census[name] = json.load(f)
        recs[name] = fake_nvml.census_to_recording(
            census[name], f"{filename} (nvml_census.py on a real {name.upper()} host)")
        write_json(os.path.join(NVML_DIR, f"{name}.json"), recs[name])
        write_snapshot(f"{name}.json", build_snapshot(census[name], recs[name]))

    def both(name: str, base: str, edit: Callable, env: Optional[Dict[str, str]] = None) -> None:
        rec = derived(recs[base], name, edit, CENSUS[base])
        write_snapshot(name + ".json", build_snapshot(census[base], rec, env))

    both("derived-h100-mig-on", "h100", derive_mig_on)
    both("derived-h200-tenant-60gb", "h200", derive_tenant_60gb)
    both("derived-h100-hot-throttled", "h100", derive_hot_throttled)
    both("derived-h100-driver-mismatch", "h100", derive_driver_mismatch)
    # Same recording, CUDA_VISIBLE_DEVICES=1: only the second H200 is usable.
    write_snapshot("derived-2xh200-visible-1.json",
                   build_snapshot(census["2xh200"], recs["2xh200"], {"CUDA_VISIBLE_DEVICES": "1"}))
    mixed = derive_8gpu_mixed(recs["2xh200"], recs["h100"])
    mixed["derived"] = derive_8gpu_mixed.__doc__.strip().splitlines()[0]
    write_json(os.path.join(NVML_DIR, "derived-8gpu-mixed.json"), mixed)
    write_snapshot("derived-8gpu-mixed.json", build_snapshot(census["2xh200"], mixed))

    if args.dev:
        write_snapshot("nogpu-dev.json", take_snapshot())
    print("fixtures written to", NVML_DIR, "and", SNAP_DIR)


if __name__ == "__main__":
    main()
