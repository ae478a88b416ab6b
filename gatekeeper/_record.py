"""Frozen records declared by their annotations: a frozen dataclass's shape without its generated code.

A frozen dataclass compiles five or six methods from source when its class is created (about 0.6 ms
a class on the development machine), and a function host creates its classes on every cold start.
The plain configuration (``config_reader``) and the plain packs (``policy.plain``) are records
instead: one shared ``__init__`` (keywords only), ``__eq__``, ``__hash__``, ``__repr__`` and a
``__setattr__`` that refuses, and their fields (:func:`fields`) as the readers and the tests walk them.

A field is an annotation with an optional default, or ``spec(default, factory=..., **metadata)``.
Annotations are read as objects: a module that declares records does not use
``from __future__ import annotations``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple, get_origin

MISSING: Any = object()


class Field(NamedTuple):
    name: str
    type: Any
    default: Any  # MISSING: none
    factory: Callable[[], Any] | None
    metadata: Mapping[str, Any]


class _Spec(NamedTuple):
    default: Any
    factory: Callable[[], Any] | None
    metadata: Mapping[str, Any]


def spec(default: Any = MISSING, *, factory: Callable[[], Any] | None = None, **metadata: Any) -> Any:
    """A field's default (or ``factory``) and metadata, as ``dataclasses.field`` takes them."""
    return _Spec(default, factory, metadata)


class Record:
    """The base of frozen records (see the module docstring)."""

    _record_fields: ClassVar[dict[str, Field]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = dict(cls._record_fields)
        # The class's own annotations (3.10+: always in its __dict__); inspect.get_annotations would
        # import inspect, which a cold start does not otherwise need.
        for name, tp in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if tp is ClassVar or get_origin(tp) is ClassVar:
                continue
            value = cls.__dict__.get(name, MISSING)
            if isinstance(value, _Spec):
                found[name] = Field(name, tp, value.default, value.factory, value.metadata)
                if value.default is MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value.default)
            else:
                found[name] = Field(name, tp, value, None, {})
        cls._record_fields = found

    def __init__(self, **values: Any) -> None:
        fields = self._record_fields
        for name in values:
            if name not in fields:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
        for name, f in fields.items():
            if name in values:
                v = values[name]
            elif f.factory is not None:
                v = f.factory()
            elif f.default is not MISSING:
                v = f.default
            else:
                raise TypeError(f"{type(self).__name__}() missing keyword argument {name!r}")
            object.__setattr__(self, name, v)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(tuple(vars(self).values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def fields(record: Record | type[Record]) -> tuple[Field, ...]:
    return tuple(record._record_fields.values())


def is_record(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Record)


def replaced(record: Any, **changes: Any) -> Any:
    """A copy of ``record`` with ``changes``."""
    return type(record)(**{**vars(record), **changes})


def as_dict(obj: Any) -> Any:
    """A record (and the records, lists, tuples and dicts in it) as plain dicts, lists and tuples."""
    if isinstance(obj, Record):
        return {k: as_dict(v) for k, v in vars(obj).items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_dict(x) for x in obj)
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj
