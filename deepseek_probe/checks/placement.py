"""Placement: which GPUs and which tensor-parallel size a profile uses, each runtime's memory
budget on a GPU, and the tensor-parallel / interconnect findings.

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.findings import Finding
from deepseek_probe.records import replace
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.snapshot import GpuInfo, GpuLink, Snapshot
from deepseek_probe.checks.common import Placement, cuda_total_bytes, need_bytes
from deepseek_probe.thresholds import DEVICE_MARGIN_BYTES, VLLM_GPU_MEMORY_UTILIZATION

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Estimate, Settings


def estimate_at(spec: ModelSpec, settings: Settings, tp: int, device_total: Optional[int] = None) -> Optional[Estimate]:
    """The estimate at tensor-parallel `tp`, or None when the model cannot be split that way."""
    from deepseek_probe import estimate as est_mod

    try:
        return est_mod.estimate(spec, replace(settings, tensor_parallel=tp), device_total)
    except InputError:
        return None


def vllm_utilization(settings: Settings) -> float:
    """The share of total memory a runtime that reserves one takes (--gpu-memory-utilization)."""
    return float(getattr(settings, "gpu_memory_utilization", None) or VLLM_GPU_MEMORY_UTILIZATION)


def budget_bytes(g: GpuInfo, settings: Settings) -> Optional[int]:
    """Bytes the runtime may hold on this GPU before it fails to start or runs out of memory."""
    if g.memory_free_bytes is None:
        return None
    if RUNTIMES[settings.runtime].reserves_fraction_of_total:
        if g.memory_total_bytes is None:
            return None
        # vLLM reserves utilization x total (as CUDA reports it); it starts only when that much is free.
        return min(math.ceil(vllm_utilization(settings) * cuda_total_bytes(g)), g.memory_free_bytes)
    return g.memory_free_bytes - DEVICE_MARGIN_BYTES


def _fits(est: Estimate, gpus: Sequence[GpuInfo], settings: Settings) -> bool:
    need = need_bytes(est)
    return all((budget_bytes(g, settings) or -1) >= need for g in gpus)


def by_free(gpus: Sequence[GpuInfo]) -> List[GpuInfo]:
    return sorted(gpus, key=lambda g: (-(g.memory_free_bytes or -1), g.index))


def place(spec: ModelSpec, settings: Settings, gpus: Sequence[GpuInfo]) -> Optional[Placement]:
    """Choose GPUs and a tensor-parallel size: the requested one, or when it is 1 and one GPU is
    not enough, the smallest that divides the heads and fits on the visible GPUs."""
    ordered = by_free(gpus)
    tp = settings.tensor_parallel
    if tp > 1:
        est = estimate_at(spec, settings, tp)
        if est is None:
            return None
        chosen = ordered[:tp]
        return Placement(chosen, tp, est, len(chosen) == tp and _fits(est, chosen, settings))
    est1 = estimate_at(spec, settings, 1)
    first = Placement(ordered[:1], 1, est1, est1 is not None and _fits(est1, ordered[:1], settings))
    if first.fits or len(ordered) == 1:
        return first
    best_tried = first
    for n in range(2, len(ordered) + 1):
        est = estimate_at(spec, settings, n)
        if est is None:
            continue  # heads not divisible by n
        p = Placement(ordered[:n], n, est, _fits(est, ordered[:n], settings), auto=True)
        if p.fits:
            return p
        best_tried = p
    return best_tried


def tensor_parallel_findings(snapshot: Snapshot, settings: Settings, p: Placement,
                              n_visible: int) -> List[Finding]:
    out: List[Finding] = []
    if p.tensor_parallel > 1:
        how = "chosen automatically: one GPU is not enough" if p.auto else "as requested"
        flag = RUNTIMES[settings.runtime].tp_flag.format(n=p.tensor_parallel)
        out.append(Finding("gpu.tensor_parallel", "pass",
                           f"split over {p.tensor_parallel} GPUs ({how}; {flag})",
                           measured=n_visible, required=p.tensor_parallel))
        out.append(_interconnect_finding(snapshot, settings, p))
    return out


def _links_by_pair(snapshot: Snapshot) -> Dict[Tuple[int, int], GpuLink]:
    """(a, b) and (b, a) -> the first link recorded between GPUs a and b."""
    out: Dict[Tuple[int, int], GpuLink] = {}
    for link in snapshot.links:
        out.setdefault((link.gpu_a, link.gpu_b), link)
        out.setdefault((link.gpu_b, link.gpu_a), link)
    return out


def _interconnect_finding(snapshot: Snapshot, settings: Settings, p: Placement) -> Finding:
    idx = [g.index for g in p.gpus]
    pairs = [(a, b) for i, a in enumerate(idx) for b in idx[i + 1:]]
    kinds = []
    links = _links_by_pair(snapshot)
    for a, b in pairs:
        link = links.get((a, b))
        if link is None or (link.nvlink_p2p is None and link.common_ancestor is None):
            kinds.append((a, b, None))
        elif link.nvlink_p2p:
            kinds.append((a, b, "NVLink"))
        else:
            kinds.append((a, b, f"PCIe ({link.common_ancestor or 'path unknown'})"))
    # Only true tensor parallelism (vLLM's workers) all-reduces every layer; llama.cpp and
    # transformers' device_map split by layers and pass one activation per boundary, so PCIe is fine there.
    true_tp = RUNTIMES[settings.runtime].nccl_workers
    text = ", ".join(f"GPU {a}<->{b}: {k or 'unknown'}" for a, b, k in kinds)
    if any(k is None for _, _, k in kinds):
        return Finding("gpu.interconnect", "unknown" if true_tp else "pass",
                       f"link between GPUs not reported ({text})",
                       suggestion="run `nvidia-smi topo -m` and attach it" if true_tp else None)
    if all(k == "NVLink" for _, _, k in kinds):
        return Finding("gpu.interconnect", "pass", f"NVLink between the chosen GPUs ({text})",
                       measured="nvlink", required="nvlink" if true_tp else None)
    if true_tp:
        return Finding("gpu.interconnect", "warn",
                       f"tensor parallel over PCIe only ({text}): every layer all-reduces over PCIe, "
                       f"decode is slower than with NVLink", measured="pcie", required="nvlink",
                       suggestion="prefer NVLink-connected GPUs, or use pipeline parallel "
                                  "(--pipeline-parallel-size) instead of tensor parallel over PCIe")
    return Finding("gpu.interconnect", "pass",
                   f"{text}; {settings.runtime} splits by layers, PCIe is enough", measured="pcie")
