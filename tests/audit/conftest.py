"""Helpers for the audit tests: open a log under tmp_path, read it back, build decisions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from gatekeeper.audit import open_audit_log
from gatekeeper.audit._anchor import AnchoredLog
from gatekeeper.audit._syncahead import SyncAhead
from gatekeeper.audit._writer import FileAuditLog
from gatekeeper.audit.verify import VerifyReport, verify_log
from gatekeeper.audit.witness import AuditTrust
from gatekeeper.model import (
    AcceleratorInfo,
    ClassifiedItem,
    ComputeItem,
    CustomerProfile,
    Decision,
    Outcome,
    ProvisioningRequest,
    RuleMatch,
)
from gatekeeper.stores.audit_trust import SQLiteAuditTrust

STATE = ".gatekeeper/state.db"  # where the embedded default config keeps the store (and the trust)


def trust_of(base: Path, log_id: str = "default") -> AuditTrust:
    """The trust kept in the SQLite store of the embedded defaults under ``base``."""
    store = SQLiteAuditTrust(base / STATE)
    return AuditTrust(keys=store, witness=store, log_id=log_id)


def open_log(base: Path, *, trust: bool = False, **kw: Any) -> FileAuditLog:
    """A log in ``base/audit``; with ``trust``, its key pinned and digests published in ``base``'s store
    (the result is then an AnchoredLog around the FileAuditLog)."""
    args: dict[str, Any] = {"signing_key": base / "key.pem", "segment_max_bytes": 1 << 20,
                            "segment_max_seconds": 3600, "base_dir": base}
    if trust:
        args["trust"] = trust_of(base)
    args.update(kw)
    log = open_audit_log("file://audit", **args)
    if trust:
        assert isinstance(log, AnchoredLog) and isinstance(log.inner, FileAuditLog)
        return log  # type: ignore[return-value]  # same append/close/directory
    assert isinstance(log, FileAuditLog)
    return log


def verify(directory: Path, **kw: Any) -> VerifyReport:
    """``verify_log`` as ``gatekeeper audit verify`` runs it on the embedded defaults under the log's parent."""
    base = directory.parent.parent if directory.is_file() else directory.parent
    return verify_log(directory, trust=trust_of(base), **kw)


def read_records(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for seg in sorted(directory.glob("segment-*.jsonl")):
        out.extend(json.loads(line) for line in seg.read_bytes().splitlines() if line.strip())
    return out


def segment_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture(autouse=True)
def _plain_logging() -> Iterator[None]:
    """structlog as configured by default (stdout looked up when each logger is made).

    ``gatekeeper.cli.main`` configures structlog with the stderr of the moment; under CliRunner that
    is a captured stream closed after the invocation, and a later log line would fail on it.
    """
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in process, with test credentials and no endpoint or profile from the environment."""
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server over HTTP on 127.0.0.1 (test credentials); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[FileAuditLog]:
    lg = open_log(tmp_path)
    yield lg
    lg.close()


def make_decision(
    *,
    decision_id: str = "dec-1",
    outcome: Outcome = Outcome.DENY,
    account: str = "222222222222",
    country: str = "SG",
    parent: str = "CN",
    instance_type: str = "p5.48xlarge",
    count: int = 1,
    chip: str = "H100",
    export_class: str = "3A090.a",
    rules: tuple[tuple[str, Outcome], ...] = (("cn-parent-deny", Outcome.DENY),),
    at: datetime | None = None,
    region: str = "us-east-1",
    provider: str = "aws",
    legal_name: str = "Lion City AI Pte. Ltd.",
) -> Decision:
    at = at or datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    item = ComputeItem(instance_type, count)
    acc = AcceleratorInfo(chip, 8, 8 * count, 15832.0, 19.6, export_class, True, ("catalog",))
    classified = ClassifiedItem(item, instance_type, True, export_class != "none", export_class,
                                (acc,) if export_class != "none" else ())
    req = ProvisioningRequest(provider, account, (item,), region=region, service="ec2",
                              operation="RunInstances", principal="arn:aws:iam::1:user/dev", source="sdk", at=at)
    prof = CustomerProfile(provider, account, legal_name, country, country, parent, "verified")
    matches = tuple(RuleMatch(r, "us-ear-destinations", "2025.01", o, "15 CFR 744.23", f"because {r}")
                    for r, o in rules)
    return Decision(decision_id, outcome, req, prof, (classified,), matches, outcome, at, "enforce",
                    reasons=tuple(m.reason for m in matches))


# -- the syncs a log makes: observed, or made to fail -------------------------------------------
def count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the syncs whose result the log takes: os.fdatasync calls and kernel syncs collected
    (the list holds the descriptors synced, -1 for a kernel sync)."""
    real, real_collect, calls = os.fdatasync, SyncAhead.collect, []

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    def collecting(self: SyncAhead) -> tuple[int, BaseException | None]:
        calls.append(-1)
        return real_collect(self)

    monkeypatch.setattr(os, "fdatasync", counting)
    monkeypatch.setattr(SyncAhead, "collect", collecting)
    return calls


def fdatasyncs(syncs: list[int]) -> list[int]:
    """Of the syncs counted, the fdatasync calls."""
    return [fd for fd in syncs if fd >= 0]


def fail_syncs(monkeypatch: pytest.MonkeyPatch, fault: BaseException | type[BaseException]) -> None:
    """Every sync fails with ``fault``: an fdatasync raises it; a kernel sync's real result is taken,
    then reported as EIO (an OSError fault) or as an interrupt caught while waiting."""
    real_collect = SyncAhead.collect

    def failing(fd: int) -> None:
        raise fault

    def failing_collect(self: SyncAhead) -> tuple[int, BaseException | None]:
        code, interrupted = real_collect(self)
        if isinstance(fault, OSError):
            return fault.errno or 5, interrupted
        return code, fault() if isinstance(fault, type) else fault

    monkeypatch.setattr(os, "fdatasync", failing)
    monkeypatch.setattr(SyncAhead, "collect", failing_collect)


def index_every(pairs: list[tuple[Path, Path]]) -> list[Path]:
    """A sidecar for every closed ``(segment, checkpoint)``, the small ones too (``write_missing``
    skips those): the tests of the sidecar readers use logs of many small segments."""
    from gatekeeper.audit._sidecar import COLUMNS, read_checkpoint, write_sidecar

    out = []
    for segment, cp_path in pairs:
        cp = read_checkpoint(cp_path)
        assert cp is not None, cp_path
        out.append(write_sidecar(segment, cp, COLUMNS))
    return out
