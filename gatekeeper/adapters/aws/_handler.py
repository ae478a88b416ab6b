"""The botocore event handler: translate the call, ask the runtime to decide, enforce the decision.

One ``ClientGuard`` per protected client is registered for ``before-parameter-build.<service>.<Op>``
of the table's operations only, so no other call runs any gatekeeper code. The handler sees the
caller's parameters before botocore validates or serialises them, and raises before anything is sent.

Cost on the hot path (a plain type named directly): reading a few parameter paths, a cached catalog
look-up and the runtime's own hot path. The caller's identity (STS) and the caller's credentials are
touched only when the request is accelerated, has something unresolved, or ``audit.record_all`` is on.

Durability. A decision that blocks is recorded durably before the error is raised. An allowed or
flagged decision's record is written at the decision (``Gatekeeper.decide_deferred``) and made
durable at ``request-created.<service>.<Op>`` (``ClientGuard.durable``): botocore emits it in
``Endpoint.create_request``, after validation, serialisation, endpoint resolution and the
``before-call`` check, and before the request is signed (the signer is a handler of the less
specific ``request-created.<service>``, which runs after) and sent; meanwhile the kernel writes the
record back. A sync that fails there denies the call (``blocked_error``, as a record that cannot be
written at the decision does) and nothing is sent.

# INVARIANT: no request of a guarded call leaves the process before the record of the decision it
# carries is durable (``durable`` runs, per attempt, before the request is signed and sent).
# INVARIANT: any failure in translation or resolution becomes ``unresolved`` on the request, so the
# engine decides it (deny, or flag with on_error = "allow") and the service audits it; a failure
# before the runtime exists (no usable configuration) denies without a record, since there is no
# log to write to.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gatekeeper import runtime
from gatekeeper._construct import fast_new
from gatekeeper._log import get_logger
from gatekeeper.adapters.aws import _resolver
from gatekeeper.adapters.aws._errors import blocked_error, unavailable_error
from gatekeeper.catalog import Catalog
from gatekeeper.context import Subject, current_subject
from gatekeeper.model import ComputeItem, Decision, Outcome, ProvisioningRequest
from gatekeeper.providers._spec import Operation, sdk_paths
from gatekeeper.providers.aws import BY_NAME, OPERATIONS
from gatekeeper.providers.aws._read import Translation, accelerated, translate, translate_quick
from gatekeeper.service import Gatekeeper

if TYPE_CHECKING:
    from gatekeeper.audit._ticket import Ticket

log = get_logger("gatekeeper.aws")

# Member of botocore's per-call request context where the decision is left for later handlers (and
# which marks the call as decided, should the handler be reached twice).
CONTEXT_KEY = "gatekeeper_decision"
# The parameters the decision was made on (the caller's dict, which later handlers may change in place).
PARAMS_KEY = "gatekeeper_params"
# The runtime, the ticket and the decision of a record written at the decision, not yet known durable.
TICKET_KEY = "gatekeeper_ticket"


class InstallState:
    """Whether ``install()`` is in force (read by every guard a session made after install() carries)."""

    installed = False


INSTALL = InstallState()
# A request read: its items, what could not be read, its resource ids, whether an item is accelerated.
_Reading = tuple[tuple[ComputeItem, ...], tuple[str, ...], tuple[str, ...], bool]


class _LazyLookup:
    """The caller (credentials, endpoint), built only when something first needs it: a reference to
    follow (``describe``) or the caller's identity. One per call; what the client's guard keeps of
    its caller (``known``) is reused while the credentials stay the same."""

    __slots__ = ("_caller", "_client", "_known", "_ttl")

    def __init__(self, client: Any, ttl: float, known: _resolver.KnownCaller | None = None) -> None:
        self._client = client
        self._ttl = ttl
        self._known = known
        self._caller: _resolver.Caller | None = None

    def caller(self) -> _resolver.Caller:
        if self._caller is None:
            known = self._known
            self._caller = known.caller(self._client) if known is not None else _resolver.caller_of(self._client)
        return self._caller

    def identity(self) -> _resolver.Identity:
        known = self._known
        if known is None:
            return _resolver.RESOLVER.identity(self.caller(), self._ttl)
        return known.identity(self.caller(), self._ttl, _resolver.RESOLVER)

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        return _resolver.RESOLVER.describe(self.caller(), kind, key, self._ttl)


def build_request(gk: Gatekeeper, client: Any, op: Operation, params: Mapping[str, Any],
                  bound: Subject | None = None, kept: Kept | None = None,
                  key: str | None = None) -> ProvisioningRequest:
    """The ProvisioningRequest for one call. Never raises: what fails is in ``unresolved``.

    The subject is the customer named by ``acting_for`` in this context, else the one the client is
    bound to (``protect(client, acting_for=...)``: holds in any thread), else the caller's account.
    ``kept`` and ``key``: what the client's guard keeps between calls (readings, the caller), and this
    call's key among the readings (``_snapshot(op, params)`` when its rendering is the members'
    value; see ``Kept``).
    """
    ttl = gk.config.aws.resolver_ttl_seconds
    lookup = _LazyLookup(client, ttl, kept.caller if kept is not None else None)
    items, unresolved, ids, accelerated_items = read_request(op, params, gk.catalog, lookup, kept, key)
    named = current_subject("aws")
    subject = named or bound
    if named is not None and bound is not None and named.account_id != bound.account_id:
        unresolved = (*unresolved, f"two customers named: acting_for {named.account_id} and the client's "
                                   f"binding {bound.account_id}")
    account, principal = (subject.account_id if subject else ""), ""
    if unresolved or accelerated_items or gk.config.audit.record_all:
        try:
            ident = lookup.identity()
            principal = ident.arn
            if subject is None:
                account = ident.account
        except Exception as exc:  # no account: decided fail-closed below
            if subject is None:
                unresolved = (*unresolved, f"the caller's account is unknown: {exc}")
            else:
                log.warning("aws.principal_unknown", operation=op.name, error=str(exc))
    meta = getattr(client, "meta", None)
    return _new_request(provider="aws", account_id=account, items=items,
                        region=getattr(meta, "region_name", None) or "", service=op.service, operation=op.name,
                        principal=principal, source="sdk", resource_ids=ids, unresolved=unresolved)


def read_request(op: Operation, params: Mapping[str, Any], catalog: Catalog, lookup: Any,
                 kept: Kept | None = None, key: str | None = None) -> _Reading:
    """The request's items, what could not be read, its resource ids, and whether an item is accelerated.

    Never raises: a failure to read is in the second member.
    """
    known = kept.get(op, key, catalog) if kept is not None else None
    if known is not None:
        return known
    accelerated_items: bool | None = None
    unresolved: tuple[str, ...]
    try:
        # One reading of the request: the quick one when it names one type directly and nothing
        # else (it answers what the full reading answers, accelerated or not: see translate_quick),
        # else the full one.
        tr = translate_quick(op, params)
        if tr is not None and kept is not None:
            accelerated_items = kept.put(op, key, catalog, tr)
        if tr is None:
            tr = translate(op, params, lookup, catalog)
        items, unresolved, ids = tr.items, tr.unresolved, tr.resource_ids
    except Exception as exc:  # a translation bug must fail closed, audited
        log.error("aws.translate_failed", operation=op.name, error=f"{type(exc).__name__}: {exc}", exc_info=True)
        items, ids = (), ()
        unresolved = (f"gatekeeper could not read the {op.name} parameters ({type(exc).__name__}: {exc})",)
    if accelerated_items is None:
        accelerated_items = any(accelerated(catalog, i) for i in items)
    return items, unresolved, ids, accelerated_items


# Every guarded call builds one (see gatekeeper._construct): the frozen dataclass's own __init__ sets
# its twelve fields through object.__setattr__, a quarter of the translation's instructions.
_new_request = fast_new(ProvisioningRequest)


def decide_call(gk: Gatekeeper, client: Any, op: Operation, params: Mapping[str, Any],
                bound: Subject | None = None, kept: Kept | None = None, key: str | None = None) -> Decision:
    # An EC2 DryRun provisions nothing: decided as a what-if (no record, no case), enforced all the
    # same so that the dry run predicts the real call.
    dry_run = op.service == "ec2" and params.get("DryRun") is True
    return gk.decide(build_request(gk, client, op, params, bound, kept, key), dry_run=dry_run)


def decide_call_deferred(gk: Gatekeeper, client: Any, op: Operation, params: Mapping[str, Any],
                         bound: Subject | None = None, kept: Kept | None = None,
                         key: str | None = None) -> tuple[Decision, Ticket | None]:
    """``decide_call``, with an allowed or flagged decision's record durable only once its ticket is
    confirmed (``Gatekeeper.decide_deferred``)."""
    dry_run = op.service == "ec2" and params.get("DryRun") is True
    return gk.decide_deferred(build_request(gk, client, op, params, bound, kept, key), dry_run=dry_run)


_READINGS_MAX = 64  # per client: requests repeat a handful of shapes; the values come from callers


class Kept:
    """What one client's guard keeps between calls: its caller (``_resolver.KnownCaller``), and the
    quick readings (``translate_quick``) already made, by the members the spec reads.

    A client repeats its calls (the same type, the same counts), and the quick reading is a function
    of those members only, so a call whose members render as an earlier call's did is not read again:
    its items, resource ids and whether they are accelerated (under the catalog that classified them)
    are the earlier call's. Only the quick reading is kept (the full one follows references, whose
    answers change), and only under a key that is the members' value: the ``repr`` of builtin
    scalars in builtin lists and dicts, taken from a plain dict (see ``_snapshot``).
    tests/adapters/aws/test_quick_reading.py holds the kept readings equal to fresh ones.
    """

    __slots__ = ("_found", "caller")

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], tuple[object, _Reading]] = {}
        self.caller = _resolver.KnownCaller()

    def get(self, op: Operation, key: str | None, catalog: object) -> _Reading | None:
        if key is None:
            return None
        hit = self._found.get((op.name, key))
        return hit[1] if hit is not None and hit[0] is catalog else None

    def put(self, op: Operation, key: str | None, catalog: Catalog, tr: Translation) -> bool:
        """Keep the quick reading ``tr`` under ``key`` (when there is one); whether its items are accelerated."""
        accelerated_items = any(accelerated(catalog, i) for i in tr.items)
        if key is not None:
            found = self._found
            if len(found) >= _READINGS_MAX:
                found.clear()
            found[(op.name, key)] = (catalog, (tr.items, tr.unresolved, tr.resource_ids, accelerated_items))
        return accelerated_items


class ClientGuard:
    """The handler registered on one client's events. Holds the client weakly; no per-call state."""

    __slots__ = ("__weakref__", "_client", "_kept", "explicit", "service", "subject", "via_install")

    def __init__(self, client: Any, service: str) -> None:
        self._client = weakref.ref(client)
        self._kept = Kept()
        self.service = service
        self.explicit = False  # protect(): always active
        self.via_install = False  # install(): active while installed
        self.subject: Subject | None = None  # protect(client, acting_for=...): the customer, in any thread

    @property
    def active(self) -> bool:
        return self.explicit or (self.via_install and INSTALL.installed)

    def __call__(self, params: Any = None, model: Any = None, context: Any = None, **_: Any) -> None:
        if not (self.explicit or (self.via_install and INSTALL.installed)):
            return
        op = BY_NAME.get((self.service, getattr(model, "name", "")))
        if op is None or not isinstance(params, (dict, Mapping)):
            return
        if isinstance(context, dict):
            if CONTEXT_KEY in context:
                return  # already decided for this call
            context[CONTEXT_KEY] = None
        client = self._client()
        try:
            gk = runtime.current()
        except Exception as exc:  # no runtime (bad configuration): fail closed
            log.error("aws.runtime_unavailable", operation=op.name, error=f"{type(exc).__name__}: {exc}")
            raise unavailable_error(op.name, f"{type(exc).__name__}: {exc}") from exc
        # The members the decision reads, rendered once: the key of the client's readings and the
        # snapshot that before-call compares what is sent with.
        snapshot, plain = _snapshot(op, params)
        ticket = None
        try:
            if isinstance(context, dict):  # where the ticket is found again (always, from botocore)
                decision, ticket = decide_call_deferred(gk, client, op, params, self.subject, self._kept,
                                                        snapshot if plain else None)
            else:
                decision = decide_call(gk, client, op, params, self.subject, self._kept, snapshot if plain else None)
        except Exception as exc:  # decide() does not raise; anything here is a bug
            log.error("aws.decide_failed", operation=op.name, error=f"{type(exc).__name__}: {exc}", exc_info=True)
            if gk.config.on_error == "allow":
                return
            raise unavailable_error(op.name, f"{type(exc).__name__}: {exc}") from exc
        if isinstance(context, dict):
            context[CONTEXT_KEY] = decision
            context[PARAMS_KEY] = (params, _digest(snapshot))
            if ticket is not None:
                context[TICKET_KEY] = (gk, ticket, decision)
        self._enforce(decision, op)

    def durable(self, request: Any = None, **_: Any) -> None:
        """``request-created``: the decision's record is durable before the request is signed and sent.

        botocore builds the request (and emits this) once per attempt, after ``before-call``; the
        first attempt waits for the record's sync, later ones find it done. A sync that failed
        denies the call: the decision becomes the deny ``decide`` returns when a record cannot be
        written (or, with ``on_error = "allow"``, carries the error and the call proceeds).
        """
        context = getattr(request, "context", None)
        if not isinstance(context, dict):
            return
        pending = context.get(TICKET_KEY)
        if pending is None:
            return
        gk, ticket, decision = pending  # the first decision's (a re-decision at before-call is durable already)
        confirmed = gk.confirm(decision, ticket)
        context[TICKET_KEY] = None
        if confirmed is not decision:
            context[CONTEXT_KEY] = confirmed
            op = BY_NAME.get((self.service, decision.request.operation))
            self._enforce(confirmed, op.name if op is not None else decision.request.operation)

    def _enforce(self, decision: Decision, op: Operation | str) -> None:
        name = op if isinstance(op, str) else op.name
        if decision.blocks:
            raise blocked_error(decision, name)
        if decision.outcome >= Outcome.FLAG or decision.error:
            log.info("aws.proceeding", operation=name, decision=decision.outcome.label,
                     decision_id=decision.decision_id, mode=decision.mode)

    def sent(self, model: Any = None, context: Any = None, **_: Any) -> None:
        """``before-call``: what is finally sent must be what was decided.

        A handler registered after gatekeeper's (or one that changed the parameters in place) could
        turn a decided t3.micro into a p4d.24xlarge. The parameters are compared with the snapshot
        taken at the decision (a digest of the members the spec reads); a change is decided again,
        on what will really be sent, and enforced.
        """
        if not isinstance(context, dict):
            return
        kept = context.get(PARAMS_KEY)
        decision = context.get(CONTEXT_KEY)
        if kept is None or not isinstance(decision, Decision):
            return
        params, before = kept
        op = BY_NAME.get((self.service, getattr(model, "name", "")))
        if op is None or _fingerprint(op, params) == before:
            return
        gk = runtime.current()
        log.warning("aws.changed_after_decision", operation=op.name, decision_id=decision.decision_id)
        again = decide_call(gk, self._client(), op, params, self.subject)  # no kept reading: read afresh
        context[CONTEXT_KEY] = again
        context[PARAMS_KEY] = (params, _fingerprint(op, params))
        self._enforce(again, op)


_UNIQUE = itertools.count(1 << 62)


# Per operation, the top-level members its spec row reads: only those can change the decision
# (botocore adds a ClientToken after gatekeeper's handler, which must not count as a change).
_READS: dict[tuple[str, str], tuple[str, ...]] = {
    op.key: tuple(sorted({p.split(".", 1)[0].split("[", 1)[0].split("+", 1)[0].split("|", 1)[0]
                          for p in sdk_paths(op) if p})) for op in OPERATIONS}


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> bool:
    """True when ``repr(value)`` stands for the value: builtin scalars, in builtin lists and dicts."""
    t = value.__class__
    if t in _SCALARS:
        return True
    if t is list:
        return all(_plain(v) for v in value)
    if t is dict:
        return all(k.__class__ is str and _plain(v) for k, v in value.items())
    return False


def _snapshot(op: Operation, params: Any, *, plain: bool = True) -> tuple[str | None, bool]:
    """The members the decision reads, rendered (a repr of a few small values; None when one cannot
    be), and (with ``plain``) whether the rendering is their value (a plain dict of plain values)."""
    try:
        # A member given as None renders as one not given: both readings take None for absent.
        values = [params.get(k) for k in _READS.get(op.key, ())]
        return repr(values), plain and params.__class__ is dict and all(_plain(v) for v in values)
    except Exception:
        return None, False


def _digest(snapshot: str | None) -> int:
    # An unrepresentable value: never equal, so every check re-decides.
    return hash(snapshot) if snapshot is not None else next(_UNIQUE)


def _fingerprint(op: Operation, params: Any) -> int:
    """A cheap digest of the members the decision read."""
    return _digest(_snapshot(op, params, plain=False)[0])
