"""Restricted-party screening in a SQL state store: list entries, loaded lists, hits and their review.

``SQLScreeningStore`` implements :class:`gatekeeper.stores.screening_base.ScreeningStore` on the
main store's database, SQLite (``stores.sqlite``: tables created on open) or PostgreSQL
(``stores.postgres``: tables created by the migrations of ``gatekeeper store init``); the SQL below
is written once for both (``?`` placeholders, standard ``ON CONFLICT``). Tables:

    screening_lists    one row per list code: list date, load time, file, sha256, entry count
    screening_entries  the entries (JSON), keyed by the CSL id
    screening_hits     (provider, account, entry) -> score, explanation, status, review
    screening_events   append-only record of loads and clearances
    screening_meta     generation: a fresh random token per load (caches key on it; a rolled-back
                       load leaves no token behind that a later load could reuse)

A hit's status is derived, never stored: ``lapsed`` when the latest screening no longer matched it,
``cleared`` when a reviewer cleared it *for the same names and countries* (a fingerprint of both
sides), ``open`` otherwise. So a clearance stops applying the moment the customer's legal name or
country, or the entry, changes.

# INVARIANT: a list load (entries replaced + every profile re-screened) and a screening run are each
# one write transaction: a failure anywhere changes nothing.
# INVARIANT: a clearance commits only after its audit event was recorded (when a recorder is given).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gatekeeper.audited import record_failure
from gatekeeper.errors import InvalidInputError, NotFoundError, StoreError, WorkflowError
from gatekeeper.model import ScreeningHit
from gatekeeper.stores.base import SQLDatabase
from gatekeeper.stores.screening_base import (
    NO_WRITES,
    STATUSES,
    EventRecorder,
    ListEntry,
    ListInfo,
    ParsedList,
    ScreenFn,
    StoredHit,
    SubjectResult,
    WriteSummary,
    entry_from_dict,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS screening_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS screening_lists (
    list_code TEXT PRIMARY KEY,
    list_date TEXT NOT NULL,
    loaded_at TEXT NOT NULL,
    entry_count INTEGER NOT NULL,
    source_file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    sources TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS screening_entries (
    entry_id TEXT PRIMARY KEY,
    list_code TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS screening_entries_by_list ON screening_entries (list_code);
CREATE TABLE IF NOT EXISTS screening_hits (
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    list_code TEXT NOT NULL,
    entry_name TEXT NOT NULL,
    legal_name TEXT NOT NULL,
    score REAL NOT NULL,
    explanation TEXT NOT NULL,
    summary TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    active INTEGER NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_screened_at TEXT NOT NULL,
    cleared_by TEXT NOT NULL DEFAULT '',
    cleared_reason TEXT NOT NULL DEFAULT '',
    cleared_at TEXT NOT NULL DEFAULT '',
    cleared_fingerprint TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider, account_id, entry_id)
);
CREATE INDEX IF NOT EXISTS screening_hits_by_entry ON screening_hits (entry_id);
CREATE TABLE IF NOT EXISTS screening_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
);
"""

_STATUS_SQL = ("CASE WHEN active = 0 THEN 'lapsed' WHEN cleared_fingerprint = fingerprint THEN 'cleared' "
               "ELSE 'open' END")

def _stored_hit(row: Any) -> StoredHit:
    return StoredHit(
        provider=row["provider"], account_id=row["account_id"], legal_name=row["legal_name"],
        list_code=row["list_code"], entry_id=row["entry_id"], entry_name=row["entry_name"],
        score=row["score"], explanation=json.loads(row["explanation"]), status=row["status"],
        first_seen_at=row["first_seen_at"], last_screened_at=row["last_screened_at"],
        cleared_by=row["cleared_by"], cleared_reason=row["cleared_reason"], cleared_at=row["cleared_at"],
        summary=row["summary"],
    )


_HIT_COLUMNS = f"*, {_STATUS_SQL} AS status"


_PROFILE_HITS_SQL = (f"SELECT provider, account_id, list_code, entry_id, entry_name, score, {_STATUS_SQL} AS status "
                     "FROM screening_hits WHERE active = 1")
_PROFILE_HITS_ORDER = " ORDER BY score DESC, list_code, entry_id"


def _profile_hit(r: Any) -> ScreeningHit:
    return ScreeningHit(list_code=r["list_code"], entry_id=r["entry_id"], name=r["entry_name"],
                        score=float(r["score"]), cleared=r["status"] == "cleared")


def hits_for_profile(db: SQLDatabase, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
    """The profile's current hits, for ``SQLProfileStore`` (one indexed query; no schema work).

    Open and cleared hits are returned (``cleared`` set on the latter); lapsed ones are not.
    """
    rows = db.query(_PROFILE_HITS_SQL + " AND provider = ? AND account_id = ?" + _PROFILE_HITS_ORDER,
                    (provider, account_id))
    return tuple(_profile_hit(r) for r in rows)


def hits_by_profile(db: SQLDatabase, provider: str | None = None) -> dict[tuple[str, str], tuple[ScreeningHit, ...]]:
    """Every profile's current hits (of one provider), in one query: (provider, account id) -> hits."""
    rows = (db.query(_PROFILE_HITS_SQL + " AND provider = ?" + _PROFILE_HITS_ORDER, (provider,)) if provider
            else db.query(_PROFILE_HITS_SQL + _PROFILE_HITS_ORDER))
    out: dict[tuple[str, str], list[ScreeningHit]] = {}
    for r in rows:
        out.setdefault((r["provider"], r["account_id"]), []).append(_profile_hit(r))
    return {k: tuple(v) for k, v in out.items()}


WRITE_BATCH = 10_000  # subjects whose hits are written by one executemany
_KEYS_PER_QUERY = 400  # (provider, account) pairs per look-up: 800 parameters, under SQLite's old 999


def _batched(items: Iterable[SubjectResult]) -> Iterator[tuple[SubjectResult, ...]]:
    """Tuples of ``WRITE_BATCH`` items (``itertools.batched`` from Python 3.12)."""
    it = iter(items)
    while chunk := tuple(itertools.islice(it, WRITE_BATCH)):
        yield chunk


def _hits_before(conn: Any, subjects: Sequence[tuple[str, str]] | None = None
                 ) -> dict[tuple[str, str], dict[str, tuple[str, str]]]:
    """What is stored now, (provider, account) -> entry -> (status, cleared fingerprint): every hit,
    or those of ``subjects`` only."""
    sql = f"SELECT provider, account_id, entry_id, cleared_fingerprint, {_STATUS_SQL} AS status FROM screening_hits"
    if subjects is None:
        chunks: list[tuple[Any, ...]] = [()]
    else:
        chunks = [tuple(x for key in subjects[i:i + _KEYS_PER_QUERY] for x in key)
                  for i in range(0, len(subjects), _KEYS_PER_QUERY)]
    before: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
    for params in chunks:
        where = (" WHERE (provider, account_id) IN (" + ",".join(["(?, ?)"] * (len(params) // 2)) + ")"
                 if subjects is not None else "")
        for row in conn.execute(sql + where, params):
            before.setdefault((row["provider"], row["account_id"]), {})[row["entry_id"]] = (
                row["status"], row["cleared_fingerprint"])
    return before


class SQLScreeningStore:
    """Screening tables in the main store's database (SQLite file or PostgreSQL schema)."""

    def __init__(self, db: SQLDatabase | str | Path) -> None:
        # Sharing the main store's database shares its connections; a path opens a SQLite
        # database of our own (closed by ``close``).
        self._owns_db = isinstance(db, str | Path)
        if isinstance(db, str | Path):
            from gatekeeper.stores.sqlite import SQLiteDatabase  # sqlite -> sql -> here: import when used

            db = SQLiteDatabase(Path(db))
        self.db: SQLDatabase = db
        self.db.ensure_schema(SCHEMA)

    @property
    def path(self) -> Path:
        return Path(self.db.name)

    @property
    def cache_key(self) -> str:
        """What the matcher's index cache is keyed on: the database (file or PostgreSQL schema)."""
        return self.db.name

    @contextmanager
    def _write(self) -> Iterator[Any]:
        try:
            with self.db.transaction() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.db.name}: {exc}") from exc

    # -- reading ------------------------------------------------------------------------------

    def generation(self) -> str:
        return self.get_meta("generation") or ""

    def get_meta(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM screening_meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO screening_meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def entries(self) -> list[ListEntry]:
        rows = self.db.query("SELECT data FROM screening_entries ORDER BY list_code, entry_id")
        return [entry_from_dict(json.loads(r["data"])) for r in rows]

    def lists(self) -> list[ListInfo]:
        rows = self.db.query("SELECT * FROM screening_lists ORDER BY list_code")
        return [ListInfo(list_code=r["list_code"], list_date=r["list_date"], loaded_at=r["loaded_at"],
                         entry_count=r["entry_count"], source_file=r["source_file"], sha256=r["sha256"],
                         source_labels=tuple(json.loads(r["sources"]))) for r in rows]

    def hits(self, statuses: Sequence[str] = ("open",)) -> list[StoredHit]:
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise InvalidInputError(f"unknown hit status {unknown[0]!r}; expected one of {STATUSES}",
                                    field="status")
        marks = ",".join("?" for _ in statuses) or "''"
        rows = self.db.query(
            f"SELECT * FROM (SELECT {_HIT_COLUMNS} FROM screening_hits) AS h WHERE status IN ({marks}) "
            "ORDER BY score DESC, provider, account_id, entry_id", tuple(statuses))
        return [_stored_hit(r) for r in rows]

    def find_hits(self, account_id: str, entry_id: str, provider: str | None = None) -> list[StoredHit]:
        sql = f"SELECT {_HIT_COLUMNS} FROM screening_hits WHERE account_id = ? AND entry_id = ?"
        params: tuple[str, ...] = (account_id, entry_id)
        if provider:
            sql += " AND provider = ?"
            params += (provider,)
        return [_stored_hit(r) for r in self.db.query(sql + " ORDER BY provider", params)]

    def screening_hits_for(self, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
        return hits_for_profile(self.db, provider, account_id)

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM screening_events ORDER BY seq DESC LIMIT ?", (limit,))
        return [{"seq": r["seq"], "at": r["at"], "kind": r["kind"], "actor": r["actor"],
                 "data": json.loads(r["data"])} for r in rows]

    # -- writing ------------------------------------------------------------------------------

    def entries_in(self, conn: Any) -> Callable[[], list[ListEntry]]:
        def load() -> list[ListEntry]:
            rows = conn.execute("SELECT data FROM screening_entries ORDER BY list_code, entry_id").fetchall()
            return [entry_from_dict(json.loads(r["data"])) for r in rows]
        return load

    def generation_in(self, conn: Any) -> str:
        row = conn.execute("SELECT value FROM screening_meta WHERE key = 'generation'").fetchone()
        return str(row["value"]) if row else ""

    def load(self, parsed: ParsedList, screen: ScreenFn, *, at: str, actor: str,
             record_event: EventRecorder | None = None) -> WriteSummary:
        codes = parsed.list_codes
        counts = parsed.counts()
        with self._write() as conn:
            marks = ",".join("?" for _ in codes)
            conn.execute(f"DELETE FROM screening_entries WHERE list_code IN ({marks})", codes)
            # An id moving between lists: the file is the truth, the older row goes.
            conn.executemany("DELETE FROM screening_entries WHERE entry_id = ?",
                             [(e.entry_id,) for e in parsed.entries])
            conn.executemany(
                "INSERT INTO screening_entries (entry_id, list_code, name, data) VALUES (?, ?, ?, ?)",
                [(e.entry_id, e.list_code, e.name, json.dumps(e.as_dict(), sort_keys=True))
                 for e in parsed.entries])
            for code in codes:
                labels = sorted({e.source for e in parsed.entries if e.list_code == code})
                conn.execute(
                    "INSERT INTO screening_lists (list_code, list_date, loaded_at, entry_count, source_file,"
                    " sha256, sources) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(list_code) DO UPDATE SET"
                    " list_date = excluded.list_date, loaded_at = excluded.loaded_at,"
                    " entry_count = excluded.entry_count, source_file = excluded.source_file,"
                    " sha256 = excluded.sha256, sources = excluded.sources",
                    (code, parsed.list_date.isoformat(), at, counts[code], parsed.source_file, parsed.sha256,
                     json.dumps(labels)))
            generation = uuid.uuid4().hex
            conn.execute("INSERT INTO screening_meta (key, value) VALUES ('generation', ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (generation,))
            results = screen(generation, self.entries_in(conn))
            summary = self._write_results(conn, results, at)
            data = {"lists": counts, "list_date": parsed.list_date.isoformat(), "format": parsed.format,
                    "source_file": parsed.source_file, "sha256": parsed.sha256,
                    "profiles_screened": summary.subjects, "open_hits": summary.open_hits,
                    "new_hits": summary.new_hits, "lapsed_hits": summary.lapsed_hits}
            self._event(conn, at, "screening.list_loaded", actor, data)
            if record_event is not None:
                record_event("screening.list_loaded", actor, data)
        return summary

    def screen(self, screen: ScreenFn, *, at: str) -> WriteSummary:
        with self._write() as conn:
            results = screen(self.generation_in(conn), self.entries_in(conn))
            return self._write_results(conn, results, at)

    def _write_results(self, conn: Any, results: Iterable[SubjectResult], at: str) -> WriteSummary:
        """Store every subject's results; ``results`` is consumed in batches (it may be a generator)."""
        before = _hits_before(conn)
        summary = NO_WRITES
        for batch in _batched(results):
            summary = summary.plus(self._write_batch(conn, batch, at, before))
        return summary

    def write_subjects(self, conn: Any, results: Sequence[SubjectResult], at: str, *,
                       any_stored: bool = True) -> WriteSummary:
        """Store the results of these subjects only (an import's batch), inside the caller's transaction
        ``conn``; what is stored for them is read first (nothing, when ``any_stored`` says no hit exists)."""
        before = _hits_before(conn, [(r.provider, r.account_id) for r in results]) if any_stored else {}
        return self._write_batch(conn, results, at, before)

    @staticmethod
    def _write_batch(conn: Any, results: Sequence[SubjectResult], at: str,
                     before: dict[tuple[str, str], dict[str, tuple[str, str]]]) -> WriteSummary:
        lapse: list[tuple[str, str, str, str]] = []
        upserts: list[tuple[Any, ...]] = []
        active = open_ = new = 0
        for r in results:
            old = before.get((r.provider, r.account_id))
            if old:
                now_ids = {h.entry_id for h in r.hits}
                lapse += [(at, r.provider, r.account_id, eid) for eid, (status, _) in old.items()
                          if status != "lapsed" and eid not in now_ids]
            for h in r.hits:
                upserts.append((r.provider, r.account_id, h.entry_id, h.list_code, h.entry_name, r.legal_name,
                                h.score, h.explanation_text(), h.summary, h.fingerprint,
                                at, at))
                prev_status, cleared_fp = old.get(h.entry_id, ("", "")) if old else ("", "")
                active += 1
                if cleared_fp != h.fingerprint:  # a clearance holds only for the same names/countries
                    open_ += 1
                    new += prev_status != "open"
        if lapse:
            conn.executemany("UPDATE screening_hits SET active = 0, last_screened_at = ? "
                             "WHERE provider = ? AND account_id = ? AND entry_id = ?", lapse)
        if upserts:
            conn.executemany(
                "INSERT INTO screening_hits (provider, account_id, entry_id, list_code, entry_name,"
                " legal_name, score, explanation, summary, fingerprint, active, first_seen_at,"
                " last_screened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT(provider, account_id, entry_id) DO UPDATE SET"
                " list_code = excluded.list_code, entry_name = excluded.entry_name,"
                " legal_name = excluded.legal_name, score = excluded.score,"
                " explanation = excluded.explanation, summary = excluded.summary,"
                " fingerprint = excluded.fingerprint, active = 1,"
                " last_screened_at = excluded.last_screened_at", upserts)
        return WriteSummary(subjects=len(results), active_hits=active, open_hits=open_, new_hits=new,
                            lapsed_hits=len(lapse))

    def clear(self, provider: str, account_id: str, entry_id: str, *, by: str, reason: str, at: str,
              record_event: EventRecorder | None = None) -> StoredHit:
        intent: dict[str, Any] = {}
        try:
            return self._clear(provider, account_id, entry_id, by=by, reason=reason, at=at,
                               record_event=record_event, intent=intent)
        except BaseException as exc:
            if intent and record_event is not None:  # recorded, then the commit failed: say so
                record_failure(record_event, "screening.hit_clear_failed", by, intent["data"], [intent["record"]],
                               exc)
            raise

    def _clear(self, provider: str, account_id: str, entry_id: str, *, by: str, reason: str, at: str,
               record_event: EventRecorder | None, intent: dict[str, Any]) -> StoredHit:
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_HIT_COLUMNS} FROM screening_hits WHERE provider = ? AND account_id = ? "
                "AND entry_id = ?", (provider, account_id, entry_id)).fetchone()
            if row is None:
                raise NotFoundError(f"no screening hit of {provider}:{account_id} on entry {entry_id!r}")
            if row["status"] == "lapsed":
                raise WorkflowError(f"the hit of {provider}:{account_id} on entry {entry_id!r} no longer "
                                    "matches (lapsed); there is nothing to clear")
            if row["status"] == "cleared":
                raise WorkflowError(f"the hit of {provider}:{account_id} on entry {entry_id!r} was already "
                                    f"cleared by {row['cleared_by']} at {row['cleared_at']}")
            conn.execute(
                "UPDATE screening_hits SET cleared_by = ?, cleared_reason = ?, cleared_at = ?,"
                " cleared_fingerprint = fingerprint WHERE provider = ? AND account_id = ? AND entry_id = ?",
                (by, reason, at, provider, account_id, entry_id))
            data = {"provider": provider, "account_id": account_id, "legal_name": row["legal_name"],
                    "list": row["list_code"], "entry_id": entry_id, "entry_name": row["entry_name"],
                    "score": row["score"], "reason": reason, "summary": row["summary"], "at": at}
            self._event(conn, at, "screening.hit_cleared", by, data)
            # The audit record is durable before the clearance commits: a clearance that could not
            # be audited does not take effect (the transaction rolls back).
            if record_event is not None:
                intent.update(data=data, record=record_event("screening.hit_cleared", by, data))
            updated = conn.execute(
                f"SELECT {_HIT_COLUMNS} FROM screening_hits WHERE provider = ? AND account_id = ? "
                "AND entry_id = ?", (provider, account_id, entry_id)).fetchone()
        return _stored_hit(updated)

    @staticmethod
    def _event(conn: Any, at: str, kind: str, actor: str, data: dict[str, Any]) -> None:
        conn.execute("INSERT INTO screening_events (at, kind, actor, data) VALUES (?, ?, ?, ?)",
                     (at, kind, actor, json.dumps(data, sort_keys=True)))

    def close(self) -> None:
        if self._owns_db:
            self.db.close()


# The name it had when only SQLite kept screening state.
SqliteScreeningStore = SQLScreeningStore
