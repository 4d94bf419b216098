"""`--format text`: what a person reads in a terminal. Colour only when asked (the CLI asks on a
tty without NO_COLOR)."""

from __future__ import annotations

from typing import Any, List, Sequence

from deepseek_probe.report.bars import (command_line, installed_summary, memory_bars, speed_line, training_title,
                                        version_line)
from deepseek_probe.units import count, gib

_COLORS = {"pass": "32", "warn": "33", "fail": "31", "unknown": "35"}  # ANSI SGR green/yellow/red/magenta
_MARKS = {"pass": "ok", "warn": "WARN", "fail": "FAIL", "unknown": "????"}


def _paint(text: str, level: str, color: bool) -> str:
    if not color:
        return text
    return f"\033[{_COLORS.get(level, '0')}m{text}\033[0m"


def _bold(text: str, color: bool) -> str:
    return f"\033[1m{text}\033[0m" if color else text


def fmt_value(check: str, value: Any) -> str:
    """A finding's measured/required value for people: bytes in GiB, lists joined."""
    from deepseek_probe.findings import CHECK_UNITS

    if value is None:
        return "-"
    unit = CHECK_UNITS.get(check)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if unit == "bytes":
            return gib(value)
        if unit == "celsius":
            return f"{value} °C"
        return count(value) if isinstance(value, int) else f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(check, v) for v in value) or "-"
    return str(value)


def machine_summary(snap: Any) -> List[str]:
    """Two or three lines: GPUs, driver, host."""
    cu, m, s = snap.cuda, snap.memory, snap.system
    gpus = snap.visible_gpus
    if gpus:
        names = {}
        for g in gpus:
            names.setdefault(g.name or "GPU", []).append(g)
        gpu_text = ", ".join(f"{len(v)}x {k}" for k, v in names.items())
        free = sum(g.memory_free_bytes or 0 for g in gpus)
        total = sum(g.memory_total_bytes or 0 for g in gpus)
        gpu_text += f" ({gib(free)} free of {gib(total)})"
    elif cu.nvml_status not in (None, "ok"):
        gpu_text = f"none usable (NVML: {cu.nvml_status})"
    else:
        gpu_text = "none found"
    hidden = len(snap.gpus) - len(gpus)
    if hidden:
        gpu_text += f"; {hidden} hidden by CUDA_VISIBLE_DEVICES"
    lines = [f"GPUs    {gpu_text}"]
    if cu.driver_version:
        lines.append(f"driver  {cu.driver_version} (max CUDA {cu.cuda_driver_version or '?'})"
                     + (f" · nvcc {cu.nvcc_version}" if cu.nvcc_version else ""))
    host = [f"RAM {gib(m.available_bytes)} available of {gib(m.total_bytes)}"]
    if s.os_release:
        host.insert(0, s.os_release)
    if s.container:
        host.append(f"in {s.container}")
    lines.append("host    " + " · ".join(host))
    installed = installed_summary(snap)
    if installed:
        lines.append(f"runtimes {installed}")
    return lines


def _profile_title(p: Any) -> str:
    trained = training_title(p)
    if trained:
        return trained
    tp = f" · TP {p.tensor_parallel}" if p.tensor_parallel > 1 else ""
    return (f"{p.model} · {p.precision} (KV {p.kv_precision}) · {count(p.context)} tokens"
            f" × {p.concurrency} · {p.runtime}{tp}")


def render_check(result: Any, color: bool = False) -> str:
    from deepseek_probe.findings import EXIT_CODES

    if len(result.profiles) > 3 and all(training_title(p) for p in result.profiles):
        return _training_table(result, color)

    v = result.verdict
    out = [_bold(f"deepseek-probe {result.tool_version} · verdict ", color)
           + _paint(v.upper(), v, color) + f" (exit {EXIT_CODES[v]})"]
    out += machine_summary(result.snapshot)
    # Findings that read the same for every profile (driver, GPU health, host) are facts about
    # the machine: print them once instead of once per model.
    shared = _shared_findings(result.profiles) if len(result.profiles) > 1 else []
    if shared:
        out.append("")
        out.append(_bold("this machine (same for every model below)", color))
        out += _finding_lines(shared, color)
    for p in result.profiles:
        out.append("")
        out.append(_bold(_profile_title(p), color) + " → " + _paint(p.verdict.upper(), p.verdict, color))
        out.append("  " + speed_line(p))
        out += ["  " + line for line in [version_line(p), command_line(p)] if line]
        out += ["  " + line for line in memory_bars(p)]
        out += _finding_lines([f for f in p.findings if _key(f) not in {_key(s) for s in shared}], color)
    out.append("")
    out.append("ok/WARN/FAIL/????: pass, warning, not ready, unknown. Exit codes: 0 ready, 1 warnings, "
               "2 not ready, 3 unknown.")
    return "\n".join(out) + "\n"


def _key(f: Any) -> tuple:
    return (f.check, f.level, f.message, repr(f.measured), repr(f.required))


def _shared_findings(profiles: Sequence[Any]) -> List[Any]:
    common = set.intersection(*({_key(f) for f in p.findings} for p in profiles))
    return [f for f in profiles[0].findings if _key(f) in common]


def _finding_lines(findings: Sequence[Any], color: bool) -> List[str]:
    lines: List[str] = []
    width = max((len(f.check) for f in findings), default=10)
    for f in findings:
        mark = _paint(f"{_MARKS.get(f.level, f.level):<4}", f.level, color)
        values = ""
        if f.required is not None:
            values = f" [{fmt_value(f.check, f.measured)} / need {fmt_value(f.check, f.required)}]"
        lines.append(f"  {mark}  {f.check:<{width}}  {f.message}{values}")
        if f.suggestion and f.level != "pass":
            lines.append(f"  {'':4}  {'':<{width}}  → {f.suggestion}")
        if getattr(f, "fix_command", None) and f.level != "pass":
            from deepseek_probe.runtimes.launch import shell_line

            lines.append(f"  {'':4}  {'':<{width}}    $ {shell_line(f.fix_command)}")
    return lines


def _training_table(result: Any, color: bool) -> str:
    """`check --train METHOD` with no model: one line per architecture."""
    from deepseek_probe.findings import EXIT_CODES

    v = result.verdict
    w = result.profiles[0].question.training
    out = [_bold(f"deepseek-probe {result.tool_version} · what this machine can fine-tune · verdict ", color)
           + _paint(v.upper(), v, color) + f" (exit {EXIT_CODES[v]})"]
    out += machine_summary(result.snapshot)
    out += ["", f"{w.method} fine-tune ({w.load_precision}), micro-batch {w.micro_batch} × {count(w.seq_len)} "
                f"tokens, {w.optimizer}, {'checkpointing' if w.checkpointing else 'no checkpointing'}", "",
            f"{'model':<34} {'params':>8}  {'fits':<5} {'peak/GPU':>10} {'max batch':>9} {'max seq':>9}"]
    for p in result.profiles:
        t = p.training
        fits = _paint(f"{'yes' if p.fit == 'gpu' else 'no':<5}", "pass" if p.fit == "gpu" else "fail", color)
        out.append(f"{p.model[:34]:<34} {p.question.spec.params / 1e9:>7.1f}B  {fits} {gib(t.memory.peak_bytes):>10} "
                   f"{count(t.max_micro_batch) if t.max_micro_batch else '-':>9} "
                   f"{count(t.max_seq_len) if t.max_seq_len else '-':>9}")
        if p.fit != "gpu" and t.fixes:
            out.append(f"    to fit it: {t.fixes[0].label}")
    out += ["", "peak: what NVML shows at the run's peak (measured on an H200 for one GPU; multi-GPU "
                "derived); max batch at this sequence, max seq at this micro-batch",
            "check one model in full: deepseek-probe check --train METHOD --model ID"]
    return "\n".join(out) + "\n"


# --- plan ---------------------------------------------------------------------------------------


def _tps(row: Any) -> str:
    t = row.tokens_per_s
    if not t:
        return "-"
    return f"{t['mid']:.0f} ({t['low']:.0f}–{t['high']:.0f})"


def render_plans(plans: Sequence[Any]) -> str:
    out: List[str] = []
    for pl in plans:
        s, e = pl.settings, pl.estimate
        out.append(f"{pl.model} · {s.precision} (KV {s.kv_precision}) · {count(s.context)} tokens × "
                   f"{s.concurrency} · {s.runtime}")
        out.append(f"  per GPU at TP {s.tensor_parallel}: {gib(e.per_device.total_bytes)} "
                   f"(+ 1.0 GiB margin) · host RAM {gib(e.host_ram_bytes)} · disk {gib(e.disk_bytes)}")
        rows = [("GPU", "memory", "bandwidth", "CC", "count", "per GPU", "tok/s per seq", "note")]
        for r in pl.rows:
            g = r.gpu
            cc = f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.vendor == "nvidia" else "-"
            rows.append((g.name, gib(g.memory_bytes, 0), f"{g.bandwidth_bytes_per_s / 1e12:.2f} TB/s", cc,
                         f"{r.count}x" if r.count else "> 8", gib(r.per_device_bytes) if r.per_device_bytes else "-",
                         _tps(r), r.note))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        out.append("  tok/s: decode per sequence from memory bandwidth, an estimate (±30%). "
                   "GPU figures: vendor datasheets (deepseek_probe/gpus.py).")
        out.append("")
    return "\n".join(out)
