"""The README's first command: `gatekeeper demo` runs every section and leaves a log that verifies."""

from __future__ import annotations

import re
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
    # The headline story comes first, and the sections are numbered 1, 2, 3... in order.
    headings = re.findall(r"─ (\d+)\. ([^─]+?) ─", out)
    assert [int(n) for n, _ in headings] == list(range(1, len(headings) + 1)) and len(headings) >= 7
    assert "China-headquartered customer asks for H100s" in headings[0][1]
    # No rule ids in the prose (the machine-readable response['Gatekeeper'] dump and tables may carry them).
    from gatekeeper.config import load_config
    from gatekeeper.policy import load_policies

    rule_ids = {r.rule_id for r in load_policies(load_config(home / "gatekeeper.toml").policy_paths()).rules}
    prose = "\n".join(line for line in out.splitlines() if "response['Gatekeeper']" not in line
                      and not line.startswith(("│", "┃")))
    assert not [r for r in rule_ids if re.search(rf"(?<![\w-]){re.escape(r)}(?![\w-])", prose)]
    # The demo's config opens the console straight away with the sample reviewer token it prints.
    tokens = load_config(home / "gatekeeper.toml").web.tokens
    [token] = [t for t, spec in tokens.items() if spec.endswith(":reviewer")]
    assert f"?token={token}" in out.replace("\n", "")
