"""A case counts a request only when its record is in the audit log (issue 15: 4 requests, 2 events).

The audit log is the real one (a FileAuditLog behind the witness), made to fail the way a real log
does: closed under the runtime, so that every append raises AuditError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from tests.stores.backends import audit_records, make_gatekeeper, request


def case_events(tmp_path: Path) -> list[dict[str, object]]:
    """The records of what the store did to cases (each follows the ``case.requested`` of its request)."""
    return [r for r in audit_records(tmp_path) if r["kind"] in ("case.opened", "case.joined")]


def requested(tmp_path: Path) -> int:
    return sum(r["kind"] == "case.requested" for r in audit_records(tmp_path))


@pytest.mark.parametrize("store_url", ["sqlite", "dynamodb"], indirect=True)
def test_a_request_whose_record_fails_does_not_count_on_the_case(store_url: str, tmp_path: Path) -> None:
    gk: Gatekeeper = make_gatekeeper(tmp_path, store_url)
    try:
        first, second = gk.decide(request()), gk.decide(request())
        assert first.outcome == second.outcome == Outcome.PENDING and first.case_id == second.case_id
        gk.audit.close()  # the log fails from now on: every append raises AuditError
        for _ in range(2):
            d = gk.decide(request())
            assert d.outcome == Outcome.DENY and d.error is not None and "AuditError" in d.error
            assert d.case_id is None
        case = gk.store.cases.get_case(first.case_id)
        assert case is not None and case.request_count == 2 and len(case.requests) == 2
        assert [e["kind"] for e in case_events(tmp_path)] == ["case.opened", "case.joined"]
        assert requested(tmp_path) == 2
        gk.close_audit()  # the log is reopened with the next record: counting resumes, in step
        third = gk.decide(request())
        assert third.outcome == Outcome.PENDING and third.case_id == first.case_id
        case = gk.store.cases.get_case(first.case_id)
        assert case is not None and case.request_count == 3
        events = case_events(tmp_path)
        assert [e["kind"] for e in events] == ["case.opened", "case.joined", "case.joined"]
        assert events[-1]["data"]["requests"] == 3 and requested(tmp_path) == 3  # type: ignore[index]
    finally:
        gk.close()


def test_no_case_is_opened_when_its_record_cannot_be_written(tmp_path: Path) -> None:
    gk = make_gatekeeper(tmp_path, f"sqlite:///{tmp_path}/state.db")
    try:
        gk.audit.close()
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY and d.error is not None and "is closed" in d.error
        assert gk.store.cases.list_cases() == [] and requested(tmp_path) == 0
    finally:
        gk.close()
