"""Reviewers' actions through the API and the console when the audit log refuses their record.

Approve, deny, revoke and clear answer 503 (``{"error": ..., "type": "AuditError"}`` from the API, the
page with the error from the console), the case, licence or hit is as it was, and no record was
added; with the log back, the same request succeeds and writes its records once.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gatekeeper.service import Gatekeeper
from gatekeeper.web._auth import CSRF_FIELD
from tests.audit_faults import INJECTED, fail_audit
from tests.web.conftest import (
    HUAWEI,
    REVIEWER,
    REVIEWER2,
    audit_lines,
    auth,
    future,
    write_entity_list,
)
from tests.web.test_console import sign_in

HIT = f"/accounts/aws/{HUAWEI.account_id}/screening/el-huawei-0001/clear"


def _setup(client: TestClient, web_gk: Gatekeeper, tmp_path: Path, action: str, case_id: str) -> None:
    if action == "revoke":
        r = client.post(f"/v1/cases/{case_id}/approve", json={"licence": "L-1", "expires": future()},
                        headers=auth(REVIEWER))
        assert r.status_code == 200, r.text
    if action == "clear":
        from gatekeeper.screening import load_list

        load_list(web_gk, write_entity_list(tmp_path / "csl.csv"), actor="test")


def _state(client: TestClient, case_id: str) -> tuple[Any, ...]:
    case = client.get(f"/v1/cases/{case_id}", headers=auth(REVIEWER)).json()
    licences = client.get("/v1/licences", headers=auth(REVIEWER)).json()
    hits = client.get(f"/v1/accounts/aws/{HUAWEI.account_id}", headers=auth(REVIEWER)).json()["screening"]
    return case, licences, hits


API = {  # action: (path given the case id, body, the start of the error, the records written)
    "approve": ("/v1/cases/{case}/approve", {"licence": "L-2", "expires": future()}, "case {case} was not approved",
                ["case.approved", "licence.issued"]),
    "deny": ("/v1/cases/{case}/deny", {"reason": "military end user"}, "case {case} was not denied",
             ["case.denied"]),
    "revoke": ("/v1/licences/L-1/revoke", {"reason": "end-use check failed"}, "licence L-1 was not revoked",
               ["licence.revoked"]),
    "clear": (f"/v1{HIT}", {"reason": "same name, different company"},
              f"the hit of aws:{HUAWEI.account_id} on entry 'el-huawei-0001' was not cleared",
              ["screening.hit_cleared"]),
}


def _kinds(lines: list[str]) -> list[str]:
    import json

    return [k for k in (json.loads(line)["kind"] for line in lines) if not k.startswith("audit.")]


@pytest.mark.parametrize("action", list(API))
def test_api_action_whose_record_fails_is_503_and_changes_nothing(client: TestClient, web_gk: Gatekeeper,
                                                                  pending_case: str, tmp_path: Path,
                                                                  action: str) -> None:
    _setup(client, web_gk, tmp_path, action, pending_case)
    path, body, says, kinds = API[action]
    url = path.format(case=pending_case)
    before, written = _state(client, pending_case), len(audit_lines(tmp_path))
    sink = fail_audit(web_gk)
    r = client.post(url, json=body, headers=auth(REVIEWER2))
    assert r.status_code == 503, r.text
    out = r.json()
    assert out["type"] == "AuditError" and INJECTED in out["error"]
    assert out["error"].startswith(f"{says.format(case=pending_case)}: its audit record ({kinds[0]}) could not "
                                   "be written, so nothing was changed")
    assert _state(client, pending_case) == before and len(audit_lines(tmp_path)) == written
    sink.heal()
    assert client.post(url, json=body, headers=auth(REVIEWER2)).status_code == 200
    assert _kinds(audit_lines(tmp_path)[written:]) == kinds


CONSOLE = {  # action: (form path given the case id, form fields)
    "approve": ("/cases/{case}/approve", {"licence": "D-9", "expires": future()}),
    "deny": ("/cases/{case}/deny", {"reason": "military end user"}),
    "revoke": ("/licences/L-1/revoke", {"reason": "end-use check failed"}),
    "clear": (HIT, {"reason": "different entity"}),
}


@pytest.mark.parametrize("action", list(CONSOLE))
def test_console_action_whose_record_fails_shows_the_error_and_changes_nothing(
        client: TestClient, web_gk: Gatekeeper, pending_case: str, tmp_path: Path, action: str) -> None:
    _setup(client, web_gk, tmp_path, action, pending_case)
    csrf = sign_in(client, REVIEWER2)
    path, form = CONSOLE[action]
    before, written = _state(client, pending_case), len(audit_lines(tmp_path))
    sink = fail_audit(web_gk)
    r = client.post(path.format(case=pending_case), data={CSRF_FIELD: csrf, **form}, follow_redirects=False)
    assert r.status_code == 503
    page = html.unescape(r.text)
    assert "could not be written, so nothing was changed" in page and INJECTED in page
    assert _state(client, pending_case) == before and len(audit_lines(tmp_path)) == written
    sink.heal()
    r = client.post(path.format(case=pending_case), data={CSRF_FIELD: csrf, **form}, follow_redirects=False)
    assert r.status_code == 303
