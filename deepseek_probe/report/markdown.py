"""`--format markdown`: a report to attach to a support ticket.

Machine summary, every GPU, driver/CUDA versions, tool version, every finding with its
suggestion. Redaction is applied by report.render() before and after this runs.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from deepseek_probe.report.text import fmt_value
from deepseek_probe.report.bars import (command_line, installed_summary, memory_bars, speed_line, training_title,
                                        version_line)
from deepseek_probe.units import count, gib


def _cell(value: Any) -> str:
    """Table cell: pipes escaped, newlines flattened, empty shown as a dash."""
    text = "-" if value is None or value == "" else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> List[str]:
    return [_row(header), "|" + "|".join("---" for _ in header) + "|"] + [_row(r) for r in rows]


def _opt(value: Any, record: Any = None, name: Optional[str] = None) -> str:
    if value is None:
        reason = (getattr(record, "unavailable", {}) or {}).get(name) if name else None
        return f"unavailable ({reason})" if reason else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _small_bytes(n: int) -> str:
    return gib(n) if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _machine(snap: Any) -> List[str]:
    s, c, m, d, cu = snap.system, snap.cpu, snap.memory, snap.disk, snap.cuda
    rows = [
        ("captured", _opt(snap.captured_at)),
        ("host", f"{_opt(s.hostname)} · {_opt(s.os_release, s, 'os_release')} · kernel "
                 f"{_opt(s.kernel, s, 'kernel')} · {_opt(s.arch)}"),
        ("container", (s.container or "none") + (" · WSL2" if s.wsl else "")),
        ("python", _opt(s.python_version)),
        ("CPU", f"{_opt(c.model, c, 'model')} · {_opt(c.physical_cores)} cores / {_opt(c.logical_cores)} "
                f"threads · usable {_opt(c.usable_cores)} · NUMA nodes {_opt(c.numa_nodes)}"),
        ("CPU flags", " ".join(c.flags or []) or "-"),
        ("RAM", f"{gib(m.total_bytes)} total · {gib(m.available_bytes)} available · swap "
                f"{gib(m.swap_total_bytes)} ({gib(m.swap_free_bytes)} free)"),
        ("limits", f"cgroup v{_opt(m.cgroup_version)} limit "
                   f"{gib(m.cgroup_limit_bytes) if m.cgroup_limit_bytes else 'none'} · /dev/shm "
                   f"{gib(m.shm_total_bytes, 2)} · memlock "
                   f"{_small_bytes(m.memlock_limit_bytes) if m.memlock_limit_bytes is not None else 'unlimited'}"),
        ("disk", f"{_opt(d.path)} · {gib(d.free_bytes)} free of {gib(d.total_bytes)} · "
                 f"{_opt(d.fstype)} · {'rotational' if d.rotational else 'SSD/NVMe' if d.rotational is False else 'media unknown'}"),
        ("NVML", f"{cu.nvml_status} · NVML {_opt(cu.nvml_version, cu, 'nvml_version')}"),
        ("driver", f"{_opt(cu.driver_version, cu, 'driver_version')} · max CUDA "
                   f"{_opt(cu.cuda_driver_version, cu, 'cuda_driver_version')}"),
        ("CUDA toolkit", f"nvcc {_opt(cu.nvcc_version)} · libcuda {_opt(cu.libcuda_path)} · "
                         f"libcudart {_opt(cu.libcudart_path)}"),
        ("CUDA_VISIBLE_DEVICES", "unset" if cu.cuda_visible_devices is None else cu.cuda_visible_devices),
    ]
    installed = installed_summary(snap)
    if installed:
        rows.append(("runtimes installed", installed))
    return _table(("item", "value"), rows)


def _gpus(snap: Any) -> List[str]:
    if not snap.gpus:
        return [f"No NVIDIA GPU listed (NVML status: {snap.cuda.nvml_status})."]
    rows = []
    for g in snap.gpus:
        cc = ".".join(map(str, g.compute_capability)) if g.compute_capability else "-"
        procs = g.processes
        proc_text = ("-" if procs is None else
                     f"{len(procs)} ({gib(sum(p.used_memory_bytes or 0 for p in procs))})" if procs else "0")
        rows.append((
            g.index, (g.name or "-") + ("" if g.visible else " (hidden)"),
            f"{gib(g.memory_free_bytes)} / {gib(g.memory_total_bytes)}", cc,
            f"gen {_opt(g.pcie_gen_current)}/{_opt(g.pcie_gen_max)} x{_opt(g.pcie_width_current)}/{_opt(g.pcie_width_max)}",
            _opt(g.nvlink_active_links), _opt(g.temperature_c), _opt(g.mig_enabled),
            f"{_opt(g.ecc_enabled)} ({_opt(g.ecc_uncorrected_volatile)} uncorr.)",
            ", ".join(g.throttle_reasons or []) or "-", proc_text, _opt(g.serial), _opt(g.uuid),
        ))
    out = _table(("#", "name", "free / total", "CC", "PCIe", "NVLink", "°C", "MIG", "ECC",
                  "clock events", "processes", "serial", "UUID"), rows)
    if snap.links:
        out.append("")
        out += _table(("GPUs", "path", "NVLink P2P"),
                      [(f"{l.gpu_a} ↔ {l.gpu_b}", _opt(l.common_ancestor, l, "common_ancestor"),
                        _opt(l.nvlink_p2p, l, "nvlink_p2p")) for l in snap.links])
    return out


def render_check(result: Any) -> str:
    from deepseek_probe.findings import EXIT_CODES

    snap = result.snapshot
    v = result.verdict
    out = [
        "# deepseek-probe readiness report", "",
        f"**Verdict: {v.upper()}** (exit code {EXIT_CODES[v]}) · deepseek-probe {result.tool_version}"
        f" · snapshot schema {snap.schema_version}", "",
        "| profile | verdict | failing / warning checks |", "|---|---|---|",
    ]
    for p in result.profiles:
        bad = [f.check for f in p.findings if f.level != "pass"]
        out.append(_row((_title(p), p.verdict.upper(), ", ".join(dict.fromkeys(bad)) or "none")))
    out += ["", "## Machine", ""] + _machine(snap)
    out += ["", "## GPUs", ""] + _gpus(snap)
    for p in result.profiles:
        out += ["", f"## {_title(p)}: {p.verdict.upper()}", ""]
        out += [speed_line(p) + ".", ""]
        version = version_line(p)
        if version:
            out += [f"Runtime: {version.removeprefix('runtime  ')}.", ""]
        cmd = command_line(p)
        if cmd:
            out += ["```sh", cmd.removeprefix("$ "), "```", ""] if cmd.startswith("$") else [cmd, ""]
        bars = memory_bars(p)
        if bars:
            out += ["```text"] + bars + ["```", ""]
        if p.estimate is not None:
            d = p.estimate.per_device
            out.append(f"Estimate per GPU: {gib(d.total_bytes)} (weights {gib(d.weights_bytes)}, KV "
                       f"{gib(d.kv_cache_bytes)}, activations {gib(d.activation_bytes)}, runtime "
                       f"{gib(d.runtime_overhead_bytes)}); host RAM {gib(p.estimate.host_ram_bytes)}; "
                       f"disk {gib(p.estimate.disk_bytes)}.")
            out.append("")
        out += _table(("check", "level", "measured", "required", "message", "suggestion"),
                      [(f"`{f.check}`", f.level, fmt_value(f.check, f.measured),
                        fmt_value(f.check, f.required), f.message, _with_command(f)) for f in p.findings])
    out += ["", "---", "Serials, UUIDs, hostnames and user names are redacted unless `--no-redact` was "
            "given. Exit codes: 0 ready, 1 warnings, 2 not ready, 3 unknown."]
    return "\n".join(out) + "\n"


def _with_command(f: Any) -> Optional[str]:
    if not f.fix_command or f.level == "pass":
        return f.suggestion
    from deepseek_probe.runtimes.launch import shell_line

    return f"{f.suggestion} (`{shell_line(f.fix_command)}`)"


def _title(p: Any) -> str:
    trained = training_title(p)
    if trained:
        return trained
    tp = f", TP {p.tensor_parallel}" if p.tensor_parallel > 1 else ""
    return (f"{p.model} ({p.precision}, KV {p.kv_precision}, {count(p.context)} tokens × "
            f"{p.concurrency}, {p.runtime}{tp})")


# --- plan ---------------------------------------------------------------------------------------


def render_plans(plans: Sequence[Any]) -> str:
    out: List[str] = []
    for pl in plans:
        s, e = pl.settings, pl.estimate
        out += [f"## {pl.model}: {s.precision}, KV {s.kv_precision}, {count(s.context)} tokens × "
                f"{s.concurrency}, {s.runtime}", "",
                f"Per GPU at TP {s.tensor_parallel}: {gib(e.per_device.total_bytes)} (+ 1.0 GiB margin); "
                f"host RAM {gib(e.host_ram_bytes)}; disk {gib(e.disk_bytes)}.", ""]
        rows = []
        for r in pl.rows:
            g = r.gpu
            t = r.tokens_per_s
            rows.append((g.name, gib(g.memory_bytes, 0), f"{g.bandwidth_bytes_per_s / 1e12:.2f} TB/s",
                         f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.vendor == "nvidia" else "-",
                         f"{r.count}x" if r.count else "> 8",
                         gib(r.per_device_bytes) if r.per_device_bytes else "-",
                         f"{t['mid']:.0f} ({t['low']:.0f}–{t['high']:.0f})" if t else "-", r.note))
        out += _table(("GPU", "memory", "bandwidth", "CC", "GPUs needed", "per GPU", "decode tok/s", "note"), rows)
        out.append("")
    out.append("Decode tok/s per sequence from memory bandwidth: an estimate (±30%). GPU figures from "
               "vendor datasheets (deepseek_probe/gpus.py).")
    return "\n".join(out) + "\n"


def render_plans_csv(plans: Sequence[Any]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "precision", "kv_precision", "context", "concurrency", "runtime", "gpu",
                "gpu_memory_bytes", "count", "per_device_bytes", "decode_tokens_per_s"])
    for pl in plans:
        s = pl.settings
        for r in pl.rows:
            w.writerow([pl.model, s.precision, s.kv_precision, s.context, s.concurrency, s.runtime,
                        r.gpu.key, r.gpu.memory_bytes, r.count or "", r.per_device_bytes or "",
                        f"{r.tokens_per_s['mid']:.1f}" if r.tokens_per_s else ""])
    return buf.getvalue()
