"""Whose resources a plan creates: the subject from the plan's provider configuration, or given.

- AWS: ``allowed_account_ids`` (exactly one), else the account in ``assume_role[].role_arn`` (or
  ``assume_role_with_web_identity``); both given must agree.
- Azure: the ``azurerm`` provider's ``subscription_id``.
- Google Cloud: the resource's own ``project``, else the ``google`` provider's ``project``.

``--provider/--account`` on the command line name the subject for that provider's resources and win
over the configuration. Without either, the resource cannot be decided: an error, never the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gatekeeper.gates.plan._reader import Plan, PlanResource, ProviderConfig

# Terraform's provider names for gatekeeper's providers.
TERRAFORM_PROVIDERS = {"aws": "aws", "azurerm": "azure", "google": "gcp", "google-beta": "gcp"}
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


@dataclass(frozen=True, slots=True)
class Subject:
    provider: str
    account_id: str
    found_in: str  # where the subject came from, for the report
    region: str = ""  # the provider configuration's region (a resource's own region wins)


class SubjectError(ValueError):
    """The plan does not say whose resource this is, or says two different things."""


def provider_config(plan: Plan, resource: PlanResource) -> ProviderConfig | None:
    key = resource.provider_key
    if key in plan.providers:
        return plan.providers[key]
    bare = key.rsplit(":", 1)[-1] if key else resource.provider
    return plan.providers.get(bare) or plan.providers.get(resource.provider)


def subject_for(plan: Plan, resource: PlanResource, provider: str,
                given: Mapping[str, str] | None = None) -> Subject:
    """The subject of ``resource`` (a gatekeeper ``provider``); raises SubjectError when there is none."""
    config = provider_config(plan, resource)
    values: Mapping[str, Any] = config.values if config is not None else {}
    region = _text(values.get("region")) or _text(values.get("zone"))
    if given and given.get(provider):
        return Subject(provider, given[provider], "--account", region)
    where = f"provider \"{config.key}\"" if config is not None else "no provider block"
    if provider == "aws":
        return Subject("aws", _aws_account(values, where), f"{where} configuration", region)
    if provider == "azure":
        sub = _text(values.get("subscription_id"))
        if not sub:
            raise SubjectError(f"{where} names no subscription_id; pass --provider azure --account SUBSCRIPTION")
        return Subject("azure", sub.lower(), f"{where} subscription_id", region)
    project = _text(resource.values.get("project"))
    if project:
        return Subject("gcp", project, "the resource's project", region)
    project = _text(values.get("project"))
    if not project:
        raise SubjectError(f"{where} names no project; pass --provider gcp --account PROJECT")
    return Subject("gcp", project, f"{where} project", region)


def _aws_account(values: Mapping[str, Any], where: str) -> str:
    allowed = values.get("allowed_account_ids")
    allowed_ids = [str(a).strip() for a in allowed if str(a).strip()] if isinstance(allowed, list) else []
    if len(allowed_ids) > 1:
        raise SubjectError(f"{where}: allowed_account_ids lists {len(allowed_ids)} accounts; pass "
                           "--provider aws --account ID to say whose resources these are")
    from_role = ""
    for block in ("assume_role", "assume_role_with_web_identity"):
        for b in values.get(block) or ():
            m = _ROLE_ARN.match(_text(b.get("role_arn")) if isinstance(b, Mapping) else "")
            if m:
                from_role = m.group(1)
    if allowed_ids and from_role and allowed_ids[0] != from_role:
        raise SubjectError(f"{where}: allowed_account_ids ({allowed_ids[0]}) and the assumed role's account "
                           f"({from_role}) differ")
    account = allowed_ids[0] if allowed_ids else from_role
    if not account:
        raise SubjectError(f"{where} names no account (allowed_account_ids or assume_role.role_arn); pass "
                           "--provider aws --account ID")
    return account


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
