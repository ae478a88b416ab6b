"""What reviewers are told: a notification per new pending case, case near its deadline, licence near
its expiry or nearly drawn down. Pure functions of the workflow's records and the time; no I/O.

Each notification has a ``key``; deadline and licence notifications are sent once per key (the
notifier remembers the keys it sent), a new case once by nature.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gatekeeper.notify.settings import NotifyConfig
from gatekeeper.workflow.model import Case, Licence, fmt_qty


@dataclass(frozen=True)
class Notification:
    kind: str  # one of settings.EVENT_KINDS
    key: str  # what it is about; told once per key
    subject: str
    text: str
    url: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "key": self.key, "subject": self.subject, "text": self.text,
                "url": self.url, "at": self.at.isoformat(), "data": self.data}


def _link(cfg: NotifyConfig, path: str) -> str:
    return cfg.console_url.rstrip("/") + path if cfg.console_url else ""


def _hours(delta: timedelta) -> str:
    h = abs(delta.total_seconds()) / 3600
    return f"{h:.0f} h" if h < 48 else f"{h / 24:.0f} days"


def case_opened(cfg: NotifyConfig, case: Case, at: datetime) -> Notification:
    totals = case.totals()
    due = case.opened_at + timedelta(hours=cfg.case_deadline_hours)
    return Notification(
        kind="case.opened", key=f"case.opened:{case.case_id}", at=at,
        subject=f"New case {case.case_id}: {case.customer} asks for {case.scope.describe()}",
        text=(f"{case.customer} ({case.provider} {case.account_id}; location {case.profile.get('country') or '?'}, "
              f"headquarters {case.profile.get('headquarters_country') or '?'}, ultimate parent "
              f"{case.profile.get('ultimate_parent_country') or '?'}) asks for {totals.describe()}. "
              f"The request is held until a reviewer approves a licence or denies it; please decide by "
              f"{due:%Y-%m-%d %H:%M} UTC."),
        url=_link(cfg, f"/cases/{case.case_id}"),
        data={"case_id": case.case_id, "customer": case.customer, "provider": case.provider,
              "account_id": case.account_id, "quantity": totals.quantity, "scope": case.scope.describe(),
              "deadline": due.isoformat()})


def case_deadline(cfg: NotifyConfig, case: Case, now: datetime) -> Notification | None:
    """A reminder once an open case is within ``case_warning_hours`` of its deadline (or past it)."""
    if case.status != "open":
        return None
    due = case.opened_at + timedelta(hours=cfg.case_deadline_hours)
    if now < due - timedelta(hours=cfg.case_warning_hours):
        return None
    when = f"is overdue by {_hours(now - due)}" if now >= due else f"is due in {_hours(due - now)}"
    return Notification(
        kind="case.deadline", key=f"case.deadline:{case.case_id}", at=now,
        subject=f"Case {case.case_id} {when}",
        text=(f"Case {case.case_id} for {case.customer} ({case.scope.describe()}, {case.request_count} held "
              f"request(s)) was opened {case.opened_at:%Y-%m-%d %H:%M} UTC and {when} "
              f"(deadline {due:%Y-%m-%d %H:%M} UTC)."),
        url=_link(cfg, f"/cases/{case.case_id}"),
        data={"case_id": case.case_id, "customer": case.customer, "deadline": due.isoformat(),
              "overdue": now >= due})


def licence_expiring(cfg: NotifyConfig, lic: Licence, now: datetime) -> Notification | None:
    if lic.state(now.date()) != "active":
        return None
    days = (lic.valid_until - now.date()).days
    if days > cfg.licence_expiry_days:
        return None
    return Notification(
        kind="licence.expiring", key=f"licence.expiring:{lic.number}", at=now,
        subject=f"Licence {lic.number} of {lic.customer} expires in {days} day{'' if days == 1 else 's'}",
        text=(f"Licence {lic.number} ({lic.scope.describe()}) of {lic.customer} is valid until "
              f"{lic.valid_until.isoformat()}; {fmt_qty(lic.remaining)} of {fmt_qty(lic.quantity)} accelerators "
              f"are left. Requests it covers are held again after that day."),
        url=_link(cfg, f"/licences/{lic.number}"),
        data={"licence_number": lic.number, "customer": lic.customer, "valid_until": lic.valid_until.isoformat(),
              "days_left": days, "remaining": lic.remaining, "quantity": lic.quantity})


def licence_low(cfg: NotifyConfig, lic: Licence, now: datetime) -> Notification | None:
    if lic.status != "active" or lic.quantity <= 0 or lic.remaining > cfg.licence_low_fraction * lic.quantity:
        return None
    left = "is used up" if lic.remaining <= 0 else f"has {fmt_qty(lic.remaining)} of {fmt_qty(lic.quantity)} left"
    return Notification(
        kind="licence.low", key=f"licence.low:{lic.number}", at=now,
        subject=f"Licence {lic.number} of {lic.customer} {left}",
        text=(f"Licence {lic.number} ({lic.scope.describe()}) of {lic.customer} {left} accelerators; requests "
              f"beyond it are held for review (valid until {lic.valid_until.isoformat()})."),
        url=_link(cfg, f"/licences/{lic.number}"),
        data={"licence_number": lic.number, "customer": lic.customer, "remaining": lic.remaining,
              "quantity": lic.quantity})


def due(cfg: NotifyConfig, cases: Iterable[Case], licences: Iterable[Licence], now: datetime) -> list[Notification]:
    """The deadline and licence notifications due at ``now`` (before removing those already sent)."""
    out = [n for c in cases if (n := case_deadline(cfg, c, now))]
    for lic in licences:
        out += [n for n in (licence_expiring(cfg, lic, now), licence_low(cfg, lic, now)) if n]
    return [n for n in out if n.kind in cfg.events]
