"""``gatekeeper notify scan`` and ``notify test`` against a local webhook receiver; ``check`` delivers the
new-case notification before the process ends."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gatekeeper.cli.main import app
from tests.notify.receivers import webhook_receiver

runner = CliRunner()
CSV = Path(__file__).resolve().parents[2] / "gatekeeper" / "demo" / "data" / "customers.csv"


def _config(tmp_path: Path, url: str) -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
                 '[audit]\nurl = "file://audit"\nsigning_key = "k.pem"\n'
                 '[notify]\nconsole_url = "http://127.0.0.1:8765/"\ncase_deadline_hours = 0.01\n'
                 'case_warning_hours = 1\nretries = 0\n'
                 f'[[notify.webhooks]]\nurl = "{url}"\nsecret = "s3cr3t-for-tests"\n', encoding="utf-8")
    assert runner.invoke(app, ["accounts", "import", str(CSV), "--config", str(f)]).exit_code == 0
    return f


def test_check_then_scan(tmp_path: Path) -> None:
    with webhook_receiver() as hook:
        cfg = _config(tmp_path, hook.url)
        out = runner.invoke(app, ["--config", str(cfg), "check", "--provider", "aws", "--account", "222222222222",
                                  "--instance-type", "p4d.24xlarge", "--json"])
        assert out.exit_code == 3, out.output
        case_id = json.loads(out.stdout)["case_id"]
        assert [b["kind"] for b in hook.bodies()] == ["case.opened"]
        assert hook.bodies()[0]["url"] == f"http://127.0.0.1:8765/cases/{case_id}"
        scan = runner.invoke(app, ["notify", "scan", "--json", "--config", str(cfg)])
        assert scan.exit_code == 0 and json.loads(scan.stdout) == {"delivered": 1, "failed": 0, "finished": True}
        assert [b["kind"] for b in hook.bodies()] == ["case.opened", "case.deadline"]
        again = runner.invoke(app, ["notify", "scan", "--json", "--config", str(cfg)])
        assert json.loads(again.stdout)["delivered"] == 0 and len(hook.received) == 2


def test_test_message(tmp_path: Path) -> None:
    with webhook_receiver() as hook:
        cfg = _config(tmp_path, hook.url)
        out = runner.invoke(app, ["notify", "test", "--config", str(cfg), "--json"])
        assert out.exit_code == 0 and json.loads(out.stdout) == {f"webhook {hook.url}": "ok"}
        assert hook.bodies()[0]["subject"] == "gatekeeper test message"
    with webhook_receiver(always_fail=True) as down:
        cfg = _config(tmp_path / "down" if (tmp_path / "down").mkdir() is None else tmp_path, down.url)
        out = runner.invoke(app, ["notify", "test", "--config", str(cfg), "--json"])
        assert out.exit_code == 1 and "HTTP 500" in json.loads(out.stdout)[f"webhook {down.url}"]


def test_not_configured(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text('[store]\nurl = "sqlite:///s.db"\ncreate = true\n[audit]\nurl = "file://audit"\n', encoding="utf-8")
    for cmd in ("scan", "test"):
        out = runner.invoke(app, ["notify", cmd, "--config", str(f)])
        assert out.exit_code == 1 and "no notification channel is configured" in out.output


