"""Small helpers every check family shares: version parsing, GPU labels, the placement record.

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from deepseek_probe.snapshot import GpuInfo
from deepseek_probe.records import record

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.runtimes.base import Estimate


def parse_version(text: Optional[str]) -> Optional[Tuple[int, ...]]:
    """'580.159.04' -> (580, 159, 4); '13.0' -> (13, 0); junk -> None."""
    if not text:
        return None
    parts = []
    for p in str(text).strip().split("."):
        digits = "".join(ch for ch in p if "0" <= ch <= "9")  # not isdigit(): '²' is a digit
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def vstr(v: Tuple[int, ...]) -> str:
    return ".".join(f"{x:02d}" if i == 2 else str(x) for i, x in enumerate(v))


def cc_of(g: GpuInfo) -> Optional[Tuple[int, int]]:
    if g.compute_capability and len(g.compute_capability) >= 2:
        return (int(g.compute_capability[0]), int(g.compute_capability[1]))
    return None


def cc_str(cc: Tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def gpu_label(g: GpuInfo) -> str:
    name = (g.name or "GPU").replace("NVIDIA ", "")
    return f"GPU {g.index} ({name})"


def unavailable_reason(record: Any, name: str) -> str:
    return (getattr(record, "unavailable", {}) or {}).get(name) or "not reported"


@record(many=True)
class Placement:
    """Where the model goes: which GPUs, which tensor-parallel size, and whether it fits."""

    gpus: List[GpuInfo]
    tensor_parallel: int
    estimate: Optional[Estimate]
    fits: bool
    auto: bool = False
    offload: Any = None  # plan.OffloadSplit when llama.cpp keeps layers on the CPU


def is_lost(g: GpuInfo) -> bool:
    return "gpu_lost" in (g.unavailable or {}).values()


def cuda_total_bytes(g: GpuInfo) -> int:
    """cudaMemGetInfo's total, what vLLM and SGLang size themselves from: NVML total less the
    driver's reserved memory (nvmlMemory_v2 'reserved'; 480 MiB on an H100, driver 580)."""
    return int(g.memory_total_bytes or 0) - int(g.memory_reserved_bytes or 0)


def need_bytes(est: Estimate) -> int:
    return int(est.per_device.total_bytes)
