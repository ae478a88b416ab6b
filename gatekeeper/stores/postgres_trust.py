"""The audit log's trust in the PostgreSQL store: pinned signing keys and the witness's latest digest.

Implements the ``KeyRegistry`` and ``Witness`` protocols of ``gatekeeper.audit.witness`` (the audit
trust work: keys pinned outside the log, signed digests of its head) on the tables ``audit_keys`` and
``audit_digests`` of the store's schema, created by migration 1 of ``gatekeeper store init``. The
SQL is that of the SQLite backend (``gatekeeper.stores.audit_trust``), run through the shared
:class:`~gatekeeper.stores.base.SQLDatabase`, so the two can become one class over either database.

A backend only stores and returns what it is given (the signatures are made and checked by
``gatekeeper.audit``).

# INVARIANT: ``publish_digest`` is one conditional upsert (``... DO UPDATE ... WHERE excluded.seq >
# audit_digests.seq``): the digest kept only moves forward, with any number of writers.
"""

from __future__ import annotations

import json
from typing import Any

from gatekeeper.stores.base import SQLDatabase


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class SQLAuditTrust:
    """Pinned keys and digests in a SQL store's ``audit_keys`` and ``audit_digests`` tables."""

    def __init__(self, db: SQLDatabase) -> None:
        self.db = db
        self.name = db.name

    def publish_digest(self, digest: Any) -> bool:
        with self.db.transaction(serial=False) as conn:
            cur = conn.execute(
                "INSERT INTO audit_digests (log_id, seq, doc) VALUES (?,?,?) ON CONFLICT(log_id) DO UPDATE"
                " SET seq = excluded.seq, doc = excluded.doc WHERE excluded.seq > audit_digests.seq",
                (digest.log_id, digest.seq, _dump(digest.as_dict())))
            return bool(cur.rowcount > 0)

    def latest_digest(self, log_id: str) -> Any:
        from gatekeeper.audit.witness import Digest  # type: ignore[import-not-found,unused-ignore]

        rows = self.db.query("SELECT doc FROM audit_digests WHERE log_id = ?", (log_id,))
        return Digest.from_dict(json.loads(rows[0]["doc"])) if rows else None

    def pin_key(self, log_id: str, key: Any) -> None:
        with self.db.transaction(serial=False) as conn:
            conn.execute("INSERT INTO audit_keys (log_id, fingerprint, pinned_at, doc) VALUES (?,?,?,?)"
                         " ON CONFLICT(log_id, fingerprint) DO NOTHING",
                         (log_id, key.fingerprint, key.pinned_at, _dump(key.as_dict())))

    def pinned_keys(self, log_id: str) -> list[Any]:
        from gatekeeper.audit.witness import PinnedKey  # type: ignore[import-not-found,unused-ignore]

        rows = self.db.query("SELECT doc FROM audit_keys WHERE log_id = ? ORDER BY pinned_at, fingerprint",
                             (log_id,))
        return [PinnedKey.from_dict(json.loads(r["doc"])) for r in rows]

    def close(self) -> None:
        self.db.close()


def open_postgres_trust(url: str) -> SQLAuditTrust:
    """The trust beside the PostgreSQL store at ``url`` (the config's ``[store] url``)."""
    from gatekeeper.stores.postgres import PostgresDatabase, PostgresLocation

    return SQLAuditTrust(PostgresDatabase(PostgresLocation.parse(url)))
