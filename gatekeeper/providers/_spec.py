"""The cloud-neutral vocabulary of a provider spec: which calls provision compute, and where.

A provider spec (``gatekeeper.providers.aws``, ``.azure``, ``.gcp``) is data: one :class:`Operation`
per API call that can provision accelerated compute, saying where the call names its compute, in
the SDK's parameter shape **and** in the shape the provider's audit log records it. The SDK adapter,
the detective hook, ``gatekeeper hooks test``, the IaC gate, the guardrail export and the docs all
read the same rows; adding a path is adding a row. Paths are those of :mod:`gatekeeper.providers._paths`
(``.`` between members, ``[]`` iterates, ``$.`` from the root, ``|`` alternatives).

The vocabulary::

    Operation   one API call: its Slots, the Existing resource it changes (``base``) or puts to use
                (``extra``), the members naming its resources (``ids``), where it names a region or
                a subject when it does (``region``, ``subject``), and its Audit record.
    Slot        one thing that will run, with its count. Each element at ``at`` is one slot; the
                alternatives its Sources name are alternatives for that slot (fleet overrides,
                mixed-instance types, attribute-based matches), each decided with the slot's full
                count (the worst case), grouped by one ``choice`` key.
    Source      where a slot names what it runs: a machine type (or a list of them), an
                attribute-based selection (``requirements``), or references (Ref) the resolver
                follows. ``inner`` lists nested alternatives (a fleet config's overrides) that fall
                back on the outer element.
    Ref         an indirection: a launch template, launch configuration, instance, instance
                template or offering, read through the provider's resolver (``kind``), whose
                description names the compute.
    Attached    accelerators attached apart from the machine type (Elastic Inference, GCP guest
                accelerators).
    Existing    an existing resource (a group, a node pool, a reservation, an endpoint config)
                whose description is read, with the request's parameters applied over it
                (``overlay``), for calls that change or put it to use.
    Audit       where the provider's audit event records the call: its source and name, where the
                SDK-shape parameters sit in it (``root``), what the response says was provisioned
                (``response``: wins over the request), and the resources to put right
                (``affected``).
    Affected    one resource the call created or changed, with its remediation kind
                (``ec2:instance``, ``autoscaling:group`` ...; what stop/terminate mean for each kind
                is :data:`gatekeeper.hooks.remediation.KINDS`).
    ProviderSpec  one cloud: its operations, and how its audit events spell the SDK's members
                (``casing``) and are matched (``event_mode``).

Counts are worst cases: the largest value among ``count`` paths (``A+B`` sums two), times the largest
``multiplier``, converted from capacity units to instances per alternative (``weight``, ``unit``).

Event-shape paths are derived from the SDK-shape paths with the provider's ``casing`` (CloudTrail
records botocore members in lowerCamel; Cloud Audit Logs record proto fields in lowerCamel) and read
in the provider's loose ``event_mode``; an operation whose record is shaped differently spells its
event-side slots itself (``Audit.slots``).

Provider-specific bindings (an Azure URL template and HTTP methods, a GCP client class and transport
method) live in the provider's own module next to its rows; this vocabulary is what the three share.
Changes to it are additive only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gatekeeper.providers._paths import EXACT, Mode

# --------------------------------------------------------------------------------------------------
# Member-name casing between shapes


def same(name: str) -> str:
    return name


def lower_camel(name: str) -> str:
    """``InstanceType`` -> ``instanceType`` (CloudTrail's spelling of a botocore member)."""
    return name[:1].lower() + name[1:] if name[:1].isupper() else name


def snake_to_camel(name: str) -> str:
    """``machine_type`` -> ``machineType`` (JSON spelling of a proto field, Cloud Audit Logs)."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def recase(path: str, casing: Callable[[str], str]) -> str:
    """``path`` with every member name passed through ``casing`` (``[]``, ``$.``, ``+``, ``|`` kept)."""
    if not path or casing is same:
        return path

    def one(p: str) -> str:
        prefix = "$." if p.startswith("$.") else ""
        body = p[len(prefix):]
        parts = []
        for seg in body.split(".") if body else ():
            it = seg.endswith("[]")
            name = seg[:-2] if it else seg
            parts.append(casing(name) + ("[]" if it else ""))
        return prefix + ".".join(parts)

    return "|".join("+".join(one(q) for q in alt.split("+")) for alt in path.split("|"))


# --------------------------------------------------------------------------------------------------
# Where compute is named


@dataclass(frozen=True, slots=True)
class Attached:
    """Accelerators attached apart from the machine type."""

    at: str  # path of the accelerator entries ("" = the element itself)
    type: str = ""  # relative path of the accelerator type ("" = the entry is the type string)
    count: str = ""  # relative path of the number per machine (default 1)


@dataclass(frozen=True, slots=True)
class Ref:
    """An indirection the resolver follows: its arguments, and where its description names compute.

    ``keys`` are (resolver argument, member spellings matched case-insensitively) read from the
    structure at ``at``; with no ``keys``, the string at ``at`` itself is the argument ``value_key``.
    The reference is followed when at least one of ``required`` is given (default: any key).
    ``defaults`` fill arguments not given (a launch template's version: ``$Default``).
    The description's member ``data`` ("" = all of it) is read with ``reads`` (default: a single
    machine type at ``InstanceType``, the provider spec's ``DEFAULT_REF_READS``).
    """

    kind: str
    at: str = ""
    keys: tuple[tuple[str, tuple[str, ...]], ...] = ()
    value_key: str = "name"
    defaults: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()
    data: str = ""
    reads: Source | None = None
    # Count of the description (a capacity offering's InstanceCount), used when the slot gives none.
    count: tuple[str, ...] = ()
    # More arguments read from the element, or from the request's root with ``$.`` (an EMR
    # instance group's cluster id): (resolver argument, path).
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    at: str = ""  # elements, relative to the slot's scope ("" = the scope itself)
    type: tuple[str, ...] = ()  # machine type(s): a string or a list of strings
    requirements: str = ""  # an attribute-based selection (EC2 InstanceRequirements)
    refs: tuple[Ref, ...] = ()
    weight: str = ""  # capacity units one machine of this alternative counts for
    count: tuple[str, ...] = ()  # the alternative's own count (SageMaker InstancePreferences)
    attached: tuple[Attached, ...] = ()
    inner: Source | None = None
    # Only elements where the member at this path equals the value (case-insensitively; "" = present).
    when: tuple[str, str] | None = None
    # Values may be bare families (``p4d``) or service keywords (AWS Batch ``optimal``).
    families: bool = False
    # Follow references even when a type is named directly, and decide both (an EKS node group's
    # instanceTypes and its launch template's type are alternatives the service never lets coexist).
    union_refs: bool = False
    # Types the call provisions whatever it names, when only the service knows which (a Capacity
    # Block or training plan offering id): decided as alternatives, the most restrictive wins.
    fixed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Slot:
    sources: tuple[Source, ...]
    at: str = ""  # each element here is one slot
    count: tuple[str, ...] = ()  # the largest of these ("A+B" sums); none given: 1
    multiplier: tuple[str, ...] = ()  # the largest of these multiplies the count (parallel jobs)
    unit: str = ""  # path of the capacity unit type ("units", "vcpu", "memory-mib")
    default_unit: str = "units"
    overshoot: int = 0  # machines a service may launch beyond the capacity (AWS Batch: one)
    tally: str = ""  # count = how many values this path yields (the instance ids of a fleet's response)


@dataclass(frozen=True, slots=True)
class Existing:
    """An existing resource read through the resolver, for calls that change or put it to use."""

    kind: str  # a resolver kind
    keys: tuple[tuple[str, str], ...]  # (resolver argument, parameter path)
    slots: tuple[Slot, ...]  # how to read the description (the Create call's slots)
    # The part of the parameters applied over the description ("" = all of them); None: the resource
    # is only put to use, not changed, and is read as it is.
    overlay: str | None = ""
    exclusive: tuple[str, ...] = ()  # description members the parameters replace as a set
    when: tuple[str, ...] = ()  # read only when one of these parameters is present (empty: always)
    # Read even when the request names compute with a count (the count is a delta on the resource).
    always: bool = False
    # (in ``extra``) Read only when the request itself names no compute: a default it inherits
    # (a SageMaker app without a ResourceSpec takes its space's or user profile's default).
    fallback: bool = False


# --------------------------------------------------------------------------------------------------
# The audit side


@dataclass(frozen=True, slots=True)
class Affected:
    """A resource the call created or changed, to put right: its remediation kind and where its id is.

    Paths are read from the whole audit event's detail (CloudTrail ``detail``), in the event mode.
    """

    kind: str
    id: str
    arn: str = ""
    parent: str = ""


@dataclass(frozen=True, slots=True)
class Audit:
    """How the provider's audit log records the call."""

    source: str  # CloudTrail eventSource, Azure resource provider, Cloud Audit Logs serviceName
    name: str = ""  # eventName / operationName / methodName ("" = the operation's name)
    root: str = ""  # where the request's parameters sit in the event's detail
    # The request in the event's own shape, where it is not the SDK's shape recased (None: derived).
    slots: tuple[Slot, ...] | None = None
    # What the response says was provisioned (read from the detail); when it names anything it wins.
    response: tuple[Slot, ...] = ()
    affected: tuple[Affected, ...] = ()
    # The parameters of ``base`` / ``extra`` keys, for the event shape (None: derived like the slots).
    base: Existing | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Template:
    """An infrastructure-as-code document the call deploys (a CloudFormation template), decided
    resource by resource with the provider's rows for each resource type.

    Paths are in the request; ``url`` is read through the resolver (kind ``template_url``), and
    ``previous`` (a flag) makes the deployed document the one read (kind ``stack_template``, the
    stack named at ``stack``).
    """

    body: str = ""
    url: str = ""
    parameters: str = ""
    previous: str = ""
    stack: str = ""


@dataclass(frozen=True, slots=True)
class Operation:
    service: str  # the SDK's service name (botocore ``ec2``, ``Microsoft.Compute``, ``compute``)
    name: str  # the API operation (``RunInstances``)
    slots: tuple[Slot, ...] = ()
    # The resource the call changes; its slots also read the request (applied to ``overlay``).
    base: Existing | None = None
    extra: tuple[Existing, ...] = ()  # resources the call puts to use, decided with it
    ids: tuple[str, ...] = ()  # parameters naming the resource (recorded as resource_ids)
    audit: Audit | None = None  # None: the audit log does not record it (``note`` says why)
    region: tuple[str, ...] = ()  # where the call names its region ("" = the client's region)
    subject: tuple[str, ...] = ()  # where the call names the account/project ("" = the caller's)
    note: str = ""  # for the generated docs: what the row reads, why an audit side is missing
    template: Template | None = None  # the call deploys a template: its resources are what is decided

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.name)


@dataclass(frozen=True)
class ProviderSpec:
    """One cloud's operations and how its audit events spell them."""

    provider: str  # "aws", "azure", "gcp"
    operations: tuple[Operation, ...]
    casing: Callable[[str], str] = same  # SDK member name -> audit event member name
    event_mode: Mode = EXACT
    # The resolver kinds rows may name (checked by the spec's tests).
    kinds: frozenset[str] = frozenset()
    by_key: Mapping[tuple[str, str], Operation] = field(init=False, repr=False)
    by_event: Mapping[tuple[str, str], Operation] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_key: dict[tuple[str, str], Operation] = {}
        by_event: dict[tuple[str, str], Operation] = {}
        for op in self.operations:
            if op.key in by_key:
                raise ValueError(f"{self.provider}: {op.service} {op.name} is listed twice")
            by_key[op.key] = op
            if op.audit is not None:
                ek = (op.audit.source, op.audit.name or op.name)
                if ek in by_event:
                    raise ValueError(f"{self.provider}: audit event {ek} is listed twice")
                by_event[ek] = op
        object.__setattr__(self, "by_key", by_key)
        object.__setattr__(self, "by_event", by_event)

    def operation(self, service: str, name: str) -> Operation | None:
        return self.by_key.get((service, name))

    def event_operation(self, source: str, name: str) -> Operation | None:
        return self.by_event.get((source, name))

    @cached_property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(op.service for op in self.operations))

    def event_slots(self, op: Operation) -> tuple[Slot, ...]:
        """The slots to read the request with in the audit event's shape."""
        if op.audit is not None and op.audit.slots is not None:
            return op.audit.slots
        return _event_slots(self, op)

    def event_base(self, op: Operation) -> Existing | None:
        if op.audit is not None and op.audit.base is not None:
            return op.audit.base
        return _recased_existing(op.base, self.casing) if op.base is not None else None

    def event_extra(self, op: Operation) -> tuple[Existing, ...]:
        return tuple(_recased_existing(e, self.casing) for e in op.extra)


_EVENT_SLOTS: dict[tuple[int, tuple[str, str]], tuple[Slot, ...]] = {}


def _event_slots(spec: ProviderSpec, op: Operation) -> tuple[Slot, ...]:
    key = (id(spec), op.key)
    found = _EVENT_SLOTS.get(key)
    if found is None:
        found = tuple(recased(s, spec.casing) for s in op.slots)
        _EVENT_SLOTS[key] = found
    return found


# --------------------------------------------------------------------------------------------------
# Walking and recasing specs (for the event shape, the model checks and the docs)

_PATH_FIELDS = {
    Attached: ("at", "type", "count"),
    Ref: ("at",),  # ``data``, ``count`` and ``reads`` read the description, in the SDK's shape
    Source: ("at", "requirements", "weight"),
    Slot: ("at", "unit", "tally"),
    Affected: ("id", "arn", "parent"),
}
_PATH_TUPLES = {
    Source: ("type", "count"),
    Slot: ("count", "multiplier"),
}


def recased(node: Any, casing: Callable[[str], str]) -> Any:
    """A copy of a spec node (Slot, Source, Ref, Attached) with every path recased."""
    if casing is same or node is None:
        return node
    changes: dict[str, Any] = {}
    for name in _PATH_FIELDS.get(type(node), ()):
        changes[name] = recase(getattr(node, name), casing)
    for name in _PATH_TUPLES.get(type(node), ()):
        changes[name] = tuple(recase(p, casing) for p in getattr(node, name))
    if isinstance(node, Slot):
        changes["sources"] = tuple(recased(s, casing) for s in node.sources)
    elif isinstance(node, Source):
        changes["refs"] = tuple(recased(r, casing) for r in node.refs)
        changes["attached"] = tuple(recased(a, casing) for a in node.attached)
        changes["inner"] = recased(node.inner, casing)
        if node.when is not None:
            changes["when"] = (recase(node.when[0], casing), node.when[1])
    elif isinstance(node, Ref):
        # Key spellings are matched case-insensitively already; the description is in the SDK's shape.
        changes["context"] = tuple((arg, recase(p, casing)) for arg, p in node.context)
    return dataclasses.replace(node, **changes)


def _recased_existing(e: Existing, casing: Callable[[str], str]) -> Existing:
    if casing is same:
        return e
    return dataclasses.replace(
        e, keys=tuple((arg, recase(p, casing)) for arg, p in e.keys),
        overlay=recase(e.overlay, casing) if e.overlay else e.overlay,
        when=tuple(recase(p, casing) for p in e.when))


def sdk_paths(op: Operation) -> Iterator[str]:
    """Every SDK-shape path an operation reads from its request (for the model checks)."""
    yield from op.ids
    yield from op.region
    yield from op.subject
    if op.template is not None:
        t = op.template
        yield from (p for p in (t.body, t.url, t.parameters, t.previous, t.stack) if p)
    for slot in op.slots:
        yield from _slot_paths(slot, "")
    for e in (op.base, *op.extra):
        if e is not None:
            yield from (p for _, p in e.keys)
            yield from e.when
            prefix = e.overlay or ""
            for slot in e.slots:
                if e.overlay is not None:
                    yield from _slot_paths(slot, prefix)
                else:  # the description is read as it is; only ``$.`` paths read the request
                    yield from (p[2:] for p in (*slot.count, *slot.multiplier) for p in p.split("+")
                                if p.startswith("$."))


def _join(prefix: str, path: str) -> str:
    if path.startswith("$."):
        return path[2:]
    return f"{prefix}.{path}" if prefix and path else (prefix or path)


def _slot_paths(slot: Slot, prefix: str) -> Iterator[str]:
    scope = _join(prefix, slot.at)
    for p in (*slot.count, *slot.multiplier, slot.unit):
        for q in p.split("+"):
            if q:
                yield q[2:] if q.startswith("$.") else _join(scope, q)
    for src in slot.sources:
        yield from _source_paths(src, scope)


def _source_paths(src: Source, scope: str) -> Iterator[str]:
    elem = _join(scope, src.at)
    for p in (*src.type, src.requirements, src.weight, *src.count):
        if p:
            yield _join(elem, p)
    if src.when is not None:
        yield _join(elem, src.when[0])
    for ref in src.refs:
        if not ref.keys or ref.at:
            yield _join(elem, ref.at)
    for a in src.attached:
        if a.at:
            yield _join(elem, a.at)
    if src.inner is not None:
        yield from _source_paths(src.inner, elem)
