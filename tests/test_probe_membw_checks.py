"""Host memory bandwidth (SMBIOS / EDAC / table / range) and the AMD, Apple and CPU-only checks."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import FS_FIXTURES, SNAPSHOT_FIXTURES

from deepseek_probe.checks import amd as amd_checks
from deepseek_probe.checks import apple as apple_checks
from deepseek_probe.checks import cpu_only
from deepseek_probe.probes import membw
from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes.base import Settings
from deepseek_probe.snapshot import MemoryInfo, Snapshot

EPYC = os.path.join(FS_FIXTURES, "derived-epyc9354p-cpu-only")


def _snap(name):
    return Snapshot.load(os.path.join(SNAPSHOT_FIXTURES, name))


def test_smbios_twelve_ddr5_4800_dimms_give_460_gbs():
    info = MemoryInfo()
    membw.fill_bandwidth(info, EPYC, "AMD EPYC 9354P 32-Core Processor", 64)
    assert (info.memory_type, info.dimm_count, info.memory_channels, info.dimm_speed_mts) == ("DDR5", 12, 12, 4800)
    assert info.memory_bandwidth_bytes_per_s == 12 * 8 * 4800e6 and info.memory_bandwidth_source == "smbios"


def test_without_smbios_edac_channels_and_the_family_speed(tmp_path):
    root = str(tmp_path / "t")
    shutil.copytree(EPYC, root)
    os.remove(os.path.join(root, "sys/firmware/dmi/tables/DMI"))  # root-only on most hosts
    info = MemoryInfo()
    membw.fill_bandwidth(info, root, "AMD EPYC 9354P 32-Core Processor", 64)
    assert info.memory_channels == 12 and info.memory_type == "DDR5"
    assert info.memory_bandwidth_source.startswith("edac") and info.memory_bandwidth_bytes_per_s == 460.8e9


def test_unknown_cpu_gets_a_labelled_range_not_a_number(tmp_path):
    info = MemoryInfo()
    membw.fill_bandwidth(info, str(tmp_path), "Some Future CPU", 8)
    assert info.memory_bandwidth_low_bytes_per_s < info.memory_bandwidth_bytes_per_s
    assert info.memory_bandwidth_source.startswith("range: unknown desktop CPU")


def test_a_truncated_smbios_table_does_not_crash(tmp_path):
    root = str(tmp_path / "t")
    shutil.copytree(EPYC, root)
    path = os.path.join(root, "sys/firmware/dmi/tables/DMI")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:50])
    info = MemoryInfo()
    membw.fill_bandwidth(info, root, None, 64)
    assert info.memory_bandwidth_source is not None  # fell through to EDAC/range


def _by_check(found):
    return {f.check: f for f in found}


def test_rx_7900_xtx_cannot_run_fp8_but_llamacpp_and_vllm_build_for_it():
    snap = _snap("derived-rx7900xtx-rocm6.json")
    spec = get_model("7b")
    f = _by_check(amd_checks.findings(snap, spec, Settings(runtime="vllm", precision="fp8")))
    assert f["amd.rocm_support"].level == "pass" and f["amd.runtime.vllm"].level == "pass"
    assert f["amd.precision"].level == "fail"
    f = _by_check(amd_checks.findings(snap, spec, Settings(runtime="llamacpp", precision="q4_k_m")))
    assert f["amd.runtime.llamacpp"].level == "pass" and f["amd.runtime.ollama"].level == "pass"


def test_mi300x_fp8_needs_rocm_6_2():
    snap = _snap("derived-mi300x-8.json")
    assert "amd.precision" not in _by_check(amd_checks.findings(snap, None, Settings(runtime="vllm", precision="fp8")))
    snap.rocm.rocm_version = "6.1.3"
    assert _by_check(amd_checks.findings(snap, None, Settings(runtime="vllm", precision="fp8")))["amd.precision"].level == "fail"


def test_rdna4_on_rocm_6_2_is_told_to_upgrade():
    snap = _snap("derived-rx7900xtx-rocm6.json")
    snap.gpus[0].gfx_target = "gfx1201"
    f = _by_check(amd_checks.findings(snap, None, Settings(runtime="vllm")))
    assert f["amd.rocm_support"].level == "warn" and f["amd.rocm_support"].required == "6.4"


def test_nvidia_snapshots_get_no_amd_or_apple_findings():
    snap = _snap("h100.json")
    assert amd_checks.findings(snap, get_model("7b"), Settings()) == []
    assert apple_checks.findings(snap, get_model("7b"), Settings()) == []
    assert cpu_only.findings(snap, get_model("7b"), Settings()) == []


def test_vllm_on_a_mac_fails_and_llamacpp_70b_q4_fits_in_the_m2_ultra_working_set():
    snap = _snap("derived-m2ultra-192gb.json")
    f = _by_check(apple_checks.findings(snap, get_model("70b"), Settings(runtime="vllm")))
    assert f["apple.runtime"].level == "fail"
    f = _by_check(apple_checks.findings(snap, get_model("70b"), Settings(runtime="llamacpp", precision="q4_k_m")))
    assert f["apple.working_set"].level == "pass" and f["apple.bandwidth"].measured > 0


def test_m3_max_64gb_bf16_70b_does_not_fit_and_a_near_miss_is_told_about_iogpu():
    snap = _snap("derived-m3max-64gb.json")
    f = _by_check(apple_checks.findings(snap, get_model("70b"), Settings(runtime="llamacpp", precision="bf16")))
    assert f["apple.working_set"].level == "fail"
    limit = snap.gpus[0].memory_total_bytes
    f = _by_check(apple_checks.findings(snap, get_model("70b"), Settings(runtime="llamacpp"),
                                        required_bytes=limit + 2 * 1024 ** 3))
    assert f["apple.working_set"].level == "warn" and "iogpu.wired_limit_mb" in f["apple.working_set"].suggestion


@pytest.mark.parametrize("flags,expected", [(["avx2", "avx512f", "avx512_vnni", "amx_int8"], "amx"),
                                            (["avx2", "avx512f"], "avx512"), (["avx2"], "avx2")])
def test_cpu_only_isa_note(flags, expected):
    snap = _snap("derived-epyc9354p-cpu-only.json")
    snap.cpu.flags = flags
    f = _by_check(cpu_only.findings(snap, get_model("7b"), Settings(runtime="llamacpp", precision="q4_k_m")))
    assert f["cpu.isa"].measured == expected


def test_cpu_only_decode_ceiling_scales_with_bandwidth():
    snap = _snap("derived-epyc9354p-cpu-only.json")
    spec, settings = get_model("7b"), Settings(runtime="llamacpp", precision="q4_k_m")
    fast = _by_check(cpu_only.findings(snap, spec, settings))["cpu.bandwidth"].measured
    snap.memory.memory_bandwidth_bytes_per_s /= 2
    assert _by_check(cpu_only.findings(snap, spec, settings))["cpu.bandwidth"].measured == pytest.approx(fast / 2, rel=0.01)


def test_windows_4090_driving_the_desktop_warns_and_vllm_needs_wsl():
    from deepseek_probe.checks import windows

    snap = _snap("derived-win-rtx4090.json")
    f = _by_check(windows.findings(snap, None, Settings(runtime="vllm")))
    assert f["windows.runtime"].level == "fail" and f["windows.display"].level == "warn"
    assert f["windows.display"].measured == snap.gpus[0].memory_used_bytes
    snap.gpus[0].display_active = False
    assert windows.findings(snap, None, Settings(runtime="llamacpp")) == []


def test_wsl_says_the_driver_is_the_windows_hosts():
    from deepseek_probe.checks import windows

    snap = _snap("h100.json")
    assert windows.findings(snap, None, Settings()) == []
    snap.cuda.host_driver_os, snap.cuda.wsl_driver_store = "windows", "nv_dispi.inf_amd64_x"
    (f,) = windows.findings(snap, None, Settings())
    assert f.check == "wsl.driver" and snap.cuda.driver_version in f.message


MODELS = ["AMD EPYC", "AMD EPYC 7763 64-Core Processor", "AMD EPYC 9354P 32-Core Processor",
          "AMD EPYC 9654 96-Core Processor", "AMD EPYC 9575F 64-Core Processor", "AMD EPYC 8534P",
          "AMD EPYC 7742 64-Core Processor", "AMD EPYC 7551 32-Core Processor",
          "Intel(R) Xeon(R) Platinum 8480+", "Intel(R) Xeon(R) Gold 6548Y+", "Intel(R) Xeon(R) Silver 4314",
          "Intel(R) Xeon(R) 6980P", "Intel(R) Xeon(R) Processor", "AMD Ryzen 9 7950X 16-Core Processor",
          "AMD Ryzen 9 9950X 16-Core Processor", "AMD Ryzen Threadripper PRO 7995WX 96-Cores",
          "13th Gen Intel(R) Core(TM) i9-13900K", "Apple M3 Max", ""]


def test_leading_text_is_what_re_s_parser_says_every_family_pattern_starts_with():
    try:
        from re import _parser  # CPython 3.11+
    except ImportError:  # pragma: no cover - 3.10
        import sre_parse as _parser
    for family in membw.CPU_FAMILIES:
        text = ""
        for op, arg in _parser.parse(family.pattern):
            if op is not _parser.LITERAL:
                break
            text += chr(arg)
        assert membw.leading_text(family.pattern) == text != "", family.pattern
    assert membw.leading_text("ab*c") == "a" and membw.leading_text("x(a|b)") == "x"
    assert membw.leading_text("EPYC|Xeon") == "" and membw.leading_text("\\d+") == ""


@pytest.mark.parametrize("model", MODELS)
def test_a_family_pattern_is_compiled_only_for_a_model_holding_its_leading_text(model, monkeypatch):
    import re

    expected = next((f for f in membw.CPU_FAMILIES if re.search(f.pattern, model)), None)
    searched = []
    real_search = re.search
    monkeypatch.setattr(re, "search", lambda p, s, *a: searched.append(p) or real_search(p, s, *a))
    assert membw.cpu_family(model) is expected
    assert all(membw.leading_text(p) in model for p in searched)
    if model == "AMD EPYC":  # a VM's model name: no pattern can match, none is compiled
        assert searched == []
