"""The embedded store: one SQLite file in WAL mode, safe for many threads and processes on one machine.

Each thread gets its own connection (sqlite3 connections are not shared across threads); writers
serialise on SQLite's own lock with a busy timeout, so concurrent processes wait rather than fail.
The stores themselves are the SQL ones (``stores.sql``), shared with PostgreSQL; the tables are
created when the file is opened (the ``SCHEMA`` of ``sql``, ``sql_workflow`` and ``sql_screening``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from gatekeeper.errors import ConfigError, StoreError
from gatekeeper.stores.sql import SQLStore


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
    """Per-thread connections to one SQLite file; ``transaction()`` is an IMMEDIATE write transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
        self._local = threading.local()
        self._schemas: list[str] = []
        self._lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA busy_timeout=30000")
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
    def transaction(self, *, serial: bool = True) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: SQLite serialises every writer, so ``serial`` is always true here."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path} unavailable: {exc}") from exc
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

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {exc}") from exc

    @property
    def name(self) -> str:
        return str(self.path)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class SQLiteStore(SQLStore):
    """All embedded stores over one SQLite file: ``.profiles``, ``.cases``, ``.licences``, ``.screening``."""

    def __init__(self, path: Path) -> None:
        super().__init__(SQLiteDatabase(path))

    def init(self) -> list[str]:
        """The tables exist once the store is open (created on first use); report them."""
        rows = self.db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [f"sqlite table {r['name']} ready in {self.path}" for r in rows]

    @property
    def path(self) -> Path:
        assert isinstance(self.db, SQLiteDatabase)
        return self.db.path


def open_sqlite_store(url: str, *, base_dir: Path) -> SQLiteStore:
    return SQLiteStore(sqlite_path(url, base_dir))

