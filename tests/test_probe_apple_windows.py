"""macOS and Windows probe paths, run on Linux by swapping the platform (probes/_platform.py)
and handing in recorded readers (sysctl values, psutil answers, an NVML recording)."""

from __future__ import annotations

import os
import sys
import types

import pytest
from conftest import FIXTURES_DIR, NVML_FIXTURES

from deepseek_probe.probes import _nvml, _platform, take_snapshot
from deepseek_probe.probes.gpu import apple, read_gpus, vendors_for

GIB = 1024 ** 3
sys.path.insert(0, os.path.dirname(__file__))
import make_platform_fixtures as mk  # noqa: E402
from fake_nvml import FakeNvml  # noqa: E402


def test_platform_names_and_vendors_per_os():
    assert [_platform.current(p) for p in ("linux", "darwin", "win32", "freebsd13")] == \
        ["linux", "macos", "windows", "other"]
    assert vendors_for("darwin") == ("apple",) and vendors_for("win32") == ("nvidia",)
    assert vendors_for("linux") == ("nvidia", "amd")


def test_m3_max_64gb_budgets_three_quarters_and_300_or_400_gbs_by_core_count():
    values = dict(mk.APPLE["derived-m3max-64gb.json"])
    (g,) = apple.probe_apple(sysctl=values.get, metal=lambda: None)
    assert g.memory_total_bytes == 48 * GIB and g.unified_memory_bytes == 64 * GIB
    assert g.memory_bandwidth_bytes_per_s == 400e9
    values["hw.physicalcpu"] = "14"
    (g,) = apple.probe_apple(sysctl=values.get, metal=lambda: None)
    assert g.memory_bandwidth_bytes_per_s == 300e9


def test_iogpu_wired_limit_raises_the_budget_and_metal_wins_over_both():
    values = dict(mk.APPLE["derived-m2ultra-192gb.json"], **{"iogpu.wired_limit_mb": "180000"})
    (g,) = apple.probe_apple(sysctl=values.get, metal=lambda: None)
    assert (g.memory_total_bytes, g.memory_limit_source) == (180000 * 1024 * 1024, "iogpu.wired_limit_mb")
    (g,) = apple.probe_apple(sysctl=values.get, metal=lambda: 150 * GIB)
    assert (g.memory_total_bytes, g.memory_limit_source) == (150 * GIB, "metal")


@pytest.mark.parametrize("ram_gib,expected_mib", [(16, 10922.67), (32, 21845.33), (96, 73728.0)])
def test_default_rule_matches_the_logged_metal_limits(ram_gib, expected_mib):
    limit, _ = apple.working_set_limit(ram_gib * GIB, 0)
    assert abs(limit / 1024 ** 2 - expected_mib) < 0.01


def test_an_intel_mac_or_a_failing_sysctl_gives_no_apple_gpu():
    assert apple.probe_apple(sysctl={"machdep.cpu.brand_string": "Intel(R) Core(TM) i9-9980HK"}.get) == []

    def broken(name):
        raise OSError("sysctl: unknown oid")
    assert apple.probe_apple(sysctl=broken, metal=lambda: None) == []


def test_sysctlbyname_on_linux_is_none_not_a_crash():
    assert apple.sysctlbyname("hw.memsize") is None


def test_windows_nvml_comes_from_system32_then_nvsmi():
    paths = _nvml.library_candidates("win32", {"WINDIR": "D:\\Win", "ProgramFiles": "D:\\PF"})
    assert paths == ["D:\\Win\\System32\\nvml.dll", "D:\\PF\\NVIDIA Corporation\\NVSMI\\nvml.dll"]
    assert _nvml.library_candidates("linux") == ["libnvidia-ml.so.1"]


def test_windows_rtx_4090_reads_wddm_and_the_display_it_drives():
    nvml = FakeNvml.from_file(os.path.join(NVML_FIXTURES, "derived-win-rtx4090.json"))
    reading = read_gpus(environ={}, platform="win32", nvml=nvml)
    (g,) = reading.gpus
    assert (g.driver_model, g.display_active) == ("wddm", True)
    assert reading.cuda.driver_version == "581.57" and reading.rocm is None
    assert "nvmlDeviceGetDriverModel" in nvml.calls or any("DriverModel" in c for c in nvml.calls)


def test_linux_nvml_does_not_ask_windows_only_calls():
    nvml = FakeNvml.from_file(os.path.join(NVML_FIXTURES, "h100.json"))
    reading = read_gpus(root=os.path.join(FIXTURES_DIR, "fs", "dev-cgroup-v1"), environ={}, platform="linux", nvml=nvml)
    assert not any("DriverModel" in c or "DisplayActive" in c for c in nvml.calls)
    assert reading.gpus[0].driver_model is None and "driver_model" not in reading.gpus[0].unavailable


def test_take_snapshot_on_windows_reads_no_proc_or_sys(monkeypatch):
    from deepseek_probe.probes import _read, host_psutil

    opened = []
    real = _read.at
    monkeypatch.setattr(_read, "at", lambda root, path: opened.append(path) or real(root, path))
    monkeypatch.setattr(_platform, "OVERRIDE", _platform.WINDOWS)
    ps = mk.FakePsutil(64 * GIB, 48 * GIB, 8 * GIB, 32, 16, 2 * 10 ** 12, 10 ** 12, "C:\\", "NTFS", "C:\\")
    monkeypatch.setattr(host_psutil, "_psutil", lambda module: ps)
    monkeypatch.setattr(host_psutil, "probe_cpu", lambda *a, **k: host_psutil.CpuInfo(model="x"))
    nvml = FakeNvml.from_file(os.path.join(NVML_FIXTURES, "derived-win-rtx4090.json"))
    snap = take_snapshot(nvml=nvml, environ={})
    assert snap.system.os_name == "Windows" and snap.memory.total_bytes == 64 * GIB
    assert snap.gpus[0].driver_model == "wddm"
    assert not [p for p in opened if p.startswith(("/proc", "/sys", "/etc"))]


def test_take_snapshot_on_macos_has_no_nvml(monkeypatch):
    from deepseek_probe.probes import host_psutil
    from deepseek_probe.probes.gpu import apple as apple_mod

    monkeypatch.setattr(_platform, "OVERRIDE", _platform.MACOS)
    ps = mk.FakePsutil(64 * GIB, 32 * GIB, 0, 16, 16, 10 ** 12, 10 ** 11, "/", "apfs", "/dev/disk3s1")
    monkeypatch.setattr(host_psutil, "_psutil", lambda module: ps)
    monkeypatch.setattr(host_psutil, "probe_cpu", lambda *a, **k: host_psutil.CpuInfo(model="Apple M3 Max"))
    values = mk.APPLE["derived-m3max-64gb.json"]
    monkeypatch.setattr(apple_mod, "sysctlbyname", values.get)
    monkeypatch.setattr(apple_mod, "metal_working_set", lambda: None)
    snap = take_snapshot(environ={})
    assert snap.cuda.nvml_status == "not_applicable"
    assert [g.vendor for g in snap.gpus] == ["apple"] and snap.gpus[0].memory_total_bytes == 48 * GIB
    assert snap.gpus[0].memory_free_bytes == 32 * GIB  # RAM available (32 GiB) bounds the 48 GiB limit


def test_wsl2_names_the_windows_driver(tmp_path):
    import shutil

    root = str(tmp_path / "wsl")
    shutil.copytree(os.path.join(FIXTURES_DIR, "fs", "derived-wsl2"), root)
    os.makedirs(os.path.join(root, "usr/lib/wsl/drivers/nv_dispi.inf_amd64_8f3a2b1c0d9e7f65"))
    module = types.ModuleType("pynvml")
    module.NVMLError = _nvml.NVMLError
    module.nvmlInit = lambda: (_ for _ in ()).throw(_nvml.NVMLError(_nvml.NVML_ERROR_LIBRARY_NOT_FOUND))
    snap = take_snapshot(root=root, nvml=module, environ={})
    assert snap.system.wsl and snap.cuda.host_driver_os == "windows"
    assert snap.cuda.wsl_driver_store == "nv_dispi.inf_amd64_8f3a2b1c0d9e7f65"


def test_macos_cpu_model_and_arm_features_come_from_sysctl_not_py_cpuinfo():
    from deepseek_probe.probes import host_psutil

    values = {"machdep.cpu.brand_string": "Apple M4 Max", "hw.optional.AdvSIMD": "1",
              "hw.optional.arm.FEAT_I8MM": "1", "hw.optional.arm.FEAT_BF16": "0"}
    ps = mk.FakePsutil(64 * GIB, 32 * GIB, 0, 16, 16, 1, 1, "/", "apfs", "d")
    info = host_psutil.probe_cpu(ps, platform="darwin", sysctl=values.get)
    assert (info.model, info.vendor, info.flags) == ("Apple M4 Max", "Apple", ["asimd", "i8mm"])


def test_windows_cpu_model_from_the_registry_and_flags_from_feature_ids():
    from deepseek_probe.probes import host_psutil

    class Reader:
        def processor_name(self):
            return "AMD Ryzen 9 9950X 16-Core Processor  "

        def feature_present(self, pf):
            return pf in (39, 40, 41)

    ps = mk.FakePsutil(64 * GIB, 32 * GIB, 0, 32, 16, 1, 1, "C:\\", "NTFS", "C:\\")
    info = host_psutil.probe_cpu(ps, platform="win32", windows=Reader())
    assert info.model == "AMD Ryzen 9 9950X 16-Core Processor"
    assert info.flags == ["avx", "avx2", "avx512f"] and info.unavailable["flags"].startswith("partial")
