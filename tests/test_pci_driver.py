"""A GPU host without a working driver never passes the gate (issue 24, item 3).

The PCI bus (probes/pci.py, replayed from fixtures/fs/derived-pci-*) shows the boards whatever
the driver does; when NVML has no driver but the bus has an NVIDIA GPU, `check` and the survey
say FAIL with the fix. A machine with no GPU on its bus keeps today's answer."""

from __future__ import annotations

import copy
import json
import os

import pytest

from conftest import FS_FIXTURES, NVML_FIXTURES, SNAPSHOT_FIXTURES
from deepseek_probe import cli, survey
from deepseek_probe.probes.pci import probe_pci_gpus
from deepseek_probe.snapshot import PciDevice, Snapshot

H100_NO_DRIVER_BUS = os.path.join(FS_FIXTURES, "derived-pci-h100-no-driver")
NO_GPU_BUS = os.path.join(FS_FIXTURES, "derived-pci-no-gpu")
NO_DRIVER = os.path.join(SNAPSHOT_FIXTURES, "derived-h100-no-driver.json")


def snap(name):
    return Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, f"{name}.json"))


def run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        cli.main([str(a) for a in argv])
    out, _ = capsys.readouterr()
    return e.value.code, out


def test_the_bus_shows_the_h100_and_not_its_audio_function_or_the_emulated_vga():
    gpus, reason = probe_pci_gpus(H100_NO_DRIVER_BUS)
    assert reason is None
    assert gpus == [PciDevice("0000:00:06.0", "0x10de", "0x2330", "0x030200")]


def test_a_server_bus_with_only_a_bmc_display_has_no_gpu():
    assert probe_pci_gpus(NO_GPU_BUS) == ([], None)


def test_no_sysfs_is_unknown_with_its_reason(tmp_path):
    assert probe_pci_gpus(str(tmp_path)) == (None, "not_found")


def test_the_probe_records_the_bus_in_the_snapshot_and_its_json():
    from fake_nvml import FakeNvml
    from deepseek_probe.probes import take_snapshot

    with open(os.path.join(NVML_FIXTURES, "h100.json"), encoding="utf-8") as f:
        missing = FakeNvml(json.load(f), init_error="LibraryNotFound")
    s = take_snapshot(root=H100_NO_DRIVER_BUS, nvml=missing, environ={})
    assert s.cuda.nvml_status == "library_not_found" and s.gpus == []
    assert [d.address for d in s.pci_gpus] == ["0000:00:06.0"]
    assert Snapshot.from_json(s.to_json()).pci_gpus == s.pci_gpus


def test_an_older_snapshot_without_the_field_loads_as_unknown_and_keeps_its_bytes():
    s = snap("h100")
    assert s.pci_gpus is None
    assert "pci_gpus" not in s.to_json()


def test_check_fails_an_h100_host_whose_nvml_library_is_missing(capsys):
    for runtime in ("vllm", "llamacpp", "transformers"):
        code, out = run(capsys, "check", "--snapshot", NO_DRIVER, "--model", "7b", "--runtime", runtime,
                        "--format", "json")
        doc = json.loads(out)
        driver = [f for f in doc["profiles"][0]["findings"] if f["check"] == "driver.present"]
        assert code == 2 and doc["verdict"] == "fail", runtime
        assert driver[0]["level"] == "fail" and "PCI bus" in driver[0]["message"]
        assert "nvidia-smi" in driver[0]["suggestion"]


def test_the_survey_fails_it_and_never_says_health_checks_pass(capsys):
    code, out = run(capsys, "check", "--snapshot", NO_DRIVER)
    assert code == 2
    assert "health checks pass" not in out
    assert "FAIL  driver.present" in out


def test_a_machine_with_no_gpu_on_its_bus_keeps_todays_pass():
    s = snap("nogpu-dev")
    before = survey.health_findings(s)
    s.pci_gpus, _ = probe_pci_gpus(NO_GPU_BUS)
    after = survey.health_findings(s)
    assert [f.level for f in before] == [f.level for f in after] == ["pass"]


def test_a_driver_mismatch_with_the_gpu_on_the_bus_fails_and_without_the_bus_stays_unknown():
    s = snap("derived-h100-driver-mismatch")
    levels = {f.check: f.level for f in survey.health_findings(s)}
    assert levels["driver.present"] == "unknown"  # an older snapshot: the bus was not read
    s.pci_gpus = [PciDevice("0000:00:06.0", "0x10de", "0x2330", "0x030200")]
    found = {f.check: f for f in survey.health_findings(s)}
    assert found["driver.present"].level == "fail" and "reboot" in found["driver.present"].suggestion


def test_an_amd_board_no_driver_lists_fails_naming_amdgpu():
    s = copy.deepcopy(snap("nogpu-dev"))
    s.pci_gpus = [PciDevice("0000:03:00.0", "0x1002", "0x744c", "0x030000")]  # RX 7900 XTX
    found = [f for f in survey.health_findings(s) if f.check == "driver.present"]
    assert [f.level for f in found] == ["fail"]
    assert "amdgpu" in found[0].message and "rocm-smi" in found[0].suggestion


def test_a_working_driver_with_its_gpu_on_the_bus_still_passes():
    s = snap("h100")
    s.pci_gpus = [PciDevice("0000:00:06.0", "0x10de", "0x2330", "0x030200")]
    assert {f.check: f.level for f in survey.health_findings(s)}["driver.present"] == "pass"
