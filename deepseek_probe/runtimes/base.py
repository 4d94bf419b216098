"""Types every runtime model shares: the settings asked about and the estimate returned.

They sit below every runtime module and the checks, so nothing above needs to import a runtime
to name them (issue 13: no import circles, real types in signatures).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol, Tuple

from deepseek_probe.errors import InputError

if TYPE_CHECKING:  # types only: profiles never imports runtimes, so no circle at run time
    from deepseek_probe.profiles import ModelSpec

MiB = 1 << 20
GiB = 1 << 30


class EstimateInputError(InputError):
    """Settings that make no sense for this model (context <= 0 or past max, TP not dividing heads…)."""


@dataclass(frozen=True)
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


@dataclass
class DeviceMemory:
    """Bytes one GPU holds at peak for this process (what NVML shows used by it); no margin."""

    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    activation_bytes: int = 0
    runtime_overhead_bytes: int = 0
    total_bytes: int = 0


@dataclass
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


@dataclass(frozen=True)
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
    # True when it runs FP8 weights on GPUs without FP8 units through Marlin's weight-only kernels
    # (vLLM: model_executor/layers/quantization/utils/marlin_utils_fp8.py).
    fp8_marlin: bool = False


class RuntimeModel(Protocol):
    """What each runtimes/<name>.py module provides (a module satisfies it structurally)."""

    RUNTIME: Runtime

    def account(self, spec: "ModelSpec", s: Settings, est: Estimate,
                device_total_bytes: Optional[int]) -> None:
        """Fill est.per_device (activation, overhead, total; weights/KV where the runtime differs
        from the shared math), est.notes and est.sources."""

    def host_ram_bytes(self, spec: "ModelSpec", s: Settings, est: Estimate) -> int:
        """Host RAM the runtime holds once loaded (per node)."""
