"""A store that fails (DynamoDB errors injected, endpoint down, corrupt SQLite) denies with a clear reason.

DynamoDB errors are injected into a real botocore client talking to moto: a ``before-call`` handler
answers one operation with an error response, which botocore turns into its own ClientError exactly
as for a real service error; every other operation reaches the tables.
"""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import Config, StoreConfig
from gatekeeper.errors import AuditError, StoreError
from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from gatekeeper.stores import open_store
from gatekeeper.stores.testing import LocalDynamoDB
from gatekeeper.workflow import workflow_of
from tests.stores.backends import audit_records, licence, make_config, make_gatekeeper, request


class _Status:
    def __init__(self, code: int) -> None:
        self.status_code = code


def inject_error(client: Any, operation: str, code: str, status: int = 400) -> None:
    """Answer every ``operation`` call of ``client`` with DynamoDB error ``code``."""

    def handler(**_: Any) -> tuple[_Status, dict[str, Any]]:
        return _Status(status), {"Error": {"Code": code, "Message": f"injected {code}"},
                                 "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(f"before-call.dynamodb.{operation}", handler)


@pytest.fixture
def ddb_gk(local_dynamodb: LocalDynamoDB, tmp_path: Path) -> Any:
    url = local_dynamodb.url(f"gk-{uuid.uuid4().hex[:12]}")
    open_store(url).init()
    gk = make_gatekeeper(tmp_path, url)
    yield gk
    gk.close()


@pytest.mark.parametrize(("operation", "code"), [
    ("Query", "ProvisionedThroughputExceededException"),
    ("Query", "InternalServerError"),
    ("TransactWriteItems", "ThrottlingException"),
])
def test_dynamodb_errors_fail_closed(ddb_gk: Gatekeeper, tmp_path: Path, operation: str, code: str) -> None:
    inject_error(ddb_gk.store.db.client, operation, code, status=500 if code == "InternalServerError" else 400)
    d = ddb_gk.decide(request())
    assert d.outcome == Outcome.DENY and d.blocks
    assert d.error is not None and "StoreError" in d.error and code in d.error
    assert any("denied fail-closed" in r for r in d.reasons)
    assert d.case_id is None and d.licence_id is None
    # The denial is audited with the error.
    [rec] = [r for r in audit_records(tmp_path) if r["kind"] == "decision"]
    assert rec["decision"] == "deny" and code in str(rec["error"])


def test_failed_drawdown_fails_closed_and_draws_nothing(ddb_gk: Gatekeeper) -> None:
    ddb_gk.store.licences.put_licence(licence("L-1", quantity=16))
    inject_error(ddb_gk.store.db.client, "UpdateItem", "InternalServerError", status=500)
    d = ddb_gk.decide(request())
    assert d.outcome == Outcome.DENY and d.licence_id is None
    assert d.error is not None and "update_item" in d.error and "InternalServerError" in d.error
    assert ddb_gk.store.licences.get_licence("L-1").remaining == 16


def test_missing_tables_name_the_fix(local_dynamodb: LocalDynamoDB, tmp_path: Path) -> None:
    url = local_dynamodb.url(f"gk-{uuid.uuid4().hex[:12]}")  # no store init
    gk = Gatekeeper(make_config(tmp_path, url))
    try:
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY
        assert d.error is not None and "gatekeeper store init" in d.error
    finally:
        gk.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_endpoint_down_fails_closed(local_dynamodb: LocalDynamoDB, tmp_path: Path) -> None:
    url = f"dynamodb://gk-down?region=us-east-1&endpoint_url=http://127.0.0.1:{_closed_port()}&max_attempts=1"
    gk = Gatekeeper(make_config(tmp_path, url))
    try:
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY
        assert d.error is not None and "DynamoDB unavailable" in d.error
        with pytest.raises(StoreError, match="DynamoDB unavailable"):
            gk.store.cases.list_cases()
    finally:
        gk.close()


def test_endpoint_down_with_on_error_allow_flags(local_dynamodb: LocalDynamoDB, tmp_path: Path) -> None:
    url = f"dynamodb://gk-down?region=us-east-1&endpoint_url=http://127.0.0.1:{_closed_port()}&max_attempts=1"
    cfg = make_config(tmp_path, url).model_copy(update={"on_error": "allow"})
    gk = Gatekeeper(cfg)
    try:
        d = gk.decide(request())
        assert d.outcome == Outcome.FLAG and d.error is not None and "DynamoDB unavailable" in d.error
    finally:
        gk.close()


def test_corrupt_sqlite_store_fails_closed(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not a database" * 100)
    gk = Gatekeeper(make_config(tmp_path, f"sqlite:///{db}"))
    try:
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY and d.error is not None and "StoreError" in d.error
    finally:
        gk.close()


class _FailingAudit:
    """An audit sink whose disk is full for one kind of event."""

    def __init__(self, fail_kind: str) -> None:
        self.fail_kind = fail_kind
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        if record.get("kind") == self.fail_kind:
            raise AuditError("injected: no space left on device")
        self.records.append(record)
        return record

    def close(self) -> None:
        pass


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_unrecorded_draw_is_given_back(backend: str, request_fixture: Any, tmp_path: Path) -> None:
    url = request_fixture(backend)
    sink = _FailingAudit("licence.drawn")
    gk = Gatekeeper(make_config(tmp_path, url), audit=sink)
    try:
        from tests.conftest import SAMPLE_PROFILES

        gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
        gk.store.licences.put_licence(licence("L-1", quantity=8))
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY and d.error is not None and "no space left" in d.error
        assert gk.store.licences.get_licence("L-1").remaining == 8
        assert [r["decision"] for r in sink.records if r["kind"] == "decision"] == ["deny"]
    finally:
        gk.close()


def test_unrecorded_case_event_denies(tmp_path: Path) -> None:
    sink = _FailingAudit("case.opened")
    gk = Gatekeeper(make_config(tmp_path, f"sqlite:///{tmp_path}/state.db"), audit=sink)
    try:
        from tests.conftest import SAMPLE_PROFILES

        gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY and d.error is not None and "AuditError" in d.error
    finally:
        gk.close()


def test_store_error_on_approval_changes_nothing(ddb_gk: Gatekeeper) -> None:
    case_id = ddb_gk.decide(request()).case_id
    assert case_id is not None
    inject_error(ddb_gk.store.db.client, "TransactWriteItems", "InternalServerError", status=500)
    with pytest.raises(StoreError, match="InternalServerError"):
        workflow_of(ddb_gk).approve(case_id, reviewer="alice", licence_number="L-1",
                               expires=workflow_of(ddb_gk).today() + timedelta(days=30))
    assert ddb_gk.store.licences.get_licence("L-1") is None
    assert workflow_of(ddb_gk).get_case(case_id).status == "open"


@pytest.fixture
def request_fixture(local_dynamodb: LocalDynamoDB, tmp_path: Path) -> Any:
    def make(backend: str) -> str:
        url = (f"sqlite:///{tmp_path}/state.db" if backend == "sqlite"
               else local_dynamodb.url(f"gk-{uuid.uuid4().hex[:12]}"))
        open_store(url, base_dir=tmp_path).init()
        return url
    return make


def test_config_for_dynamodb_without_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from gatekeeper.errors import ConfigError

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigError, match="names no region"):
        open_store("dynamodb://gk-prefix")
    gk = Gatekeeper(Config(store=StoreConfig(url="dynamodb://gk-prefix"),
                           audit=make_config(tmp_path, "sqlite:///x.db").audit))
    try:
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY and d.error is not None and "names no region" in d.error
    finally:
        gk.close()


def test_unrecorded_exhaustion_still_allows(tmp_path: Path) -> None:
    """licence.drawn (with remaining 0) is durable; a failure to add licence.exhausted does not undo the draw."""
    sink = _FailingAudit("licence.exhausted")
    gk = Gatekeeper(make_config(tmp_path, f"sqlite:///{tmp_path}/state.db"), audit=sink)
    try:
        from tests.conftest import SAMPLE_PROFILES

        gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
        gk.store.licences.put_licence(licence("L-1", quantity=8))
        d = gk.decide(request())
        assert d.outcome == Outcome.ALLOW and d.licence_id == "L-1" and d.error is None
        assert gk.store.licences.get_licence("L-1").remaining == 0
        [drawn] = [r for r in sink.records if r["kind"] == "licence.drawn"]
        assert drawn["data"]["remaining"] == 0
    finally:
        gk.close()
