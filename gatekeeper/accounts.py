"""Reading customer profiles from CSV or JSON (``gatekeeper accounts import``).

Every row is validated before the import commits; the first bad row is reported with its row number
(the header is row 1) and field, and nothing is imported. A CSV is streamed (``profile_batches``):
``accounts import`` stages and screens it batch by batch and swaps it in at the end
(``SQLStore.import_profiles``); a bad row, or an account appearing twice, changes nothing, and
memory stays flat whatever the file's size. A file that is not UTF-8 is
refused naming the row of the first bad byte; account ids must have their provider's form
(``account_id_problem``).
CSV header: ``provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status``.

Owners (for the BIS affiliates rule) come inline in JSON (``"owners": [{"name", "country", "share",
"screening_lists"}]``) or from a separate owners CSV (``accounts import FILE --owners OWNERS.csv``)
with the header ``provider,account_id,owner_name,owner_country,share,screening_lists`` (lists
``;``-separated, e.g. ``EL;MEU``). Every owner row must name an account of the imported file; an
account's owners may not add up to more than 100 %.
"""

from __future__ import annotations

import csv
import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import lru_cache
from itertools import pairwise
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gatekeeper.errors import InvalidInputError
from gatekeeper.jurisdictions import default_jurisdictions
from gatekeeper.model import CustomerProfile, Owner

CSV_HEADER = ("provider", "account_id", "legal_name", "country", "headquarters_country",
              "ultimate_parent_country", "kyc_status")
OWNERS_HEADER = ("provider", "account_id", "owner_name", "owner_country", "share", "screening_lists")
# The Consolidated Screening List's list codes (export-controls.md): an owner's lists must be among them.
LIST_CODES = frozenset({"DPL", "EL", "MEU", "UVL", "ISN", "DTC", "SDN", "SSI", "FSE", "CAP", "CMIC", "MBS", "PLC"})


def _iso_code(v: str) -> str:
    code = v.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise ValueError(f"{v!r} is not an ISO 3166 alpha-2 country code")
    if code not in default_jurisdictions().countries:
        raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
    return code


class OwnerRow(BaseModel):
    """One owner of a customer: name, country, share in percent, restricted-party lists it is on."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str
    country: str = ""
    share: float
    screening_lists: list[str] = []

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v:
            raise ValueError("an owner needs a name")
        return v

    @field_validator("country")
    @classmethod
    def _owner_country(cls, v: str) -> str:
        return _iso_code(v) if v else ""

    @field_validator("share")
    @classmethod
    def _share(cls, v: float) -> float:
        if not 0 < v <= 100:
            raise ValueError(f"share {v:g} must be a percentage above 0 and at most 100")
        return v

    @field_validator("screening_lists", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [x for x in v.split(";") if x.strip()]
        if isinstance(v, list):
            out = [str(x).strip().upper() for x in v]
            unknown = sorted(set(out) - LIST_CODES)
            if unknown:
                raise ValueError(f"unknown list codes {unknown}; expected some of {sorted(LIST_CODES)}")
            return out
        return v

    def owner(self) -> Owner:
        return Owner(self.name, self.country, self.share, tuple(self.screening_lists))


class ProfileRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: Literal["aws", "azure", "gcp"]
    account_id: str
    legal_name: str
    country: str
    headquarters_country: str
    ultimate_parent_country: str
    kyc_status: Literal["verified", "pending", "unverified"]
    owners: list[OwnerRow] = []

    @field_validator("provider", "kyc_status", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("account_id", "legal_name")
    @classmethod
    def _present(cls, v: str) -> str:
        if not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("country", "headquarters_country", "ultimate_parent_country")
    @classmethod
    def _iso(cls, v: str) -> str:
        return _iso_code(v)

    @field_validator("owners")
    @classmethod
    def _total(cls, v: list[OwnerRow]) -> list[OwnerRow]:
        return _check_total(v)

    def profile(self) -> CustomerProfile:
        account = self.account_id.lower() if self.provider == "azure" else self.account_id
        return CustomerProfile(provider=self.provider, account_id=account, legal_name=self.legal_name,
                               country=self.country, headquarters_country=self.headquarters_country,
                               ultimate_parent_country=self.ultimate_parent_country, kyc_status=self.kyc_status,
                               owners=tuple(o.owner() for o in self.owners))


def _check_total(owners: list[OwnerRow]) -> list[OwnerRow]:
    total = sum(o.share for o in owners)
    if total > 100.0001:
        raise ValueError(f"owners' shares add up to {total:g} %, more than 100 %")
    return owners


# -- account ids and encodings (kept apart from the row model: one job each) ---------------------
# What each provider's customer id looks like (AWS account id; Azure subscription id; GCP project id,
# optionally domain-scoped as ``example.com:my-project``).
ACCOUNT_ID_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "aws": (re.compile(r"[0-9]{12}"), "an AWS account id is 12 digits"),
    "azure": (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE),
              "an Azure subscription id is a GUID (8-4-4-4-12 hex digits)"),
    "gcp": (re.compile(r"(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"),
            "a GCP project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter and "
            "not ending with a hyphen"),
}


def account_id_problem(provider: str, account_id: str) -> str | None:
    """Why ``account_id`` cannot be ``provider``'s customer id, or None when it has the right form."""
    form = ACCOUNT_ID_FORMS.get(provider)
    if form is None or form[0].fullmatch(account_id):
        return None
    return f"{account_id!r} is not a valid {provider} account id: {form[1]}"


def decode_text(raw: bytes, path: Path) -> str:
    """A file's bytes as UTF-8 text (a BOM is dropped); InvalidInputError naming the row (line) of a bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                                "save the file as UTF-8", row=row) from None


def csv_rows(text: str | Iterable[str]) -> Iterator[list[str]]:
    """The CSV's rows (from a text, or an iterable of lines such as a file opened with ``newline=""``);
    a row the csv module cannot read (a field over its size limit, say) is an InvalidInputError naming
    it rather than a ``csv.Error``."""
    reader = csv.reader(text.splitlines() if isinstance(text, str) else text)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInputError(f"not valid CSV: {exc}", row=max(reader.line_num, 1)) from None
        yield row


def _row(data: dict[str, Any], row: int) -> CustomerProfile:
    try:
        parsed = ProfileRow.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or None
        raise InvalidInputError(err["msg"], row=row, field=field) from None
    problem = account_id_problem(parsed.provider, parsed.account_id)
    if problem:
        raise InvalidInputError(problem, row=row, field="account_id")
    return parsed.profile()


@lru_cache(maxsize=1)
def _valid_countries() -> frozenset[str]:
    return frozenset(c for c in default_jurisdictions().countries if re.fullmatch(r"[A-Z]{2}", c))


_KYC = frozenset(("verified", "pending", "unverified"))


def _fast_row(cells: list[str], at: Callable[[list[str]], tuple[str, ...]]) -> CustomerProfile | None:
    """The profile of a row already in canonical form (what ``ProfileRow`` would return unchanged),
    without pydantic; None for anything else, which then goes through ``_row`` and its messages.

    Accepting only values that ``ProfileRow`` maps to themselves (no whitespace to strip, lower-case
    provider and KYC status, upper-case known country codes, an account id of the provider's form)
    makes the two paths agree by construction: the fast one never accepts what the model rejects,
    and never changes a value the model would change.
    """
    provider, account, name, country, hq, parent, kyc = at(cells)
    form = ACCOUNT_ID_FORMS.get(provider)
    countries = _valid_countries()
    if (form is None or kyc not in _KYC or country not in countries or hq not in countries
            or parent not in countries or not name or name[0].isspace() or name[-1].isspace()
            or not form[0].fullmatch(account)):
        return None
    return CustomerProfile(provider=provider, account_id=account.lower() if provider == "azure" else account,
                           legal_name=name, country=country, headquarters_country=hq,
                           ultimate_parent_country=parent, kyc_status=kyc)


def _csv_profiles(rows: Iterator[list[str]]) -> Iterator[tuple[int, CustomerProfile]]:
    """(row number, profile) of every non-blank row after the header; the first bad row raises."""
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        raise InvalidInputError("empty file; expected the header " + ",".join(CSV_HEADER), row=1) from None
    missing = [h for h in CSV_HEADER if h not in header]
    extra = [h for h in header if h not in CSV_HEADER]
    if missing or extra:
        raise InvalidInputError(f"header must be {','.join(CSV_HEADER)} (missing {missing}, unexpected {extra})",
                                row=1)
    width = len(header)
    at = itemgetter(*(header.index(h) for h in CSV_HEADER))
    for n, cells in enumerate(rows, start=2):
        if len(cells) != width:
            if not cells or all(not c.strip() for c in cells):
                continue
            raise InvalidInputError(f"expected {width} columns, found {len(cells)}", row=n)
        profile = _fast_row(cells, at)
        if profile is None:
            if all(not c.strip() for c in cells):
                continue
            profile = _row(dict(zip(header, cells, strict=True)), n)
        yield n, profile


def parse_csv(text: str) -> list[CustomerProfile]:
    return _unique(list(_csv_profiles(csv_rows(text))))


def parse_json(text: str) -> list[CustomerProfile]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # an integer too long to convert, nesting too deep
        raise InvalidInputError(f"not valid JSON: {exc}") from None
    rows = doc.get("accounts") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise InvalidInputError('expected a list of accounts or {"accounts": [...]}')
    out: list[tuple[int, CustomerProfile]] = []
    for n, item in enumerate(rows, start=1):
        if not isinstance(item, dict):
            raise InvalidInputError("each account must be an object", row=n)
        out.append((n, _row(item, n)))
    return _unique(out)


def _unique(rows: list[tuple[int, CustomerProfile]]) -> list[CustomerProfile]:
    seen: dict[tuple[str, str], int] = {}
    for n, p in rows:
        key = (p.provider, p.account_id)
        if key in seen:
            raise InvalidInputError(f"account {p.provider}/{p.account_id} also appears in row {seen[key]}",
                                    row=n, field="account_id")
        seen[key] = n
    return [p for _, p in rows]


def parse_owners_csv(text: str, profiles: list[CustomerProfile]) -> list[CustomerProfile]:
    """``profiles`` with the owners of an owners CSV added; every row must name one of them."""
    reader = csv_rows(text)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InvalidInputError("empty owners file; expected the header " + ",".join(OWNERS_HEADER), row=1) from None
    if tuple(header) != OWNERS_HEADER:
        raise InvalidInputError(f"owners header must be {','.join(OWNERS_HEADER)}", row=1)
    by_key = {(p.provider, p.account_id): p for p in profiles}
    owners: dict[tuple[str, str], list[OwnerRow]] = {}
    for n, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise InvalidInputError(f"expected {len(header)} columns, found {len(cells)}", row=n)
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        provider = row["provider"].lower()
        key = (provider, row["account_id"].lower() if provider == "azure" else row["account_id"])
        if key not in by_key:
            raise InvalidInputError(f"account {provider}/{row['account_id']} is not in the imported profiles",
                                    row=n, field="account_id")
        try:
            share = float(row["share"].rstrip("%").strip())
        except ValueError:
            raise InvalidInputError(f"share {row['share']!r} is not a number", row=n, field="share") from None
        try:
            owner = OwnerRow(name=row["owner_name"], country=row["owner_country"], share=share,
                             screening_lists=row["screening_lists"])  # type: ignore[arg-type]
            owners.setdefault(key, []).append(owner)
            _check_total(owners[key])
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = str(err["loc"][0]) if err["loc"] else ""
            field = {"name": "owner_name", "country": "owner_country"}.get(loc, loc or None)
            raise InvalidInputError(err["msg"], row=n, field=field) from None
        except ValueError as exc:
            raise InvalidInputError(str(exc), row=n, field="share") from None
    return [replace(p, owners=p.owners + tuple(o.owner() for o in owners.get((p.provider, p.account_id), ())))
            for p in profiles]


def _read_text(p: Path) -> str:
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {p}: {exc.strerror or exc}") from None
    return decode_text(raw, p)


def read_profiles(path: str | Path, owners: str | Path | None = None) -> list[CustomerProfile]:
    """Profiles from a .csv or .json file, with the owners of an owners CSV; InvalidInputError names the row."""
    return [p for batch in profile_batches(path, owners) for p in batch]


# -- streaming (``accounts import`` of a large file) ------------------------------------------------
BATCH_ROWS = 10_000


def profile_batches(path: str | Path, owners: str | Path | None = None, *,
                    size: int = BATCH_ROWS) -> Iterator[list[CustomerProfile]]:
    """The file's profiles in batches of ``size``, validated as ``read_profiles`` validates them.

    A CSV without an owners file is streamed: memory holds one batch (plus 8 bytes a row to find
    duplicate accounts), so a bad row or a duplicate may raise after earlier batches were yielded:
    the consumer stages them and changes the store only after the last (``SQLStore.import_profiles``).
    The duplicate check runs after the last row, as it does when the file is read whole, so which
    error a file gets does not depend on the batch size. JSON, and a CSV with owners (every owner
    row must name an account of the file), are read whole first.
    """
    p = Path(path)
    if owners is not None or p.suffix.lower() == ".json":
        profiles = _read_whole(p, owners)
        for i in range(0, len(profiles), size):
            yield profiles[i:i + size]
        return
    seen = _KeyHashes()
    batch: list[CustomerProfile] = []
    for _, profile in _stream_csv(p):
        seen.add(profile.provider, profile.account_id)
        batch.append(profile)
        if len(batch) >= size:
            yield batch
            batch = []
    repeated = seen.repeated()
    if repeated:
        # Rare: find the rows again, exactly (and rule out two accounts that only share a hash).
        _unique_among(_stream_csv(p), repeated)
    if batch:
        yield batch


def _read_whole(p: Path, owners: str | Path | None) -> list[CustomerProfile]:
    text = _read_text(p)
    profiles = parse_json(text) if p.suffix.lower() == ".json" else parse_csv(text)
    if owners is None:
        return profiles
    try:
        return parse_owners_csv(_read_text(Path(owners)), profiles)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{owners}: {exc.detail}", row=exc.row, field=exc.field) from None


def _stream_csv(p: Path) -> Iterator[tuple[int, CustomerProfile]]:
    try:
        with p.open(encoding="utf-8-sig", newline="") as fh:
            yield from _csv_profiles(csv_rows(fh))
    except UnicodeDecodeError:
        _raise_bad_byte(p)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {p}: {exc.strerror or exc}") from None


def _raise_bad_byte(p: Path) -> None:
    """The error ``decode_text`` gives for the first byte of ``p`` that is not UTF-8, found line by line
    (a UTF-8 sequence never holds a newline byte), so the file is not read whole."""
    offset = 0
    with p.open("rb") as fh:
        for row, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                raise InvalidInputError(f"{p}: not UTF-8 text (byte 0x{line[exc.start]:02x} at offset {at}); "
                                        "save the file as UTF-8", row=row) from None
            offset += len(line)
    raise InvalidInputError(f"{p}: not UTF-8 text; save the file as UTF-8")  # pragma: no cover - changed under us


class _KeyHashes:
    """Which (provider, account id) keys may repeat, in 8 bytes a row: the keys' hashes in arrays
    (16 of them, by the hash's low bits, so that each sorts on its own without a large temporary
    list). A repeated hash is only a candidate: ``_unique_among`` checks the keys themselves."""

    _PARTS = 16

    def __init__(self) -> None:
        self._parts = [array("q") for _ in range(self._PARTS)]

    def add(self, provider: str, account_id: str) -> None:
        h = hash((provider, account_id))
        self._parts[h & (self._PARTS - 1)].append(h)

    def repeated(self) -> frozenset[int]:
        out: set[int] = set()
        for part in self._parts:
            ordered = sorted(part)
            out.update(a for a, b in pairwise(ordered) if a == b)
        return frozenset(out)


def _unique_among(rows: Iterable[tuple[int, CustomerProfile]], hashes: frozenset[int]) -> None:
    """``_unique``'s error for the first account that appears twice, among keys with these hashes."""
    _unique([(n, p) for n, p in rows if hash((p.provider, p.account_id)) in hashes])
