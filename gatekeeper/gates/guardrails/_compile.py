"""What the packs decide for each customer on file, as sets the clouds' guardrails can name.

For every customer profile of a provider, every machine type of the catalog (and, for Google Cloud,
every separately attached accelerator type) is decided by the engine exactly as a request for one
machine would be on the given day, with no region. The types decided pending or deny are *controlled*
for that customer; a licence on file whose scope covers all of a type's accelerators turns the type
into an *exception* bounded by the licence's dates and regions (the cloud's guardrail cannot count
a licence's quantity: the wrapper and the hooks still draw it down).

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
class Guard:
    """One customer's controlled compute: what its guardrail denies, and the licensed exceptions."""

    provider: str
    account_id: str
    customer: str
    denied: tuple[str, ...]  # machine types, sorted
    denied_accelerators: tuple[str, ...]  # attached accelerator types (Google Cloud), sorted
    exceptions: tuple[Exception_, ...]
    rules: tuple[str, ...]  # PACK/RULE ids that made something controlled

    @property
    def empty(self) -> bool:
        return not (self.denied or self.denied_accelerators or self.exceptions)


def _controlled(engine: Engine, profile: CustomerProfile, provider: str, item: ComputeItem,
                on: date) -> tuple[Outcome, tuple[str, ...], tuple[tuple[str, str], ...]]:
    request = ProvisioningRequest(provider, profile.account_id, (item,), source="guardrails")
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
    return Guard(provider, profile.account_id, profile.legal_name or profile.account_id,
                 tuple(n for n in denied if n not in excepted), tuple(n for n in attached if n not in excepted),
                 tuple(exceptions), tuple(sorted(rules)))


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
