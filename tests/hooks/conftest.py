"""Fixtures of the hook tests: recorded events with placeholders, moto, a runtime on a temporary home."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gatekeeper import runtime
from gatekeeper.config import Config, HooksConfig
from gatekeeper.hooks import aws_lambda, azure_function
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.conftest import SAMPLE_PROFILES, tmp_config

EVENTS = Path(__file__).parent / "events"

US = "111111111111"           # Acme Analytics Inc., US, verified
UNVERIFIED_CL = "333333333333"  # Andes Render SpA, Chile, unverified
IRAN = "444444444444"         # embargoed
CHINA_HQ = "555555555555"     # headquartered in China
AZ_CHINA_HQ = "5a5a5a5a-0000-4000-8000-000000000001"
AZ_US = "1a1a1a1a-0000-4000-8000-000000000002"
GCP_CHINA_HQ = "hz-cloud-models"
GCP_US = "acme-analytics-prod"

HOOK_PROFILES = (
    *SAMPLE_PROFILES,
    CustomerProfile("aws", CHINA_HQ, "Shenzhen Dragon Compute Ltd.", "SG", "CN", "CN", "verified"),
    CustomerProfile("azure", AZ_CHINA_HQ, "Hangzhou Cloud Models Co.", "HK", "CN", "CN", "verified"),
    CustomerProfile("azure", AZ_US, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("gcp", GCP_CHINA_HQ, "Hangzhou Cloud Models Co.", "HK", "CN", "CN", "verified"),
    CustomerProfile("gcp", GCP_US, "Acme Analytics Inc.", "US", "US", "US", "verified"),
)


def load_event(name: str, **values: str) -> dict[str, Any]:
    """A recorded event from tests/hooks/events with ``{{KEY}}`` placeholders filled in."""
    text = (EVENTS / name).read_text(encoding="utf-8")
    values.setdefault("EVENT_ID", str(uuid.uuid4()))
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    left = sorted(set(re.findall(r"\{\{([A-Z_]+)\}\}", text)))
    if left:
        raise AssertionError(f"{name}: placeholders not filled: {left}")
    event: dict[str, Any] = json.loads(text)
    return event


def audit_records(home: Path) -> list[dict[str, Any]]:
    """The decision and event records of the log under ``home`` (not the log's own bookkeeping)."""
    out: list[dict[str, Any]] = []
    for seg in sorted((home / "audit").glob("*.jsonl")):
        out.extend(json.loads(line) for line in seg.read_text(encoding="utf-8").splitlines() if line.strip())
    return [r for r in out if not str(r.get("kind", "")).startswith("audit.")]


def kinds(home: Path) -> list[str]:
    return [str(r.get("kind")) for r in audit_records(home)]


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1",
                 # moto loads thousands of public AMIs per EC2 backend unless told not to (seconds a test).
                 "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GATEKEEPER_CONFIG", "GATEKEEPER_CONFIG_TOML",
              "GATEKEEPER_SELF_PRINCIPAL_ID"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
def moto(aws_credentials: None) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


MakeGk = Callable[..., Gatekeeper]


@pytest.fixture
def make_gk(tmp_path: Path, aws_credentials: None) -> Iterator[MakeGk]:
    """Install a runtime on ``tmp_path`` with the hook profiles; keyword arguments go to [hooks]."""

    def make(mode: str = "enforce", **hooks: Any) -> Gatekeeper:
        cfg: Config = tmp_config(tmp_path, mode=mode, hooks=HooksConfig(**hooks))
        gk = runtime.configure(cfg)
        gk.store.profiles.put_profiles(list(HOOK_PROFILES))
        return gk

    yield make
    runtime.reset()
    aws_lambda.reset()
    azure_function.reset()


@pytest.fixture
def gk(make_gk: MakeGk) -> Gatekeeper:
    return make_gk()


def vouched(gk: Gatekeeper) -> tuple[int, int]:
    """(the seq of the witness's latest digest of ``gk``'s log, 0 if none; the log's newest durable seq)."""
    audit: Any = gk.audit
    trust = audit.trust  # an anchored log: the embedded defaults keep a witness in the state store
    digest = trust.witness.latest_digest(trust.log_id)
    return (digest.seq if digest is not None else 0), audit.inner.durable_head[0]
