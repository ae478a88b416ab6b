"""Clearing a screening hit is recorded before it commits, through the runtime's real audit log.

On SQLite, PostgreSQL and DynamoDB: the audit log refusing the record leaves the hit open (an
AuditError naming the hit); the happy path writes one ``screening.hit_cleared`` record carrying the
time the hit's ``cleared_at`` carries; a commit failing after the record (PostgreSQL's server
dropping the connection, DynamoDB answering an error) leaves the hit open and a
``screening.hit_clear_failed`` record voiding the first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gatekeeper.config import Config, StoreConfig
from gatekeeper.errors import AuditError, StoreError
from gatekeeper.screening import clear_hit, list_hits, load_list
from gatekeeper.service import Gatekeeper
from gatekeeper.stores import open_store
from tests.audit_faults import INJECTED, fail_audit
from tests.screening.conftest import CSV_LIST
from tests.screening.test_store import SUGON_DE
from tests.stores.backends import local_dynamodb, local_postgres, postgres_url
from tests.workflow.test_fail_closed import inject_error

__all__ = ["local_dynamodb", "local_postgres"]

ENTRY = "el-sugon-0004"


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for seg in sorted((tmp_path / "audit").glob("segment-*.jsonl"))
            for line in seg.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(params=["sqlite", "postgresql", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gk(backend: str, config: Config, request: pytest.FixtureRequest) -> Iterator[Gatekeeper]:
    """A Gatekeeper with the Sugon namesake's open hit on the Entity List entry."""
    if backend != "sqlite":
        url = (postgres_url(request.getfixturevalue("local_postgres")) if backend == "postgresql"
               else request.getfixturevalue("local_dynamodb").url(f"gk-{uuid.uuid4().hex[:12]}"))
        open_store(url).init()
        config = config.model_copy(update={"store": StoreConfig(url=url)})
    g = Gatekeeper(config)
    g.store.profiles.put_profiles([SUGON_DE])
    load_list(g, CSV_LIST)
    assert [h.entry_id for h in list_hits(g)] == [ENTRY]
    yield g
    g.close()


def _hit(gk: Gatekeeper) -> Any:
    [hit] = [h for h in list_hits(gk, include_all=True) if h.entry_id == ENTRY]
    return hit


def _clear(gk: Gatekeeper) -> Any:
    return clear_hit(gk, "sugon-bakery", ENTRY, by="alice", reason="German bakery, unrelated")


def test_a_clearance_whose_record_fails_leaves_the_hit_open(gk: Gatekeeper, tmp_path: Path) -> None:
    written = len(records(tmp_path))
    sink = fail_audit(gk)
    with pytest.raises(AuditError, match=f"the hit of gcp:sugon-bakery on entry '{ENTRY}' was not cleared: its "
                                         f"audit record .screening.hit_cleared. could not be written, so nothing "
                                         f"was changed .*{INJECTED}"):
        _clear(gk)
    assert sink.failed == ["screening.hit_cleared"]
    hit = _hit(gk)
    assert hit.status == "open" and hit.cleared_by == "" and len(records(tmp_path)) == written
    sink.heal()
    cleared = _clear(gk)
    [record] = records(tmp_path)[written:]
    assert record["kind"] == "screening.hit_cleared" and record["actor"] == "alice"
    assert record["data"]["entry_id"] == ENTRY and record["data"]["reason"] == "German bakery, unrelated"
    assert record["data"]["at"] == cleared.cleared_at and cleared.status == "cleared"


# (A SQLite commit that holds the write lock fails only with the disk; the code path is the same.)
@pytest.mark.parametrize("backend", ["postgresql", "dynamodb"])
def test_a_clearance_whose_commit_fails_after_its_record_is_voided(gk: Gatekeeper, backend: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    written = len(records(tmp_path))
    inner = gk.record_event

    if backend == "dynamodb":
        inject_error(gk.store.db.client, "TransactWriteItems", "InternalServerError", status=500)
        record_event = inner
    else:
        server = request.getfixturevalue("local_postgres")

        def record_event(kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]:
            out = inner(kind, actor, data)
            if kind == "screening.hit_cleared":  # the server drops the clearing transaction's connection
                with psycopg.connect(server.url().split("?")[0], autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                  "state = 'idle in transaction' AND pid <> pg_backend_pid()")
            return out

    with pytest.raises(StoreError):
        clear_hit(gk, "sugon-bakery", ENTRY, by="alice", reason="x", record_event=record_event)
    new = records(tmp_path)[written:]
    assert [r["kind"] for r in new] == ["screening.hit_cleared", "screening.hit_clear_failed"]
    assert new[1]["data"]["voids"] == [new[0]["seq"]] and new[1]["data"]["error"].startswith("StoreError")
    assert new[1]["actor"] == "alice" and new[1]["data"]["entry_id"] == ENTRY
    if backend == "postgresql":
        gk.store.close()
        gk._store = None  # the pool's connections were dropped: a new store reads what was committed
    hit = _hit(gk)
    assert hit.status == "open" and hit.cleared_by == ""
