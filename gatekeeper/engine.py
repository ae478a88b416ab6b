"""The pure policy engine: (request, profile, compiled policies, date) -> outcome and matched rules.

No I/O, no clock of its own, deterministic: rules are tried in pack order, then rule order, and the
most restrictive outcome wins (allow < flag < pending < deny). Licences and cases are not its business:
the service consults them after the engine has spoken.

# INVARIANT: a request with no accelerated item and nothing unresolved is allowed before any rule
# is looked at; that is the hot path and costs a catalog dict look-up per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from gatekeeper.catalog import Catalog, default_catalog
from gatekeeper.jurisdictions import Jurisdictions, default_jurisdictions
from gatekeeper.model import (
    ClassifiedItem,
    CustomerProfile,
    Outcome,
    ProvisioningRequest,
    RuleMatch,
)
from gatekeeper.policy.compiled import CompiledRule, PolicySet

UNRESOLVED_RULE = "gatekeeper.unresolved"
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


class _Facts(dict[str, str]):
    """Values for reason placeholders, computed only when a rule matched."""

    def __init__(self, request: ProvisioningRequest, profile: CustomerProfile, items: tuple[ClassifiedItem, ...],
                 region_country: str | None) -> None:
        acc = [i for i in items if i.accelerated]
        super().__init__(
            customer=profile.legal_name or f"account {profile.account_id}",
            account=profile.account_id,
            country=profile.country or "unknown",
            headquarters=profile.headquarters_country or "unknown",
            parent=profile.ultimate_parent_country or "unknown",
            countries="/".join(dict.fromkeys(profile.countries)) or "unknown",
            kyc_status=profile.kyc_status,
            region=request.region or "unspecified",
            region_country=region_country or "unknown",
            chips=", ".join(dict.fromkeys(a.model for i in acc for a in i.accelerators)) or "none",
            export_class=", ".join(dict.fromkeys(i.export_class for i in acc)) or "none",
            instance_types=", ".join(dict.fromkeys(i.instance_type for i in acc)) or "none",
            lists=", ".join(dict.fromkeys(f"{h.list_code} {h.name}" for h in profile.open_hits)) or "none",
        )


class Engine:
    """Evaluates requests against one compiled policy set. Thread-safe; build once, share."""

    def __init__(
        self,
        policies: PolicySet,
        catalog: Catalog | None = None,
        jurisdictions: Jurisdictions | None = None,
        *,
        fail_closed: bool = True,
    ) -> None:
        self.policies = policies
        self.catalog = catalog or default_catalog()
        self.jurisdictions = jurisdictions or default_jurisdictions()
        self.fail_closed = fail_closed

    def classify(self, request: ProvisioningRequest) -> tuple[ClassifiedItem, ...]:
        classify = self.catalog.classify_item
        return tuple(classify(request.provider, item) for item in request.items)

    def evaluate(
        self,
        request: ProvisioningRequest,
        profile: CustomerProfile,
        *,
        on: date | None = None,
        items: tuple[ClassifiedItem, ...] | None = None,
    ) -> Evaluation:
        if items is None:
            items = self.classify(request)
        if not request.unresolved and not any(i.accelerated for i in items):
            return Evaluation(Outcome.ALLOW, (), items, None)
        region_country = self.jurisdictions.region_country(request.provider, request.region) if request.region else None
        day = on or (request.at or datetime.now(UTC)).date()
        matches: list[RuleMatch] = []
        if request.unresolved:
            matches.append(self._unresolved(request))
        accelerated = tuple(i for i in items if i.accelerated)
        facts: _Facts | None = None
        for rule in self.policies.active(day):
            if self._matches(rule, profile, region_country, accelerated):
                if facts is None:
                    facts = _Facts(request, profile, items, region_country)
                matches.append(RuleMatch(rule.rule_id, rule.pack_id, rule.pack_version, rule.outcome,
                                         rule.citation, rule.reason.format_map(facts)))
        outcome = max((m.outcome for m in matches), default=Outcome.ALLOW)
        return Evaluation(outcome, tuple(matches), items, region_country)

    @staticmethod
    def _matches(rule: CompiledRule, profile: CustomerProfile, region_country: str | None,
                 items: tuple[ClassifiedItem, ...]) -> bool:
        if rule.customer is not None and not rule.customer(profile):
            return False
        if rule.region is not None and not rule.region(region_country):
            return False
        pred = rule.item
        return any(pred(i) for i in items)

    def _unresolved(self, request: ProvisioningRequest) -> RuleMatch:
        what = "; ".join(request.unresolved)
        if self.fail_closed:
            return RuleMatch(UNRESOLVED_RULE, ENGINE_PACK, "1", Outcome.DENY,
                             "gatekeeper fail-closed (on_error = deny)",
                             f"could not determine what the request provisions ({what}); denied fail-closed")
        return RuleMatch(UNRESOLVED_RULE, ENGINE_PACK, "1", Outcome.FLAG, "gatekeeper on_error = allow",
                         f"could not determine what the request provisions ({what}); allowed by configuration")
