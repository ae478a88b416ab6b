"""Two-step appends: write a record now, wait for its durability later (``append_deferred``).

An audit log that offers ``append_deferred(record)`` writes the record (chained, in the file) and
returns a ``Ticket`` at once; ``ticket.wait()`` returns when the record is durable (fsynced) and
raises ``AuditError`` when the sync that covers it failed. A log without it (an object store's
own log, a test double) is appended to in one step and the ticket is already durable.

Who uses it: the AWS adapter, which decides at ``before-parameter-build`` and must have the record
durable only before the request leaves the process (``gatekeeper.service.Gatekeeper.decide_deferred``).
Every other caller appends in one step (``append``).
"""

from __future__ import annotations

from typing import Any, Protocol


class Ticket(Protocol):
    """A written record; ``wait()`` blocks until it is durable, or raises AuditError."""

    def wait(self) -> None:
        ...


class Durable:
    """The ticket of a record appended in one step: durable already."""

    __slots__ = ("record",)

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def wait(self) -> None:
        return None


def append_deferred(log: Any, record: dict[str, Any]) -> Ticket:
    """``log.append_deferred(record)`` where the log offers it, else ``log.append(record)`` (durable)."""
    deferred = getattr(log, "append_deferred", None)
    if deferred is not None:
        ticket: Ticket = deferred(record)
        return ticket
    return Durable(log.append(record))
