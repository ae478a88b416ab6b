"""Reading the Consolidated Screening List files published by trade.gov (``consolidated.csv``/``.json``).

The whole file is validated before anything is stored: the first problem raises
:class:`gatekeeper.errors.InvalidInputError` with its ``row`` (CSV: 1-based record number, the header is
row 1; JSON: 1-based position in ``results``) and ``field``. Checked: UTF-8, the 29-column CSV header,
cell counts, a known list code in ``source``, a non-empty id (unique in the file) and name, ISO dates,
JSON types, ISO country codes in JSON addresses.

CSV cells holding several values (``alt_names``, ``programs``, ``addresses`` ...) are ``;``-separated;
a CSV address is ``street, city, state postal, CC`` with the ISO country last.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gatekeeper.errors import InvalidInputError
from gatekeeper.stores.screening_base import LIST_CODES, Address, ListEntry, ParsedList

CSV_COLUMNS = (
    "_id", "source", "entity_number", "type", "programs", "name", "title", "addresses",
    "federal_register_notice", "start_date", "end_date", "standard_order", "license_requirement",
    "license_policy", "call_sign", "vessel_type", "gross_tonnage", "gross_registered_tonnage",
    "vessel_flag", "vessel_owner", "remarks", "source_list_url", "alt_names", "citizenships",
    "dates_of_birth", "nationalities", "places_of_birth", "source_information_url", "ids",
)
_CODE_IN_SOURCE = re.compile(r"\(([A-Za-z0-9-]{2,6})\)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
# Lone surrogates left by decoding with "surrogateescape": bytes that were not UTF-8.
_BAD_BYTES = re.compile("[\udc80-\udcff]")


def parse_file(path: str | Path, *, list_date: date | None = None, fmt: str | None = None) -> ParsedList:
    """Parse a CSL file; the format comes from ``fmt``, else the extension, else the first character.

    ``list_date`` is the date the list was published; by default the file's modification date (UTC).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise InvalidInputError(f"cannot read {p}: {exc.strerror or exc}") from exc
    when = list_date or datetime.fromtimestamp(mtime, UTC).date()
    return parse_bytes(data, list_date=when, fmt=fmt or _format_of(p, data), source_file=str(p))


def parse_bytes(data: bytes, *, list_date: date, fmt: str, source_file: str = "") -> ParsedList:
    """Parse the bytes of a CSL file in format ``csv`` or ``json``."""
    text = data.decode("utf-8-sig", errors="surrogateescape")
    if fmt == "csv":
        entries = _parse_csv(text)
    elif fmt == "json":
        entries = _parse_json(text)
    else:
        raise InvalidInputError(f"unknown list format {fmt!r}; expected csv or json", field="format")
    if not entries:
        raise InvalidInputError("the file holds no list entries")
    return ParsedList(entries=tuple(entries), format=fmt, list_date=list_date, source_file=source_file,
                      sha256=hashlib.sha256(data).hexdigest())


def _format_of(path: Path, data: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix[1:]
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if head in (b"{", b"[") else "csv"


def list_code_of(source: str) -> str | None:
    """The list code named in parentheses in a ``source`` label, or a bare code; None if none is known."""
    label = source.strip()
    if label.upper() in LIST_CODES:
        return label.upper()
    for found in _CODE_IN_SOURCE.findall(label):
        code = str(found).upper()
        if code in LIST_CODES:
            return code
    return None


def _split(cell: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for part in cell.split(";"):
        part = part.strip()
        if part:
            seen[part] = None
    return tuple(seen)


def _country_names() -> dict[str, str]:
    """Upper-case country name -> ISO code, from the jurisdictions catalog (empty if it cannot load)."""
    try:
        from gatekeeper.jurisdictions import default_jurisdictions

        return {name.upper(): code for code, name in default_jurisdictions().countries.items()}
    except Exception:  # the catalog is optional here: a code is still read when given as a code
        return {}


class _Countries:
    """Lazily loaded country-name table (loading the catalog is not free; most files give codes)."""

    def __init__(self) -> None:
        self._names: dict[str, str] | None = None

    def code(self, text: str) -> str:
        t = text.strip()
        if _ISO_COUNTRY.match(t):
            return t.upper()
        if self._names is None:
            self._names = _country_names()
        return self._names.get(t.upper(), "")


def _csv_address(text: str, countries: _Countries) -> Address:
    parts = [p.strip() for p in text.split(",")]
    code = countries.code(parts[-1]) if len(parts) > 1 else ""
    rest = parts[:-1] if code else parts
    return Address(address=", ".join(p for p in rest if p), country=code)


def _check_text(value: str, row: int, field: str) -> str:
    if _BAD_BYTES.search(value):
        raise InvalidInputError("not valid UTF-8", row=row, field=field)
    return value.strip()


def _check_date(value: str, row: int, field: str) -> str:
    if value and not _ISO_DATE.match(value):
        raise InvalidInputError(f"{value!r} is not a date (YYYY-MM-DD)", row=row, field=field)
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(f"{value!r} is not a valid date", row=row, field=field) from None
    return value


def _entry(fields: Mapping[str, Any], row: int, id_field: str) -> ListEntry:
    """A validated entry from one record whose scalar fields are already strings."""
    entry_id = fields["id"]
    if not entry_id:
        raise InvalidInputError("missing id", row=row, field=id_field)
    source = fields["source"]
    if not source:
        raise InvalidInputError("missing source", row=row, field="source")
    code = list_code_of(source)
    if code is None:
        raise InvalidInputError(
            f"no known list code in {source!r}; expected one of {', '.join(LIST_CODES)} in parentheses",
            row=row, field="source")
    name = fields["name"]
    if not name:
        raise InvalidInputError("missing name", row=row, field="name")
    return ListEntry(
        entry_id=entry_id, list_code=code, name=name, source=source,
        alt_names=tuple(a for a in fields["alt_names"] if a != name),
        type=fields["type"], entity_number=fields["entity_number"], programs=fields["programs"],
        addresses=fields["addresses"], federal_register_notice=fields["federal_register_notice"],
        start_date=_check_date(fields["start_date"], row, "start_date"),
        end_date=_check_date(fields["end_date"], row, "end_date"),
        license_requirement=fields["license_requirement"], license_policy=fields["license_policy"],
        remarks=fields["remarks"], source_list_url=fields["source_list_url"],
    )


_SCALARS = ("source", "entity_number", "type", "name", "federal_register_notice", "start_date",
            "end_date", "license_requirement", "license_policy", "remarks", "source_list_url")


def _parse_csv(text: str) -> list[ListEntry]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row = 0
    try:
        header = next(reader, None)
        row = 1
        if header is None:
            raise InvalidInputError("empty file: no CSV header", row=1)
        header = [_check_text(h, 1, "header") for h in header]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise InvalidInputError(f"duplicate columns {dupes}", row=1)
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise InvalidInputError(
                f"missing columns {shown}: not the {len(CSV_COLUMNS)}-column Consolidated Screening "
                "List CSV header", row=1, field=missing[0])
        pos = {name: header.index(name) for name in CSV_COLUMNS}
        countries = _Countries()
        entries: list[ListEntry] = []
        first_row: dict[str, int] = {}
        for cells in reader:
            row += 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # a blank line
            if len(cells) != len(header):
                raise InvalidInputError(f"{len(cells)} cells; the header has {len(header)}", row=row)
            cell = {name: _check_text(cells[i], row, name) for name, i in pos.items()}
            fields: dict[str, Any] = {k: cell[k] for k in _SCALARS}
            fields["id"] = cell["_id"]
            fields["alt_names"] = _split(cell["alt_names"])
            fields["programs"] = _split(cell["programs"])
            fields["addresses"] = tuple(_csv_address(a, countries) for a in _split(cell["addresses"]))
            entry = _entry(fields, row, "_id")
            if entry.entry_id in first_row:
                raise InvalidInputError(
                    f"duplicate id {entry.entry_id!r} (first at row {first_row[entry.entry_id]})",
                    row=row, field="_id")
            first_row[entry.entry_id] = row
            entries.append(entry)
    except csv.Error as exc:
        raise InvalidInputError(f"not valid CSV: {exc}", row=row + 1) from exc
    return entries


def _json_text(item: Mapping[str, Any], key: str, row: int) -> str:
    value = item.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInputError(f"expected a string, got {type(value).__name__}", row=row, field=key)
    return _check_text(str(value), row, key)


def _json_strings(item: Mapping[str, Any], key: str, row: int) -> tuple[str, ...]:
    value = item.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInputError(f"expected an array, got {type(value).__name__}", row=row, field=key)
    seen: dict[str, None] = {}
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise InvalidInputError(f"expected a string, got {type(v).__name__}", row=row,
                                    field=f"{key}[{i}]")
        v = _check_text(v, row, f"{key}[{i}]")
        if v:
            seen[v] = None
    return tuple(seen)


def _json_addresses(item: Mapping[str, Any], row: int) -> tuple[Address, ...]:
    value = item.get("addresses")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInputError(f"expected an array, got {type(value).__name__}", row=row, field="addresses")
    out: list[Address] = []
    for i, a in enumerate(value):
        where = f"addresses[{i}]"
        if not isinstance(a, dict):
            raise InvalidInputError(f"expected an object, got {type(a).__name__}", row=row, field=where)
        parts = {k: _json_text(a, k, row) for k in ("address", "city", "state", "postal_code", "country")}
        country = parts["country"]
        if country and not _ISO_COUNTRY.match(country):
            raise InvalidInputError(f"{country!r} is not an ISO 3166 alpha-2 country code", row=row,
                                    field=f"{where}.country")
        out.append(Address(parts["address"], parts["city"], parts["state"], parts["postal_code"],
                           country.upper()))
    return tuple(out)


def _parse_json(text: str) -> list[ListEntry]:
    bad = _BAD_BYTES.search(text)
    if bad:
        raise InvalidInputError(f"not valid UTF-8 at line {text[: bad.start()].count(chr(10)) + 1}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise InvalidInputError('expected an object {"results": [...]}', field="results")
    entries: list[ListEntry] = []
    first_row: dict[str, int] = {}
    for row, item in enumerate(doc["results"], start=1):
        if not isinstance(item, dict):
            raise InvalidInputError(f"expected an object, got {type(item).__name__}", row=row)
        id_field = "id" if "id" in item or "_id" not in item else "_id"
        fields: dict[str, Any] = {k: _json_text(item, k, row) for k in _SCALARS}
        fields["id"] = _json_text(item, id_field, row)
        fields["alt_names"] = _json_strings(item, "alt_names", row)
        fields["programs"] = _json_strings(item, "programs", row)
        fields["addresses"] = _json_addresses(item, row)
        for key in ("nationalities", "citizenships"):
            _json_strings(item, key, row)  # validated for shape; not used for matching
        entry = _entry(fields, row, id_field)
        if entry.entry_id in first_row:
            raise InvalidInputError(
                f"duplicate id {entry.entry_id!r} (first at row {first_row[entry.entry_id]})",
                row=row, field=id_field)
        first_row[entry.entry_id] = row
        entries.append(entry)
    return entries
