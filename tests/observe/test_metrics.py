"""``/metrics`` scraped over HTTP from a running app, and OpenTelemetry spans around decisions.

The numbers are checked against what was done: one plain allow, two pending requests (one case),
so decisions_total{outcome="pending"} is 2, the case is counted open, each record's append is
timed, and the backlog is back to zero.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gatekeeper.config import load_config
from gatekeeper.model import Outcome
from gatekeeper.observe import instrument, tracing
from gatekeeper.service import Gatekeeper
from tests.conftest import SAMPLE_PROFILES, tmp_config
from tests.stores.backends import request
from tests.web.conftest import AUDITOR, REQUESTER, REVIEWER, auth, pending_body


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(all_: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return all_.get((name, tuple(sorted(labels.items()))), 0.0)


def test_scrape(client: TestClient) -> None:
    for body in (pending_body(), pending_body(count=2), pending_body(instance_type="m5.large")):
        assert client.post("/v1/decisions", json=body, headers=auth(REQUESTER)).status_code == 200
    r = client.get("/metrics", headers=auth(AUDITOR))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    s = samples(r.text)
    assert value(s, "gatekeeper_decisions_total", outcome="pending", provider="aws", mode="enforce") == 2
    assert value(s, "gatekeeper_decisions_total", outcome="allow", provider="aws", mode="enforce") == 1
    assert value(s, "gatekeeper_decision_seconds_count", provider="aws") == 3
    assert value(s, "gatekeeper_rule_matches_total", pack="us-cloud-advanced-compute", rule="d5-macau-3a090",
                 decision="pending") == 2
    assert value(s, "gatekeeper_open_cases") == 1
    assert value(s, "gatekeeper_events_total", kind="case.opened") == 1
    assert value(s, "gatekeeper_events_total", kind="case.joined") == 1
    assert value(s, "gatekeeper_events_total", kind="case.requested") == 2
    # Two decision records and four case events (each pending request is recorded before the case
    # counts it, then opened or joined, the latter in one batch with the decision record), each
    # durable before its call returned: four appends.
    assert value(s, "gatekeeper_audit_append_seconds_count") == 4
    assert value(s, "gatekeeper_audit_backlog") == 0
    assert value(s, "gatekeeper_hook_errors_total", hook="aws-cloudtrail") == 0


def test_scrape_needs_a_reading_token(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(REQUESTER)).status_code == 403
    assert client.get("/metrics", headers=auth(REVIEWER)).status_code == 200


def test_hook_errors_and_idempotence(tmp_path: Path) -> None:
    gk = Gatekeeper(tmp_config(tmp_path))
    m = instrument(gk)
    assert instrument(gk) is m
    gk.record_event("hook.error", "gatekeeper-hook", {"hook": "aws-cloudtrail", "event_id": "e1", "error": "bad"})
    s = samples(m.exposition().decode())
    assert value(s, "gatekeeper_hook_errors_total", hook="aws-cloudtrail") == 1
    assert value(s, "gatekeeper_events_total", kind="hook.error") == 1
    gk.close()


def test_audit_appends_are_measured_across_close_audit(tmp_path: Path) -> None:
    """A host that closes its log after each event (a Lambda invocation) keeps its audit metrics: the
    log reopened with the next record is measured as the first one was, and its failures counted."""
    gk = Gatekeeper(tmp_config(tmp_path))
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    m = instrument(gk)  # before the log is opened: measured when it is
    assert gk._audit is None

    def appends() -> tuple[float, float]:
        s = samples(m.exposition().decode())
        return value(s, "gatekeeper_audit_append_seconds_count"), value(s, "gatekeeper_audit_append_errors_total")

    try:
        assert gk.decide(request(instance_type="m5.large", account="111111111111")).outcome == Outcome.ALLOW
        assert appends() == (0, 0)  # a plain type in a plain account: no record
        assert gk.decide(request()).outcome == Outcome.PENDING
        first, errors = appends()
        assert first > 0 and errors == 0
        gk.close_audit()
        assert gk.decide(request()).outcome == Outcome.PENDING  # joins the case, on the reopened log
        second, errors = appends()
        assert second > first and errors == 0
        gk.audit.close()  # the reopened log now refuses appends: counted as errors, the call denied
        d = gk.decide(request())
        assert d.outcome == Outcome.DENY and d.error is not None and "AuditError" in d.error
        assert appends()[1] >= 1
    finally:
        gk.close()


def test_a_log_open_before_instrument_is_measured(tmp_path: Path) -> None:
    gk = Gatekeeper(tmp_config(tmp_path))
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    opened = gk.audit
    m = instrument(gk)
    try:
        assert gk.decide(request()).outcome == Outcome.PENDING and gk.audit is opened
        s = samples(m.exposition().decode())
        assert value(s, "gatekeeper_audit_append_seconds_count") > 0
    finally:
        gk.close()


def test_no_tracer_no_spans() -> None:
    assert tracing.tracer() is None  # the API's default provider: the wrapper takes its plain branch


def test_spans_around_decisions(tmp_path: Path, spans: object) -> None:
    gk = Gatekeeper(tmp_config(tmp_path))
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    instrument(gk)
    d = gk.decide(request())
    assert d.outcome == Outcome.PENDING
    [span] = spans.get_finished_spans()  # type: ignore[attr-defined]
    a = span.attributes
    assert span.name == "gatekeeper.decide" and a["gatekeeper.decision"] == "pending"
    assert a["gatekeeper.case_id"] == d.case_id and a["gatekeeper.decision_id"] == d.decision_id
    assert "us-cloud-advanced-compute/d5-macau-3a090" in a["gatekeeper.rules"]
    assert a["gatekeeper.provider"] == "aws" and a["gatekeeper.dry_run"] is False
    gk.close()


def test_scraped_from_gatekeeper_serve(tmp_path: Path) -> None:
    """The real server (uvicorn in a subprocess), scraped as Prometheus would, over HTTP."""
    import httpx

    from tests.web._server import serve, write_config

    cfg = write_config(tmp_path)
    gk = Gatekeeper(load_config(cfg))
    gk.store.profiles.put_profiles(list(SAMPLE_PROFILES))
    gk.close()
    with serve(cfg) as served:
        r = httpx.post(f"{served.url}/v1/decisions", json=pending_body(), headers=auth(REQUESTER), timeout=30)
        assert r.status_code == 200 and r.json()["decision"] == "pending"
        scrape = httpx.get(f"{served.url}/metrics", headers=auth(AUDITOR), timeout=30)
    s = samples(scrape.text)
    assert value(s, "gatekeeper_decisions_total", outcome="pending", provider="aws", mode="enforce") == 1
    assert value(s, "gatekeeper_open_cases") == 1
