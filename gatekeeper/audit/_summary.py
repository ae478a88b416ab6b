"""The audit summary's counts, computed over *groups* of records wherever the records come from.

A group is a set of records that agree on everything the summary counts and every filter but the
customer one can test: ``day`` (the UTC date of ``ts_utc``), ``decision``, ``countries``, ``chips``,
``rule_ids`` (and, in a sidecar's footer, ``kind`` and ``provider``), with ``n`` records whose
times run from ``ts_min`` to ``ts_max``. ``summarize`` counts over such a table; it gives exactly
what counting the records one by one gives, because every count it makes is a sum of ``n`` over
groups that a record-level count would have split the same way.

The groups come from two places, merged in one table before ``summarize`` runs once:

- a closed segment's sidecar keeps its segment's groups in its footer (``GROUP_KEYS`` plus ``n``,
  ``ts_min`` and ``ts_max``), so a summary filtered on kind, decision, country, chip, rule,
  provider, or a time range that does not cut a group, reads footers instead of rows;
- the other records (the open segment, a segment without a usable sidecar, a group cut by
  ``--since``/``--until``, any ``--customer`` filter) are grouped by ``group_rows`` from a scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DECISIONS = ("allow", "flag", "pending", "deny")
# What a sidecar footer's groups are keyed by (with the UTC day), and their SQL types.
GROUP_KEYS: dict[str, str] = {"kind": "VARCHAR", "decision": "VARCHAR", "provider": "VARCHAR",
                              "countries": "VARCHAR[]", "chips": "VARCHAR[]", "rule_ids": "VARCHAR[]"}
# The columns of the table ``summarize`` reads.
SUMMARY_GROUP = ("day", "decision", "countries", "chips", "rule_ids", "n", "ts_min", "ts_max")

Run = Callable[[str], list[tuple[Any, ...]]]


def group_rows(source: str, keys: tuple[str, ...] = ("decision", "countries", "chips", "rule_ids")) -> str:
    """SQL grouping the records of ``source`` (a relation with ``ts_utc`` and ``keys``) into groups."""
    cols = ", ".join(keys)
    return (f"SELECT CAST(ts_utc AS DATE) AS day, {cols}, count(*) AS n, min(ts_utc) AS ts_min, "
            f"max(ts_utc) AS ts_max FROM {source} GROUP BY ALL")


def summarize(run: Run, table: str) -> dict[str, Any]:
    """The summary's groupings over ``table`` (one row a group: ``SUMMARY_GROUP``), each a query through
    ``run``."""

    def counts(values: str, alias: str) -> list[dict[str, Any]]:
        """How many records hold each value of the query ``values`` (value, n), most frequent first."""
        rows = run(f"SELECT k, sum(n) AS c FROM ({values}) AS v(k, n) GROUP BY k ORDER BY c DESC, k")
        return [{alias: k, "count": int(c)} for k, c in rows if k is not None]

    def list_counts(column: str, alias: str) -> list[dict[str, Any]]:
        # A record counts once per distinct value. Most lists hold one value, and list_distinct on
        # every row cost more than the unnest and count: dedupe only the longer lists.
        return counts(f"SELECT unnest({column}), n FROM {table} WHERE len({column}) < 2 UNION ALL "
                      f"SELECT unnest(list_distinct({column})), n FROM {table} WHERE len({column}) >= 2", alias)

    # Grouped by DATE (UTC: the session's time zone) and named in Python.
    day_rows = run(f"SELECT day, decision, sum(n) FROM {table} GROUP BY day, decision ORDER BY day")
    days: dict[str, dict[str, Any]] = {}
    for d, decision, n in day_rows:
        _add_day(days, d.isoformat() if d is not None else "unknown", decision, int(n))
    total = run(f"SELECT coalesce(sum(n), 0), min(ts_min), max(ts_max) FROM {table}")[0]
    return {
        "total": int(total[0]),
        "first": total[1].isoformat() if total[1] else None,
        "last": total[2].isoformat() if total[2] else None,
        "by_decision": counts(f"SELECT decision, n FROM {table}", "decision"),
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
