"""Every error gatekeeper raises, in one place.

The hierarchy::

    GatekeeperError
     ├── ConfigError               bad or unreadable configuration file
     ├── PolicyError               a pack that cannot be loaded; names file, line, rule and field
     ├── CatalogError              a catalog data file that is inconsistent
     ├── InvalidInputError         bad user input (CSV/JSON row, CLI argument); names the row or field
     ├── NotFoundError             an account, case or licence that does not exist
     ├── WorkflowError             a case or licence transition that is not allowed
     │    └── ConflictError        a concurrent change to the same case won; re-read and retry
     ├── StoreError                the state store failed (down, throttled, corrupt)
     ├── ScreeningError            a re-screening could not finish (a worker process died)
     ├── ResolutionError           an indirection (launch template, group) could not be followed
     ├── RemediationError          a detective hook could not put a resource right (retried by the platform)
     └── AuditError                the audit log could not be written
          └── AuditIntegrityError  the audit log does not verify

Errors raised to SDK callers for blocked calls are the SDKs' own types (``botocore`` ``ClientError``,
``azure.core`` ``HttpResponseError``, ``google.api_core`` ``PermissionDenied``); the adapters build
them from a :class:`gatekeeper.model.Decision`.
"""

from __future__ import annotations


class GatekeeperError(Exception):
    """Base of every error raised by gatekeeper itself."""


class ConfigError(GatekeeperError):
    """The configuration file is missing, unreadable or invalid."""


class PolicyError(GatekeeperError):
    """A policy pack could not be loaded or compiled.

    ``file``, ``line``, ``rule`` and ``field`` locate the problem as precisely as it is known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        rule: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.line, self.rule, self.field = file, line, rule, field
        self.detail = message
        where = []
        if file:
            where.append(f"{file}:{line}" if line else file)
        if rule:
            where.append(f"rule {rule!r}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class CatalogError(GatekeeperError):
    """The catalog data is inconsistent (unknown chip, bad figure)."""


class InvalidInputError(GatekeeperError):
    """User input is invalid; ``row`` (1-based, header is row 1) or ``field`` says where."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        self.row, self.field, self.detail = row, field, message
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class NotFoundError(GatekeeperError):
    """The named account, case or licence does not exist."""


class WorkflowError(GatekeeperError):
    """A transition that the case or licence workflow does not allow (e.g. self-approval)."""


class ConflictError(WorkflowError):
    """A concurrent change to the same case won the race; the caller re-reads and retries."""


class StoreError(GatekeeperError):
    """The state store failed; decisions that depend on it fail closed."""


class ScreeningError(GatekeeperError):
    """Screening could not be completed (a worker process of ``screening load`` died); nothing was changed."""


class ResolutionError(GatekeeperError):
    """A reference in a request (launch template, launch configuration, group) could not be resolved."""


class RemediationError(GatekeeperError):
    """A detective hook's remediation action failed; it was recorded, and the event is left for a retry."""


class AuditError(GatekeeperError):
    """An audit record could not be made durable; the call it records must not proceed."""


class AuditIntegrityError(AuditError):
    """The audit log does not verify; ``position`` names the first bad record."""

    def __init__(self, message: str, *, position: str | None = None) -> None:
        self.position = position
        super().__init__(f"{position}: {message}" if position else message)
