"""Processed-event markers: the detective hooks act once on an event that is delivered more than once.

(The notifier uses the same markers, keyed ``notify:<key>``, so that replicas sharing a store tell
each deadline and licence reminder once between them.)

EventBridge and Event Grid deliver at least once, so the same CloudTrail or ResourceWriteSuccess
event may reach the hook twice, even concurrently. Before deciding, the hook *claims* the event id;
only the claimant decides and remediates, then *completes* the marker. A claim that is never
completed (the function crashed or timed out mid-way) expires after its lease, so that the platform's
retry can take the event over; a hook that fails on purpose *releases* its claim for the retry.

    # INVARIANT: for one event id, at most one live claim exists at any time, across threads,
    # processes and machines: ``claim_event`` is one conditional write (SQLite IMMEDIATE transaction,
    # DynamoDB conditional PutItem), never a read followed by a write.

Backends follow the state store's URL (``sqlite:///...`` shares the store's SQLite file and
``postgresql://...`` its schema, table ``hook_events``, through the same SQL; ``dynamodb://PREFIX?...``
uses the table ``PREFIX-events``, key ``pk`` = the event id, with a TTL attribute ``expires_at`` that
the deploy template enables).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from gatekeeper.errors import ConfigError, StoreError

# How long a claim protects an event that is being processed (a Lambda runs at most 15 minutes).
DEFAULT_LEASE_SECONDS = 900.0
# How long a completed marker is kept: longer than any platform retries a delivery (EventBridge: 24 h).
RETENTION_SECONDS = 7 * 24 * 3600

EVENTS_PURPOSE = "hook processed-event markers; pk = event id; TTL attribute expires_at"
STATUS_CLAIMED = "claimed"
STATUS_DONE = "done"


@runtime_checkable
class EventMarkers(Protocol):
    def claim_event(self, event_id: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        """True when this caller now owns ``event_id`` (new, or an expired claim taken over)."""
        ...

    def complete_event(self, event_id: str, outcome: str, *, keep_seconds: float = RETENTION_SECONDS) -> None:
        """Mark the claimed event done (kept for ``keep_seconds``, then forgotten)."""
        ...

    def release_event(self, event_id: str) -> None:
        """Give up a claim that was not completed, so that a retry may claim it."""
        ...

    def status(self, event_id: str) -> str | None:
        """``claimed``, ``done`` or None (never seen, or forgotten)."""
        ...

    def close(self) -> None:
        ...


def _check_id(event_id: str) -> str:
    if not isinstance(event_id, str) or not event_id.strip():
        raise StoreError("an event marker needs a non-empty event id")
    return event_id.strip()


SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS hook_events (
    event_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    lease_until REAL NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hook_events_expiry ON hook_events (expires_at);
"""


class SQLEventMarkers:
    """Markers in the ``hook_events`` table of a SQL store (SQLite file or PostgreSQL schema)."""

    def __init__(self, db: Any, *, clock: Any = time.time) -> None:
        self.db = db
        self.db.ensure_schema(SQLITE_SCHEMA)
        self.clock = clock

    def claim_event(self, event_id: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        eid = _check_id(event_id)
        now = float(self.clock())
        with self.db.transaction() as conn:
            # Forget expired markers as we go (an index range scan), so the table stays small.
            conn.execute("DELETE FROM hook_events WHERE expires_at < ?", (now,))
            row = conn.execute("SELECT status, lease_until FROM hook_events WHERE event_id=?", (eid,)).fetchone()
            if row is not None and (row["status"] == STATUS_DONE or row["lease_until"] > now):
                return False
            conn.execute(
                "INSERT INTO hook_events (event_id, status, claimed_at, lease_until, expires_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT(event_id) DO UPDATE SET status=excluded.status, claimed_at=excluded.claimed_at,"
                " lease_until=excluded.lease_until, expires_at=excluded.expires_at",
                (eid, STATUS_CLAIMED, now, now + lease_seconds, now + RETENTION_SECONDS),
            )
        return True

    def complete_event(self, event_id: str, outcome: str, *, keep_seconds: float = RETENTION_SECONDS) -> None:
        eid = _check_id(event_id)
        now = float(self.clock())
        with self.db.transaction() as conn:
            conn.execute("UPDATE hook_events SET status=?, outcome=?, expires_at=? WHERE event_id=?",
                         (STATUS_DONE, outcome, now + keep_seconds, eid))

    def release_event(self, event_id: str) -> None:
        eid = _check_id(event_id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM hook_events WHERE event_id=? AND status=?", (eid, STATUS_CLAIMED))

    def status(self, event_id: str) -> str | None:
        rows = self.db.query("SELECT status FROM hook_events WHERE event_id=? AND expires_at >= ?",
                             (_check_id(event_id), float(self.clock())))
        return str(rows[0]["status"]) if rows else None

    def close(self) -> None:
        self.db.close()


class SQLiteEventMarkers(SQLEventMarkers):
    """Markers in the ``hook_events`` table of the store's SQLite file."""

    def __init__(self, path: Path, *, clock: Any = time.time) -> None:
        from gatekeeper.stores.sqlite import SQLiteDatabase

        super().__init__(SQLiteDatabase(path), clock=clock)


class DynamoDBEventMarkers:
    """Markers as items of ``PREFIX-events`` (key ``pk``), claimed with a conditional PutItem."""

    def __init__(self, url: str, *, client: Any = None, clock: Any = time.time) -> None:
        from gatekeeper.stores.dynamodb import TABLES, DynamoDB, DynamoDBLocation, TableSpec, register_table

        # The store declares the table (``gatekeeper store init`` creates it); declare it here only
        # for a store module that does not.
        if "events" not in TABLES:
            register_table("events", TableSpec("events", "pk", purpose=EVENTS_PURPOSE))
        self.location = DynamoDBLocation.parse(url)
        self.db = DynamoDB(self.location, client)
        self.name = self.location.table("events")
        self.clock = clock

    def claim_event(self, event_id: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        from botocore.exceptions import ClientError

        from gatekeeper.stores.dynamodb import error_code

        eid = _check_id(event_id)
        now = float(self.clock())
        try:
            self.db.call(
                "put_item", expected=("ConditionalCheckFailedException",), TableName=self.name,
                Item={"pk": {"S": eid}, "status": {"S": STATUS_CLAIMED}, "claimed_at": {"N": repr(now)},
                      "lease_until": {"N": repr(now + lease_seconds)},
                      "expires_at": {"N": str(int(now + RETENTION_SECONDS))}},
                # New, or a claim whose lease ran out (its holder died); a done marker is never retaken.
                ConditionExpression="attribute_not_exists(pk) OR (#s = :claimed AND lease_until < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":claimed": {"S": STATUS_CLAIMED}, ":now": {"N": repr(now)}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def complete_event(self, event_id: str, outcome: str, *, keep_seconds: float = RETENTION_SECONDS) -> None:
        now = float(self.clock())
        self.db.call("update_item", TableName=self.name, Key={"pk": {"S": _check_id(event_id)}},
                     UpdateExpression="SET #s = :done, outcome = :o, expires_at = :e",
                     ExpressionAttributeNames={"#s": "status"},
                     ExpressionAttributeValues={":done": {"S": STATUS_DONE}, ":o": {"S": outcome},
                                                ":e": {"N": str(int(now + keep_seconds))}})

    def release_event(self, event_id: str) -> None:
        from botocore.exceptions import ClientError

        # Already done or gone: nothing to release.
        with contextlib.suppress(ClientError):
            self.db.call("delete_item", expected=("ConditionalCheckFailedException",), TableName=self.name,
                         Key={"pk": {"S": _check_id(event_id)}}, ConditionExpression="#s = :claimed",
                         ExpressionAttributeNames={"#s": "status"},
                         ExpressionAttributeValues={":claimed": {"S": STATUS_CLAIMED}})

    def status(self, event_id: str) -> str | None:
        out = self.db.call("get_item", TableName=self.name, Key={"pk": {"S": _check_id(event_id)}},
                           ConsistentRead=True)
        item = out.get("Item")
        if not item:
            return None
        # DynamoDB's TTL deletes lazily: an expired item is treated as gone.
        if float(item.get("expires_at", {}).get("N", "0")) < float(self.clock()):
            return None
        return str(item["status"]["S"])

    def close(self) -> None:
        pass


def open_event_markers(url: str, *, base_dir: str | Path = ".", client: Any = None,
                       clock: Any = time.time) -> EventMarkers:
    """The markers beside the state store named by ``url`` (the config's ``store.url``); ``clock``
    gives the time (seconds) claims, leases and expiries are measured by."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        from gatekeeper.stores.sqlite import sqlite_path

        return SQLiteEventMarkers(sqlite_path(url, Path(base_dir)), clock=clock)
    if scheme == "dynamodb":
        return DynamoDBEventMarkers(url, client=client, clock=clock)
    if scheme in ("postgresql", "postgres"):
        from gatekeeper.stores.postgres import PostgresDatabase, PostgresLocation

        return SQLEventMarkers(PostgresDatabase(PostgresLocation.parse(url)), clock=clock)
    raise ConfigError(f"store url {url!r}: no event markers for scheme {scheme!r}; "
                      f"use sqlite://, postgresql:// or dynamodb://")
