"""The generic reader of ``_table``: a call's parameters -> the ComputeItems of one ProvisioningRequest.

``translate(op, params, lookup, catalog)`` walks the operation's slots and sources, follows references
through ``lookup`` (the resolver: read-only AWS calls, cached), expands InstanceRequirements and Batch
families, and computes worst-case counts. It never decides anything. What it cannot follow (a launch
template that does not exist, a resolver failure) is returned in ``unresolved``, with the reason, for
the engine to decide fail-closed; everything it could read is still returned, for the record.

For a call that changes an existing resource (``Operation.base``), the request alone is read first;
the resource's description is read only when needed: the request names no compute (a scaling-only
update, a refresh of the current configuration), or names accelerated compute without a count (the
group's MaxSize is then the count). A plain configuration change never costs a look-up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from gatekeeper.adapters.aws import _table
from gatekeeper.adapters.aws._paths import deep_merge, first, get_ci, present, read
from gatekeeper.adapters.aws._requirements import expand_requirements, expand_type, instances_for
from gatekeeper.catalog import Catalog
from gatekeeper.errors import ResolutionError
from gatekeeper.model import AttachedAccelerator, ComputeItem


class Lookup(Protocol):
    """Reads one existing resource; raises ResolutionError (with a readable reason) when it cannot."""

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        ...


# For these kinds the resource description proper sits one level down in what ``describe`` returns.
_DESCRIPTION_MEMBER = {"launch_template": "LaunchTemplateData"}


@dataclass(frozen=True, slots=True)
class Translation:
    items: tuple[ComputeItem, ...]
    unresolved: tuple[str, ...] = ()
    resource_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class _Candidate:
    instance_type: str
    attached: tuple[AttachedAccelerator, ...]
    path: str
    weight: float = 1.0
    own_count: float | None = None


@dataclass(slots=True)
class _SlotDraft:
    key: str
    slot: _table.Slot
    candidates: list[_Candidate] = field(default_factory=list)
    capacity: float | None = None  # None: the slot has count paths and the request gives none
    unit: str = "units"
    multiplier: float = 1.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        n = float(value)
    except (TypeError, ValueError):
        return None
    return n if math.isfinite(n) else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, str) else str(v) for v in value if v is not None]
    return [str(value)]  # a number or other scalar where a type belongs: classified as given


class _Translator:
    def __init__(self, op: _table.Operation, catalog: Catalog, lookup: Lookup | None) -> None:
        self.op = op
        self.catalog = catalog
        self.lookup = lookup
        self.unresolved: list[str] = []
        self.root: Any = None  # the parameters being read, for ``$.`` paths
        self._memo: dict[tuple[str, tuple[tuple[str, str], ...]], Mapping[str, Any] | None] = {}

    # -- references --------------------------------------------------------------------------
    def describe(self, kind: str, key: Mapping[str, str], where: str) -> Mapping[str, Any] | None:
        """The resource, or None with the reason added to ``unresolved``."""
        memo_key = (kind, tuple(sorted(key.items())))
        if memo_key in self._memo:
            return self._memo[memo_key]
        result: Mapping[str, Any] | None = None
        if self.lookup is None:
            self.unresolved.append(f"{where}: {kind} {_show(key)} cannot be read (no resolver)")
        else:
            try:
                result = self.lookup.describe(kind, key)
            except ResolutionError as exc:
                self.unresolved.append(f"{where}: {exc}")
            except Exception as exc:  # a resolver failure is decided fail-closed
                self.unresolved.append(f"{where}: reading {kind} {_show(key)} failed: {type(exc).__name__}: {exc}")
        self._memo[memo_key] = result
        return result

    def _template(self, ref: _table.TemplateRef, elem: Any, loc: str) -> list[_Candidate]:
        node = first(elem, ref.at) if ref.at else elem
        if not isinstance(node, Mapping):
            return []
        tid, name = get_ci(node, *ref.id), get_ci(node, *ref.name)
        if tid is None and name is None:
            return []
        version = get_ci(node, *ref.version)
        key = {"id" if tid is not None else "name": str(tid if tid is not None else name),
               "version": str(version) if version is not None else "$Default"}
        where = f"{loc + '.' if loc else ''}{ref.at or 'LaunchTemplate'}"
        found = self.describe("launch_template", key, where)
        if found is None:
            return []
        data = found.get("LaunchTemplateData")
        label = f"{where}({found.get('LaunchTemplateId') or _show(key)} v{found.get('VersionNumber', '?')})"
        if not isinstance(data, Mapping):
            return []
        return self._direct(_table.TEMPLATE_DATA, data, label)[0]

    # -- sources -----------------------------------------------------------------------------
    def _direct(self, source: _table.Source, elem: Any, loc: str) -> tuple[list[_Candidate], bool]:
        """Alternatives an element names itself (types, requirements, inline launch template data),
        and whether it names any (requirements admitting only plain types name something, and nothing
        accelerated: they replace the template's type, which is then not read)."""
        out: list[_Candidate] = []
        named = False
        attached = self._attached(source, elem)
        for path in source.type:
            for tloc, value in read(elem, path, where=loc):
                for i, name in enumerate(_strings(value)):
                    if not name.strip():
                        continue  # blank: not given (AWS rejects or defaults it; nothing accelerated)
                    named = True
                    where = f"{tloc}[{i}]" if isinstance(value, (list, tuple)) else tloc
                    names = expand_type(self.catalog, name) if source.families else [name]
                    out.extend(_Candidate(n, attached, where if n == name else f"{where} ~ {n}") for n in names)
        if source.requirements:
            for rloc, ir in read(elem, source.requirements, where=loc):
                named = True
                for c in expand_requirements(self.catalog, ir):
                    out.append(_Candidate(c.instance_type, attached + c.attached,
                                          f"{rloc} ~ {c.instance_type or c.why}"))
        if source.data:
            for dloc, data in read(elem, source.data, where=loc):
                found, in_data = self._direct(_table.TEMPLATE_DATA, data, dloc)
                out.extend(found)
                named = named or in_data
        return out, named

    def _one(self, source: _table.Source, elem: Any, loc: str,
             outer: tuple[_table.Source, Any, str] | None) -> list[_Candidate]:
        out, named = self._direct(source, elem, loc)
        if not named or source.union_refs:
            referenced: list[_Candidate] = []
            if source.template is not None:
                referenced.extend(self._template(source.template, elem, loc))
            if source.launch_configuration:
                referenced.extend(self._by_reference("launch_configuration", source.launch_configuration, elem, loc))
            if source.instance:
                referenced.extend(self._by_reference("instance", source.instance, elem, loc))
            attached = self._attached(source, elem) if referenced else ()
            for c in referenced:
                c.attached = attached + c.attached
            out.extend(referenced)
        if not named and not out and outer is not None:
            # An override that names nothing falls back on its config's launch template / type.
            osrc, oelem, oloc = outer
            out.extend(self._one(_table.Source(type=osrc.type, template=osrc.template, families=osrc.families),
                                 oelem, oloc, None))
        if not out:
            attached = self._attached(source, elem)
            if attached:  # accelerators alone (UpdateNotebookInstance AcceleratorTypes=[...])
                out.append(_Candidate("", attached, loc or "(request)"))
        weight = _number(first(elem, source.weight)) if source.weight else None
        own = [n for p in source.count if (n := self._count_at(elem, p)) is not None]
        for c in out:
            if weight is not None and weight > 0:
                c.weight = weight
            if own:
                c.own_count = max(own)
        return out

    def _by_reference(self, kind: str, path: str, elem: Any, loc: str) -> list[_Candidate]:
        out: list[_Candidate] = []
        for rloc, ident in read(elem, path, where=loc):
            if not isinstance(ident, str) or not ident.strip():
                continue
            arg = "name" if kind == "launch_configuration" else "id"
            found = self.describe(kind, {arg: ident.strip()}, rloc)
            if found is None:
                continue
            itype = found.get("InstanceType")
            if isinstance(itype, str) and itype.strip():
                out.append(_Candidate(itype, (), f"{rloc}({ident}).InstanceType"))
            else:
                self.unresolved.append(f"{rloc}: {kind} {ident!r} names no instance type")
        return out

    def _attached(self, source: _table.Source, elem: Any) -> tuple[AttachedAccelerator, ...]:
        out: list[AttachedAccelerator] = []
        for spec in source.attached:
            for _, entry in read(elem, spec.at):
                value = entry if not spec.type else (first(entry, spec.type) if isinstance(entry, Mapping) else None)
                if not isinstance(value, str) or not value.strip():
                    continue
                n = _number(first(entry, spec.count)) if spec.count and isinstance(entry, Mapping) else None
                out.append(AttachedAccelerator(value.strip(), n if n is not None and n > 0 else 1))
        return tuple(out)

    # -- slots -------------------------------------------------------------------------------
    def _count_at(self, scope: Any, path: str) -> float | None:
        parts = _sum_parts(path)
        found = [n for p in parts if (n := _number(first(scope, p, self.root))) is not None]
        return sum(max(n, 0.0) for n in found) if found else None

    def slots(self, slots: tuple[_table.Slot, ...], params: Mapping[str, Any]) -> list[_SlotDraft]:
        self.root = params
        drafts: list[_SlotDraft] = []
        for si, slot in enumerate(slots):
            for sloc, scope in read(params, slot.at):
                if not isinstance(scope, Mapping):
                    continue
                d = _SlotDraft(key=f"{self.op.name}:{sloc or '$'}#{si}", slot=slot)
                for source in slot.sources:
                    for eloc, elem in read(scope, source.at, where=sloc):
                        if source.when and not _when(elem, source.when):
                            continue
                        inner = list(read(elem, source.inner.at, where=eloc)) if source.inner else []
                        if source.inner is not None and inner:
                            for iloc, ie in inner:
                                d.candidates.extend(self._one(source.inner, ie, iloc, (source, elem, eloc)))
                        else:
                            d.candidates.extend(self._one(source, elem, eloc, None))
                if not d.candidates:
                    continue
                counts = [n for p in slot.count if (n := self._count_at(scope, p)) is not None]
                d.capacity = max(counts) if counts else (None if slot.count else 1.0)
                unit = first(scope, slot.unit) if slot.unit else None
                d.unit = unit if isinstance(unit, str) and unit.strip() else slot.default_unit
                mult = [n for p in slot.multiplier if (n := _number(first(scope, p, params))) is not None]
                d.multiplier = max(max(mult), 1.0) if mult else 1.0
                drafts.append(d)
        return drafts

    def accelerated(self, drafts: list[_SlotDraft]) -> bool:
        classify = self.catalog.classify_item
        return any(classify("aws", ComputeItem(c.instance_type, 1, c.attached)).accelerated
                   for d in drafts for c in d.candidates)

    def items(self, drafts: list[_SlotDraft]) -> tuple[ComputeItem, ...]:
        out: list[ComputeItem] = []
        for d in drafts:
            merged: dict[tuple[str, tuple[AttachedAccelerator, ...]], ComputeItem] = {}
            for c in d.candidates:
                item = ComputeItem(c.instance_type, self._count(d, c), c.attached, "", c.path)
                k = ("".join(c.instance_type.split()).lower(), c.attached)
                prior = merged.get(k)
                if prior is None or item.count > prior.count:
                    merged[k] = item
            choice = d.key if len(merged) > 1 else ""
            out.extend(ComputeItem(i.instance_type, i.count, i.attached, choice, i.path) for i in merged.values())
        return tuple(out)

    @staticmethod
    def _count(d: _SlotDraft, c: _Candidate) -> int:
        if c.own_count is not None:
            return math.ceil(c.own_count * d.multiplier)
        capacity = d.capacity if d.capacity is not None else 1.0
        n = instances_for(capacity, d.unit, c.weight, c.instance_type)
        return math.ceil(n * d.multiplier) + (d.slot.overshoot if n > 0 else 0)

    # -- resources ---------------------------------------------------------------------------
    def resource(self, res: _table.Resource, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        key: dict[str, str] = {}
        for arg, path in res.keys:
            value = first(params, path)
            if isinstance(value, str) and value.strip():
                key[arg] = _name_from_arn(res.kind, value.strip())
        if not key or (res.kind == "nodegroup" and len(key) < 2):
            self.unresolved.append(f"{self.op.name}: the {res.kind.replace('_', ' ')} to read is not named")
            return None
        found = self.describe(res.kind, key, self.op.name)
        if found is None:
            return None
        member = _DESCRIPTION_MEMBER.get(res.kind)
        if member is not None:
            inner = found.get(member)
            return inner if isinstance(inner, Mapping) else {}
        return found


@lru_cache(maxsize=1024)
def _sum_parts(path: str) -> tuple[str, ...]:
    """``A+B`` -> (A, B): counts given in two members (on-demand + spot) are summed."""
    return tuple(p for p in path.split("+") if p)


def _when(elem: Any, cond: tuple[str, str]) -> bool:
    path, expected = cond
    value = first(elem, path)
    if value is None:
        return False
    return True if expected == "" else isinstance(value, str) and value.strip().lower() == expected.lower()


def _show(key: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items())


def _name_from_arn(kind: str, value: str) -> str:
    # An ECS capacity provider names its group by ARN: ...:autoScalingGroup:<uuid>:autoScalingGroupName/<name>
    if kind == "asg" and value.startswith("arn:") and "autoScalingGroupName/" in value:
        return value.split("autoScalingGroupName/", 1)[1]
    return value


def _ids(op: _table.Operation, params: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for path in op.ids:
        value = first(params, path)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            out.append(str(value).strip())
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Quick:
    """The hot path of an operation whose slot names one type directly (RunInstances' InstanceType)."""

    types: tuple[str, ...]
    counts: tuple[str, ...]
    # Top-level members whose presence needs the full reading (references, attached accelerators).
    complex: frozenset[str]


def _quick_plan(op: _table.Operation) -> _Quick | None:
    if op.base is not None or op.extra or len(op.slots) != 1:
        return None
    slot = op.slots[0]
    if slot.at or slot.unit or slot.multiplier or slot.overshoot or slot.default_unit != "units":
        return None
    if any("[]" in p or "+" in p or p.startswith("$") for p in slot.count):
        return None
    types: list[str] = []
    complex_members: set[str] = set()
    for src in slot.sources:
        if (src.at or src.when or src.families or src.inner or src.requirements or src.data or src.weight
                or src.count or src.union_refs or any("[]" in t for t in src.type)):
            return None
        types.extend(src.type)
        refs = [src.launch_configuration, src.instance, *(a.at for a in src.attached),
                src.template.at if src.template is not None else ""]
        if src.template is not None and not src.template.at:
            return None  # the reference is the request itself (ModifyLaunchTemplate)
        complex_members.update(r.split(".", 1)[0].removesuffix("[]") for r in refs if r)
    return _Quick(tuple(types), slot.count, frozenset(complex_members)) if types else None


_QUICK: dict[tuple[str, str], _Quick | None] = {(op.service, op.name): _quick_plan(op) for op in _table.OPERATIONS}


def translate_quick(op: _table.Operation, params: Mapping[str, Any]) -> Translation | None:
    """The translation of a request naming exactly one type directly and nothing else; else None.

    Gives what ``translate`` gives for such a request, at a fraction of the cost. Callers use it only
    when the type is plain (``translate`` then adds nothing a decision could use).
    """
    plan = _QUICK.get((op.service, op.name))
    if plan is None or any(k in params for k in plan.complex):
        return None
    found: tuple[str, str] | None = None
    for path in plan.types:
        value = first(params, path)
        if value is None:
            continue
        if found is not None or not isinstance(value, str):
            return None
        found = (path, value)
    if found is None or not found[1].strip():
        return None
    counts = [n for p in plan.counts if (n := _number(first(params, p))) is not None]
    capacity = max(max(counts), 0.0) if counts else 1.0
    item = ComputeItem(found[1], instances_for(capacity, "units", 1.0, found[1]), (), "", found[0])
    return Translation((item,), (), _ids(op, params))


def translate(op: _table.Operation, params: Mapping[str, Any], lookup: Lookup | None,
              catalog: Catalog) -> Translation:
    """The items ``params`` of ``op`` would provision, with what could not be followed."""
    t = _Translator(op, catalog, lookup)
    if op.base is None:
        drafts = t.slots(op.slots, params)
    else:
        base = op.base
        overlay_value = first(params, base.overlay) if base.overlay else params
        overlay: Mapping[str, Any] = overlay_value if isinstance(overlay_value, Mapping) else {}
        drafts = t.slots(base.slots, overlay)
        gated = not base.when or any(present(params, p) for p in base.when)
        if gated and (not drafts or (any(d.capacity is None for d in drafts) and t.accelerated(drafts))):
            described = t.resource(base, params)
            if described is not None:
                drafts = t.slots(base.slots, deep_merge(described, overlay, base.exclusive))
            # else: what the request names is decided with its count unknown (1); the failure to read
            # the resource is in ``unresolved``, so the decision is fail-closed anyway.
    for res in op.extra:
        if res.when and not any(present(params, p) for p in res.when):
            continue
        described = t.resource(res, params)
        if described is not None:
            drafts.extend(t.slots(res.slots, described))
    return Translation(t.items(drafts), tuple(t.unresolved), _ids(op, params))
