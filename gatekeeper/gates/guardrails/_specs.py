"""The operations each cloud's provider spec knows: the guardrails' action lists and the plan gate's
resource-type links both come from here, so they cannot drift from what the wrapper and hooks decide."""

from __future__ import annotations

import importlib

from gatekeeper.providers import ProviderSpec


def provider_spec(provider: str) -> ProviderSpec | None:
    """The provider's spec (``gatekeeper.providers.<provider>.SPEC``), None where there is none yet."""
    try:
        module = importlib.import_module(f"gatekeeper.providers.{provider}")
    except ModuleNotFoundError:
        return None
    spec = getattr(module, "SPEC", None)
    return spec if isinstance(spec, ProviderSpec) else None


def spec_operations(provider: str) -> list[tuple[str, str]]:
    """(service, operation) of every operation the provider's spec lists, in its order."""
    spec = provider_spec(provider)
    if spec is None:
        raise ValueError(f"no provider spec for {provider!r}")
    return [op.key for op in spec.operations]
