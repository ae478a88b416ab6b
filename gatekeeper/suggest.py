""""Did you mean": the nearest known instance types and regions to a name the catalog does not know.

For people reading a result, never for deciding: an unknown type or region is still decided as
unknown (fail closed); the suggestions only help the caller fix a typo.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process

from gatekeeper.catalog import Catalog
from gatekeeper.jurisdictions import Jurisdictions
from gatekeeper.model import Decision

CUTOFF = 75.0  # rapidfuzz ratio (0-100); below it a "suggestion" is noise


def nearest(word: str, candidates: Iterable[str], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` candidates closest to ``word`` (case-insensitive), best first."""
    pool = {c.lower(): c for c in candidates}
    key = word.strip().lower()
    if not key or key in pool:
        return []
    found = process.extract(key, list(pool), scorer=fuzz.ratio, limit=limit, score_cutoff=CUTOFF)
    return [pool[match] for match, _score, _ in found]


def similar_instance_types(catalog: Catalog, provider: str | None, name: str) -> list[str]:
    """Known types near ``name`` (of ``provider``, or of any provider)."""
    return nearest(name, (t.name for t in catalog.types(provider)))


def similar_regions(jurisdictions: Jurisdictions, provider: str, region: str) -> list[str]:
    """Known regions of ``provider`` near ``region``; none for a known region or one of its zones."""
    if not region.strip() or jurisdictions.region_country(provider, region) is not None:
        return []
    return nearest(region, jurisdictions.regions.get(provider, {}))


def for_decision(catalog: Catalog, jurisdictions: Jurisdictions, d: Decision) -> dict[str, list[str]]:
    """``{"instance_type": [...], "region": [...]}`` for the unknown names of ``d`` (empty when all known)."""
    out: dict[str, list[str]] = {}
    for i in d.items:
        if not i.known and (near := similar_instance_types(catalog, d.request.provider, i.item.instance_type)):
            out["instance_type"] = near
    if near_regions := similar_regions(jurisdictions, d.request.provider, d.request.region):
        out["region"] = near_regions
    return out
