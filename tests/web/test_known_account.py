"""A plain type for a customer on file: every view names the customer instead of "not in the store".

The fast path decides a plain type without reading the store; what is shown (``check``, its
``--json``, the API's dry run and real call, the console's what-if) is then looked up, so a known
account reads as known and an unknown one as unknown.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gatekeeper.cli.main import app
from tests.web.conftest import REQUESTER, REVIEWER, SG_CN, auth, cli_config
from tests.web.test_console import sign_in

UNKNOWN = "999999999999"


@pytest.mark.parametrize(("account", "known", "name"), [(SG_CN, True, "Lion City AI Pte. Ltd."),
                                                         (UNKNOWN, False, "")])
def test_check_cli(client: TestClient, tmp_path: Path, account: str, known: bool, name: str) -> None:
    cfg = cli_config(tmp_path)
    args = ["check", "--provider", "aws", "--account", account, "--instance-type", "m5.large", "--config", str(cfg)]
    runner = CliRunner()
    for extra in ((), ("--dry-run",)):
        out = runner.invoke(app, [*args, *extra, "--json"])
        assert out.exit_code == 0, out.output
        d = json.loads(out.stdout)
        assert d["decision"] == "allow" and d["subject"]["known"] is known and d["subject"]["legal_name"] == name
        text = runner.invoke(app, [*args, *extra], env={"COLUMNS": "200"}).stdout
        assert ("account not in the store" in text) is not known, text
        if known:
            assert name in text


def test_api_and_console(client: TestClient) -> None:
    for token, dry in ((REQUESTER, False), (REVIEWER, True)):
        r = client.post("/v1/decisions", json={"provider": "aws", "account_id": SG_CN, "instance_type": "m5.large",
                                               "dry_run": dry}, headers=auth(token))
        assert r.status_code == 200 and r.json()["subject"]["known"] is True, r.text
        assert r.json()["subject"]["legal_name"] == "Lion City AI Pte. Ltd."
    unknown = client.post("/v1/decisions", json={"provider": "aws", "account_id": UNKNOWN,
                                                 "instance_type": "m5.large", "dry_run": True}, headers=auth(REVIEWER))
    assert unknown.json()["subject"]["known"] is False
    sign_in(client, REVIEWER)
    page = client.get("/check", params={"provider": "aws", "account_id": SG_CN, "instance_type": "m5.large"}).text
    assert "Lion City AI Pte. Ltd." in page and "not on file" not in page
    page = client.get("/check", params={"provider": "aws", "account_id": UNKNOWN, "instance_type": "m5.large"}).text
    assert "not on file" in page


def test_api_errors_use_api_words(client: TestClient, pending_case: str) -> None:
    """The workflow's refusals name fields, not CLI flags, wherever they are shown."""
    for body, words in (({"licence": "L-1", "expires": "2000-01-01"}, "expiry date 2000-01-01 is in the past"),
                        ({"licence": "L-1", "expires": "2999-01-01", "regions": ["mars-north-1"]},
                         "region 'mars-north-1' is not a known aws region")):
        r = client.post(f"/v1/cases/{pending_case}/approve", json=body, headers=auth(REVIEWER))
        assert r.status_code == 422 and words in r.text and "--" not in r.text, r.text
    r = client.post(f"/v1/cases/{pending_case}/deny", json={"reason": "  "}, headers=auth(REVIEWER))
    assert r.status_code == 422 and "--" not in r.text, r.text


def test_what_if_did_you_mean(client: TestClient) -> None:
    sign_in(client, REVIEWER)
    page = client.get("/check", params={"provider": "aws", "account_id": SG_CN, "instance_type": "p5.48xlarg",
                                        "region": "us-est-1"}).text
    assert "did you mean <code>p5.48xlarge</code>" in page and "<code>us-east-1</code>" in page
    known = client.get("/check", params={"provider": "aws", "account_id": SG_CN, "instance_type": "p5.48xlarge",
                                         "region": "us-east-1"}).text
    assert "did you mean" not in known
