"""DynamoDB specifics: the URL, table creation, the deploy template's schema, all-or-nothing profile import."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.errors import ConfigError, StoreError
from gatekeeper.model import CustomerProfile
from gatekeeper.stores import open_store
from gatekeeper.stores.dynamodb import TABLES, DynamoDBLocation, TableSpec, register_table
from gatekeeper.stores.testing import LocalDynamoDB

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "template.yaml"


def test_url() -> None:
    loc = DynamoDBLocation.parse("dynamodb://gk-prod?region=eu-west-1&endpoint_url=http://127.0.0.1:9&max_attempts=5")
    assert (loc.prefix, loc.region, loc.endpoint_url, loc.max_attempts) == ("gk-prod", "eu-west-1",
                                                                           "http://127.0.0.1:9", 5)
    assert loc.table("licences") == "gk-prod-licences"


@pytest.mark.parametrize(("url", "message"), [
    ("dynamodb://x?region=us-east-1", "table prefix"),
    ("dynamodb://bad/prefix?region=us-east-1", "table prefix"),
    ("dynamodb://gk-prod?region=us-east-1&table=x", "unknown parameter"),
    ("dynamodb://gk-prod?region=us-east-1&max_attempts=zero", "max_attempts"),
    ("dynamodb://gk-prod?region=us-east-1&max_attempts=0", "at least 1"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url)


def test_region_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-1")
    assert DynamoDBLocation.parse("dynamodb://gk-prod").region == "ap-southeast-1"


def test_register_table_refuses_another_schema() -> None:
    register_table("events", TableSpec("events", "pk", purpose="same keys, other words"))  # same schema: fine
    with pytest.raises(ConfigError, match="another schema"):
        register_table("events", TableSpec("events", "id"))


def test_init_refuses_a_table_with_other_keys(local_dynamodb: LocalDynamoDB) -> None:
    prefix = f"gk-{uuid.uuid4().hex[:12]}"
    store = open_store(local_dynamodb.url(prefix))
    store.db.client.create_table(TableName=f"{prefix}-licences", BillingMode="PAY_PER_REQUEST",
                                 KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    with pytest.raises(StoreError, match=f"{prefix}-licences exists with keys"):
        store.init()


def test_init_creates_the_ttl_of_the_events_table(local_dynamodb: LocalDynamoDB) -> None:
    prefix = f"gk-{uuid.uuid4().hex[:12]}"
    store = open_store(local_dynamodb.url(prefix))
    store.init()
    ttl = store.db.client.describe_time_to_live(TableName=f"{prefix}-events")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"
    desc = store.db.client.describe_table(TableName=f"{prefix}-cases")["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [ix["IndexName"] for ix in desc["GlobalSecondaryIndexes"]] == ["by_status"]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: intrinsic functions (!Sub, !GetAtt, ...) become plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _intrinsic)


def test_deploy_template_has_the_tables_of_the_schema() -> None:
    """deploy/aws/template.yaml (the hooks engineer's) creates every table exactly as ``store init`` would."""
    if not TEMPLATE.exists():
        pytest.fail(f"{TEMPLATE} is missing: the deploy template must create the state tables")
    resources = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)["Resources"]
    tables = {r["Properties"]["TableName"].replace("${TablePrefix}-", ""): r["Properties"]
              for r in resources.values() if r.get("Type") == "AWS::DynamoDB::Table"}
    for role, spec in TABLES.items():
        props = tables.get(spec.suffix)
        assert props is not None, f"the template lacks the {spec.suffix} table"
        want = spec.create_args(f"X-{spec.suffix}")
        assert props["KeySchema"] == want["KeySchema"], role
        assert sorted(props["AttributeDefinitions"], key=str) == sorted(want["AttributeDefinitions"], key=str), role
        assert props.get("GlobalSecondaryIndexes", []) == want.get("GlobalSecondaryIndexes", []), role
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}


def test_profile_import_is_all_or_nothing_across_transactions(local_dynamodb: LocalDynamoDB) -> None:
    """More than 100 profiles need several transactions; a failure in a later one undoes the earlier ones."""
    store = open_store(local_dynamodb.url(f"gk-{uuid.uuid4().hex[:12]}"))
    store.init()
    old = CustomerProfile("aws", "000000000007", "Before Ltd.", "US", "US", "US", "verified")
    store.profiles.put_profiles([old])
    profiles = [CustomerProfile("aws", f"{i:012d}", f"Customer {i}", "SG", "SG", "CN", "verified")
                for i in range(210)]
    calls: list[int] = []

    def fail_third(**_: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:  # the third of three transactions
            class Status:
                status_code = 500
            return Status(), {"Error": {"Code": "InternalServerError", "Message": "injected"}}
        return None

    store.db.client.meta.events.register("before-call.dynamodb.TransactWriteItems", fail_third)
    with pytest.raises(StoreError, match="InternalServerError"):
        store.profiles.put_profiles(profiles)
    assert len(calls) == 5  # three import transactions (the third failed), then two that undo the first two
    remaining = store.profiles.list_profiles()
    assert remaining == [old]
