"""The plan reader and the subject: bad files, actions, modules, aliases, references, literal ids,
OpenTofu, planned-values-only plans, counts, families, TPUs, dry runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.gates.plan import UNKNOWN_TYPE, check_plan, load_plan, parse_plan
from gatekeeper.model import Outcome
from gatekeeper.service import Gatekeeper
from tests.adapters._support import TeeAudit
from tests.gates.conftest import CN_AWS, CN_GCP, US_AWS, US_GCP
from tests.gates.plan._plans import Res, aws_provider, azure_provider, google_provider, plan

Gate = tuple[Gatekeeper, TeeAudit]


def only(report: Any, address: str) -> Any:
    found = [f for f in report.findings if f.address == address]
    assert len(found) == 1, [f.address for f in report.findings]
    return found[0]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not JSON (line 1"),
    ("[]", "a plan is a JSON object"),
    ('{"format_version": "2.0", "resource_changes": []}', "format_version 2.0 is not supported"),
    ('{"resource_changes": []}', "no format_version"),
    ('{"format_version": "1.0", "values": {}}', "a state file, not a plan"),
    ('{"format_version": "1.2", "resource_changes": {}}', "resource_changes must be a list"),
    ('{"format_version": "1.2", "resource_changes": [{"type": "aws_instance"}]}', "'address' is missing"),
    ('{"format_version": "1.2", "resource_changes": [{"address": "a.b", "type": "a", "change": []}]}',
     "change must be an object"),
])
def test_bad_plans_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")) as err:
        load_plan(path)
    assert str(path) in str(err.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read the plan"):
        load_plan(tmp_path / "missing.json")


def test_only_creates_and_updates_are_decided(gate: Gate) -> None:
    gk, _ = gate
    doc = plan(Res("aws_instance", "new", {"instance_type": "p4d.24xlarge"}),
               Res("aws_instance", "resized", {"instance_type": "p4d.24xlarge"}, actions=("update",)),
               Res("aws_instance", "replaced", {"instance_type": "p4d.24xlarge"}, actions=("delete", "create")),
               Res("aws_instance", "gone", {"instance_type": "p4d.24xlarge"}, actions=("delete",)),
               Res("aws_instance", "same", {"instance_type": "p4d.24xlarge"}, actions=("no-op",)),
               Res("aws_s3_bucket", "logs", {"bucket": "logs"}),
               providers=aws_provider(CN_AWS))
    report = check_plan(gk, parse_plan(doc))
    assert {f.address for f in report.findings} == {"aws_instance.new", "aws_instance.resized",
                                                    "aws_instance.replaced"}
    assert report.ignored == 3 and report.worst == Outcome.PENDING


def test_provider_alias_and_module_reference(gate: Gate) -> None:
    gk, _ = gate
    providers = {**aws_provider(US_AWS), **aws_provider(CN_AWS, key="aws.china")}
    lt = Res("aws_launch_template", "lt", {"instance_type": "p5.48xlarge"}, unknown={"id": True},
             module="gpu", provider_key="module.gpu:aws")
    asg = Res("aws_autoscaling_group", "workers", {"max_size": 16, "launch_template": [{"id": None}]},
              unknown={"launch_template": [{"id": True}]}, module="gpu", provider_key="aws.china",
              refs={"launch_template[].id": ["aws_launch_template.lt.id", "aws_launch_template.lt"]})
    report = check_plan(gk, parse_plan(plan(lt, asg, providers=providers)))
    f = only(report, "module.gpu.aws_autoscaling_group.workers")
    assert f.account_id == CN_AWS and f.decision.outcome == Outcome.PENDING
    item = f.decision.items[0]
    assert item.instance_type == "p5.48xlarge" and item.item.count == 16
    assert "module.gpu.aws_launch_template.lt" in item.item.path
    # the template itself falls back to the default provider (the module passes it through): US, allowed
    assert only(report, "module.gpu.aws_launch_template.lt").account_id == US_AWS


def test_subject_from_the_assumed_role(gate: Gate) -> None:
    gk, _ = gate
    doc = plan(Res("aws_instance", "x", {"instance_type": "p4d.24xlarge"}), providers=aws_provider(role_account=CN_AWS))
    f = only(check_plan(gk, parse_plan(doc)), "aws_instance.x")
    assert f.account_id == CN_AWS and any("provider \"aws\"" in n for n in f.notes)


@pytest.mark.parametrize(("providers", "message"), [
    ({}, "names no account"),
    ({"aws": {"name": "aws", "expressions": {"allowed_account_ids": {"constant_value": [CN_AWS, US_AWS]}}}},
     "lists 2 accounts"),
    (aws_provider(CN_AWS, role_account=US_AWS), "differ"),
])
def test_no_subject_is_an_error_not_an_allow(gate: Gate, providers: dict[str, Any], message: str) -> None:
    gk, tee = gate
    doc = plan(Res("aws_instance", "x", {"instance_type": "p4d.24xlarge"}), providers=providers)
    report = check_plan(gk, parse_plan(doc))
    f = only(report, "aws_instance.x")
    assert f.decision is None and f.error and message in f.error and f.outcome == "error"
    assert report.errors and not tee.decisions
    # named on the command line, it is decided
    f = only(check_plan(gk, parse_plan(doc), given={"aws": CN_AWS}), "aws_instance.x")
    assert f.decision is not None and f.decision.outcome == Outcome.PENDING and "--account" in f.notes[0]


def test_google_resource_project_wins_and_azure_subscription_is_lowercased(gate: Gate) -> None:
    gk, _ = gate
    doc = plan(Res("google_compute_instance", "a", {"machine_type": "a2-highgpu-1g", "zone": "us-central1-a",
                                                    "project": CN_GCP}),
               Res("google_compute_instance", "b", {"machine_type": "a2-highgpu-1g", "zone": "us-central1-a"}),
               Res("azurerm_linux_virtual_machine", "c", {"size": "Standard_ND96asr_v4", "location": "westeurope"}),
               providers={**google_provider(US_GCP), **azure_provider("0C0C0C0C-0000-4000-8000-00000000000C")})
    report = check_plan(gk, parse_plan(doc))
    assert only(report, "google_compute_instance.a").decision.outcome == Outcome.PENDING
    assert only(report, "google_compute_instance.b").decision.outcome == Outcome.ALLOW
    c = only(report, "azurerm_linux_virtual_machine.c")
    assert c.account_id == "0c0c0c0c-0000-4000-8000-00000000000c" and c.decision.outcome == Outcome.PENDING
    assert c.decision.request.region == "westeurope"
    assert only(report, "google_compute_instance.a").decision.request.region == "us-central1-a"


def test_a_literal_template_id_is_read_from_the_prior_state(gate: Gate) -> None:
    gk, _ = gate
    existing = Res("aws_launch_template", "old", {"id": "lt-0abc", "name": "old", "instance_type": "p4d.24xlarge"},
                   existing=True)
    asg = Res("aws_autoscaling_group", "g", {"max_size": 2, "launch_template": [{"id": "lt-0abc"}]})
    stray = Res("aws_autoscaling_group", "h", {"max_size": 2, "launch_template": [{"id": "lt-0zzz"}]})
    report = check_plan(gk, parse_plan(plan(existing, asg, stray, providers=aws_provider(CN_AWS))))
    g = only(report, "aws_autoscaling_group.g")
    assert g.decision.items[0].instance_type == "p4d.24xlarge" and g.decision.outcome == Outcome.PENDING
    h = only(report, "aws_autoscaling_group.h")
    assert h.decision.items[0].item.instance_type == UNKNOWN_TYPE
    assert "not in the plan or its prior state" in h.decision.items[0].item.path
    assert h.decision.outcome == Outcome.PENDING


def test_opentofu_and_planned_values_only(gate: Gate) -> None:
    gk, _ = gate
    doc = plan(Res("aws_instance", "x", {"instance_type": "p4d.24xlarge"}), providers=aws_provider(CN_AWS), tofu=True)
    del doc["resource_changes"]
    report = check_plan(gk, parse_plan(doc))
    assert report.terraform_version == "1.8.3"
    assert only(report, "aws_instance.x").decision.outcome == Outcome.PENDING


def test_counts(gate: Gate) -> None:
    gk, _ = gate
    unknown = Res("aws_eks_node_group", "u", {"instance_types": ["p4d.24xlarge"], "scaling_config": [{}]},
                  unknown={"scaling_config": [{"max_size": True, "desired_size": True}]})
    bad = Res("aws_emr_instance_group", "b", {"instance_type": "p4d.24xlarge", "instance_count": "lots"})
    fleet = Res("aws_emr_instance_fleet", "f", {"instance_type_configs": [{"instance_type": "p4d.24xlarge"}],
                                                "target_on_demand_capacity": 2, "target_spot_capacity": 3})
    report = check_plan(gk, parse_plan(plan(unknown, bad, fleet, providers=aws_provider(CN_AWS))))
    u = only(report, "aws_eks_node_group.u")
    assert u.decision.items[0].item.count == 1 and any("number of machines is known only after apply" in n
                                                       for n in u.notes)
    b = only(report, "aws_emr_instance_group.b")
    assert b.decision is None and "not a count: 'lots'" in (b.error or "")
    assert only(report, "aws_emr_instance_fleet.f").decision.items[0].item.count == 5


def test_batch_families_and_tpus(gate: Gate) -> None:
    gk, _ = gate
    batch = Res("aws_batch_compute_environment", "b", {"compute_resources": [{"instance_type": ["optimal", "p4d"]}]})
    plain = Res("aws_batch_compute_environment", "p", {"compute_resources": [{"instance_type": ["optimal"]}]})
    tpu = Res("google_tpu_v2_vm", "t", {"accelerator_type": "v5litepod-8", "zone": "us-west4-a"})
    tpu_new = Res("google_tpu_v2_vm", "n", {"accelerator_type": "v9x-16", "zone": "us-west4-a"})
    doc = plan(batch, plain, tpu, tpu_new, providers={**aws_provider(CN_AWS), **google_provider(CN_GCP)})
    report = check_plan(gk, parse_plan(doc))
    b = only(report, "aws_batch_compute_environment.b").decision
    assert {i.instance_type for i in b.items} == {"p4d.24xlarge"} and b.outcome == Outcome.PENDING
    assert only(report, "aws_batch_compute_environment.p").decision.outcome == Outcome.ALLOW
    t = only(report, "google_tpu_v2_vm.t").decision
    assert t.outcome == Outcome.PENDING and t.items[0].accelerators[0].model == "TPU-v5e"
    assert t.items[0].accelerators[0].per_instance == 8
    n = only(report, "google_tpu_v2_vm.n").decision
    assert n.outcome == Outcome.PENDING and n.items[0].export_class == "unknown"


def test_dry_run_records_nothing(gate: Gate) -> None:
    gk, tee = gate
    doc = plan(Res("aws_instance", "x", {"instance_type": "p4d.24xlarge"}), providers=aws_provider(CN_AWS))
    f = only(check_plan(gk, parse_plan(doc), dry_run=True), "aws_instance.x")
    assert f.decision.outcome == Outcome.PENDING and f.decision.case_id is None
    assert not tee.records and not gk.store.cases.list_cases()


def test_pending_joins_the_same_case(gate: Gate) -> None:
    gk, tee = gate
    doc = plan(Res("aws_instance", "x", {"instance_type": "p4d.24xlarge"}), providers=aws_provider(CN_AWS))
    first = only(check_plan(gk, parse_plan(doc)), "aws_instance.x").decision
    second = only(check_plan(gk, parse_plan(doc)), "aws_instance.x").decision
    assert first.case_id and first.case_id == second.case_id
    records = [r for r in tee.decisions if r["decision_id"] in (first.decision_id, second.decision_id)]
    assert len(records) == 2
    assert all(r["source"] == "plan" and r["decision"] == "pending" for r in records)
    assert all(r["request"]["resource_ids"] == ["aws_instance.x"] for r in records)


class _BrokenAudit:
    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        raise OSError("disk full")

    def close(self) -> None:
        pass


def test_an_audit_failure_denies_fail_closed(tmp_path: Path) -> None:
    from gatekeeper.model import CustomerProfile
    from tests.adapters._support import shipped_policies
    from tests.conftest import tmp_config

    gk = Gatekeeper(tmp_config(tmp_path), audit=_BrokenAudit(), policies=shipped_policies())
    try:
        gk.store.profiles.put_profiles([CustomerProfile("aws", US_AWS, "Acme", "US", "US", "US", "verified")])
        doc = plan(Res("aws_instance", "x", {"instance_type": "p4d.24xlarge"}), providers=aws_provider(US_AWS))
        report = check_plan(gk, parse_plan(doc))
    finally:
        gk.close()
    f = only(report, "aws_instance.x")
    assert f.decision.outcome == Outcome.DENY and "audit log unavailable" in (f.error or "")
    assert report.worst == Outcome.DENY


def test_references_through_module_outputs_and_inputs(gate: Gate) -> None:
    gk, _ = gate
    # module "templates" makes the launch template and outputs its id; the root group uses the output;
    # module "workers" takes the id as an input variable and its group uses var.lt_id
    lt = Res("aws_launch_template", "gpu", {"instance_type": "p5.48xlarge"}, unknown={"id": True},
             module="templates")
    root_asg = Res("aws_autoscaling_group", "root", {"max_size": 2, "launch_template": [{"id": None}]},
                   unknown={"launch_template": [{"id": True}]},
                   refs={"launch_template[].id": ["module.templates.lt_id", "module.templates"]})
    inner_asg = Res("aws_autoscaling_group", "inner", {"max_size": 3, "launch_template": [{"id": None}]},
                    unknown={"launch_template": [{"id": True}]}, module="workers",
                    refs={"launch_template[].id": ["var.lt_id"]})
    doc = plan(lt, root_asg, inner_asg, providers=aws_provider(CN_AWS))
    calls = doc["configuration"]["root_module"]["module_calls"]
    calls["templates"]["module"]["outputs"] = {"lt_id": {"expression": {
        "references": ["aws_launch_template.gpu.id", "aws_launch_template.gpu"]}}}
    calls["workers"]["expressions"] = {"lt_id": {"references": ["module.templates.lt_id", "module.templates"]}}
    report = check_plan(gk, parse_plan(doc))
    for address, count in (("aws_autoscaling_group.root", 2), ("module.workers.aws_autoscaling_group.inner", 3)):
        d = only(report, address).decision
        assert [(i.instance_type, i.item.count) for i in d.items] == [("p5.48xlarge", count)], address
        assert d.outcome == Outcome.PENDING


def test_a_type_computed_from_a_followed_template_is_not_unknown(gate: Gate) -> None:
    gk, _ = gate
    lt = Res("aws_launch_template", "lt", {"instance_type": "t3.micro"}, unknown={"id": True})
    vm = Res("aws_instance", "x", {"launch_template": [{"id": None}]},
             unknown={"instance_type": True, "launch_template": [{"id": True}]},
             refs={"launch_template[].id": ["aws_launch_template.lt.id", "aws_launch_template.lt"]})
    lone = Res("aws_instance", "y", {}, unknown={"instance_type": True})
    report = check_plan(gk, parse_plan(plan(lt, vm, lone, providers=aws_provider(US_AWS))))
    x = only(report, "aws_instance.x")
    assert [i.instance_type for i in x.decision.items] == ["t3.micro"] and x.decision.outcome == Outcome.ALLOW
    y = only(report, "aws_instance.y")  # nothing says what it runs: unknown, flagged for review
    assert y.decision.items[0].item.instance_type == UNKNOWN_TYPE and y.decision.outcome == Outcome.FLAG


def test_attribute_based_selection_is_expanded_by_the_spec(gate: Gate) -> None:
    gk, _ = gate
    gpu = Res("aws_launch_template", "abs", {"instance_requirements": [{
        "vcpu_count": [{"min": 8}], "memory_mib": [{"min": 16384}],
        "accelerator_count": [{"min": 1}], "accelerator_manufacturers": ["nvidia"],
        "accelerator_names": ["a100"]}]})
    plain = Res("aws_launch_template", "cpu", {"instance_requirements": [{
        "vcpu_count": [{"min": 2}], "memory_mib": [{"min": 4096}], "allowed_instance_types": ["m5.*", "c6i.*"]}]})
    later = Res("aws_launch_template", "later", {"instance_requirements": [{"vcpu_count": [{"min": 2}]}]},
                unknown={"instance_requirements": [{"accelerator_names": True}]})
    report = check_plan(gk, parse_plan(plan(gpu, plain, later, providers=aws_provider(CN_AWS))))
    a = only(report, "aws_launch_template.abs").decision
    assert a.outcome == Outcome.PENDING and "p4d.24xlarge" in {i.instance_type for i in a.items}
    assert all(i.item.choice for i in a.items)  # alternatives of one slot, not a sum
    c = only(report, "aws_launch_template.cpu").decision
    assert c.outcome == Outcome.ALLOW and not c.accelerated
    later_d = only(report, "aws_launch_template.later")
    assert later_d.decision.outcome == Outcome.PENDING
    assert any("has values known only after apply" in n for n in later_d.notes)
