"""Shared helpers for the adapter tests: a real Gatekeeper on tmp_path with an audit tee.

Each provider's conftest binds its own customer profiles (``make_gatekeeper``) and overrides the
``adapter_profiles`` fixture that the shared ``gk``/``audit`` fixtures in tests/adapters/conftest.py use.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gatekeeper import runtime
from gatekeeper.audit import open_audit_log
from gatekeeper.config import AuditConfig, Config, StoreConfig
from gatekeeper.model import CustomerProfile
from gatekeeper.policy import PolicySet, load_policies
from gatekeeper.service import Gatekeeper


class TeeAudit:
    """The real audit log, with the records it made durable kept for assertions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        written: dict[str, Any] = self.inner.append(record)
        self.records.append(written)
        return written

    def append_deferred(self, record: dict[str, Any]) -> _TeeTicket:
        """The two-step append (the AWS adapter's allowed decisions): kept once its ticket is waited for."""
        return _TeeTicket(self, self.inner.append_deferred(record))

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """The decision records (the workflow also records events, e.g. a case opened)."""
        return [r for r in self.records if r.get("kind") == "decision"]

    def close(self) -> None:
        self.inner.close()


class _TeeTicket:
    """A ticket of the real log; the record joins the tee's ``records`` once durable."""

    def __init__(self, tee: TeeAudit, ticket: Any) -> None:
        self.tee, self.ticket, self.kept = tee, ticket, False
        self.waits = 0

    def wait(self) -> None:
        self.waits += 1
        self.ticket.wait()
        if not self.kept:
            self.kept = True
            self.tee.records.append(self.ticket.record)


_policies: list[PolicySet] = []


def shipped_policies() -> PolicySet:
    """The shipped packs, loaded once per test process (parsing them is the slow part of a Gatekeeper)."""
    if not _policies:
        _policies.append(load_policies(Config().policy_paths()))
    return _policies[0]


def make_gatekeeper(tmp_path: Path, profiles: Iterable[CustomerProfile], **config: Any) -> tuple[Gatekeeper, TeeAudit]:
    """Configure the process-wide Gatekeeper on ``tmp_path`` (SQLite store, signed file audit log) with
    ``profiles`` imported. ``config`` goes to :class:`Config`; ``audit={...}`` adds AuditConfig fields."""
    cfg = Config(store=StoreConfig(url=f"sqlite:///{tmp_path}/state.db", create=True),
                 audit=AuditConfig(url=f"file://{tmp_path}/audit", signing_key=str(tmp_path / "key.pem"),
                                   **config.pop("audit", {})),
                 **config)
    tee = TeeAudit(open_audit_log(cfg.audit.url, signing_key=Path(cfg.audit.signing_key), base_dir=tmp_path))
    gk = runtime.configure(cfg, audit=tee, policies=shipped_policies())
    gk.store.profiles.put_profiles(list(profiles))
    return gk, tee
