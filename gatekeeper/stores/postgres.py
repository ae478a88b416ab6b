"""The PostgreSQL store: profiles, cases, licences, screening and hook markers shared by many machines.

URL: ``postgresql://USER@HOST:PORT/DATABASE?sslmode=verify-full&schema=gatekeeper`` (``postgres://``
too). Every libpq parameter is passed through (``sslmode``, ``sslrootcert``, ``connect_timeout``,
``application_name``, ``target_session_attrs`` ...); passwords come from ``PGPASSWORD``, ``~/.pgpass``
or ``PGPASSFILE`` rather than the URL. gatekeeper's own parameters are taken out first:

    schema        the schema holding gatekeeper's tables (default ``gatekeeper``)
    pool_min      connections the pool keeps open (default 1)
    pool_max      at most this many connections per process (default 10)
    pool_timeout  seconds a caller waits for a connection before the store counts as down (default 10)

Managed PostgreSQL (Azure Database for PostgreSQL, Cloud SQL, AlloyDB, Amazon RDS and Aurora) serves
it unchanged; see docs/workflow.md for TLS and sizing.

The stores are the SQL ones shared with SQLite (``stores.sql``); this module supplies the database:
a psycopg 3 connection pool, ``?`` placeholders translated to psycopg's, rows as dicts, numeric
columns read as floats, and the tables found through the connection's ``search_path``. The schema is
created and migrated only by ``gatekeeper store init`` (``postgres_schema``); at first use the store
checks that the schema is at the version this code expects and refuses to run otherwise.

# INVARIANT: a serial transaction takes ``pg_advisory_xact_lock`` on the schema's lock id before its
# first statement, so read-check-write bodies (joining a case, a reviewer's transition, a screening
# load) are serialised across processes and machines as SQLite's IMMEDIATE transactions are on one.
# INVARIANT: every psycopg or pool error becomes StoreError naming the database (never a password):
# the service then fails closed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.numeric import FloatLoader
from psycopg_pool import ConnectionPool

from gatekeeper.errors import ConfigError, StoreError
from gatekeeper.stores.sql import SQLStore

SCHEMES = ("postgresql", "postgres")
_OWN_PARAMS = {"schema", "pool_min", "pool_max", "pool_timeout"}
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
DEFAULT_CONNECT_TIMEOUT = "5"


@dataclass(frozen=True, slots=True)
class PostgresLocation:
    conninfo: str  # the URL as libpq takes it (gatekeeper's parameters removed)
    schema: str = "gatekeeper"
    pool_min: int = 1
    pool_max: int = 10
    pool_timeout: float = 10.0

    @classmethod
    def parse(cls, url: str) -> PostgresLocation:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ConfigError(f"not a postgresql:// url: {url!r}")
        params = parse_qsl(parts.query, keep_blank_values=True)
        own = {k: v for k, v in params if k in _OWN_PARAMS}
        rest = [(k, v) for k, v in params if k not in _OWN_PARAMS]
        if "connect_timeout" not in {k for k, _ in rest}:
            rest.append(("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        if "application_name" not in {k for k, _ in rest}:
            rest.append(("application_name", "gatekeeper"))
        schema = own.get("schema", "gatekeeper")
        if not _SCHEMA_RE.fullmatch(schema):
            raise ConfigError(f"store url: schema {schema!r} must be 1-63 lower-case letters, digits or '_', "
                              f"not starting with a digit")
        try:
            pool_min, pool_max = int(own.get("pool_min", "1")), int(own.get("pool_max", "10"))
            pool_timeout = float(own.get("pool_timeout", "10"))
        except ValueError:
            raise ConfigError("store url: pool_min and pool_max must be whole numbers, pool_timeout a number "
                              "of seconds") from None
        if not 0 <= pool_min <= pool_max or pool_max < 1 or pool_timeout <= 0:
            raise ConfigError(f"store url: need 0 <= pool_min <= pool_max, pool_max >= 1 and pool_timeout > 0 "
                              f"(got {pool_min}, {pool_max}, {pool_timeout})")
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest), ""))
        try:
            psycopg.conninfo.conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"store url is not a valid PostgreSQL connection string: {exc}") from None
        return cls(conninfo, schema, pool_min, pool_max, pool_timeout)

    @property
    def name(self) -> str:
        """host:port/database schema S, for messages (never the password)."""
        info = psycopg.conninfo.conninfo_to_dict(self.conninfo)
        return (f"postgresql {info.get('host') or 'localhost'}:{info.get('port') or 5432}/"
                f"{info.get('dbname') or info.get('user') or ''} schema {self.schema}")

    @property
    def lock_id(self) -> int:
        """The advisory-lock key of the schema's serial transactions (a signed 64-bit number)."""
        digest = hashlib.sha256(f"gatekeeper:{self.schema}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


@lru_cache(maxsize=512)
def _pg(query: str) -> str:
    """``?`` placeholders (the SQL stores' dialect) to psycopg's ``%s``; literal ``%`` escaped."""
    return query.replace("%", "%%").replace("?", "%s")


class _Connection:
    """A pooled psycopg connection with the calls of ``sqlite3.Connection`` the SQL stores use."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(_pg(query), tuple(params))

    def executemany(self, query: str, rows: Iterable[Sequence[Any]]) -> Any:
        cur = self.raw.cursor()
        cur.executemany(_pg(query), [tuple(r) for r in rows])
        return cur

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """``rows`` into ``table`` by COPY (a bulk import's staging: many times faster than INSERTs)."""
        stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table),
                                                         sql.SQL(", ").join(map(sql.Identifier, columns)))
        with self.raw.cursor().copy(stmt) as copy:
            for row in rows:
                copy.write_row(row)


class _Session:
    """A connection held by ``PostgresDatabase.session``: statements outside a transaction, and
    transactions on the same connection, serial from ``serialise()`` (the advisory lock of the serial
    ``transaction()``, held from there to the commit)."""

    __slots__ = ("conn", "lock_id", "raw")

    def __init__(self, raw: psycopg.Connection[Any], lock_id: int) -> None:
        self.raw, self.conn, self.lock_id = raw, _Connection(raw), lock_id

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        with self.raw.transaction():
            yield self.conn

    def serialise(self) -> None:
        self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_id,))


class PostgresDatabase:
    """A connection pool to one schema (implements :class:`gatekeeper.stores.base.SQLDatabase`)."""

    def __init__(self, location: PostgresLocation) -> None:
        self.location = location
        self._checked = False
        self._check_lock = threading.Lock()
        self.pool = ConnectionPool(
            location.conninfo, min_size=location.pool_min, max_size=location.pool_max,
            timeout=location.pool_timeout, kwargs={"autocommit": True, "row_factory": dict_row},
            configure=self._configure, check=ConnectionPool.check_connection, open=False,
            # The pool retries a failed connection in the background with a doubling delay; capping
            # that at pool_timeout means a server that is back is used within about that long
            # (after it, the next caller's request starts a fresh attempt at once).
            reconnect_timeout=location.pool_timeout, name=f"gatekeeper-{location.schema}")
        # Connections are made in the background: a server that is down makes the first use fail
        # (closed), not the opening of the store.
        self.pool.open(wait=False)

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.adapters.register_loader("numeric", FloatLoader)
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.location.schema)))

    @property
    def name(self) -> str:
        return self.location.name

    def _error(self, exc: Exception) -> StoreError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, psycopg.errors.UndefinedTable):
            return StoreError(f"{self.name}: {text}; create the tables with 'gatekeeper store init'")
        return StoreError(f"{self.name} unavailable: {type(exc).__name__}: {text}")

    def check_schema(self) -> None:
        """Refuse a schema that ``store init`` has not brought to this code's version (once per process)."""
        if self._checked:
            return
        from gatekeeper.stores.postgres_schema import LATEST, applied_version

        with self._check_lock:
            if self._checked:
                return
            try:
                with self.pool.connection() as raw:
                    version = applied_version(raw, self.location.schema)
            except psycopg.Error as exc:
                raise self._error(exc) from exc
            if version < LATEST:
                raise StoreError(f"{self.name} is at schema version {version}, this gatekeeper needs {LATEST}: "
                                 f"run 'gatekeeper store init' (it migrates; nothing changes at start-up)")
            if version > LATEST:
                raise StoreError(f"{self.name} is at schema version {version}, newer than this gatekeeper "
                                 f"knows ({LATEST}): upgrade gatekeeper")
            self._checked = True

    @contextmanager
    def transaction(self, *, serial: bool = True) -> Iterator[_Connection]:
        self.check_schema()
        try:
            with self.pool.connection() as raw, raw.transaction():
                if serial:
                    raw.execute("SELECT pg_advisory_xact_lock(%s)", (self.location.lock_id,))
                yield _Connection(raw)
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    @contextmanager
    def session(self) -> Iterator[_Session]:
        """One pooled connection, autocommit, held until the block ends; its ``transaction()`` is serial."""
        self.check_schema()
        try:
            with self.pool.connection() as raw:
                yield _Session(raw, self.location.lock_id)
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def query(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        self.check_schema()
        try:
            with self.pool.connection() as raw:
                return raw.execute(_pg(query), tuple(params)).fetchall()
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def query_values(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.check_schema()
        try:
            with self.pool.connection() as raw:
                return raw.cursor(row_factory=tuple_row).execute(_pg(query), tuple(params)).fetchall()
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def ensure_schema(self, ddl: str) -> None:
        """Nothing: PostgreSQL tables are created and migrated only by ``gatekeeper store init``."""

    def close(self) -> None:
        self.pool.close()


class PostgresStore(SQLStore):
    """All shared stores in one PostgreSQL schema: ``.profiles``, ``.cases``, ``.licences``, ``.screening``."""

    def __init__(self, location: PostgresLocation) -> None:
        self.location = location
        self.database = PostgresDatabase(location)
        super().__init__(self.database)

    def init(self) -> list[str]:
        """Create the schema and apply the migrations it lacks, in one transaction; idempotent."""
        from gatekeeper.stores.postgres_schema import migrate

        try:
            with self.database.pool.connection() as raw:
                return migrate(raw, self.location)
        except psycopg.Error as exc:
            raise self.database._error(exc) from exc


def open_postgres_store(url: str, *, base_dir: Path = Path(".")) -> PostgresStore:
    """The store at ``postgresql://...`` (``base_dir`` is unused: nothing is stored locally)."""
    return PostgresStore(PostgresLocation.parse(url))
