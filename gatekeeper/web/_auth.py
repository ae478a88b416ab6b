"""Who is calling: bearer tokens mapped to a name and a role, console sessions, CSRF tokens.

Tokens come from ``[web.tokens]`` in the configuration and from ``$GATEKEEPER_TOKENS``
(``token=NAME:ROLE,token=ROLE``; the environment wins for a token named in both). A token mapped to
a bare role gets the name ``ROLE-XXXXXXXX`` (the first 8 hex digits of the token's SHA-256), so two
such tokens never share an identity; give reviewers real names (``alice:reviewer``) so that
approvals carry them.

Roles (docs/web.md):

    requester  asks for decisions (POST /v1/decisions)
    reviewer   reads everything; approves and denies cases; revokes licences
    auditor    reads cases, licences, profiles and the audit log; changes nothing

The console keeps the token in an HttpOnly, SameSite=Strict cookie together with a random
per-login nonce (``NONCE.BASE64URL(TOKEN)``); the CSRF token of its forms is HMAC-SHA256(token, nonce), so it
is per session, needs no server-side state (several workers, restarts) and cannot be computed by a
page that cannot read the cookie.

Signing in is protected too (login CSRF: another site must not sign a reviewer into the attacker's
session): ``GET /login`` sets a random nonce in a second HttpOnly, SameSite=Strict cookie and puts the
same nonce in the form, and ``POST /login`` needs both to match (a double-submit token; a cross-site
post carries no SameSite=Strict cookie). Console posts also check ``Origin`` (docs/web.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from gatekeeper.config import WEB_ROLES, WebConfig
from gatekeeper.errors import ConfigError

ENV_TOKENS = "GATEKEEPER_TOKENS"
SESSION_COOKIE = "gk_session"
CSRF_FIELD = "csrf_token"
LOGIN_COOKIE = "gk_login"

# What each role may do; the routes ask for a permission, never for a role.
PERMISSIONS: dict[str, frozenset[str]] = {
    "requester": frozenset({"decide"}),
    "reviewer": frozenset({"decide.dry_run", "read.cases", "read.licences", "read.accounts", "read.audit",
                           "review", "revoke"}),
    "auditor": frozenset({"decide.dry_run", "read.cases", "read.licences", "read.accounts", "read.audit"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: ``name`` is the identity approvals carry, ``role`` what it may do."""

    name: str
    role: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def label(self) -> str:
        return f"{self.name} ({self.role})"


def parse_spec(token: str, spec: str) -> Principal:
    """``NAME:ROLE`` or ``ROLE`` -> Principal; ConfigError naming the spec (never the token)."""
    name, _, role = spec.strip().rpartition(":")
    role = role.strip()
    if role not in WEB_ROLES:
        raise ConfigError(f"token role {role!r} must be one of {', '.join(WEB_ROLES)} (NAME:ROLE or ROLE)")
    name = name.strip()
    if not name:
        if ":" in spec:
            raise ConfigError(f"token {spec!r}: the name before ':' must not be empty")
        name = f"{role}-{hashlib.sha256(token.encode()).hexdigest()[:8]}"
    return Principal(name=name, role=role)


def parse_env_tokens(value: str) -> dict[str, str]:
    """``token=NAME:ROLE,token=ROLE`` -> {token: spec}; ConfigError on a malformed entry."""
    out: dict[str, str] = {}
    for n, entry in enumerate(value.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        token, sep, spec = entry.partition("=")
        if not sep or not token.strip() or not spec.strip():
            raise ConfigError(f"{ENV_TOKENS}: entry {n} must be token=ROLE or token=NAME:ROLE")
        out[token.strip()] = spec.strip()
    return out


class TokenMap:
    """The configured tokens; looks a presented token up in constant time per configured token."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._principals = {t: parse_spec(t, spec) for t, spec in tokens.items()}

    @classmethod
    def from_config(cls, web: WebConfig, environ: Mapping[str, str] | None = None) -> TokenMap:
        env = os.environ if environ is None else environ
        tokens = dict(web.tokens)
        if env.get(ENV_TOKENS):
            tokens.update(parse_env_tokens(env[ENV_TOKENS]))
        return cls(tokens)

    def __len__(self) -> int:
        return len(self._principals)

    def roles(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self._principals.values():
            out[p.role] = out.get(p.role, 0) + 1
        return out

    def short_tokens(self, minimum: int = 16) -> list[str]:
        """Names of principals whose token is shorter than ``minimum`` (worth a warning at start)."""
        return sorted(p.name for t, p in self._principals.items() if len(t) < minimum)

    def lookup(self, presented: str | None) -> Principal | None:
        if not presented:
            return None
        found: Principal | None = None
        given = presented.encode()
        # Compare against every token so that timing does not reveal a prefix or which token exists.
        for token, principal in self._principals.items():
            if hmac.compare_digest(token.encode(), given):
                found = principal
        return found


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# -- console sessions -------------------------------------------------------------------------
def new_session(token: str) -> str:
    """The cookie value for a fresh login: a random nonce and the token (base64url, cookie-safe)."""
    encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    return f"{secrets.token_urlsafe(18)}.{encoded}"


def split_session(cookie: str | None) -> tuple[str, str] | None:
    """(nonce, token) of a session cookie, or None when it is malformed."""
    if not cookie:
        return None
    nonce, sep, encoded = cookie.partition(".")
    if not sep or not nonce or not encoded:
        return None
    try:
        token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return (nonce, token) if token else None


def csrf_token(cookie: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 keyed by the session's bearer token over its nonce."""
    parts = split_session(cookie)
    if parts is None:
        return ""
    nonce, token = parts
    return hmac.new(token.encode(), b"gatekeeper-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def csrf_ok(cookie: str | None, presented: str | None) -> bool:
    if not cookie or not presented:
        return False
    expected = csrf_token(cookie)
    return bool(expected) and hmac.compare_digest(expected.encode(), presented.encode())


# -- login CSRF (double submit) ---------------------------------------------------------------
def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_csrf_ok(cookie: str | None, presented: str | None) -> bool:
    """The sign-in form's token equals the nonce in its cookie (both set by ``GET /login``)."""
    if not cookie or not presented:
        return False
    return hmac.compare_digest(cookie.encode(), presented.encode())


# -- Origin --------------------------------------------------------------------------------------
def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased; "" when it has none."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or not rest:
        return ""
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}".lower()


def origin_allowed(origin: str | None, referer: str | None, own: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether a state-changing console request comes from this site.

    Browsers send ``Origin`` on every POST (``null`` from sandboxed or privacy-sensitive contexts, refused);
    without it, ``Referer`` stands in. With neither, the caller is not a browser page of another site
    (which cannot suppress both), and the session's CSRF token remains the check.
    """
    allowed = {own.lower(), *extra}
    if origin is not None:
        return origin.strip().lower() in allowed
    if referer:
        return origin_of(referer) in allowed
    return True
