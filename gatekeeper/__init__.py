"""gatekeeper: decide, enforce and audit export-controlled AI compute provisioning.

Public surface (pinned by tests/test_public_api.py)::

    gatekeeper.acting_for(provider=..., account_id=...)   name the customer for calls in the block
    gatekeeper.configure(config)                           set the process-wide runtime
    gatekeeper.current()                                   the process-wide runtime (Gatekeeper)
    gatekeeper.aws / gatekeeper.azure / gatekeeper.gcp     SDK adapters (imported on first use)

Nothing is imported with the package: every public name (the request/decision model too), the
runtime (configuration, pydantic, the engine), the context helpers and the adapters are imported
when the name is first used, so that importing one submodule (``gatekeeper.hooks.aws_lambda`` in a
Lambda cold start, a CLI command that reads the audit log) loads only what that submodule needs.
``from gatekeeper import Decision`` works as before (it looks the name up through ``__getattr__``),
and type checkers read the names from the ``TYPE_CHECKING`` imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# name -> (module, attribute in it; None: the module itself). Each is imported on first access and
# then kept in the package's namespace, so later lookups are plain attribute reads.
_LAZY: dict[str, tuple[str, str | None]] = {
    # The model: a dataclass module whose classes cost ~0.5 ms each to create; a command that reads
    # the audit log never needs them.
    "ComputeItem": ("gatekeeper.model", "ComputeItem"),
    "CustomerProfile": ("gatekeeper.model", "CustomerProfile"),
    "Decision": ("gatekeeper.model", "Decision"),
    "Outcome": ("gatekeeper.model", "Outcome"),
    "ProvisioningRequest": ("gatekeeper.model", "ProvisioningRequest"),
    # Imported with the package before, so ``import gatekeeper; gatekeeper.model.X`` kept working.
    "model": ("gatekeeper.model", None),
    "acting_for": ("gatekeeper.context", "acting_for"),
    "configure": ("gatekeeper.runtime", "configure"),
    "current": ("gatekeeper.runtime", "current"),
    "Gatekeeper": ("gatekeeper.service", "Gatekeeper"),
    # Adapters import their SDKs.
    "aws": ("gatekeeper.aws", None),
    "azure": ("gatekeeper.adapters.azure", None),
    "gcp": ("gatekeeper.adapters.gcp", None),
}


def __getattr__(name: str) -> Any:
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module 'gatekeeper' has no attribute {name!r}")
    module = importlib.import_module(spec[0])
    value = module if spec[1] is None else getattr(module, spec[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
