"""``gatekeeper hooks``: replay a recorded hook event locally, as a dry run.

``gatekeeper hooks test EVENT.json`` reads an EventBridge event (CloudTrail API call, EC2 state
change), an Event Grid event (a JSON object, or an array of them as Event Grid delivers) or a Cloud
Audit Logs entry (the LogEntry, or the Eventarc CloudEvent carrying it), decides it
with ``dry_run=True`` (no case opened, nothing recorded) and prints the decision and the remediation
plan the hook would carry out. No cloud is called: references the event does not spell out (a
launch template, the VM behind a resource id) stay unresolved, and the decision is the fail-closed one,
unless ``--resolve`` allows read-only look-ups (Describe*/GET) with the usual credentials.

Exit status as ``gatekeeper check``: 0 allow/flag (and events the hook ignores), 3 pending, 4 deny,
1 error (unreadable file, malformed event).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gatekeeper.cli._common import (
    EXIT_ERROR,
    ConfigOpt,
    JsonOpt,
    console,
    decision_exit_code,
    emit_json,
    fail,
    opened,
    worst_exit_code,
)

app = typer.Typer(help="Detective hooks (AWS Lambda, Azure Function, Google Cloud function): replay recorded "
                       "events offline.",
                  no_args_is_help=True)

_COLOURS = {"allow": "green", "flag": "yellow", "pending": "magenta", "deny": "red"}


def kind_of(event: Any) -> str:
    """``aws`` for an EventBridge event, ``gcp`` for a Cloud Audit Logs entry (or its Eventarc CloudEvent),
    ``azure`` for an Event Grid one, "" when none of these."""
    if isinstance(event, dict):
        data = event.get("data")
        if "protoPayload" in event or (isinstance(data, dict) and "protoPayload" in data):
            return "gcp"
        if "detail-type" in event or "detail" in event:
            return "aws"
        if "eventType" in event or ("type" in event and "specversion" in event) or "data" in event:
            return "azure"
    return ""


def replay(gk: Any, event: Any, *, resolve: bool = False) -> dict[str, Any]:
    """The dry-run answer of the hook that handles ``event`` (nothing claimed, executed or recorded)."""
    kind = kind_of(event)
    if kind == "aws":
        from gatekeeper.hooks.aws_lambda import AwsHook

        reader = None
        if not resolve:
            from gatekeeper.hooks._aws import NoReader

            reader = NoReader()
        return AwsHook(gk, reader=reader, dry_run=True).handle(event) | {"hook": "aws-lambda"}
    if kind == "azure":
        from gatekeeper.hooks.azure_function import AzureHook

        return AzureHook(gk, dry_run=True, read=resolve).handle(event) | {"hook": "azure-function"}
    if kind == "gcp":
        from gatekeeper.hooks.gcp_function import GcpHook

        return GcpHook(gk, dry_run=True, read=resolve).handle(event) | {"hook": "gcp-function"}
    return {"status": "error", "event_id": "", "hook": "",
            "reason": "not an EventBridge event (detail-type, detail), an Event Grid event (eventType, data) nor a "
                      "Cloud Audit Logs entry (protoPayload)"}


@app.command("test")
def test(
    event_file: Annotated[Path, typer.Argument(metavar="EVENT.json",
                                               help="A recorded EventBridge, Event Grid or Cloud Audit Logs event.")],
    resolve: Annotated[bool, typer.Option("--resolve",
                                          help="Allow read-only cloud look-ups (Describe*, GET).")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Replay EVENT.json as a dry run: the decision and the actions the hook would take."""
    try:
        events = json.loads(event_file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {event_file}: {exc.strerror or exc}", as_json=json_out)
    except json.JSONDecodeError as exc:
        fail(f"{event_file}: not JSON: {exc}", as_json=json_out)
    batch = events if isinstance(events, list) else [events]
    if not batch:
        fail(f"{event_file}: no events", as_json=json_out)
    with opened(config, as_json=json_out) as gk:
        answers = [replay(gk, e, resolve=resolve) for e in batch]
    if json_out:
        emit_json(answers if isinstance(events, list) else answers[0])
    else:
        for a in answers:
            show(a)
    raise typer.Exit(exit_code(answers))


def exit_code(answers: list[dict[str, Any]]) -> int:
    """The most restrictive decision's code, as ``gatekeeper check`` gives it (1 for an event that could
    not be decided, or a decision denied fail-closed on an error)."""
    return worst_exit_code(EXIT_ERROR if a.get("status") == "error"
                           else decision_exit_code(str(a.get("decision")), a.get("error")) for a in answers)


def show(a: dict[str, Any]) -> None:
    status = a.get("status")
    head = f"[dim]{a.get('hook') or 'hook'} event {a.get('event_id') or '(no id)'}[/]"
    if status != "dry_run":
        colour = "red" if status == "error" else "cyan"
        console.print(f"{head}\n[bold {colour}]{str(status).upper()}[/]  {a.get('reason', '')}", highlight=False)
        return
    decision = str(a.get("decision"))
    req = a.get("request", {})
    what = ", ".join(f"{i['instance_type'] or '?'} x{i['count']}" for i in req.get("items", [])) or "nothing read"
    console.print(f"{head}\n[bold {_COLOURS.get(decision, 'white')}]{decision.upper()}[/]  "
                  f"{req.get('provider')} {req.get('account_id')} {req.get('operation')} in "
                  f"{req.get('region') or '?'}: {what}  [dim](dry run: nothing recorded)[/]", highlight=False)
    for reason in a.get("reasons", []):
        console.print(f"  - {reason}", highlight=False)
    for u in req.get("unresolved", []):
        console.print(f"  [red]unresolved:[/] {u}", highlight=False)
    for n in a.get("notes", []):
        console.print(f"  [dim]note:[/] {n}", highlight=False)
    plan = a.get("plan", {})
    actions = plan.get("actions", [])
    console.print(f"  remediation: [bold]{plan.get('verb')}[/] ({plan.get('reason')})", highlight=False)
    if actions:
        t = Table("action", "resource", "tags / note")
        for act in actions:
            r = act["resource"]
            extra = ", ".join(f"{k}={v}" for k, v in act.get("tags", {}).items()) or act.get("note", "")
            t.add_row(act["action"], f"{r['kind']} {r['id']}" + (f" ({r['parent']})" if r.get("parent") else ""),
                      extra)
        console.print(t)
