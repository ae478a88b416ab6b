"""The Azure provider spec: every ARM call that can provision accelerated compute, as data.

``OPERATIONS`` (resource types written by PUT/PATCH), ``DEPLOYMENTS`` (calls that carry an ARM
template) and ``BATCH`` (ARM's ``/batch``) are read by the SDK adapter (``gatekeeper.azure``), the Event
Grid hook, ``gatekeeper hooks test`` and docs/azure-gcp.md; ``SPEC`` is the same rows in the
cloud-neutral vocabulary of :mod:`gatekeeper.providers._spec`. The reader is
``gatekeeper.providers.azure._read``; templates are evaluated by ``gatekeeper.providers.azure.templates``.
This package imports no SDK.
"""

from __future__ import annotations

from gatekeeper.providers.azure.operations import (
    BATCH,
    BY_TYPE,
    DEPLOYMENTS,
    OPERATIONS,
    SPEC,
    AzureOperation,
    Shape,
    TemplateCall,
)

__all__ = ["BATCH", "BY_TYPE", "DEPLOYMENTS", "OPERATIONS", "SPEC", "AzureOperation", "Shape", "TemplateCall"]
