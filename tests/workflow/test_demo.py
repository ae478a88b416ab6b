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
        assert "a) ec2.run_instances(p4d.24xlarge): PENDING" in out
        assert "refused" in out and "separation of duties" in out
        assert f"licence {section.LICENCE} for Lion City AI Pte. Ltd." in out
        assert f"d) the same call again: ALLOW  licence {section.LICENCE}" in out
        assert "e) and once more (the licence is used up): PENDING" in out
        lic = ctx.gk.store.licences.get_licence(section.LICENCE)
        assert lic is not None and lic.remaining == 0 and lic.approvers == (section.REVIEWER,)
        assert [c.status for c in ctx.gk.store.cases.list_cases()] == ["open", "approved"]
    finally:
        runtime.reset()


def test_story_section(tmp_path: Path) -> None:
    """The headline, first: held through boto3, approved, the same call sent and drawn down, log intact."""
    import re

    from gatekeeper.demo import story

    console = Console(record=True, width=2000)
    ctx = prepare(tmp_path / "home", console)
    try:
        story.run(ctx)
        out = console.export_text()
        [case] = ctx.gk.store.cases.list_cases()
        assert case.status == "approved" and case.legal_name == story.CUSTOMER.legal_name
        message = next(line for line in out.splitlines() if "is held until an export licence is on file" in line)
        assert message.count(case.case_id) == 1  # the caller's message names the case once
        assert "ExportLicensePending (HTTP 403)" in out and "8 accelerators over 1 distinct request" in out
        assert re.search(rf"same call again: sent, instance i-\w+ launched; licence {story.LICENCE} drawn down "
                         r"to 8 of 16", out)
        assert re.search(r"e\) .*intact, \d+ records", out)
        lic = ctx.gk.store.licences.get_licence(story.LICENCE)
        assert lic is not None and lic.remaining == 8
    finally:
        runtime.reset()
