"""Owners on customer profiles (the BIS affiliates rule): import from JSON and CSV, bad rows, the
SQLite migration of an older database, the decision, and replay of a recorded decision."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gatekeeper.accounts import parse_json, parse_owners_csv, read_profiles
from gatekeeper.audit.record import decision_record, request_from_record
from gatekeeper.errors import InvalidInputError
from gatekeeper.model import ComputeItem, Outcome, Owner, ProvisioningRequest
from gatekeeper.service import Gatekeeper
from gatekeeper.stores import open_store

HEADER = "provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
PROFILES = HEADER + ("aws,111111111111,Harbour Trading Pte Ltd,SG,SG,SG,verified\n"
                     "azure,AB0C0D00-0000-4000-8000-00000000000A,Blue GmbH,DE,DE,DE,verified\n")
OWNERS_HEADER = "provider,account_id,owner_name,owner_country,share,screening_lists\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_owners_from_a_csv(tmp_path: Path) -> None:
    owners = OWNERS_HEADER + ("aws,111111111111,Listed Holdings,CN,35,EL\n"
                              "aws,111111111111,Second Holder,RU,20%,MEU;SDN\n"
                              "azure,ab0c0d00-0000-4000-8000-00000000000a,Family Trust,de,100,\n")
    a, b = read_profiles(write(tmp_path, "p.csv", PROFILES), write(tmp_path, "o.csv", owners))
    assert a.owners == (Owner("Listed Holdings", "CN", 35.0, ("EL",)),
                        Owner("Second Holder", "RU", 20.0, ("MEU", "SDN")))
    assert b.account_id == "ab0c0d00-0000-4000-8000-00000000000a"
    assert b.owners == (Owner("Family Trust", "DE", 100.0, ()),)


def test_owners_inline_in_json() -> None:
    doc = [{"provider": "gcp", "account_id": "proj-kenya", "legal_name": "P", "country": "KE",
            "headquarters_country": "KE",
            "ultimate_parent_country": "KE", "kyc_status": "verified",
            "owners": [{"name": "Listed", "country": "CN", "share": 50, "screening_lists": ["el"]}]}]
    [p] = parse_json(json.dumps(doc))
    assert p.owners == (Owner("Listed", "CN", 50.0, ("EL",)),)
    assert p.as_dict()["owners"] == [{"name": "Listed", "country": "CN", "share": 50.0, "screening_lists": ["EL"]}]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("aws,999,X,CN,10,EL", "account_id", "not in the imported profiles"),
        ("aws,111111111111,,CN,10,EL", "owner_name", "name"),
        ("aws,111111111111,X,XX,10,EL", "owner_country", "ISO 3166"),
        ("aws,111111111111,X,CN,ten,EL", "share", "not a number"),
        ("aws,111111111111,X,CN,0,EL", "share", "above 0"),
        ("aws,111111111111,X,CN,101,EL", "share", "at most 100"),
        ("aws,111111111111,X,CN,10,EL;XYZ", "screening_lists", "unknown list codes"),
        ("aws,111111111111,X,CN,10", None, "columns"),
    ],
)
def test_bad_owner_rows_are_named(row: str, field: str | None, message: str) -> None:
    profiles = parse_json(json.dumps([{"provider": "aws", "account_id": "111111111111", "legal_name": "H",
                                       "country": "SG", "headquarters_country": "SG",
                                       "ultimate_parent_country": "SG", "kyc_status": "verified"}]))
    with pytest.raises(InvalidInputError, match=message) as info:
        parse_owners_csv(OWNERS_HEADER + row + "\n", profiles)
    assert info.value.row == 2 and info.value.field == field


def test_shares_over_100_percent_are_refused(tmp_path: Path) -> None:
    owners = OWNERS_HEADER + "aws,111111111111,A,CN,60,EL\naws,111111111111,B,CN,50,\n"
    with pytest.raises(InvalidInputError, match="more than 100") as info:
        read_profiles(write(tmp_path, "p.csv", PROFILES), write(tmp_path, "o.csv", owners))
    assert info.value.row == 3 and str(tmp_path / "o.csv") in str(info.value)
    doc = [{"provider": "gcp", "account_id": "p", "legal_name": "P", "country": "US", "headquarters_country": "US",
            "ultimate_parent_country": "US", "kyc_status": "verified",
            "owners": [{"name": "A", "share": 70}, {"name": "B", "share": 40}]}]
    with pytest.raises(InvalidInputError, match="more than 100") as jinfo:
        parse_json(json.dumps(doc))
    assert jinfo.value.field == "owners"


def test_wrong_owners_header(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="owners header") as info:
        read_profiles(write(tmp_path, "p.csv", PROFILES), write(tmp_path, "o.csv", "provider,account_id,name\n"))
    assert info.value.row == 1


def test_an_older_sqlite_database_gains_the_owners_column(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with sqlite3.connect(db) as conn:  # the profiles table as released before owners existed
        conn.execute("CREATE TABLE profiles (provider TEXT NOT NULL, account_id TEXT NOT NULL, legal_name TEXT NOT "
                     "NULL, country TEXT NOT NULL, headquarters_country TEXT NOT NULL, ultimate_parent_country TEXT "
                     "NOT NULL, kyc_status TEXT NOT NULL, updated_at TEXT NOT NULL DEFAULT '', PRIMARY KEY (provider, "
                     "account_id))")
        conn.execute("INSERT INTO profiles VALUES ('aws','111111111111','Old','US','US','US','verified','')")
    store = open_store(f"sqlite:///{db}", base_dir=tmp_path)
    try:
        old = store.profiles.get_profile("aws", "111111111111")
        assert old is not None and old.owners == ()
        [p] = read_profiles(write(tmp_path, "p.csv", HEADER + "aws,111111111111,Old,US,US,US,verified\n"),
                            write(tmp_path, "o.csv", OWNERS_HEADER + "aws,111111111111,Listed,CN,51,EL\n"))
        store.profiles.put_profiles([p])
        assert store.profiles.get_profile("aws", "111111111111") == p
    finally:
        store.close()


def test_decision_and_replay_with_owners(gk: Gatekeeper, tmp_path: Path) -> None:
    [p] = read_profiles(write(tmp_path, "p.csv", HEADER + "aws,777777777777,Harbour,SG,SG,SG,verified\n"),
                        write(tmp_path, "o.csv", OWNERS_HEADER + "aws,777777777777,Listed Holdings,CN,60,EL\n"))
    gk.store.profiles.put_profiles([p])
    at = datetime(2026, 12, 1, tzinfo=UTC)  # after the suspension of the affiliates rule ended
    request = ProvisioningRequest("aws", "777777777777", (ComputeItem("p4d.24xlarge"),), region="us-east-1", at=at)
    d = gk.decide(request, dry_run=True)
    assert d.outcome == Outcome.DENY
    [deny] = [m for m in d.matches if m.rule_id == "owned-by-entity-list-or-sdn"]
    assert "Listed Holdings (CN, 60 %, EL)" in deny.reason and deny.effective_from is not None
    during = gk.decide(ProvisioningRequest("aws", "777777777777", (ComputeItem("p4d.24xlarge"),),
                                           region="us-east-1", at=datetime(2026, 6, 1, tzinfo=UTC)), dry_run=True)
    assert during.outcome == Outcome.ALLOW  # suspended 2025-11-10 through 2026-11-09
    rec = json.loads(json.dumps(decision_record(d)))
    _, profile = request_from_record(rec)
    assert profile.owners == p.owners  # a replay sees the owners the decision saw
