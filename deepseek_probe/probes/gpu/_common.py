"""What the vendor modules share (psutil's ``_common``): nothing here imports a vendor module."""

from __future__ import annotations

from typing import List

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import _OMIT_WHEN_NONE, GpuInfo

AMD_PCI_VENDOR = "0x1002"  # PCI-SIG vendor id of AMD/ATI
_DRM = "/sys/class/drm"


def amd_cards(root: str) -> List[str]:
    """``cardN`` entries (not connectors like card0-DP-1) whose PCI vendor is AMD. Here, not in
    amd.py, so a host without an AMD card decides without importing the AMD probe."""
    names = _read.list_dir(root, _DRM) or []
    # re.fullmatch(r"card\d+", n) without a regular expression: \d is what str.isdecimal() accepts
    cards = [n for n in names if n.startswith("card") and n[4:].isdecimal()]
    cards.sort(key=lambda n: int(n[4:]))
    return [c for c in cards
            if (_read.read_first_line(root, f"{_DRM}/{c}/device/vendor") or "").lower() == AMD_PCI_VENDOR]


def mark_not_probed(gpu: GpuInfo, reason: str) -> None:
    """Every NVML-only field a vendor probe has no source for gets ``reason``, so a None in the
    snapshot always says why (fields added for other vendors stay out of the JSON instead)."""
    for name, value in vars(gpu).items():
        if value is None and name not in _OMIT_WHEN_NONE and name not in gpu.unavailable:
            gpu.unavailable[name] = reason
