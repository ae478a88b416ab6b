"""Reviewers' actions: separation of duties, two approvers, denial, revocation, and bad input.

Each refused action is checked to change nothing: the case, the licences and the audit log are the
same afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.errors import InvalidInputError, NotFoundError, WorkflowError
from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from gatekeeper.workflow import workflow_of
from tests.stores.backends import Clock, audit_records, make_gatekeeper, request

REQUESTER = "arn:aws:iam::222222222222:user/dev"
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def gk(store_url: str, tmp_path: Path, clock: Clock) -> Any:
    g = make_gatekeeper(tmp_path, store_url, clock=clock)
    yield g
    g.close()


@pytest.fixture
def gk2(store_url: str, tmp_path: Path, clock: Clock) -> Any:
    """Two distinct approvers required."""
    g = make_gatekeeper(tmp_path, store_url, clock=clock, approvals=2)
    yield g
    g.close()


def _snapshot(gk: Gatekeeper, case_id: str, tmp_path: Path) -> tuple[Any, ...]:
    case = workflow_of(gk).get_case(case_id)
    return (case.status, case.version, case.approvals, case.history, len(gk.store.licences.list_licences()),
            len(audit_records(tmp_path)))


def _open_case(gk: Gatekeeper, principal: str = REQUESTER) -> str:
    d = gk.decide(request(principal=principal))
    assert d.outcome == Outcome.PENDING and d.case_id
    return d.case_id


def _expires(gk: Gatekeeper, days: int = 60) -> Any:
    return workflow_of(gk).today() + timedelta(days=days)


@pytest.mark.parametrize("reviewer", [REQUESTER, REQUESTER.upper(), f"  {REQUESTER} "])
def test_requester_cannot_approve(gk: Gatekeeper, tmp_path: Path, reviewer: str) -> None:
    case_id = _open_case(gk)
    before = _snapshot(gk, case_id, tmp_path)
    with pytest.raises(WorkflowError, match="separation of duties"):
        workflow_of(gk).approve(case_id, reviewer=reviewer, licence_number="L-1", expires=_expires(gk))
    assert _snapshot(gk, case_id, tmp_path) == before


def test_any_requester_of_the_case_is_excluded(gk: Gatekeeper, tmp_path: Path) -> None:
    case_id = _open_case(gk, "dev-1")
    assert _open_case(gk, "ops-2") == case_id  # joins
    with pytest.raises(WorkflowError, match="ops-2 made a request"):
        workflow_of(gk).approve(case_id, reviewer="ops-2", licence_number="L-1", expires=_expires(gk))
    case, lic = workflow_of(gk).approve(case_id, reviewer="alice", licence_number="L-1", expires=_expires(gk))
    assert case.status == "approved" and lic is not None


def test_unknown_case(gk: Gatekeeper) -> None:
    with pytest.raises(NotFoundError, match="no case 'case-nope'"):
        workflow_of(gk).approve("case-nope", reviewer="alice", licence_number="L-1", expires=_expires(gk))
    with pytest.raises(NotFoundError):
        workflow_of(gk).deny("case-nope", reviewer="alice", reason="x")
    assert gk.store.licences.list_licences() == []


def test_past_expiry_is_refused(gk: Gatekeeper, tmp_path: Path) -> None:
    case_id = _open_case(gk)
    before = _snapshot(gk, case_id, tmp_path)
    with pytest.raises(InvalidInputError, match=r"the expiry date 2026-05-03 is in the past \(today is 2026-05-04\)"):
        workflow_of(gk).approve(case_id, reviewer="alice", licence_number="L-1",
                                expires=START.date() - timedelta(days=1))
    assert _snapshot(gk, case_id, tmp_path) == before


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"licence_number": ""}, "licence number"),
    ({"licence_number": "bad number!"}, "licence number"),
    ({"reviewer": " "}, "the reviewer must be named"),
    ({"quantity": 0}, "the quantity must be a positive"),
    ({"quantity": -8}, "the quantity must be a positive"),
    ({"regions": ("mars-north-1",)}, "not a known aws region"),
])
def test_bad_approval_input_is_refused(gk: Gatekeeper, tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    case_id = _open_case(gk)
    before = _snapshot(gk, case_id, tmp_path)
    args: dict[str, Any] = {"reviewer": "alice", "licence_number": "L-1", "expires": _expires(gk), **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        workflow_of(gk).approve(case_id, **args)
    assert _snapshot(gk, case_id, tmp_path) == before


def test_closed_cases_cannot_be_decided_again(gk: Gatekeeper, tmp_path: Path) -> None:
    approved_id = _open_case(gk)
    workflow_of(gk).approve(approved_id, reviewer="alice", licence_number="L-1", expires=_expires(gk))
    before = _snapshot(gk, approved_id, tmp_path)
    with pytest.raises(WorkflowError, match="is approved; only open cases"):
        workflow_of(gk).approve(approved_id, reviewer="bob", licence_number="L-2", expires=_expires(gk))
    with pytest.raises(WorkflowError, match="is approved"):
        workflow_of(gk).deny(approved_id, reviewer="bob", reason="changed my mind")
    assert _snapshot(gk, approved_id, tmp_path) == before
    assert gk.store.licences.get_licence("L-2") is None


def test_duplicate_licence_number_is_refused(gk: Gatekeeper, tmp_path: Path) -> None:
    first = _open_case(gk)
    workflow_of(gk).approve(first, reviewer="alice", licence_number="L-1", expires=_expires(gk), quantity=8)
    gk.decide(request())  # draws the 8
    second = _open_case(gk)
    before = _snapshot(gk, second, tmp_path)
    with pytest.raises(WorkflowError, match="'L-1' already exists"):
        workflow_of(gk).approve(second, reviewer="alice", licence_number="L-1", expires=_expires(gk))
    assert _snapshot(gk, second, tmp_path) == before


def test_approval_records_reviewer_and_time(gk: Gatekeeper, clock: Clock) -> None:
    case_id = _open_case(gk)
    clock.advance(hours=5)
    case, lic = workflow_of(gk).approve(case_id, reviewer="alice@compliance", licence_number="D-1",
                                   expires=_expires(gk), conditions="no transfer to third parties")
    assert lic is not None and lic.conditions == "no transfer to third parties"
    [approval] = case.approvals
    assert approval.reviewer == "alice@compliance" and approval.at == clock.now
    assert [(h.action, h.actor) for h in case.history] == [
        ("opened", REQUESTER), ("approval", "alice@compliance"), ("approved", "alice@compliance")]
    assert case.history[-1].at == clock.now


def test_two_approvers_required(gk2: Gatekeeper, tmp_path: Path) -> None:
    case_id = _open_case(gk2)
    terms = {"licence_number": "D-2", "expires": _expires(gk2), "quantity": 16.0}
    case, lic = workflow_of(gk2).approve(case_id, reviewer="alice", **terms)
    assert lic is None and case.status == "open" and [a.reviewer for a in case.approvals] == ["alice"]
    assert gk2.store.licences.get_licence("D-2") is None
    # Still held: one approval is not a licence.
    assert gk2.decide(request()).outcome == Outcome.PENDING

    before = _snapshot(gk2, case_id, tmp_path)
    with pytest.raises(WorkflowError, match="already approved"):
        workflow_of(gk2).approve(case_id, reviewer="ALICE", **terms)
    with pytest.raises(WorkflowError, match="terms differ from the first approval by alice"):
        workflow_of(gk2).approve(case_id, reviewer="bob", **{**terms, "quantity": 32.0})
    with pytest.raises(WorkflowError, match="separation of duties"):
        workflow_of(gk2).approve(case_id, reviewer=REQUESTER, **terms)
    assert _snapshot(gk2, case_id, tmp_path) == before

    case, lic = workflow_of(gk2).approve(case_id, reviewer="bob", **terms)
    assert case.status == "approved" and lic is not None and lic.approvers == ("alice", "bob")
    assert gk2.decide(request()).outcome == Outcome.ALLOW
    kinds = [r["kind"] for r in audit_records(tmp_path)]
    assert kinds.count("case.approval") == 1 and kinds.count("case.approved") == 1


def test_deny(gk: Gatekeeper, tmp_path: Path) -> None:
    case_id = _open_case(gk)
    for kwargs, match in (({"reviewer": "alice", "reason": "  "}, "a reason must say"),
                          ({"reviewer": "", "reason": "x"}, "reviewer must be named"),):
        with pytest.raises(InvalidInputError, match=match):
            workflow_of(gk).deny(case_id, **kwargs)
    with pytest.raises(WorkflowError, match="separation of duties"):
        workflow_of(gk).deny(case_id, reviewer=REQUESTER, reason="mine")
    case = workflow_of(gk).deny(case_id, reviewer="carol", reason="end user on the Entity List")
    assert case.status == "denied" and case.denial_reason == "end user on the Entity List"
    assert case.history[-1].actor == "carol" and case.history[-1].action == "denied"
    # Still held; the next request opens a new case.
    d = gk.decide(request())
    assert d.outcome == Outcome.PENDING and d.case_id != case_id
    [denied] = [r for r in audit_records(tmp_path) if r["kind"] == "case.denied"]
    assert denied["actor"] == "carol" and denied["data"]["reason"] == "end user on the Entity List"  # type: ignore[index]


def test_revoke_input(gk: Gatekeeper) -> None:
    with pytest.raises(NotFoundError, match="no licence 'L-404'"):
        workflow_of(gk).revoke("L-404", by="bob", reason="x")
    case_id = _open_case(gk)
    workflow_of(gk).approve(case_id, reviewer="alice", licence_number="L-1", expires=_expires(gk))
    with pytest.raises(InvalidInputError, match="a reason must say"):
        workflow_of(gk).revoke("L-1", by="bob", reason="")
    with pytest.raises(InvalidInputError, match="must be named"):
        workflow_of(gk).revoke("L-1", by="", reason="x")
    assert gk.store.licences.get_licence("L-1").status == "active"
    workflow_of(gk).revoke("L-1", by="bob", reason="x")
    with pytest.raises(WorkflowError, match="already revoked"):
        workflow_of(gk).revoke("L-1", by="bob", reason="again")


def test_case_content(gk: Gatekeeper) -> None:
    """A case holds the requests, the profile as it was, the accelerators and the rules with citations."""
    case_id = _open_case(gk)
    gk.decide(request(count=2, principal="ops"))
    # The customer's profile changes afterwards: the case keeps it as it was.
    from gatekeeper.model import CustomerProfile

    gk.store.profiles.put_profiles([CustomerProfile("aws", "222222222222", "Renamed Pte. Ltd.", "SG", "SG", "SG",
                                                    "verified")])
    case = workflow_of(gk).get_case(case_id)
    assert case.legal_name == "Lion City AI Pte. Ltd." and case.profile["ultimate_parent_country"] == "CN"
    assert [(r.principal, r.quantity, r.operation) for r in case.requests] == [
        (REQUESTER, 8, "RunInstances"), ("ops", 16, "RunInstances")]
    assert case.requests[0].items[0].instance_type == "p4d.24xlarge"
    assert case.requested_quantity == 24 and case.largest_request == 16
    [acc] = case.accelerators()
    assert acc["pd"] == 6.04 and acc["total_requested"] == 24 and acc["largest_request"] == 16
    assert all(r.citation for r in case.rules())
    data = case.as_json()
    assert data["requested_quantity"] == 24 and len(data["timeline"]) == 3
