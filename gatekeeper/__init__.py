"""gatekeeper: decide, enforce and audit export-controlled AI compute provisioning.

Public surface (pinned by tests/test_public_api.py)::

    gatekeeper.acting_for(provider=..., account_id=...)   name the customer for calls in the block
    gatekeeper.configure(config)                           set the process-wide runtime
    gatekeeper.current()                                   the process-wide runtime (Gatekeeper)
    gatekeeper.aws / gatekeeper.azure / gatekeeper.gcp     SDK adapters (imported on first use)
"""

from __future__ import annotations

import importlib
from typing import Any

from gatekeeper.context import acting_for
from gatekeeper.model import (
    ComputeItem,
    CustomerProfile,
    Decision,
    Outcome,
    ProvisioningRequest,
)
from gatekeeper.runtime import configure, current
from gatekeeper.service import Gatekeeper

__version__ = "0.1.0"

__all__ = [
    "ComputeItem",
    "CustomerProfile",
    "Decision",
    "Gatekeeper",
    "Outcome",
    "ProvisioningRequest",
    "__version__",
    "acting_for",
    "configure",
    "current",
]

_LAZY = {"aws": "gatekeeper.adapters.aws", "azure": "gatekeeper.adapters.azure", "gcp": "gatekeeper.adapters.gcp"}


def __getattr__(name: str) -> Any:
    # Adapters import their SDKs; load them only when a caller asks for gatekeeper.aws etc.
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'gatekeeper' has no attribute {name!r}")
