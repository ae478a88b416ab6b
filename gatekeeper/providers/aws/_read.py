"""The generic reader of the AWS spec: a call's parameters (or its CloudTrail record) -> ComputeItems.

``translate(op, params, lookup, catalog)`` walks the operation's slots and sources, follows references
through ``lookup`` (the resolver: read-only AWS calls, cached), expands InstanceRequirements and Batch
families, and computes worst-case counts. It never decides anything. What it cannot follow (a launch
template that does not exist, a resolver failure) is returned in ``unresolved``, with the reason, for
the engine to decide fail-closed; everything it could read is still returned, for the record.

For a call that changes an existing resource (``Operation.base``), the request alone is read first;
the resource's description is read only when needed: the request names no compute (a scaling-only
update, a refresh of the current configuration), or names accelerated compute without a count (the
group's MaxSize is then the count). A plain configuration change never costs a look-up.

The same reader serves both shapes: ``slots``/``base``/``extra`` and a path :class:`Mode` are
passed in, so the hook reads a CloudTrail record with the spec's event-shape rows and the loose mode
(case-insensitive, EC2 list wrappers), the adapter the SDK parameters exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from gatekeeper._construct import fast_new
from gatekeeper.catalog import Catalog
from gatekeeper.errors import ResolutionError
from gatekeeper.model import AttachedAccelerator, ComputeItem
from gatekeeper.providers import _spec as _table
from gatekeeper.providers._paths import EXACT, MAX_COUNT, Mode, deep_merge, get_ci
from gatekeeper.providers._paths import first as _first
from gatekeeper.providers._paths import number as _number
from gatekeeper.providers._paths import read as _read
from gatekeeper.providers.aws._requirements import expand_requirements, expand_type, instances_for
from gatekeeper.providers.aws.operations import OPERATIONS


class Lookup(Protocol):
    """Reads one existing resource; raises ResolutionError (with a readable reason) when it cannot."""

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        ...


# For these kinds the resource description proper sits one level down in what ``describe`` returns.
_DESCRIPTION_MEMBER = {"launch_template": "LaunchTemplateData"}
# A reference's description read when the Ref names no ``reads``: its instance type.
_DEFAULT_READS = _table.Source(type=("InstanceType",))


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


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, str) else str(v) for v in value if v is not None]
    return [str(value)]  # a number or other scalar where a type belongs: classified as given


class _Translator:
    def __init__(self, op: _table.Operation, catalog: Catalog, lookup: Lookup | None, mode: Mode = EXACT) -> None:
        self.op = op
        self.catalog = catalog
        self.lookup = lookup
        self.mode = mode
        self.root_mode = mode  # ``$.`` paths read the request, in the request's shape
        self.unresolved: list[str] = []
        self.root: Any = None  # the request being read, for ``$.`` paths
        self._memo: dict[tuple[str, tuple[tuple[str, str], ...]], Mapping[str, Any] | None] = {}

    def read(self, scope: Any, path: str, where: str = "") -> list[tuple[str, Any]]:
        return _read(scope, path, self.root, where, self.root_mode if path.startswith("$.") else self.mode)

    def first(self, scope: Any, path: str) -> Any:
        return _first(scope, path, self.root, self.root_mode if path.startswith("$.") else self.mode)

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

    def _key(self, ref: _table.Ref, elem: Any, rloc: str, node: Any) -> dict[str, str] | None:
        key: dict[str, str] = {}
        if ref.keys:
            if not isinstance(node, Mapping):
                return None
            for arg, spellings in ref.keys:
                value = get_ci(node, *spellings)
                if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                    key[arg] = str(value).strip()
            if not any(a in key for a in (ref.required or tuple(a for a, _ in ref.keys))):
                return None
        else:
            if not isinstance(node, str) or not node.strip():
                return None
            key[ref.value_key] = node.strip()
        for arg, path in ref.context:
            value = self.first(elem, path)
            if isinstance(value, str) and value.strip():
                key[arg] = value.strip()
        for arg, default in ref.defaults:
            key.setdefault(arg, default)
        return key

    def _follow(self, ref: _table.Ref, elem: Any, loc: str) -> list[_Candidate]:
        out: list[_Candidate] = []
        for rloc, node in self.read(elem, ref.at, where=loc):
            key = self._key(ref, elem, rloc, node)
            if key is None:
                continue
            where = rloc or ref.kind
            found = self.describe(ref.kind, key, where)
            if found is None:
                continue
            data = found.get(ref.data) if ref.data else found
            shown = key.get(ref.value_key, "") if not ref.keys else \
                str(found.get("LaunchTemplateId") or _show({k: v for k, v in key.items() if k != "version"}))
            label = f"{where}({shown}{' v' + str(found.get('VersionNumber')) if 'VersionNumber' in found else ''})"
            if not isinstance(data, Mapping):
                self.unresolved.append(f"{label}: the {ref.kind.replace('_', ' ')} describes no compute")
                continue
            reads = ref.reads or _DEFAULT_READS
            saved, self.mode = self.mode, EXACT  # a description is in the SDK's shape
            try:
                cands, named = self._direct(reads, data, label)
            finally:
                self.mode = saved
            if not named:
                if ref.reads is None:  # an instance or configuration with no type: cannot be decided
                    self.unresolved.append(f"{label}: the {ref.kind.replace('_', ' ')} names no instance type")
                continue
            counts = [n for p in ref.count if (n := _number(_first(found, p))) is not None]
            for c in cands:
                if counts and c.own_count is None:
                    c.own_count = max(counts)
            out.extend(cands)
        return out

    # -- sources -----------------------------------------------------------------------------
    def _direct(self, source: _table.Source, elem: Any, loc: str) -> tuple[list[_Candidate], bool]:
        """Alternatives an element names itself (types, requirements), and whether it names any
        (requirements admitting only plain types name something, and nothing accelerated: they
        replace the template's type, which is then not read)."""
        out: list[_Candidate] = []
        named = False
        attached = self._attached(source, elem)
        for path in source.type:
            for tloc, value in self.read(elem, path, where=loc):
                for i, name in enumerate(_strings(value)):
                    if not name.strip():
                        continue  # blank: not given (AWS rejects or defaults it; nothing accelerated)
                    named = True
                    where = f"{tloc}[{i}]" if isinstance(value, (list, tuple)) else tloc
                    names = expand_type(self.catalog, name) if source.families else [name]
                    out.extend(_Candidate(n, attached, where if n == name else f"{where} ~ {n}") for n in names)
        if source.requirements:
            for rloc, ir in self.read(elem, source.requirements, where=loc):
                named = True
                for c in expand_requirements(self.catalog, ir):
                    out.append(_Candidate(c.instance_type, attached + c.attached,
                                          f"{rloc} ~ {c.instance_type or c.why}"))
        if source.fixed and not named:
            named = True
            where = f"{loc or self.op.name} (only these types are offered)"
            out.extend(_Candidate(t, attached, where) for t in source.fixed)
        return out, named

    def _one(self, source: _table.Source, elem: Any, loc: str,
             outer: tuple[_table.Source, Any, str] | None) -> list[_Candidate]:
        out, named = self._direct(source, elem, loc)
        if not named or source.union_refs:
            referenced: list[_Candidate] = []
            for ref in source.refs:
                referenced.extend(self._follow(ref, elem, loc))
            attached = self._attached(source, elem) if referenced else ()
            for c in referenced:
                c.attached = attached + c.attached
            out.extend(referenced)
        if not named and not out and outer is not None:
            # An override that names nothing falls back on its config's launch template / type.
            osrc, oelem, oloc = outer
            out.extend(self._one(_table.Source(type=osrc.type, refs=osrc.refs, families=osrc.families),
                                 oelem, oloc, None))
        if not out:
            attached = self._attached(source, elem)
            if attached:  # accelerators alone (UpdateNotebookInstance AcceleratorTypes=[...])
                out.append(_Candidate("", attached, loc or "(request)"))
        weight = _number(self.first(elem, source.weight)) if source.weight else None
        own = [n for p in source.count if (n := self._count_at(elem, p)) is not None]
        for c in out:
            if weight is not None and weight > 0:
                c.weight = weight
            if own:
                c.own_count = max(own)
        return out

    def _attached(self, source: _table.Source, elem: Any) -> tuple[AttachedAccelerator, ...]:
        out: list[AttachedAccelerator] = []
        for spec in source.attached:
            for _, entry in self.read(elem, spec.at):
                value = entry if not spec.type else (self.first(entry, spec.type) if isinstance(entry, Mapping)
                                                     else None)
                if not isinstance(value, str) or not value.strip():
                    continue
                n = _number(self.first(entry, spec.count)) if spec.count and isinstance(entry, Mapping) else None
                out.append(AttachedAccelerator(value.strip(), n if n is not None and n > 0 else 1))
        return tuple(out)

    # -- slots -------------------------------------------------------------------------------
    def _count_at(self, scope: Any, path: str) -> float | None:
        """The largest count at ``path`` (``A+B``: the sum of the two largest at A and at B)."""
        total: float | None = None
        for part in _sum_parts(path):
            found = [n for _, v in self.read(scope, part) if (n := _number(v)) is not None]
            if found:
                total = (total or 0.0) + max(max(found), 0.0)
        return total

    def slots(self, slots: tuple[_table.Slot, ...], params: Any, root: Any = None) -> list[_SlotDraft]:
        self.root = params if root is None else root
        drafts: list[_SlotDraft] = []
        for si, slot in enumerate(slots):
            for sloc, scope in self.read(params, slot.at):
                d = _SlotDraft(key=f"{self.op.name}:{sloc or '$'}#{si}", slot=slot)
                for source in slot.sources:
                    for eloc, elem in self.read(scope, source.at, where=sloc):
                        if source.when and not self._when(elem, source.when):
                            continue
                        inner = list(self.read(elem, source.inner.at, where=eloc)) if source.inner else []
                        if source.inner is not None and inner:
                            for iloc, ie in inner:
                                d.candidates.extend(self._one(source.inner, ie, iloc, (source, elem, eloc)))
                        else:
                            d.candidates.extend(self._one(source, elem, eloc, None))
                if not d.candidates:
                    continue
                if slot.tally:
                    d.capacity = float(len(self.read(scope, slot.tally)))
                else:
                    counts = [n for p in slot.count if (n := self._count_at(scope, p)) is not None]
                    d.capacity = max(counts) if counts else (None if slot.count else 1.0)
                unit = self.first(scope, slot.unit) if slot.unit else None
                d.unit = unit if isinstance(unit, str) and unit.strip() else slot.default_unit
                mult = [n for p in slot.multiplier if (n := self._count_at(scope, p)) is not None]
                d.multiplier = max(max(mult), 1.0) if mult else 1.0
                drafts.append(d)
        return drafts

    def _when(self, elem: Any, cond: tuple[str, str]) -> bool:
        path, expected = cond
        value = self.first(elem, path)
        if value is None:
            return False
        return True if expected == "" else isinstance(value, str) and value.strip().lower() == expected.lower()

    def accelerated(self, drafts: list[_SlotDraft]) -> bool:
        return any(accelerated(self.catalog, ComputeItem(c.instance_type, 1, c.attached))
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
        # Capped: a count beyond any real request (MaxCount=1e308) is decided as the cap, and the
        # record stays serialisable; the decision is the same (the class, not the size, decides).
        if c.own_count is not None:
            return min(math.ceil(min(c.own_count * d.multiplier, MAX_COUNT)), MAX_COUNT)
        capacity = min(d.capacity if d.capacity is not None else 1.0, float(MAX_COUNT))
        n = instances_for(capacity, d.unit, c.weight, c.instance_type)
        return min(math.ceil(min(n * d.multiplier, MAX_COUNT)) + (d.slot.overshoot if n > 0 else 0), MAX_COUNT)

    # -- resources ---------------------------------------------------------------------------
    def resource(self, res: _table.Existing, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        key: dict[str, str] = {}
        for arg, path in res.keys:
            value = _first(params, path, None, self.mode)
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


def _align(over: Mapping[str, Any], like: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` with its member names spelt as ``like`` spells them (matched case-insensitively);
    a member ``like`` lacks takes ``like``'s style (PascalCase for EC2 and Auto Scaling)."""
    spelling = {k.lower(): k for k in like if isinstance(k, str)}
    pascal = any(isinstance(k, str) and k[:1].isupper() for k in like)
    out: dict[str, Any] = {}
    for key, value in over.items():
        if not isinstance(key, str):
            continue
        name = spelling.get(key.lower()) or (key[:1].upper() + key[1:] if pascal else key)
        prior = like.get(name)
        out[name] = _align(value, prior) if isinstance(value, Mapping) and isinstance(prior, Mapping) else value
    return out


def accelerated(catalog: Catalog, item: ComputeItem) -> bool:
    """Is this item accelerated compute? The one answer (the catalog's classification) every layer asks."""
    return catalog.classify_item("aws", item).accelerated


@lru_cache(maxsize=1024)
def _sum_parts(path: str) -> tuple[str, ...]:
    """``A+B`` -> (A, B): counts given in two members (on-demand + spot) are summed."""
    return tuple(p for p in path.split("+") if p)


def _show(key: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items())


def _name_from_arn(kind: str, value: str) -> str:
    # An ECS capacity provider names its group by ARN: ...:autoScalingGroup:<uuid>:autoScalingGroupName/<name>
    if kind == "asg" and value.startswith("arn:") and "autoScalingGroupName/" in value:
        return value.split("autoScalingGroupName/", 1)[1]
    return value


def _ids(op: _table.Operation, params: Mapping[str, Any], mode: Mode = EXACT) -> tuple[str, ...]:
    out = []
    for path in op.ids:
        for value in (v for _, v in _read(params, path, params, "", mode)):
            for one in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(one, (str, int)) and not isinstance(one, bool) and str(one).strip():
                    out.append(str(one).strip())
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class _Quick:
    """The hot path of an operation whose slot names one type directly (RunInstances' InstanceType)."""

    types: tuple[str, ...]
    counts: tuple[str, ...]
    # Top-level members whose presence needs the full reading (references, attached accelerators).
    complex: frozenset[str]


def _quick_plan(op: _table.Operation) -> _Quick | None:
    if op.template is not None or op.base is not None or op.extra or len(op.slots) != 1:
        return None
    slot = op.slots[0]
    if slot.at or slot.unit or slot.multiplier or slot.overshoot or slot.tally or slot.default_unit != "units":
        return None
    if any("[]" in p or "+" in p or "|" in p or p.startswith("$") for p in slot.count):
        return None
    types: list[str] = []
    complex_members: set[str] = set()
    for src in slot.sources:
        if (src.at or src.when or src.families or src.inner or src.requirements or src.weight or src.fixed
                or src.count or src.union_refs or any("[]" in t or "|" in t for t in src.type)):
            return None
        if any(not r.at for r in src.refs):
            return None  # the reference is the request itself (ModifyLaunchTemplate)
        types.extend(src.type)
        refs = [*(r.at for r in src.refs), *(a.at for a in src.attached)]
        complex_members.update(r.split(".", 1)[0].removesuffix("[]") for r in refs if r)
    return _Quick(tuple(types), slot.count, frozenset(complex_members)) if types else None


_QUICK: dict[tuple[str, str], _Quick | None] = {(op.service, op.name): _quick_plan(op) for op in OPERATIONS}


def translate_quick(op: _table.Operation, params: Mapping[str, Any]) -> Translation | None:
    """The translation of a request naming exactly one type directly and nothing else; else None.

    # INVARIANT: whenever it answers, it answers what ``translate`` answers (items, counts, paths,
    # resource ids), plain or accelerated, so the adapter reads a request once: this, else
    # ``translate``. tests/adapters/aws/test_quick_reading.py holds the two equal on every
    # operation of the spec.
    """
    plan = _QUICK.get((op.service, op.name))
    if plan is None or any(k in params for k in plan.complex):
        return None
    found: tuple[str, str] | None = None
    for path in plan.types:
        value = _first(params, path)
        if value is None:
            continue
        if found is not None or not isinstance(value, str):
            return None
        found = (path, value)
    if found is None or not found[1].strip():
        return None
    counts = [n for p in plan.counts if (n := _number(_first(params, p))) is not None]
    capacity = min(max(max(counts), 0.0), float(MAX_COUNT)) if counts else 1.0
    item = _new_item(found[1], instances_for(capacity, "units", 1.0, found[1]), (), "", found[0])
    return _new_translation((item,), (), _ids(op, params) if op.ids else ())


# The quick reading runs on every guarded call: its two objects are built without the frozen
# dataclasses' __setattr__ toll (see gatekeeper._construct).
_new_item = fast_new(ComputeItem)
_new_translation = fast_new(Translation)


def translate(op: _table.Operation, params: Mapping[str, Any], lookup: Lookup | None, catalog: Catalog, *,
              slots: tuple[_table.Slot, ...] | None = None, base: _table.Existing | None = None,
              extra: tuple[_table.Existing, ...] | None = None, mode: Mode = EXACT) -> Translation:
    """The items ``params`` of ``op`` would provision, with what could not be followed.

    ``slots``, ``base`` and ``extra`` replace the operation's own (the event-shape rows), read in ``mode``.
    """
    if op.template is not None:  # a stack: its template's compute resources, each read with this reader
        from gatekeeper.providers.aws import cloudformation

        items, unresolved = cloudformation.translate(op, params, lookup, catalog, translate, mode)
        return Translation(items, unresolved, _ids(op, params, mode))
    t = _Translator(op, catalog, lookup, mode)
    op_slots = op.slots if slots is None else slots
    op_base = op.base if slots is None and base is None else base
    op_extra = op.extra if extra is None else extra
    if op_base is None:
        drafts = t.slots(op_slots, params)
        named = bool(drafts)
    else:
        if op_base.overlay is None:
            overlay: Mapping[str, Any] = {}
        else:
            value = _first(params, op_base.overlay, None, mode) if op_base.overlay else params
            overlay = value if isinstance(value, Mapping) else {}
        drafts = t.slots(op_slots, params) if op_slots else t.slots(op_base.slots, overlay, params)
        named = bool(drafts)
        gated = not op_base.when or any(_read(params, p, None, "", mode) for p in op_base.when)
        if gated and (op_base.always or not drafts
                      or (any(d.capacity is None for d in drafts) and t.accelerated(drafts))):
            described = t.resource(op_base, params)
            if described is not None:
                if mode.ignore_case:  # an event's lowerCamel members applied over the SDK-shape description
                    overlay = _align(overlay, described)
                saved, t.mode = t.mode, EXACT  # a description is in the SDK's shape (``$.`` reads the request)
                try:
                    drafts = t.slots(op_base.slots, deep_merge(described, overlay, op_base.exclusive), params)
                finally:
                    t.mode = saved
            # else: what the request names is decided with its count unknown (1); the failure to read
            # the resource is in ``unresolved``, so the decision is fail-closed anyway.
    for res in op_extra:
        if res.when and not any(_read(params, p, None, "", mode) for p in res.when):
            continue
        if res.fallback and named:
            continue  # the request names its own compute: the inherited default does not apply
        described = t.resource(res, params)
        if described is not None:
            saved, t.mode = t.mode, EXACT
            try:
                drafts.extend(t.slots(res.slots, described, params))
            finally:
                t.mode = saved
    return Translation(t.items(drafts), tuple(t.unresolved), _ids(op, params, mode))
