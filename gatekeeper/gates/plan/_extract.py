"""What a planned resource would run: its rows of :mod:`._types` read over its planned values.

Generic code over the data rows, with the one path reader of :mod:`gatekeeper.providers._paths`.
References are followed: a value the configuration takes from another resource of the plan (a launch
template's ``id``, an instance template's ``self_link``) is read from that resource's own row; a
literal id is looked up among the plan's resources and the prior state. What cannot be known before
apply (``after_unknown``), or points outside the plan, becomes an item of the unknown type
:data:`UNKNOWN_TYPE`, which the catalog classifies as an unknown accelerator, with the reason kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gatekeeper.catalog import Catalog
from gatekeeper.errors import InvalidInputError
from gatekeeper.gates.plan._reader import Plan, PlanResource
from gatekeeper.gates.plan._types import RESOURCE_TYPES, ResourceType, Slot
from gatekeeper.model import AttachedAccelerator, ComputeItem
from gatekeeper.providers._paths import MAX_COUNT, number, read, shown
from gatekeeper.providers.gcp.vocabulary import tpu_slice

# INVARIANT: this name is in no catalog and matches no plain family: it classifies as an unknown
# accelerator (tests/gates/plan/test_extract.py holds it to that for every provider).
UNKNOWN_TYPE = "(known after apply)"
# AWS Batch keywords that name plain families only (https://docs.aws.amazon.com/batch/latest/APIReference/API_ComputeResource.html).
_BATCH_PLAIN = frozenset({"optimal", "default_x86_64", "default_arm64"})
_MAX_DEPTH = 4  # references followed in a chain (group -> template); deeper is a loop or an oddity
_LOC = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Extraction:
    items: tuple[ComputeItem, ...]
    unknown: tuple[str, ...]  # why an item is of the unknown type, one line per item
    region: str


def extract(plan: Plan, resource: PlanResource, catalog: Catalog, provider_region: str = "") -> Extraction:
    row = RESOURCE_TYPES[resource.type]
    ex = _Extractor(plan, catalog, row.provider)
    items = ex.resource(resource, row, depth=0, seen=frozenset())
    return Extraction(tuple(items), tuple(ex.unknown), _region(resource, row, provider_region))


def _region(resource: PlanResource, row: ResourceType, provider_region: str) -> str:
    for attr in row.region:
        value = resource.values.get(attr)
        if isinstance(value, str) and value.strip():
            value = value.strip().rsplit("/", 1)[-1]
            if row.provider == "aws" and attr == "availability_zone" and value[-1:].isalpha():
                return value[:-1]
            return value
    return provider_region


class _Extractor:
    def __init__(self, plan: Plan, catalog: Catalog, provider: str) -> None:
        self.plan, self.catalog, self.provider = plan, catalog, provider
        self.unknown: list[str] = []

    def resource(self, res: PlanResource, row: ResourceType, *, depth: int, seen: frozenset[str],
                 count: int | None = None, choice: str = "") -> list[ComputeItem]:
        out: list[ComputeItem] = []
        for n, slot in enumerate(row.slots):
            for loc, elem in (read(res.values, slot.at, where="") if slot.at else [("", res.values)]):
                n_items = count if count is not None else self.count(res, slot, elem, loc)
                key = choice or (f"{res.address}#{n}{('@' + loc) if loc else ''}" if slot.choice else "")
                out += self.slot(res, slot, elem, loc, n_items, key, depth=depth, seen=seen)
        return out

    def slot(self, res: PlanResource, slot: Slot, elem: Any, loc: str, count: int, choice: str, *,
             depth: int, seen: frozenset[str]) -> list[ComputeItem]:
        items: list[ComputeItem] = []
        attached = self.attached(res, slot, elem, loc)
        unknown_types: list[str] = []
        for rel in slot.type:
            for where, value in read(elem, rel, root=res.values, where=loc):
                for i, v in enumerate(value if isinstance(value, list) else [value]):
                    if not isinstance(v, str) or not v.strip():
                        continue
                    path = f"{res.address}.{where}" + (f"[{i}]" if isinstance(value, list) else "")
                    for t in self.types(v.strip(), slot.families):
                        items.append(ComputeItem(t, count, attached, choice, path))
            if _unknown_at(res.unknown, loc, rel):
                unknown_types.append(f"{res.address}.{_join(loc, rel)}")
        if slot.tpu:
            items += self.tpu(res, slot, elem, loc, count, choice)
        for rel in slot.requirements:
            items += self.requirements(res, rel, elem, loc, count, choice or f"{res.address}@{_join(loc, rel)}")
        followed = self.refs(res, slot, elem, loc, count, attached, choice, depth=depth, seen=seen)
        # A machine type Terraform computes from a reference (an instance's type from its launch
        # template) is unknown in the plan; when the reference was followed, it says what runs.
        if unknown_types and not any(i.instance_type != UNKNOWN_TYPE for i in followed):
            items += [self.unknown_item(w, "is known only after apply", count, attached, choice) for w in unknown_types]
        items += followed
        if not items and attached:  # accelerators attached to a machine type the row does not name
            items.append(ComputeItem("", count, attached, choice, f"{res.address}.{loc or 'values'}"))
        if slot.unit:
            items = [_in_units(i, slot.unit, slot.overshoot) for i in items]
        return items

    def refs(self, res: PlanResource, slot: Slot, elem: Any, loc: str, count: int,
             attached: tuple[AttachedAccelerator, ...], choice: str, *, depth: int,
             seen: frozenset[str]) -> list[ComputeItem]:
        """What the slot's references lead to (other resources' rows), or unknown items saying why not."""
        items: list[ComputeItem] = []
        for ref in slot.refs:
            full = _join(slot.at, ref.at)
            targets = [t for a in res.references.get(full, ()) for t in self.plan.by_config_address(a)
                       if t.type in ref.targets]
            literal = [(w, v) for w, v in read(elem, ref.at, where=loc) if isinstance(v, str) and v.strip()]
            if not targets and literal:
                targets = [t for t in (*self.plan.resources, *self.plan.existing) if t.type in ref.targets
                           and any(t.values.get(m) == v for _, v in literal for m in ref.match)]
                if not targets:
                    where, value = literal[0]
                    items.append(self.unknown_item(f"{res.address}.{where}", f"names {shown(value)}, which is "
                                                   "not in the plan or its prior state", count, attached, choice))
                    continue
            if not targets:
                if _unknown_at(res.unknown, loc, ref.at):
                    items.append(self.unknown_item(f"{res.address}.{_join(loc, ref.at)}", "is known only after "
                                                   "apply and names no resource of the plan", count, attached, choice))
                continue
            for target in targets:
                if target.address in seen or depth >= _MAX_DEPTH:
                    items.append(self.unknown_item(target.address, "is referenced in a loop or too deep a chain",
                                                   count, attached, choice))
                    continue
                sub = self.resource(target, RESOURCE_TYPES[target.type], depth=depth + 1, seen=seen | {res.address},
                                    count=count, choice=choice)
                items += [ComputeItem(i.instance_type, i.count, i.attached + attached, i.choice,
                                      f"{res.address} -> {i.path}") for i in sub]
        return items

    def requirements(self, res: PlanResource, rel: str, elem: Any, loc: str, count: int,
                     choice: str) -> list[ComputeItem]:
        """Attribute-based selection, read by the AWS spec's own expansion (every type it admits)."""
        from gatekeeper.providers.aws._requirements import expand_requirements

        out: list[ComputeItem] = []
        for where, block in read(elem, rel, where=loc):
            block = block[0] if isinstance(block, list) and block else block
            if not isinstance(block, Mapping):
                continue
            for c in expand_requirements(self.catalog, _sdk_shape(block)):
                out.append(ComputeItem(c.instance_type, count, c.attached, choice,
                                       f"{res.address}.{where} ({c.why})" if c.why else f"{res.address}.{where}"))
            if _any_unknown(res.unknown, where):
                out.append(self.unknown_item(f"{res.address}.{where}", "has values known only after apply",
                                             count, (), choice))
        return out

    def types(self, value: str, families: bool) -> list[str]:
        if not families:
            return [value]
        if value.lower() in _BATCH_PLAIN:
            return []
        members = self.catalog.family_types(self.provider, value) if "." not in value else []
        return [t.name for t in members] or [value]

    def attached(self, res: PlanResource, slot: Slot, elem: Any, loc: str) -> tuple[AttachedAccelerator, ...]:
        out: list[AttachedAccelerator] = []
        for a in slot.attached:
            for where, block in read(elem, a.at, where=loc):
                kind = block.get(a.type) if isinstance(block, Mapping) else None
                if not isinstance(kind, str) or not kind.strip():
                    if _unknown_at(res.unknown, where, a.type):
                        self.unknown.append(f"{res.address}.{where}.{a.type} is known only after apply")
                        out.append(AttachedAccelerator(UNKNOWN_TYPE, 1))
                    continue
                n = number(block.get(a.count)) if a.count and isinstance(block, Mapping) else 1.0
                out.append(AttachedAccelerator(kind.strip(), n if n is not None and n > 0 else 1.0))
        return tuple(out)

    def tpu(self, res: PlanResource, slot: Slot, elem: Any, loc: str, count: int, choice: str) -> list[ComputeItem]:
        out: list[ComputeItem] = []
        for where, value in read(elem, slot.tpu, where=loc):
            if not isinstance(value, str) or not value.strip():
                continue
            # the one Cloud TPU vocabulary (also the Google Cloud adapters'); not VERSION-SIZE -> unknown
            known = tpu_slice(value)
            acc = AttachedAccelerator(*known) if known is not None else AttachedAccelerator(value.strip(), 1)
            out.append(ComputeItem("", count, (acc,), choice, f"{res.address}.{where}"))
        if _unknown_at(res.unknown, loc, slot.tpu):
            out.append(self.unknown_item(f"{res.address}.{_join(loc, slot.tpu)}", "is known only after apply",
                                         count, (), choice))
        return out

    def unknown_item(self, where: str, why: str, count: int, attached: tuple[AttachedAccelerator, ...],
                     choice: str) -> ComputeItem:
        reason = f"{where} {why}: decided as an unknown accelerator"
        self.unknown.append(reason)
        return ComputeItem(UNKNOWN_TYPE, count, attached, choice, reason)

    def count(self, res: PlanResource, slot: Slot, elem: Any, loc: str) -> int:
        """The largest of the slot's counts (``A+B`` summed), at least 1; unknown counts are noted."""
        best: float | None = None
        for expr in slot.count:
            total: float | None = None
            for part in expr.split("+"):
                for where, v in read(elem, part, root=res.values, where=loc):
                    n = number(v)
                    if n is None or n < 0 or n > MAX_COUNT or not n.is_integer():
                        raise InvalidInputError(f"{res.address}.{where}: not a count: {shown(v)}", field=where)
                    total = (total or 0) + n
            if total is not None:
                best = total if best is None else max(best, total)
        if best is None and any(_unknown_at(res.unknown, loc, p) for e in slot.count for p in e.split("+")):
            self.unknown.append(f"{res.address}: the number of machines is known only after apply; decided for 1")
        return max(int(best or 1), 1)


def _in_units(item: ComputeItem, unit: str, overshoot: int) -> ComputeItem:
    """``item`` whose count is a capacity in ``unit``, as machines of its type (the AWS spec's conversion)."""
    from gatekeeper.providers.aws._requirements import instances_for

    n = instances_for(item.count, unit, 1.0, item.instance_type) + overshoot
    return ComputeItem(item.instance_type, max(n, 1), item.attached, item.choice, item.path)


def _sdk_shape(block: Mapping[str, Any]) -> dict[str, Any]:
    """A Terraform ``instance_requirements`` block in the SDK's member spelling (``accelerator_count``
    -> ``acceleratorcount``, matched case-insensitively; a nested block's one-element list unwrapped)."""
    out: dict[str, Any] = {}
    for key, value in block.items():
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
            value = dict(value[0])
        out[str(key).replace("_", "")] = value
    return out


def _join(a: str, b: str) -> str:
    if b.startswith("$."):
        return b[2:]
    return f"{a}.{b}" if a and b else (a or b)


_UNKNOWN = object()  # what _walk returns when an ancestor of the location is unknown as a whole


def _walk(tree: Any, loc: str) -> Any:
    """The node of ``after_unknown`` at the concrete location ``loc``: None when the location is
    absent, ``_UNKNOWN`` when one of its ancestors is ``true`` (unknown with all it holds)."""
    node = tree
    for name, index in _LOC.findall(loc):
        if node is True:
            return _UNKNOWN
        if name:
            node = node.get(name) if isinstance(node, Mapping) else None
        else:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        if node is None:
            return None
    return node


def _unknown_at(tree: Any, loc: str, rel: str) -> bool:
    """True when ``rel`` under the concrete location ``loc`` is (or lies under) ``true`` in after_unknown."""
    if rel.startswith("$."):
        rel, loc = rel[2:], ""
    node = _walk(tree, loc)
    if node is _UNKNOWN:
        return True
    if node is None:
        return False
    return _under(node, [s for s in rel.split(".") if s]) if rel else node is True


def _any_unknown(tree: Any, loc: str) -> bool:
    """True when anything at or under the concrete location ``loc`` is unknown until apply."""
    node = _walk(tree, loc)
    if node is _UNKNOWN:
        return True
    return node is not None and _has_true(node)


def _has_true(node: Any) -> bool:
    if node is True:
        return True
    if isinstance(node, Mapping):
        return any(_has_true(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_true(v) for v in node)
    return False


def _under(node: Any, segments: list[str]) -> bool:
    if node is True:
        return True
    if not segments:
        return isinstance(node, list) and any(v is True for v in node)
    seg, rest = segments[0], segments[1:]
    iterate = seg.endswith("[]")
    child = node.get(seg[:-2] if iterate else seg) if isinstance(node, Mapping) else None
    if child is None:
        return False
    if iterate and isinstance(child, list):
        return any(_under(c, rest) for c in child)
    return _under(child, rest)
