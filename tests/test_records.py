"""records.record against dataclasses.dataclass: the same classes (fields, replace, asdict,
FrozenInstanceError, equality, hashing, repr, construction and its TypeErrors), only cheaper to
define. Every record of the package is checked against what dataclasses makes of its body."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import InitVar, field
from typing import ClassVar, Dict, List, Optional, Tuple

import pytest

from deepseek_probe import records
from deepseek_probe.records import record

CV = ClassVar[int]  # dataclasses' _is_type resolves a module-level alias too


def _pair(frozen: bool, many: bool = False):
    """The same class body under both decorators."""
    def body():
        class C:
            a: int
            b: str = "x"
            c: Tuple[int, ...] = ()
            d: List[int] = field(default_factory=list, compare=False)
            e: Optional[float] = field(default=None, repr=False)
            f: int = field(default=0, hash=False)
        return C
    return dataclasses.dataclass(frozen=frozen)(body()), record(frozen=frozen, many=many)(body())


def _same_fields(D, R):
    """Fields, pseudo-fields (ClassVar), what they leave as class attributes, params and
    __match_args__ as dataclasses writes them."""
    def facts(cls):
        out = []
        for name, f in cls.__dataclass_fields__.items():
            out.append((name, f.name, f.type, f._field_type, f.default, f.default_factory, f.init, f.repr,
                        f.compare, f.hash, getattr(f, "kw_only", None), dict(f.metadata),
                        cls.__dict__.get(name, "<no class attribute>")))
        params = cls.__dataclass_params__
        return out, [getattr(params, k) for k in type(params).__slots__], getattr(cls, "__match_args__", None)
    assert facts(D) == facts(R)
    assert [f.name for f in dataclasses.fields(D)] == [f.name for f in dataclasses.fields(R)]


def _same_error(call, D, R):
    """The same exception, word for word (the qualnames are the same: both C.__init__)."""
    with pytest.raises(Exception) as want:
        call(D)
    with pytest.raises(Exception) as got:
        call(R)
    assert (type(want.value), str(want.value)) == (type(got.value), str(got.value))


def _without_internals(monkeypatch):
    monkeypatch.setattr(records, "_FAST", False)  # a Python without the dataclasses internals used


@pytest.mark.parametrize("frozen,many,internals", [(True, False, True), (True, True, True), (False, False, True),
                                                   (False, True, True), (True, False, False),
                                                   (False, True, False)])
def test_record_behaves_as_dataclass(frozen, many, internals, monkeypatch):
    if not internals:
        _without_internals(monkeypatch)
    D, R = _pair(frozen, many)
    for cls in (D, R):
        assert dataclasses.is_dataclass(cls)
    if internals:
        _same_fields(D, R)
    assert [f.name for f in dataclasses.fields(D)] == [f.name for f in dataclasses.fields(R)]
    args = [(1,), (1, "y"), (1, "x", (2,)), (2, "x", (), [5], 1.5, 3)]
    for a in args:
        for b in args:
            assert (D(*a) == D(*b)) == (R(*a) == R(*b)), (a, b)
        assert repr(D(*a)).split("(", 1)[1] == repr(R(*a)).split("(", 1)[1]
        assert dataclasses.asdict(D(*a)) == dataclasses.asdict(R(*a))
        assert dataclasses.astuple(D(*a)) == dataclasses.astuple(R(*a))
        assert vars(D(*a)) == vars(R(*a)) and list(vars(D(*a))) == list(vars(R(*a)))  # field order too
        assert dataclasses.replace(R(*a), b="z") == R(*((a + ("x",))[:1] + ("z",) + a[2:]))
    assert R(1, d=[1]) == R(1, d=[2])  # compare=False is left out of ==
    assert R(1) != D(1) and R(1).__eq__(D(1)) is NotImplemented  # another class: never equal
    assert R(1).d is not R(1).d  # a fresh default per instance
    if frozen:
        assert hash(D(1, "y", (3,), [], 2.0, 7)) == hash(R(1, "y", (3,), [], 2.0, 7))
        assert hash(R(1, f=1)) == hash(R(1, f=2))  # hash=False: left out of the hash only
        assert R(1, f=1) != R(1, f=2)
        for cls in (D, R):
            with pytest.raises(dataclasses.FrozenInstanceError):
                cls(1).a = 2  # type: ignore[misc]
            with pytest.raises(dataclasses.FrozenInstanceError):
                cls(1).other = 2  # type: ignore[attr-defined]
            with pytest.raises(dataclasses.FrozenInstanceError):
                del cls(1).a
    else:
        assert R.__hash__ is None and D.__hash__ is None  # eq without frozen: unhashable
        r = R(1)
        r.a = 2
        assert r.a == 2


def test_subclasses_compare_their_own_fields():
    @record(frozen=True)
    class Base:
        a: int

    @record(frozen=True)
    class Sub(Base):
        b: int = 0

    assert Sub(1, 2) != Sub(1, 3) and Sub(1, 2) == Sub(1, 2)
    assert Base(1) != Sub(1, 0)
    assert repr(Sub(1, 2)).endswith("Sub(a=1, b=2)")


def test_subclasses_inherit_fields_as_dataclasses_do():
    def bodies(deco):
        @deco
        class Base:
            a: int
            b: List[int] = field(default_factory=list)
            c: str = "base"

            def __post_init__(self):
                self.b.append(self.a)

        @deco
        class Sub(Base):
            c: str = "sub"  # overridden: keeps its place, takes the new default
            d: Dict[str, int] = field(default_factory=dict, repr=False)
            e: int = field(default=7, init=False)

        class Plain(Sub):  # not a record: Sub's __init__, its TypeErrors named Sub.__init__
            pass
        return Base, Sub, Plain
    want, got = bodies(dataclasses.dataclass), bodies(record)
    for D, R in zip(want, got):
        _same_fields(D, R)
        for args, kwargs in (((1,), {}), ((1, [2], "z"), {"d": {"k": 1}} if D is not want[0] else {}), ((), {"a": 3})):
            d, r = D(*args, **kwargs), R(*args, **kwargs)
            assert vars(d) == vars(r) and list(vars(d)) == list(vars(r))  # __post_init__ ran once
        for call in (lambda k: k(), lambda k: k(1, [], "s", {}, 5), lambda k: k(1, e=2), lambda k: k(1, a=1)):
            _same_error(call, D, R)
    assert repr(got[1](1)).endswith("Sub(a=1, b=[1], c='sub', e=7)")


def test_frozen_and_mutable_records_do_not_mix_as_dataclasses_do():
    for base_frozen in (True, False):
        def make(deco, sub_deco):
            Base = deco(frozen=base_frozen)(type("Base", (), {"__annotations__": {"a": "int"}}))
            return sub_deco(frozen=not base_frozen)(type("Sub", (Base,), {"__annotations__": {"b": "int"}}))
        _same_error(lambda deco: make(deco, deco), dataclasses.dataclass, record)


def test_a_class_keeps_its_own_methods():
    @record(frozen=True)
    class Own:
        a: int

        def __hash__(self) -> int:
            return 42

        def __repr__(self) -> str:
            return "own"

    assert hash(Own(1)) == 42 and repr(Own(1)) == "own" and Own(1) == Own(1)

    @record
    class OwnInit:
        a: int

        def __init__(self, value: int) -> None:
            self.a = value * 2

    assert OwnInit(2).a == 4 and OwnInit(2) == OwnInit(2)


def test_eq_false_keeps_identity():
    @record(eq=False, repr=False)
    class Plain:
        a: Dict[str, int] = field(default_factory=dict)

    p = Plain()
    assert p != Plain() and p == p and hash(p) == hash(p)


@pytest.mark.parametrize("internals", [True, False])
def test_the_shared_init_raises_and_builds_as_dataclasses_init(internals, monkeypatch):
    if not internals:
        _without_internals(monkeypatch)

    def body():
        class C:
            a: int
            b: List[int] = field(default_factory=list)
            c: str = "x"
            d: int = field(default=5, init=False)
            g: int = field(default_factory=lambda: 9, init=False)

            def __post_init__(self):
                self.b.append(len(self.b))
        return C

    def three():
        class Three:
            a: int
            b: int
            c: int
            h: int = field(init=False)
        return Three

    def empty():
        class Empty:
            pass
        return Empty

    for make in (body, three, empty):
        D, R = dataclasses.dataclass(make()), record(make())
        calls = [lambda k: k(), lambda k: k(1), lambda k: k(1, 2), lambda k: k(1, [], "y", 4), lambda k: k(1, a=2),
                 lambda k: k(1, e=2), lambda k: k(1, 2, 3, 4, e=5), lambda k: k(1, 2, 3, 4, a=5),
                 lambda k: k(1, d=3), lambda k: k(1, g=3), lambda k: k(1, h=3), lambda k: k(c="z"),
                 lambda k: k(b=2, c=3, a=1, e=4), lambda k: k(a=1, b=2), lambda k: k(1, 2, c=3)]
        for call in calls:
            try:
                want = call(D)
            except Exception:  # a TypeError of the call, or __post_init__ failing on it
                _same_error(call, D, R)
            else:
                got = call(R)
                assert vars(want) == vars(got) and list(vars(want)) == list(vars(got))
    D, R = dataclasses.dataclass(body()), record(body())
    for args, kwargs in (((1,), {}), ((1, [7]), {"c": "z"}), ((), {"a": 3, "c": "q"})):
        d, r = D(*args, **kwargs), R(*args, **kwargs)
        assert (d.a, d.b, d.c, d.d, d.g) == (r.a, r.b, r.c, r.d, r.g)  # __post_init__ ran, init=False set
    assert R(1).b is not R(1).b  # a fresh default per instance
    _same_error(lambda k: dataclasses.replace(k(1), d=1), D, R)  # init=False: replace refuses it


def test_a_field_named_self_is_a_keyword_like_any_other():
    def body():
        class C:
            self: int
            other: int = 0
        return C
    D, R = dataclasses.dataclass(body()), record(body())
    assert vars(D(self=1)) == vars(R(self=1)) and vars(D(1, 2)) == vars(R(1, 2))


def test_classvar_pseudo_fields_as_dataclasses_reads_them():
    def body():
        class C:
            a: int
            b: ClassVar[int] = 3
            c: ClassVar[List[int]]  # no default: no class attribute either
            d: CV = 4  # the module-level alias ClassVar[int]
            e: ClassVar[str] = field(default="e")  # field(...) on a ClassVar: its default stays
            f: str = "f"
        return C
    D, R = dataclasses.dataclass(body()), record(body())
    _same_fields(D, R)
    assert [f.name for f in dataclasses.fields(R)] == ["a", "f"] and R.b == 3 and R.e == "e"
    _same_error(lambda k: k(1, b=2), D, R)  # not an __init__ argument
    assert vars(D(1)) == vars(R(1))


def test_what_record_does_not_cover_goes_to_dataclasses():
    """InitVar, KW_ONLY, kw_only fields and evaluated annotations: dataclasses' own class."""
    def initvar():
        class C:
            a: int
            scale: InitVar[int] = 2

            def __post_init__(self, scale):
                self.a *= scale
        return C

    def evaluated():  # annotations that are not strings (a module without the __future__ import)
        return type("C", (), {"__annotations__": {"a": int, "b": ClassVar[int]}, "b": 1, "__module__": __name__})
    makes = [initvar, evaluated]
    if sys.version_info >= (3, 10):
        def kw_only():
            class C:
                a: int
                b: int = field(default=0, kw_only=True)
            return C

        def marker():
            namespace = {"__annotations__": {"a": "int", "_": "dataclasses.KW_ONLY", "b": "int"}, "b": 0,
                         "__module__": __name__}
            return type("C", (), namespace)
        makes += [kw_only, marker]
    for make in makes:
        D, R = dataclasses.dataclass(make()), record(make())
        _same_fields(D, R)
        assert "__record_init__" not in vars(R)  # dataclasses' own __init__
        assert vars(D(3)) == vars(R(3)) and D(3) != R(3) and repr(D(3)) .split("(")[1] == repr(R(3)).split("(")[1]
        _same_error(lambda k: k(1, 2, 3, 4), D, R)


def test_classes_dataclasses_rejects_are_rejected_with_its_errors():
    def mutable():
        class C:
            a: List[int] = []
        return C

    def unannotated():
        class C:
            a: int
            b = field(default=1)
        return C

    def order():
        class C:
            a: int = 0
            b: str
        return C

    def classvar_factory():
        class C:
            a: ClassVar[List[int]] = field(default_factory=list)
        return C
    for make in (mutable, unannotated, order, classvar_factory):
        _same_error(lambda deco: deco(make()), dataclasses.dataclass, record)


def test_every_record_of_the_package_has_the_fields_dataclasses_gives_its_body():
    """Each `record(...)` of the package, as its module is imported, next to `dataclass(...)` of
    a copy of the same class body (its own Field objects: both decorators set theirs): the same
    fields, pseudo-fields, class attributes, params and __match_args__."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(records.__file__)))
    script = r'''
import copy, dataclasses, importlib, json, pkgutil, sys
import deepseek_probe, deepseek_probe.records as records
real, seen, diffs = records.record, [], []
def facts(cls):
    fields = [(name, f.name, f.type, f._field_type, f.default, f.default_factory, f.init, f.repr, f.compare, f.hash,
               getattr(f, "kw_only", None), dict(f.metadata), cls.__dict__.get(name, "<none>"))
              for name, f in cls.__dataclass_fields__.items()]
    params = cls.__dataclass_params__
    return fields, [getattr(params, k) for k in type(params).__slots__], getattr(cls, "__match_args__", None)
def spy(cls=None, **kw):
    def wrap(c):
        body = {k: copy.copy(v) if isinstance(v, dataclasses.Field) else v for k, v in vars(c).items()
                if k not in ("__dict__", "__weakref__")}
        twin = type(c)(c.__name__, c.__bases__, dict(body, __qualname__=c.__qualname__))
        want = dataclasses.dataclass(twin, **{k: v for k, v in kw.items() if k != "many"})
        got = real(**kw)(c)
        seen.append(c.__module__ + "." + c.__qualname__)
        if facts(want) != facts(got):
            diffs.append([seen[-1], repr(facts(want)), repr(facts(got))])
        return got
    return wrap if cls is None else wrap(cls)
records.record = spy
for m in pkgutil.walk_packages(deepseek_probe.__path__, "deepseek_probe."):
    if not m.name.endswith("__main__"):
        importlib.import_module(m.name)
print(json.dumps({"seen": seen, "diffs": diffs}))
'''
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=root,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert len(out["seen"]) >= 90 and "deepseek_probe.profiles.ModelSpec" in out["seen"]  # ModelSpec: ClassVars
    assert out["diffs"] == []


@pytest.mark.parametrize("frozen,many", [(True, False), (False, False), (True, True), (False, True)])
def test_replace_gives_what_dataclasses_replace_gives(frozen, many):
    D, R = _pair(frozen, many)
    for changes in ({}, {"a": 2}, {"b": "z", "d": [1]}, {"f": 3, "a": 0}):
        want, got = dataclasses.replace(D(1, "y", (3,)), **changes), records.replace(R(1, "y", (3,)), **changes)
        assert vars(want) == vars(got) and type(got) is R
    _same_error(lambda k: records.replace(k(1), zz=1) if k is R else dataclasses.replace(k(1), zz=1), D, R)
    _same_error(lambda k: records.replace(k(1), zz=1, a=2) if k is R else dataclasses.replace(k(1), zz=1, a=2),
                D, R)


def test_replace_leaves_initvar_init_false_and_non_dataclasses_to_dataclasses():
    @record
    class Hidden:
        a: int
        b: int = field(default=5, init=False)

    @record
    class WithInitVar:
        a: int
        scale: InitVar[int] = 1

        def __post_init__(self, scale):
            self.a *= scale

    assert records.replace(Hidden(1), a=2).a == 2
    with pytest.raises(ValueError, match="init=False"):
        records.replace(Hidden(1), b=2)
    with pytest.raises(ValueError, match="InitVar"):  # an InitVar without a default must be given...
        @record
        class Needs:
            a: int
            scale: InitVar[int]

            def __post_init__(self, scale):
                pass
        records.replace(Needs(1, 2))
    assert records.replace(WithInitVar(2, 3)).a == 6  # ...one with a default is called with it
    with pytest.raises(TypeError, match="dataclass"):
        records.replace(object())


def test_every_replace_of_a_survey_and_a_check_equals_dataclasses_replace(monkeypatch):
    """Each module's `replace` (records.replace), wrapped to compare its result with
    dataclasses.replace's for every call the survey and a check make on real records."""
    from deepseek_probe import assess, question, survey
    from deepseek_probe.snapshot import Snapshot

    calls, ours = [], records.replace

    def checked(obj, /, **changes):
        got, want = ours(obj, **dict(changes)), dataclasses.replace(obj, **dict(changes))
        assert type(got) is type(want) and vars(got) == vars(want), type(obj)
        calls.append(type(obj))
        return got

    for name, module in list(sys.modules.items()):
        if name.startswith("deepseek_probe.") and name != "deepseek_probe.records" and \
                getattr(module, "replace", None) is ours:
            monkeypatch.setattr(module, "replace", checked)
    fixtures = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "snapshots")
    for name in ("h100.json", "derived-rtx4090.json", "nogpu-dev.json"):
        snap = Snapshot.load(os.path.join(fixtures, name))
        survey.survey(snap)
        assess.check(snap, question.build(["deepseek-r1:7b"], (), question.Flags(), None, {}))
    assert len(calls) > 100 and len(set(calls)) >= 4


def test_dataclasses_comes_without_inspect_and_reads_it_on_first_use():
    """records imports dataclasses with a stand-in for inspect (its one use is processing a
    class without a doc): a fresh interpreter has no inspect after importing the package, the
    real one for every later import, and dataclasses' own docs and errors as ever."""
    code = (
        "import sys\nimport deepseek_probe.records, deepseek_probe.snapshot, deepseek_probe.survey\n"
        "print('inspect' in sys.modules, 'ast' in sys.modules)\n"
        "import dataclasses\n@dataclasses.dataclass\nclass C:\n    a: int\n    b: 'list' = None\n"
        "print(C.__doc__)\nimport inspect\nprint(inspect.__file__ is not None, hasattr(inspect, 'signature'),"
        " dataclasses.inspect.signature is inspect.signature)\n")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.splitlines()
    plain = subprocess.run([sys.executable, "-c", "import inspect, sys\n" + code.split("\n", 2)[2]],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "False False"
    assert lines[1] == plain[1] == "C(a: int, b: 'list' = None)"
    assert lines[2] == plain[2] == "True True True"
