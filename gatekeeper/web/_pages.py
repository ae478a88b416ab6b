"""What every console page shares: templates, the logged-in user, CSRF checks, rendering.

Login: a token pasted into the login form, or given once as ``?token=`` on any page (the console
then sets the session cookie and redirects to the same address without it, so the token does not
stay in the address bar or the history). Neither can be done by another site: the form carries a
login CSRF token, and a ``?token=`` link followed from another site (``Sec-Fetch-Site``) only leads
to the sign-in page. Every console POST must come from this origin (``Origin``, else ``Referer``)
and carry the session's CSRF token.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gatekeeper.web._auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Principal,
    csrf_ok,
    csrf_token,
    login_csrf_ok,
    new_login_nonce,
    new_session,
    origin_allowed,
)
from gatekeeper.web._deps import session_principal, tokens
from gatekeeper.web.charts import OUTCOME_COLOURS

HERE = Path(__file__).parent
SESSION_HOURS = 12
LOGIN_FORM_SECONDS = 3600
# Sec-Fetch-Site values of a navigation that another site started.
FOREIGN_SITES = frozenset({"cross-site", "same-site"})
# ``?done=KEY`` after a POST/redirect: fixed messages, so a crafted link cannot show made-up text.
NOTICES = {
    "approved": "Approved: the licence is on file, and requests within its scope are now allowed.",
    "approval": "Your approval is recorded. A second, different reviewer must approve the same terms.",
    "denied": "Denied: the case is closed and the reason recorded.",
    "revoked": "Revoked: requests that relied on this licence are held again.",
    "cleared": "Cleared: the screening hit is recorded as a false positive.",
    "signed-out": "You are signed out.",
}

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)


def _when(value: Any) -> str:
    """ISO strings and datetimes as ``2025-03-01 14:05 UTC``; dates as ``2025-03-01``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return str(value.strftime("%Y-%m-%d %H:%M UTC"))
    if isinstance(value, date):
        return str(value.isoformat())
    return str(value)


def _qty(value: Any) -> str:
    if value is None:
        return "—"
    v = float(value)
    return f"{v:,.0f}" if v.is_integer() else f"{v:,.3g}"


_env.filters["when"] = _when
_env.filters["qty"] = _qty
_env.globals["OUTCOME_COLOURS"] = OUTCOME_COLOURS
templates = Jinja2Templates(env=_env)


class LoginRequired(Exception):
    """No valid session: go to the login page, then come back to ``next``."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class TokenLogin(Exception):
    """``?token=`` on a page: set the session and redirect to the same page without the token."""

    def __init__(self, token: str, target: str) -> None:
        self.token, self.target = token, target


class PageForbidden(Exception):
    def __init__(self, principal: Principal, message: str) -> None:
        self.principal, self.message = principal, message


def here(request: Request) -> str:
    """This page's path and query (for ``next``), without any token."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def safe_next(value: str | None) -> str:
    """Only a local path: never an absolute URL or ``//host`` (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def console_user(request: Request) -> Principal:
    """The logged-in reviewer or auditor (dependency of every console page)."""
    given = request.query_params.get("token")
    if given and request.method == "GET":
        if request.headers.get("sec-fetch-site", "").lower() in FOREIGN_SITES:
            # A link on another site must not sign this browser in (login CSRF): sign in here instead.
            raise LoginRequired(here(request))
        raise TokenLogin(given, here(request))
    principal = session_principal(request)
    if principal is None:
        raise LoginRequired(here(request))
    if not principal.can("read.cases"):
        raise PageForbidden(principal, f"The console is for reviewers and auditors; {principal.name} has the "
                                       f"{principal.role} role, which may only ask for decisions through the API.")
    request.state.principal = principal
    return principal


def require(principal: Principal, permission: str, what: str) -> None:
    if not principal.can(permission):
        raise PageForbidden(principal, f"{principal.name} ({principal.role}) may not {what}.")


def same_origin(request: Request) -> bool:
    """The request comes from this site's pages (``Origin``, else ``Referer``; see origin_allowed)."""
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin_allowed(request.headers.get("origin"), request.headers.get("referer"), own,
                          request.app.state.origins)


def check_csrf(request: Request, presented: str | None) -> None:
    """POSTs from the console come from this origin and carry the session's CSRF token; else 403."""
    principal = session_principal(request) or Principal("unknown", "none")
    if not same_origin(request):
        raise PageForbidden(principal, "This form was sent from another site (its Origin is not this console's), "
                                       "so nothing was changed. Open the console directly and submit it there.")
    if not csrf_ok(request.cookies.get(SESSION_COOKIE), presented):
        raise PageForbidden(principal, "The form's security token is missing or stale (it changes at each "
                                       "sign-in). Reload the page and submit it again.")


def login_page(request: Request, *, status: int = 200, next: str = "/", error: str = "") -> HTMLResponse:
    """The sign-in form, with its login CSRF nonce (kept from an earlier visit, so several tabs work)."""
    nonce = request.cookies.get(LOGIN_COOKIE) or new_login_nonce()
    response = render(request, "login.html", None, status=status, next=safe_next(next), error=error,
                      login_csrf=nonce)
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_FORM_SECONDS, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login")
    return response


def login_form_ok(request: Request, presented: str | None) -> bool:
    """A sign-in form from this origin, carrying the nonce its page set (no login CSRF)."""
    return same_origin(request) and login_csrf_ok(request.cookies.get(LOGIN_COOKIE), presented)


def login_response(request: Request, token: str, target: str) -> RedirectResponse | HTMLResponse:
    """Set the session for ``token`` and redirect to ``target``; the login page again if it is unknown."""
    if tokens(request).lookup(token) is None:
        return login_page(request, status=401, next=target,
                          error="That token is not recognised. Check it and paste it again.")
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(SESSION_COOKIE, new_session(token), max_age=SESSION_HOURS * 3600, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


def redirect(url: str, **params: str) -> RedirectResponse:
    return RedirectResponse(url + (f"?{urlencode(params)}" if params else ""), status_code=303)


def render(request: Request, template: str, user: Principal | None, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    cookie = request.cookies.get(SESSION_COOKIE)
    base = {
        "request": request,
        "user": user,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(cookie) if cookie and user else "",
        "path": request.url.path,
        "notice": NOTICES.get(request.query_params.get("done", ""), ""),
        "open_count": _open_count(request) if user else None,
    }
    response = templates.TemplateResponse(request, template, {**base, **context}, status_code=status)
    return response


def _open_count(request: Request) -> int | None:
    try:
        return len(request.app.state.review.cases("open"))
    except Exception:  # the count in the navigation must never break a page
        return None
