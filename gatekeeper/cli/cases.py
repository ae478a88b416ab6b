"""``gatekeeper cases``: review the cases that pending requests opened; approve (issuing a licence) or deny.

Every command takes ``--config`` and ``--json``; errors (unknown case, past expiry date, self-approval,
a closed case) are reported with exit status 1 and change nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.panel import Panel
from rich.table import Table

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, fail, opened
from gatekeeper.errors import InvalidInputError
from gatekeeper.workflow import workflow_of

if TYPE_CHECKING:
    from gatekeeper.workflow.model import Case

app = typer.Typer(help="Cases: requests held until a licence is on file; approve (issue a licence) or deny.",
                  no_args_is_help=True)

STATUS_STYLE = {"open": "magenta", "approved": "green", "denied": "red"}


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(f"{option} {value!r} is not a date (YYYY-MM-DD)", field=option.lstrip("-")) from None


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="open, approved or denied.")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List cases, newest first."""
    from gatekeeper.workflow.model import CASE_STATUSES

    if status is not None and status.strip().lower() not in CASE_STATUSES:
        fail(InvalidInputError(f"--status must be one of {', '.join(CASE_STATUSES)}, not {status!r}",
                               field="status"), as_json=json_out)
    with opened(config, as_json=json_out) as gk:
        cases = gk.store.cases.list_cases(status.strip().lower() if status else None)
    if json_out:
        emit_json([c.summary() for c in cases])
        return
    if not cases:
        console.print(f"no {status + ' ' if status else ''}cases")
        return
    t = Table(title=f"{len(cases)} case(s)" + (f" ({status})" if status else ""))
    for col in ("case", "status", "customer", "account", "scope", "requests", "approvals", "licence", "opened"):
        t.add_column(col, overflow="fold", no_wrap=col in ("case", "licence", "opened"))
    for c in cases:
        t.add_row(c.case_id, f"[{STATUS_STYLE[c.status]}]{c.status}[/]", c.customer, f"{c.provider} {c.account_id}",
                  c.scope.describe(), str(c.request_count), ", ".join(a.reviewer for a in c.approvals) or "-",
                  c.licence_number or "-", c.opened_at.strftime("%Y-%m-%d %H:%M"))
    console.print(t)


@app.command("show")
def show(
    case_id: Annotated[str, typer.Argument(help="Case id (case-...).")],
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a case: customer as it was, accelerators, rules with citations, requests, history."""
    with opened(config, as_json=json_out) as gk:
        case = workflow_of(gk).get_case(case_id)
    if json_out:
        emit_json(case.as_json())
        return
    render_case(case)


def render_case(case: Case) -> None:
    from gatekeeper.workflow.model import fmt_qty

    head = Table(show_header=False, box=None)
    head.add_row("status", f"[{STATUS_STYLE[case.status]}]{case.status}[/]")
    head.add_row("customer", f"{case.customer} ({case.provider} {case.account_id})")
    p = case.profile
    head.add_row("countries", f"location {p.get('country') or '-'}, headquarters {p.get('headquarters_country') or '-'}"
                              f", ultimate parent {p.get('ultimate_parent_country') or '-'}")
    head.add_row("KYC", str(p.get("kyc_status") or "-") + ("" if p.get("known", True) else " (account not in store)"))
    for h in p.get("screening_hits", []):
        head.add_row("screening hit", f"{h.get('list')} {h.get('entry_id')} {h.get('name')} (score {h.get('score')})")
    head.add_row("scope", case.scope.describe())
    totals = case.totals()
    head.add_row("requested", totals.describe())
    head.add_row("opened", case.opened_at.isoformat())
    if case.approvals:
        head.add_row("approvals", "; ".join(f"{a.reviewer} ({a.describe_terms()})" for a in case.approvals))
    if case.licence_number:
        head.add_row("licence", case.licence_number)
    if case.denial_reason:
        head.add_row("denied", case.denial_reason)
    if case.review_policy():
        head.add_row("review policy", case.review_policy())
    console.print(Panel(head, title=f"case {case.case_id}", expand=False))

    acc = Table("chip", "export class", "TPP", "PD", "instance types", "largest request", "total requested",
                title="accelerators")
    for a in totals.chips:
        acc.add_row(a.model, a.export_class, f"{a.tpp:,.0f}" if a.tpp else "-", f"{a.pd:g}" if a.pd else "-",
                    ", ".join(a.instance_types), fmt_qty(a.largest_request), fmt_qty(a.total_requested))
    console.print(acc)
    rules = Table("rule", "decision", "citation", "reason", title="rules")
    for r in case.rules():
        rules.add_row(f"{r.pack_id}/{r.rule_id}", r.decision, r.citation, r.reason)
    console.print(rules)
    reqs = Table("time", "decision", "principal", "operation", "region", "accelerators", title="requests")
    for q in case.requests:
        reqs.add_row(q.at.strftime("%Y-%m-%d %H:%M:%S"), q.decision_id, q.principal or "-",
                     f"{q.service} {q.operation}".strip() or "-", q.region or "-", fmt_qty(q.quantity))
    console.print(reqs)
    hist = Table("time", "actor", "action", "detail", title="history")
    for h in case.history:
        hist.add_row(h.at.strftime("%Y-%m-%d %H:%M:%S"), h.actor, h.action, h.detail)
    console.print(hist)


@app.command("approve")
def approve(
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    licence: Annotated[str, typer.Option("--licence", help="Licence number (as issued by the government).")],
    expires: Annotated[str, typer.Option(help="Last day the licence is valid (YYYY-MM-DD).")],
    by: Annotated[str, typer.Option("--by", help="The reviewer approving (not a requester of the case).")],
    quantity: Annotated[float | None, typer.Option(
        help="Accelerators the licence allows (default: what the case asked for).")] = None,
    conditions: Annotated[str, typer.Option(help="Licence conditions (free text).")] = "",
    region: Annotated[list[str], typer.Option(
        help="Restrict the licence to these regions (repeatable; default any).")] = [],  # noqa: B006
    permit: Annotated[str, typer.Option(
        help="licence (individual licence), nac (licence exception NAC: --licence is BIS's authorization "
             "number) or aca (licence exception ACA).")] = "licence",
    notified: Annotated[str | None, typer.Option(
        help="NAC only: the day the notification was filed (YYYY-MM-DD); usable 25 days later.")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Approve a case; the last required approval issues the licence (or NAC/ACA permit) and closes the case."""
    try:
        expiry = parse_date(expires, "--expires")
        notified_on = parse_date(notified, "--notified") if notified else None
    except InvalidInputError as exc:
        fail(exc, as_json=json_out)
    with opened(config, as_json=json_out) as gk:
        wf = workflow_of(gk)
        case, issued = wf.approve(case_id, reviewer=by, licence_number=licence, expires=expiry, quantity=quantity,
                                  conditions=conditions, regions=tuple(r.strip() for r in region if r.strip()),
                                  permit=permit, notified_on=notified_on)
        today, required = wf.today(), wf.approvals_required
    if json_out:
        emit_json({"case": case.summary(), "approvals": len(case.approvals), "required": required,
                   "licence": issued.as_json(today) if issued else None})
        return
    if issued is None:
        console.print(f"[yellow]approval recorded[/] for case {case.case_id} by {by} ({len(case.approvals)} of "
                      f"{required}); a second, different reviewer must approve the same terms")
        return
    console.print(f"[green]case {case.case_id} approved[/]; [bold]{issued.label}[/] issued to "
                  f"{issued.customer}: {issued.scope.describe()}, {issued.quantity:g} accelerators, valid "
                  f"{issued.valid_from} to {issued.valid_until}", highlight=False)


@app.command("deny")
def deny(
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    by: Annotated[str, typer.Option("--by", help="The reviewer denying.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the case and the audit log).")],
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Deny a case (the requests stay held; a later request opens a new case)."""
    with opened(config, as_json=json_out) as gk:
        case = workflow_of(gk).deny(case_id, reviewer=by, reason=reason)
    if json_out:
        emit_json({"case": case.summary(), "denial_reason": case.denial_reason})
        return
    console.print(f"[red]case {case.case_id} denied[/] by {by}: {case.denial_reason}", highlight=False)


@app.command("export")
def export(
    case_id: Annotated[str, typer.Argument(help="Case id.")],
    format: Annotated[Literal["md", "json"], typer.Option(  # the option's public name
        "--format", help="md (Markdown) or json.")] = "md",
    output: Annotated[Path | None, typer.Option(help="Write to this file (default: stdout).")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Export the licence-application packet: ECCN, TPP, PD, quantity, end user and countries, history."""
    from gatekeeper.model import utcnow
    from gatekeeper.workflow.packet import build_packet, packet_markdown

    with opened(config, as_json=json_out) as gk:
        case = workflow_of(gk).get_case(case_id)
        packet = build_packet(case, gk.jurisdictions, generated_at=utcnow())
    if output is None:
        if format == "json" or json_out:
            emit_json(packet)
        else:
            typer.echo(packet_markdown(packet), nl=False)
        return
    import json

    text = json.dumps(packet, indent=2) + "\n" if format == "json" else packet_markdown(packet)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", as_json=json_out)
    if json_out:
        emit_json({"case_id": case.case_id, "output": str(output), "format": format})
    else:
        console.print(f"wrote the {format} packet of case {case.case_id} to {output}")
