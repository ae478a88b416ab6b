"""The one place the web layer reaches into gatekeeper: decisions, workflow, screening, audit review.

A thin facade over the real functions (``Gatekeeper.decide``, ``Workflow.approve/deny/revoke``, the
stores' listings, ``gatekeeper.screening``, ``gatekeeper.audit`` review): no workflow or audit logic
lives here, only argument shaping, so the API and the console behave exactly like the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gatekeeper.audit.review import Filters
from gatekeeper.errors import InvalidInputError, NotFoundError
from gatekeeper.model import PROVIDERS, CustomerProfile, Decision, ProvisioningRequest
from gatekeeper.reconcile import Reconciliation
from gatekeeper.service import Gatekeeper
from gatekeeper.workflow import Case, Licence, Workflow
from gatekeeper.workflow.model import CASE_STATUSES

MAX_QUEUE = 500
BUCKETS = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class Account:
    """A customer as the console shows it: the profile, its screening hits, cases and licences."""

    profile: CustomerProfile
    hits: tuple[Any, ...]  # gatekeeper.screening.StoredHit, open, cleared and lapsed
    cases: tuple[Case, ...]
    licences: tuple[Licence, ...]

    def as_json(self, on: date) -> dict[str, Any]:
        data = self.profile.as_dict()
        data["screening"] = [h.as_dict() for h in self.hits]
        data["cases"] = [c.summary() for c in self.cases]
        data["licences"] = [lic.as_json(on) for lic in self.licences]
        return data


class Review:
    """What the API and the console do, each call delegating to the module that owns it."""

    def __init__(self, gk: Gatekeeper) -> None:
        self.gk = gk
        self.workflow = Workflow(gk)

    def today(self) -> date:
        return self.gk.clock().date()

    # -- decisions ---------------------------------------------------------------------------
    def decide(self, request: ProvisioningRequest, *, dry_run: bool) -> Decision:
        return self.gk.with_profile(self.gk.decide(request, dry_run=dry_run))

    # -- cases and licences (gatekeeper.workflow and the state store) ------------------------
    def cases(self, status: str | None = None) -> list[Case]:
        if status is not None and status not in CASE_STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(CASE_STATUSES)}, not {status!r}",
                                    field="status")
        found: list[Case] = self.gk.store.cases.list_cases(status)
        return found

    def queue(self) -> list[Case]:
        """Open cases with their requests loaded (the facts and citations a reviewer works from), oldest first."""
        out = []
        for summary in reversed(self.cases("open")[:MAX_QUEUE]):
            case = self.gk.store.cases.get_case(summary.case_id)
            if case is not None:
                out.append(case)
        return out

    def case(self, case_id: str) -> Case:
        return self.workflow.get_case(case_id)

    def approve(self, case_id: str, *, reviewer: str, licence: str, expires: date, quantity: float | None,
                conditions: str = "", regions: tuple[str, ...] = (), permit: str = "licence",
                notified: date | None = None) -> tuple[Case, Licence | None]:
        return self.workflow.approve(case_id, reviewer=reviewer, licence_number=licence, expires=expires,
                                     quantity=quantity, conditions=conditions, regions=regions, permit=permit,
                                     notified_on=notified)

    def deny(self, case_id: str, *, reviewer: str, reason: str) -> Case:
        return self.workflow.deny(case_id, reviewer=reviewer, reason=reason)

    def licences(self, provider: str | None = None, account_id: str | None = None) -> list[Licence]:
        if provider is not None:
            provider = _provider(provider)
        found: list[Licence] = self.gk.store.licences.list_licences(provider, account_id)
        return found

    def licence(self, number: str) -> Licence:
        return self.workflow.get_licence(number)

    def revoke(self, number: str, *, by: str, reason: str) -> Licence:
        return self.workflow.revoke(number, by=by, reason=reason)

    # -- customers (the profile store and gatekeeper.screening) ------------------------------
    def profiles(self, provider: str | None = None) -> list[CustomerProfile]:
        found: list[CustomerProfile] = self.gk.store.profiles.list_profiles(_provider(provider) if provider else None)
        return found

    def account(self, provider: str, account_id: str) -> Account:
        provider = _provider(provider)
        key = account_id.strip().lower() if provider == "azure" else account_id.strip()
        profile = self.gk.store.profiles.get_profile(provider, key)
        if profile is None:
            raise NotFoundError(f"no profile for {provider} account {account_id!r}: it is treated as an "
                                "unverified foreign customer (gatekeeper accounts import adds it)")
        cases = tuple(c for c in self.cases() if c.provider == provider and c.account_id == key)
        return Account(profile, self.screening_hits(provider, key), cases, tuple(self.licences(provider, key)))

    def screening_hits(self, provider: str, account_id: str) -> tuple[Any, ...]:
        from gatekeeper.errors import StoreError
        from gatekeeper.screening import list_hits

        try:
            hits = list_hits(self.gk, include_all=True)
        except StoreError:  # a store without screening tables (DynamoDB): the profile's own hits stand
            return ()
        return tuple(h for h in hits if h.provider == provider and h.account_id == account_id)

    def open_hits(self) -> list[Any]:
        from gatekeeper.errors import StoreError
        from gatekeeper.screening import list_hits

        try:
            return list(list_hits(self.gk))
        except StoreError:
            return []

    # -- the audit log (gatekeeper.audit.review, gatekeeper.audit.verify) ---------------------
    def audit_directory(self) -> Path:
        from gatekeeper.audit import local_directory

        return local_directory(self.gk.config.audit.url, Path(self.gk.config.base_dir))

    def audit_query(self, filters: Filters, *, limit: int = 100) -> dict[str, Any]:
        """The newest ``limit`` matching records, newest first, and how many match in all."""
        from gatekeeper.audit.review import AuditReader

        with AuditReader(self.audit_directory()) as reader:
            total = reader.count(filters)  # from the segments' footers where the filter allows
            # Segments read newest first until ``limit`` records are found; older ones never opened.
            records = reader.query(filters, limit=limit, newest=True)
        for rec in records:
            rec["ts"] = _iso_ts(rec.get("ts"))
        return {"total": total, "records": records}

    def audit_summary(self, filters: Filters, *, bucket: str = "day") -> dict[str, Any]:
        """``AuditReader.summary`` with the days grouped into ``bucket`` (day, week, month) for the charts."""
        from gatekeeper.audit.review import DECISIONS, AuditReader

        if bucket not in BUCKETS:
            raise InvalidInputError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}", field="bucket")
        with AuditReader(self.audit_directory()) as reader:
            data = reader.summary(filters)
        grouped: dict[str, dict[str, int]] = {}
        for day in data["by_day"]:
            key = _bucket(day["day"], bucket)
            row = grouped.setdefault(key, dict.fromkeys(DECISIONS, 0))
            for d in DECISIONS:
                row[d] += int(day.get(d, 0))
        for key in _every_bucket(sorted(k for k in grouped if k != "unknown"), bucket):
            grouped.setdefault(key, dict.fromkeys(DECISIONS, 0))  # quiet periods show as gaps, not skipped
        data["bucket"] = bucket
        data["over_time"] = [{"bucket": k, "counts": v, "total": sum(v.values())} for k, v in sorted(grouped.items())]
        return data

    def verify(self) -> dict[str, Any]:
        """``gatekeeper audit verify``: the chain, the segments and the signed checkpoints, checked now."""
        from gatekeeper.audit.verify import verify_log
        from gatekeeper.stores.audit_trust import trust_from_config

        self.gk.publish_audit_digest()  # records written by this server so far are vouched for before the check
        trust = trust_from_config(self.gk.config)  # the keys and digest kept outside the log
        try:
            report: dict[str, Any] = verify_log(self.audit_directory(), trust=trust).as_dict()
        finally:
            trust.close()
        return report

    def reconcile(self) -> Reconciliation:
        """``gatekeeper audit reconcile``: reviewer records whose change is not in the state store."""
        from gatekeeper.reconcile import reconcile_log

        return reconcile_log(self.audit_directory(), self.gk.store)

    def clear_hit(self, provider: str, account_id: str, entry_id: str, *, by: str, reason: str) -> Any:
        from gatekeeper.screening import clear_hit

        return clear_hit(self.gk, account_id, entry_id, provider=_provider(provider), by=by, reason=reason)


def _provider(value: str) -> str:
    p = value.strip().lower()
    if p not in PROVIDERS:
        raise InvalidInputError(f"provider must be one of {', '.join(PROVIDERS)}, not {value!r}", field="provider")
    return p


def _iso_ts(value: Any) -> Any:
    """One time format in the API whichever way a record was read: ISO 8601 with the offset."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            return value
    return value


def _every_bucket(keys: list[str], bucket: str, limit: int = 400) -> list[str]:
    """Every bucket label from the first to the last of ``keys`` (none when there would be over ``limit``)."""
    if len(keys) < 2:
        return []
    if bucket == "month":
        y, m = (int(x) for x in keys[0].split("-"))
        y2, m2 = (int(x) for x in keys[-1].split("-"))
        first, span = y * 12 + m - 1, (y2 - y) * 12 + (m2 - m)
        return [] if span > limit else [f"{(first + i) // 12:04d}-{(first + i) % 12 + 1:02d}" for i in range(span + 1)]
    step = 7 if bucket == "week" else 1
    first, last = date.fromisoformat(keys[0]).toordinal(), date.fromisoformat(keys[-1]).toordinal()
    if (last - first) // step > limit:
        return []
    return [date.fromordinal(d).isoformat() for d in range(first, last + 1, step)]


def _bucket(day: str, bucket: str) -> str:
    """The label of the week (its Monday) or month containing ``day`` (YYYY-MM-DD)."""
    if bucket == "day" or day == "unknown":
        return day
    d = date.fromisoformat(day)
    if bucket == "week":
        return date.fromordinal(d.toordinal() - d.weekday()).isoformat()
    return d.strftime("%Y-%m")


def audit_filters_of(*, since: str | None = None, until: str | None = None, decision: str | None = None,
                     customer: str | None = None, country: str | None = None, chip: str | None = None,
                     rule: str | None = None, provider: str | None = None, kind: str | None = None) -> Filters:
    """``gatekeeper.audit.review.Filters`` from text (query parameters, form fields); blanks mean any.

    InvalidInputError names the field that is wrong.
    """
    from gatekeeper.audit.review import parse_when

    def clean(v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    try:
        start = parse_when(clean(since))
    except InvalidInputError as exc:
        raise InvalidInputError(exc.detail, field="since") from None
    try:
        end = parse_when(clean(until), end=True)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.detail, field="until") from None
    prov = clean(provider)
    return Filters(since=start, until=end, decision=clean(decision), customer=clean(customer),
                   country=clean(country), chip=clean(chip), rule=clean(rule),
                   provider=_provider(prov) if prov else None, kind=clean(kind) or "decision")
