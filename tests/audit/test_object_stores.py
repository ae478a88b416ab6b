"""The Azure Blob and Google Cloud Storage sinks, against Azurite and the GCS emulator over HTTP.

What each must do as the S3 one does: ship closed segments and checkpoints, verify from the store,
survive an outage (spooled, shipped at the next open) and a kill -9 of the writer with nothing
acknowledged lost; plus the start-up immutability check and write-once uploads.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gatekeeper.audit import local_directory, open_audit_log, remote_sink
from gatekeeper.audit._anchor import AnchoredLog
from gatekeeper.audit._azblob import parse_azblob_url
from gatekeeper.audit._gcs import parse_gcs_url
from gatekeeper.audit._shipper import ShippingAuditLog, download
from gatekeeper.audit.testing import EmulatorUnavailable, LocalAzurite, LocalGCS
from gatekeeper.audit.verify import verify_log
from gatekeeper.errors import AuditError
from tests.audit.conftest import read_records, trust_of

STORES = ("azblob", "gs")


def _started(factory: Any) -> Any:
    try:
        server = factory()
    except EmulatorUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the storage emulators are required in CI (scripts/test.sh installs them): {exc}")
        pytest.skip(f"OBJECT STORE TESTS SKIPPED: {exc}")
    return server.start()


@pytest.fixture(scope="module")
def azurite() -> Iterator[LocalAzurite]:
    server: LocalAzurite = _started(LocalAzurite)
    saved = {k: os.environ.get(k) for k in (*server.environ(), "AZURE_STORAGE_CONNECTION_STRING")}
    os.environ.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    os.environ.update(server.environ())
    try:
        yield server
    finally:
        server.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def gcs() -> Iterator[LocalGCS]:
    server: LocalGCS = _started(LocalGCS)
    try:
        yield server
    finally:
        server.close()


class Store:
    """One emulator and a fresh container/bucket on it."""

    def __init__(self, kind: str, server: Any) -> None:
        self.kind, self.server = kind, server
        self.name = f"gk-{uuid.uuid4().hex[:10]}"
        if kind == "azblob":
            server.container(self.name)
        else:
            server.bucket(self.name)

    def url(self, prefix: str = "audit", **params: str) -> str:
        url: str = self.server.url(self.name, prefix, **params)
        return url

    def objects(self, prefix: str = "audit/") -> dict[str, bytes]:
        if self.kind == "azblob":
            c = self.server.container(self.name)
            return {b.name: c.download_blob(b.name).readall() for b in c.list_blobs(name_starts_with=prefix)}
        client = self.server.client()
        return {b.name: b.download_as_bytes() for b in client.list_blobs(self.name, prefix=prefix)}


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Store:
    return Store(request.param, request.getfixturevalue("azurite" if request.param == "azblob" else "gcs"))


def open_store_log(tmp_path: Path, url: str, max_bytes: int = 2000, *, trust: bool = False) -> ShippingAuditLog:
    """The log at ``url``; with ``trust``, its key pinned and digests published in ``tmp_path``'s state
    store, as the service and ``gatekeeper audit verify`` use them (an AnchoredLog around the shipper)."""
    log = open_audit_log(url, signing_key=tmp_path / "key.pem", segment_max_bytes=max_bytes,
                         segment_max_seconds=3600, base_dir=tmp_path, trust=trust_of(tmp_path) if trust else None)
    if trust:
        assert isinstance(log, AnchoredLog) and isinstance(log.inner, ShippingAuditLog)
        return log  # type: ignore[return-value]  # same append/close/directory
    assert isinstance(log, ShippingAuditLog)
    return log


def test_segments_and_checkpoints_are_uploaded_and_verify_from_the_store(store: Store, tmp_path: Path) -> None:
    log = open_store_log(tmp_path, store.url())
    for i in range(30):
        log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 80}})
    log.close()
    assert log.directory == local_directory(store.url(), tmp_path)
    local = sorted(p.name for p in log.directory.glob("segment-*.jsonl"))
    assert len(local) > 2
    objects = store.objects()
    for name in local:
        assert objects[f"audit/{name}"] == (log.directory / name).read_bytes()
        cp = name.replace(".jsonl", ".checkpoint.json")
        assert objects[f"audit/{cp}"] == (log.directory / cp).read_bytes()
        assert (log.directory / name.replace(".jsonl", ".uploaded")).exists()
    assert any(k.startswith("audit/keys/") and k.endswith(".pem") for k in objects)
    copy = tmp_path / "copy"
    assert download(remote_sink(store.url(), tmp_path), copy) == 2 * len(local) + 1
    report = verify_log(copy, public_keys=[tmp_path / "key.pem"])
    assert report.ok and report.signed_seq == report.head_seq > 30


def test_cli_verify_remote_reads_the_store_and_catches_an_edit(store: Store, tmp_path: Path) -> None:
    from gatekeeper.cli.audit import app

    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text(f'[audit]\nurl = "{store.url()}"\nsigning_key = "key.pem"\n')
    log = open_store_log(tmp_path, store.url(), trust=True)
    for i in range(12):
        log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 80}})
    log.close()
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", "--remote", "--config", str(cfg), "--public-key", str(tmp_path / "key.pem")])
    assert ok.exit_code == 0 and "intact" in ok.output, ok.output
    # query and summary read the spool, as for s3://
    q = runner.invoke(app, ["query", "--config", str(cfg), "--kind", "all", "--json"])
    assert q.exit_code == 0 and json.loads(q.stdout)["total"] >= 12
    # An edit in the store (a new object version, or an overwrite where the store allows one) is caught.
    name = "audit/segment-00000001.jsonl"
    body = store.objects()[name].replace(b'"i":1,', b'"i":9,')
    if store.kind == "azblob":
        store.server.container(store.name).upload_blob(name, body, overwrite=True)
    else:
        store.server.client().bucket(store.name).blob(name).upload_from_string(body)
    bad = runner.invoke(app, ["verify", "--remote", "--config", str(cfg), "--json"])
    assert bad.exit_code == 1
    problem = json.loads(bad.stdout)["problem"]
    assert problem["segment"] == "segment-00000001.jsonl" and "edited" in problem["message"]
    assert runner.invoke(app, ["verify", "--config", str(cfg)]).exit_code == 0  # the spool is intact


def test_a_retried_upload_of_the_same_bytes_is_fine_other_bytes_are_never_overwritten(
        store: Store, tmp_path: Path) -> None:
    sink = remote_sink(store.url(), tmp_path)
    f = tmp_path / "segment-00000001.jsonl"
    f.write_bytes(b'{"seq":1}\n')
    sink.put(f, f.name)
    sink.put(f, f.name)  # a retry after the checkpoint's upload failed
    f.write_bytes(b'{"seq":1,"forged":true}\n')
    with pytest.raises(AuditError, match="exists with other content; not overwritten"):
        sink.put(f, f.name)
    assert store.objects()["audit/segment-00000001.jsonl"] == b'{"seq":1}\n'


def test_immutability_is_checked_at_start_up(store: Store, tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=r"no immutability|no retention policy") as err:
        open_store_log(tmp_path, store.url(immutability="require"))
    assert "?immutability=warn" in str(err.value)
    assert not list(tmp_path.rglob("segment-*.jsonl"))  # refused before anything was written
    # warn (the default) opens and ships; off does not even look
    for mode in ("warn", "off"):
        log = open_store_log(tmp_path / mode, store.url(prefix=mode, immutability=mode))
        log.append({"kind": "x.y"})
        log.close()
    with pytest.raises(AuditError, match="immutability must be one of"):
        open_store_log(tmp_path, store.url(immutability="maybe"))


def test_a_locked_retention_policy_satisfies_require(gcs: LocalGCS, tmp_path: Path) -> None:
    store = Store("gs", gcs)
    bucket = gcs.client().bucket(store.name)
    bucket.retention_period = 86400
    bucket.patch()
    with pytest.raises(AuditError, match="not locked"):
        open_store_log(tmp_path, store.url(immutability="require"))
    bucket._patch_property("retentionPolicy", {"retentionPeriod": "86400", "isLocked": True})
    bucket.patch()
    log = open_store_log(tmp_path, store.url(immutability="require"))
    log.append({"kind": "x.y"})
    log.close()
    assert "audit/segment-00000001.jsonl" in store.objects()


def test_an_outage_loses_nothing_and_the_spool_is_shipped_when_the_store_is_back(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.audit import _shipper

    monkeypatch.setattr(_shipper.time, "sleep", lambda s: None)
    log = open_store_log(tmp_path, store.url())
    log.append({"kind": "x.y", "data": {"before": True}})
    store.server.stop()
    try:
        acked = [log.append({"kind": "x.y", "data": {"i": i, "pad": "p" * 80}}) for i in range(20)]
        with pytest.raises(AuditError, match=r"not uploaded to (azblob|gs)://.*kept in the spool"):
            log.close()
    finally:
        store.server.start()
    assert verify_log(log.directory).consistent  # durable locally all along
    open_store_log(tmp_path, store.url()).close()  # leftovers go up at the next open
    copy = tmp_path / "copy"
    download(remote_sink(store.url(), tmp_path), copy)
    assert verify_log(copy, public_keys=[tmp_path / "key.pem"]).ok
    shipped = {(r["seq"], r["hash"]) for r in read_records(copy)}
    assert {(a["seq"], a["hash"]) for a in acked} <= shipped


CHILD = r"""
import sys, threading
from pathlib import Path
from gatekeeper.audit import open_audit_log
base, url = Path(sys.argv[1]), sys.argv[2]
log = open_audit_log(url, signing_key=base / "key.pem", segment_max_bytes=4000, segment_max_seconds=3600,
                     base_dir=base)
out = threading.Lock()
def work(t):
    for i in range(100000):
        r = log.append({"kind": "test.write", "data": {"t": t, "i": i, "pad": "x" * 200}})
        with out:
            sys.stdout.write(f"{r['seq']} {r['hash']}\n")
            sys.stdout.flush()
ths = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for th in ths: th.start()
for th in ths: th.join()
"""
ACK = re.compile(r"^(\d+) ([0-9a-f]{64})$")


def test_kill_9_of_a_writer_loses_no_acknowledged_record(store: Store, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), store.url()], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    acked: list[tuple[int, str]] = []
    deadline = time.monotonic() + 60
    while len(acked) < 150 and time.monotonic() < deadline:  # several segments closed and shipping
        m = ACK.match(proc.stdout.readline().strip())
        if m:
            acked.append((int(m.group(1)), m.group(2)))
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    acked += [(int(m.group(1)), m.group(2)) for m in map(ACK.match, rest.splitlines()) if m]
    assert len(acked) >= 150
    # The next writer (the restarted service) repairs the tail, ships the segments the dead one
    # closed, and closes the segment it continues once it has written to it.
    again = open_store_log(tmp_path, store.url(), max_bytes=4000)
    again.append({"kind": "test.restarted"})
    again.close()
    copy = tmp_path / "copy"
    download(remote_sink(store.url(), tmp_path), copy)
    report = verify_log(copy, public_keys=[tmp_path / "key.pem"])
    assert report.ok, report.problem
    shipped = {(r["seq"], r["hash"]) for r in read_records(copy)}
    missing = [a for a in acked if a not in shipped]
    assert not missing, f"{len(missing)} acknowledged records are not in the store: {missing[:3]}"


@pytest.mark.parametrize(("url", "message"), [
    ("azblob://acct", "not an azblob://ACCOUNT/CONTAINER/PREFIX"),
    ("azblob://acct/c/p?sas=x", "unknown parameter"),
    ("gs:///p", "not a gs://BUCKET/PREFIX"),
    ("gs://b/p?region=x", "unknown parameter"),
])
def test_bad_urls(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(AuditError, match=message):
        open_audit_log(url, signing_key=None, base_dir=tmp_path)


def test_url_parsing(tmp_path: Path) -> None:
    az = parse_azblob_url("azblob://acct/cont/a/b?spool=/var/spool/gk&immutability=require", tmp_path)
    assert (az.account, az.container, az.prefix, az.spool, az.immutability) == (
        "acct", "cont", "a/b", Path("/var/spool/gk"), "require")
    assert az.account_url == "https://acct.blob.core.windows.net" and az.key("x") == "a/b/x"
    root = parse_azblob_url("azblob://acct/cont", tmp_path)
    assert root.prefix == "" and root.spool == tmp_path / ".gatekeeper/audit-spool/acct/cont"
    gs = parse_gcs_url("gs://bkt/p/q?project=proj", tmp_path)
    assert (gs.bucket, gs.prefix, gs.project, gs.immutability) == ("bkt", "p/q", "proj", "warn")
    assert gs.spool == tmp_path / ".gatekeeper/audit-spool/bkt/p/q" == local_directory("gs://bkt/p/q", tmp_path)


@pytest.mark.slow
def test_store_and_sink_down_together_the_denial_is_spooled_and_shipped_later(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL and the object store both unreachable: controlled compute is denied with the reason,
    the denial is durable in the spool, and it reaches the object store once both are back."""
    from gatekeeper import runtime  # noqa: F401  (the service module graph, as in production)
    from gatekeeper.audit import _shipper
    from gatekeeper.config import AuditConfig, Config, StoreConfig
    from gatekeeper.model import Outcome
    from gatekeeper.service import Gatekeeper
    from gatekeeper.stores import open_store
    from tests.conftest import SAMPLE_PROFILES
    from tests.stores.backends import new_postgres, request

    monkeypatch.setattr(_shipper.time, "sleep", lambda s: None)
    with new_postgres() as pg:
        url = pg.url(schema="gk_outage", pool_timeout="2", connect_timeout="2")
        open_store(url).init()
        cfg = Config(store=StoreConfig(url=url), audit=AuditConfig(
            url=store.url(), signing_key=str(tmp_path / "key.pem"), segment_max_bytes=2000))
        gk = Gatekeeper(cfg)
        try:
            gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
            assert gk.decide(request(account="111111111111")).outcome == Outcome.ALLOW
            pg.stop()
            store.server.stop()
            try:
                denied = [gk.decide(request(account="111111111111")) for _ in range(3)]
                assert all(d.outcome == Outcome.DENY and d.error and "unavailable" in d.error for d in denied)
                assert gk.decide(request(instance_type="t3.micro")).outcome == Outcome.ALLOW
                with pytest.raises(AuditError, match="not uploaded"):
                    gk.close_audit()  # the segments stay in the spool
            finally:
                store.server.start()
                pg.start()
            assert gk.decide(request(account="111111111111")).outcome == Outcome.ALLOW  # recovered
        finally:
            gk.close()
    copy = tmp_path / "copy"
    download(remote_sink(store.url(), tmp_path), copy)
    assert verify_log(copy, public_keys=[tmp_path / "key.pem"]).ok
    shipped = {r["decision_id"]: r for r in read_records(copy) if r.get("kind") == "decision"}
    for d in denied:
        assert shipped[d.decision_id]["decision"] == "deny" and "unavailable" in shipped[d.decision_id]["error"]


@pytest.mark.parametrize(("header", "value"), [
    ("x-ms-immutable-storage-with-versioning-enabled", "true"),
    ("x-ms-has-immutability-policy", "true"),
    ("x-ms-has-legal-hold", "true"),
    (None, None),
])
def test_azure_immutability_is_read_from_the_container_properties(header: str | None, value: str | None,
                                                                   tmp_path: Path) -> None:
    """Azurite has no immutability policies: a local HTTP stand-in answers Get Container Properties with
    the headers Azure sends, through the real azure-storage-blob client and pipeline."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from azure.storage.blob import ContainerClient

    from gatekeeper.audit._azblob import AzureBlobSink
    from gatekeeper.audit.testing import AZURITE_ACCOUNT, AZURITE_KEY

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("ETag", '"0x8DC0000000000"')
            self.send_header("Last-Modified", "Fri, 04 Dec 2026 12:00:00 GMT")
            self.send_header("x-ms-version", "2025-01-05")
            self.send_header("x-ms-lease-status", "unlocked")
            self.send_header("x-ms-lease-state", "available")
            if header:
                self.send_header(header, str(value))
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/{AZURITE_ACCOUNT}"
        location = parse_azblob_url(f"azblob://{AZURITE_ACCOUNT}/audit/gk?endpoint_url={endpoint}", tmp_path)
        client = ContainerClient(endpoint, "audit", credential={"account_name": AZURITE_ACCOUNT,
                                                                 "account_key": AZURITE_KEY})
        missing = AzureBlobSink(location, client).immutability()
    finally:
        server.shutdown()
        server.server_close()
    assert seen and "restype=container" in seen[0]
    if header:
        assert missing is None
    else:
        assert missing is not None and "container audit has no immutability" in missing


def test_a_store_down_too_long_fails_controlled_compute_closed_and_recovers(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With max_unshipped_seconds, a store refusing segments for longer makes controlled compute fail
    closed (the denial kept in the spool); segments are retried while the log is open, and once the
    store takes them the decisions go through again, all records in the store."""
    from gatekeeper.audit import _shipper
    from gatekeeper.config import AuditConfig, Config, StoreConfig
    from gatekeeper.model import Outcome
    from gatekeeper.service import Gatekeeper
    from tests.conftest import SAMPLE_PROFILES
    from tests.stores.backends import request

    wait = time.sleep  # the shipper's back-off (the same time module) is made instant below
    monkeypatch.setattr(_shipper.time, "sleep", lambda s: None)
    monkeypatch.setattr(_shipper, "RETRY_INTERVAL_S", 0.2)
    cfg = Config(store=StoreConfig(url=f"sqlite:///{tmp_path}/state.db", create=True), audit=AuditConfig(
        url=store.url(max_unshipped_seconds="0.5"), signing_key=str(tmp_path / "key.pem"), segment_max_bytes=1500))
    gk = Gatekeeper(cfg)
    us = "111111111111"
    try:
        gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
        assert gk.decide(request(account=us)).outcome == Outcome.ALLOW
        store.server.stop()
        try:
            first = [gk.decide(request(account=us)) for _ in range(3)]  # segments close, uploads fail
            assert all(d.outcome == Outcome.ALLOW for d in first)  # durable in the spool meanwhile
            wait(0.8)
            denied = gk.decide(request(account=us))
            assert denied.outcome == Outcome.DENY and denied.error and "not shipped" in denied.error
            assert gk.decide(request(instance_type="t3.micro")).outcome == Outcome.ALLOW
        finally:
            store.server.start()
        deadline = time.monotonic() + 20
        while gk.audit.unavailable() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            wait(0.1)
        back = gk.decide(request(account=us))
        assert back.outcome == Outcome.ALLOW and back.error is None
    finally:
        gk.close()
    copy = tmp_path / "copy"
    download(remote_sink(store.url(), tmp_path), copy)
    assert verify_log(copy, public_keys=[tmp_path / "key.pem"]).ok
    shipped = {r["decision_id"]: r for r in read_records(copy) if r.get("kind") == "decision"}
    assert shipped[denied.decision_id]["decision"] == "deny" and "not shipped" in shipped[denied.decision_id]["error"]
    assert all(d.decision_id in shipped for d in first)


def test_max_unshipped_seconds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="max_unshipped_seconds must be a positive number"):
        parse_gcs_url("gs://b/p?max_unshipped_seconds=0", tmp_path)
    assert parse_azblob_url("azblob://a/c/p?max_unshipped_seconds=90", tmp_path).max_unshipped_seconds == 90
