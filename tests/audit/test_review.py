"""Query, summary and export (CSV and Parquet read back) with DuckDB over generated records."""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from gatekeeper.audit import decision_record, event_record
from gatekeeper.audit.review import AuditReader, Filters, parse_when
from gatekeeper.errors import AuditError, InvalidInputError
from gatekeeper.model import Decision, Outcome
from tests.audit.conftest import make_decision, open_log

CUSTOMERS = [  # account, legal name, country, parent
    ("111111111111", "Acme Analytics Inc.", "US", "US"),
    ("222222222222", "Lion City AI Pte. Ltd.", "SG", "CN"),
    ("333333333333", "Andes Render SpA", "CL", "CL"),
    ("444444444444", "Persian Gulf Compute Co.", "IR", "IR"),
]
CHIPS = [("p5.48xlarge", "H100", "3A090.a"), ("p4d.24xlarge", "A100", "3A090.a"), ("g5.xlarge", "A10G", "none")]
RULES = [(), (("kyc-flag", Outcome.FLAG),), (("cn-parent-deny", Outcome.DENY),),
         (("embargo", Outcome.DENY), ("kyc-flag", Outcome.FLAG))]


def generate(n: int, seed: int = 1) -> list[Decision]:
    rng = random.Random(seed)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        acct, name, country, parent = rng.choice(CUSTOMERS)
        itype, chip, ecls = rng.choice(CHIPS)
        rules = rng.choice(RULES)
        outcome = max((o for _, o in rules), default=Outcome.ALLOW)
        out.append(make_decision(decision_id=f"dec-{i}", outcome=outcome, account=acct, country=country,
                                 parent=parent, legal_name=name, instance_type=itype, chip=chip, export_class=ecls,
                                 rules=rules, at=start + timedelta(hours=7 * i),
                                 provider=rng.choice(["aws", "azure", "gcp"])))
    return out


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, list[Decision]]:
    decisions = generate(120)
    with open_log(tmp_path, segment_max_bytes=40_000) as log:
        for i, d in enumerate(decisions):
            log.append(decision_record(d))
            if i % 10 == 0:
                log.append(event_record("case.opened", "gatekeeper", {"case_id": f"case-{i}"}))
    assert len(list((tmp_path / "audit").glob("segment-*.jsonl"))) > 2
    return tmp_path / "audit", decisions


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [r["decision_id"] for r in rows]


def test_query_without_filters_returns_decisions_in_order(logged: tuple[Path, list[Decision]]) -> None:
    d, decisions = logged
    with AuditReader(d) as r:
        rows = r.query(Filters(), limit=None)
        assert ids(rows) == [x.decision_id for x in decisions]
        assert rows[0]["ts"].startswith("2025-03-01 00:00:00") and len(rows[0]["hash"]) == 64
        assert len(r.query(Filters(), limit=7)) == 7
        events = r.query(Filters(kind="case.*"), limit=None)
        assert len(events) == 12 and all(e["kind"] == "case.opened" for e in events)
        assert len(r.query(Filters(kind="all"), limit=None)) > 120 + 12  # + segment headers


@pytest.mark.parametrize(("flt", "pred"), [
    (Filters(decision="deny"), lambda x: x.outcome == Outcome.DENY),
    (Filters(decision="FLAG"), lambda x: x.outcome == Outcome.FLAG),
    (Filters(customer="lion city"), lambda x: x.profile.legal_name.startswith("Lion City")),
    (Filters(customer="333333333333"), lambda x: x.profile.account_id == "333333333333"),
    (Filters(country="cn"), lambda x: "CN" in x.profile.countries),
    (Filters(chip="h100"), lambda x: any(a.model == "H100" for a in x.items[0].accelerators)),
    (Filters(rule="kyc-flag"), lambda x: any(m.rule_id == "kyc-flag" for m in x.matches)),
    (Filters(provider="gcp"), lambda x: x.request.provider == "gcp"),
    (Filters(since=datetime(2025, 3, 10, tzinfo=UTC), until=datetime(2025, 3, 12, tzinfo=UTC)),
     lambda x: datetime(2025, 3, 10, tzinfo=UTC) <= x.evaluated_at < datetime(2025, 3, 12, tzinfo=UTC)),
    (Filters(decision="deny", country="IR", provider="aws"),
     lambda x: x.outcome == Outcome.DENY and x.profile.country == "IR" and x.request.provider == "aws"),
])
def test_query_filters(logged: tuple[Path, list[Decision]], flt: Filters, pred: object) -> None:
    d, decisions = logged
    expected = [x.decision_id for x in decisions if pred(x)]  # type: ignore[operator]
    assert expected  # the generated data exercises the filter
    with AuditReader(d) as r:
        assert ids(r.query(flt, limit=None)) == expected
        assert r.count(flt) == len(expected)


def test_summary_counts(logged: tuple[Path, list[Decision]]) -> None:
    d, decisions = logged
    with AuditReader(d) as r:
        s = r.summary(Filters())
    assert s["total"] == len(decisions)
    assert {x["decision"]: x["count"] for x in s["by_decision"]} == Counter(x.outcome.label for x in decisions)
    assert {x["chip"]: x["count"] for x in s["by_chip"]} == Counter(
        a.model for x in decisions for a in x.items[0].accelerators)
    assert {x["rule"]: x["count"] for x in s["by_rule"]} == Counter(m.rule_id for x in decisions for m in x.matches)
    assert {x["country"]: x["count"] for x in s["by_country"]} == Counter(
        c for x in decisions for c in dict.fromkeys(x.profile.countries))
    by_day = Counter(x.evaluated_at.strftime("%Y-%m-%d") for x in decisions)
    assert {x["day"]: x["total"] for x in s["by_day"]} == by_day
    day0 = s["by_day"][0]
    assert day0["total"] == sum(day0[k] for k in ("allow", "flag", "pending", "deny"))
    assert s["first"].startswith("2025-03-01") and s["by_decision"][0]["count"] >= s["by_decision"][-1]["count"]


def test_export_csv_and_parquet_read_back(logged: tuple[Path, list[Decision]], tmp_path: Path) -> None:
    d, decisions = logged
    flt = Filters(decision="deny")
    expected = [x for x in decisions if x.outcome == Outcome.DENY]
    with AuditReader(d) as r:
        n_csv = r.export(flt, "csv", tmp_path / "out.csv")
        n_pq = r.export(flt, "parquet", tmp_path / "out.parquet")
    assert n_csv == n_pq == len(expected)
    with (tmp_path / "out.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["decision_id"] for row in rows] == [x.decision_id for x in expected]
    assert rows[0]["countries"] == ";".join(dict.fromkeys(expected[0].profile.countries))
    assert rows[0]["rule_ids"] == ";".join(m.rule_id for m in expected[0].matches)
    con = duckdb.connect()
    pq = con.execute(f"SELECT decision_id, chips, rule_ids, ts FROM read_parquet('{tmp_path / 'out.parquet'}') "
                     "ORDER BY seq").fetchall()
    assert [p[0] for p in pq] == [x.decision_id for x in expected]
    assert pq[0][1] == [a.model for a in expected[0].items[0].accelerators]
    assert pq[0][3] == expected[0].evaluated_at
    assert not list(tmp_path.glob(".*.partial"))


def test_bad_review_input(logged: tuple[Path, list[Decision]], tmp_path: Path) -> None:
    d, _ = logged
    with pytest.raises(InvalidInputError, match="unknown decision"):
        Filters(decision="maybe")
    with pytest.raises(InvalidInputError, match="alpha-2"):
        Filters(country="China")
    with pytest.raises(InvalidInputError, match="after --until"):
        Filters(since=datetime(2025, 2, 1, tzinfo=UTC), until=datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidInputError, match="bad kind"):
        Filters(kind="x'; drop")
    with pytest.raises(InvalidInputError, match="bad date"):
        parse_when("yesterday")
    with AuditReader(d) as r:
        with pytest.raises(InvalidInputError, match="does not exist"):
            r.export(Filters(), "csv", tmp_path / "nope" / "out.csv")
        with pytest.raises(InvalidInputError, match="is a directory"):
            r.export(Filters(), "csv", tmp_path)
        with pytest.raises(InvalidInputError, match="unknown export format"):
            r.export(Filters(), "xlsx", tmp_path / "o.xlsx")  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="at least 1"):
            r.query(Filters(), limit=0)
    with pytest.raises(AuditError, match="no audit log"):
        AuditReader(tmp_path / "missing")


def test_customer_filter_is_a_parameter_not_sql(logged: tuple[Path, list[Decision]]) -> None:
    d, _ = logged
    with AuditReader(d) as r:
        assert r.query(Filters(customer="x' OR '1'='1"), limit=None) == []


def test_parse_when() -> None:
    assert parse_when("2025-03-01") == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_when("2025-03-01", end=True) == datetime(2025, 3, 2, tzinfo=UTC)
    assert parse_when("2025-03-01T10:00:00") == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert parse_when(None) is None


def test_empty_log(tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    with AuditReader(tmp_path / "audit") as r:
        assert r.query(Filters()) == [] and r.summary(Filters())["total"] == 0
        assert r.export(Filters(), "csv", tmp_path / "e.csv") == 0
    assert (tmp_path / "e.csv").read_text().startswith("seq,ts,kind")


def test_a_record_with_a_mistyped_field_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    with open_log(tmp_path) as log:
        log.append(decision_record(make_decision()))
        log.append({"kind": "decision", "chips": "not-a-list", "countries": {"a": 1}})
    with AuditReader(tmp_path / "audit") as r, pytest.raises(AuditError, match="cannot read the audit log"):
        r.query(Filters(), limit=None)


def test_a_torn_tail_of_the_open_segment_is_not_read(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.append(decision_record(make_decision(decision_id="dec-a")))
    seg = tmp_path / "audit" / "segment-00000001.jsonl"
    with seg.open("ab") as f:
        f.write(b'{"seq":3,"prev_hash":"00')  # a crash mid-write, not yet repaired
    with AuditReader(tmp_path / "audit") as r:
        assert ids(r.query(Filters(), limit=None)) == ["dec-a"]
    assert seg.read_bytes().endswith(b'"prev_hash":"00')  # reading changed nothing
    log.close()  # (the writer repairs the tail when it next takes the lock)
