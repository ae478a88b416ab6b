"""The Google Cloud provider spec: every client call that can provision accelerated compute, as data.

``OPERATIONS`` is read by the SDK adapter (``gatekeeper.gcp``), the Cloud Audit Logs hook
(``gatekeeper.hooks.gcp_function``), ``gatekeeper hooks test``, deploy/gcp and docs/azure-gcp.md;
``SPEC`` is the same rows in the cloud-neutral vocabulary of :mod:`gatekeeper.providers._spec`. The
reader is ``gatekeeper.providers.gcp._read``; ``vocabulary`` maps TPU slices and Vertex AI accelerator
names onto the catalog's. This package imports no SDK.
"""

from __future__ import annotations

from gatekeeper.providers.gcp.operations import BY_AUDIT, OPERATIONS, SPEC, GcpOperation

__all__ = ["BY_AUDIT", "OPERATIONS", "SPEC", "GcpOperation"]
