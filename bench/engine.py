"""Decision latency: the pure engine beside cedarpy, and ``Gatekeeper.decide()`` end to end.

The engine runs every shipped pack (15 rules, 13 in force today). cedarpy evaluates the equivalent of
the rule that decides the controlled request (``us-cloud-advanced-compute/d5-macau-3a090``) as a
``forbid`` beside a blanket ``permit``, from a ``PolicySet`` and an ``Entities`` parsed once before
the loop (cedarpy >= 4 has both handles). The comparison favours cedar: its entities arrive already
classified (the instance type entity carries its export class), while the engine classifies the
instance type from the catalog and tries every rule in force on each call.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import Latency, Row, Timer, fmt_us
from bench.audit import wait_for_sidecars

PLAIN_TYPE = "t3.micro"
CONTROLLED_TYPE = "p4d.24xlarge"  # 8 x A100: 3A090.a
US_ACCOUNT = "111111111111"
CN_PARENT_ACCOUNT = "222222222222"
ANY_ACCOUNT = "999999999999"

PLAIN_GOAL_US = 2.0
CONTROLLED_GOAL_US = 10.0


def _profiles() -> list[Any]:
    from gatekeeper.model import CustomerProfile

    return [
        CustomerProfile("aws", US_ACCOUNT, "Acme Analytics Inc.", "US", "US", "US", "verified"),
        CustomerProfile("aws", CN_PARENT_ACCOUNT, "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
    ]


def _request(account: str, itype: str, count: int = 1) -> Any:
    from gatekeeper.model import ComputeItem, ProvisioningRequest

    return ProvisioningRequest("aws", account, (ComputeItem(itype, count),), region="us-east-1", service="ec2",
                               operation="RunInstances", principal=f"arn:aws:iam::{account}:user/dev")


# A mix for the batch: mostly plain types, some controlled ones for a US and a China-owned customer.
BATCH_MIX = [
    (ANY_ACCOUNT, "t3.micro"), (ANY_ACCOUNT, "m5.large"), (US_ACCOUNT, "c6i.2xlarge"),
    (US_ACCOUNT, "p4d.24xlarge"), (CN_PARENT_ACCOUNT, "r6g.xlarge"), (CN_PARENT_ACCOUNT, "p5.48xlarge"),
    (ANY_ACCOUNT, "t3.large"), (US_ACCOUNT, "g5.xlarge"), (CN_PARENT_ACCOUNT, "p4d.24xlarge"),
    (ANY_ACCOUNT, "m6i.large"),
]


# -- cedar ------------------------------------------------------------------------------------------
def cedar_policy_text(d5_macau: frozenset[str]) -> str:
    countries = ", ".join(f'"{c}"' for c in sorted(d5_macau))
    return f"""
permit(principal, action, resource);
@id("d5-macau-3a090")
forbid(principal, action == Action::"provision", resource)
when {{
  ["3A090.a", "3A090.b"].contains(resource.export_class) &&
  principal.countries.containsAny([{countries}])
}};
"""


def cedar_entities(catalog: Any) -> list[dict[str, Any]]:
    ents: list[dict[str, Any]] = []
    for p in _profiles():
        ents.append({"uid": {"type": "Customer", "id": p.account_id}, "parents": [],
                     "attrs": {"countries": list(p.countries)}})
    ents.append({"uid": {"type": "Customer", "id": ANY_ACCOUNT}, "parents": [], "attrs": {"countries": []}})
    for _, itype in [*BATCH_MIX, (None, PLAIN_TYPE), (None, CONTROLLED_TYPE)]:
        cls = catalog.classify_item("aws", _request(ANY_ACCOUNT, itype).items[0]).export_class
        ent = {"uid": {"type": "InstanceType", "id": itype}, "parents": [], "attrs": {"export_class": cls}}
        if ent not in ents:
            ents.append(ent)
    return ents


def cedar_request(account: str, itype: str) -> dict[str, Any]:
    return {"principal": f'Customer::"{account}"', "action": 'Action::"provision"',
            "resource": f'InstanceType::"{itype}"', "context": {}}


# -- the measurements -----------------------------------------------------------------------------------
def measure_engine(timer: Timer, n: int) -> dict[str, Any]:
    import cedarpy

    from gatekeeper.catalog import default_catalog
    from gatekeeper.engine import Engine
    from gatekeeper.jurisdictions import default_jurisdictions
    from gatekeeper.model import CustomerProfile, Outcome
    from gatekeeper.policy import load_policies, shipped_policies_dir

    policies = load_policies([shipped_policies_dir()])
    engine = Engine(policies)
    day = datetime.now(UTC).date()
    profiles = {p.account_id: p for p in _profiles()}
    unknown = CustomerProfile.unknown("aws", ANY_ACCOUNT)
    plain, controlled = _request(ANY_ACCOUNT, PLAIN_TYPE), _request(CN_PARENT_ACCOUNT, CONTROLLED_TYPE)
    cn = profiles[CN_PARENT_ACCOUNT]
    # Sanity: the figures are only worth having if the decisions are the expected ones.
    assert engine.evaluate(plain, unknown, on=day).outcome == Outcome.ALLOW
    ev = engine.evaluate(controlled, cn, on=day)
    # The licence requirement, then the review policy for a Chinese-owned company outside China.
    assert ev.outcome == Outcome.PENDING and [m.rule_id for m in ev.matches] == [
        "d5-macau-3a090", "d5-outside-china-macau"], ev

    batch = [(_request(a, t), profiles.get(a, unknown)) for a, t in BATCH_MIX * 10]
    evaluate = engine.evaluate

    def run_batch() -> None:
        for req, prof in batch:
            evaluate(req, prof, on=day)

    # cedarpy, pre-parsed handles.
    j = default_jurisdictions()
    text = cedar_policy_text(j.expand(["D:5", "MO"]))
    ents = cedar_entities(default_catalog())
    ps = cedarpy.PolicySet.from_str(text)
    es = cedarpy.Entities.from_json_str(json.dumps(ents))
    c_plain, c_ctl = cedar_request(ANY_ACCOUNT, PLAIN_TYPE), cedar_request(CN_PARENT_ACCOUNT, CONTROLLED_TYPE)
    is_authorized, is_authorized_batch = cedarpy.is_authorized, cedarpy.is_authorized_batch
    assert is_authorized(c_plain, ps, es).allowed
    assert not is_authorized(c_ctl, ps, es).allowed
    c_batch = [cedar_request(a, t) for a, t in BATCH_MIX * 10]

    # Side by side, in interleaved passes. cedarpy calls cost ~50x ours: a quarter of the samples
    # keeps the run short, and its p50/p99 are as stable.
    n_cedar, n_batch = max(300, n // 4), max(5, n // 1000)
    out: dict[str, Any] = {"rules_in_force": len(policies.active(day)), "packs": [p.id for p in policies.packs],
                           "batch_size": len(batch)}
    out.update(timer.compare({
        "plain": (lambda: evaluate(plain, unknown, on=day), n),
        "cedar_plain": (lambda: is_authorized(c_plain, ps, es), n_cedar),
        "controlled": (lambda: evaluate(controlled, cn, on=day), n),
        "cedar_controlled": (lambda: is_authorized(c_ctl, ps, es), n_cedar),
    }))
    out.update(timer.compare({"batch": (run_batch, n_batch),
                              "cedar_batch": (lambda: is_authorized_batch(c_batch, ps, es), n_batch)},
                             warmup=max(1, n_batch // 10)))
    # The pattern of cedar-py issue #13: policies and entities passed as text, parsed per call.
    ents_text = json.dumps(ents)
    out["cedar_controlled_text"] = timer.latency(lambda: is_authorized(c_ctl, text, ents_text), max(20, n // 100),
                                                 warmup=10)
    # What Cedar itself reports spending inside Rust (its metrics): the rest is the Python binding.
    metrics = [is_authorized(c_ctl, ps, es).metrics for _ in range(min(1000, n))]
    out["cedar_internal_us"] = {k: statistics.median(float(m.get(k, 0)) for m in metrics)
                                for k in ("authz_duration_micros", "build_request_duration_micros")}
    out["cedarpy_version"] = _version("cedarpy")
    return out


def measure_decide(timer: Timer, n_plain: int, n_controlled: int) -> dict[str, Any]:
    """``Gatekeeper.decide()`` with a SQLite store and a file audit log in a temporary directory."""
    from gatekeeper.config import AuditConfig, Config, StoreConfig
    from gatekeeper.model import Outcome
    from gatekeeper.service import Gatekeeper

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gk-bench-") as tmp:
        cfg = Config(store=StoreConfig(url=f"sqlite:///{tmp}/state.db", create=True),
                     audit=AuditConfig(url=f"file://{tmp}/audit", signing_key=f"{tmp}/key.pem"))
        gk = Gatekeeper(cfg)
        try:
            gk.store.profiles.put_profiles(_profiles())
            plain = _request(ANY_ACCOUNT, PLAIN_TYPE)
            allowed = _request(US_ACCOUNT, CONTROLLED_TYPE)
            pending = _request(CN_PARENT_ACCOUNT, CONTROLLED_TYPE)
            assert gk.decide(plain).outcome == Outcome.ALLOW
            assert gk.decide(allowed).outcome == Outcome.ALLOW
            decide = gk.decide
            out.update(timer.compare({"plain": (lambda: decide(plain), n_plain)}))
            out.update(timer.compare({"controlled_allowed": (lambda: decide(allowed), n_controlled)},
                                     warmup=min(50, n_controlled)))
            try:
                first = gk.decide(pending)
            except Exception as exc:  # the licence workflow may not be wired in this checkout
                out["controlled_pending_error"] = f"{type(exc).__name__}: {exc}"
            else:
                if first.outcome == Outcome.PENDING and first.error is None:
                    out.update(timer.compare({"controlled_pending": (lambda: decide(pending), n_controlled)},
                                             warmup=min(50, n_controlled)))
                else:
                    out["controlled_pending_error"] = f"decided {first.outcome.label}: {first.error}"
        finally:
            gk.close()
            wait_for_sidecars()  # the writer's background sidecar, before the directory goes
        out["audit_bytes"] = sum(p.stat().st_size for p in Path(tmp, "audit").glob("*.jsonl"))
    return out


def _version(dist: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "?"


def _met(lat: Latency, goal_us: float, peer: Latency | None = None) -> bool:
    return lat.p50_us < goal_us and (peer is None or lat.p50_us < peer.p50_us)


def rows(engine: dict[str, Any], decide: dict[str, Any]) -> list[Row]:
    v = engine.get("cedarpy_version", "?")
    r: list[Row] = []
    if engine:
        r += [
            Row("engine", "plain request (t3.micro), all packs", engine["plain"].text(),
                f"cedarpy {v}: {engine['cedar_plain'].text()}", f"p50 < {PLAIN_GOAL_US:g} us, faster than cedarpy",
                _met(engine["plain"], PLAIN_GOAL_US, engine["cedar_plain"]), data=_lat(engine, "plain")),
            Row("engine", "controlled request (p4d.24xlarge, China-owned customer), all packs",
                engine["controlled"].text(), f"cedarpy {v}: {engine['cedar_controlled'].text()}",
                f"p50 < {CONTROLLED_GOAL_US:g} us, faster than cedarpy",
                _met(engine["controlled"], CONTROLLED_GOAL_US, engine["cedar_controlled"]),
                data=_lat(engine, "controlled")),
            Row("engine", f"batch of {engine['batch_size']} requests (mixed)",
                f"{engine['batch'].text()} per batch ({fmt_us(engine['batch'].p50_us / engine['batch_size'])}"
                " a request)",
                f"cedarpy is_authorized_batch: {engine['cedar_batch'].text()}", "faster than cedarpy",
                engine["batch"].p50_us < engine["cedar_batch"].p50_us, data=_lat(engine, "batch")),
            Row("engine", "cedarpy with policies and entities as text (parsed per call, cedar-py #13)",
                "", f"cedarpy {v}: {engine['cedar_controlled_text'].text()}",
                data={"cedar": vars(engine["cedar_controlled_text"])}),
            Row("engine", "Cedar's own timing inside Rust for the controlled request (its metrics, median)",
                "", f"authorization {engine['cedar_internal_us']['authz_duration_micros']:g} us, building the "
                f"request {engine['cedar_internal_us']['build_request_duration_micros']:g} us",
                note="the rest of cedarpy's time is its Python binding", data=engine["cedar_internal_us"]),
        ]
    if decide:
        r.append(Row("decide", "Gatekeeper.decide(), plain (SQLite store, file audit log)", decide["plain"].text(),
                     note="not recorded (record_all = false)", data={"gatekeeper": vars(decide["plain"])}))
        r.append(Row("decide", "Gatekeeper.decide(), controlled, allowed (US customer, p4d.24xlarge)",
                     decide["controlled_allowed"].text(), note="includes the fsynced audit record",
                     data={"gatekeeper": vars(decide["controlled_allowed"])}))
        if "controlled_pending" in decide:
            r.append(Row("decide", "Gatekeeper.decide(), controlled, pending (China-owned customer; case joined)",
                         decide["controlled_pending"].text(), note="profile, case look-up, fsynced audit record",
                         data={"gatekeeper": vars(decide["controlled_pending"])}))
        else:
            r.append(Row("decide", "Gatekeeper.decide(), controlled, pending", "not measured",
                         note=decide.get("controlled_pending_error", "")))
    return r


def _lat(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {"gatekeeper": vars(d[key]), "cedar": vars(d["cedar_" + key])}


# (engine calls, decide() plain calls, decide() controlled calls) per mode
COUNTS = {"full": (100_000, 20_000, 1_000), "quick": (20_000, 5_000, 200), "smoke": (300, 100, 5)}


def run(timer: Timer, mode: str, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Row]]:
    n, n_plain, n_controlled = COUNTS[mode]
    log("engine: evaluate() beside cedarpy")
    engine = measure_engine(timer, n)
    log("engine: Gatekeeper.decide() end to end")
    decide = measure_decide(timer, n_plain, n_controlled)
    raw = {"engine": _jsonable(engine), "decide": _jsonable(decide)}
    return raw, rows(engine, decide)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (vars(v) if isinstance(v, Latency) else v) for k, v in d.items()}
