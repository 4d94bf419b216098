"""AMD probe on recorded sysfs/KFD trees (fixtures/fs/derived-rx7900xtx-rocm6, derived-mi300x-8)."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import FS_FIXTURES

from deepseek_probe.probes import take_snapshot
from deepseek_probe.probes.gpu import amd

RX = os.path.join(FS_FIXTURES, "derived-rx7900xtx-rocm6")
MI = os.path.join(FS_FIXTURES, "derived-mi300x-8")


def test_rx_7900_xtx_reads_gfx1100_96_cus_24_gib_and_rocm_6_2():
    rocm, gpus = amd.probe_amd(RX, {}, amdsmi=False)
    assert rocm.rocm_version == "6.2.4" and rocm.source == "sysfs" and rocm.kfd_present
    assert rocm.hip_runtime_path.endswith("libamdhip64.so.6.2.60204")
    (g,) = gpus  # the DP connector and renderD128 entries are not cards
    assert (g.vendor, g.gfx_target, g.compute_units) == ("amd", "gfx1100", 96)
    assert g.memory_total_bytes == 25753026560 and g.memory_free_bytes == 25753026560 - 1181116416
    assert (g.pcie_gen_current, g.pcie_width_current, g.temperature_c) == (4, 16, 41)
    assert g.power_usage_w == 28.0 and g.power_limit_w == 327.0 and g.busy_percent == 3
    assert g.uuid is None and g.unavailable["uuid"] == "not_supported"


def test_mi300x_node_skips_the_bmc_display_and_matches_kfd_nodes_by_pci_address():
    rocm, gpus = amd.probe_amd(MI, {}, amdsmi=False)
    assert len(gpus) == 8 and rocm.rocm_version == "6.3.1"
    assert {g.gfx_target for g in gpus} == {"gfx942"} and {g.compute_units for g in gpus} == {304}
    assert gpus[7].pci_bus_id == "0000:e5:00.0" and gpus[0].name == "AMD Instinct MI300X"


@pytest.mark.parametrize("value,name", [(110000, "gfx1100"), (90402, "gfx942"), (90010, "gfx90a"),
                                        (100300, "gfx1030"), (120001, "gfx1201"), (90500, "gfx950")])
def test_kfd_target_version_becomes_the_llvm_target_name(value, name):
    assert amd.gfx_name(value) == name


@pytest.mark.parametrize("env,visible", [
    ({"HIP_VISIBLE_DEVICES": "1,3"}, {1, 3}),
    ({"ROCR_VISIBLE_DEVICES": "4,5,6", "HIP_VISIBLE_DEVICES": "0"}, {4}),  # HIP indexes ROCr's list
    ({"CUDA_VISIBLE_DEVICES": "2"}, {2}),  # HIP honours it too
    ({"HIP_VISIBLE_DEVICES": ""}, set()),
    ({"HIP_VISIBLE_DEVICES": "0,9,1"}, {0}),  # an invalid entry ends the list
    ({"ROCR_VISIBLE_DEVICES": "GPU-5f1c2a0000000002"}, {2}),
])
def test_visibility_variables(env, visible):
    _, gpus = amd.probe_amd(MI, env, amdsmi=False)
    assert {g.index for g in gpus if g.visible} == visible


def test_amdsmi_overrides_names_and_vram_when_importable():
    class FakeSmi:
        def amdsmi_init(self): pass
        def amdsmi_shut_down(self): pass
        def amdsmi_get_processor_handles(self): return ["h0"]
        def amdsmi_get_gpu_device_bdf(self, h): return "0000:03:00.0"
        def amdsmi_get_gpu_asic_info(self, h):
            return {"market_name": "Radeon RX 7900 XTX", "target_graphics_version": "gfx1100", "num_compute_units": 96}
        def amdsmi_get_gpu_vram_usage(self, h): return {"vram_total": 24560, "vram_used": 1126}
        def amdsmi_get_gpu_activity(self, h): raise RuntimeError("not supported")

    rocm, (g,) = amd.probe_amd(RX, {}, amdsmi=FakeSmi())
    assert rocm.source == "amdsmi" and g.name == "Radeon RX 7900 XTX"
    assert g.memory_total_bytes == 24560 * 1024 * 1024
    assert g.busy_percent == 3  # the failing amdsmi call kept sysfs' value


def test_a_broken_amdsmi_falls_back_to_sysfs():
    class Broken:
        def amdsmi_init(self): raise OSError("libamd_smi.so: cannot open")
        def amdsmi_shut_down(self): pass

    rocm, (g,) = amd.probe_amd(RX, {}, amdsmi=Broken())
    assert rocm.source == "sysfs" and "amdsmi failed" in rocm.unavailable["source"]
    assert g.gfx_target == "gfx1100"


def test_odd_and_missing_files_give_none_with_a_reason(tmp_path):
    root = str(tmp_path / "t")
    shutil.copytree(RX, root)
    dev = os.path.join(root, "sys/class/drm/card1/device")
    with open(os.path.join(dev, "mem_info_vram_total"), "w") as f:
        f.write("lots\n")
    os.remove(os.path.join(dev, "gpu_busy_percent"))
    shutil.rmtree(os.path.join(root, "sys/class/kfd"))
    shutil.rmtree(os.path.join(dev, "hwmon"))
    _, (g,) = amd.probe_amd(root, {}, amdsmi=False)
    assert g.memory_total_bytes is None and g.unavailable["memory_total_bytes"].startswith("error: unparsable")
    assert g.unavailable["busy_percent"] == "not_found" and g.unavailable["gfx_target"] == "not_found"
    assert g.temperature_c is None and g.unavailable["temperature_c"] == "not_found"


def test_a_host_without_amd_gpus_has_no_rocm_key(tmp_path):
    snap = take_snapshot(root=os.path.join(FS_FIXTURES, "dev-cgroup-v1"), nvml=_no_nvml())
    assert snap.rocm is None and "rocm" not in snap.to_dict()


def test_take_snapshot_on_the_rx_tree_lists_the_amd_gpu_after_nvml():
    snap = take_snapshot(root=RX, nvml=_no_nvml())
    assert snap.cuda.nvml_status == "library_not_found"
    assert [g.vendor for g in snap.gpus] == ["amd"] and snap.rocm.rocm_version == "6.2.4"


def _no_nvml():
    import types

    from deepseek_probe.probes import _nvml

    module = types.ModuleType("pynvml")
    module.NVMLError = _nvml.NVMLError

    def init():
        raise _nvml.NVMLError(_nvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    module.nvmlInit = init
    return module


def test_amd_cards_are_the_card_n_entries_as_re_would_match_them(tmp_path):
    import re

    from deepseek_probe.probes.gpu._common import amd_cards

    names = ["card0", "card12", "card1-DP-1", "card", "cardX", "card\u0663", "card²", "renderD128"]
    for n in names:
        (tmp_path / "sys" / "class" / "drm" / n / "device").mkdir(parents=True)
        (tmp_path / "sys" / "class" / "drm" / n / "device" / "vendor").write_text("0x1002\n")
    expected = sorted((n for n in names if re.fullmatch(r"card\d+", n)), key=lambda n: int(n[4:]))
    assert amd_cards(str(tmp_path)) == expected == ["card0", "card\u0663", "card12"]
