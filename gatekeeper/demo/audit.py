"""Demo section: close the audit log (a signed checkpoint), verify it, and summarise what was decided."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.audit import local_directory
from gatekeeper.audit.render import render_summary, render_verify
from gatekeeper.audit.review import AuditReader, Filters
from gatekeeper.audit.verify import verify_log
from gatekeeper.demo import DemoContext
from gatekeeper.errors import AuditIntegrityError
from gatekeeper.stores.audit_trust import trust_from_config


def run(ctx: DemoContext) -> None:
    ctx.section("Audit log: verify and summarise")
    cfg = ctx.gk.config
    # Closing the segment writes its Ed25519-signed checkpoint, so every record is covered, and
    # publishes a signed digest of the log's head to the witness (the state store), where the
    # writer also pinned the key it created: what plain `gatekeeper audit verify` trusts.
    ctx.gk.close_audit()
    directory = local_directory(cfg.audit.url, Path(cfg.base_dir))
    trust = trust_from_config(cfg)
    try:
        report = verify_log(directory, trust=trust)
    finally:
        trust.close()
    render_verify(ctx.console, report)
    if not report.ok:
        raise AuditIntegrityError(f"the demo's own audit log does not verify: {report.problem}")
    with AuditReader(directory) as reader:
        render_summary(ctx.console, reader.summary(Filters()))
    ctx.console.print(f"Verify it yourself: [bold]gatekeeper audit verify --config {ctx.config_path}[/]")
