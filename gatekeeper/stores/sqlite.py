"""The embedded store: one SQLite file in WAL mode, safe for many threads and processes on one machine.

Each thread gets its own connection (sqlite3 connections are not shared across threads); writers
serialise on SQLite's own lock with a busy timeout, so concurrent processes wait rather than fail.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from gatekeeper.errors import ConfigError, StoreError
from gatekeeper.model import CustomerProfile, Owner, ScreeningHit

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
# Added after the first release: a database created before has no owners column yet.
OWNERS_COLUMN = "ALTER TABLE profiles ADD COLUMN owners TEXT NOT NULL DEFAULT '[]'"


def sqlite_path(url: str, base_dir: Path) -> Path:
    """``sqlite:///rel/path.db`` (relative to base_dir) or ``sqlite:////abs/path.db``."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        raise ConfigError(f"not a sqlite url: {url!r}")
    raw = url[len("sqlite:///"):] if url.startswith("sqlite:///") else parsed.path
    if not raw:
        raise ConfigError(f"sqlite url {url!r} names no file")
    p = Path(raw)
    return p if p.is_absolute() else base_dir / p


DEFAULT_TIMEOUT_SECONDS = 5.0


class SQLiteDatabase:
    """Per-thread connections to one SQLite file; ``transaction()`` is an IMMEDIATE write transaction.

    ``timeout_seconds`` is how long a call waits for a lock another process holds ([store]
    timeout_seconds); past it the store is unavailable (StoreError) rather than the caller stalled.
    """

    def __init__(self, path: Path, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.path = path
        self.timeout_seconds = timeout_seconds
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
        self._local = threading.local()
        self._schemas: list[str] = []
        self._lock = threading.Lock()
        # INVARIANT: every write goes through transaction() (query() is for reads), so that
        # version() sees it. Commits made through this object; with each connection's PRAGMA data_version (which moves
        # when any *other* connection commits) it tells a reader whether what it cached is current.
        self._commits = 0

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.timeout_seconds, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={int(self.timeout_seconds * 1000)}")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.row_factory = sqlite3.Row
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open store {self.path}: {exc}") from exc
            self._local.conn = conn
            for ddl in self._schemas:
                conn.executescript(ddl)
        return conn

    def ensure_schema(self, ddl: str) -> None:
        """Create tables (idempotent); remembered so that new thread connections see them too."""
        with self._lock:
            if ddl not in self._schemas:
                self._schemas.append(ddl)
        try:
            self.connection().executescript(ddl)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create tables in {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path} unavailable: {self._why(exc)}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreError(f"store {self.path}: commit failed: {exc}") from exc
            finally:
                with self._lock:
                    self._commits += 1

    def version(self) -> tuple[int, int]:
        """Changes when the database may have changed since, as seen from the calling thread.

        ``PRAGMA data_version`` of this thread's connection moves with every commit of any other
        connection, other processes' included; commits through this object are counted apart
        (a connection's own commits do not move its data_version).
        """
        try:
            row = self.connection().execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {exc}") from exc
        return int(row[0]), self._commits

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {self._why(exc)}") from exc

    def _why(self, exc: sqlite3.Error) -> str:
        if "locked" in str(exc) or "busy" in str(exc):
            return (f"{exc}: another process held the lock for more than {self.timeout_seconds:g} s "
                    "([store] timeout_seconds)")
        return str(exc)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _profile(row: sqlite3.Row, hits: tuple[ScreeningHit, ...]) -> CustomerProfile:
    return CustomerProfile(
        provider=row["provider"], account_id=row["account_id"], legal_name=row["legal_name"],
        country=row["country"], headquarters_country=row["headquarters_country"],
        ultimate_parent_country=row["ultimate_parent_country"], kyc_status=row["kyc_status"],
        screening_hits=hits, owners=tuple(Owner.from_dict(o) for o in json.loads(row["owners"] or "[]")),
    )


_PROFILE_CACHE_MAX = 65_536


class SQLiteProfileStore:
    """Customer profiles in SQLite."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        if not any(r["name"] == "owners" for r in db.query("PRAGMA table_info(profiles)")):
            try:
                with db.transaction() as conn:
                    conn.execute(OWNERS_COLUMN)
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise StoreError(f"cannot add the owners column to {db.path}: {exc}") from exc
        # Profiles (with their screening hits) read by this thread, valid while the database's
        # version is unchanged: a look-up then costs one PRAGMA instead of three queries.
        self._cache = threading.local()

    def screening_hits(self, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
        # Hits live in the screening module's tables, which exist once a list has been loaded.
        if not self.db.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name='screening_hits'"):
            return ()
        from gatekeeper.screening.store import hits_for_profile

        return hits_for_profile(self.db, provider, account_id)

    def get_profile(self, provider: str, account_id: str) -> CustomerProfile | None:
        version = self.db.version()
        cache: dict[tuple[str, str], CustomerProfile | None] | None = getattr(self._cache, "profiles", None)
        if cache is None or self._cache.version != version:
            cache = self._cache.profiles = {}
            self._cache.version = version
        key = (provider, account_id)
        if key in cache:
            return cache[key]
        rows = self.db.query("SELECT * FROM profiles WHERE provider=? AND account_id=?", (provider, account_id))
        found = _profile(rows[0], self.screening_hits(provider, account_id)) if rows else None
        if len(cache) >= _PROFILE_CACHE_MAX:
            cache.clear()
        cache[key] = found
        return found

    def put_profiles(self, profiles: Sequence[CustomerProfile]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO profiles (provider, account_id, legal_name, country, headquarters_country,"
                " ultimate_parent_country, kyc_status, owners) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT(provider, account_id) DO UPDATE SET legal_name=excluded.legal_name,"
                " country=excluded.country, headquarters_country=excluded.headquarters_country,"
                " ultimate_parent_country=excluded.ultimate_parent_country, kyc_status=excluded.kyc_status,"
                " owners=excluded.owners, updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')",
                [(p.provider, p.account_id, p.legal_name, p.country, p.headquarters_country,
                  p.ultimate_parent_country, p.kyc_status, json.dumps([o.as_dict() for o in p.owners]))
                 for p in profiles],
            )

    def accounts_in(self, countries: frozenset[str]) -> frozenset[tuple[str, str]]:
        """(provider, account id) of every profile located in, headquartered in or owned from ``countries``:
        one query, without the screening hits list_profiles reads per profile."""
        if not countries:
            return frozenset()
        marks = ",".join("?" * len(countries))
        values = sorted(countries)
        rows = self.db.query(f"SELECT provider, account_id FROM profiles WHERE country IN ({marks}) OR "
                             f"headquarters_country IN ({marks}) OR ultimate_parent_country IN ({marks})",
                             tuple(values * 3))
        return frozenset((r["provider"], r["account_id"]) for r in rows)

    def list_profiles(self, provider: str | None = None) -> list[CustomerProfile]:
        if provider:
            rows = self.db.query("SELECT * FROM profiles WHERE provider=? ORDER BY account_id", (provider,))
        else:
            rows = self.db.query("SELECT * FROM profiles ORDER BY provider, account_id")
        return [_profile(r, self.screening_hits(r["provider"], r["account_id"])) for r in rows]

    def close(self) -> None:
        self.db.close()


class SQLiteStore:
    """All embedded stores over one SQLite file: ``.profiles``, ``.cases``, ``.licences``."""

    def __init__(self, path: Path, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        from gatekeeper.stores.sqlite_workflow import SQLiteCaseStore, SQLiteLicenceStore

        self.db = SQLiteDatabase(path, timeout_seconds=timeout_seconds)
        self.profiles = SQLiteProfileStore(self.db)
        self.cases = SQLiteCaseStore(self.db)
        self.licences = SQLiteLicenceStore(self.db)

    def init(self) -> list[str]:
        """The tables exist once the store is open (created on first use); report them."""
        rows = self.db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [f"sqlite table {r['name']} ready in {self.path}" for r in rows]

    @property
    def path(self) -> Path:
        return self.db.path

    def close(self) -> None:
        self.db.close()


def open_sqlite_store(url: str, *, base_dir: Path, create: bool = True,
                      timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> SQLiteStore:
    """The store in the file ``url`` names; with ``create=False`` the file must exist (ConfigError)."""
    path = sqlite_path(url, base_dir)
    if not create and not path.is_file():
        raise ConfigError(f"store {url!r}: {path} does not exist; check [store] url, or create it with "
                          "`gatekeeper store init` (or set [store] create = true)")
    return SQLiteStore(path, timeout_seconds=timeout_seconds)
