"""The PostgreSQL schema as versioned migrations, applied only by ``gatekeeper store init``.

Each migration is a version number, a description and its DDL; ``schema_migrations`` in the store's
schema records which were applied and when. ``migrate`` applies the missing ones in order, in one
transaction under the schema's advisory lock (two ``store init`` at once: the second waits, then
finds nothing to do). The running store never changes the schema: it checks the version at first use
(``PostgresDatabase.check_schema``) and refuses an older or newer one.

Adding a migration: append ``Migration(N + 1, ...)`` with the DDL that takes version N to N + 1
(never edit an applied one), and the same change to the SQLite DDL beside the SQL that uses it.

Columns mirror the SQLite tables so that the SQL stores run unchanged; text is compared and sorted
byte-wise (``COLLATE "C"``, as SQLite does) whatever the database's locale; licence quantities are
exact decimals (``NUMERIC``), read back as floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import sql

from gatekeeper.errors import StoreError

if TYPE_CHECKING:
    import psycopg

    from gatekeeper.stores.postgres import PostgresLocation

T = 'TEXT COLLATE "C"'


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    ddl: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "profiles, cases, licences, screening, hook event markers, audit trust", f"""
CREATE TABLE profiles (
    provider {T} NOT NULL,
    account_id {T} NOT NULL,
    legal_name {T} NOT NULL,
    country {T} NOT NULL,
    headquarters_country {T} NOT NULL,
    ultimate_parent_country {T} NOT NULL,
    kyc_status {T} NOT NULL,
    updated_at {T} NOT NULL,
    -- beneficial owners (JSON), for the ownership rules being added to profiles; '[]' when unknown
    owners TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (provider, account_id)
);
CREATE TABLE cases (
    case_id {T} PRIMARY KEY,
    scope_key {T} NOT NULL,
    status {T} NOT NULL CHECK (status IN ('open', 'approved', 'denied')),
    provider {T} NOT NULL,
    account_id {T} NOT NULL,
    opened_at {T} NOT NULL,
    updated_at {T} NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX cases_one_open_per_scope ON cases (scope_key) WHERE status = 'open';
CREATE INDEX cases_by_status ON cases (status, opened_at);
CREATE TABLE case_requests (
    case_id {T} NOT NULL REFERENCES cases (case_id),
    seq INTEGER NOT NULL,
    decision_id {T} NOT NULL,
    at {T} NOT NULL,
    principal {T} NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE licences (
    number {T} PRIMARY KEY,
    provider {T} NOT NULL,
    account_id {T} NOT NULL,
    status {T} NOT NULL CHECK (status IN ('active', 'revoked')),
    quantity NUMERIC(24, 6) NOT NULL CHECK (quantity >= 0),
    remaining NUMERIC(24, 6) NOT NULL CHECK (remaining >= 0),
    valid_from {T} NOT NULL,
    valid_until {T} NOT NULL,
    case_id {T},
    doc TEXT NOT NULL
);
CREATE INDEX licences_by_customer ON licences (provider, account_id);
CREATE TABLE screening_meta (
    key {T} PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE screening_lists (
    list_code {T} PRIMARY KEY,
    list_date {T} NOT NULL,
    loaded_at {T} NOT NULL,
    entry_count INTEGER NOT NULL,
    source_file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    sources TEXT NOT NULL
);
CREATE TABLE screening_entries (
    entry_id {T} PRIMARY KEY,
    list_code {T} NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX screening_entries_by_list ON screening_entries (list_code);
CREATE TABLE screening_hits (
    provider {T} NOT NULL,
    account_id {T} NOT NULL,
    entry_id {T} NOT NULL,
    list_code {T} NOT NULL,
    entry_name {T} NOT NULL,
    legal_name TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    explanation TEXT NOT NULL,
    summary TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    active INTEGER NOT NULL,
    first_seen_at {T} NOT NULL,
    last_screened_at {T} NOT NULL,
    cleared_by TEXT NOT NULL DEFAULT '',
    cleared_reason TEXT NOT NULL DEFAULT '',
    cleared_at TEXT NOT NULL DEFAULT '',
    cleared_fingerprint TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider, account_id, entry_id)
);
CREATE INDEX screening_hits_by_entry ON screening_hits (entry_id);
CREATE TABLE screening_events (
    seq BIGSERIAL PRIMARY KEY,
    at {T} NOT NULL,
    kind {T} NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE hook_events (
    event_id {T} PRIMARY KEY,
    status {T} NOT NULL,
    claimed_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX hook_events_expiry ON hook_events (expires_at);
CREATE TABLE audit_keys (
    log_id {T} NOT NULL,
    fingerprint {T} NOT NULL,
    pinned_at {T} NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (log_id, fingerprint)
);
CREATE TABLE audit_digests (
    log_id {T} PRIMARY KEY,
    seq BIGINT NOT NULL,
    doc TEXT NOT NULL
);
"""),
    # A licence draw given back because its decision's record could not be made durable, once per
    # decision (``SQLLicenceStore.refund``).
    Migration(2, "licence refunds, once per decision", f"""
CREATE TABLE licence_refunds (
    decision_id {T} PRIMARY KEY,
    number {T} NOT NULL,
    quantity NUMERIC(24, 6) NOT NULL
);
"""),
)
LATEST = MIGRATIONS[-1].version


def _exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present",
                       (f'"{schema}".schema_migrations',)).fetchone()
    return bool(row and (row["present"] if isinstance(row, dict) else row[0]))


def applied_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The highest migration applied to ``schema`` (0: none, the tables do not exist)."""
    if not _exists(conn, schema):
        return 0
    row = conn.execute(sql.SQL("SELECT coalesce(max(version), 0) AS v FROM {}.schema_migrations")
                       .format(sql.Identifier(schema))).fetchone()
    return int(row["v"] if isinstance(row, dict) else row[0]) if row else 0


def migrate(conn: psycopg.Connection[Any], location: PostgresLocation) -> list[str]:
    """Create the schema and apply the missing migrations in one transaction; a line per step."""
    schema = sql.Identifier(location.schema)
    lines: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (location.lock_id,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                     "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        current = applied_version(conn, location.schema)
        if current > LATEST:
            raise StoreError(f"{location.name} is at schema version {current}, newer than this gatekeeper "
                             f"knows ({LATEST}): upgrade gatekeeper")
        for m in MIGRATIONS:
            if m.version <= current:
                continue
            conn.execute(m.ddl.encode())  # several statements: no parameters, simple protocol
            conn.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                         (m.version, m.description))
            lines.append(f"applied migration {m.version} ({m.description}) to {location.name}")
    final = max(current, LATEST)
    lines.append(f"{location.name} at schema version {final}")
    return lines
