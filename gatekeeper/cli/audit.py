"""``gatekeeper audit``: verify, query, summarize, export and replay the audit log.

Every command reads the log named by ``[audit] url`` of the configuration (the local spool for
``s3://``), or the directory given with ``--from``. Tables for reviewers by default, ``--json`` for
scripts; progress bars (on a terminal) for long runs. Exit status: 0 when the command did its job
(for ``verify``: the log is intact), 1 when the log does not verify or on any gatekeeper error,
2 on a usage error.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gatekeeper.audit.render import decision_markup as _decision
from gatekeeper.audit.render import render_summary, render_verify
from gatekeeper.cli._common import ConfigOpt, JsonOpt, console, emit_json, err_console, fail
from gatekeeper.cli._common import config as load_cfg
from gatekeeper.errors import GatekeeperError

if TYPE_CHECKING:
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
ChipOpt = Annotated[str | None, typer.Option("--chip", help="Accelerator model, e.g. H100.")]
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
        "--public-key", help="Trusted public key (PEM) the checkpoints must be signed with; repeat for rotated "
        "keys. Default: the keys stored beside the log.")] = None,
    anchor: Annotated[str | None, typer.Option(
        "--anchor", help="SEQ:HASH noted from an earlier verify; fails if that record is gone or changed.")] = None,
    remote: Annotated[bool, typer.Option(
        "--remote", help="For an s3:// log: download what is in S3 and verify that, not the local spool.")] = False,
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
    try:
        with tempfile.TemporaryDirectory(prefix="gatekeeper-audit-") as tmp:
            path = _remote_copy(config, Path(tmp)) if remote else _log_dir(config, from_)
            size = _size(path)
            with _progress(json_out, bytes_=True) as progress:
                task = progress.add_task("verifying", total=size)
                report = verify_log(path, public_keys=public_key or [], anchor=anchor_t,
                                    progress=lambda n: progress.advance(task, n))
    except GatekeeperError as exc:
        fail(exc, as_json=json_out)
    if json_out:
        emit_json(report.as_dict())
    else:
        render_verify(console, report)
    if not report.ok:
        raise typer.Exit(1)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.glob("segment-*.jsonl")) if path.is_dir() else 0


def _remote_copy(config: Path | None, dest: Path) -> Path:
    from gatekeeper.audit._s3 import S3Sink, parse_s3_url

    cfg = load_cfg(config)
    if not cfg.audit.url.startswith("s3://"):
        fail(f"--remote needs an s3:// audit URL; the configured one is {cfg.audit.url}")
    S3Sink(parse_s3_url(cfg.audit.url, Path(cfg.base_dir))).download(dest)
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
    t = Table(title=f"{len(rows)} of {total} records")
    for col in ("seq", "time (UTC)", "decision", "customer", "countries", "chips", "rules", "request", "case"):
        t.add_column(col, overflow="fold")
    for r in rows:
        customer_s = " ".join(x for x in (r["legal_name"], f"({r['account_id']})" if r["account_id"] else "") if x)
        request = " ".join(x for x in (r["provider"], r["operation"], r["region"]) if x)
        t.add_row(str(r["seq"]), str(r["ts"] or "")[:19], _decision(r["decision"] or r["kind"]), customer_s,
                  _join(r["countries"]), _join(r["chips"]), _join(r["rule_ids"]), request,
                  r["case_id"] or r["licence_id"] or "")
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
    moves = "; ".join(f"{k}: {v}" for k, v in report.transitions.items())
    console.print(f"[bold]{report.records:,} decisions replayed, {report.changed:,} would change[/]"
                  + (f" ({moves})" if moves else ""), highlight=False)
    for did, why in report.errors:
        err_console.print(f"[yellow]not replayed[/] {did}: {why}", highlight=False)
