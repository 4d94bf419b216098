"""Will the server start, in its own terms: vLLM's KV pool, longest --max-model-len and maximum
concurrency, SGLang's max_total_num_tokens and max_running_requests, and when either would refuse
to start, the message it would print (runtimes/vllm.py, runtimes/sglang.py).

Pure: snapshot GPUs + model + settings -> findings. Both runtimes size themselves from the
device as torch sees it: total = NVML total - the driver's reserved memory (nvmlMemory_v2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Sequence

from deepseek_probe.checks.common import cuda_total_bytes
from deepseek_probe.findings import Finding
from deepseek_probe.snapshot import GpuInfo
from deepseek_probe.units import count, gib

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings


def start_findings(spec: ModelSpec, settings: Settings, gpus: Sequence[GpuInfo]) -> List[Finding]:
    """vllm.start / sglang.start for the GPUs the profile was placed on (the tightest one
    decides: every rank must start)."""
    usable = [g for g in gpus if g.memory_total_bytes and g.memory_free_bytes is not None]
    if not usable or settings.runtime not in ("vllm", "sglang"):
        return []
    g = min(usable, key=lambda x: (x.memory_free_bytes or 0, cuda_total_bytes(x)))
    total = min(cuda_total_bytes(x) for x in usable)
    free = int(g.memory_free_bytes or 0)
    if settings.runtime == "vllm":
        return [_vllm(spec, settings, total, free, g.name or "")]
    return [_sglang(spec, settings, int(min(x.memory_total_bytes or 0 for x in usable)), free)]


def _vllm(spec: ModelSpec, settings: Settings, total: int, free: int, name: str) -> Finding:
    from deepseek_probe.runtimes import vllm

    opts = settings.runtime_options if isinstance(settings.runtime_options, vllm.VllmOptions) else None
    m = vllm.vllm_memory(spec, settings, opts, total, free, gpu_name=name)
    if m.error:
        fix = "lower --max-model-len" if "max seq len" in m.error or "max_model_len" in m.error else \
            "raise --gpu-memory-utilization, add GPUs (--tensor-parallel-size) or use a smaller precision"
        if m.estimated_max_model_len:
            fix = (f"--max-model-len {m.estimated_max_model_len} (the longest that fits), or raise "
                   "--gpu-memory-utilization")
        if "Free memory on device" in m.error:
            fix = f"--gpu-memory-utilization {int(free / total * 100) / 100:.2f} or free the GPU"
        return Finding("vllm.start", "fail", f"vLLM {m.version} would refuse to start: {m.error}",
                       measured=m.kv_tokens or 0, required=m.max_model_len, suggestion=fix)
    return Finding("vllm.start", "pass",
                   f"vLLM {m.version} starts: --max-model-len {count(m.max_model_len)}; KV cache "
                   f"{gib(m.kv_available_bytes or 0)} = {count(m.kv_tokens or 0)} tokens; maximum concurrency "
                   f"{m.max_concurrency:.2f}x for {count(m.max_model_len)} tokens per request",
                   measured=m.kv_tokens, required=m.max_model_len)


def _sglang(spec: ModelSpec, settings: Settings, total: int, free: int) -> Finding:
    """`total`: nvidia-smi memory.total (SGLang's GPU tiers read it); SGLang's free memory before
    the weights is the probe's free less its own CUDA context and NCCL (sglang.free_at_start_bytes)."""
    from deepseek_probe.runtimes import sglang

    opts = settings.runtime_options if isinstance(settings.runtime_options, sglang.SglangOptions) else None
    tp = opts.tp if opts else settings.tensor_parallel
    m = sglang.sglang_memory(spec, settings, opts, total, max(0, sglang.free_at_start_bytes(free, tp)))
    if m.error:
        return Finding("sglang.start", "fail", f"SGLang {m.version} would refuse to start: {m.error}",
                       suggestion="raise --mem-fraction-static, add GPUs (--tp) or lower --context-length")
    text = (f"SGLang {m.version} starts: mem_fraction_static {m.mem_fraction_static:g}; KV pool "
            f"{count(m.max_total_num_tokens or 0)} tokens; context {count(m.context_len)}; "
            f"max_running_requests {count(m.max_running_requests or 0)}")
    status = "warn" if m.warnings else "pass"
    return Finding("sglang.start", status, text + ("; " + "; ".join(m.warnings) if m.warnings else ""),
                   measured=m.max_total_num_tokens, required=settings.context * settings.concurrency)
