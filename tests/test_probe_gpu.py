"""GPU probe against real NVML recordings (fixtures/nvml, converted from the census files)
replayed by tests/fake_nvml.py, plus injected NVML failures."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import FS_FIXTURES, NVML_FIXTURES
from fake_nvml import FakeNvml
from deepseek_probe.probes import probe_nvidia, take_snapshot
from deepseek_probe.probes.gpu.nvidia import decode_clock_events, visible_gpu_indices

REAL_RECORDINGS = ["h100", "h200", "2xh200"]
DEV_TREE = os.path.join(FS_FIXTURES, "dev-cgroup-v1")


def recording(name: str) -> dict:
    with open(os.path.join(NVML_FIXTURES, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def snapshot_of(name_or_rec, environ=None, time_limit_s=5.0, **faults):
    rec = recording(name_or_rec) if isinstance(name_or_rec, str) else name_or_rec
    fake = FakeNvml(rec, **faults)
    snap = take_snapshot(nvml=fake, root=DEV_TREE, environ=environ or {}, time_limit_s=time_limit_s)
    return snap, fake


def value(gpu_rec: dict, key: str):
    return gpu_rec[key]["value"]


# --- the real recordings ------------------------------------------------------------------

@pytest.mark.parametrize("name", REAL_RECORDINGS)
def test_every_gpu_field_matches_what_nvml_reported_on_the_real_host(name):
    rec = recording(name)
    snap, _ = snapshot_of(rec)
    assert snap.cuda.nvml_status == "ok"
    assert len(snap.gpus) == rec["system"]["nvmlDeviceGetCount"]["value"]
    for gpu, raw in zip(snap.gpus, rec["gpus"]):
        assert gpu.name == value(raw, "nvmlDeviceGetName")
        assert gpu.uuid == value(raw, "nvmlDeviceGetUUID")
        assert gpu.serial == value(raw, "nvmlDeviceGetSerial")
        assert gpu.pci_bus_id == value(raw, "nvmlDeviceGetPciInfo")["busId"]
        mem = value(raw, "nvmlDeviceGetMemoryInfo")
        mem_v2 = value(raw, "nvmlDeviceGetMemoryInfo:v2")
        # "used" as nvidia-smi shows it: v2's, without the driver's reservation.
        assert (gpu.memory_total_bytes, gpu.memory_free_bytes, gpu.memory_used_bytes) == \
            (mem["total"], mem["free"], mem_v2["used"])
        assert gpu.memory_reserved_bytes == mem_v2["reserved"]
        assert gpu.compute_capability == value(raw, "nvmlDeviceGetCudaComputeCapability")
        assert gpu.pcie_gen_current == value(raw, "nvmlDeviceGetCurrPcieLinkGeneration")
        assert gpu.pcie_gen_max == value(raw, "nvmlDeviceGetMaxPcieLinkGeneration")
        assert gpu.pcie_width_current == value(raw, "nvmlDeviceGetCurrPcieLinkWidth")
        assert gpu.pcie_width_max == value(raw, "nvmlDeviceGetMaxPcieLinkWidth")
        assert gpu.memory_bus_width_bits == value(raw, "nvmlDeviceGetMemoryBusWidth")
        assert gpu.max_memory_clock_mhz == value(raw, "nvmlDeviceGetMaxClockInfo:mem")
        assert gpu.max_sm_clock_mhz == value(raw, "nvmlDeviceGetMaxClockInfo:sm")
        assert gpu.cuda_cores == value(raw, "nvmlDeviceGetNumGpuCores")
        assert gpu.temperature_c == value(raw, "nvmlDeviceGetTemperature:gpu")
        assert gpu.power_limit_w == value(raw, "nvmlDeviceGetPowerManagementLimit") / 1000
        assert gpu.power_usage_w == value(raw, "nvmlDeviceGetPowerUsage") / 1000
        assert gpu.ecc_uncorrected_volatile == value(raw, "nvmlDeviceGetTotalEccErrors:uncorrected:volatile")
        assert gpu.vbios_version == value(raw, "nvmlDeviceGetVbiosVersion")
        assert gpu.processes == []
        assert gpu.unavailable == {}
    assert snap.cuda.driver_version == "580.159.04"  # census "driver"
    assert snap.cuda.cuda_driver_version == "13.0"  # census "cuda_driver" 13000
    assert snap.cuda.nvml_version == "13.580.159.04"


def test_h100_is_an_idle_hopper_with_the_datasheet_bandwidth():
    gpu = snapshot_of("h100")[0].gpus[0]
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.architecture == "hopper" and gpu.compute_capability == [9, 0]
    # NVIDIA H100 SXM datasheet: 3.35 TB/s
    assert gpu.memory_bandwidth_bytes_per_s == pytest.approx(3.35e12, rel=0.01)
    assert gpu.ecc_enabled is True and gpu.mig_enabled is False and gpu.persistence_mode is True
    assert gpu.remapped_rows_pending is False and gpu.remapped_rows_failed is False
    assert gpu.compute_mode == "default"
    assert gpu.throttle_reasons == ["gpu_idle"]
    assert gpu.nvlink_active_links == 0  # NVLink state NotSupported on link 0: no NVLink here


def test_2xh200_pair_is_linked_by_18_nvlinks_as_nvidia_smi_showed():
    # census-2xh200.json "nvidia-smi topo -m" shows NV18 between GPU0 and GPU1.
    snap, _ = snapshot_of("2xh200")
    assert [g.nvlink_active_links for g in snap.gpus] == [18, 18]
    assert len(snap.links) == 1
    link = snap.links[0]
    assert (link.gpu_a, link.gpu_b) == (0, 1)
    assert link.nvlink_p2p is True
    assert link.common_ancestor == "hostbridge"
    # H200 datasheet: 4.8 TB/s
    assert snap.gpus[0].memory_bandwidth_bytes_per_s == pytest.approx(4.8e12, rel=0.02)


def test_p2p_status_is_asked_with_an_integer_index_not_pynvmls_tuple():
    # census-2xh200 p2p_read failed: pynvml's NVML_P2P_CAPS_INDEX_READ is the tuple (0,).
    _, fake = snapshot_of("2xh200")
    assert "gpu0.nvmlDeviceGetP2PStatus:1:nvlink" in fake.calls


def test_nvml_is_shut_down_after_probing():
    _, fake = snapshot_of("2xh200")
    assert fake.calls[0] == "nvmlInit"
    assert fake.calls[-1] == "nvmlShutdown"


# --- NVML errors, per field -----------------------------------------------------------------

@pytest.mark.parametrize("error, reason", [
    ("NotSupported", "not_supported"),
    ("NoPermission", "no_permission"),
    ("Timeout", "timeout"),
    ("Unknown", "unknown"),
    ("FunctionNotFound", "function_not_found"),
    ("CorruptedInforom", "corrupted_inforom"),
    ("InsufficientSize", "error: NVMLError_InsufficientSize (7)"),
])
def test_a_failing_nvml_call_costs_only_its_own_field(error, reason):
    snap, _ = snapshot_of("h100", errors={(0, "nvmlDeviceGetSerial"): error})
    gpu = snap.gpus[0]
    assert gpu.serial is None
    assert gpu.unavailable == {"serial": reason}
    assert gpu.name == "NVIDIA H100 80GB HBM3" and gpu.memory_total_bytes == 85520809984


def test_no_permission_on_nvlink_leaves_link_count_unknown_not_zero():
    snap, _ = snapshot_of("2xh200", errors={(1, "nvmlDeviceGetNvLinkState"): "NoPermission"})
    assert snap.gpus[0].nvlink_active_links == 18
    assert snap.gpus[1].nvlink_active_links is None
    assert snap.gpus[1].unavailable["nvlink_active_links"] == "no_permission"


def test_system_call_errors_are_reasons_on_cuda_info():
    snap, _ = snapshot_of("h100", errors={(None, "nvmlSystemGetCudaDriverVersion"): "FunctionNotFound"})
    assert snap.cuda.cuda_driver_version is None
    assert snap.cuda.unavailable["cuda_driver_version"] == "function_not_found"
    assert snap.cuda.driver_version == "580.159.04"
    assert len(snap.gpus) == 1


def test_processes_without_memory_accounting_report_unknown_memory():
    rec = recording("h200")
    rec["gpus"][0]["nvmlDeviceGetComputeRunningProcesses"] = {
        "value": [{"pid": 101, "usedGpuMemory": None}, {"pid": 202, "usedGpuMemory": 2 ** 30}]}
    gpu = snapshot_of(rec)[0].gpus[0]
    assert [(p.pid, p.used_memory_bytes) for p in gpu.processes] == [(101, None), (202, 2 ** 30)]


@pytest.mark.parametrize("init_error, status", [
    ("LibraryNotFound", "library_not_found"),
    ("DriverNotLoaded", "driver_not_loaded"),
    ("NoPermission", "no_permission"),
    ("LibRmVersionMismatch", "lib_rm_version_mismatch"),
])
def test_nvml_init_failure_gives_no_gpus_and_says_why(init_error, status):
    fake = FakeNvml(recording("h100"), init_error=init_error)
    snap = take_snapshot(nvml=fake, root=os.path.join(FS_FIXTURES, "census-h100"), environ={})
    assert snap.gpus == [] and snap.links == []
    assert snap.cuda.nvml_status == status
    assert snap.cuda.unavailable["cuda_driver_version"] == status
    # The kernel module still names its version (recorded /proc/driver/nvidia/version).
    assert snap.cuda.driver_version == "580.159.04"
    assert not fake.shutdown_called
    assert fake.calls == ["nvmlInit"]


def test_gpu_lost_mid_probe_stops_calls_on_that_gpu_only():
    snap, fake = snapshot_of("2xh200", lose_gpu={0: 6})
    lost, healthy = snap.gpus
    gpu0_calls = [c for c in fake.calls if c.startswith("gpu0.")]
    assert len(gpu0_calls) == 6  # the 6th call raised GpuIsLost; none after it
    assert lost.name == "NVIDIA H200"  # read before the loss
    assert lost.memory_reserved_bytes is None
    assert lost.unavailable["memory_reserved_bytes"] == "gpu_lost"
    assert lost.unavailable["vbios_version"] == "gpu_lost"
    assert healthy.unavailable == {} and healthy.vbios_version == "96.00.A5.00.1A"
    assert snap.links[0].unavailable == {"common_ancestor": "gpu_lost", "nvlink_p2p": "gpu_lost"}
    assert fake.shutdown_called


def test_a_hung_nvml_call_is_abandoned_at_the_time_limit():
    start = time.perf_counter()
    snap, _ = snapshot_of("h100", time_limit_s=0.3, sleep={(0, "nvmlDeviceGetSerial"): 3.0})
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    gpu = snap.gpus[0]
    assert gpu.uuid == "GPU-b86c4a8a-ba6b-4224-0034-830e91b68b81"  # read before the hang
    assert gpu.serial is None and gpu.unavailable["serial"] == "timeout"
    assert gpu.unavailable["vbios_version"] == "timeout"
    assert snap.cuda.nvml_status == "ok" and snap.cuda.driver_version == "580.159.04"
    assert snap.probe_ms["gpu"] >= 300


def test_a_hung_nvml_init_reports_timeout_and_no_gpus():
    rec = recording("h100")
    fake = FakeNvml(rec)
    original = fake.nvmlInit

    def slow_init():
        time.sleep(3.0)
        original()

    fake.nvmlInit = slow_init
    snap = take_snapshot(nvml=fake, root=DEV_TREE, environ={}, time_limit_s=0.2)
    assert snap.cuda.nvml_status == "timeout"
    assert snap.gpus == []


# --- CUDA_VISIBLE_DEVICES ---------------------------------------------------------------------

UUIDS_2X = ["GPU-ccad0442-a234-9a77-b9a9-81dec4c25a12", "GPU-2678d70c-af29-ac82-351c-63d39a9bfb4d"]


@pytest.mark.parametrize("spec, visible", [
    (None, None),
    ("", set()),
    ("0", {0}),
    ("1", {1}),
    ("1,0", {0, 1}),
    ("0,7,1", {0}),  # 7 does not exist: CUDA ignores it and everything after it
    ("-1", set()),
    ("0,0", {0}),  # a repeated device ends the list
    ("GPU-2678", {1}),  # a unique UUID prefix
    ("gpu-ccad0442-a234-9a77-b9a9-81dec4c25a12", {0}),
    ("GPU-", set()),  # prefix of both: ambiguous, invalid
    ("MIG-GPU-2678d70c-af29-ac82-351c-63d39a9bfb4d/1/0", {1}),
    ("MIG-4a1e2f3c-0000-5555-8888-123456789abc", set()),  # no GPU has MIG on
    (" 1 , 0", {0, 1}),
])
def test_cuda_visible_devices_resolves_like_cuda(spec, visible):
    assert visible_gpu_indices(spec, UUIDS_2X) == visible


def test_mig_instance_id_counts_the_mig_enabled_gpu_as_visible():
    assert visible_gpu_indices("MIG-4a1e2f3c-0000-5555-8888-123456789abc", UUIDS_2X,
                               [False, True]) == {1}


def test_cuda_visible_devices_marks_hidden_gpus_in_the_snapshot():
    snap, _ = snapshot_of("2xh200", environ={"CUDA_VISIBLE_DEVICES": "GPU-2678d70c"})
    assert [g.visible for g in snap.gpus] == [False, True]
    assert [g.index for g in snap.visible_gpus] == [1]
    assert snap.cuda.cuda_visible_devices == "GPU-2678d70c"


def test_empty_cuda_visible_devices_hides_every_gpu():
    snap, _ = snapshot_of("2xh200", environ={"CUDA_VISIBLE_DEVICES": ""})
    assert snap.visible_gpus == [] and len(snap.gpus) == 2


def test_clock_event_bits_decode_to_nvml_names():
    # nvml.h: 0x4 SwPowerCap, 0x20 SwThermalSlowdown, 0x40 HwThermalSlowdown
    assert decode_clock_events(0x64) == ["sw_power_cap", "sw_thermal_slowdown", "hw_thermal_slowdown"]
    assert decode_clock_events(0) == []
    assert decode_clock_events(0x1 | 0x8000) == ["gpu_idle", "0x8000"]


def test_hot_throttled_derivative_reports_thermal_and_power_throttling():
    snap, _ = snapshot_of("derived-h100-hot-throttled")
    gpu = snap.gpus[0]
    assert gpu.temperature_c == 87 and gpu.power_usage_w == 699.0
    assert "hw_thermal_slowdown" in gpu.throttle_reasons and "sw_power_cap" in gpu.throttle_reasons


def test_tenant_derivative_shows_the_other_process_and_its_60_gib():
    snap, _ = snapshot_of("derived-h200-tenant-60gb")
    gpu = snap.gpus[0]
    base = snapshot_of("h200")[0].gpus[0]
    assert [p.used_memory_bytes for p in gpu.processes] == [60 * 2 ** 30]
    assert base.memory_free_bytes - gpu.memory_free_bytes == 60 * 2 ** 30


# --- NVML read apart (the CLI's own process for it: commands.prefetch) ----------------------

def _comparable(snap):
    d = snap.to_dict()
    d.pop("captured_at"), d.pop("probe_ms")
    d["memory"].pop("available_bytes", None)
    return d


@pytest.mark.parametrize("name", REAL_RECORDINGS)
def test_nvml_read_apart_makes_the_same_snapshot(name):
    rec = recording(name)
    here, _ = snapshot_of(rec, environ={"CUDA_VISIBLE_DEVICES": "0"})
    asked = []

    def apart(limit_s):
        asked.append(limit_s)
        return probe_nvidia(limit_s, {"CUDA_VISIBLE_DEVICES": "0"}, nvml=FakeNvml(rec))

    # The NVML handed to take_snapshot fails every call: only the reading given can fill the GPUs.
    broken = FakeNvml(rec, init_error="DriverNotLoaded")
    snap = take_snapshot(nvml=broken, root=DEV_TREE, environ={"CUDA_VISIBLE_DEVICES": "0"}, time_limit_s=4.0,
                         nvidia=apart)
    assert asked == [4.0]
    assert snap.cuda.nvml_status == "ok" and snap.gpus
    assert _comparable(snap) == _comparable(here)
    assert broken.calls == []


def test_nvml_read_here_when_the_reading_apart_failed():
    rec = recording("h100")
    here, _ = snapshot_of(rec)
    snap = take_snapshot(nvml=FakeNvml(rec), root=DEV_TREE, environ={}, nvidia=lambda limit_s: None)
    assert snap.cuda.nvml_status == "ok"
    assert _comparable(snap) == _comparable(here)


@pytest.mark.parametrize("shutdown", [True, False])
def test_nvml_read_apart_shuts_nvml_down_only_when_asked(shutdown):
    fake = FakeNvml(recording("h100"))
    cuda, gpus, _, _ = probe_nvidia(5.0, {}, nvml=fake, shutdown=shutdown)
    assert cuda.nvml_status == "ok" and len(gpus) == 1
    assert ("nvmlShutdown" in fake.calls) == shutdown
