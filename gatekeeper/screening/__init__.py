"""Restricted-party screening against the Consolidated Screening List (trade.gov).

Layers, one module each:

    parse       CSL CSV/JSON -> validated ListEntry tuple (all or nothing, bad row named)
    normalize   names -> tokens (case, diacritics, punctuation, legal forms, generic/place words)
    match       ScreeningIndex: explained, rarity-weighted fuzzy scores (rapidfuzz)
    (stores)    the ScreeningStore protocol and its backends live in gatekeeper.stores
                (screening_base, sql_screening, dynamodb_screening): screening uses the stores,
                the stores never import screening
    service     load_list, screen_profiles, clear_hit, list_hits, check_name

What the rest of gatekeeper calls:

    screen_profiles(gk, profiles)                      screen given profiles (int(run) = open hits)
    import_profiles(gk, batches)                       ``gatekeeper accounts import``: store and screen
    hits_for_profile(db, provider, account_id)         from the SQL profile store
    load_list(gk, path, list_date=...)                 ``gatekeeper screening load``
"""

from __future__ import annotations

from gatekeeper.screening.match import DEFAULT_THRESHOLD, Explanation, Match, ScreeningIndex
from gatekeeper.screening.normalize import normalize_name
from gatekeeper.screening.parse import parse_bytes, parse_file
from gatekeeper.screening.service import (
    CheckResult,
    LoadResult,
    ScreeningRun,
    check_name,
    clear_hit,
    current_index,
    import_profiles,
    list_hits,
    load_list,
    screen_profiles,
    screening_store,
)
from gatekeeper.stores.screening_base import (
    LIST_CODES,
    LIST_NAMES,
    ListEntry,
    ParsedList,
    ScreeningStore,
    StoredHit,
)
from gatekeeper.stores.sql_screening import SqliteScreeningStore, hits_for_profile

__all__ = [
    "DEFAULT_THRESHOLD",
    "LIST_CODES",
    "LIST_NAMES",
    "CheckResult",
    "Explanation",
    "ListEntry",
    "LoadResult",
    "Match",
    "ParsedList",
    "ScreeningIndex",
    "ScreeningRun",
    "ScreeningStore",
    "SqliteScreeningStore",
    "StoredHit",
    "check_name",
    "clear_hit",
    "current_index",
    "hits_for_profile",
    "import_profiles",
    "list_hits",
    "load_list",
    "normalize_name",
    "parse_bytes",
    "parse_file",
    "screen_profiles",
    "screening_store",
]
