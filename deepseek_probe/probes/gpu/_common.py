"""What the vendor modules share (psutil's ``_common``): nothing here imports a vendor module."""

from __future__ import annotations

from deepseek_probe.snapshot import _OMIT_WHEN_NONE, GpuInfo


def mark_not_probed(gpu: GpuInfo, reason: str) -> None:
    """Every NVML-only field a vendor probe has no source for gets ``reason``, so a None in the
    snapshot always says why (fields added for other vendors stay out of the JSON instead)."""
    for name, value in vars(gpu).items():
        if value is None and name not in _OMIT_WHEN_NONE and name not in gpu.unavailable:
            gpu.unavailable[name] = reason
