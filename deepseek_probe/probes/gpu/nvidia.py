"""NVIDIA GPUs through NVML: one call per field, each guarded (Linux, WSL2 and Windows).

The NVML binding is ours (probes/_nvml.py, pynvml's API on bare ctypes: pynvml's import alone
costs ~80 ms on the H100 host); ``DEEPSEEK_PROBE_NVML=pynvml`` uses nvidia-ml-py's ``pynvml``.

Every field is read by its own NVML call; a failing call leaves that field ``None`` with a
reason code (``not_supported``, ``no_permission``, ``gpu_lost``, …) and the probe moves on.
``GpuIsLost`` stops all further calls on that GPU. ``nvmlInit`` failures become
``CudaInfo.nvml_status`` and an empty GPU list. ``nvmlShutdown`` runs after a successful init
(unless the probe timed out inside a hung call: then the worker is abandoned), except in a
process that ends right after (``shutdown=False``).

Windows (native): NVML is nvml.dll (probes/_nvml.py ``library_candidates``); two more facts are
read there because they change what is usable. Under WDDM (the default for GeForce cards) the
desktop's frame buffers live in the same VRAM the model needs, so ``display_active`` says whether
this GPU drives a display; and Windows' "shared GPU memory" (Task Manager) is system RAM mapped
for the GPU over PCIe, not VRAM, so only NVML's framebuffer total counts as ``memory_total``.
Under WSL2 the NVML the Linux side loads is the Windows driver's (/usr/lib/wsl/lib), so the
versions it reports are the Windows driver's (probes/cuda.py names the driver store).

The probe runs in a worker thread (see probes/__init__.py); it writes each field under a lock
and stops at the next call once the caller has given up, so the caller can copy out what was
read and mark the rest ``timeout``.
"""

from __future__ import annotations

import _thread
import copy
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import _OMIT_WHEN_NONE, CudaInfo, GpuInfo, GpuLink, GpuProcess

# NVML return codes (nvml.h nvmlReturn_t; the same values as pynvml.NVML_ERROR_*) -> reason.
_ERROR_REASONS = {
    1: "uninitialized",
    2: "invalid_argument",
    3: "not_supported",
    4: "no_permission",
    6: "not_found",
    9: "driver_not_loaded",
    10: "timeout",
    12: "library_not_found",
    13: "function_not_found",  # the driver is older than the call
    14: "corrupted_inforom",
    15: "gpu_lost",
    16: "reset_required",
    17: "operating_system",  # the OS (e.g. a VM/WSL) blocked the request
    18: "lib_rm_version_mismatch",  # libnvidia-ml and the kernel module differ (driver update)
    20: "insufficient_memory",
    999: "unknown",
}
_NVML_ERROR_INVALID_ARGUMENT = 2
_NVML_ERROR_NOT_SUPPORTED = 3
_NVML_ERROR_GPU_IS_LOST = 15

# nvml.h nvmlDeviceArchitecture_t (pynvml NVML_DEVICE_ARCH_*).
ARCHITECTURES = {
    2: "kepler", 3: "maxwell", 4: "pascal", 5: "volta", 6: "turing", 7: "ampere", 8: "ada",
    9: "hopper", 10: "blackwell", 13: "rubin",
}
# nvml.h nvmlDriverModel_t (pynvml NVML_DRIVER_WDDM / _WDM / _MCDM; WDM is what nvidia-smi
# calls TCC).
DRIVER_MODELS = {0: "wddm", 1: "tcc", 2: "mcdm"}
# nvml.h nvmlComputeMode_t.
COMPUTE_MODES = {0: "default", 1: "exclusive_thread", 2: "prohibited", 3: "exclusive_process"}
# nvml.h nvmlGpuTopologyLevel_t (pynvml NVML_TOPOLOGY_*).
TOPOLOGY_LEVELS = {0: "internal", 10: "single", 20: "multiple", 30: "hostbridge", 40: "node",
                   50: "system"}
# nvml.h nvmlClocksEventReason* bits (pynvml nvmlClocksThrottleReason*, 13.615).
CLOCK_EVENT_REASONS = (
    (0x001, "gpu_idle"),
    (0x002, "applications_clocks_setting"),
    (0x004, "sw_power_cap"),
    (0x008, "hw_slowdown"),
    (0x010, "sync_boost"),
    (0x020, "sw_thermal_slowdown"),
    (0x040, "hw_thermal_slowdown"),
    (0x080, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
    (0x200, "board_limit"),
    (0x400, "reliability"),
)
# nvml.h: NVML_NVLINK_MAX_LINKS (36 in NVML 13); link loops stop earlier at InvalidArgument.
_NVLINK_MAX_LINKS = 36
_NVLINK_STATE_ACTIVE = 1  # nvmlEnableState_t NVML_FEATURE_ENABLED
_P2P_STATUS_OK = 0  # nvmlGpuP2PStatus_t NVML_P2P_STATUS_OK
_P2P_CAPS_INDEX_NVLINK = 2  # nvmlGpuP2PCapsIndex_t; pynvml's READ constant is a tuple (bug)
_CLOCK_SM, _CLOCK_MEM = 1, 2  # nvmlClockType_t
_TEMPERATURE_GPU = 0  # nvmlTemperatureSensors_t
_MEMORY_ERROR_UNCORRECTED, _VOLATILE_ECC = 1, 0  # nvmlMemoryErrorType_t, nvmlEccCounterType_t
_MEMORY_V2 = 0x02000028  # nvmlMemory_v2: sizeof(nvmlMemory_v2_t) | 2 << 24
_NO_SUCH_CALL = "not_supported: the NVML binding has no "  # an older nvidia-ml-py, or a fake


def reason_for(exc: BaseException, nvml: Any = None) -> str:
    """An exception from an NVML call -> a reason code."""
    value = getattr(exc, "value", None)
    error_class = getattr(nvml, "NVMLError", None) if nvml is not None else None
    if isinstance(value, int) and (error_class is None or isinstance(exc, error_class)):
        return _ERROR_REASONS.get(value) or f"error: {type(exc).__name__} ({value})"
    return _read.error_reason(exc)


class _Stopped(Exception):
    """The caller gave up (time limit): stop at once, write nothing more."""


class _FieldError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GpuProbe:
    """One run of the NVML probe; results are readable (``snapshot()``) at any time."""

    def __init__(self, nvml: Any, environ: Optional[Dict[str, str]] = None,
                 platform: Optional[str] = None, shutdown: bool = True) -> None:
        """``shutdown``: call nvmlShutdown when done (False in a process that ends right after:
        the driver releases what nvmlInit took when the process's device files close)."""
        from deepseek_probe.probes import _platform

        self.nvml = nvml
        self.shutdown = shutdown
        self.environ = environ
        self.windows = _platform.current(platform) == _platform.WINDOWS
        self.cuda = CudaInfo()
        self.gpus: List[GpuInfo] = []
        self.links: List[GpuLink] = []
        self.init_done = False
        self.finished = False
        self._lock = _thread.allocate_lock()  # threading.Lock, without importing threading
        self._stopped = False
        self._lost: Set[int] = set()

    # --- caller side -------------------------------------------------------------------
    def stop_and_snapshot(self, unfinished_reason: str = "timeout"
                          ) -> Tuple[CudaInfo, List[GpuInfo], List[GpuLink]]:
        """Stop the worker and return a copy of what it read. If it had not finished, every
        field it did not reach gets ``unfinished_reason`` (``timeout`` or ``error: …``)."""
        with self._lock:
            self._stopped = True
            cuda, gpus, links = copy.deepcopy((self.cuda, self.gpus, self.links))
            init_done, finished = self.init_done, self.finished
        if finished:
            return cuda, gpus, links
        if not init_done:
            cuda.nvml_status = unfinished_reason
        for record in list(gpus) + list(links):
            _mark_unread(record, unfinished_reason)
        if init_done and cuda.nvml_status == "ok":
            for name in ("driver_version", "cuda_driver_version", "nvml_version"):
                if getattr(cuda, name) is None and name not in cuda.unavailable:
                    cuda.unavailable[name] = unfinished_reason
        return cuda, gpus, links

    # --- worker side -------------------------------------------------------------------
    def run(self) -> None:
        nvml = self.nvml
        try:
            try:
                nvml.nvmlInit()
            except Exception as e:  # noqa: BLE001
                self._set(self.cuda, "nvml_status", init_status(e, nvml))
                self._set_attr("init_done", True)
                self._set_attr("finished", True)
                return
            self._set_attr("init_done", True)
            try:
                self._probe_all()
            finally:
                with self._lock:
                    stopped = self._stopped
                if not stopped and self.shutdown:
                    try:
                        nvml.nvmlShutdown()
                    except Exception:  # noqa: BLE001 - nothing left to report
                        pass
        except _Stopped:
            return
        self._set_attr("finished", True)

    def _set(self, obj: Any, name: str, value: Any) -> None:
        with self._lock:
            if self._stopped:
                raise _Stopped()
            setattr(obj, name, value)

    def _set_attr(self, name: str, value: Any) -> None:
        self._set(self, name, value)

    def _unavailable(self, obj: Any, name: str, reason: str) -> None:
        with self._lock:
            if self._stopped:
                raise _Stopped()
            obj.unavailable[name] = reason

    def _call(self, gpu_index: Optional[int], fn_name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._stopped:
                raise _Stopped()
        if gpu_index is not None and gpu_index in self._lost:
            raise _FieldError("gpu_lost")
        try:
            fn = getattr(self.nvml, fn_name)
        except AttributeError:
            raise _FieldError(_NO_SUCH_CALL + fn_name) from None
        try:
            return fn(*args, **kwargs)
        except _Stopped:
            raise
        except Exception as e:  # noqa: BLE001 - every NVML failure becomes a reason
            reason = reason_for(e, self.nvml)
            if reason == "gpu_lost" and gpu_index is not None:
                self._lost.add(gpu_index)
            raise _FieldError(reason) from None

    def _probe_all(self) -> None:
        cuda = self.cuda
        for name, fn_name, convert in (
            ("driver_version", "nvmlSystemGetDriverVersion", _text),
            ("cuda_driver_version", "nvmlSystemGetCudaDriverVersion", _cuda_version),
            ("nvml_version", "nvmlSystemGetNVMLVersion", _text),
        ):
            try:
                self._set(cuda, name, convert(self._call(None, fn_name)))
            except _FieldError as e:
                self._unavailable(cuda, name, e.reason)
        try:
            count = int(self._call(None, "nvmlDeviceGetCount"))
        except _FieldError as e:
            self._set(cuda, "nvml_status", e.reason)
            return
        handles: List[Any] = []
        for index in range(count):
            gpu = GpuInfo(index=index)
            with self._lock:
                if self._stopped:
                    raise _Stopped()
                self.gpus.append(gpu)
            try:
                handles.append(self._call(index, "nvmlDeviceGetHandleByIndex", index))
            except _FieldError as e:
                handles.append(None)
                _mark_unread_locked(self, gpu, e.reason)
                continue
            self._probe_gpu(gpu, handles[-1])
        self._probe_links(handles)
        self._apply_visibility()

    def _field(self, gpu: GpuInfo, names: Sequence[str], read: Callable[[], Sequence[Any]]) -> None:
        try:
            values = read()
        except _FieldError as e:
            for name in names:
                self._unavailable(gpu, name, e.reason)
            return
        for name, value in zip(names, values):
            self._set(gpu, name, value)

    def _probe_gpu(self, gpu: GpuInfo, h: Any) -> None:
        i = gpu.index
        c = self._call

        def one(fn_name: str, convert: Callable[[Any], Any] = lambda v: v, *args: Any):
            return lambda: (convert(c(i, fn_name, h, *args)),)

        self._field(gpu, ["name"], one("nvmlDeviceGetName", _text))
        self._field(gpu, ["uuid"], one("nvmlDeviceGetUUID", _text))
        self._field(gpu, ["serial"], one("nvmlDeviceGetSerial", _text))
        self._field(gpu, ["pci_bus_id"], one("nvmlDeviceGetPciInfo", lambda p: _text(p.busId)))
        self._field(gpu, ["memory_total_bytes", "memory_free_bytes", "memory_used_bytes"],
                    lambda: _memory_v1(c(i, "nvmlDeviceGetMemoryInfo", h)))
        # nvmlMemory_v2 splits the driver's reservation out of "used", as nvidia-smi shows it
        # (H100, driver 580: v1 used 480 MiB on an idle GPU, v2 used 0 + reserved 480 MiB).
        v2_used: List[int] = []

        def read_v2() -> Tuple[int]:
            mem = c(i, "nvmlDeviceGetMemoryInfo", h,
                    version=getattr(self.nvml, "nvmlMemory_v2", _MEMORY_V2))
            v2_used.append(int(mem.used))
            return (int(mem.reserved),)

        self._field(gpu, ["memory_reserved_bytes"], read_v2)
        if v2_used:
            self._set(gpu, "memory_used_bytes", v2_used[0])
        self._field(gpu, ["compute_capability"],
                    one("nvmlDeviceGetCudaComputeCapability", lambda v: [int(v[0]), int(v[1])]))
        self._field(gpu, ["architecture"],
                    one("nvmlDeviceGetArchitecture", lambda v: ARCHITECTURES.get(int(v), f"unknown_{int(v)}")))
        self._field(gpu, ["pcie_gen_current"], one("nvmlDeviceGetCurrPcieLinkGeneration", int))
        self._field(gpu, ["pcie_gen_max"], one("nvmlDeviceGetMaxPcieLinkGeneration", int))
        self._field(gpu, ["pcie_width_current"], one("nvmlDeviceGetCurrPcieLinkWidth", int))
        self._field(gpu, ["pcie_width_max"], one("nvmlDeviceGetMaxPcieLinkWidth", int))
        self._field(gpu, ["memory_bus_width_bits"], one("nvmlDeviceGetMemoryBusWidth", int))
        self._field(gpu, ["max_memory_clock_mhz"], one("nvmlDeviceGetMaxClockInfo", int, _CLOCK_MEM))
        self._field(gpu, ["max_sm_clock_mhz"], one("nvmlDeviceGetMaxClockInfo", int, _CLOCK_SM))
        self._field(gpu, ["cuda_cores"], one("nvmlDeviceGetNumGpuCores", int))
        self._field(gpu, ["nvlink_active_links"], lambda: (self._nvlink_active(i, h),))
        self._field(gpu, ["mig_enabled"], one("nvmlDeviceGetMigMode", lambda v: int(v[0]) == 1))
        self._field(gpu, ["ecc_enabled"], one("nvmlDeviceGetEccMode", lambda v: int(v[0]) == 1))
        self._field(gpu, ["ecc_uncorrected_volatile"],
                    lambda: (int(c(i, "nvmlDeviceGetTotalEccErrors", h, _MEMORY_ERROR_UNCORRECTED,
                                   _VOLATILE_ECC)),))
        self._field(gpu, ["remapped_rows_pending", "remapped_rows_failed"],
                    lambda: (lambda r: (bool(r[2]), bool(r[3])))(c(i, "nvmlDeviceGetRemappedRows", h)))
        self._field(gpu, ["persistence_mode"], one("nvmlDeviceGetPersistenceMode", lambda v: int(v) == 1))
        self._field(gpu, ["compute_mode"],
                    one("nvmlDeviceGetComputeMode", lambda v: COMPUTE_MODES.get(int(v), f"unknown_{int(v)}")))
        self._field(gpu, ["temperature_c"], one("nvmlDeviceGetTemperature", int, _TEMPERATURE_GPU))
        self._field(gpu, ["power_limit_w"], one("nvmlDeviceGetPowerManagementLimit", _milliwatts))
        self._field(gpu, ["power_usage_w"], one("nvmlDeviceGetPowerUsage", _milliwatts))
        self._field(gpu, ["throttle_reasons"], lambda: (self._clock_events(i, h),))
        self._field(gpu, ["processes"], one("nvmlDeviceGetComputeRunningProcesses", _processes))
        self._field(gpu, ["vbios_version"], one("nvmlDeviceGetVbiosVersion", _text))
        if self.windows:  # Linux drivers answer NotSupported; asked only where they mean something
            self._field(gpu, ["driver_model"],
                        one("nvmlDeviceGetDriverModel", lambda v: DRIVER_MODELS.get(int(v[0]), f"unknown_{int(v[0])}")))
            self._field(gpu, ["display_active"], one("nvmlDeviceGetDisplayActive", lambda v: int(v) == 1))

    def _nvlink_active(self, i: int, h: Any) -> int:
        """Links in state 'up'. NVML has no link count: ask link 0, 1, … until InvalidArgument
        (past the last link) or NotSupported (no NVLink at all, e.g. PCIe cards)."""
        active = 0
        for link in range(_NVLINK_MAX_LINKS):
            try:
                state = self._call(i, "nvmlDeviceGetNvLinkState", h, link)
            except _FieldError as e:
                if e.reason in ("invalid_argument", "not_supported"):
                    break
                if link == 0 or e.reason == "gpu_lost":
                    raise
                continue  # one unreadable link: count the others
            if int(state) == _NVLINK_STATE_ACTIVE:
                active += 1
        return active

    def _clock_events(self, i: int, h: Any) -> List[str]:
        try:
            mask = self._call(i, "nvmlDeviceGetCurrentClocksEventReasons", h)
        except _FieldError as e:
            if not (e.reason.startswith(_NO_SUCH_CALL)
                    or e.reason == "function_not_found"):
                raise
            # nvidia-ml-py < 12.535 and drivers < 535 only have the older name of the same call.
            mask = self._call(i, "nvmlDeviceGetCurrentClocksThrottleReasons", h)
        return decode_clock_events(int(mask))

    def _probe_links(self, handles: List[Any]) -> None:
        for a in range(len(handles)):
            for b in range(a + 1, len(handles)):
                link = GpuLink(gpu_a=a, gpu_b=b)
                with self._lock:
                    if self._stopped:
                        raise _Stopped()
                    self.links.append(link)
                if handles[a] is None or handles[b] is None or a in self._lost or b in self._lost:
                    reason = "gpu_lost" if (a in self._lost or b in self._lost) else "not_found"
                    self._unavailable(link, "common_ancestor", reason)
                    self._unavailable(link, "nvlink_p2p", reason)
                    continue
                try:
                    level = int(self._call(a, "nvmlDeviceGetTopologyCommonAncestor", handles[a], handles[b]))
                    self._set(link, "common_ancestor", TOPOLOGY_LEVELS.get(level, f"unknown_{level}"))
                except _FieldError as e:
                    self._unavailable(link, "common_ancestor", e.reason)
                try:
                    status = int(self._call(a, "nvmlDeviceGetP2PStatus", handles[a], handles[b],
                                            _P2P_CAPS_INDEX_NVLINK))
                    self._set(link, "nvlink_p2p", status == _P2P_STATUS_OK)
                except _FieldError as e:
                    self._unavailable(link, "nvlink_p2p", e.reason)

    def _apply_visibility(self) -> None:
        env = self.environ
        if env is None:
            env = dict(os.environ)
        spec = env.get("CUDA_VISIBLE_DEVICES")
        visible = visible_gpu_indices(spec, [g.uuid for g in self.gpus],
                                      [bool(g.mig_enabled) for g in self.gpus])
        if visible is None:
            return
        for gpu in self.gpus:
            self._set(gpu, "visible", gpu.index in visible)


def _mark_unread(record: Any, reason: str) -> None:
    """Every field still None and without a reason gets ``reason`` (lists included)."""
    for name, value in vars(record).items():
        if name in ("unavailable", "index", "gpu_a", "gpu_b", "visible"):
            continue
        if name in _OMIT_WHEN_NONE:
            continue  # optional later fields (issue 17) stay out of old snapshots' JSON
        if value is None and name not in record.unavailable:
            record.unavailable[name] = reason


def _mark_unread_locked(probe: GpuProbe, record: Any, reason: str) -> None:
    with probe._lock:
        if probe._stopped:
            raise _Stopped()
        _mark_unread(record, reason)


def init_status(exc: BaseException, nvml: Any = None) -> str:
    """Why nvmlInit failed, as ``CudaInfo.nvml_status``."""
    return reason_for(exc, nvml)


def decode_clock_events(mask: int) -> List[str]:
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    unknown = mask & ~sum(bit for bit, _ in CLOCK_EVENT_REASONS)
    if unknown:
        names.append(f"0x{unknown:x}")
    return names


def visible_gpu_indices(spec: Optional[str], uuids: Sequence[Optional[str]],
                        mig_enabled: Optional[Sequence[bool]] = None) -> Optional[Set[int]]:
    """NVML indices CUDA will use under ``CUDA_VISIBLE_DEVICES``; None = variable unset (all).

    CUDA's rules (CUDA C Programming Guide, "CUDA Environment Variables"): a comma-separated
    list of indices, UUIDs (``GPU-…``, any unique prefix) or MIG ids; an empty value hides every
    GPU; the first invalid entry ends the list (entries after it are ignored).
    Indices are taken in NVML (PCI bus) order, as with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``.
    A MIG instance UUID (``MIG-<uuid>``) does not name its parent GPU; without enumerating MIG
    devices we count every MIG-enabled GPU as visible (over-reports, never hides a GPU).
    """
    if spec is None:
        return None
    mig = list(mig_enabled) if mig_enabled is not None else [False] * len(uuids)
    visible: Set[int] = set()
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            break
        lowered = entry.lower()
        if lowered.startswith("mig-") and not lowered.startswith("mig-gpu-"):
            parents = {i for i, on in enumerate(mig) if on}
            if not parents:
                break  # no GPU has MIG on: CUDA finds no such device
            visible |= parents
            continue
        index = _resolve_entry(lowered, uuids)
        if index is None or index in visible:
            break  # invalid or repeated: CUDA stops here
        visible.add(index)
    return visible


def _resolve_entry(lowered: str, uuids: Sequence[Optional[str]]) -> Optional[int]:
    if lowered.isascii() and lowered.isdigit():  # '²'.isdigit() is True but int('²') fails
        index = int(lowered)
        return index if index < len(uuids) else None
    if lowered.startswith("mig-gpu-"):  # legacy MIG-GPU-<gpu uuid>/<gi>/<ci> (CUDA 11.0/11.1)
        lowered = lowered[4:].split("/", 1)[0]
    if not lowered.startswith("gpu-"):
        return None
    matches = [i for i, u in enumerate(uuids) if u and u.lower().startswith(lowered)]
    return matches[0] if len(matches) == 1 else None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _cuda_version(value: Any) -> str:
    """nvmlSystemGetCudaDriverVersion: 1000*major + 10*minor -> "13.0" (nvml.h macros)."""
    v = int(value)
    return f"{v // 1000}.{(v % 1000) // 10}"


def _milliwatts(value: Any) -> float:
    return round(int(value) / 1000.0, 3)


def _memory_v1(mem: Any) -> Tuple[int, int, int]:
    # v1 "used" includes the driver's reservation; _probe_gpu replaces it with v2's "used".
    return int(mem.total), int(mem.free), int(mem.used)


# NVML_VALUE_NOT_AVAILABLE for unsigned long long (nvml.h): no per-process memory accounting.
_NOT_AVAILABLE_ULL = 0xFFFFFFFFFFFFFFFF


def _processes(procs: Any) -> List[GpuProcess]:
    out = []
    for p in procs or []:
        used = getattr(p, "usedGpuMemory", None)
        if used is not None and int(used) >= _NOT_AVAILABLE_ULL:
            used = None
        out.append(GpuProcess(pid=int(p.pid), used_memory_bytes=None if used is None else int(used)))
    return out


# DEEPSEEK_PROBE_NVML selects the NVML binding: "pynvml" = nvidia-ml-py; anything else = ours.
NVML_BACKEND_ENV = "DEEPSEEK_PROBE_NVML"


def nvml_backend(environ: Optional[Mapping[str, str]] = None) -> str:
    """``"pynvml"`` or ``"ctypes"`` (probes/_nvml.py, the default)."""
    env = os.environ if environ is None else environ
    return "pynvml" if env.get(NVML_BACKEND_ENV, "").strip().lower() == "pynvml" else "ctypes"


def load_nvml(environ: Optional[Mapping[str, str]] = None) -> Any:
    """The NVML module the probe drives, imported only when GPUs are probed.

    Default: probes/_nvml.py, a ctypes binding of the ~35 calls this probe makes (ctypes itself
    is imported only once the library has loaded). nvidia-ml-py's ``pynvml`` (``DEEPSEEK_PROBE_NVML=pynvml``) has the same API but its
    import took 75-80 ms on the H100 host (``-X importtime``), more than half of what
    ``nvidia-smi -q`` takes for the whole job; it stays a dependency as the reference the GPU
    tests compare against and as the recorder's backend (tests/gpu/record_nvml.py).
    """
    if nvml_backend(environ) == "pynvml":
        import pynvml  # nvidia-ml-py

        return pynvml
    from deepseek_probe.probes import _nvml

    return _nvml
