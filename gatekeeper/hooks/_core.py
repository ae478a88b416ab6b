"""The flow every detective hook shares: claim the event, decide, plan, act, record, answer.

    event --pre-check--> ignore / skip (nothing recorded, nothing claimed)
          --claim------> duplicate (another delivery owns it or did it)
          --prepare----> hook.error (malformed) | ignored (provisions nothing) | request + resources
          --decide-----> Decision (audited by the runtime)
          --plan-------> actions (pure; see remediation.py)
          --execute----> remediation.<action> audit events, one per action, with its result
          --complete---> the event is done; a redelivery is a duplicate

# INVARIANT: an event id is acted on at most once while its marker lives: the claim is taken before
# the decision and completed after the last action was recorded. A failed action releases the claim
# and raises RemediationError, so that the platform's retry may try again (and the dead-letter queue
# gets it after the last retry); a malformed event is recorded once and never retried.
# INVARIANT: in a dry run nothing is claimed, decided for real, executed or recorded.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper._log import get_logger, in_function_host
from gatekeeper.errors import InvalidInputError, RemediationError
from gatekeeper.hooks.remediation import Action, Plan, Resource, plan_remediation
from gatekeeper.model import Decision, ProvisioningRequest

log = get_logger("gatekeeper.hooks")

ACTOR = "gatekeeper-hook"

# Statuses of a hook's answer (the Lambda's return value, the CLI's JSON).
IGNORED = "ignored"        # not a covered event, or it provisions nothing
SKIPPED = "skipped"        # the call failed (errorCode): nothing was provisioned
DUPLICATE = "duplicate"    # another delivery of the same event was (or is being) handled
DECIDED = "decided"        # decided; nothing to do (allowed, or the configured action is none)
REMEDIATED = "remediated"  # decided and every planned action succeeded
DRY_RUN = "dry_run"        # decided as a what-if; the plan was not executed
ERROR = "error"            # malformed event, recorded as hook.error


@dataclass(frozen=True, slots=True)
class Prepared:
    """What an event amounts to: a request and the resources to remediate, or why there is none."""

    request: ProvisioningRequest | None
    resources: tuple[Resource, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = field(default=())
    context: Mapping[str, Any] = field(default_factory=dict)


def bootstrap_config() -> None:
    """Materialise ``GATEKEEPER_CONFIG_TOML`` (the TOML text a deploy template sets) as a file.

    Written under ``$GATEKEEPER_HOME`` (default ``/tmp/gatekeeper``: the only writable place of a
    Lambda or a Linux function app) and named by ``GATEKEEPER_CONFIG``, so that relative paths in
    it resolve there. Does nothing when ``GATEKEEPER_CONFIG`` is set already.
    """
    text = os.environ.get("GATEKEEPER_CONFIG_TOML")
    if not text or os.environ.get("GATEKEEPER_CONFIG"):
        return
    import tempfile  # only here: tempfile imports shutil, random and the compressors

    home = Path(os.environ.get("GATEKEEPER_HOME") or Path(tempfile.gettempdir()) / "gatekeeper")
    home.mkdir(parents=True, exist_ok=True)
    path = home / "gatekeeper.toml"
    path.write_text(text, encoding="utf-8")
    os.environ["GATEKEEPER_CONFIG"] = str(path)


@contextlib.contextmanager
def cold_start() -> Iterator[None]:
    """Build a function host's runtime and handle its first event with the cyclic garbage collector paused.

    A cold start allocates some 65,000 long-lived objects (modules, classes, the packs, the catalog),
    which the collector would traverse about a hundred times on the way (a tenth of the cold start)
    and find almost nothing to free. Afterwards ``gc.freeze()`` moves everything that exists into the
    permanent generation, so that later collections do not traverse the runtime either, and the
    collector's previous state is restored. The price is the little cyclic garbage of the start-up
    (about a thousand objects), which is kept. Only in a function host (``_log.in_function_host``):
    elsewhere (tests, an application importing a hook) nothing changes.
    """
    if not in_function_host() or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def self_principals(find: Callable[[], Iterable[str]] | None, hook: str) -> frozenset[str]:
    """The hook's own identity, so that it ignores its own writes: what ``find`` reports (the ids in its
    token, its service account), plus ``GATEKEEPER_SELF_PRINCIPAL_ID`` (comma-separated), lower-cased.
    A ``find`` that fails is logged: the hook's other loop guards still hold."""
    own: set[str] = set()
    if find is not None:
        try:
            own.update(p.strip().lower() for p in find() if p.strip())
        except Exception as exc:
            log.warning("hook.identity_unknown", hook=hook, error=short_error(exc))
    env = os.environ.get("GATEKEEPER_SELF_PRINCIPAL_ID", "")
    own.update(p.strip().lower() for p in env.split(",") if p.strip())
    return frozenset(own)


def raising(exc: InvalidInputError) -> Callable[[], Prepared]:
    """A ``prepare`` step that reports ``exc`` (a malformed event, recorded once as hook.error)."""
    def prepare() -> Prepared:
        raise exc
    return prepare


def event_digest(event: Any) -> str:
    """A stable id for an event that has none of its own (to find it in the logs)."""
    try:
        raw = json.dumps(event, sort_keys=True, default=str).encode()
    except (TypeError, ValueError):
        raw = repr(event).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def short_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def answer(status: str, event_id: str, reason: str = "", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "event_id": event_id}
    if reason:
        out["reason"] = reason
    out.update(extra)
    return out


def decision_summary(decision: Decision) -> dict[str, Any]:
    return {"decision": decision.outcome.label, "decision_id": decision.decision_id, "case_id": decision.case_id,
            "reasons": list(decision.reasons), "error": decision.error}


class EventHook:
    """What every platform hook holds: a runtime (the process-wide one unless given), whether this is a
    dry run, and the event markers (opened on first use from ``[store] url``; none in a dry run).

    Subclasses set ``hook`` (the name recorded with every event) and handle their platform's events
    through :meth:`new_run`.
    """

    hook = ""

    def __init__(self, gk: Any = None, *, markers: Any = None, dry_run: bool = False) -> None:
        if gk is None:
            from gatekeeper.runtime import current

            gk = current()
        self.gk = gk
        self.dry_run = dry_run
        self._markers = markers

    @property
    def markers(self) -> Any:
        if self._markers is None and not self.dry_run:
            from gatekeeper.stores.events import open_event_markers

            self._markers = open_event_markers(self.gk.config.store.url, base_dir=self.gk.config.base_dir)
        return self._markers

    def new_run(self, execute: Callable[[Action], str]) -> HookRun:
        """The processing of one event, executing remediation actions with ``execute``."""
        return HookRun(self.gk, markers=None if self.dry_run else self.markers, execute=execute, hook=self.hook,
                       dry_run=self.dry_run)


class ReadingHook(EventHook):
    """A hook that reads the cloud through its clients (made on first use by :meth:`new_clients`, or
    given) and ignores writes by its own identity (found once: :func:`self_principals`). ``read=False``
    reads nothing (``gatekeeper hooks test`` without ``--resolve``)."""

    def __init__(self, gk: Any = None, *, clients: Any = None, markers: Any = None, dry_run: bool = False,
                 read: bool = True) -> None:
        super().__init__(gk, markers=markers, dry_run=dry_run)
        self.read = read
        self._clients = clients
        self._own: frozenset[str] | None = None

    def new_clients(self) -> Any:
        raise NotImplementedError

    @property
    def clients(self) -> Any:
        if self._clients is None:
            self._clients = self.new_clients()
        return self._clients

    def identity(self) -> frozenset[str]:
        """Principals whose writes the hook ignores: its own (from its credentials, found once), the
        ``GATEKEEPER_SELF_PRINCIPAL_ID`` override and ``[hooks] ignore_principals``."""
        if self._own is None:
            find = self.clients.own_ids if self.read and not self.dry_run else None
            self._own = self_principals(find, self.hook)
        return self._own | {p.lower() for p in self.gk.config.hooks.ignore_principals}


class HookRun:
    """One hook's event processing over a Gatekeeper runtime, its markers and an action executor."""

    def __init__(self, gk: Any, *, markers: Any | None, execute: Callable[[Action], str], hook: str,
                 dry_run: bool = False) -> None:
        self.gk = gk
        self.markers = markers
        self.execute = execute
        self.hook = hook
        self.dry_run = dry_run

    def record_error(self, event_id: str, error: str, context: Mapping[str, Any]) -> None:
        log.warning("hook.malformed_event", hook=self.hook, event_id=event_id, error=error)
        if not self.dry_run:
            self.gk.record_event("hook.error", ACTOR, {"hook": self.hook, "event_id": event_id, "error": error,
                                                        **context})

    def malformed(self, event_id: str, exc: BaseException, context: Mapping[str, Any]) -> dict[str, Any]:
        """Record an event that cannot be read (once) and answer with status ``error``."""
        self.record_error(event_id, str(exc), context)
        return answer(ERROR, event_id, str(exc))

    def run(self, event_id: str, prepare: Callable[[], Prepared], context: Mapping[str, Any]) -> dict[str, Any]:
        if not self.dry_run and self.markers is not None and not self.markers.claim_event(event_id):
            log.info("hook.duplicate", hook=self.hook, event_id=event_id)
            return answer(DUPLICATE, event_id, "this event was already handled (or is being handled)")
        try:
            result = self._run(event_id, prepare, context)
        except BaseException:
            if not self.dry_run and self.markers is not None:
                self.markers.release_event(event_id)
            raise
        if not self.dry_run and self.markers is not None:
            self.markers.complete_event(event_id, result["status"])
        return result

    def _run(self, event_id: str, prepare: Callable[[], Prepared], context: Mapping[str, Any]) -> dict[str, Any]:
        try:
            prepared = prepare()
        except InvalidInputError as exc:
            return self.malformed(event_id, exc, context)
        if prepared.request is None:
            log.info("hook.ignored", hook=self.hook, event_id=event_id, reason=prepared.reason)
            return answer(IGNORED, event_id, prepared.reason)
        decision = self.gk.decide(prepared.request, dry_run=self.dry_run)
        plan = plan_remediation(decision, prepared.resources, self.gk.config.hooks)
        base = {**decision_summary(decision), "request": _request_summary(prepared.request),
                "plan": plan.as_dict(), "notes": list(prepared.notes)}
        if self.dry_run:
            return answer(DRY_RUN, event_id, plan.reason, **base)
        if plan.verb != "none" and not plan.actions:
            # Something must be put right and the event names nothing to act on: not "decided".
            why = (f"decided {decision.outcome.label} ({plan.reason}), but the event names no resource to act "
                   f"on; nothing was put right")
            self.record_error(event_id, why, {**context, "decision_id": decision.decision_id})
            return answer(ERROR, event_id, why, **base)
        results = self._execute(event_id, decision, plan, {**context, **prepared.context})
        failed = [r for r in results if r["result"] == "failed"]
        log.info("hook.done", hook=self.hook, event_id=event_id, decision=decision.outcome.label,
                 decision_id=decision.decision_id, actions=len(results), failed=len(failed))
        if failed:
            raise RemediationError(
                f"event {event_id}: {len(failed)} of {len(results)} remediation actions failed "
                f"(first: {failed[0]['action']} {failed[0]['resource']['id']}: {failed[0]['error']}); "
                f"recorded, left for a retry")
        status = REMEDIATED if any(r["result"] == "ok" for r in results) else DECIDED
        return answer(status, event_id, plan.reason, **base, actions=results)

    def _execute(self, event_id: str, decision: Decision, plan: Plan,
                 context: Mapping[str, Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for action in plan.actions:
            entry: dict[str, Any] = {"action": action.action, "resource": action.resource.as_dict()}
            if action.action == "unsupported":
                entry.update(result="skipped", detail=action.note)
            else:
                try:
                    entry.update(result="ok", detail=self.execute(action))
                except Exception as exc:  # recorded as a failed action; the event is retried
                    log.warning("hook.action_failed", hook=self.hook, event_id=event_id, action=action.action,
                                resource=action.resource.id, error=short_error(exc))
                    entry.update(result="failed", error=short_error(exc))
            # INVARIANT: every action taken (or attempted) is in the audit log.
            self.gk.record_event(f"remediation.{action.action}", ACTOR, {
                "hook": self.hook, "event_id": event_id, "decision_id": decision.decision_id,
                "decision": decision.outcome.label, "case_id": decision.case_id, "verb": action.verb,
                "resource": action.resource.as_dict(), "tags": dict(action.tags), **entry,
                **{k: v for k, v in context.items() if k not in entry},
            })
            results.append(entry)
        return results


def _request_summary(req: ProvisioningRequest) -> dict[str, Any]:
    return {"provider": req.provider, "account_id": req.account_id, "region": req.region, "service": req.service,
            "operation": req.operation, "principal": req.principal, "resource_ids": list(req.resource_ids),
            "items": [{"instance_type": i.instance_type, "count": i.count, "choice": i.choice} for i in req.items],
            "unresolved": list(req.unresolved)}
