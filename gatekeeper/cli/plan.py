"""``gatekeeper plan check PLAN.json``: decide a Terraform/OpenTofu plan before apply.

Exit status as ``check``: 0 when every resource is allowed or flagged, 3 when one is pending, 4 when
one is denied, 1 when the plan cannot be read or a resource cannot be decided (and none is denied
or pending), 2 for usage errors.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gatekeeper.cli._common import (
    EXIT_ERROR,
    ConfigOpt,
    JsonOpt,
    console,
    decision_exit_code,
    fail,
    opened,
    worst_exit_code,
)

if TYPE_CHECKING:
    from gatekeeper.gates.plan import PlanReport

app = typer.Typer(help="Decide Terraform/OpenTofu plans before apply.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"


@app.command("check")
def check(
    plan: Annotated[Path, typer.Argument(help="JSON plan: `terraform show -json PLAN > plan.json` (or tofu).")],
    provider: Annotated[str, typer.Option(help="With --account: the provider whose resources it names.")] = "",
    account: Annotated[str, typer.Option(help="Subject for --provider's resources (overrides the plan).")] = "",
    fmt: Annotated[Format, typer.Option("--format", help="table, json, sarif or junit.")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write the report here (the table still prints).")] = None,
    principal: Annotated[str, typer.Option(help="Who asks (default: plan:<file>).")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="What-if: record nothing, open no case.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Decide every compute resource of a plan: exit 0 allow/flag, 3 pending, 4 deny, 1 error."""
    from gatekeeper.errors import InvalidInputError
    from gatekeeper.gates.plan import check_plan, load_plan, report_json, report_junit, report_sarif

    if json_out:
        fmt = Format.json
    as_json = fmt is not Format.table
    given: dict[str, str] = {}
    if provider or account:
        p = provider.strip().lower()
        if p not in ("aws", "azure", "gcp") or not account.strip():
            fail(InvalidInputError("--provider (aws, azure or gcp) and --account go together"), as_json=as_json)
        given[p] = account.strip().lower() if p == "azure" else account.strip()
    with opened(config, as_json=as_json) as gk:
        parsed = load_plan(plan)
        report = check_plan(gk, parsed, given=given, principal=principal, dry_run=dry_run)
    if fmt is Format.sarif:
        text = json.dumps(report_sarif(report), indent=2) + "\n"
    elif fmt is Format.junit:
        text = report_junit(report)
    else:  # the table's file form is the JSON report
        text = json.dumps(report_json(report), indent=2, default=str) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if fmt is Format.table or output is not None:
        _table(report)
    else:
        typer.echo(text, nl=False)
    raise typer.Exit(worst_exit_code(
        decision_exit_code(f.decision.outcome.label, f.decision.error) if f.decision is not None else EXIT_ERROR
        for f in report.findings))


def _table(report: PlanReport) -> None:
    from gatekeeper.cli.check import COLOURS
    t = Table("resource", "subject", "decision", "why", title=f"gatekeeper plan check {report.source}")
    for f in report.findings:
        if f.decision is None:
            t.add_row(f.address, f.account_id or "-", "[red]ERROR[/]", f.error or "")
            continue
        d = f.decision
        colour = COLOURS[d.outcome]
        why = "; ".join((*d.reasons, *(n for n in f.notes if "after apply" in n or "names no" in n)))
        if d.case_id:
            why += f" (case {d.case_id})"
        t.add_row(f.address, d.profile.legal_name or f"{f.provider} {f.account_id}",
                  f"[{colour}]{d.outcome.label.upper()}[/]", why or "-")
    console.print(t)
    counts = report.counts()
    console.print(", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no compute resources in the plan",
                  f"({report.ignored} other resources)", "[dim](dry run: nothing recorded)[/]" if report.dry_run
                  else "", highlight=False)
