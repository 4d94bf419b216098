"""take_snapshot() on the machine running the tests (no GPU here; real GPU tests marked)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from deepseek_probe.probes import take_snapshot
from deepseek_probe.snapshot import CpuInfo, Snapshot


def test_snapshot_of_this_machine_never_raises_and_round_trips():
    snap = take_snapshot()
    assert Snapshot.from_json(snap.to_json()) == snap
    assert snap.tool_version
    assert datetime.strptime(snap.captured_at, "%Y-%m-%dT%H:%M:%SZ")
    assert {"system", "cpu", "memory", "disk", "cuda", "gpu"} <= set(snap.probe_ms)
    assert snap.cpu.logical_cores and snap.memory.total_bytes and snap.disk.total_bytes


def test_without_a_gpu_driver_the_snapshot_says_so(monkeypatch):
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVIDIA driver")
    except pynvml.NVMLError:
        pass
    snap = take_snapshot()
    assert snap.gpus == []
    assert snap.cuda.nvml_status in ("library_not_found", "driver_not_loaded")
    assert snap.cuda.unavailable["cuda_driver_version"] == snap.cuda.nvml_status


def test_missing_pynvml_is_reported_not_raised(monkeypatch):
    import builtins

    monkeypatch.setenv("DEEPSEEK_PROBE_NVML", "pynvml")  # the default binding needs no pynvml
    real_import = builtins.__import__

    def no_pynvml(name, *args, **kwargs):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    snap = take_snapshot()
    assert snap.gpus == []
    assert snap.cuda.nvml_status.startswith("error: pynvml not importable")


def test_a_hung_file_probe_is_cut_off_and_marked_timeout(monkeypatch):
    from deepseek_probe.probes import cpu

    monkeypatch.setattr(cpu, "probe_cpu", lambda root="/": time.sleep(3) or CpuInfo())
    start = time.perf_counter()
    snap = take_snapshot(time_limit_s=0.2)
    assert time.perf_counter() - start < 2.0
    assert snap.cpu.model is None and snap.cpu.unavailable["model"] == "timeout"
    assert snap.memory.total_bytes  # the others still ran


def test_a_crashing_probe_becomes_an_error_reason(monkeypatch):
    from deepseek_probe.probes import disk

    def boom(model_dir=None, root="/"):
        raise RuntimeError("statvfs exploded")

    monkeypatch.setattr(disk, "probe_disk", boom)
    snap = take_snapshot()
    assert snap.disk.unavailable["free_bytes"].startswith("error: RuntimeError")


@pytest.mark.gpu
def test_real_gpu_host_snapshot_has_gpus_and_replays_identically(tmp_path):
    import sys

    sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "gpu"))
    import pynvml
    import record_nvml
    from fake_nvml import FakeNvml

    recorder = record_nvml.RecordingNvml(pynvml, "pytest -m gpu")
    live = take_snapshot(nvml=recorder)
    assert live.cuda.nvml_status == "ok"
    assert live.gpus and all(g.name and g.name.startswith("NVIDIA") for g in live.gpus)
    assert all(g.memory_total_bytes and g.memory_total_bytes > 0 for g in live.gpus)
    assert live.cuda.driver_version and live.cuda.cuda_driver_version
    replay = take_snapshot(nvml=FakeNvml(recorder.recording))
    stable = ("name", "uuid", "serial", "pci_bus_id", "memory_total_bytes", "compute_capability",
              "architecture", "memory_bus_width_bits", "max_memory_clock_mhz", "nvlink_active_links",
              "mig_enabled", "ecc_enabled", "vbios_version")
    for a, b in zip(live.gpus, replay.gpus):
        assert {k: getattr(a, k) for k in stable} == {k: getattr(b, k) for k in stable}
    assert live.links == replay.links


def test_a_bounded_call_runs_under_threading_s_trace_hook_and_can_be_waited_on_twice():
    # probes/_timeout.py starts bare threads: they must still run what threading.settrace installs
    # (coverage, profilers), and a finished call keeps its outcome
    import sys
    import threading

    from deepseek_probe.probes._timeout import start_bounded

    seen = []

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "traced_probe":
            seen.append(event)
        return None

    def traced_probe():
        return 42

    threading.settrace(tracer)
    try:
        pending = start_bounded(traced_probe, "traced")
        first, second = pending.wait(5.0), pending.wait(5.0)
    finally:
        threading.settrace(None)
        sys.settrace(None)
    assert seen == ["call"]
    assert (first.status, first.value) == (second.status, second.value) == ("ok", 42)


def test_the_capture_time_is_datetimes_utc_text():
    from datetime import datetime, timezone

    from deepseek_probe import probes

    before = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ours = probes._utc_now()
    after = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ours in (before, after)
