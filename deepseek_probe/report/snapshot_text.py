"""`probe --format text`: the snapshot as a person reads it; unreadable fields show their reason."""

from __future__ import annotations

from typing import List

from deepseek_probe.units import gib


def _val(record, name: str, shown=None) -> str:
    value = getattr(record, name)
    if value is None:
        reason = record.unavailable.get(name)
        return f"unavailable ({reason})" if reason else "-"
    return str(shown if shown is not None else value)


def render_snapshot(snap) -> str:
    s, c, m, d, cu = snap.system, snap.cpu, snap.memory, snap.disk, snap.cuda
    out: List[str] = [
        f"deepseek-probe {snap.tool_version or '?'} snapshot, captured {snap.captured_at or '?'}",
        f"system   {_val(s, 'os_release')} · kernel {_val(s, 'kernel')} · {_val(s, 'arch')}"
        f" · container {s.container or 'none'} · WSL {'yes' if s.wsl else 'no'}",
        f"cpu      {_val(c, 'model')} · {_val(c, 'physical_cores')} cores / {_val(c, 'logical_cores')}"
        f" threads · usable {_val(c, 'usable_cores')} · {' '.join(c.flags or []) or 'no AVX flags'}",
        f"memory   {gib(m.total_bytes)} total · {gib(m.available_bytes)} available · swap"
        f" {gib(m.swap_total_bytes)} · /dev/shm {gib(m.shm_total_bytes)}"
        f" · cgroup limit {gib(m.cgroup_limit_bytes) if m.cgroup_limit_bytes else 'none'}",
        f"disk     {_val(d, 'path')} · {gib(d.free_bytes)} free of {gib(d.total_bytes)}"
        f" · {_val(d, 'fstype')} · {'rotational' if d.rotational else 'SSD/NVMe' if d.rotational is False else 'media unknown'}",
        f"driver   NVML {cu.nvml_status} · driver {_val(cu, 'driver_version')} · max CUDA"
        f" {_val(cu, 'cuda_driver_version')} · nvcc {_val(cu, 'nvcc_version')}",
    ]
    if not snap.gpus:
        out.append("gpus     none found")
    for g in snap.gpus:
        cc = ".".join(map(str, g.compute_capability)) if g.compute_capability else "?"
        hidden = "" if g.visible else " (hidden by CUDA_VISIBLE_DEVICES)"
        out.append(f"gpu {g.index}    {_val(g, 'name')}{hidden} · {gib(g.memory_free_bytes)} free of"
                   f" {gib(g.memory_total_bytes)} · CC {cc} · PCIe gen {_val(g, 'pcie_gen_current')}"
                   f"/{_val(g, 'pcie_gen_max')} x{_val(g, 'pcie_width_current')}"
                   f" · NVLink {_val(g, 'nvlink_active_links')} · {_val(g, 'temperature_c')} °C")
    if snap.installed is not None:
        from deepseek_probe.report.bars import installed_summary

        out.append(f"runtimes {installed_summary(snap)}")
    for link in snap.links:
        out.append(f"link     gpu {link.gpu_a} <-> gpu {link.gpu_b}: "
                   f"{'NVLink' if link.nvlink_p2p else 'PCIe'} ({link.common_ancestor or '?'})")
    return "\n".join(out) + "\n"
