"""The operations each cloud's provider spec knows, for the guardrail action lists."""

from __future__ import annotations


def spec_operations(provider: str) -> list[tuple[str, str]]:
    """(service, operation) of every operation the provider's spec lists, in its order."""
    if provider == "aws":
        from gatekeeper.adapters.aws._table import OPERATIONS

        return [(op.service, op.name) for op in OPERATIONS]
    raise ValueError(f"no provider spec for {provider!r}")
