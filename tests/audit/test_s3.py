"""The S3 sink: segments and checkpoints uploaded on close, verified from S3; outages retried."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from gatekeeper.audit import local_directory, open_audit_log
from gatekeeper.audit._anchor import AnchoredLog
from gatekeeper.audit._s3 import S3AuditLog, S3Sink, parse_s3_url
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import trust_of

BUCKET = "audit-bucket"


def open_s3(tmp_path: Path, url: str = f"s3://{BUCKET}/gk/audit", max_bytes: int = 2000, *,
            trust: bool = False) -> S3AuditLog:
    log = open_audit_log(url, signing_key=tmp_path / "key.pem", segment_max_bytes=max_bytes,
                         segment_max_seconds=3600, base_dir=tmp_path, trust=trust_of(tmp_path) if trust else None)
    if trust:
        assert isinstance(log, AnchoredLog) and isinstance(log.inner, S3AuditLog)
        return log  # type: ignore[return-value]  # same append/close/directory
    assert isinstance(log, S3AuditLog)
    return log


def keys_in_bucket(prefix: str = "gk/audit/") -> list[str]:
    resp = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def test_segments_and_checkpoints_are_uploaded_and_verify_from_s3(aws: None, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    log = open_s3(tmp_path)
    for i in range(30):
        log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 80}})
    log.close()
    spool = tmp_path / ".gatekeeper" / "audit-spool" / BUCKET / "gk" / "audit"
    assert log.directory == spool == local_directory(f"s3://{BUCKET}/gk/audit", tmp_path)
    local = sorted(p.name for p in spool.glob("segment-*.jsonl"))
    assert len(local) > 2
    keys = keys_in_bucket()
    for name in local:
        assert f"gk/audit/{name}" in keys
        assert f"gk/audit/{name.replace('.jsonl', '.checkpoint.json')}" in keys
        assert (spool / name.replace(".jsonl", ".uploaded")).exists()
    assert any(k.startswith("gk/audit/keys/") and k.endswith(".pem") for k in keys)
    # What is in S3 verifies on its own, against the trusted key.
    copy = tmp_path / "from-s3"
    n = S3Sink(parse_s3_url(f"s3://{BUCKET}/gk/audit", tmp_path)).download(copy)
    assert n == 2 * len(local) + 1
    report = verify_log(copy, public_keys=[tmp_path / "key.pem"])
    assert report.consistent and report.signed_seq == report.head_seq > 30


def test_upload_failure_is_reported_and_retried_at_next_open(aws: None, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.audit import _shipper

    monkeypatch.setattr(_shipper.time, "sleep", lambda s: None)
    log = open_s3(tmp_path)  # the bucket does not exist yet: every upload fails
    for i in range(10):
        log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 80}})
    with pytest.raises(AuditError, match=r"not uploaded to s3://audit-bucket/gk/audit \(kept in the spool"):
        log.close()
    spool = log.directory
    assert not list(spool.glob("*.uploaded"))
    assert verify_log(spool).consistent  # nothing lost locally
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    open_s3(tmp_path).close()  # leftovers go up at open
    local = sorted(p.name for p in spool.glob("segment-*.jsonl"))
    keys = keys_in_bucket()
    closed = [n for n in local if (spool / n.replace(".jsonl", ".checkpoint.json")).exists()]
    assert closed and all(f"gk/audit/{name}" in keys for name in closed)
    assert len(list(spool.glob("*.uploaded"))) == len(list(spool.glob("*.checkpoint.json")))


def test_an_anchored_log_still_reports_a_store_refusing_segments(aws: None, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With the audit trust on (the service's default), the AnchoredLog around the shipper passes on
    ``unavailable()``: hiding it would let controlled compute through while nothing reaches the store."""
    from gatekeeper.audit import _shipper

    wait = time.sleep  # the shipper's back-off (the same time module) is made instant below
    monkeypatch.setattr(_shipper.time, "sleep", lambda s: None)
    log = open_s3(tmp_path, url=f"s3://{BUCKET}/gk/audit?max_unshipped_seconds=0.01", max_bytes=500, trust=True)
    assert log.unavailable() is None  # type: ignore[attr-defined]
    for i in range(5):  # the bucket does not exist: every closed segment is refused
        log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 200}})
    deadline = time.monotonic() + 10
    while not log.unavailable() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        wait(0.05)
    why = log.unavailable()  # type: ignore[attr-defined]
    assert why and "not shipped" in why and "max_unshipped_seconds=0.01" in why
    with pytest.raises(AuditError, match="not uploaded"):
        log.close()


def test_s3_url_parsing(tmp_path: Path) -> None:
    loc = parse_s3_url("s3://b/p/q?region=eu-west-1&spool=/var/spool/gk", tmp_path)
    assert (loc.bucket, loc.prefix, loc.region, loc.spool) == ("b", "p/q", "eu-west-1", Path("/var/spool/gk"))
    assert loc.key("segment-00000001.jsonl") == "p/q/segment-00000001.jsonl"
    root = parse_s3_url("s3://b", tmp_path)
    assert root.prefix == "" and root.key("x") == "x" and root.spool == tmp_path / ".gatekeeper/audit-spool/b"
    with pytest.raises(AuditError, match="unknown parameter"):
        parse_s3_url("s3://b/p?acl=public", tmp_path)
    with pytest.raises(AuditError, match="not an s3"):
        parse_s3_url("s3:///p", tmp_path)


def test_s3_over_http_with_moto_server(tmp_path: Path, moto_endpoint: str) -> None:
    endpoint = moto_endpoint
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    log = open_s3(tmp_path, url=f"s3://{BUCKET}/http?endpoint_url={endpoint}")
    for i in range(5):
        log.append({"kind": "x.y", "data": {"i": i}})
    log.close()
    resp = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=BUCKET, Prefix="http/")
    names = {o["Key"] for o in resp["Contents"]}
    assert {"http/segment-00000001.jsonl", "http/segment-00000001.checkpoint.json"} <= names


def test_cli_verify_remote_checks_what_is_in_s3(aws: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gatekeeper.cli.audit import app

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text(f'[audit]\nurl = "s3://{BUCKET}/gk/audit"\nsigning_key = "key.pem"\n')
    log = open_s3(tmp_path, trust=True)
    for i in range(12):
        log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 80}})
    log.close()
    runner = CliRunner()
    result = runner.invoke(app, ["verify", "--remote", "--config", str(cfg), "--public-key", str(tmp_path / "key.pem")])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    # Someone edits a record in the bucket: the local spool is still fine, S3 is not.
    key = "gk/audit/segment-00000001.jsonl"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().replace(b'"i":1,', b'"i":9,')
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    assert runner.invoke(app, ["verify", "--config", str(cfg)]).exit_code == 0
    result = runner.invoke(app, ["verify", "--remote", "--config", str(cfg), "--json"])
    assert result.exit_code == 1
    problem = json.loads(result.stdout)["problem"]
    assert problem["segment"] == "segment-00000001.jsonl" and problem["seq"] == 3 and "edited" in problem["message"]


def test_object_lock_is_checked_at_start_up(aws: None, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)  # no Object Lock
    with pytest.raises(AuditError, match=f"bucket {BUCKET} has no S3 Object Lock"):
        open_s3(tmp_path, url=f"s3://{BUCKET}/gk/audit?immutability=require")
    open_s3(tmp_path, url=f"s3://{BUCKET}/gk/audit?immutability=warn").close()  # logged, opened
    locked = "audit-locked"
    s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    with pytest.raises(AuditError, match="Object Lock but no default retention"):
        open_s3(tmp_path / "l", url=f"s3://{locked}/gk?immutability=require")
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    log = open_s3(tmp_path / "l", url=f"s3://{locked}/gk?immutability=require")
    log.append({"kind": "x.y"})
    log.close()
    assert s3.list_objects_v2(Bucket=locked, Prefix="gk/segment-")["KeyCount"] == 2


def test_cli_verify_remote_of_a_copy_that_lags_is_unverified_not_failed(aws: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gatekeeper.cli.audit import app

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text(f'[audit]\nurl = "s3://{BUCKET}/gk/audit"\nsigning_key = "key.pem"\n')
    log = open_s3(tmp_path, max_bytes=1500, trust=True)
    for i in range(12):
        log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 80}})
    assert log.publish() is not None  # type: ignore[attr-defined]  # a digest of the open segment
    runner = CliRunner()
    remote = runner.invoke(app, ["verify", "--remote", "--config", str(cfg), "--json"])
    assert remote.exit_code == 1
    js = json.loads(remote.stdout[remote.stdout.index("{\n"):])
    assert js["status"] == "unverified" and "not in this copy" in js["unverified_because"]
    local = runner.invoke(app, ["verify", "--config", str(cfg)])
    assert local.exit_code == 0 and "intact" in local.output
    log.close()
