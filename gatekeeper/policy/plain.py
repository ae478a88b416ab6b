"""Validated packs as plain frozen records: the form a function host compiles, read from a bundle.

The pack format is validated by the pydantic models of ``schema`` (the CLI, the tests, and whoever
builds a bundle). A function host compiles packs that were validated when its package was built
(``bundle``), so it needs their data, not the validator: these classes carry the fields that
``compiled`` reads, with the same names, types and defaults as the models, holding tuples where the
models hold lists and read-only mappings where they hold dicts. A pack's ``tests`` are carried too,
so that ``gatekeeper policy validate`` and ``policy test`` show and run a bundled pack's cases as
they do the file's (``load_policies``, which only compiles, leaves them out: ``from_data(cases=False)``).

``from_data`` builds them from a validated pack's JSON (``Pack.model_dump(mode="json")``), checking
that every key is a field and every value has the field's JSON type; ``to_data`` writes that JSON
back, so that a bundle's pack is the model's dump, exactly. tests/policy/test_bundle.py holds the
fields equal to the models' and compiles every shipped pack both ways.
"""

# No ``from __future__ import annotations``: from_data walks the fields' real types.

import types
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal, Union, get_args, get_origin

from gatekeeper._record import Record, fields, is_record, spec

# Records (gatekeeper._record): built by keyword, so required fields may follow defaults as in the
# models; ``compiled`` reads a condition's values with vars(), as it does a model's.


class ItemCondition(Record):
    export_class: tuple[Literal["3A090.a", "3A090.b", "none", "unknown"], ...] | None = None
    chips: tuple[str, ...] | None = None
    named_by_rule: bool | None = None
    confirmed: bool | None = None
    min_tpp: float | None = None
    max_tpp: float | None = None
    min_memory_bandwidth: float | None = None
    max_memory_bandwidth: float | None = None
    memory_bandwidth_published: bool | None = None
    providers: tuple[Literal["aws", "azure", "gcp"], ...] | None = None


class OwnedBy(Record):
    lists: tuple[str, ...]
    min_share: float = 50.0
    any_owner_on: tuple[str, ...] | None = None


class CustomerCondition(Record):
    country_in: tuple[str, ...] | None = None
    country_not_in: tuple[str, ...] | None = None
    headquarters_in: tuple[str, ...] | None = None
    headquarters_not_in: tuple[str, ...] | None = None
    parent_in: tuple[str, ...] | None = None
    parent_not_in: tuple[str, ...] | None = None
    any_country_in: tuple[str, ...] | None = None
    no_country_in: tuple[str, ...] | None = None
    any_country_not_in: tuple[str, ...] | None = None
    kyc_status: tuple[Literal["verified", "pending", "unverified"], ...] | None = None
    foreign: bool | None = None
    known: bool | None = None
    screening_lists: tuple[str, ...] | None = None
    owned_by: OwnedBy | None = None


class RegionCondition(Record):
    country_in: tuple[str, ...] | None = None
    country_not_in: tuple[str, ...] | None = None
    unknown: bool | None = None


class When(Record):
    item: ItemCondition = spec(factory=ItemCondition)
    customer: CustomerCondition | None = None
    region: RegionCondition | None = None


class Rule(Record):
    id: str
    decision: Literal["flag", "pending", "deny"]
    citation: str
    reason: str
    when: When = spec(factory=When)
    effective_from: date | None = None
    effective_until: date | None = None
    applies_to: Literal["accelerated", "all"] = "accelerated"
    review_policy: Literal["case-by-case", "presumption of denial", "presumption of approval"] | None = None


class Suspension(Record):
    effective_from: date
    effective_until: date
    citation: str


# The test cases a pack ships with (schema.TestRequest, TestOwner, TestCustomer, TestCase).
_NO_ATTACHED: Mapping[str, float] = types.MappingProxyType({})


class TestRequest(Record):
    provider: Literal["aws", "azure", "gcp"] = "aws"
    instance_type: str = ""
    count: int = 1
    region: str = ""
    attached: Mapping[str, float] = _NO_ATTACHED  # accelerator type -> count per instance
    account_id: str = "000000000000"
    unresolved: tuple[str, ...] = ()


class TestOwner(Record):
    name: str
    country: str = ""
    share: float
    screening_lists: tuple[str, ...] = ()


class TestCustomer(Record):
    legal_name: str = "Test Customer"
    country: str = ""
    headquarters_country: str = ""
    ultimate_parent_country: str = ""
    kyc_status: Literal["verified", "pending", "unverified"] = "verified"
    screening_lists: tuple[str, ...] = ()
    owners: tuple[TestOwner, ...] = ()


class TestCase(Record):
    name: str
    request: TestRequest
    customer: TestCustomer | None = None
    on: date | None = None
    expect: Literal["allow", "flag", "pending", "deny"]
    expect_rules: tuple[str, ...] | None = None


class Pack(Record):
    id: str
    version: str
    title: str
    citation: str
    effective_from: date
    effective_until: date | None = None
    simulation_only: bool = False
    basis: Literal["regulation", "proposed rule", "company policy", "rescinded"] = "regulation"
    status_note: str = ""
    suspended: tuple[Suspension, ...] = ()
    description: str = ""
    rules: tuple[Rule, ...]
    tests: tuple[TestCase, ...] = ()


class DataError(ValueError):
    """Data that is not a validated pack's JSON (a bundle that was edited or damaged)."""


def _build(tp: Any, v: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:  # X | None
        if v is None:
            return None
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return _build(inner, v, where)
    if tp is str or tp is bool:
        if type(v) is not tp:
            raise DataError(f"{where}: expected {tp.__name__}")
        return v
    if tp is float:
        if type(v) is not float and type(v) is not int:
            raise DataError(f"{where}: expected a number")
        return float(v)
    if tp is int:
        if type(v) is not int:
            raise DataError(f"{where}: expected a whole number")
        return v
    if tp is date:
        if type(v) is not str:
            raise DataError(f"{where}: expected a date")
        try:
            return date.fromisoformat(v)
        except ValueError:
            raise DataError(f"{where}: expected a date") from None
    if origin is Literal:
        if v not in get_args(tp) or type(v) is not str:
            raise DataError(f"{where}: not one of {get_args(tp)}")
        return v
    if origin is tuple:
        if type(v) is not list:
            raise DataError(f"{where}: expected a list")
        item = get_args(tp)[0]
        return tuple(_build(item, x, f"{where}.{n}") for n, x in enumerate(v))
    if origin is Mapping:  # str -> value, read-only
        if type(v) is not dict:
            raise DataError(f"{where}: expected a mapping")
        _, value = get_args(tp)
        return types.MappingProxyType({_key(k, where): _build(value, x, f"{where}.{k}") for k, x in v.items()})
    if is_record(tp):
        if type(v) is not dict:
            raise DataError(f"{where}: expected a mapping")
        return _object(tp, v, where)
    raise DataError(f"{where}: no reader for {tp!r}")  # pragma: no cover - a field type added above


def _key(k: Any, where: str) -> str:
    if type(k) is not str:  # pragma: no cover - JSON object keys are strings
        raise DataError(f"{where}: expected text keys")
    return k


def _object(cls: Any, data: dict[str, Any], where: str) -> Any:
    fields = _FIELDS[cls]
    # Exactly the model's dump: every field present (defaults included), nothing else.
    unknown = data.keys() - fields.keys()
    if unknown:
        raise DataError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    missing = fields.keys() - data.keys()
    if missing:
        raise DataError(f"{where}: field {sorted(missing)[0]!r} missing")
    return cls(**{name: _build(f.type, data[name], f"{where}.{name}") for name, f in fields.items()})


_FIELDS: dict[Any, dict[str, Any]] = {
    cls: {f.name: f for f in fields(cls)}
    for cls in (ItemCondition, OwnedBy, CustomerCondition, RegionCondition, When, Rule, Suspension, TestRequest,
                TestOwner, TestCustomer, TestCase, Pack)
}


def from_data(data: Any, where: str = "pack", *, cases: bool = True) -> Pack:
    """A validated pack's JSON as a plain Pack; DataError when it is not one.

    ``cases=False``: the pack's test cases are left out (``tests`` is empty), for a reader that only
    compiles the pack (a function host's cold start: building them would cost about 1.9 ms there).
    """
    if type(data) is not dict:
        raise DataError(f"{where}: expected a mapping")
    if not cases:
        if type(data.get("tests")) is not list:
            raise DataError(f"{where}.tests: expected a list")
        data = {**data, "tests": []}
    pack: Pack = _object(Pack, data, where)
    return pack


def to_data(obj: Any) -> Any:
    """A plain pack (or part of one) as JSON data: what ``Pack.model_dump(mode="json")`` gives."""
    if isinstance(obj, Record):
        return {f.name: to_data(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [to_data(x) for x in obj]
    if isinstance(obj, Mapping):
        return {k: to_data(x) for k, x in obj.items()}
    if isinstance(obj, date):
        return obj.isoformat()
    return obj
