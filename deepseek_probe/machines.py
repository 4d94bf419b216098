"""Machines that were not probed: a node of catalog GPUs (`plan`, fix proposals) and the probed
machine changed the way a fix proposes (more GPUs like these, other processes gone).

They are Snapshots, so assess() answers questions on them exactly as on a probed machine. Pure.
"""

from __future__ import annotations

from typing import List, Optional

from deepseek_probe.gpus import GpuModel
from deepseek_probe.records import replace
from deepseek_probe.snapshot import GpuInfo, GpuLink, MemoryInfo, RocmInfo, Snapshot

# Idle memory NVML shows used on a GPU nobody uses: up to 615 MiB (census-h200.json).
IDLE_USED_BYTES = 615 * 2**20
# A node sized for the GPUs it holds (host RAM and disk are not what `plan` answers): plenty.
_ROOMY_BYTES = 1 << 50


def _links(n: int, nvlink: bool) -> List[GpuLink]:
    return [GpuLink(gpu_a=a, gpu_b=b, nvlink_p2p=nvlink, common_ancestor=None if nvlink else "hostbridge")
            for a in range(n) for b in range(a + 1, n)]


def catalog_node(gpu: GpuModel, count: int) -> Snapshot:
    """`count` idle GPUs of a catalog model in one node (NVLink between data-center GPUs with
    HBM; PCIe between the others), the vendor's software installed, roomy host RAM and disk.

    Built once per (GPU, count) in a run and shared: assess() only reads its snapshot, and the
    survey and `plan` ask about the same few nodes dozens of times (an 8-GPU node is 37 records)."""
    from deepseek_probe.memo import memo

    return memo("catalog_node", (gpu, count), lambda: _catalog_node(gpu, count))


def _catalog_node(gpu: GpuModel, count: int) -> Snapshot:
    gpus = [GpuInfo(index=i, name=gpu.name, memory_total_bytes=gpu.memory_bytes,
                    memory_free_bytes=gpu.memory_bytes - IDLE_USED_BYTES, memory_used_bytes=IDLE_USED_BYTES,
                    memory_reserved_bytes=0, compute_capability=list(gpu.compute_capability),
                    rated_memory_bandwidth_bytes_per_s=gpu.bandwidth_bytes_per_s, mig_enabled=False,
                    processes=[], throttle_reasons=[],
                    vendor=None if gpu.vendor == "nvidia" else gpu.vendor, gfx_target=gpu.gfx_target or None)
            for i in range(count)]
    hbm = gpu.memory_class_gb >= 80
    snap = Snapshot(gpus=gpus, links=_links(count, hbm))
    if gpu.vendor == "amd":  # a plan assumes the vendor's stack is installed: the newest ROCm we know
        from deepseek_probe.checks.amd import newest_rocm

        snap.rocm = RocmInfo(rocm_version=newest_rocm(), kfd_present=True)
    snap.memory = MemoryInfo(total_bytes=_ROOMY_BYTES, available_bytes=_ROOMY_BYTES)
    snap.disk = replace(snap.disk, free_bytes=_ROOMY_BYTES, total_bytes=_ROOMY_BYTES)
    return snap


def like(snapshot: Snapshot, count: int, template: Optional[GpuInfo] = None) -> Snapshot:
    """This machine with `count` GPUs like its tightest one (or `template`), as that one is now
    (other processes included): what "add N more of these GPUs" proposes."""
    gpus = snapshot.visible_gpus
    g = template or min(gpus, key=lambda x: x.memory_free_bytes or 0)
    made = [replace(g, index=i, visible=True) for i in range(count)]
    nvlink = bool(g.nvlink_active_links)
    return replace(snapshot, gpus=made, links=_links(count, nvlink))


def freed(snapshot: Snapshot) -> Snapshot:
    """This machine once other processes have freed the GPUs' memory."""
    made = [replace(g, memory_free_bytes=max(g.memory_free_bytes or 0, (g.memory_total_bytes or 0) - IDLE_USED_BYTES),
                    processes=[])
            if g.memory_total_bytes else g for g in snapshot.gpus]
    return replace(snapshot, gpus=made)
