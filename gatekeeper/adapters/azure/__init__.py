"""Azure adapter: an azure-core pipeline policy that decides azure-mgmt compute calls.

    client = ComputeManagementClient(cred, sub, per_call_policies=[gatekeeper.azure.policy()])
    gatekeeper.azure.install()      # or: every azure-mgmt client created afterwards

Decided: every row of the Azure provider spec (``gatekeeper.providers.azure``: VMs, scale sets and
their VMs, AKS clusters and agent pools, Batch pools, Azure ML computes, capacity reservations,
dedicated hosts), ARM deployments, their validate/whatIf and deployment stacks (every compute
resource of the template, evaluated statically), and each inner request of ARM's ``/batch``.
The subject is the subscription in the URL, or ``gatekeeper.acting_for(provider="azure", ...)``.
Blocked calls raise :class:`ExportControlHttpError`, an ``azure.core.exceptions.HttpResponseError``
with status 403 and ``error.code`` ``ExportControlDenied`` or ``ExportLicensePending``. See docs/azure-gcp.md.
"""

from __future__ import annotations

from gatekeeper.adapters.azure._errors import ExportControlHttpError
from gatekeeper.adapters.azure._install import install, installed, uninstall
from gatekeeper.adapters.azure._policy import AsyncGatekeeperPolicy, GatekeeperPolicy
from gatekeeper.providers.azure import OPERATIONS, AzureOperation, Shape
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
