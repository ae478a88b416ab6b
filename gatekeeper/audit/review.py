"""Reading the audit log with DuckDB: query, summary and export (CSV or Parquet).

DuckDB's ``read_json`` reads the segment files directly (newline-delimited JSON) with an explicit
column list, so there is no import step and a million records answer in seconds. Only the flat
fields that the decision record duplicates for this purpose are typed (``countries``, ``chips``,
``rule_ids`` ...); nested parts (``items``, ``rules``, ``subject``, ``data``) come back as JSON.

Reading does not verify: run ``gatekeeper audit verify`` to know the records are the ones written.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb

from gatekeeper.audit._format import list_segments
from gatekeeper.audit._sidecar import (
    COLUMNS,
    footer_matches,
    footer_summary,
    read_checkpoint,
    read_footers,
    sidecar_path,
)
from gatekeeper.audit._summary import merge_summaries, summarize
from gatekeeper.errors import AuditError, InvalidInputError

DECISIONS = ("allow", "flag", "pending", "deny")


# What `audit query` shows and `audit export` writes, in order.
ROW_FIELDS = ("seq", "ts", "kind", "decision_id", "decision", "policy_decision", "mode", "source", "provider",
              "service", "operation", "region", "principal", "account_id", "legal_name", "country", "countries",
              "chips", "export_classes", "rule_ids", "licence_id", "case_id", "error", "actor", "hash")
_LISTS = {"countries", "chips", "export_classes", "rule_ids"}
# What ``summary`` reads: the fields it counts and every field a Filters clause can name.
_SUMMARY_COLUMNS = {k: COLUMNS[k] for k in ("kind", "ts", "decision", "countries", "chips", "rule_ids",
                                            "account_id", "legal_name", "provider")}


@dataclass(frozen=True)
class Filters:
    """Which records a review looks at. ``kind``: "decision" (default), "all", or a kind, ``*`` as wildcard."""

    since: datetime | None = None
    until: datetime | None = None
    decision: str | None = None
    customer: str | None = None
    country: str | None = None
    chip: str | None = None
    rule: str | None = None
    provider: str | None = None
    kind: str = "decision"

    def __post_init__(self) -> None:
        if self.decision is not None and self.decision.lower() not in DECISIONS:
            raise InvalidInputError(f"unknown decision {self.decision!r}; expected one of {', '.join(DECISIONS)}",
                                    field="decision")
        if self.since and self.until and self.since > self.until:
            raise InvalidInputError("--since is after --until", field="since")
        if self.country is not None and not re.fullmatch(r"[A-Za-z]{2}", self.country):
            raise InvalidInputError(f"country {self.country!r} is not an ISO 3166 alpha-2 code", field="country")
        if not self.kind or not re.fullmatch(r"[a-z0-9_.*]+", self.kind):
            raise InvalidInputError(f"bad kind {self.kind!r}", field="kind")

    def where(self) -> tuple[str, list[Any]]:
        """A SQL WHERE clause (with ``?`` parameters) over the ``records`` view."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.kind != "all":
            clauses.append("kind LIKE ?")
            params.append(self.kind.replace("*", "%"))
        if self.since:
            clauses.append("ts_utc >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("ts_utc < ?")
            params.append(self.until)
        if self.decision:
            clauses.append("decision = ?")
            params.append(self.decision.lower())
        if self.customer:
            clauses.append("(account_id = ? OR legal_name ILIKE ?)")
            params += [self.customer, f"%{self.customer}%"]
        if self.country:
            clauses.append("list_contains(countries, ?)")
            params.append(self.country.upper())
        if self.chip:
            # A family: "H100" finds H100-SXM, H100-PCIe and H100-NVL; "A10" finds A10, not A100 or A10G.
            clauses.append("EXISTS (SELECT 1 FROM unnest(chips) AS t(c) WHERE lower(c) = ? "
                           "OR starts_with(lower(c), ? || '-'))")
            params += [self.chip.strip().lower()] * 2
        if self.rule:
            clauses.append("list_contains(rule_ids, ?)")
            params.append(self.rule)
        if self.provider:
            clauses.append("provider = ?")
            params.append(self.provider.lower())
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def parse_when(value: str | None, *, end: bool = False) -> datetime | None:
    """``2025-03-01`` or an ISO timestamp; a bare date as ``--until`` means the end of that day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            start = datetime.combine(date.fromisoformat(value), time.min, UTC)
            return start + timedelta(days=1) if end else start
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"bad date/time {value!r}; use YYYY-MM-DD or an ISO 8601 timestamp") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class AuditReader:
    """A DuckDB view (``records``) over the segment files of one log directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise AuditError(f"no audit log at {self.directory}")
        segments, checkpoints = list_segments(self.directory)
        # Closed segments are read from their columnar sidecar when it matches their checkpoint;
        # the others (the open segment, logs written before sidecars) from their JSON.
        self.sidecars: list[str] = []
        self.files: list[str] = []
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        candidates = {i: sidecar_path(segments[i]) for i in segments if i in checkpoints}
        footers = read_footers([p for p in candidates.values() if p.exists()], self.con)
        self._footers: dict[str, dict[str, str]] = {}
        for i in sorted(segments):
            side = candidates.get(i)
            meta = footers.get(str(side)) if side is not None else None
            cp = read_checkpoint(checkpoints[i]) if meta else None
            if meta and cp is not None and footer_matches(meta, cp):
                self.sidecars.append(str(side))
                self._footers[str(side)] = meta
            else:
                self.files.append(str(segments[i]))
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if segments and max(segments) not in checkpoints:
            # The open segment may end in a torn line (a crash not yet repaired, or a write landing
            # while we read): read a snapshot of it up to its last complete line.
            self.files[-1] = self._snapshot(Path(self.files[-1]))
        self.bytes = sum(Path(f).stat().st_size for f in (*self.sidecars, *self.files))
        self.con.execute(f"CREATE VIEW records AS SELECT * FROM {self._source(COLUMNS)}")

    def _source(self, columns: dict[str, str], *, sidecars: bool = True) -> str:
        """``columns`` and ``ts_utc`` of every record: sidecars' columns, the rest's JSON (declared, never
        sniffed), one relation."""
        parts = []
        if self.sidecars and sidecars:
            cols = ", ".join(f"CAST({k} AS JSON) AS {k}" if v == "JSON" else k for k, v in columns.items())
            parquet = "[" + ", ".join(_quote(f) for f in self.sidecars) + "]"
            parts.append(f"SELECT {cols}, ts_utc FROM read_parquet({parquet})")
        if self.files:
            cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
            files = "[" + ", ".join(_quote(f) for f in self.files) + "]"
            parts.append(f"SELECT *, TRY_CAST(ts AS TIMESTAMPTZ) AS ts_utc "
                         f"FROM read_json({files}, format='newline_delimited', columns={cols})")
        if not parts:  # an empty log: the same columns, no rows
            return ("(SELECT " + ", ".join(f"NULL::{v} AS {k}" for k, v in columns.items())
                    + ", NULL::TIMESTAMPTZ AS ts_utc WHERE false)")
        return "(" + " UNION ALL BY NAME ".join(parts) + ")"

    def _snapshot(self, path: Path) -> str:
        with open(path, "rb") as f:
            data = f.read()
        end = data.rfind(b"\n") + 1
        if end == len(data):
            return str(path)
        self._tmp = tempfile.TemporaryDirectory(prefix="gatekeeper-review-")
        copy = Path(self._tmp.name) / path.name
        copy.write_bytes(data[:end])
        return str(copy)

    def close(self) -> None:
        self.con.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> AuditReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise AuditError(f"cannot read the audit log at {self.directory}: {exc}") from exc

    def query(self, filters: Filters, limit: int | None = 100) -> list[dict[str, Any]]:
        """Matching records, oldest first (by seq), as flat dicts (lists stay lists)."""
        where, params = filters.where()
        cols = ", ".join("CAST(ts_utc AS VARCHAR) AS ts" if f == "ts" else f for f in ROW_FIELDS)
        sql = f"SELECT {cols} FROM records{where} ORDER BY seq"
        if limit is not None:
            if limit < 1:
                raise InvalidInputError("--limit must be at least 1", field="limit")
            sql += f" LIMIT {int(limit)}"
        return [dict(zip(ROW_FIELDS, row, strict=True)) for row in self._run(sql, params)]

    def count(self, filters: Filters) -> int:
        where, params = filters.where()
        return int(self._run(f"SELECT count(*) FROM records{where}", params)[0][0])

    def summary(self, filters: Filters) -> dict[str, Any]:
        """Counts by decision, country, chip, rule, and by day (per decision).

        Unfiltered, each closed segment's counts come precomputed from its sidecar's footer and only
        the open segment is read, so the cost does not grow with the log. Otherwise the JSON (or the
        sidecars' columns) is read once: the few flat fields that the summary and the filters use go
        into a temporary table, and every count runs on that.
        """
        if filters == Filters() and self.sidecars:
            parts = [footer_summary(self._footers[p]) for p in self.sidecars]
            if all(p is not None for p in parts):
                rest = self._scan_summary(filters, self._source(_SUMMARY_COLUMNS, sidecars=False)) \
                    if self.files else None
                return merge_summaries([p for p in (*parts, rest) if p is not None])
        return self._scan_summary(filters, self._source(_SUMMARY_COLUMNS))

    def _scan_summary(self, filters: Filters, source: str) -> dict[str, Any]:
        where, params = filters.where()
        self._run("CREATE OR REPLACE TEMP TABLE summary_rows AS SELECT ts_utc, decision, countries, chips, rule_ids "
                  f"FROM {source}{where}", params)
        try:
            return summarize(self._run, "summary_rows")
        finally:
            self._run("DROP TABLE IF EXISTS summary_rows")

    def export(self, filters: Filters, fmt: Literal["csv", "parquet"], output: Path) -> int:
        """Write matching records to ``output``; the number of rows written."""
        where, params = filters.where()
        if fmt == "csv":
            cols = ", ".join(f"array_to_string({f}, ';') AS {f}" if f in _LISTS else
                             ("CAST(ts_utc AS VARCHAR) AS ts" if f == "ts" else f) for f in ROW_FIELDS)
            options = ""  # written by _csv (neutralised), not by COPY
        elif fmt == "parquet":
            cols = ", ".join("ts_utc AS ts" if f == "ts" else f for f in ROW_FIELDS)
            cols += ", CAST(items AS VARCHAR) AS items, CAST(rules AS VARCHAR) AS rules"
            options = "FORMAT parquet, COMPRESSION zstd"
        else:
            raise InvalidInputError(f"unknown export format {fmt!r}; expected csv or parquet", field="format")
        output = Path(output)
        if output.is_dir():
            raise InvalidInputError(f"{output} is a directory; give a file name", field="output")
        if not output.parent.is_dir():
            raise InvalidInputError(f"folder {output.parent} does not exist", field="output")
        # Write to a temporary name and rename, so a failed export never leaves half a file.
        tmp = output.with_name(f".{output.name}.partial")
        target = "'" + str(tmp).replace("'", "''") + "'"
        try:
            if fmt == "csv":
                self._csv(f"SELECT {cols} FROM records{where} ORDER BY seq", params, tmp)
            else:
                self._run(f"COPY (SELECT {cols} FROM records{where} ORDER BY seq) TO {target} ({options})", params)
            tmp.replace(output)
        finally:
            tmp.unlink(missing_ok=True)
        return self.count(filters)

    def _csv(self, sql: str, params: Sequence[Any], path: Path) -> None:
        """Stream the query's rows into a CSV file whose formula-like cells are neutralised (csvsafe)."""
        from gatekeeper.csvsafe import write_csv

        try:
            cur = self.con.execute(sql, list(params))
            header = [c[0] for c in cur.description or ()]

            def rows() -> Iterator[tuple[Any, ...]]:
                while batch := cur.fetchmany(10_000):
                    yield from batch

            with path.open("w", encoding="utf-8", newline="") as f:
                write_csv(f, header, rows())
        except duckdb.Error as exc:
            raise AuditError(f"cannot read the audit log at {self.directory}: {exc}") from exc
        except OSError as exc:
            raise AuditError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def decision_records(self, filters: Filters) -> list[dict[str, Any]]:
        """Whole decision records (nested parts parsed), oldest first: what replay needs."""
        where, params = filters.where()
        if filters.kind != "decision":
            where += (" AND " if where else " WHERE ") + "kind = 'decision'"
        flat = ("schema", "provider", "account_id", "region", "service", "operation", "principal", "source",
                "legal_name", "country")
        sql = (f"SELECT seq, ts, decision_id, decision, policy_decision, CAST(request AS VARCHAR), "
               f"CAST(subject AS VARCHAR), CAST(items AS VARCHAR), CAST(rules AS VARCHAR), {', '.join(flat)} "
               f"FROM records{where} ORDER BY seq")
        out = []
        for seq, ts, did, dec, pdec, request, subject, items, rules, *values in self._run(sql, params):
            out.append({"seq": seq, "ts": ts, "kind": "decision", "decision_id": did, "decision": dec,
                        "policy_decision": pdec, **dict(zip(flat, values, strict=True)),
                        "request": json.loads(request) if request else None,
                        "subject": json.loads(subject) if subject else None,
                        "items": json.loads(items) if items else None,
                        "rules": json.loads(rules) if rules else []})
        return out
