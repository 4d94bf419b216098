"""Every NVML call probes/gpu/nvidia.py makes, to ask two bindings the same questions.

Used by tests/test_nvml_binding.py (our ctypes binding vs pynvml on a C stub library) and
tests/gpu/test_gpu_nvml_binding.py (the same on a real GPU). A call is (label, function name,
args, kwargs); ``GPU(i)`` in args stands for device i's handle, resolved by each binding.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

NVLINK_MAX_LINKS = 36  # nvml.h NVML_NVLINK_MAX_LINKS (NVML 13), the probe's link loop bound
CLOCK_SM, CLOCK_MEM = 1, 2  # nvmlClockType_t
TEMPERATURE_GPU = 0  # nvmlTemperatureSensors_t
MEMORY_ERROR_UNCORRECTED, VOLATILE_ECC = 1, 0  # nvmlMemoryErrorType_t, nvmlEccCounterType_t
P2P_CAPS_INDEX_NVLINK = 2  # nvmlGpuP2PCapsIndex_t
MEMORY_V2 = 0x02000028  # nvml.h nvmlMemory_v2


class GPU(NamedTuple):
    index: int


class Call(NamedTuple):
    label: str
    name: str
    args: Tuple[Any, ...] = ()
    kwargs: Dict[str, Any] = {}


def probe_calls(gpu_count: int) -> List[Call]:
    """The calls GpuProbe makes on a host with ``gpu_count`` GPUs (all NVLink link numbers)."""
    calls = [Call("driver", "nvmlSystemGetDriverVersion"),
             Call("cuda_driver", "nvmlSystemGetCudaDriverVersion"),
             Call("nvml_version", "nvmlSystemGetNVMLVersion"),
             Call("count", "nvmlDeviceGetCount")]
    one_arg = ["nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetSerial",
               "nvmlDeviceGetPciInfo", "nvmlDeviceGetMemoryInfo",
               "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetArchitecture",
               "nvmlDeviceGetCurrPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkGeneration",
               "nvmlDeviceGetCurrPcieLinkWidth", "nvmlDeviceGetMaxPcieLinkWidth",
               "nvmlDeviceGetMemoryBusWidth", "nvmlDeviceGetNumGpuCores", "nvmlDeviceGetMigMode",
               "nvmlDeviceGetEccMode", "nvmlDeviceGetRemappedRows", "nvmlDeviceGetPersistenceMode",
               "nvmlDeviceGetComputeMode", "nvmlDeviceGetPowerManagementLimit",
               "nvmlDeviceGetPowerUsage", "nvmlDeviceGetCurrentClocksEventReasons",
               "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetVbiosVersion",
               "nvmlDeviceGetDriverModel", "nvmlDeviceGetDisplayActive"]  # last two: Windows only
    for i in range(gpu_count):
        h = GPU(i)
        p = f"gpu{i}."
        calls.append(Call(p + "handle", "nvmlDeviceGetHandleByIndex", (i,)))
        calls += [Call(p + name, name, (h,)) for name in one_arg]
        calls += [
            Call(p + "memory_v2", "nvmlDeviceGetMemoryInfo", (h,), {"version": MEMORY_V2}),
            Call(p + "max_clock_sm", "nvmlDeviceGetMaxClockInfo", (h, CLOCK_SM)),
            Call(p + "max_clock_mem", "nvmlDeviceGetMaxClockInfo", (h, CLOCK_MEM)),
            Call(p + "ecc_uncorrected_volatile", "nvmlDeviceGetTotalEccErrors",
                 (h, MEMORY_ERROR_UNCORRECTED, VOLATILE_ECC)),
            Call(p + "temperature", "nvmlDeviceGetTemperature", (h, TEMPERATURE_GPU)),
        ]
        calls += [Call(f"{p}nvlink{link}", "nvmlDeviceGetNvLinkState", (h, link))
                  for link in range(NVLINK_MAX_LINKS)]
    for i in range(gpu_count):  # pairs last, once every handle is known (as the probe does)
        for j in range(gpu_count):
            if j != i:
                calls += [Call(f"gpu{i}.topology_to_{j}", "nvmlDeviceGetTopologyCommonAncestor",
                               (GPU(i), GPU(j))),
                          Call(f"gpu{i}.p2p_nvlink_to_{j}", "nvmlDeviceGetP2PStatus",
                               (GPU(i), GPU(j), P2P_CAPS_INDEX_NVLINK))]
    return calls


def calls_in_probe_source(source: str) -> List[str]:
    """NVML function names the probe's source asks for (string literals ``"nvml…"``)."""
    return sorted(set(re.findall(r'"(nvml(?:Device|System)\w+)"', source)))


def plain(value: Any) -> Any:
    """A binding's answer as plain data: structs and objects -> dicts, tuple vs list kept."""
    if isinstance(value, (bytes, str, int, float)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [type(value).__name__] + [plain(v) for v in value]
    fields = getattr(value, "_fields_", None)
    if fields is not None:
        return {name: plain(getattr(value, name)) for name, *_ in fields}
    return {k: plain(v) for k, v in sorted(vars(value).items())}


def ask(nvml: Any, call: Call, handles: Dict[int, Any]) -> Tuple[str, Any]:
    """("ok", plain value) or ("error", nvmlReturn_t code) of one call through ``nvml``."""
    args = tuple(handles[a.index] if isinstance(a, GPU) else a for a in call.args)
    try:
        value = getattr(nvml, call.name)(*args, **call.kwargs)
    except nvml.NVMLError as e:
        return ("error", e.value)
    if call.name == "nvmlDeviceGetHandleByIndex":
        handles[call.args[0]] = value
        return ("ok", "handle")  # opaque: only whether it was given
    return ("ok", plain(value))


def compare(ours: Any, reference: Any, gpu_count: int, retries: int = 0,
            only: Optional[List[str]] = None) -> Dict[str, Tuple[Any, Any]]:
    """Ask both bindings every probe call, back to back; {label: (ours, reference)} where they
    differ. ``retries``: ask again up to that many times when they differ (values that move
    between two calls on a live GPU: power draw, temperature, free memory)."""
    ours_handles: Dict[int, Any] = {}
    ref_handles: Dict[int, Any] = {}
    diffs = {}
    for call in probe_calls(gpu_count):
        if only is not None and call.name not in only and call.name != "nvmlDeviceGetHandleByIndex":
            continue
        for _ in range(retries + 1):
            a, b = ask(ours, call, ours_handles), ask(reference, call, ref_handles)
            if a == b:
                diffs.pop(call.label, None)
                break
            diffs[call.label] = (a, b)
    return diffs
