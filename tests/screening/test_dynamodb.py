"""Screening on the DynamoDB state store (moto over HTTP): loads, re-screening, decisions, clearances,
all-or-nothing loads and the writers' lease."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gatekeeper.cli._common import EXIT_OK
from gatekeeper.config import AuditConfig, Config, StoreConfig
from gatekeeper.errors import AuditError, ConflictError, InvalidInputError, NotFoundError, StoreError, WorkflowError
from gatekeeper.model import ComputeItem, CustomerProfile, Outcome, ProvisioningRequest
from gatekeeper.screening import (
    ParsedList,
    clear_hit,
    current_index,
    list_hits,
    load_list,
    parse_file,
    screen_profiles,
    screening_store,
)
from gatekeeper.service import Gatekeeper
from gatekeeper.stores import open_store
from gatekeeper.stores.dynamodb import TABLES, set_screening_reader
from gatekeeper.stores.dynamodb_screening import HITS_TABLE, LISTS_TABLE, DynamoDBScreeningStore, register
from gatekeeper.stores.screening_base import ScreeningStore
from gatekeeper.stores.testing import LocalDynamoDB
from tests.screening.conftest import CSV_LIST, JSON_LIST
from tests.stores.backends import aws_env

HUAWEI = CustomerProfile("aws", "111111111111", "Shenzen Huawei Technologies Co.", "CN", "CN", "CN", "verified")
ACME = CustomerProfile("aws", "222222222222", "Acme Corp", "US", "US", "US", "verified")
SUGON_DE = CustomerProfile("gcp", "sugon-bakery", "Sugon GmbH", "DE", "DE", "DE", "verified")
XAC = CustomerProfile("azure", "3f2b1c9a-0000-4000-8000-000000000001", "Xian Aircraft Industry Group",
                      "CN", "CN", "CN", "verified")
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "template.yaml"


@pytest.fixture(scope="module")
def ddb() -> Iterator[LocalDynamoDB]:
    gen = aws_env()
    next(gen)
    try:
        with LocalDynamoDB() as server:
            yield server
    finally:
        next(gen, None)


@pytest.fixture
def url(ddb: LocalDynamoDB) -> str:
    u = ddb.url(f"gk-{uuid.uuid4().hex[:12]}")
    open_store(u).init()
    return u


@pytest.fixture
def gk(url: str, tmp_path: Path) -> Iterator[Gatekeeper]:
    g = Gatekeeper(Config(store=StoreConfig(url=url), audit=AuditConfig(
        url=f"file://{tmp_path}/audit", signing_key=str(tmp_path / "audit-key.pem"))))
    yield g
    g.close()


def _prefix(gk: Gatekeeper) -> str:
    return str(gk.store.location.prefix)


def _snapshot(gk: Gatekeeper) -> dict[str, list[str]]:
    """Every item of both screening tables, to prove that a refused or failed load changed nothing."""
    client = gk.store.db.client
    return {suffix: sorted(json.dumps(i, sort_keys=True) for page in client.get_paginator("scan").paginate(
        TableName=f"{_prefix(gk)}-{suffix}", ConsistentRead=True) for i in page["Items"])
            for suffix in ("screening", "screening-hits")}


def _fail_calls(gk: Gatekeeper, operation: str, when: Any) -> list[dict[str, Any]]:
    """Answer the ``operation`` calls for which ``when(request)`` is true with an error that botocore does
    not retry (``request``: the call's parameters as sent, DynamoDB's typed JSON)."""
    seen: list[dict[str, Any]] = []

    class Status:
        status_code = 400

    def handler(params: dict[str, Any], **_: Any) -> Any:
        body = params["body"]
        request = json.loads(body.decode() if isinstance(body, bytes) else body)
        if when(request):
            seen.append(request)
            return Status(), {"Error": {"Code": "InjectedFailure", "Message": "injected"},
                              "ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    gk.store.db.client.meta.events.register(f"before-call.dynamodb.{operation}", handler)
    return seen


def _switch(params: dict[str, Any]) -> bool:
    return any(op.get("Put", {}).get("Item", {}).get("sk") == {"S": "HEAD"} for op in params["TransactItems"])


def a100(account: str) -> ProvisioningRequest:
    return ProvisioningRequest("aws", account, (ComputeItem("p4d.24xlarge", 1),), region="eu-central-1",
                               service="ec2", operation="RunInstances")


# -- tables ------------------------------------------------------------------------------------------

def test_store_init_creates_the_screening_tables_and_the_template_has_them(gk: Gatekeeper) -> None:
    client = gk.store.db.client
    for spec in (LISTS_TABLE, HITS_TABLE):
        desc = client.describe_table(TableName=f"{_prefix(gk)}-{spec.suffix}")["Table"]
        assert desc["KeySchema"] == spec.create_args("x")["KeySchema"]
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert TABLES["screening"] is LISTS_TABLE and TABLES["screening_hits"] is HITS_TABLE

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: (
        loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None))
    resources = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=Loader)["Resources"]
    tables = {r["Properties"]["TableName"].replace("${TablePrefix}-", ""): r["Properties"]
              for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"}
    for spec in (LISTS_TABLE, HITS_TABLE):
        want = spec.create_args(f"x-{spec.suffix}")
        assert tables[spec.suffix]["KeySchema"] == want["KeySchema"]
        assert tables[spec.suffix]["AttributeDefinitions"] == want["AttributeDefinitions"]
        assert "GlobalSecondaryIndexes" not in tables[spec.suffix]


def test_the_service_picks_the_dynamodb_screening_store(gk: Gatekeeper, url: str) -> None:
    store = screening_store(gk)
    assert isinstance(store, DynamoDBScreeningStore) and isinstance(store, ScreeningStore)
    assert store is screening_store(gk.store)  # one per main store
    assert isinstance(screening_store(url), DynamoDBScreeningStore)  # a store URL works too


def test_a_new_store_installs_the_hits_reader(gk: Gatekeeper, url: str) -> None:
    gk.store.profiles.put_profiles([HUAWEI])
    load_list(gk, CSV_LIST)
    set_screening_reader(None)  # as in a process that never imported the screening package
    try:
        stale = gk.store.profiles.get_profile("aws", HUAWEI.account_id)
        assert stale is not None and stale.screening_hits == ()  # what a store without the reader would see
        fresh = open_store(url)
        prof = fresh.profiles.get_profile("aws", HUAWEI.account_id)
        assert prof is not None and [h.entry_id for h in prof.screening_hits] == ["el-huawei-0001"]
    finally:
        register()


# -- loading and re-screening ------------------------------------------------------------------------

def test_load_stores_entries_lists_and_date_and_rescreens(gk: Gatekeeper) -> None:
    gk.store.profiles.put_profiles([HUAWEI, ACME, SUGON_DE, XAC])
    result = load_list(gk, JSON_LIST, list_date=date(2026, 11, 1))
    assert result.run.profiles == 4 and result.run.new_hits == 3 and result.run.open_hits == 3
    store = screening_store(gk)
    assert len(store.entries()) == 15 and len(current_index(gk)) == 15
    lists = {x.list_code: x for x in store.lists()}
    assert set(lists) == {"DPL", "EL", "MEU", "SDN", "UVL"}
    assert (lists["EL"].list_date, lists["EL"].entry_count, lists["EL"].sha256) == (
        "2026-11-01", 9, result.parsed.sha256)
    hits = {(h.provider, h.account_id): h for h in list_hits(gk)}
    assert set(hits) == {("aws", HUAWEI.account_id), ("gcp", "sugon-bakery"), ("azure", XAC.account_id)}
    assert hits[("azure", XAC.account_id)].list_code == "MEU"
    assert hits[("gcp", "sugon-bakery")].explanation["country"]["effect"] < 0
    prof = gk.store.profiles.get_profile("aws", HUAWEI.account_id)
    assert prof is not None and [(h.list_code, h.entry_id, h.cleared) for h in prof.screening_hits] == [
        ("EL", "el-huawei-0001", False)]
    acme = gk.store.profiles.get_profile("aws", ACME.account_id)
    assert acme is not None and acme.screening_hits == ()
    # Loading the same list again finds nothing new and keeps one version per list.
    again = load_list(gk, JSON_LIST, list_date=date(2026, 11, 1))
    assert again.run.open_hits == 3 and again.run.new_hits == 0
    entries = [i for i in gk.store.db.client.scan(TableName=f"{_prefix(gk)}-screening")["Items"]
               if i["pk"]["S"].startswith("ENTRIES#")]
    assert len(entries) == 15


def test_import_screens_and_a_listed_customer_is_denied_then_cleared(gk: Gatekeeper) -> None:
    load_list(gk, CSV_LIST)
    run = screen_profiles(gk, [HUAWEI, SUGON_DE])  # what `accounts import` does, before storing them
    gk.store.profiles.put_profiles([HUAWEI, SUGON_DE, replace(SUGON_DE, provider="aws", account_id="555555555555")])
    assert int(run) == 2 and run.new_hits == 2
    d = gk.decide(a100(HUAWEI.account_id), dry_run=True)
    assert d.outcome == Outcome.DENY and "entity-list" in [m.rule_id for m in d.matches]
    assert any("Huawei Technologies Co., Ltd." in r and "EL" in r for r in d.reasons), d.reasons

    namesake = "555555555555"  # not screened yet: no hits, so allowed
    assert gk.decide(a100(namesake), dry_run=True).outcome == Outcome.ALLOW
    screen_profiles(gk, gk.store.profiles.list_profiles())
    before = gk.decide(a100(namesake), dry_run=True)
    assert before.outcome == Outcome.DENY and any("Dawning" in r for r in before.reasons)
    hit = clear_hit(gk, f"aws:{namesake}", "el-sugon-0004", by="alice", reason="German bakery, not Sugon")
    assert (hit.status, hit.cleared_by, hit.cleared_reason) == ("cleared", "alice", "German bakery, not Sugon")
    after = gk.decide(a100(namesake), dry_run=True)
    assert after.outcome == Outcome.ALLOW, after.reasons
    assert [h.cleared for h in after.profile.screening_hits] == [True]
    assert [(h.account_id, h.status) for h in list_hits(gk, include_all=True)
            if h.entry_id == "el-sugon-0004"] == [("555555555555", "cleared"), ("sugon-bakery", "open")]
    # Both the load and the clearance are in the table's events and in the audit log.
    kinds = [e["kind"] for e in screening_store(gk).events()]
    assert kinds == ["screening.hit_cleared", "screening.list_loaded"]
    gk.close()
    audit = [json.loads(line) for seg in sorted(Path(gk.config.audit.url[len("file://"):]).glob("*.jsonl"))
             for line in seg.read_text(encoding="utf-8").splitlines() if line.strip()]
    [cleared] = [r for r in audit if r.get("kind") == "screening.hit_cleared"]
    assert cleared["actor"] == "alice" and cleared["data"]["entry_id"] == "el-sugon-0004"


def test_a_load_replaces_only_the_lists_in_the_file_and_lapses_hits(gk: Gatekeeper, tmp_path: Path) -> None:
    gk.store.profiles.put_profiles([HUAWEI, XAC])
    load_list(gk, CSV_LIST)
    lines = CSV_LIST.read_text(encoding="utf-8").splitlines()
    el_only = [lines[0]] + [ln for ln in lines[1:] if "(EL)" in ln and "el-huawei" not in ln]
    path = tmp_path / "el.csv"
    path.write_text("\n".join(el_only), encoding="utf-8")
    result = load_list(gk, path, list_date=date(2026, 12, 1))
    assert result.run.lapsed_hits == 1
    store = screening_store(gk)
    counts: dict[str, int] = {}
    for e in store.entries():
        counts[e.list_code] = counts.get(e.list_code, 0) + 1
    assert counts == {"DPL": 1, "EL": 8, "MEU": 1, "SDN": 3, "UVL": 1}
    dates = {x.list_code: x.list_date for x in store.lists()}
    assert dates["EL"] == "2026-12-01" and dates["MEU"] != "2026-12-01"
    prof = gk.store.profiles.get_profile("aws", HUAWEI.account_id)
    assert prof is not None and prof.screening_hits == ()
    [lapsed] = [h for h in list_hits(gk, include_all=True) if h.account_id == HUAWEI.account_id]
    assert lapsed.status == "lapsed"
    assert [h.list_code for h in list_hits(gk)] == ["MEU"]
    # The replaced Entity List version is gone; the other lists' versions were left alone.
    items = gk.store.db.client.scan(TableName=f"{_prefix(gk)}-screening")["Items"]
    assert len([i for i in items if i["pk"]["S"].startswith("ENTRIES#")]) == 14


def test_an_entry_moving_to_another_list_is_kept_once_in_the_list_loaded_last(gk: Gatekeeper) -> None:
    first = parse_file(CSV_LIST)
    load_list(gk, first, profiles=list)
    [sugon] = [e for e in first.entries if e.entry_id == "el-sugon-0004"]
    moved = replace(sugon, list_code="SDN", source="Specially Designated Nationals (SDN) - Treasury Department")
    load_list(gk, ParsedList((moved,), "json", date(2027, 1, 1), "sdn.json", "1" * 64), profiles=list)
    entries = screening_store(gk).entries()
    assert [e.list_code for e in entries if e.entry_id == "el-sugon-0004"] == ["SDN"]
    assert sum(e.list_code == "EL" for e in entries) == 8 and sum(e.list_code == "SDN" for e in entries) == 1


def test_a_list_version_missing_entries_is_an_error_not_a_shorter_list(gk: Gatekeeper) -> None:
    load_list(gk, CSV_LIST, profiles=list)
    client = gk.store.db.client
    [victim] = [i for i in client.scan(TableName=f"{_prefix(gk)}-screening")["Items"]
                if i["pk"]["S"].startswith("ENTRIES#EL#")][:1]
    client.delete_item(TableName=f"{_prefix(gk)}-screening", Key={"pk": victim["pk"], "sk": victim["sk"]})
    with pytest.raises(StoreError, match=r"list EL version \w+ has 8 entries, its pointer says 9"):
        screening_store(gk).entries()


# -- all or nothing ----------------------------------------------------------------------------------

def test_a_malformed_file_changes_nothing(gk: Gatekeeper, tmp_path: Path) -> None:
    gk.store.profiles.put_profiles([HUAWEI])
    load_list(gk, CSV_LIST)
    before = _snapshot(gk)
    bad = tmp_path / "bad.csv"
    lines = CSV_LIST.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("Huawei Technologies Co., Ltd.", "Other Name")  # a valid row first
    lines[9] = lines[9].replace("Military End User (MEU) List", "Mystery List")  # bad row 10
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InvalidInputError) as exc:
        load_list(gk, bad)
    assert (exc.value.row, exc.value.field) == (10, "source")
    bad_json = tmp_path / "bad.json"
    doc = json.loads(JSON_LIST.read_text(encoding="utf-8"))
    doc["results"][3]["alt_names"] = "Sugon"
    bad_json.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InvalidInputError):
        load_list(gk, bad_json)
    assert _snapshot(gk) == before


def test_a_failure_while_rescreening_changes_nothing(gk: Gatekeeper) -> None:
    gk.store.profiles.put_profiles([HUAWEI])
    load_list(gk, CSV_LIST)
    before = _snapshot(gk)

    def broken_profiles() -> list[CustomerProfile]:
        raise StoreError("profile store down")

    with pytest.raises(StoreError, match="profile store down"):
        load_list(gk, JSON_LIST, list_date=date(2027, 1, 1), profiles=broken_profiles)
    assert _snapshot(gk) == before


def test_a_failed_audit_record_changes_nothing(gk: Gatekeeper) -> None:
    gk.store.profiles.put_profiles([HUAWEI, SUGON_DE])
    load_list(gk, CSV_LIST)
    before = _snapshot(gk)

    def failing(kind: str, actor: str, data: dict[str, Any]) -> None:
        raise AuditError("disk full")

    renamed = replace(HUAWEI, legal_name="Acme Corp")  # the load would lapse the Huawei hit
    with pytest.raises(AuditError):
        load_list(gk, JSON_LIST, list_date=date(2027, 1, 1), record_event=failing, profiles=lambda: [renamed])
    assert _snapshot(gk) == before
    with pytest.raises(AuditError):
        clear_hit(gk, "sugon-bakery", "el-sugon-0004", by="alice", reason="x", record_event=failing)
    assert _snapshot(gk) == before


def test_a_failed_switch_leaves_the_old_lists_in_force(gk: Gatekeeper) -> None:
    """The entries and hits were written; the pointer switch fails: all is put back, the audit log says so."""
    gk.store.profiles.put_profiles([HUAWEI, SUGON_DE, ACME])
    first = parse_file(CSV_LIST)
    load_list(gk, first)
    before = _snapshot(gk)
    # The new list drops Huawei and adds a new Acme entry: its load writes a new hit and rewrites others.
    acme = replace(first.entries[0], entry_id="el-acme-0099", name="Acme Corp", alt_names=(), addresses=())
    second = ParsedList((*(e for e in first.entries if e.entry_id != "el-huawei-0001"), acme), "csv",
                        date(2027, 1, 1), "second.csv", "0" * 64)
    events: list[tuple[str, dict[str, Any]]] = []
    failed = _fail_calls(gk, "TransactWriteItems", _switch)
    with pytest.raises(StoreError, match="InjectedFailure"):
        load_list(gk, second, record_event=lambda kind, actor, data: events.append((kind, data)))
    assert failed  # the switch was reached (hits had been written before it)
    assert [k for k, _ in events] == ["screening.list_loaded", "screening.list_load_failed"]
    assert "InjectedFailure" in events[1][1]["error"]
    assert _snapshot(gk) == before
    prof = gk.store.profiles.get_profile("aws", HUAWEI.account_id)
    assert prof is not None and [h.entry_id for h in prof.screening_hits] == ["el-huawei-0001"]


def test_a_failure_in_a_later_hits_transaction_undoes_the_earlier_ones(gk: Gatekeeper) -> None:
    """More than 99 hits need several transactions (and the >25-subject scan path)."""
    load_list(gk, CSV_LIST)
    many = [CustomerProfile("aws", f"{n:012d}", "Huawei Technologies Co Ltd", "CN", "CN", "CN", "verified")
            for n in range(105)]
    assert screen_profiles(gk, many[:30]).open_hits == 30
    before = _snapshot(gk)
    calls: list[int] = []

    def second_hits_chunk(params: dict[str, Any]) -> bool:
        if any("Update" in op for op in params["TransactItems"]):
            calls.append(1)
            return len(calls) == 2
        return False

    _fail_calls(gk, "TransactWriteItems", second_hits_chunk)
    with pytest.raises(StoreError, match="InjectedFailure"):
        screen_profiles(gk, many)
    assert len(calls) == 2
    assert _snapshot(gk) == before


# -- clearances and refusals -------------------------------------------------------------------------

def test_clear_refusals_and_a_clearance_lapses_with_the_name(gk: Gatekeeper) -> None:
    gk.store.profiles.put_profiles([SUGON_DE, HUAWEI])
    load_list(gk, CSV_LIST)
    with pytest.raises(NotFoundError):
        clear_hit(gk, "sugon-bakery", "el-huawei-0001", by="alice", reason="x")
    with pytest.raises(NotFoundError):
        clear_hit(gk, "aws:sugon-bakery", "el-sugon-0004", by="alice", reason="x")
    clear_hit(gk, "sugon-bakery", "el-sugon-0004", by="alice", reason="unrelated bakery")
    with pytest.raises(WorkflowError, match="already cleared by alice"):
        clear_hit(gk, "sugon-bakery", "el-sugon-0004", by="bob", reason="again")
    assert screen_profiles(gk, [SUGON_DE]).open_hits == 0  # same names: still cleared
    renamed = replace(SUGON_DE, legal_name="Sugon Trading GmbH")
    assert screen_profiles(gk, [renamed], threshold=80).new_hits == 1
    [hit] = [h for h in list_hits(gk) if h.account_id == "sugon-bakery"]
    assert hit.status == "open" and hit.legal_name == "Sugon Trading GmbH" and hit.cleared_by == "alice"
    screen_profiles(gk, [replace(SUGON_DE, legal_name="Acme Corp")])
    with pytest.raises(WorkflowError, match="lapsed"):
        clear_hit(gk, "sugon-bakery", "el-sugon-0004", by="bob", reason="x")
    with pytest.raises(InvalidInputError):
        screening_store(gk).hits(("pending",))


def test_a_failed_hits_read_fails_the_decision_closed(gk: Gatekeeper) -> None:
    gk.store.profiles.put_profiles([ACME])
    load_list(gk, CSV_LIST)
    _fail_calls(gk, "Query", lambda p: p["TableName"].endswith("-screening-hits"))
    d = gk.decide(a100(ACME.account_id), dry_run=True)
    assert d.outcome == Outcome.DENY and d.error is not None and "screening-hits" in d.error


# -- the writers' lease ------------------------------------------------------------------------------

def _hold_lock(gk: Gatekeeper, owner: str, expires_at: float) -> None:
    gk.store.db.client.put_item(TableName=f"{_prefix(gk)}-screening", Item={
        "pk": {"S": "LOCK"}, "sk": {"S": "WRITER"}, "owner": {"S": owner}, "op": {"S": "load"},
        "holder": {"S": "elsewhere:1"}, "expires_at": {"N": str(expires_at)}})


def test_a_writer_waits_for_the_lease_and_takes_over_an_expired_one(gk: Gatekeeper) -> None:
    import time

    gk.store.profiles.put_profiles([HUAWEI])
    load_list(gk, CSV_LIST)
    impatient = DynamoDBScreeningStore(gk.store, lock_wait=0.2)
    _hold_lock(gk, "other-run", time.time() + 600)
    before = _snapshot(gk)
    with pytest.raises(ConflictError, match=r"load on elsewhere:1"):
        screen_profiles(impatient, [replace(HUAWEI, legal_name="Acme Corp")])
    assert _snapshot(gk) == before
    _hold_lock(gk, "stalled-run", time.time() - 1)  # a lease that expired
    assert screen_profiles(impatient, [replace(HUAWEI, legal_name="Acme Corp")]).lapsed_hits == 1
    items = gk.store.db.client.scan(TableName=f"{_prefix(gk)}-screening")["Items"]
    assert not [i for i in items if i["pk"]["S"] == "LOCK"]  # released


def test_a_run_whose_lease_was_taken_over_commits_nothing(gk: Gatekeeper) -> None:
    import time

    gk.store.profiles.put_profiles([HUAWEI])
    load_list(gk, CSV_LIST)
    before = _snapshot(gk)

    def profiles() -> list[CustomerProfile]:
        _hold_lock(gk, "the-run-that-took-over", time.time() + 600)  # this run stalled past its lease
        return [replace(HUAWEI, legal_name="Acme Corp"), SUGON_DE]

    with pytest.raises(ConflictError, match="taken over"):
        load_list(gk, JSON_LIST, profiles=profiles)
    after = _snapshot(gk)
    assert after["screening-hits"] == before["screening-hits"]
    lock = [i for i in after["screening"] if '"LOCK"' in i]
    assert len(lock) == 1 and "the-run-that-took-over" in lock[0]  # the other run's lease is kept
    assert [i for i in after["screening"] if i not in lock] == before["screening"]


# -- the CLI -----------------------------------------------------------------------------------------

def test_cli_accounts_import_and_screening_commands_on_dynamodb(url: str, tmp_path: Path) -> None:
    from gatekeeper.cli.accounts import app as accounts_app
    from gatekeeper.cli.screening import app as screening_app

    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n[audit]\nurl = "file://audit"\nsigning_key = "audit-key.pem"\n',
                   encoding="utf-8")

    def run(app: Any, *args: str) -> Any:
        result = CliRunner().invoke(app, [*args, "--config", str(cfg)])
        assert result.exit_code == EXIT_OK, result.output
        if "--json" not in args:
            return result.stdout
        # Log lines may share stdout until logging is configured; the JSON document is the last block.
        text = result.stdout
        return json.loads(text[min(i for i in (text.find("{\n"), text.find("[\n"), text.find("[]")) if i >= 0):])

    doc = run(screening_app, "load", str(CSV_LIST), "--date", "2026-11-01", "--json")
    assert doc["lists"]["EL"] == 9 and doc["profiles_screened"] == 0
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
        "aws,999999999999,Hik-Vision Digital Technology,CN,CN,CN,verified\n"
        "gcp,sugon-bakery,Sugon GmbH,DE,DE,DE,verified\n", encoding="utf-8")
    assert run(accounts_app, "import", str(accounts), "--json") == {"imported": 2, "screening_hits": 2}
    hits = run(screening_app, "hits", "--json")
    assert {(h["account_id"], h["entry_id"]) for h in hits} == {
        ("999999999999", "el-hikvision-0006"), ("sugon-bakery", "el-sugon-0004")}
    assert run(screening_app, "clear", "sugon-bakery", "el-sugon-0004", "--by", "alice", "--reason", "bakery",
               "--json")["status"] == "cleared"
    assert [h["entry_id"] for h in run(screening_app, "hits", "--json")] == ["el-hikvision-0006"]
    assert {x["list"]: x["list_date"] for x in run(screening_app, "lists", "--json")}["EL"] == "2026-11-01"
    shown = run(accounts_app, "show", "999999999999", "--json")
    assert [h["entry_id"] for h in shown["screening_hits"]] == ["el-hikvision-0006"]
