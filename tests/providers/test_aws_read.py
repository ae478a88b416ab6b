"""The spec reader's generic behaviours not tied to one AWS row (synthetic rows, a recording lookup)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatekeeper.catalog import default_catalog
from gatekeeper.providers import Existing, Operation, Slot, Source
from gatekeeper.providers.aws import EVENT_MODE
from gatekeeper.providers.aws._read import translate

_SLOTS = (Slot(sources=(Source(type=("InstanceType",)),), count=("MaxSize",)),)


class Recording:
    def __init__(self, answer: Mapping[str, Any]) -> None:
        self.answer, self.calls = answer, 0

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        self.calls += 1
        return self.answer


def test_an_existing_resource_marked_always_is_read_even_when_the_request_names_compute() -> None:
    lookup = Recording({"InstanceType": "p5.48xlarge", "MaxSize": 2})
    lazy = Operation("x", "Update", base=Existing("asg", (("name", "Name"),), _SLOTS))
    eager = Operation("x", "Update", base=Existing("asg", (("name", "Name"),), _SLOTS, always=True))
    params = {"Name": "g", "InstanceType": "m5.large", "MaxSize": 3}
    out = translate(lazy, params, lookup, default_catalog())
    assert lookup.calls == 0 and [(i.instance_type, i.count) for i in out.items] == [("m5.large", 3)]
    out = translate(eager, params, lookup, default_catalog())
    assert lookup.calls == 1 and [(i.instance_type, i.count) for i in out.items] == [("m5.large", 3)]


def test_the_event_shape_applies_lower_camel_members_over_a_pascal_description() -> None:
    lookup = Recording({"InstanceType": "p5.48xlarge", "MaxSize": 2, "LaunchConfigurationName": "old"})
    op = Operation("x", "Update", base=Existing("asg", (("name", "Name"),), _SLOTS, exclusive=("InstanceType",)))
    out = translate(op, {"name": "g", "maxSize": 7}, lookup, default_catalog(), slots=(), mode=EVENT_MODE,
                    base=Existing("asg", (("name", "name"),), _SLOTS))
    assert [(i.instance_type, i.count) for i in out.items] == [("p5.48xlarge", 7)]


def test_an_endpoint_is_decided_on_the_configuration_it_names() -> None:
    from gatekeeper.providers.aws import BY_NAME

    config = {"EndpointConfigName": "c", "ProductionVariants": [
        {"VariantName": "v", "InstanceType": "ml.p4d.24xlarge", "InitialInstanceCount": 3}]}
    lookup = Recording(config)
    for name in ("CreateEndpoint", "UpdateEndpoint"):
        out = translate(BY_NAME[("sagemaker", name)], {"EndpointName": "e", "EndpointConfigName": "c"}, lookup,
                        default_catalog())
        assert [(i.instance_type, i.count) for i in out.items] == [("ml.p4d.24xlarge", 3)]
    assert lookup.calls == 2
    unread = translate(BY_NAME[("sagemaker", "CreateEndpoint")], {"EndpointName": "e", "EndpointConfigName": "c"},
                       None, default_catalog())
    assert unread.items == () and "endpoint_config name=c cannot be read" in unread.unresolved[0]


class ByKind:
    def __init__(self, answers: Mapping[str, Mapping[str, Any]]) -> None:
        self.answers, self.kinds = answers, []

    def describe(self, kind: str, key: Mapping[str, str]) -> Mapping[str, Any]:
        self.kinds.append(kind)
        return self.answers[kind]


def _spec(itype: str, app: str = "JupyterLabAppSettings") -> dict[str, Any]:
    return {app: {"DefaultResourceSpec": {"InstanceType": itype}}}


def test_an_app_naming_no_instance_inherits_its_space_user_and_domain_defaults() -> None:
    from gatekeeper.providers.aws import BY_NAME

    op = BY_NAME[("sagemaker", "CreateApp")]
    lookup = ByKind({"domain": {"DefaultUserSettings": _spec("ml.t3.medium")},
                     "space": {"SpaceSettings": _spec("ml.p4d.24xlarge")},
                     "user_profile": {"UserSettings": _spec("ml.g5.xlarge", "KernelGatewayAppSettings")}})
    out = translate(op, {"DomainId": "d-1", "AppType": "JupyterLab", "AppName": "a", "SpaceName": "s"}, lookup,
                    default_catalog())
    assert sorted(lookup.kinds) == ["domain", "space"]
    assert {i.instance_type for i in out.items} == {"ml.t3.medium", "ml.p4d.24xlarge"}
    lookup.kinds.clear()
    named = translate(op, {"DomainId": "d-1", "AppType": "JupyterLab", "AppName": "a", "SpaceName": "s",
                           "ResourceSpec": {"InstanceType": "ml.t3.medium"}}, lookup, default_catalog())
    assert lookup.kinds == [] and [i.instance_type for i in named.items] == ["ml.t3.medium"]
    user = translate(op, {"DomainId": "d-1", "AppType": "KernelGateway", "AppName": "a", "UserProfileName": "u"},
                     lookup, default_catalog())
    assert "ml.g5.xlarge" in {i.instance_type for i in user.items}
