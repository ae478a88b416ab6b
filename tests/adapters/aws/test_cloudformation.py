"""CloudFormation stacks decided on the compute in their templates (issue 13, section 2), over HTTP
against moto's ThreadedMotoServer; the template reader alone for the intrinsic functions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gatekeeper.catalog import default_catalog
from gatekeeper.providers.aws import BY_NAME
from gatekeeper.providers.aws._read import translate
from gatekeeper.providers.aws.cloudformation import UNRESOLVED, parse
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.conftest import CN_HQ, US, Aws, _reset
from tests.adapters.aws.test_new_paths import outcome

GPU_YAML = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Size:
    Type: String
    Default: p4d.24xlarge
  Env:
    Type: String
    Default: prod
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Mappings:
  Sizes:
    prod: {Train: p5.48xlarge}
    dev: {Train: t3.micro}
Resources:
  Template:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        InstanceType: !FindInMap [Sizes, !Ref Env, Train]
  Group:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      MinSize: "0"
      MaxSize: "8"
      LaunchTemplate:
        LaunchTemplateId: !Ref Template
        Version: !GetAtt Template.LatestVersionNumber
  Box:
    Type: AWS::EC2::Instance
    Condition: IsProd
    Properties:
      ImageId: ami-12c6146b
      InstanceType: !Ref Size
  Nodes:
    Type: AWS::EKS::Nodegroup
    Properties:
      ClusterName: c
      NodeRole: arn:aws:iam::123456789012:role/n
      Subnets: [subnet-1]
      InstanceTypes: [!If [IsProd, p4d.24xlarge, t3.large]]
      ScalingConfig: {MinSize: 0, MaxSize: 3, DesiredSize: 1}
"""

PLAIN_JSON = json.dumps({"Resources": {"Web": {"Type": "AWS::EC2::Instance", "Properties": {
    "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}}}})


def items(params: dict[str, Any], name: str = "CreateStack") -> list[tuple[str, int, str]]:
    t = translate(BY_NAME[("cloudformation", name)], params, None, default_catalog())
    return [(i.instance_type, i.count, i.path) for i in t.items] + [("!", 0, u) for u in t.unresolved]


def test_the_template_reader_resolves_parameters_maps_conditions_and_local_references() -> None:
    got = items({"StackName": "s", "TemplateBody": GPU_YAML})
    types = {(t, n) for t, n, _ in got}
    assert ("p5.48xlarge", 8) in types  # the group's launch template, FindInMap on the default Env
    assert ("p4d.24xlarge", 1) in types  # the instance (IsProd) at its default Size
    assert ("p4d.24xlarge", 3) in types  # the node group: the If resolved with the condition
    assert ("p5.48xlarge", 1) in types  # the launch template itself
    assert all(p.startswith("Resources.") for _, _, p in got)
    dev = items({"StackName": "s", "TemplateBody": GPU_YAML,
                 "Parameters": [{"ParameterKey": "Env", "ParameterValue": "dev"}]})
    assert {t for t, _, _ in dev} == {"t3.micro", "t3.large"}  # the condition false: Box is not created


def test_values_only_known_at_deployment_are_unknown_accelerators_with_the_reason() -> None:
    doc = {"Parameters": {"Size": {"Type": "String"}}, "Resources": {
        "A": {"Type": "AWS::EC2::Instance", "Properties": {"InstanceType": {"Ref": "Size"}}},
        "B": {"Type": "AWS::EC2::Instance", "Properties": {"InstanceType": {"Fn::ImportValue": "shared-size"}}},
        "C": {"Type": "AWS::SageMaker::NotebookInstance", "Properties": {"InstanceType": {
            "Fn::If": ["Unknowable", "ml.p4d.24xlarge", "ml.t3.medium"]}}},
        "D": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
    got = items({"StackName": "s", "TemplateBody": json.dumps(doc)})
    unknown = [t for t, _, _ in got if t.startswith(UNRESOLVED)]
    assert any("parameter Size has no value" in t for t in unknown) and any("ImportValue" in t for t in unknown)
    assert {"ml.p4d.24xlarge", "ml.t3.medium"} <= {t for t, _, _ in got}  # both branches, as alternatives
    previous = items({"StackName": "s", "TemplateBody": json.dumps(doc),
                      "Parameters": [{"ParameterKey": "Size", "UsePreviousValue": True}]}, "UpdateStack")
    assert any("previous value" in t for t, _, _ in previous)


@pytest.mark.parametrize("body", ["{not json", "Resources: [unclosed", "- just\n- a list\n"])
def test_an_unparseable_template_is_unresolved(body: str) -> None:
    got = items({"StackName": "s", "TemplateBody": body})
    assert [t for t, _, _ in got] == ["!"] and "cannot be parsed" in got[0][2]


def test_parse_reads_yaml_short_tags() -> None:
    doc = parse("Resources:\n  X:\n    Type: T\n    Properties: {A: !Ref P, B: !GetAtt R.Arn, C: !Sub 'x-${P}'}\n")
    assert doc["Resources"]["X"]["Properties"] == {"A": {"Ref": "P"}, "B": {"Fn::GetAtt": ["R", "Arn"]},
                                                   "C": {"Fn::Sub": "x-${P}"}}


@pytest.fixture
def http(moto_server: str, gk: Gatekeeper) -> Iterator[Aws]:
    _reset(moto_server)
    yield Aws("http", moto_server)
    _reset(moto_server)


def test_stacks_are_decided_before_they_leave_the_process(http: Aws) -> None:
    def create(body: str) -> Any:
        return lambda c: c.create_stack(StackName="s", TemplateBody=body)

    assert outcome(http, "cloudformation", CN_HQ, create(GPU_YAML)) == ("blocked", [])
    assert outcome(http, "cloudformation", US, create(GPU_YAML))[0] == "sent"
    assert outcome(http, "cloudformation", CN_HQ, create(PLAIN_JSON))[0] == "sent"
    change_set = {"StackName": "s2", "ChangeSetName": "cs", "TemplateBody": GPU_YAML}
    assert outcome(http, "cloudformation", CN_HQ, lambda c: c.create_change_set(**change_set)) == ("blocked", [])
    assert outcome(http, "cloudformation", CN_HQ, lambda c: c.create_stack_set(
        StackSetName="ss", TemplateBody=GPU_YAML)) == ("blocked", [])


def test_a_template_url_is_read_with_the_callers_credentials(http: Aws) -> None:
    s3 = http.raw("s3")
    s3.create_bucket(Bucket="templates")
    s3.put_object(Bucket="templates", Key="gpu.yaml", Body=GPU_YAML.encode())
    s3.put_object(Bucket="templates", Key="plain.json", Body=PLAIN_JSON.encode())
    url = f"{http.endpoint}/templates"
    assert outcome(http, "cloudformation", CN_HQ, lambda c: c.create_stack(
        StackName="s", TemplateURL=f"{url}/gpu.yaml")) == ("blocked", [])
    assert outcome(http, "cloudformation", CN_HQ, lambda c: c.create_stack(
        StackName="p", TemplateURL=f"{url}/plain.json"))[0] == "sent"
    # A template that cannot be read is decided fail-closed, for everyone.
    assert outcome(http, "cloudformation", US, lambda c: c.create_stack(
        StackName="m", TemplateURL=f"{url}/missing.yaml")) == ("blocked", [])


def test_an_update_with_the_previous_template_reads_the_deployed_one(http: Aws) -> None:
    live = GPU_YAML.replace("Default: prod", "Default: dev").split("  Group:")[0]  # the launch template only
    http.raw("cloudformation").create_stack(StackName="live", TemplateBody=live)
    update = {"StackName": "live", "UsePreviousTemplate": True,
              "Parameters": [{"ParameterKey": "Env", "ParameterValue": "prod"}]}
    assert outcome(http, "cloudformation", CN_HQ, lambda c: c.update_stack(**update)) == ("blocked", [])
    update["Parameters"] = [{"ParameterKey": "Env", "ParameterValue": "dev"}]
    assert outcome(http, "cloudformation", CN_HQ, lambda c: c.update_stack(**update))[0] == "sent"
