"""The ctypes half of our NVML binding (probes/_nvml.py): nvml.h's structures and prototypes.

Only ctypes is imported here, and probes/_nvml.py imports this module once ``nvmlInit`` has
loaded the library (or a call or a structure is used), so a machine without the NVIDIA driver
never imports ctypes (issue 24). The calls themselves stay in probes/_nvml.py, pynvml's API.
"""

from __future__ import annotations

from ctypes import (POINTER, Structure, byref, c_char, c_char_p, c_int, c_uint, c_ulonglong, c_void_p,
                    create_string_buffer)
from typing import Any, Dict

# What probes/_nvml.py uses: ctypes' own names, then nvml.h's.
__all__ = ["byref", "c_char_p", "c_int", "c_uint", "c_ulonglong", "create_string_buffer",
           "c_nvmlMemory_t", "c_nvmlMemory_v2_t", "nvmlPciInfo_t", "c_nvmlProcessInfo_t", "DEVICE", "ARGTYPES"]

# nvmlPciInfo_t's two bus id arrays (nvml.h): NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE and _V2_SIZE of
# probes/_nvml.py, repeated because this module imports nothing of ours (no import circle);
# tests/test_nvml_binding.py pins the layout against nvml.h and pynvml.
_PCI_BUS_ID_BUFFER_SIZE = 32
_PCI_BUS_ID_BUFFER_V2_SIZE = 16


# --- structs (nvml.h) ---------------------------------------------------------------------

class c_nvmlMemory_t(Structure):
    """nvmlMemory_t: ``used`` includes the driver's reservation."""

    _fields_ = [("total", c_ulonglong), ("free", c_ulonglong), ("used", c_ulonglong)]


class c_nvmlMemory_v2_t(Structure):
    """nvmlMemory_v2_t: ``reserved`` (driver/firmware) split out of ``used``."""

    _fields_ = [("version", c_uint), ("total", c_ulonglong), ("reserved", c_ulonglong),
                ("free", c_ulonglong), ("used", c_ulonglong)]


class nvmlPciInfo_t(Structure):
    """nvmlPciInfo_t; the bus ids read as str, as pynvml gives them."""

    _fields_ = [("busIdLegacy", c_char * _PCI_BUS_ID_BUFFER_V2_SIZE),
                ("domain", c_uint), ("bus", c_uint), ("device", c_uint), ("pciDeviceId", c_uint),
                ("pciSubSystemId", c_uint), ("busId", c_char * _PCI_BUS_ID_BUFFER_SIZE)]

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        return value.decode() if isinstance(value, bytes) else value


class c_nvmlProcessInfo_t(Structure):
    """nvmlProcessInfo_t (= nvmlProcessInfo_v2_t), what the _v3 process queries fill."""

    _fields_ = [("pid", c_uint), ("usedGpuMemory", c_ulonglong), ("gpuInstanceId", c_uint),
                ("computeInstanceId", c_uint)]


# --- prototypes -------------------------------------------------------------------------------

DEVICE = c_void_p  # nvmlDevice_t: an opaque struct nvmlDevice_st *
_U = POINTER(c_uint)
_STR = POINTER(c_char)  # a create_string_buffer, then its length as unsigned int

# nvml.h prototypes (arguments after the return code, nvmlReturn_t, an int enum). Enums are ints.
ARGTYPES: Dict[str, tuple] = {
    "nvmlInit_v2": (),
    "nvmlShutdown": (),
    "nvmlErrorString": (c_int,),
    "nvmlSystemGetDriverVersion": (_STR, c_uint),
    "nvmlSystemGetNVMLVersion": (_STR, c_uint),
    "nvmlSystemGetCudaDriverVersion": (POINTER(c_int),),
    "nvmlDeviceGetCount_v2": (_U,),
    "nvmlDeviceGetHandleByIndex_v2": (c_uint, POINTER(DEVICE)),
    "nvmlDeviceGetName": (DEVICE, _STR, c_uint),
    "nvmlDeviceGetUUID": (DEVICE, _STR, c_uint),
    "nvmlDeviceGetSerial": (DEVICE, _STR, c_uint),
    "nvmlDeviceGetVbiosVersion": (DEVICE, _STR, c_uint),
    "nvmlDeviceGetPciInfo_v3": (DEVICE, POINTER(nvmlPciInfo_t)),
    "nvmlDeviceGetMemoryInfo": (DEVICE, POINTER(c_nvmlMemory_t)),
    "nvmlDeviceGetMemoryInfo_v2": (DEVICE, POINTER(c_nvmlMemory_v2_t)),
    "nvmlDeviceGetCudaComputeCapability": (DEVICE, POINTER(c_int), POINTER(c_int)),
    "nvmlDeviceGetArchitecture": (DEVICE, _U),
    "nvmlDeviceGetCurrPcieLinkGeneration": (DEVICE, _U),
    "nvmlDeviceGetMaxPcieLinkGeneration": (DEVICE, _U),
    "nvmlDeviceGetCurrPcieLinkWidth": (DEVICE, _U),
    "nvmlDeviceGetMaxPcieLinkWidth": (DEVICE, _U),
    "nvmlDeviceGetMemoryBusWidth": (DEVICE, _U),
    "nvmlDeviceGetMaxClockInfo": (DEVICE, c_int, _U),
    "nvmlDeviceGetNumGpuCores": (DEVICE, _U),
    "nvmlDeviceGetNvLinkState": (DEVICE, c_uint, _U),
    "nvmlDeviceGetMigMode": (DEVICE, _U, _U),
    "nvmlDeviceGetEccMode": (DEVICE, _U, _U),
    "nvmlDeviceGetTotalEccErrors": (DEVICE, c_int, c_int, POINTER(c_ulonglong)),
    "nvmlDeviceGetRemappedRows": (DEVICE, _U, _U, _U, _U),
    "nvmlDeviceGetPersistenceMode": (DEVICE, _U),
    "nvmlDeviceGetComputeMode": (DEVICE, _U),
    "nvmlDeviceGetTemperature": (DEVICE, c_int, _U),
    "nvmlDeviceGetPowerManagementLimit": (DEVICE, _U),
    "nvmlDeviceGetPowerUsage": (DEVICE, _U),
    "nvmlDeviceGetCurrentClocksEventReasons": (DEVICE, POINTER(c_ulonglong)),
    "nvmlDeviceGetCurrentClocksThrottleReasons": (DEVICE, POINTER(c_ulonglong)),
    "nvmlDeviceGetComputeRunningProcesses_v3": (DEVICE, _U, POINTER(c_nvmlProcessInfo_t)),
    "nvmlDeviceGetTopologyCommonAncestor": (DEVICE, DEVICE, _U),
    "nvmlDeviceGetP2PStatus": (DEVICE, DEVICE, c_int, _U),
    # Windows only (the probe asks them there): WDDM/TCC/MCDM and whether a display is driven.
    "nvmlDeviceGetDriverModel_v2": (DEVICE, _U, _U),
    "nvmlDeviceGetDisplayActive": (DEVICE, _U),
}
