"""The records of the government-permission workflow: cases, the requests that raised them, licences.

Pydantic models (frozen): they cross the store boundary as JSON (SQLite columns, DynamoDB attributes)
and are validated on the way back in, so a corrupt row is an error rather than a wrong decision.

    Scope         what a licence covers: export classes or chip models, providers, regions
    AcceleratorLine  one controlled accelerator of a request (model, class, TPP, PD, quantity)
    CaseRequest   one pending request that opened or joined a case (the decision as it was)
    Approval      a reviewer's approval, carrying the licence terms it approves
    HistoryEntry  one state change of a case (who, when, what)
    Case          the case: customer, profile as it was, scope, requests, approvals, history
    Licence       number, customer, scope, quantity limit and what is left, validity, conditions
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gatekeeper.model import review_policy as strictest_review_policy

CaseStatus = Literal["open", "approved", "denied"]
CASE_STATUSES: tuple[str, ...] = ("open", "approved", "denied")
LicenceStatus = Literal["active", "revoked"]
# The permits a case can be approved with (15 CFR 740, 89 FR 23876): an individual licence, or a licence
# exception. NAC (Notified Advanced Computing, Macau and D:5): the exporter notifies BIS through SNAP-R at
# least 25 days before the export, and BIS's approval gives an authorization number (recorded as the
# permit's number). ACA (Advanced Computing Authorized): D:1 and D:4 destinations outside Macau and
# D:5, no notification; it never covers a customer located in, headquartered in or owned from D:5 or
# Macau.
PermitKind = Literal["licence", "NAC", "ACA"]
PERMIT_KINDS: tuple[str, ...] = ("licence", "NAC", "ACA")
NAC_WAIT_DAYS = 25
# A licence's state on a given day, derived from its status, dates and what is left.
LICENCE_STATES: tuple[str, ...] = ("active", "not yet valid", "expired", "revoked", "exhausted")

# Quantities are accelerators; fractional GPUs exist (1/6 of an A10), so they are floats rounded here.
QUANTITY_DIGITS = 6


def qround(x: float) -> float:
    return round(float(x), QUANTITY_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def fmt_qty(x: float) -> str:
    return f"{x:g}"


def _in_region(provider: str, place: str, region: str) -> bool:
    """``place`` (a region or a zone) is ``region`` or one of its zones."""
    if place == region:
        return True
    if provider == "aws":  # us-east-1a
        return place[:-1] == region and place[-1:].isalpha()
    if provider == "gcp":  # us-central1-a
        return place.count("-") == 2 and place.rsplit("-", 1)[0] == region
    return False


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scope(_Frozen):
    """What a licence covers. An accelerator is covered when its export class or its chip model is named.

    ``providers`` and ``regions`` empty mean any; regions compare case-insensitively and a zone
    (``us-east-1a``) is inside its region.
    """

    export_classes: tuple[str, ...] = ()
    chips: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def covers_accelerator(self, model: str, export_class: str) -> bool:
        return export_class in self.export_classes or model in self.chips

    def covers_place(self, provider: str, region: str) -> bool:
        if self.providers and provider not in self.providers:
            return False
        if not self.regions:
            return True
        return any(_in_region(provider, region.strip().lower(), s.strip().lower()) for s in self.regions)

    def describe(self) -> str:
        what = ", ".join((*self.export_classes, *self.chips)) or "nothing"
        where = "/".join(self.providers) or "any provider"
        regions = ", ".join(self.regions) if self.regions else "any region"
        return f"{what} on {where} in {regions}"


class AcceleratorLine(_Frozen):
    """A controlled accelerator in a request; ``quantity`` is ``per_instance`` x instances."""

    instance_type: str
    model: str
    export_class: str
    tpp: float | None = None
    pd: float | None = None
    per_instance: float = 0
    quantity: float = 0
    choice: str = ""
    named_by: tuple[str, ...] = ()


class RuleRef(_Frozen):
    rule_id: str
    pack_id: str
    pack_version: str
    decision: str
    citation: str
    reason: str = ""
    review_policy: str = ""  # the licence review policy the rule states (model.REVIEW_POLICIES)
    basis: str = ""  # regulation, proposed rule, company policy...


class RequestItem(_Frozen):
    instance_type: str
    count: int
    export_class: str
    choice: str = ""
    path: str = ""


class CaseRequest(_Frozen):
    """One pending request in a case, as it was decided."""

    decision_id: str
    at: datetime
    principal: str = ""
    on_behalf_of: str = ""
    provider: str
    account_id: str
    region: str = ""
    service: str = ""
    operation: str = ""
    source: str = ""
    resource_ids: tuple[str, ...] = ()
    items: tuple[RequestItem, ...] = ()
    accelerators: tuple[AcceleratorLine, ...] = ()
    rules: tuple[RuleRef, ...] = ()
    reasons: tuple[str, ...] = ()
    quantity: float = 0
    profile: dict[str, Any] = Field(default_factory=dict)

    def signature(self) -> tuple[Any, ...]:
        """Identical retries of one call share a signature (they are counted once in the requested total)."""
        return (self.operation, self.region, self.principal,
                tuple((i.instance_type, i.count, i.choice) for i in self.items))


class Approval(_Frozen):
    """A reviewer's approval; with two approvers required both must approve the same terms."""

    reviewer: str
    at: datetime
    licence_number: str
    expires: date
    quantity: float
    conditions: str = ""
    regions: tuple[str, ...] = ()
    permit: PermitKind = "licence"
    notified_on: date | None = None  # NAC: the day the notification was filed (SNAP-R)

    def terms(self) -> tuple[Any, ...]:
        return (self.licence_number, self.expires, qround(self.quantity), self.conditions,
                tuple(sorted(r.lower() for r in self.regions)), self.permit, self.notified_on)

    def describe_terms(self) -> str:
        where = f", regions {', '.join(self.regions)}" if self.regions else ""
        cond = f", conditions {self.conditions!r}" if self.conditions else ""
        return (f"{permit_label(self.permit, self.licence_number, self.notified_on)}, "
                f"{fmt_qty(self.quantity)} accelerators, expires {self.expires.isoformat()}{where}{cond}")


def permit_label(permit: str, number: str, notified_on: date | None = None) -> str:
    """``licence D123``, ``licence exception NAC (authorization N-1, notified 2026-03-01)``, ``... ACA``."""
    if permit == "NAC":
        when = f", notified {notified_on.isoformat()}" if notified_on else ""
        return f"licence exception NAC (authorization {number}{when})"
    if permit == "ACA":
        return f"licence exception ACA ({number})"
    return f"licence {number}"


class HistoryEntry(_Frozen):
    at: datetime
    actor: str
    action: str
    detail: str = ""


class Case(_Frozen):
    """A case: the permission a customer needs for one scope, and everything a reviewer decides it on.

    ``requests`` is filled by ``CaseStore.get_case`` and left empty in listings; ``request_count``
    is always right.
    """

    case_id: str
    scope_key: str
    status: CaseStatus = "open"
    provider: str
    account_id: str
    legal_name: str = ""
    scope: Scope
    profile: dict[str, Any] = Field(default_factory=dict)
    opened_at: datetime
    updated_at: datetime
    version: int = 1
    request_count: int = 0
    principals: tuple[str, ...] = ()
    approvals: tuple[Approval, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    denial_reason: str | None = None
    licence_number: str | None = None
    requests: tuple[CaseRequest, ...] = ()

    @property
    def customer(self) -> str:
        return self.legal_name or f"{self.provider} account {self.account_id}"

    def totals(self) -> CaseTotals:
        """The case's quantities: the one source of every number a reviewer sees about them."""
        return case_totals(self.requests)

    @property
    def requested_quantity(self) -> float:
        """Accelerators asked for: the sum over distinct requests (identical retries counted once)."""
        return self.totals().quantity

    @property
    def largest_request(self) -> float:
        return self.totals().largest

    def accelerators(self) -> list[dict[str, Any]]:
        """Controlled accelerators over the distinct requests: per chip, the largest request and the total."""
        return [c.as_json() for c in self.totals().chips]

    def review_policy(self) -> str:
        """How BIS would review the licence application: the most restrictive policy the rules state."""
        return strictest_review_policy(r.review_policy for r in self.rules())

    def rules(self) -> list[RuleRef]:
        out: dict[tuple[str, str], RuleRef] = {}
        for r in self.requests:
            for m in r.rules:
                out.setdefault((m.pack_id, m.rule_id), m)
        return list(out.values())

    def regions(self) -> list[str]:
        return list(dict.fromkeys(r.region for r in self.requests if r.region))

    def timeline(self) -> list[HistoryEntry]:
        """State changes and the requests that joined, in time order."""
        joined = [HistoryEntry(at=r.at, actor=r.principal or "unknown principal", action="request",
                               detail=f"{r.operation or 'request'} {r.decision_id}: "
                                      f"{fmt_qty(r.quantity)} accelerators in {r.region or 'unspecified region'}")
                  for r in self.requests]
        return sorted([*self.history, *joined], key=lambda h: h.at)

    def changed(self, change: CaseChange) -> Case:
        """This case after a reviewer's ``change`` (the stores apply it atomically, version + 1)."""
        return self.model_copy(update={
            "status": change.status, "approvals": change.approvals, "history": (*self.history, *change.history),
            "denial_reason": change.denial_reason if change.denial_reason is not None else self.denial_reason,
            "licence_number": change.licence.number if change.licence is not None else self.licence_number,
            "version": self.version + 1, "updated_at": change.at,
        })

    def summary(self) -> dict[str, Any]:
        """The listing shape (no requests)."""
        return {
            "case_id": self.case_id, "status": self.status, "customer": self.customer,
            "provider": self.provider, "account_id": self.account_id, "scope": self.scope.model_dump(mode="json"),
            "scope_key": self.scope_key, "requests": self.request_count,
            "approvals": [a.reviewer for a in self.approvals], "licence_number": self.licence_number,
            "opened_at": self.opened_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }

    def as_json(self) -> dict[str, Any]:
        """Everything: the shape of ``gatekeeper cases show --json``."""
        data = self.model_dump(mode="json")
        data["customer"] = self.customer
        totals = self.totals()
        data["requested_quantity"] = totals.quantity
        data["largest_request"] = totals.largest
        data["distinct_requests"] = totals.distinct_requests
        data["accelerators"] = [c.as_json() for c in totals.chips]
        data["rules"] = [r.model_dump(mode="json") for r in self.rules()]
        data["review_policy"] = self.review_policy() or None
        data["timeline"] = [h.model_dump(mode="json") for h in self.timeline()]
        return data


@dataclass(frozen=True, slots=True)
class ChipTotal:
    """One controlled chip of a case over its distinct requests."""

    model: str
    export_class: str
    tpp: float | None
    pd: float | None
    instance_types: tuple[str, ...]
    largest_request: float
    total_requested: float
    named_by: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "export_class": self.export_class, "tpp": self.tpp, "pd": self.pd,
                "instance_types": list(self.instance_types), "largest_request": self.largest_request,
                "total_requested": self.total_requested, "named_by": list(self.named_by)}


@dataclass(frozen=True, slots=True)
class CaseTotals:
    """What a case asks for, counted one way for the CLI, the API, the console and the packet.

    Identical retries of one call (same :meth:`CaseRequest.signature`) count once, as the largest of
    them; within a request, alternatives of one ``choice`` slot count once, as the largest, both for
    the request and for each chip. So a chip's total equals the case's total when the case has one
    chip, and the chip totals add up to it unless one slot offered different chips.
    """

    quantity: float
    largest: float
    calls: int  # requests recorded, retries included
    distinct_requests: int
    chips: tuple[ChipTotal, ...]

    def describe(self) -> str:
        return f"{fmt_qty(self.quantity)} accelerators {self.detail()}"

    def detail(self) -> str:
        """How the total was counted: distinct requests, retries, the largest request."""
        retries = self.calls - self.distinct_requests
        again = f", plus {retries} identical retr{'y' if retries == 1 else 'ies'} counted once" if retries else ""
        return (f"over {self.distinct_requests} distinct request{'' if self.distinct_requests == 1 else 's'}"
                f"{again}; largest request {fmt_qty(self.largest)}")


def _chip_quantities(r: CaseRequest) -> dict[tuple[str, str], float]:
    """Per (model, class), the accelerators of one request with ``choice`` alternatives counted once."""
    single: dict[tuple[str, str], float] = {}
    groups: dict[tuple[tuple[str, str], str], float] = {}
    for a in r.accelerators:
        key = (a.model, a.export_class)
        if a.choice:
            groups[(key, a.choice)] = max(groups.get((key, a.choice), 0.0), a.quantity)
        else:
            single[key] = single.get(key, 0.0) + a.quantity
    for (key, _), q in groups.items():
        single[key] = single.get(key, 0.0) + q
    return {k: qround(v) for k, v in single.items()}


def case_totals(requests: tuple[CaseRequest, ...]) -> CaseTotals:
    distinct: dict[tuple[Any, ...], CaseRequest] = {}
    for r in requests:
        kept = distinct.get(r.signature())
        if kept is None or r.quantity > kept.quantity:
            distinct[r.signature()] = r
    chips: dict[tuple[str, str], dict[str, Any]] = {}
    for r in requests:  # chip facts and instance types from every call, in order
        for a in r.accelerators:
            row = chips.setdefault((a.model, a.export_class), {
                "model": a.model, "export_class": a.export_class, "tpp": a.tpp, "pd": a.pd,
                "instance_types": [], "largest_request": 0.0, "total_requested": 0.0, "named_by": a.named_by})
            if a.instance_type not in row["instance_types"]:
                row["instance_types"].append(a.instance_type)
    for r in distinct.values():
        for key, q in _chip_quantities(r).items():
            chips[key]["largest_request"] = qround(max(chips[key]["largest_request"], q))
            chips[key]["total_requested"] = qround(chips[key]["total_requested"] + q)
    return CaseTotals(
        quantity=qround(sum(r.quantity for r in distinct.values())),
        largest=qround(max((r.quantity for r in distinct.values()), default=0.0)),
        calls=len(requests), distinct_requests=len(distinct),
        chips=tuple(ChipTotal(**{**row, "instance_types": tuple(row["instance_types"])}) for row in chips.values()))


class CaseChange(_Frozen):
    """A reviewer's transition of an open case, applied atomically by ``CaseStore.apply``."""

    status: CaseStatus
    approvals: tuple[Approval, ...]
    history: tuple[HistoryEntry, ...] = ()  # entries appended
    denial_reason: str | None = None
    licence: Licence | None = None  # issued in the same transaction
    at: datetime


class Licence(_Frozen):
    """A licence on file: a customer may receive up to ``quantity`` accelerators within ``scope``."""

    number: str
    provider: str
    account_id: str
    legal_name: str = ""
    scope: Scope
    quantity: float
    remaining: float
    valid_from: date
    valid_until: date
    conditions: str = ""
    status: LicenceStatus = "active"
    case_id: str | None = None
    approvers: tuple[str, ...] = ()
    issued_at: datetime
    revoked_by: str | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    permit: PermitKind = "licence"
    notified_on: date | None = None

    @property
    def customer(self) -> str:
        return self.legal_name or f"{self.provider} account {self.account_id}"

    @property
    def label(self) -> str:
        return permit_label(self.permit, self.number, self.notified_on)

    @property
    def drawn(self) -> float:
        return qround(self.quantity - self.remaining)

    def state(self, on: date) -> str:
        """``active``, ``not yet valid``, ``expired``, ``revoked`` or ``exhausted`` on day ``on``."""
        if self.status == "revoked":
            return "revoked"
        if on < self.valid_from:
            return "not yet valid"
        if on > self.valid_until:
            return "expired"
        if self.remaining <= 0:
            return "exhausted"
        return "active"

    def as_json(self, on: date | None = None) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["customer"] = self.customer
        data["drawn"] = self.drawn
        if on is not None:
            data["state"] = self.state(on)
        return data


CaseChange.model_rebuild()
