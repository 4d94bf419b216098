"""Each GPU's memory as a bar: weights / KV cache / activations / runtime / free, for the text and
Markdown reports (people look at a bar before they read numbers)."""

from __future__ import annotations

from typing import List, Optional

from deepseek_probe.units import gib

WIDTH = 40
_PARTS = (("W", "weights", "weights_bytes"), ("K", "KV", "kv_cache_bytes"),
          ("A", "activations", "activation_bytes"), ("R", "runtime", "runtime_overhead_bytes"))


def memory_bars(a: object) -> List[str]:
    """One bar per GPU the assessment uses (`a` is an assess.Assessment); none when it runs on no
    GPU or not wholly on them."""
    est = getattr(a, "estimate", None)
    used = getattr(a, "used_gpus", [])
    if est is None or getattr(a, "fit", None) != "gpu" or not used:
        return []
    d = est.per_device
    out = []
    for g in used:
        total = g.memory_total_bytes
        if not total or total <= 0:
            continue
        other = max(0, total - (g.memory_free_bytes or total))  # held before the runtime starts
        cells: List[str] = []
        for mark, n in [(m, getattr(d, attr)) for m, _, attr in _PARTS] + [("o", other)]:
            # clamped: a snapshot can hold any numbers, the bar stays WIDTH wide
            cells += [mark] * max(0, min(WIDTH - len(cells), round(WIDTH * n / total)))
        cells += ["."] * (WIDTH - len(cells))
        free = total - other - d.total_bytes
        out.append(f"GPU {g.index} [{''.join(cells)}] {gib(d.total_bytes)} of {gib(total)}"
                   + (f", {gib(free)} left" if free >= 0 else f", short by {gib(-free)}"))
    if out:
        legend = " · ".join(f"{mark} {name} {gib(getattr(d, attr))}" for mark, name, attr in _PARTS)
        out.append(f"      {legend} · o other processes · . free")
    return out


def training_title(a: object) -> Optional[str]:
    """'deepseek-r1-distill-qwen-7b · qlora fine-tune · micro-batch 2 × 2 048 tokens · ...' or None."""
    w = getattr(getattr(a, "question", None), "training", None)
    if w is None:
        return None
    from deepseek_probe.units import count

    ckpt = "checkpointing" if w.checkpointing else "no checkpointing"
    shard = f" · {w.gpus} GPUs {w.strategy}" + (f" + {w.offload} offload" if w.offload != "none" else "") \
        if w.gpus > 1 else ""
    return (f"{a.model} · {w.method} fine-tune ({w.load_precision}) · micro-batch {w.micro_batch} × "
            f"{count(w.seq_len)} tokens · {w.optimizer} · {ckpt}{shard}")


def speed_line(a: object) -> Optional[str]:
    """How it runs and how fast: 'runs on the GPU · 17.3 GiB per GPU · ≈ 42 tok/s (30–54)'."""
    t = getattr(a, "training", None)
    if t is not None:  # a fine-tuning run: its peak and the room left
        from deepseek_probe.units import count

        parts = [("fits" if a.fit == "gpu" else "does not fit") + f": peak {gib(t.memory.peak_bytes)} per GPU "
                 f"({t.memory.peak_phase})"]
        if t.max_micro_batch:
            parts.append(f"largest micro-batch {count(t.max_micro_batch)}")
        if t.max_seq_len:
            parts.append(f"longest sequence {count(t.max_seq_len)}")
        return " · ".join(parts)
    fit = getattr(a, "fit", None)
    words = {"gpu": "runs on the GPU", "partial": "runs with layers on the CPU",
             "cpu": "runs on the CPU only", "none": "does not run this way"}.get(fit or "none")
    parts = [words]
    per_gpu = getattr(a, "per_gpu_bytes", None)
    if fit in ("gpu", "partial") and per_gpu:
        parts.append(f"{gib(per_gpu)} per GPU")
    if fit in ("gpu", "partial", "cpu") and getattr(a, "gpu_layers", None) is not None:
        parts.append(f"{a.gpu_layers} of {a.question.spec.layers} layers on the GPU")
    t = getattr(a, "decode_tokens_per_s", None)
    if t and t.get("mid"):
        parts.append(f"decode ≈ {t['mid']:.0f} tok/s per sequence ({t['low']:.0f}–{t['high']:.0f}, estimate)")
    return " · ".join(parts)


def command_line(a: object) -> Optional[str]:
    """The command that runs it this way, one line to paste, or why there is none."""
    from deepseek_probe.runtimes.launch import shell_line

    argv = getattr(a, "launch_command", None)
    if argv:
        return "$ " + shell_line(argv)
    note = getattr(a, "command_note", None)
    return f"(no launch command: {note})" if note else None


def version_line(a: object) -> Optional[str]:
    """"runtime  vLLM 0.8.4 (installed in /opt/venv)": the release an assessment models and why
    (issue 23); None for a runtime modelled at one release."""
    q = getattr(a, "question", None)
    text = q.version_text() if q is not None else None
    return f"runtime  {text}" if text else None


def installed_summary(snap: object) -> Optional[str]:
    """The runtimes the snapshot found installed, on one line; None when it recorded none (every
    snapshot made before issue 23)."""
    info = getattr(snap, "installed", None)
    if info is None:
        return None
    parts = []
    for env in info.pythons:
        if env.packages:
            names = ", ".join(f"{k} {v}" for k, v in env.packages.items())
            parts.append(f"{names} ({env.prefix or env.interpreter})")
    listed = {(k, v) for env in info.pythons for k, v in env.packages.items()}
    for p in info.programs:
        if (p.name, p.version) in listed:  # a console script of a distribution listed above
            continue
        parts.append(f"{p.name} {p.version or '(version not read)'} ({p.path})")
    if info.unavailable:
        parts.append("; ".join(f"{k}: {v}" for k, v in info.unavailable.items()))
    return " · ".join(parts) or "none found"
