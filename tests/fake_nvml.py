"""A fake ``pynvml`` that replays a recording (fixtures/nvml/*.json), with injectable faults.

Recording format (``"format": "deepseek-probe-nvml/1"``)::

    {"format": "deepseek-probe-nvml/1", "source": "...", "host": {...}, "notes": [...],
     "init":   {"value": null}                      # or {"error": "LibraryNotFound"}
     "system": {"nvmlSystemGetDriverVersion": {"value": "580.159.04", "ms": 0.096}, ...},
     "gpus":   [{"nvmlDeviceGetName": {"value": "NVIDIA H200"},
                 "nvmlDeviceGetMaxClockInfo:mem": {"value": 3201},
                 "nvmlDeviceGetNvLinkState:18": {"error": "InvalidArgument"},
                 "nvmlDeviceGetTopologyCommonAncestor:1": {"value": 30}, ...}, ...]}

A key is the pynvml function name, then ``:``-separated arguments after the device handle
(another handle -> its index; enum arguments -> the names in ``ARG_NAMES``). A value is plain
JSON; NVML structs are objects (``{"busId": …}``), tuples are lists. An error is the suffix of
the pynvml exception class (``NotSupported`` -> ``pynvml.NVMLError_NotSupported``), so the probe
sees the real exception classes. ``ms`` is the recorded latency (informational).
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
import types
from typing import Any, Dict, List, Optional, Tuple

import pynvml as _real

FORMAT = "deepseek-probe-nvml/1"

# Enum arguments spelled out in keys (values from pynvml / nvml.h).
ARG_NAMES: Dict[str, Dict[int, str]] = {
    "nvmlDeviceGetMaxClockInfo": {0: "graphics", 1: "sm", 2: "mem", 3: "video"},
    "nvmlDeviceGetClockInfo": {0: "graphics", 1: "sm", 2: "mem", 3: "video"},
    "nvmlDeviceGetTemperature": {0: "gpu"},
    "nvmlDeviceGetP2PStatus": {0: "read", 1: "write", 2: "nvlink", 3: "atomics", 4: "pci"},
    "nvmlDeviceGetTotalEccErrors": {0: "corrected", 1: "uncorrected"},
}
_ECC_COUNTER = {0: "volatile", 1: "aggregate"}


class FakeNvmlMissing(Exception):
    """The probe asked for a call the recording does not have (a test-data gap or a probe bug)."""


class Handle:
    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<fake nvml handle {self.index}>"


def nvml_error(name_or_code: Any) -> Exception:
    """A real pynvml exception: ``"NotSupported"`` or ``3`` -> ``pynvml.NVMLError_NotSupported``."""
    if isinstance(name_or_code, int):
        return _real.NVMLError(name_or_code)
    cls = getattr(_real, "NVMLError_" + name_or_code, None)
    if cls is None:
        raise ValueError(f"no pynvml error class NVMLError_{name_or_code}")
    return cls()


def _struct(value: Any) -> Any:
    if isinstance(value, dict):
        return types.SimpleNamespace(**{k: _struct(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_struct(v) for v in value]
    return value


class FakeNvml(types.ModuleType):
    """Use as the ``nvml`` argument of ``take_snapshot`` / ``GpuProbe``.

    Faults: ``init_error`` ("LibraryNotFound", "DriverNotLoaded", "NoPermission", …);
    ``errors`` {(gpu index or None, key): error name} (key may be just the function name to hit
    every argument); ``lose_gpu`` {gpu index: n} -> GpuIsLost from that GPU's n-th call on;
    ``sleep`` {(gpu index or None, key): seconds} -> the call blocks that long.
    """

    def __init__(self, recording: Dict[str, Any], *, init_error: Optional[str] = None,
                 errors: Optional[Dict[Tuple[Optional[int], str], str]] = None,
                 lose_gpu: Optional[Dict[int, int]] = None,
                 sleep: Optional[Dict[Tuple[Optional[int], str], float]] = None) -> None:
        super().__init__("pynvml")
        if recording.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} recording")
        self.recording = recording
        self.init_error = init_error
        self.errors = dict(errors or {})
        self.lose_gpu = dict(lose_gpu or {})
        self.sleep = dict(sleep or {})
        self.calls: List[str] = []
        self.gpu_call_counts: Dict[int, int] = {}
        self.initialized = False
        self.shutdown_called = False
        self._lock = threading.Lock()
        # The real constants and exception classes, so the probe cannot tell the difference.
        for name in dir(_real):
            if name.startswith(("NVML_", "NVMLError", "nvmlMemory_v", "nvmlClocks")):
                setattr(self, name, getattr(_real, name))

    @classmethod
    def from_file(cls, path: str, **faults: Any) -> "FakeNvml":
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f), **faults)

    # --- library lifecycle -----------------------------------------------------------------
    def nvmlInit(self) -> None:
        self._log(None, "nvmlInit")
        if self.init_error:
            raise nvml_error(self.init_error)
        init = self.recording.get("init", {"value": None})
        if "error" in init:
            raise nvml_error(init["error"])
        self.initialized = True

    nvmlInitWithFlags = lambda self, flags: self.nvmlInit()  # noqa: E731

    def nvmlShutdown(self) -> None:
        self._log(None, "nvmlShutdown")
        self.shutdown_called = True
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        return int(self._system("nvmlDeviceGetCount"))

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Handle:
        self._require_init()
        if not 0 <= index < len(self.recording.get("gpus", [])):
            raise nvml_error("InvalidArgument")
        self._fault(index, "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByIndex")
        return Handle(index)

    # --- every other call: system calls by name, device calls by (handle, args) --------------
    def __getattr__(self, name: str) -> Any:
        if not name.startswith("nvml"):
            raise AttributeError(name)
        if name.startswith("nvmlSystem"):
            return lambda *args: self._system(name)
        if name.startswith("nvmlDevice"):
            return lambda handle, *args, **kwargs: self._device(name, handle, args, kwargs)
        raise AttributeError(name)

    def _system(self, name: str) -> Any:
        self._require_init()
        self._fault(None, name, name)
        entry = self.recording.get("system", {}).get(name)
        if entry is None:
            raise FakeNvmlMissing(name)
        return self._replay(entry)

    def _device(self, name: str, handle: Any, args: tuple, kwargs: dict) -> Any:
        self._require_init()
        if not isinstance(handle, Handle):
            raise TypeError(f"{name}: not a device handle: {handle!r}")
        key = device_key(name, args, kwargs)
        self._fault(handle.index, name, key)
        entry = self.recording["gpus"][handle.index].get(key)
        if entry is None:
            raise FakeNvmlMissing(f"gpu{handle.index}.{key}")
        return self._replay(entry)

    def _require_init(self) -> None:
        if not self.initialized:
            raise nvml_error("Uninitialized")

    def _fault(self, gpu: Optional[int], name: str, key: str) -> None:
        self._log(gpu, key)
        if gpu is not None:
            with self._lock:
                self.gpu_call_counts[gpu] = self.gpu_call_counts.get(gpu, 0) + 1
                count = self.gpu_call_counts[gpu]
            if gpu in self.lose_gpu and count >= self.lose_gpu[gpu]:
                raise nvml_error("GpuIsLost")
        for k in ((gpu, key), (gpu, name)):
            if k in self.sleep:
                time.sleep(self.sleep[k])
            if k in self.errors:
                raise nvml_error(self.errors[k])

    def _log(self, gpu: Optional[int], key: str) -> None:
        with self._lock:
            self.calls.append(key if gpu is None else f"gpu{gpu}.{key}")

    @staticmethod
    def _replay(entry: Dict[str, Any]) -> Any:
        if "error" in entry:
            raise nvml_error(entry["error"])
        return _struct(entry.get("value"))


def device_key(name: str, args: tuple, kwargs: dict) -> str:
    parts = [name]
    names = ARG_NAMES.get(name, {})
    for pos, arg in enumerate(args):
        if isinstance(arg, Handle):
            parts.append(str(arg.index))
        elif name == "nvmlDeviceGetTotalEccErrors" and pos == 1:
            parts.append(_ECC_COUNTER.get(int(arg), str(arg)))
        elif isinstance(arg, int) and int(arg) in names:
            parts.append(names[int(arg)])
        else:
            parts.append(str(arg))
    if kwargs.get("version") is not None:
        parts.append("v2" if kwargs["version"] == _real.nvmlMemory_v2 else str(kwargs["version"]))
    return ":".join(parts)


# --- census (nvml_census.py output, values as Python reprs) -> recording -----------------------

_CENSUS_SYSTEM = {
    "driver": "nvmlSystemGetDriverVersion",
    "cuda_driver": "nvmlSystemGetCudaDriverVersion",
    "cuda_driver_v2": "nvmlSystemGetCudaDriverVersion_v2",
    "nvml_version": "nvmlSystemGetNVMLVersion",
    "count": "nvmlDeviceGetCount",
}
_CENSUS_GPU = {
    "name": "nvmlDeviceGetName",
    "uuid": "nvmlDeviceGetUUID",
    "serial": "nvmlDeviceGetSerial",
    "cc": "nvmlDeviceGetCudaComputeCapability",
    "arch": "nvmlDeviceGetArchitecture",
    "brand": "nvmlDeviceGetBrand",
    "pcie_gen_cur": "nvmlDeviceGetCurrPcieLinkGeneration",
    "pcie_gen_max": "nvmlDeviceGetMaxPcieLinkGeneration",
    "pcie_gen_gpu_max": "nvmlDeviceGetGpuMaxPcieLinkGeneration",
    "pcie_w_cur": "nvmlDeviceGetCurrPcieLinkWidth",
    "pcie_w_max": "nvmlDeviceGetMaxPcieLinkWidth",
    "bus_width": "nvmlDeviceGetMemoryBusWidth",
    "max_mem_clock": "nvmlDeviceGetMaxClockInfo:mem",
    "max_sm_clock": "nvmlDeviceGetMaxClockInfo:sm",
    "num_cores": "nvmlDeviceGetNumGpuCores",
    "temp": "nvmlDeviceGetTemperature:gpu",
    "power_limit": "nvmlDeviceGetPowerManagementLimit",
    "power_usage": "nvmlDeviceGetPowerUsage",
    "persistence": "nvmlDeviceGetPersistenceMode",
    "ecc_mode": "nvmlDeviceGetEccMode",
    "ecc_uncorrected_volatile": "nvmlDeviceGetTotalEccErrors:uncorrected:volatile",
    "remapped_rows": "nvmlDeviceGetRemappedRows",
    "retired_pages_pending": "nvmlDeviceGetRetiredPagesPendingStatus",
    "mig_mode": "nvmlDeviceGetMigMode",
    "compute_mode": "nvmlDeviceGetComputeMode",
    "throttle": "nvmlDeviceGetCurrentClocksEventReasons",
    "vbios": "nvmlDeviceGetVbiosVersion",
    "virt_mode": "nvmlDeviceGetVirtualizationMode",
    "numa_node": "nvmlDeviceGetNumaNodeId",
    "cpu_affinity": "nvmlDeviceGetCpuAffinity:4",
}


def _census_error(text: str) -> Optional[str]:
    match = re.match(r"NVMLError_(\w+)", text)
    return match.group(1) if match else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def census_to_recording(census: Dict[str, Any], source: str) -> Dict[str, Any]:
    """Convert one census-*.json (nvml_census.py) into the recording format."""
    calls = census["calls"]
    rec: Dict[str, Any] = {
        "format": FORMAT,
        "source": source,
        "host": {"platform": census.get("platform"), "python": census.get("python")},
        "notes": [],
        "init": {"value": None, "ms": calls["nvmlInit"].get("ms")},
        "system": {},
        "gpus": [],
    }

    def entry(call: Dict[str, Any], convert=lambda v: v) -> Optional[Dict[str, Any]]:
        out: Dict[str, Any] = {}
        if call.get("ok"):
            out["value"] = _jsonable(convert(ast.literal_eval(call["value"])))
        else:
            err = _census_error(call.get("error", ""))
            if err is None:
                return None  # not an NVML error (a bug in the census script): not a recording
            out["error"] = err
        if call.get("ms") is not None:
            out["ms"] = call["ms"]
        return out

    for ckey, key in _CENSUS_SYSTEM.items():
        e = entry(calls[ckey])
        if e is not None:
            rec["system"][key] = e
    count = int(ast.literal_eval(calls["count"]["value"]))
    for i in range(count):
        p = f"gpu{i}."
        gpu: Dict[str, Any] = {}
        for ckey, key in _CENSUS_GPU.items():
            if p + ckey in calls:
                e = entry(calls[p + ckey])
                if e is not None:
                    gpu[key] = e
        gpu["nvmlDeviceGetPciInfo"] = entry(calls[p + "pci_bus_id"], lambda v: {"busId": v})
        gpu["nvmlDeviceGetMemoryInfo"] = entry(
            calls[p + "mem_v1_fields"], lambda v: {"total": v[0], "free": v[1], "used": v[2]})
        gpu["nvmlDeviceGetMemoryInfo:v2"] = entry(
            calls[p + "mem_v2_fields"],
            lambda v: {"version": _real.nvmlMemory_v2, "total": v[0], "free": v[1], "used": v[2],
                       "reserved": v[3]})
        gpu["nvmlDeviceGetComputeRunningProcesses"] = entry(
            calls[p + "procs"], lambda v: [{"pid": pid, "usedGpuMemory": used} for pid, used in v])
        for link, state in ast.literal_eval(calls[p + "nvlink_states"]["value"]):
            if isinstance(state, int):
                gpu[f"nvmlDeviceGetNvLinkState:{link}"] = {"value": state}
            else:
                gpu[f"nvmlDeviceGetNvLinkState:{link}"] = {"error": _census_error(state)}
        for j in range(count):
            if j == i:
                continue
            for ckey, key in ((f"topo_to_{j}", f"nvmlDeviceGetTopologyCommonAncestor:{j}"),
                              (f"p2p_nvlink_to_{j}", f"nvmlDeviceGetP2PStatus:{j}:nvlink")):
                e = entry(calls[p + ckey])
                if e is not None:
                    gpu[key] = e
            if not calls.get(f"{p}p2p_read_to_{j}", {}).get("ok", True):
                note = ("p2p_read not recorded: nvml_census.py passed pynvml's "
                        "NVML_P2P_CAPS_INDEX_READ, which is the tuple (0,) (a pynvml typo), "
                        "so ctypes rejected it")
                if note not in rec["notes"]:
                    rec["notes"].append(note)
        rec["gpus"].append(gpu)
    return rec
