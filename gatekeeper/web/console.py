"""The review console, part 1: signing in and out, the queue of pending cases, cases and licences.

Server-rendered pages (Jinja2), no script. Every change is a POST carrying the session's CSRF token,
answered by a redirect (POST/redirect/GET) or, when the workflow refuses, by the same page showing
why with the reviewer's input kept.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gatekeeper.errors import GatekeeperError
from gatekeeper.web._auth import SESSION_COOKIE, Principal
from gatekeeper.web._deps import review, session_principal
from gatekeeper.web._errors import status_of
from gatekeeper.web._pages import (
    check_csrf,
    console_user,
    login_form_ok,
    login_page,
    login_response,
    redirect,
    render,
    require,
    safe_next,
)
from gatekeeper.web._review import Review
from gatekeeper.workflow.model import CASE_STATUSES, Case

router = APIRouter(include_in_schema=False)

User = Annotated[Principal, Depends(console_user)]
ReviewDep = Annotated[Review, Depends(review)]
FormText = Annotated[str, Form()]


# -- signing in and out ----------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/") -> Response:
    if session_principal(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return login_page(request, next=next)


@router.post("/login")
def login(request: Request, token: FormText = "", next: FormText = "/", login_csrf: FormText = "") -> Response:
    if not login_form_ok(request, login_csrf):
        return login_page(request, status=403, next=next,
                          error="This sign-in form is stale or was sent from another site. Sign in again here.")
    if not token.strip():
        return login_page(request, status=422, next=next, error="Paste your access token to sign in.")
    return login_response(request, token.strip(), next)


@router.post("/logout")
def logout(request: Request, csrf_token: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    response = redirect("/login", done="signed-out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the queue and cases ---------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def queue(request: Request, user: User, r: ReviewDep) -> Response:
    cases = r.queue()
    return render(request, "queue.html", user, cases=cases, hits=len(r.open_hits()), today=r.today())


@router.get("/cases", response_class=HTMLResponse)
def cases(request: Request, user: User, r: ReviewDep, status: str = "") -> Response:
    chosen = status if status in CASE_STATUSES else None
    return render(request, "cases.html", user, cases=r.cases(chosen), selected=chosen or "",
                  statuses=CASE_STATUSES)


def _case_page(request: Request, user: Principal, r: Review, case: Case, *, status: int = 200,
               form: dict[str, str] | None = None, error: str = "", error_form: str = "") -> Response:
    today = r.today()
    own = any(p.strip().casefold() == user.name.strip().casefold() for p in case.principals)
    approved_by_me = any(a.reviewer.strip().casefold() == user.name.strip().casefold() for a in case.approvals)
    licence = None
    if case.licence_number:
        try:
            licence = r.licence(case.licence_number)
        except GatekeeperError:
            licence = None
    defaults = {"licence": "", "expires": (today + timedelta(days=365)).isoformat(),
                "quantity": f"{case.requested_quantity:g}" if case.requested_quantity else "", "conditions": "",
                "regions": "", "reason": ""}
    if case.approvals:  # a second approver approves the same terms: offer them
        first = case.approvals[0]
        defaults.update(licence=first.licence_number, expires=first.expires.isoformat(),
                        quantity=f"{first.quantity:g}", conditions=first.conditions, regions=", ".join(first.regions))
    return render(request, "case.html", user, status=status, case=case, own=own, approved_by_me=approved_by_me,
                  licence=licence, today=today, form={**defaults, **(form or {})}, error=error,
                  error_form=error_form, approvals_required=r.workflow.approvals_required)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: str, request: Request, user: User, r: ReviewDep) -> Response:
    return _case_page(request, user, r, r.case(case_id))


@router.post("/cases/{case_id}/approve")
def approve(case_id: str, request: Request, user: User, r: ReviewDep, csrf_token: FormText = "",
            licence: FormText = "", expires: FormText = "", quantity: FormText = "", conditions: FormText = "",
            regions: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    require(user, "review", "approve cases")
    form = {"licence": licence, "expires": expires, "quantity": quantity, "conditions": conditions,
            "regions": regions}
    case = r.case(case_id)
    try:
        exp = _date(expires, "expiry date")
        qty = _number(quantity, "quantity") if quantity.strip() else None
        if not licence.strip():
            raise ValueError("Enter the licence number.")
        _, issued = r.approve(case.case_id, reviewer=user.name, licence=licence, expires=exp, quantity=qty,
                              conditions=conditions,
                              regions=tuple(x.strip() for x in regions.split(",") if x.strip()))
    except ValueError as exc:
        return _case_page(request, user, r, case, status=422, form=form, error=str(exc), error_form="approve")
    except GatekeeperError as exc:
        return _case_page(request, user, r, r.case(case_id), status=status_of(exc), form=form, error=str(exc),
                          error_form="approve")
    return redirect(f"/cases/{case.case_id}", done="approved" if issued else "approval")


@router.post("/cases/{case_id}/deny")
def deny(case_id: str, request: Request, user: User, r: ReviewDep, csrf_token: FormText = "",
         reason: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    require(user, "review", "deny cases")
    case = r.case(case_id)
    try:
        if not reason.strip():
            raise ValueError("Give the reason for the denial; it is recorded and shown to auditors.")
        r.deny(case.case_id, reviewer=user.name, reason=reason)
    except ValueError as exc:
        return _case_page(request, user, r, case, status=422, form={"reason": reason}, error=str(exc),
                          error_form="deny")
    except GatekeeperError as exc:
        return _case_page(request, user, r, r.case(case_id), status=status_of(exc), form={"reason": reason},
                          error=str(exc), error_form="deny")
    return redirect(f"/cases/{case.case_id}", done="denied")


# -- licences --------------------------------------------------------------------------------
@router.get("/licences", response_class=HTMLResponse)
def licences(request: Request, user: User, r: ReviewDep) -> Response:
    return render(request, "licences.html", user, licences=r.licences(), today=r.today())


def _licence_page(request: Request, user: Principal, r: Review, number: str, *, status: int = 200,
                  error: str = "", reason: str = "") -> Response:
    lic = r.licence(number)
    case = None
    if lic.case_id:
        try:
            case = r.case(lic.case_id)
        except GatekeeperError:
            case = None
    return render(request, "licence.html", user, status=status, licence=lic, licence_state=lic.state(r.today()),
                  case=case, error=error, reason=reason)


@router.post("/licences/{number:path}/revoke")
def revoke(number: str, request: Request, user: User, r: ReviewDep, csrf_token: FormText = "",
           reason: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    require(user, "revoke", "revoke licences")
    try:
        if not reason.strip():
            raise ValueError("Give the reason for revoking the licence.")
        lic = r.revoke(number, by=user.name, reason=reason)
    except ValueError as exc:
        return _licence_page(request, user, r, number, status=422, error=str(exc), reason=reason)
    except GatekeeperError as exc:
        return _licence_page(request, user, r, number, status=status_of(exc), error=str(exc), reason=reason)
    return redirect(f"/licences/{lic.number}", done="revoked")


@router.get("/licences/{number:path}", response_class=HTMLResponse)
def licence_page(number: str, request: Request, user: User, r: ReviewDep) -> Response:
    return _licence_page(request, user, r, number)


# -- form parsing ----------------------------------------------------------------------------
def _date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"Enter the {what} as YYYY-MM-DD.") from None


def _number(value: str, what: str) -> float:
    try:
        n = float(value.strip())
    except ValueError:
        raise ValueError(f"Enter the {what} as a number of accelerators.") from None
    if not n > 0 or n != n or n == float("inf"):
        raise ValueError(f"The {what} must be a positive number of accelerators.")
    return n

