"""A small ctypes binding to NVML (libnvidia-ml.so.1): exactly the calls probes/gpu/nvidia.py makes.

Why not nvidia-ml-py's ``pynvml``: importing it defines hundreds of ctypes structures and costs
75-80 ms on the H100 host (``python -X importtime``: pynvml 75309 us self, 80079 us cumulative),
two thirds of the 117 ms ``nvidia-smi -q`` takes for the whole job, and ``check`` must not be
slower than that (issue 7). The library is loaded in ``nvmlInit``.

No ctypes at import: on a machine without the driver, which is every ``check`` on a CPU box,
``nvmlInit`` tries ``dlopen`` through the ``_ctypes`` extension alone and raises LibraryNotFound;
importing the ``ctypes`` package, defining the structures and pointer types and making every
error class cost ~12 M instructions there, of the ~70 M the live snapshot took (valgrind
cachegrind, issue 24). probes/_nvml_types.py (ctypes, nvml.h's structures and prototypes) is
imported once a library has loaded or a structure is named here (the module ``__getattr__``).

Same function names, arguments, return shapes and exception classes as pynvml (13.615), so the
probe, the fake NVML (tests/fake_nvml.py) and the recorder work with either;
``DEEPSEEK_PROBE_NVML=pynvml`` selects the official module (``gpu.load_nvml``).
tests/gpu/test_gpu_nvml_binding.py checks every call against pynvml on a real GPU.

Struct layouts, buffer sizes, return codes and prototypes are nvml.h's (NVML API 12/13). The
unversioned names call the versioned symbols nvml.h maps them to (``#define nvmlInit
nvmlInit_v2``, ``nvmlDeviceGetCount_v2``, ``nvmlDeviceGetHandleByIndex_v2``,
``nvmlDeviceGetPciInfo_v3``, ``nvmlDeviceGetComputeRunningProcesses_v3``), as pynvml does.
"""

from __future__ import annotations

import _thread
import types
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:  # annotations only: ctypes is imported once a library has loaded
    from ctypes import c_void_p

    from deepseek_probe.probes._nvml_types import nvmlPciInfo_t

LIBRARY_NAME = "libnvidia-ml.so.1"  # the driver's soname (pynvml loads the same on Linux)


def library_candidates(platform: Optional[str] = None,
                       environ: Optional[Dict[str, str]] = None) -> List[str]:
    """Where NVML is, in the order tried. Linux (and WSL2, whose /usr/lib/wsl/lib is on the
    loader path): the soname. Windows: nvml.dll in %WINDIR%\\System32 (DCH drivers), then
    %ProgramFiles%\\NVIDIA Corporation\\NVSMI (older, non-DCH drivers) -- the order of
    nvidia-ml-py 13.615 pynvml._LoadNvmlLibrary."""
    import os

    from deepseek_probe.probes import _platform

    if _platform.current(platform) != _platform.WINDOWS:
        return [LIBRARY_NAME]
    env = os.environ if environ is None else environ
    windir = env.get("WINDIR") or env.get("SystemRoot") or "C:\\Windows"
    program_files = env.get("ProgramFiles") or "C:\\Program Files"
    return [windir + "\\System32\\nvml.dll",
            program_files + "\\NVIDIA Corporation\\NVSMI\\nvml.dll"]

# nvml.h nvmlReturn_t (the values pynvml's NVML_ERROR_* constants carry).
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22
NVML_ERROR_INSUFFICIENT_RESOURCES = 23
NVML_ERROR_FREQ_NOT_SUPPORTED = 24
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_DEPRECATED = 26
NVML_ERROR_NOT_READY = 27
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_INVALID_STATE = 29
NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30
NVML_ERROR_UNKNOWN = 999

# nvml.h buffer sizes ("guaranteed to be large enough").
NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE = 80
NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE = 80
NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96
NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96
NVML_DEVICE_SERIAL_BUFFER_SIZE = 30
NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE = 32
NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE = 32
NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE = 16

# nvml.h NVML_VALUE_NOT_AVAILABLE as unsigned long long: no per-process memory figure (WDDM).
NVML_VALUE_NOT_AVAILABLE_ULONGLONG = 0xFFFFFFFFFFFFFFFF


# --- errors -----------------------------------------------------------------------------------

class NVMLError(Exception):
    """An NVML call failed; ``value`` is its nvmlReturn_t code.

    As in pynvml, ``NVMLError(code)`` gives the subclass for that code (``NVMLError(3)`` is an
    ``NVMLError_NotSupported``), and ``NVMLError_NotSupported()`` carries code 3.
    """

    _code = NVML_ERROR_UNKNOWN

    def __new__(cls, value: Optional[int] = None) -> "NVMLError":
        if cls is NVMLError:
            cls = _error_class(value)  # type: ignore[assignment]
        error = Exception.__new__(cls)
        error.value = cls._code if value is None else value
        return error

    def __init__(self, value: Optional[int] = None) -> None:
        super().__init__(self.value)

    def __str__(self) -> str:
        return _error_string(self.value)


# Code -> the class name suffix pynvml gives it (NVMLError_<suffix>) and its message (pynvml's
# table, nvmlErrorString's words); None: ask the library's nvmlErrorString, as pynvml does.
_ERRORS: Dict[int, Tuple[str, Optional[str]]] = {
    NVML_ERROR_UNINITIALIZED: ("Uninitialized", "Uninitialized"),
    NVML_ERROR_INVALID_ARGUMENT: ("InvalidArgument", "Invalid Argument"),
    NVML_ERROR_NOT_SUPPORTED: ("NotSupported", "Not Supported"),
    NVML_ERROR_NO_PERMISSION: ("NoPermission", "Insufficient Permissions"),
    NVML_ERROR_ALREADY_INITIALIZED: ("AlreadyInitialized", "Already Initialized"),
    NVML_ERROR_NOT_FOUND: ("NotFound", "Not Found"),
    NVML_ERROR_INSUFFICIENT_SIZE: ("InsufficientSize", "Insufficient Size"),
    NVML_ERROR_INSUFFICIENT_POWER: ("InsufficientPower", "Insufficient External Power"),
    NVML_ERROR_DRIVER_NOT_LOADED: ("DriverNotLoaded", "Driver Not Loaded"),
    NVML_ERROR_TIMEOUT: ("Timeout", "Timeout"),
    NVML_ERROR_IRQ_ISSUE: ("IrqIssue", "Interrupt Request Issue"),
    NVML_ERROR_LIBRARY_NOT_FOUND: ("LibraryNotFound", "NVML Shared Library Not Found"),
    NVML_ERROR_FUNCTION_NOT_FOUND: ("FunctionNotFound", "Function Not Found"),
    NVML_ERROR_CORRUPTED_INFOROM: ("CorruptedInforom", "Corrupted infoROM"),
    NVML_ERROR_GPU_IS_LOST: ("GpuIsLost", "GPU is lost"),
    NVML_ERROR_RESET_REQUIRED: ("ResetRequired", "GPU requires restart"),
    NVML_ERROR_OPERATING_SYSTEM: ("OperatingSystem", "The operating system has blocked the request."),
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: ("LibRmVersionMismatch",
                                         "RM has detected an NVML/RM version mismatch."),
    NVML_ERROR_IN_USE: ("InUse", None),
    NVML_ERROR_MEMORY: ("Memory", "Insufficient Memory"),
    NVML_ERROR_NO_DATA: ("NoData", None),
    NVML_ERROR_VGPU_ECC_NOT_SUPPORTED: ("VgpuEccNotSupported", None),
    NVML_ERROR_INSUFFICIENT_RESOURCES: ("InsufficientResources", None),
    NVML_ERROR_FREQ_NOT_SUPPORTED: ("FreqNotSupported", None),
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH: ("ArgumentVersionMismatch", None),
    NVML_ERROR_DEPRECATED: ("Deprecated", None),
    NVML_ERROR_NOT_READY: ("NotReady", None),
    NVML_ERROR_GPU_NOT_FOUND: ("GpuNotFound", None),
    NVML_ERROR_INVALID_STATE: ("InvalidState", None),
    NVML_ERROR_RESET_TYPE_NOT_SUPPORTED: ("ResetTypeNotSupported", None),
    NVML_ERROR_UNKNOWN: ("Unknown", "Unknown Error"),
}
# The NVMLError_<suffix> classes are made when first raised or named (``_error_class``, the
# module ``__getattr__``): making all 31 at import cost ~2.8 M instructions, and a machine
# without the driver only ever raises one.
_CLASS_BY_CODE: Dict[Any, type] = {}
_CODE_BY_SUFFIX = {suffix: code for code, (suffix, _) in _ERRORS.items()}


def _error_class(code: Any) -> type:
    """The NVMLError subclass for ``code`` (NVMLError itself for a code pynvml has no class for)."""
    cls = _CLASS_BY_CODE.get(code)
    if cls is None:
        if code not in _ERRORS:
            return NVMLError
        made = type("NVMLError_" + _ERRORS[code][0], (NVMLError,), {"_code": code, "__module__": __name__})
        cls = _CLASS_BY_CODE.setdefault(code, made)  # two threads at once: the first one stored wins
        globals()[cls.__name__] = cls
    return cls


def _error_string(code: Any) -> str:
    known = _ERRORS.get(code)
    if known and known[1]:
        return known[1]
    if _lib is not None and isinstance(code, int):
        try:
            text = _function("nvmlErrorString")(code)
        except NVMLError:
            text = None
        if text:
            return text.decode("utf-8", "replace")
    return f"NVML Error with code {code}"


def _check(code: int) -> None:
    if code != NVML_SUCCESS:
        raise NVMLError(code)


# NVML_STRUCT_VERSION(Memory, 2) = sizeof(nvmlMemory_v2_t) | 2 << 24 = 40 | 0x02000000.
nvmlMemory_v2 = 0x02000028


# --- the library ------------------------------------------------------------------------------

_lib: Optional[Any] = None  # a ctypes.CDLL once nvmlInit has loaded one
_lib_lock = _thread.allocate_lock()  # threading.Lock is this, without importing threading
_functions: Dict[str, Any] = {}  # name -> the C function with its nvml.h prototype


_STRUCTURES = ("c_nvmlMemory_t", "c_nvmlMemory_v2_t", "nvmlPciInfo_t", "c_nvmlProcessInfo_t")


def _types() -> Any:
    """probes/_nvml_types.py: ctypes and nvml.h's structures and prototypes, imported on first use."""
    from deepseek_probe.probes import _nvml_types

    return _nvml_types


def _function(name: str) -> Any:
    """The C function ``name`` with its nvml.h prototype; errors as pynvml raises them."""
    fn = _functions.get(name)
    if fn is None:
        if _lib is None:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        try:
            fn = getattr(_lib, name)
        except AttributeError:  # a driver older than the call
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND) from None
        t = _types()
        fn.argtypes = t.ARGTYPES[name]
        fn.restype = t.c_char_p if name == "nvmlErrorString" else t.c_int
        _functions[name] = fn
    return fn


def _call(name: str, *args: Any) -> None:
    _check(_function(name)(*args))


def _value(name: str, ctype: str, *args: Any) -> Any:
    """Call ``name(*args, &out)``, ``out`` a new ctypes ``ctype`` (``"c_uint"``), and return ``out.value``."""
    t = _types()
    out = getattr(t, ctype)()
    _call(name, *args, t.byref(out))
    return out.value


def _text(name: str, size: int, *args: Any) -> str:
    t = _types()
    buf = t.create_string_buffer(size)
    _call(name, *args, buf, t.c_uint(size))
    return buf.value.decode()


def _load_library() -> Any:
    """CDLL of the first of ``library_candidates`` that loads; LibraryNotFound when none does.

    On POSIX the dlopen is CDLL's own (``_ctypes.dlopen(path, RTLD_LOCAL)``, ctypes' DEFAULT_MODE;
    the extension adds RTLD_NOW), made before the ctypes package is imported; the handle it gives
    is the one CDLL keeps (``CDLL(path, handle=...)``). Windows loads with CDLL (LoadLibrary).
    """
    import _ctypes

    dlopen = getattr(_ctypes, "dlopen", None)  # POSIX; Windows' _ctypes has LoadLibrary instead
    for path in library_candidates():
        try:
            handle = None if dlopen is None else dlopen(path, _ctypes.RTLD_LOCAL)
            from ctypes import CDLL

            return CDLL(path, handle=handle)  # handle None (Windows): CDLL loads it
        except OSError:
            continue
    raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND) from None


# --- library lifecycle ------------------------------------------------------------------------

def nvmlInit() -> None:
    """Load NVML (once; ``library_candidates`` in order) and initialise it (nvmlInit_v2)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _load_library()
    _call("nvmlInit_v2")


def nvmlShutdown() -> None:
    """Release NVML (the library stays loaded, as with pynvml)."""
    _call("nvmlShutdown")


def __getattr__(name: str) -> Any:
    """What is not defined here (PEP 562): an ``NVMLError_<suffix>`` class, made on first use, or
    one of nvml.h's structures (probes/_nvml_types.py, imported with ctypes then)."""
    if name.startswith("NVMLError_") and name[len("NVMLError_"):] in _CODE_BY_SUFFIX:
        return _error_class(_CODE_BY_SUFFIX[name[len("NVMLError_"):]])
    if name in _STRUCTURES:
        value = globals()[name] = getattr(_types(), name)  # looked up once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- system -----------------------------------------------------------------------------------

def nvmlSystemGetDriverVersion() -> str:
    return _text("nvmlSystemGetDriverVersion", NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE)


def nvmlSystemGetNVMLVersion() -> str:
    return _text("nvmlSystemGetNVMLVersion", NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE)


def nvmlSystemGetCudaDriverVersion() -> int:
    """1000 * major + 10 * minor (13000 = CUDA 13.0)."""
    return _value("nvmlSystemGetCudaDriverVersion", "c_int")


def nvmlDeviceGetCount() -> int:
    return _value("nvmlDeviceGetCount_v2", "c_uint")


def nvmlDeviceGetHandleByIndex(index: int) -> c_void_p:
    t = _types()
    handle = t.DEVICE()
    _call("nvmlDeviceGetHandleByIndex_v2", index, t.byref(handle))
    return handle


# --- one device -------------------------------------------------------------------------------

def nvmlDeviceGetName(handle: Any) -> str:
    return _text("nvmlDeviceGetName", NVML_DEVICE_NAME_V2_BUFFER_SIZE, handle)


def nvmlDeviceGetUUID(handle: Any) -> str:
    return _text("nvmlDeviceGetUUID", NVML_DEVICE_UUID_V2_BUFFER_SIZE, handle)


def nvmlDeviceGetSerial(handle: Any) -> str:
    return _text("nvmlDeviceGetSerial", NVML_DEVICE_SERIAL_BUFFER_SIZE, handle)


def nvmlDeviceGetVbiosVersion(handle: Any) -> str:
    return _text("nvmlDeviceGetVbiosVersion", NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE, handle)


def nvmlDeviceGetPciInfo(handle: Any) -> nvmlPciInfo_t:
    t = _types()
    info = t.nvmlPciInfo_t()
    _call("nvmlDeviceGetPciInfo_v3", handle, t.byref(info))
    return info


def nvmlDeviceGetMemoryInfo(handle: Any, version: Optional[int] = None) -> Any:
    """nvmlMemory_t, or with ``version=nvmlMemory_v2`` an nvmlMemory_v2_t (reserved split out)."""
    t = _types()
    if not version:
        memory: Any = t.c_nvmlMemory_t()
        _call("nvmlDeviceGetMemoryInfo", handle, t.byref(memory))
    else:
        memory = t.c_nvmlMemory_v2_t(version=version)
        _call("nvmlDeviceGetMemoryInfo_v2", handle, t.byref(memory))
    return memory


def nvmlDeviceGetCudaComputeCapability(handle: Any) -> Tuple[int, int]:
    t = _types()
    major, minor = t.c_int(), t.c_int()
    _call("nvmlDeviceGetCudaComputeCapability", handle, t.byref(major), t.byref(minor))
    return (major.value, minor.value)


def nvmlDeviceGetArchitecture(device: Any) -> int:
    return _value("nvmlDeviceGetArchitecture", "c_uint", device)


def nvmlDeviceGetCurrPcieLinkGeneration(handle: Any) -> int:
    return _value("nvmlDeviceGetCurrPcieLinkGeneration", "c_uint", handle)


def nvmlDeviceGetMaxPcieLinkGeneration(handle: Any) -> int:
    return _value("nvmlDeviceGetMaxPcieLinkGeneration", "c_uint", handle)


def nvmlDeviceGetCurrPcieLinkWidth(handle: Any) -> int:
    return _value("nvmlDeviceGetCurrPcieLinkWidth", "c_uint", handle)


def nvmlDeviceGetMaxPcieLinkWidth(handle: Any) -> int:
    return _value("nvmlDeviceGetMaxPcieLinkWidth", "c_uint", handle)


def nvmlDeviceGetMemoryBusWidth(device: Any) -> int:
    return _value("nvmlDeviceGetMemoryBusWidth", "c_uint", device)


def nvmlDeviceGetMaxClockInfo(handle: Any, type: int) -> int:  # noqa: A002 - pynvml's name
    """MHz; ``type`` is nvmlClockType_t (0 graphics, 1 SM, 2 memory, 3 video)."""
    return _value("nvmlDeviceGetMaxClockInfo", "c_uint", handle, type)


def nvmlDeviceGetNumGpuCores(device: Any) -> int:
    return _value("nvmlDeviceGetNumGpuCores", "c_uint", device)


def nvmlDeviceGetNvLinkState(device: Any, link: int) -> int:
    """nvmlEnableState_t of one link (1 = active)."""
    return _value("nvmlDeviceGetNvLinkState", "c_uint", device, link)


def nvmlDeviceGetMigMode(device: Any) -> List[int]:
    """[current, pending] MIG mode."""
    t = _types()
    current, pending = t.c_uint(), t.c_uint()
    _call("nvmlDeviceGetMigMode", device, t.byref(current), t.byref(pending))
    return [current.value, pending.value]


def nvmlDeviceGetEccMode(handle: Any) -> List[int]:
    """[current, pending] nvmlEnableState_t."""
    t = _types()
    current, pending = t.c_uint(), t.c_uint()
    _call("nvmlDeviceGetEccMode", handle, t.byref(current), t.byref(pending))
    return [current.value, pending.value]


def nvmlDeviceGetTotalEccErrors(handle: Any, errorType: int, counterType: int) -> int:
    return _value("nvmlDeviceGetTotalEccErrors", "c_ulonglong", handle, errorType, counterType)


def nvmlDeviceGetRemappedRows(device: Any) -> Tuple[int, int, int, int]:
    """(correctable rows, uncorrectable rows, remap pending, remap failed)."""
    t = _types()
    values = [t.c_uint() for _ in range(4)]
    _call("nvmlDeviceGetRemappedRows", device, *(t.byref(v) for v in values))
    return (values[0].value, values[1].value, values[2].value, values[3].value)


def nvmlDeviceGetPersistenceMode(handle: Any) -> int:
    return _value("nvmlDeviceGetPersistenceMode", "c_uint", handle)


def nvmlDeviceGetComputeMode(handle: Any) -> int:
    return _value("nvmlDeviceGetComputeMode", "c_uint", handle)


def nvmlDeviceGetTemperature(handle: Any, sensor: int) -> int:
    """Degrees C; ``sensor`` is nvmlTemperatureSensors_t (0 = the GPU die)."""
    return _value("nvmlDeviceGetTemperature", "c_uint", handle, sensor)


def nvmlDeviceGetPowerManagementLimit(handle: Any) -> int:
    """Milliwatts."""
    return _value("nvmlDeviceGetPowerManagementLimit", "c_uint", handle)


def nvmlDeviceGetPowerUsage(handle: Any) -> int:
    """Milliwatts."""
    return _value("nvmlDeviceGetPowerUsage", "c_uint", handle)


def nvmlDeviceGetCurrentClocksEventReasons(handle: Any) -> int:
    """Bit mask of nvmlClocksEventReason* (driver >= 535)."""
    return _value("nvmlDeviceGetCurrentClocksEventReasons", "c_ulonglong", handle)


def nvmlDeviceGetCurrentClocksThrottleReasons(handle: Any) -> int:
    """The same mask under its pre-535 name."""
    return _value("nvmlDeviceGetCurrentClocksThrottleReasons", "c_ulonglong", handle)


def nvmlDeviceGetComputeRunningProcesses(handle: Any) -> List[Any]:
    """Compute processes on the GPU: objects with pid, usedGpuMemory (None when NVML has no
    figure), gpuInstanceId, computeInstanceId, as pynvml returns them.

    Asks for the count first; the list is sized with room for processes that start meanwhile
    (pynvml's count * 2 + 5).
    """
    fn = _function("nvmlDeviceGetComputeRunningProcesses_v3")
    t = _types()
    count = t.c_uint(0)
    code = fn(handle, t.byref(count), None)
    if code == NVML_SUCCESS:
        return []
    if code != NVML_ERROR_INSUFFICIENT_SIZE:
        raise NVMLError(code)
    count.value = count.value * 2 + 5
    infos = (t.c_nvmlProcessInfo_t * count.value)()
    _check(fn(handle, t.byref(count), infos))
    processes = []
    for info in infos[:count.value]:
        used: Optional[int] = info.usedGpuMemory
        if used == NVML_VALUE_NOT_AVAILABLE_ULONGLONG:
            used = None
        processes.append(types.SimpleNamespace(pid=info.pid, usedGpuMemory=used,
                                               gpuInstanceId=info.gpuInstanceId,
                                               computeInstanceId=info.computeInstanceId))
    return processes


# --- two devices ------------------------------------------------------------------------------

def nvmlDeviceGetTopologyCommonAncestor(device1: Any, device2: Any) -> int:
    """nvmlGpuTopologyLevel_t of the closest common ancestor (0 internal … 50 system)."""
    return _value("nvmlDeviceGetTopologyCommonAncestor", "c_uint", device1, device2)


def nvmlDeviceGetP2PStatus(device1: Any, device2: Any, p2pIndex: int) -> int:
    """nvmlGpuP2PStatus_t (0 = OK) for one nvmlGpuP2PCapsIndex_t (2 = NVLink)."""
    return _value("nvmlDeviceGetP2PStatus", "c_uint", device1, device2, p2pIndex)


def nvmlDeviceGetDriverModel(handle: Any) -> List[int]:
    """[current, pending] nvmlDriverModel_t: 0 WDDM, 1 WDM (TCC), 2 MCDM. Windows only."""
    t = _types()
    current, pending = t.c_uint(), t.c_uint()
    _call("nvmlDeviceGetDriverModel_v2", handle, t.byref(current), t.byref(pending))
    return [current.value, pending.value]


def nvmlDeviceGetDisplayActive(handle: Any) -> int:
    """nvmlEnableState_t: 1 when a display is initialised on the GPU (its memory is in use)."""
    return _value("nvmlDeviceGetDisplayActive", "c_uint", handle)
