"""`check --verify`: take the estimated memory on each GPU for real, then give it all back.

NVML says how much memory is free; it cannot say whether a process can actually allocate it
(fragmentation, other tenants allocating meanwhile, a MIG slice, a compute mode that refuses new
contexts). This module asks the CUDA driver itself, through ctypes to libcuda (no torch):
retain the device's primary context, read free/total as CUDA sees it, allocate the requested
bytes in chunks, optionally time a device-to-device copy, and free everything, also on errors
and Ctrl-C.

The binding (`CudaDriver`) is a thin object with one method per driver call; `reserve()` and
`measure_bandwidth()` take any object with the same methods, so tests can inject a fake driver.
"""

from __future__ import annotations

import ctypes
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from deepseek_probe.interrupts import InterruptGuard
from deepseek_probe.findings import Finding
from deepseek_probe.checks.verify import (  # noqa: F401  (re-exported: verify's public API)
    CUDA_ERROR_OUT_OF_MEMORY, NOT_VISIBLE, Reservation, decode_text, profile_requests, verify_findings)

GIB = 1 << 30
MIB = 1 << 20

# Allocation chunk: big enough to be quick (≈80 calls to fill an 80 GB H100), small enough that a
# GPU whose free memory is split into pieces fails visibly instead of at the last byte.
DEFAULT_CHUNK_BYTES = GIB
# After CUDA_ERROR_OUT_OF_MEMORY the chunk is halved down to this, so `reserved_bytes` says how
# much could be taken to within 64 MiB rather than within 1 GiB.
MIN_CHUNK_BYTES = 64 * MIB

# Bandwidth convention: every copied byte is counted twice (read from the source + written to the
# destination), as NVIDIA's cuda-samples bandwidthTest does for device-to-device copies
# (Samples/1_Utilities/bandwidthTest: 2 * memSize * iterations / time). This is DRAM traffic,
# comparable with the datasheet figure (H100 SXM 3.35 TB/s) and with snapshot's
# GpuInfo.memory_bandwidth_bytes_per_s.
BANDWIDTH_CONVENTION = "read+write bytes per second (each copied byte counted twice, as cuda-samples bandwidthTest)"
DEFAULT_BANDWIDTH_BYTES = GIB  # per buffer; far beyond an H100's 50 MB L2 (NVIDIA H100 whitepaper): DRAM is measured
BANDWIDTH_MIN_BUFFER_BYTES = 256 * MIB  # smaller buffers would partly measure L2 / launch overhead
DEFAULT_BANDWIDTH_ITERS = 20  # 20 x 2 GiB at ~3 TB/s ≈ 15 ms: short, yet far above event resolution (0.5 us)


# cuda.h: CUDA_SUCCESS is 0; failures are named by cuGetErrorName, and this one we act on.
CUDA_SUCCESS = 0


class VerifyError(Exception):
    """The CUDA driver cannot be used at all (no libcuda, cuInit fails). One-line message."""


class CudaError(Exception):
    """One driver call returned a CUresult other than CUDA_SUCCESS."""

    def __init__(self, call: str, name: str, code: Optional[int] = None) -> None:
        super().__init__(f"{call} failed: {name}")
        self.call = call
        self.name = name
        self.code = code


# --- PCI bus ids -----------------------------------------------------------------------------


def normalize_pci_bus_id(bus_id: str) -> str:
    """One spelling for NVML's "00000000:00:06.0" and CUDA's "0000:00:06.0": 8-hex domain, lower.

    A missing domain ("00:06.0") means domain 0.
    """
    text = str(bus_id).strip().lower()
    parts = text.split(":")
    try:
        if len(parts) == 2:
            domain, bus, rest = 0, int(parts[0], 16), parts[1]
        elif len(parts) == 3:
            domain, bus, rest = int(parts[0], 16), int(parts[1], 16), parts[2]
        else:
            raise ValueError
        device_s, function_s = rest.split(".")
        device, function = int(device_s, 16), int(function_s, 16)
    except ValueError:
        raise VerifyError(f"not a PCI bus id: {bus_id!r} (expected e.g. 00000000:00:06.0)") from None
    if not (0 <= domain <= 0xFFFFFFFF and 0 <= bus <= 0xFF and 0 <= device <= 0x1F and 0 <= function <= 7):
        raise VerifyError(f"not a PCI bus id: {bus_id!r} (a field is out of range)")
    return f"{domain:08x}:{bus:02x}:{device:02x}.{function:x}"


# --- the ctypes binding ------------------------------------------------------------------------

CUdeviceptr = ctypes.c_uint64  # cuda.h: unsigned long long on 64-bit hosts (the _v2 API)
CUresult = ctypes.c_int
CUdevice = ctypes.c_int
CUcontext = ctypes.c_void_p
CUevent = ctypes.c_void_p
CUstream = ctypes.c_void_p

_P = ctypes.POINTER
# symbol -> (argtypes); every function returns CUresult. The _v2 entry points are the ones cuda.h
# maps the plain names to since CUDA 3.2 (64-bit sizes) / CUDA 11 (cuDevicePrimaryCtxRelease).
_PROTOTYPES: Dict[str, List[Any]] = {
    "cuInit": [ctypes.c_uint],
    "cuGetErrorName": [CUresult, _P(ctypes.c_char_p)],
    "cuDeviceGetCount": [_P(ctypes.c_int)],
    "cuDeviceGet": [_P(CUdevice), ctypes.c_int],
    "cuDeviceGetPCIBusId": [ctypes.c_char_p, ctypes.c_int, CUdevice],
    "cuDevicePrimaryCtxRetain": [_P(CUcontext), CUdevice],
    "cuDevicePrimaryCtxRelease_v2": [CUdevice],
    "cuCtxSetCurrent": [CUcontext],
    "cuMemGetInfo_v2": [_P(ctypes.c_size_t), _P(ctypes.c_size_t)],
    "cuMemAlloc_v2": [_P(CUdeviceptr), ctypes.c_size_t],
    "cuMemFree_v2": [CUdeviceptr],
    "cuMemcpyDtoD_v2": [CUdeviceptr, CUdeviceptr, ctypes.c_size_t],
    "cuEventCreate": [_P(CUevent), ctypes.c_uint],
    "cuEventRecord": [CUevent, CUstream],
    "cuEventSynchronize": [CUevent],
    "cuEventElapsedTime": [_P(ctypes.c_float), CUevent, CUevent],
    "cuEventDestroy_v2": [CUevent],
}
# Older spellings, used only when a driver lacks the _v2 export (drivers before CUDA 11).
_FALLBACK_SYMBOLS = {"cuDevicePrimaryCtxRelease_v2": "cuDevicePrimaryCtxRelease"}

_LIBRARY_NAMES = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")


class CudaDriver:
    """libcuda through ctypes: one method per driver call, CudaError on any failure.

    `lib` is a loaded ctypes library (or, in tests, any object with the same functions taking
    ctypes pointers).
    """

    def __init__(self, lib: Any) -> None:
        self._fn: Dict[str, Any] = {}
        for symbol, argtypes in _PROTOTYPES.items():
            fn = getattr(lib, symbol, None)
            if fn is None and symbol in _FALLBACK_SYMBOLS:
                fn = getattr(lib, _FALLBACK_SYMBOLS[symbol], None)
            if fn is None:
                raise VerifyError(f"the CUDA driver library has no {symbol}: the NVIDIA driver is too old")
            fn.argtypes = argtypes
            fn.restype = CUresult
            self._fn[symbol] = fn
        self._devices: Dict[int, int] = {}

    def _call(self, symbol: str, *args: Any) -> None:
        code = self._fn[symbol](*args)
        if code != CUDA_SUCCESS:
            raise CudaError(symbol, self.error_name(code), code)

    def error_name(self, code: int) -> str:
        name = ctypes.c_char_p()
        if self._fn["cuGetErrorName"](code, ctypes.pointer(name)) == CUDA_SUCCESS and name.value:
            return name.value.decode("ascii", "replace")
        return f"CUresult {code}"

    def init(self) -> None:
        self._call("cuInit", 0)

    def _device(self, ordinal: int) -> int:
        if ordinal not in self._devices:
            dev = CUdevice()
            self._call("cuDeviceGet", ctypes.pointer(dev), ordinal)
            self._devices[ordinal] = dev.value
        return self._devices[ordinal]

    def device_count(self) -> int:
        count = ctypes.c_int()
        self._call("cuDeviceGetCount", ctypes.pointer(count))
        return count.value

    def device_pci_bus_id(self, ordinal: int) -> str:
        buf = ctypes.create_string_buffer(64)  # "0000:00:06.0" + NUL; cuda.h asks for >= 13
        self._call("cuDeviceGetPCIBusId", buf, len(buf), self._device(ordinal))
        return buf.value.decode("ascii", "replace")

    def primary_ctx_retain(self, ordinal: int) -> int:
        ctx = CUcontext()
        self._call("cuDevicePrimaryCtxRetain", ctypes.pointer(ctx), self._device(ordinal))
        return ctx.value or 0

    def primary_ctx_release(self, ordinal: int) -> None:
        self._call("cuDevicePrimaryCtxRelease_v2", self._device(ordinal))

    def ctx_set_current(self, ctx: Optional[int]) -> None:
        self._call("cuCtxSetCurrent", ctx)

    def mem_get_info(self) -> Tuple[int, int]:
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        self._call("cuMemGetInfo_v2", ctypes.pointer(free), ctypes.pointer(total))
        return free.value, total.value

    def mem_alloc(self, nbytes: int) -> int:
        ptr = CUdeviceptr()
        self._call("cuMemAlloc_v2", ctypes.pointer(ptr), nbytes)
        return ptr.value

    def mem_free(self, ptr: int) -> None:
        self._call("cuMemFree_v2", ptr)

    def memcpy_dtod(self, dst: int, src: int, nbytes: int) -> None:
        self._call("cuMemcpyDtoD_v2", dst, src, nbytes)

    def event_create(self) -> int:
        event = CUevent()
        self._call("cuEventCreate", ctypes.pointer(event), 0)  # CU_EVENT_DEFAULT: timing on
        return event.value or 0

    def event_record(self, event: int) -> None:
        self._call("cuEventRecord", event, None)  # NULL stream: ordered with the copies

    def event_synchronize(self, event: int) -> None:
        self._call("cuEventSynchronize", event)

    def event_elapsed_ms(self, start: int, end: int) -> float:
        ms = ctypes.c_float()
        self._call("cuEventElapsedTime", ctypes.pointer(ms), start, end)
        return float(ms.value)

    def event_destroy(self, event: int) -> None:
        self._call("cuEventDestroy_v2", event)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_driver(library: Optional[str] = None, lib: Any = None) -> CudaDriver:
    """Open libcuda and run cuInit(0); VerifyError with a one-line reason when that fails.

    `library` names the file to open (default: the platform's driver library); `lib` passes an
    already loaded library object instead (tests).
    """
    if lib is None:
        names = (library,) if library else _LIBRARY_NAMES
        errors = []
        for name in names:
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError as e:
                errors.append(_one_line(str(e)) or name)
        if lib is None:
            raise VerifyError(f"cannot load the CUDA driver library ({names[0]}): is the NVIDIA driver "
                              f"installed? ({errors[0]})")
    driver = CudaDriver(lib)
    try:
        driver.init()
    except CudaError as e:
        raise VerifyError(f"the CUDA driver did not initialise: cuInit returned {e.name}") from None
    return driver


def cuda_devices(driver: Any = None) -> Dict[str, int]:
    """Normalised PCI bus id -> CUDA ordinal, for the devices this process can see.

    CUDA numbers devices after CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER, so its ordinals are
    not NVML's indices; the bus id is what both agree on. MIG slices of one GPU share its bus id:
    the first ordinal is kept.
    """
    driver = driver if driver is not None else load_driver()
    mapping: Dict[str, int] = {}
    try:
        count = driver.device_count()
        for ordinal in range(count):
            mapping.setdefault(normalize_pci_bus_id(driver.device_pci_bus_id(ordinal)), ordinal)
    except CudaError as e:
        raise VerifyError(f"cannot list CUDA devices: {e.call} returned {e.name}") from None
    return mapping


# --- reserve -----------------------------------------------------------------------------------


class _Device:
    """Per-GPU bookkeeping: what must be given back."""

    def __init__(self, result: Reservation) -> None:
        self.result = result
        self.ctx: Optional[int] = None
        self.chunks: List[Tuple[int, int]] = []  # (device pointer, bytes), in allocation order


def reserve(requests: Dict[str, int], hold_s: float = 0.0, *, bandwidth: bool = False,
            chunk_bytes: int = DEFAULT_CHUNK_BYTES, driver: Any = None,
            on_hold: Optional[Callable[[List[Reservation]], None]] = None,
            used_bytes: Optional[Callable[[str], Optional[int]]] = None) -> List[Reservation]:
    """Allocate `requests[pci_bus_id]` bytes on each GPU, hold them all together, free them all.

    Returns one Reservation per request, in the order given. Every GPU's memory is taken before
    any is freed (a tensor-parallel run holds all of them at once). `hold_s` keeps the memory
    for that long; `on_hold(reservations)` is called while it is held (tests read NVML then).
    With `bandwidth`, a device-to-device copy is timed on each GPU that got its memory.
    `used_bytes(pci_bus_id)` (an NVML reader, see `nvml_used_reader`) lets the request include
    the workload's own CUDA context: the growth of NVML "used" when our context is created is
    counted as held, and only the rest is allocated. Without it the whole request is allocated
    on top of our context (stricter by one context, ≈0.5 GB).
    Raises VerifyError when the driver cannot be used; per-GPU failures are in the results.
    Everything taken is freed and every primary context released, also on Ctrl-C
    (KeyboardInterrupt is re-raised after the memory is back).
    """
    if chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    devices: List[_Device] = []
    seen: Dict[str, str] = {}
    for bus_id, nbytes in requests.items():
        key = normalize_pci_bus_id(bus_id)
        if key in seen:
            raise VerifyError(f"GPU {bus_id} is listed twice (also as {seen[key]})")
        if int(nbytes) < 0:
            raise VerifyError(f"cannot reserve a negative amount on GPU {bus_id}: {nbytes}")
        seen[key] = bus_id
        devices.append(_Device(Reservation(pci_bus_id=bus_id, cuda_ordinal=None, requested_bytes=int(nbytes))))
    if not devices:
        return []
    driver = driver if driver is not None else load_driver()
    ordinals = cuda_devices(driver)
    for dev in devices:
        dev.result.cuda_ordinal = ordinals.get(normalize_pci_bus_id(dev.result.pci_bus_id))
        if dev.result.cuda_ordinal is None:
            dev.result.error = NOT_VISIBLE

    with InterruptGuard() as guard:
        try:
            for dev in devices:
                if dev.result.cuda_ordinal is not None:
                    _take(driver, dev, chunk_bytes, guard, used_bytes)
            if bandwidth:
                for dev in devices:
                    if dev.result.ok:
                        _bandwidth_on(driver, dev, guard)
            results = [d.result for d in devices]
            if on_hold is not None:
                on_hold(results)
            if hold_s > 0:
                time.sleep(hold_s)
        finally:
            with guard.critical():
                for dev in reversed(devices):
                    _give_back(driver, dev)
    return [d.result for d in devices]


def _nvml_used(used_bytes: Optional[Callable[[str], Optional[int]]], bus_id: str) -> Optional[int]:
    if used_bytes is None:
        return None
    try:
        return used_bytes(bus_id)
    except Exception:  # noqa: BLE001 - an optional refinement; without it we are just stricter
        return None


def _take(driver: Any, dev: _Device, chunk_bytes: int, guard: InterruptGuard,
          used_bytes: Optional[Callable[[str], Optional[int]]] = None) -> None:
    result = dev.result
    used_before = _nvml_used(used_bytes, result.pci_bus_id)
    try:
        with guard.critical():
            dev.ctx = driver.primary_ctx_retain(result.cuda_ordinal)
        driver.ctx_set_current(dev.ctx)
        result.cuda_free_before_bytes, result.cuda_total_bytes = driver.mem_get_info()
    except CudaError as e:
        result.error, result.failed_call = e.name, e.call
        return
    used_after = _nvml_used(used_bytes, result.pci_bus_id)
    if used_before is not None and used_after is not None:
        result.context_bytes = max(0, used_after - used_before)
    remaining = max(0, result.requested_bytes - (result.context_bytes or 0))
    chunk = chunk_bytes
    while remaining > 0:
        size = min(chunk, remaining)
        try:
            with guard.critical():
                dev.chunks.append((driver.mem_alloc(size), size))
        except CudaError as e:
            result.error, result.failed_call = e.name, e.call
            if e.name == CUDA_ERROR_OUT_OF_MEMORY and chunk // 2 >= MIN_CHUNK_BYTES:
                chunk //= 2  # find out how much more fits, in smaller pieces
                continue
            break
        result.reserved_bytes += size
        remaining -= size
    result.ok = remaining == 0
    if result.ok:
        result.error = result.failed_call = None  # smaller chunks got the rest: it was taken


def _give_back(driver: Any, dev: _Device) -> None:
    """Free every pointer and release the primary context; never raises."""
    if dev.ctx is None:
        return
    problems = []
    try:
        driver.ctx_set_current(dev.ctx)
    except CudaError as e:
        problems.append(f"{e.call}: {e.name}")
    for ptr, _size in reversed(dev.chunks):
        try:
            driver.mem_free(ptr)
        except CudaError as e:
            problems.append(f"{e.call}: {e.name}")
    dev.chunks = []
    for call in (lambda: driver.ctx_set_current(None), lambda: driver.primary_ctx_release(dev.result.cuda_ordinal)):
        try:
            call()
        except CudaError as e:
            problems.append(f"{e.call}: {e.name}")
    dev.ctx = None
    if problems:
        dev.result.release_error = "; ".join(problems)


# --- bandwidth ---------------------------------------------------------------------------------


def _time_copies(driver: Any, dst: int, src: int, nbytes: int, iters: int) -> float:
    """Bytes/s (read+write) of `iters` device-to-device copies, timed by CUDA events."""
    driver.memcpy_dtod(dst, src, nbytes)  # warm-up: first-touch of the pages, clocks up
    start = end = None
    try:
        start = driver.event_create()
        end = driver.event_create()
        driver.event_record(start)
        for _ in range(iters):
            driver.memcpy_dtod(dst, src, nbytes)
        driver.event_record(end)
        driver.event_synchronize(end)
        elapsed_ms = driver.event_elapsed_ms(start, end)
    finally:
        for event in (start, end):
            if event is not None:
                try:
                    driver.event_destroy(event)
                except CudaError:
                    pass
    if elapsed_ms <= 0:
        raise CudaError("cuEventElapsedTime", "zero elapsed time")
    return 2.0 * nbytes * iters / (elapsed_ms / 1e3)


def _bandwidth_on(driver: Any, dev: _Device, guard: InterruptGuard, nbytes: int = DEFAULT_BANDWIDTH_BYTES,
                  iters: int = DEFAULT_BANDWIDTH_ITERS) -> None:
    """Time copies between two chunks already reserved, or two extra buffers if none are big enough."""
    result = dev.result
    try:
        driver.ctx_set_current(dev.ctx)
        big = [c for c in dev.chunks if c[1] >= BANDWIDTH_MIN_BUFFER_BYTES]
        if len(big) >= 2:
            (src, src_size), (dst, dst_size) = big[0], big[1]
            size = min(src_size, dst_size, nbytes)
        else:
            size = BANDWIDTH_MIN_BUFFER_BYTES
            for _ in range(2):
                with guard.critical():
                    dev.chunks.append((driver.mem_alloc(size), size))
            src, dst = dev.chunks[-2][0], dev.chunks[-1][0]
        result.bandwidth_bytes_per_s = _time_copies(driver, dst, src, size, iters)
        result.bandwidth_convention = BANDWIDTH_CONVENTION
    except CudaError as e:
        result.bandwidth_error = f"{e.call}: {e.name}"


def measure_bandwidth(pci_bus_id: str, nbytes: int = DEFAULT_BANDWIDTH_BYTES,
                      iters: int = DEFAULT_BANDWIDTH_ITERS, *, driver: Any = None) -> float:
    """Device memory bandwidth of one GPU in bytes/s, counting read+write (BANDWIDTH_CONVENTION).

    Allocates two buffers of `nbytes`, times `iters` cuMemcpyDtoD_v2 copies with CUDA events,
    frees everything. VerifyError when the GPU is not visible or the copy cannot be done.
    """
    if nbytes <= 0 or iters <= 0:
        raise ValueError("nbytes and iters must be positive")
    driver = driver if driver is not None else load_driver()
    ordinal = cuda_devices(driver).get(normalize_pci_bus_id(pci_bus_id))
    if ordinal is None:
        raise VerifyError(f"GPU {pci_bus_id} is not visible to CUDA (CUDA_VISIBLE_DEVICES?)")
    dev = _Device(Reservation(pci_bus_id=pci_bus_id, cuda_ordinal=ordinal, requested_bytes=2 * nbytes))
    with InterruptGuard() as guard:
        try:
            with guard.critical():
                dev.ctx = driver.primary_ctx_retain(ordinal)
            driver.ctx_set_current(dev.ctx)
            for _ in range(2):
                with guard.critical():
                    dev.chunks.append((driver.mem_alloc(nbytes), nbytes))
            return _time_copies(driver, dev.chunks[1][0], dev.chunks[0][0], nbytes, iters)
        except CudaError as e:
            raise VerifyError(f"cannot measure bandwidth on GPU {pci_bus_id}: {e.call} returned {e.name}") from None
        finally:
            with guard.critical():
                _give_back(driver, dev)


# --- check --verify ------------------------------------------------------------------------------


@contextmanager
def nvml_used_reader() -> Iterator[Optional[Callable[[str], Optional[int]]]]:
    """A `used_bytes(pci_bus_id)` for `reserve`, reading NVML; None when NVML cannot start."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no NVML: reserve() just counts our context as extra
        yield None
        return

    def used(pci_bus_id: str) -> Optional[int]:
        handle = pynvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)

    try:
        yield used
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def verify_check_result(result: Any, snapshot: Any, *, bandwidth: bool = True, driver: Any = None,
                        used_bytes: Optional[Callable[[str], Optional[int]]] = None) -> None:
    """`check --verify`: reserve each profile's memory on its GPUs for real; add the findings.

    `result` is an assess.CheckResult from `snapshot` (this machine, probed just before). Each
    verified profile gets one "verify.reserve" finding per GPU (and "verify.bandwidth" when
    `bandwidth`, measured once per GPU with the decode speed it implies); its verdict is
    recomputed. When the driver cannot be used at all, each such profile gets an "unknown"
    finding instead. Profiles run one after another, each freeing before the next.
    `used_bytes` defaults to an NVML reader (our own CUDA context counts toward the need).
    """
    from deepseek_probe.findings import verdict

    gpus_by_index = {g.index: g for g in snapshot.gpus}
    plans = [(p, req) for p in result.profiles for req in [profile_requests(p, gpus_by_index)] if req]
    for p in result.profiles:  # --verify asked, no GPU to reserve on: say so instead of staying silent
        if not p.gpus_used:
            p.findings.append(Finding("verify.reserve", "pass",
                                      "--verify skipped: this profile uses no GPU, nothing to reserve"))
    if not plans:
        return

    def could_not(profile: Any, error: VerifyError) -> None:
        profile.findings.append(Finding(
            "verify.reserve", "unknown", f"--verify could not use the CUDA driver: {_one_line(str(error))}",
            suggestion="check that the NVIDIA driver works (nvidia-smi) and, in a container, that it "
                       "was started with GPU access (NVIDIA Container Toolkit: --gpus all)"))
        profile.verdict = verdict(profile.findings)

    try:
        driver = driver if driver is not None else load_driver()
    except VerifyError as e:
        for profile, _ in plans:
            could_not(profile, e)
        return

    measured: Dict[str, float] = {}  # normalised bus id -> bytes/s, one measurement per GPU
    reader_cm = nvml_used_reader() if used_bytes is None else _given(used_bytes)
    with reader_cm as reader:
        for profile, requests in plans:
            wanted = bandwidth and any(normalize_pci_bus_id(b) not in measured for b in requests)
            try:
                results = reserve(requests, bandwidth=wanted, driver=driver, used_bytes=reader)
            except VerifyError as e:
                could_not(profile, e)
                continue
            for r in results:
                key = normalize_pci_bus_id(r.pci_bus_id)
                if r.bandwidth_bytes_per_s is not None:
                    measured.setdefault(key, r.bandwidth_bytes_per_s)
                elif bandwidth and key in measured:
                    r.bandwidth_bytes_per_s, r.bandwidth_convention = measured[key], BANDWIDTH_CONVENTION
            new = verify_findings(results)
            bws = [r.bandwidth_bytes_per_s for r in results if r.bandwidth_bytes_per_s is not None]
            if bws and len(bws) == len(results):
                decode = decode_text(profile.estimate, min(bws))  # the slowest GPU paces a split
                for f in new:
                    if f.check == "verify.bandwidth":
                        f.message += decode
            profile.findings.extend(new)
            profile.verdict = verdict(profile.findings)


@contextmanager
def _given(value: Any) -> Iterator[Any]:
    yield value
