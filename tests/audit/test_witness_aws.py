"""The witness and the key registry on DynamoDB, and the witness on S3 Object Lock, through moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit import open_audit_log
from gatekeeper.audit._keys import Signer
from gatekeeper.audit._s3_witness import S3Witness
from gatekeeper.audit.verify import verify_log
from gatekeeper.audit.witness import AuditTrust, Digest, PinnedKey
from gatekeeper.config import Config
from gatekeeper.stores.audit_trust import DynamoDBAuditTrust, SQLiteAuditTrust, trust_from_config
from gatekeeper.stores.dynamodb import open_dynamodb_store
from tests.audit.conftest import STATE, segment_lines

URL = "dynamodb://gk-test?region=us-east-1"
SEG1 = "segment-00000001.jsonl"


@pytest.fixture
def tables(aws: None) -> None:
    lines = open_dynamodb_store(URL).init()
    assert any("gk-test-audit" in line for line in lines)


def signer() -> Signer:
    key = Ed25519PrivateKey.generate()
    from gatekeeper.audit._keys import key_id

    return Signer(key, key_id(key.public_key()))


def test_dynamodb_digests_only_move_forward_and_keys_pin_once(tables: None) -> None:
    store = DynamoDBAuditTrust(URL)
    s = signer()
    d7 = Digest.sign(s, log_id="host-a", seq=7, head_hash="a" * 64, segment=SEG1)
    assert store.latest_digest("host-a") is None
    assert store.publish_digest(d7)
    assert not store.publish_digest(Digest.sign(s, log_id="host-a", seq=3, head_hash="b" * 64, segment=SEG1))
    assert store.latest_digest("host-a") == d7 and store.latest_digest("host-b") is None
    pin = PinnedKey.of(s.public_key, "created")
    store.pin_key("host-a", pin)
    store.pin_key("host-a", PinnedKey.of(s.public_key, "first use"))  # already pinned: kept as it was
    assert store.pinned_keys("host-a") == [pin] and store.pinned_keys("host-b") == []


def test_dynamodb_trust_end_to_end_catches_a_tail_cut(tables: None, tmp_path: Path) -> None:
    cfg = Config(store={"url": URL}, audit={"url": "file://audit", "signing_key": "key.pem"},  # type: ignore[arg-type]
                 base_dir=str(tmp_path))
    log = open_audit_log("file://audit", signing_key=tmp_path / "key.pem", base_dir=tmp_path,
                         trust=trust_from_config(cfg))
    for i in range(6):
        log.append({"kind": "x.y", "data": {"i": i}})
    log.publish()  # type: ignore[attr-defined]
    pins = DynamoDBAuditTrust(URL).pinned_keys("default")
    assert [p.reason for p in pins] == ["created"]
    report = verify_log(tmp_path / "audit", trust=trust_from_config(cfg))
    assert report.status == "intact" and report.anchored_seq == 7
    seg = tmp_path / "audit" / SEG1
    seg.write_bytes(b"".join(segment_lines(seg)[:-2]))
    report = verify_log(tmp_path / "audit", trust=trust_from_config(cfg))
    assert report.status == "failed" and report.problem is not None and "records 6..7 were removed" in \
        report.problem.message
    log.close()


def test_a_missing_witness_table_never_blocks_appends_and_verify_says_unverified(aws: None, tmp_path: Path) -> None:
    cfg = Config(store={"url": URL}, audit={"url": "file://audit", "signing_key": "key.pem"},  # type: ignore[arg-type]
                 base_dir=str(tmp_path))
    log = open_audit_log("file://audit", signing_key=tmp_path / "key.pem", base_dir=tmp_path,
                         trust=trust_from_config(cfg))
    rec = log.append({"kind": "x.y", "data": {}})  # durable although the store has no tables
    assert rec["seq"] == 2
    assert log.publish() is None  # type: ignore[attr-defined]  # failed, logged, retried later
    log.close()
    report = verify_log(tmp_path / "audit", trust=trust_from_config(cfg))
    assert report.status == "unverified" and "could not be read" in report.unverified_because


def test_s3_object_lock_witness(aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gk-witness", ObjectLockEnabledForBucket=True)
    w = S3Witness.from_url("s3://gk-witness/audit?region=us-east-1", retention_days=30)
    s = signer()
    assert w.latest_digest("default") is None
    for seq in (3, 9, 12):
        assert w.publish_digest(Digest.sign(s, log_id="default", seq=seq, head_hash=f"{seq:064x}", segment=SEG1))
    latest = w.latest_digest("default")
    assert latest is not None and latest.seq == 12 and latest.verify({s.key_id: s.public_key})
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket="gk-witness")["Contents"] if o["Key"].endswith("12.json")]
    assert key.startswith("audit/digests/default/")
    head = s3.head_object(Bucket="gk-witness", Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=29)
    assert w.latest_digest("other") is None


def test_s3_witness_from_the_config_over_http(tmp_path: Path, moto_endpoint: str) -> None:
    endpoint = moto_endpoint
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="wit", ObjectLockEnabledForBucket=True)
    assert SQLiteAuditTrust(tmp_path / STATE).pinned_keys("default") == []  # creates the state store
    cfg = Config(audit={"url": "file://audit", "signing_key": "key.pem",  # type: ignore[arg-type]
                        "witness": f"s3://wit/d?endpoint_url={endpoint}"}, base_dir=str(tmp_path))
    log = open_audit_log("file://audit", signing_key=tmp_path / "key.pem", base_dir=tmp_path,
                         trust=trust_from_config(cfg))
    for i in range(4):
        log.append({"kind": "x.y", "data": {"i": i}})
    log.close()
    report = verify_log(tmp_path / "audit", trust=trust_from_config(cfg))
    assert report.status == "intact", report.unverified_because
    assert report.witness is not None and "Object Lock" in report.witness["name"]
    assert report.anchored_seq == report.head_seq == 5


def test_the_trust_store_is_a_witness_and_a_key_registry() -> None:
    from gatekeeper.audit.witness import KeyRegistry, Witness

    for cls in (SQLiteAuditTrust, DynamoDBAuditTrust):
        for method in ("publish_digest", "latest_digest", "pin_key", "pinned_keys", "close"):
            assert callable(getattr(cls, method))
    assert isinstance(SQLiteAuditTrust(Path("/nonexistent/x.db"), create=False), Witness | KeyRegistry)
    assert isinstance(AuditTrust(), AuditTrust)
