"""Screening in the state store: loads are atomic, loads re-screen, hits reach profiles, clearances.

Run on SQLite and on PostgreSQL (the same SQL store, ``gatekeeper.stores.sql_screening``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.errors import AuditError, InvalidInputError, NotFoundError, StoreError, WorkflowError
from gatekeeper.model import CustomerProfile
from gatekeeper.screening import (
    clear_hit,
    list_hits,
    load_list,
    parse_file,
    screen_profiles,
    screening_store,
)
from gatekeeper.service import Gatekeeper
from gatekeeper.stores.screening_base import ScreeningStore
from gatekeeper.stores.sql_screening import SqliteScreeningStore
from tests.screening.conftest import CSV_LIST, JSON_LIST
from tests.stores.backends import local_postgres, postgres_url

__all__ = ["local_postgres"]

HUAWEI = CustomerProfile("aws", "111111111111", "Huawei Technologies Co Ltd", "CN", "CN", "CN", "verified")
ACME = CustomerProfile("aws", "222222222222", "Acme Corp", "US", "US", "US", "verified")
SUGON_DE = CustomerProfile("gcp", "sugon-bakery", "Sugon GmbH", "DE", "DE", "DE", "verified")
XAC = CustomerProfile("azure", "3f2b1c9a-0000-4000-8000-000000000001", "Xian Aircraft Industry Group",
                      "CN", "CN", "CN", "verified")


@pytest.fixture(params=["sqlite", "postgresql"])
def gkeeper(request: pytest.FixtureRequest, config: Any) -> Iterator[Gatekeeper]:
    """A Gatekeeper on a temporary SQLite file, or on a fresh PostgreSQL schema."""
    if request.param == "postgresql":
        from gatekeeper.config import StoreConfig
        from gatekeeper.stores import open_store

        url = postgres_url(request.getfixturevalue("local_postgres"))
        open_store(url).init()
        config = config.model_copy(update={"store": StoreConfig(url=url)})
    g = Gatekeeper(config)
    yield g
    g.close()


def _snapshot(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every screening table's rows, to prove that a refused operation changed nothing."""
    return {t: sorted(tuple(dict(r).values()) for r in db.query(f"SELECT * FROM {t}"))
            for t in ("screening_lists", "screening_entries", "screening_hits", "screening_events",
                      "screening_meta")}


def _db(gk: Gatekeeper) -> Any:
    return gk.store.db


def test_sqlite_store_satisfies_the_protocol(gkeeper: Gatekeeper) -> None:
    assert isinstance(screening_store(gkeeper), ScreeningStore)


def test_load_stores_entries_lists_and_date(gkeeper: Gatekeeper) -> None:
    result = load_list(gkeeper, CSV_LIST, list_date=date(2026, 11, 1))
    store = screening_store(gkeeper)
    assert len(store.entries()) == 15 and result.parsed.counts()["EL"] == 9
    lists = {x.list_code: x for x in store.lists()}
    assert set(lists) == {"DPL", "EL", "MEU", "SDN", "UVL"}
    assert lists["EL"].list_date == "2026-11-01" and lists["EL"].entry_count == 9
    assert lists["EL"].sha256 == result.parsed.sha256
    assert lists["EL"].source_labels == ("Entity List (EL) - Bureau of Industry and Security",)


def test_import_screens_profiles_and_hits_reach_the_profile(gkeeper: Gatekeeper) -> None:
    load_list(gkeeper, CSV_LIST)
    gkeeper.store.profiles.put_profiles([HUAWEI, ACME])
    run = screen_profiles(gkeeper, [HUAWEI, ACME])
    assert int(run) == 1 and run.new_hits == 1 and run.profiles == 2
    prof = gkeeper.store.profiles.get_profile("aws", HUAWEI.account_id)
    assert prof is not None
    [hit] = prof.screening_hits
    assert (hit.list_code, hit.entry_id, hit.name, hit.cleared) == (
        "EL", "el-huawei-0001", "Huawei Technologies Co., Ltd.", False)
    assert hit.score >= 88
    acme = gkeeper.store.profiles.get_profile("aws", ACME.account_id)
    assert acme is not None and acme.screening_hits == ()


def test_screening_again_reports_nothing_new(gkeeper: Gatekeeper) -> None:
    load_list(gkeeper, CSV_LIST)
    screen_profiles(gkeeper, [HUAWEI])
    again = screen_profiles(gkeeper, [HUAWEI])
    assert again.open_hits == 1 and again.new_hits == 0


def test_loading_a_list_rescreens_stored_profiles(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([HUAWEI, ACME, SUGON_DE, XAC])
    assert screen_profiles(gkeeper, [HUAWEI, ACME, SUGON_DE, XAC]).open_hits == 0  # no list yet
    result = load_list(gkeeper, JSON_LIST)
    assert result.run.profiles == 4 and result.run.new_hits == 3
    hits = {(h.provider, h.account_id): h for h in list_hits(gkeeper)}
    assert set(hits) == {("aws", HUAWEI.account_id), ("gcp", "sugon-bakery"), ("azure", XAC.account_id)}
    assert hits[("azure", XAC.account_id)].list_code == "MEU"
    assert hits[("gcp", "sugon-bakery")].explanation["country"]["effect"] < 0  # DE against CN


def test_a_malformed_file_changes_nothing(gkeeper: Gatekeeper, tmp_path: Path) -> None:
    gkeeper.store.profiles.put_profiles([HUAWEI])
    load_list(gkeeper, CSV_LIST)
    before = _snapshot(_db(gkeeper))
    bad = tmp_path / "bad.csv"
    lines = CSV_LIST.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("Huawei Technologies Co., Ltd.", "Other Name")  # valid row
    lines[9] = lines[9].replace("Military End User (MEU) List", "Mystery List")  # bad row 10
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InvalidInputError) as exc:
        load_list(gkeeper, bad)
    assert exc.value.row == 10 and exc.value.field == "source"
    bad_json = tmp_path / "bad.json"
    doc = json.loads(JSON_LIST.read_text(encoding="utf-8"))
    doc["results"][3]["alt_names"] = "Sugon"
    bad_json.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InvalidInputError) as exc:
        load_list(gkeeper, bad_json)
    assert (exc.value.row, exc.value.field) == (4, "alt_names")
    assert _snapshot(_db(gkeeper)) == before


def test_a_failure_while_rescreening_rolls_the_load_back(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([HUAWEI])
    load_list(gkeeper, CSV_LIST)
    before = _snapshot(_db(gkeeper))

    def broken_profiles() -> list[CustomerProfile]:
        raise StoreError("profile store down")

    with pytest.raises(StoreError, match="profile store down"):
        load_list(gkeeper, JSON_LIST, list_date=date(2027, 1, 1), profiles=broken_profiles)
    assert _snapshot(_db(gkeeper)) == before


def test_a_failed_audit_record_rolls_the_load_back(gkeeper: Gatekeeper) -> None:
    load_list(gkeeper, CSV_LIST)
    before = _snapshot(_db(gkeeper))

    def failing(kind: str, actor: str, data: dict[str, Any]) -> None:
        raise AuditError("disk full")

    with pytest.raises(AuditError):
        load_list(gkeeper, JSON_LIST, list_date=date(2027, 1, 1), record_event=failing)
    assert _snapshot(_db(gkeeper)) == before


def test_a_load_replaces_only_the_lists_in_the_file(gkeeper: Gatekeeper, tmp_path: Path) -> None:
    gkeeper.store.profiles.put_profiles([HUAWEI, XAC])
    load_list(gkeeper, CSV_LIST)
    # A new Entity List without Huawei: the EL entries are replaced, the other lists stay.
    lines = CSV_LIST.read_text(encoding="utf-8").splitlines()
    el_only = [lines[0]] + [ln for ln in lines[1:] if "(EL)" in ln and "el-huawei" not in ln]
    path = tmp_path / "el.csv"
    path.write_text("\n".join(el_only), encoding="utf-8")
    result = load_list(gkeeper, path, list_date=date(2026, 12, 1))
    assert result.run.lapsed_hits == 1
    store = screening_store(gkeeper)
    counts: dict[str, int] = {}
    for e in store.entries():
        counts[e.list_code] = counts.get(e.list_code, 0) + 1
    assert counts == {"DPL": 1, "EL": 8, "MEU": 1, "SDN": 3, "UVL": 1}
    assert {x.list_code: x.list_date for x in store.lists()}["EL"] == "2026-12-01"
    assert {x.list_code: x.list_date for x in store.lists()}["MEU"] != "2026-12-01"
    # Huawei's hit lapsed (no longer a hit on the profile); the MEU hit stays.
    prof = gkeeper.store.profiles.get_profile("aws", HUAWEI.account_id)
    assert prof is not None and prof.screening_hits == ()
    [lapsed] = [h for h in list_hits(gkeeper, include_all=True) if h.account_id == HUAWEI.account_id]
    assert lapsed.status == "lapsed"
    assert [h.list_code for h in list_hits(gkeeper)] == ["MEU"]


def test_clearing_a_hit_is_recorded_and_shows_on_the_profile(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([SUGON_DE])
    load_list(gkeeper, CSV_LIST)
    events: list[tuple[str, str, dict[str, Any]]] = []
    hit = clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by="alice", reason="German bakery, unrelated",
                    record_event=lambda k, a, d: events.append((k, a, d)))
    assert hit.status == "cleared" and hit.cleared_by == "alice"
    assert events == [("screening.hit_cleared", "alice", events[0][2])]
    assert events[0][2]["entry_id"] == "el-sugon-0004" and events[0][2]["reason"] == "German bakery, unrelated"
    prof = gkeeper.store.profiles.get_profile("gcp", "sugon-bakery")
    assert prof is not None and [h.cleared for h in prof.screening_hits] == [True] and prof.open_hits == ()
    assert list_hits(gkeeper) == []
    [logged] = [e for e in screening_store(gkeeper).events() if e["kind"] == "screening.hit_cleared"]
    assert logged["actor"] == "alice" and logged["data"]["reason"] == "German bakery, unrelated"


def test_clearing_goes_to_the_audit_log_of_the_gatekeeper(gkeeper: Gatekeeper, tmp_path: Path) -> None:
    gkeeper.store.profiles.put_profiles([SUGON_DE])
    load_list(gkeeper, CSV_LIST)
    clear_hit(gkeeper, "gcp:sugon-bakery", "el-sugon-0004", by="alice", reason="unrelated bakery")
    gkeeper.close()
    records = [json.loads(line) for seg in sorted((tmp_path / "audit").glob("*.jsonl"))
               for line in seg.read_text(encoding="utf-8").splitlines() if line.strip()]
    kinds = [r.get("kind") for r in records]
    assert "screening.list_loaded" in kinds
    [cleared] = [r for r in records if r.get("kind") == "screening.hit_cleared"]
    assert cleared["actor"] == "alice" and cleared["data"]["entry_id"] == "el-sugon-0004"


def test_a_clearance_that_cannot_be_audited_does_not_take_effect(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([SUGON_DE])
    load_list(gkeeper, CSV_LIST)

    def failing(kind: str, actor: str, data: dict[str, Any]) -> None:
        raise AuditError("audit log unavailable")

    with pytest.raises(AuditError):
        clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by="alice", reason="x", record_event=failing)
    [hit] = list_hits(gkeeper)
    assert hit.status == "open" and hit.cleared_by == ""


def test_clear_refusals(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([SUGON_DE, HUAWEI])
    load_list(gkeeper, CSV_LIST)
    with pytest.raises(InvalidInputError) as exc:
        clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by=" ", reason="x")
    assert exc.value.field == "by"
    with pytest.raises(InvalidInputError) as exc:
        clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by="alice", reason="")
    assert exc.value.field == "reason"
    with pytest.raises(NotFoundError):
        clear_hit(gkeeper, "sugon-bakery", "el-huawei-0001", by="alice", reason="x")
    with pytest.raises(NotFoundError):
        clear_hit(gkeeper, "aws:sugon-bakery", "el-sugon-0004", by="alice", reason="x")
    with pytest.raises(InvalidInputError):
        clear_hit(gkeeper, "aws:111111111111", "el-huawei-0001", by="alice", reason="x", provider="gcp")
    clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by="alice", reason="unrelated")
    with pytest.raises(WorkflowError, match="already cleared by alice"):
        clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by="bob", reason="again")


def test_an_account_id_under_two_providers_must_be_named(gkeeper: Gatekeeper) -> None:
    twins = [CustomerProfile(p, "shared-id", "Sugon GmbH", "DE", "DE", "DE", "verified") for p in ("aws", "gcp")]
    gkeeper.store.profiles.put_profiles(twins)
    load_list(gkeeper, CSV_LIST)
    with pytest.raises(InvalidInputError, match="several providers"):
        clear_hit(gkeeper, "shared-id", "el-sugon-0004", by="alice", reason="x")
    assert clear_hit(gkeeper, "gcp:shared-id", "el-sugon-0004", by="alice", reason="x").provider == "gcp"


def test_a_clearance_lapses_when_the_legal_name_changes(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([SUGON_DE])
    load_list(gkeeper, CSV_LIST)
    clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by="alice", reason="unrelated bakery")
    assert screen_profiles(gkeeper, [SUGON_DE]).open_hits == 0  # same names: still cleared
    cosmetic = CustomerProfile("gcp", "sugon-bakery", "SUGON G.m.b.H.", "DE", "DE", "DE", "verified")
    assert screen_profiles(gkeeper, [cosmetic]).open_hits == 0  # the same name once normalised
    renamed = CustomerProfile("gcp", "sugon-bakery", "Sugon Trading GmbH", "DE", "DE", "DE", "verified")
    run = screen_profiles(gkeeper, [renamed], threshold=80)
    assert run.open_hits == 1 and run.new_hits == 1
    [hit] = list_hits(gkeeper)
    assert hit.status == "open" and hit.legal_name == "Sugon Trading GmbH"


def test_a_clearance_lapses_when_the_country_changes(gkeeper: Gatekeeper) -> None:
    gkeeper.store.profiles.put_profiles([SUGON_DE])
    load_list(gkeeper, CSV_LIST)
    clear_hit(gkeeper, "sugon-bakery", "el-sugon-0004", by="alice", reason="German, unrelated")
    moved = CustomerProfile("gcp", "sugon-bakery", "Sugon GmbH", "DE", "CN", "CN", "verified")
    assert screen_profiles(gkeeper, [moved]).open_hits == 1


def test_threshold_comes_from_config_and_can_be_overridden(tmp_path: Path) -> None:
    from gatekeeper.config import ScreeningConfig
    from tests.conftest import tmp_config

    strict = Gatekeeper(tmp_config(tmp_path, screening=ScreeningConfig(threshold=99.5)))
    try:
        strict.store.profiles.put_profiles([SUGON_DE])
        result = load_list(strict, CSV_LIST)
        assert result.run.threshold == 99.5 and result.run.open_hits == 0  # Sugon GmbH in DE scores 90
        assert screen_profiles(strict, [SUGON_DE], threshold=80).open_hits == 1
        with pytest.raises(InvalidInputError):
            screen_profiles(strict, [SUGON_DE], threshold=120)
    finally:
        strict.close()


def test_store_url_and_path_targets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/other.db"
    parsed = parse_file(CSV_LIST)
    result = load_list(url, parsed, profiles=lambda: [HUAWEI])
    assert result.run.open_hits == 1
    assert screen_profiles(url, [ACME]).open_hits == 0
    direct = SqliteScreeningStore(tmp_path / "other.db")
    assert [h.account_id for h in direct.hits()] == [HUAWEI.account_id]
    assert direct.screening_hits_for("aws", HUAWEI.account_id)[0].entry_id == "el-huawei-0001"
    direct.close()


def test_unsupported_store_is_refused() -> None:
    with pytest.raises(StoreError, match="SQLite"):
        screening_store(object())


def test_hits_status_filter_rejects_unknown_status(gkeeper: Gatekeeper) -> None:
    with pytest.raises(InvalidInputError):
        screening_store(gkeeper).hits(("pending",))
