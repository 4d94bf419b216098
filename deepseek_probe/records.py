"""`record`: the project's dataclass decorator, the same classes without dataclasses' class-time work.

Why: `check` is run in provisioning loops, and `dataclasses.dataclass` compiles each class's
methods at import (`exec` of `__init__`, `__repr__`, `__eq__`, frozen guards, `__hash__`: CPython
Lib/dataclasses.py `_create_fn`) after a regex match and module look-ups per annotation
(`_is_type`), for some 100 classes on the survey's import path (CHANGELOG.md has the figures).

`record` compiles nothing: every class gets the same shared `__init__` (driven by a per-class
plan), `__eq__`, `__hash__`, `__repr__` and, frozen, guards that raise FrozenInstanceError. Nor
does it call `dataclasses.dataclass`: `_collect` reads the fields as `_process_class` /
`_get_field` do (string annotations, defaults, `field(...)`, base records' fields, ClassVar
pseudo-fields) and writes the `__dataclass_fields__` and `__dataclass_params__` that
`dataclass(frozen=..., eq=..., repr=...)` would, so `fields`, `replace`, `asdict` and
`is_dataclass` work (`records.replace` is dataclasses.replace without its per-call walk of the
fields: the survey replaces some 1 000 records a run), and construction, its TypeErrors,
`__post_init__`, equality, hashing, repr and frozenness behave as dataclasses' methods do
(tests/test_records.py compares them, and every record's fields with those dataclasses makes of
its body). A class it does not cover (InitVar,
KW_ONLY, kw_only fields, evaluated annotations) or that dataclasses rejects goes to dataclasses
(compiled `__init__`, its own errors). A Python without the internals used here takes the earlier
path: dataclasses collects the fields (init=False); `many=True` classes keep its `__init__`.
"""

from __future__ import annotations

import abc
import sys
import types
import typing
from itertools import repeat
from operator import attrgetter
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar


def _import_dataclasses() -> types.ModuleType:
    """dataclasses, without importing inspect where neither is loaded yet (a fresh `check`).

    dataclasses imports inspect at its top for one call made when it processes a class
    (`inspect.signature` for a class without a doc; 3.12+ also `inspect.get_annotations`), and
    inspect imports ast, dis and tokenize: ~36M instructions of a ~430M survey (valgrind), for
    a call `record` never makes. So dataclasses gets a module named inspect whose attributes are
    read from the real one, imported on first use (PEP 562 module __getattr__); it is in
    sys.modules only while dataclasses is imported, so every other import finds the real one.
    """
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        import dataclasses

        return dataclasses

    def real(name: str) -> Any:
        import inspect  # the stub is out of sys.modules by then: the real module

        return getattr(inspect, name)

    stub = types.ModuleType("inspect", "inspect, imported on first use (records._import_dataclasses)")
    stub.__getattr__ = real  # type: ignore[attr-defined]
    sys.modules["inspect"] = stub
    try:
        import dataclasses
    finally:
        if sys.modules.get("inspect") is stub:
            del sys.modules["inspect"]
    return dataclasses


dataclasses = _import_dataclasses()
# The package takes dataclasses' functions from here, so that dataclasses is first imported above
# (tests/test_architecture.py: no other module imports it).
field, fields, asdict, is_dataclass = (dataclasses.field, dataclasses.fields, dataclasses.asdict,
                                       dataclasses.is_dataclass)
Field, MISSING = dataclasses.Field, dataclasses.MISSING
T = TypeVar("T")
_NEED = object()  # a template slot __init__ must fill: a required argument or a default factory
_KW = "kw_only" in Field.__slots__  # 3.10+
_KW_ONLY = getattr(dataclasses, "KW_ONLY", _NEED)  # 3.10+
_MATCH_ARGS = _QUALIFIED = sys.version_info >= (3, 10)  # and the interpreter's TypeErrors name C.__init__
_ABSTRACT = getattr(abc, "update_abstractmethods", None)  # 3.10+: _process_class ends with it
try:  # the internals _process_class and _get_field use (CPython Lib/dataclasses.py, 3.9-3.13)
    _FIELD, _CLASSVAR = dataclasses._FIELD, dataclasses._FIELD_CLASSVAR  # type: ignore[attr-defined]
    _IDENT = dataclasses._MODULE_IDENTIFIER_RE  # type: ignore[attr-defined]  # _is_type's regex
    _Params = dataclasses._DataclassParams  # type: ignore[attr-defined]
    _ALIAS = typing._GenericAlias  # type: ignore[attr-defined]  # _is_classvar: ClassVar[...]
    _code = Field.__init__.__code__
    _FAST = ("_field_type" in Field.__slots__ and set(_Params.__slots__) <= {
        "init", "repr", "eq", "order", "unsafe_hash", "frozen", "match_args", "kw_only", "slots", "weakref_slot"}
        and _code.co_varnames[:_code.co_argcount] == ("self", "default", "default_factory", "init", "repr", "hash",
                                                      "compare", "metadata") + ("kw_only",) * _KW)
except AttributeError:
    _FAST = False
_PLAIN = (MISSING, True, True, None, True, None) + (False,) * _KW  # Field(d, *_PLAIN): field(default=d)
_SPECIAL = {id(typing.ClassVar), id(dataclasses.InitVar), id(_KW_ONLY)}  # by id: some define __eq__
_SPECIAL_TYPES = {getattr(typing, "_GenericAlias", None), dataclasses.InitVar}  # ClassVar[x], InitVar[x]
_TYPE_ATTRS = frozenset(type.__dict__)  # the metaclass's: getattr(cls, name) finds these too
_HEADS: Dict[str, Tuple[Optional[str], Optional[str]]] = {}  # annotation -> _IDENT's groups
_REPLACED: Dict[type, Optional[Tuple[str, ...]]] = {}  # class -> the fields replace() copies (None: dataclasses')
_PARAMS: Dict[Tuple[bool, bool, bool], Any] = {}


def _key(names: Tuple[str, ...]) -> Callable[[Any], Tuple[Any, ...]]:
    """The tuple of these attributes (attrgetter of one name gives the bare value, of none fails)."""
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
            if f.default is not MISSING or f.default_factory is not MISSING:
                seen_default = True
            elif seen_default:
                return None
            else:
                required += 1
        if f.default_factory is not MISSING:
            template[f.name] = _NEED
            factories.append((f.name, f.default_factory))
        elif f.init:  # _field_init: init=False with a default is left to the class attribute
            template[f.name] = f.default if f.default is not MISSING else _NEED
    qualname = f"{cls.__qualname__}.__init__" if _QUALIFIED else "__init__"
    return (names, template, tuple(factories), _has(cls, "__post_init__"),  # read once, as _process_class does
            required, {}, frozenset(template.keys() - set(names)), qualname)


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    # _init writes the instance dict itself: every assignment raises, as a frozen dataclass's
    # generated guard does (shared by every frozen record: nothing compiled)
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _finish(cls: Type[T], fields: Any, frozen: bool, eq: bool, repr_: bool, guards: bool = True) -> Type[T]:
    """The shared methods, keyed by the fields' compare / repr / hash flags. `guards`: install
    the shared frozen guards (False: dataclasses compiled its own)."""
    compare, hashed, shown = [], [], []
    for f in fields:
        if f.compare:
            compare.append(f.name)
        if f.compare if f.hash is None else f.hash:  # _hash_add's rule
            hashed.append(f.name)
        if f.repr:
            shown.append(f.name)
    cls.__record_compare__ = _key(tuple(compare))  # type: ignore[attr-defined]
    cls.__record_hash__ = _key(tuple(hashed))  # type: ignore[attr-defined]
    cls.__record_repr__ = tuple(shown)  # type: ignore[attr-defined]
    if frozen and guards:
        cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
        cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
    own = cls.__dict__
    if repr_ and "__repr__" not in own:
        cls.__repr__ = _repr  # type: ignore[assignment]
    if eq:
        # _process_class's hash rule (_hash_action) for eq=True, read before __eq__ is added: a
        # __hash__ of the class's own stays; else frozen -> hash of the fields, not -> unhashable
        class_hash = own.get("__hash__", MISSING)
        explicit = not (class_hash is MISSING or (class_hash is None and "__eq__" in own))
        if "__eq__" not in own:
            cls.__eq__ = _eq  # type: ignore[assignment]
        if not explicit:
            cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    if _FAST:  # what dataclass(frozen=..., eq=..., repr=...) writes: one per combination, never written to
        params = _PARAMS.get((frozen, eq, repr_))
        if params is None:
            given = dict(init=True, repr=repr_, eq=eq, order=False, unsafe_hash=False, frozen=frozen,
                         match_args=True, kw_only=False, slots=False, weakref_slot=False)
            params = _PARAMS[frozen, eq, repr_] = _Params(**{k: given[k] for k in _Params.__slots__})
        cls.__dataclass_params__ = params  # type: ignore[attr-defined]
    return cls


def _collect(cls: type, frozen: bool, eq: bool, repr_: bool) -> bool:
    """dataclasses' _process_class and _get_field for the classes they cover; False, with the
    class untouched, for another or one dataclasses would reject (it then goes to dataclasses)."""
    own, mro = cls.__dict__, cls.__mro__
    annotations, module = own.get("__annotations__", {}), sys.modules.get(cls.__module__)
    if type(annotations) is not dict or module is None:
        return False
    fields: Dict[str, Any] = {}
    frozen_bases = []  # base dataclasses in reverse MRO; object, last, can hold no attribute
    for b in mro[-2:0:-1]:
        base = getattr(b, "__dataclass_fields__", None)
        if base is not None:
            fields.update(base)
            frozen_bases.append(getattr(b, "__dataclass_params__").frozen)
    if frozen_bases and any(frozen_bases) != frozen:  # "cannot inherit (non-)frozen dataclass from a ..."
        return False
    # _get_field's default is getattr(cls, name, MISSING): only names some class in the MRO or
    # the metaclass holds are looked up (a failing getattr raises and clears an AttributeError)
    held: Any = annotations  # another metaclass: getattr decides for every name
    if type(cls) is type:
        held = annotations.keys() & _TYPE_ATTRS
        for b in mro:
            held |= annotations.keys() & b.__dict__.keys()
    ns, own_fields, fixups = module.__dict__, 0, []
    for name, kind in annotations.items():
        if type(kind) is not str:
            return False
        # _is_type: the annotation's leading name (the regex's groups, kept per string), looked
        # up in the class's module; a dotted typing.X / dataclasses.X is left to dataclasses
        head = _HEADS.get(kind)
        if head is None:
            match = _IDENT.match(kind)
            head = _HEADS[kind] = match.groups() if match else (None, None)
        field_type = _FIELD
        if head[0] is not None:
            if ns.get(head[0]) is typing or ns.get(head[0]) is dataclasses:
                return False
        elif head[1] is not None:
            obj = ns.get(head[1])
            if id(obj) in _SPECIAL or type(obj) in _SPECIAL_TYPES:
                if obj is typing.ClassVar or (type(obj) is _ALIAS and obj.__origin__ is typing.ClassVar):
                    field_type = _CLASSVAR  # _is_classvar
                elif obj is dataclasses.InitVar or type(obj) is dataclasses.InitVar or obj is _KW_ONLY:
                    return False  # _is_initvar, _is_kw_only
        default = getattr(cls, name, MISSING) if name in held else MISSING
        if isinstance(default, Field):
            f = default
            own_fields += own.get(name) is f
            fixups.append(f)
            if field_type is _CLASSVAR and (f.default_factory is not MISSING or (_KW and f.kw_only is not MISSING)):
                return False  # dataclasses raises
            if field_type is _FIELD and _KW and f.kw_only is not MISSING and f.kw_only is not False:
                return False  # keyword-only
        else:
            f = Field(MISSING if isinstance(default, types.MemberDescriptorType) else default, *_PLAIN)
        if field_type is _FIELD and (isinstance(f.default, (list, dict, set)) or f.default.__class__.__hash__ is None):
            return False  # a mutable default: dataclasses decides, by its version's rule
        f.name, f.type, f._field_type = name, kind, field_type  # what _get_field sets, and kw_only:
        if _KW:
            f.kw_only = False if field_type is _FIELD else MISSING  # none for a ClassVar
        fields[name] = f
    if sum(map(isinstance, own.values(), repeat(Field))) != own_fields:
        return False  # "... is a field but has no type annotation"
    real = [f for f in fields.values() if f._field_type is _FIELD]
    plan = _plan(cls, real)
    if plan is None:
        return False
    for f in fixups:  # a field(...) class attribute -> its default, or none
        if f.default is MISSING:
            delattr(cls, f.name)
        else:
            setattr(cls, f.name, f.default)
    cls.__dataclass_fields__ = fields  # type: ignore[attr-defined]
    if "__init__" not in own:
        cls.__record_init__ = plan  # type: ignore[attr-defined]
        cls.__init__ = _init  # type: ignore[misc]
    if _MATCH_ARGS and "__match_args__" not in own:
        cls.__match_args__ = plan[0]  # type: ignore[attr-defined]
    _finish(cls, real, frozen, eq, repr_)
    if _ABSTRACT is not None and "__abstractmethods__" in own:  # (3.10+) it returns at once otherwise
        _ABSTRACT(cls)
    return True


def record(cls: Optional[Type[T]] = None, *, frozen: bool = False, eq: bool = True,
           repr: bool = True, many: bool = False) -> Any:  # noqa: A002 - dataclass's own keyword
    """`@record`, `@record(frozen=True)`, `@record(eq=False, repr=False)`: as `@dataclass(...)`
    with these keywords (the module doc says what differs: only the cost). `many`: a class made
    hundreds of times a run (Settings, Finding...); read only without the dataclasses internals,
    where it keeps dataclasses' compiled __init__. Otherwise its compile (~1M instructions a
    class) costs more than the shared __init__'s few K more per instance save (CHANGELOG.md)."""
    def wrap(c: Type[T]) -> Type[T]:
        if not c.__doc__:  # else dataclasses writes one from inspect.signature (tokenize: ~5 ms once)
            c.__doc__ = f"{c.__qualname__}({', '.join(c.__dict__.get('__annotations__', {}))})"
        if _FAST and _collect(c, frozen, eq, repr):
            return c
        if many or _FAST:  # dataclasses' compiled __init__ (and, frozen, its guards)
            cls = dataclasses.dataclass(c, frozen=frozen, eq=False, repr=False)
            return _finish(cls, dataclasses.fields(cls), frozen, eq, repr, guards=False)
        own_init = "__init__" in c.__dict__
        cls = dataclasses.dataclass(c, init=False, eq=False, repr=False)
        plan = _plan(cls, list(dataclasses.fields(cls)))
        if plan is None:  # dataclasses' own __init__ raises "non-default argument ... follows default argument"
            dataclasses.dataclass(c)
        if not own_init:
            cls.__record_init__ = plan  # type: ignore[attr-defined]
            cls.__init__ = _init  # type: ignore[misc]
        return _finish(cls, dataclasses.fields(cls), frozen, eq, repr)

    return wrap if cls is None else wrap(cls)


def replace(obj: T, /, **changes: Any) -> T:
    """dataclasses.replace(obj, **changes): the fields not changed are read from `obj` and the
    class is called with them all. The names to copy are found once per class; a class with an
    InitVar or an init=False field (whose rules dataclasses.replace applies), or no dataclass at
    all, goes to dataclasses.replace itself."""
    cls = obj.__class__
    names = _REPLACED.get(cls, _NEED)
    if names is _NEED:
        names = _REPLACED[cls] = _copied(cls)
    if names is None:
        return dataclasses.replace(obj, **changes)
    for name in names:  # dataclasses.replace: in field order, after the changes given
        if name not in changes:
            changes[name] = getattr(obj, name)
    return cls(**changes)


def _copied(cls: type) -> Optional[Tuple[str, ...]]:
    """The init fields dataclasses.replace copies for `cls` (ClassVars skipped), or None where it
    does more (InitVar, init=False) or refuses (not a dataclass)."""
    own = cls.__dict__.get("__dataclass_fields__") if _FAST else None
    if own is None:
        return None
    names = []
    for f in own.values():
        if f._field_type is _CLASSVAR:
            continue
        if f._field_type is not _FIELD or not f.init:
            return None
        names.append(f.name)
    return tuple(names)
