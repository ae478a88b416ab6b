"""The HTTP API under ``/v1``: decisions for other languages' tooling; cases, licences, customers and
the audit log for reviewers and auditors. Bearer tokens only (docs/web.md has the role table).

``POST /v1/decisions`` answers exactly what ``gatekeeper check --json`` prints
(:meth:`gatekeeper.model.Decision.as_dict`), with HTTP 200 whatever the decision: the decision is
the answer; errors are for requests that could not be asked.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from gatekeeper.audit.review import Filters as AuditFilters
from gatekeeper.web._auth import PERMISSIONS, Principal
from gatekeeper.web._deps import api_allowed, api_principal, review
from gatekeeper.web._errors import AuthError
from gatekeeper.web._review import Review, audit_filters_of
from gatekeeper.web.schemas import ApproveBody, ClearHitBody, DecisionBody, DenyBody, RevokeBody

router = APIRouter(prefix="/v1")

ReviewDep = Annotated[Review, Depends(review)]
Caller = Annotated[Principal, Depends(api_principal)]
ReadCases = Annotated[Principal, Depends(api_allowed("read.cases"))]
ReadLicences = Annotated[Principal, Depends(api_allowed("read.licences"))]
ReadAccounts = Annotated[Principal, Depends(api_allowed("read.accounts"))]
ReadAudit = Annotated[Principal, Depends(api_allowed("read.audit"))]
Reviewer = Annotated[Principal, Depends(api_allowed("review"))]
Revoker = Annotated[Principal, Depends(api_allowed("revoke"))]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No bearer token, or an unknown one"},
    403: {"description": "The token's role may not do this"},
    422: {"description": "Invalid input; `detail[].loc` names the field"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such record"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "The workflow does not allow this transition "
                                                                  "(not open, separation of duties, ...)"}}


DECISION_EXAMPLE: dict[str, Any] = {
    "decision": "pending", "decision_id": "dec-2b0c9f1e4d7a8c33", "policy_decision": "pending", "mode": "enforce",
    "reasons": ["Lion City AI Pte. Ltd. is located in, headquartered in or owned from SG/CN (D:5 or Macau) and the "
                "request carries 3A090.a compute (A100); a licence must be on file",
                "no licence on file for Lion City AI Pte. Ltd.; case case-5f6dd0f3fb584f29 opened for review"],
    "review_policy": "presumption of denial",
    "rules": [{"id": "d5-macau-3a090", "pack": "us-cloud-advanced-compute", "pack_version": "2026.11.0",
               "decision": "pending", "citation": "15 CFR 742.6(a)(6)(iii)(A); ECCN 3A090/4A090 (88 FR 73458)",
               "reason": "...", "review_policy": None, "basis": "regulation", "effective_from": "2023-11-17",
               "effective_until": None},
              {"id": "d5-outside-china-macau", "pack": "us-licence-review-policy", "pack_version": "2026.12.0",
               "decision": "pending", "citation": "91 FR 1684 (case-by-case only for China and Macau); ...",
               "reason": "...", "review_policy": "presumption of denial", "basis": "regulation",
               "effective_from": "2026-01-15", "effective_until": None}],
    "accelerators": [{"instance_type": "p4d.24xlarge", "model": "A100", "count": 8.0, "per_instance": 8.0,
                      "tpp": 4992.0, "pd": 6.04, "memory_bandwidth": 2039.0, "export_class": "3A090.a",
                      "confirmed": True, "named_by": []}],
    "items": [{"instance_type": "p4d.24xlarge", "count": 1, "known": True, "accelerated": True,
               "export_class": "3A090.a", "path": ""}],
    "subject": {"provider": "aws", "account_id": "222222222222", "legal_name": "Lion City AI Pte. Ltd.",
                "country": "SG", "headquarters_country": "SG", "ultimate_parent_country": "CN",
                "kyc_status": "verified", "known": True, "screening_hits": [], "owners": []},
    "request": {"provider": "aws", "account_id": "222222222222", "region": "ap-southeast-1", "service": "api",
                "operation": "decide", "principal": "ci-bot", "on_behalf_of": "", "source": "api", "resource_ids": [],
                "unresolved": []},
    "licence_id": None, "case_id": "case-5f6dd0f3fb584f29", "error": None,
    "evaluated_at": "2026-01-15T10:08:47.123456+00:00",
}


@router.get("/whoami", tags=["auth"], responses=ERRORS)
def whoami(caller: Caller) -> dict[str, Any]:
    """The caller's name and role, and what the role may do."""
    return {"name": caller.name, "role": caller.role, "permissions": sorted(PERMISSIONS[caller.role])}


@router.post("/decisions", tags=["decisions"], responses={
    200: {"description": "The decision (the shape of `gatekeeper check --json`)",
          "content": {"application/json": {"example": DECISION_EXAMPLE}}}, **ERRORS})
def decide(body: DecisionBody, caller: Caller, r: ReviewDep) -> dict[str, Any]:
    """Decide a provisioning request, as ``gatekeeper check --json`` does (``source`` is ``api``).

    A real request unless ``dry_run``: it is audited, and a pending decision opens or joins a case.
    Requesters may ask either; reviewers and auditors may ask only ``dry_run`` what-ifs.
    The request's ``principal`` is the token's identity (a ``principal`` field is refused);
    ``on_behalf_of`` is recorded beside it.
    """
    if not caller.can("decide") and not (body.dry_run and caller.can("decide.dry_run")):
        need = "a requester token" if caller.can("decide.dry_run") else "the requester role"
        raise AuthError(403, f"role {caller.role!r} may not ask for real decisions (needs {need}); "
                             "reviewers and auditors may send dry_run: true")
    decision = r.decide(body.request(caller.name), dry_run=body.dry_run)
    return decision.as_dict()


# -- cases -----------------------------------------------------------------------------------
@router.get("/cases", tags=["cases"], responses=ERRORS)
def list_cases(_: ReadCases, r: ReviewDep,
               status: Annotated[str | None, Query(description="open, approved or denied")] = None,
               ) -> list[dict[str, Any]]:
    """Cases, newest first (the listing shape of ``gatekeeper cases list --json``)."""
    return [c.summary() for c in r.cases(status)]


@router.get("/cases/{case_id}", tags=["cases"], responses={**ERRORS, **NOT_FOUND})
def show_case(case_id: str, _: ReadCases, r: ReviewDep) -> dict[str, Any]:
    """One case with its requests, accelerators, rules and citations, and timeline."""
    return r.case(case_id).as_json()


@router.post("/cases/{case_id}/approve", tags=["cases"], responses={**ERRORS, **NOT_FOUND, **CONFLICT})
def approve_case(case_id: str, body: ApproveBody, caller: Reviewer, r: ReviewDep) -> dict[str, Any]:
    """Approve as the token's reviewer: issues the licence (after the last required approval)."""
    case, licence = r.approve(case_id, reviewer=caller.name, licence=body.licence, expires=body.expires,
                              quantity=body.quantity, conditions=body.conditions, regions=tuple(body.regions),
                              permit=body.permit, notified=body.notified)
    return {"case": case.as_json(), "licence": licence.as_json(r.today()) if licence else None}


@router.post("/cases/{case_id}/deny", tags=["cases"], responses={**ERRORS, **NOT_FOUND, **CONFLICT})
def deny_case(case_id: str, body: DenyBody, caller: Reviewer, r: ReviewDep) -> dict[str, Any]:
    """Deny as the token's reviewer, with a reason."""
    return r.deny(case_id, reviewer=caller.name, reason=body.reason).as_json()


# -- licences --------------------------------------------------------------------------------
@router.get("/licences", tags=["licences"], responses=ERRORS)
def list_licences(_: ReadLicences, r: ReviewDep, provider: str | None = None,
                  account_id: str | None = None) -> list[dict[str, Any]]:
    """Licences ordered by number, each with its ``state`` today."""
    today = r.today()
    return [lic.as_json(today) for lic in r.licences(provider, account_id)]


# ``number:path``: licence numbers may contain '/'.
@router.post("/licences/{number:path}/revoke", tags=["licences"], responses={**ERRORS, **NOT_FOUND, **CONFLICT})
def revoke_licence(number: str, body: RevokeBody, caller: Revoker, r: ReviewDep) -> dict[str, Any]:
    """Revoke an active licence; requests under it are held again."""
    return r.revoke(number, by=caller.name, reason=body.reason).as_json(r.today())


@router.get("/licences/{number:path}", tags=["licences"], responses={**ERRORS, **NOT_FOUND})
def show_licence(number: str, _: ReadLicences, r: ReviewDep) -> dict[str, Any]:
    return r.licence(number).as_json(r.today())


# -- customers -------------------------------------------------------------------------------
@router.get("/accounts", tags=["accounts"], responses=ERRORS)
def list_accounts(_: ReadAccounts, r: ReviewDep, provider: str | None = None) -> list[dict[str, Any]]:
    """Customer profiles (with their screening hits)."""
    return [p.as_dict() for p in r.profiles(provider)]


@router.get("/accounts/{provider}/{account_id}", tags=["accounts"], responses={**ERRORS, **NOT_FOUND})
def show_account(provider: str, account_id: str, _: ReadAccounts, r: ReviewDep) -> dict[str, Any]:
    """A profile with its screening hits (explained, with their review state), cases and licences."""
    return r.account(provider, account_id).as_json(r.today())


@router.get("/screening/hits", tags=["accounts"], responses=ERRORS)
def open_hits(_: ReadAccounts, r: ReviewDep) -> list[dict[str, Any]]:
    """Open restricted-party screening hits, for review."""
    return [h.as_dict() for h in r.open_hits()]


@router.post("/accounts/{provider}/{account_id}/screening/{entry_id}/clear", tags=["accounts"],
             responses={**ERRORS, **NOT_FOUND})
def clear_hit(provider: str, account_id: str, entry_id: str, body: ClearHitBody, caller: Reviewer,
              r: ReviewDep) -> dict[str, Any]:
    """Clear a false-positive screening hit as the token's reviewer (recorded with the reason)."""
    hit = r.clear_hit(provider, account_id, entry_id, by=caller.name, reason=body.reason)
    result: dict[str, Any] = hit.as_dict()
    return result


# -- audit -----------------------------------------------------------------------------------
def audit_filters(
    since: Annotated[str | None, Query(description="From this date or time (ISO 8601; UTC if no zone)")] = None,
    until: Annotated[str | None, Query(description="Before this time; a bare date includes that day")] = None,
    decision: Annotated[str | None, Query(description="allow, flag, pending or deny")] = None,
    customer: Annotated[str | None, Query(description="Account id, or part of the legal name")] = None,
    country: Annotated[str | None, Query(description="ISO 3166 alpha-2 (location, HQ or parent)")] = None,
    chip: Annotated[str | None, Query(description="Accelerator model, e.g. A100")] = None,
    rule: Annotated[str | None, Query(description="Rule id")] = None,
    provider: Annotated[str | None, Query(description="aws, azure or gcp")] = None,
    kind: Annotated[str | None, Query(description="decision (default), all, or an event kind such as "
                                                  "case.approved or licence.*")] = None,
) -> AuditFilters:
    """The filters of ``gatekeeper audit query``; a bad value is a 422 naming the parameter."""
    return audit_filters_of(since=since, until=until, decision=decision, customer=customer, country=country,
                            chip=chip, rule=rule, provider=provider, kind=kind)


Filters = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("/audit/records", tags=["audit"], responses=ERRORS)
def audit_records(_: ReadAudit, r: ReviewDep, filters: Filters,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
    """Records matching the filters (decisions unless ``kind``), newest first: ``{"total", "records"}``."""
    return r.audit_query(filters, limit=limit)


@router.get("/audit/summary", tags=["audit"], responses=ERRORS)
def audit_summary(_: ReadAudit, r: ReviewDep, filters: Filters,
                  bucket: Annotated[str, Query(description="day, week or month")] = "day") -> dict[str, Any]:
    """Counts by decision, country, chip and rule, and over time (``gatekeeper audit summary --json``)."""
    return r.audit_summary(filters, bucket=bucket)


@router.get("/audit/verify", tags=["audit"], responses=ERRORS)
def audit_verify(_: ReadAudit, r: ReviewDep) -> dict[str, Any]:
    """Verify the hash chain and the signed checkpoints now (``gatekeeper audit verify --json``)."""
    return r.verify()


@router.get("/audit/reconcile", tags=["audit"], responses=ERRORS)
def audit_reconcile(_: ReadAudit, r: ReviewDep) -> dict[str, Any]:
    """Reviewer records whose change is not in the state store (``gatekeeper audit reconcile --json``)."""
    return r.reconcile().as_dict()


__all__ = ["router"]
