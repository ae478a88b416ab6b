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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gatekeeper._log import get_logger
from gatekeeper.audit._duck import duckdb
from gatekeeper.audit._format import Span, checkpoint_ranges, list_segments
from gatekeeper.audit._sidecar import (
    COLUMNS,
    footer_groups,
    footer_matches,
    footer_range,
    read_checkpoint,
    read_footers,
    sidecar_path,
)
from gatekeeper.audit._summary import SUMMARY_GROUP, group_rows, summarize
from gatekeeper.errors import AuditError, InvalidInputError

if TYPE_CHECKING:
    import tempfile

log = get_logger("gatekeeper.audit")

DECISIONS = ("allow", "flag", "pending", "deny")


# What `audit query` shows and `audit export` writes, in order.
ROW_FIELDS = ("seq", "ts", "kind", "decision_id", "decision", "policy_decision", "mode", "source", "provider",
              "service", "operation", "region", "principal", "account_id", "legal_name", "country", "countries",
              "chips", "export_classes", "rule_ids", "licence_id", "case_id", "error", "actor", "hash")
_LISTS = {"countries", "chips", "export_classes", "rule_ids"}
# What ``summary`` reads: the fields it counts and every field a Filters clause can name.
_SUMMARY_COLUMNS = {k: COLUMNS[k] for k in ("kind", "ts", "decision", "countries", "chips", "rule_ids",
                                            "account_id", "legal_name", "provider")}
# What ``query`` reads (ROW_FIELDS holds every field a Filters clause can name).
_ROW_COLUMNS = {k: COLUMNS[k] for k in ROW_FIELDS}


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
        """A SQL WHERE clause (with ``?`` parameters) over the records (``AuditReader._source``)."""
        clauses, params = self.clauses()
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def clauses(self, lo: str | None = "ts_utc", hi: str | None = "ts_utc", *,
                customer: bool = True) -> tuple[list[str], list[Any]]:
        """The SQL conditions (with ``?`` parameters); ``since`` is tested on column ``lo`` and ``until`` on
        ``hi`` (a footer group's ``ts_min`` and ``ts_max``: all its records in range), neither when None;
        the customer only with ``customer``."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.kind != "all":
            clauses.append("kind LIKE ?")
            params.append(self.kind.replace("*", "%"))
        if self.since and lo is not None:
            clauses.append(f"{lo} >= ?")
            params.append(self.since)
        if self.until and hi is not None:
            clauses.append(f"{hi} < ?")
            params.append(self.until)
        if self.decision:
            clauses.append("decision = ?")
            params.append(self.decision.lower())
        if self.customer and customer:
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
        return clauses, params


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def _list(paths: Iterable[str]) -> str:
    return "[" + ", ".join(_quote(p) for p in paths) + "]"


def _tuple(paths: Iterable[str]) -> str:
    return "(" + ", ".join(_quote(p) for p in paths) + ")"


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


@dataclass(frozen=True)
class _Part:
    """One segment as the reader reads it: its sidecar (``parquet``) or its JSON, and what its footer says."""

    index: int
    path: str
    parquet: bool
    # The footer's time range: (None, None) when no record has a readable time; None when unknown.
    span: tuple[datetime | None, datetime | None] | None = None
    grouped: bool = False  # the footer keeps the segment's groups
    # The checkpoint's time ranges by kind (signed; checked by verify); None when it states none.
    kinds: dict[str | None, Span] | None = None

    def may_match(self, f: Filters) -> bool:
        """False when no record of the segment can fall in ``f``'s time range (known from the
        checkpoint's ranges of the kinds ``f`` selects, else from the footer)."""
        if self.kinds is not None:
            return _kinds_overlap(self.kinds, f)
        return _overlaps(self.span, f)


def _kinds_overlap(kinds: dict[str | None, Span], f: Filters) -> bool:
    """False when none of the kinds ``f`` selects has a range (its records with a time) meeting ``f``'s."""
    if f.since is None and f.until is None:
        return True
    like = None if f.kind == "all" else _like(f.kind.replace("*", "%"))
    return any(_overlaps(span, f) for k, span in kinds.items()
               if like is None or (k is not None and like.fullmatch(k)))


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (as DuckDB reads ``kind LIKE ?``, no escape): ``%`` any run, ``_`` any one character."""
    return re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.DOTALL)


def _overlaps(span: tuple[datetime | None, datetime | None] | None, f: Filters) -> bool:
    """False when no record of a segment whose records' times lie in ``span`` (None: unknown) can fall
    in ``f``'s time range."""
    if span is None or (f.since is None and f.until is None):
        return True
    lo, hi = span
    if lo is None or hi is None:  # no readable time: no record passes a time filter
        return False
    return not ((f.since is not None and hi < _aware(f.since)) or (f.until is not None and lo >= _aware(f.until)))


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)  # DuckDB reads a naive time in the session's zone, UTC


class AuditReader:
    """The segment files of one log directory, read with DuckDB.

    Each review reads only the segments it needs: a closed segment whose time range misses the
    filter's is never opened (the range its signed checkpoint states, or for a checkpoint written
    before checkpoints had one, its sidecar's footer); a summary or a count takes a closed segment's
    counts from its footer's groups when the filter allows (see ``_summary``), and reads rows only for
    the others; a query with a limit reads segments in order and stops once it has enough.

    Footers are read when a review first needs them, all it needs in one DuckDB query: a query for a
    day of a log whose checkpoints state their ranges reads the footers of the segments of that day
    only (and the open segment).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise AuditError(f"no audit log at {self.directory}")
        segments, checkpoints = list_segments(self.directory)
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        # Each segment is a _Part once resolved: a closed one is read from its columnar sidecar when the
        # sidecar's footer matches its checkpoint, the others (the open segment, logs written before
        # sidecars) from their JSON. A closed segment with a sidecar waits in ``_pending`` (segment,
        # sidecar, checkpoint, the checkpoint's time range) until a review may need it: only then is
        # its footer read.
        self._resolved: dict[int, _Part] = {}
        self._pending: dict[int, tuple[Path, Path, dict[str, Any], dict[str | None, Span] | None]] = {}
        open_index = max(segments) if segments and max(segments) not in checkpoints else None
        for i in sorted(segments):
            cp = read_checkpoint(checkpoints[i]) if i in checkpoints else None
            kinds = checkpoint_ranges(cp) if cp is not None else None
            side = sidecar_path(segments[i])
            if cp is not None and side.exists():
                self._pending[i] = (segments[i], side, cp, kinds)
            elif i == open_index:
                # The open segment may end in a torn line (a crash not yet repaired, or a write landing
                # while we read): read a snapshot of it up to its last complete line.
                self._resolved[i] = _Part(i, self._snapshot(segments[i]), False)
            else:
                self._resolved[i] = _Part(i, str(segments[i]), False, kinds=kinds)
        self._groups = True  # False once a footer's groups did not parse: then no groups are used
        self._grouped: set[str] = set()  # the sidecars whose groups are in table ``groups``
        self._plans: dict[Filters, tuple[list[_Part], list[_Part]]] = {}

    def _resolve(self, indices: Iterable[int]) -> None:
        """Read the footers of the pending segments ``indices`` (one query) and decide how each is read."""
        todo = [i for i in indices if i in self._pending]
        if not todo:
            return
        # The footers' pairs stay in table ``footers``: the groups are parsed from there when needed.
        footers = read_footers([self._pending[i][1] for i in todo], self.con, table="footers")
        for i in todo:
            segment, side, cp, kinds = self._pending.pop(i)
            meta = footers.get(str(side))
            if meta and footer_matches(meta, cp):
                self._resolved[i] = _Part(i, str(side), True, footer_range(meta), "groups" in meta, kinds)
            else:
                self._resolved[i] = _Part(i, str(segment), False, kinds=kinds)

    def _matching(self, f: Filters) -> list[_Part]:
        """The segments, in order, whose time range may meet ``f``'s (footers read for those only)."""
        self._resolve([i for i, (*_, kinds) in self._pending.items() if kinds is None or _kinds_overlap(kinds, f)])
        return [p for _, p in sorted(self._resolved.items()) if p.may_match(f)]

    def _all(self) -> list[_Part]:
        self._resolve(list(self._pending))
        return [p for _, p in sorted(self._resolved.items())]

    @property
    def sidecars(self) -> list[str]:
        """The sidecars read in place of their segments' JSON (every footer read)."""
        return [p.path for p in self._all() if p.parquet]

    @property
    def files(self) -> list[str]:
        """The JSON files read (segments without a usable sidecar, the open segment's snapshot)."""
        return [p.path for p in self._all() if not p.parquet]

    @property
    def bytes(self) -> int:
        return sum(Path(p.path).stat().st_size for p in self._all())

    def _source(self, columns: dict[str, str], parts: Sequence[_Part]) -> str:
        """``columns`` and ``ts_utc`` of every record of ``parts``: sidecars' columns, the rest's JSON
        (declared, never sniffed), one relation."""
        sidecars = [p.path for p in parts if p.parquet]
        files = [p.path for p in parts if not p.parquet]
        out = []
        if sidecars:
            cols = ", ".join(f"CAST({k} AS JSON) AS {k}" if v == "JSON" else k for k, v in columns.items())
            out.append(f"SELECT {cols}, ts_utc FROM read_parquet({_list(sidecars)})")
        if files:
            cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
            out.append(f"SELECT *, TRY_CAST(ts AS TIMESTAMPTZ) AS ts_utc "
                       f"FROM read_json({_list(files)}, format='newline_delimited', columns={cols})")
        if not out:  # no segment: the same columns, no rows
            return ("(SELECT " + ", ".join(f"NULL::{v} AS {k}" for k, v in columns.items())
                    + ", NULL::TIMESTAMPTZ AS ts_utc WHERE false)")
        return "(" + " UNION ALL BY NAME ".join(out) + ")"

    def _snapshot(self, path: Path) -> str:
        with open(path, "rb") as f:
            data = f.read()
        end = data.rfind(b"\n") + 1
        if end == len(data):
            return str(path)
        import tempfile  # a torn open segment only

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

    # -- which segments a review reads, and how ------------------------------------------------------
    def _in_range(self, f: Filters) -> str:
        """Every record of the segments whose time range meets ``f``'s."""
        return self._source(COLUMNS, self._matching(f))

    def _load_groups(self, parts: Sequence[_Part]) -> bool:
        """The groups of ``parts``' footers in table ``groups`` (each sidecar's once, only those a review
        needs: a query for a day parses one or two footers' groups, not every one); False when there
        are none to use."""
        todo = [p.path for p in parts if p.grouped and p.path not in self._grouped]
        if todo and self._groups:
            verb = "INSERT INTO groups" if self._grouped else "CREATE TEMP TABLE groups AS"
            try:
                self.con.execute(f"{verb} {footer_groups(todo, table='footers')}")
                self._grouped.update(todo)
            except duckdb.Error as exc:  # a footer that does not parse: its rows are read instead
                log.warning("audit.footer_groups_unreadable", directory=str(self.directory), error=str(exc))
                self._groups = False
        return self._groups and bool(self._grouped)

    def _plan(self, f: Filters) -> tuple[list[_Part], list[_Part]]:
        """``_plan_of(f)``, made once per filter (``audit query`` counts what it lists)."""
        if f not in self._plans:
            self._plans[f] = self._plan_of(f)
        grouped, scanned = self._plans[f]
        return list(grouped), list(scanned)

    def _plan_of(self, f: Filters) -> tuple[list[_Part], list[_Part]]:
        """The segments that may hold records matching ``f``: (those whose footer's groups answer for
        them, those whose rows must be read).

        A segment is left out when its footer's time range misses ``f``'s, or when none of its groups
        can hold a match (tested on everything but the customer, which groups do not keep). Its groups
        answer for it unless ``f`` names a customer or a bound of ``f``'s range cuts a matching group
        (records on both sides): then its rows are read.
        """
        parts = self._matching(f)
        if not any(p.grouped for p in parts) or not self._load_groups(parts):
            return [], parts
        grouped = [p for p in parts if p.grouped]
        clauses, params = f.clauses(lo=None, hi=None, customer=False)
        cut = "false"
        if f.since is not None or f.until is not None:
            inside, outside, p_in, p_out = [], [], [], []
            for bound, lo, hi in ((f.since, "ts_min >= ?", "ts_max < ?"), (f.until, "ts_max < ?", "ts_min >= ?")):
                if bound is not None:
                    inside.append(lo)
                    outside.append(hi)
                    p_in.append(bound)
                    p_out.append(bound)
            clauses += ["ts_min IS NOT NULL", f"NOT ({' OR '.join(outside)})"]  # the group meets the range
            params += p_out
            cut = f"NOT ({' AND '.join(inside)})"
            params = [*p_in, *params]
        sql = (f"SELECT src, bool_or({cut}) FROM groups WHERE src IN {_tuple(p.path for p in grouped)} AND "
               f"{' AND '.join(clauses) or 'true'} GROUP BY src")
        found = dict(self._run(sql, params))
        answered = {p.path for p in grouped if p.path in found and not found[p.path] and f.customer is None}
        keep = [p for p in parts if not p.grouped or p.path in found]
        return [p for p in keep if p.path in answered], [p for p in keep if p.path not in answered]

    @staticmethod
    def _groups_where(f: Filters, parts: Sequence[_Part]) -> tuple[str, list[Any]]:
        """WHERE over ``groups``: the groups of ``parts`` whose every record matches ``f``."""
        clauses, params = f.clauses(lo="ts_min", hi="ts_max")
        return " WHERE " + " AND ".join([f"src IN {_tuple(p.path for p in parts)}", *clauses]), params

    # -- reviews --------------------------------------------------------------------------------------
    def query(self, filters: Filters, limit: int | None = 100, *, newest: bool = False) -> list[dict[str, Any]]:
        """Matching records as flat dicts (lists stay lists): the first ``limit`` by seq (oldest first),
        or with ``newest`` the last ``limit``, newest first.

        Segments are read in order, a few at a time, until ``limit`` records are found; a segment
        whose footer shows no match is skipped.
        """
        if limit is not None and limit < 1:
            raise InvalidInputError("--limit must be at least 1", field="limit")
        grouped, scanned = self._plan(filters)
        known: dict[str, int] = dict.fromkeys((p.path for p in grouped), 0)
        if grouped:
            where, params = self._groups_where(filters, grouped)
            known.update({src: int(n) for src, n in self._run(f"SELECT src, sum(n) FROM groups{where} GROUP BY src",
                                                               params)})
        parts = sorted([p for p in grouped if known[p.path]] + scanned, key=lambda p: p.index, reverse=newest)
        rows: list[dict[str, Any]] = []
        unknown_max, i = 1, 0
        while i < len(parts) and (limit is None or len(rows) < limit):
            need = None if limit is None else limit - len(rows)
            batch: list[_Part] = []
            sure = unknown = 0
            # Enough segments to hold ``need`` records by their footers' counts; segments of unknown
            # count a few at a time (1, 2, 4 ...), so a sparse match does not cost a query a segment.
            while i + len(batch) < len(parts) and (need is None or (sure < need and unknown < unknown_max)):
                p = parts[i + len(batch)]
                batch.append(p)
                if p.path in known:
                    sure += known[p.path]
                else:
                    unknown += 1
            if unknown:
                unknown_max *= 2
            i += len(batch)
            rows += self._select(filters, batch, need, newest)
        return rows

    def _select(self, filters: Filters, parts: Sequence[_Part], limit: int | None,
                newest: bool) -> list[dict[str, Any]]:
        where, params = filters.where()
        cols = ", ".join("CAST(ts_utc AS VARCHAR) AS ts" if f == "ts" else f for f in ROW_FIELDS)
        sql = (f"SELECT {cols} FROM {self._source(_ROW_COLUMNS, parts)}{where} ORDER BY seq"
               + (" DESC" if newest else "") + (f" LIMIT {int(limit)}" if limit is not None else ""))
        return [dict(zip(ROW_FIELDS, row, strict=True)) for row in self._run(sql, params)]

    def count(self, filters: Filters) -> int:
        grouped, scanned = self._plan(filters)
        n = 0
        if grouped:
            where, params = self._groups_where(filters, grouped)
            n += int(self._run(f"SELECT coalesce(sum(n), 0) FROM groups{where}", params)[0][0])
        if scanned:
            where, params = filters.where()
            n += int(self._run(f"SELECT count(*) FROM {self._source(_SUMMARY_COLUMNS, scanned)}{where}", params)[0][0])
        return n

    def summary(self, filters: Filters) -> dict[str, Any]:
        """Counts by decision, country, chip, rule, and by day (per decision).

        The counts come from groups of records (``_summary``): a closed segment's from its footer
        when the filter allows, the others' from their rows (the sidecar's columns or the JSON) in
        range only. With no filter, or one on decision, country, chip, rule, provider or whole days,
        only the open segment's rows are read, so the cost does not grow with the log.
        """
        grouped, scanned = self._plan(filters)
        self._run("CREATE OR REPLACE TEMP TABLE summary_groups (day DATE, decision VARCHAR, countries VARCHAR[], "
                  "chips VARCHAR[], rule_ids VARCHAR[], n BIGINT, ts_min TIMESTAMPTZ, ts_max TIMESTAMPTZ)")
        try:
            if grouped:
                where, params = self._groups_where(filters, grouped)
                self._run(f"INSERT INTO summary_groups BY NAME SELECT {', '.join(SUMMARY_GROUP)} FROM groups{where}",
                          params)
            if scanned:
                where, params = filters.where()
                rows = f"(SELECT * FROM {self._source(_SUMMARY_COLUMNS, scanned)}{where})"
                self._run(f"INSERT INTO summary_groups BY NAME {group_rows(rows)}", params)
            return summarize(self._run, "summary_groups")
        finally:
            self._run("DROP TABLE IF EXISTS summary_groups")

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
                self._csv(f"SELECT {cols} FROM {self._in_range(filters)}{where} ORDER BY seq", params, tmp)
            else:
                self._run(f"COPY (SELECT {cols} FROM {self._in_range(filters)}{where} ORDER BY seq) TO {target} "
                          f"({options})", params)
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

    def event_records(self, kinds: Sequence[str]) -> list[dict[str, Any]]:
        """Every record of ``kinds`` (exact kinds) with its ``data`` parsed, oldest first: ``seq``,
        ``ts``, ``kind``, ``actor``, ``data``. What reconciliation reads (``gatekeeper.reconcile``)."""
        if not kinds:
            return []
        sql = (f"SELECT seq, CAST(ts_utc AS VARCHAR), kind, actor, CAST(data AS VARCHAR) FROM "
               f"{self._in_range(Filters(kind='all'))} WHERE kind IN ({', '.join('?' * len(kinds))}) ORDER BY seq")
        return [{"seq": seq, "ts": ts, "kind": kind, "actor": actor, "data": json.loads(data) if data else {}}
                for seq, ts, kind, actor, data in self._run(sql, list(kinds))]

    def decision_records(self, filters: Filters) -> list[dict[str, Any]]:
        """Whole decision records (nested parts parsed), oldest first: what replay needs."""
        where, params = filters.where()
        if filters.kind != "decision":
            where += (" AND " if where else " WHERE ") + "kind = 'decision'"
        flat = ("schema", "provider", "account_id", "region", "service", "operation", "principal", "source",
                "legal_name", "country")
        sql = (f"SELECT seq, ts, decision_id, decision, policy_decision, CAST(request AS VARCHAR), "
               f"CAST(subject AS VARCHAR), CAST(items AS VARCHAR), CAST(rules AS VARCHAR), {', '.join(flat)} "
               f"FROM {self._in_range(filters)}{where} ORDER BY seq")
        out = []
        for seq, ts, did, dec, pdec, request, subject, items, rules, *values in self._run(sql, params):
            out.append({"seq": seq, "ts": ts, "kind": "decision", "decision_id": did, "decision": dec,
                        "policy_decision": pdec, **dict(zip(flat, values, strict=True)),
                        "request": json.loads(request) if request else None,
                        "subject": json.loads(subject) if subject else None,
                        "items": json.loads(items) if items else None,
                        "rules": json.loads(rules) if rules else []})
        return out
