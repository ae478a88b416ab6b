"""ARM templates (deployments, stacks, validate/whatIf), ARM /batch, dedicated hosts and the fail-closed
cases of each, through the real azure-mgmt-resource-deployments client against the ARM stand-in, plus
the static evaluator on its own."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as cm
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from hypothesis import given, settings
from hypothesis import strategies as st

import gatekeeper
from gatekeeper.adapters._standin import Answer, StandIn
from gatekeeper.adapters.azure.testing import ArmStandIn
from gatekeeper.providers.azure.templates import evaluate
from gatekeeper.service import Gatekeeper
from tests.adapters.azure.conftest import CN_SUB, GPU, PLAIN, US_SUB, TeeAudit, compute, mgmt, writes
from tests.adapters.azure.test_azure_matrix import PREFLIGHT, Op, vm_template

DEP = "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Resources/deployments/dep1"


class LinkServer(StandIn):
    """Serves template files over plain HTTP (as a storage account with a SAS would)."""

    def __init__(self) -> None:
        super().__init__(tls=False)
        self.files: dict[str, Any] = {}

    def answer(self, method: str, path: str, query: Mapping[str, list[str]], body: Any) -> Answer:
        found = self.files.get(path)
        return Answer(200, found) if found is not None else Answer(404, {"error": "not found"})


@pytest.fixture
def links() -> Iterator[LinkServer]:
    with LinkServer() as server:
        yield server


def deploy(arm: ArmStandIn, sub: str, properties: dict[str, Any]) -> None:
    arm.seed(f"/subscriptions/{sub}/resourceGroups/rg", {"location": "eastus"})
    body = {"properties": {"mode": "Incremental", **properties}}
    mgmt(DeploymentsMgmtClient, arm, sub).deployments.begin_create_or_update("rg", "dep1", body).result()


def blocked(arm: ArmStandIn, sub: str, properties: dict[str, Any]) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as info:
        deploy(arm, sub, properties)
    assert info.value.status_code == 403
    assert writes(arm, DEP.format(sub)) == []
    return info.value


# -- pre-flight actions --------------------------------------------------------------------------------
@pytest.mark.parametrize("op", PREFLIGHT, ids=[o.name for o in PREFLIGHT])
def test_preflight_actions_are_decided_like_the_deployment(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn,
                                                           op: Op) -> None:
    with pytest.raises(HttpResponseError) as info:
        op.call(arm, CN_SUB, GPU)
    assert info.value.error is not None and info.value.error.code == "ExportLicensePending"
    assert writes(arm, op.target(CN_SUB)) == []
    op.call(arm, US_SUB, GPU)
    assert len(writes(arm, op.target(US_SUB))) == 1
    assert [(i["instance_type"], i["count"]) for i in audit.decisions[-1]["items"]] == [(GPU, op.count)]


# -- linked, nested, spec'd templates ------------------------------------------------------------------
def test_a_linked_template_and_parameters_file_are_read_and_decided(gk: Gatekeeper, audit: TeeAudit,
                                                                    arm: ArmStandIn, links: LinkServer) -> None:
    links.files["/t/main.json"] = {"resources": [{
        "type": "Microsoft.Resources/deployments", "name": "child", "properties": {
            "mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
            "templateLink": {"relativePath": "vm.json"}, "parameters": {"size": {"value": GPU}}}}]}
    links.files["/t/vm.json"] = vm_template(count=3)
    err = blocked(arm, CN_SUB, {"templateLink": {"uri": f"{links.url}/t/main.json"}})
    assert err.error is not None and err.error.code == "ExportLicensePending"
    record = audit.decisions[-1]
    assert [(i["instance_type"], i["count"]) for i in record["items"]] == [(GPU, 3)]
    assert record["region"] == "eastus" and record["operation"] == "Deployments_CreateOrUpdate"
    # The link is fetched anonymously: the caller's ARM token never goes to another host.
    assert all("Authorization" not in r.headers and "authorization" not in r.headers for r in links.requests)


def test_a_template_spec_is_read_through_the_pipeline(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    spec = f"/subscriptions/{CN_SUB}/resourceGroups/rg/providers/Microsoft.Resources/templateSpecs/vm/versions/1"
    arm.seed(spec, {"properties": {"mainTemplate": vm_template()}})
    blocked(arm, CN_SUB, {"templateLink": {"id": spec}, "parameters": {"size": {"value": GPU}}})
    assert audit.decisions[-1]["items"][0]["count"] == 2


def test_a_nested_outer_scope_copy_multiplies_counts(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    nested = {"type": "Microsoft.Resources/deployments", "name": "[concat('n', copyIndex())]",
              "copy": {"name": "n", "count": 2}, "properties": {"mode": "Incremental", "template": {
                  "resources": [{"type": "Microsoft.Compute/virtualMachineScaleSets", "name": "ss",
                                 "location": "westus2", "sku": {"name": "[parameters('size')]", "capacity": 4}}]}}}
    blocked(arm, CN_SUB, {"template": {"parameters": {"size": {"type": "string"}}, "resources": [nested]},
                          "parameters": {"size": {"value": GPU}}})
    record = audit.decisions[-1]
    assert [(i["instance_type"], i["count"]) for i in record["items"]] == [(GPU, 8)]
    assert record["region"] == "westus2"


def test_symbolic_resources_child_pools_and_conditions(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    template = {"languageVersion": "2.0", "parameters": {"gpu": {"type": "bool", "defaultValue": True}},
                "resources": {
                    "aks": {"type": "Microsoft.ContainerService/managedClusters", "name": "aks", "location": "eastus",
                            "properties": {"agentPoolProfiles": [{"name": "sys", "vmSize": PLAIN, "count": 1}]},
                            "resources": [{"type": "agentPools", "name": "gpu", "location": "eastus",
                                           "condition": "[parameters('gpu')]",
                                           "properties": {"vmSize": GPU, "count": 2, "maxCount": 5}}]},
                    "off": {"type": "Microsoft.Compute/virtualMachines", "name": "never", "condition": False,
                            "location": "eastus", "properties": {"hardwareProfile": {"vmSize": GPU}}},
                    "old": {"type": "Microsoft.Compute/virtualMachines", "name": "x", "existing": True}}}
    blocked(arm, CN_SUB, {"template": template})
    items = sorted((i["instance_type"], i["count"]) for i in audit.decisions[-1]["items"])
    assert items == sorted([(PLAIN, 1), (GPU, 5)])


def test_a_plain_template_and_one_without_compute_go_through(gk: Gatekeeper, audit: TeeAudit,
                                                             arm: ArmStandIn) -> None:
    before = len(audit.decisions)
    deploy(arm, CN_SUB, {"template": vm_template(), "parameters": {"size": {"value": PLAIN}}})
    deploy(arm, CN_SUB, {"template": {"resources": [{"type": "Microsoft.Storage/storageAccounts", "name": "s"}]}})
    assert all(d["decision"] == "allow" for d in audit.decisions[before:])
    assert len(writes(arm, DEP.format(CN_SUB))) == 2


# -- what cannot be known statically is decided fail-closed, with the reason ---------------------------------
@pytest.mark.parametrize("properties, reason", [
    ({"template": {"resources": [{"type": "Microsoft.Compute/virtualMachines", "name": "v", "location": "eastus",
                                  "properties": {"hardwareProfile": {
                                      "vmSize": "[reference('other').outputs.size.value]"}}}]}},
     "reference() is only known when the deployment runs"),
    ({"template": {"parameters": {"n": {"type": "int"}},
                   "resources": [{"type": "Microsoft.Compute/virtualMachines", "name": "v", "copy": {
                       "name": "c", "count": "[parameters('n')]"}, "location": "eastus",
                                  "properties": {"hardwareProfile": {"vmSize": GPU}}}]}},
     "has no value and no default"),
    ({"template": {"parameters": {"size": {"type": "string"}}, "resources": [
        {"type": "Microsoft.Compute/virtualMachines", "name": "v", "location": "eastus",
         "properties": {"hardwareProfile": {"vmSize": "[parameters('size')]"}}}]},
      "parameters": {"size": {"reference": {"keyVault": {"id": "/kv"}, "secretName": "s"}}}},
     "Key Vault reference"),
    ({"templateLink": {"uri": "http://127.0.0.1:9/missing.json"}}, "reading http://127.0.0.1:9/missing.json failed"),
    ({"template": {"resources": [{"type": "Microsoft.Batch/batchAccounts/pools", "name": "a/p", "properties": {
        "vmSize": GPU, "scaleSettings": {"autoScale": {"formula": "$TargetDedicatedNodes=10"}}}}]}},
     "autoscale formula"),
    ({"mode": "Incremental"}, "names no template"),
])
def test_unknowable_values_are_decided_fail_closed_with_the_reason(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn,
                                                                   properties: dict[str, Any], reason: str) -> None:
    blocked(arm, US_SUB, properties)  # even for a verified US customer
    unresolved = audit.decisions[-1]["request"]["unresolved"]
    assert any(reason in u for u in unresolved), unresolved


def test_management_group_deployment_needs_a_named_customer(gk: Gatekeeper, audit: TeeAudit,
                                                            arm: ArmStandIn) -> None:
    template = vm_template()
    template["resources"][0]["location"] = "eastus"  # type: ignore[index]  # no resource group at this scope
    body = {"location": "eastus", "properties": {"mode": "Incremental", "template": template,
                                                 "parameters": {"size": {"value": GPU}}}}
    client = mgmt(DeploymentsMgmtClient, arm, US_SUB)
    with pytest.raises(HttpResponseError):
        client.deployments.begin_create_or_update_at_management_group_scope("mg1", "dep1", body).result()
    assert any("names no subscription" in u for d in audit.decisions for u in d["request"]["unresolved"])
    with gatekeeper.acting_for(provider="azure", account_id=US_SUB):
        client.deployments.begin_create_or_update_at_management_group_scope("mg1", "dep1", body).result()
    assert audit.decisions[-1]["decision"] == "allow" and audit.decisions[-1]["account_id"] == US_SUB


# -- ARM /batch and dedicated hosts ---------------------------------------------------------------------------
def test_a_malformed_batch_is_denied(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    from azure.core.rest import HttpRequest

    client = compute(arm, US_SUB)
    with pytest.raises(HttpResponseError) as info:
        client._client.send_request(HttpRequest("POST", f"{arm.url}/batch?api-version=2020-06-01",
                                                json={"requests": "nope"}))
    assert info.value.status_code == 403
    assert writes(arm, "/batch") == []
    assert "no requests list" in audit.decisions[-1]["request"]["unresolved"][0]


def test_dedicated_hosts_of_a_gpu_family_are_held_and_plain_ones_go_through(gk: Gatekeeper, audit: TeeAudit,
                                                                             arm: ArmStandIn) -> None:
    client = compute(arm, CN_SUB)
    with pytest.raises(HttpResponseError):
        client.dedicated_hosts.begin_create_or_update(
            "rg", "hg", "h1", cm.DedicatedHost(location="eastus", sku=cm.Sku(name="NDamsrA100v4-Type1"))).result()
    record = audit.decisions[-1]
    assert record["items"][0]["instance_type"].lower().startswith("standard_ndamsra100v4")
    assert record["items"][0]["accelerated"]
    client.dedicated_hosts.begin_create_or_update(
        "rg", "hg", "h2", cm.DedicatedHost(location="eastus", sku=cm.Sku(name="DSv3-Type1"))).result()
    host = f"/subscriptions/{CN_SUB}/resourceGroups/rg/providers/Microsoft.Compute/hostGroups/hg/hosts/"
    assert writes(arm, host + "h1") == [] and writes(arm, host + "h2") == ["PUT"]


# -- the evaluator on its own -----------------------------------------------------------------------------
def test_expressions_the_evaluator_knows() -> None:
    template = {"parameters": {"env": {"type": "string", "defaultValue": "PROD"}},
                "variables": {"sizes": {"prod": GPU, "dev": PLAIN},
                              "size": "[variables('sizes')[toLower(parameters('env'))]]",
                              "n": "[add(mul(2, 3), if(equals(parameters('env'), 'PROD'), 1, 0))]"},
                "resources": [{"type": "Microsoft.Compute/virtualMachineScaleSets", "name": "[[literal",
                               "location": "[concat('east', 'us')]",
                               "sku": {"name": "[variables('size')]", "capacity": "[variables('n')]"}}]}
    ev = evaluate({"template": template}, subscription="s", group="g", links=None)
    assert ev.unresolved == []
    (found,) = ev.found
    assert found.body["sku"] == {"name": GPU, "capacity": 7}
    assert found.body["name"] == "[literal" and found.body["location"] == "eastus"


@pytest.mark.parametrize("bad", ["[concat('a']", "[1 +]", "['unterminated]", "[parameters()]", "[a.b.c(]"])
def test_malformed_expressions_are_unknown_not_errors(bad: str) -> None:
    template = {"resources": [{"type": "Microsoft.Compute/virtualMachines", "name": "v", "location": "eastus",
                               "properties": {"hardwareProfile": {"vmSize": bad}}}]}
    ev = evaluate({"template": template}, subscription="s", group="g", links=None)
    (found,) = ev.found
    assert type(found.body["properties"]["hardwareProfile"]["vmSize"]).__name__ == "Unknown"


def test_install_covers_the_new_sdk_clients(gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    from azure.mgmt.batch import BatchManagementClient

    from gatekeeper.adapters.azure.testing import StaticToken

    gatekeeper.azure.install()
    try:
        kw = {"base_url": arm.url, "connection_verify": arm.ca_file, "polling_interval": 0}
        deployments = DeploymentsMgmtClient(StaticToken(), CN_SUB, **kw)
        arm.seed(f"/subscriptions/{CN_SUB}/resourceGroups/rg", {"location": "eastus"})
        with pytest.raises(HttpResponseError):
            deployments.deployments.begin_create_or_update("rg", "dep1", {"properties": {
                "mode": "Incremental", "template": vm_template(), "parameters": {"size": {"value": GPU}}}}).result()
        batch = BatchManagementClient(StaticToken(), CN_SUB, **kw)
        arm.seed(f"/subscriptions/{CN_SUB}/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a",
                 {"location": "eastus"})
        with pytest.raises(HttpResponseError):
            batch.pool.create("rg", "a", "p", {"properties": {"vmSize": GPU, "scaleSettings": {
                "fixedScale": {"targetDedicatedNodes": 1}}}})
    finally:
        gatekeeper.azure.uninstall()
    assert [d["operation"] for d in audit.decisions[-2:]] == ["Deployments_CreateOrUpdate", "Pool_Create"]


def test_the_async_pipeline_decides_a_deployment_and_reads_its_resource_group(
        gk: Gatekeeper, audit: TeeAudit, arm: ArmStandIn) -> None:
    import asyncio

    from azure.core.pipeline.transport import AsyncioRequestsTransport
    from azure.mgmt.resource.deployments.aio import DeploymentsMgmtClient as AsyncDeployments

    from gatekeeper.adapters.azure.testing import StaticToken

    class AsyncToken:
        async def get_token(self, *scopes: str, **kwargs: object) -> object:
            return StaticToken().get_token(*scopes)

        async def close(self) -> None:
            return None

    async def run(sub: str) -> None:
        arm.seed(f"/subscriptions/{sub}/resourceGroups/rg", {"location": "westus2"})
        async with AsyncDeployments(AsyncToken(), sub, base_url=arm.url, connection_verify=arm.ca_file,
                                    transport=AsyncioRequestsTransport(connection_verify=arm.ca_file),
                                    per_call_policies=[gatekeeper.azure.async_policy()],
                                    polling_interval=0) as client:
            poller = await client.deployments.begin_create_or_update("rg", "dep1", {"properties": {
                "mode": "Incremental", "template": vm_template(), "parameters": {"size": {"value": GPU}}}})
            await poller.result()

    with pytest.raises(HttpResponseError):
        asyncio.run(run(CN_SUB))
    assert writes(arm, DEP.format(CN_SUB)) == []
    assert audit.decisions[-1]["region"] == "westus2"  # resourceGroup().location, read down the async pipeline
    asyncio.run(run(US_SUB))
    assert writes(arm, DEP.format(US_SUB)) == ["PUT"]


# -- untrusted templates never raise out of the evaluator -------------------------------------------------------
_expr = st.one_of(
    st.text(max_size=30).map(lambda t: f"[{t}]"),
    st.sampled_from(["[parameters('size')]", "[variables('v')[0]]", "[copyIndex()]", "[concat(1, 'a', true)]",
                     "[div(1, 0)]", "[json('{')]", "[first(createArray())]", "[resourceGroup().nope]",
                     "[format('{5}', 1)]", "[if(parameters('x'), 1)]", "[union(1, 2)]", "[variables('self')]"]),
    st.text(max_size=10))
_leaf = st.none() | st.booleans() | st.integers(min_value=-10, max_value=10 ** 6) | _expr
_value = st.recursive(_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.sampled_from(["type", "name", "copy", "count", "properties", "sku", "location", "resources", "template",
                     "templateLink", "parameters", "condition", "hardwareProfile", "vmSize", "capacity", "value",
                     "expressionEvaluationOptions", "scope", "defaultValue", "variables", "existing"]), c, max_size=5),
    max_leaves=25)
_types = st.sampled_from(["Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachineScaleSets",
                          "Microsoft.Resources/deployments", "Microsoft.ContainerService/managedClusters",
                          "agentPools", "Microsoft.Batch/batchAccounts/pools", 7, None])


@settings(max_examples=150, deadline=None)
@given(resources=st.lists(st.fixed_dictionaries({"type": _types}, optional={
    "name": _expr, "copy": _value, "properties": _value, "sku": _value, "location": _expr, "resources": _value,
    "condition": _value}), max_size=4), parameters=_value, variables=_value, given_=_value)
def test_arbitrary_templates_never_raise(resources: Any, parameters: Any, variables: Any, given_: Any) -> None:
    from gatekeeper.providers.azure._read import translate_template

    template = {"parameters": parameters, "variables": variables, "resources": resources}
    out = translate_template({"template": template, "parameters": given_}, operation="Deployments_CreateOrUpdate",
                             path="/subscriptions/s/resourceGroups/g/providers/Microsoft.Resources/deployments/d",
                             subscription="s", group="g", links=None,
                             accelerated=lambda size: size.lower().startswith("standard_n"))
    for request in out:
        assert all(isinstance(i.instance_type, str) and i.count >= 0 for i in request.items)


def test_the_generic_resources_client_is_decided_like_the_typed_one(gk: Gatekeeper, audit: TeeAudit,
                                                                    arm: ArmStandIn) -> None:
    """azure-mgmt-resource's ``resources.begin_create_or_update_by_id`` writes any resource type: the URL is
    the resource id, recognised by the same rows."""
    from azure.mgmt.resource.resources import ResourceManagementClient

    client = mgmt(ResourceManagementClient, arm, CN_SUB)
    vm = f"/subscriptions/{CN_SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm9"
    body = {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": GPU}}}
    with pytest.raises(HttpResponseError):
        client.resources.begin_create_or_update_by_id(vm, body, api_version="2024-07-01").result()
    assert writes(arm, vm) == []
    assert audit.decisions[-1]["operation"] == "VirtualMachines_CreateOrUpdate"
    plain = {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": PLAIN}}}
    client.resources.begin_create_or_update_by_id(vm, plain, api_version="2024-07-01").result()
    assert writes(arm, vm) == ["PUT"]
