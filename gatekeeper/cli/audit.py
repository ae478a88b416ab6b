"""``gatekeeper audit``: verify, query, summarize, export and replay the audit log.

Every command reads the log named by ``[audit] url`` of the configuration (the local spool for
``s3://``, ``azblob://`` and ``gs://``), or the directory given with ``--from``. Tables for reviewers
by default, ``--json`` for scripts; progress bars (on a terminal) for long runs. Exit status: 0 when
the command did its job (for ``verify``: the log is intact), 1 when the log does not verify, cannot
be verified (no trusted key, no digest in the witness: "unverified") or on any gatekeeper error, 2 on
a usage error.

``verify`` trusts only what is kept outside the log: the keys pinned in ``[audit] trusted_keys`` and
in the state store (and ``--public-key``), and the witness's latest digest (``[audit] witness``).
``keys`` lists the pinned keys; ``rotate-key`` hands trust from the signing key to a new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from gatekeeper.audit.render import decision_markup as _decision
from gatekeeper.audit.render import render_summary, render_verify
from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, err_console, fail
from gatekeeper.cli._common import config as load_cfg
from gatekeeper.errors import GatekeeperError

if TYPE_CHECKING:
    from rich.progress import Progress

    from gatekeeper.audit.review import Filters

app = typer.Typer(help="The tamper-evident audit log: verify it, query it, summarize, export, replay.",
                  no_args_is_help=True)

FromOpt = Annotated[Path | None, typer.Option("--from", help="Log directory (or, for verify, one segment file) "
                                              "instead of the configured one.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From this date/time (YYYY-MM-DD or ISO 8601, UTC).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Until this date/time (a date includes that day).")]
DecisionOpt = Annotated[str | None, typer.Option("--decision", help="allow, flag, pending or deny.")]
CustomerOpt = Annotated[str | None, typer.Option("--customer", help="Account id, or part of the legal name.")]
CountryOpt = Annotated[str | None, typer.Option("--country", help="Customer's country, headquarters or parent "
                                                "(ISO alpha-2).")]
ChipOpt = Annotated[str | None, typer.Option("--chip", help="Accelerator model or family, e.g. H100 (finds "
                                             "H100-SXM, H100-PCIe, H100-NVL).")]
RuleOpt = Annotated[str | None, typer.Option("--rule", help="Matched rule id.")]
ProviderOpt = Annotated[str | None, typer.Option("--provider", help="aws, azure or gcp.")]
KindOpt = Annotated[str, typer.Option("--kind", help="Record kind: decision, all, or e.g. 'case.*'.")]



def _log_dir(config: Path | None, from_: Path | None) -> Path:
    if from_ is not None:
        return from_
    from gatekeeper.audit import local_directory

    cfg = load_cfg(config)
    return local_directory(cfg.audit.url, Path(cfg.base_dir))


def _filters(since: str | None, until: str | None, decision: str | None, customer: str | None,
             country: str | None, chip: str | None, rule: str | None, provider: str | None,
             kind: str = "decision") -> Filters:
    from gatekeeper.audit.review import Filters, parse_when

    return Filters(since=parse_when(since), until=parse_when(until, end=True), decision=decision,
                   customer=customer, country=country, chip=chip, rule=rule, provider=provider, kind=kind)


@contextmanager
def _progress(json_out: bool, *, bytes_: bool = False) -> Iterator[Progress]:
    # rich is imported here, not with the module: a --json summary or query prints no table.
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    columns += [DownloadColumn()] if bytes_ else [MofNCompleteColumn()]
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True,
                  disable=json_out or not err_console.is_terminal) as progress:
        yield progress


def _join(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else ""


@app.command("verify")
def verify(
    from_: FromOpt = None,
    public_key: Annotated[list[Path] | None, typer.Option(
        "--public-key", help="Also trust this public key (PEM); repeatable. The keys pinned in [audit] "
        "trusted_keys and the state store are trusted anyway; the keys beside the log never.")] = None,
    anchor: Annotated[str | None, typer.Option(
        "--anchor", help="SEQ:HASH noted from an earlier verify; fails if that record is gone or changed.")] = None,
    remote: Annotated[bool, typer.Option(
        "--remote", help="For an s3://, azblob:// or gs:// log: download what is in the object store and "
        "verify that, not the local spool.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every record's hash, the chain, and the signed checkpoints; name the first bad record."""
    from gatekeeper.audit.verify import verify_log

    anchor_t = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            fail(f"--anchor must be SEQ:HASH (a 64-hex hash), not {anchor!r}", as_json=json_out)
        anchor_t = (int(seq), digest)
    import tempfile  # here: the read commands never need it

    from gatekeeper.stores.audit_trust import trust_from_config

    try:
        with tempfile.TemporaryDirectory(prefix="gatekeeper-audit-") as tmp:
            path = _remote_copy(config, Path(tmp)) if remote else _log_dir(config, from_)
            size = _size(path)
            trust = trust_from_config(load_cfg(config))
            try:
                with _progress(json_out, bytes_=True) as progress:
                    task = progress.add_task("verifying", total=size)
                    report = verify_log(path, public_keys=public_key or [], trust=trust, anchor=anchor_t,
                                        progress=lambda n: progress.advance(task, n), uploaded_copy=remote)
            finally:
                trust.close()
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    if json_out:
        emit_json(report.as_dict())
    else:
        render_verify(console, report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("keys")
def keys(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """The keys trusted to sign the log: pinned in the config and in the state store, and the current key."""
    from gatekeeper.audit._keys import fingerprint, load_public_key
    from gatekeeper.stores.audit_trust import trust_from_config

    cfg = load_cfg(config)
    try:
        trust = trust_from_config(cfg)
        try:
            pinned = trust.keys.pinned_keys(cfg.audit.log_id) if trust.keys is not None else []
        finally:
            trust.close()
        key_path = cfg.resolve(cfg.audit.signing_key)
        current = fingerprint(load_public_key(key_path)) if key_path.exists() else None
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    rows = [{"fingerprint": p.fingerprint, "where": "state store", "reason": p.reason, "pinned_at": p.pinned_at,
             "signed_by": p.signed_by} for p in pinned]
    rows += [{"fingerprint": f, "where": "config", "reason": "trusted_keys", "pinned_at": None, "signed_by": None}
             for f in sorted(trust.fingerprints)]
    if json_out:
        emit_json({"log_id": cfg.audit.log_id, "signing_key": current, "pinned": rows})
        return
    from rich.table import Table

    t = Table(title=f"keys trusted to sign audit log {cfg.audit.log_id!r}")
    for col in ("fingerprint", "pinned in", "why", "when", "rotated from"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["fingerprint"], r["where"], r["reason"], r["pinned_at"] or "", r["signed_by"] or "")
    console.print(t)
    console.print(f"signing key {cfg.audit.signing_key}: {current or 'not created yet'}", highlight=False)


@app.command("rotate-key")
def rotate_key(
    by: Annotated[str, typer.Option("--by", help="Who rotates the key (recorded).")],
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Hand trust from the signing key to a new one: a record signed by the old key, pinned in the store."""
    from gatekeeper.audit import open_audit_log
    from gatekeeper.audit._keys import fingerprint, load_or_create_signer
    from gatekeeper.audit._rotate import rotate_signing_key
    from gatekeeper.stores.audit_trust import trust_from_config

    cfg = load_cfg(config)
    a = cfg.audit
    key_path = cfg.resolve(a.signing_key)
    if not by.strip():
        fail("--by must name who rotates the key", as_json=json_out)
    if not key_path.exists():
        fail(f"no signing key at {key_path} to rotate (one is created with the first record)", as_json=json_out)
    try:
        old = load_or_create_signer(key_path)
        trust = trust_from_config(cfg)
        log = open_audit_log(a.url, signing_key=key_path, segment_max_bytes=a.segment_max_bytes,
                             segment_max_seconds=a.segment_max_seconds, base_dir=Path(cfg.base_dir), trust=trust,
                             witness_interval=a.witness_interval_seconds)
        new = rotate_signing_key(log, old, key_path, trust, actor=by.strip())
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    out = {"previous": fingerprint(old.public_key), "new": fingerprint(new.public_key), "signing_key": str(key_path)}
    if json_out:
        emit_json(out)
        return
    console.print(f"[green]rotated[/]: {out['previous']} -> {out['new']}; restart the writers to sign with the "
                  "new key, and add its fingerprint to [audit] trusted_keys where you pin keys in the config",
                  highlight=False)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.glob("segment-*.jsonl")) if path.is_dir() else 0


def _remote_copy(config: Path | None, dest: Path) -> Path:
    from gatekeeper.audit import OBJECT_STORES, remote_sink
    from gatekeeper.audit._shipper import download

    cfg = load_cfg(config)
    if cfg.audit.url.split("://", 1)[0] not in OBJECT_STORES:
        fail(f"--remote needs an s3://, azblob:// or gs:// audit URL; the configured one is {cfg.audit.url}")
    download(remote_sink(cfg.audit.url, Path(cfg.base_dir)), dest)
    return dest


@app.command("query")
def query(
    since: SinceOpt = None, until: UntilOpt = None, decision: DecisionOpt = None, customer: CustomerOpt = None,
    country: CountryOpt = None, chip: ChipOpt = None, rule: RuleOpt = None, provider: ProviderOpt = None,
    kind: KindOpt = "decision",
    limit: Annotated[int, typer.Option("--limit", help="At most this many records (oldest first).")] = 100,
    from_: FromOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the records that match (decisions by default)."""
    from gatekeeper.audit.review import AuditReader

    try:
        flt = _filters(since, until, decision, customer, country, chip, rule, provider, kind)
        with AuditReader(_log_dir(config, from_)) as reader:
            rows = reader.query(flt, limit=limit)
            total = reader.count(flt)
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    if json_out:
        emit_json({"total": total, "records": rows})
        return
    from rich.table import Table

    t = Table(title=f"{len(rows)} of {total} records")
    for col in ("seq", "time (UTC)", "decision", "customer", "countries", "chips", "rules", "request", "case",
                "licence"):  # ids are not broken across lines (they are copied into other commands)
        t.add_column(col, overflow="fold", no_wrap=col in ("seq", "time (UTC)", "case", "licence"))
    for r in rows:
        customer_s = " ".join(x for x in (r["legal_name"], f"({r['account_id']})" if r["account_id"] else "") if x)
        request = " ".join(x for x in (r["provider"], r["operation"], r["region"]) if x)
        t.add_row(str(r["seq"]), str(r["ts"] or "")[:19], _decision(r["decision"] or r["kind"]), customer_s,
                  _join(r["countries"]), _join(r["chips"]), _join(r["rule_ids"]), request,
                  r["case_id"] or "", r["licence_id"] or "")
    console.print(t)


@app.command("summary")
def summary(
    since: SinceOpt = None, until: UntilOpt = None, decision: DecisionOpt = None, customer: CustomerOpt = None,
    country: CountryOpt = None, chip: ChipOpt = None, rule: RuleOpt = None, provider: ProviderOpt = None,
    from_: FromOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Counts of decisions by outcome, country, chip and rule, and by day."""
    from gatekeeper.audit.review import AuditReader

    try:
        flt = _filters(since, until, decision, customer, country, chip, rule, provider)
        with AuditReader(_log_dir(config, from_)) as reader:
            s = reader.summary(flt)
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    if json_out:
        emit_json(s)
        return
    render_summary(console, s)


@app.command("index")
def index(
    check: Annotated[bool, typer.Option("--check", help="Also re-derive every sidecar from its segment and "
                                        "compare each row (as verify does).")] = False,
    from_: FromOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the columnar sidecars that closed segments lack (logs written before sidecars existed).

    Summaries and queries read a closed segment's sidecar instead of its JSON; a sidecar is used only
    while it matches its segment's checkpoint. A small segment gets none (its JSON reads as fast).
    With --check, a sidecar whose rows differ from its segment is reported and the command exits 1.
    """
    from gatekeeper.audit._format import list_segments
    from gatekeeper.audit._sidecar import (
        COLUMNS,
        check_sidecar,
        read_checkpoint,
        segment_wanted,
        sidecar_path,
        write_missing,
    )

    try:
        directory = _log_dir(config, from_)
        segments, checkpoints = list_segments(directory)
        closed = [(segments[i], checkpoints[i]) for i in sorted(checkpoints) if i in segments]
        with _progress(json_out) as progress:
            task = progress.add_task("indexing", total=len(closed))
            written: list[Path] = []
            for pair in closed:
                written += write_missing(directory, COLUMNS, [pair])
                progress.advance(task)
        # A small segment has no sidecar by design; one it has anyway (an earlier release's) is
        # checked like any other.
        small = [seg for seg, cp in closed if not sidecar_path(seg).exists()
                 and (c := read_checkpoint(cp)) is not None and not segment_wanted(seg, c)]
        problems = {seg.name: p for seg, _ in closed
                    if check and seg not in small and (p := check_sidecar(seg, sidecar_path(seg), COLUMNS)) is not None}
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    if json_out:
        emit_json({"closed_segments": len(closed), "written": [p.name for p in written], "small": len(small),
                   "problems": problems})
    else:
        console.print(f"{len(closed)} closed segment(s); {len(written)} sidecar(s) written"
                      + (f"; {len(small)} too small for one (read from their JSON)" if small else "")
                      + (f"; {len(closed) - len(small) - len(problems)} checked" if check else ""))
        for name, problem in problems.items():
            err_console.print(f"sidecar of {name}: {problem}", markup=False)
    if problems:
        raise typer.Exit(1)


@app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", help="File to write.")] = None,
    since: SinceOpt = None, until: UntilOpt = None, decision: DecisionOpt = None, customer: CustomerOpt = None,
    country: CountryOpt = None, chip: ChipOpt = None, rule: RuleOpt = None, provider: ProviderOpt = None,
    kind: KindOpt = "decision",
    from_: FromOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the matching records to a CSV or Parquet file (lists joined with ';' in CSV)."""
    from gatekeeper.audit.review import AuditReader

    if fmt not in ("csv", "parquet"):
        fail(f"--format must be csv or parquet, not {fmt!r}", as_json=json_out)
    if output is None:
        fail("--output PATH is required", as_json=json_out)
    chosen: Literal["csv", "parquet"] = "csv" if fmt == "csv" else "parquet"
    try:
        flt = _filters(since, until, decision, customer, country, chip, rule, provider, kind)
        with AuditReader(_log_dir(config, from_)) as reader, _progress(json_out) as progress:
            progress.add_task(f"exporting {len(reader.files)} segments", total=None)
            n = reader.export(flt, chosen, output)
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    if json_out:
        emit_json({"exported": n, "format": fmt, "output": str(output)})
    else:
        console.print(f"[green]exported {n:,} records[/] to {output} ({fmt})", highlight=False)


@app.command("replay")
def replay(
    policies: Annotated[list[Path], typer.Option("--policies", help="Pack file or folder to decide under "
                                                 "(repeatable), e.g. policies/ai-diffusion-2025.yaml.")],
    honour_dates: Annotated[bool, typer.Option("--honour-dates", help="Apply the packs' effective dates on each "
                                               "record's date (default: simulate them as in force).")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Apply effective dates as of this day (YYYY-MM-DD) "
                                              "for every record.")] = None,
    reclassify: Annotated[bool, typer.Option("--reclassify", help="Classify with today's catalog instead of "
                                             "the classification recorded.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List unchanged records too.")] = False,
    since: SinceOpt = None, until: UntilOpt = None, decision: DecisionOpt = None, customer: CustomerOpt = None,
    country: CountryOpt = None, chip: ChipOpt = None, rule: RuleOpt = None, provider: ProviderOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows in the table.")] = 100,
    from_: FromOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Decide the recorded requests again under other packs and show what would change."""
    from gatekeeper.audit.replay import replay as run_replay

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        fail(f"--as-of must be YYYY-MM-DD, not {as_of!r}", as_json=json_out)
    try:
        flt = _filters(since, until, decision, customer, country, chip, rule, provider)
        with _progress(json_out) as progress:
            task = progress.add_task("replaying", total=None)
            report = run_replay(_log_dir(config, from_), policies, filters=flt, honour_dates=honour_dates,
                                as_of=day, reclassify=reclassify, include_unchanged=show_all,
                                progress=lambda n: progress.advance(task, n),
                                total=lambda n: progress.update(task, total=n))
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    if json_out:
        emit_json(report.as_dict())
        return
    from rich.table import Table

    t = Table(title=f"replay under {', '.join(str(p) for p in policies)}")
    for col in ("seq", "decision id", "customer", "recorded", "policy then", "policy now", "rules then",
                "rules now"):
        t.add_column(col, overflow="fold")
    for r in report.rows[:limit]:
        now = _decision(r.new) if r.new == r.old else f"[bold]{_decision(r.new)}[/]"
        t.add_row(str(r.seq), r.decision_id, r.legal_name or r.account_id, _decision(r.recorded), _decision(r.old),
                  now, _join(r.old_rules), _join(r.new_rules))
    console.print(t)
    if len(report.rows) > limit:
        console.print(f"({len(report.rows) - limit} more rows; --limit or --json to see them)")
    moves = "; ".join(f"{k}: {v}" for k, v in report.breakdown().items())
    console.print(f"[bold]{report.records:,} decisions replayed, {report.changed:,} would change[/]"
                  + (f" ({moves})" if moves else ""), highlight=False)
    for did, why in report.errors:
        err_console.print(f"[yellow]not replayed[/] {did}: {why}", highlight=False)


@app.command("reconcile")
def reconcile(
    from_: FromOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Reviewer records whose change is not in the state store (nor voided by a failure record).

    Exit 1 when any is found: a crash between a reviewer's record and its commit left it.
    """
    from gatekeeper.cli._common import opened
    from gatekeeper.reconcile import reconcile_log

    with opened(config, as_json=json_out) as gk:
        directory = _log_dir(config, from_)
        result = reconcile_log(directory, gk.store)
    if json_out:
        emit_json(result.as_dict())
    else:
        from rich.table import Table

        t = Table(title=f"reviewer records without their change ({directory})")
        for col in ("seq", "kind", "actor", "at", "about", "store holds"):
            t.add_column(col, overflow="fold")
        for u in result.unmatched:
            t.add_row(str(u.seq), u.kind, u.actor, u.at, u.about, u.why)
        if result.unmatched:
            console.print(t)
        console.print(f"[bold]{result.summary()}[/]", highlight=False)
    if result.unmatched:
        raise typer.Exit(1)
