"""`deepseek-probe plan --model M`: the hardware a model needs, without probing. Pure.

Each row is an assessment (assess.py) of the question on a node of 8 idle catalog GPUs
(machines.catalog_node): the GPUs the placement uses, the per-GPU bytes and the decode speed are
that assessment's, the same that `check` gives on a machine with those GPUs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set

from deepseek_probe import gpus as gpu_catalog
from deepseek_probe.fixes import (  # noqa: F401  (re-exported: the plan API)
    CONTEXT_STEP_TOKENS, MAX_GPUS_PER_NODE, Fix, fixes_text, max_concurrency_fitting, max_context_fitting,
    smallest_gpu_count, vram_fixes)
from deepseek_probe.question import Question
from deepseek_probe.runtimes.base import Estimate, Settings
from deepseek_probe.snapshot import Snapshot
from deepseek_probe.thresholds import CC_BF16, CC_FP8, CC_MARLIN, DEVICE_MARGIN_BYTES
from deepseek_probe.records import record

if TYPE_CHECKING:  # annotations only
    from deepseek_probe.assess import Assessment


@record
class PlanRow:
    """How many of one catalog GPU a profile needs, and how fast it would decode."""

    gpu: gpu_catalog.GpuModel
    count: Optional[int]  # None: more than MAX_GPUS_PER_NODE
    per_device_bytes: Optional[int]
    usable_bytes: int
    tokens_per_s: Optional[Dict[str, float]]
    note: str = ""

    def to_dict(self) -> Dict[str, object]:
        return {"gpu": self.gpu.key, "name": self.gpu.name, "memory_bytes": self.gpu.memory_bytes,
                "bandwidth_bytes_per_s": self.gpu.bandwidth_bytes_per_s,
                "compute_capability": list(self.gpu.compute_capability),
                "count": self.count, "per_device_bytes": self.per_device_bytes,
                "usable_bytes_per_device": self.usable_bytes,
                "decode_tokens_per_s": self.tokens_per_s, "note": self.note,
                "source": self.gpu.source}


@record
class PlanResult:
    """The hardware plan of one question: its estimate and one row per catalog GPU."""

    model: str
    settings: Settings
    estimate: Estimate  # at settings.tensor_parallel (normally 1)
    rows: List[PlanRow]

    def to_dict(self) -> Dict[str, object]:
        s = self.settings
        return {"schema_version": 1, "model": self.model, "precision": s.precision,
                "kv_precision": s.kv_precision, "context": s.context, "concurrency": s.concurrency,
                "runtime": s.runtime, "tensor_parallel": s.tensor_parallel,
                "per_device_bytes": int(self.estimate.per_device.total_bytes),
                "host_ram_bytes": int(self.estimate.host_ram_bytes),
                "disk_bytes": int(self.estimate.disk_bytes),
                "margin_bytes": DEVICE_MARGIN_BYTES,
                "gpus": [r.to_dict() for r in self.rows]}


def _cc_note(g: gpu_catalog.GpuModel, settings: Settings) -> str:
    from deepseek_probe.runtimes import RUNTIMES

    if g.vendor != "nvidia":
        return "ROCm (AMD): not covered by the CUDA checks"
    cc = g.compute_capability
    if settings.precision == "fp8" and cc < CC_FP8:
        return ("FP8 weight-only via Marlin (slower)" if RUNTIMES[settings.runtime].fp8_marlin and cc >= CC_MARLIN
                else "no FP8 support (needs CC 8.9)")
    if settings.precision == "bf16" and cc < CC_BF16:
        return "no bf16 (needs CC 8.0)"
    return ""


def on_node(question: Question, node: Snapshot) -> Optional["Assessment"]:
    """The question assessed on a node; None when it does not run there wholly on the GPUs."""
    from deepseek_probe import assess

    a = assess.assess(question, node, verify_fixes=False)
    return a if a.fit == "gpu" else None


def plan_row(question: Question, g: gpu_catalog.GpuModel, weights_bytes: int = 0) -> PlanRow:
    """One catalog GPU: the question assessed on a node of MAX_GPUS_PER_NODE of them.
    `weights_bytes`: the whole model's weights; a node whose GPUs together hold less is answered
    "does not fit" without assessing it (a sound bound: a GPU holds at least its share of them)."""
    from deepseek_probe import machines
    from deepseek_probe.checks.placement import budget_bytes

    node = machines.catalog_node(g, MAX_GPUS_PER_NODE)
    usable = budget_bytes(node.gpus[0], question.settings) or 0
    a = on_node(question, node) if weights_bytes <= MAX_GPUS_PER_NODE * g.memory_bytes else None
    if a is None:
        return PlanRow(g, None, None, usable, None, _cc_note(g, question.settings))
    return PlanRow(g, len(a.gpus_used), a.per_gpu_bytes, usable, a.decode_tokens_per_s,
                   _cc_note(g, question.settings))


def _weights_bytes(est: Estimate) -> int:
    """The whole model's weights: per device x devices."""
    return est.per_device.weights_bytes * est.tensor_parallel


def fewest_gpus(question: Question,
                catalog: Optional[Sequence[gpu_catalog.GpuModel]] = None) -> Optional[PlanRow]:
    """The row hardware_plan(question) would give for the fewest GPUs (the smallest GPU among
    ties; None: none holds it on one node). GPUs are assessed smallest first, stopping at the
    first that needs only one: no later row can beat (1, its memory). Nor can a GPU that needs at
    least as many as the best so far by its weights share bound (as plan_row's), or one with the
    memory of a GPU already placed: the placement depends on the GPU only through its memory (the
    rest of a GPU can only rule it out), so it needs as many, and loses the tie. Neither is
    assessed."""
    from deepseek_probe import estimate as est_mod

    weights = _weights_bytes(est_mod.estimate(question.spec, question.settings))  # InputError on bad settings
    best: Optional[PlanRow] = None
    placed: Set[int] = set()  # memory sizes of the GPUs that ran it
    for g in sorted(catalog or gpu_catalog.CATALOG, key=lambda g: g.memory_bytes):  # stable: catalog order in ties
        if best is not None and best.count is not None and (
                -(-weights // g.memory_bytes) >= best.count or g.memory_bytes in placed):
            continue  # it needs >= best.count GPUs and has no less memory: a tie it loses
        r = plan_row(question, g, weights)
        if r.count:
            placed.add(g.memory_bytes)
        if r.count and (best is None or (r.count, g.memory_bytes) < (best.count or 0, best.gpu.memory_bytes)):
            best = r
        if best is not None and best.count == 1:
            break
    return best


def hardware_plan(question: Question,
                  catalog: Optional[Sequence[gpu_catalog.GpuModel]] = None) -> PlanResult:
    """What `plan --model M` prints: per-device need and the fewest of each common GPU."""
    from deepseek_probe import estimate as est_mod

    est = est_mod.estimate(question.spec, question.settings)  # raises InputError on bad settings
    rows = [plan_row(question, g, _weights_bytes(est)) for g in (catalog or gpu_catalog.CATALOG)]
    return PlanResult(question.spec.id, question.settings, est, rows)
