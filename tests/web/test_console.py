"""The console without a browser: sign-in, sessions, CSRF, roles, form errors, every page renders."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from gatekeeper.service import Gatekeeper
from gatekeeper.web._auth import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE
from gatekeeper.web._pages import safe_next
from tests.web.conftest import (
    ALICE_REQUESTER,
    AUDITOR,
    HUAWEI,
    REQUESTER,
    REVIEWER,
    REVIEWER2,
    SG_CN,
    auth,
    future,
    pending_body,
    write_entity_list,
)

PAGES = ("/", "/cases", "/cases?status=open", "/licences", "/accounts", "/accounts?hits=open",
         f"/accounts/aws/{SG_CN}", "/check", "/audit", "/audit/summary", "/audit/verify",
         "/audit/reconcile")


def login_nonce(client: TestClient) -> str:
    """The sign-in form's login CSRF token (GET /login also sets it in its cookie)."""
    if client.cookies.get(LOGIN_COOKIE):  # signed in already: /login redirects, the nonce stays the same
        return str(client.cookies.get(LOGIN_COOKIE))
    m = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text)
    assert m, "no login CSRF field on the sign-in page"
    return m.group(1)


def post_login(client: TestClient, token: str, next: str = "/", **kw: Any) -> Response:
    """Sign in as a browser does: load the form, then post it with its login CSRF token."""
    return client.post("/login", data={"token": token, "next": next, "login_csrf": login_nonce(client)}, **kw)


def sign_in(client: TestClient, token: str = REVIEWER) -> str:
    """Sign in through the form; returns the CSRF token of the session (from a page's form)."""
    r = post_login(client, token, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    return csrf_of(client.get("/").text)


def csrf_of(html: str) -> str:
    m = re.search(rf'name="{CSRF_FIELD}" value="([0-9a-f]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def test_pages_need_a_session(client: TestClient) -> None:
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    assert client.get("/login").status_code == 200


def test_every_page_renders_for_a_reviewer_and_an_auditor(client: TestClient, pending_case: str) -> None:
    for token in (REVIEWER, AUDITOR):
        sign_in(client, token)
        for path in (*PAGES, f"/cases/{pending_case}"):
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            assert "<title>" in r.text and 'lang="en"' in r.text
            assert "http://" not in r.text.replace("http://www.w3.org/2000/svg", "")  # nothing from elsewhere
            assert "<script" not in r.text


def test_case_page_names_the_licence_review_policy(client: TestClient, pending_case: str) -> None:
    sign_in(client, REVIEWER)
    page = client.get(f"/cases/{pending_case}").text
    assert "Licence review policy: <strong>" in page and "review: " in page


def test_login_form_sets_a_strict_httponly_cookie(client: TestClient) -> None:
    r = post_login(client, REVIEWER, "/audit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/audit"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert REVIEWER not in cookie  # the token is encoded, with a per-login nonce
    assert "alice" in client.get("/audit").text


def test_wrong_or_empty_token_is_refused(client: TestClient) -> None:
    r = post_login(client, "nope", "/", follow_redirects=False)
    assert r.status_code == 401 and "not recognised" in r.text and SESSION_COOKIE not in r.headers["set-cookie"]
    r = post_login(client, " ", "/", follow_redirects=False)
    assert r.status_code == 422
    assert client.get("/", follow_redirects=False).status_code == 303


def test_token_query_parameter_signs_in_once_and_is_dropped(client: TestClient) -> None:
    r = client.get("/cases", params={"token": REVIEWER, "status": "open"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/cases?status=open"
    assert "token" not in r.headers["location"]
    assert client.get("/cases?status=open").status_code == 200
    r = client.get("/", params={"token": "bad"}, follow_redirects=False)
    assert r.status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "evil", "/\\evil.example", ""])
def test_no_open_redirect_after_login(client: TestClient, target: str) -> None:
    assert safe_next(target) == "/"
    r = post_login(client, REVIEWER, target, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_a_requester_token_gets_no_console(client: TestClient) -> None:
    post_login(client, REQUESTER, "/")
    r = client.get("/")
    assert r.status_code == 403 and "reviewers and auditors" in r.text


def test_withdrawn_token_ends_the_session(client: TestClient, web_gk: Gatekeeper) -> None:
    sign_in(client)
    client.app.state.tokens = type(client.app.state.tokens)({AUDITOR: "carol:auditor"})  # type: ignore[attr-defined]
    assert client.get("/", follow_redirects=False).status_code == 303


def test_security_headers(client: TestClient) -> None:
    sign_in(client)
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    css = client.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_approve_through_the_form(client: TestClient, pending_case: str) -> None:
    csrf = sign_in(client)
    r = client.post(f"/cases/{pending_case}/approve", follow_redirects=False, data={
        CSRF_FIELD: csrf, "licence": "D-77", "expires": future(), "quantity": "24", "regions": "ap-southeast-1",
        "conditions": "end use: training"})
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{pending_case}?done=approved"
    page = client.get(r.headers["location"]).text
    assert "Approved: the licence is on file" in page and ">approved<" in page
    lic = client.get("/v1/licences/D-77", headers=auth(AUDITOR)).json()
    assert lic["approvers"] == ["alice"] and lic["quantity"] == 24 and lic["scope"]["regions"] == ["ap-southeast-1"]


@pytest.mark.parametrize("token_field", ["missing", "wrong", "other-session"])
def test_forms_without_the_sessions_csrf_token_change_nothing(client: TestClient, web_gk: Gatekeeper,
                                                              pending_case: str, token_field: str) -> None:
    from gatekeeper.web import create_app
    from gatekeeper.web._auth import TokenMap
    from tests.web.conftest import TOKENS

    sign_in(client)
    data = {"licence": "D-1", "expires": future()}
    if token_field == "wrong":
        data[CSRF_FIELD] = "0" * 64
    elif token_field == "other-session":  # a valid token of another sign-in of the same user
        with TestClient(create_app(web_gk, tokens=TokenMap(TOKENS))) as other:
            data[CSRF_FIELD] = sign_in(other)
    for path, extra in ((f"/cases/{pending_case}/approve", data), (f"/cases/{pending_case}/deny", {"reason": "x"}),
                        ("/logout", {})):
        r = client.post(path, data={**extra, **({CSRF_FIELD: data[CSRF_FIELD]} if CSRF_FIELD in data else {})},
                        follow_redirects=False)
        assert r.status_code == 403 and "security token" in r.text, path
    case = client.get(f"/v1/cases/{pending_case}", headers=auth(REVIEWER)).json()
    assert case["status"] == "open" and case["approvals"] == []
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_form_errors_keep_the_input_and_change_nothing(client: TestClient, pending_case: str) -> None:
    csrf = sign_in(client)
    url = f"/cases/{pending_case}/approve"
    cases = [
        ({"licence": "", "expires": future()}, 422, "Enter the licence number"),
        ({"licence": "D-1", "expires": "soon"}, 422, "YYYY-MM-DD"),
        ({"licence": "D-1", "expires": future(), "quantity": "-2"}, 422, "positive number"),
        ({"licence": "D-1", "expires": future(), "quantity": "lots"}, 422, "number of accelerators"),
        ({"licence": "D-1", "expires": "2001-01-01"}, 422, "in the past"),
        ({"licence": "bad number!", "expires": future()}, 422, "licence number"),
    ]
    for form, status, message in cases:
        r = client.post(url, data={CSRF_FIELD: csrf, **form})
        assert r.status_code == status and message in r.text, (form, r.text[-1500:])
        assert 'role="alert"' in r.text
        if form["licence"]:
            assert f'value="{form["licence"]}"' in r.text  # what the reviewer typed is kept
    r = client.post(f"/cases/{pending_case}/deny", data={CSRF_FIELD: csrf, "reason": "  "})
    assert r.status_code == 422 and "reason" in r.text
    assert client.get(f"/v1/cases/{pending_case}", headers=auth(REVIEWER)).json()["status"] == "open"


def test_separation_of_duties_in_the_console(client: TestClient) -> None:
    r = client.post("/v1/decisions", json=pending_body(), headers=auth(ALICE_REQUESTER))
    case_id = r.json()["case_id"]
    csrf = sign_in(client)
    page = client.get(f"/cases/{case_id}").text
    assert "you cannot decide it" in page
    r = client.post(f"/cases/{case_id}/approve", data={CSRF_FIELD: csrf, "licence": "D-2", "expires": future()})
    assert r.status_code == 409 and "separation of duties" in r.text
    csrf = sign_in(client, REVIEWER2)
    r = client.post(f"/cases/{case_id}/deny", data={CSRF_FIELD: csrf, "reason": "no end-use statement"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "no end-use statement" in client.get(f"/cases/{case_id}").text


def test_auditor_cannot_post_changes(client: TestClient, pending_case: str) -> None:
    csrf = sign_in(client, AUDITOR)
    assert "Approve and record licence" not in client.get(f"/cases/{pending_case}").text
    r = client.post(f"/cases/{pending_case}/approve", data={CSRF_FIELD: csrf, "licence": "D-3", "expires": future()})
    assert r.status_code == 403
    r = client.post(f"/cases/{pending_case}/deny", data={CSRF_FIELD: csrf, "reason": "x"})
    assert r.status_code == 403
    assert client.get(f"/v1/cases/{pending_case}", headers=auth(REVIEWER)).json()["status"] == "open"


def test_revoke_a_licence_in_the_console(client: TestClient, pending_case: str) -> None:
    client.post(f"/v1/cases/{pending_case}/approve", json={"licence": "L/2025/7", "expires": future()},
                headers=auth(REVIEWER))
    csrf = sign_in(client, REVIEWER2)
    assert "L/2025/7" in client.get("/licences").text
    r = client.post("/licences/L/2025/7/revoke", data={CSRF_FIELD: csrf, "reason": ""})
    assert r.status_code == 422 and "reason" in r.text
    r = client.post("/licences/L/2025/7/revoke", data={CSRF_FIELD: csrf, "reason": "licence withdrawn by BIS"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "Revoked: requests" in page and "licence withdrawn by BIS" in page and ">revoked<" in page
    r = client.post("/licences/L/2025/7/revoke", data={CSRF_FIELD: csrf, "reason": "again"})
    assert r.status_code == 409


def test_unknown_records_are_404_pages(client: TestClient) -> None:
    sign_in(client)
    for path in ("/cases/case-nope", "/licences/NOPE", "/accounts/aws/000", "/no-such-page"):
        r = client.get(path)
        assert r.status_code == 404 and "Not found" in r.text, path
    assert client.get("/accounts/ibm/1").status_code == 422


def test_screening_hits_and_clearing_in_the_console(client: TestClient, web_gk: Gatekeeper, tmp_path: Path) -> None:
    from gatekeeper.screening import load_list

    load_list(web_gk, write_entity_list(tmp_path / "csl.csv"), actor="test")
    csrf = sign_in(client)
    assert "1 open screening hit" in client.get("/").text
    listed = client.get("/accounts?hits=open").text
    assert HUAWEI.legal_name.replace(".", "") in listed.replace(".", "") and "Lion City" not in listed
    url = f"/accounts/aws/{HUAWEI.account_id}"
    page = client.get(url).text
    assert "el-huawei-0001" in page and "Clear as a false positive" in page
    r = client.post(f"{url}/screening/el-huawei-0001/clear", data={CSRF_FIELD: csrf, "reason": ""})
    assert r.status_code == 422
    r = client.post(f"{url}/screening/el-huawei-0001/clear", data={CSRF_FIELD: csrf, "reason": "different entity"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "cleared by alice" in page and "Clear as a false positive" not in page


def test_what_if_page(client: TestClient, tmp_path: Path) -> None:
    from tests.web.conftest import audit_lines

    sign_in(client, AUDITOR)
    before = audit_lines(tmp_path)
    r = client.get("/check", params={"provider": "aws", "account_id": SG_CN, "instance_type": "p4d.24xlarge",
                                     "count": "2", "region": "ap-southeast-1"})
    assert r.status_code == 200 and 'class="badge pending">pending<' in r.text and "15 CFR" in r.text
    r = client.get("/check", params={"provider": "gcp", "account_id": "p-1", "instance_type": "n1-standard-8",
                                     "attached": "nvidia-tesla-a100:2"})
    assert r.status_code == 200 and "A100" in r.text
    for params, message in (({"account_id": SG_CN, "instance_type": "p4d.24xlarge", "count": "-1"}, "count"),
                            ({"account_id": SG_CN, "instance_type": "x", "attached": "a100:lots"}, "attached"),
                            ({"account_id": SG_CN, "instance_type": "p4d.24xlarge", "provider": "ibm"}, "provider")):
        r = client.get("/check", params=params)
        assert r.status_code == 422 and message in r.text
    assert audit_lines(tmp_path) == before and client.get("/v1/cases", headers=auth(REVIEWER)).json() == []


def test_audit_search_filters_and_errors(client: TestClient) -> None:
    for body in (pending_body(), {"provider": "aws", "account_id": "444444444444", "instance_type": "p5.48xlarge"}):
        client.post("/v1/decisions", json=body, headers=auth(REQUESTER))
    sign_in(client, AUDITOR)
    page = client.get("/audit", params={"decision": "deny"}).text
    assert "1 of 1 matching record" in page and "Persian Gulf" in page and "Lion City" not in page
    page = client.get("/audit", params={"country": "cn"}).text
    assert "Lion City" in page and "Persian Gulf" not in page
    for params, field in (({"since": "yesterday"}, "since"), ({"country": "China"}, "country"),
                          ({"decision": "maybe"}, "decision"), ({"provider": "ibm"}, "provider"),
                          ({"limit": "many"}, "limit"), ({"kind": "DROP TABLE"}, "kind")):
        r = client.get("/audit", params=params)
        assert r.status_code == 422 and field in r.text, params
    page = client.get("/audit", params={"kind": "all"}).text
    assert "case.opened" in page and "ci-bot" in page  # workflow events are in the log too
    page = client.get("/audit", params={"kind": "case.*"}).text
    assert "case.opened" in page and "Persian Gulf" not in page
    summary = client.get("/audit/summary", params={"bucket": "week"}).text
    assert summary.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 4
    assert "Decisions per week" in summary
    assert "The audit log verifies." in client.get("/audit/verify").text


def test_reconcile_page_shows_the_apis_numbers_and_each_unmatched_record(client: TestClient, web_gk: Gatekeeper,
                                                                        pending_case: str) -> None:
    sign_in(client, REVIEWER)
    r = client.post(f"/v1/cases/{pending_case}/deny", json={"reason": "military end user"}, headers=auth(REVIEWER2))
    assert r.status_code == 200, r.text
    page = client.get("/audit/reconcile").text
    assert "Every reviewer record matches its change in the store." in page
    assert "1 reviewer records: 1 matched by their change in the store, 0 voided" in page
    assert "None: every reviewer record is matched or voided." in page

    # What a crash between the record and its commit leaves: a record with no change in the store,
    # here naming markup, which the page shows as text.
    at = web_gk.clock().isoformat()
    stray = web_gk.record_event("case.approved", "<b>mallory</b>", {"case_id": pending_case, "at": at})
    odd = web_gk.record_event("licence.revoked", "erin", {"licence_number": "<script>x</script>", "by": "erin",
                                                         "at": at})
    api = client.get("/v1/audit/reconcile", headers=auth(AUDITOR)).json()
    assert (api["checked"], api["matched"], api["voided"], len(api["unmatched"])) == (3, 1, 0, 2)
    sign_in(client, AUDITOR)
    page = client.get("/audit/reconcile").text
    assert "2 reviewer records without their change in the store." in page
    assert "3 reviewer records: 1 matched by their change in the store, 0 voided by a failure record, 2 without " \
           "their change" in page
    for kind, facts in (("case.approved", (str(stray["seq"]), f"case {pending_case}", "(case is denied)",
                                           "&lt;b&gt;mallory&lt;/b&gt;", "the final approval")),
                        ("licence.revoked", (str(odd["seq"]), "licence &lt;script&gt;x&lt;/script&gt;",
                                             "no such licence in the store", "erin", "a revocation"))):
        row = next(tr for tr in page.split("<tr>") if f"<code>{kind}</code>" in tr)
        assert all(f in row for f in facts), (kind, row)
    assert "<script>x" not in page and "<b>mallory" not in page


def test_reconcile_page_needs_a_session_and_the_audit_log(client: TestClient, tmp_path: Path) -> None:
    post_login(client, REQUESTER, "/")
    assert client.get("/audit/reconcile").status_code == 403
    sign_in(client, AUDITOR)
    shutil.rmtree(tmp_path / "audit")
    page = client.get("/audit/reconcile")
    assert page.status_code == 200 and "Could not reconcile:" in page.text


def test_logout(client: TestClient) -> None:
    csrf = sign_in(client)
    r = client.post("/logout", data={CSRF_FIELD: csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?done=signed-out"
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert client.get("/", follow_redirects=False).status_code == 303
    assert "You are signed out." in client.get("/login?done=signed-out").text
    assert "You are signed out." not in client.get("/login?done=%3Cb%3Ehacked").text
