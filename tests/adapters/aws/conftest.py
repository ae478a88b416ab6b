"""Fixtures for the AWS adapter tests: a gatekeeper on tmp_path, moto in-process and over HTTP, clients.

``aws`` is parametrised over the two transports the adapter is tested against: ``inproc`` (moto's
``mock_aws``, botocore's own stub point) and ``http`` (moto's ``ThreadedMotoServer`` on a free port of
127.0.0.1, reached through ``endpoint_url`` like any other endpoint). Setup clients (``aws.raw``) are
not protected; clients under test are (``aws.protected``). ``Sent`` records, per client, the requests
that left the process (botocore's ``before-send``, the last step before the wire).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.config import Config as BotoConfig
from moto import mock_aws
from moto.server import ThreadedMotoServer

import gatekeeper.adapters.aws as gk_aws
from gatekeeper.adapters.aws import _resolver
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.adapters import _support
from tests.adapters._support import TeeAudit as TeeAudit  # re-exported for the tests

REGION = "us-east-1"
CN_HQ = "555555555555"  # Singapore subsidiary of a company headquartered in China
US = "111111111111"  # verified US company
IRAN = "444444444444"
MOTO_ACCOUNT = "123456789012"  # the caller's own account, as moto's STS reports it

PROFILES = (
    CustomerProfile("aws", US, "Acme Analytics Inc.", "US", "US", "US", "verified"),
    CustomerProfile("aws", CN_HQ, "Shenzhen Deep Compute (Singapore) Pte. Ltd.", "SG", "CN", "CN", "verified"),
    CustomerProfile("aws", "222222222222", "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
    CustomerProfile("aws", IRAN, "Persian Gulf Compute Co.", "IR", "IR", "IR", "verified"),
)


def make_gatekeeper(tmp_path: Path, **config: Any) -> tuple[Gatekeeper, TeeAudit]:
    """Configure the runtime on ``tmp_path`` with this provider's PROFILES (see tests/adapters/_support.py)."""
    return _support.make_gatekeeper(tmp_path, PROFILES, **config)


@pytest.fixture
def adapter_profiles() -> tuple[CustomerProfile, ...]:
    return PROFILES


@pytest.fixture(autouse=True)
def _aws_isolation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials, no local AWS config, a clean resolver, and install() undone after each test."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDGATEKEEPERTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # moto loads thousands of sample AMIs per EC2 backend by default: seconds per test, never used here.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    _resolver.RESOLVER.clear()
    yield
    gk_aws.uninstall()
    _resolver.RESOLVER.clear()


# ---------------------------------------------------------------------------------------- moto
@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Sent:
    """Requests that left the process, by operation name."""

    operations: list[str] = field(default_factory=list)

    def __call__(self, event_name: str = "", **_: Any) -> None:
        self.operations.append(event_name.rsplit(".", 1)[-1])  # before-send.<service>.<Operation>


NO_RETRIES = BotoConfig(retries={"total_max_attempts": 1})

# One botocore data loader for every session of the test process: it caches the parsed service
# models (the EC2 model alone takes a second to parse here), which a new session otherwise re-reads.
_LOADER = botocore.loaders.create_loader()


def new_session() -> boto3.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, region_name=REGION)


@dataclass
class Aws:
    transport: str
    endpoint: str | None
    _session: boto3.Session | None = None

    def session(self) -> boto3.Session:
        """The test's (unprotected) session; protection is per client, so one session serves all."""
        if self._session is None:
            self._session = new_session()
        return self._session

    def raw(self, service: str) -> Any:
        """An unprotected client (for setting up resources). No retries: moto answers 500 to what it
        does not implement, which botocore would otherwise retry with back-off."""
        return self.session().client(service, endpoint_url=self.endpoint, config=NO_RETRIES)

    def protected(self, service: str, sent: Sent | None = None) -> Any:
        client = gk_aws.protect(self.raw(service))
        if sent is not None:
            record(client, sent)
        return client


def record(client: Any, sent: Sent) -> Any:
    """Record on ``client`` every request about to be sent (registered first: moto's in-process stub
    answers from the same event)."""
    sid = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"before-send.{sid}", sent)
    return client


def _reset(url: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset", data=json.dumps({}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


@pytest.fixture(params=["inproc", "http"])
def aws(request: pytest.FixtureRequest) -> Iterator[Aws]:
    if request.param == "inproc":
        with mock_aws():
            yield Aws("inproc", None)
    else:
        url = request.getfixturevalue("moto_server")
        _reset(url)
        yield Aws("http", url)
        _reset(url)


@pytest.fixture
def inproc() -> Iterator[Aws]:
    with mock_aws():
        yield Aws("inproc", None)


