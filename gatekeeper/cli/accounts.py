"""``gatekeeper accounts``: import, list and show customer profiles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from gatekeeper.cli._common import ConfigOpt, JsonOpt, cli_actor, console, emit_json, fail, opened

if TYPE_CHECKING:
    from gatekeeper.model import CustomerProfile

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
    from itertools import chain

    from gatekeeper.accounts import profile_batches
    from gatekeeper.audited import audited
    from gatekeeper.errors import GatekeeperError, InvalidInputError
    from gatekeeper.screening import import_profiles

    batches = profile_batches(file, owners)
    try:
        # The first batch (a whole file of up to BATCH_ROWS rows, duplicates checked) is read before
        # the store is opened: most bad files are refused without touching it.
        first = list(next(batches, []))
    except GatekeeperError as exc:
        fail(f"{file}: {exc}", as_json=json_out)
    try:
        source = {"file": str(file), "sha256": _sha256(file)}
        if owners is not None:
            source.update(owners_file=str(owners), owners_sha256=_sha256(owners))
    except OSError as exc:
        fail(f"{exc.filename}: {exc.strerror or exc}", as_json=json_out)
    with opened(config, as_json=json_out) as gk:
        try:
            # Customer profiles decide requests: the import is recorded before it is committed (the
            # rest of the file is read, staged and screened batch by batch, then swapped in by one
            # transaction; a bad row further on changes nothing and an accounts.import_failed record
            # voids it).
            run = audited(gk.record_event, [("accounts.import", cli_actor(), source)],
                          lambda: import_profiles(gk, chain([first], batches)), failed="accounts.import_failed",
                          ids=source, what=f"{file} was not imported")
        except InvalidInputError as exc:
            fail(f"{file}: {exc}", as_json=json_out)
    screened = int(run)
    if json_out:
        emit_json({"imported": run.profiles, "screening_hits": screened})
    else:
        console.print(f"[green]imported {run.profiles} profiles[/] from {file}"
                      + (f"; {screened} screening hits to review (gatekeeper screening hits)" if screened else ""))


def _sha256(path: Path) -> str:
    """The file's SHA-256 (hex): the import's record names exactly what was imported."""
    import hashlib

    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
                      + (escape(" [cleared]") if h.cleared else ""))
        console.print(t)


KYC_STATUSES = ("verified", "pending", "unverified")


def matching(profiles: Sequence[CustomerProfile], *, country: str | None = None, kyc: str | None = None,
             name: str | None = None, hits: bool = False) -> list[CustomerProfile]:
    """The profiles that pass every filter given: a country in any role, a KYC status, part of the name."""
    code = country.strip().upper() if country else None
    part = name.strip().casefold() if name else None
    return [p for p in profiles
            if (code is None or code in p.countries)
            and (kyc is None or p.kyc_status == kyc)
            and (part is None or part in p.legal_name.casefold() or part in p.account_id.casefold())
            and (not hits or p.open_hits)]


@app.command("list")
def list_(
    provider: Annotated[str | None, typer.Option(help="aws, azure or gcp.")] = None,
    country: Annotated[str | None, typer.Option(
        help="ISO alpha-2 code; matches the location, headquarters or ultimate parent.")] = None,
    kyc: Annotated[str | None, typer.Option(help="verified, pending or unverified.")] = None,
    name: Annotated[str | None, typer.Option(help="Part of the legal name or the account id.")] = None,
    hits: Annotated[bool, typer.Option("--hits", help="Only customers with open screening hits.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the customer profiles on file, filtered."""
    from gatekeeper.errors import InvalidInputError

    p = provider.strip().lower() if provider else None
    if p is not None and p not in ("aws", "azure", "gcp"):
        fail(InvalidInputError(f"--provider must be aws, azure or gcp, not {provider!r}", field="provider"),
             as_json=json_out)
    k = kyc.strip().lower() if kyc else None
    if k is not None and k not in KYC_STATUSES:
        fail(InvalidInputError(f"--kyc must be one of {', '.join(KYC_STATUSES)}, not {kyc!r}", field="kyc"),
             as_json=json_out)
    if country is not None and not (len(country.strip()) == 2 and country.strip().isalpha()):
        fail(InvalidInputError(f"--country must be an ISO 3166 alpha-2 code, not {country!r}", field="country"),
             as_json=json_out)
    with opened(config, as_json=json_out) as gk:
        found = matching(gk.store.profiles.list_profiles(p), country=country, kyc=k, name=name, hits=hits)
    if json_out:
        emit_json([x.as_dict() for x in found])
        return
    if not found:
        console.print("no matching profiles")
        return
    t = Table(title=f"{len(found)} profile(s)")
    for col in ("provider", "account", "legal name", "location", "HQ", "parent", "KYC", "open hits"):
        t.add_column(col, overflow="fold", justify="right" if col == "open hits" else "left")
    for x in found:
        t.add_row(x.provider, x.account_id, escape(x.legal_name) or "-", x.country or "-",
                  x.headquarters_country or "-", x.ultimate_parent_country or "-", x.kyc_status,
                  str(len(x.open_hits)) if x.open_hits else "-")
    console.print(t)
