"""Will the server start, in its own terms: vLLM's KV pool, longest --max-model-len and maximum
concurrency, SGLang's max_total_num_tokens and max_running_requests, and when either would refuse
to start, the message it would print. Each runtime that can say it has a `start_finding` (its
module under runtimes/); this module picks the GPU it is judged on.

Pure: snapshot GPUs + model + settings -> findings. Both runtimes size themselves from the
device as torch sees it: total = NVML total - the driver's reserved memory (nvmlMemory_v2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Sequence

from deepseek_probe.checks.common import cuda_total_bytes
from deepseek_probe.findings import Finding
from deepseek_probe.snapshot import GpuInfo

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings


def start_findings(spec: ModelSpec, settings: Settings, gpus: Sequence[GpuInfo]) -> List[Finding]:
    """<runtime>.start for the GPUs the profile was placed on (the tightest one decides: every
    rank must start); none for a runtime without a start verdict."""
    from deepseek_probe.runtimes import runtime_model
    from deepseek_probe.runtimes.base import StartDevice

    usable = [g for g in gpus if g.memory_total_bytes and g.memory_free_bytes is not None]
    start_finding = getattr(runtime_model(settings.runtime), "start_finding", None)
    if not usable or start_finding is None:
        return []
    g = min(usable, key=lambda x: (x.memory_free_bytes or 0, cuda_total_bytes(x)))
    device = StartDevice(cuda_total_bytes=min(cuda_total_bytes(x) for x in usable),
                         nvml_total_bytes=int(min(x.memory_total_bytes or 0 for x in usable)),
                         free_bytes=int(g.memory_free_bytes or 0), name=g.name or "")
    return [start_finding(spec, settings, device)]
