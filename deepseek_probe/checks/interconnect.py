"""Cross-node interconnect check (fleet.interconnect): is a node fit for multi-node traffic.

Pure: a snapshot's NetworkInfo -> one finding.
"""

from __future__ import annotations

from deepseek_probe.findings import Finding
from deepseek_probe.snapshot import NetworkInfo

# docs/reference/guide-claims.md #17: clusters need >= 100 Gb/s InfiniBand/RDMA
# between nodes. NCCL uses an RDMA port only in state ACTIVE, and falls back to TCP sockets
# when it finds none (NCCL environment docs: NCCL_IB_DISABLE, NCCL_SOCKET_IFNAME).
MIN_RDMA_GBPS = 100.0
# A NIC as fast as the RDMA minimum still carries NCCL over TCP when there is no RDMA device.
MIN_NIC_MBPS = int(MIN_RDMA_GBPS * 1000)


def interconnect_finding(net: NetworkInfo) -> Finding:
    """Is this node fit for cross-node traffic? guide-claims.md #17: >= 100 Gb/s RDMA."""
    ports = net.ib_ports
    active = [p for p in ports if p.state == "ACTIVE"]
    probed = bool(ports or net.nics or net.gpudirect_rdma is not None)
    if not ports and ("ib_ports" in net.unavailable or not probed):
        why = (net.unavailable.get("ib_ports") or net.unavailable.get("gpudirect_rdma")
               or "no network data in this snapshot")
        return Finding("fleet.interconnect", "unknown", f"InfiniBand/RoCE ports not known ({why})",
                       required=f">= {MIN_RDMA_GBPS:g} Gb/s RDMA",
                       suggestion="capture the snapshot with a deepseek-probe that probes the network, "
                                  "on the host (or with hostNetwork in Kubernetes)")
    if ports and not active:
        states = ", ".join(f"{p.device}/{p.port} {p.state or '?'}" for p in ports[:8])
        return Finding("fleet.interconnect", "fail",
                       f"no InfiniBand/RoCE port ACTIVE ({states}): NCCL would fall back to TCP "
                       f"sockets for cross-node traffic",
                       measured=0, required=f">= {MIN_RDMA_GBPS:g} Gb/s RDMA",
                       suggestion="check cables and the switch port (ibstat; port state must be "
                                  "ACTIVE, physical state LinkUp); is the subnet manager running?")
    if not ports:
        fast = [n for n in net.nics if n.up and (n.speed_mbps or 0) >= MIN_NIC_MBPS]
        best = max((n.speed_mbps or 0 for n in net.nics if n.up), default=0)
        level = "warn" if fast else "fail"
        return Finding("fleet.interconnect", level,
                       f"no InfiniBand/RoCE device; fastest NIC up {best / 1000:g} Gb/s: cross-node "
                       f"traffic goes over TCP sockets",
                       measured=f"{best / 1000:g} Gb/s TCP", required=f">= {MIN_RDMA_GBPS:g} Gb/s RDMA",
                       suggestion="use nodes with InfiniBand or RoCE NICs (guide-claims #17: >= 100 "
                                  "Gb/s RDMA between nodes), or keep the model on one node")
    best_rate = max(p.rate_gbps or 0.0 for p in active)
    desc = (f"{len(active)} of {len(ports)} RDMA port(s) ACTIVE, best "
            f"{best_rate:g} Gb/s ({active[0].link_layer or 'link layer unknown'})")
    if best_rate < MIN_RDMA_GBPS:
        return Finding("fleet.interconnect", "warn", f"{desc}: below {MIN_RDMA_GBPS:g} Gb/s",
                       measured=best_rate, required=MIN_RDMA_GBPS,
                       suggestion="cross-node stages will wait on the network; prefer >= 100 Gb/s "
                                  "links (HDR100/NDR or 100/200/400 GbE RoCE)")
    if net.gpudirect_rdma is not True:
        state = "not loaded" if net.gpudirect_rdma is False else "unknown"
        return Finding("fleet.interconnect", "warn",
                       f"{desc}; GPUDirect RDMA module (nvidia_peermem) {state}: NCCL copies GPU "
                       f"data through host memory", measured=best_rate, required=MIN_RDMA_GBPS,
                       suggestion="sudo modprobe nvidia_peermem (and add it to /etc/modules-load.d), "
                                  "or use NCCL's DMA-BUF path with the open kernel modules")
    return Finding("fleet.interconnect", "pass", f"{desc}; GPUDirect RDMA loaded",
                   measured=best_rate, required=MIN_RDMA_GBPS)
