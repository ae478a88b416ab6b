"""The review console, part 2: customers and their screening hits, what-if checks, the audit log,
its summary charts, its verification status and its reconciliation with the state store."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from gatekeeper.audit.review import Filters as AuditFilters
from gatekeeper.errors import GatekeeperError, InvalidInputError
from gatekeeper.model import PROVIDERS, Outcome
from gatekeeper.reconcile import LOOKED_FOR, Reconciliation
from gatekeeper.suggest import for_decision
from gatekeeper.web._auth import Principal
from gatekeeper.web._deps import review
from gatekeeper.web._errors import status_of, validation_message
from gatekeeper.web._pages import check_csrf, console_user, redirect, render, require
from gatekeeper.web._review import Review, audit_filters_of
from gatekeeper.web.charts import bar_chart, stacked_columns
from gatekeeper.web.schemas import DecisionBody

router = APIRouter(include_in_schema=False)

User = Annotated[Principal, Depends(console_user)]
ReviewDep = Annotated[Review, Depends(review)]
FormText = Annotated[str, Form()]
RECENT = 20
FILTER_FIELDS = ("since", "until", "decision", "customer", "country", "chip", "rule", "provider", "kind")


# -- customers -------------------------------------------------------------------------------
@router.get("/accounts", response_class=HTMLResponse)
def accounts(request: Request, user: User, r: ReviewDep, hits: str = "") -> Response:
    counts = Counter((h.provider, h.account_id) for h in r.open_hits())
    profiles = r.profiles()
    hit_counts = {(p.provider, p.account_id): counts.get((p.provider, p.account_id)) or len(p.open_hits)
                  for p in profiles}
    if hits == "open":
        profiles = [p for p in profiles if hit_counts[(p.provider, p.account_id)]]
    return render(request, "accounts.html", user, profiles=profiles, only_hits=hits == "open",
                  hit_counts=hit_counts)


def _account_page(request: Request, user: Principal, r: Review, provider: str, account_id: str, *,
                  status: int = 200, error: str = "", error_entry: str = "", reason: str = "") -> Response:
    account = r.account(provider, account_id)
    recent: list[dict[str, Any]] = []
    audit_error = ""
    try:
        recent = r.audit_query(AuditFilters(customer=account.profile.account_id,
                                            provider=account.profile.provider), limit=RECENT)["records"]
    except GatekeeperError as exc:
        audit_error = str(exc)
    return render(request, "account.html", user, status=status, account=account, p=account.profile,
                  recent=recent, audit_error=audit_error, today=r.today(), error=error, error_entry=error_entry,
                  reason=reason)


@router.get("/accounts/{provider}/{account_id}", response_class=HTMLResponse)
def account_page(provider: str, account_id: str, request: Request, user: User, r: ReviewDep) -> Response:
    return _account_page(request, user, r, provider, account_id)


@router.post("/accounts/{provider}/{account_id}/screening/{entry_id}/clear")
def clear_hit(provider: str, account_id: str, entry_id: str, request: Request, user: User, r: ReviewDep,
              csrf_token: FormText = "", reason: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    require(user, "review", "clear screening hits")
    try:
        if not reason.strip():
            raise InvalidInputError("Give the reason why this hit is a false positive.", field="reason")
        r.clear_hit(provider, account_id, entry_id, by=user.name, reason=reason)
    except GatekeeperError as exc:
        return _account_page(request, user, r, provider, account_id, status=status_of(exc),
                             error=getattr(exc, "detail", str(exc)), error_entry=entry_id, reason=reason)
    return redirect(f"/accounts/{provider}/{account_id}", done="cleared")


# -- what-if ---------------------------------------------------------------------------------
@router.get("/check", response_class=HTMLResponse)
def check(request: Request, user: User, r: ReviewDep, provider: str = "aws", account_id: str = "",
          instance_type: str = "", count: str = "1", region: str = "", attached: str = "") -> Response:
    """A dry-run decision: what gatekeeper would decide now (nothing recorded, no case opened)."""
    form = {"provider": provider, "account_id": account_id, "instance_type": instance_type, "count": count,
            "region": region, "attached": attached}
    decision, error, status = None, "", 200
    hints: dict[str, list[str]] = {}
    if account_id or instance_type:
        try:
            body = DecisionBody.model_validate({
                "provider": provider, "account_id": account_id, "instance_type": instance_type or None,
                "count": count or "1", "region": region, "dry_run": True,
                "attached": _attached(attached) or None})
            decided = r.decide(body.request(user.name), dry_run=True)
            decision = decided.as_dict()
            hints = for_decision(r.gk.catalog, r.gk.jurisdictions, decided)
        except ValidationError as exc:
            error, status = validation_message([dict(e) for e in exc.errors()]), 422
        except InvalidInputError as exc:
            error, status = str(exc), 422
    return render(request, "check.html", user, status=status, form=form, decision=decision, error=error, hints=hints,
                  providers=PROVIDERS)


def _attached(text: str) -> list[dict[str, Any]]:
    """``nvidia-tesla-a100:2, nvidia-l4`` -> [{"type": ..., "count": ...}]; bad counts are refused."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, count = part.partition(":")
        try:
            n = float(count) if count.strip() else 1.0
        except ValueError:
            raise InvalidInputError(f"attached {part!r}: the count after ':' must be a number",
                                    field="attached") from None
        out.append({"type": name.strip(), "count": n})
    return out


# -- audit log -------------------------------------------------------------------------------
def _filters(params: dict[str, str]) -> tuple[AuditFilters, str]:
    """Filters from the search form, or the message naming the field that is wrong."""
    try:
        return audit_filters_of(**{k: params.get(k) for k in FILTER_FIELDS}), ""
    except InvalidInputError as exc:
        return AuditFilters(), str(exc)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, user: User, r: ReviewDep) -> Response:
    params = dict(request.query_params)
    filters, error = _filters(params)
    try:
        limit = min(max(int(params.get("limit", "200") or 200), 1), 5000)
    except ValueError:
        limit, error = 200, error or "limit: enter a whole number"
    result: dict[str, Any] = {"records": [], "total": 0}
    if not error:
        try:
            result = r.audit_query(filters, limit=limit)
        except GatekeeperError as exc:
            error = str(exc)
    return render(request, "audit.html", user, status=422 if error else 200, params=params, error=error,
                  result=result, limit=limit, providers=PROVIDERS, outcomes=[o.label for o in Outcome])


@router.get("/audit/summary", response_class=HTMLResponse)
def summary(request: Request, user: User, r: ReviewDep) -> Response:
    params = dict(request.query_params)
    filters, error = _filters(params)
    bucket = params.get("bucket", "day") if params.get("bucket") in ("day", "week", "month") else "day"
    data: dict[str, Any] = {}
    charts: dict[str, Any] = {}
    if not error:
        try:
            data = r.audit_summary(filters, bucket=bucket)
        except GatekeeperError as exc:
            error = str(exc)
    if data:
        charts = {
            "time": stacked_columns([(b["bucket"], b["counts"]) for b in data["over_time"]],
                                    title=f"Decisions per {bucket}"),
            "country": bar_chart(_pairs(data["by_country"], "country"), title="Decisions by customer country"),
            "chip": bar_chart(_pairs(data["by_chip"], "chip"), title="Decisions by chip"),
            "rule": bar_chart(_pairs(data["by_rule"], "rule"), title="Decisions by rule"),
        }
    return render(request, "summary.html", user, status=422 if error else 200, params=params, error=error,
                  data=data, charts=charts, bucket=bucket, providers=PROVIDERS,
                  outcomes=[o.label for o in Outcome])


def _pairs(rows: list[dict[str, Any]], key: str) -> list[tuple[str, float]]:
    return [(str(row[key]), float(row["count"])) for row in rows]


@router.get("/audit/verify", response_class=HTMLResponse)
def verify(request: Request, user: User, r: ReviewDep) -> Response:
    error = ""
    report: dict[str, Any] = {}
    try:
        report = r.verify()
    except GatekeeperError as exc:
        error = str(exc)
    return render(request, "verify.html", user, report=report, error=error)


@router.get("/audit/reconcile", response_class=HTMLResponse)
def reconcile(request: Request, user: User, r: ReviewDep) -> Response:
    """``gatekeeper audit reconcile``: the same result as the CLI and ``GET /v1/audit/reconcile``."""
    require(user, "read.audit", "read the audit log")
    error = ""
    result: Reconciliation | None = None
    try:
        result = r.reconcile()
    except GatekeeperError as exc:
        error = str(exc)
    return render(request, "reconcile.html", user, result=result, error=error, looked_for=LOOKED_FOR)
