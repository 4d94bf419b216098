"""Requirement tables for every model profile, generated from the estimator (`plan --all`).

One row per profile x runtime x precision x context: per-GPU memory at tensor parallel 1, the
fewest GPUs of each memory class that hold it (plan.smallest_gpu_count, through
plan.hardware_plan: the same fit rule `plan --model` and `check` use), host RAM, disk, and decode
tokens/s on one representative GPU. docs/requirements.md embeds the markdown form; a test fails
when it is stale. Output is deterministic: catalog order, no timestamps, no version string.
"""

from __future__ import annotations

import csv
import io
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from deepseek_probe import runtimes
from deepseek_probe.errors import InputError
from deepseek_probe.units import count, gib
from deepseek_probe.records import record, replace

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.profiles import ModelSpec
    from deepseek_probe.runtimes.base import Settings

SCHEMA_VERSION = 1
FORMATS = ("markdown", "json", "csv", "text")

# What the table covers (issue 10): the precisions people actually pick, in each runtime's own
# terms. llama.cpp has no "int8"/"int4": its 8-bit and 4-bit formats are the GGUF quants Q8_0 and
# Q4_K_M (Ollama's default tag). A precision is listed only where the runtime supports it
# (runtimes.RUNTIMES[...].precisions), so fp8 appears for transformers and vLLM.
TABLE_RUNTIMES = ("transformers", "vllm", "llamacpp")
TABLE_PRECISIONS = ("bf16", "fp8", "int8", "int4", "q8_0", "q4_k_m")
# 4K, 32K, 128K tokens; a context is listed only when the model's maximum allows it, and a
# maximum that falls between them (16K for the coder models) gets a row of its own.
TABLE_CONTEXTS = (4096, 32768, 131072)

# One card stands for each memory class; counts are "how many of these". The most common card of
# each class in rental clouds and workstations; all have CC >= 8.9 so bf16 and fp8 run natively.
# Memory and bandwidth come from deepseek_probe/gpus.py (datasheets, NVML totals measured).
GPU_CLASSES: Tuple[Tuple[int, str], ...] = (
    (24, "rtx-4090"),
    (48, "l40s"),
    (80, "h100-sxm"),
    (141, "h200"),
    (192, "b200"),
)
# Decode speed is quoted on the first of these that holds the row within one 8-GPU node: the
# H100 SXM is the most common datacenter GPU (and the one our memory model was measured on).
SPEED_GPUS = ("h100-sxm", "h200", "b200")


class RequirementsFormatError(InputError):
    """An output format `plan --all` does not have."""


@record(frozen=True)
class ClassFit:
    """The fewest GPUs of one class that hold a row, and what each of them then holds."""

    class_gb: int
    gpu_key: str
    gpu_name: str
    count: Optional[int]  # None: more than 8 GPUs (plan.MAX_GPUS_PER_NODE)
    per_device_bytes: Optional[int]


@record(frozen=True)
class RequirementRow:
    model: str
    aliases: Tuple[str, ...]
    params: int
    max_context: int
    runtime: str
    precision: str
    kv_precision: str
    context: int
    concurrency: int
    per_gpu_bytes: int  # at tensor parallel 1, margin excluded
    fits: Tuple[ClassFit, ...]  # one per GPU_CLASSES entry, same order
    host_ram_bytes: int
    disk_bytes: int
    speed_gpu_key: Optional[str]  # None: no SPEED_GPUS entry holds it within 8 GPUs
    speed_gpu_name: Optional[str]
    speed_gpu_count: Optional[int]
    decode_tokens_per_s: Optional[Dict[str, float]]  # {"low", "mid", "high"} per sequence

    def to_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model, "aliases": list(self.aliases), "params": self.params,
            "runtime": self.runtime, "precision": self.precision, "kv_precision": self.kv_precision,
            "context": self.context, "concurrency": self.concurrency, "tensor_parallel": 1,
            "per_gpu_bytes": self.per_gpu_bytes,
            "gpus": {str(f.class_gb): {"gpu": f.gpu_key, "count": f.count,
                                       "per_device_bytes": f.per_device_bytes} for f in self.fits},
            "host_ram_bytes": self.host_ram_bytes, "disk_bytes": self.disk_bytes,
            "decode": {"gpu": self.speed_gpu_key, "count": self.speed_gpu_count,
                       "tokens_per_s": self.decode_tokens_per_s},
        }


def class_gpus() -> List[Any]:
    """The gpus.GpuModel standing for each class, in GPU_CLASSES order."""
    from deepseek_probe import gpus

    out = []
    for class_gb, key in GPU_CLASSES:
        g = gpus.get_gpu(key)
        if g is None or g.memory_class_gb != class_gb:  # a catalog edit broke the table: say so
            raise RuntimeError(f"gpus.CATALOG has no {class_gb} GB-class GPU {key!r}")
        out.append(g)
    return out


def table_contexts(spec: ModelSpec) -> List[int]:
    """TABLE_CONTEXTS up to the model's maximum, plus that maximum when it lies in between."""
    out = [c for c in TABLE_CONTEXTS if c <= spec.max_context]
    if TABLE_CONTEXTS[0] < spec.max_context < TABLE_CONTEXTS[-1] and spec.max_context not in out:
        out.append(spec.max_context)
    return out


def table_settings(spec: ModelSpec) -> List[Any]:
    """Every (runtime, precision, context) the table lists for `spec`, in table order, as
    estimate.Settings built on the runtime's defaults (KV precision, concurrency 1, TP 1)."""

    out = []
    for runtime in TABLE_RUNTIMES:
        base = runtimes.default_settings(spec, runtime)
        supported = runtimes.RUNTIMES[runtime].precisions
        for precision in TABLE_PRECISIONS:
            if precision not in supported:
                continue
            for context in table_contexts(spec):
                out.append(replace(base, precision=precision, context=context, concurrency=1,
                                   tensor_parallel=1))
    return out


def requirement_row(spec: ModelSpec, settings: Settings) -> RequirementRow:
    """One table row, from plan.hardware_plan over the class GPUs."""
    from deepseek_probe import plan

    from deepseek_probe.question import Question

    result = plan.hardware_plan(Question.of(spec, settings), catalog=class_gpus())
    by_key = {r.gpu.key: r for r in result.rows}
    fits = tuple(ClassFit(class_gb, key, by_key[key].gpu.name, by_key[key].count,
                          by_key[key].per_device_bytes) for class_gb, key in GPU_CLASSES)
    speed = next((by_key[k] for k in SPEED_GPUS if by_key[k].count is not None), None)
    est = result.estimate
    return RequirementRow(
        model=spec.id, aliases=tuple(spec.aliases), params=spec.params, max_context=spec.max_context,
        runtime=settings.runtime, precision=settings.precision, kv_precision=settings.kv_precision,
        context=settings.context, concurrency=settings.concurrency,
        per_gpu_bytes=int(est.per_device.total_bytes),
        fits=fits, host_ram_bytes=int(est.host_ram_bytes), disk_bytes=int(est.disk_bytes),
        speed_gpu_key=speed.gpu.key if speed else None, speed_gpu_name=speed.gpu.name if speed else None,
        speed_gpu_count=speed.count if speed else None,
        decode_tokens_per_s=dict(speed.tokens_per_s) if speed and speed.tokens_per_s else None,
    )


@lru_cache(maxsize=1)
def _rows_cached() -> Tuple[RequirementRow, ...]:
    from deepseek_probe import profiles

    return tuple(requirement_row(spec, s) for spec in profiles.all_models() for s in table_settings(spec))


def requirement_rows() -> List[RequirementRow]:
    """Every row of the table, in catalog order, then runtime, precision, context."""
    return list(_rows_cached())


def render_requirements(fmt: str) -> str:
    """`deepseek-probe plan --all --format FMT`: markdown | json | csv | text."""
    renderers = {"markdown": _markdown, "json": _json, "csv": _csv, "text": _text}
    if fmt not in renderers:
        raise RequirementsFormatError(
            f"unknown format {fmt!r} for plan --all (choose from {', '.join(FORMATS)})")
    return renderers[fmt](requirement_rows())


# --- formatting -------------------------------------------------------------------------------


def tokens_per_s_text(tps: Optional[Dict[str, float]]) -> str:
    """Mid estimate: whole numbers from 10 up, one decimal below (a 671B on CPU-free GPUs)."""
    if not tps:
        return "-"
    mid = tps["mid"]
    return f"{mid:.0f}" if mid >= 10 else f"{mid:.1f}"


def _short(name: Optional[str]) -> str:
    return (name or "").replace("GeForce ", "")


def _count_cell(f: ClassFit) -> str:
    return str(f.count) if f.count is not None else "> 8"


def _decode_cell(r: RequirementRow) -> str:
    if r.decode_tokens_per_s is None:
        return "- (no 8-GPU node)"
    return f"{tokens_per_s_text(r.decode_tokens_per_s)} on {r.speed_gpu_count}× {_short(r.speed_gpu_name)}"


def _legend(gpus: Sequence[Any]) -> List[str]:
    from deepseek_probe import plan, thresholds

    classes = ", ".join(f"{c} GB = {_short(g.name)} ({gib(g.memory_bytes, 0)})"
                        for (c, _), g in zip(GPU_CLASSES, gpus))
    return [
        f"- **per GPU (TP 1)**: peak memory the process holds on one GPU with the whole model on it "
        f"(weights, KV cache, activations, runtime overhead), margin excluded.",
        f"- **GPU columns**: the fewest GPUs of that class that hold the model split across them "
        f"(vLLM: tensor parallel; transformers and llama.cpp: layers spread over the GPUs), each "
        f"keeping {gib(thresholds.DEVICE_MARGIN_BYTES)} margin and the memory an idle GPU already uses "
        f"(vLLM: {thresholds.VLLM_GPU_MEMORY_UTILIZATION:g} × total); "
        f"`> 8` = more than one {plan.MAX_GPUS_PER_NODE}-GPU node. Classes: {classes}.",
        "- **host RAM**, **disk**: while loading / the checkpoint (or GGUF file) at that precision.",
        "- **decode tok/s**: one sequence, from memory bandwidth (±30 %), on the GPUs named "
        "(H100 SXM, else H200, else B200).",
        "- KV cache in the runtime's default precision (transformers and vLLM bf16, llama.cpp f16), "
        "one sequence. fp8 needs compute capability 8.9 (Ada, Hopper and newer).",
    ]


def _model_heading(r: RequirementRow) -> str:
    alias = f" (`{r.aliases[0]}`)" if r.aliases else ""
    return (f"### {r.model}{alias} · {r.params / 1e9:.2f} B params · max context "
            f"{count(r.max_context)} tokens")


def _grouped(rows: Sequence[RequirementRow]) -> List[List[RequirementRow]]:
    groups: List[List[RequirementRow]] = []
    for r in rows:
        if not groups or groups[-1][0].model != r.model:
            groups.append([])
        groups[-1].append(r)
    return groups


def _markdown(rows: Sequence[RequirementRow]) -> str:
    gpus = class_gpus()
    out = ["## Requirement tables", "",
           "Generated by `deepseek-probe plan --all --format markdown` from the estimator; "
           "do not edit by hand.", ""]
    out += _legend(gpus) + [""]
    header = (["runtime", "precision", "context", "per GPU (TP 1)"]
              + [f"{c} GB" for c, _ in GPU_CLASSES] + ["host RAM", "disk", "decode tok/s"])
    align = ["---", "---", "---:", "---:"] + ["---:"] * len(GPU_CLASSES) + ["---:", "---:", "---"]
    for group in _grouped(rows):
        out += [_model_heading(group[0]), "", "| " + " | ".join(header) + " |",
                "|" + "|".join(align) + "|"]
        for r in group:
            cells = ([r.runtime, r.precision, count(r.context), gib(r.per_gpu_bytes)]
                     + [_count_cell(f) for f in r.fits]
                     + [gib(r.host_ram_bytes), gib(r.disk_bytes), _decode_cell(r)])
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _text(rows: Sequence[RequirementRow]) -> str:
    gpus = class_gpus()
    header = (("runtime", "precision", "context", "per GPU")
              + tuple(f"{c}GB" for c, _ in GPU_CLASSES) + ("host RAM", "disk", "decode tok/s"))
    out = []
    for group in _grouped(rows):
        out.append(_model_heading(group[0])[4:].replace("`", ""))
        table = [header] + [
            (r.runtime, r.precision, count(r.context), gib(r.per_gpu_bytes))
            + tuple(_count_cell(f) for f in r.fits)
            + (gib(r.host_ram_bytes), gib(r.disk_bytes), _decode_cell(r)) for r in group]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            out.append("  " + "  ".join(c.rjust(w) if 2 <= i < len(row) - 1 else c.ljust(w)
                                        for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        out.append("")
    out += [line.replace("**", "").replace("`", "") for line in _legend(gpus)]
    return "\n".join(out) + "\n"


def _json(rows: Sequence[RequirementRow]) -> str:
    from deepseek_probe import plan, thresholds

    doc = {
        "schema_version": SCHEMA_VERSION,
        "generated_by": "deepseek-probe plan --all",
        "margin_bytes_per_gpu": thresholds.DEVICE_MARGIN_BYTES,
        "max_gpus_per_node": plan.MAX_GPUS_PER_NODE,
        "gpu_classes": [{"class_gb": c, **g.to_dict()} for (c, _), g in zip(GPU_CLASSES, class_gpus())],
        "decode_gpus": list(SPEED_GPUS),
        "rows": [r.to_dict() for r in rows],
    }
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


CSV_COLUMNS = (["model", "runtime", "precision", "kv_precision", "context", "concurrency",
                "per_gpu_bytes_tp1"]
               + [f"gpus_{c}gb" for c, _ in GPU_CLASSES]
               + ["host_ram_bytes", "disk_bytes", "decode_gpu", "decode_gpu_count",
                  "decode_tokens_per_s_low", "decode_tokens_per_s_mid", "decode_tokens_per_s_high"])


def _csv(rows: Sequence[RequirementRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        t = r.decode_tokens_per_s or {}
        w.writerow([r.model, r.runtime, r.precision, r.kv_precision, r.context, r.concurrency,
                    r.per_gpu_bytes] + ["" if f.count is None else f.count for f in r.fits]
                   + [r.host_ram_bytes, r.disk_bytes, r.speed_gpu_key or "", r.speed_gpu_count or "",
                      t.get("low", ""), t.get("mid", ""), t.get("high", "")])
    return buf.getvalue()
