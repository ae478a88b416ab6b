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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    # Accounts a provider runs on behalf of customers: account id -> customer account id.
    account_map: dict[str, str] = Field(default_factory=dict)


class WebConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 8765
    # Bearer token -> role (requester, reviewer, auditor); tokens may also come from
    # GATEKEEPER_TOKENS as "token=role,token=role".
    tokens: dict[str, Literal["requester", "reviewer", "auditor"]] = Field(default_factory=dict)


class AwsConfig(_Section):
    # Seconds a resolved launch template / group or a caller identity is cached.
    resolver_ttl_seconds: float = 60.0


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
    # Folder that relative paths are resolved against (the config file's folder); not read from TOML.
    base_dir: str = "."

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

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
