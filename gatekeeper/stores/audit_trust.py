"""The audit log's trust kept in the state store: pinned keys and the witness's latest digest.

Implements :class:`gatekeeper.audit.witness.KeyRegistry` and :class:`~gatekeeper.audit.witness.Witness`
beside the state store named by ``[store] url``, so that what vouches for the log lives outside the
log's directory (and, with DynamoDB, under other credentials than the log's files):

- ``sqlite:///PATH``: tables ``audit_keys`` and ``audit_digests`` in the store's SQLite file;
- ``dynamodb://PREFIX?...``: the table ``PREFIX-audit`` (``pk`` = ``LOG#<log id>``, ``sk`` = ``DIGEST``
  or ``KEY#<fingerprint>``), created by ``gatekeeper store init``.

A backend stores and returns what it is given; the signatures are made and checked by
``gatekeeper.audit``. Publishing a digest is one conditional write that only moves forward.
Another backend (PostgreSQL) implements the same four methods; see docs/audit.md.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatekeeper.audit.witness import AuditTrust, Digest, PinnedKey
from gatekeeper.errors import ConfigError

if TYPE_CHECKING:
    from gatekeeper.config import Config
    from gatekeeper.stores.sqlite import SQLiteDatabase

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_keys (
    log_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pinned_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (log_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS audit_digests (
    log_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL
);
"""

# How long a write to the trust store waits for SQLite's lock: the writer publishes from a background
# thread and must not stall behind a long transaction (the caller's own, or another process's).
LOCK_WAIT_MS = 2000


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class SQLiteAuditTrust:
    """Pinned keys and digests in the store's SQLite file.

    ``create=False`` (a verifier): a store file that does not exist is read as empty, never created.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.name = f"sqlite store {path}"
        self._create = create
        self._db: SQLiteDatabase | None = None
        self._lock = threading.Lock()

    @property
    def db(self) -> SQLiteDatabase | None:
        """The database, opened once the store file exists (or at once with ``create``); None before.

        The tables are created by the first write (``_writable``): a reader never writes, so that it
        never waits for a write lock.
        """
        if self._db is None and (self._create or self.path.exists()):
            from gatekeeper.stores.sqlite import SQLiteDatabase

            with self._lock:
                if self._db is None:
                    self._db = SQLiteDatabase(self.path)
        return self._db

    def _readable(self) -> SQLiteDatabase | None:
        db = self.db
        if db is None or not db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_digests'"):
            return None
        return db

    def _writable(self) -> SQLiteDatabase | None:
        db = self.db
        if db is not None:
            db.connection().execute(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
            db.ensure_schema(SQLITE_SCHEMA)
        return db

    def publish_digest(self, digest: Digest) -> bool:
        db = self._writable()
        if db is None:
            return False
        with db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO audit_digests (log_id, seq, doc) VALUES (?,?,?) ON CONFLICT(log_id) DO UPDATE"
                " SET seq = excluded.seq, doc = excluded.doc WHERE excluded.seq > audit_digests.seq",
                (digest.log_id, digest.seq, _dump(digest.as_dict())))
            return cur.rowcount > 0

    def latest_digest(self, log_id: str) -> Digest | None:
        db = self._readable()
        if db is None:
            return None
        rows = db.query("SELECT doc FROM audit_digests WHERE log_id = ?", (log_id,))
        return Digest.from_dict(json.loads(rows[0]["doc"])) if rows else None

    def pin_key(self, log_id: str, key: PinnedKey) -> None:
        db = self._writable()
        if db is None:
            return
        with db.transaction() as conn:
            conn.execute("INSERT INTO audit_keys (log_id, fingerprint, pinned_at, doc) VALUES (?,?,?,?)"
                         " ON CONFLICT(log_id, fingerprint) DO NOTHING",
                         (log_id, key.fingerprint, key.pinned_at, _dump(key.as_dict())))

    def pinned_keys(self, log_id: str) -> list[PinnedKey]:
        db = self._readable()
        if db is None:
            return []
        rows = db.query("SELECT doc FROM audit_keys WHERE log_id = ? ORDER BY pinned_at, fingerprint",
                             (log_id,))
        return [PinnedKey.from_dict(json.loads(r["doc"])) for r in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class DynamoDBAuditTrust:
    """Pinned keys and digests as items of ``PREFIX-audit``."""

    def __init__(self, url: str, *, client: Any = None) -> None:
        from gatekeeper.stores.dynamodb import DynamoDB, DynamoDBLocation

        self.location = DynamoDBLocation.parse(url)
        self.db = DynamoDB(self.location, client)
        self.table = self.location.table("audit")
        self.name = f"DynamoDB table {self.table}"

    def publish_digest(self, digest: Digest) -> bool:
        from botocore.exceptions import ClientError

        from gatekeeper.stores.dynamodb import error_code

        try:
            self.db.call("put_item", expected=("ConditionalCheckFailedException",), TableName=self.table,
                         Item={"pk": {"S": f"LOG#{digest.log_id}"}, "sk": {"S": "DIGEST"},
                               "seq": {"N": str(digest.seq)}, "doc": {"S": _dump(digest.as_dict())}},
                         ConditionExpression="attribute_not_exists(pk) OR seq < :seq",
                         ExpressionAttributeValues={":seq": {"N": str(digest.seq)}})
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def latest_digest(self, log_id: str) -> Digest | None:
        out = self.db.call("get_item", TableName=self.table, ConsistentRead=True,
                           Key={"pk": {"S": f"LOG#{log_id}"}, "sk": {"S": "DIGEST"}})
        item = out.get("Item")
        return Digest.from_dict(json.loads(item["doc"]["S"])) if item else None

    def pin_key(self, log_id: str, key: PinnedKey) -> None:
        from botocore.exceptions import ClientError

        with contextlib.suppress(ClientError):  # pinned already: kept as it was
            self.db.call("put_item", expected=("ConditionalCheckFailedException",), TableName=self.table,
                         Item={"pk": {"S": f"LOG#{log_id}"}, "sk": {"S": f"KEY#{key.fingerprint}"},
                               "doc": {"S": _dump(key.as_dict())}},
                         ConditionExpression="attribute_not_exists(pk)")

    def pinned_keys(self, log_id: str) -> list[PinnedKey]:
        items = self.db.pages("query", TableName=self.table, ConsistentRead=True,
                              KeyConditionExpression="pk = :pk AND begins_with(sk, :k)",
                              ExpressionAttributeValues={":pk": {"S": f"LOG#{log_id}"}, ":k": {"S": "KEY#"}})
        keys = [PinnedKey.from_dict(json.loads(i["doc"]["S"])) for i in items]
        return sorted(keys, key=lambda k: (k.pinned_at, k.fingerprint))

    def close(self) -> None:
        pass


def open_audit_trust(url: str, *, base_dir: str | Path = ".", create: bool = True,
                     client: Any = None) -> Any:
    """The key registry and witness beside the state store named by ``url`` (the config's ``store.url``)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        from gatekeeper.stores.sqlite import sqlite_path

        return SQLiteAuditTrust(sqlite_path(url, Path(base_dir)), create=create)
    if scheme == "dynamodb":
        return DynamoDBAuditTrust(url, client=client)
    if scheme in ("postgresql", "postgres"):
        from gatekeeper.stores.postgres_trust import open_postgres_trust

        return open_postgres_trust(url)
    raise ConfigError(f"store url {url!r}: no audit trust store for scheme {scheme!r}; "
                      "use sqlite://, postgresql:// or dynamodb://")


def trust_from_config(config: Config) -> AuditTrust:
    """The audit trust the configuration names: ``[audit] trusted_keys``, ``witness``, ``log_id``.

    The state store's file is never created here (a mistyped store path must not look like an empty
    trust store): the writer pins its key once the store exists.
    """
    from gatekeeper.audit._keys import load_public_key
    from gatekeeper.audit.witness import check_fingerprint

    a = config.audit
    fingerprints = frozenset(check_fingerprint(k) for k in a.trusted_keys if k.strip().lower().startswith("ed25519:"))
    public_keys = tuple(load_public_key(config.resolve(k.strip())) for k in a.trusted_keys
                        if not k.strip().lower().startswith("ed25519:"))
    store = open_audit_trust(config.store.url, base_dir=config.base_dir, create=False)
    witness: Any = store
    if a.witness == "none":
        witness = None
    elif a.witness.startswith("s3://"):
        from gatekeeper.audit._s3_witness import S3Witness

        witness = S3Witness.from_url(a.witness, retention_days=a.witness_retention_days)
    return AuditTrust(keys=store, witness=witness, log_id=a.log_id, fingerprints=fingerprints,
                      public_keys=public_keys)
