"""The SQL state store, written once for SQLite and PostgreSQL: profiles, cases, licences, screening.

``SQLStore`` puts the SQL stores (``SQLProfileStore`` here, ``sql_workflow``, ``sql_screening``) on
one :class:`gatekeeper.stores.base.SQLDatabase`; ``stores.sqlite`` and ``stores.postgres`` provide
the database (connections, transactions, schema) and nothing else.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from gatekeeper._construct import fast_new
from gatekeeper.errors import StoreError
from gatekeeper.model import CustomerProfile, Owner, ScreeningHit
from gatekeeper.stores.base import SQLDatabase
from gatekeeper.stores.screening_base import NO_WRITES, BatchScreenFn, ScreeningStore, WriteSummary
from gatekeeper.stores.sql_screening import SCHEMA as SCREENING_SCHEMA
from gatekeeper.stores.sql_screening import SQLScreeningStore, hits_by_profile, hits_for_profile
from gatekeeper.stores.sql_workflow import SQLCaseStore, SQLLicenceStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    legal_name TEXT NOT NULL,
    country TEXT NOT NULL,
    headquarters_country TEXT NOT NULL,
    ultimate_parent_country TEXT NOT NULL,
    kyc_status TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    owners TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (provider, account_id)
);
"""
_PROFILE_CACHE_MAX = 65_536
_UPSERT = ("INSERT INTO profiles (provider, account_id, legal_name, country, headquarters_country,"
           " ultimate_parent_country, kyc_status, updated_at, owners) VALUES (?,?,?,?,?,?,?,?,?)"
           " ON CONFLICT(provider, account_id) DO UPDATE SET legal_name=excluded.legal_name,"
           " country=excluded.country, headquarters_country=excluded.headquarters_country,"
           " ultimate_parent_country=excluded.ultimate_parent_country, kyc_status=excluded.kyc_status,"
           " updated_at=excluded.updated_at, owners=excluded.owners")
SUBJECT_PAGE = 10_000  # profiles read per query when re-screening all of them
_SUBJECT_COLUMNS = ("provider, account_id, legal_name, country, headquarters_country, ultimate_parent_country,"
                    " kyc_status")
_screening_subject = fast_new(CustomerProfile)


def _profile(row: Any, hits: tuple[ScreeningHit, ...]) -> CustomerProfile:
    return CustomerProfile(
        provider=row["provider"], account_id=row["account_id"], legal_name=row["legal_name"],
        country=row["country"], headquarters_country=row["headquarters_country"],
        ultimate_parent_country=row["ultimate_parent_country"], kyc_status=row["kyc_status"],
        screening_hits=hits, owners=tuple(Owner.from_dict(o) for o in json.loads(row["owners"] or "[]")),
    )


class SQLProfileStore:
    """Customer profiles in a SQL database (implements :class:`gatekeeper.stores.base.ProfileStore`)."""

    def __init__(self, db: SQLDatabase) -> None:
        self.db = db
        # The screening tables are part of the schema: a profile read always sees its hits.
        db.ensure_schema(SCHEMA)
        db.ensure_schema(SCREENING_SCHEMA)
        # Where the database can tell whether anything changed (SQLite's data_version: ``version()``),
        # profiles read by this thread are kept while it is unchanged: a look-up then costs one
        # PRAGMA instead of two queries. Elsewhere (PostgreSQL) every look-up reads the database.
        self._version = getattr(db, "version", None)
        self._cache = threading.local()

    def screening_hits(self, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
        return hits_for_profile(self.db, provider, account_id)

    def get_profile(self, provider: str, account_id: str) -> CustomerProfile | None:
        if self._version is None:
            return self._read_profile(provider, account_id)
        version = self._version()
        cache: dict[tuple[str, str], CustomerProfile | None] | None = getattr(self._cache, "profiles", None)
        if cache is None or self._cache.version != version:
            cache = self._cache.profiles = {}
            self._cache.version = version
        key = (provider, account_id)
        if key in cache:
            return cache[key]
        found = self._read_profile(provider, account_id)
        if len(cache) >= _PROFILE_CACHE_MAX:
            cache.clear()
        cache[key] = found
        return found

    def _read_profile(self, provider: str, account_id: str) -> CustomerProfile | None:
        rows = self.db.query("SELECT * FROM profiles WHERE provider=? AND account_id=?", (provider, account_id))
        if not rows:
            return None
        return _profile(rows[0], self.screening_hits(provider, account_id))

    def put_profiles(self, profiles: Sequence[CustomerProfile]) -> None:
        with self.db.transaction() as conn:
            self.write(conn, profiles, datetime.now(UTC).isoformat())

    @staticmethod
    def write(conn: Any, profiles: Sequence[CustomerProfile], now: str) -> None:
        """Insert or replace ``profiles`` inside the caller's transaction ``conn``."""
        conn.executemany(_UPSERT, [(p.provider, p.account_id, p.legal_name, p.country, p.headquarters_country,
                                    p.ultimate_parent_country, p.kyc_status, now,
                                    json.dumps([o.as_dict() for o in p.owners]) if p.owners else "[]")
                                   for p in profiles])

    def accounts_in(self, countries: frozenset[str]) -> frozenset[tuple[str, str]]:
        """(provider, account id) of every profile located in, headquartered in or owned from ``countries``:
        one query, without the screening hits list_profiles reads."""
        if not countries:
            return frozenset()
        marks = ",".join("?" * len(countries))
        values = sorted(countries)
        rows = self.db.query(f"SELECT provider, account_id FROM profiles WHERE country IN ({marks}) OR "
                             f"headquarters_country IN ({marks}) OR ultimate_parent_country IN ({marks})",
                             tuple(values * 3))
        return frozenset((r["provider"], r["account_id"]) for r in rows)

    def _rows(self, provider: str | None) -> list[Any]:
        if provider:
            return self.db.query("SELECT * FROM profiles WHERE provider=? ORDER BY account_id", (provider,))
        return self.db.query("SELECT * FROM profiles ORDER BY provider, account_id")

    def list_profiles(self, provider: str | None = None) -> list[CustomerProfile]:
        # Two queries in all, not one per profile (a network round trip each on PostgreSQL).
        rows = self._rows(provider)
        hits = hits_by_profile(self.db, provider)
        return [_profile(r, hits.get((r["provider"], r["account_id"]), ())) for r in rows]

    def without_hits(self) -> list[CustomerProfile]:
        """Every profile with names and countries only (what a re-screening needs)."""
        return [_profile(r, ()) for r in self._rows(None)]

    def close(self) -> None:
        self.db.close()


class SQLStore:
    """Profiles, cases, licences and screening over one SQL database."""

    def __init__(self, db: SQLDatabase) -> None:
        self.db = db
        self.profiles = SQLProfileStore(db)
        self.cases = SQLCaseStore(db)
        self.licences = SQLLicenceStore(db)
        self._screening: SQLScreeningStore | None = None

    @property
    def screening(self) -> ScreeningStore:
        if self._screening is None:
            self._screening = SQLScreeningStore(self.db)
        return self._screening

    def screening_subjects(self) -> list[CustomerProfile]:
        return self.profiles.without_hits()

    def count_profiles(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM profiles")[0]["n"])

    def iter_screening_subjects(self, page: int | None = None) -> Iterator[list[CustomerProfile]]:
        """Every profile (names and countries only), ``page`` at a time in key order, so that a
        re-screening of a million profiles never holds them all (keyset pagination: each page is an
        index range scan, not an OFFSET).

        Only what screening reads is read (not the owners, not the hits), into profiles built
        without the frozen dataclass's per-field toll: about 4 us a profile less of a re-screening."""
        page = page or SUBJECT_PAGE
        new = _screening_subject
        rows = self.db.query(f"SELECT {_SUBJECT_COLUMNS} FROM profiles ORDER BY provider, account_id LIMIT ?",
                             (page,))
        while rows:
            yield [new(r["provider"], r["account_id"], r["legal_name"], r["country"], r["headquarters_country"],
                       r["ultimate_parent_country"], r["kyc_status"]) for r in rows]  # sqlite3.Row or dict
            last = rows[-1]
            rows = self.db.query(f"SELECT {_SUBJECT_COLUMNS} FROM profiles WHERE provider > ? OR"
                                 " (provider = ? AND account_id > ?) ORDER BY provider, account_id LIMIT ?",
                                 (last["provider"], last["provider"], last["account_id"], page))

    def import_profiles(self, batches: Iterable[Sequence[CustomerProfile]], screen: BatchScreenFn, *,
                        at: str) -> WriteSummary:
        """Store the profiles and their screening results, batch by batch, in ONE transaction.

        ``screen(generation, load_entries, batch)`` screens each batch against the lists as this
        transaction sees them (it is serial: no list load can come between). Anything raised (a bad
        row further on in the file, a screening failure) rolls everything back: all or nothing,
        with memory bounded by a batch.
        """
        screening = self.screening
        assert isinstance(screening, SQLScreeningStore)
        summary = NO_WRITES
        now = datetime.now(UTC).isoformat()
        try:
            with self.db.transaction() as conn:
                generation = screening.generation_in(conn)
                entries = screening.entries_in(conn)
                any_stored = conn.execute("SELECT 1 FROM screening_hits LIMIT 1").fetchone() is not None
                for batch in batches:
                    self.profiles.write(conn, batch, now)
                    summary = summary.plus(screening.write_subjects(conn, screen(generation, entries, batch), at,
                                                                    any_stored=any_stored))
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.db.name}: {exc}") from exc
        return summary

    def close(self) -> None:
        self.db.close()
