"""PostgreSQL specifics: the URL, migrations only through ``store init``, drawdown under 4 processes x
8 threads, and a server stopped mid-run (controlled compute denied with the reason, plain allowed,
recovery when it is back). The store contract itself runs on PostgreSQL in test_contract.py."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from gatekeeper.errors import ConfigError, StoreError
from gatekeeper.model import CustomerProfile, Outcome
from gatekeeper.stores import open_store
from gatekeeper.stores.postgres import PostgresLocation, PostgresStore
from gatekeeper.stores.postgres_schema import LATEST, MIGRATIONS
from gatekeeper.stores.testing import LocalPostgres
from tests.stores.backends import (
    audit_records,
    licence,
    make_gatekeeper,
    new_postgres,
    postgres_url,
    request,
    threaded_draw_worker,
)


def test_url() -> None:
    loc = PostgresLocation.parse("postgresql://gk@db.example:6432/state?sslmode=verify-full&schema=gk_prod"
                                 "&pool_max=20&pool_timeout=2.5")
    assert (loc.schema, loc.pool_min, loc.pool_max, loc.pool_timeout) == ("gk_prod", 1, 20, 2.5)
    info = psycopg.conninfo.conninfo_to_dict(loc.conninfo)
    # libpq gets its own parameters (and gatekeeper's defaults), never gatekeeper's
    assert info["sslmode"] == "verify-full" and info["connect_timeout"] == "5" and "schema" not in info
    assert info["host"] == "db.example" and info["port"] == "6432" and info["dbname"] == "state"
    assert loc.name == "postgresql db.example:6432/state schema gk_prod"
    secret = PostgresLocation.parse("postgres://gk:s3cret@db/state")
    assert "s3cret" not in secret.name and secret.schema == "gatekeeper"


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://db/x?schema=Bad-Name", "schema 'Bad-Name'"),
    ("postgresql://db/x?schema=1abc", "schema '1abc'"),
    ("postgresql://db/x?pool_max=many", "whole numbers"),
    ("postgresql://db/x?pool_min=5&pool_max=2", "pool_min <= pool_max"),
    ("postgresql://db/x?pool_timeout=0", "pool_timeout > 0"),
    ("postgresql://db/x?nonsense_option=1", "not a valid PostgreSQL connection string"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url)


def test_nothing_is_created_implicitly_and_init_migrates(local_postgres: LocalPostgres, tmp_path: Path) -> None:
    url = postgres_url(local_postgres)
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    try:
        with pytest.raises(StoreError, match=r"schema version 0, this gatekeeper needs \d+: run 'gatekeeper store "
                                             r"init'"):
            store.profiles.get_profile("aws", "1")
        with psycopg.connect(store.location.conninfo) as conn:  # the schema was not created behind our back
            assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (store.location.schema,)
                                ).fetchone() is None
    finally:
        store.close()
    # ``gatekeeper store init`` migrates, once
    from gatekeeper.cli.main import app

    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n')
    runner = CliRunner()
    first = runner.invoke(app, ["store", "init", "--config", str(cfg)])
    assert first.exit_code == 0, first.output
    assert f"applied migration 1 ({MIGRATIONS[0].description})" in first.output
    second = runner.invoke(app, ["store", "init", "--config", str(cfg), "--json"])
    assert second.exit_code == 0 and "applied migration" not in second.output
    assert f"at schema version {LATEST}" in second.output
    store = open_store(url)
    try:
        store.profiles.put_profiles([CustomerProfile("aws", "1", "X", "US", "US", "US", "verified")])
        assert store.profiles.get_profile("aws", "1") is not None
    finally:
        store.close()


def test_a_newer_schema_is_refused(local_postgres: LocalPostgres) -> None:
    url = postgres_url(local_postgres)
    store = open_store(url)
    store.init()
    with psycopg.connect(store.location.conninfo, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {store.location.schema}.schema_migrations (version, description) "
                     f"VALUES ({LATEST + 1}, 'from the future')")
    store.close()
    newer = open_store(url)
    try:
        with pytest.raises(StoreError, match="newer than this gatekeeper knows"):
            newer.licences.get_licence("L-1")
        with pytest.raises(StoreError, match="newer than this gatekeeper knows"):
            newer.init()
    finally:
        newer.close()


def test_a_store_at_version_1_is_refused_until_init_adds_licence_refunds(local_postgres: LocalPostgres) -> None:
    url = postgres_url(local_postgres)
    store = open_store(url)
    store.init()
    schema = store.location.schema
    with psycopg.connect(store.location.conninfo, autocommit=True) as conn:  # as a store made before it
        conn.execute(f"DROP TABLE {schema}.licence_refunds")
        conn.execute(f"DELETE FROM {schema}.schema_migrations WHERE version = 2")
    store.close()
    older = open_store(url)
    try:
        with pytest.raises(StoreError, match="store init"):
            older.licences.get_licence("L-1")
    finally:
        older.close()
    store = open_store(url)
    try:
        assert any(f"applied migration 2 ({MIGRATIONS[1].description})" in line for line in store.init())
        store.licences.put_licence(licence("L-1", quantity=8))
        assert store.licences.draw("L-1", 8, on=licence("x").valid_from) is not None
        assert store.licences.refund("L-1", 8, decision_id="dec-1") == "refunded"
        assert store.licences.refund("L-1", 8, decision_id="dec-1") == "already"
    finally:
        store.close()


def test_the_schema_itself_keeps_remaining_non_negative(local_postgres: LocalPostgres) -> None:
    store = open_store(postgres_url(local_postgres))
    store.init()
    try:
        store.licences.put_licence(licence("L-1", quantity=8))
        with psycopg.connect(store.location.conninfo) as conn, pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(f"UPDATE {store.location.schema}.licences SET remaining = remaining - 9")
        # quantities are exact: 0.1 drawn ten times leaves 0, not 1e-16
        store.licences.put_licence(licence("L-2", quantity=1))
        for _ in range(10):
            assert store.licences.draw("L-2", 0.1, on=licence("x").valid_from) is not None
        left = store.licences.get_licence("L-2")
        assert left is not None and left.remaining == 0
    finally:
        store.close()


@pytest.mark.slow
def test_four_processes_of_eight_threads_never_overdraw(local_postgres: LocalPostgres, tmp_path: Path) -> None:
    url = postgres_url(local_postgres)
    open_store(url).init()
    gk = make_gatekeeper(tmp_path, url)
    limit = 8 * 20  # twenty one-instance p4d requests (8 x A100 each) of 64
    try:
        gk.store.licences.put_licence(licence("L-1", quantity=limit))
    finally:
        gk.close()
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        results = [r for batch in pool.map(threaded_draw_worker, [(str(tmp_path), url, 8, 2)] * 4) for r in batch]
    assert len(results) == 64
    assert results.count(("allow", "L-1")) == 20
    assert all(r[0] == "pending" for r in results if r != ("allow", "L-1"))
    gk = make_gatekeeper(tmp_path, url)
    try:
        left = gk.store.licences.get_licence("L-1")
        assert left is not None and left.remaining == 0
        [case] = gk.store.cases.list_cases("open")
        assert case.request_count == 44
    finally:
        gk.close()
    assert len([r for r in audit_records(tmp_path) if r["kind"] == "licence.drawn"]) == 20


@pytest.fixture
def own_server() -> Iterator[LocalPostgres]:
    """A server of this test's own, to stop and start."""
    with new_postgres() as server:
        yield server


def test_a_server_stopped_mid_run_fails_closed_and_recovers(own_server: LocalPostgres, tmp_path: Path) -> None:
    url = postgres_url(own_server, pool_timeout=2, connect_timeout=2)
    open_store(url).init()
    gk = make_gatekeeper(tmp_path, url)
    try:
        gk.store.licences.put_licence(licence("L-1", quantity=80))
        assert gk.decide(request()).outcome == Outcome.ALLOW
        own_server.stop()
        down = gk.decide(request())
        assert down.outcome == Outcome.DENY and down.blocks
        assert down.error and "StoreError" in down.error and "unavailable" in down.error
        assert any("denied fail-closed" in r for r in down.reasons)
        plain = gk.decide(request(instance_type="t3.micro"))  # no accelerator: no store needed
        assert plain.outcome == Outcome.ALLOW and plain.error is None
        own_server.start()
        back = gk.decide(request())
        assert back.outcome == Outcome.ALLOW and back.licence_id == "L-1" and back.error is None
        left = gk.store.licences.get_licence("L-1")
        assert left is not None and left.remaining == 80 - 16
    finally:
        gk.close()
    # The denial is in the audit log with its reason, between the two allowed draws.
    decisions = [r for r in audit_records(tmp_path) if r["kind"] == "decision"]
    assert [d["decision"] for d in decisions] == ["allow", "deny", "allow"]
    assert "unavailable" in str(decisions[1].get("error"))


def test_screening_hits_live_in_the_postgres_schema(local_postgres: LocalPostgres, tmp_path: Path) -> None:
    from gatekeeper.screening import load_list, screening_store
    from tests.screening.conftest import CSV_LIST

    url = postgres_url(local_postgres)
    open_store(url).init()
    gk = make_gatekeeper(tmp_path, url)
    try:
        huawei = CustomerProfile("aws", "999999999999", "Huawei Technologies Co., Ltd.", "CN", "CN", "CN",
                                 "verified")
        gk.store.profiles.put_profiles([huawei])
        result = load_list(gk, CSV_LIST)
        assert result.run.open_hits >= 1
        profile = gk.store.profiles.get_profile("aws", huawei.account_id)
        assert profile is not None and profile.screening_hits
        assert screening_store(gk) is gk.store.screening
        assert {h.account_id for h in screening_store(gk).hits()} == {huawei.account_id}
    finally:
        gk.close()
