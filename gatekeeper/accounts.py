"""Reading customer profiles from CSV or JSON (``gatekeeper accounts import``).

The whole file is validated before anything is stored; the first bad row is reported with its row
number (the header is row 1) and field, and nothing is imported.
CSV header: ``provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status``.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gatekeeper.errors import InvalidInputError
from gatekeeper.jurisdictions import default_jurisdictions
from gatekeeper.model import CustomerProfile

CSV_HEADER = ("provider", "account_id", "legal_name", "country", "headquarters_country",
              "ultimate_parent_country", "kyc_status")


class ProfileRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    provider: Literal["aws", "azure", "gcp"]
    account_id: str
    legal_name: str
    country: str
    headquarters_country: str
    ultimate_parent_country: str
    kyc_status: Literal["verified", "pending", "unverified"]

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
        code = v.upper()
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise ValueError(f"{v!r} is not an ISO 3166 alpha-2 country code")
        if code not in default_jurisdictions().countries:
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code")
        return code

    def profile(self) -> CustomerProfile:
        account = self.account_id.lower() if self.provider == "azure" else self.account_id
        return CustomerProfile(provider=self.provider, account_id=account, legal_name=self.legal_name,
                               country=self.country, headquarters_country=self.headquarters_country,
                               ultimate_parent_country=self.ultimate_parent_country, kyc_status=self.kyc_status)


def _row(data: dict[str, Any], row: int) -> CustomerProfile:
    try:
        return ProfileRow.model_validate(data).profile()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or None
        raise InvalidInputError(err["msg"], row=row, field=field) from None


def parse_csv(text: str) -> list[CustomerProfile]:
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InvalidInputError("empty file; expected the header " + ",".join(CSV_HEADER), row=1) from None
    missing = [h for h in CSV_HEADER if h not in header]
    extra = [h for h in header if h not in CSV_HEADER]
    if missing or extra:
        raise InvalidInputError(f"header must be {','.join(CSV_HEADER)} (missing {missing}, unexpected {extra})",
                                row=1)
    out: list[tuple[int, CustomerProfile]] = []
    for n, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise InvalidInputError(f"expected {len(header)} columns, found {len(cells)}", row=n)
        out.append((n, _row(dict(zip(header, cells, strict=True)), n)))
    return _unique(out)


def parse_json(text: str) -> list[CustomerProfile]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
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


def read_profiles(path: str | Path) -> list[CustomerProfile]:
    """Profiles from a .csv or .json file; InvalidInputError names the row."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {p}: {exc.strerror or exc}") from None
    if p.suffix.lower() == ".json":
        return parse_json(text)
    return parse_csv(text)
