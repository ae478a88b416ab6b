"""Reconcile: find the reviewer records whose change never reached the store.

``gatekeeper.audited`` records a reviewer's change durably before committing it, and voids the
record (``*_failed`` with ``voids``) when the commit fails. Only a crash, or an audit log that fails,
between the record and the follow-up can leave a record that is neither matched by its change nor
voided. This module finds those: each reviewer record is looked up in the state store by what it
names and its ``at`` (the time the change carries in the store too):

=========================  ==========================================================================
record                     its counterpart in the store
=========================  ==========================================================================
``case.approval``          the case's history entry ``approval`` by the reviewer at ``at``
``case.approved``          the case's history entry ``approved`` by the reviewer at ``at``
``case.denied``            the case's history entry ``denied`` by the reviewer at ``at``
``licence.issued``         the licence with that number, issued from that case
``licence.revoked``        the licence revoked at ``at`` by ``by``
``screening.hit_cleared``  the hit cleared at ``at`` by the actor
``guardrails.applying``    (in the log itself) a ``guardrails.applied`` naming it as its ``intent``
=========================  ==========================================================================

``accounts.import`` is not reconciled here: a successful import writes no follow-up and its rows
are upserts that later imports may replace; its file's SHA-256 names what was imported.

This is a lower layer: it receives the records (``AuditReader.event_records``) and the state store
(``Gatekeeper.store``), and imports neither the runtime nor the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A reviewer record with neither its change in the store nor a record voiding it."""

    seq: int
    kind: str
    actor: str
    at: str
    about: str  # what the record names: "case case-3", "licence L-1", "hit aws:1234/entry-9"
    why: str  # what the store holds instead

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The counts and the unmatched records: the CLI, the API and the console all show this one result."""

    checked: int  # reviewer records looked up (voided ones excluded)
    voided: int  # reviewer records voided by a ``*_failed`` follow-up
    unmatched: tuple[Unmatched, ...]

    @property
    def matched(self) -> int:
        """Reviewer records whose change is in the store (``checked`` less the unmatched)."""
        return self.checked - len(self.unmatched)

    def summary(self) -> str:
        """The counts in one sentence, as the CLI prints it and the console shows it."""
        return (f"{self.checked + self.voided:,} reviewer records: {self.matched:,} matched by their change in the "
                f"store, {self.voided:,} voided by a failure record, {len(self.unmatched):,} without their change")

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "matched": self.matched, "voided": self.voided,
                "unmatched": [u.as_dict() for u in self.unmatched]}


def reconcile_log(directory: Path, store: Any) -> Reconciliation:
    """``reconcile`` over the audit log in ``directory`` (its records of ``RECORD_KINDS``) and ``store``."""
    from gatekeeper.audit.review import AuditReader

    with AuditReader(directory) as reader:
        records = reader.event_records(RECORD_KINDS)
    return reconcile(records, store)


def reconcile(records: Iterable[dict[str, Any]], store: Any) -> Reconciliation:
    """Check every reviewer record of ``records`` (each with ``seq``, ``kind``, ``actor``, ``data``;
    any order, any other kinds ignored except the ``voids`` of every record) against ``store``."""
    records = sorted(records, key=lambda r: int(r["seq"]))
    voided: set[int] = set()
    applied: set[int] = set()
    for rec in records:
        data = rec.get("data") or {}
        voided.update(int(s) for s in data.get("voids") or () if isinstance(s, int))
        if rec["kind"] == "guardrails.applied" and isinstance(data.get("intent"), int):
            applied.add(int(data["intent"]))
    where = _Where(store, frozenset(applied))
    checked = n_voided = 0
    unmatched: list[Unmatched] = []
    for rec in records:
        check = _CHECKS.get(rec["kind"])
        if check is None:
            continue
        if rec["seq"] in voided:
            n_voided += 1
            continue
        checked += 1
        data = rec.get("data") or {}
        found = check(data, rec, where)
        if found is not None:
            about, why = found
            unmatched.append(Unmatched(seq=int(rec["seq"]), kind=rec["kind"], actor=str(rec.get("actor") or ""),
                                       at=str(data.get("at") or rec.get("ts") or ""), about=about, why=why))
    return Reconciliation(checked=checked, voided=n_voided, unmatched=tuple(unmatched))


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a record's change is looked for: the state store, and the log's ``guardrails.applied``."""

    store: Any
    applied: frozenset[int]  # the seqs of the ``guardrails.applying`` records an ``applied`` names


Problem = tuple[str, str] | None
"""None when the record's change is in the store, else (what it names, what the store holds)."""
Check = Callable[[dict[str, Any], dict[str, Any], _Where], Problem]


def _same_time(a: Any, b: Any) -> bool:
    if a is None or b is None or a == "" or b == "":
        return False
    try:
        ta = a if isinstance(a, datetime) else datetime.fromisoformat(str(a))
        tb = b if isinstance(b, datetime) else datetime.fromisoformat(str(b))
    except ValueError:
        return False
    if (ta.tzinfo is None) != (tb.tzinfo is None):
        return False
    return ta == tb


def _history(action: str) -> Check:
    def check(data: dict[str, Any], rec: dict[str, Any], where: _Where) -> Problem:
        case_id = str(data.get("case_id") or "")
        about = f"case {case_id}"
        case = where.store.cases.get_case(case_id) if case_id else None
        if case is None:
            return about, "no such case in the store"
        actor = rec.get("actor")
        for entry in case.history:
            if entry.action == action and entry.actor == actor and _same_time(entry.at, data.get("at")):
                return None
        return about, f"no {action!r} history entry by {actor} at {data.get('at')} (case is {case.status})"
    return check


def _licence_issued(data: dict[str, Any], rec: dict[str, Any], where: _Where) -> Problem:
    about, lic = _licence(data, where.store)
    if lic is None:
        return about, "no such licence in the store"
    if lic.case_id != data.get("case_id"):
        return about, f"the licence on file was issued from case {lic.case_id}, not {data.get('case_id')}"
    return None


def _licence_revoked(data: dict[str, Any], rec: dict[str, Any], where: _Where) -> Problem:
    about, lic = _licence(data, where.store)
    if lic is None:
        return about, "no such licence in the store"
    if lic.status != "revoked":
        return about, "the licence is not revoked in the store"
    if lic.revoked_by != data.get("by") or not _same_time(lic.revoked_at, data.get("at")):
        return about, f"revoked by {lic.revoked_by} at {lic.revoked_at}, not by {data.get('by')} at {data.get('at')}"
    return None


def _licence(data: dict[str, Any], store: Any) -> tuple[str, Any]:
    """What the record names ("licence N") and the licence on file under that number (or None)."""
    number = str(data.get("licence_number") or "")
    return f"licence {number}", store.licences.get_licence(number) if number else None


def _hit_cleared(data: dict[str, Any], rec: dict[str, Any], where: _Where) -> Problem:
    provider, account_id, entry_id = (str(data.get(k) or "") for k in ("provider", "account_id", "entry_id"))
    about = f"hit {provider}:{account_id}/{entry_id}"
    hits = where.store.screening.find_hits(account_id, entry_id, provider or None)
    if not hits:
        return about, "no such screening hit in the store"
    hit = hits[0]
    if hit.cleared_by != rec.get("actor") or not _same_time(hit.cleared_at, data.get("at")):
        held = f"cleared by {hit.cleared_by} at {hit.cleared_at}" if hit.cleared_by else f"{hit.status}, not cleared"
        return about, held
    return None


def _guardrails_applied(data: dict[str, Any], rec: dict[str, Any], where: _Where) -> Problem:
    if int(rec["seq"]) in where.applied:
        return None
    return (f"{data.get('cloud', '?')} guardrails",
            "no guardrails.applied or guardrails.apply_failed record follows it (the cloud may be partly changed)")


_CHECKS: dict[str, Check] = {
    "case.approval": _history("approval"),
    "case.approved": _history("approved"),
    "case.denied": _history("denied"),
    "licence.issued": _licence_issued,
    "licence.revoked": _licence_revoked,
    "screening.hit_cleared": _hit_cleared,
    "guardrails.applying": _guardrails_applied,  # from the log itself: the store is not asked
}

LOOKED_FOR: dict[str, str] = {
    "case.approval": "a first approval: the case's 'approval' history entry by the reviewer at that time",
    "case.approved": "the final approval: the case's 'approved' history entry by the reviewer at that time",
    "case.denied": "a denial: the case's 'denied' history entry by the reviewer at that time",
    "licence.issued": "a licence issued on approval: the licence with that number, issued from that case",
    "licence.revoked": "a revocation: the licence revoked at that time by that reviewer",
    "screening.hit_cleared": "a screening hit cleared as a false positive: the hit cleared at that time by the actor",
    "guardrails.applying": "guardrails about to be applied to a cloud: a guardrails.applied record naming it",
}
"""What each reconciled kind of record is, and the counterpart it is looked up by (for people reading a report)."""

RECONCILED_KINDS: tuple[str, ...] = tuple(_CHECKS)
"""The record kinds checked against the store; ``RECORD_KINDS`` adds those read to void or match them."""
FOLLOW_UP_KINDS: tuple[str, ...] = ("case.approve_failed", "case.deny_failed", "licence.revoke_failed",
                                    "screening.hit_clear_failed", "guardrails.apply_failed", "guardrails.applied")
RECORD_KINDS: tuple[str, ...] = (*RECONCILED_KINDS, *FOLLOW_UP_KINDS)
