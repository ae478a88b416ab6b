"""``gatekeeper screening``: load the Consolidated Screening List, review hits, clear false positives.

    screening load FILE [--date YYYY-MM-DD] [--by NAME] [--workers N]
                                                load CSV/JSON, re-screen stored profiles
    screening hits [--all]                      open hits for review (--all: also cleared, lapsed)
    screening clear ACCOUNT ENTRY --by R --reason TEXT
    screening check NAME [--country CC]         explain how a name scores against the list
    screening lists                             the loaded lists with their dates

Exit codes as for every command (``gatekeeper.cli._common``): 0 success, 1 gatekeeper error.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, fail, opened, runtime

app = typer.Typer(help="Restricted-party screening against the Consolidated Screening List (trade.gov).",
                  no_args_is_help=True)


def _parse_date(value: str | None, as_json: bool) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"--date {value!r} is not a date (YYYY-MM-DD)", as_json=as_json)


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="consolidated.csv or consolidated.json from trade.gov.")],
    list_date: Annotated[str | None, typer.Option(
        "--date", help="The list's publication date, YYYY-MM-DD (default: the file's modification date).")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Who loads the list, for the audit log (default: the login name).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=0, help="Processes re-screening the profiles (default: [screening] workers; "
                                 "0: the CPUs available).")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Load a list (all rows or none) and re-screen every stored profile against it."""
    from gatekeeper.errors import GatekeeperError
    from gatekeeper.screening import LIST_NAMES, load_list, parse_file

    when = _parse_date(list_date, json_out)
    try:
        parsed = parse_file(file, list_date=when)
    except GatekeeperError as exc:
        fail(f"{file}: {exc}; nothing was loaded", as_json=json_out)
    gk = runtime(config)
    try:
        if json_out or not console.is_terminal:
            result = load_list(gk, parsed, actor=by, workers=workers)
        else:
            from rich.progress import Progress

            # rich's own console (stdout, like ``console``): a Live display enters its console as a
            # context manager, which the lazy proxy ``console`` cannot be (its dunders are not forwarded).
            with Progress(transient=True) as bar:
                task = bar.add_task("re-screening profiles", total=None)
                result = load_list(gk, parsed, actor=by, workers=workers,
                                   progress=lambda n, total: bar.update(task, completed=n, total=total))
    except GatekeeperError as exc:
        fail(f"{exc}; nothing was loaded", as_json=json_out)
    finally:
        gk.close()
    if json_out:
        emit_json(result.as_dict())
        return
    t = Table(title=f"Loaded {file.name} (list date {parsed.list_date.isoformat()})")
    t.add_column("List")
    t.add_column("Name")
    t.add_column("Entries", justify="right")
    for code, n in parsed.counts().items():
        t.add_row(code, LIST_NAMES.get(code, code), str(n))
    console.print(t)
    run = result.run
    console.print(f"re-screened {run.profiles} profiles at threshold {run.threshold:g}: "
                  f"{run.open_hits} open hits ({run.new_hits} new), {run.lapsed_hits} lapsed")


def _hit_row(h: Any, with_status: bool) -> list[str]:
    row = [h.account, h.legal_name, h.list_code, f"{h.entry_id}\n{h.entry_name}", f"{h.score:.1f}", h.summary]
    if with_status:
        status = h.status
        if h.status == "cleared":
            status += f"\nby {h.cleared_by}: {h.cleared_reason}"
        row.append(status)
    return row


@app.command("hits")
def hits(
    all_: Annotated[bool, typer.Option("--all", help="Also cleared and lapsed hits.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Hits for review: account, legal name, list, entry, score and why it scored so."""
    from gatekeeper.screening import list_hits

    with opened(config, as_json=json_out) as gk:
        found = list_hits(gk, include_all=all_)
    if json_out:
        emit_json([h.as_dict() for h in found])
        return
    if not found:
        console.print("no screening hits" + ("" if all_ else " to review"))
        return
    t = Table(title="Screening hits" + ("" if all_ else " to review"), show_lines=True)
    for col in ("Account", "Legal name", "List", "Entry", "Score", "Explanation"):
        t.add_column(col, justify="right" if col == "Score" else "left")
    if all_:
        t.add_column("Status")
    for h in found:
        t.add_row(*_hit_row(h, all_))
    console.print(t)


@app.command("clear")
def clear(
    account: Annotated[str, typer.Argument(help="Account id, or PROVIDER:ID when ids collide.")],
    entry: Annotated[str, typer.Argument(help="The list entry id (see `screening hits`).")],
    by: Annotated[str, typer.Option("--by", help="The reviewer clearing the hit.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the hit is a false positive.")],
    provider: Annotated[str | None, typer.Option(help="aws, azure or gcp (default: any).")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Clear a false positive; recorded with reviewer and reason in the audit log."""
    from gatekeeper.screening import clear_hit

    with opened(config, as_json=json_out) as gk:
        hit = clear_hit(gk, account, entry, by=by, reason=reason, provider=provider)
    if json_out:
        emit_json(hit.as_dict())
        return
    console.print(f"[green]cleared[/] {hit.account} ({hit.legal_name}) against {hit.list_code} "
                  f"{hit.entry_id} {hit.entry_name} by {hit.cleared_by}: {hit.cleared_reason}")


@app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="A legal name to screen.")],
    country: Annotated[list[str] | None, typer.Option(
        "--country", help="The customer's country (ISO alpha-2); repeat for headquarters/parent.")] = None,
    limit: Annotated[int, typer.Option(help="How many entries to show.", min=1, max=100)] = 5,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Explain how NAME scores against the loaded list (records nothing)."""
    from gatekeeper.screening import check_name

    with opened(config, as_json=json_out) as gk:
        result = check_name(gk, name, country or (), limit=limit)
    if json_out:
        emit_json(result.as_dict())
        return
    doc = result.as_dict()
    console.print(f"{name!r} -> {' '.join(doc['normalized'])}  (threshold {result.threshold:g}, "
                  f"{result.entries_loaded} entries loaded)", highlight=False)
    if not result.matches:
        console.print("no list entry shares a word with this name")
        return
    t = Table(show_lines=True)
    for col in ("List", "Entry", "Score", "Hit", "Explanation"):
        t.add_column(col, justify="right" if col == "Score" else "left")
    for m in result.matches:
        t.add_row(m.entry.list_code, f"{m.entry.entry_id}\n{m.entry.name}", f"{m.score:.1f}",
                  "yes" if m.score >= result.threshold else "no", m.explanation.summary())
    console.print(t)


@app.command("lists")
def lists(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """The loaded lists: date, entries, file and when they were loaded."""
    from gatekeeper.screening import screening_store

    with opened(config, as_json=json_out) as gk:
        loaded = screening_store(gk).lists()
    if json_out:
        emit_json([x.as_dict() for x in loaded])
        return
    if not loaded:
        console.print("no list loaded (gatekeeper screening load FILE)")
        return
    t = Table(title="Loaded restricted-party lists")
    for col in ("List", "Name", "List date", "Entries", "Loaded at", "File"):
        t.add_column(col)
    for x in loaded:
        d = x.as_dict()
        t.add_row(x.list_code, d["name"], x.list_date, str(x.entry_count), x.loaded_at, x.source_file)
    console.print(t)
