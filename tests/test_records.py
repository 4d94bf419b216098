"""records.record against dataclasses.dataclass: the same classes (fields, replace, asdict,
FrozenInstanceError, equality, hashing, repr), only cheaper to define."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Dict, List, Optional, Tuple

import pytest

from deepseek_probe.records import record


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


def _same_error(call, D, R):
    """The same exception, word for word (the qualnames are the same: both C.__init__)."""
    with pytest.raises(Exception) as want:
        call(D)
    with pytest.raises(Exception) as got:
        call(R)
    assert (type(want.value), str(want.value)) == (type(got.value), str(got.value))


@pytest.mark.parametrize("frozen,many", [(True, False), (True, True), (False, False)])
def test_record_behaves_as_dataclass(frozen, many):
    D, R = _pair(frozen, many)
    for cls in (D, R):
        assert dataclasses.is_dataclass(cls)
    assert [f.name for f in dataclasses.fields(D)] == [f.name for f in dataclasses.fields(R)]
    args = [(1,), (1, "y"), (1, "x", (2,)), (2, "x", (), [5], 1.5, 3)]
    for a in args:
        for b in args:
            assert (D(*a) == D(*b)) == (R(*a) == R(*b)), (a, b)
        assert repr(D(*a)).split("(", 1)[1] == repr(R(*a)).split("(", 1)[1]
        assert dataclasses.asdict(D(*a)) == dataclasses.asdict(R(*a))
        assert vars(D(*a)) == vars(R(*a)) and list(vars(D(*a))) == list(vars(R(*a)))  # field order too
        assert dataclasses.replace(R(*a), b="z") == R(*((a + ("x",))[:1] + ("z",) + a[2:]))
    assert R(1, d=[1]) == R(1, d=[2])  # compare=False is left out of ==
    assert R(1) != D(1) and R(1).__eq__(D(1)) is NotImplemented  # another class: never equal
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


def test_a_class_keeps_its_own_methods():
    @record(frozen=True)
    class Own:
        a: int

        def __hash__(self) -> int:
            return 42

        def __repr__(self) -> str:
            return "own"

    assert hash(Own(1)) == 42 and repr(Own(1)) == "own" and Own(1) == Own(1)


def test_eq_false_keeps_identity():
    @record(eq=False, repr=False)
    class Plain:
        a: Dict[str, int] = field(default_factory=dict)

    p = Plain()
    assert p != Plain() and p == p and hash(p) == hash(p)


def test_the_shared_init_raises_and_builds_as_dataclasses_init():
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
