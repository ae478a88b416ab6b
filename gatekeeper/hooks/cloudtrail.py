"""CloudTrail records of provisioning calls -> the one request model, read from the AWS spec.

The hook has no table of its own: every row of :data:`gatekeeper.providers.aws.SPEC` with an
``Audit`` side is a CloudTrail event it covers, read by the same reader the SDK adapter uses
(:mod:`gatekeeper.providers.aws._read`) in CloudTrail's shape: ``requestParameters`` (under the
row's ``Audit.root``) with the spec's event-shape slots (botocore's members in lowerCamel, matched
case-insensitively, EC2 ``items``/``item`` list wrappers looked through).

Rules of the translation:
- What the response says was provisioned wins over what the request asked for (RunInstances'
  response names the type of every instance, also when a launch template chose it); the request is
  read when the response names nothing.
- References (launch templates, groups, instances, endpoint configs ...) are followed through the
  read-only :class:`Reader`; one that cannot be followed lands in ``unresolved`` and the request is
  decided fail-closed.
- Counts are upper bounds, as in the adapter. A malformed field (a count that is not a whole number
  in range, two spellings of one member with different values) is never a traceback and never a
  guess: the request is decided fail-closed with the field named in ``unresolved``, so the decision
  record says what was wrong and the hook applies its error remediation (``[hooks] on_error``) to
  the resources the event names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from gatekeeper.errors import InvalidInputError
from gatekeeper.hooks.remediation import Resource
from gatekeeper.model import ComputeItem
from gatekeeper.providers import _paths as P
from gatekeeper.providers._spec import Operation, Slot
from gatekeeper.providers.aws import EVENT_MODE, SPEC, event_pattern

if TYPE_CHECKING:  # the reader needs the catalog: imported on the first event, not at cold start
    from gatekeeper.catalog import Catalog

__all__ = ["SPEC", "Reader", "Translation", "event_pattern", "operation", "translate"]


class Reader(Protocol):
    """Read-only look-ups in the event's account; each raises on failure (the caller records why)."""

    def describe(self, kind: str, key: Mapping[str, str], region: str) -> Mapping[str, Any]:
        """The resource of a resolver kind (``gatekeeper.providers.aws.FETCHES``)."""
        ...

    def instance(self, instance_id: str, region: str) -> Mapping[str, Any]:
        """The instance as DescribeInstances returns it."""
        ...


@dataclass(frozen=True, slots=True)
class _Bound:
    """A reader bound to the event's region: what the spec reader follows references through."""

    reader: Reader
    region: str

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        return self.reader.describe(kind, key, self.region)


@dataclass(frozen=True, slots=True)
class Translation:
    operation: Operation
    items: tuple[ComputeItem, ...]
    unresolved: tuple[str, ...]
    resources: tuple[Resource, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def provisions(self) -> bool:
        """False when the call changes no compute (another attribute, a scale-down to zero)."""
        return bool(self.unresolved) or any(i.count > 0 for i in self.items)


def operation(source: str, name: str) -> Operation | None:
    return SPEC.event_operation(source, name)


def _counts(slots: tuple[Slot, ...], scope: Any, where: str) -> None:
    """Every count the slots read must be a whole number in range (else: an input error naming it)."""
    for slot in slots:
        for sloc, node in P.read(scope, slot.at, scope, where, EVENT_MODE):
            for path in (*slot.count, *slot.multiplier):
                for part in path.split("+"):
                    if not part or part.startswith("$."):
                        continue
                    for loc, value in P.read(node, part, scope, sloc, EVENT_MODE):
                        P.whole(value, loc)


def _merge(items: tuple[ComputeItem, ...]) -> tuple[ComputeItem, ...]:
    """Instances listed one by one in a response (one type each): equal types merged into one item."""
    merged: dict[tuple[str, Any, str], ComputeItem] = {}
    for i in items:
        k = (i.instance_type, i.attached, i.choice)
        prior = merged.get(k)
        merged[k] = i if prior is None else ComputeItem(i.instance_type, prior.count + i.count, i.attached,
                                                        i.choice, prior.path)
    return tuple(merged.values())


def translate(op: Operation, detail: Mapping[str, Any], region: str, reader: Reader, catalog: Catalog) -> Translation:
    """The compute items and resources of one CloudTrail record of ``op``.

    Raises InvalidInputError for a malformed field (the hook records it as such).
    """
    from gatekeeper.providers.aws._read import translate as read_spec

    audit = op.audit
    if audit is None:
        raise InvalidInputError(f"{op.name} is not recorded in a form the hook reads", field="eventName")
    lookup = _Bound(reader, region)
    params = P.first(detail, audit.root, detail, EVENT_MODE) if audit.root else detail
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(f"{audit.root.split('|')[-1]} is not an object", field="requestParameters")
    params = params or {}
    resources = tuple(_resources(op, detail, region))
    items: tuple[ComputeItem, ...] = ()
    unresolved: tuple[str, ...] = ()
    slots = SPEC.event_slots(op)
    try:
        _counts(audit.response, detail, "")  # every count of the record, also where the response wins
        _counts(slots, params, "")
        if audit.response:
            out = read_spec(op, detail, lookup, catalog, slots=audit.response, extra=(), mode=EVENT_MODE)
            items, unresolved = _merge(out.items), out.unresolved
        if not items:
            out = read_spec(op, params, lookup, catalog, slots=slots, base=SPEC.event_base(op),
                            extra=SPEC.event_extra(op), mode=EVENT_MODE)
            items, unresolved = out.items, out.unresolved
    except InvalidInputError as exc:  # a malformed field: decided fail-closed, the field named
        return Translation(op, (), (f"malformed {exc.field or 'field'} in the record: {exc.detail}",), resources)
    return Translation(op, items, unresolved, resources)


def _resources(op: Operation, detail: Mapping[str, Any], region: str) -> list[Resource]:
    out: list[Resource] = []
    for a in op.audit.affected if op.audit is not None else ():
        arn = P.text(detail, a.arn, mode=EVENT_MODE) if a.arn else ""
        parent = P.text(detail, a.parent, mode=EVENT_MODE) if a.parent else ""
        ids = [P.text({"v": v}, "v") for v in P.values(detail, a.id, mode=EVENT_MODE)]
        ids = [i for i in ids if i]
        if not ids and arn:
            ids = [arn.rsplit("/", 1)[-1]]
        out.extend(Resource(a.kind, i, region, arn, parent) for i in dict.fromkeys(ids))
    return out
