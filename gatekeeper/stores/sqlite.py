"""The embedded store: one SQLite file in WAL mode, safe for many threads and processes on one machine.

Each thread gets its own connection (sqlite3 connections are not shared across threads); writers
serialise on SQLite's own lock with a busy timeout, so concurrent processes wait rather than fail.
The stores themselves are the SQL ones (``stores.sql``), shared with PostgreSQL; the tables are
created when the file is opened (the ``SCHEMA`` of ``sql``, ``sql_workflow`` and ``sql_screening``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gatekeeper.errors import ConfigError, StoreError
from gatekeeper.stores.sql import SQLStore

# Added after the first release: a database created before has no owners column yet.
OWNERS_COLUMN = "ALTER TABLE profiles ADD COLUMN owners TEXT NOT NULL DEFAULT '[]'"
DEFAULT_TIMEOUT_SECONDS = 5.0


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
        # INVARIANT: every write goes through transaction() (query() is for reads), so that version()
        # sees it. Commits made through this object; with each connection's PRAGMA data_version
        # (which moves when any *other* connection commits) it tells a reader whether its cache is current.
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
                # version()'s own cursor, rows as plain tuples: one PRAGMA per decision, no Cursor
                # or Row built for it.
                versions = conn.cursor()
                versions.row_factory = None
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open store {self.path}: {exc}") from exc
            self._local.conn = conn
            self._local.versions = versions
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
    def transaction(self, *, serial: bool = True) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: SQLite serialises every writer, so ``serial`` is always true here."""
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

    @contextmanager
    def session(self) -> Iterator[_Session]:
        """This thread's connection, outside any transaction, with ``transaction()`` on it (every
        transaction of a thread is on the thread's one connection)."""
        yield _Session(self.connection(), self.transaction)

    def version(self) -> tuple[int, int]:
        """Changes when the database may have changed since, as seen from the calling thread.

        ``PRAGMA data_version`` of this thread's connection moves with every commit of any other
        connection, other processes' included; commits through this object are counted apart
        (a connection's own commits do not move its data_version).
        """
        versions = getattr(self._local, "versions", None)
        if versions is None:
            self.connection()
            versions = self._local.versions
        try:
            row = versions.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {exc}") from exc
        return int(row[0]), self._commits

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {self._why(exc)}") from exc

    def query_values(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            cursor = self.connection().cursor()
            cursor.row_factory = None  # plain tuples: no Row built for each (a re-screening reads millions)
            rows: list[tuple[Any, ...]] = cursor.execute(sql, params).fetchall()
            return rows
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {self._why(exc)}") from exc

    def _why(self, exc: sqlite3.Error) -> str:
        if "locked" in str(exc) or "busy" in str(exc):
            return (f"{exc}: another process held the lock for more than {self.timeout_seconds:g} s "
                    "([store] timeout_seconds)")
        return str(exc)

    @property
    def name(self) -> str:
        return str(self.path)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = self._local.versions = None


@dataclass(frozen=True, slots=True)
class _Session:
    conn: sqlite3.Connection
    transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def serialise(self) -> None:
        """Nothing: an IMMEDIATE transaction is serial from its start."""


class SQLiteStore(SQLStore):
    """All embedded stores over one SQLite file: ``.profiles``, ``.cases``, ``.licences``, ``.screening``."""

    def __init__(self, path: Path, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        db = SQLiteDatabase(path, timeout_seconds=timeout_seconds)
        _add_owners_column(db)
        super().__init__(db)

    def init(self) -> list[str]:
        """The tables exist once the store is open (created on first use); report them."""
        rows = self.db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [f"sqlite table {r['name']} ready in {self.path}" for r in rows]

    @property
    def path(self) -> Path:
        assert isinstance(self.db, SQLiteDatabase)
        return self.db.path


def _add_owners_column(db: SQLiteDatabase) -> None:
    """A file written before profiles had owners gains the column (the table is created with it)."""
    columns = db.query("PRAGMA table_info(profiles)")
    if not columns or any(r["name"] == "owners" for r in columns):
        return
    try:
        with db.transaction() as conn:
            conn.execute(OWNERS_COLUMN)
    except (sqlite3.OperationalError, StoreError) as exc:  # another process added it first
        if "duplicate column" not in str(exc):
            raise StoreError(f"cannot add the owners column to {db.path}: {exc}") from exc


def open_sqlite_store(url: str, *, base_dir: Path, create: bool = True,
                      timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> SQLiteStore:
    """The store in the file ``url`` names; with ``create=False`` the file must exist (ConfigError)."""
    path = sqlite_path(url, base_dir)
    if not create and not path.is_file():
        raise ConfigError(f"store {url!r}: {path} does not exist; check [store] url, or create it with "
                          "`gatekeeper store init` (or set [store] create = true)")
    return SQLiteStore(path, timeout_seconds=timeout_seconds)
