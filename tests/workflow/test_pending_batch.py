"""A pending decision's records: ``case.requested`` durable before the store counts the request, then
what the store did (``case.opened`` / ``case.joined``) and the decision record in one durable batch:
two syncs of the real audit log (counted at the OS's fdatasync), in the same order as before; a batch
that fails fails the decision closed as a failed case event did."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from tests.audit_faults import INJECTED, fail_audit
from tests.stores.backends import audit_records, make_gatekeeper, request


def _count_syncs(monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> list[int]:
    """Count the OS's fdatasync calls (each still made); with ``fail_at``, that call fails with EIO."""
    real, calls = os.fdatasync, [0]

    def fdatasync(fd: int) -> None:
        calls[0] += 1
        if calls[0] == fail_at:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return calls


@pytest.fixture
def gk(tmp_path: Path) -> Any:
    gk = make_gatekeeper(tmp_path, f"sqlite:///{tmp_path}/state.db")
    gk.record_event("test.warm_up", "tests", {})  # the log opened (its first segment created) beforehand
    yield gk
    gk.close()


def _kinds(tmp_path: Path) -> list[str]:
    return [str(r["kind"]) for r in audit_records(tmp_path) if r["kind"] != "audit.segment"]


def test_a_pending_decision_costs_two_syncs_in_the_same_order(gk: Gatekeeper, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = _count_syncs(monkeypatch)
    opened = gk.decide(request())
    assert opened.outcome == Outcome.PENDING and opened.case_id is not None
    assert syncs[0] == 2  # case.requested, then [case.opened, decision]
    joined = gk.decide(request())
    assert joined.outcome == Outcome.PENDING and joined.case_id == opened.case_id
    assert syncs[0] == 4
    monkeypatch.undo()
    assert _kinds(tmp_path) == ["test.warm_up", "case.requested", "case.opened", "decision",
                                "case.requested", "case.joined", "decision"]
    records = audit_records(tmp_path)
    event, decision = records[-5], records[-4]
    assert event["data"]["case_id"] == decision["case_id"] == opened.case_id  # type: ignore[index]
    assert event["data"]["decision_id"] == decision["decision_id"] == opened.decision_id  # type: ignore[index]
    assert decision["seq"] == event["seq"] + 1 and decision["prev_hash"] == event["hash"]  # type: ignore[operator]
    assert decision["decision"] == "pending"
    assert records[-1]["decision_id"] == joined.decision_id and records[-2]["data"]["requests"] == 2  # type: ignore[index]


def test_a_failed_sync_of_the_batch_denies_and_leaves_neither_record(gk: Gatekeeper, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync of [case.opened, decision] fails (EIO): the decision is denied, fail-closed, and neither
    record is in the log (cut back; the log refuses further records, so the denial is not recorded
    either), while case.requested, durable before the store counted the request, stays."""
    syncs = _count_syncs(monkeypatch, fail_at=2)
    d = gk.decide(request())
    assert syncs[0] >= 2
    assert d.outcome == Outcome.DENY and d.blocks and d.error is not None and "fsync" in d.error
    monkeypatch.undo()
    assert _kinds(tmp_path) == ["test.warm_up", "case.requested"]
    [case] = gk.store.cases.list_cases()
    assert case.request_count == 1  # as when the case event's own record failed before


def test_a_refused_batch_denies_as_a_refused_case_event_did(gk: Gatekeeper, tmp_path: Path) -> None:
    """The log refuses the batch (a full disk, injected for case.opened): the decision becomes the
    error decision, recorded on its own (what happened before when case.opened's record failed)."""
    sink = fail_audit(gk, "case.opened")
    d = gk.decide(request())
    assert d.outcome == Outcome.DENY and d.error is not None and INJECTED in d.error
    assert sink.failed == ["case.opened", "decision"]  # one batch, refused whole
    assert _kinds(tmp_path) == ["test.warm_up", "case.requested", "decision"]
    assert audit_records(tmp_path)[-1]["decision"] == "deny"


def test_a_sink_without_append_many_gets_the_records_one_by_one(tmp_path: Path) -> None:
    """A custom sink with only ``append``: the same records, in the same order."""
    from gatekeeper.testing import ListAuditSink

    class OnlyAppend:
        def __init__(self) -> None:
            self.inner = ListAuditSink()

        def append(self, record: dict[str, Any]) -> dict[str, Any]:
            return self.inner.append(record)

        def close(self) -> None:
            pass

    sink = OnlyAppend()
    g = make_gatekeeper(tmp_path, f"sqlite:///{tmp_path}/state.db")
    g._audit = sink  # type: ignore[assignment]
    try:
        assert g.decide(request()).outcome == Outcome.PENDING
    finally:
        g.close()
    assert [r["kind"] for r in sink.inner.records] == ["case.requested", "case.opened", "decision"]
