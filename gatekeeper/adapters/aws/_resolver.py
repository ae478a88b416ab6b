"""Following indirections and naming the caller: read-only AWS calls with the caller's own credentials.

``Resolver.lookup(client)`` answers ``_translate.Lookup.describe(kind, key)`` for one caller's client
(launch template versions, launch configurations, instances, Auto Scaling groups, EKS node groups,
Batch compute environments, EC2 and Spot fleets); ``Resolver.identity(client)`` is the caller's
account and principal ARN from STS GetCallerIdentity. Both are cached for
``config.aws.resolver_ttl_seconds`` per credentials (access key), region and endpoint.

The reads go through separate clients that this module builds from the caller's credentials, region,
client config and (for a custom endpoint such as a local stand-in) endpoint. They never go through the
caller's client: the caller's own event handlers and stubs see nothing of gatekeeper's reads, and no
read re-enters gatekeeper's hooks (the clients come from a private botocore session that carries
none, and only read-only operations, which are not hooked anyway, are called).

What is read for each kind is the AWS spec's data (``gatekeeper.providers.aws.fetches``), shared
with the CloudTrail hook.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import botocore.handlers
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from gatekeeper._construct import fast_new
from gatekeeper.errors import ResolutionError
from gatekeeper.providers.aws.fetches import FETCHES

# Hosts of AWS's own endpoints: a client pointed elsewhere (a local stand-in, LocalStack, moto's server)
# has its reads sent to the same place; a client on an AWS endpoint has them sent to each service's
# regional endpoint (a service-specific URL cannot serve another service).
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov",
               ".cloud.adc-e.uk", ".csp.hci.ic.gov")
_READ_CONFIG = BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=10)
_MAX_CACHE = 4096
_MAX_CLIENTS = 64


UNCACHED = frozenset({"instance"})


def clean_session() -> botocore.session.Session:
    """A botocore session without gatekeeper's handlers: gatekeeper's own reads are never re-decided.

    ``install()`` puts its handler in ``botocore.handlers.BUILTIN_HANDLERS``, which every new session
    registers; they are recognised by their module (this layer does not import the installer).
    """
    session = botocore.session.Session()
    for entry in list(botocore.handlers.BUILTIN_HANDLERS):
        event, handler = entry[0], entry[1]
        if str(getattr(handler, "__module__", "")).startswith("gatekeeper."):
            session.unregister(event, handler)
    return session


@dataclass(frozen=True, slots=True)
class Caller:
    """What gatekeeper's reads borrow from the caller's client."""

    region: str
    endpoint: str | None
    access_key: str | None
    secret_key: str | None
    token: str | None
    config: BotoConfig | None

    @property
    def cache_id(self) -> tuple[str, str, str]:
        return (self.access_key or "(unsigned)", self.region, self.endpoint or "")


@lru_cache(maxsize=256)
def custom_endpoint(url: str | None) -> str | None:
    """``scheme://host:port`` of a non-AWS endpoint, else None (memoised: a client's endpoint is
    read on every accelerated call, and a process talks to a handful of them)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or any(host.endswith(d) for d in AWS_DOMAINS):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def frozen_credentials(client: Any) -> Any:
    """The client's credentials as they are now (botocore's ``ReadOnlyCredentials``), or None.

    botocore offers no public accessor for a client's credentials; ``BaseClient._get_credentials()`` is
    the accessor boto3 and s3transfer use themselves (boto3/crt.py). It is read only for requests that
    need a look-up (accelerated compute, or a reference to follow), never on the plain hot path.
    Refreshable credentials are refreshed here when they are due.
    """
    getter = getattr(client, "_get_credentials", None)
    creds = getter() if callable(getter) else None
    return creds.get_frozen_credentials() if creds is not None else None


def caller_of(client: Any, frozen: Any = None) -> Caller:
    """The caller's region, endpoint, credentials (``frozen``, else read) and config."""
    meta = client.meta
    if frozen is None:
        frozen = frozen_credentials(client)
    config = meta.config
    return _new_caller(meta.region_name or "us-east-1", custom_endpoint(meta.endpoint_url),
                       getattr(frozen, "access_key", None), getattr(frozen, "secret_key", None),
                       getattr(frozen, "token", None), config if isinstance(config, BotoConfig) else None)


# Built on every accelerated call (see gatekeeper._construct).
_new_caller = fast_new(Caller)


@dataclass(frozen=True, slots=True)
class Identity:
    account: str
    arn: str


class Resolver:
    """Process-wide: clients per caller credentials and a TTL cache of what was read. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # the cache
        self._client_lock = threading.Lock()  # making clients (slow: not under the cache's lock)
        self._cache: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._session: botocore.session.Session | None = None
        self.calls = 0  # reads actually sent (cache misses), for tests and diagnostics
        # Moves on every clear(): what a client kept of an answer (KnownCaller) is dropped with it.
        self.generation = 0

    # -- clients -----------------------------------------------------------------------------
    def _botocore_session(self) -> botocore.session.Session:
        if self._session is None:
            self._session = clean_session()
        return self._session

    def client(self, caller: Caller, service: str) -> Any:
        secret = hashlib.sha256(f"{caller.secret_key}\0{caller.token}".encode()).hexdigest()
        key = (service, caller.region, caller.endpoint, caller.access_key, secret)
        with self._client_lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
            config = caller.config.merge(_READ_CONFIG) if caller.config is not None else _READ_CONFIG
            if caller.access_key is None:
                config = config.merge(BotoConfig(signature_version=UNSIGNED))
            created = self._botocore_session().create_client(
                service, region_name=caller.region, endpoint_url=caller.endpoint,
                aws_access_key_id=caller.access_key, aws_secret_access_key=caller.secret_key,
                aws_session_token=caller.token, config=config,
            )
            self._clients[key] = created
            while len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)
            return created

    # -- cache -------------------------------------------------------------------------------
    def _cached(self, key: tuple[Any, ...], ttl: float, load: Callable[[], Any]) -> Any:
        now = self._clock()
        if ttl > 0:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] > now:
                    self._cache.move_to_end(key)
                    return hit[1]
        value = load()  # outside the lock: concurrent misses may read twice, never block each other
        if ttl > 0:
            with self._lock:
                self._cache[key] = (now + ttl, value)
                self._cache.move_to_end(key)
                while len(self._cache) > _MAX_CACHE:
                    self._cache.popitem(last=False)
        return value

    def now(self) -> float:
        return self._clock()

    def identity_expiry(self, caller: Caller) -> float:
        """Until when (this resolver's clock) the identity cached for ``caller`` holds; -inf when none is."""
        with self._lock:
            hit = self._cache.get(("identity", *caller.cache_id))
        return hit[0] if hit is not None else -math.inf

    def clear(self, *, clients: bool = False) -> None:
        """Forget what was read (and, with ``clients``, the clients made to read it)."""
        with self._lock:
            self._cache.clear()
            self.generation += 1
        if clients:
            with self._client_lock:
                self._clients.clear()

    # -- reads -------------------------------------------------------------------------------
    def describe(self, caller: Caller, kind: str, key: Mapping[str, str], ttl: float) -> Mapping[str, Any]:
        fetch = FETCHES.get(kind)
        if fetch is None:
            raise ResolutionError(f"no resolver for {kind!r}")
        shown = " ".join(f"{k}={v}" for k, v in key.items())

        def load() -> Mapping[str, Any]:
            self.calls += 1
            try:
                answer = getattr(self.client(caller, fetch.service), fetch.operation)(**fetch.args(key))
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code, message = err.get("Code", "Error"), err.get("Message", "")
                if "notfound" in code.lower().replace(".", ""):
                    raise ResolutionError(f"{kind.replace('_', ' ')} {shown} not found ({code})") from exc
                raise ResolutionError(f"cannot read {kind.replace('_', ' ')} {shown}: {code}: {message} "
                                      f"(the caller needs {fetch.action})") from exc
            except BotoCoreError as exc:
                raise ResolutionError(f"cannot read {kind.replace('_', ' ')} {shown}: {exc}") from exc
            found = fetch.pick(answer, key)
            if found is None:
                raise ResolutionError(f"{kind.replace('_', ' ')} {shown} not found")
            return found

        # An instance's type changes while it is stopped (another tool resizes it): always read afresh.
        result: Mapping[str, Any] = self._cached(("describe", *caller.cache_id, kind, tuple(sorted(key.items()))),
                                                 0 if kind in UNCACHED else ttl, load)
        return result

    def identity(self, caller: Caller, ttl: float) -> Identity:
        """The caller's account and ARN (STS GetCallerIdentity), cached per access key."""

        def load() -> Identity:
            self.calls += 1
            try:
                answer = self.client(caller, "sts").get_caller_identity()
            except ClientError as exc:
                err = exc.response.get("Error", {})
                raise ResolutionError(f"cannot identify the caller (STS GetCallerIdentity): "
                                      f"{err.get('Code')}: {err.get('Message', '')}") from exc
            except BotoCoreError as exc:
                raise ResolutionError(f"cannot identify the caller (STS GetCallerIdentity): {exc}") from exc
            account, arn = answer.get("Account"), answer.get("Arn")
            if not isinstance(account, str) or not account:
                raise ResolutionError("STS GetCallerIdentity returned no account")
            return Identity(account, arn if isinstance(arn, str) else "")

        result: Identity = self._cached(("identity", *caller.cache_id), ttl, load)
        return result

    def lookup(self, caller: Caller, ttl: float) -> Lookup:
        return Lookup(self, caller, ttl)


class KnownCaller:
    """One client's caller and its identity, kept while the client's credentials stay the same.

    A guarded call that names its caller (accelerated compute) would otherwise build the ``Caller``
    and look its identity up in the resolver's cache on every call. The caller is built again when
    the credentials change (a refresh: new keys); the identity is the resolver's answer, kept until
    the resolver's own entry expires or the resolver is cleared. Each is one tuple, replaced whole,
    so threads sharing a client never see one half of a change.
    """

    __slots__ = ("_caller", "_identity")

    def __init__(self) -> None:
        self._caller: tuple[Any, Caller] | None = None
        self._identity: tuple[Caller, float, int, float, Identity] | None = None

    def caller(self, client: Any) -> Caller:
        frozen = frozen_credentials(client)
        kept = self._caller
        if kept is not None and kept[0] == frozen:
            return kept[1]
        caller = caller_of(client, frozen)
        self._caller = (frozen, caller)
        return caller

    def identity(self, caller: Caller, ttl: float, resolver: Resolver) -> Identity:
        kept = self._identity
        generation = resolver.generation  # read before the look-up: a clear() meanwhile drops what it returns
        if (kept is not None and kept[0] is caller and kept[1] == ttl and kept[2] == generation
                and resolver.now() < kept[3]):
            return kept[4]
        found = resolver.identity(caller, ttl)
        # Without a TTL the resolver reads every time (and so does this), whatever it still holds.
        until = resolver.identity_expiry(caller) if ttl > 0 else -math.inf
        self._identity = (caller, ttl, generation, until, found)
        return found


@dataclass(frozen=True, slots=True)
class Lookup:
    """A resolver bound to one caller: what ``_translate`` reads references through."""

    resolver: Resolver
    caller: Caller
    ttl: float

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        return self.resolver.describe(self.caller, kind, key, self.ttl)


RESOLVER = Resolver()
