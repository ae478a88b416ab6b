"""What a pending decision needs from a licence: its controlled accelerators, their quantity, its scope.

Pure functions of a :class:`gatekeeper.model.Decision`; no I/O.

- Controlled accelerators: those of class 3A090.a or 3A090.b, of unknown class, or named by a rule
  (the H20). A pending decision with none of them (a custom pack holding other chips) treats every
  accelerator of its accelerated items as controlled, so that nothing pending is ever licensed for free.
- Quantity: the accelerators of the controlled items, where items sharing a ``choice`` group are
  alternatives for one slot and count once, as the largest of the group. An accelerator the catalog
  cannot count (an unknown family) counts one per instance.
- Scope units: the export class for 3A090.a/.b, the chip model for anything else (a named or unknown
  chip); a case's scope key is the customer plus its sorted units, so requests for the same customer
  and the same kind of compute join one case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gatekeeper.model import CLASS_A, CLASS_B, CLASS_UNKNOWN, ClassifiedItem, Decision
from gatekeeper.workflow.model import AcceleratorLine, Licence, Scope, fmt_qty, qround

CONTROLLED_CLASSES = (CLASS_A, CLASS_B, CLASS_UNKNOWN)
LICENSABLE_CLASSES = (CLASS_A, CLASS_B)


@dataclass(frozen=True, slots=True)
class Need:
    """What one pending request needs from a licence."""

    provider: str
    account_id: str
    region: str
    accelerators: tuple[AcceleratorLine, ...]
    quantity: float

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(sorted({unit(a) for a in self.accelerators}))

    @property
    def scope_key(self) -> str:
        return scope_key(self.provider, self.account_id, self.units)

    def scope(self) -> Scope:
        """The scope a licence for this need would have (no region restriction)."""
        return scope_of(self.accelerators, self.provider)


def unit(a: AcceleratorLine) -> str:
    return a.export_class if a.export_class in LICENSABLE_CLASSES else a.model


def scope_key(provider: str, account_id: str, units: Iterable[str]) -> str:
    return f"{provider}|{account_id}|{'+'.join(sorted(set(units)))}"


def scope_of(accelerators: Iterable[AcceleratorLine], provider: str, regions: tuple[str, ...] = ()) -> Scope:
    accs = list(accelerators)
    classes = sorted({a.export_class for a in accs if a.export_class in LICENSABLE_CLASSES})
    chips = sorted({a.model for a in accs if a.export_class not in LICENSABLE_CLASSES})
    return Scope(export_classes=tuple(classes), chips=tuple(chips), providers=(provider,), regions=regions)


def _controlled(item: ClassifiedItem) -> bool:
    return any(a.export_class in CONTROLLED_CLASSES or a.named_by for a in item.accelerators)


def _lines(item: ClassifiedItem, everything: bool) -> list[AcceleratorLine]:
    out = []
    for a in item.accelerators:
        if not everything and not (a.export_class in CONTROLLED_CLASSES or a.named_by):
            continue
        # An unknown family has no per-instance count: one per instance is the floor.
        qty = a.total if a.total > 0 else float(item.item.count)
        out.append(AcceleratorLine(instance_type=item.instance_type, model=a.model, export_class=a.export_class,
                                   tpp=a.tpp, pd=a.pd, per_instance=a.per_instance, quantity=qround(qty),
                                   choice=item.item.choice, named_by=a.named_by))
    return out


def need_of(decision: Decision) -> Need:
    """The controlled accelerators and quantity of a (pending) decision."""
    accelerated = [i for i in decision.items if i.accelerated]
    controlled = [i for i in accelerated if _controlled(i)]
    everything = not controlled
    chosen = controlled or accelerated
    lines: list[AcceleratorLine] = []
    single = 0.0
    groups: dict[str, float] = {}
    for item in chosen:
        item_lines = _lines(item, everything)
        lines.extend(item_lines)
        q = sum(a.quantity for a in item_lines)
        if item.item.choice:
            groups[item.item.choice] = max(groups.get(item.item.choice, 0.0), q)
        else:
            single += q
    req = decision.request
    # The profile's account id is the normalised one (Azure subscription ids in lower case).
    return Need(provider=req.provider, account_id=decision.profile.account_id or req.account_id, region=req.region,
                accelerators=tuple(lines), quantity=qround(single + sum(groups.values())))


def uncovered(licence: Licence, need: Need) -> list[str]:
    """Why ``licence``'s scope does not cover ``need`` (empty when it does)."""
    why = []
    if licence.provider != need.provider or licence.account_id != need.account_id:
        why.append(f"is for {licence.provider} account {licence.account_id}")
    if not licence.scope.covers_place(need.provider, need.region):
        where = need.region or "an unspecified region"
        why.append(f"does not cover {need.provider} {where} (scope: {licence.scope.describe()})")
    missing = sorted({f"{a.model} ({a.export_class})" for a in need.accelerators
                      if not licence.scope.covers_accelerator(a.model, a.export_class)})
    if missing:
        why.append(f"does not cover {', '.join(missing)} (scope: {licence.scope.describe()})")
    return why


def describe_need(need: Need) -> str:
    chips = ", ".join(dict.fromkeys(f"{a.model} ({a.export_class})" for a in need.accelerators)) or "no accelerators"
    return f"{fmt_qty(need.quantity)} accelerators: {chips}"
