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
