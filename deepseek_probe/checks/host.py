"""Host checks: RAM for loading and offload, container memory limits, swap, /dev/shm.

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List

from deepseek_probe.findings import Finding
from deepseek_probe.runtimes import RUNTIMES
from deepseek_probe.snapshot import Snapshot
from deepseek_probe.units import gib
from deepseek_probe.checks.common import unavailable_reason
from deepseek_probe.thresholds import DOCKER_DEFAULT_SHM_BYTES, HOST_OS_RESERVE_BYTES, RECOMMENDED_SHM_BYTES, SWAP_PRESSURE_FREE_FRACTION

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.runtimes.base import Estimate, Settings


def host_findings(snapshot: Snapshot, settings: Settings, est: Estimate, tp: int,
                   offload_host_bytes: int) -> List[Finding]:
    m = snapshot.memory
    out: List[Finding] = []
    need = int(est.host_ram_bytes or 0)
    why = "to load the model"
    if offload_host_bytes:
        need = max(need, offload_host_bytes + HOST_OS_RESERVE_BYTES)
        why = (f"for the CPU-offloaded layers ({gib(offload_host_bytes)}) + "
               f"{gib(HOST_OS_RESERVE_BYTES)} OS reserve")
    if m.available_bytes is None:
        out.append(Finding("host.ram", "unknown", f"available RAM unreadable ({unavailable_reason(m, 'available_bytes')})",
                           required=need, suggestion="run `free -b` and attach its output"))
    elif need > m.available_bytes:
        total_ok = m.total_bytes is not None and need <= m.total_bytes
        out.append(Finding("host.ram", "fail",
                           f"needs {gib(need)} RAM {why}; {gib(m.available_bytes)} available"
                           f" of {gib(m.total_bytes)}",
                           measured=m.available_bytes, required=need,
                           suggestion=(f"free {gib(need - m.available_bytes)} of RAM (stop other processes)"
                                       if total_ok else f"add {gib(need - (m.total_bytes or 0))} of RAM")))
    else:
        out.append(Finding("host.ram", "pass", f"needs {gib(need)} RAM {why}; {gib(m.available_bytes)} available",
                           measured=m.available_bytes, required=need))
    # cgroup limit: the container's ceiling, whatever the host has.
    if m.cgroup_limit_bytes is None:
        reason = m.unavailable.get("cgroup_limit_bytes")
        if reason:
            out.append(Finding("host.cgroup_memory", "pass", f"cgroup memory limit not readable ({reason})"))
        else:
            out.append(Finding("host.cgroup_memory", "pass", "no cgroup memory limit"))
    elif m.cgroup_limit_bytes < need:
        out.append(Finding("host.cgroup_memory", "fail",
                           f"container memory limit {gib(m.cgroup_limit_bytes)} < {gib(need)} needed {why}",
                           measured=m.cgroup_limit_bytes, required=need,
                           suggestion=f"raise the container memory limit to >= {gib(need)} "
                                      f"(docker run --memory, Kubernetes resources.limits.memory)"))
    else:
        out.append(Finding("host.cgroup_memory", "pass", f"cgroup memory limit {gib(m.cgroup_limit_bytes)}",
                           measured=m.cgroup_limit_bytes, required=need))
    # /dev/shm for multi-process runtimes.
    workers = RUNTIMES[settings.runtime].nccl_workers
    multi = tp > 1 and workers
    if workers:
        if m.shm_total_bytes is None:
            out.append(Finding("host.shm", "unknown" if multi else "pass",
                               f"/dev/shm size unreadable ({unavailable_reason(m, 'shm_total_bytes')})",
                               suggestion="run `df -h /dev/shm`; in Docker use --ipc=host or --shm-size=1g"
                               if multi else None))
        elif multi and m.shm_total_bytes <= DOCKER_DEFAULT_SHM_BYTES:
            out.append(Finding("host.shm", "fail",
                               f"/dev/shm is {gib(m.shm_total_bytes, 2)} (Docker's 64 MiB default): NCCL "
                               f"fails to create its shared-memory segments with tensor parallel {tp}",
                               measured=m.shm_total_bytes, required=RECOMMENDED_SHM_BYTES,
                               suggestion="run the container with --ipc=host or --shm-size=1g"))
        elif m.shm_total_bytes < RECOMMENDED_SHM_BYTES:
            out.append(Finding("host.shm", "warn",
                               f"/dev/shm is {gib(m.shm_total_bytes, 2)}; vLLM/PyTorch workers share "
                               f"tensors through it", measured=m.shm_total_bytes,
                               required=RECOMMENDED_SHM_BYTES,
                               suggestion="run the container with --ipc=host or --shm-size=1g"))
        else:
            out.append(Finding("host.shm", "pass", f"/dev/shm {gib(m.shm_total_bytes)}",
                               measured=m.shm_total_bytes, required=RECOMMENDED_SHM_BYTES))
    # Swap: informative; nearly used up means memory pressure.
    if m.swap_total_bytes:
        free = m.swap_free_bytes if m.swap_free_bytes is not None else m.swap_total_bytes
        if free < SWAP_PRESSURE_FREE_FRACTION * m.swap_total_bytes:
            out.append(Finding("host.swap", "warn",
                               f"swap {gib(m.swap_total_bytes - free)} of {gib(m.swap_total_bytes)} in use: "
                               f"the host is short of memory", measured=free, required=None,
                               suggestion="stop memory-hungry processes before loading the model"))
        else:
            out.append(Finding("host.swap", "pass", f"swap {gib(m.swap_total_bytes)} ({gib(free)} free)",
                               measured=free))
    elif m.swap_total_bytes == 0:
        out.append(Finding("host.swap", "pass", "no swap (fine: model weights must not be swapped)", measured=0))
    return out
