"""Audited changes: a reviewer's or operator's change is recorded durably *before* it is committed.

The rule every state-changing action follows (cases approve/deny, licences revoke, screening clear;
the CLI, the web API and console, and the library all go through it):

1. the action is checked against the current state; a refused action records and changes nothing;
2. its audit record(s) are appended durably (``record_event``: fsynced before it returns). If that
   fails, nothing is committed and the caller gets an ``AuditError`` saying so;
3. the store change is committed (conditionally on the state the checks read);
4. if the commit fails (a store error, a concurrent change that won, anything), a follow-up record
   ``<area>.<action>_failed`` is appended with ``voids`` (the ``seq`` of the records it cancels) and
   the ``error``, and the error is raised. A concurrent change is retried by the caller, which then
   checks and records afresh.

So there is no state change without a durable record, and a record whose change did not happen is
marked as failed. Only a crash (or an audit log that fails) between steps 2 and 4 can leave a record
without its change and without its follow-up; every such record carries ``at`` and its actor, which
its change carries in the store too (a case's history entry, a licence's ``revoked_at`` and
``revoked_by``, a hit's ``cleared_at`` and ``cleared_by``), so comparing the two finds it. See
docs/audit.md ("Reviewers' actions: recorded before they are committed").

This module is a lower layer: it receives the recorder (``Gatekeeper.record_event`` or any callable
of that shape) instead of importing the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gatekeeper._log import get_logger
from gatekeeper.errors import AuditError

log = get_logger("gatekeeper.audited")

EventRecorder = Callable[[str, str, dict[str, Any]], Any]
"""``record_event(kind, actor, data)``: durable when it returns, raises on failure."""

T = TypeVar("T")

__all__ = ["EventRecorder", "Intent", "audited", "intent_recorder", "record_failure", "record_intent"]

Intent = tuple[str, str, dict[str, Any]]
"""One record an action writes before its change: (kind, actor, data)."""


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def record_intent(record_event: EventRecorder, kind: str, actor: str, data: dict[str, Any], *,
                  what: str) -> dict[str, Any]:
    """Append the record of a change about to be committed; the record as written (with ``seq``).

    Any failure becomes an ``AuditError`` saying that ``what`` (e.g. "case case-1 was not denied")
    did not happen, so that callers (the CLI, the API) report it as the audit failure it is.
    """
    try:
        written = record_event(kind, actor, data)
    except Exception as exc:
        raise AuditError(f"{what}: its audit record ({kind}) could not be written, so nothing was changed "
                         f"({error_text(exc)})") from exc
    return written if isinstance(written, dict) else {}


def intent_recorder(record_event: EventRecorder, what: str) -> EventRecorder:
    """``record_event`` whose failures are ``record_intent``'s AuditError about ``what``, for a store
    that records inside its own commit (the screening stores' ``clear``)."""

    def record(kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]:
        return record_intent(record_event, kind, actor, data, what=what)

    return record


def record_failure(record_event: EventRecorder, kind: str, actor: str, data: dict[str, Any],
                   voids: Sequence[dict[str, Any]], exc: BaseException, **extra: Any) -> None:
    """After a recorded change failed to commit: append ``kind`` (``..._failed``) voiding ``voids``.

    Best effort: the change's own error is the one the caller raises; a follow-up that cannot be
    written is logged (the record it would void is then found by its ``at``, see the module doc).
    """
    seqs = [r["seq"] for r in voids if isinstance(r, dict) and "seq" in r]
    try:
        record_event(kind, actor, {**data, "voids": seqs, "error": error_text(exc), **extra})
    except Exception as again:
        log.error("audit.failure_not_recorded", kind=kind, voids=seqs, change_error=error_text(exc),
                  error=error_text(again))


def audited(record_event: EventRecorder, intents: Sequence[Intent], commit: Callable[[], T], *,
            failed: str, ids: dict[str, Any], what: str, retried: Callable[[BaseException], bool] | None = None) -> T:
    """Record ``intents`` durably, then ``commit()``; the commit's result.

    ``failed``: the kind of the follow-up record written when a record after the first, or the
    commit, fails; it carries ``ids`` (what the action was about), ``voids`` and ``error``, and
    ``retried: true`` when ``retried(exc)`` says the caller will try again (a lost race).
    ``what``: the start of the AuditError message when the records cannot be written.
    """
    written: list[dict[str, Any]] = []
    actor = intents[0][1] if intents else ""
    for kind, who, data in intents:
        try:
            written.append(record_intent(record_event, kind, who, data, what=what))
        except AuditError as exc:
            if written:  # an earlier record of the same action stands without its change
                record_failure(record_event, failed, actor, ids, written, exc)
            raise
    try:
        return commit()
    except BaseException as exc:
        again = retried is not None and retried(exc)
        record_failure(record_event, failed, actor, ids, written, exc, **({"retried": True} if again else {}))
        raise
