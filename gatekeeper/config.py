"""Configuration: one TOML file (``--config PATH`` or ``GATEKEEPER_CONFIG``), else embedded defaults.

Validated with pydantic at load; unknown keys are refused so that a typo never silently weakens a
control. Relative paths in the file are resolved against the file's folder; the embedded defaults
live under ``./.gatekeeper/``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gatekeeper.errors import ConfigError

ENV_VAR = "GATEKEEPER_CONFIG"
DEFAULT_HOME = Path(".gatekeeper")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Section):
    url: str = "sqlite:///.gatekeeper/state.db"


class AuditConfig(_Section):
    url: str = "file://.gatekeeper/audit"
    # Record every decision, also plain (non-accelerated) ones; by default only accelerated compute,
    # flags, pendings, denials and errors are recorded.
    record_all: bool = False
    # Ed25519 private key (PEM) that signs segment checkpoints; created on first use when missing.
    signing_key: str = ".gatekeeper/audit-signing-key.pem"
    segment_max_bytes: int = 64 * 1024 * 1024
    segment_max_seconds: int = 3600


class WorkflowConfig(_Section):
    # Distinct reviewers whose approval a case needs before the licence takes effect.
    approvals_required: int = Field(default=1, ge=1, le=2)


class ScreeningConfig(_Section):
    # Score (0-100) at or above which a restricted-party list entry is a hit on a profile.
    threshold: float = 88.0


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


WEB_ROLES: tuple[str, ...] = ("requester", "reviewer", "auditor")


class WebConfig(_Section):
    # Loopback unless told otherwise: put a TLS proxy in front to serve anyone else (docs/web.md).
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    # Bearer token -> "NAME:ROLE" (or just "ROLE"), ROLE one of requester, reviewer, auditor. NAME is
    # the identity that approvals and denials carry (separation of duties compares it with the
    # requester). Tokens may also come from GATEKEEPER_TOKENS as "token=NAME:ROLE,token=ROLE".
    tokens: dict[str, str] = Field(default_factory=dict)

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, v: dict[str, str]) -> dict[str, str]:
        for token, spec in v.items():
            if not token or token != token.strip():
                raise ValueError("a token must be non-empty and have no surrounding spaces")
            name, _, role = spec.strip().rpartition(":")
            if role not in WEB_ROLES:
                raise ValueError(f"token role {role!r} must be one of {', '.join(WEB_ROLES)} (as NAME:ROLE or ROLE)")
            if ":" in spec and not name.strip():
                raise ValueError(f"token {spec!r}: the name before ':' must not be empty")
        return v


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


class Config(_Section):
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
    # Folder that relative paths are resolved against (the config file's folder); not read from TOML.
    base_dir: str = "."

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def provider_accounts(self) -> dict[str, frozenset[str]]:
        """Each provider's own accounts / subscriptions / projects (``[aws|azure|gcp] provider_accounts``)."""
        return {"aws": frozenset(a.strip() for a in self.aws.provider_accounts),
                "azure": frozenset(a.strip().lower() for a in self.azure.provider_accounts),
                "gcp": frozenset(a.strip() for a in self.gcp.provider_accounts)}

    def policy_paths(self) -> list[Path]:
        from gatekeeper.policy import shipped_policies_dir

        return [self.resolve(p) for p in self.policies] if self.policies else [shipped_policies_dir()]


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """The configuration from ``path``, else ``$GATEKEEPER_CONFIG``, else the embedded defaults."""
    chosen = path or os.environ.get(ENV_VAR)
    if not chosen:
        return Config()
    p = Path(chosen)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    if "base_dir" in data:
        raise ConfigError(f"{p}: 'base_dir' is not a setting")
    try:
        return Config(**data, base_dir=str(p.parent.resolve()))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{p}: {loc}: {first['msg']}") from exc
