"""Probes: read this machine into a :class:`~deepseek_probe.snapshot.Snapshot`.

One module per resource (gpu, cuda, cpu, memory, disk, system). Each probe runs in a daemon
thread under a time limit; a probe that overruns or fails yields its record with every field
``None`` and a reason (``timeout`` or ``error: …``). :func:`take_snapshot` never raises.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from deepseek_probe import records
from deepseek_probe.probes._timeout import Outcome, start_bounded
from deepseek_probe.snapshot import (CheckpointsInfo, CpuInfo, CudaInfo, DiskInfo, GpuInfo, GpuLink, InstalledInfo,
                                     MemoryInfo, NetworkInfo, RocmInfo, Snapshot, SystemInfo)

# Per-probe limit. The slowest healthy probe is NVML: nvmlInit ~14 ms + ~1 ms per call
# (census-h100.json / census-2xh200.json), plus ~80 ms of import with DEEPSEEK_PROBE_NVML=pynvml;
# an 8-GPU host stays well under 1 s. Five seconds only ever trips on a wedged driver or a dead
# network mount.
DEFAULT_TIME_LIMIT_S = 5.0

__all__ = ["take_snapshot", "probe_nvidia", "DEFAULT_TIME_LIMIT_S"]

# What NVML read: the driver's facts, the GPUs, their links, and the probe's time (ms).
NvidiaReading = Tuple[CudaInfo, List[GpuInfo], List[GpuLink], float]


def take_snapshot(model_dir: Optional[str] = None, nvml: Any = None, root: str = "/",
                  time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                  environ: Optional[Mapping[str, str]] = None, probe_versions: bool = False,
                  nvidia: Optional[Callable[[float], Optional[NvidiaReading]]] = None) -> Snapshot:
    """Probe everything. ``nvml``: a pynvml-like module (None: ``gpu.load_nvml(environ)``);
    ``root``: where /proc, /sys and /etc live (tests point it at fixtures/fs/<name>);
    ``environ``: environment to read (CUDA_VISIBLE_DEVICES, HF_HOME, …; default os.environ);
    ``probe_versions``: also run ``X --version`` for the runtime programs found (--probe-versions);
    ``nvidia``: on Linux, NVML's reading taken elsewhere (the CLI's process of its own,
    ``probe_nvidia``), called with the time limit when the file probes are done; where it gives
    None NVML is read here."""
    env: Dict[str, str] = dict(os.environ if environ is None else environ)
    snap = Snapshot(tool_version=_tool_version(), captured_at=_utc_now())
    # The installed runtimes (this interpreter's packages, programs on PATH) are this machine's,
    # read on the real root only, like the checkpoints; they start first and run meanwhile.
    installed = start_bounded(lambda: _installed(env, probe_versions), "installed") if root == "/" else None
    try:
        _fill(snap, model_dir, nvml, root, time_limit_s, env, nvidia)
    except Exception as e:  # noqa: BLE001 - a bug here must still give the caller a snapshot
        snap.system.unavailable.setdefault("probe", f"error: {type(e).__name__}: {e}"[:120])
    if installed is not None:
        _fill_installed(snap, installed.wait(time_limit_s + (4.0 if probe_versions else 0.0)))
    return snap


def _installed(env: Mapping[str, str], probe_versions: bool) -> InstalledInfo:
    from deepseek_probe.probes.installed_lookup import read_installed

    return read_installed(env, probe_versions)


def _fill_installed(snap: Snapshot, outcome: Outcome) -> None:
    snap.probe_ms["installed"] = outcome.elapsed_ms
    if outcome.status == "ok":
        snap.installed = outcome.value
    else:
        reason = "timeout" if outcome.status == "timeout" else \
            f"error: {type(outcome.error).__name__}: {outcome.error}"[:120]
        snap.installed = InstalledInfo(unavailable={"installed": reason})


def _fill(snap: Snapshot, model_dir: Optional[str], nvml: Any, root: str, limit_s: float,
          env: Dict[str, str], nvidia: Optional[Callable[[float], Optional[NvidiaReading]]]) -> None:
    from deepseek_probe.probes import _platform
    from deepseek_probe.probes.gpu import vendors_for

    plat = _platform.current()
    vendors = vendors_for(plat)
    if plat != _platform.LINUX:
        _fill_elsewhere(snap, model_dir, nvml, limit_s, env, plat, vendors)
        return
    from deepseek_probe.probes import cpu, cuda, disk, memory, system

    # NVML is the slow one: start it first and let the file probes run meanwhile (its C calls
    # release the GIL).
    if nvidia is None:
        import functools

        nvidia = functools.partial(_finish_nvidia, _start_nvidia(nvml, env), env=env)

    # The file probes start together, so one overall deadline bounds them all: a dead network
    # mount and a stuck /proc read cost one time limit, not one each.
    try:  # NICs / InfiniBand / GPUDirect (probes/network.py, owned by the fleet checks)
        from deepseek_probe.probes import network
    except ImportError:
        network = None
    started = [
        ("system", lambda: system.probe_system(root, env), SystemInfo),
        ("cpu", lambda: cpu.probe_cpu(root), CpuInfo),
        ("memory", lambda: memory.probe_memory(root), MemoryInfo),
        ("disk", lambda: disk.probe_disk(model_dir, root), DiskInfo),
        ("cuda", lambda: cuda.probe_toolkit(root, env), CudaInfo),
    ]
    if network is not None:
        started.append(("network", lambda: network.probe_network(root), NetworkInfo))
    if root == "/":  # checkpoints already on disk (HF cache, Ollama, LM Studio, --model-dir); headers only
        from deepseek_probe.probes import checkpoints

        started.append(("checkpoints", lambda: checkpoints.probe_checkpoints(model_dir, env), CheckpointsInfo))
    pendings = [(name, start_bounded(fn, name), cls) for name, fn, cls in started]
    from deepseek_probe.probes import pci  # GPUs on the bus, driver or not (a few sysfs reads)

    pci_pending = start_bounded(lambda: pci.probe_pci_gpus(root), "pci")
    # AMD: a listing of /sys/class/drm and one vendor file per card (~5 us) decides, while the
    # file probes run; only a host with an AMD card pays for a probe thread.
    amd_pending = None
    if "amd" in vendors:
        from deepseek_probe.probes.gpu._common import amd_cards

        if amd_cards(root):
            from deepseek_probe.probes.gpu import amd

            amd_pending = start_bounded(lambda: amd.probe_amd(root, env), "amd")
    results = {name: _collect(snap, name, pending, cls, limit_s) for name, pending, cls in pendings}
    snap.system, snap.cpu, snap.memory = results["system"], results["cpu"], results["memory"]
    snap.disk, toolkit = results["disk"], results["cuda"]
    if "network" in results:
        snap.network = results["network"]
    if "checkpoints" in results:
        snap.checkpoints = results["checkpoints"]
    _fill_pci(snap, pci_pending.wait(limit_s))
    # Host memory bandwidth (~0.1-0.7 ms of file reads) while NVML's C calls still run.
    from deepseek_probe.probes import membw

    membw.fill_bandwidth(snap.memory, root, snap.cpu.model, snap.cpu.logical_cores)

    reading = nvidia(limit_s)
    if reading is None:  # the process that read it failed: read it here
        reading = _finish_nvidia(_start_nvidia(nvml, env), limit_s, env)
    cuda_info, gpus, links, snap.probe_ms["gpu"] = reading
    snap.cuda = _merge_cuda(cuda_info, toolkit, root)
    _wsl_driver(snap.cuda, snap.system, root)
    snap.gpus, snap.links = gpus, links
    if amd_pending is not None:
        outcome = amd_pending.wait(limit_s)
        snap.probe_ms["amd"] = outcome.elapsed_ms
        if outcome.status == "ok":
            snap.rocm, amd_gpus = outcome.value
            from deepseek_probe.probes.gpu import after

            snap.gpus = snap.gpus + after(snap.gpus, amd_gpus)
        elif outcome.status != "ok":
            snap.rocm = RocmInfo(unavailable={"rocm_version": "timeout" if outcome.status == "timeout"
                                              else f"error: {type(outcome.error).__name__}"})


def probe_nvidia(time_limit_s: float = DEFAULT_TIME_LIMIT_S, environ: Optional[Mapping[str, str]] = None,
                 nvml: Any = None, shutdown: bool = True) -> NvidiaReading:
    """NVML's part of the snapshot alone, as ``take_snapshot(nvidia=...)`` takes it. The CLI
    reads it in a process of its own on a many-core host (parallel.py): there no file probe's
    Python competes with it for the interpreter between its C calls, and that process, which
    ends once it has sent the reading, skips nvmlShutdown (``shutdown=False``: 3.5 ms on the
    H100 host, fixtures/census/census-h100.json)."""
    env: Dict[str, str] = dict(os.environ if environ is None else environ)
    return _finish_nvidia(_start_nvidia(nvml, env, shutdown), time_limit_s, env)


def _start_nvidia(nvml: Any, env: Dict[str, str], shutdown: bool = True) -> Tuple[Any, Dict[str, Any]]:
    """NVML's probe, started in a bounded thread (the binding is imported inside it)."""
    from deepseek_probe.probes.gpu import nvidia as gpu

    holder: Dict[str, Any] = {}
    if nvml is not None:
        holder["probe"] = gpu.GpuProbe(nvml, environ=env, shutdown=shutdown)

    def run_gpu() -> None:
        if "probe" not in holder:
            try:
                module = gpu.load_nvml(env)
            except Exception as e:  # noqa: BLE001 - ImportError or a broken install
                holder["import_error"] = e
                return
            holder["probe"] = gpu.GpuProbe(module, environ=env, shutdown=shutdown)
        holder["probe"].run()

    return start_bounded(run_gpu, "gpu"), holder


def _finish_nvidia(started: Tuple[Any, Dict[str, Any]], limit_s: float, env: Dict[str, str]) -> NvidiaReading:
    """What the probe `_start_nvidia` started read within the limit."""
    from deepseek_probe.probes.gpu import nvidia as gpu

    pending, holder = started
    outcome = pending.wait(limit_s)
    probe = holder.get("probe")
    if "import_error" in holder:
        e = holder["import_error"]
        binding = "pynvml" if gpu.nvml_backend(env) == "pynvml" else "NVML binding"
        return (CudaInfo(nvml_status=f"error: {binding} not importable: {type(e).__name__}: {e}"[:120]), [], [],
                outcome.elapsed_ms)
    if probe is None:  # timed out while importing the binding
        return CudaInfo(nvml_status="timeout"), [], [], outcome.elapsed_ms
    reason = "timeout" if outcome.status == "timeout" else \
        f"error: {type(outcome.error).__name__}: {outcome.error}"[:120]
    cuda_info, gpus, links = probe.stop_and_snapshot(reason)
    if outcome.status == "error" and cuda_info.nvml_status == "ok":
        cuda_info.nvml_status = reason
    return cuda_info, gpus, links, outcome.elapsed_ms


def _fill_pci(snap: Snapshot, outcome: Outcome) -> None:
    snap.probe_ms["pci"] = outcome.elapsed_ms
    if outcome.status == "ok":
        snap.pci_gpus, reason = outcome.value
    else:
        reason = "timeout" if outcome.status == "timeout" else \
            f"error: {type(outcome.error).__name__}: {outcome.error}"[:120]
    if reason is not None:
        snap.system.unavailable["pci_gpus"] = reason


def _wsl_driver(cuda_info: CudaInfo, system_info: SystemInfo, root: str) -> None:
    """Under WSL2 the GPU driver is the Windows host's: NVML (loaded from /usr/lib/wsl/lib)
    reports the Windows driver's version. Say so, and name the driver package Windows mapped
    into /usr/lib/wsl/drivers (its folder is the driver's INF name, nv*.inf_amd64_<hash>)."""
    if not system_info.wsl:
        return
    cuda_info.host_driver_os = "windows"
    from deepseek_probe.probes import _read

    names = sorted(n for n in (_read.list_dir(root, "/usr/lib/wsl/drivers") or []) if n.lower().startswith("nv"))
    if names:
        cuda_info.wsl_driver_store = names[0]
    else:
        cuda_info.unavailable["wsl_driver_store"] = "not_found"


def _fill_elsewhere(snap: Snapshot, model_dir: Optional[str], nvml: Any, limit_s: float,
                    env: Dict[str, str], plat: str, vendors: Any) -> None:
    """Windows and macOS: host facts from psutil (no /proc, /sys or /etc reads), GPUs from the
    vendors this OS can have (probes/gpu/__init__.py vendors_for)."""
    from deepseek_probe.probes import _platform, host_psutil

    os_name = "Windows" if plat == _platform.WINDOWS else "Darwin" if plat == _platform.MACOS else None
    started = [
        ("system", lambda: host_psutil.probe_system(os_name or "unknown", env), SystemInfo),
        ("cpu", host_psutil.probe_cpu, CpuInfo),
        ("memory", host_psutil.probe_memory, MemoryInfo),
        ("disk", lambda: host_psutil.probe_disk(model_dir, environ=env), DiskInfo),
    ]
    if nvml is None:  # a real machine, not a test's fake NVML: also the checkpoints on disk
        from deepseek_probe.probes import checkpoints

        started.append(("checkpoints", lambda: checkpoints.probe_checkpoints(model_dir, env), CheckpointsInfo))
    gpu_pending = start_bounded(lambda: _gpus_elsewhere(env, plat, nvml), "gpu")
    pendings = [(name, start_bounded(fn, name), cls) for name, fn, cls in started]
    results = {name: _collect(snap, name, pending, cls, limit_s) for name, pending, cls in pendings}
    snap.system, snap.cpu, snap.memory, snap.disk = (results["system"], results["cpu"],
                                                      results["memory"], results["disk"])
    if "checkpoints" in results:
        snap.checkpoints = results["checkpoints"]
    outcome = gpu_pending.wait(limit_s)
    snap.probe_ms["gpu"] = outcome.elapsed_ms
    if outcome.status == "ok":
        snap.cuda, snap.gpus, snap.links = outcome.value
    else:
        reason = "timeout" if outcome.status == "timeout" else f"error: {type(outcome.error).__name__}"
        snap.cuda = CudaInfo(nvml_status=reason if "nvidia" in vendors else "not_applicable")
    if "nvidia" not in vendors:
        snap.cuda.nvml_status = "not_applicable"  # macOS: no NVIDIA driver exists
    if "apple" in vendors and snap.gpus:
        from deepseek_probe.probes.gpu import apple

        for g in snap.gpus:
            if g.vendor == "apple":
                apple.set_free_from_host(g, snap.memory.available_bytes)


def _gpus_elsewhere(env: Dict[str, str], plat: str, nvml: Any) -> Any:
    from deepseek_probe.probes.gpu import read_gpus

    reading = read_gpus(environ=env, platform=plat, nvml=nvml)
    return reading.cuda, reading.gpus, reading.links


def _collect(snap: Snapshot, name: str, pending: Any, cls: type, limit_s: float) -> Any:
    outcome: Outcome = pending.wait(limit_s)
    snap.probe_ms[name] = outcome.elapsed_ms
    if outcome.status == "ok":
        return outcome.value
    reason = "timeout" if outcome.status == "timeout" else \
        f"error: {type(outcome.error).__name__}: {outcome.error}"[:120]
    record = cls()
    for f in records.fields(cls):
        if f.name != "unavailable" and getattr(record, f.name) is None:
            record.unavailable[f.name] = reason
    return record


def _merge_cuda(nvml_part: CudaInfo, toolkit: CudaInfo, root: str) -> CudaInfo:
    """NVML's driver facts + the toolkit probe's files; driver version from /proc if no NVML."""
    from deepseek_probe.probes import cuda

    merged = nvml_part
    for name in ("nvcc_version", "libcuda_path", "libcudart_path", "cuda_visible_devices"):
        setattr(merged, name, getattr(toolkit, name))
        if name in toolkit.unavailable:
            merged.unavailable[name] = toolkit.unavailable[name]
    if merged.nvml_status != "ok":
        for name in ("driver_version", "cuda_driver_version", "nvml_version"):
            merged.unavailable.setdefault(name, merged.nvml_status)
    if merged.driver_version is None:
        from_proc = cuda.driver_version_from_proc(root)
        if from_proc is not None:
            merged.driver_version = from_proc  # the kernel module's version
            merged.unavailable.pop("driver_version", None)
    return merged


def _tool_version() -> Optional[str]:
    try:
        from deepseek_probe import __version__

        return __version__
    except ImportError:
        return None


def _utc_now() -> str:
    # datetime.now(timezone.utc).strftime(...) gives the same text; time needs no datetime import
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

