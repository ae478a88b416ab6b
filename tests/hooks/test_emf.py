"""The Lambda hook's CloudWatch embedded metrics: one valid EMF line on stdout per event.

Checked against the EMF specification's rules: ``_aws.Timestamp`` in epoch milliseconds, each
``CloudWatchMetrics`` directive with a Namespace, Dimensions (lists of at most 30 keys) and Metrics
(at most 100, each Name with a top-level number), every dimension key a top-level string.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.hooks import aws_lambda, emf
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import CHINA_HQ
from tests.hooks.test_aws_lambda import launch, run_event

UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Count", "None"}


def valid_emf(obj: dict[str, Any]) -> None:
    aws = obj["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 1_600_000_000_000
    for directive in aws["CloudWatchMetrics"]:
        assert directive["Namespace"] and 1 <= len(directive["Metrics"]) <= 100
        for dims in directive["Dimensions"]:
            assert len(dims) <= 30 and all(isinstance(obj[k], str) and obj[k] for k in dims)
        for m in directive["Metrics"]:
            assert isinstance(obj[m["Name"]], int | float) and m.get("Unit", "None") in UNITS


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_a_handled_event(moto: None, gk: Gatekeeper, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = aws_lambda.handler(run_event(launch("p5.48xlarge"), CHINA_HQ), None)
    [line] = emf_lines(capsys.readouterr().out)
    valid_emf(line)
    assert (line["Hook"], line["Status"], line["Decision"]) == ("aws-lambda", "remediated", "pending")
    assert line["Events"] == 1 and line["HookErrors"] == 0 and line["DurationMs"] > 0
    assert line["case_id"] == result["case_id"] and line["decision_id"] == result["decision_id"]


def test_a_malformed_event_counts_as_a_hook_error(moto: None, gk: Gatekeeper,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    aws_lambda.handler(["not", "an", "event"], None)
    [line] = emf_lines(capsys.readouterr().out)
    valid_emf(line)
    assert line["Status"] == "error" and line["HookErrors"] == 1 and line["Decision"] == "none"


def test_raised_is_measured_and_reraised(capsys: pytest.CaptureFixture[str]) -> None:
    def boom(event: Any) -> dict[str, Any]:
        raise RuntimeError("remediation failed")

    with pytest.raises(RuntimeError, match="remediation failed"):
        emf.measured("aws-lambda", boom, {})
    [line] = emf_lines(capsys.readouterr().out)
    valid_emf(line)
    assert line["Status"] == "raised" and line["HookErrors"] == 1 and "RuntimeError" in line["error"]


def test_off_and_namespace(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEKEEPER_EMF", "off")
    assert emf.measured("aws-lambda", lambda e: {"status": "ignored"}, {}) == {"status": "ignored"}
    assert emf_lines(capsys.readouterr().out) == []
    monkeypatch.delenv("GATEKEEPER_EMF")
    monkeypatch.setenv("GATEKEEPER_EMF_NAMESPACE", "Acme/Gatekeeper")
    emf.measured("aws-lambda", lambda e: {"status": "ignored"}, {})
    [line] = emf_lines(capsys.readouterr().out)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Acme/Gatekeeper"
