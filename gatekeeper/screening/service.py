"""Screening as the rest of gatekeeper uses it: load a list, screen profiles, clear a hit, check a name.

Every function takes a ``target``: a :class:`gatekeeper.service.Gatekeeper` (its store, its
``[screening] threshold`` and its audit log through ``record_event``), the main store object (any
:class:`gatekeeper.stores.base.StateStore`: SQLite, PostgreSQL, DynamoDB), a :class:`ScreeningStore`,
a store URL (``sqlite:///path.db``, ``postgresql://...``, ``dynamodb://PREFIX?region=R``) or the path
of a SQLite file. The screening store is the main store's ``.screening``: tables in the same SQLite
file or PostgreSQL schema (``stores.sql_screening``), or DynamoDB tables with the same prefix
(``stores.dynamodb_screening``). This module only uses the stores; they never import it.

The matcher's index is cached per store (database file or table prefix) and list generation, so
screening the profiles of one import after another does not rebuild it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from gatekeeper._log import get_logger
from gatekeeper.errors import ConfigError, InvalidInputError, NotFoundError, StoreError
from gatekeeper.model import PROVIDERS, CustomerProfile, utcnow
from gatekeeper.screening._workers import available_cpus, ordered_map
from gatekeeper.screening.match import DEFAULT_THRESHOLD, Match, ScreeningIndex
from gatekeeper.screening.normalize import normalize_name
from gatekeeper.screening.parse import parse_file
from gatekeeper.stores.screening_base import (
    EventRecorder,
    HitCandidate,
    ListEntry,
    ParsedList,
    ScreenFn,
    ScreeningStore,
    StoredHit,
    SubjectResult,
    WriteSummary,
    explanation_text,
)

log = get_logger("gatekeeper.screening")

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ScreeningRun:
    """The outcome of screening some profiles; ``int(run)`` is the number of open hits among them."""

    profiles: int
    active_hits: int
    open_hits: int
    new_hits: int
    lapsed_hits: int
    threshold: float
    results: tuple[SubjectResult, ...] = ()

    def __int__(self) -> int:
        return self.open_hits

    def as_dict(self) -> dict[str, Any]:
        return {"profiles_screened": self.profiles, "hits": self.active_hits, "open_hits": self.open_hits,
                "new_hits": self.new_hits, "lapsed_hits": self.lapsed_hits, "threshold": self.threshold}


@dataclass(frozen=True, slots=True)
class LoadResult:
    parsed: ParsedList
    run: ScreeningRun

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.parsed.source_file, "format": self.parsed.format,
                "list_date": self.parsed.list_date.isoformat(), "sha256": self.parsed.sha256,
                "entries": len(self.parsed.entries), "lists": self.parsed.counts(), **self.run.as_dict()}


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    countries: tuple[str, ...]
    threshold: float
    entries_loaded: int
    matches: tuple[Match, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "normalized": list(normalize_name(self.name).tokens),
            "countries": list(self.countries), "threshold": self.threshold,
            "entries_loaded": self.entries_loaded,
            "matches": [{"list": m.entry.list_code, "entry_id": m.entry.entry_id, "entry_name": m.entry.name,
                         "score": m.score, "hit": m.score >= self.threshold,
                         "explanation": m.explanation.as_dict()} for m in self.matches],
        }


# -- targets -----------------------------------------------------------------------------------

Pages = Callable[[], Iterable[Sequence[CustomerProfile]]]


@dataclass(slots=True)
class _Target:
    store: ScreeningStore
    subject_pages: Pages | None  # every stored profile, a page at a time
    threshold: float | None
    record_event: EventRecorder | None
    main: Any = None  # the main store (StateStore), when known
    count: Callable[[], int] | None = None  # how many profiles subject_pages yields, when cheap to know
    workers: int = 0  # processes re-screening the profiles of a list load ([screening] workers); 0: the CPUs


def _resolve(target: Any, base_dir: str | Path = ".") -> _Target:
    if isinstance(target, ScreeningStore):  # SQLScreeningStore, DynamoDBScreeningStore
        return _Target(target, None, None, None)
    if isinstance(target, str | Path):
        from gatekeeper.stores import open_store

        text = str(target)
        url = text if "://" in text else f"sqlite:///{Path(text).resolve()}"
        return _resolve(open_store(url, base_dir=base_dir), base_dir)
    config = getattr(target, "config", None)
    if config is not None and hasattr(target, "store"):  # a Gatekeeper
        inner = _resolve(target.store, base_dir)
        inner.threshold = float(config.screening.threshold)
        inner.workers = int(config.screening.workers)
        inner.record_event = getattr(target, "record_event", None)
        return inner
    screening = getattr(target, "screening", None)  # the main store (StateStore)
    subjects = getattr(target, "screening_subjects", None)
    if screening is not None and subjects is not None:
        paged = getattr(target, "iter_screening_subjects", None)
        pages: Pages = paged if paged is not None else (lambda: [subjects()])
        return _Target(screening, pages, None, None, target, getattr(target, "count_profiles", None))
    raise StoreError(f"restricted-party screening needs a state store (SQLite, PostgreSQL or DynamoDB); "
                     f"{type(target).__name__} has no screening store")


def screening_store(target: Any, *, base_dir: str | Path = ".") -> ScreeningStore:
    """The screening store of ``target`` (see the module docstring)."""
    return _resolve(target, base_dir).store


# -- the index cache ---------------------------------------------------------------------------

_cache_lock = threading.Lock()
_index_cache: dict[str, tuple[str, ScreeningIndex]] = {}


def _cache_key(store: ScreeningStore) -> str:
    key = getattr(store, "cache_key", None)  # DynamoDBScreeningStore: its table prefix and endpoint
    return key if isinstance(key, str) else str(Path(getattr(store, "path", "")).resolve())


def _index(store: ScreeningStore, generation: str,
           load_entries: Callable[[], list[ListEntry]]) -> ScreeningIndex:
    key = _cache_key(store)
    with _cache_lock:
        cached = _index_cache.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
    index = ScreeningIndex(load_entries())
    with _cache_lock:
        _index_cache[key] = (generation, index)
    return index


def current_index(target: Any) -> ScreeningIndex:
    """The matcher's index over the entries currently loaded in ``target``'s store."""
    store = screening_store(target)
    return _index(store, store.generation(), store.entries)


# -- screening ---------------------------------------------------------------------------------

def fingerprint(profile: CustomerProfile, entry: ListEntry) -> str:
    """What a clearance is bound to: both normalised names and both country sets."""
    return _fingerprint(profile.legal_name, profile.countries, entry)


def _fingerprint(legal_name: str, countries: Sequence[str], entry: ListEntry) -> str:
    doc = [sorted(normalize_name(legal_name).tokens), sorted(set(countries)), entry.list_code,
           sorted({entry.name, *entry.alt_names}), sorted(entry.countries)]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:24]


def screen_one(index: ScreeningIndex, profile: CustomerProfile, threshold: float) -> SubjectResult:
    """The hits of one profile: entries scoring at or above ``threshold``."""
    return SubjectResult(profile.provider, profile.account_id, profile.legal_name,
                         _hits(index, profile.legal_name, profile.countries, threshold))


def _hits(index: ScreeningIndex, legal_name: str, countries: Sequence[str], threshold: float, *,
          encoded: bool = False) -> tuple[HitCandidate, ...]:
    """What :func:`screen_one` finds for a profile of this name and these countries; ``encoded``:
    with each explanation also as stored (``HitCandidate.explanation_json``)."""
    if not legal_name.strip():
        return ()
    out = []
    for m in index.match(legal_name, countries, min_score=threshold):
        explanation = m.explanation.as_dict()
        out.append(HitCandidate(
            list_code=m.entry.list_code, entry_id=m.entry.entry_id, entry_name=m.entry.name,
            score=m.score, explanation=explanation, summary=m.explanation.summary(),
            fingerprint=_fingerprint(legal_name, countries, m.entry),
            explanation_json=explanation_text(explanation) if encoded else ""))
    return tuple(out)


def _default(t: _Target) -> float:
    return t.threshold if t.threshold is not None else DEFAULT_THRESHOLD


def _check_threshold(threshold: float) -> float:
    if not 0 <= threshold <= 100:
        raise InvalidInputError(f"screening threshold {threshold} is outside 0-100", field="threshold")
    return float(threshold)


def _screen_fn(store: ScreeningStore, pages: Pages, threshold: float, progress: Progress | None,
               total: Callable[[], int] | None, sink: list[SubjectResult] | None, workers: int = 1) -> ScreenFn:
    """What the store calls inside its transaction: the results of every profile of ``pages``, as a
    generator (the store writes them in batches as they come, so a million profiles are never all
    in memory unless ``sink`` keeps them). With ``workers`` > 1 the profiles are screened by that
    many forked processes (:func:`_screened_by_workers`), the results coming in the same order."""
    def run(generation: str, load_entries: Callable[[], list[ListEntry]]) -> Iterator[SubjectResult]:
        index = _index(store, generation, load_entries)
        expected = total() if total is not None else 0
        n = 0
        screened = (_screened_by_workers(index, pages, threshold, workers) if workers > 1 and len(index)
                    else (screen_one(index, p, threshold) for page in pages() for p in page))
        for result in screened:
            if sink is not None:
                sink.append(result)
            yield result
            n += 1
            if progress is not None and n % 200 == 0:
                progress(n, max(expected, n))
        if progress is not None:
            progress(n, n)
    return run


WORKER_CHUNK = 500  # profiles sent to a worker at a time: ~50 ms of matching, a few KB of names
_REMEMBERED = 20_000  # (name, countries) whose hits the command keeps for the rest of a load: ~20 MB

_Key = tuple[str, tuple[str, ...]]  # a profile's legal name and countries: all its hits depend on
_Hits = tuple[HitCandidate, ...]
# What the command keeps beside a chunk sent to the workers: its profiles, their keys, the hits
# already known for some of them, and the keys sent (whose hits come back in that order).
_Kept = tuple[Sequence[CustomerProfile], list[_Key], dict[_Key, _Hits], list[_Key]]


def _screened_by_workers(index: ScreeningIndex, pages: Pages, threshold: float, workers: int
                         ) -> Iterator[SubjectResult]:
    """``screen_one`` of every profile of ``pages``, in order, computed by ``workers`` forked processes
    that share ``index``: only names and countries go to them, only hits come back, their
    explanations already encoded as stored (a quarter of the writing process's work otherwise).

    Many accounts share a legal name (a customer's several accounts; an eighth of the bench's
    million): a (name, countries) whose hits are remembered is not sent again, nor twice in one
    chunk. Exact: the hits depend on nothing else (the index and the threshold are fixed for the load).
    """
    remembered: dict[_Key, _Hits] = {}

    def chunks() -> Iterator[tuple[_Kept, list[_Key]]]:
        for page in pages():
            for i in range(0, len(page), WORKER_CHUNK):
                part = page[i:i + WORKER_CHUNK]
                keys = [(p.legal_name, p.countries) for p in part]
                known: dict[_Key, _Hits] = {}
                sent: dict[_Key, None] = {}  # in order, once
                for key in keys:
                    if key not in known and key not in sent:
                        found = remembered.get(key)
                        if found is None:
                            sent[key] = None
                        else:
                            known[key] = found
                names = list(sent)
                yield (part, keys, known, names), names

    def screen(names: list[_Key]) -> list[_Hits]:
        return [_hits(index, name, countries, threshold, encoded=True) for name, countries in names]

    index.prepare(threshold)  # built once here rather than once in each worker
    for (part, keys, known, names), hits in ordered_map(screen, chunks(), workers):
        if len(remembered) + len(names) > _REMEMBERED:
            remembered.clear()
        for key, found in zip(names, hits, strict=True):
            known[key] = remembered[key] = found
        for p, key in zip(part, keys, strict=True):
            yield SubjectResult(p.provider, p.account_id, p.legal_name, known[key])


def _run(summary: WriteSummary, threshold: float, results: list[SubjectResult]) -> ScreeningRun:
    return ScreeningRun(profiles=summary.subjects, active_hits=summary.active_hits, open_hits=summary.open_hits,
                        new_hits=summary.new_hits, lapsed_hits=summary.lapsed_hits, threshold=threshold,
                        results=tuple(results))


def screen_profiles(
    target: Any,
    profiles: Iterable[CustomerProfile],
    *,
    threshold: float | None = None,
    base_dir: str | Path = ".",
    progress: Progress | None = None,
) -> ScreeningRun:
    """Screen ``profiles`` against the loaded lists and store their hits (one transaction).

    Hits that no longer match become ``lapsed``; a cleared hit stays cleared while both names and
    countries are unchanged. With no list loaded every profile simply has no hits.
    ``threshold`` defaults to the Gatekeeper's ``[screening] threshold``, else 88.
    """
    t = _resolve(target, base_dir)
    chosen = list(profiles)
    limit = _check_threshold(threshold if threshold is not None else _default(t))
    results: list[SubjectResult] = []
    summary = t.store.screen(_screen_fn(t.store, lambda: [chosen], limit, progress, lambda: len(chosen), results),
                             at=utcnow().isoformat())
    log.info("screening.screened", profiles=summary.subjects, open_hits=summary.open_hits,
             new_hits=summary.new_hits)
    return _run(summary, limit, results)


def import_profiles(
    target: Any,
    batches: Iterable[Sequence[CustomerProfile]],
    *,
    threshold: float | None = None,
    base_dir: str | Path = ".",
) -> ScreeningRun:
    """Store ``batches`` of profiles and screen them: all or nothing (``gatekeeper accounts import``).

    On a SQL store (SQLite, PostgreSQL) the batches are staged and screened one at a time without the
    write lock, so memory holds one batch whatever the file's size, and swapped in by one short serial
    transaction (``SQLStore.import_profiles``); an error raised by ``batches`` (a bad row further on
    in the file) or by screening changes nothing. DynamoDB
    has no transaction that spans an import: there the batches are gathered, screened, stored (its
    own all-or-nothing write with undo) and screened again against any list loaded in between.
    ``ScreeningRun.profiles`` is the number of profiles imported; its ``results`` are not kept.
    """
    t = _resolve(target, base_dir)
    limit = _check_threshold(threshold if threshold is not None else _default(t))
    bulk = getattr(t.main, "import_profiles", None)
    if bulk is None:
        profiles = [p for batch in batches for p in batch]
        if t.main is None:
            raise ConfigError("importing profiles needs a state store")
        # Screen first: if screening fails, nothing is stored, so no listed customer sits unscreened.
        screen_profiles(target, profiles, threshold=limit, base_dir=base_dir)
        t.main.profiles.put_profiles(profiles)
        return replace(screen_profiles(target, profiles, threshold=limit, base_dir=base_dir), results=())

    def screen(generation: str, load_entries: Callable[[], list[ListEntry]],
               batch: Sequence[CustomerProfile]) -> list[SubjectResult]:
        index = _index(t.store, generation, load_entries)
        if not len(index):  # no list loaded: no profile can match (the usual first import)
            return [SubjectResult(p.provider, p.account_id, p.legal_name, ()) for p in batch]
        return [screen_one(index, p, limit) for p in batch]

    summary = bulk(batches, screen, at=utcnow().isoformat())
    log.info("screening.imported", profiles=summary.subjects, open_hits=summary.open_hits,
             new_hits=summary.new_hits)
    return _run(summary, limit, [])


def load_list(
    target: Any,
    source: str | Path | ParsedList,
    *,
    list_date: date | None = None,
    threshold: float | None = None,
    actor: str | None = None,
    record_event: EventRecorder | None = None,
    profiles: Callable[[], Sequence[CustomerProfile]] | None = None,
    base_dir: str | Path = ".",
    progress: Progress | None = None,
    workers: int | None = None,
) -> LoadResult:
    """Load a CSL file (or an already parsed one) and re-screen every stored profile, atomically.

    The file is parsed and validated completely first (a bad file raises InvalidInputError naming
    the row and changes nothing); then, in one transaction, the entries of the lists the file holds
    are replaced and all profiles (``profiles()``, by default the main store's) are re-screened.

    ``workers`` processes share the re-screening (default: the Gatekeeper's ``[screening] workers``;
    0 or unset: the CPUs this process may use); the results and what is stored are the same for
    any number. A worker that fails fails the load: nothing is changed.
    """
    parsed = source if isinstance(source, ParsedList) else parse_file(source, list_date=list_date)
    t = _resolve(target, base_dir)
    pages = (lambda: [profiles()]) if profiles is not None else t.subject_pages
    if pages is None:
        raise ConfigError("loading a list re-screens the stored profiles: pass profiles= or a target "
                          "with a profile store")
    limit = _check_threshold(threshold if threshold is not None else _default(t))
    who = actor or _os_user()
    chosen = workers if workers is not None else t.workers
    if chosen < 0:
        raise InvalidInputError(f"{chosen} screening workers: expected 1 or more (0: the CPUs available)",
                                field="workers")
    # The results are written as they come and not kept: a re-screening may cover a million profiles.
    screen = _screen_fn(t.store, pages, limit, progress, None if profiles else t.count, None,
                        workers=chosen or available_cpus())
    summary = t.store.load(parsed, screen, at=utcnow().isoformat(), actor=who,
                           record_event=record_event or t.record_event)
    log.info("screening.list_loaded", lists=parsed.counts(), list_date=parsed.list_date.isoformat(),
             profiles=summary.subjects, open_hits=summary.open_hits, new_hits=summary.new_hits)
    return LoadResult(parsed, _run(summary, limit, []))


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "gatekeeper"


def split_account(account: str, provider: str | None = None) -> tuple[str | None, str]:
    """``"aws:123"`` -> ``("aws", "123")``; a bare id keeps ``provider`` (possibly None)."""
    head, sep, tail = account.partition(":")
    if sep and head.lower() in PROVIDERS and tail:
        if provider and provider.lower() != head.lower():
            raise InvalidInputError(f"account {account!r} names provider {head!r}, not {provider!r}",
                                    field="provider")
        return head.lower(), tail
    return (provider.lower() if provider else None), account


def clear_hit(
    target: Any,
    account: str,
    entry_id: str,
    *,
    by: str,
    reason: str,
    provider: str | None = None,
    record_event: EventRecorder | None = None,
    base_dir: str | Path = ".",
) -> StoredHit:
    """Clear a false positive: recorded with reviewer and reason (and audited, when the target has
    an audit log); it applies while the customer's and the entry's names and countries stay the same."""
    if not by.strip():
        raise InvalidInputError("a clearance needs the reviewer (--by)", field="by")
    if not reason.strip():
        raise InvalidInputError("a clearance needs a reason (--reason)", field="reason")
    prov, account_id = split_account(account.strip(), provider)
    if prov is not None and prov not in PROVIDERS:
        raise InvalidInputError(f"unknown provider {prov!r}; expected one of {', '.join(PROVIDERS)}",
                                field="provider")
    t = _resolve(target, base_dir)
    found = t.store.find_hits(account_id, entry_id.strip(), prov)
    if not found and prov in (None, "azure"):  # subscription ids are stored lower-case
        found = t.store.find_hits(account_id.lower(), entry_id.strip(), prov)
    if not found:
        raise NotFoundError(f"no screening hit of account {account!r} on entry {entry_id!r} "
                            "(see gatekeeper screening hits --all)")
    if len({h.provider for h in found}) > 1:
        raise InvalidInputError(
            f"account {account_id!r} has hits on entry {entry_id!r} under several providers "
            f"({', '.join(sorted(h.provider for h in found))}); write PROVIDER:{account_id}", field="account")
    hit = found[0]
    recorder = record_event or t.record_event
    if recorder is not None:  # the store records before it commits; any failure there is an AuditError
        from gatekeeper.audited import intent_recorder

        recorder = intent_recorder(recorder, f"the hit of {hit.provider}:{hit.account_id} on entry "
                                             f"{hit.entry_id!r} was not cleared")
    return t.store.clear(hit.provider, hit.account_id, hit.entry_id, by=by.strip(), reason=reason.strip(),
                         at=utcnow().isoformat(), record_event=recorder)


def list_hits(target: Any, *, include_all: bool = False, base_dir: str | Path = ".") -> list[StoredHit]:
    """Open hits (for review), or with ``include_all`` also cleared and lapsed ones."""
    statuses = ("open", "cleared", "lapsed") if include_all else ("open",)
    return _resolve(target, base_dir).store.hits(statuses)


def check_name(
    target: Any,
    name: str,
    countries: Sequence[str] = (),
    *,
    threshold: float | None = None,
    limit: int = 5,
    base_dir: str | Path = ".",
) -> CheckResult:
    """The best-scoring entries for ``name`` (hits or not), each with its explanation."""
    if not name.strip():
        raise InvalidInputError("a name to check is needed", field="name")
    cleaned = tuple(c.strip().upper() for c in countries if c.strip())
    for c in cleaned:
        if len(c) != 2 or not c.isalpha():
            raise InvalidInputError(f"{c!r} is not an ISO 3166 alpha-2 country code", field="country")
    t = _resolve(target, base_dir)
    limit_score = _check_threshold(threshold if threshold is not None else _default(t))
    index = _index(t.store, t.store.generation(), t.store.entries)
    matches = index.match(name, cleaned, limit=limit)
    return CheckResult(name=name, countries=cleaned, threshold=limit_score, entries_loaded=len(index),
                       matches=tuple(matches))
