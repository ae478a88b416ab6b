"""The IaC gate: Terraform/OpenTofu plans decided before apply (``gatekeeper plan check``).

``load_plan`` reads ``terraform show -json`` output; ``check_plan`` decides each compute resource
through ``Gatekeeper.decide``; :mod:`._report` renders the result as JSON, SARIF 2.1.0 or JUnit XML.
"""

from __future__ import annotations

from gatekeeper.gates.plan._check import Finding, PlanReport, check_plan
from gatekeeper.gates.plan._extract import UNKNOWN_TYPE, Extraction, extract
from gatekeeper.gates.plan._reader import Plan, PlanResource, ProviderConfig, load_plan, parse_plan
from gatekeeper.gates.plan._report import report_json, report_junit, report_sarif
from gatekeeper.gates.plan._subject import Subject, SubjectError, subject_for
from gatekeeper.gates.plan._types import RESOURCE_TYPES, ResourceType

__all__ = [
    "RESOURCE_TYPES",
    "UNKNOWN_TYPE",
    "Extraction",
    "Finding",
    "Plan",
    "PlanReport",
    "PlanResource",
    "ProviderConfig",
    "ResourceType",
    "Subject",
    "SubjectError",
    "check_plan",
    "extract",
    "load_plan",
    "parse_plan",
    "report_json",
    "report_junit",
    "report_sarif",
    "subject_for",
]
