"""`verify` against the real CUDA driver: memory is really taken, and really given back."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from deepseek_probe import verify
from deepseek_probe.verify import GIB, MIB, normalize_pci_bus_id

pytestmark = pytest.mark.gpu

# NVML counts memory in 2 MiB pages and the driver may keep a few pages for itself after a
# context goes; anything beyond 64 MiB left behind is a leak, not noise.
RETURNED_TOLERANCE_BYTES = 64 * MIB


@pytest.fixture(scope="module")
def nvml_bus_ids(nvml):
    """NVML-form bus id of every GPU CUDA can see, in NVML order."""
    from deepseek_probe.verify import cuda_devices

    visible = cuda_devices()
    ids = []
    for i in range(nvml.nvmlDeviceGetCount()):
        bus = nvml.nvmlDeviceGetPciInfo(nvml.nvmlDeviceGetHandleByIndex(i)).busId
        bus = bus.decode() if isinstance(bus, bytes) else bus
        if normalize_pci_bus_id(bus) in visible:
            ids.append(bus)
    if not ids:
        pytest.skip("CUDA sees none of NVML's GPUs (CUDA_VISIBLE_DEVICES?)")
    return ids


def wait_until_returned(nvml_used, bus, before, timeout_s=5.0):
    """NVML used on `bus` after the memory came back (polls briefly: teardown is not instant)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = nvml_used(bus)
        if now - before <= RETURNED_TOLERANCE_BYTES or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def test_every_cuda_device_is_one_of_nvmls_gpus(nvml, cuda_bus_ids):
    nvml_buses = set()
    for i in range(nvml.nvmlDeviceGetCount()):
        bus = nvml.nvmlDeviceGetPciInfo(nvml.nvmlDeviceGetHandleByIndex(i)).busId
        nvml_buses.add(normalize_pci_bus_id(bus.decode() if isinstance(bus, bytes) else bus))
    assert cuda_bus_ids and set(cuda_bus_ids) <= nvml_buses


def test_one_gib_on_each_gpu_is_taken_and_given_back(nvml_bus_ids, nvml_used, record):
    before = {bus: nvml_used(bus) for bus in nvml_bus_ids}
    held = {}

    def look(results):
        held.update({bus: nvml_used(bus) for bus in nvml_bus_ids})

    start = time.perf_counter()
    results = verify.reserve({bus: GIB for bus in nvml_bus_ids}, on_hold=look)
    record(what="reserve_1gib_each_s", seconds=round(time.perf_counter() - start, 3), gpus=len(results))
    for r in results:
        assert r.ok and r.reserved_bytes == GIB and r.error is None, r
        assert held[r.pci_bus_id] - before[r.pci_bus_id] >= GIB  # NVML saw it: the memory was real
        after = wait_until_returned(nvml_used, r.pci_bus_id, before[r.pci_bus_id])
        assert after - before[r.pci_bus_id] <= RETURNED_TOLERANCE_BYTES


def test_with_context_accounting_the_process_holds_exactly_what_was_asked(nvml_bus_ids, nvml_used, record):
    # check --verify asks for the workload's whole footprint, its CUDA context included; our own
    # context stands in for it, so NVML must show the process holding the request, not more.
    bus = nvml_bus_ids[0]
    before = nvml_used(bus)
    held = {}
    with verify.nvml_used_reader() as reader:
        [r] = verify.reserve({bus: 4 * GIB}, used_bytes=reader, on_hold=lambda rs: held.update(used=nvml_used(bus)))
    record(what="own_cuda_context_bytes", pci_bus_id=bus, context_bytes=r.context_bytes)
    assert r.ok and r.context_bytes and 0 < r.context_bytes < GIB
    assert r.reserved_bytes + r.context_bytes == 4 * GIB
    assert abs(held["used"] - before - 4 * GIB) <= RETURNED_TOLERANCE_BYTES
    assert wait_until_returned(nvml_used, bus, before) - before <= RETURNED_TOLERANCE_BYTES


def test_cuda_sees_slightly_less_than_nvmls_total(nvml, nvml_bus_ids, record):
    [r] = verify.reserve({nvml_bus_ids[0]: 0})
    nvml_total = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByPciBusId(nvml_bus_ids[0])).total
    record(what="cuda_vs_nvml_total", cuda_total_bytes=r.cuda_total_bytes, nvml_total_bytes=nvml_total,
           cuda_free_bytes=r.cuda_free_before_bytes)
    # CUDA leaves out the driver's reserved region (~0.5 GB on an H100, census-h100.json).
    assert 0.95 * nvml_total <= r.cuda_total_bytes <= nvml_total
    assert 0 < r.cuda_free_before_bytes <= r.cuda_total_bytes


def test_more_than_the_gpu_has_fails_cleanly_and_says_how_much_fit(nvml, nvml_bus_ids, nvml_used, record):
    bus = nvml_bus_ids[0]
    total = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByPciBusId(bus)).total
    before = nvml_used(bus)
    [r] = verify.reserve({bus: total + GIB})
    record(what="reserve_past_total", requested=r.requested_bytes, reserved=r.reserved_bytes,
           cuda_free=r.cuda_free_before_bytes, error=r.error)
    assert not r.ok
    assert (r.failed_call, r.error) == ("cuMemAlloc_v2", "CUDA_ERROR_OUT_OF_MEMORY")
    # On an idle GPU nearly all of CUDA's free memory can be taken; the rest is page tables/slack.
    assert 0.9 * r.cuda_free_before_bytes <= r.reserved_bytes <= r.cuda_free_before_bytes
    [finding] = verify.verify_findings([r])
    assert finding.level == "fail" and finding.suggestion
    after = wait_until_returned(nvml_used, bus, before)
    assert after - before <= RETURNED_TOLERANCE_BYTES


def test_device_bandwidth_is_plausible_for_hbm(nvml_bus_ids, record):
    for bus in nvml_bus_ids:
        bw = verify.measure_bandwidth(bus)
        record(what="dtod_bandwidth", pci_bus_id=bus, bytes_per_s=bw, convention=verify.BANDWIDTH_CONVENTION)
        assert bw > 1e12  # H100 / H200 HBM3(e): 3.35 / 4.8 TB/s datasheet, read+write counted
        assert bw < 6e12  # above any HBM3e part's datasheet figure: the timing would be wrong


def test_bandwidth_measured_inside_a_reservation_agrees_with_the_standalone_one(nvml_bus_ids):
    bus = nvml_bus_ids[0]
    [r] = verify.reserve({bus: 4 * GIB}, bandwidth=True)
    alone = verify.measure_bandwidth(bus)
    assert r.ok and r.bandwidth_bytes_per_s is not None, r
    assert r.bandwidth_bytes_per_s == pytest.approx(alone, rel=0.25)


def test_cuda_ordinals_follow_cuda_visible_devices(nvml, nvml_bus_ids):
    # Reverse the GPUs by UUID: CUDA's device 0 must then be NVML's last visible GPU.
    uuids = []
    for bus in nvml_bus_ids:
        uuid = nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByPciBusId(bus))
        uuids.append(uuid.decode() if isinstance(uuid, bytes) else uuid)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=",".join(reversed(uuids)))
    out = subprocess.run([sys.executable, "-c", "import json; from deepseek_probe import verify; "
                          "print(json.dumps(verify.cuda_devices()))"],
                         env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    mapping = json.loads(out)
    expected = {normalize_pci_bus_id(bus): i for i, bus in enumerate(reversed(nvml_bus_ids))}
    assert mapping == expected


CHILD = textwrap.dedent("""
    import sys, time, pynvml
    from deepseek_probe import verify
    bus, before, tolerance = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus)
    used = lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used
    try:
        verify.reserve({bus: 2 * verify.GIB}, hold_s=120, on_hold=lambda rs: print("held", used(), flush=True))
    except KeyboardInterrupt:
        deadline = time.monotonic() + 5
        while used() - before > tolerance and time.monotonic() < deadline:
            time.sleep(0.05)
        print("after", used(), flush=True)  # read while this process is still alive
""")


def _read_line(stream, timeout_s=120.0):
    """One line from a child's stdout, or "" if it says nothing for `timeout_s` (a hung driver)."""
    box = queue.Queue()
    threading.Thread(target=lambda: box.put(stream.readline()), daemon=True).start()
    try:
        return box.get(timeout=timeout_s)
    except queue.Empty:
        return ""


def test_ctrl_c_while_holding_gives_the_memory_back_before_the_process_exits(nvml_bus_ids, nvml_used):
    bus = nvml_bus_ids[0]
    before = nvml_used(bus)
    child = subprocess.Popen([sys.executable, "-c", CHILD, bus, str(before), str(RETURNED_TOLERANCE_BYTES)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        held_line = _read_line(child.stdout).split()
        assert held_line and held_line[0] == "held", "child never held the memory"
        assert int(held_line[1]) - before >= 2 * GIB
        child.send_signal(signal.SIGINT)
        after_line = _read_line(child.stdout).split()
        assert after_line and after_line[0] == "after", "child did not come back from Ctrl-C"
        assert int(after_line[1]) - before <= RETURNED_TOLERANCE_BYTES
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
