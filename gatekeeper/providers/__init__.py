"""Provider specs: one per cloud, as data, read by the SDK adapters, the hooks, the gates and the docs.

``gatekeeper.providers._spec`` is the cloud-neutral vocabulary (Operation, Slot, Source, Ref,
Attached, Existing, Audit, Affected, ProviderSpec); ``gatekeeper.providers._paths`` the one reader of
paths into SDK parameters, audit events and resource descriptions. ``providers.aws`` (and
``providers.azure``, ``providers.gcp``) hold each cloud's rows in the same layout.

This package imports no SDK: a hook's cold start and the CLI read specs without loading boto3.
"""

from __future__ import annotations

from gatekeeper.providers._paths import (
    EXACT,
    MAX_COUNT,
    AmbiguousPath,
    Mode,
    compile_path,
    deep_merge,
    first,
    get_ci,
    number,
    present,
    read,
    shown,
    strings,
    text,
    values,
    whole,
)
from gatekeeper.providers._spec import (
    Affected,
    Attached,
    Audit,
    Existing,
    Operation,
    ProviderSpec,
    Ref,
    Slot,
    Source,
    Template,
    lower_camel,
    recase,
    recased,
    same,
    sdk_paths,
    snake_to_camel,
)

__all__ = [
    "EXACT",
    "MAX_COUNT",
    "Affected",
    "AmbiguousPath",
    "Attached",
    "Audit",
    "Existing",
    "Mode",
    "Operation",
    "ProviderSpec",
    "Ref",
    "Slot",
    "Source",
    "Template",
    "compile_path",
    "deep_merge",
    "first",
    "get_ci",
    "lower_camel",
    "number",
    "present",
    "read",
    "recase",
    "recased",
    "same",
    "sdk_paths",
    "shown",
    "snake_to_camel",
    "strings",
    "text",
    "values",
    "whole",
]
