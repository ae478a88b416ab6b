"""Packs compiled once into predicates; the engine only calls them.

Country lists and group names are expanded to frozensets here, chip names normalised, dates
intersected, so that evaluating a rule is a few set look-ups (cedar-py re-parsed per call; we don't).

Each rule's conditions are compiled into Python functions: a condition becomes an expression
(``s.kyc_status in _k3``, ``not _k4.isdisjoint(s.countries)``), the expressions of a rule are joined
with ``and`` into one function, and the engine makes one call per rule (``CompiledRule.matches``).
Policy values are bound as constants in the functions' namespace, never written into their source.
This is the technique dataclasses and namedtuple use to build their methods; it matters here because
the engine tries a dozen rules per controlled request and a Python call costs as much as the set
look-up it would wrap.

Country groups have dated memberships (Cambodia was in D:5 from 2021-12-09 to 2026-02-03): a rule
naming a group is compiled once per stretch of dates over which its groups do not change, each copy
with the members of its stretch and in force only then. A decision, or a replay of an old record,
so uses the groups in force on the request's date at no cost per request.

Customer conditions read a :class:`Subject`, the facts of a CustomerProfile computed once per
evaluation (its countries, whether it is foreign, its open screening lists) rather than once per rule.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

from gatekeeper._log import in_function_host
from gatekeeper.catalog import Catalog, default_catalog
from gatekeeper.errors import PolicyError
from gatekeeper.jurisdictions import DAWN, Jurisdictions, default_jurisdictions
from gatekeeper.model import CLASS_UNKNOWN, ClassifiedItem, CustomerProfile, Outcome

if TYPE_CHECKING:
    # A pack reaches the compiler as the validated model (schema: the CLI, the tests) or as its plain
    # form (plain: a function host's bundle); both have the fields read here.
    from gatekeeper.policy import plain, schema

    Pack = schema.Pack | plain.Pack
    Rule = schema.Rule | plain.Rule
    ItemCondition = schema.ItemCondition | plain.ItemCondition
    CustomerCondition = schema.CustomerCondition | plain.CustomerCondition
    RegionCondition = schema.RegionCondition | plain.RegionCondition

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
                 "owners", "profile", "ultimate_parent_country")

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
        # (share, lists) per owner on some list: what the affiliates-rule condition adds up.
        self.owners = tuple((o.share, frozenset(o.lists)) for o in profile.owners if o.lists)


CustomerPredicate = Callable[[Subject], bool]
# (subject, region country, the request's accelerated items) -> does the rule match?
RuleMatcher = Callable[[Subject, str | None, tuple[ClassifiedItem, ...]], bool]
# (subject, region country, the request's accelerated items) -> indexes of the matching rules
SetMatcher = Callable[[Subject, str | None, tuple[ClassifiedItem, ...]], list[int]]


@dataclass(frozen=True, slots=True)
class RuleSource:
    """A rule's conditions as Python expressions, and the constants (``_k0``...) they name.

    ``customer`` reads ``s`` (a Subject), ``region`` reads ``c`` (the region's country or None),
    ``item`` reads ``i`` (an accelerated ClassifiedItem); None means "no such condition" (for the
    item: any accelerated item).
    """

    customer: str | None
    region: str | None
    item: str | None
    constants: tuple[tuple[str, object], ...]

    def renamed(self, prefix: str) -> tuple[str | None, str | None, str | None, dict[str, object]]:
        """The expressions with every constant renamed ``<prefix>_kN``, and the constants so named."""
        names = {name: prefix + name for name, _ in self.constants}

        def sub(expr: str | None) -> str | None:
            return None if expr is None else _CONST.sub(lambda m: names[m.group(0)], expr)
        return sub(self.customer), sub(self.region), sub(self.item), {names[n]: v for n, v in self.constants}


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
    # The three conditions as one function over the request's accelerated items (non-empty). Same
    # expressions as item/customer/region, compiled together; the engine calls PolicySet.matcher().
    matches: RuleMatcher
    source: RuleSource = field(compare=False)
    # ``reason`` pre-parsed into (literal text, placeholder or None) pairs; empty when a placeholder
    # carries a format spec or conversion, which the engine then leaves to str.format_map.
    reason_parts: tuple[tuple[str, str | None], ...] = ()
    # The stretch of dates whose country-group memberships this copy of the rule was compiled with.
    groups_from: date = DAWN
    groups_until: date = FAR_FUTURE
    # ``applies_to: all`` rules: the countries whose subjects (or regions) the rule can match, which
    # the engine's short path tests before running the rule on a plain request.
    plain_customer: frozenset[str] | None = None
    plain_region: frozenset[str] | None = None
    review_policy: str = ""
    basis: str = ""
    # The rule's own dates (start/end above are also cut at country-group changes); None: open.
    rule_from: date | None = None
    rule_until: date | None = None
    suspended: tuple[tuple[date, date], ...] = ()  # the pack's suspensions (end exclusive)
    # A set one of the subject's countries must be in for the customer condition to hold (the smallest
    # of its positive country conditions; None: none), by which a large rule set is dispatched.
    customer_countries: frozenset[str] | None = None

    def in_force(self, on: date) -> bool:
        if not self.start <= on < self.end:
            return False
        return not any(a <= on < b for a, b in self.suspended)

    def groups_hold(self, on: date) -> bool:
        """True when ``on`` falls in the stretch whose group members this copy carries."""
        return self.groups_from <= on < self.groups_until


@dataclass(frozen=True, slots=True)
class PackInfo:
    pack: Pack
    file: str

    @property
    def id(self) -> str:
        return self.pack.id


class PolicySet:
    """Compiled packs; immutable, shared between threads.

    ``simulate`` ignores the packs' and rules' effective dates, never the country groups' dates.
    ``plain_countries`` and ``plain_region_countries``: every country an ``applies_to: all`` rule can
    match on any date, the short path's test for a plain request (empty: no such rule).
    """

    def __init__(self, packs: Sequence[PackInfo], rules: Sequence[CompiledRule], *, simulate: bool = False):
        self.packs = tuple(packs)
        self.rules = tuple(rules)
        self.simulate = simulate
        self.plain_countries = frozenset().union(*(r.plain_customer for r in rules if r.plain_customer))
        self.plain_region_countries = frozenset().union(*(r.plain_region for r in rules if r.plain_region))
        self._plain = tuple(k for k, r in enumerate(self.rules)
                            if r.plain_customer is not None or r.plain_region is not None)
        self._by_date: dict[date, tuple[tuple[CompiledRule, ...], SetMatcher]] = {}
        self._plain_by_date: dict[date, tuple[tuple[CompiledRule, ...], SetMatcher]] = {}
        self._by_rules: dict[tuple[int, ...], tuple[tuple[CompiledRule, ...], SetMatcher]] = {}

    def active(self, on: date) -> tuple[CompiledRule, ...]:
        return self.matcher(on)[0]

    def matcher(self, on: date, *, plain: bool = False) -> tuple[tuple[CompiledRule, ...], SetMatcher]:
        """The rules in force ``on`` and one compiled function that tries them all, in order.

        The function returns the indexes (into those rules) of the rules that match: one call per
        request instead of one per rule. Built once per date, then cached. ``plain``: only the rules
        that decide plain requests too (``applies_to: all``).
        """
        by_date = self._plain_by_date if plain else self._by_date
        hit = by_date.get(on)
        if hit is None:
            candidates = self._plain if plain else range(len(self.rules))
            if self.simulate:
                chosen = tuple(k for k in candidates if self.rules[k].groups_hold(on))
            else:
                chosen = tuple(k for k in candidates if self.rules[k].in_force(on) and self.rules[k].groups_hold(on))
            # Compiled once per distinct set of rules in force (a handful: the effective windows),
            # not once per date, so that a replay over a year of records compiles a few times.
            hit = self._by_rules.get(chosen)
            if hit is None:
                rules = tuple(self.rules[k] for k in chosen)
                hit = self._by_rules[chosen] = (rules, _set_matcher(rules))
            if len(by_date) > 1024:  # callers pass few distinct dates; keep it bounded
                by_date.clear()
            by_date[on] = hit
        return hit

    def pack(self, pack_id: str) -> PackInfo:
        for p in self.packs:
            if p.id == pack_id:
                return p
        raise KeyError(pack_id)


def _countries(j: Jurisdictions, tokens: Sequence[str], where: str, on: date | None = None) -> frozenset[str]:
    try:
        return j.expand(tokens, on)
    except KeyError as exc:
        raise PolicyError(f"unknown country or group {exc.args[0]!r}", field=where) from None


# -- helpers the generated item expressions call (loops: no generator per call) ------------------------
def _class_in(i: ClassifiedItem, classes: frozenset[str]) -> bool:
    if i.export_class in classes:
        return True
    for a in i.accelerators:  # noqa: SIM110 - a loop, not a generator: see the module docstring
        if a.export_class in classes:
            return True
    return False


def _chip_in(i: ClassifiedItem, chips: frozenset[str]) -> bool:
    for a in i.accelerators:  # noqa: SIM110
        if a.model in chips:
            return True
    return False


def _named(i: ClassifiedItem) -> bool:
    for a in i.accelerators:  # noqa: SIM110
        if a.named_by:
            return True
    return False


def _confirmed(i: ClassifiedItem) -> bool:
    if i.export_class == CLASS_UNKNOWN:
        return False
    for a in i.accelerators:  # noqa: SIM110
        if not a.confirmed:
            return False
    return True


def _tpp_at_least(i: ClassifiedItem, floor: float) -> bool:
    for a in i.accelerators:  # noqa: SIM110
        if a.tpp is not None and a.tpp >= floor:
            return True
    return False


def _tpp_below(i: ClassifiedItem, ceiling: float) -> bool:
    if not i.accelerators:
        return False
    for a in i.accelerators:  # noqa: SIM110
        if a.tpp is None or a.tpp >= ceiling:
            return False
    return True


def _bandwidth_at_least(i: ClassifiedItem, floor: float) -> bool:
    for a in i.accelerators:  # noqa: SIM110
        if a.memory_bandwidth is not None and a.memory_bandwidth >= floor:
            return True
    return False


def _bandwidth_below(i: ClassifiedItem, ceiling: float) -> bool:
    if not i.accelerators:
        return False
    for a in i.accelerators:  # noqa: SIM110
        if a.memory_bandwidth is None or a.memory_bandwidth >= ceiling:
            return False
    return True


def _bandwidth_published(i: ClassifiedItem) -> bool:
    for a in i.accelerators:
        if a.memory_bandwidth is None:
            return False
    return bool(i.accelerators)


def _owned_share(s: Subject, lists: frozenset[str]) -> float:
    """The percentage of the subject held, together, by owners on any of ``lists``."""
    total = 0.0
    for share, owner_lists in s.owners:
        if not lists.isdisjoint(owner_lists):
            total += share
    return total


def _owner_on(s: Subject, lists: frozenset[str]) -> bool:
    for share, owner_lists in s.owners:  # noqa: SIM110
        if share > 0 and not lists.isdisjoint(owner_lists):
            return True
    return False


_HELPERS = {f.__name__: f for f in (
    _owner_on, _owned_share, _class_in, _chip_in, _named, _confirmed, _tpp_at_least, _tpp_below, _bandwidth_at_least,
    _bandwidth_below, _bandwidth_published)}


_CONST = re.compile(r"\b_k\d+\b")


class _Source:
    """Collects the expressions of one rule and the constants they name."""

    def __init__(self) -> None:
        self.constants: dict[str, object] = {}

    def const(self, value: object) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def function(self, name: str, params: str, body: str) -> Callable[..., Any]:
        return _define(name, params, body, self.constants)


# The rules' functions compiled when a function's package was built, by their source text (the
# bundle carries the packs' rules compiled: policy/bundle.py, ``use_rule_code``); a text not in it is
# compiled here. And the texts ``_define`` sees while ``recording`` (the bundle's build).
_rule_code: dict[str, CodeType] = {}
_recording: set[str] | None = None


def compile_source(text: str) -> CodeType:
    """What ``exec(text)`` in ``_define`` compiles (the same file name and this module's compiler flags)."""
    return compile(text, "<string>", "exec")


def use_rule_code(table: dict[str, CodeType]) -> None:
    """Run the code in ``table`` for the rule function whose source text is its key."""
    _rule_code.update(table)


def recorded_rule_code(packs: Iterable[tuple[Pack, str]]) -> dict[str, CodeType]:
    """The rule functions of ``packs`` compiled, by source text (what a bundle carries)."""
    global _recording
    texts: set[str] = set()
    _recording = texts
    try:
        compile_packs(packs)
    finally:
        _recording = None
    return {t: compile_source(t) for t in sorted(texts)}


def _define(name: str, params: str, body: str, constants: dict[str, object]) -> Callable[..., Any]:
    """``def name(params): body`` with ``constants`` and the helpers as its globals."""
    ns: dict[str, object] = {**_HELPERS, **constants}
    text = f"def {name}({params}):\n{body}"
    if _recording is not None:
        _recording.add(text)
    exec(_rule_code.get(text, text), ns)  # policy values are in ns, never in the source text
    fn: Callable[..., Any] = ns[name]  # type: ignore[assignment]
    return fn


def _match_lines(customer: str | None, region: str | None, item: str | None, hit: str, indent: str) -> list[str]:
    """Statements that run ``hit`` when the conditions hold for some accelerated item in ``items``."""
    guard = " and ".join(f"({e})" for e in (customer, region) if e is not None)
    lines = []
    if guard:
        lines.append(f"{indent}if {guard}:")
        indent += "    "
    if item is None:  # ``item: {}``: any accelerated item, and only accelerated items are passed
        lines.append(f"{indent}if items:")
        lines.append(f"{indent}    {hit}")
    else:
        lines += [f"{indent}for i in items:", f"{indent}    if {item}:", f"{indent}        {hit}",
                  f"{indent}        break"]
    return lines


# From this many rules in force, the set matcher first narrows them by the subject's countries.
DISPATCH_MIN_RULES = 40
_DISPATCH_CACHE_MAX = 4096  # distinct (country, headquarters, parent) triples kept per matcher


def _set_matcher(rules: Sequence[CompiledRule]) -> SetMatcher:
    """One function trying every rule of ``rules`` in order; returns the indexes of those that match."""
    if len(rules) < DISPATCH_MIN_RULES:
        return _straight_matcher(rules, range(len(rules)))
    return _country_dispatch(rules)


def _straight_matcher(rules: Sequence[CompiledRule], indexes: Iterable[int]) -> SetMatcher:
    """One generated function trying ``rules[k]`` for each ``k`` of ``indexes`` in order; returns the ``k`` matched."""
    constants: dict[str, object] = {}
    lines = ["    out = []"]
    for k in indexes:
        customer, region, item, named = rules[k].source.renamed(f"_r{k}")
        constants.update(named)
        lines += _match_lines(customer, region, item, f"out.append({k})", "    ")
    lines.append("    return out")
    fn: SetMatcher = _define("match_all", "s, c, items", "\n".join(lines) + "\n", constants)
    return fn


def _country_dispatch(rules: Sequence[CompiledRule]) -> SetMatcher:
    """A set matcher that tries only the rules a subject's countries leave possible.

    A rule with a positive country condition (``country_in``, ``any_country_in``...) cannot match a
    subject none of whose countries is in that set, so it is skipped without being tried. The rules
    left for a subject's countries are compiled into one straight matcher, kept per countries triple
    (a few hundred in practice, bounded) and shared by triples that leave the same rules. The result
    is the straight matcher's over all the rules: the same indexes, in the same order.
    """
    always = [k for k, r in enumerate(rules) if r.customer_countries is None]
    by_country: dict[str, list[int]] = {}
    for k, r in enumerate(rules):
        for country in r.customer_countries or ():
            by_country.setdefault(country, []).append(k)
    by_triple: dict[tuple[str, ...], SetMatcher] = {}
    by_rules: dict[tuple[int, ...], SetMatcher] = {}

    def compiled_for(countries: tuple[str, ...]) -> SetMatcher:
        chosen = set(always)
        for country in countries:
            chosen.update(by_country.get(country, ()))
        key = tuple(sorted(chosen))
        fn = by_rules.get(key)
        if fn is None:
            if len(by_rules) >= _DISPATCH_CACHE_MAX:
                by_rules.clear()
            fn = by_rules[key] = _straight_matcher(rules, key)
        if len(by_triple) >= _DISPATCH_CACHE_MAX:
            by_triple.clear()
        by_triple[countries] = fn
        return fn

    def match_all(s: Subject, c: str | None, items: tuple[ClassifiedItem, ...]) -> list[int]:
        fn = by_triple.get(s.countries)
        if fn is None:
            fn = compiled_for(s.countries)
        return fn(s, c, items)
    return match_all


def _item_terms(cond: ItemCondition, catalog: Catalog, src: _Source) -> list[str]:
    """Expressions over ``i`` (an accelerated ClassifiedItem), one per item condition."""
    terms: list[str] = []
    if cond.export_class is not None:
        terms.append(f"_class_in(i, {src.const(frozenset(cond.export_class))})")
    if cond.chips is not None:
        names: set[str] = set()
        for c in cond.chips:
            try:
                names.add(catalog.chip(c).model)
            except KeyError:
                raise PolicyError(f"unknown chip {c!r}", field="when.item.chips") from None
        terms.append(f"_chip_in(i, {src.const(frozenset(names))})")
    if cond.named_by_rule is not None:
        terms.append("_named(i)" if cond.named_by_rule else "not _named(i)")
    if cond.confirmed is not None:
        terms.append("_confirmed(i)" if cond.confirmed else "not _confirmed(i)")
    if cond.min_tpp is not None:
        terms.append(f"_tpp_at_least(i, {src.const(float(cond.min_tpp))})")
    if cond.max_tpp is not None:
        terms.append(f"_tpp_below(i, {src.const(float(cond.max_tpp))})")
    if cond.min_memory_bandwidth is not None:
        terms.append(f"_bandwidth_at_least(i, {src.const(float(cond.min_memory_bandwidth))})")
    if cond.max_memory_bandwidth is not None:
        terms.append(f"_bandwidth_below(i, {src.const(float(cond.max_memory_bandwidth))})")
    if cond.memory_bandwidth_published is not None:
        terms.append("_bandwidth_published(i)" if cond.memory_bandwidth_published else "not _bandwidth_published(i)")
    return terms


def _customer_terms(cond: CustomerCondition, j: Jurisdictions, src: _Source, on: date | None = None) -> list[str]:
    """Expressions over ``s`` (a Subject), one per customer condition."""
    terms: list[str] = []
    f = "when.customer."
    # Screening lists first: most customers have no open hit, so those rules end at one set test.
    if cond.screening_lists is not None:
        lists = frozenset(x.upper() for x in cond.screening_lists)
        terms.append(f"not {src.const(lists)}.isdisjoint(s.lists)")
    for attr, name, op in (("country", "country_in", "in"), ("country", "country_not_in", "not in"),
                            ("headquarters_country", "headquarters_in", "in"),
                            ("headquarters_country", "headquarters_not_in", "not in"),
                            ("ultimate_parent_country", "parent_in", "in"),
                            ("ultimate_parent_country", "parent_not_in", "not in")):
        values = getattr(cond, name)
        if values is not None:
            terms.append(f"s.{attr} {op} {src.const(_countries(j, values, f + name, on))}")
    if cond.any_country_in is not None:
        terms.append(f"not {src.const(_countries(j, cond.any_country_in, f + 'any_country_in', on))}"
                     ".isdisjoint(s.countries)")
    if cond.no_country_in is not None:
        terms.append(f"{src.const(_countries(j, cond.no_country_in, f + 'no_country_in', on))}.isdisjoint(s.countries)")
    if cond.any_country_not_in is not None:
        # An unknown country ("") is in no set: it counts as outside, the restrictive reading.
        terms.append(f"not {src.const(_countries(j, cond.any_country_not_in, f + 'any_country_not_in', on))}"
                     ".issuperset(s.countries)")
    if cond.owned_by is not None:
        lists = frozenset(x.upper() for x in cond.owned_by.lists)
        floor = src.const(float(cond.owned_by.min_share))
        terms.append(f"(s.owners and _owned_share(s, {src.const(lists)}) >= {floor})")
        if cond.owned_by.any_owner_on is not None:
            terms.append(f"_owner_on(s, {src.const(frozenset(x.upper() for x in cond.owned_by.any_owner_on))})")
    if cond.kyc_status is not None:
        terms.append(f"s.kyc_status in {src.const(frozenset(cond.kyc_status))}")
    if cond.foreign is not None:
        terms.append("s.foreign" if cond.foreign else "not s.foreign")
    if cond.known is not None:
        terms.append("s.known" if cond.known else "not s.known")
    return terms


def _region_terms(cond: RegionCondition, j: Jurisdictions, src: _Source, on: date | None = None) -> list[str]:
    """Expressions over ``c`` (the region's country, None when unknown)."""
    terms: list[str] = []
    if cond.country_in is not None:
        terms.append(f"c in {src.const(_countries(j, cond.country_in, 'when.region.country_in', on))}")
    if cond.country_not_in is not None:
        terms.append(f"(c is not None and c not in "
                     f"{src.const(_countries(j, cond.country_not_in, 'when.region.country_not_in', on))})")
    if cond.unknown is not None:
        terms.append("c is None" if cond.unknown else "c is not None")
    return terms


def _all(terms: list[str]) -> str:
    return " and ".join(f"({t})" for t in terms) if terms else "True"


def _reason_parts(reason: str) -> tuple[tuple[str, str | None], ...]:
    parts: list[tuple[str, str | None]] = []
    for text, name, spec, conversion in string.Formatter().parse(reason):
        if spec or conversion or name == "":
            return ()
        parts.append((text, name))
    return tuple(parts)


def _group_tokens(rule: Rule) -> list[str]:
    """Every country or group name a rule's conditions use."""
    tokens: list[str] = []
    for cond in (rule.when.customer, rule.when.region):
        if cond is not None:
            for value in vars(cond).values():  # a model's fields, or a plain record's
                if isinstance(value, (list, tuple)):
                    tokens += [v for v in value if isinstance(v, str)]
    return tokens


def rule_windows(rule: Rule, j: Jurisdictions) -> list[tuple[date, date]]:
    """The stretches of dates over which the groups a rule names keep the same members."""
    bounds = [DAWN, *j.change_dates(_group_tokens(rule)), FAR_FUTURE]
    return [(a, b) for a, b in pairwise(bounds) if a < b]


def compile_rule(pack: Pack, rule: Rule, catalog: Catalog, j: Jurisdictions,
                 window: tuple[date, date] = (DAWN, FAR_FUTURE)) -> CompiledRule:
    """One rule compiled with the country groups in force over ``window`` (and in force only then)."""
    start = max(pack.effective_from, rule.effective_from or pack.effective_from)
    ends = [d for d in (pack.effective_until, rule.effective_until) if d is not None]
    on = None if window == (DAWN, FAR_FUTURE) else window[0]
    src = _Source()
    item_terms = _item_terms(rule.when.item, catalog, src)
    customer_terms = _customer_terms(rule.when.customer, j, src, on) if rule.when.customer else None
    region_terms = _region_terms(rule.when.region, j, src, on) if rule.when.region else None
    source = RuleSource(None if customer_terms is None else _all(customer_terms),
                        None if region_terms is None else _all(region_terms),
                        _all(item_terms) if item_terms else None, tuple(src.constants.items()))
    body = "\n".join([*_match_lines(source.customer, source.region, source.item, "return True", "    "),
                      "    return False"]) + "\n"
    plain_customer, plain_region = _plain_sets(rule, j, on) if rule.applies_to == "all" else (None, None)
    return CompiledRule(
        pack_id=pack.id,
        pack_version=pack.version,
        rule_id=rule.id,
        outcome=Outcome.parse(rule.decision),
        citation=rule.citation,
        reason=rule.reason,
        start=max(start, window[0]),
        end=min([*ends, window[1]]),
        item=src.function("item", "i", f"    return i.accelerated and {_all(item_terms)}\n"),
        customer=(src.function("customer", "s", f"    return {_all(customer_terms)}\n")
                  if customer_terms is not None else None),
        region=src.function("region", "c", f"    return {_all(region_terms)}\n") if region_terms is not None else None,
        matches=src.function("matches", "s, c, items", body),
        source=source,
        reason_parts=_reason_parts(rule.reason),
        groups_from=window[0],
        groups_until=window[1],
        plain_customer=plain_customer,
        plain_region=plain_region,
        review_policy=rule.review_policy or "",
        basis=pack.basis,
        rule_from=start,
        rule_until=min(ends) if ends else None,
        suspended=tuple((x.effective_from, x.effective_until) for x in pack.suspended),
        customer_countries=_needed_countries(rule.when.customer, j, on),
    )


def _needed_countries(cond: CustomerCondition | None, j: Jurisdictions, on: date | None) -> frozenset[str] | None:
    """The smallest of a customer condition's positive country sets: its terms are all required, so a
    subject that matches has a country in each of them (None: the condition names no such set)."""
    if cond is None:
        return None
    sets = [j.expand(v, on) for v in (cond.country_in, cond.headquarters_in, cond.parent_in, cond.any_country_in)
            if v is not None]
    return min(sets, key=len) if sets else None


def _plain_sets(rule: Rule, j: Jurisdictions, on: date | None) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The countries an ``applies_to: all`` rule can match: its positive customer country conditions
    (any of them holds only for a subject with a country in their union), else its region's."""
    c = rule.when.customer
    if c is not None:
        tokens = [t for v in (c.country_in, c.headquarters_in, c.parent_in, c.any_country_in) if v for t in v]
        if tokens:
            return j.expand(tokens, on), None
    region = rule.when.region
    assert region is not None and region.country_in is not None  # schema.Rule._scope
    return None, j.expand(region.country_in, on)


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
                rules += [compile_rule(pack, rule, cat, j, w) for w in rule_windows(rule, j)]
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
    """Read, validate and compile every pack under ``paths``; raises PolicyError, changes nothing.

    In a function host the packs come from a bundle validated when the package was built, when it
    vouches for exactly these files (``bundle``); else, and everywhere else, they are validated here.
    """
    # Compiling reads no test cases: a bundle's are left out (a function host's cold start).
    packs = pack_sources(paths, cases=False)
    return compile_packs(packs, catalog=catalog, jurisdictions=jurisdictions, simulate=simulate)


def pack_sources(paths: Iterable[str | Path], *, bundle: Path | None = None,
                 cases: bool = True) -> Sequence[tuple[Pack, str]]:
    """The validated packs under ``paths``, each with its file: from ``bundle`` when given (PolicyError
    when it cannot vouch for them); in a function host from its bundle when that vouches for them;
    else read and validated from the files. What ``load_policies`` compiles and ``policy test`` runs.
    ``cases=False``: a pack from a bundle may come without its test cases (the files' always have them)."""
    chosen = list(paths)
    if bundle is not None:
        from gatekeeper.policy.bundle import packs_in

        return packs_in(bundle, chosen)
    packs: Sequence[tuple[Pack, str]] | None = None
    if in_function_host():
        from gatekeeper.policy.bundle import bundled_packs

        packs = bundled_packs(chosen, cases=cases)
    if packs is None:
        from gatekeeper.policy.loader import read_packs

        packs = read_packs(chosen)
    return packs
