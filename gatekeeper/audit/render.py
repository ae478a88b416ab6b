"""Rendering audit reports for reviewers (rich tables): shared by ``gatekeeper audit`` and the demo.

Here, below both, so that the demo does not import the CLI (which imports the demo). rich is
imported when a report is rendered, not with the module: ``--json`` output needs none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from gatekeeper.audit.verify import VerifyReport

_STYLE = {"allow": "green", "flag": "yellow", "pending": "magenta", "deny": "bold red"}


def decision_markup(value: Any) -> str:
    """A decision word in its colour (rich markup); anything else as it is."""
    v = str(value or "")
    return f"[{_STYLE[v]}]{v}[/]" if v in _STYLE else v


def render_verify(out: Console, report: VerifyReport) -> None:
    """The verify result as reviewers read it (also used by ``gatekeeper demo``)."""
    from rich.table import Table

    t = Table(title=f"audit log {report.path}")
    for col in ("segment", "first seq", "last seq", "records", "bytes", "checkpoint", "key"):
        t.add_column(col, justify="right" if col in {"first seq", "last seq", "records", "bytes"} else "left")
    for s in report.segments:
        t.add_row(s.name, str(s.first_seq or ""), str(s.last_seq or ""), str(s.records), f"{s.bytes:,}",
                  {"signed": "[green]signed[/]", "open": "[yellow]open[/]"}.get(s.checkpoint, s.checkpoint),
                  s.key_id or "")
    out.print(t)
    for w in report.warnings:
        out.print(f"[yellow]warning:[/] {w}", highlight=False)
    if report.witness:
        wd = report.witness
        out.print(f"witness: {wd['name']}: digest of seq {wd['seq']} (segment {wd['segment']}), published "
                  f"{wd['at']}, key {wd['key_id']}", highlight=False)
    if report.problem is not None:
        out.print(f"[bold red]FAILED[/]: {report.problem}", highlight=False)
        return
    uncovered = report.head_seq - report.signed_seq
    facts = (f"{report.records:,} records in {len(report.segments)} segments; head seq {report.head_seq} "
             f"hash {report.head_hash}"
             + (f"; the last {uncovered} records (open segment) are not yet covered by a signed checkpoint"
                if uncovered else ""))
    if report.unanchored_records:
        span = f" over {report.unanchored_seconds:.0f} s" if report.unanchored_seconds is not None else ""
        facts += (f"; {report.unanchored_records} records{span} after the witness's digest (seq "
                  f"{report.anchored_seq}) are not yet anchored")
    if report.ok:
        out.print(f"[bold green]intact[/]: {facts}", highlight=False)
    else:
        out.print(f"[bold yellow]unverified[/]: {report.unverified_because}. What could be checked is "
                  f"consistent: {facts}", highlight=False)


def render_summary(out: Console, s: dict[str, Any]) -> None:
    """Summary tables (also used by ``gatekeeper demo``)."""
    from rich.table import Table

    out.print(f"[bold]{s['total']:,} decisions[/]" + (f" from {s['first']} to {s['last']}" if s["total"] else ""),
              highlight=False)
    for key, label in (("by_decision", "decision"), ("by_country", "country"), ("by_chip", "chip"),
                       ("by_rule", "rule")):
        t = Table(title=f"by {label}" + (" (location, headquarters or parent)" if label == "country" else ""))
        t.add_column(label)
        t.add_column("count", justify="right")
        for row in s[key]:
            t.add_row(decision_markup(row[label]) if label == "decision" else str(row[label]), f"{row['count']:,}")
        out.print(t)
    t = Table(title="by day")
    for col in ("day", "allow", "flag", "pending", "deny", "total"):
        t.add_column(col, justify="left" if col == "day" else "right")
    for row in s["by_day"]:
        t.add_row(row["day"], *(f"{row[k]:,}" for k in ("allow", "flag", "pending", "deny", "total")))
    out.print(t)
