"""The ``[notify]`` section of the configuration: where reviewers are told, and when.

Imported by ``gatekeeper.config`` (pydantic only, nothing heavy): the senders load their libraries
when a notification is actually sent.

```toml
[notify]
console_url = "https://gatekeeper.example.com/"   # links in messages open the console's case page
case_deadline_hours = 72      # a case should be decided within this long of being opened
case_warning_hours = 24       # ... and reviewers are told this long before the deadline
licence_expiry_days = 30      # a licence expiring within this many days
licence_low_fraction = 0.1    # a licence with this share of its quantity or less left

[[notify.webhooks]]
url = "https://hooks.example.com/gatekeeper"
secret_env = "GATEKEEPER_WEBHOOK_SECRET"          # HMAC-SHA256 key (or secret = "...")

[notify.email]
host = "smtp.example.com"
port = 587
starttls = true
sender = "gatekeeper@example.com"
to = ["export-compliance@example.com"]
username = "gatekeeper"
password_env = "GATEKEEPER_SMTP_PASSWORD"

[notify.sns]
topic_arn = "arn:aws:sns:us-east-1:123456789012:gatekeeper-reviews"
region = "us-east-1"
```
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gatekeeper.config_reader import EVENT_KINDS as EVENT_KINDS
from gatekeeper.config_reader import NotifyMethods

EventKind = Literal["case.opened", "case.deadline", "licence.expiring", "licence.low"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret(value: str, env: str, what: str) -> str:
    if value:
        return value
    if env:
        found = os.environ.get(env, "")
        if not found:
            raise ValueError(f"{what}: environment variable {env} is not set")
        return found
    return ""


class WebhookTarget(_Section):
    url: str = Field(min_length=8)
    # The HMAC-SHA256 key the receiver verifies ``X-Gatekeeper-Signature`` with.
    secret: str = ""
    secret_env: str = ""
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("a webhook url must start with https:// (or http:// on a private network)")
        return v

    def key(self) -> bytes:
        return _secret(self.secret, self.secret_env, f"webhook {self.url}").encode()


class EmailTarget(_Section):
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False  # SMTPS (port 465)
    ca_file: str = ""  # a private CA to verify the server with (default: the system's CAs)
    sender: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    username: str = ""
    password: str = ""
    password_env: str = ""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    def login_password(self) -> str:
        return _secret(self.password, self.password_env, "notify.email")


class SnsTarget(_Section):
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$")
    region: str = "us-east-1"
    endpoint_url: str = ""  # a local stand-in; empty: AWS


class NotifyConfig(_Section, NotifyMethods):
    console_url: str = ""
    events: list[EventKind] = Field(default_factory=lambda: list(EVENT_KINDS))  # type: ignore[arg-type]
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    email: EmailTarget | None = None
    sns: SnsTarget | None = None
    case_deadline_hours: float = Field(default=72.0, gt=0)
    case_warning_hours: float = Field(default=24.0, ge=0)
    licence_expiry_days: int = Field(default=30, ge=0)
    licence_low_fraction: float = Field(default=0.1, ge=0, lt=1)
    # Delivery: attempts per channel after the first, waiting backoff x 2^n (at most backoff_max).
    retries: int = Field(default=4, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)
    # How often ``gatekeeper serve`` looks for cases near their deadline and licences near their end.
    scan_interval_seconds: float = Field(default=300.0, gt=0)
    # Reminders told are remembered in the state store (shared by replicas); this JSON file, where an
    # earlier version kept them, is only read (its keys count as told). Relative to the config.
    state_file: str = ".gatekeeper/notify-sent.json"
    # enabled (a channel is configured): NotifyMethods (gatekeeper/config_reader.py)
