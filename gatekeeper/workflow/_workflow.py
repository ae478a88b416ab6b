"""The permission workflow: licences turn pending into allow; otherwise a case is opened or joined.

``Workflow(gatekeeper)`` implements ``gatekeeper.service.Permits`` (``settle``, called by
``Gatekeeper.decide`` for pending decisions) and the reviewers' actions behind ``gatekeeper cases``
and ``gatekeeper licences`` (approve, deny, revoke).

# INVARIANT: every state change (case.opened, case.joined, case.approval, case.approved, case.denied,
# licence.issued, licence.drawn, licence.exhausted, licence.revoked) is appended to the audit log
# through ``Gatekeeper.record_event`` right after the store committed it; a draw whose event cannot
# be written is given back and the error propagates (the decision then fails closed).
# INVARIANT: the reviewer of a case is never one of the principals who made its requests, and with
# ``workflow.approvals_required = 2`` a licence is issued only after two distinct reviewers approved
# the same terms. These checks run against the version of the case that the store then changes
# conditionally (``CaseStore.apply``), so a request joining meanwhile forces a re-check.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from gatekeeper._log import get_logger
from gatekeeper.errors import AuditError, ConflictError, InvalidInputError, NotFoundError, WorkflowError
from gatekeeper.model import Decision, Outcome, new_id
from gatekeeper.permits import Settlement
from gatekeeper.workflow.model import (
    Approval,
    Case,
    CaseChange,
    CaseRequest,
    HistoryEntry,
    Licence,
    RequestItem,
    RuleRef,
    fmt_qty,
    qround,
)
from gatekeeper.workflow.scope import Need, describe_need, need_of, uncovered

if TYPE_CHECKING:
    from gatekeeper.stores.base import CaseStore, LicenceStore

log = get_logger("gatekeeper.workflow")

LICENCE_NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
MAX_RETRIES = 50
SYSTEM_ACTOR = "gatekeeper"


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


class Runtime(Protocol):
    """What the workflow uses of the runtime (``gatekeeper.service.Gatekeeper`` is one), passed in."""

    @property
    def store(self) -> Any: ...
    @property
    def config(self) -> Any: ...
    @property
    def jurisdictions(self) -> Any: ...
    @property
    def permits(self) -> Any: ...
    def clock(self) -> datetime: ...
    def record_event(self, kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]: ...


class Workflow:
    """Licences, drawdown and cases for one Gatekeeper runtime (its store, clock, config and audit log)."""

    def __init__(self, gatekeeper: Runtime) -> None:
        self.gk = gatekeeper

    # -- the parts it uses (looked up on each call: the runtime opens them lazily) --------------
    @property
    def cases(self) -> CaseStore:
        store: CaseStore = self.gk.store.cases
        return store

    @property
    def licences(self) -> LicenceStore:
        store: LicenceStore = self.gk.store.licences
        return store

    @property
    def approvals_required(self) -> int:
        return int(self.gk.config.workflow.approvals_required)

    def today(self) -> date:
        return self.gk.clock().date()

    def _event(self, kind: str, actor: str, data: dict[str, Any]) -> None:
        self.gk.record_event(kind, actor or SYSTEM_ACTOR, data)

    # -- Permits.settle: the decision path --------------------------------------------------------
    def settle(self, decision: Decision, *, dry_run: bool = False) -> Settlement:
        """A licence covering the request allows it (drawing it down); else a case is opened or joined.

        ``dry_run``: look only; nothing is drawn, opened or recorded. Store errors propagate as
        StoreError, and the service fails closed.
        """

        need = need_of(decision)
        on = decision.evaluated_at.date()
        actor = decision.request.principal or SYSTEM_ACTOR
        held: list[str] = []
        candidates: list[Licence] = []
        for lic in self.licences.list_licences(need.provider, need.account_id):
            why = uncovered(lic, need)
            state = lic.state(on)
            if why:
                held.append(f"licence {lic.number} {'; '.join(why)}")
            elif state == "active" and lic.remaining >= need.quantity:
                candidates.append(lic)
            elif state == "active" or state == "exhausted":
                held.append(f"licence {lic.number} has {fmt_qty(lic.remaining)} of {fmt_qty(lic.quantity)} "
                            f"accelerators left and the request needs {fmt_qty(need.quantity)}")
            elif state == "expired":
                held.append(f"licence {lic.number} expired on {lic.valid_until.isoformat()}")
            elif state == "revoked":
                held.append(f"licence {lic.number} was revoked ({lic.revoked_reason or 'no reason given'})")
            else:
                held.append(f"licence {lic.number} is valid only from {lic.valid_from.isoformat()}")
        # Use first the licence that expires first: it is the one that would otherwise go unused.
        candidates.sort(key=lambda lic: (lic.valid_until, lic.number))
        for lic in candidates:
            if dry_run:
                return Settlement(Outcome.ALLOW, licence_id=lic.number, reasons=(
                    f"licence {lic.number} covers the request ({describe_need(need)}); "
                    f"{fmt_qty(lic.remaining)} of {fmt_qty(lic.quantity)} left (dry run: nothing drawn)",))
            drawn = self.licences.draw(lic.number, need.quantity, on=on)
            if drawn is None:
                # Another request took what was left (or a reviewer revoked it) since we read it.
                held.append(f"licence {lic.number} no longer has {fmt_qty(need.quantity)} accelerators left")
                continue
            self._drawn(drawn, need, decision, actor)
            return Settlement(Outcome.ALLOW, licence_id=drawn.number, reasons=(
                f"allowed under licence {drawn.number} ({drawn.scope.describe()}, valid until "
                f"{drawn.valid_until.isoformat()}): drew {fmt_qty(need.quantity)} accelerators, "
                f"{fmt_qty(drawn.remaining)} of {fmt_qty(drawn.quantity)} left",))
        customer = decision.profile.legal_name or f"{need.provider} account {need.account_id}"
        reason = "; ".join(held) if held else f"no licence on file for {customer}"
        return self._hold(decision, need, reason, dry_run=dry_run)

    def _drawn(self, lic: Licence, need: Need, decision: Decision, actor: str) -> None:
        data = {"licence_number": lic.number, "decision_id": decision.decision_id, "quantity": need.quantity,
                "remaining": lic.remaining, "limit": lic.quantity, "provider": lic.provider,
                "account_id": lic.account_id, "case_id": lic.case_id}
        try:
            self._event("licence.drawn", actor, data)
        except Exception:
            # The decision will not be recorded, so the call will not proceed: give the quantity back.
            try:
                self.licences.refund(lic.number, need.quantity)
            except Exception as exc:  # the original error is the one to report
                log.error("licence.refund_failed", licence=lic.number, quantity=need.quantity, error=str(exc))
            raise
        if lic.remaining <= 0:
            try:
                self._event("licence.exhausted", actor, {"licence_number": lic.number,
                                                         "decision_id": decision.decision_id, "limit": lic.quantity})
            except Exception as exc:  # the draw's own record (remaining 0) is durable already
                log.error("licence.exhausted_unrecorded", licence=lic.number, error=str(exc))

    def _hold(self, decision: Decision, need: Need, why: str, *, dry_run: bool) -> Settlement:

        key = need.scope_key
        if dry_run:
            existing = self.cases.find_open(key)
            then = (f"the request would join open case {existing.case_id}" if existing
                    else "a case would be opened (dry run: nothing recorded)")
            return Settlement(Outcome.PENDING, case_id=existing.case_id if existing else None,
                              reasons=(f"{why}; {then}",))
        request = case_request(decision, need)
        fresh = Case(case_id=new_id("case"), scope_key=key, provider=need.provider, account_id=need.account_id,
                     legal_name=decision.profile.legal_name, scope=need.scope(), profile=decision.profile.as_dict(),
                     opened_at=decision.evaluated_at, updated_at=decision.evaluated_at,
                     history=(HistoryEntry(at=decision.evaluated_at, actor=request.principal or SYSTEM_ACTOR,
                                           action="opened",
                                           detail=f"opened by decision {decision.decision_id}: {why}"),))
        case, created = self.cases.open_or_join(fresh, request)
        actor = request.principal or SYSTEM_ACTOR
        if created:
            self._event("case.opened", actor, {
                "case_id": case.case_id, "scope_key": key, "provider": case.provider,
                "account_id": case.account_id, "customer": case.customer, "decision_id": decision.decision_id,
                "quantity": need.quantity, "scope": case.scope.model_dump(mode="json"), "why": why})
            then = f"case {case.case_id} opened for review"
        else:
            self._event("case.joined", actor, {
                "case_id": case.case_id, "decision_id": decision.decision_id, "quantity": need.quantity,
                "requests": case.request_count})
            then = f"joined open case {case.case_id} ({case.request_count} requests)"
        return Settlement(Outcome.PENDING, case_id=case.case_id,
                          reasons=(f"{why}; {then} (gatekeeper cases show {case.case_id})",))

    # -- reviewers ----------------------------------------------------------------------------------
    def get_case(self, case_id: str) -> Case:
        case = self.cases.get_case(case_id.strip())
        if case is None:
            raise NotFoundError(f"no case {case_id!r} (gatekeeper cases list shows the cases)")
        return case

    def get_licence(self, number: str) -> Licence:
        lic = self.licences.get_licence(number.strip())
        if lic is None:
            raise NotFoundError(f"no licence {number!r} (gatekeeper licences list shows the licences)")
        return lic

    def approve(self, case_id: str, *, reviewer: str, licence_number: str, expires: date,
                quantity: float | None = None, conditions: str = "",
                regions: tuple[str, ...] = ()) -> tuple[Case, Licence | None]:
        """Record ``reviewer``'s approval; the last required approval issues the licence and closes the case.

        Returns the case and the licence issued (None while a second approver is still needed).
        """
        reviewer, number = reviewer.strip(), licence_number.strip()
        self._check_terms(reviewer, number, expires, quantity, regions)
        for _ in range(MAX_RETRIES):
            case = self.get_case(case_id)
            self._check_reviewer(case, reviewer, "approve")
            if any(_same(a.reviewer, reviewer) for a in case.approvals):
                raise WorkflowError(f"{reviewer} has already approved case {case.case_id}; "
                                    f"a second, different reviewer must approve it")
            qty = qround(quantity) if quantity is not None else case.requested_quantity
            if qty <= 0:
                raise InvalidInputError(f"case {case.case_id} asks for no countable accelerators; "
                                        f"give the licence quantity with --quantity", field="quantity")
            now = self.gk.clock()
            approval = Approval(reviewer=reviewer, at=now, licence_number=number, expires=expires, quantity=qty,
                                conditions=conditions.strip(), regions=regions)
            if case.approvals and case.approvals[0].terms() != approval.terms():
                raise WorkflowError(
                    f"the terms differ from the first approval by {case.approvals[0].reviewer} "
                    f"({case.approvals[0].describe_terms()}); the second approver must approve the same terms")
            if self.licences.get_licence(number) is not None:
                raise WorkflowError(f"licence number {number!r} already exists; choose another number")
            approvals = (*case.approvals, approval)
            final = len(approvals) >= self.approvals_required
            licence = self._licence(case, approvals, now) if final else None
            step = f"{len(approvals)} of {self.approvals_required}"
            entries = [HistoryEntry(at=now, actor=reviewer, action="approval",
                                    detail=f"approved ({step}): {approval.describe_terms()}")]
            if licence is not None:
                entries.append(HistoryEntry(at=now, actor=reviewer, action="approved",
                                            detail=f"licence {licence.number} issued to {licence.customer}: "
                                                   f"{licence.scope.describe()}, {fmt_qty(licence.quantity)} "
                                                   f"accelerators, valid {licence.valid_from} to "
                                                   f"{licence.valid_until}"))
            change = CaseChange(status="approved" if final else "open", approvals=approvals,
                                history=tuple(entries), licence=licence, at=now)
            try:
                updated = self.cases.apply(case.case_id, case.version, change)
            except ConflictError:
                continue
            self._approved_events(updated, approval, licence)
            return updated, licence
        raise WorkflowError(f"case {case_id} kept changing while it was being approved; try again")

    def _approved_events(self, case: Case, approval: Approval, licence: Licence | None) -> None:
        terms = approval.model_dump(mode="json")
        try:
            if licence is None:
                self._event("case.approval", approval.reviewer, {
                    "case_id": case.case_id, "reviewer": approval.reviewer, "approvals": len(case.approvals),
                    "required": self.approvals_required, "terms": terms})
                return
            self._event("case.approved", approval.reviewer, {
                "case_id": case.case_id, "approvers": [a.reviewer for a in case.approvals],
                "licence_number": licence.number, "terms": terms})
            self._event("licence.issued", approval.reviewer, {
                "licence_number": licence.number, "case_id": case.case_id, "provider": licence.provider,
                "account_id": licence.account_id, "customer": licence.customer,
                "scope": licence.scope.model_dump(mode="json"), "quantity": licence.quantity,
                "valid_from": licence.valid_from.isoformat(), "valid_until": licence.valid_until.isoformat(),
                "conditions": licence.conditions, "approvers": list(licence.approvers)})
        except AuditError as exc:
            raise AuditError(f"case {case.case_id} was approved in the store but its audit event could not be "
                             f"written: {exc}") from exc

    def deny(self, case_id: str, *, reviewer: str, reason: str) -> Case:
        reviewer, reason = reviewer.strip(), reason.strip()
        if not reviewer:
            raise InvalidInputError("--by must name the reviewer", field="by")
        if not reason:
            raise InvalidInputError("--reason must say why the case is denied", field="reason")
        for _ in range(MAX_RETRIES):
            case = self.get_case(case_id)
            self._check_reviewer(case, reviewer, "deny")
            now = self.gk.clock()
            change = CaseChange(status="denied", approvals=case.approvals, denial_reason=reason, at=now,
                                history=(HistoryEntry(at=now, actor=reviewer, action="denied", detail=reason),))
            try:
                updated = self.cases.apply(case.case_id, case.version, change)
            except ConflictError:
                continue
            try:
                self._event("case.denied", reviewer, {"case_id": updated.case_id, "reviewer": reviewer,
                                                      "reason": reason, "provider": updated.provider,
                                                      "account_id": updated.account_id})
            except AuditError as exc:
                raise AuditError(f"case {updated.case_id} was denied in the store but its audit event could not "
                                 f"be written: {exc}") from exc
            return updated
        raise WorkflowError(f"case {case_id} kept changing while it was being denied; try again")

    def revoke(self, number: str, *, by: str, reason: str) -> Licence:
        by, reason = by.strip(), reason.strip()
        if not by:
            raise InvalidInputError("--by must name who revokes the licence", field="by")
        if not reason:
            raise InvalidInputError("--reason must say why the licence is revoked", field="reason")
        self.get_licence(number)
        lic = self.licences.revoke(number.strip(), by=by, reason=reason, at=self.gk.clock())
        try:
            self._event("licence.revoked", by, {"licence_number": lic.number, "by": by, "reason": reason,
                                                "provider": lic.provider, "account_id": lic.account_id,
                                                "remaining": lic.remaining})
        except AuditError as exc:
            raise AuditError(f"licence {lic.number} was revoked in the store but its audit event could not be "
                             f"written: {exc}") from exc
        return lic

    # -- checks -------------------------------------------------------------------------------------
    def _check_terms(self, reviewer: str, number: str, expires: date, quantity: float | None,
                     regions: tuple[str, ...]) -> None:
        if not reviewer:
            raise InvalidInputError("--by must name the reviewer", field="by")
        if not LICENCE_NUMBER_RE.match(number):
            raise InvalidInputError(f"licence number {number!r} must be 1-64 letters, digits, '.', '_', '/' or '-'",
                                    field="licence")
        today = self.today()
        if expires < today:
            raise InvalidInputError(f"--expires {expires.isoformat()} is in the past (today is {today.isoformat()})",
                                    field="expires")
        if quantity is not None and not quantity > 0:
            raise InvalidInputError(f"--quantity must be a positive number of accelerators, not {quantity:g}",
                                    field="quantity")

    def _check_reviewer(self, case: Case, reviewer: str, what: str) -> None:
        if case.status != "open":
            raise WorkflowError(f"case {case.case_id} is {case.status}; only open cases can be decided")
        if any(_same(p, reviewer) for p in case.principals):
            raise WorkflowError(f"separation of duties: {reviewer} made a request in case {case.case_id} "
                                f"and cannot {what} it; another reviewer must")

    def _licence(self, case: Case, approvals: tuple[Approval, ...], now: datetime) -> Licence:
        last = approvals[-1]
        for region in last.regions:
            if self.gk.jurisdictions.region_country(case.provider, region) is None:
                raise InvalidInputError(f"--region {region!r} is not a known {case.provider} region", field="region")
        scope = case.scope.model_copy(update={"regions": tuple(last.regions)})
        return Licence(number=last.licence_number, provider=case.provider, account_id=case.account_id,
                       legal_name=case.legal_name, scope=scope, quantity=last.quantity, remaining=last.quantity,
                       valid_from=now.date(), valid_until=last.expires, conditions=last.conditions,
                       case_id=case.case_id, approvers=tuple(a.reviewer for a in approvals), issued_at=now)


def workflow_of(gatekeeper: Runtime) -> Workflow:
    """The runtime's workflow (its ``permits``), or one over its store when other permits were injected."""
    permits = gatekeeper.permits
    return permits if isinstance(permits, Workflow) else Workflow(gatekeeper)


def case_request(decision: Decision, need: Need) -> CaseRequest:
    """The case's record of one pending decision (what it asked for, why it was held, the profile as it was)."""
    req = decision.request
    return CaseRequest(
        decision_id=decision.decision_id, at=decision.evaluated_at, principal=req.principal,
        provider=req.provider, account_id=req.account_id, region=req.region, service=req.service,
        operation=req.operation, source=req.source, resource_ids=tuple(req.resource_ids),
        items=tuple(RequestItem(instance_type=i.instance_type, count=i.item.count, export_class=i.export_class,
                                choice=i.item.choice, path=i.item.path) for i in decision.items),
        accelerators=need.accelerators,
        rules=tuple(RuleRef(rule_id=m.rule_id, pack_id=m.pack_id, pack_version=m.pack_version,
                            decision=m.outcome.label, citation=m.citation, reason=m.reason)
                    for m in decision.matches),
        reasons=tuple(decision.reasons), quantity=need.quantity, profile=decision.profile.as_dict(),
    )
