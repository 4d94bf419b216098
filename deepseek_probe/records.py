"""`record`: the project's dataclass decorator, the same classes without compiling their methods.

Why: `check` is run in provisioning loops, and defining a class with `dataclasses.dataclass`
compiles its methods from source at import (`exec` of `__init__`, `__repr__`, `__eq__`, and for a
frozen class `__setattr__`, `__delattr__`, `__hash__`: CPython Lib/dataclasses.py `_create_fn`).
On the survey's import path (some 70 classes) that was 100M of the 160M instructions our modules
take to import on the 2-core dev box (valgrind cachegrind; benchmarks/startup.py --instructions).

`record` lets dataclasses collect the fields and compile nothing: every class gets the same
shared `__init__` (driven by a per-class field plan), `__eq__`, `__hash__`, `__repr__` and, for a
frozen one, guards that raise FrozenInstanceError. The classes stay dataclasses: `fields`,
`replace`, `asdict` and `is_dataclass` work, and construction, its TypeErrors, `__post_init__`,
equality, hashing, repr and frozenness behave as dataclasses' generated methods do
(tests/test_records.py compares them). `many=True` keeps dataclasses' compiled `__init__` (and
frozen guards) for the few classes made thousands of times a run, where the shared one's loop
would cost more than the compile. `__dataclass_params__` reads init=False, frozen=False for the
others (the methods are not dataclasses' own).
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


_MISSING = dataclasses.MISSING


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The __init__ dataclasses would generate, read from the class's field plan: positional
    arguments in field order, then keywords, then defaults and default factories; the same
    TypeErrors; then __post_init__. Fields go straight into the instance dict (frozen guards
    are for later assignments)."""
    cls = self.__class__
    plan, required, positional = cls.__record_init__
    if len(args) > positional:
        takes = f"{positional + 1}" if required == positional else f"from {required + 1} to {positional + 1}"
        raise TypeError(f"{cls.__qualname__}.__init__() takes {takes} positional arguments "
                        f"but {len(args) + 1} were given")
    values = self.__dict__
    i = 0
    for name, init, default, factory in plan:
        if init and i < len(args):
            if name in kwargs:
                raise TypeError(f"{cls.__qualname__}.__init__() got multiple values for argument '{name}'")
            values[name] = args[i]
            i += 1
        elif init and name in kwargs:
            values[name] = kwargs.pop(name)
        elif default is not _MISSING:
            values[name] = default
        elif factory is not _MISSING:
            values[name] = factory()
        elif init:
            raise TypeError(f"{cls.__qualname__}.__init__() missing 1 required positional argument: '{name}'")
    if kwargs:
        raise TypeError(f"{cls.__qualname__}.__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")
    post = getattr(self, "__post_init__", None)
    if post is not None:
        post()


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    # _init writes the instance dict itself: every assignment raises, as a frozen dataclass's
    # generated guard does (shared by every frozen record: nothing compiled)
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


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
    with these keywords (the module doc says what differs: only the cost). `many`: a class made
    hundreds of times a run (Settings, Finding, Estimate...): dataclasses' compiled `__init__`
    (and, frozen, its guards), faster per instance than the shared one's loop; past ~50 instances
    a run that pays for its compile at import."""
    def wrap(c: Type[T]) -> Type[T]:
        if not c.__doc__:  # else dataclasses writes one from inspect.signature (tokenize: ~5 ms once)
            c.__doc__ = f"{c.__qualname__}({', '.join(c.__dict__.get('__annotations__', {}))})"
        if many:  # dataclasses' compiled __init__ (and, frozen, its guards)
            return _finish(dataclasses.dataclass(c, frozen=frozen, eq=False, repr=False), frozen, eq, repr,
                           guards=False)
        own_init = "__init__" in c.__dict__
        cls = _finish(dataclasses.dataclass(c, init=False, eq=False, repr=False), frozen, eq, repr)
        if not own_init:
            fields = dataclasses.fields(cls)
            init = [f for f in fields if f.init]
            cls.__record_init__ = (tuple((f.name, f.init, f.default, f.default_factory)  # type: ignore[attr-defined]
                                         for f in fields),
                                   sum(1 for f in init if f.default is _MISSING and f.default_factory is _MISSING),
                                   len(init))
            cls.__init__ = _init  # type: ignore[misc]
        return cls

    return wrap if cls is None else wrap(cls)
