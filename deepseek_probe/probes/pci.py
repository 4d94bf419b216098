"""GPUs on the PCI bus, from sysfs: what is plugged in, whether or not a driver answers.

NVML (or amdgpu) lists a GPU only when its driver works. A host whose NVIDIA driver was removed,
or broken by a kernel update, shows no GPU to NVML, and the checks would take it for a laptop.
The PCI bus still shows the board: /sys/bus/pci/devices/<domain:bus:dev.fn>/{vendor,device,class}
(Documentation/ABI/testing/sysfs-bus-pci). No subprocess (lspci reads the same files).

A GPU is a display controller of a GPU vendor: PCI class 0x0300xx (VGA compatible) or 0x0302xx
(3D controller: every NVIDIA data-centre board, e.g. `10de:2330 GH100 [H100 SXM5 80GB]`, class
0302 in pci.ids) from NVIDIA 0x10de or AMD 0x1002 (PCI-SIG vendor ids, pci.ids). An ASPEED BMC
display (0x1a03, class 0300) is not a GPU.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import PciDevice

_DEVICES = "/sys/bus/pci/devices"
GPU_VENDORS = {"0x10de": "nvidia", "0x1002": "amd"}
# PCI base class 03 (display controller), subclasses 00 (VGA) and 02 (3D): PCI Code and ID
# Assignment Specification, "Base Class 03h".
GPU_CLASSES = ("0x0300", "0x0302")


def probe_pci_gpus(root: str = "/") -> Tuple[Optional[List[PciDevice]], Optional[str]]:
    """(GPUs on the PCI bus in address order, None) or (None, reason) when the bus cannot be
    listed (no sysfs: not Linux, or a container without /sys). A device whose vendor or class
    file cannot be read is skipped: it cannot be told to be a GPU."""
    names = _read.list_dir(root, _DEVICES)
    if names is None:
        return None, "not_found" if not _read.exists(root, _DEVICES) else "no_permission"
    out: List[PciDevice] = []
    for address in sorted(names):
        base = f"{_DEVICES}/{address}"
        vendor = (_read.read_first_line(root, f"{base}/vendor") or "").lower()
        if vendor not in GPU_VENDORS:
            continue  # most of the bus (bridges, NICs, NVMe): one small read each
        pci_class = (_read.read_first_line(root, f"{base}/class") or "").lower()
        if not pci_class.startswith(GPU_CLASSES):
            continue  # the GPU's own audio function (0x0403), NVSwitch bridges (0x0680)
        device = (_read.read_first_line(root, f"{base}/device") or "").lower() or None
        out.append(PciDevice(address=address, vendor=vendor, device=device, pci_class=pci_class))
    return out, None
