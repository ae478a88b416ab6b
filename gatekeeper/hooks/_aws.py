"""The AWS side of the Lambda hook: boto3 clients, read-only look-ups, and the remediation executors.

Imported on the first event, not when the Lambda module is imported, so that boto3 loads once per
container inside the first invocation rather than in every import (and not at all for ``hooks test``
without ``--resolve``).

Executors are a table: (resource kind, action) -> one function making one or two SDK calls. Each
returns a short text of what the provider said; any exception propagates to the hook, which records
it as a failed action.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from gatekeeper.errors import ResolutionError
from gatekeeper.hooks.remediation import Action
from gatekeeper.providers.aws import FETCHES

ClientFactory = Callable[[str, str], Any]


class Clients:
    """boto3 clients per (account, service, region), made on first use and kept for the container's life.

    With ``role`` (``[hooks] aws_role``, ``{account}`` replaced) the clients of an account act through
    that role, assumed with STS and refreshed before it expires; without, the hook's own credentials.
    ``factory`` replaces client creation altogether (tests).
    """

    def __init__(self, factory: ClientFactory | None = None, *, role: str = "") -> None:
        self._factory = factory
        self.role = role
        self._cache: dict[tuple[str, str, str], Any] = {}
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        return self.get(service, region)

    def bind(self, account: str) -> ClientFactory:
        """The client factory for resources in ``account``."""
        if not self.role or not account:
            return self
        return lambda service, region: self.get(service, region, account)

    def get(self, service: str, region: str, account: str = "") -> Any:
        key = (account if self.role else "", service, region)
        client = self._cache.get(key)
        if client is None:
            with self._lock:
                client = self._cache.get(key)
                if client is None:
                    client = (self._factory(service, region) if self._factory
                              else self._make(service, region, key[0]))
                    self._cache[key] = client
        return client

    def _session(self, account: str) -> Any:
        session = self._sessions.get(account)
        if session is not None:
            return session
        session = self._assumed(self.role.replace("{account}", account)) if account else _base_session()
        self._sessions[account] = session
        return session

    def _assumed(self, role_arn: str) -> Any:
        import boto3
        import botocore.session
        from botocore.credentials import RefreshableCredentials

        sts = self._session("").client("sts")

        def fetch() -> dict[str, str]:
            c = sts.assume_role(RoleArn=role_arn, RoleSessionName="gatekeeper-hook")["Credentials"]
            return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"], "token": c["SessionToken"],
                    "expiry_time": c["Expiration"].isoformat()}

        core = botocore.session.get_session()
        # Share the service models already loaded (parsing them is most of a client's cost).
        core.register_component("data_loader", _base_session()._session.get_component("data_loader"))
        core._credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")
        return boto3.session.Session(botocore_session=core)

    def _make(self, service: str, region: str, account: str) -> Any:
        from botocore.config import Config as BotoConfig

        return self._session(account).client(service, region_name=region or None,
                                             config=BotoConfig(retries={"mode": "standard", "max_attempts": 5},
                                                               connect_timeout=5, read_timeout=20))


_base: Any = None
_base_lock = threading.Lock()


def _base_session() -> Any:
    """One boto3 session per process for the hook's own credentials: service models load once."""
    global _base
    with _base_lock:
        if _base is None:
            import boto3

            _base = boto3.session.Session()
        return _base


class BotoReader:
    """Follows references with read-only calls (the permissions the deploy template grants), as the
    spec's ``FETCHES`` say, through the hook's clients in the event's account."""

    def __init__(self, clients: ClientFactory) -> None:
        self.clients = clients

    def describe(self, kind: str, key: Mapping[str, str], region: str) -> Mapping[str, Any]:
        fetch = FETCHES.get(kind)
        shown = " ".join(f"{k}={v}" for k, v in key.items())
        if fetch is None:
            raise ResolutionError(f"no reader for {kind!r}")
        try:
            answer = getattr(self.clients(fetch.service, region), fetch.operation)(**fetch.args(key))
        except Exception as exc:
            code = _code(exc)
            if "notfound" in code.lower().replace(".", ""):
                raise ResolutionError(f"{kind.replace('_', ' ')} {shown} not found ({code})") from exc
            raise ResolutionError(f"cannot read {kind.replace('_', ' ')} {shown}: {type(exc).__name__}: {exc} "
                                  f"(the hook needs {fetch.action})") from exc
        found = fetch.pick(answer, key)
        if found is None:
            raise ResolutionError(f"{kind.replace('_', ' ')} {shown} not found")
        return found

    def instance(self, instance_id: str, region: str) -> Mapping[str, Any]:
        return self.describe("instance", {"id": instance_id}, region)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, Mapping) else ""


class NoReader:
    """For dry runs without ``--resolve``: every reference stays unresolved, no cloud is called."""

    def describe(self, kind: str, key: Mapping[str, str], region: str) -> Mapping[str, Any]:
        shown = " ".join(f"{k}={v}" for k, v in key.items())
        raise ResolutionError(f"{kind.replace('_', ' ')} {shown} not read (dry run without --resolve)")

    def instance(self, instance_id: str, region: str) -> Mapping[str, Any]:
        raise ResolutionError(f"instance {instance_id} not read (dry run without --resolve)")


# -- executors ----------------------------------------------------------------------------------
def _tag_list(action: Action) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in action.tags]


def _need_arn(action: Action) -> str:
    if not action.resource.arn:
        raise ResolutionError(f"{action.resource.describe()}: the event names no ARN to tag")
    return action.resource.arn


def _ec2_tag(c: ClientFactory, a: Action) -> str:
    c("ec2", a.resource.region).create_tags(Resources=[a.resource.id], Tags=_tag_list(a))
    return "tagged"


def _ec2_stop(c: ClientFactory, a: Action) -> str:
    out = c("ec2", a.resource.region).stop_instances(InstanceIds=[a.resource.id])
    states = [s.get("CurrentState", {}).get("Name", "") for s in out.get("StoppingInstances") or []]
    return f"stopping ({', '.join(states) or 'no state'})"


def _ec2_terminate(c: ClientFactory, a: Action) -> str:
    out = c("ec2", a.resource.region).terminate_instances(InstanceIds=[a.resource.id])
    states = [s.get("CurrentState", {}).get("Name", "") for s in out.get("TerminatingInstances") or []]
    return f"terminating ({', '.join(states) or 'no state'})"


def _fleet_delete(terminate: bool) -> Callable[[ClientFactory, Action], str]:
    def run(c: ClientFactory, a: Action) -> str:
        out = c("ec2", a.resource.region).delete_fleets(FleetIds=[a.resource.id], TerminateInstances=terminate)
        bad = out.get("UnsuccessfulFleetDeletions") or []
        if bad:
            raise ResolutionError(f"fleet {a.resource.id} not deleted: {bad[0].get('Error', {})}")
        return "fleet deleted" + (" with its instances" if terminate else "")
    return run


def _spot_cancel(c: ClientFactory, a: Action) -> str:
    c("ec2", a.resource.region).cancel_spot_instance_requests(SpotInstanceRequestIds=[a.resource.id])
    return "spot request cancelled"


def _spot_fleet_cancel(terminate: bool) -> Callable[[ClientFactory, Action], str]:
    def run(c: ClientFactory, a: Action) -> str:
        out = c("ec2", a.resource.region).cancel_spot_fleet_requests(SpotFleetRequestIds=[a.resource.id],
                                                                     TerminateInstances=terminate)
        bad = out.get("UnsuccessfulFleetRequests") or []
        if bad:
            raise ResolutionError(f"spot fleet {a.resource.id} not cancelled: {bad[0].get('Error', {})}")
        return "spot fleet cancelled" + (" with its instances" if terminate else "")
    return run


def _template_delete(c: ClientFactory, a: Action) -> str:
    c("ec2", a.resource.region).delete_launch_template(LaunchTemplateId=a.resource.id)
    return "launch template deleted"


def _template_version_delete(c: ClientFactory, a: Action) -> str:
    out = c("ec2", a.resource.region).delete_launch_template_versions(LaunchTemplateId=a.resource.parent,
                                                                      Versions=[a.resource.id])
    bad = out.get("UnsuccessfullyDeletedLaunchTemplateVersions") or []
    if bad:
        raise ResolutionError(f"version {a.resource.id} not deleted: {bad[0].get('ResponseError', {})}")
    return "launch template version deleted"


def _asg_tag(c: ClientFactory, a: Action) -> str:
    c("autoscaling", a.resource.region).create_or_update_tags(Tags=[
        {"ResourceId": a.resource.id, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
         "PropagateAtLaunch": True} for k, v in a.tags])
    return "tagged (propagated at launch)"


def _asg_zero(c: ClientFactory, a: Action) -> str:
    c("autoscaling", a.resource.region).update_auto_scaling_group(
        AutoScalingGroupName=a.resource.id, MinSize=0, MaxSize=0, DesiredCapacity=0)
    return "scaled to zero (min = max = desired = 0)"


def _asg_delete(c: ClientFactory, a: Action) -> str:
    c("autoscaling", a.resource.region).delete_auto_scaling_group(AutoScalingGroupName=a.resource.id,
                                                                  ForceDelete=True)
    return "group deleted with its instances"


def _sm_tag(c: ClientFactory, a: Action) -> str:
    c("sagemaker", a.resource.region).add_tags(ResourceArn=_need_arn(a), Tags=_tag_list(a))
    return "tagged"


def _sm_call(method: str, param: str, said: str) -> Callable[[ClientFactory, Action], str]:
    def run(c: ClientFactory, a: Action) -> str:
        getattr(c("sagemaker", a.resource.region), method)(**{param: a.resource.id})
        return said
    return run


def _eks_arn(c: ClientFactory, a: Action) -> str:
    if a.resource.arn:
        return a.resource.arn
    out = c("eks", a.resource.region).describe_nodegroup(clusterName=a.resource.parent, nodegroupName=a.resource.id)
    return str(out["nodegroup"]["nodegroupArn"])


def _eks_tag(c: ClientFactory, a: Action) -> str:
    c("eks", a.resource.region).tag_resource(resourceArn=_eks_arn(c, a), tags=dict(a.tags))
    return "tagged"


def _eks_zero(c: ClientFactory, a: Action) -> str:
    # EKS requires maxSize >= 1; min = desired = 0 leaves no node running and none started.
    out = c("eks", a.resource.region).update_nodegroup_config(
        clusterName=a.resource.parent, nodegroupName=a.resource.id,
        scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0})
    return f"scaled to zero (update {out.get('update', {}).get('id', '?')})"


def _eks_delete(c: ClientFactory, a: Action) -> str:
    c("eks", a.resource.region).delete_nodegroup(clusterName=a.resource.parent, nodegroupName=a.resource.id)
    return "node group deleting"


def _batch_tag(c: ClientFactory, a: Action) -> str:
    c("batch", a.resource.region).tag_resource(resourceArn=_need_arn(a), tags=dict(a.tags))
    return "tagged"


def _batch_disable(c: ClientFactory, a: Action) -> str:
    # A disabled compute environment takes no new jobs and scales down to minvCpus (0).
    c("batch", a.resource.region).update_compute_environment(
        computeEnvironment=a.resource.id, state="DISABLED", computeResources={"minvCpus": 0})
    return "disabled (minvCpus 0)"


def _batch_delete(c: ClientFactory, a: Action) -> str:
    _batch_disable(c, a)
    c("batch", a.resource.region).delete_compute_environment(computeEnvironment=a.resource.id)
    return "disabled and deleted"


def _emr_tag(c: ClientFactory, a: Action) -> str:
    c("emr", a.resource.region).add_tags(ResourceId=a.resource.id, Tags=_tag_list(a))
    return "tagged"


def _emr_terminate(c: ClientFactory, a: Action) -> str:
    c("emr", a.resource.region).terminate_job_flows(JobFlowIds=[a.resource.id])
    return "cluster terminating"


def _ec2_call(method: str, param: str, said: str, *, many: bool = True) -> Callable[[ClientFactory, Action], str]:
    def run(c: ClientFactory, a: Action) -> str:
        getattr(c("ec2", a.resource.region), method)(**{param: [a.resource.id] if many else a.resource.id})
        return said
    return run


def _lc_delete(c: ClientFactory, a: Action) -> str:
    c("autoscaling", a.resource.region).delete_launch_configuration(LaunchConfigurationName=a.resource.id)
    return "launch configuration deleted"


def _ecs_tag(c: ClientFactory, a: Action) -> str:
    c("ecs", a.resource.region).tag_resource(resourceArn=_need_arn(a),
                                             tags=[{"key": k, "value": v} for k, v in a.tags])
    return "tagged"


def _cfn(method: str, said: str) -> Callable[[ClientFactory, Action], str]:
    def run(c: ClientFactory, a: Action) -> str:
        getattr(c("cloudformation", a.resource.region), method)(StackName=a.resource.id)
        return said
    return run


def _cfn_change_set_delete(c: ClientFactory, a: Action) -> str:
    args = {"ChangeSetName": a.resource.id} | ({"StackName": a.resource.parent} if a.resource.parent else {})
    c("cloudformation", a.resource.region).delete_change_set(**args)
    return "change set deleted"


def _emr_group_zero(c: ClientFactory, a: Action) -> str:
    c("emr", a.resource.region).modify_instance_groups(
        ClusterId=a.resource.parent, InstanceGroups=[{"InstanceGroupId": a.resource.id, "InstanceCount": 0}])
    return "instance group resized to zero"


EXECUTORS: Mapping[tuple[str, str], Callable[[ClientFactory, Action], str]] = {
    ("ec2:capacity-reservation", "tag"): _ec2_tag,
    ("ec2:capacity-reservation", "cancel"): _ec2_call("cancel_capacity_reservation", "CapacityReservationId",
                                                      "capacity reservation cancelled", many=False),
    ("ec2:capacity-reservation-fleet", "tag"): _ec2_tag,
    ("ec2:capacity-reservation-fleet", "cancel"): _ec2_call(
        "cancel_capacity_reservation_fleets", "CapacityReservationFleetIds", "reservation fleet cancelled"),
    ("ec2:capacity-block", "tag"): _ec2_tag,
    ("ec2:host", "tag"): _ec2_tag,
    ("ec2:host", "release"): _ec2_call("release_hosts", "HostIds", "host released"),
    ("autoscaling:launch-configuration", "delete"): _lc_delete,
    ("sagemaker:endpoint", "tag"): _sm_tag,
    ("sagemaker:endpoint", "delete"): _sm_call("delete_endpoint", "EndpointName", "endpoint deleting"),
    ("sagemaker:tuning-job", "tag"): _sm_tag,
    ("sagemaker:tuning-job", "stop"): _sm_call("stop_hyper_parameter_tuning_job", "HyperParameterTuningJobName",
                                               "tuning job stopping"),
    ("sagemaker:optimization-job", "tag"): _sm_tag,
    ("sagemaker:optimization-job", "stop"): _sm_call("stop_optimization_job", "OptimizationJobName",
                                                     "optimization job stopping"),
    ("sagemaker:inference-recommendations-job", "tag"): _sm_tag,
    ("sagemaker:inference-recommendations-job", "stop"): _sm_call("stop_inference_recommendations_job", "JobName",
                                                                  "recommendations job stopping"),
    ("sagemaker:monitoring-schedule", "tag"): _sm_tag,
    ("sagemaker:monitoring-schedule", "stop"): _sm_call("stop_monitoring_schedule", "MonitoringScheduleName",
                                                        "monitoring schedule stopped"),
    ("sagemaker:monitoring-schedule", "delete"): _sm_call("delete_monitoring_schedule", "MonitoringScheduleName",
                                                          "monitoring schedule deleted"),
    ("sagemaker:cluster", "tag"): _sm_tag,
    ("sagemaker:cluster", "delete"): _sm_call("delete_cluster", "ClusterName", "cluster deleting"),
    ("sagemaker:training-plan", "tag"): _sm_tag,
    ("sagemaker:job-definition", "tag"): _sm_tag,
    ("sagemaker:domain", "tag"): _sm_tag,
    ("sagemaker:space", "tag"): _sm_tag,
    ("sagemaker:app", "tag"): _sm_tag,
    ("ecs:capacity-provider", "tag"): _ecs_tag,
    ("emr:instance-group", "resize_to_zero"): _emr_group_zero,
    ("cloudformation:stack", "delete"): _cfn("delete_stack", "stack deleting"),
    ("cloudformation:stack-update", "cancel_update"): _cfn("cancel_update_stack", "update cancelled, rolling back"),
    ("cloudformation:change-set", "delete"): _cfn_change_set_delete,
    ("ec2:instance", "tag"): _ec2_tag,
    ("ec2:instance", "stop"): _ec2_stop,
    ("ec2:instance", "terminate"): _ec2_terminate,
    ("ec2:fleet", "tag"): _ec2_tag,
    ("ec2:fleet", "delete_keep_instances"): _fleet_delete(False),
    ("ec2:fleet", "delete"): _fleet_delete(True),
    ("ec2:spot-request", "tag"): _ec2_tag,
    ("ec2:spot-request", "cancel"): _spot_cancel,
    ("ec2:spot-fleet-request", "tag"): _ec2_tag,
    ("ec2:spot-fleet-request", "cancel"): _spot_fleet_cancel(False),
    ("ec2:spot-fleet-request", "cancel_and_terminate"): _spot_fleet_cancel(True),
    ("ec2:launch-template", "tag"): _ec2_tag,
    ("ec2:launch-template", "delete"): _template_delete,
    ("ec2:launch-template-version", "delete"): _template_version_delete,
    ("autoscaling:group", "tag"): _asg_tag,
    ("autoscaling:group", "scale_to_zero"): _asg_zero,
    ("autoscaling:group", "delete"): _asg_delete,
    ("sagemaker:training-job", "tag"): _sm_tag,
    ("sagemaker:training-job", "stop"): _sm_call("stop_training_job", "TrainingJobName", "training job stopping"),
    ("sagemaker:processing-job", "tag"): _sm_tag,
    ("sagemaker:processing-job", "stop"): _sm_call("stop_processing_job", "ProcessingJobName",
                                                   "processing job stopping"),
    ("sagemaker:transform-job", "tag"): _sm_tag,
    ("sagemaker:transform-job", "stop"): _sm_call("stop_transform_job", "TransformJobName", "transform job stopping"),
    ("sagemaker:notebook-instance", "tag"): _sm_tag,
    ("sagemaker:notebook-instance", "stop"): _sm_call("stop_notebook_instance", "NotebookInstanceName",
                                                      "notebook instance stopping"),
    ("sagemaker:endpoint-config", "tag"): _sm_tag,
    ("sagemaker:endpoint-config", "delete"): _sm_call("delete_endpoint_config", "EndpointConfigName",
                                                      "endpoint configuration deleted"),
    ("eks:nodegroup", "tag"): _eks_tag,
    ("eks:nodegroup", "scale_to_zero"): _eks_zero,
    ("eks:nodegroup", "delete"): _eks_delete,
    ("batch:compute-environment", "tag"): _batch_tag,
    ("batch:compute-environment", "disable"): _batch_disable,
    ("batch:compute-environment", "delete"): _batch_delete,
    ("emr:cluster", "tag"): _emr_tag,
    ("emr:cluster", "terminate"): _emr_terminate,
}

# The IAM actions the executors and the reader call; deploy/aws/template.yaml grants exactly these
# (a test compares the two).
IAM_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeInstances", "ec2:DescribeLaunchTemplateVersions",
    "ec2:CreateTags", "ec2:StopInstances", "ec2:TerminateInstances", "ec2:DeleteFleets",
    "ec2:CancelSpotInstanceRequests", "ec2:CancelSpotFleetRequests", "ec2:DeleteLaunchTemplate",
    "ec2:DeleteLaunchTemplateVersions",
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:CreateOrUpdateTags", "autoscaling:UpdateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup",
    "sagemaker:AddTags", "sagemaker:StopTrainingJob", "sagemaker:StopProcessingJob", "sagemaker:StopTransformJob",
    "sagemaker:StopNotebookInstance", "sagemaker:DeleteEndpointConfig",
    "eks:DescribeNodegroup", "eks:TagResource", "eks:UpdateNodegroupConfig", "eks:DeleteNodegroup",
    "batch:TagResource", "batch:UpdateComputeEnvironment", "batch:DeleteComputeEnvironment",
    "elasticmapreduce:AddTags", "elasticmapreduce:TerminateJobFlows",
    # the spec's other reads (gatekeeper.providers.aws.FETCHES) and the newer remediations
    "ec2:DescribeFleets", "ec2:DescribeSpotFleetRequests", "ec2:DescribeCapacityReservations",
    "ec2:DescribeCapacityReservationFleets", "batch:DescribeComputeEnvironments",
    "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeDomain", "sagemaker:DescribeSpace",
    "sagemaker:DescribeUserProfile", "elasticmapreduce:ListInstanceGroups",
    "ec2:CancelCapacityReservation", "ec2:CancelCapacityReservationFleets", "ec2:ReleaseHosts",
    "autoscaling:DeleteLaunchConfiguration", "sagemaker:DeleteEndpoint", "sagemaker:StopHyperParameterTuningJob",
    "sagemaker:StopOptimizationJob", "sagemaker:StopInferenceRecommendationsJob", "sagemaker:StopMonitoringSchedule",
    "sagemaker:DeleteMonitoringSchedule", "sagemaker:DeleteCluster", "ecs:TagResource",
    "elasticmapreduce:ModifyInstanceGroups",
    "s3:GetObject", "cloudformation:GetTemplate", "cloudformation:DeleteStack", "cloudformation:CancelUpdateStack",
    "cloudformation:DeleteChangeSet",
)
# With ``[hooks] aws_role``: what the hook's own role needs besides (the role grants IAM_ACTIONS).
ASSUME_ACTIONS: tuple[str, ...] = ("sts:AssumeRole",)


def execute(clients: ClientFactory, action: Action) -> str:
    run = EXECUTORS.get((action.resource.kind, action.action))
    if run is None:
        raise ResolutionError(f"no executor for {action.action} on {action.resource.kind}")
    return run(clients, action)
