"""Cases and licences in DynamoDB, made safe for many machines by conditional writes.

Items of ``PREFIX-cases``::

    pk = CASE#<case id>   sk = CASE                   the case: status, version, request_count,
                                                      principals (string set), doc (JSON)
    pk = CASE#<case id>   sk = REQ#<time>#<ns>#<dec>  one request of the case (doc)
    pk = SCOPE#<scope key> sk = SCOPE                 the lock: case_id of the open case for the scope

# INVARIANT: one open case per scope. A case is opened only in a transaction that also writes its
# scope lock with ``attribute_not_exists(pk)``; the lock is deleted in the same transaction that
# closes the case. Losing the race to open means joining the winner's case.
# INVARIANT: a request joins only an open case (condition ``status = open``), and every join adds
# one to ``version``, so a reviewer's transition (conditional on the version it read) re-checks
# separation of duties against the newest principals.
# INVARIANT: ``draw`` is one UpdateItem with ``ConditionExpression remaining >= :q`` (and active,
# valid on the day): the limit holds with any number of writers.
# INVARIANT: ``refund`` is one UpdateItem that adds the decision id to the licence's ``refunded`` set
# with the credit, conditional on the id not being in it and on ``remaining`` leaving room: a
# decision's draw is given back at most once, and never above the limit.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from gatekeeper.errors import ConflictError, NotFoundError, StoreError, WorkflowError
from gatekeeper.stores.dynamodb import (
    DynamoDB,
    Item,
    N,
    S,
    backoff,
    cancellation_codes,
    error_code,
    get_n,
    get_s,
    get_ss,
)
from gatekeeper.workflow.model import CASE_STATUSES, Case, CaseChange, CaseRequest, Licence, qround

if TYPE_CHECKING:
    from gatekeeper.stores.base import Refund

MAX_ATTEMPTS = 100
CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"


def _case_pk(case_id: str) -> dict[str, str]:
    return S(f"CASE#{case_id}")


def _scope_pk(scope_key: str) -> dict[str, str]:
    return S(f"SCOPE#{scope_key}")


def _case_item(case: Case) -> Item:
    item: Item = {
        "pk": _case_pk(case.case_id), "sk": S("CASE"), "case_id": S(case.case_id), "scope_key": S(case.scope_key),
        "status": S(case.status), "provider": S(case.provider), "account_id": S(case.account_id),
        "opened_at": S(case.opened_at.isoformat()), "updated_at": S(case.updated_at.isoformat()),
        "version": N(case.version), "request_count": N(case.request_count),
        "doc": S(case.model_dump_json(exclude={"requests"})),
    }
    if case.principals:
        item["principals"] = {"SS": list(case.principals)}
    return item


def _case(item: Item, requests: tuple[CaseRequest, ...] = ()) -> Case:
    """The case from its item; the attributes changed atomically (status, version, counts) win over the doc."""
    try:
        data: dict[str, Any] = json.loads(get_s(item, "doc"))
        data.update(status=get_s(item, "status"), version=int(get_n(item, "version")),
                    request_count=int(get_n(item, "request_count")), updated_at=get_s(item, "updated_at"),
                    requests=[r.model_dump(mode="json") for r in requests])
        principals = get_ss(item, "principals")
        # Keep the order the doc knows (first requester first), then any added by concurrent joins.
        data["principals"] = list(dict.fromkeys([*(p for p in data.get("principals", []) if p in principals),
                                                 *principals]))
        return Case.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise StoreError(f"case item {get_s(item, 'pk')}: stored document is invalid: {exc}") from exc


def _request_item(case_id: str, request: CaseRequest) -> Item:
    # Ordered by decision time; requests decided in the same microsecond keep the order they were written.
    sk = f"REQ#{request.at.isoformat()}#{time.time_ns():020d}#{request.decision_id}"
    return {"pk": _case_pk(case_id), "sk": S(sk), "doc": S(request.model_dump_json())}


class DynamoDBCaseStore:
    """Cases in ``PREFIX-cases`` (implements :class:`gatekeeper.stores.base.CaseStore`)."""

    def __init__(self, db: DynamoDB) -> None:
        self.db = db
        self.name = db.table("cases")

    def _get_item(self, case_id: str) -> Item | None:
        out = self.db.call("get_item", TableName=self.name, Key={"pk": _case_pk(case_id), "sk": S("CASE")},
                           ConsistentRead=True)
        item: Item | None = out.get("Item")
        return item

    def _lock(self, scope_key: str) -> str | None:
        out = self.db.call("get_item", TableName=self.name, Key={"pk": _scope_pk(scope_key), "sk": S("SCOPE")},
                           ConsistentRead=True)
        item = out.get("Item")
        return get_s(item, "case_id") if item else None

    def open_or_join(self, case: Case, request: CaseRequest) -> tuple[Case, bool]:
        for attempt in range(MAX_ATTEMPTS):
            existing = self._lock(case.scope_key)
            if existing is not None:
                if self._join(existing, request):
                    item = self._get_item(existing)
                    if item is not None:
                        return _case(item), False
                else:
                    self._clear_stale_lock(case.scope_key, existing)
            elif self._open(case, request):
                new = case.model_copy(update={"request_count": 1, "version": 1, "requests": (),
                                              "principals": (request.principal,) if request.principal else ()})
                return new, True
            backoff(attempt)
        raise StoreError(f"DynamoDB table {self.name}: could not open or join a case for {case.scope_key} "
                         f"after {MAX_ATTEMPTS} attempts (heavy contention)")

    def _open(self, case: Case, request: CaseRequest) -> bool:
        fresh = case.model_copy(update={"request_count": 1, "version": 1, "requests": (),
                                        "principals": (request.principal,) if request.principal else ()})
        items = [
            {"Put": {"TableName": self.name, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": {"pk": _scope_pk(case.scope_key), "sk": S("SCOPE"), "case_id": S(case.case_id)}}},
            {"Put": {"TableName": self.name, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": _case_item(fresh)}},
            {"Put": {"TableName": self.name, "Item": _request_item(case.case_id, request)}},
        ]
        try:
            self.db.call("transact_write_items", expected=(CANCELLED,), TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != CANCELLED:
                raise
            return False  # another writer opened a case for this scope first (or a conflict): re-read
        return True

    def _clear_stale_lock(self, scope_key: str, case_id: str) -> None:
        """A lock whose case is gone or closed (a manual edit) would block the scope forever: drop it."""
        item = self._get_item(case_id)
        if item is not None and get_s(item, "status") == "open":
            return  # a transient conflict: the next attempt joins
        try:
            self.db.call("delete_item", expected=(CONDITION_FAILED,), TableName=self.name,
                         Key={"pk": _scope_pk(scope_key), "sk": S("SCOPE")}, ConditionExpression="case_id = :id",
                         ExpressionAttributeValues={":id": S(case_id)})
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def _join(self, case_id: str, request: CaseRequest) -> bool:
        update = "SET updated_at = :at ADD request_count :one, version :one"
        values: dict[str, Any] = {":at": S(request.at.isoformat()), ":one": N(1), ":open": S("open")}
        if request.principal:
            update += ", principals :p"
            values[":p"] = {"SS": [request.principal]}
        items = [
            {"Update": {"TableName": self.name, "Key": {"pk": _case_pk(case_id), "sk": S("CASE")},
                        "UpdateExpression": update, "ExpressionAttributeValues": values,
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ConditionExpression": "attribute_exists(pk) AND #s = :open"}},
            {"Put": {"TableName": self.name, "Item": _request_item(case_id, request)}},
        ]
        try:
            self.db.call("transact_write_items", expected=(CANCELLED,), TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != CANCELLED:
                raise
            return False  # the case was closed meanwhile (its lock is gone) or a conflict: re-read
        return True

    def find_open(self, scope_key: str) -> Case | None:
        case_id = self._lock(scope_key)
        if case_id is None:
            return None
        item = self._get_item(case_id)
        case = _case(item) if item else None
        return case if case is not None and case.status == "open" else None

    def get_case(self, case_id: str) -> Case | None:
        head: Item | None = None
        requests: list[CaseRequest] = []
        for item in self.db.pages("query", TableName=self.name, KeyConditionExpression="pk = :pk",
                                  ExpressionAttributeValues={":pk": _case_pk(case_id)}, ConsistentRead=True):
            sk = get_s(item, "sk")
            if sk == "CASE":
                head = item
            elif sk.startswith("REQ#"):
                try:
                    requests.append(CaseRequest.model_validate_json(get_s(item, "doc")))
                except ValidationError as exc:
                    raise StoreError(f"case {case_id} request {sk}: stored document is invalid") from exc
        if head is None:
            return None
        return _case(head, tuple(requests))  # in sort-key order: decision time, then write order

    def list_cases(self, status: str | None = None) -> list[Case]:
        statuses = [status] if status else list(CASE_STATUSES)
        cases = []
        for s in statuses:
            for item in self.db.pages("query", TableName=self.name, IndexName="by_status",
                                      KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                                      ExpressionAttributeValues={":s": S(s)}, ScanIndexForward=False):
                cases.append(_case(item))
        return sorted(cases, key=lambda c: (c.opened_at, c.case_id), reverse=True)

    def apply(self, case_id: str, expected_version: int, change: CaseChange) -> Case:
        item = self._get_item(case_id)
        if item is None:
            raise NotFoundError(f"no case {case_id!r}")
        old = _case(item)
        if old.version != expected_version or old.status != "open":
            raise ConflictError(f"case {case_id} changed while it was being decided (now {old.status}, "
                                f"version {old.version}); re-read it")
        new = old.changed(change)
        doc = new.model_dump_json(exclude={"requests"})
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self.name, "Key": {"pk": _case_pk(case_id), "sk": S("CASE")},
            "UpdateExpression": "SET #s = :s, doc = :doc, updated_at = :at, version = :nv",
            "ConditionExpression": "version = :v AND #s = :open",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": S(new.status), ":doc": S(doc), ":at": S(new.updated_at.isoformat()),
                                          ":nv": N(new.version), ":v": N(expected_version), ":open": S("open")},
        }}]
        if new.status != "open":
            items.append({"Delete": {
                "TableName": self.name, "Key": {"pk": _scope_pk(old.scope_key), "sk": S("SCOPE")},
                "ConditionExpression": "attribute_not_exists(pk) OR case_id = :id",
                "ExpressionAttributeValues": {":id": S(case_id)}}})
        licence_at = None
        number = change.licence.number if change.licence is not None else ""
        if change.licence is not None:
            licence_at = len(items)
            items.append({"Put": {"TableName": self.db.table("licences"), "Item": licence_item(change.licence),
                                  "ConditionExpression": "attribute_not_exists(#n)",
                                  "ExpressionAttributeNames": {"#n": "number"}}})
        try:
            self.db.call("transact_write_items", expected=(CANCELLED,), TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != CANCELLED:
                raise
            codes = cancellation_codes(exc)
            if licence_at is not None and len(codes) > licence_at and codes[licence_at] == "ConditionalCheckFailed":
                raise WorkflowError(f"licence number {number!r} already exists; choose another number") from exc
            raise ConflictError(f"case {case_id} changed while it was being decided ({', '.join(codes)}); "
                                f"re-read it") from exc
        return new


def licence_item(lic: Licence) -> Item:
    return {
        "number": S(lic.number), "customer": S(f"{lic.provider}#{lic.account_id}"), "provider": S(lic.provider),
        "account_id": S(lic.account_id), "status": S(lic.status), "quantity": N(qround(lic.quantity)),
        "remaining": N(qround(lic.remaining)), "valid_from": S(lic.valid_from.isoformat()),
        "valid_until": S(lic.valid_until.isoformat()), "doc": S(lic.model_dump_json()),
    }


def _licence(item: Item) -> Licence:
    try:
        data: dict[str, Any] = json.loads(get_s(item, "doc"))
        data.update(remaining=get_n(item, "remaining"), status=get_s(item, "status"))
        return Licence.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise StoreError(f"licence {get_s(item, 'number')}: stored document is invalid: {exc}") from exc


class DynamoDBLicenceStore:
    """Licences in ``PREFIX-licences`` (implements :class:`gatekeeper.stores.base.LicenceStore`)."""

    def __init__(self, db: DynamoDB) -> None:
        self.db = db
        self.name = db.table("licences")

    def _key(self, number: str) -> dict[str, Any]:
        return {"number": S(number)}

    def get_licence(self, number: str) -> Licence | None:
        out = self.db.call("get_item", TableName=self.name, Key=self._key(number), ConsistentRead=True)
        item = out.get("Item")
        return _licence(item) if item else None

    def list_licences(self, provider: str | None = None, account_id: str | None = None) -> list[Licence]:
        if provider and account_id:
            # The index is eventually consistent: a licence issued a moment ago may take a moment to show.
            items = self.db.pages("query", TableName=self.name, IndexName="by_customer",
                                  KeyConditionExpression="customer = :c",
                                  ExpressionAttributeValues={":c": S(f"{provider}#{account_id}")})
        else:
            kwargs: dict[str, Any] = {"TableName": self.name}
            conds, values = [], {}
            if provider:
                conds.append("provider = :p")
                values[":p"] = S(provider)
            if account_id:
                conds.append("account_id = :a")
                values[":a"] = S(account_id)
            if conds:
                kwargs.update(FilterExpression=" AND ".join(conds), ExpressionAttributeValues=values)
            items = self.db.pages("scan", **kwargs)
        return sorted((_licence(i) for i in items), key=lambda lic: lic.number)

    def put_licence(self, licence: Licence) -> None:
        try:
            self.db.call("put_item", expected=(CONDITION_FAILED,), TableName=self.name, Item=licence_item(licence),
                         ConditionExpression="attribute_not_exists(#n)", ExpressionAttributeNames={"#n": "number"})
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            raise WorkflowError(f"licence number {licence.number!r} already exists") from exc

    def draw(self, number: str, quantity: float, *, on: date) -> Licence | None:
        day = on.isoformat()
        try:
            out = self.db.call(
                "update_item", expected=(CONDITION_FAILED,), TableName=self.name, Key=self._key(number),
                UpdateExpression="SET remaining = remaining - :q",
                ConditionExpression="#s = :active AND remaining >= :q AND valid_from <= :day AND valid_until >= :day",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":q": N(qround(quantity)), ":active": S("active"), ":day": S(day)},
                ReturnValues="ALL_NEW")
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            return None
        return _licence(out["Attributes"])

    def refund(self, number: str, quantity: float, *, decision_id: str) -> Refund:
        q = qround(quantity)
        lic = self.get_licence(number)
        if lic is None:
            return "refused"
        # One conditional UpdateItem, as the draw: the credit and the decision's marker (a string set
        # on the licence item) are written together, only when the marker is not there yet and the
        # credit cannot take ``remaining`` above the limit (read above; a licence's quantity never
        # changes, and the condition checks it did not). Refunds are rare (a failed audit record), so
        # the set stays small.
        try:
            self.db.call(
                "update_item", expected=(CONDITION_FAILED,), TableName=self.name, Key=self._key(number),
                UpdateExpression="SET remaining = remaining + :q ADD refunded :ids",
                ConditionExpression="quantity = :limit AND remaining <= :room"
                                    " AND (attribute_not_exists(refunded) OR NOT contains(refunded, :id))",
                ExpressionAttributeValues={":q": N(q), ":ids": {"SS": [decision_id]}, ":id": S(decision_id),
                                           ":limit": N(qround(lic.quantity)), ":room": N(qround(lic.quantity - q))})
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            out = self.db.call("get_item", TableName=self.name, Key=self._key(number), ConsistentRead=True,
                               ProjectionExpression="refunded")
            return "already" if decision_id in get_ss(out.get("Item", {}), "refunded") else "refused"
        return "refunded"

    def revoke(self, number: str, *, by: str, reason: str, at: datetime) -> Licence:
        lic = self.get_licence(number)
        if lic is None:
            raise NotFoundError(f"no licence {number!r}")
        if lic.status == "revoked":
            raise WorkflowError(f"licence {number} was already revoked on {lic.revoked_at} by {lic.revoked_by}")
        new = lic.model_copy(update={"status": "revoked", "revoked_by": by, "revoked_at": at,
                                     "revoked_reason": reason})
        try:
            self.db.call("update_item", expected=(CONDITION_FAILED,), TableName=self.name, Key=self._key(number),
                         UpdateExpression="SET #s = :revoked, doc = :doc", ConditionExpression="#s = :active",
                         ExpressionAttributeNames={"#s": "status"},
                         ExpressionAttributeValues={":revoked": S("revoked"), ":active": S("active"),
                                                    ":doc": S(new.model_dump_json())})
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            raise WorkflowError(f"licence {number} was revoked by someone else meanwhile") from exc
        # ``remaining`` may have moved since it was read: return what the table holds now.
        return self.get_licence(number) or new
