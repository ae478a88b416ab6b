"""The restricted-party screening contract of the state store, and its vocabulary.

The vocabulary (list codes, list entries, a parsed list file, stored hits) is plain frozen
dataclasses shared by the parser and the matcher (``gatekeeper.screening``) and by every store
backend; ``ScreeningStore`` is what a backend implements (SQL: ``stores.sql_screening``, for SQLite
and PostgreSQL; DynamoDB: ``stores.dynamodb_screening``). It lives here, below ``gatekeeper.screening``,
so that the stores never import the screening service that uses them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

from gatekeeper.model import CustomerProfile, ScreeningHit

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


STATUSES = ("open", "cleared", "lapsed")

EventRecorder = Callable[[str, str, dict[str, Any]], Any]
"""``record_event(kind, actor, data)``, e.g. ``Gatekeeper.record_event``: durable, raises on failure."""


@dataclass(frozen=True, slots=True)
class HitCandidate:
    """A match at or above the threshold, ready to be stored."""

    list_code: str
    entry_id: str
    entry_name: str
    score: float
    explanation: dict[str, Any]
    summary: str
    fingerprint: str
    # The explanation as stored, when already encoded (a ``screening load`` worker encodes its hits,
    # so that the process writing them does not): see explanation_text.
    explanation_json: str = ""

    def explanation_text(self) -> str:
        """The explanation as every store keeps it: JSON, keys sorted."""
        return self.explanation_json or explanation_text(self.explanation)


def explanation_text(explanation: dict[str, Any]) -> str:
    """A hit's explanation as stored: JSON, keys sorted (one encoding for every store)."""
    return json.dumps(explanation, sort_keys=True)


@dataclass(frozen=True, slots=True)
class SubjectResult:
    """The hits of one profile after a screening."""

    provider: str
    account_id: str
    legal_name: str
    hits: tuple[HitCandidate, ...]


@dataclass(frozen=True, slots=True)
class WriteSummary:
    """What storing screening results changed."""

    subjects: int
    active_hits: int  # hits that match now (open or cleared)
    open_hits: int  # of which not cleared
    new_hits: int  # open hits that were not open before this run
    lapsed_hits: int  # hits that matched before and no longer do

    def plus(self, other: WriteSummary) -> WriteSummary:
        """Both together (a run written in batches)."""
        return WriteSummary(self.subjects + other.subjects, self.active_hits + other.active_hits,
                            self.open_hits + other.open_hits, self.new_hits + other.new_hits,
                            self.lapsed_hits + other.lapsed_hits)


NO_WRITES = WriteSummary(0, 0, 0, 0, 0)


# ``screen(generation, load_entries)`` -> results; called inside the write transaction so that what
# it reads (entries, profiles) and what is written are one consistent state. The results may be a
# generator: the SQL store writes them in batches as they come (a re-screening of a million profiles).
ScreenFn = Callable[[str, Callable[[], list[ListEntry]]], Iterable[SubjectResult]]
# ``screen_batch(generation, load_entries, profiles)`` -> their results: an import's screening, batch by batch.
BatchScreenFn = Callable[[str, Callable[[], list[ListEntry]], Sequence[CustomerProfile]], Sequence[SubjectResult]]


@runtime_checkable
class ScreeningStore(Protocol):
    """Restricted-party lists, hits and their review, kept in the state store."""

    def generation(self) -> str:
        """A token that changes whenever the loaded entries change; "" before the first load."""
        ...

    def entries(self) -> list[ListEntry]:
        ...

    def lists(self) -> list[ListInfo]:
        ...

    def load(self, parsed: ParsedList, screen: ScreenFn, *, at: str, actor: str,
             record_event: EventRecorder | None = None) -> WriteSummary:
        """Replace the entries of the lists in ``parsed`` and store ``screen``'s results, atomically."""
        ...

    def screen(self, screen: ScreenFn, *, at: str) -> WriteSummary:
        """Store ``screen``'s results (hits of the subjects it screened), atomically."""
        ...

    def hits(self, statuses: Sequence[str] = ("open",)) -> list[StoredHit]:
        ...

    def find_hits(self, account_id: str, entry_id: str, provider: str | None = None) -> list[StoredHit]:
        ...

    def screening_hits_for(self, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
        """The profile's current hits (open and cleared; lapsed ones are not hits)."""
        ...

    def clear(self, provider: str, account_id: str, entry_id: str, *, by: str, reason: str, at: str,
              record_event: EventRecorder | None = None) -> StoredHit:
        ...

    def get_meta(self, key: str) -> str | None:
        ...

    def set_meta(self, key: str, value: str) -> None:
        ...

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        ...


def entry_from_dict(d: dict[str, Any]) -> ListEntry:
    return ListEntry(
        entry_id=d["entry_id"], list_code=d["list"], name=d["name"], source=d.get("source", ""),
        alt_names=tuple(d.get("alt_names", ())), type=d.get("type", ""),
        entity_number=d.get("entity_number", ""), programs=tuple(d.get("programs", ())),
        addresses=tuple(Address(**a) for a in d.get("addresses", ())),
        federal_register_notice=d.get("federal_register_notice", ""),
        start_date=d.get("start_date", ""), end_date=d.get("end_date", ""),
        license_requirement=d.get("license_requirement", ""), license_policy=d.get("license_policy", ""),
        remarks=d.get("remarks", ""), source_list_url=d.get("source_list_url", ""),
    )
