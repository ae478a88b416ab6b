"""The Gatekeeper runtime: one object that every adapter, hook, CLI command and the HTTP API calls.

``Gatekeeper.decide(request)`` runs the flow of DESIGN.md: classify (catalog) -> subject (profile
store) -> engine -> permits (licences turn pending into allow; otherwise a case is opened or joined)
-> audit (durable) -> return the Decision for the adapter to enforce.

# INVARIANT: when ``decide`` returns a decision on accelerated compute (or any decision with
# ``record_all``), its audit record is already on disk. If the record cannot be written, the decision
# returned is a deny carrying the error, so that the call does not proceed unrecorded.
# INVARIANT: ``decide_deferred`` (the AWS adapter's two-step path) returns a blocking decision (pending,
# deny) with its record on disk, as ``decide`` does; an allowed or flagged one with its record written
# and a ticket, and the call proceeds only after ``confirm(decision, ticket)`` has returned a decision
# that does not block: its record is then on disk (or, failing that, the same deny ``decide`` returns).
# INVARIANT: a plain request is decided without a profile look-up unless its account is one whose
# stored profile names a country of a comprehensive embargo (``PolicySet.plain_countries``): that set
# of accounts is read from the store at most every ``EMBARGOED_SUBJECTS_TTL`` seconds (and on
# ``refresh_subjects``), so a customer imported by another process is covered within that delay.
# INVARIANT: an exception while deciding never escapes ``decide``: it becomes a deny (on_error =
# "deny", the default) or an allow flagged with the error (on_error = "allow"), audited with the error.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gatekeeper._construct import fast_new
from gatekeeper._log import get_logger
from gatekeeper.catalog import Catalog, default_catalog
from gatekeeper.engine import Engine, Evaluation
from gatekeeper.errors import AuditError, GatekeeperError
from gatekeeper.jurisdictions import Jurisdictions, default_jurisdictions
from gatekeeper.model import (
    CustomerProfile,
    Decision,
    Outcome,
    ProvisioningRequest,
    utcnow,
)
from gatekeeper.permits import Permits
from gatekeeper.permits import Settlement as Settlement  # re-exported: where callers found it
from gatekeeper.policy import PolicySet, load_policies

if TYPE_CHECKING:  # pydantic's models are imported only when no configuration is given
    from gatekeeper.audit._ticket import Ticket
    from gatekeeper.config import Config

log = get_logger("gatekeeper")

# How long the accounts with an embargoed country are trusted before the store is read again (seconds).
EMBARGOED_SUBJECTS_TTL = 60.0
EMBARGOED_SUBJECTS_RETRY = 5.0

# Decisions are built on the hot path without the frozen-dataclass __setattr__ toll (see fast_new).
_new_decision = fast_new(Decision)
# The workflow's events for one decision: (kind, actor, data), recorded in one batch with it.
_Events = tuple[tuple[str, str, dict[str, Any]], ...]


class _DecisionIds:
    """``dec-`` and 16 random hex digits, the shape of ``model.new_id("dec")``.

    ``new_id`` goes through uuid.uuid4(), whose UUID object costs more than the rest of a plain
    decision, and ``os.urandom(8)`` is a system call per decision; eight bytes at a time from a
    buffer of the OS's randomness give the same 64 random bits with one system call per 512
    decisions. A forked child drops the buffer it inherited (or two processes would hand out the
    same ids).
    """

    _SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._at = 0

    def drop(self) -> None:
        self._lock = threading.Lock()
        self._buf, self._at = b"", 0

    def __call__(self) -> str:
        with self._lock:
            at = self._at
            if at >= len(self._buf):
                self._buf, at = os.urandom(self._SIZE), 0
            self._at = at + 8
            return "dec-" + self._buf[at:at + 8].hex()


_decision_id = _DecisionIds()
os.register_at_fork(after_in_child=_decision_id.drop)


class AuditSink(Protocol):
    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        ...

    def close(self) -> None:
        ...


class Gatekeeper:
    """Decides, settles, records. Thread-safe; one per process is the norm (see ``gatekeeper.runtime``)."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: Any | None = None,
        audit: AuditSink | None = None,
        permits: Permits | None = None,
        policies: PolicySet | None = None,
        catalog: Catalog | None = None,
        jurisdictions: Jurisdictions | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if config is None:
            from gatekeeper.config import Config

            config = Config()
        self.config = config
        self.catalog = catalog or default_catalog()
        self.jurisdictions = jurisdictions or default_jurisdictions()
        self.clock = clock
        self._lock = threading.Lock()
        if policies is None:
            policies = load_policies(self.config.policy_paths(), catalog=self.catalog,
                                     jurisdictions=self.jurisdictions)
        self.engine = Engine(policies, self.catalog, self.jurisdictions,
                             fail_closed=self.config.on_error == "deny",
                             provider_accounts=self.config.provider_accounts())
        self._store = store
        self._audit = audit
        self._permits = permits
        self._unlooked: dict[tuple[str, str], CustomerProfile] = {}
        self._embargoed: frozenset[tuple[str, str]] | None = None
        self._embargoed_at = 0.0
        self._decision_record: Callable[[Decision], dict[str, Any]] | None = None
        self._audit_openers: list[Callable[[AuditSink], None]] = []

    # -- lazily opened parts (a CLI command that needs none of them opens none) --------------
    @property
    def store(self) -> Any:
        if self._store is None:
            return self.open_state_store()
        return self._store

    def open_state_store(self, *, create: bool = False) -> Any:
        """The store of ``[store]`` (becomes ``.store``): a missing SQLite file is an error unless
        ``create`` (``store init``), ``[store] create`` or the embedded default URL allows making it."""
        from gatekeeper.config_reader import DEFAULT_STORE_URL
        from gatekeeper.stores import open_store

        with self._lock:
            if self._store is None:
                s = self.config.store
                self._store = open_store(s.url, base_dir=self.config.base_dir, timeout_seconds=s.timeout_seconds,
                                         create=create or s.create or s.url == DEFAULT_STORE_URL)
            return self._store

    @property
    def audit(self) -> AuditSink:
        if self._audit is None:
            with self._lock:
                if self._audit is None:
                    from gatekeeper.audit import open_audit_log
                    from gatekeeper.stores.audit_trust import trust_from_config

                    a = self.config.audit
                    audit = open_audit_log(
                        a.url, signing_key=self.config.resolve(a.signing_key),
                        segment_max_bytes=a.segment_max_bytes, segment_max_seconds=a.segment_max_seconds,
                        base_dir=Path(self.config.base_dir), trust=trust_from_config(self.config),
                        witness_interval=a.witness_interval_seconds,
                    )
                    for opened in self._audit_openers:  # before any thread can append to it
                        opened(audit)
                    self._audit = audit
        return self._audit

    def on_audit_open(self, opened: Callable[[AuditSink], None]) -> None:
        """Call ``opened`` with the audit log now if it is open, and with every log opened from now on.

        The log is reopened after ``close_audit`` (a Lambda invocation ends with one), so whatever
        wraps a log's appends (the Prometheus metrics) registers here rather than wrapping one log once.
        """
        with self._lock:
            self._audit_openers.append(opened)
            audit = self._audit
        if audit is not None:
            opened(audit)

    @property
    def permits(self) -> Permits:
        if self._permits is None:
            with self._lock:
                if self._permits is None:
                    from gatekeeper.workflow import Workflow

                    self._permits = Workflow(self)
        return self._permits

    # -- deciding ----------------------------------------------------------------------------
    def decide(self, request: ProvisioningRequest, *, dry_run: bool = False) -> Decision:
        """Decide ``request``; unless ``dry_run``, open/join a case when pending and audit durably."""
        decision, plain, events = self._decide(request, dry_run)
        if plain or dry_run:
            return decision
        if events:
            return self._record_with_events(decision, events, decision.evaluated_at)
        return self._record(decision)

    def decide_deferred(self, request: ProvisioningRequest, *,
                        dry_run: bool = False) -> tuple[Decision, Ticket | None]:
        """``decide``, with the durability of an allowed or flagged decision's record left for later.

        For an adapter that decides some time before the call leaves the process (the AWS adapter:
        botocore serialises and signs after the decision). A pending or denied decision (durable
        before the caller raises), one recorded with the workflow's events, or one without a record,
        is returned as ``decide`` returns it, with no ticket. An allowed or
        flagged decision's record is written (chained, in the log's file) and returned with its
        ticket: the caller must pass both to ``confirm`` before the call proceeds, which waits for
        the record's sync. Meanwhile the sync runs in the kernel (an fdatasync submitted through
        Linux AIO at the write, or early write-back where that is refused) and is shared
        with whatever else syncs the log.
        """
        decision, plain, events = self._decide(request, dry_run)
        if plain or dry_run:
            return decision, None
        if events:  # a case opened or joined: recorded with the decision, in one step
            return self._record_with_events(decision, events, decision.evaluated_at), None
        if decision.outcome > Outcome.FLAG or not self._records(decision):
            return self._record(decision), None
        from gatekeeper.audit._ticket import append_deferred

        try:
            return decision, append_deferred(self.audit, self._record_of(decision))
        except Exception as exc:
            return self._record_failed(decision, exc), None

    def confirm(self, decision: Decision, ticket: Ticket | None) -> Decision:
        """Wait until the record ``decide_deferred`` wrote for ``decision`` is durable: ``decision``, or,
        if its sync failed, what ``decide`` returns when the record cannot be written (a deny carrying
        the error; with ``on_error = "allow"`` the decision carrying it)."""
        if ticket is None:
            return decision
        try:
            ticket.wait()
        except Exception as exc:
            return self._record_failed(decision, exc)
        return decision

    def _decide(self, request: ProvisioningRequest, dry_run: bool) -> tuple[Decision, bool, _Events]:
        """The decision, not yet recorded; whether it is a plain one that has no record (the hot path);
        the workflow's events to record with it (a case it opened or joined)."""
        now = request.at or self.clock()
        decision_id = _decision_id()
        events: _Events = ()  # the workflow's, recorded with the decision
        try:
            items = self.engine.classify(request)
            # Hot path: nothing accelerated; no profile look-up, no record unless record_all.
            if not request.unresolved and (dry_run or not self.config.audit.record_all):
                for i in items:
                    if i.accelerated:
                        break
                else:
                    if not self._guarded(request):
                        return _new_decision(decision_id, Outcome.ALLOW, request,
                                             self._unlooked_profile(request.provider, request.account_id),
                                             items, (), Outcome.ALLOW, now, self.config.mode), True, ()
            if not dry_run:
                self._audit_ready()
            profile = self.profile(request.provider, request.account_id)
            ev = self.engine.evaluate(request, profile, on=now.date(), items=items)
            decision = self._decision(decision_id, request, profile, ev, now)
            if decision.outcome == Outcome.PENDING:
                s = self.permits.settle(decision, dry_run=dry_run)
                decision = replace(decision, outcome=s.outcome, licence_id=s.licence_id, case_id=s.case_id,
                                   reasons=decision.reasons + s.reasons)
                events = s.events
        except Exception as exc:
            decision, events = self._error_decision(decision_id, request, now, exc), ()
        return decision, False, events

    def _record_with_events(self, decision: Decision, events: tuple[tuple[str, str, dict[str, Any]], ...],
                            now: datetime) -> Decision:
        """Record the workflow's ``events`` (what the store did for this decision, e.g. the case it opened)
        and then the decision, in one durable batch; then queue their notifications.

        A failure fails closed as when the workflow's own record of an event failed before the batch
        existed (it raised out of ``settle``): the decision becomes an error decision, recorded alone.
        """
        from gatekeeper.audit.record import decision_record

        try:
            self.record_events(events, then=decision_record(decision))
        except Exception as exc:
            return self._record(self._error_decision(decision.decision_id, decision.request, now, exc))
        from gatekeeper import notify

        for kind, _, data in events:
            notify.on_workflow_event(self, kind, data)  # queued; sent off this call's path
        return decision

    def _guarded(self, request: ProvisioningRequest) -> bool:
        """True when a plain request needs its profile: the account or the region may be embargoed."""
        engine = self.engine
        if engine.plain_regions_exist and engine.plain_region_guarded(request):
            return True
        if not engine.plain_countries:
            return False
        subjects = self._embargoed
        if subjects is None or time.monotonic() - self._embargoed_at > EMBARGOED_SUBJECTS_TTL:
            subjects = self.refresh_subjects()
        if not subjects:
            return False
        account = request.account_id.lower() if request.provider == "azure" else request.account_id
        return (request.provider, account) in subjects

    def refresh_subjects(self) -> frozenset[tuple[str, str]]:
        """Re-read the accounts whose profile names a country of a comprehensive embargo.

        A store that cannot be read keeps the accounts last read (none before the first read) and is
        tried again after ``EMBARGOED_SUBJECTS_RETRY`` seconds: plain requests, which carry no
        accelerator, are not stopped by a store outage; the error is logged."""
        countries = self.engine.policies.plain_countries
        try:
            profiles = self.store.profiles
            accounts_in = getattr(profiles, "accounts_in", None)  # one query where the store offers it
            found = frozenset(accounts_in(countries)) if accounts_in is not None else frozenset(
                (p.provider, p.account_id) for p in profiles.list_profiles() if not countries.isdisjoint(p.countries))
        except Exception as exc:
            log.error("embargoed_subjects.unreadable", error=f"{type(exc).__name__}: {exc}")
            found = self._embargoed or frozenset()
            self._embargoed = found
            self._embargoed_at = time.monotonic() - EMBARGOED_SUBJECTS_TTL + EMBARGOED_SUBJECTS_RETRY
            return found
        self._embargoed, self._embargoed_at = found, time.monotonic()
        return found

    def _audit_ready(self) -> None:
        """Fail closed (before any licence is drawn) when the audit log says it cannot keep records
        safe, e.g. its object store refused segments for longer than ``max_unshipped_seconds``; the
        denial itself is still recorded in the log's local spool."""
        unavailable = getattr(self.audit, "unavailable", None)
        why = unavailable() if unavailable is not None else None
        if why:
            raise AuditError(why)

    def _unlooked_profile(self, provider: str, account_id: str) -> CustomerProfile:
        """The profile a plain decision carries: the account, not looked up (``looked_up=False``).

        Immutable, so shared; cached because building it cost as much as the rest of the plain path.
        """
        key = (provider, account_id)
        found = self._unlooked.get(key)
        if found is None:
            found = CustomerProfile(provider, account_id, known=False, looked_up=False)
            if len(self._unlooked) < 10_000:  # bounded: account ids come from callers
                self._unlooked[key] = found
        return found

    def with_profile(self, decision: Decision) -> Decision:
        """``decision`` with the stored profile when the fast path skipped the look-up, for display.

        The decision is unchanged (a plain type is allowed whoever asks); only what is shown about the
        customer becomes a fact instead of a guess.
        """
        p = decision.profile
        if p.looked_up:
            return decision
        try:
            return replace(decision, profile=self.profile(p.provider, p.account_id))
        except Exception as exc:  # a store that cannot be read: say so rather than guess
            log.warning("profile.lookup_failed", account_id=p.account_id, error=str(exc))
            return decision

    def profile(self, provider: str, account_id: str) -> CustomerProfile:
        """The stored profile, or an unknown (unverified, foreign) one for an account not in the store."""
        key = account_id.lower() if provider == "azure" else account_id
        found = self.store.profiles.get_profile(provider, key)
        return found if found is not None else CustomerProfile.unknown(provider, key)

    def _decision(self, decision_id: str, request: ProvisioningRequest, profile: CustomerProfile,
                  ev: Evaluation, now: datetime) -> Decision:
        return _new_decision(decision_id, ev.outcome, request, profile, ev.items, ev.matches, ev.outcome, now,
                             self.config.mode, reasons=ev.reasons)

    def _error_decision(self, decision_id: str, request: ProvisioningRequest, now: datetime,
                        exc: BaseException) -> Decision:
        error = f"{type(exc).__name__}: {exc}"
        log.error("decision.error", decision_id=decision_id, operation=request.operation, error=error,
                  exc_info=not isinstance(exc, GatekeeperError))
        outcome = Outcome.DENY if self.config.on_error == "deny" else Outcome.FLAG
        what = "denied fail-closed" if outcome == Outcome.DENY else "allowed (on_error = allow) and flagged"
        try:
            items = self.engine.classify(request)
        except Exception:
            items = ()
        return Decision(decision_id, outcome, request, CustomerProfile.unknown(request.provider, request.account_id),
                        items, (), outcome, now, self.config.mode, error=error,
                        reasons=(f"gatekeeper could not decide ({error}); {what}",))

    def _records(self, decision: Decision) -> bool:
        """Whether ``decision`` is audited."""
        return bool(decision.accelerated or decision.outcome > Outcome.ALLOW or decision.error
                    or self.config.audit.record_all)

    def _record_of(self, decision: Decision) -> dict[str, Any]:
        make = self._decision_record
        if make is None:  # imported once, on the first record (a command that records nothing never loads it)
            from gatekeeper.audit.record import decision_record

            make = self._decision_record = decision_record
        return make(decision)

    def _record(self, decision: Decision) -> Decision:
        if not self._records(decision):
            return decision
        try:
            self.audit.append(self._record_of(decision))
        except Exception as exc:
            return self._record_failed(decision, exc)
        return decision

    def _record_failed(self, decision: Decision, exc: Exception) -> Decision:
        """What a decision becomes when its record cannot be made durable: a deny carrying the error
        (fail closed), or with ``on_error = "allow"`` the decision carrying it."""
        error = f"audit log unavailable: {type(exc).__name__}: {exc}"
        log.error("audit.append_failed", decision_id=decision.decision_id, error=error)
        if self.config.on_error == "deny":
            denied = replace(decision, outcome=Outcome.DENY, error=error,
                             reasons=(*decision.reasons, f"{error}; denied fail-closed"))
            # A call that does not proceed must not consume licence quantity: give back what this
            # decision drew (``licence_id`` is set only by a draw). Not when the deny does not block
            # (mode = "shadow"): the call proceeds and the draw stands.
            if decision.licence_id is not None and not decision.blocks and denied.blocks:
                self._refund(decision)
            return denied
        # on_error = "allow": the call proceeds carrying the error and the resources are provisioned,
        # so the licence quantity it drew stays drawn.
        return replace(decision, error=error)

    def _refund(self, decision: Decision) -> None:
        """``Permits.refund``, which does not raise; one that does (a Permits of the embedder's own)
        must not turn the denial into an exception out of ``decide`` or ``confirm``."""
        try:
            self.permits.refund(decision)
        except Exception as exc:
            log.error("licence.refund_failed", licence=decision.licence_id, decision_id=decision.decision_id,
                      error=f"{type(exc).__name__}: {exc}")

    def record_event(self, kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]:
        """Append a workflow/remediation event to the audit log, durably; raises AuditError on failure."""
        from gatekeeper.audit.record import event_record

        record = event_record(kind, actor, data)
        try:
            return self.audit.append(record)
        except AuditError:
            raise
        except Exception as exc:  # a sink that fails with OSError (disk full) or opens with a bad key
            raise AuditError(f"the audit log could not be written: {type(exc).__name__}: {exc}") from exc

    def record_events(self, events: Sequence[tuple[str, str, dict[str, Any]]], *,
                      then: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Append workflow events ``(kind, actor, data)``, then ``then`` if given (the decision record
        they belong to), durably and in this order, in one batch (one sync) where the log offers
        ``append_many``; raises AuditError on failure, and then none of the batch is acknowledged (a
        log without ``append_many`` appends them one by one, stopping at the first that fails)."""
        from gatekeeper.audit.record import event_record

        records = [event_record(kind, actor, data) for kind, actor, data in events]
        if then is not None:
            records.append(then)
        try:
            many = getattr(self.audit, "append_many", None)
            if many is not None:
                written: list[dict[str, Any]] = many(records)
                return written
            return [self.audit.append(r) for r in records]
        except AuditError:
            raise
        except Exception as exc:  # a sink that fails with OSError (disk full) or opens with a bad key
            raise AuditError(f"the audit log could not be written: {type(exc).__name__}: {exc}") from exc

    # -- lifecycle ---------------------------------------------------------------------------
    def reload_policies(self, paths: list[str] | None = None) -> PolicySet:
        """Load and compile new packs; on any error raise PolicyError and keep the packs in force."""
        chosen = [self.config.resolve(p) for p in paths] if paths else self.config.policy_paths()
        policies = load_policies(chosen, catalog=self.catalog, jurisdictions=self.jurisdictions)
        self.engine = Engine(policies, self.catalog, self.jurisdictions, fail_closed=self.engine.fail_closed,
                             provider_accounts=self.engine.provider_accounts)
        return policies

    def publish_audit_digest(self) -> None:
        """Vouch for the newest durable record now: publish a signed digest of it to the witness.

        For hosts that may be frozen or stopped between events (an Azure or Google Cloud function's
        instance), where the anchor's background thread (every ``witness_interval`` seconds) would
        leave the last records unvouched until a later start. Nothing happens without a witness or
        before the log is opened; never raises (a witness that is down is logged by the anchor and
        tried again, and ``verify`` reports what no digest covers).
        """
        publish = getattr(self._audit, "publish", None) if self._audit is not None else None
        if publish is not None:
            publish()

    def close_audit(self) -> None:
        """Close the audit log now (an ``s3://`` log ships its segment) and reopen it on the next record.

        For hosts whose local spool does not outlive the invocation (a Lambda container's /tmp).
        """
        with self._lock:
            audit, self._audit = self._audit, None
        if audit is not None:
            audit.close()

    def close(self) -> None:
        if self.config.notify.enabled:  # deliver what is queued while the store and log are open
            from gatekeeper import notify

            notify.close_for(self)
        if self._audit is not None:
            self._audit.close()
        if self._store is not None:
            self._store.close()
