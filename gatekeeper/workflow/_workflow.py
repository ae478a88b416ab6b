"""The permission workflow: licences turn pending into allow; otherwise a case is opened or joined.

``Workflow(gatekeeper)`` implements ``gatekeeper.service.Permits`` (``settle``, called by
``Gatekeeper.decide`` for pending decisions; ``refund``, for a draw whose decision was then denied)
and the reviewers' actions behind ``gatekeeper cases`` and ``gatekeeper licences`` (approve, deny,
revoke).

# INVARIANT: every state change (case.opened, case.joined, case.approval, case.approved, case.denied,
# licence.issued, licence.drawn, licence.exhausted, licence.revoked) is appended to the audit log
# through ``Gatekeeper.record_event``, except case.opened / case.joined, which ``settle`` hands back
# (``Settlement.events``) for the runtime to record in one durable batch with the decision's record,
# before the decision is returned. A request joins or opens a case only after its
# ``case.requested`` record is durable (an audit failure leaves the case as it was). A reviewer's
# change is recorded durably *before* the store commits it (``gatekeeper.audited``): a record that
# cannot be written leaves the store unchanged, and a commit that fails after its record is followed
# by a ``case.approve_failed`` / ``case.deny_failed`` / ``licence.revoke_failed`` record voiding it.
# A draw whose event cannot be written is given back and the error propagates (the decision then
# fails closed); so is a draw whose decision's own record then fails (``refund``, called by the
# runtime), once per decision id, never above the licence's limit. That refund's
# ``licence.refunded`` record comes after it, best effort (the log is what just failed): a
# give-back that cannot be recorded is logged instead, as one the store cannot make.
# INVARIANT: the reviewer of a case is never one of the principals who made its requests, and with
# ``workflow.approvals_required = 2`` a licence is issued only after two distinct reviewers approved
# the same terms. These checks run against the version of the case that the store then changes
# conditionally (``CaseStore.apply``), so a request joining meanwhile forces a re-check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gatekeeper import notify
from gatekeeper._log import get_logger
from gatekeeper.audited import Intent, audited
from gatekeeper.errors import ConflictError, InvalidInputError, NotFoundError, WorkflowError
from gatekeeper.model import Decision, Outcome, new_id
from gatekeeper.permits import Settlement
from gatekeeper.workflow.model import (
    NAC_WAIT_DAYS,
    PERMIT_KINDS,
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
T = TypeVar("T")


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
        notify.on_workflow_event(self.gk, kind, data)  # queued; sent off this call's path

    def _audited(self, intents: list[Intent], commit: Callable[[], T], *, failed: str, ids: dict[str, Any],
                 what: str) -> T:
        """A reviewer's change: ``intents`` recorded durably, then ``commit()`` (see ``gatekeeper.audited``).

        A ConflictError (another change to the case won) is recorded as voiding the records, with
        ``retried``: the caller re-reads, re-checks and records afresh.
        """
        result = audited(self.gk.record_event, intents, commit, failed=failed, ids=ids, what=what,
                         retried=lambda exc: isinstance(exc, ConflictError))
        for kind, _, data in intents:
            notify.on_workflow_event(self.gk, kind, data)  # only once the change is committed
        return result

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
            if lic.permit == "ACA" and self._d5_or_macau(decision.profile.countries, on):
                why = [*why, "is licence exception ACA, which does not cover a customer located in, headquartered "
                             "in or owned from D:5 or Macau (NAC or an individual licence is needed)"]
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
            elif lic.permit == "NAC" and lic.notified_on is not None:
                held.append(f"{lic.label}: the {NAC_WAIT_DAYS}-day wait after the notification ends on "
                            f"{lic.valid_from.isoformat()}")
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
                f"allowed under {drawn.label} ({drawn.scope.describe()}, valid until "
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
            # The decision will not be recorded, so the call will not proceed: give the quantity back
            # (unrecorded: the log just failed, and the draw it would explain is not in it either).
            self._give_back(lic.number, need.quantity, decision.decision_id, actor, record=False)
            raise
        if lic.remaining <= 0:
            try:
                self._event("licence.exhausted", actor, {"licence_number": lic.number,
                                                         "decision_id": decision.decision_id, "limit": lic.quantity})
            except Exception as exc:  # the draw's own record (remaining 0) is durable already
                log.error("licence.exhausted_unrecorded", licence=lic.number, error=str(exc))

    def refund(self, decision: Decision) -> None:
        """``Permits.refund``: ``decision`` drew on ``decision.licence_id`` and was then denied because its
        record could not be made durable (the runtime's ``_record_failed``): give the draw back.

        The quantity is the decision's need, what ``settle`` drew for it; the store gives it back at
        most once per decision id and never above the limit. Never raises: the denial stands
        whatever happens here, and a refund that fails leaves the draw standing, logged.
        """
        number = decision.licence_id
        if number is None:
            return
        try:
            quantity = need_of(decision).quantity
        except Exception as exc:  # cannot happen for a decision settle drew for; fail safe if it does
            log.error("licence.refund_failed", licence=number, decision_id=decision.decision_id,
                      error=f"{type(exc).__name__}: {exc}")
            return
        self._give_back(number, quantity, decision.decision_id, decision.request.principal or SYSTEM_ACTOR,
                        record=True)

    def _give_back(self, number: str, quantity: float, decision_id: str, actor: str, *, record: bool) -> None:
        """Refund one decision's draw in the store; log what happened. ``record``: also append a
        ``licence.refunded`` event (best effort: the log may be what failed; then it is logged)."""
        ids = {"licence": number, "decision_id": decision_id, "quantity": quantity}
        try:
            done = self.licences.refund(number, quantity, decision_id=decision_id)
        except Exception as exc:  # store unreachable: the draw stands, the denial too
            log.error("licence.refund_failed", **ids, error=f"{type(exc).__name__}: {exc}")
            return
        if done == "already":
            log.info("licence.refund_repeated", **ids)
            return
        if done == "refused":  # no such licence, or the credit would over-fill it: leave it drawn
            log.error("licence.refund_refused", **ids,
                      error="the licence is gone or giving the quantity back would exceed its limit")
            return
        log.warning("licence.refunded", **ids)
        if not record:
            return
        try:
            self.gk.record_event("licence.refunded", actor, {
                "licence_number": number, "decision_id": decision_id, "quantity": quantity,
                "why": "the decision's audit record could not be made durable; the call was denied"})
        except Exception as exc:
            log.error("licence.refund_unrecorded", **ids, error=f"{type(exc).__name__}: {exc}")

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
        actor = request.principal or SYSTEM_ACTOR
        # The record first, then the change: when the audit log fails, the case does not count the
        # request (and the decision is denied for the same failure). Which case the request opens or
        # joins is known only once the store has done it, hence a record of the request, then one of
        # what the store did.
        self._event("case.requested", actor, {
            "decision_id": decision.decision_id, "scope_key": key, "provider": need.provider,
            "account_id": need.account_id, "quantity": need.quantity})
        case, created = self.cases.open_or_join(fresh, request)
        # What the store did is recorded in one durable batch with the decision itself (the runtime
        # writes both, this event first, then queues the notification): one sync, not two.
        if created:
            then = f"case {case.case_id} opened for review"
            event = self._opened_event(case, decision, need, why, actor)
        else:
            then = f"joined open case {case.case_id} ({case.request_count} requests)"
            event = self._joined_event(case.case_id, case.request_count, decision, need, actor)
        return Settlement(Outcome.PENDING, case_id=case.case_id,
                          reasons=(f"{why}; {then}",), events=(event,))

    @staticmethod
    def _opened_event(case: Case, decision: Decision, need: Need, why: str,
                      actor: str) -> tuple[str, str, dict[str, Any]]:
        return "case.opened", actor, {
            "case_id": case.case_id, "scope_key": case.scope_key, "provider": case.provider,
            "account_id": case.account_id, "customer": case.customer, "decision_id": decision.decision_id,
            "quantity": need.quantity, "scope": case.scope.model_dump(mode="json"), "why": why}

    @staticmethod
    def _joined_event(case_id: str, requests: int, decision: Decision, need: Need,
                      actor: str) -> tuple[str, str, dict[str, Any]]:
        return "case.joined", actor, {"case_id": case_id, "decision_id": decision.decision_id,
                                      "quantity": need.quantity, "requests": requests}

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
                regions: tuple[str, ...] = (), permit: str = "licence",
                notified_on: date | None = None) -> tuple[Case, Licence | None]:
        """Record ``reviewer``'s approval; the last required approval issues the licence and closes the case.

        ``permit``: an individual ``licence`` (the number issued by BIS), licence exception ``NAC`` (the
        authorization number BIS gave, and ``notified_on``, the day the notification was filed: the permit
        is usable 25 days after it) or licence exception ``ACA`` (never for a D:5/Macau customer).
        Returns the case and the licence issued (None while a second approver is still needed).
        """
        reviewer, number = reviewer.strip(), licence_number.strip()
        self._check_terms(reviewer, number, expires, quantity, regions)
        kind = self._check_permit(permit, notified_on)
        for _ in range(MAX_RETRIES):
            case = self.get_case(case_id)
            self._check_reviewer(case, reviewer, "approve")
            if kind == "ACA" and self._d5_or_macau(
                    tuple(str(case.profile.get(k) or "") for k in
                          ("country", "headquarters_country", "ultimate_parent_country")), self.today()):
                raise InvalidInputError(f"licence exception ACA does not cover {case.customer}, located in, "
                                        "headquartered in or owned from D:5 or Macau; use NAC or a licence",
                                        field="permit")
            if any(_same(a.reviewer, reviewer) for a in case.approvals):
                raise WorkflowError(f"{reviewer} has already approved case {case.case_id}; "
                                    f"a second, different reviewer must approve it")
            qty = qround(quantity) if quantity is not None else case.requested_quantity
            if qty <= 0:
                raise InvalidInputError(f"case {case.case_id} asks for no countable accelerators; "
                                        f"give the licence quantity with --quantity", field="quantity")
            now = self.gk.clock()
            approval = Approval(reviewer=reviewer, at=now, licence_number=number, expires=expires, quantity=qty,
                                conditions=conditions.strip(), regions=regions, permit=kind,  # type: ignore[arg-type]
                                notified_on=notified_on)
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
                                            detail=f"{licence.label} issued to {licence.customer}: "
                                                   f"{licence.scope.describe()}, {fmt_qty(licence.quantity)} "
                                                   f"accelerators, valid {licence.valid_from} to "
                                                   f"{licence.valid_until}"))
            change = CaseChange(status="approved" if final else "open", approvals=approvals,
                                history=tuple(entries), licence=licence, at=now)
            try:
                updated = self._audited(
                    self._approval_records(case, approvals, licence, now),
                    partial(self.cases.apply, case.case_id, case.version, change), failed="case.approve_failed",
                    ids={"case_id": case.case_id, "reviewer": reviewer, "licence_number": number},
                    what=f"case {case.case_id} was not approved")
            except ConflictError:
                continue
            return updated, licence
        raise WorkflowError(f"case {case_id} kept changing while it was being approved; try again")

    def _approval_records(self, case: Case, approvals: tuple[Approval, ...], licence: Licence | None,
                          now: datetime) -> list[Intent]:
        """What an approval writes before it is committed: ``case.approval`` (not the last one), or
        ``case.approved`` and ``licence.issued``. ``at`` is the time the case's history entry carries."""
        approval = approvals[-1]
        terms = approval.model_dump(mode="json")
        at = now.isoformat()
        if licence is None:
            return [("case.approval", approval.reviewer, {
                "case_id": case.case_id, "reviewer": approval.reviewer, "approvals": len(approvals),
                "required": self.approvals_required, "terms": terms, "at": at})]
        return [
            ("case.approved", approval.reviewer, {
                "case_id": case.case_id, "approvers": [a.reviewer for a in approvals],
                "licence_number": licence.number, "terms": terms, "at": at}),
            ("licence.issued", approval.reviewer, {
                "licence_number": licence.number, "case_id": case.case_id, "provider": licence.provider,
                "account_id": licence.account_id, "customer": licence.customer,
                "scope": licence.scope.model_dump(mode="json"), "quantity": licence.quantity,
                "valid_from": licence.valid_from.isoformat(), "valid_until": licence.valid_until.isoformat(),
                "conditions": licence.conditions, "approvers": list(licence.approvers), "at": at}),
        ]

    def deny(self, case_id: str, *, reviewer: str, reason: str) -> Case:
        reviewer, reason = reviewer.strip(), reason.strip()
        if not reviewer:
            raise InvalidInputError("the reviewer must be named", field="by")
        if not reason:
            raise InvalidInputError("a reason must say why the case is denied", field="reason")
        for _ in range(MAX_RETRIES):
            case = self.get_case(case_id)
            self._check_reviewer(case, reviewer, "deny")
            now = self.gk.clock()
            change = CaseChange(status="denied", approvals=case.approvals, denial_reason=reason, at=now,
                                history=(HistoryEntry(at=now, actor=reviewer, action="denied", detail=reason),))
            record = {"case_id": case.case_id, "reviewer": reviewer, "reason": reason, "provider": case.provider,
                      "account_id": case.account_id, "at": now.isoformat()}
            try:
                updated = self._audited(
                    [("case.denied", reviewer, record)],
                    partial(self.cases.apply, case.case_id, case.version, change), failed="case.deny_failed",
                    ids={"case_id": case.case_id, "reviewer": reviewer}, what=f"case {case.case_id} was not denied")
            except ConflictError:
                continue
            return updated
        raise WorkflowError(f"case {case_id} kept changing while it was being denied; try again")

    def revoke(self, number: str, *, by: str, reason: str) -> Licence:
        by, reason = by.strip(), reason.strip()
        if not by:
            raise InvalidInputError("who revokes the licence must be named", field="by")
        if not reason:
            raise InvalidInputError("a reason must say why the licence is revoked", field="reason")
        lic = self.get_licence(number)
        if lic.status == "revoked":  # refused before anything is recorded (the store refuses it too)
            raise WorkflowError(f"licence {lic.number} was already revoked on {lic.revoked_at} by {lic.revoked_by}")
        now = self.gk.clock()
        # ``remaining`` as read now: a draw committed between this read and the revocation has its own
        # licence.drawn record with what it left.
        record = {"licence_number": lic.number, "by": by, "reason": reason, "provider": lic.provider,
                  "account_id": lic.account_id, "remaining": lic.remaining, "at": now.isoformat()}
        return self._audited(
            [("licence.revoked", by, record)], partial(self.licences.revoke, lic.number, by=by, reason=reason, at=now),
            failed="licence.revoke_failed", ids={"licence_number": lic.number, "by": by},
            what=f"licence {lic.number} was not revoked")

    # -- checks -------------------------------------------------------------------------------------
    def _check_terms(self, reviewer: str, number: str, expires: date, quantity: float | None,
                     regions: tuple[str, ...]) -> None:
        if not reviewer:
            raise InvalidInputError("the reviewer must be named", field="by")
        if not LICENCE_NUMBER_RE.match(number):
            raise InvalidInputError(f"licence number {number!r} must be 1-64 letters, digits, '.', '_', '/' or '-'",
                                    field="licence")
        today = self.today()
        if expires < today:
            raise InvalidInputError(f"the expiry date {expires.isoformat()} is in the past "
                                    f"(today is {today.isoformat()})", field="expires")
        if quantity is not None and not quantity > 0:
            raise InvalidInputError(f"the quantity must be a positive number of accelerators, not {quantity:g}",
                                    field="quantity")

    def _check_permit(self, permit: str, notified_on: date | None) -> str:
        kind = {k.lower(): k for k in PERMIT_KINDS}.get(permit.strip().lower())
        if kind is None:
            raise InvalidInputError(f"--permit must be one of {', '.join(PERMIT_KINDS)}, not {permit!r}",
                                    field="permit")
        if kind == "NAC":
            if notified_on is None:
                raise InvalidInputError("licence exception NAC needs --notified, the day the notification was filed",
                                        field="notified")
            if notified_on > self.today():
                raise InvalidInputError(f"--notified {notified_on.isoformat()} is in the future", field="notified")
        elif notified_on is not None:
            raise InvalidInputError(f"--notified is for licence exception NAC only, not {kind}", field="notified")
        return kind

    def _d5_or_macau(self, countries: tuple[str, ...], on: date) -> bool:
        return not self.gk.jurisdictions.expand(["D:5", "MO"], on).isdisjoint(c for c in countries if c)

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
                raise InvalidInputError(f"region {region!r} is not a known {case.provider} region", field="region")
        scope = case.scope.model_copy(update={"regions": tuple(last.regions)})
        valid_from = now.date()
        if last.permit == "NAC" and last.notified_on is not None:  # usable once the 25-day wait is over
            valid_from = max(valid_from, last.notified_on + timedelta(days=NAC_WAIT_DAYS))
        return Licence(number=last.licence_number, provider=case.provider, account_id=case.account_id,
                       legal_name=case.legal_name, scope=scope, quantity=last.quantity, remaining=last.quantity,
                       valid_from=valid_from, valid_until=last.expires, conditions=last.conditions,
                       case_id=case.case_id, approvers=tuple(a.reviewer for a in approvals), issued_at=now,
                       permit=last.permit, notified_on=last.notified_on)


def workflow_of(gatekeeper: Runtime) -> Workflow:
    """The runtime's workflow (its ``permits``), or one over its store when other permits were injected."""
    permits = gatekeeper.permits
    return permits if isinstance(permits, Workflow) else Workflow(gatekeeper)


def case_request(decision: Decision, need: Need) -> CaseRequest:
    """The case's record of one pending decision (what it asked for, why it was held, the profile as it was)."""
    req = decision.request
    return CaseRequest(
        decision_id=decision.decision_id, at=decision.evaluated_at, principal=req.principal,
        on_behalf_of=req.on_behalf_of, provider=req.provider, account_id=req.account_id, region=req.region,
        service=req.service,
        operation=req.operation, source=req.source, resource_ids=tuple(req.resource_ids),
        items=tuple(RequestItem(instance_type=i.instance_type, count=i.item.count, export_class=i.export_class,
                                choice=i.item.choice, path=i.item.path) for i in decision.items),
        accelerators=need.accelerators,
        rules=tuple(RuleRef(rule_id=m.rule_id, pack_id=m.pack_id, pack_version=m.pack_version,
                            decision=m.outcome.label, citation=m.citation, reason=m.reason,
                            review_policy=m.review_policy, basis=m.basis)
                    for m in decision.matches),
        reasons=tuple(decision.reasons), quantity=need.quantity, profile=decision.profile.as_dict(),
    )
