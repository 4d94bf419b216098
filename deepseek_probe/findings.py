"""A finding is one check's outcome; a verdict is the worst of them; exit codes follow."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional
from deepseek_probe.records import asdict, field, record

# Worst last. "unknown" outranks "fail" only when nothing failed: a definite "not ready" is more
# useful to a provisioning script than "could not tell".
LEVELS = ("pass", "warn", "unknown", "fail")

EXIT_CODES = {"pass": 0, "warn": 1, "fail": 2, "unknown": 3}
EXIT_USAGE = 64  # bad flag, unknown model, unreadable snapshot
EXIT_INTERNAL = 70  # a bug


@record(many=True)
class Finding:
    """One check's outcome: what was measured, what was required, what to do about it."""

    check: str  # stable id, e.g. "gpu.vram", "driver.version"
    level: str  # one of LEVELS
    message: str
    measured: Any = None
    required: Any = None
    suggestion: Optional[str] = None
    # The fixes the suggestion names (fixes.Fix), each re-assessed before it is printed; not in JSON
    # until verified (assess.verify_fixes writes them into the suggestion).
    fixes: List[Any] = field(default_factory=list, repr=False, compare=False)
    fix_command: Optional[List[str]] = None  # argv of the first fix that holds (issue 25)

    def to_dict(self) -> Dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "fixes"}
        if d["fix_command"] is None:
            del d["fix_command"]
        return d


def verdict(findings: Iterable[Finding]) -> str:
    """Worst level among findings; no findings at all means we could not decide."""
    worst = None
    for f in findings:
        if worst is None or LEVELS.index(f.level) > LEVELS.index(worst):
            worst = f.level
    return worst or "unknown"


def worst_of(verdicts: Iterable[str]) -> str:
    return max(verdicts, key=LEVELS.index, default="unknown")


# Unit of `measured` / `required` when they are numbers (renderers format by this).
CHECK_UNITS: Dict[str, str] = {
    "gpu.vram": "bytes",
    "train.vram": "bytes",
    "train.gpus": "gpus",
    "llamacpp.offload": "bytes",
    "host.ram": "bytes",
    "host.cgroup_memory": "bytes",
    "host.shm": "bytes",
    "host.swap": "bytes",
    "disk.free": "bytes",
    "gpu.other_processes": "bytes",
    "gpu.temperature": "celsius",
    "gpu.tensor_parallel": "gpus",
    "gpu.present": "gpus",
    "apple.working_set": "bytes",
    "vllm.start": "tokens",  # KV cache tokens vs --max-model-len
    "sglang.start": "tokens",  # max_total_num_tokens vs context x concurrency
}
