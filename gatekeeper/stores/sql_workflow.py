"""Cases and licences in a SQL store (SQLite or PostgreSQL), safe for many threads, processes, machines.

Every read-check-write change (joining a case, a reviewer's transition) runs in one *serial*
transaction (``SQLDatabase.transaction``): SQLite's ``BEGIN IMMEDIATE``, a transaction-scoped
advisory lock on PostgreSQL, so that two of them cannot interleave. A licence draw is one
conditional UPDATE and needs no such lock. Two guarantees are also enforced by the schema itself
(here for SQLite; ``postgres_schema`` for PostgreSQL), as a second line of defence:

# INVARIANT: one open case per scope (a partial UNIQUE index on ``scope_key WHERE status = 'open'``).
# INVARIANT: a licence's ``remaining`` never goes below zero (CHECK constraint; ``draw`` is a single
# conditional UPDATE).

Each case and licence is kept as its JSON document (validated by the pydantic model on the way out)
next to the columns that are queried or changed atomically (status, version, remaining).

The workflow models (pydantic) are imported when a case or licence is first read or written, not
with this module: opening a store (a Lambda's first allowed decision) needs only the schema.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from gatekeeper.errors import ConflictError, NotFoundError, StoreError, WorkflowError

if TYPE_CHECKING:
    from gatekeeper.stores.base import Refund, SQLDatabase
    from gatekeeper.workflow.model import Case, CaseChange, CaseRequest, Licence

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY,
    scope_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'approved', 'denied')),
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS cases_one_open_per_scope ON cases (scope_key) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS cases_by_status ON cases (status, opened_at);
CREATE TABLE IF NOT EXISTS case_requests (
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    seq INTEGER NOT NULL,
    decision_id TEXT NOT NULL,
    at TEXT NOT NULL,
    principal TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS licences (
    number TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    quantity REAL NOT NULL CHECK (quantity >= 0),
    remaining REAL NOT NULL CHECK (remaining >= 0),
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    case_id TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS licences_by_customer ON licences (provider, account_id);
CREATE TABLE IF NOT EXISTS licence_refunds (
    decision_id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    quantity REAL NOT NULL
);
"""

TABLES = ("cases", "case_requests", "licences", "licence_refunds")


class _Refused(Exception):
    """Inside ``refund``'s transaction: the credit would over-fill the licence; roll the marker back."""


def qround(x: float) -> float:
    from gatekeeper.workflow.model import qround

    return qround(x)


def _dump(model: Case | Licence | CaseRequest) -> str:
    from gatekeeper.workflow.model import Case

    if isinstance(model, Case):
        return model.model_dump_json(exclude={"requests"})
    return model.model_dump_json()


def _case(row: Any, requests: tuple[CaseRequest, ...] = ()) -> Case:
    from pydantic import ValidationError

    from gatekeeper.workflow.model import Case

    try:
        return Case.model_validate_json(row["doc"]).model_copy(update={"requests": requests})
    except ValidationError as exc:
        raise StoreError(f"case {row['case_id']}: stored document is invalid: {exc.errors()[0]['msg']}") from exc


def _licence(row: Any) -> Licence:
    from pydantic import ValidationError

    from gatekeeper.workflow.model import Licence

    try:
        data: dict[str, Any] = json.loads(row["doc"])
        data.update(remaining=row["remaining"], status=row["status"])
        return Licence.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise StoreError(f"licence {row['number']}: stored document is invalid: {exc}") from exc


def _request(row: Any) -> CaseRequest:
    from pydantic import ValidationError

    from gatekeeper.workflow.model import CaseRequest

    try:
        return CaseRequest.model_validate_json(row["doc"])
    except ValidationError as exc:
        raise StoreError(f"case {row['case_id']} request {row['seq']}: stored document is invalid") from exc


def _iso(at: datetime) -> str:
    return at.isoformat()


def _run(what: str, fn: Any) -> Any:
    """Turn sqlite3 errors inside a transaction body into StoreError naming what failed."""
    try:
        return fn()
    except sqlite3.Error as exc:
        raise StoreError(f"store: {what} failed: {exc}") from exc


class SQLCaseStore:
    """Cases in SQL (implements :class:`gatekeeper.stores.base.CaseStore`)."""

    def __init__(self, db: SQLDatabase) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def open_or_join(self, case: Case, request: CaseRequest) -> tuple[Case, bool]:
        def body(conn: Any) -> tuple[Case, bool]:
            row = conn.execute("SELECT * FROM cases WHERE scope_key = ? AND status = 'open'",
                               (case.scope_key,)).fetchone()
            principals = (request.principal,) if request.principal else ()
            if row is None:
                new = case.model_copy(update={"request_count": 1, "principals": principals, "version": 1,
                                              "requests": ()})
                conn.execute(
                    "INSERT INTO cases (case_id, scope_key, status, provider, account_id, opened_at, updated_at,"
                    " version, doc) VALUES (?,?,?,?,?,?,?,?,?)",
                    (new.case_id, new.scope_key, new.status, new.provider, new.account_id, _iso(new.opened_at),
                     _iso(new.updated_at), new.version, _dump(new)))
                created = True
            else:
                old = _case(row)
                new = old.model_copy(update={
                    "request_count": old.request_count + 1, "version": old.version + 1,
                    "principals": tuple(dict.fromkeys((*old.principals, *principals))),
                    "updated_at": max(old.updated_at, request.at),
                })
                conn.execute("UPDATE cases SET version = ?, updated_at = ?, doc = ? WHERE case_id = ?",
                             (new.version, _iso(new.updated_at), _dump(new), new.case_id))
                created = False
            conn.execute("INSERT INTO case_requests (case_id, seq, decision_id, at, principal, doc)"
                         " VALUES (?,?,?,?,?,?)",
                         (new.case_id, new.request_count, request.decision_id, _iso(request.at),
                          request.principal, _dump(request)))
            return new, created

        with self.db.transaction() as conn:
            result: tuple[Case, bool] = _run("opening or joining a case", lambda: body(conn))
            return result

    def find_open(self, scope_key: str) -> Case | None:
        rows = self.db.query("SELECT * FROM cases WHERE scope_key = ? AND status = 'open'", (scope_key,))
        return _case(rows[0]) if rows else None

    def get_case(self, case_id: str) -> Case | None:
        rows = self.db.query("SELECT * FROM cases WHERE case_id = ?", (case_id,))
        if not rows:
            return None
        reqs = self.db.query("SELECT * FROM case_requests WHERE case_id = ? ORDER BY seq", (case_id,))
        return _case(rows[0], tuple(_request(r) for r in reqs))

    def list_cases(self, status: str | None = None) -> list[Case]:
        if status:
            rows = self.db.query("SELECT * FROM cases WHERE status = ? ORDER BY opened_at DESC, case_id",
                                 (status,))
        else:
            rows = self.db.query("SELECT * FROM cases ORDER BY opened_at DESC, case_id")
        return [_case(r) for r in rows]

    def apply(self, case_id: str, expected_version: int, change: CaseChange) -> Case:
        def body(conn: Any) -> Case:
            row = conn.execute("SELECT * FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no case {case_id!r}")
            old = _case(row)
            if old.version != expected_version or old.status != "open":
                raise ConflictError(f"case {case_id} changed while it was being decided (now {old.status}, "
                                    f"version {old.version}); re-read it")
            new = old.changed(change)
            if change.licence is not None:
                lic = change.licence
                if conn.execute("SELECT 1 FROM licences WHERE number = ?", (lic.number,)).fetchone():
                    raise WorkflowError(f"licence number {lic.number!r} already exists; choose another number")
                _insert_licence(conn, lic)
            conn.execute("UPDATE cases SET status = ?, version = ?, updated_at = ?, doc = ? WHERE case_id = ?",
                         (new.status, new.version, _iso(new.updated_at), _dump(new), case_id))
            return new

        with self.db.transaction() as conn:
            result: Case = _run(f"updating case {case_id}", lambda: body(conn))
            return result


def _insert_licence(conn: Any, lic: Licence) -> None:
    conn.execute(
        "INSERT INTO licences (number, provider, account_id, status, quantity, remaining, valid_from,"
        " valid_until, case_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (lic.number, lic.provider, lic.account_id, lic.status, qround(lic.quantity), qround(lic.remaining),
         lic.valid_from.isoformat(), lic.valid_until.isoformat(), lic.case_id, _dump(lic)))


class SQLLicenceStore:
    """Licences in SQL (implements :class:`gatekeeper.stores.base.LicenceStore`)."""

    def __init__(self, db: SQLDatabase) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def get_licence(self, number: str) -> Licence | None:
        rows = self.db.query("SELECT * FROM licences WHERE number = ?", (number,))
        return _licence(rows[0]) if rows else None

    def list_licences(self, provider: str | None = None, account_id: str | None = None) -> list[Licence]:
        sql, params = "SELECT * FROM licences", []
        where = []
        if provider:
            where.append("provider = ?")
            params.append(provider)
        if account_id:
            where.append("account_id = ?")
            params.append(account_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_licence(r) for r in self.db.query(sql + " ORDER BY number", params)]

    def put_licence(self, licence: Licence) -> None:
        def body(conn: Any) -> None:
            if conn.execute("SELECT 1 FROM licences WHERE number = ?", (licence.number,)).fetchone():
                raise WorkflowError(f"licence number {licence.number!r} already exists")
            _insert_licence(conn, licence)

        with self.db.transaction() as conn:
            _run(f"adding licence {licence.number}", lambda: body(conn))

    def draw(self, number: str, quantity: float, *, on: date) -> Licence | None:
        q = qround(quantity)
        day = on.isoformat()
        # One conditional UPDATE: the check and the decrement cannot be separated by another writer
        # (the row is locked by the UPDATE itself), so it needs no serial transaction.
        with self.db.transaction(serial=False) as conn:
            def body() -> Licence | None:
                # fetchall: SQLite keeps a RETURNING statement open until its rows are all read.
                rows = conn.execute(
                    "UPDATE licences SET remaining = ROUND(remaining - CAST(? AS NUMERIC), 6) WHERE number = ?"
                    " AND status = 'active' AND remaining >= CAST(? AS NUMERIC) AND valid_from <= ?"
                    " AND valid_until >= ? RETURNING *",
                    (q, number, q, day, day)).fetchall()
                return _licence(rows[0]) if rows else None

            result: Licence | None = _run(f"drawing on licence {number}", body)
            return result

    def refund(self, number: str, quantity: float, *, decision_id: str) -> Refund:
        q = qround(quantity)
        # The marker first: its primary key makes a second refund of the decision find it (on
        # PostgreSQL a concurrent one waits on the key until this commits, then inserts nothing);
        # then one conditional UPDATE, as the draw, that cannot take ``remaining`` above the limit.
        # Both commit or neither, so no serial transaction is needed.
        def body(conn: Any) -> Refund:
            marked = conn.execute(
                "INSERT INTO licence_refunds (decision_id, number, quantity) VALUES (?, ?, ?)"
                " ON CONFLICT (decision_id) DO NOTHING RETURNING decision_id", (decision_id, number, q)).fetchall()
            if not marked:
                return "already"
            credited = conn.execute(
                "UPDATE licences SET remaining = ROUND(remaining + CAST(? AS NUMERIC), 6) WHERE number = ?"
                " AND ROUND(remaining + CAST(? AS NUMERIC), 6) <= quantity RETURNING number",
                (q, number, q)).fetchall()
            if not credited:
                raise _Refused
            return "refunded"

        try:
            with self.db.transaction(serial=False) as conn:
                result: Refund = _run(f"refunding licence {number}", lambda: body(conn))
                return result
        except _Refused:
            return "refused"

    def revoke(self, number: str, *, by: str, reason: str, at: datetime) -> Licence:
        def body(conn: Any) -> Licence:
            row = conn.execute("SELECT * FROM licences WHERE number = ?", (number,)).fetchone()
            if row is None:
                raise NotFoundError(f"no licence {number!r}")
            old = _licence(row)
            if old.status == "revoked":
                raise WorkflowError(f"licence {number} was already revoked on {old.revoked_at} by {old.revoked_by}")
            new = old.model_copy(update={"status": "revoked", "revoked_by": by, "revoked_at": at,
                                         "revoked_reason": reason})
            conn.execute("UPDATE licences SET status = 'revoked', doc = ? WHERE number = ? AND status = 'active'",
                         (_dump(new), number))
            return new

        with self.db.transaction() as conn:
            result: Licence = _run(f"revoking licence {number}", lambda: body(conn))
            return result
