"""Renderers for `deepseek-probe fleet`: text, json, markdown, prometheus.

Same conventions as the `check` renderers (marks, units, exit codes); render_fleet() calls
them and applies redaction last. A report over 1000 nodes stays readable: passing nodes are
counted and named in one line, only nodes with something to say get their own lines.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Dict, List, Sequence

from deepseek_probe.errors import InputError
from deepseek_probe.findings import EXIT_CODES, LEVELS
from deepseek_probe.units import count, gib

if TYPE_CHECKING:  # annotations only: no import at run time
    from deepseek_probe.fleet import FleetResult

_ROLES = ("stage", "fit", "spare", "unfit", "unknown", "unreadable")


def _title(p: Any) -> str:
    return (f"{p.model} · {p.precision} (KV {p.kv_precision}) · {count(p.context)} tokens × "
            f"{p.concurrency} · {p.runtime}")


def _plan_line(p: Any) -> str:
    k = p.plan
    if k is None:
        return "no node kind can hold this model"
    pp = k.pipeline_parallel or k.nodes_needed
    need = gib(k.per_gpu_need_bytes) if k.per_gpu_need_bytes is not None else "?"
    state = (f"{len(k.fit_nodes)} fit" if k.feasible else
             f"{len(k.fit_nodes)} fit, {k.more_nodes_needed} more needed")
    return (f"{pp} node(s) of {k.kind} · TP {k.tensor_parallel} x PP {pp} · {k.layers_per_stage} of "
            f"{k.layers} layers per stage · {need} per GPU · {state}")


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" … and {len(names) - limit} more" if len(names) > limit else "")


def _by_role(p: Any) -> Dict[str, List[str]]:
    roles: Dict[str, List[str]] = {r: [] for r in _ROLES}
    for nv in p.nodes:
        roles.setdefault(nv.role, []).append(nv.node)
    return roles


def _value(check: str, value: Any) -> str:
    from deepseek_probe.report.text import fmt_value

    if check == "fleet.stage_memory" and isinstance(value, int):
        return gib(value)
    return fmt_value(check, value)


# --- text ------------------------------------------------------------------------------------------


def render_text(result: Any, color: bool = False) -> str:
    from deepseek_probe.report.text import _MARKS, _bold, _paint

    v = result.verdict
    read = sum(1 for n in result.nodes if n.status == "ok")
    kinds: Dict[str, int] = {}
    for n in result.nodes:
        if n.status == "ok":
            kinds[n.kind or "no GPU"] = kinds.get(n.kind or "no GPU", 0) + 1
    out = [_bold(f"deepseek-probe {result.tool_version} fleet · verdict ", color)
           + _paint(v.upper(), v, color) + f" (exit {EXIT_CODES[v]})",
           f"nodes   {len(result.nodes)} given · {read} read · {len(result.nodes) - read} unreadable",
           "kinds   " + (" · ".join(f"{c} x [{k}]" for k, c in kinds.items()) or "-")]
    for p in result.profiles:
        out.append("")
        out.append(_bold(_title(p), color) + " → " + _paint(p.verdict.upper(), p.verdict, color))
        out.append(f"  plan  {_plan_line(p)}")
        roles = _by_role(p)
        out.append("  nodes " + " · ".join(f"{r}: {len(roles[r])}" for r in _ROLES if roles.get(r)))
        width = max((len(f.check) for f in p.findings), default=10)
        for f in p.findings:
            mark = _paint(f"{_MARKS.get(f.level, f.level):<4}", f.level, color)
            out.append(f"  {mark}  {f.check:<{width}}  {f.message}")
            if f.suggestion and f.level != "pass":
                out.append(f"  {'':4}  {'':<{width}}  → {f.suggestion}")
        if roles.get("stage"):
            out.append(f"  stage nodes: {_names(roles['stage'])}")
        for role in ("fit", "spare"):
            if roles.get(role):
                out.append(f"  {role} nodes: {_names(roles[role])}")
        noisy = [nv for nv in p.nodes if nv.verdict != "pass"]
        if noisy:
            out.append("  per node (findings that are not pass):")
        name_w = max((len(nv.node) for nv in noisy), default=4)
        for nv in noisy:
            out.append(f"  {nv.node:<{name_w}}  {_paint(_MARKS.get(nv.verdict, nv.verdict), nv.verdict, color)}"
                       f" ({nv.role})")
            for f in nv.findings:
                if f.level == "pass":
                    continue
                values = ""
                if f.required is not None and f.measured is not None:
                    values = f" [{_value(f.check, f.measured)} / need {_value(f.check, f.required)}]"
                out.append(f"  {'':<{name_w}}    {_paint(_MARKS.get(f.level, f.level), f.level, color)}"
                           f"  {f.check}: {f.message}{values}")
                if f.suggestion:
                    out.append(f"  {'':<{name_w}}          → {f.suggestion}")
    out.append("")
    out.append("Roles: stage = in the plan, fit = fit but the plan lacks nodes, spare = fit but not "
               "needed, unfit/unknown = left out. "
               "Exit codes: 0 ready, 1 warnings, 2 not ready, 3 unknown, 64 no snapshot readable.")
    return "\n".join(out) + "\n"


# --- json ------------------------------------------------------------------------------------------


def render_json(result: Any) -> str:
    from deepseek_probe.report.json import _default

    return json.dumps(result.to_dict(), indent=1, default=_default)


# --- markdown --------------------------------------------------------------------------------------


def render_markdown(result: Any) -> str:
    from deepseek_probe.report.markdown import _table

    v = result.verdict
    read = sum(1 for n in result.nodes if n.status == "ok")
    out = [f"# deepseek-probe fleet report: {v.upper()} (exit {EXIT_CODES[v]})", "",
           f"{len(result.nodes)} snapshot(s) given, {read} read, {len(result.nodes) - read} unreadable · "
           f"deepseek-probe {result.tool_version}", ""]
    for p in result.profiles:
        out += [f"## {_title(p)}: {p.verdict.upper()}", ""]
        rows = []
        for k in p.kinds:
            pp = k.pipeline_parallel or k.nodes_needed
            rows.append([k.kind, len(k.nodes), k.tensor_parallel, pp if pp else "-",
                         k.layers_per_stage or "-",
                         gib(k.per_gpu_need_bytes) if k.per_gpu_need_bytes is not None else "-",
                         len(k.fit_nodes), k.more_nodes_needed,
                         "yes" if k is p.plan else ""])
        out += _table(["node kind", "nodes", "TP", "PP (nodes needed)", "layers/stage", "per GPU",
                       "fit", "more needed", "chosen"], rows)
        out.append("")
        out += _table(["level", "check", "finding", "fix"],
                      [[f.level, f.check, f.message, f.suggestion if f.level != "pass" else ""]
                       for f in p.findings])
        out.append("")
        roles = _by_role(p)
        for role in _ROLES:
            if roles.get(role):
                out.append(f"- **{role}** ({len(roles[role])}): {_names(roles[role], 50)}")
        noisy = [nv for nv in p.nodes if nv.verdict != "pass"]
        if noisy:
            out += ["", "### Nodes with findings", ""]
            out += _table(["node", "role", "verdict", "check", "finding", "fix"],
                          [[nv.node, nv.role, nv.verdict, f.check, f.message, f.suggestion or ""]
                           for nv in noisy for f in nv.findings if f.level != "pass"])
        out.append("")
    return "\n".join(out)


# --- prometheus ------------------------------------------------------------------------------------


def render_prometheus(result: Any) -> str:
    from deepseek_probe.report.prometheus import _Metrics

    m = _Metrics()
    m.add("fleet_verdict", "Fleet verdict as the exit code: 0 pass, 1 warn, 2 fail, 3 unknown.",
          EXIT_CODES[result.verdict])
    for status in ("ok", "unreadable", "error"):
        m.add("fleet_snapshots", "Snapshots by status (ok, unreadable, error).",
              sum(1 for n in result.nodes if n.status == status), {"status": status})
    for n in result.nodes:
        m.add("fleet_node_readable", "1 when the node's snapshot could be read and evaluated.",
              1 if n.status == "ok" else 0, {"node": n.node})
    for p in result.profiles:
        labels = {"model": p.model, "precision": p.precision, "kv_precision": p.kv_precision,
                  "context": p.context, "concurrency": p.concurrency, "runtime": p.runtime}
        m.add("fleet_profile_verdict", "Cluster verdict per model profile as the exit code.",
              EXIT_CODES[p.verdict], labels)
        for k in p.kinds:
            kl = {**labels, "kind": k.kind}
            m.add("fleet_nodes_needed", "Nodes of this kind the model needs (pipeline-parallel size).",
                  k.pipeline_parallel or k.nodes_needed, kl)
            m.add("fleet_nodes_fit", "Nodes of this kind that can hold a stage of the plan.",
                  len(k.fit_nodes), kl)
            m.add("fleet_more_nodes_needed", "Nodes of this kind missing for the plan.",
                  k.more_nodes_needed, kl)
            m.add("fleet_stage_gpu_need_bytes", "Per-GPU memory of the largest stage, margin excluded.",
                  k.per_gpu_need_bytes, kl)
        for nv in p.nodes:
            m.add("fleet_node_verdict", "Verdict per node and profile as the exit code.",
                  EXIT_CODES[nv.verdict], {**labels, "node": nv.node, "role": nv.role})
        for level in LEVELS:
            m.add("fleet_profile_nodes", "Nodes per profile and verdict.",
                  sum(1 for nv in p.nodes if nv.verdict == level), {**labels, "level": level})
    return m.text()


FORMATS = ("text", "json", "markdown", "prometheus")


def render_fleet(result: "FleetResult", fmt: str, redact: bool = True, color: bool = False) -> str:
    """Render a FleetResult like `check` renders a CheckResult. With `redact`, serials, UUIDs,
    hostnames and the user names and homes of whoever probed each node are removed from the output;
    node names (the snapshot file names the operator chose) are kept: they are the point."""
    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    out = {"text": lambda: render_text(result, color=color),
           "json": lambda: render_json(result),
           "markdown": lambda: render_markdown(result),
           "prometheus": lambda: render_prometheus(result)}[fmt]()
    if redact:
        out = _redact(result, out)
    return out


# Words that could be a serial, a UUID or a host name (letters, digits, dot, dash, underscore).
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _redact(result: "FleetResult", text: str) -> str:
    """redact.redact_text's two layers, with the exact-string layer done by token lookup: a
    1000-node fleet holds ~18 000 serials, UUIDs and hostnames, and one str.replace per secret
    over a multi-MB report would take minutes."""
    from deepseek_probe.redact import identity_of, redact_text, secrets_of

    keep = {n.node for n in result.nodes}
    secrets: set = set()
    users: set = set()
    homes: set = set()
    for n in result.nodes:
        if n.snapshot is not None:
            secrets.update(s for s in secrets_of(n.snapshot) if len(s) >= 4 and s not in keep)
            names, home_dirs = identity_of(n.snapshot)  # who ran each node's probe (issue 24)
            users.update(u for u in names if u not in keep)
            homes.update(home_dirs)

    def swap(m: Any) -> str:
        token = m.group(0)
        if token in keep or token.rstrip(".") in keep or (token.endswith(".json") and token[:-5] in keep):
            return token  # a node name the operator chose, possibly the host's own name
        if token in secrets:
            return "<redacted>"
        stripped = token.rstrip(".")
        if stripped in secrets:
            return "<redacted>" + token[len(stripped):]
        head, dot, rest = token.partition(".")
        if dot and head in secrets:  # a short hostname followed by a domain
            return "<redacted>." + rest
        return token

    if secrets:
        text = _TOKEN_RE.sub(swap, text)
    return redact_text(text, (), sorted(users), sorted(homes))
