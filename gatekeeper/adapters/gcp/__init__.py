"""Google Cloud adapter: decides google-cloud-compute and google-cloud-container provisioning calls.

    gatekeeper.gcp.install()              # every client created afterwards
    gatekeeper.gcp.protect(client)        # one that already exists

Decided: Compute Engine instances insert / update / setMachineType / setMachineResources /
bulkInsert (zonal and regional) and instance templates insert (global and regional), reading the
machine type and ``guestAccelerators`` (and the template or machine image an insert names); GKE
node pools (create, update, resize, autoscaling) and clusters' node pools, when
google-cloud-container is installed. The subject is the project id, or
``gatekeeper.acting_for(provider="gcp", ...)``. Blocked calls raise
:class:`ExportControlPermissionDenied`, a ``google.api_core.exceptions.PermissionDenied`` whose
message starts with ``ExportControlDenied`` or ``ExportLicensePending``. See docs/azure-gcp.md.
"""

from __future__ import annotations

from gatekeeper.adapters.gcp._errors import ExportControlPermissionDenied
from gatekeeper.adapters.gcp._protect import install, installed, protect, uninstall
from gatekeeper.providers.gcp.operations import OPERATIONS, GcpOperation

__all__ = [
    "OPERATIONS",
    "ExportControlPermissionDenied",
    "GcpOperation",
    "install",
    "installed",
    "protect",
    "uninstall",
]
