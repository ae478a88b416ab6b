"""Packs compiled once into predicates; the engine only calls them.

Country lists and group names are expanded to frozensets here, chip names normalised, dates
intersected, so that evaluating a rule is a few set look-ups (cedar-py re-parsed per call; we don't).

Customer predicates read a :class:`Subject`, the facts of a CustomerProfile computed once per
evaluation (its countries, whether it is foreign, its open screening lists) rather than once per rule.
Predicates are plain closures combined without generators: the engine calls a dozen of them per
controlled request, and a generator expression costs more than the set look-up it wraps.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from pathlib import Path
from typing import TypeVar

from gatekeeper.catalog import Catalog, default_catalog
from gatekeeper.errors import PolicyError
from gatekeeper.jurisdictions import Jurisdictions, default_jurisdictions
from gatekeeper.model import CLASS_UNKNOWN, ClassifiedItem, CustomerProfile, Outcome
from gatekeeper.policy.loader import read_packs
from gatekeeper.policy.schema import CustomerCondition, ItemCondition, Pack, RegionCondition, Rule

ItemPredicate = Callable[[ClassifiedItem], bool]
RegionPredicate = Callable[[str | None], bool]

FAR_FUTURE = date(9999, 12, 31)
_NO_LISTS: frozenset[str] = frozenset()


class Subject:
    """The facts of one CustomerProfile that customer predicates read, computed once per evaluation.

    ``countries`` keeps empty strings (an unknown country): no expanded country set contains "",
    so membership tests need no filtering.
    """

    __slots__ = ("countries", "country", "foreign", "headquarters_country", "known", "kyc_status", "lists",
                 "profile", "ultimate_parent_country")

    def __init__(self, profile: CustomerProfile) -> None:
        self.profile = profile
        self.country = c = profile.country
        self.headquarters_country = profile.headquarters_country
        self.ultimate_parent_country = profile.ultimate_parent_country
        self.countries = (c, profile.headquarters_country, profile.ultimate_parent_country)
        self.kyc_status = profile.kyc_status
        self.known = profile.known
        self.foreign = c != "US" or not profile.known
        hits = profile.screening_hits
        self.lists = frozenset(h.list_code.upper() for h in hits if not h.cleared) if hits else _NO_LISTS


CustomerPredicate = Callable[[Subject], bool]
P = TypeVar("P")


def _all_of(checks: Sequence[Callable[[P], bool]]) -> Callable[[P], bool]:
    """The conjunction of ``checks`` as one callable, without a generator per call."""
    if not checks:
        return lambda _: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)
    ordered = tuple(checks)

    def all_of(x: P) -> bool:
        for check in ordered:  # noqa: SIM110 (a generator per call costs more than the checks)
            if not check(x):
                return False
        return True
    return all_of


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
    # True when ``item`` asks nothing beyond "accelerated" (``item: {}``): the engine only hands it
    # accelerated items, so it skips the call.
    any_item: bool = False
    # ``reason`` pre-parsed into (literal text, placeholder or None) pairs; empty when a placeholder
    # carries a format spec or conversion, which the engine then leaves to str.format_map.
    reason_parts: tuple[tuple[str, str | None], ...] = ()

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


def _item_checks(cond: ItemCondition, catalog: Catalog) -> list[ItemPredicate]:
    """The item condition's checks beyond "accelerated", each a closure with no generator inside."""
    checks: list[ItemPredicate] = []
    if cond.export_class is not None:
        classes = frozenset(cond.export_class)

        def export_class(i: ClassifiedItem) -> bool:
            if i.export_class in classes:
                return True
            for a in i.accelerators:  # noqa: SIM110 (loops, not generators: see the module docstring)
                if a.export_class in classes:
                    return True
            return False
        checks.append(export_class)
    if cond.chips is not None:
        names: set[str] = set()
        for c in cond.chips:
            try:
                names.add(catalog.chip(c).model)
            except KeyError:
                raise PolicyError(f"unknown chip {c!r}", field="when.item.chips") from None
        chips = frozenset(names)

        def chip(i: ClassifiedItem) -> bool:
            for a in i.accelerators:  # noqa: SIM110 (loops, not generators: see the module docstring)
                if a.model in chips:
                    return True
            return False
        checks.append(chip)
    if cond.named_by_rule is not None:
        want = cond.named_by_rule

        def named(i: ClassifiedItem) -> bool:
            for a in i.accelerators:
                if a.named_by:
                    return want
            return not want
        checks.append(named)
    if cond.confirmed is not None:
        want_c = cond.confirmed

        def confirmed(i: ClassifiedItem) -> bool:
            if i.export_class == CLASS_UNKNOWN:
                return not want_c
            for a in i.accelerators:
                if not a.confirmed:
                    return not want_c
            return want_c
        checks.append(confirmed)
    if cond.min_tpp is not None:
        floor = cond.min_tpp

        def min_tpp(i: ClassifiedItem) -> bool:
            for a in i.accelerators:  # noqa: SIM110 (loops, not generators: see the module docstring)
                if a.tpp is not None and a.tpp >= floor:
                    return True
            return False
        checks.append(min_tpp)
    return checks


def _accelerated(i: ClassifiedItem) -> bool:
    return i.accelerated


def _customer_predicate(cond: CustomerCondition, j: Jurisdictions) -> CustomerPredicate:
    checks: list[CustomerPredicate] = []
    f = "when.customer."
    # Screening lists first: most customers have no open hit, so those rules end at one set test.
    if cond.screening_lists is not None:
        lists = frozenset(x.upper() for x in cond.screening_lists)
        checks.append(lambda s: not lists.isdisjoint(s.lists))

    def member(attr: str, field: str, negate: bool) -> None:
        values = getattr(cond, field)
        if values is None:
            return
        members = _countries(j, values, f + field)
        get = attrgetter(attr)
        if negate:
            checks.append(lambda s: get(s) not in members)
        else:
            checks.append(lambda s: get(s) in members)

    member("country", "country_in", False)
    member("country", "country_not_in", True)
    member("headquarters_country", "headquarters_in", False)
    member("headquarters_country", "headquarters_not_in", True)
    member("ultimate_parent_country", "parent_in", False)
    member("ultimate_parent_country", "parent_not_in", True)
    if cond.any_country_in is not None:
        any_s = _countries(j, cond.any_country_in, f + "any_country_in")
        checks.append(lambda s: not any_s.isdisjoint(s.countries))
    if cond.no_country_in is not None:
        no_s = _countries(j, cond.no_country_in, f + "no_country_in")
        checks.append(lambda s: no_s.isdisjoint(s.countries))
    if cond.kyc_status is not None:
        kyc = frozenset(cond.kyc_status)
        checks.append(lambda s: s.kyc_status in kyc)
    if cond.foreign is not None:
        want_f = cond.foreign
        checks.append(lambda s: s.foreign == want_f)
    if cond.known is not None:
        want_k = cond.known
        checks.append(lambda s: s.known == want_k)
    return _all_of(checks)


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
    return _all_of(checks)


def _reason_parts(reason: str) -> tuple[tuple[str, str | None], ...]:
    parts: list[tuple[str, str | None]] = []
    for text, name, spec, conversion in string.Formatter().parse(reason):
        if spec or conversion or name == "":
            return ()
        parts.append((text, name))
    return tuple(parts)


def compile_rule(pack: Pack, rule: Rule, catalog: Catalog, j: Jurisdictions) -> CompiledRule:
    start = max(pack.effective_from, rule.effective_from or pack.effective_from)
    ends = [d for d in (pack.effective_until, rule.effective_until) if d is not None]
    item_checks = _item_checks(rule.when.item, catalog)
    return CompiledRule(
        pack_id=pack.id,
        pack_version=pack.version,
        rule_id=rule.id,
        outcome=Outcome.parse(rule.decision),
        citation=rule.citation,
        reason=rule.reason,
        start=start,
        end=min(ends) if ends else FAR_FUTURE,
        item=_all_of([_accelerated, *item_checks]),
        customer=_customer_predicate(rule.when.customer, j) if rule.when.customer else None,
        region=_region_predicate(rule.when.region, j) if rule.when.region else None,
        any_item=not item_checks,
        reason_parts=_reason_parts(rule.reason),
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
