"""The channels a notification goes out on: a signed webhook, e-mail over SMTP, an SNS topic.

Each ``send`` either delivers or raises; retrying is the notifier's job.

Webhook signature (verify it before trusting a body): ``X-Gatekeeper-Signature: sha256=HEX`` where
HEX is HMAC-SHA256 with the shared secret over ``TIMESTAMP + "." + BODY``, ``TIMESTAMP`` being the
``X-Gatekeeper-Timestamp`` header (Unix seconds); receivers reject old timestamps to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from email.message import EmailMessage
from typing import Any, Protocol

from gatekeeper.notify.events import Notification
from gatekeeper.notify.settings import EmailTarget, NotifyConfig, SnsTarget, WebhookTarget


class Sender(Protocol):
    name: str

    def send(self, n: Notification) -> None: ...


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(self, target: WebhookTarget) -> None:
        self.target, self.name = target, f"webhook {target.url}"
        self._key = target.key()

    def send(self, n: Notification) -> None:
        import httpx

        body = json.dumps(n.as_json(), separators=(",", ":")).encode()
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "gatekeeper-notify",
                   "X-Gatekeeper-Event": n.kind, "X-Gatekeeper-Delivery": n.id, "X-Gatekeeper-Timestamp": ts}
        if self._key:
            headers["X-Gatekeeper-Signature"] = signature(self._key, ts, body)
        r = httpx.post(self.target.url, content=body, headers=headers, timeout=self.target.timeout_seconds)
        if r.status_code >= 300:
            raise RuntimeError(f"HTTP {r.status_code} from {self.target.url}")


class EmailSender:
    def __init__(self, target: EmailTarget) -> None:
        self.target, self.name = target, f"email {target.host}:{target.port}"
        self._password = target.login_password()

    def message(self, n: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[gatekeeper] {n.subject}"
        msg["From"] = self.target.sender
        msg["To"] = ", ".join(self.target.to)
        msg["X-Gatekeeper-Event"] = n.kind
        msg.set_content(n.text + (f"\n\nOpen it in the console: {n.url}\n" if n.url else "\n"))
        return msg

    def send(self, n: Notification) -> None:
        import smtplib
        import ssl

        t = self.target
        # The server's certificate is verified (the credentials must not go to whoever answers).
        tls = ssl.create_default_context(cafile=t.ca_file or None)
        smtp: smtplib.SMTP = (smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout_seconds, context=tls) if t.ssl
                              else smtplib.SMTP(t.host, t.port, timeout=t.timeout_seconds))
        with smtp:
            if t.starttls:
                smtp.starttls(context=tls)
            if t.username:
                smtp.login(t.username, self._password)
            smtp.send_message(self.message(n))


class SnsSender:
    def __init__(self, target: SnsTarget) -> None:
        self.target, self.name = target, f"sns {target.topic_arn}"
        self._client: Any = None

    def send(self, n: Notification) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns", region_name=self.target.region,
                                        endpoint_url=self.target.endpoint_url or None)
        self._client.publish(
            TopicArn=self.target.topic_arn, Subject=n.subject[:99], Message=json.dumps(n.as_json()),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": n.kind}})


def senders(cfg: NotifyConfig) -> list[Sender]:
    """Every channel configured (secrets read now, so a missing one is a configuration error)."""
    out: list[Sender] = [WebhookSender(w) for w in cfg.webhooks]
    if cfg.email is not None:
        out.append(EmailSender(cfg.email))
    if cfg.sns is not None:
        out.append(SnsSender(cfg.sns))
    return out
