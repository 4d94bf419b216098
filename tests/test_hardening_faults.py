"""Fault injection through the whole `check` path (issue 6).

Every case runs take_snapshot(nvml=<fake NVML replaying a real recording, with a fault>,
root=<recorded /proc-/sys tree>) -> rules.check -> report.render in every format, and must keep
the same promises: no exception, a verdict that says what was (not) seen, a suggestion on every
finding that is not a pass, and a snapshot that survives its own JSON round trip.
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import FS_FIXTURES, NVML_FIXTURES
from fake_nvml import FakeNvml
from deepseek_probe import assess  # noqa: E402
from deepseek_probe import runtimes
from deepseek_probe import profiles, report, rules
from deepseek_probe.estimate import estimate
from deepseek_probe.findings import EXIT_CODES, LEVELS
from deepseek_probe.probes import DEFAULT_TIME_LIMIT_S, take_snapshot
from deepseek_probe.snapshot import Snapshot

GIB = 2**30
# A healthy host's real tree (the dev machine): RAM, cgroup v1, disk all readable, so a verdict
# other than "pass" for a small model comes from the injected GPU fault.
DEV_TREE = os.path.join(FS_FIXTURES, "dev-cgroup-v1")
NVML_ERRORS = ("NotSupported", "NoPermission", "Unknown")
REASON_OF = {"NotSupported": "not_supported", "NoPermission": "no_permission", "Unknown": "unknown"}


def recording(name: str) -> dict:
    with open(os.path.join(NVML_FIXTURES, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def fake(name: str = "2xh200", **faults) -> FakeNvml:
    return FakeNvml(recording(name), **faults)


def requests_for(models=("7b",), runtime="transformers"):
    specs = [profiles.get_model(m) for m in models]
    return [(s, runtimes.default_settings(s, runtime)) for s in specs]


def assert_sane(result) -> None:
    """What every `check` result must satisfy, whatever went wrong while probing."""
    assert result.exit_code == EXIT_CODES[result.verdict]
    for p in result.profiles:
        for f in p.findings:
            assert f.level in LEVELS, f
            assert f.message and "\n" not in f.message, f
            if f.level != "pass":
                assert f.suggestion, f"{f.check} is {f.level} without a suggestion: {f.message}"
    for fmt in report.FORMATS:
        for redact in (True, False):
            out = report.render(result, fmt, redact=redact)
            assert out.strip()
            if fmt == "json":
                doc = json.loads(out)
                assert (doc["verdict"], doc["exit_code"]) == (result.verdict, result.exit_code)
    assert Snapshot.from_json(result.snapshot.to_json()) == result.snapshot


def check_path(nvml=None, root=DEV_TREE, environ=None, models=("7b",), runtime="transformers",
               time_limit_s=5.0):
    snap = take_snapshot(nvml=nvml, root=root, environ=environ or {}, time_limit_s=time_limit_s)
    result = assess.check(snap, requests_for(models, runtime))
    assert_sane(result)
    return result


def findings(result, check_id):
    return [f for p in result.profiles for f in p.findings if f.check == check_id]


def levels(result, check_id):
    return {f.level for f in findings(result, check_id)}


def reasons_in(snap: Snapshot) -> set:
    out = set(snap.cuda.unavailable.values()) | {snap.cuda.nvml_status}
    for record in list(snap.gpus) + list(snap.links):
        out |= set(record.unavailable.values())
    return out


# --- the baseline: without a fault the recordings pass -------------------------------------------


def test_7b_passes_on_the_recorded_2xh200_without_faults():
    """The fault cases below start from this: any non-pass there comes from the fault."""
    result = check_path(fake("2xh200"))
    assert result.verdict == "pass"


# --- the NVML library and nvmlInit ------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["transformers", "vllm"])
def test_missing_libnvidia_ml_is_not_ready_for_gpu_runtimes(runtime):
    result = check_path(fake(init_error="LibraryNotFound"), runtime=runtime)
    assert result.snapshot.cuda.nvml_status == "library_not_found"
    assert result.verdict == "fail" and result.exit_code == 2
    assert levels(result, "driver.present") == {"fail"}
    assert levels(result, "gpu.present") == {"fail"}


def test_missing_libnvidia_ml_only_warns_for_llamacpp_which_can_run_on_the_cpu():
    result = check_path(fake(init_error="LibraryNotFound"), runtime="llamacpp")
    assert levels(result, "driver.present") == {"warn"}
    assert levels(result, "gpu.present") == {"warn"}
    assert "cpu" in findings(result, "gpu.present")[0].message.lower()


def _libnvidia_ml_loads() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        return True
    except OSError:
        return False


@pytest.mark.skipif(_libnvidia_ml_loads(), reason="this machine has libnvidia-ml")
@pytest.mark.parametrize("backend", ["ctypes", "pynvml"])
def test_the_real_binding_on_a_machine_without_the_driver_says_library_not_found(backend):
    # nvml=None: the real binding (probes/_nvml.py, or nvidia-ml-py with DEEPSEEK_PROBE_NVML).
    result = check_path(None, environ={"DEEPSEEK_PROBE_NVML": backend})
    assert result.snapshot.cuda.nvml_status == "library_not_found"
    assert result.snapshot.gpus == []
    assert result.exit_code == 2


def test_an_nvml_binding_that_cannot_be_imported_is_unknown_with_the_reason(monkeypatch):
    from deepseek_probe.probes.gpu import nvidia as gpu

    def broken(environ=None):
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(gpu, "load_nvml", broken)
    result = check_path(None)
    assert "not importable" in result.snapshot.cuda.nvml_status
    assert "No module named" in result.snapshot.cuda.nvml_status
    assert result.verdict == "unknown" and result.exit_code == 3


@pytest.mark.parametrize("error,status,verdict,hint", [
    ("LibRmVersionMismatch", "lib_rm_version_mismatch", "unknown", "reboot"),
    ("NoPermission", "no_permission", "unknown", "/dev/nvidia"),
    ("DriverNotLoaded", "driver_not_loaded", "fail", "install the nvidia driver"),
    ("Unknown", "unknown", "unknown", "nvidia-smi"),
])
def test_nvml_init_failure_gives_its_reason_and_what_to_do(error, status, verdict, hint):
    result = check_path(fake("h100", init_error=error))
    assert result.snapshot.cuda.nvml_status == status
    assert result.snapshot.gpus == []
    assert result.verdict == verdict
    suggestions = " ".join(f.suggestion or "" for f in findings(result, "driver.present"))
    assert hint in suggestions.lower()


def test_driver_library_mismatch_still_reports_the_kernel_module_version_from_proc():
    # The recorded mismatch (nvmlInit -> LibRmVersionMismatch) on the census host's tree, which
    # has /proc/driver/nvidia/version.
    result = check_path(fake("derived-h100-driver-mismatch"),
                        root=os.path.join(FS_FIXTURES, "census-h100"))
    assert result.snapshot.cuda.nvml_status == "lib_rm_version_mismatch"
    assert result.snapshot.cuda.driver_version == "580.159.04"
    assert result.exit_code == 3


# --- a GPU lost in the middle of the probe -------------------------------------------------------


@pytest.mark.parametrize("lost_at_call", [1, 2, 6, 11, 20, 30, 45])
def test_a_gpu_lost_mid_probe_is_never_used_and_fails_the_check(lost_at_call):
    nvml = fake("2xh200", lose_gpu={1: lost_at_call})
    result = check_path(nvml)
    lost = result.snapshot.gpus[1]
    assert "gpu_lost" in lost.unavailable.values()
    # GpuIsLost stops every further call on that GPU.
    assert sum(1 for c in nvml.calls if c.startswith("gpu1.")) == lost_at_call
    assert nvml.shutdown_called
    (profile,) = result.profiles
    assert 1 not in profile.gpus_used
    assert levels(result, "gpu.lost") == {"fail"}
    assert "GPU 1" in findings(result, "gpu.lost")[0].message
    assert result.exit_code == 2


def test_a_lost_gpu_hidden_by_cuda_visible_devices_does_not_block_the_others():
    result = check_path(fake("2xh200", lose_gpu={1: 11}), environ={"CUDA_VISIBLE_DEVICES": "0"})
    assert not findings(result, "gpu.lost")
    assert result.profiles[0].gpus_used == [0]
    assert result.verdict == "pass"


def test_the_only_gpu_lost_is_not_ready_and_not_reported_as_absent():
    result = check_path(fake("h100", lose_gpu={0: 6}))
    assert levels(result, "gpu.lost") == {"fail"}
    assert not findings(result, "gpu.present")  # it is there; it fell off the bus
    assert result.exit_code == 2


# --- every per-field NVML call failing ------------------------------------------------------------


def _calls_the_probe_makes():
    """Function names the GPU probe calls on the recorded 2xH200 host (links included)."""
    nvml = fake("2xh200")
    take_snapshot(nvml=nvml, root=DEV_TREE, environ={})
    names = set()
    for call in nvml.calls:
        name = call.split(".", 1)[1] if call.startswith("gpu") else call
        names.add(name.split(":")[0])
    return sorted(names - {"nvmlInit", "nvmlShutdown"})


PROBE_CALLS = _calls_the_probe_makes()
# Calls whose failure leaves a fact the verdict depends on unknown -> exit 3.
DECISIVE = {
    "nvmlDeviceGetCount": "gpu.present",
    "nvmlDeviceGetHandleByIndex": "gpu.vram",
    "nvmlDeviceGetMemoryInfo": "gpu.vram",
    "nvmlDeviceGetCudaComputeCapability": "gpu.compute_capability",
    "nvmlSystemGetDriverVersion": "driver.present",
}


def test_the_call_list_covers_the_facts_the_verdict_needs():
    assert set(DECISIVE) <= set(PROBE_CALLS)
    assert {"nvmlDeviceGetTopologyCommonAncestor", "nvmlDeviceGetP2PStatus"} <= set(PROBE_CALLS)
    assert len(PROBE_CALLS) >= 30


@pytest.mark.parametrize("error", NVML_ERRORS)
@pytest.mark.parametrize("call", PROBE_CALLS)
def test_one_nvml_call_failing_on_every_gpu_is_recorded_and_never_crashes(call, error):
    where = [None] if call.startswith("nvmlSystem") or call == "nvmlDeviceGetCount" else [0, 1]
    nvml = fake("2xh200", errors={(gpu, call): error for gpu in where})
    result = check_path(nvml)
    reason = REASON_OF[error]
    if call == "nvmlDeviceGetNvLinkState" and error == "NotSupported":
        # NotSupported on link 0 is how NVML says "no NVLink" (PCIe cards): 0 links, no gap.
        assert all(g.nvlink_active_links == 0 for g in result.snapshot.gpus)
    else:
        assert reason in reasons_in(result.snapshot), f"{call} -> {error} left no trace"
    # An unreadable fact is never a definite "not ready" for a model that fits.
    assert result.verdict != "fail"
    if call in DECISIVE:
        assert result.verdict == "unknown" and result.exit_code == 3
        unknown = findings(result, DECISIVE[call])
        assert unknown and unknown[0].level == "unknown"
        assert reason in unknown[0].message


@pytest.mark.parametrize("error", NVML_ERRORS)
def test_every_device_call_failing_at_once_is_unknown(error):
    calls = [c for c in PROBE_CALLS if c.startswith("nvmlDevice") and c != "nvmlDeviceGetCount"]
    nvml = fake("2xh200", errors={(gpu, c): error for gpu in (0, 1) for c in calls})
    result = check_path(nvml, models=("7b", "236b"))
    assert len(result.snapshot.gpus) == 2
    assert result.verdict == "unknown" and result.exit_code == 3


def test_a_non_nvml_exception_from_the_binding_becomes_a_reason():
    """A pynvml/ctypes bug (TypeError) on one call: that field is unreadable, the rest is read."""

    class Buggy(FakeNvml):
        def nvmlDeviceGetPowerUsage(self, handle):
            raise TypeError("argument 1: wrong type")

    result = check_path(Buggy(recording("h100")))
    gpu = result.snapshot.gpus[0]
    assert gpu.power_usage_w is None and gpu.unavailable["power_usage_w"].startswith("error: TypeError")
    assert gpu.memory_free_bytes is not None
    assert result.verdict == "pass"


# --- MIG, 0 GPUs, 8 mixed GPUs ------------------------------------------------------------------


def test_mig_enabled_is_unknown_when_the_model_fits_the_whole_gpu():
    result = check_path(fake("derived-h100-mig-on"))
    assert result.snapshot.gpus[0].mig_enabled is True
    assert levels(result, "gpu.vram") == {"unknown"}
    assert levels(result, "gpu.mig") == {"warn"}
    assert "mig" in findings(result, "gpu.vram")[0].suggestion.lower()
    assert result.exit_code == 3


def test_mig_enabled_does_not_hide_a_model_that_cannot_fit_the_whole_gpu():
    result = check_path(fake("derived-h100-mig-on"), models=("70b",))
    assert levels(result, "gpu.vram") == {"fail"}
    assert result.exit_code == 2


def test_a_mig_instance_uuid_in_cuda_visible_devices_keeps_the_mig_gpu_visible():
    result = check_path(fake("derived-h100-mig-on"),
                        environ={"CUDA_VISIBLE_DEVICES": "MIG-0c4ea3f4-7f6b-5a39-8a4a-3b8f1b6b8e1a"})
    assert result.snapshot.gpus[0].visible is True


def _zero_gpu_recording() -> dict:
    rec = copy.deepcopy(recording("h100"))
    rec["system"]["nvmlDeviceGetCount"] = {"value": 0}
    rec["gpus"] = []
    return rec


@pytest.mark.parametrize("runtime,level", [("transformers", "fail"), ("vllm", "fail"),
                                           ("llamacpp", "warn")])
def test_a_driver_with_zero_gpus(runtime, level):
    result = check_path(FakeNvml(_zero_gpu_recording()), runtime=runtime)
    assert result.snapshot.cuda.nvml_status == "ok" and result.snapshot.gpus == []
    assert levels(result, "gpu.present") == {level}
    assert levels(result, "driver.present") == {"pass"}


def test_eight_mixed_gpus_put_236b_on_the_four_h200s():
    result = check_path(fake("derived-8gpu-mixed"), models=("236b",))
    snap = result.snapshot
    assert len(snap.gpus) == 8 and len(snap.links) == 28
    assert len({g.uuid for g in snap.gpus}) == 8
    (profile,) = result.profiles
    assert sorted(profile.gpus_used) == [0, 1, 2, 3]
    assert all("H200" in snap.gpus[i].name for i in profile.gpus_used)
    assert result.verdict in ("pass", "warn")


def test_eight_mixed_gpus_report_the_sick_ones_when_a_model_needs_them_all():
    result = check_path(fake("derived-8gpu-mixed"), models=("671b",))
    (profile,) = result.profiles
    assert 5 in profile.gpus_used and 6 in profile.gpus_used
    assert "GPU 5" in findings(result, "gpu.ecc")[0].message  # pending row remap
    assert "GPU 6" in findings(result, "gpu.other_processes")[0].message  # 20 GiB tenant
    assert result.exit_code == 2


# --- CUDA_VISIBLE_DEVICES --------------------------------------------------------------------------


def _uuids():
    return [g["nvmlDeviceGetUUID"]["value"] for g in recording("derived-8gpu-mixed")["gpus"]]


@pytest.mark.parametrize("spec,visible", [
    ("4,5,6,7", {4, 5, 6, 7}),
    ("6", {6}),
    ("1,not-a-gpu,0", {1}),  # CUDA stops at the first invalid entry
    ("²", set()),  # a Unicode digit is not an index (it used to crash the probe)
    ("0,²,1", {0}),
    ("", set()),
    ("GPU-00000000-dead-beef", set()),
])
def test_cuda_visible_devices_hides_gpus_the_way_cuda_does(spec, visible):
    result = check_path(fake("derived-8gpu-mixed"), environ={"CUDA_VISIBLE_DEVICES": spec})
    snap = result.snapshot
    assert snap.cuda.nvml_status == "ok"
    assert {g.index for g in snap.gpus if g.visible} == visible
    assert snap.cuda.cuda_visible_devices == spec
    (profile,) = result.profiles
    assert set(profile.gpus_used) <= visible
    if not visible:
        (present,) = findings(result, "gpu.present")
        assert present.level == "fail" and "CUDA_VISIBLE_DEVICES" in present.message
        assert "CUDA_VISIBLE_DEVICES" in present.suggestion


def test_cuda_visible_devices_by_uuid():
    uuids = _uuids()
    spec = f"{uuids[6]},{uuids[2]}"
    result = check_path(fake("derived-8gpu-mixed"), environ={"CUDA_VISIBLE_DEVICES": spec})
    assert {g.index for g in result.snapshot.gpus if g.visible} == {2, 6}
    assert set(result.profiles[0].gpus_used) <= {2, 6}


def test_cuda_visible_devices_by_a_unique_uuid_prefix():
    second = recording("2xh200")["gpus"][1]["nvmlDeviceGetUUID"]["value"]
    prefix = second[:len("GPU-") + 8]
    result = check_path(fake("2xh200"), environ={"CUDA_VISIBLE_DEVICES": prefix})
    assert [g.visible for g in result.snapshot.gpus] == [False, True]
    assert result.profiles[0].gpus_used == [1]


# --- cgroups, containers, WSL2, missing /proc --------------------------------------------------


@pytest.mark.parametrize("tree,version,limit_gib", [
    ("derived-cgroup-v1-limited", 1, 8),
    ("derived-cgroup-v2-docker", 2, 16),
    ("derived-cgroup-v2-k8s-nested", 2, 32),  # the pod slice's limit; the container's is "max"
])
def test_a_cgroup_memory_limit_below_the_cpu_offload_fails(tree, version, limit_gib):
    """671b at Q4_K_M (~380 GiB of weights) on one 141 GiB H200: llama.cpp keeps the layers
    that do not fit in host RAM, far more than any of these container limits."""
    result = check_path(fake("h200"), root=os.path.join(FS_FIXTURES, tree), models=("671b",),
                        runtime="llamacpp")
    mem = result.snapshot.memory
    assert (mem.cgroup_version, mem.cgroup_limit_bytes) == (version, limit_gib * GIB)
    (limit,) = findings(result, "host.cgroup_memory")
    assert limit.level == "fail" and limit.measured == limit_gib * GIB
    assert limit.required > 100 * GIB
    assert "--memory" in limit.suggestion
    assert result.exit_code == 2


def test_the_same_limit_passes_a_model_that_fits_under_it():
    root = os.path.join(FS_FIXTURES, "derived-cgroup-v2-docker")
    spec = profiles.get_model("7b")
    assert estimate(spec, runtimes.default_settings(spec)).host_ram_bytes < 16 * GIB
    result = check_path(fake("h200"), root=root)
    assert levels(result, "host.cgroup_memory") == {"pass"}


def test_wsl2_is_detected_and_its_gaps_are_unknown_not_errors():
    # WSL2's NVML does not report processes, ECC or row remapping (NotSupported).
    nvml = fake("h100", errors={(0, c): "NotSupported" for c in (
        "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetEccMode",
        "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetRemappedRows")})
    result = check_path(nvml, root=os.path.join(FS_FIXTURES, "derived-wsl2"))
    snap = result.snapshot
    assert snap.system.wsl is True and "microsoft" in snap.system.kernel.lower()
    # The hand-made tree has no /proc/meminfo: RAM is unknown, said so, with a next step.
    assert levels(result, "host.ram") == {"unknown"}
    assert result.exit_code == 3


@pytest.mark.parametrize("tree", sorted(os.listdir(FS_FIXTURES)))
def test_every_recorded_tree_gives_a_verdict(tree):
    check_path(fake("h100"), root=os.path.join(FS_FIXTURES, tree), models=("7b", "671b"))


def test_an_empty_root_with_no_proc_or_sys_is_unknown_with_next_steps(tmp_path):
    result = check_path(fake("h100"), root=str(tmp_path))
    snap = result.snapshot
    assert snap.memory.available_bytes is None and snap.memory.unavailable["available_bytes"]
    assert snap.cpu.logical_cores is None and snap.cpu.unavailable
    (ram,) = findings(result, "host.ram")
    assert ram.level == "unknown" and "free" in ram.suggestion
    assert result.verdict == "unknown" and result.exit_code == 3


def test_a_tree_missing_only_meminfo_is_unknown_about_ram_only(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(DEV_TREE, root)
    (root / "proc" / "meminfo").unlink()
    result = check_path(fake("h200"), root=str(root))
    unknown = {f.check for p in result.profiles for f in p.findings if f.level == "unknown"}
    assert unknown == {"host.ram"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_garbage_in_every_proc_and_sys_file_never_crashes(tmp_path, seed):
    root = tmp_path / "tree"
    shutil.copytree(DEV_TREE, root)
    rnd = random.Random(seed)
    for dirpath, _, files in os.walk(root):
        for name in files:
            junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300)))
            with open(os.path.join(dirpath, name), "wb") as f:
                f.write(junk)
    result = check_path(fake("h200"), root=str(root), models=("7b", "236b"))
    assert result.snapshot.system.unavailable.get("probe") is None  # no probe bug surfaced


# --- time limits -------------------------------------------------------------------------------


def test_a_hung_nvml_call_is_abandoned_at_the_time_limit():
    nvml = fake("h100", sleep={(0, "nvmlDeviceGetMemoryInfo"): 3.0})
    start = time.perf_counter()
    result = check_path(nvml, time_limit_s=0.3)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"check took {elapsed:.1f} s with a 0.3 s probe limit"
    gpu = result.snapshot.gpus[0]
    assert gpu.name == "NVIDIA H100 80GB HBM3"  # read before the hang
    assert gpu.memory_free_bytes is None and gpu.unavailable["memory_free_bytes"] == "timeout"
    assert levels(result, "gpu.vram") == {"unknown"}
    assert result.exit_code == 3


def test_a_hung_nvml_init_is_unknown_with_a_timeout_hint():
    class Hung(FakeNvml):
        def nvmlInit(self):
            time.sleep(3.0)

    start = time.perf_counter()
    result = check_path(Hung(recording("h100")), time_limit_s=0.3)
    assert time.perf_counter() - start < 2.0
    assert result.snapshot.cuda.nvml_status == "timeout"
    (present,) = findings(result, "gpu.present")
    assert present.level == "unknown" and "nvidia-smi" in present.suggestion
    assert result.exit_code == 3


def test_a_hung_file_probe_such_as_a_dead_nfs_mount_is_abandoned(monkeypatch):
    from deepseek_probe.probes import disk

    def hung(model_dir=None, root="/"):
        time.sleep(3.0)

    monkeypatch.setattr(disk, "probe_disk", hung)
    start = time.perf_counter()
    result = check_path(fake("h200"), time_limit_s=0.3)
    assert time.perf_counter() - start < 2.0
    assert result.snapshot.disk.unavailable["free_bytes"] == "timeout"
    assert levels(result, "disk.free") == {"unknown"}


def test_every_probe_hung_at_once_still_ends_with_unknown(monkeypatch):
    """The worst case: NVML and every file probe wedged. All probes start together, so one
    time limit (0.3 s here) bounds them all, not one limit per probe."""
    from deepseek_probe.probes import cpu, cuda, disk, memory, network, system

    def hung(*args, **kwargs):
        time.sleep(3.0)

    for module, name in ((system, "probe_system"), (cpu, "probe_cpu"), (memory, "probe_memory"),
                         (disk, "probe_disk"), (cuda, "probe_toolkit"), (network, "probe_network")):
        monkeypatch.setattr(module, name, hung)

    class Hung(FakeNvml):
        def nvmlInit(self):
            time.sleep(3.0)

    start = time.perf_counter()
    result = check_path(Hung(recording("h100")), time_limit_s=0.3)
    assert time.perf_counter() - start < 0.3 + 0.5
    snap = result.snapshot
    assert snap.cuda.nvml_status == "timeout"
    assert snap.memory.unavailable["available_bytes"] == "timeout"
    assert result.verdict == "unknown" and result.exit_code == 3


def test_a_hung_driver_does_not_hang_the_real_cli(tmp_path):
    """The shipped command, with a `pynvml` whose nvmlInit never returns, ends after the probe
    time limit with exit 3 and says NVML timed out."""
    fake_dir = tmp_path / "hung_pynvml"
    fake_dir.mkdir()
    (fake_dir / "pynvml.py").write_text(textwrap.dedent("""\
        import time

        class NVMLError(Exception):
            pass

        def nvmlInit():
            time.sleep(600)
        """))
    env = dict(os.environ, PYTHONPATH=str(fake_dir), HOME=str(tmp_path),
               DEEPSEEK_PROBE_NVML="pynvml")  # the documented switch to nvidia-ml-py's module
    env.pop("CUDA_VISIBLE_DEVICES", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "deepseek_probe", "check", "--model", "7b",
                           "--format", "json"], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=DEFAULT_TIME_LIMIT_S + 30)
    elapsed = time.perf_counter() - start
    assert elapsed < DEFAULT_TIME_LIMIT_S + 5, f"check took {elapsed:.1f} s"
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert doc["snapshot"]["cuda"]["nvml_status"] == "timeout"
