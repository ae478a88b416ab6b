"""The deploy templates: cfn-lint clean, in step with the code (patterns, IAM actions, tables), and their
EventBridge patterns matching the sample events (and not the others), checked twice: by a small
matcher of EventBridge's pattern semantics and through moto's EventBridge delivering to SQS."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import Config
from gatekeeper.hooks._aws import IAM_ACTIONS
from gatekeeper.hooks.azure_function import (
    ACTION_NAMES,
    ACTION_SUCCESS,
    OPERATION_NAMES,
    RBAC_ACTIONS,
    WRITE_SUCCESS,
)
from gatekeeper.hooks.cloudtrail import event_pattern

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "deploy" / "aws"
TEMPLATES = [AWS / "template.yaml", AWS / "member.yaml"]
SAMPLES = sorted((AWS / "sample-events").glob("*.json"))


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def load(path: Path) -> dict[str, Any]:
    from cfnlint.decode import decode

    template, errors = decode(str(path))
    assert not errors and template is not None, errors
    return dict(template)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def plain(value: Any) -> Any:
    """The template's nodes as plain dicts and lists (cfn-lint decodes into its own subclasses)."""
    return json.loads(json.dumps(value, default=str))


# -- cfn-lint -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_are_cfn_lint_clean(path: Path) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    proc = subprocess.run([str(cfn_lint), "--format", "parseable", str(path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- in step with the code ------------------------------------------------------------------------------
def _sorted(pattern: Any) -> Any:
    if isinstance(pattern, dict):
        return {k: _sorted(v) for k, v in pattern.items()}
    if isinstance(pattern, list):
        return sorted((_sorted(v) for v in pattern), key=json.dumps)
    return pattern


@pytest.mark.parametrize("path, rule", [(AWS / "template.yaml", "ApiCallRule"),
                                        (AWS / "member.yaml", "ApiCallForwardRule")], ids=["central", "member"])
def test_the_api_call_rule_is_the_pattern_of_the_covered_operations(path: Path, rule: str) -> None:
    pattern = plain(load(path)["Resources"][rule]["Properties"]["EventPattern"])
    assert _sorted(pattern) == _sorted(event_pattern())


def test_member_and_central_state_change_rules_agree() -> None:
    central = plain(load(AWS / "template.yaml")["Resources"]["StateChangeRule"]["Properties"]["EventPattern"])
    member = plain(load(AWS / "member.yaml")["Resources"]["StateChangeForwardRule"]["Properties"]["EventPattern"])
    assert central == member == {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"],
                                 "detail": {"state": ["pending"]}}


def _remediation_actions(role: dict[str, Any]) -> list[str]:
    [policy] = [p for p in role["Properties"]["Policies"] if isinstance(p, dict) and p.get("PolicyName") ==
                "remediation"]
    [statement] = policy["PolicyDocument"]["Statement"]
    return list(statement["Action"])


def test_iam_grants_exactly_the_calls_the_hook_makes() -> None:
    central = load(AWS / "template.yaml")
    member = load(AWS / "member.yaml")
    for role in (central["Resources"]["FunctionRole"], member["Resources"]["RemediationRole"]):
        assert sorted(_remediation_actions(role)) == sorted(IAM_ACTIONS)
    # Nothing else is granted on "*", and the audit bucket is append-only for the function.
    statements = [s for p in central["Resources"]["FunctionRole"]["Properties"]["Policies"]
                  if isinstance(p, dict) and "PolicyDocument" in p for s in p["PolicyDocument"]["Statement"]]
    assert [s["Resource"] for s in statements if s["Resource"] == "*"] == ["*"]
    granted = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.startswith("s3:Delete") or a == "s3:*" or a.endswith(":*") for a in granted)


def test_the_tables_are_the_stores_schemas() -> None:
    from gatekeeper.stores.dynamodb import TABLES
    from gatekeeper.stores.dynamodb_screening import register

    register()  # the screening tables are declared on the store when it is created
    template = load(AWS / "template.yaml")
    tables = {plain(t["Properties"]["TableName"])["Fn::Sub"].removeprefix("${TablePrefix}-"): t["Properties"]
              for t in resources(template, "AWS::DynamoDB::Table").values()}
    # Every table the store declares, and nothing else.
    assert set(tables) == {spec.suffix for spec in TABLES.values()}
    assert {"profiles", "cases", "licences", "events", "screening", "screening-hits"} <= set(tables)
    for role in TABLES:
        spec, props = TABLES[role], tables[TABLES[role].suffix]
        keys = {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}
        assert keys == {spec.hash_key: "HASH", **({spec.range_key: "RANGE"} if spec.range_key else {})}
        indexes = {ix["IndexName"]: [k["AttributeName"] for k in ix["KeySchema"]]
                   for ix in props.get("GlobalSecondaryIndexes", [])}
        assert indexes == {ix.name: [ix.hash_key, *([ix.range_key] if ix.range_key else [])] for ix in spec.indexes}
        defined = {a["AttributeName"] for a in props["AttributeDefinitions"]}
        assert defined == set(spec.attributes())
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}


def test_the_audit_bucket_is_locked_in_compliance_mode() -> None:
    [bucket] = resources(load(AWS / "template.yaml"), "AWS::S3::Bucket").values()
    props = plain(bucket["Properties"])
    assert props["ObjectLockEnabled"] is True and props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert bucket["DeletionPolicy"] == "Retain"


def test_one_function_whose_handler_exists_and_whose_config_loads() -> None:
    template = load(AWS / "template.yaml")
    [fn] = resources(template, "AWS::Lambda::Function").values()
    module, _, attr = fn["Properties"]["Handler"].rpartition(".")
    assert callable(getattr(__import__(module, fromlist=[attr]), attr))
    sub = plain(fn["Properties"]["Environment"]["Variables"]["GATEKEEPER_CONFIG_TOML"])["Fn::Sub"]
    text, variables = sub[0], sub[1]
    assert set(variables) == {"Role"}
    values = {"Mode": "enforce", "TablePrefix": "gk", "AWS::Region": "eu-west-1", "AuditBucket": "gk-audit",
              "OnFlag": "tag", "OnPending": "stop", "OnDeny": "terminate", "OnError": "stop",
              "AccountMap": '{ "210987654321" = "123456789012" }',
              "Role": "arn:aws:iam::{account}:role/gatekeeper-remediation"}
    assert set(re.findall(r"\$\{([^}]+)\}", text)) == set(values)
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text)
    cfg = Config(**tomllib.loads(rendered))
    assert cfg.store.url == "dynamodb://gk?region=eu-west-1" and cfg.audit.url.startswith("s3://gk-audit/")
    assert cfg.hooks.account_map == {"210987654321": "123456789012"} and cfg.hooks.aws_role.endswith("remediation")


# -- EventBridge pattern semantics ----------------------------------------------------------------------
def matches(pattern: dict[str, Any], event: Any) -> bool:
    """EventBridge matching for what the templates use: lists of exact values, ``prefix`` and
    ``exists``; every field of the pattern must match, an array value matches if any element does."""
    for key, want in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(want, dict):
            if not present or not matches(want, value):
                return False
            continue
        ok = False
        for rule in want:
            if isinstance(rule, dict) and "exists" in rule:
                ok = present if rule["exists"] else not present
            elif isinstance(rule, dict) and "prefix" in rule:
                ok = any(isinstance(v, str) and v.startswith(rule["prefix"])
                         for v in (value if isinstance(value, list) else [value]))
            elif present:
                ok = rule in (value if isinstance(value, list) else [value])
            if ok:
                break
        if not ok:
            return False
    return True


def test_the_matcher_follows_eventbridge_semantics() -> None:
    assert matches({"a": ["x"]}, {"a": "x"}) and not matches({"a": ["x"]}, {"a": "y"})
    assert matches({"a": ["x"]}, {"a": ["y", "x"]})  # an array matches if any element does
    assert matches({"a": [{"prefix": "aws."}]}, {"a": "aws.ec2"}) and not matches({"a": [{"prefix": "aws."}]}, {})
    assert matches({"a": [{"exists": False}]}, {}) and not matches({"a": [{"exists": False}]}, {"a": "x"})
    assert matches({"d": {"b": ["1"]}}, {"d": {"b": "1"}}) and not matches({"d": {"b": ["1"]}}, {"d": 3})


def template_patterns() -> list[dict[str, Any]]:
    template = load(AWS / "template.yaml")
    return [plain(r["Properties"]["EventPattern"]) for r in resources(template, "AWS::Events::Rule").values()]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_events_match_exactly_when_they_should(sample: Path) -> None:
    event = json.loads(sample.read_text(encoding="utf-8"))
    hits = [p for p in template_patterns() if matches(p, event)]
    assert len(hits) == (1 if sample.name.startswith("match-") else 0)


def test_the_samples_cover_both_outcomes() -> None:
    names = [p.name for p in SAMPLES]
    assert sum(n.startswith("match-") for n in names) >= 4 and sum(n.startswith("nomatch-") for n in names) >= 4


def test_moto_eventbridge_delivers_exactly_the_matching_samples(aws_credentials: None) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="hook")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for n, pattern in enumerate(template_patterns()):
            events.put_rule(Name=f"rule-{n}", EventPattern=json.dumps(pattern))
            events.put_targets(Rule=f"rule-{n}", Targets=[{"Id": "q", "Arn": arn}])
        for sample in SAMPLES:
            e = json.loads(sample.read_text(encoding="utf-8"))
            out = events.put_events(Entries=[{"Source": e["source"], "DetailType": e["detail-type"],
                                              "Detail": json.dumps(e["detail"]), "Resources": e["resources"]}])
            assert out["FailedEntryCount"] == 0
        delivered: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            delivered += [json.loads(m["Body"]) for m in got]
        expected = sorted(json.loads(s.read_text(encoding="utf-8"))["detail"].get("eventName", "state-change")
                          for s in SAMPLES if s.name.startswith("match-"))
        assert sorted(d["detail"].get("eventName", "state-change") for d in delivered) == expected


# -- Azure ----------------------------------------------------------------------------------------------
AZURE = ROOT / "deploy" / "azure"


def arm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((AZURE / "azuredeploy.json").read_text(encoding="utf-8"))
    return data


def _inner() -> dict[str, Any]:
    [nested] = [r for r in arm()["resources"] if r["type"] == "Microsoft.Resources/deployments"]
    inner: dict[str, Any] = nested["properties"]["template"]
    return inner


def test_the_arm_template_is_a_subscription_deployment_with_a_least_privilege_role() -> None:
    t = arm()
    assert t["$schema"].endswith("subscriptionDeploymentTemplate.json#")
    [role] = [r for r in t["resources"] if r["type"] == "Microsoft.Authorization/roleDefinitions"]
    [perm] = role["properties"]["permissions"]
    assert sorted(perm["actions"]) == sorted(RBAC_ACTIONS) and perm["notActions"] == []
    assert not any(a.endswith("/*") or a == "*" for a in perm["actions"])
    [assignment] = [r for r in t["resources"] if r["type"] == "Microsoft.Authorization/roleAssignments"]
    assert "principalId" in assignment["properties"]["principalId"]


def test_the_event_grid_subscription_filters_to_the_covered_writes() -> None:
    inner = _inner()
    [topic] = [r for r in inner["resources"] if r["type"] == "Microsoft.EventGrid/systemTopics"]
    assert topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    [sub] = [r for r in inner["resources"] if r["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"]
    f = sub["properties"]["filter"]
    assert f["includedEventTypes"] == [WRITE_SUCCESS, ACTION_SUCCESS]
    [adv] = f["advancedFilters"]
    assert adv["key"] == "data.operationName" and sorted(adv["values"]) == sorted(OPERATION_NAMES + ACTION_NAMES)
    assert sub["properties"]["destination"]["properties"]["resourceId"].endswith("/functions/gatekeeper_hook')]")
    [site] = [r for r in inner["resources"] if r["type"] == "Microsoft.Web/sites"]
    assert site["identity"] == {"type": "SystemAssigned"}


def test_every_parameter_and_variable_referenced_is_declared() -> None:
    for template in (arm(), _inner()):
        text = json.dumps({k: v for k, v in template.items() if k != "resources"} | {
            "resources": [r for r in template["resources"] if r["type"] != "Microsoft.Resources/deployments"]})
        for kind in ("parameters", "variables"):
            used = set(re.findall(rf"{kind}\('([^']+)'\)", text))
            assert used <= set(template.get(kind, {})), (kind, used - set(template.get(kind, {})))


def test_the_function_app_settings_render_a_valid_config() -> None:
    [settings] = [r for r in _inner()["resources"] if r["type"] == "Microsoft.Web/sites/config"]
    expr = settings["properties"]["GATEKEEPER_CONFIG_TOML"]
    fmt = re.match(r"^\[format\('(.*)', parameters", expr, re.S)
    assert fmt is not None
    text = fmt.group(1).replace("''", "'")
    rendered = text.format("enforce", "tag", "stop", "terminate", "stop", '{ "a" = "b" }')
    cfg = Config(**tomllib.loads(rendered))
    assert cfg.store.url.startswith("sqlite:////mounts/") and cfg.hooks.account_map == {"a": "b"}
    assert "GATEKEEPER_SELF_PRINCIPAL_ID" in settings["properties"]
    host = json.loads((AZURE / "host.json").read_text(encoding="utf-8"))
    assert host["version"] == "2.0"
