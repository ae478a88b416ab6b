"""How each resolver kind of the AWS spec is read: the read-only call, its arguments, the answer's part.

Data shared by the SDK adapter's resolver (the caller's credentials) and the CloudTrail hook (its own
role in the event's account): kind -> service, client method, arguments, the part of the answer that
is the resource, and the IAM action needed (named in the reason when it is missing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class Fetch:
    service: str
    operation: str  # client method name
    args: Callable[[Mapping[str, str]], dict[str, Any]]
    pick: Callable[[Mapping[str, Any], Mapping[str, str]], Mapping[str, Any] | None]
    action: str  # the IAM action the reader's credentials need


def _first(member: str) -> Callable[[Mapping[str, Any], Mapping[str, str]], Mapping[str, Any] | None]:
    def pick(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
        values = answer.get(member) or []
        return values[0] if values and isinstance(values[0], Mapping) else None
    return pick


def _template_args(key: Mapping[str, str]) -> dict[str, Any]:
    args: dict[str, Any] = {"Versions": [key.get("version") or "$Default"]}
    if "id" in key:
        args["LaunchTemplateId"] = key["id"]
    else:
        args["LaunchTemplateName"] = key["name"]
    return args


def _instance(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
    reservation = _first("Reservations")(answer, key)
    return _first("Instances")(reservation, key) if reservation else None


def _spot_fleet(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
    entry = _first("SpotFleetRequestConfigs")(answer, key)
    config = entry.get("SpotFleetRequestConfig") if entry else None
    return config if isinstance(config, Mapping) else None


def _member(name: str) -> Callable[[Mapping[str, Any], Mapping[str, str]], Mapping[str, Any] | None]:
    def pick(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
        found = answer.get(name)
        return found if isinstance(found, Mapping) else None
    return pick


def _whole(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
    return answer if answer else None


def _emr_group(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
    for group in answer.get("InstanceGroups") or []:
        if isinstance(group, Mapping) and group.get("Id") == key.get("id"):
            return {**group, "InstanceType": group.get("InstanceType")}
    return None


def _s3_location(key: Mapping[str, str]) -> dict[str, Any]:
    """Bucket and key of a template URL: virtual-hosted (bucket.s3[.region].amazonaws.com/key) or
    path-style (s3[.region].amazonaws.com/bucket/key, and any non-AWS endpoint such as a stand-in)."""
    parts = urlsplit(key["url"])
    host, path = (parts.hostname or "").lower(), parts.path.lstrip("/")
    if parts.scheme == "s3":
        return {"Bucket": parts.netloc, "Key": path}
    virtual = ".s3." in f".{host}" and not host.startswith("s3.") and host.endswith(".amazonaws.com")
    if virtual:
        return {"Bucket": host.split(".s3", 1)[0], "Key": unquote(path)}
    bucket, _, rest = path.partition("/")
    return {"Bucket": bucket, "Key": unquote(rest)}


def _template_body(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
    body = answer.get("Body")
    if body is None:
        return None
    data = body.read(MAX_TEMPLATE_BYTES + 1) if hasattr(body, "read") else body
    if len(data) > MAX_TEMPLATE_BYTES:
        return {"TemplateBody": "!too-large"}
    return {"TemplateBody": data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)}


def _stack_template(answer: Mapping[str, Any], key: Mapping[str, str]) -> Mapping[str, Any] | None:
    body = answer.get("TemplateBody")
    return {"TemplateBody": body} if body else None


MAX_TEMPLATE_BYTES = 1_048_576

FETCHES: dict[str, Fetch] = {
    "launch_template": Fetch("ec2", "describe_launch_template_versions", _template_args,
                             _first("LaunchTemplateVersions"), "ec2:DescribeLaunchTemplateVersions"),
    "launch_configuration": Fetch("autoscaling", "describe_launch_configurations",
                                  lambda k: {"LaunchConfigurationNames": [k["name"]]}, _first("LaunchConfigurations"),
                                  "autoscaling:DescribeLaunchConfigurations"),
    "instance": Fetch("ec2", "describe_instances", lambda k: {"InstanceIds": [k["id"]]}, _instance,
                      "ec2:DescribeInstances"),
    "asg": Fetch("autoscaling", "describe_auto_scaling_groups", lambda k: {"AutoScalingGroupNames": [k["name"]]},
                 _first("AutoScalingGroups"), "autoscaling:DescribeAutoScalingGroups"),
    "nodegroup": Fetch("eks", "describe_nodegroup", lambda k: {"clusterName": k["cluster"], "nodegroupName": k["name"]},
                       _member("nodegroup"), "eks:DescribeNodegroup"),
    "compute_environment": Fetch("batch", "describe_compute_environments",
                                 lambda k: {"computeEnvironments": [k["name"]]}, _first("computeEnvironments"),
                                 "batch:DescribeComputeEnvironments"),
    "ec2_fleet": Fetch("ec2", "describe_fleets", lambda k: {"FleetIds": [k["id"]]}, _first("Fleets"),
                       "ec2:DescribeFleets"),
    "spot_fleet": Fetch("ec2", "describe_spot_fleet_requests", lambda k: {"SpotFleetRequestIds": [k["id"]]},
                        _spot_fleet, "ec2:DescribeSpotFleetRequests"),
    "capacity_reservation": Fetch("ec2", "describe_capacity_reservations",
                                  lambda k: {"CapacityReservationIds": [k["id"]]}, _first("CapacityReservations"),
                                  "ec2:DescribeCapacityReservations"),
    "capacity_reservation_fleet": Fetch("ec2", "describe_capacity_reservation_fleets",
                                        lambda k: {"CapacityReservationFleetIds": [k["id"]]},
                                        _first("CapacityReservationFleets"), "ec2:DescribeCapacityReservationFleets"),
    "endpoint_config": Fetch("sagemaker", "describe_endpoint_config", lambda k: {"EndpointConfigName": k["name"]},
                             _whole, "sagemaker:DescribeEndpointConfig"),
    "space": Fetch("sagemaker", "describe_space", lambda k: {"DomainId": k["domain"], "SpaceName": k["name"]},
                   _whole, "sagemaker:DescribeSpace"),
    "user_profile": Fetch("sagemaker", "describe_user_profile",
                          lambda k: {"DomainId": k["domain"], "UserProfileName": k["name"]}, _whole,
                          "sagemaker:DescribeUserProfile"),
    "domain": Fetch("sagemaker", "describe_domain", lambda k: {"DomainId": k["id"]}, _whole,
                    "sagemaker:DescribeDomain"),
    "template_url": Fetch("s3", "get_object", _s3_location, _template_body, "s3:GetObject"),
    "stack_template": Fetch("cloudformation", "get_template", lambda k: {"StackName": k["name"]}, _stack_template,
                            "cloudformation:GetTemplate"),
    "emr_instance_group": Fetch("emr", "list_instance_groups", lambda k: {"ClusterId": k["cluster"]}, _emr_group,
                                "elasticmapreduce:ListInstanceGroups"),
}
