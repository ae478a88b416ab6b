"""``gatekeeper check``: decide one request from the shell. A real, audited request unless --dry-run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gatekeeper.cli._common import (
    EXIT_DENY,
    EXIT_OK,
    EXIT_PENDING,
    ConfigOpt,
    JsonOpt,
    cli_actor,
    console,
    decision_exit_code,
    emit_json,
    fail,
    opened,
)
from gatekeeper.errors import InvalidInputError
from gatekeeper.model import AttachedAccelerator, ComputeItem, Decision, Outcome, ProvisioningRequest

EXIT_BY_OUTCOME = {Outcome.ALLOW: EXIT_OK, Outcome.FLAG: EXIT_OK, Outcome.PENDING: EXIT_PENDING,
                   Outcome.DENY: EXIT_DENY}


def exit_code(decision: Decision) -> int:
    """0 allow or flag, 3 pending, 4 deny, and 1 when gatekeeper could not decide: the decision carries
    ``error`` (a store or audit failure, say) and was denied fail-closed. Shell tooling can tell "no" from
    "could not ask" (DESIGN: distinct codes for pending, deny and errors); both stop the caller."""
    return decision_exit_code(decision.outcome.label, decision.error)


COLOURS = {Outcome.ALLOW: "green", Outcome.FLAG: "yellow", Outcome.PENDING: "magenta", Outcome.DENY: "red"}


def parse_attached(values: list[str]) -> tuple[AttachedAccelerator, ...]:
    out = []
    for v in values:
        name, _, count = v.partition(":")
        try:
            n = float(count) if count else 1.0
        except ValueError:
            raise InvalidInputError(f"--attach {v!r}: count must be a number (TYPE[:COUNT])", field="attach") from None
        if not name.strip() or n <= 0:
            raise InvalidInputError(f"--attach {v!r}: expected TYPE[:COUNT] with COUNT > 0", field="attach")
        out.append(AttachedAccelerator(name.strip(), n))
    return tuple(out)


def check(
    provider: Annotated[str, typer.Option(help="aws, azure or gcp.")],
    account: Annotated[str, typer.Option(help="Account id, subscription id or project id of the customer.")],
    instance_type: Annotated[str, typer.Option("--instance-type", help="Instance type, VM size or machine type.")],
    count: Annotated[int, typer.Option(help="Number of instances.")] = 1,
    region: Annotated[str, typer.Option(help="Region or zone.")] = "",
    attach: Annotated[list[str], typer.Option(help="Attached accelerator TYPE[:COUNT] (GCP guestAccelerators).")] = [],  # noqa: B006
    principal: Annotated[str, typer.Option(help="Who asks (default: the local user).")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="What-if: record nothing, open no case.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Decide a provisioning request: exit 0 allow/flag, 3 pending, 4 deny, 1 error (also a fail-closed deny
    because the store or the audit log failed)."""
    p = provider.strip().lower()
    if p not in ("aws", "azure", "gcp"):
        fail(InvalidInputError(f"--provider must be aws, azure or gcp, not {provider!r}"), as_json=json_out)
    if count < 0:
        fail(InvalidInputError("--count must not be negative"), as_json=json_out)
    if not account.strip():
        fail(InvalidInputError("--account must not be empty"), as_json=json_out)
    try:
        attached = parse_attached(attach)
    except InvalidInputError as exc:
        fail(exc, as_json=json_out)
    request = ProvisioningRequest(
        provider=p, account_id=account.strip(), items=(ComputeItem(instance_type, count, attached),),
        region=region.strip(), service="cli", operation="check", principal=principal or cli_actor(), source="cli",
    )
    with opened(config, as_json=json_out) as gk:
        decision = gk.with_profile(gk.decide(request, dry_run=dry_run))
        from gatekeeper.suggest import for_decision

        hints = for_decision(gk.catalog, gk.jurisdictions, decision)
    if json_out:
        emit_json({**decision.as_dict(), **({"suggestions": hints} if hints else {})})
    else:
        show(decision, dry_run=dry_run)
        for what, names in hints.items():
            console.print(f"  did you mean {' or '.join(names)}? (unknown {what.replace('_', ' ')} "
                          f"{(request.region if what == 'region' else instance_type)!r})", highlight=False)
    raise typer.Exit(exit_code(decision))




def show(d: Decision, *, dry_run: bool = False) -> None:
    colour = COLOURS[d.outcome]
    subject = d.profile.legal_name or f"{d.request.provider} {d.request.account_id}"
    known = "" if d.profile.known else (" [dim](account not in the store: treated as unverified foreign)[/]"
                                        if d.profile.looked_up else " [dim](account not looked up)[/]")
    console.print(f"[bold {colour}]{d.outcome.label.upper()}[/]  {subject}{known}"
                  + ("  [dim](dry run: nothing recorded)[/]" if dry_run else ""))
    for reason in d.reasons:
        console.print(f"  - {reason}", highlight=False)
    if d.items and any(i.accelerators for i in d.items):
        t = Table("instance type", "chip", "count", "TPP", "PD", "export class", "confirmed")
        for i in d.items:
            for a in i.accelerators:
                t.add_row(i.instance_type, a.model, f"{a.total:g}", f"{a.tpp:,.0f}" if a.tpp else "-",
                          f"{a.pd:g}" if a.pd else "-", a.export_class, "yes" if a.confirmed else "no")
        console.print(t)
    if d.review_policy:
        console.print(f"  licence review policy: [bold]{d.review_policy}[/]")
    if d.matches:
        t = Table("rule", "decision", "review", "in force", "citation")
        for m in d.matches:
            basis = "" if m.basis in ("", "regulation") else f" [dim]({m.basis})[/]"
            t.add_row(f"{m.pack_id}/{m.rule_id}{basis}", m.outcome.label, m.review_policy or "-",
                      m.window() or "-", m.citation)
        console.print(t)
    if d.licence_id:
        console.print(f"  licence used: [bold]{d.licence_id}[/]")
    if d.case_id:
        console.print(f"  case: [bold]{d.case_id}[/] (gatekeeper cases show {d.case_id})")
    if d.error:
        console.print(f"  [red]error:[/] {d.error}")
