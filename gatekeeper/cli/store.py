"""``gatekeeper store``: set up the state store named by ``[store] url`` (SQLite file, PostgreSQL schema or
DynamoDB tables)."""

from __future__ import annotations

import typer

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, opened

app = typer.Typer(help="The state store (profiles, cases, licences).", no_args_is_help=True)


@app.command("init")
def init(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Create the store's tables if missing (idempotent): PostgreSQL migrations, DynamoDB tables (PAY_PER_REQUEST)."""
    with opened(config, as_json=json_out) as gk:
        lines = gk.open_state_store(create=True).init()  # the one command that makes a missing SQLite file
        url = gk.config.store.url
    if json_out:
        emit_json({"store": url, "tables": lines})
        return
    for line in lines:
        console.print(line, highlight=False)
    console.print(f"[green]store ready[/]: {url}", highlight=False)
