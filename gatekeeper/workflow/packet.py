"""The licence-application packet of a case (``gatekeeper cases export``): what a BIS application needs.

JSON (schema ``gatekeeper.licence-application/v1``) and Markdown from the same dict: the end user and
its countries, the items with ECCN, TPP, PD and quantity, where the compute would run, the rules and
citations that require the licence, the requests that raised the case and the case's history.
Gatekeeper fills what it knows; the applicant's own details are left for the exporter to complete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gatekeeper.jurisdictions import Jurisdictions
from gatekeeper.model import CLASS_A, CLASS_B, CLASS_UNKNOWN
from gatekeeper.workflow.model import Case, fmt_qty, permit_label

SCHEMA = "gatekeeper.licence-application/v1"
# Computers and assemblies containing 3A090 ICs are 4A090 (88 FR 73458); cloud instances are such computers.
SYSTEM_ECCN = {CLASS_A: "4A090.a", CLASS_B: "4A090.b"}


def _eccn(export_class: str, named: bool) -> str:
    if export_class in (CLASS_A, CLASS_B):
        return export_class
    if export_class == CLASS_UNKNOWN:
        return "unclassified (figures unknown: to be classified before applying)"
    return "below 3A090 (licence required because the chip is named by rule)" if named else export_class


def build_packet(case: Case, jurisdictions: Jurisdictions, *, generated_at: datetime) -> dict[str, Any]:
    """The packet of ``case`` (loaded with its requests)."""
    names = jurisdictions.countries
    p = case.profile

    def country(code: str, role: str) -> dict[str, str]:
        return {"code": code, "name": names.get(code, "unknown"), "role": role}

    countries = [country(p.get(k, "") or "", role) for k, role in (
        ("country", "location"), ("headquarters_country", "headquarters"),
        ("ultimate_parent_country", "ultimate parent"))]
    locations = []
    for region in case.regions():
        code = jurisdictions.region_country(case.provider, region) or ""
        locations.append({"provider": case.provider, "region": region, "country": code,
                          "country_name": names.get(code, "unknown")})
    totals = case.totals()
    items = [{
        **a.as_json(), "eccn": _eccn(a.export_class, bool(a.named_by)),
        "system_eccn": SYSTEM_ECCN.get(a.export_class, ""),
    } for a in totals.chips]
    return {
        "schema": SCHEMA,
        "generated_at": generated_at.isoformat(),
        "case_id": case.case_id,
        "status": case.status,
        "applicant": {"note": "to be completed by the exporter (the cloud provider operating gatekeeper)"},
        "end_user": {
            "legal_name": case.legal_name or p.get("legal_name", ""), "provider": case.provider,
            "account_id": case.account_id, "kyc_status": p.get("kyc_status", ""), "countries": countries,
            "screening_hits": p.get("screening_hits", []), "known": p.get("known", True),
        },
        "items": items,
        "quantity_requested": totals.quantity,
        "largest_request": totals.largest,
        "quantity_detail": totals.detail(),
        "end_use_locations": locations,
        "legal_basis": [{"rule": r.rule_id, "pack": r.pack_id, "pack_version": r.pack_version,
                         "decision": r.decision, "citation": r.citation, "reason": r.reason,
                         "review_policy": r.review_policy or None, "basis": r.basis or None} for r in case.rules()],
        "review_policy": case.review_policy() or None,
        "request_history": [{
            "decision_id": r.decision_id, "at": r.at.isoformat(), "principal": r.principal,
            "on_behalf_of": r.on_behalf_of, "service": r.service, "operation": r.operation, "source": r.source,
            "region": r.region,
            "quantity": r.quantity, "resource_ids": list(r.resource_ids),
            "items": [i.model_dump(mode="json") for i in r.items],
        } for r in case.requests],
        "case_history": [h.model_dump(mode="json") for h in case.history],
        "approvals": [a.model_dump(mode="json") for a in case.approvals],
        "licence_number": case.licence_number,
        # The permit the case was approved with: an individual licence or licence exception NAC/ACA.
        "permit": _permit(case),
        "denial_reason": case.denial_reason,
    }


def _permit(case: Case) -> dict[str, Any] | None:
    """The permit of the case's last approval: an individual licence or licence exception NAC/ACA."""
    if not case.approvals:
        return None
    a = case.approvals[-1]
    return {"kind": a.permit, "number": a.licence_number,
            "notified_on": a.notified_on.isoformat() if a.notified_on else None,
            "label": permit_label(a.permit, a.licence_number, a.notified_on)}


def _md_escape(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def packet_markdown(packet: dict[str, Any]) -> str:
    eu = packet["end_user"]
    out = [
        f"# Licence application packet: case {packet['case_id']}",
        "",
        f"Generated {packet['generated_at']} by gatekeeper ({packet['schema']}). Case status: **{packet['status']}**.",
        "",
        "## End user",
        "",
        f"- Legal name: **{eu['legal_name'] or 'unknown'}**",
        f"- Cloud account: {eu['provider']} `{eu['account_id']}`" + ("" if eu["known"] else " (not in the store)"),
        f"- Identity (KYC): {eu['kyc_status'] or 'unknown'}",
    ]
    for c in eu["countries"]:
        out.append(f"- {c['role'].capitalize()}: {c['name']} ({c['code'] or '-'})")
    for h in eu["screening_hits"]:
        out.append(f"- Screening hit: {h.get('list')} {h.get('entry_id')} {h.get('name')} (score {h.get('score')})"
                   + (" - cleared" if h.get("cleared") else ""))
    out += ["", "## Items", "",
            "| Chip | ECCN (IC) | ECCN (system) | TPP | PD | Instance types | Largest request | Total requested |",
            "|---|---|---|---|---|---|---|---|"]
    for i in packet["items"]:
        tpp = f"{i['tpp']:,.0f}" if i["tpp"] is not None else "unknown"
        pd = f"{i['pd']:g}" if i["pd"] is not None else "unknown"
        out.append(f"| {_md_escape(i['model'])} | {_md_escape(i['eccn'])} | {i['system_eccn'] or '-'} | {tpp} | {pd} "
                   f"| {_md_escape(', '.join(i['instance_types']))} | {fmt_qty(i['largest_request'])} "
                   f"| {fmt_qty(i['total_requested'])} |")
    out += ["", f"Quantity requested: **{fmt_qty(packet['quantity_requested'])} accelerators** "
                f"{packet['quantity_detail']}.", "", "## End-use locations", ""]
    out += [f"- {loc['provider']} {loc['region']}: {loc['country_name']} ({loc['country'] or '-'})"
            for loc in packet["end_use_locations"]] or ["- no region given in the requests"]
    out += ["", "## Why a licence is required", ""]
    if packet.get("review_policy"):
        out += [f"Licence review policy: **{packet['review_policy']}**.", ""]
    out += [f"- `{r['pack']}/{r['rule']}` ({r['decision']}"
            + (f"; review: {r['review_policy']}" if r.get("review_policy") else "")
            + (f"; {r['basis']}" if r.get("basis") not in (None, "", "regulation") else "")
            + f"): {r['reason']}  \n  Citation: {r['citation']}"
            for r in packet["legal_basis"]]
    out += ["", "## Request history", "", "| Time | Decision | Principal | Operation | Region | Accelerators |",
            "|---|---|---|---|---|---|"]
    for r in packet["request_history"]:
        op = f"{r['service']} {r['operation']}".strip()
        who = r["principal"] + (f" (on behalf of {r['on_behalf_of']})" if r.get("on_behalf_of") else "")
        out.append(f"| {r['at']} | {r['decision_id']} | {_md_escape(who)} | {_md_escape(op)} "
                   f"| {r['region'] or '-'} | {fmt_qty(r['quantity'])} |")
    out += ["", "## Case history", ""]
    out += [f"- {h['at']} {h['actor']}: {h['action']}" + (f" - {h['detail']}" if h["detail"] else "")
            for h in packet["case_history"]]
    if packet["licence_number"]:
        permit = packet.get("permit") or {}
        out += ["", f"Permit issued: **{permit.get('label') or packet['licence_number']}**."]
    if packet["denial_reason"]:
        out += ["", f"Denied: {packet['denial_reason']}"]
    out += ["", "## Applicant", "", f"_{packet['applicant']['note']}_", ""]
    return "\n".join(out)
