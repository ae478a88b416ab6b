"""Licence exceptions NAC and ACA as permits beside individual licences (15 CFR 740; 89 FR 23876).

NAC: the notification is filed (``notified_on``), BIS's approval gives the authorization number (the
permit's number), and the permit is usable 25 days after the notification. ACA: for D:1/D:4
destinations outside Macau and D:5; it never covers a D:5/Macau customer.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatekeeper.errors import InvalidInputError
from gatekeeper.model import Outcome
from gatekeeper.workflow import workflow_of
from gatekeeper.workflow.packet import build_packet, packet_markdown
from tests.stores.backends import Clock, make_gatekeeper, request

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
US = "111111111111"  # Acme Analytics Inc. (US)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/state.db"


def test_nac_is_usable_25_days_after_the_notification(tmp_path: Path, url: str, clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, url, clock=clock)
    try:
        d = gk.decide(request())  # Singapore company with a Chinese parent: D:5, a NAC case
        assert d.outcome == Outcome.PENDING and d.case_id
        notified = START.date() - timedelta(days=10)
        case, lic = workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="NAC-2026-0042",
                                            expires=START.date() + timedelta(days=365), permit="nac",
                                            notified_on=notified)
        assert lic is not None and lic.permit == "NAC" and lic.notified_on == notified
        assert lic.valid_from == notified + timedelta(days=25)
        assert "licence exception NAC (authorization NAC-2026-0042, notified" in lic.label
        held = gk.decide(request())
        assert held.outcome == Outcome.PENDING
        assert f"the 25-day wait after the notification ends on {lic.valid_from.isoformat()}" in held.reasons[-1]
        clock.advance(days=15)  # 25 days after the notification
        allowed = gk.decide(request())
        assert allowed.outcome == Outcome.ALLOW and allowed.licence_id == "NAC-2026-0042"
        assert "allowed under licence exception NAC" in allowed.reasons[-1]
        packet = build_packet(workflow_of(gk).get_case(case.case_id), gk.jurisdictions, generated_at=clock.now)
        assert packet["permit"] == {"kind": "NAC", "number": "NAC-2026-0042", "notified_on": notified.isoformat(),
                                    "label": lic.label}
        assert "Permit issued: **licence exception NAC (authorization NAC-2026-0042" in packet_markdown(packet)
    finally:
        gk.close()


def test_aca_for_a_d4_destination(tmp_path: Path, url: str, clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, url, clock=clock)
    try:
        d = gk.decide(request(account=US, region="me-central-1", principal="arn:aws:iam::111111111111:user/dev"))
        assert d.outcome == Outcome.PENDING and d.case_id  # A100s in the UAE (D:4)
        _, lic = workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="ACA-UAE-1",
                                         expires=START.date() + timedelta(days=90), permit="ACA")
        assert lic is not None and lic.permit == "ACA" and lic.valid_from == START.date()
        again = gk.decide(request(account=US, region="me-central-1", principal="arn:aws:iam::111111111111:user/dev"))
        assert again.outcome == Outcome.ALLOW and again.licence_id == "ACA-UAE-1"
    finally:
        gk.close()


def test_aca_never_covers_a_d5_customer(tmp_path: Path, url: str, clock: Clock) -> None:
    gk = make_gatekeeper(tmp_path, url, clock=clock)
    try:
        d = gk.decide(request())
        assert d.case_id
        with pytest.raises(InvalidInputError, match="ACA does not cover") as info:
            workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="ACA-1",
                                    expires=START.date() + timedelta(days=30), permit="aca")
        assert info.value.field == "permit"
        assert workflow_of(gk).get_case(d.case_id).status == "open"  # nothing changed
    finally:
        gk.close()


def test_an_aca_permit_on_file_does_not_allow_a_d5_customer(tmp_path: Path, url: str, clock: Clock) -> None:
    # A permit written by other means (a store import) is checked again when it is used.
    from tests.stores.backends import licence

    gk = make_gatekeeper(tmp_path, url, clock=clock)
    try:
        gk.store.licences.put_licence(licence("ACA-9", quantity=80, on=START.date()).model_copy(
            update={"permit": "ACA"}))
        d = gk.decide(request())
        assert d.outcome == Outcome.PENDING
        assert "licence ACA-9 is licence exception ACA, which does not cover" in d.reasons[-1]
    finally:
        gk.close()


@pytest.mark.parametrize(
    ("permit", "notified", "field", "message"),
    [
        ("nac", None, "notified", "needs --notified"),
        ("nac", START.date() + timedelta(days=1), "notified", "in the future"),
        ("licence", START.date(), "notified", "NAC only"),
        ("lpp", None, "permit", "must be one of"),
    ],
)
def test_bad_permit_terms(tmp_path: Path, url: str, clock: Clock, permit: str, notified: date | None,
                          field: str, message: str) -> None:
    gk = make_gatekeeper(tmp_path, url, clock=clock)
    try:
        d = gk.decide(request())
        assert d.case_id
        with pytest.raises(InvalidInputError, match=message) as info:
            workflow_of(gk).approve(d.case_id, reviewer="alice", licence_number="X-1",
                                    expires=START.date() + timedelta(days=30), permit=permit, notified_on=notified)
        assert info.value.field == field
    finally:
        gk.close()


def test_cli_approve_with_nac(tmp_path: Path, url: str) -> None:
    from gatekeeper.cli.main import app

    gk = make_gatekeeper(tmp_path, url)
    try:
        d = gk.decide(request())
        assert d.case_id
    finally:
        gk.close()
    cfg_file = tmp_path / "gk.toml"
    cfg_file.write_text(f'[store]\nurl = "{url}"\n[audit]\nurl = "file://{tmp_path}/audit"\n'
                        f'signing_key = "{tmp_path}/k.pem"\n', encoding="utf-8")
    today = date.today()
    result = CliRunner().invoke(app, ["cases", "approve", d.case_id, "--licence", "NAC-7", "--expires",
                                      (today + timedelta(days=90)).isoformat(), "--by", "alice", "--permit", "nac",
                                      "--notified", (today - timedelta(days=30)).isoformat(), "--json",
                                      "--config", str(cfg_file)])
    assert result.exit_code == 0, result.output
    lic = json.loads(result.stdout)["licence"]
    assert lic["permit"] == "NAC" and lic["state"] == "active"
    shown = CliRunner().invoke(app, ["licences", "show", "NAC-7", "--config", str(cfg_file)])
    assert "licence exception NAC (authorization NAC-7" in shown.stdout
