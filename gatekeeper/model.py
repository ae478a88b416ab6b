"""The one request model every adapter translates into, and what the engine answers.

Plain frozen dataclasses: they sit in the hot path, so no validation happens here; validation is
done at the edges (pydantic models for config, policy files, API and CLI input).

    ProvisioningRequest  who (provider + account) wants what (ComputeItems) where (region), via what
    ComputeItem          one instance type (or machine type) x count, plus attached accelerators
    ClassifiedItem       a ComputeItem after the catalog: accelerators with TPP, PD and export class
    CustomerProfile      the subject's legal facts (countries, KYC, screening hits)
    RuleMatch            one rule that matched, with its citation and a readable reason
    Decision             the outcome (allow < flag < pending < deny) and everything that led to it
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import IntEnum
from typing import Any


class Outcome(IntEnum):
    """Decisions, ordered by restrictiveness: the most restrictive matched rule wins."""

    ALLOW = 0
    FLAG = 1
    PENDING = 2
    DENY = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Outcome:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown decision {value!r}; expected allow, flag, pending or deny") from None


# Export classes as strings: they are also the vocabulary of policy files and audit records.
CLASS_A = "3A090.a"
CLASS_B = "3A090.b"
CLASS_NONE = "none"
CLASS_UNKNOWN = "unknown"
EXPORT_CLASSES = (CLASS_A, CLASS_B, CLASS_NONE, CLASS_UNKNOWN)

PROVIDERS = ("aws", "azure", "gcp")

# How BIS reviews a licence application, least to most restrictive (15 CFR 742.6(b)); a rule may name
# one, and a decision or a case carries the most restrictive of its rules'.
REVIEW_POLICIES = ("presumption of approval", "case-by-case", "presumption of denial")


def dates_text(start: date | None, until: date | None) -> str:
    """``from 2026-01-15``, ``until 2026-11-10`` or ``2023-11-17 to 2026-01-15`` (until is exclusive)."""
    if start and until:
        return f"{start.isoformat()} to {until.isoformat()}"
    if start:
        return f"from {start.isoformat()}"
    return f"until {until.isoformat()}" if until else ""


def review_policy(policies: Iterable[str]) -> str:
    """The most restrictive licence review policy among ``policies`` ("" when none is named)."""
    ranked = [REVIEW_POLICIES.index(p) for p in policies if p in REVIEW_POLICIES]
    return REVIEW_POLICIES[max(ranked)] if ranked else ""
KYC_STATUSES = ("verified", "pending", "unverified")


@dataclass(frozen=True, slots=True)
class AttachedAccelerator:
    """An accelerator attached apart from the machine type (GCP guestAccelerators, AWS requirements)."""

    type: str
    count: float = 1


@dataclass(frozen=True, slots=True)
class ComputeItem:
    """One thing the request would run: ``count`` instances of ``instance_type``.

    ``choice`` groups items that are alternatives for one slot (fleet overrides, mixed-instance
    types, types matching InstanceRequirements): each alternative is decided, and a licence draws
    down only the largest of a group, not their sum.
    """

    instance_type: str = ""
    count: int = 1
    attached: tuple[AttachedAccelerator, ...] = ()
    choice: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class ProvisioningRequest:
    """A provider-neutral provisioning request.

    ``unresolved`` lists what the adapter could not follow (a launch template it could not read);
    a request with anything unresolved is decided fail-closed. ``principal`` is the authenticated
    caller; ``on_behalf_of`` whom the caller says it asks for (recorded beside, never instead of it).
    """

    provider: str
    account_id: str
    items: tuple[ComputeItem, ...]
    region: str = ""
    service: str = ""
    operation: str = ""
    principal: str = ""
    source: str = "sdk"
    resource_ids: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()
    at: datetime | None = None
    on_behalf_of: str = ""

    def with_items(self, items: tuple[ComputeItem, ...]) -> ProvisioningRequest:
        return replace(self, items=items)


@dataclass(frozen=True, slots=True)
class AcceleratorInfo:
    """A chip as the catalog classified it, with the quantity the item carries."""

    model: str
    per_instance: float
    total: float
    tpp: float | None
    pd: float | None
    export_class: str
    confirmed: bool
    named_by: tuple[str, ...] = ()
    memory_bandwidth: float | None = None  # GB/s per chip (DRAM/HBM), when published


@dataclass(frozen=True, slots=True)
class ClassifiedItem:
    """A ComputeItem after the catalog.

    ``export_class`` is the most restrictive class among its accelerators (``unknown`` for an
    accelerated family the catalog does not know); ``accelerated`` is False only for known plain types.
    """

    item: ComputeItem
    instance_type: str
    known: bool
    accelerated: bool
    export_class: str
    accelerators: tuple[AcceleratorInfo, ...] = ()

    @property
    def chips(self) -> tuple[str, ...]:
        return tuple(a.model for a in self.accelerators)

    @property
    def accelerator_total(self) -> float:
        return sum(a.total for a in self.accelerators)


@dataclass(frozen=True, slots=True)
class ScreeningHit:
    """A restricted-party list entry matched to a customer."""

    list_code: str
    entry_id: str
    name: str
    score: float
    cleared: bool = False


@dataclass(frozen=True, slots=True)
class Owner:
    """A direct or indirect owner of a customer: its share (percent) and the restricted-party lists it
    is on (open screening hits, e.g. ``EL``, ``MEU``, ``SDN``), for the BIS affiliates (50 %) rule."""

    name: str
    country: str = ""
    share: float = 0.0
    lists: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "country": self.country, "share": self.share, "screening_lists": list(self.lists)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Owner:
        """The inverse of ``as_dict`` (stores and audit records); raises KeyError/TypeError/ValueError."""
        return cls(str(data["name"]), str(data.get("country") or ""), float(data.get("share") or 0),
                   tuple(str(x).upper() for x in data.get("screening_lists") or ()))


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """The legal facts about a subject. ``known`` is False for an account not in the store.

    ``looked_up`` is False on the plain (non-accelerated) fast path, which decides without reading
    the store: ``known`` then says nothing about the account, and a display fills the profile in
    (``Gatekeeper.with_profile``) rather than report the guess.
    """

    provider: str
    account_id: str
    legal_name: str = ""
    country: str = ""
    headquarters_country: str = ""
    ultimate_parent_country: str = ""
    kyc_status: str = "unverified"
    known: bool = True
    screening_hits: tuple[ScreeningHit, ...] = ()
    owners: tuple[Owner, ...] = ()
    looked_up: bool = True

    @classmethod
    def unknown(cls, provider: str, account_id: str) -> CustomerProfile:
        """An account the store does not know: an unidentified, unverified foreign customer."""
        return cls(provider=provider, account_id=account_id, kyc_status="unverified", known=False)

    @property
    def countries(self) -> tuple[str, ...]:
        """Location, headquarters and ultimate parent, the countries that attach export rules."""
        return tuple(c for c in (self.country, self.headquarters_country, self.ultimate_parent_country) if c)

    @property
    def foreign(self) -> bool:
        """Not a US person; an unknown country counts as foreign."""
        return self.country != "US" or not self.known

    @property
    def open_hits(self) -> tuple[ScreeningHit, ...]:
        return tuple(h for h in self.screening_hits if not h.cleared)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "account_id": self.account_id,
            "legal_name": self.legal_name,
            "country": self.country,
            "headquarters_country": self.headquarters_country,
            "ultimate_parent_country": self.ultimate_parent_country,
            "kyc_status": self.kyc_status,
            "known": self.known,
            "screening_hits": [
                {"list": h.list_code, "entry_id": h.entry_id, "name": h.name, "score": h.score,
                 "cleared": h.cleared}
                for h in self.screening_hits
            ],
            "owners": [o.as_dict() for o in self.owners],
        }


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched: enough to explain the decision and cite the law."""

    rule_id: str
    pack_id: str
    pack_version: str
    outcome: Outcome
    citation: str
    reason: str
    # The licence review policy the rule states ("" when it states none), the legal basis of its pack
    # (a regulation, a proposed rule enforced as company policy...) and the rule's own dates.
    review_policy: str = ""
    basis: str = ""
    effective_from: date | None = None
    effective_until: date | None = None

    def window(self) -> str:
        """The rule's dates as a reviewer reads them: ``from 2026-01-15``, ``2023-11-17 to 2026-01-15``."""
        return dates_text(self.effective_from, self.effective_until)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.rule_id, "pack": self.pack_id, "pack_version": self.pack_version,
                "decision": self.outcome.label, "citation": self.citation, "reason": self.reason,
                "review_policy": self.review_policy or None, "basis": self.basis or None,
                "effective_from": self.effective_from.isoformat() if self.effective_from else None,
                "effective_until": self.effective_until.isoformat() if self.effective_until else None}


@dataclass(frozen=True, slots=True)
class Decision:
    """What gatekeeper decided about one request, and why.

    ``outcome`` is final (after licences); ``policy_outcome`` is what the policies alone said.
    """

    decision_id: str
    outcome: Outcome
    request: ProvisioningRequest
    profile: CustomerProfile
    items: tuple[ClassifiedItem, ...]
    matches: tuple[RuleMatch, ...]
    policy_outcome: Outcome
    evaluated_at: datetime
    mode: str = "enforce"
    licence_id: str | None = None
    case_id: str | None = None
    error: str | None = None
    reasons: tuple[str, ...] = field(default=())

    @property
    def blocks(self) -> bool:
        """True when an enforcing adapter must stop the call."""
        return self.mode == "enforce" and self.outcome >= Outcome.PENDING

    @property
    def accelerated(self) -> bool:
        return any(i.accelerated for i in self.items)

    @property
    def review_policy(self) -> str:
        """How BIS would review a licence application for this request (the most restrictive named)."""
        return review_policy(m.review_policy for m in self.matches)

    def as_dict(self) -> dict[str, Any]:
        """The shape of ``gatekeeper check --json`` and of ``POST /v1/decisions``."""
        req = self.request
        return {
            "decision": self.outcome.label,
            "decision_id": self.decision_id,
            "policy_decision": self.policy_outcome.label,
            "mode": self.mode,
            "reasons": list(self.reasons),
            "review_policy": self.review_policy or None,
            "rules": [m.as_dict() for m in self.matches],
            "accelerators": [
                {"instance_type": i.instance_type, "model": a.model, "count": a.total,
                 "per_instance": a.per_instance, "tpp": a.tpp, "pd": a.pd,
                 "memory_bandwidth": a.memory_bandwidth,
                 "export_class": a.export_class, "confirmed": a.confirmed, "named_by": list(a.named_by)}
                for i in self.items for a in i.accelerators
            ],
            "items": [
                {"instance_type": i.instance_type, "count": i.item.count, "known": i.known,
                 "accelerated": i.accelerated, "export_class": i.export_class, "path": i.item.path}
                for i in self.items
            ],
            "subject": self.profile.as_dict(),
            "request": {
                "provider": req.provider, "account_id": req.account_id, "region": req.region,
                "service": req.service, "operation": req.operation, "principal": req.principal,
                "on_behalf_of": req.on_behalf_of, "source": req.source, "resource_ids": list(req.resource_ids),
                "unresolved": list(req.unresolved),
            },
            "licence_id": self.licence_id,
            "case_id": self.case_id,
            "error": self.error,
            "evaluated_at": self.evaluated_at.isoformat(),
        }


def new_id(prefix: str) -> str:
    """A sortable-enough unique id with a readable prefix (``dec-``, ``case-``)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def utcnow() -> datetime:
    return datetime.now(UTC)
