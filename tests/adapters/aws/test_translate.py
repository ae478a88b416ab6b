"""The table's reader on parameters alone (no references): items, alternatives, worst-case counts.

References (launch templates, groups ...) need AWS reads and are tested against moto in
test_resolver.py; here ``translate`` gets no resolver, so a reference would be reported unresolved.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.catalog import default_catalog
from gatekeeper.model import AttachedAccelerator
from gatekeeper.providers.aws import BY_NAME
from gatekeeper.providers.aws._read import Translation, translate, translate_quick

CATALOG = default_catalog()


def tr(service: str, op: str, params: dict[str, Any]) -> Translation:
    return translate(BY_NAME[(service, op)], params, None, CATALOG)


def summary(t: Translation) -> set[tuple[str, int]]:
    return {(i.instance_type, i.count) for i in t.items}


def test_run_instances_counts_the_most_it_can_launch() -> None:
    t = tr("ec2", "RunInstances", {"InstanceType": "p4d.24xlarge", "MinCount": 2, "MaxCount": 5})
    assert summary(t) == {("p4d.24xlarge", 5)}
    assert t.items[0].path == "InstanceType" and t.items[0].choice == "" and not t.unresolved


def test_run_instances_keeps_elastic_inference_accelerators() -> None:
    t = tr("ec2", "RunInstances", {"InstanceType": "t3.micro", "MaxCount": 1,
                                   "ElasticInferenceAccelerators": [{"Type": "eia2.large", "Count": 2}]})
    assert t.items[0].attached == (AttachedAccelerator("eia2.large", 2),)
    assert CATALOG.classify_item("aws", t.items[0]).accelerated  # an accelerator gatekeeper cannot classify


def test_run_instances_template_without_resolver_is_unresolved() -> None:
    t = tr("ec2", "RunInstances", {"LaunchTemplate": {"LaunchTemplateName": "gpu"}, "MaxCount": 1})
    assert t.items == () and len(t.unresolved) == 1 and "launch_template" in t.unresolved[0]


def test_instance_type_overrides_the_template_without_reading_it() -> None:
    t = tr("ec2", "RunInstances", {"InstanceType": "p5.48xlarge", "LaunchTemplate": {"LaunchTemplateId": "lt-1"},
                                   "MaxCount": 1})
    assert summary(t) == {("p5.48xlarge", 1)} and not t.unresolved


def test_fleet_overrides_are_alternatives_with_the_full_count() -> None:
    t = tr("ec2", "CreateFleet", {
        "LaunchTemplateConfigs": [
            {"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
             "Overrides": [{"InstanceType": "m5.large"}, {"InstanceType": "p4d.24xlarge", "WeightedCapacity": 4.0}]},
            {"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-2"},
             "Overrides": [{"InstanceType": "p5.48xlarge"}]}],
        "TargetCapacitySpecification": {"TotalTargetCapacity": 10, "OnDemandTargetCapacity": 6,
                                        "SpotTargetCapacity": 6}})
    # The largest of total (10) and on-demand + spot (12); a weight of 4 means 3 instances for 12 units.
    assert summary(t) == {("m5.large", 12), ("p4d.24xlarge", 3), ("p5.48xlarge", 12)}
    assert len({i.choice for i in t.items}) == 1 and t.items[0].choice
    assert {i.path for i in t.items} == {"LaunchTemplateConfigs[0].Overrides[0].InstanceType",
                                         "LaunchTemplateConfigs[0].Overrides[1].InstanceType",
                                         "LaunchTemplateConfigs[1].Overrides[0].InstanceType"}
    assert not t.unresolved  # overrides name the type: the templates are not read


def test_fleet_capacity_in_vcpus() -> None:
    t = tr("ec2", "CreateFleet", {
        "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
                                   "Overrides": [{"InstanceType": "p4d.24xlarge"}]}],
        "TargetCapacitySpecification": {"TotalTargetCapacity": 200, "TargetCapacityUnitType": "vcpu"}})
    assert summary(t) == {("p4d.24xlarge", 3)}  # 200 vCPUs / 96 per instance


def test_fleet_instance_requirements_expand_to_catalog_types() -> None:
    t = tr("ec2", "CreateFleet", {
        "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"},
                                   "Overrides": [{"InstanceRequirements": {
                                       "VCpuCount": {"Min": 1}, "MemoryMiB": {"Min": 1},
                                       "AcceleratorNames": ["h100"]}}]}],
        "TargetCapacitySpecification": {"TotalTargetCapacity": 2}})
    assert summary(t) == {("p5.4xlarge", 2), ("p5.48xlarge", 2)}
    assert all(i.path.startswith("LaunchTemplateConfigs[0].Overrides[0].InstanceRequirements ~ ") for i in t.items)


def test_spot_fleet_launch_specifications_and_weights() -> None:
    t = tr("ec2", "RequestSpotFleet", {"SpotFleetRequestConfig": {
        "TargetCapacity": 8, "LaunchSpecifications": [{"InstanceType": "g5.xlarge"},
                                                      {"InstanceType": "p4d.24xlarge", "WeightedCapacity": 8}]}})
    assert summary(t) == {("g5.xlarge", 8), ("p4d.24xlarge", 1)}


def test_modify_instance_attribute_both_forms() -> None:
    a = tr("ec2", "ModifyInstanceAttribute", {"InstanceId": "i-1", "InstanceType": {"Value": "p5.48xlarge"}})
    b = tr("ec2", "ModifyInstanceAttribute", {"InstanceId": "i-1", "Attribute": "instanceType",
                                              "Value": "p5.48xlarge"})
    c = tr("ec2", "ModifyInstanceAttribute", {"InstanceId": "i-1", "Attribute": "userData", "Value": "p5.48xlarge"})
    assert summary(a) == summary(b) == {("p5.48xlarge", 1)}
    assert a.resource_ids == ("i-1",)
    assert c.items == ()  # another attribute's value is not an instance type


def test_capacity_reservation_fleet_requirements_and_weights() -> None:
    t = tr("ec2", "CreateCapacityReservationFleet", {
        "TotalTargetCapacity": 16,
        "InstanceTypeSpecifications": [{"InstanceType": "p5.48xlarge", "Weight": 8.0}]})
    assert summary(t) == {("p5.48xlarge", 2)}


def test_mixed_instances_policy_weights_are_strings() -> None:
    t = tr("autoscaling", "CreateAutoScalingGroup", {
        "AutoScalingGroupName": "g", "MinSize": 0, "MaxSize": 9, "DesiredCapacity": 3,
        "MixedInstancesPolicy": {"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateName": "base"},
            "Overrides": [{"InstanceType": "c5.large"}, {"InstanceType": "g6e.12xlarge", "WeightedCapacity": "3"}]}}})
    assert summary(t) == {("c5.large", 9), ("g6e.12xlarge", 3)}
    assert t.resource_ids == ("g",)


def test_sagemaker_training_groups_are_summed_and_preferences_are_alternatives() -> None:
    groups = tr("sagemaker", "CreateTrainingJob", {"ResourceConfig": {"InstanceGroups": [
        {"InstanceType": "ml.m5.large", "InstanceCount": 1, "InstanceGroupName": "a"},
        {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 4, "InstanceGroupName": "b"}]}})
    assert summary(groups) == {("ml.m5.large", 1), ("ml.p4d.24xlarge", 4)}
    assert all(i.choice == "" for i in groups.items)  # both groups run: not alternatives
    prefs = tr("sagemaker", "CreateTrainingJob", {"ResourceConfig": {"InstancePreferences": [
        {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 2},
        {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 4}]}})
    assert summary(prefs) == {("ml.p5.48xlarge", 2), ("ml.p4d.24xlarge", 4)}
    assert len({i.choice for i in prefs.items}) == 1 and prefs.items[0].choice


def test_tuning_job_counts_parallel_jobs() -> None:
    t = tr("sagemaker", "CreateHyperParameterTuningJob", {
        "HyperParameterTuningJobConfig": {"ResourceLimits": {"MaxParallelTrainingJobs": 5,
                                                             "MaxNumberOfTrainingJobs": 50}},
        "TrainingJobDefinitions": [{"ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 2}},
                                   {"HyperParameterTuningResourceConfig": {"InstanceConfigs": [
                                       {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1}]}}]})
    assert summary(t) == {("ml.p4d.24xlarge", 10), ("ml.g5.xlarge", 5)}


def test_endpoint_config_counts_managed_scaling_and_shadow_variants() -> None:
    t = tr("sagemaker", "CreateEndpointConfig", {
        "ProductionVariants": [{"VariantName": "a", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
                                "ManagedInstanceScaling": {"MaxInstanceCount": 6}}],
        "ShadowProductionVariants": [{"VariantName": "s", "InitialInstanceCount": 2, "InstancePools": [
            {"InstanceType": "ml.g5.xlarge", "Priority": 1}, {"InstanceType": "ml.p5.48xlarge", "Priority": 2}]}]})
    assert summary(t) == {("ml.m5.large", 6), ("ml.g5.xlarge", 2), ("ml.p5.48xlarge", 2)}


def test_notebook_accelerators_alone_are_decided() -> None:
    t = tr("sagemaker", "UpdateNotebookInstance", {"NotebookInstanceName": "nb",
                                                    "AcceleratorTypes": ["ml.eia2.medium"]})
    assert [(i.instance_type, i.attached) for i in t.items] == [("", (AttachedAccelerator("ml.eia2.medium", 1),))]


def test_hyperpod_instance_requirements_types_are_alternatives() -> None:
    t = tr("sagemaker", "CreateCluster", {"ClusterName": "c", "InstanceGroups": [
        {"InstanceGroupName": "g", "InstanceCount": 4,
         "InstanceRequirements": {"InstanceTypes": ["ml.g5.48xlarge", "ml.p5.48xlarge"]}}]})
    assert summary(t) == {("ml.g5.48xlarge", 4), ("ml.p5.48xlarge", 4)}
    assert t.items[0].choice == t.items[1].choice != ""


def test_batch_families_keywords_and_vcpus() -> None:
    t = tr("batch", "CreateComputeEnvironment", {"computeEnvironmentName": "ce", "computeResources": {
        "maxvCpus": 192, "instanceTypes": ["P4D", "m5.large"],
        "launchTemplate": {"launchTemplateName": "x", "overrides": [
            {"launchTemplateName": "y", "targetInstanceTypes": ["p5.48xlarge"]}]}}})
    # 192 vCPUs: 2 x 96-vCPU p4d plus the one instance Batch may overshoot by; m5.large 96 + 1.
    assert summary(t) == {("p4d.24xlarge", 3), ("m5.large", 97), ("p5.48xlarge", 2)}
    assert not t.unresolved  # Batch launches its instanceTypes: its templates are not read
    optimal = tr("batch", "CreateComputeEnvironment", {"computeResources": {"maxvCpus": 16,
                                                                            "instanceTypes": ["optimal"]}})
    assert {i.instance_type for i in optimal.items} == {t.name for t in CATALOG.types("aws") if t.chip}


def test_emr_groups_fleets_and_managed_scaling() -> None:
    t = tr("emr", "RunJobFlow", {
        "Name": "c", "ManagedScalingPolicy": {"ComputeLimits": {"MaximumCapacityUnits": 20}},
        "Instances": {"MasterInstanceType": "m5.xlarge", "SlaveInstanceType": "p4d.24xlarge", "InstanceCount": 3,
                      "InstanceGroups": [{"InstanceType": "g5.xlarge", "InstanceCount": 2,
                                          "AutoScalingPolicy": {"Constraints": {"MinCapacity": 1,
                                                                                "MaxCapacity": 30}}}],
                      "InstanceFleets": [{"TargetOnDemandCapacity": 2, "TargetSpotCapacity": 4,
                                          "InstanceTypeConfigs": [{"InstanceType": "p5.48xlarge",
                                                                   "WeightedCapacity": 2}]}]}})
    assert summary(t) == {("m5.xlarge", 1), ("p4d.24xlarge", 20), ("g5.xlarge", 30), ("p5.48xlarge", 10)}


def test_ecs_managed_instances_requirements() -> None:
    t = tr("ecs", "UpdateCapacityProvider", {"name": "cp", "managedInstancesProvider": {"instanceLaunchTemplate": {
        "instanceRequirements": {"vCpuCount": {"min": 1}, "acceleratorNames": ["a100"]}}}})
    assert {i.instance_type for i in t.items} == {"p4d.24xlarge", "p4de.24xlarge"}


def test_wrongly_typed_parameters_are_read_conservatively() -> None:
    # A number where a type belongs is classified as given (unknown, hence decided), not skipped;
    # a list where a string belongs is read element by element; blanks are not types.
    assert {i.instance_type for i in tr("ec2", "RunInstances", {"InstanceType": 123, "MaxCount": 1}).items} == {"123"}
    assert tr("ec2", "RunInstances", {"InstanceType": "   ", "MaxCount": 1}).items == ()
    odd = tr("ec2", "RunInstances", {"InstanceType": "p4d.24xlarge", "MaxCount": "many"})
    assert summary(odd) == {("p4d.24xlarge", 1)}
    negative = tr("ec2", "RunInstances", {"InstanceType": "p4d.24xlarge", "MaxCount": -3})
    assert summary(negative) == {("p4d.24xlarge", 0)}
    assert CATALOG.classify_item("aws", negative.items[0]).accelerated  # still decided as an A100


def test_quick_path_applies_only_to_a_single_direct_type() -> None:
    op = BY_NAME[("ec2", "RunInstances")]
    assert translate_quick(op, {"InstanceType": "t3.micro", "MaxCount": 2}) == \
        translate(op, {"InstanceType": "t3.micro", "MaxCount": 2}, None, CATALOG)
    assert translate_quick(op, {"LaunchTemplate": {"LaunchTemplateId": "lt-1"}, "MaxCount": 1}) is None
    assert translate_quick(op, {"InstanceType": "t3.micro", "ElasticInferenceAccelerators": [{"Type": "x"}]}) is None
    assert translate_quick(BY_NAME[("ec2", "CreateFleet")], {}) is None
    assert translate_quick(BY_NAME[("ec2", "ModifyLaunchTemplate")], {"DefaultVersion": "2"}) is None


_names = st.sampled_from(["t3.micro", "P4D.24XLARGE", " m5.large ", "p5.48xlarge", "", "ml.g5.xlarge", "zz9.huge"])
_counts = st.one_of(st.none(), st.integers(-5, 10_000), st.sampled_from(["3", "x", 2.5]))


@settings(max_examples=300, deadline=None)
@given(itype=st.one_of(_names, st.integers(), st.none()), max_count=_counts, min_count=_counts,
       extra=st.sampled_from([{}, {"LaunchTemplate": {"LaunchTemplateId": "lt-1"}}, {"ImageId": "ami-1"}]))
def test_quick_path_agrees_with_the_full_reading(itype: Any, max_count: Any, min_count: Any,
                                                 extra: dict[str, Any]) -> None:
    """Whenever the hot path answers, it answers what the full reading answers."""
    params: dict[str, Any] = {**extra}
    for key, value in (("InstanceType", itype), ("MaxCount", max_count), ("MinCount", min_count)):
        if value is not None:
            params[key] = value
    op = BY_NAME[("ec2", "RunInstances")]
    quick = translate_quick(op, params)
    if quick is not None:
        assert quick == translate(op, params, None, CATALOG)


def test_requirements_admitting_only_plain_types_replace_the_template() -> None:
    # The override's requirements replace the template's type: the template is not read (no resolver
    # here: reading it would be reported unresolved), and nothing accelerated is admitted.
    t = tr("ec2", "CreateFleet", {
        "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateName": "gpu-template"},
                                   "Overrides": [{"InstanceRequirements": {
                                       "VCpuCount": {"Min": 2}, "MemoryMiB": {"Min": 1},
                                       "AcceleratorCount": {"Max": 0},
                                       "ExcludedInstanceTypes": ["g6f.*", "gr6f.*"]}}]}],
        "TargetCapacitySpecification": {"TotalTargetCapacity": 4}})
    assert t.items == () and t.unresolved == ()
    # An override naming nothing (only a subnet) falls back on its config's template.
    fallback = tr("ec2", "CreateFleet", {
        "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateName": "gpu-template"},
                                   "Overrides": [{"SubnetId": "subnet-1"}]}],
        "TargetCapacitySpecification": {"TotalTargetCapacity": 4}})
    assert fallback.items == () and "gpu-template" in fallback.unresolved[0]
