"""The store contract (CaseStore, LicenceStore, ProfileStore), run against SQLite and DynamoDB alike."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.errors import ConflictError, NotFoundError, WorkflowError
from gatekeeper.model import CustomerProfile
from gatekeeper.stores import open_store
from gatekeeper.stores.base import CaseStore, LicenceStore, ProfileStore, StateStore
from gatekeeper.workflow.model import Approval, Case, CaseChange, CaseRequest, HistoryEntry, Scope
from tests.stores.backends import licence

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _case(case_id: str = "case-1", scope_key: str = "aws|222222222222|3A090.a", at: datetime = T0) -> Case:
    return Case(case_id=case_id, scope_key=scope_key, provider="aws", account_id="222222222222",
                legal_name="Lion City AI Pte. Ltd.", scope=Scope(export_classes=("3A090.a",), providers=("aws",)),
                profile={"country": "SG"}, opened_at=at, updated_at=at,
                history=(HistoryEntry(at=at, actor="dev", action="opened"),))


def _request(decision_id: str, principal: str = "dev", at: datetime = T0, quantity: float = 8) -> CaseRequest:
    return CaseRequest(decision_id=decision_id, at=at, principal=principal, provider="aws",
                       account_id="222222222222", region="us-east-1", operation="RunInstances", quantity=quantity)


def _approve(case: Case, reviewer: str = "alice", number: str | None = None, final: bool = True) -> CaseChange:
    a = Approval(reviewer=reviewer, at=T0, licence_number=number or "L-9", expires=date(2026, 12, 31), quantity=8)
    lic = licence(number or "L-9") if final and number is not None else None
    return CaseChange(status="approved" if final else "open", approvals=(*case.approvals, a), licence=lic, at=T0,
                      history=(HistoryEntry(at=T0, actor=reviewer, action="approved"),))


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> StateStore:
    s: StateStore = open_store(store_url, base_dir=tmp_path)
    return s


def test_implements_the_protocols(store: StateStore) -> None:
    assert isinstance(store, StateStore)
    assert isinstance(store.profiles, ProfileStore)
    assert isinstance(store.cases, CaseStore)
    assert isinstance(store.licences, LicenceStore)


def test_init_is_idempotent(store: StateStore) -> None:
    first = store.init()
    assert first and first == store.init()


def test_profiles_round_trip(store: StateStore) -> None:
    p = CustomerProfile("aws", "222222222222", "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified")
    store.profiles.put_profiles([p, CustomerProfile("gcp", "proj-x", "X", "US", "US", "US", "pending")])
    assert store.profiles.get_profile("aws", "222222222222") == p
    assert store.profiles.get_profile("aws", "999") is None
    assert [q.account_id for q in store.profiles.list_profiles("gcp")] == ["proj-x"]
    store.profiles.put_profiles([CustomerProfile("aws", "222222222222", "Renamed", "SG", "SG", "CN", "verified")])
    got = store.profiles.get_profile("aws", "222222222222")
    assert got is not None and got.legal_name == "Renamed"


def test_profiles_keep_their_owners(store: StateStore) -> None:
    from gatekeeper.model import Owner

    owners = (Owner("Listed Holdings", "CN", 60.0, ("EL",)), Owner("Free float", "", 40.0, ()))
    p = CustomerProfile("aws", "222222222222", "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified", owners=owners)
    store.profiles.put_profiles([p])
    assert store.profiles.get_profile("aws", "222222222222") == p
    assert store.profiles.list_profiles("aws")[0].owners == owners
    # Re-importing without owners clears them (a profile is replaced, not merged).
    store.profiles.put_profiles([CustomerProfile("aws", "222222222222", "Lion City AI Pte. Ltd.", "SG", "SG", "CN",
                                                 "verified")])
    got = store.profiles.get_profile("aws", "222222222222")
    assert got is not None and got.owners == ()


def test_accounts_in_countries(store: StateStore) -> None:
    store.profiles.put_profiles([
        CustomerProfile("aws", "1", "A", "US", "US", "US", "verified"),
        CustomerProfile("aws", "2", "B", "IR", "IR", "IR", "verified"),
        CustomerProfile("gcp", "p", "C", "US", "US", "CU", "verified"),
        CustomerProfile("azure", "s", "D", "DE", "KP", "DE", "verified"),
    ])
    accounts_in = store.profiles.accounts_in  # type: ignore[attr-defined]
    assert accounts_in(frozenset({"IR", "CU", "KP"})) == {("aws", "2"), ("gcp", "p"), ("azure", "s")}
    assert accounts_in(frozenset({"CN"})) == frozenset() == accounts_in(frozenset())


def test_profiles_repeated_in_one_import_last_wins(store: StateStore) -> None:
    first = CustomerProfile("aws", "222222222222", "First", "SG", "SG", "CN", "verified")
    second = CustomerProfile("aws", "222222222222", "Second", "SG", "SG", "CN", "pending")
    store.profiles.put_profiles([first, second])
    assert store.profiles.get_profile("aws", "222222222222") == second


def test_open_then_join_the_same_scope(store: StateStore) -> None:
    case, created = store.cases.open_or_join(_case("case-1"), _request("dec-1", "dev"))
    assert created and case.case_id == "case-1" and case.request_count == 1 and case.principals == ("dev",)
    joined, created2 = store.cases.open_or_join(_case("case-2"), _request("dec-2", "ops", T0 + timedelta(1)))
    assert not created2 and joined.case_id == "case-1" and joined.request_count == 2
    assert set(joined.principals) == {"dev", "ops"}
    assert joined.version == case.version + 1
    full = store.cases.get_case("case-1")
    assert full is not None and [r.decision_id for r in full.requests] == ["dec-1", "dec-2"]
    assert store.cases.get_case("case-2") is None
    found = store.cases.find_open(case.scope_key)
    assert found is not None and found.case_id == "case-1"


def test_another_scope_opens_another_case(store: StateStore) -> None:
    store.cases.open_or_join(_case("case-1"), _request("dec-1"))
    other, created = store.cases.open_or_join(_case("case-2", scope_key="aws|222222222222|H20"), _request("dec-2"))
    assert created and other.case_id == "case-2"
    assert {c.case_id for c in store.cases.list_cases("open")} == {"case-1", "case-2"}


def test_apply_approval_issues_the_licence_and_frees_the_scope(store: StateStore) -> None:
    case, _ = store.cases.open_or_join(_case("case-1"), _request("dec-1"))
    done = store.cases.apply("case-1", case.version, _approve(case, number="L-9"))
    assert done.status == "approved" and done.licence_number == "L-9" and done.version == case.version + 1
    assert [h.action for h in done.history] == ["opened", "approved"]
    lic = store.licences.get_licence("L-9")
    assert lic is not None and lic.remaining == 8
    assert store.cases.find_open(case.scope_key) is None
    # The scope is free again: the next pending request opens a new case.
    again, created = store.cases.open_or_join(_case("case-3"), _request("dec-3"))
    assert created and again.case_id == "case-3"
    assert [c.case_id for c in store.cases.list_cases("approved")] == ["case-1"]
    assert {c.case_id for c in store.cases.list_cases()} == {"case-1", "case-3"}


def test_apply_on_a_stale_version_conflicts_and_changes_nothing(store: StateStore) -> None:
    case, _ = store.cases.open_or_join(_case("case-1"), _request("dec-1"))
    store.cases.open_or_join(_case("case-x"), _request("dec-2", "ops"))  # a join moves the version
    with pytest.raises(ConflictError):
        store.cases.apply("case-1", case.version, _approve(case, number="L-9"))
    assert store.licences.get_licence("L-9") is None
    now = store.cases.get_case("case-1")
    assert now is not None and now.status == "open" and not now.approvals


def test_apply_on_a_closed_case_conflicts(store: StateStore) -> None:
    case, _ = store.cases.open_or_join(_case("case-1"), _request("dec-1"))
    closed = store.cases.apply("case-1", case.version, CaseChange(status="denied", approvals=(), at=T0,
                                                                  denial_reason="no"))
    assert closed.status == "denied" and closed.denial_reason == "no"
    with pytest.raises(ConflictError):
        store.cases.apply("case-1", closed.version, _approve(closed, number="L-9"))
    with pytest.raises(NotFoundError):
        store.cases.apply("case-nope", 1, _approve(closed))


def test_apply_with_an_existing_licence_number_fails_and_changes_nothing(store: StateStore) -> None:
    store.licences.put_licence(licence("L-9"))
    case, _ = store.cases.open_or_join(_case("case-1"), _request("dec-1"))
    with pytest.raises(WorkflowError, match="already exists"):
        store.cases.apply("case-1", case.version, _approve(case, number="L-9"))
    now = store.cases.get_case("case-1")
    assert now is not None and now.status == "open" and now.version == case.version
    assert store.cases.find_open(case.scope_key) is not None


def test_partial_approval_keeps_the_case_open(store: StateStore) -> None:
    case, _ = store.cases.open_or_join(_case("case-1"), _request("dec-1"))
    once = store.cases.apply("case-1", case.version, _approve(case, final=False))
    assert once.status == "open" and [a.reviewer for a in once.approvals] == ["alice"]
    reread = store.cases.get_case("case-1")
    assert reread is not None and reread.approvals == once.approvals
    assert store.cases.find_open(case.scope_key) is not None


def test_put_licence_refuses_a_duplicate_number(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1"))
    with pytest.raises(WorkflowError):
        store.licences.put_licence(licence("L-1", quantity=99))
    got = store.licences.get_licence("L-1")
    assert got is not None and got.quantity == 8


def test_draw_takes_what_is_asked_and_never_more_than_is_left(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=8))
    today = datetime.now(UTC).date()
    after = store.licences.draw("L-1", 5, on=today)
    assert after is not None and after.remaining == 3
    assert store.licences.draw("L-1", 4, on=today) is None  # more than is left: nothing changes
    got = store.licences.get_licence("L-1")
    assert got is not None and got.remaining == 3
    last = store.licences.draw("L-1", 3, on=today)
    assert last is not None and last.remaining == 0 and last.state(today) == "exhausted"
    assert store.licences.draw("L-1", 0.5, on=today) is None


def test_draw_respects_validity_and_revocation(store: StateStore) -> None:
    today = datetime.now(UTC).date()
    store.licences.put_licence(licence("L-1", days=3))
    assert store.licences.draw("L-1", 1, on=today + timedelta(days=4)) is None  # expired
    assert store.licences.draw("L-1", 1, on=today - timedelta(days=1)) is None  # not yet valid
    assert store.licences.draw("L-1", 1, on=today + timedelta(days=3)) is not None  # last valid day
    assert store.licences.draw("L-nope", 1, on=today) is None
    revoked = store.licences.revoke("L-1", by="bob", reason="end user changed", at=T0)
    assert revoked.status == "revoked" and revoked.revoked_by == "bob" and revoked.remaining == 7
    assert store.licences.draw("L-1", 1, on=today) is None
    with pytest.raises(WorkflowError, match="already revoked"):
        store.licences.revoke("L-1", by="bob", reason="again", at=T0)
    with pytest.raises(NotFoundError):
        store.licences.revoke("L-nope", by="bob", reason="x", at=T0)


def test_fractional_quantities_add_up_exactly(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=1))
    today = datetime.now(UTC).date()
    for _ in range(10):
        assert store.licences.draw("L-1", 0.1, on=today) is not None
    got = store.licences.get_licence("L-1")
    assert got is not None and got.remaining == 0
    assert store.licences.draw("L-1", 0.1, on=today) is None


def _remaining(store: StateStore, number: str = "L-1") -> float:
    got = store.licences.get_licence(number)
    assert got is not None
    return got.remaining


def test_refund_gives_a_decisions_draw_back_once(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=8))
    today = datetime.now(UTC).date()
    assert store.licences.draw("L-1", 5, on=today) is not None
    assert store.licences.refund("L-1", 5, decision_id="dec-1") == "refunded"
    assert _remaining(store) == 8
    # Another decision draws; the first decision's refund, repeated, gives nothing more back.
    assert store.licences.draw("L-1", 5, on=today) is not None
    assert store.licences.refund("L-1", 5, decision_id="dec-1") == "already"
    assert _remaining(store) == 3
    assert store.licences.refund("L-1", 5, decision_id="dec-2") == "refunded"
    assert _remaining(store) == 8


def test_refund_never_takes_a_licence_above_its_limit(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=8))
    today = datetime.now(UTC).date()
    assert store.licences.draw("L-1", 2, on=today) is not None
    # More than was drawn: refused whole (not capped), nothing changes and nothing is marked ...
    assert store.licences.refund("L-1", 5, decision_id="dec-1") == "refused"
    assert _remaining(store) == 6
    # ... so the decision's true quantity can still be given back.
    assert store.licences.refund("L-1", 2, decision_id="dec-1") == "refunded"
    assert _remaining(store) == 8
    assert store.licences.refund("L-nope", 1, decision_id="dec-2") == "refused"


def test_refund_of_fractions_is_exact(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=1))
    today = datetime.now(UTC).date()
    for _ in range(10):
        assert store.licences.draw("L-1", 0.1, on=today) is not None
    for i in range(10):
        assert store.licences.refund("L-1", 0.1, decision_id=f"dec-{i}") == "refunded"
    assert _remaining(store) == 1
    assert store.licences.refund("L-1", 0.1, decision_id="dec-10") == "refused"


def test_refund_reaches_a_revoked_licence(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=8))
    assert store.licences.draw("L-1", 8, on=datetime.now(UTC).date()) is not None
    store.licences.revoke("L-1", by="bob", reason="end user changed", at=T0)
    assert store.licences.refund("L-1", 8, decision_id="dec-1") == "refunded"
    got = store.licences.get_licence("L-1")
    assert got is not None and got.remaining == 8 and got.status == "revoked"


def test_concurrent_refunds_of_one_decision_give_back_once(store: StateStore) -> None:
    store.licences.put_licence(licence("L-1", quantity=16))
    today = datetime.now(UTC).date()
    assert store.licences.draw("L-1", 8, on=today) is not None
    assert store.licences.draw("L-1", 8, on=today) is not None  # room for a wrong second credit
    barrier = threading.Barrier(8)

    def one(_: int) -> str:
        barrier.wait()
        return store.licences.refund("L-1", 8, decision_id="dec-1")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert sorted(results) == ["already"] * 7 + ["refunded"]
    assert _remaining(store) == 8


def test_list_licences_per_customer(store: StateStore) -> None:
    store.licences.put_licence(licence("L-2"))
    store.licences.put_licence(licence("L-1"))
    store.licences.put_licence(licence("L-3", account="111111111111"))
    assert [x.number for x in store.licences.list_licences()] == ["L-1", "L-2", "L-3"]
    assert [x.number for x in store.licences.list_licences("aws", "222222222222")] == ["L-1", "L-2"]
    assert [x.number for x in store.licences.list_licences("gcp", "222222222222")] == []
