"""The Azure and Google Cloud specs against the SDKs and the hooks: every row names calls that exist in
the installed SDKs, paths that exist in the request messages (a renamed field fails here), and is in
both surfaces (the SDK adapter recognises it, the hook handles its audit event and can put it right)."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import pytest

from gatekeeper.hooks.azure_function import ACTION_NAMES, OPERATION_NAMES, parse_resource_id
from gatekeeper.hooks.gcp_function import BY_METHOD, method_key
from gatekeeper.hooks.remediation import KINDS
from gatekeeper.providers import azure, gcp
from gatekeeper.providers.azure.operations import DEPLOYMENTS, recognise

# -- Azure ----------------------------------------------------------------------------------------------------
_PACKAGES = {"azure-mgmt-compute": ("azure.mgmt.compute", "ComputeManagementClient"),
             "azure-mgmt-containerservice": ("azure.mgmt.containerservice", "ContainerServiceClient"),
             "azure-mgmt-batch": ("azure.mgmt.batch", "BatchManagementClient"),
             "azure-mgmt-machinelearningservices": ("azure.mgmt.machinelearningservices",
                                                    "MachineLearningServicesMgmtClient"),
             "azure-mgmt-resource-deployments": ("azure.mgmt.resource.deployments", "DeploymentsMgmtClient"),
             "azure-mgmt-resource-deploymentstacks": ("azure.mgmt.resource.deploymentstacks",
                                                      "DeploymentStacksClient")}


def _sdk_method(entry: str) -> Any:
    package, call = entry.split(": ")
    module, client = _PACKAGES[package]
    group, method = call.split(".")
    cls = getattr(importlib.import_module(module), client)
    client_obj = cls.__new__(cls)  # the operation groups are attributes set in __init__: read their classes
    hints = inspect.getsource(cls.__init__)
    m = re.search(rf"self\.{group}\s*=\s*(\w+)\(", hints)
    assert m, f"{client} has no operation group {group}"
    ops_cls = getattr(importlib.import_module(f"{module}.operations"), m.group(1))
    del client_obj
    return getattr(ops_cls, method, None)


def _sample_id(op: azure.AzureOperation) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "00000000-0000-0000-0000-000000000000" if m.group(1) == "subscription"
                  else f"x-{m.group(1)}", op.template)


@pytest.mark.parametrize("op", azure.OPERATIONS, ids=lambda o: o.type)
def test_azure_rows_exist_in_the_sdks_and_in_both_surfaces(op: azure.AzureOperation) -> None:
    for entry in (*op.sdk, *(sdk for _, sdk in op.actions.values())):
        assert _sdk_method(entry) is not None, entry
    rid = _sample_id(op)
    for method in op.methods:
        found = recognise(method, rid)
        assert found is not None and found.operation is op  # the adapter
    for action in op.actions:
        found = recognise("POST", f"{rid}/{action}")
        assert found is not None and found.operation is op and found.path == rid
        assert op.action_name(action) in ACTION_NAMES
    target = parse_resource_id(rid)  # the hook
    assert target is not None and target.operation is op
    assert op.write in OPERATION_NAMES
    assert op.kind in KINDS or op.pools, f"{op.type}: no remediation kind"
    assert op.api_version and op.spec.audit is not None


@pytest.mark.parametrize("call", DEPLOYMENTS, ids=lambda c: f"{c.name}-{c.scope}")
def test_template_calls_exist_in_the_sdks(call: azure.TemplateCall) -> None:
    assert _sdk_method(call.sdk) is not None, call.sdk


def test_the_azure_spec_is_one_row_per_write() -> None:
    assert len({op.write for op in azure.OPERATIONS}) == len(azure.OPERATIONS)
    assert {o.name for o in azure.SPEC.operations} >= {op.write for op in azure.OPERATIONS}


# -- Google Cloud -----------------------------------------------------------------------------------------------
def _request_descriptor(op: gcp.GcpOperation) -> Any:
    cls = getattr(importlib.import_module(op.module), op.client)
    method = getattr(cls, op.method)
    ann = str(inspect.signature(method).parameters["request"].annotation)
    m = re.search(r"(\w+)\.(\w+Request)\b", ann)
    assert m, (op.sdk, ann)
    types_module = importlib.import_module(method.__module__)
    request_cls = getattr(getattr(types_module, m.group(1)), m.group(2))
    return request_cls.pb().DESCRIPTOR


def _has(descriptor: Any, path: str) -> bool:
    d = descriptor
    for seg in path.split("."):
        field = d.fields_by_name.get(seg)
        if field is None:
            return False
        d = field.message_type
        if d is None:
            return seg == path.split(".")[-1]
    return True


@pytest.mark.parametrize("op", gcp.OPERATIONS, ids=lambda o: o.sdk)
def test_gcp_rows_exist_in_the_clients_and_their_paths_in_the_requests(op: gcp.GcpOperation) -> None:
    cls = getattr(importlib.import_module(op.module), op.client)
    transport = cls.get_transport_class("rest")
    assert hasattr(transport, op.method), f"{op.sdk}: the transport has no {op.method}"
    desc = _request_descriptor(op)
    element = op.reads == "machine_specs"
    for path in filter(None, (op.at, op.template, op.image, op.source_instance, op.body, op.multiplier,
                              "" if element else op.count)):
        assert _has(desc, path), f"{op.sdk}: {path}"
    if element:  # counts are read per element of ``at``
        for alt in op.count.split("|"):
            assert _has(desc, f"{op.at}.{alt}") or _has(desc, f"{op.at}.{alt}".replace(".", ".", 1)), alt
        assert _has(desc, f"{op.at}.machine_spec.accelerator_type")


@pytest.mark.parametrize("op", gcp.OPERATIONS, ids=lambda o: o.sdk)
def test_gcp_rows_are_in_both_surfaces(op: gcp.GcpOperation) -> None:
    assert op.audit and BY_METHOD[(op.service, method_key(op.audit))] is op  # the hook reads the entry
    # It can put right what the call provisioned; Vertex AI deployments are decided and audited only
    # (undeploying needs the deployed model id the entry may not carry; docs/azure-gcp.md says so).
    assert op.kind in KINDS, op.kind
