"""The demo's workflow section shows a blocked call, the approval, and the same call going through."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from gatekeeper import runtime
from gatekeeper.demo import prepare
from gatekeeper.demo import workflow as section


def test_workflow_section(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    ctx = prepare(tmp_path / "home", console)
    try:
        section.run(ctx)
        out = console.export_text()
        assert "1. ec2.run_instances(p4d.24xlarge): PENDING" in out
        assert "refused" in out and "separation of duties" in out
        assert f"licence {section.LICENCE} for Lion City AI Pte. Ltd." in out
        assert f"4. the same call again: ALLOW  licence {section.LICENCE}" in out
        assert "5. and once more (the licence is used up): PENDING" in out
        lic = ctx.gk.store.licences.get_licence(section.LICENCE)
        assert lic is not None and lic.remaining == 0 and lic.approvers == (section.REVIEWER,)
        assert [c.status for c in ctx.gk.store.cases.list_cases()] == ["open", "approved"]
    finally:
        runtime.reset()
