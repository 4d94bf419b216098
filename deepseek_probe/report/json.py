"""`--format json`: the stable, versioned contracts of DESIGN.md."""

from __future__ import annotations

import json
from typing import Any, Sequence


def render_check(result: Any) -> str:
    from deepseek_probe.report.estimate import with_version

    doc = result.to_dict()
    # Each profile's runtime release and why (issue 23), next to its runtime.
    doc["profiles"] = [with_version(d, p.question.version_dict())
                       for d, p in zip(doc["profiles"], result.profiles)]
    return json.dumps(doc, indent=1, default=_default)


def render_plans(plans: Sequence[Any]) -> str:
    docs = [p.to_dict() for p in plans]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1, default=_default)


def _default(value: Any) -> Any:
    """Tuples and sets become lists; anything else a string (a finding's measured value)."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)
