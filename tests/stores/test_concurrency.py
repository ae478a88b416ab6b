"""Concurrency, against SQLite and DynamoDB: a licence's limit holds, and one scope gets one case.

8 threads sharing one Gatekeeper, and 4 processes each with their own, decide requests for the same
customer at once; the only things asserted are the invariants (never more allowed than the limit
permits, exactly one case opened), never timings.
"""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from gatekeeper.model import Outcome
from gatekeeper.workflow import workflow_of
from tests.stores.backends import (
    audit_records,
    draw_worker,
    licence,
    make_gatekeeper,
    pending_worker,
    request,
)

LIMIT = 40  # accelerators: five one-instance p4d requests (8 x A100 each)
ALLOWED = LIMIT // 8


def _per_thread(gk: object, barrier: threading.Barrier, n: int) -> list[tuple[str, str | None]]:
    barrier.wait()
    out = []
    for _ in range(n):
        d = gk.decide(request())  # type: ignore[attr-defined]
        out.append((d.outcome.label, d.licence_id))
    return out


def test_eight_threads_never_exceed_the_limit(store_url: str, tmp_path: Path) -> None:
    gk = make_gatekeeper(tmp_path, store_url)
    try:
        gk.store.licences.put_licence(licence("L-1", quantity=LIMIT))
        barrier = threading.Barrier(8)
        with ThreadPoolExecutor(8) as pool:
            results = [r for f in [pool.submit(_per_thread, gk, barrier, 3) for _ in range(8)] for r in f.result()]
        allowed = [r for r in results if r[0] == "allow"]
        assert len(allowed) == ALLOWED and all(lic == "L-1" for _, lic in allowed)
        assert {r[0] for r in results} == {"allow", "pending"}
        left = gk.store.licences.get_licence("L-1")
        assert left is not None and left.remaining == 0
        # The requests that found the licence exhausted joined one case.
        open_cases = gk.store.cases.list_cases("open")
        assert len(open_cases) == 1 and open_cases[0].request_count == len(results) - ALLOWED
    finally:
        gk.close()
    drawn = [r for r in audit_records(tmp_path) if r["kind"] == "licence.drawn"]
    assert len(drawn) == ALLOWED


@pytest.mark.slow
def test_four_processes_never_exceed_the_limit(store_url: str, tmp_path: Path) -> None:
    gk = make_gatekeeper(tmp_path, store_url)
    try:
        gk.store.licences.put_licence(licence("L-1", quantity=LIMIT))
    finally:
        gk.close()
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        results = [r for batch in pool.map(draw_worker, [(str(tmp_path), store_url, 3)] * 4) for r in batch]
    assert len(results) == 12
    assert len([r for r in results if r == ("allow", "L-1")]) == ALLOWED
    assert len([r for r in results if r[0] == "pending"]) == 12 - ALLOWED
    gk = make_gatekeeper(tmp_path, store_url)
    try:
        left = gk.store.licences.get_licence("L-1")
        assert left is not None and left.remaining == 0
        assert len(gk.store.cases.list_cases("open")) == 1
    finally:
        gk.close()
    # The processes shared one audit log: every draw is in it once.
    assert len([r for r in audit_records(tmp_path) if r["kind"] == "licence.drawn"]) == ALLOWED


def test_concurrent_pending_requests_open_one_case(store_url: str, tmp_path: Path) -> None:
    gk = make_gatekeeper(tmp_path, store_url)
    try:
        barrier = threading.Barrier(8)

        def one() -> list[str | None]:
            barrier.wait()
            return [gk.decide(request(principal=f"dev-{threading.get_ident()}")).case_id for _ in range(2)]

        with ThreadPoolExecutor(8) as pool:
            ids = [c for f in [pool.submit(one) for _ in range(8)] for c in f.result()]
        assert len(ids) == 16 and len(set(ids)) == 1 and ids[0] is not None
        [case] = gk.store.cases.list_cases()
        assert case.status == "open" and case.request_count == 16
        assert len(case.principals) == 8
        assert len(workflow_of(gk).get_case(case.case_id).requests) == 16
    finally:
        gk.close()
    kinds = [r["kind"] for r in audit_records(tmp_path)]
    assert kinds.count("case.opened") == 1 and kinds.count("case.joined") == 15


@pytest.mark.slow
def test_concurrent_pending_requests_from_processes_open_one_case(store_url: str, tmp_path: Path) -> None:
    make_gatekeeper(tmp_path, store_url).close()  # profiles in the store
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        ids = [c for batch in pool.map(pending_worker, [(str(tmp_path), store_url, 3)] * 4) for c in batch]
    assert len(ids) == 12 and len(set(ids)) == 1
    gk = make_gatekeeper(tmp_path, store_url)
    try:
        [case] = gk.store.cases.list_cases()
        assert case.request_count == 12 and case.status == "open"
    finally:
        gk.close()


def test_concurrent_approvals_issue_one_licence(store_url: str, tmp_path: Path) -> None:
    """Two reviewers approving the same case at once: one wins, the other gets a clear error."""
    from datetime import timedelta

    from gatekeeper.errors import WorkflowError

    gk = make_gatekeeper(tmp_path, store_url)
    try:
        case_id = gk.decide(request()).case_id
        assert case_id is not None
        expires = workflow_of(gk).today() + timedelta(days=30)
        barrier = threading.Barrier(4)

        def approve(i: int) -> str:
            barrier.wait()
            try:
                workflow_of(gk).approve(case_id, reviewer=f"reviewer-{i}", licence_number=f"L-{i}", expires=expires)
            except WorkflowError as exc:
                return f"error: {exc}"
            return "ok"

        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(approve, range(4)))
        assert outcomes.count("ok") == 1
        assert all("only open cases can be decided" in o for o in outcomes if o != "ok")
        assert len(gk.store.licences.list_licences()) == 1
        assert workflow_of(gk).get_case(case_id).status == "approved"
    finally:
        gk.close()


def test_outcomes_are_only_allow_or_pending(store_url: str, tmp_path: Path) -> None:
    """Contention never turns into an error decision (a store race is not a store failure)."""
    gk = make_gatekeeper(tmp_path, store_url)
    try:
        gk.store.licences.put_licence(licence("L-1", quantity=16))
        with ThreadPoolExecutor(8) as pool:
            decisions = list(pool.map(lambda _: gk.decide(request()), range(16)))
        assert all(d.error is None for d in decisions), [d.error for d in decisions if d.error]
        assert {d.outcome for d in decisions} == {Outcome.ALLOW, Outcome.PENDING}
    finally:
        gk.close()
