"""What an adapter tells the caller when it blocks a call: the error code and a readable message.

Shared by the SDK adapters (pure, imports no SDK). The codes are public contracts (DESIGN.md):
``ExportControlDenied`` for a deny, ``ExportLicensePending`` for a pending decision held for a licence.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.model import CustomerProfile, Decision, Outcome, ProvisioningRequest, new_id, utcnow

CODE_DENIED = "ExportControlDenied"
CODE_PENDING = "ExportLicensePending"


def error_code(decision: Decision) -> str:
    """The public error code of a blocking decision."""
    return CODE_PENDING if decision.outcome == Outcome.PENDING else CODE_DENIED


def _what(decision: Decision) -> str:
    shown = [i for i in decision.items if i.accelerated] or list(decision.items)
    parts = []
    for i in shown:
        chips = ", ".join(dict.fromkeys(a.model for a in i.accelerators))
        parts.append(f"{i.instance_type or '(no size)'} x{i.item.count}" + (f" ({chips}; {i.export_class})"
                                                                           if chips else ""))
    return "; ".join(parts) or "compute gatekeeper could not determine"


def explain(decision: Decision) -> str:
    """Why the call was blocked and what to do next, with the case or decision id to quote.

    Without the error code: each SDK shows the code in its own place (ARM's ``error.code``; for
    Google Cloud the adapter puts it in front of the message).
    """
    req = decision.request
    subject = decision.profile.legal_name or f"{req.provider} account {req.account_id}"
    op = req.operation or "the call"
    why = " ".join(r[:1].upper() + r[1:].rstrip(".") + "." for r in decision.reasons) or "A policy requires it."
    if decision.outcome == Outcome.PENDING:
        # The reasons already name the case (opened or joined); it is named once.
        case_id = decision.case_id or ""
        named = bool(case_id) and any(case_id in r for r in decision.reasons)
        todo = ("Export compliance reviews the case and records the licence; retry the call once it is approved."
                if named else
                f"Export compliance must record a licence on case {decision.case_id}; retry the call once the "
                f"case is approved." if decision.case_id else
                "Export compliance must record a licence before this call can proceed.")
        head = f"{op} for {subject} is held until an export licence is on file"
    else:
        todo = ("Gatekeeper could not decide and failed closed; retry once it can, or ask export compliance."
                if decision.error else
                "This cannot proceed under the policies in force; contact export compliance if you believe "
                "it is wrong.")
        head = f"{op} for {subject} is denied"
    return f"{head} [{_what(decision)}]. Why: {why} What to do: {todo} Decision {decision.decision_id}."


def details(decision: Decision) -> dict[str, Any]:
    """The machine-readable part attached to SDK errors (decision id, case id, outcome, rules)."""
    return {
        "decision": decision.outcome.label,
        "decision_id": decision.decision_id,
        "case_id": decision.case_id,
        "rules": [m.rule_id for m in decision.matches],
        "reasons": list(decision.reasons),
    }


def unavailable_decision(provider: str, account_id: str, operation: str, exc: BaseException) -> Decision:
    """A deny for a call gatekeeper could not decide because its runtime could not be built (bad
    configuration): fail closed. It cannot be audited (there is no audit log to write to); the error
    says so, and the adapters raise it as the SDK's own error like any other deny."""
    error = f"{type(exc).__name__}: {exc}"
    request = ProvisioningRequest(provider=provider, account_id=account_id, items=(), operation=operation)
    return Decision(new_id("dec"), Outcome.DENY, request, CustomerProfile.unknown(provider, account_id), (), (),
                    Outcome.DENY, utcnow(), error=error,
                    reasons=(f"gatekeeper could not start ({error}); fix its configuration (GATEKEEPER_CONFIG). "
                             "Not recorded: no audit log is available",))
