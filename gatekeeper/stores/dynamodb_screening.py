"""Restricted-party screening in the DynamoDB state store (``dynamodb://PREFIX?region=R``).

The :class:`~gatekeeper.stores.screening_base.ScreeningStore` of the distributed store, in two tables
declared on it with ``register_table`` (``gatekeeper store init`` and deploy/aws/template.yaml
create them; keys ``pk``/``sk``, strings):

``PREFIX-screening``: the lists and their bookkeeping

    pk = LIST#<code>              sk = HEAD          the pointer: version in force, list date, load
                                                     time, file, sha256, entry count, source labels
    pk = ENTRIES#<code>#<version> sk = <entry id>    one entry of one version of a list (JSON)
    pk = VERSIONS                 sk = <code>#<ver>  every version written (staged, in force or
                                                     retired), so that unreferenced ones are swept
    pk = META                     sk = <key>         ``generation`` (a random token per load) and other
                                                     meta values
    pk = EVENTS                   sk = <time>#<id>   append-only record of loads and clearances
    pk = LOCK                     sk = WRITER        the screening writers' lease (see below)

``PREFIX-screening-hits``: one item per (profile, entry) ever matched

    pk = <provider>#<account id>  sk = <entry id>    score, explanation, fingerprint, active, review

A profile's hits are one consistent Query on its key (``get_profile`` reads them through the
reader installed with ``set_screening_reader``); a hit's status is derived as in SQLite: ``lapsed``
when not active, ``cleared`` when the clearance's fingerprint is the hit's, ``open`` otherwise.

How a load replaces lists without a transaction over thousands of items: the entries are written
under a new version of each list, the hits of the re-screening are written, then one
TransactWriteItems switches every list's pointer (each conditional on the version it replaces),
the generation and the event; the old versions are deleted afterwards. Hits that no longer match
are marked lapsed only after the switch, so that a crash at any point leaves either the old lists
in force, or the new ones with at most some hits still active that the next screening lapses:
never fewer restrictions than the lists in force call for.

# INVARIANT: a list is read only through its pointer; the version a pointer names is complete (it
# is switched to only after all its entries were written) and is deleted only once no pointer names it.
# INVARIANT: screening writers (load, screen, clear) hold the lease item ``LOCK``, and every write
# that commits their work is a transaction that checks they still hold it; so they are serialised
# across processes and machines like SQLite's write transactions, and a writer whose lease was taken
# over (it stalled past the lease) commits nothing.
# INVARIANT: a load or a clearance commits only after its audit event was recorded (when a
# recorder is given); if the commit then fails, a ``...failed`` event follows it.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from gatekeeper._log import get_logger
from gatekeeper.audited import record_failure
from gatekeeper.errors import ConflictError, InvalidInputError, NotFoundError, StoreError, WorkflowError
from gatekeeper.model import PROVIDERS, CustomerProfile, ScreeningHit
from gatekeeper.stores.dynamodb import (
    DynamoDB,
    DynamoDBStore,
    Item,
    N,
    S,
    TableSpec,
    backoff,
    cancellation_codes,
    get_n,
    get_s,
    profile_key,
    register_table,
    set_screening_reader,
)
from gatekeeper.stores.screening_base import (
    LIST_CODES,
    STATUSES,
    EventRecorder,
    ListEntry,
    ListInfo,
    ParsedList,
    ScreenFn,
    StoredHit,
    SubjectResult,
    WriteSummary,
    entry_from_dict,
)

log = get_logger("gatekeeper.stores.dynamodb_screening")

LISTS_TABLE = TableSpec("screening", "pk", "sk", purpose="restricted-party lists: pointers (LIST#code), versioned "
                        "entries (ENTRIES#code#version), events, meta and the writers' lease")
HITS_TABLE = TableSpec("screening-hits", "pk", "sk", purpose="screening hits; pk = PROVIDER#ACCOUNT_ID, "
                       "sk = list entry id")

# How long a writer's lease lasts (a load of the whole CSL and thousands of profiles takes minutes),
# and how long another writer waits for it before giving up with ConflictError.
LOCK_LEASE_SECONDS = 900.0
LOCK_WAIT_SECONDS = 120.0
BATCH = 25  # BatchWriteItem's limit
TRANSACTION = 100  # TransactWriteItems' limit
WRITERS = 8  # parallel BatchWriteItem calls while staging a list
SMALL_RUN = 25  # up to this many subjects, their stored hits are read by Query rather than one Scan

CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"
_LOCK_KEY: Item = {"pk": S("LOCK"), "sk": S("WRITER")}
_GENERATION_KEY: Item = {"pk": S("META"), "sk": S("generation")}
_HIT_FIELDS = ("provider", "account_id", "entry_id", "list_code", "entry_name", "legal_name", "score",
               "explanation", "summary", "fingerprint", "active", "last_screened_at")

Key = tuple[str, str]  # (pk, sk) of a hit


def register() -> None:
    """Declare the screening tables and the hits reader on the DynamoDB store (idempotent).

    Called by ``DynamoDBStore`` when it is created: a profile read without the reader would miss
    the profile's hits, and ``store init`` must create the tables.
    """
    register_table("screening", LISTS_TABLE)
    register_table("screening_hits", HITS_TABLE)
    set_screening_reader(_read_profile_hits)


def _read_profile_hits(store: DynamoDBStore, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
    return _profile_hits(store.db, provider, account_id)


# What a decision needs of a hit (not the explanation, the largest attribute).
_PROFILE_HIT_ATTRIBUTES = ("list_code", "entry_id", "entry_name", "score", "active", "fingerprint",
                           "cleared_fingerprint")


def _profile_hits(db: DynamoDB, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
    """A profile's hits, open and cleared (lapsed ones are not hits): one consistent Query."""
    items = _query(db, db.table("screening_hits"), profile_key(provider, account_id),
                   ProjectionExpression=", ".join(f"#{a}" for a in _PROFILE_HIT_ATTRIBUTES),
                   ExpressionAttributeNames={f"#{a}": a for a in _PROFILE_HIT_ATTRIBUTES})
    hits = [ScreeningHit(list_code=get_s(i, "list_code"), entry_id=get_s(i, "entry_id"),
                         name=get_s(i, "entry_name"), score=get_n(i, "score"), cleared=_status(i) == "cleared")
            for i in items if _status(i) != "lapsed"]
    return tuple(sorted(hits, key=lambda h: (-h.score, h.list_code, h.entry_id)))


def _query(db: DynamoDB, table: str, pk: str, **extra: Any) -> list[Item]:
    return list(db.pages("query", TableName=table, KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues={":pk": S(pk)}, ConsistentRead=True, **extra))


def _status(item: Item) -> str:
    if get_n(item, "active") == 0:
        return "lapsed"
    return "cleared" if get_s(item, "cleared_fingerprint") == get_s(item, "fingerprint") else "open"


def _stored_hit(item: Item) -> StoredHit:
    try:
        explanation = json.loads(get_s(item, "explanation", "{}"))
    except ValueError as exc:
        raise StoreError(f"screening hit {get_s(item, 'pk')}/{get_s(item, 'sk')}: stored explanation is "
                         f"invalid: {exc}") from exc
    return StoredHit(
        provider=get_s(item, "provider"), account_id=get_s(item, "account_id"),
        legal_name=get_s(item, "legal_name"), list_code=get_s(item, "list_code"),
        entry_id=get_s(item, "entry_id"), entry_name=get_s(item, "entry_name"), score=get_n(item, "score"),
        explanation=explanation, status=_status(item), first_seen_at=get_s(item, "first_seen_at"),
        last_screened_at=get_s(item, "last_screened_at"), cleared_by=get_s(item, "cleared_by"),
        cleared_reason=get_s(item, "cleared_reason"), cleared_at=get_s(item, "cleared_at"),
        summary=get_s(item, "summary"))


def _names(expression_values: dict[str, Any]) -> dict[str, str]:
    """``#x`` -> ``x`` for each ``:x``: every attribute is aliased (``name``, ``data``, ``owner`` ... are
    DynamoDB reserved words)."""
    return {f"#{k[1:]}": k[1:] for k in expression_values}


def profiles_for_screening(store: DynamoDBStore) -> list[CustomerProfile]:
    """Every stored profile without its hits (screening needs names and countries only; reading each
    profile's hits would cost a Query per profile)."""
    items = store.db.pages("scan", TableName=store.profiles.name, ConsistentRead=True)
    profiles = [CustomerProfile(
        provider=get_s(i, "provider"), account_id=get_s(i, "account_id"), legal_name=get_s(i, "legal_name"),
        country=get_s(i, "country"), headquarters_country=get_s(i, "headquarters_country"),
        ultimate_parent_country=get_s(i, "ultimate_parent_country"), kyc_status=get_s(i, "kyc_status"))
        for i in items]
    return sorted(profiles, key=lambda p: (p.provider, p.account_id))


_stores: weakref.WeakKeyDictionary[DynamoDBStore, DynamoDBScreeningStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def screening_store_for(store: DynamoDBStore) -> DynamoDBScreeningStore:
    """The screening store on ``store``'s tables (one per store object)."""
    with _stores_lock:
        found = _stores.get(store)
        if found is None:
            found = _stores[store] = DynamoDBScreeningStore(store)
        return found


@dataclass(slots=True)
class _Plan:
    """The hit writes of one screening run, with what they overwrite (to undo them)."""

    at: str
    upserts: dict[Key, dict[str, Any]] = field(default_factory=dict)  # key -> attribute values to SET
    lapses: list[Key] = field(default_factory=list)
    before: dict[Key, Item] = field(default_factory=dict)
    summary: WriteSummary = field(default_factory=lambda: WriteSummary(0, 0, 0, 0, 0))


class DynamoDBScreeningStore:
    """Screening in ``PREFIX-screening`` and ``PREFIX-screening-hits`` (implements ``ScreeningStore``)."""

    def __init__(self, store: DynamoDBStore | DynamoDB, *, lock_wait: float = LOCK_WAIT_SECONDS,
                 lease: float = LOCK_LEASE_SECONDS) -> None:
        register()
        self.db = store.db if isinstance(store, DynamoDBStore) else store
        self.lists_table = self.db.table("screening")
        self.hits_table = self.db.table("screening_hits")
        self.lock_wait = lock_wait
        self.lease = lease

    @property
    def cache_key(self) -> str:
        """Names these tables, for caches shared by several stores (the matcher's index)."""
        loc = self.db.location
        return f"dynamodb://{loc.prefix}?region={loc.region}&endpoint_url={loc.endpoint_url or ''}"

    # -- reading ------------------------------------------------------------------------------

    def generation(self) -> str:
        return self.get_meta("generation") or ""

    def get_meta(self, key: str) -> str | None:
        out = self.db.call("get_item", TableName=self.lists_table, Key={"pk": S("META"), "sk": S(key)},
                           ConsistentRead=True)
        item = out.get("Item")
        return get_s(item, "value") if item else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.call("put_item", TableName=self.lists_table,
                     Item={"pk": S("META"), "sk": S(key), "value": S(value)})

    def _heads(self) -> dict[str, Item]:
        """The pointer item of every loaded list, by list code (one consistent BatchGetItem)."""
        request: dict[str, Any] = {self.lists_table: {
            "Keys": [{"pk": S(f"LIST#{c}"), "sk": S("HEAD")} for c in LIST_CODES], "ConsistentRead": True}}
        heads: dict[str, Item] = {}
        for attempt in range(20):
            out = self.db.call("batch_get_item", RequestItems=request)
            for item in out.get("Responses", {}).get(self.lists_table, []):
                heads[get_s(item, "list_code")] = item
            request = out.get("UnprocessedKeys") or {}
            if not request:
                return heads
            backoff(attempt)
        raise StoreError(f"DynamoDB table {self.lists_table}: could not read the list pointers (throttled)")

    def _version_entries(self, code: str, version: str) -> list[ListEntry]:
        items = _query(self.db, self.lists_table, f"ENTRIES#{code}#{version}")
        try:
            return [entry_from_dict(json.loads(get_s(i, "data"))) for i in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"DynamoDB table {self.lists_table}: an entry of list {code} version {version} "
                             f"is invalid: {exc}") from exc

    def _entries_of(self, heads: dict[str, Item]) -> list[ListEntry]:
        """The entries of the versions ``heads`` name. An id in several lists is kept in the list loaded
        last (the file loaded last is the truth, as in SQLite where a load deletes the older row)."""
        chosen: dict[str, ListEntry] = {}
        for code, head in sorted(heads.items(), key=lambda kv: get_s(kv[1], "loaded_at"), reverse=True):
            entries = self._version_entries(code, get_s(head, "version"))
            if len(entries) != int(get_n(head, "entry_count")):
                raise StoreError(f"DynamoDB table {self.lists_table}: list {code} version "
                                 f"{get_s(head, 'version')} has {len(entries)} entries, its pointer says "
                                 f"{int(get_n(head, 'entry_count'))}")
            for e in entries:
                chosen.setdefault(e.entry_id, e)
        return sorted(chosen.values(), key=lambda e: (e.list_code, e.entry_id))

    def entries(self) -> list[ListEntry]:
        # Outside the writers' lease a load may switch the pointers (and delete the versions read)
        # meanwhile: read again until the generation is the same before and after.
        for attempt in range(10):
            generation = self.generation()
            heads = self._heads()
            try:
                entries = self._entries_of(heads)
            except StoreError:
                if self.generation() == generation:
                    raise
                continue
            if self.generation() == generation:
                return entries
            backoff(attempt)
        raise StoreError(f"DynamoDB table {self.lists_table}: the lists kept changing while being read")

    def lists(self) -> list[ListInfo]:
        out = []
        for code, h in sorted(self._heads().items()):
            try:
                labels = tuple(json.loads(get_s(h, "sources", "[]")))
            except ValueError:
                labels = ()
            out.append(ListInfo(list_code=code, list_date=get_s(h, "list_date"), loaded_at=get_s(h, "loaded_at"),
                                entry_count=int(get_n(h, "entry_count")), source_file=get_s(h, "source_file"),
                                sha256=get_s(h, "sha256"), source_labels=labels))
        return out

    def hits(self, statuses: Sequence[str] = ("open",)) -> list[StoredHit]:
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise InvalidInputError(f"unknown hit status {unknown[0]!r}; expected one of {STATUSES}",
                                    field="status")
        items = self.db.pages("scan", TableName=self.hits_table, ConsistentRead=True)
        found = [h for h in map(_stored_hit, items) if h.status in statuses]
        return sorted(found, key=lambda h: (-h.score, h.provider, h.account_id, h.entry_id))

    def _get_hit(self, provider: str, account_id: str, entry_id: str) -> Item | None:
        out = self.db.call("get_item", TableName=self.hits_table, ConsistentRead=True,
                           Key={"pk": S(profile_key(provider, account_id)), "sk": S(entry_id)})
        item: Item | None = out.get("Item")
        return item

    def find_hits(self, account_id: str, entry_id: str, provider: str | None = None) -> list[StoredHit]:
        found = [self._get_hit(p, account_id, entry_id) for p in ([provider] if provider else PROVIDERS)]
        return sorted((_stored_hit(i) for i in found if i is not None), key=lambda h: h.provider)

    def screening_hits_for(self, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
        return _profile_hits(self.db, provider, account_id)

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest events, newest first; ``seq`` is the event's sort key (time, then a random id)."""
        out = self.db.call("query", TableName=self.lists_table, KeyConditionExpression="pk = :pk",
                           ExpressionAttributeValues={":pk": S("EVENTS")}, ScanIndexForward=False,
                           Limit=max(1, limit), ConsistentRead=True)
        return [{"seq": get_s(i, "sk"), "at": get_s(i, "at"), "kind": get_s(i, "kind"),
                 "actor": get_s(i, "actor"), "data": json.loads(get_s(i, "data", "{}"))}
                for i in out.get("Items", [])[:limit]]

    # -- the writers' lease -------------------------------------------------------------------

    @contextmanager
    def _locked(self, op: str) -> Iterator[str]:
        owner = uuid.uuid4().hex
        self._acquire(owner, op)
        try:
            yield owner
        finally:
            self._release(owner)

    def _acquire(self, owner: str, op: str) -> None:
        deadline = time.monotonic() + self.lock_wait
        holder = f"{socket.gethostname()}:{os.getpid()}"
        attempt = 0
        while True:
            now = time.time()
            try:
                values = {":owner": S(owner), ":op": S(op), ":holder": S(holder),
                          ":expires_at": N(now + self.lease), ":since": N(now)}
                self.db.call("update_item", expected=(CONDITION_FAILED,), TableName=self.lists_table,
                             Key=_LOCK_KEY, UpdateExpression="SET " + ", ".join(f"#{k[1:]} = {k}" for k in values),
                             ConditionExpression="attribute_not_exists(pk) OR #expires_at < :now",
                             ExpressionAttributeNames=_names(values),
                             ExpressionAttributeValues={**values, ":now": N(now)})
                return
            except ClientError:
                pass
            if time.monotonic() >= deadline:
                out = self.db.call("get_item", TableName=self.lists_table, Key=_LOCK_KEY, ConsistentRead=True)
                item = out.get("Item") or {}
                raise ConflictError(
                    f"another screening run ({get_s(item, 'op') or 'unknown'} on {get_s(item, 'holder') or '?'}) "
                    f"holds the screening lock of {self.lists_table}; nothing was changed, try again later "
                    f"(a stalled run's lock expires {self.lease:.0f} s after it was taken)")
            time.sleep(min(1.0, 0.02 * 2 ** min(attempt, 6)) * (0.5 + random.random()))
            attempt += 1

    def _release(self, owner: str) -> None:
        try:
            self.db.call("delete_item", expected=(CONDITION_FAILED,), TableName=self.lists_table, Key=_LOCK_KEY,
                         ConditionExpression="#owner = :owner", ExpressionAttributeNames={"#owner": "owner"},
                         ExpressionAttributeValues={":owner": S(owner)})
        except ClientError:
            log.warning("screening.lock_lost", table=self.lists_table)
        except StoreError as exc:  # the lease expires on its own
            log.error("screening.lock_release_failed", table=self.lists_table, error=str(exc))

    def _lock_check(self, owner: str) -> dict[str, Any]:
        return {"ConditionCheck": {"TableName": self.lists_table, "Key": _LOCK_KEY,
                                   "ConditionExpression": "#owner = :owner",
                                   "ExpressionAttributeNames": {"#owner": "owner"},
                                   "ExpressionAttributeValues": {":owner": S(owner)}}}

    def _transact(self, owner: str, ops: list[dict[str, Any]], what: str) -> None:
        """One transaction of ``ops`` that commits only while ``owner`` holds the lease."""
        for attempt in range(10):
            try:
                self.db.call("transact_write_items", expected=(CANCELLED,),
                             TransactItems=[self._lock_check(owner), *ops])
                return
            except ClientError as exc:
                codes = cancellation_codes(exc)
                if codes and codes[0] == "ConditionalCheckFailed":
                    raise ConflictError(f"{what}: this run's screening lock of {self.lists_table} expired and "
                                        "was taken over by another run; nothing more was written") from exc
                if "ConditionalCheckFailed" in codes:
                    raise ConflictError(f"{what}: the screening tables changed under this run "
                                        f"({', '.join(codes)})") from exc
                if not any(c in ("TransactionConflict", "ThrottlingError") for c in codes):
                    raise StoreError(f"DynamoDB transaction ({what}) cancelled: {', '.join(codes)}") from exc
                backoff(attempt)
        raise StoreError(f"DynamoDB transaction ({what}) kept conflicting with other writers")

    # -- batch writes ---------------------------------------------------------------------------

    def _batch(self, table: str, requests: list[dict[str, Any]], *, parallel: bool = False) -> None:
        """BatchWriteItem in chunks of 25, retrying unprocessed items; StoreError if some stay unwritten."""
        chunks = [requests[i:i + BATCH] for i in range(0, len(requests), BATCH)]

        def write(chunk: list[dict[str, Any]]) -> None:
            pending: dict[str, Any] = {table: chunk}
            for attempt in range(30):
                out = self.db.call("batch_write_item", RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    return
                backoff(attempt)
            raise StoreError(f"DynamoDB table {table}: {len(pending.get(table, []))} items stayed unwritten "
                             "(throttled)")

        if parallel and len(chunks) > 1:
            with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="screening-write") as pool:
                for _ in pool.map(write, chunks):
                    pass
        else:
            for chunk in chunks:
                write(chunk)

    def _delete_version(self, code: str, version: str) -> None:
        pk = f"ENTRIES#{code}#{version}"
        keys = _query(self.db, self.lists_table, pk, ProjectionExpression="pk, sk")
        self._batch(self.lists_table, [{"DeleteRequest": {"Key": {"pk": k["pk"], "sk": k["sk"]}}} for k in keys],
                    parallel=True)
        self.db.call("delete_item", TableName=self.lists_table,
                     Key={"pk": S("VERSIONS"), "sk": S(f"{code}#{version}")})

    def _sweep(self) -> None:
        """Delete every version no pointer names (retired by a load, or staged by a load that failed).
        Only under the lease, so that no load is staging a version meanwhile; best effort."""
        try:
            heads = self._heads()
            for marker in _query(self.db, self.lists_table, "VERSIONS"):
                code, version = get_s(marker, "list_code"), get_s(marker, "version")
                if code in heads and get_s(heads[code], "version") == version:
                    continue
                self._delete_version(code, version)
                log.info("screening.version_deleted", list=code, version=version)
        except StoreError as exc:
            log.warning("screening.sweep_failed", table=self.lists_table, error=str(exc))

    def _stage(self, parsed: ParsedList, versions: dict[str, str], at: str) -> None:
        """Write each list's entries under its new version (markers first, so a crash leaves them sweepable)."""
        self._batch(self.lists_table, [{"PutRequest": {"Item": {
            "pk": S("VERSIONS"), "sk": S(f"{code}#{v}"), "list_code": S(code), "version": S(v),
            "created_at": S(at)}}} for code, v in versions.items()])
        self._batch(self.lists_table, [{"PutRequest": {"Item": {
            "pk": S(f"ENTRIES#{e.list_code}#{versions[e.list_code]}"), "sk": S(e.entry_id),
            "name": S(e.name), "data": S(json.dumps(e.as_dict(), sort_keys=True))}}} for e in parsed.entries],
            parallel=True)

    def _drop(self, versions: dict[str, str]) -> None:
        for code, version in versions.items():
            try:
                self._delete_version(code, version)
            except StoreError as exc:  # swept by the next load
                log.warning("screening.staged_version_left", list=code, version=version, error=str(exc))

    # -- writing ------------------------------------------------------------------------------

    def load(self, parsed: ParsedList, screen: ScreenFn, *, at: str, actor: str,
             record_event: EventRecorder | None = None) -> WriteSummary:
        codes = parsed.list_codes
        counts = parsed.counts()
        with self._locked("load") as owner:
            self._sweep()
            heads = self._heads()
            generation = uuid.uuid4().hex
            versions = {code: uuid.uuid4().hex for code in codes}
            switched = False
            try:
                self._stage(parsed, versions, at)
                # What the new generation holds: the file's lists, and the other lists as they are.
                # The file is the truth for its ids (an id moving between lists leaves the older one).
                ids = {e.entry_id for e in parsed.entries}
                kept = [e for e in self._entries_of({c: h for c, h in heads.items() if c not in codes})
                        if e.entry_id not in ids]
                merged = sorted([*kept, *parsed.entries], key=lambda e: (e.list_code, e.entry_id))
                results = screen(generation, lambda: list(merged))
                plan = self._plan(results, at)
                done = self._write_hits(owner, plan, list(plan.upserts), [], "load: storing hits")
                data = {"lists": counts, "list_date": parsed.list_date.isoformat(), "format": parsed.format,
                        "source_file": parsed.source_file, "sha256": parsed.sha256,
                        "profiles_screened": plan.summary.subjects, "open_hits": plan.summary.open_hits,
                        "new_hits": plan.summary.new_hits, "lapsed_hits": plan.summary.lapsed_hits}
                audited = False
                try:
                    if record_event is not None:
                        record_event("screening.list_loaded", actor, data)
                        audited = True
                    self._switch(owner, parsed, versions, heads, generation, at, actor, data)
                    switched = True
                except BaseException as exc:
                    self._undo(owner, plan, done)
                    if audited and record_event is not None:
                        _record_failure(record_event, "screening.list_load_failed", actor, data, exc)
                    raise
            finally:
                if not switched:
                    self._drop(versions)
            # After the switch: hits the new lists no longer match. A failure here leaves them active
            # (stricter than the lists in force); the next screening of those profiles lapses them.
            try:
                self._write_hits(owner, plan, [], plan.lapses, "load: lapsing hits", undo=False)
            except (StoreError, ConflictError) as exc:
                log.error("screening.lapse_failed", hits=len(plan.lapses), error=str(exc))
            self._sweep()
        return plan.summary

    def _switch(self, owner: str, parsed: ParsedList, versions: dict[str, str], heads: dict[str, Item],
                generation: str, at: str, actor: str, data: dict[str, Any]) -> None:
        counts = parsed.counts()
        ops: list[dict[str, Any]] = []
        for code, version in versions.items():
            labels = sorted({e.source for e in parsed.entries if e.list_code == code})
            put: dict[str, Any] = {"TableName": self.lists_table, "Item": {
                "pk": S(f"LIST#{code}"), "sk": S("HEAD"), "list_code": S(code), "version": S(version),
                "list_date": S(parsed.list_date.isoformat()), "loaded_at": S(at), "entry_count": N(counts[code]),
                "source_file": S(parsed.source_file), "sha256": S(parsed.sha256), "sources": S(json.dumps(labels))}}
            if code in heads:  # replaces exactly the version this load read
                put.update(ConditionExpression="#version = :version", ExpressionAttributeNames={"#version": "version"},
                           ExpressionAttributeValues={":version": heads[code]["version"]})
            else:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            ops.append({"Put": put})
        ops.append({"Put": {"TableName": self.lists_table, "Item": {**_GENERATION_KEY, "value": S(generation)}}})
        ops.append({"Put": self._event_put(at, "screening.list_loaded", actor, data)})
        self._transact(owner, ops, "load: switching the lists")

    def _event_put(self, at: str, kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"TableName": self.lists_table, "Item": {
            "pk": S("EVENTS"), "sk": S(f"{at}#{uuid.uuid4().hex[:12]}"), "at": S(at), "kind": S(kind),
            "actor": S(actor), "data": S(json.dumps(data, sort_keys=True))}}

    def screen(self, screen: ScreenFn, *, at: str) -> WriteSummary:
        with self._locked("screen") as owner:
            heads = self._heads()
            results = screen(self.generation(), lambda: self._entries_of(heads))
            plan = self._plan(results, at)
            self._write_hits(owner, plan, list(plan.upserts), plan.lapses, "screening: storing hits")
        return plan.summary

    def _stored_hits(self, subjects: set[tuple[str, str]]) -> dict[Key, Item]:
        if len(subjects) <= SMALL_RUN:
            items = [i for p, a in sorted(subjects) for i in _query(self.db, self.hits_table, profile_key(p, a))]
        else:
            items = list(self.db.pages("scan", TableName=self.hits_table, ConsistentRead=True))
        return {(get_s(i, "pk"), get_s(i, "sk")): i for i in items}

    def _plan(self, results: Iterable[SubjectResult], at: str) -> _Plan:
        """What storing ``results`` writes, and the summary, as SQLite's ``_write_results`` counts it."""
        results = list(results)  # a generator from the service; DynamoDB plans the whole run at once
        latest = {(r.provider, r.account_id): r for r in results}  # an account twice: the last one wins
        stored = self._stored_hits(set(latest))
        before: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        for item in stored.values():
            before.setdefault((get_s(item, "provider"), get_s(item, "account_id")), {})[get_s(item, "sk")] = (
                _status(item), get_s(item, "cleared_fingerprint"))
        plan = _Plan(at, before=stored)
        active = open_ = new = 0
        for r in latest.values():
            pk = profile_key(r.provider, r.account_id)
            old = before.get((r.provider, r.account_id), {})
            now_ids = {h.entry_id for h in r.hits}
            plan.lapses += [(pk, eid) for eid, (status, _) in sorted(old.items())
                            if status != "lapsed" and eid not in now_ids]
            for h in r.hits:
                plan.upserts[(pk, h.entry_id)] = {
                    "provider": S(r.provider), "account_id": S(r.account_id), "entry_id": S(h.entry_id),
                    "list_code": S(h.list_code), "entry_name": S(h.entry_name), "legal_name": S(r.legal_name),
                    "score": N(float(h.score)), "explanation": S(h.explanation_text()),
                    "summary": S(h.summary), "fingerprint": S(h.fingerprint), "active": N(1),
                    "last_screened_at": S(at)}
                prev_status, cleared_fp = old.get(h.entry_id, ("", ""))
                active += 1
                if cleared_fp != h.fingerprint:  # a clearance holds only for the same names/countries
                    open_ += 1
                    new += prev_status != "open"
        plan.summary = WriteSummary(subjects=len(results), active_hits=active, open_hits=open_, new_hits=new,
                                    lapsed_hits=len(plan.lapses))
        return plan

    def _write_hits(self, owner: str, plan: _Plan, upserts: list[Key], lapses: list[Key], what: str, *,
                    undo: bool = True) -> list[Key]:
        """Upsert and lapse hits in lease-checked transactions; on failure undo what was written (unless
        ``undo`` is False) and raise. Review fields (``cleared_*``) are never touched here."""
        ops: list[tuple[Key, dict[str, Any]]] = []
        for key in upserts:
            values = {f":{k}": v for k, v in plan.upserts[key].items()}
            sets = [f"#{k} = :{k}" for k in _HIT_FIELDS] + ["#first_seen_at = if_not_exists(#first_seen_at, :at)"]
            ops.append((key, {"Update": {
                "TableName": self.hits_table, "Key": {"pk": S(key[0]), "sk": S(key[1])},
                "UpdateExpression": "SET " + ", ".join(sets),
                "ExpressionAttributeNames": {**_names(values), "#first_seen_at": "first_seen_at"},
                "ExpressionAttributeValues": {**values, ":at": values[":last_screened_at"]}}}))
        for key in lapses:
            ops.append((key, {"Update": {
                "TableName": self.hits_table, "Key": {"pk": S(key[0]), "sk": S(key[1])},
                "UpdateExpression": "SET #active = :zero, #last_screened_at = :at",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#active": "active", "#last_screened_at": "last_screened_at"},
                "ExpressionAttributeValues": {":zero": N(0), ":at": S(plan.at)}}}))
        done: list[Key] = []
        step = TRANSACTION - 1  # one place is the lease check
        try:
            for i in range(0, len(ops), step):
                chunk = ops[i:i + step]
                self._transact(owner, [op for _, op in chunk], what)
                done += [k for k, _ in chunk]
        except BaseException:
            if undo:
                self._undo(owner, plan, done)
            raise
        return done

    def _holds(self, owner: str) -> bool:
        try:
            out = self.db.call("get_item", TableName=self.lists_table, Key=_LOCK_KEY, ConsistentRead=True)
        except StoreError:
            return False
        return get_s(out.get("Item") or {}, "owner") == owner

    def _undo(self, owner: str, plan: _Plan, done: list[Key]) -> None:
        """Put back the hits ``done`` overwrote, while this run still holds the lease (so nobody else
        wrote them since). Without the lease they stay: they are active hits, stricter than needed."""
        if not done:
            return
        if not self._holds(owner):
            log.error("screening.undo_skipped", hits=len(done), reason="the screening lock was taken over")
            return
        requests = [{"PutRequest": {"Item": plan.before[k]}} if k in plan.before
                    else {"DeleteRequest": {"Key": {"pk": S(k[0]), "sk": S(k[1])}}} for k in dict.fromkeys(done)]
        try:
            self._batch(self.hits_table, requests)
        except StoreError as exc:
            log.error("screening.undo_failed", hits=len(requests), error=str(exc))

    def clear(self, provider: str, account_id: str, entry_id: str, *, by: str, reason: str, at: str,
              record_event: EventRecorder | None = None) -> StoredHit:
        with self._locked("clear") as owner:
            item = self._get_hit(provider, account_id, entry_id)
            if item is None:
                raise NotFoundError(f"no screening hit of {provider}:{account_id} on entry {entry_id!r}")
            hit = _stored_hit(item)
            if hit.status == "lapsed":
                raise WorkflowError(f"the hit of {provider}:{account_id} on entry {entry_id!r} no longer "
                                    "matches (lapsed); there is nothing to clear")
            if hit.status == "cleared":
                raise WorkflowError(f"the hit of {provider}:{account_id} on entry {entry_id!r} was already "
                                    f"cleared by {hit.cleared_by} at {hit.cleared_at}")
            data = {"provider": provider, "account_id": account_id, "legal_name": hit.legal_name,
                    "list": hit.list_code, "entry_id": entry_id, "entry_name": hit.entry_name,
                    "score": hit.score, "reason": reason, "summary": hit.summary, "at": at}
            # The audit record is durable before the clearance commits: a clearance that could not
            # be audited does not take effect.
            intent = record_event("screening.hit_cleared", by, data) if record_event is not None else None
            values = {":cleared_by": S(by), ":cleared_reason": S(reason), ":cleared_at": S(at),
                      ":cleared_fingerprint": item["fingerprint"]}
            update = {"TableName": self.hits_table, "Key": {"pk": item["pk"], "sk": item["sk"]},
                      "UpdateExpression": "SET " + ", ".join(f"#{k[1:]} = {k}" for k in values),
                      "ConditionExpression": "#fingerprint = :cleared_fingerprint AND #active = :one",
                      "ExpressionAttributeNames": {**_names(values), "#fingerprint": "fingerprint",
                                                   "#active": "active"},
                      "ExpressionAttributeValues": {**values, ":one": N(1)}}
            try:
                self._transact(owner, [{"Update": update},
                                       {"Put": self._event_put(at, "screening.hit_cleared", by, data)}],
                               "clearing a hit")
            except BaseException as exc:
                if record_event is not None:
                    record_failure(record_event, "screening.hit_clear_failed", by, data, [intent or {}], exc)
                raise
            updated = self._get_hit(provider, account_id, entry_id)
        if updated is None:
            raise StoreError(f"screening hit of {provider}:{account_id} on {entry_id!r} vanished after clearing")
        return _stored_hit(updated)

    def close(self) -> None:
        # The botocore client belongs to the state store; nothing to release here.
        pass


def _record_failure(record_event: EventRecorder, kind: str, actor: str, data: dict[str, Any],
                    exc: BaseException) -> None:
    """After an audited change failed to commit: say so in the audit log too (best effort)."""
    record_failure(record_event, kind, actor, data, [], exc)


__all__ = ["HITS_TABLE", "LISTS_TABLE", "DynamoDBScreeningStore", "profiles_for_screening", "register",
           "screening_store_for"]
