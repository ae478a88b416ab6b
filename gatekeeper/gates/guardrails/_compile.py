"""What the packs decide for each customer on file, as sets the clouds' guardrails can name.

For every customer profile of a provider, every machine type of the catalog (and, for Google Cloud,
every separately attached accelerator type) is decided by the engine exactly as a request for one
machine would be on the given day, with no region. The types decided pending or deny are *controlled*
for that customer. For AWS and Azure, whose guardrails can name a region, each type is also decided
in every known region and in an unknown one: what is controlled only there (a controlled destination,
an unknown region) becomes a :class:`Regional` part of the guard. A licence on file whose scope
covers all of a type's accelerators turns the type into an *exception* bounded by the licence's dates
and regions (the cloud's guardrail cannot count a licence's quantity: the wrapper and the hooks still
draw it down).

The engine is pure, so this is a what-if: nothing is recorded and no case is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from gatekeeper.model import AttachedAccelerator, ComputeItem, CustomerProfile, Outcome, ProvisioningRequest

if TYPE_CHECKING:
    from gatekeeper.engine import Engine
    from gatekeeper.workflow.model import Licence

# The plain host a separately attached accelerator is decided on (its own class is what matters).
_HOSTS = {"gcp": "n1-standard-8"}
# Clouds whose guardrails can name the region of a request (SCP aws:RequestedRegion, Azure location);
# a GCP custom constraint's CEL sees no region, so region-only rules stay with the wrapper and hooks.
_REGIONAL = frozenset({"aws", "azure"})
_UNKNOWN_REGION = "zz-gatekeeper-unknown-1"  # a region in no table: what the packs decide for unknown ones


@dataclass(frozen=True, slots=True)
class Exception_:
    """Types a licence allows: until ``until`` (inclusive), from ``since``, in ``regions`` (empty: any)."""

    licence: str
    types: tuple[str, ...]
    accelerators: tuple[str, ...]
    since: date
    until: date
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Regional:
    """Types controlled only where the request lands: in ``regions`` or, with ``unknown``, in any
    region gatekeeper does not know (``regions`` then lists the known ones, outside which it applies)."""

    regions: tuple[str, ...]
    types: tuple[str, ...]
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Guard:
    """One customer's controlled compute: what its guardrail denies, and the licensed exceptions."""

    provider: str
    account_id: str
    customer: str
    denied: tuple[str, ...]  # machine types, sorted
    denied_accelerators: tuple[str, ...]  # attached accelerator types (Google Cloud), sorted
    exceptions: tuple[Exception_, ...]
    rules: tuple[str, ...]  # PACK/RULE ids that made something controlled
    regional: tuple[Regional, ...] = ()  # controlled in some regions only (destinations, unknown regions)

    @property
    def empty(self) -> bool:
        return not (self.denied or self.denied_accelerators or self.exceptions or self.regional)


def _controlled(engine: Engine, profile: CustomerProfile, provider: str, item: ComputeItem,
                on: date, region: str = "") -> tuple[Outcome, tuple[str, ...], tuple[tuple[str, str], ...]]:
    request = ProvisioningRequest(provider, profile.account_id, (item,), region=region, source="guardrails")
    ev = engine.evaluate(request, profile, on=on)
    accs = tuple((a.model, a.export_class) for i in ev.items for a in i.accelerators)
    return ev.outcome, tuple(f"{m.pack_id}/{m.rule_id}" for m in ev.matches if m.outcome >= Outcome.PENDING), accs


def compile_guard(engine: Engine, profile: CustomerProfile, licences: list[Licence], on: date) -> Guard:
    provider = profile.provider
    denied: list[str] = []
    attached: list[str] = []
    rules: set[str] = set()
    covered: dict[str, list[str]] = {}  # licence number -> types / accelerator types it covers
    live = [lc for lc in licences if lc.state(on) in ("active", "not yet valid") and
            (not lc.scope.providers or provider in lc.scope.providers)]

    def place(name: str, outcome: Outcome, accs: tuple[tuple[str, str], ...], into: list[str]) -> None:
        # A licence settles "pending" only: a deny (an embargo, a listed party) has no exception.
        if outcome == Outcome.PENDING:
            for lc in live:
                if accs and all(lc.scope.covers_accelerator(m, c) for m, c in accs):
                    covered.setdefault(lc.number, []).append(name)
        into.append(name)

    for t in sorted(engine.catalog.types(provider), key=lambda t: t.name):
        outcome, why, accs = _controlled(engine, profile, provider, ComputeItem(t.name, 1), on)
        if outcome >= Outcome.PENDING:
            rules.update(why)
            place(t.name, outcome, accs, denied)
    host = _HOSTS.get(provider)
    if host is not None:
        for acc in sorted(engine.catalog.accelerator_types(provider)):
            outcome, why, accs = _controlled(engine, profile, provider,
                                             ComputeItem(host, 1, (AttachedAccelerator(acc, 1),)), on)
            if outcome >= Outcome.PENDING:
                rules.update(why)
                place(acc, outcome, accs, attached)
    exceptions = []
    for lc in live:
        names = covered.get(lc.number, [])
        if names:
            exceptions.append(Exception_(
                lc.number, tuple(n for n in names if n in denied), tuple(n for n in names if n in attached),
                lc.valid_from, lc.valid_until, tuple(lc.scope.regions)))
    excepted = {n for e in exceptions for n in (*e.types, *e.accelerators)}
    regional = _regional(engine, profile, live, on, set(denied) | excepted, rules) if provider in _REGIONAL else ()
    return Guard(provider, profile.account_id, profile.legal_name or profile.account_id,
                 tuple(n for n in denied if n not in excepted), tuple(n for n in attached if n not in excepted),
                 tuple(exceptions), tuple(sorted(rules)), regional)


def _regional(engine: Engine, profile: CustomerProfile, live: list[Licence], on: date, everywhere: set[str],
              rules: set[str]) -> tuple[Regional, ...]:
    """Per known region (and for an unknown one), the types controlled there beyond ``everywhere``,
    grouped by identical sets; a licence whose scope covers the type and the region takes it out.

    The packs see a region only through its country, so one region per country is decided (and one
    unknown region); only accelerated types can be controlled, so plain ones are not decided at all.
    """
    provider = profile.provider
    known = sorted(engine.jurisdictions.regions.get(provider, {}))
    names = [t.name for t in sorted(engine.catalog.types(provider), key=lambda t: t.name)
             if t.name not in everywhere and engine.catalog.classify_item(provider, ComputeItem(t.name, 1)).accelerated]
    by_country: dict[str | None, list[str]] = {}
    for region in known:
        by_country.setdefault(engine.region_country(provider, region), []).append(region)
    decided: dict[str, list[tuple[str, Outcome, tuple[tuple[str, str], ...]]]] = {}  # representative -> hits
    for region in (*(regions[0] for regions in by_country.values()), _UNKNOWN_REGION):
        hits = []
        for name in names:
            outcome, why, accs = _controlled(engine, profile, provider, ComputeItem(name, 1), on, region)
            if outcome >= Outcome.PENDING:
                hits.append((name, outcome, accs))
                rules.update(why)
        decided[region] = hits

    def extra(region: str, hits: list[tuple[str, Outcome, tuple[tuple[str, str], ...]]]) -> tuple[str, ...]:
        return tuple(name for name, outcome, accs in hits if not (
            outcome == Outcome.PENDING and region != _UNKNOWN_REGION and any(
                accs and all(lc.scope.covers_accelerator(m, c) for m, c in accs)
                and lc.scope.covers_place(provider, region) for lc in live if lc.state(on) == "active")))

    by_set: dict[tuple[str, ...], list[str]] = {}
    for regions in by_country.values():
        for region in regions:  # licences name regions, not countries: each region of the country apart
            types = extra(region, decided[regions[0]])
            if types:
                by_set.setdefault(types, []).append(region)
    out = [Regional(tuple(sorted(regions)), types) for types, regions in sorted(by_set.items(), key=lambda kv: kv[1])]
    unknown = extra(_UNKNOWN_REGION, decided[_UNKNOWN_REGION])
    if unknown:
        out.append(Regional(tuple(known), unknown, unknown=True))
    return tuple(out)


def compile_guards(engine: Engine, profiles: list[CustomerProfile], licences: list[Licence],
                   on: date) -> list[Guard]:
    """A Guard per customer with anything controlled, in account order."""
    out = []
    for p in sorted(profiles, key=lambda p: p.account_id):
        mine = [lc for lc in licences if lc.provider == p.provider and lc.account_id == p.account_id]
        g = compile_guard(engine, p, mine, on)
        if not g.empty:
            out.append(g)
    return out
