"""Fixes a failing profile can take, and the searches behind them. Pure.

`vram_fixes()` proposes the cheapest fixes in order (lower KV precision, the max context that fits,
fewer sequences, a lower weight precision, CPU offload where the runtime can, more GPUs or a
bigger one), each pre-checked against the estimator. assess() then re-assesses every proposal on
the machine or settings it proposes and prints only those that hold (assess.verify_fixes), with
the figures of that re-assessment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from deepseek_probe import gpus as gpu_catalog
from deepseek_probe.checks.placement import vllm_utilization
from deepseek_probe.errors import InputError
from deepseek_probe.machines import IDLE_USED_BYTES
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.thresholds import DEVICE_MARGIN_BYTES
from deepseek_probe.units import count, gib
from deepseek_probe.records import field, record, replace

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Estimate, Settings

GIB = 2**30
CONTEXT_STEP_TOKENS = 256  # suggested contexts are multiples of this (readable, block-aligned)
MAX_GPUS_PER_NODE = 8  # HGX/DGX nodes hold 8 GPUs; beyond that it is a multi-node plan
MAX_CONCURRENCY_SEARCH = 4096

# The lower weight precisions to try and the quantised KV cache are each runtime's own
# (Runtime.lower_precisions, Runtime.kv_fix).
# Bits per weight, only to order precisions (the estimator owns the real sizes): llama.cpp
# whole-file averages (anchors-memory-tools.md §1.7).
_BITS = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "int4": 4.25, "q8_0": 8.52,
         "q6_k": 6.57, "q5_k_m": 5.70, "q4_k_m": 4.90, "q4_0": 4.64, "q3_k_m": 4.00, "q2_k": 3.17}
_KV_BITS = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "q8_0": 8.5, "q4_0": 4.5}


def _estimate(spec: ModelSpec, settings: Settings, device_total: Optional[int] = None) -> Optional[Estimate]:
    from deepseek_probe import estimate as est_mod

    try:
        return est_mod.estimate(spec, settings, device_total)
    except InputError:
        return None


def _need(spec: ModelSpec, settings: Settings) -> Optional[int]:
    est = _estimate(spec, settings)
    return None if est is None else int(est.per_device.total_bytes)


def _fits(spec: ModelSpec, settings: Settings, budget_bytes: int) -> bool:
    need = _need(spec, settings)
    return need is not None and need <= budget_bytes


# --- searches -----------------------------------------------------------------------------


def max_context_fitting(spec: ModelSpec, settings: Settings, budget_bytes: int,
                        step: int = CONTEXT_STEP_TOKENS) -> int:
    """Largest context, a multiple of `step` (or the model's maximum), whose per-device need
    fits `budget_bytes` at settings.concurrency; 0 if not even `step` tokens fit.

    By construction the next step up does not fit (or is past the model's maximum).
    """
    top = int(getattr(spec, "max_context", 0) or 0)
    if top <= 0:
        return 0
    if _fits(spec, replace(settings, context=top), budget_bytes):
        return top
    lo, hi = 0, top // step  # invariant: lo*step fits (or lo == 0), (hi+1)*step does not / > top
    if hi * step == top:
        hi -= 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits(spec, replace(settings, context=mid * step), budget_bytes):
            lo = mid
        else:
            hi = mid - 1
    return lo * step


def _fitting_context(spec: ModelSpec, settings: Settings, budget_bytes: int) -> int:
    """max_context_fitting, for a profile that fails: 0 at once where the shortest context it
    may answer (one step, or the model's maximum below it) does not fit. The need grows with
    the context (the search assumes it too; tests/test_survey_savings.py compares the two), so
    none fits then, and the search's ~10 estimates are skipped: a model too big for the GPU,
    as every failing survey row is."""
    top = int(getattr(spec, "max_context", 0) or 0)
    if top <= 0 or not _fits(spec, replace(settings, context=min(CONTEXT_STEP_TOKENS, top)), budget_bytes):
        return 0
    return max_context_fitting(spec, settings, budget_bytes)


def max_concurrency_fitting(spec: ModelSpec, settings: Settings, budget_bytes: int,
                            limit: int = MAX_CONCURRENCY_SEARCH) -> int:
    """Most sequences of settings.context tokens that fit `budget_bytes`; 0 if not one."""
    if not _fits(spec, replace(settings, concurrency=1), budget_bytes):
        return 0
    lo, hi = 1, limit
    if _fits(spec, replace(settings, concurrency=hi), budget_bytes):
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits(spec, replace(settings, concurrency=mid), budget_bytes):
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- fixes ----------------------------------------------------------------------------------


@record
class Fix:
    """One way to make a profile fit, with the settings it changes."""

    kind: str  # kv_precision | context | concurrency | precision | offload | gpus | runtime | multinode
    text: str
    change: Dict[str, Union[int, str]] = field(default_factory=dict)  # settings that make it fit
    need_bytes: Optional[int] = None  # per-device need after the change
    command: Optional[List[str]] = None  # the launch command that applies it (set once re-assessed)

    def to_dict(self) -> Dict[str, Any]:  # JSON
        return {"kind": self.kind, "text": self.text, "change": dict(self.change),
                "need_bytes": self.need_bytes}


def vram_fixes(spec: ModelSpec, settings: Settings, budget_bytes: int, gpu_total_bytes: Optional[int] = None,
               gpu_name: Optional[str] = None, n_gpus: Optional[int] = None,
               compute_capability: Optional[Tuple[int, int]] = None, offload: bool = True) -> List[Fix]:
    """Fixes that make the profile fit `budget_bytes` per GPU, cheapest first, each verified.
    `offload` False leaves out the CPU offload (a caller that already placed it: llama.cpp's
    --fit search is the costliest fix to pre-check)."""
    fixes: List[Fix] = []
    runtime = RUNTIMES[settings.runtime]
    # 1. A quantised KV cache: halves the cache, little quality cost.
    alt = runtime.kv_fix
    if alt and _KV_BITS.get(settings.kv_precision, 0) > _KV_BITS[alt[0]]:
        s = replace(settings, kv_precision=alt[0])
        need = _need(spec, s)
        if need is not None and need <= budget_bytes:
            fixes.append(Fix("kv_precision", f"KV cache in {alt[0]} ({alt[1]}): needs {gib(need)} per GPU",
                             {"kv_precision": alt[0]}, need))
    # 2. A shorter context (or fewer sequences).
    mc = _fitting_context(spec, settings, budget_bytes)
    if 0 < mc < settings.context:
        fixes.append(Fix("context", f"max context that fits: {count(mc)} tokens (--context {mc})",
                         {"context": mc}, _need(spec, replace(settings, context=mc))))
    if settings.concurrency > 1:
        mconc = max_concurrency_fitting(spec, settings, budget_bytes)
        if 0 < mconc < settings.concurrency:
            fixes.append(Fix("concurrency", f"at most {mconc} sequences of {count(settings.context)} tokens",
                             {"concurrency": mconc}, _need(spec, replace(settings, concurrency=mconc))))
    # 3. A lower weight precision: the best one that fits.
    current_bits = _BITS.get(settings.precision, 99)
    for p in runtime.lower_precisions:
        if _BITS[p] >= current_bits:
            continue
        if (p == "fp8" and compute_capability is not None and not runtime.fp8_marlin
                and tuple(compute_capability) < (8, 9)):
            continue  # no FP8 kernels below Ada, unless the runtime has FP8 Marlin
        s = replace(settings, precision=p)
        need = _need(spec, s)
        if need is not None and need <= budget_bytes:
            fixes.append(Fix("precision", f"--precision {p}: needs {gib(need)} per GPU",
                             {"precision": p}, need))
            break
    # 4. CPU offload (llama.cpp only): runs, slower.
    if offload and runtime.splits_layers and budget_bytes > 0:
        from deepseek_probe.runtimes import llamacpp

        split = llamacpp.offload_split(spec, settings, budget_bytes)
        if split.gpu_layers > 0:
            fixes.append(Fix("offload", f"offload {split.cpu_layers} of {spec.layers} layers to "
                                        f"the CPU (-ngl {split.ngl}, needs {gib(split.host_bytes)} RAM)",
                             {"gpu_layers": split.ngl}, split.gpu_bytes))
    # 5. More GPUs of the same kind (tensor parallel), or one bigger GPU.
    fixes += _more_gpus(spec, settings, gpu_total_bytes, gpu_name, n_gpus)
    return fixes


def _usable_bytes(total_bytes: int, settings: Settings) -> int:
    """What a runtime may hold on an otherwise idle GPU of `total_bytes`."""
    if RUNTIMES[settings.runtime].reserves_fraction_of_total:
        return int(vllm_utilization(settings) * total_bytes)
    return total_bytes - IDLE_USED_BYTES - DEVICE_MARGIN_BYTES


def smallest_gpu_count(spec: ModelSpec, settings: Settings, gpu_total_bytes: int,
                       limit: int = MAX_GPUS_PER_NODE) -> Tuple[Optional[int], Optional[Estimate]]:
    """Fewest idle GPUs of `gpu_total_bytes` that hold the profile (tensor parallel n), with the
    estimate at that n; (None, None) if more than `limit` would be needed."""
    budget = _usable_bytes(gpu_total_bytes, settings)
    # A runtime that reserves a share of the device: its estimate with the device is that share,
    # its need the estimate without one.
    sized_by_device = RUNTIMES[settings.runtime].reserves_fraction_of_total
    for n in range(1, limit + 1):
        s = replace(settings, tensor_parallel=n)
        if sized_by_device:
            # the need does not depend on the device: the device's estimate (its pool, ~one per
            # catalog GPU and n) only for the n that holds it
            need = _need(spec, s)
            if need is None or need > budget:
                continue
        est = _estimate(spec, s, gpu_total_bytes)
        if est is None:
            continue
        if not sized_by_device and int(est.per_device.total_bytes) > budget:
            continue
        return n, est
    return None, None


def _short_name(name: Optional[str]) -> str:
    return (name or "GPU").replace("NVIDIA ", "")


def _more_gpus(spec: ModelSpec, settings: Settings, gpu_total_bytes: Optional[int], gpu_name: Optional[str],
               n_gpus: Optional[int]) -> List[Fix]:
    """More GPUs like the present one, or the smallest set of a bigger catalog GPU."""
    out: List[Fix] = []
    base = replace(settings, tensor_parallel=1)
    have = n_gpus or 0
    same_fits = False
    if gpu_total_bytes:
        n, est = smallest_gpu_count(spec, base, gpu_total_bytes)
        label = _short_name(gpu_name)
        if n is not None and n > have:
            add = f": add {n - have}x {label}" if have else ""
            out.append(Fix("gpus", f"needs {n}x {label} (tensor parallel {n}){add}",
                           {"tensor_parallel": n, "machine": "more"}, int(est.per_device.total_bytes)))
            same_fits = True
        elif n is not None:
            out.append(Fix("gpus", f"fits on {n}x {label} once other processes free their memory",
                           {"tensor_parallel": n, "machine": "freed"}, int(est.per_device.total_bytes)))
            same_fits = True
    # A bigger GPU class (>= 15 % more memory than the present GPU): the fewest that hold it.
    for g in sorted(gpu_catalog.nvidia_catalog(), key=lambda g: g.memory_bytes):
        if gpu_total_bytes and g.memory_bytes < 1.15 * gpu_total_bytes:
            continue
        n, est = smallest_gpu_count(spec, base, g.memory_bytes, limit=1 if same_fits else MAX_GPUS_PER_NODE)
        if n is not None:
            out.append(Fix("gpus", f"{n}x {g.name}" + (" (fits on one)" if n == 1 else f" (tensor parallel {n})"),
                           {"gpu": g.key, "tensor_parallel": n}, int(est.per_device.total_bytes)))
            break
    if not out:
        out.append(Fix("multinode", "no single 8-GPU node of a common GPU holds it: a multi-node "
                                    "deployment (pipeline parallel across nodes; `deepseek-probe fleet`)",
                       {}, None))
    return out


def fixes_text(fixes: Sequence[Fix], short_bytes: Optional[int] = None, per_gpu: bool = False) -> str:
    """The suggestion string of a failing VRAM finding: the deficit, then fixes in order."""
    parts = []
    if short_bytes is not None and short_bytes > 0:
        parts.append(f"+{gib(short_bytes)} VRAM" + (" per GPU" if per_gpu else ""))
    parts += [f.text for f in fixes]
    return "; or ".join(parts) if parts else "use a GPU with more memory"


