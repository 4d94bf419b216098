"""Readiness checks on real snapshots (fixtures/snapshots: converted H100 / H200 / 2xH200
recordings, the no-GPU dev machine, and clearly named derived variants)."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from pathlib import Path

import pytest

from deepseek_probe import assess  # noqa: E402
from deepseek_probe import runtimes
from deepseek_probe import profiles, rules
from deepseek_probe.estimate import estimate
from deepseek_probe.snapshot import GpuProcess, Snapshot

SNAPSHOTS = Path(__file__).resolve().parent.parent / "fixtures" / "snapshots"
GIB = 2**30


def snap(name: str) -> Snapshot:
    return Snapshot.load(str(SNAPSHOTS / f"{name}.json"))


def request(model: str, runtime: str = "transformers", **changes):
    spec = profiles.get_model(model)
    settings = runtimes.default_settings(spec, runtime)
    return spec, replace(settings, **changes) if changes else settings


def evaluate(snapshot: Snapshot, model: str, runtime: str = "transformers", **changes):
    spec, settings = request(model, runtime, **changes)
    return assess.evaluate(snapshot, spec, settings)


def finding(profile, check_id: str):
    found = [f for f in profile.findings if f.check == check_id]
    assert found, f"no {check_id} finding in {[f.check for f in profile.findings]}"
    return found[0]


def gpu_need_bytes(model: str, runtime: str = "transformers", **changes) -> int:
    spec, settings = request(model, runtime, **changes)
    return estimate(spec, settings).per_device.total_bytes


# --- the must-hold cases of issue 5 --------------------------------------------------------


def test_7b_bf16_at_4k_is_ready_on_the_h100():
    result = assess.check(snap("h100"), [request("7b", precision="bf16", context=4096)])
    assert result.exit_code in (0, 1)
    vram = finding(result.profiles[0], "gpu.vram")
    assert vram.level == "pass"
    assert vram.measured == snap("h100").gpus[0].memory_free_bytes  # free memory, not total


def test_671b_is_not_ready_on_the_h100_and_every_failure_says_what_to_do():
    result = assess.check(snap("h100"), [request("671b")])
    assert result.exit_code == 2
    failing = [f for f in result.profiles[0].findings if f.level == "fail"]
    assert any(f.check == "gpu.vram" for f in failing)
    for f in failing:
        assert f.suggestion and f.suggestion.strip(), f.check


@pytest.mark.parametrize("fixture", sorted(p.stem for p in SNAPSHOTS.glob("*.json")))
@pytest.mark.parametrize("runtime", ["transformers", "vllm", "llamacpp"])
def test_every_fixture_gets_a_verdict_and_every_non_pass_finding_a_suggestion(fixture, runtime):
    requests = [request(m, runtime) for m in profiles.HEADLINE]
    result = assess.check(snap(fixture), requests)
    assert result.verdict in ("pass", "warn", "fail", "unknown")
    for p in result.profiles:
        for f in p.findings:
            if f.level != "pass":
                assert f.suggestion, f"{fixture} {runtime} {p.model} {f.check}: {f.message}"


# --- VRAM: free memory, tenants, margins ----------------------------------------------------


def test_a_tenant_holding_60gb_makes_70b_bf16_fail_on_an_h200_where_it_otherwise_fits():
    clean = evaluate(snap("h200"), "70b", precision="bf16", context=4096)
    shared = evaluate(snap("derived-h200-tenant-60gb"), "70b", precision="bf16", context=4096)
    assert finding(clean, "gpu.vram").level == "pass"
    vram = finding(shared, "gpu.vram")
    assert vram.level == "fail"
    assert vram.measured == snap("derived-h200-tenant-60gb").gpus[0].memory_free_bytes
    assert finding(shared, "gpu.other_processes").level == "warn"


def test_7b_still_fits_next_to_the_tenant_but_the_shared_gpu_is_a_warning():
    p = evaluate(snap("derived-h200-tenant-60gb"), "7b")
    assert finding(p, "gpu.vram").level == "pass"
    assert finding(p, "gpu.other_processes").level == "warn"
    assert p.verdict == "warn"


def test_a_model_needs_one_gib_of_headroom_beyond_its_estimate():
    margin = 1024 * 2**20  # llama.cpp --fit-target default (anchors-memory-tools.md §1.7)
    s = snap("h100")
    need = gpu_need_bytes("7b")
    s.gpus[0].memory_free_bytes = need + margin - 1
    assert finding(evaluate(s, "7b"), "gpu.vram").level == "fail"
    s.gpus[0].memory_free_bytes = need + margin
    assert finding(evaluate(s, "7b"), "gpu.vram").level == "pass"


def test_unreadable_free_memory_is_unknown_with_the_reason():
    s = snap("h100")
    s.gpus[0].memory_free_bytes = None
    s.gpus[0].unavailable["memory_free_bytes"] = "no_permission"
    p = evaluate(s, "7b")
    vram = finding(p, "gpu.vram")
    assert vram.level == "unknown" and "no_permission" in vram.message
    assert p.verdict == "unknown"


def test_vllm_refuses_when_its_default_reservation_exceeds_free_memory_so_we_say_which_flag():
    s = snap("derived-h200-tenant-60gb")
    gpu = s.gpus[0]
    p = evaluate(s, "33b", "vllm")
    vram = finding(p, "gpu.vram")
    assert 0.9 * gpu.memory_total_bytes > gpu.memory_free_bytes  # the premise of the case
    assert vram.level == "warn"
    util = float(re.search(r"--gpu-memory-utilization (\d\.\d+)", vram.suggestion).group(1))
    assert util * (gpu.memory_total_bytes - (gpu.memory_reserved_bytes or 0)) <= gpu.memory_free_bytes
    assert (util + 0.01) * gpu.memory_total_bytes > gpu.memory_free_bytes


def test_vllm_reports_the_context_and_concurrency_its_kv_pool_allows():
    p = evaluate(snap("h200"), "33b", "vllm", context=4096)
    vram = finding(p, "gpu.vram")
    assert vram.level == "pass"
    m = re.search(r"(\d+) sequences of", vram.message)
    assert m and int(m.group(1)) > 1


# --- multi-GPU --------------------------------------------------------------------------------


def test_70b_bf16_with_vllm_is_split_over_both_h200s_over_nvlink():
    p = evaluate(snap("2xh200"), "70b", "vllm", context=4096)
    assert p.tensor_parallel == 2 and sorted(p.gpus_used) == [0, 1]
    assert finding(p, "gpu.vram").level == "pass"
    assert finding(p, "gpu.tensor_parallel").level == "pass"
    link = finding(p, "gpu.interconnect")
    assert link.level == "pass" and "NVLink" in link.message


def test_tensor_parallel_over_pcie_only_is_a_warning_for_vllm():
    s = snap("2xh200")
    s.links[0].nvlink_p2p = False
    link = finding(evaluate(s, "70b", "vllm", context=4096), "gpu.interconnect")
    assert link.level == "warn" and "PCIe" in link.message and link.suggestion


def test_one_gpu_is_used_when_one_is_enough():
    p = evaluate(snap("2xh200"), "7b")
    assert p.tensor_parallel == 1 and len(p.gpus_used) == 1


def test_asking_for_more_gpus_than_are_visible_fails():
    p = evaluate(snap("h100"), "70b", tensor_parallel=2)
    tp = finding(p, "gpu.tensor_parallel")
    assert tp.level == "fail" and tp.measured == 1 and tp.required == 2


def test_docker_default_shm_breaks_vllm_tensor_parallel():
    s = snap("2xh200")
    s.memory.shm_total_bytes = 64 * 2**20
    shm = finding(evaluate(s, "70b", "vllm", context=4096), "host.shm")
    assert shm.level == "fail" and "--shm-size" in shm.suggestion


def test_a_gpu_hidden_by_cuda_visible_devices_is_not_used():
    s = snap("derived-2xh200-visible-1")
    visible = [g.index for g in s.gpus if g.visible]
    p = evaluate(s, "7b")
    assert p.gpus_used == visible


# --- no GPU, no driver, NVML trouble --------------------------------------------------------


def test_no_driver_fails_a_gpu_runtime_and_says_install_the_driver():
    p = evaluate(snap("nogpu-dev"), "7b")
    present = finding(p, "gpu.present")
    assert present.level == "fail" and "driver" in present.suggestion
    assert finding(p, "driver.present").level == "fail"
    assert p.exit_code == 2


def test_no_gpu_with_llamacpp_runs_on_the_cpu_with_a_warning():
    p = evaluate(snap("nogpu-dev"), "7b", "llamacpp")
    assert finding(p, "gpu.present").level == "warn"
    offload = finding(p, "llamacpp.offload")
    assert offload.level == "warn" and "CPU" in offload.message
    assert p.verdict == "warn"


def test_a_driver_library_mismatch_is_unknown_not_a_crash():
    p = evaluate(snap("derived-h100-driver-mismatch"), "7b")
    assert p.verdict == "unknown" and p.exit_code == 3
    assert "lib_rm_version_mismatch" in finding(p, "gpu.present").message


def test_nvml_permission_denied_is_unknown_and_says_so():
    s = snap("nogpu-dev")
    s.cuda.nvml_status = "no_permission"
    p = evaluate(s, "7b")
    assert finding(p, "gpu.present").level == "unknown"
    assert "no_permission" in finding(p, "driver.present").message


# --- driver vs CUDA ------------------------------------------------------------------------


def _with_driver(version: str, max_cuda: str) -> Snapshot:
    s = snap("h100")
    s.cuda.driver_version, s.cuda.cuda_driver_version = version, max_cuda
    return s


def test_a_525_driver_cannot_run_the_cuda_13_torch_wheel_but_a_cu12x_build_works():
    f = finding(evaluate(_with_driver("525.85.12", "12.0"), "7b"), "driver.cuda_version")
    assert f.level == "warn" and "cu12" in f.suggestion


def test_a_470_driver_is_too_old_for_every_build():
    for runtime in ("transformers", "vllm", "llamacpp"):
        f = finding(evaluate(_with_driver("470.82.01", "11.4"), "7b", runtime), "driver.cuda_version")
        assert f.level == "fail", runtime
        assert "525.60.13" in f.suggestion or "580.65.06" in f.suggestion


def test_a_550_driver_runs_vllm_cuda_12_9_wheels_under_minor_version_compatibility():
    f = finding(evaluate(_with_driver("550.54.15", "12.4"), "7b", "vllm"), "driver.cuda_version")
    assert f.level == "warn" and "12.9" in f.suggestion


def test_the_recorded_580_driver_is_fine_for_every_runtime():
    for runtime in ("transformers", "vllm", "llamacpp"):
        assert finding(evaluate(snap("h100"), "7b", runtime), "driver.cuda_version").level == "pass"


# --- compute capability -------------------------------------------------------------------


def _with_cc(major: int, minor: int) -> Snapshot:
    s = snap("h100")
    s.gpus[0].compute_capability = [major, minor]
    return s


def test_bf16_on_a_turing_gpu_fails_and_suggests_fp16():
    f = finding(evaluate(_with_cc(7, 5), "7b", "vllm", precision="bf16"), "gpu.compute_capability")
    assert f.level == "fail" and "fp16" in f.suggestion


def test_fp8_on_an_a100_fails_in_transformers_but_vllm_falls_back_to_marlin():
    ft = [f for f in evaluate(_with_cc(8, 0), "7b", precision="fp8").findings if f.check == "gpu.compute_capability"]
    fv = [f for f in evaluate(_with_cc(8, 0), "7b", "vllm", precision="fp8").findings if f.check == "gpu.compute_capability"]
    assert any(f.level == "fail" for f in ft)
    assert {f.level for f in fv} == {"warn"}


def test_fp8_on_hopper_passes():
    assert finding(evaluate(snap("h100"), "7b", precision="fp8"), "gpu.compute_capability").level == "pass"


# --- health -------------------------------------------------------------------------------


def test_mig_on_warns_and_leaves_the_vram_verdict_unknown():
    p = evaluate(snap("derived-h100-mig-on"), "7b")
    assert finding(p, "gpu.mig").level == "warn"
    assert finding(p, "gpu.vram").level == "unknown"


def test_mig_on_does_not_hide_a_model_that_cannot_fit_the_whole_gpu():
    assert finding(evaluate(snap("derived-h100-mig-on"), "671b"), "gpu.vram").level == "fail"


def test_a_hot_thermally_throttled_gpu_warns_twice():
    p = evaluate(snap("derived-h100-hot-throttled"), "7b")
    assert finding(p, "gpu.temperature").level == "warn"
    assert finding(p, "gpu.throttle").level == "warn"


def test_an_idle_gpu_clock_reason_is_not_throttling():
    s = snap("h100")
    assert s.gpus[0].throttle_reasons == ["gpu_idle"]  # as recorded
    assert finding(evaluate(s, "7b"), "gpu.throttle").level == "pass"


def test_pcie_width_below_max_warns_but_an_idle_gen_downshift_is_only_explained():
    s = snap("h100")
    s.gpus[0].pcie_gen_current = 1
    f = finding(evaluate(s, "7b"), "gpu.pcie_link")
    assert f.level == "pass" and "idle" in f.message
    s.gpus[0].pcie_width_current = 8
    assert finding(evaluate(s, "7b"), "gpu.pcie_link").level == "warn"


def test_failed_row_remapping_fails_and_uncorrected_ecc_errors_warn():
    s = snap("h100")
    s.gpus[0].ecc_uncorrected_volatile = 3
    assert finding(evaluate(s, "7b"), "gpu.ecc").level == "warn"
    s.gpus[0].remapped_rows_failed = True
    assert finding(evaluate(s, "7b"), "gpu.ecc").level == "fail"


def test_memory_used_by_processes_we_cannot_see_is_a_warning():
    s = snap("h100")
    g = s.gpus[0]
    g.memory_used_bytes, g.memory_free_bytes = 20 * GIB, g.memory_total_bytes - 20 * GIB
    assert g.processes == []
    assert finding(evaluate(s, "7b"), "gpu.other_processes").level == "warn"


def test_exclusive_process_mode_with_a_process_already_on_it_fails():
    s = snap("h100")
    s.gpus[0].compute_mode = "exclusive_process"
    s.gpus[0].processes = [GpuProcess(pid=4242, used_memory_bytes=GIB)]
    assert finding(evaluate(s, "7b"), "gpu.other_processes").level == "fail"


# --- host and disk --------------------------------------------------------------------------


def test_a_container_memory_limit_below_the_loading_need_fails():
    s = snap("h100")
    spec, settings = request("7b")
    need = estimate(spec, settings).host_ram_bytes
    s.memory.cgroup_limit_bytes = need - 1
    f = finding(assess.evaluate(s, spec, settings), "host.cgroup_memory")
    assert f.level == "fail" and f.required == need


def test_llamacpp_offload_of_70b_on_a_24gb_card_warns_with_tokens_per_second_and_needs_host_ram():
    s = snap("h100")
    g = s.gpus[0]
    g.memory_free_bytes = 24 * GIB
    g.memory_used_bytes = g.memory_total_bytes - g.memory_free_bytes
    p = evaluate(s, "70b", "llamacpp")
    offload = finding(p, "llamacpp.offload")
    assert offload.level == "warn" and "RAM" in offload.message
    assert finding(p, "gpu.vram").level == "warn"
    assert p.verdict in ("warn",)
    # the assessment's speed reads the CPU layers at host RAM bandwidth: slower than all on the GPU
    g.memory_free_bytes = g.memory_total_bytes - (1 << 30)
    full = evaluate(s, "70b", "llamacpp")
    assert p.fit == "partial" and full.fit == "gpu"
    assert 0 < p.decode_tokens_per_s["mid"] < full.decode_tokens_per_s["mid"] / 2
    # host RAM is checked for what stays on the CPU
    s.memory.available_bytes = GIB
    assert finding(evaluate(s, "70b", "llamacpp"), "host.ram").level == "fail"


def test_too_little_disk_for_the_checkpoint_warns():
    s = snap("h100")
    spec, settings = request("70b")
    s.disk.free_bytes = estimate(spec, settings).disk_bytes - 1
    f = finding(assess.evaluate(s, spec, settings), "disk.free")
    assert f.level == "warn" and f.suggestion


# --- exit codes and the JSON contract -------------------------------------------------------


def test_exit_codes_follow_the_design_table():
    design = {"pass": 0, "warn": 1, "fail": 2, "unknown": 3}  # DESIGN.md exit-code table
    h100, mig = snap("h100"), snap("derived-h100-mig-on")
    cases = {
        "pass": assess.check(h100, [request("7b")]),
        "warn": assess.check(snap("derived-h200-tenant-60gb"), [request("7b")]),
        "fail": assess.check(h100, [request("7b"), request("671b")]),
        "unknown": assess.check(mig, [request("7b")]),
    }
    for expected, result in cases.items():
        assert result.verdict == expected
        assert result.exit_code == design[expected]


def test_a_definite_failure_outranks_unknown():
    result = assess.check(snap("derived-h100-mig-on"), [request("7b"), request("671b")])
    assert [p.verdict for p in result.profiles] == ["unknown", "fail"]
    assert result.exit_code == 2


def test_check_json_has_the_contract_fields():
    doc = assess.check(snap("h100"), [request("7b")]).to_dict()
    assert {"schema_version", "tool_version", "verdict", "exit_code", "snapshot", "profiles"} <= set(doc)
    assert doc["schema_version"] == 1
    prof = doc["profiles"][0]
    assert {"model", "precision", "context", "verdict", "findings", "estimate"} <= set(prof)
    for f in prof["findings"]:
        assert set(f) == {"check", "level", "measured", "required", "message", "suggestion"}
    assert Snapshot.from_dict(copy.deepcopy(doc["snapshot"])).gpus[0].name == snap("h100").gpus[0].name


def test_settings_the_model_cannot_take_are_bad_input_not_a_verdict():
    from deepseek_probe.errors import InputError

    with pytest.raises(InputError):
        evaluate(snap("h100"), "7b", context=10**7)


# --- never a crash: every field the probes may fail to read -------------------------------------


def _optional_fields(record) -> list:
    import dataclasses
    import typing

    hints = typing.get_type_hints(type(record))
    return [f.name for f in dataclasses.fields(record)
            if type(None) in typing.get_args(hints[f.name])]


@pytest.mark.parametrize("fixture", ["2xh200", "derived-h200-tenant-60gb"])
def test_any_single_unreadable_field_gives_a_verdict_not_a_crash(fixture):
    base = snap(fixture)
    records = {"gpu": lambda s: s.gpus[0], "link": lambda s: s.links[0] if s.links else None,
               "memory": lambda s: s.memory, "disk": lambda s: s.disk, "cuda": lambda s: s.cuda,
               "system": lambda s: s.system, "cpu": lambda s: s.cpu}
    for kind, get in records.items():
        if get(base) is None:
            continue
        for name in _optional_fields(get(base)):
            s = copy.deepcopy(base)
            setattr(get(s), name, None)
            get(s).unavailable[name] = "not_supported"
            for runtime in ("transformers", "vllm", "llamacpp"):
                result = assess.check(s, [request(m, runtime) for m in ("7b", "70b", "236b")])
                assert result.exit_code in (0, 1, 2, 3), (kind, name, runtime)
                for p in result.profiles:
                    for f in p.findings:
                        assert f.level == "pass" or f.suggestion, (kind, name, runtime, f.check)
