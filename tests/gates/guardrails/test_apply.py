"""``--apply``: the real SDK clients against moto's Organizations and the local stand-ins; what changed
since the previous export is removed, nothing else is touched, and a re-apply is idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from gatekeeper.adapters._standin import Answer, StandIn
from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken
from gatekeeper.gates.guardrails import aws, diff, export, read_manifest, write
from gatekeeper.gates.guardrails._apply import apply_aws, apply_azure, apply_gcp
from gatekeeper.model import CustomerProfile
from gatekeeper.service import Gatekeeper
from tests.gates.conftest import CN_AZ, CN_GCP
from tests.gates.guardrails.conftest import ON


@pytest.fixture
def organizations(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        org = boto3.client("organizations")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        yield org


def _account(org: Any, name: str) -> str:
    return str(org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"])


def _ours(org: Any, target: str) -> list[dict[str, Any]]:
    pols = org.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    return [p for p in pols if p["Name"].startswith(aws.POLICY_PREFIX)]


def test_aws_apply_creates_attaches_and_later_removes(gk: Gatekeeper, organizations: Any, tmp_path: Path) -> None:
    org = organizations
    cn, us = _account(org, "lion"), _account(org, "acme")
    gk.store.profiles.put_profiles([CustomerProfile("aws", cn, "Lion City AI", "SG", "SG", "CN", "verified"),
                                    CustomerProfile("aws", us, "Acme", "US", "US", "US", "verified")])
    done = apply_aws(export(gk, "aws", on=ON), org)
    assert any(d.startswith("attached") and cn in d for d in done)
    # customers on file whose accounts are not in this organization: reported, the rest applied
    assert any(d.startswith("error: ") and "222222222222" in d and "AccountNotFoundException" in d for d in done)
    # from here on, only ``cn`` is controlled (the others become verified US customers)
    gk.store.profiles.put_profiles([CustomerProfile("aws", a, "Acme", "US", "US", "US", "verified")
                                    for a in ("222222222222", "444444444444")])
    bundle = export(gk, "aws", on=ON)
    done = apply_aws(bundle, org)  # the embargoed customer's policy is ours and no longer wanted; cn's is kept
    assert any(d.startswith("deleted SCP") for d in done) and not any(d.startswith("created SCP") for d in done)
    attached = _ours(org, cn)
    assert len(attached) == len([a for a in bundle.artifacts if cn in a.targets])
    assert {p["Name"] for p in _ours(org, us)} == {a.name for a in bundle.artifacts if us in a.targets}
    content = org.describe_policy(PolicyId=attached[0]["Id"])["Policy"]["Content"]
    art = next(a for a in bundle.artifacts if a.name == attached[0]["Name"])
    assert json.loads(content) == art.content
    # idempotent (the customers on file outside this organization are reported again, nothing else)
    assert all(d.startswith("error: ") for d in apply_aws(bundle, org))
    # the customer is now verified US: it takes the US customers' (regional) policies; its own are removed
    write(bundle, tmp_path)
    own = {p["Name"] for p in _ours(org, cn)} - {p["Name"] for p in _ours(org, us)}
    gk.store.profiles.put_profiles([CustomerProfile("aws", cn, "Lion City AI", "US", "US", "US", "verified")])
    later = export(gk, "aws", on=ON)
    changes = diff(read_manifest(tmp_path, "aws"), later.as_dict())
    [c] = [c for c in changes["customers"] if c["account_id"] == cn]
    assert "p4d.24xlarge" in c["no_longer_denied"] and set(changes["artifacts"]["removed"]) >= own
    done = apply_aws(later, org, read_manifest(tmp_path, "aws"))
    assert sum(d.startswith("deleted SCP") for d in done) == len(own)
    assert {p["Name"] for p in _ours(org, cn)} == {p["Name"] for p in _ours(org, us)}
    names = {p["Name"] for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]}
    assert "FullAWSAccess" in names and not names & own


def test_aws_apply_leaves_policies_it_did_not_make(gk: Gatekeeper, organizations: Any) -> None:
    org = organizations
    cn = _account(org, "lion")
    gk.store.profiles.put_profiles([CustomerProfile("aws", cn, "Lion City AI", "SG", "SG", "CN", "verified")])
    theirs = org.create_policy(Content=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]}), Name="org-own",
        Description="x", Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=theirs, TargetId=cn)
    apply_aws(export(gk, "aws", on=ON), org)
    pols = {p["Name"] for p in org.list_policies_for_target(TargetId=cn, Filter="SERVICE_CONTROL_POLICY")["Policies"]}
    assert "org-own" in pols and any(p.startswith(aws.POLICY_PREFIX) for p in pols)


class PolicyArm(ArmStandIn):
    """The Policy API's answers: 201 Created for a PUT, the deleted assignment (200) or 204 for a DELETE."""

    def answer(self, method: str, path: str, query: Mapping[str, list[str]], body: Any) -> Answer:
        if method == "DELETE":
            gone = self.resources.pop(path.rstrip("/").lower(), None)
            return Answer(200, gone) if gone is not None else Answer(204)
        got = super().answer(method, path, query, body)
        return Answer(201, got.body, got.headers) if method == "PUT" and got.status == 200 else got


def test_azure_apply_through_policy_client(gk: Gatekeeper, tmp_path: Path) -> None:
    from azure.mgmt.resource.policy import PolicyClient

    with PolicyArm() as arm:
        def client_for(sub: str) -> PolicyClient:
            return PolicyClient(StaticToken(), sub, base_url=arm.url, connection_verify=arm.ca_file)

        bundle = export(gk, "azure", on=ON)
        apply_azure(bundle, client_for)
        puts = arm.arrived("PUT")
        assert any(r.path.lower().endswith(f"/subscriptions/{CN_AZ}/providers/microsoft.authorization/"
                                           "policydefinitions/gatekeeper-deny-controlled-compute") for r in puts)
        assignment = next(r for r in puts if "policyassignments/gatekeeper-controlled" in r.path.lower())
        assert assignment.body["properties"]["parameters"]["deniedSizes"]["value"]
        assert assignment.headers.get("Authorization") == "Bearer stand-in-token"
        assert CN_AZ in assignment.path
        # a licence granted: the next apply adds its assignments; an assignment gone is deleted
        write(bundle, tmp_path)
        previous = read_manifest(tmp_path, "azure")
        assert previous is not None
        previous["artifacts"].append({"name": f"{CN_AZ}/gatekeeper-licence-9-expired",
                                      "kind": "azure-policy-assignment",
                                      "content": {"name": "gatekeeper-licence-9-expired"}, "targets": [CN_AZ]})
        arm.clear()
        apply_azure(bundle, client_for, previous)
        deletes = arm.arrived("DELETE")
        assert len(deletes) == 1 and deletes[0].path.endswith("policyAssignments/gatekeeper-licence-9-expired")


class OrgPolicyStandIn(StandIn):
    """Org Policy v2 over REST: custom constraints and policies kept by name (409 when one exists)."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, Any]] = {}

    def answer(self, method: str, path: str, query: Mapping[str, list[str]], body: Any) -> Answer:
        name = path.removeprefix("/v2/")
        if method == "POST":
            if body["name"] in self.items:
                return Answer(409, {"error": {"code": 409, "message": "exists", "status": "ALREADY_EXISTS"}})
            self.items[body["name"]] = body
            return Answer(200, body)
        if method == "PATCH":
            self.items[name] = body
            return Answer(200, body)
        if method == "DELETE":
            if self.items.pop(name, None) is None:
                return Answer(404, {"error": {"code": 404, "message": "no", "status": "NOT_FOUND"}})
            return Answer(200, {})
        found = self.items.get(name)
        return Answer(200, found) if found else Answer(404, {"error": {"code": 404, "message": "no",
                                                                        "status": "NOT_FOUND"}})


def test_gcp_apply_through_org_policy_client(gk: Gatekeeper) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import orgpolicy_v2

    with OrgPolicyStandIn() as stand_in:
        client = orgpolicy_v2.OrgPolicyClient(credentials=AnonymousCredentials(), transport="rest",
                                              client_options={"api_endpoint": stand_in.url})
        bundle = export(gk, "gcp", on=ON, organization="123456789")
        done = apply_gcp(bundle, client)
        constraints = [k for k in stand_in.items if "/customConstraints/" in k]
        policies = [k for k in stand_in.items if k.startswith(f"projects/{CN_GCP}/policies/")]
        assert constraints and len(policies) == len(constraints)
        stored = stand_in.items[constraints[0]]
        deny = orgpolicy_v2.CustomConstraint.ActionType.DENY  # the REST transport sends enums as numbers
        assert stored["actionType"] in ("DENY", int(deny)) and "resource." in stored["condition"]
        assert stand_in.items[policies[0]]["spec"]["rules"] == [{"enforce": True}]
        assert any(d.startswith("created constraint") for d in done)
        # again: everything exists, updated in place
        again = apply_gcp(bundle, client)
        assert all(d.startswith(("updated", "re-enforced")) for d in again)


def test_aws_policies_go_on_an_ou_when_all_its_accounts_take_them(gk: Gatekeeper, organizations: Any) -> None:
    org = organizations
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="china-owned")["OrganizationalUnit"]["Id"]
    a, b = _account(org, "lion-a"), _account(org, "lion-b")
    for acct in (a, b):
        org.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=ou)
    gk.store.profiles.put_profiles([CustomerProfile("aws", x, "Lion City AI", "SG", "SG", "CN", "verified")
                                    for x in (a, b)])
    bundle = export(gk, "aws", on=ON, ous={ou: [a, b]})
    mine = [x for x in bundle.artifacts if ou in x.targets]
    assert mine and all(a not in x.targets and b not in x.targets for x in mine)
    assert any(f"OU {ou}" in n for n in bundle.notes)
    apply_aws(bundle, org)
    assert _ours(org, ou) and not _ours(org, a)
    # an OU whose accounts take different policies stays per account
    mixed = export(gk, "aws", on=ON, ous={ou: [a, b, "444444444444"]})
    assert not any(ou in x.targets for x in mixed.artifacts) and any("attached per account" in n for n in mixed.notes)
