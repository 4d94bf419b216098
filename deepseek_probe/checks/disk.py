"""Disk check: free space where the checkpoint goes.

Pure: snapshot + estimate -> findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from deepseek_probe.errors import InputError
from deepseek_probe.findings import Finding
from deepseek_probe.snapshot import LocalCheckpoint, Snapshot
from deepseek_probe.units import gib

if TYPE_CHECKING:  # annotations only (from __future__ import annotations): no import at run time
    from deepseek_probe.runtimes.base import Estimate


def downloaded(snapshot: Snapshot, est: Estimate) -> Optional[LocalCheckpoint]:
    """A complete checkpoint of this model already on the machine: its name resolves to the model
    (HF id, Ollama tag), or its headers count the model's parameters (a folder or GGUF file given
    by path; safetensors of V3 also hold its MTP module, hence the 3 % tolerance)."""
    from deepseek_probe.profiles import get_model, names

    try:
        spec = get_model(est.model)
    except InputError:
        spec = None
    for c in snapshot.checkpoints.found:
        if c.error or c.complete is False:
            continue
        same = False
        if c.source in ("hf_cache", "ollama"):
            try:
                same = names.resolve(c.name).model_id == est.model
            except InputError:
                same = False
        if not same and spec is not None and c.params:
            same = abs(c.params - spec.params) <= 0.03 * spec.params
        if same:
            return c
    return None


def disk_findings(snapshot: Snapshot, est: Estimate) -> List[Finding]:
    have = downloaded(snapshot, est)
    if have is not None:
        what = f"{have.precision or have.format or ''} ".lstrip()
        return [Finding("disk.free", "pass",
                        f"already downloaded: {have.name} ({what}{gib(have.bytes_on_disk)}) in {have.source}",
                        measured=have.bytes_on_disk, required=0)]
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
