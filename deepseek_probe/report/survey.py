"""Renderers for the capability survey (`deepseek-probe check` with no model): text that fits
the terminal (100 columns when not a terminal), JSON in the versioned shape of
schemas/survey.schema.json, markdown for tickets, and Prometheus gauges."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from deepseek_probe.report.text import _MARKS, _bold, _paint, machine_summary
from deepseek_probe.units import count, gib

if TYPE_CHECKING:  # annotations only: no import at run time
    from deepseek_probe.survey import SurveyResult, SurveyRow

WIDTH = 100  # when the output is no terminal (a file, a pipe, a ticket) and COLUMNS is unset
_MIN_WIDTH = 40  # below this a wrapped fix is a column of single words: wrap at 40, let the terminal fold


def terminal_width(environ: Optional[Mapping[str, str]] = None) -> int:
    """COLUMNS when set (the shell's word), else the terminal's size (TIOCGWINSZ), else WIDTH:
    shutil.get_terminal_size's columns (CPython Lib/shutil.py), without importing shutil (its
    compression modules: ~6M instructions)."""
    env = os.environ if environ is None else environ
    try:
        cols = int(env.get("COLUMNS", ""))
    except ValueError:
        cols = 0
    if cols <= 0:
        cols = WIDTH
        if environ is None:
            try:
                cols = os.get_terminal_size(sys.__stdout__.fileno()).columns or WIDTH
            except (AttributeError, ValueError, OSError):
                pass
    return max(cols, _MIN_WIDTH)


_WHITESPACE = str.maketrans("\t\n\x0b\x0c\r", "     ")


def wrap_words(text: str, width: int, initial_indent: str = "", subsequent_indent: str = "") -> List[str]:
    """textwrap.wrap(text, width, initial_indent=..., subsequent_indent=...,
    break_long_words=False, break_on_hyphens=False), line for line (CPython Lib/textwrap.py
    TextWrapper._wrap_chunks): a word longer than the line stands alone, uncut. Ours because
    importing textwrap compiles its word-splitting expressions, a cost every `check` paid."""
    text = text.expandtabs().translate(_WHITESPACE)
    chunks: List[str] = []  # words and runs of spaces, in order (TextWrapper._split)
    i, n = 0, len(text)
    while i < n:
        j, space = i, text[i] == " "
        while j < n and (text[j] == " ") == space:
            j += 1
        chunks.append(text[i:j])
        i = j
    chunks.reverse()
    lines: List[str] = []
    while chunks:
        indent = subsequent_indent if lines else initial_indent
        room = width - len(indent)
        if lines and not chunks[-1].strip():  # a line never starts with the spaces that broke it
            chunks.pop()
        line: List[str] = []
        used = 0
        while chunks and used + len(chunks[-1]) <= room:
            used += len(chunks[-1])
            line.append(chunks.pop())
        if chunks and len(chunks[-1]) > room and not line:  # too long for any line: alone
            line.append(chunks.pop())
        if line and not line[-1].strip():
            line.pop()
        if line:
            lines.append(indent + "".join(line))
    return lines


def _wrap(first: str, text: str, indent: str, width: int, painted_first: Optional[str] = None) -> List[str]:
    """`first` + `text` wrapped at `width` with a hanging `indent`, between words only (a path or
    a command is never cut); `painted_first` replaces `first` on the first line (colour codes
    do not count towards the width)."""
    lines = wrap_words(text, width, " " * len(first), indent) or [" " * len(first)]
    lines[0] = (painted_first if painted_first is not None else first) + lines[0][len(first):]
    return lines
_FIT_WORDS = {"gpu": "on GPU", "partial": "partial", "cpu": "CPU only", "none": "no"}
_FIT_LEVEL = {"gpu": "pass", "partial": "warn", "cpu": "warn", "none": "fail"}


def _name(r: "SurveyRow") -> str:
    extra = f" +{len(r.models) - 1}" if len(r.models) > 1 else ""
    return r.models[0] + extra


def _how(r: "SurveyRow") -> str:
    if r.fit == "none" or not r.runtime:
        return "-"
    how = f"{r.runtime} {r.precision}"
    if (r.tensor_parallel or 1) > 1:
        how += f" x{r.tensor_parallel}"
    if r.fit == "partial" and r.total_layers:
        how += f" {r.gpu_layers}/{r.total_layers}L"
    return how


def _tps(r: "SurveyRow") -> str:
    t = r.decode_tokens_per_s
    if not t or not t.get("mid"):
        return "-"
    mid = t["mid"]
    return f"{mid:.0f}" if mid >= 10 else f"{mid:.1f}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_text(result: "SurveyResult", color: bool = False, width: Optional[int] = None) -> str:
    width = width or terminal_width()
    v = result.verdict
    lines = [_bold(f"deepseek-probe {result.tool_version} · what this machine can run · verdict "
                   f"{_paint(v.upper(), v, color)} (exit {result.exit_code})", color)]
    for line in machine_summary(result.snapshot):  # "GPUs    …", "host    …": 8-column labels
        lines += _wrap(line[:8], line[8:], " " * 8, width)
    lines.append("")
    header = f"{'model':<34} {'params':>8}  {'runs':<8} {'how':<26} {'context':>9} {'tok/s':>6}"
    lines.append(header)
    for r in result.rows:
        fit = _paint(f"{_FIT_WORDS[r.fit]:<8}", _FIT_LEVEL[r.fit], color)
        ctx = count(r.max_context) if r.max_context else "-"
        lines.append(f"{_clip(_name(r), 34):<34} {r.params / 1e9:>7.1f}B  {fit} {_clip(_how(r), 26):<26} "
                     f"{ctx:>9} {_tps(r):>6}")
        for change in r.to_run[:1]:
            label = "to run it" if r.fit == "none" else "on a GPU"
            lines += _wrap(f"    {label}: ", change, " " * 8, width)
    if result.checkpoints:
        lines += ["", "already on this machine:"]
        for c in result.checkpoints:
            state = c["error"] or ("complete" if c["complete"] else "incomplete" if c["complete"] is False else "")
            what = " ".join(x for x in (c["format"], c["precision"]) if x)
            lines += _wrap("  ", f"{c['name']} ({c['source']}, {what}, {gib(c['bytes_on_disk'])})"
                                 f"{' = ' + c['model'] if c['model'] else ''}{' · ' + state if state else ''}",
                           " " * 4, width)
    lines.append("")
    lines += _wrap("", "tok/s: decode per sequence, estimated from memory bandwidth (±30%); context: the "
                       "largest that fits", "", width)
    bad = [f for f in result.health if f.level != "pass"]
    if bad:
        lines.append("machine:")
        for f in bad:
            first = f"  {_MARKS[f.level]:<5} {f.check:<21} "
            painted = f"  {_paint(f'{_MARKS[f.level]:<5}', f.level, color)} {f.check:<21} "
            lines += _wrap(first, f.message, " " * 8, width, painted)
            if f.suggestion:
                lines += _wrap("        fix: ", f.suggestion, " " * 13, width)
    else:
        lines.append("machine: driver and GPU health checks pass")
    lines += _wrap("", "check one model in full: deepseek-probe check --model ID (exit code for scripts)", "", width)
    return "\n".join(lines) + "\n"


def render_json(result: "SurveyResult") -> str:
    return json.dumps(result.to_dict(), indent=1, default=_default)


def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def render_markdown(result: "SurveyResult") -> str:
    s = result.snapshot
    gpus = ", ".join(f"{g.name} ({gib(g.memory_total_bytes)})" for g in s.visible_gpus) or "none"
    out = [f"## deepseek-probe {result.tool_version}: what this machine can run",
           "", f"**Verdict:** {result.verdict} (exit {result.exit_code})", "",
           f"- GPUs: {gpus}", f"- RAM: {gib(s.memory.available_bytes)} available of {gib(s.memory.total_bytes)}",
           f"- CPU: {s.cpu.model or '?'}", f"- OS: {s.system.os_release or s.system.os_name or '?'}", "",
           "| model | params | runs | how | context | tok/s | to run it |",
           "|---|---:|---|---|---:|---:|---|"]
    for r in result.rows:
        ctx = count(r.max_context) if r.max_context else "-"
        out.append(f"| {', '.join(r.models)} | {r.params / 1e9:.1f} B | {_FIT_WORDS[r.fit]} | {_how(r)} | {ctx} "
                   f"| {_tps(r)} | {'; '.join(r.to_run) or '-'} |")
    if result.checkpoints:
        out += ["", "### Already on this machine", "", "| name | source | format | size | model |", "|---|---|---|---|---|"]
        out += [f"| {c['name']} | {c['source']} | {c['format'] or '-'} {c['precision'] or ''} | "
                f"{gib(c['bytes_on_disk'])} | {c['model'] or c['error'] or '-'} |" for c in result.checkpoints]
    out += ["", "### Machine checks", "", "| check | level | message |", "|---|---|---|"]
    out += [f"| {f.check} | {f.level} | {f.message} |" for f in result.health]
    return "\n".join(out) + "\n"


def render_prometheus(result: "SurveyResult") -> str:
    lines = ["# HELP deepseek_probe_survey_fit How a model runs here: 3 GPU, 2 partial offload, 1 CPU, 0 no.",
             "# TYPE deepseek_probe_survey_fit gauge"]
    score = {"gpu": 3, "partial": 2, "cpu": 1, "none": 0}
    for r in result.rows:
        lines.append(f'deepseek_probe_survey_fit{{model="{r.models[0]}"}} {score[r.fit]}')
    lines += ["# HELP deepseek_probe_survey_max_context Largest context that fits (tokens).",
              "# TYPE deepseek_probe_survey_max_context gauge"]
    for r in result.rows:
        lines.append(f'deepseek_probe_survey_max_context{{model="{r.models[0]}"}} {r.max_context or 0}')
    lines += ["# HELP deepseek_probe_survey_exit_code The survey's exit code.",
              "# TYPE deepseek_probe_survey_exit_code gauge", f"deepseek_probe_survey_exit_code {result.exit_code}"]
    return "\n".join(lines) + "\n"


RENDERERS: Dict[str, Any] = {"text": render_text, "json": render_json, "markdown": render_markdown,
                             "prometheus": render_prometheus}


def render(result: "SurveyResult", fmt: str, color: Optional[bool] = None) -> str:
    if fmt == "text":
        return render_text(result, color=bool(color))
    return RENDERERS[fmt](result)

