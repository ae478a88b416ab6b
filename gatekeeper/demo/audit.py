"""Demo section: close the audit log (a signed checkpoint), verify it, and summarise what was decided."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.audit import local_directory
from gatekeeper.audit.render import render_summary, render_verify
from gatekeeper.audit.review import AuditReader, Filters
from gatekeeper.audit.verify import verify_log
from gatekeeper.demo import DemoContext
from gatekeeper.errors import AuditIntegrityError


def run(ctx: DemoContext) -> None:
    ctx.console.rule("[bold]Audit log: verify and summarise")
    cfg = ctx.gk.config
    # Closing the segment writes its Ed25519-signed checkpoint, so every record is covered.
    ctx.gk.audit.close()
    directory = local_directory(cfg.audit.url, Path(cfg.base_dir))
    report = verify_log(directory)
    render_verify(ctx.console, report)
    if not report.ok:
        raise AuditIntegrityError(f"the demo's own audit log does not verify: {report.problem}")
    with AuditReader(directory) as reader:
        render_summary(ctx.console, reader.summary(Filters()))
    ctx.console.print(f"Verify it yourself: [bold]gatekeeper audit verify --config {ctx.config_path}[/]")
