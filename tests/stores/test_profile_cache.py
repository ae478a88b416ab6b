"""The SQLite profile look-up cache: a profile changed by anyone, anywhere, is never served stale."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from gatekeeper.model import CustomerProfile
from gatekeeper.stores.sqlite import SQLiteStore

ACCT = "222222222222"


def _p(country: str, kyc: str = "verified") -> CustomerProfile:
    return CustomerProfile("aws", ACCT, "Lion City AI Pte. Ltd.", country, country, country, kyc)


def test_a_cached_profile_follows_writes_of_the_same_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    try:
        assert store.profiles.get_profile("aws", ACCT) is None  # a miss is cached too...
        store.profiles.put_profiles([_p("SG")])
        got = store.profiles.get_profile("aws", ACCT)  # ...and dropped by the write
        assert got is not None and got.country == "SG"
        store.profiles.put_profiles([_p("CN")])
        got = store.profiles.get_profile("aws", ACCT)
        assert got is not None and got.country == "CN"
    finally:
        store.close()


def test_a_cached_profile_follows_writes_of_another_connection_and_thread(tmp_path: Path) -> None:
    reader, writer = SQLiteStore(tmp_path / "state.db"), SQLiteStore(tmp_path / "state.db")
    try:
        writer.profiles.put_profiles([_p("SG")])
        assert reader.profiles.get_profile("aws", ACCT).country == "SG"  # type: ignore[union-attr]
        writer.profiles.put_profiles([_p("CN")])
        assert reader.profiles.get_profile("aws", ACCT).country == "CN"  # type: ignore[union-attr]
        # A write made by another thread of the same store object (its own connection).
        t = threading.Thread(target=reader.profiles.put_profiles, args=([_p("US")],))
        t.start()
        t.join()
        assert reader.profiles.get_profile("aws", ACCT).country == "US"  # type: ignore[union-attr]
    finally:
        reader.close()
        writer.close()


def test_a_cached_profile_follows_writes_of_another_process(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SQLiteStore(db)
    try:
        store.profiles.put_profiles([_p("SG")])
        assert store.profiles.get_profile("aws", ACCT).country == "SG"  # type: ignore[union-attr]
        code = ("import sys; from gatekeeper.stores.sqlite import SQLiteStore; from gatekeeper.model import "
                f"CustomerProfile; s = SQLiteStore(__import__('pathlib').Path(sys.argv[1])); s.profiles.put_profiles("
                f"[CustomerProfile('aws', '{ACCT}', 'Lion City AI Pte. Ltd.', 'CN', 'CN', 'CN', 'verified')]); "
                "s.close()")
        subprocess.run([sys.executable, "-c", code, str(db)], check=True, timeout=60)
        assert store.profiles.get_profile("aws", ACCT).country == "CN"  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_new_screening_hit_is_seen_through_the_cache(tmp_path: Path) -> None:
    from gatekeeper.screening import load_list

    store = SQLiteStore(tmp_path / "state.db")
    try:
        store.profiles.put_profiles([_p("SG")])
        assert store.profiles.get_profile("aws", ACCT).screening_hits == ()  # type: ignore[union-attr]
        listing = tmp_path / "list.json"
        listing.write_text('{"results": [{"id": "el-1", "name": "Lion City AI Pte. Ltd.", "source": '
                           '"Entity List (EL) - Bureau of Industry and Security", "addresses": [{"country": "SG"}]}]}',
                           encoding="utf-8")
        load_list(store, listing)
        hits = store.profiles.get_profile("aws", ACCT).screening_hits  # type: ignore[union-attr]
        assert [h.entry_id for h in hits] == ["el-1"]
    finally:
        store.close()


def test_a_look_up_leaves_no_read_transaction_open(tmp_path: Path) -> None:
    """The data_version check runs on a cursor kept per connection: its statement must be done with
    when the look-up returns, or the reader would pin the WAL (no checkpoint could finish)."""
    import sqlite3

    store = SQLiteStore(tmp_path / "state.db")
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    try:
        store.profiles.put_profiles([_p("SG")])
        for _ in range(2):  # a miss (the PRAGMA then the query), then a hit (the PRAGMA alone)
            assert store.profiles.get_profile("aws", ACCT) is not None
            other.execute("INSERT INTO profiles (provider, account_id, legal_name, country, headquarters_country,"
                          " ultimate_parent_country, kyc_status, updated_at) VALUES ('aws', 'x', 'X', 'US', 'US',"
                          " 'US', 'verified', '') ON CONFLICT DO NOTHING")
            busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
        store.db.close()  # a new connection, and a new cursor with it, after a close
        assert store.profiles.get_profile("aws", ACCT) is not None
    finally:
        other.close()
        store.close()
