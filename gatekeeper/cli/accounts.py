"""``gatekeeper accounts``: import and show customer profiles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, fail, opened

if TYPE_CHECKING:
    from gatekeeper.model import CustomerProfile
    from gatekeeper.service import Gatekeeper

app = typer.Typer(help="Customer profiles (who is behind an account, subscription or project).",
                  no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV (header of the README) or JSON file.")],
    owners: Annotated[Path | None, typer.Option(
        help="Owners CSV (provider,account_id,owner_name,owner_country,share,screening_lists) for the "
             "affiliates rule.")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Import profiles (and their owners): all rows or none; a bad row is named with its number."""
    from gatekeeper.accounts import read_profiles
    from gatekeeper.errors import GatekeeperError

    try:
        profiles = read_profiles(file, owners)
    except GatekeeperError as exc:
        fail(f"{file}: {exc}", as_json=json_out)
    with opened(config, as_json=json_out) as gk:
        # Screen first: if screening fails, nothing is stored, so no listed customer sits unscreened.
        _screen(gk, profiles)
        gk.store.profiles.put_profiles(profiles)
        # Again once stored: a list loaded between the two steps re-screened the old names.
        screened = _screen(gk, profiles)
    if json_out:
        emit_json({"imported": len(profiles), "screening_hits": screened})
    else:
        console.print(f"[green]imported {len(profiles)} profiles[/] from {file}"
                      + (f"; {screened} screening hits to review (gatekeeper screening hits)" if screened else ""))


def _screen(gk: Gatekeeper, profiles: Sequence[CustomerProfile]) -> int:
    """Screen the imported profiles against the loaded restricted-party lists; the number of open hits."""
    from gatekeeper.screening import screen_profiles

    return int(screen_profiles(gk, profiles))


@app.command("show")
def show(
    account_id: Annotated[str, typer.Argument(help="Account, subscription or project id.")],
    provider: Annotated[str | None, typer.Option(help="aws, azure or gcp (default: any).")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a profile with its screening hits."""
    with opened(config, as_json=json_out) as gk:
        found = [p for prov in ([provider] if provider else ["aws", "azure", "gcp"])
                 if (p := gk.store.profiles.get_profile(prov, account_id.lower() if prov == "azure" else account_id))]
    if not found:
        fail(f"no profile for account {account_id!r}: it is treated as an unverified foreign customer",
             as_json=json_out)
    if json_out:
        emit_json([p.as_dict() for p in found] if len(found) > 1 else found[0].as_dict())
        return
    for p in found:
        t = Table(show_header=False, title=f"{p.provider} {p.account_id}")
        for k, v in p.as_dict().items():
            if k not in ("screening_hits", "owners"):
                t.add_row(k, str(v))
        for o in p.owners:
            t.add_row("owner", f"{o.name} ({o.country or '?'}, {o.share:g} %)"
                      + (f" on {', '.join(o.lists)}" if o.lists else ""))
        for h in p.screening_hits:
            t.add_row("screening hit", f"{h.list_code} {h.entry_id} {h.name} (score {h.score:.0f})"
                      + (" [cleared]" if h.cleared else ""))
        console.print(t)
