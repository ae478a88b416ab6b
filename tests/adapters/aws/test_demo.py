"""The demo's AWS section: a real boto3 call blocked for the China-parent customer, others allowed."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

import gatekeeper
from gatekeeper import runtime
from gatekeeper.demo import prepare
from gatekeeper.demo.aws import run


def test_demo_blocks_one_call_and_allows_the_others(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    ctx = prepare(tmp_path / "home", console)
    try:
        run(ctx)
    finally:
        runtime.reset()
    out = console.export_text()
    assert out.count("blocked: ExportLicensePending (HTTP 403)") == 2  # the A100s and the fleet by requirements
    assert out.count("sent: ") == 2  # the same A100 call for the US customer, t3.micro for the other
    assert "Lion City AI" in out and "Acme Analytics" in out
    assert "response['Gatekeeper']" in out and "case-" in out
    assert not gatekeeper.aws.installed()  # the demo protects one client, nothing process-wide
