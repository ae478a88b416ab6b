"""Notifications delivered to real local receivers: a webhook (HTTP server), e-mail (aiosmtpd), SNS (moto).

A pending request opens a case and reviewers are told, with a link to the case in the console,
without the call waiting for the receiver; a failing receiver is retried with backoff and, when it
keeps failing, the failure is recorded in the audit log; deadline and licence reminders are told
once each.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper import notify
from gatekeeper.config import StoreConfig
from gatekeeper.errors import StoreError
from gatekeeper.model import Outcome
from gatekeeper.notify.senders import signature
from gatekeeper.notify.settings import EmailTarget, NotifyConfig, SnsTarget, WebhookTarget
from gatekeeper.service import Gatekeeper
from gatekeeper.workflow import workflow_of
from tests.conftest import SAMPLE_PROFILES, tmp_config
from tests.notify.receivers import Hook, smtp_receiver, webhook_receiver
from tests.stores import backends
from tests.stores.backends import Clock, audit_records, local_postgres, request

__all__ = ["local_postgres"]

SECRET = "whsec-7c1e5a9b3d2f4e6a"
CONSOLE = "https://gatekeeper.example.com/"
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
FAST = {"retries": 3, "backoff_seconds": 0.01, "backoff_max_seconds": 0.05}


def make_gk(tmp_path: Path, clock: Clock, **notify_kw: Any) -> Gatekeeper:
    cfg = tmp_config(tmp_path, notify=NotifyConfig(console_url=CONSOLE, state_file=str(tmp_path / "sent.json"),
                                                   **{**FAST, **notify_kw}))
    gk = Gatekeeper(cfg, clock=clock)
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    return gk


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver() as h:
        yield h


def flush(gk: Gatekeeper) -> None:
    n = notify.notifier_for(gk)
    assert n is not None and n.flush(10)


def test_new_case_by_signed_webhook(tmp_path: Path, clock: Clock, hook: Hook) -> None:
    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url, secret=SECRET)])
    d = gk.decide(request(count=2))
    assert d.outcome == Outcome.PENDING and d.case_id
    gk.decide(request(count=2))  # joins the case: no second "new case"
    flush(gk)
    [(headers, body)] = hook.received
    assert headers["x-gatekeeper-event"] == "case.opened"
    expected = signature(SECRET.encode(), headers["x-gatekeeper-timestamp"], body)
    assert hmac.compare_digest(headers["x-gatekeeper-signature"], expected)
    assert headers["x-gatekeeper-signature"] != signature(b"another secret", headers["x-gatekeeper-timestamp"], body)
    [msg] = hook.bodies()
    assert msg["url"] == f"{CONSOLE}cases/{d.case_id}" and msg["data"]["case_id"] == d.case_id
    assert msg["data"]["quantity"] == 16 and "Lion City AI Pte. Ltd." in msg["subject"]
    assert "16 accelerators" in msg["text"] and "2026-05-07 09:00" in msg["text"]  # 72 h deadline
    gk.close()


def test_the_call_does_not_wait_for_the_receiver(tmp_path: Path, clock: Clock) -> None:
    gate = threading.Event()
    with webhook_receiver(gate=gate) as slow:
        gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=slow.url, secret=SECRET)])
        d = gk.decide(request())
        # The decision is back while the receiver is still holding the first delivery.
        assert d.outcome == Outcome.PENDING and slow.received == []
        gate.set()
        flush(gk)
        assert [b["kind"] for b in slow.bodies()] == ["case.opened"]
        gk.close()


def test_retried_with_backoff_then_delivered(tmp_path: Path, clock: Clock) -> None:
    with webhook_receiver(fail_first=2) as flaky:
        gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=flaky.url)])
        gk.decide(request())
        flush(gk)
        assert flaky.attempts == 3 and len(flaky.received) == 1
        assert "x-gatekeeper-signature" not in flaky.received[0][0]  # no secret configured: unsigned
        assert not [r for r in audit_records(tmp_path) if r.get("kind") == "notification.failed"]
        gk.close()


def test_a_receiver_that_keeps_failing_is_recorded(tmp_path: Path, clock: Clock, hook: Hook) -> None:
    with webhook_receiver(always_fail=True) as down:
        gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=down.url), WebhookTarget(url=hook.url)])
        d = gk.decide(request())
        flush(gk)
        assert down.attempts == 4 and len(hook.received) == 1  # the other channel is unaffected
        [failed] = [r for r in audit_records(tmp_path) if r.get("kind") == "notification.failed"]
        data = failed["data"]
        assert data["channel"] == f"webhook {down.url}" and data["attempts"] == 4 and "HTTP 500" in data["error"]
        assert data["kind"] == "case.opened" and d.case_id in data["key"]
        gk.close()


def test_unreachable_receiver(tmp_path: Path, clock: Clock) -> None:
    gk = make_gk(tmp_path, clock, retries=1, webhooks=[WebhookTarget(url="http://127.0.0.1:9/nothing")])
    assert gk.decide(request()).outcome == Outcome.PENDING
    flush(gk)
    [failed] = [r for r in audit_records(tmp_path) if r.get("kind") == "notification.failed"]
    assert failed["data"]["attempts"] == 2 and "ConnectError" in failed["data"]["error"]
    gk.close()


def test_email(tmp_path: Path, clock: Clock) -> None:
    with smtp_receiver() as box:
        gk = make_gk(tmp_path, clock, email=EmailTarget(host="127.0.0.1", port=box.port, sender="gk@example.com",
                                                        to=["compliance@example.com", "legal@example.com"]))
        d = gk.decide(request())
        flush(gk)
        [msg] = box.messages
        assert msg["Subject"].startswith(f"[gatekeeper] New case {d.case_id}")
        assert msg["To"] == "compliance@example.com, legal@example.com" and msg["From"] == "gk@example.com"
        assert f"{CONSOLE}cases/{d.case_id}" in msg.get_payload(decode=True).decode()
        gk.close()


def test_email_over_starttls_with_login(tmp_path: Path, clock: Clock) -> None:
    """STARTTLS with the server's certificate verified (a private CA here), then AUTH."""
    from tests.notify.receivers import self_signed

    cert, key = self_signed(tmp_path)
    with smtp_receiver(tls=(cert, key), users={"gatekeeper": "s3cret-pw"}) as box:
        target = {"host": "localhost", "port": box.port, "starttls": True, "sender": "gk@example.com",
                  "to": ["compliance@example.com"], "username": "gatekeeper", "password": "s3cret-pw"}
        gk = make_gk(tmp_path, clock, retries=0, email=EmailTarget(**target, ca_file=str(cert)))
        d = gk.decide(request())
        flush(gk)
        assert box.logins == ["gatekeeper"] and len(box.messages) == 1
        assert d.case_id and d.case_id in box.messages[0]["Subject"]
        gk.close()
        # Without the CA the certificate is not trusted: nothing is sent, the failure is recorded.
        home = tmp_path / "untrusted"
        home.mkdir()
        gk = make_gk(home, clock, retries=0, email=EmailTarget(**target))
        gk.decide(request())
        flush(gk)
        [failed] = [r for r in audit_records(home) if r.get("kind") == "notification.failed"]
        assert "CERTIFICATE_VERIFY_FAILED" in failed["data"]["error"] and len(box.messages) == 1
        gk.close()


def test_sns(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import boto3
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="gatekeeper-reviews")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="reviewers")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        gk = make_gk(tmp_path, clock, sns=SnsTarget(topic_arn=topic))
        d = gk.decide(request())
        flush(gk)
        [m] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        envelope = json.loads(m["Body"])
        assert envelope["MessageAttributes"]["kind"]["Value"] == "case.opened"
        assert json.loads(envelope["Message"])["data"]["case_id"] == d.case_id
        gk.close()


def test_sns_over_http(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same through ``endpoint_url``: moto's server on 127.0.0.1, reached over HTTP by botocore."""
    import json

    import boto3
    from moto.server import ThreadedMotoServer

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        sns = boto3.client("sns", region_name="eu-west-1", endpoint_url=url)
        sqs = boto3.client("sqs", region_name="eu-west-1", endpoint_url=url)
        topic = sns.create_topic(Name="reviews")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        gk = make_gk(tmp_path, clock, sns=SnsTarget(topic_arn=topic, region="eu-west-1", endpoint_url=url))
        d = gk.decide(request())
        flush(gk)
        [m] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        assert json.loads(json.loads(m["Body"])["Message"])["url"] == f"{CONSOLE}cases/{d.case_id}"
        gk.close()
    finally:
        server.stop()


def test_reminders_are_told_once(tmp_path: Path, clock: Clock, hook: Hook) -> None:
    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)], licence_low_fraction=0.25,
                 events=["case.deadline", "licence.expiring", "licence.low"])
    wf = workflow_of(gk)
    # A case opened now, one approved into a 20-day licence of 10 accelerators, then drawn to 2 left (20%).
    open_case = gk.decide(request(account="222222222222", instance_type="p5.48xlarge")).case_id
    licensed = gk.decide(request(account="333333333333")).case_id
    assert open_case and licensed
    wf.approve(licensed, reviewer="alice", licence_number="L-20", expires=START.date() + timedelta(days=20),
               quantity=10)
    assert gk.decide(request(account="333333333333")).licence_id == "L-20"  # draws 8 of 10
    flush(gk)
    assert [b["kind"] for b in hook.bodies()] == ["licence.low"]  # told on the draw itself

    assert notify.scan(gk) == 1
    flush(gk)
    assert [b["kind"] for b in hook.bodies()] == ["licence.low", "licence.expiring"]  # 20 days <= 30
    assert hook.bodies()[1]["url"] == f"{CONSOLE}licences/L-20"

    clock.advance(hours=47)  # 25 h before the 72 h deadline: not yet
    notify.scan(gk)
    flush(gk)
    assert len(hook.received) == 2
    clock.advance(hours=2)  # 23 h before it
    notify.scan(gk)
    notify.scan(gk)  # twice: told once
    flush(gk)
    kinds = [b["kind"] for b in hook.bodies()]
    assert kinds == ["licence.low", "licence.expiring", "case.deadline"]
    assert hook.bodies()[2]["data"]["case_id"] == open_case and "is due in 23 h" in hook.bodies()[2]["subject"]
    gk.close()
    # Another process (a cron run) remembers what was told.
    gk2 = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)])
    notify.scan(gk2)
    flush(gk2)
    assert len(hook.received) == 3
    gk2.close()


def test_off_without_channels(tmp_path: Path, clock: Clock) -> None:
    gk = make_gk(tmp_path, clock)
    assert gk.decide(request()).outcome == Outcome.PENDING
    assert notify.notifier_for(gk) is None and notify.scan(gk) == 0
    gk.close()


def test_configuration_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.config import load_config
    from gatekeeper.errors import ConfigError
    from gatekeeper.notify.senders import senders

    f = tmp_path / "g.toml"
    for text, message in (
        ('[[notify.webhooks]]\nurl = "ftp://x.example/hook"\n', "must start with https://"),
        ('[notify.sns]\ntopic_arn = "not-an-arn"\n', "notify.sns.topic_arn"),
        ('[notify]\nlicence_low_fraction = 2\n', "notify.licence_low_fraction"),
        ('[notify]\nevents = ["case.opend"]\n', "notify.events"),
    ):
        f.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_config(f)
    f.write_text('[[notify.webhooks]]\nurl = "https://x.example/hook"\nsecret_env = "GK_TEST_NO_SUCH_VAR"\n',
                 encoding="utf-8")
    monkeypatch.delenv("GK_TEST_NO_SUCH_VAR", raising=False)
    with pytest.raises(ValueError, match="GK_TEST_NO_SUCH_VAR is not set"):
        senders(load_config(f).notify)
    monkeypatch.setenv("GK_TEST_NO_SUCH_VAR", SECRET)
    [s] = senders(load_config(f).notify)
    assert s.name == "webhook https://x.example/hook"


def test_serve_sends_reminders_while_it_runs(tmp_path: Path, clock: Clock, hook: Hook) -> None:
    from fastapi.testclient import TestClient

    from gatekeeper.web import create_app
    from gatekeeper.web._auth import TokenMap

    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)], events=["case.deadline"],
                 scan_interval_seconds=3600)
    case_id = gk.decide(request()).case_id
    clock.advance(hours=60)
    with TestClient(create_app(gk, tokens=TokenMap({})), raise_server_exceptions=True):
        flush(gk)  # the first scan runs at start-up
    assert [(b["kind"], b["data"]["case_id"]) for b in hook.bodies()] == [("case.deadline", case_id)]
    gk.close()


def test_the_documented_configuration_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from gatekeeper.config import load_config
    from gatekeeper.notify.senders import senders

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert block
    f = tmp_path / "g.toml"
    f.write_text(block.group(1), encoding="utf-8")
    monkeypatch.setenv("GATEKEEPER_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("GATEKEEPER_SMTP_PASSWORD", "pw")
    cfg = load_config(f).notify
    assert [s.name for s in senders(cfg)] == ["webhook https://hooks.example.com/gatekeeper",
                                              "email smtp.example.com:587",
                                              "sns arn:aws:sns:us-east-1:123456789012:gatekeeper-reviews"]


def test_failure_modes_of_the_queue(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job whose store read fails is recorded; a full queue drops (counted) and never blocks the caller."""
    from gatekeeper.errors import StoreError
    from gatekeeper.notify import notifier as notifier_module

    gate = threading.Event()
    with webhook_receiver(gate=gate) as slow:
        monkeypatch.setattr(notifier_module, "QUEUE_SIZE", 2)
        gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=slow.url)])
        n = notify.notifier_for(gk)
        assert n is not None

        def store_down() -> list[Any]:
            raise StoreError("state store unreachable")

        assert n.submit(store_down)
        d = gk.decide(request())  # its notification waits behind nothing: the failing job finishes first
        assert d.outcome == Outcome.PENDING
        # While the receiver holds the delivery, the queue (2) fills; further jobs are dropped at once.
        accepted = [n.notify() for _ in range(5)]
        assert accepted.count(False) >= 1 and n.dropped == accepted.count(False)
        gate.set()
        assert n.flush(10)
        [failed] = [r for r in audit_records(tmp_path) if r.get("kind") == "notification.failed"]
        assert failed["data"]["channel"] == "(building the notification)"
        assert "state store unreachable" in failed["data"]["error"]
        assert [b["kind"] for b in slow.bodies()] == ["case.opened"]
        gk.close()


def test_an_unreadable_state_file_means_reminding_again(tmp_path: Path, clock: Clock, hook: Hook) -> None:
    (tmp_path / "sent.json").write_text("{not json", encoding="utf-8")
    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)], events=["case.deadline"])
    case_id = gk.decide(request()).case_id
    clock.advance(hours=70)
    notify.scan(gk)
    flush(gk)
    assert [b["kind"] for b in hook.bodies()] == ["case.deadline"]
    # Told is remembered in the store's markers; the old file is only ever read.
    assert _marker(tmp_path, clock, f"case.deadline:{case_id}") == "done"
    assert (tmp_path / "sent.json").read_text(encoding="utf-8") == "{not json"
    gk.close()


def _marker(tmp_path: Path, clock: Clock, key: str, url: str = "") -> str | None:
    from gatekeeper.stores.events import open_event_markers

    markers = open_event_markers(url or f"sqlite:///{tmp_path}/state.db", clock=lambda: clock().timestamp())
    try:
        return markers.status(f"notify:{key}")
    finally:
        markers.close()


def test_a_key_an_earlier_version_kept_in_the_state_file_counts_as_told(tmp_path: Path, clock: Clock,
                                                                        hook: Hook) -> None:
    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)], events=["case.deadline"])
    case_id = gk.decide(request()).case_id
    gk.close()
    (tmp_path / "sent.json").write_text(json.dumps({f"case.deadline:{case_id}": "2026-05-06T09:00:00+00:00"}),
                                        encoding="utf-8")
    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)], events=["case.deadline"])
    clock.advance(hours=70)
    notify.scan(gk)
    flush(gk)
    assert hook.bodies() == [] and _marker(tmp_path, clock, f"case.deadline:{case_id}") is None
    gk.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_replicas_sharing_a_store_tell_a_reminder_once(tmp_path: Path, clock: Clock, hook: Hook,
                                                       request: pytest.FixtureRequest, backend: str) -> None:
    """Two `gatekeeper serve` replicas (each its own audit log and directory) on one state store scan
    at the same moment: the deadline is told once between them."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/shared.db"
    else:
        from gatekeeper.stores import open_store
        from tests.stores.backends import postgres_url

        url = postgres_url(request.getfixturevalue("local_postgres"))
        open_store(url).init()  # what `gatekeeper store init` does before the replicas start
    replicas = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        cfg = tmp_config(home, store=StoreConfig(url=url, create=True), notify=NotifyConfig(
            console_url=CONSOLE, state_file=str(home / "sent.json"), webhooks=[WebhookTarget(url=hook.url)],
            events=["case.deadline"], **FAST))
        replicas.append(Gatekeeper(cfg, clock=clock))
    replicas[0].store.profiles.put_profiles(list(SAMPLE_PROFILES))
    case_id = replicas[0].decide(backends.request()).case_id
    clock.advance(hours=70)
    start = threading.Barrier(len(replicas) * 3)

    def scan(gk: Gatekeeper) -> None:
        start.wait()
        notify.scan(gk)

    threads = [threading.Thread(target=scan, args=(gk,)) for gk in replicas for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for gk in replicas:
        flush(gk)
    assert [(b["kind"], b["data"]["case_id"]) for b in hook.bodies()] == [("case.deadline", case_id)]
    assert _marker(tmp_path, clock, f"case.deadline:{case_id}", url) == "done"
    for gk in replicas:
        gk.close()


def test_a_replica_that_died_mid_delivery_leaves_the_reminder_to_another_after_its_claim(
        tmp_path: Path, clock: Clock, hook: Hook) -> None:
    from gatekeeper.notify.notifier import CLAIM_SECONDS
    from gatekeeper.stores.events import open_event_markers

    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)], events=["case.deadline"])
    case_id = gk.decide(request()).case_id
    clock.advance(hours=70)
    # A replica claimed the reminder and died before telling it.
    dead = open_event_markers(f"sqlite:///{tmp_path}/state.db", clock=lambda: clock().timestamp())
    assert dead.claim_event(f"notify:case.deadline:{case_id}", lease_seconds=CLAIM_SECONDS)
    dead.close()
    notify.scan(gk)
    flush(gk)
    assert hook.bodies() == []  # its claim still holds
    clock.advance(seconds=CLAIM_SECONDS + 1)
    notify.scan(gk)
    flush(gk)
    assert [b["kind"] for b in hook.bodies()] == ["case.deadline"]
    gk.close()


def test_a_reminder_that_cannot_be_claimed_is_recorded_and_told_on_a_later_scan(tmp_path: Path, clock: Clock,
                                                                                 hook: Hook) -> None:
    gk = make_gk(tmp_path, clock, webhooks=[WebhookTarget(url=hook.url)], events=["case.deadline"])
    gk.decide(request())
    clock.advance(hours=70)
    notifier = notify.notifier_for(gk)
    assert notifier is not None
    shared: Any = notifier.sent
    working = shared._open

    def unreachable() -> Any:
        raise StoreError("state store unreachable (markers)")

    shared._open = unreachable
    notify.scan(gk)
    flush(gk)
    assert hook.bodies() == []
    [failed] = [r for r in audit_records(tmp_path) if r.get("kind") == "notification.failed"]
    assert failed["data"]["channel"] == "(claiming the reminder)" and "unreachable" in failed["data"]["error"]
    shared._open = working  # the store is back
    notify.scan(gk)
    flush(gk)
    assert [b["kind"] for b in hook.bodies()] == ["case.deadline"]
    gk.close()
