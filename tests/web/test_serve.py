"""``gatekeeper serve``: options, warnings, and the real server answering a client over HTTP."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from gatekeeper.cli.serve import RedactTokens, serve
from gatekeeper.config import load_config
from gatekeeper.service import Gatekeeper
from tests.conftest import SAMPLE_PROFILES
from tests.web._server import serve as run_server
from tests.web._server import write_config
from tests.web.conftest import AUDITOR, REQUESTER, REVIEWER, auth, pending_body

app = typer.Typer()
app.command()(serve)
runner = CliRunner()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """uvicorn.run replaced by a recorder: what serve would run, without listening."""
    import uvicorn

    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.delenv("GATEKEEPER_TOKENS", raising=False)
    return calls


def test_defaults_bind_loopback(tmp_path: Path, captured: list[dict[str, Any]]) -> None:
    result = runner.invoke(app, ["--config", str(write_config(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    [call] = captured
    assert call["host"] == "127.0.0.1" and call["port"] == 8765 and call["server_header"] is False
    info = json.loads(result.stdout)
    assert info["loopback_only"] is True and info["tokens"] == {"requester": 2, "reviewer": 2, "auditor": 1}


def test_host_port_and_warnings(tmp_path: Path, captured: list[dict[str, Any]],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "g.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\ncreate = true\n[audit]\nurl = "file://{tmp_path}/a"\n'
                   f'signing_key = "{tmp_path}/k.pem"\n[web]\nport = 9100\n', encoding="utf-8")
    result = runner.invoke(app, ["--config", str(cfg), "--host", "10.1.2.3", "--port", "9200"])
    assert result.exit_code == 0, result.output
    assert captured[-1]["host"] == "10.1.2.3" and captured[-1]["port"] == 9200
    assert "not loopback" in result.output
    assert "no tokens configured ([web.tokens] or GATEKEEPER_TOKENS)" in result.output
    monkeypatch.setenv("GATEKEEPER_TOKENS", "short=bob:reviewer")
    result = runner.invoke(app, ["--config", str(cfg)])
    assert captured[-1]["port"] == 9100 and "bob is shorter than 16" in result.output
    assert "not loopback" not in result.output


@pytest.mark.parametrize("args,message", [
    (["--port", "70000"], "65535"),
    (["--config", "/nonexistent/gatekeeper.toml"], "cannot read config"),
])
def test_bad_options_fail_without_serving(tmp_path: Path, captured: list[dict[str, Any]], args: list[str],
                                          message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and message in result.output
    assert captured == []


def test_bad_tokens_fail_without_serving(tmp_path: Path, captured: list[dict[str, Any]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_TOKENS", "abc=superuser")
    result = runner.invoke(app, ["--config", str(write_config(tmp_path))])
    assert result.exit_code == 1 and "superuser" in result.output and captured == []


def test_access_log_redacts_login_tokens() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/cases?status=open&token=s3cret&x=1", "1.1", 303), None)
    assert RedactTokens().filter(record)
    assert "s3cret" not in record.getMessage() and "token=[redacted]&x=1" in record.getMessage()


def test_real_server_answers_a_client_and_shuts_down_cleanly(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    gk = Gatekeeper(load_config(cfg))
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    gk.close()
    with run_server(cfg) as served:
        assert served.url.startswith("http://127.0.0.1:")
        spec = httpx.get(f"{served.url}/openapi.json", timeout=30).json()
        assert "/v1/decisions" in spec["paths"]
        r = httpx.post(f"{served.url}/v1/decisions", json=pending_body(), headers=auth(REQUESTER), timeout=30)
        assert r.status_code == 200 and r.json()["decision"] == "pending"
        assert httpx.post(f"{served.url}/v1/decisions", json=pending_body(), timeout=30).status_code == 401
        assert httpx.get(f"{served.url}/v1/cases", headers=auth(REQUESTER), timeout=30).status_code == 403
        r = httpx.get(f"{served.url}/?token={REVIEWER}", timeout=30, follow_redirects=False)
        assert r.status_code == 303 and "server" not in r.headers
        assert httpx.get(f"{served.url}/v1/audit/verify", headers=auth(AUDITOR), timeout=30).json()["ok"] is True
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it (exit status -15).
    assert served.process.returncode in (0, -15) and "Application shutdown complete" in served.log(), served.log()
    assert REVIEWER not in served.log() and "token=[redacted]" in served.log()
    # Closing wrote the segment's signed checkpoint: the whole log verifies, signed to the end.
    from gatekeeper.audit.verify import verify_log
    from gatekeeper.stores.audit_trust import trust_from_config

    report = verify_log(tmp_path / "audit", trust=trust_from_config(load_config(cfg)))
    assert report.ok and report.signed_seq == report.head_seq == report.anchored_seq > 0
