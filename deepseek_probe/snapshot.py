"""The machine as plain data: what the probes saw, JSON round-trip, versioned.

Every probe fills one dataclass here. A field that could not be read is ``None`` and its name
maps to a short reason code in that record's ``unavailable`` dict (``not_supported``,
``no_permission``, ``gpu_lost``, ``timeout``, ``not_found``, ``error: …``). ``None`` with no
reason means "not applicable" (e.g. no cgroup memory limit is set).

Rules, plans and reports read only this; they never probe. A saved snapshot (``probe --output``)
replays exactly as the live machine did.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from deepseek_probe import records
from deepseek_probe.errors import InputError
from deepseek_probe.records import field, record

SCHEMA_VERSION = 1


class SnapshotError(InputError):
    """A snapshot document that cannot be loaded (bad JSON, wrong shape, wrong version)."""


class _Record:
    """``==`` and ``repr`` for the records below, written once.

    ``@dataclass`` would generate both for each of the 13 classes with exec() at import: ~3 ms
    of every ``check`` start-up (measured, Python 3.11). Same meaning as the generated ones:
    equal when of the same class with equal fields; unhashable (records are mutable).
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__dataclass_fields__)
        return f"{type(self).__name__}({fields})"

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)


# The records: dataclasses without generated __eq__/__repr__ (see _Record).
_record = record(eq=False, repr=False)


@_record
class GpuProcess(_Record):
    """A process holding memory on a GPU."""

    pid: int
    used_memory_bytes: Optional[int] = None  # None: NVML does not say (e.g. inside a container)


@_record
class GpuInfo(_Record):
    """One GPU as NVML reports it (``index`` is NVML's physical order)."""

    index: int  # NVML index (physical order), not the CUDA_VISIBLE_DEVICES ordinal
    name: Optional[str] = None
    uuid: Optional[str] = None
    serial: Optional[str] = None
    pci_bus_id: Optional[str] = None
    memory_total_bytes: Optional[int] = None
    memory_free_bytes: Optional[int] = None
    memory_used_bytes: Optional[int] = None
    memory_reserved_bytes: Optional[int] = None  # nvmlMemory_v2 'reserved' (driver/firmware)
    compute_capability: Optional[List[int]] = None  # [major, minor]
    architecture: Optional[str] = None  # "hopper", "ampere", …
    pcie_gen_current: Optional[int] = None
    pcie_gen_max: Optional[int] = None  # max the link (GPU and slot) supports
    pcie_width_current: Optional[int] = None
    pcie_width_max: Optional[int] = None
    memory_bus_width_bits: Optional[int] = None
    max_memory_clock_mhz: Optional[int] = None
    max_sm_clock_mhz: Optional[int] = None
    cuda_cores: Optional[int] = None
    nvlink_active_links: Optional[int] = None  # links in state 'up'; 0 = none
    mig_enabled: Optional[bool] = None  # current MIG mode
    ecc_enabled: Optional[bool] = None  # current ECC mode
    ecc_uncorrected_volatile: Optional[int] = None
    remapped_rows_pending: Optional[bool] = None
    remapped_rows_failed: Optional[bool] = None
    persistence_mode: Optional[bool] = None
    compute_mode: Optional[str] = None  # "default", "exclusive_process", "prohibited"
    temperature_c: Optional[int] = None
    power_limit_w: Optional[float] = None
    power_usage_w: Optional[float] = None
    throttle_reasons: Optional[List[str]] = None  # active clock-event reasons, [] = none
    processes: Optional[List[GpuProcess]] = None
    vbios_version: Optional[str] = None
    visible: bool = True  # False when CUDA_VISIBLE_DEVICES hides this GPU
    unavailable: Dict[str, str] = field(default_factory=dict)
    # --- beyond NVIDIA on Linux (issue 17). Written to JSON only when not None (see
    # _OMIT_WHEN_NONE), so every snapshot made before them keeps its exact bytes. ---
    vendor: Optional[str] = None  # "amd", "apple"; None = NVIDIA (NVML), as in every older snapshot
    gfx_target: Optional[str] = None  # AMD LLVM target from KFD, "gfx1100", "gfx942"
    compute_units: Optional[int] = None  # AMD CUs (KFD simd_count / simd_per_cu)
    busy_percent: Optional[int] = None  # amdgpu gpu_busy_percent
    memory_visible_bytes: Optional[int] = None  # amdgpu mem_info_vis_vram_total (CPU-visible BAR)
    unified_memory_bytes: Optional[int] = None  # Apple: all of RAM (hw.memsize); memory_total = Metal's limit
    memory_limit_source: Optional[str] = None  # Apple: how memory_total_bytes was found (see probes/gpu/apple.py)
    rated_memory_bandwidth_bytes_per_s: Optional[float] = None  # from a sourced per-chip table
    driver_model: Optional[str] = None  # Windows: "wddm", "tcc", "mcdm" (nvmlDeviceGetDriverModel)
    display_active: Optional[bool] = None  # Windows: a display is driven by this GPU (takes VRAM)

    @property
    def memory_bandwidth_bytes_per_s(self) -> Optional[float]:
        """Peak DRAM bandwidth: 2 transfers per clock (DDR/HBM) x bus width; else the rated
        figure of the chip's table (Apple: no clock or bus width is exposed).

        H100 SXM: 2 x 2619 MHz x 5120 bit / 8 = 3.35 TB/s (NVIDIA's datasheet: 3.35 TB/s).
        """
        if not self.max_memory_clock_mhz or not self.memory_bus_width_bits:
            return self.rated_memory_bandwidth_bytes_per_s
        return 2 * self.max_memory_clock_mhz * 1e6 * self.memory_bus_width_bits / 8


@_record
class GpuLink(_Record):
    """How two GPUs talk: the basis for tensor-parallel placement."""

    gpu_a: int
    gpu_b: int
    common_ancestor: Optional[str] = None  # "internal","single","multiple","hostbridge","node","system"
    nvlink_p2p: Optional[bool] = None  # NVML P2P status over NVLink is OK
    unavailable: Dict[str, str] = field(default_factory=dict)


@_record
class CudaInfo(_Record):
    """Driver, NVML and toolkit facts; ``nvml_status`` says why GPUs could not be listed."""

    nvml_status: str = "ok"  # "ok","library_not_found","driver_not_loaded","no_permission","timeout","error: …"
    driver_version: Optional[str] = None  # "580.159.04"
    cuda_driver_version: Optional[str] = None  # max CUDA the driver supports, "13.0"
    nvml_version: Optional[str] = None
    nvcc_version: Optional[str] = None  # toolkit on PATH, "13.0"
    libcuda_path: Optional[str] = None
    libcudart_path: Optional[str] = None
    cuda_visible_devices: Optional[str] = None  # raw env value; None = unset
    unavailable: Dict[str, str] = field(default_factory=dict)
    # WSL2: the driver is the Windows host's (NVML reports the Windows driver's version); the
    # Linux side only sees its user-mode files under /usr/lib/wsl. JSON only when not None.
    host_driver_os: Optional[str] = None  # "windows" under WSL2
    wsl_driver_store: Optional[str] = None  # /usr/lib/wsl/drivers/<nv*.inf_amd64_*> folder name


@_record
class CpuInfo(_Record):
    """The host CPU: model, cores this process may use, ISA flags that matter for inference."""

    model: Optional[str] = None
    vendor: Optional[str] = None
    arch: Optional[str] = None
    logical_cores: Optional[int] = None
    physical_cores: Optional[int] = None
    usable_cores: Optional[float] = None  # min(affinity, cgroup cpu.max quota/period)
    flags: Optional[List[str]] = None  # inference-relevant ISA flags present (avx2, avx512f, …)
    numa_nodes: Optional[int] = None
    unavailable: Dict[str, str] = field(default_factory=dict)


@_record
class MemoryInfo(_Record):
    """Host RAM, swap, /dev/shm and the limits (cgroup, memlock) on this process."""

    total_bytes: Optional[int] = None
    available_bytes: Optional[int] = None
    swap_total_bytes: Optional[int] = None
    swap_free_bytes: Optional[int] = None
    shm_total_bytes: Optional[int] = None
    shm_free_bytes: Optional[int] = None
    cgroup_version: Optional[int] = None  # 1, 2, or None (not in a cgroup we can read)
    cgroup_limit_bytes: Optional[int] = None  # None with no reason: no limit
    memlock_limit_bytes: Optional[int] = None  # None with no reason: unlimited
    unavailable: Dict[str, str] = field(default_factory=dict)
    # Host memory bandwidth, what CPU token generation is bound by (probes/membw.py). JSON only
    # when not None.
    memory_type: Optional[str] = None  # "DDR4", "DDR5", "LPDDR5", … (SMBIOS type 17)
    dimm_speed_mts: Optional[int] = None  # configured speed, MT/s
    dimm_count: Optional[int] = None  # populated DIMMs
    memory_channels: Optional[int] = None  # populated channels (EDAC) or a table's figure
    memory_bandwidth_bytes_per_s: Optional[float] = None  # peak: channels x 8 B x MT/s
    memory_bandwidth_source: Optional[str] = None  # "smbios", "edac", "table: …", "range: …"
    memory_bandwidth_low_bytes_per_s: Optional[float] = None  # lower end when only a range is known


@_record
class DiskInfo(_Record):
    """The filesystem that will hold the model (``path``)."""

    path: Optional[str] = None
    total_bytes: Optional[int] = None
    free_bytes: Optional[int] = None
    fstype: Optional[str] = None
    device: Optional[str] = None
    rotational: Optional[bool] = None
    unavailable: Dict[str, str] = field(default_factory=dict)


@_record
class SystemInfo(_Record):
    """OS, kernel, Python, host name and container runtime."""

    os_name: Optional[str] = None  # "Linux"
    os_release: Optional[str] = None  # /etc/os-release PRETTY_NAME
    kernel: Optional[str] = None
    arch: Optional[str] = None
    python_version: Optional[str] = None
    hostname: Optional[str] = None
    container: Optional[str] = None  # "docker","podman","kubernetes","lxc","container"; None = bare
    wsl: Optional[bool] = None
    unavailable: Dict[str, str] = field(default_factory=dict)
    # Who ran the probe (issue 24), so a report redacts that identity wherever it appears, even
    # from a saved snapshot. JSON only when not None.
    user: Optional[str] = None  # the effective user's login name (pwd)
    home: Optional[str] = None  # that user's home folder
    login_names: Optional[List[str]] = None  # other names in SUDO_USER / LOGNAME / USER


@_record
class RocmInfo(_Record):
    """AMD's stack on Linux: ROCm release, HIP runtime, the visibility variables."""

    rocm_version: Optional[str] = None  # "6.2.4" from /opt/rocm/.info/version (or amdsmi)
    rocm_path: Optional[str] = None
    hip_runtime_path: Optional[str] = None  # libamdhip64.so found
    kfd_present: Optional[bool] = None  # /dev/kfd-backed topology exists (ROCm's kernel driver)
    source: Optional[str] = None  # "amdsmi" or "sysfs"
    hip_visible_devices: Optional[str] = None  # raw env values; None = unset
    rocr_visible_devices: Optional[str] = None
    cuda_visible_devices: Optional[str] = None  # HIP honours it too (HIP docs, "Environment variables")
    unavailable: Dict[str, str] = field(default_factory=dict)


@_record
class NicInfo(_Record):
    """A physical network interface."""

    name: str
    speed_mbps: Optional[int] = None  # None: unknown or link down
    up: Optional[bool] = None


@_record
class IbPort(_Record):
    """One port of an InfiniBand (or RoCE) device."""

    device: str  # "mlx5_0"
    port: int
    state: Optional[str] = None  # "ACTIVE", "DOWN", …
    rate_gbps: Optional[float] = None
    link_layer: Optional[str] = None  # "InfiniBand" or "Ethernet" (RoCE)


@_record
class NetworkInfo(_Record):
    """Interconnect for multi-node serving (fleet checks)."""

    nics: List[NicInfo] = field(default_factory=list)
    ib_ports: List[IbPort] = field(default_factory=list)
    gpudirect_rdma: Optional[bool] = None  # nvidia_peermem (or nv_peer_mem) module loaded
    unavailable: Dict[str, str] = field(default_factory=dict)


@_record
class LocalCheckpoint(_Record):
    """A model checkpoint already on this machine (probes/checkpoints.py), from its headers."""

    source: str  # hf_cache | ollama | lmstudio | model_dir
    name: str  # HF repo id, Ollama name:tag, or the file / folder name
    path: Optional[str] = None
    format: Optional[str] = None  # safetensors | gguf | unknown
    bytes_on_disk: Optional[int] = None
    expected_bytes: Optional[int] = None  # what the headers say the data should take
    complete: Optional[bool] = None
    params: Optional[int] = None
    bytes_by_dtype: Dict[str, int] = field(default_factory=dict)  # safetensors dtype or ggml type
    precision: Optional[str] = None  # a profiles.PRECISIONS name when one fits
    architecture: Optional[str] = None  # model_type / general.architecture
    error: Optional[str] = None  # a corrupt header: one line naming the file


@_record
class CheckpointsInfo(_Record):
    """Checkpoints found in the Hugging Face cache, Ollama's and LM Studio's stores, --model-dir."""

    found: List[LocalCheckpoint] = field(default_factory=list)
    roots: List[str] = field(default_factory=list)  # folders looked at
    unavailable: Dict[str, str] = field(default_factory=dict)


@_record
class PciDevice(_Record):
    """A GPU seen on the PCI bus (probes/pci.py), whether or not its driver answers."""

    address: str  # sysfs name, "0000:19:00.0" (domain:bus:device.function)
    vendor: str  # "0x10de" NVIDIA, "0x1002" AMD
    device: Optional[str] = None  # "0x2330" (H100 SXM5 80GB)
    pci_class: Optional[str] = None  # "0x030200" 3D controller, "0x030000" VGA


@_record
class PythonEnv(_Record):
    """One Python environment and the inference packages installed in it (probes/installed.py),
    read from its dist-info folders without running it or importing them."""

    interpreter: str  # as found: sys.executable, the launch command's word, a script's shebang
    found_by: str  # "this interpreter" | "launch command" | "vllm on PATH" | "python3 on PATH"
    prefix: Optional[str] = None  # the environment's folder (a venv's, or the install prefix)
    site_packages: List[str] = field(default_factory=list)  # folders searched, in sys.path order
    packages: Dict[str, str] = field(default_factory=dict)  # distribution name -> version
    unavailable: Dict[str, str] = field(default_factory=dict)  # "packages": why nothing was read


@_record
class InstalledProgram(_Record):
    """A runtime program found on PATH (llama-server, ollama, lms; the vllm / sglang scripts)."""

    name: str
    path: str
    version: Optional[str] = None  # from `X --version`, only with --probe-versions
    unavailable: Dict[str, str] = field(default_factory=dict)  # "version": why it was not read


@_record
class InstalledInfo(_Record):
    """The inference runtimes installed on this machine (issue 23): what the default
    --runtime-version comes from. A replay (--snapshot) reads these, never the replaying box."""

    pythons: List[PythonEnv] = field(default_factory=list)
    programs: List[InstalledProgram] = field(default_factory=list)
    versions_probed: bool = False  # True when `X --version` ran (--probe-versions)
    unavailable: Dict[str, str] = field(default_factory=dict)


@_record
class Snapshot(_Record):
    """Everything the probes saw on one machine at ``captured_at``."""

    schema_version: int = SCHEMA_VERSION
    tool_version: Optional[str] = None
    captured_at: Optional[str] = None  # ISO 8601 UTC
    system: SystemInfo = field(default_factory=SystemInfo)
    cpu: CpuInfo = field(default_factory=CpuInfo)
    memory: MemoryInfo = field(default_factory=MemoryInfo)
    disk: DiskInfo = field(default_factory=DiskInfo)
    cuda: CudaInfo = field(default_factory=CudaInfo)
    gpus: List[GpuInfo] = field(default_factory=list)
    links: List[GpuLink] = field(default_factory=list)
    network: NetworkInfo = field(default_factory=NetworkInfo)
    checkpoints: CheckpointsInfo = field(default_factory=CheckpointsInfo)
    probe_ms: Dict[str, float] = field(default_factory=dict)  # wall time of each probe
    rocm: Optional[RocmInfo] = None  # AMD hosts only; JSON only when not None
    # GPUs on the PCI bus (issue 24); None = not known (an older snapshot, no sysfs: the reason
    # is system.unavailable["pci_gpus"]), [] = none. JSON only when not None.
    pci_gpus: Optional[List[PciDevice]] = None
    # Installed runtimes (issue 23, probes/installed.py); None = not recorded (a snapshot made
    # before it: every fixture). JSON only when not None.
    installed: Optional[InstalledInfo] = None

    @property
    def visible_gpus(self) -> List[GpuInfo]:
        return [g for g in self.gpus if g.visible]

    def to_dict(self) -> Dict[str, Any]:
        doc = records.asdict(self)
        _omit_none(doc)
        return doc

    def to_json(self, indent: Optional[int] = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, doc: Any) -> "Snapshot":
        if not isinstance(doc, dict):
            raise SnapshotError("snapshot must be a JSON object")
        version = doc.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SnapshotError(f"unsupported snapshot schema_version {version!r} (this tool reads {SCHEMA_VERSION})")
        from deepseek_probe.strict_json import build

        snap = build(cls, doc, "snapshot", SnapshotError)
        _check_values(snap)
        return snap

    @classmethod
    def from_json(cls, text: str) -> "Snapshot":
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise SnapshotError(f"not valid JSON: {e}") from None
        return cls.from_dict(doc)

    @classmethod
    def load(cls, path: str) -> "Snapshot":
        from deepseek_probe.files import FileKindError, read_regular

        try:  # a regular file only: a FIFO or a device would block or never end (files.py)
            raw = read_regular(path, 64 * 1024 * 1024 + 1)
        except FileKindError as e:
            raise SnapshotError(f"cannot read snapshot {path}: {e.reason}") from None
        except OSError as e:
            raise SnapshotError(f"cannot read snapshot {path}: {e.strerror or e}") from None
        if len(raw) > 64 * 1024 * 1024:
            raise SnapshotError(f"snapshot {path} is larger than 64 MiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SnapshotError(f"snapshot {path} is not UTF-8 text") from None
        return cls.from_json(text)


# Fields added after schema 1 was first published (issue 17). They are left out of the JSON
# while None, so snapshots, goldens and fleet files made before them stay byte-identical and an
# older reader never meets a key it does not know. Names are unique across the records.
_OMIT_WHEN_NONE = frozenset((
    "vendor", "gfx_target", "compute_units", "busy_percent", "memory_visible_bytes",
    "unified_memory_bytes", "memory_limit_source", "rated_memory_bandwidth_bytes_per_s",
    "driver_model", "display_active",  # GpuInfo
    "host_driver_os", "wsl_driver_store",  # CudaInfo
    "memory_type", "dimm_speed_mts", "dimm_count", "memory_channels",
    "memory_bandwidth_bytes_per_s", "memory_bandwidth_source",
    "memory_bandwidth_low_bytes_per_s",  # MemoryInfo
    "user", "home", "login_names",  # SystemInfo
    "rocm", "pci_gpus", "installed",  # Snapshot
))


def _omit_none(doc: Dict[str, Any]) -> None:
    for key in [k for k, v in doc.items() if v is None and k in _OMIT_WHEN_NONE]:
        del doc[key]
    for value in doc.values():
        if isinstance(value, dict):
            _omit_none(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _omit_none(item)


# --- values no machine can have (issue 24): a typed field can still hold an impossible value ---
# Upper bounds on counts, far above any real host, so that a corrupt or hand-edited file is
# refused instead of producing CUDA_VISIBLE_DEVICES=0,0,0,… for 5 000 copies of one GPU. The
# largest Linux build supports 8192 CPUs (arch/x86/Kconfig NR_CPUS_RANGE_END with MAXSMP); NVIDIA's
# largest NVLink domain, GB200 NVL72, is 72 GPUs over 18 hosts (4 per host).
MAX_GPUS = 1024
MAX_CPUS = 65536
# Fields allowed below zero: a temperature (a sensor may read below 0 °C).
_MAY_BE_NEGATIVE = frozenset(("temperature_c",))


def _check_values(snap: "Snapshot") -> None:
    """SnapshotError naming the field when a value is impossible: a negative size or count, free
    or used above total, the same GPU index or UUID twice, absurd counts."""
    _no_negatives(snap, "snapshot")
    if len(snap.gpus) > MAX_GPUS:
        raise SnapshotError(f"snapshot.gpus: {len(snap.gpus)} GPUs (more than {MAX_GPUS} on one host is not a real machine)")
    seen_index: Dict[int, int] = {}
    seen_uuid: Dict[str, int] = {}
    for i, g in enumerate(snap.gpus):
        where = f"snapshot.gpus[{i}]"
        if g.index in seen_index:
            raise SnapshotError(f"{where}.index: GPU index {g.index} appears twice (also gpus[{seen_index[g.index]}])")
        seen_index[g.index] = i
        if g.uuid:
            if g.uuid in seen_uuid:
                raise SnapshotError(f"{where}.uuid: the same GPU UUID appears twice (also gpus[{seen_uuid[g.uuid]}])")
            seen_uuid[g.uuid] = i
        total = g.memory_total_bytes
        for name in ("memory_free_bytes", "memory_used_bytes", "memory_reserved_bytes"):
            value = getattr(g, name)
            if total is not None and value is not None and value > total:
                raise SnapshotError(f"{where}.{name}: {value} is more than memory_total_bytes {total}")
    m = snap.memory
    for part, whole in (("available_bytes", "total_bytes"), ("swap_free_bytes", "swap_total_bytes"),
                        ("shm_free_bytes", "shm_total_bytes")):
        _not_above(getattr(m, part), getattr(m, whole), f"snapshot.memory.{part}", whole)
    _not_above(snap.disk.free_bytes, snap.disk.total_bytes, "snapshot.disk.free_bytes", "total_bytes")
    for name in ("logical_cores", "physical_cores", "usable_cores"):
        value = getattr(snap.cpu, name)
        if value is not None and value > MAX_CPUS:
            raise SnapshotError(f"snapshot.cpu.{name}: {value} (more than {MAX_CPUS} CPUs is not a real machine)")


def _not_above(part: Optional[int], whole: Optional[int], where: str, whole_name: str) -> None:
    if part is not None and whole is not None and part > whole:
        raise SnapshotError(f"{where}: {part} is more than {whole_name} {whole}")


def _no_negatives(record: Any, where: str) -> None:
    """Every number in the record tree is >= 0 (sizes, counts, clocks, watts, latencies)."""
    for f in records.fields(record):
        value = getattr(record, f.name)
        at = f"{where}.{f.name}"
        if isinstance(value, list):
            for i, item in enumerate(value):
                if records.is_dataclass(item):
                    _no_negatives(item, f"{at}[{i}]")
                elif _negative(item):
                    raise SnapshotError(f"{at}[{i}]: negative value {item}")
        elif isinstance(value, dict):
            for key, item in value.items():
                if _negative(item):
                    raise SnapshotError(f"{at}.{key}: negative value {item}")
        elif records.is_dataclass(value):
            _no_negatives(value, at)
        elif _negative(value) and f.name not in _MAY_BE_NEGATIVE:
            raise SnapshotError(f"{at}: negative value {value}")


def _negative(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0
