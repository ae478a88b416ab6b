"""Backends for the store contract tests: the embedded SQLite file, PostgreSQL (a real server started
here, see ``local_postgres``) and DynamoDB (moto over HTTP).

Imported by the conftest files of tests/stores and tests/workflow; the worker functions at the end
run in child processes (multiprocessing "spawn"), so they live in an importable module.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.config import AuditConfig, Config, StoreConfig, WorkflowConfig
from gatekeeper.model import ComputeItem, Outcome, ProvisioningRequest
from gatekeeper.service import Gatekeeper
from gatekeeper.stores import open_store
from gatekeeper.stores.testing import DUMMY_CREDENTIALS, LocalDynamoDB, LocalPostgres, PostgresUnavailable
from gatekeeper.workflow.model import Licence, Scope

BACKENDS = ("sqlite", "postgresql", "dynamodb")
CN_PARENT = ("aws", "222222222222")  # Lion City AI Pte. Ltd.: SG subsidiary of a Chinese parent (conftest)
P4D = "p4d.24xlarge"  # 8 x A100 (3A090.a)


@dataclass
class Clock:
    """A clock the test moves (licence expiry, today's date for approvals)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


def aws_env() -> Iterator[None]:
    """Dummy credentials for botocore to sign requests to the local server; restored afterwards."""
    saved = {k: os.environ.get(k) for k in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def local_dynamodb() -> Iterator[LocalDynamoDB]:
    gen = aws_env()
    next(gen)
    try:
        with LocalDynamoDB() as ddb:
            yield ddb
    finally:
        next(gen, None)


def new_postgres() -> LocalPostgres:
    """A LocalPostgres (not started); skips loudly without the server binaries, fails in CI (``CI`` set)."""
    try:
        return LocalPostgres()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI (scripts/test.sh installs it): {exc}")
        pytest.skip(f"PostgreSQL TESTS SKIPPED: {exc}")


@pytest.fixture(scope="session")
def local_postgres() -> Iterator[LocalPostgres]:
    """One PostgreSQL server per test process (each test uses a schema of its own)."""
    with new_postgres() as server:
        yield server


def postgres_url(server: LocalPostgres, **params: str | int | float) -> str:
    """A new, empty schema on ``server``."""
    return server.url(schema=f"gk_{uuid.uuid4().hex[:12]}", **params)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, initialised store of each backend (SQLite file in tmp_path; a PostgreSQL schema and
    DynamoDB tables with a new name)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
    elif request.param == "postgresql":
        url = postgres_url(request.getfixturevalue("local_postgres"))
    else:
        ddb: LocalDynamoDB = request.getfixturevalue("local_dynamodb")
        url = ddb.url(f"gk-{uuid.uuid4().hex[:12]}")
    store = open_store(url, base_dir=tmp_path)
    store.init()
    store.close()
    return url


def make_config(tmp_path: Path, store_url: str, *, approvals: int = 1) -> Config:
    return Config(store=StoreConfig(url=store_url, create=True),
                  audit=AuditConfig(url=f"file://{tmp_path}/audit", signing_key=str(tmp_path / "audit-key.pem")),
                  workflow=WorkflowConfig(approvals_required=approvals))


def make_gatekeeper(tmp_path: Path, store_url: str, *, clock: Clock | None = None, approvals: int = 1) -> Gatekeeper:
    from tests.conftest import SAMPLE_PROFILES

    cfg = make_config(tmp_path, store_url, approvals=approvals)
    gk = Gatekeeper(cfg) if clock is None else Gatekeeper(cfg, clock=clock)
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    return gk


def request(count: int = 1, *, instance_type: str = P4D, principal: str = "arn:aws:iam::222222222222:user/dev",
            region: str = "us-east-1", account: str = CN_PARENT[1]) -> ProvisioningRequest:
    return ProvisioningRequest(provider="aws", account_id=account, items=(ComputeItem(instance_type, count),),
                               region=region, service="ec2", operation="RunInstances", principal=principal,
                               source="sdk")


def licence(number: str = "L-1", *, quantity: float = 8, remaining: float | None = None, days: int = 30,
            on: date | None = None, status: str = "active", account: str = CN_PARENT[1],
            scope: Scope | None = None) -> Licence:
    today = on or datetime.now(UTC).date()
    return Licence(number=number, provider="aws", account_id=account, legal_name="Lion City AI Pte. Ltd.",
                   scope=scope or Scope(export_classes=("3A090.a",), providers=("aws",)), quantity=quantity,
                   remaining=quantity if remaining is None else remaining, valid_from=today,
                   valid_until=today + timedelta(days=days), status=status,  # type: ignore[arg-type]
                   approvers=("reviewer",), issued_at=datetime.now(UTC))


def audit_records(tmp_path: Path) -> list[dict[str, object]]:
    """Every record of the test's audit log, in order."""
    import json

    out = []
    for seg in sorted((tmp_path / "audit").glob("segment-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return out


# -- workers for the multi-process tests (run in spawned children) ---------------------------------
def draw_worker(args: tuple[str, str, int]) -> list[tuple[str, str | None]]:
    """Decide ``n`` one-instance requests for the CN-parent customer; return (outcome, licence) per request."""
    home, url, n = args
    os.environ.update(DUMMY_CREDENTIALS)
    gk = Gatekeeper(make_config(Path(home), url))
    try:
        out = []
        for _ in range(n):
            d = gk.decide(request())
            out.append((d.outcome.label, d.licence_id))
        return out
    finally:
        gk.close()


def pending_worker(args: tuple[str, str, int]) -> list[str | None]:
    """Decide ``n`` pending requests (no licence on file); return the case id of each."""
    home, url, n = args
    os.environ.update(DUMMY_CREDENTIALS)
    gk = Gatekeeper(make_config(Path(home), url))
    try:
        out = []
        for _ in range(n):
            d = gk.decide(request())
            assert d.outcome == Outcome.PENDING, d.reasons
            out.append(d.case_id)
        return out
    finally:
        gk.close()


def threaded_draw_worker(args: tuple[str, str, int, int]) -> list[tuple[str, str | None]]:
    """``threads`` threads of one Gatekeeper each decide ``n`` one-instance requests; (outcome, licence) each."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    home, url, threads, n = args
    gk = Gatekeeper(make_config(Path(home), url))
    barrier = threading.Barrier(threads)

    def one(_: int) -> list[tuple[str, str | None]]:
        barrier.wait()
        return [(d.outcome.label, d.licence_id) for d in (gk.decide(request()) for _ in range(n))]

    try:
        with ThreadPoolExecutor(threads) as pool:
            return [r for batch in pool.map(one, range(threads)) for r in batch]
    finally:
        gk.close()
