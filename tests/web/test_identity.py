"""Identity comes from the credential (issue 15, section 2).

The principal of a decision is the bearer token's identity, never a field of the body; separation of
duties compares those identities; a body is never read before its sender is authenticated, and never
beyond ``[web] max_body_bytes``; the sign-in form has a login CSRF token and console posts check Origin.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gatekeeper.config import Config, WebConfig
from gatekeeper.policy import PolicySet
from gatekeeper.service import Gatekeeper
from gatekeeper.web import create_app
from gatekeeper.web._auth import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, TokenMap, origin_allowed, origin_of
from gatekeeper.workflow.packet import build_packet, packet_markdown
from tests.web._server import serve, write_config
from tests.web.conftest import (
    ALICE_REQUESTER,
    REQUESTER,
    REVIEWER,
    REVIEWER2,
    TOKENS,
    audit_lines,
    auth,
    future,
    pending_body,
)
from tests.web.test_console import csrf_of, login_nonce, sign_in

MB = 1024 * 1024


# -- separation of duties: identities behind the tokens ----------------------------------------
def test_a_requester_cannot_name_another_principal(client: TestClient, tmp_path: Path) -> None:
    """The reported bypass: a requester opened a case as ``svc-robot`` and approved it themselves."""
    r = client.post("/v1/decisions", json=pending_body(principal="svc-robot"), headers=auth(ALICE_REQUESTER))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "principal"] and "on_behalf_of" in r.json()["error"]
    assert audit_lines(tmp_path) == [] and client.get("/v1/cases", headers=auth(REVIEWER)).json() == []


def test_separation_of_duties_compares_the_identities_behind_the_tokens(client: TestClient,
                                                                        tmp_path: Path) -> None:
    # alice asks with her requester token, naming svc-robot as whom she asks for.
    d = client.post("/v1/decisions", json=pending_body(on_behalf_of="svc-robot"),
                    headers=auth(ALICE_REQUESTER)).json()
    assert d["decision"] == "pending"
    assert d["request"]["principal"] == "alice" and d["request"]["on_behalf_of"] == "svc-robot"
    [rec] = [r for r in map(json.loads, audit_lines(tmp_path))
             if r.get("kind") == "decision" and r["decision_id"] == d["decision_id"]]
    assert rec["principal"] == "alice" and rec["request"]["on_behalf_of"] == "svc-robot"
    case = client.get(f"/v1/cases/{d['case_id']}", headers=auth(REVIEWER)).json()
    assert case["principals"] == ["alice"]
    # Her reviewer token maps to the same identity: refused, nothing issued.
    r = client.post(f"/v1/cases/{d['case_id']}/approve", json={"licence": "L-77", "expires": future(),
                                                                 "quantity": 64}, headers=auth(REVIEWER))
    assert r.status_code == 409 and "separation of duties" in r.json()["error"]
    assert client.get("/v1/licences", headers=auth(REVIEWER)).json() == []
    again = client.post("/v1/decisions", json=pending_body(), headers=auth(ALICE_REQUESTER)).json()
    assert again["decision"] == "pending" and again["licence_id"] is None  # no licence to use
    # Another reviewer may approve; the licence names bob.
    r = client.post(f"/v1/cases/{d['case_id']}/approve", json={"licence": "L-77", "expires": future(),
                                                                 "quantity": 64}, headers=auth(REVIEWER2))
    assert r.status_code == 200 and r.json()["licence"]["approvers"] == ["bob"]


def test_a_shared_service_token_is_the_principal_whatever_it_asks_for(client: TestClient) -> None:
    d = client.post("/v1/decisions", json=pending_body(on_behalf_of="alice"), headers=auth(REQUESTER)).json()
    assert d["request"]["principal"] == "ci-bot"
    # on_behalf_of is recorded, not compared: alice did not hold the credential that asked.
    r = client.post(f"/v1/cases/{d['case_id']}/approve", json={"licence": "L-78", "expires": future()},
                    headers=auth(REVIEWER))
    assert r.status_code == 200, r.text


def test_the_console_and_the_packet_show_on_behalf_of_beside_the_principal(client: TestClient,
                                                                          web_gk: Gatekeeper) -> None:
    d = client.post("/v1/decisions", json=pending_body(on_behalf_of="ops@customer"),
                    headers=auth(REQUESTER)).json()
    sign_in(client)
    page = client.get(f"/cases/{d['case_id']}").text
    assert "ci-bot" in page and "on behalf of ops@customer" in page
    case = web_gk.store.cases.get_case(d["case_id"])
    assert case is not None
    packet = build_packet(case, web_gk.jurisdictions, generated_at=datetime.now(UTC))
    [req] = packet["request_history"]
    assert (req["principal"], req["on_behalf_of"]) == ("ci-bot", "ops@customer")
    assert "| ci-bot (on behalf of ops@customer) |" in packet_markdown(packet)


# -- the body: authenticated first, capped --------------------------------------------------------
def _raw(url: str, head: str) -> tuple[socket.socket, str]:
    """Send only the request head; return the socket and what the server answered (without any body)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head.encode())
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return sock, data.decode("latin-1")


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    home = tmp_path_factory.mktemp("served")
    with serve(write_config(home)) as s:
        yield s.url, s.process.pid


def test_an_unauthenticated_300_mb_body_is_refused_before_it_is_sent(served: tuple[str, int]) -> None:
    url, pid = served
    before = _rss_kib(pid)
    for path, auth_header, expect in (
        ("/v1/decisions", "", "HTTP/1.1 401"),
        ("/v1/decisions", "Authorization: Bearer not-a-token\r\n", "HTTP/1.1 401"),
        ("/v1/cases/case-x/approve", "", "HTTP/1.1 401"),
        ("/cases/case-x/approve", "", "HTTP/1.1 303"),  # console: sign in first
    ):
        head = (f"POST {path} HTTP/1.1\r\nHost: {url[7:]}\r\nContent-Type: application/json\r\n{auth_header}"
                f"Content-Length: {300 * MB}\r\n\r\n")
        sock, answer = _raw(url, head)
        with sock:
            # The answer came while not one byte of the 300 MB had been sent.
            assert answer.startswith(expect), (path, answer)
            if expect.endswith("401"):
                assert "WWW-Authenticate: Bearer" in answer.replace("www-authenticate", "WWW-Authenticate")
    assert _rss_kib(pid) - before < 20 * 1024  # nothing was buffered


def test_an_authenticated_body_over_the_cap_is_413_before_it_is_sent(served: tuple[str, int]) -> None:
    url, _ = served
    head = (f"POST /v1/decisions HTTP/1.1\r\nHost: {url[7:]}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {REQUESTER}\r\nContent-Length: {300 * MB}\r\n\r\n")
    sock, answer = _raw(url, head)
    with sock:
        assert answer.startswith("HTTP/1.1 413"), answer
        assert "max_body_bytes" in answer


def test_a_streamed_body_is_cut_off_at_the_cap(served: tuple[str, int]) -> None:
    """Chunked (no Content-Length): counted as it arrives, refused once past the cap."""
    url, pid = served
    before = _rss_kib(pid)
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    with sock:
        sock.sendall((f"POST /v1/decisions HTTP/1.1\r\nHost: {url[7:]}\r\nContent-Type: application/json\r\n"
                      f"Authorization: Bearer {REQUESTER}\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b" " * (64 * 1024)
        sent, answer = 0, b""
        sock.settimeout(0.05)
        while sent < 50 * MB and not answer:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(10)
        if not answer:
            try:  # the server answered and closed while a chunk was on its way: its answer is still queued
                answer = sock.recv(65536)
            except ConnectionResetError:
                answer = b"(reset before the answer could be read)"
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 5 * MB  # refused soon after the 64 KiB default, not after the whole stream
    assert _rss_kib(pid) - before < 20 * 1024


def test_the_cap_is_configurable(web_gk: Gatekeeper, shipped_policies: PolicySet) -> None:
    assert WebConfig().max_body_bytes == 64 * 1024
    cfg = web_gk.config.model_copy(update={"web": WebConfig(max_body_bytes=2048)})
    small = Gatekeeper(cfg, policies=shipped_policies)
    try:
        with TestClient(create_app(small, tokens=TokenMap(TOKENS))) as c:
            r = c.post("/v1/decisions", json=pending_body(resource_ids=["x" * 200] * 20), headers=auth(REQUESTER))
            assert r.status_code == 413 and r.json()["type"] == "PayloadTooLarge" and "max_body_bytes" in r.text
            assert c.post("/v1/decisions", json=pending_body(), headers=auth(REQUESTER)).status_code == 200
    finally:
        small.close()
    with pytest.raises(ValueError, match="max_body_bytes"):
        Config(web={"max_body_bytes": 10})  # type: ignore[arg-type]


# -- login CSRF and Origin ------------------------------------------------------------------------
def test_sign_in_needs_the_login_csrf_token(client: TestClient) -> None:
    for extra in ({}, {"login_csrf": "forged"}):
        r = client.post("/login", data={"token": REVIEWER, "next": "/", **extra}, follow_redirects=False)
        assert r.status_code == 403 and "stale or was sent from another site" in r.text
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code == 303  # not signed in
    nonce = login_nonce(client)
    cookie = client.cookies.get(LOGIN_COOKIE)
    assert cookie == nonce
    r = client.get("/login")
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=strict" in r.headers["set-cookie"]
    # The right nonce, but posted from another site: refused.
    r = client.post("/login", data={"token": REVIEWER, "next": "/", "login_csrf": nonce},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    r = client.post("/login", data={"token": REVIEWER, "next": "/", "login_csrf": nonce},
                    headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 303 and SESSION_COOKIE in r.headers["set-cookie"]


def test_a_token_link_from_another_site_does_not_sign_in(client: TestClient) -> None:
    r = client.get("/cases", params={"token": REVIEWER}, headers={"Sec-Fetch-Site": "cross-site"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fcases"
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    r = client.get("/cases", params={"token": REVIEWER}, headers={"Sec-Fetch-Site": "none"},  # typed in
                   follow_redirects=False)
    assert r.status_code == 303 and SESSION_COOKIE in r.headers["set-cookie"]


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Referer": "https://evil.example/page"},
                                     {"Origin": "http://testserver.evil.example"}])
def test_console_posts_from_another_origin_are_refused(client: TestClient, pending_case: str,
                                                       headers: dict[str, str]) -> None:
    csrf = sign_in(client)
    r = client.post(f"/cases/{pending_case}/deny", data={CSRF_FIELD: csrf, "reason": "forged"}, headers=headers)
    assert r.status_code == 403 and "another site" in r.text
    assert client.get(f"/v1/cases/{pending_case}", headers=auth(REVIEWER)).json()["status"] == "open"


def test_console_posts_from_this_origin_pass(client: TestClient, pending_case: str) -> None:
    csrf = sign_in(client)
    r = client.post(f"/cases/{pending_case}/deny", data={CSRF_FIELD: csrf, "reason": "no end-use statement"},
                    headers={"Origin": "http://testserver", "Referer": "https://ignored.example/"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/v1/cases/{pending_case}", headers=auth(REVIEWER)).json()["status"] == "denied"


def test_configured_origins_are_accepted(web_gk: Gatekeeper, shipped_policies: PolicySet) -> None:
    cfg = web_gk.config.model_copy(update={"web": WebConfig(origins=["https://Gatekeeper.example.com"])})
    proxied = Gatekeeper(cfg, policies=shipped_policies)
    try:
        with TestClient(create_app(proxied, tokens=TokenMap(TOKENS))) as c:
            case_id = c.post("/v1/decisions", json=pending_body(), headers=auth(REQUESTER)).json()["case_id"]
            csrf = sign_in(c)
            r = c.post(f"/cases/{case_id}/deny", data={CSRF_FIELD: csrf, "reason": "r"},
                       headers={"Origin": "https://gatekeeper.example.com"}, follow_redirects=False)
            assert r.status_code == 303
            assert csrf_of(c.get("/").text) == csrf
    finally:
        proxied.close()
    with pytest.raises(ValueError, match="scheme://host"):
        WebConfig(origins=["gatekeeper.example.com/path"])


def test_pages_send_their_origin_on_posts(client: TestClient) -> None:
    # Under "no-referrer" a browser sends "Origin: null" on the console's own posts; same-origin keeps it.
    assert client.get("/login").headers["referrer-policy"] == "same-origin"


def test_origin_helpers() -> None:
    assert origin_of("https://Example.com:8443/a/b?c") == "https://example.com:8443"
    assert origin_of("not a url") == ""
    own = "http://127.0.0.1:8765"
    assert origin_allowed(None, None, own)  # not a browser: the CSRF token is the check
    assert origin_allowed("http://127.0.0.1:8765", None, own)
    assert not origin_allowed("null", None, own)
    assert not origin_allowed(None, "http://127.0.0.1:9999/x", own)
