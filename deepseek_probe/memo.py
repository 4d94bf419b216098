"""One explicit per-process cache for pure functions of a model's architecture.

The survey and the planner ask the same questions (weight bytes, a runtime's KV bytes per token,
a V4 cache layout) thousands of times per run. Each such function keeps its answers here under
its own namespace, keyed by the `ModelSpec` (frozen and hashable: equal specs share answers) and
the arguments that change the answer. Nothing here is I/O and nothing expires: the tables grow
only with the distinct (spec, arguments) a run asks about.

A leaf module: it imports nothing of ours.
"""

from __future__ import annotations

from typing import Callable, Dict, Hashable, TypeVar

T = TypeVar("T")

_TABLES: Dict[str, Dict[Hashable, object]] = {}


def memo(namespace: str, key: Hashable, compute: Callable[[], T]) -> T:
    """compute(), once per (namespace, key) in this process. `key` must contain everything the
    answer depends on (the spec itself, not its id: two specs may share a name)."""
    table = _TABLES.setdefault(namespace, {})
    try:
        return table[key]  # type: ignore[return-value]
    except KeyError:
        value = table[key] = compute()
        return value


def clear() -> None:
    """Forget every answer (tests that time a cold run)."""
    _TABLES.clear()
