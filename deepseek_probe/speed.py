"""Decode speed: one model for every door, from where each byte a decode step reads lives.

One decode step reads the active weights and every sequence's KV cache once and emits one token
per sequence, so time per token = sum over the places the bytes live of bytes / (η x bandwidth):
- runtimes that all-reduce every layer (tensor parallel: vLLM, SGLang) read their shares at the
  same time: the slowest device's share sets the pace;
- runtimes that pass a token through the devices one after another (llama.cpp's layer split,
  transformers' device_map) read the shares in turn: the sum;
- layers llama.cpp keeps on the CPU (-ngl below the layer count, --fit's choice) and experts kept
  there (--cpu-moe / -ncmoe) are read at host RAM bandwidth.
η (the achieved fraction of peak bandwidth) is estimate.DECODE_EFFICIENCY (MoE: _MOE), with its
sources. Pure.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from deepseek_probe.estimate import DECODE_EFFICIENCY
from deepseek_probe.profiles import ModelSpec
from deepseek_probe.runtimes.base import Estimate, Runtime
from deepseek_probe.records import record

# Host RAM bandwidth when nothing better is known: dual-channel DDR5-6400 peak,
# 2 channels x 8 bytes x 6400 MT/s = 102.4 GB/s (JEDEC DDR5); servers have 4-12 channels.
HOST_RAM_BANDWIDTH_BYTES_PER_S = 102.4e9


@record(frozen=True)
class Where:
    """Where the bytes a decode step reads live."""

    gpu_bandwidths: Sequence[float]  # bytes/s of each GPU used (empty: CPU only)
    host_bandwidth: float  # bytes/s of host RAM
    gpu_layers: Optional[int] = None  # layers on the GPUs; None = all of them
    cpu_moe_layers: int = 0  # MoE layers whose routed experts stay in host RAM (--cpu-moe, -ncmoe)


def _host_fraction(spec: ModelSpec, where: Where) -> float:
    """Share of the bytes read per token that come from host RAM."""
    if not where.gpu_bandwidths:
        return 1.0
    layers = spec.layers
    gpu_layers = layers if where.gpu_layers is None else max(0, min(layers, where.gpu_layers))
    frac = (layers - gpu_layers) / layers
    if where.cpu_moe_layers and spec.is_moe:
        # the routed experts a token picks in those layers (gate, up, down of each)
        routed = 3 * spec.hidden * spec.moe_intermediate * spec.experts_per_token
        active = max(1, spec.active_params - spec.vocab * spec.hidden)
        on_gpu_moe = min(where.cpu_moe_layers, gpu_layers)  # CPU layers are counted already
        frac += on_gpu_moe * routed / active
    return min(1.0, frac)


def decode_tokens_per_s(spec: ModelSpec, est: Estimate, runtime: Runtime,
                        where: Where) -> Optional[Dict[str, float]]:
    """Decode speed per sequence, {"low", "mid", "high"}, or None when a bandwidth is unknown."""
    if est.bytes_read_per_token <= 0:
        return None
    if where.gpu_bandwidths and not all(b and b > 0 for b in where.gpu_bandwidths):
        return None
    n = max(1, int(est.tensor_parallel))
    # bytes_read_per_token is one device's share; a token reads n shares
    whole = float(est.bytes_read_per_token) * n
    host = whole * _host_fraction(spec, where)
    gpu = whole - host
    efficiency = est.notes.get("decode_efficiency") or DECODE_EFFICIENCY
    out = {}
    for k, eta in efficiency.items():
        t = host / (eta * where.host_bandwidth) if host else 0.0
        if gpu:
            bw = min(where.gpu_bandwidths)
            # all shares at once (tensor parallel), or one after another (layer split)
            t += (gpu / n if runtime.all_reduce_per_layer else gpu) / (eta * bw)
        out[k] = round(1.0 / t, 2) if t > 0 else 0.0
    return out
