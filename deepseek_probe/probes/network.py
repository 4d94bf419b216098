"""Interconnect for multi-node serving: NICs, InfiniBand / RoCE ports, GPUDirect RDMA.

All from sysfs and /proc (no ioctl, no ibverbs, no subprocess), so it costs a few ms and works
in a container that can see /sys. Read through a ``root`` prefix: tests replay recorded trees
from fixtures/fs/net-*.

Sources for the formats parsed here:
- /sys/class/net/<if>/{type,operstate,carrier,speed}: Linux Documentation/ABI/testing/
  sysfs-class-net. ``speed`` is Mb/s; it reads -1 (or fails with EINVAL) when the link is down
  or the driver does not say (virtio reads -1: recorded in fixtures/fs/net-dev).
- /sys/class/infiniband/<dev>/ports/<n>/{state,rate,link_layer}: Documentation/ABI/stable/
  sysfs-class-infiniband: state "4: ACTIVE", rate "400 Gb/sec (4X NDR)", link_layer
  "InfiniBand" or "Ethernet" (RoCE).
- GPUDirect RDMA: NVIDIA's GPUDirect RDMA guide: the ``nvidia_peermem`` kernel module (driver
  >= 470; Mellanox's older ``nv_peer_mem`` before it) must be loaded for the NIC to read GPU
  memory directly.
"""

from __future__ import annotations

import re
from typing import List, Optional

from deepseek_probe.probes import _read
from deepseek_probe.snapshot import IbPort, NetworkInfo, NicInfo

NET_DIR = "/sys/class/net"
IB_DIR = "/sys/class/infiniband"

# ARPHRD_LOOPBACK from include/uapi/linux/if_arp.h: /sys/class/net/lo/type reads 772.
ARPHRD_LOOPBACK = 772

# Interface names that container runtimes, CNI plugins and hypervisors give their virtual
# devices (docker0, veth*, br-<id> from Docker; cni0, flannel.1, cali*, cilium_*, lxc* from
# Kubernetes CNIs; virbr0/vnet* from libvirt; ifb* from tc). Only used for devices with no
# backing bus device, so a physical NIC that happens to carry such a name is still listed.
_VIRTUAL_PREFIXES = ("veth", "docker", "br-", "virbr", "vnet", "cni", "flannel", "cali",
                     "cilium", "lxc", "vxlan", "genev", "tunl", "tun", "tap", "ifb", "dummy",
                     "kube-", "weave", "nodelocaldns")

# Module names as they appear in /proc/modules (first column).
GPUDIRECT_MODULES = ("nvidia_peermem", "nv_peer_mem")

# Compiled on first use (re's cache): only a host with RDMA ports reads a rate.
_RATE_RE = r"([0-9]+(?:\.[0-9]+)?)\s*Gb/sec"


def probe_network(root: str = "/") -> NetworkInfo:
    """NICs, RDMA ports and the GPUDirect RDMA module. Never raises: a part that cannot be read
    is left empty/None with its reason in ``unavailable``."""
    info = NetworkInfo()
    for name, fn in (("nics", _probe_nics), ("ib_ports", _probe_ib_ports),
                     ("gpudirect_rdma", _probe_gpudirect)):
        try:
            fn(root, info)
        except Exception as e:  # noqa: BLE001 - a probe never raises into the caller
            info.unavailable[name] = _read.error_reason(e)
    return info


# --- NICs -------------------------------------------------------------------------------------


def _probe_nics(root: str, info: NetworkInfo) -> None:
    names = _read.list_dir(root, NET_DIR)
    if names is None:
        info.unavailable["nics"] = "not_found"  # sysfs not mounted or not visible here
        return
    nics: List[NicInfo] = []
    for name in sorted(names):
        base = f"{NET_DIR}/{name}"
        if _is_loopback(root, name, base) or _is_virtual(root, name, base):
            continue
        nics.append(NicInfo(name=name, speed_mbps=parse_speed_mbps(_read.read_first_line(root, base + "/speed")),
                            up=_is_up(root, base)))
    info.nics = nics


def _is_loopback(root: str, name: str, base: str) -> bool:
    if name == "lo":
        return True
    return _read.read_first_line(root, base + "/type") == str(ARPHRD_LOOPBACK)


def _is_virtual(root: str, name: str, base: str) -> bool:
    """A bridge, veth or tunnel: no bus device behind it and clearly named or a bridge."""
    if _read.exists(root, base + "/device"):
        return False  # backed by a PCI / virtio / USB device: a real NIC
    if _read.exists(root, base + "/bridge"):
        return True  # a Linux bridge (docker0, cni0, virbr0) has a bridge/ directory
    return name.startswith(_VIRTUAL_PREFIXES)


def _is_up(root: str, base: str) -> Optional[bool]:
    state = (_read.read_first_line(root, base + "/operstate") or "").lower()
    if state == "up":
        return True
    if state in ("down", "lowerlayerdown", "notpresent"):
        return False
    # "unknown" (some drivers never set it) or "dormant": fall back to carrier (1 = link).
    carrier = _read.read_first_line(root, base + "/carrier")
    if carrier in ("0", "1"):
        return carrier == "1"
    return None


def parse_speed_mbps(text: Optional[str]) -> Optional[int]:
    """'100000' -> 100000; '-1', '', junk or unreadable -> None (unknown or link down)."""
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value > 0 else None


# --- InfiniBand / RoCE --------------------------------------------------------------------------


def _probe_ib_ports(root: str, info: NetworkInfo) -> None:
    devices = _read.list_dir(root, IB_DIR)
    if devices is None:
        if _read.list_dir(root, "/sys/class") is None:
            info.unavailable["ib_ports"] = "not_found"  # no sysfs at all: we cannot tell
        # else: sysfs is there and has no RDMA class: no RDMA driver loaded, no ports.
        return
    ports: List[IbPort] = []
    for dev in sorted(devices):
        numbers = _read.list_dir(root, f"{IB_DIR}/{dev}/ports") or []
        for n in sorted((p for p in numbers if p.isdigit()), key=int):
            base = f"{IB_DIR}/{dev}/ports/{n}"
            ports.append(IbPort(
                device=dev, port=int(n),
                state=parse_port_state(_read.read_first_line(root, base + "/state")),
                rate_gbps=parse_rate_gbps(_read.read_first_line(root, base + "/rate")),
                link_layer=(_read.read_first_line(root, base + "/link_layer") or None)))
    info.ib_ports = ports


def parse_port_state(text: Optional[str]) -> Optional[str]:
    """'4: ACTIVE' -> 'ACTIVE'; 'ACTIVE' -> 'ACTIVE'; empty or unreadable -> None."""
    if not text:
        return None
    _, _, name = text.partition(":")
    return (name or text).strip().upper() or None


def parse_rate_gbps(text: Optional[str]) -> Optional[float]:
    """'400 Gb/sec (4X NDR)' -> 400.0; '2.5 Gb/sec (1X SDR)' -> 2.5; junk -> None."""
    if not text:
        return None
    m = re.search(_RATE_RE, text)
    return float(m.group(1)) if m else None


# --- GPUDirect RDMA -------------------------------------------------------------------------------


def _probe_gpudirect(root: str, info: NetworkInfo) -> None:
    text = _read.read_text(root, "/proc/modules")
    if text is not None:
        loaded = {line.split(" ", 1)[0] for line in text.splitlines() if line}
        info.gpudirect_rdma = any(m in loaded for m in GPUDIRECT_MODULES)
        return
    # No /proc/modules (some sandboxes hide it): /sys/module lists loaded modules too.
    modules = _read.list_dir(root, "/sys/module")
    if modules is None:
        info.gpudirect_rdma = None
        info.unavailable["gpudirect_rdma"] = "not_found"
        return
    info.gpudirect_rdma = any(m in modules for m in GPUDIRECT_MODULES)
