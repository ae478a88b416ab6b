"""The audit summary's counts: computed over a table of records, and merged across segments.

One function computes a summary (``summarize``) wherever the records are: ``audit summary`` over a
scan, and the sidecar writer over one closed segment, whose result it keeps in the sidecar's footer.
``merge_summaries`` adds per-segment summaries up, so an unfiltered summary of a long log reads a few
footers and the open segment only; it gives exactly what one scan over all the records gives (a test
holds the two equal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

DECISIONS = ("allow", "flag", "pending", "deny")
# The count lists of a summary and the name of each one's key.
COUNTED = (("by_decision", "decision"), ("by_country", "country"), ("by_chip", "chip"), ("by_rule", "rule"))

Run = Callable[[str], list[tuple[Any, ...]]]


def summarize(run: Run, table: str) -> dict[str, Any]:
    """The summary's groupings over ``table`` (one row a record: ts_utc, decision, countries, chips,
    rule_ids), each a query through ``run``."""

    def counts(values: str, alias: str) -> list[dict[str, Any]]:
        """How often each value of the one-column query ``values`` occurs, most frequent first."""
        rows = run(f"SELECT k, count(*) AS n FROM ({values}) AS v(k) GROUP BY k ORDER BY n DESC, k")
        return [{alias: k, "count": n} for k, n in rows if k is not None]

    def list_counts(column: str, alias: str) -> list[dict[str, Any]]:
        # A record counts once per distinct value. Most lists hold one value, and list_distinct on
        # every row cost more than the unnest and count: dedupe only the longer lists.
        return counts(f"SELECT unnest({column}) FROM {table} WHERE len({column}) < 2 UNION ALL "
                      f"SELECT unnest(list_distinct({column})) FROM {table} WHERE len({column}) >= 2", alias)

    # Grouped by DATE (UTC: the session's time zone) and named in Python: strftime on every row
    # cost more than all the other groupings together.
    day_rows = run(f"SELECT CAST(ts_utc AS DATE) AS d, decision, count(*) FROM {table} GROUP BY d, decision ORDER BY d")
    days: dict[str, dict[str, Any]] = {}
    for d, decision, n in day_rows:
        _add_day(days, d.isoformat() if d is not None else "unknown", decision, n)
    total = run(f"SELECT count(*), min(ts_utc), max(ts_utc) FROM {table}")[0]
    return {
        "total": int(total[0]),
        "first": total[1].isoformat() if total[1] else None,
        "last": total[2].isoformat() if total[2] else None,
        "by_decision": counts(f"SELECT decision FROM {table}", "decision"),
        "by_country": list_counts("countries", "country"),
        "by_chip": list_counts("chips", "chip"),
        "by_rule": list_counts("rule_ids", "rule"),
        "by_day": list(days.values()),
    }


def _add_day(days: dict[str, dict[str, Any]], day: str, decision: str | None, n: int) -> None:
    row = days.setdefault(day, {"day": day, **dict.fromkeys(DECISIONS, 0), "total": 0})
    if decision in DECISIONS:
        row[decision] += n
    row["total"] += n


def _bound(values: Iterable[str | None], pick: Callable[[Sequence[datetime]], datetime]) -> str | None:
    present = [datetime.fromisoformat(v) for v in values if v]
    return pick(present).isoformat() if present else None


def merge_summaries(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One summary of the records of all ``parts`` (each a ``summarize`` result), ordered as it orders."""
    out: dict[str, Any] = {"total": sum(p["total"] for p in parts),
                           "first": _bound((p["first"] for p in parts), min),
                           "last": _bound((p["last"] for p in parts), max)}
    for name, key in COUNTED:
        counts: dict[str, int] = {}
        for p in parts:
            for row in p[name]:
                counts[row[key]] = counts.get(row[key], 0) + row["count"]
        out[name] = [{key: k, "count": n} for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    days: dict[str, dict[str, Any]] = {}
    for p in parts:
        for row in p["by_day"]:
            merged = days.setdefault(row["day"], {"day": row["day"], **dict.fromkeys(DECISIONS, 0), "total": 0})
            for k in (*DECISIONS, "total"):
                merged[k] += row[k]
    # Dates in order, records without a time last (as the scan's ORDER BY puts NULL last).
    out["by_day"] = [days[d] for d in sorted(days, key=lambda d: (d == "unknown", d))]
    return {k: out[k] for k in ("total", "first", "last", "by_decision", "by_country", "by_chip", "by_rule",
                                "by_day")}
