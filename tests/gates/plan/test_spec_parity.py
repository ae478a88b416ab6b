"""Parity: a Terraform resource and the SDK call its spec row names provision the same compute.

For each AWS type whose attributes have a direct SDK equivalent, the plan gate's items (read from the
planned values) are compared with what the AWS spec's own reader makes of the equivalent SDK request
(``gatekeeper.providers.aws`` ``translate``), so the IaC gate cannot drift from the wrapper and hooks.
"""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.catalog import default_catalog
from gatekeeper.catalog._catalog import normalize
from gatekeeper.gates.plan import RESOURCE_TYPES, extract, parse_plan
from gatekeeper.providers.aws import SPEC
from gatekeeper.providers.aws._read import translate
from tests.gates.conftest import CN_AWS
from tests.gates.plan._matrix import BUILD, CONTROLLED
from tests.gates.plan._plans import aws_provider, plan

T = CONTROLLED["aws"]
# The SDK request equivalent to the matrix fixture of each type (same machine, same sizes).
SDK: dict[str, dict[str, Any]] = {
    "aws_instance": {"InstanceType": T, "MinCount": 1, "MaxCount": 1},
    "aws_launch_template": {"LaunchTemplateName": "gpu", "LaunchTemplateData": {"InstanceType": T}},
    "aws_launch_configuration": {"LaunchConfigurationName": "gpu", "InstanceType": T},
    "aws_ec2_capacity_reservation": {"InstanceType": T, "InstanceCount": 4, "InstancePlatform": "Linux/UNIX"},
    "aws_eks_node_group": {"clusterName": "c", "nodegroupName": "x", "instanceTypes": [T],
                           "scalingConfig": {"desiredSize": 2, "maxSize": 4, "minSize": 1}},
    "aws_emr_instance_group": {"JobFlowId": "j-1", "InstanceGroups": [{"InstanceType": T, "InstanceCount": 2,
                                                                      "InstanceRole": "TASK"}]},
    "aws_spot_fleet_request": {"SpotFleetRequestConfig": {"TargetCapacity": 2, "IamFleetRole": "r",
                                                          "LaunchSpecifications": [{"InstanceType": T}]}},
    "aws_sagemaker_notebook_instance": {"NotebookInstanceName": "x", "InstanceType": f"ml.{T}", "RoleArn": "r"},
    "aws_sagemaker_endpoint_configuration": {"EndpointConfigName": "x", "ProductionVariants": [
        {"VariantName": "v", "InstanceType": f"ml.{T}", "InitialInstanceCount": 2}]},
    "aws_sagemaker_app": {"DomainId": "d", "AppType": "JupyterLab", "AppName": "a",
                          "ResourceSpec": {"InstanceType": f"ml.{T}"}},
    "aws_batch_compute_environment": {"computeEnvironmentName": "x", "type": "MANAGED",
                                      "computeResources": {"type": "EC2", "maxvCpus": 256, "instanceTypes": [T]}},
}
# Through a launch template: the spec's resolver reads it (here: what the plan's template says).
VIA_TEMPLATE: dict[str, dict[str, Any]] = {
    "aws_autoscaling_group": {"AutoScalingGroupName": "x", "LaunchTemplate": {"LaunchTemplateId": "lt-1"},
                              "MaxSize": 8, "MinSize": 0, "DesiredCapacity": 2},
    "aws_ec2_fleet": {"LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"}}],
                      "TargetCapacitySpecification": {"TotalTargetCapacity": 3,
                                                      "DefaultTargetCapacityType": "on-demand"}},
}
SDK.update(VIA_TEMPLATE)


class PlanTemplates:
    """The spec's resolver contract, answered from the plan fixture's launch template."""

    def __init__(self, instance_type: str) -> None:
        self.instance_type = instance_type
        self.asked: list[str] = []

    def describe(self, kind: str, key: Any) -> dict[str, Any]:
        self.asked.append(kind)
        return {"LaunchTemplateData": {"InstanceType": self.instance_type}}


# Where the counts differ by design (none today: Batch vCPUs are converted as the spec converts them).
TYPES_ONLY: set[str] = set()


@pytest.mark.parametrize("rtype", sorted(SDK))
def test_plan_items_match_the_spec_reading_of_the_sdk_call(rtype: str) -> None:
    catalog = default_catalog()
    doc = plan(*BUILD[rtype](T), providers=aws_provider(CN_AWS))
    parsed = parse_plan(doc)
    [res] = [r for r in parsed.resources if r.type == rtype]
    ours = extract(parsed, res, catalog)
    op = SPEC.operation(*RESOURCE_TYPES[rtype].operation)
    assert op is not None
    lookup = PlanTemplates(T)
    theirs = translate(op, SDK[rtype], lookup, catalog)
    assert not theirs.unresolved and not ours.unknown
    assert (lookup.asked == ["launch_template"]) == (rtype in VIA_TEMPLATE)

    def shape(items: Any, counts: bool) -> list[tuple[str, int]]:
        return sorted((normalize("aws", i.instance_type), i.count if counts else 0) for i in items)

    counts = rtype not in TYPES_ONLY
    assert shape(ours.items, counts) == shape(theirs.items, counts)
