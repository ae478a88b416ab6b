"""SQLite specifics: the schema itself guards the invariants, and a corrupt row is an error, not a decision."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gatekeeper.errors import StoreError
from gatekeeper.stores.sqlite import SQLiteStore
from tests.stores.backends import licence


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "state.db")


def _raw(store: SQLiteStore) -> sqlite3.Connection:
    return sqlite3.connect(store.path, isolation_level=None)


def test_schema_allows_one_open_case_per_scope(store: SQLiteStore) -> None:
    row = ("aws|1|3A090.a", "aws", "1", "2026-01-01", "2026-01-01", 1, "{}")
    conn = _raw(store)
    conn.execute("INSERT INTO cases VALUES ('c1', ?, 'open', ?, ?, ?, ?, ?, ?)", row)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("INSERT INTO cases VALUES ('c2', ?, 'open', ?, ?, ?, ?, ?, ?)", row)
    conn.execute("INSERT INTO cases VALUES ('c3', ?, 'approved', ?, ?, ?, ?, ?, ?)", row)  # closed ones may repeat


def test_schema_keeps_remaining_non_negative(store: SQLiteStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=8))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        _raw(store).execute("UPDATE licences SET remaining = remaining - 9 WHERE number = 'L-1'")


def test_corrupt_documents_raise_store_error(store: SQLiteStore) -> None:
    store.licences.put_licence(licence("L-1"))
    _raw(store).execute("UPDATE licences SET doc = '{\"number\": 5}' WHERE number = 'L-1'")
    with pytest.raises(StoreError, match="licence L-1: stored document is invalid"):
        store.licences.get_licence("L-1")


def test_init_lists_the_tables(store: SQLiteStore) -> None:
    lines = store.init()
    for table in ("profiles", "cases", "case_requests", "licences"):
        assert any(f"sqlite table {table} ready" in line for line in lines), table
