"""``decision_record`` (built member by member for the guarded call's path) against the plain
construction it replaced, on generated decisions: the same record, member for member and in the same
order (the order is the bytes the hash chain covers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.audit.record import SCHEMA_V2, decision_record
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
    RuleMatch,
    ScreeningHit,
)


def reference_record(decision: Decision) -> dict[str, Any]:
    """The straightforward construction (the record as it was built before issue 19's changes)."""
    def iso(at: datetime) -> str:
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return at.astimezone(UTC).isoformat(timespec="microseconds")

    def accelerator(a: AcceleratorInfo) -> dict[str, Any]:
        out: dict[str, Any] = {"model": a.model, "per_instance": a.per_instance, "total": a.total, "tpp": a.tpp,
                               "pd": a.pd, "export_class": a.export_class, "confirmed": a.confirmed}
        if a.memory_bandwidth is not None:
            out["memory_bandwidth"] = a.memory_bandwidth
        if a.named_by:
            out["named_by"] = list(a.named_by)
        return out

    def item_dict(i: ClassifiedItem) -> dict[str, Any]:
        item = i.item
        out: dict[str, Any] = {"instance_type": i.instance_type, "count": item.count, "known": i.known,
                               "accelerated": i.accelerated, "export_class": i.export_class,
                               "accelerators": [accelerator(a) for a in i.accelerators]}
        if item.instance_type != i.instance_type:
            out["requested_type"] = item.instance_type
        if item.choice:
            out["choice"] = item.choice
        if item.path:
            out["path"] = item.path
        if item.attached:
            out["attached"] = [{"type": a.type, "count": a.count} for a in item.attached]
        return out

    req, prof = decision.request, decision.profile
    rule_reasons = {m.reason for m in decision.matches}
    request: dict[str, Any] = {}
    if req.at and req.at != decision.evaluated_at:
        request["at"] = iso(req.at)
    if req.resource_ids:
        request["resource_ids"] = list(req.resource_ids)
    if req.unresolved:
        request["unresolved"] = list(req.unresolved)
    if req.on_behalf_of:
        request["on_behalf_of"] = req.on_behalf_of
    if tuple(i.item for i in decision.items) != req.items:
        request["items"] = [{"instance_type": i.instance_type, "count": i.count, "choice": i.choice,
                             "path": i.path, "attached": [{"type": a.type, "count": a.count} for a in i.attached]}
                            for i in req.items]
    flat = ("provider", "account_id", "legal_name", "country")
    return {
        "schema": SCHEMA_V2, "kind": "decision", "ts": iso(decision.evaluated_at),
        "decision_id": decision.decision_id, "decision": decision.outcome.label,
        "policy_decision": decision.policy_outcome.label, "mode": decision.mode, "source": req.source,
        "provider": req.provider, "service": req.service, "operation": req.operation, "region": req.region,
        "principal": req.principal, "account_id": req.account_id, "legal_name": prof.legal_name,
        "country": prof.country, "countries": list(dict.fromkeys(prof.countries)),
        "chips": list(dict.fromkeys(a.model for i in decision.items for a in i.accelerators)),
        "export_classes": list(dict.fromkeys(i.export_class for i in decision.items if i.accelerated)),
        "rule_ids": [m.rule_id for m in decision.matches],
        "subject": {k: v for k, v in prof.as_dict().items() if k not in flat and v != []},
        "request": request,
        "items": [item_dict(i) for i in decision.items],
        "rules": [{"id": m.rule_id, "pack": m.pack_id, "pack_version": m.pack_version, "decision": m.outcome.label,
                   "citation": m.citation, "reason": m.reason, "review_policy": m.review_policy or None,
                   "basis": m.basis or None} for m in decision.matches],
        **({"review_policy": decision.review_policy} if decision.review_policy else {}),
        "reasons": [r for r in decision.reasons if r not in rule_reasons],
        "licence_id": decision.licence_id, "case_id": decision.case_id, "error": decision.error,
    }


_text = st.sampled_from(["", "US", "CN", "SG", "a", "b"])
_country = st.sampled_from(["", "US", "CN", "SG", "MO"])
_chip = st.sampled_from(["A100", "H100", "H20", "unknown (gpu family 'zz9')"])
_class = st.sampled_from(["3A090.a", "3A090.b", "none", "unknown"])
_outcome = st.sampled_from(list(Outcome))
_review = st.sampled_from(["", "presumption of approval", "case-by-case", "presumption of denial"])
_attached = st.builds(AttachedAccelerator, st.sampled_from(["eia2.large", "nvidia-h100-80gb"]),
                      st.sampled_from([1, 2, 0.5]))
_compute = st.builds(ComputeItem, st.sampled_from(["p4d.24xlarge", "P4D.24XLARGE", "t3.micro", ""]),
                     st.integers(0, 64), st.lists(_attached, max_size=2).map(tuple), st.sampled_from(["", "slot#0"]),
                     st.sampled_from(["", "InstanceType", "Overrides[1].InstanceType"]))
_accelerator = st.builds(AcceleratorInfo, _chip, st.sampled_from([0.0, 1.0, 8.0]), st.sampled_from([0.0, 8.0, 64.0]),
                         st.sampled_from([None, 4992.0]), st.sampled_from([None, 6.04]), _class, st.booleans(),
                         st.lists(st.sampled_from(["catalog", "attached"]), max_size=2).map(tuple),
                         st.sampled_from([None, 2039.0]))
_hit = st.builds(ScreeningHit, st.sampled_from(["EL", "SDN"]), st.sampled_from(["e-1", "e-2"]), _text,
                 st.sampled_from([88.0, 91.5]), st.booleans())
_owner = st.builds(Owner, _text, _country, st.sampled_from([0.0, 25.0, 50.5]),
                   st.lists(st.sampled_from(["EL", "SDN"]), max_size=2).map(tuple))
_profile = st.builds(CustomerProfile, st.just("aws"), st.sampled_from(["123456789012", "222222222222"]), _text,
                     _country, _country, _country, st.sampled_from(["verified", "pending", "unverified"]),
                     st.booleans(), st.lists(_hit, max_size=2).map(tuple), st.lists(_owner, max_size=2).map(tuple),
                     st.booleans())
_match = st.builds(RuleMatch, st.sampled_from(["r1", "r2", "gatekeeper.unresolved"]), st.sampled_from(["p", "q"]),
                   st.sampled_from(["1", "2025.01"]), _outcome, st.sampled_from(["15 CFR 744.23", ""]),
                   st.sampled_from(["because r1", "because r2", ""]), _review, st.sampled_from(["", "EAR"]))
_utc = datetime(2026, 12, 5, 5, 0, 0, 123456, tzinfo=UTC)
_when = st.one_of(
    st.sampled_from([_utc, _utc.replace(tzinfo=None), _utc.astimezone(timezone(timedelta(hours=8))),
                     _utc + timedelta(seconds=1), _utc.replace(microsecond=0)]),
    st.datetimes(timezones=st.just(UTC)))


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    requested = tuple(draw(st.lists(_compute, max_size=3)))
    # Classified items: usually one per requested item (the very objects, or equal copies), sometimes
    # none or others (a decision that failed before classifying).
    shape = draw(st.sampled_from(["same", "copies", "none", "other"]))
    basis = {"same": requested, "copies": tuple(ComputeItem(i.instance_type, i.count, i.attached, i.choice, i.path)
                                                for i in requested),
             "none": (), "other": tuple(draw(st.lists(_compute, min_size=1, max_size=2)))}[shape]
    classified = tuple(ClassifiedItem(i, draw(st.sampled_from([i.instance_type, "p4d.24xlarge"])),
                                      draw(st.booleans()), draw(st.booleans()), draw(_class),
                                      tuple(draw(st.lists(_accelerator, max_size=2))))
                       for i in basis)
    evaluated = draw(_when)
    request = ProvisioningRequest(
        "aws", draw(st.sampled_from(["123456789012", ""])), requested, draw(st.sampled_from(["", "us-east-1"])),
        "ec2", "RunInstances", draw(st.sampled_from(["", "arn:aws:iam::123456789012:user/x"])),
        draw(st.sampled_from(["sdk", "lambda"])), tuple(draw(st.lists(st.sampled_from(["i-1", "lt-1"]), max_size=2))),
        tuple(draw(st.lists(st.sampled_from(["lt-1: not found"]), max_size=1))),
        draw(st.sampled_from([None, evaluated, _utc - timedelta(minutes=5)])), draw(st.sampled_from(["", "222"])))
    matches = tuple(draw(st.lists(_match, max_size=3)))
    own = tuple(draw(st.lists(st.sampled_from(["because r1", "licence L-1 drawn", "because r1"]), max_size=3)))
    return Decision(draw(st.sampled_from(["dec-1", "dec-0123456789abcdef"])), draw(_outcome), request,
                    draw(_profile), classified, matches, draw(_outcome), evaluated,
                    draw(st.sampled_from(["enforce", "shadow"])), draw(st.sampled_from([None, "lic-1"])),
                    draw(st.sampled_from([None, "case-1"])), draw(st.sampled_from([None, "AuditError: x"])),
                    tuple(m.reason for m in matches) + own)


@settings(max_examples=800, deadline=None)
@given(decisions())
def test_the_record_is_the_plain_construction(decision: Decision) -> None:
    rec, ref = decision_record(decision), reference_record(decision)
    assert rec == ref
    assert list(rec) == list(ref)  # the member order is part of the hashed bytes
    assert orjson.dumps(rec) == orjson.dumps(ref)
