"""The Event Grid hook on every resource type of the Azure spec, the loop it must never enter (its own
writes replayed), its identity found at start-up, the customer taken from the resource id, and a fuzz
of malformed events. Through azure-mgmt-resource / -compute / -containerservice against the ARM stand-in."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.adapters.azure.testing import ArmStandIn
from gatekeeper.hooks.azure_function import OPERATION_NAMES, AzureClients, AzureHook
from gatekeeper.hooks.remediation import KINDS, TAG_CASE_ID, TAG_DECISION_ID
from gatekeeper.providers.azure import OPERATIONS
from gatekeeper.service import Gatekeeper
from tests.hooks.conftest import AZ_CHINA_HQ, AZ_US, MakeGk, audit_records, load_event

USER_OID = "0b0b0b0b-1111-4222-8333-444444444444"
HOOK_OID = "9f9f9f9f-1111-4222-8333-555555555555"
GPU = "Standard_ND96isr_H100_v5"


def jwt(**claims: str) -> str:
    def part(d: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


class JwtToken:
    """A credential whose token is a JWT naming an identity (as a managed identity's token does)."""

    def __init__(self, oid: str) -> None:
        self.token = jwt(oid=oid, appid="app-" + oid[:4])

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def arm() -> Iterator[ArmStandIn]:
    with ArmStandIn() as server:
        yield server


def make_hook(gk: Gatekeeper, arm: ArmStandIn, oid: str = "someone-else") -> AzureHook:
    clients = AzureClients(credential=JwtToken(oid), base_url=arm.url, connection_verify=arm.ca_file,
                           retry_total=0, polling_interval=0)
    return AzureHook(gk, clients=clients)


def rid(sub: str, path: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/ml-rg/providers/{path}"


def event(uri: str, operation: str, *, oid: str = USER_OID, sub: str | None = None) -> dict[str, Any]:
    e = load_event("azure-vm-write.json", SUBSCRIPTION=uri.split("/")[2], GROUP="ml-rg", NAME="x",
                   PRINCIPAL_OID=oid, PRINCIPAL_UPN="someone@example.com")
    e["id"] = f"evt-{time.time_ns()}"
    e["subject"] = e["data"]["resourceUri"] = uri
    e["data"]["operationName"] = operation
    if sub is not None:
        e["data"]["subscriptionId"] = sub
    return e


# resource path -> (stored body, the request(s) remediation must send, what the resource looks like after)
CASES: dict[str, tuple[str, dict[str, Any], tuple[str, str]]] = {
    "batch-pool": ("Microsoft.Batch/batchAccounts/acct/pools/p1",
                   {"properties": {"vmSize": GPU, "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 4}}}},
                   ("PATCH", "")),
    "ml-cluster": ("Microsoft.MachineLearningServices/workspaces/ws/computes/c1",
                   {"location": "eastasia", "properties": {"computeType": "AmlCompute", "properties": {
                       "vmSize": GPU, "scaleSettings": {"maxNodeCount": 4}}}}, ("PATCH", "")),
    "ml-instance": ("Microsoft.MachineLearningServices/workspaces/ws/computes/ci1",
                    {"location": "eastasia", "properties": {"computeType": "ComputeInstance",
                                                            "properties": {"vmSize": GPU}}}, ("POST", "/stop")),
    "capacity-reservation": ("Microsoft.Compute/capacityReservationGroups/g/capacityReservations/r1",
                             {"location": "eastasia", "sku": {"name": GPU, "capacity": 3}}, ("PATCH", "")),
    "scale-set-vm": ("Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0",
                     {"location": "eastasia", "sku": {"name": GPU}}, ("POST", "/deallocate")),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_resource_type_is_decided_and_put_right(gk: Gatekeeper, arm: ArmStandIn, tmp_path: Path,
                                                      case: str) -> None:
    path, body, (method, suffix) = CASES[case]
    uri = rid(AZ_CHINA_HQ, path)
    arm.seed(uri, body)
    if "batchAccounts" in path:
        arm.seed(rid(AZ_CHINA_HQ, "Microsoft.Batch/batchAccounts/acct"), {"location": "eastasia"})
    op = next(o for o in OPERATIONS if o.pattern.match(uri))
    out = make_hook(gk, arm).handle(event(uri, op.write))
    assert out["status"] == "remediated" and out["decision"] == "pending", out
    assert out["request"]["account_id"] == AZ_CHINA_HQ and out["request"]["items"][0]["instance_type"] == GPU
    actions = [a["action"] for a in out["actions"]]
    tagged = KINDS[op.kind].taggable
    assert actions == (["tag"] if tagged else []) + [KINDS[op.kind].stop]
    assert [r for r in arm.arrived(method) if r.path.lower() == (uri + suffix).lower()]
    kinds = [r["kind"] for r in audit_records(tmp_path)]
    assert ("remediation.tag" in kinds) == tagged and f"remediation.{KINDS[op.kind].stop}" in kinds


def test_scaled_resources_end_at_zero(gk: Gatekeeper, arm: ArmStandIn) -> None:
    hook = make_hook(gk, arm)
    for case in ("batch-pool", "ml-cluster", "capacity-reservation"):
        path, body, _ = CASES[case]
        uri = rid(AZ_CHINA_HQ, path)
        arm.seed(uri, body)
        arm.seed(rid(AZ_CHINA_HQ, "Microsoft.Batch/batchAccounts/acct"), {"location": "eastasia"})
        op = next(o for o in OPERATIONS if o.pattern.match(uri))
        hook.handle(event(uri, op.write))
        # The resource now runs nothing: a write event for it (the hook's own PATCH) decides nothing.
        replay = hook.handle(event(uri, op.write))
        assert replay["status"] == "ignored", (case, replay)


def test_a_dedicated_gpu_host_is_tagged_only(make_gk: MakeGk, arm: ArmStandIn) -> None:
    uri = rid(AZ_CHINA_HQ, "Microsoft.Compute/hostGroups/hg/hosts/h1")
    arm.seed(uri, {"location": "eastasia", "sku": {"name": "NDamsrA100v4-Type1"}})
    out = make_hook(make_gk(), arm).handle(event(uri, "Microsoft.Compute/hostGroups/hosts/write"))
    assert [a["action"] for a in out["actions"]] == ["tag"]  # a host cannot be stopped
    assert arm.resources[uri.lower()]["tags"]["gatekeeper:decision"] == out["decision"]
    assert KINDS["azure:dedicated-host"].terminate == "delete"  # what on_deny = "terminate" does


# -- the loop: the hook's own writes ---------------------------------------------------------------------
def test_the_hooks_own_tag_write_replayed_causes_no_action(gk: Gatekeeper, arm: ArmStandIn,
                                                           tmp_path: Path) -> None:
    """With GATEKEEPER_SELF_PRINCIPAL_ID unset and ignore_principals empty (the defaults), and an identity
    that cannot be found from the token: the tag write's event is still not decided again."""
    uri = rid(AZ_CHINA_HQ, "Microsoft.Compute/virtualMachines/trainer-0")
    arm.seed(uri, {"location": "eastasia", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    hook = AzureHook(gk, clients=AzureClients(credential=_OpaqueToken(), base_url=arm.url,
                                              connection_verify=arm.ca_file, retry_total=0, polling_interval=0))
    first = hook.handle(event(uri, "Microsoft.Compute/virtualMachines/write"))
    assert first["status"] == "remediated"
    tags = dict(arm.resources[uri.lower()]["tags"])
    assert tags[TAG_CASE_ID] == first["case_id"] and TAG_DECISION_ID not in tags  # keyed by the case
    arm.clear()
    # Event Grid delivers the tag PATCH as a new write, by the hook's (unrecognised) identity.
    again = hook.handle(event(uri, "Microsoft.Compute/virtualMachines/write", oid=HOOK_OID))
    assert again["status"] == "ignored" and "already decided in this state" in again["reason"]
    assert [r.method for r in arm.requests] == ["GET"]  # read, nothing written, nothing deallocated
    decisions = [r for r in audit_records(tmp_path) if r.get("kind") == "decision"]
    assert len(decisions) == 1


def test_a_real_change_after_remediation_is_decided_again(gk: Gatekeeper, arm: ArmStandIn) -> None:
    uri = rid(AZ_CHINA_HQ, "Microsoft.Compute/virtualMachines/trainer-0")
    arm.seed(uri, {"location": "eastasia", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    hook = make_hook(gk, arm)
    first = hook.handle(event(uri, "Microsoft.Compute/virtualMachines/write"))
    arm.seed(uri, {**arm.resources[uri.lower()], "properties": {"hardwareProfile": {
        "vmSize": "Standard_ND96asr_v4"}}})
    second = hook.handle(event(uri, "Microsoft.Compute/virtualMachines/write"))
    assert second["status"] == "remediated" and second["case_id"] == first["case_id"]
    # The tags say the same case: the tag step writes nothing the second time.
    assert second["actions"][0]["detail"] == "already tagged"


def test_the_hook_finds_its_own_identity_at_start_up(gk: Gatekeeper, arm: ArmStandIn, tmp_path: Path) -> None:
    uri = rid(AZ_CHINA_HQ, "Microsoft.Compute/virtualMachines/trainer-0")
    arm.seed(uri, {"location": "eastasia", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    hook = make_hook(gk, arm, oid=HOOK_OID)
    assert HOOK_OID in hook.identity()
    out = hook.handle(event(uri, "Microsoft.Compute/virtualMachines/write", oid=HOOK_OID))
    assert out["status"] == "ignored" and "whose changes the hook ignores" in out["reason"]
    assert arm.requests == [] and audit_records(tmp_path) == []


def test_the_customer_is_the_resource_ids_subscription(gk: Gatekeeper, arm: ArmStandIn) -> None:
    uri = rid(AZ_CHINA_HQ, "Microsoft.Compute/virtualMachines/trainer-0")
    arm.seed(uri, {"location": "eastasia", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    out = make_hook(gk, arm).handle(event(uri, "Microsoft.Compute/virtualMachines/write", sub=AZ_US))
    assert out["request"]["account_id"] == AZ_CHINA_HQ and out["decision"] == "pending"


class _OpaqueToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("not-a-jwt", int(time.time()) + 3600)


def test_every_spec_row_has_a_remediation_kind_and_an_event_name() -> None:
    for op in OPERATIONS:
        assert op.write in OPERATION_NAMES
        assert op.kind in KINDS or op.pools, op.type


# -- malformed events never raise out of the hook --------------------------------------------------------
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                     max_leaves=12)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=_json, uri=st.sampled_from(["", "/subscriptions/", "/subscriptions/s/resourceGroups/g/providers/"
                                        "Microsoft.Batch/batchAccounts/a/pools/p", "x" * 300]),
       op=st.sampled_from([*OPERATION_NAMES, "", "nope"]), ident=st.one_of(st.none(), st.text(max_size=5)))
def test_malformed_events_never_raise(gk: Gatekeeper, data: Any, uri: str, op: str, ident: Any) -> None:
    hook = AzureHook(gk, read=False, dry_run=True)
    ev: dict[str, Any] = {"id": ident, "eventType": "Microsoft.Resources.ResourceWriteSuccess",
                          "data": data if not isinstance(data, dict) else {**data, "resourceUri": uri,
                                                                          "operationName": op}}
    out = hook.handle(ev)
    assert out["status"] in ("error", "ignored", "skipped", "dry_run")


@pytest.mark.parametrize("capacity", ["9" * 5000, 1e308, float("nan"), -1, "1.5", True])
def test_malformed_counts_on_a_resource_are_decided_fail_closed(gk: Gatekeeper, arm: ArmStandIn,
                                                                 capacity: Any) -> None:
    uri = rid(AZ_CHINA_HQ, "Microsoft.Compute/virtualMachineScaleSets/ss")
    arm.seed(uri, {"location": "eastasia", "sku": {"name": GPU, "capacity": capacity}})
    out = make_hook(gk, arm).handle(event(uri, "Microsoft.Compute/virtualMachineScaleSets/write"))
    assert out["decision"] == "deny" and out["request"]["unresolved"], out
    assert len(json.dumps(out)) < 20000


def test_a_start_after_the_hooks_deallocation_is_decided_and_put_right_again(gk: Gatekeeper, arm: ArmStandIn,
                                                                              tmp_path: Path) -> None:
    """The hook deallocated a VM; its owner starts it (an action, not a write): the start is decided on what
    the VM is, even though its sizes are those already decided, and it is deallocated again."""
    uri = rid(AZ_CHINA_HQ, "Microsoft.Compute/virtualMachines/trainer-0")
    arm.seed(uri, {"location": "eastasia", "properties": {"hardwareProfile": {"vmSize": GPU}}})
    hook = make_hook(gk, arm)
    assert hook.handle(event(uri, "Microsoft.Compute/virtualMachines/write"))["status"] == "remediated"
    start = event(uri, "Microsoft.Compute/virtualMachines/start/action")
    start["eventType"] = "Microsoft.Resources.ResourceActionSuccess"
    out = hook.handle(start)
    assert out["status"] == "remediated" and out["actions"][-1]["action"] == "deallocate"
    assert out["actions"][0]["detail"] == "already tagged"
    assert len(arm.arrived("POST", "/deallocate")) == 2
    other = event(uri, "Microsoft.Compute/virtualMachines/powerOff/action")
    other["eventType"] = "Microsoft.Resources.ResourceActionSuccess"
    assert hook.handle(other)["status"] == "ignored"  # stopping provisions nothing
