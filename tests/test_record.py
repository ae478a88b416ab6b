"""gatekeeper._record: frozen records behave as the frozen dataclasses they stand in for."""

from __future__ import annotations

import dataclasses

import pytest

from gatekeeper._record import Record, as_dict, fields, replaced, spec


class Inner(Record):
    n: int = 1


class Outer(Record):
    name: str
    tags: list[str] = spec(factory=list, note="x")
    inner: Inner = spec(factory=Inner)
    rate: float = 0.5


@dataclasses.dataclass(frozen=True)
class DInner:
    n: int = 1


@dataclasses.dataclass(frozen=True)
class DOuter:
    name: str
    tags: list[str] = dataclasses.field(default_factory=list)
    inner: DInner = dataclasses.field(default_factory=DInner)
    rate: float = 0.5


def test_a_record_is_built_compared_and_shown_as_a_frozen_dataclass() -> None:
    r, d = Outer(name="a", tags=["t"]), DOuter(name="a", tags=["t"])
    assert as_dict(r) == dataclasses.asdict(d)
    assert [f.name for f in fields(Outer)] == [f.name for f in dataclasses.fields(DOuter)]
    assert fields(Outer)[1].metadata == {"note": "x"} and Outer.rate == 0.5
    assert r == Outer(name="a", tags=["t"]) and r != Outer(name="b") and r != d
    assert hash(Inner()) == hash(Inner(n=1)) and Inner() != Inner(n=2)
    assert repr(Inner(n=3)) == "Inner(n=3)"
    assert Outer(name="a").tags is not Outer(name="a").tags  # a factory per instance
    assert replaced(r, rate=1.0) == Outer(name="a", tags=["t"], rate=1.0) and r.rate == 0.5


def test_a_record_refuses_changes_unknown_and_missing_fields() -> None:
    r = Outer(name="a")
    with pytest.raises(AttributeError):
        r.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del r.name
    with pytest.raises(TypeError, match="unexpected keyword argument 'nme'"):
        Outer(nme="a")
    with pytest.raises(TypeError, match="missing keyword argument 'name'"):
        Outer()
