"""Renderers: a CheckResult (or PlanResults) -> text, json, markdown or prometheus.

Redaction happens here, by default, in two layers (see deepseek_probe/redact.py): the snapshot is
rewritten before rendering, and the rendered text gets a final pass with every secret the
original snapshot held.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from deepseek_probe.records import replace

FORMATS = ("text", "json", "markdown", "prometheus")
PLAN_FORMATS = ("text", "json", "markdown", "csv")


def render(result: Any, fmt: str, redact: bool = True, color: Optional[bool] = None) -> str:
    """Render a rules.CheckResult or a survey.SurveyResult. `color` only affects text (the CLI decides: a tty, no NO_COLOR)."""
    from deepseek_probe.errors import InputError

    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    final = None
    if redact:
        from deepseek_probe.redact import redact_for, redact_snapshot

        final = redact_for(result.snapshot)
        result = replace(result, snapshot=redact_snapshot(result.snapshot))
    if hasattr(result, "rows"):  # survey.SurveyResult: `check` with no model
        from deepseek_probe.report import survey
        out = survey.render(result, fmt, color)
    elif fmt == "text":
        from deepseek_probe.report.text import render_check
        out = render_check(result, color=bool(color))
    elif fmt == "json":
        from deepseek_probe.report.json import render_check
        out = render_check(result)
    elif fmt == "markdown":
        from deepseek_probe.report.markdown import render_check
        out = render_check(result)
    else:
        from deepseek_probe.report.prometheus import render_check
        out = render_check(result)
    if final is None:
        return out
    return _redact_json(out, final) if fmt == "json" else final(out)


def _redact_json(text: str, final) -> str:
    """The last redaction pass on each string of a JSON report, not on its text: a secret that is
    also part of an escape sequence or a key must not break the document (a property test found
    one). The renderers all write json.dumps(..., indent=1)."""
    import json

    def walk(v):
        if isinstance(v, str):
            return final(v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    return json.dumps(walk(json.loads(text)), indent=1)


def prepare() -> None:
    """Import what rendering a survey uses, ahead of it: the CLI does it while its snapshot is
    taken (commands.check). The first survey report cost 6.7 ms against 3.0 ms for the next on
    the dev box, the difference these imports."""
    import importlib

    for name in ("deepseek_probe.redact", "deepseek_probe.report.survey"):
        importlib.import_module(name)


def render_plans(plans: Sequence[Any], fmt: str) -> str:
    """Render plan.PlanResult list for `deepseek-probe plan` (no snapshot, nothing to redact)."""
    from deepseek_probe.errors import InputError

    if fmt == "text":
        from deepseek_probe.report.text import render_plans as r
    elif fmt == "json":
        from deepseek_probe.report.json import render_plans as r
    elif fmt in ("markdown", "csv"):
        from deepseek_probe.report import markdown

        r = markdown.render_plans if fmt == "markdown" else markdown.render_plans_csv
    else:
        raise InputError(f"unknown plan format {fmt!r} (choose from {', '.join(PLAN_FORMATS)})")
    return r(plans)
