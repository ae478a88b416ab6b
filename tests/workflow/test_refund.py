"""A decision that drew on a licence and was then denied because its record failed gives the draw back.

Against each store (SQLite, a real PostgreSQL server, DynamoDB on moto), with the real file audit log
failing for decision records only (``tests.audit_faults.fail_audit``): the draw's own record
(``licence.drawn``) is durable, the decision's is not, so the call is denied and the licence's
remaining quantity must be what it was before. With ``on_error = "allow"`` (and in shadow mode) the
call proceeds, and the draw stands. The two-step path of the AWS wrapper: tests/adapters/aws/test_licence_refund.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from gatekeeper.stores import open_store
from gatekeeper.stores.testing import LocalDynamoDB
from tests.audit_faults import INJECTED, fail_audit
from tests.stores.backends import audit_records, licence, make_config, make_gatekeeper, request
from tests.workflow.test_fail_closed import inject_error


def _kinds(tmp_path: Path) -> list[str]:
    """The kinds of the records in the log, but the log's own (``audit.segment``...)."""
    return [str(r["kind"]) for r in audit_records(tmp_path) if not str(r["kind"]).startswith("audit.")]


def _remaining(gk: Gatekeeper, number: str = "L-1") -> float:
    lic = gk.store.licences.get_licence(number)
    assert lic is not None
    return float(lic.remaining)


@pytest.fixture
def gk(store_url: str, tmp_path: Path) -> Any:
    g = make_gatekeeper(tmp_path, store_url)
    yield g
    g.close()


def test_a_failed_decision_record_gives_the_draw_back(gk: Gatekeeper, tmp_path: Path) -> None:
    gk.store.licences.put_licence(licence("L-1", quantity=16))
    before = _remaining(gk)
    fail_audit(gk, "decision")
    d = gk.decide(request())  # one p4d: 8 A100
    assert d.outcome == Outcome.DENY and d.blocks and d.licence_id == "L-1"
    assert d.error is not None and INJECTED in d.error
    assert _remaining(gk) == before
    assert _kinds(tmp_path) == ["licence.drawn", "licence.refunded"]  # the decision itself could not be written
    refunded = audit_records(tmp_path)[-1]["data"]
    assert refunded["licence_number"] == "L-1" and refunded["decision_id"] == d.decision_id  # type: ignore[index]
    assert refunded["quantity"] == 8  # type: ignore[index]


def test_a_refund_is_never_applied_twice(gk: Gatekeeper, tmp_path: Path) -> None:
    gk.store.licences.put_licence(licence("L-1", quantity=16))
    sink = fail_audit(gk, "decision")
    denied = gk.decide(request())
    assert denied.outcome == Outcome.DENY and _remaining(gk) == 16
    sink.heal()
    allowed = gk.decide(request())  # another decision draws: room for a wrong second credit
    assert allowed.outcome == Outcome.ALLOW and _remaining(gk) == 8
    with capture_logs() as logs:
        gk.permits.refund(denied)
    assert _remaining(gk) == 8
    assert [e["event"] for e in logs] == ["licence.refund_repeated"]
    assert _kinds(tmp_path).count("licence.refunded") == 1


def test_with_on_error_allow_the_call_proceeds_and_the_draw_stands(store_url: str, tmp_path: Path) -> None:
    from tests.conftest import SAMPLE_PROFILES

    gk = Gatekeeper(make_config(tmp_path, store_url).model_copy(update={"on_error": "allow"}))
    try:
        gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
        gk.store.licences.put_licence(licence("L-1", quantity=16))
        fail_audit(gk, "decision")
        d = gk.decide(request())
        assert d.outcome == Outcome.ALLOW and not d.blocks and d.error is not None and INJECTED in d.error
        assert _remaining(gk) == 8
        assert "licence.refunded" not in _kinds(tmp_path)
    finally:
        gk.close()


def test_in_shadow_mode_a_denied_call_proceeds_and_the_draw_stands(tmp_path: Path) -> None:
    from tests.conftest import SAMPLE_PROFILES

    cfg = make_config(tmp_path, f"sqlite:///{tmp_path}/state.db").model_copy(update={"mode": "shadow"})
    gk = Gatekeeper(cfg)
    try:
        gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
        gk.store.licences.put_licence(licence("L-1", quantity=16))
        fail_audit(gk, "decision")
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY and not d.blocks  # shadow: the call is not stopped
        assert _remaining(gk) == 8
    finally:
        gk.close()


def test_a_refund_the_store_refuses_is_logged_and_the_denial_stands(local_dynamodb: LocalDynamoDB,
                                                                       tmp_path: Path) -> None:
    """The store is unreachable when the refund is made (DynamoDB answering 500 from then on): the
    denial stands, the draw stays drawn, and the error is logged with the licence and decision ids."""
    url = local_dynamodb.url(f"gk-{uuid.uuid4().hex[:12]}")
    open_store(url).init()
    gk = make_gatekeeper(tmp_path, url)
    try:
        gk.store.licences.put_licence(licence("L-1", quantity=16))
        client = gk.store.db.client
        sink = fail_audit(gk, "decision")
        real_append = sink.append

        def append(record: dict[str, Any]) -> dict[str, Any]:
            if record.get("kind") == "decision":  # the store goes down as the decision's record fails
                for op in ("GetItem", "UpdateItem"):
                    inject_error(client, op, "InternalServerError", status=500)
            return real_append(record)

        sink.append = append  # type: ignore[method-assign]
        with capture_logs() as logs:
            d = gk.decide(request())
        assert d.outcome == Outcome.DENY and d.blocks and d.licence_id == "L-1"
        [failed] = [e for e in logs if e["event"] == "licence.refund_failed"]
        assert failed["log_level"] == "error" and failed["licence"] == "L-1"
        assert failed["decision_id"] == d.decision_id and failed["quantity"] == 8
        assert "InternalServerError" in failed["error"]
    finally:
        gk.close()
    reopened = open_store(url)
    try:
        lic = reopened.licences.get_licence("L-1")
        assert lic is not None and lic.remaining == 8  # drawn, not given back: never over-credited
    finally:
        reopened.close()

