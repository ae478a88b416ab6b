"""``guardrails export`` / ``diff``: the customers on file and the packs in force compiled for one cloud."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from gatekeeper.errors import InvalidInputError
from gatekeeper.gates.guardrails import aws, azure, gcp
from gatekeeper.gates.guardrails._bundle import Bundle
from gatekeeper.gates.guardrails._compile import compile_guards
from gatekeeper.gates.guardrails._specs import spec_operations

if TYPE_CHECKING:
    from gatekeeper.service import Gatekeeper

CLOUDS = ("aws", "azure", "gcp")
ORGANIZATION_PLACEHOLDER = "ORGANIZATION_ID"


def export(gk: Gatekeeper, cloud: str, *, on: date, organization: str = "",
           ous: Mapping[str, Sequence[str]] | None = None,
           folders: Mapping[str, Sequence[str]] | None = None) -> Bundle:
    """The bundle for ``cloud``: one Guard per customer with controlled compute, and its artifacts."""
    if cloud not in CLOUDS:
        raise InvalidInputError(f"--cloud must be aws, azure or gcp, not {cloud!r}", field="cloud")
    profiles = gk.store.profiles.list_profiles(cloud)
    licences = gk.store.licences.list_licences(cloud)
    guards = compile_guards(gk.engine, profiles, licences, on)
    bundle = Bundle(cloud, on.isoformat(), gk.catalog.as_of, guards)
    if cloud == "aws":
        aws.build(guards, gk.catalog, spec_operations("aws"), bundle, ous=ous)
    elif cloud == "azure":
        azure.build(guards, bundle)
    else:
        org = organization.strip() or ORGANIZATION_PLACEHOLDER
        if not org.isdigit() and org != ORGANIZATION_PLACEHOLDER:
            raise InvalidInputError(f"--organization must be the numeric organization id, not {org!r}",
                                    field="organization")
        if org == ORGANIZATION_PLACEHOLDER:
            bundle.notes.append("no --organization given: constraint names carry ORGANIZATION_ID")
        gcp.build(guards, gk.catalog, bundle, org, folders=folders)
    return bundle
