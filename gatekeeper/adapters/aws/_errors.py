"""The error a blocked AWS call raises: a ``botocore.exceptions.ClientError`` with HTTP status 403.

So existing ``except ClientError`` handling works unchanged::

    except ClientError as err:
        err.response["Error"]["Code"]                       # "ExportControlDenied" / "ExportLicensePending"
        err.response["ResponseMetadata"]["HTTPStatusCode"]  # 403
        err.response["Gatekeeper"]                          # decision_id, decision, case_id, rules, reasons

``ExportControlDenied`` and ``ExportLicensePending`` are subclasses a caller may catch specifically.
Nothing was sent to AWS: the response is gatekeeper's, and ``RequestId`` is the decision id.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gatekeeper.adapters._explain import CODE_DENIED, CODE_PENDING, details, error_code, explain
from gatekeeper.model import Decision


class ExportControlError(ClientError):  # type: ignore[misc]  # botocore ships no type hints
    """A provisioning call gatekeeper blocked. ``decision`` is the Decision (None if none could be made)."""

    def __init__(self, error_response: dict[str, Any], operation_name: str, decision: Decision | None = None) -> None:
        super().__init__(error_response, operation_name)
        self.decision = decision

    def __reduce__(self) -> tuple[Any, ...]:
        # ClientError pickles as a plain ClientError (its generated subclasses are not importable);
        # these classes are, so they keep their type (and the code callers dispatch on) across processes.
        return type(self), (self.response, self.operation_name, self.decision)

    @property
    def code(self) -> str:
        return str(self.response.get("Error", {}).get("Code", ""))

    @property
    def case_id(self) -> str | None:
        info = self.response.get("Gatekeeper") or {}
        value = info.get("case_id") if isinstance(info, dict) else None
        return value if isinstance(value, str) else None


class ExportControlDenied(ExportControlError):
    """Denied: do not retry the same request."""


class ExportLicensePending(ExportControlError):
    """Held until an export licence is on file; the case id is in the message and ``case_id``."""


def _response(code: str, message: str, request_id: str, gatekeeper: dict[str, Any]) -> dict[str, Any]:
    return {
        "Error": {"Code": code, "Message": message, "Type": "Sender"},
        "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": 403,
                             "HTTPHeaders": {"x-gatekeeper-decision": request_id}, "RetryAttempts": 0},
        "Gatekeeper": gatekeeper,
    }


def blocked_error(decision: Decision, operation_name: str) -> ExportControlError:
    """The ClientError for a blocking decision (deny or pending)."""
    code = error_code(decision)
    cls = ExportLicensePending if code == CODE_PENDING else ExportControlDenied
    return cls(_response(code, explain(decision), decision.decision_id, details(decision)), operation_name,
               decision)


def unavailable_error(operation_name: str, reason: str) -> ExportControlDenied:
    """Denied because gatekeeper itself could not run (no configuration, no runtime): fail closed."""
    message = (f"{operation_name} is denied: gatekeeper could not decide ({reason}) and fails closed. "
               "What to do: fix gatekeeper's configuration (GATEKEEPER_CONFIG) and retry.")
    info = {"decision": "deny", "decision_id": None, "case_id": None, "rules": [], "reasons": [reason]}
    return ExportControlDenied(_response(CODE_DENIED, message, "", info), operation_name, None)


__all__ = ["CODE_DENIED", "CODE_PENDING", "ExportControlDenied", "ExportControlError", "ExportLicensePending",
           "blocked_error", "unavailable_error"]
