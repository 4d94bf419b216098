"""GPU health: lost GPUs, MIG, ECC and row remapping, throttling, temperature, PCIe link, other
processes holding memory.

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

from deepseek_probe.findings import Finding, worst_of
from deepseek_probe.snapshot import GpuInfo
from deepseek_probe.units import gib
from deepseek_probe.checks.common import gpu_label, unavailable_reason
from deepseek_probe.thresholds import GPU_TEMPERATURE_WARN_C, IDLE_USED_BYTES_MAX


# Throttle (clock-event) reasons that mean trouble; idle, app clocks and sync boost do not,
# software power cap is normal under load (NVML nvmlClocksEventReasons docs).
_BAD_THROTTLE_WORDS = ("thermal", "power_brake", "hw_slowdown")


def lost_finding(lost: Sequence[GpuInfo]) -> Finding:
    """NVML_ERROR_GPU_IS_LOST: the GPU fell off the bus (NVIDIA Xid catalog: Xid 79); nothing
    runs on it until the node is rebooted, and CUDA can fail to start with it present."""
    labels = ", ".join(gpu_label(g) for g in lost)
    return Finding("gpu.lost", "fail", f"{labels} fell off the bus (NVML: GPU is lost)",
                   measured=[g.index for g in lost], required=None,
                   suggestion="drain the node, check `dmesg` for Xid 79 and reboot (reseat the GPU "
                              "if it recurs); meanwhile hide it with CUDA_VISIBLE_DEVICES")


def _aggregate(check_id: str, items: List[Tuple[str, str, Optional[str]]], ok_message: str,
               measured: Any = None, required: Any = None) -> Finding:
    """One finding per check: the worst level, messages of the GPUs that are not fine."""
    bad = [(lvl, msg, sug) for lvl, msg, sug in items if lvl != "pass"]
    if not bad:
        return Finding(check_id, "pass", ok_message, measured=measured, required=required)
    level = worst_of(lvl for lvl, _, _ in bad)
    msg = "; ".join(m for _, m, _ in bad)
    sugs = []
    for _, _, s in bad:
        if s and s not in sugs:
            sugs.append(s)
    return Finding(check_id, level, msg, measured=measured, required=required,
                   suggestion="; ".join(sugs) or None)


def health_findings(gpus: Sequence[GpuInfo]) -> List[Finding]:
    out = []
    # MIG: memory is sliced into instances; a process sees one slice.
    mig = [(("warn", f"{gpu_label(g)}: MIG is enabled, memory is sliced into instances",
             f"use a MIG slice large enough for the model, or disable MIG "
             f"(sudo nvidia-smi -i {g.index} -mig 0, then reset the GPU)") if g.mig_enabled else
            ("pass", "", None)) for g in gpus]
    out.append(_aggregate("gpu.mig", mig, "MIG disabled" if all(g.mig_enabled is False for g in gpus)
                          else "MIG not enabled (or not supported)",
                          measured=[g.mig_enabled for g in gpus]))
    # ECC: uncorrected errors and failed row remapping (NVIDIA "GPU Memory Error Management").
    ecc = []
    for g in gpus:
        if g.remapped_rows_failed:
            ecc.append(("fail", f"{gpu_label(g)}: row remapping failed (memory cannot be repaired)",
                        "drain the node and contact the vendor (RMA); see nvidia-smi -q -d ROW_REMAPPER"))
        elif g.remapped_rows_pending:
            ecc.append(("warn", f"{gpu_label(g)}: row remapping pending",
                        f"reset the GPU (nvidia-smi -r -i {g.index}) or reboot to apply the remapping"))
        elif g.ecc_uncorrected_volatile:
            ecc.append(("warn", f"{gpu_label(g)}: {g.ecc_uncorrected_volatile} uncorrected ECC "
                                f"error(s) since the driver loaded",
                        "check nvidia-smi -q -d ECC and dmesg for Xid 48/63/64; reset the GPU"))
        else:
            ecc.append(("pass", "", None))
    ecc_on = [g.ecc_enabled for g in gpus]
    out.append(_aggregate("gpu.ecc", ecc,
                          "no uncorrected ECC errors" if any(ecc_on) else "ECC off or not supported",
                          measured=[g.ecc_uncorrected_volatile for g in gpus]))
    # Throttling (clock-event reasons right now).
    thr = []
    for g in gpus:
        bad = [r for r in (g.throttle_reasons or []) if any(w in r.lower() for w in _BAD_THROTTLE_WORDS)]
        if bad:
            thr.append(("warn", f"{gpu_label(g)} is slowed down: {', '.join(bad)}",
                        "check cooling and power delivery (nvidia-smi -q -d PERFORMANCE)"))
        else:
            thr.append(("pass", "", None))
    out.append(_aggregate("gpu.throttle", thr, "no thermal or power-brake slowdown",
                          measured=[g.throttle_reasons for g in gpus]))
    # Temperature.
    temp = []
    for g in gpus:
        if g.temperature_c is not None and g.temperature_c >= GPU_TEMPERATURE_WARN_C:
            temp.append(("warn", f"{gpu_label(g)} at {g.temperature_c} °C (>= {GPU_TEMPERATURE_WARN_C} °C)",
                         "check airflow and fan/cooling; under load it will throttle"))
        else:
            temp.append(("pass", "", None))
    temps = [g.temperature_c for g in gpus]
    out.append(_aggregate("gpu.temperature", temp,
                          f"{max((t for t in temps if t is not None), default='?')} °C max",
                          measured=max((t for t in temps if t is not None), default=None),
                          required=f"< {GPU_TEMPERATURE_WARN_C}"))
    # PCIe link: width below max is a slot/riser problem; gen below max is usually idle power
    # saving (the link trains up under load), so it is only explained.
    pcie, notes = [], []
    for g in gpus:
        if (g.pcie_width_current and g.pcie_width_max and g.pcie_width_current < g.pcie_width_max):
            pcie.append(("warn", f"{gpu_label(g)} PCIe link x{g.pcie_width_current} of x{g.pcie_width_max}",
                         "reseat the GPU or move it to a full-width slot; check risers/bifurcation"))
        else:
            pcie.append(("pass", "", None))
            if g.pcie_gen_current and g.pcie_gen_max and g.pcie_gen_current < g.pcie_gen_max:
                notes.append(f"GPU {g.index} at gen {g.pcie_gen_current} of {g.pcie_gen_max} "
                             f"(idle GPUs lower the link speed; normal)")
    if notes:
        ok = "; ".join(notes)
    elif all(g.pcie_width_current and g.pcie_width_max for g in gpus):
        ok = "PCIe links at full width" + (
            f" (gen {gpus[0].pcie_gen_current} x{gpus[0].pcie_width_current})" if gpus[0].pcie_gen_current else "")
    else:
        ok = f"PCIe link width not reported ({unavailable_reason(gpus[0], 'pcie_width_current')})"
    out.append(_aggregate("gpu.pcie_link", pcie, ok))
    # Other processes and compute mode.
    procs = []
    others_bytes = 0
    for g in gpus:
        if g.compute_mode == "prohibited":
            procs.append(("fail", f"{gpu_label(g)} compute mode is Prohibited: no CUDA context allowed",
                          f"sudo nvidia-smi -i {g.index} -c DEFAULT"))
            continue
        holders = g.processes or []
        held = sum(p.used_memory_bytes or 0 for p in holders)
        if holders and g.compute_mode == "exclusive_process":
            procs.append(("fail", f"{gpu_label(g)} is Exclusive_Process and already used by pid "
                                  f"{holders[0].pid}", "stop that process or use another GPU"))
        elif holders:
            others_bytes += held
            procs.append(("warn", f"{gpu_label(g)} shared: {len(holders)} other process(es) hold "
                                  f"{gib(held)}", "other tenants can grow and take the memory "
                                                  "counted free here; stop them or use a dedicated GPU"))
        elif (g.processes is not None and g.memory_used_bytes is not None
              and g.memory_used_bytes - (g.memory_reserved_bytes or 0) > IDLE_USED_BYTES_MAX):
            others_bytes += g.memory_used_bytes
            procs.append(("warn", f"{gpu_label(g)}: {gib(g.memory_used_bytes)} in use by processes "
                                  f"this container cannot see",
                          "another container or VM uses this GPU; check nvidia-smi on the host"))
        else:
            procs.append(("pass", "", None))
    out.append(_aggregate("gpu.other_processes", procs, "no other process on the GPU(s)",
                          measured=others_bytes))
    return out
