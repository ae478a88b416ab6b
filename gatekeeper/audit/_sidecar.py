"""Columnar sidecars of closed audit segments: what ``audit summary`` and ``audit query`` read.

A closed segment (one with a signed checkpoint) never changes, so its records can be kept a second
time in columnar form: ``segment-00000012.columns.parquet`` beside ``segment-00000012.jsonl``. A
summary then reads a few compressed columns instead of parsing gigabytes of JSON, and a query for a
time range skips every row group (Parquet keeps each column's min and max) outside the range. Only
the open segment is parsed as JSON.

The footer (Parquet key-value metadata, read without any row) also keeps what lets a reader skip the
rows altogether (schema v2):

- ``ts_min`` / ``ts_max``: the earliest and latest record time of the segment, so that a query or a
  summary for a time range skips every segment outside it without opening it further (for a
  segment whose checkpoint states no ``time_ranges``: otherwise the checkpoint's signed ranges, by
  kind, decide without the footer being read at all);
- ``groups``: the segment's records grouped by ``_summary.GROUP_KEYS`` and UTC day (with each group's
  count and time range), so that a summary or a count filtered on anything but the customer reads
  the groups instead of the rows (``_summary``); a segment with more than ``GROUPS_MAX`` groups keeps
  none, and its rows are read.

A v1 sidecar (written before the footer had these) is still read for its rows, which are the same;
``gatekeeper audit index`` rewrites it as v2.

A sidecar is a derived copy, never a source of truth:

- it names, in its Parquet key-value metadata, the segment's ``head_hash`` and record ``count`` from
  the checkpoint; the reader uses it only while both match the checkpoint on disk (a cheap footer
  read), so a sidecar left over from another log, or one whose segment was replaced, is ignored;
- ``check_sidecar`` re-derives the columns from the segment and compares every row: ``audit index
  --check`` runs it (``audit verify`` checks the segments, not these copies of them), so a forged
  sidecar (rows altered, metadata kept) is caught;
- a missing or rejected sidecar only costs time: the reader falls back on the segment's JSON.

A small segment gets no sidecar at all (``wanted``): below ``MIN_RECORDS`` records and ``MIN_BYTES``
bytes its JSON reads about as fast as a sidecar would, and writing one costs DuckDB (imported, a
connection, a Parquet file) at every close. The AWS Lambda hook closes its log after every event, so
without this every invocation paid for a sidecar of a few records. Such a segment is read from its
JSON, as one whose sidecar is missing; ``write_missing`` does not back-fill it, and ``audit index
--check`` does not count its absent sidecar as a problem (a sidecar it has all the same, from an
earlier release, is read, rewritten when stale and checked like any other).

Sidecars are written after the checkpoint, off the append path (a background thread of the writer,
or ``gatekeeper audit index`` for logs written before sidecars existed); the file appears by an
atomic rename, so a crash leaves either no sidecar or a whole one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from gatekeeper._log import get_logger
from gatekeeper.audit._summary import GROUP_KEYS, group_rows

log = get_logger("gatekeeper.audit")

SIDECAR_SCHEMA = "gatekeeper.audit.columns/v2"
# Sidecars whose rows the reader uses: v1 has the same columns, without ts_min/ts_max/groups.
READABLE_SCHEMAS = frozenset({"gatekeeper.audit.columns/v1", SIDECAR_SCHEMA})
# A segment with more groups than this keeps none in its footer (its rows are read instead).
GROUPS_MAX = 4096
# The columns read from every record; other members are ignored by the reader.
COLUMNS: dict[str, str] = {
    "seq": "BIGINT", "ts": "VARCHAR", "kind": "VARCHAR", "schema": "VARCHAR", "hash": "VARCHAR",
    "decision_id": "VARCHAR", "decision": "VARCHAR", "policy_decision": "VARCHAR", "mode": "VARCHAR",
    "source": "VARCHAR", "provider": "VARCHAR", "service": "VARCHAR", "operation": "VARCHAR",
    "region": "VARCHAR", "principal": "VARCHAR", "account_id": "VARCHAR", "legal_name": "VARCHAR",
    "country": "VARCHAR", "countries": "VARCHAR[]", "chips": "VARCHAR[]", "export_classes": "VARCHAR[]",
    "rule_ids": "VARCHAR[]", "reasons": "VARCHAR[]", "licence_id": "VARCHAR", "case_id": "VARCHAR",
    "error": "VARCHAR", "actor": "VARCHAR", "items": "JSON", "rules": "JSON", "subject": "JSON", "request": "JSON",
    "data": "JSON",
}
# A footer group's members and their types (the JSON schema DuckDB parses a footer's groups with).
GROUP_TYPES = {**GROUP_KEYS, "day": "DATE", "n": "BIGINT", "ts_min": "TIMESTAMPTZ", "ts_max": "TIMESTAMPTZ"}
_GROUPS_JSON = "[{" + ", ".join(f'"{k}": ' + (f'["{v[:-2]}"]' if v.endswith("[]") else f'"{v}"')
                                for k, v in GROUP_TYPES.items()) + "}]"
# Row groups small enough that a time-range query skips most of a segment, large enough to compress.
ROW_GROUP_SIZE = 16_384
# A closed segment gets a sidecar only when it holds at least MIN_RECORDS records (its header
# included) or at least MIN_BYTES bytes of JSON; a smaller one is read from its JSON. Measured
# (docs/benchmarks.md, "Small segments without sidecars"): for segments of 2 to 64 decision records
# (1.7-78 kB), a summary or a query over many of them costs the same per segment read from the JSON
# or from sidecars, while writing each sidecar costs ~30 ms at close (DuckDB already loaded; its import
# and ~60 MB more on the first); so below 64 records a sidecar buys the reader nothing. The bytes
# bound keeps one for a segment of fewer but large records. A Lambda invocation's segment (the
# header, a decision, a few remediation records: ~2-10 records, a few kB) is far below both.
MIN_RECORDS = 64
MIN_BYTES = 64 * 1024


def wanted(count: object, nbytes: int) -> bool:
    """True when a closed segment of ``count`` records (its checkpoint's) and ``nbytes`` bytes should
    have a sidecar (see ``MIN_RECORDS``); a count that is not a number asks for one, as before."""
    if not isinstance(count, int) or isinstance(count, bool):
        return True
    return count >= MIN_RECORDS or nbytes >= MIN_BYTES


def segment_wanted(segment: Path, checkpoint: dict[str, Any]) -> bool:
    """``wanted`` for a closed ``segment`` on disk (its size, the ``checkpoint``'s count)."""
    try:
        nbytes = segment.stat().st_size
    except OSError:
        return True  # not ours to decide here: the writer reports the missing segment
    return wanted(checkpoint.get("count"), nbytes)


def sidecar_name(index: int) -> str:
    return f"segment-{index:08d}.columns.parquet"


def sidecar_path(segment: Path) -> Path:
    index = int(segment.name.split("-", 1)[1].split(".", 1)[0])
    return segment.with_name(sidecar_name(index))


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select(segment: Path, columns: dict[str, str]) -> str:
    """Every column of ``columns`` read from the segment's JSON, nested ones kept as JSON text."""
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
    out = ", ".join(f"CAST({k} AS VARCHAR) AS {k}" if v == "JSON" else k for k, v in columns.items())
    return (f"SELECT {out}, TRY_CAST(ts AS TIMESTAMPTZ) AS ts_utc FROM "
            f"read_json({_sql_str(str(segment))}, format='newline_delimited', columns={cols})")


def write_sidecar(segment: Path, checkpoint: dict[str, Any], columns: dict[str, str]) -> Path:
    """Write the sidecar of a closed ``segment`` described by its ``checkpoint``; its path.

    The footer also keeps the segment's time range and its groups (see the module's docstring).
    """
    from gatekeeper.audit._duck import duckdb

    target = sidecar_path(segment)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TEMP TABLE seg AS {_select(segment, columns)}")
        meta = {"schema": SIDECAR_SCHEMA, "head_hash": str(checkpoint["head_hash"]),
                "count": str(checkpoint["count"]), **_footer_index(con, "seg")}
        kv = "{" + ", ".join(f"{k}: {_sql_str(v)}" for k, v in meta.items()) + "}"
        con.execute(f"COPY (SELECT * FROM seg ORDER BY seq) TO {_sql_str(str(tmp))} "
                    f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE}, KV_METADATA {kv})")
        os.replace(tmp, target)
    finally:
        con.close()
        tmp.unlink(missing_ok=True)
    return target


def _footer_index(con: Any, table: str) -> dict[str, str]:
    """The footer's ``ts_min``, ``ts_max`` ("" when no record has a readable time) and ``groups``
    (absent beyond ``GROUPS_MAX``) of the records in ``table``."""
    lo, hi = con.execute(f"SELECT min(ts_utc), max(ts_utc) FROM {table}").fetchone()
    out = {"ts_min": lo.isoformat() if lo else "", "ts_max": hi.isoformat() if hi else ""}
    con.execute(f"CREATE OR REPLACE TEMP TABLE footer_groups AS {group_rows(table, tuple(GROUP_KEYS))}")
    (n,) = con.execute("SELECT count(*) FROM footer_groups").fetchone()
    if n <= GROUPS_MAX:
        struct = ", ".join(f"{k}: {k}" for k in GROUP_TYPES)
        (text,) = con.execute(f"SELECT to_json(coalesce(list({{{struct}}}), [])) FROM footer_groups").fetchone()
        out["groups"] = str(text)
    con.execute("DROP TABLE footer_groups")
    return out


def footer_groups(sidecars: Sequence[str], table: str | None = None) -> str:
    """SQL: the groups kept in the footers of ``sidecars``, one row a group, with ``src`` (the file).

    Parsed by DuckDB from the footers themselves (``parquet_kv_metadata``), or from the footers'
    pairs that ``read_footers`` kept in temporary ``table`` (the files are not read again): nothing
    goes through Python. A sidecar without groups contributes no row.
    """
    if table is None:
        source = f"({_pairs('[' + ', '.join(_sql_str(f) for f in sidecars) + ']')})"
    else:
        source = f"(SELECT * FROM {table} WHERE file_name IN ({', '.join(_sql_str(f) for f in sidecars)}))"
    return (f"SELECT src, {', '.join(f'g.{k} AS {k}' for k in GROUP_TYPES)} FROM ("
            f"SELECT file_name AS src, unnest(from_json(value, {_sql_str(_GROUPS_JSON)})) AS g "
            f"FROM {source} WHERE key = 'groups')")


def _pairs(files: str) -> str:
    """SQL: the key-value pairs, decoded, of the footers of ``files`` (a list, or a ``?`` parameter)."""
    return f"SELECT file_name, decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata({files})"


def read_footers(sidecars: Sequence[Path], con: Any = None, *, table: str | None = None) -> dict[str, dict[str, str]]:
    """The key-value footers of ``sidecars`` (path -> metadata; {} for one that cannot be read).

    One query for all of them (opening a DuckDB connection costs more than reading a footer). With
    ``table``, the pairs are also kept in that temporary table of ``con`` (``file_name``, ``key``,
    ``value``), from which ``footer_groups`` parses the groups without reading the files again; a
    later call with the same table adds to it (a reader reads the footers it needs as it goes).
    """
    from gatekeeper.audit._duck import duckdb

    out: dict[str, dict[str, str]] = {str(p): {} for p in sidecars}
    if not sidecars and table is None:
        return out
    own = con is None
    con = duckdb.connect(":memory:") if own else con
    kv = table or "footer_pairs"
    try:
        create = "CREATE TEMP TABLE IF NOT EXISTS" if table else "CREATE OR REPLACE TEMP TABLE"
        con.execute(f"{create} {kv} (file_name VARCHAR, key VARCHAR, value VARCHAR)")
        try:
            if sidecars:
                con.execute(f"INSERT INTO {kv} {_pairs('?')}", [[str(p) for p in sidecars]])
        except (duckdb.Error, OSError):
            # One unreadable file fails the whole read: read them one by one to keep the others.
            for p in sidecars if len(sidecars) > 1 else ():
                with contextlib.suppress(duckdb.Error, OSError):
                    con.execute(f"INSERT INTO {kv} {_pairs('?')}", [[str(p)]])
        for name, key, value in con.execute(f"SELECT * FROM {kv}").fetchall():
            if str(name) in out:
                out[str(name)][key] = value
        if table is None:
            con.execute(f"DROP TABLE {kv}")
    finally:
        if own:
            con.close()
    return out


def footer_matches(meta: dict[str, str], checkpoint: dict[str, Any], *, current: bool = False) -> bool:
    """True when a sidecar's footer ``meta`` claims the segment ``checkpoint`` describes (and, with
    ``current``, is of the schema written today)."""
    schemas = {SIDECAR_SCHEMA} if current else READABLE_SCHEMAS
    return (meta.get("schema") in schemas and meta.get("head_hash") == checkpoint.get("head_hash")
            and meta.get("count") == str(checkpoint.get("count")))


def footer_range(meta: dict[str, str]) -> tuple[datetime | None, datetime | None] | None:
    """A v2 footer's time range: (None, None) when no record has a readable time; None when unknown
    (a v1 footer, a value that does not parse)."""
    if meta.get("schema") != SIDECAR_SCHEMA or "ts_min" not in meta or "ts_max" not in meta:
        return None
    try:
        lo = datetime.fromisoformat(meta["ts_min"]) if meta["ts_min"] else None
        hi = datetime.fromisoformat(meta["ts_max"]) if meta["ts_max"] else None
    except ValueError:
        return None
    if (lo is None) != (hi is None) or any(t is not None and t.tzinfo is None for t in (lo, hi)):
        return None
    return lo, hi


def sidecar_matches(sidecar: Path, checkpoint: dict[str, Any], *, current: bool = False) -> bool:
    """True when ``sidecar`` claims the segment ``checkpoint`` describes (footer only, no rows read)."""
    return footer_matches(read_footers([sidecar])[str(sidecar)], checkpoint, current=current)


def check_sidecar(segment: Path, sidecar: Path, columns: dict[str, str]) -> str | None:
    """None when ``sidecar`` holds exactly the rows derived from ``segment``, else what differs."""
    from gatekeeper.audit._duck import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        names = ", ".join([*columns, "ts_utc"])
        derived = f"(SELECT {names} FROM ({_select(segment, columns)}))"
        stored = f"(SELECT {names} FROM read_parquet({_sql_str(str(sidecar))}))"
        diff = con.execute(f"SELECT count(*), min(seq) FROM (({derived} EXCEPT ALL {stored}) "
                           f"UNION ALL ({stored} EXCEPT ALL {derived}))").fetchone()
        assert diff is not None
        if diff[0]:
            return f"{diff[0]} row(s) differ from the segment, first at seq {diff[1]}"
        meta = read_footers([sidecar], con)[str(sidecar)]
        if meta.get("schema") != SIDECAR_SCHEMA:
            return None  # a v1 footer holds nothing the reader trusts beyond the rows
        con.execute(f"CREATE TEMP TABLE seg AS {_select(segment, columns)}")
        derived_meta = {**_footer_index(con, "seg"), "schema": SIDECAR_SCHEMA}
        if footer_range(meta) != footer_range(derived_meta):
            return "its footer's time range differs from the segment's records"
        if ("groups" in meta) != ("groups" in derived_meta):
            return "its footer's groups differ from the segment's records"
        if "groups" in meta:
            keys = ", ".join(GROUP_TYPES)
            con.execute(f"CREATE TEMP TABLE derived AS {group_rows('seg', tuple(GROUP_KEYS))}")
            stored = f"(SELECT {keys} FROM ({footer_groups([str(sidecar)])}))"
            fresh = f"(SELECT {keys} FROM derived)"
            bad = con.execute(f"SELECT count(*) FROM (({stored} EXCEPT ALL {fresh}) "
                              f"UNION ALL ({fresh} EXCEPT ALL {stored}))").fetchone()
            if bad is None or bad[0]:
                return "its footer's groups differ from the segment's records"
    except duckdb.Error as exc:
        return f"unreadable: {exc}"
    finally:
        con.close()
    return None


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_missing(directory: Path, columns: dict[str, str],
                  segments: Iterable[tuple[Path, Path]]) -> list[Path]:
    """Write the sidecars that are missing or stale for ``(segment, checkpoint)`` pairs; those written.

    A segment too small for a sidecar (``wanted``) and without one is skipped, so a log of many
    small segments is not back-filled again at every run. One that has a sidecar all the same (an
    earlier release wrote one for every segment) is treated as any other: rewritten when stale.
    """
    written = []
    for segment, cp_path in segments:
        cp = read_checkpoint(cp_path)
        if cp is None:
            continue
        side = sidecar_path(segment)
        if not side.exists():
            if not segment_wanted(segment, cp):
                continue
        elif sidecar_matches(side, cp, current=True):
            continue
        written.append(write_sidecar(segment, cp, columns))
    return written


def write_in_background(segment: Path, cp_path: Path, columns: dict[str, str]) -> threading.Thread:
    """Write one segment's sidecar in a thread: the writer never waits for it.

    Not a daemon: the interpreter waits for it at exit (DuckDB aborts a process that finalises under
    a query in flight); a kill leaves at most a temporary file, never a partial sidecar.
    """

    def work() -> None:
        try:
            cp = read_checkpoint(cp_path)
            if cp is not None and segment.exists():  # a log removed meanwhile (a test, a cleanup)
                write_sidecar(segment, cp, columns)
        except Exception as exc:  # a sidecar is an optimisation: the reader falls back on the JSON
            log.warning("audit.sidecar_failed", segment=segment.name, error=f"{type(exc).__name__}: {exc}")

    t = threading.Thread(target=work, name=f"gatekeeper-sidecar-{segment.name}", daemon=False)
    t.start()
    return t
