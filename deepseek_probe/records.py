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
import sys
from operator import attrgetter
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar

T = TypeVar("T")
_MISSING = dataclasses.MISSING
_NEED = object()  # a template slot __init__ must fill: a required argument or a default factory
_QUALIFIED = sys.version_info >= (3, 10)  # the interpreter's TypeErrors name C.__init__ (3.9: __init__)
_TYPE_ATTRS = frozenset(type.__dict__)  # the metaclass's: getattr(cls, name) finds these too


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


def _init(self: Any, /, *args: Any, **kwargs: Any) -> None:
    """dataclasses' __init__ from the class's `_plan`: the template (the fields it sets, in order,
    with their defaults) into the instance dict (frozen guards are for later assignments), the
    arguments over it, checked after (cheaper: a stray keyword adds a key); then the factories."""
    names, template, factories, post, required, needs, hidden, _ = plan = self.__class__.__record_init__
    values = self.__dict__
    values.update(template)
    n = len(args)
    if n > len(names):
        _bind(plan, args, kwargs)
    i = 0
    for value in args:  # cheaper than update(zip(...)) for the few positional arguments calls give
        values[names[i]] = value
        i += 1
    if kwargs:
        values.update(kwargs)
        if (len(values) != len(template) or (n and not kwargs.keys().isdisjoint(names[:n]))
                or (hidden and not kwargs.keys().isdisjoint(hidden))):
            _bind(plan, args, kwargs)
    if n < required:
        need = needs.get(n)
        if need is None or not kwargs.keys() >= need:
            _bind(plan, args, kwargs)
    for name, factory in factories:
        if values[name] is _NEED:
            values[name] = factory()
    if post:
        self.__post_init__()


def _bind(plan: Tuple[Any, ...], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
    """The interpreter's TypeError for this call, in its order (Python/ceval.c initialize_locals);
    none for a good call, whose required keywords for this many positional ones are then kept."""
    names, _, _, _, required, needs, _, qualname = plan
    n = len(args)
    for k in kwargs:
        if k not in names:
            raise TypeError(f"{qualname}() got an unexpected keyword argument '{k}'")
        if k in names[:n]:
            raise TypeError(f"{qualname}() got multiple values for argument '{k}'")
    if n > len(names):
        takes = (f"from {required + 1} to {len(names) + 1} positional arguments" if required < len(names)
                 else f"{len(names) + 1} positional argument{'s' if names else ''}")
        raise TypeError(f"{qualname}() takes {takes} but {n + 1} were given")
    missing = [repr(name) for name in names[n:required] if name not in kwargs]
    if missing:  # format_missing: 'a' / 'a' and 'b' / 'a', 'b', and 'c'
        listed = " and ".join(missing) if len(missing) < 3 else ", ".join(missing[:-1]) + ", and " + missing[-1]
        s = "s" if len(missing) > 1 else ""
        raise TypeError(f"{qualname}() missing {len(missing)} required positional argument{s}: {listed}")
    needs[n] = frozenset(names[n:required])


def _has(cls: type, name: str) -> bool:
    """hasattr(cls, name) without raising and clearing an AttributeError (formatted: costly)."""
    if type(cls) is not type or name in _TYPE_ATTRS:
        return hasattr(cls, name)
    return any(name in b.__dict__ for b in cls.__mro__)


def _plan(cls: type, fields: List[Any]) -> Optional[Tuple[Any, ...]]:
    """`__record_init__` for these (real) fields; None where dataclasses' _init_fn raises (a field
    without a default after one with)."""
    names = tuple(f.name for f in fields if f.init)
    template, factories, required, seen_default = {}, [], 0, False
    for f in fields:
        if f.init:
            if f.default is not _MISSING or f.default_factory is not _MISSING:
                seen_default = True
            elif seen_default:
                return None
            else:
                required += 1
        if f.default_factory is not _MISSING:
            template[f.name] = _NEED
            factories.append((f.name, f.default_factory))
        elif f.init:  # _field_init: init=False with a default is left to the class attribute
            template[f.name] = f.default if f.default is not _MISSING else _NEED
    qualname = f"{cls.__qualname__}.__init__" if _QUALIFIED else "__init__"
    return (names, template, tuple(factories), _has(cls, "__post_init__"),  # read once, as _process_class does
            required, {}, frozenset(template.keys() - set(names)), qualname)


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
        plan = _plan(cls, list(dataclasses.fields(cls)))
        if plan is None:  # dataclasses' own __init__ raises "non-default argument ... follows default argument"
            dataclasses.dataclass(c)
        if not own_init:
            cls.__record_init__ = plan  # type: ignore[attr-defined]
            cls.__init__ = _init  # type: ignore[misc]
        return cls

    return wrap if cls is None else wrap(cls)
