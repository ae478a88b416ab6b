"""Tokens, names and roles; session cookies and CSRF tokens; the [web] configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.config import Config, WebConfig, load_config
from gatekeeper.errors import ConfigError
from gatekeeper.web._auth import (
    ENV_TOKENS,
    PERMISSIONS,
    TokenMap,
    bearer,
    csrf_ok,
    csrf_token,
    new_session,
    parse_env_tokens,
    parse_spec,
    split_session,
)


def test_names_and_roles() -> None:
    assert parse_spec("t", "alice:reviewer").name == "alice"
    assert parse_spec("t", "alice@example.com:reviewer").name == "alice@example.com"
    assert parse_spec("t", "ci:bot:requester").name == "ci:bot"  # the role is after the last ':'
    bare = parse_spec("tok-1", "auditor")
    assert bare.role == "auditor" and bare.name.startswith("auditor-") and len(bare.name) == len("auditor-") + 8
    assert parse_spec("tok-2", "auditor").name != bare.name  # distinct tokens, distinct identities
    for bad in ("admin", "alice:admin", ":reviewer", ""):
        with pytest.raises(ConfigError):
            parse_spec("t", bad)


def test_permissions_of_each_role() -> None:
    req, rev, aud = (parse_spec("t", r) for r in ("requester", "reviewer", "auditor"))
    assert req.can("decide") and not req.can("read.cases") and not req.can("review")
    assert rev.can("review") and rev.can("revoke") and rev.can("read.audit") and not rev.can("decide")
    assert aud.can("read.cases") and aud.can("read.audit") and not aud.can("review") and not aud.can("revoke")
    assert set(PERMISSIONS) == {"requester", "reviewer", "auditor"}


def test_env_tokens_override_the_config() -> None:
    web = WebConfig(tokens={"a" * 20: "alice:reviewer", "b" * 20: "bob:reviewer"})
    tm = TokenMap.from_config(web, {ENV_TOKENS: f"{'b' * 20}=bob:auditor, {'c' * 20}=requester"})
    assert tm.lookup("a" * 20).label == "alice (reviewer)"  # type: ignore[union-attr]
    assert tm.lookup("b" * 20).role == "auditor"  # type: ignore[union-attr]
    assert tm.lookup("c" * 20).role == "requester"  # type: ignore[union-attr]
    assert tm.lookup("d" * 20) is None and tm.lookup("") is None and tm.lookup(None) is None
    assert tm.lookup("a" * 19) is None and tm.lookup("a" * 21) is None
    assert tm.roles() == {"reviewer": 1, "auditor": 1, "requester": 1} and len(tm) == 3
    assert TokenMap.from_config(web, {}).short_tokens() == []
    assert TokenMap({"short": "x:auditor"}).short_tokens() == ["x"]


@pytest.mark.parametrize("value", ["SeCrEt-1", "SeCrEt-1=", "=reviewer", "SeCrEt-1=admin", "SeCrEt-1=:auditor"])
def test_bad_env_tokens_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        TokenMap.from_config(WebConfig(), {ENV_TOKENS: value})
    assert "SeCrEt" not in str(err.value)


def test_parse_env_tokens_skips_blanks() -> None:
    assert parse_env_tokens(" a=reviewer ,, b=x:auditor ,") == {"a": "reviewer", "b": "x:auditor"}


def test_config_file_tokens_are_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[web]\nport = 9000\n[web.tokens]\n"s3cret-token-0123456789" = "alice:reviewer"\n',
                    encoding="utf-8")
    cfg = load_config(good)
    assert cfg.web.port == 9000 and cfg.web.host == "127.0.0.1"
    assert TokenMap.from_config(cfg.web, {}).lookup("s3cret-token-0123456789").name == "alice"  # type: ignore[union-attr]
    for body in ('[web.tokens]\n"s3cret-token-0123456789" = "alice:admin"\n',
                 '[web.tokens]\n"s3cret-token-0123456789" = ":reviewer"\n',
                 '[web.tokens]\n" padded " = "reviewer"\n',
                 '[web]\nport = 70000\n'):
        bad = tmp_path / "bad.toml"
        bad.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_config(bad)
        assert "web." in str(err.value) and "s3cret-token-0123456789" not in str(err.value)
    assert Config().web.host == "127.0.0.1"  # loopback unless told otherwise


def test_bearer_header_parsing() -> None:
    assert bearer("Bearer abc") == "abc" and bearer("bearer  abc ") == "abc"
    assert bearer(None) is None and bearer("") is None and bearer("Basic abc") is None and bearer("Bearer") is None


def test_sessions_and_csrf() -> None:
    token = "tok;with,odd chars=é"
    a, b = new_session(token), new_session(token)
    assert a != b and token not in a
    assert split_session(a) is not None and split_session(a)[1] == token  # type: ignore[index]
    assert csrf_token(a) != csrf_token(b)  # per sign-in
    assert csrf_ok(a, csrf_token(a)) and not csrf_ok(a, csrf_token(b))
    assert not csrf_ok(a, "") and not csrf_ok(None, csrf_token(a)) and not csrf_ok(a, None)
    assert csrf_token(new_session("other")) != csrf_token(a)
    for bad in ("", "nodot", ".x", "x.", "x.__8"):  # the last is not UTF-8 once decoded
        assert split_session(bad) is None and csrf_token(bad) == ""
        assert not csrf_ok(bad, "x") and not csrf_ok(bad, "")
