"""`record`: the project's dataclass decorator, the same classes at a third of the cost to define.

Why: `check` is run in provisioning loops, and defining a class with `dataclasses.dataclass`
compiles its methods from source at import (`exec` of `__init__`, `__repr__`, `__eq__`, and for a
frozen class `__setattr__`, `__delattr__`, `__hash__`: CPython Lib/dataclasses.py `_create_fn`).
On the survey's import path (some 70 classes) that was 100M of the 160M instructions our modules take
import on the 2-core dev box (benchmarks/startup.py; measured by defining them with only
`__init__` generated).

`record` lets dataclasses generate only `__init__`, the one method that must be compiled per
class, and gives every class the same shared `__eq__`, `__hash__` and `__repr__` (which read
the field names once per class) and, for a frozen one, shared guards that raise
FrozenInstanceError. The classes stay dataclasses: `fields`, `replace`, `asdict` and
`is_dataclass` work, and equality, hashing, repr and frozenness give what dataclasses'
generated methods give (tests/test_records.py compares them). What differs: a frozen record's
`__dataclass_params__.frozen` reads False (its guards are not dataclasses' own), and each field
assignment in `__init__` passes the guard (~0.1 us a field).
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import Any, Callable, Optional, Tuple, Type, TypeVar

T = TypeVar("T")


def _key(names: Tuple[str, ...]) -> Callable[[Any], Tuple[Any, ...]]:
    """A function giving the tuple of these attributes (attrgetter of one name gives the bare
    value, of none fails: both made tuples)."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return attrgetter(*names)


def _eq(self: Any, other: Any) -> Any:
    # dataclasses' __eq__: same class, then the tuples of the compared fields
    if other.__class__ is self.__class__:
        key = self.__class__.__record_compare__
        return key(self) == key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__class__.__record_hash__(self))


def _repr(self: Any) -> str:
    cls = self.__class__
    return f"{cls.__qualname__}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in cls.__record_repr__) + ")"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    # Each field is assigned once, by the generated __init__; anything after that raises, as a
    # frozen dataclass's generated guard does (no exec: shared by every frozen record).
    if name in self.__dict__ or name not in self.__dataclass_fields__:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _finish(cls: Type[T], frozen: bool, eq: bool, repr_: bool, guards: bool = True) -> Type[T]:
    """`guards`: install the shared frozen guards (False: dataclasses compiled its own)."""
    fields = dataclasses.fields(cls)  # init / compare / repr / hash flags as dataclasses read them
    compare = tuple(f.name for f in fields if f.compare)
    cls.__record_compare__ = _key(compare)  # type: ignore[attr-defined]
    cls.__record_hash__ = _key(tuple(f.name for f in fields  # type: ignore[attr-defined]
                                     if (f.compare if f.hash is None else f.hash)))
    cls.__record_repr__ = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
    if frozen and guards:
        cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
        cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
    if repr_ and "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr  # type: ignore[assignment]
    if eq and "__eq__" not in cls.__dict__:
        cls.__eq__ = _eq  # type: ignore[assignment]
        # dataclasses' hash rule for eq=True: frozen -> hash of the fields; else unhashable
        if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    return cls


def record(cls: Optional[Type[T]] = None, *, frozen: bool = False, eq: bool = True,
           repr: bool = True, many: bool = False) -> Any:  # noqa: A002 - dataclass's own keyword
    """`@record`, `@record(frozen=True)`, `@record(eq=False, repr=False)`: as `@dataclass(...)`
    with these keywords (the module doc says what differs: only the cost). `many`: a frozen
    class made hundreds of times a run (Settings, Question...): dataclasses' own frozen
    `__init__` and guards (two more methods compiled at import, no guard call per field at
    each instance: ~400 field assignments a run is where that pays)."""
    def wrap(c: Type[T]) -> Type[T]:
        if frozen and many:
            return _finish(dataclasses.dataclass(c, frozen=True, eq=False, repr=False), True, eq, repr,
                           guards=False)
        return _finish(dataclasses.dataclass(c, eq=False, repr=False), frozen, eq, repr)

    return wrap if cls is None else wrap(cls)
