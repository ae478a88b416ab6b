"""The pure policy engine: (request, profile, compiled policies, date) -> outcome and matched rules.

No I/O, no clock of its own, deterministic: rules are tried in pack order, then rule order, and the
most restrictive outcome wins (allow < flag < pending < deny). Licences and cases are not its business:
the service consults them after the engine has spoken.

# INVARIANT: a request with no accelerated item and nothing unresolved is allowed before any rule
# is looked at; that is the hot path and costs a catalog dict look-up per item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from gatekeeper._construct import fast_new
from gatekeeper.catalog import Catalog, default_catalog
from gatekeeper.jurisdictions import Jurisdictions, default_jurisdictions
from gatekeeper.model import (
    ClassifiedItem,
    CustomerProfile,
    Outcome,
    ProvisioningRequest,
    RuleMatch,
)
from gatekeeper.policy.compiled import CompiledRule, PolicySet, Subject

UNRESOLVED_RULE = "gatekeeper.unresolved"
UNKNOWN_REGION_RULE = "gatekeeper.unknown-region"
PROVIDER_ACCOUNT_RULE = "gatekeeper.provider-account"
ENGINE_PACK = "gatekeeper"


@dataclass(frozen=True, slots=True)
class Evaluation:
    outcome: Outcome
    matches: tuple[RuleMatch, ...]
    items: tuple[ClassifiedItem, ...]
    region_country: str | None

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(m.reason for m in self.matches)


# The hot path builds these without the frozen-dataclass __setattr__ toll (see gatekeeper._construct).
_new_evaluation = fast_new(Evaluation)
_new_match = fast_new(RuleMatch)


def _accelerated_items(items: tuple[ClassifiedItem, ...]) -> tuple[ClassifiedItem, ...]:
    return tuple([i for i in items if i.accelerated])


def _joined(values: list[str]) -> str:
    return ", ".join(dict.fromkeys(values)) or "none"


def _countries(f: _Facts) -> str:
    p = f.profile
    seen: list[str] = []
    for c in (p.country, p.headquarters_country, p.ultimate_parent_country):
        if c and c not in seen:
            seen.append(c)
    return "/".join(seen) or "unknown"


def _chips(f: _Facts) -> str:
    acc = f.accelerated
    if len(acc) == 1 and len(acc[0].accelerators) == 1:  # the usual request: one type, one chip
        return acc[0].accelerators[0].model or "none"
    return _joined([a.model for i in acc for a in i.accelerators])


def _export_class(f: _Facts) -> str:
    acc = f.accelerated
    if len(acc) == 1:
        return acc[0].export_class or "none"
    return _joined([i.export_class for i in acc])


def _instance_types(f: _Facts) -> str:
    acc = f.accelerated
    if len(acc) == 1:
        return acc[0].instance_type or "none"
    return _joined([i.instance_type for i in acc])


# Reason placeholders (schema.REASON_FIELDS) -> how to compute them; a reason names only a few.
_FACT_MAKERS: dict[str, Callable[[_Facts], str]] = {
    "customer": lambda f: f.profile.legal_name or f"account {f.profile.account_id}",
    "account": lambda f: f.profile.account_id,
    "country": lambda f: f.profile.country or "unknown",
    "headquarters": lambda f: f.profile.headquarters_country or "unknown",
    "parent": lambda f: f.profile.ultimate_parent_country or "unknown",
    "countries": _countries,
    "kyc_status": lambda f: f.profile.kyc_status,
    "region": lambda f: f.request.region or "unspecified",
    "region_country": lambda f: f.region_country or "unknown",
    "chips": _chips,
    "export_class": _export_class,
    "instance_types": _instance_types,
    "lists": lambda f: _joined([f"{h.list_code} {h.name}" for h in f.profile.open_hits]),
}


class _Facts:
    """What reason placeholders are computed from: the request, its customer, its accelerated items."""

    __slots__ = ("accelerated", "profile", "region_country", "request")
    request: ProvisioningRequest
    profile: CustomerProfile
    accelerated: tuple[ClassifiedItem, ...]
    region_country: str | None

    def __init__(self, request: ProvisioningRequest, profile: CustomerProfile,
                 accelerated: tuple[ClassifiedItem, ...], region_country: str | None) -> None:
        self.request, self.profile, self.accelerated, self.region_country = (request, profile, accelerated,
                                                                             region_country)

    def render(self, rule: CompiledRule) -> str:
        parts = rule.reason_parts
        if not parts:  # a placeholder with a format spec or conversion: let str.format do it
            return rule.reason.format_map(_FactsMap(self))
        # Pre-parsed at compile time (str.format_map would parse the template on every call), and
        # only the placeholders the reason names are computed.
        makers = _FACT_MAKERS
        return "".join([text if name is None else text + makers[name](self) for text, name in parts])


class _FactsMap(dict[str, str]):
    """The facts as a mapping for str.format_map; an unknown placeholder stays a KeyError."""

    __slots__ = ("facts",)

    def __init__(self, facts: _Facts) -> None:
        super().__init__()
        self.facts = facts

    def __missing__(self, key: str) -> str:
        value = self[key] = _FACT_MAKERS[key](self.facts)
        return value


def _provider_account(request: ProvisioningRequest) -> RuleMatch:
    key = {"aws": "account_id", "azure": "subscription", "gcp": "project"}.get(request.provider, "account_id")
    return RuleMatch(PROVIDER_ACCOUNT_RULE, ENGINE_PACK, "1", Outcome.DENY,
                     f"[{request.provider}] provider_accounts",
                     f"{request.account_id} is one of the provider's own accounts and no customer is named: name "
                     f"the customer with gatekeeper.acting_for(provider={request.provider!r}, account_id=...) or "
                     f"{request.provider}.protect(client, acting_for=...) (hooks: [hooks] account_map), "
                     f"or remove it from [{request.provider}] provider_accounts ({key})")


class Engine:
    """Evaluates requests against one compiled policy set. Thread-safe; build once, share."""

    def __init__(
        self,
        policies: PolicySet,
        catalog: Catalog | None = None,
        jurisdictions: Jurisdictions | None = None,
        *,
        fail_closed: bool = True,
        provider_accounts: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.policies = policies
        # A provider's own accounts (``[aws|azure|gcp] provider_accounts``): never decided as the subject.
        self.provider_accounts: Mapping[str, frozenset[str]] = provider_accounts or {}
        self.catalog = catalog or default_catalog()
        self.jurisdictions = jurisdictions or default_jurisdictions()
        self.fail_closed = fail_closed
        # (provider, region) -> country; bounded, since regions come from callers.
        self._regions: dict[tuple[str, str], str | None] = {}

    def classify(self, request: ProvisioningRequest) -> tuple[ClassifiedItem, ...]:
        classify, provider, items = self.catalog.classify_item, request.provider, request.items
        if len(items) == 1:
            return (classify(provider, items[0]),)
        return tuple([classify(provider, item) for item in items])

    def evaluate(
        self,
        request: ProvisioningRequest,
        profile: CustomerProfile,
        *,
        on: date,
        items: tuple[ClassifiedItem, ...] | None = None,
    ) -> Evaluation:
        """Decide ``request`` for ``profile`` under the rules in force ``on`` that day.

        The day is an input: the engine never reads the clock (replays and tests decide any day).
        """
        if items is None:
            req_items = request.items
            if len(req_items) == 1:  # inlined classify() for the usual single-item request
                items = (self.catalog.classify_item(request.provider, req_items[0]),)
            else:
                items = self.classify(request)
        for i in items:
            if i.accelerated:
                break
        else:
            if not request.unresolved:
                return _new_evaluation(Outcome.ALLOW, (), items, None)
        region_country = self.region_country(request.provider, request.region) if request.region else None
        day = on
        matches: list[RuleMatch] = []
        if request.unresolved:
            matches.append(self._unresolved(request))
        accelerated = items if len(items) == 1 and items[0].accelerated else _accelerated_items(items)
        if accelerated or request.unresolved:
            account = request.account_id.lower() if request.provider == "azure" else request.account_id
            if account in self.provider_accounts.get(request.provider, ()):
                matches.append(_provider_account(request))
            if request.region and region_country is None:
                matches.append(self._unknown_region(request))
        if accelerated:  # rules match accelerated items only
            rules, match_all = self.policies.matcher(day)
            # One compiled call tries every rule in force (see policy.compiled).
            hits = match_all(Subject(profile), region_country, accelerated)
            if hits:
                facts = _Facts(request, profile, accelerated, region_country)
                for k in hits:
                    rule = rules[k]
                    matches.append(_new_match(rule.rule_id, rule.pack_id, rule.pack_version, rule.outcome,
                                              rule.citation, facts.render(rule)))
        outcome = Outcome.ALLOW
        for m in matches:
            if m.outcome > outcome:
                outcome = m.outcome
        return _new_evaluation(outcome, tuple(matches), items, region_country)

    def region_country(self, provider: str, region: str) -> str | None:
        """The country of a provider region (memoised; the jurisdictions table does the work)."""
        key = (provider, region)
        try:
            return self._regions[key]
        except KeyError:
            pass
        country = self.jurisdictions.region_country(provider, region)
        if len(self._regions) < 10_000:
            self._regions[key] = country
        return country

    def _unknown_region(self, request: ProvisioningRequest) -> RuleMatch:
        """A region gatekeeper does not know (a typo, a region newer than the table): pending, with why."""
        closest = self.jurisdictions.closest_region(request.provider, request.region)
        hint = f"; the closest known region is {closest}" if closest else ""
        return RuleMatch(UNKNOWN_REGION_RULE, ENGINE_PACK, "1", Outcome.PENDING,
                         "gatekeeper fail-closed: unknown region",
                         f"region {request.region!r} is not one of the {request.provider} regions gatekeeper knows, "
                         f"so the country the compute would run in is unknown{hint}; held for review")

    def _unresolved(self, request: ProvisioningRequest) -> RuleMatch:
        what = "; ".join(request.unresolved)
        if self.fail_closed:
            return RuleMatch(UNRESOLVED_RULE, ENGINE_PACK, "1", Outcome.DENY,
                             "gatekeeper fail-closed (on_error = deny)",
                             f"could not determine what the request provisions ({what}); denied fail-closed")
        return RuleMatch(UNRESOLVED_RULE, ENGINE_PACK, "1", Outcome.FLAG, "gatekeeper on_error = allow",
                         f"could not determine what the request provisions ({what}); allowed by configuration")
