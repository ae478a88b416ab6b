"""Packs compiled once into predicates; the engine only calls them.

Country lists and group names are expanded to frozensets here, chip names normalised, dates
intersected, so that evaluating a rule is a few set look-ups (cedar-py re-parsed per call; we don't).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from gatekeeper.catalog import Catalog, default_catalog
from gatekeeper.errors import PolicyError
from gatekeeper.jurisdictions import Jurisdictions, default_jurisdictions
from gatekeeper.model import CLASS_UNKNOWN, ClassifiedItem, CustomerProfile, Outcome
from gatekeeper.policy.loader import read_packs
from gatekeeper.policy.schema import CustomerCondition, ItemCondition, Pack, RegionCondition, Rule

ItemPredicate = Callable[[ClassifiedItem], bool]
CustomerPredicate = Callable[[CustomerProfile], bool]
RegionPredicate = Callable[[str | None], bool]

FAR_FUTURE = date(9999, 12, 31)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    pack_id: str
    pack_version: str
    rule_id: str
    outcome: Outcome
    citation: str
    reason: str
    start: date
    end: date  # exclusive
    item: ItemPredicate
    customer: CustomerPredicate | None
    region: RegionPredicate | None

    def in_force(self, on: date) -> bool:
        return self.start <= on < self.end


@dataclass(frozen=True, slots=True)
class PackInfo:
    pack: Pack
    file: str

    @property
    def id(self) -> str:
        return self.pack.id


class PolicySet:
    """Compiled packs; immutable, shared between threads. ``simulate`` ignores effective dates."""

    def __init__(self, packs: Sequence[PackInfo], rules: Sequence[CompiledRule], *, simulate: bool = False):
        self.packs = tuple(packs)
        self.rules = tuple(rules)
        self.simulate = simulate
        self._by_date: dict[date, tuple[CompiledRule, ...]] = {}

    def active(self, on: date) -> tuple[CompiledRule, ...]:
        if self.simulate:
            return self.rules
        hit = self._by_date.get(on)
        if hit is None:
            hit = tuple(r for r in self.rules if r.in_force(on))
            if len(self._by_date) > 64:  # callers pass few distinct dates; keep it bounded
                self._by_date.clear()
            self._by_date[on] = hit
        return hit

    def pack(self, pack_id: str) -> PackInfo:
        for p in self.packs:
            if p.id == pack_id:
                return p
        raise KeyError(pack_id)


def _countries(j: Jurisdictions, tokens: list[str], where: str) -> frozenset[str]:
    try:
        return j.expand(tokens)
    except KeyError as exc:
        raise PolicyError(f"unknown country or group {exc.args[0]!r}", field=where) from None


def _item_predicate(cond: ItemCondition, catalog: Catalog) -> ItemPredicate:
    checks: list[ItemPredicate] = [lambda i: i.accelerated]
    if cond.export_class is not None:
        classes = frozenset(cond.export_class)
        checks.append(lambda i: i.export_class in classes
                      or any(a.export_class in classes for a in i.accelerators))
    if cond.chips is not None:
        names: set[str] = set()
        for c in cond.chips:
            try:
                names.add(catalog.chip(c).model)
            except KeyError:
                raise PolicyError(f"unknown chip {c!r}", field="when.item.chips") from None
        chips = frozenset(names)
        checks.append(lambda i: any(a.model in chips for a in i.accelerators))
    if cond.named_by_rule is not None:
        want = cond.named_by_rule
        checks.append(lambda i: any(bool(a.named_by) for a in i.accelerators) == want)
    if cond.confirmed is not None:
        want_c = cond.confirmed

        def confirmed(i: ClassifiedItem) -> bool:
            ok = i.export_class != CLASS_UNKNOWN and all(a.confirmed for a in i.accelerators)
            return ok == want_c
        checks.append(confirmed)
    if cond.min_tpp is not None:
        floor = cond.min_tpp
        checks.append(lambda i: any(a.tpp is not None and a.tpp >= floor for a in i.accelerators))
    if len(checks) == 1:
        return checks[0]
    ordered = tuple(checks)
    return lambda i: all(c(i) for c in ordered)


def _customer_predicate(cond: CustomerCondition, j: Jurisdictions) -> CustomerPredicate:
    checks: list[CustomerPredicate] = []
    f = "when.customer."

    def member(attr: str, field: str, negate: bool) -> None:
        values = getattr(cond, field)
        if values is None:
            return
        s = _countries(j, values, f + field)
        if negate:
            checks.append(lambda p: getattr(p, attr) not in s)
        else:
            checks.append(lambda p: getattr(p, attr) in s)

    member("country", "country_in", False)
    member("country", "country_not_in", True)
    member("headquarters_country", "headquarters_in", False)
    member("headquarters_country", "headquarters_not_in", True)
    member("ultimate_parent_country", "parent_in", False)
    member("ultimate_parent_country", "parent_not_in", True)
    if cond.any_country_in is not None:
        any_s = _countries(j, cond.any_country_in, f + "any_country_in")
        checks.append(lambda p: any(c in any_s for c in p.countries))
    if cond.no_country_in is not None:
        no_s = _countries(j, cond.no_country_in, f + "no_country_in")
        checks.append(lambda p: not any(c in no_s for c in p.countries))
    if cond.kyc_status is not None:
        kyc = frozenset(cond.kyc_status)
        checks.append(lambda p: p.kyc_status in kyc)
    if cond.foreign is not None:
        want_f = cond.foreign
        checks.append(lambda p: p.foreign == want_f)
    if cond.known is not None:
        want_k = cond.known
        checks.append(lambda p: p.known == want_k)
    if cond.screening_lists is not None:
        lists = frozenset(x.upper() for x in cond.screening_lists)
        checks.append(lambda p: any(h.list_code.upper() in lists for h in p.open_hits))
    ordered = tuple(checks)
    return lambda p: all(c(p) for c in ordered)


def _region_predicate(cond: RegionCondition, j: Jurisdictions) -> RegionPredicate:
    checks: list[RegionPredicate] = []
    if cond.country_in is not None:
        s_in = _countries(j, cond.country_in, "when.region.country_in")
        checks.append(lambda c: c is not None and c in s_in)
    if cond.country_not_in is not None:
        s_out = _countries(j, cond.country_not_in, "when.region.country_not_in")
        checks.append(lambda c: c is not None and c not in s_out)
    if cond.unknown is not None:
        want = cond.unknown
        checks.append(lambda c: (c is None) == want)
    ordered = tuple(checks)
    return lambda c: all(ch(c) for ch in ordered)


def compile_rule(pack: Pack, rule: Rule, catalog: Catalog, j: Jurisdictions) -> CompiledRule:
    start = max(pack.effective_from, rule.effective_from or pack.effective_from)
    ends = [d for d in (pack.effective_until, rule.effective_until) if d is not None]
    return CompiledRule(
        pack_id=pack.id,
        pack_version=pack.version,
        rule_id=rule.id,
        outcome=Outcome.parse(rule.decision),
        citation=rule.citation,
        reason=rule.reason,
        start=start,
        end=min(ends) if ends else FAR_FUTURE,
        item=_item_predicate(rule.when.item, catalog),
        customer=_customer_predicate(rule.when.customer, j) if rule.when.customer else None,
        region=_region_predicate(rule.when.region, j) if rule.when.region else None,
    )


def compile_packs(
    packs: Iterable[tuple[Pack, str]],
    *,
    catalog: Catalog | None = None,
    jurisdictions: Jurisdictions | None = None,
    simulate: bool = False,
) -> PolicySet:
    cat = catalog or default_catalog()
    j = jurisdictions or default_jurisdictions()
    infos: list[PackInfo] = []
    rules: list[CompiledRule] = []
    for pack, file in packs:
        infos.append(PackInfo(pack, file))
        for rule in pack.rules:
            try:
                rules.append(compile_rule(pack, rule, cat, j))
            except PolicyError as exc:
                # Re-raise with the file and rule named; the line is found from the file text.
                raise PolicyError(exc.detail, file=file, line=_rule_line(file, rule.id), rule=rule.id,
                                  field=exc.field) from None
    return PolicySet(infos, rules, simulate=simulate)


def _rule_line(file: str, rule_id: str) -> int | None:
    try:
        for n, line in enumerate(Path(file).read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip().lstrip("- ").strip()
            if stripped.startswith("id:") and stripped[3:].strip().strip("'\"") == rule_id:
                return n
    except OSError:
        return None
    return None


def load_policies(
    paths: Iterable[str | Path],
    *,
    catalog: Catalog | None = None,
    jurisdictions: Jurisdictions | None = None,
    simulate: bool = False,
) -> PolicySet:
    """Read, validate and compile every pack under ``paths``; raises PolicyError, changes nothing."""
    return compile_packs(read_packs(list(paths)), catalog=catalog, jurisdictions=jurisdictions, simulate=simulate)
