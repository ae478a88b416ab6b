"""Plan fixtures in the documented format of ``terraform show -json`` (format_version 1.2).

``plan(...)`` builds the whole document from resources: ``resource_changes`` (actions, ``after``,
``after_unknown``), ``planned_values`` (unknown values omitted, as Terraform does), ``configuration``
(provider blocks with ``constant_value`` expressions, resources with ``provider_config_key`` and
``references``) and ``prior_state`` for resources that already exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FULL_NAMES = {"aws": "registry.terraform.io/hashicorp/aws", "azurerm": "registry.terraform.io/hashicorp/azurerm",
              "google": "registry.terraform.io/hashicorp/google"}


@dataclass
class Res:
    type: str
    name: str
    values: dict[str, Any]
    unknown: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, list[str]] = field(default_factory=dict)  # "launch_template[].id" -> references
    actions: tuple[str, ...] = ("create",)
    provider_key: str = ""
    module: str = ""  # "gpu" -> module.gpu.
    existing: bool = False

    @property
    def tf_provider(self) -> str:
        return self.type.split("_", 1)[0]

    @property
    def address(self) -> str:
        return (f"module.{self.module}." if self.module else "") + f"{self.type}.{self.name}"


def aws_provider(account: str = "", role_account: str = "", region: str = "us-east-1",
                 key: str = "aws") -> dict[str, Any]:
    expr: dict[str, Any] = {"region": {"constant_value": region}}
    if account:
        expr["allowed_account_ids"] = {"constant_value": [account]}
    if role_account:
        expr["assume_role"] = [{"role_arn": {"constant_value": f"arn:aws:iam::{role_account}:role/terraform"}}]
    alias = {"alias": key.split(".", 1)[1]} if "." in key else {}
    return {key: {"name": "aws", "full_name": FULL_NAMES["aws"], **alias, "expressions": expr}}


def azure_provider(subscription: str) -> dict[str, Any]:
    return {"azurerm": {"name": "azurerm", "full_name": FULL_NAMES["azurerm"],
                        "expressions": {"subscription_id": {"constant_value": subscription},
                                        "features": [{}]}}}


def google_provider(project: str, region: str = "us-central1") -> dict[str, Any]:
    return {"google": {"name": "google", "full_name": FULL_NAMES["google"],
                       "expressions": {"project": {"constant_value": project}, "region": {"constant_value": region}}}}


def _expressions(values: dict[str, Any], refs: dict[str, list[str]]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, list) and v and all(isinstance(b, dict) for b in v):
            return [{k: conv(x) for k, x in b.items()} for b in v]
        return {"constant_value": v}

    out = {k: conv(v) for k, v in values.items() if v is not None}
    for path, targets in refs.items():
        node: Any = out
        parts = path.split(".")
        for part in parts[:-1]:
            name = part[:-2] if part.endswith("[]") else part
            node = node.setdefault(name, [{}])[0] if part.endswith("[]") else node.setdefault(name, {})
        node[parts[-1]] = {"references": targets}
    return out


def _strip_unknown(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def plan(*resources: Res, providers: dict[str, Any] | None = None, tofu: bool = False) -> dict[str, Any]:
    changes, planned, prior, config_res = [], [], [], []
    modules: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        base = {"address": r.address, "mode": "managed", "type": r.type, "name": r.name,
                "provider_name": FULL_NAMES.get(r.tf_provider, r.tf_provider)}
        if r.module:
            base["module_address"] = f"module.{r.module}"
        if r.existing:
            prior.append({**base, "schema_version": 0, "values": r.values, "sensitive_values": {}})
        else:
            changes.append({**base, "change": {"actions": list(r.actions), "before": None,
                                               "after": _strip_unknown(r.values), "after_unknown": r.unknown,
                                               "before_sensitive": False, "after_sensitive": {}}})
            planned.append({**base, "schema_version": 0, "values": _strip_unknown(r.values), "sensitive_values": {}})
        entry = {"address": f"{r.type}.{r.name}", "mode": "managed", "type": r.type, "name": r.name,
                 "provider_config_key": r.provider_key or r.tf_provider,
                 "expressions": _expressions(r.values, r.refs), "schema_version": 0}
        (modules.setdefault(r.module, []) if r.module else config_res).append(entry)
    doc: dict[str, Any] = {
        "format_version": "1.2",
        "terraform_version": "1.8.3" if tofu else "1.9.5",
        "planned_values": {"root_module": {
            "resources": [p for p in planned if "module_address" not in p],
            "child_modules": [{"address": f"module.{m}",
                               "resources": [p for p in planned if p.get("module_address") == f"module.{m}"]}
                              for m in modules]}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": providers or {},
            "root_module": {"resources": config_res,
                            "module_calls": {m: {"source": f"./modules/{m}", "module": {"resources": rs}}
                                             for m, rs in modules.items()}},
        },
        "timestamp": "2026-12-04T16:00:00Z",
        "applyable": True,
        "complete": True,
        "errored": False,
    }
    if prior:
        doc["prior_state"] = {"format_version": "1.0", "terraform_version": doc["terraform_version"],
                              "values": {"root_module": {"resources": prior}}}
    return doc
