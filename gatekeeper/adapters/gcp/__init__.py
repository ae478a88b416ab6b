"""Google Cloud adapter: decides google-cloud-compute, -container, -tpu and -aiplatform provisioning calls.

    gatekeeper.gcp.install()              # every client created afterwards
    gatekeeper.gcp.protect(client)        # one that already exists

Decided: every row of the Google Cloud provider spec (``gatekeeper.providers.gcp``): Compute Engine
instances, bulk inserts, instance templates, managed instance groups (zonal and regional), reservations
and future reservations; GKE node pools and clusters; Cloud TPU nodes and queued resources; Vertex AI
custom and tuning jobs, model deployments and persistent resources (each SDK when installed).
The subject is the project id, or ``gatekeeper.acting_for(provider="gcp", ...)``. Blocked calls raise
:class:`ExportControlPermissionDenied`, a ``google.api_core.exceptions.PermissionDenied`` whose
message starts with ``ExportControlDenied`` or ``ExportLicensePending``. See docs/azure-gcp.md.
"""

from __future__ import annotations

from gatekeeper.adapters.gcp._errors import ExportControlPermissionDenied
from gatekeeper.adapters.gcp._protect import install, installed, protect, uninstall
from gatekeeper.providers.gcp import OPERATIONS, GcpOperation

__all__ = [
    "OPERATIONS",
    "ExportControlPermissionDenied",
    "GcpOperation",
    "install",
    "installed",
    "protect",
    "uninstall",
]
