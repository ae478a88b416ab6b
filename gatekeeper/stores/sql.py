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
from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from gatekeeper._construct import fast_new
from gatekeeper.errors import StoreError
from gatekeeper.model import CustomerProfile, Owner, ScreeningHit
from gatekeeper.stores.base import SQLDatabase
from gatekeeper.stores.screening_base import (
    BatchScreenFn,
    HitCandidate,
    ScreeningStore,
    SubjectResult,
    WriteSummary,
)
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


def _profile_rows(profiles: Sequence[CustomerProfile], now: str) -> list[tuple[str, ...]]:
    """The columns of the profiles table, in ``_UPSERT``'s order."""
    return [(p.provider, p.account_id, p.legal_name, p.country, p.headquarters_country, p.ultimate_parent_country,
             p.kyc_status, now, json.dumps([o.as_dict() for o in p.owners]) if p.owners else "[]")
            for p in profiles]


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
        conn.executemany(_UPSERT, _profile_rows(profiles, now))

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
        rows = self.db.query_values(f"SELECT {_SUBJECT_COLUMNS} FROM profiles ORDER BY provider, account_id LIMIT ?",
                                    (page,))
        while rows:
            yield [new(*r) for r in rows]  # the columns in CustomerProfile's order (_SUBJECT_COLUMNS)
            provider, account_id = rows[-1][:2]
            rows = self.db.query_values(f"SELECT {_SUBJECT_COLUMNS} FROM profiles WHERE provider > ? OR"
                                        " (provider = ? AND account_id > ?) ORDER BY provider, account_id LIMIT ?",
                                        (provider, provider, account_id, page))

    def import_profiles(self, batches: Iterable[Sequence[CustomerProfile]], screen: BatchScreenFn, *,
                        at: str) -> WriteSummary:
        """Store the profiles and their screening results: all or nothing, the write lock held briefly.

        # INVARIANT: nothing in the store changes until every batch was read (a bad row anywhere in
        # the file raises first), and then everything changes in one serial transaction.
        Staged first, outside any write transaction, on one connection (``SQLDatabase.session``):
        each batch goes into a temporary table and is screened against the lists as they are then
        (``screen(generation, load_entries, batch)``), its hits into a second one; other writers (a
        decision opening a case, a reviewer) go on meanwhile. Then, in one serial transaction, the
        staged rows are upserted with one INSERT ... SELECT and the hits written as ``write_subjects``
        writes them (only the accounts with hits now or before, the others have nothing to write). On
        PostgreSQL the upsert comes before the advisory lock (``SQLSession.serialise``): serial writers
        wait only for the hits and the commit.
        A list loaded between the staging and the swap (its generation moved) makes the swap screen
        the staged profiles again, under the lock, against the lists it now sees. Anything raised
        (a bad row, a screening failure) leaves the store as it was; the temporary tables are dropped.
        """
        screening = self.screening
        assert isinstance(screening, SQLScreeningStore)
        try:
            with self.db.session() as session:
                conn = session.conn
                for ddl in (*_DROP_STAGE, *_STAGE):
                    conn.execute(ddl)
                try:
                    generation = screening.generation_in(conn)
                    entries = screening.entries_in(conn)
                    staged = 0
                    for batch in batches:
                        _stage(conn, "gk_import_profiles", _PROFILE_COLUMNS, _profile_rows(batch, ""))
                        _stage_hits(conn, screen(generation, entries, batch))
                        staged += len(batch)
                    with session.transaction() as tx:
                        # The profiles first: one statement, holding only the imported rows' locks
                        # (PostgreSQL) until the commit; then serial, for the hits, which depend on the
                        # lists no load may change meanwhile. SQLite's transaction is serial throughout.
                        tx.execute(_SWAP_PROFILES, (datetime.now(UTC).isoformat(),))
                        session.serialise()
                        return self._swap(tx, screening, screen, generation, staged, at)
                finally:
                    for ddl in _DROP_STAGE:
                        conn.execute(ddl)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.db.name}: {exc}") from exc

    def _swap(self, conn: Any, screening: SQLScreeningStore, screen: BatchScreenFn, generation: str, staged: int,
              at: str) -> WriteSummary:
        """The staged screening results written, inside the caller's serial transaction ``conn`` (which
        upserted the staged profiles)."""
        now = screening.generation_in(conn)
        if now != generation:  # a list was loaded meanwhile: the staged hits are against older lists
            conn.execute("DELETE FROM gk_import_hits")
            entries = screening.entries_in(conn)
            for page in _staged_pages(conn):
                _stage_hits(conn, screen(now, entries, page))
        any_stored = conn.execute("SELECT 1 FROM screening_hits LIMIT 1").fetchone() is not None
        summary = WriteSummary(subjects=staged, active_hits=0, open_hits=0, new_hits=0, lapsed_hits=0)
        for chunk in _chunks(_results_to_write(conn, any_stored), SUBJECT_PAGE):
            written = screening.write_subjects(conn, chunk, at, any_stored=any_stored)
            summary = summary.plus(replace(written, subjects=0))
        return summary

    def close(self) -> None:
        self.db.close()


# -- staging an import (``SQLStore.import_profiles``) -------------------------------------------------
# Temporary tables: the connection's own, written without the database's write lock.
_STAGE = (
    "CREATE TEMP TABLE gk_import_profiles (provider TEXT NOT NULL, account_id TEXT NOT NULL,"
    " legal_name TEXT NOT NULL, country TEXT NOT NULL, headquarters_country TEXT NOT NULL,"
    " ultimate_parent_country TEXT NOT NULL, kyc_status TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " owners TEXT NOT NULL, PRIMARY KEY (provider, account_id))",
    "CREATE TEMP TABLE gk_import_hits (provider TEXT NOT NULL, account_id TEXT NOT NULL, list_code TEXT NOT NULL,"
    " entry_id TEXT NOT NULL, entry_name TEXT NOT NULL, score REAL NOT NULL, explanation TEXT NOT NULL,"
    " summary TEXT NOT NULL, fingerprint TEXT NOT NULL, PRIMARY KEY (provider, account_id, entry_id))",
)
_DROP_STAGE = ("DROP TABLE IF EXISTS gk_import_profiles", "DROP TABLE IF EXISTS gk_import_hits")
_PROFILE_COLUMNS = ("provider", "account_id", "legal_name", "country", "headquarters_country",
                    "ultimate_parent_country", "kyc_status", "updated_at", "owners")
_HIT_COLUMNS = ("provider", "account_id", "list_code", "entry_id", "entry_name", "score", "explanation", "summary",
                "fingerprint")
# _UPSERT's columns and conflict clause, from the staged rows ("WHERE true": SQLite's parser needs it
# before ON CONFLICT in an INSERT ... SELECT), in key order (the index is filled in order).
_SWAP_PROFILES = ("INSERT INTO profiles (provider, account_id, legal_name, country, headquarters_country,"
                  " ultimate_parent_country, kyc_status, updated_at, owners)"
                  " SELECT provider, account_id, legal_name, country, headquarters_country, ultimate_parent_country,"
                  " kyc_status, ?, owners FROM gk_import_profiles WHERE true ORDER BY provider, account_id"
                  + _UPSERT[_UPSERT.index(" ON CONFLICT"):])


def _stage(conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` into the staging ``table``: by COPY where the connection has it (PostgreSQL: a row by
    INSERT is a round trip), else one executemany."""
    copy_rows = getattr(conn, "copy_rows", None)
    if copy_rows is not None:
        copy_rows(table, columns, rows)
    elif rows:
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         rows)


def _stage_hits(conn: Any, results: Sequence[SubjectResult]) -> None:
    rows = [(r.provider, r.account_id, h.list_code, h.entry_id, h.entry_name, h.score,
             json.dumps(h.explanation, sort_keys=True), h.summary, h.fingerprint) for r in results for h in r.hits]
    if rows:
        _stage(conn, "gk_import_hits", _HIT_COLUMNS, rows)


def _staged_pages(conn: Any) -> Iterator[list[CustomerProfile]]:
    """The staged profiles, ``SUBJECT_PAGE`` at a time in key order (for screening them again)."""
    rows = conn.execute("SELECT * FROM gk_import_profiles ORDER BY provider, account_id LIMIT ?",
                        (SUBJECT_PAGE,)).fetchall()
    while rows:
        yield [_profile(r, ()) for r in rows]
        last = rows[-1]
        rows = conn.execute("SELECT * FROM gk_import_profiles WHERE provider > ? OR (provider = ? AND account_id > ?)"
                            " ORDER BY provider, account_id LIMIT ?",
                            (last["provider"], last["provider"], last["account_id"], SUBJECT_PAGE)).fetchall()


def _results_to_write(conn: Any, any_stored: bool) -> Iterator[SubjectResult]:
    """The screening results of the staged accounts that have hits now or had them before: for the
    others (most of an import) ``write_subjects`` would write nothing. Found from the small sides
    (the staged hits, the stored hits), never by walking every staged row."""
    keys = "SELECT provider, account_id FROM gk_import_hits"
    if any_stored:
        keys += (" UNION SELECT h.provider, h.account_id FROM screening_hits h JOIN gk_import_profiles s"
                 " ON s.provider = h.provider AND s.account_id = h.account_id")
    rows = conn.execute(
        f"SELECT s.provider, s.account_id, s.legal_name, h.list_code, h.entry_id, h.entry_name, h.score,"
        f" h.explanation, h.summary, h.fingerprint FROM ({keys}) k"
        f" JOIN gk_import_profiles s ON s.provider = k.provider AND s.account_id = k.account_id"
        f" LEFT JOIN gk_import_hits h ON h.provider = k.provider AND h.account_id = k.account_id"
        f" ORDER BY s.provider, s.account_id, h.entry_id").fetchall()  # read whole: the hits are written next
    subject: tuple[str, str, str] | None = None
    hits: list[HitCandidate] = []
    for row in rows:
        key = (row["provider"], row["account_id"], row["legal_name"])
        if key != subject:
            if subject is not None:
                yield SubjectResult(*subject, tuple(hits))
            subject, hits = key, []
        if row["entry_id"] is not None:
            hits.append(HitCandidate(list_code=row["list_code"], entry_id=row["entry_id"],
                                     entry_name=row["entry_name"], score=float(row["score"]),
                                     explanation=json.loads(row["explanation"]), summary=row["summary"],
                                     fingerprint=row["fingerprint"]))
    if subject is not None:
        yield SubjectResult(*subject, tuple(hits))


def _chunks(items: Iterable[SubjectResult], size: int) -> Iterator[list[SubjectResult]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
