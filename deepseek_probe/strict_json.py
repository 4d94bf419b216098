"""Strict, typed loading of a JSON document into dataclass records (the snapshot's schema):
every field checked against its type hint, unknown keys rejected, a bad value located
(`snapshot.gpus[3].memory_total_bytes: expected an integer`).

Kept apart from snapshot.py so that file holds the records and their meaning only.
"""

from __future__ import annotations

import math
import sys
import typing
from typing import Any, Callable, Dict, List

from deepseek_probe import records

# --- strict, typed loading: every field checked, unknown keys rejected ---------------------
# One converter per schema type, built once: `fleet` loads a thousand snapshots, and walking the
# type hints for every value cost ~2 ms per 8-GPU snapshot. The location of a bad value is
# collected only when one is found, as the error travels up.

# Range of integer fields: int64 .. uint64 (NVML reports unsigned 64-bit counters and sizes).
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


class _Bad(Exception):
    """A value that does not fit the schema; `path` grows as the error leaves each container."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: List[str] = []


def build(cls: type, doc: Any, where: str, error: Callable[[str], Exception]) -> Any:
    """`doc` as an instance of the dataclass `cls`; `error(message)` is raised on a bad value."""
    try:
        return _converter(cls)(doc)
    except _Bad as e:
        raise error(f"{where}{''.join(reversed(e.path))}: {e.what}") from None


_CONVERTERS: Dict[Any, Callable[[Any], Any]] = {}


def _converter(tp: Any) -> Callable[[Any], Any]:
    conv = _CONVERTERS.get(tp)
    if conv is None:
        conv = _CONVERTERS[tp] = _make_converter(tp)
    return conv


_HINTS: Dict[Any, Any] = {}


def _hint(cls: type, f: "records.Field[Any]") -> Any:
    """The type of field `f` of record `cls`: its annotation (a string, `from __future__ import
    annotations`) evaluated in the module that defines `cls`, as typing.get_type_hints does, but
    once per distinct string: the schema's ~180 annotations are ~25 strings ("Optional[int]"...),
    and each evaluation compiles."""
    if not isinstance(f.type, str):
        return f.type
    module = sys.modules[cls.__module__]
    key = (module.__name__, f.type)
    if key not in _HINTS:
        try:
            _HINTS[key] = eval(f.type, vars(module))  # noqa: S307 - our own annotations, as get_type_hints
        except NameError:  # a name the record's module does not see (an inherited field): the slow way
            return typing.get_type_hints(cls)[f.name]
    return _HINTS[key]


def _make_converter(tp: Any) -> Callable[[Any], Any]:  # noqa: C901 - one branch per schema type
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        inner = _converter([a for a in args if a is not type(None)][0])
        return lambda v: None if v is None else inner(v)
    if origin in (list, List):
        item = _converter(args[0])

        def as_list(v: Any) -> List[Any]:
            if not isinstance(v, list):
                raise _Bad("expected a list")
            out = []
            for i, x in enumerate(v):
                try:
                    out.append(item(x))
                except _Bad as e:
                    e.path.append(f"[{i}]")
                    raise
            return out
        return as_list
    if origin in (dict, Dict):
        value_conv = _converter(args[1])

        def as_dict(v: Any) -> Dict[str, Any]:
            if not isinstance(v, dict):
                raise _Bad("expected an object")
            out = {}
            for k, x in v.items():
                try:
                    out[str(k)] = value_conv(x)
                except _Bad as e:
                    e.path.append(f".{k}")
                    raise
            return out
        return as_dict
    if records.is_dataclass(tp):
        fields = [(f.name, _converter(_hint(tp, f))) for f in records.fields(tp)]
        names = frozenset(name for name, _ in fields)
        required = frozenset(f.name for f in records.fields(tp)
                             if f.default is records.MISSING and f.default_factory is records.MISSING)

        def as_record(v: Any) -> Any:
            if not isinstance(v, dict):
                raise _Bad("expected an object")
            if not names.issuperset(v):
                raise _Bad(f"unknown field {sorted(set(v) - names)[0]!r}")
            if not required.issubset(v):
                raise _Bad(f"missing field {sorted(required - set(v))[0]!r}")
            kwargs = {}
            for name, conv in fields:
                if name in v:
                    try:
                        kwargs[name] = conv(v[name])
                    except _Bad as e:
                        e.path.append(f".{name}")
                        raise
            return tp(**kwargs)
        return as_record
    if tp is bool:
        def as_bool(v: Any) -> bool:
            if not isinstance(v, bool):
                raise _Bad("expected true/false")
            return v
        return as_bool
    if tp is int:
        def as_int(v: Any) -> int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise _Bad("expected an integer")
            # Every integer field (bytes, pids, counts) fits in 64 bits; a bigger one is corrupt
            # and would overflow float maths in the rules and renderers.
            if not _INT_MIN <= v <= _INT_MAX:
                raise _Bad("integer out of range")
            return v
        return as_int
    if tp is float:
        def as_float(v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _Bad("expected a number")
            if isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX:
                raise _Bad("number out of range")
            if not math.isfinite(v):  # NaN / Infinity: not JSON, never measured
                raise _Bad("expected a finite number")
            return float(v)
        return as_float
    if tp is str:
        def as_str(v: Any) -> str:
            if not isinstance(v, str):
                raise _Bad("expected a string")
            return v
        return as_str
    if tp is Any:
        return lambda v: v
    raise TypeError(f"schema has an unsupported type {tp!r}")  # a bug in the schema
