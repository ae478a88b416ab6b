"""The README's first command: `gatekeeper demo` runs every section and leaves a log that verifies."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gatekeeper import runtime
from gatekeeper.cli.main import app


def test_demo_runs_end_to_end_and_its_log_verifies(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["demo", "--home", str(home)])
    finally:
        runtime.reset()
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ExportLicensePending" in out  # a real boto3 call blocked
    assert "licence" in out and "ALLOW" in out  # approved, then the same call goes through
    assert "HttpResponseError 403" in out and "PermissionDenied" in out  # Azure and Google Cloud blocked
    assert "matches restricted-party list entries" in out
    assert "intact" in out
    verified = runner.invoke(app, ["audit", "verify", "--config", str(home / "gatekeeper.toml"), "--json"])
    assert verified.exit_code == 0, verified.output
