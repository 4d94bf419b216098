"""Types every runtime model shares: the settings asked about and the estimate returned.

They sit below every runtime module and the checks, so nothing above needs to import a runtime
to name them (issue 13: no import circles, real types in signatures).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Optional, Protocol, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.records import asdict, field, record

if TYPE_CHECKING:  # types only: profiles never imports runtimes, so no circle at run time
    from deepseek_probe.profiles import ModelSpec

MiB = 1 << 20
GiB = 1 << 30


class EstimateInputError(InputError):
    """Settings that make no sense for this model (context <= 0 or past max, TP not dividing heads…)."""


@record(frozen=True, many=True)
class Settings:
    precision: str = "bf16"  # fp32 bf16 fp16 fp8 int8 int4 | q8_0 q6_k q5_k_m q4_k_m q4_0 q3_k_m q2_k
    kv_precision: str = "bf16"  # bf16 fp16 fp8 q8_0 q4_0
    context: int = 4096  # tokens per sequence
    concurrency: int = 1  # sequences decoded together
    runtime: str = "transformers"  # transformers | vllm | llamacpp
    tensor_parallel: int = 1
    # MLA models only: "latent" caches (kv_lora_rank + rope) per token and layer (vLLM, SGLang,
    # transformers 5, llama.cpp >= PR #12801 with a new GGUF); "decompressed" caches full K and V
    # per head (older runtimes and older GGUF conversions; docs/reference/deepseek-models.md).
    mla_cache: str = "latent"
    # vLLM --gpu-memory-utilization: the fraction of TOTAL device memory the process takes.
    gpu_memory_utilization: float = 0.9
    # transformers only: the GPU's CUDA compute capability (9.0 = H100/H200), which picks the
    # attention kernel and cuBLAS workspace; None = the Hopper host we calibrated on.
    gpu_compute_capability: Optional[float] = None
    # The runtime's own launch options (a frozen dataclass its module defines, e.g. from a parsed
    # launch command); None = that runtime's defaults.
    runtime_options: Any = None
    # The runtime release to model ("0.8.4", llama.cpp "b6123"); None = the newest modelled
    # (runtimes/versions.py resolve; Runtime.versions).
    runtime_version: Optional[str] = None


@record(many=True)
class DeviceMemory:
    """Bytes one GPU holds at peak for this process (what NVML shows used by it); no margin."""

    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    activation_bytes: int = 0
    runtime_overhead_bytes: int = 0
    total_bytes: int = 0


@record(many=True)
class Estimate:
    model: str
    precision: str
    kv_precision: str
    context: int
    concurrency: int
    runtime: str
    tensor_parallel: int
    params: int
    per_device: DeviceMemory
    host_ram_bytes: int
    disk_bytes: int
    bytes_read_per_token: int  # per device, decode step: active weights + KV read
    sources: Dict[str, str] = field(default_factory=dict)  # component -> where its constant comes from
    notes: Dict[str, Any] = field(default_factory=dict)  # runtime-specific facts (vLLM pool, max context…)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON contract of DESIGN.md (`estimate --format json`)."""
        return {"schema_version": 1, **asdict(self)}


@record(frozen=True)
class CudaBuilds:
    """Which CUDA a runtime's current binaries are built with (checks/driver.py)."""

    default: str  # what `pip install` / the default download gives
    alternatives: Tuple[str, ...]  # other official builds, newest first
    auto_select: bool  # picks the build the driver supports by itself
    how_to_switch: str  # {v}: the build's version without the dot ("128")
    source: str


@record(frozen=True)
class RocmBuild:
    """The AMD gfx targets one build of a runtime lists (checks/amd.py: finding amd.runtime.<name>)."""

    name: str
    targets: FrozenSet[str]
    source: str
    # True when a source build can target any gfx (a missing target is a warning, not a failure).
    builds_from_source: bool = False


@record(frozen=True)
class StartDevice:
    """The GPU a runtime's start verdict is judged on: the tightest of the placement (every rank
    must start). cuda_total_bytes: what torch sees (NVML total - the driver's reserved memory)."""

    cuda_total_bytes: int
    nvml_total_bytes: int
    free_bytes: int
    name: str


@record(frozen=True)
class Runtime:
    """What a runtime accepts and what a user gets without flags."""

    name: str
    precisions: Tuple[str, ...]
    kv_precisions: Tuple[str, ...]
    default_context: int  # tokens; capped at the model's maximum (0 = the model's maximum)
    source: str
    notes: Tuple[str, ...] = field(default=())
    default_precision: Optional[str] = None  # None = the checkpoint's own dtype
    default_kv_precision: str = "bf16"
    # True when several GPUs each hold whole layers (llama.cpp --split-mode layer) instead of a
    # slice of every matrix (tensor parallelism): the KV cache and weights split by layer.
    splits_layers: bool = False
    # True when the runtime allocates a context longer than the model was trained for (llama.cpp
    # only warns: llama-context.cpp "n_ctx_seq > n_ctx_train"); the others cap it or refuse.
    context_beyond_trained: bool = False
    # True when every layer all-reduces across the tensor-parallel GPUs (vLLM, SGLang): the GPUs
    # read their shares at once, and the link between them matters (speed.py, checks/placement.py).
    all_reduce_per_layer: bool = False
    # True when it runs a model with no GPU at all (llama.cpp's CPU backend).
    runs_on_cpu: bool = False
    # True when it loads GGUF files (a GGUF quant names its weights; an HF checkpoint's does not).
    loads_gguf: bool = False
    # True for the runtime Hugging Face Trainer (and TRL, LLaMA-Factory, axolotl on it) trains in.
    trains: bool = False
    # True when it runs FP8 weights on GPUs without FP8 units through Marlin's weight-only kernels
    # (vLLM: model_executor/layers/quantization/utils/marlin_utils_fp8.py).
    fp8_marlin: bool = False
    # The name a user reads ("vLLM", "llama.cpp").
    label: str = ""
    # Lower weight precisions a fix may propose, best quality first (fixes.py).
    lower_precisions: Tuple[str, ...] = ()
    # A quantised KV cache a fix may propose: (KV precision, the flags that ask for it).
    kv_fix: Optional[Tuple[str, str]] = None
    # True when it reserves a fraction of the device's total memory at start and refuses to start
    # unless that much is free (vLLM --gpu-memory-utilization): its budget on a GPU is that share,
    # and its estimate with a device is the reservation, not the need.
    reserves_fraction_of_total: bool = False
    # The flags that split a model over {n} GPUs ("" = not said).
    tp_flag: str = ""
    # True when the tensor-parallel link and /dev/shm are checked for it (checks/placement.py,
    # checks/host.py): one worker process per GPU sharing tensors over NCCL and /dev/shm (vLLM).
    # SGLang all-reduces too (all_reduce_per_layer), but those two findings do not cover it yet.
    nccl_workers: bool = False
    # How to serve over {pp} nodes of {tp} GPUs (fleet.py); None = one process on one node.
    multinode_hint: Optional[str] = None
    # True when its cache for the sparse-attention families (V3.2, V4) was measured, not derived.
    sparse_kv_measured: bool = False
    # CUDA builds it ships (None = no CUDA build modelled).
    cuda: Optional[CudaBuilds] = None
    # Oldest compute capability it runs on at all (None = any the precision allows).
    min_compute_capability: Optional[Tuple[int, int]] = None
    # True when its int4 kernels are Marlin's (need 8.0; older GPUs get slower AWQ/GPTQ kernels).
    int4_marlin: bool = False
    # True when its attention backend is FlashAttention-2 (needs 8.0; a slower one below).
    flash_attention_2: bool = False
    # Its AMD builds and the gfx targets each lists.
    rocm_builds: Tuple[RocmBuild, ...] = ()
    # False when it has no native Windows build (only inside WSL2).
    native_windows: bool = True
    # On Apple Silicon: "metal" (runs on the GPU), "mps" (PyTorch MPS, not modelled), None (no
    # Apple GPU backend).
    apple_backend: Optional[str] = None
    # (oldest, newest) release its module models (runtimes/versions.py); () = one release only.
    versions: Tuple[str, ...] = ()
    # True when its releases are build numbers (llama.cpp "b6123"), not x.y.z.
    version_is_build: bool = False


class RuntimeModel(Protocol):
    """What each runtimes/<name>.py module provides (a module satisfies it structurally)."""

    RUNTIME: Runtime

    def account(self, spec: "ModelSpec", s: Settings, est: Estimate,
                device_total_bytes: Optional[int]) -> None:
        """Fill est.per_device (activation, overhead, total; weights/KV where the runtime differs
        from the shared math), est.notes and est.sources."""

    def host_ram_bytes(self, spec: "ModelSpec", s: Settings, est: Estimate) -> int:
        """Host RAM the runtime holds once loaded (per node)."""

    # Optional, looked up with getattr (a module may leave them out):
    # start_finding(spec, settings, device: StartDevice) -> Finding: whether the server starts on
    #     that GPU, in its own words (checks/runtime_start.py).
    # gpu_layers(est) -> Optional[int]: the layers its allocation put on the GPU.
    # sized_by_device(settings) -> bool: False where account() ignores device_total_bytes for
    #     these settings (estimate.estimate then shares one answer across device sizes).
