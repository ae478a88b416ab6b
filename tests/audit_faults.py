"""An audit log that fails on chosen kinds of record, for tests of what a failed audit write leaves.

``fail_audit(gk, "case.denied")`` puts it in front of ``gk``'s real audit log (the FileAuditLog of
the test's temporary home): appends of the named kinds (every kind when none is named) raise
AuditError as a full disk would; every other record goes to the real log, durable and chained, so
tests read what was written from disk. ``heal()`` lets everything through again.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.errors import AuditError
from gatekeeper.service import Gatekeeper

INJECTED = "injected: no space left on device"


class FailingAudit:
    """The real log, except that appends of ``kinds`` (all, when empty) fail."""

    def __init__(self, inner: Any, *kinds: str) -> None:
        self.inner = inner
        self.kinds = set(kinds)
        self.failed: list[str] = []  # the kinds refused, in order
        self.broken = True

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        kind = str(record.get("kind"))
        if self.broken and (not self.kinds or kind in self.kinds):
            self.failed.append(kind)
            raise AuditError(INJECTED)
        out: dict[str, Any] = self.inner.append(record)
        return out

    def append_many(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One batch: refused whole when any of its records is of a failing kind (as a failed sync)."""
        kinds = [str(r.get("kind")) for r in records]
        if self.broken and (not self.kinds or self.kinds.intersection(kinds)):
            self.failed.extend(kinds)
            raise AuditError(INJECTED)
        out: list[dict[str, Any]] = self.inner.append_many(records)
        return out

    def heal(self) -> None:
        self.broken = False

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # unavailable(), publish(): the real log's
        return getattr(self.inner, name)


def fail_audit(gk: Gatekeeper, *kinds: str) -> FailingAudit:
    """Make ``gk``'s audit log fail for ``kinds`` (every kind when none is given) from now on."""
    sink = FailingAudit(gk.audit, *kinds)
    gk._audit = sink  # the runtime's own slot: what record_event and decide append to
    return sink
