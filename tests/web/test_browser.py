"""End to end in a real headless browser (Debian's chromium through Playwright) against ``gatekeeper serve``.

A reviewer signs in, opens the pending case from the queue, approves it with the licence terms, and
the next decision for that customer changes from pending to allow. Screenshots of every page go to
``test-artifacts/web/`` (or ``$GATEKEEPER_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gatekeeper.config import load_config
from gatekeeper.service import Gatekeeper
from tests.conftest import SAMPLE_PROFILES
from tests.web._server import Served, serve, write_config
from tests.web.conftest import AUDITOR, REQUESTER, REVIEWER, SG_CN, UNVERIFIED, auth, future, pending_body


def shown(locator: Any) -> bool:
    """True once ``locator`` is visible: after a click that navigates, the next page may not be
    rendered yet when the click returns (``is_visible`` does not wait; this waits up to 10 s)."""
    try:
        locator.first.wait_for(state="visible", timeout=10_000)
    except Exception:
        return False
    return True

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install -y chromium; .ci/run installs it)"),
]


def artifacts() -> Path:
    root = Path(os.environ.get("GATEKEEPER_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts")
    out = root / "web"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    cfg = write_config(tmp_path)
    gk = Gatekeeper(load_config(cfg))
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    gk.close()
    with serve(cfg) as served:
        yield served


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    try:
        yield pg
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(artifacts() / f"{name}.png"), full_page=True)


def decide(served: Served, body: dict[str, Any], token: str = REQUESTER) -> dict[str, Any]:
    """A decision over real HTTP, as another language's client would ask it."""
    r = httpx.post(f"{served.url}/v1/decisions", json=body, headers=auth(token), timeout=30)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_reviewer_works_a_pending_case_and_the_next_decision_is_allowed(server: Served, page: Any) -> None:
    first = decide(server, pending_body())
    assert first["decision"] == "pending"
    case_id = first["case_id"]

    # Sign in with the token once in the address; the console drops it from the address at once.
    page.goto(f"{server.url}/?token={REVIEWER}")
    assert "token=" not in page.url
    assert shown(page.get_by_role("heading", name="Pending cases"))
    row = page.get_by_role("row").filter(has_text=case_id)
    assert row.count() == 1
    assert "Lion City AI Pte. Ltd." in row.inner_text() and "A100" in row.inner_text()
    assert "15 CFR" in row.inner_text()  # the citation is in the queue
    shot(page, "01-queue")

    page.get_by_role("link", name=case_id).click()
    assert shown(page.get_by_role("heading", name=re.compile(f"Case {case_id}")))
    facts = page.locator("section", has=page.get_by_role("heading", name="Customer (as at the request)"))
    assert re.search(r"Ultimate parent\s+CN", facts.inner_text())
    rules = page.locator("section", has=page.get_by_role("heading", name=re.compile("rules and citations")))
    assert "15 CFR 742.6" in rules.inner_text()
    shot(page, "02-case")

    page.get_by_label("Licence number").fill("D-2025-0042")
    page.get_by_label("Expires").fill(future(180))
    page.get_by_label("Quantity").fill("16")
    page.get_by_label("Conditions").fill("No re-export; end use: model training only.")
    page.get_by_role("button", name="Approve and record licence").click()
    assert shown(page.get_by_role("status").filter(has_text="Approved"))
    assert page.locator("h1 .badge").inner_text() == "approved"
    assert shown(page.get_by_role("link", name="D-2025-0042"))
    shot(page, "03-approved")

    # The same request again: now allowed, under the licence the reviewer recorded.
    again = decide(server, pending_body())
    assert again["decision"] == "allow" and again["licence_id"] == "D-2025-0042"

    # And the reviewer sees it: the customer's recent decisions, newest first, and the licence drawn down.
    page.goto(f"{server.url}/accounts/aws/{SG_CN}")
    recent = page.locator("section", has=page.get_by_role("heading", name="Recent decisions"))
    rows = recent.get_by_role("row")
    assert "allow" in rows.nth(1).inner_text() and "D-2025-0042" in rows.nth(1).inner_text()
    assert "pending" in rows.nth(2).inner_text()
    shot(page, "04-customer")
    page.goto(f"{server.url}/licences/D-2025-0042")
    terms = page.locator("dl.facts").inner_text()
    assert re.search(r"Drawn\s+8\b", terms) and re.search(r"Left\s+8\b", terms)  # 16 approved, 8 drawn
    shot(page, "05-licence")

    # The what-if page agrees (dry run: nothing recorded).
    page.goto(f"{server.url}/check?provider=aws&account_id={SG_CN}&instance_type=p4d.24xlarge&region=ap-southeast-1")
    assert page.locator("#h-result .badge").inner_text() == "allow"
    shot(page, "06-what-if")
    assert REVIEWER not in server.log()  # the login token never reaches the access log


def test_reviewer_denies_with_a_reason_and_the_audit_pages(server: Served, page: Any) -> None:
    held = decide(server, {"provider": "aws", "account_id": UNVERIFIED, "instance_type": "p4d.24xlarge",
                           "region": "sa-east-1"})
    decide(server, pending_body())
    decide(server, {"provider": "aws", "account_id": "444444444444", "instance_type": "p5.48xlarge",
                    "region": "us-east-1"})
    page.goto(f"{server.url}/")
    assert "/login" in page.url  # not signed in
    page.get_by_label("Access token").fill("wrong-token")
    page.get_by_role("button", name="Sign in").click()
    assert shown(page.get_by_role("alert").filter(has_text="not recognised"))
    page.get_by_label("Access token").fill(REVIEWER)
    page.get_by_role("button", name="Sign in").click()
    assert shown(page.get_by_role("heading", name="Pending cases"))

    assert held["decision"] == "pending", held  # an unverified foreign customer asking for A100s is held
    page.get_by_role("link", name=held["case_id"]).click()
    page.get_by_label("Reason").fill("Customer could not evidence its end use.")
    page.get_by_role("button", name="Deny").click()
    assert shown(page.get_by_role("status").filter(has_text="Denied"))
    assert page.locator("h1 .badge").inner_text() == "denied"
    assert "Customer could not evidence its end use." in page.locator("main").inner_text()
    shot(page, "07-denied")
    # Denial is final for the case; a new request for the customer opens a new case.
    again = decide(server, {"provider": "aws", "account_id": UNVERIFIED, "instance_type": "p4d.24xlarge",
                            "region": "sa-east-1"})
    assert again["decision"] == "pending" and again["case_id"] != held["case_id"]

    page.goto(f"{server.url}/audit")
    assert shown(page.get_by_role("heading", name="Audit log"))
    page.get_by_label("Decision").select_option("deny")
    page.get_by_role("button", name="Search").click()
    # The search is a GET that navigates: wait for the results page before counting its rows
    # (``count()`` does not wait, and read the old page's empty table once).
    page.wait_for_url(re.compile(r"[?&]decision=deny\b"), timeout=10_000)
    body_rows = page.locator("table tbody tr")
    assert shown(body_rows)
    assert body_rows.count() >= 1 and all("deny" in body_rows.nth(i).inner_text() for i in range(body_rows.count()))
    shot(page, "08-audit-search")

    page.goto(f"{server.url}/audit/summary")
    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.chart rect").count() > 3
    shot(page, "09-summary")

    page.goto(f"{server.url}/audit/verify")
    assert shown(page.get_by_role("status").filter(has_text="The audit log verifies"))
    shot(page, "10-verify")

    # The denial's record matches its change in the store; the page says so with the API's numbers.
    page.get_by_role("link", name="Reconcile").click()
    assert shown(page.get_by_role("status").filter(has_text="Every reviewer record matches its change"))
    facts = page.locator("dl.facts").inner_text()
    api = httpx.get(f"{server.url}/v1/audit/reconcile", headers=auth(AUDITOR), timeout=30).json()
    assert api["matched"] == 1 and api["unmatched"] == []
    assert re.search(rf"Matched\s+{api['matched']}\b", facts) and re.search(r"Unmatched\s+0\b", facts)
    shot(page, "10b-reconcile")

    page.get_by_role("button", name="Sign out").click()
    assert "/login" in page.url
    page.goto(f"{server.url}/cases")
    assert "/login" in page.url


def test_an_auditor_reads_but_cannot_decide(server: Served, page: Any) -> None:
    case_id = decide(server, pending_body())["case_id"]
    page.goto(f"{server.url}/cases/{case_id}?token={AUDITOR}")
    assert shown(page.get_by_role("heading", name=re.compile(f"Case {case_id}")))
    assert page.get_by_role("button", name="Approve and record licence").count() == 0
    assert "can read cases but not decide them" in page.content()
    shot(page, "11-auditor-case")
    page.set_viewport_size({"width": 760, "height": 1000})  # a narrow window: nothing spills sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 760
    shot(page, "12-case-narrow")
    page.goto(f"{server.url}/?token={REQUESTER}")
    assert shown(page.get_by_role("heading", name="Not allowed"))


@pytest.fixture
def attacker_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Another origin on the same host (another port: same site, so SameSite=Strict cookies still go)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "attacker"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_forms_on_another_origin_cannot_sign_in_or_decide(server: Served, page: Any,
                                                          attacker_site: tuple[str, Path]) -> None:
    """Login CSRF and a forged decision, from a real browser page on another origin: both refused."""
    evil, root = attacker_site
    case_id = decide(server, pending_body())["case_id"]
    (root / "login.html").write_text(
        f'<form method="post" action="{server.url}/login"><input name="token" value="{AUDITOR}">'
        '<input name="next" value="/"><input name="login_csrf" value="guess"><button>Win a prize</button></form>',
        encoding="utf-8")
    page.goto(f"{evil}/login.html")
    page.get_by_role("button", name="Win a prize").click()
    assert shown(page.get_by_role("alert").filter(has_text="sent from another site"))
    page.goto(f"{server.url}/")
    assert "/login" in page.url  # the browser was not signed in as the attacker's auditor

    page.get_by_label("Access token").fill(REVIEWER)  # the reviewer signs in, properly
    page.get_by_role("button", name="Sign in").click()
    assert shown(page.get_by_role("heading", name="Pending cases"))
    (root / "deny.html").write_text(
        f'<form method="post" action="{server.url}/cases/{case_id}/deny"><input name="reason" value="forged">'
        '<input name="csrf_token" value="guess"><button>Claim</button></form>', encoding="utf-8")
    page.goto(f"{evil}/deny.html")
    page.get_by_role("button", name="Claim").click()
    assert "sent from another site" in page.content()
    status = httpx.get(f"{server.url}/v1/cases/{case_id}", headers=auth(REVIEWER), timeout=30).json()["status"]
    assert status == "open"
