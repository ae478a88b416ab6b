"""A plan report as JSON, SARIF 2.1.0 (code-scanning UIs) or JUnit XML (CI test reports).

One fact, one place: every format is built from the same Finding fields (``outcome``, the decision's
``as_dict``), so the table, the JSON, the SARIF results and the JUnit cases agree.

SARIF: one ``run`` whose driver lists the rules that matched (``PACK/RULE``, with their citation) plus
``gatekeeper/error`` and ``gatekeeper/undecidable``; one ``result`` per resource that is not allowed
(deny and pending ``error``, flag ``warning``), located in the plan file with the resource address as
its logical location. JUnit: one ``testcase`` per resource; deny and pending are failures, errors are
errors, flag passes with its reasons in ``system-out``.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

from gatekeeper.gates.plan._check import Finding, PlanReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"deny": "error", "pending": "error", "flag": "warning", "error": "error"}


def _version() -> str:
    from gatekeeper import __version__

    return __version__


def _message(f: Finding) -> str:
    if f.decision is None:
        return f"{f.address}: could not be decided: {f.error}"
    d = f.decision
    head = f"{f.address}: {f.outcome.upper()} for {d.profile.legal_name or f'{f.provider} {f.account_id}'}"
    parts = [head, *d.reasons, *(n for n in f.notes if "after apply" in n)]
    if d.case_id:
        parts.append(f"case {d.case_id} (gatekeeper cases show {d.case_id})")
    return "; ".join(parts)


def report_json(report: PlanReport) -> dict[str, Any]:
    worst = report.worst
    return {
        "plan": report.source,
        "terraform_version": report.terraform_version,
        "decision": "error" if report.errors and (worst is None or worst.label in ("allow", "flag"))
        else (worst.label if worst is not None else "allow"),
        "counts": report.counts(),
        "ignored_resources": report.ignored,
        "dry_run": report.dry_run,
        "resources": [
            {"address": f.address, "type": f.type, "provider": f.provider, "account_id": f.account_id,
             "operation": f.operation, "decision": f.outcome, "error": f.error, "notes": list(f.notes),
             "detail": f.decision.as_dict() if f.decision is not None else None}
            for f in report.findings
        ],
    }


def _rule_ids(f: Finding) -> list[str]:
    if f.decision is None:
        return ["gatekeeper/error"]
    ids = [f"{m.pack_id}/{m.rule_id}" for m in f.decision.matches if m.outcome == f.decision.outcome]
    return ids or ["gatekeeper/undecidable"]


def report_sarif(report: PlanReport) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {
        "gatekeeper/error": {"id": "gatekeeper/error", "shortDescription": {
            "text": "A compute resource gatekeeper could not decide (no subject, malformed value)"}},
        "gatekeeper/undecidable": {"id": "gatekeeper/undecidable", "shortDescription": {
            "text": "Export-control decision without a matching rule (licence workflow or fail-closed)"}},
    }
    results: list[dict[str, Any]] = []
    for f in report.findings:
        if f.outcome == "allow":
            continue
        if f.decision is not None:
            for m in f.decision.matches:
                rules.setdefault(f"{m.pack_id}/{m.rule_id}", {
                    "id": f"{m.pack_id}/{m.rule_id}", "shortDescription": {"text": m.citation},
                    "properties": {"pack_version": m.pack_version, "decision": m.outcome.label}})
        rule_id = _rule_ids(f)[0]
        results.append({
            "ruleId": rule_id,
            "ruleIndex": list(rules).index(rule_id),
            "level": _LEVEL[f.outcome],
            "message": {"text": _message(f)},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": report.source}},
                "logicalLocations": [{"fullyQualifiedName": f.address, "kind": "resource"}],
            }],
            # Stable across runs, so code-scanning UIs track one alert per resource and account.
            "partialFingerprints": {"gatekeeperResource/v1": hashlib.sha256(
                f"{f.address}|{f.provider}|{f.account_id}".encode()).hexdigest()},
            "properties": {"decision": f.outcome, "provider": f.provider, "account_id": f.account_id,
                           "resource_type": f.type, "operation": f.operation,
                           "case_id": f.decision.case_id if f.decision is not None else None,
                           "decision_id": f.decision.decision_id if f.decision is not None else None},
        })
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "gatekeeper", "version": _version(), "rules": list(rules.values())}},
            "artifacts": [{"location": {"uri": report.source}}],
            "results": results,
        }],
    }


def report_junit(report: PlanReport) -> str:
    counts = report.counts()
    suite = ET.Element("testsuite", {
        "name": f"gatekeeper plan check {report.source}", "tests": str(len(report.findings)),
        "failures": str(counts["deny"] + counts["pending"]), "errors": str(counts["error"]), "skipped": "0"})
    for f in report.findings:
        case = ET.SubElement(suite, "testcase", {"classname": f"gatekeeper.plan.{f.type}", "name": f.address})
        if f.outcome in ("deny", "pending"):
            el = ET.SubElement(case, "failure", {"type": f.outcome, "message": _message(f)[:500]})
            el.text = _message(f)
        elif f.outcome == "error":
            el = ET.SubElement(case, "error", {"type": "error", "message": (f.error or "")[:500]})
            el.text = _message(f)
        elif f.outcome == "flag" or f.notes:
            ET.SubElement(case, "system-out").text = _message(f) + "".join(f"\n{n}" for n in f.notes)
    root = ET.Element("testsuites", {"name": "gatekeeper", "tests": suite.get("tests", "0"),
                                     "failures": suite.get("failures", "0"), "errors": suite.get("errors", "0")})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
