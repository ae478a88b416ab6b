"""The console fits a 1400x900 screen: no sideways scrolling on any page, compact queue rows.

Checked in Debian's chromium (Playwright) against ``gatekeeper serve`` with realistic content: long
legal names, several chips and rules per case, events in the audit log. The screenshots are the
ones in docs/web.md: with ``GATEKEEPER_UPDATE_DOCS=1`` they are also written to docs/images/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import load_config
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.conftest import SAMPLE_PROFILES
from tests.web._server import serve, write_config
from tests.web.conftest import REVIEWER, SG_CN, UNVERIFIED, future, pending_body
from tests.web.test_browser import CHROMIUM, artifacts, browser, decide

__all__ = ["browser"]
WIDTH, HEIGHT = 1400, 900
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"
LONG = CustomerProfile("aws", "777777777777", "Shenzhen Deep Compute International Holdings (Hong Kong) Co., Limited",
                       "HK", "HK", "CN", "verified")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

# Widths that overflow: the page itself, and every table in its scrolling wrapper.
OVERFLOW_JS = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) out.push(`page ${doc.scrollWidth} > ${window.innerWidth}`);
  document.querySelectorAll('.table-wrap').forEach((w, i) => {
    const name = w.querySelector('caption, th')?.textContent?.trim();
    if (w.scrollWidth > w.clientWidth + 1) out.push(`table ${i} (${name}) ${w.scrollWidth} > ${w.clientWidth}`);
  });
  return out;
}"""


def shot(page: Any, name: str) -> None:
    path = artifacts() / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("GATEKEEPER_UPDATE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / f"{name}.png")


def test_pages_fit_1400(tmp_path: Path, browser: Any) -> None:
    cfg = write_config(tmp_path)
    gk = Gatekeeper(load_config(cfg))
    gk.store.profiles.put_profiles([*SAMPLE_PROFILES, LONG])
    gk.close()
    with serve(cfg) as served:
        case_id = decide(served, pending_body())["case_id"]
        decide(served, pending_body(count=3, region="ap-southeast-1"))
        decide(served, {"provider": "aws", "account_id": "777777777777", "region": "ap-east-1",
                        "items": [{"instance_type": "p5.48xlarge", "count": 4, "choice": "a"},
                                  {"instance_type": "p4d.24xlarge", "count": 4, "choice": "a"},
                                  {"instance_type": "g6e.48xlarge", "count": 2}]})
        held = decide(served, {"provider": "aws", "account_id": UNVERIFIED, "instance_type": "p4d.24xlarge",
                               "region": "sa-east-1"})
        decide(served, {"provider": "aws", "account_id": "444444444444", "instance_type": "p5.48xlarge",
                        "region": "us-east-1"})
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{served.url}/?token={REVIEWER}")
        page.goto(f"{served.url}/cases/{held['case_id']}")
        page.get_by_label("Licence number").fill("D-2026-000123/AMD-1")
        page.get_by_label("Expires").fill(future(200))
        page.get_by_role("button", name="Approve and record licence").click()
        decide(served, {"provider": "aws", "account_id": UNVERIFIED, "instance_type": "p4d.24xlarge",
                        "region": "sa-east-1"})  # drawn from the licence
        pages = {"console-queue": "/", "console-case": f"/cases/{case_id}", "console-audit": "/audit?kind=all",
                 "console-cases": "/cases", "console-licences": "/licences", "console-accounts": "/accounts",
                 "console-customer": f"/accounts/aws/{SG_CN}", "console-what-if":
                 f"/check?provider=aws&account_id={SG_CN}&instance_type=p4d.24xlarge&region=ap-southeast-1",
                 "console-summary": "/audit/summary", "console-verify": "/audit/verify",
                 "console-reconcile": "/audit/reconcile"}
        problems = {}
        for name, path in pages.items():
            page.goto(f"{served.url}{path}")
            found = page.evaluate(OVERFLOW_JS)
            if found:
                problems[path] = found
            shot(page, name)
        assert not problems, problems

        # Queue rows are compact: a reviewer sees several cases without scrolling.
        page.goto(f"{served.url}/")
        heights = page.locator("table tbody tr").evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
        assert heights and max(heights) <= 110, heights
        # The case page shows the quantities: in all, largest request, per chip.
        page.goto(f"{served.url}/cases/{case_id}")
        text = page.locator("main").inner_text()
        assert re.search(r"32 accelerators over 2 distinct requests; largest request 24", text), text
        context.close()
