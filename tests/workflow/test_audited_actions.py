"""Reviewers' actions are recorded before they are committed: nothing lost, nothing forged.

For approve (first of two, and final), deny and revoke, on every store backend:

* the audit log refusing the record leaves the store exactly as it was (AuditError naming the action);
* the happy path writes exactly the action's records, each once, with the time its change carries;
* a commit failing after its record (SQLite locked by another process, DynamoDB answering errors) is
  followed by a ``..._failed`` record voiding it, and the store is unchanged;
* a concurrent change that wins (a request joining the case meanwhile) voids the record with
  ``retried`` and the action is recorded afresh, once, as committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import StoreConfig
from gatekeeper.errors import AuditError, StoreError
from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from gatekeeper.workflow import workflow_of
from tests.audit_faults import INJECTED, fail_audit
from tests.stores.backends import Clock, audit_records, make_config, make_gatekeeper, request
from tests.workflow.test_fail_closed import inject_error

REQUESTER = "arn:aws:iam::222222222222:user/dev"
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
EXPIRES = START.date() + timedelta(days=90)

# action name -> (approvals required, what the action writes, the follow-up kind)
ACTIONS = {
    "approve": (1, ["case.approved", "licence.issued"], "case.approve_failed"),
    "first-approval": (2, ["case.approval"], "case.approve_failed"),
    "deny": (1, ["case.denied"], "case.deny_failed"),
    "revoke": (1, ["licence.revoked"], "licence.revoke_failed"),
}


def _open_case(gk: Gatekeeper, principal: str = REQUESTER) -> str:
    d = gk.decide(request(principal=principal))
    assert d.outcome == Outcome.PENDING and d.case_id
    return d.case_id


def _prepare(gk: Gatekeeper, action: str) -> tuple[str, Callable[[], Any]]:
    """Open a case (and for ``revoke`` issue its licence); the case id and the action to try."""
    case_id = _open_case(gk)
    wf = workflow_of(gk)
    if action == "revoke":
        wf.approve(case_id, reviewer="alice", licence_number="L-1", expires=EXPIRES)
        return case_id, lambda: wf.revoke("L-1", by="bob", reason="end-use check failed")
    if action == "deny":
        return case_id, lambda: wf.deny(case_id, reviewer="carol", reason="military end user")
    return case_id, lambda: wf.approve(case_id, reviewer="alice", licence_number="L-2", expires=EXPIRES)


def _state(gk: Gatekeeper, case_id: str) -> tuple[Any, ...]:
    """Everything a reviewer's action could change in the store."""
    case = workflow_of(gk).get_case(case_id)
    licences = sorted((lic.number, lic.status, lic.remaining, lic.revoked_by) for lic in
                      gk.store.licences.list_licences())
    return case.status, case.version, case.approvals, case.history, case.denial_reason, licences


def _kinds(records: list[dict[str, Any]]) -> list[str]:
    return [str(r["kind"]) for r in records]


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def make(store_url: str, tmp_path: Path, clock: Clock) -> Iterator[Callable[[int], Gatekeeper]]:
    made: list[Gatekeeper] = []

    def build(approvals: int) -> Gatekeeper:
        gk = make_gatekeeper(tmp_path, store_url, clock=clock, approvals=approvals)
        made.append(gk)
        return gk

    yield build
    for gk in made:
        gk.close()


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_record_that_cannot_be_written_changes_nothing(make: Callable[[int], Gatekeeper], tmp_path: Path,
                                                        action: str) -> None:
    approvals, kinds, _ = ACTIONS[action]
    gk = make(approvals)
    case_id, act = _prepare(gk, action)
    before, written = _state(gk, case_id), len(audit_records(tmp_path))
    sink = fail_audit(gk)
    verb = "revoked" if action == "revoke" else "denied" if action == "deny" else "approved"
    with pytest.raises(AuditError, match=f"was not {verb}: its audit record .* could not be written, so nothing "
                                         f"was changed .*{INJECTED}"):
        act()
    assert sink.failed == kinds[:1]  # refused at the first record: nothing else was tried
    assert _state(gk, case_id) == before
    assert len(audit_records(tmp_path)) == written
    sink.heal()  # the same action then goes through: nothing was left half done
    act()
    assert _kinds(audit_records(tmp_path)[written:]) == kinds


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_writes_its_records_once_with_the_time_of_its_change(make: Callable[[int], Gatekeeper],
                                                                         tmp_path: Path, action: str) -> None:
    approvals, kinds, _ = ACTIONS[action]
    gk = make(approvals)
    case_id, act = _prepare(gk, action)
    written = len(audit_records(tmp_path))
    act()
    new = audit_records(tmp_path)[written:]
    assert _kinds(new) == kinds
    case = workflow_of(gk).get_case(case_id)
    data: dict[str, Any] = new[0]["data"]  # type: ignore[assignment]
    if action == "revoke":
        lic = workflow_of(gk).get_licence("L-1")
        assert lic.status == "revoked" and lic.revoked_at is not None
        assert data == {"licence_number": "L-1", "by": "bob", "reason": "end-use check failed", "provider": "aws",
                        "account_id": case.account_id, "remaining": 8.0, "at": lic.revoked_at.isoformat()}
        assert new[0]["actor"] == "bob"
        return
    last = case.history[-1]
    assert data["case_id"] == case_id and data["at"] == last.at.isoformat()
    if action == "deny":
        assert case.status == "denied" and last.action == "denied"
        assert data == {"case_id": case_id, "reviewer": "carol", "reason": "military end user", "provider": "aws",
                        "account_id": case.account_id, "at": last.at.isoformat()}
    elif action == "first-approval":
        assert case.status == "open" and data["approvals"] == 1 and data["required"] == 2
        assert data["terms"]["licence_number"] == "L-2" and data["reviewer"] == "alice"
    else:
        assert case.status == "approved" and data["approvers"] == ["alice"] and data["licence_number"] == "L-2"
        issued: dict[str, Any] = new[1]["data"]  # type: ignore[assignment]
        lic = workflow_of(gk).get_licence("L-2")
        assert issued["licence_number"] == "L-2" and issued["quantity"] == lic.quantity == 8
        assert issued["valid_until"] == EXPIRES.isoformat() and issued["at"] == data["at"]
    assert all(r["actor"] == ("carol" if action == "deny" else "alice") for r in new)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_final_approval_whose_second_record_fails_voids_the_first(make: Callable[[int], Gatekeeper],
                                                                    tmp_path: Path) -> None:
    gk = make(1)
    case_id, act = _prepare(gk, "approve")
    before, written = _state(gk, case_id), len(audit_records(tmp_path))
    fail_audit(gk, "licence.issued")
    with pytest.raises(AuditError, match="was not approved"):
        act()
    assert _state(gk, case_id) == before and gk.store.licences.get_licence("L-2") is None
    approved, failed = audit_records(tmp_path)[written:]
    assert approved["kind"] == "case.approved" and failed["kind"] == "case.approve_failed"
    data: dict[str, Any] = failed["data"]  # type: ignore[assignment]
    assert data["voids"] == [approved["seq"]] and INJECTED in data["error"] and data["case_id"] == case_id


# -- the commit fails after the record ---------------------------------------------------------
@pytest.fixture
def locked_sqlite(tmp_path: Path, clock: Clock) -> Iterator[tuple[Gatekeeper, Callable[[], None]]]:
    """A SQLite gatekeeper that waits 0.2 s for a lock, and a function that takes the lock as another
    process would (released at the end)."""
    url = f"sqlite:///{tmp_path}/state.db"
    cfg = make_config(tmp_path, url)
    cfg = cfg.model_copy(update={"store": StoreConfig(url=url, create=True, timeout_seconds=0.2)})
    gk = Gatekeeper(cfg, clock=clock)
    from tests.conftest import SAMPLE_PROFILES

    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)

    def lock() -> None:
        other.execute("BEGIN IMMEDIATE")

    yield gk, lock
    other.close()
    gk.close()


@pytest.mark.parametrize("action", ["approve", "deny", "revoke"])
def test_a_commit_that_fails_after_its_record_is_marked_failed_sqlite(
        locked_sqlite: tuple[Gatekeeper, Callable[[], None]], tmp_path: Path, action: str) -> None:
    gk, lock = locked_sqlite
    case_id, act = _prepare(gk, action)
    before, written = _state(gk, case_id), len(audit_records(tmp_path))
    lock()  # another process holds the write lock: reads go on, the commit cannot
    with pytest.raises(StoreError, match="lock"):
        act()
    _assert_voided(gk, tmp_path, case_id, action, before, written)


@pytest.mark.parametrize("store_url", ["dynamodb"], indirect=True)
@pytest.mark.parametrize("action", ["approve", "deny", "revoke"])
def test_a_commit_that_fails_after_its_record_is_marked_failed_dynamodb(
        make: Callable[[int], Gatekeeper], tmp_path: Path, action: str) -> None:
    gk = make(1)
    case_id, act = _prepare(gk, action)
    before, written = _state(gk, case_id), len(audit_records(tmp_path))
    for operation in ("TransactWriteItems", "UpdateItem"):
        inject_error(gk.store.db.client, operation, "InternalServerError", status=500)
    with pytest.raises(StoreError, match="InternalServerError"):
        act()
    _assert_voided(gk, tmp_path, case_id, action, before, written)


def _assert_voided(gk: Gatekeeper, tmp_path: Path, case_id: str, action: str, before: tuple[Any, ...],
                   written: int) -> None:
    _, kinds, failed_kind = ACTIONS[action]
    assert _state(gk, case_id) == before
    new = audit_records(tmp_path)[written:]
    assert _kinds(new) == [*kinds, failed_kind]
    failed: dict[str, Any] = new[-1]["data"]  # type: ignore[assignment]
    assert failed["voids"] == [r["seq"] for r in new[:-1]]
    assert failed["error"].startswith("StoreError: ") and "retried" not in failed
    assert new[-1]["actor"] == new[0]["actor"]


def test_a_follow_up_that_cannot_be_written_leaves_a_record_found_by_its_time_and_actor(
        locked_sqlite: tuple[Gatekeeper, Callable[[], None]], tmp_path: Path) -> None:
    """The audit log fails between the record and the follow-up: the store error is still the one
    raised, and the record without its change is the one whose time, actor and action no history
    entry carries."""
    gk, lock = locked_sqlite
    case_id, act = _prepare(gk, "deny")
    written = len(audit_records(tmp_path))
    sink = fail_audit(gk, "case.deny_failed")
    lock()
    with pytest.raises(StoreError):
        act()
    assert sink.failed == ["case.deny_failed"]
    [denied] = audit_records(tmp_path)[written:]
    data: dict[str, Any] = denied["data"]  # type: ignore[assignment]
    case = workflow_of(gk).get_case(case_id)
    assert denied["kind"] == "case.denied" and case.status == "open"
    carried = {(h.at.isoformat(), h.actor, h.action) for h in case.history}
    assert (data["at"], denied["actor"], "denied") not in carried


# -- a concurrent change wins --------------------------------------------------------------------
class _JoinBeforeCommit:
    """The real log; when the reviewer's record is appended, a request joins the case first (as
    another decider would between the reviewer's read and commit)."""

    def __init__(self, gk: Gatekeeper, kind: str) -> None:
        self.gk, self.inner, self.kind, self.joined = gk, gk.audit, kind, False

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        if record.get("kind") == self.kind and not self.joined:
            self.joined = True
            assert self.gk.decide(request(principal="ops-2")).outcome == Outcome.PENDING
        out: dict[str, Any] = self.inner.append(record)
        return out

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("store_url", ["sqlite", "dynamodb"], indirect=True)
@pytest.mark.parametrize("action", ["deny", "approve"])
def test_a_lost_race_voids_the_record_and_the_action_is_recorded_again(
        make: Callable[[int], Gatekeeper], tmp_path: Path, action: str) -> None:
    gk = make(1)
    case_id, act = _prepare(gk, action)
    _, kinds, failed_kind = ACTIONS[action]
    written = len(audit_records(tmp_path))
    gk._audit = _JoinBeforeCommit(gk, kinds[0])
    act()
    new = [r for r in audit_records(tmp_path)[written:] if r["kind"] in (*kinds, failed_kind)]
    assert _kinds(new) == [*kinds, failed_kind, *kinds]
    failed: dict[str, Any] = new[len(kinds)]["data"]  # type: ignore[assignment]
    assert failed["retried"] is True and failed["error"].startswith("ConflictError: ")
    assert failed["voids"] == [r["seq"] for r in new[:len(kinds)]]
    case = workflow_of(gk).get_case(case_id)
    assert case.status == ("denied" if action == "deny" else "approved") and case.request_count == 2
    assert new[-len(kinds)]["data"]["at"] == case.history[-1].at.isoformat()  # type: ignore[index]


class _FullDisk:
    """A sink whose disk is full: appends fail with the OSError the kernel gives, not an AuditError."""

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_any_failure_of_the_sink_is_an_audit_error_naming_the_action(make: Callable[[int], Gatekeeper]) -> None:
    gk = make(1)
    case_id, act = _prepare(gk, "deny")
    before = _state(gk, case_id)
    gk._audit = _FullDisk()
    with pytest.raises(AuditError, match=r"was not denied: .*OSError: \[Errno 28\] No space left on device"):
        act()
    with pytest.raises(AuditError, match="the audit log could not be written: OSError"):
        gk.record_event("case.denied", "carol", {})  # the runtime's own contract: AuditError on failure
    assert _state(gk, case_id) == before
