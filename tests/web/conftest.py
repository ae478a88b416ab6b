"""Fixtures for the web tests: a Gatekeeper on a temporary home, the app around it, tokens per role."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gatekeeper.config import Config
from gatekeeper.model import CustomerProfile
from gatekeeper.policy import PolicySet, load_policies
from gatekeeper.screening.parse import CSV_COLUMNS
from gatekeeper.service import Gatekeeper
from gatekeeper.web import create_app
from gatekeeper.web._auth import TokenMap
from tests.conftest import SAMPLE_PROFILES, tmp_config

REQUESTER = "req-6f1d0c2b9a8e4d7c"
REVIEWER = "rev-alice-3e9b7a1c5d2f"
REVIEWER2 = "rev-bob-8a4c2e6f1b3d"
AUDITOR = "aud-carol-5b7d9f1e3a2c"
# alice also holds a requester token: both of her tokens map to the identity "alice".
ALICE_REQUESTER = "req-alice-7c2e9a4b1d6f"
TOKENS = {REQUESTER: "ci-bot:requester", REVIEWER: "alice:reviewer", REVIEWER2: "bob:reviewer",
          AUDITOR: "carol:auditor", ALICE_REQUESTER: "alice:requester"}

US, SG_CN, UNVERIFIED, IRAN = (p.account_id for p in SAMPLE_PROFILES)
HUAWEI = CustomerProfile("aws", "555555555555", "Huawei Technologies Co., Ltd.", "CN", "CN", "CN", "verified")

CSL_HEADER = list(CSV_COLUMNS)  # trade.gov's 29-column header


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pending_body(**overrides: Any) -> dict[str, Any]:
    """A request the shipped packs hold (Singapore customer with a Chinese parent, A100s)."""
    body: dict[str, Any] = {"provider": "aws", "account_id": SG_CN, "instance_type": "p4d.24xlarge", "count": 1,
                            "region": "ap-southeast-1"}
    body.update(overrides)
    return body


def write_entity_list(path: Path) -> Path:
    """A one-entry Consolidated Screening List in trade.gov's CSV format (an Entity List entry)."""
    row = dict.fromkeys(CSL_HEADER, "")
    row.update({"_id": "el-huawei-0001", "source": "Entity List (EL) - Bureau of Industry and Security",
                "type": "Entity", "name": "Huawei Technologies Co., Ltd.",
                "addresses": "Bantian, Longgang District, Shenzhen, Guangdong 518129, CN",
                "federal_register_notice": "84 FR 22963", "start_date": "2019-05-16"})
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSL_HEADER)
        w.writeheader()
        w.writerow(row)
    return path


def audit_lines(home: Path) -> list[str]:
    return [line for seg in sorted((home / "audit").glob("*.jsonl"))
            for line in seg.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def shipped_policies() -> PolicySet:
    """The shipped packs, compiled once for the session (compiled policies are immutable)."""
    return load_policies(Config().policy_paths())


@pytest.fixture
def web_gk(tmp_path: Path, shipped_policies: PolicySet) -> Iterator[Gatekeeper]:
    gk = Gatekeeper(tmp_config(tmp_path), policies=shipped_policies)
    gk.store.profiles.put_profiles([*SAMPLE_PROFILES, HUAWEI])
    yield gk
    gk.close()


@pytest.fixture
def client(web_gk: Gatekeeper) -> Iterator[TestClient]:
    with TestClient(create_app(web_gk, tokens=TokenMap(TOKENS))) as c:
        yield c


@pytest.fixture
def pending_case(client: TestClient) -> str:
    """The id of a case opened by a real pending decision through the API."""
    r = client.post("/v1/decisions", json=pending_body(), headers=auth(REQUESTER))
    assert r.status_code == 200 and r.json()["decision"] == "pending", r.text
    case_id: str = r.json()["case_id"]
    return case_id


def cli_config(home: Path) -> Path:
    """A TOML config for the CLI on the same home as ``web_gk`` (same store and audit log)."""
    cfg = home / "gatekeeper.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{home}/state.db"\n[audit]\nurl = "file://{home}/audit"\n'
                   f'signing_key = "{home}/audit-key.pem"\n', encoding="utf-8")
    return cfg


def future(days: int = 365) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
