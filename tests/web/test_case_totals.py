"""A case's quantities agree everywhere: ``cases show`` (table and JSON), the API, the console, the packet.

The case is built from real decisions through the API: a fleet-style request whose two alternatives
for one slot are both A100 instances (16 accelerators, not 32), the same call retried (counted once),
and a second, smaller request (8). Every view must say 24 in all, largest request 16, and the chip
row the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gatekeeper.cli.main import app
from gatekeeper.workflow.model import CaseRequest, case_totals
from tests.web.conftest import REQUESTER, REVIEWER, SG_CN, auth, cli_config
from tests.web.test_console import sign_in

FLEET = {"provider": "aws", "account_id": SG_CN, "region": "ap-southeast-1", "operation": "CreateFleet",
         "items": [{"instance_type": "p4d.24xlarge", "count": 2, "choice": "slot-1"},
                   {"instance_type": "p4de.24xlarge", "count": 2, "choice": "slot-1"}]}
SINGLE = {"provider": "aws", "account_id": SG_CN, "region": "ap-southeast-1", "instance_type": "p4d.24xlarge",
          "count": 1}


def _open_case(client: TestClient) -> str:
    ids = set()
    for body in (FLEET, FLEET, SINGLE):
        r = client.post("/v1/decisions", json=body, headers=auth(REQUESTER))
        assert r.status_code == 200 and r.json()["decision"] == "pending", r.text
        ids.add(r.json()["case_id"])
    [case_id] = ids
    return str(case_id)


def test_totals_count_retries_and_alternatives_once(client: TestClient) -> None:
    case = client.get(f"/v1/cases/{_open_case(client)}", headers=auth(REVIEWER)).json()
    assert len(case["requests"]) == 3 and [r["quantity"] for r in case["requests"]] == [16, 16, 8]
    totals = case_totals(tuple(CaseRequest.model_validate(r) for r in case["requests"]))
    assert (totals.quantity, totals.largest, totals.calls, totals.distinct_requests) == (24, 16, 3, 2)
    [chip] = totals.chips
    assert (chip.model, chip.total_requested, chip.largest_request) == ("A100", 24, 16)
    assert chip.instance_types == ("p4d.24xlarge", "p4de.24xlarge")
    assert totals.describe() == ("24 accelerators over 2 distinct requests, plus 1 identical retry counted "
                                 "once; largest request 16")


def test_every_view_agrees(client: TestClient, tmp_path: Path) -> None:
    case_id = _open_case(client)
    api = client.get(f"/v1/cases/{case_id}", headers=auth(REVIEWER)).json()
    assert (api["requested_quantity"], api["largest_request"], api["distinct_requests"]) == (24, 16, 2)
    [acc] = api["accelerators"]
    assert (acc["total_requested"], acc["largest_request"]) == (24, 16)

    # The CLI on the same home.
    cfg = cli_config(tmp_path)
    runner = CliRunner()
    shown = runner.invoke(app, ["cases", "show", case_id, "--json", "--config", str(cfg)])
    assert shown.exit_code == 0, shown.output
    cli = json.loads(shown.stdout)
    assert {k: cli[k] for k in ("requested_quantity", "largest_request", "accelerators")} == {
        k: api[k] for k in ("requested_quantity", "largest_request", "accelerators")}
    table = runner.invoke(app, ["cases", "show", case_id, "--config", str(cfg)], env={"COLUMNS": "200"})
    assert "24 accelerators over 2 distinct requests" in table.stdout and "largest request 16" in table.stdout
    acc_row = next(line for line in table.stdout.splitlines() if "A100" in line and "3A090.a" in line)
    assert re.search(r"\b16\b.*\b24\b", acc_row), acc_row

    # The packet, JSON and Markdown.
    packet = json.loads(runner.invoke(app, ["cases", "export", case_id, "--format", "json", "--config",
                                            str(cfg)]).stdout)
    assert (packet["quantity_requested"], packet["largest_request"]) == (24, 16)
    assert [(i["total_requested"], i["largest_request"]) for i in packet["items"]] == [(24, 16)]
    md = runner.invoke(app, ["cases", "export", case_id, "--config", str(cfg)]).stdout
    assert "**24 accelerators** over 2 distinct requests" in md and "| 16 | 24 |" in md

    # The console's case page.
    sign_in(client, REVIEWER)
    page = client.get(f"/cases/{case_id}").text
    assert "24 accelerators over 2 distinct requests" in page and "largest request 16" in page
    cells = _chip_cells(page)
    assert cells[-2:] == ["16", "24"], cells


def _chip_cells(html: str) -> list[Any]:
    row = re.search(r"<tr><td>A100</td>(.*?)</tr>", html, re.S)
    assert row, "no A100 row on the case page"
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
