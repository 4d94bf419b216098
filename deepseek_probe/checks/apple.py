"""Apple Silicon checks: which runtimes exist there, and whether the model fits in the GPU's
working-set limit (GpuInfo.memory_total_bytes, see probes/gpu/apple.py). Pure.

Runtimes on a Mac: llama.cpp / Ollama / LM Studio (Metal backend, ggml/src/ggml-metal) and MLX.
vLLM and SGLang have no Metal backend (their GPU paths are CUDA and ROCm kernels); transformers
runs on PyTorch's MPS device, which this tool does not model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from deepseek_probe.findings import Finding
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.snapshot import Snapshot

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings

GIB = 1024 ** 3


def findings(snapshot: Snapshot, spec: Optional[ModelSpec], settings: Settings,
             required_bytes: Optional[int] = None) -> List[Finding]:
    """``required_bytes``: the runtime estimate's total for one device, when the caller has
    one; without it only the weights are budgeted (and the finding says so)."""
    gpus = [g for g in snapshot.gpus if g.vendor == "apple"]
    if not gpus:
        return []
    g = gpus[0]
    out: List[Finding] = []
    runtime = settings.runtime
    backend = RUNTIMES[runtime].apple_backend  # Runtime.apple_backend: metal | mps | None
    if backend is None:
        out.append(Finding("apple.runtime", "fail", f"{runtime} has no Apple Silicon (Metal) backend",
                           measured=runtime, required="llamacpp or mlx",
                           suggestion="use llama.cpp / Ollama / LM Studio (Metal) or MLX"))
        return out
    if backend == "mps":
        out.append(Finding("apple.runtime", "warn", f"{runtime} runs on PyTorch MPS here: not modelled, "
                           "and much slower than llama.cpp or MLX", suggestion="use llama.cpp or MLX"))
    limit = g.memory_total_bytes
    if limit is None:
        out.append(Finding("apple.working_set", "unknown", "the GPU working-set limit could not be read",
                           suggestion="run `sysctl hw.memsize iogpu.wired_limit_mb` and attach it"))
        return out
    what = "estimate"
    if required_bytes is None:
        from deepseek_probe.profiles import weight_bytes

        try:
            required_bytes = weight_bytes(spec, settings.precision)  # type: ignore[arg-type]
        except (KeyError, AttributeError, TypeError):
            return out
        what = "weights only (KV cache and compute buffers come on top)"
    ram = g.unified_memory_bytes
    source = g.memory_limit_source or "unknown"
    measured = f"{required_bytes / GIB:.1f} GiB needed ({what})"
    if required_bytes <= limit:
        out.append(Finding("apple.working_set", "pass",
                           f"fits the Metal working set: {required_bytes / GIB:.1f} of {limit / GIB:.1f} GiB ({source})",
                           measured=required_bytes, required=limit))
    elif ram and required_bytes < ram * 0.9:
        # iogpu.wired_limit_mb raises Metal's limit (probes/gpu/apple.py); leave the OS ~10%.
        want_mb = int(required_bytes * 1.05 / (1024 * 1024))
        out.append(Finding("apple.working_set", "warn",
                           f"{measured} is over the Metal working set ({limit / GIB:.1f} GiB, {source}) "
                           f"but under RAM ({ram / GIB:.0f} GiB)", measured=required_bytes, required=limit,
                           suggestion=f"sudo sysctl iogpu.wired_limit_mb={want_mb} (until reboot), or a smaller quant"))
    else:
        out.append(Finding("apple.working_set", "fail",
                           f"{measured} does not fit: working set {limit / GIB:.1f} GiB, RAM "
                           f"{(ram or 0) / GIB:.0f} GiB", measured=required_bytes, required=limit,
                           suggestion="a smaller quantisation or model"))
    bw = g.memory_bandwidth_bytes_per_s
    active = getattr(spec, "active_params", None)
    params = getattr(spec, "params", None)
    if bw and active and params and required_bytes:
        # Decode reads every active weight once per token: a ceiling, not a forecast.
        per_token = required_bytes * active / params
        out.append(Finding("apple.bandwidth", "pass",
                           f"decode is bandwidth-bound at <= {bw / per_token:.0f} tok/s "
                           f"({bw / 1e9:.0f} GB/s, chip table)", measured=round(bw / per_token, 1)))
    return out
