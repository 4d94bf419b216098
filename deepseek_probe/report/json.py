"""`--format json`: the stable, versioned contracts of DESIGN.md."""

from __future__ import annotations

import json
from typing import Any, Sequence


def render_check(result: Any) -> str:
    return json.dumps(result.to_dict(), indent=1, default=_default)


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
