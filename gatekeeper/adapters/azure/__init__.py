"""Azure adapter: an azure-core pipeline policy that decides azure-mgmt compute calls.

    client = ComputeManagementClient(cred, sub, per_call_policies=[gatekeeper.azure.policy()])
    gatekeeper.azure.install()      # or: every azure-mgmt client created afterwards

Decided: virtual machines (create/update, resize by PATCH), scale sets (``sku.name``,
``sku.capacity``, instance-mix ``skuProfile``), scale-set VMs, AKS agent pools and managed clusters'
``agentPoolProfiles``. The subject is the subscription in the URL, or ``gatekeeper.acting_for(provider=
"azure", ...)``. Blocked calls raise :class:`ExportControlHttpError`, an
``azure.core.exceptions.HttpResponseError`` with status 403 and ``error.code``
``ExportControlDenied`` or ``ExportLicensePending``. See docs/azure-gcp.md.
"""

from __future__ import annotations

from gatekeeper.adapters.azure._errors import ExportControlHttpError
from gatekeeper.adapters.azure._install import install, installed, uninstall
from gatekeeper.adapters.azure._policy import AsyncGatekeeperPolicy, GatekeeperPolicy
from gatekeeper.providers.azure.operations import OPERATIONS, AzureOperation, Shape
from gatekeeper.service import Gatekeeper

__all__ = [
    "OPERATIONS",
    "AsyncGatekeeperPolicy",
    "AzureOperation",
    "ExportControlHttpError",
    "GatekeeperPolicy",
    "Shape",
    "async_policy",
    "install",
    "installed",
    "policy",
    "uninstall",
]


def policy(gatekeeper: Gatekeeper | None = None) -> GatekeeperPolicy:
    """A policy for ``per_call_policies=[...]`` of a sync azure-mgmt client."""
    return GatekeeperPolicy(gatekeeper)


def async_policy(gatekeeper: Gatekeeper | None = None) -> AsyncGatekeeperPolicy:
    """A policy for ``per_call_policies=[...]`` of an ``azure.mgmt.*.aio`` client."""
    return AsyncGatekeeperPolicy(gatekeeper)
