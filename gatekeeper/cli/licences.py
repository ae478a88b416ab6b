"""``gatekeeper licences``: the licences on file, what is left of them, and revocation."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, fail, opened
from gatekeeper.errors import InvalidInputError
from gatekeeper.workflow import workflow_of

if TYPE_CHECKING:
    from gatekeeper.workflow.model import Licence

app = typer.Typer(help="Licences: scope, quantity left, validity; revoke.", no_args_is_help=True)

STATE_STYLE = {"active": "green", "not yet valid": "yellow", "expired": "dim", "revoked": "red",
               "exhausted": "magenta"}


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(
        help="Only licences in this state today: active, not yet valid, expired, revoked, exhausted.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this customer account.")] = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider (aws, azure, gcp).")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List licences with what is left of them."""
    from gatekeeper.workflow.model import LICENCE_STATES

    if state is not None and state.strip().lower() not in LICENCE_STATES:
        fail(InvalidInputError(f"--state must be one of {', '.join(LICENCE_STATES)}, not {state!r}",
                               field="state"), as_json=json_out)
    with opened(config, as_json=json_out) as gk:
        today = workflow_of(gk).today()
        found = gk.store.licences.list_licences(provider.strip().lower() if provider else None,
                                                account.strip() if account else None)
    if state:
        found = [lic for lic in found if lic.state(today) == state.strip().lower()]
    if json_out:
        emit_json([lic.as_json(today) for lic in found])
        return
    if not found:
        console.print("no licences")
        return
    t = Table(title=f"{len(found)} licence(s) on {today.isoformat()}")
    for col in ("number", "state", "customer", "account", "scope", "left", "valid", "case"):
        t.add_column(col, overflow="fold", no_wrap=col in ("number", "case"))
    for lic in found:
        st = lic.state(today)
        t.add_row(lic.number, f"[{STATE_STYLE[st]}]{st}[/]", lic.customer, f"{lic.provider} {lic.account_id}",
                  lic.scope.describe(), f"{lic.remaining:g} of {lic.quantity:g}",
                  f"{lic.valid_from} to {lic.valid_until}", lic.case_id or "-")
    console.print(t)


def render_licence(lic: Licence, today: date) -> None:
    st = lic.state(today)
    t = Table(show_header=False, box=None)
    t.add_row("permit", lic.label)
    t.add_row("state", f"[{STATE_STYLE[st]}]{st}[/] on {today.isoformat()}")
    t.add_row("customer", f"{lic.customer} ({lic.provider} {lic.account_id})")
    t.add_row("scope", lic.scope.describe())
    t.add_row("quantity", f"{lic.remaining:g} of {lic.quantity:g} accelerators left ({lic.drawn:g} drawn)")
    t.add_row("valid", f"{lic.valid_from} to {lic.valid_until} (inclusive)")
    t.add_row("conditions", lic.conditions or "-")
    t.add_row("issued", f"{lic.issued_at.isoformat()} by {', '.join(lic.approvers) or '-'}"
                        + (f" (case {lic.case_id})" if lic.case_id else ""))
    if lic.status == "revoked":
        t.add_row("revoked", f"{lic.revoked_at} by {lic.revoked_by}: {lic.revoked_reason}")
    console.print(Panel(t, title=f"licence {lic.number}", expand=False))


@app.command("show")
def show(
    number: Annotated[str, typer.Argument(help="Licence number.")],
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a licence: scope, what is left, validity, conditions, who approved it."""
    with opened(config, as_json=json_out) as gk:
        wf = workflow_of(gk)
        lic, today = wf.get_licence(number), wf.today()
    if json_out:
        emit_json(lic.as_json(today))
        return
    render_licence(lic, today)


@app.command("revoke")
def revoke(
    number: Annotated[str, typer.Argument(help="Licence number.")],
    by: Annotated[str, typer.Option("--by", help="Who revokes it.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the licence and the audit log).")],
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a licence: requests it covered are held again from now on."""
    with opened(config, as_json=json_out) as gk:
        wf = workflow_of(gk)
        lic, today = wf.revoke(number, by=by, reason=reason), wf.today()
    if json_out:
        emit_json(lic.as_json(today))
        return
    console.print(f"[red]licence {lic.number} revoked[/] by {by}: {reason}", highlight=False)
