"""The probes on a real GPU host say what nvidia-smi says (same NVML underneath, other code path)."""

from __future__ import annotations

import pytest

from deepseek_probe.verify import normalize_pci_bus_id

pytestmark = pytest.mark.gpu

MIB = 1 << 20
# Free/used move between the two reads (other processes, the driver); on an idle host they agree
# to the MiB. 256 MiB is half a CUDA context (≈0.5 GB, anchors-memory-tools.md): a context
# appearing between the reads is tolerated, a wrong field is not.
MOVING_MEMORY_TOLERANCE_BYTES = 256 * MIB


def _pairs(snapshot, smi_gpus):
    by_bus = {normalize_pci_bus_id(g.pci_bus_id): g for g in snapshot.gpus if g.pci_bus_id}
    return [(row, by_bus.get(normalize_pci_bus_id(row["pci.bus_id"]))) for row in smi_gpus]


def test_snapshot_lists_every_gpu_nvidia_smi_lists(snapshot, smi_gpus):
    assert snapshot.cuda.nvml_status == "ok"
    smi_buses = sorted(normalize_pci_bus_id(r["pci.bus_id"]) for r in smi_gpus)
    snap_buses = sorted(normalize_pci_bus_id(g.pci_bus_id) for g in snapshot.gpus if g.pci_bus_id)
    assert snap_buses == smi_buses
    assert len(snapshot.gpus) == len(smi_gpus)


def test_gpu_identity_matches_nvidia_smi(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        assert gpu is not None, f"snapshot has no GPU at {row['pci.bus_id']}"
        assert gpu.name == row["name"]
        assert gpu.uuid == row["uuid"]
        assert gpu.serial == row["serial"]  # both None where the board has no serial


def test_total_memory_matches_nvidia_smi_to_the_mib(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        assert gpu.memory_total_bytes // MIB == int(row["memory.total"])


def test_free_memory_matches_nvidia_smi_within_what_moves(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        assert abs(gpu.memory_free_bytes - int(row["memory.free"]) * MIB) <= MOVING_MEMORY_TOLERANCE_BYTES


def test_used_memory_matches_nvidia_smi_within_what_moves(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        smi_used = int(row["memory.used"]) * MIB
        candidates = [gpu.memory_used_bytes]
        # nvidia-smi's "used" leaves out the driver's reserved region on current drivers
        # (nvmlMemory_v2); older ones folded it in (nvmlMemory_t): accept either bookkeeping.
        if gpu.memory_reserved_bytes is not None:
            candidates.append(gpu.memory_used_bytes + gpu.memory_reserved_bytes)
        assert min(abs(smi_used - c) for c in candidates) <= MOVING_MEMORY_TOLERANCE_BYTES, (smi_used, candidates)


def test_memory_fields_add_up_to_the_total(snapshot):
    for gpu in snapshot.gpus:
        used_free = gpu.memory_used_bytes + gpu.memory_free_bytes
        sums = [used_free, used_free + (gpu.memory_reserved_bytes or 0)]  # v1 "used" already holds reserved
        assert min(abs(s - gpu.memory_total_bytes) for s in sums) <= 16 * MIB, (gpu.memory_total_bytes, sums)


def test_driver_version_matches_nvidia_smi(snapshot, smi_gpus):
    assert snapshot.cuda.driver_version == smi_gpus[0]["driver_version"]


def test_compute_capability_matches_nvidia_smi(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        major, minor = row["compute_cap"].split(".")
        assert gpu.compute_capability == [int(major), int(minor)]


def test_pcie_link_maximums_match_nvidia_smi(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        if row["pcie.link.gen.max"] is not None:
            assert gpu.pcie_gen_max == int(row["pcie.link.gen.max"])
        if row["pcie.link.width.max"] is not None:
            assert gpu.pcie_width_max == int(row["pcie.link.width.max"])


def test_temperature_matches_nvidia_smi_within_a_few_degrees(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        assert abs(gpu.temperature_c - int(row["temperature.gpu"])) <= 5


def test_power_limit_matches_nvidia_smi(snapshot, smi_gpus):
    for row, gpu in _pairs(snapshot, smi_gpus):
        if row["power.limit"] is None:
            assert gpu.power_limit_w is None or "power_limit_w" in gpu.unavailable
        else:
            assert gpu.power_limit_w == pytest.approx(float(row["power.limit"]), abs=1.0)


def test_datasheet_bandwidth_of_an_h100_or_h200_is_in_the_hbm3_range(snapshot, record):
    # H100 SXM 3.35 TB/s, H200 4.8 TB/s, H100 PCIe 2.0 TB/s (NVIDIA datasheets).
    for gpu in snapshot.gpus:
        if gpu.name and ("H100" in gpu.name or "H200" in gpu.name):
            record(what="nvml_peak_bandwidth", gpu=gpu.name, bytes_per_s=gpu.memory_bandwidth_bytes_per_s)
            assert 1.9e12 <= gpu.memory_bandwidth_bytes_per_s <= 5.2e12

