"""Disk check: free space where the checkpoint goes.

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List

from deepseek_probe.findings import Finding
from deepseek_probe.snapshot import Snapshot
from deepseek_probe.units import gib

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.runtimes.base import Estimate


def disk_findings(snapshot: Snapshot, est: Estimate) -> List[Finding]:
    d = snapshot.disk
    need = int(getattr(est, "disk_bytes", 0) or 0)
    where = d.path or "the model directory"
    if d.free_bytes is None:
        reason = d.unavailable.get("free_bytes")
        if not reason and d.path is None:
            return []
        return [Finding("disk.free", "unknown", f"free space at {where} unreadable ({reason or 'not reported'})",
                        required=need, suggestion=f"run `df -h {where}` and attach it")]
    if d.free_bytes < need:
        return [Finding("disk.free", "warn",
                        f"checkpoint is {gib(need)}; {gib(d.free_bytes)} free at {where} "
                        f"(fine if the model is already downloaded there)",
                        measured=d.free_bytes, required=need,
                        suggestion=f"free {gib(need - d.free_bytes)} or point --model-dir (HF_HOME) "
                                   f"at a larger disk")]
    return [Finding("disk.free", "pass", f"checkpoint {gib(need)}; {gib(d.free_bytes)} free at {where}",
                    measured=d.free_bytes, required=need)]
