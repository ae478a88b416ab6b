"""The audit record schema: decisions and events, and back again for replay.

Every record has ``schema``, ``kind`` and ``ts``; the log adds ``seq``, ``prev_hash`` and ``hash``.

``kind == "decision"`` (``gatekeeper.audit/v2``): what was decided, about what, for whom (the
profile as it was at the time), by which rules (pack ids, versions, citations), and what ``audit
replay`` needs to decide it again under other packs. Each fact is written once: the request's and
the customer's identifying fields are flat members (which DuckDB filters on without unnesting);
``request`` and ``subject`` hold only what the flat members do not; each item carries its count,
choice, path and attached accelerators beside its classification; ``reasons`` holds only the reasons
that no matched rule gives (the rules carry theirs). ``countries``, ``chips``, ``export_classes``
and ``rule_ids`` are the one derived index kept flat for filtering.

Version 1 records (written before: ``request`` and ``subject`` complete, ``reasons`` repeating the
rules') are read as they were; ``request_from_record`` takes both.

Other kinds (``case.opened``, ``licence.drawn``, ``remediation.stop``, ``audit.repaired``,
``audit.segment``, ...): ``actor`` and free-form ``data``. See docs/audit.md for the field list.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from gatekeeper.audit._format import SCHEMA
from gatekeeper.errors import InvalidInputError
from gatekeeper.model import (
    AcceleratorInfo,
    AttachedAccelerator,
    ClassifiedItem,
    ComputeItem,
    CustomerProfile,
    Decision,
    Outcome,
    Owner,
    ProvisioningRequest,
    ScreeningHit,
)

KIND_DECISION = "decision"
SCHEMA_V2 = "gatekeeper.audit/v2"
# Members of a profile's as_dict() that a v2 decision record keeps flat, and of a request.
_FLAT_SUBJECT = ("provider", "account_id", "legal_name", "country")
_FLAT_REQUEST = ("provider", "account_id", "region", "service", "operation", "principal", "source")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

__all__ = [
    "KIND_DECISION",
    "SCHEMA",
    "SCHEMA_V2",
    "classified_items_from_record",
    "decision_reasons",
    "decision_record",
    "event_record",
    "request_from_record",
]


def _iso(at: datetime) -> str:
    if at.tzinfo is UTC:  # the usual case (``model.utcnow``); isoformat(timespec=...) or an f-string cost more
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00" % (  # noqa: UP031
            at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


# Outcome -> its label, without the enum's name property on every record.
_LABELS = {o: o.label for o in Outcome}


def _accelerator_dict(a: AcceleratorInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"model": a.model, "per_instance": a.per_instance, "total": a.total, "tpp": a.tpp,
                           "pd": a.pd, "export_class": a.export_class, "confirmed": a.confirmed}
    if a.memory_bandwidth is not None:
        out["memory_bandwidth"] = a.memory_bandwidth
    if a.named_by:
        out["named_by"] = list(a.named_by)
    return out


def _item_dict(i: ClassifiedItem) -> dict[str, Any]:
    item = i.item
    out: dict[str, Any] = {"instance_type": i.instance_type, "count": item.count, "known": i.known,
                           "accelerated": i.accelerated, "export_class": i.export_class,
                           "accelerators": [_accelerator_dict(a) for a in i.accelerators]}
    if item.instance_type != i.instance_type:
        out["requested_type"] = item.instance_type
    if item.choice:
        out["choice"] = item.choice
    if item.path:
        out["path"] = item.path
    if item.attached:
        out["attached"] = [{"type": a.type, "count": a.count} for a in item.attached]
    return out


def _subject(prof: CustomerProfile) -> dict[str, Any]:
    """What ``prof.as_dict()`` holds beyond the flat members, empty lists left out."""
    out: dict[str, Any] = {"headquarters_country": prof.headquarters_country,
                           "ultimate_parent_country": prof.ultimate_parent_country,
                           "kyc_status": prof.kyc_status, "known": prof.known}
    if prof.screening_hits or prof.owners:
        whole = prof.as_dict()
        for key in ("screening_hits", "owners"):
            if whole[key]:
                out[key] = whole[key]
    return out


def _same_items(classified: tuple[ClassifiedItem, ...], requested: tuple[ComputeItem, ...]) -> bool:
    """One classified item per requested item, in order (the usual case: the very same objects)."""
    return len(classified) == len(requested) and all(
        c.item is r or c.item == r for c, r in zip(classified, requested, strict=True))


def decision_record(decision: Decision) -> dict[str, Any]:
    """The audit record of one decision (schema ``gatekeeper.audit/v2``, kind ``decision``).

    Built on the guarded call's path (before the call may proceed), so each member is computed once
    and directly; tests/audit/test_record_equivalence.py holds it equal to the plain construction.
    """
    req, prof, matches = decision.request, decision.profile, decision.matches
    request: dict[str, Any] = {}
    if req.at and req.at != decision.evaluated_at:  # when absent, the request's time is the record's
        request["at"] = _iso(req.at)
    if req.resource_ids:
        request["resource_ids"] = list(req.resource_ids)
    if req.unresolved:
        request["unresolved"] = list(req.unresolved)
    if req.on_behalf_of:  # recorded beside the credential's identity (principal), never instead of it
        request["on_behalf_of"] = req.on_behalf_of
    if not _same_items(decision.items, req.items):
        # Not one classified item per requested item (a decision that failed before classifying):
        # the request's items are kept as they were asked for.
        request["items"] = [{"instance_type": i.instance_type, "count": i.count, "choice": i.choice,
                             "path": i.path, "attached": [{"type": a.type, "count": a.count} for a in i.attached]}
                            for i in req.items]
    chips: dict[str, None] = {}
    classes: dict[str, None] = {}
    items = []
    for i in decision.items:
        items.append(_item_dict(i))
        for a in i.accelerators:
            chips[a.model] = None
        if i.accelerated:
            classes[i.export_class] = None
    countries: dict[str, None] = {}
    for c in (prof.country, prof.headquarters_country, prof.ultimate_parent_country):
        if c:
            countries[c] = None
    rules = []
    rule_reasons = set()
    for m in matches:
        rule_reasons.add(m.reason)
        rules.append({"id": m.rule_id, "pack": m.pack_id, "pack_version": m.pack_version,
                      "decision": _LABELS[m.outcome], "citation": m.citation, "reason": m.reason,
                      "review_policy": m.review_policy or None, "basis": m.basis or None})
    rec: dict[str, Any] = {
        "schema": SCHEMA_V2,
        "kind": KIND_DECISION,
        "ts": _iso(decision.evaluated_at),
        "decision_id": decision.decision_id,
        "decision": _LABELS[decision.outcome],
        "policy_decision": _LABELS[decision.policy_outcome],
        "mode": decision.mode,
        "source": req.source,
        "provider": req.provider,
        "service": req.service,
        "operation": req.operation,
        "region": req.region,
        "principal": req.principal,
        "account_id": req.account_id,
        "legal_name": prof.legal_name,
        "country": prof.country,
        "countries": list(countries),
        "chips": list(chips),
        "export_classes": list(classes),
        "rule_ids": [m.rule_id for m in matches],
        "subject": _subject(prof),
        "request": request,
        "items": items,
        "rules": rules,
    }
    if matches:
        review = decision.review_policy
        if review:
            rec["review_policy"] = review
    rec["reasons"] = [r for r in decision.reasons if r not in rule_reasons]
    rec["licence_id"] = decision.licence_id
    rec["case_id"] = decision.case_id
    rec["error"] = decision.error
    return rec


def decision_reasons(rec: dict[str, Any]) -> list[str]:
    """Every reason of a decision record, as the decision gave them (rules' first, then the others)."""
    if rec.get("schema") != SCHEMA_V2:
        return [str(r) for r in rec.get("reasons") or []]
    from_rules = list(dict.fromkeys(str(r.get("reason", "")) for r in rec.get("rules") or [] if r.get("reason")))
    return from_rules + [str(r) for r in rec.get("reasons") or [] if r not in from_rules]


def event_record(kind: str, actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """The audit record of a case, licence or remediation event (``case.opened``, ``licence.drawn``...)."""
    if not isinstance(kind, str) or not _KIND_RE.match(kind) or kind == KIND_DECISION:
        raise InvalidInputError(f"audit event kind {kind!r} must be dotted lower-case words, "
                                "like 'case.opened'", field="kind")
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInputError("an audit event needs the actor who caused it", field="actor")
    if not isinstance(data, dict):
        raise InvalidInputError(f"audit event data must be a dict, not {type(data).__name__}", field="data")
    return {"schema": SCHEMA, "kind": kind, "ts": _iso(datetime.now(UTC)), "actor": actor, "data": data}


def _need(rec: dict[str, Any], key: str, kind: type) -> Any:
    value = rec.get(key)
    if not isinstance(value, kind):
        raise InvalidInputError(f"decision record has no valid {key!r}", field=key)
    return value


def _parse_ts(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInputError(f"bad timestamp {value!r}", field="ts") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _v2_parts(rec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The v1 shapes of a v2 record's ``request`` and ``subject`` (flat members folded back in)."""
    r, s = _need(rec, "request", dict), _need(rec, "subject", dict)
    for key in ("provider", "account_id"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            raise InvalidInputError(f"decision record {rec.get('decision_id')!r} is incomplete: no {key!r}",
                                    field=key)
    items = r.get("items")
    if items is None:
        raw = rec.get("items")
        if not isinstance(raw, list):
            raise InvalidInputError("decision record has no valid 'items'", field="items")
        items = [{"instance_type": i.get("requested_type", i.get("instance_type", "")),
                  "count": i.get("count", 1), "choice": i.get("choice", ""), "path": i.get("path", ""),
                  "attached": i.get("attached", [])}
                 for i in raw if isinstance(i, dict)]
    request = {**{k: rec.get(k) or "" for k in _FLAT_REQUEST}, **r, "items": items}
    subject = {**{k: rec.get(k) or "" for k in _FLAT_SUBJECT}, **s}
    return request, subject


def request_from_record(rec: dict[str, Any]) -> tuple[ProvisioningRequest, CustomerProfile]:
    """The request and the customer profile (as they were) of a decision record (v1 or v2), to decide
    again."""
    if rec.get("kind") != KIND_DECISION:
        raise InvalidInputError(f"not a decision record (kind {rec.get('kind')!r})", field="kind")
    if rec.get("schema") == SCHEMA_V2:
        r, s = _v2_parts(rec)
    else:
        r = _need(rec, "request", dict)
        s = _need(rec, "subject", dict)
    try:
        items = tuple(
            ComputeItem(instance_type=str(i.get("instance_type", "")), count=int(i.get("count", 1)),
                        attached=tuple(AttachedAccelerator(str(a["type"]), float(a.get("count", 1)))
                                       for a in i.get("attached", [])),
                        choice=str(i.get("choice", "")), path=str(i.get("path", "")))
            for i in r.get("items", [])
        )
        request = ProvisioningRequest(
            provider=str(r["provider"]), account_id=str(r["account_id"]), items=items,
            region=str(r.get("region", "")), service=str(r.get("service", "")),
            operation=str(r.get("operation", "")), principal=str(r.get("principal", "")),
            source=str(r.get("source", "sdk")), resource_ids=tuple(str(x) for x in r.get("resource_ids", [])),
            unresolved=tuple(str(x) for x in r.get("unresolved", [])),
            at=_parse_ts(r.get("at")) or _parse_ts(rec.get("ts")), on_behalf_of=str(r.get("on_behalf_of", "")),
        )
        profile = CustomerProfile(
            provider=str(s["provider"]), account_id=str(s["account_id"]), legal_name=str(s.get("legal_name", "")),
            country=str(s.get("country", "")), headquarters_country=str(s.get("headquarters_country", "")),
            ultimate_parent_country=str(s.get("ultimate_parent_country", "")),
            kyc_status=str(s.get("kyc_status", "unverified")), known=bool(s.get("known", True)),
            screening_hits=tuple(
                ScreeningHit(str(h["list"]), str(h["entry_id"]), str(h["name"]), float(h["score"]),
                             bool(h.get("cleared", False)))
                for h in s.get("screening_hits", [])
            ),
            owners=tuple(Owner.from_dict(o) for o in s.get("owners") or ()),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"decision record {rec.get('decision_id')!r} is incomplete: {exc!r}",
                                field="request") from exc
    return request, profile


def classified_items_from_record(rec: dict[str, Any]) -> tuple[ClassifiedItem, ...]:
    """The items as the catalog classified them at the time (for a replay that changes only policies)."""
    request, _ = request_from_record(rec)
    raw = rec.get("items")
    if not isinstance(raw, list) or len(raw) != len(request.items):
        raise InvalidInputError("decision record items do not match its request items", field="items")
    try:
        return tuple(
            ClassifiedItem(
                item=ci, instance_type=str(i["instance_type"]), known=bool(i["known"]),
                accelerated=bool(i["accelerated"]), export_class=str(i["export_class"]),
                accelerators=tuple(
                    AcceleratorInfo(model=str(a["model"]), per_instance=float(a["per_instance"]),
                                    total=float(a["total"]),
                                    tpp=None if a.get("tpp") is None else float(a["tpp"]),
                                    pd=None if a.get("pd") is None else float(a["pd"]),
                                    export_class=str(a["export_class"]), confirmed=bool(a["confirmed"]),
                                    named_by=tuple(str(n) for n in a.get("named_by", [])),
                                    memory_bandwidth=(None if a.get("memory_bandwidth") is None
                                                      else float(a["memory_bandwidth"])))
                    for a in i.get("accelerators", [])),
            )
            for ci, i in zip(request.items, raw, strict=True)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"decision record {rec.get('decision_id')!r} has a malformed item: {exc!r}",
                                field="items") from exc
