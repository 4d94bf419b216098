"""Fleet input: the snapshot files of many nodes, read one by one; a missing or corrupt file is a
node with its one-line reason, never an exception.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.snapshot import Snapshot
from deepseek_probe.units import gib
from deepseek_probe.records import record


class FleetInputError(InputError):
    """No snapshot at all could be read, or no snapshot was given (exit 64)."""


@record
class FleetNode:
    """One input snapshot: its node name, where it came from, and whether it could be read."""

    node: str
    source: str
    status: str  # "ok" | "unreadable" | "error" (rules failed on it: a bug, reported by name)
    reason: Optional[str] = None
    snapshot: Optional[Snapshot] = None
    kind: Optional[str] = None  # "8x H200 (140.4 GiB)"
    check: Optional[Any] = None  # rules.CheckResult

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"node": self.node, "source": self.source, "status": self.status,
                             "reason": self.reason, "kind": self.kind}
        if self.snapshot is not None:
            d.update(_node_summary(self.snapshot))
        return d


def collect_sources(paths: Sequence[str]) -> List[Tuple[str, str]]:
    """(node name, file) for every input: files as given, directories expanded to their *.json
    (sorted, not recursive). A path that does not exist stays in the list, so the node it names
    is reported as unreadable; so does a directory holding no snapshot."""
    if not paths:
        raise FleetInputError("fleet needs at least one snapshot file or directory")
    files: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(glob.glob(os.path.join(glob.escape(p), "*.json")))
            files.extend(found or [p])
        else:
            files.append(p)
    stems = [_stem(f) for f in files]
    repeated = {s for s, n in Counter(stems).items() if n > 1}
    return [(f if s in repeated else s, f) for s, f in zip(stems, files)]


def _stem(path: str) -> str:
    base = os.path.basename(os.path.normpath(path))
    return base[:-5] if base.endswith(".json") else base


def load_nodes(paths: Sequence[str]) -> List[FleetNode]:
    """Every input as a FleetNode; an unreadable one carries its one-line reason."""
    nodes = []
    for name, path in collect_sources(paths):
        if os.path.isdir(path):
            nodes.append(FleetNode(name, path, "unreadable", f"no *.json snapshot in directory {path}"))
            continue
        try:
            snap = Snapshot.load(path)
        except InputError as e:
            nodes.append(FleetNode(name, path, "unreadable", one_line(str(e))))
            continue
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the fleet
            nodes.append(FleetNode(name, path, "unreadable", one_line(f"{type(e).__name__}: {e}")))
            continue
        nodes.append(FleetNode(name, path, "ok", snapshot=snap, kind=node_kind(snap)))
    return nodes


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def node_kind(snap: Snapshot) -> str:
    """'8x H200 (140.4 GiB)': GPU count, model and the smallest total memory among them."""
    gpus = snap.visible_gpus
    if not gpus:
        return "no GPU"
    names: Dict[str, int] = {}
    for g in gpus:
        short = (g.name or "unknown GPU").replace("NVIDIA ", "")
        names[short] = names.get(short, 0) + 1
    totals = [g.memory_total_bytes for g in gpus if g.memory_total_bytes]
    mem = f" ({gib(min(totals))})" if totals else ""
    return " + ".join(f"{n}x {name}" for name, n in names.items()) + mem


def _node_summary(snap: Snapshot) -> Dict[str, Any]:
    net = snap.network
    active = [p for p in net.ib_ports if p.state == "ACTIVE"]
    return {"gpus": len(snap.visible_gpus), "driver_version": snap.cuda.driver_version,
            "rdma_ports": len(net.ib_ports), "rdma_ports_active": len(active),
            "rdma_best_gbps": max((p.rate_gbps or 0.0 for p in active), default=None),
            "gpudirect_rdma": net.gpudirect_rdma}
