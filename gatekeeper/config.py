"""Configuration: one TOML file (``--config PATH`` or ``GATEKEEPER_CONFIG``), else embedded defaults.

Validated with pydantic at load; unknown keys are refused so that a typo never silently weakens a
control. Relative paths in the file are resolved against the file's folder; the embedded defaults
live under ``./.gatekeeper/``.

Function hosts read the same file with ``gatekeeper.config_reader`` (no pydantic; equal values, and
these models' errors); the fields' checks and ``Config``'s methods live there, shared by both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gatekeeper.config_reader import DEFAULT_HOME as DEFAULT_HOME  # re-exported: defined there, once
from gatekeeper.config_reader import DEFAULT_STORE_URL as DEFAULT_STORE_URL
from gatekeeper.config_reader import ENV_VAR as ENV_VAR
from gatekeeper.config_reader import WEB_ROLES as WEB_ROLES
from gatekeeper.config_reader import (
    ConfigMethods,
    check_origins,
    check_tokens,
    check_trusted_keys,
    check_witness,
    config_path,
    read_toml,
)
from gatekeeper.errors import ConfigError
from gatekeeper.notify.settings import NotifyConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

class StoreConfig(_Section):
    url: str = DEFAULT_STORE_URL
    # A SQLite file that does not exist is an error (a mistyped path would silently be a new, empty
    # store: every customer "unknown") unless `gatekeeper store init` creates it, the URL is the
    # embedded default, or this says so.
    create: bool = False
    # How long a SQLite call waits for a lock another process holds before the store is "unavailable"
    # (the decision is then denied with that reason, fail closed), instead of stalling the provisioning
    # call. Writers hold the lock for milliseconds.
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)


class AuditConfig(_Section):
    url: str = "file://.gatekeeper/audit"
    # Record every decision, also plain (non-accelerated) ones; by default only accelerated compute,
    # flags, pendings, denials and errors are recorded.
    record_all: bool = False
    # Ed25519 private key (PEM) that signs segment checkpoints; created on first use when missing.
    signing_key: str = ".gatekeeper/audit-signing-key.pem"
    segment_max_bytes: int = 64 * 1024 * 1024
    segment_max_seconds: int = 3600
    # Trust kept outside the log (docs/audit.md). The name of this log in the trust store and the
    # witness: logs that share a store need distinct ids.
    log_id: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,199}$")
    # Keys allowed to sign the log: "ed25519:<64 hex>" fingerprints, or paths of PEM public keys.
    # Keys the writer creates are also pinned in the state store.
    trusted_keys: list[str] = Field(default_factory=list)
    # Where signed digests of the log's head are published: "store" (the state store), "none", or
    # "s3://BUCKET/PREFIX?region=R" (a bucket with S3 Object Lock).
    witness: str = "store"
    # A digest is published on every checkpoint and at least this often while records arrive.
    witness_interval_seconds: float = Field(default=60.0, gt=0, le=60)
    # Object Lock retention of each digest in an s3:// witness (compliance mode).
    witness_retention_days: int = Field(default=2555, ge=1)

    @field_validator("trusted_keys")
    @classmethod
    def _trusted_keys(cls, v: list[str]) -> list[str]:
        return check_trusted_keys(v)

    @field_validator("witness")
    @classmethod
    def _witness(cls, v: str) -> str:
        return check_witness(v)


class WorkflowConfig(_Section):
    # Distinct reviewers whose approval a case needs before the licence takes effect.
    approvals_required: int = Field(default=1, ge=1, le=2)


class ScreeningConfig(_Section):
    # Score (0-100) at or above which a restricted-party list entry is a hit on a profile.
    threshold: float = Field(default=88.0, ge=0, le=100)
    # Processes that re-screen the stored profiles when a list is loaded; 0: the CPUs available to it.
    workers: int = Field(default=0, ge=0, le=256)


class HooksConfig(_Section):
    # Remediation per decision: "none", "tag", "stop", "terminate".
    on_flag: Literal["none", "tag"] = "tag"
    on_pending: Literal["none", "tag", "stop"] = "stop"
    on_deny: Literal["none", "tag", "stop", "terminate"] = "terminate"
    # Remediation when gatekeeper could not decide (the decision is a fail-closed deny carrying an
    # error): by default the reversible "stop" rather than on_deny's "terminate".
    on_error: Literal["none", "tag", "stop", "terminate"] = "stop"
    # Accounts a provider runs on behalf of customers: account id -> customer account id.
    account_map: dict[str, str] = Field(default_factory=dict)
    # Principals whose changes the hooks ignore (exact IAM ARNs / Entra object ids): the hooks' own
    # identity, so that their remediation (a tag update is a write) does not trigger them again.
    ignore_principals: list[str] = Field(default_factory=list)
    # AWS: the role the hook assumes in the account an event comes from, to read and remediate
    # there ("{account}" is replaced: "arn:aws:iam::{account}:role/gatekeeper-remediation").
    # Empty: the hook's own credentials (events of its own account only).
    aws_role: str = ""


class WebConfig(_Section):
    # Loopback unless told otherwise: put a TLS proxy in front to serve anyone else (docs/web.md).
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    # Bearer token -> "NAME:ROLE" (or just "ROLE"), ROLE one of requester, reviewer, auditor. NAME is
    # the identity that approvals and denials carry (separation of duties compares it with the
    # requester). Tokens may also come from GATEKEEPER_TOKENS as "token=NAME:ROLE,token=ROLE".
    tokens: dict[str, str] = Field(default_factory=dict)
    # Largest request body accepted (bytes); a larger one is answered 413 without being read. Decision
    # requests are a few hundred bytes; 64 KiB leaves room for 100 items with long resource ids.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Origins (scheme://host[:port]) whose console form posts are accepted besides the server's own,
    # for a TLS proxy that rewrites Host: e.g. ["https://gatekeeper.example.com"].
    origins: list[str] = Field(default_factory=list)

    @field_validator("origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        return check_origins(v)

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, v: dict[str, str]) -> dict[str, str]:
        return check_tokens(v)


class AwsConfig(_Section):
    # Seconds a resolved launch template / group or a caller identity is cached.
    resolver_ttl_seconds: float = 60.0
    # The provider's own accounts: a call from one with no customer named is denied, never decided
    # as the provider itself (name the customer with acting_for, or protect(client, acting_for=...)).
    provider_accounts: list[str] = Field(default_factory=list)


class AzureConfig(_Section):
    # The provider's own subscriptions (as [aws] provider_accounts).
    provider_accounts: list[str] = Field(default_factory=list)


class GcpConfig(_Section):
    # The provider's own projects (as [aws] provider_accounts).
    provider_accounts: list[str] = Field(default_factory=list)


class Config(_Section, ConfigMethods):
    mode: Literal["enforce", "shadow"] = "enforce"
    on_error: Literal["deny", "allow"] = "deny"
    policies: list[str] = Field(default_factory=list)  # empty: the packs shipped with gatekeeper
    store: StoreConfig = StoreConfig()
    audit: AuditConfig = AuditConfig()
    workflow: WorkflowConfig = WorkflowConfig()
    screening: ScreeningConfig = ScreeningConfig()
    hooks: HooksConfig = HooksConfig()
    web: WebConfig = WebConfig()
    aws: AwsConfig = AwsConfig()
    azure: AzureConfig = AzureConfig()
    gcp: GcpConfig = GcpConfig()
    notify: NotifyConfig = NotifyConfig()  # reviewers' notifications (gatekeeper/notify/settings.py)
    # Folder that relative paths are resolved against (the config file's folder); not read from TOML.
    base_dir: str = "."
    # resolve(path), provider_accounts(), policy_paths(): ConfigMethods (gatekeeper/config_reader.py)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """The configuration from ``path``, else ``$GATEKEEPER_CONFIG``, else the embedded defaults."""
    p = config_path(path)
    if p is None:
        return Config()
    return validate(p, read_toml(p), str(p.parent.resolve()))


def validate(p: Path, data: dict[str, Any], base_dir: str) -> Config:
    """The file ``p``'s TOML ``data`` validated; ConfigError naming the file and the first bad field."""
    try:
        return Config(**data, base_dir=base_dir)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{p}: {loc}: {first['msg']}") from exc
