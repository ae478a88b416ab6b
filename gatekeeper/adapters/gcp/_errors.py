"""The error a blocked Google Cloud call raises: ``google.api_core.exceptions.PermissionDenied``.

The message starts with the code (``ExportControlDenied`` / ``ExportLicensePending``), then why and
what to do, with the decision and case ids. The same code is the ``reason`` of the attached
``google.rpc.ErrorInfo`` (domain ``gatekeeper``; ``metadata`` carries ``decision_id`` and
``case_id``), so ``err.reason`` and ``err.metadata`` work as for Google's own errors.
"""

from __future__ import annotations

from google.api_core.exceptions import PermissionDenied
from google.rpc import error_details_pb2

from gatekeeper.adapters._explain import error_code, explain
from gatekeeper.model import Decision

DOMAIN = "gatekeeper"


class ExportControlPermissionDenied(PermissionDenied):
    """A call gatekeeper blocked. ``decision``, ``decision_id``, ``case_id`` and ``code`` say which and why."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.decision_id = decision.decision_id
        self.case_id = decision.case_id
        self.code_name = error_code(decision)
        metadata = {"decision": decision.outcome.label, "decision_id": decision.decision_id}
        if decision.case_id:
            metadata["case_id"] = decision.case_id
        info = error_details_pb2.ErrorInfo(reason=self.code_name, domain=DOMAIN, metadata=metadata)
        super().__init__(  # type: ignore[no-untyped-call]
            f"{self.code_name}: {explain(decision)}", error_info=info)
