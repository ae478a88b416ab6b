"""The two-step path (``decide_deferred`` then ``confirm``): a call allowed under a licence whose record's
sync then fails is denied, and the licence quantity it drew is given back.

Real boto3 against moto in process, the real file log and SQLite store; the syncs are made to fail
(``tests.audit.conftest.fail_syncs``, the kernel sync of the two-step append included) only once the
guard has decided and drawn (the draw's own ``licence.drawn`` record is durable, synced in one step),
so that it is the decision's sync at ``confirm`` that fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import gatekeeper
from gatekeeper import runtime
from gatekeeper.adapters.aws import ExportControlDenied
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.cases import AMI, GPU
from tests.adapters.aws.conftest import CN_HQ, Aws, Sent, TeeAudit, make_gatekeeper
from tests.audit.conftest import fail_syncs
from tests.stores.backends import licence


def _remaining(gk: Gatekeeper) -> float:
    lic = gk.store.licences.get_licence("L-1")
    assert lic is not None
    return float(lic.remaining)


def _protected(aws: Aws, monkeypatch: pytest.MonkeyPatch, sent: Sent) -> Any:
    ec2 = gatekeeper.aws.protect(aws.raw("ec2"), acting_for=CN_HQ)
    # After the guard's decision (and its draw), before the request is built: syncs fail from here.
    ec2.meta.events.register_last("before-parameter-build.ec2.RunInstances",
                                  lambda **_: fail_syncs(monkeypatch, OSError(5, "Input/output error")))
    ec2.meta.events.register_first("before-send.ec2", sent)
    return ec2


def _run(ec2: Any) -> Any:
    return ec2.run_instances(ImageId=AMI, InstanceType=GPU, MinCount=1, MaxCount=1)


def _licensed(gk: Gatekeeper) -> None:
    gk.store.licences.put_licence(licence("L-1", quantity=16, account=CN_HQ))


def test_a_failed_sync_at_confirm_denies_and_gives_the_draw_back(
        inproc: Aws, gk: Gatekeeper, audit: TeeAudit, monkeypatch: pytest.MonkeyPatch) -> None:
    _licensed(gk)
    before = _remaining(gk)
    sent = Sent()
    ec2 = _protected(inproc, monkeypatch, sent)
    with capture_logs() as logs, pytest.raises(ExportControlDenied) as err:
        _run(ec2)
    monkeypatch.undo()
    reasons = err.value.response["Gatekeeper"]["reasons"]
    assert any("audit log unavailable" in r for r in reasons)
    assert any("allowed under" in r for r in reasons)  # it was allowed under the licence, then denied
    assert sent.operations == []
    assert _remaining(gk) == before
    [drawn] = [r for r in audit.records if r["kind"] == "licence.drawn"]
    decision_id = drawn["data"]["decision_id"]
    [refunded] = [e for e in logs if e["event"] == "licence.refunded"]
    assert refunded["licence"] == "L-1" and refunded["decision_id"] == decision_id and refunded["quantity"] == 8
    # The log refuses further records after a failed sync: the refund could not be recorded; said so.
    [unrecorded] = [e for e in logs if e["event"] == "licence.refund_unrecorded"]
    assert unrecorded["log_level"] == "error" and unrecorded["decision_id"] == decision_id


def test_with_on_error_allow_a_failed_sync_lets_the_call_through_and_the_draw_stands(
        inproc: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gk, _ = make_gatekeeper(tmp_path, on_error="allow")
    try:
        _licensed(gk)
        sent = Sent()
        ec2 = _protected(inproc, monkeypatch, sent)
        with capture_logs() as logs:
            assert _run(ec2)["Instances"]
        monkeypatch.undo()
        assert sent.operations == ["RunInstances"]  # provisioned: the quantity is used
        assert _remaining(gk) == 8
        assert not [e for e in logs if str(e["event"]).startswith("licence.refund")]
    finally:
        runtime.reset()
