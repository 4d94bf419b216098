"""`--verify` without a GPU: a fake CUDA driver that keeps books like the real one.

The fake hands out device pointers from each GPU's free memory, needs a current context for
every allocation, and remembers every pointer it gave and every one it got back, so a leak on
any error path shows up as a pointer that was never freed.
"""

from __future__ import annotations

import ctypes
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

from deepseek_probe import assess  # noqa: E402
from deepseek_probe import runtimes
from deepseek_probe import verify
from deepseek_probe.errors import InputError
from deepseek_probe.findings import Finding, verdict
from deepseek_probe import profiles
from deepseek_probe.assess import Assessment, CheckResult
from deepseek_probe.question import Flags, question_for
from deepseek_probe.rules import DEVICE_MARGIN_BYTES
from deepseek_probe.snapshot import GpuInfo, Snapshot
from deepseek_probe.verify import (GIB, MIB, CudaError, Reservation, VerifyError, measure_bandwidth,
                                   normalize_pci_bus_id, reserve, verify_findings)

OOM = "CUDA_ERROR_OUT_OF_MEMORY"


class FakeGpu:
    def __init__(self, bus_id: str, free: int, total: int, bandwidth: float = 3.0e12) -> None:
        self.bus_id = bus_id  # as CUDA spells it: 4-hex domain, lower case
        self.free = free
        self.total = total
        self.bandwidth = bandwidth  # read+write bytes/s the fake "DRAM" moves
        self.refcount = 0
        self.live = {}  # ptr -> size
        self.peak_live_bytes = 0


class FakeDriver:
    """Same methods as verify.CudaDriver; raises CudaError like it."""

    def __init__(self, gpus, fail_alloc_call=None, fail_alloc_name="CUDA_ERROR_UNKNOWN",
                 refuse_context=(), interrupt_after_alloc_call=None):
        self.gpus = gpus  # CUDA ordinal order
        self.current = None  # ordinal whose primary context is current
        self.alloc_calls = 0
        self.fail_alloc_call = fail_alloc_call  # n-th cuMemAlloc (1-based) fails with fail_alloc_name
        self.fail_alloc_name = fail_alloc_name
        self.refuse_context = set(refuse_context)  # ordinals whose context cannot be retained
        self.interrupt_after_alloc_call = interrupt_after_alloc_call  # Ctrl-C lands right after it
        self.handed_out = []  # every pointer ever returned
        self.freed = []
        self._next_ptr = 0x7F00_0000_0000  # above 4 GiB, like real device addresses
        self._copied_bytes = 0
        self._events = {}

    # devices and contexts
    def device_count(self):
        return len(self.gpus)

    def device_pci_bus_id(self, ordinal):
        return self.gpus[ordinal].bus_id

    def primary_ctx_retain(self, ordinal):
        if ordinal in self.refuse_context:
            raise CudaError("cuDevicePrimaryCtxRetain", "CUDA_ERROR_DEVICE_UNAVAILABLE")
        self.gpus[ordinal].refcount += 1
        return 0x1000 + ordinal

    def primary_ctx_release(self, ordinal):
        assert self.gpus[ordinal].refcount > 0, "released a context that was not retained"
        self.gpus[ordinal].refcount -= 1

    def ctx_set_current(self, ctx):
        self.current = None if ctx is None else ctx - 0x1000

    def _gpu(self):
        if self.current is None:
            raise CudaError("cuCtx", "CUDA_ERROR_INVALID_CONTEXT")
        return self.gpus[self.current]

    # memory
    def mem_get_info(self):
        gpu = self._gpu()
        return gpu.free, gpu.total

    def mem_alloc(self, nbytes):
        gpu = self._gpu()
        self.alloc_calls += 1
        if self.alloc_calls == self.fail_alloc_call:
            raise CudaError("cuMemAlloc_v2", self.fail_alloc_name)
        if nbytes > gpu.free:
            raise CudaError("cuMemAlloc_v2", OOM)
        ptr = self._next_ptr
        self._next_ptr += nbytes
        gpu.free -= nbytes
        gpu.live[ptr] = nbytes
        gpu.peak_live_bytes = max(gpu.peak_live_bytes, sum(gpu.live.values()))
        self.handed_out.append(ptr)
        if self.alloc_calls == self.interrupt_after_alloc_call:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C between the driver's return and our caller
        return ptr

    def mem_free(self, ptr):
        gpu = self._gpu()
        if ptr not in gpu.live:
            raise CudaError("cuMemFree_v2", "CUDA_ERROR_INVALID_VALUE")
        gpu.free += gpu.live.pop(ptr)
        self.freed.append(ptr)

    def memcpy_dtod(self, dst, src, nbytes):
        gpu = self._gpu()
        assert gpu.live.get(dst, 0) >= nbytes and gpu.live.get(src, 0) >= nbytes, "copy outside an allocation"
        self._copied_bytes += nbytes

    # events: time = DRAM traffic (read + write) / the fake's bandwidth
    def event_create(self):
        handle = 0x5000 + len(self._events)
        self._events[handle] = None
        return handle

    def event_record(self, event):
        self._events[event] = self._copied_bytes

    def event_synchronize(self, event):
        pass

    def event_elapsed_ms(self, start, end):
        traffic = 2 * (self._events[end] - self._events[start])
        return traffic / self._gpu().bandwidth * 1e3

    def event_destroy(self, event):
        del self._events[event]

    # what the tests ask
    def leaked(self):
        return [p for p in self.handed_out if p not in self.freed]

    def contexts_held(self):
        return sum(g.refcount for g in self.gpus)


def h100(bus="0000:00:06.0", free=79 * GIB, total=int(79.2 * GIB)):
    return FakeGpu(bus, free, total)


# --- bus ids ------------------------------------------------------------------------------------


def test_nvml_and_cuda_spellings_of_one_bus_id_are_the_same_gpu():
    assert normalize_pci_bus_id("00000000:00:06.0") == normalize_pci_bus_id("0000:00:06.0")


def test_bus_id_comparison_ignores_case():
    assert normalize_pci_bus_id("00000000:1B:00.0") == normalize_pci_bus_id("0000:1b:00.0")


def test_bus_id_without_a_domain_is_domain_zero():
    assert normalize_pci_bus_id("1b:00.0") == normalize_pci_bus_id("00000000:1B:00.0")


def test_different_functions_are_different_gpus():
    assert normalize_pci_bus_id("0000:1b:00.0") != normalize_pci_bus_id("0000:1b:00.1")


@pytest.mark.parametrize("bad", ["", "GPU-b86c4a8a", "0000:zz:00.0", "0000:00:06", "0000:1b:00.9"])
def test_a_malformed_bus_id_is_a_verify_error(bad):
    with pytest.raises(VerifyError):
        normalize_pci_bus_id(bad)


# --- loading the driver -------------------------------------------------------------------------


def test_missing_libcuda_is_a_one_line_verify_error():
    with pytest.raises(VerifyError) as info:
        verify.load_driver(library="libcuda-not-installed-here.so.1")
    message = str(info.value)
    assert "\n" not in message
    assert "libcuda-not-installed-here.so.1" in message
    assert not isinstance(info.value, InputError)  # not the user's fault: exit code is the CLI's call


def _libcuda_loads():
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


@pytest.mark.skipif(_libcuda_loads(), reason="this machine has an NVIDIA driver")
def test_reserve_on_a_machine_without_a_driver_raises_verify_error():
    with pytest.raises(VerifyError):
        reserve({"00000000:00:06.0": GIB})


class FakeLib:
    """Stands in for the loaded libcuda: plain functions taking ctypes pointers, returning CUresult."""

    NAMES = {0: b"CUDA_SUCCESS", 2: b"CUDA_ERROR_OUT_OF_MEMORY", 100: b"CUDA_ERROR_NO_DEVICE"}

    def __init__(self, init_result=0, drop=()):
        def get_error_name(code, p_str):
            if code not in self.NAMES:
                return 1  # CUDA_ERROR_INVALID_VALUE
            p_str[0] = self.NAMES[code]
            return 0

        def mem_get_info(p_free, p_total):
            p_free[0] = 85_017_493_504  # NVML free on the H100 census host: needs 64 bits
            p_total[0] = 85_520_809_984
            return 0

        def mem_alloc(p_ptr, nbytes):
            p_ptr[0] = 0x7F12_3456_0000
            return 0

        fns = {name: (lambda *args: 0) for name in verify._PROTOTYPES}  # one function object each
        fns["cuInit"] = lambda flags: init_result
        fns["cuGetErrorName"] = get_error_name
        fns["cuMemGetInfo_v2"] = mem_get_info
        fns["cuMemAlloc_v2"] = mem_alloc
        for name in drop:
            del fns[name]
        for name, fn in fns.items():
            setattr(self, name, fn)


def test_cuinit_failure_is_a_one_line_verify_error_naming_the_cuda_result():
    with pytest.raises(VerifyError) as info:
        verify.load_driver(lib=FakeLib(init_result=100))
    assert "CUDA_ERROR_NO_DEVICE" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_driver_without_the_64_bit_entry_points_is_a_verify_error():
    with pytest.raises(VerifyError) as info:
        verify.load_driver(lib=FakeLib(drop=["cuMemAlloc_v2"]))
    assert "cuMemAlloc_v2" in str(info.value)


def test_binding_keeps_sizes_and_pointers_above_4_gib():
    driver = verify.load_driver(lib=FakeLib())
    assert driver.mem_get_info() == (85_017_493_504, 85_520_809_984)
    assert driver.mem_alloc(GIB) == 0x7F12_3456_0000


def test_binding_names_a_failed_call_by_its_cuda_result():
    lib = FakeLib()
    lib.cuMemAlloc_v2 = lambda p_ptr, nbytes: 2
    driver = verify.load_driver(lib=lib)
    with pytest.raises(CudaError) as info:
        driver.mem_alloc(GIB)
    assert (info.value.call, info.value.name) == ("cuMemAlloc_v2", OOM)


# --- reserve ------------------------------------------------------------------------------------


def test_one_gib_on_an_idle_h100_is_taken_and_given_back():
    driver = FakeDriver([h100()])
    [r] = reserve({"00000000:00:06.0": GIB}, driver=driver)
    assert r.ok and r.reserved_bytes == GIB and r.error is None
    assert r.cuda_ordinal == 0
    assert (r.cuda_free_before_bytes, r.cuda_total_bytes) == (79 * GIB, int(79.2 * GIB))
    assert driver.handed_out and not driver.leaked()
    assert driver.contexts_held() == 0 and driver.current is None


def test_memory_is_taken_in_chunks_so_a_large_request_is_many_allocations():
    driver = FakeDriver([h100()])
    [r] = reserve({"00000000:00:06.0": 70 * GIB + 5 * MIB}, driver=driver)
    assert r.ok
    assert len(driver.handed_out) == 71  # 70 whole GiB and the remainder
    assert driver.gpus[0].peak_live_bytes == 70 * GIB + 5 * MIB


def test_cuda_ordinals_follow_cuda_not_the_order_of_the_request():
    # CUDA_DEVICE_ORDER=FASTEST_FIRST or CUDA_VISIBLE_DEVICES=1,0 puts NVML's second GPU first.
    first, second = h100("0000:00:07.0"), h100("0000:00:06.0")
    driver = FakeDriver([first, second])
    results = reserve({"00000000:00:06.0": 2 * GIB, "00000000:00:07.0": 3 * GIB}, driver=driver)
    assert [r.cuda_ordinal for r in results] == [1, 0]
    assert second.peak_live_bytes == 2 * GIB and first.peak_live_bytes == 3 * GIB


def test_every_gpu_holds_its_memory_at_the_same_time():
    a, b = h100("0000:00:06.0"), h100("0000:00:07.0")
    driver = FakeDriver([a, b])
    seen = {}

    def look(results):
        seen["live"] = [sum(a.live.values()), sum(b.live.values())]

    reserve({"00000000:00:06.0": 4 * GIB, "00000000:00:07.0": 4 * GIB}, driver=driver, on_hold=look)
    assert seen["live"] == [4 * GIB, 4 * GIB]
    assert not driver.leaked()


def test_a_gpu_hidden_from_cuda_fails_without_touching_the_others():
    driver = FakeDriver([h100("0000:00:06.0")])
    hidden, shown = reserve({"00000000:00:07.0": GIB, "00000000:00:06.0": GIB}, driver=driver)
    assert not hidden.ok and hidden.error == verify.NOT_VISIBLE and hidden.cuda_ordinal is None
    assert shown.ok


def test_third_allocation_failing_still_frees_the_first_two():
    driver = FakeDriver([h100()], fail_alloc_call=3, fail_alloc_name="CUDA_ERROR_UNKNOWN")
    [r] = reserve({"00000000:00:06.0": 10 * GIB}, driver=driver)
    assert not r.ok
    assert r.reserved_bytes == 2 * GIB
    assert (r.failed_call, r.error) == ("cuMemAlloc_v2", "CUDA_ERROR_UNKNOWN")
    assert len(driver.handed_out) == 2 and not driver.leaked()
    assert driver.contexts_held() == 0


def test_out_of_memory_says_how_much_could_really_be_taken():
    driver = FakeDriver([h100(free=int(5.5 * GIB))])
    [r] = reserve({"00000000:00:06.0": 8 * GIB}, driver=driver)
    assert not r.ok and r.error == OOM
    assert r.reserved_bytes == int(5.5 * GIB)  # not just the 5 whole GiB chunks
    assert not driver.leaked()


def test_a_request_that_fits_only_in_smaller_pieces_is_still_ok():
    driver = FakeDriver([h100(free=int(2.5 * GIB))])
    [r] = reserve({"00000000:00:06.0": int(2.5 * GIB)}, chunk_bytes=2 * GIB, driver=driver)
    assert r.ok and r.error is None and r.reserved_bytes == int(2.5 * GIB)


def test_ctrl_c_while_holding_frees_everything_and_is_re_raised():
    driver = FakeDriver([h100("0000:00:06.0"), h100("0000:00:07.0")])

    def interrupt(results):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reserve({"00000000:00:06.0": 3 * GIB, "00000000:00:07.0": 3 * GIB}, driver=driver, on_hold=interrupt)
    assert len(driver.handed_out) == 6 and not driver.leaked()
    assert driver.contexts_held() == 0


def test_ctrl_c_arriving_as_an_allocation_returns_does_not_lose_that_allocation():
    driver = FakeDriver([h100()], interrupt_after_alloc_call=2)
    with pytest.raises(KeyboardInterrupt):
        reserve({"00000000:00:06.0": 5 * GIB}, driver=driver)
    assert len(driver.handed_out) == 2
    assert not driver.leaked()
    assert driver.contexts_held() == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_a_gpu_refusing_a_context_fails_and_the_other_gpu_is_still_checked():
    driver = FakeDriver([h100("0000:00:06.0"), h100("0000:00:07.0")], refuse_context={0})
    refused, fine = reserve({"00000000:00:06.0": GIB, "00000000:00:07.0": GIB}, driver=driver)
    assert not refused.ok and refused.failed_call == "cuDevicePrimaryCtxRetain"
    assert fine.ok
    assert not driver.leaked() and driver.contexts_held() == 0


def test_listing_one_gpu_twice_under_two_spellings_is_refused():
    with pytest.raises(VerifyError):
        reserve({"00000000:00:06.0": GIB, "0000:00:06.0": GIB}, driver=FakeDriver([h100()]))


# --- bandwidth ----------------------------------------------------------------------------------


def test_bandwidth_counts_bytes_read_and_written():
    gpu = h100()
    gpu.bandwidth = 3.35e12  # H100 SXM datasheet DRAM bandwidth
    driver = FakeDriver([gpu])
    measured = measure_bandwidth("00000000:00:06.0", driver=driver)
    assert measured == pytest.approx(3.35e12, rel=1e-6)
    assert not driver.leaked() and driver.contexts_held() == 0


def test_bandwidth_during_reserve_reuses_the_reserved_memory():
    driver = FakeDriver([h100()])
    [r] = reserve({"00000000:00:06.0": 4 * GIB}, bandwidth=True, driver=driver)
    assert r.bandwidth_bytes_per_s == pytest.approx(3.0e12, rel=1e-6)
    assert "read+write" in r.bandwidth_convention
    assert driver.gpus[0].peak_live_bytes == 4 * GIB  # no extra buffers


def test_bandwidth_on_a_small_reservation_uses_temporary_buffers_and_frees_them():
    driver = FakeDriver([h100()])
    [r] = reserve({"00000000:00:06.0": 100 * MIB}, bandwidth=True, driver=driver)
    assert r.ok and r.reserved_bytes == 100 * MIB
    assert r.bandwidth_bytes_per_s == pytest.approx(3.0e12, rel=1e-6)
    assert not driver.leaked()


def test_bandwidth_on_a_hidden_gpu_is_a_verify_error():
    with pytest.raises(VerifyError):
        measure_bandwidth("00000000:00:07.0", driver=FakeDriver([h100()]))


# --- findings -----------------------------------------------------------------------------------


def _res(**kw):
    base = dict(pci_bus_id="00000000:00:06.0", cuda_ordinal=0, requested_bytes=70 * GIB,
                cuda_free_before_bytes=79 * GIB, cuda_total_bytes=int(79.2 * GIB))
    base.update(kw)
    return Reservation(**base)


def test_a_gpu_that_gave_its_memory_is_a_pass_with_measured_and_required():
    [f] = verify_findings([_res(reserved_bytes=70 * GIB, ok=True)])
    assert (f.check, f.level, f.measured, f.required) == ("verify.reserve", "pass", 70 * GIB, 70 * GIB)
    assert "00000000:00:06.0" in f.message


def test_other_tenants_holding_memory_fail_with_the_shortfall_in_the_suggestion():
    r = _res(reserved_bytes=60 * GIB, ok=False, error=OOM, failed_call="cuMemAlloc_v2",
             cuda_free_before_bytes=60 * GIB)
    [f] = verify_findings([r])
    assert f.level == "fail" and f.measured == 60 * GIB and f.required == 70 * GIB
    assert "10.0 GiB short" in f.suggestion
    assert OOM in f.message


def test_a_mig_slice_smaller_than_the_need_is_named_in_the_suggestion():
    r = _res(reserved_bytes=9 * GIB, ok=False, error=OOM, failed_call="cuMemAlloc_v2",
             cuda_free_before_bytes=9 * GIB, cuda_total_bytes=int(9.5 * GIB))
    [f] = verify_findings([r])
    assert "MIG" in f.suggestion


def test_enough_free_but_not_allocatable_points_at_fragmentation():
    r = _res(reserved_bytes=50 * GIB, ok=False, error=OOM, failed_call="cuMemAlloc_v2")
    [f] = verify_findings([r])
    assert "fragmentation" in f.suggestion


def test_each_gpu_gets_its_own_finding_and_one_failure_fails_the_verdict():
    good = _res(reserved_bytes=70 * GIB, ok=True)
    hidden = _res(pci_bus_id="00000000:00:07.0", cuda_ordinal=None, ok=False, error=verify.NOT_VISIBLE,
                  cuda_free_before_bytes=None, cuda_total_bytes=None)
    findings = verify_findings([good, hidden])
    assert [f.level for f in findings] == ["pass", "fail"]
    assert "CUDA_VISIBLE_DEVICES" in findings[1].suggestion
    assert verdict(findings) == "fail"


def test_a_measured_bandwidth_is_reported_as_a_passing_info_finding_with_its_convention():
    r = _res(reserved_bytes=70 * GIB, ok=True, bandwidth_bytes_per_s=2.9e12,
             bandwidth_convention=verify.BANDWIDTH_CONVENTION)
    findings = verify_findings([r])
    bw = [f for f in findings if f.check == "verify.bandwidth"]
    assert len(bw) == 1 and bw[0].level == "pass" and bw[0].measured == 2.9e12
    assert "2.90 TB/s" in bw[0].message and "read" in bw[0].message and "written" in bw[0].message


def test_findings_are_one_line_each():
    r = _res(reserved_bytes=60 * GIB, ok=False, error=OOM, failed_call="cuMemAlloc_v2")
    for f in verify_findings([r]):
        assert "\n" not in f.message and "\n" not in (f.suggestion or "")


# --- check --verify on a CheckResult ------------------------------------------------------------

CONTEXT_BYTES = 500 * MIB  # a bare CUDA context on an H100 is about this (anchors-memory-tools.md: ≈0.5 GB)


def _snapshot_with_one_h100(free=79 * GIB):
    gpu = GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", pci_bus_id="00000000:00:06.0",
                  memory_total_bytes=85_520_809_984, memory_free_bytes=free)
    return Snapshot(gpus=[gpu])


def _profile(model="deepseek-llm-7b", need=16 * GIB, vram_level="pass", runtime="transformers"):
    est = SimpleNamespace(per_device=SimpleNamespace(total_bytes=need), bytes_read_per_token=14 * 10**9,
                          notes={})
    vram = Finding("gpu.vram", vram_level, "from the rules", measured=79 * GIB, required=need + DEVICE_MARGIN_BYTES)
    q = question_for(profiles.get_model(model), runtime, Flags(precision="bf16", kv_precision="bf16", context=4096))
    return Assessment(q, tensor_parallel=1, verdict=vram_level, findings=[vram], estimate=est, gpus_used=[0])


class ContextTakingGpu(FakeGpu):
    """Creating the primary context takes CONTEXT_BYTES, as NVML would show."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.used_by_others = 480 * MIB  # NVML "used" on an idle H100 (census-h100.json)


class ContextTakingDriver(FakeDriver):
    def primary_ctx_retain(self, ordinal):
        ctx = super().primary_ctx_retain(ordinal)
        if self.gpus[ordinal].refcount == 1:
            self.gpus[ordinal].free -= CONTEXT_BYTES
        return ctx

    def primary_ctx_release(self, ordinal):
        super().primary_ctx_release(ordinal)
        if self.gpus[ordinal].refcount == 0:
            self.gpus[ordinal].free += CONTEXT_BYTES

    def nvml_used(self, bus_id):
        gpu = next(g for g in self.gpus if normalize_pci_bus_id(g.bus_id) == normalize_pci_bus_id(bus_id))
        return gpu.used_by_others + (gpu.total - gpu.free)


def test_check_verify_confirms_a_7b_profile_that_fits_and_counts_our_own_context():
    gpu = ContextTakingGpu("0000:00:06.0", free=79 * GIB, total=int(79.2 * GIB))
    driver = ContextTakingDriver([gpu])
    result = CheckResult(_snapshot_with_one_h100(), [_profile()])
    verify.verify_check_result(result, result.snapshot, driver=driver, used_bytes=driver.nvml_used)
    [p] = result.profiles
    [reserve_finding] = [f for f in p.findings if f.check == "verify.reserve"]
    assert reserve_finding.level == "pass"
    assert reserve_finding.required == 16 * GIB + DEVICE_MARGIN_BYTES  # what the rules compared with free
    assert reserve_finding.measured == reserve_finding.required
    assert gpu.peak_live_bytes == 16 * GIB + DEVICE_MARGIN_BYTES - CONTEXT_BYTES  # the context counts
    assert p.verdict == "pass"
    assert not driver.leaked() and driver.contexts_held() == 0


def test_another_tenant_taking_memory_after_the_probe_turns_the_profile_into_a_fail():
    snapshot = _snapshot_with_one_h100(free=79 * GIB)  # what NVML said a moment ago
    driver = FakeDriver([h100(free=10 * GIB)])  # what is left when we really try
    result = CheckResult(snapshot, [_profile(need=16 * GIB)])
    verify.verify_check_result(result, snapshot, driver=driver, used_bytes=lambda bus: None)
    [p] = result.profiles
    failing = [f for f in p.findings if f.check == "verify.reserve" and f.level == "fail"]
    assert failing and failing[0].suggestion
    assert p.verdict == "fail" and result.exit_code == 2
    assert not driver.leaked()


def test_a_profile_that_already_fails_on_vram_is_not_reserved_again():
    driver = FakeDriver([h100()])
    result = CheckResult(_snapshot_with_one_h100(), [_profile(model="deepseek-v3", need=700 * GIB, vram_level="fail")])
    verify.verify_check_result(result, result.snapshot, driver=driver, used_bytes=lambda bus: None)
    assert driver.handed_out == []
    assert [f.check for f in result.profiles[0].findings] == ["gpu.vram"]


def test_no_usable_driver_makes_verified_profiles_unknown_not_a_crash(monkeypatch):
    def no_driver(*a, **kw):
        raise VerifyError("cannot load the CUDA driver library (libcuda.so.1)")

    monkeypatch.setattr(verify, "load_driver", no_driver)
    result = CheckResult(_snapshot_with_one_h100(), [_profile()])
    verify.verify_check_result(result, result.snapshot, used_bytes=lambda bus: None)
    [p] = result.profiles
    assert [f.level for f in p.findings if f.check == "verify.reserve"] == ["unknown"]
    assert p.verdict == "unknown" and result.exit_code == 3


def test_bandwidth_is_measured_once_per_gpu_and_reported_with_every_profile_using_it():
    driver = FakeDriver([h100()])
    timed = []
    original = driver.event_create
    driver.event_create = lambda: timed.append(1) or original()
    result = CheckResult(_snapshot_with_one_h100(), [_profile(), _profile(model="deepseek-coder-33b", need=66 * GIB)])
    verify.verify_check_result(result, result.snapshot, driver=driver, used_bytes=lambda bus: None)
    assert len(timed) == 2  # one start and one end event: a single timed run
    for p in result.profiles:
        [bw] = [f for f in p.findings if f.check == "verify.bandwidth"]
        assert bw.measured == pytest.approx(3.0e12, rel=1e-6)
        assert "tok/s" in bw.message


# --- with the real rules on recorded snapshots (fixtures/snapshots) -------------------------------

SNAPSHOT_FIXTURES = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "snapshots").glob("*.json"))


def _gpu_snapshots():
    out = []
    for path in SNAPSHOT_FIXTURES:
        snapshot = Snapshot.load(str(path))
        if any(g.pci_bus_id and g.memory_free_bytes for g in snapshot.visible_gpus):
            out.append(pytest.param(snapshot, id=path.stem))
    return out or [pytest.param(None, marks=pytest.mark.skip(reason="no GPU snapshot in fixtures/snapshots"))]


def _driver_like(snapshot):
    """A fake CUDA driver whose GPUs are the snapshot's visible ones, as free as NVML said."""
    gpus = []
    for g in snapshot.visible_gpus:
        domain, rest = g.pci_bus_id.split(":", 1)
        gpus.append(FakeGpu(f"{int(domain, 16):04x}:{rest.lower()}", free=g.memory_free_bytes,
                            total=g.memory_total_bytes))
    return FakeDriver(gpus)


@pytest.mark.parametrize("snapshot", _gpu_snapshots())
@pytest.mark.parametrize("model,runtime", [("7b", "transformers"), ("70b", "vllm")])
def test_verify_takes_exactly_what_the_rules_placed_on_each_recorded_machine(snapshot, model, runtime):
    from deepseek_probe import profiles, rules

    spec = profiles.get_model(model)
    result = assess.check(snapshot, [(spec, runtimes.default_settings(spec, runtime))])
    [p] = result.profiles
    driver = _driver_like(snapshot)
    verify.verify_check_result(result, snapshot, driver=driver, used_bytes=lambda bus: None)
    vram = [f for f in p.findings if f.check == "gpu.vram"]
    reserve_findings = [f for f in p.findings if f.check == "verify.reserve"]
    if any(f.level == "fail" for f in vram) or any(f.check == "llamacpp.offload" for f in p.findings):
        assert reserve_findings == []
        return
    assert len(reserve_findings) == len(p.gpus_used)
    # NVML's free memory is all there in the fake, so what the rules passed must really fit.
    assert all(f.level == "pass" for f in reserve_findings), reserve_findings
    assert not driver.leaked() and driver.contexts_held() == 0


def test_verify_reserves_the_vllm_pool_at_the_utilization_the_user_asked_for():
    # vLLM takes --gpu-memory-utilization x total memory; verify must hold that, not the default.
    from dataclasses import replace

    from deepseek_probe import profiles, rules
    from deepseek_probe.snapshot import Snapshot

    snapshot = Snapshot.load(str(SNAPSHOT_FIXTURES[0].parent / "h200.json"))
    spec = profiles.get_model("7b")
    settings = replace(runtimes.default_settings(spec, "vllm"), gpu_memory_utilization=0.5)
    result = assess.check(snapshot, [(spec, settings)])
    [p] = result.profiles
    gpu = snapshot.visible_gpus[0]
    requests = verify.profile_requests(p, {g.index: g for g in snapshot.gpus})
    assert requests == {gpu.pci_bus_id: int(0.5 * gpu.memory_total_bytes)}


# --- the ctypes binding against a real shared library ---------------------------------------------
# A small C stand-in for libcuda, compiled here when a C compiler is available: it checks what a
# Python fake cannot, that the argtypes/restype we declare pass 64-bit sizes and pointers through
# the C ABI intact.

STUB_LIBCUDA_C = r"""
#include <stdint.h>
#include <stddef.h>
#include <string.h>
typedef int CUresult; typedef int CUdevice; typedef void *CUcontext, *CUevent, *CUstream;
typedef uint64_t CUdeviceptr;
static const char *BUS[2] = {"0000:00:07.0", "0000:00:06.0"};  /* CUDA order != PCI order */
static size_t FREE[2] = {85017493504ull, 85017493504ull}, TOTAL = 85520809984ull;
static int refcount[2], current = -1, live = 0;
static CUdeviceptr next_ptr = 0x7f0000000000ull;
static uint64_t copied = 0, ev_copied[16]; static int n_events = 0;
static uint64_t largest = 0;
int stub_live_allocations(void) { return live; }
uint64_t stub_largest_allocation(void) { return largest; }
int stub_contexts_held(void) { return refcount[0] + refcount[1]; }
CUresult cuInit(unsigned int flags) { return flags == 0 ? 0 : 1; }
CUresult cuGetErrorName(CUresult e, const char **s) {
  if (e == 2) { *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0; }
  if (e == 201) { *s = "CUDA_ERROR_INVALID_CONTEXT"; return 0; }
  return 1; }
CUresult cuDeviceGetCount(int *n) { *n = 2; return 0; }
CUresult cuDeviceGet(CUdevice *d, int ordinal) { *d = ordinal; return ordinal < 2 ? 0 : 101; }
CUresult cuDeviceGetPCIBusId(char *buf, int len, CUdevice d) {
  if (len < 13) return 1; strcpy(buf, BUS[d]); return 0; }
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { refcount[d]++; *c = (void *)(intptr_t)(0x1000 + d); return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { if (refcount[d] <= 0) return 201; refcount[d]--; return 0; }
CUresult cuCtxSetCurrent(CUcontext c) { current = c ? (int)((intptr_t)c - 0x1000) : -1; return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) { if (current < 0) return 201; *f = FREE[current]; *t = TOTAL; return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
  if (current < 0) return 201; if (n > FREE[current]) return 2;
  FREE[current] -= n; *p = next_ptr; next_ptr += n; live++; if (n > largest) largest = n; return 0; }
CUresult cuMemFree_v2(CUdeviceptr p) { if (current < 0) return 201; if (p < 0x7f0000000000ull) return 1; live--; return 0; }
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { copied += n; return 0; }
CUresult cuEventCreate(CUevent *e, unsigned int flags) { *e = (void *)(intptr_t)(1 + n_events++); return 0; }
CUresult cuEventRecord(CUevent e, CUstream s) { ev_copied[(intptr_t)e % 16] = copied; return 0; }
CUresult cuEventSynchronize(CUevent e) { return 0; }
CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) {
  /* 3.0e12 bytes/s of read+write traffic */
  *ms = (float)(2.0 * (double)(ev_copied[(intptr_t)b % 16] - ev_copied[(intptr_t)a % 16]) / 3.0e12 * 1e3); return 0; }
CUresult cuEventDestroy_v2(CUevent e) { return 0; }
"""


@pytest.fixture(scope="module")
def stub_libcuda(tmp_path_factory):
    import shutil
    import subprocess

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the stub driver")
    d = tmp_path_factory.mktemp("stubcuda")
    (d / "stub.c").write_text(STUB_LIBCUDA_C)
    proc = subprocess.run([cc, "-shared", "-fPIC", "-o", str(d / "libcuda-stub.so"), str(d / "stub.c")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot build the stub driver: {proc.stderr.strip()[:200]}")
    path = str(d / "libcuda-stub.so")
    return path, ctypes.CDLL(path)


def test_real_binding_maps_bus_ids_takes_64_bit_sizes_and_frees_everything(stub_libcuda):
    path, lib = stub_libcuda
    driver = verify.load_driver(library=path)
    assert verify.cuda_devices(driver) == {"00000000:00:07.0": 0, "00000000:00:06.0": 1}
    [r] = reserve({"00000000:00:06.0": 5 * GIB + 3}, chunk_bytes=8 * GIB, driver=driver)
    assert r.ok and r.cuda_ordinal == 1 and r.reserved_bytes == 5 * GIB + 3
    lib.stub_largest_allocation.restype = ctypes.c_uint64
    assert lib.stub_largest_allocation() == 5 * GIB + 3  # one allocation above 4 GiB, intact
    assert (r.cuda_free_before_bytes, r.cuda_total_bytes) == (85_017_493_504, 85_520_809_984)
    assert lib.stub_live_allocations() == 0 and lib.stub_contexts_held() == 0


def test_real_binding_names_out_of_memory_and_times_copies(stub_libcuda):
    path, lib = stub_libcuda
    driver = verify.load_driver(library=path)
    [r] = reserve({"00000000:00:07.0": 100 * GIB}, driver=driver)
    assert not r.ok and (r.failed_call, r.error) == ("cuMemAlloc_v2", OOM)
    assert 79 * GIB <= r.reserved_bytes <= 85_017_493_504
    assert lib.stub_live_allocations() == 0
    assert measure_bandwidth("00000000:00:06.0", driver=driver) == pytest.approx(3.0e12, rel=1e-3)
    assert lib.stub_live_allocations() == 0 and lib.stub_contexts_held() == 0
