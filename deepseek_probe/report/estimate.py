"""Renderers for `estimate` and `models`: no probing, just the catalog and the memory math."""

from __future__ import annotations

import json
from typing import List, Optional, Sequence

from deepseek_probe.units import billions, count, gib


def render_estimates(estimates: List, fmt: str, questions: Optional[Sequence] = None) -> str:
    """`questions`: what each estimate answers, for its runtime release and why (JSON
    `runtime_version` after `runtime`; text one line); none for a runtime modelled at one release."""
    qs = list(questions or [None] * len(estimates))
    if fmt == "json":
        docs = [with_version(e.to_dict(), q.version_dict() if q else None) for e, q in zip(estimates, qs)]
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1)
    return "\n".join(_estimate_text(e, q.version_text() if q else None) for e, q in zip(estimates, qs))


def with_version(doc: dict, version: Optional[dict]) -> dict:
    """`doc` with "runtime_version" right after "runtime" (JSON readers see them together)."""
    if version is None:
        return doc
    out = {}
    for key, value in doc.items():
        out[key] = value
        if key == "runtime":
            out["runtime_version"] = version
    return out


def _estimate_text(e, version: Optional[str] = None) -> str:
    d = e.per_device
    lines = [
        f"{e.model} · {e.precision} weights, {e.kv_precision} KV · context {count(e.context)}"
        f" × {e.concurrency} · {e.runtime} · tensor parallel {e.tensor_parallel}",
        f"  parameters        {billions(e.params)}",
        f"  per GPU           {gib(d.total_bytes)}  (held at peak, margin not included)",
        f"    weights         {gib(d.weights_bytes)}",
        f"    KV cache        {gib(d.kv_cache_bytes)}",
        f"    activations     {gib(d.activation_bytes)}",
        f"    runtime         {gib(d.runtime_overhead_bytes)}",
        f"  host RAM          {gib(e.host_ram_bytes)}",
        f"  disk              {gib(e.disk_bytes)}",
    ]
    if version is not None:
        lines.insert(1, f"  runtime release   {version}")
    for key, value in (e.notes or {}).items():
        if key == "command_understood" and isinstance(value, dict):
            lines += _launch_lines(value)
            continue
        lines += _note_lines(key, value, "  ", key in _BYTES_BY_NAME)
    return "\n".join(lines) + "\n"


# Notes whose values are all byte counts although their keys do not end in _bytes
# (estimate.py: memory.kv_breakdown, bytes per layer type).
_BYTES_BY_NAME = ("kv_cache_by_layer_type",)


def _label(key: str) -> str:
    """`decode_growth_bytes` -> "decode growth" (the value says GiB)."""
    return (key[: -len("_bytes")] if key.endswith("_bytes") else key).replace("_", " ")


def _value(key: str, value: object, all_bytes: bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and (all_bytes or key.endswith("_bytes")):
        return gib(value) if value >= 2**20 else f"{value:g} B"  # per-token sizes: bytes
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def _note_lines(key: str, value: object, indent: str, all_bytes: bool = False) -> List[str]:
    """One labelled line per note; a dict note as a heading and its own labelled lines. Nothing
    unknown (None) or empty is printed: a text report never shows a Python dict or `None`."""
    if value is None or value == [] or value == {}:
        return []
    width = 19 - len(indent)
    if isinstance(value, dict):
        out = [f"{indent}{_label(key)}"]
        for k, v in value.items():
            out += _note_lines(str(k), v, indent + "  ", all_bytes)
        return out if len(out) > 1 else []
    return [f"{indent}{_label(key):<{width}} {_value(key, value, all_bytes)}"]


def _launch_lines(echo: dict) -> List[str]:
    """The launch command after `--`, as the runtime's parser understood it."""
    def words(key: str) -> str:
        return ", ".join(echo.get(key) or []) or "none"

    lines = [f"  launch command    {echo.get('program')} ({echo.get('runtime')}), model {echo.get('model') or '-'}",
             f"    understood      {words('understood')}"]
    if echo.get("not_modelled"):
        lines.append(f"    not modelled    {words('not_modelled')} (may change memory)")
    if echo.get("ignored"):
        lines.append(f"    ignored         {words('ignored')} (no effect on memory)")
    lines += [f"    note            {n}" for n in echo.get("notes") or []]
    return lines


def render_models(fmt: str) -> str:
    from deepseek_probe import profiles

    specs = profiles.all_models()
    if fmt == "json":
        return json.dumps([_model_doc(s) for s in specs], indent=1)
    rows = [("model", "aliases", "params", "active", "attention", "max context", "memory model")]
    for s in specs:
        aliases = " ".join(s.aliases[:3]) + (f" +{len(s.aliases) - 3}" if len(s.aliases) > 3 else "")
        rows.append((s.id, aliases or "-", billions(s.params), billions(s.active_params),
                     _attention(s), count(s.max_context), _verification(s)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows) + "\n"


def _attention(spec) -> str:
    family = getattr(spec, "family", "")
    if family == "deepseek_v4":  # compressed sparse / heavily compressed attention, one 512-wide KV head
        return "CSA/HCA + MoE"
    if family == "deepseek_v32":  # MLA + DeepSeek Sparse Attention's lightning indexer
        return "MLA + DSA + MoE"
    if getattr(spec, "kv_lora_rank", None):
        return "MLA + MoE" if getattr(spec, "routed_experts", None) else "MLA"
    return "MHA" if spec.kv_heads == spec.heads else f"GQA ({spec.kv_heads} KV heads)"


def _verification(spec) -> str:
    """Whether our memory model of this architecture was measured on a GPU (benchmarks/) or is
    derived from the runtimes' source only."""
    v = getattr(spec, "verified", "") or "measured"
    if v == "derived":
        return "derived from source, not measured"
    if getattr(spec, "family", "") in ("deepseek_v32", "deepseek_v4"):
        return "measured (transformers); other runtimes derived from source, not measured"
    return "measured"


def _model_doc(spec) -> dict:
    return {"id": spec.id, "aliases": list(spec.aliases), "params": spec.params,
            "active_params": spec.active_params, "attention": _attention(spec),
            "layers": spec.layers, "max_context": spec.max_context, "memory_model": _verification(spec)}


def render_training(questions: List, fmt: str) -> str:
    """`estimate --train ...` (or `estimate -- trl sft ...`): each run's per-GPU peak and its terms."""
    from deepseek_probe.training.accounting import training_memory

    docs = []
    for q in questions:
        w = q.training
        m = training_memory(q.spec, w)
        docs.append({"schema_version": 1, "model": q.spec.id, "model_resolution": q.model_dict(),
                     "training": {"workload": {k: getattr(w, k) for k in w.__dataclass_fields__ if k != "explicit"},
                                  "memory": m.as_dict()}})
    if fmt == "json":
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1)
    out = []
    for d in docs:
        w, m = d["training"]["workload"], d["training"]["memory"]
        out.append(f"{d['model']} · {w['method']} fine-tune · {w['load_precision']} weights · micro-batch "
                   f"{w['micro_batch']} x {count(w['seq_len'])} tokens · {w['optimizer']} · "
                   f"{w['gpus']} GPU(s) {w['strategy']}")
        out.append(f"  peak per GPU      {gib(m['peak_bytes'])}  ({m['peak_phase']}; what NVML shows, margin not included)")
        for t in m["terms"]:
            out.append(f"    {t['name']:<15} {gib(t['bytes'])}")
        out.append(f"  trainable params  {count(m['trainable_params'])}")
        out.append(f"  host RAM          {gib(m['host_ram_bytes'])}")
        out.append(f"  checkpoint disk   {gib(m['checkpoint_disk_bytes'])}")
        if m["derived_only"]:
            out.append("  multi-GPU figures derived from DeepSpeed / FSDP source, not measured")
        out += [f"  note              {n}" for n in m["notes"]]
        out.append("")
    return "\n".join(out)
