"""A small catalog of common GPUs for `plan` (no probing): memory, bandwidth, compute capability.

Memory is what a CUDA process can see as total: the NVML total measured on our hosts where we have
one (fixtures/census/census-*.json), otherwise the datasheet capacity in GiB (GDDR/HBM
capacities are binary; NVML reports a few hundred MiB less on some boards). Bandwidth is the
datasheet peak. Compute capability from NVIDIA's CUDA GPUs table
(https://developer.nvidia.com/cuda-gpus). Each row names its datasheet.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple
from deepseek_probe.records import asdict, record

GIB = 1024**3


@record(frozen=True)
class GpuModel:
    """A common GPU: memory a CUDA process sees, peak bandwidth, compute capability."""

    key: str  # short id used on the command line / in JSON: "h100-sxm"
    name: str  # what people call it: "H100 SXM 80GB"
    memory_bytes: int
    bandwidth_bytes_per_s: float
    compute_capability: Tuple[int, int]
    memory_class_gb: int  # 24 / 32 / 48 / 80 / 141 / 192: the classes of docs/requirements tables
    vendor: str
    source: str
    gfx_target: str = ""  # AMD LLVM target (ROCm "System requirements" GPU table), "" for NVIDIA

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["compute_capability"] = list(self.compute_capability)
        return d


CATALOG: List[GpuModel] = [
    GpuModel("rtx-3090", "GeForce RTX 3090 24GB", 24 * GIB, 936e9, (8, 6), 24, "nvidia",
             "NVIDIA GeForce RTX 3090 specifications: 24 GB GDDR6X, 936 GB/s"),
    GpuModel("rtx-4090", "GeForce RTX 4090 24GB", 24 * GIB, 1008e9, (8, 9), 24, "nvidia",
             "NVIDIA GeForce RTX 4090 specifications: 24 GB GDDR6X, 1008 GB/s"),
    GpuModel("a10", "A10 24GB", 24 * GIB, 600e9, (8, 6), 24, "nvidia",
             "NVIDIA A10 datasheet: 24 GB GDDR6, 600 GB/s"),
    GpuModel("l4", "L4 24GB", 24 * GIB, 300e9, (8, 9), 24, "nvidia",
             "NVIDIA L4 datasheet: 24 GB GDDR6, 300 GB/s"),
    GpuModel("rtx-5090", "GeForce RTX 5090 32GB", 32 * GIB, 1792e9, (12, 0), 32, "nvidia",
             "NVIDIA GeForce RTX 5090 specifications: 32 GB GDDR7, 1792 GB/s"),
    GpuModel("a100-40gb", "A100 40GB", 40 * GIB, 1555e9, (8, 0), 40, "nvidia",
             "NVIDIA A100 datasheet: 40 GB HBM2, 1555 GB/s"),
    GpuModel("l40s", "L40S 48GB", 48 * GIB, 864e9, (8, 9), 48, "nvidia",
             "NVIDIA L40S datasheet: 48 GB GDDR6 with ECC, 864 GB/s"),
    GpuModel("a100-80gb", "A100 80GB SXM", 80 * GIB, 2039e9, (8, 0), 80, "nvidia",
             "NVIDIA A100 datasheet: 80 GB HBM2e, 2039 GB/s (SXM)"),
    GpuModel("h100-pcie", "H100 PCIe 80GB", 85520809984, 2.0e12, (9, 0), 80, "nvidia",
             "NVIDIA H100 datasheet: 80 GB HBM2e, 2 TB/s (PCIe); NVML total as measured on H100 80GB"),
    GpuModel("h100-sxm", "H100 SXM 80GB", 85520809984, 3.35e12, (9, 0), 80, "nvidia",
             "NVIDIA H100 datasheet: 80 GB HBM3, 3.35 TB/s (SXM); NVML total 85520809984 B "
             "measured (census-h100.json)"),
    GpuModel("h200", "H200 141GB", 150754820096, 4.8e12, (9, 0), 141, "nvidia",
             "NVIDIA H200 datasheet: 141 GB HBM3e, 4.8 TB/s; NVML total 150754820096 B measured "
             "(census-h200.json)"),
    GpuModel("b200", "B200 180GB", 180 * GIB, 8.0e12, (10, 0), 192, "nvidia",
             "NVIDIA HGX/DGX B200 datasheet: 1440 GB HBM3e per 8 GPUs (180 GB each; announced as "
             "192 GB), 8 TB/s"),
    GpuModel("mi300x", "Instinct MI300X 192GB", 192 * GIB, 5.3e12, (0, 0), 192, "amd",
             "AMD Instinct MI300X datasheet: 192 GB HBM3, 5.3 TB/s (ROCm; no CUDA compute "
             "capability, not probed by NVML); LLVM target gfx942 (ROCm 6.0 system requirements)",
             gfx_target="gfx942"),
]

_BY_KEY = {g.key: g for g in CATALOG}


def get_gpu(key: str) -> Optional[GpuModel]:
    return _BY_KEY.get(key.lower())


def nvidia_catalog() -> List[GpuModel]:
    return [g for g in CATALOG if g.vendor == "nvidia"]


def match_name(nvml_name: Optional[str]) -> Optional[GpuModel]:
    """The catalog row for an NVML device name ("NVIDIA H100 80GB HBM3" -> h100-sxm), or None."""
    if not nvml_name:
        return None
    n = nvml_name.lower()
    if "h200" in n:
        return _BY_KEY["h200"]
    if "h100" in n:
        return _BY_KEY["h100-pcie" if "pcie" in n else "h100-sxm"]
    if "b200" in n:
        return _BY_KEY["b200"]
    if "a100" in n:
        return _BY_KEY["a100-40gb" if "40gb" in n else "a100-80gb"]
    for key, needle in (("l40s", "l40s"), ("l4", " l4"), ("a10", " a10"), ("rtx-5090", "5090"),
                        ("rtx-4090", "4090"), ("rtx-3090", "3090"), ("mi300x", "mi300x")):
        if needle in " " + n and not (key == "a10" and "a100" in n):
            if key == "l4" and "l40" in n:
                continue
            return _BY_KEY[key]
    return None
