"""``gatekeeper guardrails export|diff``: the packs and the customers on file as SCPs, Azure Policy and
organization policy constraints; ``--apply`` (opt-in) puts them in place through the clouds' SDKs.

Exit status: 0 done, 1 error (including a guardrail over a cloud's limits: written, never applied),
2 usage error.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gatekeeper.cli._common import EXIT_ERROR, ConfigOpt, JsonOpt, cli_actor, console, emit_json, opened

if TYPE_CHECKING:
    from gatekeeper.gates.guardrails import Bundle

app = typer.Typer(help="Compile the packs into the clouds' own preventive guardrails.", no_args_is_help=True)

CloudOpt = Annotated[str, typer.Option("--cloud", help="aws, azure or gcp.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Export folder (default: <base_dir>/guardrails).")]
OnOpt = Annotated[str, typer.Option("--on", help="Decide for this day (YYYY-MM-DD; default today, UTC).")]
OrgOpt = Annotated[str, typer.Option("--organization", help="Google Cloud organization id (custom constraints).")]


def _day(text: str) -> date:
    from gatekeeper.errors import InvalidInputError
    from gatekeeper.model import utcnow

    if not text:
        return utcnow().date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--on {text!r}: expected YYYY-MM-DD", field="on") from None


@app.command("export")
def export_cmd(
    cloud: CloudOpt,
    out: OutOpt = None,
    on: OnOpt = "",
    organization: OrgOpt = "",
    apply: Annotated[bool, typer.Option("--apply", help="Also put them in place (AWS Organizations, Azure "
                                        "Policy, Org Policy); needs the cloud's credentials.")] = False,
    endpoint: Annotated[str, typer.Option(help="API endpoint for --apply (a local stand-in, a private link).")] = "",
    ou: Annotated[list[str], typer.Option(help="AWS: OU_ID=ACCOUNT,ACCOUNT... attach to the OU when all its "
                                          "accounts take the same SCPs (repeatable).")] = [],  # noqa: B006
    gcp_folders: Annotated[list[str], typer.Option(
        "--folder", help="Google Cloud: folders/ID=PROJECT,PROJECT... enforce on the folder when all its projects "
                         "take the same constraints (repeatable).")] = [],  # noqa: B006
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the guardrails for the customers on file; with --apply, put them in place."""
    from gatekeeper.gates.guardrails import diff, export, read_manifest, write
    from gatekeeper.gates.guardrails._apply import ERROR

    with opened(config, as_json=json_out) as gk:
        folder = out or Path(gk.config.base_dir) / "guardrails"
        bundle = export(gk, cloud.strip().lower(), on=_day(on), organization=organization, ous=_groups(ou, "ou", "ou-"),
                        folders=_groups(gcp_folders, "folder", "folders/"))
        previous = read_manifest(folder, bundle.cloud)
        changes = diff(previous, bundle.as_dict())
        written = write(bundle, folder)
        applied: list[str] = []
        if apply and not bundle.problems:
            applied = _apply_audited(gk, bundle, previous, endpoint, changes)
    if json_out:
        emit_json({**bundle.as_dict(), "folder": str(written), "diff": changes, "applied": applied})
    else:
        _show(bundle, written, changes)
        for line in applied:
            console.print(f"  applied: {line}", highlight=False)
    if bundle.problems:
        if apply:
            console.print("[red]not applied[/]: the guardrails do not fit the cloud's limits")
        raise typer.Exit(EXIT_ERROR)
    if any(line.startswith(ERROR) for line in applied):
        raise typer.Exit(EXIT_ERROR)


@app.command("diff")
def diff_cmd(cloud: CloudOpt, out: OutOpt = None, on: OnOpt = "", organization: OrgOpt = "",
             config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """What an export now would change against the last one (licences granted or expired, countries changed)."""
    from gatekeeper.gates.guardrails import diff, export, read_manifest

    with opened(config, as_json=json_out) as gk:
        folder = out or Path(gk.config.base_dir) / "guardrails"
        bundle = export(gk, cloud.strip().lower(), on=_day(on), organization=organization)
        changes = diff(read_manifest(folder, bundle.cloud), bundle.as_dict())
    if json_out:
        emit_json(changes)
        return
    if changes["previous_export"] is None:
        console.print(f"no earlier {bundle.cloud} export under {folder}: everything below would be new")
    if not changes["changed"]:
        console.print(f"[green]no change[/] since the export of {changes['previous_export']}")
        return
    _customers(changes)
    for what in ("added", "removed", "changed"):
        for name in changes["artifacts"][what]:
            console.print(f"  {what}: {name}", highlight=False)


def _groups(values: list[str], option: str, prefix: str) -> dict[str, list[str]]:
    """``--ou ou-x=A,B`` / ``--folder folders/N=P,Q`` as {group: members}."""
    from gatekeeper.errors import InvalidInputError

    out: dict[str, list[str]] = {}
    for v in values:
        group, _, listed = v.partition("=")
        members = [a.strip() for a in listed.split(",") if a.strip()]
        if not group.strip().startswith(prefix) or not members:
            raise InvalidInputError(f"--{option} {v!r}: expected {prefix}ID=MEMBER[,MEMBER...]", field=option)
        out[group.strip()] = members
    return out


def _customers(changes: dict[str, Any]) -> None:
    t = Table("account", "customer", "newly denied", "no longer denied", "licences added", "licences gone")
    for c in changes["customers"]:
        t.add_row(c["account_id"], c["customer"], ", ".join(c["newly_denied"]) or "-",
                  ", ".join(c["no_longer_denied"]) or "-", ", ".join(c["licences_added"]) or "-",
                  ", ".join(c["licences_removed"]) or "-")
    console.print(t)


def _show(bundle: Bundle, folder: Path, changes: dict[str, Any]) -> None:
    t = Table("account", "customer", "denied types", "in some regions only", "licensed exceptions",
              title=f"{bundle.cloud} guardrails")
    for g in bundle.guards:
        regional = {n for r in g.regional for n in r.types}
        t.add_row(g.account_id, g.customer, str(len(g.denied) + len(g.denied_accelerators)),
                  str(len(regional)) if regional else "-",
                  ", ".join(f"{e.licence} (until {e.until})" for e in g.exceptions) or "-")
    console.print(t)
    console.print(f"{len(bundle.artifacts)} documents written to {folder}"
                  + ("" if changes["changed"] else " (no change since the last export)"), highlight=False)
    for n in bundle.notes:
        console.print(f"  note: {n}", highlight=False)
    if bundle.uncovered:
        console.print("  [dim]not bounded by these guardrails, left to the wrapper and the hooks: "
                      f"{', '.join(bundle.uncovered)}[/]", highlight=False)
    for p in bundle.problems:
        console.print(f"  [red]problem:[/] {p}", highlight=False)


def _apply_audited(gk: Any, bundle: Bundle, previous: dict[str, Any] | None, endpoint: str,
                   changes: dict[str, Any]) -> list[str]:
    """Apply, recorded before and after (``gatekeeper.audited``): ``guardrails.applying`` (what is about
    to change) is durable before the cloud is touched, so an audit log that cannot be written leaves
    the cloud as it was; ``guardrails.applied`` says what was done, ``guardrails.apply_failed`` what
    stopped it (the cloud may then be partly changed: the record says so)."""
    from gatekeeper.audited import record_failure, record_intent

    actor = cli_actor()
    about = {"cloud": bundle.cloud, "on": bundle.on, "artifacts": [a.name for a in bundle.artifacts]}
    intent = record_intent(gk.record_event, "guardrails.applying", actor, {**about, "diff": changes},
                           what=f"the {bundle.cloud} guardrails were not applied")
    try:
        applied = _apply(bundle, previous, endpoint)
    except BaseException as exc:
        record_failure(gk.record_event, "guardrails.apply_failed", actor, about, [intent], exc)
        raise
    gk.record_event("guardrails.applied", actor, {**about, "changes": applied, "intent": intent.get("seq")})
    return applied


def _apply(bundle: Bundle, previous: dict[str, Any] | None, endpoint: str) -> list[str]:
    from gatekeeper.gates.guardrails import _apply as apply_mod

    if bundle.cloud == "aws":
        import boto3

        client = boto3.client("organizations", **({"endpoint_url": endpoint} if endpoint else {}))
        return apply_mod.apply_aws(bundle, client, previous)
    if bundle.cloud == "azure":
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.resource.policy import PolicyClient

        credential = DefaultAzureCredential()
        return apply_mod.apply_azure(bundle, lambda sub: PolicyClient(credential, sub, base_url=endpoint or None),
                                     previous)
    from google.cloud import orgpolicy_v2

    client = orgpolicy_v2.OrgPolicyClient(transport="rest",
                                          client_options={"api_endpoint": endpoint} if endpoint else None)
    return apply_mod.apply_gcp(bundle, client, previous)
