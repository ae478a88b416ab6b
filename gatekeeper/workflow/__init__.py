"""The government-permission workflow: cases, licences with scope, expiry and drawdown.

``Workflow(gatekeeper)`` is what ``Gatekeeper.decide`` consults for pending decisions (the
``Permits`` protocol) and what the ``gatekeeper cases`` / ``gatekeeper licences`` commands drive.
The records live in the state store (``gatekeeper.stores``: SQLite or DynamoDB); see docs/workflow.md.
"""

from __future__ import annotations

from gatekeeper.workflow._workflow import Workflow, workflow_of
from gatekeeper.workflow.model import (
    Approval,
    Case,
    CaseChange,
    CaseRequest,
    HistoryEntry,
    Licence,
    Scope,
)
from gatekeeper.workflow.scope import Need, need_of

__all__ = ["Approval", "Case", "CaseChange", "CaseRequest", "HistoryEntry", "Licence", "Need", "Scope", "Workflow",
           "need_of", "workflow_of"]
