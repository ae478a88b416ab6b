"""Country groups and region locations, loaded from ``catalog/data/jurisdictions.yaml`` and ``regions.yaml``.

Policy files name countries (ISO 3166 alpha-2, ``CN``) and groups (``D:5``, ``E:1``, ``TIER1-2025``);
``Jurisdictions.expand`` turns such a list into a frozen set of country codes once, when a pack is
compiled. Places treated as another country (Hong Kong as China since 2020-12-23) are added to every
group that holds the country they are treated as.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.errors import CatalogError

DATA_DIR = Path(__file__).parent / "catalog" / "data"


@dataclass(frozen=True, slots=True)
class Jurisdictions:
    groups: dict[str, frozenset[str]]
    countries: dict[str, str]  # code -> name
    regions: dict[str, dict[str, str]]  # provider -> region -> country code
    treated_as: dict[str, str]
    as_of: str
    citation: str

    def is_group(self, token: str) -> bool:
        return token.strip().upper() in self.groups

    def expand(self, tokens: Iterable[str]) -> frozenset[str]:
        """Country codes named by a list of countries and group names; raises KeyError on an unknown one."""
        out: set[str] = set()
        for raw in tokens:
            token = raw.strip().upper()
            if token in self.groups:
                out |= self.groups[token]
            elif token in self.countries:
                out.add(token)
                out |= {c for c, target in self.treated_as.items() if target == token}
            else:
                raise KeyError(raw)
        return frozenset(out)

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


# libyaml's parser when PyYAML was built with it: the same safe loading, several times faster (these
# files are read on every cold start, a Lambda's included).
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_SafeLoader)  # a safe loader, C or Python
    except (OSError, yaml.YAMLError) as exc:
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


def _load(d: Path) -> Jurisdictions:
    doc = _read(d / "jurisdictions.yaml")
    countries = {_code(k, "jurisdictions.yaml: countries"): str(v) for k, v in doc["countries"].items()}
    treated_as = {_code(k, "jurisdictions.yaml: treated_as"): _code(v, "jurisdictions.yaml: treated_as")
                  for k, v in (doc.get("treated_as") or {}).items()}
    bad = (treated_as.keys() | set(treated_as.values())) - countries.keys()
    if bad:
        raise CatalogError(f"jurisdictions.yaml: treated_as: unknown countries {sorted(bad)}")
    groups: dict[str, frozenset[str]] = {}
    for name, spec in doc["groups"].items():
        members = {_code(m, f"jurisdictions.yaml: group {name}") for m in spec["members"]}
        unknown = members - countries.keys()
        if unknown:
            raise CatalogError(f"jurisdictions.yaml: group {name}: unknown countries {sorted(unknown)}")
        members |= {c for c, target in treated_as.items() if target in members}
        groups[str(name).upper()] = frozenset(members)
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
                         str(doc.get("citation", "")))


_default: Jurisdictions | None = None


def default_jurisdictions() -> Jurisdictions:
    global _default
    if _default is None:
        _default = load_jurisdictions()
    return _default
