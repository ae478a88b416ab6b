"""The screening vocabulary: list codes, list entries, a parsed list file, stored hits.

Plain frozen dataclasses shared by the parser, the matcher and the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

# The 13 lists of the Consolidated Screening List, by the code in parentheses in ``source``.
LIST_NAMES: dict[str, str] = {
    "EL": "Entity List (BIS)",
    "MEU": "Military End User List (BIS)",
    "DPL": "Denied Persons List (BIS)",
    "UVL": "Unverified List (BIS)",
    "ISN": "Nonproliferation Sanctions (State)",
    "DTC": "ITAR Debarred (State)",
    "SDN": "Specially Designated Nationals (Treasury)",
    "SSI": "Sectoral Sanctions Identifications (Treasury)",
    "FSE": "Foreign Sanctions Evaders (Treasury)",
    "CAP": "Correspondent Account or Payable-Through Account Sanctions (Treasury)",
    "CMIC": "Non-SDN Chinese Military-Industrial Complex Companies (Treasury)",
    "MBS": "Non-SDN Menu-Based Sanctions (Treasury)",
    "PLC": "Palestinian Legislative Council List (Treasury)",
}
LIST_CODES = tuple(LIST_NAMES)


@dataclass(frozen=True, slots=True)
class Address:
    address: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""  # ISO 3166 alpha-2, upper case; "" when the file does not give one

    def as_dict(self) -> dict[str, str]:
        return {"address": self.address, "city": self.city, "state": self.state,
                "postal_code": self.postal_code, "country": self.country}


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One entry of the Consolidated Screening List.

    ``entry_id`` is the CSL's own id (``_id`` in CSV, ``id`` in JSON), unique across the file;
    ``entity_number`` is not unique across lists and is kept only for reference.
    """

    entry_id: str
    list_code: str
    name: str
    source: str = ""
    alt_names: tuple[str, ...] = ()
    type: str = ""
    entity_number: str = ""
    programs: tuple[str, ...] = ()
    addresses: tuple[Address, ...] = ()
    federal_register_notice: str = ""
    start_date: str = ""
    end_date: str = ""
    license_requirement: str = ""
    license_policy: str = ""
    remarks: str = ""
    source_list_url: str = ""

    @property
    def countries(self) -> tuple[str, ...]:
        """Distinct address countries, in file order."""
        seen: dict[str, None] = {}
        for a in self.addresses:
            if a.country:
                seen[a.country] = None
        return tuple(seen)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id, "list": self.list_code, "name": self.name,
            "alt_names": list(self.alt_names), "source": self.source, "type": self.type,
            "entity_number": self.entity_number, "programs": list(self.programs),
            "addresses": [a.as_dict() for a in self.addresses], "countries": list(self.countries),
            "federal_register_notice": self.federal_register_notice, "start_date": self.start_date,
            "end_date": self.end_date, "license_requirement": self.license_requirement,
            "license_policy": self.license_policy, "remarks": self.remarks,
            "source_list_url": self.source_list_url,
        }


@dataclass(frozen=True, slots=True)
class ParsedList:
    """A whole CSL file, validated: every entry or nothing."""

    entries: tuple[ListEntry, ...]
    format: str  # "csv" or "json"
    list_date: date
    source_file: str = ""
    sha256: str = ""

    @property
    def list_codes(self) -> tuple[str, ...]:
        return tuple(sorted({e.list_code for e in self.entries}))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.list_code] = out.get(e.list_code, 0) + 1
        return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class StoredHit:
    """A hit as the store keeps it: the match, its explanation and its review state.

    ``status`` is ``open`` (to review), ``cleared`` (a reviewer judged it a false positive) or
    ``lapsed`` (it no longer matches: the entry left the list or a name changed).
    """

    provider: str
    account_id: str
    legal_name: str
    list_code: str
    entry_id: str
    entry_name: str
    score: float
    explanation: dict[str, Any]
    status: str
    first_seen_at: str
    last_screened_at: str
    cleared_by: str = ""
    cleared_reason: str = ""
    cleared_at: str = ""
    summary: str = ""

    @property
    def account(self) -> str:
        return f"{self.provider}:{self.account_id}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider, "account_id": self.account_id, "legal_name": self.legal_name,
            "list": self.list_code, "entry_id": self.entry_id, "entry_name": self.entry_name,
            "score": self.score, "status": self.status, "explanation": self.explanation,
            "summary": self.summary, "first_seen_at": self.first_seen_at,
            "last_screened_at": self.last_screened_at, "cleared_by": self.cleared_by or None,
            "cleared_reason": self.cleared_reason or None, "cleared_at": self.cleared_at or None,
        }


@dataclass(frozen=True, slots=True)
class ListInfo:
    """A list code as last loaded."""

    list_code: str
    list_date: str
    loaded_at: str
    entry_count: int
    source_file: str
    sha256: str
    source_labels: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"list": self.list_code, "name": LIST_NAMES.get(self.list_code, self.list_code),
                "list_date": self.list_date, "loaded_at": self.loaded_at, "entries": self.entry_count,
                "source_file": self.source_file, "sha256": self.sha256,
                "sources": list(self.source_labels)}
