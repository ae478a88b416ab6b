"""Country groups and region locations, loaded from ``catalog/data/jurisdictions.yaml`` and ``regions.yaml``.

Countries are every ISO 3166-1 alpha-2 code known to pycountry (a maintained copy of the standard);
``jurisdictions.yaml`` only overrides a few names with the ones the EAR uses (Burma, Macau) and holds
the groups. Policy files name countries (``CN``) and groups (``D:5``, ``E:1``, ``TIER1-2025``);
``Jurisdictions.expand`` turns such a list into a frozen set of country codes once, when a pack is
compiled. Places treated as another country (Hong Kong as China since 2020-12-23) are added to every
group that holds the country they are treated as.

Memberships carry dates: a member written as ``{country: KH, effective_from: 2021-12-09,
effective_until: 2026-02-03, source: ...}`` belongs to the group on ``effective_from <= day <
effective_until`` only. ``expand(tokens, on=day)`` gives the groups in force on a day (the request's
date); without ``on`` it gives the current groups (open-ended memberships). ``change_dates`` tells the
policy compiler where a rule's groups change, so that each rule is compiled once per stretch of dates
with the same members, and deciding stays a set look-up.
"""


from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gatekeeper._prebuilt import MISSING
from gatekeeper._prebuilt import document as prebuilt_document
from gatekeeper.errors import CatalogError

DATA_DIR = Path(__file__).parent / "catalog" / "data"

DAWN = date(1900, 1, 1)
FAR_FUTURE = date(9999, 12, 31)


@dataclass(frozen=True, slots=True)
class Membership:
    """One country in one group from ``start`` (inclusive) to ``end`` (exclusive), with its source."""

    country: str
    start: date = DAWN
    end: date = FAR_FUTURE
    source: str = ""

    def on(self, day: date) -> bool:
        return self.start <= day < self.end


@dataclass(frozen=True, slots=True)
class Jurisdictions:
    groups: dict[str, frozenset[str]]  # the current members (open-ended memberships), treated_as added
    countries: dict[str, str]  # code -> name
    regions: dict[str, dict[str, str]]  # provider -> region -> country code
    treated_as: dict[str, str]
    as_of: str
    citation: str
    memberships: dict[str, tuple[Membership, ...]] | None = None  # group -> dated memberships

    def is_group(self, token: str) -> bool:
        return token.strip().upper() in self.groups

    def members(self, group: str, on: date | None = None) -> frozenset[str]:
        """The members of ``group`` on ``on`` (today's members without a date), treated_as added."""
        name = group.strip().upper()
        if on is None or not self.memberships:
            return self.groups[name]
        found = {m.country for m in self.memberships[name] if m.on(on)}
        found |= {c for c, target in self.treated_as.items() if target in found}
        return frozenset(found)

    def expand(self, tokens: Iterable[str], on: date | None = None) -> frozenset[str]:
        """Country codes named by a list of countries and group names on ``on`` (None: current groups).

        Raises KeyError on an unknown token."""
        out: set[str] = set()
        for raw in tokens:
            token = raw.strip().upper()
            if token in self.groups:
                out |= self.members(token, on)
            elif token in self.countries:
                out.add(token)
                out |= {c for c, target in self.treated_as.items() if target == token}
            else:
                raise KeyError(raw)
        return frozenset(out)

    def change_dates(self, tokens: Iterable[str]) -> tuple[date, ...]:
        """The days on which a group named in ``tokens`` gains or loses a member, sorted."""
        days: set[date] = set()
        for raw in tokens:
            token = raw.strip().upper()
            for m in (self.memberships or {}).get(token, ()):
                days |= {d for d in (m.start, m.end) if d not in (DAWN, FAR_FUTURE)}
        return tuple(sorted(days))

    def history(self, group: str) -> tuple[Membership, ...]:
        """Every dated membership of ``group`` (for docs and ``catalog`` displays)."""
        return tuple(m for m in (self.memberships or {}).get(group.strip().upper(), ())
                     if m.start != DAWN or m.end != FAR_FUTURE)

    def closest_region(self, provider: str, region: str) -> str | None:
        """The known region of ``provider`` nearest in spelling to ``region`` (for a suggestion), or None."""
        import difflib

        key = region.strip().lower()
        known = list(self.regions.get(provider, {}))
        # Two letters swapped (us-esat-1) first: difflib alone prefers us-west-1 there.
        swapped = [r for r in known if len(r) == len(key) and sorted(r) == sorted(key)
                   and sum(a != b for a, b in zip(r, key, strict=True)) == 2]
        if swapped:
            return sorted(swapped)[0]
        found = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        return found[0] if found else None

    def region_country(self, provider: str, region: str) -> str | None:
        """ISO country of a provider region; zones (``us-central1-a``, ``us-east-1a``) map to their region."""
        table = self.regions.get(provider, {})
        key = region.strip().lower()
        if key in table:
            return table[key]
        if provider == "aws" and key[-1:].isalpha() and key[:-1] in table:
            return table[key[:-1]]
        if provider == "gcp" and key.count("-") == 2 and key.rsplit("-", 1)[0] in table:
            return table[key.rsplit("-", 1)[0]]
        if provider == "azure":
            compact = key.replace(" ", "")
            return table.get(compact)
        return None


def _read(path: Path) -> Any:
    # A function host takes the document parsed when its package was built, for these very bytes
    # (gatekeeper/_prebuilt.py): its cold start neither imports nor runs the YAML parser.
    found = prebuilt_document(path)
    if found is not MISSING:
        return found
    import yaml

    # libyaml's parser when PyYAML was built with it: the same safe loading, several times faster.
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=loader)  # a safe loader, C or Python
    except (OSError, yaml.YAMLError, ValueError) as exc:  # ValueError: a timestamp YAML cannot build
        raise CatalogError(f"{path}: {exc}") from exc


def _code(value: Any, where: str) -> str:
    # YAML 1.1 reads a bare NO (Norway) as the boolean false: insist on two-letter strings.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        raise CatalogError(f"{where}: bad country code {value!r} (ISO 3166 alpha-2; quote \"NO\")")
    return value.strip().upper()


def load_jurisdictions(data_dir: Path | None = None) -> Jurisdictions:
    d = data_dir or DATA_DIR
    try:
        return _load(d)
    except (KeyError, TypeError, AttributeError) as exc:  # a missing section or a wrong shape
        raise CatalogError(f"{d}: malformed jurisdictions.yaml or regions.yaml: {exc!r}") from exc


def iso_countries() -> dict[str, str]:
    """Every ISO 3166-1 alpha-2 code with a short English name (pycountry's common name when it has one).

    Read from pycountry's data file (``pycountry/databases/iso3166-1.json``, what ``pycountry.countries``
    loads) when it is there: importing pycountry imports ``importlib.metadata`` for its version, about
    20 ms of a function's cold start for a list that is one JSON file. Else through pycountry itself;
    tests/test_jurisdictions.py holds both equal.
    """
    entries = _pycountry_entries()
    if entries is not None:
        return {str(e["alpha_2"]): str(e.get("common_name") or e["name"]) for e in entries}
    import pycountry

    return {c.alpha_2: str(getattr(c, "common_name", None) or c.name) for c in pycountry.countries}


def _pycountry_entries() -> list[dict[str, Any]] | None:
    import importlib.util
    import json

    try:
        spec = importlib.util.find_spec("pycountry")  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / "databases" / "iso3166-1.json"
        entries = json.loads(path.read_bytes())["3166-1"]
        return entries if isinstance(entries, list) and entries else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CatalogError(f"{where}: bad date {value!r} (YYYY-MM-DD)") from None


def _membership(raw: Any, where: str) -> Membership:
    if not isinstance(raw, dict):
        return Membership(_code(raw, where))
    unknown = set(raw) - {"country", "effective_from", "effective_until", "source"}
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)} in a dated membership")
    start = _date(raw["effective_from"], where) if raw.get("effective_from") is not None else DAWN
    end = _date(raw["effective_until"], where) if raw.get("effective_until") is not None else FAR_FUTURE
    if end <= start:
        raise CatalogError(f"{where}: {raw.get('country')}: effective_until must be after effective_from")
    if not str(raw.get("source") or "").strip():
        raise CatalogError(f"{where}: {raw.get('country')}: a dated membership needs its source")
    return Membership(_code(raw["country"], where), start, end, str(raw["source"]))


def _load(d: Path) -> Jurisdictions:
    doc = _read(d / "jurisdictions.yaml")
    unknown_keys = set(doc) - {"as_of", "citation", "treated_as", "names", "groups"}
    if unknown_keys:
        raise CatalogError(f"jurisdictions.yaml: unknown keys {sorted(unknown_keys)} (countries come from "
                           "ISO 3166 via pycountry; `names` overrides a name)")
    countries = iso_countries()
    for k, v in (doc.get("names") or {}).items():
        code = _code(k, "jurisdictions.yaml: names")
        if code not in countries:
            raise CatalogError(f"jurisdictions.yaml: names: {code} is not an ISO 3166-1 alpha-2 code")
        countries[code] = str(v)
    treated_as = {_code(k, "jurisdictions.yaml: treated_as"): _code(v, "jurisdictions.yaml: treated_as")
                  for k, v in (doc.get("treated_as") or {}).items()}
    bad = (treated_as.keys() | set(treated_as.values())) - countries.keys()
    if bad:
        raise CatalogError(f"jurisdictions.yaml: treated_as: unknown countries {sorted(bad)}")
    groups: dict[str, frozenset[str]] = {}
    memberships: dict[str, tuple[Membership, ...]] = {}
    for name, spec in doc["groups"].items():
        where = f"jurisdictions.yaml: group {name}"
        rows = tuple(_membership(m, where) for m in spec["members"])
        unknown = {m.country for m in rows} - countries.keys()
        if unknown:
            raise CatalogError(f"{where}: unknown countries {sorted(unknown)}")
        members = {m.country for m in rows if m.end == FAR_FUTURE}
        members |= {c for c, target in treated_as.items() if target in members}
        groups[str(name).upper()] = frozenset(members)
        memberships[str(name).upper()] = rows
    reg_doc = _read(d / "regions.yaml")
    regions: dict[str, dict[str, str]] = {}
    for provider, table in reg_doc["regions"].items():
        regions[provider] = {}
        for region, country in table.items():
            code = _code(country, f"regions.yaml: {provider} {region}")
            if code not in countries:
                raise CatalogError(f"regions.yaml: {provider} {region}: unknown country {country!r}")
            regions[provider][str(region).lower()] = code
    return Jurisdictions(groups, countries, regions, treated_as, str(doc.get("as_of", "")),
                         str(doc.get("citation", "")), memberships)


_default: Jurisdictions | None = None


def default_jurisdictions() -> Jurisdictions:
    global _default
    if _default is None:
        _default = load_jurisdictions()
    return _default
