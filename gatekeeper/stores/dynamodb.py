"""The distributed store: DynamoDB tables shared by many machines (profiles, cases, licences).

URL: ``dynamodb://TABLE_PREFIX?region=us-east-1`` with optional ``&endpoint_url=http://127.0.0.1:PORT``
(DynamoDB Local, moto) and ``&max_attempts=N`` (botocore retries, default 3). Credentials come from
the usual AWS chain, never from the URL. The tables (``PREFIX-profiles``, ``PREFIX-cases``,
``PREFIX-licences``; schemas in ``TABLES`` and docs/workflow.md) are created by
``gatekeeper store init`` or by the deploy template; the store never creates them implicitly.

Extension point: another module that keeps state in DynamoDB (the restricted-party screening lists)
declares its tables with :func:`register_table`, so that ``gatekeeper store init`` and the docs cover
them, and may install a reader of a profile's screening hits with :func:`set_screening_reader`; it is
listed in ``EXTENSIONS`` so that it registers whenever a store is created
(``gatekeeper.stores.dynamodb_screening``: ``PREFIX-screening``, ``PREFIX-screening-hits``).

Every DynamoDB or connection error becomes :class:`gatekeeper.errors.StoreError` naming the table and
the operation; the service then fails closed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from botocore.exceptions import ClientError

from gatekeeper._log import get_logger
from gatekeeper.errors import ConfigError, StoreError
from gatekeeper.model import CustomerProfile, Owner, ScreeningHit

log = get_logger("gatekeeper.stores.dynamodb")

Item = dict[str, Any]  # a low-level DynamoDB item: {"attr": {"S": "..."}}


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: ``PREFIX-<suffix>``, its keys (all string attributes) and global secondary indexes."""

    suffix: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    purpose: str = ""
    # An attribute holding an epoch-seconds expiry that DynamoDB's TTL deletes after.
    ttl_attribute: str | None = None

    def schema(self) -> tuple[object, ...]:
        return (self.suffix, self.hash_key, self.range_key, self.indexes)

    def attributes(self) -> list[str]:
        names = [self.hash_key, *([self.range_key] if self.range_key else [])]
        for ix in self.indexes:
            names += [ix.hash_key, *([ix.range_key] if ix.range_key else [])]
        return list(dict.fromkeys(names))

    def create_args(self, name: str) -> dict[str, Any]:
        def keys(h: str, r: str | None) -> list[dict[str, str]]:
            return [{"AttributeName": h, "KeyType": "HASH"}, *([{"AttributeName": r, "KeyType": "RANGE"}] if r else [])]

        args: dict[str, Any] = {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": keys(self.hash_key, self.range_key),
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in self.attributes()],
        }
        if self.indexes:
            args["GlobalSecondaryIndexes"] = [
                {"IndexName": ix.name, "KeySchema": keys(ix.hash_key, ix.range_key),
                 "Projection": {"ProjectionType": "ALL"}}
                for ix in self.indexes
            ]
        return args


# The tables of the store, by role. INVARIANT: key names and index names here are what the deploy
# template (deploy/aws) creates; docs/workflow.md lists them.
TABLES: dict[str, TableSpec] = {
    "profiles": TableSpec("profiles", "pk", purpose="customer profiles; pk = PROVIDER#ACCOUNT_ID"),
    "cases": TableSpec("cases", "pk", "sk", (Index("by_status", "status", "opened_at"),),
                       purpose="cases (pk CASE#ID, sk CASE), their requests (sk REQ#TIME#SEQ#DECISION) and the "
                               "one-open-case-per-scope locks (pk SCOPE#KEY, sk SCOPE)"),
    "licences": TableSpec("licences", "number", indexes=(Index("by_customer", "customer", "number"),),
                          purpose="licences; customer = PROVIDER#ACCOUNT_ID; remaining drawn down conditionally"),
    # Used by the detective hooks (gatekeeper.stores.events) to act once per delivered event.
    "events": TableSpec("events", "pk", purpose="hook processed-event markers; pk = event id; TTL attribute "
                                                "expires_at", ttl_attribute="expires_at"),
    # Used by the audit log (gatekeeper.stores.audit_trust): pinned keys and the witness's digests.
    "audit": TableSpec("audit", "pk", "sk", purpose="audit log trust: pinned signing keys (sk KEY#FINGERPRINT) "
                                                    "and the latest signed digest (sk DIGEST); pk = LOG#<log id>"),
}

ScreeningReader = Callable[["DynamoDBStore", str, str], tuple[ScreeningHit, ...]]
_screening_reader: ScreeningReader | None = None


def register_table(role: str, spec: TableSpec) -> None:
    """Declare another table of the store (e.g. ``screening``); ``store init`` then creates it too."""
    existing = TABLES.get(role)
    if existing is not None:
        if existing.schema() != spec.schema():
            raise ConfigError(f"DynamoDB table role {role!r} is already registered with another schema")
        return  # already declared (maybe with more detail, such as its TTL attribute): keep that
    TABLES[role] = spec


def set_screening_reader(reader: ScreeningReader | None) -> None:
    """Install the function that reads a profile's screening hits from the store's tables."""
    global _screening_reader
    _screening_reader = reader


# The modules that keep state in the store's tables: each ``module:function`` registers its tables
# and readers (idempotently) when a store is created, before anything is read or ``init`` runs; a
# profile read without the screening reader would silently miss the profile's screening hits.
EXTENSIONS: tuple[str, ...] = ("gatekeeper.stores.dynamodb_screening:register",)


def _register_extensions() -> None:
    import importlib

    for target in EXTENSIONS:
        module, function = target.split(":")
        getattr(importlib.import_module(module), function)()


# -- attribute values -------------------------------------------------------------------------------
def S(value: str) -> dict[str, str]:  # DynamoDB's own type letters
    return {"S": value}


def N(value: float | int) -> dict[str, str]:
    return {"N": str(Decimal(repr(round(float(value), 6))) if isinstance(value, float) else value)}


def get_s(item: Item, name: str, default: str = "") -> str:
    v = item.get(name)
    return str(v["S"]) if v and "S" in v else default


def get_n(item: Item, name: str, default: float = 0.0) -> float:
    v = item.get(name)
    return float(Decimal(v["N"])) if v and "N" in v else default


def get_ss(item: Item, name: str) -> tuple[str, ...]:
    v = item.get(name)
    return tuple(sorted(v["SS"])) if v and "SS" in v else ()


@dataclass(frozen=True, slots=True)
class DynamoDBLocation:
    prefix: str
    region: str
    endpoint_url: str | None = None
    max_attempts: int = 3

    @classmethod
    def parse(cls, url: str) -> DynamoDBLocation:
        import os
        import re

        parsed = urlparse(url)
        if parsed.scheme != "dynamodb":
            raise ConfigError(f"not a dynamodb url: {url!r}")
        prefix = parsed.netloc
        if parsed.path not in ("", "/") or not re.fullmatch(r"[A-Za-z0-9_.-]{3,200}", prefix or ""):
            raise ConfigError(f"store url {url!r}: expected dynamodb://TABLE_PREFIX?region=R with a table prefix "
                              f"of 3-200 letters, digits, '_', '-' or '.'")
        query = parse_qs(parsed.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"region", "endpoint_url", "max_attempts"})
        if unknown:
            raise ConfigError(f"store url {url!r}: unknown parameter(s) {unknown}; "
                              f"expected region, endpoint_url, max_attempts")
        region = (query.get("region", [""])[0] or os.environ.get("AWS_REGION")
                  or os.environ.get("AWS_DEFAULT_REGION") or "")
        if not region:
            raise ConfigError(f"store url {url!r} names no region (add ?region=us-east-1)")
        endpoint = query.get("endpoint_url", [""])[0] or None
        try:
            attempts = int(query.get("max_attempts", ["3"])[0])
        except ValueError:
            raise ConfigError(f"store url {url!r}: max_attempts must be a whole number") from None
        if attempts < 1:
            raise ConfigError(f"store url {url!r}: max_attempts must be at least 1")
        return cls(prefix, region, endpoint, attempts)

    def table(self, role: str) -> str:
        return f"{self.prefix}-{TABLES[role].suffix}"


_session_lock = threading.Lock()
_sessions: dict[int, Any] = {}


def _session() -> Any:
    """The process's botocore session (a child process makes its own: sessions do not survive fork)."""
    import os

    import boto3

    pid = os.getpid()
    if pid not in _sessions:
        _sessions.clear()
        _sessions[pid] = boto3.session.Session()
    return _sessions[pid]


@dataclass
class DynamoDB:
    """A botocore DynamoDB client with gatekeeper's error translation (thread-safe, like the client)."""

    location: DynamoDBLocation
    client: Any = field(default=None)

    def __post_init__(self) -> None:
        if self.client is None:
            from botocore.config import Config as BotoConfig

            loc = self.location
            # One session per process: it caches the service model, which costs ~0.2 s to load per
            # session; creating clients from a shared session is not thread-safe, hence the lock.
            with _session_lock:
                self.client = _session().client(
                    "dynamodb", region_name=loc.region, endpoint_url=loc.endpoint_url,
                    config=BotoConfig(retries={"max_attempts": loc.max_attempts, "mode": "standard"},
                                      connect_timeout=3, read_timeout=10))

    def table(self, role: str) -> str:
        return self.location.table(role)

    def call(self, op: str, *, expected: tuple[str, ...] = (), **kwargs: Any) -> Any:
        """Call ``op``; error codes in ``expected`` are re-raised as ClientError, all else as StoreError."""
        from botocore.exceptions import BotoCoreError

        what = kwargs.get("TableName") or "transaction"
        try:
            return getattr(self.client, op)(**kwargs)
        except ClientError as exc:
            code = error_code(exc)
            if code in expected:
                raise
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "ResourceNotFoundException":
                raise StoreError(f"DynamoDB table {what} does not exist ({message or code}); create the tables "
                                 f"with 'gatekeeper store init' or the deploy template") from exc
            raise StoreError(f"DynamoDB {op} on {what} failed: {code}: {message}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB unavailable ({op} on {what}): {exc}") from exc

    def pages(self, op: str, **kwargs: Any) -> Iterator[Item]:
        """Every item of a paginated Query or Scan."""
        while True:
            out = self.call(op, **kwargs)
            yield from out.get("Items", [])
            last = out.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


def error_code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def cancellation_codes(exc: Any) -> list[str]:
    """The per-item reasons of a TransactionCanceledException ("None" for items that were fine)."""
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [str(r.get("Code") or "None") for r in reasons]


def backoff(attempt: int) -> None:
    """Jittered sleep between optimistic retries (transaction conflicts, lost races)."""
    import random

    time.sleep(min(0.2, 0.005 * (2 ** min(attempt, 6))) * random.random())


def _profile(item: Item, hits: tuple[ScreeningHit, ...]) -> CustomerProfile:
    return CustomerProfile(
        provider=get_s(item, "provider"), account_id=get_s(item, "account_id"),
        legal_name=get_s(item, "legal_name"), country=get_s(item, "country"),
        headquarters_country=get_s(item, "headquarters_country"),
        ultimate_parent_country=get_s(item, "ultimate_parent_country"), kyc_status=get_s(item, "kyc_status"),
        screening_hits=hits,
        owners=tuple(Owner.from_dict(o) for o in json.loads(get_s(item, "owners") or "[]")),
    )


def profile_key(provider: str, account_id: str) -> str:
    return f"{provider}#{account_id}"


class DynamoDBProfileStore:
    """Customer profiles in ``PREFIX-profiles`` (implements :class:`gatekeeper.stores.base.ProfileStore`)."""

    # TransactWriteItems takes at most 100 items.
    CHUNK = 100

    def __init__(self, store: DynamoDBStore) -> None:
        self.store = store
        self.db = store.db
        self.name = self.db.table("profiles")

    def screening_hits(self, provider: str, account_id: str) -> tuple[ScreeningHit, ...]:
        return _screening_reader(self.store, provider, account_id) if _screening_reader else ()

    def get_profile(self, provider: str, account_id: str) -> CustomerProfile | None:
        out = self.db.call("get_item", TableName=self.name, Key={"pk": S(profile_key(provider, account_id))},
                           ConsistentRead=True)
        item = out.get("Item")
        return _profile(item, self.screening_hits(provider, account_id)) if item else None

    def put_profiles(self, profiles: Sequence[CustomerProfile]) -> None:
        """All or nothing: in transactions of 100; if a later one fails, the earlier ones are undone."""
        from datetime import UTC, datetime

        now = datetime.now(UTC).isoformat()
        # One item per key (a transaction may not touch an item twice); the last row for a key wins.
        by_key = {profile_key(p.provider, p.account_id): {
            "pk": S(profile_key(p.provider, p.account_id)), "provider": S(p.provider), "account_id": S(p.account_id),
            "legal_name": S(p.legal_name), "country": S(p.country), "headquarters_country": S(p.headquarters_country),
            "ultimate_parent_country": S(p.ultimate_parent_country), "kyc_status": S(p.kyc_status),
            "owners": S(json.dumps([o.as_dict() for o in p.owners])),
            "updated_at": S(now)} for p in profiles}
        items = list(by_key.values())
        chunks = [items[i:i + self.CHUNK] for i in range(0, len(items), self.CHUNK)]
        before = self._current(list(by_key)) if len(chunks) > 1 else {}
        done: list[list[Item]] = []
        try:
            for chunk in chunks:
                self.db.call("transact_write_items",
                             TransactItems=[{"Put": {"TableName": self.name, "Item": it}} for it in chunk])
                done.append(chunk)
        except StoreError:
            self._undo(done, before)
            raise

    def _current(self, keys: list[str]) -> dict[str, Item]:
        """The stored items for ``keys`` (BatchGetItem, 100 keys a call, consistent reads)."""
        out: dict[str, Item] = {}
        for i in range(0, len(keys), self.CHUNK):
            request: dict[str, Any] = {self.name: {"Keys": [{"pk": S(k)} for k in keys[i:i + self.CHUNK]],
                                                   "ConsistentRead": True}}
            for attempt in range(20):
                got = self.db.call("batch_get_item", RequestItems=request)
                for item in got.get("Responses", {}).get(self.name, []):
                    out[get_s(item, "pk")] = item
                request = got.get("UnprocessedKeys") or {}
                if not request:
                    break
                backoff(attempt)
            else:
                raise StoreError(f"DynamoDB table {self.name}: could not read the profiles to replace (throttled)")
        return out

    def _undo(self, done: list[list[Item]], before: dict[str, Item]) -> None:
        for chunk in done:
            ops = [{"Put": {"TableName": self.name, "Item": before[it["pk"]["S"]]}} if it["pk"]["S"] in before
                   else {"Delete": {"TableName": self.name, "Key": {"pk": it["pk"]}}} for it in chunk]
            try:
                self.db.call("transact_write_items", TransactItems=ops)
            except StoreError as exc:
                log.error("profiles.undo_failed", profiles=len(chunk), error=str(exc))

    def accounts_in(self, countries: frozenset[str]) -> frozenset[tuple[str, str]]:
        """(provider, account id) of every profile located in, headquartered in or owned from ``countries``:
        one projected scan, without the screening hits list_profiles reads per profile."""
        if not countries:
            return frozenset()
        items = self.db.pages("scan", TableName=self.name, ConsistentRead=True,
                              ProjectionExpression="provider, account_id, country, headquarters_country, "
                                                   "ultimate_parent_country")
        return frozenset((get_s(i, "provider"), get_s(i, "account_id")) for i in items
                         if not countries.isdisjoint((get_s(i, "country"), get_s(i, "headquarters_country"),
                                                      get_s(i, "ultimate_parent_country"))))

    def list_profiles(self, provider: str | None = None) -> list[CustomerProfile]:
        kwargs: dict[str, Any] = {"TableName": self.name}
        if provider:
            kwargs.update(FilterExpression="provider = :p", ExpressionAttributeValues={":p": S(provider)})
        items = sorted(self.db.pages("scan", **kwargs), key=lambda i: (get_s(i, "provider"), get_s(i, "account_id")))
        return [_profile(i, self.screening_hits(get_s(i, "provider"), get_s(i, "account_id"))) for i in items]

    def close(self) -> None:
        self.store.close()


class DynamoDBStore:
    """All distributed stores over one set of tables: ``.profiles``, ``.cases``, ``.licences``."""

    def __init__(self, location: DynamoDBLocation, *, client: Any = None) -> None:
        from gatekeeper.stores.dynamodb_workflow import DynamoDBCaseStore, DynamoDBLicenceStore

        _register_extensions()
        self.location = location
        self.db = DynamoDB(location, client)
        self.profiles = DynamoDBProfileStore(self)
        self.cases = DynamoDBCaseStore(self.db)
        self.licences = DynamoDBLicenceStore(self.db)

    @property
    def screening(self) -> Any:
        """The restricted-party screening store on this store's tables (one per store object)."""
        from gatekeeper.stores.dynamodb_screening import screening_store_for

        return screening_store_for(self)

    def screening_subjects(self) -> list[CustomerProfile]:
        from gatekeeper.stores.dynamodb_screening import profiles_for_screening

        return profiles_for_screening(self)

    def init(self, *, wait: bool = True) -> list[str]:
        """Create the missing tables (PAY_PER_REQUEST) and wait until they are active; idempotent.

        An existing table whose keys differ from the schema is an error (it would break the
        conditional writes), never silently used.
        """
        lines = []
        for role, spec in TABLES.items():
            name = self.location.table(role)
            try:
                desc = self.db.call("describe_table", expected=("ResourceNotFoundException",), TableName=name)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                self.db.call("create_table", **spec.create_args(name))
                if wait:
                    self.db.client.get_waiter("table_exists").wait(TableName=name,
                                                                    WaiterConfig={"Delay": 1, "MaxAttempts": 120})
                if spec.ttl_attribute and wait:  # TTL can be set only on an active table
                    self.db.call("update_time_to_live", TableName=name, TimeToLiveSpecification={
                        "Enabled": True, "AttributeName": spec.ttl_attribute})
                lines.append(f"created DynamoDB table {name} ({spec.purpose})")
                continue
            keys = {k["AttributeName"]: k["KeyType"] for k in desc["Table"]["KeySchema"]}
            want = {spec.hash_key: "HASH", **({spec.range_key: "RANGE"} if spec.range_key else {})}
            if keys != want:
                raise StoreError(f"DynamoDB table {name} exists with keys {keys}, expected {want}; "
                                 f"use another table prefix or migrate it")
            have = {ix["IndexName"] for ix in desc["Table"].get("GlobalSecondaryIndexes", [])}
            missing = [ix.name for ix in spec.indexes if ix.name not in have]
            if missing:
                raise StoreError(f"DynamoDB table {name} lacks the index(es) {missing}; see docs/workflow.md")
            lines.append(f"DynamoDB table {name} exists")
        return lines

    def close(self) -> None:
        # The botocore client holds only a connection pool; nothing to flush.
        pass


def open_dynamodb_store(url: str, *, base_dir: Path = Path("."), client: Any = None) -> DynamoDBStore:
    """The store at ``dynamodb://PREFIX?region=R[&endpoint_url=U][&max_attempts=N]``.

    ``client`` may be a ready botocore DynamoDB client (tests use one wrapped in a Stubber).
    ``base_dir`` is unused (nothing is stored locally) and accepted for the common signature.
    """
    return DynamoDBStore(DynamoDBLocation.parse(url), client=client)


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
